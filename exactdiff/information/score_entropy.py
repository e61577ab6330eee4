"""Denoising score entropy (DSE), the concrete score and the minimum DSE: I-MDSE.

Notation of MATH.md (column convention, nats). For a score model s_t(x)_y > 0 over
the neighbours y of x,

.. math::

    \\ell_{DSE}(x_0, x, t, s) = \\sum_{y \\ne x} Q_t(x, y)\\,
        [\\, s(x)_y - r_y \\log s(x)_y + K(r_y) \\,], \\qquad
    r_y = \\frac{p_{t|0}(y|x_0)}{p_{t|0}(x|x_0)}, \\quad K(a) = a(\\log a - 1).

The weight Q_t(x, y) is the rate from y **into** the current state x; Theorem 3.1 of
Jeon et al. (2025) holds in this orientation for non-symmetric generators.

Score arrays come in two forms:

- **neighbour form** (token-wise processes): shape ``(n,)*L + (L, n)``;
  ``s[x][i, v]`` is the score of the neighbour of x whose token i is v (entries with
  ``v == x[i]`` are ignored);
- **matrix form** (any process): shape ``(S, S)`` over flat C-order indices;
  ``s[x, y]`` is used where the rate Q_t(x, y) > 0.

A score may also be a callable ``score(t)`` returning such an array.
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy

from ..core.validation import check_count, check_time
from .divergences import expectation, marginal
from .divergences import pointwise as pointwise_values
from .engines import check_positive_noise, dense, prepare, resolve

__all__ = [
    "concrete_score",
    "dse_loss",
    "expected_dse",
    "mdse",
    "neighbour_to_matrix",
]


def _K(r):
    """K(a) = a(log a − 1), with K(0) = 0."""
    return xlogy(r, r) - r


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


def neighbour_to_matrix(score, Q):
    """Convert a neighbour-form score (n,)*L + (L, n) to matrix form (S, S) for the
    per-token generator Q (entries where Q[x^i, v] > 0)."""
    score = np.asarray(score, dtype=np.float64)
    L = score.ndim - 2
    n = score.shape[0]
    if L < 1 or score.shape != (n,) * L + (L, n):
        raise ValueError(f"a neighbour-form score must have shape (n,)*L + (L, n) (got {score.shape}).")
    S = n**L
    out = np.zeros((S, S))
    tokens = np.stack(np.unravel_index(np.arange(S), (n,) * L), axis=1)
    flat = score.reshape(S, L, n)
    strides = n ** np.arange(L - 1, -1, -1)
    for i in range(L):
        for v in range(n):
            y = np.arange(S) + (v - tokens[:, i]) * strides[i]
            ok = (tokens[:, i] != v) & (Q[tokens[:, i], v] > 0)
            out[np.arange(S)[ok], y[ok]] = flat[ok, i, v]
    return out


def _score_at(score, t):
    s = score(t) if callable(score) else score
    s = np.asarray(s, dtype=np.float64)
    if not np.all(np.isfinite(s)) or np.any(s < 0):
        raise ValueError("`score` must be finite and non-negative (a score is a ratio of probabilities).")
    return s


# -- pointwise DSE ------------------------------------------------------------------------------
def dse_loss(score, process, t, x0, x):
    """ℓ_DSE(x0, x, t, s) for one pair of states, straight from the definition.

    Parameters
    ----------
    score : array or callable ``score(t)``
        Neighbour form (token-wise processes) or matrix form (S, S).
    process : ForwardProcess or FullSpaceProcess
    t : float
    x0, x : token tuples of length L
        x0 over the data tokens, x over all n tokens.

    Raises ``ValueError`` when x cannot be reached from x0 (p_{t|0}(x|x0) = 0).
    """
    t = check_time(t)
    x0, x = tuple(int(v) for v in x0), tuple(int(v) for v in x)
    L = len(x)
    if len(x0) != L:
        raise ValueError(f"`x0` and `x` must have the same length (got {len(x0)} and {L}).")
    s = _score_at(score, t)
    sigma = process.rate(t)
    if process.token_wise:
        k, Q, n = process.kernel(t), process.Q, process.n
        px = [k[x[i], x0[i]] for i in range(L)]
        if min(px) == 0:
            raise ValueError(f"`x`={x} cannot be reached from `x0`={x0} at t={t}.")
        ix = np.ravel_multi_index(x, (n,) * L)
        total = 0.0
        for i in range(L):
            for v in range(n):
                w = Q[x[i], v]  # the rate from the neighbour (x^i ← v) into x
                if v == x[i] or w == 0:
                    continue
                r = k[v, x0[i]] / px[i]
                if s.ndim == 2:
                    sv = s[ix, np.ravel_multi_index(x[:i] + (v,) + x[i + 1:], (n,) * L)]
                else:
                    sv = s[x][i, v]
                total += w * (sv - xlogy(r, sv) + _K(r))
        return float(sigma * total)
    G, K = process.G, process.full_kernel(t)
    ix0 = np.ravel_multi_index(x0, (process.N,) * L)
    ix = np.ravel_multi_index(x, (process.N,) * L)
    if K[ix, ix0] == 0:
        raise ValueError(f"`x`={x} cannot be reached from `x0`={x0} at t={t}.")
    total = 0.0
    for iy in np.flatnonzero(G[ix] > 0):
        if iy == ix:
            continue
        r = K[iy, ix0] / K[ix, ix0]
        total += G[ix, iy] * (s[ix, iy] - xlogy(r, s[ix, iy]) + _K(r))
    return float(sigma * total)


# -- expectation over x_t | x0 -------------------------------------------------------------------
def expected_dse(score, process, t, *, L=None, engine="auto"):
    """E_{x_t ~ p_{t|0}(·|x0)} ℓ_DSE(x0, x_t, t, s) for every x0, shape (N,)*L.

    Works for any score (neighbour or matrix form, or a callable of t); with the
    concrete score it is mdse(x0, t). ``L`` is needed for a token-wise process.
    The dense engine takes either form, the factorized one the neighbour form.
    """
    t = check_time(t)
    L = getattr(process, "L", None) if L is None else check_count(L, "L")
    if L is None:
        raise ValueError("`L` is needed for a token-wise process.")
    module = resolve(process, engine)
    s = _score_at(score, t)
    neighbour_shape = (process.n,) * L + (L, process.n)
    if module is dense:
        if process.token_wise and s.shape == neighbour_shape:
            s = neighbour_to_matrix(s, process.Q)
        return module.expected_dse(s, process, t, L).reshape((process.N,) * L)
    if s.shape != neighbour_shape:
        raise ValueError(f"the factorized engine needs a neighbour-form score of shape {neighbour_shape} "
                         f"(got {s.shape}).")
    return module.expected_dse(s, process, t, L)


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
    check_positive_noise(process, t)
    if pointwise or at is not None:
        if not pointwise:
            raise ValueError("`at` needs `pointwise=True`.")
        return pointwise_values("mdse", p0, process, t, engine, at)
    return expectation("mdse", p0, process, t, engine)
