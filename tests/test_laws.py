"""Tests of the mask laws (:mod:`exactdiff.masked.laws`) and of the estimators with a
MaskLaw in place of a method name.

Reference routes: hand-computed laws for n = 2 and 3; brute-force expectations over
every mask with explicitly computed probabilities; the old weights of the time-free and
k-DCE estimators (``moment_weights`` by their closed forms); closed forms of the flawed
laws from ``subset_sums`` (marginal tables); Monte Carlo held to 5 standard errors and
chi-square tests held to p > 1e-4 with fixed seeds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import beta

import exactdiff as ed
from exactdiff.checks.laws import check_mask_laws
from exactdiff.masked.estimators import moments_from_losses, resolve_law
from exactdiff.masked.laws import LAW_NAMES, MaskLaw, flawed_law_means, goodness_of_fit

H = ed.harmonic_number


def brute_moments(law, losses):
    """E[D], E[D²] by listing every mask with its probability, computed from scratch."""
    n = law.n
    masks = ed.masked.mask_patterns(n)
    e1 = e2 = 0.0
    for m, loss in zip(masks, losses):
        a = int(m.sum())
        if law.subset_probs is not None:
            p = law.subset_probs[int(m.astype(int) @ (1 << np.arange(n - 1, -1, -1)))]
        else:
            p = law.size_probs[n - a] / math.comb(n, a)
        f = law.scale if law.aggregate == "sum" else (law.scale / a if a else 0.0)
        if p:
            e1 += p * f * loss
            e2 += p * (f * loss) ** 2
    return e1, e2


def test_named_laws_by_hand():
    """n = 3: time-free P(|U| = u) = 1/((3 − u) H_3); k-DCE 1/3 each; no_empty on u = 1, 2 ∝ 1/(3 − u)."""
    h3 = 11 / 6
    assert np.allclose(MaskLaw.time_free(3).size_probs, [1 / (3 * h3), 1 / (2 * h3), 1 / h3, 0], rtol=1e-15, atol=0)
    assert np.allclose(MaskLaw.k_dce(3).size_probs, [1 / 3, 1 / 3, 1 / 3, 0], rtol=1e-15, atol=0)
    assert np.allclose(MaskLaw.no_empty(3).size_probs, [0, 1 / 3, 2 / 3, 0], rtol=1e-15, atol=0)
    assert (MaskLaw.time_free(3).scale, MaskLaw.k_dce(3).scale) == (H(3), 3.0)
    assert MaskLaw.token_mean(3).aggregate == MaskLaw.no_empty_token_mean(3).aggregate == "mean"
    for name in LAW_NAMES:
        law = MaskLaw.named(name, 5)
        assert law.name == name and abs(law.size_probs.sum() - 1) < 1e-15 and law.size_probs[5] == 0


@pytest.mark.parametrize("name", LAW_NAMES)
def test_moments_against_brute_force_and_subset_form(name):
    rng = np.random.default_rng(1)
    law = MaskLaw.named(name, 4)
    losses = rng.random(16) * 5
    losses[0] = 0.0  # nothing masked: no loss
    e1, e2 = brute_moments(law, losses)
    m1, m2 = law.raw_moments(losses, orders=(1, 2))
    assert abs(m1 - e1) <= 1e-13 * e1 and abs(m2 - e2) <= 1e-13 * e2
    # the same law written with an explicit probability per mask
    sizes = ed.masked.mask_patterns(4).sum(axis=1)
    probs = law.size_probs[4 - sizes] / np.array([math.comb(4, int(a)) for a in sizes])
    twin = MaskLaw(subset_probs=probs, aggregate=law.aggregate, scale=law.scale)
    assert np.allclose(twin.size_probs, law.size_probs, rtol=1e-14, atol=1e-16)
    assert np.allclose(twin.raw_moments(losses), law.raw_moments(losses), rtol=1e-13, atol=0)
    assert np.allclose(brute_moments(twin, losses), (e1, e2), rtol=1e-13, atol=0)


def test_builtin_methods_are_laws_with_the_old_weights():
    """The time-free and k-DCE weights now come from the laws; they equal their closed
    forms H_n^{r−1} B(a, n − a + 1) and (n/a)^r / (n C(n, a))."""
    n = 6
    a = np.arange(1, n + 1)
    comb = np.array([math.comb(n, int(v)) for v in a], dtype=float)
    for r in (1, 2, 3):
        assert np.allclose(resolve_law("time_free", n).masked_weights(r), H(n) ** (r - 1) * beta(a, n - a + 1), rtol=1e-14, atol=0)
        assert np.allclose(resolve_law("k_dce", n).masked_weights(r), (n / a) ** r / (n * comb), rtol=1e-14, atol=0)
        assert np.array_equal(MaskLaw.time_free(n).masked_weights(r), resolve_law("time_free", n).masked_weights(r))


def test_builtin_streams_unchanged():
    """Reference draws computed by exactdiff 0.2.0 (commit b5e8270, before the laws) with the
    same seed: the law-based samplers draw the same masks."""
    p0 = ed.Distribution.dirichlet(3, 5, seed=3)
    c, x0 = ed.OracleDenoiser(p0), np.array([0, 2, 1, 1, 0])
    ref = {"time_free": [0.7529695660194455, 3.545919303319996, 3.1047318572982827, 0.7529695660194455,
                         1.6357895949103898, 12.600292695343128],
           "k_dce": [1.6488384657360122, 1.8372866795473164, 5.591779688770528, 5.344856565640058,
                     5.051863468840554, 5.194535290607743]}
    for method, values in ref.items():
        est = ed.estimate_nll(c, x0, method, 6, np.random.default_rng(11))
        assert np.allclose(est.samples, values, rtol=1e-14, atol=0)


def test_estimators_accept_laws():
    """ed.estimator_moments / ed.estimate_nll with a MaskLaw or a law name: the exact mean
    of a flawed law is its closed form, and Monte Carlo agrees within 5 standard errors."""
    p0 = ed.Distribution.dirichlet(3, 5, seed=3)
    c, x0 = ed.OracleDenoiser(p0), np.array([0, 2, 1, 1, 0])
    nll = p0.nll(tuple(x0))
    h = ed.subset_sums(p0)[(slice(0, 5),) + tuple(x0)]
    forms = flawed_law_means(h, nll)
    for name in LAW_NAMES:
        for method in (name, MaskLaw.named(name, 5)):
            m = ed.estimator_moments(c, x0, method)
            assert m.law == name
            assert abs(m.mean - forms[name]) <= 1e-12 * nll
        est = ed.estimate_nll(c, x0, MaskLaw.named(name, 5), 20_000, np.random.default_rng(5))
        assert abs(est.estimate - forms[name]) < 5 * math.sqrt(m.variance / 20_000)
    assert abs(forms["no_empty"] - nll - forms["no_empty_bias"]) < 1e-12
    assert abs(forms["time_free"] - nll) < 1e-12 * nll
    # conditional: a law over |T| = 3 target positions
    m = ed.estimator_moments(c, x0, MaskLaw.time_free(3), target=[2, 3, 4], context=[0, 1])
    assert abs(m.mean - ed.exact_conditional_nll(p0, tuple(x0), [2, 3, 4], [0, 1])) < 1e-12 * nll
    # subset-probability laws need masks in mask_patterns order: moments_from_losses checks it
    losses, sizes = ed.mask_losses(c, x0)
    twin = MaskLaw(subset_probs=MaskLaw.time_free(5).pattern_weights(0), scale=H(5))
    assert abs(moments_from_losses(losses, sizes, twin).mean - nll) < 1e-12 * nll
    with pytest.raises(ValueError, match="order of mask_patterns"):
        moments_from_losses(losses[::-1], sizes[::-1], twin)


def test_dna_toy_flawed_law_biases(shared_data):
    """Issue 13 on the paper's DNA toy (128 sequences, L = 8), exactly: no_empty is biased
    by −1.06 … −1.34 nats, both flaws together give 0.11 … 0.20 of the truth."""
    p0 = ed.load_distribution(shared_data / "sequence_eval.json")
    res = ed.audit.audit_denoiser(p0, ed.OracleDenoiser(p0), samples=2)
    laws = res["laws"]
    assert -1.34 < laws["no_empty"]["min_bias"] < -1.33 and -1.06 < laws["no_empty"]["max_bias"] < -1.05
    assert 0.111 < laws["no_empty_token_mean"]["min_ratio"] < 0.112 and 0.197 < laws["no_empty_token_mean"]["max_ratio"] < 0.199
    assert laws["time_free"]["max_abs_bias"] < 1e-13 and laws["k_dce"]["max_abs_bias"] < 1e-13


def test_check_mask_laws_passes_and_catches_a_wrong_law(monkeypatch):
    p0 = ed.Distribution.dirichlet(3, 4, seed=2)
    x0s = np.argwhere(p0.table > 0)[:4]
    assert all(r.passed for r in check_mask_laws(p0, x0s))
    real = MaskLaw.no_empty

    def wrong(n):  # H_{n−1} as the factor instead of H_n
        law = real(n)
        return MaskLaw(law.size_probs, "sum", H(n - 1), name="no_empty")

    monkeypatch.setattr(MaskLaw, "no_empty", staticmethod(wrong))
    failed = [r.name for r in check_mask_laws(p0, x0s) if not r.passed]
    assert failed == ["E[no_empty draw], enumerated = closed form", "E[no_empty_token_mean draw], enumerated = closed form",
                      "no_empty bias = (NLL − H_L h_0)/(L H_{L−1})"]


@pytest.mark.parametrize("name", LAW_NAMES)
def test_draws_follow_the_law(name):
    law = MaskLaw.named(name, 5)
    res = goodness_of_fit(lambda rng, count: law.draw(count, rng), law, draws=30_000, rng=0)
    assert res.over == "masks" and res.pvalue > 1e-4 and res.size_pvalue > 1e-4
    picks = law.draw_patterns(30_000, np.random.default_rng(1))
    masks = ed.masked.mask_patterns(5)[picks]
    res = goodness_of_fit(lambda rng, count: masks[:count], law, draws=30_000)
    assert res.pvalue > 1e-4


def test_goodness_of_fit_catches_the_published_sampler():
    """The flawed sampler of the issue — |U| on 1..L−1 ∝ 1/(L − |U|), never the fully masked
    set — against the time-free law: p-value 0 to machine precision; the reverse direction
    draws a mask the law never makes (p = 0 exactly)."""
    L = 8
    flawed, correct = MaskLaw.no_empty(L), MaskLaw.time_free(L)
    res = goodness_of_fit(lambda rng, c: flawed.draw(c, rng), correct, draws=5000, rng=0)
    assert res.pvalue < 1e-40 and res.size_pvalue < 1e-40
    res = goodness_of_fit(lambda rng, c: correct.draw(c, rng), flawed, draws=5000, rng=0)
    assert res.pvalue == 0.0 and "probability 0" in res.note


def test_bad_input():
    with pytest.raises(ValueError, match="`name` must be one of"):
        MaskLaw.named("time_free_typo", 4)
    with pytest.raises(ValueError, match=r"`law` must be one of .* or a TimeIntegralLaw \(got 'no_emty'\)"):
        ed.estimate_nll(ed.OracleDenoiser(ed.Distribution.dirichlet(2, 3)), np.array([0, 1, 0]), "no_emty", 10, 0)
    with pytest.raises(ValueError, match=r"`size_probs` must sum to 1 \(got 1.1\)"):
        MaskLaw([0.5, 0.6])
    with pytest.raises(ValueError, match="`size_probs` must be a 1-d array"):
        MaskLaw([1.0])
    with pytest.raises(ValueError, match=r"`subset_probs` must have shape \(2\^n,\)"):
        MaskLaw(subset_probs=[0.5, 0.25, 0.25])
    with pytest.raises(ValueError, match="`subset_probs` must sum to 1"):
        MaskLaw(subset_probs=[0.5, 0.25, 0.25, 0.25])
    with pytest.raises(ValueError, match="exactly one of"):
        MaskLaw([0.5, 0.5], subset_probs=[0.5, 0.5])
    with pytest.raises(ValueError, match="`aggregate`"):
        MaskLaw([0.5, 0.5], aggregate="median")
    with pytest.raises(ValueError, match=r"the MaskLaw 'time_free' is over n=4 positions; the target has 3"):
        ed.estimator_moments(ed.OracleDenoiser(ed.Distribution.dirichlet(2, 3)), np.array([0, 1, 0]),
                             MaskLaw.time_free(4))
    law = MaskLaw.time_free(4)
    with pytest.raises(ValueError, match=r"`sampler` must return masks of shape \(count, n\) = \(100, 4\) "
                                         r"\(got shape \(100, 3\)\)"):
        goodness_of_fit(lambda rng, c: np.zeros((c, 3), bool), law, draws=100)
    with pytest.raises(ValueError, match="`sampler` must return boolean masks"):
        goodness_of_fit(lambda rng, c: np.full((c, 4), 0.5), law, draws=100)
    with pytest.raises(ValueError, match="`sampler` must be a callable"):
        goodness_of_fit(None, law)
