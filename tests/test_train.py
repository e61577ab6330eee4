"""exactdiff.train: the network saved, reloaded without JAX and audited exactly; the
training pipeline (a few hundred steps); ``exactdiff train``.

Tests that train need the ``train`` extra (JAX, optax) and are skipped without it; CI
installs it. The rest run with NumPy only.
"""

import argparse
import importlib.util
import json
import math
import subprocess
import sys

import numpy as np
import pytest

import exactdiff as ed
from exactdiff.cli import train as cli_train
from exactdiff.train import (
    RECIPE_SIZE_LAW,
    NetworkDenoiser,
    empirical_bias,
    exact_limits,
    load_denoiser,
    mlp_shapes,
    read_network,
    save_network,
    size_law,
    train_denoiser,
)
from exactdiff.train.exact import support


def _has_extra():
    try:
        return all(importlib.util.find_spec(m) is not None for m in ("jax", "optax"))
    except (ImportError, ValueError):  # a broken or blocked installation
        return False


HAS_EXTRA = _has_extra()
needs_extra = pytest.mark.skipif(not HAS_EXTRA, reason='the `train` extra is not installed: '
                                                       'pip install "exactdiff[train]" (JAX, optax)')

#: Built by the package from a seed: the tests read no data file.
TOY = ed.Distribution.paper_toy(seed=0)


def _network(N, L, width, depth, seed, zero_output=False):
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(size=s) / np.sqrt(s[0]) for k, s in mlp_shapes(N, L, width, depth).items()}
    if zero_output:
        params["out.w"][:], params["out.b"][:] = 0.0, 0.0
    return params, {"arch": "mlp", "N": N, "L": L, "width": width, "depth": depth}


def _noisy_inputs(n, L, N, seed):
    rng = np.random.default_rng(seed)
    return np.where(rng.random((n, L)) < 0.5, N, rng.integers(0, N, (n, L)))


def _run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


# -- the network in NumPy ----------------------------------------------------------------------
def test_uniform_network_has_closed_form_limit_and_variance(tmp_path):
    """Zero output layer: c = uniform, so ℓ(m) = a log N. Then limit = L log N, and one
    time-free draw D = H_L · a log N with P(a) = 1/(a H_L) has E[D²] = H_L log²N · L(L+1)/2."""
    params, config = _network(4, 8, 16, 2, seed=0, zero_output=True)
    c = load_denoiser(save_network(tmp_path / "u.npz", params, config))
    r = exact_limits(TOY, c)
    L, H = 8, ed.harmonic_number(8)
    assert np.max(np.abs(r.limit - L * np.log(4))) < 1e-12
    var = H * np.log(4) ** 2 * L * (L + 1) / 2 - (L * np.log(4)) ** 2
    assert np.max(np.abs(r.variance - var)) < 1e-10


def test_numpy_forward_matches_a_hand_computation():
    """N = 2, L = 2, one hidden layer of 3 units, written out with math.tanh."""
    params, config = _network(2, 2, 3, 1, seed=5)
    x = [1, 2]  # letter 1, then the mask (id 2)
    onehot = [0.0] * 6
    onehot[0 * 3 + 1] = onehot[1 * 3 + 2] = 1.0
    W, b, Wo, bo = params["layers[0].w"], params["layers[0].b"], params["out.w"], params["out.b"]
    hidden = []
    for j in range(3):
        u = sum(onehot[i] * W[i, j] for i in range(6)) + b[j]
        hidden.append(0.5 * u * (1 + math.tanh(math.sqrt(2 / math.pi) * (u + 0.044715 * u**3))))
    logits = [sum(hidden[j] * Wo[j, k] for j in range(3)) + bo[k] for k in range(4)]
    pos1 = [math.exp(v) / (math.exp(logits[2]) + math.exp(logits[3])) for v in logits[2:]]
    out = NetworkDenoiser(params, config)(np.array([x]))
    np.testing.assert_allclose(out[0, 1], pos1, rtol=1e-14, atol=0)
    np.testing.assert_array_equal(out[0, 0], [0.0, 1.0])  # visible letter: carried over


