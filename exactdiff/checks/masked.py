"""Checks of the masked-diffusion identities in λ: Lemma 3.3, Theorem 3.4 and
Corollaries 3.6 and 3.7. Every check returns a list of :class:`CheckResult`."""

from __future__ import annotations

import itertools

import numpy as np

from ..core.numerics import richardson_derivative
from ..core.validation import as_table
from ..information import pointwise_kl, pointwise_kl_derivative
from ..masked import TableDenoiser, dce_integral, mdce, mdce_integral
from ..process import Constant, absorbing, masking_level, masking_time
from ..score import DenoiserScore, dse_limit, dse_prior_term
from .reference import reference_dse_loss
from .result import compare

__all__ = [
    "random_denoiser_table",
    "denoiser_score",
    "masked_setup",
    "check_lemma_3_3",
    "check_theorem_3_4",
    "check_corollary_3_6",
    "check_corollary_3_7",
]

#: Two exact routes (sums and closed forms): measured agreement below 1e-15.
TOL_EXACT = 1e-12
#: Analytic derivative against the closed form: measured below 1e-13.
TOL_DERIVATIVE = 1e-10
#: Richardson finite differences: measured below 1e-10; a result off by 1e-8 fails.
TOL_FINITE_DIFFERENCE = 5e-9
#: Quadrature against exact Beta sums: measured below 1e-14.
TOL_INTEGRAL = 1e-10
#: Longest sequence of the random-denoiser checks (Theorem 3.4; Lemma 3.3 uses 3).
MAX_L_RANDOM_DENOISER = 4


def masked_setup(table, extra=None, **more):
    """The ``setup`` of a masked-diffusion result."""
    out = {"process": "absorbing (λ)", "N": int(table.shape[0]), "L": int(table.ndim)}
    out.update(extra or {})
    out.update(more)
    return out


def random_denoiser_table(N, L, seed=0, alpha=1.0, normalised=True):
    """A random denoiser table (N+1,)*L + (L, N) with Dirichlet(alpha) rows (seeded).

    With ``normalised=False`` every row is scaled by a random factor in [0.5, 1.5)
    (for the test that Lemma 3.3 needs normalised rows).
    """
    rng = np.random.default_rng(seed)
    shape = (N + 1,) * L + (L,)
    table = rng.dirichlet(np.full(N, alpha), size=shape)
    if not normalised:
        table = table * rng.uniform(0.5, 1.5, size=shape + (1,))
    return table


def denoiser_score(table, lam):
    """The score of Lemma 3.3 in neighbour form: s(x)_y = ((1−λ)/λ) c(x)_{i,v} where y
    unmasks position i of x to v. Shape (N+1,)*L + (L, N+1); the mask column is unused."""
    table = np.asarray(table)
    ratio = (1 - lam) / lam
    return np.concatenate([ratio * table, np.ones(table.shape[:-1] + (1,))], axis=-1)


def _denoiser_callable(table):
    """A callable denoiser over a table, without the protocol's normalisation check."""
    return lambda x: np.asarray(table)[tuple(np.asarray(x).T)]


def check_lemma_3_3(N=2, L=3, t=0.4, *, seed=0, table=None, setup=None, tol=TOL_EXACT):
    """Lemma 3.3, state by state: ℓ_DSE(x0, x, t, s) = σ(t)·((1−λ)/λ)·ℓ_DCE(x0, x, c) with
    s(x)_y = ((1−λ)/λ) c(x)_{i,v}, for every x0 ∈ V^L and every x reachable from it.

    ``table`` is any denoiser table (default: a random normalised one, seeded). The
    lemma needs normalised rows; an unnormalised table makes the check fail.
    """
    if not t > 0:
        raise ValueError(f"`t` must be > 0: at t = 0 nothing is masked and (1−λ)/λ is undefined (got {t}).")
    if table is None:
        table = random_denoiser_table(N, L, seed)
    process = absorbing(N, Constant(1.0))
    lam = masking_level(process, t)
    sigma = process.rate(t)
    score = denoiser_score(table, lam)
    c = _denoiser_callable(table)
    lhs, rhs = [], []
    for x0 in itertools.product(range(N), repeat=L):
        for masked in itertools.product([False, True], repeat=L):
            x = tuple(N if m else v for m, v in zip(masked, x0))
            lhs.append(reference_dse_loss(score, process, t, x0, x))
            loss = float(_raw_dce(x0, x, c, N))
            rhs.append(sigma * (1 - lam) / lam * loss)
    info = dict(setup or {}, process="absorbing", schedule="Constant(rate=1)", N=N, L=L, t=t, seed=seed)
    return [compare("l_DSE = sigma (1-lam)/lam l_DCE, every state", "Lemma 3.3", info, lhs, rhs, tol,
                    note="score built from an arbitrary denoiser table")]


