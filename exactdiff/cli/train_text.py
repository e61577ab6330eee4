"""``exactdiff train --text PATH``: train a denoiser of 16-letter responses given a
16-letter prompt on samples of the order-k chain that ``exactdiff ood`` fits on PATH
(JAX, the ``train`` extra), with a validation gap at checkpoints; save it as ``.npz``
with its learning curve. The ``--toy`` path is :mod:`exactdiff.cli.train`."""

from __future__ import annotations

import math
import os
import sys

from ..audit.ood import MAX_ORDER
from ..train.text import TEXT_RECIPE

#: Options that only the text path takes, with their defaults (``TEXT_RECIPE``).
TEXT_ONLY = {"order": TEXT_RECIPE["order"], "train_chars": 40_000, "prompt": TEXT_RECIPE["prompt"],
             "response": TEXT_RECIPE["response"]}
#: Largest response: the exact audit enumerates 2^R masks per response.
MAX_RESPONSE = 20

#: The columns printed for each checkpoint: (row key, header, width, format spec).
COLUMNS = (("step", "step", 7, "d"), ("train_seconds", "train s", 8, ".1f"), ("train_loss", "loss", 8, ".3f"),
           ("val_dce", "val. DCE", 9, ".3f"), ("gap", "gap (KL)", 9, ".3f"), ("gap_se", "± s.e.", 7, ".3f"))


def _format_row(row):
    cells = []
    for key, _, width, spec in COLUMNS:
        value = row.get(key)
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        cells.append(f"{'–':>{width}}" if missing else f"{value:>{width}{spec}}")
    return "  ".join(cells)


def check_text_options(args):
    """Raise ``ValueError`` (one line, naming the option, the rule and the value) for
    options of the text path that do not fit together."""
    if not 1 <= args.order <= MAX_ORDER:
        raise ValueError(f"--order must be between 1 and {MAX_ORDER} (got {args.order}).")
    if args.prompt < args.order:
        raise ValueError(f"--prompt must be at least --order={args.order}: the prompt fixes the chain's context "
                         f"(got {args.prompt}).")
    if args.response > MAX_RESPONSE:
        raise ValueError(f"--response must be at most {MAX_RESPONSE}: the exact audit enumerates 2^response masks "
                         f"(got {args.response}).")


def cmd_train_text(args):
    from ..audit.ood import fit_text_chain
    from ..audit.text import read_text
    from ..train import require_training_extra, text_learning_curve, train_text_denoiser

    check_text_options(args)
    text = read_text(args.text, name="--text", min_length=4 * args.order + 5)
    try:
        require_training_extra()
    except ImportError as exc:  # one line, exit status 2
        raise ValueError(str(exc)) from None
    chain, alpha, _ = fit_text_chain(text, order=args.order, train_chars=args.train_chars)
    record = {"file": os.path.basename(args.text), "train_chars": min(args.train_chars, len(text)), "alpha": alpha}
    print(f"# training a prompt MLP {args.depth}x{args.width} on samples of the order-{args.order} chain fitted on "
          f"the first {record['train_chars']:,} characters of {args.text} (alpha {alpha:g}); prompt {args.prompt} + "
          f"response {args.response} letters, {args.steps} steps of {args.batch}, seed {args.seed}; validation gap "
          f"at step 0 and {args.checkpoints or min(12, args.steps)} checkpoints")
    print("  ".join(f"{header:>{width}}" for _, header, width, _ in COLUMNS))
    progress = not args.no_progress and sys.stderr.isatty()

    def show(row):
        line = _format_row(row)
        if progress:
            from tqdm import tqdm

            tqdm.write(line)
        else:
            print(line, flush=True)

    result = train_text_denoiser(chain, steps=args.steps, seed=args.seed, prompt=args.prompt, response=args.response,
                                 width=args.width, depth=args.depth, batch=args.batch, lr=args.lr, warmup=args.warmup,
                                 law=args.law, checkpoints=args.checkpoints, chain_record=record,
                                 progress=progress, callback=show)
    paths = result.save(args.out)
    paths["loss_curve.png"] = text_learning_curve(
        result.history, os.path.join(args.out, "loss_curve.png"), loss=result.loss,
        title=f"exactdiff train --text: prompt MLP {args.depth}x{args.width}, {args.steps:,} steps of {args.batch}, "
              f"seed {args.seed}")
    print(f"# {result.train_seconds + result.data_seconds:.1f} s training ({result.train_cpu_seconds:.1f} s CPU in "
          f"the compiled steps, {result.data_seconds:.1f} s drawing chain samples), "
          f"{result.validation_seconds:.1f} s validation")
    for path in paths.values():
        print(path)
    return 0
