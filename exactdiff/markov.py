"""k-th order Markov chains over an alphabet: exact laws of L letters, and exact
conditionals p0(x^i | x^U) by forward–backward on the context chain.

A k-th order chain is a first-order chain on contexts c = (x^{j-k+1}, …, x^j) ∈ V^k
(S = N^k states). Every quantity below is computed by forward–backward messages over
these S states, so a sequence of any length L costs O(L · N · S) per visible set and
V^L is never enumerated. Forward messages are rescaled to sum 1 at every step, backward
messages so that the entries the next step uses sum to 1; a conditional is a ratio of
two contractions of the same messages, so every scale cancels exactly and no epsilon
is needed. Nothing underflows unless a conditional itself, or a ratio of products of
about k transition probabilities, falls below the float64 range (~1e-308): the paper's
chain, with entries down to 1.6e-8, is far from that.

The subset sums of Theorem 4.1 and Corollary 4.3 share forward messages between visible
sets with the same prefix and backward messages between sets with the same suffix, and
meet in the middle of the target; see :meth:`MarkovChain.subset_terms`.
"""

from __future__ import annotations

import math

import numpy as np

from ._validation import SUM_ATOL, as_probability_table, check_memory
from .space import SequenceSpace

__all__ = ["MarkovChain"]

#: Largest number of subsets the exact subset sums accept unless told otherwise:
#: 2^16, which covers the paper's 16-letter response (2^16 − 1 = 65,535 subsets).
MAX_SUBSETS = 2**16

#: Memory the exact subset sums may use (about 8 · (6 · 2^|T| + (|T| + 4) · N^k · 2^(|T|/2 + 1)) bytes).
SUBSET_MEMORY_LIMIT = 4 * 1024**3

#: Memory one chunk of :meth:`MarkovChain.log_conditionals` may use.
_CHUNK_BYTES = 2**27

# Roles of positions in the forward–backward passes.
_HIDDEN, _VISIBLE, _FREE = 0, 1, 2


# ----------------------------------------------------------------------------------------
# Array primitives. Messages are arrays of shape (rows, S) over contexts
# c = (c_1, ..., c_k) raveled in C order, so c_k (the newest letter) varies fastest.
# ``T3`` is ``transitions.reshape(N, N**(k-1), N)``, indexed [c_1, (c_2..c_k), v].
# ----------------------------------------------------------------------------------------


