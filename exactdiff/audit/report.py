"""The written audit: ``report.json``, ``report.md`` and four figures, from the result of
:func:`~exactdiff.audit.limits.audit_denoiser` (or of the score-model audit). A figure
only draws numbers the audit computed; nothing is recomputed here (a difference of two
plotted series and its running sum are the most a figure does).

Each figure is built by a function that returns the matplotlib ``Figure``
(:data:`FIGURES`), so its titles, labels and plotted values can be read before it is
saved. Every figure's title names the toy, the model, the audited law and the number of
sequences; a conditional audit labels its truth −log p0(x^T | x^C). Legends sit outside
the axes.

Figures (PNG, in the report's folder):

- ``truth_limit_mc.png``: per sequence (sorted by the truth) the exact −log p0, the
  model's exact limit and the Monte Carlo estimate with ±2 standard errors (the paper's
  Fig. 1a, with the model's limit beside the truth); below, the same minus the truth;
- ``bias_histogram.png``: limit − NLL per sequence, one panel per estimator on a shared
  axis; estimators whose bias agrees on every sequence (within the audit's tolerance)
  share a panel and say so;
- ``calibration.png``: the expected DCE per masked token given a masked tokens, this
  model and the optimal denoiser (p0-weighted over the sequences); below, their
  difference Δ(a) and its running sum, the optimal denoiser being the zero line. As
  −log p0 = Σ_a E[ℓ | a masked] / a (the time-free form), Σ_a Δ(a) is the time-free
  estimator's weighted model gap;
- ``variance.png``: the standard deviation of one draw per estimator, over sequences;
  an estimator whose variance is infinite for some or all sequences says how many.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from ..core.serialize import jsonable
from ..figures.style import pyplot, save

__all__ = ["write_report", "report_markdown", "FIGURE_FILES", "FIGURES", "truth_figure", "bias_figure",
           "calibration_figure", "variance_figure", "figure_subtitle", "nll_label"]

#: The figures of a report: file name → caption.
FIGURE_FILES = {
    "truth_limit_mc.png": "Truth, the model's exact limit and a Monte Carlo estimate (±2 s.e.) per sequence",
    "bias_histogram.png": "Bias (limit − NLL) per sequence, every estimator with this model",
    "calibration.png": "Expected DCE per masked token by the number masked: this model against the optimal "
                       "denoiser, and their difference",
    "variance.png": "Standard deviation of one draw per estimator (over sequences)",
}

#: How to read each figure (written under it in ``report.md``).
FIGURE_NOTES = {
    "truth_limit_mc.png": "Top: the sequences sorted by the truth; the model's exact limit is what infinitely many "
                          "draws converge to, so a dot off the line is bias, not noise. Bottom: the same minus the "
                          "truth (0 = exact).",
    "bias_histogram.png": "One panel per estimator on a shared axis; the vertical line is bias 0. Estimators whose "
                          "bias agrees on every sequence within the audit's tolerance share one panel, named "
                          "`a = b`.",
    "calibration.png": "Top: E[DCE | a masked] / a for this model and for the optimal denoiser c*. Bottom: their "
                       "difference Δ(a) (bars; c* is the zero line) and its running sum (line). Since −log p0 = "
                       "Σ_a E[ℓ | a masked] / a, the running sum at the last a is the time-free estimator's "
                       "(weighted) model gap: the nats this model adds to the NLL. Over a table's whole support each "
                       "Δ(a) is a KL divergence, ≥ 0; a large Δ at small a means the model predicts worse than c* "
                       "when almost everything is visible.",
    "variance.png": "Log scale; one box per estimator over the sequences, the audited one marked `*`. An "
                    "estimator with an infinite variance for some sequences boxes the finite ones and says how "
                    "many are ∞; one infinite for every sequence has no box.",
}

#: Rows of the table of worst sequences.
WORST_ROWS = 10

_MODEL_COLOR, _OPTIMAL_COLOR, _MC_COLOR = "#EA5455", "k", "#7d8ab8"

_INF_NOTE = ("**∞**: the variance of one draw is infinite — the second moment of a draw diverges at small noise "
             "(λ or σ̄ → 0), where the law of the estimator puts too little weight for the losses there. The "
             "limit (the mean) is still finite and exact, but the Monte Carlo standard error is not to be trusted "
             "and no finite number of draws reaches 0.01 nats, so the draws column reads —.")


# --------------------------------------------------------------------------- labels


def _conditional(result) -> bool:
    return result["setup"].get("target") is not None


def nll_label(result, tex: bool = False) -> str:
    """What the audit's truth is: −log p0(x), or −log p0(x^T | x^C) for a conditional audit
    (``tex``: matplotlib mathtext).

    Examples
    --------
    >>> nll_label({"setup": {"target": [2, 3], "context": [0, 1]}})
    '−log p0(x^T | x^C)'
    >>> nll_label({"setup": {"target": None}})
    '−log p0(x)'
    """
    if _conditional(result):
        return r"$-\log\, p_0(x^T\,|\,x^C)$" if tex else "−log p0(x^T | x^C)"
    return r"$-\log\, p_0(x)$" if tex else "−log p0(x)"


def _positions(pos) -> str:
    pos = list(pos)
    if pos and pos == list(range(pos[0], pos[-1] + 1)) and len(pos) > 2:
        return f"{pos[0]}–{pos[-1]}"
    return ", ".join(str(p) for p in pos) or "∅"


def _model_name(result) -> str:
    setup = result["setup"]
    kind = result.get("kind", "denoiser")
    name = setup.get("denoiser") or setup.get("model") or "unnamed"
    process = setup.get("process")
    if process:
        found = re.match(r"ForwardProcess\((\w+)", str(process))
        name = f"{name}, {found.group(1) if found else process} process"
    return f"{kind} {name}"


def _toy_name(result) -> str:
    setup = result["setup"]
    toy = setup.get("toy")
    toy = "unnamed toy" if toy is None else (Path(toy).name if ("/" in str(toy) or "." in str(toy)) else str(toy))
    return f"toy {toy} (N={setup.get('N')}, L={setup.get('L')})"


def figure_subtitle(result) -> str:
    """The line every figure's title carries: toy, model, law, sequences (and T, C)."""
    setup = result["setup"]
    parts = [_toy_name(result), _model_name(result), f"law {setup.get('law')}",
             f"{len(result['sequences'])} sequences"]
    if _conditional(result):
        parts.append(f"{nll_label(result, tex=True)}, T = {_positions(setup['target'])}, "
                     f"C = {_positions(setup['context'])}")
    return " · ".join(parts)


