"""Symbolic proofs of the paper's identities with sympy.

Each check builds both sides of an identity as sympy expressions in symbols for the
parameters that matter (rates, probabilities, time, λ, the denoiser), forms the residual
``lhs - rhs`` (or the residuals of lemmas that imply it, see :class:`Proof`) and tries to
reduce it to exactly ``0``. The reduction tries cheap stages first (:data:`STAGES`:
``expand_log(force=True)`` then ``expand``; ``cancel`` of each logarithm's coefficient
with the logarithms held as independent atoms; ``simplify``), under a per-check time
budget ``budget_s``. A residual that is not reduced to ``0`` within the budget is
evaluated with mpmath at 50 digits at ``n_points`` seeded random rational
points inside the symbols' domain; that fall-back is recorded as
``setup["method"] == "mpmath-50-digits"`` and stated in ``note``.

All symbols are positive and every logarithm's argument is a positive quantity, so
splitting logarithms with ``expand_log(force=True)`` is exact. Generators
follow the column convention of MATH.md: ``Q[y, x]`` is the rate from x to y, and a
kernel ``P[y, x] = p_{t|0}(y | x)``. States of V^L are token tuples, ordered as
``itertools.product`` orders them (C order, the order of a table of shape (N,)*L); the
mask token of the absorbing process has index N.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import math
import signal
import threading
import time
from typing import Callable, NamedTuple

import mpmath
import numpy as np
import sympy as sp

from .checks.result import CheckResult

__all__ = [
    "STAGES",
    "residual_check",
    "harmonic_number",
    "states",
    "two_state_kernel",
    "uniform_token_generator",
    "uniform_token_kernel",
    "absorbing_token_generator",
    "absorbing_token_kernel",
    "kronecker_sum",
    "product_kernel",
    "simplex_symbols",
    "symbolic_pmf",
    "marginal",
    "kl_divergence",
    "dse_weights",
    "dse_pointwise",
    "concrete_score",
    "kernel_ratio",
    "mdse_pointwise",
    "i_mdse_identity",
    "Proof",
    "i_mdse_process",
    "denoiser_symbols",
    "denoiser_score",
    "dce_pointwise",
    "expected_dse_absorbing",
    "expected_dce",
    "time_free_sum",
    "log_ratio_sum",
    "check_i_mdse",
    "check_dse_dce_pointwise",
    "check_dse_dce_integrated",
    "check_time_free",
    "check_conditional_time_free",
    "check_log_ratio",
    "symbolic_checks",
]

#: Working precision (decimal digits) of the mpmath fall-back.
FALLBACK_DPS = 50
#: Tolerance on the largest absolute residual in the mpmath fall-back.
FALLBACK_TOL = 1e-40
#: Longest residual string kept in ``CheckResult.note``.
_NOTE_CHARS = 2000


# ---------------------------------------------------------------------------------------
# Reducing a residual to zero, under a time budget
# ---------------------------------------------------------------------------------------


class _OutOfBudget(Exception):
    """Raised inside a simplification stage when the check's budget runs out."""


@contextlib.contextmanager
def _interrupt_at(deadline):
    """Raise :class:`_OutOfBudget` inside the block once ``time.perf_counter()`` passes
    ``deadline``. This uses ``SIGALRM``, so it only interrupts in the main thread of a
    POSIX process and only when no other interval timer is pending; otherwise the budget
    is checked between stages only."""
    remaining = deadline - time.perf_counter()
    if remaining <= 0:
        raise _OutOfBudget
    usable = (
        remaining < 1e6
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )
    if not usable:
        yield
        return

    def _handler(signum, frame):
        raise _OutOfBudget

    previous = signal.signal(signal.SIGALRM, _handler)
    signal.setitimer(signal.ITIMER_REAL, remaining)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _expand_logs_then_expand(expr):
    """``expand(expand_log(expr, force=True))``. Logs are split first: ``expand`` alone
    would multiply out a product inside a log, which ``expand_log`` can then no longer
    split."""
    return sp.expand(sp.expand_log(expr, force=True))


def _cancel_log_coefficients(expr):
    """``expand_log(force=True)``, then hold every ``log(...)`` as an independent atom
    and ``cancel`` its coefficient and the log-free rest separately.

    If the expression is affine in the log atoms (every coefficient is free of them),
    it equals ``rest + Σ_j coefficient_j · log_j`` exactly, so zero coefficients and a
    zero rest prove it is 0. Otherwise the whole expression is cancelled at once.
    Cancelling the pieces separately avoids one huge common denominator.
    """
    expr = sp.expand_log(expr, force=True)
    logs = sorted(expr.atoms(sp.log), key=sp.default_sort_key)
    dummies = {lg: sp.Dummy(f"log{k}") for k, lg in enumerate(logs)}
    back = {d: lg for lg, d in dummies.items()}
    held = expr.xreplace(dummies)
    coefficients = {lg: held.diff(d) for lg, d in dummies.items()}
    if any(c.has(*back) for c in coefficients.values()):
        return sp.cancel(held).xreplace(back)
    rest = sp.cancel(held.xreplace({d: 0 for d in back}))
    return sp.Add(rest, *[sp.cancel(c) * lg for lg, c in coefficients.items()])


#: The simplification stages, cheapest first. Each is tried on the residual as built
#: (not chained: an expanded form can be much harder for the next stage); the residual
#: is proven 0 by the first stage whose output is exactly ``0``.
STAGES: dict[str, Callable] = {
    "expand_log+expand": _expand_logs_then_expand,
    "log-coefficients+cancel": _cancel_log_coefficients,
    "simplify": sp.simplify,
}


