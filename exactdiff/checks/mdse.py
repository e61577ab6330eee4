"""Checks of I-MDSE (Theorem 3.1), the NLL decomposition (Theorem 3.2) and the DSE
variational bound, each computed along two independent routes."""

from __future__ import annotations

import numpy as np

from .._numerics import richardson_derivative
from .._validation import as_table
from ..information import (
    conditional_entropy,
    marginal_entropy,
    mutual_information,
    mutual_information_derivative,
    pointwise_kl,
    pointwise_kl_derivative,
)
from ..score_entropy import concrete_score, dse_integral, mdse, mdse_integral
from .result import compare

__all__ = [
    "DEFAULT_TIMES",
    "check_engines_agree",
    "check_information_entropies",
    "check_theorem_3_1",
    "check_theorem_3_1_finite_difference",
    "check_theorem_3_2",
    "check_theorem_3_2_infinite",
    "check_entropy_integral",
    "check_variational_bound",
]

#: Times spanning 1e-6 to 1e2 on a log grid.
DEFAULT_TIMES = tuple(np.logspace(-6, 2, 9))

TOL_DERIVATIVE = 1e-10
TOL_FINITE_DIFFERENCE = 1e-7
TOL_INTEGRAL = 1e-8
TOL_ENGINES = 1e-12


def _setup(p0, process, extra=None, **more):
    table = as_table(p0)
    out = {
        "process": getattr(process, "name", repr(process)),
        "schedule": repr(process.schedule),
        "N": int(table.shape[0]),
        "L": int(table.ndim),
    }
    out.update(extra or {})
    out.update(more)
    return out


def _rate_scale(process, t, L):
    """σ(t)·L·max|Q_ii|: the size of the individual terms of ℓ_DSE at time t."""
    Q = process.Q if process.token_wise else process.G
    per = float(np.abs(np.diag(Q)).max())
    return process.rate(t) * (L * per if process.token_wise else per)


#: Below this total noise a finite difference of the KL cannot reach 1e-7 in float64.
SBAR_MIN_FD = 1e-6
#: Beyond this total noise σ̄ every toy is mixed to machine precision.
SBAR_MAX = 1e3


def _times_in_domain(process, times):
    """The times inside the schedule's domain with σ̄(t) <= SBAR_MAX."""
    out = []
    for t in times:
        if not 0 < t < process.schedule.t_max:
            continue
        try:
            if process.total(t) <= SBAR_MAX:
                out.append(float(t))
        except ValueError:
            continue
    return out


#: Largest noisy-state count for which the Theorem 3.1 check computes mdse by the
#: literal dense sum, independent of the factorized KL derivative.
DENSE_ROUTE_MAX_STATES = 1024


def check_theorem_3_1(p0, process, times=DEFAULT_TIMES, engine="auto", setup=None,
                      mdse_fn=mdse, tol=TOL_DERIVATIVE):
    """Theorem 3.1 pointwise and marginal: d/dt KL(p_{t|0}(·|x0) ‖ p_t) = −mdse(x0, t).

    Left side: the analytic derivative of the KL (from ṗ = σQp). Right side:
    −mdse(x0, t) from the score entropy. Both for every x0 in the support and every
    time. With ``engine="auto"`` on a space of at most 1024 noisy states the two sides
    take different engines (factorized derivative, dense mdse summed from the
    definition), so they share no algebra. The relative error is measured against
    max(|lhs|, |rhs|, σ(t)·L·max|Q_ii|):
    once the KL has decayed to nothing, the tolerance applies relative to the size of
    the DSE terms being summed rather than to their vanishing total. Returns two
    results: pointwise and marginal (d/dt I = −mdse(t)).
    """
    table = as_table(p0)
    times = _times_in_domain(process, times)
    if not times:
        raise ValueError(f"no time of `times` lies inside the domain of {process.schedule!r}.")
    support = table > 0
    mdse_engine = engine
    if engine == "auto" and process.token_wise and process.n**table.ndim <= DENSE_ROUTE_MAX_STATES:
        engine, mdse_engine = "factorized", "dense"
    lhs, rhs, scale, lhs_m, rhs_m, scale_m = [], [], [], [], [], []
    for t in times:
        d = pointwise_kl_derivative(p0, process, t, engine)[support]
        m = mdse_fn(p0, process, t, pointwise=True, engine=mdse_engine)[support]
        floor = _rate_scale(process, t, table.ndim)
        lhs.append(d)
        rhs.append(-m)
        scale.append(np.maximum(np.maximum(np.abs(d), np.abs(m)), floor))
        lhs_m.append(mutual_information_derivative(p0, process, t, engine))
        rhs_m.append(-float(table[support] @ m))
        scale_m.append(max(abs(lhs_m[-1]), abs(rhs_m[-1]), floor))
    note = ("rel. to max(|lhs|, |rhs|, σ(t)·L·max|Q_ii|); where the KL has decayed the "
            "rate scale σ(t)·L·max|Q_ii| applies")
    info = _setup(p0, process, setup, times=[float(t) for t in times], engine=engine, mdse_engine=mdse_engine)
    return [
        compare("I-MDSE pointwise: dKL/dt = -mdse(x0,t)", "Theorem 3.1", info,
                np.concatenate(lhs), np.concatenate(rhs), tol, np.concatenate(scale), note),
        compare("I-MDSE marginal: dI/dt = -mdse(t)", "Theorem 3.1", info,
                lhs_m, rhs_m, tol, scale_m, note),
    ]


