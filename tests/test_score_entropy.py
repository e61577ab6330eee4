"""Score entropy, mdse and the checks of Theorems 3.1 and 3.2, with mutation tests."""

import json

import numpy as np
import pytest
from scipy.special import xlogy

import exactdiff as ed
from exactdiff.checks.reference import reference_dse_loss, reference_expected_dse
from exactdiff.checks import score_entropy as C
from exactdiff.information.engines.dense import DenseState

SCHEDULES = [ed.Constant(1.0), ed.LogLinear(1e-3), ed.Geometric(1e-3, 20.0)]


def processes(N, schedule):
    return [
        ed.uniform(N, schedule),
        ed.absorbing(N, schedule),
        ed.ForwardProcess(ed.process.random_generator(N, seed=3), schedule, name="random non-symmetric"),
    ]


def full_space(schedule=ed.Constant(1.0)):
    return ed.FullSpaceProcess(ed.process.random_full_space_generator(2, 3, seed=6), 2, 3, schedule)


P0 = ed.Distribution.dirichlet(3, 3, seed=21, zero_fraction=0.25)
P0_FULL = ed.Distribution.dirichlet(2, 3, seed=22, zero_fraction=0.25)
TIMES = (1e-6, 1e-3, 0.1, 0.5, 0.9, 5.0, 100.0)


def _cases():
    for schedule in SCHEDULES:
        for proc in processes(3, schedule):
            yield P0, proc
        yield P0_FULL, full_space(schedule)


CASES = list(_cases())
IDS = [f"{p.name}-{p.schedule!r}" for _, p in CASES]


@pytest.mark.parametrize("p0, proc", CASES, ids=IDS)
def test_theorem_3_1_analytic_and_richardson(p0, proc):
    results = C.check_theorem_3_1(p0, proc, TIMES) + C.check_theorem_3_1_finite_difference(p0, proc, TIMES)
    for r in results:
        assert r.passed, r


@pytest.mark.parametrize("p0, proc", CASES, ids=IDS)
def test_theorem_3_2_finite_T(p0, proc):
    T = min(0.8 * proc.schedule.t_max, proc.schedule.time_of_total(3.0))
    r = C.check_theorem_3_2(p0, proc, T)[0]
    assert r.passed, r


@pytest.mark.parametrize("proc", [ed.uniform(3), ed.ForwardProcess(ed.process.random_generator(3, seed=3))], ids=["uniform", "random"])
def test_theorem_3_2_infinite_and_entropy(proc):
    assert C.check_theorem_3_2_infinite(P0, proc)[0].passed
    assert C.check_entropy_integral(P0, proc)[0].passed


def test_dense_and_factorized_mdse_agree_to_1e11():
    for schedule in SCHEDULES:
        for proc in processes(3, schedule):
            for r in ed.checks.check_engines_agree(P0, proc, 0.4):
                assert r.passed and r.rel_err <= 1e-11, r


def test_dse_loss_by_hand_matches_expectation():
    """E_{x|x0} ℓ_DSE summed state by state with dse_loss equals expected_dse."""
    for proc in processes(2, ed.Constant(1.3)):
        p0 = ed.Distribution.dirichlet(2, 2, seed=4)
        t = 0.45
        rng = np.random.default_rng(0)
        score = ed.concrete_score(p0, proc, t) * np.exp(0.2 * rng.standard_normal((proc.n,) * 2 + (2, proc.n)))
        k = proc.kernel(t)
        by_hand = np.zeros((2, 2))
        for x0 in np.ndindex(2, 2):
            for x in np.ndindex(proc.n, proc.n):
                w = k[x[0], x0[0]] * k[x[1], x0[1]]
                if w > 0:
                    by_hand[x0] += w * reference_dse_loss(score, proc, t, x0, x)
        for engine in ("dense", "factorized"):
            assert np.allclose(reference_expected_dse(score, proc, t, L=2, engine=engine), by_hand, rtol=1e-13, atol=0)


