"""The Gaussian identities that discrete diffusion generalises, checked by quadrature.

X is discrete: ``K`` distinct points ``x_1, …, x_K`` of R^d (d = 1, 2 or 3) with
probabilities ``p_1, …, p_K > 0``. It is sent through the Gaussian channel

.. math::

    Z_\\gamma = \\sqrt{\\gamma}\\, X + \\varepsilon, \\qquad \\varepsilon \\sim N(0, I_d),

with signal-to-noise ratio ``γ >= 0``. All quantities are in nats, float64. The identities
checked are I-MMSE [1]_, its pointwise form [2]_ and the NLL as an integral of the
pointwise mmse [3]_.

Given ``X = x_j``, write ``Z = √γ x_j + ε`` and ``Δ_k = x_j − x_k``. The posterior is a
softmax, ``π_k(Z) = softmax_k(b_k)`` with

.. math::

    b_k(\\varepsilon) = \\log(p_k / p_j) − \\sqrt{\\gamma}\\, \\varepsilon\\cdot\\Delta_k
                       − \\gamma \\lVert\\Delta_k\\rVert^2 / 2, \\qquad b_j = 0,

so every quantity is an expectation over ε with the standard normal weight:

- ``R_j(γ) = E[−log π_j(Z)] = E[log(1 + Σ_{k≠j} e^{b_k})]``, computed with ``log1p``
  (after shifting by ``max(0, max_k b_k)``) so that it keeps full relative precision
  when it is tiny (large γ); no epsilon is added anywhere;
- ``KL_j(γ) = KL(p(Z_γ|x_j) ‖ p(Z_γ)) = −log p_j − R_j(γ)``;
- ``mmse_j(γ) = E‖x_j − E[X|Z]‖² = E‖Σ_{k≠j} π_k Δ_k‖²``;
- ``I(γ) = Σ_j p_j KL_j(γ) = H(X) − Σ_j p_j R_j(γ)`` and ``mmse(γ) = Σ_j p_j mmse_j(γ)``.

Quadrature
----------
The default rule is the **trapezoidal rule on a tensor grid** over the box
``[−L, L]^d`` with ``L = 12``, which converges geometrically for these integrands (they
are analytic in a strip; Trefethen & Weideman, SIAM Review 56 (2014)). At large γ
the posterior switches from ``x_j`` to ``x_k`` across the hyperplane
``ε·Δ_k ≈ −√γ‖Δ_k‖²/2``, a layer of width about ``1/(√γ‖Δ_k‖)`` sitting out in the
Gaussian tail. Uniform nodes resolve it wherever it is; Gauss–Hermite nodes with ``n``
points spread over ``±√(4n)`` and need many more of them for the same spacing there.
Gauss–Hermite (probabilists', ``scipy.special.roots_hermitenorm``) is kept as a second,
independent rule, ``rule="hermite"``.

Error control: the rule is applied with ``n`` and ``2n`` nodes per axis (``n`` doubling
from 64 intervals, trapezoid, or 32 nodes, Gauss–Hermite) until every requested quantity
satisfies ``|Q_2n − Q_n| <= atol + rtol·|Q_2n| + T``, where ``T`` bounds what the box
leaves out (about 1e-32 for L = 12; refining below it gains nothing; T = 0 for
Gauss–Hermite). ``Q_2n`` is returned, and ``|Q_2n − Q_n| + T`` is the reported error
estimate; for a geometrically convergent rule it overstates the error of ``Q_2n``. If
the node cap is reached first, a ``RuntimeWarning`` says so and the estimate is still
returned. γ = 0 (the posterior is the prior) and K = 1 are returned exactly.

Cost: one evaluation touches ``(n+1)^d·K·(K−1)`` node–pair terms. In 1-D and 2-D every
check runs in seconds; in 3-D the NLL integral takes minutes.

References
----------
.. [1] D. Guo, S. Shamai, S. Verdú, "Mutual information and minimum mean-square error
   in Gaussian channels", IEEE Trans. Inf. Theory 51 (2005).
.. [2] K. Venkat, T. Weissman, "Pointwise relations between information and
   estimation in Gaussian noise", IEEE Trans. Inf. Theory 58 (2012).
.. [3] X. Kong, R. Brekelmans, G. Ver Steeg, "Information-theoretic diffusion",
   ICLR 2023.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import operator
import warnings

import numpy as np
from scipy import integrate
from scipy.special import ndtr, roots_hermitenorm

from .core.numerics import richardson_extrapolate
from .core.validation import as_probability_table

__all__ = [
    "GaussianToy",
    "gaussian_toy",
    "default_gaussian_toys",
    "gaussian_pointwise_kl",
    "gaussian_pointwise_mmse",
    "gaussian_mutual_information",
    "gaussian_mmse",
    "gaussian_pointwise_kl_derivative",
    "gaussian_information_derivative",
    "gaussian_nll_integral",
    "running_nll_integral",
    "derivative_and_mmse",
    "nll_integral_report",
    "as_gammas",
]

#: Half-width of the box ``[−L, L]^d`` that the trapezoidal rule covers.
BOX_HALF_WIDTH = 12.0
#: Largest dimension handled.
MAX_DIM = 3
#: Largest number of tensor-grid nodes in one quadrature (all axes together).
MAX_NODES = 2**24
#: Elements of the (nodes, K−1) work array processed at a time.
_CHUNK = 2**20


# -- the validated toy ---------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class GaussianToy:
    """A validated discrete X: ``points`` of shape (K, d) and ``probs`` of shape (K,).

    Build it with :func:`gaussian_toy`, which checks the input.
    """

    points: np.ndarray
    probs: np.ndarray

    @property
    def K(self) -> int:
        return self.points.shape[0]

    @property
    def d(self) -> int:
        return self.points.shape[1]

    @property
    def entropy(self) -> float:
        """H(X) = −Σ_k p_k log p_k, in nats."""
        return float(-np.dot(self.probs, np.log(self.probs)))

    def setup(self) -> dict:
        """A JSON-ready description for :class:`CheckResult`."""
        return {"K": self.K, "d": self.d, "points": self.points.tolist(), "probs": self.probs.tolist()}


def gaussian_toy(points, probs) -> GaussianToy:
    """Validate ``points`` and ``probs`` and return them as a :class:`GaussianToy`.

    Parameters
    ----------
    points : array_like, shape (K,) or (K, d)
        The support of X, ``K >= 1`` distinct points in R^d with ``d <= 3``.
        A 1-D array is K points on the line.
    probs : array_like, shape (K,)
        Their probabilities: positive and summing to 1 (a point of zero mass is not in
        the support; drop it).

    Raises
    ------
    ValueError
        Naming the argument and the rule it breaks.

    Examples
    --------
    >>> toy = gaussian_toy([-1.0, 1.0], [0.5, 0.5])
    >>> toy.points.shape, toy.d, round(toy.entropy, 12) == round(math.log(2), 12)
    ((2, 1), 1, True)
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim == 1:
        pts = pts[:, None]
    if pts.ndim != 2:
        raise ValueError(f"`points` must have shape (K,) or (K, d) (got {np.shape(points)}).")
    K, d = pts.shape
    if K == 0:
        raise ValueError("`points` must hold at least one point (got K = 0).")
    if not 1 <= d <= MAX_DIM:
        raise ValueError(f"`points` must lie in R^d with 1 <= d <= {MAX_DIM} (got d = {d}).")
    if not np.all(np.isfinite(pts)):
        raise ValueError("`points` must be finite.")
    sq = _pairwise_sq_dist(pts)
    np.fill_diagonal(sq, np.inf)
    if np.any(sq == 0):
        i, k = sorted(np.argwhere(sq == 0)[0])
        raise ValueError(f"`points` must be distinct (rows {i} and {k} are both {pts[i].tolist()}).")
    p = np.asarray(probs, dtype=np.float64)
    if p.shape != (K,):
        raise ValueError(f"`probs` must have shape ({K},), one per point (got {p.shape}).")
    p = as_probability_table(p, name="probs")
    if np.any(p == 0):
        raise ValueError(
            f"`probs` must be positive; a point of zero mass is not in the support "
            f"(got probs[{int(np.argmin(p))}] = 0)."
        )
    pts.setflags(write=False)
    p = p.copy()
    p.setflags(write=False)
    return GaussianToy(points=pts, probs=p)


