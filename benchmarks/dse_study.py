"""The study of the issue "Bring your own score model" (item 6): the exact variance of
one draw of each DSE likelihood estimator, per sequence, against the masked estimators on
the same toy, with the oracle and with an imperfect model, under the uniform and the
absorbing process; and Monte Carlo against every exact mean and variance.

Setup (shared with the figure, :mod:`exactdiff.figures.dse_variance`):

- toys: the paper-recipe DNA toy ``Distribution.paper_toy(seed=0)`` (K = 128 sequences,
  N = 4, L = 8) and a random full-support toy ``Distribution.dirichlet(3, 4, seed=0)``
  (81 sequences); every support sequence is an x0;
- processes, T = 1: uniform with SEDD's geometric noise (``Geometric(1e-4, 20)``),
  absorbing with the log-linear noise (``LogLinear(1e-3)``);
- models: the oracle score, and an imperfect one (uniform: ``CorruptedScore(oracle, 0.1,
  1.5)``; absorbing: the Lemma 3.3 score of ``CorruptedDenoiser(oracle, 0.1, 1.5)``, the
  denoiser of the masked estimators, so both families estimate the same model);
- DSE estimators: ``uniform_t`` (t_min = 0, and 1e-3 as SEDD's ``sampling_eps``),
  ``log_sigma`` (t_min = 1e-3), ``uniform_lambda``, ``power`` (default α = 1/4, ρ = 1/2
  uniform / 0.9 absorbing) and two other (α, ρ), and the optimal q*;
- masked estimators: ``ed.estimator_moments`` time-free, k-DCE, time-integral (ε = 0);
- Monte Carlo: for two sequences per (toy, process, model) — the first support sequence
  and the one with the largest ``power`` variance — every estimator with a finite
  variance, 20,000 draws each from its own stream (``SeedSequence(SEED).spawn``); z of
  the mean against the exact variance and z of the sample variance against the exact
  fourth moment where it is finite. Bound |z| < 4.5.

Usage (each part is a separate process of at most ~3 minutes on the shared machine)::

    python benchmarks/dse_study.py --list                       # the parts
    python benchmarks/dse_study.py --part paper-uniform-oracle  # one part → results/dse_study_parts/
    python benchmarks/dse_study.py --merge                      # parts → results/dse_study.json, tables
    python benchmarks/dse_study.py --figure PATH                # the figure from the paper parts
    python benchmarks/dse_study.py --all                        # every part, merge, figure

OpenBLAS is kept single-threaded (tall-skinny products ran up to 100x slower with two
threads on the oversubscribed machine).
"""

import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import glob
import json
import math
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import exactdiff as ed
from exactdiff.core.serialize import jsonable
from exactdiff.figures.dse_variance import (
    STUDY_METHODS,
    STUDY_PROCESSES,
    T_END,
    dse_estimator_variance_figure,
    dse_variance_panel,
    masked_variance_panel,
    study_models,
)

from _common import write_json

RESULTS = Path(__file__).resolve().parent / "results"
PARTS = RESULTS / "dse_study_parts"
Z_BOUND = 4.5
N_DRAWS = 20_000
SEED = 20251201

TOYS = {
    "paper": (lambda: ed.Distribution.paper_toy(seed=0), "paper recipe (K=128, N=4, L=8, seed 0)"),
    "dirichlet": (lambda: ed.Distribution.dirichlet(3, 4, seed=0), "Dirichlet(1) table (N=3, L=4, seed 0, full support)"),
}
#: The study's methods: the figure's, plus two other (α, ρ) of ``power``.
METHODS = STUDY_METHODS + (
    ("power α=1/4 ρ=1/2", "power", {"alpha": 0.25, "rho": 0.5}),
    ("power α=1/2 ρ=0", "power", {"alpha": 0.5, "rho": 0.0}),
)
ALL_PARTS = ([f"{t}-{p}-{m}" for t in TOYS for p in STUDY_PROCESSES for m in ("oracle", "imperfect")]
             + [f"{t}-masked" for t in TOYS])


def dec(values):
    return np.array([float(v) for v in values])


def summary(values):
    """Median and range over sequences (inf counted; the median may be inf)."""
    v = np.asarray(values, dtype=float)
    fin = v[np.isfinite(v)]
    return {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max()), "n": int(v.size),
            "n_inf": int(np.isinf(v).sum()), "median_finite": float(np.median(fin)) if fin.size else math.inf}


def log(msg):
    print(msg, flush=True)


