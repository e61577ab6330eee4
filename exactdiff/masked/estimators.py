"""Monte Carlo likelihood estimators of masked diffusion, and their exact moments.

Every estimator here averages n independent draws of one random variable D built from
a mask over the diffused positions T (all L positions by default) and the DCE loss of a
denoiser c (any callable following :mod:`exactdiff.masked.denoisers`):

.. math:: \\ell(m) = \\sum_{i \\in m} -\\log c(\\tilde x_m)_{i, x_0^i},

where m ⊆ T is the set of masked target positions and x̃_m is x0 with m, and every
position outside T ∪ C, set to the mask token (C: the context, always visible). With
n = |T| and a = |m| the number masked:

=================  ==========================================  ==============================
``method``         law of the mask m                           one draw D
=================  ==========================================  ==============================
``time_integral``  λ ~ U(ε, 1), each position masked w.p. λ    (1 − ε) ℓ(m) / λ
``k_dce``          a ~ U{1..n}, m uniform of size a            (n / a) ℓ(m)
``time_free``      P(a) = 1 / (a H_n), m uniform of size a     H_n ℓ(m)
a ``MaskLaw``      its law of the unmasked set U = T ∖ m       scale · (sum or mean of) ℓ
=================  ==========================================  ==============================

``k_dce`` and ``time_free`` are mask laws (:meth:`MaskLaw.k_dce
<exactdiff.masked.laws.MaskLaw.k_dce>`, :meth:`MaskLaw.time_free
<exactdiff.masked.laws.MaskLaw.time_free>`), drawn and weighted by
:mod:`exactdiff.masked.laws`; every ``method`` argument below also takes a
:class:`~exactdiff.masked.laws.MaskLaw` or the name of a named law.

For every method E[D] = Σ_m B(a, n − a + 1) ℓ(m) at ε = 0: the time-integrated DCE
∫_0^1 (1/λ) E_{x_λ|x0} ℓ dλ (Theorem 3.4's L^1_DCE), and Theorem 4.1's time-free sum —
equal to −log p0(x0) for the oracle (Corollary 3.7, Theorem 4.1); with a target T and
context C, Corollary 4.3's −log p0(x^T | x^C). A cut-off ε > 0 drops ∫_0^ε: the
time-integral mean is then ∫_ε^1, biased by −Σ_m ℓ(m) ∫_0^ε λ^{a−1}(1−λ)^{n−a} dλ
(``cutoff_bias``, exact). The factor (1 − ε) in D makes E[D] the integral over [ε, 1]
itself, since λ has density 1/(1 − ε).

The log-ratio estimator of Eq. 18 estimates log p0(y) − log p0(x) by D_x − D_y, with a
shared mask (``coupled``) or independent masks (``decoupled``).

Exact moments (:func:`estimator_moments`, :func:`log_ratio_moments`) enumerate all 2^n
masks, one denoiser call per mask, and integrate the polynomials in λ exactly:

.. math:: \\mathbb E[D^r] = \\sum_{a=1}^{n} W_r(a) \\sum_{|m| = a} \\ell(m)^r,

with W_r(a) = H_n^{r−1} / (a C(n, a)) (time-free), (n/a)^r / (n C(n, a)) (k-DCE) and
(1 − ε)^{r−1} ∫_ε^1 λ^{a−r} (1 − λ)^{n−a} dλ (time-integral). At ε = 0 the
time-integral second moment diverges through a = 1: ∫_ε^1 λ^{−1}(1−λ)^{n−1} dλ =
log(1/ε) − H_{n−1} + O(ε), so E[D²] ≈ (Σ_{|m|=1} ℓ(m)²) · log(1/ε): a single masked
token drawn at small λ has weight 1/λ, whose square is not integrable.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from fractions import Fraction

import numpy as np

from ..core.validation import as_token_array, check_count, check_rng, check_target_context
from .dce import _vocabulary, mask_patterns
from .denoisers import evaluate_denoiser
from .laws import LAW_NAMES, MaskLaw, pattern_sizes
from .likelihood import check_coupling
from .laws import uniform_masks as _uniform_masks  # noqa: F401  (the k-DCE and time-free masks; tests use it)

__all__ = [
    "Estimate",
    "EstimatorMoments",
    "estimate_nll",
    "estimate_conditional_nll",
    "estimate_log_ratio",
    "estimator_moments",
    "log_ratio_moments",
    "mask_losses",
    "moments_from_losses",
    "log_ratio_moments_from_losses",
    "draw_masks",
    "moment_weights",
    "ESTIMATOR_METHODS",
]

#: Largest number 2^n of masks the exact moments enumerate unless told otherwise.
MAX_PATTERNS = 2**16


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate.

    Attributes
    ----------
    estimate : float
        The mean of the n draws (nats).
    stderr : float
        Its standard error: the sample standard deviation / √n, or, stratified, the
        within-stratum estimate (pairs of draws per stratum).
    n : int
        Number of draws.
    method : str
    cutoff_bias : float or None
        For ``time_integral`` with ε > 0, the exact E[estimate] − ∫_0^1 (1/λ) E ℓ dλ
        = −∫_0^ε (1/λ) E ℓ dλ ≤ 0 (None when not computed; 0 without a cut-off).
    samples : ndarray, shape (n,)
        The draws.
    """

    estimate: float
    stderr: float
    n: int
    method: str
    cutoff_bias: float | None = None
    samples: np.ndarray = dataclasses.field(default=None, repr=False, compare=False)