def default_gaussian_toys(seed: int = 0) -> list[GaussianToy]:
    """The toys :func:`gaussian_checks` uses by default.

    - 3 points on the line, ``x = (−1, 0.3, 1.5)`` with ``p = (0.5, 0.2, 0.3)``;
    - 4 points in the plane drawn with ``numpy.random.default_rng(seed)``:
      coordinates N(0, 1), probabilities Dirichlet(2, 2, 2, 2).
    """
    rng = np.random.default_rng(seed)
    return [
        gaussian_toy([-1.0, 0.3, 1.5], [0.5, 0.2, 0.3]),
        gaussian_toy(rng.normal(size=(4, 2)), rng.dirichlet(np.full(4, 2.0))),
    ]


def _pairwise_sq_dist(pts):
    diff = pts[:, None, :] - pts[None, :, :]
    return np.einsum("ijd,ijd->ij", diff, diff)


def as_gammas(gamma, name="gamma"):
    """``gamma`` as a float64 array of finite SNRs >= 0."""
    g = np.asarray(gamma, dtype=np.float64)
    if not np.all(np.isfinite(g)) or np.any(g < 0):
        bad = g[~(np.isfinite(g) & (g >= 0))].flat[0]
        raise ValueError(f"`{name}` must be finite and >= 0 (got {bad}).")
    return g