def _reduce(residual, deadline):
    """Run :data:`STAGES` on ``residual`` until one gives exactly 0 or the deadline passes.

    Returns ``(expression, stage)``: ``stage`` is the name of the stage that reached 0,
    ``"none"`` if the residual was 0 as built, or ``None`` if it was not reduced to 0
    (``expression`` is then the shortest stage output, or the residual itself).
    """
    if residual == 0:
        return sp.S.Zero, "none"
    best = residual
    for name, stage in STAGES.items():
        try:
            with _interrupt_at(deadline):
                out = stage(residual)
        except _OutOfBudget:
            return best, None
        except Exception:  # noqa: BLE001 - a stage sympy cannot run proves nothing; try the next
            continue
        if out == 0:
            return sp.S.Zero, name
        if sp.count_ops(out) < sp.count_ops(best):
            best = out
    return best, None


class Proof(NamedTuple):
    """Lemmas whose exact equality implies an identity: ``lhs[k] == rhs[k]`` for every
    k, and ``argument`` says why they imply it."""

    lhs: list
    rhs: list
    argument: str


def _check_domain(domain, expressions):
    free = set().union(*(e.free_symbols for e in expressions))
    missing = sorted(str(s) for s in free - set(domain))
    if missing:
        raise ValueError(f"`domain` must give an interval for every free symbol (missing: {missing}).")
    for symbol, (lo, hi) in domain.items():
        if not sp.Rational(lo) < sp.Rational(hi):
            raise ValueError(f"`domain` interval for {symbol} must have lo < hi (got ({lo}, {hi})).")


def _sample_points(domain, n_points, seed):
    """``n_points`` random rational points, uniform in the box ``domain``, open at the
    ends; symbols are drawn in name order so the points depend on the seed only."""
    rng = np.random.default_rng(seed)
    grid = 10**6
    ordered = sorted(domain, key=str)
    points = []
    for _ in range(n_points):
        point = {}
        for symbol in ordered:
            lo, hi = (sp.Rational(v) for v in domain[symbol])
            point[symbol] = lo + (hi - lo) * sp.Rational(int(rng.integers(1, grid)), grid)
        points.append(point)
    return points


def _evaluate(expressions, point):
    """Values of ``expressions`` at a rational ``point``, with mpmath at FALLBACK_DPS."""
    symbols = sorted(point, key=str)
    with mpmath.workdps(FALLBACK_DPS):
        args = [mpmath.mpf(int(point[s].p)) / int(point[s].q) for s in symbols]
        values = []
        for expr in expressions:
            f = sp.lambdify(symbols, expr, modules="mpmath")
            values.append(f(*args))
    return values


def _shorten(text):
    if len(text) <= _NOTE_CHARS:
        return text
    return text[:_NOTE_CHARS] + f" ... [{len(text)} chars in all]"


def _as_list(side, name):
    if isinstance(side, sp.Basic) or not isinstance(side, (list, tuple)):
        return [sp.sympify(side)]
    if not side:
        raise ValueError(f"`{name}` must not be empty.")
    return [sp.sympify(e) for e in side]


