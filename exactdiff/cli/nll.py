"""``exactdiff nll``: exact NLLs of sequences of a toy, with the time-free sums beside
them, and Monte Carlo estimates with a denoiser (masked estimators) or a score model (DSE
estimators), built in or the user's own (``module:callable``)."""

from __future__ import annotations

import argparse
import json

import numpy as np

from ..markov import MarkovChain
from ..masked import (
    conditional_nll,
    estimate_nll,
    estimator_moments,
    exact_conditional_nll,
    time_free_nll,
)
from ..masked.estimators import LAWS
from ..process import Geometric, LogLinear, absorbing, uniform
from ..score import estimate_dse_nll, load_score_model
from ..score.laws import SIGMA_LAWS
from ..score.moments import dse_moments_table
from ..sequences import Distribution
from .common import (
    TOY_HELP,
    validate_output_file,
    denoiser_from_option,
    int_at_least,
    load_toy,
    non_negative_float,
    unit_interval,
)

NLL_EXAMPLE = """examples:
  exactdiff nll --all                                # every sequence of the paper-recipe toy (seed 0)
  exactdiff nll --toy ../shared/data/sequence_eval.json TCTAACAA ACTGCTAG
  exactdiff nll --toy ../shared/data/markov_data_table.json --condition 16 GGAGCTACCTAGCGACTCCCGAGAACAGTCCG
  exactdiff nll --all --law time_free --samples 4096 --seed 1
  exactdiff nll --all --law time_free --denoiser empirical --json -
  exactdiff nll --toy ../shared/data/sequence_eval.json --score-model oracle --law power TCTAACAA
  exactdiff nll --toy ../shared/data/sequence_eval.json --score-model corrupted --process absorbing --law power --samples 256 TCTAACAA
"""

#: The forward processes of ``--score-model`` (T = 1): SEDD's geometric noise for the
#: uniform graph, and the log-linear schedule of SEDD and RADD for the absorbing one.
SCORE_PROCESSES = {
    "uniform": ("uniform, Geometric(1e-4, 20)", lambda N: uniform(N, Geometric(1e-4, 20.0))),
    "absorbing": ("absorbing, LogLinear(1e-3)", lambda N: absorbing(N, LogLinear(1e-3))),
}
SCORE_T = 1.0


def _nll_toy(args):
    if args.toy:
        return load_toy(args.toy)
    return Distribution.paper_toy(seed=args.seed)


def _parse_sequence(toy, text):
    """A sequence as typed: a string over the toy's alphabet, or for a toy without one (a
    .npy table) digits (``012``) or comma-separated integers (``0,1,12``)."""
    if toy.alphabet is not None:
        return text
    parts = text.split(",") if "," in text else list(text)
    if not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"sequence {text!r}: this toy has no alphabet (a .npy table); give tokens as digits "
                         f"(e.g. 012) or comma-separated integers (e.g. 0,1,12).")
    return tuple(int(p) for p in parts)


def _show(toy, x):
    """A sequence as printed: letters, or digits (comma-separated above 10 letters)."""
    if isinstance(x, str):
        return x
    if toy.alphabet:
        return "".join(toy.alphabet[v] for v in x)
    return ("" if toy.N <= 10 else ",").join(str(v) for v in x)


def _tokens(toy, x):
    if isinstance(toy, MarkovChain):
        return np.asarray(toy._encode(x)) if isinstance(x, str) else np.asarray(x)
    return np.asarray(toy.space.encode(x))


def _estimate(toy, den, x, args, stream, target=None, context=None):
    """(estimate, standard error, the estimator's exact mean with this denoiser, exact
    variance of one draw); the last two are nan when the masks are too many to enumerate."""
    tokens = _tokens(toy, x)
    est = estimate_nll(den, tokens, args.law, args.samples, np.random.default_rng(stream),
                       N=toy.N, target=target, context=context)
    try:
        m = estimator_moments(den, tokens, args.law, N=toy.N, target=target, context=context)
        limit, var = m.mean, m.variance
    except ValueError:  # too many masks to enumerate
        limit = var = float("nan")
    return est.estimate, est.stderr, limit, var


#: Options that only mean something with ``--law``, and their defaults.
ESTIMATOR_OPTIONS = {"samples": 1024, "denoiser": "oracle", "fit_samples": 100_000, "epsilon": 0.1}
#: Options that only mean something with ``--score-model``, and their defaults.
SCORE_OPTIONS = {"process": "uniform", "t_min": 0.0, "log_scores": False}


def _option_names(names):
    return ", ".join("--" + name.replace("_", "-") for name in names)


def _only(given, condition):
    verb = "applies" if len(given) == 1 else "apply"
    return ValueError(f"{_option_names(given)} only {verb} {condition}.")


