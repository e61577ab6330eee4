"""The results of estimators: a Monte Carlo :class:`Estimate` and the exact
:class:`EstimatorMoments` of one draw — one record type for each, shared by the masked
(denoiser) and the score-entropy (score model) estimators, built by keyword.

Heavy tails. The mean of n draws is near-normal only when n is large against the tails
of one draw. With the exact moments we can say how large: the sample variance s² of n
iid draws has relative standard deviation √((κ − 1)/n) asymptotically, κ = μ₄/σ⁴ the
kurtosis, so the stated standard error s/√n is itself within ~10 % (relative sd of s²
at most 0.2) once

.. math:: n \\ge n_{normal} = \\lceil 25\\,(\\kappa - 1) \\rceil ,

which :attr:`EstimatorMoments.normal_draws` reports (``inf`` for an infinite fourth
moment, 1 for a constant draw). A normal draw has κ = 3 (n_normal = 50); the DSE
estimators of an imperfect score model reach κ ≈ 10^3–10^4, where a z-score from a few
thousand draws means little.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = ["Estimate", "EstimatorMoments", "draws_for", "STDERR_GOAL", "NORMAL_VARIANCE_RTOL"]

#: The standard error :func:`draws_for` asks for by default (nats).
STDERR_GOAL = 0.01
#: The relative standard deviation of the sample variance at which the normal interval
#: of a Monte Carlo mean is trusted (:attr:`EstimatorMoments.normal_draws`).
NORMAL_VARIANCE_RTOL = 0.2


def draws_for(variance: float, stderr: float = STDERR_GOAL) -> float:
    """⌈Var / stderr²⌉: the draws for a standard error of ``stderr`` (``inf`` for an
    infinite variance, 1 for a variance of 0).

    Examples
    --------
    >>> draws_for(13e-4), draws_for(0.0), draws_for(math.inf)
    (13.0, 1.0, inf)
    """
    if not math.isfinite(variance):
        return math.inf
    # A relative allowance of 1e-12 keeps a ratio that rounding lifted just above an
    # integer (13 · 1e-4 / 0.01² = 13.000000000000002) at that integer.
    return float(max(1, math.ceil(variance / stderr**2 * (1 - 1e-12))))


@dataclasses.dataclass(frozen=True)
class EstimatorMoments:
    """Exact moments of one draw D of an estimator.

    Attributes
    ----------
    law : str
        The sampling law of the draw (a mask law or a law of σ̄).
    mean, variance : float
        E[D] and Var[D]; ``variance`` is ``inf`` where E[D²] diverges.
    raw : tuple of float
        E[D], E[D²], E[D³], E[D⁴] (``inf`` where they diverge, ``nan`` where not computed).
    cutoff_bias : float
        E[D] − (its value without a cut-off): nonzero for a window that leaves out small
        noise (masked ``time_integral`` with ε > 0, a σ̄ window from t_min > 0).
    note : str
        Why a moment is infinite or not computed, when one is.
    """

    law: str
    mean: float
    variance: float
    raw: tuple
    cutoff_bias: float = 0.0
    note: str = ""

    @property
    def central4(self) -> float:
        """μ₄ = E[(D − E D)⁴] from the raw moments (``inf`` if one diverges, ``nan`` if
        not computed)."""
        m1, m2, m3, m4 = self.raw
        if any(math.isnan(v) for v in self.raw):
            return math.nan
        if not all(math.isfinite(v) for v in self.raw):
            return math.inf
        return float(max(m4 - 4 * m3 * m1 + 6 * m2 * m1**2 - 3 * m1**4, 0.0))

    @property
    def kurtosis(self) -> float:
        """κ = μ₄/σ⁴ (3 for a normal draw; ``inf`` when E[D⁴] diverges; ``nan`` for a
        constant draw or when E[D⁴] was not computed)."""
        mu4, s2 = self.central4, self.variance
        if math.isnan(mu4) or s2 == 0:
            return math.nan
        if not math.isfinite(mu4) or not math.isfinite(s2):
            return math.inf
        return float(mu4 / s2**2)

    @property
    def normal_draws(self) -> float:
        """The draws after which the normal interval of the mean can be trusted:
        ⌈(κ − 1)/0.2²⌉ (module docstring); 1 for a constant draw, ``inf`` for an
        infinite fourth moment, ``nan`` when E[D⁴] was not computed."""
        if self.variance == 0:
            return 1.0
        k = self.kurtosis
        if math.isnan(k) or math.isinf(k):
            return k
        return float(max(1, math.ceil((k - 1) / NORMAL_VARIANCE_RTOL**2 * (1 - 1e-12))))

    def draws_for(self, stderr: float = STDERR_GOAL) -> float:
        """⌈Var / stderr²⌉ (:func:`draws_for`)."""
        return draws_for(self.variance, stderr)

    def stderr(self, n: int) -> float:
        """Standard error of the mean of n draws: √(Var / n)."""
        return float(np.sqrt(self.variance / n))

    def variance_stderr(self, n: int) -> float:
        """Standard deviation of the sample variance of n iid draws:
        √((μ₄ − σ⁴)/n + 2σ⁴/(n(n−1))), with μ₄ the fourth central moment."""
        s2 = self.variance
        return float(np.sqrt((self.central4 - s2**2) / n + 2 * s2**2 / (n * (n - 1))))


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate: the mean of n independent draws.

    Attributes
    ----------
    estimate : float
        The mean of the n draws (nats).
    stderr : float
        Its standard error: the sample standard deviation / √n, or, stratified, the
        within-stratum estimate (pairs of draws per stratum).
    n : int
        Number of draws.
    law : str
        The sampling law of the draws.
    cutoff_bias : float or None
        The exact E[estimate] − (its value without a cut-off) for a window that leaves
        out small noise (None when not computed; 0 without a cut-off).
    samples : ndarray, shape (n,)
        The draws.
    exact : EstimatorMoments or None
        The exact moments of one draw, when computed: then :attr:`kurtosis` and
        :attr:`adequate` say whether n draws are enough for the normal interval.
    """

    estimate: float
    stderr: float
    n: int
    law: str
    cutoff_bias: float | None = None
    samples: np.ndarray = dataclasses.field(default=None, repr=False, compare=False)
    exact: EstimatorMoments | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def kurtosis(self) -> float:
        """The exact kurtosis of one draw (``nan`` without :attr:`exact`)."""
        return math.nan if self.exact is None else self.exact.kurtosis

    @property
    def adequate(self) -> bool | None:
        """Whether n reaches the exact ``normal_draws`` (None without :attr:`exact`)."""
        if self.exact is None or math.isnan(self.exact.normal_draws):
            return None
        return bool(self.n >= self.exact.normal_draws)
