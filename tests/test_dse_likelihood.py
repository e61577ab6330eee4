"""Tests of the DSE likelihood of a score model: its exact limit, its Monte Carlo
estimators and their exact moments.

Three kinds (STYLE.md):

- hand-checkable cases: N = 2, L = 1 and MATH.md's numbers t·E[ℓ²] = 6.0 … 80.2; a toy
  whose support points are at Hamming distance 3 (finite ``uniform_t`` variance) or 2
  (infinite); the prior term in closed form;
- reference values with their source: −log p0 from the table (Theorem 3.2), ∫ mdse dt
  of the factorized engine, the definition of ℓ_DSE summed pair by pair (checks.reference), the masked estimators'
  exact moments (``ed.estimator_moments``: every mask enumerated, exact rationals);
- invariants and routes that must agree: oracle limit = NLL for seven processes,
  scores and log-scores, Monte Carlo within a z-bound of the exact moments.

Tolerances: 1e-8 absolute for the oracle limit (the issue's target; measured residuals
are ~1e-14), 1e-9 for quadrature against exact sums, 1e-12 relative for closed forms,
and |z| < 4.5 for Monte Carlo (two-sided ≈ 7e-6 per check, fixed seeds).
"""

import math

import numpy as np
import pytest

import exactdiff as ed
from exactdiff.checks import score_models as score_model_checks
from exactdiff.checks.reference import reference_dse_loss
from exactdiff.score import (
    CorruptedScore,
    DenoiserScore,
    OracleScore,
    as_log_score_model,
    dse_estimator_moments,
    dse_limit,
    dse_moments_table,
    dse_prior_term,
    estimate_dse_nll,
    optimal_proposal,
    variance_divergence,
)
from exactdiff.score.loss import dse_loss_per_rate
from exactdiff.score.states import Enumerator, reachable_states, sample_states

Z_BOUND = 4.5
TOL_LIMIT = 1e-8


def support_rows(p0, k=None):
    rows = np.argwhere(np.asarray(getattr(p0, "table", p0)) > 0)
    return rows if k is None else rows[:k]


@pytest.fixture(scope="module")
def dense():
    return ed.Distribution.dirichlet(3, 3, seed=2)


@pytest.fixture(scope="module")
def sparse():
    return ed.Distribution.paper_toy(K=16, L=4, seed=1)


# ----------------------------------------------------------------------------- the limit
PROCESSES = {
    "uniform, Constant, T=inf": (lambda N: ed.uniform(N), None),
    "uniform, Geometric, T=1": (lambda N: ed.uniform(N, ed.Geometric(1e-4, 20)), 1.0),
    "uniform, Constant, T=6 (prior term)": (lambda N: ed.uniform(N), 6.0),
    "absorbing, Constant, T=inf": (lambda N: ed.absorbing(N), None),
    "absorbing, LogLinear, T=1 (prior term)": (lambda N: ed.absorbing(N, ed.LogLinear()), None),
    "random non-symmetric generator, T=12": (lambda N: ed.ForwardProcess(ed.process.random_generator(N, seed=3)), 12.0),
}


@pytest.mark.parametrize("name", list(PROCESSES))
@pytest.mark.parametrize("toy", ["dense", "sparse"])
def test_oracle_limit_is_nll(name, toy, request):
    """Theorem 3.2: L^T_DSE(x0; s*) + KL(p_T|0 ‖ p_T) = −log p0(x0); with the prior
    KL(p_T|0 ‖ π_T) the value is NLL + [KL(·‖π_T) − KL(·‖p_T)] (0 at σ̄(T) = ∞)."""
    p0 = request.getfixturevalue(toy)
    make, T = PROCESSES[name]
    proc = make(p0.N)
    X0 = support_rows(p0, 4)
    value, info = dse_limit(OracleScore(p0, proc), proc, X0, T=T)
    nll = -np.log(p0.table[tuple(X0.T)])
    gap = 0.0
    if np.isfinite(info["sigma_bar_T"]):
        gap = info["prior"] - ed.pointwise_kl(p0, proc, info["T"])[tuple(X0.T)]
    else:
        assert np.all(info["prior"] == 0.0)
    assert np.max(np.abs(value - nll - gap)) < TOL_LIMIT
    assert info["converged"] and info["model_calls"] == info["nodes"]  # one call per node: the states fit a batch


