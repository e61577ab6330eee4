"""Reference routes of the checks: ℓ_DSE straight from its definition on score **arrays**
(neighbour or matrix form), one pair of states at a time, and its expectation over
x_t | x0 by the dense or the factorized engine.

The package's one protocol for score models is ``model(x, σ̄)`` (:mod:`exactdiff.score`);
these functions are the independent route the identity checks compare it with — written
from MATH.md's definition, sharing no code with :mod:`exactdiff.score.loss` — and the way
the checks feed the engines a perturbed concrete score (the variational bound).

Score arrays come in two forms:

- **neighbour form** (token-wise processes): shape ``(n,)*L + (L, n)``; ``s[x][i, v]`` is
  the score of the neighbour of x whose token i is v (entries with ``v == x[i]`` are
  ignored);
- **matrix form** (any process): shape ``(S, S)`` over flat C-order indices; ``s[x, y]``
  is used where the rate Q_t(x, y) > 0.

A score may also be a callable ``score(t)`` returning such an array.
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy

from ..core.validation import validate_count, validate_time
from ..information.engines import dense, resolve

__all__ = ["reference_dse_loss", "reference_expected_dse", "neighbour_to_matrix"]


def _K(r):
    """K(a) = a(log a − 1), with K(0) = 0 (MATH.md), written here again: this module is a
    route independent of :mod:`exactdiff.score.loss`."""
    return xlogy(r, r) - r


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


def reference_dse_loss(score, process, t, x0, x):
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
    t = validate_time(t)
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


def reference_expected_dse(score, process, t, *, L=None, engine="auto"):
    """E_{x_t ~ p_{t|0}(·|x0)} ℓ_DSE(x0, x_t, t, s) for every x0, shape (N,)*L.

    Works for any score (neighbour or matrix form, or a callable of t); with the
    concrete score it is mdse(x0, t). ``L`` is needed for a token-wise process.
    The dense engine takes either form, the factorized one the neighbour form.
    """
    t = validate_time(t)
    L = getattr(process, "L", None) if L is None else validate_count(L, "L")
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
