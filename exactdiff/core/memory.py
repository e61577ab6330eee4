"""Memory: the one limit of the package, and the peak-memory estimates of the factorized
engine, both applied before anything is allocated.

Every computation whose size grows with the state space refuses through
:func:`refuse`, which compares the bytes it would need with :func:`limit_bytes` and
raises a ``ValueError`` that says how much memory the computation would need: the dense
engine (its S×S arrays), tables over V^L (Dirichlet and paper-recipe tables, the law of
a Markov chain), the stationary law of a Markov chain and the exact subset sums. Every
factorized quantity for all x0 (``marginal``, ``pointwise_kl``,
``pointwise_kl_derivative``, ``mdse``, …) calls :func:`check`, which does the same with
the estimate :func:`peak_bytes`.

The estimate
------------
With N data tokens, n = N or N+1 noisy tokens and length L, write (float64 throughout)

- d = 8·N^L, the bytes of a table over x0 (p0 itself, and each result);
- t = 8·n^L, the bytes of a table over x_t (p_t, log p_t, the field F);
- z = n^L, the bytes of the boolean table of p_t = 0 (only formed where it can be non-empty;
  the estimate always counts it);
- b = one block of :func:`exactdiff.core.tensor.block_limit` elements (512 KiB for NumPy,
  32 MiB for other libraries) and c = :data:`TEMP_FIELD` · b, the temporaries of the sums;
- push, pull: what ``tensor.apply_all`` allocates for p_t = (k along every axis) p0 and for the
  pull-back (kᵀ along every axis) F in place of F (:func:`_apply_all_extra`, which mirrors it:
  nothing for a square kernel in place, one table per level otherwise), plus
  :data:`TEMP_APPLY` · b.

The estimate is d plus the largest of the phases below (what each holds at its peak):

===================================  ===========================================================
quantity                             phases
===================================  ===========================================================
``marginal``                         push
``pointwise_kl``,                    push; t + z + c (log p_t in place); t + d + z + pull
``mutual_information``               (the token sum and the pull-back); reach
``mdse``,                            push; 2t + z + c (p_t, F and the zeros of p_t);
``pointwise_kl_derivative``,         t + d + z + pull; reach
``mutual_information_derivative``
``marginal_entropy_derivative``      push; 2t + c
===================================  ===========================================================

with reach = d + z + max(t + pull, 1.125 d) (the pull-back of the zeros as floats, then the
``inf`` filled in). Nothing of size S² is
ever formed. Measured peaks (``tracemalloc``, NumPy) lie between 0.8 and 1.0 of this
estimate for tables of more than a few blocks, and within 1.1 for tiny blocks
(``tests/test_memory.py``).

Examples: the uniform process at N = 4, L = 12 (S = 2^24) needs about 0.41 GiB for the
pointwise mdse (three tables); the absorbing process at N = 4, L = 12 has tables on
5^12 ≈ 2.4·10^8 states and needs about 4.0 GiB; at L = 13 it would need about 20 GiB and
is refused on a 24 GiB machine.

The Dask route
--------------
A Dask table is chunked along its leading axes: size 1 along c of them, so a chunk holds
n^(L−c) states over x_t (:func:`dask_layout` picks c, :func:`exactdiff.core.tensor.chunk_leading`
applies it). :func:`dask_peak_bytes` estimates, for chunks of E = 8·n^(L−c) bytes,

- task = :data:`DASK_TASK_CHUNKS` · E + c: the most one task holds (its input chunk, a
  contiguous copy, its output, the pieces of a rechunk, the block temporaries);
- total = 2d + :data:`DASK_GRAPH_TABLES` · t: what the graph holds at once across the workers
  (p0 and the result; p_t, p_t rechunked and the partial fields while F is formed;
  calibrated with ``benchmarks/dask_scale.py``),

and each worker needs total / workers + threads · task. :func:`check` refuses, before
anything is computed, a Dask computation whose need per worker exceeds the memory of a
worker: the ``memory_limit`` of each worker of the current ``dask.distributed`` client, or
:func:`limit_bytes` for Dask's threads in this process.

The limit
---------
By default 80 % of the physical memory (``os.sysconf``), or of the GPU's memory when the
arrays are CuPy arrays. :func:`set_limit` changes it for the process (``None`` restores
the default); the environment variable ``EXACTDIFF_MEMORY_LIMIT`` (bytes, or with a
suffix K/M/G/T, powers of 1024) sets it at start-up.
"""

from __future__ import annotations

