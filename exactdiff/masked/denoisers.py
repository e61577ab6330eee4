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
- :class:`OracleDenoiser` — the optimal c*(x)_{i,v} = p0(v | x^{UM}) of a
  :class:`~exactdiff.Distribution` (a table over every pattern) or of a
  :class:`~exactdiff.MarkovChain` (forward–backward per query, any length).
- :class:`EmpiricalDenoiser` — the oracle of the smoothed empirical law of samples.
- :class:`MarkovDenoiser` — the oracle of a k-th order chain fitted by counting
  transitions.
- :class:`CorruptedDenoiser` — a denoiser tempered and mixed with the uniform law.

Undefined queries: the oracle of a law is undefined on a pattern whose visible letters
have probability 0; it raises a ``ValueError`` naming that context, whatever the law.
"""

from __future__ import annotations

import numpy as np

from ..core.callables import call_user
from ..core.validation import SUM_ATOL, as_samples, as_table, as_token_array, validate_pseudo_count, show_masked
from ..markov import MarkovChain, fit_markov_chain
from .optimal import optimal_denoiser_table

__all__ = [
    "evaluate_denoiser",
    "TableDenoiser",
    "OracleDenoiser",
    "EmpiricalDenoiser",
    "MarkovDenoiser",
    "CorruptedDenoiser",
    "empirical_table",
]


def evaluate_denoiser(denoiser, x, N: int) -> np.ndarray:
    """Call ``denoiser`` on ``x`` (B, L) and validate its output (B, L, N).

    Raises ``ValueError`` for a wrong shape, negative or non-finite entries, or a
    masked row that does not sum to 1, naming the first offending row and position; an
    exception raised inside the user's denoiser becomes a one-line
    :class:`~exactdiff.core.callables.UserCodeError` naming it.
    """
    x = np.asarray(x, dtype=np.int64)
    if x.ndim != 2:
        raise ValueError(f"denoiser input must have shape (B, L) (got {x.shape}).")
    raw = call_user(denoiser, x, role="denoiser")
    try:
        out = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"the denoiser must return a float array of shape (B, L, N) = {x.shape + (N,)} "
                         f"(got {type(raw).__name__}).") from None
    expected = x.shape + (N,)
    if out.shape != expected:
        raise ValueError(f"denoiser output must have shape (B, L, N) = {expected} (got {out.shape}).")
    masked = x == N
    if masked.any():
        rows = np.where(masked[..., None], out, 0.5 / N)
        bad = ~np.isfinite(rows).all(axis=-1) | (rows < 0).any(axis=-1)
        if bad.any():
            b, i = np.argwhere(bad)[0]
            raise ValueError(f"denoiser output must be finite and non-negative at masked positions "
                             f"(row {b}, position {i}: {out[b, i].tolist()}).")
        sums = np.where(masked, out.sum(axis=-1), 1.0)
        off = np.abs(sums - 1.0)
        if off.max() > SUM_ATOL:
            b, i = np.unravel_index(np.argmax(off), off.shape)
            raise ValueError(f"denoiser rows at masked positions must sum to 1 "
                             f"(row {b}, position {i} sums to {sums[b, i]:.12g}).")
    return out


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

    def __repr__(self):
        return f"TableDenoiser(N={self.N}, L={self.L})"

    def __call__(self, x):
        x = as_token_array(x, self.N + 1, "x")
        if x.shape[1] != self.L:
            raise ValueError(f"`x` must have L={self.L} columns (got {x.shape[1]}).")
        return self.table[tuple(x.T)]


class OracleDenoiser:
    """The exact optimal denoiser c*(x)_{i,v} = p0(v | x^{UM}) of a law p0.

    For a :class:`~exactdiff.Distribution` (or table of shape (N,)*L) the conditionals
    of every (N+1)^L noisy pattern are tabulated once
    (:func:`~exactdiff.masked.optimal.optimal_denoiser_table`). For a
    :class:`~exactdiff.MarkovChain`, whose table over V^L cannot be stored for L = 32,
    each query row is answered by forward–backward
    (:meth:`MarkovChain.posteriors <exactdiff.MarkovChain.posteriors>`), for any length L.

    Raises ``ValueError`` on a query whose visible letters have probability 0 under
    p0, where the conditional is undefined.

    Attributes
    ----------
    p0 : Distribution, ndarray or MarkovChain
        The law (a table is kept as a float64 array).
    table : ndarray or None
        The tabulated c*(x)_{i,v} of every noisy pattern, shape (N+1,)*L + (L, N)
        (``nan`` on undefined patterns); None for a chain.
    N : int
    L : int or None
        The length of a table's sequences (None for a chain: any length).

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

    def __init__(self, p0):
        if isinstance(p0, MarkovChain):
            self.p0, self.N, self.L, self.alphabet, self._table, self.table = p0, p0.N, None, p0.alphabet, None, None
            return
        table = as_table(p0)
        self.p0, self.N, self.L = table, table.shape[0], table.ndim
        self.alphabet = getattr(p0, "alphabet", None)
        self._table = TableDenoiser(optimal_denoiser_table(table))
        self.table = self._table.table

    def __repr__(self):
        length = "any L" if self.L is None else f"L={self.L}"
        return f"{type(self).__name__}(N={self.N}, {length})"

    def __call__(self, x):
        if self._table is None:
            return self.p0.posteriors(x)
        x = as_token_array(x, self.N + 1, "x")
        out = self._table(x)
        undefined = np.isnan(out).any(axis=-1) & (x == self.N)
        if undefined.any():
            b = int(np.argmax(undefined.any(axis=1)))
            raise ValueError(f"the context {show_masked(x[b], self.N, self.alphabet)} of query row {b} "
                             f"(_ = masked) has probability 0 under p0: p0(x^i | x^U) is undefined.")
        return out


