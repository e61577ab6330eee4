"""Scale: how large a toy the factorized engine evaluates, and how fast, on this machine.

1. The pointwise mdse for all x0 at one t (t = 0.5, constant schedule):
   - uniform process, N = 4, L = 6..12 (S up to 2^24); goal: S = 2^24 within 60 s;
   - absorbing process, N = 4, L = 8..12 (tables on 5^L noisy states, 1.9 GB each at
     L = 12), with the memory estimate of ``exactdiff.memory`` and the measured peak
     resident memory (VmHWM, reset before the call; the interpreter and p0 included).
   Each size runs in a fresh subprocess so that its memory is its own.
2. The full verification of one toy (uniform, N = 4, Dirichlet(1) table, constant
   schedule): Theorem 3.1 pointwise and marginal at 16 times in [1e-6, 1e2] (the
   analytic d/dt KL against −mdse(x0, t), as ``check_theorem_3_1``), plus Theorem 3.2
   for every x0 at T = 5 (∫_0^T mdse dt by ``mdse_integral(quadrature="gauss-legendre",
   epsrel=1e-10)`` plus KL(p_{T|0} ‖ p_T) against −log p0(x0)). Goal: S = 2^20 within
   60 s; sizes grow until one takes longer than 10 minutes (or is predicted to, from the
   previous size's time × 4.5); the largest S done within 10 minutes is reported.

Every time is reported as wall-clock seconds and as CPU seconds of the process
(``time.process_time``): on a shared machine the CPU time shows the cost of the
computation itself. BLAS runs one thread by default (``--blas-threads``; OpenBLAS threads
spin while they wait, which makes two threads erratic on a loaded 2-core machine).

``--xp cupy`` runs part 1 on the GPU, one subprocess per size (the offline GPU run,
``benchmarks/gpu.sh``, has its own loop in ``benchmarks/gpu.py``): the table is made on the
device (Dirichlet(1) by normalised ``cupy.random`` gammas; for L <= ``--check-L`` the host
table of ``Distribution.dirichlet`` instead, and the values are compared with NumPy's, goal
1e-12), the time includes a device synchronisation, and the peak is the CuPy memory pool's
high-water mark. Sizes grow until ``exactdiff.memory`` refuses one (80 % of the device's
memory): the largest S that fits the device. ``--skip-verify`` leaves out part 2.

Writes benchmarks/results/scale.json (``scale_cupy.json`` with ``--xp cupy``). Run as
``PYTHONPATH=. python benchmarks/scale.py`` (about 10 minutes).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import peak_rss, reset_peak_rss  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--uniform-L", type=int, nargs="+", default=list(range(6, 13)))
    ap.add_argument("--absorbing-L", type=int, nargs="+", default=list(range(8, 13)))
    ap.add_argument("--verify-L", type=int, nargs="+", default=list(range(5, 13)),
                    help="lengths for the full verification (N=4), tried in order")
    ap.add_argument("--verify-limit", type=float, default=600.0, help="seconds (default 600)")
    ap.add_argument("--blas-threads", type=int, default=1, help="BLAS threads (0: leave the environment)")
    ap.add_argument("--xp", choices=("numpy", "cupy"), default="numpy", help="array library of part 1")
    ap.add_argument("--check-L", type=int, default=11, help="with --xp cupy: compare with NumPy up to this L")
    ap.add_argument("--skip-verify", action="store_true", help="leave out part 2")
    ap.add_argument("--child", nargs=2, metavar=("KIND", "L"), help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def child(kind, L, xp_name="numpy", check_L=11):
    """One pointwise mdse for all x0, measured; prints a JSON line."""
    import numpy as np

    import exactdiff as ed

    N = 4
    proc = ed.uniform(N) if kind == "uniform" else ed.absorbing(N)
    if xp_name == "cupy":
        return child_cupy(proc, N, L, check_L)
    p0 = ed.Distribution.dirichlet(N, L, seed=L)
    ed.mdse(ed.Distribution.dirichlet(N, 3, seed=0), proc, 0.5, pointwise=True)  # warm up
    reset = reset_peak_rss()
    start, cpu = time.perf_counter(), time.process_time()
    m = ed.mdse(p0, proc, 0.5, pointwise=True)
    sec, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps(dict(kind=kind, N=N, n=proc.n, L=L, S=N**L, table_states=proc.n**L, seconds=sec, cpu_s=cpu,
                          peak_rss_bytes=peak_rss() if reset else None,
                          p0_bytes=p0.table.nbytes, estimate_bytes=ed.memory.peak_bytes("mdse", N, proc.n, L),
                          finite=bool(np.all(np.isfinite(m))), mean=float(np.sum(p0.table * m)))))


def child_cupy(proc, N, L, check_L):
    """The same on the GPU: the table made on the device, the pool's peak, NumPy's values
    compared for small L."""
    import cupy
    import numpy as np

    import exactdiff as ed
    from exactdiff.core.backend import namespace

    kind = "uniform" if proc.n == N else "absorbing"
    ed.mdse(cupy.asarray(ed.Distribution.dirichlet(N, 3, seed=0).table), proc, 0.5, pointwise=True)  # warm up
    pool = cupy.get_default_memory_pool()
    xp = namespace(cupy.zeros(1))
    estimate = ed.memory.peak_bytes("mdse", N, proc.n, L, xp=xp)
    ed.memory.check("mdse", N, proc.n, L, xp=xp)  # refuse before making the table
    if L <= check_L:
        host = ed.Distribution.dirichlet(N, L, seed=L).table
        table = cupy.asarray(host)
    else:
        host = None
        table = cupy.random.default_rng(L).standard_gamma(1.0, size=(N,) * L, dtype=cupy.float64)
        table /= table.sum()
    cupy.cuda.Device().synchronize()
    pool.free_all_blocks()
    base = pool.used_bytes()
    start = time.perf_counter()
    m = ed.mdse(table, proc, 0.5, pointwise=True)
    cupy.cuda.Device().synchronize()
    sec = time.perf_counter() - start
    peak = pool.total_bytes()  # the pool keeps every block it allocated: its size is the high-water mark
    agree = None
    if host is not None:
        ref = ed.mdse(host, proc, 0.5, pointwise=True)
        got = cupy.asnumpy(m)
        fin = np.isfinite(ref)
        assert np.array_equal(fin, np.isfinite(got))
        agree = float(np.max(np.abs(got[fin] - ref[fin]) / np.maximum(np.abs(ref[fin]), 1.0), initial=0.0))
    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    print(json.dumps(dict(kind=kind, xp="cupy", N=N, n=proc.n, L=L, S=N**L, table_states=proc.n**L, seconds=sec,
                          cpu_s=None, peak_rss_bytes=None, peak_pool_bytes=int(peak), table_bytes=int(base),
                          p0_bytes=int(table.nbytes), estimate_bytes=estimate,
                          device=props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"]),
                          device_bytes=int(cupy.cuda.runtime.memGetInfo()[1]),
                          finite=bool(cupy.all(cupy.isfinite(m))), mean=float(cupy.dot(table.ravel(), m.ravel())),
                          agreement_vs_numpy=agree)))


def mdse_rows(kind, lengths, xp_name="numpy", check_L=11):
    rows = []
    for L in lengths:
        out = subprocess.run([sys.executable, __file__, "--child", kind, str(L), "--xp", xp_name,
                              "--check-L", str(check_L)], capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=str(ROOT)))
        if out.returncode != 0:
            print(out.stderr[-2000:], file=sys.stderr)
            rows.append(dict(kind=kind, L=L, error=out.stderr.strip().splitlines()[-1] if out.stderr else "failed"))
            break
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        if xp_name == "cupy":
            agree = row["agreement_vs_numpy"]
            print(f"  {kind:9s} L={L:2d} S={row['S']:>13,} tables {row['table_states']:>14,}: {row['seconds']:8.3f} s "
                  f"(GPU), estimate {row['estimate_bytes'] / 2**30:7.2f} GiB, pool peak "
                  f"{row['peak_pool_bytes'] / 2**30:7.2f} GiB, vs NumPy {'-' if agree is None else f'{agree:.1e}'}",
                  flush=True)
            continue
        rss = row["peak_rss_bytes"]
        print(f"  {kind:9s} L={L:2d} S={row['S']:>9,} tables {row['table_states']:>12,}: {row['seconds']:8.3f} s "
              f"(CPU {row['cpu_s']:8.3f} s), "
              f"estimate {row['estimate_bytes'] / 2**30:6.2f} GiB, peak RSS "
              f"{'n/a' if rss is None else f'{rss / 2**30:6.2f} GiB'}", flush=True)
    return rows


def verify_toy(L, T=5.0, n_times=16):
    """Theorem 3.1 at 16 times and Theorem 3.2 at T for every x0; returns a dict."""
    import numpy as np

    import exactdiff as ed

    N = 4
    proc = ed.uniform(N, ed.Constant(1.0))
    p0 = ed.Distribution.dirichlet(N, L, seed=L)
    table = p0.table
    support = table > 0
    start, cpu = time.perf_counter(), time.process_time()
    worst_pointwise = worst_marginal = 0.0
    for t in np.logspace(-6, 2, n_times):
        d = ed.pointwise_kl_derivative(table, proc, t)
        m = ed.mdse(table, proc, t, pointwise=True)
        floor = proc.rate(t) * L * float(np.abs(np.diag(proc.Q)).max())
        scale = np.maximum(np.maximum(np.abs(d), np.abs(m)), floor)
        worst_pointwise = max(worst_pointwise, float(np.max(np.abs(d + m)[support] / scale[support])))
        dI, mm = float(table[support] @ d[support]), float(table[support] @ m[support])
        worst_marginal = max(worst_marginal, abs(dI + mm) / max(abs(dI), abs(mm), floor))
        del d, m, scale
    t31 = time.perf_counter() - start
    calls = [0]
    mdse = ed.mdse

    def counted(*a, **k):
        calls[0] += 1
        return mdse(*a, **k)

    from exactdiff.information import integrals

    integrals.mdse = counted
    try:
        integral, err = ed.mdse_integral(table, proc, T, pointwise=True, quadrature="gauss-legendre", epsrel=1e-10)
    finally:
        integrals.mdse = mdse
    nll = -np.log(table[support])
    rhs = integral[support] + ed.pointwise_kl(table, proc, T)[support]
    resid32 = float(np.max(np.abs(rhs - nll) / nll))
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    return dict(L=L, S=N**L, T=T, times=n_times, seconds=total, cpu_s=cpu, theorem_3_1_s=t31, theorem_3_2_s=total - t31,
                theorem_3_1_pointwise_residual=worst_pointwise, theorem_3_1_marginal_residual=worst_marginal,
                theorem_3_2_residual=resid32, quadrature_error_estimate=float(err), mdse_evaluations=calls[0],
                passed=bool(worst_pointwise <= 1e-10 and worst_marginal <= 1e-10 and resid32 <= 1e-8))


def main(argv=None):
    args = parse_args(argv)
    if args.blas_threads > 0:  # before numpy loads its BLAS; inherited by the children
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.blas_threads)
    if args.child:
        return child(args.child[0], int(args.child[1]), args.xp, args.check_L)
    from _common import write_json

    load_start = os.getloadavg()
    print(f"load average at start: {load_start[0]:.2f} ({os.cpu_count()} cores)")
    print(f"1. pointwise mdse for all x0 at t = 0.5 (fresh process per size, {args.xp})")
    uniform = mdse_rows("uniform", args.uniform_L, args.xp, args.check_L)
    absorbing = mdse_rows("absorbing", args.absorbing_L, args.xp, args.check_L)
    at24 = next((r for r in uniform if r.get("S") == 2**24 and "seconds" in r), None)
    print(f"   goal S = 2^24 within 60 s: {at24['seconds']:.2f} s" if at24 else "   S = 2^24 not reached")
    largest = {kind: max((r["S"] for r in rows if "seconds" in r), default=None)
               for kind, rows in (("uniform", uniform), ("absorbing", absorbing))}
    print(f"   largest S done: {largest}")
    if args.skip_verify:
        write_json(f"scale_{args.xp}" if args.xp != "numpy" else "scale",
                   dict(benchmark="scale", xp=args.xp, mdse_uniform=uniform, mdse_absorbing=absorbing,
                        largest_S=largest, mdse_2_24_s=at24["seconds"] if at24 else None,
                        blas_threads=os.environ.get("OPENBLAS_NUM_THREADS"),
                        load_average_at_start=load_start, load_average_at_end=os.getloadavg()))
        return

    print("2. full verification: Theorem 3.1 at 16 times + Theorem 3.2 for all x0 (uniform, N=4, T=5)")
    print(f"{'L':>4} {'S':>10} {'total s':>9} {'CPU s':>8} {'3.1 s':>7} {'3.2 s':>8} {'evals':>6} {'3.1 resid':>10} "
          f"{'3.2 resid':>10} {'quad err':>9}")
    verify, largest, skipped = [], None, None
    previous = None
    for L in args.verify_L:
        if previous is not None and previous * 4.5 > args.verify_limit:
            skipped = dict(L=L, S=4**L, predicted_s=previous * 4.5,
                           reason=f"predicted {previous * 4.5:.0f} s (previous size × 4.5) > {args.verify_limit:g} s")
            print(f"{L:>4} {4**L:>10} skipped: {skipped['reason']}")
            break
        row = verify_toy(L)
        verify.append(row)
        print(f"{L:>4} {row['S']:>10} {row['seconds']:9.2f} {row['cpu_s']:8.2f} {row['theorem_3_1_s']:7.2f} "
              f"{row['theorem_3_2_s']:8.2f} "
              f"{row['mdse_evaluations']:>6} {row['theorem_3_1_pointwise_residual']:10.1e} "
              f"{row['theorem_3_2_residual']:10.1e} {row['quadrature_error_estimate']:9.1e}", flush=True)
        previous = row["seconds"]
        if row["seconds"] <= args.verify_limit and row["passed"]:
            largest = row["S"]
        if row["seconds"] > args.verify_limit:
            break
    at20 = next((r for r in verify if r["S"] == 2**20), None)
    if at20:
        print(f"   goal S = 2^20 within 60 s: {at20['seconds']:.1f} s, CPU {at20['cpu_s']:.1f} s "
              f"({'met' if at20['seconds'] <= 60 else 'NOT met'})")
    print(f"   largest S verified within {args.verify_limit:g} s: {largest}")
    write_json(f"scale_{args.xp}" if args.xp != "numpy" else "scale",
               dict(benchmark="scale", xp=args.xp, mdse_uniform=uniform, mdse_absorbing=absorbing, largest_S=largest,
                             goal_mdse_2_24_s=60.0, mdse_2_24_s=at24["seconds"] if at24 else None,
                             verification=verify, verification_skipped=skipped,
                             goal_verify_2_20_s=60.0, verify_2_20_s=at20["seconds"] if at20 else None,
                             largest_verified_S_within_limit=largest, verify_limit_s=args.verify_limit,
                             blas_threads=os.environ.get("OPENBLAS_NUM_THREADS"),
                             load_average_at_start=load_start, load_average_at_end=os.getloadavg()))


if __name__ == "__main__":
    main()
