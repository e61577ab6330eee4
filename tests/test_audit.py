"""Tests of ``exactdiff audit`` (:mod:`exactdiff.audit.limits`, :mod:`exactdiff.audit.report`,
:mod:`exactdiff.cli.audit`).

Reference routes: the oracle's losses by one denoiser call per mask (``ed.mask_losses``)
against the marginal-table route of :class:`ExactTruth`; the exact bias of the flawed laws
against :func:`flawed_law_means` (marginal tables); a corrupted denoiser's limit against
``ed.estimator_moments``. Exact quantities are held to 1e-12 relative; Monte Carlo
consistency to the fraction of sequences within 3 standard errors.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

import exactdiff as ed
from exactdiff.audit import ExactTruth, audit_denoiser, draws_for
from exactdiff.audit.report import write_report
from exactdiff.cli import audit as cli_audit
from exactdiff.masked.laws import flawed_law_means


def run_cli(argv):
    parser = argparse.ArgumentParser(prog="exactdiff")
    cli_audit.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["audit", *argv])
    return args.func(args)


def test_exact_truth_routes_agree():
    """Table: marginals vs one oracle call per mask; chain: the subset table vs the same."""
    p0 = ed.Distribution.dirichlet(3, 4, seed=1)
    truth = ExactTruth(p0)
    for x in np.argwhere(p0.table > 0)[:5]:
        losses, sizes = truth.oracle_losses(x)
        ref, ref_sizes = ed.mask_losses(ed.OracleDenoiser(p0), x)
        assert np.array_equal(sizes, ref_sizes) and np.allclose(losses, ref, rtol=1e-12, atol=1e-14)
        losses, _ = truth.oracle_losses(x, target=[1, 3], context=[0])
        ref, _ = ed.mask_losses(ed.OracleDenoiser(p0), x, target=[1, 3], context=[0])
        assert np.allclose(losses, ref, rtol=1e-12, atol=1e-14)
    chain = ed.MarkovChain(np.random.default_rng(0).dirichlet(np.ones(3), size=9).reshape(3, 3, 3))
    x = chain.sample(1, 9, np.random.default_rng(1))[0]
    losses, _ = ExactTruth(chain).oracle_losses(x, target=[4, 5, 6, 7, 8], context=[0, 1, 2, 3])
    ref, _ = ed.mask_losses(ed.OracleDenoiser(chain), x, target=[4, 5, 6, 7, 8], context=[0, 1, 2, 3])
    assert np.allclose(losses, ref, rtol=1e-12, atol=1e-14)


def test_oracle_is_unbiased_and_flawed_laws_match_closed_forms():
    p0 = ed.Distribution.dirichlet(3, 4, seed=2, alpha=0.5)
    res = audit_denoiser(p0, ed.OracleDenoiser(p0), samples=200, seed=3)
    assert res["verdict"]["unbiased"] and res["totals"]["max_abs_bias"] < 1e-10
    assert res["verdict"]["text"].startswith("unbiased")
    h = ed.subset_sums(p0)
    for rec, x in zip(res["sequences"], np.argwhere(p0.table > 0)):
        forms = flawed_law_means(h[(slice(0, 4),) + tuple(x)], rec["nll"])
        for name in ("no_empty", "token_mean", "no_empty_token_mean"):
            assert abs(rec["laws"][name]["limit"] - forms[name]) <= 1e-12 * rec["nll"]
        assert rec["draws_for_0.01"] == draws_for(rec["variance"])
    assert res["totals"]["monte_carlo_within_3_stderr"] > 0.95
    flawed = audit_denoiser(p0, ed.OracleDenoiser(p0), law="no_empty_token_mean", samples=10)
    assert not flawed["verdict"]["unbiased"] and "mask law is biased" in flawed["verdict"]["text"]
    assert flawed["totals"]["max_abs_model_gap"] < 1e-12


def test_corrupted_model_bias_is_the_model_gap():
    p0 = ed.Distribution.dirichlet(2, 5, seed=4)
    den = ed.CorruptedDenoiser(ed.OracleDenoiser(p0), epsilon=0.2)
    res = audit_denoiser(p0, den, law="k_dce", samples=20)
    x = np.argwhere(p0.table > 0)[0]
    rec = res["sequences"][0]
    m = ed.estimator_moments(den, x, "k_dce")
    assert abs(rec["limit"] - m.mean) < 1e-12 * m.mean and abs(rec["variance"] - m.variance) < 1e-10 * m.variance
    assert abs(rec["law_bias"]) < 1e-12 and abs(rec["bias"] - rec["model_gap"]) < 1e-12
    assert not res["verdict"]["unbiased"] and "the denoiser moves the limit" in res["verdict"]["text"]


def test_dna_toy_report(shared_data, tmp_path):
    """The paper's DNA toy with the oracle: bias 0 within 1e-10, every file written."""
    p0 = ed.load_distribution(shared_data / "sequence_eval.json")
    res = audit_denoiser(p0, ed.OracleDenoiser(p0), samples=64)
    assert res["totals"]["max_abs_bias"] < 1e-10 and len(res["sequences"]) == 128
    assert abs(res["totals"]["weighted_nll"] - 4.71504) < 1e-5  # the entropy of the toy (shared/data/README.md)
    paths = write_report(res, tmp_path / "rep")
    names = sorted(p.rsplit("/", 1)[1] for p in paths)
    assert names == ["bias_histogram.png", "calibration.png", "report.json", "report.md", "truth_limit_mc.png",
                     "variance.png"]
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "**Verdict: unbiased**" in md and "![" in md and "| no_empty |" in md
    data = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert {"sequence", "nll", "limit", "bias", "variance", "draws_for_0.01"} <= set(data["sequences"][0])


