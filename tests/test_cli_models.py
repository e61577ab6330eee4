"""``exactdiff nll`` with the user's own models: ``--denoiser module:callable`` and
``--score-model NAME|module:callable`` (DSE estimators), and their one-line errors."""

import json
import textwrap

import numpy as np
import pytest

import exactdiff as ed
from exactdiff.cli import main

#: A small toy (N = 3, L = 3, written as a .npy table) and one of its sequences.
TOY = ed.Distribution.dirichlet(3, 3, seed=0)
SEQUENCE = "012"

USER_MODULE = textwrap.dedent('''
    """A user's models, numpy in and numpy out, as a torch or JAX wrapper would give."""
    import numpy as np
    import exactdiff as ed

    p0 = ed.Distribution.dirichlet(3, 3, seed=0)
    _oracle = ed.OracleDenoiser(p0)
    _score = ed.OracleScore(p0, ed.uniform(3, ed.Geometric(1e-4, 20.0)))

    def denoiser(x):
        return _oracle(x)

    def score(x, sigma_bar):
        return _score(x, sigma_bar)

    def log_score(x, sigma_bar):
        return np.log(_score(x, sigma_bar))

    not_callable = 3
''')


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """The user's module on the path, and the toy as ``toy.npy`` in the working folder."""
    (tmp_path / "user_models.py").write_text(USER_MODULE)
    np.save(tmp_path / "toy.npy", TOY.table)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return "user_models"


def nll(*argv):
    return main(["nll", "--toy", "toy.npy", *argv])


def _rows(capsys):
    return json.loads(capsys.readouterr().out)["rows"]


def test_user_denoiser_by_import_path(user_module, capsys):
    """The user's oracle wrapper converges to the truth: the exact limit equals the NLL."""
    assert nll("--law", "k_dce", "--samples", "256", "--denoiser", f"{user_module}:denoiser",
               "--json", "-", SEQUENCE) == 0
    (row,) = _rows(capsys)
    assert row["limit"] == pytest.approx(row["nll"], rel=1e-12)
    assert abs(row["estimate"] - row["nll"]) < 5 * row["stderr"]


@pytest.mark.parametrize("spec, flags", [("score", []), ("log_score", ["--log-scores"])])
def test_user_score_model_by_import_path(user_module, capsys, spec, flags):
    """An oracle score model (scores or log-scores) reaches −log p0(x0) up to the prior
    term at σ̄(1) ≈ 20 (of order e^{-20}·L)."""
    assert nll("--score-model", f"{user_module}:{spec}", *flags, "--law", "power",
               "--samples", "64", "--json", "-", SEQUENCE) == 0
    (row,) = _rows(capsys)
    assert row["limit"] == pytest.approx(row["nll"], rel=1e-8)
    assert row["cutoff_bias"] == 0.0


def test_builtin_score_models(user_module, capsys):
    """The oracle under both processes matches the NLL (absorbing: up to the prior bracket
    of λ(1) = 0.999); the corrupted model is biased and its limit says so."""
    truth = TOY.nll((0, 1, 2))
    for process, tol in (("uniform", 1e-8), ("absorbing", 2e-3)):
        assert nll("--score-model", "oracle", "--process", process, "--law", "power",
                   "--samples", "32", "--json", "-", SEQUENCE) == 0
        assert _rows(capsys)[0]["limit"] == pytest.approx(truth, abs=tol)
    assert nll("--score-model", "corrupted", "--epsilon", "0.3", "--law", "power",
               "--samples", "32", "--json", "-", SEQUENCE) == 0
    assert abs(_rows(capsys)[0]["limit"] - truth) > 1e-2


def test_infinite_variance_is_flagged(user_module, capsys):
    assert nll("--score-model", "corrupted", "--law", "uniform_t", "--samples", "32", SEQUENCE) == 0
    out = capsys.readouterr().out
    assert "inf" in out and "# Var[draw] = inf: this estimator's variance diverges" in out


def run_error(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("argv, message", [
    (["--law", "k_dce", "--denoiser", "no_such_module_xyz:c"],
     "exactdiff nll: error: --denoiser 'no_such_module_xyz:c': the module 'no_such_module_xyz' could not be "
     "imported (ModuleNotFoundError: No module named 'no_such_module_xyz'); is it on PYTHONPATH?"),
    (["--law", "k_dce", "--denoiser", "user_models:missing"],
     "exactdiff nll: error: --denoiser 'user_models:missing': the module 'user_models' ("),
    (["--law", "k_dce", "--denoiser", "user_models:not_callable"],
     "exactdiff nll: error: --denoiser 'user_models:not_callable': 'not_callable' is a int, not a callable."),
    (["--law", "k_dce", "--denoiser", "oracel"],
     "exactdiff nll: error: --denoiser must be one of oracle, empirical, corrupted or an import path "
     "'module:callable' (got 'oracel')."),
    (["--law", "power"],
     "exactdiff nll: error: --law power is a law of σ̄ (DSE estimator): it needs --score-model"),
    (["--score-model", "oracle", "--law", "time_free"],
     "exactdiff nll: error: --score-model needs --law among the laws of σ̄"),
    (["--score-model", "oracle", "--law", "power", "--denoiser", "oracle"],
     "exactdiff nll: error: --score-model replaces --denoiser: give one of them."),
    (["--process", "absorbing"], "exactdiff nll: error: --process only applies with --score-model."),
    (["--score-model", "nonsense", "--law", "power"], "exactdiff nll: error: "),
    (["--score-model", "oracle", "--law", "power", "--condition", "4"],
     "exactdiff nll: error: --condition does not apply with --score-model"),
])
def test_model_option_errors(user_module, capsys, argv, message):
    assert run_error(["nll", "--toy", "toy.npy", *argv, SEQUENCE], capsys).startswith(message)


def test_score_model_needs_a_table_toy(tmp_path, capsys):
    path = tmp_path / "chain.json"
    path.write_text(json.dumps({"A": {"A": 0.5, "C": 0.5}, "C": {"A": 0.5, "C": 0.5}}))
    err = run_error(["nll", "--toy", str(path), "--score-model", "oracle", "--law", "power", "ACCA"], capsys)
    assert err == "exactdiff nll: error: --score-model needs a table toy (a {sequence: probability} JSON or a .npy table)."


def test_user_denoiser_output_is_validated(user_module, tmp_path, capsys):
    """A user's denoiser whose rows do not sum to 1 is a one-line error, not a NaN."""
    (tmp_path / "bad_models.py").write_text("import numpy as np\n"
                                            "def c(x):\n    return np.full(x.shape + (3,), 0.5)\n")
    err = run_error(["nll", "--toy", "toy.npy", "--law", "k_dce", "--samples", "8", "--denoiser",
                     "bad_models:c", SEQUENCE], capsys)
    assert err.startswith("exactdiff nll: error: denoiser rows at masked positions must sum to 1")