@dataclasses.dataclass(frozen=True)
class EstimatorMoments:
    """Exact moments of one draw D of an estimator.

    Attributes
    ----------
    method : str
    mean, variance : float
        E[D] and Var[D]; ``variance`` is ``inf`` where E[D²] diverges.
    raw : tuple of float
        E[D], E[D²], E[D³], E[D⁴] (``inf`` where they diverge).
    cutoff_bias : float
        E[D] − (its value at ε = 0); nonzero only for ``time_integral`` with ε > 0.
    log_divergence : float
        For ``time_integral``: c in E[D²] = c · log(1/ε) + O(1) as ε → 0, namely
        Σ_{|m|=1} ℓ(m)² (0: the variance stays finite at ε = 0). 0 for other methods.
    note : str
        Why a moment is infinite, when one is.
    """

    method: str
    mean: float
    variance: float
    raw: tuple
    cutoff_bias: float = 0.0
    log_divergence: float = 0.0
    note: str = ""

    @property
    def central4(self) -> float:
        """E[(D − E D)⁴] from the raw moments."""
        m1, m2, m3, m4 = self.raw
        if not all(np.isfinite(self.raw)):
            return float("inf")
        return float(m4 - 4 * m3 * m1 + 6 * m2 * m1**2 - 3 * m1**4)

    def stderr(self, n: int) -> float:
        """Standard error of the mean of n draws: √(Var / n)."""
        return float(np.sqrt(self.variance / n))

    def variance_stderr(self, n: int) -> float:
        """Standard deviation of the sample variance of n iid draws:
        √((μ4 − σ⁴)/n + 2σ⁴/(n(n−1))), with μ4 the fourth central moment."""
        s2 = self.variance
        return float(np.sqrt((self.central4 - s2**2) / n + 2 * s2**2 / (n * (n - 1))))


# -- exact integrals ∫ λ^p (1 − λ)^q dλ ----------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def _power_integral(p: int, q: int, lo: float, hi: float) -> tuple[Fraction, int]:
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


def _integral(p: int, q: int, lo: float, hi: float) -> float:
    """∫_lo^hi λ^p (1 − λ)^q dλ as a float (``inf`` where it diverges at lo = 0)."""
    res = _power_integral(p, q, lo, hi)
    if res is None:
        return float("inf")
    rational, log_coef = res
    if log_coef == 0:
        return float(rational)
    if lo == 0:
        return float("inf")  # p = −1 at λ → 0; log_coef = 1 > 0 there
    return float(rational) + log_coef * (math.log(hi) - math.log(lo))


