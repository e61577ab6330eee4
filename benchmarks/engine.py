"""Dense against factorized: the pointwise KL for all x0, uniform process, N=4, L=4..10.

Prints a table, the dense/factorized ratio at L=6 (S=4096) measured in this run, and the
largest L each engine handled within the time limit. Writes benchmarks/results/engine.json.
Not a test: run it as ``python benchmarks/engine.py``.
"""

import argparse
import sys

import numpy as np

import exactdiff as ed

from _common import timed, write_json


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--limit", type=float, default=60.0, help="seconds per engine and size (default 60)")
    ap.add_argument("--max-L", type=int, default=10)
    args = ap.parse_args(argv)
    proc = ed.uniform(4, ed.Constant(1.0))
    rows, largest = [], {"dense": None, "factorized": None}
    alive = {"dense": True, "factorized": True}
    for L in range(4, args.max_L + 1):
        p0 = ed.Distribution.dirichlet(4, L, seed=L)
        row = {"L": L, "S": 4**L}
        for engine in ("dense", "factorized"):
            if not alive[engine]:
                row[engine] = None
                continue
            last = rows[-1].get(engine) if rows else None
            if engine == "dense" and last and last * 4**3 > args.limit * 4:
                # the dense cost grows like S^3: skip a size predicted far beyond the limit
                print(f"  dense L={L}: skipped, predicted {last * 64:.0f} s", file=sys.stderr)
                alive[engine] = False
                row[engine] = None
                continue
            try:
                kl, sec = timed(ed.pointwise_kl, p0, proc, 0.5, engine=engine)
            except ValueError as exc:  # refused before allocating
                print(f"  {engine} L={L}: refused: {exc}", file=sys.stderr)
                alive[engine] = False
                row[engine] = None
                continue
            row[engine] = sec
            row[f"{engine}_checksum"] = float(np.sum(kl * p0.table))
            if sec <= args.limit:
                largest[engine] = L
            else:
                alive[engine] = False
            print(f"  L={L} S={4**L:>8d} {engine:10s} {sec:9.4f} s", file=sys.stderr, flush=True)
        rows.append(row)
    print(f"{'L':>3} {'S':>9} {'dense [s]':>12} {'factorized [s]':>15} {'ratio':>9}")
    for r in rows:
        d, f = r.get("dense"), r.get("factorized")
        ratio = f"{d / f:9.0f}" if d and f else "        -"
        print(f"{r['L']:>3} {r['S']:>9} {d if d is not None else float('nan'):12.4f} {f if f is not None else float('nan'):15.5f} {ratio}")
    at6 = next(r for r in rows if r["L"] == 6)
    ratio6 = at6["dense"] / at6["factorized"] if at6.get("dense") and at6.get("factorized") else None
    print(f"dense/factorized at L=6 (S=4096): {ratio6:.0f}x" if ratio6 else "dense/factorized at L=6: n/a")
    print(f"largest L within {args.limit:g} s: dense {largest['dense']}, factorized {largest['factorized']}")
    write_json("engine", {"rows": rows, "ratio_L6": ratio6, "largest_L": largest, "limit_s": args.limit})


if __name__ == "__main__":
    main()
