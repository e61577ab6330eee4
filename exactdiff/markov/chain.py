"""k-th order Markov chains over an alphabet: exact laws of L letters, sampling, and
exact conditionals p0(x^i | x^U) by forward–backward on the context chain
(:mod:`exactdiff.markov.forward_backward`), for sequences of any length: V^L is never
enumerated.

The subset sums of Theorem 4.1 and Corollary 4.3 share forward messages between visible
sets with the same prefix and backward messages between sets with the same suffix, and
meet in the middle of the target; see :meth:`MarkovChain.subset_terms`. The weighted sums
themselves are in :mod:`exactdiff.masked.likelihood`.
"""

from __future__ import annotations

import bisect

import numpy as np
import scipy.sparse as sparse

from ..core import memory
from ..core.validation import (
    SUM_ATOL,
    as_probability_table,
    as_token_array,
    validate_count,
    validate_positions,
    validate_rng,
    validate_target_context,
    show_masked,
    show_tokens,
)
from ..sequences import Distribution, SequenceSpace
from ..sequences.masks import subset_of_pattern, subset_sizes
from . import forward_backward as fb

__all__ = ["MarkovChain", "MAX_SUBSETS", "STATIONARY_DENSE_MAX", "STATIONARY_MAX_ITER"]

#: Largest number of contexts whose stationary law is solved densely (with a rank check).
STATIONARY_DENSE_MAX = 4096
#: Most power-iteration steps for the stationary law of a larger context chain.
STATIONARY_MAX_ITER = 100_000