def test_save_and_read_round_trip(tmp_path):
    params, config = _network(3, 4, 8, 2, seed=1)
    params32 = {k: v.astype(np.float32) for k, v in params.items()}
    path = save_network(tmp_path / "net.npz", params32, dict(config, training={"seed": 1}))
    back, cfg = read_network(path)
    assert cfg["training"] == {"seed": 1} and all(back[k].dtype == np.float32 for k in back)
    assert all(np.array_equal(back[k], params32[k]) for k in params)
    x = _noisy_inputs(64, 4, 3, seed=2)
    np.testing.assert_array_equal(load_denoiser(path)(x), NetworkDenoiser(params32, config)(x))
    ed.evaluate_denoiser(load_denoiser(path), x, 3)


def test_read_network_refuses_bad_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        read_network(tmp_path / "missing.npz")
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(ValueError, match="not a network saved by exactdiff.train"):
        read_network(tmp_path / "a.npy")
    np.savez(tmp_path / "b.npz", w=np.zeros(3))
    with pytest.raises(ValueError, match="no '__config__' entry"):
        read_network(tmp_path / "b.npz")
    params, config = _network(2, 3, 4, 1, seed=0)
    params["out.w"] = params["out.w"][:, :-1]
    np.savez(tmp_path / "c.npz", __config__=np.array(json.dumps(config)), **params)
    with pytest.raises(ValueError, match=r"parameter 'out.w' must have shape \(4, 6\) \(got \(4, 5\)\)"):
        read_network(tmp_path / "c.npz")
    with pytest.raises(ValueError, match="`arch` must be one of"):
        NetworkDenoiser(params, dict(config, arch="transformer"))


def test_alphabet_renumbers_tokens_and_keeps_the_limits():
    """A network trained on letters numbered "ATGC", called in the numbering "ACGT" that
    ed.load_distribution gives the same file, has the same exact limit per sequence."""
    params, config = _network(4, 3, 16, 2, seed=3)
    config["alphabet"] = "ATGC"
    atgc = ed.Distribution(ed.Distribution.dirichlet(4, 3, seed=1, zero_fraction=0.5).table, alphabet="ATGC")
    acgt = ed.Distribution.from_dict({s: atgc.prob(s) for s in atgc.space.strings() if atgc.prob(s) > 0},
                                     alphabet="ACGT")

    def by_string(c, toy):
        r = exact_limits(toy, c)
        return {toy.space.decode(x): v for x, v in zip(r.sequences, r.limit)}

    own = by_string(NetworkDenoiser(params, config), atgc)
    renumbered = by_string(NetworkDenoiser(params, config, alphabet="ACGT"), acgt)
    wrong = by_string(NetworkDenoiser(params, config), acgt)  # the network's numbering on the other encoding
    assert set(own) == set(renumbered)
    assert max(abs(own[k] - renumbered[k]) for k in own) < 1e-12
    assert max(abs(own[k] - wrong[k]) for k in own) > 0.1
    with pytest.raises(ValueError, match="`alphabet` must be an ordering of the network's letters 'ATGC'"):
        NetworkDenoiser(params, config, alphabet="ACGU")


# -- the exact audit ---------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["time_free", "k_dce"])
def test_batched_audit_matches_estimator_moments(method):
    """Two routes: all masks of all sequences batched, and one estimator_moments call per
    sequence (each enumerating its 2^L masks)."""
    c = ed.CorruptedDenoiser(ed.OracleDenoiser(TOY), epsilon=0.2, temperature=1.5)
    r = exact_limits(TOY, c, law=method, rows_per_call=1000)
    for k in (0, 41, 127):
        m = ed.estimator_moments(c, r.sequences[k], method)
        assert abs(m.mean - r.limit[k]) < 1e-12
        assert abs(m.variance - r.variance[k]) < 1e-10 * m.variance
        assert r.nll[k] == TOY.nll(tuple(r.sequences[k]))
    t = r.totals()
    assert abs(t["expected_dce"] - np.sum(r.dce_by_size / np.arange(1, 9))) < 1e-12
    assert abs(t["expected_dce"] - t["entropy"] - t["gap"]) < 1e-12 and t["gap"] > 0  # the variational bound


