"""One code path for every array library: the factorized engine, the mdse and the masked
closed forms run on ``array_api_strict`` arrays (which have nothing but the standard's
API, so any non-standard call fails) and on CuPy arrays, and agree with NumPy.

Reference values: the same functions on NumPy tables (the route every other test checks
against the dense engine and dit). Tolerance: 1e-12 relative to max(|value|, the size of
the terms), the engine-agreement tolerance of ``tests/test_information.py``; in practice
the two routes agree bit for bit.
"""

import numpy as np
import pytest

import exactdiff as ed
from exactdiff.checks.score_entropy import DEFAULT_TIMES, check_theorem_3_1
from exactdiff.core import tensor as _tensor
from exactdiff.core.backend import as_xp_table, namespace
from exactdiff.information.divergences import term_scale as _rate_scale

from _routes import IDS, POINTWISE, RTOL, SCALARS, TOYS, close

xps = pytest.importorskip("array_api_strict")


@pytest.fixture(autouse=True, scope="module")
def standard_2024():
    """The engine is written against the 2024.12 revision of the standard (Python scalars
    in ``where``); pin it so that a newer default cannot hide a regression."""
    xps.set_array_api_strict_flags(api_version="2024.12")
    yield
    xps.reset_array_api_strict_flags()


@pytest.mark.parametrize("name,p0,proc", TOYS, ids=IDS)
@pytest.mark.parametrize("quantity", sorted(POINTWISE))
def test_pointwise_quantities_on_strict_arrays_match_numpy(name, p0, proc, quantity):
    f = POINTWISE[quantity]
    for t in (1e-3, 0.4, 0.9):
        out = f(xps.asarray(p0.table), proc, t)
        assert namespace(out) is xps, "the result must stay in the input's namespace"
        close(out, f(p0, proc, t), floor=p0.L * np.log(proc.n))


@pytest.mark.parametrize("name,p0,proc", TOYS, ids=IDS)
def test_scalar_quantities_on_strict_arrays_match_numpy(name, p0, proc):
    for qname, f in SCALARS.items():
        a, b = f(xps.asarray(p0.table), proc, 0.4), f(p0, proc, 0.4)
        assert isinstance(a, float), qname
        assert abs(a - b) <= RTOL * max(abs(b), p0.L * np.log(proc.n)), qname


@pytest.mark.parametrize("name,p0,proc", TOYS, ids=IDS)
def test_theorem_3_1_on_strict_arrays(name, p0, proc):
    """Theorem 3.1 computed entirely on array_api_strict arrays: d/dt KL = −mdse(x0, t)
    pointwise and d/dt I = −mdse(t), at the default times of the check, with the
    check's tolerance (1e-10 relative to max(|lhs|, |rhs|, σ(t)·L·max|Q_ii|)); the
    residuals equal those of the NumPy check to 1e-12."""
    ps = xps.asarray(p0.table)
    support = ps > 0
    times = check_theorem_3_1(p0, proc)[0].setup["times"]
    assert times, "the check must have times in the schedule's domain"
    worst_xp, worst_np = 0.0, 0.0
    for t in times:
        d = ed.pointwise_kl_derivative(ps, proc, t, engine="factorized")
        m = ed.mdse(ps, proc, t, pointwise=True, engine="factorized")
        assert namespace(d) is xps and namespace(m) is xps
        floor = _rate_scale(proc, t, p0.L)
        scale = xps.maximum(xps.maximum(xps.abs(d), xps.abs(m)), xps.asarray(floor))
        resid = xps.abs(xps.where(support, d + m, 0.0)) / xps.where(support, scale, 1.0)
        worst_xp = max(worst_xp, float(xps.max(resid)))
        dI = ed.mutual_information_derivative(ps, proc, t, engine="factorized")
        assert abs(dI + ed.mdse(ps, proc, t, engine="factorized")) <= 1e-10 * max(abs(dI), floor)
        dn = ed.pointwise_kl_derivative(p0, proc, t)
        mn = ed.mdse(p0, proc, t, pointwise=True)
        close(d, dn, floor)
        close(m, mn, floor)
        sup = p0.table > 0
        worst_np = max(worst_np, float(np.max(np.abs(dn + mn)[sup] / np.maximum(np.maximum(np.abs(dn), np.abs(mn)), floor)[sup])))
    assert worst_xp <= 1e-10
    assert abs(worst_xp - worst_np) <= 1e-12
    assert all(r.passed for r in check_theorem_3_1(p0, proc))


