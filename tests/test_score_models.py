"""Tests of the score-model protocol, the built-in score models and the SEDD adapter.

Three kinds (STYLE.md): hand-checkable cases (SEDD's loss at N = 2, L = 1; closed-form
kernels), reference values with their source (the factorized engine's concrete score,
``ed.dse_loss`` summed pair by pair, the Lemma 3.3 score of ``checks.masked``), and
independent routes (the oracle's table and support routes, scores and log-scores).
Tolerances: 1e-13 relative between two exact float routes of a ratio, 1e-12 for sums of
a few terms.
"""

import math
import sys
import textwrap

import numpy as np
import pytest

import exactdiff as ed
from exactdiff.adapters import SEDDGeometric, sedd_score_entropy, sedd_score_model
from exactdiff.checks.masked import denoiser_score, random_denoiser_table
from exactdiff.checks.score_models import check_sedd_adapter
from exactdiff.information import (
    CorruptedScore,
    DenoiserScore,
    OracleScore,
    as_log_score_model,
    dse_loss_per_rate,
    evaluate_score_model,
    import_callable,
    load_score_model,
)
from exactdiff.information.dse_likelihood import _sample_states
from exactdiff.information.score_models import (
    reference_scores,
    score_entry_weights,
    token_kernels,
)
from exactdiff.masked import CorruptedDenoiser, OracleDenoiser, TableDenoiser

PROCESSES = {
    "uniform": lambda N: ed.uniform(N),
    "absorbing": lambda N: ed.absorbing(N),
    "random non-symmetric": lambda N: ed.ForwardProcess(ed.process.random_generator(N, seed=3)),
}


def all_states(n, L):
    return np.stack(np.unravel_index(np.arange(n**L), (n,) * L), axis=1)


@pytest.fixture(scope="module")
def sparse():
    return ed.Distribution.paper_toy(K=9, L=3, alphabet="ABC", seed=1)


# ----------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("name", list(PROCESSES))
def test_token_kernels_match_the_process(name):
    """Closed forms (uniform, absorbing) and expm (general) against ForwardProcess.kernel."""
    proc = PROCESSES[name](3)
    sbar = np.array([1e-6, 0.3, 2.0, 30.0])
    k = token_kernels(proc, sbar)
    for j, s in enumerate(sbar):
        ref = proc.kernel(proc.schedule.time_of_total(s))
        np.testing.assert_allclose(k[j], ref, rtol=0, atol=1e-14)


# ----------------------------------------------------------------------------- the oracle
@pytest.mark.parametrize("name", list(PROCESSES))
def test_oracle_score_is_the_concrete_score(name, sparse):
    """Reference: ed.concrete_score (neighbour form, factorized engine), at every state and
    used entry where p_t(x) > 0; both routes of OracleScore (one σ̄ for all rows: the
    marginal table; σ̄ varying by row: the sum over the support of p0)."""
    proc = PROCESSES[name](sparse.N)
    model = OracleScore(sparse, proc)
    x = all_states(proc.n, sparse.L)
    times = np.where(np.arange(len(x)) % 2 == 0, 0.37, 1.3)
    got_rows = model(x, np.array([proc.total(t) for t in times]))
    for t in (0.37, 1.3):
        ref = ed.concrete_score(sparse, proc, t).reshape(-1, sparse.L, proc.n)
        pt = ed.marginal(sparse, proc, t).ravel()
        used = (score_entry_weights(proc)[x] > 0) & (pt > 0)[:, None, None]
        got_table = model(x, np.full(len(x), proc.total(t)))
        np.testing.assert_allclose(got_table[used], ref[used], rtol=1e-13, atol=0)
        rows = used & (times == t)[:, None, None]
        np.testing.assert_allclose(got_rows[rows], ref[rows], rtol=1e-13, atol=0)


def test_oracle_score_zero_where_the_neighbour_is_impossible(sparse):
    """Absorbing process, sparse table: p_t(y) = 0 gives an exact 0 score (allowed)."""
    proc = ed.absorbing(sparse.N)
    model = OracleScore(sparse, proc)
    assert model.allows_zero and not OracleScore(sparse, ed.uniform(sparse.N)).allows_zero
    x = all_states(proc.n, sparse.L)
    s = evaluate_score_model(model, proc, np.full(len(x), 0.5), x)
    assert np.any(s == 0) and np.all(s >= 0)


