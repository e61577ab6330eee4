"""Checks of I-MDSE (Theorem 3.1), the NLL decomposition (Theorem 3.2), the average form,
the DSE variational bound and the entropy decomposition of I, each along two
independent routes. Every check returns a list of :class:`CheckResult`.

Routes. The left side of Theorem 3.1 is the analytic derivative of the KL (from
ṗ = σQp, factorized engine for token-wise processes); the right side is the score
entropy summed from its definition by the dense engine — on every x0 when the noisy
space has at most :data:`~exactdiff.information.engines.DENSE_ROUTE_MAX_STATES` states,
on a seeded sample of x0 above it (:func:`sample_x0`), so no row has the factorized
route checking itself.
"""

from __future__ import annotations

import numpy as np
from scipy.special import entr

from ..core.numerics import richardson_derivative
from ..core.validation import as_table
from ..information import (
    concrete_score,
    conditional_entropy,
    marginal_entropy,
    mdse,
    mdse_integral,
    mutual_information,
    mutual_information_derivative,
    pointwise_kl,
    pointwise_kl_derivative,
)
from ..information.divergences import term_scale
from ..information.engines import DENSE_ROUTE_MAX_STATES
from ..information.integrals import time_nodes
from .reference import reference_expected_dse
from .result import CheckResult, compare

__all__ = [
    "DEFAULT_TIMES",
    "check_entropy_integral",
    "check_information_entropies",
    "check_theorem_3_1",
    "check_theorem_3_1_finite_difference",
    "check_theorem_3_2",
    "check_theorem_3_2_infinite",
    "check_variational_bound",
    "fd_step",
    "sample_x0",
]

#: Times spanning 1e-6 to 1e2 on a log grid.
DEFAULT_TIMES = tuple(np.logspace(-6, 2, 9))

#: Analytic derivative against the summed definition: both exact up to rounding
#: (measured below 1e-13); a result off by a relative 1e-8 fails.
TOL_DERIVATIVE = 1e-10
#: Richardson finite differences (4 levels) at times with σ̄(t) >= SBAR_MIN_FD: measured
#: residuals up to 4e-10 on the default toys; a result off by 1e-8 fails.
TOL_FINITE_DIFFERENCE = 5e-9
#: Quadrature in log σ̄ asked for epsrel 1e-12 (measured residuals below 1e-12).
TOL_INTEGRAL = 1e-10
#: Identities between two exact routes (entropies).
TOL_EXACT = 1e-12

#: Below this total noise a finite difference of the KL loses more than 1e-9 to
#: rounding (the KL moves by ~σ̄ log(1/σ̄) across a step of σ̄).
SBAR_MIN_FD = 1e-4
#: Beyond this total noise σ̄ every toy is mixed to machine precision.
SBAR_MAX = 1e3
#: How many x0 (besides the most and least probable) the dense route evaluates on a toy
#: above the dense threshold.
N_SAMPLE = 8


def setup_of(p0, process, extra=None, **more):
    """The ``setup`` dict of a result: process, schedule, N, L and the extras."""
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


def times_in_domain(process, times):
    """The times inside the schedule's domain with 0 < σ̄(t) <= SBAR_MAX."""
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


def sample_x0(table, process, seed=0, size=N_SAMPLE):
    """The x0 the dense route evaluates: None (all of them) when the noisy space has at
    most DENSE_ROUTE_MAX_STATES states; otherwise an integer array (m, L) holding the most
    and the least probable sequence of the support and a seeded uniform sample of it."""
    if process.n**table.ndim <= DENSE_ROUTE_MAX_STATES:
        return None
    support = np.argwhere(table > 0)
    probs = table[tuple(support.T)]
    rng = np.random.default_rng(seed)
    picks = {int(np.argmax(probs)), int(np.argmin(probs))}
    picks.update(int(i) for i in rng.choice(len(support), size=min(size, len(support)), replace=False))
    return support[sorted(picks)]


def _at_support(table, at):
    """(the x0 compared, as an index into pointwise tables; their p0)."""
    if at is None:
        support = table > 0
        return support, table[support]
    return tuple(at.T), table[tuple(at.T)]