def test_theorem_3_1_times_cover_the_check():
    assert len(DEFAULT_TIMES) >= 9


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0])
def test_masked_closed_forms_on_strict_arrays(lam):
    p0 = ed.Distribution.dirichlet(3, 4, seed=3, zero_fraction=0.3)
    ps = xps.asarray(p0.table)
    floor = 4 * np.log(3)
    for f in (lambda p: ed.masked.masked_marginal(p, lam), ed.subset_sums,
              lambda p: ed.mdce(p, lam, pointwise=True), lambda p: ed.mdce_integral(p, Lambda=max(lam, 0.5))):
        out = f(ps)
        assert namespace(out) is xps
        close(out, f(p0), floor)
    assert abs(ed.mdce(ps, lam) - ed.mdce(p0, lam)) <= RTOL * floor


def test_gauss_legendre_integral_on_strict_arrays_and_theorem_3_2():
    """The Gauss–Legendre quadrature runs in the input's namespace, agrees with NumPy and
    with quad_vec (1e-10 of the max norm), and closes Theorem 3.2 to 1e-10."""
    p0 = ed.Distribution.dirichlet(3, 4, seed=3, zero_fraction=0.3)
    proc = ed.absorbing(3, ed.LogLinear())
    a, err_a = ed.mdse_integral(xps.asarray(p0.table), proc, 1.0, pointwise=True, quadrature="gauss-legendre")
    b, err_b = ed.mdse_integral(p0, proc, 1.0, pointwise=True, quadrature="gauss-legendre")
    q, _ = ed.mdse_integral(p0, proc, 1.0, pointwise=True)
    assert namespace(a) is xps
    close(a, b, floor=1.0)
    assert err_a == pytest.approx(err_b, rel=1e-6, abs=1e-15)
    close(b, q, floor=1.0, rtol=1e-10)
    sup = p0.table > 0
    nll = -np.log(p0.table[sup])
    rhs = b[sup] + ed.pointwise_kl(p0, proc, 1.0)[sup]
    assert np.max(np.abs(rhs - nll) / nll) <= 1e-10


def test_gauss_legendre_reaches_tiny_probabilities():
    """p0 values near 1e-41 (Dirichlet(0.1)) act at σ̄ ~ 1e-41, below the old fixed
    lower end e^{−45}; the lower end now follows min p0 and Theorem 3.2 closes."""
    p0 = ed.Distribution.dirichlet(4, 6, seed=3, alpha=0.1)
    assert p0.table[p0.table > 0].min() < 1e-35
    proc = ed.ForwardProcess(ed.process.random_generator(4, seed=4))
    v, _ = ed.mdse_integral(p0, proc, 30.0, pointwise=True, quadrature="gauss-legendre")
    sup = p0.table > 0
    nll = -np.log(p0.table[sup])
    assert np.max(np.abs(v[sup] + ed.pointwise_kl(p0, proc, 30.0)[sup] - nll) / nll) <= 1e-10


@pytest.mark.parametrize("block", [7, 30])
@pytest.mark.parametrize("name,p0,proc", TOYS[:3], ids=IDS[:3])
def test_blockwise_evaluation_matches(monkeypatch, name, p0, proc, block):
    """The blockwise code paths (tables larger than one block: several levels, strided
    blocks, in-place levels) give the same values, in NumPy and in the standard's API
    (``__setitem__`` on slices)."""
    reference = {q: f(p0, proc, 0.4) for q, f in POINTWISE.items()}
    monkeypatch.setattr(_tensor, "CACHE_ELEMENTS", block)
    monkeypatch.setattr(_tensor, "BLOCK_ELEMENTS", block)
    for q, f in POINTWISE.items():
        for table in (p0.table, xps.asarray(p0.table)):
            close(f(table, proc, 0.4), reference[q], floor=p0.L * np.log(proc.n), rtol=1e-13)


