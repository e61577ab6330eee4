"""``exactdiff figures``: regenerate the gallery of :mod:`exactdiff.figures`."""

from __future__ import annotations

import argparse
import sys

from .common import validate_output_folder

FIGURES_EXAMPLE = """examples:
  exactdiff figures --out figures            # the whole gallery (a few minutes; the committed figures)
  exactdiff figures --out /tmp/f --only i_mdce running_nll
"""


def cmd_figures(args):
    from ..figures import FIGURES, generate_all

    validate_output_folder(args.out, "--out")
    unknown = sorted(set(args.only or ()) - set(FIGURES))
    if unknown:
        raise ValueError(f"--only: unknown figure(s) {unknown}; choose from {sorted(FIGURES)}.")
    progress = not args.no_progress and sys.stderr.isatty()
    for path in generate_all(args.out, seed=args.seed, names=args.only, progress=progress):
        print(path)
    return 0


def add_parser(sub):
    f = sub.add_parser("figures", help="regenerate every figure of the gallery",
                       epilog=FIGURES_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    f.add_argument("--only", nargs="+", metavar="NAME", help="only these figures")
    f.add_argument("--seed", type=int, default=0, help="seed of every figure's toys and draws (default 0)")
    f.add_argument("--no-progress", action="store_true", help="hide the progress bar (shown only on a terminal)")
    f.set_defaults(func=cmd_figures)
    return f
