"""The denoiser protocol and built-in denoisers.

A denoiser is any callable ``c(x)`` that maps an integer array of shape (B, L) — noisy
sequences whose mask id is N — to probabilities of shape (B, L, N): what a RADD or MDLM
network returns after a softmax. Only the rows at masked positions are used; each must
be non-negative and sum to 1. :func:`evaluate_denoiser` checks every output.

A torch model plugs in through a small wrapper (torch is not a dependency)::

    def torch_denoiser(model, device="cpu"):
        import torch

        @torch.no_grad()
        def c(x):
            logits = model(torch.as_tensor(x, device=device))        # (B, L, N)
            return torch.softmax(logits.double(), -1).cpu().numpy()
        return c

Built-in denoisers:

- :class:`TableDenoiser` — any table c[x][i, v] over every noisy pattern.
- :class:`OracleDenoiser` — the optimal c*(x)_{i,v} = p0(v | x^{UM}): from a table for a
  :class:`~exactdiff.Distribution`, or row by row by forward–backward
  (:class:`ChainDenoiser`) for a :class:`~exactdiff.MarkovChain`.
- :class:`EmpiricalDenoiser` — the oracle of the smoothed empirical law of samples.
- :class:`MarkovDenoiser` — the oracle of a k-th order chain fitted by counting
  transitions.
- :class:`CorruptedDenoiser` — a denoiser tempered and mixed with the uniform law.
"""

from __future__ import annotations

import numpy as np

from ._validation import SUM_ATOL, as_table
from .markov import MarkovChain, _letter_indicators

__all__ = [
    "evaluate_denoiser",
    "TableDenoiser",
    "OracleDenoiser",
    "ChainDenoiser",
    "EmpiricalDenoiser",
    "MarkovDenoiser",
    "CorruptedDenoiser",
    "chain_posteriors",
    "empirical_table",
    "count_transitions",
    "fit_markov_chain",
]


def evaluate_denoiser(denoiser, x, N: int) -> np.ndarray:
    """Call ``denoiser`` on ``x`` (B, L) and validate its output (B, L, N).

    Raises ``ValueError`` for a wrong shape, negative or non-finite entries, or a
    masked row that does not sum to 1.
    """
    x = np.asarray(x, dtype=np.int64)
    if x.ndim != 2:
        raise ValueError(f"denoiser input must have shape (B, L) (got {x.shape}).")
    out = np.asarray(denoiser(x), dtype=np.float64)
    expected = x.shape + (N,)
    if out.shape != expected:
        raise ValueError(f"denoiser output must have shape (B, L, N) = {expected} (got {out.shape}).")
    masked = x == N
    rows = out[masked]
    if rows.size:
        if not np.all(np.isfinite(rows)) or np.any(rows < 0):
            raise ValueError("denoiser output must be finite and non-negative at masked positions.")
        sums = rows.sum(axis=-1)
        j = int(np.argmax(np.abs(sums - 1.0)))
        if abs(sums[j] - 1.0) > SUM_ATOL:
            raise ValueError(f"denoiser rows at masked positions must sum to 1 (one sums to {sums[j]:.12g}).")
    return out


def _check_queries(x, N: int, L: int | None = None) -> np.ndarray:
    """``x`` as an int64 array (B, L) with entries in 0..N (N = mask)."""
    x = np.asarray(x)
    if x.ndim != 2 or (x.size and not np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"`x` must be an integer array of shape (B, L) (got dtype {x.dtype}, shape {x.shape}).")
    if L is not None and x.shape[1] != L:
        raise ValueError(f"`x` must have L={L} columns (got {x.shape[1]}).")
    if x.size and (x.min() < 0 or x.max() > N):
        raise ValueError(f"`x` must hold tokens 0..{N - 1} or the mask id {N} (got values in {x.min()}..{x.max()}).")
    return x.astype(np.int64, copy=False)


# -- tables ---------------------------------------------------------------------------------------
class TableDenoiser:
    """A denoiser given as a table c[x][i, v] of shape (N+1,)*L + (L, N)."""

    def __init__(self, table):
        table = np.asarray(table, dtype=np.float64)
        L = table.ndim - 2
        if L < 1 or table.shape[-2] != L or table.shape[:L] != (table.shape[0],) * L or table.shape[-1] != table.shape[0] - 1:
            raise ValueError(f"a denoiser table must have shape (N+1,)*L + (L, N) (got {table.shape}).")
        self.table = table
        self.N = table.shape[-1]
        self.L = L

    def __call__(self, x):
        x = np.asarray(x, dtype=np.int64)
        return self.table[tuple(x.T)]


