"""Argument checks shared by the whole package: one validator per kind of argument.

Every failure is a ``ValueError`` that names the argument in backticks, states the rule
and shows the value (scipy's form): ``"`p0` must sum to 1 (got 0.93)."``
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "SUM_ATOL",
    "as_probability_table",
    "as_table",
    "as_generator",
    "validate_time",
    "validate_lambda",
    "validate_total_noise",
    "validate_count",
    "validate_rng",
    "validate_positions",
    "validate_target_context",
    "as_token_array",
    "show_tokens",
    "validate_pseudo_count",
    "as_samples",
    "show_masked",
]

#: Absolute tolerance on "sums to 1" and "columns sum to 0" for float64 input.
SUM_ATOL = 1e-9


def as_probability_table(table, name="p0", shape=None):
    """``table`` as a float64 array after checking it is a probability table: the
    given ``shape`` (if any), not empty, finite, non-negative, summing to 1 within
    :data:`SUM_ATOL`."""
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


def as_table(p0, name="p0"):
    """The probability table of a :class:`~exactdiff.Distribution`, or a validated
    NumPy array of shape (N,)*L."""
    table = getattr(p0, "table", None)
    if table is not None and not isinstance(p0, np.ndarray):
        return np.asarray(table, dtype=np.float64)
    arr = np.asarray(p0, dtype=np.float64)
    if arr.ndim < 1 or len(set(arr.shape)) != 1:
        raise ValueError(f"`{name}` must have shape (N,)*L, all axes equal (got {arr.shape}).")
    return as_probability_table(arr, name=name)


def as_generator(Q, name="Q"):
    """``Q`` as a float64 generator in the column convention, after checking it.

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


def _scalar(value, name):
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 0:
        raise ValueError(f"`{name}` must be a scalar (got shape {arr.shape}).")
    return float(arr)


def validate_time(t, name="t"):
    """``t`` as a float after checking it is a finite time >= 0."""
    value = _scalar(t, name)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"`{name}` must be a finite time >= 0 (got {value}).")
    return value


def validate_lambda(lam, name="lam"):
    """``lam`` as a float after checking it is a masking level in [0, 1]."""
    value = _scalar(lam, name)
    if not (0.0 <= value <= 1.0):
        raise ValueError(f"`{name}` must lie in [0, 1] (got {value}).")
    return value


def validate_total_noise(sbar, name="sbar"):
    """``sbar`` as a float after checking it is a total noise σ̄ >= 0 (``inf`` allowed)."""
    value = _scalar(sbar, name)
    if not value >= 0:  # also rejects nan
        raise ValueError(f"`{name}` must be a total noise >= 0 (got {value}).")
    return value


def validate_count(n, name="n", minimum=1):
    """``n`` as an int after checking it is an integer >= ``minimum``."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        if not (isinstance(n, numbers.Real) and float(n).is_integer()):
            raise ValueError(f"`{name}` must be an integer >= {minimum} (got {n!r}).")
    if int(n) < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum} (got {n!r}).")
    return int(n)


def validate_rng(rng, name="rng"):
    """A ``numpy.random.Generator``: ``rng`` itself, or one seeded with the integer ``rng``."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ValueError(f"`{name}` must be a numpy.random.Generator or an integer seed (got {rng!r}).")


def validate_positions(positions, L, name="positions"):
    """Distinct integer positions in 0..L−1, as a tuple in the given order."""
    raw = positions.tolist() if isinstance(positions, np.ndarray) else list(positions)
    if any(isinstance(i, (bool, np.bool_)) or not isinstance(i, numbers.Integral) for i in raw):
        raise ValueError(f"`{name}` must hold integer positions (got {raw!r}).")
    pos = tuple(int(i) for i in raw)
    if any(not 0 <= i < L for i in pos):
        raise ValueError(f"`{name}` must hold positions in 0..{L - 1} for L={L} (got {list(pos)}).")
    if len(set(pos)) != len(pos):
        raise ValueError(f"`{name}` must not repeat a position (got {list(pos)}).")
    return pos


def validate_target_context(L, target, context):
    """Validated (target, context): disjoint position tuples, the target not empty."""
    target = validate_positions(target, L, "target")
    context = validate_positions(() if context is None else context, L, "context")
    if not target:
        raise ValueError("`target` must hold at least one position (got none).")
    both = sorted(set(target) & set(context))
    if both:
        raise ValueError(f"`target` and `context` must be disjoint (both hold {both}).")
    return target, context


def as_token_array(x, n, name="x", ndim=2):
    """``x`` as an int64 array of ``ndim`` axes with entries in 0..n−1."""
    arr = np.asarray(x)
    if arr.ndim != ndim or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"`{name}` must be an integer array with {ndim} {'axis' if ndim == 1 else 'axes'} "
                         f"(got dtype {arr.dtype}, shape {arr.shape}).")
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise ValueError(f"`{name}` must hold tokens in 0..{n - 1} (got values in {arr.min()}..{arr.max()}).")
    return arr.astype(np.int64, copy=False)


def show_tokens(tokens, alphabet=None):
    """A token tuple as text for messages: a string over ``alphabet``, else ``(0, 2, 1)``
    (plain ints, never ``np.int64(0)``)."""
    values = [int(v) for v in np.ravel(tokens)]
    if alphabet is not None and all(0 <= v < len(alphabet) for v in values):
        return repr("".join(alphabet[v] for v in values))
    return "(" + ", ".join(map(str, values)) + ("," if len(values) == 1 else "") + ")"


def finite_float(value, name):
    """``value`` as a finite float."""
    value = _scalar(value, name)
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite (got {value}).")
    return value


def validate_pseudo_count(alpha, default, name="alpha"):
    """A finite additive-smoothing pseudo-count >= 0 (``default`` when ``alpha`` is None)."""
    alpha = default if alpha is None else _scalar(alpha, name)
    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"`{name}` must be a finite pseudo-count >= 0 (got {alpha}).")
    return float(alpha)


def as_samples(samples, N=None, name="samples", ndim=(2,)):
    """Integer samples (a non-empty array with ``ndim`` axes) and N: the given one, checked
    against the tokens, or the largest token + 1."""
    arr = np.asarray(samples)
    if arr.ndim not in ndim or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"`{name}` must be a non-empty integer array with {' or '.join(map(str, ndim))} axes "
                         f"(got dtype {arr.dtype}, shape {arr.shape}).")
    N = int(arr.max()) + 1 if N is None else validate_count(N, "N")
    return as_token_array(arr, N, name, ndim=arr.ndim), N


def show_masked(row, N, alphabet=None):
    """A noisy row (mask id N) as text for messages: letters, or token ids, with ``_``
    for the mask: ``'A_G_'`` or ``(0, _, 2, _)``."""
    row = [int(v) for v in np.ravel(row)]
    if alphabet is not None and len(alphabet) == N:
        return repr("".join("_" if v == N else alphabet[v] for v in row))
    return "(" + ", ".join("_" if v == N else str(v) for v in row) + ")"
