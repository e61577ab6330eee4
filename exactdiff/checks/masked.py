"""Checks of the masked-diffusion identities: Lemma 3.3, Theorem 3.4, Corollaries 3.6
and 3.7, Theorem 4.1, Theorem 4.2 / Corollary 4.3 and Eq. 18."""

from __future__ import annotations

import itertools

import numpy as np
from scipy.integrate import quad_vec

from .._numerics import richardson_derivative
from .._validation import as_table
from ..denoisers import TableDenoiser
from ..information import pointwise_kl, pointwise_kl_derivative
from ..distribution import Distribution
from ..likelihood import conditional_nll, exact_conditional_nll, log_ratio_expectation, subset_weight, time_free_nll
from ..masked import (
    optimal_denoiser_table,
    subset_sums,
    dce_integral,
    dce_loss,
    harmonic_number,
    mdce,
    mdce_integral,
    unmasked_size_law,
)
from ..process import absorbing
from ..schedules import Constant
from ..score_entropy import dse_integral, dse_loss
from .result import compare

__all__ = [
    "random_denoiser_table",
    "denoiser_score",
    "check_lemma_3_3",
    "check_theorem_3_4",
    "check_corollary_3_6",
    "check_corollary_3_7",
    "check_theorem_4_1",
    "check_corollary_4_3",
    "check_eq_18",
]

TOL_EXACT = 1e-12
TOL_DERIVATIVE = 1e-10
TOL_FINITE_DIFFERENCE = 1e-7
TOL_INTEGRAL = 1e-8


def _setup(table, extra=None, **more):
    out = {"process": "absorbing (λ)", "N": int(table.shape[0]), "L": int(table.ndim)}
    out.update(extra or {})
    out.update(more)
    return out


def random_denoiser_table(N, L, seed=0, alpha=1.0, normalised=True):
    """A random denoiser table (N+1,)*L + (L, N) with Dirichlet(alpha) rows (seeded).

    With ``normalised=False`` every row is scaled by a random factor in [0.5, 1.5)
    (for the test that Lemma 3.3 needs normalised rows).
    """
    rng = np.random.default_rng(seed)
    shape = (N + 1,) * L + (L,)
    table = rng.dirichlet(np.full(N, alpha), size=shape)
    if not normalised:
        table = table * rng.uniform(0.5, 1.5, size=shape + (1,))
    return table


def denoiser_score(table, lam):
    """The score of Lemma 3.3 in neighbour form: s(x)_y = ((1−λ)/λ) c(x)_{i,v} where y
    unmasks position i of x to v. Shape (N+1,)*L + (L, N+1); the mask column is unused."""
    table = np.asarray(table)
    ratio = (1 - lam) / lam
    return np.concatenate([ratio * table, np.ones(table.shape[:-1] + (1,))], axis=-1)


def _denoiser_callable(table):
    """A callable denoiser over a table, without the protocol's normalisation check."""
    return lambda x: np.asarray(table)[tuple(np.asarray(x).T)]


def check_lemma_3_3(N=2, L=3, t=0.4, seed=0, table=None, setup=None, tol=TOL_EXACT):
    """Lemma 3.3, state by state: ℓ_DSE(x0, x, t, s) = σ(t)·((1−λ)/λ)·ℓ_DCE(x0, x, c) with
    s(x)_y = ((1−λ)/λ) c(x)_{i,v}, for every x0 ∈ V^L and every x reachable from it.

    ``table`` is any denoiser table (default: a random normalised one, seeded). The
    lemma needs normalised rows; an unnormalised table makes the check fail.
    """
    if not t > 0:
        raise ValueError(f"`t` must be > 0: at t = 0 nothing is masked and (1−λ)/λ is undefined (got {t}).")
    if table is None:
        table = random_denoiser_table(N, L, seed)
    process = absorbing(N, Constant(1.0))
    lam = -np.expm1(-process.total(t))
    sigma = process.rate(t)
    score = denoiser_score(table, lam)
    c = _denoiser_callable(table)
    lhs, rhs = [], []
    for x0 in itertools.product(range(N), repeat=L):
        for masked in itertools.product([False, True], repeat=L):
            x = tuple(N if m else v for m, v in zip(masked, x0))
            lhs.append(dse_loss(process, t, x0, x, score))
            loss = float(_raw_dce(x0, x, c, N))
            rhs.append(sigma * (1 - lam) / lam * loss)
    info = dict(setup or {}, process="absorbing", schedule="Constant(rate=1)", N=N, L=L, t=t, seed=seed)
    return compare("l_DSE = sigma (1-lam)/lam l_DCE, every state", "Lemma 3.3", info, lhs, rhs, tol,
                   note="score built from an arbitrary denoiser table")