def _wrap_parts(text, width):
    """``text`` broken into lines of at most ``width`` characters, at its " · " joins."""
    lines = [""]
    for part in text.split(" · "):
        if lines[-1] and len(lines[-1]) + 3 + len(part) > width:
            lines.append(part)
        else:
            lines[-1] = f"{lines[-1]} · {part}" if lines[-1] else part
    return "\n".join(lines)


def _title(fig, what, result):
    width = int(fig.get_figwidth() * 12)  # characters per line at 9.5 pt
    fig.suptitle(f"{what}\n{_wrap_parts(figure_subtitle(result), width)}", fontsize=9.5)


def _legend_outside(ax, **kw):
    """A legend to the right of the axes, never over the data."""
    return ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8, **kw)


def _weighted_word(result) -> str:
    return "p0-weighted mean" if "p0" in str(result["setup"].get("weights", "")) else "mean"


# --------------------------------------------------------------------------- per-law columns


def _law_columns(result) -> dict:
    """name → {"bias": (M,), "variance": (M,)} for every estimator of the audit, the audited
    one first (taken from the top-level record when the per-law table lacks it, as for
    ``time_integral``)."""
    recs, law = result["sequences"], result["setup"]["law"]
    get = lambda key: np.array([r[key] for r in recs], dtype=float)  # noqa: E731
    cols = {}
    names = list(recs[0].get("laws") or {})
    if law not in names:
        cols[law] = {"bias": get("bias"), "variance": get("variance")}
    for name in names:
        cols[name] = {key: np.array([r["laws"][name][key] for r in recs], dtype=float) for key in ("bias", "variance")}
    return cols


