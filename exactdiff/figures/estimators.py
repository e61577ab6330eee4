"""Figures of the likelihood estimators: the paper's Fig. 1a and Fig. 1b, and the exact
variance of each estimator against the number of draws.

Each figure is one function call with fixed seeds; each writes a PNG and returns the
numbers it plotted. The toys are the paper's tables from ``../shared/data/`` beside
the project when present; otherwise toys built the same way from a seed, which the
title then says.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..markov import MarkovChain
from ..masked import EmpiricalDenoiser, MarkovDenoiser, OracleDenoiser
from ..masked.estimators import (
    estimate_log_ratio,
    estimate_nll,
    estimator_moments,
    log_ratio_moments,
    mask_losses,
    moments_from_losses,
)
from ..masked.time_integral import log_divergence
from ..sequences import Distribution
from .style import pyplot as _pyplot
from .style import save as _save

__all__ = [
    "ESTIMATOR_FIGURES",
    "estimator_variance_figure",
    "fig1a_time_free_nll",
    "fig1b_conditional_nll",
    "markov_toy",
    "sequence_toy",
]

#: The paper's tables, beside the project root (``<root>/../shared/data``).
DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data"


def sequence_toy(data_dir=None):
    """(the 128-sequence toy of Fig. 1a, description): ``sequence_eval.json``, or the
    paper's recipe (``Distribution.paper_toy``, seed 0) when the file is absent."""
    path = Path(data_dir or DATA_DIR) / "sequence_eval.json"
    if path.exists():
        return Distribution.from_dict(json.loads(path.read_text()), alphabet="ATGC"), "sequence_eval.json"
    return Distribution.paper_toy(seed=0), "paper recipe, seed 0 (shared data absent)"


def markov_toy(data_dir=None):
    """(the order-4 chain of Fig. 1b, description): ``markov_data_table.json``, or a
    random order-4 chain over ATGC with Dirichlet(0.5) rows, seed 12345, when absent
    (the recipe of ``benchmarks/markov_conditional.py``)."""
    path = Path(data_dir or DATA_DIR) / "markov_data_table.json"
    if path.exists():
        return MarkovChain.from_dict(json.loads(path.read_text())), "markov_data_table.json"
    T = np.random.default_rng(12345).dirichlet(np.full(4, 0.5), size=4**4).reshape((4,) * 5)
    return MarkovChain(T, alphabet="ATGC"), "seeded order-4 chain, Dirichlet(0.5) rows, seed 12345 (shared data absent)"


def _streams(seed, n):
    """``n`` independent generators spawned from ``SeedSequence(seed)``: one per row."""
    return [np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(n)]


def _legend_below(ax, **kw):
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), borderaxespad=0, **kw)


def _plot_nll(ax, true, est, stderr, exact_model, what):
    order = np.argsort(true)
    idx = np.arange(true.size)
    ax.fill_between(idx, (est - 2 * stderr)[order], (est + 2 * stderr)[order], color="tab:red", alpha=0.2,
                    lw=0, label="estimate ± 2 s.e.")
    ax.plot(idx, true[order], "k-", lw=1.6, label=f"true {what}")
    ax.plot(idx, est[order], "o", color="tab:red", ms=3, label="estimated (Monte Carlo)")
    ax.plot(idx, exact_model[order], "_", color="tab:blue", ms=7, mew=1.5,
            label="fitted model, infinitely many draws (exact)")
    ax.set_ylabel(f"{what} (nats)")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)


