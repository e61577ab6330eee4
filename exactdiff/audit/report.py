"""The written audit: ``report.json``, ``report.md`` and four figures, from the result of
:func:`~exactdiff.audit.limits.audit_denoiser` (or of the score-model audit). A figure
only draws numbers the audit computed; nothing is recomputed here.

Figures (PNG, in the report's folder):

- ``truth_limit_mc.png``: per sequence (sorted by the truth) the exact −log p0, the
  model's exact limit and the Monte Carlo estimate with ±2 standard errors (the paper's
  Fig. 1a, with the model's limit beside the truth);
- ``bias_histogram.png``: limit − NLL per sequence for every estimator with this model;
- ``calibration.png``: the expected DCE per masked token given a masked tokens, this
  model against the optimal denoiser (p0-weighted over the sequences);
- ``variance.png``: the standard deviation of one draw per estimator, over sequences.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..core.serialize import jsonable
from ..figures.style import pyplot, save

__all__ = ["write_report", "report_markdown", "FIGURE_FILES"]

#: The figures of a report: file name → caption.
FIGURE_FILES = {
    "truth_limit_mc.png": "Truth, the model's exact limit and a Monte Carlo estimate (±2 s.e.) per sequence",
    "bias_histogram.png": "Bias (limit − NLL) per sequence, every estimator with this model",
    "calibration.png": "Expected DCE per masked token by the number masked: this model and the optimal denoiser",
    "variance.png": "Standard deviation of one draw per estimator (over sequences)",
}

#: Rows of the table of worst sequences.
WORST_ROWS = 10


def _fmt(x, spec=".6g"):
    if isinstance(x, str):
        return x
    if x is None:
        return "—"
    if isinstance(x, float) and math.isinf(x):
        return "∞"
    return format(x, spec)


def report_markdown(result: dict, figures=tuple(FIGURE_FILES)) -> str:
    """The readable summary: setup, verdict, totals, a table per estimator, the worst
    sequences and the figures inline."""
    setup, tot, recs = result["setup"], result["totals"], result["sequences"]
    kind = result.get("kind", "denoiser")
    lines = ["# exactdiff audit", ""]
    for key in ("toy", "model", "denoiser", "process", "law", "target", "context", "N", "L", "sequences",
                "samples", "seed", "weights"):
        if setup.get(key) is not None:
            lines.append(f"- **{key}**: {setup[key]}")
    verdict = result["verdict"]
    lines += ["", f"**Verdict: {'unbiased' if verdict['unbiased'] else 'BIASED'}** — {verdict['text']}.", "",
              "## Totals", "", "| quantity | value |", "|---|---|"]
    for key, value in tot.items():
        lines.append(f"| {key} | {_fmt(value)} |")
    if result.get("laws"):
        lines += ["", f"## Estimators with this {kind}", "",
                  ("Exact over every mask" if kind == "denoiser" else
                   "Exact: every reachable state enumerated, the σ̄ integral by adaptive quadrature")
                  + ". Bias = limit − NLL; ratio = limit / NLL; draws for a standard error of 0.01 nats "
                  "= ⌈Var / 0.01²⌉.", "",
                  "| estimator | max \\|bias\\| | bias range | limit / NLL | median Var[draw] "
                  "| median draws for 0.01 |",
                  "|---|---|---|---|---|---|"]
        for name, s in result["laws"].items():
            lines.append(f"| {name} | {_fmt(s['max_abs_bias'], '.3g')} | {s['min_bias']:+.4g} … {s['max_bias']:+.4g} | "
                         f"{_fmt(s.get('min_ratio'), '.4g')} … {_fmt(s.get('max_ratio'), '.4g')} | "
                         f"{_fmt(s['median_variance'], '.4g')} | {_fmt(s['median_draws_for_0.01'], '.6g')} |")
    order = np.argsort([-abs(r["bias"]) for r in recs], kind="stable")[:WORST_ROWS]
    split = "law_bias" in recs[0]
    head = "| sequence | −log p0 | limit | bias |" + (" law bias | model gap |" if split else "") + \
        " Var[draw] | draws for 0.01 | MC estimate ± s.e. |"
    lines += ["", f"## The {len(order)} sequences with the largest |bias|", "", head,
              "|" + "---|" * (head.count("|") - 1)]
    for b in order:
        r = recs[b]
        row = f"| `{r['sequence']}` | {r['nll']:.6f} | {r['limit']:.6f} | {r['bias']:+.3g} |"
        if split:
            row += f" {r['law_bias']:+.3g} | {r['model_gap']:+.3g} |"
        row += f" {_fmt(r['variance'], '.4g')} | {_fmt(r['draws_for_0.01'], '.6g')} | " \
               f"{r['estimate']:.4f} ± {_fmt(r['stderr'], '.3g')} |"
        lines.append(row)
    if figures:
        lines += ["", "## Figures", ""]
        for name in figures:
            lines += [f"![{FIGURE_FILES[name]}]({name})", "", f"*{FIGURE_FILES[name]}.*", ""]
    return "\n".join(lines) + "\n"


def _figure_truth(result, path):
    plt = pyplot()
    recs = result["sequences"]
    nll = np.array([r["nll"] for r in recs])
    order = np.argsort(nll, kind="stable")
    x = np.arange(len(recs))
    get = lambda key: np.array([recs[i][key] for i in order], dtype=float)  # noqa: E731
    fig, ax = plt.subplots(figsize=(7.5, 4))
    ax.errorbar(x, get("estimate"), yerr=2 * get("stderr"), fmt=".", color="#9aa5c9", ms=3, lw=0.8,
                label=f"Monte Carlo, {result['setup'].get('samples')} draws ± 2 s.e.")
    ax.plot(x, get("limit"), "o", color="#EA5455", ms=3, label="the model's exact limit")
    ax.plot(x, nll[order], "-", color="k", lw=1.2, label="truth −log p0")
    ax.set_xlabel("sequence (sorted by −log p0)")
    ax.set_ylabel("nats")
    ax.set_title(f"{result['setup'].get('law')}: truth, limit and estimate")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, path)


def _figure_bias(result, path):
    plt = pyplot()
    recs = result["sequences"]
    fig, ax = plt.subplots(figsize=(7, 4))
    names = list(recs[0].get("laws") or {result["setup"]["law"]: None})
    biases = {name: np.array([r["laws"][name]["bias"] if r.get("laws") else r["bias"] for r in recs]) for name in names}
    lo = min(float(b.min()) for b in biases.values())
    hi = max(float(b.max()) for b in biases.values())
    pad = max(hi - lo, 1e-9) * 0.05
    bins = np.linspace(lo - pad, hi + pad, 60)
    for name, b in biases.items():
        lw = 2.0 if name == result["setup"]["law"] else 1.0
        ax.hist(b, bins=bins, histtype="step", lw=lw, label=f"{name} (max |bias| {np.max(np.abs(b)):.2g})")
    ax.axvline(0.0, color="k", lw=0.8)
    ax.set_xlabel("bias = limit − NLL (nats)")
    ax.set_ylabel("sequences")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save(fig, path)


def _figure_calibration(result, path):
    plt = pyplot()
    cal = result["calibration"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(cal["masked"], cal["optimal"], "o-", color="k", label="optimal denoiser")
    ax.plot(cal["masked"], cal["model"], "s--", color="#EA5455", label="this model")
    ax.set_xlabel("masked tokens a")
    ax.set_ylabel("E[DCE | a masked] / a (nats per token)")
    ax.legend()
    fig.tight_layout()
    return save(fig, path)


def _figure_variance(result, path):
    plt = pyplot()
    recs = result["sequences"]
    names = list(recs[0].get("laws") or {})
    sd = [np.sqrt([r["laws"][name]["variance"] for r in recs]) for name in names]
    fig, ax = plt.subplots(figsize=(7, 4))
    finite = [s[np.isfinite(s)] for s in sd]
    ax.boxplot([f if f.size else [np.nan] for f in finite], showfliers=True)
    ax.set_xticks(range(1, len(names) + 1), names, fontsize=8)
    for i, s in enumerate(sd, start=1):
        if not np.all(np.isfinite(s)):
            ax.annotate("∞ for some", (i, 1), xycoords=("data", "axes fraction"), ha="center", va="top", fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("sd of one draw (nats)")
    fig.tight_layout()
    return save(fig, path)


_FIGURES = {
    "truth_limit_mc.png": _figure_truth,
    "bias_histogram.png": _figure_bias,
    "calibration.png": _figure_calibration,
    "variance.png": _figure_variance,
}


def write_report(result: dict, out_dir, *, figures: bool = True) -> list:
    """Write ``report.json``, ``report.md`` and (with ``figures``) the PNGs of an audit
    (the calibration figure only for a denoiser audit) into ``out_dir`` (created if
    needed); returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    drawn = []
    if figures:
        for name, draw in _FIGURES.items():
            if name == "calibration.png" and not result.get("calibration"):
                continue
            paths.append(draw(result, out / name))
            drawn.append(name)
    (out / "report.json").write_text(json.dumps(jsonable(result), indent=1))
    (out / "report.md").write_text(report_markdown(result, drawn))
    return [str(out / "report.json"), str(out / "report.md")] + paths
