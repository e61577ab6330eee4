"""The denoising cross-entropy (DCE) of any denoiser, exactly, by enumerating masks.

.. math::

    \\ell_{DCE}(x_0, x, c) = \\sum_i 1[x^i = M]\\,(-\\log c(x)_{i, x_0^i}),
    \\qquad L^\\Lambda_{DCE}(x_0; c) = \\int_0^\\Lambda \\frac{1}{\\lambda}
        \\mathbb{E}_{x_\\lambda | x_0} \\ell_{DCE}(x_0, x_\\lambda, c)\\, d\\lambda.

A pattern with m masked tokens has probability λ^m (1 − λ)^{L−m} under the masking
kernel, so both expectations are finite sums over the 2^L masks of x0.
"""

from __future__ import annotations


import numpy as np
from scipy.special import betainc

from ..core.validation import as_token_array, validate_count, validate_lambda
from ..sequences.masks import mask_patterns
from .denoisers import evaluate_denoiser
from .weights import subset_weight

__all__ = ["dce_loss", "expected_dce", "dce_integral"]


def _vocabulary(denoiser, N):
    N = getattr(denoiser, "N", None) if N is None else N
    if N is None:
        raise ValueError("`N` is required when the denoiser has no attribute N.")
    return validate_count(N, "N")


def dce_loss(denoiser, x0, x, *, N=None) -> np.ndarray:
    """ℓ_DCE(x0, x, c) = Σ_i 1[x^i = M](−log c(x)_{i, x0^i}) for batches.

    ``x0`` (B, L) data tokens, ``x`` (B, L) noisy tokens (mask id N), ``denoiser`` a
    callable following the denoiser protocol (:mod:`exactdiff.masked.denoisers`).
    Unmasked positions must agree with x0. ``N`` defaults to ``denoiser.N``.
    """
    N = _vocabulary(denoiser, N)
    x0 = as_token_array(np.atleast_2d(x0), N, "x0")
    x = as_token_array(np.atleast_2d(x), N + 1, "x")
    if x0.shape != x.shape:
        raise ValueError(f"`x0` and `x` must have the same shape (got {x0.shape} and {x.shape}).")
    masked = x == N
    if np.any(~masked & (x != x0)):
        raise ValueError("unmasked positions of `x` must equal `x0`.")
    probs = evaluate_denoiser(denoiser, x, N)
    picked = np.take_along_axis(probs, x0[..., None], axis=-1)[..., 0]
    with np.errstate(divide="ignore"):
        return np.where(masked, -np.log(np.where(masked, picked, 1.0)), 0.0).sum(axis=-1)


def _losses_per_pattern(denoiser, x0, N):
    """ℓ_DCE for every x0 in the batch and every mask pattern: shape (B, 2^L), and the
    number masked per pattern."""
    x0 = as_token_array(np.atleast_2d(x0), N, "x0")
    B, L = x0.shape
    pats = mask_patterns(L)
    xs = np.where(pats[None, :, :], N, x0[:, None, :]).reshape(-1, L)
    x0r = np.repeat(x0, len(pats), axis=0)
    return dce_loss(denoiser, x0r, xs, N=N).reshape(B, len(pats)), pats.sum(axis=1)


def expected_dce(denoiser, lam, x0, *, N=None) -> np.ndarray:
    """E_{x_λ | x0} ℓ_DCE(x0, x_λ, c) for each x0 of the batch (B, L), by enumerating
    masks: Σ_m λ^{|m|}(1 − λ)^{L−|m|} ℓ(m)."""
    lam = validate_lambda(lam)
    N = _vocabulary(denoiser, N)
    losses, m = _losses_per_pattern(denoiser, x0, N)
    L = np.atleast_2d(x0).shape[1]
    w = lam**m * (1 - lam) ** (L - m)
    return losses @ w


def dce_integral(denoiser, x0, *, N=None, Lambda=1.0) -> np.ndarray:
    """L^Λ_DCE(x0; c) = ∫_0^Λ (1/λ) E_{x_λ|x0} ℓ_DCE dλ for each x0 of the batch, exactly.

    A pattern with m masked tokens has weight λ^m(1−λ)^{L−m}, so its integral against
    1/λ is B(m, L−m+1)·I_Λ(m, L−m+1) (B(m, L−m+1) is the subset weight of the L − m
    unmasked positions); the unmasked pattern has loss 0.
    """
    Lambda = validate_lambda(Lambda, "Lambda")
    N = _vocabulary(denoiser, N)
    losses, m = _losses_per_pattern(denoiser, x0, N)
    L = np.atleast_2d(x0).shape[1]
    mm = np.maximum(m, 1)
    w = np.where(m > 0, subset_weight(L, L - mm) * betainc(mm, L - mm + 1, Lambda), 0.0)
    return losses @ w
