"""The text network (issue 24) on a small setting, L = 8 (4 + 4) over N = 3 letters:
the batched table of :func:`exactdiff.train.response_losses` against one network call
per mask, its limits against the closed-form weights and ``ed.estimator_moments``,
Monte Carlo against the exact moments, the NumPy forward pass against JAX in float64,
seeded training, ``exactdiff train --text`` errors, and the shared OOD setup.

Tests that train or call JAX need the ``train`` extra and are skipped without it.
"""

import importlib.util
import math

import numpy as np
import pytest

import exactdiff as ed
from exactdiff.audit.ood import N_GRID, fit_text_chain, ood_detection, ood_setup, table_draws
from exactdiff.cli import main
from exactdiff.train.text import validation_set
from exactdiff.masked import MaskLaw, mask_patterns
from exactdiff.train import (
    NetworkDenoiser,
    chain_entropy_rate,
    prompt_mlp_shapes,
    response_losses,
    response_losses_direct,
    train_text_denoiser,
)


def _has_extra():
    try:
        return all(importlib.util.find_spec(m) is not None for m in ("jax", "optax"))
    except (ImportError, ValueError):
        return False


needs_extra = pytest.mark.skipif(not _has_extra(), reason='the `train` extra is not installed: '
                                                          'pip install "exactdiff[train]" (JAX, optax)')

N, P, R = 3, 4, 4
L = P + R
#: A small order-2 chain over 3 letters, built from a seed (stationary initial law).
CHAIN = ed.MarkovChain(np.random.default_rng(7).dirichlet(np.ones(N), size=(N, N)))