# -- fitted denoisers ---------------------------------------------------------------------------
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
    samples, N = as_samples(samples, N)
    L = samples.shape[1]
    alpha = empirical_pseudo_count(alpha, N, L)
    counts = np.bincount(np.ravel_multi_index(samples.T, (N,) * L), minlength=N**L).astype(np.float64)
    return ((counts + alpha) / (counts.sum() + alpha * N**L)).reshape((N,) * L)


def empirical_pseudo_count(alpha, N, L):
    """α of :func:`empirical_table`: ``alpha`` checked, or the default 1/N^L (one
    pseudo-observation spread uniformly over V^L)."""
    return validate_pseudo_count(alpha, float(N) ** -L)


class EmpiricalDenoiser(OracleDenoiser):
    """The denoiser fitted from samples: the oracle of the smoothed empirical law.

    Over tabular denoisers — one free law c(x)_{i,·} per noisy pattern x and masked
    position i — the DCE loss averaged over samples and masks,
    Σ_s E_{x|x0_s} ℓ_DCE(x0_s, x, c), is a sum of cross-entropies, one per (x, i), and
    is minimised exactly by the empirical conditional p̂_emp(v | x^{UM}), at every
    masking level λ. It is undefined on patterns whose visible letters no sample shows;
    smoothing makes it defined everywhere: with α pseudo-counts added to every sequence
    of V^L, the denoiser is the oracle of the smoothed law p̂ = :func:`empirical_table`,
    i.e. the exact DCE minimiser for the samples plus α copies of every sequence. Its
    exact NLL is −log p̂(x0), the value every unbiased estimator with this denoiser
    converges to.

    Parameters
    ----------
    samples : int array, shape (n, L)
    N : int, optional
    alpha : float, optional
        Pseudo-count per sequence; default 1/N^L (one pseudo-observation in all).
        With α = 0, a query whose visible letters no sample shows raises ``ValueError``.

    Attributes
    ----------
    p_hat : ndarray, shape (N,)*L
        The smoothed empirical law.
    """

    def __init__(self, samples, N: int | None = None, alpha: float | None = None):
        samples, N = as_samples(samples, N)
        self.alpha = empirical_pseudo_count(alpha, N, samples.shape[1])
        self.n_samples = samples.shape[0]
        self.p_hat = empirical_table(samples, N, self.alpha)
        super().__init__(self.p_hat)


class MarkovDenoiser(OracleDenoiser):
    """The oracle of a k-th order chain fitted to data
    (:func:`~exactdiff.markov.fit_markov_chain`).

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
        The fitted chain (also ``p0``).
    """

    def __init__(self, sequences, N: int, order: int, alpha: float | None = None,
                 alphabet: str | None = None):
        self.alpha = validate_pseudo_count(alpha, 1.0 / N)
        self.chain = fit_markov_chain(sequences, N, order, self.alpha, alphabet)
        super().__init__(self.chain)


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
    epsilon : float in [0, 1]
    temperature : float > 0
    N : int
        Vocabulary size (default ``base.N``).
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

    def __repr__(self):
        return f"CorruptedDenoiser({self.base!r}, epsilon={self.epsilon:g}, temperature={self.temperature:g})"

    def __call__(self, x):
        x = np.asarray(x, dtype=np.int64)
        c = evaluate_denoiser(self.base, x, self.N)
        if self.temperature != 1.0:
            c = c ** (1.0 / self.temperature)
            s = c.sum(axis=-1, keepdims=True)
            c = np.divide(c, s, out=np.full_like(c, 1.0 / self.N), where=s > 0)
        return (1.0 - self.epsilon) * c + self.epsilon / self.N
