"""Benchmark: the paper's Fig. c with a trained network, audited exactly at L = 32 (issue 24).

The network (``figures/figc_trained_network_params.npz``, trained by ``exactdiff train
--text ../shared/data/text8/text8_eval_data.txt --steps 60000 --seed 0``) is a denoiser
of a 16-letter response given a 16-letter prompt, trained on samples of the order-3
chain that ``exactdiff ood`` fits. On the pairs of ``exactdiff ood`` (its defaults:
order 3, 500 pairs, seed 0 — the same chain, the same prompts, the same responses):

1. the chain's exact −log p0(response | prompt) (product of transitions, as ``exactdiff
   ood``; on ``--check-responses`` responses also the Corollary 4.3 sum of the chain);
2. the network's loss on all 2^16 masks of each response in one batched pass per block
   (``exactdiff.train.response_losses``), hence its exact time-free and k-DCE limits
   (equal: both are the λ-DCE integral) and exact variances, and the bias limit − truth;
3. Monte Carlo estimates at n = 1..1024 draws, ``--seeds`` repetitions, looked up in the
   table (``exactdiff.audit.ood.table_draws``) from the same streams as ``exactdiff ood``,
   so the network sees the very masks the chain saw there; on ``--check-responses``
   responses 64 lookups are recomputed by calling the network, and on one response the
   whole table;
4. three AUROCs side by side: chain truth, network limit, network Monte Carlo at each n
   (mean and sd over repetitions), the draws needed to get within 0.01 of the network's
   limit, and a paired bootstrap over prompts of network limit − chain truth;
5. the in-distribution gap: ``--gap-responses`` (prompt, response) sequences drawn from the
   chain itself (``SeedSequence(--gap-seed)``), mean of limit − truth: the network's
   expected conditional KL (≥ 0 on average; a single response may have either sign).

Resumable: per-response results are checkpointed to
``benchmarks/results/figc_trained_network/partial.npz`` every ``--save-every`` responses
and skipped on restart (``--restart`` starts over). Prints progress, timings and the load
average; writes ``figures/figc_trained_network.json`` and ``figures/figc_trained_network.png``.

Usage (from the project root)::

    python benchmarks/figc_trained_network.py [--pairs 500] [--gap-responses 200] [--seeds 20]
    python benchmarks/figc_trained_network.py --replot     # redraw the PNG from the JSON
"""

import os
import sys

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from exactdiff.audit.ood import N_GRID, auroc, draws_needed, ood_setup, table_draws, transition_nll  # noqa: E402
from exactdiff.audit.text import decode_text, read_text  # noqa: E402
from exactdiff.core.serialize import jsonable  # noqa: E402
from exactdiff.masked import MaskLaw  # noqa: E402
from exactdiff.train import figc_trained_network, load_denoiser, response_losses, response_losses_direct  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "text8"
PARAMS = ROOT / "figures" / "figc_trained_network_params.npz"
WORKDIR = ROOT / "benchmarks" / "results" / "figc_trained_network"
LAWS = ("time_free", "k_dce")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", type=Path, default=PARAMS)
    ap.add_argument("--pairs", type=int, default=500, help="prompts of exactdiff ood (default 500: 1,000 responses)")
    ap.add_argument("--seed", type=int, default=0, help="the seed of exactdiff ood (default 0)")
    ap.add_argument("--seeds", type=int, default=20, help="Monte Carlo repetitions (default 20, as exactdiff ood)")
    ap.add_argument("--gap-responses", type=int, default=200, help="chain samples for the in-distribution gap")
    ap.add_argument("--gap-seed", type=int, default=24, help="seed of those samples (default 24)")
    ap.add_argument("--check-responses", type=int, default=4, help="responses whose lookups are checked")
    ap.add_argument("--block", type=int, default=8192, help="masks per network call (default 8192)")
    ap.add_argument("--save-every", type=int, default=25)
    ap.add_argument("--restart", action="store_true", help="ignore a checkpoint and start over")
    ap.add_argument("--json", type=Path, default=ROOT / "figures" / "figc_trained_network.json")
    ap.add_argument("--figure", type=Path, default=ROOT / "figures" / "figc_trained_network.png")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--replot", action="store_true", help="only redraw --figure from --json")
    return ap.parse_args(argv)


