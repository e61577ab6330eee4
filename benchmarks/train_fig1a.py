"""The paper's Fig. 1a with a trained neural denoiser, audited exactly.

1. Train the recipe (``exactdiff.train.RECIPE``: MLP 2×512 on one-hot inputs, Adam 3e-3
   with 200 warm-up steps and cosine decay to 3e-5, batch 256, 60,000 steps, the size
   law tuned for L = 8, float32, seed 0) on the 128-sequence DNA toy
   (``../shared/data/sequence_eval.json``, or the paper's recipe with seed 0 when the
   file is absent), with the exact learning curve at 12 checkpoints. Wall time, CPU time
   and the load average are recorded. Needs the ``train`` extra.
2. Audit the saved network, reloaded as a plain-NumPy float64 denoiser:
   - the exact limit and variance of the time-free estimator for every sequence, with
     every mask enumerated (``ed.estimator_moments``, one call per sequence), cross-checked
     against the batched route of ``exactdiff.train.exact_limits``;
   - the truth −log p0(x0), the bias, the gap Σ p0·bias, the bias by mask size;
   - Monte Carlo with 2^15 (the paper's) and 1,024 draws per sequence, one
     ``SeedSequence.spawn`` stream per sequence (root seed ``--mc-seed``), with z-scores
     against the exact limit (exact variance);
   - baselines: the oracle, and the empirical denoiser fitted on exactly the sequences
     the network saw (its exact bias from the counts);
   - float32: the exact limits of the network computed by JAX in float32, as trained,
     against the float64 NumPy network; and JAX float64 against NumPy float64.
3. Write ``figures/fig1a_trained_network.png``, ``figures/trained_network_learning_curve.png``
   and ``figures/fig1a_trained_network.json``; the network goes to
   ``benchmarks/results/train_fig1a/`` (``params.npz``, ``history.json``, ``loss.npy``,
   ``training_record.json``; not committed).

Usage (from the project root, with ``pip install -e ".[train]"``)::

    python benchmarks/train_fig1a.py                      # train (~8 min on 2 cores) and audit
    python benchmarks/train_fig1a.py --params benchmarks/results/train_fig1a/params.npz   # audit only

The module attribute ``denoiser`` is the saved network, its tokens numbered as
``ed.load_distribution`` numbers the toy file's letters, for tools that import a denoiser
by path::

    PYTHONPATH=benchmarks exactdiff audit --toy ../shared/data/sequence_eval.json
        --denoiser train_fig1a:denoiser --samples 32768 --out figures/fig1a_trained_network_audit

(a single command line).
"""

import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small products: one BLAS thread is fastest

import argparse
import dataclasses
import hashlib
import json
import resource
import threading
import time
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import exactdiff as ed  # noqa: E402
from exactdiff.figures.estimators import DATA_DIR, sequence_toy  # noqa: E402
from exactdiff.train import (  # noqa: E402
    RECIPE,
    empirical_bias,
    exact_limits,
    fig1a_trained_network,
    jax_log_probs,
    learning_curve_figure,
    load_denoiser,
    read_network,
    train_denoiser,
)

DRAWS = (2**15, 1024)
#: Where the network is trained to and read from by default (not committed).
WORKDIR = ROOT / "benchmarks" / "results" / "train_fig1a"
#: The network of the committed figures and report (its sha256 is in the report JSON).
COMMITTED = ROOT / "figures" / "fig1a_trained_network_params.npz"


def __getattr__(name):
    """``denoiser``: the network saved in WORKDIR as a NumPy denoiser, its tokens numbered
    as ``ed.load_distribution`` numbers the toy's letters (``"ACGT"``, where the training
    used the paper's ``"ATGC"``), so that tools loading the toy from its file can import it
    by path: ``exactdiff audit --toy ../shared/data/sequence_eval.json --denoiser
    train_fig1a:denoiser`` with ``benchmarks`` on PYTHONPATH. Without a network trained
    here, the committed one (:data:`COMMITTED`)."""
    if name == "denoiser":
        path = DATA_DIR / "sequence_eval.json"
        alphabet = ed.load_distribution(path).alphabet if path.exists() else None
        params = WORKDIR / "params.npz" if (WORKDIR / "params.npz").exists() else COMMITTED
        return load_denoiser(params, alphabet=alphabet)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")



