"""Auditing a likelihood estimator with a model against exact truth, sequence by sequence.

For a law p0 that exactdiff can evaluate exactly (a table or a Markov chain), a model c
(any denoiser) and an estimator (a mask law, :mod:`exactdiff.masked.laws`), every
sequence x of the audit gets

- ``nll``: the truth −log p0(x) (or −log p0(x^T | x^C) with a target and context);
- ``limit``: the estimator's exact mean with this model, E[D] = Σ_m P(m) f(|m|) ℓ_c(m),
  every mask m enumerated with one model call each (:func:`~exactdiff.mask_losses`) —
  what infinitely many draws converge to;
- ``bias`` = limit − nll, split into ``law_bias`` (the same estimator with the exact
  denoiser c*, so the law's own error; 0 for the time-free and k-DCE laws) and
  ``model_gap`` = limit − (the law's limit with c*), the model's error seen through the law;
- ``variance``: the exact variance of one draw, and ``draws_for_0.01`` = ⌈Var / 0.01²⌉,
  the draws for a standard error of 0.01 nats;
- a Monte Carlo ``estimate`` with ``samples`` draws (its own stream, spawned from the seed)
  and its ``stderr``;
- ``laws``: the limit, bias and variance of every named law with this model;
- ``dce_by_masked``: the expected DCE per masked token given a masked tokens, a = 1..n,
  for this model and for c* (the calibration by mask size).

The exact denoiser's losses come from marginals, not from a denoiser: for a table,
ℓ*(m) = Σ_{i ∈ m} [log P̃(x̃_m) − log P̃(x̃_{m∖{i}})] with P̃ the probability of the
visible letters (:func:`~exactdiff.masked.visible_table`); for a chain, from
:meth:`MarkovChain.subset_losses <exactdiff.MarkovChain.subset_losses>`. The truth comes
from the table or from forward passes; so ``bias`` is two independent routes apart for
the oracle, and the audit of the oracle shows bias 0 within rounding.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.validation import as_token_array, validate_count, validate_target_context
from ..markov import MarkovChain
from ..markov.forward_backward import subset_losses
from ..masked import exact_conditional_nll, mask_losses, visible_table
from ..core.callables import model_name
from ..core.results import STDERR_GOAL, draws_for
from ..masked.estimators import estimate_nll, moments_from_losses, validate_law
from ..masked.laws import LAW_NAMES
from ..sequences.masks import pattern_sizes, subset_of_pattern, visible_sets
from ..sequences import Distribution

__all__ = ["audit_denoiser", "ExactTruth", "BIAS_TOL"]

#: An estimator whose |limit − NLL| stays below this for every sequence is unbiased.
BIAS_TOL = 1e-10


class ExactTruth:
    """The exact side of an audit: −log p0 and the exact denoiser's loss on every mask.

    Parameters
    ----------
    p0 : Distribution, table or MarkovChain

    Examples
    --------
    >>> import numpy as np, exactdiff as ed
    >>> p0 = ed.Distribution.dirichlet(2, 4, seed=1)
    >>> truth, x = ExactTruth(p0), np.array([0, 1, 1, 0])
    >>> losses, n_masked = truth.oracle_losses(x)
    >>> ref, _ = ed.mask_losses(ed.OracleDenoiser(p0), x)      # one denoiser call per mask
    >>> bool(np.allclose(losses, ref, rtol=1e-12, atol=1e-14))
    True
    """

    def __init__(self, p0):
        if isinstance(p0, MarkovChain):
            self.p0, self.chain, self.visible = p0, p0, None
        else:
            self.p0 = p0 if isinstance(p0, Distribution) else Distribution(p0)
            self.chain = None
            self.visible = visible_table(self.p0)  # P̃ over (N+1)^L, mask id N
        self.N = self.p0.N
        self.alphabet = self.p0.alphabet

    def nll(self, x, target=None, context=None) -> float:
        """−log p0(x), or −log p0(x^T | x^C) (forward passes for a chain, marginals for a table)."""
        if target is None:
            return float(self.p0.nll(tuple(int(v) for v in x)))
        return float(exact_conditional_nll(self.p0, tuple(int(v) for v in x), target, context or ()))

    def oracle_losses(self, x, target=None, context=None):
        """(ℓ*(m) for every mask m of the target, in :func:`~exactdiff.masked.mask_patterns`
        order over the ascending target positions; the number masked)."""
        x = np.asarray(x, dtype=np.int64)
        L = x.size
        T, C = validate_target_context(L, range(L) if target is None else target, context)
        T = sorted(T)
        if self.chain is not None:
            return self.chain.subset_losses(x, T, C)
        n = len(T)
        rows = np.full((2**n, L), self.N, dtype=np.int64)
        rows[:, list(C)] = x[list(C)]
        rows[:, T] = np.where(visible_sets(n), x[T], self.N)  # row J: the visible set of subset index J
        with np.errstate(divide="ignore"):
            log_z = np.log(self.visible[tuple(rows.T)])
        return subset_losses(log_z)[subset_of_pattern(n)], pattern_sizes(n)

    def show(self, x) -> str:
        """A sequence as text (letters of the alphabet, else the tokens)."""
        if self.alphabet:
            return "".join(self.alphabet[int(v)] for v in x)
        return " ".join(str(int(v)) for v in x)


def _moments(losses, sizes, law):
    m = moments_from_losses(losses, sizes, law)
    return m.mean, m.variance


def _by_masked(losses, sizes, n):
    """Mean ℓ over masks with a masked tokens, per masked token, a = 1..n."""
    count = np.bincount(sizes, minlength=n + 1)[1:]
    total = np.bincount(sizes, weights=losses, minlength=n + 1)[1:]
    return total / count / np.arange(1, n + 1)


def audit_denoiser(p0, denoiser, sequences=None, *, law="time_free", target=None, context=None, samples=256,
                   seed=0, tol=BIAS_TOL, progress=False, N=None) -> dict:
    """Audit a denoiser and an estimator against the exact law, sequence by sequence.

    Parameters
    ----------
    p0 : Distribution, table or MarkovChain
        The truth.
    denoiser : callable
        (B, L) ints (mask id N) → (B, L, N) probabilities (:mod:`exactdiff.masked.denoisers`).
    sequences : int array, shape (M, L), optional
        Default: every sequence of p0's support (a table; a chain needs sequences).
    law : str, MaskLaw or TimeIntegralLaw
        The audited estimator: a name of :data:`~exactdiff.masked.estimators.LAWS`
        (``"time_free"``, ``"k_dce"``, ``"time_integral"``, the flawed mask laws) or a law
        object over |T| positions.
    target, context : positions, optional
        Audit −log p0(x^T | x^C) (Corollary 4.3) instead of −log p0(x).
    samples : int
        Monte Carlo draws per sequence (``ed.estimate_nll``); sequence b draws from its
        own stream, child b + 2 of ``SeedSequence(seed)`` (children 0 and 1 are left to
        fitting a denoiser and drawing sequences).
    tol : float
        |bias| bound of the verdict "unbiased" (nats).
    progress : bool
        A tqdm bar over the sequences.
    N : int, optional
        Vocabulary size (default p0's).

    Returns
    -------
    dict
        JSON-ready: ``setup``, ``sequences`` (one record per sequence, module docstring),
        ``totals``, ``laws`` (per-law summaries), ``calibration`` and ``verdict``.

    Examples
    --------
    >>> import exactdiff as ed
    >>> p0 = ed.Distribution.dirichlet(2, 4, seed=1)
    >>> res = audit_denoiser(p0, ed.OracleDenoiser(p0), samples=64)
    >>> res["verdict"]["unbiased"], res["totals"]["max_abs_bias"] < 1e-12
    (True, True)
    >>> res = audit_denoiser(p0, ed.OracleDenoiser(p0), law="no_empty", samples=64)
    >>> res["verdict"]["unbiased"], res["totals"]["max_abs_law_bias"] > 0.01
    (False, True)
    """
    truth = ExactTruth(p0)
    N = truth.N if N is None else validate_count(N, "N")
    if sequences is None:
        if truth.chain is not None:
            raise ValueError("`sequences` is required for a Markov chain (it has no finite support to list).")
        sequences = np.argwhere(truth.p0.table > 0)
    seqs = as_token_array(sequences, N, "sequences")
    if seqs.shape[0] == 0:
        raise ValueError("`sequences` must hold at least one sequence.")
    L = seqs.shape[1]
    T, C = validate_target_context(L, range(L) if target is None else target, context)
    T, C = sorted(T), sorted(C)
    conditional = target is not None
    n = len(T)
    validate_law(law, "law")
    if not isinstance(law, str) and law.n != n:
        raise ValueError(f"`law` is over n={law.n} positions; the target has {n}.")
    law_name = law if isinstance(law, str) else law.name
    samples = validate_count(samples, "samples", 2)
    # Children 0 and 1 of the seed are left to the caller (fitting a denoiser, drawing
    # sequences, as ``exactdiff nll`` and ``exactdiff audit`` do); sequence b draws from child b + 2.
    streams = np.random.SeedSequence(seed).spawn(seqs.shape[0] + 2)[2:]
    others = [name for name in LAW_NAMES if name != law_name]
    kw = dict(target=T, context=C) if conditional else {}

    iterator = range(seqs.shape[0])
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc="exactdiff audit", unit="seq", leave=False)
    records = []
    for b in iterator:
        x = seqs[b]
        nll = truth.nll(x, T if conditional else None, C)
        losses, sizes = mask_losses(denoiser, x, N=N, **kw)
        star, star_sizes = truth.oracle_losses(x, T, C)
        limit, variance = _moments(losses, sizes, law)
        star_limit, _ = _moments(star, star_sizes, law)
        est = estimate_nll(denoiser, x, law, samples, np.random.default_rng(streams[b]), N=N, **kw)
        rec = {
            "sequence": truth.show(x),
            "nll": nll,
            "limit": limit,
            "bias": limit - nll,
            "law_bias": star_limit - nll,
            "model_gap": limit - star_limit,
            "variance": variance,
            "draws_for_0.01": draws_for(variance),
            "estimate": est.estimate,
            "stderr": est.stderr,
            "laws": {},
            "dce_by_masked": _by_masked(losses, sizes, n).tolist(),
            "dce_by_masked_optimal": _by_masked(star, star_sizes, n).tolist(),
        }
        if truth.chain is None:
            rec["p0"] = float(truth.p0.table[tuple(x)])
        for name in [law_name] + others:
            lim, var = (limit, variance) if name == law_name else _moments(losses, sizes, name)
            rec["laws"][name] = {"limit": lim, "bias": lim - nll, "variance": var, "draws_for_0.01": draws_for(var)}
        records.append(rec)
    return _summarise(records, dict(
        toy=getattr(p0, "name", None), denoiser=model_name(denoiser), N=N, L=L, target=T if conditional else None,
        context=C if conditional else None, law=law_name, samples=samples, seed=seed, tol=tol, stderr_goal=STDERR_GOAL,
        sequences=len(records), weights="p0 (renormalised over the audited sequences)" if truth.chain is None
        else "uniform over the audited sequences"), tol)


def _summarise(records, setup, tol, kind="denoiser") -> dict:
    """Totals, per-law summaries, calibration and the verdict of an audit (records
    without ``law_bias`` — a score model's — have no law/model split and no calibration)."""
    split = "law_bias" in records[0]
    get = lambda key: np.array([r[key] for r in records], dtype=np.float64)  # noqa: E731
    bias = get("bias")
    law_bias, gap = (get("law_bias"), get("model_gap")) if split else (np.zeros_like(bias), bias)
    var, nll = get("variance"), get("nll")
    est, se, limit = get("estimate"), get("stderr"), get("limit")
    w = get("p0") if "p0" in records[0] else np.ones(len(records))
    w = w / w.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(se > 0, (est - limit) / se, 0.0)
    totals = {
        "sequences": len(records),
        "max_abs_bias": float(np.max(np.abs(bias))),
        "mean_bias": float(np.mean(bias)),
        "weighted_mean_bias": float(w @ bias),
    }
    if split:
        totals.update(max_abs_law_bias=float(np.max(np.abs(law_bias))), max_abs_model_gap=float(np.max(np.abs(gap))))
    totals.update({
        "weighted_nll": float(w @ nll),
        "weighted_limit": float(w @ limit),
        "median_variance": float(np.median(var)),
        "max_draws_for_0.01": float(np.max([r["draws_for_0.01"] for r in records])),
        "median_draws_for_0.01": float(np.median([r["draws_for_0.01"] for r in records])),
        "monte_carlo_within_3_stderr": float(np.mean(np.abs(z) <= 3)),
    })
    laws = {}
    for name in records[0]["laws"]:
        b = np.array([r["laws"][name]["bias"] for r in records])
        v = np.array([r["laws"][name]["variance"] for r in records])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (b + nll) / nll
        laws[name] = {"max_abs_bias": float(np.max(np.abs(b))), "min_bias": float(b.min()), "max_bias": float(b.max()),
                      "weighted_mean_bias": float(w @ b), "min_ratio": float(ratio.min()),
                      "max_ratio": float(ratio.max()), "median_variance": float(np.median(v)),
                      "median_draws_for_0.01": float(np.median([draws_for(x) for x in v]))}
    calibration = None
    if "dce_by_masked" in records[0]:
        n = len(records[0]["dce_by_masked"])
        calibration = {
            "masked": list(range(1, n + 1)),
            "model": (w @ np.array([r["dce_by_masked"] for r in records])).tolist(),
            "optimal": (w @ np.array([r["dce_by_masked_optimal"] for r in records])).tolist(),
        }
    unbiased = bool(totals["max_abs_bias"] <= tol)
    worst = int(np.argmax(np.abs(bias)))
    if unbiased:
        text = (f"unbiased: the {setup['law']} estimator with this {kind} converges to the exact NLL of every sequence "
                f"(max |limit − NLL| = {totals['max_abs_bias']:.2e} <= {tol:g} nats over {len(records)} sequences)")
    else:
        parts = []
        if split and totals["max_abs_law_bias"] > tol:
            parts.append(f"the mask law is biased even with the exact denoiser (law bias up to "
                         f"{law_bias[np.argmax(np.abs(law_bias))]:+.4g} nats)")
        if np.max(np.abs(gap)) > tol:
            parts.append(f"the {kind} moves the limit by up to {gap[np.argmax(np.abs(gap))]:+.4g} nats")
        text = (f"biased: the {setup['law']} estimator with this {kind} converges to a wrong value "
                f"(max |limit − NLL| = {totals['max_abs_bias']:.4g} nats, at {records[worst]['sequence']}; "
                f"p0-weighted mean bias {totals['weighted_mean_bias']:+.4g}); " + "; ".join(parts))
    return {"kind": kind, "setup": setup, "verdict": {"unbiased": unbiased, "text": text}, "totals": totals,
            "laws": laws, "calibration": calibration, "sequences": records}