@pytest.mark.slow
def test_oracle_limit_benchmark_size():
    """The issue's benchmark: N = 4, L = 8 uniform, one x0, 65,536 states per model call
    (about 7 s)."""
    p0 = ed.Distribution.paper_toy(seed=0)
    proc = ed.uniform(4, ed.Geometric(1e-4, 20))
    x0 = support_rows(p0, 1)[0]
    value, info = dse_limit(OracleScore(p0, proc), proc, x0, T=1.0)
    gap = info["prior"] - ed.pointwise_kl(p0, proc, 1.0)[tuple(x0)]
    assert abs(value - p0.nll(tuple(x0)) - gap) < 1e-10
    assert info["rows"] == info["model_calls"] * 4**8


def test_limit_integral_is_the_mdse_integral(dense):
    """Reference: ∫_0^T mdse(x0, t) dt of the factorized engine (ed.mdse_integral)."""
    proc = ed.uniform(3, ed.Geometric(1e-3, 20.0))
    X0 = support_rows(dense)
    _, info = dse_limit(OracleScore(dense, proc), proc, X0, T=0.8)
    ref, _ = ed.mdse_integral(dense, proc, 0.8, pointwise=True)
    np.testing.assert_allclose(info["integral"], ref[tuple(X0.T)], rtol=0, atol=1e-10)


def test_one_and_many_x0_agree(sparse):
    """The single-x0 path (row gathers) and the many-x0 path (one-hot products)."""
    proc = ed.uniform(sparse.N)
    X0 = support_rows(sparse, 3)
    many, _ = dse_limit(CorruptedScore(OracleScore(sparse, proc), proc, 0.1, 1.5), proc, X0, T=5.0)
    one = [dse_limit(CorruptedScore(OracleScore(sparse, proc), proc, 0.1, 1.5), proc, x0, T=5.0)[0] for x0 in X0]
    np.testing.assert_allclose(many, one, rtol=1e-11)


def test_log_score_model_same_limit(dense):
    proc = ed.uniform(3)
    x0 = np.array([2, 0, 1])
    a, _ = dse_limit(OracleScore(dense, proc), proc, x0, T=10.0)
    b, _ = dse_limit(as_log_score_model(OracleScore(dense, proc)), proc, x0, T=10.0)
    assert abs(a - b) < 1e-12


def test_impossible_sequence_has_infinite_nll(sparse):
    proc = ed.uniform(sparse.N)
    x0 = np.argwhere(sparse.table == 0)[0]
    value, _ = dse_limit(OracleScore(sparse, proc), proc, x0, T=4.0)
    assert value == math.inf


def test_denoiser_score_limit_is_dce_integral(sparse):
    """Theorem 3.4 at Λ = 1: the DSE limit of the Lemma 3.3 score of ANY normalised
    denoiser equals its L^1_DCE (ed.estimator_moments' exact time-free mean)."""
    proc = ed.absorbing(sparse.N)
    c = ed.CorruptedDenoiser(ed.OracleDenoiser(sparse), epsilon=0.2, temperature=1.7)
    X0 = support_rows(sparse, 5)
    value, _ = dse_limit(DenoiserScore(c, proc), proc, X0)
    ref = [ed.estimator_moments(c, x0, "time_free").mean for x0 in X0]
    np.testing.assert_allclose(value, ref, rtol=0, atol=1e-9)


def test_imperfect_model_bias_and_variational_bound(dense):
    """A corrupted score's limit differs from the NLL pointwise (either sign allowed),
    and its p0-average is above H(p0) (the variational bound)."""
    proc = ed.uniform(3)
    X0 = support_rows(dense)
    model = CorruptedScore(OracleScore(dense, proc), proc, epsilon=0.1, temperature=1.5)
    value, _ = dse_limit(model, proc, X0, T=12.0)
    w = dense.table[tuple(X0.T)]
    assert float(w @ value) > dense.entropy() + 1e-3
    assert np.max(np.abs(value + np.log(w))) > 1e-3