def check_theorem_3_1(p0, process, times=DEFAULT_TIMES, *, setup=None, seed=0, tol=TOL_DERIVATIVE):
    """Theorem 3.1, pointwise and marginal: d/dt KL(p_{t|0}(·|x0) ‖ p_t) = −mdse(x0, t).

    Left side: the analytic derivative of the KL (from ṗ = σQp; factorized engine for a
    token-wise process). Right side: −mdse(x0, t) summed from its definition by the dense
    engine, on every x0 of the support or, above the dense threshold, on the sample of
    :func:`sample_x0` (seeded by ``seed``) at every other of the default times. The
    relative error is measured against
    max(|lhs|, |rhs|, σ(t)·L·max|Q_ii|): once the KL has decayed, the tolerance applies
    relative to the size of the DSE terms summed rather than to their vanishing total.
    The marginal form d/dt I = −mdse(t) is checked where every x0 is evaluated.
    """
    table = as_table(p0)
    times = times_in_domain(process, times)
    if not times:
        raise ValueError(f"no time of `times` lies inside the domain of {process.schedule!r}.")
    at = sample_x0(table, process, seed)
    if at is not None and times == times_in_domain(process, DEFAULT_TIMES):
        times = times[::2]  # a sample of x0 on a large toy: every other default time
    idx, weights = _at_support(table, at)
    lhs, rhs, scale, lhs_m, rhs_m, scale_m = [], [], [], [], [], []
    for t in times:
        d = pointwise_kl_derivative(p0, process, t)[idx]
        m = mdse(p0, process, t, pointwise=True, engine="dense", at=at)
        m = m[idx] if at is None else m
        floor = term_scale(process, t, table.ndim)
        lhs.append(d)
        rhs.append(-m)
        scale.append(np.maximum(np.maximum(np.abs(d), np.abs(m)), floor))
        if at is None:
            lhs_m.append(mutual_information_derivative(p0, process, t))
            rhs_m.append(-float(weights @ m))
            scale_m.append(max(abs(lhs_m[-1]), abs(rhs_m[-1]), floor))
    note = ("rel. to max(|lhs|, |rhs|, σ(t)·L·max|Q_ii|); where the KL has decayed the "
            "rate scale σ(t)·L·max|Q_ii| applies")
    lhs_engine = "factorized" if process.token_wise else "dense"
    info = setup_of(p0, process, setup, times=times, lhs_engine=lhs_engine, rhs_engine="dense",
                    x0=("all" if at is None else f"sample of {len(at)} (seed {seed})"))
    out = [compare("I-MDSE pointwise: dKL/dt = -mdse(x0,t)", "Theorem 3.1", info,
                   np.concatenate(lhs), np.concatenate(rhs), tol, np.concatenate(scale), note)]
    if at is None:
        out.append(compare("I-MDSE marginal: dI/dt = -mdse(t)", "Theorem 3.1", info, lhs_m, rhs_m, tol, scale_m, note))
    return out


def fd_step(schedule, t):
    """h = 0.2·min(t, σ̄(t)/σ(t), 1): a fraction of t and of the schedule's own time
    scale, inside the domain (at most 0.25 of the distance to its end). With four
    Richardson levels the smallest step is h/8. (Measured on the default toys: 0.2 gives
    residuals below 4e-10, 0.4 up to 2e-8 from the h⁸ truncation term.)"""
    h = 0.2 * min(t, schedule.total(t) / schedule.rate(t), 1.0)
    return min(h, 0.25 * (schedule.t_max - t)) if np.isfinite(schedule.t_max) else h


def check_theorem_3_1_finite_difference(p0, process, times=DEFAULT_TIMES, *, setup=None, seed=0,
                                        tol=TOL_FINITE_DIFFERENCE):
    """Theorem 3.1 against a Richardson finite difference of the KL (no analytic derivative).

    Step h = 0.2·min(t, σ̄(t)/σ(t), 1) (:func:`fd_step`), four levels of Richardson
    extrapolation (error O(h⁸)).
    Relative error as in :func:`check_theorem_3_1`. Times with σ̄(t) < SBAR_MIN_FD are
    skipped: there the KL moves too little across any admissible step for float64
    differencing to reach the tolerance (the analytic check covers them). The mdse side
    is the factorized contraction for token-wise processes: the finite difference of the
    KL shares nothing with it.
    """
    table = as_table(p0)
    at = sample_x0(table, process, seed)
    idx, _ = _at_support(table, at)
    lhs, rhs, scale = [], [], []
    times = [t for t in times_in_domain(process, times) if process.total(t) >= SBAR_MIN_FD]
    for t in times:
        h = fd_step(process.schedule, t)
        d = richardson_derivative(lambda s: pointwise_kl(p0, process, s)[idx], t, h, levels=4)
        m = mdse(p0, process, t, pointwise=True)[idx]
        lhs.append(d)
        rhs.append(-m)
        scale.append(np.maximum(np.maximum(np.abs(d), np.abs(m)), term_scale(process, t, table.ndim)))
    info = setup_of(p0, process, setup, times=times, method="Richardson, h=0.2*min(t, sbar/sigma, 1), 4 levels")
    return [compare("I-MDSE pointwise: Richardson dKL/dt = -mdse(x0,t)", "Theorem 3.1", info,
                    np.concatenate(lhs), np.concatenate(rhs), tol, np.concatenate(scale),
                    "rel. to max(|lhs|, |rhs|, σ(t)·L·max|Q_ii|)")]


