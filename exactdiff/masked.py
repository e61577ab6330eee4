"""Masked (absorbing) diffusion in λ: the masking kernel, the optimal denoiser, the
denoising cross-entropy (DCE), the minimum DCE and its closed form.

Each token is masked independently with probability λ = 1 − e^{−σ̄(t)}; the mask M has
index N. Notation of MATH.md (nats):

.. math::

    \\ell_{DCE}(x_0, x, c) = \\sum_i 1[x^i = M]\\,(-\\log c(x)_{i, x_0^i}), \\qquad
    \\mathrm{mdce}(x_0, \\lambda) = \\mathbb{E}_{x_\\lambda | x_0}\\, \\ell_{DCE}(x_0, x_\\lambda, c^*),

with the optimal denoiser c*(x)_{i,v} = p0(v | x^{UM}) (UM: the unmasked positions).
Closed form: mdce(x0, λ) = Σ_k λ^{L−k}(1−λ)^k h_k(x0) with
h_k(x0) = Σ_{|U|=k} Σ_{i∉U} −log p0(x0^i | x0^U).

Pointwise results are arrays of shape (N,)*L over x0; outside the support of p0 (where
−log p0(x0) = inf and the conditionals can be undefined) they are ``inf``.

The contractions (``masked_marginal``, ``visible_marginal_table``, ``subset_sums``,
``mdce`` in closed form, ``mdce_integral``) run in the array namespace of ``p0`` (NumPy,
CuPy, array_api_strict; see :mod:`exactdiff.backend`). The enumeration routes
(``optimal_denoiser_table``, ``method="enumerate"``) and the DCE of a denoiser are NumPy
only.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.special import beta, betainc

from . import _tensor as T
from .backend import as_xp_table, asarray_like, device, is_numpy, namespace
from ._validation import check_lambda

__all__ = [
    "masking_kernel",
    "masked_marginal",
    "visible_marginal_table",
    "optimal_denoiser_table",
    "subset_sums",
    "mdce",
    "mdce_integral",
    "mask_patterns",
    "dce_loss",
    "expected_dce",
    "dce_integral",
    "harmonic_number",
    "time_free_weights",
    "unmasked_size_law",
]


def harmonic_number(L: int) -> float:
    """H_L = Σ_{k=1}^{L} 1/k."""
    return float(sum(1.0 / k for k in range(1, int(L) + 1)))


def masking_kernel(N: int, lam) -> np.ndarray:
    """k_λ of shape (N+1, N): k(v|v) = 1 − λ, k(M|v) = λ (the absorbing kernel at
    σ̄ = −log(1 − λ))."""
    lam = check_lambda(lam)
    k = np.zeros((N + 1, N))
    k[np.arange(N), np.arange(N)] = 1.0 - lam
    k[N, :] = lam
    return k


def masked_marginal(p0, lam) -> np.ndarray:
    """p_λ over all (N+1)^L masked patterns: (k_λ along every axis) p0."""
    table = as_xp_table(p0)
    return T.apply_all(masking_kernel(table.shape[0], lam), table)


def visible_marginal_table(p0) -> np.ndarray:
    """P̃(x) = p0(x^{UM}), the probability of the unmasked letters of x, for every
    x ∈ (V ∪ {M})^L: (E along every axis) p0 with E = [I; 1ᵀ] of shape (N+1, N)."""
    table = as_xp_table(p0)
    N = table.shape[0]
    E = np.vstack([np.eye(N), np.ones((1, N))])
    return T.apply_all(E, table)


def optimal_denoiser_table(p0) -> np.ndarray:
    """c*(x)_{i,v} = p0(v | x^{UM}) for every masked pattern x, shape (N+1,)*L + (L, N).

    At unmasked positions the row is the one-hot of x^i (carry-over). Where the
    unmasked letters themselves have probability 0 the conditional is undefined; the
    row is uniform there (such x is never reached from an x0 in the support).
    """
    Pt = visible_marginal_table(p0)
    L, n = Pt.ndim, Pt.shape[0]
    N = n - 1
    out = np.empty(Pt.shape + (L, N))
    zero = Pt == 0
    safe = np.where(zero, 1.0, Pt)
    for i in range(L):
        for v in range(N):
            numer = np.expand_dims(np.take(Pt, v, axis=i), i)
            out[..., i, v] = np.where(zero, 1.0 / N, numer / safe)
        # unmasked position i: one-hot at x^i
        idx = [slice(None)] * L
        for a in range(N):
            idx[i] = a
            row = np.zeros(N)
            row[a] = 1.0
            out[tuple(idx) + (i,)] = row
    return out


# -- subset sums -------------------------------------------------------------------------------
def _subset_log_marginals(table):
    """log p0(x0^U) for every U ⊆ [L] as a broadcastable table (size N on U's axes, 1
    elsewhere), computed by summing one axis at a time from the full table. Where the
    marginal is 0 the entry is 0 (only x0 outside the support meet it, and they are
    masked by the callers)."""
    xp = namespace(table)
    L = table.ndim
    full = (1 << L) - 1
    out = {full: table}
    for U in range(full - 1, -1, -1):
        j = next(a for a in range(L) if not U >> a & 1)
        out[U] = xp.sum(out[U | 1 << j], axis=j, keepdims=True)
    return {U: xp.log(xp.where(m > 0, m, 1.0)) for U, m in out.items()}


def subset_sums(p0) -> np.ndarray:
    """h_k(x0) = Σ_{|U|=k} Σ_{i∉U} −log p0(x0^i | x0^U) for k = 0..L, shape (L+1,) + (N,)*L.

    With A_k = Σ_{|U|=k} log p0(x0^U): h_k = (L−k)·A_k − (k+1)·A_{k+1}, because each
    pair (U, i ∉ U) is a pair (V = U ∪ {i}, i ∈ V). h_L = 0. ``inf`` outside the support.
    """
    table = as_xp_table(p0)
    xp = namespace(table)
    L = table.ndim
    logm = _subset_log_marginals(table)
    support = table > 0
    A = [xp.zeros(table.shape, dtype=xp.float64, device=device(table)) for _ in range(L + 2)]
    for U, lm in logm.items():
        A[bin(U).count("1")] += xp.where(support, lm, 0.0)
    h = xp.stack([(L - k) * A[k] - (k + 1) * A[k + 1] for k in range(L + 1)])
    return xp.where(support, h, xp.inf)


def _polynomial(lam, L):
    """λ^{L−k}(1−λ)^k for k = 0..L."""
    k = np.arange(L + 1)
    return lam ** (L - k) * (1 - lam) ** k


def _weighted_sum(table, weights, h):
    """Σ_k weights[k]·h_k(x0) over the support, ``inf`` outside it (any namespace)."""
    xp = namespace(table)
    w = asarray_like(weights, table)
    finite = xp.where(xp.isfinite(h), h, 0.0)
    return xp.where(table > 0, xp.tensordot(w, finite, axes=1), xp.inf)


def _mdce_closed_form(table, lam):
    h = subset_sums(table)
    return _weighted_sum(table, _polynomial(lam, table.ndim), h)


def _mask_axis(G, axis, lam):
    """Σ_a k_λ(a|v) G[.., a, ..] along ``axis`` for each data token v: the masking kernel
    has only two entries per column, (1−λ) at a = v and λ at a = M; a zero weight
    drops its term, so infinite losses on unreachable patterns never meet it."""
    N = G.shape[axis] - 1
    keep = np.take(G, np.arange(N), axis=axis)
    mask = np.take(G, [N], axis=axis)
    out = 0.0
    if lam < 1:
        out = out + (1 - lam) * keep
    if lam > 0:
        out = out + lam * mask
    return np.broadcast_to(out, keep.shape)


def _mdce_enumerate(table, lam):
    """Σ_x p_{λ|0}(x|x0) ℓ_DCE(x0, x, c*) over all (N+1)^L noisy x, c* from P̃ ratios."""
    N, L = table.shape[0], table.ndim
    c = optimal_denoiser_table(table)
    out = np.zeros(table.shape)
    if lam == 0:
        return np.where(table > 0, out, np.inf)
    for i in range(L):
        # G(x, v) = −log c*(x)_{i,v} on the patterns with x^i = M, with v = x0^i on axis i
        with np.errstate(divide="ignore"):
            G = np.moveaxis(-np.log(np.take(c[..., i, :], N, axis=i)), -1, i)
        for j in range(L):
            if j != i:
                G = _mask_axis(G, j, lam)
        out = out + lam * G
    return np.where(table > 0, out, np.inf)


def mdce(p0, lam, pointwise=False, method="closed_form"):
    """The minimum DCE at masking level λ.

    Parameters
    ----------
    p0 : Distribution or array, shape (N,)*L
    lam : float in [0, 1]
    pointwise : bool
        Return mdce(x0, λ) for every x0 (shape (N,)*L) instead of mdce(λ) = E_{x0} mdce(x0, λ).
    method : {"closed_form", "enumerate"}
        The polynomial Σ_k λ^{L−k}(1−λ)^k h_k(x0), or the sum over every noisy pattern
        with the optimal denoiser table.

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> p0 = ed.Distribution.dirichlet(2, 3, seed=0)
    >>> a = ed.mdce(p0, 0.3, pointwise=True)
    >>> bool(np.allclose(a, ed.mdce(p0, 0.3, pointwise=True, method="enumerate"), rtol=1e-12))
    True
    """
    table = as_xp_table(p0)
    lam = check_lambda(lam)
    methods = {"closed_form": _mdce_closed_form, "enumerate": _mdce_enumerate}
    if method not in methods:
        raise ValueError(f"`method` must be one of {set(methods)} (got {method!r}).")
    xp = namespace(table)
    if method == "enumerate" and not is_numpy(xp):
        raise ValueError(f"`method`='enumerate' works on NumPy tables only (got an array of {xp.__name__}).")
    values = methods[method](table, lam)
    if pointwise:
        return values
    support = table > 0
    return float(xp.sum(xp.where(support, table * xp.where(support, values, 0.0), 0.0)))


def mdce_integral(p0, Lambda=1.0) -> np.ndarray:
    """∫_0^Λ (1/λ) mdce(x0, λ) dλ for every x0, exactly:
    Σ_k h_k(x0) B(L−k, k+1) I_Λ(L−k, k+1) (regularised incomplete Beta)."""
    table = as_xp_table(p0)
    Lambda = check_lambda(Lambda, "Lambda")
    L = table.ndim
    h = subset_sums(table)
    k = np.arange(L)  # h_L = 0
    w = beta(L - k, k + 1) * betainc(L - k, k + 1, Lambda)
    return _weighted_sum(table, w, h[:L, ...])


# -- weights of the time-free formula -------------------------------------------------------------
def time_free_weights(L: int) -> np.ndarray:
    """H_L·p(U) = B(L−|U|, |U|+1) for |U| = 0..L−1 (the weight of one unmasked set)."""
    k = np.arange(L)
    return beta(L - k, k + 1)


def unmasked_size_law(L: int) -> np.ndarray:
    """P(|U| = k) = C(L, k)·B(L−k, k+1)/H_L for k = 0..L−1; equals 1/((L−k)·H_L)."""
    from scipy.special import comb

    k = np.arange(L)
    return comb(L, k) * beta(L - k, k + 1) / harmonic_number(L)


# -- DCE of any denoiser ---------------------------------------------------------------------------
def mask_patterns(L: int) -> np.ndarray:
    """All 2^L mask patterns as a boolean array (2^L, L), True = masked."""
    return np.array(list(itertools.product([False, True], repeat=L)), dtype=bool)


def dce_loss(x0, x, denoiser, N: int) -> np.ndarray:
    """ℓ_DCE(x0, x, c) = Σ_i 1[x^i = M](−log c(x)_{i, x0^i}) for batches.

    ``x0`` (B, L) data tokens, ``x`` (B, L) noisy tokens (mask id N), ``denoiser`` a
    callable following the denoiser protocol (see :mod:`exactdiff.denoisers`).
    Unmasked positions must agree with x0.
    """
    from .denoisers import evaluate_denoiser

    x0 = np.atleast_2d(np.asarray(x0, dtype=np.int64))
    x = np.atleast_2d(np.asarray(x, dtype=np.int64))
    if x0.shape != x.shape:
        raise ValueError(f"`x0` and `x` must have the same shape (got {x0.shape} and {x.shape}).")
    masked = x == N
    if np.any(~masked & (x != x0)):
        raise ValueError("unmasked positions of `x` must equal `x0`.")
    probs = evaluate_denoiser(denoiser, x, N)
    picked = np.take_along_axis(probs, x0[..., None], axis=-1)[..., 0]
    with np.errstate(divide="ignore"):
        return np.where(masked, -np.log(np.where(masked, picked, 1.0)), 0.0).sum(axis=-1)


def _losses_per_pattern(denoiser, x0s, N):
    """ℓ_DCE for every x0 in the batch and every mask pattern: shape (B, 2^L), and the
    number masked per pattern."""
    x0s = np.atleast_2d(np.asarray(x0s, dtype=np.int64))
    B, L = x0s.shape
    pats = mask_patterns(L)
    xs = np.where(pats[None, :, :], N, x0s[:, None, :]).reshape(-1, L)
    x0r = np.repeat(x0s, len(pats), axis=0)
    return dce_loss(x0r, xs, denoiser, N).reshape(B, len(pats)), pats.sum(axis=1)


def expected_dce(denoiser, x0s, lam, N: int) -> np.ndarray:
    """E_{x_λ | x0} ℓ_DCE(x0, x_λ, c) for each x0 in the batch (B, L), by enumerating masks."""
    lam = check_lambda(lam)
    losses, m = _losses_per_pattern(denoiser, x0s, N)
    L = np.atleast_2d(x0s).shape[1]
    w = lam**m * (1 - lam) ** (L - m)
    return losses @ w


def dce_integral(denoiser, x0s, N: int, Lambda=1.0) -> np.ndarray:
    """L^Λ_DCE(x0; c) = ∫_0^Λ (1/λ) E_{x_λ|x0} ℓ_DCE dλ for each x0 in the batch, exactly.

    A pattern with m masked tokens has weight λ^m(1−λ)^{L−m}, so its integral against
    1/λ is B(m, L−m+1)·I_Λ(m, L−m+1); the unmasked pattern has loss 0.
    """
    Lambda = check_lambda(Lambda, "Lambda")
    losses, m = _losses_per_pattern(denoiser, x0s, N)
    L = np.atleast_2d(x0s).shape[1]
    mm = np.maximum(m, 1)
    w = np.where(m > 0, beta(mm, L - mm + 1) * betainc(mm, L - mm + 1, Lambda), 0.0)
    return losses @ w
