"""``exactdiff nll``: exact NLLs of sequences of a toy, with the time-free sums beside
them, and Monte Carlo estimates with built-in denoisers."""

from __future__ import annotations

import argparse
import json

import numpy as np

from .. import masked as D
from ..markov import MarkovChain
from ..masked import (
    conditional_nll,
    estimate_nll,
    estimator_moments,
    exact_conditional_nll,
    time_free_nll,
)
from ..sequences import Distribution
from .common import TOY_HELP, check_output_file, int_at_least, load_toy, unit_interval

NLL_EXAMPLE = """examples:
  exactdiff nll --all                                # every sequence of the paper-recipe toy (seed 0)
  exactdiff nll --toy ../shared/data/sequence_eval.json TCTAACAA ACTGCTAG
  exactdiff nll --toy ../shared/data/markov_data_table.json --condition 16 GGAGCTACCTAGCGACTCCCGAGAACAGTCCG
  exactdiff nll --all --estimator time_free --samples 4096 --seed 1
  exactdiff nll --all --estimator time_free --denoiser empirical --json -
"""


def _nll_toy(args):
    if args.toy:
        return load_toy(args.toy)
    return Distribution.paper_toy(seed=args.seed)


def _builtin_denoiser(toy, args):
    """The denoiser named by ``--denoiser`` for a table or chain toy (fitted ones on
    samples drawn from their own stream, the first one spawned from ``--seed``)."""
    rng = np.random.default_rng(np.random.SeedSequence(args.seed).spawn(1)[0])
    if args.denoiser == "oracle":
        return D.OracleDenoiser(toy)
    if args.denoiser == "corrupted":
        return D.CorruptedDenoiser(D.OracleDenoiser(toy), epsilon=args.epsilon, N=toy.N)
    if isinstance(toy, MarkovChain):  # fitted: a chain of the same order fitted on one long sample
        sample = toy.sample(1, args.fit_samples, rng)
        return D.MarkovDenoiser(sample, N=toy.N, order=toy.order)
    return D.EmpiricalDenoiser(toy.sample(args.fit_samples, rng), N=toy.N)


def _tokens(toy, x):
    if isinstance(toy, MarkovChain):
        return np.asarray(toy._encode(x)) if isinstance(x, str) else np.asarray(x)
    return np.asarray(toy.space.encode(x))


def _estimate(toy, den, x, args, stream, target=None, context=None):
    """(estimate, standard error, the estimator's exact mean with this denoiser, exact
    variance of one draw); the last two are nan when the masks are too many to enumerate."""
    tokens = _tokens(toy, x)
    est = estimate_nll(den, tokens, args.estimator, args.samples, np.random.default_rng(stream),
                       N=toy.N, target=target, context=context)
    try:
        m = estimator_moments(den, tokens, args.estimator, N=toy.N, target=target, context=context)
        limit, var = m.mean, m.variance
    except ValueError:  # too many masks to enumerate
        limit = var = float("nan")
    return est.estimate, est.stderr, limit, var


#: Options that only mean something with ``--estimator``, and their defaults.
ESTIMATOR_OPTIONS = {"samples": 1024, "denoiser": "oracle", "fit_samples": 100_000, "epsilon": 0.1}


def _estimator_options(args):
    """Refuse estimator options given without ``--estimator``; fill in their defaults."""
    given = [name for name in ESTIMATOR_OPTIONS if getattr(args, name) is not None]
    if given and not args.estimator:
        names = ", ".join("--" + name.replace("_", "-") for name in given)
        verb = "applies" if len(given) == 1 else "apply"
        raise ValueError(f"{names} only {verb} with --estimator (time_free, k_dce or time_integral).")
    if args.epsilon is not None and args.denoiser != "corrupted":
        raise ValueError("--epsilon only applies with --denoiser corrupted.")
    if args.fit_samples is not None and args.denoiser not in ("empirical",):
        raise ValueError("--fit-samples only applies with --denoiser empirical.")
    for name, default in ESTIMATOR_OPTIONS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)