import math
import os

from . import tensor

__all__ = ["QUANTITIES", "peak_bytes", "dask_peak_bytes", "dask_layout", "limit_bytes", "set_limit", "check",
           "refuse", "describe", "format_bytes"]

#: Fraction of the physical memory the default limit allows.
DEFAULT_FRACTION = 0.8

_limit = None


F64 = 8  # bytes of a float64

#: Block-sized temporaries alive at once: in ``apply_all`` (a block, its contiguous copy,
#: the product) and in the sums (p and log p of a block, the zero mask, the partial sums).
TEMP_APPLY, TEMP_FIELD = 3, 6

#: Chunk-sized arrays one Dask task holds at its peak (see "The Dask route").
DASK_TASK_CHUNKS = 4

#: Tables over x_t that the Dask graph of the mdse holds at once, across the workers
#: (measured: peak worker memory 0.6–0.95 of the estimate at S = 2^26 and 2^28 on two
#: workers, ``benchmarks/dask_scale.py``).
DASK_GRAPH_TABLES = 3


def _block(xp):
    return tensor.block_limit(xp) if xp is not None else tensor.CACHE_ELEMENTS


def _apply_all_extra(n0, m, L, block, overwrite):
    """Bytes allocated by ``tensor.apply_all`` for an m×n0 matrix on a table (n0,)*L, its
    result included and the table itself not: it mirrors that function (a square matrix
    writes in place, into one new table unless ``overwrite``; otherwise each level writes
    a new table and frees the one before)."""
    size = n0**L
    if m == n0:
        return 0 if overwrite else F64 * size
    peak = 0
    for level, (start, stop) in enumerate(tensor.levels([max(m, n0)] * L, L, block)):
        new = size * m ** (stop - start) // n0 ** (stop - start)
        peak = max(peak, F64 * ((size if level else 0) + new))
        size = new
    return peak


def _sizes(N, n, L, block):
    """The sizes, in bytes, the phase models below are written in."""
    t = F64 * n**L
    c = min(t, F64 * block)  # one block
    return dict(
        d=F64 * N**L,  # a table over x0: p0, each result
        t=t,  # a table over x_t: p_t, log p_t, F
        z=n**L,  # the boolean table of p_t = 0
        c=TEMP_FIELD * c,  # temporaries of the sums
        push=_apply_all_extra(N, n, L, block, overwrite=False) + TEMP_APPLY * c,  # p_t = (k along every axis) p0
        pull=_apply_all_extra(n, N, L, block, overwrite=True) + TEMP_APPLY * c,  # (kᵀ along every axis) F, in place
    )


def _reach(s):
    # the zeros pulled back as floats, then `where(reach, inf, values)`; the result and its
    # elementwise sweep (d + z + c) fit inside
    return s["d"] + s["z"] + max(s["t"] + s["pull"], 1.125 * s["d"], s["c"])


def _marginal(s):
    return s["push"]


def _kl(s):
    t, d, z = s["t"], s["d"], s["z"]
    return max(s["push"], t + z + s["c"], t + d + z + s["pull"], _reach(s))


def _field(s):
    t, d, z = s["t"], s["d"], s["z"]
    return max(s["push"], 2 * t + z + s["c"], t + d + z + s["pull"], _reach(s))


def _entropy_derivative(s):
    return max(s["push"], 2 * s["t"] + s["c"])


#: Phase models by quantity name: each gives the peak bytes allocated on top of p0.
QUANTITIES = {
    "marginal": _marginal,
    "pointwise_kl": _kl,
    "mutual_information": _kl,
    "pointwise_kl_derivative": _field,
    "mutual_information_derivative": _field,
    "mdse": _field,
    "marginal_entropy_derivative": _entropy_derivative,
}


def _validate(quantity, N, n, L):
    if quantity not in QUANTITIES:
        raise ValueError(f"`quantity` must be one of {sorted(QUANTITIES)} (got {quantity!r}).")
    N, n, L = int(N), int(n), int(L)
    if not (1 <= N <= n and L >= 1):
        raise ValueError(f"need 1 <= N <= n and L >= 1 (got N={N}, n={n}, L={L}).")
    return N, n, L