# ----------------------------------------------------------------------------- parts
def run_dse_part(toy, kind, model_name):
    t0 = time.perf_counter()
    make, label = TOYS[toy]
    p0 = make()
    panel = dse_variance_panel(p0, kind, model_name, methods=METHODS)
    cost = panel["cost"]
    log(f"== {toy}/{kind}/{model_name}: {len(panel['x0'])} sequences; one pass of {cost['nodes']} nodes, "
        f"{cost['model_calls']} model calls of {cost['states']:,} states, {cost['seconds']:.1f} s "
        f"({cost['seconds_model']:.1f} s in the model), converged {cost['converged']}")
    var = panel["variance"]
    weights = np.asarray(p0.table)[tuple(panel["x0"].T)]
    gap = panel["limit"] - panel["nll"]
    out = dict(toy=label, process=kind, schedule=panel["schedule"], model=model_name, T=T_END,
               x0=panel["x0"], nll=panel["nll"], limit=panel["limit"], variance=var,
               cutoff_bias=panel["cutoff_bias"], notes={k: v for k, v in panel["notes"].items()},
               summary={k: summary(v) for k, v in var.items()},
               ratio_to_optimal={k: summary(v / var["optimal"]) for k, v in var.items() if k != "optimal"},
               limit_minus_nll=summary(gap), limit_minus_nll_p0_weighted=float(weights @ gap / weights.sum()),
               cutoff_bias_summary={k: summary(v) for k, v in panel["cutoff_bias"].items() if np.any(v != 0)},
               cost=cost)
    out["monte_carlo"] = monte_carlo(p0, kind, model_name, panel)
    out["seconds"] = time.perf_counter() - t0
    out["load_average"] = os.getloadavg()
    return out


def monte_carlo(p0, kind, model_name, panel):
    process = STUDY_PROCESSES[kind](p0.N)
    model = study_models(p0, process)[model_name]
    picks = sorted({0, int(np.argmax(panel["variance"]["power"]))})
    runs = [(j, label, method, options) for j in picks for label, method, options in METHODS]
    streams = np.random.SeedSequence(SEED).spawn(len(runs))
    rows = []
    for (j, label, method, options), stream in zip(runs, streams):
        exact = panel["moments"][label][j]
        if not math.isfinite(exact.variance):
            continue
        t0 = time.perf_counter()
        est = ed.estimate_dse_nll(model, process, panel["x0"][j], method, N_DRAWS, np.random.default_rng(stream),
                                  T=T_END, exact_bias=False, **options)
        seconds = time.perf_counter() - t0
        z_mean = (est.estimate - exact.mean) / exact.stderr(est.n)
        sample_var = float(np.var(est.samples, ddof=1))
        z_var = ((sample_var - exact.variance) / exact.variance_stderr(est.n)
                 if np.all(np.isfinite(exact.raw)) else None)
        rows.append(dict(x0=panel["x0"][j], method=label, n=est.n, exact_mean=exact.mean, estimate=est.estimate,
                         stderr=est.stderr, z_mean=z_mean, exact_variance=exact.variance, sample_variance=sample_var,
                         z_variance=z_var, seconds=seconds))
        zv = "n/a (E[D^4] not finite or not computed)" if z_var is None else f"{z_var:+.2f}"
        log(f"    MC x0={''.join(map(str, panel['x0'][j]))} {label:22s} {est.estimate:.4f} ± {est.stderr:.4f} "
            f"(exact {exact.mean:.4f}) z={z_mean:+.2f} | var {sample_var:.4g} vs {exact.variance:.4g} z={zv} | "
            f"{seconds:.2f} s")
    return rows


def run_masked_part(toy):
    t0 = time.perf_counter()
    make, label = TOYS[toy]
    p0 = make()
    out = dict(toy=label, process="masked", models={})
    for model_name in ("oracle", "imperfect"):
        panel = masked_variance_panel(p0, model_name)
        out["models"][model_name] = dict(x0=panel["x0"], variance=panel["variance"], means=panel["means"],
                                         summary={k: summary(v) for k, v in panel["variance"].items()})
    out["seconds"] = time.perf_counter() - t0
    log(f"== {toy}/masked: {out['seconds']:.1f} s")
    return out


def run(name):
    PARTS.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    res = run_masked_part(name.split("-")[0]) if name.endswith("-masked") else run_dse_part(*name.split("-"))
    with open(PARTS / f"{name}.json", "w") as fh:
        json.dump(jsonable(res), fh, indent=1)
    log(f"part {name}: {time.perf_counter() - t0:.1f} s → {PARTS / (name + '.json')}")


# ----------------------------------------------------------------------------- merge, figure
def load_parts():
    parts = {}
    for path in sorted(glob.glob(str(PARTS / "*.json"))):
        with open(path) as fh:
            parts[Path(path).stem] = json.load(fh)
    return parts