#: Above this many states the checks integrate with the fixed Gauss–Legendre rule:
#: ``quad_vec``'s max-norm error estimate meets the integrand's rounding noise there.
QUAD_VEC_MAX_STATES = 4096


def quadrature_for(table):
    return "quad_vec" if table.size <= QUAD_VEC_MAX_STATES else "gauss-legendre"


def _nll(table):
    support = table > 0
    return -np.log(table[support]), support


def check_theorem_3_2(p0, process, T, *, setup=None, tol=TOL_INTEGRAL):
    """Theorem 3.2 at finite T: −log p0(x0) = ∫_0^T mdse(x0, t) dt + KL(p_{T|0}(·|x0) ‖ p_T).

    For every x0 in the support. The integral is taken in u = log σ̄(t) (see
    :func:`exactdiff.information.integrals.mdse_integral`); the KL is against the true
    marginal p_T.
    """
    table = as_table(p0)
    nll, support = _nll(table)
    integral, err = mdse_integral(p0, process, T, pointwise=True, quadrature=quadrature_for(table))
    rhs = integral[support] + pointwise_kl(p0, process, T)[support]
    info = setup_of(p0, process, setup, T=float(T), quadrature_error=float(err))
    return [compare("NLL = int_0^T mdse dt + KL(T)", "Theorem 3.2", info, nll, rhs, tol,
                    scale=np.maximum(np.maximum(np.abs(nll), np.abs(rhs)), 1.0),
                    note="quadrature in u = log σ̄(t); rel. to max(|NLL|, 1 nat)")]


def check_theorem_3_2_infinite(p0, process, *, setup=None, kl_floor=None, tol=TOL_INTEGRAL):
    """Theorem 3.2 as T → ∞ for a mixing chain: −log p0(x0) = ∫_0^∞ mdse(x0, t) dt.

    ``kl_floor`` defaults to 1e-12·L·log n, above the rounding noise of a KL formed from
    O(L log n) terms. T is increased (σ̄(T) doubled) until max_x0 KL(p_{T|0}(·|x0) ‖ p_T)
    < ``kl_floor``; the left-out tail ∫_T^∞ mdse dt equals that KL, so it is below the
    tolerance.
    """
    table = as_table(p0)
    if np.isfinite(process.schedule.t_max):
        raise ValueError(f"T → ∞ needs a schedule defined for all t >= 0 (got {process.schedule!r}).")
    nll, support = _nll(table)
    if kl_floor is None:
        kl_floor = 1e-12 * table.ndim * np.log(process.n)
    sbar = 1.0
    while np.max(pointwise_kl(p0, process, process.schedule.time_of_total(sbar))[support]) >= kl_floor:
        sbar *= 2
        if sbar > SBAR_MAX:
            raise ValueError("the chain does not mix: KL(p_{T|0} ‖ p_T) stays above the floor.")
    T = process.schedule.time_of_total(sbar)
    integral, err = mdse_integral(p0, process, T, pointwise=True, quadrature=quadrature_for(table))
    info = setup_of(p0, process, setup, T_effective=T, kl_floor=kl_floor)
    return [compare("NLL = int_0^inf mdse dt", "Theorem 3.2 (T → ∞)", info, nll, integral[support], tol,
                    scale=np.maximum(np.maximum(np.abs(nll), np.abs(integral[support])), 1.0),
                    note=f"integrated to T={T:g} where every KL < {kl_floor:g}; rel. to max(|NLL|, 1 nat)")]