def peak_bytes(quantity, N, n, L, xp=None):
    """Estimated peak memory, in bytes, of one factorized ``quantity`` for all x0, in memory.

    Parameters
    ----------
    quantity : str
        One of :data:`QUANTITIES` (``"mdse"``, ``"pointwise_kl"``, …).
    N, n : int
        Data tokens and noisy tokens (n = N + 1 for the absorbing process).
    L : int
        Sequence length.
    xp : namespace, optional
        The array library (its block size); NumPy by default.

    Returns
    -------
    int
        Bytes, including the table p0 itself. See the module docstring for the formula;
        :func:`dask_peak_bytes` for the Dask route.

    Examples
    --------
    >>> round(peak_bytes("mdse", 4, 4, 12) / 2**30, 2)  # uniform, S = 2^24: about three tables
    0.41
    """
    N, n, L = _validate(quantity, N, n, L)
    sizes = _sizes(N, n, L, _block(xp))
    return int(sizes["d"] + QUANTITIES[quantity](sizes))


def dask_peak_bytes(quantity, N, n, L, cut, workers=1, threads=1):
    """Estimated memory of one factorized ``quantity`` for all x0 on Dask, chunked along
    ``cut`` leading axes (chunks of n^(L−cut) states over x_t).

    Parameters
    ----------
    quantity : str
        One of :data:`QUANTITIES`.
    N, n, L : int
        As in :func:`peak_bytes`.
    cut : int
        Leading axes chunked with size 1 (0..L // 2).
    workers, threads : int
        Dask workers, and threads per worker.

    Returns
    -------
    dict
        ``task`` (bytes one task holds at its peak), ``total`` (bytes the graph holds at
        once, across the workers) and ``per_worker`` = total / workers + threads · task.
        See "The Dask route" in the module docstring.

    Examples
    --------
    >>> est = dask_peak_bytes("mdse", 4, 4, 14, cut=3, workers=2)  # S = 2^28, chunks of 4^11
    >>> round(est["total"] / 2**30, 1), round(est["per_worker"] / 2**30, 2)
    (10.0, 5.13)
    """
    N, n, L = _validate(quantity, N, n, L)
    cut = int(cut)
    if not 0 <= cut <= L // 2:
        raise ValueError(f"`cut` must be in 0..{L // 2} (got {cut}).")
    chunk = F64 * n ** (L - cut)
    task = DASK_TASK_CHUNKS * chunk + min(chunk, F64 * tensor.CACHE_ELEMENTS) * TEMP_FIELD
    graph = 2 if quantity == "marginal" else DASK_GRAPH_TABLES
    total = 2 * F64 * N**L + graph * F64 * n**L
    return dict(task=int(task), total=int(total), per_worker=int(total / max(workers, 1) + max(threads, 1) * task))


def _dask_capacity():
    """(workers, threads per worker, bytes per worker) of the scheduler Dask will use: the
    workers of the current ``dask.distributed`` client (their ``memory_limit``), or Dask's
    threads in this process under :func:`limit_bytes`."""
    try:
        from distributed import default_client

        client = default_client()
    except (ImportError, ValueError):
        client = None
    if client is not None:
        try:
            info = client.scheduler_info(n_workers=-1)["workers"]
        except TypeError:  # older distributed
            info = client.scheduler_info()["workers"]
        if info:
            mem = min(int(w.get("memory_limit") or limit_bytes()) for w in info.values())
            threads = max(int(w.get("nthreads", 1)) for w in info.values())
            return len(info), threads, mem
    import dask

    return 1, int(dask.config.get("num_workers", None) or os.cpu_count() or 1), limit_bytes()


