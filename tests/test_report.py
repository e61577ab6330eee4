"""Tests of the written audit (:mod:`exactdiff.audit.report`): each figure is built as a
``Figure`` and read back (titles, labels, legend placement, plotted values) before it is
saved; ``report.md`` is parsed as markdown tables.

The calibration figure's claim (the running sum of Δ(a) ends at the time-free estimator's
weighted model gap) is checked against the audit's own per-law limits, a second route
(the mask-size means of :func:`~exactdiff.audit.limits.audit_denoiser` against the law's
moments), to 1e-12 nats. The 0.36-nat model is the oracle of the paper's DNA toy mixed
with the uniform law at ε = 0.1 (``exactdiff audit --denoiser corrupted --epsilon 0.1``:
p0-weighted mean bias +0.3603 nats).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import exactdiff as ed
from exactdiff.audit import audit_denoiser
from exactdiff.audit.report import (
    FIGURE_FILES,
    FIGURES,
    bias_figure,
    calibration_figure,
    report_markdown,
    truth_figure,
    variance_figure,
    write_report,
)
from exactdiff.audit.scores import audit_score_model
from exactdiff.figures.style import pyplot
from exactdiff.score import load_score_model

DNA_TOY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sequence_eval.json"
CORRUPTED = "oracle mixed with the uniform law, epsilon = 0.1"


def _named(result, toy, model):
    """The names the CLI puts into ``setup`` (``exactdiff.cli.audit``)."""
    result["setup"].update(toy=toy, denoiser=model)
    return result


@pytest.fixture(scope="module")
def dna():
    """The DNA toy audited with the oracle and with the 0.36-nat corrupted oracle (2 draws
    per sequence: the Monte Carlo part is not under test here)."""
    if not DNA_TOY.is_file():
        pytest.skip(f"the paper's toy is not at {DNA_TOY}")
    p0 = ed.load_distribution(DNA_TOY)
    oracle = audit_denoiser(p0, ed.OracleDenoiser(p0), samples=2)
    bad = audit_denoiser(p0, ed.CorruptedDenoiser(ed.OracleDenoiser(p0), epsilon=0.1), samples=2)
    return (_named(oracle, str(DNA_TOY), "oracle (the exact optimal denoiser)"),
            _named(bad, str(DNA_TOY), CORRUPTED))


@pytest.fixture(scope="module")
def chain_audit():
    """A conditional audit: −log p0(x^T | x^C) on a second-order chain, T = 5..9, C = 0..4."""
    chain = ed.markov.MarkovChain(np.random.default_rng(5).dirichlet(np.ones(3), size=9).reshape(3, 3, 3),
                                  alphabet="abc")
    seqs = chain.sample(3, 10, np.random.default_rng(6))
    res = audit_denoiser(chain, ed.OracleDenoiser(chain), seqs, target=range(5, 10), context=range(5), samples=2)
    return _named(res, "chain.json", "oracle (the exact optimal denoiser)")


@pytest.fixture(scope="module")
def score_audit():
    """A corrupted score model whose uniform_lambda variance is ∞ for every sequence."""
    p0 = ed.Distribution.dirichlet(2, 3, seed=1)
    proc = ed.absorbing(2)
    res = audit_score_model(p0, load_score_model("corrupted", p0, proc, epsilon=0.2), proc, samples=2)
    res["setup"].update(toy="dirichlet.npy", model="corrupted")
    return res


@pytest.fixture(scope="module")
def infinite_audit():
    """The time-integral law (λ ~ U(0, 1)) with the oracle: Var[draw] = ∞ for every sequence."""
    p0 = ed.Distribution.dirichlet(2, 3, seed=0)
    return _named(audit_denoiser(p0, ed.OracleDenoiser(p0), law="time_integral", samples=2), "d.npy", "oracle")


def _close(fig):
    pyplot().close(fig)


def _tables(md):
    """Each markdown table of ``md`` as a list of rows of cells (the separator row dropped)."""
    tables, rows = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            if not all(set(c) <= {"-"} for c in cells):
                rows.append(cells)
        elif rows:
            tables.append(rows)
            rows = []
    return tables


def test_every_figure_written_with_a_title_naming_toy_model_law_and_sequences(dna, tmp_path):
    _, bad = dna
    paths = write_report(bad, tmp_path)
    assert sorted(Path(p).name for p in paths) == sorted(["report.json", "report.md", *FIGURE_FILES])
    for name, build in FIGURES.items():
        assert (tmp_path / name).stat().st_size > 10_000, name
        fig = build(bad)
        title = fig.get_suptitle()
        for part in ("sequence_eval.json", CORRUPTED, "law time_free", "128 sequences"):
            assert part in title, (name, part, title)
        _close(fig)


def test_legends_lie_outside_the_data(dna, chain_audit, score_audit):
    """No legend's box overlaps any axes' box (drawn, in display pixels); the bias and
    variance figures have no legend (their panels and ticks name what they show)."""
    _, bad = dna
    checked = 0
    for result in (bad, chain_audit, score_audit):
        for build in (bias_figure, variance_figure):
            fig = build(result)
            assert all(ax.get_legend() is None for ax in fig.axes) and not fig.legends
            _close(fig)
        for build in (truth_figure, calibration_figure):
            if build is calibration_figure and not result.get("calibration"):
                continue
            fig = build(result)
            fig.canvas.draw()
            renderer = fig.canvas.get_renderer()
            boxes = [ax.get_window_extent(renderer) for ax in fig.axes]
            for ax in fig.axes:
                legend = ax.get_legend()
                box = legend.get_window_extent(renderer)
                assert not any(box.overlaps(b) for b in boxes), [t.get_text() for t in legend.get_texts()]
                checked += 1
            _close(fig)
    assert checked == 3 * 2 + 2 * 2  # truth: 2 legends each; calibration: 2 (denoiser audits only)


def test_conditional_audit_labels_the_conditional_truth(chain_audit, dna):
    fig = truth_figure(chain_audit)
    top, bottom = fig.axes
    legend = [t.get_text() for t in top.get_legend().get_texts()]
    assert any(t.startswith("truth") and r"p_0(x^T\,|\,x^C)" in t for t in legend), legend
    assert r"p_0(x^T\,|\,x^C)" in bottom.get_xlabel()
    assert "x^T" in fig.get_suptitle() and "T = 5–9, C = 0–4" in fig.get_suptitle()
    _close(fig)
    for build in (bias_figure, calibration_figure):
        fig = build(chain_audit)
        labels = " ".join(ax.get_xlabel() + ax.get_ylabel() for ax in fig.axes)
        assert r"p_0(x^T\,|\,x^C)" in labels, labels
        _close(fig)
    md = report_markdown(chain_audit)
    assert "| −log p0(x^T \\| x^C) |" in md
    # the unconditional audit says −log p0(x), nothing of T or C
    fig = truth_figure(dna[0])
    assert "x^T" not in fig.axes[1].get_xlabel() and r"p_0(x)" in fig.axes[1].get_xlabel()
    _close(fig)


def test_calibration_shows_a_036_nat_model_apart_from_the_oracle(dna):
    oracle, bad = dna
    assert 0.35 < bad["totals"]["weighted_mean_bias"] < 0.37  # the premise: a model 0.36 nats off

    def plotted(result):
        fig = calibration_figure(result)
        ax = next(ax for ax in fig.axes if any(p.get_gid() == "gap" for p in ax.patches))
        gap = np.array([p.get_height() for p in ax.patches if p.get_gid() == "gap"])
        running = next(line for line in ax.get_lines() if line.get_gid() == "running").get_ydata()
        lo, hi = ax.get_ylim()
        _close(fig)
        return gap, np.asarray(running), hi - lo

    gap, running, span = plotted(bad)
    gap0, running0, span0 = plotted(oracle)
    # visible: the model's bars and running sum stand > 5 % of the axis range off the oracle's
    assert np.max(gap - gap0) > 0.05 * span and np.max(running - running0) > 0.5 * span
    # the oracle is drawn flat: its Δ (rounding, 1e-16) is < 0.1 % of its axis
    assert np.max(np.abs(np.concatenate([gap0, running0]))) < 1e-3 * span0
    # the figure's claim: the running sum ends at the time-free estimator's weighted model gap
    for result, ends in ((bad, running[-1]), (oracle, running0[-1])):
        assert abs(ends - result["laws"]["time_free"]["weighted_mean_bias"]) < 1e-12


def test_bias_figure_hides_no_curve_and_names_identical_laws(dna):
    _, bad = dna
    fig = bias_figure(bad)
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    # time_free and k_dce have the same limit with any denoiser: one panel, said so
    assert len(fig.axes) == 4 and titles[0].startswith("time_free (audited) = k_dce:")
    assert "the same bias on every sequence" in titles[0]
    for name in ("no_empty", "token_mean", "no_empty_token_mean"):
        assert sum(t.split(":")[0] == name for t in titles) == 1, titles
    # one histogram per panel, the panels sharing the bias axis
    for ax in fig.axes:
        assert sum(p.get_gid() == "hist" for p in ax.patches) == 1
        assert ax.get_xlim() == fig.axes[0].get_xlim()
    _close(fig)


def test_variance_figure_counts_infinite_variances(score_audit, infinite_audit):
    for result, law, text in ((score_audit, "uniform_lambda", "∞ for all 8"), (infinite_audit, "time_integral *",
                                                                             "∞ for all 8")):
        fig = variance_figure(result)
        ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
        tick = next(t for t in ticks if t.startswith(law))
        assert text in tick and not any("for some" in t for t in ticks), ticks
        assert any("infinite" in t.get_text() for t in fig.axes[0].texts)  # said inside the empty column too
        _close(fig)


def test_markdown_has_no_empty_column_and_explains_infinity_once(dna, chain_audit, score_audit, infinite_audit):
    for result in (*dna, chain_audit, score_audit, infinite_audit):
        md = report_markdown(result)
        assert "∞ for some" not in md
        for table in _tables(md):
            width = len(table[0])
            assert all(len(row) == width for row in table), table[0]  # a | in a cell is escaped
            for j in range(width):
                cells = {row[j] for row in table[1:]}
                assert not cells <= {"", "—", "∞"}, (table[0][j], cells)
            assert all(" ".join(row).count("∞") <= 1 for row in table[1:])
        variances = [r["variance"] for r in result["sequences"]]
        variances += [v["variance"] for r in result["sequences"] for v in r["laws"].values()]
        assert md.count("**∞**:") == (1 if np.isinf(variances).any() else 0)
    md = report_markdown(infinite_audit)
    worst = next(t for t in _tables(md) if t[0][0] == "sequence")
    assert "Var[draw]" not in worst[0] and "is ∞ for every sequence below" in md
    assert "| time_integral |" in md  # the audited law has its row in the estimator table
    md = report_markdown(score_audit)
    assert "| uniform_lambda |" in md and "∞ for all 8 | — |" in md
