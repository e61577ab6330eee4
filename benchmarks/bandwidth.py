"""Closeness to the hardware: each pass of the factorized contraction against the
machine's memory bandwidth, measured in the same run.

1. Bandwidth: ``np.copyto`` of a 256 MiB float64 array into a preallocated one (best of
   7); bytes moved = read + write = 2 × 256 MiB.
2. For S = 4^L (uniform process, N = 4) at L = 10, 11, 12 (S = 2^20 … 2^24), every pass
   ``_tensor.apply_axis(k_t, table, axis)`` (best of 3 per axis): bytes moved = the
   table read + the output written = 2 × 8·S. Achieved GB/s and fraction of the copy
   bandwidth per axis, and over all L axes (the time of one ``apply_all``).
3. The same for the whole pointwise mdse for all x0 at one t, counted as the passes it
   makes (3 L contractions + 2 L accumulations + 4 elementwise sweeps, each ≥ 2 × 8·S bytes).

Goal: ≥ 30 % of the copy bandwidth per pass at S ≥ 2^20. BLAS threads: 1 by default
(``--blas-threads``); the copy is single-threaded too. Writes
benchmarks/results/bandwidth.json. Run as ``PYTHONPATH=. python benchmarks/bandwidth.py``
(on machines that set OPENBLAS_CORETYPE, unset it and OPENBLAS_L2_SIZE for this command).
"""

import argparse
import os
import sys
from pathlib import Path


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--L", type=int, nargs="+", default=[10, 11, 12], help="lengths (N=4): S = 4^L")
    ap.add_argument("--blas-threads", type=int, default=1, help="BLAS threads (0: leave the environment)")
    ap.add_argument("--copy-mib", type=int, default=256, help="size of the copied array in MiB")
    return ap.parse_args(argv)


def copy_bandwidth(mib):
    """GB/s of np.copyto between two preallocated float64 arrays of ``mib`` MiB (read + write)."""
    import numpy as np
    from _common import best_of

    src = np.random.default_rng(0).random(mib * 2**20 // 8)
    dst = np.empty_like(src)
    seconds, _ = best_of(lambda: np.copyto(dst, src), 7)
    return 2 * src.nbytes / seconds / 1e9


def main(argv=None):
    args = parse_args(argv)
    if args.blas_threads > 0:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.blas_threads)
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    sys.path.insert(0, str(root / "benchmarks"))

    import numpy as np

    import exactdiff as ed
    from exactdiff.core import tensor as T
    from _common import best_of, write_json

    bandwidth = copy_bandwidth(args.copy_mib)
    print(f"memory bandwidth (np.copyto of {args.copy_mib} MiB, read + write): {bandwidth:.2f} GB/s; "
          f"BLAS threads: {os.environ.get('OPENBLAS_NUM_THREADS', 'default')}; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}")

    proc = ed.uniform(4)
    k = proc.data_kernel(0.5)
    rows = []
    print(f"{'L':>3} {'S':>10} {'axis':>5} {'ms':>8} {'GB/s':>7} {'of copy':>8}")
    for L in args.L:
        S = 4**L
        table = ed.Distribution.dirichlet(4, L, seed=L).table
        per_axis = []
        for axis in range(L):
            sec, out = best_of(lambda: T.apply_axis(k, table, axis), 3)
            moved = table.nbytes + out.nbytes
            gbs = moved / sec / 1e9
            per_axis.append(dict(axis=axis, seconds=sec, bytes=moved, gb_s=gbs, fraction=gbs / bandwidth))
            print(f"{L:>3} {S:>10} {axis:>5} {sec * 1e3:8.2f} {gbs:7.2f} {gbs / bandwidth:8.1%}", flush=True)
        t_all, _ = best_of(lambda: T.apply_all(k, table), 3)
        all_gbs = L * 2 * table.nbytes / t_all / 1e9
        t_mdse, _ = best_of(lambda: ed.mdse(table, proc, 0.5, pointwise=True), 2)
        passes = 3 * L + 2 * L + 4
        mdse_gbs = passes * 2 * table.nbytes / t_mdse / 1e9
        fr = [p["fraction"] for p in per_axis]
        row = dict(L=L, S=S, per_axis=per_axis, min_fraction=min(fr), median_fraction=float(np.median(fr)),
                   apply_all_s=t_all, apply_all_gb_s=all_gbs, apply_all_fraction=all_gbs / bandwidth,
                   mdse_s=t_mdse, mdse_passes=passes, mdse_gb_s=mdse_gbs, mdse_fraction=mdse_gbs / bandwidth)
        rows.append(row)
        print(f"    S={S}: per pass min {min(fr):.1%}, median {np.median(fr):.1%} of copy; one apply_all "
              f"{t_all * 1e3:.1f} ms = {all_gbs:.2f} GB/s ({all_gbs / bandwidth:.1%}); pointwise mdse "
              f"{t_mdse:.3f} s ≈ {passes} passes at {mdse_gbs:.2f} GB/s ({mdse_gbs / bandwidth:.1%})", flush=True)
    goal = all(r["min_fraction"] >= 0.30 for r in rows if r["S"] >= 2**20)
    print(f"goal (every pass >= 30% of the copy bandwidth at S >= 2^20): {'met' if goal else 'NOT met'}")
    write_json("bandwidth", dict(benchmark="bandwidth", copy_bandwidth_gb_s=bandwidth, copy_mib=args.copy_mib,
                                 blas_threads=os.environ.get("OPENBLAS_NUM_THREADS"),
                                 openblas_coretype=os.environ.get("OPENBLAS_CORETYPE"),
                                 rows=rows, goal_fraction=0.30, goal_met=goal, load_average=os.getloadavg()))


if __name__ == "__main__":
    main()
