"""Tests of exactdiff.markov: exact conditionals of k-th order Markov chains by
forward–backward, and the exact subset sums of Theorem 4.1 and Corollary 4.3.

Reference routes, each independent of the code under test:
- enumeration: ``chain.to_table(L)`` summed over the hidden axes (L ≤ 8);
- ``nll`` (a plain sum of log-transitions) for −log p0(x);
- ``exact_conditional_nll``: two scaled forward passes, −log p0(x^{T∪C}) + log p0(x^C);
- ``log_conditionals`` (batched forward–backward, one row per visible set) against the
  meet-in-the-middle engine behind ``subset_terms``.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

import exactdiff as ed
from exactdiff.markov import MarkovChain

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CHAIN_FILE = DATA / "markov_data_table.json"
needs_shared_data = pytest.mark.skipif(
    not CHAIN_FILE.exists(), reason=f"the paper's chain {CHAIN_FILE} is absent (shared data not mounted)"
)

#: Relative tolerance for identities that hold exactly: only float64 rounding remains
#: (a few hundred rounding steps of size 1.1e-16 at most).
EXACT_RTOL = 1e-12


def random_chain(N, k, rng, zero_frac=0.2, stationary=False):
    """Random k-th order chain; about ``zero_frac`` of the transitions are exactly 0
    (every row keeps at least one positive entry). ``initial`` is a positive random law
    unless ``stationary`` (which needs the context chain to be irreducible: no zeros)."""
    T = rng.dirichlet(np.ones(N), size=N**k)
    if zero_frac:
        zero = rng.random(T.shape) < zero_frac
        zero[np.arange(N**k), rng.integers(0, N, N**k)] = False
        T[zero] = 0.0
        T /= T.sum(axis=1, keepdims=True)
    T = T.reshape((N,) * (k + 1))
    if stationary:
        return MarkovChain(T)
    return MarkovChain(T, initial=rng.dirichlet(np.ones(N**k)).reshape((N,) * k))


def positive_sequence(chain, L, rng):
    """A sequence of length L with positive probability, drawn from the chain."""
    return tuple(int(v) for v in chain.sample(1, L, rng)[0])


def enumerated_conditional(table, x, i, visible):
    """p0(x^i = · | x^{U ∖ {i}}) by summing the full table."""
    L = table.ndim
    U = set(visible) - {i}
    index = tuple(x[j] if j in U else slice(None) for j in range(L))
    sub = table[index]
    free = [j for j in range(L) if j not in U]
    joint = sub.sum(axis=tuple(a for a, j in enumerate(free) if j != i))
    return joint / joint.sum()


def subset_weight(n, m):
    """H_n · p(J) for |J| = m: B(n − m, m + 1) = 1 / ((n − m) C(n, m))."""
    return 1.0 / ((n - m) * math.comb(n, m))


def harmonic(n):
    return math.fsum(1.0 / j for j in range(1, n + 1))


@pytest.fixture(scope="module")
def paper_chain():
    """The paper's 4th-order chain over "ATGC" (Fig. 1b), loaded once."""
    return MarkovChain.from_dict(json.loads(CHAIN_FILE.read_text()))


# -- the existing API ----------------------------------------------------------------------


def test_to_table_and_nll_agree():
    rng = np.random.default_rng(0)
    chain = random_chain(3, 2, rng)
    table = chain.to_table(5)
    assert abs(table.sum() - 1) < 1e-12
    for x in itertools.islice(itertools.product(range(3), repeat=5), 0, 243, 17):
        with np.errstate(divide="ignore"):
            assert (-chain.nll(x)) == pytest.approx(np.log(table[x]), rel=EXACT_RTOL, abs=0)


# -- hand-checkable cases ----------------------------------------------------------------


def test_first_order_conditional_closed_form():
    """First order, both neighbours visible: p(v | a, b) = P(a→v) P(v→b) / Σ_v (same)."""
    P = np.array([[0.9, 0.1], [0.2, 0.8]])
    chain = MarkovChain(P)
    x = (0, 1, 1, 0, 1)
    expected = P[1, :] * P[:, 0] / (P[1, :] * P[:, 0]).sum()
    got = chain.conditional(x, 2, [0, 1, 3, 4])
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)
    # Position 2 cannot be both asked for and conditioned on.
    with pytest.raises(ValueError, match="`i`=2 is in `visible`"):
        chain.conditional(x, 2, [0, 1, 2, 3, 4])