def draw(result, path):
    """The figure from a result whose row labels are "text8" / "gpt"."""
    rows = [dict(row, label=int(row["label"] == "gpt")) for row in result["rows"]]
    return figc_trained_network(dict(result, rows=rows), path)


def _children(ss, n):
    """What ``ss.spawn(n)`` gives on a fresh ``ss`` (the streams of exactdiff ood)."""
    return [np.random.SeedSequence(ss.entropy, spawn_key=ss.spawn_key + (j,)) for j in range(n)]


class Checkpoint:
    """Per-response results in an ``.npz``, keyed by everything they depend on."""

    def __init__(self, path, key, shapes, restart):
        self.path, self.key = path, key
        self.arrays = {name: np.full(shape, np.nan) for name, shape in shapes.items()}
        if path.exists() and not restart:
            with np.load(path, allow_pickle=False) as f:
                if str(f["key"]) == key:
                    self.arrays = {name: f[name] for name in shapes}
                else:
                    print(f"# {path} holds another run's results; starting over")

    def save(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, key=np.array(self.key), **self.arrays)
        os.replace(tmp, self.path)


def _stats(v):
    v = np.asarray(v, dtype=np.float64)
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)), "median": float(np.median(v)), "min": float(v.min()),
            "max": float(v.max()), "count": int(v.size)}