def _raw_dce(x0, x, c, N):
    """ℓ_DCE without the protocol's normalisation check (for the Lemma 3.3 mutation)."""
    probs = c(np.array([x]))[0]
    return sum(-np.log(probs[i, x0[i]]) for i in range(len(x)) if x[i] == N)


def check_theorem_3_4(p0, schedule=None, T=None, table=None, seed=0, setup=None, tol=TOL_INTEGRAL):
    """Theorem 3.4: L^T_DSE(x0) = L^Λ_DCE(x0), Λ = 1 − e^{−σ̄(T)}, for a non-optimal
    denoiser and every x0 ∈ V^L.

    DSE side: :func:`exactdiff.dse_integral` of the absorbing process with the score of
    Lemma 3.3 (quadrature in log σ̄). DCE side: the exact Beta-weighted sum of
    :func:`exactdiff.masked.dce_integral`.
    """
    table0 = as_table(p0)
    N, L = table0.shape[0], table0.ndim
    schedule = schedule or Constant(1.0)
    process = absorbing(N, schedule)
    if T is None:
        T = min(0.9 * schedule.t_max, schedule.time_of_total(2.0))
    if table is None:
        table = random_denoiser_table(N, L, seed)
    Lam = -np.expm1(-process.total(T))

    def score(t):
        return denoiser_score(table, -np.expm1(-process.total(t)))

    dse, err = dse_integral(process, T, score, L=L)
    x0s = np.array(list(itertools.product(range(N), repeat=L)))
    dce = dce_integral(TableDenoiser(table), x0s, N, Lam)
    info = _setup(table0, setup, schedule=repr(schedule), T=float(T), Lambda=float(Lam), seed=seed)
    return compare("L^T_DSE(x0) = L^Lambda_DCE(x0), non-optimal c", "Theorem 3.4", info,
                   dse.ravel(), dce, tol, note="DSE by quadrature in log σ̄; DCE by exact Beta sums")


def _kl_in_lambda(p0, lam):
    process = absorbing(as_table(p0).shape[0], Constant(1.0))
    return pointwise_kl(p0, process, -np.log1p(-lam))