def residual_check(name, reference, lhs, rhs, domain, *, proof=None, setup=None, budget_s=20.0, n_points=5,
                   seed=0):
    """Prove ``lhs == rhs`` symbolically, or fall back to 50-digit evaluation.

    The residual ``lhs - rhs`` (one per component when ``lhs`` and ``rhs`` are
    sequences), or each lemma of ``proof`` when one is given, is passed through
    :data:`STAGES` until it is exactly ``0``. The check passes with
    ``setup["method"] == "simplify"`` when every one is exactly 0. Otherwise, once
    ``budget_s`` seconds are spent or the stages are exhausted, the statement residuals
    ``lhs - rhs`` that are not proven are evaluated with mpmath at 50 digits at
    ``n_points`` seeded rational points of ``domain``; the check then has
    ``setup["method"] == "mpmath-50-digits"`` and passes if the largest
    ``|residual| < 1e-40``.

    Parameters
    ----------
    name, reference : str
        The check's name and the paper's theorem or equation.
    lhs, rhs : sympy.Expr or sequence of sympy.Expr
        Both sides; sequences must have the same length.
    domain : dict
        ``{symbol: (lo, hi)}`` with rational bounds, for every free symbol of ``lhs``
        and ``rhs``; the fall-back samples points uniformly in this box. Every point of
        the box must be a valid parameter (for instance probabilities that stay positive).
    proof : Proof, optional
        Lemmas whose exact equality implies ``lhs == rhs``; when given, the symbolic
        stages run on the lemmas instead of on ``lhs - rhs``, and ``proof.argument``
        goes into ``note``.
    setup : dict, optional
        The case parameters; ``method``, ``stages``, ``elapsed_s``, ``budget_s`` and,
        for the fall-back, ``seed`` and ``n_points`` are added.
    budget_s : float
        Seconds allowed for the symbolic stages over all components (``0`` skips them,
        ``math.inf`` never stops them).
    n_points : int
        Number of random rational points of the fall-back (>= 1).
    seed : int
        Seed of ``numpy.random.default_rng`` that draws the points.

    Returns
    -------
    CheckResult
        ``lhs`` and ``rhs`` are the values of both sides at the first sample point, for
        the component with the largest residual (fall-back) or the largest ``|lhs|``
        (exact proof). ``abs_err == rel_err == 0.0`` and ``tol == 0.0`` for an
        exact proof; otherwise both errors are the largest absolute residual found by
        mpmath and ``tol == 1e-40``. ``note`` holds ``str(residual)``.

    Examples
    --------
    >>> import sympy as sp
    >>> a, b = sp.symbols("a b", positive=True)
    >>> r = residual_check("log of a product", "-", sp.log(a * b), sp.log(a) + sp.log(b),
    ...                    {a: (0, 1), b: (0, 1)})
    >>> r.passed, r.setup["method"], r.abs_err
    (True, 'simplify', 0.0)
    """
    start = time.perf_counter()
    budget_s = float(budget_s)
    if not budget_s >= 0:
        raise ValueError(f"`budget_s` must be a number of seconds >= 0 (got {budget_s}).")
    if isinstance(n_points, bool) or int(n_points) != n_points or n_points < 1:
        raise ValueError(f"`n_points` must be an integer >= 1 (got {n_points!r}).")
    lhs_list, rhs_list = _as_list(lhs, "lhs"), _as_list(rhs, "rhs")
    if len(lhs_list) != len(rhs_list):
        raise ValueError(f"`lhs` and `rhs` must have the same length (got {len(lhs_list)} and {len(rhs_list)}).")
    _check_domain(domain, lhs_list + rhs_list)
    statement = [left - right for left, right in zip(lhs_list, rhs_list)]
    if proof is None:
        targets = statement
    else:
        proof_lhs, proof_rhs = _as_list(proof.lhs, "proof.lhs"), _as_list(proof.rhs, "proof.rhs")
        if len(proof_lhs) != len(proof_rhs):
            raise ValueError(f"`proof.lhs` and `proof.rhs` must have the same length "
                             f"(got {len(proof_lhs)} and {len(proof_rhs)}).")
        targets = [left - right for left, right in zip(proof_lhs, proof_rhs)]

    deadline = start + budget_s
    reduced, stages = [], []
    for residual in targets:
        expr, stage = _reduce(residual, deadline)
        reduced.append(expr)
        stages.append(stage)
    stage_counts = {s: stages.count(s) for s in dict.fromkeys(stages) if s is not None}
    unproven = [k for k, stage in enumerate(stages) if stage is None]
    if proof is not None and unproven:
        unproven = list(range(len(statement)))  # a failed lemma proves no component
    points = _sample_points(domain, n_points, seed)

    setup = dict(setup or {})
    residual_text = str(reduced[0]) if len(reduced) == 1 else str(reduced)
    by_lemmas = "" if proof is None else f"proof by {len(targets)} lemma(s) [{proof.argument}]; "
    if not unproven:
        sizes = [abs(v) for v in _evaluate(lhs_list, points[0])]
        worst, abs_err, tol, passed = sizes.index(max(sizes)), 0.0, 0.0, True
        setup["method"] = "simplify"
        note = f"exact: {by_lemmas}every residual simplified to 0 (stages: {stage_counts}); residual = {residual_text}"
    else:
        worst_value, worst, finite = mpmath.mpf(0), unproven[0], True
        for point in points:
            for k, value in zip(unproven, _evaluate([statement[k] for k in unproven], point)):
                if not mpmath.isfinite(value):
                    finite, worst_value, worst = False, mpmath.inf, k
                elif finite and abs(value) > worst_value:
                    worst_value, worst = abs(value), k
        abs_err, tol = float(worst_value), FALLBACK_TOL
        passed = bool(finite and abs_err < tol)
        setup.update(method="mpmath-50-digits", seed=seed, n_points=n_points)
        note = (
            f"FALLBACK: {by_lemmas}sympy did not reduce {stages.count(None)} of {len(targets)} residual(s) "
            f"to 0 within budget_s={budget_s:g} (exact: {stage_counts}); {len(unproven)} statement "
            f"residual(s) were evaluated with mpmath at {FALLBACK_DPS} digits at {n_points} seeded rational "
            f"points, max |residual| = {abs_err:.3g} (rel_err is this absolute residual); "
            f"residual = {residual_text}"
        )
    lhs_value, rhs_value = _evaluate([lhs_list[worst], rhs_list[worst]], points[0])
    setup.update(stages=stage_counts, budget_s=budget_s, elapsed_s=round(time.perf_counter() - start, 3))
    return CheckResult(
        name=name,
        reference=reference,
        setup=setup,
        lhs=float(lhs_value),
        rhs=float(rhs_value),
        abs_err=abs_err,
        rel_err=abs_err,
        tol=tol,
        passed=passed,
        note=_shorten(note),
    )


# ---------------------------------------------------------------------------------------
# Builders: processes, distributions, divergences
# ---------------------------------------------------------------------------------------


def _timed(check):
    """Record the whole case's wall time (building the expressions included) as
    ``setup["elapsed_s"]``; the budget itself only bounds the symbolic stages."""

    @functools.wraps(check)
    def timed(*args, **kwargs):
        start = time.perf_counter()
        result = check(*args, **kwargs)
        setup = dict(result.setup, elapsed_s=round(time.perf_counter() - start, 3))
        return dataclasses.replace(result, setup=setup)

    return timed


def _check_int(value, name, minimum):
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum} (got {value!r}).")
    return int(value)


def harmonic_number(L):
    """H_L = Σ_{k=1}^{L} 1/k as an exact sympy Rational (H_0 = 0)."""
    L = _check_int(L, "L", 0)
    return sp.Add(*[sp.Rational(1, k) for k in range(1, L + 1)])


def states(n, L):
    """All token tuples of length L over ``range(n)``, in C order."""
    return list(itertools.product(range(_check_int(n, "n", 1)), repeat=_check_int(L, "L", 1)))


