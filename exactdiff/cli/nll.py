"""``exactdiff nll``: exact NLLs of sequences of a toy, with the time-free sums beside
them, and Monte Carlo estimates with built-in denoisers."""

from __future__ import annotations

import argparse

import numpy as np

from .. import masked as D
from ..markov import MarkovChain
from ..masked import conditional_nll, estimate_nll, estimator_moments, exact_conditional_nll, time_free_nll
from ..sequences import Distribution
from .common import load_toy

NLL_EXAMPLE = """examples:
  exactdiff nll --all                                # every sequence of the paper-recipe toy
  exactdiff nll --toy sequence_eval.json GATTACAA    # given sequences of a table
  exactdiff nll --toy markov_data_table.json --condition 16 ACGT...(32 letters)
  exactdiff nll --all --estimator time_free --samples 4096 --seed 1
"""

def _nll_toy(args):
    if args.toy:
        return load_toy(args.toy)
    return Distribution.paper_toy(seed=args.seed)


def _builtin_denoiser(toy, args):
    """The denoiser named by ``--denoiser`` for a table or chain toy."""
    rng = np.random.default_rng(args.seed)
    if args.denoiser == "oracle":
        return D.OracleDenoiser(toy)
    if args.denoiser == "corrupted":
        return D.CorruptedDenoiser(D.OracleDenoiser(toy), epsilon=args.epsilon, N=toy.N)
    if isinstance(toy, MarkovChain):  # fitted: a chain of the same order fitted on one long sample
        sample = toy.sample(1, args.fit_samples, rng)
        return D.MarkovDenoiser(sample, N=toy.N, order=toy.order)
    return D.EmpiricalDenoiser(toy.sample(args.fit_samples, rng), N=toy.N)


def _estimate_columns(toy, x, args, target=None, context=None):
    den = args._denoiser
    tokens = np.asarray(toy.space.encode(x) if hasattr(toy, "space") else
                        [toy.alphabet.index(c) for c in x] if isinstance(x, str) else x)
    est = estimate_nll(den, tokens, args.estimator, args.samples, np.random.default_rng(args.seed),
                       N=toy.N, target=target, context=context)
    try:
        var = estimator_moments(den, tokens, args.estimator, N=toy.N, target=target, context=context).variance
    except ValueError:  # too many masks to enumerate
        var = float("nan")
    return est.estimate, est.stderr, var


def cmd_nll(args):
    toy = _nll_toy(args)
    is_chain = isinstance(toy, MarkovChain)
    if args.all:
        if is_chain:
            raise ValueError("`--all` needs a table toy; a Markov chain has too many sequences.")
        seqs = [tuple(int(v) for v in x) for x in np.argwhere(toy.table > 0)]
    elif args.sequences:
        seqs = list(args.sequences)
    else:
        raise ValueError("give sequences, or `--all` for every sequence of a table toy.")
    alphabet = toy.alphabet
    if args.estimator:
        args._denoiser = _builtin_denoiser(toy, args)
    show = (lambda x: x if isinstance(x, str) else ("".join(alphabet[v] for v in x) if alphabet else str(x)))
    rows = []
    for x in seqs:
        L = len(x)
        if args.condition is not None:
            if not 0 < args.condition < L:
                raise ValueError(f"`--condition` must lie in 1..{L - 1} (got {args.condition}).")
            context, target = list(range(args.condition)), list(range(args.condition, L))
            exact = exact_conditional_nll(toy, x, target, context)
            via = conditional_nll(toy, x, target, context)
            extra = _estimate_columns(toy, x, args, target, context) if args.estimator else ()
            rows.append((show(x), exact, via) + tuple(extra))
        else:
            exact = toy.nll(x)
            extra = _estimate_columns(toy, x, args) if args.estimator else ()
            rows.append((show(x), exact, time_free_nll(toy, x)) + tuple(extra))
    what = "conditional NLL −log p0(x^T|x^C)" if args.condition is not None else "NLL −log p0(x)"
    formula = "Corollary 4.3 sum" if args.condition is not None else "Theorem 4.1 sum"
    width = max(len(r[0]) for r in rows)
    head = f"{'sequence':<{width}}  {what + ' [nats]':>36}  {formula:>20}"
    if args.estimator:
        head += f"  {args.estimator + ' MC estimate':>24}  {'stderr':>9}  {'exact Var[one draw]':>19}"
        print(f"# {args.estimator}, {args.samples} draws, {args.denoiser} denoiser, seed {args.seed}")
    print(head)
    for row in rows:
        line = f"{row[0]:<{width}}  {row[1]:36.12f}  {row[2]:20.12f}"
        if args.estimator:
            line += f"  {row[3]:24.6f}  {row[4]:9.6f}  {row[5]:19.6g}"
        print(line)
    return 0



def add_parser(sub):
    n = sub.add_parser("nll", help="exact (and estimated) NLLs of sequences of a toy",
                       epilog=NLL_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    n.add_argument("sequences", nargs="*", help="sequences (strings over the toy's alphabet)")
    n.add_argument("--toy", metavar="PATH", help="a distribution file (default: the paper's recipe, seeded)")
    n.add_argument("--all", action="store_true", help="every sequence in the support of a table toy")
    n.add_argument("--condition", type=int, metavar="K",
                   help="prompt/response split: the first K letters are the context, the rest the target")
    n.add_argument("--estimator", choices=["time_free", "k_dce", "time_integral"],
                   help="also print a Monte Carlo estimate, its standard error and the exact variance of one draw")
    n.add_argument("--samples", type=int, default=1024, help="Monte Carlo draws per sequence (default 1024)")
    n.add_argument("--denoiser", choices=["oracle", "empirical", "corrupted"], default="oracle",
                   help="built-in denoiser: the exact oracle, one fitted on --fit-samples samples "
                        "(empirical table, or a Markov chain of the toy's order), or the oracle mixed "
                        "with the uniform law (--epsilon)")
    n.add_argument("--fit-samples", type=int, default=100_000, help="samples (letters, for a chain) to fit on")
    n.add_argument("--epsilon", type=float, default=0.1, help="uniform mixing weight of --denoiser corrupted")
    n.add_argument("--seed", type=int, default=0, help="seed for the default toy and the estimators")
    n.set_defaults(func=cmd_nll)
    return n