def check_entropy_integral(p0, process, T=None, *, setup=None, tol=TOL_INTEGRAL):
    """The average form: H(p0) = ∫_0^T mdse(t) dt + I(x0; x_T) (T = ∞ when I(T) vanishes).

    Left side from ``scipy.special.entr`` on p0; right side from the integral of
    the averaged mdse(t) (a scalar integrand, not the pointwise integrals of Theorem 3.2
    averaged) and the mutual information at T.
    """
    table = as_table(p0)
    if T is None:  # the end of the domain, or where σ̄ = 50 and everything has mixed
        T = min(process.schedule.t_max, process.schedule.time_of_total(50.0))
    integral, err = mdse_integral(p0, process, T, pointwise=False)
    rhs = integral + mutual_information(p0, process, T)
    info = setup_of(p0, process, setup, T=float(T))
    H = float(entr(table).sum())
    return [compare("H(p0) = int_0^T mdse(t) dt + I(T)", "Theorem 3.2 (average)", info,
                    H, rhs, tol, scale=max(abs(H), abs(rhs), 1.0), note="rel. to max(|H|, 1 nat)")]


def check_information_entropies(p0, process, t, *, setup=None, tol=TOL_EXACT):
    """I(x0; x_t) = H(p_t) − H(x_t | x0): the mutual information along two routes."""
    lhs = mutual_information(p0, process, t)
    H = marginal_entropy(p0, process, t)
    rhs = H - conditional_entropy(p0, process, t)
    return [compare("I = H(p_t) - H(x_t|x0)", "definition", setup_of(p0, process, setup, t=float(t)),
                    lhs, rhs, tol, max(abs(lhs), abs(rhs), H), "rel. to H(p_t)")]


def check_variational_bound(p0, process, T, *, delta=0.3, seed=0, setup=None, tol=1e-9):
    """The DSE variational bound: E_{x0}[L^T_DSE(x0; s)] >= E_{x0}[L^T_DSE(x0; s*)].

    The perturbed score is s*_t · exp(δ·Z) with Z ~ N(0, 1) fixed per (state,
    neighbour) (seeded). The bound holds at every t (s* minimises the averaged DSE at
    each time), so both sides are summed on one grid of positive weights
    (:func:`~exactdiff.information.integrals.time_nodes`, Gauss–Legendre in log σ̄):
    the grid's quadrature error cannot change the sign of the averaged gap. Route of
    each side: the expected DSE of the perturbed score (any-score formula) against mdse
    (its own formula). The pointwise gaps L(s) − L(s*) are reported in ``setup``: they
    have no guaranteed sign, and none is claimed. Passes when the averaged gap is
    >= −tol·|E L(s*)|.
    """
    table = as_table(p0)
    L = table.ndim
    support = table > 0
    times, weights = time_nodes(process, T, order=8)
    Z = None
    pert = np.zeros(int(support.sum()))
    opt = np.zeros_like(pert)
    for t, w in zip(times, weights):
        s_star = concrete_score(p0, process, t)
        if Z is None:
            Z = np.random.default_rng(seed).standard_normal(s_star.shape)
        pert += w * reference_expected_dse(s_star * np.exp(delta * Z), process, t, L=L)[support]
        opt += w * mdse(p0, process, t, pointwise=True)[support]
    gaps = pert - opt
    lhs = float(table[support] @ pert)
    rhs = float(table[support] @ opt)
    info = setup_of(p0, process, setup, T=float(T), delta=delta, seed=seed, nodes=len(times),
                    pointwise_gap_min=float(gaps.min()), pointwise_gap_max=float(gaps.max()),
                    fraction_negative_gaps=float(np.mean(gaps < 0)))
    gap = lhs - rhs
    violation = max(0.0, -gap)  # a one-sided check: only a negative averaged gap is an error
    info["averaged_gap"] = gap
    return [CheckResult("E[L_DSE(s)] >= E[L_DSE(s*)]", "variational bound (Sec. 3)", info, lhs, rhs,
                        violation, violation / abs(rhs), tol, bool(violation <= tol * abs(rhs)),
                        f"one-sided: the averaged gap {gap:.3g} must be >= 0; pointwise gaps range "
                        f"{gaps.min():.3g}..{gaps.max():.3g} ({100 * np.mean(gaps < 0):.0f}% negative)")]
