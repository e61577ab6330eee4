"""Array primitives of the factorized engine: per-axis contractions over tables of
shape (n,)*L. None of them forms an S×S array; each costs O(a·b·S) per axis."""

from __future__ import annotations

import numpy as np


def apply_axis(M, table, axis):
    """Apply the matrix M (a×b) along ``axis`` of ``table``: out[..a..] = Σ_b M[a,b] table[..b..]."""
    return np.moveaxis(np.tensordot(M, table, axes=([1], [axis])), 0, axis)


def apply_all(M, table):
    """Apply M along every axis of ``table`` (M ⊗ M ⊗ … ⊗ M)."""
    for axis in range(table.ndim):
        table = apply_axis(M, table, axis)
    return table


def sum_over_axes(M, table):
    """Σ_i (M along axis i) table."""
    return sum(apply_axis(M, table, axis) for axis in range(table.ndim))


def token_sum(values, L):
    """The table Σ_i values[x^i] of shape (len(values),)*L."""
    values = np.asarray(values, dtype=np.float64)
    out = np.zeros((values.shape[0],) * L)
    for axis in range(L):
        shape = [1] * L
        shape[axis] = values.shape[0]
        out += values.reshape(shape)
    return out


def split_log(p):
    """(log p with 0 where p = 0, boolean mask of p = 0): the finite part of log p."""
    zero = p == 0
    return np.log(np.where(zero, 1.0, p)), zero


def embed(p0, n):
    """Embed a table over (N,)*L into (n,)*L (n >= N) with zeros elsewhere."""
    N, L = p0.shape[0], p0.ndim
    if n == N:
        return p0
    out = np.zeros((n,) * L)
    out[(slice(0, N),) * L] = p0
    return out