def cmd_nll(args):
    check_output_file(args.json, "--json")
    _estimator_options(args)
    toy = _nll_toy(args)
    is_chain = isinstance(toy, MarkovChain)
    if args.all:
        if is_chain:
            raise ValueError("--all needs a table toy; a Markov chain has too many sequences (give some).")
        seqs = [tuple(int(v) for v in x) for x in np.argwhere(toy.table > 0)]
    elif args.sequences:
        seqs = list(args.sequences)
    else:
        raise ValueError("give sequences, or --all for every sequence of a table toy.")
    alphabet = toy.alphabet
    den = _builtin_denoiser(toy, args) if args.estimator else None
    # one independent stream per row: row j's draws do not depend on the other rows
    streams = np.random.SeedSequence(args.seed).spawn(len(seqs) + 1)[1:]
    show = (lambda x: x if isinstance(x, str) else ("".join(alphabet[v] for v in x) if alphabet else str(x)))
    records = []
    for x, stream in zip(seqs, streams):
        rec = {"sequence": show(x)}
        if args.condition is not None:
            L = len(x)
            if not 0 < args.condition < L:
                raise ValueError(f"--condition must lie in 1..{L - 1} for {show(x)!r} (got {args.condition}).")
            context, target = list(range(args.condition)), list(range(args.condition, L))
            rec["nll"] = exact_conditional_nll(toy, x, target, context)
            rec["sum"] = conditional_nll(toy, x, target, context)
        else:
            rec["nll"] = toy.nll(x)
            rec["sum"] = time_free_nll(toy, x)
            target = context = None
        if args.estimator:
            rec["estimate"], rec["stderr"], rec["limit"], rec["variance"] = _estimate(
                toy, den, x, args, stream, target, context)
        records.append(rec)
    if args.json:
        payload = {"toy": args.toy or f"paper recipe, seed {args.seed}", "condition": args.condition,
                   "estimator": args.estimator, "samples": args.samples if args.estimator else None,
                   "denoiser": args.denoiser if args.estimator else None, "seed": args.seed,
                   "rows": [{k: (v if not isinstance(v, float) or np.isfinite(v) else str(v)) for k, v in r.items()}
                            for r in records]}
        text = json.dumps(payload, indent=2)
        if args.json == "-":
            print(text)
            return 0
        with open(args.json, "w") as fh:
            fh.write(text)
    _print_table(records, args)
    return 0


def _print_table(records, args):
    what = "−log p0(x^T|x^C)" if args.condition is not None else "−log p0(x)"
    formula = "Cor. 4.3 sum" if args.condition is not None else "Thm 4.1 sum"
    width = max(8, max(len(r["sequence"]) for r in records))
    head = f"{'sequence':<{width}}  {what:>17}  {formula:>17}"
    if args.estimator:
        head += f"  {'estimate':>10}  {'stderr':>8}  {'model limit':>11}  {'Var[draw]':>9}"
        print(f"# {args.estimator} estimator, {args.samples} draws per row (a stream of its own, spawned from "
              f"seed {args.seed}), {args.denoiser} denoiser")
        print("# model limit: the estimator's exact mean with this denoiser (every mask); limit − truth = "
              "the model's bias")
    print(head)
    for r in records:
        line = f"{r['sequence']:<{width}}  {r['nll']:17.12f}  {r['sum']:17.12f}"
        if args.estimator:
            line += f"  {r['estimate']:10.5f}  {r['stderr']:8.5f}  {r['limit']:11.5f}  {r['variance']:9.4g}"
        print(line)


def add_parser(sub):
    n = sub.add_parser("nll", help="exact (and estimated) NLLs of sequences of a toy",
                       epilog=NLL_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    n.add_argument("sequences", nargs="*", help="sequences (strings over the toy's alphabet)")
    n.add_argument("--toy", metavar="PATH", help=TOY_HELP + " (default: the paper's recipe, seeded)")
    n.add_argument("--all", action="store_true", help="every sequence in the support of a table toy")
    n.add_argument("--condition", type=int_at_least(1), metavar="K",
                   help="prompt/response split: the first K letters are the context, the rest the target")
    n.add_argument("--estimator", choices=["time_free", "k_dce", "time_integral"],
                   help="also print a Monte Carlo estimate, its standard error, the estimator's exact mean "
                        "with this denoiser (the model's limit) and the exact variance of one draw")
    n.add_argument("--samples", type=int_at_least(2),
                   help="Monte Carlo draws per sequence (default 1024)")
    n.add_argument("--denoiser", choices=["oracle", "empirical", "corrupted"],
                   help="built-in denoiser: the exact oracle, one fitted on --fit-samples samples "
                        "(empirical table, or a Markov chain of the toy's order), or the oracle mixed "
                        "with the uniform law (--epsilon)")
    n.add_argument("--fit-samples", type=int_at_least(1),
                   help="samples (letters, for a chain) to fit on (default 100000)")
    n.add_argument("--epsilon", type=unit_interval,
                   help="uniform mixing weight of --denoiser corrupted, in [0, 1] (default 0.1)")
    n.add_argument("--json", metavar="PATH", help="write the rows as JSON to PATH ('-' for stdout, instead of the table)")
    n.add_argument("--seed", type=int, default=0, help="seed for the default toy, the fit and the estimators")
    n.set_defaults(func=cmd_nll)
    return n