class OracleDenoiser(TableDenoiser):
    """The exact optimal denoiser c*(x)_{i,v} = p0(v | x^{UM}) of a distribution.

    For a :class:`~exactdiff.Distribution` (or table of shape (N,)*L) the oracle is the
    table of every (N+1)^L noisy pattern (:func:`~exactdiff.optimal_denoiser_table`).
    For a :class:`~exactdiff.MarkovChain`, whose table over V^L cannot be stored for
    L = 32, ``OracleDenoiser(chain)`` returns a :class:`ChainDenoiser`, which computes
    the conditionals of each query row by forward–backward, for any length L.

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> chain = ed.MarkovChain(np.array([[0.9, 0.1], [0.2, 0.8]]))
    >>> x = np.array([[0, 2, 1, 2]])                       # 2 = mask
    >>> a = ed.OracleDenoiser(chain)(x)
    >>> b = ed.OracleDenoiser(chain.to_distribution(4))(x)
    >>> bool(np.allclose(a[x == 2], b[x == 2], rtol=1e-13, atol=0))
    True
    """

    def __new__(cls, p0, *args, **kwargs):
        if cls is OracleDenoiser and isinstance(p0, MarkovChain):
            return ChainDenoiser(p0)
        return super().__new__(cls)

    def __init__(self, p0):
        from .masked import optimal_denoiser_table

        self.p0 = as_table(p0)
        super().__init__(optimal_denoiser_table(self.p0))


# -- Markov chains by forward–backward ----------------------------------------------------------
def _chain_posteriors(T3, init, ind, tokens, visible) -> np.ndarray:
    """p(x^j = v | the visible letters of row b) for every row, position j and letter v.

    ``tokens`` and ``visible`` have shape (b, Lw) with Lw ≥ k; the letter of a hidden
    position is ignored. Returns (b, Lw, N): the posterior at hidden positions, the
    one-hot of the letter at visible ones, and the uniform row where the visible
    letters have probability 0.

    Forward messages α_j(c) ∝ p(context c ending at j, visible letters ≤ j), backward
    messages β_j(c) ∝ p(visible letters > j | context c at j), both rescaled to sum 1 per
    row at every step; the posterior of the letter at j ≥ k − 1 is Σ_{c: c_k = v} α_j β_j
    (at j < k − 1, the letter j + 1 of the context at k − 1). Steps are products with
    the k-th order transition tensor batched over the k − 1 shared letters. Positions
    before the first column with a hidden letter in some row, or after the last, need
    no posterior; the leading and trailing columns on which every row agrees are
    propagated once for the whole batch.
    """
    b, Lw = tokens.shape
    N, R, _ = T3.shape
    k, S = ind.shape[0], N * R
    T3r = np.ascontiguousarray(T3.transpose(1, 0, 2))    # (R, a, v): forward
    T3rt = np.ascontiguousarray(T3.transpose(1, 2, 0))   # (R, v, a): backward
    allowed = ~visible[:, :, None] | (tokens[:, :, None] == np.arange(N))  # (b, Lw, N) emissions
    base = np.where(allowed, 1.0, 0.0) / allowed.sum(axis=2, keepdims=True)  # one-hot or uniform
    out = base.copy()
    hidden_cols = np.flatnonzero(~visible.all(axis=0))
    if hidden_cols.size == 0:
        return out
    lo, hi = max(int(hidden_cols[0]), k - 1), max(int(hidden_cols[-1]), k - 1)
    same = np.all(allowed == allowed[:1], axis=(0, 2))
    prefix = int(np.argmin(same)) if not same.all() else Lw  # columns 0..prefix-1 agree
    suffix = int(np.argmin(same[::-1])) if not same.all() else Lw

    def normalise(A):
        s = A.sum(axis=1, keepdims=True)
        np.divide(A, s, out=A, where=s > 0)
        return A

    def forward(F):
        F3 = F.reshape(F.shape[0], N, R).transpose(2, 0, 1)   # (R, rows, a)
        return np.matmul(F3, T3r).transpose(1, 0, 2).reshape(F.shape[0], S)

    def backward(B):
        B3 = B.reshape(B.shape[0], R, N).transpose(1, 0, 2)   # (R, rows, v)
        return np.matmul(B3, T3rt).transpose(1, 2, 0).reshape(B.shape[0], S)

    def emit(A, rows, j):  # multiply by 1[letter at j allowed] on the last letter of c
        return (A.reshape(A.shape[0], R, N) * allowed[rows, j][:, None, :]).reshape(A.shape[0], S)

    # Forward: one shared row while every row agrees, then all rows.
    shared = prefix >= k
    rows = slice(0, 1) if shared else slice(None)
    F = np.broadcast_to(init, (1 if shared else b, S)).copy()
    for o in range(k):
        F = (F.reshape(F.shape[0], N**o, N, N ** (k - 1 - o)) * allowed[rows, o][:, None, :, None]).reshape(F.shape[0], S)
    F = normalise(F)
    alphas = {}
    for j in range(k - 1, hi + 1):
        if j > k - 1:
            if F.shape[0] == 1 and j >= prefix:
                F = np.repeat(F, b, axis=0)
            rows = slice(0, 1) if F.shape[0] == 1 else slice(None)
            F = normalise(emit(forward(F), rows, j))
        if j >= lo:
            alphas[j] = F
    # Backward, combining with the forward messages.
    B = np.ones((1, S))
    for j in range(Lw - 1, lo - 1, -1):
        if j <= hi:
            G = normalise(np.broadcast_to(alphas.pop(j) * B, (b, S)).copy())
            if j > k - 1:
                out[:, j] = G.reshape(b, R, N).sum(axis=1)
            else:
                for o in range(k):
                    out[:, o] = G.reshape(b, N**o, N, N ** (k - 1 - o)).sum(axis=(1, 3))
        if j > lo:
            if B.shape[0] == 1 and j < Lw - suffix:
                B = np.repeat(B, b, axis=0)
            rows = slice(0, 1) if B.shape[0] == 1 else slice(None)
            B = normalise(backward(emit(B, rows, j)))
    dead = out.sum(axis=2) == 0  # visible letters of probability 0: uniform rows (one-hot if visible)
    out[dead] = base[dead]
    return out