def _label(state, N=None):
    return "".join("M" if (N is not None and v == N) else str(v) for v in state)


def two_state_kernel(a, b, t):
    """exp(t Q) in closed form for Q = [[-a, b], [a, -b]] (column convention).

    .. math::
        \\exp(tQ) = \\frac{1}{a+b}\\begin{pmatrix} b + a e & b(1-e) \\\\ a(1-e) & a + b e
        \\end{pmatrix}, \\quad e = e^{-(a+b)t},

    where a is the rate 0 → 1 and b the rate 1 → 0. Returns a 2 × 2 sympy Matrix with
    ``P[y, x] = p_{t|0}(y | x)``.
    """
    e = sp.exp(-(a + b) * t)
    return sp.Matrix([[b + a * e, b - b * e], [a - a * e, a + b * e]]) / (a + b)


def uniform_token_generator(N):
    """Q^tok = 11ᵀ/N − I (N × N sympy Matrix)."""
    N = _check_int(N, "N", 2)
    return sp.ones(N, N) / N - sp.eye(N)


def uniform_token_kernel(N, sbar):
    """k = e^{−σ̄} I + (1 − e^{−σ̄}) 11ᵀ/N, the kernel exp(σ̄ Q^tok) of the uniform process."""
    N = _check_int(N, "N", 2)
    e = sp.exp(-sbar)
    return e * sp.eye(N) + (1 - e) * sp.ones(N, N) / N


def absorbing_token_generator(N):
    """Q^tok of the absorbing process on N + 1 states (mask index N):
    Q(M, x) = 1 and Q(x, x) = −1 for x ≠ M, and the column of M is 0."""
    N = _check_int(N, "N", 1)
    Q = sp.zeros(N + 1, N + 1)
    for v in range(N):
        Q[N, v], Q[v, v] = 1, -1
    return Q


def absorbing_token_kernel(N, lam):
    """The absorbing kernel in λ = 1 − e^{−σ̄}: k(x|x) = 1 − λ, k(M|x) = λ, k(M|M) = 1."""
    N = _check_int(N, "N", 1)
    k = sp.zeros(N + 1, N + 1)
    for v in range(N):
        k[v, v], k[N, v] = 1 - lam, lam
    k[N, N] = 1
    return k


def kronecker_sum(Q_tok, L):
    """Σ_i I ⊗ … ⊗ Q^tok ⊗ … ⊗ I: Q[y, x] = Σ_i Q^tok[y^i, x^i] Π_{j≠i} δ(y^j, x^j)."""
    space = states(Q_tok.shape[0], L)
    Q = sp.zeros(len(space), len(space))
    for (iy, y), (ix, x) in itertools.product(enumerate(space), repeat=2):
        diff = [i for i in range(L) if y[i] != x[i]]
        if len(diff) == 1:
            Q[iy, ix] = Q_tok[y[diff[0]], x[diff[0]]]
        elif not diff:
            Q[iy, ix] = sp.Add(*[Q_tok[x[i], x[i]] for i in range(L)])
    return Q


def product_kernel(k, L):
    """P[y, x] = Π_i k[y^i, x^i], the kernel of a token-wise process."""
    space = states(k.shape[0], L)
    P = sp.zeros(len(space), len(space))
    for (iy, y), (ix, x) in itertools.product(enumerate(space), repeat=2):
        P[iy, ix] = sp.Mul(*[k[y[i], x[i]] for i in range(L)])
    return P


def simplex_symbols(n, prefix="p"):
    """A symbolic point (p_1, …, p_{n−1}, 1 − Σ p_j) of the simplex and its domain.

    Each p_j is a positive symbol with domain (0, 1/(n−1)), so every point of the box has
    all n entries positive. Returns ``(entries, domain)``.
    """
    n = _check_int(n, "n", 2)
    free = sp.symbols(f"{prefix}1:{n}", positive=True)
    entries = list(free) + [1 - sp.Add(*free)]
    return entries, {s: (0, sp.Rational(1, n - 1)) for s in free}


def symbolic_pmf(N, L, prefix="w"):
    """A fully symbolic p0 on V^L, normalised by its sum: p0(x) = w_x / W, W = Σ_z w_z.

    Returns ``(weights, total, domain)`` with ``weights`` a dict from token tuples to
    positive symbols, ``total = W`` and domain (0, 1) for every weight.
    """
    weights = {x: sp.Symbol(f"{prefix}_{_label(x)}", positive=True) for x in states(N, L)}
    return weights, sp.Add(*weights.values()), {w: (0, 1) for w in weights.values()}


def marginal(weights, total, x, positions):
    """p0(x^U) = Σ_{z : z^U = x^U} w_z / W for the positions U (an iterable of indices)."""
    U = tuple(positions)
    return sp.Add(*[w for z, w in weights.items() if all(z[i] == x[i] for i in U)]) / total


def kl_divergence(p, q):
    """KL(p ‖ q) = Σ_x p(x) log(p(x)/q(x)), skipping entries with p(x) = 0."""
    return sp.Add(*[pi * sp.log(pi / qi) for pi, qi in zip(p, q) if pi != 0])


# ---------------------------------------------------------------------------------------
# Denoising score entropy and Theorem 3.1
# ---------------------------------------------------------------------------------------

_ORIENTATIONS = {"into": lambda Q, x, y: Q[x, y], "out": lambda Q, x, y: Q[y, x]}


