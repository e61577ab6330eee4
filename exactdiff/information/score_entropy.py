"""The concrete score and the minimum denoising score entropy (MDSE): I-MDSE.

Notation of MATH.md (column convention, nats). For a score s_t(x)_y > 0 over the
neighbours y of x,

.. math::

    \\ell_{DSE}(x_0, x, t, s) = \\sum_{y \\ne x} Q_t(x, y)\\,
        [\\, s(x)_y - r_y \\log s(x)_y + K(r_y) \\,], \\qquad
    r_y = \\frac{p_{t|0}(y|x_0)}{p_{t|0}(x|x_0)}, \\quad K(a) = a(\\log a - 1).

The weight Q_t(x, y) is the rate from y **into** the current state x; Theorem 3.1 of
Jeon et al. (2025) holds in this orientation for non-symmetric generators. mdse is ℓ_DSE
at the concrete score s* = p_t(y)/p_t(x), averaged over x_t | x0: a quantity of the
forward process alone. The DSE of any other score — a score model ``model(x, σ̄)`` — is
in :mod:`exactdiff.score`.

The concrete score comes in two forms:

- **neighbour form** (token-wise processes): shape ``(n,)*L + (L, n)``;
  ``s[x][i, v]`` is the score of the neighbour of x whose token i is v (entries with
  ``v == x[i]`` are ignored);
- **matrix form** (any process): shape ``(S, S)`` over flat C-order indices;
  ``s[x, y]`` is used where the rate Q_t(x, y) > 0.
"""

from __future__ import annotations

import numpy as np

from .divergences import expectation, marginal
from .divergences import pointwise as pointwise_values
from .engines import dense, prepare, validate_positive_noise

__all__ = ["concrete_score", "mdse"]


# -- the concrete score ------------------------------------------------------------------------
def concrete_score(p0, process, t, *, form="auto"):
    """The optimal (concrete) score s*_t(x)_y = p_t(y) / p_t(x).

    Parameters
    ----------
    p0 : Distribution or array, shape (N,)*L
    process : ForwardProcess or FullSpaceProcess
    t : float
    form : {"auto", "neighbour", "matrix"}
        Neighbour form needs a token-wise process; "auto" picks it when possible.

    Returns
    -------
    ndarray
        Shape ``(n,)*L + (L, n)`` (neighbour form) or ``(S, S)`` (matrix form, entries
        where a rate leads from y into x). At states x with p_t(x) = 0 the score is
        undefined and set to 0; such states are never visited from an x0 in the
        support of p0.
    """
    if form not in ("auto", "neighbour", "matrix"):
        raise ValueError(f"`form` must be one of {{'auto', 'neighbour', 'matrix'}} (got {form!r}).")
    if form == "auto":
        form = "neighbour" if process.token_wise else "matrix"
    if form == "matrix":
        table, t, _ = prepare(p0, process, t, "dense")
        return dense.concrete_score_matrix(dense.DenseState(table, process, t, np.zeros(0, dtype=np.int64))).toarray()
    if not process.token_wise:
        raise ValueError("the neighbour form needs a token-wise process; use form='matrix'.")
    pt = marginal(p0, process, t, engine="factorized")
    L, n = pt.ndim, pt.shape[0]
    zero = pt == 0
    safe = np.where(zero, 1.0, pt)
    out = np.empty(pt.shape + (L, n))
    for i in range(L):
        for v in range(n):
            numer = np.expand_dims(np.take(pt, v, axis=i), i)  # p_t(x with x^i ← v)
            out[..., i, v] = np.where(zero, 0.0, numer / safe)
    return out


# -- the minimum DSE -------------------------------------------------------------------------------
def mdse(p0, process, t, *, pointwise=False, engine="auto", at=None):
    """The minimum denoising score entropy.

    .. math::

        \\mathrm{mdse}(x_0, t) = \\mathbb{E}_{x_t \\sim p_{t|0}(\\cdot|x_0)}
            \\ell_{DSE}(x_0, x_t, t, s^*_t), \\qquad
        \\mathrm{mdse}(t) = \\mathbb{E}_{x_0 \\sim p_0}\\, \\mathrm{mdse}(x_0, t).

    The factorized engine uses the O(L·n·S) contraction of MATH.md,
    σ(t)[(kᵀ along every axis) F](x0) + σ(t) Σ_i c(x0^i); the dense engine sums the
    definition over (x0, x_t, y) with the concrete score. Theorem 3.1:
    d/dt KL(p_{t|0}(·|x0) ‖ p_t) = −mdse(x0, t).

    Returns
    -------
    float, or with ``pointwise=True`` an array of shape (N,)*L (or (m,) at the
    sequences ``at``). Pointwise values are ``inf`` where x_t can reach states of zero
    marginal mass (only for p0(x0) = 0).

    Examples
    --------
    >>> import exactdiff as ed
    >>> p0 = ed.Distribution.dirichlet(3, 2, seed=0)
    >>> proc = ed.ForwardProcess(ed.process.random_generator(3, seed=1))
    >>> lhs = ed.mutual_information_derivative(p0, proc, 0.7)
    >>> abs(lhs + ed.mdse(p0, proc, 0.7)) < 1e-12
    True
    """
    validate_positive_noise(process, t)
    if pointwise or at is not None:
        if not pointwise:
            raise ValueError("`at` needs `pointwise=True`.")
        return pointwise_values("mdse", p0, process, t, engine, at)
    return expectation("mdse", p0, process, t, engine)
