"""Tests of the Monte Carlo likelihood estimators and their exact moments.

Three kinds of checks:
- hand-checkable cases (two independent fair bits: every moment in closed form);
- exact means against independent routes (the table's −log p0, dce_integral's incomplete
  Beta sums, the Markov chain's forward passes) and exact moments against a brute-force
  enumeration of (size, mask) draws and against quadrature in λ;
- Monte Carlo against the exact values, within a stated number of standard errors, with
  fixed seeds: 4 standard errors for means, 5 for variances (whose standard error comes
  from the exact fourth central moment).
"""

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

import exactdiff as ed
from exactdiff.figures.estimators import (
    estimator_variance_figure,
    fig1a_time_free_nll,
    fig1b_conditional_nll,
)
from exactdiff.masked.time_integral import log_divergence, power_integral
from exactdiff.sequences.masks import mask_patterns
from exactdiff.masked.denoisers import CorruptedDenoiser
from exactdiff.masked.estimators import (
    resolve_law,
    estimate_conditional_nll,
    estimate_log_ratio,
    estimate_nll,
    estimator_moments,
    log_ratio_moments,
    mask_losses,
    moments_from_losses,
)

MASKED_LAWS = ("time_integral", "k_dce", "time_free")

Z_MEAN, Z_VAR = 4.0, 5.0
LOG2 = math.log(2.0)


@pytest.fixture(scope="module")
def toy():
    """A sparse random table (N=3, L=4), its oracle and a sequence of its support."""
    p0 = ed.Distribution.dirichlet(3, 4, seed=1, zero_fraction=0.3)
    x0 = np.argwhere(p0.table > 0)[0]
    return p0, ed.OracleDenoiser(p0), x0


# -- hand-checkable: two independent fair bits ----------------------------------------------------
def test_fair_bits_closed_forms():
    """p0 uniform on {0,1}^2: ℓ(m) = |m| log 2 for the oracle. Time-free: D = 1.5|m| log 2 with
    P(|m|=1) = 2/3, so Var = 0.5 log²2; k-DCE: D = 2 log 2 always, Var = 0; time-integral:
    E D = 2(1−ε) log 2, E D² = (1−ε)(2 log(1/ε) + 2(1−ε)) log²2, infinite at ε = 0."""
    p0 = ed.Distribution(np.full((2, 2), 0.25))
    c, x0 = ed.OracleDenoiser(p0), np.array([0, 1])
    tf = estimator_moments(c, x0, "time_free")
    assert tf.mean == pytest.approx(2 * LOG2, rel=1e-15) and tf.variance == pytest.approx(0.5 * LOG2**2, rel=1e-14)
    kd = estimator_moments(c, x0, "k_dce")
    assert kd.mean == pytest.approx(2 * LOG2, rel=1e-15) and kd.variance == pytest.approx(0.0, abs=1e-15)
    ti0 = estimator_moments(c, x0, "time_integral")
    assert ti0.mean == pytest.approx(2 * LOG2, rel=1e-15) and ti0.variance == math.inf
    assert log_divergence(*ed.mask_losses(c, x0)) == pytest.approx(2 * LOG2**2, rel=1e-15) and "inf" in ti0.note
    for eps in (0.1, 1e-3, 1e-8):
        ti = estimator_moments(c, x0, "time_integral", eps=eps)
        m2 = (1 - eps) * (2 * math.log(1 / eps) + 2 * (1 - eps)) * LOG2**2
        assert ti.mean == pytest.approx(2 * (1 - eps) * LOG2, rel=1e-14)
        assert ti.cutoff_bias == pytest.approx(-2 * eps * LOG2, rel=1e-12)
        assert ti.variance == pytest.approx(m2 - (2 * (1 - eps) * LOG2) ** 2, rel=1e-12)


