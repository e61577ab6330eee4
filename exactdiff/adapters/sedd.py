"""SEDD's conventions (Lou, Meng & Ermon 2024, *Discrete Diffusion Modeling by Estimating
the Ratios of the Data Distribution*; ``graph_lib``, ``noise_lib``, ``losses``), as an
adapter onto exactdiff's.

- **Graphs.** SEDD's ``Uniform`` generator is exactdiff's ``uniform(N)`` (Q = 11ᵀ/N − I);
  its ``Absorbing`` graph on N + 1 tokens is ``absorbing(N)`` (mask id N). Both in the
  column convention: SEDD's ``rate(i)`` is column i of Q (the rates out of i) and
  ``transp_rate(i)`` row i (MATH.md, "Other codebases' conventions").
- **Score entropy.** ``Graph.score_entropy(log_score, sigma, x, x0)`` takes **log**-scores
  of shape (B, L, n), the **total** noise σ̄ and returns one value per position **without
  the rate**, so that ℓ_DSE(x0, x, t, e^{log_score}) = σ(t)·Σ_i loss[b, i]
  (:func:`sedd_score_entropy`).
- **Noise.** ``LogLinearNoise`` is ``ed.LogLinear`` (σ̄(t) = −log(1 − (1−ε)t)).
  ``GeometricNoise`` has σ̄_S(t) = σmin^{1−t} σmax^t, which is **not** 0 at t = 0: SEDD's
  time 0 is the data already noised by σmin. exactdiff's schedules keep σ̄(0) = 0, so its
  ``ed.Geometric(σmin, σmax)`` is shifted, σ̄(t) = σ̄_S(t) − σmin with the same rate at the
  same label t; :class:`SEDDGeometric` converts between the two times.

A SEDD network is a score model in exactdiff's sense as soon as it returns log-scores
and is told so (:func:`sedd_score_model`); since a model sees only σ̄, its DSE likelihood
is an integral over σ̄ and the time convention only decides the window (see
:meth:`SEDDGeometric.window`).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.special import xlogy

from ..core.validation import as_token_array
from ..process import Geometric, absorbing, uniform

__all__ = ["sedd_score_entropy", "SEDDGeometric", "sedd_score_model", "SEDD_GRAPHS"]

#: SEDD's graphs → the exactdiff process with the same generator, ``f(N, schedule)``.
SEDD_GRAPHS = {"uniform": uniform, "absorbing": absorbing}


def _K(a):
    """K(a) = a(log a − 1), K(0) = 0: written here again on purpose, so that the adapter
    stays a route independent of :mod:`exactdiff.score.loss`."""
    return xlogy(a, a) - a


def _uniform_entropy(ls, d, j, x, x0):
    """Per position, uniform graph (n = N tokens, every rate 1/N); ρ = e/(e + N) with
    e = e^{σ̄} − 1 = j/d, written as j/(j + N d) (no overflow at large σ̄)."""
    N = ls.shape[-1]
    at_x0 = np.take_along_axis(ls, x0[..., None], axis=2)[..., 0]
    others = np.arange(N)[None, None, :] != x[..., None]
    positive = np.where(others, np.exp(ls), 0.0).sum(axis=-1) / N
    logs = np.where(others, ls, 0.0).sum(axis=-1) / N
    rho = j / (j + N * d)
    stay = positive - rho * logs + (N - 1) / N * _K(rho)
    move = positive - logs - at_x0 * d / j + (_K(1 / rho) - (N - 2)) / N
    return np.where(x == x0, stay, move)


def _absorbing_entropy(ls, d, j, x, x0):
    """Per position, absorbing graph (n = N + 1, mask N); ρ = 1/(e^{σ̄} − 1) = d/j = (1 − λ)/λ."""
    N = ls.shape[-1] - 1
    rho = d / j
    masked = x == N
    at_x0 = np.take_along_axis(ls, x0[..., None], axis=2)[..., 0]
    value = np.exp(ls[..., :N]).sum(axis=-1) - rho * at_x0 + _K(rho)
    return np.where(masked, value, 0.0)


_ENTROPIES = {"uniform": _uniform_entropy, "absorbing": _absorbing_entropy}


def sedd_score_entropy(log_score, sigma_bar, x, x0, graph) -> np.ndarray:
    """SEDD's per-position score entropy (``graph_lib.<Graph>.score_entropy``), in numpy.

    SEDD takes **log**-scores and the **total** noise σ̄ and leaves out the rate σ(t):

    .. math:: \\ell_{DSE}(x_0, x, t, e^{\\text{log\\_score}}) = \\sigma(t) \\sum_i \\text{loss}[b, i],

    with ℓ_DSE of MATH.md (:func:`~exactdiff.dse_loss`). Per position, with e = e^{σ̄} − 1
    and ls = log_score (derived from ℓ_DSE; K(a) = a(log a − 1)):

    - ``"uniform"`` (n = N tokens, rates 1/N), ρ = e/(e + N) the forward ratio of a move away:
      x^i = x0^i: (1/N) Σ_{v≠x^i} (e^{ls_v} − ρ ls_v) + ((N−1)/N) K(ρ);
      x^i ≠ x0^i: (1/N) [Σ_{v≠x^i} (e^{ls_v} − ls_v) − (N/e) ls_{x0^i} + K(1/ρ) − (N − 2)];
    - ``"absorbing"`` (n = N + 1, mask N), ρ = 1/e = (1−λ)/λ: at a masked position
      Σ_{v<N} e^{ls_v} − ρ ls_{x0^i} + K(ρ); 0 at unmasked positions.

    Parameters
    ----------
    log_score : float array, shape (B, L, n)
        Log-scores; ``log_score[b, i, v]`` estimates log p_t(x with x^i ← v)/p_t(x).
    sigma_bar : float array, shape (B,) or (B, 1)
        Total noise σ̄ > 0 (SEDD's ``sigma``).
    x : int array, shape (B, L)
        Noisy states, tokens 0..n−1.
    x0 : int array, shape (B, L)
        Clean sequences, tokens 0..N−1; x must be reachable from x0.
    graph : {"uniform", "absorbing"}

    Returns
    -------
    ndarray, shape (B, L)

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> proc = ed.uniform(3); t = 0.4
    >>> s = np.random.default_rng(0).uniform(0.5, 2.0, size=(1, 2, 3))    # scores at x, L = 2
    >>> x0, x = (0, 2), (1, 2)
    >>> loss = sedd_score_entropy(np.log(s), [proc.total(t)], [x], [x0], "uniform")
    >>> bool(abs(proc.rate(t) * loss.sum() - ed.dse_loss(lambda x, sb: s, proc, t, x0, x)) < 1e-14)
    True
    """
    if graph not in _ENTROPIES:
        raise ValueError(f"`graph` must be one of {set(_ENTROPIES)} (got {graph!r}).")
    ls = np.asarray(log_score, dtype=np.float64)
    if ls.ndim != 3:
        raise ValueError(f"`log_score` must have shape (B, L, n) (got {ls.shape}).")
    B, L, n = ls.shape
    N = n if graph == "uniform" else n - 1
    if N < 1 + (graph == "uniform"):
        raise ValueError(f"`log_score` has n={n} token columns, too few for the {graph} graph.")
    if not np.all(np.isfinite(ls)):
        b, i, v = (int(a[0]) for a in np.nonzero(~np.isfinite(ls)))
        raise ValueError(f"`log_score` must be finite (got {float(ls[b, i, v])!r} at row {b}, position {i}, token {v}).")
    x = as_token_array(x, n, "x")
    x0 = as_token_array(x0, N, "x0")
    if x.shape != (B, L) or x0.shape != (B, L):
        raise ValueError(f"`x` and `x0` must have shape (B, L) = {(B, L)} (got {x.shape} and {x0.shape}).")
    sbar = np.asarray(sigma_bar, dtype=np.float64)
    if sbar.shape not in ((B,), (B, 1)):
        raise ValueError(f"`sigma_bar` must have shape (B,) or (B, 1) with B={B} (got {sbar.shape}).")
    sbar = sbar.reshape(B, 1)
    if not np.all(np.isfinite(sbar) & (sbar > 0)):
        raise ValueError(f"`sigma_bar` must be finite and > 0 (got minimum {np.nanmin(sbar)}).")
    if graph == "absorbing":
        bad = (x != N) & (x != x0)
        if bad.any():
            b = int(np.argmax(bad.any(axis=1)))
            raise ValueError(f"`x`={x[b].tolist()} cannot be reached from `x0`={x0[b].tolist()} under the absorbing "
                             f"graph (row {b}).")
    return _ENTROPIES[graph](ls, np.exp(-sbar), -np.expm1(-sbar), x, x0)


@dataclasses.dataclass(frozen=True)
class SEDDGeometric:
    """SEDD's geometric noise (``noise_lib.GeometricNoise``), as a time conversion.

    σ̄_S(t) = σmin^{1−t} σmax^t and σ_S(t) = σ̄_S(t)·log(σmax/σmin) on t ∈ [0, 1]. It is not
    an exactdiff ``Schedule``: those keep σ̄(0) = 0 (x_0 is the data), while σ̄_S(0) = σmin.
    exactdiff's ``ed.Geometric(σmin, σmax)`` (:meth:`schedule`) is the shifted one,
    σ̄_E(τ) = σmin^{1−τ} σmax^τ − σmin, with the same rate at the same label (σ_E(τ) = σ_S(τ)).

    **Time map.** The same noise level σ̄ sits at SEDD time t = log(σ̄/σmin)/log(σmax/σmin)
    and at exactdiff time τ = log1p(σ̄/σmin)/log(σmax/σmin), so

        τ(t) = log1p((σmax/σmin)^t) / log(σmax/σmin)        (:meth:`to_exactdiff_time`),
        t(τ) = log(expm1(τ log(σmax/σmin))) / log(σmax/σmin)   for τ ≥ log 2/log(σmax/σmin).

    **Window.** A model sees only σ̄ and ∫ ℓ_DSE dt = ∫ E[ℓ/σ] dσ̄, so SEDD's ∫_0^1 · dt is
    exactdiff's integral over σ̄ ∈ [σmin, σmax]: t_min = τ(0) = log 2/log(σmax/σmin) and
    T = τ(1) (:meth:`window`). Its cut-off bias, −∫_0^{σmin} E[ℓ/σ] dσ̄, is what SEDD's
    bound leaves out (it bounds −log of the data noised by σmin, not of p0).

    Parameters
    ----------
    sigma_min, sigma_max : float
        0 < σmin < σmax < ∞; SEDD's configs use 1e-4 and 20.

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> g = SEDDGeometric(1e-4, 20.0)
    >>> tau = g.to_exactdiff_time(0.3)
    >>> bool(abs(g.schedule().total(float(tau)) - g.total(0.3)) < 1e-15)
    True
    """

    sigma_min: float = 1e-4
    sigma_max: float = 20.0

    def __post_init__(self):
        if not (0 < self.sigma_min < self.sigma_max < math.inf):
            raise ValueError(f"need 0 < `sigma_min` < `sigma_max` < inf (got {self.sigma_min}, {self.sigma_max}).")

    @property
    def log_ratio(self) -> float:
        """log(σmax/σmin)."""
        return math.log(self.sigma_max / self.sigma_min)

    @staticmethod
    def _t(t):
        t = np.asarray(t, dtype=np.float64)
        if np.any(~((t >= 0) & (t <= 1))):
            raise ValueError(f"`t` must lie in [0, 1], SEDD's time (got values in [{np.nanmin(t)}, {np.nanmax(t)}]).")
        return t

    def total(self, t):
        """σ̄_S(t) = σmin^{1−t} σmax^t."""
        return self.sigma_min * np.exp(self._t(t) * self.log_ratio)

    def rate(self, t):
        """σ_S(t) = σ̄_S(t)·log(σmax/σmin)."""
        return self.total(t) * self.log_ratio

    def to_exactdiff_time(self, t):
        """τ with ``ed.Geometric(σmin, σmax).total(τ) == total(t)``."""
        return np.log1p(np.exp(self._t(t) * self.log_ratio)) / self.log_ratio

    def from_exactdiff_time(self, tau):
        """t with ``total(t) == ed.Geometric(σmin, σmax).total(τ)``; τ must give σ̄ in [σmin, σmax]."""
        tau = np.asarray(tau, dtype=np.float64)
        sbar = self.sigma_min * np.expm1(tau * self.log_ratio)
        if np.any(~((sbar >= self.sigma_min * (1 - 1e-12)) & (sbar <= self.sigma_max * (1 + 1e-12)))):
            raise ValueError(f"`tau` must give σ̄ in SEDD's range [{self.sigma_min}, {self.sigma_max}] "
                             f"(got σ̄ in [{np.nanmin(sbar):.3g}, {np.nanmax(sbar):.3g}]).")
        return np.clip(np.log(sbar / self.sigma_min) / self.log_ratio, 0.0, 1.0)

    def schedule(self) -> Geometric:
        """exactdiff's shifted schedule ``ed.Geometric(σmin, σmax)``."""
        return Geometric(self.sigma_min, self.sigma_max)

    def window(self):
        """(t_min, T) of :meth:`schedule` whose σ̄ range is SEDD's [σmin, σmax]."""
        return float(self.to_exactdiff_time(0.0)), float(self.to_exactdiff_time(1.0))


class _SEDDModel:
    """A SEDD network as a score model: log-scores, σ̄ inside its trained range."""

    log_scores = True

    def __init__(self, log_score_fn, sigma_min, sigma_max):
        self.fn, self.sigma_min, self.sigma_max = log_score_fn, sigma_min, sigma_max

    def __call__(self, x, sigma_bar):
        s = np.asarray(sigma_bar, dtype=np.float64)
        lo = -math.inf if self.sigma_min is None else self.sigma_min * (1 - 1e-12)
        hi = math.inf if self.sigma_max is None else self.sigma_max * (1 + 1e-12)
        outside = ~((s >= lo) & (s <= hi))
        if outside.any():
            b = int(np.argmax(outside))
            raise ValueError(f"`sigma_bar` must lie in SEDD's range [{self.sigma_min}, {self.sigma_max}] "
                             f"(got sigma_bar[{b}] = {s[b]:.6g}).")
        return self.fn(x, s)


def sedd_score_model(log_score_fn, *, sigma_min=None, sigma_max=None):
    """A SEDD network ``log_score_fn(x, sigma_bar) -> (B, L, n)`` log-scores (what
    ``model_utils.get_score_fn`` returns, moved to numpy) as an exactdiff score model
    (``log_scores = True``). With ``sigma_min``/``sigma_max`` it refuses σ̄ outside the
    trained range with a ``ValueError``; integrate it over
    :meth:`SEDDGeometric.window` (geometric noise) and pass ``exact_bias=False`` to
    :func:`~exactdiff.estimate_dse_nll`, since the bias needs σ̄ < σmin."""
    return _SEDDModel(log_score_fn, sigma_min, sigma_max)
