"""Reading toys from files: the paper's two JSON formats and ``.npy`` tables.

Every problem with a file is a one-line ``ValueError`` that names the file: missing, a
folder, empty, not JSON, not a NumPy file, or holding something that is not a table.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile

import numpy as np

from .markov import MarkovChain
from .sequences import Distribution

__all__ = ["load_distribution"]


def _check_file(path):
    if not os.path.exists(path):
        raise ValueError(f"{path!r} does not exist.")
    if os.path.isdir(path):
        raise ValueError(f"{path!r} is a folder; give the path of a toy file (a .json or .npy file).")
    if os.path.getsize(path) == 0:
        raise ValueError(f"{path!r} is empty.")


def _load_npy(path, alphabet):
    with open(path, "rb") as fh:
        magic = fh.read(6)
    if magic != b"\x93NUMPY":
        raise ValueError(f"{path!r} is not a NumPy .npy file (it does not start with the .npy magic bytes; "
                         f"write tables with numpy.save).")
    try:
        table = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path!r} is not a NumPy .npy file ({exc}).") from None
    if not isinstance(table, np.ndarray) or table.ndim < 2:
        shape = getattr(table, "shape", None)
        raise ValueError(f"{path!r} holds an array of shape {shape}; a table over V^L has one axis of size N per "
                         f"position, shape (N,)*L with L >= 2 — save it with its axes, e.g. "
                         f"np.save(path, table.reshape((N,) * L)) (an L = 1 toy can be a JSON file).")
    try:
        return Distribution.from_array(table, alphabet=alphabet)
    except ValueError as exc:
        raise ValueError(f"{path!r}: {exc}") from None


def _load_json(path):
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path!r} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}).") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path!r} is not a text (JSON) file.") from None
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path!r} must hold a non-empty JSON object: {{sequence: probability}} or "
                         f"{{context: {{letter: probability}}}}.")
    return data


def load_distribution(path, L: int | None = None, alphabet: str | None = None):
    """Load a distribution from a file in one of the paper's two formats, or ``.npy``.

    - ``{sequence: probability}`` JSON (``sequence_eval.json``): a :class:`Distribution`.
    - ``{context: {letter: probability}}`` JSON (``markov_data_table.json``): a
      :class:`~exactdiff.MarkovChain`; with ``L`` given, its enumerated law over L
      letters.
    - ``.npy``: a table of shape (N,)*L, L >= 2.

    Raises ``ValueError`` naming the file when it is missing, a folder, empty, not valid
    JSON or NumPy, or not a table.
    """
    path = os.fspath(path)
    _check_file(path)
    if path.endswith(".npy"):
        return _load_npy(path, alphabet)
    data = _load_json(path)
    first = next(iter(data.values()))
    try:
        if isinstance(first, dict):
            chain = MarkovChain.from_dict(data, alphabet=alphabet)
            return chain if L is None else chain.to_distribution(L)
        return Distribution.from_dict(data, alphabet=alphabet)
    except ValueError as exc:
        raise ValueError(f"{path!r}: {exc}") from None