def test_power_integral_exact():
    """∫_lo^1 λ^p (1 − λ)^q dλ against quadrature and Beta functions."""
    from scipy.special import beta

    for p, q, lo in [(0, 5, 0.0), (3, 2, 0.0), (-1, 4, 1e-3), (-2, 3, 0.01), (-3, 6, 0.2), (2, 7, 0.3)]:
        ref = quad(lambda t: t**p * (1 - t) ** q, lo, 1, epsabs=0, epsrel=1e-13, limit=200)[0]
        assert power_integral(p, q, lo, 1.0) == pytest.approx(ref, rel=1e-11)
    assert power_integral(4, 6, 0.0, 1.0) == pytest.approx(beta(5, 7), rel=1e-15)
    assert power_integral(-1, 3, 0.0, 1.0) == math.inf and power_integral(-2, 3, 0.0, 1.0) == math.inf
    # the a = 1 term of the second moment: log(1/ε) − H_{n−1} + O(ε)
    assert power_integral(-1, 7, 1e-9, 1.0) == pytest.approx(math.log(1e9) - ed.harmonic_number(7), abs=1e-7)


# -- exact means --------------------------------------------------------------------------------------
def test_means_equal_nll_for_the_oracle(toy):
    p0, c, _ = toy
    for x0 in np.argwhere(p0.table > 0)[:8]:
        nll = p0.nll(tuple(x0))
        for method in MASKED_LAWS:
            assert estimator_moments(c, x0, method).mean == pytest.approx(nll, rel=1e-12)


def test_cutoff_bias_is_the_missing_integral(toy):
    """E[D] at ε = −log p0 + cutoff_bias, and cutoff_bias = −∫_0^ε (1/λ) E ℓ dλ from
    dce_integral's incomplete Beta sums (independent code)."""
    p0, c, x0 = toy
    nll = p0.nll(tuple(x0))
    for eps in (1e-4, 0.05, 0.5):
        m = estimator_moments(c, x0, "time_integral", eps=eps)
        missing = ed.dce_integral(c, x0[None], N=3, Lambda=eps)[0]
        assert m.cutoff_bias == pytest.approx(-missing, rel=1e-12)
        assert m.mean == pytest.approx(nll + m.cutoff_bias, rel=1e-12)


def test_means_equal_dce_integral_for_any_denoiser(toy):
    """A non-oracle denoiser: every method's mean is L^1_DCE(x0; c) (Theorem 3.4's integral)."""
    p0, c, x0 = toy
    bad = CorruptedDenoiser(c, epsilon=0.2, temperature=1.7)
    ref = ed.dce_integral(bad, x0[None], N=3)[0]
    assert abs(ref - p0.nll(tuple(x0))) > 0.1  # not the NLL any more (no guaranteed sign pointwise)
    for method in MASKED_LAWS:
        assert estimator_moments(bad, x0, method).mean == pytest.approx(ref, rel=1e-12)


def test_conditional_means(toy):
    p0, c, x0 = toy
    target, context = [1, 3], [0]
    ref = ed.exact_conditional_nll(p0, tuple(x0), target, context)
    for method in MASKED_LAWS:
        m = estimator_moments(c, x0, method, target=target, context=context)
        assert m.mean == pytest.approx(ref, rel=1e-12)


def test_conditional_means_markov_chain():
    """Chain oracle by forward–backward, L = 20, a 6-letter target: the exact mean is
    MarkovChain.exact_conditional_nll (two forward passes)."""
    rng = np.random.default_rng(3)
    chain = ed.MarkovChain(rng.dirichlet(np.ones(3), size=9).reshape(3, 3, 3))
    x = chain.sample(1, 20, rng)[0]
    target, context = [8, 9, 11, 12, 13, 17], list(range(8))
    ref = chain.exact_conditional_nll(x, target, context)
    c = ed.OracleDenoiser(chain)
    for method in MASKED_LAWS:
        assert estimator_moments(c, x, method, target=target, context=context).mean == pytest.approx(ref, rel=1e-12)