#: Rows per forward–backward chunk in :func:`chain_posteriors`.
_CHAIN_CHUNK = 512


def chain_posteriors(chain: MarkovChain, x) -> np.ndarray:
    """The optimal denoiser of a k-th order chain on query rows: p0(x^i = v | x^{UM_b}).

    Parameters
    ----------
    chain : MarkovChain
    x : int array, shape (B, L)
        Noisy sequences of any length L; the mask id is ``chain.N``. Row b's visible
        set UM_b is the positions that are not masked; the positions masked are summed
        out.

    Returns
    -------
    ndarray, shape (B, L, N)
        The exact conditional law of every masked letter given the visible letters of
        its row (forward–backward on the context chain, O(B · L · N^{k+1}) work); the
        one-hot of the letter at visible positions. Where the visible letters have
        probability 0 the conditional is undefined and the row is uniform (as in
        :func:`~exactdiff.optimal_denoiser_table`).
    """
    if not isinstance(chain, MarkovChain):
        raise ValueError(f"`chain` must be a MarkovChain (got {type(chain).__name__}).")
    N, k = chain.N, chain.order
    x = _check_queries(x, N)
    B, L = x.shape
    Lw = max(L, k)
    tokens = np.zeros((B, Lw), dtype=np.int64)
    visible = np.zeros((B, Lw), dtype=bool)  # positions L..k-1 (L < k) are summed out
    tokens[:, :L] = np.where(x == N, 0, x)
    visible[:, :L] = x != N
    T3 = chain.transitions.reshape(N, N ** (k - 1), N)
    init, ind = chain.initial.ravel(), _letter_indicators(N, k)
    out = np.empty((B, Lw, N))
    for start in range(0, B, _CHAIN_CHUNK):
        sl = slice(start, start + _CHAIN_CHUNK)
        out[sl] = _chain_posteriors(T3, init, ind, tokens[sl], visible[sl])
    return out[:, :L]


class ChainDenoiser:
    """The optimal denoiser of a :class:`~exactdiff.MarkovChain`, row by row.

    ``ChainDenoiser(chain)(x)`` is :func:`chain_posteriors`: for each query row the exact
    p0(v | x^{UM}) by forward–backward, for sequences of any length. No table over
    (N+1)^L patterns is built, so L = 32 (the paper's Fig. 1b) is cheap.
    """

    def __init__(self, chain: MarkovChain):
        if not isinstance(chain, MarkovChain):
            raise ValueError(f"`chain` must be a MarkovChain (got {type(chain).__name__}).")
        self.chain = chain
        self.N = chain.N
        self.L = None  # any length

    def __call__(self, x):
        return chain_posteriors(self.chain, x)