def test_oracle_audit_has_zero_bias():
    t = exact_limits(TOY, ed.OracleDenoiser(TOY)).totals()
    assert t["max_abs_bias"] < 1e-12 and abs(t["expected_dce"] - TOY.entropy()) < 1e-12


def test_empirical_bias_matches_the_empirical_denoiser():
    samples = TOY.sample(3000, np.random.default_rng(4))
    X, _ = support(TOY)
    index = {tuple(x): k for k, x in enumerate(X)}
    counts = np.bincount([index[tuple(s)] for s in samples], minlength=len(X))
    exact = exact_limits(TOY, ed.EmpiricalDenoiser(samples, N=4)).bias
    assert np.max(np.abs(empirical_bias(counts, TOY) - exact)) < 1e-10


def test_exact_limits_refuses_what_it_cannot_enumerate():
    with pytest.raises(ValueError, match=r"K·2\^L = 128·2\^8 = 32,768 masked inputs, more than `max_rows`=1,000"):
        exact_limits(TOY, ed.OracleDenoiser(TOY), max_rows=1000)
    with pytest.raises(ValueError, match="`law` must be one of"):
        exact_limits(TOY, ed.OracleDenoiser(TOY), law="nope")


# -- the training laws -------------------------------------------------------------------------
def test_size_laws():
    assert np.allclose(size_law("auto", 8), np.array(RECIPE_SIZE_LAW) / sum(RECIPE_SIZE_LAW))
    assert np.array_equal(size_law("auto", 5), np.full(5, 0.2))  # k-DCE away from L = 8
    assert size_law("time_integral", 8) is None
    with pytest.raises(ValueError, match="`law` must be one of"):
        size_law("uniform", 8)
    with pytest.raises(ValueError, match=r"`law` as an array must hold L=3 finite numbers > 0"):
        size_law([0.5, 0.5, 0.0], 3)


@needs_extra
@pytest.mark.parametrize("law", ["time_free", "k_dce", "time_integral", "custom"])
def test_training_mask_laws_are_unbiased(law):
    """E[w · 1{m = m'}] = 1/(a C(L, a)) for every mask m' with a masked tokens (so that
    E[w ℓ] is the time-integrated DCE), from 200,000 JAX draws, within 6 s.e. — except
    single masked tokens under λ ~ U(0, 1], whose weight 1/λ has infinite variance."""
    import jax

    from exactdiff.train.trainer import _mask_sampler

    L, n = 4, 200_000
    q = size_law([0.1, 0.2, 0.3, 0.4] if law == "custom" else law, L)
    masked, w = _mask_sampler(q, L)(jax.random.key(3), n)
    masked, w = np.asarray(masked), np.asarray(w, dtype=np.float64)
    code = masked @ (1 << np.arange(L))
    for m in range(1, 2**L):
        a = bin(m).count("1")
        if law == "time_integral" and a == 1:
            continue
        v = w * (code == m)
        assert abs(v.mean() - 1 / (a * math.comb(L, a))) < 6 * v.std() / np.sqrt(n), (law, m)
    if law != "time_integral":
        assert masked.sum(axis=1).min() >= 1


# -- training --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """300 steps of a small MLP (width 128, batch 128, k-DCE) on the paper-recipe toy."""
    pytest.importorskip("jax", reason='the `train` extra is not installed: pip install "exactdiff[train]"')
    pytest.importorskip("optax", reason='the `train` extra is not installed: pip install "exactdiff[train]"')
    out = tmp_path_factory.mktemp("run")
    result = train_denoiser(TOY, steps=300, seed=0, width=128, batch=128, warmup=50, law="k_dce", checkpoints=2)
    return result, result.save(out)