def fmt(s):
    s = {k: float(v) if isinstance(v, str) else v for k, v in s.items()}
    if s["n_inf"] == s["n"]:
        return "inf (all)"
    med = "inf" if math.isinf(s["median"]) else f"{s['median']:.3g}"
    top = "inf" if math.isinf(s["max"]) else f"{s['max']:.3g}"
    return f"{med} [{s['min']:.3g}, {top}]" + (f", {s['n_inf']}/{s['n']} inf" if s["n_inf"] else "")


def merge():
    parts = load_parts()
    out = {"setup": __doc__, "z_bound": Z_BOUND, "n_draws": N_DRAWS, "parts": parts}
    # Theorem 3.4: the masked means are the absorbing DSE limits of the Lemma 3.3 score at λ = 1; here
    # the absorbing window ends at λ(1) = 0.999, so the DSE limit includes a prior term: report the gap
    for toy in TOYS:
        masked = parts.get(f"{toy}-masked")
        for model_name in ("oracle", "imperfect"):
            dse = parts.get(f"{toy}-absorbing-{model_name}")
            if masked and dse:
                gap = dec(dse["limit"]) - dec(masked["models"][model_name]["means"]["time_free"])
                out.setdefault("masked_mean_vs_absorbing_limit", {})[f"{toy}-{model_name}"] = summary(gap)
    zs_mean = [abs(r["z_mean"]) for p in parts.values() for r in p.get("monte_carlo", [])]
    zs_var = [abs(r["z_variance"]) for p in parts.values() for r in p.get("monte_carlo", []) if r["z_variance"] is not None]
    out["monte_carlo_summary"] = dict(runs=len(zs_mean), max_abs_z_mean=max(zs_mean, default=None),
                                      variance_runs=len(zs_var), max_abs_z_variance=max(zs_var, default=None),
                                      bound=Z_BOUND)
    write_json("dse_study", out)
    for name, part in parts.items():
        if name.endswith("masked"):
            log(f"\n### {part['toy']} / masked estimators")
            for model_name, m in part["models"].items():
                log(f"  {model_name}: " + "; ".join(f"{k} {fmt(v)}" for k, v in m["summary"].items()))
            continue
        cost = part["cost"]
        log(f"\n### {part['toy']} / {part['process']} ({part['schedule']}, T = {part['T']}) / {part['model']}: "
            f"limit − NLL {fmt(part['limit_minus_nll'])} (p0-weighted {part['limit_minus_nll_p0_weighted']:.4g}); "
            f"{cost['nodes']} nodes = {cost['model_calls']} calls, {float(part['seconds']):.0f} s")
        for label, s in part["summary"].items():
            ratio = part["ratio_to_optimal"].get(label)
            log(f"    {label:24s} Var {fmt(s):38s}" + (f"  Var/Var(q*) {fmt(ratio)}" if ratio else ""))
        for label, s in part["cutoff_bias_summary"].items():
            log(f"    cut-off bias of {label}: {fmt(s)}")
    log(f"\nMonte Carlo: {out['monte_carlo_summary']}")
    return out


def figure(path):
    """The figure from the paper-toy parts (recomputing what is missing)."""
    parts = load_parts()
    panels = {}
    for kind in STUDY_PROCESSES:
        for model_name in ("oracle", "imperfect"):
            part = parts.get(f"paper-{kind}-{model_name}")
            if part:
                panels[(kind, model_name)] = dict(variance={k: dec(v) for k, v in part["variance"].items()},
                                                  schedule=part["schedule"], process=kind)
    masked = parts.get("paper-masked")
    if masked:
        for model_name, m in masked["models"].items():
            panels[("masked", model_name)] = dict(variance={k: dec(v) for k, v in m["variance"].items()})
    res = dse_estimator_variance_figure(path, seed=0, panels=panels)
    log(f"wrote {res['path']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=ALL_PARTS, action="append", help="run one part (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the parts")
    ap.add_argument("--merge", action="store_true", help="merge the parts into results/dse_study.json")
    ap.add_argument("--figure", metavar="PATH", help="draw the figure from the paper-toy parts")
    ap.add_argument("--all", action="store_true", help="every part, then --merge and the figure")
    args = ap.parse_args()
    if args.list:
        print("\n".join(ALL_PARTS))
    for name in ALL_PARTS if args.all else (args.part or []):
        run(name)
    if args.merge or args.all:
        merge()
    if args.figure or args.all:
        figure(args.figure or str(Path(__file__).resolve().parents[1] / "figures" / "dse_estimator_variance.png"))


if __name__ == "__main__":
    main()
