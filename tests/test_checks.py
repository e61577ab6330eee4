"""Every check can fail.

- Sensitivity: each analytic check fails when one of its routes is off by a relative
  1e-8 (the route's function is wrapped with ``monkeypatch`` to return its value times
  1 + 1e-8); the Monte Carlo checks fail on a wrong estimator.
- A NaN residual never passes.
- The rows added for the forward process, the Markov chains, the estimators and the law
  of |U| pass on the defaults and fail on a wrong formula.
"""

import dataclasses
import functools

import numpy as np
import pytest

import exactdiff as ed
from exactdiff.checks import engines as CE
from exactdiff.checks import estimators as CEst
from exactdiff.checks import gaussian as CG
from exactdiff.checks import laws as CLaw
from exactdiff.checks import likelihood as CL
from exactdiff.checks import markov as CMk
from exactdiff.checks import masked as CM
from exactdiff.checks import process as CP
from exactdiff.checks import score_entropy as CS
from exactdiff.checks import score_models as CSM
from exactdiff.checks.result import compare

REL = 1e-8
P0 = ed.Distribution.dirichlet(3, 3, seed=0, zero_fraction=0.2)
P2 = ed.Distribution.dirichlet(2, 3, seed=5)
UNIFORM = ed.uniform(3)
RANDOM = ed.ForwardProcess(ed.process.random_generator(3, seed=1), ed.Geometric(1e-3, 20.0), name="random")


def _scale(value):
    if isinstance(value, tuple):  # (integral, error) of the quadratures
        return (_scale(value[0]),) + value[1:]
    if isinstance(value, ed.EstimatorMoments):
        return dataclasses.replace(value, mean=value.mean * (1 + REL))
    return np.asarray(value) * (1 + REL) if isinstance(value, np.ndarray) else value * (1 + REL)