def _fd_step(process, t):
    """h = 0.4·min(t, σ̄(t)/σ(t), 1): a fraction of t and of the schedule's own time
    scale, inside the domain. With four Richardson levels the smallest step is h/8;
    larger steps would lose to truncation, smaller ones to rounding near t = 1e-6."""
    h = 0.4 * min(t, process.total(t) / process.rate(t), 1.0)
    return min(h, 0.45 * (process.schedule.t_max - t)) if np.isfinite(process.schedule.t_max) else h


def check_theorem_3_1_finite_difference(p0, process, times=DEFAULT_TIMES, engine="auto", setup=None,
                                        mdse_fn=mdse, tol=TOL_FINITE_DIFFERENCE):
    """Theorem 3.1 against a Richardson finite difference of the KL (no analytic derivative).

    Step h = 0.4·min(t, σ̄(t)/σ(t), 1), four levels of Richardson extrapolation (error O(h⁸)).
    Relative error as in :func:`check_theorem_3_1`. Times with σ̄(t) < 1e-6 are
    skipped: there the KL moves by less than ~1e-7 of itself across any admissible
    step, below what float64 differencing resolves to 1e-7 (the analytic check of
    :func:`check_theorem_3_1` covers them).
    """
    table = as_table(p0)
    support = table > 0
    lhs, rhs, scale = [], [], []
    times = [t for t in _times_in_domain(process, times) if process.total(t) >= SBAR_MIN_FD]
    for t in times:
        h = _fd_step(process, t)
        d = richardson_derivative(lambda s: pointwise_kl(p0, process, s, engine)[support], t, h, levels=4)
        m = mdse_fn(p0, process, t, pointwise=True, engine=engine)[support]
        lhs.append(d)
        rhs.append(-m)
        scale.append(np.maximum(np.maximum(np.abs(d), np.abs(m)), _rate_scale(process, t, table.ndim)))
    info = _setup(p0, process, setup, times=times, engine=engine,
                  method="Richardson, h=0.4*min(t, sbar/sigma, 1), 4 levels")
    return compare("I-MDSE pointwise: Richardson dKL/dt = -mdse(x0,t)", "Theorem 3.1", info,
                   np.concatenate(lhs), np.concatenate(rhs), tol, np.concatenate(scale),
                   "rel. to max(|lhs|, |rhs|, σ(t)·L·max|Q_ii|)")


#: Above this many states the checks integrate with the fixed Gauss–Legendre rule:
#: ``quad_vec``'s max-norm error estimate meets the integrand's rounding noise there.
QUAD_VEC_MAX_STATES = 4096


def _quadrature(table):
    return "quad_vec" if table.size <= QUAD_VEC_MAX_STATES else "gauss-legendre"


def _nll(table):
    support = table > 0
    return -np.log(table[support]), support


