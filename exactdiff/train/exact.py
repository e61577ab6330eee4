"""The exact audit of a denoiser on every sequence of a toy: limit, bias and variance
of its likelihood estimator, with every mask enumerated.

For a sequence x0 of length L and a mask m ⊆ {1..L}, ℓ(m) = Σ_{i∈m} −log c(x̃_m)_{i, x0^i}
is the DCE loss of the denoiser c on x0 masked on m (:func:`~exactdiff.mask_losses`).
With a = |m| the number masked:

.. math::

    \\mathrm{limit}(x_0) = \\sum_{a=1}^{L} \\frac{1}{a \\binom{L}{a}} \\sum_{|m| = a} \\ell(m)
    = \\int_0^1 \\frac{1}{\\lambda} \\mathbb E_{x_\\lambda | x_0} \\ell_{DCE}\\, d\\lambda,

the mean of every unbiased estimator of −log p0(x0) with this denoiser (Theorem 3.4's
L^1_DCE, Theorem 4.1's time-free sum): the value it converges to with infinitely many
draws. Then

- bias(x0) = limit(x0) − (−log p0(x0)); zero for the optimal denoiser (Corollary 3.7);
- expected DCE = Σ_x0 p0(x0) limit(x0), the population value of the λ-DCE training
  objective, and gap = Σ_x0 p0(x0) bias(x0) = expected DCE − H(p0) ≥ 0, a weighted sum
  of expected KL divergences KL(p0(· | x^{UM}) ‖ c(x)_i) over masks and masked positions;
- dce_by_size[a − 1] = E_{x0∼p0} of the mean of ℓ(m) over the masks with a masked
  tokens, so that expected DCE = Σ_a dce_by_size[a − 1] / a;
- variance(x0): the exact variance of one draw of the estimator ``law``
  (:func:`~exactdiff.masked.estimators.moments_from_losses`).

Every mask of every support sequence goes through the denoiser in de-duplicated
batches, which is several times faster than one :func:`~exactdiff.estimator_moments`
call per sequence; the tests check that the two routes agree.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..core.validation import as_table, validate_count
from ..masked import evaluate_denoiser
from ..masked.denoisers import empirical_pseudo_count
from ..masked.estimators import LAWS, moments_from_losses
from ..sequences import Distribution
from ..sequences.masks import mask_patterns, pattern_sizes

__all__ = ["ExactLimits", "exact_limits", "support", "empirical_bias", "MAX_AUDIT_ROWS"]

#: Largest number K·2^L of masked inputs (K support sequences, 2^L masks each) that
#: :func:`exact_limits` evaluates unless told otherwise.
MAX_AUDIT_ROWS = 2**22


def support(p0) -> tuple[np.ndarray, np.ndarray]:
    """(X, p): the sequences of positive probability, shape (K, L) int64 in C order of the
    table, and their probabilities (K,) (:meth:`~exactdiff.Distribution.support`)."""
    X, p = Distribution(as_table(p0)).support()
    return X.astype(np.int64), p


@dataclasses.dataclass(frozen=True)
class ExactLimits:
    """The exact audit of a denoiser over the support of p0 (module docstring).

    Attributes
    ----------
    law : str
        The estimator whose variance is given (its mean, ``limit``, is the same for all).
    sequences : ndarray, shape (K, L)
        The support sequences.
    p, nll, limit, variance : ndarray, shape (K,)
        p0(x0), −log p0(x0), the exact limit and the exact variance of one draw.
    dce_by_size : ndarray, shape (L,)
        E_p0 of the mean DCE loss over masks with a = 1..L masked tokens.
    """

    law: str
    sequences: np.ndarray
    p: np.ndarray
    nll: np.ndarray
    limit: np.ndarray
    variance: np.ndarray
    dce_by_size: np.ndarray

    @property
    def bias(self) -> np.ndarray:
        """limit − (−log p0), per sequence (K,)."""
        return self.limit - self.nll

    def totals(self) -> dict:
        """The summaries as plain floats: ``expected_dce`` (Σ p0·limit), ``entropy``
        (H(p0)), ``gap`` (Σ p0·bias), ``mean_bias``, ``median_bias``,
        ``median_abs_bias``, ``max_abs_bias`` (plain statistics over the K sequences)
        and ``mean_variance``."""
        bias = self.bias
        return {
            "expected_dce": float(self.p @ self.limit),
            "entropy": float(self.p @ self.nll),
            "gap": float(self.p @ bias),
            "mean_bias": float(np.mean(bias)),
            "median_bias": float(np.median(bias)),
            "median_abs_bias": float(np.median(np.abs(bias))),
            "max_abs_bias": float(np.max(np.abs(bias))),
            "mean_variance": float(np.mean(self.variance)),
        }


def _all_mask_losses(denoiser, X, N, rows_per_call):
    """ℓ(m) for every support sequence and every mask, shape (K, 2^L), and the sizes |m|."""
    K, L = X.shape
    masks = mask_patterns(L)  # (2^L, L), True = masked
    P = masks.shape[0]
    losses = np.empty((K, P))
    per_block = max(1, rows_per_call // P)
    for start in range(0, K, per_block):
        block = X[start: start + per_block]
        x = np.where(masks[None], N, block[:, None, :]).reshape(-1, L)
        keys, inverse = np.unique(x, axis=0, return_inverse=True)  # each distinct input once
        log_probs = np.empty((keys.shape[0], L, N))
        for s in range(0, keys.shape[0], rows_per_call):
            with np.errstate(divide="ignore"):
                log_probs[s: s + rows_per_call] = np.log(evaluate_denoiser(denoiser, keys[s: s + rows_per_call], N))
        truth = np.repeat(block, P, axis=0)  # (rows, L): the letter of x0 at every position
        picked = np.take_along_axis(log_probs[inverse.ravel()], truth[..., None], axis=-1)[..., 0]
        masked = np.tile(masks, (block.shape[0], 1))
        losses[start: start + block.shape[0]] = np.where(masked, -picked, 0.0).sum(axis=1).reshape(-1, P)
    return losses, pattern_sizes(L)


def exact_limits(p0, denoiser, *, law: str = "time_free", rows_per_call: int = 8192,
                 max_rows: int = MAX_AUDIT_ROWS) -> ExactLimits:
    """The exact limit, bias and variance of a likelihood estimator with ``denoiser`` for
    every sequence of the support of ``p0`` (module docstring).

    Parameters
    ----------
    p0 : Distribution or ndarray, shape (N,)*L
        The true law.
    denoiser : callable
        (B, L) int → (B, L, N) probabilities (:mod:`exactdiff.masked.denoisers`).
    law : {"time_free", "k_dce", "time_integral"}
        The estimator whose exact variance is returned (time-integral at ε = 0: infinite
        as soon as a single masked token costs something).
    rows_per_call : int
        Rows per denoiser call.
    max_rows : int
        Refuse (``ValueError``) more than this many masked inputs K·2^L.

    Returns
    -------
    ExactLimits

    Examples
    --------
    >>> import exactdiff as ed
    >>> from exactdiff.train import exact_limits
    >>> p0 = ed.Distribution.dirichlet(2, 4, seed=1)
    >>> r = exact_limits(p0, ed.OracleDenoiser(p0))
    >>> bool(abs(r.bias).max() < 1e-12), abs(r.totals()["expected_dce"] - p0.entropy()) < 1e-12
    (True, True)
    """
    if law not in LAWS:
        raise ValueError(f"`law` must be one of {list(LAWS)} (got {law!r}).")
    rows_per_call = validate_count(rows_per_call, "rows_per_call")
    table = as_table(p0)
    N, L = table.shape[0], table.ndim
    N_den = getattr(denoiser, "N", N)
    if N_den != N:
        raise ValueError(f"`denoiser` has N={N_den} letters but `p0` has N={N}.")
    X, p = support(table)
    rows = X.shape[0] * 2**L
    if rows > max_rows:
        raise ValueError(f"the exact audit evaluates K·2^L = {X.shape[0]:,}·2^{L} = {rows:,} masked inputs, more than "
                         f"`max_rows`={max_rows:,}; raise `max_rows` or audit a smaller toy.")
    losses, sizes = _all_mask_losses(denoiser, X, N, rows_per_call)
    moments = [moments_from_losses(row, sizes, law) for row in losses]
    limit = np.array([m.mean for m in moments])
    variance = np.array([m.variance for m in moments])
    with np.errstate(invalid="ignore"):
        by_size = np.array([p @ losses[:, sizes == a].mean(axis=1) for a in range(1, L + 1)])
    return ExactLimits(law=law, sequences=X, p=p, nll=-np.log(p), limit=limit, variance=variance,
                       dce_by_size=by_size)


def empirical_bias(counts, p0, *, alpha: float | None = None) -> np.ndarray:
    """Exact bias of :class:`~exactdiff.EmpiricalDenoiser` fitted on samples whose support
    sequences were seen ``counts`` times, without building the samples.

    That denoiser is the oracle of p̂(x) = (n(x) + α) / (n + α N^L), so its exact limit is
    −log p̂(x0) and its bias log p0(x0) − log p̂(x0).

    Parameters
    ----------
    counts : array, shape (K,)
        How often each support sequence (in the order of :func:`support`) was drawn.
    p0 : Distribution or ndarray, shape (N,)*L
    alpha : float, optional
        Pseudo-count per sequence (default: :class:`~exactdiff.EmpiricalDenoiser`'s).

    Returns
    -------
    ndarray, shape (K,)
    """
    table = as_table(p0)
    N, L = table.shape[0], table.ndim
    _, p = support(table)
    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape != p.shape or np.any(counts < 0) or not np.all(np.isfinite(counts)):
        raise ValueError(f"`counts` must hold {p.size} finite counts >= 0, one per support sequence "
                         f"(got shape {counts.shape}).")
    alpha = empirical_pseudo_count(alpha, N, L)
    p_hat = (counts + alpha) / (counts.sum() + alpha * float(N) ** L)
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log(p_hat)
