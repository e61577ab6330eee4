"""The masked time-integral law over any window, as the field writes it, with exact moments.

One draw over n diffused (target) positions: λ ~ U(λ_lo, λ_hi) (or stratified, below),
each target position masked independently with probability λ, and

.. math:: D = s \\cdot \\frac{\\ell(m)}{\\lambda}, \\qquad
          \\ell(m) = \\sum_{i \\in m} -\\log c(\\tilde x_m)_{i, x_0^i},

so that, with a = |m| the number masked,

.. math::

    \\mathbb E[D^r] = \\sum_{a=1}^{n} W_r(a) \\sum_{|m| = a} \\ell(m)^r, \\qquad
    W_r(a) = \\frac{s^r}{\\lambda_{hi} - \\lambda_{lo}} \\int_{\\lambda_{lo}}^{\\lambda_{hi}}
             \\lambda^{a - r} (1 - \\lambda)^{n - a}\\, d\\lambda,

integrated exactly (the rational part in :class:`fractions.Fraction`, a log term where the
power is −1). The target of every masked estimator is the time-integrated DCE over the
whole window, ∫_0^1 (1/λ) E_{x_λ|x0} ℓ dλ = −log p0(x0) for the optimal denoiser
(Corollary 3.7); the law's **cut-off bias** is E[D] minus that, exactly.

- **Normalised** (the default, s = λ_hi − λ_lo): E[D] = ∫_{λ_lo}^{λ_hi} (1/λ) E ℓ dλ, so the
  only bias is the missing ends, −∫_0^{λ_lo} − ∫_{λ_hi}^1. exactdiff's ``time_integral``
  law with cut-off ε is the window [ε, 1].
- **Not normalised** (any s): MDLM's NELBO (LogLinear noise with its own ε = 10⁻³,
  t ~ U(ε_s = 10⁻³, 1), λ = (1 − ε)t, weight 1/t = (1 − ε)/λ, no 1/(1 − ε_s) factor) is the
  window [(1 − ε)ε_s, 1 − ε] with s = 1 − ε (:meth:`TimeIntegralLaw.mdlm`); its mean is
  (∫ over the window)/(1 − ε_s).
- **Stratified** ("antithetic" in MDLM's code): the draws of one batch of B share the
  window, draw b taking λ uniform on the b-th of B equal strata. The mean of B draws is
  still unbiased and its variance is (1/B²) Σ_b Var[D | stratum b], exactly
  (:meth:`TimeIntegralLaw.mean_variance`). exactdiff's own stratified estimator puts two
  draws in each of B/2 strata, so that its standard error can be estimated within strata.

At λ_lo = 0 the variance diverges through a = 1: ∫_ε^1 λ^{−1}(1−λ)^{n−1} dλ =
log(1/ε) − H_{n−1} + O(ε), so E[D²] ≈ (Σ_{|m|=1} ℓ(m)²)·log(1/ε)
(:func:`log_divergence`): a single masked token drawn at small λ has weight 1/λ, whose
square is not integrable.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np

from ..core.validation import validate_count, validate_rng
from ..process.schedules import LogLinear
from ..sequences.masks import pattern_sizes

__all__ = ["TimeIntegralLaw", "power_integral", "log_divergence"]


@functools.lru_cache(maxsize=8192)
def _power_integral(p: int, q: int, lo: float, hi: float):
    """∫_lo^hi λ^p (1 − λ)^q dλ for integers p and q ≥ 0, 0 ≤ lo < hi ≤ 1, as
    (exact rational part, integer coefficient of log(hi/lo)), by expanding (1 − λ)^q
    term by term: Σ_j C(q, j)(−1)^j ∫ λ^{p+j} dλ.

    The rational part is exact (lo and hi are binary fractions, so Fraction holds them
    exactly); ``None`` when p ≤ −2 and lo = 0 (a divergent power λ^{p+j}, p+j ≤ −2)."""
    a, b = Fraction(lo), Fraction(hi)
    rational, log_coef = Fraction(0), 0
    for j in range(q + 1):
        c = math.comb(q, j) * (-1) ** j
        r = p + j + 1
        if r == 0:
            log_coef += c
        elif r < 0 and a == 0:
            return None
        else:
            rational += c * (b**r - a**r) / r
    return rational, log_coef


def power_integral(p: int, q: int, lo: float, hi: float) -> float:
    """∫_lo^hi λ^p (1 − λ)^q dλ as a float (``inf`` where it diverges at lo = 0), exact
    up to the final rounding.

    Examples
    --------
    >>> power_integral(0, 2, 0.0, 1.0)        # ∫ (1 − λ)² dλ = 1/3
    0.3333333333333333
    >>> power_integral(-1, 0, 0.0, 1.0)
    inf
    """
    res = _power_integral(int(p), int(q), float(lo), float(hi))
    if res is None:
        return math.inf
    rational, log_coef = res
    if log_coef == 0:
        return float(rational)
    if lo == 0:
        return math.inf  # p = −1 at λ → 0; log_coef = 1 > 0 there
    return float(rational) + log_coef * (math.log(hi) - math.log(lo))


def log_divergence(losses, sizes) -> float:
    """c in E[D²] = c·log(1/λ_lo) + O(1) as λ_lo → 0 for a time-integral law: Σ_{|m|=1} ℓ(m)²
    (0: the variance stays finite at λ_lo = 0)."""
    losses, sizes = np.asarray(losses, dtype=np.float64), np.asarray(sizes)
    return float(np.sum(losses[sizes == 1] ** 2))


class TimeIntegralLaw:
    """The masked time-integral law over the window [``lo``, ``hi``] of λ (module docstring).

    Parameters
    ----------
    lo, hi : float
        0 <= lo < hi <= 1.
    n : int
        The number of target positions.
    scale : float, optional
        s in D = s·ℓ/λ; default hi − lo (normalised: E[D] is the integral over the window).
    stratified : bool
        Draws stratified in λ: exactdiff's estimator puts two draws in each of count/2
        equal strata of the window (:meth:`draw`).
    name : str, optional

    Examples
    --------
    >>> import numpy as np
    >>> law = TimeIntegralLaw(0.1, 1.0, n=3)
    >>> losses = np.arange(8.0)                       # ℓ of every mask of mask_patterns(3)
    >>> mean, second = law.raw_moments(losses)[:2]
    >>> masks, w = law.sample(200_000, np.random.default_rng(0))
    >>> draws = w * losses[masks @ np.array([4, 2, 1])]
    >>> bool(abs(draws.mean() - mean) < 5 * np.sqrt((second - mean**2) / draws.size))
    True
    """

    def __init__(self, lo: float = 0.0, hi: float = 1.0, *, n: int, scale: float | None = None,
                 stratified: bool = False, name: str | None = None):
        lo, hi = float(lo), float(hi)
        if not (0.0 <= lo < hi <= 1.0):
            raise ValueError(f"the window [`lo`, `hi`] must satisfy 0 <= lo < hi <= 1 (got [{lo}, {hi}]).")
        self.lo, self.hi, self.n = lo, hi, validate_count(n, "n")
        self.scale = hi - lo if scale is None else float(scale)
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"`scale` must be a finite number > 0 (got {scale}).")
        self.normalised = scale is None or self.scale == hi - lo
        self.stratified = bool(stratified)
        self.name = name or "time_integral"

    def __repr__(self):
        extra = "" if self.normalised else f", scale={self.scale:.6g}"
        extra += ", stratified" if self.stratified else ""
        return f"TimeIntegralLaw({self.name!r}, [{self.lo:.6g}, {self.hi:.6g}], n={self.n}{extra})"

    @classmethod
    def cutoff(cls, eps: float, n: int, *, stratified: bool = False) -> TimeIntegralLaw:
        """exactdiff's ``time_integral`` law: λ ~ U(ε, 1), D = (1 − ε)ℓ/λ (normalised)."""
        eps = float(eps)
        if not 0.0 <= eps < 1.0:
            raise ValueError(f"`eps` must lie in [0, 1) (got {eps}).")
        return cls(eps, 1.0, n=n, stratified=stratified, name="time_integral")

    @classmethod
    def mdlm(cls, n: int, *, eps: float = 1e-3, sampling_eps: float = 1e-3, antithetic: bool = True):
        """MDLM's NELBO law (module docstring): LogLinear noise with ``eps``, t ~ U(sampling_eps, 1)
        (stratified when ``antithetic``), weight 1/t: the window [(1 − ε)ε_s, 1 − ε] with s = 1 − ε."""
        return cls.from_times(LogLinear(eps), sampling_eps, 1.0, n=n, normalised=False, stratified=antithetic,
                              name="mdlm")

    @classmethod
    def from_times(cls, schedule, t_lo: float, t_hi: float, *, n: int, normalised: bool = True,
                   stratified: bool = False, name: str | None = None) -> TimeIntegralLaw:
        """t ~ U(t_lo, t_hi) through a schedule under which λ(t) is linear in t (``LogLinear``:
        λ = (1 − ε)t), with weight 1/t = (1 − ε)/λ: normalised divides by t_hi − t_lo."""
        if not isinstance(schedule, LogLinear):
            raise ValueError(f"`schedule` must be LogLinear (λ linear in t) for a time-integral law over a t-window "
                             f"(got {schedule!r}).")
        if not (0.0 <= t_lo < t_hi <= schedule.t_max):
            raise ValueError(f"need 0 <= `t_lo` < `t_hi` <= {schedule.t_max} (got {t_lo}, {t_hi}).")
        slope = 1.0 - schedule.eps
        lo, hi = slope * t_lo, slope * t_hi
        scale = None if normalised else slope
        return cls(lo, hi, n=n, scale=scale, stratified=stratified, name=name)

    # -- moments -----------------------------------------------------------------------------
    def masked_weights(self, r: int) -> np.ndarray:
        """W_r(a) for a = 1..n (module docstring); ``inf`` where the integral diverges."""
        r = int(r)
        span = self.hi - self.lo
        return np.array([self.scale**r / span * power_integral(a - r, self.n - a, self.lo, self.hi)
                         for a in range(1, self.n + 1)])

    def _check(self, losses):
        v = np.asarray(losses, dtype=np.float64)
        if v.shape != (2**self.n,):
            raise ValueError(f"`losses` must have shape (2^n,) = ({2**self.n},) for this law over n={self.n} "
                             f"positions (got {v.shape}).")
        return v

    def raw_moments(self, losses, orders=(1, 2, 3, 4)) -> tuple:
        """E[D^r] for r in ``orders`` from the summed loss ℓ(m) of every mask (2^n,), in the
        order of :func:`~exactdiff.sequences.masks.mask_patterns`."""
        v = self._check(losses)
        sizes = pattern_sizes(self.n)
        out = []
        for r in orders:
            W = self.masked_weights(r)
            with np.errstate(invalid="ignore", over="ignore"):
                S = np.bincount(sizes, weights=v**r, minlength=self.n + 1)[1:]
                terms = np.where((S == 0) | (W == 0), 0.0, W * S)
            out.append(float(terms.sum()))
        return tuple(out)

    def cutoff_bias(self, losses) -> float:
        """E[D] − ∫_0^1 (1/λ) E ℓ dλ, exactly: the window's ends (and, not normalised, its
        scale)."""
        v = self._check(losses)
        sizes = pattern_sizes(self.n)
        S = np.bincount(sizes, weights=v, minlength=self.n + 1)[1:]
        span = self.hi - self.lo
        own = np.array([self.scale / span * power_integral(a - 1, self.n - a, self.lo, self.hi)
                        for a in range(1, self.n + 1)])
        full = np.array([power_integral(a - 1, self.n - a, 0.0, 1.0) for a in range(1, self.n + 1)])
        with np.errstate(invalid="ignore"):
            return float(np.where(S == 0, 0.0, (own - full) * S).sum())

    def mean_variance(self, losses, count: int) -> float:
        """The exact variance of the mean of ``count`` draws: Var[D]/count, or stratified
        (two draws in each of count/2 strata) (2/count²) Σ_b Var[D | stratum b]."""
        count = validate_count(count, "count", 2)
        if not self.stratified:
            m1, m2 = self.raw_moments(losses, (1, 2))
            return max(m2 - m1 * m1, 0.0) / count if math.isfinite(m2) else math.inf
        if count % 2:
            raise ValueError(f"`count` must be even for a stratified law (two draws per stratum; got {count}).")
        strata = count // 2
        edges = np.linspace(self.lo, self.hi, strata + 1)
        total = 0.0
        for a, b in zip(edges[:-1], edges[1:]):
            part = TimeIntegralLaw(a, b, n=self.n, scale=self.scale * (b - a) / (self.hi - self.lo))
            m1, m2 = part.raw_moments(losses, (1, 2))
            if not math.isfinite(m2):
                return math.inf
            total += max(m2 - m1 * m1, 0.0)
        return 2.0 * total / count**2

    # -- draws ----------------------------------------------------------------------------------
    def sample(self, count: int, rng):
        """``count`` draws: (masks (count, n), True = masked; multipliers s/λ (count,)).
        Stratified: two draws in each of count/2 equal strata (count even)."""
        count = validate_count(count, "count")
        rng = validate_rng(rng)
        if self.stratified:
            if count % 2:
                raise ValueError(f"`n` must be even for a stratified law (two draws per stratum; got {count}).")
            strata = count // 2
            u = (np.repeat(np.arange(strata), 2) + rng.random(count)) / strata
        else:
            u = rng.random(count)
        lam = self.lo + (self.hi - self.lo) * u
        masks = rng.random((count, self.n)) < lam[:, None]
        return masks, self.scale / lam
