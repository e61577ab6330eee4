"""``exactdiff train``: train a time-free masked denoiser on a toy with JAX (the ``train``
extra), audit it exactly at checkpoints, and save it as ``.npz`` with its learning curve.
With ``--text`` instead of ``--toy``: a denoiser of responses given a prompt, trained on
samples of the chain of ``exactdiff ood`` (:mod:`exactdiff.cli.train_text`)."""

from __future__ import annotations

import argparse
import math
import os
import sys

from ..sequences import Distribution
from ..train.laws import RECIPE, TRAINING_LAWS
from ..train.text import TEXT_RECIPE
from .common import TOY_HELP, validate_output_folder, int_at_least, load_toy, non_negative_float
from .train_text import TEXT_ONLY, cmd_train_text

TRAIN_EXAMPLE = """examples:
  exactdiff train --toy ../shared/data/sequence_eval.json --steps 60000 --seed 0 --out runs/dna
                                                   # the committed recipe: MLP 2x512, about 8 min on 2 cores
  exactdiff train --toy ../shared/data/sequence_eval.json --steps 2000 --width 128 --out /tmp/quick
  exactdiff train --text ../shared/data/text8/text8_eval_data.txt --steps 60000 --seed 0 --out runs/text
                                                   # Fig. c's network (11 min on 2 shared cores): prompt MLP
                                                   # 2x256 on samples of the order-3 chain of exactdiff ood

writes DIR/params.npz (load it with exactdiff.train.load_denoiser), DIR/history.json (the exact
learning curve; with --text the validation gap), DIR/loss.npy and DIR/loss_curve.png; needs
pip install "exactdiff[train]".
"""

#: The columns printed for each checkpoint: (row key, header, width, format spec).
COLUMNS = (("step", "step", 7, "d"), ("train_seconds", "train s", 8, ".1f"), ("train_loss", "loss", 8, ".4f"),
           ("expected_dce", "exp. DCE", 9, ".5f"), ("gap", "gap Σp·bias", 11, ".5f"),
           ("median_abs_bias", "med |bias|", 10, ".5f"), ("max_abs_bias", "max |bias|", 10, ".5f"),
           ("empirical_gap", "emp. gap", 9, ".2e"))


def _header():
    return "  ".join(f"{header:>{width}}" for _, header, width, _ in COLUMNS)


def _format_row(row):
    """One checkpoint as a table line; a missing value (e.g. the loss at step 0) as –."""
    cells = []
    for key, _, width, spec in COLUMNS:
        value = row.get(key)
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        cells.append(f"{'–':>{width}}" if missing else f"{value:>{width}{spec}}")
    return "  ".join(cells)


#: Defaults of the options both paths take: (--toy, --text).
SHARED_DEFAULTS = {key: (RECIPE[key], TEXT_RECIPE[key]) for key in ("width", "depth", "batch", "lr")}


def cmd_train(args):
    validate_output_folder(args.out, "--out")
    text = args.text is not None
    for key, value in list(vars(args).items()):
        if key in SHARED_DEFAULTS and value is None:
            setattr(args, key, SHARED_DEFAULTS[key][text])
        if key in TEXT_ONLY:
            if value is not None and not text:
                raise ValueError(f"--{key.replace('_', '-')} applies to --text only (got it with --toy).")
            if value is None:
                setattr(args, key, TEXT_ONLY[key])
    if args.checkpoints is not None and args.checkpoints > args.steps:
        raise ValueError(f"--checkpoints must be at most --steps={args.steps} (got {args.checkpoints}).")
    if args.warmup is not None and args.warmup >= args.steps:
        raise ValueError(f"--warmup must be less than --steps={args.steps} (got {args.warmup}).")
    if not args.lr > 0:
        raise ValueError(f"--lr must be > 0 (got {args.lr}).")
    return (cmd_train_text if text else cmd_train_toy)(args)


