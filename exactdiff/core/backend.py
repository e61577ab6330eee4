"""Array namespaces for the factorized engine: one code path for NumPy, CuPy, Dask and any
other library that follows the Python array API standard.

The namespace is inferred from the probability table with
``array_api_compat.array_namespace``: a NumPy table (or a :class:`~exactdiff.Distribution`,
a list, …) is computed with NumPy, a CuPy table on its GPU, an ``array_api_strict`` table
with the standard's functions only, and a Dask array (``pip install -e ".[dask]"``) chunk
by chunk, lazily, on the default Dask scheduler — threads in this process, or a
``dask.distributed`` cluster once a ``Client`` exists. Pointwise results of a Dask table
are Dask arrays: ``.compute()`` brings them into memory as NumPy arrays (``to_numpy`` does
the same), ``.persist()`` keeps them on the cluster; scalar results (``mutual_information``,
``mdse(t)``, …) are computed and returned as floats. What stays on the host, always with
NumPy and SciPy:

- the per-token kernels k_t = exp(σ̄(t) Q) (``process.kernel``, ``scipy.linalg.expm``; we
  never use ``cupyx.scipy.linalg.expm``, which has had a wrong Padé term in some
  releases) and every other n×n or length-n quantity (the constants c(u) of the mdse,
  Σ_y k log k, …);
- the dense engine (S×S matrices), which is the NumPy reference.

Only the large tables, of shape (n,)*L, live on the device; the small matrices are moved
there once per call with :func:`asarray_like`.

The engine uses the 2024.12 revision of the standard (Python scalars in ``where``):
``array_api_strict`` >= 2.3 by default, any CuPy that ``array_api_compat`` wraps.
Functions outside the standard (``xlogy``, ``entr``, boolean-mask assignment, ``take``)
are written with ``where``, ``log`` and slicing; 0·log 0 = 0 stays exact and no epsilon
is added anywhere.

Examples
--------
>>> import numpy as np, array_api_strict as xps
>>> import exactdiff as ed
>>> p0 = ed.Distribution.dirichlet(3, 2, seed=1)
>>> proc = ed.uniform(3)
>>> kl = ed.pointwise_kl(xps.asarray(p0.table), proc, 0.5, engine="factorized")
>>> namespace(kl) is xps
True
>>> bool(np.allclose(to_numpy(kl), ed.pointwise_kl(p0, proc, 0.5), rtol=1e-13, atol=0))
True
"""

from __future__ import annotations

import numpy as np
import array_api_compat

from .validation import SUM_ATOL, as_table

__all__ = ["namespace", "is_numpy", "is_dask", "device", "asarray_like", "as_xp_table", "to_numpy", "persist"]


def namespace(*arrays):
    """The array-API namespace of ``arrays`` (``array_api_compat.numpy`` for NumPy arrays).

    Raises ``ValueError`` when the arrays come from different libraries.
    """
    try:
        return array_api_compat.array_namespace(*arrays)
    except TypeError as exc:
        raise ValueError(f"the arrays must come from one array library ({exc}).") from None


def is_numpy(xp) -> bool:
    """True for NumPy's namespace (plain or wrapped by array-api-compat)."""
    return array_api_compat.is_numpy_namespace(xp)


def is_dask(x) -> bool:
    """True for a Dask array (computed lazily, chunk by chunk)."""
    return array_api_compat.is_dask_array(x)


def persist(x):
    """A Dask array evaluated once and kept in memory (on the cluster's workers with
    ``dask.distributed``), still a Dask array; any other array unchanged."""
    return x.persist() if is_dask(x) else x


def device(x):
    """The device that holds ``x`` (``"cpu"`` for NumPy arrays)."""
    return array_api_compat.device(x)


def asarray_like(a, like):
    """``a`` (a small host array, e.g. a token kernel) as float64 in the namespace and on
    the device of ``like``. A no-op for NumPy."""
    xp = namespace(like)
    if is_numpy(xp):
        return np.asarray(a, dtype=np.float64)
    if array_api_compat.is_array_api_obj(a) and not isinstance(a, np.ndarray):
        return xp.asarray(a, dtype=xp.float64, device=device(like))
    return xp.asarray(np.ascontiguousarray(a, dtype=np.float64), dtype=xp.float64, device=device(like))


def to_numpy(x) -> np.ndarray:
    """A host NumPy copy of an array from any namespace (CuPy: ``.get()``; Dask:
    ``.compute()``; others: DLPack)."""
    if isinstance(x, np.ndarray):
        return x
    if is_dask(x):
        return to_numpy(x.compute())
    if array_api_compat.is_cupy_array(x):
        return x.get()
    try:
        return np.from_dlpack(x)
    except (TypeError, RuntimeError, BufferError, AttributeError):
        return np.asarray(x)


def as_xp_table(p0, name="p0"):
    """The probability table of ``p0`` in its own namespace, validated and float64.

    A :class:`~exactdiff.Distribution`, a NumPy array or any array-like goes through
    :func:`exactdiff.core.validation.as_table` and comes back as a NumPy array. An array of
    another array-API library (CuPy, array_api_strict, …) stays in that library and on
    its device, after the same checks: shape (N,)*L, finite, non-negative, sums to 1
    within 1e-9. For a Dask array the three reductions of the checks are computed in one
    pass over the table; the table itself stays lazy.
    """
    if isinstance(p0, np.ndarray) or not array_api_compat.is_array_api_obj(p0):
        return as_table(p0, name)
    xp = namespace(p0)
    shape = tuple(p0.shape)
    if len(shape) < 1 or len(set(shape)) != 1:
        raise ValueError(f"`{name}` must have shape (N,)*L, all axes equal (got {shape}).")
    if xp.isdtype(p0.dtype, "complex floating") or p0.dtype == xp.bool:
        raise ValueError(f"`{name}` must have a real dtype (got {p0.dtype}).")
    arr = xp.astype(p0, xp.float64, copy=False)
    if arr.size == 0:
        raise ValueError(f"`{name}` must not be empty (got shape {shape}).")
    stats = (xp.all(xp.isfinite(arr)), xp.min(arr), xp.sum(arr))
    if is_dask(arr):
        import dask

        stats = dask.compute(*stats)
    finite, smallest, total = bool(stats[0]), float(stats[1]), float(stats[2])
    if not finite:
        bad = int(xp.sum(xp.astype(xp.logical_not(xp.isfinite(arr)), xp.int64)))
        raise ValueError(f"`{name}` must be finite (got {bad} non-finite entries).")
    if smallest < 0:
        raise ValueError(f"`{name}` must be non-negative (got minimum {smallest:.3g}).")
    if abs(total - 1.0) > SUM_ATOL:
        raise ValueError(f"`{name}` must sum to 1 (got {total:.12g}).")
    return arr
