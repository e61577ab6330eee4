"""Distributions over V^L, stored as exact probability tables of shape (N,)*L."""

from __future__ import annotations

import numpy as np
from scipy.special import entr, softmax

from ..core import memory
from ..core.validation import as_probability_table, validate_positions, validate_rng, show_tokens
from .space import SequenceSpace

__all__ = ["Distribution"]


class Distribution:
    """A probability distribution p0 over V^L, held as a table of shape ``(N,)*L``.

    The table is indexed by token tuples, ``p0.table[x]``, in C order. Every
    constructor validates its input: tables must be finite, non-negative and sum to 1.

    Parameters
    ----------
    table : array_like, shape (N,)*L
        The probabilities.
    alphabet : str, optional
        ``N`` characters naming the tokens, e.g. ``"ATGC"``.

    Examples
    --------
    >>> p0 = Distribution.from_dict({"AA": 0.5, "TG": 0.5}, alphabet="ATGC")
    >>> p0.table.shape, p0.prob("TG"), round(p0.entropy(), 6)
    ((4, 4), 0.5, 0.693147)
    """

    def __init__(self, table, alphabet: str | None = None):
        arr = np.asarray(table, dtype=np.float64)
        if arr.ndim < 1:
            raise ValueError(f"`table` must have at least one axis (got shape {arr.shape}).")
        if len(set(arr.shape)) != 1:
            raise ValueError(f"`table` must have shape (N,)*L, all axes equal (got {arr.shape}).")
        self.table = as_probability_table(arr, name="table")
        self.table.setflags(write=False)
        self.space = SequenceSpace(arr.shape[0], arr.ndim, alphabet=alphabet)

    # -- constructors -----------------------------------------------------------------
    @classmethod
    def from_array(cls, table, alphabet: str | None = None) -> "Distribution":
        """From an array of shape ``(N,)*L``."""
        return cls(table, alphabet=alphabet)

    @classmethod
    def from_dict(cls, probs: dict, alphabet: str | None = None) -> "Distribution":
        """From ``{sequence string: probability}``, the format of ``sequence_eval.json``.

        All keys must have the same length L. Without ``alphabet``, the letters that
        occur, sorted, are the alphabet. Missing sequences have probability 0.
        """
        if not probs:
            raise ValueError("`probs` must not be empty.")
        keys = list(probs)
        lengths = {len(k) for k in keys}
        if len(lengths) != 1:
            raise ValueError(f"all sequences must have the same length (got lengths {sorted(lengths)}).")
        if alphabet is None:
            alphabet = "".join(sorted(set("".join(keys))))
        space = SequenceSpace(len(alphabet), lengths.pop(), alphabet=alphabet)
        _check_table_memory(space, "a table")
        table = np.zeros(space.shape)
        for key, value in probs.items():
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise ValueError(f"the probability of {key!r} must be a number (got {value!r}).")
            table[space.encode(key)] += float(value)
        return cls(table, alphabet=alphabet)

    @classmethod
    def dirichlet(cls, N: int, L: int, alpha: float = 1.0, seed: int = 0,
                  zero_fraction: float = 0.0, alphabet: str | None = None) -> "Distribution":
        """A random table drawn from Dirichlet(alpha) on all N^L states (seeded).

        With ``zero_fraction > 0``, that fraction of the states (chosen at random,
        never all of them) is set to probability 0 and the rest renormalised.
        """
        if not 0.0 <= zero_fraction < 1.0:
            raise ValueError(f"`zero_fraction` must lie in [0, 1) (got {zero_fraction}).")
        space = SequenceSpace(N, L, alphabet=alphabet)
        _check_table_memory(space, "a Dirichlet table", copies=3)
        rng = np.random.default_rng(seed)
        p = rng.dirichlet(np.full(space.size, float(alpha)))
        n_zero = min(int(round(zero_fraction * space.size)), space.size - 1)
        if n_zero:
            p[rng.choice(space.size, size=n_zero, replace=False)] = 0.0
            p /= p.sum()
        return cls(p.reshape(space.shape), alphabet=alphabet)

    @classmethod
    def paper_toy(cls, K: int = 128, L: int = 8, alphabet: str = "ATGC", tau: float = 0.5,
                  seed: int = 0) -> "Distribution":
        """The paper's recipe (Fig. 1a): K distinct random sequences, weights softmax(U/τ).

        K sequences are drawn uniformly without replacement from V^L, and their
        probabilities are ``softmax(u / tau)`` with ``u ~ U[0, 1)^K``; everything is
        drawn from ``numpy.random.default_rng(seed)``.
        """
        space = SequenceSpace(len(alphabet), L, alphabet=alphabet)
        _check_table_memory(space, "the paper's toy table")
        if not 1 <= K <= space.size:
            raise ValueError(f"`K` must lie in [1, N^L={space.size}] (got {K}).")
        if tau <= 0:
            raise ValueError(f"`tau` must be positive (got {tau}).")
        rng = np.random.default_rng(seed)
        idx = rng.choice(space.size, size=K, replace=False)
        weights = softmax(rng.random(K) / tau)
        table = np.zeros(space.size)
        table[idx] = weights
        return cls(table.reshape(space.shape), alphabet=alphabet)

    @classmethod
    def empirical(cls, samples, N: int | None = None, L: int | None = None,
                  alphabet: str | None = None) -> "Distribution":
        """The empirical law of samples: strings, or an integer array of shape (n, L)."""
        samples = list(samples) if not isinstance(samples, np.ndarray) else samples
        if len(samples) == 0:
            raise ValueError("`samples` must not be empty.")
        if isinstance(samples[0], str):
            if alphabet is None:
                alphabet = "".join(sorted(set("".join(samples))))
            space = SequenceSpace(len(alphabet), len(samples[0]), alphabet=alphabet)
            tokens = np.array([space.encode(s) for s in samples])
        else:
            tokens = np.asarray(samples)
            if tokens.ndim != 2:
                raise ValueError(f"`samples` must have shape (n, L) (got {tokens.shape}).")
            N = int(tokens.max()) + 1 if N is None else N
            space = SequenceSpace(N, tokens.shape[1], alphabet=alphabet)
            if tokens.min() < 0 or tokens.max() >= N:
                raise ValueError(f"sample tokens must lie in 0..{N - 1}.")
        if L is not None and space.L != L:
            raise ValueError(f"samples have length {space.L}, not L={L}.")
        counts = np.bincount(np.ravel_multi_index(tokens.T, space.shape), minlength=space.size)
        return cls((counts / counts.sum()).reshape(space.shape), alphabet=space.alphabet)

    # -- basic properties -------------------------------------------------------------
    @property
    def N(self) -> int:
        return self.space.N

    @property
    def L(self) -> int:
        return self.space.L

    @property
    def alphabet(self):
        return self.space.alphabet

    def __repr__(self):
        return f"Distribution(N={self.N}, L={self.L}, alphabet={self.alphabet!r}, support={self.support_size()})"

    def support_size(self) -> int:
        return int(np.count_nonzero(self.table))

    def support(self) -> tuple[np.ndarray, np.ndarray]:
        """The sequences of positive probability and their probabilities: an integer
        array (K, L) in C order of the table, and a float array (K,).

        Examples
        --------
        >>> import numpy as np
        >>> points, probs = Distribution(np.array([[0.5, 0.0], [0.25, 0.25]])).support()
        >>> points.tolist(), probs.tolist()
        ([[0, 0], [1, 0], [1, 1]], [0.5, 0.25, 0.25])
        """
        points = np.argwhere(self.table > 0)
        return points, self.table[tuple(points.T)]

    def prob(self, x) -> float:
        return float(self.table[self.space.encode(x)])

    def nll(self, x) -> float:
        """Exact −log p0(x) in nats. An impossible sequence (p0(x) = 0) gives ``inf``."""
        p = self.prob(x)
        return float("inf") if p == 0.0 else float(-np.log(p))

    def entropy(self) -> float:
        """H(p0) in nats, with 0·log 0 = 0."""
        return float(entr(self.table).sum())

    # -- sub-sequences and conditionals -------------------------------------------------
    def subsequence_table(self, positions) -> np.ndarray:
        """The law of the sub-sequence x^U at ``positions`` U, as a table over those
        positions (kept in the given order): p0 summed over the other positions."""
        pos = list(validate_positions(positions, self.L))
        others = tuple(i for i in range(self.L) if i not in pos)
        m = self.table.sum(axis=others) if others else self.table
        kept = sorted(pos)
        return np.transpose(m, [kept.index(i) for i in pos]) if pos else np.asarray(m)

    def conditional(self, x, i: int, visible) -> np.ndarray:
        """p0(x^i = · | x^U) for the visible positions U, as a vector of length N.

        The values at the visible positions are read from ``x`` (a string or token
        tuple; other positions of ``x`` are ignored). Raises ``ValueError`` when
        p0(x^U) = 0, where the conditional is undefined (naming the context), and when
        ``i`` is in ``visible``.
        """
        U = list(validate_positions(visible, self.L, "visible"))
        (i,) = validate_positions([i], self.L, "i")
        if i in U:
            raise ValueError(f"`i`={i} is in `visible`: the conditional of a visible position is undefined here.")
        x = self.space.encode(x)  # validates the length and every token
        joint = self.subsequence_table(U + [i])[tuple(x[j] for j in U)]
        total = joint.sum()
        if total == 0.0:
            context = ", ".join(f"x^{j}={show_tokens([x[j]], self.alphabet)}" for j in U)
            raise ValueError(f"the context ({context}) has probability 0 under p0: p0(x^i | x^U) is undefined.")
        return joint / total

    def sample(self, n: int, rng) -> np.ndarray:
        """``n`` sequences drawn from p0 with ``rng`` (a ``numpy.random.Generator`` or a
        seed), as an integer array of shape (n, L)."""
        rng = validate_rng(rng)
        flat = rng.choice(self.space.size, size=int(n), p=self.table.ravel())
        return np.stack(np.unravel_index(flat, self.space.shape), axis=1)


def _check_table_memory(space, what, copies=2):
    """Refuse, before allocating, a table of N^L float64 values that will not fit."""
    memory.refuse(copies * 8 * space.size, f"{what} over N^L = {space.N}^{space.L} states")
