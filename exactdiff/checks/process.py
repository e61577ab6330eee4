"""Checks of the forward process itself: the kernels of the uniform and absorbing
processes against their closed forms (the paper's normalisation), and each schedule's
rate σ(t) against the derivative of its total noise σ̄(t). Every check returns a list of
:class:`CheckResult`."""

from __future__ import annotations

import numpy as np

from ..core.numerics import richardson_derivative
from ..process import Constant, absorbing, absorbing_kernel, masking_kernel, masking_time, uniform, uniform_kernel
from .result import compare
from .score_entropy import fd_step

__all__ = ["check_kernels", "check_schedule_rate"]

#: scipy's expm against a closed form: measured agreement below 1e-15.
TOL_KERNEL = 1e-12
#: σ(t) against a 4-level Richardson derivative of σ̄ (smooth): measured below 1e-11.
TOL_RATE = 5e-9

#: Total noises at which the kernels are compared.
SBARS = (1e-6, 1e-3, 0.1, 0.7, 2.0, 10.0, 40.0)


def check_kernels(N, sbars=SBARS, *, setup=None):
    """exp(σ̄ Q) of :func:`~exactdiff.uniform` and :func:`~exactdiff.absorbing` (scipy's
    ``expm`` of the generators as built) against MATH.md's closed forms

    - uniform: k = e^{−σ̄} I + (1 − e^{−σ̄}) 11ᵀ/N (Q = 11ᵀ/N − I);
    - absorbing: k(x|x) = e^{−σ̄}, k(M|x) = 1 − e^{−σ̄}, k(M|M) = 1;

    and the masking kernel k_λ against the absorbing kernel at σ̄ = −log(1 − λ)
    (:func:`~exactdiff.process.masking_time`). Absolute error on probabilities.
    """
    unif, absb = uniform(N, Constant(1.0)), absorbing(N, Constant(1.0))
    a_u, b_u, a_a, b_a, a_m, b_m = [], [], [], [], [], []
    for sbar in sbars:
        a_u.append(unif.kernel(sbar).ravel())
        b_u.append(uniform_kernel(N, sbar).ravel())
        a_a.append(absb.kernel(sbar).ravel())
        b_a.append(absorbing_kernel(N, sbar).ravel())
        lam = -np.expm1(-sbar)
        if lam < 1.0:  # λ rounds to 1 beyond σ̄ ≈ 37
            a_m.append(masking_kernel(N, lam).ravel())
            b_m.append(absb.kernel(masking_time(absb, lam))[:, :N].ravel())
    info = dict(setup or {}, N=int(N), sbars=list(sbars))
    note = "absolute error on kernel entries (probabilities)"
    return [
        compare("uniform kernel: expm(sbar Q) = closed form", "forward process (MATH.md)", dict(info, process="uniform"),
                np.concatenate(a_u), np.concatenate(b_u), TOL_KERNEL, 1.0, note),
        compare("absorbing kernel: expm(sbar Q) = closed form", "forward process (MATH.md)",
                dict(info, process="absorbing"), np.concatenate(a_a), np.concatenate(b_a), TOL_KERNEL, 1.0, note),
        compare("masking kernel = absorbing kernel at sbar = -log(1-lam)", "masked diffusion in λ",
                dict(info, process="absorbing (λ)"), np.concatenate(a_m), np.concatenate(b_m), TOL_KERNEL, 1.0, note),
    ]


def check_schedule_rate(schedule, times=None, *, setup=None, tol=TOL_RATE):
    """σ(t) = dσ̄/dt for a schedule, against a 4-level Richardson derivative of σ̄ at
    times inside its domain (default: a log grid from 1e-3 to 2, or to 0.9 of the end of
    the domain), and σ̄(0) = 0. Step: :func:`~exactdiff.checks.score_entropy.fd_step`.

    The first row holds both forms of the rate: ``rate(t)`` and the array form
    ``rates_of_total(totals(t))`` that the score-model quadrature uses, each against the
    same Richardson derivative of the scalar ``total``."""
    t_end = min(2.0, 0.9 * schedule.t_max)
    times = np.geomspace(1e-3, t_end, 9) if times is None else np.asarray(times, dtype=float)
    lhs, rhs = [], []
    for t in times:
        lhs.append(schedule.rate(t))
        rhs.append(richardson_derivative(schedule.total, t, fd_step(schedule, t), levels=4))
    lhs.extend(schedule.rates_of_total(schedule.totals(times)))
    rhs = rhs + rhs
    info = dict(setup or {}, schedule=repr(schedule), times=[float(t) for t in times])
    return [
        compare("sigma(t) = d sigma_bar/dt", "schedule", info, lhs, rhs, tol,
                note="rate(t) and rates_of_total(totals(t)) vs Richardson, 4 levels, "
                     "h = 0.2·min(t, σ̄/σ, 1, distance to the end of the domain)"),
        compare("sigma_bar(0) = 0", "schedule", info, schedule.total(0.0), 0.0, 0.0, 1.0,
                "exactdiff's schedules start at zero noise"),
    ]