def dse_weights(Q_t, x, orientation="into"):
    """The DSE weights {y: w(x, y)} over y ≠ x with a non-zero weight.

    ``orientation="into"`` gives w = Q_t(x, y), the rate from y into x, as in MATH.md
    and the paper; ``"out"`` gives Q_t(y, x), the rate out of x, under which
    Theorem 3.1 fails for non-symmetric generators (it exists to show that).
    """
    if orientation not in _ORIENTATIONS:
        raise ValueError(f"`orientation` must be one of {set(_ORIENTATIONS)} (got {orientation!r}).")
    weight = _ORIENTATIONS[orientation]
    out = {}
    for y in range(Q_t.shape[0]):
        if y != x:
            w = weight(Q_t, x, y)
            if w != 0:
                out[y] = w
    return out


def _k(a):
    """K(a) = a(log a − 1) with K(0) = 0."""
    return sp.S.Zero if a == 0 else a * (sp.log(a) - 1)


def dse_pointwise(weights, score, ratio):
    """Pointwise denoising score entropy (Lou et al. 2024; MATH.md):

    .. math::
        \\ell_{DSE}(x_0, x, t, s) = \\sum_{y \\ne x} Q_t(x, y)
        \\left[ s(x)_y - r_y \\log s(x)_y + K(r_y) \\right],

    where r_y = p_{t|0}(y|x0) / p_{t|0}(x|x0) and K(a) = a(log a − 1), K(0) = 0.

    Parameters
    ----------
    weights : dict
        {y: Q_t(x, y)}, from :func:`dse_weights`.
    score, ratio : dict or sequence
        s(x)_y and r_y, indexed by y (every y in ``weights``).
    """
    terms = []
    for y, w in weights.items():
        s, r = score[y], ratio[y]
        log_term = sp.S.Zero if r == 0 else r * sp.log(s)
        terms.append(w * (s - log_term + _k(r)))
    return sp.Add(*terms)


def concrete_score(p_t, x):
    """The optimal (concrete) score s*_t(x)_y = p_t(y) / p_t(x), for every y."""
    return [p_t[y] / p_t[x] for y in range(len(p_t))]


def kernel_ratio(column, x):
    """r_y = p_{t|0}(y | x0) / p_{t|0}(x | x0) for every y, from the kernel column
    ``column[y] = p_{t|0}(y | x0)``."""
    return [column[y] / column[x] for y in range(len(column))]


def mdse_pointwise(Q_t, column, p_t, orientation="into"):
    """mdse(x0, t) = E_{x ∼ p_{t|0}(·|x0)} ℓ_DSE(x0, x, t, s*_t) (MATH.md, Theorem 3.1):

    .. math::
        \\mathrm{mdse}(x_0, t) = \\sum_x p_{t|0}(x|x_0) \\sum_{y \\ne x} Q_t(x, y)
        \\left[ s^*_y - r_y \\log s^*_y + K(r_y) \\right],
        \\quad s^*_y = \\frac{p_t(y)}{p_t(x)}, \\quad r_y = \\frac{p_{t|0}(y|x_0)}{p_{t|0}(x|x_0)}.

    Parameters
    ----------
    Q_t : sympy.Matrix, shape (S, S)
        The generator σ(t) Q at time t, column convention.
    column : sequence of sympy.Expr, length S
        The kernel column ``column[x] = p_{t|0}(x | x0)``.
    p_t : sequence of sympy.Expr, length S
        The marginal p_t = P_t p0.
    orientation : {"into", "out"}
        Passed to :func:`dse_weights`.
    """
    terms = []
    for x, mass in enumerate(column):
        if mass != 0:
            ell = dse_pointwise(dse_weights(Q_t, x, orientation), concrete_score(p_t, x), kernel_ratio(column, x))
            terms.append(mass * ell)
    return sp.Add(*terms)


def i_mdse_identity(Q, orientation="into", sign=-1):
    """Theorem 3.1 for arbitrary positive vectors that obey the forward equation.

    With positive symbols k_x for p_{t|0}(x|x0) and u_x for p_t(x), and their time
    derivatives replaced by the forward equation dk/dt = Q k, du/dt = Q u (σ = 1),
    returns ``(dKL/dt, sign · mdse, domain)`` where KL = Σ_x k_x log(k_x/u_x) and
    dKL/dt = Σ_x (∂KL/∂k_x)(Qk)_x + (∂KL/∂u_x)(Qu)_x. The paper's identity is
    ``dKL/dt == -mdse``; ``sign`` exists to show that a flipped sign fails.
    Nothing else about k and u is used, so the identity proven here holds for every
    kernel column and marginal of every CTMC with generator Q.
    """
    S = Q.shape[0]
    k = list(sp.symbols(f"k0:{S}", positive=True))
    u = list(sp.symbols(f"u0:{S}", positive=True))
    dk, du = list(Q * sp.Matrix(k)), list(Q * sp.Matrix(u))
    kl = kl_divergence(k, u)
    dkl = sp.Add(*[sp.diff(kl, k[x]) * dk[x] + sp.diff(kl, u[x]) * du[x] for x in range(S)])
    return dkl, sign * mdse_pointwise(Q, k, u, orientation), {s: (0, 1) for s in k + u}


class SymbolicProcess(NamedTuple):
    """A forward process in closed form, with a symbolic p0 (σ = 1, so σ̄ = t)."""

    Q: sp.Matrix
    P: sp.Matrix
    p0: list
    t: sp.Symbol
    domain: dict
    setup: dict