def check_corollary_3_6(p0, lams=(1e-4, 1e-2, 0.2, 0.5, 0.8, 0.99), setup=None):
    """Corollary 3.6 (I-MDCE): d/dλ KL(p_{λ|0}(·|x0) ‖ p_λ) = −(1/λ) mdce(x0, λ), and its
    average d/dλ I = −(1/λ) mdce(λ).

    Returns three results: the analytic derivative (the engine's dKL/dt divided by
    dλ/dt = 1 − λ under a unit-rate clock) pointwise and marginal, and a Richardson finite
    difference in λ, all against the closed-form mdce.
    """
    if not lams or any(not 0 < lam < 1 for lam in lams):
        raise ValueError(f"`lams` must be masking levels strictly inside (0, 1) (got {list(lams)}).")
    table = as_table(p0)
    support = table > 0
    process = absorbing(table.shape[0], Constant(1.0))
    an, fd, rhs, an_m, rhs_m = [], [], [], [], []
    for lam in lams:
        t = -np.log1p(-lam)
        d = pointwise_kl_derivative(p0, process, t)[support] / (1 - lam)
        m = mdce(p0, lam, pointwise=True)[support] / lam
        h = 0.4 * min(lam, 1 - lam)
        f = richardson_derivative(lambda s: _kl_in_lambda(p0, s)[support], lam, h, levels=4)
        an.append(d)
        fd.append(f)
        rhs.append(-m)
        an_m.append(float(table[support] @ d))
        rhs_m.append(-float(table[support] @ m))
    info = _setup(table, setup, lams=list(lams))
    an, fd, rhs = map(np.concatenate, (an, fd, rhs))
    floor = table.ndim * np.log(table.shape[0])  # the size of the conditional log-terms summed
    note = "rel. to max(|lhs|, |rhs|, L log N)"
    sc = lambda a, b: np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)  # noqa: E731
    return [
        compare("I-MDCE pointwise: dKL/dlam = -mdce(x0,lam)/lam", "Corollary 3.6", info, an, rhs, TOL_DERIVATIVE,
                sc(an, rhs), note),
        compare("I-MDCE marginal: dI/dlam = -mdce(lam)/lam", "Corollary 3.6", info, an_m, rhs_m, TOL_DERIVATIVE,
                sc(np.array(an_m), np.array(rhs_m)), note),
        compare("I-MDCE pointwise: Richardson dKL/dlam", "Corollary 3.6", info, fd, rhs, TOL_FINITE_DIFFERENCE,
                sc(fd, rhs), note + "; h = 0.4·min(λ, 1−λ), 4 levels"),
    ]


def check_corollary_3_7(p0, Lambda=0.7, setup=None, include_kl=True):
    """Corollary 3.7: −log p0(x0) = ∫_0^Λ (1/λ) mdce(x0, λ) dλ + KL(p_{Λ|0}(·|x0) ‖ p_Λ),
    and at Λ = 1 without the KL. The integral is the exact incomplete-Beta sum; a second
    result checks it against adaptive quadrature of the enumerated mdce.
    """
    table = as_table(p0)
    support = table > 0
    nll = -np.log(table[support])
    exact = mdce_integral(p0, Lambda)[support]
    kl = _kl_in_lambda(p0, Lambda)[support] if include_kl else 0.0
    quad, err = quad_vec(lambda lam: mdce(p0, lam, pointwise=True, method="enumerate")[support] / lam,
                         0.0, Lambda, epsrel=1e-12, epsabs=1e-13, norm="max")
    info = _setup(table, setup, Lambda=float(Lambda))
    return [
        compare("NLL = int_0^Lambda mdce/lam + KL(Lambda)", "Corollary 3.7", info, nll, exact + kl, TOL_EXACT,
                scale=np.maximum(nll, 1.0), note="integral = Σ_k h_k B(L−k, k+1) I_Λ(L−k, k+1); rel. to max(NLL, 1 nat)"),
        compare("NLL = int_0^1 mdce/lam", "Corollary 3.7 (Λ = 1)", _setup(table, setup, Lambda=1.0),
                nll, mdce_integral(p0, 1.0)[support], TOL_EXACT, scale=np.maximum(nll, 1.0)),
        compare("Beta closed form = quadrature of enumerated mdce/lam", "Corollary 3.7", info,
                exact, quad, TOL_INTEGRAL, note=f"scipy quad_vec, error estimate {err:.1e}"),
    ]


