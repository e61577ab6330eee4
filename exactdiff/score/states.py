"""The noisy states of a score model's DSE: every state reachable from x0, the exact
conditional moments E[h^r | σ̄] by summing over them, and draws x ~ p_{σ̄|0}(·|x0).

Token-wise, the states reachable from x0 are Π_i {v : k(v|x0^i) > 0}: all n^L states for
the uniform process (the full grid in C order, shared by every x0), {x0^i, M} at each
position for the absorbing one (2^L states per x0). The per-draw loss h is that of
:mod:`~exactdiff.score.loss`.
"""

from __future__ import annotations

import itertools
import time

import numpy as np

from ..core import memory
from ..core.validation import as_token_array
from .loss import k_term
from .protocol import evaluate_score_model

__all__ = ["reachable_states", "Enumerator", "sample_states", "STATES_PER_CALL", "MIN_STATES_PER_CALL"]

#: States per model call in enumeration (one call per quadrature node up to N = 4, L = 8,
#: uniform process).
STATES_PER_CALL = 65536
#: The fewest states per model call the enumeration accepts.
MIN_STATES_PER_CALL = 4096


def reachable_states(process, x0) -> np.ndarray:
    """Every state reachable from some row of x0 (m, L), as an int array (S', L), sorted
    (module docstring)."""
    X0 = as_token_array(np.atleast_2d(x0), process.N, "x0")
    L = X0.shape[1]
    R = process.reachable[:, : process.N]  # R[v, a]: v reachable from a
    if R.all():
        memory.refuse(8 * L * process.n**L, f"the {process.n**L:,} states of n={process.n}, L={L}")
        return np.stack(np.unravel_index(np.arange(process.n**L), (process.n,) * L), axis=1)
    rows = []
    for row in X0:
        choices = [np.flatnonzero(R[:, a]) for a in row]
        rows.append(np.array(list(itertools.product(*choices)), dtype=np.int64).reshape(-1, L))
    return np.unique(np.concatenate(rows), axis=0)


def sample_states(process, x0, sigma_bar, rng) -> np.ndarray:
    """x ~ p_{σ̄|0}(·|x0) token-wise for each σ̄ of ``sigma_bar`` (B,): (B, L), by the
    inverse CDF of each token's kernel column."""
    k = process.kernels(sigma_bar)  # (B, n, n)
    col = np.moveaxis(k[:, :, np.asarray(x0)], 1, 2)  # (B, L, n): k(· | x0^i)
    cdf = np.cumsum(col, axis=2)
    cdf /= cdf[..., -1:]
    u = rng.random(col.shape[:2])[..., None]
    return (u >= cdf).sum(axis=2)


