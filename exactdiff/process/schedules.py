"""Noise schedules σ(t) and their integrals σ̄(t) = ∫_0^t σ(s) ds."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..core.validation import validate_time, validate_total_noise

__all__ = ["Schedule", "Constant", "LogLinear", "Geometric"]


class Schedule:
    """A noise schedule: ``rate(t)`` is σ(t), ``total(t)`` is σ̄(t) with σ̄(0) = 0.

    ``t_max`` is the end of the schedule's domain (``inf`` when unbounded); times
    outside [0, t_max] raise ``ValueError``.
    """

    t_max = math.inf

    def _t(self, t):
        t = validate_time(t)
        if t > self.t_max:
            raise ValueError(f"`t` must lie in [0, {self.t_max}] for {self!r} (got {t}).")
        return t

    @property
    def total_max(self) -> float:
        """σ̄(t_max): the largest total noise the schedule reaches (∞ for an unbounded
        time domain)."""
        return math.inf if math.isinf(self.t_max) else float(self.total(self.t_max))

    def rate(self, t) -> float:
        raise NotImplementedError

    def total(self, t) -> float:
        raise NotImplementedError

    def time_of_total(self, sbar) -> float:
        """The inverse of σ̄: the time t with σ̄(t) = sbar."""
        raise NotImplementedError

    def totals(self, t) -> np.ndarray:
        """σ̄ at every time of the array ``t`` (times not checked; closed forms override
        this loop over :meth:`total`)."""
        t = np.asarray(t, dtype=np.float64)
        return np.array([self.total(float(v)) for v in t.ravel()]).reshape(t.shape)

    def rates_of_total(self, sbar) -> np.ndarray:
        """σ(t) at the times where σ̄(t) is each entry of the array ``sbar`` (closed forms
        override this loop, and stay exact where t(σ̄) rounds to t_max)."""
        sbar = np.asarray(sbar, dtype=np.float64)
        return np.array([self.rate(self.time_of_total(float(s))) for s in sbar.ravel()]).reshape(sbar.shape)

    @staticmethod
    def _sbar(sbar):
        return validate_total_noise(sbar)

    def describe(self) -> str:
        return repr(self)


class Constant(Schedule):
    """σ(t) = c, σ̄(t) = c·t, for t >= 0 (``rate`` is c)."""

    def __init__(self, rate: float = 1.0):
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"`rate` must be a positive finite number (got {rate}).")
        self.c = float(rate)

    def __repr__(self):
        return f"Constant(rate={self.c:g})"

    def __eq__(self, other):
        return isinstance(other, Constant) and other.c == self.c

    def __hash__(self):
        return hash(("Constant", self.c))

    def rate(self, t):
        self._t(t)
        return self.c

    def total(self, t):
        return self.c * self._t(t)

    def time_of_total(self, sbar):
        return self._sbar(sbar) / self.c

    def totals(self, t):
        return self.c * np.asarray(t, dtype=np.float64)

    def rates_of_total(self, sbar):
        return np.full(np.shape(sbar), self.c)


@dataclasses.dataclass(frozen=True)
class LogLinear(Schedule):
    """The SEDD/RADD log-linear schedule on t ∈ [0, 1]:

    σ̄(t) = −log(1 − (1−ε)t),   σ(t) = (1−ε) / (1 − (1−ε)t).

    Under the absorbing process λ(t) = 1 − e^{−σ̄(t)} = (1−ε)t, so λ(1) = 1 − ε < 1.
    """

    eps: float = 1e-3
    t_max = 1.0

    def __post_init__(self):
        if not (0.0 < self.eps < 1.0):
            raise ValueError(f"`eps` must lie in (0, 1) (got {self.eps}).")

    def rate(self, t):
        t = self._t(t)
        return (1 - self.eps) / (1 - (1 - self.eps) * t)

    def total(self, t):
        t = self._t(t)
        return -math.log1p(-(1 - self.eps) * t)

    def time_of_total(self, sbar):
        return -math.expm1(-self._sbar(sbar)) / (1 - self.eps)

    def totals(self, t):
        return -np.log1p(-(1 - self.eps) * np.asarray(t, dtype=np.float64))

    def rates_of_total(self, sbar):
        return (1 - self.eps) * np.exp(np.asarray(sbar, dtype=np.float64))


@dataclasses.dataclass(frozen=True)
class Geometric(Schedule):
    """The geometric schedule σmin^{1−t} σmax^t, shifted so that σ̄(0) = 0:

    σ̄(t) = σmin^{1−t} σmax^t − σmin,   σ(t) = σmin^{1−t} σmax^t · log(σmax/σmin).

    The paper's σ̄(0) = σmin ≠ 0 would mean x_0 is already noised; exactdiff subtracts
    σmin so that x_0 is exactly the data and keeps the rate σ(t) unchanged: the paper's
    process at time t is this one applied to p0 already noised by σ̄ = σmin. Defined
    for all t >= 0.
    """

    sigma_min: float = 1e-3
    sigma_max: float = 20.0

    def __post_init__(self):
        if not (0 < self.sigma_min < self.sigma_max < math.inf):
            raise ValueError(
                f"need 0 < `sigma_min` < `sigma_max` < inf (got {self.sigma_min}, {self.sigma_max})."
            )

    def _level(self, t):
        return self.sigma_min ** (1 - t) * self.sigma_max**t

    def rate(self, t):
        t = self._t(t)
        try:
            return self._level(t) * math.log(self.sigma_max / self.sigma_min)
        except OverflowError:
            raise ValueError(f"σ(t) of {self!r} overflows float64 at t={t}.") from None

    def total(self, t):
        t = self._t(t)
        try:
            return self.sigma_min * math.expm1(t * math.log(self.sigma_max / self.sigma_min))
        except OverflowError:
            raise ValueError(f"σ̄(t) of {self!r} overflows float64 at t={t}.") from None

    def time_of_total(self, sbar):
        return math.log1p(self._sbar(sbar) / self.sigma_min) / math.log(self.sigma_max / self.sigma_min)

    def totals(self, t):
        return self.sigma_min * np.expm1(np.asarray(t, dtype=np.float64) * math.log(self.sigma_max / self.sigma_min))

    def rates_of_total(self, sbar):
        return (np.asarray(sbar, dtype=np.float64) + self.sigma_min) * math.log(self.sigma_max / self.sigma_min)
