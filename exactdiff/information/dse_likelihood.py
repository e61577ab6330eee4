"""The DSE likelihood of any score model, exactly: its limit, its Monte Carlo
estimators, and their exact moments (Theorems 3.1–3.2 for any diffusion).

Notation of MATH.md (column convention, nats). For a token-wise process with per-token
generator Q, W = Q with the diagonal removed (W[a, v] the rate from v **into** a),
k = exp(σ̄ Q) and a score model s (:mod:`~exactdiff.information.score_models`),

.. math::

    \\ell_{DSE}(x_0, x, t, s) = \\sigma(t)\\, h(x_0, x, \\bar\\sigma), \\qquad
    h = \\sum_i \\sum_{v \\ne x^i} W[x^i, v]\\,[\\, s_{i,v} - r_{i,v}\\log s_{i,v} + K(r_{i,v}) \\,],

with r_{i,v} = k(v | x0^i)/k(x^i | x0^i) and K(a) = a(log a − 1), K(0) = 0. Each bracket
is r·φ(s/r) with φ(z) = z − 1 − log z ≥ 0, so h ≥ 0 term by term.

**Every time integral is an integral over σ̄.** A model sees only σ̄, so h depends on t
only through σ̄ and, with dσ̄ = σ(t) dt,

.. math::

    L^T_{DSE}(x_0; s) = \\int_0^T \\mathbb E_{x_t|x_0} \\ell_{DSE}\\, dt
                     = \\int_0^{\\bar\\sigma(T)} \\mathbb E_{x|x_0}[h]\\, d\\bar\\sigma .

The limit depends on the schedule only through σ̄(T); the variance of an estimator
depends on it only through its sampling law (``method``). The model's exact DSE
likelihood is L^T_DSE(x0; s) plus a **prior term** KL(p_{T|0}(·|x0) ‖ π_T), π_T the law at
T of the process started from the uniform data law (:func:`dse_prior_term`): uniform for
the uniform process; for the absorbing process (1−λ_T)/N on each data token and λ_T on
the mask. With σ̄(T) = ∞ — the default for schedules without an end, such as
``Constant`` — there is no prior term, and the integral converges only when the model's
scores decay as σ̄ → ∞ (checked; :func:`dse_limit`). For the oracle the value is
−log p0(x0) + [KL(p_{T|0} ‖ π_T) − KL(p_{T|0} ‖ p_T)] (Theorem 3.2), the bracket 0 at σ̄(T) = ∞.

**Exact expectations** are sums over every state reachable from x0 (N^L for the uniform
process, 2^L for the absorbing one), with batched model calls of at least 4096 states
(one call per quadrature node when the states fit one batch); **integrals** are adaptive
Gauss–Kronrod 15 with QUADPACK's error estimate, in v = σ̄^{1/8} on [0, e^{−8}] (down to
σ̄ = 0 exactly; it makes the singular integrands σ̄^{−γ} log^k(1/σ̄) of the variances
smooth) and in u = log σ̄ above; about 120–250 nodes.

**Estimators** (:func:`estimate_dse_nll`). One draw is σ̄ ~ q (the law of ``method``, a
density q_σ̄ over σ̄; q_t(t) = q_σ̄(σ̄(t))·σ(t)), x ~ p_{σ̄|0}(·|x0) token-wise, and
D = h/q_σ̄(σ̄) + prior, so E[D] = ∫ E[h] dσ̄ + prior for every method and
E[(D − prior)^r] = ∫ E[h^r | σ̄] / q_σ̄^{r−1} dσ̄ (:func:`dse_estimator_moments`). Write
λ = 1 − e^{−σ̄}: the masking level of the absorbing process, and for the uniform process
the probability that a token has been redrawn uniformly.

==================  ===========================================  ==============================
``method``          law of σ̄                                     variance at t_min = 0
==================  ===========================================  ==============================
``uniform_t``       t ~ U(t_min, T) (finite T)                   finite iff κ(x0) = 0 (below)
``log_sigma``       log σ̄ ~ U(log σ̄(t_min), log σ̄(T))            needs t_min > 0, σ̄(T) < ∞
``uniform_lambda``  λ ~ U(λ(t_min), λ(T)): the masked time-       finite iff κ(x0) = 0
                    integral law under the absorbing process
``power``           ρ·U(λ) + (1−ρ)·Beta(α, 1) in λ (α = 1/4;      finite (every model regular
                    ρ = 0.9 absorbing, 1/2 otherwise)             at σ̄ → 0), and E[D⁴] too
==================  ===========================================  ==============================

**When the variance is infinite.** Near σ̄ = 0, E[h² | σ̄] = κ(σ̄)/σ̄ + O(log²(1/σ̄)), κ coming
from the states one jump from x0 (:func:`variance_divergence`). A law whose density stays
bounded at σ̄ = 0 (``uniform_t``, ``uniform_lambda`` at t_min = 0) has infinite variance iff
κ ≢ 0. For the oracle under the uniform process κ ≢ 0 iff another support point of p0
lies within Hamming distance 2 of x0; under the absorbing process iff one lies at
distance 1. So **on sparse tables ``uniform_t`` at t_min = 0 has finite variance for some
x0** (62 % of the paper toy's 128 sequences under the uniform process, 97 % under the
absorbing one), and for none of a full-support table; an imperfect model gives κ ≢ 0 for
every x0. A cut-off t_min > 0 makes every variance finite at the price of a bias
−∫_0^{σ̄(t_min)} E[h] dσ̄, computed exactly (``cutoff_bias``).

The variance-optimal law is q*(σ̄) ∝ √E[h² | σ̄] (Cauchy–Schwarz), with variance
(∫ √E[h²] dσ̄)² − (∫ E[h] dσ̄)² (:func:`optimal_proposal`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time

import numpy as np
from scipy.special import rel_entr, xlogy

from ..core import memory
from ..core.validation import as_token_array, check_count, check_rng
from ..masked.denoisers import evaluate_denoiser
from ..masked.estimators import Estimate, EstimatorMoments
from .score_entropy import _K
from .score_models import (
    DenoiserScore,
    OracleScore,
    evaluate_score_model,
    process_kind,
    score_entry_weights,
    sigma_bar_max,
    token_kernels,
)

__all__ = [
    "dse_loss_per_rate",
    "dse_prior_term",
    "reachable_states",
    "dse_limit",
    "estimate_dse_nll",
    "dse_estimator_moments",
    "dse_moments_table",
    "optimal_proposal",
    "variance_divergence",
    "DSE_METHODS",
    "DEFAULT_RHO",
]

#: Where σ̄(T) = ∞ the quadrature stops at σ̄ = SBAR_CUT, after checking that σ̄·E[h | σ̄]
#: there is below TAIL_TOL (else the model's scores do not decay: pass a finite T).
SBAR_CUT = 60.0
TAIL_TOL = 1e-12
#: States per model call in enumeration (one call per node up to N = 4, L = 8, uniform).
BATCH_SIZE = 65536
#: The fewest states per model call the enumeration accepts.
MIN_BATCH = 4096
#: The black-box test of a divergent variance evaluates σ̄·E[h² | σ̄] at σ̄ = SMALL_NOISE;
#: a model regular at σ̄ → 0 gives there >= c·log^k(1/σ̄) with c > 0 when κ ≢ 0 and
#: O(σ̄ log²(1/σ̄)) ≈ 1e-27 when κ ≡ 0, on either side of KAPPA_TOL.
SMALL_NOISE = 1e-30
KAPPA_TOL = 1e-15


# -- the per-draw loss ------------------------------------------------------------------------------
def dse_loss_per_rate(scores, process, sigma_bar, x0, x) -> np.ndarray:
    """h = ℓ_DSE/σ(t) for a batch of draws, shape (B,):

    .. math:: h = \\sum_i \\sum_{v \\ne x^i} W[x^i, v]\\,[\\, s_{i,v} - r_{i,v}\\log s_{i,v}
              + K(r_{i,v}) \\,], \\qquad r_{i,v} = \\frac{k(v|x_0^i)}{k(x^i|x_0^i)},

    W the DSE weights (:func:`~exactdiff.information.score_models.score_entry_weights`), k =
    exp(σ̄ Q^tok), K(a) = a(log a − 1) (MATH.md, pointwise DSE). Multiplied by σ(t) it is
    :func:`~exactdiff.dse_loss` of each pair.

    Parameters
    ----------
    scores : array, shape (B, L, n)
        Scores (not logs), e.g. from
        :func:`~exactdiff.information.score_models.evaluate_score_model`; entries with
        weight 0 are ignored.
    process : ForwardProcess
        Token-wise.
    sigma_bar : float array, shape (B,)
        σ̄ of each draw (> 0).
    x0 : int array, shape (L,) or (B, L)
        Clean sequences, tokens 0..N−1.
    x : int array, shape (B, L)
        Noisy states.

    Returns
    -------
    ndarray, shape (B,)
        0·log 0 = 0 (``xlogy``); a zero score where r > 0 gives +∞.

    Raises
    ------
    ValueError
        When a row of x cannot be reached from x0 (k(x^i | x0^i) = 0), naming the row.

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> proc = ed.uniform(2); t = 0.3
    >>> s = np.random.default_rng(0).uniform(0.5, 2.0, size=(2, 2, 2, 2))   # neighbour form
    >>> h = dse_loss_per_rate(s[1, 0][None], proc, np.array([proc.total(t)]), np.array([0, 0]), np.array([[1, 0]]))
    >>> bool(abs(proc.rate(t) * h[0] - ed.dse_loss(s, proc, t, (0, 0), (1, 0))) < 1e-14)
    True
    """
    process_kind(process)
    x = as_token_array(x, process.n, "x")
    B, L = x.shape
    x0 = np.broadcast_to(as_token_array(np.atleast_2d(x0), process.N, "x0"), (B, L))
    sbar = np.asarray(sigma_bar, dtype=np.float64).reshape(B)
    if np.any(~(sbar > 0)):
        raise ValueError(f"`sigma_bar` must be > 0 (got minimum {np.nanmin(sbar)}).")
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (B, L, process.n):
        raise ValueError(f"`scores` must have shape (B, L, n) = {(B, L, process.n)} (got {scores.shape}).")
    k = token_kernels(process, sbar)  # (B, n, n)
    col = np.take_along_axis(k[:, None, :, :], x0[:, :, None, None], axis=3)[..., 0]  # (B, L, n): k(v | x0^i)
    den = np.take_along_axis(col, x[:, :, None], axis=2)  # (B, L, 1): k(x^i | x0^i)
    if np.any(den == 0):
        b = int(np.argmax((den == 0).any(axis=(1, 2))))
        raise ValueError(f"`x`={x[b].tolist()} cannot be reached from `x0`={x0[b].tolist()} (row {b}).")
    r = col / den
    W = score_entry_weights(process)[x]  # (B, L, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(W > 0, scores - xlogy(r, scores) + _K(r), 0.0)
    return (W * term).sum(axis=(1, 2))


# -- the prior term ---------------------------------------------------------------------------------
def dse_prior_term(process, sigma_bar_T, x0):
    """KL(p_{T|0}(·|x0) ‖ π_T), the prior term of the DSE likelihood, in closed form.

    π_T is the law at σ̄(T) of the process started from the uniform data law, token-wise
    π(y) = Σ_{a<N} k(y|a)/N; the KL is Σ_i Σ_y k(y|x0^i) log(k(y|x0^i)/π(y)), summed as
    Σ_y [rel_entr(k, π) − k + π] so that every term is ≥ 0 and no rounding gives a
    negative KL:

    - uniform: π_T is uniform (the stationary law) at every T;
    - absorbing: π_T(v) = (1−λ_T)/N for v < N and π_T(M) = λ_T, so the KL is
      L(1−λ_T) log N;
    - σ̄(T) = ∞: exactly 0.

    Parameters
    ----------
    process : ForwardProcess (token-wise)
    sigma_bar_T : float
        σ̄(T) (``inf`` allowed).
    x0 : int array, shape (L,) or (m, L)

    Returns
    -------
    float, or ndarray (m,)

    Examples
    --------
    >>> import exactdiff as ed, numpy as np, math
    >>> kl = dse_prior_term(ed.absorbing(4), 0.8, np.array([0, 3, 1]))
    >>> bool(abs(kl - 3 * math.exp(-0.8) * math.log(4)) < 1e-15)
    True
    """
    process_kind(process)
    x0 = as_token_array(np.asarray(x0), process.N, "x0", ndim=np.ndim(x0))
    sbar = float(sigma_bar_T)
    if not sbar >= 0:
        raise ValueError(f"`sigma_bar_T` must be a total noise >= 0 (got {sigma_bar_T}).")
    if math.isinf(sbar):
        return np.zeros(x0.shape[:-1]) if x0.ndim > 1 else 0.0
    k_all = token_kernels(process, np.float64(sbar))
    k = k_all[:, : process.N]  # (n, N): k(y | a)
    pi = (k_all[:, : process.N].sum(axis=1) / process.N)[:, None]
    per_token = (rel_entr(k, pi) - k + pi).sum(axis=0)  # (N,)
    out = per_token[x0].sum(axis=-1)
    return float(out) if x0.ndim == 1 else out


# -- enumeration -------------------------------------------------------------------------------------
def reachable_states(process, x0) -> np.ndarray:
    """Every state reachable from some row of x0 (m, L), as an int array (S', L), sorted.

    Token-wise, the states reachable from x0 are Π_i {v : k(v|x0^i) > 0}: all n^L states
    for the uniform process (the full grid in C order), {x0^i, M} at each position for
    the absorbing one (2^L states per x0).
    """
    process_kind(process)
    X0 = as_token_array(np.atleast_2d(x0), process.N, "x0")
    L = X0.shape[1]
    R = process.reachable[:, : process.N]  # R[v, a]: v reachable from a
    if R.all():
        memory.refuse(8 * L * process.n**L, f"the {process.n**L:,} states of n={process.n}, L={L}")
        return np.stack(np.unravel_index(np.arange(process.n**L), (process.n,) * L), axis=1)
    rows = []
    for row in X0:
        choices = [np.flatnonzero(R[:, a]) for a in row]
        rows.append(np.array(list(itertools.product(*choices)), dtype=np.int64).reshape(-1, L))
    return np.unique(np.concatenate(rows), axis=0)


class _Enumerator:
    """E_{x ~ p_{σ̄|0}(·|x0)}[h(x0, x)^r], r = 1..R, for every row x0 of X0, by summing over
    all reachable states, with batched model calls (``calls``, ``rows`` count them).

    With the scores s at every state, h splits as h(x0, x) = base(x) + Σ_i F[x, i, x0^i]:

    - base(x) = Σ_{i,v} W[x^i, v] s_{i,v}                                    (the s term)
    - F[x, i, a] = C[x^i, a] − Σ_v W[x^i, v] k(v|a) log s_{i,v} / k(x^i|a)    (r·log s)
    - C[b, a] = Σ_v W[b, v] K(k(v|a)/k(b|a))                                  (the K term)

    and P(x | x0) = Π_i k(x^i | x0^i). Tables over (position i, token x^i) are read by row
    gathers (``idx`` = i·n + x^i). For one x0 only the columns a = x0^i are formed (no
    BLAS call); for m > 1, F (S', L·N) is contracted with the one-hot matrix of X0
    (L·N × m), which gives h and log P for every x0 by two matrix products.
    """

    def __init__(self, model, process, X0, batch_size=BATCH_SIZE):
        if int(batch_size) < MIN_BATCH:
            raise ValueError(f"`batch_size` must be >= {MIN_BATCH} states per model call (got {batch_size}).")
        self.model, self.process, self.batch_size = model, process, int(batch_size)
        self.X0 = np.atleast_2d(np.asarray(X0, dtype=np.int64))
        self.m, self.L = self.X0.shape
        self.states = reachable_states(process, self.X0)
        S, L, n, N = self.states.shape[0], self.L, process.n, process.N
        memory.refuse(8 * S * (8 * L * n + 6 * self.m),
                      f"the DSE expectation over {S:,} states for {self.m} x0 (n={n}, L={L})")
        self.W = score_entry_weights(process)
        self.Wx = self.W[self.states]  # (S', L, n)
        self.idx = np.arange(L)[None, :] * n + self.states  # (S', L)
        self.onehot = np.zeros((L * N, self.m))
        self.onehot[(np.arange(L)[None, :] * N + self.X0).ravel(), np.repeat(np.arange(self.m), L)] = 1.0
        self.calls = self.rows = self.nodes = 0
        self.seconds_model = 0.0

    def scores(self, sbar):
        t0 = time.perf_counter()
        parts = []
        for a in range(0, self.states.shape[0], self.batch_size):
            xb = self.states[a: a + self.batch_size]
            parts.append(evaluate_score_model(self.model, self.process, np.full(xb.shape[0], sbar), xb))
            self.calls += 1
            self.rows += xb.shape[0]
        self.seconds_model += time.perf_counter() - t0
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def moments(self, sbar, R=1):
        """(R, m) array of E[h^r | σ̄] per x0 (``inf`` where h = ∞ on a reachable state)."""
        self.nodes += 1
        process, N, L, n = self.process, self.process.N, self.L, self.process.n
        S = self.states.shape[0]
        s = self.scores(sbar)
        kd = token_kernels(process, np.float64(sbar))[:, :N]  # (n, N): k(v | a)
        reach = kd > 0
        invk = np.where(reach, 1.0 / np.where(reach, kd, 1.0), 0.0)
        logk = np.where(reach, np.log(np.where(reach, kd, 1.0)), 0.0)
        C = np.zeros((n, N))
        for b in range(n):
            C[b] = (self.W[b][:, None] * _K(kd * invk[b][None, :])).sum(axis=0)
        Wx = self.Wx
        base = np.einsum("xiv,xiv->x", Wx, s)
        positive = bool(np.all(s > 0))
        logs = np.log(s) if positive else np.where(s > 0, np.log(np.where(s > 0, s, 1.0)), 0.0)
        Z = None if positive else Wx * (s == 0)  # zero scores with weight: +inf wherever k(v|a) > 0
        if self.m == 1:
            a = self.X0[0]
            rho = kd[:, a].T[:, None, :] * invk[:, a].T[:, :, None]  # (L, b, v): k(v|a_i)/k(b|a_i)
            Mx = np.take((self.W[None] * rho).reshape(L * n, -1), self.idx, axis=0)  # (S', L, n)
            H = base - np.einsum("xiv,xiv->x", Mx, logs)
            H = (H + C[:, a].T.ravel()[self.idx].sum(axis=1))[:, None]
            P = np.exp(logk[:, a].T.ravel()[self.idx].sum(axis=1))[:, None]
            if not reach.all():
                P[(~reach[:, a]).T.ravel()[self.idx].any(axis=1)] = 0.0
            Hinf = None if positive else (np.einsum("xiv,iv->xi", Z, kd[:, a].T) > 0).any(axis=1)[:, None]
        else:
            Y = (Wx * logs).reshape(S * L, -1)
            F = (np.take(C, self.states, axis=0)
                 - (Y @ kd).reshape(S, L, N) * np.take(invk, self.states, axis=0)).reshape(S, L * N)
            H = base[:, None] + F @ self.onehot
            P = np.exp(np.take(logk, self.states, axis=0).reshape(S, L * N) @ self.onehot)
            if not reach.all():
                P[(np.take((~reach).astype(float), self.states, axis=0).reshape(S, L * N) @ self.onehot) > 0] = 0.0
            Hinf = None if positive else ((Z.reshape(S * L, -1) @ kd).reshape(S, L * N) @ self.onehot) > 0
        if Hinf is not None:
            H = np.where(Hinf, 0.0, H)
        out = np.empty((R, self.m))
        Hr = P
        for r in range(R):
            Hr = Hr * H
            out[r] = Hr.sum(axis=0)
        if Hinf is not None:
            out[:, (Hinf & (P > 0)).any(axis=0)] = np.inf
        return out


# -- quadrature over σ̄ -------------------------------------------------------------------------------
# Gauss–Kronrod 15 (QUADPACK's qk15 nodes and weights). scipy's quad_vec is not used: the
# integrands here are vectors whose components differ in scale by many orders (means,
# second and fourth moments, a cut-off head of 1e-6), each held to its own relative
# tolerance, and q* needs the nodes themselves.
_XGK = np.array([0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
                 0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
                 0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
                 0.207784955007898467600689403773245, 0.0])
_WGK = np.array([0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
                 0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
                 0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
                 0.204432940075298892414161999234649, 0.209482141084727828012999174891714])
_WG = np.array([0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
                0.381830050505118944950369775488975, 0.417959183673469387755102040816327])
_NODES = np.concatenate([-_XGK[:-1], [0.0], _XGK[-2::-1]])  # the 15 Kronrod nodes, ascending
_WK = np.concatenate([_WGK[:-1], [_WGK[-1]], _WGK[-2::-1]])
_WG15 = np.zeros(15)
_WG15[[1, 3, 5, 13, 11, 9]] = np.concatenate([_WG[:3], _WG[:3]])
_WG15[7] = _WG[3]

#: The variables of the σ̄ quadrature: "v" (σ̄ = v⁸, dσ̄ = 8v⁷dv) on the head [0, SBAR_HEAD],
#: where E[h^r]/q^{r−1} may behave like σ̄^{−γ}·log^k(1/σ̄) (γ < 1): 8v⁷·v^{−8γ} stays
#: integrable and for γ <= 3/4 vanishes at 0 like v·log^k, which GK15 integrates without
#: bisecting towards 0; "u" (σ̄ = e^u, dσ̄ = e^u du) above it.
_MAPS = {"v": (lambda y: y**8, lambda y: 8 * y**7), "u": (math.exp, math.exp)}
#: End of the head (in σ̄), and where u panels narrow from 4 to 1.5: the integrands change
#: where σ̄ is of order 1 (the token kernel mixes). Tuned on sparse and dense toys, uniform
#: and absorbing: about 120–160 nodes for one x0 at rtol 1e-9, true errors 1e-11 or below.
SBAR_HEAD = math.exp(-8.0)
U_NARROW = -4.0


def _panel(G, kind, a, b, cache):
    """GK15 on [a, b] in variable ``kind`` for a vector integrand G(σ̄), with QUADPACK's
    error estimate err = resasc·min(1, (200|K15 − G7|/resasc)^1.5) per component."""
    to_sbar, jac = _MAPS[kind]
    half, mid = 0.5 * (b - a), 0.5 * (a + b)
    vals = []
    for x in _NODES:
        y = mid + half * x
        sbar = to_sbar(y)
        if sbar not in cache:
            cache[sbar] = G(sbar)
        vals.append(cache[sbar] * jac(y))
    V = np.array(vals)  # (15, c)
    with np.errstate(invalid="ignore", over="ignore"):
        K = half * (_WK @ V)
        Gs = half * (_WG15 @ V)
        resasc = half * (_WK @ np.abs(V - K / (2 * half)))
        diff = np.abs(K - Gs)
        safe = np.where(resasc > 0, resasc, 1.0)
        err = np.where(resasc > 0, resasc * np.minimum(1.0, (200 * diff / safe) ** 1.5), diff)
    return [kind, a, b, K, np.where(np.isfinite(K), err, 0.0)]


def _pieces(s_hi, breaks=()):
    """Initial panels covering [0, s_hi] in σ̄ (s_hi may be ∞: cut at SBAR_CUT, or at the
    largest finite break above it), with every point of ``breaks`` a panel edge (so an
    integrand that is cut there is smooth on each panel): the head [0, min(SBAR_HEAD,
    s_hi)] in v = σ̄^{1/8}; then u = log σ̄ in panels at most 4 wide up to U_NARROW and at
    most 1.5 wide above it."""
    top = max([SBAR_CUT] + [float(b) for b in breaks if math.isfinite(b)]) if math.isinf(s_hi) else s_hi
    cuts = sorted({float(b) for b in breaks if 0 < b < top})
    head = min(SBAR_HEAD, top)
    edges = [0.0] + [b**0.125 for b in cuts if b < head] + [head**0.125]
    out = [("v", p, q) for p, q in zip(edges[:-1], edges[1:])]
    if top <= head:
        return out
    ucuts = [math.log(head)] + [math.log(b) for b in cuts if b > head] + [math.log(top)]
    for x, y in zip(ucuts[:-1], ucuts[1:]):
        inner = [x] + ([U_NARROW] if x < U_NARROW < y else []) + [y]
        for p, q in zip(inner[:-1], inner[1:]):
            width = 4.0 if q <= U_NARROW else 1.5
            k = max(1, int(math.ceil((q - p) / width)))
            e = np.linspace(p, q, k + 1)
            out += [("u", float(a), float(b)) for a, b in zip(e[:-1], e[1:])]
    return out


def _integrate(G, pieces, rtol, atol, max_panels=400, min_width=2.0**-10):
    """∫ G(σ̄) dσ̄ over ``pieces`` for a vector-valued G, adaptive GK15.

    Bisects the panel with the largest max_c err_c/tol_c until, for every component c,
    Σ_panels err_c <= tol_c = max(atol, rtol_c·|I_c|) (infinite components skipped;
    rtol_c = inf: never refined for), or ``max_panels`` panels. Returns
    (I, err, converged, cache); ``cache`` maps every σ̄ evaluated to G(σ̄).
    """
    cache = {}
    panels = [_panel(G, kind, a, b, cache) for kind, a, b in pieces]
    while True:
        I = sum(p[3] for p in panels)
        E = sum(p[4] for p in panels)
        with np.errstate(invalid="ignore"):
            tol = np.where(np.isinf(rtol), np.inf, np.maximum(atol, rtol * np.abs(I)))
        fin = np.isfinite(I)
        if np.all(E[fin] <= tol[fin]):
            return I, E, True, cache
        if len(panels) >= max_panels:
            return I, E, False, cache
        score = [float(np.max(np.where(fin, p[4] / tol, 0.0)))
                 if p[2] - p[1] > min_width * (p[2] if p[0] == "v" else 1.0) else -1.0 for p in panels]
        j = int(np.argmax(score))
        if score[j] <= 0:
            return I, E, False, cache
        kind, a, b = panels[j][:3]
        del panels[j]
        mid = 0.5 * (a + b)
        panels += [_panel(G, kind, a, mid, cache), _panel(G, kind, mid, b, cache)]


# -- windows and inputs -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Window:
    """[t_min, T] in time and its image [s_lo, s_hi] in σ̄ (s_hi may be ∞)."""

    process: object
    t_lo: float
    t_hi: float
    s_lo: float
    s_hi: float

    def inside(self, sbar):
        return self.s_lo <= sbar <= self.s_hi


def _window(process, T, t_min) -> _Window:
    sched = process.schedule
    if T is None:
        T = sched.t_max
    T = float(T)
    if not (T > 0) or T > sched.t_max:
        raise ValueError(f"`T` must lie in (0, {sched.t_max}] for {sched!r} (got {T}).")
    t_min = float(t_min)
    if not (0.0 <= t_min < T):
        raise ValueError(f"`t_min` must lie in [0, T) = [0, {T}) (got {t_min}).")
    s_hi = math.inf if math.isinf(T) else float(sched.total(T))
    s_lo = float(sched.total(t_min))
    if not s_hi > s_lo:
        raise ValueError(f"σ̄(T) must exceed σ̄(t_min) (got {s_hi} and {s_lo}).")
    return _Window(process, t_min, T, s_lo, s_hi)


def _as_x0(x0, process, model, many):
    """x0 as an int array (L,) (or (m, L) when ``many``), checked against the process and
    the model's length."""
    arr = np.asarray(x0)
    ndims = (1, 2) if many else (1,)
    if arr.ndim not in ndims or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
        shape = "(L,) or (m, L)" if many else "(L,)"
        raise ValueError(f"`x0` must be an integer sequence of shape {shape} (got dtype {arr.dtype}, shape {arr.shape}).")
    arr = as_token_array(arr, process.N, "x0", ndim=arr.ndim)
    L = getattr(model, "L", None)
    if L is not None and arr.shape[-1] != L:
        raise ValueError(f"`x0` must have length L={L} for this model (got length {arr.shape[-1]}).")
    return arr


def _impossible(model, X0):
    """Rows of X0 with p0(x0) = 0 under an oracle model: their NLL is +∞ (no quadrature)."""
    if isinstance(model, OracleScore):
        return model.table[tuple(X0.T)] == 0
    return np.zeros(X0.shape[0], dtype=bool)


def _tail_check(enum, s_hi):
    """Where σ̄(T) = ∞: σ̄·E[h | σ̄] at SBAR_CUT must be negligible, else refuse."""
    if not math.isinf(s_hi):
        return
    val = enum.moments(SBAR_CUT, 1)[0] * SBAR_CUT
    if not np.all(val <= TAIL_TOL):
        raise ValueError(f"the DSE integral to σ̄(T) = inf does not converge for this model: σ̄·E[ℓ/σ | σ̄] = "
                         f"{np.max(val):.3g} at σ̄ = {SBAR_CUT:g} (the scores of the moves that undo the noise "
                         f"must decay like e^(-σ̄)); pass a finite `T`, for which the prior term KL(p_T|0 ‖ π_T) "
                         f"is added.")


# -- the exact limit ---------------------------------------------------------------------------------
def dse_limit(model, process, x0, *, T=None, epsrel=1e-9, batch_size=BATCH_SIZE):
    """The model's exact DSE likelihood: L^T_DSE(x0; s) + KL(p_{T|0}(·|x0) ‖ π_T).

    .. math::

        L^T_{DSE}(x_0; s) = \\int_0^T \\mathbb E_{x_t|x_0} \\ell_{DSE}(x_0, x_t, t, s)\\,dt
                         = \\int_0^{\\bar\\sigma(T)} \\mathbb E_{x|x_0}[h]\\,d\\bar\\sigma,

    the value every estimator of :func:`estimate_dse_nll` converges to (at t_min = 0). The
    expectation is a sum over every state reachable from x0, one model call of up to
    ``batch_size`` states each (model calls = quadrature nodes when the states fit one
    batch, plus one call at σ̄ = 60 where σ̄(T) = ∞); the integral is adaptive GK15 in
    v = σ̄^{1/8} then u = log σ̄ (module docstring), to ``epsrel`` on every x0. The prior
    term is :func:`dse_prior_term` (0 at σ̄(T) = ∞).

    For the oracle (:class:`~exactdiff.OracleScore`) the value is −log p0(x0) +
    [KL(p_{T|0} ‖ π_T) − KL(p_{T|0} ‖ p_T)] (Theorem 3.2), exactly −log p0(x0) at
    σ̄(T) = ∞; for another model the gap to −log p0(x0) is its bias, of either sign
    pointwise, ≥ 0 on average over p0 (the variational bound).

    Parameters
    ----------
    model : score model
        (:mod:`~exactdiff.information.score_models`).
    process : ForwardProcess
        Token-wise.
    x0 : int array, shape (L,) or (m, L)
    T : float, optional
        End of the integral; default the end of the schedule's domain (``inf`` for
        ``Constant`` and ``Geometric``: σ̄(T) = ∞, no prior term; then the model's scores
        must decay as σ̄ → ∞, checked at σ̄ = 60, else ``ValueError``).
    epsrel : float
        Relative quadrature tolerance per x0 (absolute floor 1e-13).
    batch_size : int >= 4096
        States per model call.

    Returns
    -------
    value : float, or ndarray (m,)
        ``inf`` for an oracle at an x0 with p0(x0) = 0.
    info : dict
        ``integral``, ``prior`` (float or (m,)), ``T``, ``sigma_bar_T``, ``quad_error``
        (GK15 error estimate, max over x0), ``converged``, ``nodes``, ``model_calls``,
        ``rows`` (states scored), ``states`` (per call), ``seconds``, ``seconds_model``.

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> p0 = ed.Distribution.dirichlet(2, 2, seed=0); proc = ed.absorbing(2)
    >>> value, info = dse_limit(ed.OracleScore(p0, proc), proc, np.array([1, 0]))
    >>> bool(abs(value - p0.nll((1, 0))) < 1e-10), info["prior"]
    (True, 0.0)
    """
    t0 = time.perf_counter()
    X0 = _as_x0(x0, process, model, many=True)
    single = X0.ndim == 1
    X0 = np.atleast_2d(X0)
    w = _window(process, T, 0.0)
    enum = _Enumerator(model, process, X0, batch_size)
    _tail_check(enum, w.s_hi)
    impossible = _impossible(model, X0)
    I, E, converged, _ = _integrate(lambda s: np.where(impossible, 0.0, enum.moments(s)[0]), _pieces(w.s_hi),
                                    np.full(X0.shape[0], float(epsrel)), 1e-13)
    I = np.where(impossible, np.inf, I)
    prior = dse_prior_term(process, w.s_hi, X0)
    value = I + prior
    info = dict(integral=float(I[0]) if single else I, prior=float(prior[0]) if single else prior, T=w.t_hi,
                sigma_bar_T=w.s_hi, quad_error=float(np.max(E)), converged=converged, nodes=enum.nodes,
                model_calls=enum.calls, rows=enum.rows, states=int(enum.states.shape[0]),
                seconds=time.perf_counter() - t0, seconds_model=enum.seconds_model)
    return (float(value[0]) if single else value), info


# -- sampling laws of σ̄ ------------------------------------------------------------------------------
class _UniformT:
    """t ~ U(t_min, T): q_σ̄(σ̄) = 1/((T − t_min)·σ(t(σ̄))). At t_min = 0 the density tends
    to 1/(T σ(0)) as σ̄ → 0: bounded (β = 0)."""

    name = "uniform_t"

    def check(self, w):
        if math.isinf(w.t_hi):
            raise ValueError("method 'uniform_t' needs a finite `T` (t ~ U(t_min, T)).")

    def sample(self, w, n, rng):
        t = w.t_lo + (w.t_hi - w.t_lo) * rng.random(n)
        sbar = w.process.schedule.totals(t)
        return sbar, self.inv_density(w, sbar)

    def inv_density(self, w, sbar):
        return (w.t_hi - w.t_lo) * w.process.schedule.rates_of_total(sbar)

    def beta(self, w):
        return None if w.s_lo > 0 else 0.0


class _LogSigma:
    """log σ̄ ~ U(log σ̄(t_min), log σ̄(T)): q_σ̄ = 1/(σ̄ (u_hi − u_lo)); a bounded window,
    so every moment is finite."""

    name = "log_sigma"

    def check(self, w):
        if w.s_lo <= 0 or math.isinf(w.s_hi):
            raise ValueError("method 'log_sigma' needs `t_min` > 0 and a finite σ̄(T) "
                             f"(got σ̄(t_min) = {w.s_lo}, σ̄(T) = {w.s_hi}).")

    def _span(self, w):
        return math.log(w.s_hi) - math.log(w.s_lo)

    def sample(self, w, n, rng):
        sbar = np.exp(math.log(w.s_lo) + self._span(w) * rng.random(n))
        return sbar, self.inv_density(w, sbar)

    def inv_density(self, w, sbar):
        return np.asarray(sbar, dtype=np.float64) * self._span(w)

    def beta(self, w):
        return None


def _level(sbar):
    """λ = 1 − e^{−σ̄}."""
    return -np.expm1(-np.asarray(sbar, dtype=np.float64))


#: The largest λ below 1: a draw of λ never rounds to 1 (σ̄ = ∞).
_LAMBDA_TOP = float(np.nextafter(1.0, 0.0))


class _Power:
    """ρ·U(λ_lo, λ_hi) + (1 − ρ)·Beta(α, 1) truncated to [λ_lo, λ_hi], λ = 1 − e^{−σ̄}:

    .. math:: q_\\lambda(\\lambda) = \\frac{\\rho}{\\lambda_{hi} - \\lambda_{lo}}
              + (1 - \\rho)\\frac{\\alpha \\lambda^{\\alpha - 1}}{\\lambda_{hi}^\\alpha - \\lambda_{lo}^\\alpha},
              \\qquad q_{\\bar\\sigma}(\\bar\\sigma) = q_\\lambda(\\lambda)\\,e^{-\\bar\\sigma}.

    ρ = 1 is ``uniform_lambda``. Sampling by the inverse CDF of each component. Near
    σ̄ = 0, q_σ̄ >= (1−ρ)α σ̄^{α−1}/Z (β = 1 − α), so ∫ E[h²]/q converges against
    E[h²] = O(log²(1/σ̄)/σ̄), and E[D^r] converges when (r − 1)α < 1.
    """

    def __init__(self, name, alpha, rho):
        self.name, self.alpha, self.rho = name, float(alpha), float(rho)

    def check(self, w):
        pass

    def _spans(self, w):
        lo, hi = float(_level(w.s_lo)), float(_level(w.s_hi))
        return lo, hi, hi**self.alpha - lo**self.alpha

    def sample(self, w, n, rng):
        a = self.alpha
        lo, hi, mass = self._spans(w)
        u = rng.random(n)
        pick_uniform = rng.random(n) < self.rho
        lam = np.where(pick_uniform, lo + u * (hi - lo), (lo**a + u * mass) ** (1 / a))
        sbar = -np.log1p(-np.minimum(lam, _LAMBDA_TOP))
        return sbar, self.inv_density(w, sbar)

    def inv_density(self, w, sbar):
        sbar = np.asarray(sbar, dtype=np.float64)
        lo, hi, mass = self._spans(w)
        lam = _level(sbar)
        with np.errstate(divide="ignore"):
            q = self.rho / (hi - lo) + (1 - self.rho) * self.alpha * lam ** (self.alpha - 1) / mass
        return np.exp(sbar) / q

    def beta(self, w):
        if w.s_lo > 0:
            return None
        return 0.0 if self.rho == 1.0 else 1.0 - self.alpha


#: Default weight ρ of the uniform-in-λ part of ``power``, by process. Under the absorbing
#: process the uniform-in-λ law (the masked time-integral law) is already within ~1.5x of
#: q* wherever its variance is finite, and 10 % of Beta(1/4, 1) cures its 1/λ singularity;
#: under the uniform process the integrands sit at smaller σ̄ and half the mass goes to
#: Beta(1/4, 1). Chosen on measured exact variances (README, "Bring your own score model").
DEFAULT_RHO = {"absorbing": 0.9, "uniform": 0.5, "general": 0.5}
#: Default exponent α of the Beta(α, 1) part: α = 1/4 keeps E[D⁴] finite, so the sample
#: variance of a Monte Carlo run has an exact standard error.
DEFAULT_ALPHA = 0.25


def _make_power(process, alpha, rho):
    alpha = DEFAULT_ALPHA if alpha is None else float(alpha)
    rho = DEFAULT_RHO[process_kind(process)] if rho is None else float(rho)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"`alpha` must lie in (0, 1) (got {alpha}).")
    if not 0.0 <= rho < 1.0:
        raise ValueError(f"`rho` must lie in [0, 1) (got {rho}).")
    return _Power("power", alpha, rho)


def _no_options(make):
    def factory(process, alpha, rho):
        if alpha is not None or rho is not None:
            raise ValueError(f"`alpha` and `rho` apply to method='power' only (got alpha={alpha}, rho={rho}).")
        return make()

    return factory


#: method → factory(process, alpha, rho) of its sampling law (module docstring).
DSE_METHODS = {
    "uniform_t": _no_options(_UniformT),
    "log_sigma": _no_options(_LogSigma),
    "uniform_lambda": _no_options(lambda: _Power("uniform_lambda", DEFAULT_ALPHA, 1.0)),
    "power": _make_power,
}


def _proposal(method, process, alpha=None, rho=None):
    if method not in DSE_METHODS:
        raise ValueError(f"`method` must be one of {sorted(DSE_METHODS)} (got {method!r}).")
    return DSE_METHODS[method](process, alpha, rho)


# -- Monte Carlo --------------------------------------------------------------------------------------
def _sample_states(process, x0, sbar, rng):
    """x ~ p_{σ̄|0}(·|x0) token-wise for each σ̄ of ``sbar``: (B, L), by the inverse CDF."""
    k = token_kernels(process, sbar)  # (B, n, n)
    col = np.moveaxis(k[:, :, x0], 1, 2)  # (B, L, n): k(· | x0^i)
    cdf = np.cumsum(col, axis=2)
    cdf /= cdf[..., -1:]
    u = rng.random(col.shape[:2])[..., None]
    return (u >= cdf).sum(axis=2)


def _cutoff_integral(model, process, X0, s_lo, epsrel=1e-10, batch_size=BATCH_SIZE):
    """∫_0^{s_lo} E[h | σ̄] dσ̄ for every row of X0 (enumeration and quadrature)."""
    enum = _Enumerator(model, process, X0, batch_size)
    I, _, _, _ = _integrate(lambda s: enum.moments(s)[0], _pieces(s_lo), np.full(X0.shape[0], epsrel), 1e-14)
    return I


def estimate_dse_nll(model, process, x0, method, n, rng, *, T=None, t_min=0.0, alpha=None, rho=None,
                     batch_size=MIN_BATCH, exact_bias=True) -> Estimate:
    """Monte Carlo estimate of a score model's DSE likelihood L^T_DSE(x0; s) + prior.

    One draw: σ̄ ~ q (the law of ``method``, a density q_σ̄ over σ̄), then
    x ~ p_{σ̄|0}(·|x0) token-wise, and D = h(x0, x, σ̄)/q_σ̄(σ̄) + prior, with
    h = ℓ_DSE/σ(t) (:func:`dse_loss_per_rate`) — the same as ℓ_DSE(t)/q_t(t) for a
    density q_t over time. E[D] = :func:`dse_limit` at t_min = 0.

    Parameters
    ----------
    model : score model
    process : ForwardProcess (token-wise)
    x0 : int array, shape (L,)
    method : {"uniform_t", "log_sigma", "uniform_lambda", "power"}
        The law of σ̄ (module docstring). ``uniform_t`` and ``uniform_lambda`` at
        t_min = 0 have infinite variance unless κ(x0) = 0 (:func:`variance_divergence`;
        with an imperfect model, for every x0), so their ``stderr`` is then not to be
        trusted; ``power`` has finite variance (and fourth moment) for every model
        regular at σ̄ → 0; ``log_sigma`` needs t_min > 0.
    n : int >= 2
        Number of draws.
    rng : numpy.random.Generator or int
    T, t_min : float
        The window [t_min, T] (T: default the end of the schedule's domain).
    alpha, rho : float, optional
        ``power`` only: the exponent α in (0, 1) (default 1/4) and the weight ρ in [0, 1)
        of its uniform-in-λ part (default :data:`DEFAULT_RHO` of the process).
    batch_size : int
        Draws per model call.
    exact_bias : bool
        With t_min > 0 the mean misses ∫_0^{σ̄(t_min)} E[h] dσ̄; compute that cut-off bias
        exactly (enumeration and quadrature) into ``cutoff_bias`` (else None).

    Returns
    -------
    Estimate
        ``.estimate``, ``.stderr``, ``.n``, ``.method``, ``.cutoff_bias`` (0 at
        t_min = 0), ``.samples`` (the n draws, prior included).

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> p0 = ed.Distribution.dirichlet(2, 3, seed=1); proc = ed.uniform(2); x0 = np.array([0, 1, 1])
    >>> est = ed.estimate_dse_nll(ed.OracleScore(p0, proc), proc, x0, "power", 4000, np.random.default_rng(0))
    >>> bool(abs(est.estimate - p0.nll((0, 1, 1))) < 4 * est.stderr)
    True
    """
    X0 = _as_x0(x0, process, model, many=False)
    n = check_count(n, "n", 2)
    rng = check_rng(rng)
    prop = _proposal(method, process, alpha, rho)
    w = _window(process, T, t_min)
    prop.check(w)
    sbar, inv_q = prop.sample(w, n, rng)
    x = _sample_states(process, X0, sbar, rng)
    h = np.empty(n)
    for a in range(0, n, int(batch_size)):
        sl = slice(a, a + int(batch_size))
        s = evaluate_score_model(model, process, sbar[sl], x[sl])
        h[sl] = dse_loss_per_rate(s, process, sbar[sl], X0, x[sl])
    prior = dse_prior_term(process, w.s_hi, X0)
    draws = h * inv_q + prior
    bias = 0.0
    if w.s_lo > 0:
        bias = -float(_cutoff_integral(model, process, X0[None, :], w.s_lo)[0]) if exact_bias else None
    stderr = float(np.std(draws, ddof=1) / math.sqrt(n)) if np.all(np.isfinite(draws)) else math.inf
    return Estimate(float(draws.mean()), stderr, n, method, bias, draws)


# -- when is the variance infinite --------------------------------------------------------------------
def variance_divergence(model, process, x0, *, batch_size=BATCH_SIZE):
    """Whether the 1/σ̄ part of E[h² | σ̄] is nonzero as σ̄ → 0; then every law whose
    density stays bounded at σ̄ = 0 (``uniform_t``, ``uniform_lambda`` at t_min = 0) has
    infinite variance.

    For a model regular at σ̄ → 0, E[h² | σ̄] = κ(σ̄)/σ̄ + O(log²(1/σ̄)), κ from the states
    one jump from x0. Three routes:

    - **oracle, uniform process** (exact, from the table): with m₁ the number of support
      points at Hamming distance 1 and, for a neighbour x ∉ supp, P1(x) = Σ_{z ~ x} p0(z),
      κ = (1/N)[Σ_{x ∈ supp} (log(1/σ̄) + log(N p0(x)/p0(x0)) − 1)² + Σ_{x ∉ supp} log²(P1(x)/p0(x0))]
      + o(1): nonzero iff another support point lies within Hamming distance 2 of x0;
    - **oracle or Lemma 3.3 score, absorbing process** (exact): κ = Σ_j ℓ_j²,
      ℓ_j = −log c(x0 with j masked)_{j, x0^j} (for the oracle −log p0(x0^j | x0^{−j})):
      nonzero iff some single masked token is not certain — the criterion of the masked
      time-integral estimator (:func:`~exactdiff.estimator_moments`);
    - **any other model** (numerical): σ̄·E[h² | σ̄] at σ̄ = 1e-30 against 1e-15 (a
      divergent model gives >= c·log^k(1/σ̄) there, a finite one about 1e-27).

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
    X0 = _as_x0(x0, process, model, many=False)
    return _divergences(model, process, X0[None, :], batch_size)[0]


def _divergences(model, process, X0, batch_size=BATCH_SIZE):
    """:func:`variance_divergence` for every row of X0; the numeric route in one node."""
    out = [_exact_divergence(model, process, x0) for x0 in X0]
    todo = [j for j, r in enumerate(out) if r is None]
    if todo:
        enum = _Enumerator(model, process, X0[todo], batch_size)
        values = enum.moments(SMALL_NOISE, 2)[1] * SMALL_NOISE
        for j, val in zip(todo, values):
            verdict = not val <= KAPPA_TOL
            sign = ">" if verdict else "<="
            out[j] = (verdict, f"numeric: σ̄·E[h²|σ̄] = {val:.4g} at σ̄ = {SMALL_NOISE:g} ({sign} {KAPPA_TOL:g})",
                      "numeric")
    return out


def _exact_divergence(model, process, x0):
    """The exact routes of :func:`variance_divergence` (None where none applies)."""
    kind = process_kind(process)
    same = isinstance(model, (OracleScore, DenoiserScore)) and np.array_equal(model.process.Q, process.Q)
    if same and isinstance(model, OracleScore) and kind == "uniform":
        d = (model.support_points != x0[None, :]).sum(axis=1)
        m1, m2 = int((d == 1).sum()), int((d == 2).sum())
        if m1 + m2:
            return True, (f"exact (oracle, uniform): {m1} support point(s) at Hamming distance 1 and {m2} at "
                          f"distance 2 from x0, so E[h²|σ̄] ~ κ/σ̄ with κ > 0"), "exact"
        return False, "exact (oracle, uniform): no other support point within Hamming distance 2 of x0", "exact"
    if same and kind == "absorbing":
        L, N = x0.size, process.N
        if isinstance(model, DenoiserScore):
            xs = np.tile(x0, (L, 1))
            xs[np.arange(L), np.arange(L)] = N
            c = evaluate_denoiser(model.denoiser, xs, N)[np.arange(L), np.arange(L), x0]
            with np.errstate(divide="ignore"):
                losses = -np.log(c)
        else:
            losses = model.single_token_losses(x0)
        kappa = float(np.sum(losses**2))
        if kappa > 0:
            return True, f"exact (Lemma 3.3, absorbing): E[h²|σ̄] ~ κ/σ̄ with κ = Σ_j ℓ_j² = {kappa:.6g} > 0", "exact"
        return False, "exact (Lemma 3.3, absorbing): every single masked token is certain (κ = 0)", "exact"
    return None


# -- exact moments -------------------------------------------------------------------------------------
def _finite_order(beta, r):
    """E[D^r] is guaranteed finite at σ̄ → 0 when (r − 1)(1 − β) < 1, from the bound
    E[h^r | σ̄] = O(σ̄^{1−r} log^r(1/σ̄)); ``beta`` None: no singularity (t_min > 0)."""
    return beta is None or (r - 1) * (1 - beta) < 1


def _method_item(item):
    """(label, method, options) from ``"name"`` or ``(label, name, {options})``."""
    if isinstance(item, str):
        return item, item, {}
    try:
        label, name, options = item
    except (TypeError, ValueError):
        raise ValueError(f"each of `methods` must be a method name or (label, method, options) (got {item!r}).") from None
    unknown = set(options) - {"T", "t_min", "alpha", "rho"}
    if unknown:
        raise ValueError(f"method options must be among 'T', 't_min', 'alpha', 'rho' (got {sorted(unknown)}).")
    return str(label), name, dict(options)


def _raw_with_prior(raw_y, ey, c):
    """Raw moments of D = Y + c from those of Y (E[Y] = ey; ``raw_y[r−1]`` = E[Y^r])."""
    m2, m3, m4 = raw_y[1:4]
    return (ey + c, m2 + 2 * c * ey + c * c, m3 + 3 * c * m2 + 3 * c * c * ey + c**3,
            m4 + 4 * c * m3 + 6 * c * c * m2 + 4 * c**3 * ey + c**4)


def dse_moments_table(model, process, x0, methods, *, T=None, t_min=0.0, epsrel=1e-9, batch_size=BATCH_SIZE,
                      max_order=4, optimal=True) -> dict:
    """Exact moments of one draw of several DSE estimators, for every row of x0, in one pass.

    One adaptive GK15 quadrature over σ̄ (:func:`dse_limit`) carries every integrand on
    the same nodes — one model call per node for all x0 and all methods:

    - E[h]·1_W for each window W = [σ̄(t_min), σ̄(T)] (means), and E[h]·1[σ̄ < σ̄(t_min)]
      (cut-off biases), the window ends being panel edges;
    - E[h^r]/q_m^{r−1}·1_W for each method m and r = 2..``max_order`` where guaranteed
      finite (:func:`_finite_order`; third and fourth moments ride on the nodes the others
      choose and only enter the standard error of a sample variance);
    - √E[h²]·1_W for the optimal law q* of the default window.

    A variance that diverges is ``inf`` without quadrature (:func:`variance_divergence`).

    Parameters
    ----------
    model, process : as :func:`dse_limit`
    x0 : int array, shape (L,) or (m, L)
    methods : sequence
        Method names, or ``(label, method, options)`` with options among ``T``,
        ``t_min`` (overriding the defaults), ``alpha``, ``rho`` (``power``).
    T, t_min : float
        The default window.
    epsrel : float
        Relative tolerance of the means, second moments and q* per x0.
    max_order : int in 2..4
        The highest raw moment computed.
    optimal : bool
        Also compute q* (:func:`optimal_proposal`).

    Returns
    -------
    dict
        ``"moments"``: {label: [EstimatorMoments per x0]} (raw moments of D with the
        prior; NaN where not computed, with a note); ``"optimal"``: [dict per x0] with
        ``variance``, ``second_moment``, ``sbar`` (nodes), ``q_sbar`` (q* at the nodes),
        ``rel_error`` (None without ``optimal``); ``"cost"``: nodes, model calls, rows,
        states, seconds, the largest ratio of a refined integral's error estimate to its
        tolerance (``quad_error_over_tol``, <= 1 when ``converged``).
    """
    t0 = time.perf_counter()
    X0 = np.atleast_2d(_as_x0(x0, process, model, many=True))
    m = X0.shape[0]
    max_order = check_count(max_order, "max_order", 2)
    if max_order > 4:
        raise ValueError(f"`max_order` must lie in 2..4 (got {max_order}).")
    main = _window(process, T, t_min)
    specs = {}
    for item in methods:
        label, name, options = _method_item(item)
        if label in specs:
            raise ValueError(f"`methods` has the label {label!r} twice.")
        w = _window(process, options.pop("T", T), options.pop("t_min", t_min))
        prop = _proposal(name, process, options.get("alpha"), options.get("rho"))
        prop.check(w)
        specs[label] = (prop, w)
    if not specs:
        raise ValueError("`methods` must name at least one method.")
    windows = {(w.s_lo, w.s_hi): w for w in [main] + [w for _, w in specs.values()]}
    s_top = max(w.s_hi for w in windows.values())
    enum = _Enumerator(model, process, X0, batch_size)
    _tail_check(enum, s_top)
    impossible = _impossible(model, X0)
    div = {}
    if any(p.beta(w) == 0.0 for p, w in specs.values()):
        div = dict(enumerate(_divergences(model, process, X0, batch_size)))
    divergent = np.array([div.get(j, (False,))[0] for j in range(m)])

    # the integrands: (key, function of (moments M, σ̄) -> (m,), relative tolerance)
    parts = []
    for key, w in windows.items():
        parts.append((("mean", key), lambda M, s, w=w: M[0] * w.inside(s), epsrel))
        if w.s_lo > 0:
            parts.append((("head", key), lambda M, s, w=w: M[0] * (s < w.s_lo), epsrel))
    for label, (prop, w) in specs.items():
        beta = prop.beta(w)
        for r in range(2, max_order + 1):
            if _finite_order(beta, r) or (r == 2 and beta == 0.0):
                drop = divergent if beta == 0.0 else np.zeros(m, dtype=bool)

                def moment(M, s, prop=prop, w=w, r=r, drop=drop):
                    if not w.inside(s):
                        return np.zeros(m)
                    return np.where(drop, 0.0, M[r - 1] * float(prop.inv_density(w, s)) ** (r - 1))

                parts.append((("moment", label, r), moment, epsrel if r == 2 else math.inf))
    if optimal:
        parts.append((("optimal",), lambda M, s: np.sqrt(M[1]) * main.inside(s), epsrel))
    R = max([2 if optimal else 1] + [key[2] for key, _, _ in parts if key[0] == "moment"])

    def integrand(s):
        M = enum.moments(s, R)
        M = np.where(impossible, 0.0, M)
        return np.concatenate([fn(M, s) for _, fn, _ in parts])

    rtol = np.repeat([tol for _, _, tol in parts], m)
    breaks = [b for w in windows.values() for b in (w.s_lo, w.s_hi)]
    I, E, converged, cache = _integrate(integrand, _pieces(s_top, breaks), rtol, 1e-13)
    blocks = {key: (I[j * m:(j + 1) * m], E[j * m:(j + 1) * m]) for j, (key, _, _) in enumerate(parts)}

    out = {}
    for label, (prop, w) in specs.items():
        key = (w.s_lo, w.s_hi)
        ey = blocks[("mean", key)][0]
        head = blocks[("head", key)][0] if w.s_lo > 0 else np.zeros(m)
        prior = np.broadcast_to(dse_prior_term(process, w.s_hi, X0), (m,))
        rows = []
        for j in range(m):
            raw_y = [float(ey[j])] + [math.nan] * 3
            for r in range(2, max_order + 1):
                if ("moment", label, r) in blocks:
                    raw_y[r - 1] = float(blocks[("moment", label, r)][0][j])
            notes = []
            if impossible[j]:
                notes.append("p0(x0) = 0: the NLL is infinite.")
                rows.append(EstimatorMoments(label, math.inf, math.inf, (math.inf,) * 4, 0.0, 0.0, " ".join(notes)))
                continue
            if prop.beta(w) == 0.0 and divergent[j]:
                raw_y[1] = math.inf
                notes.append(f"Var = inf: the density of {prop.name} stays bounded at σ̄ = 0 and {div[j][1]}.")
            with np.errstate(invalid="ignore"):
                raw = _raw_with_prior(raw_y, float(ey[j]), float(prior[j]))
            variance = max(raw_y[1] - float(ey[j]) ** 2, 0.0) if math.isfinite(raw_y[1]) else math.inf
            if any(math.isnan(v) for v in raw[2:]):
                notes.append("E[D³] and E[D⁴] are NaN where not computed (not guaranteed finite at this law, "
                             "or above `max_order`).")
            if not converged:
                notes.append(f"quadrature stopped before its tolerance (error estimate {float(np.max(E)):.2g}).")
            rows.append(EstimatorMoments(label, float(raw[0]), float(variance), tuple(float(v) for v in raw),
                                         -float(head[j]) if w.s_lo > 0 else 0.0, 0.0, " ".join(notes)))
        out[label] = rows
    opt = None
    if optimal:
        zq, ze = blocks[("optimal",)]
        ey = blocks[("mean", (main.s_lo, main.s_hi))][0]
        grid = np.array(sorted(s for s in cache if main.inside(s)))
        column = [key for key, _, _ in parts].index(("optimal",))
        root = np.array([cache[s][column * m:(column + 1) * m] for s in grid]).reshape(len(grid), m)
        opt = [dict(variance=float(zq[j] ** 2 - ey[j] ** 2), second_moment=float(zq[j] ** 2), mean=float(ey[j]),
                    sbar=grid, q_sbar=root[:, j] / zq[j], rel_error=float(ze[j] / zq[j])) if not impossible[j]
               else dict(variance=math.inf, second_moment=math.inf, mean=math.inf, sbar=grid,
                         q_sbar=np.full(len(grid), math.nan), rel_error=math.nan) for j in range(m)]
    cost = dict(nodes=enum.nodes, model_calls=enum.calls, rows=enum.rows, states=int(enum.states.shape[0]),
                x0=m, seconds=time.perf_counter() - t0, seconds_model=enum.seconds_model,
                quad_error_over_tol=float(np.max(np.where(np.isfinite(rtol) & np.isfinite(I),
                                                          E / np.maximum(1e-13, rtol * np.abs(I)), 0.0))),
                converged=converged)
    return {"moments": out, "optimal": opt, "cost": cost}


def dse_estimator_moments(model, process, x0, method, *, T=None, t_min=0.0, alpha=None, rho=None, epsrel=1e-9,
                          batch_size=BATCH_SIZE) -> EstimatorMoments:
    """Exact moments of ONE draw of :func:`estimate_dse_nll`: mean, variance and the raw
    moments E[D^r] up to 4 where guaranteed finite.

    .. math::

        \\mathbb E[D] = \\int_{\\bar\\sigma(t_{min})}^{\\bar\\sigma(T)} \\mathbb E[h|\\bar\\sigma]\\,d\\bar\\sigma
            + \\text{prior}, \\qquad
        \\mathbb E[(D - \\text{prior})^r] = \\int \\frac{\\mathbb E[h^r|\\bar\\sigma]}
            {q_{\\bar\\sigma}(\\bar\\sigma)^{r-1}}\\,d\\bar\\sigma,

    the expectations over x by enumeration, the integrals by GK15 over σ̄
    (:func:`dse_moments_table`). ``variance`` is ``inf`` where the integral diverges,
    decided without quadrature (:func:`variance_divergence`): ``uniform_t`` and
    ``uniform_lambda`` at t_min = 0 diverge iff κ(x0) ≠ 0 — with the oracle of a sparse
    table they are **finite for some x0** (no other support point within Hamming
    distance 2 under the uniform process, 1 under the absorbing one); ``power`` and
    ``log_sigma`` are always finite. ``cutoff_bias`` = −∫_0^{σ̄(t_min)} E[h] dσ̄ (0 at
    t_min = 0); ``log_divergence`` is not used (0.0); ``note`` says why a moment is
    infinite or NaN (not computed).

    Under the absorbing process with a Lemma 3.3 score (:class:`~exactdiff.information.score_models.DenoiserScore`),
    ``uniform_lambda`` is the masked time-integral estimator: one draw is (1 − ε)ℓ_DCE/λ
    with λ ~ U(ε, 1), ε = λ(t_min), so its moments are those of
    ``ed.estimator_moments(denoiser, x0, "time_integral", eps=ε)`` at σ̄(T) = ∞.

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> p0 = ed.Distribution.dirichlet(2, 2, seed=0); proc = ed.uniform(2)
    >>> x0, model = np.array([0, 1]), ed.OracleScore(p0, proc)
    >>> ed.dse_estimator_moments(model, proc, x0, "uniform_t", T=20.0).variance
    inf
    >>> m = ed.dse_estimator_moments(model, proc, x0, "power", T=20.0)
    >>> bool(m.variance < np.inf), bool(abs(m.mean - dse_limit(model, proc, x0, T=20.0)[0]) < 1e-9)
    (True, True)
    """
    _as_x0(x0, process, model, many=False)
    table = dse_moments_table(model, process, x0, [(method, method, {"alpha": alpha, "rho": rho})], T=T,
                              t_min=t_min, epsrel=epsrel, batch_size=batch_size, optimal=False)
    return table["moments"][method][0]


def optimal_proposal(model, process, x0, *, T=None, t_min=0.0, epsrel=1e-9, batch_size=BATCH_SIZE) -> dict:
    """The variance-optimal sampling law q*(σ̄) ∝ √E[h² | σ̄] on the quadrature grid, and
    the variance it achieves.

    Among all densities q over [σ̄(t_min), σ̄(T)], E[(h/q)²] = ∫ E[h²]/q dσ̄ is smallest,
    (∫ √E[h²] dσ̄)², at q* = √E[h²]/∫√E[h²] (Cauchy–Schwarz), so
    Var* = (∫ √E[h²] dσ̄)² − (∫ E[h] dσ̄)². Near σ̄ = 0 q* behaves like
    log(1/σ̄)/√σ̄ (uniform process, imperfect model). The density over time is
    q*_t(t) = q*_σ̄(σ̄(t))·σ(t).

    Returns
    -------
    dict
        ``variance``, ``second_moment``, ``mean`` (without the prior), ``sbar`` (nodes),
        ``q_sbar``, ``t`` (nan beyond the schedule's domain), ``q_t``, ``rel_error``.
    """
    _as_x0(x0, process, model, many=False)
    table = dse_moments_table(model, process, x0, ["power"], T=T, t_min=t_min, epsrel=epsrel,
                              batch_size=batch_size, max_order=2)
    opt = dict(table["optimal"][0])
    sched = process.schedule
    limit = sigma_bar_max(process)
    opt["t"] = np.array([sched.time_of_total(float(s)) if s <= limit else math.nan for s in opt["sbar"]])
    opt["q_t"] = opt["q_sbar"] * sched.rates_of_total(opt["sbar"])
    return opt