def _two_state():
    a, b, t = sp.symbols("a b t", positive=True)
    p0, domain = simplex_symbols(2)
    Q = sp.Matrix([[-a, b], [a, -b]])
    domain.update({a: (sp.Rational(1, 10), 2), b: (sp.Rational(1, 10), 2), t: (0, 3)})
    setup = {"process": "general 2-state", "generator": "[[-a, b], [a, -b]]", "schedule": "constant 1"}
    return SymbolicProcess(Q, two_state_kernel(a, b, t), p0, t, domain, setup)


def _uniform(N, L):
    t = sp.Symbol("t", positive=True)
    p0, domain = simplex_symbols(N**L)
    domain[t] = (0, 3)
    Q = kronecker_sum(uniform_token_generator(N), L)
    P = product_kernel(uniform_token_kernel(N, t), L)
    setup = {"process": "uniform", "N": N, "L": L, "schedule": "constant 1"}
    return SymbolicProcess(Q, P, p0, t, domain, setup)


_I_MDSE_CASES = {
    "two-state": _two_state,
    "uniform-N3-L1": lambda: _uniform(3, 1),
    "uniform-N2-L2": lambda: _uniform(2, 2),
}


def i_mdse_process(case):
    """The closed-form :class:`SymbolicProcess` of a Theorem 3.1 case.

    ``case`` is one of ``"two-state"`` (Q = [[−a, b], [a, −b]], p0 = (p1, 1 − p1)),
    ``"uniform-N3-L1"`` and ``"uniform-N2-L2"`` (token-wise uniform process, Kronecker-sum
    generator, product kernel, p0 a symbolic point of the simplex).
    """
    if case not in _I_MDSE_CASES:
        raise ValueError(f"`case` must be one of {set(_I_MDSE_CASES)} (got {case!r}).")
    return _I_MDSE_CASES[case]()


@_timed
def check_i_mdse(case="two-state", x0=None, *, orientation="into", budget_s=20.0, seed=0):
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
        See :func:`i_mdse_process`.
    x0 : int, optional
        Index of the clean state; all states (one residual each) when omitted.
    orientation : {"into", "out"}
        The DSE weight orientation; ``"out"`` is wrong for a non-symmetric generator.
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
        rhs.append(-mdse_pointwise(proc.Q, column, p_t, orientation))
    dkl, minus_mdse, _ = i_mdse_identity(proc.Q, orientation)
    forward = proc.P.diff(proc.t) - proc.Q * proc.P
    initial = proc.P.subs(proc.t, 0) - sp.eye(S)
    proof = Proof(
        lhs=[dkl, *forward, *initial],
        rhs=[minus_mdse] + [0] * (2 * S * S),
        argument=("(1) dKL/dt = -mdse for arbitrary positive vectors k = p_{t|0}(.|x0), u = p_t whose "
                  "derivatives obey dk/dt = Qk, du/dt = Qu; (2) the closed-form kernel obeys dP/dt = QP "
                  "with P(0) = I, so its columns and p_t = P p0 obey the forward equation"),
    )
    setup = dict(proc.setup, x0=starts if x0 is None else starts[0], orientation=orientation,
                 symbols=sorted(str(s) for s in proc.domain))
    return residual_check(f"I-MDSE pointwise, symbolic ({case})", "Theorem 3.1", lhs, rhs, proc.domain,
                          proof=proof, setup=setup, budget_s=budget_s, seed=seed)


# ---------------------------------------------------------------------------------------
# Masked diffusion: Lemma 3.3 and Theorem 3.4
# ---------------------------------------------------------------------------------------


def denoiser_symbols(N, L):
    """A symbolic, normalised denoiser c(x)_{i,v} on the absorbing state space.

    For every sequence x ∈ (V ∪ {M})^L and every masked position i of x, the row
    (c(x)_{i,0}, …, c(x)_{i,N−1}) is a symbolic simplex point (q_1, …, 1 − Σ q), so
    Σ_v c(x)_{i,v} = 1 exactly. Returns ``(c, domain)`` with ``c[(x, i)]`` the row.
    """
    N, L = _check_int(N, "N", 2), _check_int(L, "L", 1)
    c, domain = {}, {}
    for x in states(N + 1, L):
        for i in range(L):
            if x[i] == N:
                row, dom = simplex_symbols(N, prefix=f"q_{_label(x, N)}_{i}_")
                c[(x, i)] = row
                domain.update(dom)
    return c, domain


def denoiser_score(x, weights, c, lam, N):
    """The score of Lemma 3.3: s(x)_y = ((1 − λ)/λ) c(x)_{i,v} for each y in ``weights``,
    where y unmasks position i of x to v ∈ V (anything else raises ``ValueError``).
    ``x`` is a token tuple; the keys of ``weights`` are flat state indices."""
    space = states(N + 1, len(x))
    score = {}
    for iy in weights:
        y = space[iy]
        diff = [i for i in range(len(x)) if y[i] != x[i]]
        if len(diff) != 1 or x[diff[0]] != N or y[diff[0]] == N:
            raise ValueError(f"`weights` must only hold states y that unmask one position of x={x} (got y={y}).")
        i = diff[0]
        score[iy] = (1 - lam) / lam * c[(x, i)][y[i]]
    return score


def dce_pointwise(x0, x, c, N):
    """ℓ_DCE(x0, x, c) = Σ_i 1[x^i = M] (−log c(x)_{i, x0^i}) (MATH.md)."""
    return sp.Add(*[-sp.log(c[(x, i)][x0[i]]) for i in range(len(x)) if x[i] == N])


def _absorbing_sequence(N, L, lam, sigma):
    space = states(N + 1, L)
    Q_t = sigma * kronecker_sum(absorbing_token_generator(N), L)
    P = product_kernel(absorbing_token_kernel(N, lam), L)
    return space, Q_t, P