def _groups(cols, tol):
    """Estimators whose bias agrees on every sequence within ``tol`` grouped:
    a list of (names, largest difference within the group)."""
    groups = []
    for name, col in cols.items():
        for g in groups:
            diff = float(np.max(np.abs(col["bias"] - cols[g[0][0]]["bias"])))
            if diff <= tol:
                g[0].append(name)
                g[1] = max(g[1], diff)
                break
        else:
            groups.append([[name], 0.0])
    return [(names, diff) for names, diff in groups]


# --------------------------------------------------------------------------- figures


def truth_figure(result):
    """Truth, the model's exact limit and a Monte Carlo estimate (±2 s.e.) per sequence
    sorted by the truth; below, each minus the truth. Returns the ``Figure``."""
    plt = pyplot()
    recs = result["sequences"]
    nll = np.array([r["nll"] for r in recs], dtype=float)
    order = np.argsort(nll, kind="stable")
    x = np.arange(len(recs))
    get = lambda key: np.array([recs[i][key] for i in order], dtype=float)  # noqa: E731
    truth, limit, est, se = nll[order], get("limit"), get("estimate"), get("stderr")
    fig, (ax, dx) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, height_ratios=(2, 1), layout="constrained")
    label = nll_label(result, tex=True)
    ax.errorbar(x, est, yerr=2 * se, fmt=".", color=_MC_COLOR, ms=3, lw=0.8,
                label=f"Monte Carlo, {result['setup'].get('samples')} draws, ±2 s.e.")
    ax.plot(x, truth, "-", color="k", lw=1.2, label=f"truth {label}")
    ax.plot(x, limit, "o", mfc="none", mec=_MODEL_COLOR, ms=4, label="the model's exact limit")
    ax.set_ylabel("nats")
    _legend_outside(ax)
    dx.axhline(0.0, color="k", lw=1.2, label="truth (0)")
    dx.errorbar(x, est - truth, yerr=2 * se, fmt=".", color=_MC_COLOR, ms=3, lw=0.8, label="Monte Carlo − truth")
    dx.plot(x, limit - truth, "o", mfc="none", mec=_MODEL_COLOR, ms=4, label="limit − truth (the bias)")
    dx.set_ylabel("minus the truth (nats)")
    dx.set_xlabel(f"sequence (sorted by {label})")
    _legend_outside(dx)
    _title(fig, "Truth, the model's exact limit and a Monte Carlo estimate per sequence", result)
    return fig