# -- fitted denoisers ---------------------------------------------------------------------------
def _check_samples(samples, N, name="samples", ndim=(2,)):
    arr = np.asarray(samples)
    if arr.ndim not in ndim or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"`{name}` must be a non-empty integer array with {' or '.join(map(str, ndim))} axes (got dtype {arr.dtype}, shape {arr.shape}).")
    N = int(arr.max()) + 1 if N is None else int(N)
    if arr.min() < 0 or arr.max() >= N:
        raise ValueError(f"`{name}` must hold tokens in 0..{N - 1} (got values in {arr.min()}..{arr.max()}).")
    return arr.astype(np.int64, copy=False), N


def _check_alpha(alpha, default):
    alpha = default if alpha is None else float(alpha)
    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"`alpha` must be a finite pseudo-count >= 0 (got {alpha}).")
    return alpha


def empirical_table(samples, N: int | None = None, alpha: float | None = None) -> np.ndarray:
    """The smoothed empirical law p̂(x) = (n(x) + α) / (n + α N^L), shape (N,)*L.

    Parameters
    ----------
    samples : int array, shape (n, L)
    N : int, optional
        Vocabulary size (default: the largest token + 1).
    alpha : float, optional
        Additive pseudo-count per sequence of V^L. The default, 1/N^L, is a single
        pseudo-observation spread uniformly over V^L; α = 0 gives the raw empirical law.
    """
    samples, N = _check_samples(samples, N)
    L = samples.shape[1]
    alpha = _check_alpha(alpha, float(N) ** -L)
    counts = np.bincount(np.ravel_multi_index(samples.T, (N,) * L), minlength=N**L).astype(np.float64)
    return ((counts + alpha) / (counts.sum() + alpha * N**L)).reshape((N,) * L)


class EmpiricalDenoiser(TableDenoiser):
    """The denoiser fitted from samples: the smoothed empirical conditional.

    Over tabular denoisers — one free law c(x)_{i,·} per noisy pattern x and masked
    position i — the DCE loss averaged over samples and masks,
    Σ_s E_{x|x0_s} ℓ_DCE(x0_s, x, c), is a sum of cross-entropies, one per (x, i), and
    is minimised exactly by the empirical conditional p̂_emp(v | x^{UM}): this denoiser,
    at every masking level λ. It is undefined on patterns whose visible letters no
    sample shows; smoothing makes it defined everywhere: with α pseudo-counts added to
    every sequence of V^L, the denoiser is the oracle (:class:`OracleDenoiser`) of the
    smoothed law p̂ = :func:`empirical_table`, i.e. the exact DCE minimiser for the
    samples plus α copies of every sequence. Its exact NLL is −log p̂(x0), the value
    every unbiased estimator with this denoiser converges to.

    Parameters
    ----------
    samples : int array, shape (n, L)
    N : int, optional
    alpha : float, optional
        Pseudo-count per sequence; default 1/N^L (one pseudo-observation in all).
        With α = 0 unseen visible patterns get uniform rows (their weight is zero).

    Attributes
    ----------
    p_hat : ndarray, shape (N,)*L
        The smoothed empirical law.
    """

    def __init__(self, samples, N: int | None = None, alpha: float | None = None):
        from .masked import optimal_denoiser_table

        samples, N = _check_samples(samples, N)
        self.alpha = _check_alpha(alpha, float(N) ** -samples.shape[1])
        self.n_samples = samples.shape[0]
        self.p_hat = empirical_table(samples, N, self.alpha)
        super().__init__(optimal_denoiser_table(self.p_hat))


def count_transitions(sequences, N: int, order: int) -> np.ndarray:
    """Counts n(c, v) of each k-letter context c followed by letter v, shape (N,)*(k+1).

    ``sequences`` is one long sequence (1-d) or several (2-d, counted row by row; no
    transition spans two rows).
    """
    seqs, N = _check_samples(sequences, N, "sequences", ndim=(1, 2))
    k = int(order)
    if k < 1 or k != order:
        raise ValueError(f"`order` must be a positive integer (got {order!r}).")
    seqs = np.atleast_2d(seqs)
    if seqs.shape[1] <= k:
        raise ValueError(f"`sequences` must be longer than `order`={k} (got length {seqs.shape[1]}).")
    code = np.zeros((seqs.shape[0], seqs.shape[1] - k), dtype=np.int64)
    for o in range(k + 1):
        code = code * N + seqs[:, o: seqs.shape[1] - k + o]
    return np.bincount(code.ravel(), minlength=N ** (k + 1)).reshape((N,) * (k + 1)).astype(np.float64)


