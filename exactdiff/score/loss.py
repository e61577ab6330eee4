"""The denoising score entropy of a score model, written once: the per-draw loss and the
prior term of the DSE likelihood.

Notation of MATH.md (column convention, nats). For a token-wise process with per-token
generator Q, W = Q with the diagonal removed (W[a, v] the rate from v **into** a,
``process.off_diagonal``), k = exp(σ̄ Q) and a score model s (:mod:`~exactdiff.score.protocol`),

.. math::

    \\ell_{DSE}(x_0, x, t, s) = \\sigma(t)\\, h(x_0, x, \\bar\\sigma), \\qquad
    h = \\sum_i \\sum_{v \\ne x^i} W[x^i, v]\\,[\\, s_{i,v} - r_{i,v}\\log s_{i,v} + K(r_{i,v}) \\,],

with r_{i,v} = k(v | x0^i)/k(x^i | x0^i) and K(a) = a(log a − 1), K(0) = 0. Each bracket
is r·φ(s/r) with φ(z) = z − 1 − log z ≥ 0, so h ≥ 0 term by term. The exact expectation of
h over every state (:mod:`~exactdiff.score.states`) uses the same K and the same W.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import rel_entr, xlogy

from ..core.validation import as_token_array, validate_time
from .models import validate_token_wise
from .protocol import evaluate_score_model

__all__ = ["dse_loss", "dse_loss_per_rate", "dse_prior_term", "k_term"]


def k_term(a):
    """K(a) = a(log a − 1), with K(0) = 0 (``xlogy``)."""
    return xlogy(a, a) - a


def dse_loss_per_rate(scores, process, sigma_bar, x0, x) -> np.ndarray:
    """h = ℓ_DSE/σ(t) for a batch of draws from their scores, shape (B,) (module docstring).

    Parameters
    ----------
    scores : array, shape (B, L, n)
        Scores (not logs), e.g. from :func:`~exactdiff.score.protocol.evaluate_score_model`;
        entries with weight 0 are ignored.
    process : ForwardProcess
        Token-wise.
    sigma_bar : float array, shape (B,)
        σ̄ of each draw (> 0).
    x0 : int array, shape (L,) or (B, L)
        Clean sequences, tokens 0..N−1.
    x : int array, shape (B, L)
        Noisy states.

    Returns
    -------
    ndarray, shape (B,)
        0·log 0 = 0 (``xlogy``); a zero score where r > 0 gives +∞.

    Raises
    ------
    ValueError
        When a row of x cannot be reached from x0 (k(x^i | x0^i) = 0), naming the row.
    """
    validate_token_wise(process)
    x = as_token_array(x, process.n, "x")
    B, L = x.shape
    x0 = np.broadcast_to(as_token_array(np.atleast_2d(x0), process.N, "x0"), (B, L))
    sbar = np.asarray(sigma_bar, dtype=np.float64).reshape(B)
    if np.any(~(sbar > 0)):
        raise ValueError(f"`sigma_bar` must be > 0 (got minimum {np.nanmin(sbar)}).")
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (B, L, process.n):
        raise ValueError(f"`scores` must have shape (B, L, n) = {(B, L, process.n)} (got {scores.shape}).")
    k = process.kernels(sbar)  # (B, n, n)
    col = np.take_along_axis(k[:, None, :, :], x0[:, :, None, None], axis=3)[..., 0]  # (B, L, n): k(v | x0^i)
    den = np.take_along_axis(col, x[:, :, None], axis=2)  # (B, L, 1): k(x^i | x0^i)
    if np.any(den == 0):
        b = int(np.argmax((den == 0).any(axis=(1, 2))))
        raise ValueError(f"`x`={x[b].tolist()} cannot be reached from `x0`={x0[b].tolist()} (row {b}).")
    r = col / den
    W = process.off_diagonal[x]  # (B, L, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(W > 0, scores - xlogy(r, scores) + k_term(r), 0.0)
    return (W * term).sum(axis=(1, 2))


def dse_loss(model, process, t, x0, x) -> np.ndarray:
    """ℓ_DSE(x0, x, t, s) = σ(t)·h for a score model and one or more pairs of states.

    Parameters
    ----------
    model : score model
        ``model(x, sigma_bar)`` (:mod:`~exactdiff.score.protocol`).
    process : ForwardProcess
        Token-wise.
    t : float
        Time (> 0); the model is called at σ̄(t).
    x0 : int array, shape (L,) or (B, L)
    x : int array, shape (L,) or (B, L)

    Returns
    -------
    float for one pair, else ndarray (B,).

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> p0 = ed.Distribution.dirichlet(2, 2, seed=0); proc = ed.uniform(2)
    >>> x0 = np.array([0, 1])
    >>> losses = ed.dse_loss(ed.OracleScore(p0, proc), proc, 0.3, x0, [[0, 1], [1, 1], [0, 0], [1, 0]])
    >>> k = proc.kernel(0.3)                                  # p_{t|0}(x | x0), token by token
    >>> weights = [k[a, 0] * k[b, 1] for a, b in [(0, 1), (1, 1), (0, 0), (1, 0)]]
    >>> bool(abs(weights @ losses - ed.mdse(p0, proc, 0.3, pointwise=True)[0, 1]) < 1e-13)
    True
    """
    t = validate_time(t)
    one = np.ndim(x) == 1
    x = np.atleast_2d(np.asarray(x))
    B = x.shape[0]
    sbar = np.full(B, process.total(t))
    scores = evaluate_score_model(model, process, sbar, x)
    h = dse_loss_per_rate(scores, process, sbar, x0, x) * process.rate(t)
    return float(h[0]) if one else h


def dse_prior_term(process, sigma_bar_T, x0):
    """KL(p_{T|0}(·|x0) ‖ π_T), the prior term of the DSE likelihood, in closed form.

    π_T is the law at σ̄(T) of the process started from the uniform data law
    (:meth:`~exactdiff.ForwardProcess.uniform_start_law`); the KL is
    Σ_i Σ_y k(y|x0^i) log(k(y|x0^i)/π(y)), summed as Σ_y [rel_entr(k, π) − k + π] so that
    every term is ≥ 0 and no rounding gives a negative KL:

    - uniform: π_T is uniform (the stationary law) at every T;
    - absorbing: π_T(v) = (1−λ_T)/N for v < N and π_T(M) = λ_T, so the KL is
      L(1−λ_T) log N;
    - σ̄(T) = ∞: exactly 0.

    Parameters
    ----------
    process : ForwardProcess (token-wise)
    sigma_bar_T : float
        σ̄(T) (``inf`` allowed).
    x0 : int array, shape (L,) or (m, L)

    Returns
    -------
    float, or ndarray (m,)

    Examples
    --------
    >>> import exactdiff as ed, numpy as np, math
    >>> kl = dse_prior_term(ed.absorbing(4), 0.8, np.array([0, 3, 1]))
    >>> bool(abs(kl - 3 * math.exp(-0.8) * math.log(4)) < 1e-15)
    True
    """
    validate_token_wise(process)
    x0 = as_token_array(np.asarray(x0), process.N, "x0", ndim=np.ndim(x0))
    sbar = float(sigma_bar_T)
    if not sbar >= 0:
        raise ValueError(f"`sigma_bar_T` must be a total noise >= 0 (got {sigma_bar_T}).")
    if math.isinf(sbar):
        return np.zeros(x0.shape[:-1]) if x0.ndim > 1 else 0.0
    k = process.kernels(np.float64(sbar))[:, : process.N]  # (n, N): k(y | a)
    pi = process.uniform_start_law(np.float64(sbar))[:, None]
    per_token = (rel_entr(k, pi) - k + pi).sum(axis=0)  # (N,)
    out = per_token[x0].sum(axis=-1)
    return float(out) if x0.ndim == 1 else out