def fig1a_time_free_nll(path="figures/fig1a_time_free_nll.png", *, n_samples=10**6, draws=2**15,
                        seed=0, data_dir=None) -> dict:
    """Fig. 1a: true NLL vs the time-free estimate (Theorem 4.1) for every sequence of
    the 128-sequence toy.

    The denoiser is :class:`~exactdiff.EmpiricalDenoiser` fitted on ``n_samples``
    sequences drawn from the table (seed ``seed``; default pseudo-count, one
    pseudo-observation in all); each sequence gets ``draws`` draws of the time-free
    estimator (seed ``seed + 1``). Also drawn: ±2 standard errors, and −log p̂(x0), the
    value the fitted model gives with infinitely many draws.
    """
    plt = _pyplot()
    p0, source = sequence_toy(data_dir)
    samples = p0.sample(n_samples, np.random.default_rng(seed))
    c = EmpiricalDenoiser(samples, p0.N)
    seqs = np.argwhere(p0.table > 0)
    streams = _streams(seed + 1, len(seqs))
    true = np.array([p0.nll(tuple(x)) for x in seqs])
    ests = [estimate_nll(c, x, "time_free", draws, rng) for x, rng in zip(seqs, streams)]
    est = np.array([e.estimate for e in ests])
    se = np.array([e.stderr for e in ests])
    exact_model = -np.log(c.p_hat[tuple(seqs.T)])
    fig, ax = plt.subplots(figsize=(9, 4.8))
    _plot_nll(ax, true, est, se, exact_model, "NLL")
    ax.set_xlabel(f"sequence (the {len(seqs)} of the toy, sorted by true NLL)")
    ax.set_title(f"Fig. 1a: time-free NLL estimator, {draws:,} draws per sequence\n"
                 f"empirical denoiser fitted on {n_samples:,} samples; toy: {source}", fontsize=10)
    fig.tight_layout()
    out = _save(fig, path)
    z = (est - exact_model) / se
    return dict(path=out, source=source, true=true, estimate=est, stderr=se, exact_model=exact_model,
                max_abs_z_vs_model=float(np.max(np.abs(z))), mean_abs_error_vs_true=float(np.mean(np.abs(est - true))))


def fig1b_conditional_nll(path="figures/fig1b_conditional_nll.png", *, n_letters=5 * 10**6, draws=2**15,
                          pairs=64, prompt=16, response=16, seed=0, data_dir=None) -> dict:
    """Fig. 1b: true conditional NLL −log p0(response | prompt) vs its time-free estimate
    (Corollary 4.3) for ``pairs`` prompt/response pairs sampled from the order-4 chain.

    The denoiser is a :class:`~exactdiff.MarkovDenoiser` of the chain's order, fitted on
    one run of ``n_letters`` letters (seed ``seed``); pairs are drawn with seed
    ``seed + 1`` and each pair's estimator from its own stream
    (``SeedSequence(seed + 2).spawn``). The fitted model's exact value is
    −log p̂(x^T | x^C) of the fitted chain (two forward passes).
    """
    plt = _pyplot()
    chain, source = markov_toy(data_dir)
    run = chain.sample(1, n_letters, np.random.default_rng(seed))[0]
    c = MarkovDenoiser(run, chain.N, chain.order, alphabet=chain.alphabet)
    L = prompt + response
    context, target = list(range(prompt)), list(range(prompt, L))
    xs = chain.sample(pairs, L, np.random.default_rng(seed + 1))
    streams = _streams(seed + 2, len(xs))
    true = np.array([chain.exact_conditional_nll(x, target, context) for x in xs])
    ests = [estimate_nll(c, x, "time_free", draws, rng, target=target, context=context)
            for x, rng in zip(xs, streams)]
    est = np.array([e.estimate for e in ests])
    se = np.array([e.stderr for e in ests])
    exact_model = np.array([c.chain.exact_conditional_nll(x, target, context) for x in xs])
    fig, ax = plt.subplots(figsize=(9, 4.8))
    _plot_nll(ax, true, est, se, exact_model, "conditional NLL")
    ax.set_xlabel(f"prompt/response pair ({prompt} + {response} letters, sorted by true NLL)")
    ax.set_title(f"Fig. 1b: time-free conditional NLL estimator, {draws:,} draws per pair\n"
                 f"Markov denoiser (order {chain.order}) fitted on {n_letters:,} letters; chain: {source}",
                 fontsize=10)
    fig.tight_layout()
    out = _save(fig, path)
    z = (est - exact_model) / se
    return dict(path=out, source=source, true=true, estimate=est, stderr=se, exact_model=exact_model,
                max_abs_z_vs_model=float(np.max(np.abs(z))), mean_abs_error_vs_true=float(np.mean(np.abs(est - true))))


