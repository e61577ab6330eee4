"""Array primitives of the factorized engine: per-axis contractions over tables of
shape (n,)*L. None of them forms an S×S array; each costs O(a·b·S) per axis.

Every function works in the namespace of its ``table`` argument (NumPy, CuPy or any
array-API library, see :mod:`exactdiff.backend`) and uses only the standard's
operations: ``reshape``, ``@``, ``where``, ``log``, slicing and ``__setitem__``.
Small matrices (``M``) may be given as NumPy arrays; they are moved to the table's
device.

Contraction along one axis (:func:`apply_axis`). The table is viewed, without a copy, as
(a, n, b) with a = Π of the axes before ``axis`` and b = Π of those after it, and

    out[α, i, β] = Σ_j M[i, j] table[α, j, β]        (one matrix product M @ table per α)

The last axis (b = 1) is computed as table(a, n) @ Mᵀ in blocks of at most
:data:`ROW_BLOCK` rows: one tall product (S/n × n)·(n × m) is several times slower in
OpenBLAS, and much slower with two threads, than the same work in blocks; axes just
before the last with b·n <= :data:`KRON_WIDTH` likewise, with M ⊗ I_b. Each pass reads
the table once and writes the output once.

Memory. :func:`sum_over_axes` and :func:`map_blocks` work block by block with temporaries
of at most :data:`BLOCK_ELEMENTS` elements (see :func:`blocks`), so that a quantity for all
x0 needs a fixed small number of full tables (see :mod:`exactdiff.memory`).
"""

from __future__ import annotations

import math

import numpy as np

from .backend import asarray_like, device, namespace

#: Rows per block of the last-axis product (see the module docstring).
ROW_BLOCK = 4096

#: Axes with b·max(n, m) <= KRON_WIDTH are contracted with the last ones as one:
#: table(a, n·b) @ (M ⊗ I_b)ᵀ. For n = 4 the axis before the last is then a product with
#: a 16×16 matrix (35 ms at S = 2^24) instead of S/16 products of 4×4 matrices (50 ms).
KRON_WIDTH = 16

#: Largest temporary, in elements, of the blockwise helpers: 2^22 float64 = 32 MiB.
BLOCK_ELEMENTS = 1 << 22


