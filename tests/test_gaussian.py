"""The Gaussian I-MMSE companion: closed forms, independent routes, the three checks,
mutated identities that must fail, and argument validation."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.special import expit

from exactdiff import gaussian as gs
from exactdiff.checks import gaussian as gc
from exactdiff.checks.result import compare

BPSK = ([-1.0, 1.0], [0.5, 0.5])  # X = ±1 equiprobable: H = log 2, Var X = 1
TOY_1D, TOY_2D = gs.default_gaussian_toys()


def _phi(y):
    return math.exp(-0.5 * y * y) / math.sqrt(2.0 * math.pi)


def bpsk_information(g):
    """I(X; √γ X + N) = γ − ∫ φ(y) log cosh(γ − √γ y) dy (Guo–Shamai–Verdú 2005, Eq. 18),
    by scipy.integrate.quad, independently of exactdiff. log cosh a = |a| + log1p(e^{−2|a|}) − log 2."""
    rg = math.sqrt(g)

    def logcosh(y):
        a = abs(g - rg * y)
        return a + math.log1p(math.exp(-2.0 * a)) - math.log(2.0)

    val = integrate.quad(lambda y: _phi(y) * logcosh(y), -40, 40, points=[rg], epsabs=0, epsrel=1e-13, limit=500)[0]
    return g - val


def bpsk_mmse(g):
    """mmse(γ) = 1 − ∫ φ(y) tanh(γ − √γ y) dy, written as 2∫ φ(y) expit(−2(γ − √γ y)) dy
    so that it has no cancellation at large γ."""
    rg = math.sqrt(g)
    f = lambda y: _phi(y) * expit(-2.0 * (g - rg * y))  # noqa: E731
    return 2.0 * integrate.quad(f, -40, 40, points=[rg], epsabs=0, epsrel=1e-13, limit=500)[0]


# -- hand-checkable cases -------------------------------------------------------------
def test_bpsk_exact_at_zero_snr():
    # γ = 0 is returned exactly: no information, and the MMSE is Var X = 1.
    assert gs.gaussian_mutual_information(*BPSK, 0.0) == 0.0
    assert gs.gaussian_mmse(*BPSK, 0.0) == 1.0
    assert gs.gaussian_pointwise_kl(*BPSK, 0.0).tolist() == [0.0, 0.0]
    assert gs.gaussian_pointwise_mmse(*BPSK, 0.0).tolist() == [1.0, 1.0]


def test_zero_snr_is_the_prior():
    # x = (−1, 0.3, 1.5), p = (0.5, 0.2, 0.3): E X = 0.01, E X² = 1.193, Var X = 1.1929,
    # and mmse(x_j, 0) = (x_j − 0.01)².
    m0 = gs.gaussian_pointwise_mmse(TOY_1D.points, TOY_1D.probs, 0.0)
    assert np.allclose(m0, [1.0201, 0.0841, 2.2201], rtol=1e-14, atol=0)
    assert gs.gaussian_mmse(TOY_1D.points, TOY_1D.probs, 0.0) == pytest.approx(1.1929, rel=1e-14)
    # the exact γ = 0 value is the limit of the quadrature: mmse(γ) = mmse(0) + O(γ)
    assert np.allclose(gs.gaussian_pointwise_mmse(TOY_1D.points, TOY_1D.probs, 1e-10), m0, rtol=1e-8, atol=0)
    assert gs.gaussian_mutual_information(TOY_1D.points, TOY_1D.probs, 0.0) == 0.0


@pytest.mark.parametrize("g", [0.1, 1.0, 4.0, 10.0, 30.0])
def test_bpsk_matches_closed_form(g):
    info = gs.gaussian_mutual_information(*BPSK, g)
    m = gs.gaussian_mmse(*BPSK, g)
    assert info == pytest.approx(bpsk_information(g), rel=1e-12, abs=0)
    assert m == pytest.approx(bpsk_mmse(g), rel=1e-11, abs=0)
    # By symmetry each point carries the whole information and the whole MMSE.
    assert np.allclose(gs.gaussian_pointwise_kl(*BPSK, g), info, rtol=1e-13, atol=0)
    assert np.allclose(gs.gaussian_pointwise_mmse(*BPSK, g), m, rtol=1e-13, atol=0)


def test_bpsk_tends_to_log2():
    gammas = np.array([0.5, 2.0, 8.0, 32.0, 200.0])
    info = gs.gaussian_mutual_information(*BPSK, gammas)
    assert np.all(np.diff(info) > 0) and np.all(info <= math.log(2))
    assert abs(info[-1] - math.log(2)) < 1e-15  # log 2 − I(200) is below 1e-40
    assert gs.gaussian_mmse(*BPSK, 200.0) < 1e-40


def test_single_point_is_exact_zero():
    for g in (0.0, 3.0):
        assert gs.gaussian_mutual_information([[0.5, -1.0]], [1.0], g) == 0.0
        assert gs.gaussian_pointwise_mmse([[0.5, -1.0]], [1.0], g).tolist() == [0.0]
    assert gs.gaussian_nll_integral([2.0], [1.0]).tolist() == [0.0]


def test_bounds_hold():
    kl = gs.gaussian_pointwise_kl(TOY_2D.points, TOY_2D.probs, 3.0)
    m = gs.gaussian_pointwise_mmse(TOY_2D.points, TOY_2D.probs, 3.0)
    assert np.all(kl > 0) and np.all(kl < -np.log(TOY_2D.probs))
    assert np.all(m > 0)
    info = gs.gaussian_mutual_information(TOY_2D.points, TOY_2D.probs, 3.0)
    assert info == pytest.approx(TOY_2D.probs @ kl, rel=1e-14)
    assert 0 < info < TOY_2D.entropy


# -- independent routes that must agree -----------------------------------------------
def test_rotation_and_scaling_invariance():
    # I(aRX; Z_γ) = I(X; Z_{a²γ}) for a rotation R: the tensor grid is axis-aligned, the
    # posterior boundaries are not, so this tests the grid, not just the algebra.
    th, a = 0.7, 1.6
    rot = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    moved = a * TOY_2D.points @ rot.T
    for g in (0.3, 4.0):
        ref = gs.gaussian_pointwise_kl(TOY_2D.points, TOY_2D.probs, a * a * g)
        assert np.allclose(gs.gaussian_pointwise_kl(moved, TOY_2D.probs, g), ref, rtol=1e-12, atol=0)
        ref_m = gs.gaussian_pointwise_mmse(TOY_2D.points, TOY_2D.probs, a * a * g)
        assert np.allclose(gs.gaussian_pointwise_mmse(moved, TOY_2D.probs, g), a * a * ref_m, rtol=1e-11, atol=0)


def test_line_embedded_in_the_plane_matches_1d():
    direction = np.array([0.6, 0.8])
    pts2 = TOY_1D.points @ direction[None, :] + np.array([0.3, -0.2])  # a translate too
    for g in (0.5, 20.0):
        assert np.allclose(
            gs.gaussian_pointwise_kl(pts2, TOY_1D.probs, g),
            gs.gaussian_pointwise_kl(TOY_1D.points, TOY_1D.probs, g), rtol=1e-12, atol=0)
        assert np.allclose(
            gs.gaussian_pointwise_mmse(pts2, TOY_1D.probs, g),
            gs.gaussian_pointwise_mmse(TOY_1D.points, TOY_1D.probs, g), rtol=1e-11, atol=0)


@pytest.mark.parametrize("toy, g", [(TOY_1D, 5.0), (TOY_1D, 20.0), (TOY_2D, 1.0)])
def test_trapezoid_and_gauss_hermite_agree(toy, g):
    for f in (gs.gaussian_pointwise_kl, gs.gaussian_pointwise_mmse):
        a = f(toy.points, toy.probs, g)
        b = f(toy.points, toy.probs, g, rule="hermite")
        assert np.allclose(a, b, rtol=1e-12, atol=0)


def test_running_integral_is_the_pointwise_kl():
    # ½∫_0^γ mmse(x0) (quad over γ of the mmse quadrature) against KL(x0, γ) (quadrature
    # of the log-likelihood ratio): two routes to the same number. Unsorted on purpose.
    gammas = np.array([8.0, 0.0, 0.5, 2.0, 60.0, 400.0])
    for j in range(TOY_1D.K):
        run = gs.running_nll_integral(TOY_1D.points, TOY_1D.probs, j, gammas)
        kl = gs.gaussian_pointwise_kl(TOY_1D.points, TOY_1D.probs, gammas)[j]
        assert run[1] == 0.0
        assert np.allclose(run, kl, rtol=1e-9, atol=0)
    assert run[-1] == pytest.approx(-math.log(TOY_1D.probs[-1]), rel=1e-9)  # γ = 400 is "∞" here


def test_error_estimates_are_reported_and_small():
    val, err = gs.gaussian_pointwise_mmse(TOY_1D.points, TOY_1D.probs, [1.0, 50.0], return_error=True)
    assert val.shape == err.shape == (3, 2) and np.all(err <= 1e-12 * val)
    nll, nll_err = gs.gaussian_nll_integral(TOY_1D.points, TOY_1D.probs, return_error=True)
    assert np.all(nll_err < 1e-9)
    assert np.allclose(nll, -np.log(TOY_1D.probs), rtol=1e-9, atol=0)


# -- the checks pass on the default toys ----------------------------------------------
def _assert_good(result, reference):
    assert result.reference == reference
    assert result.passed, result
    assert result.rel_err <= result.tol
    assert f"{result.tol:.0e}" in result.note  # the tolerance is stated
    json.dumps(result.to_dict())


def test_checks_pass_on_1d_toy():
    _assert_good(gc.check_immse(TOY_1D.points, TOY_1D.probs)[0], "I-MMSE (Guo–Shamai–Verdú 2005)")
    _assert_good(gc.check_pointwise_immse(TOY_1D.points, TOY_1D.probs)[0], "pointwise I-MMSE (Venkat–Weissman 2012)")
    _assert_good(gc.check_gaussian_nll(TOY_1D.points, TOY_1D.probs)[0], "NLL (Kong et al. 2023)")


def test_derivative_checks_pass_on_2d_toy():
    _assert_good(gc.check_immse(TOY_2D.points, TOY_2D.probs)[0], "I-MMSE (Guo–Shamai–Verdú 2005)")
    _assert_good(gc.check_pointwise_immse(TOY_2D.points, TOY_2D.probs)[0], "pointwise I-MMSE (Venkat–Weissman 2012)")


def test_nll_check_passes_on_2d_toy():
    _assert_good(gc.check_gaussian_nll(TOY_2D.points, TOY_2D.probs)[0], "NLL (Kong et al. 2023)")


@pytest.mark.slow
def test_gaussian_checks_default_run():
    results = gc.gaussian_checks()
    assert len(results) == 6 and all(r.passed for r in results), [r for r in results if not r.passed]
    assert {r.setup["d"] for r in results} == {1, 2}


def test_pointwise_immse_deep_in_the_tail():
    # BPSK at γ = 30..60: log 2 − KL and mmse are 1e-8..1e-15, carried by a thin layer far
    # out in the Gaussian tail; the difference must be taken of log 2 − KL, not of KL.
    r = gc.check_pointwise_immse(*BPSK, gammas=[30.0, 45.0, 60.0])[0]
    assert r.passed, r
    assert r.rhs < 1e-6


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    K=st.integers(2, 4),
    g=st.floats(0.05, 30.0),
)
def test_pointwise_immse_on_random_1d_toys(seed, K, g):
    rng = np.random.default_rng(seed)
    pts = np.sort(rng.uniform(-2, 2, K)) + 0.2 * np.arange(K)  # gaps of at least 0.2
    probs = rng.dirichlet(np.ones(K))
    r = gc.check_pointwise_immse(pts, probs, gammas=[g])[0]
    assert r.passed, r


# -- mutated identities must fail ------------------------------------------------------
G_GRID = (0.1, 1.0, 10.0)


def _immse_sides(toy):
    lhs = np.array([gs.gaussian_information_derivative(toy.points, toy.probs, g)[0] for g in G_GRID])
    m = gs.gaussian_mmse(toy.points, toy.probs, np.array(G_GRID))
    return lhs, m


def test_mutated_immse_fails():
    lhs, m = _immse_sides(TOY_1D)
    tol = gc.TOL_DERIVATIVE
    assert compare("ok", "", {}, lhs, 0.5 * m, tol).passed  # the control passes
    assert not compare("no ½", "", {}, lhs, m, tol).passed
    assert not compare("sign", "", {}, -lhs, 0.5 * m, tol).passed
    # a small slip, the MMSE taken at γ(1 + 1e-5), is still caught at this tolerance
    shifted = gs.gaussian_mmse(TOY_1D.points, TOY_1D.probs, np.array(G_GRID) * (1 + 1e-5))
    assert not compare("shifted γ", "", {}, lhs, 0.5 * shifted, tol).passed


def test_mutated_pointwise_immse_fails():
    g = 2.0
    lhs, _ = gs.gaussian_pointwise_kl_derivative(TOY_2D.points, TOY_2D.probs, g)
    m = gs.gaussian_pointwise_mmse(TOY_2D.points, TOY_2D.probs, g)
    tol = gc.TOL_DERIVATIVE
    assert compare("ok", "", {}, lhs, 0.5 * m, tol).passed
    assert not compare("no ½", "", {}, lhs, m, tol).passed
    assert not compare("sign", "", {}, -lhs, 0.5 * m, tol).passed
    assert not compare("points swapped", "", {}, lhs, 0.5 * np.roll(m, 1), tol).passed
    # the marginal MMSE in place of the pointwise one
    assert not compare("marginal", "", {}, lhs, 0.5 * np.full_like(m, TOY_2D.probs @ m), tol).passed


def test_mutated_nll_fails():
    nll = gs.gaussian_nll_integral(TOY_1D.points, TOY_1D.probs)
    target = -np.log(TOY_1D.probs)
    tol = gc.TOL_NLL
    assert compare("ok", "", {}, target, nll, tol).passed
    assert not compare("no ½", "", {}, target, 2.0 * nll, tol).passed
    assert not compare("sign", "", {}, np.log(TOY_1D.probs), nll, tol).passed
    # stopping the integral at a finite γ leaves out KL(γ) − (−log p) ≠ 0
    cut = gs.running_nll_integral(TOY_1D.points, TOY_1D.probs, 0, [10.0])
    assert not compare("truncated", "", {}, target[:1], cut, tol).passed


def test_a_failing_check_is_a_result_not_an_exception():
    r = gc.check_immse(TOY_1D.points, TOY_1D.probs, gammas=[1.0], tol=1e-16)[0]
    assert not r.passed and r.rel_err > 0


# -- bad input --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "points, probs, match",
    [
        ([0.0, 1.0], [1.2, -0.2], "non-negative"),
        ([0.0, 1.0], [0.5, 0.6], "sum to 1"),
        ([0.0, 1.0], [0.5, 0.3, 0.2], r"shape \(2,\)"),
        ([[0.0, 1.0, 2.0, 3.0], [1.0, 0.0, 0.0, 0.0]], [0.5, 0.5], "d <= 3"),
        (np.zeros((2, 1, 1)), [0.5, 0.5], r"shape \(K,\) or \(K, d\)"),
        ([[0.0, 1.0], [2.0, 0.0], [0.0, 1.0]], [0.2, 0.3, 0.5], "distinct"),
        ([0.0, 1.0], [1.0, 0.0], "positive"),
        ([0.0, np.nan], [0.5, 0.5], "finite"),
        (np.zeros((0,)), [], "at least one"),
    ],
)
def test_bad_toy_raises(points, probs, match):
    with pytest.raises(ValueError, match=match):
        gs.gaussian_toy(points, probs)
    with pytest.raises(ValueError, match=match):
        gs.gaussian_mutual_information(points, probs, 1.0)


def test_bad_gamma_and_options_raise():
    with pytest.raises(ValueError, match="`gamma` must be finite and >= 0"):
        gs.gaussian_pointwise_kl(*BPSK, -0.5)
    with pytest.raises(ValueError, match="`gamma`"):
        gs.gaussian_mmse(*BPSK, [1.0, np.inf])
    with pytest.raises(ValueError, match="scalar > 0 for a central difference"):
        gs.gaussian_information_derivative(*BPSK, 0.0)
    with pytest.raises(ValueError, match="`rule`"):
        gs.gaussian_mmse(*BPSK, 1.0, rule="simpson")
    with pytest.raises(ValueError, match="`x0_index`"):
        gs.running_nll_integral(*BPSK, 2, [1.0])
    with pytest.raises(ValueError, match="`x0_index`"):
        gs.running_nll_integral(*BPSK, 0.5, [1.0])
    with pytest.raises(ValueError, match="`gammas`"):
        gs.running_nll_integral(*BPSK, 0, [1.0, -1.0])
    with pytest.raises(ValueError, match="together"):
        gc.gaussian_checks(points=[0.0, 1.0])
