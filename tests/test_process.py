"""Schedules, generators, kernels."""

import numpy as np
import pytest
from scipy.linalg import expm

import exactdiff as ed
from exactdiff.core.numerics import richardson_derivative

SCHEDULES = [ed.Constant(1.7), ed.LogLinear(1e-3), ed.Geometric(1e-3, 20.0)]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
@pytest.mark.parametrize("t", [0.05, 0.3, 0.8])
def test_rate_is_derivative_of_total(schedule, t):
    fd = richardson_derivative(schedule.total, t, 0.04, levels=4)
    assert fd == pytest.approx(schedule.rate(t), rel=1e-9)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_total_starts_at_zero_and_inverts(schedule):
    assert schedule.total(0.0) == 0.0
    assert schedule.time_of_total(schedule.total(0.6)) == pytest.approx(0.6, rel=1e-13)


class _Looped(ed.process.Schedule):
    """A schedule with only the scalar methods: the base class's array forms loop over them."""

    def __init__(self, inner):
        self.inner, self.t_max = inner, inner.t_max

    def rate(self, t):
        return self.inner.rate(t)

    def total(self, t):
        return self.inner.total(t)

    def time_of_total(self, sbar):
        return self.inner.time_of_total(sbar)


@pytest.mark.parametrize("schedule", SCHEDULES + [_Looped(ed.Geometric(1e-3, 20.0))], ids=repr)
def test_array_forms_equal_the_scalar_ones(schedule):
    """``totals`` and ``rates_of_total`` (the closed forms the score-model quadrature calls
    on arrays) agree with ``total`` and ``rate``: measured at most 1.9e-16 (totals) and
    3.6e-15 (rates, Geometric, through σ̄ and back); a wrong factor in either form is far
    outside."""
    t = np.linspace(0.0, min(schedule.t_max, 3.0), 41)[:, None] * np.ones(2)
    sbar = schedule.totals(t)
    assert sbar.shape == t.shape
    np.testing.assert_allclose(sbar, [[schedule.total(float(v)) for v in row] for row in t], rtol=1e-14, atol=0)
    rates = schedule.rates_of_total(sbar)
    assert rates.shape == t.shape
    np.testing.assert_allclose(rates, [[schedule.rate(float(v)) for v in row] for row in t], rtol=1e-13, atol=0)


def test_loglinear_lambda():
    s = ed.LogLinear(1e-3)
    assert -np.expm1(-s.total(1.0)) == pytest.approx(1 - 1e-3, rel=1e-14)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_negative_or_bad_time(bad):
    with pytest.raises(ValueError, match=r"`t` must be a finite time >= 0"):
        ed.Constant().total(bad)


def test_loglinear_domain():
    with pytest.raises(ValueError, match=r"\[0, 1"):
        ed.LogLinear().total(1.5)


@pytest.mark.parametrize("kwargs", [dict(sigma_min=2.0, sigma_max=1.0), dict(sigma_min=0.0, sigma_max=1.0)])
def test_geometric_validation(kwargs):
    with pytest.raises(ValueError):
        ed.Geometric(**kwargs)


@pytest.mark.parametrize("sbar", [1e-8, 0.3, 2.0, 30.0])
def test_closed_form_kernels(sbar):
    for N in (2, 4):
        u = ed.uniform(N)
        assert np.allclose(expm(sbar * u.Q), ed.process.uniform_kernel(N, sbar), rtol=0, atol=1e-14)
        a = ed.absorbing(N)
        assert np.allclose(expm(sbar * a.Q), ed.process.absorbing_kernel(N, sbar), rtol=0, atol=1e-14)
        assert np.allclose(a.kernel(ed.Constant().time_of_total(sbar)), ed.process.absorbing_kernel(N, sbar), atol=1e-14)


def test_closed_form_kernels_keep_small_jump_probabilities():
    """1 − e^{−σ̄} by expm1: at σ̄ = 1e-20 the jump probabilities are σ̄/N and σ̄ to full
    relative precision (1 − e^{−σ̄} would give 0)."""
    sbar = 1e-20
    assert ed.process.uniform_kernel(3, sbar)[0, 1] == pytest.approx(sbar / 3, rel=1e-15)
    assert ed.process.absorbing_kernel(3, sbar)[3, 0] == pytest.approx(sbar, rel=1e-15)


def test_kernel_columns_are_distributions():
    proc = ed.ForwardProcess(ed.process.random_generator(4, seed=2))
    k = proc.kernel(0.7)
    assert np.all(k >= 0) and np.allclose(k.sum(axis=0), 1.0, atol=1e-14)


def test_absorbing_structural_zeros_are_exact():
    k = ed.absorbing(3).kernel(2.0)
    assert k[0, 1] == 0.0 and k[1, 3] == 0.0 and k[3, 3] == 1.0


@pytest.mark.parametrize(
    "Q, match",
    [
        (np.array([[-1.0, 1.0], [1.0, -1.0], [0, 0]]), "square"),
        (np.array([[-1.0, -0.5], [1.0, 0.5]]), "non-negative"),
        (np.array([[-1.0, 0.5], [0.9, -0.5]]), "columns summing to 0"),
        (np.array([[np.nan, 0.0], [0.0, 0.0]]), "finite"),
    ],
)
def test_invalid_generators(Q, match):
    with pytest.raises(ValueError, match=match):
        ed.ForwardProcess(Q)


def test_full_space_generator_shape_checked():
    with pytest.raises(ValueError, match="shape"):
        ed.FullSpaceProcess(ed.process.random_full_space_generator(2, 2), 3, 2)


def test_kronecker_sum_is_token_wise():
    Q = ed.process.random_generator(3, seed=1)
    G = ed.ForwardProcess(Q).full_generator(2)
    K = expm(0.4 * G)
    k = expm(0.4 * Q)
    assert np.allclose(K, np.kron(k, k), atol=1e-14)