def apply_axis(M, table, axis):
    """Apply the matrix M (m×n) along ``axis`` of ``table``: out[..i..] = Σ_j M[i,j] table[..j..].

    Parameters
    ----------
    M : array, shape (m, n)
    table : array, shape[axis] == n
    axis : int

    Returns
    -------
    array of the table's shape with ``shape[axis]`` replaced by m, in the table's namespace.
    """
    xp = namespace(table)
    M = asarray_like(M, table)
    shape = tuple(table.shape)
    n, m = shape[axis], M.shape[0]
    if M.shape[1] != n:
        raise ValueError(f"`M` of shape {tuple(M.shape)} cannot act on axis {axis} of length {n}.")
    a = math.prod(shape[:axis])
    b = math.prod(shape[axis + 1:])
    if b == 1 or b * max(n, m) <= KRON_WIDTH:
        # the last axes as one: out(a, m·b) = table(a, n·b) @ (M ⊗ I_b)ᵀ, in row blocks
        K = M if b == 1 else xp.reshape(
            xp.reshape(M, (m, 1, n, 1)) * xp.reshape(xp.eye(b, dtype=M.dtype, device=device(M)), (1, b, 1, b)),
            (m * b, n * b))
        rows = _row_block(shape[:axis])
        out = xp.reshape(table, (a // rows, rows, n * b)) @ K.T
    else:
        out = M @ xp.reshape(table, (a, n, b))
    return xp.reshape(out, shape[:axis] + (m,) + shape[axis + 1:])


def _row_block(leading):
    """The product of the trailing ``leading`` axes that stays <= ROW_BLOCK (at least 1)."""
    rows = 1
    for size in reversed(leading):
        if rows * size > ROW_BLOCK:
            break
        rows *= size
    return rows


def apply_all(M, table):
    """Apply M (m×n) along every axis of ``table`` (M ⊗ M ⊗ … ⊗ M); L passes.

    A table of more than :data:`BLOCK_ELEMENTS` elements is done slab by slab: axes
    1..L−1 of each slab ``table[j]`` (recursively), then axis 0, in place when M is
    square. Besides ``table`` and the result, only G = (M along axes 1..L−1) table,
    of shape (n, m, …, m), and slab-sized temporaries exist; for a square M, G is the
    result.
    """
    xp = namespace(table)
    M = asarray_like(M, table)
    if table.ndim == 1 or table.size <= BLOCK_ELEMENTS:
        for axis in range(table.ndim):
            table = apply_axis(M, table, axis)
        return table
    m, n = M.shape
    G = xp.empty((table.shape[0],) + (m,) * (table.ndim - 1), dtype=table.dtype, device=device(table))
    for j in range(table.shape[0]):
        G[j, ...] = apply_all(M, table[j, ...])
    if m != n:
        return apply_axis(M, G, 0)
    for blk in blocks(G.shape, keep=0):
        G[blk] = apply_axis(M, G[blk], 0)
    return G


def blocks(shape, keep=None, limit=None):
    """Index tuples (of slices) that tile an array of ``shape`` into blocks of at most
    ``limit`` elements where possible, never cutting the axis ``keep``.

    Leading axes are cut first; a single tuple of full slices is returned when the whole
    array fits.
    """
    limit = BLOCK_ELEMENTS if limit is None else int(limit)
    shape = tuple(shape)
    full = (slice(None),) * len(shape)
    rest = math.prod(shape)
    if rest <= limit:
        return [full]
    cuts = []  # (axis, step)
    for ax in range(len(shape)):
        if ax == keep or rest <= limit:
            continue
        per = rest // shape[ax]
        if per <= limit:
            step = max(1, limit // per)
            cuts.append((ax, step))
            rest = per * step
            break
        cuts.append((ax, 1))
        rest = per
    out = []

    def walk(level, index):
        if level == len(cuts):
            out.append(tuple(index))
            return
        ax, step = cuts[level]
        for start in range(0, shape[ax], step):
            index[ax] = slice(start, min(start + step, shape[ax]))
            walk(level + 1, index)
        index[ax] = slice(None)

    walk(0, list(full))
    return out


def sum_over_axes(M, table, out=None):
    """Σ_i (M along axis i) table, for a square M; added into ``out`` when given.

    Computed block by block (:func:`blocks`, never cutting the axis being contracted),
    so that besides ``table`` and the result only block-sized temporaries exist.
    """
    xp = namespace(table)
    M = asarray_like(M, table)
    if M.shape[0] != M.shape[1]:
        raise ValueError(f"`M` must be square (got shape {tuple(M.shape)}).")
    if out is None:
        out = xp.zeros(table.shape, dtype=table.dtype, device=device(table))
    for axis in range(table.ndim):
        for blk in blocks(table.shape, keep=axis):
            out[blk] += apply_axis(M, table[blk], axis)
    return out


def map_blocks(fn, out, *tables):
    """``out[blk] = fn(out[blk], *(t[blk] for t in tables))`` over :func:`blocks`: an
    elementwise update of ``out`` with block-sized temporaries only."""
    for blk in blocks(out.shape):
        out[blk] = fn(out[blk], *(t[blk] for t in tables))
    return out


def token_sum(values, L, like=None):
    """The table Σ_i values[x^i] of shape (len(values),)*L, in the namespace of ``like``
    (NumPy by default)."""
    if like is None:
        like = np.zeros(0)
    xp = namespace(like)
    values = asarray_like(values, like)
    n = values.shape[0]
    out = xp.zeros((n,) * L, dtype=xp.float64, device=device(like))
    for axis in range(L):
        shape = [1] * L
        shape[axis] = n
        out += xp.reshape(values, tuple(shape))
    return out


def split_log(p):
    """(log p with 0 where p = 0, boolean mask of p = 0): the finite part of log p."""
    xp = namespace(p)
    zero = p == 0
    return xp.log(xp.where(zero, 1.0, p)), zero