def _per_axis(M, x, ndim):
    """Reference: M along each of the first ``ndim`` axes, one ``tensordot`` per axis."""
    for axis in range(ndim):
        x = np.moveaxis(np.tensordot(M, x, axes=([1], [axis])), 0, axis)
    return x


@pytest.mark.parametrize("block", [5, 64, 1 << 16])
def test_contractions_match_one_axis_at_a_time(monkeypatch, block):
    """apply_all (square, expanding, shrinking, in place, with spectator axes),
    sum_over_axes (into ``out``) and ratio_field against one ``tensordot`` per axis, on
    tables of 2..7 axes and blocks from 5 elements (every axis its own level) to 2^16 (one
    level): the Kronecker groups and the levels only regroup the sums (1e-13)."""
    monkeypatch.setattr(_tensor, "CACHE_ELEMENTS", block)
    monkeypatch.setattr(_tensor, "BLOCK_ELEMENTS", block)
    rng = np.random.default_rng(7)
    for n, L, m in ((2, 7, 3), (3, 5, 2), (4, 4, 4), (5, 2, 5)):
        x = rng.random((n,) * L)
        x[(0,) * (L - 1)] = 0.0
        M, K, A, B = rng.random((m, n)), rng.random((n, n)), rng.random((n, n)) - 0.5, rng.random((n, n))
        for table in (x, xps.asarray(x)):
            close(_tensor.apply_all(M, table), _per_axis(M, x, L), floor=1.0, rtol=1e-13)
            close(_tensor.apply_all(K, table, ndim=L - 1), _per_axis(K, x, L - 1), floor=1.0, rtol=1e-13)
            ref = sum(np.moveaxis(np.tensordot(A, x, axes=([1], [i])), 0, i) for i in range(L))
            close(_tensor.sum_over_axes(A, table, out=_tensor.apply_all(K, table)), ref + _per_axis(K, x, L),
                   floor=1.0, rtol=1e-13)
            zero = x == 0
            logx = np.log(np.where(zero, 1.0, x))
            ratio = sum(np.moveaxis(np.tensordot(A, x, axes=([1], [i])), 0, i) for i in range(L))
            field = np.where(zero, 0.0, ratio / np.where(zero, 1.0, x)) + sum(
                np.moveaxis(np.tensordot(B, logx, axes=([1], [i])), 0, i) for i in range(L))
            close(_tensor.ratio_field(A, B, table), field, floor=1.0, rtol=1e-13)
        y = x.copy()
        out = _tensor.apply_all(K, y, overwrite=True)
        close(out, _per_axis(K, x, L), floor=1.0, rtol=1e-13)


def test_levels_and_kronecker_matrices():
    """Levels cover the axes from the last, each fitting its block; the Kronecker power and
    sum act as M along each axis and Σ_i M along i."""
    assert _tensor.levels([4] * 12, 12, 1 << 16) == [(4, 12), (0, 4)]
    assert _tensor.levels([4] * 12 + [7], 12, 1 << 16) == [(6, 12), (0, 6)]  # runs of >= MIN_RUN
    assert _tensor.levels([3] * 4, 4, 1) == [(3, 4), (2, 3), (1, 2), (0, 1)]
    rng = np.random.default_rng(1)
    M = rng.random((3, 3))
    x = rng.random((3, 3))
    assert np.allclose((_tensor.kron_power(M, 2) @ x.reshape(-1)).reshape(3, 3), M @ x @ M.T, rtol=1e-14)
    assert np.allclose((_tensor.kron_sum(M, 2) @ x.reshape(-1)).reshape(3, 3), M @ x + x @ M.T, rtol=1e-14)


def test_token_sum_blocks():
    values = np.array([0.5, -1.0, 2.0])
    full = _tensor.token_sum(values, 4)
    assert full[1, 2, 0, 1] == values[1] + values[2] + values[0] + values[1]
    blk = (slice(1, 2), slice(None), slice(0, 2), slice(None))
    np.testing.assert_array_equal(_tensor.token_sum(values, 4, index=blk), full[blk])


