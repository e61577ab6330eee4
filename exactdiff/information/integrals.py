"""Time integrals of the minimum score entropy: ∫_0^T mdse(x0, t) dt (Theorem 3.2),
integrated in u = log σ̄(t) with the rules of :mod:`exactdiff.core.quadrature` (the DSE
likelihood of any score model is :func:`exactdiff.dse_limit`).

With σ̄ = e^u, dt = e^u du / σ(t), so ∫ f dt = ∫ (f/σ)(e^u)·e^u du: the −log t
singularity of mdse at t → 0 becomes an exponentially small tail as u → −∞.
"""

from __future__ import annotations

import numpy as np
from ..core.backend import as_xp_table, namespace
from ..core.quadrature import GL_ORDERS, adaptive_gauss_legendre, gauss_legendre_nodes, quad_vec_max
from ..core.validation import as_table, validate_time
from .score_entropy import mdse

__all__ = ["QUADRATURES", "mdse_integral", "mdse_running_integral", "time_nodes"]

#: Lower end of the quadrature in u = log σ̄. The part of ∫ mdse dt left out below
#: σ̄ = e^{U_MIN} is of order σ̄·|log σ̄| ≈ 1e-18 per unit rate.
U_MIN = -45.0

#: Absolute quadrature tolerance in nats: far below the 1e-8 relative target for NLLs of
#: order one, and above the rounding noise of the integrand once σ̄ is large.
EPSABS = 1e-13


QUADRATURES = ("quad_vec", "gauss-legendre")


def time_nodes(process, T, *, order=GL_ORDERS[1], u_min=U_MIN):
    """Times t_j and positive weights w_j with ∫_0^T f(t) dt ≈ Σ_j w_j f(t_j).

    Composite Gauss–Legendre of ``order`` nodes per panel in u = log σ̄(t) on the
    initial panels of ``quadrature="gauss-legendre"`` (not refined), so
    w_j = (GL weight)·σ̄(t_j)/σ(t_j). Every weight is positive: an inequality that holds
    at every t holds for the weighted sums, whatever their quadrature error.
    """
    T = validate_time(T, "T")
    sbar_end = process.total(T)
    if not np.isfinite(sbar_end) or sbar_end <= 0:
        raise ValueError(f"`T` must give a finite, positive total rate σ̄(T) (got {sbar_end}).")
    u, wu = gauss_legendre_nodes(u_min, float(np.log(sbar_end)), order)
    times = np.array([min(process.schedule.time_of_total(float(np.exp(v))), T) for v in u])
    rates = np.array([process.rate(t) for t in times])
    return times, wu * np.exp(u) / rates


def _lower_end(p0):
    """u_min = min(U_MIN, log(min p0 > 0) − 20).

    For an x0 with tiny p0(x0) the integrand of ∫ mdse dt changes where σ̄ is of order
    p0(x0)/p0(neighbours); starting 20 e-folds below the smallest positive p0 leaves out
    a head of order e^{−20}·p0_min·L·|log σ̄|.
    """
    table = as_xp_table(p0)
    xp = namespace(table)
    smallest = float(xp.min(xp.where(table > 0, table, 1.0)))
    return min(U_MIN, float(np.log(smallest)) - 20.0)


def _integrate_in_log_total(process, T, per_rate, epsrel, u_min=U_MIN, u_start=None, quadrature="quad_vec"):
    """∫_0^T f(t) dt where f = σ(t)·g(σ̄(t)), integrated in u = log σ̄.

    With σ̄ = e^u, dt = e^u du / σ(t), so ∫ f dt = ∫ g(e^u)·e^u du: the −log t
    singularity of mdse at t → 0 becomes an exponentially small tail as u → −∞.
    ``per_rate(t)`` must return f(t)/σ(t). ``quadrature``: ``"quad_vec"`` (scipy,
    adaptive Gauss–Kronrod 21, NumPy arrays) or ``"gauss-legendre"``
    (:func:`~exactdiff.core.quadrature.adaptive_gauss_legendre`, any array namespace).
    """
    if quadrature not in QUADRATURES:
        raise ValueError(f"`quadrature` must be one of {set(QUADRATURES)} (got {quadrature!r}).")
    sbar_end = process.total(T) if np.isfinite(T) else np.inf
    if sbar_end == 0:
        return 0.0, 0.0
    u_end = np.log(sbar_end)
    if u_start is not None:
        u_min = u_start

    def integrand(u):
        t = process.schedule.time_of_total(np.exp(u))
        return per_rate(min(t, T)) * float(np.exp(u))

    # Pointwise values that are +inf (x0 outside the support, absorbing process) are
    # +inf at every t > 0; integrate the finite ones and put the infinities back.
    at_end = integrand(u_end)
    xp = namespace(at_end)
    infinite = xp.isinf(at_end)
    del at_end
    if quadrature == "gauss-legendre":
        value, err = adaptive_gauss_legendre(lambda u: xp.where(infinite, 0.0, integrand(u)), u_min, u_end, epsrel,
                                             EPSABS)
        return xp.where(infinite, xp.inf, value), err
    value, err = quad_vec_max(lambda u: np.where(infinite, 0.0, integrand(u)), u_min, u_end, epsrel, EPSABS)
    return np.where(infinite, np.inf, value), err


