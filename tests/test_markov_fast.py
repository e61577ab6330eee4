"""Tests of the window forward–backward and the subset tables of
:mod:`exactdiff.markov.forward_backward`, beyond tests/test_markov.py.

Reference routes, each independent of the code under test:
- enumeration: ``chain.to_table(L)`` summed over the hidden axes (L ≤ 9);
- ``mask_losses(OracleDenoiser(chain))``: one forward–backward row per mask (the row
  engine) against the meet-in-the-middle table of ``subset_losses``;
- ``log_subsequence`` per visible set against every entry of the table;
- the dense :class:`FullStep` against the sparse-plus-rank-one one.
Tolerances: 1e-12 relative (1e-13 absolute) for exact quantities: only float64
rounding remains.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import exactdiff as ed
from exactdiff.markov import MarkovChain
from exactdiff.markov import forward_backward as fb

RTOL, ATOL = 1e-12, 1e-13


def close(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.all((a == b) | (np.abs(a - b) <= ATOL + RTOL * np.abs(b))))


def random_chain(N, k, rng, concentration=0.7, zeros=0.0):
    P = rng.dirichlet(np.full(N, concentration), size=N**k)
    if zeros:
        P[rng.random(P.shape) < zeros] = 0.0
        P[P.sum(1) == 0, 0] = 1.0
        P /= P.sum(1, keepdims=True)
    initial = rng.dirichlet(np.ones(N**k)).reshape((N,) * k)
    return MarkovChain(P.reshape((N,) * (k + 1)), initial=initial)


def enumerated(table, x, vis):
    """(log p(x^V), {i: law of x^i given x^V}) by summing the table."""
    idx = tuple(x[i] if vis[i] else slice(None) for i in range(table.ndim))
    sub = table[idx]
    laws = {}
    for q, i in enumerate(np.flatnonzero(~vis)):
        marg = sub.sum(axis=tuple(a for a in range(sub.ndim) if a != q))
        laws[int(i)] = marg / marg.sum()
    return math.log(sub.sum()), laws


@pytest.mark.parametrize("N,k,L", [(2, 1, 6), (3, 2, 6), (2, 3, 7), (3, 3, 3), (2, 4, 3), (4, 2, 7), (3, 1, 1),
                                   (2, 3, 2), (2, 4, 9)])
def test_rows_match_enumeration(N, k, L):
    """Batched log p(x^V), log-conditionals and laws (window messages) = enumeration,
    including L < k and rows with nothing or everything visible."""
    rng = np.random.default_rng(10 * N + k + L)
    chain = random_chain(N, k, rng)
    table = chain.to_table(L)
    B = 40
    x = rng.integers(0, N, size=(B, L))
    vis = rng.random((B, L)) < 0.5
    vis[0], vis[1] = False, True
    lz = chain.log_subsequences(x, vis)
    noisy = np.where(vis, x, N)
    laws = chain.posteriors(noisy)
    for b in range(B):
        ref_z, ref_laws = enumerated(table, x[b], vis[b])
        assert close(lz[b], ref_z) or (not vis[b].any() and lz[b] == 0.0)
        for i, law in ref_laws.items():
            assert close(laws[b, i], law)
        assert np.all(laws[b, vis[b], x[b, vis[b]]] == 1.0)
        if (~vis[b]).any():
            lc = chain.log_conditionals(x[b], vis[b][None])[0]
            for i, law in ref_laws.items():
                assert close(lc[i], math.log(law[x[b, i]]))


def test_single_row_and_batched_marginals_agree():
    """The one-row forward pass (with its closed-form visible steps) = the batched pass."""
    rng = np.random.default_rng(4)
    chain = random_chain(3, 3, rng, zeros=0.2)
    x = chain.sample(30, 14, rng)
    vis = rng.random((30, 14)) < 0.7
    batched = chain.log_subsequences(x, vis)
    single = np.array([chain.log_subsequence(x[b], np.flatnonzero(vis[b])) for b in range(30)])
    assert close(single, batched)


def test_zero_transitions_give_minus_inf_and_raise_on_contexts():
    P = np.array([[1.0, 0.0], [0.5, 0.5]])
    chain = MarkovChain(P, initial=[0.5, 0.5])
    x = np.array([[0, 1, 0]])
    assert chain.log_subsequences(x, np.ones((1, 3), bool))[0] == -np.inf
    assert chain.log_conditionals((0, 1, 0), np.array([[True, False, False]]))[0, 1] == -np.inf
    with pytest.raises(ValueError, match=r"the context \(0, 1, _\) of mask row 0 \(_ = masked\) has probability 0"):
        chain.log_conditionals((0, 1, 0), np.array([[True, True, False]]))
    with pytest.raises(ValueError, match=r"the context \(0, 1, _\) .* has probability 0 under the chain"):
        chain.subset_losses((0, 1, 0), target=[2], context=[0, 1])


@pytest.mark.parametrize("N,k,L,T,C", [(2, 1, 6, [1, 2, 4], [0, 5]), (3, 2, 8, [2, 3, 4, 6, 7], [0, 1]),
                                       (2, 3, 9, [0, 1, 2, 5, 8], [3]), (2, 4, 10, [4, 5, 6, 7, 8, 9], [0, 1, 2, 3]),
                                       (3, 3, 7, [0, 3, 6], []), (2, 2, 5, [4], [0, 1])])
def test_subset_table_every_split(N, k, L, T, C):
    """log Z(J) for every J and every split of the meet in the middle = one forward pass per J."""
    rng = np.random.default_rng(L + 3 * k)
    chain = random_chain(N, k, rng)
    x = rng.integers(0, N, size=L)
    n = len(T)
    ref = np.array([chain.log_subsequence(x, sorted(C + [T[q] for q in range(n) if J >> q & 1])) if (C or J) else 0.0
                    for J in range(2**n)])
    roles = np.full(max(L, k), fb.HIDDEN)
    roles[C], roles[T] = fb.VISIBLE, fb.FREE
    tokens = np.concatenate([x, np.zeros(max(L, k) - L, dtype=np.int64)])
    for nl in range(int(np.sum(np.array(T) <= k - 1)), n + 1):
        assert close(fb.subset_log_z(chain._tensors, tokens, roles, n_left=nl), ref)
    with pytest.raises(ValueError, match="`n_left`"):
        fb.subset_log_z(chain._tensors, tokens, roles, n_left=n + 1)


@pytest.mark.parametrize("N,k", [(3, 2), (2, 4), (4, 3)])
def test_subset_losses_equal_mask_losses_of_the_oracle(N, k):
    """The table route (2^n marginals, meet in the middle) = one forward–backward row per
    mask through the oracle denoiser (``ed.mask_losses``), same order."""
    rng = np.random.default_rng(N + 7 * k)
    chain = random_chain(N, k, rng, zeros=0.1)
    x = chain.sample(1, 14, rng)[0]
    T, C = list(range(6, 14)), list(range(6))
    losses, n_masked = chain.subset_losses(x, T, C)
    ref, ref_sizes = ed.mask_losses(ed.OracleDenoiser(chain), x, target=T, context=C)
    assert np.array_equal(n_masked, ref_sizes)
    assert close(losses, ref)
    h = np.bincount(len(T) - n_masked, weights=losses, minlength=len(T) + 1)[:len(T)]
    assert close(h, chain.subset_terms(x, T, C))


def test_fig1b_chain_subset_table(shared_data):
    """The paper's order-4 chain (entries down to 1e-8), 16 + 16 letters: the Corollary 4.3
    sum from the table = two forward passes; the table = the oracle row by row on 300 masks."""
    chain = MarkovChain.from_dict(json.loads((shared_data / "markov_data_table.json").read_text()))
    x = chain.sample(1, 32, np.random.default_rng(4))[0]
    T, C = list(range(16, 32)), list(range(16))
    losses, n_masked = chain.subset_losses(x, T, C)
    h = np.bincount(16 - n_masked, weights=losses, minlength=17)[:16]
    cor43 = float(ed.masked.subset_weight(16, np.arange(16)) @ h)
    assert abs(cor43 - chain.exact_conditional_nll(x, T, C)) <= 1e-12 * cor43
    pick = np.random.default_rng(0).choice(2**16, size=300, replace=False)
    masks = ed.masked.mask_patterns(16)[pick]
    vis = np.ones((300, 32), dtype=bool)
    vis[:, 16:] = ~masks
    direct = -chain.log_conditionals(x, vis)[:, 16:].sum(axis=1)
    assert close(losses[pick], direct)


def test_sparse_full_step_matches_dense():
    """An additively smoothed count table: the sparse-plus-rank-one all-hidden step = the
    dense one, forward and backward, and through the rows and the subset tables."""
    rng = np.random.default_rng(5)
    N, k = 6, 3
    counts = ed.markov.count_transitions(rng.integers(0, N, size=300), N, k)
    P = (counts + 0.1) / (counts.sum(-1, keepdims=True) + N * 0.1)
    dense, sparse = fb.FullStep(P, sparse=False), fb.FullStep(P, sparse=True)
    assert sparse.sparse and not dense.sparse
    msg = rng.random((7, N**k))
    for step in ("forward", "backward"):
        a = getattr(dense, step)(msg, np.empty_like(msg))
        b = getattr(sparse, step)(msg, np.empty_like(msg))
        assert close(a, b)
    chain = MarkovChain(P, initial=np.full((N,) * k, float(N) ** -k))
    x = rng.integers(0, N, size=(20, 12))
    vis = rng.random((20, 12)) < 0.3
    ref = chain.log_conditionals(x[0], vis)
    chain._tensors._full = sparse
    assert close(chain.log_conditionals(x[0], vis), ref)
    ref_table = fb.subset_log_z(MarkovChain(P, initial=chain.initial)._tensors, x[0], np.r_[[1] * 4, [2] * 8])
    assert close(fb.subset_log_z(chain._tensors, x[0], np.r_[[1] * 4, [2] * 8]), ref_table)


def test_subset_sizes_and_pattern_order():
    assert ed.sequences.masks.subset_sizes(3).tolist() == [0, 1, 1, 2, 1, 2, 2, 3]
    # mask pattern 0b011 (positions 1 and 2 masked, position 0 visible) ↔ J = 0b001
    order = ed.sequences.masks.subset_of_pattern(3)
    masks = ed.masked.mask_patterns(3)
    J = (~masks).astype(int) @ (1 << np.arange(3))
    assert np.array_equal(order, J)


def test_stationary_law_of_a_text_sized_chain():
    """N = 27, k = 3 (19,683 contexts, above the dense threshold): the sparse power
    iteration gives π with π P = π."""
    rng = np.random.default_rng(1)
    seq = rng.integers(0, 27, size=20_000)
    chain = ed.fit_markov_chain(seq, 27, 3, alpha=0.1)
    pi = chain.initial.reshape(-1)
    nxt = np.einsum("am,amv->mv", pi.reshape(27, 729), chain.transitions.reshape(27, 729, 27)).reshape(-1)
    assert abs(pi.sum() - 1) < 1e-12 and np.abs(nxt - pi).sum() < 1e-12
