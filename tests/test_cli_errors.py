"""Every bad file, option or output path ends the command line with one line on standard
error naming what the user typed, and exit status 2: never a traceback, never a silent
wrong answer."""

import json
import os

import numpy as np
import pytest

from exactdiff.cli import main

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
SEQUENCE_EVAL = os.path.join(SHARED, "sequence_eval.json")


def run_error(argv, capsys):
    """Run the command line; return its one-line error after asserting exit status 2."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err.splitlines()[-1]


@pytest.fixture
def files(tmp_path, monkeypatch):
    """A folder of bad toys; the tests run inside it so paths read as a user types them."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.json").write_text("")
    (tmp_path / "folder").mkdir()
    (tmp_path / "text.npy").write_text("hello\n")
    (tmp_path / "broken.json").write_text('{"AC": 0.5,')
    np.save(tmp_path / "flat.npy", np.array([0.25, 0.75]))
    np.save(tmp_path / "negative.npy", np.array([[0.5, -0.1], [0.3, 0.3]]))
    (tmp_path / "row.json").write_text(json.dumps({"A": {"A": 0.5, "C": 0.4}, "C": {"A": 0.5, "C": 0.5}}))
    row = {c: 0.05 for c in "ABCDEFGHIJKLMNOPQRST"}
    (tmp_path / "huge.json").write_text(json.dumps({"ABCDEFGH": row, "IJKLMNOP": row}))
    return tmp_path


@pytest.mark.parametrize("argv, message", [
    (["verify", "--toy", "empty.json"], "exactdiff verify: error: 'empty.json' is empty."),
    (["verify", "--toy", "missing.json"], "exactdiff verify: error: 'missing.json' does not exist."),
    (["verify", "--toy", "folder"],
     "exactdiff verify: error: 'folder' is a folder; give the path of a toy file (a .json or .npy file)."),
    (["verify", "--toy", "text.npy"],
     "exactdiff verify: error: 'text.npy' is not a NumPy .npy file (it does not start with the .npy magic "
     "bytes; write tables with numpy.save)."),
    (["nll", "--toy", "broken.json", "AC"],
     "exactdiff nll: error: 'broken.json' is not valid JSON (Expecting property name enclosed in double quotes "
     "at line 1, column 12)."),
    (["verify", "--toy", "negative.npy"],
     "exactdiff verify: error: 'negative.npy': `table` must be non-negative (got minimum -0.1)."),
    (["nll", "--toy", "row.json", "ACCA"],
     "exactdiff nll: error: 'row.json': every row of `transitions` must sum to 1 (context 'A' sums to 0.9)."),
    (["figures", "--out", "empty.json"],
     "exactdiff figures: error: --out 'empty.json' is a file; give a folder (it is created if needed)."),
    (["verify", "--quick", "--json", "nowhere/out.json"],
     "exactdiff verify: error: --json 'nowhere/out.json': the folder "),
    (["verify", "--quick", "--json", "folder"],
     "exactdiff verify: error: --json 'folder' is a folder; give a file name."),
    (["nll", "--all", "--samples", "3"],
     "exactdiff nll: error: --samples only applies with --law."),
    (["nll", "--all", "--law", "time_free", "--epsilon", "0.2"],
     "exactdiff nll: error: --epsilon only applies with --denoiser corrupted."),
    (["nll"], "exactdiff nll: error: give sequences, or --all for every sequence of a table toy."),
])
def test_one_line_error(files, capsys, argv, message):
    assert run_error(argv, capsys).startswith(message)


def test_flat_npy_is_not_read_as_length_one(files, capsys):
    err = run_error(["verify", "--toy", "flat.npy"], capsys)
    assert err.startswith("exactdiff verify: error: 'flat.npy' holds an array of shape (2,); a table over V^L "
                          "has one axis of size N per position, shape (N,)*L with L >= 2")


