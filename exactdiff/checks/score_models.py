"""Checks of the score-model protocol: the exact DSE likelihood of the oracle score
equals the NLL (Theorem 3.2 for a model called only with σ̄), against the table (the
oracle's p_σ̄ shares ``core.tensor.apply_all`` with the factorized engine, so the rows
that compare with the table are the independent ones), and SEDD's per-position score
entropy equals the DSE. Every
check returns a list of :class:`CheckResult`.

Routes. The model's limit (:func:`~exactdiff.dse_limit`)
calls :class:`~exactdiff.OracleScore` on every reachable state at each node of its own
adaptive Gauss–Kronrod quadrature over σ̄ and sums the DSE from its definition; it is
compared with −log p0(x0) from the table (σ̄(T) = ∞, where Theorem 3.2 has no KL term) and,
at a finite T, with ∫_0^T mdse(x0, t) dt of the factorized engine and ``quad_vec``
(:func:`~exactdiff.mdse_integral`).
"""

from __future__ import annotations

import numpy as np

from ..adapters.sedd import sedd_score_entropy
from ..core.validation import as_table
from ..information import mdse_integral, pointwise_kl
from ..score import OracleScore, dse_estimator_moments, dse_limit, estimate_dse_nll
from ..process import Constant, Geometric, absorbing, uniform
from .estimators import Z_BOUND, _z_result
from .reference import reference_dse_loss
from .result import compare

__all__ = ["check_score_model_limit", "check_sedd_adapter", "check_dse_estimator_monte_carlo"]

#: The oracle's limit against the NLL: the quadrature asks for epsrel 1e-11 and its
#: measured residuals are below 2e-14 (uniform and absorbing, sparse and dense toys); a
#: result off by a relative 1e-8 fails.
TOL_LIMIT = 1e-10
#: SEDD's loss against the DSE summed pair by pair: two exact formulas (measured 1e-15).
TOL_EXACT = 1e-12


def _setup(table, process, extra=None, **more):
    out = {"process": process.name, "schedule": repr(process.schedule), "N": int(table.shape[0]),
           "L": int(table.ndim)}
    out.update(extra or {})
    out.update(more)
    return out


def check_score_model_limit(p0, *, at=None, T=1.0, setup=None, tol=TOL_LIMIT):
    """The oracle score's exact DSE likelihood equals −log p0(x0) for every x0 of p0 (or
    the sequences ``at``, an int array (m, L) in the support).

    Rows:

    1. uniform process, constant rate, σ̄(T) = ∞: L^∞_DSE(x0; s*) = −log p0(x0);
    2. absorbing process, constant rate, σ̄(T) = ∞: the same (no prior term at λ = 1);
    3. uniform process, geometric schedule, finite ``T``: the integral part
       ∫_0^{σ̄(T)} E[h] dσ̄ of the model's limit = ∫_0^T mdse(x0, t) dt of the factorized
       engine (:func:`~exactdiff.mdse_integral`; the route differs in the quadrature and
       in how the DSE is summed, not in p_σ̄);
    4. absorbing process, constant rate, σ̄(T) = 2: the limit with its prior term =
       −log p0(x0) − KL(p_{T|0} ‖ p_T) + KL(p_{T|0} ‖ π_T), both KLs from the factorized
       engine (π_T: the marginal of the uniform data law).

    Residuals relative to max(|value|, 1 nat); ``tol`` 1e-10. Cost: one model call on
    every reachable state per node, about 150–300 nodes per row: well under a second for
    N = 3, L = 3; on the paper toy (N = 4, L = 8) about 10 s per row for one x0 and a
    few minutes for all 128 (then pass a sample as ``at``).
    """
    table = as_table(p0)
    x0s = np.argwhere(table > 0) if at is None else np.atleast_2d(np.asarray(at))
    nll = -np.log(table[tuple(x0s.T)])
    scale = np.maximum(nll, 1.0)
    out = []
    for process in (uniform(table.shape[0], Constant(1.0)), absorbing(table.shape[0], Constant(1.0))):
        value, info = dse_limit(OracleScore(table, process), process, x0s, epsrel=1e-11)
        out.append(compare("DSE limit of the oracle score = -log p0(x0)", "Theorem 3.2 (score model)",
                           _setup(table, process, setup, n_sequences=len(x0s), model_calls=info["model_calls"]),
                           value, nll, tol, scale,
                           f"σ̄(T) = ∞; {info['nodes']} nodes, {info['model_calls']} model calls of "
                           f"{info['states']} states; rel. to max(NLL, 1 nat)"))
    process = uniform(table.shape[0], Geometric(1e-3, 20.0))
    _, info = dse_limit(OracleScore(table, process), process, x0s, T=T, epsrel=1e-11)
    big = process.n**table.ndim > 10_000  # quad_vec meets the rounding noise there (mdse_integral)
    reference, _ = mdse_integral(table, process, T, pointwise=True, quadrature="gauss-legendre" if big else "quad_vec")
    reference = reference[tuple(x0s.T)]
    out.append(compare("∫ E ℓ_DSE(oracle score) dt = ∫ mdse dt", "Theorem 3.2 (score model)",
                       _setup(table, process, setup, n_sequences=len(x0s), T=T), info["integral"], reference, tol,
                       np.maximum(np.abs(reference), 1.0),
                       "model calls on every state + GK15 over σ̄ vs factorized mdse + quad_vec in log σ̄; "
                       "rel. to max(value, 1 nat)"))
    # a finite T with a real prior term: the absorbing process at σ̄(T) = 2 (λ = 0.86)
    process, T_prior = absorbing(table.shape[0], Constant(1.0)), 2.0
    value, info = dse_limit(OracleScore(table, process), process, x0s, T=T_prior, epsrel=1e-11)
    uniform_law = np.full(table.shape, 1.0 / table.size)  # π_T is p_T of the uniform data law
    at = tuple(x0s.T)
    reference = nll - pointwise_kl(table, process, T_prior)[at] + pointwise_kl(uniform_law, process, T_prior)[at]
    out.append(compare("DSE limit at finite T = NLL - KL(.||p_T) + KL(.||pi_T)", "Theorem 3.2 (score model)",
                       _setup(table, process, setup, n_sequences=len(x0s), T=T_prior), value, reference, tol, scale,
                       "the prior term against KL to the marginal of the uniform data law (factorized "
                       "engine); rel. to max(NLL, 1 nat)"))
    return out


