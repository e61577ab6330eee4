"""Array primitives of the factorized engine: contractions over tables of shape (n,)*L, in
any array namespace, in memory or out of core with Dask. None of them forms an S×S array.

Contractions
------------
For a matrix M (m×n) and a table X of shape (n,)*L:

- :func:`apply_all`: (M along every axis) X = (M ⊗ … ⊗ M) X, shape (m,)*L;
- :func:`sum_over_axes`: Σ_i (M along i) X, M square (the Kronecker sum M ⊕ … ⊕ M);
- :func:`ratio_field`: Σ_i [(A along i) X] / X + Σ_i (B along i) log X, the field F of the mdse
  (MATH.md, "Computing mdse on sequences"), with 0 for the ratio where X = 0 and the finite
  part of log X (0 where X = 0).

**Groups.** Adjacent axes are contracted together, :data:`GROUP` at a time, by one matrix
product with the Kronecker product (or Kronecker sum) of their matrices:

    out[α, (i,k), β] = Σ_{j,l} (M ⊗ M)[(i,k), (j,l)] X[α, (j,l), β],
    Σ_{i ∈ pair} (M along i) X = ((M ⊗ I + I ⊗ M) along the pair) X,

an inner dimension of n² instead of n (16 for n = 4), where BLAS runs near its peak.

**Levels.** The contracted axes are cut, from the last, into levels: runs of axes whose
product fits one block (:func:`block_limit` elements: the cache for NumPy, 32 MiB for
other libraries; a level other than the last axes fits a block with contiguous runs of at
least :data:`MIN_RUN` elements). One sweep per level reads the table in blocks that hold the
level's axes whole (:func:`blocks`) and does every group of the level inside the block.
A contraction along every axis is then one read and one write of the table per level — two
for S ≤ 2^28 with n = 4, three up to 2^40 — whatever L. Square contractions write in place;
the sums add into their output. With NumPy, the products and elementwise steps of a block
write into scratch arrays reused by every block (``out=``), so a sweep allocates nothing
per block.

Every function works in the namespace of its table (NumPy, CuPy, array_api_strict, Dask;
:mod:`exactdiff.backend`) with the standard's operations only: ``reshape``, ``@``,
``where``, ``log``, slicing and ``__setitem__`` on slices of the table itself (never on a
reshaped view). Small matrices are NumPy arrays on the host; they are moved to the table's
device once per call. Helpers that update a table (:func:`map_blocks`, the ``out`` of the
sums, ``overwrite``) write in place where the library allows it and always **return** the
result: call them as ``out = map_blocks(fn, out, ...)``.

Dask
----
A Dask table is computed chunk by chunk with the same in-memory functions
(``dask.array.map_blocks``), lazily. The table is chunked along leading axes: chunk size 1
along a run of c axes ([0, c) or [c, 2c), see :func:`chunk_leading`), whole along the others.
A contraction along an axis that the chunking does not cut is chunk-local; the c cut axes
are contracted after one rechunk that makes them whole and cuts the other run instead. So
:func:`apply_all` is chunk-local work, one rechunk, chunk-local work, and returns its result
in the other layout; :func:`sum_over_axes` and :func:`ratio_field` add the partial sums over
the cut axes, brought back to the table's chunks by a second rechunk. Elementwise updates
(:func:`map_blocks`, :func:`token_sum`) are chunk-local. Call ``.compute()`` (or
``.persist()``) on a result to evaluate it.
"""

from __future__ import annotations

import math

import numpy as np

from .backend import asarray_like, device, is_dask, is_numpy, namespace, to_numpy

__all__ = [
    "GROUP",
    "CACHE_ELEMENTS",
    "BLOCK_ELEMENTS",
    "MIN_RUN",
    "KRON_WIDTH",
    "block_limit",
    "kron_power",
    "kron_sum",
    "levels",
    "apply_axis",
    "apply_all",
    "sum_over_axes",
    "ratio_field",
    "blocks",
    "map_blocks",
    "block_sum",
    "token_sum",
    "finite_log",
    "split_log",
    "chunk_leading",
]

