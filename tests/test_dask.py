"""The Dask route: the factorized engine, the mdse and the masked closed forms on Dask
arrays, chunk by chunk, with the same code path as NumPy.

Reference values: the same functions on NumPy tables (the route every other test checks
against the dense engine and dit). Tolerance: 1e-12 relative to max(|value|, the size of
the terms), as in ``tests/test_array_api.py``: the chunked route regroups the same
products, so the two agree to a few units of rounding. Every chunking below makes the
engine rechunk (the contraction along the cut axes), so the rechunk path is what is
tested. One test runs on a ``dask.distributed.LocalCluster`` with two worker processes.
"""

import numpy as np
import pytest

import exactdiff as ed
from exactdiff.core import memory
from exactdiff.core import tensor as _tensor
from exactdiff.core.backend import is_dask, namespace, to_numpy

from _routes import IDS, RTOL, SCALARS, TOYS, close
from _routes import POINTWISE as _POINTWISE

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")


@pytest.fixture(autouse=True)
def synchronous():
    """Dask's single-threaded scheduler: deterministic and fast for small toys."""
    with dask.config.set(scheduler="synchronous"):
        yield


@pytest.fixture
def limit():
    previous = memory.set_limit(None)
    yield memory.set_limit
    memory.set_limit(previous)


#: chunkings of a (3,)*4 table: one leading axis cut, two cut, cut unevenly (rechunked by
#: the engine), and one chunk.
CHUNKS = {"lead-1": (1, 3, 3, 3), "lead-2": (1, 1, 3, 3), "uneven": (2, 3, 3, 3), "whole": -1}


POINTWISE = dict(
    _POINTWISE,
    conditional_entropy=lambda p, proc, t: ed.information.divergences.pointwise(
        "conditional_entropy", p, proc, t, "factorized", None),
)

def _check_pointwise(p0, proc, chunks, times):
    table = da.from_array(p0.table, chunks=chunks)
    for q, f in POINTWISE.items():
        for t in times:
            out = f(table, proc, t)
            assert is_dask(out), f"{q}: the result must stay a Dask array"
            close(out, f(p0, proc, t), floor=p0.L * np.log(proc.n))


@pytest.mark.parametrize("name,p0,proc", TOYS, ids=IDS)
def test_pointwise_quantities_on_dask_match_numpy(name, p0, proc):
    _check_pointwise(p0, proc, CHUNKS["lead-2"], (1e-3, 0.9) if name == "random-geometric" else (0.9,))


@pytest.mark.parametrize("chunks", [CHUNKS[c] for c in ("lead-1", "uneven", "whole")], ids=["lead-1", "uneven", "whole"])
def test_every_chunking_gives_the_same_values(chunks):
    """The absorbing process (zero marginal mass, ``inf`` values) on other chunkings."""
    name, p0, proc = TOYS[1]
    _check_pointwise(p0, proc, chunks, (0.4,))


@pytest.mark.parametrize("name,p0,proc", TOYS, ids=IDS)
def test_scalar_quantities_on_dask_match_numpy(name, p0, proc):
    table = da.from_array(p0.table, chunks=CHUNKS["lead-2"])
    for q, f in SCALARS.items():
        a, b = f(table, proc, 0.4), f(p0, proc, 0.4)
        assert isinstance(a, float), q
        assert abs(a - b) <= RTOL * max(abs(b), p0.L * np.log(proc.n)), q


def test_results_are_lazy_until_computed():
    """The marginal and d/dt KL come back as Dask graphs that have not run; ``.compute()``
    and ``to_numpy`` give the NumPy values. The mdse is persisted (its sign is checked by
    the caller), still a Dask array, chunked along leading axes."""
    name, p0, proc = TOYS[0]
    table = da.from_array(p0.table, chunks=CHUNKS["lead-1"])
    d = ed.pointwise_kl_derivative(table, proc, 0.4)
    assert len(d.dask) > len(table.dask)  # a graph, not computed data
    np.testing.assert_array_equal(d.compute(), to_numpy(d))
    m = ed.mdse(table, proc, 0.4, pointwise=True)
    assert is_dask(m) and namespace(m) is namespace(table)
    assert all(len(c) == 1 for c in m.chunks[1:]) or all(len(c) == 1 for c in m.chunks[:1])
    close(m.compute(), ed.mdse(p0, proc, 0.4, pointwise=True), floor=p0.L)


def test_at_selects_from_the_dask_table():
    name, p0, proc = TOYS[2]
    at = [(0, 1, 2, 0), (2, 2, 2, 2), (1, 0, 0, 1)]
    table = da.from_array(p0.table, chunks=CHUNKS["lead-2"])
    for f in (ed.pointwise_kl, ed.pointwise_kl_derivative):
        close(f(table, proc, 0.3, at=at), f(p0, proc, 0.3, at=at), floor=p0.L)
    close(ed.mdse(table, proc, 0.3, pointwise=True, at=at), ed.mdse(p0, proc, 0.3, pointwise=True, at=at), floor=p0.L)