def bias_figure(result):
    """The bias limit − NLL per sequence: one histogram panel per estimator on a shared
    axis (none hidden behind another); estimators agreeing on every sequence within the
    audit's ``tol`` share a panel. Returns the ``Figure``."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    setup = result["setup"]
    tol = float(setup.get("tol") or 0.0)
    cols = _law_columns(result)
    groups = _groups(cols, tol)
    values = np.concatenate([c["bias"] for c in cols.values()])
    lo, hi = min(float(values.min()), -tol), max(float(values.max()), tol)
    pad = max(hi - lo, 1e-12) * 0.05  # the floor: every bias exactly 0 with tol = 0
    bins = np.linspace(lo - pad, hi + pad, 61)
    fig, axes = plt.subplots(len(groups), 1, figsize=(9, max(3.6, 1.2 + 1.5 * len(groups))), sharex=True, squeeze=False,
                             layout="constrained")
    mean_word = _weighted_word(result)
    for ax, (names, diff) in zip(axes[:, 0], groups, strict=True):
        b = cols[names[0]]["bias"]
        audited = setup["law"] in names
        ax.hist(b, bins=bins, histtype="stepfilled", color=_MODEL_COLOR if audited else "#8497c7", alpha=0.85,
                edgecolor="k", lw=0.6, gid="hist")
        ax.axvline(0.0, color="k", lw=0.8)
        if tol > 0:
            ax.axvspan(-tol, tol, color="#c8e6c9", zorder=0)
        stats = result.get("laws", {}).get(names[0])
        mean = stats["weighted_mean_bias"] if stats else result["totals"]["weighted_mean_bias"]
        shown = " = ".join(f"{n} (audited)" if n == setup["law"] else n for n in names)
        head = f"{shown}: max |bias| {np.max(np.abs(b)):.3g}, {mean_word} {mean:+.3g}"
        if len(names) > 1:
            same = f"differences ≤ {diff:.2g} nats" if diff else "identical"
            head += f"\nthe same bias on every sequence ({same})"
        ax.set_title(head, loc="left", fontsize=8.5, fontweight="bold" if audited else "normal")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("sequences", fontsize=8)
        ax.tick_params(labelsize=8)
    axes[-1, 0].set_xlabel(f"bias = limit − NLL (nats), NLL = {nll_label(result, tex=True)}; "
                           f"shaded: |bias| ≤ tol = {tol:g}")
    _title(fig, "Bias of every estimator with this model, per sequence", result)
    return fig


def calibration_figure(result):
    """E[DCE | a masked] / a for this model and the optimal denoiser (top) and their
    difference Δ(a) with its running sum (bottom; the optimal denoiser is 0). Σ_a Δ(a) is
    the time-free estimator's weighted model gap. Returns the ``Figure``.

    The bottom axis spans at least ± the audit's standard-error goal (0.01 nats), so
    rounding (1e-16) in an exact model's Δ is drawn flat, not magnified."""
    cal = result.get("calibration")
    if not cal:
        raise ValueError("`result` has no calibration (a score-model audit has none).")
    plt = pyplot()
    a = np.asarray(cal["masked"])
    model, optimal = np.asarray(cal["model"], dtype=float), np.asarray(cal["optimal"], dtype=float)
    gap = model - optimal
    running = np.cumsum(gap)
    fig, (ax, dx) = plt.subplots(2, 1, figsize=(8, 6.2), sharex=True, layout="constrained")
    ax.plot(a, optimal, "o-", color=_OPTIMAL_COLOR, label="optimal denoiser c*", gid="optimal")
    ax.plot(a, model, "s--", color=_MODEL_COLOR, mfc="none", label="this model", gid="model")
    what = "target tokens " if _conditional(result) else "tokens "
    ax.set_ylabel("E[DCE | a masked] / a\n(nats per masked token)", fontsize=9)
    _legend_outside(ax)
    floor = float(result["setup"].get("stderr_goal") or 0.01)
    span = max(float(np.max(np.abs(np.concatenate([gap, running])))), floor) * 1.15
    dx.axhline(0.0, color=_OPTIMAL_COLOR, lw=1.2, label="optimal denoiser c* (0)")
    dx.bar(a, gap, width=0.6, color=_MODEL_COLOR, alpha=0.8, label="Δ(a) = model − c*", gid="gap")
    dx.plot(a, running, "D-", color="#2d4059", ms=4, label=r"running sum $\Sigma_{b\leq a}\,\Delta(b)$", gid="running")
    dx.set_ylim(min(1.15 * float(np.min(np.concatenate([gap, running]))), -0.1 * span), span)
    dx.set_ylabel(f"model − c*\n(nats of {nll_label(result, tex=True)})", fontsize=9)
    dx.set_xlabel(f"masked {what}a")
    dx.set_xticks(a)
    worst = int(np.argmax(np.abs(gap)))
    dx.set_title(rf"$\Sigma_a\,\Delta(a)$ = {running[-1]:+.4g} nats: the time-free estimator's "
                 f"{_weighted_word(result)} model gap (largest |Δ(a)| {abs(gap[worst]):.3g} at a = {a[worst]})",
                 fontsize=8.5, loc="left")
    _legend_outside(dx)
    _title(fig, "Calibration by the number masked: this model against the optimal denoiser", result)
    return fig


