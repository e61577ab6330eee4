"""Tests of exactdiff.symbolic: the sympy proofs, their fall-back, and mutations that
must make them fail."""

import doctest
import json
import math

import pytest
import sympy as sp

from exactdiff import symbolic as sym
from exactdiff.checks import symbolic as cs
from exactdiff.masked import harmonic_number
from exactdiff.symbolic import algebra


def _positive(names):
    return sp.symbols(names, positive=True)


# ----------------------------------------------------------------------------------------
# residual_check: exact proof, fall-back, budget, errors
# ----------------------------------------------------------------------------------------


def test_exact_identity_is_proven_with_zero_error():
    a, b = _positive("a b")
    r = cs.residual_check("log of a product", "-", sp.log(a * b), sp.log(a) + sp.log(b), {a: (0, 1), b: (0, 1)})
    assert r.passed
    assert r.setup["method"] == "simplify"
    assert (r.abs_err, r.rel_err, r.tol) == (0.0, 0.0, 0.0)
    assert r.note.endswith("residual = 0")
    assert r.lhs == pytest.approx(r.rhs, rel=1e-15)


def test_false_identity_fails_with_a_large_residual():
    a, b = _positive("a b")
    r = cs.residual_check("wrong", "-", sp.log(a + b), sp.log(a) + sp.log(b), {a: (0, 1), b: (0, 1)}, budget_s=5)
    assert not r.passed
    assert r.setup["method"] == "mpmath-50-digits"
    assert "FALLBACK" in r.note
    assert r.abs_err > 0.1  # log(a+b) - log(ab) > log 2 on (0, 1)^2


def test_zero_budget_forces_the_declared_fallback():
    a, b = _positive("a b")
    r = cs.residual_check("log of a product", "-", sp.log(a * b), sp.log(a) + sp.log(b),
                           {a: (0, 1), b: (0, 1)}, budget_s=0, seed=3)
    assert r.passed
    assert r.setup["method"] == "mpmath-50-digits"
    assert (r.setup["seed"], r.setup["n_points"], r.setup["budget_s"]) == (3, 5, 0.0)
    assert r.tol == 1e-40 and r.abs_err < 1e-40
    assert "FALLBACK" in r.note and "50 digits" in r.note


def test_fallback_resolves_errors_far_below_double_precision():
    a = _positive("a")
    lhs = sp.log(a**2)
    r = cs.residual_check("tiny error", "-", lhs, 2 * sp.log(a) + sp.Rational(1, 10**30) * a, {a: (1, 2)}, budget_s=0)
    assert not r.passed
    assert 1e-31 < r.abs_err < 1e-29


def test_budget_interrupts_a_slow_simplification():
    # The closed-form statement of Theorem 3.1 for uniform N=2, L=2 takes minutes in
    # sympy without the lemma route; a 1 s budget must cut it short and fall back.
    proc = sym.i_mdse_process("uniform-N2-L2")
    p_t = list(proc.P * sp.Matrix(proc.p0))
    column = list(proc.P[:, 0])
    lhs = sp.diff(sym.kl_divergence(column, p_t), proc.t)
    rhs = -sym.mdse_pointwise(proc.Q, column, p_t)
    r = cs.residual_check("I-MDSE closed form", "Theorem 3.1", lhs, rhs, proc.domain, budget_s=1.0)
    assert r.setup["method"] == "mpmath-50-digits"
    assert r.passed
    assert r.setup["elapsed_s"] < 15


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"domain": {}}, "`domain`"),
        ({"budget_s": -1.0}, "`budget_s`"),
        ({"n_points": 0}, "`n_points`"),
        ({"rhs": [sp.Integer(0), sp.Integer(1)]}, "`lhs` and `rhs`"),
    ],
)
def test_residual_check_rejects_bad_arguments(kwargs, match):
    a = _positive("a")
    args = {"lhs": sp.log(a), "rhs": sp.log(a), "domain": {a: (0, 1)}}
    args.update(kwargs)
    lhs, rhs, domain = args.pop("lhs"), args.pop("rhs"), args.pop("domain")
    with pytest.raises(ValueError, match=match):
        cs.residual_check("x", "-", lhs, rhs, domain, **args)