# -- the three laws --------------------------------------------------------------------------------
def _weights_time_integral(n, r, eps):
    return np.array([(1 - eps) ** (r - 1) * _integral(a - r, n - a, eps, 1.0) for a in range(1, n + 1)])


def _law_draw(make):
    """The draw of a method that is a :class:`~exactdiff.masked.laws.MaskLaw` (``make(n)``)."""
    def draw(count, n, rng, eps, stratify):
        law = make(n)
        masks = law.draw(count, rng)
        return masks, law.factor(masks.sum(axis=1))
    return draw


def _law_weights(make):
    """The moment weights W_r(a) of a method that is a :class:`~exactdiff.masked.laws.MaskLaw`."""
    def weights(n, r, eps):
        return make(n).masked_weights(r)
    return weights


def _draw_time_integral(count, n, rng, eps, stratify):
    if stratify:
        strata = count // 2
        u = (np.repeat(np.arange(strata), 2) + rng.random(count)) / strata
    else:
        u = rng.random(count)
    lam = eps + (1 - eps) * u
    masks = rng.random((count, n)) < lam[:, None]
    return masks, (1 - eps) / lam


#: k-DCE and the time-free estimator are mask laws (:meth:`MaskLaw.k_dce`, :meth:`MaskLaw.time_free`):
#: a ~ U{1..n} masked with weight n/a, and a ∝ 1/a with weight H_n.
_draw_k_dce, _weights_k_dce = _law_draw(MaskLaw.k_dce), _law_weights(MaskLaw.k_dce)
_draw_time_free, _weights_time_free = _law_draw(MaskLaw.time_free), _law_weights(MaskLaw.time_free)


#: method → (draw masks and multipliers, moment weights W_r(a) for a = 1..n). The other
#: named laws (:data:`~exactdiff.masked.laws.LAW_NAMES`) and any MaskLaw are accepted too.
ESTIMATOR_METHODS = {
    "time_integral": (_draw_time_integral, _weights_time_integral),
    "k_dce": (_draw_k_dce, _weights_k_dce),
    "time_free": (_draw_time_free, _weights_time_free),
}


def check_method(method, name="method"):
    """``method`` if it is a method name, a named law or a :class:`MaskLaw`; else a
    ValueError naming the argument ``name``."""
    if isinstance(method, MaskLaw) or (isinstance(method, str)
                                       and (method in ESTIMATOR_METHODS or method in LAW_NAMES)):
        return method
    names = sorted(set(ESTIMATOR_METHODS) | set(LAW_NAMES))
    raise ValueError(f"`{name}` must be one of {names} or a MaskLaw (got {method!r}).")


def _law_of(method, n):
    """The MaskLaw of ``method`` over n positions, or None for a method of
    :data:`ESTIMATOR_METHODS` (drawn and weighted through that dict)."""
    if isinstance(method, MaskLaw):
        if method.n != n:
            raise ValueError(f"`method`: the MaskLaw {method.name!r} is over n={method.n} positions; the target "
                             f"has {n}.")
        return method
    if method in ESTIMATOR_METHODS:
        return None
    return MaskLaw.named(method, n)


def _label(method):
    return method.name if isinstance(method, MaskLaw) else method


def _check_eps(eps):
    eps = float(eps)
    if not 0.0 <= eps < 1.0:
        raise ValueError(f"`eps` must lie in [0, 1) (got {eps}).")
    return eps


def draw_masks(method, n: int, count: int, rng, eps: float = 0.0, stratify: bool = False):
    """``count`` draws of (mask over n target positions, multiplier w): one estimator
    draw is D = w · ℓ(mask). Returns a boolean array (count, n), True = masked, and w (count,).
    ``method`` is a method name, a named law or a :class:`~exactdiff.masked.laws.MaskLaw`."""
    check_method(method)
    law = _law_of(method, int(n))
    if law is not None:
        masks = law.draw(int(count), rng)
        return masks, law.factor(masks.sum(axis=1))
    return ESTIMATOR_METHODS[method][0](int(count), int(n), rng, _check_eps(eps), bool(stratify))


