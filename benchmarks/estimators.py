"""Exact variance ratios of the likelihood estimators, on the paper's two toys and on
random toys (no Monte Carlo: every variance is exact, by enumerating masks).

1. The 128-sequence toy (``sequence_eval.json``, or the paper's recipe with seed 0):
   for every sequence, Var[D] of one draw of the time-integral (cut-offs ε), k-DCE and
   time-free estimators of −log p0(x0), with the oracle and with the empirical denoiser
   fitted on 10^6 samples (seed 0); and decoupled / coupled Eq. 18 log-ratio variances on
   64 random pairs of its sequences (seed 1).
2. The order-4 Markov toy (``markov_data_table.json``, or the seeded fallback chain):
   the conditional estimators of −log p0(response | prompt), 16 + 16 letters, with the
   Markov oracle (forward–backward, 2^16 masks per pair), on 8 pairs (seed 0); and the
   conditional log-ratio between two responses to the same prompt.
3. Random toys: Dirichlet tables, every sequence; random pairs and neighbour pairs
   (one letter changed).

Ratios are per sequence (or pair); the table gives their median, min and max, and
the ratio of the variances averaged over sequences. Writes
``benchmarks/results/estimators.json``. Run as ``python benchmarks/estimators.py`` with
the package installed (or ``PYTHONPATH=.``).
"""

import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small products: one BLAS thread is fastest

from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import exactdiff as ed
from exactdiff.figures.estimators import markov_toy, sequence_toy
from exactdiff.masked.denoisers import EmpiricalDenoiser, OracleDenoiser
from exactdiff.masked.estimators import (
    log_ratio_moments_from_losses,
    mask_losses,
    moments_from_losses,
)

from _common import timed, write_json

EPS = (1e-2, 1e-3, 1e-5, 0.0)
NLL_METHODS = [("time_integral", e) for e in EPS] + [("k_dce", 0.0), ("time_free", 0.0)]


def _label(method, eps):
    return f"time_integral(eps={eps:g})" if method == "time_integral" else method