def _estimator_options(args):
    """Refuse options given where they mean nothing; fill in their defaults."""
    given = [name for name in ESTIMATOR_OPTIONS if getattr(args, name) is not None]
    if given and not args.law:
        raise _only(given, "with --law")
    given = [name for name in SCORE_OPTIONS if getattr(args, name) not in (None, False)]
    if given and not args.score_model:
        raise _only(given, "with --score-model")
    if args.score_model:
        if args.denoiser is not None or args.fit_samples is not None:
            raise ValueError("--score-model replaces --denoiser: give one of them.")
        if args.law not in SIGMA_LAWS:
            raise ValueError(f"--score-model needs --law among the laws of σ̄ {', '.join(SIGMA_LAWS)} "
                             f"(got {args.law!r}; power has finite variance at --t-min 0).")
        if args.condition is not None:
            raise ValueError("--condition does not apply with --score-model (the DSE likelihood is unconditional).")
        if args.epsilon is not None and args.score_model not in ("corrupted", "corrupted_denoiser"):
            raise ValueError("--epsilon only applies with --denoiser corrupted or --score-model corrupted / "
                             "corrupted_denoiser.")
    elif args.law:
        if args.law not in LAWS:
            raise ValueError(f"--law {args.law} is a law of σ̄ (DSE estimator): it needs --score-model "
                             f"(a denoiser takes {', '.join(LAWS)}).")
        if args.epsilon is not None and args.denoiser != "corrupted":
            raise ValueError("--epsilon only applies with --denoiser corrupted.")
        if args.fit_samples is not None and args.denoiser != "empirical":
            raise ValueError("--fit-samples only applies with --denoiser empirical.")
    for name, default in {**ESTIMATOR_OPTIONS, **SCORE_OPTIONS}.items():
        if getattr(args, name) is None:
            setattr(args, name, default)


def _score_rows(toy, seqs, streams, args):
    """Per row: (estimate, standard error, the model's exact DSE likelihood, exact variance
    of one draw, exact cut-off bias). Every row's limit and variance come from one
    quadrature pass (:func:`~exactdiff.information.dse_likelihood.dse_moments_table`)."""
    if not isinstance(toy, Distribution):
        raise ValueError("--score-model needs a table toy (a {sequence: probability} JSON or a .npy table).")
    process = SCORE_PROCESSES[args.process][1](toy.N)
    model = load_score_model(args.score_model, toy, process, epsilon=args.epsilon,
                             log_scores=True if args.log_scores else None)
    tokens = np.array([_tokens(toy, x) for x in seqs])
    exact = dse_moments_table(model, process, tokens, [args.law], T=SCORE_T, t_min=args.t_min,
                              optimal=False)["moments"][args.law]
    rows = []
    for x0, m, stream in zip(tokens, exact, streams):
        est = estimate_dse_nll(model, process, x0, args.law, args.samples, np.random.default_rng(stream),
                               T=SCORE_T, t_min=args.t_min)
        rows.append((est.estimate, est.stderr, m.mean, m.variance, est.cutoff_bias))
    return rows


