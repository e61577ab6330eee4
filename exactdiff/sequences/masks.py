"""Masks over n positions and their two integer encodings — the one place where masks
are encoded and decoded.

- A **mask** is a boolean array of length n, True = masked.
- A **pattern index** p ∈ 0..2^n − 1 numbers the masks in the order of
  :func:`mask_patterns` (the order of every table over all masks: the exact moments of
  :mod:`exactdiff.masked`, the audits, the OOD tables): bit n−1−q of p is set ⇔ position
  q is masked, so the first position varies slowest.
- A **subset index** J ∈ 0..2^n − 1 numbers the *visible* sets, as the forward–backward
  passes of :mod:`exactdiff.markov` build them: bit q of J is set ⇔ position q is visible.

:func:`subset_of_pattern` maps one to the other, so ``table_over_J[subset_of_pattern(n)]``
is the same table in pattern order.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

from ..core.validation import validate_count

__all__ = ["mask_patterns", "pattern_sizes", "patterns_to_masks", "masks_to_patterns", "subset_sizes",
           "subset_of_pattern", "visible_sets", "MAX_MASK_BITS"]

#: The largest n for which a table over all 2^n masks is built.
MAX_MASK_BITS = 24


def _bits(n) -> int:
    n = validate_count(n, "n")
    if n > MAX_MASK_BITS:
        raise ValueError(f"`n`={n} would need a table over 2^{n} masks (at most 2^{MAX_MASK_BITS}).")
    return n


def mask_patterns(n: int) -> np.ndarray:
    """All 2^n masks as a boolean array (2^n, n), True = masked, row p the mask of
    pattern index p (the first position varies slowest).

    Examples
    --------
    >>> mask_patterns(2).astype(int).tolist()
    [[0, 0], [0, 1], [1, 0], [1, 1]]
    """
    return np.array(list(itertools.product([False, True], repeat=_bits(n))), dtype=bool).reshape(-1, n)


@functools.lru_cache(maxsize=32)
def subset_sizes(n: int) -> np.ndarray:
    """The number of set bits of every index 0..2^n − 1, shape (2^n,), read-only: |J| of
    a subset index, the number masked of a pattern index (:func:`pattern_sizes`)."""
    J = np.arange(2 ** _bits(n), dtype=np.uint32)
    out = np.unpackbits(J.view(np.uint8).reshape(-1, 4), axis=1).sum(axis=1).astype(np.int64)
    out.setflags(write=False)
    return out


def pattern_sizes(n: int) -> np.ndarray:
    """The number masked of every mask of :func:`mask_patterns` (n), shape (2^n,), read-only.

    Examples
    --------
    >>> pattern_sizes(2).tolist()
    [0, 1, 1, 2]
    """
    return subset_sizes(n)


def patterns_to_masks(patterns, n: int) -> np.ndarray:
    """Masks (…, n), True = masked, of pattern indices of any shape.

    Examples
    --------
    >>> patterns_to_masks([2, 3], 2).astype(int).tolist()
    [[1, 0], [1, 1]]
    """
    n = _bits(n)
    return ((np.asarray(patterns, dtype=np.int64)[..., None] >> np.arange(n - 1, -1, -1)) & 1).astype(bool)


def masks_to_patterns(masks) -> np.ndarray:
    """Pattern indices of boolean masks (…, n) (0/1 integers accepted).

    Examples
    --------
    >>> masks_to_patterns(patterns_to_masks(np.arange(8), 3)).tolist()
    [0, 1, 2, 3, 4, 5, 6, 7]
    """
    m = np.asarray(masks).astype(np.int64)
    n = _bits(m.shape[-1])
    return m @ (1 << np.arange(n - 1, -1, -1, dtype=np.int64))


@functools.lru_cache(maxsize=32)
def subset_of_pattern(n: int) -> np.ndarray:
    """The subset index J (bit q ⇔ position q visible) of every pattern index p (bit
    n−1−q ⇔ position q masked), shape (2^n,), read-only: ``table_over_J[subset_of_pattern(n)]``
    reorders a table over visible sets into pattern order.

    Examples
    --------
    >>> subset_of_pattern(2).tolist()     # p = 0 (nothing masked) is J = 3 (both visible)
    [3, 1, 2, 0]
    """
    n = _bits(n)
    p = np.arange(2**n, dtype=np.int64)
    J = np.zeros(2**n, dtype=np.int64)
    for q in range(n):
        J |= (1 - ((p >> (n - 1 - q)) & 1)) << q
    J.setflags(write=False)
    return J


def visible_sets(n: int) -> np.ndarray:
    """The visible sets of every subset index J = 0..2^n − 1 as a boolean array (2^n, n),
    True = visible (bit q of J ⇔ position q visible).

    Examples
    --------
    >>> visible_sets(2).astype(int).tolist()
    [[0, 0], [1, 0], [0, 1], [1, 1]]
    """
    n = _bits(n)
    return ((np.arange(2**n, dtype=np.int64)[:, None] >> np.arange(n)) & 1).astype(bool)
