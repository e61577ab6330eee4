"""``exactdiff ood``: out-of-distribution detection on real text with an order-k chain,
the exact AUROC and the AUROC of the time-free estimator (and the flawed mask laws) at
n draws per response."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..audit.ood import MAX_ORDER, REPORT_N, ood_detection, plot_ood
from ..core.serialize import jsonable
from ..audit.text import read_text
from .common import validate_output_file, int_at_least, non_negative_float

OOD_EXAMPLE = """examples:
  exactdiff ood --train ../shared/data/text8/text8_eval_data.txt --in ../shared/data/text8/text8_eval_data.txt --ood ../shared/data/text8/text8_gpt_eval_data.txt --order 3 --pairs 500 --seed 0 --json -
  exactdiff ood --train ../shared/data/text8/text8_eval_data.txt --in ../shared/data/text8/text8_eval_data.txt --ood ../shared/data/text8/text8_gpt_eval_data.txt --order 2 --pairs 100 --figure ood_auroc.png

Every file is mapped to the text8 alphabet (lowercase a-z and space: capitals lowered, any
other character a space, runs of spaces collapsed). The chain is fitted on the first
--train-chars characters of --train; when --in is the same file, its pairs come from the
characters after those.
"""


def cmd_ood(args):
    validate_output_file(args.json, "--json")
    validate_output_file(args.figure, "--figure")
    prompt, response = 16, 16
    train = read_text(args.train, name="--train", min_length=4 * args.order + 5)
    same = os.path.realpath(args.in_path) == os.path.realpath(args.train)
    held_needed = (args.train_chars if same else 0) + prompt + response
    in_text = train if same else read_text(args.in_path, name="--in", min_length=prompt + response)
    if same and len(in_text) < held_needed:
        raise ValueError(f"--in {args.in_path!r} is the --train file: it has {len(in_text):,} characters, but one "
                         f"pair needs {prompt + response} after the first --train-chars {args.train_chars:,} "
                         f"(used to fit).")
    ood = read_text(args.ood, name="--ood", min_length=response)
    progress = not args.no_progress and sys.stderr.isatty()
    res = ood_detection(train, in_text, ood, order=args.order, pairs=args.pairs, seed=args.seed, alpha=args.alpha,
                        train_chars=args.train_chars, same_file=same, seeds=args.seeds, max_draws=args.max_draws,
                        table_pairs=args.table_pairs, prompt=prompt, response=response, jobs=args.jobs,
                        progress=progress and args.jobs == 1)
    res["files"] = {"train": args.train, "in": args.in_path, "ood": args.ood}
    if args.figure:
        plot_ood(res, args.figure)
    if args.json == "-":
        print(json.dumps(jsonable(res), indent=1))
        return 0
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(jsonable(res), fh, indent=1)
    _print_summary(res)
    return 0


def _print_summary(res):
    t = res["timing_s"]
    print(f"order {res['order']}, alpha {res['alpha']:g}, {res['pairs']} pairs ({res['responses']} responses), "
          f"seed {res['seed']}")
    print(f"exact AUROC {res['exact_auroc']:.4f} (bootstrap sd over prompts {res['exact_auroc_bootstrap_sd']:.3f}); "
          f"mean exact NLL in {res['nll_in_mean']:.2f}, ood {res['nll_ood_mean']:.2f} nats")
    ns = [str(n) for n in REPORT_N if str(n) in res["laws"]["time_free"]["mc_auroc_mean"]]
    print(f"{'law':<15}{'limit':>8}" + "".join(f"{'n=' + n:>16}" for n in ns) + "   draws for 0.01 (mean, rms)")
    for name, d in res["laws"].items():
        cells = "".join(f"{d['mc_auroc_mean'][n]:>9.4f}±{d['mc_auroc_sd'][n]:<6.4f}" for n in ns)
        need = d["draws_for_0.01"]
        print(f"{name:<15}{d['limit_auroc']:>8.4f}{cells}   {need['mean_within']}, {need['rms_within']}")
    print("checks (max |difference|, nats): " + ", ".join(f"{k} {v:.1e}" for k, v in res["checks"].items()
                                                           if v is not None))
    load = t.get("load_average")
    print(f"time: {t['total_wall_s']:.1f} s wall, {t['total_cpu_s']:.1f} s CPU (tables {t['tables_s']:.1f} s, "
          f"{t['jobs']} job(s))" + (f"; load average {load[0]:.2f}" if load else ""))


def add_parser(sub):
    o = sub.add_parser("ood", help="out-of-distribution detection on text: exact and Monte Carlo AUROC",
                       epilog=OOD_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    o.add_argument("--train", required=True, metavar="PATH", help="text to fit the chain on (its first --train-chars)")
    o.add_argument("--in", dest="in_path", required=True, metavar="PATH",
                   help="in-distribution text: prompts and their true continuations")
    o.add_argument("--ood", required=True, metavar="PATH", help="out-of-distribution text: the other responses")
    o.add_argument("--order", type=int_at_least(1), default=3, help=f"chain order k, 1..{MAX_ORDER} (default 3)")
    o.add_argument("--pairs", type=int_at_least(1), default=500, help="prompts (each scored twice; default 500)")
    o.add_argument("--seed", type=int, default=0, help="seed of the pairs and of the Monte Carlo draws (default 0)")
    o.add_argument("--alpha", type=non_negative_float, help="smoothing pseudo-count (default: chosen on the "
                   "last quarter of the training characters)")
    o.add_argument("--train-chars", type=int_at_least(2), default=40_000,
                   help="characters of --train the chain is fitted on (default 40000)")
    o.add_argument("--seeds", type=int_at_least(2), default=20,
                   help="Monte Carlo repetitions, for the spread of the AUROC (default 20)")
    o.add_argument("--max-draws", type=int_at_least(1), default=1024,
                   help="largest number of draws per response on the curves (default 1024)")
    o.add_argument("--table-pairs", type=int_at_least(1),
                   help="pairs whose exact 2^16-subset tables are computed (default all; about 1 s each at order 4)")
    o.add_argument("--jobs", type=int_at_least(1), default=1,
                   help="worker processes for the tables (default 1; the numbers do not depend on it)")
    o.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH ('-' for stdout)")
    o.add_argument("--figure", metavar="PATH", help="write the densities and AUROC curves as a PNG")
    o.add_argument("--no-progress", action="store_true", help="hide the progress bar (shown only on a terminal)")
    o.set_defaults(func=cmd_ood)
    return o