def test_tiny_transitions_do_not_underflow():
    """A 400-letter sequence with p(x) far below the float64 range (about 1e-36000)."""
    P = np.array([[1 - 1e-200, 1e-200], [1e-200, 1 - 1e-200]])
    chain = MarkovChain(P, initial=[0.5, 0.5])
    x = [0, 1] * 200
    lp = (-chain.nll(x))
    assert lp == pytest.approx(math.log(0.5) + 399 * math.log(1e-200), rel=1e-14)
    assert chain.log_subsequence(x, range(400)) == pytest.approx(lp, rel=EXACT_RTOL)
    i = 201
    expected = P[x[i - 1], :] * P[:, x[i + 1]]
    expected = expected / expected.sum()
    got = chain.conditional(x, i, [j for j in range(400) if j != i])
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=0)
    # With every even position hidden the conditional still normalises.
    odd = chain.conditional(x, i, [j for j in range(1, 400, 2) if j != i])
    assert np.all(np.isfinite(odd)) and abs(odd.sum() - 1) < 1e-14


# -- forward–backward conditionals against enumeration -----------------------------------


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_conditionals_match_enumeration(order):
    rng = np.random.default_rng(100 + order)
    N, L = 3, 8
    chain = random_chain(N, order, rng, zero_frac=0.25)
    table = chain.to_table(L)
    masks = rng.random((40, L)) < 0.5
    masks[0] = False  # U = ∅
    masks[1] = True  # every other position visible
    masks[2, :order] = True  # the first context visible
    for trial in range(3):
        x = positive_sequence(chain, L, rng)
        got = chain.log_conditionals(x, masks)
        for b, mask in enumerate(masks):
            U = np.flatnonzero(mask)
            for i in range(L):
                if mask[i]:  # a visible letter: log 1
                    assert got[b, i] == 0.0
                    continue
                ref = enumerated_conditional(table, x, i, U)
                if trial == 0 and b < 6:
                    np.testing.assert_allclose(chain.conditional(x, i, U), ref, rtol=EXACT_RTOL, atol=0)
                assert got[b, i] == pytest.approx(np.log(ref[x[i]]), rel=EXACT_RTOL, abs=1e-15)
        for U in (masks[3], masks[4], ()):
            U = np.flatnonzero(U) if len(U) else []
            idx = tuple(x[j] if j in set(U) else slice(None) for j in range(L))
            assert chain.log_subsequence(x, U) == pytest.approx(np.log(table[idx].sum()), rel=EXACT_RTOL, abs=1e-15)


def test_conditional_stationary_initial_and_short_sequences():
    """Default (stationary) initial law, and L < k (the law of a prefix of the context)."""
    rng = np.random.default_rng(7)
    chain = random_chain(2, 3, rng, zero_frac=0, stationary=True)
    for L in (1, 2, 3, 6):
        table = chain.to_table(L)
        x = positive_sequence(chain, L, rng)
        for i in range(L):
            U = [j for j in range(L) if j != i and rng.random() < 0.6]
            np.testing.assert_allclose(chain.conditional(x, i, U), enumerated_conditional(table, x, i, U),
                                       rtol=EXACT_RTOL, atol=0)


def test_zero_probability_conditionals():
    """A letter the chain forbids gets conditional exactly 0 (log −inf), not a tiny number."""
    P = np.array([[0.5, 0.5, 0.0], [0.3, 0.3, 0.4], [0.2, 0.0, 0.8]])
    chain = MarkovChain(P, initial=[1 / 3] * 3)
    x = (0, 2, 2)  # 0 → 2 is forbidden
    assert chain.conditional(x, 1, [0])[2] == 0.0
    assert chain.log_conditionals(x, np.array([[True, False, False]]))[0, 1] == -np.inf
    assert ed.time_free_nll(chain, x) == np.inf


# -- Theorem 4.1: the time-free sum ------------------------------------------------------


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("L", [1, 2, 5, 10])
def test_time_free_nll_equals_nll(order, L):
    rng = np.random.default_rng(1000 * order + L)
    chain = random_chain(3 if order < 4 else 2, order, rng, zero_frac=0.2)
    for _ in range(2):
        x = positive_sequence(chain, L, rng)
        nll = chain.nll(x)
        assert abs(ed.time_free_nll(chain, x) - nll) <= EXACT_RTOL * abs(nll)