def check_theorem_3_2(p0, process, T, engine="auto", setup=None, kl_fn=pointwise_kl, tol=TOL_INTEGRAL):
    """Theorem 3.2 at finite T: −log p0(x0) = ∫_0^T mdse(x0, t) dt + KL(p_{T|0}(·|x0) ‖ p_T).

    For every x0 in the support. The integral is taken in u = log σ̄(t) (see
    :func:`exactdiff.mdse_integral`); the KL is against the true marginal p_T.
    """
    table = as_table(p0)
    nll, support = _nll(table)
    integral, err = mdse_integral(p0, process, T, engine=engine, method=_quadrature(table))
    rhs = integral[support] + kl_fn(p0, process, T, engine)[support]
    info = _setup(p0, process, setup, T=float(T), engine=engine, quadrature_error=float(err))
    return compare("NLL = int_0^T mdse dt + KL(T)", "Theorem 3.2", info, nll, rhs, tol,
                   scale=np.maximum(np.maximum(np.abs(nll), np.abs(rhs)), 1.0),
                   note="quadrature in u = log σ̄(t), scipy quad_vec; rel. to max(|NLL|, 1 nat)")


def check_theorem_3_2_infinite(p0, process, engine="auto", setup=None, kl_floor=None, tol=TOL_INTEGRAL):
    """Theorem 3.2 as T → ∞ for a mixing chain: −log p0(x0) = ∫_0^∞ mdse(x0, t) dt.

    ``kl_floor`` defaults to 1e-12·L·log n, above the rounding noise of a KL formed from
    O(L log n) terms. T is increased (σ̄(T) doubled) until max_x0 KL(p_{T|0}(·|x0) ‖ p_T) < ``kl_floor``; the left-out
    tail ∫_T^∞ mdse dt equals that KL, so it is below the tolerance.
    """
    table = as_table(p0)
    if np.isfinite(process.schedule.t_max):
        raise ValueError(f"T → ∞ needs a schedule defined for all t >= 0 (got {process.schedule!r}).")
    nll, support = _nll(table)
    if kl_floor is None:
        kl_floor = 1e-12 * table.ndim * np.log(process.n)
    sbar = 1.0
    while np.max(pointwise_kl(p0, process, process.schedule.time_of_total(sbar), engine)[support]) >= kl_floor:
        sbar *= 2
        if sbar > SBAR_MAX:
            raise ValueError("the chain does not mix: KL(p_{T|0} ‖ p_T) stays above the floor.")
    T = process.schedule.time_of_total(sbar)
    integral, err = mdse_integral(p0, process, T, engine=engine, method=_quadrature(table))
    info = _setup(p0, process, setup, T_effective=T, kl_floor=kl_floor, engine=engine)
    return compare("NLL = int_0^inf mdse dt", "Theorem 3.2 (T → ∞)", info, nll, integral[support], tol,
                   scale=np.maximum(np.maximum(np.abs(nll), np.abs(integral[support])), 1.0),
                   note=f"integrated to T={T:g} where every KL < {kl_floor:g}; rel. to max(|NLL|, 1 nat)")


def check_entropy_integral(p0, process, T=None, engine="auto", setup=None, tol=TOL_INTEGRAL):
    """The average form: H(p0) = ∫_0^T mdse(t) dt + I(x0; x_T) (T = ∞ when I(T) vanishes).

    Left side from ``scipy.special.entr`` on p0; right side from the integral of
    the marginal mdse and the mutual information at T.
    """
    table = as_table(p0)
    if T is None:  # the end of the domain, or where σ̄ = 50 and everything has mixed
        T = min(process.schedule.t_max, process.schedule.time_of_total(50.0))
    integral, err = mdse_integral(p0, process, T, engine=engine, method=_quadrature(table))
    support = table > 0
    rhs = float(table[support] @ integral[support]) + mutual_information(p0, process, T, engine)
    from scipy.special import entr

    info = _setup(p0, process, setup, T=float(T), engine=engine)
    H = float(entr(table).sum())
    return compare("H(p0) = int_0^T mdse(t) dt + I(T)", "Theorem 3.2 (average)", info,
                   H, rhs, tol, scale=max(abs(H), abs(rhs), 1.0), note="rel. to max(|H|, 1 nat)")


