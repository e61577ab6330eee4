"""Tests of out-of-distribution detection (:mod:`exactdiff.audit.text`,
:mod:`exactdiff.audit.ood`, :mod:`exactdiff.cli.ood`) and of the influence toy
(:mod:`exactdiff.audit.influence`).

Reference routes: the AUROC by counting every (positive, negative) pair; the exact
conditional NLL by the product of transitions, by two forward passes and by the
Corollary 4.3 sum over all subsets (the run reports their agreement, held here to 1e-11);
the table lookups of the Monte Carlo draws against direct forward–backward rows; the
mixture denoiser against the oracle of its enumerated table. The 500-pair run is
``benchmarks/ood.py``; here a few pairs.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

import exactdiff as ed
from exactdiff.audit import influence
from exactdiff.audit.ood import auroc, draws_needed, ood_detection, transition_nll
from exactdiff.audit.text import TEXT8_ALPHABET, encode_text, read_text, text8_normalize
from exactdiff.cli import ood as cli_ood


@pytest.fixture
def text8(shared_data):
    folder = shared_data / "text8"
    if not folder.is_dir():
        pytest.skip(f"the text8 files are not at {folder}")
    return folder


def run_cli(argv):
    parser = argparse.ArgumentParser(prog="exactdiff")
    cli_ood.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["ood", *argv])
    return args.func(args)


# -- text ---------------------------------------------------------------------------------------
def test_text8_mapping(text8):
    assert text8_normalize("Mara’s dew-kissed cot; She rose.\n") == "mara s dew kissed cot she rose "
    assert text8_normalize("A  B,,C") == "a b c"
    raw = (text8 / "text8_eval_data.txt").read_text(encoding="utf-8")
    assert text8_normalize(raw) == raw  # text8 itself is unchanged
    gpt = read_text(text8 / "text8_gpt_eval_data.txt")
    assert set(gpt) <= set(TEXT8_ALPHABET) and "  " not in gpt and len(gpt) > 40_000
    assert encode_text("ab z")[[0, 1, 2, 3]].tolist() == [0, 1, 26, 25]


def test_read_text_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    with pytest.raises(ValueError, match=r"--in '.*empty.txt' is empty"):
        read_text(empty, name="--in")
    short = tmp_path / "short.txt"
    short.write_text("Hello, world")
    with pytest.raises(ValueError, match=r"--ood '.*short.txt' has 11 characters .*; at least 16 are needed"):
        read_text(short, name="--ood", min_length=16)
    with pytest.raises(ValueError, match="does not exist"):
        read_text(tmp_path / "missing.txt", name="--train")
    with pytest.raises(ValueError, match="is a folder"):
        read_text(tmp_path, name="--train")
    with pytest.raises(ValueError, match="`text` must hold only characters"):
        encode_text("Hello")


# -- AUROC ----------------------------------------------------------------------------------------
def test_auroc_counts_pairs_with_ties():
    scores = np.array([1.0, 2.0, 3.0, 3.0, 5.0, 0.5, 2.0])
    labels = np.array([0, 0, 1, 0, 1, 1, 1])
    pairs = [(a, b) for a in scores[labels == 1] for b in scores[labels == 0]]
    ref = np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs])
    assert auroc(scores, labels) == pytest.approx(ref, abs=1e-15)
    with pytest.raises(ValueError, match="both classes"):
        auroc([1.0, 2.0], [0, 0])


def test_draws_needed_requires_staying_within():
    curves = np.array([[0.5, 0.79, 0.7, 0.795, 0.8], [0.5, 0.81, 0.7, 0.805, 0.8]])
    assert draws_needed(curves, 0.8, grid=(1, 2, 4, 8, 16)) == {"mean_within": 8, "rms_within": 8}


# -- the run ------------------------------------------------------------------------------------------
def test_small_run_routes_agree(text8):
    train = read_text(text8 / "text8_eval_data.txt")
    ood = read_text(text8 / "text8_gpt_eval_data.txt")
    res = ood_detection(train, train, ood, order=2, pairs=12, seed=0, seeds=3, max_draws=64, alpha=0.1)
    for key, value in res["checks"].items():
        assert value < 1e-11, key
    assert set(res["mc_auroc"]) == {"1", "4", "16", "64"} and res["order"] == 2 and res["pairs"] == 12
    assert set(res["laws"]) == {"time_free", "k_dce", "no_empty", "token_mean", "no_empty_token_mean"}
    assert res["laws"]["time_free"]["limit_auroc"] == res["exact_auroc"]
    json.dumps(res)  # JSON-ready
    again = ood_detection(train, train, ood, order=2, pairs=12, seed=0, seeds=3, max_draws=64, alpha=0.1)
    assert again["laws"]["no_empty"]["mc_auroc_mean"] == res["laws"]["no_empty"]["mc_auroc_mean"]


def test_exact_auroc_by_an_independent_route(text8):
    """The exact AUROC against one computed from scratch: the same chain refitted, each
    response's −log p(y | x) by two forward passes of ``MarkovChain.exact_conditional_nll``
    (not the product of transitions the run uses), and the AUROC by counting every
    (in, out) pair — ties count ½ — in a double loop (not Mann–Whitney)."""
    train = read_text(text8 / "text8_eval_data.txt")
    ood = read_text(text8 / "text8_gpt_eval_data.txt")
    res = ood_detection(train, train, ood, order=2, pairs=12, seed=0, seeds=2, max_draws=4, alpha=0.1,
                        laws=("time_free",))
    tok, ood_tok = encode_text(train), encode_text(ood)
    chain = ed.fit_markov_chain(tok[:40_000], 27, 2, alpha=0.1)
    T, C = list(range(16, 32)), list(range(16))
    nll = {"in": [], "ood": []}
    for s, g in zip(res["prompt_starts"], res["ood_starts"]):
        prompt = tok[s: s + 16]
        nll["in"].append(chain.exact_conditional_nll(tok[s: s + 32], T, C))
        nll["ood"].append(chain.exact_conditional_nll(np.concatenate([prompt, ood_tok[g: g + 16]]), T, C))
    np.testing.assert_allclose(nll["in"], res["nll"]["in"], rtol=1e-12)
    np.testing.assert_allclose(nll["ood"], res["nll"]["ood"], rtol=1e-12)
    wins = sum((o > i) + 0.5 * (o == i) for i in nll["in"] for o in nll["ood"])
    assert abs(res["exact_auroc"] - wins / (len(nll["in"]) * len(nll["ood"]))) < 1e-15


def test_order3_pair_against_the_subset_sum(text8):
    """N = 27, k = 3: the Corollary 4.3 sum from the chain's subset terms (65,535 sets)
    = the product of transitions, for one 16 + 16 pair of the held-out text."""
    tok = encode_text(read_text(text8 / "text8_eval_data.txt"))
    chain = ed.fit_markov_chain(tok[:40_000], 27, 3, alpha=0.1)
    x = tok[45_000:45_032]
    T, C = list(range(16, 32)), list(range(16))
    closed = transition_nll(chain, x, 16)[0]
    assert abs(ed.conditional_nll(chain, x, T, C) - closed) <= 1e-12 * closed
    assert abs(chain.exact_conditional_nll(x, T, C) - closed) <= 1e-12 * closed


def test_bad_input(text8):
    train = read_text(text8 / "text8_eval_data.txt")
    with pytest.raises(ValueError, match=r"`order`=5 is above what the text supports"):
        ood_detection(train, train, "abc " * 10, order=5)
    with pytest.raises(ValueError, match=r"`pairs`=20000 needs 20000 distinct prompt starts; the held-out text offers"):
        ood_detection(train, train, "abc " * 10, order=1, pairs=20_000)
    with pytest.raises(ValueError, match=r"`ood_text` has 8 characters; one response needs 16"):
        ood_detection(train, train, "abc abc ", order=1, pairs=2)
    with pytest.raises(ValueError, match=r"`in_text` has 10 characters after the first 40,000"):
        ood_detection(train, train[:40_010], "abc " * 10, order=1, pairs=2, same_file=True)
    with pytest.raises(ValueError, match="`train_text` has 6 characters"):
        ood_detection("abc ab", train, "abc " * 10, order=1, pairs=2)


def test_cli_ood(text8, tmp_path, capsys):
    files = ["--train", str(text8 / "text8_eval_data.txt"), "--in", str(text8 / "text8_eval_data.txt"),
             "--ood", str(text8 / "text8_gpt_eval_data.txt")]
    assert run_cli(files + ["--order", "1", "--pairs", "6", "--seeds", "2", "--max-draws", "16", "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"exact_auroc", "mc_auroc", "order", "pairs"} <= set(data) and data["order"] == 1
    assert run_cli(files + ["--order", "1", "--pairs", "6", "--seeds", "2", "--max-draws", "4",
                            "--figure", str(tmp_path / "f.png")]) == 0
    assert "exact AUROC" in capsys.readouterr().out and (tmp_path / "f.png").exists()
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ValueError, match="--ood .* is empty"):
        run_cli(files[:4] + ["--ood", str(empty)])
    with pytest.raises(ValueError, match="`order`=6 is above"):
        run_cli(files + ["--order", "6"])
    short = tmp_path / "short.txt"
    short.write_text("only a short text")
    with pytest.raises(ValueError, match="--in .*short.txt' has 17 characters .* at least 32"):
        run_cli(["--train", files[1], "--in", str(short), "--ood", files[5]])
    with pytest.raises(ValueError, match="--json .* the folder .* does not exist"):
        run_cli(files + ["--json", str(tmp_path / "no" / "x.json")])


# -- influence ------------------------------------------------------------------------------------------
def test_mixture_denoiser_and_projected_chain():
    rng = np.random.default_rng(0)
    data = influence.dirichlet_chain(3, 2, 0.5, rng)
    teacher = influence.dirichlet_chain(3, 1, 0.5, rng)
    chk = influence._checks(data, teacher, 3, 3, rng, w=0.4)
    assert chk["mixture_vs_table_max_abs"] < 1e-12 and chk["cor43_mean_vs_exact_max_abs"] < 1e-12
    lift = influence.projected_chain([teacher], [1.0], 2)  # the teacher written as an order-2 chain
    assert np.allclose(lift.transitions, np.broadcast_to(teacher.transitions, (3, 3, 3)), rtol=1e-14, atol=0)
    assert np.allclose(influence.projected_chain([data, teacher], [1.0, 0.0], 2).transitions, data.transitions,
                       rtol=1e-13, atol=1e-16)
    funs = influence.expected_nlls(data, teacher, 3, 3)
    assert funs["mixture"](0.0) == pytest.approx(funs["projected_chain"](0.0), rel=1e-12)
    w = influence.crossing(funs["mixture"])
    assert w is not None and abs(np.subtract(*funs["mixture"](w))) < 1e-9
    with pytest.raises(ValueError, match="`weights` must be 2 numbers"):
        influence.MixtureDenoiser([data, teacher], [0.5, 0.6])
    with pytest.raises(ValueError, match="context .* has probability 0 under the mixture"):
        zero = ed.MarkovChain(np.array([[1.0, 0.0], [0.0, 1.0]]), initial=[0.5, 0.5])
        influence.MixtureDenoiser([zero], [1.0])(np.array([[0, 1, 2]]))


def test_influence_experiment_small():
    out = influence.influence_experiment(seed=1, N=3, prompt=3, response=3, pairs=100)
    for name, w in out["crossing_w"].items():
        if w is not None:
            true, teacher = out["at_crossing"][name]
            assert abs(true - teacher) < 1e-9, name
    assert out["checks"]["cor43_mean_vs_exact_max_abs"] < 1e-12
    with pytest.raises(ValueError, match="`prompt`=1 must be at least the larger order 2"):
        influence.influence_experiment(prompt=1)