@needs_shared_data
@pytest.mark.parametrize("L", [6, 12, 16])
def test_time_free_nll_paper_chain(paper_chain, L):
    chain = paper_chain
    assert chain.order == 4 and chain.alphabet == "ATGC"
    x = "".join(chain.alphabet[v] for v in chain.sample(1, L, np.random.default_rng(L))[0])
    nll = chain.nll(x)
    assert abs(ed.time_free_nll(chain, x) - nll) <= EXACT_RTOL * nll


def test_subset_terms_match_batched_route_and_mutations_fail():
    """h_m from the meet-in-the-middle engine equals the sum of explicitly enumerated
    terms from ``log_conditionals``; the correct weights give −log p0(x); two
    mutations of the sum (H_{L−1} for H_L, dropping U = ∅) do not."""
    rng = np.random.default_rng(11)
    chain = random_chain(3, 2, rng, zero_frac=0.2)
    L = 8
    x = positive_sequence(chain, L, rng)
    subsets = [U for m in range(L) for U in itertools.combinations(range(L), m)]  # U ⊊ [L]
    masks = np.zeros((len(subsets), L), dtype=bool)
    for b, U in enumerate(subsets):
        masks[b, list(U)] = True
    assert len(subsets) == 2**L - 1
    terms = -np.where(masks, 0.0, chain.log_conditionals(x, masks)).sum(axis=1)  # Σ_{i∉U} −log p(x^i|x^U)
    sizes = masks.sum(axis=1)
    h = np.array([terms[sizes == m].sum() for m in range(L)])
    np.testing.assert_allclose(chain.subset_terms(x), h, rtol=EXACT_RTOL, atol=0)

    nll = chain.nll(x)
    HL = harmonic(L)
    p_U = np.array([subset_weight(L, m) / HL for m in sizes])  # p(U) = B(L−|U|, |U|+1)/H_L
    assert abs(p_U.sum() - 1) < 1e-12
    correct = HL * np.sum(p_U * terms)
    assert abs(correct - nll) <= EXACT_RTOL * nll
    wrong_harmonic = harmonic(L - 1) * np.sum(p_U * terms)
    assert abs(wrong_harmonic - nll) > 1e-3 * nll
    no_empty = HL * np.sum((p_U * terms)[sizes > 0])
    assert abs(no_empty - nll) > 1e-3 * nll


# -- Corollary 4.3: the conditional sum --------------------------------------------------


SPLITS = [
    ([5, 6, 7, 8, 9], [0, 1, 2, 3, 4]),  # prompt, response
    ([0, 2, 4, 6, 8], [1, 3, 5, 7, 9]),  # interleaved
    ([1, 7, 8], [0, 4, 9]),  # non-contiguous, positions 2, 3, 5, 6 summed out
    ([9], []),  # one position, no context
    ([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], []),  # the whole sequence: Theorem 4.1
    ([3, 5], [4]),  # context between the targets
]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("target,context", SPLITS)
def test_conditional_nll_matches_forward_passes(order, target, context):
    rng = np.random.default_rng(17 * order + len(target))
    chain = random_chain(3 if order < 4 else 2, order, rng, zero_frac=0.2)
    x = positive_sequence(chain, 10, rng)
    exact = chain.exact_conditional_nll(x, target, context)
    got = ed.conditional_nll(chain, x, target, context)
    assert abs(got - exact) <= EXACT_RTOL * abs(exact) + 1e-14
    if not context:
        assert exact == pytest.approx(-chain.log_subsequence(x, target), rel=1e-14)


def test_conditional_nll_against_enumeration():
    rng = np.random.default_rng(5)
    chain = random_chain(3, 2, rng, zero_frac=0.2)
    table = chain.to_table(7)
    x = positive_sequence(chain, 7, rng)
    target, context = [1, 4, 5], [0, 6]
    joint = table[x[0], :, :, :, :, :, x[6]].sum(axis=(1, 2))[x[1], x[4], x[5]]
    ctx = table[x[0], ..., x[6]].sum()
    assert ed.conditional_nll(chain, x, target, context) == pytest.approx(-np.log(joint / ctx), rel=EXACT_RTOL)