def test_tail_check_refuses_non_decaying_scores():
    """Absorbing, σ̄(T) = ∞: a constant score does not decay, the integral diverges; a
    finite T is accepted, with the prior term L(1−λ_T) log N."""
    proc = ed.absorbing(2)
    ones = lambda x, s: np.ones(x.shape + (3,))  # noqa: E731
    with pytest.raises(ValueError, match="does not converge for this model"):
        dse_limit(ones, proc, np.array([0, 1]))
    value, info = dse_limit(ones, proc, np.array([0, 1]), T=5.0)
    assert np.isfinite(value) and abs(info["prior"] - 2 * math.exp(-5.0) * math.log(2)) < 1e-15


def test_batching_counts_calls(dense):
    """Every state scored once per node, in calls of at most ``states_per_call`` states."""
    proc = ed.uniform(3)
    calls = []

    def counting(x, s):
        calls.append(x.shape[0])
        return OracleScore(dense, proc)(x, s)

    enum = Enumerator(counting, proc, np.array([[1, 0, 2]]), states_per_call=4096)
    enum.moments(0.5)
    assert calls == [27] and enum.calls == 1 and enum.rows == 27
    assert reachable_states(ed.absorbing(3), np.array([[1, 0, 2]])).shape == (8, 3)


# ----------------------------------------------------------------------------- per-draw loss, prior
@pytest.mark.parametrize("name", ["uniform", "absorbing", "random"])
def test_dse_loss_per_rate_is_dse_loss(name):
    """Reference: the definition, one pair at a time (checks.reference), times σ(t)."""
    proc = {"uniform": ed.uniform(3), "absorbing": ed.absorbing(3),
            "random": ed.ForwardProcess(ed.process.random_generator(3, seed=1))}[name]
    rng = np.random.default_rng(0)
    x0, t = np.array([0, 2, 1]), 0.37
    scores = rng.uniform(0.2, 3, size=(proc.n,) * 3 + (3, proc.n))
    x = sample_states(proc, x0, np.full(30, proc.total(t)), rng)
    mine = proc.rate(t) * dse_loss_per_rate(scores[tuple(x.T)], proc, np.full(30, proc.total(t)), x0, x)
    ref = [reference_dse_loss(scores, proc, t, tuple(x0), tuple(row)) for row in x]
    np.testing.assert_allclose(mine, ref, rtol=1e-13)
    with pytest.raises(ValueError, match=r"`x`=\[1, 0\] cannot be reached from `x0`=\[0, 0\] \(row 0\)"):
        dse_loss_per_rate(np.ones((1, 2, 3)), ed.absorbing(2), np.array([0.5]), np.array([0, 0]), np.array([[1, 0]]))


def test_prior_closed_forms():
    L, N, sb = 3, 4, 0.8
    lam = -math.expm1(-sb)
    x0 = np.array([0, 3, 1])
    assert abs(dse_prior_term(ed.absorbing(N), sb, x0) - L * (1 - lam) * math.log(N)) < 1e-14
    k = ed.process.uniform_kernel(N, sb)
    direct = L * float(np.sum(k[:, 0] * np.log(N * k[:, 0])))
    assert abs(dse_prior_term(ed.uniform(N), sb, x0) - direct) < 1e-14
    assert dse_prior_term(ed.uniform(N), math.inf, x0) == 0.0
    np.testing.assert_array_equal(dse_prior_term(ed.uniform(N), 40.0, np.array([x0, x0])) >= 0, True)


def test_states_are_drawn_from_the_kernel():
    """x ~ p_{σ̄|0}(·|x0) token-wise: the frequency of each token within 4.5 s.e."""
    proc = ed.uniform(3)
    rng = np.random.default_rng(3)
    x0 = np.array([2, 0])
    x = sample_states(proc, x0, np.full(20000, 0.7), rng)
    k = proc.kernels(np.float64(0.7))
    for i, a in enumerate(x0):
        freq = np.bincount(x[:, i], minlength=3) / len(x)
        se = np.sqrt(k[:, a] * (1 - k[:, a]) / len(x))
        assert np.all(np.abs(freq - k[:, a]) < Z_BOUND * se)