def moment_weights(method, n: int, r: int, eps: float = 0.0) -> np.ndarray:
    """W_r(a) for a = 1..n: E[D^r] = Σ_a W_r(a) Σ_{|m|=a} ℓ(m)^r (module docstring);
    ``inf`` where the integral diverges (time-integral, ε = 0, a < r). A mask law's
    weights are :meth:`MaskLaw.masked_weights <exactdiff.masked.laws.MaskLaw.masked_weights>`."""
    check_method(method)
    law = _law_of(method, int(n))
    if law is not None:
        return law.masked_weights(int(r))
    return ESTIMATOR_METHODS[method][1](int(n), int(r), _check_eps(eps))


# -- losses on masks --------------------------------------------------------------------------------
def _setup(denoiser, x0, N, target, context):
    """(tokens, N, target positions, always-masked positions)."""
    N = _vocabulary(denoiser, N)
    x0 = as_token_array(x0, N, "x0", ndim=1)
    if x0.size == 0:
        raise ValueError("`x0` must hold at least one token (got an empty sequence).")
    L = x0.size
    if target is None:
        if context is not None and len(context):
            raise ValueError("`context` needs a `target`.")
        target, context = range(L), ()
    target, context = check_target_context(L, target, context)
    hidden = np.ones(L, dtype=bool)
    hidden[list(target + context)] = False
    return x0.astype(np.int64), N, np.array(target), hidden


def _losses(denoiser, x0, N, target, hidden, masks, batch_size=4096):
    """ℓ(m) for every row of ``masks`` (count, |T|): one denoiser call per distinct mask."""
    keys, inverse = np.unique(masks, axis=0, return_inverse=True)
    values = np.zeros(len(keys))
    active = np.flatnonzero(keys.any(axis=1))
    for start in range(0, active.size, batch_size):
        rows = active[start: start + batch_size]
        full = np.tile(hidden, (rows.size, 1))
        full[:, target] = keys[rows]
        x = np.where(full, N, x0)
        probs = evaluate_denoiser(denoiser, x, N)
        picked = probs[:, target, x0[target]]
        with np.errstate(divide="ignore"):
            values[rows] = np.where(keys[rows], -np.log(np.where(keys[rows], picked, 1.0)), 0.0).sum(axis=1)
    return values[inverse.ravel()]


def _pattern_losses(denoiser, x0, N, target, hidden, max_patterns, batch_size=4096):
    """ℓ(m) for all 2^|T| masks, and the number masked."""
    n = target.size
    if 2**n > max_patterns:
        raise ValueError(f"exact moments enumerate 2^{n} = {2**n:,} masks, more than `max_patterns`={max_patterns:,}; "
                         f"raise `max_patterns` or use fewer target positions.")
    masks = mask_patterns(n)
    return _losses(denoiser, x0, N, target, hidden, masks, batch_size), masks.sum(axis=1)


def _sample(denoiser, x0, method, n, rng, N, eps, stratify, target, context, batch_size):
    rng = check_rng(rng)
    x0, N, target, hidden = _setup(denoiser, x0, N, target, context)
    masks, w = draw_masks(method, target.size, n, rng, eps, stratify)
    return w * _losses(denoiser, x0, N, target, hidden, masks, batch_size)


def _check_n(n, stratify=False):
    n = check_count(n, "n", 2)
    if stratify and n % 2:
        raise ValueError(f"`n` must be even with `stratify=True` (two draws per stratum; got {n}).")
    return int(n)


def _summarise(draws, method, stratify, cutoff_bias):
    n = draws.size
    if stratify:
        pairs = draws.reshape(-1, 2)
        stderr = math.sqrt(np.sum((pairs[:, 0] - pairs[:, 1]) ** 2) / 4) / pairs.shape[0]
    else:
        stderr = float(np.std(draws, ddof=1) / math.sqrt(n)) if np.all(np.isfinite(draws)) else float("inf")
    return Estimate(float(draws.mean()), float(stderr), n, _label(method), cutoff_bias, draws)