def main(argv=None):
    args = parse_args(argv)
    if args.replot:
        print(f"wrote {draw(json.loads(args.json.read_text()), args.figure)}")
        return
    wall0, cpu0, load0 = time.perf_counter(), time.process_time(), os.getloadavg()
    loads = [load0[0]]
    net = load_denoiser(args.params)
    cfg = net.config
    chain_rec = cfg["training"]["chain"]
    P, L = int(cfg["prompt"]), int(cfg["L"])
    R = L - P
    train = read_text(args.data / "text8_eval_data.txt", name="train")
    gpt = read_text(args.data / "text8_gpt_eval_data.txt", name="ood")
    setup = ood_setup(train, train, gpt, order=chain_rec["order"], pairs=args.pairs, seed=args.seed,
                      train_chars=chain_rec["train_chars"], prompt=P, response=R)
    if setup.alpha != chain_rec["alpha"]:
        raise SystemExit(f"the network was trained on a chain with alpha {chain_rec['alpha']}, exactdiff ood fits "
                         f"alpha {setup.alpha}")
    chain, seqs, labels, nll = setup.chain, setup.sequences, setup.labels, setup.nll
    n_resp = seqs.shape[0]
    streams = _children(setup.mc_stream, n_resp)
    gap_rng = np.random.default_rng(np.random.SeedSequence(args.gap_seed))
    gap_seqs = chain.sample(args.gap_responses, L, gap_rng)
    gap_nll = transition_nll(chain, gap_seqs, P)
    laws = [MaskLaw.named(name, R) for name in LAWS]
    grid = np.array(N_GRID)
    sha = hashlib.sha256(args.params.read_bytes()).hexdigest()
    key = json.dumps({"params": sha, "pairs": args.pairs, "seed": args.seed, "seeds": args.seeds,
                      "gap": [args.gap_responses, args.gap_seed], "grid": grid.tolist(), "laws": LAWS})
    ck = Checkpoint(WORKDIR / "partial.npz", key, {
        "limits": (len(laws), n_resp), "variances": (len(laws), n_resp),
        "curves": (len(laws), args.seeds, grid.size, n_resp), "seconds": (n_resp,),
        "gap_limits": (args.gap_responses,), "gap_variances": (args.gap_responses,), "gap_seconds": (args.gap_responses,)},
        args.restart)
    a = ck.arrays
    todo = [("ood", r) for r in range(n_resp) if np.isnan(a["seconds"][r])] + \
           [("gap", g) for g in range(args.gap_responses) if np.isnan(a["gap_seconds"][g])]
    print(f"# network {args.params.name} (sha256 {sha[:12]}…, {net.n_params:,} parameters, "
          f"{cfg['depth']}x{cfg['width']}); chain order {chain.order}, alpha {setup.alpha:g}; {n_resp} OOD responses "
          f"+ {args.gap_responses} chain samples, 2^{R} masks each; {len(todo)} to do "
          f"({n_resp + args.gap_responses - len(todo)} from the checkpoint); load average {load0[0]:.2f}", flush=True)
    run_wall, done = time.perf_counter(), 0
    for kind, r in todo:
        t = time.perf_counter()
        x = seqs[r] if kind == "ood" else gap_seqs[r]
        losses, _ = response_losses(net, x, block=args.block)
        if kind == "ood":
            d = table_draws(losses, laws, streams[r], seeds=args.seeds, grid=grid)
            a["limits"][:, r], a["variances"][:, r], a["curves"][..., r] = d.means, d.variances, d.curves
            a["seconds"][r] = time.perf_counter() - t
        else:
            m1, m2 = laws[0].raw_moments(losses, orders=(1, 2))
            a["gap_limits"][r], a["gap_variances"][r] = m1, m2 - m1 * m1
            a["gap_seconds"][r] = time.perf_counter() - t
        done += 1
        if done % args.save_every == 0 or done == len(todo):
            ck.save()
            loads.append(os.getloadavg()[0])
            rate = (time.perf_counter() - run_wall) / done
            print(f"  {done:5d}/{len(todo)} done ({kind} {r}); {rate:.2f} s per response, about "
                  f"{rate * (len(todo) - done) / 60:.1f} min left; load average {loads[-1]:.2f}", flush=True)

    # -- checks --------------------------------------------------------------------------------
    t = time.perf_counter()
    checks = {"time_free_vs_k_dce_limit_max_abs": float(np.max(np.abs(a["limits"][0] - a["limits"][1])))}
    direct, cor43 = [], []
    for r in list(range(args.check_responses)) + list(range(args.pairs, args.pairs + args.check_responses)):
        losses, _ = response_losses(net, seqs[r], block=args.block)
        d = table_draws(losses, laws, streams[r], seeds=args.seeds, grid=grid)
        assert np.array_equal(d.curves, a["curves"][..., r])
        picks = d.picks[0, :64]
        direct.append(float(np.max(np.abs(losses[picks] - response_losses_direct(net, seqs[r], picks)))))
        chain_losses, n_masked = chain.subset_losses(seqs[r], list(range(P, L)), list(range(P)))
        cor43.append(abs(MaskLaw.time_free(R).raw_moments(chain_losses, (1,))[0] - nll[r]))
    checks["lookups_vs_network_calls_max_abs"] = max(direct)
    checks["chain_cor43_vs_transitions_max_abs"] = max(cor43)
    losses, _ = response_losses(net, seqs[0], block=args.block)
    whole = response_losses_direct(net, seqs[0], np.arange(2**R))
    checks["whole_table_vs_network_calls_max_rel"] = float(np.max(np.abs(losses - whole) / np.abs(whole).clip(1)))
    checks["responses_checked"] = 2 * args.check_responses
    check_s = time.perf_counter() - t

    # -- AUROCs --------------------------------------------------------------------------------
    t = time.perf_counter()
    lim = a["limits"][0]
    au = {"chain_exact": auroc(nll, labels), "network_limit": auroc(lim, labels),
          "network_limit_k_dce": auroc(a["limits"][1], labels), "mc": {}, "draws_for_0.01": {}}
    for i, law in enumerate(laws):
        curve = np.array([[auroc(a["curves"][i, s, g], labels) for g in range(grid.size)] for s in range(args.seeds)])
        au["mc"][law.name] = {"mean": {str(n): float(curve[:, g].mean()) for g, n in enumerate(grid)},
                              "sd": {str(n): float(curve[:, g].std(ddof=1)) for g, n in enumerate(grid)}}
        au["draws_for_0.01"][law.name] = draws_needed(curve, au["network_limit"], grid=tuple(int(g) for g in grid))
        au["draws_for_0.01"][law.name + "_vs_chain_exact"] = draws_needed(curve, au["chain_exact"],
                                                                          grid=tuple(int(g) for g in grid))
    boot_rng = np.random.default_rng(np.random.SeedSequence(args.seed, spawn_key=(24,)))
    boot = []
    both = np.repeat([0, 1], args.pairs)
    for _ in range(1000):
        pick = boot_rng.integers(0, args.pairs, size=args.pairs)
        idx = np.concatenate([pick, args.pairs + pick])
        boot.append((auroc(nll[idx], both), auroc(lim[idx], both)))
    boot = np.array(boot)
    au["bootstrap_over_prompts"] = {"chain_exact_sd": float(boot[:, 0].std(ddof=1)),
                                    "network_limit_sd": float(boot[:, 1].std(ddof=1)),
                                    "difference_mean": float((boot[:, 1] - boot[:, 0]).mean()),
                                    "difference_sd": float((boot[:, 1] - boot[:, 0]).std(ddof=1)),
                                    "resamples": 1000}
    table = [{"n": int(n), **{f"{law.name}_{stat}": au["mc"][law.name][stat][str(n)] for law in laws
                              for stat in ("mean", "sd")}} for n in grid]
    auroc_s = time.perf_counter() - t

    bias = lim - nll
    gap_bias = a["gap_limits"] - gap_nll
    sd_tf = np.sqrt(a["variances"][0])
    result = {
        "setup": {"order": chain.order, "alpha": setup.alpha, "train_chars": setup.train_chars, "pairs": args.pairs,
                  "responses": n_resp, "seed": args.seed, "prompt": P, "response": R, "mc_seeds": args.seeds,
                  "grid": grid.tolist(), "laws": list(LAWS), "gap_responses": args.gap_responses,
                  "gap_seed": args.gap_seed, "block": args.block,
                  "command": "python benchmarks/figc_trained_network.py " + " ".join(argv or sys.argv[1:])},
        "network": {"file": str(args.params.relative_to(ROOT)) if args.params.is_relative_to(ROOT) else str(args.params),
                    "sha256": sha, "n_params": net.n_params, "arch": cfg["arch"], "width": cfg["width"],
                    "depth": cfg["depth"], "training": cfg["training"],
                    "description": f"prompt MLP {cfg['depth']}x{cfg['width']} (ReLU, {net.n_params:,} parameters)"},
        "auroc": au,
        "auroc_table": table,
        "bias": {"in": _stats(bias[labels == 0]), "ood": _stats(bias[labels == 1]), "all": _stats(bias),
                 "spearman_limit_vs_nll": float(stats.spearmanr(lim, nll).statistic),
                 "kendall_limit_vs_nll": float(stats.kendalltau(lim, nll).statistic),
                 "ratio_limit_to_nll": {"in": float((lim / nll)[labels == 0].mean()),
                                        "ood": float((lim / nll)[labels == 1].mean())}},
        "sd_one_draw": {law.name: {"in": float(np.median(np.sqrt(a["variances"][i][labels == 0]))),
                                   "ood": float(np.median(np.sqrt(a["variances"][i][labels == 1])))}
                        for i, law in enumerate(laws)},
        "in_distribution_gap": {"responses": args.gap_responses, "mean_bias": float(gap_bias.mean()),
                                "se": float(gap_bias.std(ddof=1) / np.sqrt(gap_bias.size)),
                                "sum_bias": float(gap_bias.sum()), "median_bias": float(np.median(gap_bias)),
                                "fraction_negative": float(np.mean(gap_bias < 0)),
                                "entropy_rate_nats_per_letter": chain_rec["entropy_rate"],
                                "mean_nll": float(gap_nll.mean()),
                                "meaning": "E over chain samples of limit − (−log p0(response | prompt)): the network's "
                                           "expected conditional KL, Σ_m w(m) E Σ_{i∈m} KL(p0(·|x̃_m) ‖ c(x̃_m)_i) ≥ 0"},
        "checks": checks,
        "timing": {"per_response_exact_s": _stats(np.concatenate([a["seconds"], a["gap_seconds"]])),
                   "this_run_responses": len(todo), "this_run_wall_s": time.perf_counter() - run_wall,
                   "checks_s": check_s, "auroc_s": auroc_s, "total_wall_s": time.perf_counter() - wall0,
                   "total_cpu_s": time.process_time() - cpu0,
                   "load_average_1min": {"before": load0[0], "samples": loads, "after": os.getloadavg()[0]},
                   "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"), "cpu_count": os.cpu_count()},
        "rows": [{"label": ["text8", "gpt"][int(labels[r])], "prompt": decode_text(seqs[r, :P]),
                  "response": decode_text(seqs[r, P:]), "nll": float(nll[r]), "limit": float(lim[r]),
                  "bias": float(bias[r]), "sd_one_draw_time_free": float(sd_tf[r]),
                  "mc": {str(n): float(a["curves"][0, 0, g, r]) for g, n in enumerate(grid)}} for r in range(n_resp)],
        "gap_rows": [{"prompt": decode_text(gap_seqs[g, :P]), "response": decode_text(gap_seqs[g, P:]),
                      "nll": float(gap_nll[g]), "limit": float(a["gap_limits"][g])} for g in range(args.gap_responses)],
    }
    draw(result, args.figure)
    args.json.write_text(json.dumps(jsonable(result), indent=1))
    _report(result)
    print(f"wrote {args.json} and {args.figure}")