def test_docstring_examples():
    from exactdiff.symbolic import reduce

    for module in (cs, reduce):
        failures, tried = doctest.testmod(module, verbose=False)
        assert tried > 0 and failures == 0


# ----------------------------------------------------------------------------------------
# Builders: hand-checkable kernels, generators and weights
# ----------------------------------------------------------------------------------------


def test_two_state_kernel_is_the_matrix_exponential():
    a, b, t = _positive("a b t")
    Q = sp.Matrix([[-a, b], [a, -b]])
    P = sym.two_state_kernel(a, b, t)
    assert sp.simplify(P.diff(t) - Q * P) == sp.zeros(2, 2)
    assert sp.simplify(P.subs(t, 0)) == sp.eye(2)
    assert [sp.simplify(sum(P[:, j])) for j in range(2)] == [1, 1]
    # against sympy's own exponential at a = 1, b = 2, t = 1/3
    vals = {a: 1, b: 2, t: sp.Rational(1, 3)}
    exact = (Q.subs(vals) * vals[t]).exp()
    assert sp.simplify(P.subs(vals) - exact) == sp.zeros(2, 2)


def test_kronecker_sum_and_product_kernel_for_uniform_N2_L2():
    t = _positive("t")
    Q = sym.symbolic_kronecker_sum(sym.uniform_token_generator(2), 2)
    P = sym.product_kernel(sym.uniform_token_kernel(2, t), 2)
    space = sym.states(2, 2)
    assert space == [(0, 0), (0, 1), (1, 0), (1, 1)]
    # one jump changes one token at rate 1/2; two tokens never change at once
    assert Q[space.index((0, 1)), space.index((0, 0))] == sp.Rational(1, 2)
    assert Q[space.index((1, 1)), space.index((0, 0))] == 0
    assert Q[0, 0] == -1
    assert all(sum(Q[:, j]) == 0 for j in range(4))
    assert sp.simplify(P.diff(t) - Q * P) == sp.zeros(4, 4)
    assert P.subs(t, 0) == sp.eye(4)


def test_absorbing_kernel_and_generator():
    lam = _positive("lambda")
    Q = sym.absorbing_token_generator(2)
    k = sym.absorbing_token_kernel(2, lam)
    assert list(Q[:, 2]) == [0, 0, 0]  # the mask never leaves
    assert (Q[2, 0], Q[0, 0], Q[1, 0]) == (1, -1, 0)
    assert [sp.expand(sum(k[:, j])) for j in range(3)] == [1, 1, 1]
    assert (k[0, 0], k[2, 0], k[1, 0]) == (1 - lam, lam, 0)


def test_time_free_weights_on_a_uniform_p0_give_L_log_2():
    for L in (1, 2, 3):
        weights, total, _ = sym.symbolic_pmf(2, L)
        x0 = (0,) * L
        value = sym.time_free_sum(weights, total, x0, range(L)).subs({w: 1 for w in weights.values()})
        assert sp.simplify(value - L * sp.log(2)) == 0


def test_harmonic_number_exact():
    assert harmonic_number(1, exact=True) == 1
    assert sp.Rational(harmonic_number(3, exact=True)) == sp.Rational(11, 6)
    with pytest.raises(ValueError, match="`n`"):
        harmonic_number(-1)


def test_denoiser_rows_are_normalised():
    c, domain = sym.denoiser_symbols(3, 2)
    assert set(c) == {(x, i) for x in sym.states(4, 2) for i in range(2) if x[i] == 3}
    assert all(sp.expand(sum(row)) == 1 for row in c.values())
    assert all(hi == sp.Rational(1, 2) for _, hi in domain.values())


# ----------------------------------------------------------------------------------------
# The identities: every case is proven exactly
# ----------------------------------------------------------------------------------------


