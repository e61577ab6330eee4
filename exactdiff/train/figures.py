"""Figures of a trained network: its exact learning curve, and the paper's Fig. 1a with
the network's exact limit beside the Monte Carlo estimate. Each function draws numbers
it is given (from :func:`~exactdiff.train.train_denoiser` and
:func:`~exactdiff.train.exact_limits`), writes a PNG and returns its path; matplotlib is
imported when a figure is drawn."""

from __future__ import annotations

import numpy as np

__all__ = ["learning_curve_figure", "fig1a_trained_network"]


def _running_mean(values, window):
    values = np.asarray(values, dtype=np.float64)
    if values.size < window:
        return np.arange(1, values.size + 1), values
    csum = np.cumsum(np.concatenate([[0.0], values]))
    return np.arange(window, values.size + 1), (csum[window:] - csum[:-window]) / window


def learning_curve_figure(history, path, *, loss=None, title=None) -> str:
    """The exact learning curve: (a) the expected DCE Σ p0·limit at each checkpoint, the
    mini-batch training loss (running mean) and its optimum H(p0); (b) the gap
    Σ p0·bias, the median and max |bias| of the network, and the same for the empirical
    denoiser fitted on the sequences drawn so far, on a log scale.

    Parameters
    ----------
    history : list of dict
        The checkpoint rows of :attr:`TrainingResult.history
        <exactdiff.train.TrainingResult.history>`.
    path : str or Path
        The PNG to write (its folder is created).
    loss : array, optional
        The loss of every step (:attr:`TrainingResult.loss`).
    title : str, optional
    """
    from ..figures.style import pyplot, save

    plt = pyplot()
    entropy = history[0]["entropy"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
    ax = axes[0]
    if loss is not None and len(loss):
        window = max(1, len(loss) // 200)
        x, y = _running_mean(loss, window)
        ax.plot(x, y, "-", color="0.6", lw=0.8, label=f"training loss (running mean over {window} steps)")
    later = [row for row in history if row["step"] > 0]  # step 0 (the uniform network) is in the title
    ax.plot([row["step"] for row in later], [row["expected_dce"] for row in later], "o-", color="tab:blue", ms=4,
            label="exact expected DCE Σ p0·limit (every mask)")
    ax.axhline(entropy, color="k", lw=1, label=f"H(p0) = {entropy:.4f}, the optimum")
    top = entropy + max(1.0, 1.5 * (history[1]["expected_dce"] - entropy) if len(history) > 1 else 1.0)
    ax.set_ylim(entropy - 0.25, min(top, history[0]["expected_dce"] + 0.5))
    ax.set_xlabel("step")
    ax.set_ylabel("nats")
    ax.set_title(f"(a) the λ-DCE objective (at step 0, the uniform network: {history[0]['expected_dce']:.3f} nats)",
                 fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax = axes[1]
    s = [row["step"] for row in later]
    for key, label, style in (("gap", "network: gap Σ p0·bias", "o-"),
                              ("median_abs_bias", "network: median |bias|", "^-"),
                              ("max_abs_bias", "network: max |bias|", "v-"),
                              ("empirical_gap", "empirical denoiser, same samples: gap", "s--"),
                              ("empirical_max_abs_bias", "empirical denoiser, same samples: max |bias|", "D--")):
        values = np.array([np.nan if row.get(key) is None else row[key] for row in later], dtype=float)
        if np.all(np.isnan(values)):
            continue
        ax.semilogy(s, np.maximum(values, 1e-16), style, ms=4, lw=1, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("nats")
    ax.set_title("(b) exact bias of the network (every mask of every sequence)", fontsize=10)
    ax.legend(fontsize=8, loc="lower right", bbox_to_anchor=(1.0, 0.12))
    ax.grid(alpha=0.3, which="both")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save(fig, path)


def fig1a_trained_network(limits, mc, path, *, title=None) -> str:
    """Fig. 1a with a trained network: (a) per sequence, sorted by true NLL, the truth
    (black), the Monte Carlo estimate (red, ±2 s.e.) and the network's exact limit
    (blue); (b) the exact bias per sequence against what Monte Carlo can resolve: ±2 s.e.
    of the first estimate around 0 (the others' median is given in the legend).

    Parameters
    ----------
    limits : ExactLimits
        The exact audit of the network (:func:`~exactdiff.train.exact_limits`).
    mc : list of (draws, estimates, stderrs)
        Monte Carlo estimates per sequence (in the order of ``limits.sequences``); the
        first is drawn in (a), all in (b).
    path : str or Path
    title : str, optional
    """
    from ..figures.style import pyplot, save

    plt = pyplot()
    order = np.argsort(limits.nll, kind="stable")
    idx = np.arange(order.size)
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.9), gridspec_kw={"width_ratios": [1.6, 1]})
    ax = axes[0]
    draws, est, se = mc[0]
    est, se = np.asarray(est)[order], np.asarray(se)[order]
    ax.fill_between(idx, est - 2 * se, est + 2 * se, color="tab:red", alpha=0.2, lw=0, label="estimate ± 2 s.e.")
    ax.plot(idx, limits.nll[order], "k-", lw=1.6, label="true NLL −log p0(x)")
    ax.plot(idx, est, "o", color="tab:red", ms=3, label=f"time-free Monte Carlo estimate, {draws:,} draws")
    ax.plot(idx, limits.limit[order], "_", color="tab:blue", ms=7, mew=1.5,
            label="network's exact limit (infinitely many draws)")
    ax.set_xlabel(f"sequence (the {order.size} of the toy, sorted by true NLL)")
    ax.set_ylabel("NLL (nats)")
    ax.set_title("(a) truth, estimate and the network's limit", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    ax = axes[1]
    ax.fill_between(idx, -2 * se, 2 * se, color="tab:red", alpha=0.2, lw=0,
                    label=f"± 2 s.e. of the estimate at {draws:,} draws")
    for n, _, other in mc[1:]:
        ax.plot([], [], " ", label=f"± 2 s.e. at {n:,} draws: median ± {2 * np.median(other):.2f}")
    ax.axhline(0, color="k", lw=0.8)
    ax.plot(idx, limits.bias[order], "o", color="tab:blue", ms=3, label="exact bias = limit − truth")
    t = limits.totals()
    ax.set_xlabel("sequence (sorted by true NLL)")
    ax.set_ylabel("nats")
    ax.set_title(f"(b) exact bias: gap Σ p0·bias {t['gap']:.4f}, median {t['median_bias']:+.3f}, "
                 f"max |bias| {t['max_abs_bias']:.3f}", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save(fig, path)