def variance_figure(result):
    """The standard deviation of one draw per estimator over the sequences (log scale);
    infinite variances counted in the tick labels. Returns the ``Figure``."""
    plt = pyplot()
    from matplotlib.ticker import LogFormatter

    law = result["setup"]["law"]
    cols = _law_columns(result)
    names = list(cols)
    M = len(result["sequences"])
    fig, ax = plt.subplots(figsize=(9, 4.8), layout="constrained")
    finite, ticks = [], []
    for name in names:
        sd = np.sqrt(cols[name]["variance"])
        ok = sd[np.isfinite(sd)]
        n_inf = M - ok.size
        finite.append(ok)
        tick = f"{name}{' *' if name == law else ''}"
        if n_inf == M:
            tick += f"\n∞ for all {M}"
        elif n_inf:
            tick += f"\n∞ for {n_inf} of {M}"
        ticks.append(tick)
    drawn = [i for i, f in enumerate(finite) if f.size]
    if drawn:
        ax.boxplot([finite[i] for i in drawn], positions=[i + 1 for i in drawn], showfliers=True, widths=0.5)
    for i, f in enumerate(finite, start=1):
        if not f.size:
            ax.text(i, 0.5, f"variance infinite\nfor all {M} sequences\n(no finite sd to draw)", ha="center",
                    va="center", fontsize=8, transform=ax.get_xaxis_transform(),
                    bbox=dict(boxstyle="round", fc="#fde2e2", ec=_MODEL_COLOR))
    ax.set_xticks(range(1, len(names) + 1), ticks, fontsize=8)
    ax.set_xlim(0.4, len(names) + 0.6)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(LogFormatter())  # plain numbers (6, 5.8), not 6 × 10^0
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    ax.set_ylabel("sd of one draw (nats), log scale")
    ax.set_xlabel("estimator (* audited)")
    _title(fig, "Standard deviation of one draw per estimator, over the sequences", result)
    return fig


#: File name → the function building that figure from an audit result.
FIGURES = {
    "truth_limit_mc.png": truth_figure,
    "bias_histogram.png": bias_figure,
    "calibration.png": calibration_figure,
    "variance.png": variance_figure,
}


# --------------------------------------------------------------------------- markdown


def _fmt(x, spec=".6g"):
    if isinstance(x, str):
        return x
    if x is None:
        return "—"
    if isinstance(x, float) and math.isinf(x):
        return "∞"
    return format(x, spec)


def _var_cells(variance, draws, spec=".4g"):
    """(Var cell, draws cell): an infinite variance is written once, as ∞, its draws as —."""
    if variance is None or not math.isinf(variance):
        return _fmt(variance, spec), _fmt(draws, ".6g")
    return "∞", "—"