#: Largest number of subsets the exact subset sums accept unless told otherwise:
#: 2^16, which covers the paper's 16-letter response (2^16 − 1 = 65,535 subsets).
MAX_SUBSETS = 2**16


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
            raise ValueError(f"every row of `transitions` must sum to 1 (context {show_tokens(bad, alphabet)} "
                             f"sums to {rows[bad]:.12g}).")
        self.transitions = T
        self.N = T.shape[0]
        self.order = T.ndim - 1
        self.alphabet = alphabet
        SequenceSpace(self.N, 1, alphabet=alphabet)  # validates the alphabet
        self.transitions.setflags(write=False)
        if initial is None:
            self.initial = self.stationary()
            self.initial_is_stationary = True
        else:
            self.initial = as_probability_table(initial, name="initial", shape=(self.N,) * self.order)
            self.initial_is_stationary = False
        self.initial.setflags(write=False)
        self._tensors = fb.chain_tensors(self.transitions, self.initial)

    @classmethod
    def from_dict(cls, table: dict, initial=None, alphabet: str | None = None) -> "MarkovChain":
        """From ``{context: {letter: probability}}``, the format of ``markov_data_table.json``.

        The order k is the context length. Without ``alphabet``, the letters are taken
        in the order of the first row's keys. Every context must be present.
        """
        if not table:
            raise ValueError("`table` must not be empty.")
        first_ctx, first_row = next(iter(table.items()))
        given = alphabet is not None
        if not isinstance(first_row, dict) or not first_row:
            raise ValueError(f"the row of context {first_ctx!r} must be a non-empty {{letter: probability}} object.")
        if alphabet is None:
            alphabet = "".join(first_row)
        k, N = len(first_ctx), len(alphabet)
        space = SequenceSpace(N, k, alphabet=alphabet)
        memory.refuse(8 * N ** (k + 1), f"the transition table of an order-{k} chain over N={N} letters")
        T = np.full((N,) * (k + 1), np.nan)
        source = "given" if given else "the letters of the first row"
        for ctx, row in table.items():
            if len(ctx) != k:
                raise ValueError(f"context {ctx!r} must have length k={k}, like the first context {first_ctx!r}.")
            outside = sorted(set(ctx) - set(alphabet))
            if outside:
                raise ValueError(f"context {ctx!r} has letters outside the alphabet {alphabet!r} ({source}): {outside}.")
            if not isinstance(row, dict):
                raise ValueError(f"the row of context {ctx!r} must be a {{letter: probability}} object (got {row!r}).")
            c = space.encode(ctx)
            for letter, p in row.items():
                if letter not in alphabet:
                    raise ValueError(f"letter {letter!r} in the row of context {ctx!r} is outside the alphabet "
                                     f"{alphabet!r} ({source}).")
                if isinstance(p, bool) or not isinstance(p, (int, float)):
                    raise ValueError(f"P({letter!r} | {ctx!r}) must be a number (got {p!r}).")
                T[c + (alphabet.index(letter),)] = float(p)
        if np.any(np.isnan(T)):
            missing = np.argwhere(np.isnan(T))[0]
            raise ValueError(f"the table misses context/letter {space.decode(missing[:k])!r}/{alphabet[missing[k]]!r}.")
        return cls(T, initial=initial, alphabet=alphabet)

    def context_matrix(self):
        """The N^k × N^k transition matrix of the context chain, P[c, c'] (row
        convention), as a ``scipy.sparse`` CSR matrix (N entries per row)."""
        N, k = self.N, self.order
        S = N**k
        memory.refuse(3 * 16 * S * N, f"the context matrix of an order-{k} chain over N={N} letters ({S:,} contexts)")
        ctx = np.repeat(np.arange(S), N)
        nxt = (ctx * N) % S + np.tile(np.arange(N), S)
        return sparse.csr_matrix((self.transitions.reshape(S * N), (ctx, nxt)), shape=(S, S))

    def stationary(self) -> np.ndarray:
        """The stationary law of the context chain, shape (N,)*k: π with π P = π, Σπ = 1.

        Up to :data:`STATIONARY_DENSE_MAX` contexts, the least-squares solution of
        π(P − I) = 0, Σπ = 1 with the rank of the system checked, so that a chain
        without a unique stationary law is refused. Above it (text over 27 letters at
        order 3 has 19,683 contexts), power iteration π ← π P on the sparse context
        matrix from two starts (uniform and a seeded random law) until each residual
        |π P − π|₁ is below 1e-14 and the two limits agree to 1e-12, which a chain
        without a unique, aperiodic limit fails; at most :data:`STATIONARY_MAX_ITER`
        steps. Either way a ``ValueError`` asks for ``initial`` when no unique law is
        found."""
        N, k = self.N, self.order
        S = N**k
        P = self.context_matrix()
        if S <= STATIONARY_DENSE_MAX:
            A = np.vstack([P.T.toarray() - np.eye(S), np.ones((1, S))])
            b = np.zeros(S + 1)
            b[-1] = 1.0
            pi, *_ = np.linalg.lstsq(A, b, rcond=None)
            if np.linalg.matrix_rank(A) < S or np.abs(A @ pi - b).max() > 1e-10 or pi.min() < -1e-12:
                raise ValueError("the context chain has no unique stationary law; pass `initial`.")
        else:
            PT = P.T.tocsr()
            starts = [np.full(S, 1.0 / S), np.random.default_rng(0).dirichlet(np.ones(S))]
            limits = []
            for pi in starts:
                for _ in range(STATIONARY_MAX_ITER):
                    nxt = PT @ pi
                    done = np.abs(nxt - pi).sum() < 1e-14
                    pi = nxt
                    if done:
                        break
                else:
                    raise ValueError(f"power iteration for the stationary law of {S:,} contexts did not converge in "
                                     f"{STATIONARY_MAX_ITER:,} steps; pass `initial`.")
                limits.append(pi)
            pi = limits[0]
            if np.abs(limits[0] - limits[1]).max() > 1e-12:
                raise ValueError("the context chain has no unique stationary law (power iteration from two starts "
                                 "reached different limits); pass `initial`.")
        pi = np.clip(pi, 0.0, None)
        return (pi / pi.sum()).reshape((N,) * k)

    def to_table(self, L: int) -> np.ndarray:
        """The exact law of the first L letters, shape (N,)*L (enumerates N^L states)."""
        L = validate_count(L, "L")
        memory.refuse(2 * 8 * self.N**L, f"the law of L={L} letters (N^L = {self.N}^{L} states)")
        k = self.order
        if L <= k:
            return self.initial.sum(axis=tuple(range(L, k))) if L < k else self.initial.copy()
        table = self.initial
        for _ in range(L - k):
            table = table[..., None] * self.transitions  # broadcasts over the last k axes
        return table

    def to_distribution(self, L: int) -> Distribution:
        """The law of the first L letters as a :class:`~exactdiff.Distribution`."""
        return Distribution(self.to_table(L), alphabet=self.alphabet)

    def nll(self, x) -> float:
        """Exact −log p(x) of a sequence of any length, without enumeration (``inf`` for
        an impossible sequence), as :meth:`Distribution.nll <exactdiff.Distribution.nll>`."""
        tokens = self._encode(x)
        k = self.order
        if len(tokens) < k:
            return float(-self.log_subsequence(tokens, range(len(tokens))))
        with np.errstate(divide="ignore"):
            lp = np.log(self.initial[tuple(tokens[:k])])
            for j in range(k, len(tokens)):
                lp += np.log(self.transitions[tuple(tokens[j - k: j + 1])])
        return float(-lp)

    def sample(self, n: int, L: int, rng) -> np.ndarray:
        """``n`` sequences of length ``L`` drawn with ``rng`` (a ``numpy.random.Generator``
        or a seed), shape (n, L).

        Inverse-CDF sampling with one uniform per letter: the first k letters from the
        initial law, then each letter from its row of ``transitions``. Many sequences are
        drawn position by position, vectorised over the rows; a single long sequence
        (n = 1, e.g. millions of letters to fit a model on) letter by letter with
        ``bisect`` on plain lists, which is much faster than numpy calls per letter.
        """
        rng = validate_rng(rng)
        n, L = validate_count(n, "n"), validate_count(L, "L")
        N, k = self.N, self.order
        S = N**k
        cdf = np.cumsum(self.transitions.reshape(S, N), axis=1)
        first = rng.choice(S, size=n, p=self.initial.ravel())
        out = np.empty((n, L), dtype=np.int64)
        out[:, : min(k, L)] = np.stack(np.unravel_index(first, (N,) * k), axis=1)[:, : min(k, L)]
        if L <= k:
            return out
        if n == 1:
            rows = cdf[:, :-1].tolist()
            ctx, letters = int(first[0]), []
            for u in rng.random(L - k).tolist():
                v = bisect.bisect_right(rows[ctx], u)
                letters.append(v)
                ctx = (ctx * N + v) % S
            out[0, k:] = letters
            return out
        ctx = first
        for j in range(k, L):
            u = rng.random(n)[:, None]
            out[:, j] = np.minimum((u > cdf[ctx]).sum(axis=1), N - 1)
            ctx = (ctx * N + out[:, j]) % S
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

    def _padded(self, tokens: np.ndarray, visible: np.ndarray):
        """Tokens and visibility padded with hidden positions to length >= k (a sequence
        shorter than the order is the first letters of a longer one)."""
        pad = max(0, self.order - tokens.shape[-1])
        if pad:
            tokens = np.concatenate([tokens, np.zeros(tokens.shape[:-1] + (pad,), dtype=np.int64)], axis=-1)
            visible = np.concatenate([visible, np.zeros(visible.shape[:-1] + (pad,), dtype=bool)], axis=-1)
        return tokens, visible

    def log_subsequence(self, x, visible) -> float:
        """Exact log p0(x^U): the letters of ``x`` at the positions ``visible``, all
        other positions summed out (one scaled forward pass of window messages, no
        enumeration).

        Parameters
        ----------
        x : str or sequence of int, length L
            The sequence; letters outside U are ignored.
        visible : iterable of int
            The positions U ⊆ {0..L−1}. ``log_subsequence(x, range(L)) == -nll(x)``.

        Returns
        -------
        float
            log p0(x^U) in nats; ``0.0`` for U = ∅ and ``-inf`` for an impossible x^U.
        """
        tokens = self._encode(x)
        U = validate_positions(visible, len(tokens), "visible")
        if not U:
            return 0.0
        mask = np.zeros(len(tokens), dtype=bool)
        mask[list(U)] = True
        tokens, mask = self._padded(tokens, mask)
        return float(fb.log_subsequences(self._tensors, tokens[None], mask[None])[0])

    def log_subsequences(self, x, visible) -> np.ndarray:
        """Exact log p0(x_b^{U_b}) for a batch of rows, each with its own letters and
        visible set (one forward pass of window messages for the whole batch).

        Parameters
        ----------
        x : int array, shape (B, L)
            Letters 0..N−1 (ignored where not visible).
        visible : bool array, shape (B, L)
            ``visible[b, j]`` is True when position j is in U_b.

        Returns
        -------
        ndarray, shape (B,)
            log p0(x_b^{U_b}); 0 for an empty U_b, ``-inf`` where the letters are impossible.

        Examples
        --------
        >>> import numpy as np
        >>> chain = MarkovChain(np.array([[0.9, 0.1], [0.2, 0.8]]))
        >>> out = chain.log_subsequences(np.array([[0, 1, 1]]), np.array([[True, False, True]]))
        >>> bool(abs(out[0] - chain.log_subsequence((0, 1, 1), [0, 2])) < 1e-15)
        True
        """
        x = as_token_array(x, self.N, "x")
        vis = self._mask_array(visible, x.shape, "visible")
        return fb.log_subsequences(self._tensors, *self._padded(x, vis))

    @staticmethod
    def _mask_array(masks, shape, name):
        """A boolean array of the given shape (booleans, or integers 0 and 1)."""
        m = np.asarray(masks)
        if m.shape != tuple(shape):
            raise ValueError(f"`{name}` must have shape {tuple(shape)} (got {m.shape}).")
        if m.dtype != bool:
            if not np.issubdtype(m.dtype, np.integer) or not np.isin(m, (0, 1)).all():
                raise ValueError(f"`{name}` must be boolean (True = visible) or hold only 0 and 1.")
            m = m.astype(bool)
        return m

    def posteriors(self, x) -> np.ndarray:
        """The optimal denoiser of the chain on query rows: p0(x^i = v | x^{UM_b}).

        Parameters
        ----------
        x : int array, shape (B, L)
            Noisy sequences of any length L; the mask id is ``N``. Row b's visible set
            UM_b is its unmasked positions; masked positions are summed out.

        Returns
        -------
        ndarray, shape (B, L, N)
            The exact conditional law of every masked letter given the visible letters of
            its row (forward–backward over window messages: a step costs N^(hidden letters
            among k + 1 positions), at most N^{k+1}); the one-hot of the letter at visible
            positions.

        Raises ``ValueError`` when the visible letters of a row with a masked position
        have probability 0 (the conditional is undefined), naming that context.
        """
        x = as_token_array(x, self.N + 1, "x")
        tokens, visible = self._padded(np.where(x == self.N, 0, x), x != self.N)
        out = fb.posteriors(self._tensors, tokens, visible)[:, : x.shape[1]]
        bad = np.isnan(out).any(axis=(1, 2))
        if bad.any():
            b = int(np.argmax(bad))
            raise ValueError(f"the context {self._describe(x[b])} of query row {b} (_ = masked) has probability 0 "
                             f"under the chain: p0(x^i | x^U) is undefined.")
        return out

    def _describe(self, row) -> str:
        return show_masked(row, self.N, self.alphabet)

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
            The position, 0 ≤ i < L, not in ``visible``.
        visible : iterable of int
            The visible positions U.

        Returns
        -------
        ndarray, shape (N,)
            The conditional law, summing to 1.

        Raises ``ValueError`` when ``i`` is in ``visible`` and when p0(x^U) = 0 (naming
        the context), as :meth:`Distribution.conditional <exactdiff.Distribution.conditional>`.

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
        (i,) = validate_positions([i], L, "i")
        U = validate_positions(visible, L, "visible")
        if i in U:
            raise ValueError(f"`i`={i} is in `visible`: the conditional of a visible position is undefined here.")
        row = np.full(L, self.N)
        row[list(U)] = tokens[list(U)]
        return self.posteriors(row[None])[0, i]

    def log_conditionals(self, x, masks) -> np.ndarray:
        """Exact log p0(x^i | x^{U_b}) for many visible sets U_b at once, every masked i.

        A batched forward–backward over window messages
        (:func:`exactdiff.markov.forward_backward.log_conditionals`), no enumeration of V^L.

        Parameters
        ----------
        x : str or sequence of int, length L
        masks : array_like of bool, shape (B, L)
            ``masks[b, j]`` is True when position j is in U_b (visible).

        Returns
        -------
        ndarray, shape (B, L)
            ``out[b, i] = log p0(x^i | x^{U_b})`` at masked positions (i ∉ U_b), ``-inf``
            where that conditional is 0; ``0.0`` at visible positions (log 1), so that a
            row's sum is Σ_{i ∉ U_b} log p0(x^i | x^{U_b}). Raises ``ValueError`` when
            some x^{U_b} with a masked position has probability 0.

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
        m = self._mask_array(m, m.shape, "masks")
        rows, vis = self._padded(np.broadcast_to(tokens, m.shape), m)
        logp, _ = fb.log_conditionals(self._tensors, rows, vis)
        logp = logp[:, :L]
        bad = np.isnan(logp).any(axis=1)
        if bad.any():
            b = int(np.argmax(bad))
            row = np.where(m[b], tokens, self.N)
            raise ValueError(f"the context {self._describe(row)} of mask row {b} (_ = masked) has probability 0 "
                             f"under the chain: p0(x^i | x^U) is undefined.")
        return logp

    def _subset_setup(self, x, target, context, max_subsets):
        """(padded tokens, roles, n) for the subset tables, after the guards."""
        tokens = self._encode(x)
        L = len(tokens)
        T, C = validate_target_context(L, range(L) if target is None else target, context)
        n = len(T)
        if 2**n - 1 > max_subsets:
            raise ValueError(
                f"the exact sum over J ⊊ T with |T|={n} needs 2^{n} − 1 = {2**n - 1:,} subsets, "
                f"more than `max_subsets`={max_subsets:,}; raise `max_subsets` "
                f"(time and memory grow like 2^|T|) or use a Monte Carlo estimator."
            )
        self._check_context(tokens, C)
        roles = np.full(L, fb.HIDDEN)
        roles[list(C)] = fb.VISIBLE
        roles[list(T)] = fb.FREE
        padded, _ = self._padded(tokens, roles != fb.HIDDEN)
        roles = np.concatenate([roles, np.full(len(padded) - L, fb.HIDDEN)])
        memory.refuse(fb.subset_table_bytes(self._tensors, roles),
                      f"the exact subset tables over |T|={n} target positions with N^k={self.N**self.order:,} contexts")
        return padded, roles, n

    def subset_terms(self, x, target=None, context=(), max_subsets: int = MAX_SUBSETS) -> np.ndarray:
        """The exact per-size sums of conditional NLLs behind Theorem 4.1 and Corollary 4.3.

        .. math::

            h_m = \\sum_{J \\subseteq T,\\ |J| = m} \\; \\sum_{i \\in T \\setminus J}
                  -\\log p_0(x^i \\mid x^{J \\cup C}), \\qquad m = 0, …, |T| − 1,

        where T is ``target`` (default: every position), C is ``context`` and the
        positions outside T ∪ C are summed out. With C = ∅ and T = [L] this is the
        h_k(x0) of the closed form of mdce (MATH.md).

        Every one of the |T| · 2^{|T|−1} conditionals is exact: the 2^{|T|} marginals
        log p0(x^{J ∪ C}) are computed by meeting in the middle of the target
        (:func:`exactdiff.markov.forward_backward.subset_log_z`) and
        −log p0(x^i | x^{J ∪ C}) = log p0(x^{J ∪ C}) − log p0(x^{J ∪ {i} ∪ C}).

        Parameters
        ----------
        x : str or sequence of int, length L
        target, context : iterable of int
            Disjoint sets of positions; ``target`` must not be empty.
        max_subsets : int
            Refuse (``ValueError``) when the number 2^{|T|} − 1 of proper subsets J ⊊ T
            exceeds it.

        Returns
        -------
        ndarray, shape (|T|,)
            h_0, …, h_{|T|−1}; ``inf`` entries when p0(x^{T ∪ C}) = 0. Raises
            ``ValueError`` when p0(x^C) = 0 (the conditionals are undefined).
        """
        padded, roles, n = self._subset_setup(x, target, context, max_subsets)
        if fb.log_subsequences(self._tensors, padded[None], (roles != fb.HIDDEN)[None])[0] == -np.inf:
            return np.full(n, np.inf)
        return fb.subset_terms(self._tensors, padded, roles)

    def subset_losses(self, x, target=None, context=(), max_subsets: int = MAX_SUBSETS):
        """The oracle's DCE loss on every mask of the target, exactly, from 2^{|T|} marginals.

        .. math::

            \\ell(m) = \\sum_{i \\in m} -\\log p_0(x^i \\mid x^{(T \\setminus m) \\cup C})
                    = \\sum_{i \\in m} \\big[\\log p_0(x^{(T \\setminus m) \\cup C})
                      - \\log p_0(x^{(T \\setminus m) \\cup \\{i\\} \\cup C})\\big]

        for every set m ⊆ T of masked target positions: what
        :func:`exactdiff.masked.mask_losses` returns for ``OracleDenoiser(chain)`` (one
        denoiser call per mask), here from the table of
        :func:`exactdiff.markov.forward_backward.subset_log_z`.

        Parameters
        ----------
        x : str or sequence of int, length L
        target, context : iterable of int
            As :meth:`subset_terms`.
        max_subsets : int

        Returns
        -------
        losses : ndarray, shape (2^{|T|},)
            ℓ(m) for the masks in lexicographic order over the sorted target positions,
            True = masked and the first target position varying slowest (the order of
            pattern order (:mod:`exactdiff.sequences.masks`)); ``inf`` where the masked letters
            are impossible given the rest, ``nan`` where the visible letters are.
        n_masked : ndarray, shape (2^{|T|},)
            |m| of each mask.

        Examples
        --------
        >>> import numpy as np
        >>> chain = MarkovChain(np.array([[0.9, 0.1], [0.2, 0.8]]))
        >>> losses, n_masked = chain.subset_losses((0, 1, 1), target=[1, 2], context=[0])
        >>> n_masked.tolist()
        [0, 1, 1, 2]
        >>> bool(abs(losses[1] - chain.exact_conditional_nll((0, 1, 1), [2], [0, 1])) < 1e-15)   # only x^2 masked
        True
        """
        padded, roles, n = self._subset_setup(x, target, context, max_subsets)
        ell = fb.subset_losses(fb.subset_log_z(self._tensors, padded, roles))
        return ell[subset_of_pattern(n)], subset_sizes(n)

    def _check_context(self, tokens, C):
        """Raise ``ValueError`` naming the context when p0(x^C) = 0."""
        if C and self.log_subsequence(tokens, C) == -np.inf:
            row = np.full(len(tokens), self.N)
            row[list(C)] = tokens[list(C)]
            raise ValueError(f"the context {self._describe(row)} (_ = not in the context) has probability 0 "
                             f"under the chain: p0(x^T | x^C) is undefined.")

    def exact_conditional_nll(self, x, target, context) -> float:
        """−log p0(x^T | x^C) = −log p0(x^{T ∪ C}) + log p0(x^C), by two forward passes
        (:meth:`log_subsequence`); the independent route for the Corollary 4.3 subset sum.

        Raises ``ValueError`` if p0(x^C) = 0, naming the context.
        """
        tokens = self._encode(x)
        T, C = validate_target_context(len(tokens), target, context)
        self._check_context(tokens, C)
        return float(self.log_subsequence(tokens, C) - self.log_subsequence(tokens, T + C))
