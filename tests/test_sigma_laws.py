"""The laws of σ̄ of the DSE estimators (exactdiff.score.laws): normalised densities,
samplers that draw from them and stay inside the window, the default ``power`` law with
its uniform-in-σ̄ part, its exact variance against an independent route, and the tail
asymptotics that motivated that part (docs/guide/dse_estimators.md)."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats
from scipy.integrate import quad

import exactdiff as ed
from exactdiff.checks.reference import reference_dse_loss
from exactdiff.figures.dse_variance import BiasedScore, PerturbedScore
from exactdiff.process.masking import lambda_of_total, total_of_lambda
from exactdiff.score import OracleScore, dse_estimator_moments, dse_moments_table, dse_prior_term
from exactdiff.score.laws import DEFAULT_ALPHA, DEFAULT_OMEGA, DEFAULT_RHO, PowerLaw, sigma_law, window


def _windows():
    """(process, T, t_min): SEDD's two setups at t_min = 0 and > 0, a constant schedule,
    and an infinite window (Geometric to t = ∞)."""
    return {
        "uniform-geometric": (ed.uniform(3, ed.Geometric(1e-4, 20.0)), 1.0, 0.0),
        "uniform-geometric-cut": (ed.uniform(3, ed.Geometric(1e-4, 20.0)), 1.0, 1e-3),
        "absorbing-loglinear": (ed.absorbing(3, ed.LogLinear(1e-3)), 1.0, 0.0),
        "absorbing-loglinear-cut": (ed.absorbing(3, ed.LogLinear(1e-3)), 1.0, 0.01),
        "uniform-constant-cut": (ed.uniform(3), 8.0, 0.01),
        "uniform-infinite": (ed.uniform(3, ed.Geometric(1e-4, 20.0)), None, 0.0),
    }


def _laws(process, w):
    """Every named law valid on the window, and a PowerLaw with other parameters."""
    out = {"power": sigma_law("power", process), "uniform_lambda": sigma_law("uniform_lambda", process),
           "other power": PowerLaw(0.3, 0.2, 0.25)}
    if math.isfinite(w.t_hi):
        out["uniform_t"] = sigma_law("uniform_t", process)
    if w.s_lo > 0 and math.isfinite(w.s_hi):
        out["log_sigma"] = sigma_law("log_sigma", process)
    return out


def _mass(law, w, a, b):
    """∫_a^b q_σ̄ dσ̄ by scipy's quad in u = log σ̄ (the σ̄^{α−1} singularity at 0 becomes
    e^{αu}); σ̄ below e^{−700} carries at most e^{−175} of a Beta(1/4, 1) part."""
    lo, hi = math.log(max(a, math.exp(-700.0))), math.log(min(b, 800.0))
    val, _ = quad(lambda u: math.exp(u) / float(law.inv_density(w, math.exp(u))), lo, hi, epsabs=0, epsrel=1e-12,
                  limit=400, points=[p for p in (-8.0, 0.0, 3.0) if lo < p < hi])
    return val


@pytest.mark.parametrize("name", list(_windows()))
def test_density_integrates_to_one(name):
    """∫ q_σ̄ dσ̄ = 1 over the window for every law (quad against the closed forms; a law
    normalised without an end of its window misses by >= 1e-3 here)."""
    process, T, t_min = _windows()[name]
    w = window(process, T, t_min)
    for label, law in _laws(process, w).items():
        assert abs(_mass(law, w, w.s_lo, w.s_hi) - 1) < 1e-9, label


class _DroppedLowerEnd(PowerLaw):
    """``power`` with its Beta part normalised on [0, λ_hi] instead of [λ_lo, λ_hi] — the
    defect reported for a LogLinear run: draws of σ̄ below σ̄(t_min)."""

    def sample(self, w, n, rng):
        a, om = self.alpha, self.flat_weight(w)
        lo, hi = float(lambda_of_total(w.s_lo)), float(lambda_of_total(w.s_hi))
        u, pick = rng.random(n), rng.random(n)
        lam = np.where(pick < (1 - om) * self.rho, lo + u * (hi - lo), (u * hi**a) ** (1 / a))
        sbar = np.where(pick >= 1 - om, w.s_lo + u * (w.s_hi - w.s_lo), total_of_lambda(lam))
        return sbar, self.inv_density(w, sbar)


def _chi_square(law, w, n, seed, bins=40):
    """Pearson's chi-square of n seeded draws against the density's bin masses (quad), on
    bins equal in log σ̄ over a finite window (the first bin from σ̄_lo, 0 included; draws
    outside the window fall into the end bins)."""
    lo = w.s_lo if w.s_lo > 0 else 1e-12
    edges = np.concatenate([[w.s_lo], np.geomspace(lo, w.s_hi, bins)[1:-1], [w.s_hi]])
    probs = np.array([_mass(law, w, a, b) for a, b in itertools.pairwise(edges)])
    draws, _ = law.sample(w, n, np.random.default_rng(seed))
    counts = np.histogram(np.clip(draws, w.s_lo, w.s_hi), bins=edges)[0]
    return stats.chisquare(counts, probs / probs.sum() * n).pvalue


@pytest.mark.parametrize("name", ["uniform-geometric", "absorbing-loglinear-cut", "uniform-constant-cut"])
def test_sampler_matches_density(name):
    """40 bins in log σ̄, 100,000 seeded draws: p-value of Pearson's chi-square > 1e-3 for
    every law (a correct sampler fails with probability 1e-3 over seeds; the seed is fixed).
    The Beta part normalised without its lower end gives p < 1e-12 on a window with
    t_min > 0, so the test can fail."""
    process, T, t_min = _windows()[name]
    w = window(process, T, t_min)
    for label, law in _laws(process, w).items():
        assert _chi_square(law, w, 100_000, seed=1) > 1e-3, label
    if t_min > 0:
        law = sigma_law("power", process)
        wrong = _DroppedLowerEnd(law.alpha, law.rho, law.omega)
        assert _chi_square(wrong, w, 100_000, seed=1) < 1e-12


@pytest.mark.parametrize("name", ["uniform-geometric-cut", "absorbing-loglinear-cut", "uniform-constant-cut"])
def test_draws_stay_inside_the_window(name):
    """Every draw of σ̄ lies in [σ̄(t_min), σ̄(T)] (200,000 per law, t_min > 0); the Beta
    part normalised without its lower end leaves the window."""
    process, T, t_min = _windows()[name]
    w = window(process, T, t_min)
    for label, law in _laws(process, w).items():
        sbar, inv_q = law.sample(w, 200_000, np.random.default_rng(3))
        assert sbar.min() >= w.s_lo and sbar.max() <= w.s_hi, label
        assert np.all(np.isfinite(inv_q) & (inv_q > 0)), label
    law = sigma_law("power", process)
    sbar, _ = _DroppedLowerEnd(law.alpha, law.rho, law.omega).sample(w, 200_000, np.random.default_rng(3))
    assert sbar.min() < w.s_lo


def _independent_density(process, w, alpha, rho, omega, lower_end=True):
    """q_σ̄ of ``power`` written from its definition (docs/guide/dse_estimators.md), not
    through PowerLaw: (1−ω)[ρ/(λhi−λlo) + (1−ρ)αλ^{α−1}/(λhi^α − λlo^α)]e^{−σ̄} + ω/(σ̄hi−σ̄lo);
    ``lower_end=False`` drops λlo^α (the defect)."""
    lam_lo, lam_hi = 1 - math.exp(-w.s_lo), 1 - math.exp(-w.s_hi)
    beta_mass = lam_hi**alpha - (lam_lo**alpha if lower_end else 0.0)

    def q(sbar):
        lam = -math.expm1(-sbar)
        q_lam = rho / (lam_hi - lam_lo) + (1 - rho) * alpha * lam ** (alpha - 1) / beta_mass
        return (1 - omega) * q_lam * math.exp(-sbar) + omega / (w.s_hi - w.s_lo)

    return q


def _brute_moments(p0, proc, x0, w, biases, panels=3, order=20):
    """Nodes σ̄_j, weights and E[h^r | σ̄_j] (r = 1, 2) for the scores b·s* of each b in
    ``biases``: every state listed with the definition of ℓ_DSE (checks.reference) on
    the concrete score of the factorized engine — no enumerator — at the nodes of a
    composite Gauss–Legendre rule in u = log σ̄ over the window (smooth there: t_min > 0),
    not the adaptive GK15 of the library."""
    L, n = p0.L, proc.n
    states = list(np.ndindex(*(n,) * L))
    g, gw = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(math.log(w.s_lo), math.log(w.s_hi), panels + 1)
    u = np.concatenate([(a + b) / 2 + (b - a) / 2 * g for a, b in itertools.pairwise(edges)])
    weights = np.concatenate([(b - a) / 2 * gw for a, b in itertools.pairwise(edges)]) * np.exp(u)
    sbar = np.exp(u)
    cond = np.zeros((len(biases), 2, sbar.size))
    for j, s in enumerate(sbar):
        t = proc.schedule.time_of_total(s)
        scores = ed.concrete_score(p0, proc, t)
        k = proc.kernels(np.float64(s))
        for x in states:
            px = math.prod(k[x[i], x0[i]] for i in range(L))
            for m, b in enumerate(biases):
                h = reference_dse_loss(b * scores, proc, t, tuple(x0), x) / proc.rate(t)
                cond[m, :, j] += px * np.array([h, h * h])
    return sbar, weights, cond


def test_exact_variance_of_power_against_an_independent_route():
    """Var of one draw of the default ``power`` at the uniform process, T = 8,
    t_min = 0.01 (the window's lower end in every part of the law), for the oracle and a
    biased score (1.2·s*, which does not decay as σ̄ grows): dse_estimator_moments (enumerator
    + GK15 + PowerLaw) vs listed states + Gauss–Legendre + the density written out here,
    rtol 1e-9 (60 nodes; doubling them moves the result by 2e-13). The same
    density without the lower end of the Beta part differs by more than 1 %."""
    p0 = ed.Distribution.dirichlet(2, 2, seed=4)
    proc = ed.uniform(2)
    w = window(proc, 8.0, 0.01)
    x0 = np.array([1, 0])
    params = DEFAULT_ALPHA, DEFAULT_RHO["uniform"], DEFAULT_OMEGA["uniform"]
    q = np.vectorize(_independent_density(proc, w, *params))
    q_wrong = np.vectorize(_independent_density(proc, w, *params, lower_end=False))
    prior = float(dse_prior_term(proc, w.s_hi, x0[None])[0])
    sbar, weights, cond = _brute_moments(p0, proc, x0, w, (1.0, 1.2))
    for b, (h1, h2) in zip((1.0, 1.2), cond, strict=True):
        model = OracleScore(p0, proc) if b == 1.0 else BiasedScore(OracleScore(p0, proc), proc, b)
        exact = dse_estimator_moments(model, proc, x0, "power", T=8.0, t_min=0.01)
        mean, second = weights @ h1, weights @ (h2 / q(sbar))
        assert abs(exact.mean - prior - mean) < 1e-9 * max(1.0, mean)
        assert abs(exact.variance - (second - mean**2)) < 1e-9 * second
        assert abs(weights @ (h2 / q_wrong(sbar)) - second) > 1e-2 * second


@pytest.mark.parametrize("law", ["power", "old"])
def test_monte_carlo_matches_exact_moments(law):
    """20,000 seeded draws of the estimator with a biased score (1.2·s*) under SEDD's
    uniform setup (σ̄(T) ≈ 20): z of the mean and of the sample variance (its standard
    deviation from the exact E[D⁴]) against the exact moments within 4.5, for the default
    ``power``. Without the uniform-in-σ̄ part (``old``: ω = 0) the exact variance is
    >= 10³ times larger and the exact kurtosis says that 10^8 draws would not be enough
    for the normal interval."""
    p0 = ed.Distribution.dirichlet(2, 3, seed=1)
    proc = ed.uniform(2, ed.Geometric(1e-4, 20.0))
    model = BiasedScore(OracleScore(p0, proc), proc, 1.2)
    x0 = np.array([0, 1, 1])
    chosen = "power" if law == "power" else PowerLaw(DEFAULT_ALPHA, DEFAULT_RHO["uniform"], 0.0)
    exact = dse_moments_table(model, proc, x0, [("law", chosen, {})], T=1.0, optimal=False)["moments"]["law"][0]
    if law == "old":
        default = dse_estimator_moments(model, proc, x0, "power", T=1.0)
        assert exact.variance > 1e3 * default.variance and exact.normal_draws > 1e8
        return
    n = 20_000
    est = ed.estimate_dse_nll(model, proc, x0, chosen, n, np.random.default_rng(11), T=1.0)
    assert exact.normal_draws <= 10 * n  # a kurtosis below ~10⁴ (E[D⁴] finite, α = 1/5)
    assert abs(est.estimate - exact.mean) < 4.5 * exact.stderr(n)
    assert abs(np.var(est.samples, ddof=1) - exact.variance) < 4.5 * exact.variance_stderr(n)


def test_tail_asymptotics_of_scores_that_do_not_decay():
    """Under the uniform process a score b·s* has h → L(N−1)/N·φ(b), φ(u) = u − 1 − log u,
    as σ̄ → ∞ (checked at σ̄ = 40 to 1e-12), and the variance of a law in λ is then
    c∞²∫e^{σ̄}/q_λ dσ̄ to leading order: at σ̄(T) ≈ 20 within 1 % (the module docstring of
    exactdiff.score.laws). The perturbed score tends to (1/N)Σ_i Σ_{v≠x^i} φ(f_{i,v})."""
    p0 = ed.Distribution.dirichlet(2, 3, seed=1)
    N, L, b = 2, 3, 1.2
    x0 = np.array([0, 1, 1])
    constant = ed.uniform(N)  # σ = 1: t = σ̄
    phi = b - 1 - math.log(b)
    h_inf = L * (N - 1) / N * phi
    model = BiasedScore(OracleScore(p0, constant), constant, b)
    assert abs(ed.expected_dse(model, constant, 40.0, x0) - h_inf) < 1e-12 * h_inf
    pert = PerturbedScore(OracleScore(p0, constant), constant)
    f = pert.factor[:, :N]
    phis = f - 1 - np.log(f)
    expected = np.mean([sum(phis[i, v] for i in range(L) for v in range(N) if v != x[i]) / N
                        for x in np.ndindex(*(N,) * L)])
    assert abs(ed.expected_dse(pert, constant, 40.0, x0) - expected) < 1e-12 * expected

    proc = ed.uniform(N, ed.Geometric(1e-4, 20.0))
    model = BiasedScore(OracleScore(p0, proc), proc, b)
    old = PowerLaw(DEFAULT_ALPHA, DEFAULT_RHO["uniform"], 0.0)
    w = window(proc, 1.0)
    var = dse_moments_table(model, proc, x0, [("old", old, {})], T=1.0, optimal=False)["moments"]["old"][0].variance
    lead = h_inf**2 * quad(lambda s: float(old.inv_density(w, s)), 0.0, w.s_hi, epsrel=1e-12, limit=200)[0]
    assert abs(var / lead - 1) < 1e-2


def test_uniform_part_only_on_a_finite_window():
    """ω applies where σ̄(T) < ∞; on an infinite window ``power`` is its λ part."""
    proc = ed.uniform(3, ed.Geometric(1e-4, 20.0))
    law = sigma_law("power", proc)
    lam_only = PowerLaw(law.alpha, law.rho, 0.0)
    s = np.array([1e-6, 0.3, 5.0, 19.0])
    inf_w, fin_w = window(proc, None), window(proc, 1.0)
    assert math.isinf(inf_w.s_hi) and law.flat_weight(inf_w) == 0.0
    np.testing.assert_array_equal(law.inv_density(inf_w, s), lam_only.inv_density(inf_w, s))
    assert law.flat_weight(fin_w) == DEFAULT_OMEGA["uniform"]
    np.testing.assert_array_equal(law.inv_density(fin_w, s[:2]) > lam_only.inv_density(fin_w, s[:2]), True)
    assert np.all(law.inv_density(fin_w, s[3:]) < lam_only.inv_density(fin_w, s[3:]) / 1e5)


def test_sigma_law_defaults_objects_and_bad_input():
    """Defaults by process kind; a law object passes through :func:`sigma_law` and through
    the moments table; bad parameters are refused with the argument's name."""
    for proc in (ed.uniform(3), ed.absorbing(3)):
        law = sigma_law("power", proc)
        assert (law.alpha, law.rho, law.omega) == (DEFAULT_ALPHA, DEFAULT_RHO[proc.kind], DEFAULT_OMEGA[proc.kind])
        assert law.beta(window(proc, 1.0)) == 1 - DEFAULT_ALPHA
    obj = PowerLaw(0.3, 0.2, 0.25)
    assert sigma_law(obj, ed.uniform(3)) is obj
    assert sigma_law("uniform_lambda", ed.uniform(3)).beta(window(ed.uniform(3), 1.0)) == 0.0
    with pytest.raises(ValueError, match=r"`omega` must lie in \[0, 1\) \(got 1.0\)"):
        PowerLaw(0.25, 0.5, 1.0)
    with pytest.raises(ValueError, match=r"`alpha` must lie in \(0, 1\) \(got 0.0\)"):
        PowerLaw(0.0, 0.5, 0.1)
    with pytest.raises(ValueError, match=r"`rho` must lie in \[0, 1\] \(got 1.5\)"):
        PowerLaw(0.25, 1.5, 0.1)
    with pytest.raises(ValueError, match=r"`rho` must lie in \[0, 1\) \(got 1.0\)"):
        sigma_law("power", ed.uniform(3), rho=1.0)
    with pytest.raises(ValueError, match=r"`alpha` and `rho` apply to a law given by name only"):
        sigma_law(obj, ed.uniform(3), alpha=0.3)
    with pytest.raises(ValueError, match=r"`law` must be a name or a law object with the methods sample, "):
        sigma_law(42, ed.uniform(3))
