"""Benchmark: out-of-distribution detection on the paper's text8 / GPT audit data with an
exact AUROC (issue 13), and the "influenced by another distribution" toy.

For each order k (default 1..4), ``exactdiff.audit.ood.ood_detection`` fits an order-k
character chain on the first 40,000 characters of ``text8_eval_data.txt``, draws 500
prompts from the rest (seed 0), scores each with its true continuation and with a window
of the mapped GPT text, and computes the exact AUROC, the Corollary 4.3 tables of all
1,000 responses (2^16 subsets each; at order 4 only ``--table-pairs-order4`` pairs, about
1 s and 1.4 GB per table), the limit AUROC of every mask law and the Monte Carlo AUROC at
1..1024 draws per response (20 seeds). Then the influence toy for seeds 0..9 and a sweep
of the prompt length.

Prints the tables, wall and CPU time and the load average; writes
``benchmarks/results/ood.json``, ``figures/ood_auroc.png`` and ``figures/ood_influence.png``.

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/ood.py [--orders 1 2 3 4] [--pairs 500] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "text8"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--orders", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--pairs", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, default=20, help="Monte Carlo repetitions (default 20)")
    ap.add_argument("--table-pairs-order4", type=int, default=25,
                    help="pairs whose tables are computed at order 4 (default 25: ~1 s and 1.4 GB each)")
    ap.add_argument("--influence-seeds", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=1, help="worker processes for the tables (default 1)")
    ap.add_argument("--figure", type=Path, default=ROOT / "figures" / "ood_auroc.png")
    ap.add_argument("--influence-figure", type=Path, default=ROOT / "figures" / "ood_influence.png")
    ap.add_argument("--data", type=Path, default=DATA)
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import numpy as np

    from exactdiff.audit.influence import influence_experiment, plot_influence
    from exactdiff.audit.ood import REPORT_N, ood_detection, plot_ood
    from exactdiff.audit.text import read_text

    from _common import write_json

    files = {name: args.data / f for name, f in (("train", "text8_eval_data.txt"), ("ood", "text8_gpt_eval_data.txt"))}
    train = read_text(files["train"], name="train")
    ood = read_text(files["ood"], name="ood")
    results = []
    for k in args.orders:
        table_pairs = args.table_pairs_order4 if k == 4 else None
        load = os.getloadavg()
        t, c = time.perf_counter(), time.process_time()
        res = ood_detection(train, train, ood, order=k, pairs=args.pairs, seed=args.seed, seeds=args.seeds,
                            table_pairs=table_pairs, jobs=args.jobs)
        res["benchmark_wall_s"], res["benchmark_cpu_s"] = time.perf_counter() - t, time.process_time() - c
        res["load_average_before"] = list(load)
        results.append(res)
        tm = res["timing_s"]
        print(f"\norder {k}: alpha {res['alpha']:g}, exact AUROC {res['exact_auroc']:.4f} "
              f"(bootstrap sd {res['exact_auroc_bootstrap_sd']:.3f}; on the {res['table_responses']} table responses "
              f"{res['exact_auroc_table_responses']:.4f}); NLL in {res['nll_in_mean']:.2f}, "
              f"ood {res['nll_ood_mean']:.2f}")
        print(f"  {'law':<14}{'limit':>8}" + "".join(f"{'n=' + str(n):>16}" for n in REPORT_N + (1024,))
              + "   draws for 0.01 (mean / rms)   Spearman   Kendall   bias in / ood")
        for name, d in res["laws"].items():
            cells = "".join(f"{d['mc_auroc_mean'][str(n)]:>9.4f}±{d['mc_auroc_sd'][str(n)]:<6.4f}"
                            for n in REPORT_N + (1024,))
            need = d["draws_for_0.01"]
            b = d["mean_bias_nats"]
            print(f"  {name:<14}{d['limit_auroc']:>8.4f}{cells}   {str(need['mean_within']):>6} / "
                  f"{str(need['rms_within']):<6}           {d['spearman_vs_exact']:.4f}    {d['kendall_vs_exact']:.3f}"
                  f"   {b['in']:+.2f} / {b['ood']:+.2f}")
        print("  checks: " + ", ".join(f"{key} {v:.1e}" for key, v in res["checks"].items() if v is not None))
        print(f"  time: {res['benchmark_wall_s']:.1f} s wall, {res['benchmark_cpu_s']:.1f} s CPU (tables "
              f"{tm['tables_s']:.1f} s, moments + MC {tm['moments_and_mc_s']:.1f} s, AUROCs {tm['auroc_s']:.1f} s); "
              f"load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    plot_ood(results, args.figure)
    print(f"wrote {args.figure}")

    t = time.perf_counter()
    influence = [influence_experiment(seed=s, curves=s == 0) for s in range(args.influence_seeds)]
    sweep = {p: influence_experiment(seed=0, prompt=p, curves=False)["crossing_w"] for p in (2, 3, 4, 5)}
    plot_influence(influence[0], args.influence_figure)
    print("\ninfluence toy (N = 4, data order 2, teacher order 1, prompt 4 + response 4): crossing w*")
    print(f"  {'seed':>4}  {'exact mixture':>14}  {'fitted chain':>13}  {'500 sampled pairs':>18}")
    for s, out in enumerate(influence):
        w = out["crossing_w"]
        print(f"  {s:>4}  " + "  ".join(f"{'—' if w[key] is None else f'{w[key]:.5f}':>{width}}"
                                         for key, width in (("mixture", 14), ("projected_chain", 13),
                                                            ("mixture_sample", 18))))
    print("  prompt length (seed 0): " + ", ".join(f"{p}: mixture {w['mixture']:.4f}, chain {w['projected_chain']:.4f}"
                                                  for p, w in sweep.items()))
    print(f"  checks (seed 0): {influence[0]['checks']}; {time.perf_counter() - t:.1f} s")
    print(f"wrote {args.influence_figure}")

    slim = [{k: v for k, v in r.items() if k not in ("nll", "prompt_starts", "ood_starts")} for r in results]
    write_json("ood", {
        "setup": {"pairs": args.pairs, "seed": args.seed, "seeds": args.seeds, "orders": args.orders, "jobs": args.jobs,
                  "table_pairs_order4": args.table_pairs_order4, "numpy": np.__version__},
        "orders": slim,
        "influence": [{k: v for k, v in out.items() if k != "curves"} for out in influence],
        "influence_prompt_sweep": {str(p): w for p, w in sweep.items()},
    })


if __name__ == "__main__":
    main()
