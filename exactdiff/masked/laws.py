"""Mask laws of the time-free estimators: any law over unmasked sets, its exact moments,
the flawed laws of published evaluation code, and a goodness-of-fit test for samplers.

A mask law over the n diffused (target) positions T draws the unmasked set U ⊆ T (the
context C always visible) and returns one draw

.. math::

    D = \\text{scale} \\cdot \\operatorname{agg}_{i \\in T \\setminus U}
        \\big(-\\log c(\\tilde x^{U \\cup C})_{i, x^i}\\big),

where agg is the sum (``aggregate="sum"``) or the average over the n − |U| masked
positions (``"mean"``; D = 0 when nothing is masked). A law is given by the law of the
size, ``size_probs[u]`` = P(|U| = u) for u = 0..n with U uniform among the C(n, u) sets
of that size, or by an explicit probability for every set (``subset_probs``). With ℓ(m)
the summed loss of the mask m = T ∖ U (:func:`~exactdiff.masked.mask_losses`) and a = |m|:

.. math::

    \\mathbb E[D^r] = \\sum_m P(m)\\, f(a)^r\\, \\ell(m)^r, \\qquad
    f(a) = \\text{scale} \\;(\\text{sum}), \\quad \\text{scale}/a \\;(\\text{mean}),

with P(m) = size_probs[n − a] / C(n, a) for a size law. Named laws (H_n = Σ_{j ≤ n} 1/j;
MATH.md, "Mask laws in published evaluation code"):

=========================  ==============================================  =========  =====
name                       size_probs[u], u = |U|                          aggregate  scale
=========================  ==============================================  =========  =====
``time_free``              1 / ((n − u) H_n), u = 0..n−1 (Theorem 4.1)     sum        H_n
``k_dce``                  1 / n, u = 0..n−1 (a = n − u uniform on 1..n)   mean       n
``no_empty``               1 / ((n − u) H_{n−1}), u = 1..n−1 (flawed)      sum        H_n
``token_mean``             as ``time_free`` (flawed)                       mean       H_n
``no_empty_token_mean``    as ``no_empty`` (both flaws)                    mean       H_n
=========================  ==============================================  =========  =====

The masked time-integral law (λ uniform on a window) is
:class:`~exactdiff.masked.time_integral.TimeIntegralLaw`, named ``time_integral``.

``time_free`` and ``k_dce`` are unbiased: E[D] = Σ_u B(n − u, u + 1) h_u = −log p0(x^T | x^C)
for the optimal denoiser, with h_u = Σ_{|U|=u} ℓ (Corollary 4.3). The flawed laws have
the closed forms (:func:`flawed_law_means`)

.. math::

    E_{\\text{no\\_empty}} = \\frac{H_n}{H_{n-1}}\\Big(\\text{NLL} - \\frac{h_0}{n}\\Big), \\quad
    \\text{bias} = \\frac{\\text{NLL} - H_n h_0}{n H_{n-1}}, \\qquad
    E_{\\text{token\\_mean}} = \\sum_{u<n} \\frac{B(n-u, u+1)\\, h_u}{n - u}, \\qquad
    E_{\\text{no\\_empty\\_token\\_mean}} = \\frac{H_n}{H_{n-1}} \\sum_{u=1}^{n-1} \\frac{B(n-u, u+1)\\, h_u}{n - u}.

The weights come from :mod:`exactdiff.masked.weights` (H_n, B(n − m, m + 1)).

Masks here are boolean with True = masked, and a table over all 2^n masks is in the
order of :func:`~exactdiff.sequences.masks.mask_patterns` (the first target position varies
slowest), the order of :func:`~exactdiff.masked.mask_losses`.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from ..core.validation import SUM_ATOL, validate_count, validate_rng
from ..sequences.masks import MAX_MASK_BITS, pattern_sizes, patterns_to_masks, subset_sizes
from .weights import harmonic_number, subset_weight, unmasked_size_law

__all__ = ["MaskLaw", "LAW_NAMES", "flawed_law_means", "goodness_of_fit", "GoodnessOfFit"]

AGGREGATES = ("sum", "mean")


@functools.lru_cache(maxsize=32)
def _pool(n):
    """Mask indices sorted by their number masked, and where each number starts."""
    sizes = subset_sizes(n)
    pool = np.argsort(sizes, kind="stable")
    offsets = np.concatenate([[0], np.cumsum(np.bincount(sizes, minlength=n + 1))])
    return pool, offsets


def uniform_masks(masked, n: int, rng) -> np.ndarray:
    """Masks (count, n), True = masked, row b a uniform set of ``masked[b]`` positions
    (the ranks of n uniform numbers below the count)."""
    masked = np.asarray(masked)
    ranks = rng.random((masked.size, n)).argsort(axis=1).argsort(axis=1)
    return ranks < masked[:, None]


def _probabilities(p, name, length=None):
    """A 1-d float64 probability vector (non-negative, finite, summing to 1 within
    :data:`~exactdiff.core.validation.SUM_ATOL`)."""
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim != 1 or arr.size < 2 or (length is not None and arr.size != length):
        want = f"length {length}" if length is not None else "one axis of length n + 1 >= 2"
        raise ValueError(f"`{name}` must be a 1-d array of {want} (got shape {arr.shape}).")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"`{name}` must hold finite probabilities >= 0 (got minimum {np.min(arr):.3g}).")
    total = float(arr.sum())
    if abs(total - 1.0) > SUM_ATOL:
        raise ValueError(f"`{name}` must sum to 1 (got {total:.12g}).")
    return arr


class MaskLaw:
    """A law of the unmasked set U over n target positions, and how one draw aggregates
    the loss (module docstring).

    Parameters
    ----------
    size_probs : array_like, shape (n + 1,), optional
        P(|U| = u) for u = 0..n, U uniform among the sets of that size.
    aggregate : {"sum", "mean"}
        Sum the masked positions' losses, or average them (D = 0 when none is masked).
    scale : float
        The factor of one draw (H_n for the time-free law).
    subset_probs : array_like, shape (2^n,), optional
        Instead of ``size_probs``: the probability of every mask, in the order of
        :func:`~exactdiff.sequences.masks.mask_patterns` (True = masked; n ≤ 24).
    name : str, optional
        A label for reports (a named law's name by default; otherwise ``"custom"``).

    Attributes
    ----------
    n : int
    size_probs : ndarray, shape (n + 1,)
        The size law (implied by ``subset_probs`` when given).
    subset_probs : ndarray or None
    aggregate, scale, name

    Examples
    --------
    >>> import numpy as np
    >>> law = MaskLaw.time_free(4)
    >>> bool(abs(law.size_probs.sum() - 1) < 1e-15 and law.size_probs[4] == 0)
    True
    >>> losses = np.arange(16.0)                       # ℓ of every mask of mask_patterns(4)
    >>> mean, second = law.raw_moments(losses)[:2]
    >>> picks = law.draw_patterns(200_000, np.random.default_rng(0))   # mask indices
    >>> draws = law.values(losses, picks)
    >>> bool(abs(draws.mean() - mean) < 5 * np.sqrt((second - mean**2) / draws.size))
    True
    """

    def __init__(self, size_probs=None, aggregate: str = "sum", scale: float = 1.0, *, subset_probs=None,
                 name: str | None = None):
        if (size_probs is None) == (subset_probs is None):
            raise ValueError("give exactly one of `size_probs` and `subset_probs`.")
        if aggregate not in AGGREGATES:
            raise ValueError(f"`aggregate` must be one of {set(AGGREGATES)} (got {aggregate!r}).")
        scale = float(scale)
        if not math.isfinite(scale):
            raise ValueError(f"`scale` must be finite (got {scale}).")
        if subset_probs is not None:
            sp = np.asarray(subset_probs, dtype=np.float64)
            n = int(round(math.log2(sp.size))) if sp.ndim == 1 and sp.size >= 2 else -1
            if n < 1 or sp.size != 2**n or n > MAX_MASK_BITS:
                raise ValueError(f"`subset_probs` must have shape (2^n,) with 1 <= n <= {MAX_MASK_BITS}, "
                                 f"one entry per mask of mask_patterns(n) (got shape {sp.shape}).")
            sp = _probabilities(sp, "subset_probs", 2**n)
            sizes = pattern_sizes(n)
            self.subset_probs = sp
            self.size_probs = np.bincount(n - sizes, weights=sp, minlength=n + 1)
        else:
            self.size_probs = _probabilities(size_probs, "size_probs")
            self.subset_probs = None
            n = self.size_probs.size - 1
        self.n, self.aggregate, self.scale = n, aggregate, scale
        self.name = name or "custom"
        self._weights = {}
        for arr in (self.size_probs, self.subset_probs):
            if arr is not None:
                arr.setflags(write=False)

    def __repr__(self):
        kind = "subset_probs" if self.subset_probs is not None else "size_probs"
        return f"MaskLaw({self.name!r}, n={self.n}, {kind}, aggregate={self.aggregate!r}, scale={self.scale:.6g})"

    # -- named laws ------------------------------------------------------------------------
    @classmethod
    def time_free(cls, n: int) -> MaskLaw:
        """Theorem 4.1 / Corollary 4.3: P(|U| = u) = 1/((n − u) H_n), u < n; sum; scale H_n."""
        n = validate_count(n, "n")
        return cls(np.append(unmasked_size_law(n), 0.0), "sum", harmonic_number(n), name="time_free")

    @classmethod
    def k_dce(cls, n: int) -> MaskLaw:
        """k-DCE: a = n − |U| masked, uniform on 1..n; one draw (n/a) ℓ = n · mean; unbiased."""
        n = validate_count(n, "n")
        return cls(np.append(np.full(n, 1.0 / n), 0.0), "mean", float(n), name="k_dce")

    @classmethod
    def no_empty(cls, n: int) -> MaskLaw:
        """Flawed: |U| on 1..n−1 with P ∝ 1/(n − u) (never the fully masked set), still
        multiplied by H_n. Needs n ≥ 2."""
        n = validate_count(n, "n", 2)
        p = np.zeros(n + 1)
        p[1:n] = unmasked_size_law(n)[1:] * harmonic_number(n) / harmonic_number(n - 1)
        return cls(p, "sum", harmonic_number(n), name="no_empty")

    @classmethod
    def token_mean(cls, n: int) -> MaskLaw:
        """Flawed: the time-free size law, but the loss averaged over the masked positions
        (a per-token mean) instead of summed, times H_n."""
        law = cls.time_free(n)
        return cls(law.size_probs, "mean", law.scale, name="token_mean")

    @classmethod
    def no_empty_token_mean(cls, n: int) -> MaskLaw:
        """Both flaws (:meth:`no_empty` sizes, :meth:`token_mean` aggregate): the mask law of
        a published OOD evaluation script."""
        law = cls.no_empty(n)
        return cls(law.size_probs, "mean", law.scale, name="no_empty_token_mean")

    @classmethod
    def named(cls, name: str, n: int) -> MaskLaw:
        """The named law ``name`` (one of :data:`LAW_NAMES`) over n positions."""
        if name not in LAW_NAMES:
            raise ValueError(f"`name` must be one of {set(LAW_NAMES)} (got {name!r}).")
        return getattr(cls, name)(n)

    # -- weights and moments ---------------------------------------------------------------
    def factor(self, masked) -> np.ndarray:
        """f(a): the multiplier of the summed loss of a mask with a masked positions
        (scale, or scale/a for "mean"; 0 at a = 0 for "mean")."""
        a = np.asarray(masked)
        if self.aggregate == "sum":
            return np.full(a.shape, self.scale)
        return np.where(a > 0, self.scale / np.maximum(a, 1), 0.0)

    def masked_weights(self, r: int) -> np.ndarray:
        """W_r(a) for a = 1..n with E[D^r] = Σ_a W_r(a) Σ_{|m|=a} ℓ(m)^r (a size law):
        W_r(a) = size_probs[n − a] / C(n, a) · f(a)^r."""
        if self.subset_probs is not None:
            raise ValueError("`masked_weights` needs a size law; this law has explicit `subset_probs`.")
        a = np.arange(1, self.n + 1)
        counts = np.array([math.comb(self.n, int(v)) for v in a], dtype=np.float64)
        return self.size_probs[self.n - a] / counts * self.factor(a) ** int(r)

    def pattern_weights(self, r: int) -> np.ndarray:
        """P(m) f(|m|)^r for every mask m of :func:`~exactdiff.sequences.masks.mask_patterns` (n),
        shape (2^n,), read-only: E[D^r] = Σ_m pattern_weights(r)[m] ℓ(m)^r."""
        r = int(r)
        if r not in self._weights:
            self._weights[r] = self._pattern_weights(r)
            self._weights[r].setflags(write=False)
        return self._weights[r]

    def _pattern_weights(self, r):
        sizes = pattern_sizes(self.n)
        if self.subset_probs is not None:
            p = self.subset_probs
        else:
            counts = np.array([math.comb(self.n, int(a)) for a in range(self.n + 1)], dtype=np.float64)
            p = self.size_probs[self.n - sizes] / counts[sizes]
        return p * self.factor(sizes) ** int(r)

    def raw_moments(self, losses, orders=(1, 2, 3, 4)) -> tuple:
        """E[D^r] for r in ``orders`` from the summed loss ℓ(m) of every mask (2^n,), in
        the order of :func:`~exactdiff.masked.mask_losses`. Masks of probability 0 do not
        count (their loss may be anything, even ``inf`` or ``nan``)."""
        v = np.asarray(losses, dtype=np.float64)
        if v.shape != (2**self.n,):
            raise ValueError(f"`losses` must have shape (2^n,) = ({2**self.n},) for this law over n={self.n} "
                             f"positions (got {v.shape}).")
        out = []
        live = self.pattern_weights(1) != 0
        for r in orders:
            w = self.pattern_weights(r)
            with np.errstate(over="ignore", invalid="ignore"):
                out.append(float(np.sum(np.where(live, w * v**r, 0.0))))
        return tuple(out)

    # -- draws -------------------------------------------------------------------------------
    def _masked_counts(self, shape, rng) -> np.ndarray:
        """The number masked a = n − |U| of each draw. A law uniform on a range of sizes is
        drawn with ``rng.integers`` (exact), any other by inverse CDF (``rng.choice``)."""
        pa = self.size_probs[::-1]  # P(a masked), a = 0..n
        support = np.flatnonzero(pa > 0)
        lo, hi = int(support[0]), int(support[-1])
        if support.size == hi - lo + 1 and np.all(pa[support] == pa[lo]):
            return rng.integers(lo, hi + 1, size=shape)
        return rng.choice(self.n + 1, size=shape, p=pa)

    def draw(self, count: int, rng) -> np.ndarray:
        """``count`` masks drawn from the law, shape (count, n), True = masked."""
        count = validate_count(count, "count")
        rng = validate_rng(rng)
        if self.subset_probs is not None:
            return patterns_to_masks(rng.choice(2**self.n, size=count, p=self.subset_probs), self.n)
        return uniform_masks(self._masked_counts(count, rng), self.n, rng)

    def sample(self, count: int, rng):
        """``count`` draws: (masks (count, n), True = masked; the multiplier f(|m|) of each),
        one estimator draw being D = f(|m|)·ℓ(m)."""
        masks = self.draw(count, rng)
        return masks, self.factor(masks.sum(axis=1))

    def cutoff_bias(self, losses) -> float:
        """0: a mask law has no time window (its bias, if any, is its law's)."""
        return 0.0

    def mean_variance(self, losses, count: int) -> float:
        """The exact variance of the mean of ``count`` independent draws."""
        m1, m2 = self.raw_moments(losses, (1, 2))
        return max(m2 - m1 * m1, 0.0) / int(count) if math.isfinite(m2) else math.inf

    def draw_patterns(self, shape, rng) -> np.ndarray:
        """Mask indices (in :func:`~exactdiff.sequences.masks.mask_patterns` order) drawn from the
        law, any shape: for looking draws up in a table of ℓ over all masks (n ≤ 24)."""
        rng = validate_rng(rng)
        if self.subset_probs is not None:
            return rng.choice(2**self.n, size=shape, p=self.subset_probs)
        pool, offsets = _pool(self.n)
        a = self._masked_counts(shape, rng)
        pick = np.floor(rng.random(shape) * (offsets[a + 1] - offsets[a])).astype(np.int64)
        return pool[offsets[a] + pick]

    def values(self, losses, masks) -> np.ndarray:
        """One draw D = f(|m|) ℓ(m) per mask: ``masks`` boolean (count, n), with ``losses``
        the summed losses of those masks (count,); or mask indices (any shape) with
        ``losses`` the table over all 2^n masks."""
        m = np.asarray(masks)
        losses = np.asarray(losses, dtype=np.float64)
        if m.dtype == bool:
            if m.ndim != 2 or m.shape[1] != self.n or losses.shape != m.shape[:1]:
                raise ValueError(f"`masks` (count, n={self.n}) and `losses` (count,) do not match "
                                 f"(got {m.shape} and {losses.shape}).")
            return self.factor(m.sum(axis=1)) * losses
        return self.factor(pattern_sizes(self.n)[m]) * losses[m]


#: The named laws (:meth:`MaskLaw.named`).
LAW_NAMES = ("time_free", "k_dce", "no_empty", "token_mean", "no_empty_token_mean")


def flawed_law_means(h, nll: float) -> dict:
    """E[D] of every named law for the optimal denoiser, in closed form from the per-size
    sums h_u = Σ_{|U|=u} Σ_{i∉U} −log p0(x^i | x^{U∪C}), u = 0..n−1, and the NLL
    (module docstring); plus ``no_empty_bias`` = (NLL − H_n h_0)/(n H_{n−1}).

    Examples
    --------
    >>> out = flawed_law_means([3.0, 2.0], nll=2.5)      # n = 2: h_0 = 3, h_1 = 2
    >>> out["no_empty"], out["no_empty_bias"]            # (H_2/H_1)(2.5 − 3/2), (2.5 − 1.5·3)/2
    (1.5, -1.0)
    """
    h = np.asarray(h, dtype=np.float64)
    n = h.size
    u = np.arange(n)
    B = subset_weight(n, u)
    Hn = harmonic_number(n)
    out = {"time_free": float(B @ h), "k_dce": float(B @ h), "token_mean": float((B / (n - u)) @ h)}
    if n >= 2:
        ratio = Hn / harmonic_number(n - 1)
        out["no_empty"] = float(ratio * (nll - h[0] / n))
        out["no_empty_token_mean"] = float(ratio * ((B / (n - u))[1:] @ h[1:]))
        out["no_empty_bias"] = float((nll - Hn * h[0]) / (n * harmonic_number(n - 1)))
    return out


@dataclasses.dataclass(frozen=True)
class GoodnessOfFit:
    """A chi-square test of a mask sampler against a declared law.

    Attributes
    ----------
    pvalue : float
        When each expected count of a mask is at least 5 (``over="masks"``), the
        Bonferroni combination 2 · min(p over masks, p over sizes) (capped at 1) — the
        test over every mask also sees non-uniform sets within a size, the one over sizes
        has more power against a wrong size law; otherwise the test over the number of
        unmasked positions alone (``over="sizes"``).
    statistic : float
    dof : int
    over : {"masks", "sizes"}
    size_pvalue : float
        The test over sizes |U| = 0..n (always computed).
    observed, expected : ndarray
        Counts per cell of the reported test.
    note : str
        Draws the law never makes, cells merged or skipped.
    """

    pvalue: float
    statistic: float
    dof: int
    over: str
    size_pvalue: float
    observed: np.ndarray = dataclasses.field(repr=False)
    expected: np.ndarray = dataclasses.field(repr=False)
    note: str = ""


def _chisquare(observed, expected):
    """(statistic, p-value, dof, note): cells of expected count 0 must be empty (else the
    p-value is 0); the others go to ``scipy.stats.chisquare``."""
    live = expected > 0
    stray = int(observed[~live].sum())
    if stray:
        return math.inf, 0.0, int(live.sum()) - 1, f"{stray} draws fall where the law has probability 0"
    if live.sum() < 2:
        return 0.0, 1.0, 0, "the law has a single cell"
    from scipy import stats  # imported when used: scipy.stats takes a third of a second

    res = stats.chisquare(observed[live], expected[live] * observed.sum() / expected[live].sum())
    return float(res.statistic), float(res.pvalue), int(live.sum()) - 1, ""


def goodness_of_fit(sampler, law: MaskLaw, *, draws: int = 20_000, rng=0) -> GoodnessOfFit:
    """Chi-square goodness-of-fit of a mask sampler against a declared :class:`MaskLaw`.

    ``sampler(rng, count)`` must return ``count`` masks as a boolean array (count, n)
    (True = masked; 0/1 integers accepted). The test is over all 2^n masks when every
    expected count ``draws · P(m)`` is at least 5 (so uniformity within each size is
    tested too; combined with the test over sizes, :class:`GoodnessOfFit`), otherwise over
    the size |U|. A draw of probability 0 under the law gives
    p-value 0 (``scipy.stats.chisquare`` for the rest).

    Raises ``ValueError`` naming ``sampler`` when it returns masks of the wrong shape or type.

    Examples
    --------
    >>> law = MaskLaw.time_free(6)
    >>> good = goodness_of_fit(lambda rng, c: law.draw(c, rng), law, draws=20_000, rng=1)
    >>> bad = goodness_of_fit(lambda rng, c: MaskLaw.no_empty(6).draw(c, rng), law, draws=20_000, rng=1)
    >>> bool(good.pvalue > 1e-3), bool(bad.pvalue < 1e-100)   # the flawed sampler never masks everything
    (True, True)
    """
    if not isinstance(law, MaskLaw):
        raise ValueError(f"`law` must be a MaskLaw (got {type(law).__name__}).")
    draws = validate_count(draws, "draws", 2)
    rng = validate_rng(rng)
    if not callable(sampler):
        raise ValueError(f"`sampler` must be a callable (rng, count) -> masks (got {type(sampler).__name__}).")
    masks = np.asarray(sampler(rng, draws))
    if masks.shape != (draws, law.n):
        raise ValueError(f"`sampler` must return masks of shape (count, n) = ({draws}, {law.n}) "
                         f"(got shape {masks.shape}).")
    if masks.dtype != bool:
        if not np.issubdtype(masks.dtype, np.integer) or not np.isin(masks, (0, 1)).all():
            raise ValueError(f"`sampler` must return boolean masks (True = masked) or 0/1 integers "
                             f"(got dtype {masks.dtype}).")
        masks = masks.astype(bool)
    a = masks.sum(axis=1)
    size_obs = np.bincount(law.n - a, minlength=law.n + 1).astype(np.float64)
    s_stat, s_p, s_dof, s_note = _chisquare(size_obs, law.size_probs * draws)
    if law.n <= MAX_MASK_BITS:
        expected = law.pattern_weights(0) * draws  # P(m) for every mask
        live = expected > 0
        if expected[live].min() >= 5:
            index = masks.astype(np.int64) @ (1 << np.arange(law.n - 1, -1, -1, dtype=np.int64))
            observed = np.bincount(index, minlength=2**law.n).astype(np.float64)
            stat, p, dof, note = _chisquare(observed, expected)
            p = min(1.0, 2.0 * min(p, s_p))  # Bonferroni: the test over masks and the one over sizes
            return GoodnessOfFit(p, stat, dof, "masks", s_p, observed, expected, note or s_note)
    note = s_note or "fewer than 5 expected draws of some mask: tested over sizes only"
    return GoodnessOfFit(s_p, s_stat, s_dof, "sizes", s_p, size_obs, law.size_probs * draws, note)