def test_all_symbolic_checks_are_exact_proofs():
    results = cs.symbolic_checks(budget_s=20.0)
    assert len(results) == 11
    for r in results:
        assert r.passed, (r.name, r.note)
        assert r.setup["method"] == "simplify", r.name
        assert (r.abs_err, r.rel_err, r.tol) == (0.0, 0.0, 0.0)
        assert r.setup["budget_s"] == 20.0 and r.setup["elapsed_s"] >= 0
        assert "residual = " in r.note
        assert r.lhs == pytest.approx(r.rhs, rel=1e-12, abs=1e-12)
        json.dumps(r.to_dict())
    references = {r.reference for r in results}
    assert references == {"Theorem 3.1", "Lemma 3.3", "Theorem 3.4", "Theorem 4.1", "Corollary 4.3", "Eq. 18"}
    # the reported sides are representative, not the trivial 0 = 0
    assert all(r.lhs != 0 for r in results)


def test_i_mdse_theorem_values_match_a_finite_difference():
    # independent route: d/dt KL by a central difference of the closed form at 50 digits
    import mpmath

    proc = sym.i_mdse_process("two-state")
    a, b, p1, t = sorted(proc.domain, key=str)
    vals = {a: sp.Rational(3, 10), b: sp.Rational(7, 5), p1: sp.Rational(1, 4)}
    p_t = list(proc.P * sp.Matrix(proc.p0))
    column = list(proc.P[:, 1])
    kl = sp.lambdify(t, sym.kl_divergence(column, p_t).subs(vals), "mpmath")
    mdse = sp.lambdify(t, sym.mdse_pointwise(proc.Q, column, p_t).subs(vals), "mpmath")
    with mpmath.workdps(50):
        t0 = mpmath.mpf("0.7")
        assert abs(mpmath.diff(kl, t0) + mdse(t0)) < mpmath.mpf(10) ** -40


# ----------------------------------------------------------------------------------------
# Mutations: each wrong formula must make its check fail
# ----------------------------------------------------------------------------------------


def _out_orientation(Q_t, x):
    """The wrong DSE weight: Q_t(y, x), the rate out of x."""
    return {y: Q_t[y, x] for y in range(Q_t.shape[0]) if y != x and Q_t[y, x] != 0}


@pytest.mark.parametrize("x0", [0, 1])
def test_wrong_dse_orientation_fails_for_a_non_symmetric_generator(x0, monkeypatch):
    monkeypatch.setattr(algebra, "dse_weights", _out_orientation)
    r = cs.check_i_mdse("two-state", x0, budget_s=5)[0]
    assert not r.passed
    assert r.setup["method"] == "mpmath-50-digits"
    assert r.abs_err > 1e-6


def test_dse_orientation_is_irrelevant_for_the_symmetric_uniform_generator(monkeypatch):
    monkeypatch.setattr(algebra, "dse_weights", _out_orientation)
    r = cs.check_i_mdse("uniform-N3-L1")[0]
    assert r.passed and r.setup["method"] == "simplify"


def test_flipped_sign_of_mdse_fails():
    Q = sp.Matrix([[-2, 1], [2, -1]])
    dkl, minus_mdse, domain = sym.i_mdse_identity(Q)
    r = cs.residual_check("dKL/dt = +mdse", "Theorem 3.1 (mutated)", dkl, -minus_mdse, domain, budget_s=5)
    assert not r.passed and r.abs_err > 1e-6
    assert cs.residual_check("dKL/dt = -mdse", "Theorem 3.1", dkl, minus_mdse, domain).passed


def _prefactor(harmonic):
    """Subset weights with the prefactor H_n replaced by ``harmonic(n)``: B(·)·harmonic(n)/H_n."""
    correct = algebra.subset_weight

    def weight(n, size, exact=False):
        return correct(n, size, exact=True) * harmonic(n) / harmonic_number(n, exact=True)

    return weight


@pytest.mark.parametrize("L", [2, 3])
def test_time_free_with_H_L_minus_1_fails(L, monkeypatch):
    monkeypatch.setattr(algebra, "subset_weight", _prefactor(lambda n: harmonic_number(n - 1, exact=True)))
    r = cs.check_time_free(L, budget_s=5)[0]
    assert not r.passed
    assert r.abs_err > 1e-3


