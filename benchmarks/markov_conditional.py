"""Benchmark: the exact conditional NLL of Corollary 4.3 on the paper's Fig. 1b setting.

A 4th-order Markov chain over "ATGC" (``markov_data_table.json`` of the shared data, or,
if that file is absent, a seeded random order-4 chain), prompt/response pairs of 16 + 16
letters sampled from it with a fixed seed. For every pair,

    −log p0(x^T | x^C) = H_16 Σ_{J ⊊ T} p(J) Σ_{i ∈ T∖J} −log p0(x^i | x^{J ∪ C}),

with C = positions 0..15 and T = 16..31, is computed by the full subset sum (65,535
subsets J, 524,288 exact conditionals) with ``MarkovChain.conditional_nll``, and checked
against ``MarkovChain.exact_conditional_nll`` (−log p0(x^{T∪C}) + log p0(x^C) by two
forward passes). Optionally (``--baseline-pairs``) the same sum is timed by the direct
route: ``log_conditionals`` on all 65,535 masks at once.

Writes ``benchmarks/results/markov_conditional.json``.

Usage::

    PYTHONPATH=. python benchmarks/markov_conditional.py [--pairs 64] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "markov_data_table.json"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "markov_conditional.json"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=64, help="prompt/response pairs (default 64)")
    ap.add_argument("--prompt", type=int, default=16, help="prompt length |C| (default 16)")
    ap.add_argument("--response", type=int, default=16, help="response length |T| (default 16)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the sampled pairs (default 0)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the chain, {context: {letter: p}} JSON")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON results")
    ap.add_argument("--baseline-pairs", type=int, default=0,
                    help="also time the direct batched forward-backward over all masks for this many pairs")
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="BLAS threads (default 1; 0 leaves the environment as it is). The matrix "
                         "products here are small, and several BLAS threads on a shared 2-core "
                         "machine were 10-20x slower than one.")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.blas_threads > 0:  # must be set before numpy loads its BLAS
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.blas_threads)
    sys.path.insert(0, str(ROOT))

    import json
    import math
    import platform
    import time

    import numpy as np

    import exactdiff as ed
    from exactdiff.markov import MarkovChain

    t0 = time.perf_counter()
    if args.data.exists():
        chain = MarkovChain.from_dict(json.loads(args.data.read_text()))
        source = str(args.data)
        print(f"chain: {source} (order {chain.order}, alphabet {chain.alphabet!r}, "
              f"min transition {chain.transitions.min():.3g})")
    else:
        rng_chain = np.random.default_rng(12345)
        T = rng_chain.dirichlet(np.full(4, 0.5), size=4**4).reshape((4,) * 5)
        chain = MarkovChain(T, alphabet="ATGC")
        source = "random order-4 chain over ATGC, rows Dirichlet(0.5), seed 12345"
        print(f"NOTE: {args.data} is absent; using a seeded {source} instead.")
    load_s = time.perf_counter() - t0

    P, R = args.prompt, args.response
    L = P + R
    context, target = list(range(P)), list(range(P, L))
    seqs = chain.sample(args.pairs, L, np.random.default_rng(args.seed))
    n_subsets = 2**R - 1
    n_terms = R * 2 ** (R - 1)
    print(f"{args.pairs} pairs of {P} + {R} letters, seed {args.seed}; "
          f"{n_subsets:,} subsets J and {n_terms:,} conditionals per pair")

    records = []
    total_sum_s = 0.0
    header = f"{'pair':>4}  {'prompt':<{P}}  {'response':<{R}}  {'subset sum':>18}  {'forward passes':>18}  {'rel err':>9}  {'time s':>7}"
    print(header)
    print("-" * len(header))
    for p, x in enumerate(seqs):
        text = "".join(chain.alphabet[v] for v in x)
        t = time.perf_counter()
        nll_sum = ed.conditional_nll(chain, text, target, context)
        dt = time.perf_counter() - t
        total_sum_s += dt
        t = time.perf_counter()
        nll_exact = chain.exact_conditional_nll(text, target, context)
        dt_exact = time.perf_counter() - t
        abs_err = abs(nll_sum - nll_exact)
        rel_err = abs_err / abs(nll_exact)
        records.append(dict(pair=p, prompt=text[:P], response=text[P:], subset_sum_nll=nll_sum,
                            exact_nll=nll_exact, abs_err=abs_err, rel_err=rel_err,
                            subset_sum_s=dt, exact_s=dt_exact))
        print(f"{p:>4}  {text[:P]}  {text[P:]}  {nll_sum:>18.12f}  {nll_exact:>18.12f}  "
              f"{rel_err:>9.2e}  {dt:>7.3f}", flush=True)

    baseline = []
    if args.baseline_pairs > 0:
        masks = np.zeros((n_subsets, L), dtype=bool)
        masks[:, context] = True
        codes = np.arange(n_subsets)
        for b in range(R):
            masks[:, P + b] = (codes >> b) & 1
        sizes = masks[:, P:].sum(axis=1)
        weights = np.array([1.0 / ((R - m) * math.comb(R, m)) for m in range(R)])[sizes]
        for p, x in enumerate(seqs[: args.baseline_pairs]):
            t = time.perf_counter()
            lc = chain.log_conditionals(x, masks)[:, P:]
            nll_direct = float(weights @ -np.where(masks[:, P:], 0.0, lc).sum(axis=1))
            dt = time.perf_counter() - t
            baseline.append(dict(pair=p, direct_nll=nll_direct, direct_s=dt,
                                 rel_err_vs_exact=abs(nll_direct - records[p]["exact_nll"]) / records[p]["exact_nll"]))
            print(f"baseline pair {p}: direct batched forward-backward over {n_subsets:,} masks "
                  f"{dt:.2f} s, NLL {nll_direct:.12f}", flush=True)

    max_abs = max(r["abs_err"] for r in records)
    max_rel = max(r["rel_err"] for r in records)
    times = [r["subset_sum_s"] for r in records]
    summary = dict(
        pairs=args.pairs, total_subset_sum_s=total_sum_s, mean_s=total_sum_s / args.pairs,
        max_s=max(times), max_abs_err=max_abs, max_rel_err=max_rel,
        mean_nll=float(np.mean([r["exact_nll"] for r in records])),
    )
    print("-" * len(header))
    print(f"subset sums for {args.pairs} pairs: {total_sum_s:.2f} s in total, {summary['mean_s'] * 1e3:.1f} ms "
          f"per pair (max {summary['max_s'] * 1e3:.1f} ms); chain load {load_s:.2f} s")
    print(f"max |subset sum − forward passes| = {max_abs:.3g} nats, max relative {max_rel:.3g}")
    if baseline:
        mean_direct = float(np.mean([b["direct_s"] for b in baseline]))
        summary["baseline_direct_mean_s"] = mean_direct
        print(f"direct route: {mean_direct:.2f} s per pair, {mean_direct / summary['mean_s']:.0f}x slower")

    result = dict(
        benchmark="markov_conditional",
        reference="Corollary 4.3 (Jeon et al. 2025), Fig. 1b setting",
        setup=dict(chain=source, order=chain.order, N=chain.N, alphabet=chain.alphabet,
                   prompt_len=P, response_len=R, seed=args.seed, subsets_per_pair=n_subsets,
                   conditionals_per_pair=n_terms, blas_threads=args.blas_threads or "environment",
                   cpu_count=os.cpu_count(), python=platform.python_version(), numpy=np.__version__,
                   machine=platform.machine(), chain_load_s=load_s),
        summary=summary, pairs=records, baseline=baseline,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