def _report(res):
    au, tm = res["auroc"], res["timing"]
    print(f"\nAUROC ({res['setup']['responses']} responses): chain exact {au['chain_exact']:.4f}, network limit "
          f"{au['network_limit']:.4f} (k-DCE limit {au['network_limit_k_dce']:.4f}); bootstrap over prompts: "
          f"limit − truth {au['bootstrap_over_prompts']['difference_mean']:+.4f} ± "
          f"{au['bootstrap_over_prompts']['difference_sd']:.4f}")
    print(f"  {'n':>5}" + "".join(f"{law + ' mean ± sd':>24}" for law in res["setup"]["laws"]))
    for row in res["auroc_table"]:
        print(f"  {row['n']:>5}" + "".join(f"{row[law + '_mean']:>15.4f} ± {row[law + '_sd']:.4f}"
                                           for law in res["setup"]["laws"]))
    print(f"  draws to within 0.01 of the network's limit: {au['draws_for_0.01']}")
    b = res["bias"]
    print(f"bias limit − truth: text8 {b['in']['mean']:+.3f} (median {b['in']['median']:+.3f}, sd {b['in']['sd']:.3f}), "
          f"GPT {b['ood']['mean']:+.3f} (median {b['ood']['median']:+.3f}, sd {b['ood']['sd']:.3f}); Spearman "
          f"{b['spearman_limit_vs_nll']:.4f}")
    g = res["in_distribution_gap"]
    print(f"in-distribution gap ({g['responses']} chain samples): mean {g['mean_bias']:.4f} ± {g['se']:.4f} nats per "
          f"response (sum {g['sum_bias']:.2f}; {100 * g['fraction_negative']:.1f}% of samples negative)")
    print(f"checks: {res['checks']}")
    p = tm["per_response_exact_s"]
    print(f"time: exact limit per response median {p['median']:.2f} s (max {p['max']:.2f} s); this run "
          f"{tm['this_run_wall_s'] / 60:.1f} min wall for {tm['this_run_responses']} responses, total "
          f"{tm['total_wall_s'] / 60:.1f} min, {tm['total_cpu_s'] / 60:.1f} min CPU; load average "
          f"{tm['load_average_1min']['before']:.2f} before, max {max(tm['load_average_1min']['samples']):.2f}")


if __name__ == "__main__":
    main()