def fit_markov_chain(sequences, N: int, order: int, alpha: float | None = None,
                     alphabet: str | None = None) -> MarkovChain:
    """A k-th order chain fitted by counting transitions, with additive smoothing.

    .. math:: \\hat P(v \\mid c) = \\frac{n(c, v) + \\alpha}{n(c) + N\\alpha}

    where n(c, v) counts context c followed by v (:func:`count_transitions`) and
    n(c) = Σ_v n(c, v). The default α = 1/N is one pseudo-observation per context,
    spread uniformly over the letters; with α = 0 an unseen context gets the uniform
    row. α = 0 is the maximum-likelihood fit. The initial law of the first k letters is
    the fitted chain's stationary law (unique when α > 0).
    """
    counts = count_transitions(sequences, N, order)
    alpha = _check_alpha(alpha, 1.0 / N)
    num = counts + alpha
    den = num.sum(axis=-1, keepdims=True)
    T = np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0 / N)
    return MarkovChain(T, alphabet=alphabet)


class MarkovDenoiser(ChainDenoiser):
    """The oracle of a k-th order chain fitted to data (:func:`fit_markov_chain`).

    Its conditionals are those of the fitted chain, by forward–backward, so its exact
    NLL (infinitely many draws of any unbiased estimator) is the fitted chain's
    −log p̂(x), and −log p̂(x^T | x^C) for the conditional estimators.

    Parameters
    ----------
    sequences : int array, shape (n,) or (rows, n)
        One long sequence, or several counted row by row.
    N, order : int
    alpha : float, optional
        Pseudo-count per (context, letter); default 1/N.

    Attributes
    ----------
    chain : MarkovChain
        The fitted chain.
    """

    def __init__(self, sequences, N: int, order: int, alpha: float | None = None,
                 alphabet: str | None = None):
        self.alpha = _check_alpha(alpha, 1.0 / N)
        super().__init__(fit_markov_chain(sequences, N, order, self.alpha, alphabet))


# -- corrupted denoisers --------------------------------------------------------------------------
class CorruptedDenoiser:
    """A denoiser tempered by a temperature T and mixed with the uniform law:

    .. math:: c'(x)_{i,v} = (1 - \\varepsilon)\\, \\frac{c(x)_{i,v}^{1/T}}{\\sum_u c(x)_{i,u}^{1/T}}
                            + \\frac{\\varepsilon}{N}

    ε = 0 and T = 1 give ``base`` back. T > 1 flattens, T < 1 sharpens; ε > 0 makes every
    probability at least ε/N, so the DCE loss is finite everywhere.

    Parameters
    ----------
    base : denoiser
    N : int
        Vocabulary size (default ``base.N``).
    epsilon : float in [0, 1]
    temperature : float > 0
    """

    def __init__(self, base, epsilon: float = 0.0, temperature: float = 1.0, N: int | None = None):
        N = getattr(base, "N", None) if N is None else N
        if N is None:
            raise ValueError("`N` is required when `base` has no attribute N.")
        if not 0.0 <= float(epsilon) <= 1.0:
            raise ValueError(f"`epsilon` must lie in [0, 1] (got {epsilon}).")
        if not float(temperature) > 0 or not np.isfinite(temperature):
            raise ValueError(f"`temperature` must be a finite number > 0 (got {temperature}).")
        self.base, self.N = base, int(N)
        self.epsilon, self.temperature = float(epsilon), float(temperature)
        self.L = getattr(base, "L", None)

    def __call__(self, x):
        x = np.asarray(x, dtype=np.int64)
        c = evaluate_denoiser(self.base, x, self.N)
        if self.temperature != 1.0:
            c = c ** (1.0 / self.temperature)
            s = c.sum(axis=-1, keepdims=True)
            c = np.divide(c, s, out=np.full_like(c, 1.0 / self.N), where=s > 0)
        return (1.0 - self.epsilon) * c + self.epsilon / self.N
