"""Monte Carlo likelihood estimators of masked diffusion, and their exact moments.

Every estimator here averages n independent draws of one random variable D built from
a mask over the diffused positions T (all L positions by default) and the DCE loss of a
denoiser c (any callable following :mod:`exactdiff.masked.denoisers`):

.. math:: \\ell(m) = \\sum_{i \\in m} -\\log c(\\tilde x_m)_{i, x_0^i},

where m ⊆ T is the set of masked target positions and x̃_m is x0 with m, and every
position outside T ∪ C, set to the mask token (C: the context, always visible). With
n = |T| and a = |m| the number masked:

==========================  ==========================================  ==============================
``law``                     law of the mask m                           one draw D
==========================  ==========================================  ==============================
``time_integral``           λ ~ U(ε, 1), each position masked w.p. λ    (1 − ε) ℓ(m) / λ
``k_dce``                   a ~ U{1..n}, m uniform of size a            (n / a) ℓ(m)
``time_free``               P(a) = 1 / (a H_n), m uniform of size a     H_n ℓ(m)
a ``MaskLaw``               its law of the unmasked set U = T ∖ m       scale · (sum or mean of) ℓ
a ``TimeIntegralLaw``       λ ~ U(λ_lo, λ_hi) (or stratified)           s ℓ(m) / λ
==========================  ==========================================  ==============================

Every ``law`` argument below is one of the names of :data:`LAWS` (``time_integral`` with
the cut-off ``eps``; the mask laws of :data:`~exactdiff.masked.laws.LAW_NAMES`), a
:class:`~exactdiff.masked.laws.MaskLaw` or a
:class:`~exactdiff.masked.time_integral.TimeIntegralLaw` (:func:`resolve_law`); each law
draws its masks and multipliers and gives its exact moments itself.

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
masks, one denoiser call per mask, and take the law's exact weights:

.. math:: \\mathbb E[D^r] = \\sum_{a=1}^{n} W_r(a) \\sum_{|m| = a} \\ell(m)^r,

with W_r(a) = H_n^{r−1} / (a C(n, a)) (time-free), (n/a)^r / (n C(n, a)) (k-DCE) and
(1 − ε)^{r−1} ∫_ε^1 λ^{a−r} (1 − λ)^{n−a} dλ (time-integral, integrated exactly,
:mod:`~exactdiff.masked.time_integral`). At ε = 0 the time-integral second moment
diverges through a = 1 (:func:`~exactdiff.masked.time_integral.log_divergence`).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..core.results import Estimate, EstimatorMoments
from ..core.validation import as_token_array, validate_count, validate_rng, validate_target_context
from ..sequences.masks import mask_patterns, pattern_sizes
from .dce import _vocabulary
from .denoisers import evaluate_denoiser
from .laws import LAW_NAMES, MaskLaw
from .likelihood import validate_coupling
from .time_integral import TimeIntegralLaw, log_divergence

__all__ = [
    "estimate_nll",
    "estimate_conditional_nll",
    "estimate_log_ratio",
    "estimator_moments",
    "log_ratio_moments",
    "mask_losses",
    "moments_from_losses",
    "log_ratio_moments_from_losses",
    "resolve_law",
    "LAWS",
]

#: Largest number 2^n of masks the exact moments enumerate unless told otherwise.
MAX_PATTERNS = 2**16

#: The named laws of the masked estimators: the time-integral law (with a cut-off ``eps``)
#: and the mask laws (:data:`~exactdiff.masked.laws.LAW_NAMES`).
LAWS = ("time_integral",) + LAW_NAMES


def validate_law(law, name="law"):
    """``law`` if it is a name of :data:`LAWS`, a :class:`MaskLaw` or a
    :class:`TimeIntegralLaw`; else a ValueError naming the argument ``name``."""
    if isinstance(law, (MaskLaw, TimeIntegralLaw)) or (isinstance(law, str) and law in LAWS):
        return law
    raise ValueError(f"`{name}` must be one of {list(LAWS)}, a MaskLaw or a TimeIntegralLaw (got {law!r}).")


def _validate_eps(eps):
    eps = float(eps)
    if not 0.0 <= eps < 1.0:
        raise ValueError(f"`eps` must lie in [0, 1) (got {eps}).")
    return eps


def resolve_law(law, n: int, *, eps: float = 0.0, stratify: bool = False):
    """The law object of ``law`` over n target positions: a name of :data:`LAWS`
    (``"time_integral"`` is λ ~ U(``eps``, 1), stratified with ``stratify``), or a
    MaskLaw / TimeIntegralLaw over n positions, returned as it is. ``eps`` and ``stratify``
    apply to ``"time_integral"`` only.

    Examples
    --------
    >>> resolve_law("time_integral", 4, eps=0.01)
    TimeIntegralLaw('time_integral', [0.01, 1], n=4)
    """
    validate_law(law)
    eps = _validate_eps(eps)
    if law != "time_integral" and (eps > 0 or stratify):
        what = "`eps`" if eps > 0 else "`stratify`"
        raise ValueError(f"{what} applies to law='time_integral' only (got law={_label(law)!r}).")
    if isinstance(law, str):
        if law == "time_integral":
            return TimeIntegralLaw.cutoff(eps, n, stratified=stratify)
        return MaskLaw.named(law, n)
    if law.n != n:
        raise ValueError(f"`law`: the {type(law).__name__} {law.name!r} is over n={law.n} positions; the target "
                         f"has {n}.")
    return law


def _label(law):
    return law if isinstance(law, str) else law.name


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
    target, context = validate_target_context(L, target, context)
    hidden = np.ones(L, dtype=bool)
    hidden[list(target + context)] = False
    return x0.astype(np.int64), N, np.array(target), hidden


def _validate_batch(batch_size):
    return validate_count(batch_size, "batch_size")


def _losses(denoiser, x0, N, target, hidden, masks, batch_size=4096):
    """ℓ(m) for every row of ``masks`` (count, |T|): one denoiser call per distinct mask."""
    batch_size = _validate_batch(batch_size)
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
    return _losses(denoiser, x0, N, target, hidden, mask_patterns(n), batch_size), pattern_sizes(n)


def _validate_n(n, stratify=False):
    n = validate_count(n, "n", 2)
    if stratify and n % 2:
        raise ValueError(f"`n` must be even for a stratified law (two draws per stratum; got {n}).")
    return int(n)


def _summarise(draws, label, stratified, cutoff_bias):
    n = draws.size
    if stratified:
        pairs = draws.reshape(-1, 2)
        stderr = math.sqrt(np.sum((pairs[:, 0] - pairs[:, 1]) ** 2) / 4) / pairs.shape[0]
    else:
        stderr = float(np.std(draws, ddof=1) / math.sqrt(n)) if np.all(np.isfinite(draws)) else math.inf
    return Estimate(estimate=float(draws.mean()), stderr=float(stderr), n=n, law=label, cutoff_bias=cutoff_bias,
                    samples=draws)


# -- public estimators ------------------------------------------------------------------------------
def estimate_nll(denoiser, x0, law, n, rng, *, N=None, eps=0.0, stratify=False, target=None,
                 context=None, batch_size=4096, exact_bias=True, max_patterns=MAX_PATTERNS) -> Estimate:
    """Monte Carlo estimate of −log p0(x0) (or −log p0(x^T | x^C)) with any denoiser.

    Parameters
    ----------
    denoiser : callable
        (B, L) int → (B, L, N) probabilities (:mod:`exactdiff.masked.denoisers`).
    x0 : int array, shape (L,)
    law : str, MaskLaw or TimeIntegralLaw
        The law of one draw (module docstring): ``"time_integral"`` (λ ~ U(ε, 1)),
        ``"k_dce"`` (a ~ U{1..n} masked with weight n/a), ``"time_free"`` (Theorem 4.1,
        a ∝ 1/a with weight H_n), a flawed named law (``"no_empty"``, ``"token_mean"``,
        ``"no_empty_token_mean"``, :mod:`exactdiff.masked.laws`), or a law object over
        n = |T| positions.
    n : int
        Number of draws.
    rng : numpy.random.Generator or int
    N : int, optional
        Vocabulary size (default ``denoiser.N``).
    eps : float in [0, 1)
        Cut-off of ``"time_integral"``. With ε = 0 the estimator is unbiased but its
        variance is infinite (:func:`estimator_moments`), so ``stderr`` is not to be
        trusted; with ε > 0 it is biased by ``cutoff_bias``.
    stratify : bool
        ``"time_integral"`` only: λ stratified, two draws in each of n/2 equal strata of
        [ε, 1]; ``stderr`` from the within-stratum differences.
    target, context : positions, optional
        Corollary 4.3: only ``target`` is diffused, ``context`` stays visible, other
        positions are masked throughout (summed out). Default: every position.
    batch_size : int
        Rows per denoiser call. Each distinct masked sequence is evaluated once.
    exact_bias : bool
        Compute ``cutoff_bias`` exactly for a time-integral law (2^|T| denoiser rows, at
        most ``max_patterns``; otherwise it is None).

    Returns
    -------
    Estimate
        ``.estimate``, ``.stderr``, ``.n`` (and ``.law``, ``.cutoff_bias``, ``.samples``).

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> p0 = ed.Distribution.dirichlet(2, 4, seed=1)
    >>> x0 = np.array([0, 1, 1, 0])
    >>> est = ed.estimate_nll(ed.OracleDenoiser(p0), x0, "time_free", 4000, np.random.default_rng(0))
    >>> bool(abs(est.estimate - p0.nll(tuple(x0))) < 4 * est.stderr)
    True
    """
    validate_law(law)
    rng = validate_rng(rng)
    xs, NN, T, hidden = _setup(denoiser, x0, N, target, context)
    obj = resolve_law(law, T.size, eps=eps, stratify=stratify)
    stratified = getattr(obj, "stratified", False)
    n = _validate_n(n, stratified)
    masks, w = obj.sample(n, rng)
    draws = w * _losses(denoiser, xs, NN, T, hidden, masks, batch_size)
    bias = 0.0
    if isinstance(obj, TimeIntegralLaw):
        bias = None
        if exact_bias and 2**T.size <= max_patterns:
            bias = obj.cutoff_bias(_pattern_losses(denoiser, xs, NN, T, hidden, max_patterns, batch_size)[0])
    return _summarise(draws, _label(obj), stratified, bias)


def estimate_conditional_nll(denoiser, x, target, context, n, rng, *, law="time_free", **kwargs) -> Estimate:
    """Monte Carlo estimate of −log p0(x^T | x^C) (Theorem 4.2, Corollary 4.3): only the
    target is diffused, the context stays visible, all other positions are masked.
    With ``law="time_free"`` one draw is H_{|T|} Σ_{i ∈ T∖J} −log c(x̃)_{i, x^i} with
    |J| = j drawn with probability 1/((|T| − j) H_{|T|}). See :func:`estimate_nll`."""
    return estimate_nll(denoiser, x, law, n, rng, target=target, context=context, **kwargs)


def estimate_log_ratio(denoiser, y, x, n, rng, *, coupling="coupled", law="time_free", N=None,
                       eps=0.0, target=None, context=None, batch_size=4096) -> Estimate:
    """Monte Carlo estimate of log p0(y) − log p0(x) by Eq. 18.

    One draw is D(x; m) − D(y; m'), where D is one draw of ``law`` (time-free: H_L ℓ),
    with m' = m (``"coupled"``, one shared mask and λ) or m' independent of m
    (``"decoupled"``). Both are unbiased for the oracle; coupling cancels the mask noise
    the two sequences share. ``target``/``context`` give the conditional version,
    log p0(y^T | y^C) − log p0(x^T | x^C).
    """
    validate_coupling(coupling)
    validate_law(law)
    n = _validate_n(n)
    rng = validate_rng(rng)
    xs, N1, T, hidden = _setup(denoiser, x, N, target, context)
    ys, _, _, _ = _setup(denoiser, y, N, target, context)
    if ys.size != xs.size:
        raise ValueError(f"`y` and `x` must have the same length (got {ys.size} and {xs.size}).")
    obj = resolve_law(law, T.size, eps=eps)
    masks, w = obj.sample(n, rng)
    if coupling == "coupled":
        masks_y, w_y = masks, w
    else:
        masks_y, w_y = obj.sample(n, rng)
    with np.errstate(invalid="ignore"):
        draws = (w * _losses(denoiser, xs, N1, T, hidden, masks, batch_size)
                 - w_y * _losses(denoiser, ys, N1, T, hidden, masks_y, batch_size))
    return _summarise(draws, f"log_ratio_{coupling}_{_label(obj)}", False, None if eps > 0 else 0.0)


# -- exact moments ----------------------------------------------------------------------------------
def mask_losses(denoiser, x0, *, N=None, target=None, context=None, max_patterns=MAX_PATTERNS,
                batch_size=4096):
    """ℓ(m) = Σ_{i ∈ m} −log c(x̃_m)_{i, x0^i} for every mask m ⊆ T, one denoiser call each.

    Returns (losses, sizes): arrays of shape (2^|T|,), the masks in the order of
    :func:`~exactdiff.sequences.masks.mask_patterns` over the target positions, and the
    number masked. ``inf`` where the denoiser gives the letter of x0 probability 0.
    Refuses (``ValueError``) more than ``max_patterns`` masks.
    """
    x0, N, target, hidden = _setup(denoiser, x0, N, target, context)
    return _pattern_losses(denoiser, x0, N, target, hidden, max_patterns, batch_size)


def moments_from_losses(losses, sizes, law, *, eps=0.0) -> EstimatorMoments:
    """Exact moments of one draw D = w · v(m) from per-mask values v (``losses``, any
    real numbers; ℓ(m) for the NLL, ℓ_x − ℓ_y for the coupled log-ratio) over all 2^n
    masks of n target positions, in the order of
    :func:`~exactdiff.sequences.masks.mask_patterns` (``sizes``: the number masked of
    each, checked against that order)."""
    validate_law(law)
    values, sizes = np.asarray(losses, dtype=np.float64), np.asarray(sizes, dtype=np.int64)
    n = int(round(np.log2(values.size))) if values.size else 0
    if values.ndim != 1 or n < 1 or values.size != 2**n or sizes.shape != values.shape:
        raise ValueError(f"`losses` and `sizes` must have shape (2^n,) (got {values.shape} and {sizes.shape}).")
    if not np.array_equal(sizes, pattern_sizes(n)):
        raise ValueError("`losses` must be in the order of mask_patterns(n) (`sizes` does not match it).")
    return _moments_from_values(values, resolve_law(law, n, eps=eps), "x0")


def _moments_from_values(values, law, what):
    raw = law.raw_moments(values)
    sizes = pattern_sizes(law.n)
    if not np.all(np.isfinite(values[sizes > 0])):
        note = f"the denoiser gives probability 0 to a letter of {what} on some mask: ℓ = inf there, so the mean is infinite."
        return EstimatorMoments(law=law.name, mean=raw[0], variance=math.inf, raw=raw, cutoff_bias=math.nan, note=note)
    mean = raw[0]
    variance = raw[1] - mean**2 if math.isfinite(raw[1]) else math.inf
    note = ""
    if isinstance(law, TimeIntegralLaw) and not math.isfinite(variance):
        c = log_divergence(values, sizes)
        note = (f"Var = inf at λ_lo = 0: the {law.n} masks with one masked token carry Σ ℓ² = {c:.6g} against "
                f"∫_0^1 λ^(-1) (1-λ)^({law.n - 1}) dλ = inf (a weight 1/λ whose square is not integrable); "
                f"with a cut-off ε, E[D²] = {c:.6g}·log(1/ε) + O(1).")
    return EstimatorMoments(law=law.name, mean=mean, variance=max(variance, 0.0), raw=raw,
                            cutoff_bias=law.cutoff_bias(values), note=note)


def estimator_moments(denoiser, x0, law, *, N=None, eps=0.0, target=None, context=None,
                      max_patterns=MAX_PATTERNS, batch_size=4096) -> EstimatorMoments:
    """Exact mean and variance (and raw moments up to 4) of one draw of an estimator.

    Enumerates all 2^|T| masks (one denoiser call each, any denoiser;
    :func:`mask_losses`) and takes the law's exact weights (module docstring). The
    variance of the time-integral estimator is ``inf`` at ε = 0 as soon as one
    single-token mask has ℓ > 0; the ``note`` says why.

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
    validate_law(law)
    values, sizes = mask_losses(denoiser, x0, N=N, target=target, context=context,
                                max_patterns=max_patterns, batch_size=batch_size)
    n = int(round(np.log2(values.size)))
    return _moments_from_values(values, resolve_law(law, n, eps=eps), "x0")


def log_ratio_moments(denoiser, y, x, *, coupling="coupled", law="time_free", N=None, eps=0.0,
                      target=None, context=None, max_patterns=MAX_PATTERNS, batch_size=4096) -> EstimatorMoments:
    """Exact mean and variance of one draw of the Eq. 18 log-ratio estimator
    (:func:`estimate_log_ratio`).

    Coupled: D = w(m)(ℓ_x(m) − ℓ_y(m)), whose moments are those of one estimator draw
    with per-mask value ℓ_x − ℓ_y. Decoupled: D = D_x − D_y with independent draws, so
    E D = E D_x − E D_y, Var D = Var D_x + Var D_y, and
    μ4 = μ4(D_x) + 6 Var D_x Var D_y + μ4(D_y).
    """
    validate_coupling(coupling)
    validate_law(law)
    xs, N1, T, hidden = _setup(denoiser, x, N, target, context)
    ys, _, _, _ = _setup(denoiser, y, N, target, context)
    if ys.size != xs.size:
        raise ValueError(f"`y` and `x` must have the same length (got {ys.size} and {xs.size}).")
    lx, sizes = _pattern_losses(denoiser, xs, N1, T, hidden, max_patterns, batch_size)
    ly, _ = _pattern_losses(denoiser, ys, N1, T, hidden, max_patterns, batch_size)
    return log_ratio_moments_from_losses(lx, ly, sizes, coupling=coupling, law=law, eps=eps)


def log_ratio_moments_from_losses(losses_x, losses_y, sizes, *, coupling="coupled", law="time_free",
                                  eps=0.0) -> EstimatorMoments:
    """:func:`log_ratio_moments` from the per-mask losses of x and y (:func:`mask_losses`)."""
    validate_coupling(coupling)
    lx, ly = np.asarray(losses_x, dtype=np.float64), np.asarray(losses_y, dtype=np.float64)
    name = f"log_ratio_{coupling}_{_label(law)}"
    if coupling == "coupled":
        with np.errstate(invalid="ignore"):
            m = moments_from_losses(lx - ly, sizes, law, eps=eps)
        return dataclasses.replace(m, law=name)
    mx = moments_from_losses(lx, sizes, law, eps=eps)
    my = moments_from_losses(ly, sizes, law, eps=eps)
    mean = mx.mean - my.mean
    var = mx.variance + my.variance
    # raw moments of D_x − D_y from the central ones: E D² = var + mean², and the
    # fourth central moment μ4 = μ4x + 6 σx² σy² + μ4y, third μ3 = μ3x − μ3y.
    mu3 = _central3(mx) - _central3(my)
    mu4 = mx.central4 + 6 * mx.variance * my.variance + my.central4
    raw = (mean, var + mean**2, mu3 + 3 * mean * var + mean**3,
           mu4 + 4 * mu3 * mean + 6 * var * mean**2 + mean**4)
    note = " ".join(s for s in (mx.note, my.note) if s)
    return EstimatorMoments(law=name, mean=mean, variance=var, raw=raw, cutoff_bias=mx.cutoff_bias - my.cutoff_bias,
                            note=note)


def _central3(m: EstimatorMoments) -> float:
    m1, m2, m3, _ = m.raw
    return float(m3 - 3 * m2 * m1 + 2 * m1**3) if np.all(np.isfinite(m.raw[:3])) else math.inf
