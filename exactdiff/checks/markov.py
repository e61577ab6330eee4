"""Checks of the Markov-chain machinery against enumeration: the law of L letters, the
marginals and the conditionals by forward–backward, for a chain with a non-stationary
initial law. Every check returns a list of :class:`CheckResult`."""

from __future__ import annotations

import itertools

import numpy as np

from ..markov import MarkovChain
from .result import compare

__all__ = ["random_chain", "enumerate_chain", "check_markov_chain"]

#: Forward–backward against enumeration: both exact up to rounding (measured below 1e-14).
TOL_EXACT = 1e-12


def random_chain(N=3, order=2, seed=0, alphabet=None):
    """A seeded chain with Dirichlet(1/2) rows and a Dirichlet(1/2) initial law (not the
    stationary one)."""
    rng = np.random.default_rng(seed)
    T = rng.dirichlet(np.full(N, 0.5), size=(N,) * order)
    initial = rng.dirichlet(np.full(N**order, 0.5)).reshape((N,) * order)
    return MarkovChain(T, initial=initial, alphabet=alphabet)


def enumerate_chain(chain, L):
    """The law of L >= k letters as a dict {tuple: probability}, by the literal product
    p(x) = initial(x^{1..k}) Π_{j>k} P(x^j | x^{j−k..j−1}) over every tuple."""
    k = chain.order
    out = {}
    for x in itertools.product(range(chain.N), repeat=L):
        p = float(chain.initial[x[:k]])
        for j in range(k, L):
            p *= float(chain.transitions[x[j - k: j + 1]])
        out[x] = p
    return out


def check_markov_chain(chain, L=6, *, n_sets=24, seed=0, setup=None):
    """A :class:`~exactdiff.MarkovChain` against enumeration of its law of L letters
    (:func:`enumerate_chain`):

    - the table ``to_table(L)`` and −log p(x) by ``nll``, every x;
    - log p(x^U) by ``log_subsequence`` (one forward pass) for ``n_sets`` seeded visible sets;
    - the conditional of every hidden position by forward–backward (``posteriors``) for
      the same sets.
    """
    law = enumerate_chain(chain, L)
    xs = list(law)
    probs = np.array([law[x] for x in xs])
    table = chain.to_table(L)
    rng = np.random.default_rng(seed)
    support = [x for x in xs if law[x] > 0]
    nll_a = np.array([chain.nll(x) for x in support])
    nll_b = -np.log([law[x] for x in support])
    lm_a, lm_b, c_a, c_b = [], [], [], []
    for _ in range(n_sets):
        x = support[rng.integers(len(support))]
        visible = np.flatnonzero(rng.random(L) < 0.5)
        mass = probs[[all(z[j] == x[j] for j in visible) for z in xs]].sum()
        lm_a.append(chain.log_subsequence(x, visible))
        lm_b.append(np.log(mass))
        row = np.full(L, chain.N)
        row[visible] = np.asarray(x)[visible]
        post = chain.posteriors(row[None])[0]
        for i in set(range(L)) - set(visible.tolist()):
            for v in range(chain.N):
                joint = sum(law[z] for z in xs if z[i] == v and all(z[j] == x[j] for j in visible))
                c_a.append(post[i, v])
                c_b.append(joint / mass)
    info = dict(setup or {}, N=chain.N, order=chain.order, L=L, initial="stationary" if chain.initial_is_stationary
                else "given (not stationary)", n_sets=n_sets, seed=seed)
    return [
        compare("chain law = enumeration (table, -log p)", "Markov chain", info,
                np.concatenate([table.ravel(), nll_a]), np.concatenate([probs, nll_b]), TOL_EXACT,
                np.concatenate([np.ones(probs.size), np.maximum(nll_b, 1.0)]),
                "table: absolute; NLL: rel. to max(NLL, 1 nat)"),
        compare("chain log p(x^U) = enumeration", "Markov chain (forward pass)", info, lm_a, lm_b, TOL_EXACT,
                np.maximum(np.abs(lm_b), 1.0), "rel. to max(|log p|, 1 nat)"),
        compare("chain p(x^i | x^U) = enumeration", "Markov chain (forward–backward)", info, c_a, c_b, TOL_EXACT,
                1.0, "absolute, on conditional probabilities"),
    ]