def _dse_absorbing_terms(N, L, x0, lam, sigma, c):
    """[(p_{λ|0}(x|x0), ℓ_DSE(x0, x), ℓ_DCE(x0, x))] over the states x reachable from x0."""
    space, Q_t, P = _absorbing_sequence(N, L, lam, sigma)
    i0 = space.index(tuple(x0))
    out = []
    for ix, x in enumerate(space):
        if P[ix, i0] == 0:
            continue
        weights = dse_weights(Q_t, ix, "into")
        ell = dse_pointwise(weights, denoiser_score(x, weights, c, lam, N), kernel_ratio(list(P[:, i0]), ix))
        out.append((x, P[ix, i0], ell, dce_pointwise(x0, x, c, N)))
    return out


def expected_dse_absorbing(N, L, x0, lam, sigma, c):
    """E_{x ∼ p_{λ|0}(·|x0)} ℓ_DSE(x0, x, t, s) for the absorbing process, with the
    denoiser score of Lemma 3.3, σ(t) = ``sigma`` and λ(t) = ``lam``."""
    return sp.Add(*[p * ell for _, p, ell, _ in _dse_absorbing_terms(N, L, x0, lam, sigma, c)])


def expected_dce(N, L, x0, lam, c):
    """E_{x ∼ p_{λ|0}(·|x0)} ℓ_DCE(x0, x, c): each token masked independently w.p. λ."""
    k = absorbing_token_kernel(N, lam)
    return sp.Add(*[sp.Mul(*[k[x[i], x0[i]] for i in range(L)]) * dce_pointwise(x0, x, c, N)
                    for x in states(N + 1, L) if any(v == N for v in x)])


def _masked_setup(N, L):
    lam, sigma = sp.symbols("lambda sigma", positive=True)
    c, domain = denoiser_symbols(N, L)
    domain.update({lam: (0, 1), sigma: (sp.Rational(1, 10), 3)})
    return lam, sigma, c, domain


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
    N, L = _check_int(N, "N", 2), _check_int(L, "L", 1)
    lam, sigma, c, domain = _masked_setup(N, L)
    lhs, rhs, pairs = [], [], []
    for x0 in states(N, L):
        for x, _, ell_dse, ell_dce in _dse_absorbing_terms(N, L, x0, lam, sigma, c):
            lhs.append(ell_dse)
            rhs.append(sigma * (1 - lam) / lam * ell_dce)
            pairs.append(f"{_label(x0)}->{_label(x, N)}")
    setup = {"process": "absorbing", "N": N, "L": L, "denoiser": "symbolic, normalised", "pairs": pairs}
    return residual_check("DSE = sigma (1-lambda)/lambda DCE, symbolic", "Lemma 3.3", lhs, rhs, domain,
                          setup=setup, budget_s=budget_s, seed=seed)


def _integrand_route(N, L, lam, sigma, c, domain):
    """E ℓ_DSE dt = E ℓ_DSE / (σ(1 − λ)) dλ  against  (1/λ) E ℓ_DCE dλ."""
    lhs = [expected_dse_absorbing(N, L, x0, lam, sigma, c) / (sigma * (1 - lam)) for x0 in states(N, L)]
    rhs = [expected_dce(N, L, x0, lam, c) / lam for x0 in states(N, L)]
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
        dce = sp.integrate(sp.expand(expected_dce(N, L, x0, lam, c) / lam), (lam, 0, Lam))
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
    N, L = _check_int(N, "N", 2), _check_int(L, "L", 1)
    lam, sigma, c, domain = _masked_setup(N, L)
    lhs, rhs, domain, extra = _THEOREM_34_ROUTES[route](N, L, lam, sigma, c, domain)
    setup = {"process": "absorbing", "N": N, "L": L, "denoiser": "symbolic, normalised", **extra}
    return residual_check(f"L_DSE = L_DCE, symbolic ({route})", "Theorem 3.4", lhs, rhs, domain,
                          setup=setup, budget_s=budget_s, seed=seed)


# ---------------------------------------------------------------------------------------
# Time-free formulas: Theorem 4.1, Corollary 4.3, Eq. 18
# ---------------------------------------------------------------------------------------


def _masked_average(target, term, harmonic=None):
    """H · Σ_{J ⊊ T} p(J) Σ_{i ∈ T∖J} term(J, i), with p(J) = B(|T|−|J|, |J|+1) / H_{|T|}
    and H = H_{|T|} unless ``harmonic`` is given."""
    target = tuple(target)
    n = len(target)
    H_n = harmonic_number(n)
    H = H_n if harmonic is None else sp.sympify(harmonic)
    total = []
    for k in range(n):
        p_J = sp.Rational(math.factorial(n - k - 1) * math.factorial(k), math.factorial(n)) / H_n
        for J in itertools.combinations(target, k):
            total.append(p_J * sp.Add(*[term(J, i) for i in target if i not in J]))
    return H * sp.Add(*total)


def _conditional(weights, total, x, i, given):
    """p0(x^i | x^given) = p0(x^{given ∪ {i}}) / p0(x^given)."""
    return marginal(weights, total, x, (*given, i)) / marginal(weights, total, x, given)


