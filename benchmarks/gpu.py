"""The GPU run: CuPy checked against NumPy on a toy, then the largest S = N^L whose
pointwise mdse fits the time budget and the GPU's memory.

Called by ``benchmarks/gpu.sh`` (which sets up the offline environment); it can also be
run by itself from the repository root with ``PYTHONPATH=.``::

    python benchmarks/gpu.py --budget 360          # on a machine with CuPy and a GPU
    python benchmarks/gpu.py --dry-run             # anywhere: NumPy stands in for CuPy

Flow
----
1. **Toy check.** On small toys (N = 3, L = 4; uniform and absorbing processes, t = 0.5)
   the pointwise mdse, the pointwise KL and the mutual information computed from a
   device table are compared with NumPy's, both by the factorized engine. The worst
   relative difference, |device − NumPy| / max(|NumPy|, 1), must be at most
   ``TOY_RTOL`` = 1e-12, and infinities must sit at the same places; otherwise the run
   stops here (exit status 3) with a message naming the quantity, and no size is timed.
2. **Growth.** For each process (uniform, N = 4, then absorbing, N = 4: tables on 5^L
   noisy states) L grows from ``--start-L``; each size makes a Dirichlet(1) table on the
   device (the host table of ``Distribution.dirichlet`` up to ``--numpy-max-L``, device
   gammas above), times the pointwise mdse at t = 0.5 with a device synchronisation (twice
   when the first call takes under a second, which includes compiling CuPy's kernels; the
   faster is kept), and up to ``--numpy-max-L`` also times NumPy and records the
   agreement. Before each size
   the run stops when
   - the estimate ``ed.memory.peak_bytes("mdse", ...)`` of the next size exceeds the
     memory limit (``ed.memory.limit_bytes``: 80 % of the GPU's memory, or
     ``--memory-limit``), or
   - the predicted time of the next size (the last size's time × the larger of the last
     growth factor and n, the factor by which the tables grow) would end past the
     process's share of the budget (half each; time the first leaves is the second's).
   The largest S done per process is the answer to "how large fits".
3. **JSON** to ``$OUT/gpu.json`` when ``OUT`` is set, else ``benchmarks/results/gpu.json``
   (``--out`` overrides): device name and memory, CuPy, CUDA runtime and driver versions,
   the toy check, per size the device and NumPy times and their agreement, the stop
   reason and the largest S per process.

With ``--dry-run`` the same flow runs with NumPy standing in for CuPy (device arrays are
NumPy arrays, synchronisation is a no-op) at tiny sizes (L <= 7 by default, 20 s
budget): it checks the script and its JSON on a machine without a GPU. Its times are
not GPU times.
"""

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import exactdiff as ed
from exactdiff.core.serialize import jsonable

ROOT = Path(__file__).resolve().parents[1]

#: agreement required between the device and NumPy on the toys (relative to max(|x|, 1))
TOY_RTOL = 1e-12
#: exit status when the device disagrees with NumPy on the toys
EXIT_TOY_MISMATCH = 3
#: time of the diffusion at which every quantity is evaluated
T = 0.5
N = 4
#: device calls faster than this are timed twice, the best kept
REPEAT_BELOW_S = 1.0