def test_huge_markov_chain_is_refused_before_allocating(files, capsys):
    err = run_error(["nll", "--toy", "huge.json", "ABCDEFGHIJ"], capsys)
    assert err.startswith("exactdiff nll: error: 'huge.json': the transition table of an order-8 chain over "
                          "N=20 letters would need about 3.7 TiB of memory, more than the limit of")


@pytest.mark.parametrize("argv, message", [
    (["nll", "--all", "--law", "time_free", "--fit-samples", "-3"],
     "exactdiff nll: error: argument --fit-samples: must be an integer >= 1 (got -3)"),
    (["nll", "--all", "--law", "time_free", "--samples", "many"],
     "exactdiff nll: error: argument --samples: must be an integer >= 2 (got 'many')"),
    (["nll", "--all", "--law", "time_free", "--denoiser", "corrupted", "--epsilon", "1.5"],
     "exactdiff nll: error: argument --epsilon: must lie in [0, 1] (got 1.5)"),
    (["verify", "--budget", "-1"], "exactdiff verify: error: argument --budget: must be a finite number >= 0 (got -1)"),
    (["nll", "--all", "--condition", "0"], "exactdiff nll: error: argument --condition: must be an integer >= 1 (got 0)"),
])
def test_bad_option_names_the_option(capsys, argv, message):
    assert run_error(argv, capsys) == message


@pytest.mark.skipif(not os.path.exists(SEQUENCE_EVAL), reason="needs ../shared/data")
def test_letter_outside_the_alphabet(capsys):
    err = run_error(["nll", "--toy", SEQUENCE_EVAL, "ACGTXCAA"], capsys)
    assert err == "exactdiff nll: error: sequence 'ACGTXCAA' has letters outside the alphabet 'ACGT': ['X']."


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_json_refused_before_the_run(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    err = run_error(["verify", "--json", str(locked / "out.json")], capsys)
    assert "cannot be written (permission denied)" in err


def test_json_checked_before_the_run(files, capsys, monkeypatch):
    """The suite is never started when its results could not be written."""
    from exactdiff.checks import suite

    monkeypatch.setattr(suite, "run_suite", lambda *a, **k: pytest.fail("the suite ran"))
    run_error(["verify", "--json", "nowhere/out.json"], capsys)


def test_failed_row_shows_its_error(capsys, monkeypatch):
    """A check whose computation raises is a FAIL row with the error text under it."""
    from exactdiff.checks import suite

    real = suite.default_suite

    def broken(*args, **kwargs):
        def boom():
            raise ValueError("this route broke")

        return real(*args, **kwargs)[:1] + [("a broken check", boom)]

    monkeypatch.setattr(suite, "default_suite", broken)
    assert main(["verify", "--quick", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "ValueError: this route broke" in out


def test_cli_runs_blas_on_one_thread(monkeypatch):
    """Without a thread count in the environment the command line limits BLAS to one
    thread; with one, it is obeyed."""
    from threadpoolctl import threadpool_info

    from exactdiff.cli import THREAD_VARIABLES, blas_threads

    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with blas_threads():
        assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    with blas_threads() as limits:
        assert limits is None  # the environment decides


def test_npy_toy_takes_digit_sequences(tmp_path, monkeypatch, capsys):
    """A .npy table has no alphabet: sequences are typed as digits or comma-separated
    integers, printed as digits, and anything else is a one-line error."""
    import exactdiff as ed

    monkeypatch.chdir(tmp_path)
    p0 = ed.Distribution.dirichlet(3, 3, seed=0)
    np.save("toy.npy", p0.table)
    assert main(["nll", "--toy", "toy.npy", "--json", "-", "012", "2,1,0"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["sequence"] for r in rows] == ["012", "210"]
    assert rows[0]["nll"] == pytest.approx(p0.nll((0, 1, 2)), rel=1e-15)
    assert run_error(["nll", "--toy", "toy.npy", "AB"], capsys) == (
        "exactdiff nll: error: sequence 'AB': this toy has no alphabet (a .npy table); give tokens as digits "
        "(e.g. 012) or comma-separated integers (e.g. 0,1,12).")