def cmd_train_toy(args):
    from ..train import learning_curve_figure, require_training_extra, train_denoiser

    toy = load_toy(args.toy)
    if not isinstance(toy, Distribution):
        raise ValueError(f"--toy {args.toy!r} is a Markov chain; training and its exact audit need a table toy "
                         f"(a {{sequence: probability}} JSON or a .npy table).")
    try:
        require_training_extra()
    except ImportError as exc:  # one line, exit status 2
        raise ValueError(str(exc)) from None
    print(f"# training an MLP {args.depth}x{args.width} on {args.toy} ({toy.support_size()} sequences, "
          f"N={toy.N}, L={toy.L}, tokens {toy.alphabet or 'by id'}), {args.steps} steps of {args.batch}, seed {args.seed}; exact audit at step 0 "
          f"and {args.checkpoints or min(12, args.steps)} checkpoints (every mask of every sequence; "
          f"H(p0) = {toy.entropy():.5f})")
    print(_header())
    progress = not args.no_progress and sys.stderr.isatty()

    def show(row):
        line = _format_row(row)
        if progress:
            from tqdm import tqdm

            tqdm.write(line)
        else:
            print(line, flush=True)

    result = train_denoiser(toy, steps=args.steps, seed=args.seed, width=args.width, depth=args.depth,
                            batch=args.batch, lr=args.lr, warmup=args.warmup, law=args.law,
                            checkpoints=args.checkpoints, progress=progress, callback=show)
    paths = result.save(args.out)
    paths["loss_curve.png"] = learning_curve_figure(
        result.history, os.path.join(args.out, "loss_curve.png"), loss=result.loss,
        title=f"exactdiff train: MLP {args.depth}x{args.width} on {os.path.basename(args.toy)}, "
              f"{args.steps:,} steps of {args.batch}, seed {args.seed}")
    print(f"# {result.train_seconds:.1f} s training ({result.train_cpu_seconds:.1f} s CPU), "
          f"{result.audit_seconds:.1f} s exact audits")
    for path in paths.values():
        print(path)
    return 0


def add_parser(sub):
    t = sub.add_parser("train", help="train a neural denoiser on a toy or on text-chain samples (JAX, the train "
                       "extra), audited exactly", epilog=TRAIN_EXAMPLE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    data = t.add_mutually_exclusive_group(required=True)
    data.add_argument("--toy", metavar="PATH", help=TOY_HELP + " (a table toy)")
    data.add_argument("--text", metavar="PATH",
                      help="a text file (mapped to the text8 alphabet): train a denoiser of responses given a prompt "
                           "on samples of the order-k chain fitted on its first --train-chars characters, the chain "
                           "of exactdiff ood")
    t.add_argument("--steps", type=int_at_least(1), required=True, help="Adam steps")
    t.add_argument("--seed", type=int_at_least(0), default=0, help="seed of the initialisation and every batch (default 0)")
    t.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    d = SHARED_DEFAULTS
    t.add_argument("--width", type=int_at_least(1), default=None,
                   help=f"hidden units per layer (default {d['width'][0]}; {d['width'][1]} with --text)")
    t.add_argument("--depth", type=int_at_least(1), default=None,
                   help=f"hidden layers (default {d['depth'][0]}; {d['depth'][1]} with --text)")
    t.add_argument("--batch", type=int_at_least(1), default=None,
                   help=f"sequences per step (default {d['batch'][0]}; {d['batch'][1]} with --text)")
    t.add_argument("--lr", type=non_negative_float, default=None,
                   help=f"peak learning rate; cosine decay to lr/100 (default {d['lr'][0]:g}; {d['lr'][1]:g} with "
                        f"--text)")
    t.add_argument("--warmup", type=int_at_least(0), default=None,
                   help="linear warm-up steps (default min(200, steps/10); min(500, steps/10) with --text)")
    t.add_argument("--law", choices=TRAINING_LAWS, default="auto",
                   help="mask law of the λ-DCE objective (all unbiased; they differ in gradient variance): auto is "
                        "the recipe's size law tuned at L = 8, k-DCE at other lengths (default auto)")
    t.add_argument("--checkpoints", type=int_at_least(1), default=None,
                   help="exact audits (with --text: validations) during training, evenly spaced "
                        "(default min(12, steps))")
    t.add_argument("--order", type=int_at_least(1), default=None,
                   help=f"with --text: the chain's order k (default {TEXT_ONLY['order']})")
    t.add_argument("--train-chars", type=int_at_least(2), default=None,
                   help=f"with --text: characters the chain is fitted on (default {TEXT_ONLY['train_chars']})")
    t.add_argument("--prompt", type=int_at_least(1), default=None,
                   help=f"with --text: prompt letters, always visible (default {TEXT_ONLY['prompt']})")
    t.add_argument("--response", type=int_at_least(1), default=None,
                   help=f"with --text: response letters, masked (default {TEXT_ONLY['response']})")
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar (shown only on a terminal)")
    t.set_defaults(func=cmd_train)
    return t
