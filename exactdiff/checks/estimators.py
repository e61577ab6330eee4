"""Checks of the Monte Carlo likelihood estimators: their exact means against the exact
NLL, and their exact means and variances against a seeded Monte Carlo run. Every check
returns a list of :class:`CheckResult`.

The Monte Carlo rows are statistical: their residual is measured in standard errors (a
z-score: ``rel_err`` is |z| and ``tol`` the bound), the standard error of a mean being
√(Var/n) and that of a sample variance √((μ4 − σ⁴)/n + 2σ⁴/(n(n−1))) from the exact
fourth central moment. Each estimator draws from its own stream (``SeedSequence(seed).spawn``); its mean
and variance rows come from the same run.
"""

from __future__ import annotations

import numpy as np

from ..core.validation import as_table
from ..masked import OracleDenoiser, estimate_log_ratio, estimate_nll, estimator_moments, log_ratio_moments
from .masked import masked_setup
from .result import CheckResult, compare

__all__ = ["check_estimator_means", "check_estimator_monte_carlo", "Z_BOUND"]

#: The bound on |z| of a Monte Carlo row: a correct estimator passes a given seed with
#: probability about 1 − 6e-7 per row.
Z_BOUND = 5.0
#: Exact means against −log p0 (two exact routes).
TOL_EXACT = 1e-12

#: The estimators and their options.
LAWS_CHECKED = (("time_free", {}), ("k_dce", {}), ("time_integral", {"eps": 1e-3}))


def _z_result(name, info, lhs, rhs, stderr, bound, note):
    z = abs(lhs - rhs) / stderr if stderr > 0 else (0.0 if lhs == rhs else np.inf)
    if not np.isfinite(z):
        z = np.inf
    return CheckResult(name, "estimator (Monte Carlo)", info, float(lhs), float(rhs), float(abs(lhs - rhs)),
                       float(z), bound, bool(z <= bound), note)


def check_estimator_means(p0, x0s, *, setup=None):
    """E[one draw] of every estimator, exactly (:func:`~exactdiff.estimator_moments`, every
    mask enumerated, polynomials in λ integrated in exact rationals), against −log p0(x0):
    time-free, k-DCE and the time-integral without a cut-off, with the oracle denoiser."""
    table = as_table(p0)
    c = OracleDenoiser(p0)
    truth = np.array([-np.log(table[tuple(x)]) for x in x0s])
    out = []
    for law, _ in LAWS_CHECKED:
        mean = np.array([estimator_moments(c, np.asarray(x), law).mean for x in x0s])
        out.append(compare(f"E[{law} draw] = -log p0(x0), oracle", "Theorem 4.1 / Corollary 3.7 (estimators)",
                           masked_setup(table, setup, law=law, n_sequences=len(x0s)), mean, truth, TOL_EXACT,
                           np.maximum(truth, 1.0), "exact moments by mask enumeration; rel. to max(NLL, 1 nat)"))
    return out


def check_estimator_monte_carlo(p0, x0, y0, *, n=20000, seed=0, setup=None, bound=Z_BOUND):
    """Each estimator's exact mean and variance (:func:`~exactdiff.estimator_moments`,
    :func:`~exactdiff.log_ratio_moments`) against a seeded Monte Carlo run of ``n``
    draws, with the oracle denoiser: time-free, k-DCE and time-integral (cut-off 1e-3)
    for −log p0(x0), and the coupled and decoupled Eq. 18 estimators of
    log p0(y0) − log p0(x0). Two rows per estimator (mean, variance)."""
    table = as_table(p0)
    c = OracleDenoiser(p0)
    x0, y0 = np.asarray(x0), np.asarray(y0)
    streams = iter(np.random.SeedSequence(seed).spawn(len(LAWS_CHECKED) + 2))
    runs = []
    for law, kw in LAWS_CHECKED:
        exact = estimator_moments(c, x0, law, **kw)
        est = estimate_nll(c, x0, law, n, np.random.default_rng(next(streams)), **kw)
        runs.append((law, exact, est))
    for coupling in ("coupled", "decoupled"):
        exact = log_ratio_moments(c, y0, x0, coupling=coupling)
        est = estimate_log_ratio(c, y0, x0, n, np.random.default_rng(next(streams)), coupling=coupling)
        runs.append((f"log-ratio {coupling}", exact, est))
    out = []
    for name, exact, est in runs:
        info = masked_setup(table, setup, estimator=name, n=n, seed=seed)
        out.append(_z_result(f"MC mean = exact mean, {name}", info, est.estimate, exact.mean, exact.stderr(n), bound,
                             f"|z| of the mean of {n} draws; exact variance {exact.variance:.4g}"))
        out.append(_z_result(f"MC variance = exact variance, {name}", info, float(est.samples.var(ddof=1)),
                             exact.variance, exact.variance_stderr(n), bound,
                             f"|z| of the sample variance of {n} draws (s.e. from the exact 4th moment)"))
    return out