def _raw_dce(x0, x, c, N):
    """ℓ_DCE without the protocol's normalisation check (for the Lemma 3.3 mutation)."""
    probs = c(np.array([x]))[0]
    return sum(-np.log(probs[i, x0[i]]) for i in range(len(x)) if x[i] == N)


def check_theorem_3_4(p0, schedule=None, T=None, *, table=None, seed=0, setup=None, tol=TOL_INTEGRAL):
    """Theorem 3.4: L^T_DSE(x0) = L^Λ_DCE(x0), Λ = 1 − e^{−σ̄(T)}, for a non-optimal
    denoiser and every x0 ∈ V^L.

    DSE side: :func:`exactdiff.dse_limit` of the absorbing process with the score of
    Lemma 3.3 (:class:`~exactdiff.score.DenoiserScore`; every reachable state enumerated,
    adaptive quadrature over σ̄). DCE side: the exact Beta-weighted sum of
    :func:`exactdiff.masked.dce_integral`. The identity holds for any normalised
    denoiser, so p0 enters only through N; without a ``table`` the length is
    min(L, :data:`MAX_L_RANDOM_DENOISER`), since the DSE side needs a score on all
    (N+1)^L·L·(N+1) neighbour pairs at every quadrature node.
    """
    table0 = as_table(p0)
    N = table0.shape[0]
    L = table0.ndim if table is not None else min(table0.ndim, MAX_L_RANDOM_DENOISER)
    schedule = schedule or Constant(1.0)
    process = absorbing(N, schedule)
    if T is None:
        T = min(0.9 * schedule.t_max, schedule.time_of_total(2.0))
    if table is None:
        table = random_denoiser_table(N, L, seed)
    Lam = masking_level(process, T)

    x0s = np.array(list(itertools.product(range(N), repeat=L)))
    dse, _ = dse_limit(DenoiserScore(TableDenoiser(table), process), process, x0s, T=T, epsrel=1e-11)
    dse = dse - dse_prior_term(process, process.total(T), x0s)  # L^T_DSE alone
    dce = dce_integral(TableDenoiser(table), x0s, Lambda=Lam)
    info = masked_setup(table0, setup, L=L, schedule=repr(schedule), T=float(T), Lambda=float(Lam), seed=seed)
    return [compare("L^T_DSE(x0) = L^Lambda_DCE(x0), non-optimal c", "Theorem 3.4", info,
                    dse, dce, tol, note="DSE: enumeration + GK15 over σ̄ (Lemma 3.3 score); DCE: exact Beta sums")]


def _kl_in_lambda(p0, lam):
    process = absorbing(as_table(p0).shape[0], Constant(1.0))
    return pointwise_kl(p0, process, masking_time(process, lam))