class Enumerator:
    """E_{x ~ p_{σ̄|0}(·|x0)}[h(x0, x)^r], r = 1..R, for every row x0 of X0, by summing over
    all reachable states, with batched model calls (``calls``, ``rows`` count them).

    With the scores s at every state, h splits as h(x0, x) = base(x) + Σ_i F[x, i, x0^i]:

    - base(x) = Σ_{i,v} W[x^i, v] s_{i,v}                                    (the s term)
    - F[x, i, a] = C[x^i, a] − Σ_v W[x^i, v] k(v|a) log s_{i,v} / k(x^i|a)    (r·log s)
    - C[b, a] = Σ_v W[b, v] K(k(v|a)/k(b|a))                                  (the K term)

    and P(x | x0) = Π_i k(x^i | x0^i). Tables over (position i, token x^i) are read by row
    gathers (``idx`` = i·n + x^i). For one x0 only the columns a = x0^i are formed (no
    BLAS call); for m > 1, F (S', L·N) is contracted with the one-hot matrix of X0
    (L·N × m), which gives h and log P for every x0 by two matrix products — one model
    call per node serves every x0.
    """

    def __init__(self, model, process, X0, states_per_call=STATES_PER_CALL):
        if int(states_per_call) < MIN_STATES_PER_CALL:
            raise ValueError(f"`states_per_call` must be >= {MIN_STATES_PER_CALL} states per model call "
                             f"(got {states_per_call}).")
        self.model, self.process, self.states_per_call = model, process, int(states_per_call)
        self.X0 = np.atleast_2d(np.asarray(X0, dtype=np.int64))
        self.m, self.L = self.X0.shape
        self.states = reachable_states(process, self.X0)
        S, L, n, N = self.states.shape[0], self.L, process.n, process.N
        memory.refuse(8 * S * (8 * L * n + 6 * self.m),
                      f"the DSE expectation over {S:,} states for {self.m} x0 (n={n}, L={L})")
        self.W = process.off_diagonal
        self.Wx = self.W[self.states]  # (S', L, n)
        self.idx = np.arange(L)[None, :] * n + self.states  # (S', L)
        self.onehot = np.zeros((L * N, self.m))
        self.onehot[(np.arange(L)[None, :] * N + self.X0).ravel(), np.repeat(np.arange(self.m), L)] = 1.0
        self.calls = self.rows = self.nodes = 0
        self.seconds_model = 0.0

    def scores(self, sbar):
        t0 = time.perf_counter()
        parts = []
        for a in range(0, self.states.shape[0], self.states_per_call):
            xb = self.states[a: a + self.states_per_call]
            parts.append(evaluate_score_model(self.model, self.process, np.full(xb.shape[0], sbar), xb))
            self.calls += 1
            self.rows += xb.shape[0]
        self.seconds_model += time.perf_counter() - t0
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def moments(self, sbar, R=1):
        """(R, m) array of E[h^r | σ̄] per x0 (``inf`` where h = ∞ on a reachable state)."""
        self.nodes += 1
        process, N, L, n = self.process, self.process.N, self.L, self.process.n
        S = self.states.shape[0]
        s = self.scores(sbar)
        kd = process.kernels(np.float64(sbar))[:, :N]  # (n, N): k(v | a)
        reach = kd > 0
        invk = np.where(reach, 1.0 / np.where(reach, kd, 1.0), 0.0)
        logk = np.where(reach, np.log(np.where(reach, kd, 1.0)), 0.0)
        C = np.zeros((n, N))
        for b in range(n):
            C[b] = (self.W[b][:, None] * k_term(kd * invk[b][None, :])).sum(axis=0)
        Wx = self.Wx
        base = np.einsum("xiv,xiv->x", Wx, s)
        positive = bool(np.all(s > 0))
        logs = np.log(s) if positive else np.where(s > 0, np.log(np.where(s > 0, s, 1.0)), 0.0)
        Z = None if positive else Wx * (s == 0)  # zero scores with weight: +inf wherever k(v|a) > 0
        if self.m == 1:
            a = self.X0[0]
            rho = kd[:, a].T[:, None, :] * invk[:, a].T[:, :, None]  # (L, b, v): k(v|a_i)/k(b|a_i)
            Mx = np.take((self.W[None] * rho).reshape(L * n, -1), self.idx, axis=0)  # (S', L, n)
            H = base - np.einsum("xiv,xiv->x", Mx, logs)
            H = (H + C[:, a].T.ravel()[self.idx].sum(axis=1))[:, None]
            P = np.exp(logk[:, a].T.ravel()[self.idx].sum(axis=1))[:, None]
            if not reach.all():
                P[(~reach[:, a]).T.ravel()[self.idx].any(axis=1)] = 0.0
            Hinf = None if positive else (np.einsum("xiv,iv->xi", Z, kd[:, a].T) > 0).any(axis=1)[:, None]
        else:
            Y = (Wx * logs).reshape(S * L, -1)
            F = (np.take(C, self.states, axis=0)
                 - (Y @ kd).reshape(S, L, N) * np.take(invk, self.states, axis=0)).reshape(S, L * N)
            H = base[:, None] + F @ self.onehot
            P = np.exp(np.take(logk, self.states, axis=0).reshape(S, L * N) @ self.onehot)
            if not reach.all():
                P[(np.take((~reach).astype(float), self.states, axis=0).reshape(S, L * N) @ self.onehot) > 0] = 0.0
            Hinf = None if positive else ((Z.reshape(S * L, -1) @ kd).reshape(S, L * N) @ self.onehot) > 0
        if Hinf is not None:
            H = np.where(Hinf, 0.0, H)
        out = np.empty((R, self.m))
        Hr = P
        for r in range(R):
            Hr = Hr * H
            out[r] = Hr.sum(axis=0)
        if Hinf is not None:
            out[:, (Hinf & (P > 0)).any(axis=0)] = np.inf
        return out
