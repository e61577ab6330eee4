"""Reducing a symbolic residual to exactly 0 under a time budget, with a 50-digit
numerical fall-back.

A residual ``lhs − rhs`` (or each lemma of a :class:`Proof`) is passed through the
simplification :data:`STAGES`, cheapest first, until one gives exactly ``0``. A residual
not reduced within the budget is evaluated with mpmath at 50 digits at seeded random
rational points of the symbols' domain (:func:`prove` says which happened). The identity
checks built on this live in :mod:`exactdiff.checks.symbolic`.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from typing import Callable, NamedTuple

import mpmath
import numpy as np
import sympy as sp

__all__ = ["STAGES", "Proof", "Outcome", "prove", "reduce_to_zero", "FALLBACK_DPS", "FALLBACK_TOL"]

#: Working precision (decimal digits) of the mpmath fall-back.
FALLBACK_DPS = 50
#: Tolerance on the largest absolute residual in the mpmath fall-back.
FALLBACK_TOL = 1e-40
#: Longest residual string kept in a note.
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


def reduce_to_zero(residual, deadline):
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


class Outcome(NamedTuple):
    """What :func:`prove` found: ``passed``; both sides at the first sample point (for
    the worst component); the largest absolute residual (0.0 for an exact proof) and
    the tolerance it is held to (0.0 exact, :data:`FALLBACK_TOL` in the fall-back);
    ``info`` (``method``: ``"simplify"`` or ``"mpmath-50-digits"``, ``stages``,
    ``budget_s``, ``elapsed_s``, and the fall-back's ``seed`` and ``n_points``); a note
    holding ``str(residual)``."""

    passed: bool
    lhs: float
    rhs: float
    abs_err: float
    tol: float
    info: dict
    note: str


def prove(lhs, rhs, domain, *, proof=None, budget_s=20.0, n_points=5, seed=0) -> Outcome:
    """Prove ``lhs == rhs`` symbolically, or fall back to 50-digit evaluation.

    The residual ``lhs - rhs`` (one per component when ``lhs`` and ``rhs`` are
    sequences), or each lemma of ``proof`` when one is given, is passed through
    :data:`STAGES` until it is exactly ``0``: the outcome passes with method
    ``"simplify"`` when every one is. Otherwise, once ``budget_s`` seconds are spent or
    the stages are exhausted, the statement residuals that are not proven are evaluated
    with mpmath at 50 digits at ``n_points`` seeded rational points of ``domain``; the
    method is then ``"mpmath-50-digits"`` and it passes if the largest
    ``|residual| < 1e-40``.

    Parameters
    ----------
    lhs, rhs : sympy.Expr or sequence of sympy.Expr
        Both sides; sequences must have the same length.
    domain : dict
        ``{symbol: (lo, hi)}`` with rational bounds, for every free symbol of ``lhs``
        and ``rhs``; every point of the box must be a valid parameter.
    proof : Proof, optional
        Lemmas whose exact equality implies ``lhs == rhs``; when given, the symbolic
        stages run on the lemmas instead of on ``lhs - rhs``.
    budget_s : float
        Seconds allowed for the symbolic stages over all components (``0`` skips them,
        ``math.inf`` never stops them).
    n_points : int
        Number of random rational points of the fall-back (>= 1).
    seed : int
        Seed of ``numpy.random.default_rng`` that draws the points.

    Examples
    --------
    >>> import sympy as sp
    >>> a, b = sp.symbols("a b", positive=True)
    >>> out = prove(sp.log(a * b), sp.log(a) + sp.log(b), {a: (0, 1), b: (0, 1)})
    >>> out.passed, out.info["method"], out.abs_err
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
        expr, stage = reduce_to_zero(residual, deadline)
        reduced.append(expr)
        stages.append(stage)
    stage_counts = {s: stages.count(s) for s in dict.fromkeys(stages) if s is not None}
    unproven = [k for k, stage in enumerate(stages) if stage is None]
    if proof is not None and unproven:
        unproven = list(range(len(statement)))  # a failed lemma proves no component
    points = _sample_points(domain, n_points, seed)

    info = {}
    residual_text = str(reduced[0]) if len(reduced) == 1 else str(reduced)
    by_lemmas = "" if proof is None else f"proof by {len(targets)} lemma(s) [{proof.argument}]; "
    if not unproven:
        sizes = [abs(v) for v in _evaluate(lhs_list, points[0])]
        worst, abs_err, tol, passed = sizes.index(max(sizes)), 0.0, 0.0, True
        info["method"] = "simplify"
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
        info.update(method="mpmath-50-digits", seed=seed, n_points=n_points)
        note = (
            f"FALLBACK: {by_lemmas}sympy did not reduce {stages.count(None)} of {len(targets)} residual(s) "
            f"to 0 within budget_s={budget_s:g} (exact: {stage_counts}); {len(unproven)} statement "
            f"residual(s) were evaluated with mpmath at {FALLBACK_DPS} digits at {n_points} seeded rational "
            f"points, max |residual| = {abs_err:.3g} (rel_err is this absolute residual); "
            f"residual = {residual_text}"
        )
    lhs_value, rhs_value = _evaluate([lhs_list[worst], rhs_list[worst]], points[0])
    info.update(stages=stage_counts, budget_s=budget_s, elapsed_s=round(time.perf_counter() - start, 3))
    return Outcome(passed, float(lhs_value), float(rhs_value), abs_err, tol, info, _shorten(note))