# -- public estimators ------------------------------------------------------------------------------
def estimate_nll(denoiser, x0, method, n, rng, *, N=None, eps=0.0, stratify=False, target=None,
                 context=None, batch_size=4096, exact_bias=True, max_patterns=MAX_PATTERNS) -> Estimate:
    """Monte Carlo estimate of −log p0(x0) (or −log p0(x^T | x^C)) with any denoiser.

    Parameters
    ----------
    denoiser : callable
        (B, L) int → (B, L, N) probabilities (:mod:`exactdiff.masked.denoisers`).
    x0 : int array, shape (L,)
    method : {"time_integral", "k_dce", "time_free"}, a named law, or MaskLaw
        The law of one draw (module docstring): the time-integrated DCE with
        λ ~ U(ε, 1); k-DCE, a ~ U{1..n} masked with weight n/a; the time-free estimator
        of Theorem 4.1, a ∝ 1/a with weight H_n. Also any
        :class:`~exactdiff.masked.laws.MaskLaw` over n = |T| positions, or the name of
        one (``"no_empty"``, ``"mean"``, ``"no_empty_mean"``: the flawed laws of
        :mod:`exactdiff.masked.laws`).
    n : int
        Number of draws.
    rng : numpy.random.Generator or int
    N : int, optional
        Vocabulary size (default ``denoiser.N``).
    eps : float in [0, 1)
        Cut-off of the time integral (``time_integral`` only). With ε = 0 the estimator is
        unbiased but its variance is infinite (:func:`estimator_moments`), so ``stderr``
        is not to be trusted; with ε > 0 it is biased by ``cutoff_bias``.
    stratify : bool
        ``time_integral`` only: λ stratified, two draws in each of n/2 equal strata of
        [ε, 1]; ``stderr`` from the within-stratum differences.
    target, context : positions, optional
        Corollary 4.3: only ``target`` is diffused, ``context`` stays visible, other
        positions are masked throughout (summed out). Default: every position.
    batch_size : int
        Rows per denoiser call. Each distinct masked sequence is evaluated once.
    exact_bias : bool
        Compute ``cutoff_bias`` exactly when ε > 0 (2^|T| denoiser rows, at most
        ``max_patterns``; otherwise it is None).

    Returns
    -------
    Estimate
        ``.estimate``, ``.stderr``, ``.n`` (and ``.cutoff_bias``, ``.samples``).

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> p0 = ed.Distribution.dirichlet(2, 4, seed=1)
    >>> x0 = np.array([0, 1, 1, 0])
    >>> est = ed.estimate_nll(ed.OracleDenoiser(p0), x0, "time_free", 4000, np.random.default_rng(0))
    >>> bool(abs(est.estimate - p0.nll(tuple(x0))) < 4 * est.stderr)
    True
    """
    check_method(method)
    eps = _check_eps(eps)
    n = _check_n(n, stratify)
    if stratify and method != "time_integral":
        raise ValueError(f"`stratify` applies to method='time_integral' only (got {method!r}).")
    if eps > 0 and method != "time_integral":
        raise ValueError(f"`eps` applies to method='time_integral' only (got {method!r}).")
    draws = _sample(denoiser, x0, method, n, rng, N, eps, stratify, target, context, batch_size)
    bias = 0.0
    if method == "time_integral" and eps > 0:
        bias = None
        x, NN, T, hidden = _setup(denoiser, x0, N, target, context)
        if exact_bias and 2**T.size <= max_patterns:
            bias = _cutoff_bias(*_pattern_losses(denoiser, x, NN, T, hidden, max_patterns, batch_size), T.size, eps)
    return _summarise(draws, method, stratify, bias)


