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
- z = n^L, the bytes of the boolean table of p_t = 0;
- c = min(t, 8·BLOCK_ELEMENTS), one block of the blockwise helpers of
  :mod:`exactdiff.core.tensor` (32 MiB by default);
- push, pull: the peak of ``tensor.apply_all`` for p_t = (k along every axis) p0 and
  for (kᵀ along every axis) F, its result included (computed by :func:`_apply_all_extra`,
  which mirrors that function: plain passes below one block, slab by slab above).

The estimate is d plus the largest of the phases below (what each holds at its peak):

================================  ===========================================================
quantity                          phases
================================  ===========================================================
``marginal``                      push
``pointwise_kl``,                 push; t + z + max(2c, d + pull)  (log p_t in place, then
``mutual_information``            Σ k log k − the pull-back of log p_t)
``mdse``,                         push; 2t + max(sum, z + 2c, 2.25c)  (p_t and F);
``pointwise_kl_derivative``,      d + t + z + pull  (the pull-back of F, the infinities)
``mutual_information_derivative``
``marginal_entropy_derivative``   push; 2t + max(sum, z + 2c)
================================  ===========================================================

with sum = t below one block (one temporary of ``sum_over_axes``) and 2c above. Nothing of
size S² is ever formed. Measured peaks (``tracemalloc``, NumPy) lie between 0.75 and 1.0
of this estimate for tables of more than a few blocks, and within 1.15 for tiny blocks
(``tests/test_memory.py``).

Examples: the uniform process at N = 4, L = 12 (S = 2^24) needs about 0.58 GiB for the
pointwise mdse; the absorbing process at N = 4, L = 12 has tables on 5^12 ≈ 2.4·10^8
states and needs about 4.1 GiB (measured: 4.2 GiB peak resident memory, the interpreter
included, ``benchmarks/scale.py``); at L = 13 it would need about 20 GiB and is refused on
a 24 GiB machine.

The limit
---------
By default 80 % of the physical memory (``os.sysconf``), or of the GPU's memory when the
arrays are CuPy arrays. :func:`set_limit` changes it for the process (``None`` restores
the default); the environment variable ``EXACTDIFF_MEMORY_LIMIT`` (bytes, or with a
suffix K/M/G/T, powers of 1024) sets it at start-up.
"""

from __future__ import annotations

import os

from . import tensor

__all__ = ["QUANTITIES", "peak_bytes", "limit_bytes", "set_limit", "check", "refuse", "describe", "format_bytes"]

#: Fraction of the physical memory the default limit allows.
DEFAULT_FRACTION = 0.8

_limit = None


F64 = 8  # bytes of a float64


def _apply_all_extra(n0, m, L, block):
    """Peak bytes allocated by ``tensor.apply_all`` for an m×n0 matrix on a table (n0,)*L,
    its result included and the table itself not: it mirrors that function's choices."""
    if L == 1 or n0**L <= block:
        s = [m**j * n0 ** (L - j) for j in range(L + 1)]  # pass j reads s[j], writes s[j+1]
        return F64 * max((s[j] if j else 0) + s[j + 1] for j in range(L))
    G = n0 * m ** (L - 1)
    slabs = F64 * G + _apply_all_extra(n0, m, L - 1, block)
    last = F64 * (G + m**L) if m != n0 else F64 * G + 2 * F64 * min(block, G)
    return max(slabs, last)


def _sizes(N, n, L):
    """The sizes, in bytes, the phase models below are written in."""
    B = tensor.BLOCK_ELEMENTS
    t = F64 * n**L
    c = min(t, F64 * B)
    return dict(
        d=F64 * N**L,                      # a table over x0: p0, each result
        t=t,                               # a table over x_t: p_t, log p_t, F
        z=n**L,                            # the boolean table of p_t = 0
        c=c,                               # one block of the blockwise helpers
        sum=t if n**L <= B else 2 * c,     # temporaries of sum_over_axes
        push=_apply_all_extra(N, n, L, B),  # p_t = (k along every axis) p0
        pull=_apply_all_extra(n, N, L, B),  # (kᵀ along every axis) F
    )


def _marginal(s):
    return s["push"]


def _kl(s):
    # p_t, then log p_t in place (+ zero mask), then Σ k log k − pull-back, then the infinities
    return max(s["push"], s["t"] + s["z"] + max(2 * s["c"], s["d"] + s["pull"]))


def _field(s):
    # p_t and the field F (two full tables), then the pull-back of F, then the infinities
    t, z = s["t"], s["z"]
    build = 2 * t + max(s["sum"], 2.25 * s["c"], z + 2 * s["c"], z + s["sum"])
    return max(s["push"], build, s["d"] + t + z + s["pull"])


def _entropy_derivative(s):
    return max(s["push"], 2 * s["t"] + max(s["sum"], s["z"] + 2 * s["c"]))


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


def peak_bytes(quantity, N, n, L):
    """Estimated peak memory, in bytes, of one factorized ``quantity`` for all x0.

    Parameters
    ----------
    quantity : str
        One of :data:`QUANTITIES` (``"mdse"``, ``"pointwise_kl"``, …).
    N, n : int
        Data tokens and noisy tokens (n = N + 1 for the absorbing process).
    L : int
        Sequence length.

    Returns
    -------
    int
        Bytes, including the table p0 itself. See the module docstring for the formula.

    Examples
    --------
    >>> round(peak_bytes("mdse", 4, 4, 12) / 2**30, 2)  # uniform, S = 2^24
    0.58
    """
    if quantity not in QUANTITIES:
        raise ValueError(f"`quantity` must be one of {sorted(QUANTITIES)} (got {quantity!r}).")
    N, n, L = int(N), int(n), int(L)
    if not (1 <= N <= n and L >= 1):
        raise ValueError(f"need 1 <= N <= n and L >= 1 (got N={N}, n={n}, L={L}).")
    sizes = _sizes(N, n, L)
    return int(sizes["d"] + QUANTITIES[quantity](sizes))


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


def refuse(n_bytes, what, xp=None):
    """Raise ``ValueError`` before allocating when ``n_bytes`` exceed :func:`limit_bytes`.

    The one memory limit of the package: the factorized engine (through :func:`check`),
    the dense engine, tables over V^L, Markov-chain laws and subset sums all refuse
    through this function, so :func:`set_limit` governs every one of them. ``what``
    names the computation in the message. Returns ``n_bytes``.
    """
    limit = limit_bytes(xp)
    if n_bytes > limit:
        raise ValueError(
            f"{what} would need about {format_bytes(n_bytes)} of memory, more than the "
            f"limit of {format_bytes(limit)}; use a smaller toy (a shorter sequence or a "
            f"smaller vocabulary) or another engine, or raise the limit with "
            f"exactdiff.memory.set_limit (or EXACTDIFF_MEMORY_LIMIT)."
        )
    return int(n_bytes)


def check(quantity, N, n, L, xp=None):
    """Raise ``ValueError`` before allocating when :func:`peak_bytes` exceeds the limit."""
    return refuse(peak_bytes(quantity, N, n, L), f"{describe(quantity, N, n, L)} at its peak", xp)


def format_bytes(n):
    """``n`` bytes in binary units: ``format_bytes(3 * 2**30) == '3.0 GiB'``."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EiB"