#: Axes contracted together by one product with a Kronecker product (or sum) of matrices.
GROUP = 2

#: Elements of one block for NumPy: 2^16 float64 = 512 KiB, which stays in the cache
#: (a few blocks are alive at a time).
CACHE_ELEMENTS = 1 << 16

#: Elements of one block for the other libraries (CuPy, array_api_strict): 2^22 float64 =
#: 32 MiB, large enough for a GPU kernel to be efficient.
BLOCK_ELEMENTS = 1 << 22

#: Groups followed by b <= KRON_WIDTH / w elements are one product with K ⊗ I_b (w = n^g):
#: a few columns make BLAS slow (S/16 products of 4×4 matrices take longer than one of 16×16).
KRON_WIDTH = 16

#: Shortest contiguous run, in elements, of a block that holds a level other than the last
#: axes whole (the block is strided; shorter runs would waste most of each cache line).
MIN_RUN = 16


def block_limit(xp) -> int:
    """Elements of one block in the namespace ``xp``: :data:`CACHE_ELEMENTS` for NumPy,
    :data:`BLOCK_ELEMENTS` for the others."""
    return CACHE_ELEMENTS if is_numpy(xp) else BLOCK_ELEMENTS


# -- small matrices -----------------------------------------------------------------------------
def _host(M):
    return np.asarray(to_numpy(M), dtype=np.float64)


def kron_power(M, r):
    """M ⊗ … ⊗ M (r factors): the matrix of M along r adjacent axes, on the host."""
    M = _host(M)
    K = M
    for _ in range(r - 1):
        K = np.kron(K, M)
    return K


def kron_sum(M, r):
    """Σ_{i<r} I ⊗ … ⊗ M ⊗ … ⊗ I (M in place i): the matrix of Σ_i (M along i) over r
    adjacent axes, for a square M, on the host."""
    M = _host(M)
    n = M.shape[0]
    return sum(np.kron(np.kron(np.eye(n**i), M), np.eye(n ** (r - 1 - i))) for i in range(r))


# -- plans ---------------------------------------------------------------------------------------
def _groups(start, stop):
    """Groups of at most GROUP adjacent axes covering [start, stop), counted from the end."""
    out = []
    while stop > start:
        s = max(start, stop - GROUP)
        out.append((s, stop))
        stop = s
    return out[::-1]