@needs_extra
def test_pipeline_runs_and_learns(short_run):
    result, paths = short_run
    h = result.history
    assert [row["step"] for row in h] == [0, 150, 300]
    assert result.loss.shape == (300,) and np.all(np.isfinite(result.loss))
    assert result.counts.sum() == 300 * 128
    # step 0 is the uniform denoiser: every limit is L log 4 (output layer initialised at 0)
    assert abs(h[0]["expected_dce"] - 8 * np.log(4)) < 1e-12 and h[0]["max_abs_bias"] > 6
    assert h[-1]["gap"] < h[0]["gap"] - 1.0  # 6.39 -> 3.93 nats
    assert set(paths) == {"params.npz", "history.json", "loss.npy"}

    def no_nan(value):
        raise AssertionError(f"history.json is not strict JSON: {value}")

    with open(paths["history.json"]) as fh:
        saved = json.load(fh, parse_constant=no_nan)
    assert saved["history"] == json.loads(json.dumps(h)) and saved["config"]["training"]["seed"] == 0


@needs_extra
def test_saved_network_reproduces_the_trained_one(short_run):
    from exactdiff.train import jax_log_probs

    result, paths = short_run
    c = load_denoiser(paths["params.npz"])
    x = _noisy_inputs(512, 8, 4, seed=1)
    np.testing.assert_array_equal(c(x), result.denoiser(x))  # the .npz round trip is exact
    ref = c.log_probs(x)
    assert np.max(np.abs(jax_log_probs(result.params, result.config, x, x64=True) - ref)) < 1e-13
    assert np.max(np.abs(jax_log_probs(result.params, result.config, x) - ref)) < 1e-5  # float32 rounding
    ed.evaluate_denoiser(c, x, 4)
    final = exact_limits(TOY, c)
    np.testing.assert_array_equal(final.limit, result.final.limit)


@needs_extra
def test_loaded_network_needs_no_jax(short_run):
    _, paths = short_run
    code = ("import sys; sys.modules['jax'] = None; sys.modules['optax'] = None\n"
            "import numpy as np, exactdiff as ed\n"
            "from exactdiff.train import load_denoiser, exact_limits\n"
            f"c = load_denoiser({paths['params.npz']!r})\n"
            "r = exact_limits(ed.Distribution.paper_toy(seed=0), c)\n"
            "print(r.totals()['gap'], 'jax' in sys.modules and sys.modules['jax'] is not None)")
    res = _run(code)
    assert res.returncode == 0, res.stderr
    gap, imported = res.stdout.split()
    assert float(gap) > 0 and imported == "False"


@needs_extra
def test_exact_limit_agrees_with_monte_carlo(short_run):
    """Time-free Monte Carlo with 4,096 draws lands within 5 s.e. (the exact variance) of
    the exact limit, on 4 sequences (one SeedSequence stream each): a false alarm has
    probability about 4 · 6e-7."""
    result, paths = short_run
    c = load_denoiser(paths["params.npz"])
    r = result.final
    streams = np.random.SeedSequence(7).spawn(4)
    for k, stream in zip((0, 31, 64, 127), streams):
        est = ed.estimate_nll(c, r.sequences[k], "time_free", 4096, np.random.default_rng(stream))
        assert abs(est.estimate - r.limit[k]) < 5 * np.sqrt(r.variance[k] / 4096)


@needs_extra
def test_training_is_seeded_and_independent_of_chunking():
    # the settings of the command-line test below, so that the two share compiled code
    toy = ed.Distribution.dirichlet(2, 3, seed=0)
    kw = dict(steps=40, width=16, batch=32, checkpoints=1)
    a = train_denoiser(toy, seed=3, chunk=20, **kw)
    b = train_denoiser(toy, seed=3, chunk=40, **kw)
    c = train_denoiser(toy, seed=4, chunk=20, **kw)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert np.array_equal(a.loss, b.loss)
    assert not np.array_equal(a.params["out.w"], c.params["out.w"])


def test_train_denoiser_checks_arguments_before_importing_jax():
    bad = [(dict(steps=0), "`steps` must be an integer >= 1 (got 0)"),
           (dict(steps=10, warmup=10), "`warmup` must be less than `steps`=10 (got 10)"),
           (dict(steps=10, checkpoints=11), "`checkpoints` must be at most `steps`=10 (got 11)"),
           (dict(steps=10, lr=0.0), "`lr` must be > 0 (got 0.0)"),
           (dict(steps=10, seed=-1), "`seed` must be an integer >= 0 (got -1)"),
           (dict(steps=10, law="uniform"), "`law` must be one of"),
           (dict(steps=10, max_audit_rows=100), "`p0`: each exact audit evaluates")]
    for kwargs, message in bad:
        with pytest.raises(ValueError) as exc:
            train_denoiser(TOY, **kwargs)
        assert message in str(exc.value), (kwargs, str(exc.value))


