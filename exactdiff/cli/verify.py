"""``exactdiff verify``: the identity checks of :mod:`exactdiff.checks.suite`."""

from __future__ import annotations

import argparse
import sys

from .common import load_table_toy

VERIFY_EXAMPLE = """examples:
  exactdiff verify                 # the whole identity suite, table on stdout
  exactdiff verify --quick         # a fast subset
  exactdiff verify --json -        # structured results as JSON on stdout
  exactdiff verify --symbolic      # add the sympy proofs (each must reduce to exactly 0)
  exactdiff verify --toy table.json --seed 3
"""


def cmd_verify(args):
    from ..checks.suite import default_suite, format_table, results_to_json, run_suite, symbolic_suite

    toy = load_table_toy(args.toy) if args.toy else None
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



def add_parser(sub):
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
    return v
