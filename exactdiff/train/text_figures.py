"""Figures of the text network: the paper's Fig. c with a trained network and its ground
truth (:func:`figc_trained_network`), and the learning curve (:func:`text_learning_curve`).
Each draws numbers it is given (the JSON of ``benchmarks/figc_trained_network.py``, the
history of :func:`~exactdiff.train.train_text_denoiser`), writes a PNG and returns its
path; matplotlib and scipy.stats are imported when a figure is drawn."""

from __future__ import annotations

import numpy as np

from .figures import _running_mean

__all__ = ["figc_trained_network", "text_learning_curve"]

COLORS = {"in": "#384786", "ood": "#EA5455", "time_free": "#384786", "k_dce": "#2a9d8f"}
LABELS = {"in": "text8 continuation", "ood": "GPT response (mapped)"}


def _densities(ax, values, labels, title, xlabel):
    from scipy import stats

    values, labels = np.asarray(values, dtype=np.float64), np.asarray(labels)
    xs = np.linspace(values.min() - 2, values.max() + 2, 300)
    for key, lab in (("in", 0), ("ood", 1)):
        dens = stats.gaussian_kde(values[labels == lab])(xs)
        ax.plot(xs, dens, color=COLORS[key])
        ax.fill_between(xs, dens, color=COLORS[key], alpha=0.3, label=LABELS[key])
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)