def _letter_indicators(N: int, k: int) -> np.ndarray:
    """``ind[o, v, c] = 1`` if letter ``o`` of context ``c`` is ``v``, shape (k, N, N^k)."""
    c = np.arange(N**k)
    digits = np.stack([(c // N ** (k - 1 - o)) % N for o in range(k)])
    return (digits[:, None, :] == np.arange(N)[None, :, None]).astype(np.float64)


def _forward_step(F: np.ndarray, T3: np.ndarray, letter: int | None) -> np.ndarray:
    """Forward message at j from the one at j − 1.

    ``F'[(c_2..c_k, v)] = Σ_{c_1} F[(c_1..c_k)] P(v | c_1..c_k) · e(v)``, with
    ``e(v) = 1[v = letter]`` at a visible position and ``e = 1`` at a hidden one.
    """
    N, R, _ = T3.shape
    F3 = F.reshape(F.shape[0], N, R)
    if letter is None:
        out = F3[:, 0, :, None] * T3[0]
        for a in range(1, N):
            out += F3[:, a, :, None] * T3[a]
        return out.reshape(F.shape[0], N * R)
    out = np.zeros((F.shape[0], R, N))
    col = F3[:, 0, :] * T3[0, :, letter]
    for a in range(1, N):
        col += F3[:, a, :] * T3[a, :, letter]
    out[:, :, letter] = col
    return out.reshape(F.shape[0], N * R)


def _backward_step(B: np.ndarray, T3: np.ndarray, letter: int | None, scale=None) -> np.ndarray:
    """Backward message at j − 1 from the one at j, taking in the letter at j.

    ``B'[(c_1..c_k)] = Σ_v P(v | c_1..c_k) e(v) B[(c_2..c_k, v)] / scale``, where
    ``scale`` (one per row) is by default the sum of the entries of B the step uses:
    those with last letter ``letter`` at a visible position, all at a hidden one.
    Rescaling the *used* entries, not all of B, keeps the entries that matter at O(1):
    entries of B whose last letter contradicts a visible x^j can be larger by the
    inverse of a transition probability and would otherwise push them towards
    underflow, step after step.
    """
    N, R, _ = T3.shape
    B3 = B.reshape(B.shape[0], R, N)
    used = B if letter is None else B3[:, :, letter]
    if scale is None:
        scale = used.sum(axis=1)
    scale = np.where(scale > 0, scale, 1.0)[:, None]
    if letter is None:
        out = np.einsum("arv,zrv->zar", T3, B3 / scale[:, :, None])
    else:
        out = T3[None, :, :, letter] * (used / scale)[:, None, :]
    return out.reshape(B.shape[0], N * R)


def _used_sum(A0: np.ndarray, N: int, letter: int | None) -> np.ndarray:
    """Per-row sum of the entries of a backward message a step with ``letter`` uses."""
    return A0.sum(axis=1) if letter is None else A0.reshape(A0.shape[0], -1, N)[:, :, letter].sum(axis=1)


def _normalise_rows(A: np.ndarray) -> np.ndarray:
    """Rescale every row to sum 1 (rows of zeros stay zero)."""
    s = A.sum(axis=1, keepdims=True)
    np.divide(A, s, out=A, where=s > 0)
    return A


def _initial_message(init, ind, tokens, roles, skip=None):
    """Forward message at position k − 1 with a row per visibility pattern of the free
    positions among 0..k−1 (``skip`` excluded and hidden); returns (messages, counts of
    visible free positions per row)."""
    F = init[None, :].copy()
    pc = np.zeros(1, dtype=np.int64)
    for o in range(ind.shape[0]):
        if o == skip or roles[o] == _HIDDEN:
            continue
        if roles[o] == _VISIBLE:
            F = F * ind[o, tokens[o]]
        else:
            F = np.concatenate([F, F * ind[o, tokens[o]]])
            pc = np.concatenate([pc, pc + 1])
    return _normalise_rows(F), pc


def _log_marginal(T3, init, ind, tokens, visible) -> float:
    """log p(x^U) for a boolean ``visible`` over positions 0..Lw−1 (Lw ≥ k)."""
    k = ind.shape[0]
    F = init.copy()
    for o in range(k):
        if visible[o]:
            F = F * ind[o, tokens[o]]
    total = 0.0
    with np.errstate(divide="ignore"):
        for j in range(k, len(tokens) + 1):
            s = F.sum()
            if s == 0.0:
                return -np.inf
            total += math.log(s)
            if j == len(tokens):
                break
            F = _forward_step(F[None, :] / s, T3, tokens[j] if visible[j] else None)[0]
    return total


def _conditional_probs(T3, init, ind, tokens, visible) -> np.ndarray:
    """p(x^i = v | x^{U_b ∖ {i}}) for every row b of ``visible`` (b, Lw), every i and v;
    shape (b, Lw, N). Rows where x^{U_b ∖ {i}} has probability 0 are nan."""
    b, Lw = visible.shape
    N, k = T3.shape[0], ind.shape[0]
    S = N**k
    # Emission factors: 1 at hidden positions, the indicator of the letter at visible ones.
    emit = [np.where(visible[:, o, None], ind[o, tokens[o]][None, :], 1.0) for o in range(k)]
    # Forward messages with position i hidden, at the split position s = max(i, k−1).
    Fm = np.empty((Lw, b, S))
    for i in range(k):
        F = np.broadcast_to(init, (b, S)).copy()
        for o in range(k):
            if o != i:
                F *= emit[o]
        Fm[i] = _normalise_rows(F)
    F = _normalise_rows(Fm[k - 1] * emit[k - 1])
    last = ind[k - 1]
    for j in range(k, Lw):
        Fm[j] = _forward_step(F, T3, None)
        F = Fm[j].copy()
        F[visible[:, j]] *= last[tokens[j]]
        F = _normalise_rows(F)
    probs = np.empty((b, Lw, N))
    B = np.ones((b, S))
    for j in range(Lw - 1, k - 1, -1):
        probs[:, j] = (Fm[j] * B).reshape(b, S // N, N).sum(axis=1)
        B = _masked_backward_step(B, T3, tokens[j], visible[:, j])
    for i in range(k):
        probs[:, i] = (Fm[i] * B).reshape(b, N**i, N, N ** (k - 1 - i)).sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return probs / probs.sum(axis=2, keepdims=True)


def _masked_backward_step(B, T3, letter, rows_visible):
    """:func:`_backward_step` taking in ``letter`` on the rows where it is visible."""
    out = np.empty_like(B)
    out[rows_visible] = _backward_step(B[rows_visible], T3, letter)
    out[~rows_visible] = _backward_step(B[~rows_visible], T3, None)
    return out


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


def _subset_terms(T3, init, ind, tokens, roles) -> np.ndarray:
    """h_m = Σ_{J ⊆ T, |J| = m} Σ_{i ∈ T∖J} −log p(x^i | x^{J ∪ C}), m = 0..|T|−1.

    ``roles`` marks each position hidden (summed out), visible (C) or free (T).

    Meet in the middle: a split position s cuts T into a left part (≤ s) and a right
    part (> s). The forward message at s has one row per visibility pattern of the left
    part, the backward message at s one row per pattern of the right part; their matrix
    product gives p(x^{J ∪ C}) up to row and column scales for every J at once. For a
    target position i on the left, two variants of the forward message are carried from
    i to s, one with i hidden (the denominator, Σ_v) and one with i showing x^i (the
    numerator), rescaled by the same factor; their products with the backward message
    give p0(x^i | x^{J ∪ C}) for all 2^{|T|−1} sets J ∌ i as a ratio in which every
    scale cancels. Right positions are handled symmetrically. Work:
    O(|T| · 2^{|T|} · N^k) in matrix products, memory O(2^{|T|/2} · N^k).
    """
    N, k = T3.shape[0], ind.shape[0]
    S, Lw = N**k, len(tokens)
    free = np.flatnonzero(roles == _FREE)
    n = free.size
    s = max(k - 1, int(free[n // 2 - 1]) if n >= 2 else k - 1)
    last = ind[k - 1]
    h = np.zeros(n)

    def rescale(A):  # A: (variants, rows, S); every variant shares the first one's scale
        A /= A[0].sum(axis=1)[None, :, None]
        return A

    def forward(A, pc, j):  # message at j − 1 → at j, branching if j is free
        step = _forward_step(A.reshape(-1, S), T3, tokens[j] if roles[j] == _VISIBLE else None)
        step = step.reshape(A.shape)
        if roles[j] == _FREE:
            return rescale(np.concatenate([step, step * last[tokens[j]]], axis=1)), np.concatenate([pc, pc + 1])
        return rescale(step), pc

    def backward(A, pc, j):  # message at j → at j − 1, taking in position j
        flat = A.reshape(-1, S)
        letters = [None, tokens[j]] if roles[j] == _FREE else [tokens[j] if roles[j] == _VISIBLE else None]
        # Every variant uses the first one's scale, so that their ratios are kept.
        steps = [_backward_step(flat, T3, v, np.tile(_used_sum(A[0], N, v), A.shape[0])).reshape(A.shape)
                 for v in letters]
        if roles[j] == _FREE:
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
        if roles[j] == _FREE:
            flat = B.reshape(-1, S)
            scale = _used_sum(flat, N, None)
            W = np.stack([_backward_step(flat, T3, None, scale), _backward_step(flat, T3, tokens[j], scale)])
            pcW = pcB
            for jj in range(j - 1, s, -1):
                W, pcW = backward(W, pcW, jj)
            right.append((W, pcW))
        B, pcB = backward(B, pcB, j)
    Bs = B[0]
    # Forward: the left variants, contracted with the backward message at s.
    for i in range(k):
        if roles[i] == _FREE:
            D, pcV = _initial_message(init, ind, tokens, roles, skip=i)
            V = np.stack([D, D * ind[i, tokens[i]]])
            for jj in range(k, s + 1):
                V, pcV = forward(V, pcV, jj)
            accumulate(_sparse_product(V, Bs[None]), pcV, pcB)
    F, pcF = _initial_message(init, ind, tokens, roles)
    F = F[None]
    for j in range(k, s + 1):
        if roles[j] == _FREE:
            hid = _forward_step(F[0], T3, None)
            V, pcV = rescale(np.stack([hid, hid * last[tokens[j]]])), pcF
            for jj in range(j + 1, s + 1):
                V, pcV = forward(V, pcV, jj)
            accumulate(_sparse_product(V, Bs[None]), pcV, pcB)
        F, pcF = forward(F, pcF, j)
    groups = _support_groups(F[0])
    for W, pcW in right:
        accumulate(_sparse_product(F, W, groups), pcF, pcW)
    return h


def _subset_weights(n: int) -> np.ndarray:
    """H_n · p(J) for |J| = m = 0..n−1: B(n − m, m + 1) = 1 / ((n − m) · C(n, m))."""
    return np.array([1.0 / ((n - m) * math.comb(n, m)) for m in range(n)])


class MarkovChain:
    """A k-th order Markov chain over N letters.

    Parameters
    ----------
    transitions : array_like, shape (N,)*(k+1)
        ``transitions[c_1, ..., c_k, v] = P(x^{j} = v | x^{j-k..j-1} = c)``; every row
        (last axis) sums to 1.
    initial : array_like, shape (N,)*k, optional
        The law of the first k letters. When omitted, the chain's stationary law on
        contexts is used: the unique π on N^k with π(c') = Σ_c π(c) P(c → c'), where
        c → c' shifts in one letter. If the context chain has no unique stationary law,
        a ``ValueError`` asks for ``initial``.
    alphabet : str, optional
        N characters naming the letters.
    """

    def __init__(self, transitions, initial=None, alphabet: str | None = None):
        T = np.asarray(transitions, dtype=np.float64)
        if T.ndim < 2 or len(set(T.shape)) != 1:
            raise ValueError(f"`transitions` must have shape (N,)*(k+1) with k >= 1 (got {T.shape}).")
        if np.any(T < 0) or not np.all(np.isfinite(T)):
            raise ValueError("`transitions` must be finite and non-negative.")
        rows = T.sum(axis=-1)
        if np.any(np.abs(rows - 1) > SUM_ATOL):
            bad = np.unravel_index(np.argmax(np.abs(rows - 1)), rows.shape)
            raise ValueError(f"every row of `transitions` must sum to 1 (context {bad} sums to {rows[bad]:.12g}).")
        self.transitions = T
        self.N = T.shape[0]
        self.order = T.ndim - 1
        self.alphabet = alphabet
        SequenceSpace(self.N, 1, alphabet=alphabet)  # validates the alphabet
        if initial is None:
            self.initial = self.stationary()
            self.initial_is_stationary = True
        else:
            self.initial = as_probability_table(initial, name="initial", shape=(self.N,) * self.order)
            self.initial_is_stationary = False

    @classmethod
    def from_dict(cls, table: dict, initial=None, alphabet: str | None = None) -> "MarkovChain":
        """From ``{context: {letter: probability}}``, the format of ``markov_data_table.json``.

        The order k is the context length. Without ``alphabet``, the letters are taken
        in the order of the first row's keys. Every context must be present.
        """
        if not table:
            raise ValueError("`table` must not be empty.")
        first_ctx, first_row = next(iter(table.items()))
        if alphabet is None:
            alphabet = "".join(first_row)
        k, N = len(first_ctx), len(alphabet)
        space = SequenceSpace(N, k, alphabet=alphabet)
        T = np.full((N,) * (k + 1), np.nan)
        for ctx, row in table.items():
            if len(ctx) != k:
                raise ValueError(f"context {ctx!r} must have length k={k}.")
            c = space.encode(ctx)
            for letter, p in row.items():
                if letter not in alphabet:
                    raise ValueError(f"letter {letter!r} of context {ctx!r} is outside the alphabet {alphabet!r}.")
                T[c + (alphabet.index(letter),)] = float(p)
        if np.any(np.isnan(T)):
            missing = np.argwhere(np.isnan(T))[0]
            raise ValueError(f"the table misses context/letter {space.decode(missing[:k])!r}/{alphabet[missing[k]]!r}.")
        return cls(T, initial=initial, alphabet=alphabet)

    def context_matrix(self) -> np.ndarray:
        """The N^k × N^k transition matrix of the context chain, P[c, c'] (row convention)."""
        N, k = self.N, self.order
        P = np.zeros((N**k, N**k))
        ctx = np.arange(N**k)
        for v in range(N):
            nxt = (ctx * N) % (N**k) + v
            P[ctx, nxt] += self.transitions.reshape(N**k, N)[:, v]
        return P

    def stationary(self) -> np.ndarray:
        """The stationary law of the context chain, shape (N,)*k."""
        P = self.context_matrix()
        m = P.shape[0]
        A = np.vstack([P.T - np.eye(m), np.ones((1, m))])
        b = np.zeros(m + 1)
        b[-1] = 1.0
        pi, *_ = np.linalg.lstsq(A, b, rcond=None)
        if np.linalg.matrix_rank(A) < m or np.abs(A @ pi - b).max() > 1e-10 or pi.min() < -1e-12:
            raise ValueError("the context chain has no unique stationary law; pass `initial`.")
        pi = np.clip(pi, 0.0, None)
        return (pi / pi.sum()).reshape((self.N,) * self.order)

    def to_table(self, L: int) -> np.ndarray:
        """The exact law of the first L letters, shape (N,)*L (enumerates N^L states)."""
        if int(L) != L or L < 1:
            raise ValueError(f"`L` must be a positive integer (got {L}).")
        from ._validation import check_memory
        from .memory import limit_bytes

        check_memory(2 * 8 * self.N**int(L), limit_bytes(), f"the law of L={L} letters (N^L = {self.N}^{L} states)")
        k = self.order
        if L <= k:
            return self.initial.sum(axis=tuple(range(L, k))) if L < k else self.initial.copy()
        table = self.initial
        for _ in range(L - k):
            table = table[..., None] * self.transitions  # broadcasts over the last k axes
        return table

    def to_distribution(self, L: int):
        from .distribution import Distribution

        return Distribution(self.to_table(L), alphabet=self.alphabet)

    def log_prob(self, x) -> float:
        """Exact log p(x) of a sequence of any length >= k, without enumeration."""
        tokens = SequenceSpace(self.N, len(x), alphabet=self.alphabet).encode(x)
        k = self.order
        if len(tokens) < k:
            return float(np.log(self.to_table(len(tokens))[tokens]))
        with np.errstate(divide="ignore"):
            lp = np.log(self.initial[tokens[:k]])
            for j in range(k, len(tokens)):
                lp += np.log(self.transitions[tokens[j - k: j + 1]])
        return float(lp)

    def sample(self, n: int, L: int, rng) -> np.ndarray:
        """``n`` sequences of length ``L`` drawn with ``rng``, shape (n, L)."""
        rng = np.random.default_rng(rng)
        N, k = self.N, self.order
        out = np.empty((int(n), int(L)), dtype=np.int64)
        first = rng.choice(N**k, size=n, p=self.initial.ravel())
        head = np.stack(np.unravel_index(first, (N,) * k), axis=1)
        out[:, : min(k, L)] = head[:, : min(k, L)]
        cdf = np.cumsum(self.transitions.reshape(N**k, N), axis=1)
        for j in range(k, L):
            ctx = np.ravel_multi_index(out[:, j - k: j].T, (N,) * k)
            u = rng.random(n)[:, None]
            out[:, j] = np.minimum((u > cdf[ctx]).sum(axis=1), N - 1)
        return out

    # ------------------------------------------------------------------------------------
    # Exact conditionals by forward–backward on the context chain.
    # ------------------------------------------------------------------------------------

    def _encode(self, x) -> np.ndarray:
        """Tokens of ``x`` (a string over the alphabet or a token sequence), as int64."""
        if isinstance(x, np.ndarray):
            x = x.tolist()
        if len(x) == 0:
            raise ValueError("`x` must have at least one letter (got an empty sequence).")
        return np.asarray(SequenceSpace(self.N, len(x), alphabet=self.alphabet).encode(x), dtype=np.int64)

    def _engine(self, tokens: np.ndarray):
        """(T3, initial, indicators, tokens padded to length max(L, k))."""
        N, k = self.N, self.order
        T3 = self.transitions.reshape(N, N ** (k - 1), N)
        padded = np.concatenate([tokens, np.zeros(max(0, k - len(tokens)), dtype=np.int64)])
        return T3, self.initial.ravel(), _letter_indicators(N, k), padded

    @staticmethod
    def _positions(positions, L: int, name: str) -> np.ndarray:
        """Validated sorted positions in 0..L−1 (no duplicates)."""
        arr = np.asarray(list(positions) if not isinstance(positions, np.ndarray) else positions)
        if arr.size == 0:
            return np.zeros(0, dtype=np.int64)
        if arr.ndim != 1 or arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"`{name}` must be a 1-d collection of integer positions (got {positions!r}).")
        if arr.min() < 0 or arr.max() >= L:
            raise ValueError(f"`{name}` must hold positions in 0..{L - 1} for L={L} (got {sorted(arr.tolist())}).")
        if len(set(arr.tolist())) != arr.size:
            raise ValueError(f"`{name}` must not repeat a position (got {sorted(arr.tolist())}).")
        return np.sort(arr.astype(np.int64))

    def log_marginal(self, x, visible) -> float:
        """Exact log p0(x^U): the letters of ``x`` at the positions ``visible``, all
        other positions summed out (one scaled forward pass, no enumeration).

        Parameters
        ----------
        x : str or sequence of int, length L
            The sequence; letters outside U are ignored.
        visible : iterable of int
            The positions U ⊆ {0..L−1}. ``log_marginal(x, range(L)) == log_prob(x)``.

        Returns
        -------
        float
            log p0(x^U) in nats; ``0.0`` for U = ∅ and ``-inf`` for an impossible x^U.
        """
        tokens = self._encode(x)
        U = self._positions(visible, len(tokens), "visible")
        if U.size == 0:
            return 0.0
        T3, init, ind, padded = self._engine(tokens)
        mask = np.zeros(len(padded), dtype=bool)
        mask[U] = True
        return _log_marginal(T3, init, ind, padded, mask)

    def conditional(self, x, i: int, visible) -> np.ndarray:
        """Exact conditional law p0(x^i = · | x^U) of one position, by forward–backward.

        .. math::

            p_0(x^i = v \\mid x^U) = \\frac{\\sum_c \\alpha_s(c)\\, \\beta_s(c)\\, 1[c \\ni v]}
                                        {\\sum_c \\alpha_s(c)\\, \\beta_s(c)}

        where:

        - c runs over contexts (the k letters ending at s = max(i, k−1)),
        - α_s(c) ∝ p0(context c at s, x^{U ∩ [0, s]}) with position i hidden,
        - β_s(c) = p0(x^{U ∩ (s, L)} | context c at s),
        - "c ∋ v" means c has letter v at position i.

        Positions outside U are summed out. Messages are rescaled at every step, so
        entries as small as 1e-8 (or 1e-300) cause no underflow.

        Parameters
        ----------
        x : str or sequence of int, length L
        i : int
            The position, 0 ≤ i < L. Its own letter is never conditioned on: if ``i`` is
            in ``visible`` it is dropped from U.
        visible : iterable of int
            The visible positions U.

        Returns
        -------
        ndarray, shape (N,)
            The conditional law, summing to 1 (nan if p0(x^U) = 0).

        Examples
        --------
        >>> import numpy as np
        >>> chain = MarkovChain(np.array([[0.9, 0.1], [0.2, 0.8]]))
        >>> p = chain.to_table(3)
        >>> ref = p[0, :, 1] / p[0, :, 1].sum()
        >>> bool(np.allclose(chain.conditional((0, 1, 1), 1, [0, 2]), ref, rtol=1e-14, atol=0))
        True
        """
        tokens = self._encode(x)
        L = len(tokens)
        if int(i) != i or not 0 <= i < L:
            raise ValueError(f"`i` must be a position in 0..{L - 1} for L={L} (got {i!r}).")
        mask = np.zeros((1, L), dtype=bool)
        mask[0, self._positions(visible, L, "visible")] = True
        T3, init, ind, padded = self._engine(tokens)
        return _conditional_probs(T3, init, ind, padded, self._pad_masks(mask))[0, int(i)]

    def _pad_masks(self, masks: np.ndarray) -> np.ndarray:
        pad = max(0, self.order - masks.shape[1])
        return np.concatenate([masks, np.zeros((masks.shape[0], pad), dtype=bool)], axis=1)

    def log_conditionals(self, x, masks) -> np.ndarray:
        """Exact log p0(x^i | x^{U_b}) for many visible sets U_b at once, every position i.

        A batched forward–backward: O(B · L · N · N^k) work, no enumeration of V^L.

        Parameters
        ----------
        x : str or sequence of int, length L
        masks : array_like of bool, shape (B, L)
            ``masks[b, j]`` is True when position j is in U_b (visible).

        Returns
        -------
        ndarray, shape (B, L)
            ``out[b, i] = log p0(x^i | x^{U_b ∖ {i}})``. At a masked position (i ∉ U_b)
            this is the conditional of Theorem 4.1; at a visible one it is the
            leave-one-out conditional (position i's own letter hidden). ``-inf`` where
            the conditional is 0 (or below the float64 range, ~1e-308), nan where
            p0(x^{U_b ∖ {i}}) = 0.

        Examples
        --------
        >>> import numpy as np
        >>> chain = MarkovChain(np.array([[0.9, 0.1], [0.2, 0.8]]))
        >>> out = chain.log_conditionals((0, 1, 1), np.array([[True, False, True]]))
        >>> bool(np.isclose(out[0, 1], np.log(chain.conditional((0, 1, 1), 1, [0, 2])[1]), rtol=1e-14))
        True
        """
        tokens = self._encode(x)
        L = len(tokens)
        m = np.asarray(masks)
        if m.ndim != 2 or m.shape[1] != L:
            raise ValueError(f"`masks` must have shape (B, L) with L={L} (got {m.shape}).")
        if m.dtype != bool:
            if not np.issubdtype(m.dtype, np.integer) or not np.isin(m, (0, 1)).all():
                raise ValueError("`masks` must be boolean (True = visible) or hold only 0 and 1.")
            m = m.astype(bool)
        T3, init, ind, padded = self._engine(tokens)
        m = self._pad_masks(m)
        chunk = max(1, _CHUNK_BYTES // (8 * len(padded) * self.N**self.order))
        out = np.empty((m.shape[0], L))
        rows = np.arange(L)
        with np.errstate(divide="ignore"):
            for start in range(0, m.shape[0], chunk):
                probs = _conditional_probs(T3, init, ind, padded, m[start: start + chunk])
                out[start: start + chunk] = np.log(probs[:, rows, tokens])
        return out

    def subset_terms(self, x, target=None, context=(), max_subsets: int = MAX_SUBSETS) -> np.ndarray:
        """The exact per-size sums of conditional NLLs behind Theorem 4.1 and Corollary 4.3.

        .. math::

            h_m = \\sum_{J \\subseteq T,\\ |J| = m} \\; \\sum_{i \\in T \\setminus J}
                  -\\log p_0(x^i \\mid x^{J \\cup C}), \\qquad m = 0, …, |T| − 1,

        where T is ``target`` (default: every position), C is ``context`` and the
        positions outside T ∪ C are summed out. With C = ∅ and T = [L] this is the
        h_k(x0) of the closed form of mdce (MATH.md).

        Every one of the |T| · 2^{|T|−1} conditionals is computed, exactly, as a ratio
        of two forward–backward contractions. A forward message depends only on which
        target positions before it are visible and a backward message only on those
        after it, so the target is cut at a middle position s: the 2^{|T|−1}
        conditionals at a target position i are the entries of one matrix product
        between the stack of forward messages at s (one row per visibility pattern of
        the target positions before s) and the stack of backward messages at s (one per
        pattern after s), with position i hidden or showing x^i in the stack on its
        side. Work O(|T| · 2^{|T|} · N^k), memory O(2^{|T|/2} · N^k).

        Parameters
        ----------
        x : str or sequence of int, length L
        target, context : iterable of int
            Disjoint sets of positions; ``target`` must not be empty.
        max_subsets : int
            Refuse (``ValueError``) when the number 2^{|T|} − 1 of proper subsets J ⊊ T
            exceeds it. Time and memory grow like 2^{|T|} · N^k.

        Returns
        -------
        ndarray, shape (|T|,)
            h_0, …, h_{|T|−1}; ``inf`` entries when p0(x^{T ∪ C}) = 0.
        """
        tokens = self._encode(x)
        L = len(tokens)
        T = self._positions(range(L) if target is None else target, L, "target")
        C = self._positions(context, L, "context")
        if T.size == 0:
            raise ValueError("`target` must hold at least one position (got none).")
        both = sorted(set(T.tolist()) & set(C.tolist()))
        if both:
            raise ValueError(f"`target` and `context` must be disjoint (both hold {both}).")
        n = T.size
        if 2**n - 1 > max_subsets:
            raise ValueError(
                f"the exact sum over J ⊊ T with |T|={n} needs 2^{n} − 1 = {2**n - 1:,} subsets, "
                f"more than `max_subsets`={max_subsets:,}; raise `max_subsets` "
                f"(time and memory grow like 2^|T| · N^k) or use a Monte Carlo estimator."
            )
        S = self.N**self.order
        check_memory(6 * 8 * 2**n + (n + 4) * 8 * S * 2 ** (n - n // 2 + 1), SUBSET_MEMORY_LIMIT,
                     f"the exact subset sum over |T|={n} target positions with N^k={S} contexts")
        T3, init, ind, padded = self._engine(tokens)
        roles = np.full(len(padded), _HIDDEN)
        roles[C] = _VISIBLE
        roles[T] = _FREE
        visible = roles != _HIDDEN
        if _log_marginal(T3, init, ind, padded, visible) == -np.inf:
            return np.full(n, np.inf)
        return _subset_terms(T3, init, ind, padded, roles)

    def time_free_nll(self, x, max_subsets: int = MAX_SUBSETS) -> float:
        """−log p0(x) by the exact time-free sum of Theorem 4.1.

        .. math::

            -\\log p_0(x) = H_L \\sum_{U \\subsetneq [L]} p(U) \\sum_{i \\notin U}
                           -\\log p_0(x^i \\mid x^U)
                         = \\sum_{m=0}^{L-1} B(L - m, m + 1)\\, h_m(x)

        where:

        - p(U) = B(L − |U|, |U| + 1) / H_L, so H_L p(U) = 1 / ((L − |U|) · C(L, |U|)),
        - H_L = Σ_{j=1}^{L} 1/j,
        - h_m is :meth:`subset_terms` with T = [L], C = ∅ (U = ∅ included).

        All 2^L − 1 subsets are summed, so L ≤ log2(max_subsets + 1).

        Examples
        --------
        >>> import numpy as np
        >>> chain = MarkovChain(np.array([[0.9, 0.1], [0.2, 0.8]]))
        >>> x = (0, 1, 1, 0, 1)
        >>> abs(chain.time_free_nll(x) + chain.log_prob(x)) < 1e-12
        True
        """
        h = self.subset_terms(x, None, (), max_subsets=max_subsets)
        return float(_subset_weights(h.size) @ h)

    def conditional_nll(self, x, target, context, max_subsets: int = MAX_SUBSETS) -> float:
        """−log p0(x^T | x^C) by the exact subset sum of Theorem 4.2 / Corollary 4.3.

        .. math::

            -\\log p_0(x^T \\mid x^C) = H_{|T|} \\sum_{J \\subsetneq T} p(J)
                \\sum_{i \\in T \\setminus J} -\\log p_0(x^i \\mid x^{J \\cup C})

        where p(J) = B(|T| − |J|, |J| + 1) / H_{|T|}, J = ∅ included, and positions
        outside T ∪ C are summed out. The paper's Fig. 1b setting is C = 0..15,
        T = 16..31 (65,535 subsets). Compare :meth:`exact_conditional_nll`.

        Raises ``ValueError`` if p0(x^C) = 0; returns ``inf`` if p0(x^T | x^C) = 0.

        Examples
        --------
        >>> import numpy as np
        >>> chain = MarkovChain(np.array([[0.9, 0.1], [0.2, 0.8]]))
        >>> x = (0, 1, 1, 0, 1, 1)
        >>> a = chain.conditional_nll(x, target=[1, 3, 4], context=[0, 5])
        >>> b = chain.exact_conditional_nll(x, target=[1, 3, 4], context=[0, 5])
        >>> abs(a - b) < 1e-12
        True
        """
        if self.log_marginal(x, context) == -np.inf:
            raise ValueError("`context` has probability 0 under the chain; p0(x^T | x^C) is undefined.")
        h = self.subset_terms(x, target, context, max_subsets=max_subsets)
        return float(_subset_weights(h.size) @ h)

    def exact_conditional_nll(self, x, target, context) -> float:
        """−log p0(x^T | x^C) = −log p0(x^{T ∪ C}) + log p0(x^C), by two forward passes
        (:meth:`log_marginal`); the independent route for :meth:`conditional_nll`.

        Raises ``ValueError`` if p0(x^C) = 0.
        """
        tokens = self._encode(x)
        L = len(tokens)
        T = self._positions(target, L, "target")
        C = self._positions(context, L, "context")
        if T.size == 0:
            raise ValueError("`target` must hold at least one position (got none).")
        both = sorted(set(T.tolist()) & set(C.tolist()))
        if both:
            raise ValueError(f"`target` and `context` must be disjoint (both hold {both}).")
        log_c = self.log_marginal(tokens, C)
        if log_c == -np.inf:
            raise ValueError("`context` has probability 0 under the chain; p0(x^T | x^C) is undefined.")
        return float(log_c - self.log_marginal(tokens, np.concatenate([T, C])))
