"""Tests of the built-in denoisers: the Markov-chain oracle by forward–backward against
the enumerated table oracle, the fitted denoisers against their definitions, and the
rejection of bad denoiser output."""

import json

import numpy as np
import pytest

import exactdiff as ed
from exactdiff.markov import count_transitions, fit_markov_chain
from exactdiff.masked.denoisers import (
    CorruptedDenoiser,
    EmpiricalDenoiser,
    MarkovDenoiser,
    empirical_table,
    evaluate_denoiser,
)


def _random_chain(N, k, seed, zero_fraction=0.0):
    rng = np.random.default_rng(seed)
    T = rng.dirichlet(np.ones(N), size=N**k)
    if zero_fraction:
        T = T * (rng.random(T.shape) >= zero_fraction)
        T[T.sum(axis=1) == 0, 0] = 1.0
        T /= T.sum(axis=1, keepdims=True)
    init = rng.dirichlet(np.ones(N**k)).reshape((N,) * k)
    return ed.MarkovChain(T.reshape((N,) * (k + 1)), initial=init)


# -- the Markov-chain oracle ---------------------------------------------------------------------
@pytest.mark.parametrize("N,k,L,zeros", [(2, 1, 6, 0.0), (3, 2, 5, 0.0), (3, 3, 4, 0.3), (2, 3, 2, 0.0),
                                         (2, 2, 7, 0.4), (4, 1, 4, 0.0)])