@needs_shared_data
def test_conditional_nll_paper_setting_and_mutations_fail(paper_chain):
    """Fig. 1b: order 4, a 16-letter prompt (C = 0..15) and a 16-letter response
    (T = 16..31), 65,535 subsets J ⊊ T. Mutations of the sum must break the equality."""
    chain = paper_chain
    seqs = chain.sample(2, 32, np.random.default_rng(2025))
    prompt, response = list(range(16)), list(range(16, 32))
    n = len(response)
    for x in seqs:
        x = "".join(chain.alphabet[v] for v in x)
        exact = chain.exact_conditional_nll(x, response, prompt)
        h = chain.subset_terms(x, response, prompt)
        weights = np.array([subset_weight(n, m) for m in range(n)])
        got = ed.conditional_nll(chain, x, response, prompt)
        assert got == float(weights @ h)
        assert abs(got - exact) <= EXACT_RTOL * exact
        # h_0 (J = ∅) is Σ_i −log p0(x^i | x^C) by the batched route.
        mask = np.zeros((1, 32), dtype=bool)
        mask[0, prompt] = True
        h0 = -chain.log_conditionals(x, mask)[0, response].sum()
        assert h[0] == pytest.approx(h0, rel=EXACT_RTOL)
        wrong_harmonic = got * harmonic(n - 1) / harmonic(n)
        assert abs(wrong_harmonic - exact) > 1e-3 * exact
        no_empty = got - weights[0] * h0
        assert abs(no_empty - exact) > 1e-3 * exact


def test_max_subsets_guard():
    chain = MarkovChain(np.array([[0.9, 0.1], [0.2, 0.8]]))
    x = (0, 1) * 10
    with pytest.raises(ValueError, match="1,048,575 subsets"):
        ed.time_free_nll(chain, x)
    with pytest.raises(ValueError, match="max_subsets"):
        chain.subset_terms(x, range(5, 10), range(5), max_subsets=30)
    h = chain.subset_terms(x, range(5, 10), range(5), max_subsets=31)
    assert float(ed.masked.subset_weight(5, np.arange(5)) @ h) == pytest.approx(
        chain.exact_conditional_nll(x, range(5, 10), range(5)), rel=EXACT_RTOL)


# -- bad input --------------------------------------------------------------------------


def test_bad_input_raises():
    rng = np.random.default_rng(3)
    chain = MarkovChain(random_chain(4, 2, rng, zero_frac=0).transitions, alphabet="ATGC")
    x = "ATGCATGCAT"
    mask = np.zeros((1, 10), dtype=bool)
    cases = [
        lambda: chain.conditional("ATGXATGCAT", 2, [0, 1]),  # letter outside the alphabet
        lambda: ed.time_free_nll(chain, "ATGN"),
        lambda: chain.log_conditionals((0, 1, 4), np.zeros((1, 3), dtype=bool)),  # token 4 ≥ N
        lambda: chain.conditional(x, 10, [0]),  # i out of range
        lambda: chain.conditional(x, -1, [0]),
        lambda: chain.conditional(x, 2, [0, 10]),  # visible position out of range
        lambda: chain.conditional(x, 2, [0, 0]),  # repeated position
        lambda: ed.conditional_nll(chain, x, [1, 2], [2, 3]),  # overlapping target/context
        lambda: chain.exact_conditional_nll(x, [1, 2], [2, 3]),
        lambda: ed.conditional_nll(chain, x, [1, 12], [0]),  # target out of range
        lambda: ed.conditional_nll(chain, x, [1], [-1]),  # context out of range
        lambda: ed.conditional_nll(chain, x, [], [0]),  # empty target
        lambda: chain.log_conditionals(x, np.zeros((2, 9), dtype=bool)),  # wrong mask shape
        lambda: chain.log_conditionals(x, mask.astype(float) + 0.5),  # non-boolean mask
        lambda: chain.log_subsequence("", []),  # empty sequence
    ]
    for case in cases:
        with pytest.raises(ValueError):
            case()
    with pytest.raises(ValueError, match="disjoint"):
        ed.conditional_nll(chain, x, [1, 2], [2, 3])


def test_zero_probability_context_raises():
    P = np.array([[1.0, 0.0], [0.5, 0.5]])
    chain = MarkovChain(P, initial=[0.5, 0.5])
    x = (0, 1, 0)  # 0 → 1 is impossible
    with pytest.raises(ValueError, match="probability 0"):
        ed.conditional_nll(chain, x, [2], [0, 1])
    with pytest.raises(ValueError, match="probability 0"):
        chain.exact_conditional_nll(x, [2], [0, 1])
    assert ed.conditional_nll(chain, x, [1], [0]) == np.inf