def _summary(num, den):
    """Per-item ratios num/den: median, min, max, and the ratio of the means."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = num / den
    return dict(median=float(np.median(r)), min=float(np.min(r)), max=float(np.max(r)),
                ratio_of_means=float(np.mean(num) / np.mean(den)), n=int(r.size))


def nll_variances(denoiser, xs, **kw):
    """{label: [Var D per x0]}, and the per-x0 losses (reused for the log ratios)."""
    out = {_label(m, e): [] for m, e in NLL_METHODS}
    losses = []
    for x in xs:
        lv, sizes = mask_losses(denoiser, x, **kw)
        losses.append(lv)
        for m, e in NLL_METHODS:
            out[_label(m, e)].append(moments_from_losses(lv, sizes, m, eps=e).variance)
    return out, losses, sizes


def nll_ratios(var):
    tf = var["time_free"]
    res = {f"{k} / time_free": _summary(v, tf) for k, v in var.items() if k != "time_free"}
    res["time_free / k_dce"] = _summary(tf, var["k_dce"])
    return res


def ratio_pairs(pairs, losses_of, sizes):
    dec, cou = [], []
    for i, j in pairs:
        dec.append(log_ratio_moments_from_losses(losses_of[i], losses_of[j], sizes, coupling="decoupled").variance)
        cou.append(log_ratio_moments_from_losses(losses_of[i], losses_of[j], sizes, coupling="coupled").variance)
    return {"decoupled / coupled": _summary(dec, cou)}


def sequence_toy_block():
    p0, source = sequence_toy()
    xs = np.argwhere(p0.table > 0)
    pairs = np.random.default_rng(1).choice(len(xs), size=(64, 2), replace=True)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    block = dict(source=source)
    emp, t_fit = timed(EmpiricalDenoiser, p0.sample(10**6, np.random.default_rng(0)), p0.N)
    for name, c in (("oracle", OracleDenoiser(p0)), ("empirical (10^6 samples)", emp)):
        (var, losses, sizes), t = timed(nll_variances, c, xs)
        block[name] = dict(nll=nll_ratios(var), log_ratio=ratio_pairs(pairs, losses, sizes), seconds=t,
                           mean_variance={k: float(np.mean(v)) for k, v in var.items()})
    block["empirical_fit_s"] = t_fit
    return block


def _continue(chain, prefix, length, rng):
    """A continuation of ``prefix`` to ``length`` letters drawn from the chain."""
    x = list(prefix)
    k = chain.order
    while len(x) < length:
        x.append(int(rng.choice(chain.N, p=chain.transitions[tuple(x[-k:])])))
    return np.array(x)


def markov_toy_block(pairs=8, prompt=16, response=16):
    chain, source = markov_toy()
    c = ed.OracleDenoiser(chain)
    L = prompt + response
    kw = dict(target=list(range(prompt, L)), context=list(range(prompt)))
    rng = np.random.default_rng(0)
    xs = chain.sample(pairs, L, rng)
    ys = np.array([_continue(chain, x[:prompt], L, rng) for x in xs])
    (var, lx, sizes), t = timed(nll_variances, c, xs, **kw)
    (_, ly, _), t2 = timed(nll_variances, c, ys, **kw)
    losses = lx + ly
    lr = ratio_pairs([(pairs + i, i) for i in range(pairs)], losses, sizes)
    return dict(source=source, pairs=pairs, prompt=prompt, response=response, nll=nll_ratios(var),
                log_ratio_same_prompt=lr, seconds=t + t2, mean_variance={k: float(np.mean(v)) for k, v in var.items()})


def random_toys_block(configs=((2, 6, 1.0), (3, 5, 1.0), (4, 4, 0.5), (3, 5, 0.1)), seeds=range(3)):
    out = []
    for N, L, alpha in configs:
        for seed in seeds:
            p0 = ed.Distribution.dirichlet(N, L, alpha=alpha, seed=seed)
            c = OracleDenoiser(p0)
            xs = np.argwhere(p0.table > 0)
            (var, losses, sizes), t = timed(nll_variances, c, xs)
            index = {tuple(x): i for i, x in enumerate(xs)}
            rng = np.random.default_rng(seed)
            rand = rng.choice(len(xs), size=(64, 2))
            rand = rand[rand[:, 0] != rand[:, 1]]
            neigh = []
            for i in rng.choice(len(xs), size=64):
                y = xs[i].copy()
                pos = rng.integers(L)
                y[pos] = (y[pos] + 1 + rng.integers(N - 1)) % N
                neigh.append((index[tuple(y)], i))
            out.append(dict(N=N, L=L, alpha=alpha, seed=seed, nll=nll_ratios(var),
                            log_ratio_random=ratio_pairs(rand, losses, sizes),
                            log_ratio_neighbours=ratio_pairs(neigh, losses, sizes), seconds=t))
    return out


def _fmt(s):
    return f"{s['median']:9.3g} [{s['min']:8.3g}, {s['max']:8.3g}]  {s['ratio_of_means']:9.3g}"


def _print_ratios(title, ratios):
    print(f"  {title}")
    for k, s in ratios.items():
        print(f"    {k:<40s} {_fmt(s)}")


def main():
    print("exact variance ratios of one draw: median [min, max] over sequences, ratio of mean variances")
    seq, t_seq = timed(sequence_toy_block)
    print(f"\n128-sequence toy ({seq['source']}), {t_seq:.1f} s")
    for name in ("oracle", "empirical (10^6 samples)"):
        _print_ratios(f"{name}: NLL estimators", seq[name]["nll"])
        _print_ratios(f"{name}: Eq. 18 log ratio, 64 random pairs", seq[name]["log_ratio"])
    mk, t_mk = timed(markov_toy_block)
    print(f"\nMarkov toy ({mk['source']}), Markov oracle, {mk['pairs']} pairs of {mk['prompt']} + "
          f"{mk['response']} letters, {t_mk:.1f} s")
    _print_ratios("conditional NLL estimators", mk["nll"])
    _print_ratios("conditional log ratio, two responses to one prompt", mk["log_ratio_same_prompt"])
    rnd, t_rnd = timed(random_toys_block)
    print(f"\nrandom Dirichlet toys, oracle, {t_rnd:.1f} s")
    for r in rnd:
        print(f"  N={r['N']} L={r['L']} alpha={r['alpha']} seed={r['seed']}: "
              f"TI(1e-3)/TF {r['nll']['time_integral(eps=0.001) / time_free']['median']:.3g}, "
              f"k-DCE/TF {r['nll']['k_dce / time_free']['median']:.3g}, "
              f"TI(0)/TF {r['nll']['time_integral(eps=0) / time_free']['median']:.3g}, "
              f"decoupled/coupled random {r['log_ratio_random']['decoupled / coupled']['median']:.3g}, "
              f"neighbours {r['log_ratio_neighbours']['decoupled / coupled']['median']:.3g}")
    write_json("estimators", dict(benchmark="estimators", eps=list(EPS), sequence_toy=seq, markov_toy=mk,
                                  random_toys=rnd, seconds=dict(sequence_toy=t_seq, markov_toy=t_mk,
                                                                random_toys=t_rnd)))


if __name__ == "__main__":
    main()