# ----------------------------------------------------------------------------- moments
def test_uniform_lambda_is_the_masked_time_integral(sparse):
    """Absorbing, σ̄(T) = ∞, Lemma 3.3 score: λ ~ U(ε, 1) and one draw (1 − ε)ℓ_DCE/λ, so
    mean, variance (inf included), raw moments and cut-off bias are exactdiff's
    time-integral moments (every mask enumerated, exact rationals)."""
    proc = ed.absorbing(sparse.N)
    X0 = support_rows(sparse)
    n_inf = 0
    for den in (ed.OracleDenoiser(sparse), ed.CorruptedDenoiser(ed.OracleDenoiser(sparse), 0.1, 1.5)):
        for eps in (0.0, 1e-3):
            tab = dse_moments_table(DenoiserScore(den, proc), proc, X0, ["uniform_lambda"],
                                    t_min=-math.log1p(-eps), optimal=False)
            for x0, m in zip(X0, tab["moments"]["uniform_lambda"]):
                ref = ed.estimator_moments(den, x0, "time_integral", eps=eps)
                assert abs(m.mean - ref.mean) < 1e-9 and abs(m.cutoff_bias - ref.cutoff_bias) < 1e-12
                if math.isinf(ref.variance):
                    assert math.isinf(m.variance) and "Var = inf" in m.note
                    n_inf += 1
                    continue
                assert abs(m.variance - ref.variance) < 1e-9 * ref.variance
                if eps > 0:
                    np.testing.assert_allclose(m.raw, ref.raw, rtol=1e-9)
    assert 0 < n_inf < 2 * len(X0)  # finite and infinite variances both occur on this toy


def test_divergence_hand_toy():
    """N = 2, L = 3, support {000, 111} (Hamming distance 3): for the oracle under the
    uniform process no other support point lies within distance 2, so t ~ U(0, T) has
    FINITE variance; adding 011 (distance 2 from 000) makes it infinite for x0 = 000."""
    far = np.zeros((2, 2, 2))
    far[0, 0, 0], far[1, 1, 1] = 0.6, 0.4
    near = far.copy()
    near[0, 1, 1], near[0, 0, 0] = 0.2, 0.4
    proc = ed.uniform(2)
    x0 = np.array([0, 0, 0])
    m_far = dse_estimator_moments(OracleScore(far, proc), proc, x0, "uniform_t", T=10.0)
    m_near = dse_estimator_moments(OracleScore(near, proc), proc, x0, "uniform_t", T=10.0)
    assert np.isfinite(m_far.variance) and "Var = inf" not in m_far.note
    assert math.isinf(m_near.variance) and "distance 2" in m_near.note
    gap = dse_prior_term(proc, proc.total(10.0), x0) - ed.pointwise_kl(far, proc, 10.0)[0, 0, 0]
    assert abs(m_far.mean + math.log(0.6) - gap) < 1e-8
    # the exact route (table) and the numeric one (σ̄·E[h²] at σ̄ = 1e-30) agree
    wrapped = lambda x, s: OracleScore(far, proc)(x, s)  # noqa: E731
    assert variance_divergence(wrapped, proc, x0)[:3:2] == (False, "numeric")
    wrapped_near = lambda x, s: OracleScore(near, proc)(x, s)  # noqa: E731
    assert variance_divergence(wrapped_near, proc, x0)[:3:2] == (True, "numeric")
    # an imperfect model diverges for every x0
    bad = CorruptedScore(OracleScore(far, proc), proc, 0.1, 1.5)
    assert variance_divergence(bad, proc, x0)[0]
    assert math.isinf(dse_estimator_moments(bad, proc, x0, "uniform_t", T=10.0).variance)
    # the power law and a cut-off stay finite
    assert np.isfinite(dse_estimator_moments(bad, proc, x0, "power", T=10.0).variance)
    assert np.isfinite(dse_estimator_moments(bad, proc, x0, "uniform_t", T=10.0, t_min=1e-3).variance)


def test_small_noise_coefficient_formula(sparse):
    """σ̄·E[h²|σ̄] → κ(σ̄) = (1/N)[Σ_{x∈N1∩supp} (log(1/σ̄) + log(N p0(x)/p0(x0)) − 1)²
    + Σ_{x∈N1∖supp} log²(P1(x)/p0(x0))] for the uniform oracle (the derivation in
    the module docstring of dse_likelihood / README)."""
    T, N, L = sparse.table, sparse.N, sparse.L
    proc = ed.uniform(N)
    eps = 1e-12
    for x0 in support_rows(sparse, 6):
        kappa = 0.0
        for j in range(L):
            for w in range(N):
                if w == x0[j]:
                    continue
                x = x0.copy()
                x[j] = w
                if T[tuple(x)] > 0:
                    kappa += (math.log(1 / eps) + math.log(N * T[tuple(x)] / T[tuple(x0)]) - 1) ** 2
                else:
                    P1 = sum(T[tuple(np.where(np.arange(L) == jj, ww, x))]
                             for jj in range(L) for ww in range(N) if ww != x[jj])
                    kappa += math.log(P1 / T[tuple(x0)]) ** 2
        got = eps * Enumerator(OracleScore(sparse, proc), proc, x0[None]).moments(eps, 2)[1, 0]
        assert abs(got - kappa / N) < 1e-6 * max(1.0, kappa)