def test_chain_oracle_equals_table_oracle(N, k, L, zeros):
    """Forward–backward per row = the enumerated oracle table (reference: optimal_denoiser_table)."""
    chain = _random_chain(N, k, seed=N * 100 + k * 10 + L, zero_fraction=zeros)
    law = chain.to_distribution(L)
    table = ed.OracleDenoiser(law)
    fb = ed.OracleDenoiser(chain)
    assert isinstance(fb, ed.OracleDenoiser) and fb.table is None
    visible_mass = ed.masked.visible_table(law)
    rng = np.random.default_rng(L)
    x = rng.integers(0, N + 1, size=(400, L))
    shared = x.copy()
    shared[:, : L // 2] = x[0, : L // 2]  # a common prefix, propagated once
    tail = x.copy()
    tail[:, L // 2:] = x[0, L // 2:]  # a common suffix
    for q in (x, shared, tail, x[:1], np.full((3, L), N)):
        possible = visible_mass[tuple(q.T)] > 0
        q = q[possible]
        if len(q):
            a, b = fb(q), table(q)
            assert np.allclose(a, b, rtol=0, atol=1e-13)
    impossible = x[visible_mass[tuple(x.T)] == 0]
    impossible = impossible[(impossible == N).any(axis=1)]
    for q in impossible[:3]:  # an undefined conditional raises on both routes, naming the context
        for den in (fb, table):
            with pytest.raises(ValueError, match="context .* has probability 0"):
                den(q[None])


def test_chain_oracle_matches_log_conditionals():
    """At L = 32 (no table possible) against MarkovChain.log_conditionals (independent code)."""
    chain = _random_chain(4, 4, seed=7)
    rng = np.random.default_rng(0)
    x0 = chain.sample(1, 32, rng)[0]
    masks = rng.random((300, 32)) < rng.random((300, 1))
    probs = ed.OracleDenoiser(chain)(np.where(masks, 4, x0))
    mine = np.log(probs[:, np.arange(32), x0])
    ref = chain.log_conditionals(x0, ~masks)
    assert np.allclose(mine[masks], ref[masks], rtol=1e-12, atol=1e-12)


def test_chain_oracle_on_paper_chain(shared_data):
    chain = ed.MarkovChain.from_dict(json.loads((shared_data / "markov_data_table.json").read_text()))
    rng = np.random.default_rng(1)
    x0 = chain.sample(1, 32, rng)[0]
    masks = np.zeros((200, 32), dtype=bool)
    masks[:, 16:] = rng.random((200, 16)) < 0.5
    probs = evaluate_denoiser(ed.OracleDenoiser(chain), np.where(masks, 4, x0), 4)
    mine = np.log(probs[:, np.arange(32), x0])
    ref = chain.log_conditionals(x0, ~masks)
    assert np.allclose(mine[masks], ref[masks], rtol=1e-11, atol=1e-12)


def test_oracle_denoiser_keeps_table_api():
    p0 = ed.Distribution.dirichlet(2, 3, seed=0)
    c = ed.OracleDenoiser(p0)
    assert isinstance(c, ed.OracleDenoiser) and c.table.shape == (3, 3, 3, 3, 2) and (c.N, c.L) == (2, 3)


def test_chain_posteriors_rejects_bad_queries():
    chain = _random_chain(2, 1, seed=0)
    with pytest.raises(ValueError, match="`x` must hold tokens in 0..2"):
        chain.posteriors(np.array([[0, 3]]))
    with pytest.raises(ValueError, match="`x` must be an integer array with 2 axes"):
        chain.posteriors(np.array([0, 1]))


# -- the empirical denoiser ------------------------------------------------------------------------
def test_empirical_table_by_hand():
    """Two samples 0 and 0, one sample 1, N = 2, L = 1: p̂ = (n(x) + α)/(3 + 2α)."""
    s = np.array([[0], [0], [1]])
    assert np.allclose(empirical_table(s, 2, alpha=0.5), [2.5 / 4, 1.5 / 4], rtol=0, atol=1e-15)
    assert np.allclose(empirical_table(s, 2), [2.5 / 4, 1.5 / 4], rtol=0, atol=1e-15)  # default α = 1/N^L
    assert np.array_equal(empirical_table(s, 2, alpha=0.0), [2 / 3, 1 / 3])


def test_empirical_denoiser_is_oracle_of_smoothed_law():
    p0 = ed.Distribution.dirichlet(3, 3, seed=2)
    samples = p0.sample(500, np.random.default_rng(0))
    c = EmpiricalDenoiser(samples, 3, alpha=0.2)
    assert np.array_equal(c.table, ed.OracleDenoiser(c.p_hat).table)
    raw = EmpiricalDenoiser(samples, 3, alpha=0.0)
    assert np.allclose(raw.p_hat, ed.Distribution.empirical(samples, N=3).table, rtol=0, atol=1e-15)


def test_empirical_denoiser_minimises_empirical_dce():
    """The raw empirical conditional minimises the DCE averaged over the samples, at every λ,
    among tabular denoisers: a tempered or smoothed one does no better."""
    p0 = ed.Distribution.dirichlet(2, 3, seed=4)
    samples = p0.sample(200, np.random.default_rng(3))
    best = EmpiricalDenoiser(samples, 2, alpha=0.0)
    others = [CorruptedDenoiser(best, epsilon=0.05), CorruptedDenoiser(best, temperature=1.3),
              EmpiricalDenoiser(samples, 2, alpha=1.0)]
    for lam in (0.2, 0.5, 0.9):
        ref = ed.expected_dce(best, lam, samples, N=2).mean()
        for c in others:
            assert ed.expected_dce(c, lam, samples, N=2).mean() > ref


def test_empirical_rejects_bad_samples():
    with pytest.raises(ValueError, match="`samples`"):
        EmpiricalDenoiser(np.array([[0, 2]]), N=2)
    with pytest.raises(ValueError, match="`alpha`"):
        EmpiricalDenoiser(np.array([[0, 1]]), N=2, alpha=-1.0)
    with pytest.raises(ValueError, match="`samples`"):
        EmpiricalDenoiser(np.array([[0.5, 1.0]]), N=2)


# -- the fitted Markov chain ---------------------------------------------------------------------
def test_count_transitions_by_hand():
    seq = np.array([0, 1, 1, 0, 1])  # order 1: 0→1 twice, 1→1 once, 1→0 once
    assert np.array_equal(count_transitions(seq, 2, 1), [[0, 2], [1, 1]])
    rows = np.array([[0, 1, 1], [1, 0, 0]])  # no transition spans the two rows
    assert np.array_equal(count_transitions(rows, 2, 1), [[1, 1], [1, 1]])
    assert count_transitions(seq, 2, 2).sum() == 3


def test_fit_markov_chain_smoothing():
    seq = np.array([0, 1, 1, 0, 1])
    chain = fit_markov_chain(seq, 2, 1, alpha=1.0)
    assert np.allclose(chain.transitions, [[1 / 4, 3 / 4], [2 / 4, 2 / 4]], rtol=0, atol=1e-15)
    assert np.allclose(fit_markov_chain(seq, 2, 1).transitions[0], [0.5 / 3, 2.5 / 3], atol=1e-15)
    mle = fit_markov_chain(np.array([0, 0, 0]), 2, 1, alpha=0.0)
    assert np.array_equal(mle.transitions, [[1.0, 0.0], [0.5, 0.5]])  # unseen context 1: uniform
    # N left out: inferred from the tokens (largest + 1), default α = 1/N as before
    assert np.array_equal(fit_markov_chain(seq, None, 1).transitions, fit_markov_chain(seq, 2, 1).transitions)


def test_fit_markov_chain_recovers_chain():
    chain = _random_chain(2, 2, seed=5)
    seqs = chain.sample(200, 500, np.random.default_rng(0))
    fit = fit_markov_chain(seqs, 2, 2)
    assert np.max(np.abs(fit.transitions - chain.transitions)) < 0.03


def test_markov_denoiser_is_chain_oracle_of_fit():
    chain = _random_chain(3, 2, seed=6)
    seqs = chain.sample(20, 100, np.random.default_rng(1))
    c = MarkovDenoiser(seqs, 3, 2)
    ref = ed.OracleDenoiser(fit_markov_chain(seqs, 3, 2))
    x = np.random.default_rng(2).integers(0, 4, size=(50, 7))
    assert np.array_equal(c(x), ref(x))


# -- corrupted denoisers and validation ------------------------------------------------------------
def test_corrupted_denoiser_formula():
    p0 = ed.Distribution.dirichlet(3, 2, seed=1)
    base = ed.OracleDenoiser(p0)
    x = np.array([[3, 0], [3, 3], [1, 3]])
    b = base(x)
    assert np.array_equal(CorruptedDenoiser(base)(x), b)
    assert np.allclose(CorruptedDenoiser(base, epsilon=1.0)(x), 1 / 3, rtol=0, atol=1e-15)
    mixed = CorruptedDenoiser(base, epsilon=0.3)(x)
    assert np.allclose(mixed, 0.7 * b + 0.1, rtol=0, atol=1e-15)
    hot = CorruptedDenoiser(base, temperature=2.0)(x)
    ref = np.sqrt(b) / np.sqrt(b).sum(axis=-1, keepdims=True)
    assert np.allclose(hot, ref, rtol=1e-14, atol=0)
    evaluate_denoiser(CorruptedDenoiser(base, 0.2, 0.5), x, 3)
    with pytest.raises(ValueError, match="`epsilon`"):
        CorruptedDenoiser(base, epsilon=1.5)
    with pytest.raises(ValueError, match="`temperature`"):
        CorruptedDenoiser(base, temperature=0.0)


@pytest.mark.parametrize("bad, match", [
    (lambda x: np.full(x.shape + (2,), 0.6), "sum to 1"),
    (lambda x: np.full(x.shape + (3,), 1 / 3), "shape"),
    (lambda x: np.stack([np.full(x.shape, 1.5), np.full(x.shape, -0.5)], axis=-1), "non-negative"),
    (lambda x: np.full(x.shape + (2,), np.nan), "finite"),
])
def test_bad_denoiser_output_is_rejected(bad, match):
    x = np.array([[2, 0, 2]])
    with pytest.raises(ValueError, match=match):
        evaluate_denoiser(bad, x, 2)