def figc_trained_network(result: dict, path, *, show_draws: int | None = None) -> str:
    """The paper's Fig. c with its ground truth.

    Top row: densities of three scores of every response, text8 continuations against
    GPT responses — (a) the chain's exact −log p0(response | prompt), (b) the network's
    exact time-free limit (every mask), (c) the network's time-free Monte Carlo estimate
    with ``show_draws`` draws (repetition 0) — each with its AUROC. Bottom: (d) the AUROC
    against the draws per response n (mean ± sd over repetitions; time-free and k-DCE),
    with the chain's exact AUROC and the network's limit AUROC as lines; (e) the network's
    bias (limit − truth) per response by label.

    Parameters
    ----------
    result : dict
        The JSON of ``benchmarks/figc_trained_network.py``: ``rows`` (``label``, ``nll``,
        ``limit``, ``mc``), ``auroc`` and ``setup``.
    path : str or Path
    show_draws : int, optional
        Draws of panel (c) (default the smallest n of the grid whose mean AUROC is within
        0.01 of the limit AUROC, else the largest).
    """
    from ..figures.style import pyplot, save

    rows, au = result["rows"], result["auroc"]
    labels = np.array([r["label"] for r in rows])
    nll = np.array([r["nll"] for r in rows])
    limit = np.array([r["limit"] for r in rows])
    grid = [int(n) for n in au["mc"]["time_free"]["mean"]]
    if show_draws is None:
        show_draws = au["draws_for_0.01"]["time_free"]["mean_within"] or grid[-1]
    mc = np.array([r["mc"][str(show_draws)] for r in rows])
    plt = pyplot()
    fig = plt.figure(figsize=(13.5, 8.2))
    gs = fig.add_gridspec(2, 3, height_ratios=[1, 1.1])
    _densities(fig.add_subplot(gs[0, 0]), nll, labels, f"(a) chain, exact: AUROC {au['chain_exact']:.3f}",
               "−log p0(response | prompt) (nats)")
    _densities(fig.add_subplot(gs[0, 1]), limit, labels,
               f"(b) network, exact limit (2^16 masks): AUROC {au['network_limit']:.3f}",
               "network's time-free limit (nats)")
    _densities(fig.add_subplot(gs[0, 2]), mc, labels,
               f"(c) network, Monte Carlo, n = {show_draws}: AUROC {au['mc']['time_free']['mean'][str(show_draws)]:.3f}"
               f" ± {au['mc']['time_free']['sd'][str(show_draws)]:.3f}",
               f"time-free estimate with {show_draws} draws (nats)")
    ax = fig.add_subplot(gs[1, :2])
    for name, d in au["mc"].items():
        ns = np.array([int(n) for n in d["mean"]])
        ax.errorbar(ns, list(d["mean"].values()), yerr=list(d["sd"].values()), capsize=2, lw=1, marker="o", ms=3,
                    color=COLORS.get(name), label=f"network, {name} Monte Carlo (mean ± sd over "
                                                  f"{result['setup']['mc_seeds']} repetitions)")
    ax.axhline(au["network_limit"], color="#e76f51", ls="--", lw=1.5,
               label=f"network, exact limit: {au['network_limit']:.4f}")
    ax.axhline(au["chain_exact"], color="k", ls="-", lw=1.2, label=f"chain, exact (the truth): {au['chain_exact']:.4f}")
    need = au["draws_for_0.01"]["time_free"]["mean_within"]
    if need is not None:
        ax.axvline(need, color="0.5", ls=":", lw=1, label=f"time-free mean within 0.01 of the limit from n = {need}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("draws per response n")
    ax.set_ylabel("AUROC, text8 vs GPT")
    ax.set_title(f"(d) AUROC of {len(rows)} responses: what the network learned (limit vs truth) and what the "
                 f"estimator's noise costs (Monte Carlo vs limit)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3, which="both")
    ax = fig.add_subplot(gs[1, 2])
    bias = limit - nll
    bins = np.linspace(bias.min(), bias.max(), 40)
    for key, lab in (("in", 0), ("ood", 1)):
        b = bias[labels == lab]
        ax.hist(b, bins=bins, color=COLORS[key], alpha=0.5, label=f"{LABELS[key]}: mean {b.mean():+.2f}")
    gap = result.get("in_distribution_gap")
    if gap:
        ax.axvline(gap["mean_bias"], color="k", lw=1,
                   label=f"chain's own samples: mean {gap['mean_bias']:+.2f} ± {gap['se']:.2f} (the KL)")
    ax.set_ylim(top=1.4 * ax.get_ylim()[1])  # room for the legend
    ax.set_xlabel("bias = network limit − truth (nats)", fontsize=8)
    ax.set_title("(e) the network's exact bias per response", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    s = result["setup"]
    fig.suptitle(f"Fig. c with ground truth: a {result['network']['description']} trained on samples of the order-"
                 f"{s['order']} chain (α = {s['alpha']:g}), scored on the pairs of exactdiff ood (seed {s['seed']}, "
                 f"{s['prompt']} + {s['response']} letters)", fontsize=10)
    fig.tight_layout()
    return save(fig, path)


def text_learning_curve(history, path, *, loss=None, title=None) -> str:
    """The learning curve of :func:`~exactdiff.train.train_text_denoiser`: (a) the
    mini-batch loss (running mean), the validation DCE ± 2 s.e. and its optimum
    H(response | prompt) = R·h; (b) the validation gap (expected conditional KL, nats per
    response) ± 2 s.e.

    Parameters
    ----------
    history : list of dict
        :attr:`TextTrainingResult.history <exactdiff.train.TextTrainingResult.history>`.
    path : str or Path
    loss : array, optional
        The loss of every step.
    title : str, optional
    """
    from ..figures.style import pyplot, save

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
    entropy = history[0]["entropy"]
    steps = np.array([row["step"] for row in history])
    ax = axes[0]
    if loss is not None and len(loss):
        window = max(1, len(loss) // 200)
        x, y = _running_mean(loss, window)
        ax.plot(x, y, "-", color="0.6", lw=0.8, label=f"training loss (k-DCE weights; running mean over {window} steps)")
    dce = np.array([row["val_dce"] for row in history])
    se = np.array([row["val_dce_se"] for row in history])
    ax.errorbar(steps, dce, yerr=2 * se, fmt="o-", ms=4, color="tab:blue", capsize=2,
                label="validation DCE (time-free draws) ± 2 s.e.")
    ax.axhline(entropy, color="k", lw=1, label=f"H(response | prompt) = {entropy:.3f}, the optimum")
    ax.set_xlabel("step")
    ax.set_ylabel("nats per response")
    ax.set_title("(a) the conditional λ-DCE objective", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax = axes[1]
    gap = np.array([row["gap"] for row in history])
    gse = np.array([row["gap_se"] for row in history])
    ax.errorbar(steps, gap, yerr=2 * gse, fmt="o-", ms=4, color="tab:red", capsize=2,
                label="validation gap: mean of H_R(ℓ_net − ℓ_chain) on the same masks ± 2 s.e.")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("nats per response")
    ax.set_title(f"(b) the network's expected conditional KL (final: {gap[-1]:.3f} ± {gse[-1]:.3f})", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save(fig, path)
