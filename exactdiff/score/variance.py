"""When the variance of a DSE estimator is infinite, and which orders are finite.

Near σ̄ = 0, for a model regular there, E[h² | σ̄] = κ(σ̄)/σ̄ + O(log²(1/σ̄)), κ coming from
the states one jump from x0. A law whose density stays bounded at σ̄ = 0 (``uniform_t``,
``uniform_lambda`` at t_min = 0, :mod:`~exactdiff.score.laws`) has infinite variance iff
κ ≢ 0. For the oracle under the uniform process κ ≢ 0 iff another support point of p0
lies within Hamming distance 2 of x0; under the absorbing process iff one lies at
distance 1. So **on sparse tables ``uniform_t`` at t_min = 0 has finite variance for some
x0** (62 % of the paper toy's 128 sequences under the uniform process, 97 % under the
absorbing one), and for none of a full-support table; an imperfect model gives κ ≢ 0 for
every x0. A cut-off t_min > 0 makes every variance finite at the price of a bias
−∫_0^{σ̄(t_min)} E[h] dσ̄, computed exactly (``cutoff_bias``).

Three routes decide κ ≢ 0, chosen by the model's capabilities
(:mod:`~exactdiff.score.protocol`):

- ``exact_support`` under the uniform process (exact, from the support): with m₁ the
  number of support points at Hamming distance 1 and, for a neighbour x ∉ supp,
  P1(x) = Σ_{z ~ x} p0(z),
  κ = (1/N)[Σ_{x ∈ supp} (log(1/σ̄) + log(N p0(x)/p0(x0)) − 1)² + Σ_{x ∉ supp} log²(P1(x)/p0(x0))]
  + o(1): nonzero iff another support point lies within Hamming distance 2 of x0;
- ``single_token_losses`` under the absorbing process (exact, Lemma 3.3): κ = Σ_j ℓ_j²,
  ℓ_j = −log c(x0 with j masked)_{j, x0^j}: nonzero iff some single masked token is not
  certain — the criterion of the masked time-integral estimator
  (:func:`~exactdiff.estimator_moments`);
- any other model (numerical): σ̄·E[h² | σ̄] at σ̄ = 1e-30 against 1e-15 (a divergent model
  gives >= c·log^k(1/σ̄) there, a finite one about 1e-27).
"""

from __future__ import annotations

import numpy as np

from .protocol import capability
from .states import STATES_PER_CALL, Enumerator

__all__ = ["variance_divergence", "finite_order", "SMALL_NOISE", "KAPPA_TOL"]

#: The black-box test of a divergent variance evaluates σ̄·E[h² | σ̄] at σ̄ = SMALL_NOISE;
#: a model regular at σ̄ → 0 gives there >= c·log^k(1/σ̄) with c > 0 when κ ≢ 0 and
#: O(σ̄ log²(1/σ̄)) ≈ 1e-27 when κ ≡ 0, on either side of KAPPA_TOL.
SMALL_NOISE = 1e-30
KAPPA_TOL = 1e-15


def finite_order(beta, r) -> bool:
    """E[D^r] is guaranteed finite at σ̄ → 0 when (r − 1)(1 − β) < 1, from the bound
    E[h^r | σ̄] = O(σ̄^{1−r} log^r(1/σ̄)) and a law q_σ̄ ~ σ̄^{−β}; ``beta`` None: no
    singularity (t_min > 0)."""
    return beta is None or (r - 1) * (1 - beta) < 1


def variance_divergence(model, process, x0, *, states_per_call=STATES_PER_CALL):
    """Whether the 1/σ̄ part of E[h² | σ̄] is nonzero as σ̄ → 0 (module docstring); then
    every law whose density stays bounded at σ̄ = 0 has infinite variance.

    Returns
    -------
    (diverges, reason, route) : (bool, str, {"exact", "numeric"})

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> far = np.zeros((2, 2, 2)); far[0, 0, 0], far[1, 1, 1] = 0.6, 0.4   # support at distance 3
    >>> variance_divergence(ed.OracleScore(far, ed.uniform(2)), ed.uniform(2), np.array([0, 0, 0]))[0]
    False
    """
    X0 = np.atleast_2d(np.asarray(x0, dtype=np.int64))
    return divergences(model, process, X0, states_per_call)[0]


def divergences(model, process, X0, states_per_call=STATES_PER_CALL):
    """:func:`variance_divergence` for every row of X0; the numeric route in one node."""
    out = [_exact_divergence(model, process, x0) for x0 in X0]
    todo = [j for j, r in enumerate(out) if r is None]
    if todo:
        enum = Enumerator(model, process, X0[todo], states_per_call)
        values = enum.moments(SMALL_NOISE, 2)[1] * SMALL_NOISE
        for j, val in zip(todo, values):
            verdict = not val <= KAPPA_TOL
            sign = ">" if verdict else "<="
            out[j] = (verdict, f"numeric: σ̄·E[h²|σ̄] = {val:.4g} at σ̄ = {SMALL_NOISE:g} ({sign} {KAPPA_TOL:g})",
                      "numeric")
    return out


def _exact_divergence(model, process, x0):
    """The exact routes of :func:`variance_divergence` (None where none applies)."""
    support = capability(model, "exact_support")
    if process.kind == "uniform" and support is not None:
        found = support(process)
        if found is not None:
            d = (found[0] != x0[None, :]).sum(axis=1)
            m1, m2 = int((d == 1).sum()), int((d == 2).sum())
            if m1 + m2:
                return True, (f"exact (oracle, uniform): {m1} support point(s) at Hamming distance 1 and {m2} at "
                              f"distance 2 from x0, so E[h²|σ̄] ~ κ/σ̄ with κ > 0"), "exact"
            return False, "exact (oracle, uniform): no other support point within Hamming distance 2 of x0", "exact"
    single = capability(model, "single_token_losses")
    if process.kind == "absorbing" and single is not None:
        losses = single(x0, process)
        if losses is not None:
            kappa = float(np.sum(np.asarray(losses, dtype=np.float64) ** 2))
            if kappa > 0:
                return True, f"exact (Lemma 3.3, absorbing): E[h²|σ̄] ~ κ/σ̄ with κ = Σ_j ℓ_j² = {kappa:.6g} > 0", "exact"
            return False, "exact (Lemma 3.3, absorbing): every single masked token is certain (κ = 0)", "exact"
    return None
