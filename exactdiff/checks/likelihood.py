"""Checks of the exact likelihood formulas of masked diffusion: the time-free NLL
(Theorem 4.1) with the law of |U|, the conditional NLL (Theorem 4.2 / Corollary 4.3) and
the coupled and decoupled log-ratio (Eq. 18). Every check returns a list of
:class:`CheckResult`."""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.integrate import quad

from ..core.validation import as_table
from ..masked import (
    conditional_nll,
    exact_conditional_nll,
    log_ratio_expectation,
    optimal_denoiser_table,
    subset_sums,
    subset_weight,
    time_free_nll,
    unmasked_size_law,
)
from .masked import masked_setup
from .result import compare

__all__ = [
    "check_theorem_4_1",
    "check_unmasked_size_law",
    "check_corollary_4_3",
    "check_eq_18",
]

#: Exact sums against exact marginals: measured agreement below 1e-13.
TOL_EXACT = 1e-12
#: The law of |U| against Beta integrals by adaptive quadrature (epsrel 1e-14).
TOL_LAW = 1e-11


def check_theorem_4_1(p0, x0s=None, *, setup=None):
    """Theorem 4.1: −log p0(x0) = H_L E_{U~p(U)} Σ_{i∉U} −log p0(x0^i|x0^U), by enumerating
    every unmasked set, for each x0 (default: the whole support); and the conditionals
    inside that sum along a second route (the optimal-denoiser table). The law of |U| is
    :func:`check_unmasked_size_law`."""
    table = as_table(p0)
    if x0s is None:
        x0s = [tuple(int(v) for v in x) for x in np.argwhere(table > 0)]
    lhs = [-np.log(table[tuple(x)]) for x in x0s]
    rhs = [time_free_nll(p0, tuple(x)) for x in x0s]
    info = masked_setup(table, setup, n_sequences=len(x0s))
    # The weighted sum telescopes for any set function, so the conditionals that enter it
    # are checked on their own: h_k(x0) from the subset marginals against the optimal
    # denoiser c*(x) = P̃(x^{i←v})/P̃(x) of the masked-pattern table, summed over masks.
    few = x0s[:: max(1, len(x0s) // 8)][:8]
    h_sub = subset_sums(p0)
    c = optimal_denoiser_table(table)
    h_den = [_h_from_denoiser(c, tuple(x)) for x in few]
    return [
        compare("NLL = time-free sum over unmasked sets", "Theorem 4.1", info, lhs, rhs, TOL_EXACT,
                scale=np.maximum(np.abs(lhs), 1.0), note="rel. to max(NLL, 1 nat)"),
        compare("h_k(x0): subset marginals = optimal-denoiser table", "Theorem 4.1 (conditionals)",
                masked_setup(table, setup, n_sequences=len(few)),
                np.array([h_sub[(slice(None),) + tuple(x)] for x in few]).ravel(), np.array(h_den).ravel(),
                TOL_EXACT, scale=np.maximum(np.abs(np.array(h_den).ravel()), 1.0),
                note="two routes to every −log p0(x0^i | x0^U); rel. to max(|h_k|, 1 nat)"),
    ]


def check_unmasked_size_law(L, *, setup=None):
    """The law of the unmasked-set size in Theorem 4.1, P(|U| = k) = C(L, k) B(L−k, k+1)/H_L
    (:func:`~exactdiff.masked.weights.unmasked_size_law`), against an independent
    route: the Beta integrals ∫_0^1 λ^{L−k−1}(1−λ)^k dλ by ``scipy.integrate.quad`` and
    H_L as a plain float sum of 1/m; and its total, 1."""
    law = unmasked_size_law(L)
    beta = np.array([quad(lambda lam, k=k: lam ** (L - k - 1) * (1 - lam) ** k, 0.0, 1.0, epsabs=0, epsrel=2e-14)[0]
                     for k in range(L)])
    comb = np.array([math.comb(L, k) for k in range(L)], dtype=float)
    independent = comb * beta / np.sum(1.0 / np.arange(1, L + 1))
    info = dict(setup or {}, L=int(L))
    return [
        compare("P(|U|=k) = C(L,k) B(L-k,k+1)/H_L", "Theorem 4.1 (law of |U|)", info, law, independent, TOL_LAW,
                note="Beta integrals by scipy quad, H_L summed directly; equals 1/((L−k) H_L)"),
        compare("sum_k P(|U|=k) = 1", "Theorem 4.1 (law of |U|)", info, law.sum(), 1.0, TOL_EXACT),
    ]


def _h_from_denoiser(c, x0):
    """h_k(x0) = Σ_{|U|=k} Σ_{i∉U} −log c*(x0 masked outside U)_{i, x0^i} from the
    optimal denoiser table ``c`` (ratios of the masked-pattern marginal P̃)."""
    N, L = c.shape[-1], len(x0)
    h = np.zeros(L + 1)
    for masked in itertools.product([False, True], repeat=L):
        x = tuple(N if m else v for m, v in zip(masked, x0))
        k = L - sum(masked)
        h[k] += sum(-np.log(c[x][i, x0[i]]) for i in range(L) if masked[i])
    return h


def check_corollary_4_3(p0, cases, *, setup=None):
    """Theorem 4.2 / Corollary 4.3: the conditional subset sum equals −log p0(x^T | x^C)
    for each (x, target, context) in ``cases``."""
    if not cases:
        raise ValueError("`cases` must not be empty.")
    lhs = [exact_conditional_nll(p0, x, T, C) for x, T, C in cases]
    rhs = [conditional_nll(p0, x, T, C) for x, T, C in cases]
    table_like = getattr(p0, "table", None)
    info = dict(setup or {}, n_cases=len(cases),
                splits=[[list(T), list(C)] for _, T, C in cases][:8])
    if table_like is not None:
        info.update(N=int(table_like.shape[0]), L=int(table_like.ndim))
    out = [compare("-log p0(x^T|x^C) = conditional subset sum", "Theorem 4.2 / Corollary 4.3", info,
                   lhs, rhs, TOL_EXACT, scale=np.maximum(np.abs(lhs), 1.0), note="rel. to max(|NLL|, 1 nat)")]
    if getattr(p0, "table", None) is not None and len(cases[0][1]) <= 8:
        # The weighted sum telescopes for any set function; check the conditionals it uses
        # against Distribution.conditional (marginals summed from the table directly).
        again = [_conditional_sum_by_distribution(p0, x, T, C) for x, T, C in cases]
        out.append(compare("conditional subset sum, conditionals by Distribution.conditional",
                           "Corollary 4.3 (conditionals)", info, rhs, again, TOL_EXACT,
                           scale=np.maximum(np.abs(rhs), 1.0)))
    return out


def _conditional_sum_by_distribution(p0, x, target, context):
    """The Corollary 4.3 sum with every −log p0(x^i | x^{J∪C}) from ``p0.conditional``."""
    x = p0.space.encode(x) if isinstance(x, str) else tuple(int(v) for v in x)
    n = len(target)
    total = 0.0
    for size in range(n):
        w = subset_weight(n, size)  # B(n − |J|, |J| + 1)
        for J in itertools.combinations(target, size):
            visible = list(J) + list(context)
            total += w * sum(-np.log(p0.conditional(x, i, visible)[x[i]]) for i in target if i not in J)
    return total


def check_eq_18(p0, pairs, *, setup=None):
    """Eq. 18: the coupled and decoupled log-ratio estimators are exact in expectation:
    E[one draw] = log p0(y) − log p0(x), by enumerating every set (pair of sets)."""
    table = as_table(p0)
    truth = [np.log(table[tuple(y)]) - np.log(table[tuple(x)]) for y, x in pairs]
    out = []
    for coupling in ("coupled", "decoupled"):
        est = [log_ratio_expectation(p0, tuple(y), tuple(x), coupling=coupling) for y, x in pairs]
        out.append(compare(f"E[log-ratio estimator] = log p0(y) - log p0(x), {coupling}", "Eq. 18",
                           masked_setup(table, setup, coupling=coupling, n_pairs=len(pairs)), truth, est, TOL_EXACT,
                           scale=np.maximum(np.abs(truth), 1.0), note="rel. to max(|log-ratio|, 1)"))
    return out