def levels(sizes, ndim, limit):
    """Levels of the axes [0, ``ndim``) of an array of ``sizes``: runs of adjacent axes,
    from the last, as long as their product fits ``limit`` elements (``limit // MIN_RUN``
    except for a run that ends the array). Returns [(start, stop), ...], last axes first;
    a level has at least one axis."""
    out, stop = [], ndim
    while stop > 0:
        cap = limit if stop == len(sizes) else max(limit // MIN_RUN, 1)
        start, size = stop - 1, sizes[stop - 1]
        while start > 0 and size * sizes[start - 1] <= cap:
            start -= 1
            size *= sizes[start]
        out.append((start, stop))
        stop = start
    return out


def blocks(shape, keep=None, limit=None):
    """Index tuples (of slices) that tile an array of ``shape`` into blocks of at most
    ``limit`` elements where possible, never cutting the axes in ``keep`` (an axis or a
    collection of axes).

    Leading axes are cut first; a single tuple of full slices is returned when the whole
    array fits.
    """
    limit = BLOCK_ELEMENTS if limit is None else int(limit)
    keep = set() if keep is None else {keep} if isinstance(keep, int) else set(keep)
    shape = tuple(shape)
    full = (slice(None),) * len(shape)
    rest = math.prod(shape)
    if rest <= limit:
        return [full]
    cuts = []  # (axis, step)
    for ax in range(len(shape)):
        if ax in keep or rest <= limit:
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


# -- in-memory contractions ----------------------------------------------------------------------
class _Scratch:
    """Flat block-sized scratch arrays, reused by every block of a sweep, so that a block's
    products and elementwise steps allocate nothing (``out=``). NumPy only: for other
    libraries :func:`_scratch` gives None and every step forms a fresh array, as the
    standard has no ``out=``. (Fresh block-sized arrays are cheap where the allocator keeps
    them, and a page-faulting ``mmap`` each where it does not, as in Dask's workers.)"""

    def __init__(self, size):
        self.arrays = {}
        self.size = int(size)

    def get(self, name, shape):
        """A view of shape ``shape`` of the scratch array ``name`` (grown when needed)."""
        need = math.prod(shape)
        buf = self.arrays.get(name)
        if buf is None or buf.size < need:
            buf = self.arrays[name] = np.empty(max(need, self.size))
        return buf[:need].reshape(shape)


def _scratch(xp, size):
    return _Scratch(size) if is_numpy(xp) else None


def _contract(K, x, start, stop, m, out=None):
    """K (m^g × w) along the adjacent axes [start, stop) of x (g = stop − start, w their
    product): one matrix product, the axes before and after as batch and columns. With
    ``out`` (a :class:`_Scratch` slot ``(scratch, name)``, NumPy) the product is written
    into it."""
    xp = namespace(x)
    shape = tuple(x.shape)
    a, w, b = math.prod(shape[:start]), math.prod(shape[start:stop]), math.prod(shape[stop:])
    new_shape = shape[:start] + (m,) * (stop - start) + shape[stop:]
    v = K.shape[0]
    if 1 < b and b * max(v, w) <= KRON_WIDTH:  # a few columns: one product with K ⊗ I_b
        eye = xp.eye(b, dtype=K.dtype, device=device(K))
        K = xp.reshape(xp.reshape(K, (v, 1, w, 1)) * xp.reshape(eye, (1, b, 1, b)), (v * b, w * b))
        v, w, b = v * b, w * b, 1
    if out is None:
        y = xp.reshape(x, (a, w)) @ K.T if b == 1 else K @ xp.reshape(x, (a, w, b))
        return xp.reshape(y, new_shape)
    scratch, name = out
    if b == 1:
        y = scratch.get(name, (a, v))
        np.matmul(np.reshape(x, (a, w)), K.T, out=y)
    else:
        y = scratch.get(name, (a, v, b))
        np.matmul(K, np.reshape(x, (a, w, b)), out=y)
    return y.reshape(new_shape)


def _contiguous(x, scratch, name="x"):
    """A contiguous copy of the strided block ``x`` (into the scratch array ``name``)."""
    if scratch is None:
        return namespace(x).asarray(x, copy=True)
    y = scratch.get(name, tuple(x.shape))
    np.copyto(y, x)
    return y


def _slot(scratch, name):
    return None if scratch is None else (scratch, name)


def _check_axes(shape, ndim, n, what):
    if ndim < 1 or ndim > len(shape) or any(s != n for s in shape[:ndim]):
        raise ValueError(f"`M` of shape {what} cannot act on the first {ndim} axes of a table of shape {tuple(shape)}.")


def apply_axis(M, table, axis):
    """Apply the matrix M (m×n) along one ``axis``: out[..i..] = Σ_j M[i,j] table[..j..].

    Parameters
    ----------
    M : array, shape (m, n)
    table : array, shape[axis] == n
    axis : int

    Returns
    -------
    array of the table's shape with ``shape[axis]`` replaced by m, in the table's namespace.

    One sweep over blocks that hold ``axis`` whole (one read and one write of the table);
    the engine itself contracts every axis at once (:func:`apply_all`).
    """
    Mh = _host(M)
    if Mh.shape[1] != table.shape[axis]:
        raise ValueError(f"`M` of shape {Mh.shape} cannot act on axis {axis} of length {table.shape[axis]}.")
    if is_dask(table):
        return _contract(asarray_like(Mh, table), table, axis, axis + 1, Mh.shape[0])
    xp = namespace(table)
    K, m = asarray_like(Mh, table), Mh.shape[0]
    limit = block_limit(xp)
    scratch = _scratch(xp, limit)
    tiles = blocks(table.shape, keep=axis, limit=limit)
    if len(tiles) == 1:
        return _contract(K, table, axis, axis + 1, m)
    shape = tuple(table.shape)
    out = xp.empty(shape[:axis] + (m,) + shape[axis + 1:], dtype=table.dtype, device=device(table))
    for blk in tiles:
        x = table[blk]
        if axis + 1 < len(shape) and blk[axis + 1:] != (slice(None),) * (len(shape) - axis - 1):
            x = _contiguous(x, scratch)
        out[blk] = _contract(K, x, axis, axis + 1, m, out=_slot(scratch, 0))
    return out


def apply_all(M, table, *, ndim=None, overwrite=False):
    """(M along each of the first ``ndim`` axes) ``table`` = (M ⊗ … ⊗ M) table.

    Parameters
    ----------
    M : array, shape (m, n)
    table : array, shape (n,)*ndim + spectators
        ``ndim`` defaults to every axis; the axes after it are carried along.
    overwrite : bool
        Allow the result to be written over ``table`` (square M only; in memory).

    Returns
    -------
    array, shape (m,)*ndim + spectators, in the table's namespace.

    One sweep per level (module docstring). For a square M the result is written in place
    (into ``table`` with ``overwrite``, else into one new table); otherwise each level
    writes a new table, the one before it freed once the level is done.
    """
    if is_dask(table):
        return _dask_apply_all(M, table)
    xp = namespace(table)
    Mh = _host(M)
    m, n = Mh.shape
    shape = tuple(table.shape)
    ndim = len(shape) if ndim is None else int(ndim)
    _check_axes(shape, ndim, n, Mh.shape)
    limit = block_limit(xp)
    scratch = _scratch(xp, limit)
    src = table
    for start, stop in levels([max(m, n)] * ndim + list(shape[ndim:]), ndim, limit):
        groups = _groups(start, stop)
        Ks = {g - s: asarray_like(kron_power(Mh, g - s), table) for s, g in groups}
        new_shape = tuple(src.shape[:start]) + (m,) * (stop - start) + tuple(src.shape[stop:])
        grow = max(1.0, (m / n) ** (stop - start))  # blocks whose products fit `limit` too
        tiles = blocks(src.shape, keep=range(start, stop), limit=max(1, int(limit / grow)))
        dst = src if (m == n and (src is not table or overwrite)) else None
        for blk in tiles:
            y = src[blk]
            if stop < len(shape) and len(groups) > 1:  # strided: one contiguous copy
                y = _contiguous(y, scratch)
            for i, (s, g) in enumerate(groups):  # ping-pong between two scratch arrays
                y = _contract(Ks[g - s], y, s, g, m, out=_slot(scratch, i % 2))
            if dst is None and len(tiles) == 1 and scratch is None:
                dst = y  # the whole table in one block: the product is the result
                break
            if dst is None:
                dst = xp.empty(new_shape, dtype=table.dtype, device=device(table))
            dst[blk] = y
        src = dst
    return src


def _sweep(table, ndim, out, block_fn, zeros=False):
    """out (+)= Σ over the levels of ``block_fn(x, groups, scratch)`` on the blocks x of
    ``table`` that hold each level whole: the engine of the sums. ``out`` None: a new
    table. With ``zeros``, also the boolean table of ``table == 0`` (None when there is no
    zero; it is allocated at the first zero found)."""
    xp = namespace(table)
    shape = tuple(table.shape)
    limit = block_limit(xp)
    scratch = _scratch(xp, limit)
    fresh = out is None
    zero = None
    if fresh:
        out = xp.empty(shape, dtype=table.dtype, device=device(table))
    for level, (start, stop) in enumerate(levels(list(shape), ndim, limit)):
        groups = _groups(start, stop)
        for blk in blocks(shape, keep=range(start, stop), limit=limit):
            x = table[blk]
            if stop < len(shape):  # a strided block: one contiguous copy for all its products
                x = _contiguous(x, scratch)
            acc = block_fn(x, groups, scratch)
            if fresh and level == 0:
                out[blk] = acc
            else:
                out[blk] += acc
            if zeros and level == 0:
                z = x == 0
                if bool(xp.any(z)):
                    if zero is None:
                        zero = xp.zeros(shape, dtype=xp.bool, device=device(table))
                    zero[blk] = z
    return (out, zero) if zeros else out


def _add_terms(Ks, x, groups, n, scratch, acc=None):
    """acc + Σ_g (K_g along g) x over the groups, into the scratch array "acc"."""
    for s, g in groups:
        if acc is None:
            acc = _contract(Ks[g - s], x, s, g, n, out=_slot(scratch, "acc"))
        else:
            acc += _contract(Ks[g - s], x, s, g, n, out=_slot(scratch, "term"))
    return acc


def sum_over_axes(M, table, *, ndim=None, out=None):
    """Σ_i (M along i) ``table`` over the first ``ndim`` axes (default all), M square;
    added into ``out`` when given.

    One sweep per level, each group one product with the Kronecker sum of M (module
    docstring); besides ``table`` and ``out`` only block-sized temporaries exist.
    Returns ``out`` (a new table when it is None).
    """
    if is_dask(table):
        return _dask_sum(M, table, out, _kind="sum")
    Mh = _host(M)
    if Mh.shape[0] != Mh.shape[1]:
        raise ValueError(f"`M` must be square (got shape {Mh.shape}).")
    n = Mh.shape[0]
    ndim = table.ndim if ndim is None else int(ndim)
    _check_axes(tuple(table.shape), ndim, n, Mh.shape)
    As = {r: asarray_like(kron_sum(Mh, r), table) for r in range(1, GROUP + 1)}
    return _sweep(table, ndim, out, lambda x, groups, scratch: _add_terms(As, x, groups, n, scratch))


def ratio_field(A, B, p, *, ndim=None, out=None, zeros=False):
    """F(x) = Σ_i [(A along i) p](x) / p(x) + Σ_i [(B along i) log p](x) over the first
    ``ndim`` axes (default all), A and B square (n×n); added into ``out`` when given.

    The ratio is 0 where p(x) = 0 and log p is its finite part (0 there): no infinity or
    NaN is formed. ``p`` is not changed. With A = Q_off and B = Qᵀ this is F of the mdse
    (MATH.md), with A = Q and B = Qᵀ the inner field of d/dt KL. One sweep per level; per
    block, log p and the sums of the level stay in the cache.

    With ``zeros=True`` returns (F, the boolean table of p = 0), the latter found during
    the first sweep and None when p has no zero (for Dask: always the lazy table).
    """
    if is_dask(p):
        F = _dask_sum((A, B), p, out, _kind="field")
        return (F, p == 0) if zeros else F
    Ah, Bh = _host(A), _host(B)
    n = p.shape[0]
    if Ah.shape != (n, n) or Bh.shape != (n, n):
        raise ValueError(f"`A` and `B` must have shape ({n}, {n}) (got {Ah.shape} and {Bh.shape}).")
    ndim = p.ndim if ndim is None else int(ndim)
    _check_axes(tuple(p.shape), ndim, n, Ah.shape)
    As = {r: asarray_like(kron_sum(Ah, r), p) for r in range(1, GROUP + 1)}
    Bs = {r: asarray_like(kron_sum(Bh, r), p) for r in range(1, GROUP + 1)}

    def block_fn(x, groups, scratch):
        xp = namespace(x)
        zero = x == 0
        some = bool(xp.any(zero))  # the usual block has no zero: skip the masks
        safe = xp.where(zero, 1.0, x) if some else x
        if scratch is None:
            lg = xp.log(safe)
        else:
            lg = np.log(safe, out=scratch.get("log", tuple(x.shape)))
        acc = _add_terms(As, x, groups, n, scratch)
        acc /= safe
        if some:
            acc = xp.where(zero, 0.0, acc)
        return _add_terms(Bs, lg, groups, n, scratch, acc)

    return _sweep(p, ndim, out, block_fn, zeros=zeros)


# -- elementwise helpers -------------------------------------------------------------------------
def map_blocks(fn, out, *tables, index=False):
    """``out = fn(out, *tables)`` elementwise, block by block: ``out[blk] = fn(out[blk],
    *(t[blk] for t in tables))`` in memory (block-sized temporaries only), one task per
    chunk for Dask (lazily). With ``index=True`` ``fn`` also gets ``index=``, the tuple of
    slices of the block in the full table. Returns the updated ``out`` (a new array for
    Dask)."""
    if is_dask(out):
        return _dask_elementwise(fn, out, tables, index)
    for blk in blocks(out.shape, limit=block_limit(namespace(out))):
        kw = {"index": blk} if index else {}
        out[blk] = fn(out[blk], *(t[blk] for t in tables), **kw)
    return out


def block_sum(fn, *tables) -> float:
    """Σ_x fn(*tables)(x) as a Python float, block by block (one Dask computation)."""
    first = tables[0]
    if is_dask(first):
        return float(namespace(first).sum(fn(*tables)))
    xp = namespace(first)
    return sum(float(xp.sum(fn(*(t[blk] for t in tables)))) for blk in blocks(first.shape, limit=block_limit(xp)))


def token_sum(values, L, like=None, index=None):
    """The table Σ_i values[x^i] of shape (len(values),)*L, in the namespace of ``like``
    (NumPy by default); with ``index`` (a tuple of L slices) only that block of it.

    Built by outer sums, one axis at a time from the last: (1 + 1/n + 1/n² + …) writes of
    the block.
    For a Dask ``like`` (and no ``index``) it is computed lazily, chunk by chunk, with the
    chunks of ``like``.
    """
    if like is None:
        like = np.zeros(0)
    if is_dask(like) and index is None:
        values = _host(values)
        return _dask_elementwise(lambda blk, index: token_sum(values, L, like=blk, index=index), like, (), True)
    xp = namespace(like)
    v = asarray_like(values, like)
    index = (slice(None),) * L if index is None else tuple(index)
    acc = v[index[L - 1]]
    for i in range(L - 2, -1, -1):  # prepend axes: the contiguous inner dimension stays long
        part = v[index[i]]
        acc = xp.reshape(part, (part.shape[0],) + (1,) * (L - 1 - i)) + acc
    return acc


def finite_log(p):
    """log p with 0 where p = 0 (the finite part of log p; no infinity is formed)."""
    xp = namespace(p)
    return xp.log(xp.where(p == 0, 1.0, p))


def split_log(p):
    """(log p with 0 where p = 0, boolean mask of p = 0): the finite part of log p."""
    return finite_log(p), p == 0


# -- Dask ----------------------------------------------------------------------------------------
def chunk_leading(table, cut):
    """A Dask ``table`` rechunked to size 1 along its first ``cut`` axes and whole along the
    others (``cut`` <= L // 2); a no-op when it already is."""
    L = table.ndim
    if not 0 <= cut <= L // 2:
        raise ValueError(f"`cut` must be in 0..{L // 2} for a table with L={L} (got {cut}).")
    return _rechunk(table, tuple(1 if ax < cut else table.shape[ax] for ax in range(L)))


def _layout(x):
    """(start, c) when ``x`` is chunked with size 1 along [start, start + c), start in
    {0, c}, 2c <= L, and whole elsewhere; None for any other chunking."""
    cut = [ax for ax, ch in enumerate(x.chunks) if len(ch) > 1]
    if not cut:
        return 0, 0
    start, c = cut[0], len(cut)
    if cut != list(range(start, start + c)) or any(max(x.chunks[ax]) != 1 for ax in cut):
        return None
    if start not in (0, c) or 2 * c > x.ndim:
        return None
    return start, c


def _normalized(x):
    """``x`` in a layout of :func:`_layout`, rechunked when it is not (as many elements per
    chunk as its largest chunk, at most)."""
    lay = _layout(x)
    if lay is not None:
        return x, lay
    largest = math.prod(max(ch) for ch in x.chunks)
    cut = 0
    while cut < x.ndim // 2 and math.prod(x.shape[cut:]) > largest:
        cut += 1
    x = chunk_leading(x, cut)
    return x, _layout(x)


def _squeezed(blk, cut):
    """A chunk without its axes ``cut`` (all of size 1)."""
    return np.reshape(blk, tuple(s for ax, s in enumerate(blk.shape) if ax not in cut))


def _other(start, c, L):
    return range(c, 2 * c) if start == 0 else range(0, c)


def _rechunked(x, cut):
    """``x`` with size-1 chunks along ``cut`` and whole along the other axes."""
    return _rechunk(x, tuple(1 if ax in cut else x.shape[ax] for ax in range(x.ndim)))


def _rechunk(x, chunks):
    """``x.rechunk(chunks)`` with no intermediate chunk larger than the larger of the two
    chunkings (Dask's planner would otherwise merge a table of up to ``array.chunk-size``
    into one chunk on one worker)."""
    before = math.prod(max(ch) for ch in x.chunks)
    after = math.prod(max(c) if isinstance(c, tuple) else c for c in chunks)
    return x.rechunk(chunks, block_size_limit=8 * max(before, after))


def _dask_apply_all(M, x):
    Mh = _host(M)
    m, n = Mh.shape
    x, (start, c) = _normalized(x)
    L = x.ndim
    _check_axes(tuple(x.shape), L, n, Mh.shape)
    cut = range(start, start + c)

    def local(blk):
        y = apply_all(Mh, _squeezed(blk, cut))  # never overwrite: chunks belong to Dask
        return np.reshape(y, tuple(1 if ax in cut else m for ax in range(L)))

    y = x.map_blocks(local, chunks=tuple(x.chunks[ax] if ax in cut else (m,) for ax in range(L)), dtype=np.float64)
    if c == 0:
        return y
    other = _other(start, c, L)
    y = _rechunked(y, other)

    def across(blk):
        out_shape = tuple(m if ax in cut else s for ax, s in enumerate(blk.shape))
        z = apply_all(Mh, np.reshape(blk, (n,) * c + (-1,)), ndim=c)
        return np.reshape(z, out_shape)

    return y.map_blocks(across, chunks=tuple((m,) if ax in cut else y.chunks[ax] for ax in range(L)),
                        dtype=np.float64)


def _dask_sum(M, x, out, _kind):
    """Σ_i (M along i) x (``_kind="sum"``) or the field of :func:`ratio_field`
    (``_kind="field"``, M = (A, B)) of a Dask x: the chunk-local axes, plus the cut axes
    after a rechunk, brought back to x's chunks."""
    x, (start, c) = _normalized(x)
    L = x.ndim
    cut = range(start, start + c)
    fn = sum_over_axes if _kind == "sum" else ratio_field
    args = (_host(M),) if _kind == "sum" else (_host(M[0]), _host(M[1]))

    def local(blk):
        return np.reshape(fn(*args, np.ascontiguousarray(_squeezed(blk, cut))), blk.shape)

    total = x.map_blocks(local, dtype=np.float64)
    if c:
        other = _other(start, c, L)
        n = x.shape[0]

        def across(blk):
            part = fn(*args, np.reshape(np.ascontiguousarray(blk), (n,) * c + (-1,)), ndim=c)
            return np.reshape(part, blk.shape)

        part = _rechunked(x, other).map_blocks(across, dtype=np.float64)
        total = total + _rechunk(part, x.chunks)
    return total if out is None else out + total


def _dask_elementwise(fn, out, tables, index):
    import dask.array as da

    def block(*blks, block_info=None):
        kw = {}
        if index:
            kw["index"] = tuple(slice(a, b) for a, b in block_info[0]["array-location"])
        return fn(*blks, **kw)

    return da.map_blocks(block, out, *tables, dtype=out.dtype)
