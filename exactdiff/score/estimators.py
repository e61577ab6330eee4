"""Monte Carlo estimators of a score model's DSE likelihood.

One draw: σ̄ ~ q (a law of :mod:`~exactdiff.score.laws`, a density q_σ̄ over σ̄), then
x ~ p_{σ̄|0}(·|x0) token-wise (:func:`~exactdiff.score.states.sample_states`), and
D = h(x0, x, σ̄)/q_σ̄(σ̄) + prior, with h = ℓ_DSE/σ(t)
(:func:`~exactdiff.score.loss.dse_loss_per_rate`) — the same as ℓ_DSE(t)/q_t(t) for a
density q_t over time. E[D] = :func:`~exactdiff.dse_limit` at t_min = 0; the exact moments
of D are :func:`~exactdiff.dse_estimator_moments`.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.results import Estimate
from ..core.validation import validate_count, validate_rng
from .laws import sigma_law, window
from .loss import dse_loss_per_rate, dse_prior_term
from .moments import _check_range, _range_of, as_sequences, cutoff_integral, dse_estimator_moments
from .protocol import evaluate_score_model
from .states import sample_states

__all__ = ["estimate_dse_nll", "DRAWS_PER_CALL"]

#: Monte Carlo draws per model call.
DRAWS_PER_CALL = 4096


def estimate_dse_nll(model, process, x0, law, n, rng, *, T=None, t_min=0.0, alpha=None, rho=None,
                     draws_per_call=DRAWS_PER_CALL, exact_bias=True, exact_moments=False) -> Estimate:
    """Monte Carlo estimate of a score model's DSE likelihood L^T_DSE(x0; s) + prior
    (module docstring).

    Parameters
    ----------
    model : score model
    process : ForwardProcess (token-wise)
    x0 : int array, shape (L,)
    law : {"uniform_t", "log_sigma", "uniform_lambda", "power"}
        The law of σ̄ (:mod:`~exactdiff.score.laws`). ``uniform_t`` and ``uniform_lambda``
        at t_min = 0 have infinite variance unless κ(x0) = 0
        (:func:`~exactdiff.score.variance.variance_divergence`; with an imperfect model,
        for every x0), so their ``stderr`` is then not to be trusted; ``power`` has finite
        variance (and fourth moment) for every model regular at σ̄ → 0; ``log_sigma``
        needs t_min > 0.
    n : int >= 2
        Number of draws.
    rng : numpy.random.Generator or int
    T, t_min : float
        The window [t_min, T] (T: default the end of the schedule's domain).
    alpha, rho : float, optional
        ``power`` only: the exponent α in (0, 1) (default 1/4) and the weight ρ in [0, 1)
        of its uniform-in-λ part (default :data:`~exactdiff.score.laws.DEFAULT_RHO`).
    draws_per_call : int
        Draws per model call.
    exact_bias : bool
        With t_min > 0 the mean misses ∫_0^{σ̄(t_min)} E[h] dσ̄; compute that cut-off bias
        exactly (enumeration and quadrature) into ``cutoff_bias`` (else None; also None
        for a model defined above some σ̄ only, ``sigma_bar_range``).
    exact_moments : bool
        Also compute the exact moments of one draw (enumeration and quadrature) into
        ``exact``: the kurtosis and whether n draws are enough for the normal interval.

    Returns
    -------
    Estimate
        ``.estimate``, ``.stderr``, ``.n``, ``.law``, ``.cutoff_bias`` (0 at t_min = 0),
        ``.samples`` (the n draws, prior included), ``.exact``.

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> p0 = ed.Distribution.dirichlet(2, 3, seed=1); proc = ed.uniform(2); x0 = np.array([0, 1, 1])
    >>> est = ed.estimate_dse_nll(ed.OracleScore(p0, proc), proc, x0, "power", 4000, np.random.default_rng(0))
    >>> bool(abs(est.estimate - p0.nll((0, 1, 1))) < 4 * est.stderr)
    True
    """
    X0 = as_sequences(x0, process, model, many=False)
    n = validate_count(n, "n", 2)
    draws_per_call = validate_count(draws_per_call, "draws_per_call")
    rng = validate_rng(rng)
    prop = sigma_law(law, process, alpha, rho)
    w = window(process, T, t_min)
    prop.check(w)
    _check_range(model, w)
    sbar, inv_q = prop.sample(w, n, rng)
    x = sample_states(process, X0, sbar, rng)
    h = np.empty(n)
    for a in range(0, n, draws_per_call):
        sl = slice(a, a + draws_per_call)
        s = evaluate_score_model(model, process, sbar[sl], x[sl])
        h[sl] = dse_loss_per_rate(s, process, sbar[sl], X0, x[sl])
    if np.any(np.isnan(h)):
        b = int(np.argmax(np.isnan(h)))
        raise ValueError(f"the score model gave a NaN loss at sigma_bar={sbar[b]:.6g}, x={x[b].tolist()}: check its "
                         f"`log_scores` flag (--log-scores) and that its scores are finite.")
    prior = dse_prior_term(process, w.s_hi, X0)
    draws = h * inv_q + prior
    bias = 0.0
    if w.s_lo > 0:
        computable = exact_bias and _range_of(model)[0] == 0.0
        bias = -float(cutoff_integral(model, process, X0[None, :], w.s_lo)[0]) if computable else None
    stderr = float(np.std(draws, ddof=1) / math.sqrt(n)) if np.all(np.isfinite(draws)) else math.inf
    exact = None
    if exact_moments:
        exact = dse_estimator_moments(model, process, X0, law, T=T, t_min=t_min, alpha=alpha, rho=rho)
    return Estimate(estimate=float(draws.mean()), stderr=stderr, n=n, law=law, cutoff_bias=bias, samples=draws,
                    exact=exact)