def test_oracle_score_single_token_losses(sparse):
    """ℓ_j = −log p0(x0^j | x0^{−j}) against Distribution.conditional."""
    model = OracleScore(sparse, ed.absorbing(sparse.N))
    x0 = np.argwhere(sparse.table > 0)[0]
    for j, lj in enumerate(model.single_token_losses(x0)):
        visible = [i for i in range(sparse.L) if i != j]
        ref = -math.log(sparse.conditional(tuple(x0), j, visible)[x0[j]])
        assert abs(lj - ref) < 1e-13


# ----------------------------------------------------------------------------- validation
def _model_returning(value, n=3):
    def model(x, s):
        out = np.ones(x.shape + (n,))
        out[-1, 1, 1] = value
        return out
    return model


@pytest.mark.parametrize("value", [0.0, -1.0, np.nan, np.inf])
def test_validation_names_the_first_bad_entry(value):
    proc = ed.uniform(3)
    x = np.zeros((4, 2), dtype=int)
    with pytest.raises(ValueError) as err:
        evaluate_score_model(_model_returning(value), proc, np.full(4, 0.5), x)
    assert str(err.value) == (f"the score model must return finite scores > 0 at every used entry; got score "
                              f"{float(value)!r} at row 3, position 1, token 1 (sigma_bar=0.5, x=[0, 0]).")


def test_validation_other_errors():
    proc = ed.uniform(3)
    x = np.zeros((4, 2), dtype=int)
    ok = lambda x, s: np.ones(x.shape + (3,))  # noqa: E731
    with pytest.raises(ValueError, match=r"must return shape \(B, L, n\) = \(4, 2, 3\) \(got \(4, 2, 2\)\)"):
        evaluate_score_model(lambda x, s: np.ones((4, 2, 2)), proc, np.full(4, 0.5), x)
    logm = lambda x, s: np.full(x.shape + (3,), np.nan)  # noqa: E731
    logm.log_scores = True
    with pytest.raises(ValueError, match="finite log-scores at every used entry; got log-score nan at row 0"):
        evaluate_score_model(logm, proc, np.full(4, 0.5), x)
    with pytest.raises(ValueError, match=r"`sigma_bar` must be finite and > 0 \(got sigma_bar\[1\] = 0.0\)"):
        evaluate_score_model(ok, proc, np.array([0.5, 0.0, 1.0, 1.0]), x)
    with pytest.raises(ValueError, match=r"`sigma_bar` must be finite and > 0 \(got sigma_bar\[2\] = nan\)"):
        evaluate_score_model(ok, proc, np.array([0.5, 1.0, np.nan, 1.0]), x)
    with pytest.raises(ValueError, match=r"`sigma_bar` must have shape \(B,\) = \(4,\)"):
        evaluate_score_model(ok, proc, np.full(3, 0.5), x)
    with pytest.raises(ValueError, match=r"`sigma_bar` must lie in the schedule's range \(0, 6.90776\] of "
                                         r"LogLinear\(eps=0.001\) \(got sigma_bar\[0\] = 50\)"):
        evaluate_score_model(ok, ed.uniform(3, ed.LogLinear()), np.full(4, 50.0), x)
    with pytest.raises(ValueError, match=r"`x` must hold tokens in 0..2 \(got values in 0..3\)"):
        evaluate_score_model(ok, proc, np.full(1, 0.5), np.array([[0, 3]]))


def test_validation_ignores_unused_entries():
    """v = x^i (uniform), and unmasked positions and the mask column (absorbing), are not
    used: zeros and NaN there are accepted and replaced by 1."""
    proc = ed.uniform(3)
    x = np.array([[0, 2], [1, 1]])
    diag_bad = lambda x, s: np.where(np.arange(3) == x[..., None], np.nan, 2.0)  # noqa: E731
    s = evaluate_score_model(diag_bad, proc, np.full(2, 0.5), x)
    assert np.all(s[np.arange(3) == x[..., None]] == 1.0) and np.all(s[np.arange(3) != x[..., None]] == 2.0)
    proc = ed.absorbing(2)
    x = np.array([[0, 2], [2, 1]])  # mask id 2

    def masked_only(x, s):
        out = np.zeros(x.shape + (3,))
        out[x == 2, :2] = 0.5
        return out

    s = evaluate_score_model(masked_only, proc, np.full(2, 0.5), x)
    assert np.all(s[x == 2, :2] == 0.5) and np.all(s[x != 2] == 1.0)