def _network(width=8, depth=2, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    params = {k: scale * rng.normal(size=s) for k, s in prompt_mlp_shapes(N, L, P, width, depth).items()}
    return NetworkDenoiser(params, {"arch": "prompt_mlp", "N": N, "L": L, "prompt": P, "width": width,
                                    "depth": depth})


def _brute_force_losses(net, x):
    """ℓ(m) for every mask of the response, one network call per mask (``net(x̃)``, the
    probabilities of the generic forward pass), in ``mask_patterns`` order."""
    out = []
    for m in mask_patterns(R):
        xt = np.array(x)
        xt[P:][m] = N
        probs = net(xt[None])[0]
        out.append(sum(-math.log(probs[P + i, x[P + i]]) for i in range(R) if m[i]))
    return np.array(out)


X = np.array([0, 2, 1, 1, 2, 0, 0, 1])


@pytest.mark.parametrize("depth, scale", [(1, 1.0), (2, 1.0), (3, 0.7)])
def test_table_and_limits_equal_the_brute_force_mask_sum(depth, scale):
    net = _network(depth=depth, scale=scale)
    table, sizes = response_losses(net, X, block=5)  # several blocks, one ragged
    brute = _brute_force_losses(net, X)
    np.testing.assert_allclose(table, brute, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(sizes, mask_patterns(R).sum(axis=1))
    # the limit written out: Σ_a 1/(a C(R, a)) Σ_{|m|=a} ℓ(m) (Corollary 4.3's weights)
    by_hand = sum(brute[m] / (sizes[m] * math.comb(R, sizes[m])) for m in range(2**R) if sizes[m])
    for law in (MaskLaw.time_free(R), MaskLaw.k_dce(R)):
        mean = law.raw_moments(table, orders=(1,))[0]
        assert abs(mean - by_hand) <= 1e-12 * by_hand, law.name
    # and through the library's generic route (one call per mask)
    T, C = list(range(P, L)), list(range(P))
    for method in ("time_free", "k_dce"):
        ref = ed.estimator_moments(net, X, method, target=T, context=C)
        m1, m2 = {"time_free": MaskLaw.time_free(R), "k_dce": MaskLaw.k_dce(R)}[method].raw_moments(table, (1, 2))
        assert abs(m1 - ref.mean) <= 1e-12 * ref.mean and abs((m2 - m1**2) - ref.variance) <= 1e-10 * ref.variance


def test_table_keeps_rows_whose_letters_lie_far_below_the_largest_logit():
    """Logits of thousands of nats: a single shift per row would underflow; the rows are
    redone per position and still equal the generic forward pass."""
    net = _network(scale=300.0, seed=3)
    table, _ = response_losses(net, X)
    direct = response_losses_direct(net, X, np.arange(2**R))
    assert np.max(table) > 1000  # the case is really exercised
    np.testing.assert_allclose(table, direct, rtol=1e-12, atol=0)


def test_uniform_network_costs_log_n_per_masked_letter():
    net = _network()
    net.params["out.w"][:], net.params["out.b"][:] = 0.0, 0.0
    table, sizes = response_losses(net, X)
    np.testing.assert_allclose(table, sizes * np.log(N), rtol=1e-15, atol=0)
    assert abs(MaskLaw.time_free(R).raw_moments(table, (1,))[0] - R * np.log(N)) < 1e-13


def test_monte_carlo_agrees_with_the_exact_moments_and_direct_calls():
    net = _network(seed=1)
    table, _ = response_losses(net, X)
    laws = [MaskLaw.time_free(R), MaskLaw.k_dce(R)]
    grid = np.array(N_GRID)
    stream = np.random.SeedSequence(11)
    draws = table_draws(table, laws, stream, seeds=20, grid=grid)
    for i in range(len(laws)):
        se = np.sqrt(draws.variances[i] / grid)  # exact standard error at n draws
        z = (draws.curves[i] - draws.means[i]) / se
        assert np.all(np.abs(z) < 4), (laws[i].name, np.abs(z).max())
    # the same stream gives the same draws; the lookups are what the network returns
    again = table_draws(table, laws, stream, seeds=20, grid=grid)
    np.testing.assert_array_equal(again.curves, draws.curves)
    picks = draws.picks[0, :64]
    np.testing.assert_allclose(table[picks], response_losses_direct(net, X, picks), rtol=1e-12, atol=0)


def test_response_losses_refuses_other_networks_and_bad_sequences():
    from exactdiff.train import mlp_shapes

    params = {k: np.zeros(s) for k, s in mlp_shapes(N, L, 4, 1).items()}
    with pytest.raises(ValueError, match="arch 'prompt_mlp'"):
        response_losses(NetworkDenoiser(params, {"arch": "mlp", "N": N, "L": L, "width": 4, "depth": 1}), X)
    with pytest.raises(ValueError, match=r"`x` must hold L=8 letters \(got 7\)"):
        response_losses(_network(), X[:7])
    with pytest.raises(ValueError, match=r"`x` must hold tokens in 0..2"):
        response_losses(_network(), np.where(np.arange(L) == 5, N, X))
    with pytest.raises(ValueError, match="never sees a masked prompt"):
        _network()(np.where(np.arange(L) == 1, N, X)[None])


def test_entropy_rate_gives_the_exact_conditional_entropy():
    """H(x^{P+1..L} | x^{1..P}) = H(x) − H(x^{1..P}) by enumerating the chain's table
    over 3^8 sequences, against R·h."""
    def entropy(table):
        return float(-(table[table > 0] * np.log(table[table > 0])).sum())

    exact = entropy(CHAIN.to_table(L)) - entropy(CHAIN.to_table(P))
    assert abs(R * chain_entropy_rate(CHAIN) - exact) < 1e-12


def test_ood_setup_gives_the_pairs_of_ood_detection(shared_data):
    from exactdiff.audit.text import read_text

    text = read_text(shared_data / "text8" / "text8_eval_data.txt")
    gpt = read_text(shared_data / "text8" / "text8_gpt_eval_data.txt")
    res = ood_detection(text, text, gpt, order=1, pairs=6, seed=3, seeds=2, max_draws=4, table_pairs=1,
                        laws=("time_free",), response=4)
    s = ood_setup(text, text, gpt, order=1, pairs=6, seed=3, response=4)
    assert s.nll.tolist() == res["nll"]["in"] + res["nll"]["ood"]
    assert s.prompt_starts.tolist() == res["prompt_starts"] and s.alpha == res["alpha"]
    chain, alpha, _ = fit_text_chain(text, order=1)
    assert alpha == s.alpha and np.array_equal(chain.transitions, s.chain.transitions)


# -- training (the train extra) ---------------------------------------------------------------------
KW = dict(prompt=P, response=R, steps=6, width=8, depth=2, batch=16, validation=8, validation_masks=2,
          checkpoints=1)


@needs_extra
def test_training_is_seeded_and_independent_of_chunking():
    a = train_text_denoiser(CHAIN, seed=5, chunk=6, **KW)
    b = train_text_denoiser(CHAIN, seed=5, chunk=3, **KW)  # steps grouped 3 + 3 instead of 6
    c = train_text_denoiser(CHAIN, seed=6, chunk=6, **KW)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert any(not np.array_equal(a.params[k], c.params[k]) for k in a.params)
    np.testing.assert_array_equal(a.loss, b.loss)
    assert [r["step"] for r in a.history] == [0, 6] and a.config["arch"] == "prompt_mlp"
    # step 0 is the uniform network: ℓ(m) = |m| log N on every validation mask, so the validation
    # DCE is H_R log N · (mean |m|) and the gap H_R · mean(|m| log N − ℓ_chain(m))
    vset = validation_set(CHAIN, seed=5, size=KW["validation"], masks=KW["validation_masks"], prompt=P, response=R)
    sizes = vset.masks.sum(axis=2)
    H = ed.harmonic_number(R)
    assert abs(a.history[0]["val_dce"] - H * np.log(N) * sizes.mean()) < 1e-12
    assert abs(a.history[0]["gap"] - H * (sizes * np.log(N) - vset.chain_losses).mean()) < 1e-12
    assert a.history[-1]["train_loss"] is not None


@needs_extra
def test_numpy_forward_equals_jax_in_float64_and_the_trained_table_is_exact(tmp_path):
    from exactdiff.train import jax_prompt_log_probs, load_denoiser

    res = train_text_denoiser(CHAIN, seed=0, chunk=6, **KW)
    net = load_denoiser(res.save(tmp_path)["params.npz"])
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.integers(0, N, (64, P)), np.where(rng.random((64, R)) < 0.5, N,
                                                              rng.integers(0, N, (64, R)))], axis=1)
    np.testing.assert_allclose(net.log_probs(x), jax_prompt_log_probs(res.params, res.config, x, x64=True),
                               rtol=1e-12, atol=1e-13)
    table, _ = response_losses(net, X)
    np.testing.assert_allclose(table, _brute_force_losses(net, X), rtol=1e-12, atol=0)


