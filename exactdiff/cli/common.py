"""What the subcommands share: loading a toy, option types that reject bad values with
the option's own name, and checking that an output path can be written before any work
is done."""

from __future__ import annotations

import argparse
import os

import numpy as np

from ..core.callables import import_callable
from ..io import load_distribution
from ..markov import MarkovChain
from ..masked import CorruptedDenoiser, EmpiricalDenoiser, MarkovDenoiser, OracleDenoiser
from ..sequences import Distribution

__all__ = ["load_toy", "load_table_toy", "int_at_least", "non_negative_float", "unit_interval",
           "validate_output_file", "validate_output_folder", "TOY_HELP", "DENOISERS", "denoiser_from_option"]

TOY_HELP = ("a toy file: a {sequence: probability} JSON (like ../shared/data/sequence_eval.json), a Markov "
            "{context: {letter: probability}} JSON (like ../shared/data/markov_data_table.json), or a .npy "
            "table of shape (N,)*L")


def load_toy(path):
    """A :class:`Distribution` or :class:`MarkovChain` from a file (:func:`load_distribution`)."""
    return load_distribution(path)


#: Length of the law a Markov-chain toy is enumerated over by ``verify --toy``.
CHAIN_TOY_LENGTH = 6


def load_table_toy(path):
    """A toy as a table: a Markov chain is enumerated over max(order, CHAIN_TOY_LENGTH)
    letters, from its stationary law."""
    toy = load_distribution(path)
    if isinstance(toy, MarkovChain):
        toy = toy.to_distribution(max(toy.order, CHAIN_TOY_LENGTH))
    if not isinstance(toy, Distribution):  # pragma: no cover - load_distribution returns one of the two
        raise ValueError(f"could not read a distribution from {path!r}.")
    return toy


def int_at_least(minimum):
    """An argparse type: an integer >= ``minimum``."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum} (got {text!r})") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum} (got {value})")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def non_negative_float(text):
    """An argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number >= 0 (got {text!r})") from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0 (got {text})")
    return value


def unit_interval(text):
    """An argparse type: a number in [0, 1]."""
    value = non_negative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1] (got {text})")
    return value


def validate_output_file(path, option):
    """Refuse, before any work, an output file that cannot be written."""
    if path in (None, "-"):
        return
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"{option} {path!r} is a folder; give a file name.")
    if not os.path.isdir(folder):
        raise ValueError(f"{option} {path!r}: the folder {folder!r} does not exist.")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise ValueError(f"{option} {path!r} cannot be written (permission denied).")


def validate_output_folder(path, option):
    """Refuse, before any work, an output folder that is a file or cannot be created."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{option} {path!r} is a file; give a folder (it is created if needed).")
    parent = os.path.abspath(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise ValueError(f"{option} {path!r} cannot be created under {parent!r} (permission denied).")


#: The built-in denoisers of ``--denoiser`` (``nll``, ``audit``).
DENOISERS = ("oracle", "empirical", "corrupted")


def denoiser_from_option(toy, args):
    """The denoiser named by ``--denoiser`` for a table or chain toy (fitted ones on
    samples drawn from their own stream, the first one spawned from ``--seed``), or the
    user's callable named by an import path ``module:callable``. Reads ``args.denoiser``,
    ``args.seed``, ``args.epsilon`` and ``args.fit_samples``."""
    if ":" in args.denoiser:
        return import_callable(args.denoiser, what="--denoiser")
    if args.denoiser not in DENOISERS:
        raise ValueError(f"--denoiser must be one of {', '.join(DENOISERS)} or an import path 'module:callable' "
                         f"(got {args.denoiser!r}).")
    rng = np.random.default_rng(np.random.SeedSequence(args.seed).spawn(1)[0])
    if args.denoiser == "oracle":
        return OracleDenoiser(toy)
    if args.denoiser == "corrupted":
        return CorruptedDenoiser(OracleDenoiser(toy), epsilon=args.epsilon, N=toy.N)
    if isinstance(toy, MarkovChain):  # fitted: a chain of the same order fitted on one long sample
        sample = toy.sample(1, args.fit_samples, rng)
        return MarkovDenoiser(sample, N=toy.N, order=toy.order)
    return EmpiricalDenoiser(toy.sample(args.fit_samples, rng), N=toy.N)