def test_chain_toy_conditional_audit():
    chain = ed.markov.MarkovChain(np.random.default_rng(5).dirichlet(np.ones(3), size=9).reshape(3, 3, 3),
                                  alphabet="abc")
    seqs = chain.sample(3, 10, np.random.default_rng(6))
    res = audit_denoiser(chain, ed.OracleDenoiser(chain), seqs, target=range(5, 10), context=range(5), samples=16)
    assert res["totals"]["max_abs_bias"] < 1e-10
    rec = res["sequences"][0]
    assert abs(rec["nll"] - chain.exact_conditional_nll(seqs[0], range(5, 10), range(5))) < 1e-12


def test_time_integral_law_infinite_variance_written_as_string(tmp_path):
    p0 = ed.Distribution.dirichlet(2, 3, seed=0)
    res = audit_denoiser(p0, ed.OracleDenoiser(p0), law="time_integral", samples=8)
    assert res["sequences"][0]["variance"] == float("inf") and res["sequences"][0]["draws_for_0.01"] == float("inf")
    write_report(res, tmp_path, figures=False)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["sequences"][0]["variance"] == "inf"


def test_cli_audit(shared_data, tmp_path, capsys):
    toy = str(shared_data / "sequence_eval.json")
    assert run_cli(["--toy", toy, "--denoiser", "oracle", "--out", str(tmp_path / "a"), "--no-figures",
                    "--samples", "8"]) == 0
    out = capsys.readouterr().out
    assert "verdict: unbiased" in out and (tmp_path / "a" / "report.md").exists()
    assert run_cli(["--toy", toy, "--law", "no_empty", "--json", "-", "--samples", "8"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["setup"]["law"] == "no_empty" and data["verdict"]["unbiased"] is False
    chain_toy = str(shared_data / "markov_data_table.json")
    assert run_cli(["--toy", chain_toy, "--length", "10", "--condition", "5", "--count", "2", "--json", "-",
                    "--samples", "4"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["max_abs_bias"] < 1e-10 and len(data["sequences"]) == 2


def test_cli_audit_bad_input(shared_data, tmp_path):
    toy = str(shared_data / "sequence_eval.json")
    with pytest.raises(ValueError, match="--denoiser must be one of"):
        run_cli(["--toy", toy, "--denoiser", "perfect", "--json", "-"])
    with pytest.raises(ValueError, match="--denoiser 'no_such_module_xyz:den': the module"):
        run_cli(["--toy", toy, "--denoiser", "no_such_module_xyz:den", "--json", "-"])
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    with pytest.raises(ValueError, match="--out .* is a file"):
        run_cli(["--toy", toy, "--out", str(afile)])
    with pytest.raises(ValueError, match="give --out DIR"):
        run_cli(["--toy", toy])
    with pytest.raises(ValueError, match="--condition must lie in 1..7"):
        run_cli(["--toy", toy, "--condition", "8", "--json", "-"])
    with pytest.raises(ValueError, match=r"--law for a denoiser must be a mask law, one of .* \(got 'no_emty'"):
        run_cli(["--toy", toy, "--law", "no_emty", "--json", "-"])


def test_score_model_audit(tmp_path, capsys):
    """The score-model path: the oracle score is unbiased (its limit, a quadrature to 1e-9,
    is −log p0), a corrupted score is not; the CLI writes the same report."""
    from exactdiff.audit.scores import audit_score_model

    p0 = ed.Distribution.dirichlet(2, 3, seed=1)
    proc = ed.absorbing(2)
    res = audit_score_model(p0, ed.OracleScore(p0, proc), proc, samples=32)
    assert res["verdict"]["unbiased"] and res["totals"]["max_abs_bias"] < 1e-8
    assert set(res["sequences"][0]["laws"]) == {"power", "uniform_lambda"} and res["calibration"] is None
    from exactdiff.score import load_score_model

    bad = audit_score_model(p0, load_score_model("corrupted", p0, proc, epsilon=0.2), proc, samples=8)
    assert not bad["verdict"]["unbiased"] and "the score model moves the limit" in bad["verdict"]["text"]
    write_report(res, tmp_path / "s")
    assert not (tmp_path / "s" / "calibration.png").exists() and (tmp_path / "s" / "truth_limit_mc.png").exists()
    toy = tmp_path / "toy.npy"
    np.save(toy, p0.table)
    assert run_cli(["--toy", str(toy), "--score-model", "oracle", "--process", "absorbing", "--samples", "8",
                    "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"]["unbiased"] is True
    with pytest.raises(ValueError, match="--process must be one of"):
        run_cli(["--toy", str(toy), "--score-model", "oracle", "--process", "gaussian", "--json", "-"])