def test_math_md_numbers_n2_l1():
    """MATH.md: t·E[ℓ²] = 6.0, 16.6, 32.5, 53.7, 80.2 at t = 1e-2 … 1e-6 (N = 2, L = 1,
    constant rate 1), reproduced with p0 = (0.7, 0.3) and x0 = 0 (the likelier token);
    the closed form is ½(log(1/t) + log(2·0.3/0.7) − 1)² + o(1)."""
    p0 = np.array([0.7, 0.3])
    proc = ed.uniform(2)
    e = Enumerator(OracleScore(p0, proc), proc, np.array([[0]]))
    got = [t * e.moments(t, 2)[1, 0] for t in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)]
    np.testing.assert_allclose(np.round(got, 1), [6.0, 16.6, 32.5, 53.7, 80.2], atol=0)


def test_optimal_proposal(dense):
    proc = ed.uniform(3)
    x0 = np.array([1, 0, 2])
    opt = optimal_proposal(OracleScore(dense, proc), proc, x0, T=8.0)
    for law in ("uniform_t", "uniform_lambda", "power"):
        m = dse_estimator_moments(OracleScore(dense, proc), proc, x0, law, T=8.0, t_min=1e-6)
        assert opt["variance"] <= m.variance
    # q* is a density over σ̄ on [0, σ̄(T)] (trapezoid on the node grid) and over t
    assert abs(np.trapezoid(opt["q_sbar"], opt["sbar"]) - 1) < 1e-2
    assert abs(np.trapezoid(opt["q_t"], opt["t"]) - 1) < 1e-2


# ----------------------------------------------------------------------------- Monte Carlo
MC_CASES = [
    ("uniform", "power", 0.0), ("uniform", "uniform_t", 0.05), ("uniform", "log_sigma", 0.05),
    ("uniform", "uniform_lambda", 0.01), ("absorbing", "power", 0.0), ("absorbing", "uniform_t", 0.02),
    ("absorbing", "uniform_lambda", 0.02),
]


@pytest.mark.parametrize("kind,law,t_min", MC_CASES)
def test_mc_within_z_bound(kind, law, t_min, dense):
    """20,000 seeded draws: the mean within 4.5 s.e. of the exact mean, the sample
    variance within 4.5 s.e. (from the exact fourth moment) of the exact variance, and the
    reported cut-off bias the exact one."""
    proc = ed.uniform(3, ed.Geometric(1e-4, 20)) if kind == "uniform" else ed.absorbing(3, ed.LogLinear())
    model = OracleScore(dense, proc)
    x0 = np.array([1, 0, 2])
    m = dse_estimator_moments(model, proc, x0, law, T=1.0, t_min=t_min)
    est = estimate_dse_nll(model, proc, x0, law, 20000, np.random.default_rng(7), T=1.0, t_min=t_min)
    assert abs(est.estimate - m.mean) < Z_BOUND * m.stderr(est.n)
    assert abs(est.cutoff_bias - m.cutoff_bias) < 1e-9 and (t_min == 0) == (m.cutoff_bias == 0)
    assert np.all(np.isfinite(m.raw))
    sv = np.var(est.samples, ddof=1)
    assert abs(sv - m.variance) < Z_BOUND * m.variance_stderr(est.n)


def test_cutoff_bias_is_the_missing_head(dense):
    proc = ed.uniform(3)
    x0 = np.array([1, 0, 2])
    full = dse_estimator_moments(OracleScore(dense, proc), proc, x0, "power", T=8.0)
    cut = dse_estimator_moments(OracleScore(dense, proc), proc, x0, "power", T=8.0, t_min=0.01)
    assert abs(cut.mean - full.mean - cut.cutoff_bias) < 1e-9 and cut.cutoff_bias < 0


