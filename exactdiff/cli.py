"""The ``exactdiff`` command line."""

from __future__ import annotations

import argparse
import sys

VERIFY_EXAMPLE = """examples:
  exactdiff verify                 # the whole identity suite, table on stdout
  exactdiff verify --quick         # a fast subset
  exactdiff verify --json -        # structured results as JSON on stdout
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


def cmd_verify(args):
    from .verify import default_suite, format_table, results_to_json, run_suite

    toy = _load_toy(args.toy) if args.toy else None
    if toy is not None and toy.table.size > 4096:
        print(f"note: toy has S={toy.table.size} states; only the factorized checks will be quick.", file=sys.stderr)
    tasks = default_suite(seed=args.seed, quick=args.quick, toy=toy)
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
    v.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH ('-' for stdout)")
    v.add_argument("--toy", metavar="PATH", help="a distribution file: {sequence: p} JSON, a Markov table JSON, or .npy")
    v.add_argument("--seed", type=int, default=0, help="seed for the random toys (default 0)")
    v.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    v.set_defaults(func=cmd_verify)
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
