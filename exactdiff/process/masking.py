"""The absorbing process in λ: the masking level λ = 1 − e^{−σ̄(t)}, its inverse, and the
masking kernel.

Under the absorbing process each token is masked independently with probability
λ(t) = 1 − e^{−σ̄(t)} (MATH.md). Masked diffusion is written in λ; λ ↔ σ̄ is converted
here and nowhere else — :func:`lambda_of_total` and :func:`total_of_lambda` on arrays,
:func:`masking_level` and :func:`masking_time` through a process's schedule — with
``-expm1`` and ``-log1p``, exact near 0. For the uniform process the same λ is the
probability that a token has been redrawn uniformly.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.validation import validate_count, validate_lambda, validate_time

__all__ = ["lambda_of_total", "total_of_lambda", "unmasking_odds", "masking_level", "masking_time", "masking_kernel"]


def lambda_of_total(sigma_bar):
    """λ = 1 − e^{−σ̄} (``-expm1``), elementwise; σ̄ = ∞ gives 1.

    Examples
    --------
    >>> float(lambda_of_total(1e-20))      # no cancellation near 0
    1e-20
    """
    return -np.expm1(-np.asarray(sigma_bar, dtype=np.float64))


def total_of_lambda(lam):
    """σ̄ = −log(1 − λ) (``-log1p``), elementwise; λ = 1 gives ∞.

    Examples
    --------
    >>> float(total_of_lambda(lambda_of_total(0.3)))
    0.3
    """
    with np.errstate(divide="ignore"):
        return -np.log1p(-np.asarray(lam, dtype=np.float64))


def unmasking_odds(sigma_bar):
    """(1 − λ)/λ = 1/(e^{σ̄} − 1) (``expm1``), elementwise: the odds that a token is still
    unmasked at total noise σ̄ (Lemma 3.3's factor); ∞ at σ̄ = 0, 0 at σ̄ = ∞.

    Examples
    --------
    >>> float(unmasking_odds(np.log(4.0)))      # λ = 3/4
    0.3333333333333333
    """
    with np.errstate(divide="ignore"):
        return 1.0 / np.expm1(np.asarray(sigma_bar, dtype=np.float64))


def masking_level(process, t) -> float:
    """λ(t) = 1 − e^{−σ̄(t)}: the probability that a token is masked at time t."""
    return float(lambda_of_total(process.total(validate_time(t))))


def masking_time(process, lam) -> float:
    """The time t with λ(t) = ``lam``: σ̄(t) = −log(1 − λ), inverted by the schedule.

    λ = 1 is reached only as t → ∞ (``inf``); a schedule whose domain ends before it
    (``LogLinear``: λ(1) = 1 − ε) raises ``ValueError``.
    """
    lam = validate_lambda(lam)
    t = math.inf if lam == 1.0 else process.schedule.time_of_total(float(total_of_lambda(lam)))
    if t > process.schedule.t_max:
        raise ValueError(f"`lam`={lam} is beyond the domain of {process.schedule!r} "
                         f"(its λ at t_max = {process.schedule.t_max} is {masking_level(process, process.schedule.t_max)}).")
    return t


def masking_kernel(N: int, lam) -> np.ndarray:
    """k_λ of shape (N+1, N): k(v|v) = 1 − λ, k(M|v) = λ, the mask M with index N (the
    absorbing kernel at σ̄ = −log(1 − λ), restricted to data tokens)."""
    N, lam = validate_count(N, "N"), validate_lambda(lam)
    k = np.zeros((N + 1, N))
    k[np.arange(N), np.arange(N)] = 1.0 - lam
    k[N, :] = lam
    return k
