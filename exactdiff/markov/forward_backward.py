"""Forward–backward on the context chain of a k-th order Markov chain: the one message
passing of the package.

A k-th order chain over N letters is a first-order chain on contexts
c = (x^{j−k+1}, …, x^j) ∈ V^k (S = N^k states). Messages are arrays of shape (rows, S)
over contexts raveled in C order, so c_k (the newest letter) varies fastest;
``T3 = transitions.reshape(N, N^{k−1}, N)`` is indexed [c_1, (c_2..c_k), v].

- Forward messages α_j(c) ∝ p(context c ending at j, visible letters ≤ j).
- Backward messages β_j(c) ∝ p(visible letters > j | context c at j).

Every message is rescaled at every step (forward: to sum 1; backward: so that the
entries the next step uses sum to 1), and every quantity below is a ratio of two
contractions of the same messages, so the scales cancel exactly and no epsilon is
needed. Nothing underflows unless a conditional itself, or a ratio of products of about
k transition probabilities, falls below the float64 range (~1e-308).

Three computations share the steps :func:`forward_step` and :func:`backward_step`:

- :func:`log_marginal`: log p(x^U), one forward pass;
- :func:`posteriors`: p(x^j = v | the visible letters of each row) for a batch of rows
  with their own letters and visible sets;
- :func:`subset_terms`: the per-size sums h_m of Theorem 4.1 / Corollary 4.3 over every
  visible set of a target, meeting in the middle.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = [
    "ChainTensors",
    "chain_tensors",
    "letter_indicators",
    "forward_step",
    "backward_step",
    "log_marginal",
    "posteriors",
    "subset_terms",
    "HIDDEN",
    "VISIBLE",
    "FREE",
]

#: Roles of positions in :func:`subset_terms`: summed out, always visible (the
#: context C), or free (the target T, visible or not by subset).
HIDDEN, VISIBLE, FREE = 0, 1, 2

#: Rows per block of :func:`posteriors`.
ROWS_PER_BLOCK = 512


class ChainTensors(NamedTuple):
    """The arrays every pass uses, built once per chain by :func:`chain_tensors`."""

    T3: np.ndarray          # (N, R, N): [c_1, (c_2..c_k), v], R = N^{k−1}
    forward: np.ndarray     # (R, a, v): T3 with the shared letters first (forward products)
    backward: np.ndarray    # (R, v, a): the same, for backward products
    initial: np.ndarray     # (S,): the law of the first k letters, raveled
    indicators: np.ndarray  # (k, N, S): letter o of context c is v

    @property
    def N(self) -> int:
        return self.T3.shape[0]

    @property
    def k(self) -> int:
        return self.indicators.shape[0]

    @property
    def S(self) -> int:
        return self.initial.size


def letter_indicators(N: int, k: int) -> np.ndarray:
    """``ind[o, v, c] = 1`` if letter ``o`` of context ``c`` is ``v``, shape (k, N, N^k)."""
    c = np.arange(N**k)
    digits = np.stack([(c // N ** (k - 1 - o)) % N for o in range(k)])
    return (digits[:, None, :] == np.arange(N)[None, :, None]).astype(np.float64)


def chain_tensors(transitions: np.ndarray, initial: np.ndarray) -> ChainTensors:
    """The :class:`ChainTensors` of a chain with ``transitions`` (N,)*(k+1) and
    ``initial`` (N,)*k."""
    N, k = transitions.shape[0], transitions.ndim - 1
    T3 = transitions.reshape(N, N ** (k - 1), N)
    return ChainTensors(T3, np.ascontiguousarray(T3.transpose(1, 0, 2)),
                        np.ascontiguousarray(T3.transpose(1, 2, 0)), initial.ravel(), letter_indicators(N, k))


def normalise_rows(A: np.ndarray) -> np.ndarray:
    """Rescale every row to sum 1, in place (rows of zeros stay zero)."""
    s = A.sum(axis=1, keepdims=True)
    np.divide(A, s, out=A, where=s > 0)
    return A


def forward_step(F: np.ndarray, ct: ChainTensors, letter: int | None = None) -> np.ndarray:
    """The forward message at j from the one at j − 1 (unscaled).

    ``F'[(c_2..c_k, v)] = Σ_{c_1} F[(c_1..c_k)] P(v | c_1..c_k) · e(v)``, with
    ``e(v) = 1[v = letter]`` (a visible letter shared by every row) or ``e = 1``
    (``letter=None``: hidden, or emissions applied afterwards with :func:`emit`).
    """
    rows, (N, R, _) = F.shape[0], ct.T3.shape
    F3 = F.reshape(rows, N, R)
    if letter is None:
        out = np.matmul(F3.transpose(2, 0, 1), ct.forward)  # (R, rows, v)
        return out.transpose(1, 0, 2).reshape(rows, N * R)
    out = np.zeros((rows, R, N))
    out[:, :, letter] = np.einsum("zar,ar->zr", F3, ct.T3[:, :, letter])
    return out.reshape(rows, N * R)


def backward_step(B: np.ndarray, ct: ChainTensors, letter: int | None = None, scale=None) -> np.ndarray:
    """The backward message at j − 1 from the one at j, taking in the letter at j.

    ``B'[(c_1..c_k)] = Σ_v P(v | c_1..c_k) e(v) B[(c_2..c_k, v)] / scale``, where
    ``scale`` (one per row) is by default the sum of the entries of B the step uses:
    those with last letter ``letter`` (visible), all of them (``letter=None``).
    Rescaling the *used* entries keeps the entries that matter at O(1): entries of B
    whose last letter contradicts a visible x^j can be larger by the inverse of a
    transition probability and would otherwise push them towards underflow.
    """
    rows, (N, R, _) = B.shape[0], ct.T3.shape
    B3 = B.reshape(rows, R, N)
    used = B if letter is None else B3[:, :, letter]
    if scale is None:
        scale = used.sum(axis=1)
    scale = np.where(scale > 0, scale, 1.0)[:, None]
    if letter is None:
        out = np.matmul((B3 / scale[:, :, None]).transpose(1, 0, 2), ct.backward)  # (R, rows, a)
        return out.transpose(1, 2, 0).reshape(rows, N * R)
    out = ct.T3[None, :, :, letter] * (used / scale)[:, None, :]
    return out.reshape(rows, N * R)


def emit(A: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Multiply each row of a message by ``allowed[row, v]`` on the newest letter v of
    the context: the emission of a position visible in some rows and hidden in others."""
    rows, S = A.shape
    N = allowed.shape[1]
    return (A.reshape(rows, S // N, N) * allowed[:, None, :]).reshape(rows, S)


def _used_sum(A0: np.ndarray, N: int, letter: int | None) -> np.ndarray:
    """Per-row sum of the entries of a backward message a step with ``letter`` uses."""
    return A0.sum(axis=1) if letter is None else A0.reshape(A0.shape[0], -1, N)[:, :, letter].sum(axis=1)


def _initial_emissions(ct: ChainTensors, allowed: np.ndarray) -> np.ndarray:
    """The message at position k − 1: the initial law times the emissions of the first
    k letters, one row per row of ``allowed`` (rows, ≥k, N)."""
    N, k, S = ct.N, ct.k, ct.S
    F = np.broadcast_to(ct.initial, (allowed.shape[0], S)).copy()
    for o in range(k):
        F = (F.reshape(-1, N**o, N, N ** (k - 1 - o)) * allowed[:, o][:, None, :, None]).reshape(-1, S)
    return F


def log_marginal(ct: ChainTensors, tokens: np.ndarray, visible: np.ndarray) -> float:
    """log p(x^U) for a boolean ``visible`` over positions 0..Lw−1 (Lw ≥ k): one
    forward pass, rescaled at every step, the logs of the scales summed."""
    N, k = ct.N, ct.k
    allowed = ~visible[:, None] | (tokens[:, None] == np.arange(N))
    F = _initial_emissions(ct, allowed[None])[0]
    total = 0.0
    for j in range(k, len(tokens) + 1):
        s = F.sum()
        if s == 0.0:
            return -np.inf
        total += math.log(s)
        if j == len(tokens):
            break
        F = forward_step(F[None, :] / s, ct, int(tokens[j]) if visible[j] else None)[0]
    return total


def posteriors(ct: ChainTensors, tokens: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """p(x^j = v | the visible letters of row b) for every row b, position j, letter v.

    Parameters
    ----------
    ct : ChainTensors
    tokens, visible : arrays of shape (b, Lw), Lw ≥ k
        The letters (ignored where hidden) and visibility of every row.

    Returns
    -------
    ndarray, shape (b, Lw, N)
        The posterior at hidden positions and the one-hot of the letter at visible ones.
        Where the visible letters of a row have probability 0 the posterior is
        undefined: every hidden position of that row is ``nan`` (the callers raise).

    Notes
    -----
    The posterior of the letter at j ≥ k − 1 is Σ_{c: c_k = v} α_j(c) β_j(c) (at
    j < k − 1, the letter j + 1 of the context at k − 1). Positions before the first
    column with a hidden letter in some row, or after the last, need no posterior, and
    the leading and trailing columns on which every row agrees are propagated once for
    the whole batch. Work O(b · Lw · N · N^k).
    """
    out = np.empty(tokens.shape + (ct.N,))
    for start in range(0, tokens.shape[0], ROWS_PER_BLOCK):
        rows = slice(start, start + ROWS_PER_BLOCK)
        out[rows] = _posteriors_block(ct, tokens[rows], visible[rows])
    return out


def _posteriors_block(ct, tokens, visible):
    b, Lw = tokens.shape
    N, k, S, R = ct.N, ct.k, ct.S, ct.S // ct.N
    allowed = ~visible[:, :, None] | (tokens[:, :, None] == np.arange(N))  # (b, Lw, N) emissions
    out = np.zeros((b, Lw, N))
    hidden_cols = np.flatnonzero(~visible.all(axis=0))
    if hidden_cols.size == 0:
        return allowed.astype(np.float64)
    lo, hi = max(int(hidden_cols[0]), k - 1), max(int(hidden_cols[-1]), k - 1)
    same = np.all(allowed == allowed[:1], axis=(0, 2))
    prefix = int(np.argmin(same)) if not same.all() else Lw  # columns 0..prefix-1 agree
    suffix = int(np.argmin(same[::-1])) if not same.all() else Lw

    # Forward: one shared row while every row agrees, then all rows.
    shared = prefix >= k
    F = normalise_rows(_initial_emissions(ct, allowed[:1] if shared else allowed))
    alphas = {}
    for j in range(k - 1, hi + 1):
        if j > k - 1:
            if F.shape[0] == 1 and j >= prefix:
                F = np.repeat(F, b, axis=0)
            F = normalise_rows(emit(forward_step(F, ct), allowed[: F.shape[0], j]))
        if j >= lo:
            alphas[j] = F
    # Backward, combining with the forward messages.
    B = np.ones((1, S))
    for j in range(Lw - 1, lo - 1, -1):
        if j <= hi:
            G = normalise_rows(np.broadcast_to(alphas.pop(j) * B, (b, S)).copy())
            if j > k - 1:
                out[:, j] = G.reshape(b, R, N).sum(axis=1)
            else:
                for o in range(k):
                    out[:, o] = G.reshape(b, N**o, N, N ** (k - 1 - o)).sum(axis=(1, 3))
        if j > lo:
            if B.shape[0] == 1 and j < Lw - suffix:
                B = np.repeat(B, b, axis=0)
            B = normalise_rows(backward_step(emit(B, allowed[: B.shape[0], j]), ct))
    dead = ((out.sum(axis=2) == 0) & ~visible).any(axis=1)  # the visible letters of the row have probability 0
    out[dead[:, None] & ~visible] = np.nan
    return np.where(visible[:, :, None], allowed, out)


def _initial_variants(ct, tokens, roles, skip=None):
    """Forward message at position k − 1 with a row per visibility pattern of the free
    positions among 0..k−1 (``skip`` excluded and hidden); returns (messages, counts of
    visible free positions per row)."""
    ind = ct.indicators
    F = ct.initial[None, :].copy()
    pc = np.zeros(1, dtype=np.int64)
    for o in range(ct.k):
        if o == skip or roles[o] == HIDDEN:
            continue
        if roles[o] == VISIBLE:
            F = F * ind[o, tokens[o]]
        else:
            F = np.concatenate([F, F * ind[o, tokens[o]]])
            pc = np.concatenate([pc, pc + 1])
    return normalise_rows(F), pc


def _support_groups(A0: np.ndarray) -> list:
    """Rows of ``A0`` (rows, S) grouped by their sets of non-zero columns: a list of
    (row indices, column indices). A forward message whose last positions are visible
    vanishes off the contexts that carry those letters, so each group is narrow."""
    packed = np.packbits(A0 != 0, axis=1)
    _, inverse = np.unique(packed, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    groups = []
    for g in range(inverse.max() + 1):
        rows = np.flatnonzero(inverse == g)
        groups.append((rows, np.flatnonzero(A0[rows[0]] != 0)))
    return groups


def _sparse_product(A: np.ndarray, B: np.ndarray, groups=None) -> np.ndarray:
    """``A @ B^T`` over the last axis for stacks A (a, rows_A, S), B (b, rows_B, S) with
    a or b equal to 1 or both equal, where every A[v] vanishes wherever A[0] does; the
    zero columns of each group of rows of A are skipped (the sums are the same)."""
    if groups is None:
        groups = _support_groups(A[0])
    out = np.empty((max(A.shape[0], B.shape[0]), A.shape[1], B.shape[1]))
    for rows, cols in groups:
        out[:, rows, :] = np.matmul(A[:, rows][:, :, cols], B[:, :, cols].transpose(0, 2, 1))
    return out


def subset_terms(ct: ChainTensors, tokens: np.ndarray, roles: np.ndarray) -> np.ndarray:
    """h_m = Σ_{J ⊆ T, |J| = m} Σ_{i ∈ T∖J} −log p(x^i | x^{J ∪ C}), m = 0..|T|−1.

    ``roles`` marks each position :data:`HIDDEN` (summed out), :data:`VISIBLE` (C) or
    :data:`FREE` (T); ``tokens`` has length Lw ≥ k.

    Meet in the middle: a split position s cuts T into a left part (≤ s) and a right
    part (> s). The forward message at s has one row per visibility pattern of the left
    part, the backward message at s one row per pattern of the right part; their matrix
    product gives p(x^{J ∪ C}) up to row and column scales for every J at once. For a
    target position i on the left, two variants of the forward message are carried from
    i to s, one with i hidden (the denominator, Σ_v) and one with i showing x^i (the
    numerator), rescaled by the same factor; their products with the backward message
    give p(x^i | x^{J ∪ C}) for all 2^{|T|−1} sets J ∌ i as a ratio in which every
    scale cancels. Right positions are handled symmetrically. Work
    O(|T| · 2^{|T|} · N^k) in matrix products, memory O(2^{|T|/2} · N^k).
    """
    N, k, S = ct.N, ct.k, ct.S
    Lw = len(tokens)
    free = np.flatnonzero(roles == FREE)
    n = free.size
    s = max(k - 1, int(free[n // 2 - 1]) if n >= 2 else k - 1)
    last = ct.indicators[k - 1]
    h = np.zeros(n)

    def rescale(A):  # A: (variants, rows, S); every variant shares the first one's scale
        A /= A[0].sum(axis=1)[None, :, None]
        return A

    def forward(A, pc, j):  # message at j − 1 → at j, branching if j is free
        step = forward_step(A.reshape(-1, S), ct, int(tokens[j]) if roles[j] == VISIBLE else None)
        step = step.reshape(A.shape)
        if roles[j] == FREE:
            return rescale(np.concatenate([step, step * last[tokens[j]]], axis=1)), np.concatenate([pc, pc + 1])
        return rescale(step), pc

    def backward(A, pc, j):  # message at j → at j − 1, taking in position j
        flat = A.reshape(-1, S)
        letters = [None, int(tokens[j])] if roles[j] == FREE else [int(tokens[j]) if roles[j] == VISIBLE else None]
        # Every variant uses the first one's scale, so that their ratios are kept.
        steps = [backward_step(flat, ct, v, np.tile(_used_sum(A[0], N, v), A.shape[0])).reshape(A.shape)
                 for v in letters]
        if roles[j] == FREE:
            return np.concatenate(steps, axis=1), np.concatenate([pc, pc + 1])
        return steps[0], pc

    def accumulate(G, pcL, pcR):  # G: (2, rows, cols) = (denominator, numerator)
        with np.errstate(divide="ignore"):
            nll = np.log(G[0] / G[1])
        if not np.all(np.isfinite(nll)):
            raise FloatingPointError(
                "a conditional p0(x^i | x^{J ∪ C}) of a sequence with positive probability fell "
                "outside the float64 range (below about 1e-308); the chain's transition "
                "probabilities are too extreme for the linear-space subset sum."
            )
        h[:] += np.bincount((pcL[:, None] + pcR[None, :]).ravel(), weights=nll.ravel(), minlength=n)

    # Backward: the message at s over the right part, and the right variants at s.
    B, pcB = np.ones((1, 1, S)), np.zeros(1, dtype=np.int64)
    right = []
    for j in range(Lw - 1, s, -1):
        if roles[j] == FREE:
            flat = B.reshape(-1, S)
            scale = _used_sum(flat, N, None)
            W = np.stack([backward_step(flat, ct, None, scale), backward_step(flat, ct, int(tokens[j]), scale)])
            pcW = pcB
            for jj in range(j - 1, s, -1):
                W, pcW = backward(W, pcW, jj)
            right.append((W, pcW))
        B, pcB = backward(B, pcB, j)
    Bs = B[0]
    # Forward: the left variants, contracted with the backward message at s.
    for i in range(k):
        if roles[i] == FREE:
            D, pcV = _initial_variants(ct, tokens, roles, skip=i)
            V = np.stack([D, D * ct.indicators[i, tokens[i]]])
            for jj in range(k, s + 1):
                V, pcV = forward(V, pcV, jj)
            accumulate(_sparse_product(V, Bs[None]), pcV, pcB)
    F, pcF = _initial_variants(ct, tokens, roles)
    F = F[None]
    for j in range(k, s + 1):
        if roles[j] == FREE:
            hid = forward_step(F[0], ct)
            V, pcV = rescale(np.stack([hid, hid * last[tokens[j]]])), pcF
            for jj in range(j + 1, s + 1):
                V, pcV = forward(V, pcV, jj)
            accumulate(_sparse_product(V, Bs[None]), pcV, pcB)
        F, pcF = forward(F, pcF, j)
    groups = _support_groups(F[0])
    for W, pcW in right:
        accumulate(_sparse_product(F, W, groups), pcF, pcW)
    return h