@pytest.mark.parametrize("chunks", [CHUNKS["lead-2"], CHUNKS["uneven"]], ids=["lead-2", "uneven"])
def test_masked_closed_forms_on_dask(chunks):
    """The masked marginal, the visible-letter table, h_k, mdce (pointwise and mean, λ = 0,
    0.3, 1: the kernel's exact zeros included) and ∫ mdce/λ on a chunked table."""
    p0 = ed.Distribution.dirichlet(3, 4, seed=3, zero_fraction=0.3)
    table = da.from_array(p0.table, chunks=chunks)
    floor = 4 * np.log(3)
    for f in (ed.masked.visible_table, ed.subset_sums, lambda p: ed.mdce_integral(p, Lambda=0.5)):
        out = f(table)
        assert is_dask(out)
        close(out, f(p0), floor)
    for lam in (0.0, 0.3, 1.0):
        for f in (lambda p: ed.masked.masked_marginal(p, lam), lambda p: ed.mdce(p, lam, pointwise=True)):
            close(f(table), f(p0), floor)
        assert abs(ed.mdce(table, lam) - ed.mdce(p0, lam)) <= RTOL * floor


def test_tensor_primitives_on_dask_match_numpy():
    """apply_all (square and not), sum_over_axes (into an ``out``) and ratio_field on a
    chunked table, against the in-memory functions; each result keeps leading-axis chunks."""
    rng = np.random.default_rng(0)
    x = rng.random((3,) * 5)
    x[0, 1] = 0.0
    M, R = rng.random((3, 3)), rng.random((4, 3))
    for chunks in ((1, 3, 3, 3, 3), (1, 1, 3, 3, 3)):
        xd = da.from_array(x, chunks=chunks)
        for out, ref in ((_tensor.apply_all(M, xd), _tensor.apply_all(M, x)),
                         (_tensor.apply_all(R, xd), _tensor.apply_all(R, x)),
                         (_tensor.sum_over_axes(M, xd, out=xd), _tensor.sum_over_axes(M, x, out=x.copy())),
                         (_tensor.ratio_field(M, M.T, xd), _tensor.ratio_field(M, M.T, x))):
            assert _tensor._layout(out) is not None
            close(out, ref, floor=1.0, rtol=1e-13)


def test_chunks_follow_the_memory_limit(limit):
    """A lower limit gives smaller chunks (more leading axes cut); the need per worker is
    checked before anything is computed, and the refusal states it."""
    N, n, L = 4, 4, 10
    limit(None)
    coarse = memory.dask_layout(N, n, L)
    limit(64 * 1024**2)
    fine = memory.dask_layout(N, n, L)
    assert fine > coarse
    threads = memory._dask_capacity()[1]
    assert threads * memory.dask_peak_bytes("mdse", N, n, L, fine)["task"] <= 32 * 1024**2
    p0 = ed.Distribution.dirichlet(N, L, seed=0)
    limit(4 * 1024**2)
    with pytest.raises(ValueError, match=r"the factorized `mdse` for N=4, n=4, L=10 .* on Dask .* per worker would "
                                         r"need about [0-9.]+ MiB of memory, more than the limit of 4.0 MiB"):
        ed.mdse(da.from_array(p0.table, chunks=(1, 1) + (4,) * 8), ed.uniform(4), 0.5, pointwise=True)


def test_dask_estimate_grows_with_the_chunk():
    a = memory.dask_peak_bytes("mdse", 4, 4, 14, cut=2, workers=2)
    b = memory.dask_peak_bytes("mdse", 4, 4, 14, cut=3, workers=2)
    assert a["total"] == b["total"] and a["task"] == 4 * b["task"] - 3 * 8 * 2**16 * memory.TEMP_FIELD
    assert b["per_worker"] == b["total"] / 2 + b["task"]
    with pytest.raises(ValueError, match="`cut` must be in 0..7"):
        memory.dask_peak_bytes("mdse", 4, 4, 14, cut=8)


def test_local_cluster_with_two_worker_processes():
    """A ``dask.distributed.LocalCluster`` with two worker processes (one thread each): the
    pointwise mdse of the absorbing process (zero marginal mass included) equals NumPy's,
    and the memory check sees the two workers. Most of its few seconds start the cluster."""
    distributed = pytest.importorskip("distributed")
    p0 = ed.Distribution.dirichlet(3, 4, seed=4, zero_fraction=0.2)
    proc = ed.absorbing(3)
    with dask.config.set(scheduler=None), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="1GiB",
                                     dashboard_address=":0") as cluster, \
            distributed.Client(cluster):
        assert memory._dask_capacity()[:2] == (2, 1)
        table = da.from_array(p0.table, chunks=(1, 1, 3, 3))
        m = ed.mdse(table, proc, 0.5, pointwise=True)
        close(m.compute(), ed.mdse(p0, proc, 0.5, pointwise=True), floor=p0.L)
