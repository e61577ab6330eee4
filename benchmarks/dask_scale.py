"""Dask at scale: the pointwise mdse for all x0 on a ``dask.distributed.LocalCluster``.

Setup: a LocalCluster of ``--workers`` worker processes (default 2), one thread each, at
most ``--memory-limit`` each (default 8 GiB; Dask's default spilling to disk left on),
BLAS on one thread. The uniform process, N = 4, t = 0.5, a Dirichlet(1) table made on
the workers (normalised gammas of ``dask.array.random``, persisted before any timing), so
the client never holds a table.

1. **S = 2^24 (L = 12): Dask against NumPy in core.** The same table, brought into this
   process, through ``ed.mdse(table, proc, t, pointwise=True)`` in NumPy (best of
   ``--repeats``, while the workers are idle), and on the cluster (best of ``--repeats``,
   the result persisted on the workers; the time to gather it into the client is reported
   apart), once with the chunks ``exactdiff.memory.dask_layout`` picks and once with 16
   chunks (two leading axes cut: four rechunks of the table through the workers). Goal:
   Dask / NumPy <= 2. The two results agree to ``agreement`` (goal 1e-12, relative to
   max(|value|, 1)).
2. **The largest S within 10 minutes.** L = 13, 14, 15 (S = 2^26, 2^28, 2^30) in turn, once
   each, until a size is refused by ``exactdiff.memory`` (a ``ValueError`` that states the
   memory needed per worker, raised before anything is computed), would not fit in the
   free memory of this machine, is predicted (4.5 × the previous size's time) to take
   longer than ``--time-limit`` (600 s), or fails. For each: the time, the peak resident
   memory of each worker process (VmHWM, reset before the call), the bytes Dask spilled to
   disk, the estimate of ``exactdiff.memory.dask_peak_bytes`` and E[mdse(x0)] as a check
   that the values are finite. Goal: S = 2^28 or more.

The load average (2 cores, shared) is recorded with every measurement. Writes
benchmarks/results/dask_scale.json and prints a table. Run as
``PYTHONPATH=. python benchmarks/dask_scale.py`` (a few minutes; at least ~18 GB free for
S = 2^28).
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import peak_rss, reset_peak_rss  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="8GiB", help="per worker (default 8GiB)")
    ap.add_argument("--repeats", type=int, default=2, help="timings at S = 2^24 (best kept)")
    ap.add_argument("--largest-L", type=int, nargs="*", default=[13, 14, 15], help="lengths tried in part 2")
    ap.add_argument("--time-limit", type=float, default=600.0, help="seconds (part 2)")
    ap.add_argument("--skip-compare", action="store_true", help="leave out part 1")
    return ap.parse_args(argv)


def _free_bytes():
    with open("/proc/meminfo") as fh:
        info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in fh}
    return info.get("MemAvailable", 0)


def _spilled(dask_worker):
    """Bytes this worker holds on disk now (0 when its store does not say)."""
    data = dask_worker.data
    slow = getattr(data, "slow", None)
    try:
        return int(sum(getattr(slow, "weight_by_key", {}).values())) if slow is not None else 0
    except Exception:  # the store's layout changes between versions: report 0
        return 0


def dirichlet_on_workers(L, cut, seed):
    """A Dirichlet(1) table over (4,)*L made and persisted on the workers, chunked with
    size 1 along ``cut`` leading axes."""
    import dask.array as da
    from distributed import wait

    g = da.random.default_rng(seed).gamma(1.0, size=(4,) * L, chunks=(1,) * cut + (4,) * (L - cut))
    x = (g / g.sum()).persist()
    wait(x)
    return x


def timed_mdse(x, proc, t):
    """(seconds of ed.mdse on the cluster, result persisted; seconds to gather it; result)."""
    from distributed import wait

    import exactdiff as ed

    start = time.perf_counter()
    m = ed.mdse(x, proc, t, pointwise=True)
    wait(m)
    sec = time.perf_counter() - start
    start = time.perf_counter()
    host = m.compute()
    return sec, time.perf_counter() - start, host


def compare_2_24(client, args):
    import numpy as np

    import exactdiff as ed
    from exactdiff.core import memory

    L, t = 12, 0.5
    proc = ed.uniform(4)
    cut_default = memory.dask_layout(4, 4, L)
    x = dirichlet_on_workers(L, 2, seed=L)
    host_table = x.compute()
    numpy_s, ref = float("inf"), None
    for _ in range(args.repeats):
        start = time.perf_counter()
        ref = ed.mdse(host_table, proc, t, pointwise=True)
        numpy_s = min(numpy_s, time.perf_counter() - start)
    rows = []
    for label, cut in (("dask_layout", cut_default), ("16 chunks", 2)):
        xc = x.rechunk((1,) * cut + (4,) * (L - cut)).persist()
        best, gather, values = float("inf"), None, None
        for i in range(args.repeats):  # a new t each time: Dask would reuse a result still in memory
            sec, gathered, host = timed_mdse(xc, proc, t + 1e-3 * i)
            best = min(best, sec)
            if i == 0:
                gather, values = gathered, host
        agree = float(np.max(np.abs(values - ref) / np.maximum(np.abs(ref), 1.0)))
        rows.append(dict(layout=label, cut=cut, chunks=4**cut, dask_s=best, gather_s=gather, numpy_s=numpy_s,
                         ratio=best / numpy_s, agreement=agree, load_average=os.getloadavg()))
        print(f"  S=2^24 {label:12s} ({4**cut:2d} chunks): Dask {best:7.2f} s (+ gather {gather:5.2f} s), "
              f"NumPy {numpy_s:6.2f} s, ratio {best / numpy_s:5.2f}, agreement {agree:.1e}, "
              f"load {os.getloadavg()[0]:.2f}", flush=True)
        del xc
    del x, host_table
    return rows


def largest(client, args):
    import numpy as np

    import exactdiff as ed
    from exactdiff.core import memory

    t = 0.5
    proc = ed.uniform(4)
    workers, threads, per_worker = memory._dask_capacity()
    rows, previous = [], None
    for L in args.largest_L:
        S = 4**L
        cut = memory.dask_layout(4, 4, L)
        est = memory.dask_peak_bytes("mdse", 4, 4, L, cut, workers, threads)
        row = dict(L=L, S=S, cut=cut, chunks=4**cut, estimate=est, free_bytes_before=_free_bytes(),
                   load_average=os.getloadavg())
        try:
            memory.check("mdse", 4, 4, L, cut=cut)  # refuse before the table is made
        except ValueError as exc:
            row["refused"] = str(exc)
            print(f"  L={L} S=2^{2 * L}: refused: {exc}", flush=True)
            rows.append(row)
            break
        if previous is not None and previous * 4.5 > args.time_limit:
            row["skipped"] = f"predicted {previous * 4.5:.0f} s (previous size × 4.5) > {args.time_limit:g} s"
        elif est["total"] + 2**30 > _free_bytes():
            row["skipped"] = (f"needs about {est['total'] / 2**30:.1f} GiB across the workers, this machine has "
                              f"{_free_bytes() / 2**30:.1f} GiB free")
        if "skipped" in row:
            print(f"  L={L} S=2^{2 * L}: skipped: {row['skipped']}", flush=True)
            rows.append(row)
            break
        try:
            x = dirichlet_on_workers(L, cut, seed=L)
            client.run(reset_peak_rss)
            sec, m = None, None
            start = time.perf_counter()
            from distributed import wait

            m = ed.mdse(x, proc, t, pointwise=True)
            wait(m)
            sec = time.perf_counter() - start
            peaks = client.run(peak_rss)
            spilled = client.run(_spilled)
            mean = float((x * m).sum().compute())
            finite = bool(np.isfinite(mean))
            row.update(seconds=sec, peak_worker_bytes=max(peaks.values()), peak_worker_bytes_each=list(peaks.values()),
                       spilled_bytes=sum(spilled.values()), mean_mdse=mean, finite=finite,
                       load_average_after=os.getloadavg())
            print(f"  L={L} S=2^{2 * L} ({4**cut} chunks): {sec:7.1f} s, peak worker "
                  f"{max(peaks.values()) / 2**30:5.2f} GiB (estimate {est['per_worker'] / 2**30:5.2f} GiB per worker, "
                  f"{est['total'] / 2**30:5.1f} GiB in all), spilled {sum(spilled.values()) / 2**30:4.2f} GiB, "
                  f"E[mdse] {mean:.6g}, load {os.getloadavg()[0]:.2f}", flush=True)
            previous = sec
            del x, m
        except ValueError as exc:  # refused by exactdiff.memory before computing
            row["refused"] = str(exc)
            print(f"  L={L} S=2^{2 * L}: refused: {exc}", flush=True)
            rows.append(row)
            break
        except Exception as exc:  # a worker died or ran out of memory: recorded, the run stops
            row["error"] = f"{type(exc).__name__}: {exc}"
            print(f"  L={L} S=2^{2 * L}: failed: {row['error']}", flush=True)
            rows.append(row)
            break
        rows.append(row)
        if sec > args.time_limit:
            break
    return rows


def main(argv=None):
    args = parse_args(argv)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    import dask
    from distributed import Client, LocalCluster

    from _common import write_json

    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores); free memory "
          f"{_free_bytes() / 2**30:.1f} GiB; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}")
    env = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE",
                                      "OPENBLAS_L2_SIZE", "PYTHONPATH") if k in os.environ}
    with dask.config.set({"distributed.worker.daemon": False}), \
            LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, memory_limit=args.memory_limit,
                         dashboard_address=":0", env=env) as cluster, Client(cluster) as client:
        print(f"LocalCluster: {args.workers} worker processes × 1 thread, memory limit {args.memory_limit} each")
        compare = [] if args.skip_compare else compare_2_24(client, args)
        print("2. the largest S within the time limit")
        big = largest(client, args)
    done = [r for r in big if "seconds" in r and r["seconds"] <= args.time_limit and r.get("finite")]
    best = max(done, key=lambda r: r["S"], default=None)
    default = next((r for r in compare if r["layout"] == "dask_layout"), None)
    chunked = next((r for r in compare if r["layout"] == "16 chunks"), None)
    print()
    print(f"{'measure':44s} {'value':>22s} {'goal':>12s}")
    if default:
        print(f"{'S=2^24 Dask/NumPy (dask_layout chunks)':44s} {default['ratio']:22.2f} {'<= 2':>12s}")
        print(f"{'S=2^24 Dask/NumPy (16 chunks)':44s} {chunked['ratio']:22.2f} {'<= 2':>12s}")
        print(f"{'S=2^24 agreement with NumPy':44s} {max(default['agreement'], chunked['agreement']):22.1e} "
              f"{'<= 1e-12':>12s}")
    if best:
        print(f"{'largest S within the time limit':44s} {'2^' + str(2 * best['L']):>22s} {'>= 2^28':>12s}")
        print(f"{'  its time':44s} {best['seconds']:20.1f} s {'<= 600 s':>12s}")
        print(f"{'  peak worker memory':44s} {best['peak_worker_bytes'] / 2**30:18.2f} GiB "
              f"{'<= ' + args.memory_limit:>12s}")
    write_json("dask_scale", dict(benchmark="dask_scale", workers=args.workers, threads_per_worker=1,
                                  memory_limit=args.memory_limit, compare_2_24=compare, largest=big,
                                  largest_S_within_limit=best["S"] if best else None,
                                  goal_ratio=2.0, goal_largest_S=2**28, time_limit_s=args.time_limit,
                                  openblas_coretype=os.environ.get("OPENBLAS_CORETYPE"),
                                  load_average_at_end=os.getloadavg()))


if __name__ == "__main__":
    main()