def check_dse_estimator_monte_carlo(p0, x0, *, n=20000, seed=0, setup=None, bound=Z_BOUND):
    """The Monte Carlo DSE estimator (:func:`~exactdiff.estimate_dse_nll`, law ``power``)
    against its exact mean and variance (:func:`~exactdiff.dse_estimator_moments`) with
    the oracle score, under the uniform process (SEDD's geometric noise, T = 1) and the
    absorbing process (constant rate, T = 2: a prior term of order L(1−λ) log N). The draws go through
    the per-draw loss and the prior term; the exact moments through the enumeration and
    the quadrature. Two rows per process (mean, variance), each held to ``bound``
    standard errors; one stream per process (``SeedSequence(seed).spawn``)."""
    table = as_table(p0)
    x0 = np.asarray(x0)
    streams = iter(np.random.SeedSequence(seed).spawn(2))
    out = []
    for process, T in ((uniform(table.shape[0], Geometric(1e-4, 20.0)), 1.0),
                       (absorbing(table.shape[0], Constant(1.0)), 2.0)):
        model = OracleScore(table, process)
        exact = dse_estimator_moments(model, process, x0, "power", T=T)
        est = estimate_dse_nll(model, process, x0, "power", n, np.random.default_rng(next(streams)), T=T)
        info = _setup(table, process, setup, estimator="power", n=n, seed=seed, T=T)
        out.append(_z_result("MC mean = exact mean, DSE power law", info, est.estimate, exact.mean,
                             exact.stderr(n), bound, f"|z| of the mean of {n} draws; exact variance {exact.variance:.4g}"))
        out.append(_z_result("MC variance = exact variance, DSE power law", info, float(est.samples.var(ddof=1)),
                             exact.variance, exact.variance_stderr(n), bound,
                             f"|z| of the sample variance of {n} draws (s.e. from the exact 4th moment)"))
    return out


def check_sedd_adapter(N=3, L=3, *, n_pairs=40, seed=0, setup=None, tol=TOL_EXACT):
    """SEDD's per-position score entropy, multiplied by the rate and summed over positions,
    equals ℓ_DSE of :func:`~exactdiff.checks.reference.reference_dse_loss` (summed pair by
    pair from its definition)
    for random positive scores, at ``n_pairs`` seeded (x0, x, t), under the uniform and
    the absorbing graph. Residual relative to max(|ℓ|, 1)."""
    rng = np.random.default_rng(seed)
    out = []
    for graph, process in (("uniform", uniform(N, Geometric(1e-4, 20.0))), ("absorbing", absorbing(N, Constant(1.0)))):
        n = process.n
        scores = rng.uniform(0.2, 3.0, size=(n,) * L + (L, n))
        lhs, rhs = [], []
        for _ in range(n_pairs):
            t = float(rng.choice([1e-3, 0.1, 0.5, 1.0]) * rng.uniform(0.5, 1.5))
            x0 = rng.integers(0, N, size=L)
            k = process.kernel(t)
            x = np.array([rng.choice(n, p=k[:, a]) for a in x0])
            loss = sedd_score_entropy(np.log(scores[tuple(x)])[None], [process.total(t)], x[None], x0[None], graph)
            lhs.append(process.rate(t) * float(loss.sum()))
            rhs.append(reference_dse_loss(scores, process, t, tuple(x0), tuple(x)))
        lhs, rhs = np.array(lhs), np.array(rhs)
        out.append(compare(f"SEDD score entropy · σ(t) = ℓ_DSE ({graph} graph)", "SEDD adapter (DSE)",
                           {"toy": "random scores", "process": process.name, "schedule": repr(process.schedule),
                            "N": N, "L": L, "seed": seed, **(setup or {})},
                           lhs, rhs, tol, np.maximum(np.abs(rhs), 1.0),
                           f"{n_pairs} seeded (x0, x, t); rel. to max(|ℓ|, 1)"))
    return out
