"""Argument checks shared by the whole package. Every failure is a ``ValueError``
that names the argument, states the rule and shows the value."""

from __future__ import annotations

import numpy as np

#: Absolute tolerance on "sums to 1" and "columns sum to 0" for float64 input.
SUM_ATOL = 1e-9


def as_probability_table(table, name="p0", shape=None):
    """Return ``table`` as a float64 array after checking it is a probability table."""
    arr = np.asarray(table, dtype=np.float64)
    if shape is not None and arr.shape != tuple(shape):
        raise ValueError(f"`{name}` must have shape {tuple(shape)} (got {arr.shape}).")
    if arr.size == 0:
        raise ValueError(f"`{name}` must not be empty (got shape {arr.shape}).")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite (got {np.count_nonzero(~np.isfinite(arr))} non-finite entries).")
    if np.any(arr < 0):
        raise ValueError(f"`{name}` must be non-negative (got minimum {arr.min():.3g}).")
    total = float(arr.sum())
    if abs(total - 1.0) > SUM_ATOL:
        raise ValueError(f"`{name}` must sum to 1 (got {total:.12g}).")
    return arr


def check_time(t, name="t"):
    """Return ``t`` as a float after checking it is finite and non-negative."""
    arr = np.asarray(t, dtype=np.float64)
    if arr.ndim != 0:
        raise ValueError(f"`{name}` must be a scalar (got shape {arr.shape}).")
    value = float(arr)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"`{name}` must be a finite time >= 0 (got {value}).")
    return value


def check_lambda(lam, name="lam"):
    """Return ``lam`` as a float after checking it lies in [0, 1]."""
    arr = np.asarray(lam, dtype=np.float64)
    if arr.ndim != 0:
        raise ValueError(f"`{name}` must be a scalar (got shape {arr.shape}).")
    value = float(arr)
    if not (0.0 <= value <= 1.0):
        raise ValueError(f"`{name}` must lie in [0, 1] (got {value}).")
    return value


def as_generator(Q, name="Q"):
    """Return ``Q`` as a float64 generator in the column convention, after checking it.

    Rules: square, finite, off-diagonal entries >= 0 (``Q[y, x]`` is the rate from
    ``x`` to ``y``) and every column sums to 0.
    """
    arr = np.asarray(Q, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"`{name}` must be a square matrix (got shape {arr.shape}).")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite.")
    off = arr - np.diag(np.diag(arr))
    if np.any(off < 0):
        y, x = np.unravel_index(np.argmin(off), off.shape)
        raise ValueError(
            f"`{name}` must have non-negative off-diagonal rates (got {name}[{y}, {x}] = {off[y, x]:.3g})."
        )
    col = arr.sum(axis=0)
    scale = max(1.0, float(np.abs(arr).max()))
    if np.any(np.abs(col) > SUM_ATOL * scale):
        j = int(np.argmax(np.abs(col)))
        raise ValueError(
            f"`{name}` must have columns summing to 0 (column convention: Q[y, x] is the rate "
            f"from x to y); column {j} sums to {col[j]:.3g}."
        )
    return arr


def check_memory(n_bytes, limit_bytes, what):
    """Refuse, before allocating, a computation whose estimated peak exceeds the limit."""
    if n_bytes > limit_bytes:
        raise ValueError(
            f"{what} would need about {format_bytes(n_bytes)} of memory, more than the "
            f"limit of {format_bytes(limit_bytes)}; use a smaller toy or another engine."
        )


def format_bytes(n):
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if n < 1024 or unit == "EiB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EiB"


def as_table(p0, name="p0"):
    """The probability table of a Distribution, or a validated array of shape (N,)*L."""
    table = getattr(p0, "table", None)
    if table is not None and not isinstance(p0, np.ndarray):
        return np.asarray(table, dtype=np.float64)
    arr = np.asarray(p0, dtype=np.float64)
    if arr.ndim < 1 or len(set(arr.shape)) != 1:
        raise ValueError(f"`{name}` must have shape (N,)*L, all axes equal (got {arr.shape}).")
    return as_probability_table(arr, name=name)
