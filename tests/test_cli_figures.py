"""The command line (nll, figures, --help) and the figure gallery."""

import numpy as np
import pytest

import exactdiff as ed
from exactdiff.cli import main


@pytest.mark.parametrize("sub", ["verify", "nll", "audit", "ood", "train", "figures"])
def test_every_subcommand_has_help_with_example(sub, capsys):
    with pytest.raises(SystemExit) as exc:
        main([sub, "--help"])
    assert exc.value.code == 0
    assert "examples:" in capsys.readouterr().out


def test_nll_all_matches_table(capsys):
    assert main(["nll", "--all", "--seed", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()[1:]
    p0 = ed.Distribution.paper_toy(seed=2)
    assert len(lines) == 128
    for line in lines[:5]:
        seq, exact, via = line.split()
        assert float(exact) == pytest.approx(p0.nll(seq), abs=1e-11)
        assert float(via) == pytest.approx(p0.nll(seq), abs=1e-11)


def test_nll_conditional_on_markov(tmp_path, capsys):
    import json

    rng = np.random.default_rng(0)
    T = rng.dirichlet(np.ones(2), size=(2, 2))
    table = {f"{a}{b}": {"x": T[i, j, 0], "y": T[i, j, 1]} for i, a in enumerate("xy") for j, b in enumerate("xy")}
    path = tmp_path / "chain.json"
    path.write_text(json.dumps(table))
    assert main(["nll", "--toy", str(path), "--condition", "3", "xyxyyx"]) == 0
    seq, exact, via = capsys.readouterr().out.strip().splitlines()[1].split()
    assert float(exact) == pytest.approx(float(via), rel=1e-11)


def test_nll_bad_input_exits_2():
    with pytest.raises(SystemExit) as exc:
        main(["nll", "AXXX"])
    assert exc.value.code == 2


def test_figures_writes_png(tmp_path, capsys):
    assert main(["figures", "--out", str(tmp_path), "--only", "time_free_weights", "--no-progress"]) == 0
    png = tmp_path / "time_free_weights.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_figure_rejected(tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["figures", "--out", str(tmp_path), "--only", "nope"])
    assert exc.value.code == 2


@pytest.mark.slow
def test_whole_gallery(tmp_path):
    from exactdiff.figures import FIGURES, generate_all

    paths = generate_all(tmp_path, progress=False)
    assert len(paths) == len(FIGURES)


def test_verify_symbolic_json(tmp_path):
    import json

    out = tmp_path / "v.json"
    assert main(["verify", "--quick", "--symbolic", "--json", str(out), "--no-progress"]) == 0
    data = json.loads(out.read_text())
    sym = [c for c in data["checks"] if "budget_s" in c["setup"]]
    assert len(sym) == 11 and all(c["passed"] and c["abs_err"] == 0.0 for c in sym)
    assert all(c["setup"]["method"] == "simplify" for c in sym)


def test_nll_with_estimator(capsys):
    assert main(["nll", "--law", "time_free", "--samples", "3000", "--seed", "1",
                 "--denoiser", "oracle", "--all"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("# time_free law, 3000 draws per row (a stream of its own")
    assert out[1].startswith("# model limit")
    for line in out[3:7]:
        seq, exact, via, est, se, limit, var = line.split()
        assert abs(float(est) - float(exact)) < 5 * float(se)  # unbiased for the oracle
        assert float(limit) == pytest.approx(float(exact), abs=1e-5)  # the oracle's limit is the truth
        assert float(se) == pytest.approx(np.sqrt(float(var) / 3000), rel=0.2)


def test_nll_rows_draw_from_independent_streams(capsys):
    """Each row has its own stream: the estimates do not all lie on one side of the truth
    (with one shared stream they did: seed 3 gave 128 of 128 below), and the errors in
    standard errors look like a standard normal sample."""
    import json

    for seed in (3, 4):
        assert main(["nll", "--all", "--law", "time_free", "--samples", "256", "--seed", str(seed),
                     "--json", "-"]) == 0
        rows = json.loads(capsys.readouterr().out)["rows"]
        z = np.array([(r["estimate"] - r["nll"]) / r["stderr"] for r in rows])
        assert 40 < np.sum(z > 0) < 88  # 128 fair coins: outside this range with probability < 1e-5
        assert abs(z.mean()) < 0.5 and 0.6 < z.std() < 1.5
        assert {"sequence", "nll", "estimate", "stderr", "limit"} <= set(rows[0])


#: Figures cheap enough to redraw in the default run (a few seconds in all).
CHEAP_FIGURES = ["information_curves", "pointwise_kl", "running_nll", "i_mdce", "time_free_weights",
                 "gaussian_vs_discrete"]


@pytest.mark.parametrize("name", CHEAP_FIGURES)
def test_committed_figure_is_what_regeneration_draws(name, tmp_path):
    """``exactdiff figures`` is deterministic and the committed PNG is what it draws: an
    RMS pixel difference of at most 1 (of 255) is allowed for another matplotlib or
    FreeType build."""
    from pathlib import Path

    from matplotlib.testing.compare import compare_images

    from exactdiff.figures import FIGURES

    committed = Path(__file__).resolve().parents[1] / "figures" / f"{name}.png"
    drawn = FIGURES[name](str(tmp_path), seed=0)
    assert compare_images(str(committed), drawn, tol=1.0) is None


def test_verify_table_fits_100_columns_and_wide_does_not(capsys):
    """The default table fits a 100-column terminal, with the toy legend under it;
    ``--wide`` prints every field in full."""
    assert main(["verify", "--quick", "--no-progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert any(line.startswith("toys:") for line in lines)
    assert main(["verify", "--quick", "--no-progress", "--wide"]) == 0
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) > 100


def test_progress_bar_only_on_a_terminal():
    """A redirected standard error gets no carriage-return frames; a terminal gets the bar."""
    import io

    from exactdiff.checks.suite import run_suite

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    tasks = [("a check", lambda: [])] * 3
    redirected, terminal = io.StringIO(), Terminal()
    run_suite(tasks, progress=True, stream=redirected)
    run_suite(tasks, progress=True, stream=terminal)
    assert redirected.getvalue() == ""
    assert "exactdiff verify" in terminal.getvalue()