def test_log_ratio_means(toy):
    p0, c, x0 = toy
    y0 = np.argwhere(p0.table > 0)[3]
    ref = math.log(p0.prob(tuple(y0))) - math.log(p0.prob(tuple(x0)))
    for coupling in ("coupled", "decoupled"):
        m = log_ratio_moments(c, y0, x0, coupling=coupling)
        assert m.mean == pytest.approx(ref, rel=1e-12)
        assert m.mean == pytest.approx(ed.log_ratio_expectation(p0, tuple(y0), tuple(x0), coupling=coupling), rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(N=st.integers(2, 3), L=st.integers(1, 4), seed=st.integers(0, 10**6), zero=st.sampled_from([0.0, 0.4]))
def test_means_on_random_toys(N, L, seed, zero):
    p0 = ed.Distribution.dirichlet(N, L, seed=seed, zero_fraction=zero)
    c = ed.OracleDenoiser(p0)
    x0 = np.argwhere(p0.table > 0)[seed % np.count_nonzero(p0.table)]
    nll = p0.nll(tuple(x0))
    for method in MASKED_LAWS:
        m = estimator_moments(c, x0, method)
        assert m.mean == pytest.approx(nll, rel=1e-12, abs=1e-13)
        assert m.variance >= 0


# -- exact moments against brute force --------------------------------------------------------------
def _brute_force(losses, n, method, eps):
    """E[D], E[D²] by listing every (size, mask) with its probability, or quadrature in λ."""
    pats = mask_patterns(n)
    ell = dict(zip(map(tuple, pats), losses))
    if method == "time_integral":
        def moment(r):
            f = lambda lam: sum(lam ** sum(m) * (1 - lam) ** (n - sum(m)) * ((1 - eps) * ell[m] / lam) ** r
                                for m in ell) / (1 - eps)
            return quad(f, eps, 1, epsabs=0, epsrel=1e-12, limit=200, points=[0.01, 0.1])[0]
        return moment(1), moment(2)
    H = ed.harmonic_number(n)
    m1 = m2 = 0.0
    for a in range(1, n + 1):
        pa, w = ((1 / n, n / a) if method == "k_dce" else (1 / (a * H), H))
        for m in itertools.combinations(range(n), a):
            key = tuple(i in m for i in range(n))
            prob = pa / math.comb(n, a)
            m1 += prob * w * ell[key]
            m2 += prob * (w * ell[key]) ** 2
    return m1, m2


@pytest.mark.parametrize("method,eps", [("time_free", 0.0), ("k_dce", 0.0), ("time_integral", 0.05),
                                        ("time_integral", 0.3)])
def test_moments_against_brute_force(toy, method, eps):
    p0, c, x0 = toy
    bad = CorruptedDenoiser(c, epsilon=0.1)
    for den in (c, bad):
        losses, sizes = mask_losses(den, x0)
        m = moments_from_losses(losses, sizes, method, eps=eps)
        m1, m2 = _brute_force(losses, x0.size, method, eps)
        assert m.raw[0] == pytest.approx(m1, rel=1e-10)
        assert m.raw[1] == pytest.approx(m2, rel=1e-10)


def test_moment_weights_mean_is_beta():
    """W_1(a) = B(a, n − a + 1) for every method at ε = 0."""
    from scipy.special import beta

    a = np.arange(1, 7)
    for method in MASKED_LAWS:
        assert np.allclose(resolve_law(method, 6).masked_weights(1), beta(a, 6 - a + 1), rtol=1e-14, atol=0)
    assert np.all(np.isinf(resolve_law("time_integral", 6).masked_weights(2)[:1]))
    assert np.all(np.isfinite(resolve_law("time_integral", 6).masked_weights(2)[1:]))


# -- the infinite variance ------------------------------------------------------------------------------
def test_infinite_variance_detected_and_explained(toy):
    p0, c, x0 = toy
    m = estimator_moments(c, x0, "time_integral")
    slope = log_divergence(*ed.mask_losses(c, x0))
    assert m.variance == math.inf and slope > 0 and "log(1/ε)" in m.note
    assert np.isfinite(m.mean)
    # growth like log_divergence · log(1/ε): the second moment's slope in log(1/ε)
    v = [estimator_moments(c, x0, "time_integral", eps=e).raw[1] for e in (1e-6, 1e-9)]
    assert (v[1] - v[0]) / math.log(1e3) == pytest.approx(slope, rel=1e-5)
    for method in ("k_dce", "time_free"):
        assert np.isfinite(estimator_moments(c, x0, method).variance)


def test_finite_variance_when_single_masks_cost_nothing():
    """When every single-token conditional is 1 (here: two sequences that differ everywhere),
    the time-integral variance is finite even at ε = 0."""
    p0 = ed.Distribution.from_dict({"AAA": 0.3, "BBB": 0.7})
    m = estimator_moments(ed.OracleDenoiser(p0), np.array([0, 0, 0]), "time_integral")
    assert log_divergence(*ed.mask_losses(ed.OracleDenoiser(p0), np.array([0, 0, 0]))) == 0
    assert np.isfinite(m.variance) and m.note == ""
    assert m.mean == pytest.approx(-math.log(0.3), rel=1e-14)


def test_zero_probability_gives_infinite_mean(toy):
    """A sequence outside the support: the oracle is undefined on the masks whose visible
    letters are impossible (it raises, naming the context); a denoiser defined everywhere
    (the oracle table with its undefined rows made uniform) gives the letter of x0
    probability 0 on some mask, so the mean is infinite and the note says why."""
    p0, c, _ = toy
    outside = np.argwhere(p0.table == 0)[0]
    with pytest.raises(ValueError, match="has probability 0 under p0"):
        estimator_moments(c, outside, "time_free")
    table = np.where(np.isnan(c.table), 1.0 / p0.N, c.table)
    m = estimator_moments(ed.TableDenoiser(table), outside, "time_free")
    assert m.mean == math.inf and m.variance == math.inf and "probability 0" in m.note


# -- Monte Carlo against exact ----------------------------------------------------------------------
MC_CASES = [("time_free", {}), ("k_dce", {}), ("time_integral", dict(eps=0.02)),
            ("time_integral", dict(eps=0.02, stratify=True))]


@pytest.mark.parametrize("method,kw", MC_CASES)
def test_monte_carlo_mean_and_variance(toy, method, kw):
    p0, c, x0 = toy
    n = 40000
    est = estimate_nll(c, x0, method, n, np.random.default_rng(11), **kw)
    m = estimator_moments(c, x0, method, eps=kw.get("eps", 0.0))
    assert est.n == n and est.samples.shape == (n,)
    assert abs(est.estimate - m.mean) < Z_MEAN * est.stderr
    if "eps" in kw:
        assert est.cutoff_bias == pytest.approx(m.cutoff_bias, rel=1e-14)
        assert m.mean == pytest.approx(p0.nll(tuple(x0)) + m.cutoff_bias, rel=1e-12)
    else:
        assert m.mean == pytest.approx(p0.nll(tuple(x0)), rel=1e-12)
    if kw.get("stratify"):
        # stratifying λ never increases the variance; its estimated s.e. is itself noisy
        assert est.stderr < 1.1 * m.stderr(n)
    else:
        assert abs(est.stderr - m.stderr(n)) < 0.05 * m.stderr(n)
        assert abs(est.samples.var(ddof=1) - m.variance) < Z_VAR * m.variance_stderr(n)


def test_monte_carlo_time_integral_without_cutoff(toy):
    """ε = 0: unbiased (finite mean) though the variance is infinite."""
    p0, c, x0 = toy
    est = estimate_nll(c, x0, "time_integral", 40000, np.random.default_rng(5))
    assert est.cutoff_bias == 0.0
    assert abs(est.estimate - p0.nll(tuple(x0))) < 6 * est.stderr


def test_monte_carlo_corrupted_denoiser(toy):
    p0, c, x0 = toy
    bad = CorruptedDenoiser(c, epsilon=0.3, temperature=0.7)
    for method in ("time_free", "k_dce"):
        est = estimate_nll(bad, x0, method, 20000, np.random.default_rng(2))
        m = estimator_moments(bad, x0, method)
        assert abs(est.estimate - m.mean) < Z_MEAN * est.stderr
        assert abs(est.samples.var(ddof=1) - m.variance) < Z_VAR * m.variance_stderr(est.n)


def test_monte_carlo_conditional_markov():
    rng = np.random.default_rng(4)
    chain = ed.MarkovChain(rng.dirichlet(np.ones(2), size=8).reshape(2, 2, 2, 2))
    x = chain.sample(1, 16, rng)[0]
    target, context = [6, 7, 8, 10, 11], [0, 1, 2, 3, 4, 5]
    c = ed.OracleDenoiser(chain)
    est = estimate_conditional_nll(c, x, target, context, 20000, np.random.default_rng(1))
    m = estimator_moments(c, x, "time_free", target=target, context=context)
    assert m.mean == pytest.approx(chain.exact_conditional_nll(x, target, context), rel=1e-12)
    assert abs(est.estimate - m.mean) < Z_MEAN * est.stderr
    assert abs(est.samples.var(ddof=1) - m.variance) < Z_VAR * m.variance_stderr(est.n)


@pytest.mark.parametrize("coupling", ["coupled", "decoupled"])
def test_monte_carlo_log_ratio(toy, coupling):
    p0, c, x0 = toy
    y0 = np.argwhere(p0.table > 0)[5]
    est = estimate_log_ratio(c, y0, x0, 40000, np.random.default_rng(8), coupling=coupling)
    m = log_ratio_moments(c, y0, x0, coupling=coupling)
    assert abs(est.estimate - m.mean) < Z_MEAN * est.stderr
    assert abs(est.samples.var(ddof=1) - m.variance) < Z_VAR * m.variance_stderr(est.n)


def test_coupling_lowers_variance_on_neighbours():
    """y and x differ in one letter: the shared mask cancels most of the noise."""
    p0 = ed.Distribution.dirichlet(3, 4, seed=9)
    c = ed.OracleDenoiser(p0)
    x0, y0 = np.array([0, 1, 2, 0]), np.array([0, 1, 2, 1])
    assert log_ratio_moments(c, y0, x0, coupling="coupled").variance < log_ratio_moments(c, y0, x0, coupling="decoupled").variance


def test_draw_laws():
    """Empirical laws of the number masked against the stated ones."""
    rng = np.random.default_rng(0)
    n, count = 5, 200000
    masks, w = resolve_law("time_free", n).sample(count, rng)
    sizes = masks.sum(axis=1)
    law = 1 / np.arange(1, n + 1) / ed.harmonic_number(n)
    freq = np.bincount(sizes, minlength=n + 1)[1:] / count
    assert np.all(np.abs(freq - law) < 5 * np.sqrt(law * (1 - law) / count))
    assert np.allclose(w, ed.harmonic_number(n))
    masks, w = resolve_law("k_dce", n).sample(count, rng)
    assert np.allclose(w * masks.sum(axis=1), n)
    masks, w = resolve_law("time_integral", n, eps=0.1).sample(count, rng)
    assert np.all((w >= 0.9) & (w <= 9.0 + 1e-12))


# -- the paper's toys ----------------------------------------------------------------------------
def test_paper_sequence_toy(shared_data):
    p0 = ed.load_distribution(shared_data / "sequence_eval.json", alphabet="ATGC")
    c = ed.OracleDenoiser(p0)
    rng = np.random.default_rng(0)
    for x0 in np.argwhere(p0.table > 0)[:4]:
        est = estimate_nll(c, x0, "time_free", 2**13, rng)
        m = estimator_moments(c, x0, "time_free")
        assert m.mean == pytest.approx(p0.nll(tuple(x0)), rel=1e-12)
        assert abs(est.estimate - m.mean) < Z_MEAN * est.stderr


def test_paper_markov_toy(shared_data):
    chain = ed.MarkovChain.from_dict(json.loads((shared_data / "markov_data_table.json").read_text()))
    x = chain.sample(1, 32, np.random.default_rng(2))[0]
    target, context = list(range(16, 24)), list(range(16))
    c = ed.OracleDenoiser(chain)
    m = estimator_moments(c, x, "time_free", target=target, context=context)
    assert m.mean == pytest.approx(chain.exact_conditional_nll(x, target, context), rel=1e-11)
    est = estimate_conditional_nll(c, x, target, context, 4096, np.random.default_rng(3))
    assert abs(est.estimate - m.mean) < Z_MEAN * est.stderr


# -- errors ------------------------------------------------------------------------------------------
def test_bad_denoiser_rejected_by_estimators(toy):
    _, c, x0 = toy
    unnormalised = lambda x: 0.9 * c(x)  # noqa: E731
    with pytest.raises(ValueError, match="sum to 1"):
        estimate_nll(unnormalised, x0, "time_free", 10, np.random.default_rng(0), N=3)
    with pytest.raises(ValueError, match="sum to 1"):
        estimator_moments(unnormalised, x0, "k_dce", N=3)
    with pytest.raises(ValueError, match="shape"):
        estimator_moments(lambda x: c(x)[..., :2], x0, "k_dce", N=3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(law="dce"), "`law`"),
    (dict(n=1), "`n`"),
    (dict(rng=None), "`rng`"),
    (dict(eps=1.0, law="time_integral"), "`eps`"),
    (dict(eps=0.1), "`eps`"),
    (dict(stratify=True), "`stratify`"),
    (dict(stratify=True, law="time_integral", n=11), "`n`"),
    (dict(target=[0, 1], context=[1]), "disjoint"),
    (dict(target=[5]), "`target`"),
    (dict(x0=np.array([0, 3, 1, 0])), "`x0`"),
])
def test_argument_errors(toy, kwargs, match):
    _, c, x0 = toy
    args = dict(denoiser=c, x0=x0, law="time_free", n=10, rng=np.random.default_rng(0))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        estimate_nll(**args)


