"""The exact engine: dense and factorized agree, dit agrees, limits and derivatives hold."""

import dit
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import exactdiff as ed
from exactdiff.core.numerics import richardson_derivative
from exactdiff.information.engines.dense import DenseState

# Relative tolerance of engine agreement, measured against the size of the terms
# (max(|value|, L log n)): both engines form the KL as a difference of O(L log n) terms.
ENGINE_RTOL = 1e-12


def _agree(a, b, floor, rtol=ENGINE_RTOL):
    assert np.array_equal(np.isinf(a), np.isinf(b))
    fin = np.isfinite(a)
    scale = np.maximum(np.maximum(np.abs(a[fin]), np.abs(b[fin])), floor)
    assert np.max(np.abs(a[fin] - b[fin]) / scale, initial=0.0) <= rtol


@st.composite
def toys(draw):
    N = draw(st.integers(2, 4))
    L = draw(st.integers(1, 4 if N <= 3 else 3))
    seed = draw(st.integers(0, 2**31))
    zero = draw(st.sampled_from([0.0, 0.3]))
    kind = draw(st.sampled_from(["uniform", "absorbing", "random"]))
    schedule = draw(st.sampled_from([ed.Constant(0.8), ed.LogLinear(), ed.Geometric(1e-3, 20.0)]))
    t = draw(st.sampled_from([1e-4, 0.05, 0.4, 0.9]))
    p0 = ed.Distribution.dirichlet(N, L, alpha=0.7, seed=seed, zero_fraction=zero)
    proc = {
        "uniform": lambda: ed.uniform(N, schedule),
        "absorbing": lambda: ed.absorbing(N, schedule),
        "random": lambda: ed.ForwardProcess(ed.process.random_generator(N, seed=seed + 1), schedule),
    }[kind]()
    return p0, proc, t


@settings(max_examples=40, deadline=None)
@given(toys())
def test_dense_and_factorized_agree(toy):
    p0, proc, t = toy
    floor = p0.L * np.log(proc.n)
    _agree(ed.pointwise_kl(p0, proc, t, engine="dense"), ed.pointwise_kl(p0, proc, t, engine="factorized"), floor)
    rate = proc.rate(t) * p0.L * np.abs(np.diag(proc.Q)).max()
    _agree(ed.pointwise_kl_derivative(p0, proc, t, engine="dense"),
           ed.pointwise_kl_derivative(p0, proc, t, engine="factorized"), rate)
    assert np.allclose(ed.marginal(p0, proc, t, engine="dense"), ed.marginal(p0, proc, t, engine="factorized"), rtol=1e-12, atol=1e-15)
    for f in (ed.mutual_information, ed.marginal_entropy, ed.conditional_entropy):
        a, b = f(p0, proc, t, engine="dense"), f(p0, proc, t, engine="factorized")
        assert abs(a - b) <= ENGINE_RTOL * max(abs(a), floor)


def _dit_joint(p0, proc, t):
    """The joint of (x0, x_t) as a dit Distribution, in nats."""
    table = p0.table.ravel()
    P = DenseState(p0.table, proc, t).P  # P[x, x0], the dense engine's kernel columns
    outcomes, probs = [], []
    for j in np.flatnonzero(table):
        for x in np.flatnonzero(P[:, j]):
            outcomes.append((int(j), int(x)))
            probs.append(table[j] * P[x, j])
    return dit.Distribution(outcomes, probs)


LN2 = np.log(2.0)  # dit reports bits; exactdiff reports nats


@pytest.mark.parametrize("maker", [ed.uniform, ed.absorbing])
def test_mutual_information_and_entropies_match_dit(maker):
    p0 = ed.Distribution.dirichlet(3, 2, seed=11, zero_fraction=0.3)
    proc = maker(3)
    t = 0.35
    d = _dit_joint(p0, proc, t)
    I_dit = LN2 * dit.shannon.mutual_information(d, [0], [1])
    assert ed.mutual_information(p0, proc, t) == pytest.approx(I_dit, rel=1e-12)
    assert ed.marginal_entropy(p0, proc, t) == pytest.approx(LN2 * dit.shannon.entropy(d, [1]), rel=1e-12)
    assert ed.conditional_entropy(p0, proc, t) == pytest.approx(
        LN2 * dit.shannon.conditional_entropy(d, [1], [0]), rel=1e-12)


