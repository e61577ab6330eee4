"""Fitting a k-th order Markov chain to data by counting transitions."""

from __future__ import annotations

import numpy as np

from ..core.validation import as_samples, validate_count, validate_pseudo_count
from .chain import MarkovChain

__all__ = ["count_transitions", "fit_markov_chain"]


def count_transitions(sequences, N: int, order: int) -> np.ndarray:
    """Counts n(c, v) of each k-letter context c followed by letter v, shape (N,)*(k+1).

    ``sequences`` is one long sequence (1-d) or several (2-d, counted row by row; no
    transition spans two rows).
    """
    seqs, N = as_samples(sequences, N, "sequences", ndim=(1, 2))
    k = validate_count(order, "order")
    seqs = np.atleast_2d(seqs)
    if seqs.shape[1] <= k:
        raise ValueError(f"`sequences` must be longer than `order`={k} (got length {seqs.shape[1]}).")
    code = np.zeros((seqs.shape[0], seqs.shape[1] - k), dtype=np.int64)
    for o in range(k + 1):
        code = code * N + seqs[:, o: seqs.shape[1] - k + o]
    return np.bincount(code.ravel(), minlength=N ** (k + 1)).reshape((N,) * (k + 1)).astype(np.float64)


def fit_markov_chain(sequences, N: int, order: int, alpha: float | None = None,
                     alphabet: str | None = None, initial=None) -> MarkovChain:
    """A k-th order chain fitted by counting transitions, with additive smoothing.

    .. math:: \\hat P(v \\mid c) = \\frac{n(c, v) + \\alpha}{n(c) + N\\alpha}

    where n(c, v) counts context c followed by v (:func:`count_transitions`) and
    n(c) = Σ_v n(c, v). The default α = 1/N is one pseudo-observation per context,
    spread uniformly over the letters; with α = 0 an unseen context gets the uniform
    row. α = 0 is the maximum-likelihood fit. The initial law of the first k letters is
    ``initial`` if given, else the fitted chain's stationary law (unique when α > 0).
    """
    counts = count_transitions(sequences, N, order)
    N = counts.shape[0]
    alpha = validate_pseudo_count(alpha, 1.0 / N)
    num = counts + alpha
    den = num.sum(axis=-1, keepdims=True)
    T = np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0 / N)
    return MarkovChain(T, initial=initial, alphabet=alphabet)