def test_conditional_time_free_with_H_of_all_positions_fails(monkeypatch):
    monkeypatch.setattr(algebra, "subset_weight", _prefactor(lambda n: harmonic_number(n + 1, exact=True)))
    r = cs.check_conditional_time_free(2, 1, budget_s=5)[0]
    assert not r.passed and r.abs_err > 1e-3


def test_log_ratio_without_the_harmonic_factor_fails(monkeypatch):
    monkeypatch.setattr(algebra, "subset_weight", _prefactor(lambda n: 1))
    r = cs.check_log_ratio(2, budget_s=5)[0]
    assert not r.passed and r.abs_err > 1e-3


def _lemma_33_pieces(score_factor):
    """ℓ_DSE and ℓ_DCE for x0 = (0, 1), x = (M, M), the score s = score_factor · c."""
    lam, sigma = _positive("lambda sigma")
    N, L = 2, 2
    c, domain = sym.denoiser_symbols(N, L)
    domain.update({lam: (0, 1), sigma: (sp.Rational(1, 10), 3)})
    Q_t = sigma * sym.symbolic_kronecker_sum(sym.absorbing_token_generator(N), L)
    P = sym.product_kernel(sym.absorbing_token_kernel(N, lam), L)
    space = sym.states(N + 1, L)
    x0, x = (0, 1), (2, 2)
    ix = space.index(x)
    weights = sym.dse_weights(Q_t, ix)
    assert sorted(space[y] for y in weights) == [(0, 2), (1, 2), (2, 0), (2, 1)]  # one position unmasked
    score = {y: s * score_factor(lam) for y, s in sym.lemma_3_3_score(x, weights, c, lam, N).items()}
    ell_dse = sym.dse_pointwise(weights, score, sym.kernel_ratio(list(P[:, space.index(x0)]), ix))
    ell_dce = sym.dce_pointwise(x0, x, c, N)
    return ell_dse, sigma * (1 - lam) / lam * ell_dce, domain


def test_lemma_33_pieces_agree_and_missing_score_factor_fails():
    ok = cs.residual_check("Lemma 3.3", "Lemma 3.3", *_lemma_33_pieces(lambda lam: 1))
    assert ok.passed and ok.setup["method"] == "simplify"
    # s = c instead of ((1 - λ)/λ) c
    bad = cs.residual_check("Lemma 3.3 (mutated)", "Lemma 3.3", *_lemma_33_pieces(lambda lam: lam / (1 - lam)),
                             budget_s=5)
    assert not bad.passed and bad.abs_err > 1e-6


def test_theorem_34_without_the_jacobian_factor_fails():
    lam, sigma = _positive("lambda sigma")
    c, domain = sym.denoiser_symbols(2, 2)
    domain.update({lam: (0, 1), sigma: (sp.Rational(1, 10), 3)})
    x0 = (1, 0)
    dce = sym.expected_dce_absorbing(2, 2, x0, lam, c) / lam
    dse = sym.expected_dse_absorbing(2, 2, x0, lam, sigma, c)
    right = cs.residual_check("dt = dλ / (σ(1-λ))", "Theorem 3.4", dse / (sigma * (1 - lam)), dce, domain)
    assert right.passed and right.setup["method"] == "simplify"
    wrong = cs.residual_check("dt = dλ / σ", "Theorem 3.4 (mutated)", dse / sigma, dce, domain, budget_s=5)
    assert not wrong.passed and wrong.abs_err > 1e-6


# ----------------------------------------------------------------------------------------
# Argument errors of the checks
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: cs.check_i_mdse("three-state"), "`case`"),
        (lambda: cs.check_i_mdse("two-state", 2), "`x0`"),
        (lambda: cs.check_dse_dce_integrated(route="sum"), "`route`"),
        (lambda: cs.check_time_free(0), "`L`"),
        (lambda: cs.check_dse_dce_pointwise(N=1), "`N`"),
        (lambda: cs.check_conditional_time_free(0, 1), "`n_target`"),
    ],
)
def test_checks_reject_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_budget_is_recorded_per_case():
    r = cs.check_time_free(2, budget_s=7.5)[0]
    assert r.setup["budget_s"] == 7.5
    assert 0 <= r.setup["elapsed_s"] < 7.5
    assert math.isfinite(r.lhs)