def estimate_conditional_nll(denoiser, x, target, context, n, rng, *, method="time_free", **kwargs) -> Estimate:
    """Monte Carlo estimate of −log p0(x^T | x^C) (Theorem 4.2, Corollary 4.3): only the
    target is diffused, the context stays visible, all other positions are masked.
    With ``method="time_free"`` one draw is H_{|T|} Σ_{i ∈ T∖J} −log c(x̃)_{i, x^i} with
    |J| = j drawn with probability 1/((|T| − j) H_{|T|}). See :func:`estimate_nll`."""
    return estimate_nll(denoiser, x, method, n, rng, target=target, context=context, **kwargs)


def estimate_log_ratio(denoiser, y, x, n, rng, *, coupling="coupled", method="time_free", N=None,
                       eps=0.0, target=None, context=None, batch_size=4096) -> Estimate:
    """Monte Carlo estimate of log p0(y) − log p0(x) by Eq. 18.

    One draw is D(x; m) − D(y; m'), where D is one draw of ``method`` (time-free: H_L ℓ),
    with m' = m (``"coupled"``, one shared mask and λ) or m' independent of m
    (``"decoupled"``). Both are unbiased for the oracle; coupling cancels the mask noise
    the two sequences share. ``target``/``context`` give the conditional version,
    log p0(y^T | y^C) − log p0(x^T | x^C).
    """
    check_coupling(coupling)
    check_method(method)
    eps = _check_eps(eps)
    n = _check_n(n)
    rng = check_rng(rng)
    xs, N1, T, hidden = _setup(denoiser, x, N, target, context)
    ys, _, _, _ = _setup(denoiser, y, N, target, context)
    if ys.size != xs.size:
        raise ValueError(f"`y` and `x` must have the same length (got {ys.size} and {xs.size}).")
    masks, w = draw_masks(method, T.size, n, rng, eps)
    if coupling == "coupled":
        masks_y, w_y = masks, w
    else:
        masks_y, w_y = draw_masks(method, T.size, n, rng, eps)
    with np.errstate(invalid="ignore"):
        draws = w * _losses(denoiser, xs, N1, T, hidden, masks, batch_size) - w_y * _losses(denoiser, ys, N1, T, hidden, masks_y, batch_size)
    return _summarise(draws, f"log_ratio_{coupling}_{_label(method)}", False, None if eps > 0 else 0.0)


# -- exact moments ----------------------------------------------------------------------------------
def _raw_moments(values, sizes, method, n, eps):
    """E[D^r], r = 1..4, from per-mask values v(m) (D = w · v(m)); a law with explicit
    subset probabilities needs the values in the order of :func:`mask_patterns`."""
    law = _law_of(method, n)
    if law is not None and law.subset_probs is not None:
        if not np.array_equal(sizes, pattern_sizes(n)):
            raise ValueError("`losses` must be in the order of mask_patterns(n) for a MaskLaw with `subset_probs`.")
        return law.raw_moments(values)
    raw = []
    for r in range(1, 5):
        W = moment_weights(method, n, r, eps)
        with np.errstate(invalid="ignore", over="ignore"):
            S = np.bincount(sizes, weights=values**r, minlength=n + 1)[1:]
            terms = np.where((S == 0) | (W == 0), 0.0, W * S)  # masks the law never draws do not count
        raw.append(float(terms.sum()))
    return tuple(raw)


def _cutoff_bias(values, sizes, n, eps):
    """−Σ_m v(m) ∫_0^ε λ^{a−1}(1−λ)^{n−a} dλ, exactly."""
    if eps == 0:
        return 0.0
    W = np.array([_integral(a - 1, n - a, 0.0, eps) for a in range(1, n + 1)])
    S = np.bincount(sizes, weights=values, minlength=n + 1)[1:]
    with np.errstate(invalid="ignore"):
        return float(-np.where(S == 0, 0.0, W * S).sum())


