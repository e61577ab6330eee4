"""Closeness to the hardware: each pass of the factorized contraction against the
machine's memory bandwidth, measured in the same run.

1. Bandwidth: ``np.copyto`` of a 256 MiB float64 array into a preallocated one (best of
   7); bytes moved = read + write = 2 × 256 MiB.
2. For S = 4^L (uniform process, N = 4) at L = 10, 11, 12 (S = 2^20 … 2^24), every pass
   ``_tensor.apply_axis(k_t, table, axis)`` (best of 3 per axis): bytes moved = the
   table read + the output written = 2 × 8·S. Achieved GB/s and fraction of the copy
   bandwidth per axis, and over all L axes (the time of one ``apply_all``).
3. The same for the whole pointwise mdse for all x0 at one t, counted as the passes of the
   per-axis algorithm (3 L contractions + 2 L accumulations + 4 elementwise sweeps).
4. **The mdse in table copies** (the goal of "closer to the limit"): the pointwise mdse
   for all x0 (``ed.mdse(..., pointwise=True)``, the public call with its checks) and its
   phases — p_t (``apply_all``), the field F (``ratio_field``), the pull-back
   (``apply_all`` in place), the final sweep with the token sum — each timed against one
   copy of the table (``np.copyto`` of the table into a preallocated one), the copies and
   the phases interleaved and the best of ``--repeats`` kept, so that a busy machine slows
   both. A *sweep* is one read and one write of a table: each contraction makes one sweep
   per level (``tensor.levels``: two at S <= 2^24), the final step one. Reported: the mdse
   in table copies (goal <= 100), the time per sweep, and the agreement of the values with
   an independent route (one ``numpy.tensordot`` per axis, MATH.md's formula written out
   here), goal 1e-12 relative to max(|value|, 1).

Goal of 2.: >= 30 % of the copy bandwidth per pass at S >= 2^20. BLAS threads: 1 by default
(``--blas-threads``); the copy is single-threaded too. The load average is recorded with
every measurement. Writes benchmarks/results/bandwidth.json. Run as
``PYTHONPATH=. python benchmarks/bandwidth.py`` (on machines that set OPENBLAS_CORETYPE,
unset it and OPENBLAS_L2_SIZE for this command); ``--only-mdse`` runs 4. alone.
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
    ap.add_argument("--repeats", type=int, default=5, help="interleaved repetitions in 4. (best kept)")
    ap.add_argument("--only-mdse", action="store_true", help="run 4. only")
    return ap.parse_args(argv)


def reference_mdse(p0, proc, t):
    """MATH.md's mdse for every x0, one ``numpy.tensordot`` per axis: an independent route
    (no Kronecker groups, no levels, no blocks) to check the engine's values against, for
    a process whose p_t has no zero (the uniform one at t > 0)."""
    import numpy as np

    k, Q, sigma, L = proc.data_kernel(t), proc.Q, float(proc.rate(t)), p0.ndim
    W = Q - np.diag(np.diag(Q))

    def along(M, x, i):
        return np.moveaxis(np.tensordot(M, x, axes=([1], [i])), 0, i)

    pt = p0
    for i in range(L):
        pt = along(k, pt, i)
    zero = pt == 0
    safe = np.where(zero, 1.0, pt)
    num = np.zeros_like(pt)
    for i in range(L):
        num += along(W, pt, i)
    F = np.where(zero, 0.0, num / safe)
    del num
    logp = np.log(safe)
    for i in range(L):
        F += along(Q.T, logp, i)
    del logp, pt, safe
    for i in range(L):
        F = along(k.T, F, i)
    pos = k > 0
    logk = np.where(pos, np.log(np.where(pos, k, 1.0)), 0.0)
    # c(u) = Σ_{a≠b} Q(a,b) k(b|u) (log k(b|u) − log k(a|u) − 1)
    c = np.einsum("ab,bu,abu->u", W, k, logk[None, :, :] - logk[:, None, :] - 1.0)
    tokens = np.zeros(p0.shape)
    for i in range(L):
        shape = [1] * L
        shape[i] = -1
        tokens += c.reshape(shape)
    return sigma * (F + tokens)  # p_t > 0 everywhere for the toys here (no inf to place)


def mdse_in_copies(L, repeats):
    """4.: the pointwise mdse and its phases at S = 4^L, in copies of the table."""
    import time

    import numpy as np

    import exactdiff as ed
    from exactdiff.core import tensor as T
    from exactdiff.information.engines import factorized as FZ

    proc = ed.uniform(4)
    t = 0.5
    k, Q = proc.data_kernel(t), proc.Q
    table = ed.Distribution.dirichlet(4, L, seed=L).table
    copy = np.empty_like(table)
    held = {"pt": T.apply_all(k, table)}
    held["F"] = T.ratio_field(FZ._off_diagonal(Q), Q.T, held["pt"])
    c = FZ.token_constant(Q, k)
    steps = {
        "copy": lambda: np.copyto(copy, table),
        "push": lambda: T.apply_all(k, table),
        "field": lambda: T.ratio_field(FZ._off_diagonal(Q), Q.T, held["pt"]),
        "pull": lambda: T.apply_all(k.T, held["F"]),  # into a new table here (in place of F in the engine)
        "final": lambda: T.map_blocks(lambda o, index: (o + T.token_sum(c, L, like=o, index=index)) * 0.5, copy,
                                      index=True),
        "mdse": lambda: ed.mdse(table, proc, t, pointwise=True),
    }
    best = {name: float("inf") for name in steps}
    for _ in range(repeats):
        for name, fn in steps.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    held.clear()
    lv = len(T.levels([4] * L, L, T.CACHE_ELEMENTS))
    sweeps = {"push": lv, "field": lv, "pull": lv, "final": 1}
    engine_sweeps = sum(sweeps.values())
    values = ed.mdse(table, proc, t, pointwise=True)
    ref = reference_mdse(table, proc, t)
    agree = float(np.max(np.abs(values - ref) / np.maximum(np.abs(ref), 1.0)))
    unit = best["copy"]
    row = dict(L=L, S=4**L, table_copy_s=unit, seconds={k_: v for k_, v in best.items()},
               copies={k_: v / unit for k_, v in best.items() if k_ != "copy"},
               sweeps=sweeps, engine_sweeps=engine_sweeps, levels=lv,
               engine_copies=sum(best[k_] for k_ in sweeps) / unit,
               seconds_per_sweep=sum(best[k_] for k_ in sweeps) / engine_sweeps,
               copies_per_sweep=sum(best[k_] for k_ in sweeps) / engine_sweeps / unit,
               per_phase_copies_per_sweep={k_: best[k_] / unit / sweeps[k_] for k_ in sweeps},
               agreement_vs_tensordot=agree, load_average=os.getloadavg())
    return row


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

    from _common import write_json

    bandwidth = copy_bandwidth(args.copy_mib)
    print(f"memory bandwidth (np.copyto of {args.copy_mib} MiB, read + write): {bandwidth:.2f} GB/s; "
          f"BLAS threads: {os.environ.get('OPENBLAS_NUM_THREADS', 'default')}; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}; load average {os.getloadavg()[0]:.2f}")

    rows, goal = [], None
    if not args.only_mdse:
        rows, goal = per_axis_passes(args, bandwidth)

    print("4. the pointwise mdse in copies of the table (best of interleaved repeats)")
    print(f"{'L':>3} {'S':>10} {'copy ms':>8} {'mdse':>7} {'push':>6} {'field':>6} {'pull':>6} {'final':>6} "
          f"{'sweeps':>6} {'ms/sweep':>9} {'copies/sweep':>12} {'vs tensordot':>12} {'load':>5}")
    in_copies = []
    for L in args.L:
        r = mdse_in_copies(L, args.repeats)
        in_copies.append(r)
        cp = r["copies"]
        print(f"{L:>3} {r['S']:>10} {r['table_copy_s'] * 1e3:8.2f} {cp['mdse']:7.1f} {cp['push']:6.1f} "
              f"{cp['field']:6.1f} {cp['pull']:6.1f} {cp['final']:6.1f} {r['engine_sweeps']:>6} "
              f"{r['seconds_per_sweep'] * 1e3:9.2f} {r['copies_per_sweep']:12.2f} {r['agreement_vs_tensordot']:12.1e} "
              f"{r['load_average'][0]:5.2f}", flush=True)
    at24 = next((r for r in in_copies if r["S"] == 2**24), None)
    goal_mdse = bool(at24 and at24["copies"]["mdse"] <= 100 and at24["agreement_vs_tensordot"] <= 1e-12)
    if at24:
        print(f"goal (pointwise mdse at S = 2^24 in <= 100 table copies, values within 1e-12): "
              f"{at24['copies']['mdse']:.0f} copies, agreement {at24['agreement_vs_tensordot']:.1e}: "
              f"{'met' if goal_mdse else 'NOT met'}")
    write_json("bandwidth", dict(benchmark="bandwidth", copy_bandwidth_gb_s=bandwidth, copy_mib=args.copy_mib,
                                 blas_threads=os.environ.get("OPENBLAS_NUM_THREADS"),
                                 openblas_coretype=os.environ.get("OPENBLAS_CORETYPE"),
                                 rows=rows, goal_fraction=0.30, goal_met=goal,
                                 mdse_in_table_copies=in_copies, goal_mdse_copies=100, goal_mdse_met=goal_mdse,
                                 load_average=os.getloadavg()))


def per_axis_passes(args, bandwidth):
    """2. and 3.: every per-axis pass and the mdse counted as per-axis passes."""
    import numpy as np

    import exactdiff as ed
    from exactdiff.core import tensor as T

    from _common import best_of

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
    return rows, goal


if __name__ == "__main__":
    main()
