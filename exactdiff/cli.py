"""The ``exactdiff`` command line."""

from __future__ import annotations

import argparse
import sys

VERIFY_EXAMPLE = """examples:
  exactdiff verify                 # the whole identity suite, table on stdout
  exactdiff verify --quick         # a fast subset
  exactdiff verify --json -        # structured results as JSON on stdout
  exactdiff verify --symbolic      # add the sympy proofs (each must reduce to exactly 0)
  exactdiff verify --toy table.json --seed 3
"""


def _load_toy(path):
    from .distribution import Distribution, load_distribution
    from .markov import MarkovChain

    toy = load_distribution(path)
    if isinstance(toy, MarkovChain):
        toy = toy.to_distribution(min(6, max(toy.order, 3)))
    if not isinstance(toy, Distribution):
        raise ValueError(f"could not read a distribution from {path!r}.")
    return toy


def cmd_verify(args):  # noqa: C901
    from .verify import default_suite, format_table, results_to_json, run_suite, symbolic_suite

    toy = _load_toy(args.toy) if args.toy else None
    if toy is not None and toy.table.size > 4096:
        print(f"note: toy has S={toy.table.size} states; only the factorized checks will be quick.", file=sys.stderr)
    tasks = default_suite(seed=args.seed, quick=args.quick, toy=toy)
    if args.symbolic:
        tasks += symbolic_suite(seed=args.seed, budget_s=args.budget)
    results, seconds = run_suite(tasks, progress=not args.no_progress)
    if args.json == "-":
        print(results_to_json(results, seconds))
    else:
        print(format_table(results))
        print(f"wall time {seconds:.1f} s")
        if args.json:
            with open(args.json, "w") as fh:
                fh.write(results_to_json(results, seconds))
    return 0 if all(r.passed for r in results) else 1


NLL_EXAMPLE = """examples:
  exactdiff nll --all                                # every sequence of the paper-recipe toy
  exactdiff nll --toy sequence_eval.json GATTACAA    # given sequences of a table
  exactdiff nll --toy markov_data_table.json --condition 16 ACGT...(32 letters)
  exactdiff nll --all --estimator time_free --samples 4096 --seed 1
"""

FIGURES_EXAMPLE = """examples:
  exactdiff figures --out figures            # the whole gallery
  exactdiff figures --out /tmp/f --only i_mdce running_nll
"""


def _nll_toy(args):
    from .distribution import Distribution, load_distribution

    if args.toy:
        return load_distribution(args.toy)
    return Distribution.paper_toy(seed=args.seed)


def _builtin_denoiser(toy, args):
    """The denoiser named by ``--denoiser`` for a table or chain toy."""
    import numpy as np

    from . import denoisers as D
    from .markov import MarkovChain

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
    import numpy as np

    from .estimators import estimate_nll, estimator_moments

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
    import numpy as np

    from .likelihood import conditional_nll, exact_conditional_nll, time_free_nll
    from .markov import MarkovChain

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
            exact = -toy.log_prob(x) if is_chain else toy.nll(x)
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


def cmd_figures(args):
    from .figures import generate_all

    for path in generate_all(args.out, seed=args.seed, names=args.only, progress=not args.no_progress):
        print(path)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="exactdiff",
        description="Exact verification of the information theory of discrete diffusion "
        "(Jeon et al., NeurIPS 2025).",
        epilog=VERIFY_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="run the identity checks and print a table",
                       epilog=VERIFY_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("--quick", action="store_true", help="a fast subset of the checks")
    v.add_argument("--symbolic", action="store_true", help="also run the sympy proofs of the identities")
    v.add_argument("--budget", type=float, default=20.0, metavar="S",
                   help="time budget in seconds per symbolic case before the mpmath fall-back (default 20)")
    v.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH ('-' for stdout)")
    v.add_argument("--toy", metavar="PATH", help="a distribution file: {sequence: p} JSON, a Markov table JSON, or .npy")
    v.add_argument("--seed", type=int, default=0, help="seed for the random toys (default 0)")
    v.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    v.set_defaults(func=cmd_verify)

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

    f = sub.add_parser("figures", help="regenerate every figure of the gallery",
                       epilog=FIGURES_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    f.add_argument("--only", nargs="+", metavar="NAME", help="only these figures")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--no-progress", action="store_true")
    f.set_defaults(func=cmd_figures)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:
        parser.exit(2, f"exactdiff: error: {exc}\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
