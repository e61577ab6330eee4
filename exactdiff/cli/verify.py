"""``exactdiff verify``: the identity checks of :mod:`exactdiff.checks.suite`."""

from __future__ import annotations

import argparse
import os

from .common import TOY_HELP, validate_output_file, load_table_toy, non_negative_float

VERIFY_EXAMPLE = """examples:
  exactdiff verify                 # the whole identity suite with the sympy proofs, table on stdout
  exactdiff verify --quick         # a fast subset (without the sympy proofs)
  exactdiff verify --json -        # structured results as JSON on stdout
  exactdiff verify --quick --symbolic   # the fast subset and the sympy proofs
  exactdiff verify --toy ../shared/data/sequence_eval.json     # the paper's Fig. 1a table
  exactdiff verify --toy ../shared/data/markov_data_table.json # its order-4 chain, over 6 letters
"""


def cmd_verify(args):
    from ..checks.suite import default_suite, format_table, results_to_json, run_suite

    validate_output_file(args.json, "--json")
    toy = load_table_toy(args.toy) if args.toy else None
    label = os.path.basename(args.toy) if args.toy else None
    tasks = default_suite(seed=args.seed, quick=args.quick, toy=toy, label=label,
                          symbolic=True if args.symbolic else None, budget_s=args.budget)
    results, seconds = run_suite(tasks, progress=not args.no_progress)
    if args.json == "-":
        print(results_to_json(results, seconds))
    else:
        print(format_table(results, wide=args.wide))
        print(f"wall time {seconds:.1f} s")
        if args.json:
            with open(args.json, "w") as fh:
                fh.write(results_to_json(results, seconds))
    return 0 if all(r.passed for r in results) else 1


def add_parser(sub):
    v = sub.add_parser("verify", help="run the identity checks and print a table",
                       epilog=VERIFY_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("--quick", action="store_true", help="a fast subset of the checks")
    v.add_argument("--symbolic", action="store_true",
                   help="run the sympy proofs also with --quick or --toy (the full run has them)")
    v.add_argument("--budget", type=non_negative_float, default=20.0, metavar="S",
                   help="time budget in seconds per symbolic case before the mpmath fall-back (default 20)")
    v.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH ('-' for stdout)")
    v.add_argument("--toy", metavar="PATH", help=TOY_HELP + "; checks every identity on it (a Markov chain "
                   "over 6 letters)")
    v.add_argument("--seed", type=int, default=0, help="seed for the random toys (default 0)")
    v.add_argument("--wide", action="store_true", help="print every field in full (wider than 100 columns)")
    v.add_argument("--no-progress", action="store_true",
                   help="hide the progress bar (it is shown only when standard error is a terminal)")
    v.set_defaults(func=cmd_verify)
    return v

