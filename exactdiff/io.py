"""Reading toys from files: the paper's two JSON formats and ``.npy`` tables."""

from __future__ import annotations

import json
import os

import numpy as np

from .markov import MarkovChain
from .sequences import Distribution

__all__ = ["load_distribution"]


def load_distribution(path, L: int | None = None, alphabet: str | None = None):
    """Load a distribution from a file in one of the paper's two formats, or ``.npy``.

    - ``{sequence: probability}`` JSON (``sequence_eval.json``): a :class:`Distribution`.
    - ``{context: {letter: probability}}`` JSON (``markov_data_table.json``): a
      :class:`~exactdiff.MarkovChain`; with ``L`` given, its enumerated law over L
      letters.
    - ``.npy``: a table of shape (N,)*L.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"`path` {path!r} does not exist.")
    if path.endswith(".npy"):
        return Distribution.from_array(np.load(path), alphabet=alphabet)
    with open(path) as fh:
        data = json.load(fh)
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path!r} must hold a non-empty JSON object.")
    first = next(iter(data.values()))
    if isinstance(first, dict):
        chain = MarkovChain.from_dict(data, alphabet=alphabet)
        return chain if L is None else chain.to_distribution(L)
    return Distribution.from_dict(data, alphabet=alphabet)
