"""Pointwise mdse for all x0 at one t: dense/factorized ratio at S=4096 (N=4, L=6), and
the largest S the factorized engine handles within the time limit.

Writes benchmarks/results/mdse.json. Run as ``PYTHONPATH=. python benchmarks/mdse.py``.
BLAS threads are left as the environment sets them, for both engines alike.
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import exactdiff as ed

from _common import timed, write_json


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--limit", type=float, default=60.0)
    ap.add_argument("--max-L", type=int, default=12)
    args = ap.parse_args(argv)
    proc = ed.uniform(4, ed.Constant(1.0))
    p0 = ed.Distribution.dirichlet(4, 6, seed=6)
    dense, t_dense = timed(ed.mdse, p0, proc, 0.5, pointwise=True, engine="dense")
    fact, t_fact = timed(ed.mdse, p0, proc, 0.5, pointwise=True, engine="factorized")
    agree = float(np.max(np.abs(dense - fact) / np.maximum(np.abs(dense), 1e-300)))
    print(f"S=4096: dense {t_dense:.3f} s, factorized {t_fact:.5f} s, ratio {t_dense / t_fact:.0f}x, "
          f"max rel. difference {agree:.1e}")
    rows, largest = [], None
    for L in range(6, args.max_L + 1):
        try:
            p = ed.Distribution.dirichlet(4, L, seed=L)
        except MemoryError:
            break
        _, sec = timed(ed.mdse, p, proc, 0.5, pointwise=True, engine="factorized")
        rows.append({"L": L, "S": 4**L, "factorized_s": sec})
        print(f"  factorized L={L:2d} S={4**L:>9d} {sec:8.3f} s", file=sys.stderr, flush=True)
        if sec > args.limit:
            break
        largest = 4**L
    print(f"largest S within {args.limit:g} s: {largest}")
    write_json("mdse", {"dense_s": t_dense, "factorized_s": t_fact, "ratio_S4096": t_dense / t_fact,
                        "max_rel_difference": agree, "scale": rows, "largest_S": largest, "goal_ratio": 1000,
                        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"), "load_average": os.getloadavg()})


if __name__ == "__main__":
    main()