def _perturbed(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return _scale(fn(*args, **kwargs))

    return wrapper


def _all_pass(results):
    return all(r.passed for r in results)


# (check module, the function one route goes through, the check)
SENSITIVE = [
    (CS, "mdse", lambda: CS.check_theorem_3_1(P0, RANDOM)),
    (CS, "mdse", lambda: CS.check_theorem_3_1_finite_difference(P0, RANDOM)),
    (CS, "mdse_integral", lambda: CS.check_theorem_3_2(P0, UNIFORM, 2.0)),
    (CS, "mdse_integral", lambda: CS.check_theorem_3_2_infinite(P0, UNIFORM)),
    (CS, "mdse_integral", lambda: CS.check_entropy_integral(P0, UNIFORM)),
    (CS, "conditional_entropy", lambda: CS.check_information_entropies(P0, UNIFORM, 0.5)),
    (CE, "reference_expected_dse", lambda: CE.check_concrete_score(P0, RANDOM, 0.5)),
    (CM, "reference_dse_loss", lambda: CM.check_lemma_3_3()),
    (CM, "dce_integral", lambda: CM.check_theorem_3_4(P2)),
    (CM, "mdce", lambda: CM.check_corollary_3_6(P0)),
    (CM, "mdce_integral", lambda: CM.check_corollary_3_7(P0)),
    (CL, "time_free_nll", lambda: CL.check_theorem_4_1(P0)),
    (CL, "subset_sums", lambda: CL.check_theorem_4_1(P0)),
    (CL, "unmasked_size_law", lambda: CL.check_unmasked_size_law(5)),
    (CL, "conditional_nll", lambda: CL.check_corollary_4_3(P0, [((0, 1, 2), [1, 2], [0])])),
    (CL, "log_ratio_expectation", lambda: CL.check_eq_18(P0, [(tuple(np.argwhere(P0.table > 0)[0]),
                                                               tuple(np.argwhere(P0.table > 0)[1]))])),
    (CP, "uniform_kernel", lambda: CP.check_kernels(3)),
    (CP, "masking_kernel", lambda: CP.check_kernels(3)),
    (CEst, "estimator_moments", lambda: CEst.check_estimator_means(P0, np.argwhere(P0.table > 0)[:3])),
    (CG, "nll_integral_report", lambda: CG.check_gaussian_nll([-1.0, 0.5, 2.0], [0.2, 0.5, 0.3])),
    (CLaw, "mask_losses", lambda: CLaw.check_mask_laws(P0, np.argwhere(P0.table > 0)[:3])),
    (CSM, "dse_limit", lambda: CSM.check_score_model_limit(P0, at=np.argwhere(P0.table > 0)[:2])),
    (CSM, "reference_dse_loss", lambda: CSM.check_sedd_adapter(n_pairs=8)),
]


@pytest.mark.parametrize("module, name, check", SENSITIVE, ids=[f"{m.__name__.split('.')[-1]}.{n}-{i}"
                                                                  for i, (m, n, _) in enumerate(SENSITIVE)])
def test_a_route_off_by_1e_8_fails_the_check(module, name, check, monkeypatch):
    assert _all_pass(check())
    monkeypatch.setattr(module, name, _perturbed(getattr(module, name)))
    assert not _all_pass(check())


def test_engines_check_fails_when_the_factorized_route_is_perturbed(monkeypatch):
    assert _all_pass(CE.check_engines_agree(P0, RANDOM, 0.5))
    real = CE.pointwise_kl

    def kl(p0, process, t, engine="auto", at=None):
        out = real(p0, process, t, engine=engine, at=at)
        return out * (1 + REL) if engine == "factorized" else out

    monkeypatch.setattr(CE, "pointwise_kl", kl)
    results = CE.check_engines_agree(P0, RANDOM, 0.5)
    assert not results[0].passed and results[1].passed


def test_engines_check_compares_two_different_engines(monkeypatch):
    """Comparing the dense engine with itself (the mutant the engines row once let
    through) is visible: the results record both engines, and the large-toy variant
    samples x0 through the dense route only."""
    calls = []
    real = CE.mdse

    def spy(*args, **kwargs):
        calls.append(kwargs.get("engine"))
        return real(*args, **kwargs)

    monkeypatch.setattr(CE, "mdse", spy)
    CE.check_engines_agree(P0, RANDOM, 0.5)
    assert sorted(calls) == ["dense", "factorized"]


def test_schedule_rate_check_fails_for_a_wrong_rate():
    assert _all_pass(CP.check_schedule_rate(ed.LogLinear(1e-3)))

    class Wrong(ed.LogLinear):
        def rate(self, t):
            return super().rate(t) * (1 + REL)

    assert not _all_pass(CP.check_schedule_rate(Wrong(1e-3)))

    class WrongArrays(ed.Geometric):  # only the array form the score-model quadrature uses
        def rates_of_total(self, sbar):
            return super().rates_of_total(sbar) * (1 + REL)

    assert _all_pass(CP.check_schedule_rate(ed.Geometric(1e-3, 20.0)))
    assert not _all_pass(CP.check_schedule_rate(WrongArrays(1e-3, 20.0)))


def test_gaussian_derivative_check_is_sensitive(monkeypatch):
    toy = ([-1.0, 0.5, 2.0], [0.2, 0.5, 0.3])
    assert _all_pass(CG.check_immse(*toy))
    real = CG.derivative_and_mmse
    monkeypatch.setattr(CG, "derivative_and_mmse",
                        lambda *a, **k: (lambda d, de, m, em: (d * (1 + REL), de, m, em))(*real(*a, **k)))
    assert not _all_pass(CG.check_immse(*toy))


# -- NaN never passes ------------------------------------------------------------------------------
@pytest.mark.parametrize("lhs, rhs, scale", [(np.nan, 1.0, None), (1.0, np.nan, None), (np.nan, np.nan, None),
                                             (1.0, 1.0 + 1e-15, np.nan), ([1.0, np.nan], [1.0, 2.0], None),
                                             (np.inf, -np.inf, None), (np.inf, 1.0, None)])
def test_a_nan_or_mismatched_infinity_never_passes(lhs, rhs, scale):
    r = compare("x", "-", {}, lhs, rhs, tol=1.0, scale=scale)
    assert not r.passed and not r.rel_err <= r.tol


def test_equal_infinities_agree():
    assert compare("x", "-", {}, [np.inf, 1.0], [np.inf, 1.0], tol=0.0).passed


# -- the added rows: pass on the defaults, fail on a wrong formula ----------------------------------
def test_kernels_row_catches_a_wrong_uniform_generator(monkeypatch):
    assert _all_pass(CP.check_kernels(4))

    def wrong_uniform(N, schedule=None):  # 11ᵀ − N·I instead of 11ᵀ/N − I
        return ed.ForwardProcess(np.ones((N, N)) - N * np.eye(N), schedule, name="uniform")

    monkeypatch.setattr(CP, "uniform", wrong_uniform)
    assert not _all_pass(CP.check_kernels(4))


def test_markov_row_catches_a_chain_that_ignores_its_initial_law(monkeypatch):
    chain = CMk.random_chain(3, 2, seed=4)
    assert not chain.initial_is_stationary
    assert _all_pass(CMk.check_markov_chain(chain, L=5))
    from exactdiff.markov import forward_backward as fb

    real = fb.chain_tensors
    monkeypatch.setattr(fb, "chain_tensors",
                        lambda transitions, initial: real(transitions, np.full(initial.shape, 1.0 / initial.size)))
    wrong = ed.MarkovChain(chain.transitions, initial=chain.initial)
    assert not _all_pass(CMk.check_markov_chain(wrong, L=5))


def test_law_of_U_row_catches_H_L_minus_1(monkeypatch):
    assert _all_pass(CL.check_unmasked_size_law(6))
    from exactdiff.masked import weights

    real = weights.harmonic_number
    monkeypatch.setattr(weights, "harmonic_number", lambda n, exact=False: real(n - 1, exact=exact))
    assert not _all_pass(CL.check_unmasked_size_law(6))


@pytest.mark.parametrize("mutation", ["k_dce weight", "size range", "no 1/lambda", "uncoupled"])
def test_monte_carlo_rows_catch_wrong_estimators(mutation, monkeypatch):
    x0, y0 = np.argwhere(P0.table > 0)[:2]
    assert _all_pass(CEst.check_estimator_monte_carlo(P0, x0, y0, n=20000))
    from exactdiff.masked import estimators as E
    from exactdiff.masked.laws import uniform_masks

    def k_dce_weight(law, count, rng):  # 1/a instead of n/a
        masks, w = law.sample(count, rng)
        return masks, w / law.n

    def size_range(law, count, rng):  # a ~ U{1..n−1}: the fully masked sequence never drawn
        a = rng.integers(1, law.n, size=count)
        return uniform_masks(a, law.n, rng), law.n / a

    def no_inverse_lambda(law, count, rng):
        masks, w = law.sample(count, rng)
        return masks, np.full(count, law.hi - law.lo)

    target, draw = {"k_dce weight": ("k_dce", k_dce_weight), "size range": ("k_dce", size_range),
                    "no 1/lambda": ("time_integral", no_inverse_lambda), "uncoupled": (None, None)}[mutation]
    real = E.resolve_law

    class Mutated:  # the law as resolved, with its draws replaced
        def __init__(self, law):
            self.law = law

        def __getattr__(self, name):
            return getattr(self.law, name)

        def sample(self, count, rng):
            return draw(self.law, count, rng)

    monkeypatch.setattr(E, "resolve_law", lambda law, n, **kw: Mutated(real(law, n, **kw))
                        if real(law, n, **kw).name == target else real(law, n, **kw))
    if mutation == "uncoupled":
        monkeypatch.setattr(CEst, "estimate_log_ratio", _uncoupled(CEst.estimate_log_ratio))
    assert not _all_pass(CEst.check_estimator_monte_carlo(P0, x0, y0, n=20000))


def _uncoupled(real):
    """estimate_log_ratio with independent masks even when asked for ``coupled``."""

    def estimate(denoiser, y, x, n, rng, *, coupling="coupled", **kwargs):
        return real(denoiser, y, x, n, rng, coupling="decoupled", **kwargs)

    return estimate


def test_empirical_denoiser_default_pseudo_count_at_L_3():
    """α = 1/N^L by default: one pseudo-observation spread over V^L (not 1/N per sequence)."""
    samples = np.array([[0, 1, 1], [0, 1, 1], [1, 0, 0]])
    c = ed.EmpiricalDenoiser(samples, N=2)
    counts = np.zeros((2, 2, 2))
    counts[0, 1, 1], counts[1, 0, 0] = 2, 1
    assert np.allclose(c.p_hat, (counts + 1 / 8) / (3 + 1), rtol=0, atol=1e-15)


def test_fitted_denoisers_row_catches_a_wrong_default_pseudo_count(monkeypatch):
    from exactdiff.checks import denoisers as CD
    from exactdiff.masked import denoisers as D

    assert _all_pass(CD.check_fitted_denoisers())
    monkeypatch.setattr(D, "empirical_pseudo_count", lambda alpha, N, L: 1.0 / N if alpha is None else alpha)
    assert not _all_pass(CD.check_fitted_denoisers())


def test_large_toy_rows_use_a_sample_of_x0():
    """Above the dense threshold the dense route evaluates a seeded sample of x0."""
    paper = ed.Distribution.paper_toy(seed=0)
    proc = ed.ForwardProcess(ed.process.random_generator(4, seed=5), ed.Constant(1.0), name="random")
    results = CS.check_theorem_3_1(paper, proc, (0.01, 1.0))
    assert _all_pass(results) and results[0].setup["x0"].startswith("sample of")
    at = CS.sample_x0(paper.table, proc, seed=0)
    assert at.shape[1] == 8 and len(at) >= CS.N_SAMPLE and np.all(paper.table[tuple(at.T)] > 0)


def test_score_model_rows_catch_wrong_formulas(monkeypatch):
    """The finite-T limit row catches a DSE likelihood without its prior term; the Monte
    Carlo rows catch a per-draw loss that is not the DSE (here shifted by 0.1 per unit
    rate: the draws no longer average to the exact mean)."""
    from exactdiff.score import estimators as SE
    from exactdiff.score import moments as SM

    x0 = np.argwhere(P0.table > 0)[0]
    assert _all_pass(CSM.check_score_model_limit(P0, at=x0[None]) + CSM.check_dse_estimator_monte_carlo(P0, x0))
    with monkeypatch.context() as m:
        m.setattr(SM, "dse_prior_term", lambda process, sbar, X0: np.zeros(np.atleast_2d(X0).shape[0]))
        failed = [r.name for r in CSM.check_score_model_limit(P0, at=x0[None]) if not r.passed]
        assert failed == ["DSE limit at finite T = NLL - KL(.||p_T) + KL(.||pi_T)"]
    per_draw = SE.dse_loss_per_rate
    monkeypatch.setattr(SE, "dse_loss_per_rate", lambda *args: per_draw(*args) + 0.1)
    failed = [r.name for r in CSM.check_dse_estimator_monte_carlo(P0, x0) if not r.passed]
    assert "MC mean = exact mean, DSE power law" in failed
