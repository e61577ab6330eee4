"""Masked diffusion: DCE, I-MDCE, DSE = DCE, time-free, conditional and ratio formulas."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import exactdiff as ed
from exactdiff.checks import likelihood as CL
from exactdiff.checks import masked as CM
from exactdiff.masked import likelihood as likelihood_module

P0 = ed.Distribution.dirichlet(3, 3, seed=31, zero_fraction=0.25)


@settings(max_examples=25, deadline=None)
@given(N=st.integers(2, 3), L=st.integers(1, 4), seed=st.integers(0, 10**6),
       lam=st.sampled_from([0.0, 1e-6, 0.13, 0.5, 0.97, 1.0]))
def test_mdce_closed_form_equals_enumeration(N, L, seed, lam):
    p0 = ed.Distribution.dirichlet(N, L, seed=seed, zero_fraction=0.3)
    a = ed.mdce(p0, lam, pointwise=True)
    b = ed.mdce(p0, lam, pointwise=True, route="enumerate")
    sup = p0.table > 0
    assert np.all(np.isinf(a[~sup])) and np.all(np.isinf(b[~sup]))
    assert np.allclose(a[sup], b[sup], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("t", [1e-3, 0.3, 2.0])
def test_mdse_of_absorbing_equals_scaled_mdce(t):
    """Lemma 3.3 at the optimum: mdse(x0, t) = σ(t)(1−λ)/λ · mdce(x0, λ), two engines."""
    proc = ed.absorbing(3, ed.Constant(1.0))
    lam = ed.process.masking_level(proc, t)
    sup = P0.table > 0
    lhs = ed.mdse(P0, proc, t, pointwise=True)[sup]
    rhs = (1 - lam) / lam * ed.mdce(P0, lam, pointwise=True)[sup]
    assert np.allclose(lhs, rhs, rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("t", [0.05, 0.7])
def test_lemma_3_3_arbitrary_denoisers(seed, t):
    assert CM.check_lemma_3_3(N=2, L=3, t=t, seed=seed)[0].passed


def test_lemma_3_3_needs_normalised_denoiser():
    table = CM.random_denoiser_table(2, 3, seed=4, normalised=False)
    assert not CM.check_lemma_3_3(N=2, L=3, table=table)[0].passed


@pytest.mark.parametrize("schedule, T", [(ed.Constant(1.0), 0.3), (ed.Constant(1.0), 3.0),
                                         (ed.LogLinear(1e-3), 1.0), (ed.Geometric(1e-3, 20.0), 0.6)])
def test_theorem_3_4_non_optimal_denoiser(schedule, T):
    p0 = ed.Distribution.dirichlet(2, 3, seed=5)
    assert CM.check_theorem_3_4(p0, schedule, T, seed=7)[0].passed


def test_corollaries_3_6_and_3_7():
    for r in CM.check_corollary_3_6(P0) + CM.check_corollary_3_7(P0, Lambda=0.55):
        assert r.passed, r


def test_dropping_kl_fails_corollary_3_7(monkeypatch):
    monkeypatch.setattr(CM, "_kl_in_lambda", lambda p0, lam: np.zeros_like(ed.Distribution.from_array(P0.table).table))
    assert not CM.check_corollary_3_7(P0, Lambda=0.55)[0].passed


def test_theorem_4_1_and_mutations(monkeypatch):
    ok = CL.check_theorem_4_1(P0)
    assert all(r.passed for r in ok)
    L = P0.L
    correct = likelihood_module.subset_weight
    # H_{L-1} for H_L in front of the average: weight B(·)·H_{L−1}/H_L
    monkeypatch.setattr(likelihood_module, "subset_weight",
                        lambda n, size: correct(n, size) * ed.harmonic_number(n - 1) / ed.harmonic_number(n))
    assert not CL.check_theorem_4_1(P0)[0].passed
    # the fully masked set U = ∅ left out
    monkeypatch.setattr(likelihood_module, "subset_weight", lambda n, size: np.where(size == 0, 0.0, correct(n, size)))
    assert not CL.check_theorem_4_1(P0)[0].passed


def test_time_free_hand_checked_two_tokens():
    # L=2, weights B(2,1) = ½ for U = ∅ and B(1,2) = ½ for U = {0}, {1}:
    # ½[−log p(x1) − log p(x2)] + ½[−log p(x2|x1)] + ½[−log p(x1|x2)]
    p = np.array([[0.1, 0.2], [0.3, 0.4]])
    x = (1, 0)  # p(x1=1) = 0.7, p(x2=0) = 0.4, p(x) = 0.3
    by_hand = 0.5 * (-np.log(0.7) - np.log(0.4)) + 0.5 * -np.log(0.3 / 0.7) + 0.5 * -np.log(0.3 / 0.4)
    assert ed.time_free_nll(p, x) == pytest.approx(by_hand, rel=1e-15)
    assert by_hand == pytest.approx(-np.log(0.3), rel=1e-15)


def test_time_free_weights_and_law():
    for L in range(1, 9):
        law = ed.unmasked_size_law(L)
        assert law.sum() == pytest.approx(1.0, abs=1e-15)
        assert np.allclose(law, 1.0 / ((L - np.arange(L)) * ed.harmonic_number(L)), rtol=1e-14)


@pytest.mark.parametrize("target, context", [([0, 1], [2]), ([1, 3], [0]), ([0, 2, 3], []), ([3, 1], [2, 0]), ([2], [0])])
def test_conditional_splits(target, context):
    p0 = ed.Distribution.dirichlet(3, 4, seed=9)
    x = (2, 0, 1, 1)
    assert ed.conditional_nll(p0, x, target, context) == pytest.approx(
        ed.exact_conditional_nll(p0, x, target, context), rel=1e-13)


def test_conditional_bad_input():
    p0 = ed.Distribution.dirichlet(2, 3, seed=1)
    with pytest.raises(ValueError, match="disjoint"):
        ed.conditional_nll(p0, (0, 1, 0), [0, 1], [1])
    with pytest.raises(ValueError, match="positions"):
        ed.conditional_nll(p0, (0, 1, 0), [0, 5], [])


@pytest.mark.parametrize("coupling", ["coupled", "decoupled"])
def test_eq_18(coupling):
    p0 = ed.Distribution.dirichlet(2, 3, seed=2)
    for y, x in [((0, 1, 1), (1, 1, 0)), ((0, 0, 0), (1, 1, 1))]:
        assert ed.log_ratio_expectation(p0, y, x, coupling=coupling) == pytest.approx(
            np.log(p0.table[y] / p0.table[x]), rel=1e-12, abs=1e-14)


def test_lambda_outside_unit_interval():
    for lam in (-0.1, 1.2):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            ed.mdce(P0, lam)


def test_dce_integral_of_oracle_is_nll():
    sup = np.argwhere(P0.table > 0)
    v = ed.dce_integral(ed.OracleDenoiser(P0), sup, N=3, Lambda=1.0)
    assert np.allclose(v, -np.log(P0.table[tuple(sup.T)]), rtol=1e-13)


@pytest.mark.parametrize("bad, match", [
    (lambda x: np.ones(x.shape + (2,)) / 2, "shape"),
    (lambda x: -np.ones(x.shape + (3,)) / 3, "non-negative"),
    (lambda x: np.ones(x.shape + (3,)) / 2, "sum to 1"),
])
def test_bad_denoiser_output_rejected(bad, match):
    with pytest.raises(ValueError, match=match):
        ed.dce_loss(bad, [[0, 1, 2]], [[3, 1, 3]], N=3)


# -- the paper's toy data ---------------------------------------------------------------------
def test_paper_table_time_free_and_entropy(shared_data):
    probs = json.loads((shared_data / "sequence_eval.json").read_text())
    p0 = ed.Distribution.from_dict(probs, alphabet="ATGC")
    worst = max(abs(ed.time_free_nll(p0, s) + np.log(p)) / -np.log(p) for s, p in probs.items())
    assert worst <= 1e-12
    H = sum(p * ed.time_free_nll(p0, s) for s, p in probs.items())
    assert H == pytest.approx(4.71504, abs=5e-6)
    assert H == pytest.approx(p0.entropy(), rel=1e-12)


def test_paper_markov_conditional(shared_data):
    chain = ed.load_distribution(shared_data / "markov_data_table.json")
    x = chain.sample(1, 32, np.random.default_rng(0))[0]
    target, context = list(range(16, 32)), list(range(16))
    assert ed.conditional_nll(chain, x, target, context) == pytest.approx(
        ed.exact_conditional_nll(chain, x, target, context), rel=1e-12)


def test_theorem_4_1_catches_wrong_conditionals(monkeypatch):
    """The conditionals h_k of the closed forms (``subset_sums``) are checked against the
    optimal-denoiser route; corrupting them must fail that row while the time-free sum,
    computed from the marginals directly, still passes."""
    from exactdiff.masked import optimal as mdce_module

    real = mdce_module.subset_log_tables
    rng = np.random.default_rng(0)

    def noisy(table):
        return {U: m + 0.01 * rng.standard_normal(m.shape) for U, m in real(table).items()}

    monkeypatch.setattr(mdce_module, "subset_log_tables", noisy)
    results = CL.check_theorem_4_1(P0)
    assert results[0].passed  # the time-free sum does not use subset_sums
    assert not results[1].passed  # the conditionals check sees it


@pytest.mark.parametrize("mutation", ["harmonic", "drop-empty"])
def test_markov_subset_sum_mutations_fail(shared_data, monkeypatch, mutation):
    """Mutate the subset weights of the sums over a Markov chain in the library itself."""
    chain = ed.load_distribution(shared_data / "markov_data_table.json")
    x = chain.sample(1, 10, np.random.default_rng(1))[0]
    truth = chain.nll(x)
    assert ed.time_free_nll(chain, x) == pytest.approx(truth, rel=1e-12)
    real = likelihood_module.subset_weight

    def mutated(n, size):
        w = real(n, size)
        if mutation == "harmonic":  # H_{n-1} in place of H_n in p(J)
            return w * ed.harmonic_number(n) / ed.harmonic_number(n - 1)
        return np.where(np.asarray(size) == 0, 0.0, w)  # the fully masked set dropped

    monkeypatch.setattr(likelihood_module, "subset_weight", mutated)
    assert ed.time_free_nll(chain, x) != pytest.approx(truth, rel=1e-6)
    target, context = list(range(5, 10)), list(range(5))
    assert ed.conditional_nll(chain, x, target, context) != pytest.approx(
        chain.exact_conditional_nll(x, target, context), rel=1e-6)


def test_bad_tokens_rejected_by_conditional():
    p0 = ed.Distribution.dirichlet(2, 2, seed=0)
    for x in [(0, 7), (-1, 0)]:
        with pytest.raises(ValueError, match="outside"):
            p0.conditional(x, 1, [0])


def test_checks_refuse_degenerate_parameters():
    with pytest.raises(ValueError, match=r"`t` must be > 0: at t = 0 nothing is masked"):
        CM.check_lemma_3_3(t=0.0)
    with pytest.raises(ValueError, match="lams"):
        CM.check_corollary_3_6(P0, lams=(0.0, 0.5))
    with pytest.raises(ValueError, match="empty"):
        CL.check_corollary_4_3(P0, [])
