"""``exactdiff audit``: a denoiser (or score model) and an estimator against exact truth,
sequence by sequence: ``report.json``, ``report.md`` and figures."""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from ..audit.limits import BIAS_TOL, audit_denoiser
from ..audit.scores import SCORE_BIAS_TOL
from ..audit.report import write_report
from ..core.serialize import jsonable
from ..markov import MarkovChain
from ..masked.estimators import LAWS
from ..sequences import Distribution
from .common import (
    DENOISERS,
    TOY_HELP,
    validate_output_file,
    validate_output_folder,
    denoiser_from_option,
    int_at_least,
    load_toy,
    non_negative_float,
    unit_interval,
)

AUDIT_EXAMPLE = """examples:
  exactdiff audit --toy ../shared/data/sequence_eval.json --denoiser oracle --out audit_oracle
  exactdiff audit --toy ../shared/data/sequence_eval.json --denoiser empirical --out audit_empirical
  exactdiff audit --toy ../shared/data/sequence_eval.json --denoiser oracle --law no_empty_token_mean --out audit_flawed
  exactdiff audit --toy ../shared/data/markov_data_table.json --length 12 --condition 6 --count 8 --out audit_chain
  exactdiff audit --toy ../shared/data/sequence_eval.json --score-model oracle --process absorbing --count 8 --out audit_score

Your own denoiser: --denoiser module:callable (the module on PYTHONPATH) names the
denoiser itself, a callable from (B, L) integer arrays (mask id N) to (B, L, N)
probabilities; --json - prints the report on stdout.
"""

def _denoiser(toy, args):
    """(denoiser, description) from ``--denoiser``: a built-in name or ``module:callable``."""
    desc = {"oracle": "oracle (the exact optimal denoiser)",
            "empirical": f"fitted on {args.fit_samples:,} samples (empirical table, or a chain of the toy's order)",
            "corrupted": f"oracle mixed with the uniform law, epsilon = {args.epsilon}"}.get(args.denoiser, args.denoiser)
    return denoiser_from_option(toy, args), desc


def _sequences(toy, args):
    """(sequences, target, context): the support of a table toy, or ``--count`` sequences
    of ``--length`` letters drawn from a chain toy (stream 1 spawned from ``--seed``)."""
    rng = np.random.default_rng(np.random.SeedSequence(args.seed).spawn(2)[1])
    if isinstance(toy, MarkovChain):
        seqs = toy.sample(args.count or 16, args.length, rng)
        L = args.length
    else:
        seqs = np.argwhere(toy.table > 0)
        if args.count is not None and args.count < len(seqs):
            seqs = seqs[np.sort(rng.choice(len(seqs), size=args.count, replace=False))]
        L = toy.L
    if args.condition is None:
        if L > 16:
            raise ValueError(f"the audit enumerates 2^L masks; L={L} is above 16: give --condition K "
                             f"(audit the last L − K letters given the first K).")
        return seqs, None, None
    if not 0 < args.condition < L:
        raise ValueError(f"--condition must lie in 1..{L - 1} for sequences of {L} letters (got {args.condition}).")
    if L - args.condition > 16:
        raise ValueError(f"--condition {args.condition} leaves {L - args.condition} target letters; the audit "
                         f"enumerates 2^{L - args.condition} masks (at most 2^16).")
    return seqs, list(range(args.condition, L)), list(range(args.condition))


def cmd_audit(args):
    if args.out is None and args.json is None:
        raise ValueError("give --out DIR (report.json, report.md and figures) and/or --json PATH ('-' for stdout).")
    if args.out is not None:
        validate_output_folder(args.out, "--out")
    validate_output_file(args.json, "--json")
    toy = load_toy(args.toy) if args.toy else Distribution.paper_toy(seed=args.seed)
    if args.score_model is not None or args.process is not None:
        return _cmd_audit_score(toy, args)
    law = args.law or "time_free"
    if law not in LAWS:
        names = list(LAWS)
        raise ValueError(f"--law for a denoiser must be a mask law, one of {names} "
                         f"(got {law!r}; the laws of σ̄ go with --score-model).")
    den, desc = _denoiser(toy, args)
    seqs, target, context = _sequences(toy, args)
    progress = not args.no_progress and sys.stderr.isatty()
    result = audit_denoiser(toy, den, seqs, law=law, target=target, context=context, samples=args.samples,
                            seed=args.seed, tol=args.tol, progress=progress, N=toy.N)
    result["setup"].update(toy=args.toy or f"paper recipe, seed {args.seed}", denoiser=desc)
    return _finish(result, args)


