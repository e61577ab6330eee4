"""Memory-bounded evaluation: the peak-memory estimate against what NumPy allocates
(``tracemalloc`` sees every NumPy buffer), the refusal before allocating, and the
all-x0 quantities at S = 2^24."""

import tracemalloc

import numpy as np
import pytest

import exactdiff as ed
from exactdiff.core import memory
from exactdiff.core import tensor as _tensor

#: The stated accuracy of the estimate: the measured peak lies within this factor range
#: of :func:`exactdiff.memory.peak_bytes` (see its module docstring).
LOW, HIGH = 0.7, 1.15

QUANTITIES = {
    "marginal": lambda p, proc: ed.marginal(p, proc, 0.5, engine="factorized"),
    "pointwise_kl": lambda p, proc: ed.pointwise_kl(p, proc, 0.5, engine="factorized"),
    "pointwise_kl_derivative": lambda p, proc: ed.pointwise_kl_derivative(p, proc, 0.5, engine="factorized"),
    "mdse": lambda p, proc: ed.mdse(p, proc, 0.5, pointwise=True, engine="factorized"),
    "marginal_entropy_derivative": lambda p, proc: ed.information.marginal_entropy_derivative(p, proc, 0.5, engine="factorized"),
}


@pytest.fixture
def limit():
    """Set a memory limit for one test and restore the default afterwards."""
    previous = memory.set_limit(None)
    yield memory.set_limit
    memory.set_limit(previous)


def _measured_peak(f):
    tracemalloc.start()
    try:
        f()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("block", [None, 1 << 14], ids=["whole-tables", "blockwise"])
@pytest.mark.parametrize("kind", ["uniform", "absorbing"])
def test_estimate_matches_tracemalloc(monkeypatch, kind, block):
    """Mid-size toys (uniform N=4, L=9: 2.0 MiB tables; absorbing N=4, L=8: tables of
    5^8 states, 3.0 MiB), with whole tables and with blocks of 2^14 elements."""
    if block is not None:
        monkeypatch.setattr(_tensor, "CACHE_ELEMENTS", block)
    N, L = (4, 9) if kind == "uniform" else (4, 8)
    proc = ed.uniform(N) if kind == "uniform" else ed.absorbing(N)
    p0 = ed.Distribution.dirichlet(N, L, seed=1, zero_fraction=0.2)
    for name, f in QUANTITIES.items():
        f(p0, proc)  # warm caches (kernels, BLAS buffers) outside the measurement
        measured = _measured_peak(lambda: f(p0, proc)) + p0.table.nbytes
        estimate = memory.peak_bytes(name, N, proc.n, L)
        assert LOW * estimate <= measured <= HIGH * estimate, (name, measured, estimate)


def test_refusal_names_the_need_and_allocates_nothing(limit):
    p0 = ed.Distribution.dirichlet(4, 8, seed=0)
    proc = ed.absorbing(4)
    need = memory.peak_bytes("mdse", 4, 5, 8)
    limit(min(memory.peak_bytes(q, 4, 5, 8) for q in QUANTITIES) - 1)
    for name, f in QUANTITIES.items():
        with pytest.raises(ValueError, match=r"at its peak would need about [0-9.]+ MiB of memory, more than "
                                             r"the limit of [0-9.]+ MiB") as info:
            f(p0, proc)
        assert f"`{name}` for N=4, n=5, L=8" in str(info.value) and "set_limit" in str(info.value)
    # before allocating: the refused call allocated less than one table over x_t
    tracemalloc.start()
    with pytest.raises(ValueError):
        ed.mdse(p0, proc, 0.5, pointwise=True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 * 5**8
    limit(need)
    assert ed.mdse(p0, proc, 0.5, pointwise=True).shape == (4,) * 8


def test_large_toys_are_refused_by_default(limit):
    """The absorbing process at N=4, L=13 needs ~20 GiB (tables on 5^13 states); with a
    24 GiB limit it fits at L=12 (about 4 GiB) and not at L=14."""
    limit(24 * 1024**3)
    assert memory.check("mdse", 4, 5, 12) < 5 * 1024**3
    with pytest.raises(ValueError, match=r"the factorized `mdse` for N=4, n=5, L=14 .* would need about [0-9.]+ GiB"):
        memory.check("mdse", 4, 5, 14)
    assert memory.peak_bytes("mdse", 4, 4, 12) < 1024**3  # uniform, S = 2^24


def test_limit_settings(limit, monkeypatch):
    default = memory.limit_bytes()
    assert 0 < default
    monkeypatch.setenv("EXACTDIFF_MEMORY_LIMIT", "3G")
    assert memory.limit_bytes() == 3 * 1024**3
    limit("512M")
    assert memory.limit_bytes() == 512 * 1024**2
    monkeypatch.delenv("EXACTDIFF_MEMORY_LIMIT")
    limit(None)
    assert memory.limit_bytes() == default
    with pytest.raises(ValueError, match="`quantity` must be one of"):
        memory.peak_bytes("entropy", 2, 2, 2)
    with pytest.raises(ValueError, match="`n_bytes` must be positive"):
        memory.set_limit(0)


def test_mdse_for_all_x0_at_two_to_the_24():
    """Uniform N=4, L=12 (S = 2^24): the pointwise mdse for all x0 and the analytic KL
    derivative agree (Theorem 3.1, 1e-10 of the rate scale) within the estimate's memory.
    A few seconds on 2 cores."""
    N, L = 4, 12
    p0 = ed.Distribution.dirichlet(N, L, seed=0)
    proc = ed.uniform(N)
    t = 0.5
    m = ed.mdse(p0, proc, t, pointwise=True)
    d = ed.pointwise_kl_derivative(p0, proc, t)
    floor = proc.rate(t) * L * np.abs(np.diag(proc.Q)).max()
    assert m.shape == (N,) * L
    assert np.max(np.abs(d + m) / np.maximum(np.maximum(np.abs(d), np.abs(m)), floor)) <= 1e-10


def test_dask_estimate_is_tables_plus_tasks():
    """The Dask route's estimate (module docstring of exactdiff.memory): the graph holds
    p0, the result and DASK_GRAPH_TABLES tables over x_t at once, each task
    DASK_TASK_CHUNKS chunks plus block temporaries; a worker needs its share of the first
    and its threads' tasks. Measured peaks: ``benchmarks/dask_scale.py``."""
    N, n, L, cut = 4, 5, 12, 3
    est = memory.dask_peak_bytes("mdse", N, n, L, cut, workers=4, threads=2)
    chunk = 8 * n ** (L - cut)
    assert est["total"] == 2 * 8 * N**L + memory.DASK_GRAPH_TABLES * 8 * n**L
    assert est["task"] == memory.DASK_TASK_CHUNKS * chunk + memory.TEMP_FIELD * 8 * _tensor.CACHE_ELEMENTS
    assert est["per_worker"] == int(est["total"] / 4 + 2 * est["task"])
    with pytest.raises(ValueError, match="`quantity` must be one of"):
        memory.dask_peak_bytes("entropy", N, n, L, cut)
