"""Checks of the fitted denoisers against their definitions, counted by hand: the
empirical denoiser is the oracle of (n(x) + α)/(n + α N^L) with α = 1/N^L by default, and
the Markov denoiser the oracle of the chain (n(c, v) + α)/(n(c) + N α), α = 1/N. Every
check returns a list of :class:`CheckResult`."""

from __future__ import annotations

import itertools

import numpy as np

from ..masked import EmpiricalDenoiser, MarkovDenoiser, OracleDenoiser
from .markov import random_chain
from .result import compare

__all__ = ["check_fitted_denoisers"]

#: Counts divided by counts: exact up to rounding.
TOL_EXACT = 1e-12


def check_fitted_denoisers(N=3, L=3, n_samples=200, seed=0, *, setup=None):
    """Fit both denoisers with their default pseudo-counts on seeded samples and compare
    them with the definitions evaluated by a literal count: the empirical denoiser's
    outputs on every noisy pattern with the oracle of the hand-counted law, and the Markov
    denoiser's transition table with the hand-counted one."""
    rng = np.random.default_rng(seed)
    chain = random_chain(N, 2, seed=seed)
    samples = chain.sample(n_samples, L, rng)
    counts = {}
    for row in samples:
        counts[tuple(row)] = counts.get(tuple(row), 0) + 1
    alpha = 1.0 / N**L
    law = np.array([(counts.get(x, 0) + alpha) / (n_samples + alpha * N**L)
                    for x in itertools.product(range(N), repeat=L)]).reshape((N,) * L)
    queries = np.array(list(itertools.product(range(N + 1), repeat=L)))
    queries = queries[(queries == N).any(axis=1)]
    fitted, reference = EmpiricalDenoiser(samples, N)(queries), OracleDenoiser(law)(queries)
    masked = queries == N
    run = chain.sample(1, 5000, rng)[0]
    k = chain.order
    pairs = {}
    for j in range(k, run.size):
        pairs[tuple(run[j - k: j + 1])] = pairs.get(tuple(run[j - k: j + 1]), 0) + 1
    table = np.empty((N,) * (k + 1))
    for c in itertools.product(range(N), repeat=k):
        total = sum(pairs.get(c + (v,), 0) for v in range(N))
        for v in range(N):
            table[c + (v,)] = (pairs.get(c + (v,), 0) + 1.0 / N) / (total + 1.0)
    info = dict(setup or {}, toy=f"{n_samples} samples of a random order-2 chain", N=N, L=L, seed=seed)
    return [
        compare("empirical denoiser = oracle of (n(x)+1/N^L)/(n+1)", "fitted denoisers", info,
                fitted[masked], reference[masked], TOL_EXACT, 1.0, "every masked row of every noisy pattern"),
        compare("Markov denoiser = chain of (n(c,v)+1/N)/(n(c)+1)", "fitted denoisers",
                dict(setup or {}, toy="a run of 5000 letters of a random order-2 chain", N=N, seed=seed),
                MarkovDenoiser(run, N, k).chain.transitions.ravel(), table.ravel(), TOL_EXACT, 1.0,
                "transition probabilities, one run of 5000 letters"),
    ]