def test_zero_scores_need_allows_zero():
    proc = ed.uniform(3)
    x = np.zeros((4, 2), dtype=int)
    with pytest.raises(ValueError, match="> 0 at every used entry"):
        evaluate_score_model(_model_returning(0.0), proc, np.full(4, 0.5), x)
    s = evaluate_score_model(_model_returning(0.0), proc, np.full(4, 0.5), x, allow_zero=True)
    assert s[-1, 1, 1] == 0.0


def test_log_scores_route_equals_scores(sparse):
    proc = ed.uniform(sparse.N)
    x = all_states(proc.n, sparse.L)
    sb = np.linspace(0.01, 3.0, len(x))
    a = evaluate_score_model(OracleScore(sparse, proc), proc, sb, x)
    b = evaluate_score_model(as_log_score_model(OracleScore(sparse, proc)), proc, sb, x)
    np.testing.assert_allclose(a, b, rtol=1e-14, atol=0)
    raw = lambda x, s: np.log(OracleScore(sparse, proc)(x, s))  # noqa: E731
    c = evaluate_score_model(raw, proc, sb, x, log_scores=True)
    np.testing.assert_allclose(a, c, rtol=1e-14, atol=0)


# ----------------------------------------------------------------------------- other models
def test_corrupted_score_identity_and_limits(sparse):
    proc = ed.uniform(sparse.N)
    base = OracleScore(sparse, proc)
    x = np.array([[0, 1, 2], [2, 2, 0]])
    s = np.array([0.3, 1.1])
    np.testing.assert_allclose(CorruptedScore(base, proc)(x, s), base(x, s), rtol=1e-15)
    ref = reference_scores(proc, s, x)
    np.testing.assert_allclose(CorruptedScore(base, proc, epsilon=1.0)(x, s), ref, rtol=1e-15)
    assert np.all(ref == 1.0)
    with pytest.raises(ValueError, match=r"`epsilon` must lie in \[0, 1\] \(got 1.5\)"):
        CorruptedScore(base, proc, epsilon=1.5)
    with pytest.raises(ValueError, match=r"`temperature` must be a finite number > 0 \(got 0\)"):
        CorruptedScore(base, proc, temperature=0)


def test_reference_scores_absorbing_closed_form():
    """((1−λ)/λ)/N on unmasking moves of the absorbing process."""
    proc = ed.absorbing(4)
    x = np.array([[4, 1]])
    ref = reference_scores(proc, np.array([0.7]), x)
    lam = -math.expm1(-0.7)
    np.testing.assert_allclose(ref[0, 0, :4], (1 - lam) / lam / 4, rtol=1e-14)


def test_denoiser_score_is_lemma_3_3():
    """Reference: checks.masked.denoiser_score (the Lemma 3.3 score in neighbour form)."""
    N, L, lam = 2, 3, 0.35
    table = random_denoiser_table(N, L, seed=4)
    proc = ed.absorbing(N)
    model = DenoiserScore(TableDenoiser(table), proc)
    x = all_states(N + 1, L)
    got = model(x, np.full(len(x), -math.log1p(-lam)))
    ref = denoiser_score(table, lam).reshape(-1, L, N + 1)
    used = score_entry_weights(proc)[x] > 0
    np.testing.assert_allclose(got[used], ref[used], rtol=1e-14)
    with pytest.raises(ValueError, match="must be the absorbing process"):
        DenoiserScore(TableDenoiser(table), ed.uniform(N))