def _brute_moment(p0, proc, x0, law, T, t_min, r):
    """E[(D − prior)^r] of a σ̄ law from scratch: E[h^r | σ̄] by listing every state with the
    definition of ℓ_DSE (checks.reference, the concrete score of the factorized engine),
    and scipy's quad over σ̄ of E[h^r | σ̄]/q^{r−1} — no enumerator, no GK15."""
    from scipy.integrate import quad

    from exactdiff.score.laws import sigma_law, window

    L, n = p0.L, proc.n
    w = window(proc, T, t_min)
    prop = sigma_law(law, proc)
    states = list(np.ndindex(*(n,) * L))

    def cond(sbar):
        t = proc.schedule.time_of_total(sbar)
        scores = ed.concrete_score(p0, proc, t)
        k = proc.kernels(np.float64(sbar))
        total = 0.0
        for x in states:
            px = math.prod(k[x[i], x0[i]] for i in range(L))
            if px > 0:
                h = reference_dse_loss(scores, proc, t, tuple(x0), x) / proc.rate(t)
                total += px * h**r
        return total / float(prop.inv_density(w, sbar)) ** (1 - r)

    lo, hi = math.log(w.s_lo), math.log(w.s_hi)
    value, _ = quad(lambda u: cond(math.exp(u)) * math.exp(u), lo, hi, epsabs=0, epsrel=1e-11, limit=200)
    return value


def test_moments_table_against_brute_force():
    """Several laws and windows in one pass against an independent route on a tiny toy
    (N = 2, L = 2): every state listed with the definition of ℓ_DSE, scipy's quad over σ̄."""
    p0 = ed.Distribution.dirichlet(2, 2, seed=4)
    proc = ed.uniform(2, ed.Geometric(1e-4, 20))
    model = OracleScore(p0, proc)
    X0 = support_rows(p0, 1)
    laws = [("cut", "uniform_t", {"t_min": 1e-2}), ("ls", "log_sigma", {"t_min": 1e-2, "T": 0.5}),
            ("pw", "power", {"t_min": 1e-2})]
    tab = dse_moments_table(model, proc, X0, laws, T=1.0, optimal=False)
    for label, law, opts in laws:
        T, t_min = opts.get("T", 1.0), opts["t_min"]
        for x0, m in zip(X0, tab["moments"][label]):
            prior = dse_prior_term(proc, proc.total(T), x0)
            mean = _brute_moment(p0, proc, x0, law, T, t_min, 1)
            second = _brute_moment(p0, proc, x0, law, T, t_min, 2)
            fourth = _brute_moment(p0, proc, x0, law, T, t_min, 4)
            assert abs(m.mean - (mean + prior)) < 1e-9 * max(1.0, abs(mean))
            assert abs(m.variance - (second - mean**2)) < 1e-8 * second
            y4 = m.raw[3] - 4 * prior * m.raw[2] + 6 * prior**2 * m.raw[1] - 4 * prior**3 * m.raw[0] + prior**4
            assert abs(y4 - fourth) < 1e-6 * fourth  # E[Y^4] rides on the others' nodes
    assert tab["cost"]["converged"] and tab["cost"]["model_calls"] == tab["cost"]["nodes"]


# ----------------------------------------------------------------------------- the verify row
def test_check_score_model_limit_passes_and_can_fail(monkeypatch):
    p0 = ed.Distribution.dirichlet(3, 3, seed=0, zero_fraction=0.2)
    results = score_model_checks.check_score_model_limit(p0)
    assert len(results) == 4 and all(r.passed for r in results), [r.rel_err for r in results]
    real = score_model_checks.dse_limit

    def off(*args, **kwargs):  # the limit off by a relative 1e-8
        value, info = real(*args, **kwargs)
        return value * (1 + 1e-8), dict(info, integral=info["integral"] * (1 + 1e-8))

    monkeypatch.setattr(score_model_checks, "dse_limit", off)
    assert not any(r.passed for r in score_model_checks.check_score_model_limit(p0))


