"""The mask laws the network is trained with, and the recipe's settings.

Training minimises, by Adam on mini-batches,

.. math::

    J(\\theta) = \\mathbb E_{x_0 \\sim p_0}\\, \\mathbb E_{m \\sim \\text{law}}\\;
    w(m) \\sum_{i \\in m} -\\log c_\\theta(\\tilde x_m)_{i, x_0^i},

with x̃_m the sequence x0 masked on m. Every law below satisfies
E[w · 1{m = m'}] = 1/(a C(L, a)) for each mask m' of size a, so that E[w ℓ] is the
time-integrated DCE ∫_0^1 (1/λ) E_{x_λ|x0} ℓ_DCE dλ (Theorem 3.4) for every x0: all
laws share one objective, J(θ) = Σ p0(x0) limit_θ(x0) = H(p0) + gap(θ) (the expected
DCE of :mod:`exactdiff.train.exact`), whose minimiser is the optimal denoiser. They
differ only in the variance of the stochastic gradient:

=================  ======================================================  ==============
``law``            mask m                                                  weight w
=================  ======================================================  ==============
``k_dce``          a ∼ U{1..L}, m uniform among the masks of size a        L / a
``time_free``      P(a) = 1/(a H_L), m uniform of size a (Theorem 4.1)     H_L
``time_integral``  λ ∼ U(0, 1], each position masked with probability λ    1 / λ
q (array)          P(a) = q(a), m uniform of size a                        1 / (a q(a))
``auto``           :data:`RECIPE_SIZE_LAW` when L = 8, ``k_dce`` otherwise
=================  ======================================================  ==============

The names are those of the estimators' laws (:data:`exactdiff.masked.estimators.LAWS`).
``time_integral`` is the paper's λ-DCE sampling; its gradient variance is infinite (the
weight 1/λ of a single masked token is not square-integrable), though in float32 the
weight is bounded by 2^24.
"""

from __future__ import annotations

import numpy as np

from ..masked import harmonic_number

__all__ = ["TRAINING_LAWS", "RECIPE", "RECIPE_SIZE_LAW", "size_law", "law_name"]

#: The named training laws (module docstring); an array q(a), a = 1..L, is also accepted.
TRAINING_LAWS = ("auto", "k_dce", "time_free", "time_integral")

#: The size law q(a), a = 1..8, of the recipe for L = 8: the law that minimises the
#: gradient's second moment among size laws, q*(a) ∝ √(mean_{|m|=a} ‖∇ℓ(m)‖²) / a, measured
#: exactly (every mask of every sequence) at step 2,000 of an earlier run on the DNA toy.
#: At 20,000 steps it reached a gap of 0.031 nats against 0.039 (k-DCE), 0.049 (time_integral) and
#: 0.052 (time-free), each mean of seeds 0–2 except q (seed 0).
RECIPE_SIZE_LAW = (0.0887, 0.1028, 0.1456, 0.197, 0.2059, 0.1464, 0.072, 0.0415)

#: The recipe of the committed network (README, "A trained network"): an MLP 2×512 on
#: one-hot inputs, Adam with a linear warm-up then cosine decay to lr/100, batch 256,
#: 60,000 steps, the ``auto`` law, float32.
RECIPE = {"width": 512, "depth": 2, "batch": 256, "lr": 3e-3, "warmup": 200, "steps": 60_000, "law": "auto"}


def law_name(law, L: int):
    """The law ``law`` resolves to at length L: ``"auto"`` becomes ``"recipe"`` (L = 8)
    or ``"k_dce"``; other names are returned unchanged, an array as ``"custom"``."""
    if isinstance(law, str):
        if law == "auto":
            return "recipe" if L == len(RECIPE_SIZE_LAW) else "k_dce"
        return law
    return "custom"


def size_law(law, L: int) -> np.ndarray | None:
    """q(a) for a = 1..L (normalised, float64) of a training law, or None for ``time_integral``.

    Parameters
    ----------
    law : str or array of L positive numbers
        One of :data:`TRAINING_LAWS`, or q itself (normalised here).
    L : int

    Examples
    --------
    >>> from exactdiff.train import size_law
    >>> size_law("time_free", 3) * 11 / 6          # ∝ 1/a, normalised by H_3 = 11/6
    array([1.        , 0.5       , 0.33333333])
    """
    a = np.arange(1, L + 1)
    if isinstance(law, str):
        if law not in TRAINING_LAWS:
            raise ValueError(f"`law` must be one of {set(TRAINING_LAWS)} or an array of {L} probabilities "
                             f"(got {law!r}).")
        name = law_name(law, L)
        if name == "time_integral":
            return None
        q = {"k_dce": np.ones(L), "time_free": 1.0 / (a * harmonic_number(L)),
             "recipe": np.array(RECIPE_SIZE_LAW)}[name]
    else:
        q = np.asarray(law, dtype=np.float64)
        if q.shape != (L,) or not np.all(np.isfinite(q)) or np.any(q <= 0):
            raise ValueError(f"`law` as an array must hold L={L} finite numbers > 0, q(a) for a = 1..{L} "
                             f"(got {np.asarray(law).tolist()!r}).")
    return q / q.sum()