# -- the command line ---------------------------------------------------------------------------
def run_error(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err.splitlines()[-1]


@pytest.mark.parametrize("extra, message", [
    (["--order", "7"], "exactdiff train: error: --order must be between 1 and 4 (got 7)."),
    (["--prompt", "2"], "exactdiff train: error: --prompt must be at least --order=3: the prompt fixes the chain's "
                        "context (got 2)."),
    (["--response", "24"], "exactdiff train: error: --response must be at most 20: the exact audit enumerates "
                           "2^response masks (got 24)."),
    (["--warmup", "50"], "exactdiff train: error: --warmup must be less than --steps=10 (got 50)."),
    (["--lr", "0"], "exactdiff train: error: --lr must be > 0 (got 0.0)."),
])
def test_cli_text_errors(tmp_path, capsys, extra, message):
    text = tmp_path / "t.txt"
    text.write_text("the cat sat on the mat " * 20)
    argv = ["train", "--text", str(text), "--steps", "10", "--out", str(tmp_path / "o"), *extra]
    assert run_error(argv, capsys) == message


def test_cli_text_file_and_option_errors(tmp_path, capsys):
    out = str(tmp_path / "o")
    assert run_error(["train", "--text", str(tmp_path / "none.txt"), "--steps", "5", "--out", out], capsys) == \
        f"exactdiff train: error: --text {str(tmp_path / 'none.txt')!r} does not exist."
    err = run_error(["train", "--toy", "x.json", "--text", "y.txt", "--steps", "5", "--out", out], capsys)
    assert err == "exactdiff train: error: argument --text: not allowed with argument --toy"
    assert run_error(["train", "--toy", "x.json", "--order", "2", "--steps", "5", "--out", out], capsys) == \
        "exactdiff train: error: --order applies to --text only (got it with --toy)."


# -- figures ----------------------------------------------------------------------------------------
def test_figures_draw_what_they_are_given(tmp_path):
    """The Fig. c figure from a result of the benchmark's shape, and the learning curve."""
    from exactdiff.train import figc_trained_network, text_learning_curve

    rng = np.random.default_rng(0)
    grid = [1, 2, 4]
    rows = [{"label": lab, "nll": 30 + 5 * lab + rng.normal(), "limit": 33 + 3 * lab + rng.normal(),
             "mc": {str(n): 33 + rng.normal() for n in grid}} for lab in (0, 1) * 10]
    mc = {"mean": {"1": 0.6, "2": 0.65, "4": 0.7}, "sd": {"1": 0.05, "2": 0.04, "4": 0.03}}
    result = {"rows": rows, "setup": {"mc_seeds": 3, "order": 3, "alpha": 0.1, "seed": 0, "prompt": 4, "response": 4},
              "network": {"description": "test network"},
              "auroc": {"chain_exact": 0.9, "network_limit": 0.71, "mc": {"time_free": mc, "k_dce": mc},
                        "draws_for_0.01": {"time_free": {"mean_within": 4}}},
              "in_distribution_gap": {"mean_bias": 1.0, "se": 0.1}}
    path = figc_trained_network(result, tmp_path / "figc.png")
    history = [{"step": s, "val_dce": 50 - s / 10, "val_dce_se": 1.0, "gap": 10 - s / 10, "gap_se": 0.3,
                "entropy": 40.0} for s in (0, 10, 20)]
    curve = text_learning_curve(history, tmp_path / "curve.png", loss=rng.normal(48, 1, 20))
    for p in (path, curve):
        with open(p, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
