"""The command line (nll, figures, --help) and the figure gallery."""

import numpy as np
import pytest

import exactdiff as ed
from exactdiff.cli import build_parser, main


@pytest.mark.parametrize("sub", ["verify", "nll", "figures"])
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
    assert main(["nll", "--estimator", "time_free", "--samples", "3000", "--seed", "1",
                 "--denoiser", "oracle", "--all"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("# time_free, 3000 draws, oracle")
    for line in out[2:6]:
        seq, exact, via, est, se, var = line.split()
        assert abs(float(est) - float(exact)) < 5 * float(se)  # unbiased for the oracle
        assert float(se) == pytest.approx(np.sqrt(float(var) / 3000), rel=0.2)