def test_import_exactdiff_train_does_not_import_jax():
    res = _run("import sys, exactdiff.train, exactdiff.cli.train; print('jax' in sys.modules, 'optax' in sys.modules)")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False", "False"]


def test_without_the_extra_the_error_names_it(tmp_path):
    """The library raises ImportError; the command line turns it into a one-line error."""
    toy = tmp_path / "toy.npy"
    np.save(toy, ed.Distribution.dirichlet(2, 3, seed=0).table)
    code = ("import sys, argparse; sys.modules['jax'] = None\n"
            "import exactdiff as ed\n"
            "from exactdiff.train import train_denoiser\n"
            "from exactdiff.cli import train\n"
            "try:\n"
            "    train_denoiser(ed.Distribution.paper_toy(seed=0), steps=10)\n"
            "except ImportError as exc:\n"
            "    print('library:', exc)\n"
            "parser = argparse.ArgumentParser(); train.add_parser(parser.add_subparsers())\n"
            f"args = parser.parse_args(['train', '--toy', {str(toy)!r}, '--steps', '10', '--checkpoints', '1', "
            f"'--out', {str(tmp_path / 'o')!r}])\n"
            "try:\n"
            "    args.func(args)\n"
            "except ValueError as exc:\n"
            "    print('cli:', exc)")
    res = _run(code)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 2 and [line.split(":")[0] for line in lines] == ["library", "cli"]
    for line in lines:
        assert "the optional `train` extra" in line and 'pip install "exactdiff[train]"' in line


# -- exactdiff train ---------------------------------------------------------------------------
def _cli(argv):
    """Parse and run ``exactdiff train`` (errors surface as ValueError, which
    ``exactdiff.cli.main`` turns into one line and exit status 2)."""
    parser = argparse.ArgumentParser(prog="exactdiff")
    cli_train.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", *argv])
    return args.func(args)


def test_cli_train_help_has_examples(capsys):
    with pytest.raises(SystemExit) as exc:
        _cli(["--help"])
    assert exc.value.code == 0 and "examples:" in capsys.readouterr().out


def test_cli_train_refuses_bad_input(tmp_path):
    chain = tmp_path / "chain.json"
    chain.write_text(json.dumps({"x": {"x": 0.5, "y": 0.5}, "y": {"x": 0.1, "y": 0.9}}))
    with pytest.raises(ValueError, match="is a Markov chain; training and its exact audit need a table toy"):
        _cli(["--toy", str(chain), "--steps", "10", "--checkpoints", "2", "--out", str(tmp_path / "o")])
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="--out .* is a file"):
        _cli(["--toy", str(chain), "--steps", "10", "--out", str(tmp_path / "file")])
    with pytest.raises(ValueError, match=r"--checkpoints must be at most --steps=10 \(got 11\)"):
        _cli(["--toy", str(chain), "--steps", "10", "--checkpoints", "11", "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit):  # argparse: --steps must be an integer >= 1
        _cli(["--toy", str(chain), "--steps", "0", "--out", str(tmp_path / "o")])


@needs_extra
def test_cli_train_writes_the_network_and_its_curve(tmp_path, capsys):
    toy = ed.Distribution.dirichlet(2, 3, seed=2)
    np.save(tmp_path / "toy.npy", toy.table)
    out = tmp_path / "run"
    assert _cli(["--toy", str(tmp_path / "toy.npy"), "--steps", "40", "--width", "16", "--batch", "32",
                 "--checkpoints", "2", "--out", str(out), "--no-progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[0] == "step" and [line.split()[0] for line in lines[2:5]] == ["0", "20", "40"]
    assert (out / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    history = json.loads((out / "history.json").read_text())["history"]
    limits = exact_limits(toy, load_denoiser(out / "params.npz"))
    assert abs(limits.totals()["expected_dce"] - history[-1]["expected_dce"]) < 1e-12