# -- the two array back ends --------------------------------------------------------------------
class CupyDevice:
    """CuPy on the current GPU."""

    name = "cupy"

    def __init__(self):
        import cupy

        self.cupy = cupy
        self.pool = cupy.get_default_memory_pool()

    def info(self):
        cp = self.cupy
        rt = cp.cuda.runtime
        props = rt.getDeviceProperties(cp.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        free, total = rt.memGetInfo()
        return dict(backend="cupy", device=name, device_bytes=int(total), device_free_bytes=int(free),
                    cupy=cp.__version__, cuda_runtime=_cuda_version(rt.runtimeGetVersion()),
                    cuda_driver=_cuda_version(rt.driverGetVersion()))

    def asarray(self, host):
        return self.cupy.asarray(host)

    def random_table(self, L, seed):
        table = self.cupy.random.default_rng(seed).standard_gamma(1.0, size=(N,) * L, dtype=self.cupy.float64)
        table /= table.sum()
        return table

    def to_host(self, x):
        return self.cupy.asnumpy(x)

    def synchronize(self):
        self.cupy.cuda.Device().synchronize()

    def free(self):
        self.synchronize()
        self.pool.free_all_blocks()

    def pool_bytes(self):
        return int(self.pool.total_bytes())


class NumpyStandIn:
    """NumPy in CuPy's place, for ``--dry-run``: the same calls, on the host."""

    name = "numpy-stand-in"

    def info(self):
        return dict(backend="numpy-stand-in", device=f"CPU ({platform.processor() or platform.machine()})",
                    device_bytes=None, device_free_bytes=None, cupy=None, cuda_runtime=None, cuda_driver=None)

    def asarray(self, host):
        return np.array(host, dtype=np.float64, copy=True)

    def random_table(self, L, seed):
        table = np.random.default_rng(seed).standard_gamma(1.0, size=(N,) * L)
        table /= table.sum()
        return table

    def to_host(self, x):
        return np.asarray(x)

    def synchronize(self):
        pass

    def free(self):
        pass

    def pool_bytes(self):
        return None


BACKENDS = {"cupy": CupyDevice, "numpy-stand-in": NumpyStandIn}


def _cuda_version(v):
    """CUDA's integer version (12040) as text ("12.4")."""
    return f"{v // 1000}.{(v % 1000) // 10}"


# -- comparisons ----------------------------------------------------------------------------------
def agreement(got, ref):
    """max |got − ref| / max(|ref|, 1) over the finite entries; ``inf`` when the
    non-finite entries differ in place or value."""
    got, ref = np.asarray(got, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    fin = np.isfinite(ref)
    if not np.array_equal(fin, np.isfinite(got)) or not np.array_equal(got[~fin], ref[~fin]):
        return math.inf
    if not fin.any():
        return 0.0
    return float(np.max(np.abs(got[fin] - ref[fin]) / np.maximum(np.abs(ref[fin]), 1.0)))


TOY_QUANTITIES = {
    "mdse (pointwise)": lambda p0, proc: ed.mdse(p0, proc, T, pointwise=True, engine="factorized"),
    "pointwise_kl": lambda p0, proc: ed.pointwise_kl(p0, proc, T, engine="factorized"),
    "mutual_information": lambda p0, proc: ed.mutual_information(p0, proc, T, engine="factorized"),
}


def toy_check(dev):
    """The device against NumPy on N = 3, L = 4 toys; a list of rows and the verdict."""
    rows = []
    for kind, make in PROCESSES.items():
        proc = make(3)
        host = ed.Distribution.dirichlet(3, 4, seed=7, zero_fraction=0.2).table
        table = dev.asarray(host)
        for quantity, f in TOY_QUANTITIES.items():
            ref = f(host, proc)
            got = dev.to_host(f(table, proc))
            rows.append(dict(process=kind, quantity=quantity, N=3, L=4, agreement=agreement(got, ref)))
    worst = max(r["agreement"] for r in rows)
    return dict(rtol=TOY_RTOL, worst=worst, passed=bool(worst <= TOY_RTOL), rows=rows)


# -- growth ----------------------------------------------------------------------------------------
PROCESSES = {"uniform": ed.uniform, "absorbing": ed.absorbing}


def one_size(dev, proc, kind, L, numpy_max_L):
    """Time the pointwise mdse for all x0 at one size on the device (and NumPy when small)."""
    start = time.perf_counter()
    dev.free()
    host = ed.Distribution.dirichlet(N, L, seed=L).table if L <= numpy_max_L else None
    table = dev.asarray(host) if host is not None else dev.random_table(L, seed=L)
    dev.synchronize()
    times = []
    while True:  # a second call when the first took under a second: the first compiles CuPy's kernels
        t0 = time.perf_counter()
        m = ed.mdse(table, proc, T, pointwise=True, engine="factorized")
        dev.synchronize()
        times.append(time.perf_counter() - t0)
        if len(times) == 2 or times[0] >= REPEAT_BELOW_S:
            break
        del m
    row = dict(process=kind, N=N, n=proc.n, L=L, S=N**L, table_states=proc.n**L, device_s=min(times),
               device_s_first=times[0],
               estimate_bytes=ed.memory.peak_bytes("mdse", N, proc.n, L, xp=ed.backend.namespace(table)),
               pool_bytes=dev.pool_bytes(), numpy_s=None, agreement=None)
    if host is not None:
        t0 = time.perf_counter()
        ref = ed.mdse(host, proc, T, pointwise=True, engine="factorized")
        row["numpy_s"] = time.perf_counter() - t0
        row["agreement"] = agreement(dev.to_host(m), ref)
    del m, table
    row["wall_s"] = time.perf_counter() - start
    return row


def grow(dev, kind, budget_s, args, xp):
    """Sizes of one process, growing L until the next one would not fit; (rows, stop)."""
    proc = PROCESSES[kind](N)
    start, rows, stop = time.perf_counter(), [], None
    limit = args.memory_limit or ed.memory.limit_bytes(xp)
    for L in range(args.start_L, args.max_L + 1):
        need = ed.memory.peak_bytes("mdse", N, proc.n, L, xp=xp)
        if need > limit:
            stop = dict(reason="memory", L=L, estimate_bytes=need, limit_bytes=limit)
            break
        elapsed = time.perf_counter() - start
        if rows:
            last = rows[-1]["wall_s"]
            growth = max(proc.n, last / rows[-2]["wall_s"] if len(rows) > 1 and rows[-2]["wall_s"] > 0 else 0.0)
            predicted = last * growth
            if elapsed + predicted > budget_s:
                stop = dict(reason="time", L=L, predicted_s=predicted, elapsed_s=elapsed, budget_s=budget_s)
                break
        try:
            row = one_size(dev, proc, kind, L, args.numpy_max_L)
        except Exception as exc:  # an allocation that failed all the same: recorded, and the end
            stop = dict(reason="error", L=L, error=f"{type(exc).__name__}: {exc}"[:500])
            break
        rows.append(row)
        agree = "-" if row["agreement"] is None else f"{row['agreement']:.1e}"
        numpy_s = "-" if row["numpy_s"] is None else f"{row['numpy_s']:.3f} s"
        print(f"  {kind:9s} L={L:2d} S={row['S']:>15,}: {dev.name} {row['device_s']:9.4f} s, NumPy {numpy_s:>9s}, "
              f"agreement {agree}, estimate {row['estimate_bytes'] / 2**30:8.3f} GiB", flush=True)
    else:
        stop = dict(reason="max_L", L=args.max_L + 1)
    return rows, stop


def default_out():
    folder = Path(os.environ["OUT"]) if os.environ.get("OUT") else ROOT / "benchmarks" / "results"
    return folder / "gpu.json"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds for the whole run (default 360; 20 with --dry-run)")
    ap.add_argument("--dry-run", action="store_true", help="NumPy stands in for CuPy, tiny sizes")
    ap.add_argument("--start-L", type=int, default=4, help="first length (default 4)")
    ap.add_argument("--max-L", type=int, default=None, help="last length tried (default 30; 7 with --dry-run)")
    ap.add_argument("--numpy-max-L", type=int, default=None,
                    help="time NumPy and compare up to this L (default 10; 5 with --dry-run)")
    ap.add_argument("--memory-limit", type=int, default=None,
                    help="bytes a size may need (default: ed.memory.limit_bytes, 80%% of the GPU's memory)")
    ap.add_argument("--out", type=Path, default=None, help="JSON path (default $OUT/gpu.json or benchmarks/results)")
    args = ap.parse_args(argv)
    dry = args.dry_run
    args.budget = args.budget if args.budget is not None else (20.0 if dry else 360.0)
    args.max_L = args.max_L if args.max_L is not None else (7 if dry else 30)
    args.numpy_max_L = args.numpy_max_L if args.numpy_max_L is not None else (5 if dry else 10)
    args.out = args.out or default_out()
    return args


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    dev = BACKENDS["numpy-stand-in" if args.dry_run else "cupy"]()
    info = dev.info()
    print(f"gpu.py: {info['backend']} on {info['device']}; budget {args.budget:g} s", flush=True)
    result = dict(benchmark="gpu", dry_run=args.dry_run, budget_s=args.budget, t=T, machine=platform.platform(),
                  python=platform.python_version(), numpy=np.__version__, exactdiff=ed.__version__, **info)

    toy = toy_check(dev)
    result["toy_check"] = toy
    print(f"1. toy check (N=3, L=4, device vs NumPy, factorized engine): worst {toy['worst']:.1e} "
          f"(rtol {TOY_RTOL:g}) {'passed' if toy['passed'] else 'FAILED'}", flush=True)
    if not toy["passed"]:
        bad = [r for r in toy["rows"] if not r["agreement"] <= TOY_RTOL]
        for r in bad:
            print(f"   {r['process']} {r['quantity']}: {r['agreement']:.3e}", file=sys.stderr)
        print(f"gpu.py: {dev.name} disagrees with NumPy beyond {TOY_RTOL:g} on the toys; stopping before the "
              "scale runs (see toy_check in the JSON).", file=sys.stderr)
        result.update(passed=False, seconds=time.perf_counter() - start)
        _write(args.out, result)
        return EXIT_TOY_MISMATCH

    xp = ed.backend.namespace(dev.asarray(np.zeros(1)))
    print(f"2. growth: pointwise mdse at t = {T}, N = {N}, largest S within the budget and memory", flush=True)
    sizes, stops, largest = [], {}, {}
    for i, kind in enumerate(PROCESSES):
        left = args.budget - (time.perf_counter() - start)
        share = left / (len(PROCESSES) - i)
        rows, stop = grow(dev, kind, share, args, xp)
        sizes += rows
        stops[kind] = stop
        largest[kind] = max((r["S"] for r in rows), default=None)
        print(f"   {kind}: largest S = {largest[kind]}, stopped at L = {stop['L']} ({stop['reason']})", flush=True)
    agreements = [r["agreement"] for r in sizes if r["agreement"] is not None]
    result.update(sizes=sizes, stops=stops, largest_S=largest,
                  worst_size_agreement=max(agreements, default=None), seconds=time.perf_counter() - start,
                  passed=bool(all(a <= TOY_RTOL for a in agreements)))
    _write(args.out, result)
    return 0 if result["passed"] else 1


def _write(path, result):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(jsonable(result), indent=2, allow_nan=False))
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