def mdse_integral(p0, process, T, *, pointwise=False, engine="auto", epsrel=1e-12, quadrature="quad_vec"):
    """∫_0^T mdse(t) dt of the averaged mdse (a float), or with ``pointwise=True`` ∫_0^T
    mdse(x0, t) dt for every x0 (shape (N,)*L) — the default of ``pointwise`` is False, as
    for :func:`~exactdiff.mdse` — and the quadrature error estimate.

    Integrated in u = log σ̄(t) from u_min = min(−45, log(min p0 > 0) − 20) (the omitted
    head is below 1e-17 per unit rate). By Theorem 3.2 it equals
    −log p0(x0) − KL(p_{T|0}(·|x0) ‖ p_T).

    Parameters
    ----------
    quadrature : {"quad_vec", "gauss-legendre"}
        ``"quad_vec"``: ``scipy.integrate.quad_vec`` (adaptive Gauss–Kronrod 21, max
        norm), NumPy only. Beyond S ≈ 10^4 states its max-norm error estimate meets the
        rounding noise of the integrand and it subdivides to its limit (a toy with
        S = 65,536 took 10^5 evaluations); use ``"gauss-legendre"`` there.
        ``"gauss-legendre"``: composite Gauss–Legendre with 14 nodes per panel (panels
        4 wide in u, 8 wide below u = −21), bisecting the panel with the largest
        |Q_14 − Q_10| until Σ_panels max_x0 |Q_14 − Q_10| <= epsrel·max|value| + 1e-13;
        about 250–400 evaluations of the pointwise mdse, in any array namespace. Its
        error estimate is that of the 10-node rule, so it overstates the error.
    epsrel : float
        Relative tolerance on the max norm (both quadratures).
    """
    T = validate_time(T, "T")

    def per_rate(t):
        value = mdse(p0, process, t, pointwise=pointwise, engine=engine) / float(process.rate(t))
        return value if pointwise else np.atleast_1d(value)

    value, err = _integrate_in_log_total(process, T, per_rate, epsrel, u_min=_lower_end(p0), quadrature=quadrature)
    return (value, err) if pointwise else (float(value[0]), float(err))


def mdse_running_integral(p0, process, times, *, engine="auto", epsrel=1e-10):
    """∫_0^t mdse(x0, s) ds for every x0 at each of the increasing ``times``.

    Returns an array of shape (len(times),) + (N,)*L. Each interval [t_{j−1}, t_j] is
    integrated separately in u = log σ̄ (as :func:`mdse_integral`) and the pieces summed.
    """
    times = [validate_time(t, "times") for t in np.asarray(times, dtype=float)]
    if any(b <= a for a, b in zip(times, times[1:])):
        raise ValueError("`times` must be strictly increasing.")

    def per_rate(t):
        return mdse(p0, process, t, pointwise=True, engine=engine) / process.rate(t)

    out, total, u_prev = [], 0.0, None
    for t in times:
        if t == 0:
            out.append(np.zeros_like(as_table(p0)))
            continue
        piece, _ = _integrate_in_log_total(process, t, per_rate, epsrel, u_min=_lower_end(p0), u_start=u_prev)
        total = total + piece
        out.append(total)
        u_prev = np.log(process.total(t))
    return np.array(out)