def test_denoiser_score_dse_is_dce():
    """Lemma 3.3 per draw: h = ((1−λ)/λ)·ℓ_DCE for any normalised denoiser."""
    N, L = 3, 3
    p0 = ed.Distribution.dirichlet(N, L, seed=1)
    den = CorruptedDenoiser(OracleDenoiser(p0), 0.2, 1.7)
    proc = ed.absorbing(N)
    rng = np.random.default_rng(0)
    x0 = np.array([2, 0, 1])
    sbar = rng.uniform(0.05, 3.0, size=50)
    x = _sample_states(proc, x0, sbar, rng)
    h = dse_loss_per_rate(DenoiserScore(den, proc)(x, sbar), proc, sbar, x0, x)
    lam = -np.expm1(-sbar)
    dce = ed.dce_loss(den, np.broadcast_to(x0, x.shape), x)
    np.testing.assert_allclose(h, (1 - lam) / lam * dce, rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------- loading
def test_load_score_model_builtins(sparse):
    proc = ed.uniform(sparse.N)
    assert isinstance(load_score_model("oracle", sparse, proc), OracleScore)
    c = load_score_model("corrupted", sparse, proc, epsilon=0.2, temperature=2.0)
    assert isinstance(c, CorruptedScore) and (c.epsilon, c.temperature) == (0.2, 2.0)
    assert isinstance(load_score_model("corrupted_denoiser", sparse, ed.absorbing(sparse.N)), DenoiserScore)
    with pytest.raises(ValueError, match=r"`spec` must be one of \['corrupted', 'corrupted_denoiser', 'oracle'\] "
                                         r"or an import path 'module:callable' \(got 'nope'\)"):
        load_score_model("nope", sparse, proc)
    with pytest.raises(ValueError, match="the built-in score model 'oracle' needs `p0` and `process`"):
        load_score_model("oracle")


def test_load_score_model_import_path(tmp_path, monkeypatch):
    (tmp_path / "my_scores_i12.py").write_text(textwrap.dedent("""
        import numpy as np
        def flat(x, sigma_bar):
            return np.zeros(x.shape + (3,))
        not_callable = 3
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    model = load_score_model("my_scores_i12:flat", log_scores=True)
    s = evaluate_score_model(model, ed.uniform(3), np.array([0.5]), np.array([[0, 1]]))
    assert np.all(s == 1.0)
    with pytest.raises(ValueError, match=r"score model 'my_scores_i12:missing': the module 'my_scores_i12' \(.*\) "
                                         r"has no attribute 'missing'\."):
        load_score_model("my_scores_i12:missing")
    with pytest.raises(ValueError, match=r"score model 'my_scores_i12:not_callable': 'not_callable' is a int, "
                                         r"not a callable\."):
        load_score_model("my_scores_i12:not_callable")
    with pytest.raises(ValueError, match=r"score model 'no_module_i12:f': the module 'no_module_i12' could not be "
                                         r"imported \(ModuleNotFoundError"):
        load_score_model("no_module_i12:f")
    with pytest.raises(ValueError, match=r"denoiser 'a:b:c' must be an import path 'module:callable'"):
        import_callable("a:b:c", what="denoiser")
    sys.modules.pop("my_scores_i12", None)


# ----------------------------------------------------------------------------- SEDD
@pytest.mark.parametrize("graph", ["uniform", "absorbing"])
def test_sedd_adapter_equals_dse(graph):
    """ℓ_DSE = σ(t)·Σ_i sedd_score_entropy(log s, σ̄, x, x0)[i] for random log-scores, at
    σ̄ from 1e-4 to 8 (against this package's per-draw loss, and on a schedule)."""
    rng = np.random.default_rng(1)
    N, L, B = 4, 5, 400
    proc = ed.uniform(N) if graph == "uniform" else ed.absorbing(N)
    x0 = rng.integers(0, N, size=L)
    sbar = rng.exponential(size=B) * rng.choice([1e-4, 1.0, 8.0], size=B)
    x = _sample_states(proc, x0, sbar, rng)
    ls = rng.normal(size=(B, L, proc.n))
    X0 = np.broadcast_to(x0, (B, L))
    per = sedd_score_entropy(ls, sbar, x, X0, graph)
    assert per.shape == (B, L)
    h = dse_loss_per_rate(np.exp(ls), proc, sbar, x0, x)
    np.testing.assert_allclose(per.sum(axis=1), h, rtol=1e-12, atol=1e-12)
    # with the rate, on SEDD's geometric schedule (shifted): ℓ_DSE(t) = σ(t) Σ_i loss
    sched = ed.Geometric(1e-4, 20.0)
    proc_s = ed.uniform(N, sched) if graph == "uniform" else ed.absorbing(N, sched)
    sb = np.full(B, sched.total(0.3))
    xs = _sample_states(proc_s, x0, sb, rng)
    lhs = sched.rate(0.3) * dse_loss_per_rate(np.exp(ls), proc_s, sb, x0, xs)
    rhs = sched.rate(0.3) * sedd_score_entropy(ls, sb[:, None], xs, X0, graph).sum(axis=1)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12)


def test_sedd_check_passes():
    results = check_sedd_adapter()
    assert len(results) == 2 and all(r.passed for r in results), [r.rel_err for r in results]


def test_sedd_adapter_hand_case():
    """Uniform, N = 2, L = 1, x = x0, log-score 0: loss = (1/2)·1 + (1/2)K(ρ),
    ρ = (e^σ̄ − 1)/(e^σ̄ + 1), K(ρ) = ρ(log ρ − 1); absorbing, masked, log-scores 0:
    N − ρ·0 + K(ρ) with ρ = 1/(e^σ̄ − 1)."""
    sb = 0.7
    rho = math.expm1(sb) / (math.expm1(sb) + 2)
    got = sedd_score_entropy(np.zeros((1, 1, 2)), [sb], [[0]], [[0]], "uniform")
    assert abs(got[0, 0] - (0.5 + 0.5 * rho * (math.log(rho) - 1))) < 1e-15
    rho = 1 / math.expm1(sb)
    got = sedd_score_entropy(np.zeros((1, 1, 3)), [sb], [[2]], [[1]], "absorbing")
    assert abs(got[0, 0] - (2 + rho * (math.log(rho) - 1))) < 1e-15


def test_sedd_adapter_bad_input():
    with pytest.raises(ValueError, match=r"`graph` must be one of"):
        sedd_score_entropy(np.zeros((1, 1, 2)), [0.5], [[0]], [[0]], "masked")
    with pytest.raises(ValueError, match=r"`x`=\[1\] cannot be reached from `x0`=\[0\] under the absorbing graph"):
        sedd_score_entropy(np.zeros((1, 1, 3)), [0.5], [[1]], [[0]], "absorbing")
    with pytest.raises(ValueError, match=r"`sigma_bar` must be finite and > 0"):
        sedd_score_entropy(np.zeros((1, 1, 2)), [0.0], [[0]], [[0]], "uniform")
    with pytest.raises(ValueError, match=r"`log_score` must be finite \(got nan at row 0, position 0, token 1\)"):
        sedd_score_entropy(np.array([[[0.0, np.nan]]]), [0.5], [[0]], [[0]], "uniform")


def test_sedd_geometric_time_map():
    g = SEDDGeometric(1e-4, 20.0)
    ours = g.schedule()
    t = np.linspace(0, 1, 11)
    tau = g.to_exactdiff_time(t)
    np.testing.assert_allclose([ours.total(v) for v in tau], g.total(t), rtol=1e-13)
    np.testing.assert_allclose(g.from_exactdiff_time(tau), t, atol=1e-13)
    # same rate at the same label t (MATH.md), σ̄ shifted by σmin
    np.testing.assert_allclose([ours.rate(v) for v in t], g.rate(t), rtol=1e-13)
    np.testing.assert_allclose([ours.total(v) for v in t], g.total(t) - 1e-4, rtol=1e-12, atol=1e-18)
    lo, hi = g.window()
    assert abs(ours.total(lo) - 1e-4) < 1e-16 and abs(ours.total(hi) - 20.0) < 1e-12
    with pytest.raises(ValueError, match=r"`t` must lie in \[0, 1\]"):
        g.total(1.5)
    with pytest.raises(ValueError, match="SEDD's range"):
        g.from_exactdiff_time(0.01)
    with pytest.raises(ValueError, match="need 0 < `sigma_min` < `sigma_max`"):
        SEDDGeometric(1.0, 0.5)


def test_sedd_score_model_range():
    model = sedd_score_model(lambda x, s: np.zeros(x.shape + (4,)), sigma_min=1e-4, sigma_max=20.0)
    assert model.log_scores
    proc = ed.uniform(4, ed.Geometric(1e-4, 20.0))
    s = evaluate_score_model(model, proc, np.array([1e-4, 20.0]), np.zeros((2, 2), dtype=int))
    assert np.all(s == 1.0)
    with pytest.raises(ValueError, match=r"`sigma_bar` must lie in SEDD's range \[0.0001, 20.0\] "
                                         r"\(got sigma_bar\[0\] = 1e-05\)"):
        model(np.zeros((1, 2), dtype=int), np.array([1e-5]))
