"""Exact likelihood formulas of masked diffusion: the time-free NLL (Theorem 4.1), the
conditional NLL (Theorem 4.2, Corollary 4.3) and the coupled log-ratio (Eq. 18).

Each formula is a weighted sum over unmasked sets with the weights of
:mod:`exactdiff.masked.weights`, evaluated exactly by enumerating every set. ``p0`` is a
:class:`~exactdiff.Distribution` (or table), where the conditionals come from marginal
sums, or a :class:`~exactdiff.MarkovChain`, where the per-size sums h_m come from
forward–backward (:meth:`MarkovChain.subset_terms <exactdiff.MarkovChain.subset_terms>`)
without enumerating V^L.

Undefined cases: a context of probability 0 raises a ``ValueError`` naming it; an
impossible sequence (with a possible context) has NLL ``inf``.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..core.validation import as_table, validate_target_context, show_tokens
from ..markov import MarkovChain
from ..sequences import SequenceSpace
from .optimal import subset_tables
from .weights import harmonic_number, subset_weight

__all__ = [
    "time_free_nll",
    "conditional_nll",
    "exact_conditional_nll",
    "log_ratio_expectation",
]


class _TableMarginals:
    """log p0(x^U) for every U from one pass over the table (bitmask keys)."""

    def __init__(self, p0):
        self.table = as_table(p0)
        self.L = self.table.ndim
        self.alphabet = getattr(p0, "alphabet", None)
        self.space = SequenceSpace(self.table.shape[0], self.L, alphabet=self.alphabet)
        self.marginals = subset_tables(self.table)

    def tokens(self, x):
        return self.space.encode(x)

    def log_subsequence(self, x, U_bits: int) -> float:
        """log p0(x^U) (``-inf`` where it is 0)."""
        idx = tuple(v if U_bits >> a & 1 else 0 for a, v in enumerate(x))
        with np.errstate(divide="ignore"):
            return float(np.log(self.marginals[U_bits][idx]))

    def validate_context(self, x, C):
        if C and self.log_subsequence(x, _bits(C)) == -np.inf:
            shown = ", ".join(f"x^{j}={show_tokens([x[j]], self.alphabet)}" for j in C)
            raise ValueError(f"the context ({shown}) has probability 0 under p0: p0(x^T | x^C) is undefined.")


def _bits(positions):
    return sum(1 << int(i) for i in positions)


def _subset_terms(cond, x, target, context):
    """h_m = Σ_{J ⊊ T, |J| = m} Σ_{i ∈ T∖J} −log p0(x^i | x^{J ∪ C}), m = 0..|T|−1."""
    n = len(target)
    C = _bits(context)
    h = np.zeros(n)
    for size in range(n):
        for J in itertools.combinations(target, size):
            vis = C | _bits(J)
            base = cond.log_subsequence(x, vis)
            h[size] += sum(base - cond.log_subsequence(x, vis | 1 << i) for i in target if i not in J)
    return h


def _weighted(h):
    """Σ_m B(n − m, m + 1) h_m: H_n Σ_{J ⊊ T} p(J) Σ_{i ∈ T∖J} −log p0(x^i | x^{J ∪ C})."""
    return float(subset_weight(h.size, np.arange(h.size)) @ h)


def time_free_nll(p0, x0) -> float:
    """The exact time-free sum of Theorem 4.1, which equals −log p0(x0):

    .. math:: -\\log p_0(x_0) = H_L \\sum_{U \\subsetneq [L]} p(U) \\sum_{i \\notin U} -\\log p_0(x_0^i | x_0^U),
              \\qquad p(U) = B(L-|U|, |U|+1)/H_L.

    Parameters
    ----------
    p0 : Distribution, table or MarkovChain
    x0 : str or token tuple

    Returns ``inf`` when p0(x0) = 0. For a chain, all 2^L − 1 subsets are summed by
    :meth:`MarkovChain.subset_terms <exactdiff.MarkovChain.subset_terms>`.

    Examples
    --------
    >>> import numpy as np, exactdiff as ed
    >>> chain = ed.MarkovChain(np.array([[0.9, 0.1], [0.2, 0.8]]))
    >>> x = (0, 1, 1, 0, 1)
    >>> abs(ed.time_free_nll(chain, x) - chain.nll(x)) < 1e-12
    True
    """
    if isinstance(p0, MarkovChain):
        h = p0.subset_terms(x0)
        return float("inf") if np.isinf(h).any() else _weighted(h)
    cond = _TableMarginals(p0)
    x = cond.tokens(x0)
    if cond.table[x] == 0:
        return float("inf")
    return _weighted(_subset_terms(cond, x, list(range(cond.L)), []))


def conditional_nll(p0, x, target, context) -> float:
    """The exact Corollary 4.3 sum for −log p0(x^T | x^C):

    .. math:: H_{|T|} \\sum_{J \\subsetneq T} p(J) \\sum_{i \\in T \\setminus J} -\\log p_0(x^i | x^{J \\cup C}),
              \\qquad p(J) = B(|T|-|J|, |J|+1)/H_{|T|}.

    Only the target is diffused; positions outside T ∪ C are summed out. Raises
    ``ValueError`` if p0(x^C) = 0; returns ``inf`` if p0(x^T | x^C) = 0.

    Examples
    --------
    >>> import numpy as np, exactdiff as ed
    >>> chain = ed.MarkovChain(np.array([[0.9, 0.1], [0.2, 0.8]]))
    >>> x = (0, 1, 1, 0, 1, 1)
    >>> a = ed.conditional_nll(chain, x, target=[1, 3, 4], context=[0, 5])
    >>> b = ed.exact_conditional_nll(chain, x, target=[1, 3, 4], context=[0, 5])
    >>> abs(a - b) < 1e-12
    True
    """
    if isinstance(p0, MarkovChain):
        h = p0.subset_terms(x, target, context)
        return float("inf") if np.isinf(h).any() else _weighted(h)
    cond = _TableMarginals(p0)
    tokens = cond.tokens(x)
    target, context = validate_target_context(cond.L, target, context)
    cond.validate_context(tokens, context)
    if np.isinf(cond.log_subsequence(tokens, _bits(target + context))):
        return float("inf")
    return _weighted(_subset_terms(cond, tokens, list(target), list(context)))


def exact_conditional_nll(p0, x, target, context) -> float:
    """−log p0(x^T | x^C) = −log p0(x^{T∪C}) + log p0(x^C), directly from marginals (a
    table) or two forward passes (a chain): the independent route for
    :func:`conditional_nll`. Raises ``ValueError`` if p0(x^C) = 0."""
    if isinstance(p0, MarkovChain):
        return p0.exact_conditional_nll(x, target, context)
    cond = _TableMarginals(p0)
    tokens = cond.tokens(x)
    target, context = validate_target_context(cond.L, target, context)
    cond.validate_context(tokens, context)
    return float(cond.log_subsequence(tokens, _bits(context)) - cond.log_subsequence(tokens, _bits(target + context)))


def _per_set_terms(cond, x):
    """{U: Σ_{i∉U} log p0(x^i | x^U)} for every proper subset U."""
    L = cond.L
    out = {}
    for size in range(L):
        for U in itertools.combinations(range(L), size):
            bits = _bits(U)
            base = cond.log_subsequence(x, bits)
            out[U] = sum(cond.log_subsequence(x, bits | 1 << i) - base for i in range(L) if i not in U)
    return out


def log_ratio_expectation(p0, y, x, *, coupling="coupled") -> float:
    """The exact expectation of one draw of the Eq. 18 estimator of log p0(y) − log p0(x).

    One draw is H_L Σ_{i∉U} log p0(y^i|y^U) − H_L Σ_{i∉U'} log p0(x^i|x^{U'}) with
    U ~ p(U) and U' = U (``"coupled"``, shared masks) or U' ~ p(U) independent
    (``"decoupled"``). The expectation is taken by enumerating every set (every pair
    of sets when decoupled); both equal log p0(y) − log p0(x).
    """
    validate_coupling(coupling)
    if isinstance(p0, MarkovChain):
        return -time_free_nll(p0, y) + time_free_nll(p0, x)
    cond = _TableMarginals(p0)
    ty, tx = cond.tokens(y), cond.tokens(x)
    L = cond.L
    H = harmonic_number(L)
    Ty, Tx = _per_set_terms(cond, ty), _per_set_terms(cond, tx)
    p = {U: subset_weight(L, len(U)) / H for U in Ty}
    if coupling == "coupled":
        return float(sum(p[U] * H * (Ty[U] - Tx[U]) for U in Ty))
    return float(sum(p[U] * p[V] * H * (Ty[U] - Tx[V]) for U in Ty for V in Tx))


def validate_coupling(coupling):
    """``coupling`` if it is ``"coupled"`` (shared masks) or ``"decoupled"``."""
    if coupling not in ("coupled", "decoupled"):
        raise ValueError(f"`coupling` must be one of {{'coupled', 'decoupled'}} (got {coupling!r}).")
    return coupling