def test_dse_loss_full_space_by_hand():
    proc = full_space()
    p0 = P0_FULL
    t = 0.3
    s = ed.concrete_score(p0, proc, t)
    K = proc.full_kernel(t)
    expected = ed.mdse(p0, proc, t, pointwise=True)
    for j, x0 in enumerate(np.ndindex(2, 2, 2)):
        if p0.table[x0] == 0:
            continue
        total = sum(K[i, j] * reference_dse_loss(s, proc, t, x0, x) for i, x in enumerate(np.ndindex(2, 2, 2)))
        assert total == pytest.approx(expected[x0], rel=1e-12)


def test_mdse_matches_minus_dI_doc_example():
    p0 = ed.Distribution.dirichlet(3, 2, seed=0)
    proc = ed.ForwardProcess(ed.process.random_generator(3, seed=1))
    assert ed.mdse(p0, proc, 0.7) == pytest.approx(-ed.mutual_information_derivative(p0, proc, 0.7), rel=1e-12)


def test_concrete_score_forms_agree():
    proc = ed.ForwardProcess(ed.process.random_generator(3, seed=2))
    p0 = ed.Distribution.dirichlet(3, 2, seed=1)
    nb = ed.concrete_score(p0, proc, 0.5)
    mat = ed.concrete_score(p0, proc, 0.5, form="matrix")
    from exactdiff.checks.reference import neighbour_to_matrix
    assert np.allclose(neighbour_to_matrix(nb, proc.Q), mat, rtol=1e-13, atol=0)


@pytest.mark.parametrize("proc", processes(3, ed.LogLinear()) + [full_space()], ids=lambda p: p.name)
def test_variational_bound_holds_on_average(proc):
    p0 = P0_FULL if not proc.token_wise else P0
    r = C.check_variational_bound(p0, proc, 0.9, delta=0.4, seed=1)[0]
    assert r.passed and r.lhs > r.rhs, r
    assert r.setup["pointwise_gap_min"] <= r.setup["pointwise_gap_max"]


@pytest.mark.parametrize("schedule", [ed.Constant(1.0), ed.LogLinear(1e-3), ed.Geometric(1e-3, 20.0)],
                         ids=lambda s: type(s).__name__)
def test_time_nodes_integrate_the_rate_to_the_total(schedule):
    """Σ_j w_j σ(t_j) = σ̄(T) − e^{U_MIN}: a check of the nodes and weights against the
    schedule's own total rate; every weight is positive."""
    from exactdiff.information.integrals import U_MIN, time_nodes

    proc = ed.uniform(3, schedule)
    T = 0.9 * min(proc.schedule.t_max, 5.0)
    times, weights = time_nodes(proc, T)
    assert np.all(weights > 0) and np.all((times >= 0) & (times <= T))
    total = sum(w * proc.rate(t) for t, w in zip(times, weights))
    assert total == pytest.approx(proc.total(T) - np.exp(U_MIN), rel=1e-13)


# -- mutations: each mutated formula must make a check fail -------------------------------------
def _mdse_mutant(kind):
    """A dense mdse with one deliberate error, summed from the definition with the public
    pieces; it replaces the library's mdse inside the check (monkeypatch)."""

    def mutant(p0, process, t, pointwise=False, engine="auto", at=None):
        st = DenseState(ed.Distribution.from_array(p0.table).table, process, t)
        G = st.G.toarray()
        W = G - np.diag(np.diag(G))
        if kind == "flip-orientation":
            W = W.T  # weight Q_t(y, x) instead of Q_t(x, y)
        P, pt = st.P, st.pt
        out = np.zeros(P.shape[1])
        for j in range(P.shape[1]):
            for x in np.flatnonzero(P[:, j] > 0):
                for y in np.flatnonzero(W[x] > 0):
                    s = pt[y] / pt[x]
                    r = P[y, j] / P[x, j]
                    K = 0.0 if kind == "drop-K" else xlogy(r, r) - r
                    out[j] += P[x, j] * W[x, y] * (s - xlogy(r, s) + K)
        return (st.sigma * out).reshape(p0.table.shape)

    return mutant


