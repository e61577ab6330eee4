"""Exact likelihood formulas of masked diffusion: the time-free NLL (Theorem 4.1), the
conditional NLL (Theorem 4.2, Corollary 4.3) and the coupled log-ratio (Eq. 18).

Each formula is a weighted sum over unmasked sets, evaluated here exactly by
enumerating every set. ``p0`` is a :class:`~exactdiff.Distribution` (or table), where the
conditionals come from marginal sums, or a :class:`~exactdiff.MarkovChain`, where they
come from forward–backward without enumerating V^L.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.special import beta

from ._validation import as_table
from .markov import MarkovChain
from .masked import _subset_log_marginals, harmonic_number
from .space import SequenceSpace

__all__ = [
    "time_free_nll",
    "conditional_nll",
    "exact_conditional_nll",
    "log_ratio_expectation",
    "subset_weight",
]


def subset_weight(n: int, size: int, harmonic=None) -> float:
    """H_n·p(U) = B(n − |U|, |U| + 1) for an unmasked set of ``size`` among n positions.

    ``harmonic`` replaces H_n in p(U) = B(·)/H_n when given (for mutation tests only:
    the weight returned is then H_n·B(·)/harmonic).
    """
    w = beta(n - size, size + 1)
    return float(w if harmonic is None else w * harmonic_number(n) / harmonic)


class _TableConditionals:
    """log p0(x^U) for every U from one pass over the table (bitmask keys)."""

    def __init__(self, p0):
        self.table = as_table(p0)
        self.L = self.table.ndim
        self.space = SequenceSpace(self.table.shape[0], self.L, alphabet=getattr(p0, "alphabet", None))
        self.logm = _subset_log_marginals(self.table)

    def tokens(self, x):
        return self.space.encode(x)

    def log_marginal(self, x, U_bits: int) -> float:
        idx = tuple(v if U_bits >> a & 1 else 0 for a, v in enumerate(x))
        return float(self.logm[U_bits][idx])


def _bits(positions):
    return sum(1 << int(i) for i in positions)


def _check_positions(L, target, context):
    target = [int(i) for i in target]
    context = [int(i) for i in context]
    for name, pos in (("target", target), ("context", context)):
        if len(set(pos)) != len(pos) or any(i < 0 or i >= L for i in pos):
            raise ValueError(f"`{name}` must be distinct positions in 0..{L - 1} (got {pos}).")
    if not target:
        raise ValueError("`target` must not be empty.")
    if set(target) & set(context):
        raise ValueError(f"`target` and `context` must be disjoint (both contain {sorted(set(target) & set(context))}).")
    return target, context


def _subset_sum(cond, x, target, context, harmonic=None, include_empty=True):
    """H_n Σ_{J⊊T} p(J) Σ_{i∈T∖J} −log p0(x^i | x^{J∪C}) with n = |T|."""
    n = len(target)
    C = _bits(context)
    total = 0.0
    for size in range(0 if include_empty else 1, n):
        w = subset_weight(n, size, harmonic)
        for J in itertools.combinations(target, size):
            vis = C | _bits(J)
            base = cond.log_marginal(x, vis)
            total += w * sum(base - cond.log_marginal(x, vis | 1 << i) for i in target if i not in J)
    return total


def time_free_nll(p0, x0, harmonic=None, include_empty=True) -> float:
    """The exact time-free sum of Theorem 4.1, which equals −log p0(x0):

    .. math:: -\\log p_0(x_0) = H_L \\sum_{U \\subsetneq [L]} p(U) \\sum_{i \\notin U} -\\log p_0(x_0^i | x_0^U),
              \\qquad p(U) = B(L-|U|, |U|+1)/H_L.

    Parameters
    ----------
    p0 : Distribution, table or MarkovChain
    x0 : str or token tuple
    harmonic, include_empty : for mutation tests only (replace H_L in p(U); drop the
        fully masked set U = ∅).

    Returns ``inf`` when p0(x0) = 0.
    """
    if isinstance(p0, MarkovChain):
        if harmonic is not None or not include_empty:
            raise ValueError("mutations are only supported for tables.")
        return p0.time_free_nll(x0)
    cond = _TableConditionals(p0)
    x = cond.tokens(x0)
    if cond.table[x] == 0:
        return float("inf")
    return _subset_sum(cond, x, list(range(cond.L)), [], harmonic, include_empty)


def conditional_nll(p0, x, target, context, harmonic=None) -> float:
    """The exact Corollary 4.3 sum for −log p0(x^T | x^C):

    .. math:: H_{|T|} \\sum_{J \\subsetneq T} p(J) \\sum_{i \\in T \\setminus J} -\\log p_0(x^i | x^{J \\cup C}),
              \\qquad p(J) = B(|T|-|J|, |J|+1)/H_{|T|}.

    Only the target is diffused; positions outside T ∪ C are summed out.
    """
    if isinstance(p0, MarkovChain):
        return p0.conditional_nll(x, target, context)
    cond = _TableConditionals(p0)
    tokens = cond.tokens(x)
    target, context = _check_positions(cond.L, target, context)
    if np.isinf(cond.log_marginal(tokens, _bits(context))):
        raise ValueError("the context has probability 0; the conditional is undefined.")
    if np.isinf(cond.log_marginal(tokens, _bits(target + context))):
        return float("inf")
    return _subset_sum(cond, tokens, target, context, harmonic)


def exact_conditional_nll(p0, x, target, context) -> float:
    """−log p0(x^T | x^C) = −log p0(x^{T∪C}) + log p0(x^C), directly from marginals."""
    if isinstance(p0, MarkovChain):
        return p0.exact_conditional_nll(x, target, context)
    cond = _TableConditionals(p0)
    tokens = cond.tokens(x)
    target, context = _check_positions(cond.L, target, context)
    lc = cond.log_marginal(tokens, _bits(context))
    if np.isinf(lc):
        raise ValueError("the context has probability 0; the conditional is undefined.")
    return float(lc - cond.log_marginal(tokens, _bits(target + context)))


def _per_set_terms(cond, x):
    """{U: Σ_{i∉U} log p0(x^i | x^U)} for every proper subset U."""
    L = cond.L
    out = {}
    for size in range(L):
        for U in itertools.combinations(range(L), size):
            bits = _bits(U)
            base = cond.log_marginal(x, bits)
            out[U] = sum(cond.log_marginal(x, bits | 1 << i) - base for i in range(L) if i not in U)
    return out


def log_ratio_expectation(p0, y, x, coupling="coupled") -> float:
    """The exact expectation of one draw of the Eq. 18 estimator of log p0(y) − log p0(x).

    One draw is H_L Σ_{i∉U} log p0(y^i|y^U) − H_L Σ_{i∉U'} log p0(x^i|x^{U'}) with
    U ~ p(U) and U' = U (``"coupled"``, shared masks) or U' ~ p(U) independent
    (``"decoupled"``). The expectation is taken by enumerating every set (every pair
    of sets when decoupled); both equal log p0(y) − log p0(x).
    """
    if coupling not in ("coupled", "decoupled"):
        raise ValueError(f"`coupling` must be one of {{'coupled', 'decoupled'}} (got {coupling!r}).")
    if isinstance(p0, MarkovChain):
        return -time_free_nll(p0, y) + time_free_nll(p0, x)
    cond = _TableConditionals(p0)
    ty, tx = cond.tokens(y), cond.tokens(x)
    L = cond.L
    H = harmonic_number(L)
    Ty, Tx = _per_set_terms(cond, ty), _per_set_terms(cond, tx)
    p = {U: subset_weight(L, len(U)) / H for U in Ty}
    if coupling == "coupled":
        return float(sum(p[U] * H * (Ty[U] - Tx[U]) for U in Ty))
    return float(sum(p[U] * p[V] * H * (Ty[U] - Tx[V]) for U in Ty for V in Tx))