def _law_summaries(result) -> dict:
    """The per-law summaries of the result, with a row for the audited law when the
    per-law table lacks it (as for ``time_integral``), read off its records and totals."""
    law, laws = result["setup"]["law"], dict(result.get("laws") or {})
    if law in laws or not laws:
        return laws
    recs, tot = result["sequences"], result["totals"]
    bias = np.array([r["bias"] for r in recs], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.array([r["limit"] / r["nll"] for r in recs], dtype=float)
    own = {"max_abs_bias": tot["max_abs_bias"], "min_bias": float(bias.min()), "max_bias": float(bias.max()),
           "min_ratio": float(ratio.min()), "max_ratio": float(ratio.max()),
           "median_variance": tot["median_variance"], "median_draws_for_0.01": tot["median_draws_for_0.01"]}
    return {law: own, **laws}


def report_markdown(result: dict, figures=tuple(FIGURE_FILES)) -> str:
    """The readable summary: setup, verdict, totals, a table per estimator, the worst
    sequences and the figures inline with how to read them. An infinite variance is
    written ∞ once per row (its draws —) and explained once; a column that would be ∞ in
    every row is left out and said in words."""
    setup, tot, recs = result["setup"], result["totals"], result["sequences"]
    kind = result.get("kind", "denoiser")
    truth = nll_label(result)
    lines = ["# exactdiff audit", ""]
    for key in ("toy", "model", "denoiser", "process", "law", "target", "context", "N", "L", "sequences",
                "samples", "seed", "weights"):
        if setup.get(key) is not None:
            lines.append(f"- **{key}**: {setup[key]}")
    if _conditional(result):
        lines.append(f"- **audited**: {truth}, the target T = positions {_positions(setup['target'])} given the "
                     f"context C = {_positions(setup['context'])} (Corollary 4.3)")
    cols = _law_columns(result)
    any_inf = any(np.isinf(c["variance"]).any() for c in cols.values())
    verdict = result["verdict"]
    lines += ["", f"**Verdict: {'unbiased' if verdict['unbiased'] else 'BIASED'}** — {verdict['text']}.", ""]
    if any_inf:
        lines += [_INF_NOTE, ""]
    lines += ["## Totals", "", "| quantity | value |", "|---|---|"]
    for key, value in tot.items():
        lines.append(f"| {key} | {_fmt(value)} |")
    if result.get("laws"):
        lines += ["", f"## Estimators with this {kind}", "",
                  ("Exact over every mask" if kind == "denoiser" else
                   "Exact: every reachable state enumerated, the σ̄ integral by adaptive quadrature")
                  + f". Bias = limit − NLL and ratio = limit / NLL, NLL = {truth}; draws for a standard error of "
                  "0.01 nats = ⌈Var / 0.01²⌉.", "",
                  "| estimator | max \\|bias\\| | bias range | limit / NLL | median Var[draw] "
                  "| median draws for 0.01 |",
                  "|---|---|---|---|---|---|"]
        for name, s in _law_summaries(result).items():
            var_cell, draws_cell = _var_cells(s["median_variance"], s["median_draws_for_0.01"])
            n_inf = int(np.isinf(cols[name]["variance"]).sum())
            if n_inf:  # ∞ written once: the count replaces a bare ∞
                count = f"∞ for all {n_inf}" if n_inf == len(recs) else f"∞ for {n_inf} of {len(recs)}"
                var_cell = count if var_cell == "∞" else f"{var_cell}; {count}"
            lines.append(f"| {name} | {_fmt(s['max_abs_bias'], '.3g')} | {s['min_bias']:+.4g} … {s['max_bias']:+.4g} | "
                         f"{_fmt(s.get('min_ratio'), '.4g')} … {_fmt(s.get('max_ratio'), '.4g')} | "
                         f"{var_cell} | {draws_cell} |")
    order = np.argsort([-abs(r["bias"]) for r in recs], kind="stable")[:WORST_ROWS]
    split = "law_bias" in recs[0]
    all_inf = all(math.isinf(recs[b]["variance"]) for b in order)
    truth_cell = truth.replace("|", "\\|")  # a | inside a table cell must be escaped
    head = f"| sequence | {truth_cell} | limit | bias |" + (" law bias | model gap |" if split else "") + \
        ("" if all_inf else " Var[draw] | draws for 0.01 |") + " MC estimate ± s.e. |"
    lines += ["", f"## The {len(order)} sequences with the largest |bias|", ""]
    if all_inf:
        lines += [f"The variance of one draw of the {setup['law']} estimator is ∞ for every sequence below "
                  "(see **∞** above), so their Var[draw] and draws-for-0.01 columns are left out.", ""]
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for b in order:
        r = recs[b]
        row = f"| `{r['sequence']}` | {r['nll']:.6f} | {r['limit']:.6f} | {r['bias']:+.3g} |"
        if split:
            row += f" {r['law_bias']:+.3g} | {r['model_gap']:+.3g} |"
        if not all_inf:
            var_cell, draws_cell = _var_cells(r["variance"], r["draws_for_0.01"])
            row += f" {var_cell} | {draws_cell} |"
        row += f" {r['estimate']:.4f} ± {_fmt(r['stderr'], '.3g')} |"
        lines.append(row)
    if figures:
        lines += ["", "## Figures", ""]
        for name in figures:
            lines += [f"![{FIGURE_FILES[name]}]({name})", "", f"*{FIGURE_FILES[name]}.* {FIGURE_NOTES[name]}", ""]
    return "\n".join(lines) + "\n"


def write_report(result: dict, out_dir, *, figures: bool = True) -> list:
    """Write ``report.json``, ``report.md`` and (with ``figures``) the PNGs of an audit
    (the calibration figure only for a denoiser audit) into ``out_dir`` (created if
    needed); returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    drawn = []
    if figures:
        for name, build in FIGURES.items():
            if name == "calibration.png" and not result.get("calibration"):
                continue
            paths.append(save(build(result), out / name))
            drawn.append(name)
    (out / "report.json").write_text(json.dumps(jsonable(result), indent=1))
    (out / "report.md").write_text(report_markdown(result, drawn))
    return [str(out / "report.json"), str(out / "report.md")] + paths
