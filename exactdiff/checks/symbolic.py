"""Symbolic proofs of the paper's identities with sympy (``exactdiff verify --symbolic``).

Each check builds both sides of an identity as sympy expressions (the building blocks of
:mod:`exactdiff.symbolic.algebra`) in symbols for the parameters that matter (rates,
probabilities, time, λ, the denoiser) and reduces the residual to exactly ``0``
(:func:`exactdiff.symbolic.reduce.prove`) under a per-check time budget ``budget_s``; a
residual not reduced within the budget is evaluated with mpmath at 50 digits at seeded
random rational points, and ``setup["method"]`` says which happened. Every check returns
a list of :class:`CheckResult`.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import time

import sympy as sp

from ..core.validation import validate_count
from ..symbolic.algebra import (
    denoiser_symbols,
    dse_absorbing_terms,
    expected_dce_absorbing,
    expected_dse_absorbing,
    harmonic_number,
    i_mdse_identity,
    i_mdse_process,
    kl_divergence,
    label,
    log_ratio_sum,
    mdse_pointwise,
    pmf_subsequence,
    states,
    symbolic_pmf,
    time_free_sum,
)
from ..symbolic.reduce import Proof, prove
from .result import CheckResult

__all__ = [
    "residual_check",
    "check_i_mdse",
    "check_dse_dce_pointwise",
    "check_dse_dce_integrated",
    "check_time_free",
    "check_conditional_time_free",
    "check_log_ratio",
    "symbolic_checks",
]


def residual_check(name, reference, lhs, rhs, domain, *, proof=None, setup=None, budget_s=20.0, n_points=5,
                   seed=0) -> CheckResult:
    """Prove ``lhs == rhs`` (:func:`exactdiff.symbolic.reduce.prove`) and report it as a
    :class:`CheckResult`: ``abs_err == rel_err == 0.0`` and ``tol == 0.0`` for an exact
    proof (``setup["method"] == "simplify"``); otherwise both errors are the largest
    absolute residual found by mpmath and ``tol == 1e-40``. ``lhs``/``rhs`` hold both
    sides at the first sample point, for the worst component.

    Examples
    --------
    >>> import sympy as sp
    >>> a, b = sp.symbols("a b", positive=True)
    >>> r = residual_check("log of a product", "-", sp.log(a * b), sp.log(a) + sp.log(b),
    ...                    {a: (0, 1), b: (0, 1)})
    >>> r.passed, r.setup["method"], r.abs_err
    (True, 'simplify', 0.0)
    """
    out = prove(lhs, rhs, domain, proof=proof, budget_s=budget_s, n_points=n_points, seed=seed)
    note = out.note if proof is None else out.note
    return CheckResult(name, reference, dict(setup or {}, **out.info), out.lhs, out.rhs, out.abs_err, out.abs_err,
                       out.tol, out.passed, note)


def _timed(check):
    """Record the whole case's wall time (building the expressions included) as
    ``setup["elapsed_s"]``; the budget itself only bounds the symbolic stages. The
    check returns a list of one result."""

    @functools.wraps(check)
    def timed(*args, **kwargs):
        start = time.perf_counter()
        result = check(*args, **kwargs)
        setup = dict(result.setup, elapsed_s=round(time.perf_counter() - start, 3))
        return [dataclasses.replace(result, setup=setup)]

    return timed


_int = validate_count

@_timed
def check_i_mdse(case="two-state", x0=None, *, budget_s=20.0, seed=0):
    """Theorem 3.1 (I-MDSE), pointwise, proven symbolically.

    .. math::
        \\frac{d}{dt} \\mathrm{KL}(p_{t|0}(\\cdot|x_0) \\,\\|\\, p_t) = -\\mathrm{mdse}(x_0, t),

    where p_t = P_t p0, P_t = exp(tQ) in closed form, and mdse is built from the DSE
    definition with the concrete score s*(x)_y = p_t(y)/p_t(x) and the weight Q(x, y)
    (see :func:`mdse_pointwise`). Both sides are built in closed form (the time
    derivative by sympy) and are what the fall-back evaluates.

    The proof runs through lemmas (see :class:`Proof`): (1) :func:`i_mdse_identity`,
    the identity for arbitrary positive vectors obeying the forward equation, and
    (2) dP/dt = QP with P(0) = I for the closed-form kernel. Together they give the
    closed-form identity, and each is a small expression that sympy reduces to 0.

    Parameters
    ----------
    case : str
        See :func:`exactdiff.symbolic.algebra.i_mdse_process`.
    x0 : int, optional
        Index of the clean state; all states (one residual each) when omitted.
    budget_s, seed
        See :func:`residual_check`.
    """
    proc = i_mdse_process(case)
    S = proc.P.shape[0]
    if x0 is None:
        starts = list(range(S))
    elif isinstance(x0, bool) or int(x0) != x0 or not 0 <= x0 < S:
        raise ValueError(f"`x0` must be a state index in [0, {S}) (got {x0!r}).")
    else:
        starts = [int(x0)]
    p_t = list(proc.P * sp.Matrix(proc.p0))
    lhs, rhs = [], []
    for start in starts:
        column = list(proc.P[:, start])
        lhs.append(sp.diff(kl_divergence(column, p_t), proc.t))
        rhs.append(-mdse_pointwise(proc.Q, column, p_t))
    dkl, minus_mdse, _ = i_mdse_identity(proc.Q)
    forward = proc.P.diff(proc.t) - proc.Q * proc.P
    initial = proc.P.subs(proc.t, 0) - sp.eye(S)
    proof = Proof(
        lhs=[dkl, *forward, *initial],
        rhs=[minus_mdse] + [0] * (2 * S * S),
        argument=("(1) dKL/dt = -mdse for arbitrary positive vectors k = p_{t|0}(.|x0), u = p_t whose "
                  "derivatives obey dk/dt = Qk, du/dt = Qu; (2) the closed-form kernel obeys dP/dt = QP "
                  "with P(0) = I, so its columns and p_t = P p0 obey the forward equation"),
    )
    setup = dict(proc.setup, x0=starts if x0 is None else starts[0], symbols=sorted(str(s) for s in proc.domain))
    return residual_check(f"I-MDSE pointwise, symbolic ({case})", "Theorem 3.1", lhs, rhs, proc.domain,
                          proof=proof, setup=setup, budget_s=budget_s, seed=seed)


@_timed
def check_dse_dce_pointwise(N=2, L=2, *, budget_s=20.0, seed=0):
    """Lemma 3.3, proven symbolically for every x0 ∈ V^L and every x reachable from x0.

    .. math::
        \\ell_{DSE}(x_0, x, t, s) = \\sigma(t) \\frac{1-\\lambda}{\\lambda} \\ell_{DCE}(x_0, x, c),
        \\qquad s(x)_y = \\frac{1-\\lambda}{\\lambda} c(x)_{i,v},

    for the absorbing process (mask index N), where y unmasks position i of x to v
    (these are exactly the y with Q(x, y) > 0), r_y comes from the absorbing kernel in
    λ = 1 − e^{−σ̄}, and c is a symbolic normalised denoiser (:func:`denoiser_symbols`).
    """
    N, L = _int(N, "N", 2), _int(L, "L", 1)
    lam, sigma, c, domain = _masked_setup(N, L)
    lhs, rhs, pairs = [], [], []
    for x0 in states(N, L):
        for x, _, ell_dse, ell_dce in dse_absorbing_terms(N, L, x0, lam, sigma, c):
            lhs.append(ell_dse)
            rhs.append(sigma * (1 - lam) / lam * ell_dce)
            pairs.append(f"{label(x0)}->{label(x, N)}")
    setup = {"process": "absorbing", "N": N, "L": L, "denoiser": "symbolic, normalised", "pairs": pairs}
    return residual_check("DSE = sigma (1-lambda)/lambda DCE, symbolic", "Lemma 3.3", lhs, rhs, domain,
                          setup=setup, budget_s=budget_s, seed=seed)


def _masked_setup(N, L):
    lam, sigma = sp.symbols("lambda sigma", positive=True)
    c, domain = denoiser_symbols(N, L)
    domain.update({lam: (0, 1), sigma: (sp.Rational(1, 10), 3)})
    return lam, sigma, c, domain




def _integrand_route(N, L, lam, sigma, c, domain):
    """E ℓ_DSE dt = E ℓ_DSE / (σ(1 − λ)) dλ  against  (1/λ) E ℓ_DCE dλ."""
    lhs = [expected_dse_absorbing(N, L, x0, lam, sigma, c) / (sigma * (1 - lam)) for x0 in states(N, L)]
    rhs = [expected_dce_absorbing(N, L, x0, lam, c) / lam for x0 in states(N, L)]
    return lhs, rhs, domain, {"route": "integrand", "jacobian": "dlambda = sigma(t) (1 - lambda) dt"}


def _integral_route(N, L, lam, sigma, c, domain):
    """∫_0^T E ℓ_DSE dt (constant σ, λ(t) = 1 − e^{−σt})  against  ∫_0^Λ (1/λ) E ℓ_DCE dλ,
    Λ = 1 − e^{−σT}. The DSE integrand is first put through ``expand_log(force=True)``
    and ``expand`` (exact algebra) so that sympy integrates polynomials in e^{−σt}."""
    t, T = sp.symbols("t T", positive=True)
    domain = {k: v for k, v in domain.items() if k != lam}
    domain[T] = (0, 3)
    Lam = 1 - sp.exp(-sigma * T)
    lhs, rhs = [], []
    for x0 in states(N, L):
        integrand = sp.expand(sp.expand_log(expected_dse_absorbing(N, L, x0, lam, sigma, c), force=True))
        lhs.append(sp.integrate(sp.expand(integrand.subs(lam, 1 - sp.exp(-sigma * t))), (t, 0, T)))
        dce = sp.integrate(sp.expand(expected_dce_absorbing(N, L, x0, lam, c) / lam), (lam, 0, Lam))
        rhs.append(dce)
    return lhs, rhs, domain, {"route": "integral", "schedule": "constant sigma"}


_THEOREM_34_ROUTES = {"integrand": _integrand_route, "integral": _integral_route}


@_timed
def check_dse_dce_integrated(N=2, L=2, *, route="integral", budget_s=20.0, seed=0):
    """Theorem 3.4, proven symbolically for every x0 ∈ V^L and a symbolic normalised c.

    .. math::
        L^T_{DSE}(x_0) = \\int_0^T E_{x_t|x_0} \\ell_{DSE} \\, dt
        = \\int_0^\\Lambda \\frac{1}{\\lambda} E_{x_\\lambda|x_0} \\ell_{DCE} \\, d\\lambda
        = L^\\Lambda_{DCE}(x_0), \\qquad \\Lambda = 1 - e^{-\\bar\\sigma(T)},

    with the score of Lemma 3.3. ``route="integrand"`` checks the integrands after the
    change of variables dλ = σ(t)(1 − λ) dt, for any schedule (σ and λ are independent
    symbols); ``route="integral"`` integrates both sides exactly for a constant schedule
    σ with symbolic σ and T.
    """
    if route not in _THEOREM_34_ROUTES:
        raise ValueError(f"`route` must be one of {set(_THEOREM_34_ROUTES)} (got {route!r}).")
    N, L = _int(N, "N", 2), _int(L, "L", 1)
    lam, sigma, c, domain = _masked_setup(N, L)
    lhs, rhs, domain, extra = _THEOREM_34_ROUTES[route](N, L, lam, sigma, c, domain)
    setup = {"process": "absorbing", "N": N, "L": L, "denoiser": "symbolic, normalised", **extra}
    return residual_check(f"L_DSE = L_DCE, symbolic ({route})", "Theorem 3.4", lhs, rhs, domain,
                          setup=setup, budget_s=budget_s, seed=seed)


@_timed
def check_time_free(L=2, *, budget_s=20.0, seed=0):
    """Theorem 4.1, proven symbolically for N = 2 and every x0 ∈ V^L:

    .. math::
        -\\log p_0(x_0) = H_L \\, E_{U \\sim p(U)} \\sum_{i \\notin U}
        -\\log p_0(x_0^i \\mid x_0^U),

    with p0 fully symbolic (2^L positive weights divided by their sum).
    """
    L = _int(L, "L", 1)
    weights, total, domain = symbolic_pmf(2, L)
    xs = states(2, L)
    lhs = [-sp.log(pmf_subsequence(weights, total, x, range(L))) for x in xs]
    rhs = [time_free_sum(weights, total, x, range(L)) for x in xs]
    setup = {"N": 2, "L": L, "p0": "symbolic, w/sum(w)", "harmonic": str(harmonic_number(L, exact=True))}
    return residual_check(f"time-free NLL, symbolic (L={L})", "Theorem 4.1", lhs, rhs, domain,
                          setup=setup, budget_s=budget_s, seed=seed)


@_timed
def check_conditional_time_free(n_target=2, n_context=1, *, budget_s=20.0, seed=0):
    """Corollary 4.3, proven symbolically for N = 2, L = |T| + |C|, every choice of the
    context positions C and every x ∈ V^L:

    .. math::
        -\\log p_0(x^T \\mid x^C) = H_{|T|} \\, E_{J \\sim p(J)}
        \\sum_{i \\in T \\setminus J} -\\log p_0(x^i \\mid x^{J \\cup C}).
    """
    n_target, n_context = _int(n_target, "n_target", 1), _int(n_context, "n_context", 0)
    L = n_target + n_context
    weights, total, domain = symbolic_pmf(2, L)
    lhs, rhs, cases = [], [], []
    for context in itertools.combinations(range(L), n_context):
        target = tuple(i for i in range(L) if i not in context)
        for x in states(2, L):
            lhs.append(-sp.log(pmf_subsequence(weights, total, x, target + context) / pmf_subsequence(weights, total, x, context)))
            rhs.append(time_free_sum(weights, total, x, target, context))
            cases.append(f"C={context},x={label(x)}")
    setup = {"N": 2, "L": L, "n_target": n_target, "n_context": n_context, "p0": "symbolic, w/sum(w)",
             "harmonic": str(harmonic_number(n_target, exact=True)), "cases": len(cases)}
    return residual_check(f"conditional time-free NLL, symbolic (|T|={n_target}, |C|={n_context})",
                          "Corollary 4.3", lhs, rhs, domain, setup=setup, budget_s=budget_s, seed=seed)


@_timed
def check_log_ratio(L=2, *, budget_s=20.0, seed=0):
    """Eq. 18 (coupled log-ratio), proven symbolically for N = 2 and all pairs x, y:

    .. math::
        \\log p_0(y) - \\log p_0(x) = H_L \\, E_{U \\sim p(U)} \\sum_{i \\notin U}
        \\log \\frac{p_0(y^i \\mid y^U)}{p_0(x^i \\mid x^U)}.
    """
    L = _int(L, "L", 1)
    weights, total, domain = symbolic_pmf(2, L)
    pairs = list(itertools.product(states(2, L), repeat=2))
    full = range(L)
    lhs = [sp.log(pmf_subsequence(weights, total, y, full)) - sp.log(pmf_subsequence(weights, total, x, full)) for x, y in pairs]
    rhs = [log_ratio_sum(weights, total, x, y) for x, y in pairs]
    setup = {"N": 2, "L": L, "p0": "symbolic, w/sum(w)", "pairs": len(pairs),
             "harmonic": str(harmonic_number(L, exact=True))}
    return residual_check(f"coupled log-ratio, symbolic (L={L})", "Eq. 18", lhs, rhs, domain,
                          setup=setup, budget_s=budget_s, seed=seed)


def symbolic_checks(budget_s=20.0, seed=0):
    """Run every symbolic check; each gets its own budget of ``budget_s`` seconds.

    Returns a list of :class:`CheckResult`: Theorem 3.1 (2-state for x0 = 0 and 1,
    uniform N=3 L=1, uniform N=2 L=2), Lemma 3.3 (L=2, N=2), Theorem 3.4 (integrand
    and integral routes), Theorem 4.1 (L=2, 3), Corollary 4.3 (|T|=2, |C|=1) and
    Eq. 18 (L=2).
    """
    kw = {"budget_s": budget_s, "seed": seed}
    return [
        *check_i_mdse("two-state", 0, **kw),
        *check_i_mdse("two-state", 1, **kw),
        *check_i_mdse("uniform-N3-L1", **kw),
        *check_i_mdse("uniform-N2-L2", **kw),
        *check_dse_dce_pointwise(2, 2, **kw),
        *check_dse_dce_integrated(2, 2, route="integrand", **kw),
        *check_dse_dce_integrated(2, 2, route="integral", **kw),
        *check_time_free(2, **kw),
        *check_time_free(3, **kw),
        *check_conditional_time_free(2, 1, **kw),
        *check_log_ratio(2, **kw),
    ]
