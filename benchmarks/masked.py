"""Masked-diffusion benchmarks, measured in one run:

1. the exact time-free NLL (Theorem 4.1, every unmasked set) for all 128 sequences of the
   paper's toy (``sequence_eval.json``, or the paper's recipe with seed 0 when absent),
   by the per-sequence subset sum and by the all-x0 Beta-weighted subset sums;
2. the exact conditional NLL by the full subset sum for 64 prompt/response pairs (16 + 16)
   of the order-4 chain (runs ``markov_conditional.py``; goal: under 60 s in total).

Writes benchmarks/results/masked.json (and markov_conditional.json).
Run as ``python benchmarks/masked.py`` with the package installed.
"""

import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small products: one BLAS thread is fastest

from pathlib import Path

import numpy as np

import exactdiff as ed

from _common import timed, write_json

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main():
    path = DATA / "sequence_eval.json"
    if path.exists():
        p0 = ed.load_distribution(path, alphabet="ATGC")
        source = str(path)
    else:
        p0 = ed.Distribution.paper_toy(seed=0)
        source = "paper recipe, seed 0 (shared data absent)"
    seqs = [tuple(int(v) for v in x) for x in np.argwhere(p0.table > 0)]
    nll = np.array([-np.log(p0.table[x]) for x in seqs])
    per_seq, t_seq = timed(lambda: np.array([ed.time_free_nll(p0, x) for x in seqs]))
    all_x0, t_all = timed(lambda p: ed.mdce_integral(p, Lambda=1.0), p0)
    vec = np.array([all_x0[x] for x in seqs])
    err_seq = float(np.max(np.abs(per_seq - nll) / nll))
    err_vec = float(np.max(np.abs(vec - nll) / nll))
    print(f"time-free NLL, {len(seqs)} sequences ({source}):")
    print(f"  per-sequence subset sums : {t_seq:8.3f} s   max rel. error {err_seq:.1e}")
    print(f"  all-x0 Beta-weighted h_k : {t_all:8.3f} s   max rel. error {err_vec:.1e}")
    write_json("masked", {"source": source, "n_sequences": len(seqs), "time_free_per_sequence_s": t_seq,
                          "time_free_all_x0_s": t_all, "max_rel_error_per_sequence": err_seq,
                          "max_rel_error_all_x0": err_vec})
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import markov_conditional

    markov_conditional.main(["--pairs", "64", "--blas-threads", "0"])


if __name__ == "__main__":
    main()