def test_max_patterns_refused():
    chain = ed.MarkovChain(np.array([[0.9, 0.1], [0.2, 0.8]]))
    with pytest.raises(ValueError, match="max_patterns"):
        estimator_moments(ed.OracleDenoiser(chain), np.zeros(20, dtype=int), "time_free", max_patterns=2**10)


def test_rng_seed_reproducible(toy):
    _, c, x0 = toy
    a = estimate_nll(c, x0, "k_dce", 100, 3)
    b = estimate_nll(c, x0, "k_dce", 100, np.random.default_rng(3))
    assert a.estimate == b.estimate and a.stderr == b.stderr


# -- figures (small settings; the full ones are regenerated by the figure functions) ----------------
def test_figures_smoke(tmp_path):
    r = fig1a_time_free_nll(tmp_path / "a.png", n_samples=20000, draws=256)
    assert (tmp_path / "a.png").stat().st_size > 10000 and r["estimate"].shape == r["true"].shape
    r = fig1b_conditional_nll(tmp_path / "b.png", n_letters=20000, draws=64, pairs=3, prompt=6, response=6)
    assert (tmp_path / "b.png").stat().st_size > 10000 and np.all(np.isfinite(r["exact_model"]))
    r = estimator_variance_figure(tmp_path / "v.png", reps=4, ns=(4, 16))
    assert (tmp_path / "v.png").stat().st_size > 10000


def test_long_sequence_sampler_frequencies():
    chain = ed.MarkovChain(np.array([[0.9, 0.1], [0.3, 0.7]]))
    run = chain.sample(1, 200000, np.random.default_rng(0))[0]
    # stationary law (0.75, 0.25); transition counts close to the chain's
    assert abs(run.mean() - 0.25) < 0.01
    fit = ed.fit_markov_chain(run, 2, 1, alpha=0.0)
    assert np.max(np.abs(fit.transitions - chain.transitions)) < 0.01
