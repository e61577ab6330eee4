"""The absorbing process in λ: the masking level λ = 1 − e^{−σ̄(t)}, its inverse, and the
masking kernel.

Under the absorbing process each token is masked independently with probability
λ(t) = 1 − e^{−σ̄(t)} (MATH.md). Masked diffusion is written in λ; these are the only
places where λ and t are converted, so every check and figure uses the same
conversion (``-expm1`` and ``-log1p``, exact near 0).
"""

from __future__ import annotations

import math

import numpy as np

from ..core.validation import check_count, check_lambda, check_time

__all__ = ["masking_level", "masking_time", "masking_kernel"]


def masking_level(process, t) -> float:
    """λ(t) = 1 − e^{−σ̄(t)}: the probability that a token is masked at time t."""
    return -math.expm1(-process.total(check_time(t)))


def masking_time(process, lam) -> float:
    """The time t with λ(t) = ``lam``: σ̄(t) = −log(1 − λ), inverted by the schedule.

    λ = 1 is reached only as t → ∞ (``inf``); a schedule whose domain ends before it
    (``LogLinear``: λ(1) = 1 − ε) raises ``ValueError``.
    """
    lam = check_lambda(lam)
    t = math.inf if lam == 1.0 else process.schedule.time_of_total(-math.log1p(-lam))
    if t > process.schedule.t_max:
        raise ValueError(f"`lam`={lam} is beyond the domain of {process.schedule!r} "
                         f"(its λ at t_max = {process.schedule.t_max} is {masking_level(process, process.schedule.t_max)}).")
    return t


def masking_kernel(N: int, lam) -> np.ndarray:
    """k_λ of shape (N+1, N): k(v|v) = 1 − λ, k(M|v) = λ, the mask M with index N (the
    absorbing kernel at σ̄ = −log(1 − λ), restricted to data tokens)."""
    N, lam = check_count(N, "N"), check_lambda(lam)
    k = np.zeros((N + 1, N))
    k[np.arange(N), np.arange(N)] = 1.0 - lam
    k[N, :] = lam
    return k