def dask_layout(N, n, L, table=None):
    """How many leading axes to chunk (size 1 along each) for a factorized quantity on Dask.

    The smallest ``cut`` such that (1) a chunk over x0 holds no more states than the
    largest chunk of ``table`` (the caller's granularity), (2) a chunk over x_t is at most
    Dask's ``array.chunk-size`` (128 MiB by default) and (3) the tasks running at once on
    a worker need at most half of its memory (:func:`dask_peak_bytes`); at most L // 2.

    Examples
    --------
    >>> dask_layout(4, 4, 12)  # S = 2^24: one chunk of 128 MiB
    0
    >>> dask_layout(4, 4, 14)  # S = 2^28: 16 chunks of 128 MiB
    2
    """
    import dask
    from dask.utils import parse_bytes

    _, threads, per_worker = _dask_capacity()
    target = parse_bytes(dask.config.get("array.chunk-size", "128MiB"))
    largest = math.prod(max(ch) for ch in table.chunks) if table is not None else N**L
    for cut in range(L // 2 + 1):
        if (N ** (L - cut) <= largest and F64 * n ** (L - cut) <= target
                and threads * dask_peak_bytes("mdse", N, n, L, cut)["task"] <= per_worker / 2):
            return cut
    return L // 2


def _parse_bytes(text):
    text = str(text).strip().upper().removesuffix("B").removesuffix("I")
    scale = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
    if text and text[-1] in scale:
        return int(float(text[:-1]) * scale[text[-1]])
    return int(float(text))


def _physical_bytes():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: assume 24 GiB
        return 24 * 1024**3


def _device_bytes(xp):
    """Total memory of the current GPU for CuPy, else None."""
    try:
        import array_api_compat

        if xp is not None and array_api_compat.is_cupy_namespace(xp):
            import cupy

            return cupy.cuda.runtime.memGetInfo()[1]
    except Exception:  # pragma: no cover - only with a GPU
        return None
    return None


def limit_bytes(xp=None):
    """The memory limit, in bytes, that :func:`check` enforces.

    The value set with :func:`set_limit` or ``EXACTDIFF_MEMORY_LIMIT``; otherwise 80 % of
    the physical memory (of the GPU's memory for CuPy's namespace ``xp``).
    """
    if _limit is not None:
        return _limit
    env = os.environ.get("EXACTDIFF_MEMORY_LIMIT")
    if env:
        return _parse_bytes(env)
    total = _device_bytes(xp) or _physical_bytes()
    return int(DEFAULT_FRACTION * total)


def set_limit(n_bytes):
    """Set the memory limit in bytes (an int, or a string such as ``"8G"``); ``None``
    restores the default. Returns the previous setting (``None`` for the default)."""
    global _limit
    previous = _limit
    if n_bytes is None:
        _limit = None
    else:
        value = _parse_bytes(n_bytes) if isinstance(n_bytes, str) else int(n_bytes)
        if value <= 0:
            raise ValueError(f"`n_bytes` must be positive (got {n_bytes!r}).")
        _limit = value
    return previous


def describe(quantity, N, n, L):
    """One line: the quantity, the sizes and the estimated peak."""
    S = n**L
    return (f"the factorized `{quantity}` for N={N}, n={n}, L={L} (tables of {n}^{L} = {S:,} "
            f"states, {format_bytes(8 * S)} each)")


_HINT = ("use a smaller toy (a shorter sequence or a smaller vocabulary) or another engine, or raise the limit "
         "with exactdiff.memory.set_limit (or EXACTDIFF_MEMORY_LIMIT)")


def refuse(n_bytes, what, xp=None, limit=None, hint=_HINT):
    """Raise ``ValueError`` before allocating when ``n_bytes`` exceed :func:`limit_bytes`
    (or ``limit``, bytes, when given).

    The one memory limit of the package: the factorized engine (through :func:`check`),
    the dense engine, tables over V^L, Markov-chain laws and subset sums all refuse
    through this function, so :func:`set_limit` governs every one of them. ``what``
    names the computation in the message, ``hint`` says what to do. Returns ``n_bytes``.
    """
    limit = limit_bytes(xp) if limit is None else int(limit)
    if n_bytes > limit:
        raise ValueError(
            f"{what} would need about {format_bytes(n_bytes)} of memory, more than the "
            f"limit of {format_bytes(limit)}; {hint}."
        )
    return int(n_bytes)


def check(quantity, N, n, L, xp=None, cut=None):
    """Raise ``ValueError`` before allocating when :func:`peak_bytes` exceeds the limit.

    With ``cut`` (the Dask route, chunked along ``cut`` leading axes) the need per worker
    of :func:`dask_peak_bytes` is compared with the memory of one worker (see "The Dask
    route" in the module docstring)."""
    if cut is None:
        return refuse(peak_bytes(quantity, N, n, L, xp), f"{describe(quantity, N, n, L)} at its peak", xp)
    workers, threads, per_worker = _dask_capacity()
    est = dask_peak_bytes(quantity, N, n, L, cut, workers, threads)
    what = (f"{describe(quantity, N, n, L)} on Dask ({workers} worker(s) of {threads} thread(s), chunks of "
            f"{n}^{L - cut} states; {format_bytes(est['total'])} in all) per worker")
    hint = ("use more Dask workers or workers with more memory (each worker's memory_limit; "
            "exactdiff.memory.set_limit for Dask's threads in this process), or a smaller toy")
    return refuse(est["per_worker"], what, xp, limit=per_worker, hint=hint)


def format_bytes(n):
    """``n`` bytes in binary units: ``format_bytes(3 * 2**30) == '3.0 GiB'``."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EiB"