def mask_losses(denoiser, x0, *, N=None, target=None, context=None, max_patterns=MAX_PATTERNS,
                batch_size=4096):
    """ℓ(m) = Σ_{i ∈ m} −log c(x̃_m)_{i, x0^i} for every mask m ⊆ T, one denoiser call each.

    Returns (losses, sizes): arrays of shape (2^|T|,), the masks in the order of
    :func:`~exactdiff.masked.dce.mask_patterns` over the target positions, and the number masked.
    ``inf`` where the denoiser gives the letter of x0 probability 0. Refuses
    (``ValueError``) more than ``max_patterns`` masks.
    """
    x0, N, target, hidden = _setup(denoiser, x0, N, target, context)
    return _pattern_losses(denoiser, x0, N, target, hidden, max_patterns, batch_size)


def moments_from_losses(losses, sizes, method, *, eps=0.0) -> EstimatorMoments:
    """Exact moments of one draw D = w · v(m) from per-mask values v (``losses``, any
    real numbers; ℓ(m) for the NLL, ℓ_x − ℓ_y for the coupled log-ratio) and the number
    masked per mask (``sizes``), over all 2^n masks of n target positions:
    E[D^r] = Σ_a W_r(a) Σ_{|m|=a} v(m)^r (:func:`moment_weights`)."""
    check_method(method)
    eps = _check_eps(eps)
    values, sizes = np.asarray(losses, dtype=np.float64), np.asarray(sizes, dtype=np.int64)
    n = int(round(np.log2(values.size)))
    if values.ndim != 1 or values.size != 2**n or sizes.shape != values.shape:
        raise ValueError(f"`losses` and `sizes` must have shape (2^n,) (got {values.shape} and {sizes.shape}).")
    return _moments_from_values(values, sizes, method, n, eps, "x0")


def _moments_from_values(values, sizes, method, n, eps, what):
    raw = _raw_moments(values, sizes, method, n, eps)
    note = ""
    if not np.all(np.isfinite(values[sizes > 0])):
        note = f"the denoiser gives probability 0 to a letter of {what} on some mask: ℓ = inf there, so the mean is infinite."
        return EstimatorMoments(_label(method), raw[0], float("inf"), raw, float("nan"), float("nan"), note)
    mean = raw[0]
    variance = raw[1] - mean**2 if np.isfinite(raw[1]) else float("inf")
    log_div = 0.0
    if method == "time_integral":
        log_div = float(np.sum(values[sizes == 1] ** 2))
        if not np.isfinite(variance):
            note = (f"Var = inf at eps = 0: the {n} masks with one masked token carry Σ ℓ² = {log_div:.6g} against "
                    f"∫_0^1 λ^(-1) (1-λ)^({n - 1}) dλ = inf (a weight 1/λ whose square is not integrable); "
                    f"with a cut-off ε, E[D²] = {log_div:.6g}·log(1/ε) + O(1).")
    variance = max(variance, 0.0)
    return EstimatorMoments(_label(method), mean, variance, raw, _cutoff_bias(values, sizes, n, eps), log_div, note)


def estimator_moments(denoiser, x0, method, *, N=None, eps=0.0, target=None, context=None,
                      max_patterns=MAX_PATTERNS, batch_size=4096) -> EstimatorMoments:
    """Exact mean and variance (and raw moments up to 4) of one draw of an estimator.

    Enumerates all 2^|T| masks (one denoiser call each, any denoiser;
    :func:`mask_losses`) and integrates the polynomials in λ exactly:
    E[D^r] = Σ_a W_r(a) Σ_{|m|=a} ℓ(m)^r with the weights of :func:`moment_weights`
    (module docstring). The variance of the time-integral estimator is ``inf`` at
    ε = 0 as soon as one single-token mask has ℓ > 0; the ``note`` says why and
    ``log_divergence`` gives the rate in log(1/ε).

    Parameters are those of :func:`estimate_nll`. For the oracle, ``mean`` equals
    −log p0(x0) + ``cutoff_bias`` (−log p0(x^T | x^C) + ``cutoff_bias`` with a target).

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> p0 = ed.Distribution.dirichlet(2, 4, seed=1)
    >>> c, x0 = ed.OracleDenoiser(p0), np.array([0, 1, 1, 0])
    >>> m = ed.estimator_moments(c, x0, "time_free")
    >>> abs(m.mean - p0.nll(tuple(x0))) < 1e-12
    True
    >>> ed.estimator_moments(c, x0, "time_integral").variance
    inf
    """
    check_method(method)
    eps = _check_eps(eps)
    if eps > 0 and method != "time_integral":
        raise ValueError(f"`eps` applies to method='time_integral' only (got {method!r}).")
    values, sizes = mask_losses(denoiser, x0, N=N, target=target, context=context,
                                max_patterns=max_patterns, batch_size=batch_size)
    return _moments_from_values(values, sizes, method, int(sizes.max()), eps, "x0")


