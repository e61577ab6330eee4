"""What the subcommands share: loading a toy from a path."""

from __future__ import annotations

from ..io import load_distribution
from ..markov import MarkovChain
from ..sequences import Distribution

__all__ = ["load_toy", "load_table_toy"]


def load_toy(path):
    """A :class:`Distribution` or :class:`MarkovChain` from a file (:func:`load_distribution`)."""
    return load_distribution(path)


def load_table_toy(path):
    """A toy as a table: a Markov chain is enumerated over max(order, 3)..6 letters."""
    toy = load_distribution(path)
    if isinstance(toy, MarkovChain):
        toy = toy.to_distribution(min(6, max(toy.order, 3)))
    if not isinstance(toy, Distribution):
        raise ValueError(f"could not read a distribution from {path!r}.")
    return toy