def test_pointwise_kl_matches_dit():
    p0 = ed.Distribution.dirichlet(2, 2, seed=3)
    proc = ed.ForwardProcess(ed.process.random_generator(2, seed=5))
    t = 0.6
    kl = ed.pointwise_kl(p0, proc, t)
    pt = ed.marginal(p0, proc, t).ravel()
    marg = dit.Distribution([(i,) for i in range(pt.size)], pt)
    k = proc.kernel(t)
    for x0 in [(0, 0), (1, 0), (1, 1)]:
        cond = np.kron(k[:, x0[0]], k[:, x0[1]])
        c = dit.Distribution([(i,) for i in range(cond.size)], cond)
        assert kl[x0] == pytest.approx(LN2 * dit.divergences.kullback_leibler_divergence(c, marg), rel=1e-12)


@pytest.mark.parametrize("maker", [ed.uniform, ed.absorbing])
def test_information_at_zero_is_entropy(maker):
    p0 = ed.Distribution.dirichlet(3, 3, seed=2, zero_fraction=0.2)
    assert ed.mutual_information(p0, maker(3), 0.0) == pytest.approx(p0.entropy(), rel=1e-14)


@pytest.mark.parametrize("maker", [ed.uniform, ed.absorbing,
                                   lambda N: ed.ForwardProcess(ed.process.random_generator(N, seed=9))])
def test_information_decreases_and_vanishes(maker):
    p0 = ed.Distribution.dirichlet(3, 2, seed=8)
    proc = maker(3)
    times = np.linspace(0, 4, 30)
    I = np.array([ed.mutual_information(p0, proc, t) for t in times])
    assert np.all(np.diff(I) < 0)
    assert abs(ed.mutual_information(p0, proc, 60.0)) < 1e-13  # rounding of O(1) terms
    assert np.all([ed.mutual_information_derivative(p0, proc, t) < 0 for t in times[1:]])


@pytest.mark.parametrize("engine", ["dense", "factorized"])
@pytest.mark.parametrize("t", [1e-3, 0.2, 0.7])
def test_analytic_derivatives_match_richardson(engine, t):
    p0 = ed.Distribution.dirichlet(3, 2, seed=12, zero_fraction=0.2)
    proc = ed.ForwardProcess(ed.process.random_generator(3, seed=13), ed.Geometric(1e-3, 20.0))
    h = 0.4 * min(t, proc.total(t) / proc.rate(t), 1.0)
    sup = p0.table > 0
    fd = richardson_derivative(lambda s: ed.pointwise_kl(p0, proc, s, engine=engine)[sup], t, h, levels=4)
    an = ed.pointwise_kl_derivative(p0, proc, t, engine=engine)[sup]
    assert np.max(np.abs(fd - an) / np.maximum(np.abs(an), proc.rate(t))) < 1e-8
    fdH = richardson_derivative(lambda s: ed.marginal_entropy(p0, proc, s, engine=engine), t, h, levels=4)
    assert fdH == pytest.approx(ed.information.marginal_entropy_derivative(p0, proc, t, engine=engine), rel=1e-8, abs=1e-12)


def test_full_space_process_dense_only():
    G = ed.process.random_full_space_generator(2, 3, seed=4)
    proc = ed.FullSpaceProcess(G, 2, 3)
    p0 = ed.Distribution.dirichlet(2, 3, seed=1)
    assert ed.mutual_information(p0, proc, 0.0) == pytest.approx(p0.entropy(), rel=1e-14)
    with pytest.raises(ValueError, match="token-wise"):
        ed.pointwise_kl(p0, proc, 0.5, engine="factorized")


def test_bad_engine_and_shapes():
    p0 = ed.Distribution.dirichlet(3, 2, seed=1)
    with pytest.raises(ValueError, match="engine"):
        ed.pointwise_kl(p0, ed.uniform(3), 0.5, engine="fast")
    with pytest.raises(ValueError, match="N=3"):
        ed.pointwise_kl(p0, ed.uniform(4), 0.5)
    with pytest.raises(ValueError, match=r"`t` must be a finite time >= 0 \(got -1.0\)"):
        ed.mutual_information(p0, ed.uniform(3), -1.0)
    with pytest.raises(ValueError, match="sum to 1"):
        ed.pointwise_kl(np.full((3, 3), 0.2), ed.uniform(3), 0.5)


def test_dense_engine_refuses_before_allocating():
    p0 = ed.Distribution.dirichlet(4, 9, seed=0)  # S = 262144: S×S would be 512 GiB
    with pytest.raises(ValueError, match="GiB"):
        ed.pointwise_kl(p0, ed.uniform(4), 0.5, engine="dense")


def test_factorized_handles_two_to_the_twenty():
    p0 = ed.Distribution.dirichlet(4, 10, seed=0)
    kl = ed.pointwise_kl(p0, ed.uniform(4), 0.5, engine="factorized")
    assert kl.shape == (4,) * 10 and np.all(np.isfinite(kl)) and kl.min() >= -1e-12
