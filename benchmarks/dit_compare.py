"""Against dit: the exact mutual information I(x0; x_t) of the joint (x0, x_t) at S = 1024.

The toy: N = 4, L = 5 (S = 1024), a Dirichlet(1) table (seed 5), the uniform process with
a constant schedule, t = 0.5. The joint table J[x0, x] = p0(x0)·p_{t|0}(x|x0), with
p_{t|0} = k_t ⊗ … ⊗ k_t (S × S, 2^20 entries), is built once with NumPy and handed to
dit (``dit.Distribution.from_ndarray``); dit's ``shannon.mutual_information`` reports
bits, so it is multiplied by ln 2 (``set_base('e')`` gave wrong KL values in dit 2.x).
exactdiff computes I from p0 alone (``mutual_information``, factorized engine, and the
dense engine as a second route). Goal: the same answer to 1e-10; the speed ratio is
dit's time (building its distribution, and computing I) over exactdiff's, measured in
this run (one BLAS thread by default).

Writes benchmarks/results/dit_compare.json. Run as
``PYTHONPATH=. python benchmarks/dit_compare.py``.
"""

import argparse
import os
import sys
import time
from functools import reduce
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--L", type=int, default=5, help="length (N=4): S = 4^L (default 5, S = 1024)")
    ap.add_argument("--t", type=float, default=0.5)
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="BLAS threads (default 1; 0 leaves the environment). With two OpenBLAS threads "
                         "scipy's expm of a 4×4 generator took 1.1 ms instead of 18 µs here.")
    args = ap.parse_args(argv)
    if args.blas_threads > 0:  # before numpy loads its BLAS
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.blas_threads)

    import dit
    import numpy as np

    import exactdiff as ed

    from _common import best_of, write_json

    N, L, t = 4, args.L, args.t
    p0 = ed.Distribution.dirichlet(N, L, seed=5)
    proc = ed.uniform(N, ed.Constant(1.0))
    S = N**L

    t_fact, I_fact = best_of(lambda: ed.mutual_information(p0, proc, t, engine="factorized"), 20)
    t_dense, I_dense = best_of(lambda: ed.mutual_information(p0, proc, t, engine="dense"), 1)

    def joint():
        k = proc.kernel(t)
        P = reduce(np.kron, [k] * L)  # P[x, x0] = p_{t|0}(x | x0), C order
        return p0.table.ravel()[:, None] * P.T  # J[x0, x]

    t_joint, J = best_of(joint, 1)
    start = time.perf_counter()
    d = dit.Distribution.from_ndarray(J)
    t_build = time.perf_counter() - start
    start = time.perf_counter()
    I_bits = dit.shannon.mutual_information(d, [0], [1])
    t_dit = time.perf_counter() - start
    I_dit = float(np.log(2.0) * I_bits)

    diff = abs(I_fact - I_dit)
    rel = diff / abs(I_dit)
    ok = rel <= 1e-10
    print(f"I(x0; x_t) at S={S} (N={N}, L={L}, uniform, t={t}), nats:")
    print(f"  exactdiff factorized {I_fact:.15f}  {t_fact * 1e3:9.3f} ms")
    print(f"  exactdiff dense      {I_dense:.15f}  {t_dense * 1e3:9.3f} ms")
    print(f"  dit (bits × ln 2)    {I_dit:.15f}  {t_dit * 1e3:9.1f} ms (+ {t_build:.1f} s to build its "
          f"distribution of {len(d.outcomes):,} outcomes from the joint, + {t_joint * 1e3:.0f} ms for the joint)")
    print(f"  |exactdiff − dit| = {diff:.2e} nats (relative {rel:.1e}); goal 1e-10: {'met' if ok else 'NOT met'}")
    print(f"  speed: dit's I alone / exactdiff = {t_dit / t_fact:,.0f}×; dit with building its distribution "
          f"/ exactdiff = {(t_dit + t_build) / t_fact:,.0f}×")
    write_json("dit_compare", dict(benchmark="dit_compare", N=N, L=L, S=S, t=t, dit_version=dit.__version__,
                                   I_exactdiff_factorized=I_fact, I_exactdiff_dense=I_dense, I_dit=I_dit,
                                   abs_difference=diff, rel_difference=rel, goal_rel=1e-10, goal_met=ok,
                                   exactdiff_factorized_s=t_fact, exactdiff_dense_s=t_dense, dit_mi_s=t_dit,
                                   dit_build_s=t_build, joint_s=t_joint, outcomes=len(d.outcomes),
                                   ratio_dit_mi=t_dit / t_fact, ratio_dit_total=(t_dit + t_build) / t_fact,
                                   blas_threads=os.environ.get("OPENBLAS_NUM_THREADS"), load_average=os.getloadavg()))


if __name__ == "__main__":
    main()