# ----------------------------------------------------------------------------- the figure
def test_figure_on_a_small_toy(tmp_path):
    """The study's figure draws on any toy and returns the plotted numbers: the oracle's
    ``power`` means are the NLL up to the finite-T bracket, q* is the smallest variance."""
    from exactdiff.figures.dse_variance import DSE_FIGURES, dse_estimator_variance_figure

    p0 = ed.Distribution.paper_toy(K=6, L=3, alphabet="AB", seed=2)
    res = dse_estimator_variance_figure(str(tmp_path / "f.png"), p0=p0, label="K=6 toy")
    assert (tmp_path / "f.png").stat().st_size > 10_000
    panel = res["panels"][("uniform", "oracle")]
    np.testing.assert_allclose(panel["limit"], panel["nll"], rtol=0, atol=1e-8)
    for key in (("uniform", "oracle"), ("absorbing", "imperfect")):
        var = res["panels"][key]["variance"]
        assert all(np.all(var["optimal"] <= v * (1 + 1e-9)) for k, v in var.items())
    assert list(DSE_FIGURES) == ["dse_estimator_variance"]


# ----------------------------------------------------------------------------- bad input
def test_bad_input():
    p0 = ed.Distribution.dirichlet(3, 2, seed=0)
    proc = ed.uniform(3)
    model = OracleScore(p0, proc)
    rng = np.random.default_rng(0)
    x0 = np.array([0, 1])
    with pytest.raises(ValueError, match=r"`x0` must have length L=2 for this model \(got length 3\)"):
        dse_limit(model, proc, np.array([0, 1, 2]), T=5.0)
    with pytest.raises(ValueError, match=r"`x0` must hold tokens in 0..2 \(got values in 0..3\)"):
        dse_limit(model, proc, np.array([0, 3]), T=5.0)
    with pytest.raises(ValueError, match=r"`x0` must be an integer sequence of shape \(L,\)"):
        estimate_dse_nll(model, proc, np.array([[0, 1]]), "power", 10, rng, T=5.0)
    with pytest.raises(ValueError, match=r"`n` must be an integer >= 2 \(got 1\)"):
        estimate_dse_nll(model, proc, x0, "power", 1, rng, T=5.0)
    with pytest.raises(ValueError, match=r"`law` must be one of \['log_sigma', 'power', 'uniform_lambda', "
                                         r"'uniform_t'\] \(got 'nope'\)"):
        estimate_dse_nll(model, proc, x0, "nope", 10, rng, T=5.0)
    with pytest.raises(ValueError, match=r"`rng` must be a numpy.random.Generator or an integer seed"):
        estimate_dse_nll(model, proc, x0, "power", 10, "seed", T=5.0)
    with pytest.raises(ValueError, match=r"law 'log_sigma' needs `t_min` > 0 and a finite σ̄\(T\)"):
        dse_estimator_moments(model, proc, x0, "log_sigma", T=5.0)
    with pytest.raises(ValueError, match=r"law 'uniform_t' needs a finite `T`"):
        dse_estimator_moments(model, proc, x0, "uniform_t")
    with pytest.raises(ValueError, match=r"`alpha` and `rho` apply to law='power' only"):
        dse_estimator_moments(model, proc, x0, "uniform_t", T=5.0, alpha=0.5)
    with pytest.raises(ValueError, match=r"`rho` must lie in \[0, 1\) \(got 1.0\)"):
        estimate_dse_nll(model, proc, x0, "power", 10, rng, T=5.0, rho=1.0)
    with pytest.raises(ValueError, match=r"`T` must lie in \(0, 1.0\] for LogLinear\(eps=0.001\) \(got 2.0\)"):
        dse_limit(model, ed.uniform(3, ed.LogLinear()), x0, T=2.0)
    with pytest.raises(ValueError, match=r"`t_min` must lie in \[0, T\) = \[0, 5.0\) \(got 5.0\)"):
        estimate_dse_nll(model, proc, x0, "power", 10, rng, T=5.0, t_min=5.0)
    with pytest.raises(ValueError, match=r"`states_per_call` must be >= 4096 states per model call \(got 100\)"):
        dse_limit(model, proc, x0, T=5.0, states_per_call=100)
    negative = lambda x, s: np.full(x.shape + (3,), -1.0)  # noqa: E731
    with pytest.raises(ValueError, match=r"got score -1.0 at row 0, position 0, token 1"):
        estimate_dse_nll(negative, proc, x0, "power", 10, rng, T=5.0)
    with pytest.raises(ValueError, match="must be a token-wise ForwardProcess"):
        OracleScore(p0, ed.process.FullSpaceProcess(ed.process.random_full_space_generator(3, 2), 3, 2))
