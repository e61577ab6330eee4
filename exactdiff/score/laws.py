"""Laws of σ̄ for the Monte Carlo DSE estimators, and the window [t_min, T] they draw in.

One draw of a DSE estimator is σ̄ ~ q (a density q_σ̄ over σ̄; over time
q_t(t) = q_σ̄(σ̄(t))·σ(t)), then x ~ p_{σ̄|0}(·|x0) token-wise, and D = h/q_σ̄(σ̄) + prior
(:mod:`~exactdiff.score.estimators`). Write λ = 1 − e^{−σ̄}: the masking level of the
absorbing process, and for the uniform process the probability that a token has been
redrawn uniformly (:mod:`exactdiff.process.masking`).

==================  ===========================================  ==============================
``law``             law of σ̄ on the window [σ̄(t_min), σ̄(T)]      variance at t_min = 0
==================  ===========================================  ==============================
``uniform_t``       t ~ U(t_min, T) (finite T)                   finite iff κ(x0) = 0
``log_sigma``       log σ̄ ~ U(log σ̄(t_min), log σ̄(T))            needs t_min > 0, σ̄(T) < ∞
``uniform_lambda``  λ ~ U(λ(t_min), λ(T)): the masked time-       finite iff κ(x0) = 0
                    integral law under the absorbing process
``power``           ρ·U(λ) + (1−ρ)·Beta(α, 1) in λ (α = 1/4;      finite (every model regular
                    ρ = 0.9 absorbing, 1/2 otherwise)             at σ̄ → 0), and E[D⁴] too
==================  ===========================================  ==============================

κ(x0) is the small-noise coefficient of E[h² | σ̄] (:mod:`~exactdiff.score.variance`).
Each law gives its density (:meth:`inv_density` returns 1/q_σ̄) and its singularity at
σ̄ = 0 (:meth:`beta`: q_σ̄ ~ σ̄^{−β}; None without one, i.e. t_min > 0).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..process.masking import lambda_of_total, total_of_lambda

__all__ = ["SIGMA_LAWS", "sigma_law", "Window", "window", "DEFAULT_RHO", "DEFAULT_ALPHA"]


@dataclasses.dataclass(frozen=True)
class Window:
    """[t_min, T] in time and its image [s_lo, s_hi] in σ̄ (s_hi may be ∞)."""

    process: object
    t_lo: float
    t_hi: float
    s_lo: float
    s_hi: float

    def inside(self, sbar):
        return self.s_lo <= sbar <= self.s_hi


def window(process, T=None, t_min=0.0) -> Window:
    """The :class:`Window` [t_min, T] of a process's schedule (T: default the end of its
    domain), checked: 0 <= t_min < T <= t_max."""
    sched = process.schedule
    if T is None:
        T = sched.t_max
    T = float(T)
    if not (T > 0) or T > sched.t_max:
        raise ValueError(f"`T` must lie in (0, {sched.t_max}] for {sched!r} (got {T}).")
    t_min = float(t_min)
    if not (0.0 <= t_min < T):
        raise ValueError(f"`t_min` must lie in [0, T) = [0, {T}) (got {t_min}).")
    s_hi = math.inf if math.isinf(T) else float(sched.total(T))
    s_lo = float(sched.total(t_min))
    if not s_hi > s_lo:
        raise ValueError(f"σ̄(T) must exceed σ̄(t_min) (got {s_hi} and {s_lo}).")
    return Window(process, t_min, T, s_lo, s_hi)


class _UniformT:
    """t ~ U(t_min, T): q_σ̄(σ̄) = 1/((T − t_min)·σ(t(σ̄))). At t_min = 0 the density tends
    to 1/(T σ(0)) as σ̄ → 0: bounded (β = 0)."""

    name = "uniform_t"

    def check(self, w):
        if math.isinf(w.t_hi):
            raise ValueError("law 'uniform_t' needs a finite `T` (t ~ U(t_min, T)).")

    def sample(self, w, n, rng):
        t = w.t_lo + (w.t_hi - w.t_lo) * rng.random(n)
        sbar = w.process.schedule.totals(t)
        return sbar, self.inv_density(w, sbar)

    def inv_density(self, w, sbar):
        return (w.t_hi - w.t_lo) * w.process.schedule.rates_of_total(sbar)

    def beta(self, w):
        return None if w.s_lo > 0 else 0.0


class _LogSigma:
    """log σ̄ ~ U(log σ̄(t_min), log σ̄(T)): q_σ̄ = 1/(σ̄ (u_hi − u_lo)); a bounded window,
    so every moment is finite."""

    name = "log_sigma"

    def check(self, w):
        if w.s_lo <= 0 or math.isinf(w.s_hi):
            raise ValueError("law 'log_sigma' needs `t_min` > 0 and a finite σ̄(T) "
                             f"(got σ̄(t_min) = {w.s_lo}, σ̄(T) = {w.s_hi}).")

    def _span(self, w):
        return math.log(w.s_hi) - math.log(w.s_lo)

    def sample(self, w, n, rng):
        sbar = np.exp(math.log(w.s_lo) + self._span(w) * rng.random(n))
        return sbar, self.inv_density(w, sbar)

    def inv_density(self, w, sbar):
        return np.asarray(sbar, dtype=np.float64) * self._span(w)

    def beta(self, w):
        return None


#: The largest λ below 1: a draw of λ never rounds to 1 (σ̄ = ∞).
_LAMBDA_TOP = float(np.nextafter(1.0, 0.0))


class _Power:
    """ρ·U(λ_lo, λ_hi) + (1 − ρ)·Beta(α, 1) truncated to [λ_lo, λ_hi], λ = 1 − e^{−σ̄}:

    .. math:: q_\\lambda(\\lambda) = \\frac{\\rho}{\\lambda_{hi} - \\lambda_{lo}}
              + (1 - \\rho)\\frac{\\alpha \\lambda^{\\alpha - 1}}{\\lambda_{hi}^\\alpha - \\lambda_{lo}^\\alpha},
              \\qquad q_{\\bar\\sigma}(\\bar\\sigma) = q_\\lambda(\\lambda)\\,e^{-\\bar\\sigma}.

    ρ = 1 is ``uniform_lambda``. Sampling by the inverse CDF of each component. Near
    σ̄ = 0, q_σ̄ >= (1−ρ)α σ̄^{α−1}/Z (β = 1 − α), so ∫ E[h²]/q converges against
    E[h²] = O(log²(1/σ̄)/σ̄), and E[D^r] converges when (r − 1)α < 1.
    """

    def __init__(self, name, alpha, rho):
        self.name, self.alpha, self.rho = name, float(alpha), float(rho)

    def check(self, w):
        pass

    def _spans(self, w):
        lo, hi = float(lambda_of_total(w.s_lo)), float(lambda_of_total(w.s_hi))
        return lo, hi, hi**self.alpha - lo**self.alpha

    def sample(self, w, n, rng):
        a = self.alpha
        lo, hi, mass = self._spans(w)
        u = rng.random(n)
        pick_uniform = rng.random(n) < self.rho
        lam = np.where(pick_uniform, lo + u * (hi - lo), (lo**a + u * mass) ** (1 / a))
        sbar = total_of_lambda(np.minimum(lam, _LAMBDA_TOP))
        return sbar, self.inv_density(w, sbar)

    def inv_density(self, w, sbar):
        sbar = np.asarray(sbar, dtype=np.float64)
        lo, hi, mass = self._spans(w)
        lam = lambda_of_total(sbar)
        with np.errstate(divide="ignore"):
            q = self.rho / (hi - lo) + (1 - self.rho) * self.alpha * lam ** (self.alpha - 1) / mass
        return np.exp(sbar) / q

    def beta(self, w):
        if w.s_lo > 0:
            return None
        return 0.0 if self.rho == 1.0 else 1.0 - self.alpha


#: Default weight ρ of the uniform-in-λ part of ``power``, by process kind. Under the
#: absorbing process the uniform-in-λ law (the masked time-integral law) is already within
#: ~1.5x of q* wherever its variance is finite, and 10 % of Beta(1/4, 1) cures its 1/λ
#: singularity; under the uniform process the integrands sit at smaller σ̄ and half the
#: mass goes to Beta(1/4, 1). Chosen on measured exact variances (the study of
#: ``benchmarks/dse_study.py``).
DEFAULT_RHO = {"absorbing": 0.9, "uniform": 0.5, "general": 0.5}
#: Default exponent α of the Beta(α, 1) part: α = 1/4 keeps E[D⁴] finite, so the sample
#: variance of a Monte Carlo run has an exact standard error.
DEFAULT_ALPHA = 0.25


def _make_power(process, alpha, rho):
    alpha = DEFAULT_ALPHA if alpha is None else float(alpha)
    rho = DEFAULT_RHO[process.kind] if rho is None else float(rho)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"`alpha` must lie in (0, 1) (got {alpha}).")
    if not 0.0 <= rho < 1.0:
        raise ValueError(f"`rho` must lie in [0, 1) (got {rho}).")
    return _Power("power", alpha, rho)


def _no_options(make):
    def factory(process, alpha, rho):
        if alpha is not None or rho is not None:
            raise ValueError(f"`alpha` and `rho` apply to law='power' only (got alpha={alpha}, rho={rho}).")
        return make()

    return factory


#: law name → factory(process, alpha, rho) of its sampling law (module docstring).
SIGMA_LAWS = {
    "uniform_t": _no_options(_UniformT),
    "log_sigma": _no_options(_LogSigma),
    "uniform_lambda": _no_options(lambda: _Power("uniform_lambda", DEFAULT_ALPHA, 1.0)),
    "power": _make_power,
}


def sigma_law(law, process, alpha=None, rho=None):
    """The sampling law named ``law`` (:data:`SIGMA_LAWS`) for ``process``: an object
    with ``sample(window, n, rng) -> (σ̄, 1/q_σ̄)``, ``inv_density(window, σ̄)``,
    ``beta(window)`` and ``check(window)``."""
    if law not in SIGMA_LAWS:
        raise ValueError(f"`law` must be one of {sorted(SIGMA_LAWS)} (got {law!r}).")
    return SIGMA_LAWS[law](process, alpha, rho)