def test_blocks_tile_the_array():
    shape = (3, 4, 5, 2)
    for keep in (None, 0, 1, 3):
        for limit in (1, 7, 20, 1000):
            seen = np.zeros(shape, dtype=int)
            for blk in _tensor.blocks(shape, keep=keep, limit=limit):
                seen[blk] += 1
                if keep is not None:
                    assert blk[keep] == slice(None)
            assert np.all(seen == 1)


def test_dense_engine_is_numpy_only():
    p0 = ed.Distribution.dirichlet(2, 2, seed=0)
    with pytest.raises(ValueError, match="NumPy arrays only"):
        ed.pointwise_kl(xps.asarray(p0.table), ed.uniform(2), 0.3, engine="dense")
    with pytest.raises(ValueError, match="NumPy tables only"):
        ed.mdce(xps.asarray(p0.table), 0.3, route="enumerate")


def test_strict_tables_are_validated():
    with pytest.raises(ValueError, match="`p0` must sum to 1"):
        as_xp_table(xps.asarray([[0.5, 0.2], [0.1, 0.1]]))
    with pytest.raises(ValueError, match="`p0` must be non-negative"):
        as_xp_table(xps.asarray([[0.5, 0.6], [0.1, -0.2]]))
    with pytest.raises(ValueError, match="all axes equal"):
        as_xp_table(xps.ones((2, 3)) / 6)
    with pytest.raises(ValueError, match="must be finite"):
        as_xp_table(xps.asarray([[float("nan"), 0.5], [0.25, 0.25]]))
    out = as_xp_table(xps.asarray([[1, 0], [0, 0]]))
    assert out.dtype == xps.float64


def test_mixed_libraries_are_refused():
    with pytest.raises(ValueError, match="one array library"):
        namespace(np.ones(2), xps.ones(2))


# -- CuPy ---------------------------------------------------------------------------------------
def _cupy_or_skip():
    try:
        import cupy
    except ImportError:
        pytest.skip("CuPy is not installed (pip install cupy-cuda12x, extra `gpu`); the GPU path is untested here")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("CuPy is installed but no CUDA device is visible")
    except Exception as exc:  # no driver
        pytest.skip(f"CuPy is installed but CUDA is unusable: {exc}")
    return cupy


@pytest.mark.parametrize("name,p0,proc", TOYS, ids=IDS)
def test_cupy_matches_numpy(name, p0, proc):
    cupy = _cupy_or_skip()
    table = cupy.asarray(p0.table)
    for q, f in POINTWISE.items():
        out = f(table, proc, 0.4)
        assert isinstance(out, cupy.ndarray), q
        close(out, f(p0, proc, 0.4), floor=p0.L * np.log(proc.n))
    for q, f in SCALARS.items():
        a, b = f(table, proc, 0.4), f(p0, proc, 0.4)
        assert abs(a - b) <= RTOL * max(abs(b), p0.L * np.log(proc.n)), q
    close(ed.mdce(table, 0.3, pointwise=True), ed.mdce(p0, 0.3, pointwise=True), floor=p0.L)


def test_cupy_theorem_3_1_and_kernel_on_host():
    """The kernels come from scipy on the host (never cupyx.scipy.linalg.expm); only the
    tables live on the GPU. Theorem 3.1 holds there to 1e-10."""
    cupy = _cupy_or_skip()
    p0 = ed.Distribution.dirichlet(4, 6, seed=2)
    proc = ed.ForwardProcess(ed.process.random_generator(4, seed=3))
    table = cupy.asarray(p0.table)
    for t in (1e-3, 0.5, 3.0):
        d = ed.pointwise_kl_derivative(table, proc, t)
        m = ed.mdse(table, proc, t, pointwise=True)
        floor = _rate_scale(proc, t, p0.L)
        assert float(cupy.max(cupy.abs(d + m) / cupy.maximum(cupy.maximum(cupy.abs(d), cupy.abs(m)), floor))) <= 1e-10