def time_free_sum(weights, total, x, target, context=(), harmonic=None):
    """The right-hand side of Theorem 4.1 (``context=()``) and Corollary 4.3:

    .. math::
        H_{|T|} \\, E_{J \\sim p(J)} \\sum_{i \\in T \\setminus J}
        -\\log p_0(x^i \\mid x^{J \\cup C}), \\qquad
        p(J) = \\frac{B(|T|-|J|, |J|+1)}{H_{|T|}}, \\quad J \\subsetneq T.

    ``harmonic`` replaces the prefactor H_{|T|} (not the normaliser of p(J)); it exists
    to show that a wrong prefactor makes the identity fail.
    """
    context = tuple(context)
    return _masked_average(target, lambda J, i: -sp.log(_conditional(weights, total, x, i, J + context)), harmonic)


def log_ratio_sum(weights, total, x, y, harmonic=None):
    """The right-hand side of Eq. 18 (coupled, one shared U for x and y):

    .. math::
        H_L \\, E_{U \\sim p(U)} \\sum_{i \\notin U}
        \\log \\frac{p_0(y^i \\mid y^U)}{p_0(x^i \\mid x^U)}.
    """
    target = range(len(x))
    return _masked_average(
        target,
        lambda U, i: sp.log(_conditional(weights, total, y, i, U) / _conditional(weights, total, x, i, U)),
        harmonic,
    )


@_timed
def check_time_free(L=2, *, harmonic=None, budget_s=20.0, seed=0):
    """Theorem 4.1, proven symbolically for N = 2 and every x0 ∈ V^L:

    .. math::
        -\\log p_0(x_0) = H_L \\, E_{U \\sim p(U)} \\sum_{i \\notin U}
        -\\log p_0(x_0^i \\mid x_0^U),

    with p0 fully symbolic (2^L positive weights divided by their sum). ``harmonic``
    is passed to :func:`time_free_sum`.
    """
    L = _check_int(L, "L", 1)
    weights, total, domain = symbolic_pmf(2, L)
    xs = states(2, L)
    lhs = [-sp.log(marginal(weights, total, x, range(L))) for x in xs]
    rhs = [time_free_sum(weights, total, x, range(L), harmonic=harmonic) for x in xs]
    prefactor = harmonic_number(L) if harmonic is None else harmonic
    setup = {"N": 2, "L": L, "p0": "symbolic, w/sum(w)", "harmonic": str(prefactor)}
    return residual_check(f"time-free NLL, symbolic (L={L})", "Theorem 4.1", lhs, rhs, domain,
                          setup=setup, budget_s=budget_s, seed=seed)


@_timed
def check_conditional_time_free(n_target=2, n_context=1, *, harmonic=None, budget_s=20.0, seed=0):
    """Corollary 4.3, proven symbolically for N = 2, L = |T| + |C|, every choice of the
    context positions C and every x ∈ V^L:

    .. math::
        -\\log p_0(x^T \\mid x^C) = H_{|T|} \\, E_{J \\sim p(J)}
        \\sum_{i \\in T \\setminus J} -\\log p_0(x^i \\mid x^{J \\cup C}).
    """
    n_target, n_context = _check_int(n_target, "n_target", 1), _check_int(n_context, "n_context", 0)
    L = n_target + n_context
    weights, total, domain = symbolic_pmf(2, L)
    lhs, rhs, cases = [], [], []
    for context in itertools.combinations(range(L), n_context):
        target = tuple(i for i in range(L) if i not in context)
        for x in states(2, L):
            lhs.append(-sp.log(marginal(weights, total, x, target + context) / marginal(weights, total, x, context)))
            rhs.append(time_free_sum(weights, total, x, target, context, harmonic=harmonic))
            cases.append(f"C={context},x={_label(x)}")
    setup = {"N": 2, "L": L, "n_target": n_target, "n_context": n_context, "p0": "symbolic, w/sum(w)",
             "harmonic": str(harmonic_number(n_target) if harmonic is None else harmonic), "cases": len(cases)}
    return residual_check(f"conditional time-free NLL, symbolic (|T|={n_target}, |C|={n_context})",
                          "Corollary 4.3", lhs, rhs, domain, setup=setup, budget_s=budget_s, seed=seed)


@_timed
def check_log_ratio(L=2, *, harmonic=None, budget_s=20.0, seed=0):
    """Eq. 18 (coupled log-ratio), proven symbolically for N = 2 and all pairs x, y:

    .. math::
        \\log p_0(y) - \\log p_0(x) = H_L \\, E_{U \\sim p(U)} \\sum_{i \\notin U}
        \\log \\frac{p_0(y^i \\mid y^U)}{p_0(x^i \\mid x^U)}.
    """
    L = _check_int(L, "L", 1)
    weights, total, domain = symbolic_pmf(2, L)
    pairs = list(itertools.product(states(2, L), repeat=2))
    full = range(L)
    lhs = [sp.log(marginal(weights, total, y, full)) - sp.log(marginal(weights, total, x, full)) for x, y in pairs]
    rhs = [log_ratio_sum(weights, total, x, y, harmonic=harmonic) for x, y in pairs]
    setup = {"N": 2, "L": L, "p0": "symbolic, w/sum(w)", "pairs": len(pairs),
             "harmonic": str(harmonic_number(L) if harmonic is None else harmonic)}
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
        check_i_mdse("two-state", 0, **kw),
        check_i_mdse("two-state", 1, **kw),
        check_i_mdse("uniform-N3-L1", **kw),
        check_i_mdse("uniform-N2-L2", **kw),
        check_dse_dce_pointwise(2, 2, **kw),
        check_dse_dce_integrated(2, 2, route="integrand", **kw),
        check_dse_dce_integrated(2, 2, route="integral", **kw),
        check_time_free(2, **kw),
        check_time_free(3, **kw),
        check_conditional_time_free(2, 1, **kw),
        check_log_ratio(2, **kw),
    ]
