"""The optimal denoiser and the minimum denoising cross-entropy (MDCE) of masked
diffusion in λ: the masked marginals, the optimal denoiser c*, the subset sums h_k and
the closed form of mdce.

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

The contractions (``masked_marginal``, ``visible_table``, ``subset_sums``,
``mdce`` in closed form, ``mdce_integral``) run in the array namespace of ``p0`` (NumPy,
CuPy, array_api_strict, Dask — lazily, chunk by chunk, with the contractions of
:mod:`exactdiff.core.tensor`; see :mod:`exactdiff.core.backend`). ``subset_sums`` forms
the 2^L subset marginals by sums with broadcasting and masks the support once, so that a
Dask graph stays small. The enumeration routes (``optimal_denoiser_table``,
``route="enumerate"``) are NumPy only.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betainc

from ..core import tensor as T
from ..core.backend import as_xp_table, asarray_like, device, is_numpy, namespace
from ..core.validation import validate_lambda
from ..process.masking import masking_kernel
from .weights import time_free_weights

__all__ = [
    "masked_marginal",
    "visible_table",
    "optimal_denoiser_table",
    "subset_tables",
    "subset_log_tables",
    "subset_sums",
    "mdce",
    "mdce_integral",
]


def masked_marginal(p0, lam) -> np.ndarray:
    """p_λ over all (N+1)^L masked patterns: (k_λ along every axis) p0."""
    table = as_xp_table(p0)
    return T.apply_all(masking_kernel(table.shape[0], lam), table)


def visible_table(p0) -> np.ndarray:
    """P̃(x) = p0(x^{UM}), the probability of the unmasked letters of x, for every
    x ∈ (V ∪ {M})^L: (E along every axis) p0 with E = [I; 1ᵀ] of shape (N+1, N)."""
    table = as_xp_table(p0)
    N = table.shape[0]
    E = np.vstack([np.eye(N), np.ones((1, N))])
    return T.apply_all(E, table)


def optimal_denoiser_table(p0) -> np.ndarray:
    """c*(x)_{i,v} = p0(v | x^{UM}) for every masked pattern x, shape (N+1,)*L + (L, N).

    At unmasked positions the row is the one-hot of x^i (carry-over). Where the
    unmasked letters themselves have probability 0 the conditional is undefined and the
    masked rows are ``nan`` (such x is never reached from an x0 in the support;
    :class:`~exactdiff.OracleDenoiser` raises a ``ValueError`` on such a query).
    """
    Pt = visible_table(p0)
    L, n = Pt.ndim, Pt.shape[0]
    N = n - 1
    out = np.empty(Pt.shape + (L, N))
    zero = Pt == 0
    safe = np.where(zero, 1.0, Pt)
    for i in range(L):
        for v in range(N):
            numer = np.expand_dims(np.take(Pt, v, axis=i), i)
            out[..., i, v] = np.where(zero, np.nan, numer / safe)
        # unmasked position i: one-hot at x^i
        idx = [slice(None)] * L
        for a in range(N):
            idx[i] = a
            row = np.zeros(N)
            row[a] = 1.0
            out[tuple(idx) + (i,)] = row
    return out


# -- subset sums -------------------------------------------------------------------------------
def subset_tables(table):
    """p0(x0^U) for every U ⊆ [L] (a bitmask: bit a set when position a is in U) as a
    broadcastable table (size N on U's axes, 1 elsewhere), computed by summing one axis
    at a time from the full table."""
    xp = namespace(table)
    L = table.ndim
    full = (1 << L) - 1
    out = {full: table}
    for U in range(full - 1, -1, -1):
        j = next(a for a in range(L) if not U >> a & 1)
        out[U] = xp.sum(out[U | 1 << j], axis=j, keepdims=True)
    return out


def subset_log_tables(table):
    """The finite part of log p0(x0^U) for every U (:func:`subset_tables`): 0 where
    the marginal is 0 (only x0 outside the support meet it, and the callers mask them)."""
    xp = namespace(table)
    return {U: xp.log(xp.where(m > 0, m, 1.0)) for U, m in subset_tables(table).items()}


def subset_sums(p0) -> np.ndarray:
    """h_k(x0) = Σ_{|U|=k} Σ_{i∉U} −log p0(x0^i | x0^U) for k = 0..L, shape (L+1,) + (N,)*L.

    With A_k = Σ_{|U|=k} log p0(x0^U): h_k = (L−k)·A_k − (k+1)·A_{k+1}, because each
    pair (U, i ∉ U) is a pair (V = U ∪ {i}, i ∈ V). h_L = 0. ``inf`` outside the support.
    """
    table = as_xp_table(p0)
    xp = namespace(table)
    L = table.ndim
    A = [None] * (L + 2)
    for U, lm in subset_log_tables(table).items():  # broadcast sums; outside the support → inf below
        k = bin(U).count("1")
        A[k] = lm if A[k] is None else A[k] + lm
    A[L + 1] = 0.0
    zero = xp.zeros(table.shape, dtype=xp.float64, device=device(table))
    h = xp.stack([zero + ((L - k) * A[k] - (k + 1) * A[k + 1]) for k in range(L + 1)])
    return xp.where(table > 0, h, xp.inf)


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
    with np.errstate(divide="ignore", invalid="ignore"):  # nan/inf only reach x0 outside the support
        for i in range(L):
            # G(x, v) = −log c*(x)_{i,v} on the patterns with x^i = M, with v = x0^i on axis i
            G = np.moveaxis(-np.log(np.take(c[..., i, :], N, axis=i)), -1, i)
            for j in range(L):
                if j != i:
                    G = _mask_axis(G, j, lam)
            out = out + lam * G
    return np.where(table > 0, out, np.inf)


#: route name → function(table, λ) of mdce(x0, λ) for every x0.
ROUTES = {"closed_form": _mdce_closed_form, "enumerate": _mdce_enumerate}


def mdce(p0, lam, *, pointwise=False, route="closed_form"):
    """The minimum DCE at masking level λ.

    Parameters
    ----------
    p0 : Distribution or array, shape (N,)*L
    lam : float in [0, 1]
    pointwise : bool
        Return mdce(x0, λ) for every x0 (shape (N,)*L) instead of mdce(λ) = E_{x0} mdce(x0, λ).
    route : {"closed_form", "enumerate"}
        The polynomial Σ_k λ^{L−k}(1−λ)^k h_k(x0) (any array namespace), or the sum over
        every noisy pattern with the optimal denoiser table (NumPy).

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> p0 = ed.Distribution.dirichlet(2, 3, seed=0)
    >>> a = ed.mdce(p0, 0.3, pointwise=True)
    >>> bool(np.allclose(a, ed.mdce(p0, 0.3, pointwise=True, route="enumerate"), rtol=1e-12))
    True
    """
    table = as_xp_table(p0)
    lam = validate_lambda(lam)
    if route not in ROUTES:
        raise ValueError(f"`route` must be one of {set(ROUTES)} (got {route!r}).")
    xp = namespace(table)
    if route == "enumerate" and not is_numpy(xp):
        raise ValueError(f"`route`='enumerate' works on NumPy tables only (got an array of {xp.__name__}).")
    values = ROUTES[route](table, lam)
    if pointwise:
        return values
    support = table > 0
    return float(xp.sum(xp.where(support, table * xp.where(support, values, 0.0), 0.0)))


def mdce_integral(p0, *, Lambda=1.0) -> np.ndarray:
    """∫_0^Λ (1/λ) mdce(x0, λ) dλ for every x0, exactly:
    Σ_k h_k(x0) B(L−k, k+1) I_Λ(L−k, k+1) (regularised incomplete Beta; at Λ = 1 the
    weights are those of Theorem 4.1, :func:`~exactdiff.masked.weights.time_free_weights`)."""
    table = as_xp_table(p0)
    Lambda = validate_lambda(Lambda, "Lambda")
    L = table.ndim
    h = subset_sums(table)
    k = np.arange(L)  # h_L = 0
    w = time_free_weights(L) * betainc(L - k, k + 1, Lambda)
    return _weighted_sum(table, w, h[:L, ...])