def check_engines_agree(p0, process, t, setup=None, tol=TOL_ENGINES):
    """Dense and factorized engines: pointwise KL and mdse for all x0, and I(x0; x_t).

    Relative error against the size of the terms: max(|value|, H_max) with
    H_max = L·log n, since both engines form the KL as a difference of O(L log n) terms.
    """
    table = as_table(p0)
    support = table > 0
    floor = table.ndim * np.log(process.n)
    a = pointwise_kl(p0, process, t, "dense")[support]
    b = pointwise_kl(p0, process, t, "factorized")[support]
    ma = mdse(p0, process, t, pointwise=True, engine="dense")[support]
    mb = mdse(p0, process, t, pointwise=True, engine="factorized")[support]
    info = _setup(p0, process, setup, t=float(t))
    return [
        compare("dense = factorized: pointwise KL", "engine", info, a, b, tol,
                np.maximum(np.maximum(np.abs(a), np.abs(b)), floor), "rel. to max(|value|, L log n)"),
        compare("dense = factorized: pointwise mdse", "engine", info, ma, mb, tol * 10,
                np.maximum(np.maximum(np.abs(ma), np.abs(mb)), _rate_scale(process, t, table.ndim)),
                "rel. to max(|value|, σ(t)·L·max|Q_ii|)"),
    ]


def check_information_entropies(p0, process, t, engine="auto", setup=None, tol=TOL_ENGINES):
    """I(x0; x_t) = H(p_t) − H(x_t | x0): the mutual information along two routes."""
    lhs = mutual_information(p0, process, t, engine)
    rhs = marginal_entropy(p0, process, t, engine) - conditional_entropy(p0, process, t, engine)
    scale = max(abs(lhs), abs(rhs), marginal_entropy(p0, process, t, engine))
    return compare("I = H(p_t) - H(x_t|x0)", "definition", _setup(p0, process, setup, t=float(t)),
                   lhs, rhs, tol, scale, "rel. to H(p_t)")


def check_variational_bound(p0, process, T, delta=0.3, seed=0, engine="auto", setup=None, tol=1e-9):
    """The DSE variational bound: E_{x0}[L^T_DSE(x0; s)] >= E_{x0}[L^T_DSE(x0; s*)].

    The perturbed score is s*_t · exp(δ·Z) with Z ~ N(0, 1) fixed per (state,
    neighbour) (seeded). The pointwise gaps L(s) − L(s*) are reported in ``setup``:
    they have no guaranteed sign, and none is claimed. Passes when the averaged gap
    is >= −tol·|E L(s*)|.
    """
    table = as_table(p0)
    L = table.ndim
    support = table > 0
    shape = concrete_score(p0, process, 0.5 * min(T, 1.0)).shape
    Z = np.random.default_rng(seed).standard_normal(shape)

    def perturbed(t):
        return concrete_score(p0, process, t) * np.exp(delta * Z)

    opt, _ = mdse_integral(p0, process, T, engine=engine, method=_quadrature(table))
    pert, err = dse_integral(process, T, perturbed, L=L, engine=engine)
    gaps = pert[support] - opt[support]
    lhs = float(table[support] @ pert[support])
    rhs = float(table[support] @ opt[support])
    info = _setup(p0, process, setup, T=float(T), delta=delta, seed=seed,
                  pointwise_gap_min=float(gaps.min()), pointwise_gap_max=float(gaps.max()),
                  fraction_negative_gaps=float(np.mean(gaps < 0)))
    gap = lhs - rhs
    violation = max(0.0, -gap)  # a one-sided check: only a negative averaged gap is an error
    from .result import CheckResult

    info["averaged_gap"] = gap
    return CheckResult("E[L_DSE(s)] >= E[L_DSE(s*)]", "variational bound (Sec. 3)", info, lhs, rhs,
                       violation, violation / abs(rhs), tol, bool(violation <= tol * abs(rhs)),
                       f"one-sided: the averaged gap {gap:.3g} must be >= 0; pointwise gaps range "
                       f"{gaps.min():.3g}..{gaps.max():.3g} ({100 * np.mean(gaps < 0):.0f}% negative)")