def test_unmutated_reference_passes(monkeypatch):
    proc = ed.ForwardProcess(ed.process.random_generator(2, seed=7), name="random non-symmetric")
    p0 = ed.Distribution.dirichlet(2, 2, seed=8)
    monkeypatch.setattr(C, "mdse", _mdse_mutant("none"))
    for r in C.check_theorem_3_1(p0, proc, (0.1, 0.5, 2.0)):
        assert r.passed, r


@pytest.mark.parametrize("kind", ["flip-orientation", "drop-K"])
def test_mutated_dse_fails_theorem_3_1(kind, monkeypatch):
    proc = ed.ForwardProcess(ed.process.random_generator(2, seed=7), name="random non-symmetric")
    p0 = ed.Distribution.dirichlet(2, 2, seed=8)
    monkeypatch.setattr(C, "mdse", _mdse_mutant(kind))
    results = C.check_theorem_3_1(p0, proc, (0.1, 0.5, 2.0))
    assert not any(r.passed for r in results)


def test_dropping_kl_term_fails_theorem_3_2(monkeypatch):
    proc = ed.uniform(3)
    assert C.check_theorem_3_2(P0, proc, 0.5)[0].passed
    monkeypatch.setattr(C, "pointwise_kl", lambda p0, proc, T, **kw: np.zeros_like(P0.table))
    assert not C.check_theorem_3_2(P0, proc, 0.5)[0].passed


# -- bad input ------------------------------------------------------------------------------------
def test_dse_loss_rejects_unreachable_state():
    proc = ed.absorbing(2)
    s = ed.concrete_score(ed.Distribution.dirichlet(2, 2, seed=1), proc, 0.5)
    with pytest.raises(ValueError, match="cannot be reached"):
        reference_dse_loss(s, proc, 0.5, (0, 0), (1, 1))


def test_negative_score_rejected():
    proc = ed.uniform(2)
    s = -np.ones((2, 2, 2, 2))
    with pytest.raises(ValueError, match="non-negative"):
        reference_expected_dse(s, proc, 0.5, L=2)
    with pytest.raises(ValueError, match="finite"):
        reference_expected_dse(np.full((2, 2, 2, 2), np.inf), proc, 0.5, L=2)


# -- the command line -----------------------------------------------------------------------------
def test_cli_verify_quick_json(capsys):
    from exactdiff.cli import main

    code = main(["verify", "--quick", "--json", "-", "--no-progress"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["passed"] is True
    keys = {"name", "reference", "setup", "lhs", "rhs", "abs_err", "rel_err", "tol", "passed"}
    assert all(keys <= set(c) for c in out["checks"])


def test_cli_exit_status_on_failure(monkeypatch, capsys):
    from exactdiff import cli
    from exactdiff.checks import suite as verify

    failing = ed.checks.CheckResult("x", "ref", {}, 1.0, 2.0, 1.0, 0.5, 1e-9, False)
    monkeypatch.setattr(verify, "default_suite", lambda **kw: [("fail", lambda: [failing])])
    assert cli.main(["verify", "--no-progress"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_cli_toy_file(tmp_path, capsys):
    from exactdiff.cli import main

    path = tmp_path / "toy.npy"
    np.save(path, ed.Distribution.dirichlet(2, 3, seed=1).table)
    assert main(["verify", "--quick", "--toy", str(path), "--no-progress"]) == 0
    bad = tmp_path / "bad.npy"
    np.save(bad, np.full((2, 2), 0.3))
    with pytest.raises(SystemExit) as exc:
        main(["verify", "--toy", str(bad)])
    assert exc.value.code == 2


def test_mdse_and_kl_derivative_refuse_zero_noise():
    """At t = 0 mdse is +∞ (−log t growth) and dKL/dt is −∞: no finite value is right."""
    proc = ed.uniform(3)
    for f in (lambda: ed.mdse(P0, proc, 0.0, pointwise=True), lambda: ed.pointwise_kl_derivative(P0, proc, 0.0),
              lambda: ed.mutual_information_derivative(P0, proc, 0.0)):
        with pytest.raises(ValueError, match=r"`t` must be > 0 here: at σ̄\(t\) = 0"):
            f()