# -- quadrature rules ----------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def _trapezoid_1d(n):
    """n intervals on [−L, L]: nodes and weights h·φ(x)."""
    h = 2.0 * BOX_HALF_WIDTH / n
    x = -BOX_HALF_WIDTH + h * np.arange(n + 1)
    w = h * np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    w[[0, -1]] *= 0.5
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


@functools.lru_cache(maxsize=32)
def _hermite_1d(n):
    """n-point Gauss–Hermite (probabilists'), weights normalised to sum to 1.

    ``scipy.special.roots_hermitenorm`` is stable for large n, where
    ``numpy.polynomial.hermite_e.hermegauss`` overflows. Nodes whose weight underflows
    to 0 are dropped.
    """
    x, w = roots_hermitenorm(n)
    keep = w > 0
    x, w = x[keep], w[keep] / math.sqrt(2.0 * math.pi)
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


#: rule name -> (nodes-and-weights function, first n, largest n per axis)
_RULES = {
    "trapezoid": (_trapezoid_1d, 64, 2**15),
    "hermite": (_hermite_1d, 32, 2**12),
}


def _truncation_bound(toy, gammas, rule):
    """Upper bounds on what the box ``[−L, L]^d`` leaves out, for R and for mmse.

    Outside the box ``0 <= −log π_j <= −log p_j + √γ‖ε‖ max‖Δ‖`` and
    ``‖Σ π_k Δ_k‖² <= max‖Δ‖²``; a union bound over the d axes with
    ``E[|ε_a| ; |ε_a| > L] = 2φ(L)`` and ``P(|ε_a| > L) = 2Φ(−L)`` does the rest.
    """
    if rule != "trapezoid":
        return np.zeros_like(gammas), np.zeros_like(gammas)
    L, d = BOX_HALF_WIDTH, toy.d
    tail_p = 2.0 * ndtr(-L)
    tail_m = 2.0 * math.exp(-0.5 * L * L) / math.sqrt(2.0 * math.pi)
    dmax = math.sqrt(float(_pairwise_sq_dist(toy.points).max()))
    outside = d * tail_p
    mean_norm_outside = d * (tail_m + (d - 1) * math.sqrt(2.0 / math.pi) * tail_p)
    bound_r = -math.log(toy.probs.min()) * outside + np.sqrt(gammas) * dmax * mean_norm_outside
    bound_m = np.full_like(gammas, dmax**2 * outside)
    return bound_r, bound_m