def _cmd_audit_score(toy, args):
    """The score-model path: ``--score-model NAME|module:callable --process uniform|absorbing``."""
    from ..audit.scores import audit_score_model
    from ..score import load_score_model
    from ..score.laws import SIGMA_LAWS
    from ..process import absorbing, uniform

    if args.score_model is None or args.process is None:
        raise ValueError("--score-model and --process go together (e.g. --score-model oracle --process uniform).")
    processes = {"uniform": uniform, "absorbing": absorbing}
    if args.process not in processes:
        raise ValueError(f"--process must be one of {sorted(processes)} (got {args.process!r}).")
    if not isinstance(toy, Distribution):
        raise ValueError("--score-model needs a table toy (its states are enumerated); a Markov chain toy is not one.")
    law = args.law or "power"
    if law not in SIGMA_LAWS:
        raise ValueError(f"--law for a score model must be a law of σ̄, one of {sorted(SIGMA_LAWS)} (got {law!r}).")
    process = processes[args.process](toy.N)
    model = load_score_model(args.score_model, toy, process, epsilon=args.epsilon)
    seqs = np.argwhere(toy.table > 0)
    if args.count is not None and args.count < len(seqs):
        rng = np.random.default_rng(np.random.SeedSequence(args.seed).spawn(2)[1])
        seqs = seqs[np.sort(rng.choice(len(seqs), size=args.count, replace=False))]
    result = audit_score_model(toy, model, process, seqs, law=law, T=args.T, samples=args.samples, seed=args.seed,
                               tol=args.tol if args.tol != BIAS_TOL else SCORE_BIAS_TOL)
    result["setup"].update(toy=args.toy or f"paper recipe, seed {args.seed}", model=args.score_model)
    return _finish(result, args)


def _finish(result, args):
    written = []
    if args.out is not None:
        written = write_report(result, args.out, figures=not args.no_figures)
    if args.json == "-":
        print(json.dumps(jsonable(result), indent=1))
    else:
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(jsonable(result), fh, indent=1)
            written.append(args.json)
        tot = result["totals"]
        print(f"exactdiff audit: {result['setup']['law']} estimator, {tot['sequences']} sequences")
        print(f"verdict: {result['verdict']['text']}")
        print(f"max |bias| {tot['max_abs_bias']:.3g} nats, p0-weighted mean bias {tot['weighted_mean_bias']:+.3g}, "
              f"median Var[draw] {tot['median_variance']:.4g}, median draws for 0.01 nats "
              f"{tot['median_draws_for_0.01']:.6g}")
        here = os.getcwd()
        for path in written:  # relative to the working folder when inside it, else as it is
            inside = os.path.commonpath([here, os.path.abspath(path)]) == here
            print(f"wrote {os.path.relpath(path) if inside else path}")
    return 0


def add_parser(sub):
    a = sub.add_parser("audit", help="audit a denoiser and an estimator against exact truth (report.json, report.md)",
                       epilog=AUDIT_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--toy", metavar="PATH", help=TOY_HELP + " (default: the paper's recipe, seeded)")
    a.add_argument("--denoiser", default="oracle", metavar="NAME|module:callable",
                   help=f"a built-in denoiser {list(DENOISERS)} (default oracle) or an import path to yours")
    a.add_argument("--law", metavar="NAME",
                   help=f"the estimator audited: a mask law {list(LAWS)} (default "
                        f"time_free; every named law is reported beside it), or with --score-model a law of σ̄ "
                        f"(default power)")
    a.add_argument("--out", metavar="DIR", help="write report.json, report.md and the figures into DIR (created)")
    a.add_argument("--json", metavar="PATH", help="also write the report as JSON to PATH ('-' for stdout)")
    a.add_argument("--samples", type=int_at_least(2), default=256,
                   help="Monte Carlo draws per sequence for the estimate beside the exact limit (default 256)")
    a.add_argument("--seed", type=int, default=0, help="seed of the toy, the fit, the sampled sequences and the draws")
    a.add_argument("--condition", type=int_at_least(1), metavar="K",
                   help="audit −log p0(x^T | x^C) with the first K letters as the context C")
    a.add_argument("--length", type=int_at_least(1), default=8, help="letters per sequence of a chain toy (default 8)")
    a.add_argument("--count", type=int_at_least(1),
                   help="sequences audited: drawn from a chain toy (default 16), or a seeded sample of a table "
                        "toy's support (default all)")
    a.add_argument("--fit-samples", type=int_at_least(1), default=100_000,
                   help="samples (letters, for a chain) the empirical denoiser is fitted on (default 100000)")
    a.add_argument("--epsilon", type=unit_interval, default=0.1,
                   help="uniform mixing weight of --denoiser corrupted, in [0, 1] (default 0.1)")
    a.add_argument("--tol", type=non_negative_float, default=BIAS_TOL,
                   help=f"|bias| bound of the verdict 'unbiased', nats (default {BIAS_TOL:g}; {SCORE_BIAS_TOL:g} "
                        f"with --score-model, whose limit is a quadrature to a relative 1e-9)")
    a.add_argument("--no-figures", action="store_true", help="write report.json and report.md only")
    a.add_argument("--no-progress", action="store_true", help="hide the progress bar (shown only on a terminal)")
    a.add_argument("--score-model", metavar="NAME|module:callable",
                   help="audit a score model instead of a denoiser (with --process)")
    a.add_argument("--process", metavar="NAME", help="the forward process of --score-model: uniform or absorbing "
                   "(constant schedule)")
    a.add_argument("--T", type=non_negative_float, metavar="T",
                   help="with --score-model: the end of the time window (default: none, σ̄(T) = ∞)")
    a.set_defaults(func=cmd_audit)
    return a