def check_corollary_3_6(p0, lams=(1e-4, 1e-2, 0.2, 0.5, 0.8, 0.99), *, setup=None):
    """Corollary 3.6 (I-MDCE): d/dλ KL(p_{λ|0}(·|x0) ‖ p_λ) = −(1/λ) mdce(x0, λ), and its
    average d/dλ I = −(1/λ) mdce(λ).

    Returns three results: the analytic derivative (the engine's dKL/dt divided by
    dλ/dt = 1 − λ under a unit-rate clock) pointwise and marginal, and a Richardson finite
    difference in λ, all against the closed-form mdce.
    """
    if not lams or any(not 0 < lam < 1 for lam in lams):
        raise ValueError(f"`lams` must be masking levels strictly inside (0, 1) (got {list(lams)}).")
    table = as_table(p0)
    support = table > 0
    process = absorbing(table.shape[0], Constant(1.0))
    an, fd, rhs, an_m, rhs_m = [], [], [], [], []
    for lam in lams:
        t = masking_time(process, lam)
        d = pointwise_kl_derivative(p0, process, t)[support] / (1 - lam)  # dλ/dt = σ(1 − λ), σ = 1
        m = mdce(p0, lam, pointwise=True)[support] / lam
        h = 0.4 * min(lam, 1 - lam)
        f = richardson_derivative(lambda s: _kl_in_lambda(p0, s)[support], lam, h, levels=4)
        an.append(d)
        fd.append(f)
        rhs.append(-m)
        an_m.append(float(table[support] @ d))
        rhs_m.append(-float(table[support] @ m))
    info = masked_setup(table, setup, lams=list(lams))
    an, fd, rhs = map(np.concatenate, (an, fd, rhs))
    floor = table.ndim * np.log(table.shape[0])  # the size of the conditional log-terms summed
    note = "rel. to max(|lhs|, |rhs|, L log N)"
    sc = lambda a, b: np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)  # noqa: E731
    return [
        compare("I-MDCE pointwise: dKL/dlam = -mdce(x0,lam)/lam", "Corollary 3.6", info, an, rhs, TOL_DERIVATIVE,
                sc(an, rhs), note),
        compare("I-MDCE marginal: dI/dlam = -mdce(lam)/lam", "Corollary 3.6", info, an_m, rhs_m, TOL_DERIVATIVE,
                sc(np.array(an_m), np.array(rhs_m)), note),
        compare("I-MDCE pointwise: Richardson dKL/dlam", "Corollary 3.6", info, fd, rhs, TOL_FINITE_DIFFERENCE,
                sc(fd, rhs), note + "; h = 0.4·min(λ, 1−λ), 4 levels"),
    ]


def check_corollary_3_7(p0, Lambda=0.7, *, setup=None):
    """Corollary 3.7: −log p0(x0) = ∫_0^Λ (1/λ) mdce(x0, λ) dλ + KL(p_{Λ|0}(·|x0) ‖ p_Λ),
    and at Λ = 1 without the KL. The integral is the exact incomplete-Beta sum; a third
    result checks it against Gauss–Legendre quadrature of the enumerated mdce (exact for
    this polynomial integrand).
    """
    table = as_table(p0)
    support = table > 0
    nll = -np.log(table[support])
    exact = mdce_integral(p0, Lambda=Lambda)[support]
    kl = _kl_in_lambda(p0, Lambda)[support]
    # mdce(x0, λ)/λ is a polynomial of degree L − 1 in λ (MATH.md, closed form), so
    # Gauss–Legendre with L nodes on [0, Λ] integrates the enumerated values exactly.
    nodes, weights = np.polynomial.legendre.leggauss(table.ndim)
    lams = 0.5 * Lambda * (nodes + 1.0)
    quad = 0.5 * Lambda * sum(w * mdce(p0, lam, pointwise=True, route="enumerate")[support] / lam
                              for lam, w in zip(lams, weights))
    info = masked_setup(table, setup, Lambda=float(Lambda))
    return [
        compare("NLL = int_0^Lambda mdce/lam + KL(Lambda)", "Corollary 3.7", info, nll, exact + kl, TOL_EXACT,
                scale=np.maximum(nll, 1.0), note="integral = Σ_k h_k B(L−k, k+1) I_Λ(L−k, k+1); rel. to max(NLL, 1 nat)"),
        compare("NLL = int_0^1 mdce/lam", "Corollary 3.7 (Λ = 1)", masked_setup(table, setup, Lambda=1.0),
                nll, mdce_integral(p0, Lambda=1.0)[support], TOL_EXACT, scale=np.maximum(nll, 1.0)),
        compare("Beta closed form = quadrature of enumerated mdce/lam", "Corollary 3.7", info,
                exact, quad, TOL_EXACT, note=f"Gauss–Legendre with L = {table.ndim} nodes, exact for the "
                f"degree L − 1 polynomial mdce/λ; the mdce at each node by enumerating every noisy pattern"),
    ]