def _evaluate(toy, gammas, rule, n, which):
    """R_j(γ) and mmse_j(γ) for j in ``which`` and every γ, on one tensor grid.

    Returns two arrays of shape (len(which), len(gammas)).
    """
    x, w = _RULES[rule][0](n)
    d, K = toy.d, toy.K
    logp = np.log(toy.probs)
    gammas = np.asarray(gammas, dtype=np.float64)
    R = np.zeros((len(which), gammas.size))
    M = np.zeros_like(R)
    # Tensor grid: the first axis is split into chunks of `rows` nodes, the other d−1
    # axes are taken whole (eps_rest, shape (rest_size, d−1)).
    if d > 1:
        mesh = np.meshgrid(*([x] * (d - 1)), indexing="ij")
        eps_rest = np.stack([m.ravel() for m in mesh])
        w_rest = functools.reduce(np.multiply.outer, [w] * (d - 1)).ravel()
    else:
        eps_rest, w_rest = np.zeros((0, 1)), np.ones(1)
    rows = max(1, _CHUNK // (w_rest.size * (K - 1)))
    for a, j in enumerate(which):
        others = np.array([k for k in range(K) if k != j], dtype=int)
        delta = toy.points[j] - toy.points[others]  # Δ_k, shape (K−1, d)
        sq = np.einsum("kd,kd->k", delta, delta)
        proj_rest = np.einsum("kd,dr->kr", delta[:, 1:], eps_rest)  # (K−1, rest_size)
        for start in range(0, x.size, rows):
            x1, w1 = x[start:start + rows], w[start:start + rows]
            # proj[k, node] = ε·Δ_k over the chunk's nodes, in C order (x1, rest).
            proj = (delta[:, :1, None] * x1[None, :, None] + proj_rest[:, None, :]).reshape(K - 1, -1)
            wt = np.multiply.outer(w1, w_rest).ravel()
            for g_i, g in enumerate(gammas):
                const = logp[others] - logp[j] - 0.5 * g * sq
                b = const[:, None] - math.sqrt(g) * proj  # log posterior odds of x_k to x_j
                # −log π_j = log(1 + Σ_k e^{b_k}) = top + log1p(Σ_k e^{b_k − top} + expm1(−top))
                # with top = max(0, max_k b_k); where top = 0 this is log1p(Σ_k e^{b_k}) and
                # keeps full relative precision when tiny (large γ).
                top = np.maximum(b.max(axis=0), 0.0)
                e = np.exp(b - top)
                r = top + np.log1p(e.sum(axis=0) + np.expm1(-top))
                err = np.einsum("kd,kn->dn", delta, e) * np.exp(top - r)  # Σ_k π_k Δ_k = x_j − E[X|Z]
                # Plain (pairwise) sums, not BLAS dot: no threads, and accurate.
                R[a, g_i] += np.sum(wt * r)
                M[a, g_i] += np.sum(wt * np.einsum("dn,dn->n", err, err))
    return R, M


def _quadrature(toy, gammas, *, rule="trapezoid", rtol=1e-12, atol=0.0, which=None):
    """R_j and mmse_j on one common grid, refined n → 2n until converged.

    Returns ``(R, M, err_R, err_M, n)``; arrays have shape (len(which), len(gammas)).
    γ = 0 and K = 1 are returned exactly, not by quadrature.
    """
    if rule not in _RULES:
        raise ValueError(f"`rule` must be one of {set(_RULES)} (got {rule!r}).")
    gammas = np.atleast_1d(np.asarray(gammas, dtype=np.float64))
    which = list(range(toy.K)) if which is None else list(which)
    R = np.zeros((len(which), gammas.size))
    M = np.zeros_like(R)
    err_R = np.zeros_like(R)
    err_M = np.zeros_like(R)
    logp = np.log(toy.probs)
    mean = toy.probs @ toy.points
    # Exact values: at γ = 0 the posterior is the prior; with K = 1 nothing is unknown.
    zero = gammas == 0
    R[:, zero] = -logp[which, None]
    M[:, zero] = np.sum((toy.points[which] - mean) ** 2, axis=1)[:, None]
    live = gammas[~zero]
    if toy.K == 1 or live.size == 0:
        if toy.K == 1:
            R[:] = 0.0
            M[:] = 0.0
        return R, M, err_R, err_M, 0
    _, n, n_max = _RULES[rule]
    if n_max ** toy.d > MAX_NODES:
        n_max = 2 ** int(math.log2(MAX_NODES) / toy.d)
    t_r, t_m = _truncation_bound(toy, live, rule)
    prev = _evaluate(toy, live, rule, n, which)
    while True:
        n2 = 2 * n
        cur = _evaluate(toy, live, rule, n2, which)
        e_r = np.abs(cur[0] - prev[0])
        e_m = np.abs(cur[1] - prev[1])
        # Refining past the truncation bound of the box gains nothing.
        ok = np.all(e_r <= atol + t_r + rtol * np.abs(cur[0])) and np.all(e_m <= atol + t_m + rtol * np.abs(cur[1]))
        if ok or 2 * n2 > n_max:
            if not ok:
                warnings.warn(
                    f"Gaussian quadrature ({rule}, d = {toy.d}, γ up to {live.max():.3g}) stopped "
                    f"at n = {n2} per axis before reaching rtol = {rtol:.1e}, atol = {atol:.1e}; "
                    f"estimated error {max(e_r.max(), e_m.max()):.2e}.",
                    RuntimeWarning,
                    stacklevel=3,
                )
            break
        prev, n = cur, n2
    R[:, ~zero], M[:, ~zero] = cur
    err_R[:, ~zero] = e_r + t_r
    err_M[:, ~zero] = e_m + t_m
    return R, M, err_R, err_M, n2


def _per_gamma(toy, gamma, rule, rtol, atol, which=None):
    """Each γ on its own converged grid; arrays of shape (len(which),) + gamma.shape."""
    g = as_gammas(gamma)
    which = list(range(toy.K)) if which is None else list(which)
    out = np.zeros((4, len(which), g.size))
    for i, gi in enumerate(g.ravel()):
        R, M, eR, eM, _ = _quadrature(toy, [gi], rule=rule, rtol=rtol, atol=atol, which=which)
        out[:, :, i] = np.stack([R[:, 0], M[:, 0], eR[:, 0], eM[:, 0]])
    return out.reshape((4, len(which)) + g.shape)


# -- the quantities ------------------------------------------------------------------
def gaussian_pointwise_kl(points, probs, gamma, *, rule="trapezoid", rtol=1e-12, atol=0.0, return_error=False):
    """Pointwise information ``KL(p(Z_γ | X = x_j) ‖ p(Z_γ))`` for every support point.

    .. math::

        \\mathrm{KL}_j(\\gamma) = E_\\varepsilon[\\log p(Z|x_j) − \\log p(Z)]
                               = −\\log p_j − E_\\varepsilon[−\\log \\pi_j(Z)],
        \\quad Z = \\sqrt{\\gamma} x_j + \\varepsilon,

    where ``π_j(Z) = P(X = x_j | Z)``. It rises from 0 at γ = 0 to ``−log p_j``.

    Parameters
    ----------
    points : array_like, shape (K,) or (K, d)
    probs : array_like, shape (K,)
    gamma : float or array_like, >= 0
        The SNR. Each value gets its own converged quadrature grid.
    rule : {"trapezoid", "hermite"}
        Quadrature rule (module docstring).
    rtol, atol : float
        Convergence tolerance: ``|Q_2n − Q_n| <= atol + rtol·|Q_2n|``.
    return_error : bool
        Also return the estimated quadrature error, same shape.

    Returns
    -------
    kl : ndarray, shape (K,) + np.shape(gamma)

    Examples
    --------
    >>> kl = gaussian_pointwise_kl([-1.0, 1.0], [0.5, 0.5], 1.0)
    >>> bool(abs(kl[0] - kl[1]) < 1e-14)
    True
    """
    toy = gaussian_toy(points, probs)
    R, _, eR, _ = _per_gamma(toy, gamma, rule, rtol, atol)
    kl = -np.log(toy.probs).reshape((-1,) + (1,) * (R.ndim - 1)) - R  # exactly 0 at γ = 0
    return (kl, eR) if return_error else kl


def gaussian_pointwise_mmse(points, probs, gamma, *, rule="trapezoid", rtol=1e-12, atol=0.0, return_error=False):
    """Pointwise MMSE ``mmse(x_j, γ) = E[‖x_j − E[X|Z_γ]‖² | X = x_j]`` for every x_j.

    .. math::

        \\mathrm{mmse}_j(\\gamma) = E_\\varepsilon \\Big\\lVert \\sum_{k \\ne j}
            \\pi_k(Z)\\,(x_j − x_k) \\Big\\rVert^2, \\quad Z = \\sqrt{\\gamma} x_j + \\varepsilon.

    Parameters and returns as :func:`gaussian_pointwise_kl`; shape (K,) + np.shape(gamma).

    Examples
    --------
    >>> m = gaussian_pointwise_mmse([-1.0, 1.0], [0.5, 0.5], 0.0)   # the prior: E[X] = 0
    >>> m.tolist()
    [1.0, 1.0]
    """
    toy = gaussian_toy(points, probs)
    _, M, _, eM = _per_gamma(toy, gamma, rule, rtol, atol)
    return (M, eM) if return_error else M


def gaussian_mutual_information(points, probs, gamma, *, rule="trapezoid", rtol=1e-12, atol=0.0, return_error=False):
    """``I(X; Z_γ) = Σ_j p_j KL_j(γ) = H(X) − Σ_j p_j E[−log π_j(Z) | X = x_j]``, in nats.

    Parameters as :func:`gaussian_pointwise_kl`; the result has shape np.shape(gamma).

    Examples
    --------
    >>> I = gaussian_mutual_information([-1.0, 1.0], [0.5, 0.5], [0.0, 400.0])
    >>> float(I[0]), bool(abs(I[1] - math.log(2)) < 1e-15)
    (0.0, True)
    """
    toy = gaussian_toy(points, probs)
    R, _, eR, _ = _per_gamma(toy, gamma, rule, rtol, atol)
    info = np.where(as_gammas(gamma) == 0, 0.0, toy.entropy - np.tensordot(toy.probs, R, axes=1))[()]
    err = np.tensordot(toy.probs, eR, axes=1)[()]
    return (info, err) if return_error else info


def gaussian_mmse(points, probs, gamma, *, rule="trapezoid", rtol=1e-12, atol=0.0, return_error=False):
    """``mmse(γ) = E‖X − E[X|Z_γ]‖² = Σ_j p_j mmse_j(γ)``.

    Parameters as :func:`gaussian_pointwise_kl`; the result has shape np.shape(gamma).
    At γ = 0 it is the total variance ``E‖X − E X‖²``, returned exactly.

    Examples
    --------
    >>> float(gaussian_mmse([-1.0, 1.0], [0.5, 0.5], 0.0))
    1.0
    """
    toy = gaussian_toy(points, probs)
    _, M, _, eM = _per_gamma(toy, gamma, rule, rtol, atol)
    val = np.tensordot(toy.probs, M, axes=1)[()]
    err = np.tensordot(toy.probs, eM, axes=1)[()]
    return (val, err) if return_error else val


# -- derivatives by Richardson extrapolation -----------------------------------------
def _stencil(toy, gamma, step, levels):
    """γ and the steps ``h_m = h0·2^{−m}``, m = 0..levels−1, ``h0 = step·γ/(1 + γ·max‖Δ‖²/8)``.

    ``h0`` is relative to γ at small γ and, at large γ, to ``8/max‖Δ‖²``, the γ-scale on
    which the fastest ``exp(−γ‖Δ_k‖²/8)`` component of mmse varies. Returns
    ``(gamma, hs, points)`` with ``points = [γ + hs, γ − hs, γ]``.
    """
    g = as_gammas(gamma)
    if g.ndim != 0 or g == 0:
        raise ValueError(f"`gamma` must be a scalar > 0 for a central difference (got {gamma!r}).")
    g = float(g)
    rate = float(_pairwise_sq_dist(toy.points).max()) / 8.0
    hs = step * g / (1.0 + g * rate) / 2.0 ** np.arange(levels)
    return g, hs, np.concatenate([g + hs, g - hs, [g]])


def _richardson(vals, hs):
    """Richardson-extrapolated central difference from values on :func:`_stencil`
    (:func:`exactdiff.core.numerics.richardson_extrapolate` of D(h) = (f(γ+h) − f(γ−h)) / 2h).
    ``vals`` has shape (..., 2·levels [+ 1]). Returns ``(value, error)``, the error being
    the size of the last tableau correction."""
    levels = hs.size
    return richardson_extrapolate([(vals[..., m] - vals[..., levels + m]) / (2.0 * hs[m]) for m in range(levels)])


def derivative_and_mmse(toy, gamma, step, levels, rule, rtol):
    """On one grid of SNRs around γ: the Richardson d/dγ of −R_j (= d/dγ KL_j), mmse_j
    at γ, and their error estimates, for every x_j: ``(deriv, deriv_err, mmse, mmse_err)``."""
    g, hs, pts = _stencil(toy, gamma, step, levels)
    R, M, _, eM, _ = _quadrature(toy, pts, rule=rule, rtol=rtol)
    deriv, d_err = _richardson(-R, hs)
    return deriv, d_err, M[:, -1], eM[:, -1]


def gaussian_pointwise_kl_derivative(points, probs, gamma, *, levels=4, step=0.25, rule="trapezoid", rtol=1e-13):
    """``d/dγ KL_j(γ)`` for every x_j, by a Richardson-extrapolated central difference.

    The difference is taken of ``−R_j(γ) = KL_j(γ) + log p_j`` (the constant drops out
    and R_j keeps full relative precision at large γ), with steps ``h0·2^{−m}``,
    m = 0..levels−1, ``h0 = step·γ/(1 + γ·max_{j,k}‖x_j − x_k‖²/8)``, all on one
    quadrature grid converged to ``rtol`` (so the quadrature error is a smooth function
    of γ and does not enter the difference as noise). The tableau's error is
    O(h0^{2·levels}).

    Parameters
    ----------
    points, probs : as :func:`gaussian_pointwise_kl`
    gamma : float, > 0
    levels : int
        Rows of the Richardson tableau.
    step : float
        Sets the first step ``h0`` (above).
    rule, rtol : as :func:`gaussian_pointwise_kl`

    Returns
    -------
    value, error : ndarray, shape (K,)
        The derivative and the Richardson error estimate (last tableau correction).

    Examples
    --------
    >>> pts, p = [-1.0, 0.5, 2.0], [0.2, 0.5, 0.3]
    >>> dkl, _ = gaussian_pointwise_kl_derivative(pts, p, 1.0)
    >>> bool(np.allclose(dkl, 0.5 * gaussian_pointwise_mmse(pts, p, 1.0), rtol=1e-9, atol=0))
    True
    """
    toy = gaussian_toy(points, probs)
    deriv, d_err, _, _ = derivative_and_mmse(toy, gamma, step, levels, rule, rtol)
    return deriv, d_err


def gaussian_information_derivative(points, probs, gamma, *, levels=4, step=0.25, rule="trapezoid", rtol=1e-13):
    """``d/dγ I(X; Z_γ)`` by a Richardson-extrapolated central difference.

    ``I(γ) = H(X) − H(X|Z_γ)``; the difference is taken of ``−H(X|Z_γ) =
    −Σ_j p_j R_j(γ)``, the constant H(X) dropping out. Steps and parameters as in
    :func:`gaussian_pointwise_kl_derivative`.

    Returns
    -------
    value, error : float
    """
    toy = gaussian_toy(points, probs)
    g, hs, pts = _stencil(toy, gamma, step, levels)
    R = _quadrature(toy, pts, rule=rule, rtol=rtol)[0]
    value, err = _richardson(-(toy.probs @ R), hs)
    return float(value), float(err)


# -- the γ-integral ------------------------------------------------------------------
def _tail_cutoff(toy, tail_tol):
    """Γ with ``½∫_Γ^∞ mmse_j(γ) dγ <= tail_tol`` for every j, and the bounds at Γ.

    Bhattacharyya: ``E[π_k | x_j] <= √(p_k/p_j) exp(−γ‖Δ_k‖²/8)``, and
    ``‖Σ_k π_k Δ_k‖² <= Σ_k π_k ‖Δ_k‖²`` (Jensen, Σ_{k≠j} π_k <= 1), so
    ``½∫_Γ^∞ mmse_j <= 4 Σ_{k≠j} √(p_k/p_j) exp(−Γ‖Δ_k‖²/8)``.
    """
    sq = _pairwise_sq_dist(toy.points)
    ratio = np.sqrt(toy.probs[None, :] / toy.probs[:, None])  # [j, k] = √(p_k/p_j)
    off = ~np.eye(toy.K, dtype=bool)

    def bounds(G):
        return np.array([4.0 * np.sum(ratio[j, off[j]] * np.exp(-G * sq[j, off[j]] / 8.0)) for j in range(toy.K)])

    G = max(
        8.0 / sq[j, off[j]].min() * math.log(max(4.0 * ratio[j, off[j]].sum() / tail_tol, math.e))
        for j in range(toy.K)
    )
    return G, bounds(G)


def nll_integral_report(toy, rule, rtol):
    """``(value, error, Γ, tail bounds, evaluations)`` for :func:`gaussian_nll_integral`."""
    if toy.K == 1:
        return np.zeros(1), np.zeros(1), 0.0, np.zeros(1), 0
    scale = float(np.min(-np.log(toy.probs)))
    G, tail = _tail_cutoff(toy, 0.1 * rtol * scale)
    atol = 0.01 * rtol * scale
    calls = [0]

    def integrand(u):
        calls[0] += 1
        g = math.exp(u)
        return 0.5 * g * _quadrature(toy, [g], rule=rule, rtol=0.1 * rtol, atol=atol)[1][:, 0]

    val, err = integrate.quad_vec(integrand, -np.inf, math.log(G), epsabs=0.1 * atol, epsrel=rtol, norm="max")
    return val, err + tail, G, tail, calls[0]


def gaussian_nll_integral(points, probs, *, rule="trapezoid", rtol=1e-10, return_error=False):
    """``½ ∫_0^∞ mmse(x_j, γ) dγ`` for every x_j, which should equal ``−log p_j`` [3].

    Computed as ``∫ ½ e^u mmse_j(e^u) du`` over ``u ∈ (−∞, log Γ]`` with
    :func:`scipy.integrate.quad_vec` (``epsrel = rtol``). The cut-off Γ makes the
    rigorous tail bound ``½∫_Γ^∞ mmse_j <= 4 Σ_{k≠j} √(p_k/p_j) exp(−Γ‖Δ_k‖²/8)``
    (Bhattacharyya) smaller than ``rtol·min_j(−log p_j)/10``. Each mmse value is
    converged to ``rtol/10`` relative or ``rtol·min_j(−log p_j)/100`` absolute.

    Parameters
    ----------
    points, probs : as :func:`gaussian_pointwise_kl`
    rule : {"trapezoid", "hermite"}
    rtol : float
        Relative accuracy asked of the integral.
    return_error : bool
        Also return the error estimate: quad_vec's plus the tail bound.

    Returns
    -------
    value : ndarray, shape (K,)
    error : ndarray, shape (K,), if ``return_error``

    Examples
    --------
    >>> nll = gaussian_nll_integral([-1.0, 1.0], [0.25, 0.75])
    >>> bool(np.allclose(nll, -np.log([0.25, 0.75]), rtol=1e-8, atol=0))
    True
    """
    val, err, _, _, _ = nll_integral_report(gaussian_toy(points, probs), rule, rtol)
    return (val, err) if return_error else val


def running_nll_integral(points, probs, x0_index, gammas, *, rule="trapezoid", rtol=1e-10, return_error=False):
    """``½ ∫_0^γ mmse(x0, γ') dγ'`` on a grid of γ, for ``x0 = points[x0_index]``.

    By the NLL identity [3] and ``d/dγ KL = ½ mmse`` [2], this equals ``KL_{x0}(γ)``
    and tends to ``−log p(x0)`` as γ → ∞. Each piece between consecutive grid values is
    integrated in ``u = log γ`` with :func:`scipy.integrate.quad` and the pieces summed.

    Parameters
    ----------
    points, probs : as :func:`gaussian_pointwise_kl`
    x0_index : int
        Which support point.
    gammas : array_like, >= 0
        Upper limits, any order.

    Returns
    -------
    value : ndarray, shape np.shape(gammas)
    error : ndarray, same shape, if ``return_error`` (summed quad error estimates)
    """
    toy = gaussian_toy(points, probs)
    try:
        j = operator.index(x0_index)
    except TypeError:
        j = None
    if j is None or not 0 <= j < toy.K:
        raise ValueError(f"`x0_index` must be an integer in [0, {toy.K}) (got {x0_index!r}).")
    g = as_gammas(gammas, "gammas")
    flat = g.ravel()
    order = np.argsort(flat)
    scale = -math.log(toy.probs[j])

    def integrand(u):
        gam = math.exp(u)
        return 0.5 * gam * _quadrature(toy, [gam], rule=rule, rtol=rtol, atol=0.01 * rtol * scale, which=[j])[1][0, 0]

    total, total_err = 0.0, 0.0
    lo = -np.inf
    vals = np.zeros(flat.size)
    errs = np.zeros(flat.size)
    for i in order:
        if flat[i] > 0 and toy.K > 1:
            hi = math.log(flat[i])
            if hi > lo:
                piece, piece_err = integrate.quad(integrand, lo, hi, epsabs=0.1 * rtol * scale, epsrel=rtol, limit=200)
                total += piece
                total_err += piece_err
                lo = hi
        vals[i], errs[i] = total, total_err
    vals, errs = vals.reshape(g.shape), errs.reshape(g.shape)
    return (vals, errs) if return_error else vals