def cmd_nll(args):
    validate_output_file(args.json, "--json")
    _estimator_options(args)
    toy = _nll_toy(args)
    is_chain = isinstance(toy, MarkovChain)
    if args.all:
        if is_chain:
            raise ValueError("--all needs a table toy; a Markov chain has too many sequences (give some).")
        seqs = [tuple(int(v) for v in x) for x in np.argwhere(toy.table > 0)]
    elif args.sequences:
        seqs = [_parse_sequence(toy, text) for text in args.sequences]
    else:
        raise ValueError("give sequences, or --all for every sequence of a table toy.")
    den = denoiser_from_option(toy, args) if args.law and not args.score_model else None
    # one independent stream per row: row j's draws do not depend on the other rows
    streams = np.random.SeedSequence(args.seed).spawn(len(seqs) + 1)[1:]
    show = lambda x: _show(toy, x)  # noqa: E731
    scored = _score_rows(toy, seqs, streams, args) if args.score_model else None
    records = []
    for j, (x, stream) in enumerate(zip(seqs, streams)):
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
        if scored is not None:
            rec["estimate"], rec["stderr"], rec["limit"], rec["variance"], rec["cutoff_bias"] = scored[j]
        elif args.law:
            rec["estimate"], rec["stderr"], rec["limit"], rec["variance"] = _estimate(
                toy, den, x, args, stream, target, context)
        records.append(rec)
    if args.json:
        payload = {"toy": args.toy or f"paper recipe, seed {args.seed}", "condition": args.condition,
                   "law": args.law, "samples": args.samples if args.law else None,
                   "denoiser": args.denoiser if args.law and not args.score_model else None,
                   "score_model": args.score_model,
                   "process": SCORE_PROCESSES[args.process][0] if args.score_model else None,
                   "T": SCORE_T if args.score_model else None, "t_min": args.t_min if args.score_model else None,
                   "seed": args.seed,
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
    if args.law:
        head += f"  {'estimate':>10}  {'stderr':>8}  {'model limit':>11}  {'Var[draw]':>9}"
        if args.score_model:
            print(f"# {args.law} law (DSE), {args.samples} draws per row (a stream of its own, spawned "
                  f"from seed {args.seed}), score model {args.score_model}")
            print(f"# process {SCORE_PROCESSES[args.process][0]}, T = {SCORE_T:g}, t_min = {args.t_min:g}")
            print("# model limit: L^T_DSE(x0; s) + KL(p_T|0 || prior), exact; limit − truth = the model's bias")
        else:
            print(f"# {args.law} law, {args.samples} draws per row (a stream of its own, spawned from "
                  f"seed {args.seed}), {args.denoiser} denoiser")
            print("# model limit: the estimator's exact mean with this denoiser (every mask); limit − truth = "
                  "the model's bias")
    print(head)
    for r in records:
        line = f"{r['sequence']:<{width}}  {r['nll']:17.12f}  {r['sum']:17.12f}"
        if args.law:
            line += f"  {r['estimate']:10.5f}  {r['stderr']:8.5f}  {r['limit']:11.5f}  {r['variance']:9.4g}"
        print(line)
    if args.law and any(not np.isfinite(r["variance"]) for r in records):
        print("# Var[draw] = inf: this estimator's variance diverges for that row, and its stderr means nothing "
              "(use power, or a cut-off)")


def add_parser(sub):
    n = sub.add_parser("nll", help="exact (and estimated) NLLs of sequences of a toy",
                       epilog=NLL_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    n.add_argument("sequences", nargs="*", help="sequences (strings over the toy's alphabet)")
    n.add_argument("--toy", metavar="PATH", help=TOY_HELP + " (default: the paper's recipe, seeded)")
    n.add_argument("--all", action="store_true", help="every sequence in the support of a table toy")
    n.add_argument("--condition", type=int_at_least(1), metavar="K",
                   help="prompt/response split: the first K letters are the context, the rest the target")
    n.add_argument("--law", choices=sorted(LAWS) + sorted(SIGMA_LAWS), metavar="LAW",
                   help="also print a Monte Carlo estimate, its standard error, the estimator's exact mean "
                        "with this model (the model's limit) and the exact variance of one draw. With a "
                        f"denoiser: {', '.join(LAWS)}; with --score-model: {', '.join(SIGMA_LAWS)}")
    n.add_argument("--samples", type=int_at_least(2),
                   help="Monte Carlo draws per sequence (default 1024)")
    n.add_argument("--denoiser", metavar="NAME|module:callable",
                   help="the denoiser: oracle (the exact one, the default), empirical (fitted on --fit-samples "
                        "samples: a table, or a Markov chain of the toy's order), corrupted (the oracle mixed "
                        "with the uniform law, --epsilon), or your own: an import path whose attribute is a "
                        "callable c(x) -> (B, L, N) probabilities")
    n.add_argument("--fit-samples", type=int_at_least(1),
                   help="samples (letters, for a chain) to fit on (default 100000)")
    n.add_argument("--score-model", metavar="NAME|module:callable",
                   help="a score model instead of a denoiser (DSE estimators): oracle, corrupted (mixed with "
                        "--epsilon, tempered 1.5), corrupted_denoiser (absorbing only), or your own: an import "
                        "path whose attribute is a callable model(x, sigma_bar) -> (B, L, n) scores")
    n.add_argument("--process", choices=sorted(SCORE_PROCESSES),
                   help="with --score-model: the forward process, uniform (SEDD's geometric noise, "
                        "Geometric(1e-4, 20), the default) or absorbing (LogLinear(1e-3)); T = 1")
    n.add_argument("--t-min", type=non_negative_float, metavar="T",
                   help="with --score-model: the cut-off t_min, its bias computed exactly (default 0; "
                        "log_sigma needs > 0)")
    n.add_argument("--log-scores", action="store_true",
                   help="with --score-model module:callable: the callable returns log-scores (as SEDD's network)")
    n.add_argument("--epsilon", type=unit_interval,
                   help="uniform mixing weight of the corrupted denoiser or score model, in [0, 1] (default 0.1)")
    n.add_argument("--json", metavar="PATH", help="write the rows as JSON to PATH ('-' for stdout, instead of the table)")
    n.add_argument("--seed", type=int, default=0, help="seed for the default toy, the fit and the estimators")
    n.set_defaults(func=cmd_nll)
    return n