def log_ratio_moments(denoiser, y, x, *, coupling="coupled", method="time_free", N=None, eps=0.0,
                      target=None, context=None, max_patterns=MAX_PATTERNS, batch_size=4096) -> EstimatorMoments:
    """Exact mean and variance of one draw of the Eq. 18 log-ratio estimator
    (:func:`estimate_log_ratio`).

    Coupled: D = w(m)(ℓ_x(m) − ℓ_y(m)), whose moments are those of one estimator draw
    with per-mask value ℓ_x − ℓ_y. Decoupled: D = D_x − D_y with independent draws, so
    E D = E D_x − E D_y, Var D = Var D_x + Var D_y, and
    μ4 = μ4(D_x) + 6 Var D_x Var D_y + μ4(D_y).
    """
    check_coupling(coupling)
    check_method(method)
    eps = _check_eps(eps)
    xs, N1, T, hidden = _setup(denoiser, x, N, target, context)
    ys, _, _, _ = _setup(denoiser, y, N, target, context)
    if ys.size != xs.size:
        raise ValueError(f"`y` and `x` must have the same length (got {ys.size} and {xs.size}).")
    lx, sizes = _pattern_losses(denoiser, xs, N1, T, hidden, max_patterns, batch_size)
    ly, _ = _pattern_losses(denoiser, ys, N1, T, hidden, max_patterns, batch_size)
    return log_ratio_moments_from_losses(lx, ly, sizes, coupling=coupling, method=method, eps=eps)


def log_ratio_moments_from_losses(losses_x, losses_y, sizes, *, coupling="coupled", method="time_free",
                                  eps=0.0) -> EstimatorMoments:
    """:func:`log_ratio_moments` from the per-mask losses of x and y (:func:`mask_losses`)."""
    check_coupling(coupling)
    lx, ly = np.asarray(losses_x, dtype=np.float64), np.asarray(losses_y, dtype=np.float64)
    name = f"log_ratio_{coupling}_{_label(method)}"
    if coupling == "coupled":
        with np.errstate(invalid="ignore"):
            m = moments_from_losses(lx - ly, sizes, method, eps=eps)
        return dataclasses.replace(m, method=name)
    mx = moments_from_losses(lx, sizes, method, eps=eps)
    my = moments_from_losses(ly, sizes, method, eps=eps)
    mean = mx.mean - my.mean
    var = mx.variance + my.variance
    # raw moments of D_x − D_y from the central ones: E D² = var + mean², and the
    # fourth central moment μ4 = μ4x + 6 σx² σy² + μ4y, third μ3 = μ3x − μ3y.
    mu3 = _central3(mx) - _central3(my)
    mu4 = mx.central4 + 6 * mx.variance * my.variance + my.central4
    raw = (mean, var + mean**2, mu3 + 3 * mean * var + mean**3,
           mu4 + 4 * mu3 * mean + 6 * var * mean**2 + mean**4)
    note = " ".join(s for s in (mx.note, my.note) if s)
    return EstimatorMoments(name, mean, var, raw, mx.cutoff_bias - my.cutoff_bias,
                            mx.log_divergence + my.log_divergence, note)


def _central3(m: EstimatorMoments) -> float:
    m1, m2, m3, _ = m.raw
    return float(m3 - 3 * m2 * m1 + 2 * m1**3) if np.all(np.isfinite(m.raw[:3])) else float("inf")