def check_theorem_4_1(p0, x0s=None, setup=None, harmonic=None, include_empty=True):
    """Theorem 4.1: −log p0(x0) = H_L E_{U~p(U)} Σ_{i∉U} −log p0(x0^i|x0^U), by enumerating
    every unmasked set, for each x0 (default: the whole support). Also checks the law of
    |U|: P(|U|=k) = 1/((L−k) H_L), summing to 1."""
    table = as_table(p0)
    L = table.ndim
    if x0s is None:
        x0s = [tuple(int(v) for v in x) for x in np.argwhere(table > 0)]
    lhs = [-np.log(table[tuple(x)]) for x in x0s]
    rhs = [time_free_nll(p0, tuple(x), harmonic=harmonic, include_empty=include_empty) for x in x0s]
    law = unmasked_size_law(L)
    k = np.arange(L)
    info = _setup(table, setup, n_sequences=len(x0s))
    # The weighted sum telescopes for any set function, so the conditionals that enter it
    # are checked on their own: h_k(x0) from the subset marginals against the optimal
    # denoiser c*(x) = P̃(x^{i←v})/P̃(x) of the masked-pattern table, summed over masks.
    few = x0s[:: max(1, len(x0s) // 8)][:8]
    h_sub = subset_sums(p0)
    h_den = [_h_from_denoiser(table, tuple(x)) for x in few]
    return [
        compare("NLL = time-free sum over unmasked sets", "Theorem 4.1", info, lhs, rhs, TOL_EXACT,
                scale=np.maximum(np.abs(lhs), 1.0), note="rel. to max(NLL, 1 nat)"),
        compare("h_k(x0): subset marginals = optimal-denoiser table", "Theorem 4.1 (conditionals)",
                _setup(table, setup, n_sequences=len(few)),
                np.array([h_sub[(slice(None),) + tuple(x)] for x in few]).ravel(), np.array(h_den).ravel(),
                TOL_EXACT, scale=np.maximum(np.abs(np.array(h_den).ravel()), 1.0),
                note="two routes to every −log p0(x0^i | x0^U); rel. to max(|h_k|, 1 nat)"),
        compare("P(|U|=k) = 1/((L-k) H_L)", "Theorem 4.1", _setup(table, setup),
                law, 1.0 / ((L - k) * harmonic_number(L)), TOL_EXACT, note="C(L,k)·B(L−k,k+1)/H_L"),
        compare("sum_k P(|U|=k) = 1", "Theorem 4.1", _setup(table, setup), law.sum(), 1.0, TOL_EXACT),
    ]


def _h_from_denoiser(table, x0):
    """h_k(x0) = Σ_{|U|=k} Σ_{i∉U} −log c*(x0 masked outside U)_{i, x0^i} from the
    optimal denoiser table (ratios of the masked-pattern marginal P̃)."""
    N, L = table.shape[0], table.ndim
    c = optimal_denoiser_table(table)
    h = np.zeros(L + 1)
    for masked in itertools.product([False, True], repeat=L):
        x = tuple(N if m else v for m, v in zip(masked, x0))
        k = L - sum(masked)
        h[k] += sum(-np.log(c[x][i, x0[i]]) for i in range(L) if masked[i])
    return h


def check_corollary_4_3(p0, cases, setup=None):
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
    if isinstance(p0, Distribution) and len(cases[0][1]) <= 8:
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
        w = subset_weight(n, size)
        for J in itertools.combinations(target, size):
            visible = list(J) + list(context)
            total += w * sum(-np.log(p0.conditional(x, i, visible)[x[i]]) for i in target if i not in J)
    return total


def check_eq_18(p0, pairs, setup=None):
    """Eq. 18: the coupled and decoupled log-ratio estimators are exact in expectation:
    E[one draw] = log p0(y) − log p0(x), by enumerating every set (pair of sets)."""
    table = as_table(p0)
    truth = [np.log(table[tuple(y)]) - np.log(table[tuple(x)]) for y, x in pairs]
    out = []
    for coupling in ("coupled", "decoupled"):
        est = [log_ratio_expectation(p0, tuple(y), tuple(x), coupling) for y, x in pairs]
        out.append(compare(f"E[log-ratio estimator] = log p0(y) - log p0(x), {coupling}", "Eq. 18",
                           _setup(table, setup, coupling=coupling, n_pairs=len(pairs)), truth, est, TOL_EXACT,
                           scale=np.maximum(np.abs(truth), 1.0), note="rel. to max(|log-ratio|, 1)"))
    return out
