"""Sequence spaces and distributions: conversions, constructors, validation."""

import numpy as np
import pytest

import exactdiff as ed


def test_space_round_trips():
    sp = ed.SequenceSpace(4, 3, alphabet="ATGC")
    assert sp.encode("GAT") == (2, 0, 1)
    assert sp.index("GAT") == 2 * 16 + 0 * 4 + 1
    assert sp.decode(sp.unindex(sp.index("CCA"))) == "CCA"
    assert len(list(sp.states())) == 64
    assert sp.all_tokens().shape == (64, 3)
    assert sp.strings()[:2] == ["AAA", "AAT"]


def test_space_with_mask():
    sp = ed.SequenceSpace(2, 2, alphabet="ab", mask=True)
    assert sp.n == 3 and sp.mask_id == 2
    assert sp.encode("aM") == (0, 2)


@pytest.mark.parametrize("bad", ["AXG", "AT", "ATGC"])
def test_letters_outside_alphabet_or_wrong_length(bad):
    sp = ed.SequenceSpace(4, 3, alphabet="ATGC")
    with pytest.raises(ValueError):
        sp.encode(bad)


def test_bad_alphabet():
    with pytest.raises(ValueError, match="distinct"):
        ed.SequenceSpace(3, 2, alphabet="AAB")


@pytest.mark.parametrize(
    "table, match",
    [
        (np.full((2, 2), 0.3), "sum to 1"),
        (np.array([[0.5, 0.7], [-0.2, 0.0]]), "non-negative"),
        (np.full((2, 3), 1 / 6), "shape"),
        (np.array([[np.nan, 0.5], [0.25, 0.25]]), "finite"),
    ],
)
def test_bad_tables(table, match):
    with pytest.raises(ValueError, match=match):
        ed.Distribution.from_array(table)


def test_from_dict_and_nll():
    p0 = ed.Distribution.from_dict({"AT": 0.25, "GC": 0.75}, alphabet="ATGC")
    assert p0.prob("GC") == 0.75
    assert p0.nll("AT") == pytest.approx(np.log(4), rel=1e-15)
    assert p0.nll("AA") == np.inf  # impossible sequence
    assert p0.entropy() == pytest.approx(-(0.25 * np.log(0.25) + 0.75 * np.log(0.75)), rel=1e-15)


def test_fair_coin_entropy_is_log_2():
    assert ed.Distribution.from_array([0.5, 0.5]).entropy() == pytest.approx(np.log(2), rel=1e-15)


def test_paper_toy_recipe():
    p0 = ed.Distribution.paper_toy(seed=3)
    assert p0.table.shape == (4,) * 8 and p0.support_size() == 128
    assert p0.table.sum() == pytest.approx(1.0, abs=1e-15)
    again = ed.Distribution.paper_toy(seed=3)
    assert np.array_equal(p0.table, again.table)
    # softmax(U/0.5) weights: the ratio of extremes is at most e^{1/0.5}
    w = p0.table[p0.table > 0]
    assert w.max() / w.min() < np.exp(2.0)


def test_paper_table_entropy(shared_data):
    p0 = ed.load_distribution(shared_data / "sequence_eval.json", alphabet="ATGC")
    assert p0.support_size() == 128
    # value from ../shared/data/README.md
    assert p0.entropy() == pytest.approx(4.71504, abs=5e-6)


def test_marginal_and_conditional():
    p0 = ed.Distribution.dirichlet(3, 3, seed=4)
    m = p0.subsequence_table([2, 0])
    assert np.allclose(m, p0.table.sum(axis=1).T, rtol=0, atol=1e-15)
    x = (1, 2, 0)
    cond = p0.conditional(x, 1, [0, 2])
    expected = p0.table[1, :, 0] / p0.table[1, :, 0].sum()
    assert np.allclose(cond, expected, rtol=1e-14)


def test_conditional_on_impossible_event():
    p0 = ed.Distribution.from_dict({"AA": 1.0}, alphabet="AB")
    with pytest.raises(ValueError, match="probability 0"):
        p0.conditional("BA", 1, [0])


def test_sampling_is_seeded_and_empirical_converges():
    p0 = ed.Distribution.dirichlet(2, 3, seed=5)
    a = p0.sample(20000, np.random.default_rng(7))
    b = p0.sample(20000, np.random.default_rng(7))
    assert np.array_equal(a, b)
    emp = ed.Distribution.empirical(a, N=2)
    # each cell within 5 standard errors of its probability
    se = np.sqrt(p0.table * (1 - p0.table) / 20000)
    assert np.all(np.abs(emp.table - p0.table) <= 5 * se + 1e-12)


def test_empirical_from_strings():
    emp = ed.Distribution.empirical(["AT", "AT", "TA", "TT"], alphabet="AT")
    assert emp.prob("AT") == 0.5 and emp.prob("AA") == 0.0


def test_markov_enumeration_matches_nll(shared_data):
    chain = ed.load_distribution(shared_data / "markov_data_table.json")
    table = chain.to_table(6)
    assert table.sum() == pytest.approx(1.0, abs=1e-12)
    sp = ed.SequenceSpace(4, 6, alphabet=chain.alphabet)
    for x in ["ATGCAT", "CCCCCC", "GATTAC"]:
        assert np.log(table[sp.encode(x)]) == pytest.approx((-chain.nll(x)), rel=1e-13)


def test_markov_stationary_initial():
    T = np.array([[0.9, 0.1], [0.4, 0.6]])  # first order
    chain = ed.MarkovChain(T)
    pi = chain.initial
    assert np.allclose(pi @ T, pi, atol=1e-15)
    # stationary start: every position has the same marginal
    d = chain.to_distribution(4)
    for i in range(4):
        assert np.allclose(d.subsequence_table([i]), pi, atol=1e-14)


def test_markov_validation():
    with pytest.raises(ValueError, match="sum to 1"):
        ed.MarkovChain(np.array([[0.9, 0.2], [0.4, 0.6]]))
    with pytest.raises(ValueError, match="stationary"):
        ed.MarkovChain(np.eye(2))


@pytest.mark.parametrize("make", [
    lambda: ed.Distribution.dirichlet(10, 14),
    lambda: ed.Distribution.paper_toy(L=30),
    lambda: ed.MarkovChain(np.array([[0.9, 0.1], [0.4, 0.6]])).to_table(60),
])
def test_huge_tables_refused_before_allocating(make):
    with pytest.raises(ValueError, match="would need about .* of memory"):
        make()
