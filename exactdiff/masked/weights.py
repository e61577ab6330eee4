"""The weights of the time-free formulas: one home for H_n and B(n − m, m + 1).

Theorem 4.1 (and Corollary 4.3 with n = |T|) averages over unmasked sets U ⊊ [n] with

.. math:: p(U) = \\frac{B(n - |U|, |U| + 1)}{H_n}, \\qquad
          B(n - m, m + 1) = \\frac{1}{(n - m)\\binom{n}{m}}, \\qquad H_n = \\sum_{j=1}^{n} \\frac{1}{j},

so H_n · p(U) = B(n − |U|, |U| + 1) is the weight of one set and
P(|U| = m) = C(n, m) B(n − m, m + 1) / H_n = 1 / ((n − m) H_n), m = 0..n−1 (U = ∅, the fully
masked sequence, included). The same Beta integral is ∫_0^1 λ^{a−1}(1 − λ)^{n−a} dλ with
a = n − m masked tokens: the weight of a mask in the time-integrated DCE (Corollary 3.7).

Every function can return exact rationals (``exact=True``, :class:`fractions.Fraction`),
which the symbolic proofs and the exact estimator moments use.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ..core.validation import validate_count

__all__ = ["harmonic_number", "subset_weight", "time_free_weights", "unmasked_size_law"]


def harmonic_number(n: int, *, exact: bool = False):
    """H_n = Σ_{j=1}^{n} 1/j (H_0 = 0).

    Examples
    --------
    >>> harmonic_number(3, exact=True)
    Fraction(11, 6)
    """
    n = validate_count(n, "n", 0)
    value = sum((Fraction(1, j) for j in range(1, n + 1)), Fraction(0))
    return value if exact else float(value)


def subset_weight(n: int, size, *, exact: bool = False):
    """H_n · p(U) = B(n − m, m + 1) = 1 / ((n − m) · C(n, m)) for an unmasked set of
    ``size`` m among n positions, 0 ≤ m < n (an int, or an array of sizes).

    Examples
    --------
    >>> subset_weight(3, 1, exact=True)
    Fraction(1, 6)
    """
    n = validate_count(n, "n")
    sizes = np.asarray(size)
    if sizes.size and (not np.issubdtype(sizes.dtype, np.integer) or sizes.min() < 0 or sizes.max() >= n):
        raise ValueError(f"`size` must hold integers in 0..{n - 1} (got {size!r}).")
    if exact:
        if sizes.ndim:
            raise ValueError("`exact=True` takes a single `size`.")
        m = int(sizes)
        return Fraction(1, (n - m) * math.comb(n, m))
    out = np.array([1.0 / ((n - int(m)) * math.comb(n, int(m))) for m in sizes.ravel()]).reshape(sizes.shape)
    return float(out) if out.ndim == 0 else out


def time_free_weights(L: int) -> np.ndarray:
    """H_L·p(U) = B(L − |U|, |U| + 1) for |U| = 0..L−1 (the weight of one unmasked set)."""
    return subset_weight(L, np.arange(validate_count(L, "L")))


def unmasked_size_law(L: int) -> np.ndarray:
    """P(|U| = k) = C(L, k)·B(L − k, k + 1) / H_L for k = 0..L−1 (equal to 1/((L − k) H_L))."""
    L = validate_count(L, "L")
    k = np.arange(L)
    return np.array([math.comb(L, int(j)) for j in k], dtype=float) * time_free_weights(L) / harmonic_number(L)