def _mc_variance(run, ns, reps):
    """Empirical variance of ``reps`` independent estimates for each n, and its s.e."""
    out = []
    for n in ns:
        vals = np.array([run(n) for _ in range(reps)])
        v = vals.var(ddof=1)
        out.append((v, v * np.sqrt(2.0 / (reps - 1))))
    return np.array(out)


def estimator_variance_figure(path="figures/estimator_variance.png", *, eps=1e-3, reps=200,
                              ns=tuple(2**j for j in range(2, 13, 2)), seed=0, data_dir=None,
                              mc_draws=20000) -> dict:
    """Exact variance of each estimator of the mean of n draws, Var[D]/n (lines), with
    Monte Carlo points (the variance of ``reps`` independent estimates, ±2 s.e.).

    (a) −log p0(x0) for one sequence of the 128-sequence toy with the oracle:
    time-integral (cut-off ``eps``), k-DCE, time-free. (b) log p0(y) − log p0(x) for two
    sequences of the toy, coupled and decoupled Eq. 18. (c) Var[D] of one time-integral
    draw against the cut-off ε on a random full-support toy (Dirichlet, N = 3, L = 5,
    seed ``seed``), where single masked tokens cost something: it grows like
    c · log(1/ε) and is infinite at ε = 0; points: sample variance of ``mc_draws`` draws
    (±2 s.e. from the exact fourth moment). Each curve draws from its own stream
    (``SeedSequence(seed + 1).spawn``).
    """
    plt = _pyplot()
    p0, source = sequence_toy(data_dir)
    c = OracleDenoiser(p0)
    seqs = np.argwhere(p0.table > 0)
    pick = np.random.default_rng(seed).choice(len(seqs), size=2, replace=False)
    x0, y0 = seqs[pick[0]], seqs[pick[1]]
    streams = iter(_streams(seed + 1, 6))
    ns = np.asarray(ns)
    grid = np.geomspace(ns.min(), ns.max(), 50)
    fig, axes = plt.subplots(1, 3, figsize=(16, 6.2))
    result = dict(source=source, x0=x0.tolist(), y0=y0.tolist(), eps=eps, reps=reps, ns=ns.tolist(), curves={})
    specs = [("time_integral", dict(eps=eps), f"time-integral, ε = {eps:g}", "tab:orange"),
             ("k_dce", {}, "k-DCE", "tab:green"),
             ("time_free", {}, "time-free (Thm 4.1)", "tab:blue")]
    ax = axes[0]
    for law, kw, label, color in specs:
        m = estimator_moments(c, x0, law, **kw)
        rng = next(streams)
        mc = _mc_variance(lambda n: estimate_nll(c, x0, law, int(n), rng, **kw).estimate, ns, reps)
        ax.loglog(grid, m.variance / grid, "-", color=color, label=f"{label}: Var[D] = {m.variance:.3g}")
        ax.errorbar(ns, mc[:, 0], yerr=2 * mc[:, 1], fmt="o", color=color, ms=4, capsize=2)
        result["curves"][law] = dict(exact_variance=m.variance, mc=mc.tolist())
    m0 = estimator_moments(c, x0, "time_integral")
    ax.plot([], [], " ", label=f"time-integral, ε = 0: Var[D] = {m0.variance:.3g}"
            + ("" if log_divergence(*mask_losses(c, x0)) else " (single masks cost 0 here)"))
    ax.set_title(f"(a) −log p0(x0), oracle; x0 = {''.join('ATGC'[v] for v in x0)}", fontsize=10)
    ax.set_xlabel("number of draws n")
    ax.set_ylabel("variance of the estimate (nats²)")
    _legend_below(ax, fontsize=7.5)
    ax.grid(alpha=0.3, which="both")
    ax = axes[1]
    for coupling, color in (("coupled", "tab:purple"), ("decoupled", "tab:gray")):
        m = log_ratio_moments(c, y0, x0, coupling=coupling)
        rng = next(streams)
        mc = _mc_variance(lambda n: estimate_log_ratio(c, y0, x0, int(n), rng, coupling=coupling).estimate, ns, reps)
        ax.loglog(grid, m.variance / grid, "-", color=color, label=f"{coupling}: Var[D] = {m.variance:.3g}")
        ax.errorbar(ns, mc[:, 0], yerr=2 * mc[:, 1], fmt="o", color=color, ms=4, capsize=2)
        result["curves"][f"log_ratio_{coupling}"] = dict(exact_variance=m.variance, mc=mc.tolist())
    ax.set_title(f"(b) log p0(y) − log p0(x), Eq. 18; y = {''.join('ATGC'[v] for v in y0)}", fontsize=10)
    ax.set_xlabel("number of draws n")
    ax.set_ylabel("variance of the estimate (nats²)")
    _legend_below(ax, fontsize=8)
    ax.grid(alpha=0.3, which="both")
    # (c) the cut-off
    ax = axes[2]
    q0 = Distribution.dirichlet(3, 5, seed=seed)
    cq = OracleDenoiser(q0)
    xq = np.array(np.unravel_index(np.argmax(q0.table), q0.table.shape))
    losses, sizes = mask_losses(cq, xq)
    eps_grid = np.geomspace(1e-10, 0.5, 60)
    var_ti = np.array([moments_from_losses(losses, sizes, "time_integral", eps=e).variance for e in eps_grid])
    ax.semilogx(eps_grid, var_ti, "-", color="tab:orange", label="time-integral: exact Var[D](ε)")
    slope = log_divergence(losses, sizes)
    ref = var_ti[0] + slope * (np.log(1 / eps_grid) - np.log(1 / eps_grid[0]))
    ax.semilogx(eps_grid, ref, ":", color="k", lw=1, label=f"slope {slope:.3g} per unit of log(1/ε)")
    for law, color in (("k_dce", "tab:green"), ("time_free", "tab:blue")):
        v = moments_from_losses(losses, sizes, law).variance
        ax.axhline(v, color=color, lw=1.2, label=f"{law.replace('_', '-')}: Var[D] = {v:.3g}")
    pts = []
    rng = next(streams)
    for e in (1e-1, 1e-2, 1e-3):
        est = estimate_nll(cq, xq, "time_integral", mc_draws, rng, eps=e)
        m = moments_from_losses(losses, sizes, "time_integral", eps=e)
        pts.append((e, float(est.samples.var(ddof=1)), m.variance, m.variance_stderr(mc_draws)))
    pts = np.array(pts)
    ax.errorbar(pts[:, 0], pts[:, 1], yerr=2 * pts[:, 3], fmt="o", color="tab:orange", ms=4, capsize=2,
                label=f"sample variance of {mc_draws:,} draws (±2 s.e.)")
    ax.set_title(f"(c) time-integral cut-off; Dirichlet toy N=3, L=5, x0 = {''.join(map(str, xq))}\n"
                 f"ε = 0: Var[D] = ∞ (E D² ≈ {slope:.3g}·log(1/ε) + O(1))", fontsize=10)
    ax.set_xlabel("cut-off ε (λ ~ U(ε, 1))")
    ax.set_ylabel("variance of one draw (nats²)")
    _legend_below(ax, fontsize=7.5)
    ax.grid(alpha=0.3, which="both")
    result["cutoff"] = dict(x0=xq.tolist(), log_divergence=slope, mc=pts.tolist())
    fig.suptitle(f"Exact variance (lines) and Monte Carlo (points, ±2 s.e.); (a), (b): variance of the mean of n "
                 f"draws over {reps} repetitions; toy: {source}", fontsize=10)
    fig.tight_layout()
    result["path"] = _save(fig, path)
    return result


def _registered(fn, name):
    def make(out_dir, seed=0):
        return fn(os.path.join(out_dir, name), seed=seed)["path"]

    make.__name__ = fn.__name__
    make.__doc__ = f"Write ``{name}`` into ``out_dir`` (:func:`{fn.__name__}`); returns its path."
    return make


#: The gallery entries, ``name → f(out_dir, seed) -> path`` (see ``exactdiff.figures``).
ESTIMATOR_FIGURES = {
    "fig1a_time_free_nll": _registered(fig1a_time_free_nll, "fig1a_time_free_nll.png"),
    "fig1b_conditional_nll": _registered(fig1b_conditional_nll, "fig1b_conditional_nll.png"),
    "estimator_variance": _registered(estimator_variance_figure, "estimator_variance.png"),
}