class LoadSampler:
    """The 1-minute load average, sampled every ``every`` seconds in a thread."""

    def __init__(self, every=5.0):
        self.every, self.samples, self._stop = every, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def summary(self):
        s = np.array(self.samples)
        return {"mean": float(s.mean()), "min": float(s.min()), "max": float(s.max()), "samples": int(s.size),
                "every_s": self.every}


def _cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def train(p0, args, workdir):
    """Train the recipe, save it to ``workdir``, return (params path, training record)."""
    progress = sys.stderr.isatty()
    print(f"training the recipe for {args.steps:,} steps (seed {args.seed}) ...", flush=True)

    def show(row):
        line = (f"step {row['step']:>6}  train {row['train_seconds']:7.1f} s  exp. DCE {row['expected_dce']:.5f}  "
                f"gap {row['gap']:.5f}  median |bias| {row['median_abs_bias']:.5f}  "
                f"max |bias| {row['max_abs_bias']:.5f}")
        if progress:
            from tqdm import tqdm

            tqdm.write(line)
        else:
            print(line, flush=True)

    recipe = {k: v for k, v in RECIPE.items() if k != "steps"}
    load_before, cpu0, wall0 = os.getloadavg(), _cpu_seconds(), time.perf_counter()
    with LoadSampler() as load:
        result = train_denoiser(p0, steps=args.steps, seed=args.seed, checkpoints=12, progress=progress,
                                callback=show, **recipe)
    wall, cpu = time.perf_counter() - wall0, _cpu_seconds() - cpu0
    paths = result.save(workdir)
    record = {"wall_seconds": wall, "process_cpu_seconds": cpu, "train_seconds": result.train_seconds,
              "train_cpu_seconds": result.train_cpu_seconds, "audit_seconds": result.audit_seconds,
              "seconds_per_step": result.train_seconds / args.steps,
              "load_average_1min": {"before": load_before[0], "during": load.summary(), "after": os.getloadavg()[0]},
              "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "cpu_count": os.cpu_count()}
    Path(workdir, "training_record.json").write_text(json.dumps(record, indent=1))
    print(f"trained: {wall:.1f} s wall, {cpu:.1f} s CPU; saved {paths['params.npz']}", flush=True)
    return Path(paths["params.npz"]), record


def monte_carlo(c, X, limit, variance, nll, draws, seed_sequence):
    """Time-free estimates of every sequence with ``draws`` draws, one stream each."""
    streams = seed_sequence.spawn(X.shape[0])
    start = time.perf_counter()
    est = [ed.estimate_nll(c, x0, "time_free", draws, np.random.default_rng(s)) for x0, s in zip(X, streams)]
    seconds = time.perf_counter() - start
    value = np.array([e.estimate for e in est])
    stderr = np.array([e.stderr for e in est])
    se_exact = np.sqrt(variance / draws)
    z = (value - limit) / se_exact
    z_truth = (value - nll) / stderr
    summary = {"draws": draws, "seconds": seconds,
               "max_abs_z_vs_limit": float(np.max(np.abs(z))),
               "fraction_within_2se": float(np.mean(np.abs(z) < 2)),
               "mean_z2": float(np.mean(z**2)), "mean_z2_null_sd": float(np.sqrt(2 / z.size)),
               "ks_pvalue_normal": float(stats.kstest(z, "norm").pvalue),
               "median_stderr": float(np.median(se_exact)),
               "sequences_biased_beyond_2se": int(np.sum(np.abs(limit - nll) > 2 * se_exact)),
               "sequences_with_estimate_beyond_3se_of_truth": int(np.sum(np.abs(z_truth) > 3))}
    return value, stderr, z, summary


def float32_effect(params, config, p0, limits64, c64):
    """Exact limits of the network as trained (JAX, float32) against the float64 audit."""
    cache = {}

    def jax_denoiser(x64):
        def c(x):
            probs = np.exp(jax_log_probs(params, config, x, x64=x64))
            cache.setdefault(x64, []).append(float(np.max(np.abs(probs.sum(-1) - 1))))
            return probs / probs.sum(axis=-1, keepdims=True)  # float32 rows sum to 1 within ~1e-7
        c.N = config["N"]
        return c

    out = {}
    for x64, name in ((False, "jax_float32"), (True, "jax_float64")):
        r = exact_limits(p0, jax_denoiser(x64))
        out[name] = {"max_abs_limit_diff_vs_numpy_float64": float(np.max(np.abs(r.limit - limits64.limit))),
                     "gap_diff_vs_numpy_float64": float(r.totals()["gap"] - limits64.totals()["gap"]),
                     "max_row_sum_deviation_before_renormalising": max(cache[x64])}
    X = limits64.sequences
    masks = ed.masked.mask_patterns(X.shape[1])
    x = np.where(masks[None], config["N"], X[:, None, :]).reshape(-1, X.shape[1])
    ref = c64.log_probs(x)
    for x64, name in ((False, "jax_float32"), (True, "jax_float64")):
        out[name]["max_abs_log_prob_diff_vs_numpy_float64"] = float(
            np.max(np.abs(jax_log_probs(params, config, x, x64=x64) - ref)))
    out["rows_compared"] = int(x.shape[0])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=RECIPE["steps"])
    ap.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    ap.add_argument("--mc-seed", type=int, default=1, help="root seed of the Monte Carlo streams (default 1)")
    ap.add_argument("--params", type=Path, help="audit this saved network instead of training")
    ap.add_argument("--workdir", type=Path, default=WORKDIR)
    ap.add_argument("--figures", type=Path, default=ROOT / "figures")
    args = ap.parse_args(argv)
    p0, source = sequence_toy()
    if args.params is None:
        params_path, record = train(p0, args, args.workdir)
    else:
        params_path = args.params
        rec = params_path.parent / "training_record.json"
        record = json.loads(rec.read_text()) if rec.exists() else None
    hist_path = params_path.parent / "history.json"
    hist = json.loads(hist_path.read_text())
    loss_path = params_path.parent / "loss.npy"
    loss = np.load(loss_path) if loss_path.exists() else None
    params, config = read_network(params_path)
    c = load_denoiser(params_path)
    timings = {}

    # exact: one estimator_moments call per sequence (every mask), and the batched route
    start = time.perf_counter()
    batched = exact_limits(p0, c)
    timings["exact_batched_s"] = time.perf_counter() - start
    X = batched.sequences
    start = time.perf_counter()
    moments = [ed.estimator_moments(c, x0, "time_free") for x0 in X]
    timings["exact_estimator_moments_s"] = time.perf_counter() - start
    limits = dataclasses.replace(batched, limit=np.array([m.mean for m in moments]),
                                 variance=np.array([m.variance for m in moments]))
    truth = np.array([p0.nll(tuple(x0)) for x0 in X])
    checks = {"batched_vs_estimator_moments_max_abs_diff": {
                  "limit": float(np.max(np.abs(batched.limit - limits.limit))),
                  "variance": float(np.max(np.abs(batched.variance - limits.variance)))},
              "nll_table_vs_p0_nll_max_abs_diff": float(np.max(np.abs(truth - limits.nll)))}
    totals = limits.totals()
    bias = limits.bias
    totals |= {"bias_quantiles": {str(q): float(np.quantile(bias, q)) for q in (0, 0.1, 0.25, 0.5, 0.75, 0.9, 1)},
               "fraction_negative_bias": float(np.mean(bias < 0)),
               "spearman_bias_vs_nll": float(stats.spearmanr(limits.nll, bias).statistic)}

    # baselines
    oracle = exact_limits(p0, ed.OracleDenoiser(p0))
    counts = np.asarray(hist["counts"])
    emp = empirical_bias(counts, p0)
    baselines = {"oracle": oracle.totals(),
                 "empirical_same_samples": {"n_samples": int(counts.sum()), "gap": float(limits.p @ emp),
                                            "median_abs_bias": float(np.median(np.abs(emp))),
                                            "max_abs_bias": float(np.max(np.abs(emp)))}}
    by_size = {"network": limits.dce_by_size.tolist(), "oracle": oracle.dce_by_size.tolist(),
               "gap_contribution": ((limits.dce_by_size - oracle.dce_by_size) / np.arange(1, X.shape[1] + 1)).tolist()}

    # float32 as trained against the float64 audit (needs JAX)
    start = time.perf_counter()
    try:
        f32 = float32_effect(params, config, p0, limits, c)
    except ImportError as exc:
        f32 = {"skipped": str(exc)}
    timings["float32_check_s"] = time.perf_counter() - start

    # Monte Carlo, one stream per sequence for each number of draws
    roots = np.random.SeedSequence(args.mc_seed).spawn(len(DRAWS))
    mc, mc_summary = [], []
    for draws, root in zip(DRAWS, roots):
        value, stderr, z, summary = monte_carlo(c, X, limits.limit, limits.variance, limits.nll, draws, root)
        mc.append((draws, value, stderr, z))
        mc_summary.append(summary)
        timings[f"monte_carlo_{draws}_s"] = summary["seconds"]
        print(f"Monte Carlo, {draws:,} draws: {summary}", flush=True)

    alphabet = p0.alphabet or "".join(map(str, range(p0.N)))
    per_sequence = []
    for k, x0 in enumerate(X):
        row = {"sequence": "".join(alphabet[v] for v in x0), "p0": float(limits.p[k]), "nll": float(limits.nll[k]),
               "limit": float(limits.limit[k]), "bias": float(bias[k]), "variance": float(limits.variance[k]),
               "empirical_bias": float(emp[k])}
        for draws, value, stderr, z in mc:
            row[f"mc_{draws}"] = {"estimate": float(value[k]), "stderr": float(stderr[k]), "z_vs_limit": float(z[k])}
        per_sequence.append(row)

    net = f"MLP {config['depth']}×{config['width']} ({sum(v.size for v in params.values()):,} parameters, " \
          f"{config['training']['steps']:,} Adam steps, float32)"
    report = {
        "command": "python benchmarks/train_fig1a.py" + ("" if args.params is None else
                    f" --params {args.params} (audit only; the network was trained by python benchmarks/train_fig1a.py, "
                    f"its record under 'training')"),
        "toy": source, "alphabet": p0.alphabet, "n_sequences": int(X.shape[0]), "N": int(p0.N), "L": int(p0.L), "entropy": totals["entropy"],
        "network": net, "config": config, "params_file": os.path.relpath(params_path, ROOT),
        "params_sha256": hashlib.sha256(params_path.read_bytes()).hexdigest(),
        "estimator": "time_free (Theorem 4.1)", "mc_seed": args.mc_seed, "draws": list(DRAWS),
        "training": record, "totals": totals, "dce_by_size": by_size, "baselines": baselines,
        "monte_carlo": mc_summary, "float32": f32, "cross_checks": checks, "timings": timings,
        "learning_curve": hist["history"], "per_sequence": per_sequence,
    }
    args.figures.mkdir(parents=True, exist_ok=True)
    report_path = args.figures / "fig1a_trained_network.json"
    report_path.write_text(json.dumps(report, indent=1))
    draws0 = mc[0][0]
    fig1a_trained_network(
        limits, [(d, v, s) for d, v, s, _ in mc], args.figures / "fig1a_trained_network.png",
        title=f"Fig. 1a with a trained network: {net}, on {source} ({X.shape[0]} sequences, L = {p0.L}); "
              f"time-free estimator, {draws0:,} draws per sequence")
    learning_curve_figure(
        hist["history"], args.figures / "trained_network_learning_curve.png", loss=loss,
        title=f"Exact learning curve of the {net} on {source}: every mask of every sequence at each checkpoint")
    print(json.dumps({k: report[k] for k in ("totals", "baselines", "float32", "cross_checks", "timings")}, indent=1))
    print(f"wrote {report_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
