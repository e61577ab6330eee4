"""Laws of σ̄ for the Monte Carlo DSE estimators, and the window [t_min, T] they draw in.

One draw of a DSE estimator is σ̄ ~ q (a density q_σ̄ over σ̄; over time
q_t(t) = q_σ̄(σ̄(t))·σ(t)), then x ~ p_{σ̄|0}(·|x0) token-wise, and D = h/q_σ̄(σ̄) + prior
(:mod:`~exactdiff.score.estimators`), so that

.. math:: \\mathrm{Var}[D] = \\int_{\\bar\\sigma_{lo}}^{\\bar\\sigma_{hi}}
          \\frac{\\mathbb E[h^2 | \\bar\\sigma]}{q_{\\bar\\sigma}(\\bar\\sigma)}\\, d\\bar\\sigma
          - \\Big(\\int \\mathbb E[h | \\bar\\sigma]\\, d\\bar\\sigma\\Big)^2 ,

smallest at q* ∝ √E[h² | σ̄] (:func:`~exactdiff.score.moments.optimal_proposal`). Write
λ = 1 − e^{−σ̄}: the masking level of the absorbing process, and for the uniform process
the probability that a token has been redrawn uniformly (:mod:`exactdiff.process.masking`).

==================  ===========================================  ==============================
``law``             law of σ̄ on the window [σ̄(t_min), σ̄(T)]      variance at t_min = 0
==================  ===========================================  ==============================
``uniform_t``       t ~ U(t_min, T) (finite T)                   finite iff κ(x0) = 0
``log_sigma``       log σ̄ ~ U(log σ̄(t_min), log σ̄(T))            needs t_min > 0, σ̄(T) < ∞
``uniform_lambda``  λ ~ U(λ(t_min), λ(T)): the masked time-       finite iff κ(x0) = 0
                    integral law under the absorbing process
``power``           (1−ω)[ρ·U(λ) + (1−ρ)·Beta(α, 1) in λ]         finite (every model regular
                    + ω·U(σ̄) on a finite window (α = 1/5;         at σ̄ → 0), and E[D⁴] too
                    ρ = 0.8, ω = 1/4 absorbing; ρ = 1/2,
                    ω = 0.1 otherwise)
==================  ===========================================  ==============================

κ(x0) is the small-noise coefficient of E[h² | σ̄] (:mod:`~exactdiff.score.variance`).
Each law gives its density (:meth:`inv_density` returns 1/q_σ̄) and its singularity at
σ̄ = 0 (:meth:`beta`: q_σ̄ ~ σ̄^{−β}; None without one, i.e. t_min > 0). Any object with
the methods ``sample``, ``inv_density``, ``beta`` and ``check`` is a law too
(:func:`sigma_law`), e.g. :class:`PowerLaw` with other parameters.

**Where a law loses against q*: the two ends of the window.**

- σ̄ → 0: E[h² | σ̄] = κ/σ̄ + O(log²(1/σ̄)) for every model regular there, and κ > 0 for
  every x0 as soon as the model's ratios at the states one jump from x0 are off (by any
  fixed factor, however small the noise: a tempered, mixed, mis-clocked or perturbed
  score), so q* ~ σ̄^{−1/2} near 0. A law with q_σ̄ ~ c·σ̄^{−β} adds
  ∫_0^a κ σ̄^{β−1}/c dσ̄ = κ a^β/(βc): finite iff β > 0. ``power`` has β = 1 − α and
  c = (1−ω)(1−ρ)α/λ_hi^α; E[D^r] is finite when (r − 1)α < 1 (r = 4 at α = 1/5).
- σ̄ → ∞ (the uniform process; SEDD's geometric noise reaches σ̄(1) ≈ 20): the true
  ratios r → 1, so a model whose scores tend to s∞ ≠ 1 (a network's error that does not
  decay with the noise; the fixed perturbation s·e^{0.15 sin(1.7i + 2.3v + 0.5)}; a
  constant bias b·s) gives h → h∞(x) = (1/N) Σ_i Σ_{v≠x^i} φ(s∞_{i,v}),
  φ(u) = u − 1 − log u, and E[h² | σ̄] → c∞² = E_{x uniform}[h∞(x)²] > 0. Every law
  written in λ has q_σ̄ = q_λ(λ)·e^{−σ̄}, so its variance is at least
  c∞² ∫^{σ̄_hi} e^{σ̄}/q_λ dσ̄ ≈ c∞² e^{σ̄_hi}/q_λ(λ_hi): exponential in σ̄(T), while q*
  pays at most about (c∞ σ̄_hi)² for the tail. Under the absorbing process the true
  scores decay like e^{−σ̄}; a model whose scores decay like e^{−cσ̄}, c < 1 (one that
  reads the noise level off by the factor c), gives E[h²] ~ e^{−2cσ̄} and a λ-law pays
  ∫ e^{(1−2c)σ̄} dσ̄.
- The part ω·U(σ̄) of ``power`` caps the tail: q_σ̄ >= ω/(σ̄_hi − σ̄_lo), so the
  window's top adds at most (σ̄_hi − σ̄_lo)/ω ∫ E[h²] dσ̄ there; and it costs any model at
  most a factor 1/(1 − ω) on E[D²]. On an infinite window (σ̄(T) = ∞) it is absent: there
  the model's scores must decay (:func:`~exactdiff.score.moments.dse_limit` checks).

The defaults (α, ρ, ω) were chosen on the exact variances and kurtoses of
``benchmarks/dse_study.py`` (docs/guide/dse_estimators.md): six models — the oracle, a
tempered-and-mixed score, the fixed perturbation, a constant bias 1.2·s*, the oracle read
at σ̄/2 and the oracle of a fitted table — on a sparse and a dense toy, SEDD's uniform and
absorbing setups at T = 1. The default is within 1.19–1.98x of q* (median over
sequences) in all 24 settings, with kurtosis 2–1,000 (medians); the law it replaced (α =
1/4, ω = 0) was 1.28–1.79x on the models that decay, 3·10³–1.6·10⁵ x with kurtosis
2.7·10⁸ on those that do not, and 4.8x on the mis-clocked one (absorbing).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..process.masking import lambda_of_total, total_of_lambda

__all__ = ["SIGMA_LAWS", "sigma_law", "PowerLaw", "Window", "window", "DEFAULT_RHO", "DEFAULT_ALPHA", "DEFAULT_OMEGA",
           "LAW_METHODS"]


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


#: Default exponent α of the Beta(α, 1) part of ``power``: α = 1/5 keeps E[D⁴] finite
#: ((r − 1)α < 1 at r = 4, and at r = 5) with a margin. Near σ̄ = 0, E[h⁴ | σ̄] ~ κ₄/σ̄³
#: adds κ₄ a^{1−3α}/((1−3α)c³) to E[D⁴] (c the Beta part's coefficient), so the kurtosis
#: grows fast as α → 1/3: measured, α = 1/4 gave a kurtosis up to 1.1·10⁴ on the dense toy
#: under the uniform process (10^5 draws before the normal interval holds), α = 1/5 up to
#: 1,700, for 7 % more variance (worst median ratio to q* 1.94 against 1.80). q* itself
#: (~σ̄^{−1/2}) has E[D⁴] = ∞ wherever κ₄ > 0.
DEFAULT_ALPHA = 0.2
#: Default weight ρ of the uniform-in-λ part within the λ part of ``power``, by process
#: kind. Under the absorbing process q* sits where λ is uniform (σ̄ ~ 0.3–3 on sparse
#: tables) and 20 % of Beta(1/5, 1) cures the 1/σ̄ singularity; under the uniform process
#: the integrands sit at smaller σ̄ and half the λ part goes to Beta(1/5, 1).
DEFAULT_RHO = {"absorbing": 0.8, "uniform": 0.5, "general": 0.5}
#: Default weight ω of the uniform-in-σ̄ part of ``power`` on a finite window, by process
#: kind: it caps the variance of a model whose scores do not decay as σ̄ grows (module
#: docstring), which a λ-law lets grow like e^{σ̄(T)} (3·10³–1.6·10⁵ x q* measured at
#: σ̄(T) ≈ 20), at a cost of at most 1/(1 − ω) on E[D²] for the others. Under the
#: absorbing process it also brings a mis-clocked model from 4.8x to 2.0x q* (the uniform
#: part in σ̄ follows q* on [0.3, σ̄(T)] of sparse tables).
#:
#: (α, ρ, ω) together: the knee of the Pareto front of the worst median ratio Var/Var(q*)
#: over the study's twelve (toy, model) settings of each process against the worst
#: kurtosis, on an exact grid (``benchmarks/dse_study.py``, docs/guide/dse_estimators.md):
#: uniform 1.94x and kurtosis <= 1,730; absorbing 1.93x and kurtosis <= 261.
DEFAULT_OMEGA = {"absorbing": 0.25, "uniform": 0.1, "general": 0.1}


class PowerLaw:
    """The law ``power``: a mixture of U(λ) and Beta(α, 1) in λ = 1 − e^{−σ̄}, plus a
    uniform part in σ̄ on a finite window,

    .. math::

        q_{\\bar\\sigma}(\\bar\\sigma) = (1 - \\omega)\\Big[\\frac{\\rho}{\\lambda_{hi} - \\lambda_{lo}}
            + (1 - \\rho)\\,\\frac{\\alpha\\, \\lambda^{\\alpha - 1}}
            {\\lambda_{hi}^\\alpha - \\lambda_{lo}^\\alpha}\\Big]
            e^{-\\bar\\sigma} + \\frac{\\omega}{\\bar\\sigma_{hi} - \\bar\\sigma_{lo}},
        \\qquad \\bar\\sigma \\in [\\bar\\sigma_{lo}, \\bar\\sigma_{hi}],

    where λ_lo, λ_hi are the masking levels at the window's ends, e^{−σ̄} = dλ/dσ̄, and
    ω is replaced by 0 where σ̄_hi = ∞. ρ = 1, ω = 0 is ``uniform_lambda``; ω = 0 is the
    law ``power`` had before the σ̄ part was added. Sampling: one uniform picks the
    component (U(λ) below (1−ω)ρ, Beta below 1−ω, else U(σ̄)), another inverts its CDF —
    λ = λ_lo + u(λ_hi − λ_lo), λ = (λ_lo^α + u(λ_hi^α − λ_lo^α))^{1/α} (the Beta part
    normalised on [λ_lo, λ_hi], its lower end included), σ̄ = σ̄_lo + u(σ̄_hi − σ̄_lo) —
    and the draw is clipped to the window (against rounding in λ ↔ σ̄ only).

    Singularity at σ̄ = 0 (t_min = 0): q_σ̄ ~ (1−ω)(1−ρ)α σ̄^{α−1}/λ_hi^α, β = 1 − α
    (ρ < 1); bounded, β = 0, when ρ = 1. The module docstring gives the variance at both
    ends of the window.

    Parameters
    ----------
    alpha : float in (0, 1)
        Exponent of the Beta(α, 1) part.
    rho : float in [0, 1]
        Weight of U(λ) within the λ part.
    omega : float in [0, 1)
        Weight of U(σ̄) (on a finite window).
    name : str
        The name the law reports (``"power"``).

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> from scipy.integrate import quad
    >>> proc = ed.uniform(4, ed.Geometric(1e-4, 20.0)); w = window(proc, T=1.0)
    >>> law = PowerLaw(alpha=0.2, rho=0.5, omega=0.1)
    >>> mass = sum(quad(lambda s: 1 / law.inv_density(w, s), a, b)[0] for a, b in [(0, 1), (1, w.s_hi)])
    >>> bool(abs(mass - 1) < 1e-8)
    True
    """

    def __init__(self, alpha=DEFAULT_ALPHA, rho=0.5, omega=0.0, name="power"):
        alpha, rho, omega = float(alpha), float(rho), float(omega)
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"`alpha` must lie in (0, 1) (got {alpha}).")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"`rho` must lie in [0, 1] (got {rho}).")
        if not 0.0 <= omega < 1.0:
            raise ValueError(f"`omega` must lie in [0, 1) (got {omega}).")
        self.name, self.alpha, self.rho, self.omega = str(name), alpha, rho, omega

    def __repr__(self):
        return f"PowerLaw(alpha={self.alpha:g}, rho={self.rho:g}, omega={self.omega:g}, name={self.name!r})"

    def check(self, w):
        pass

    def _spans(self, w):
        lo, hi = float(lambda_of_total(w.s_lo)), float(lambda_of_total(w.s_hi))
        return lo, hi, hi**self.alpha - lo**self.alpha

    def flat_weight(self, w) -> float:
        """ω on a finite window, 0 where σ̄_hi = ∞."""
        return self.omega if math.isfinite(w.s_hi) else 0.0

    def sample(self, w, n, rng):
        a = self.alpha
        lo, hi, mass = self._spans(w)
        om = self.flat_weight(w)
        u = rng.random(n)
        pick = rng.random(n)
        lam = np.where(pick < (1 - om) * self.rho, lo + u * (hi - lo), (lo**a + u * mass) ** (1 / a))
        sbar = total_of_lambda(np.minimum(lam, _LAMBDA_TOP))
        if om > 0:
            sbar = np.where(pick >= 1 - om, w.s_lo + u * (w.s_hi - w.s_lo), sbar)
        sbar = np.clip(sbar, w.s_lo, w.s_hi)
        return sbar, self.inv_density(w, sbar)

    def inv_density(self, w, sbar):
        sbar = np.asarray(sbar, dtype=np.float64)
        lo, hi, mass = self._spans(w)
        om = self.flat_weight(w)
        with np.errstate(divide="ignore", over="ignore"):  # 1/q = ∞ at σ̄ = 0 (α < 1) and beyond e^{709}
            beta_part = self.alpha * lambda_of_total(sbar) ** (self.alpha - 1) / mass
            q_lam = self.rho / (hi - lo) + (1 - self.rho) * beta_part
            if om == 0.0:
                return np.exp(sbar) / q_lam
            return 1.0 / ((1 - om) * q_lam * np.exp(-sbar) + om / (w.s_hi - w.s_lo))

    def beta(self, w):
        if w.s_lo > 0:
            return None
        return 0.0 if self.rho == 1.0 else 1.0 - self.alpha


def _make_power(process, alpha, rho):
    alpha = DEFAULT_ALPHA if alpha is None else float(alpha)
    rho = DEFAULT_RHO[process.kind] if rho is None else float(rho)
    if not 0.0 <= rho < 1.0:
        raise ValueError(f"`rho` must lie in [0, 1) (got {rho}).")
    return PowerLaw(alpha, rho, DEFAULT_OMEGA[process.kind], name="power")


def _no_options(make):
    def factory(process, alpha, rho):
        if alpha is not None or rho is not None:
            raise ValueError(f"`alpha` and `rho` apply to law='power' only (got alpha={alpha}, rho={rho}).")
        return make()

    return factory


#: The methods of a law object (:func:`sigma_law`).
LAW_METHODS = ("sample", "inv_density", "beta", "check")

#: law name → factory(process, alpha, rho) of its sampling law (module docstring).
SIGMA_LAWS = {
    "uniform_t": _no_options(_UniformT),
    "log_sigma": _no_options(_LogSigma),
    "uniform_lambda": _no_options(lambda: PowerLaw(DEFAULT_ALPHA, 1.0, 0.0, name="uniform_lambda")),
    "power": _make_power,
}


def sigma_law(law, process, alpha=None, rho=None):
    """The sampling law ``law`` for ``process``: a name of :data:`SIGMA_LAWS` (with
    ``alpha``, ``rho`` for ``power``), or a law object — anything with the methods
    ``sample(window, n, rng) -> (σ̄, 1/q_σ̄)``, ``inv_density(window, σ̄)``,
    ``beta(window)`` and ``check(window)``, such as :class:`PowerLaw` — returned as it is.

    Examples
    --------
    >>> import exactdiff as ed
    >>> sigma_law("power", ed.uniform(4))
    PowerLaw(alpha=0.2, rho=0.5, omega=0.1, name='power')
    >>> sigma_law("power", ed.absorbing(4), rho=0.5)
    PowerLaw(alpha=0.2, rho=0.5, omega=0.25, name='power')
    """
    if not isinstance(law, str) and all(callable(getattr(law, m, None)) for m in LAW_METHODS):
        if alpha is not None or rho is not None:
            raise ValueError(f"`alpha` and `rho` apply to a law given by name only (got alpha={alpha}, rho={rho} "
                             f"with {law!r}).")
        return law
    if not isinstance(law, str):
        raise ValueError(f"`law` must be a name or a law object with the methods {', '.join(LAW_METHODS)} "
                         f"(got {law!r}).")
    if law not in SIGMA_LAWS:
        raise ValueError(f"`law` must be one of {sorted(SIGMA_LAWS)} (got {law!r}).")
    return SIGMA_LAWS[law](process, alpha, rho)
