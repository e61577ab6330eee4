"""Quadrature: every integral of exactdiff over t, σ̄ or λ goes through this module.

Three rules, each for one kind of integrand:

- :func:`adaptive_gauss_kronrod` — adaptive Gauss–Kronrod 15 (QUADPACK's qk15 nodes,
  weights and error estimate) for a **vector** integrand whose components differ in
  scale by many orders (means, second and fourth moments, a cut-off head), each held to
  its own relative tolerance; panels live in a variable of their own (:data:`VARIABLES`:
  ``"v"``, σ̄ = v⁸, for integrands singular like σ̄^{−γ} log^k(1/σ̄) at 0, ``"u"``,
  σ̄ = e^u, above), and every node is cached and returned (the optimal sampling law of
  :mod:`exactdiff.score` needs the nodes). scipy's ``quad_vec`` takes one tolerance for
  the whole vector and hides its nodes, which is why this one is written out.
- :func:`adaptive_gauss_legendre` — composite Gauss–Legendre, bisecting by the max-norm
  difference of two orders, for an integrand in **any array namespace** (NumPy, CuPy,
  Dask): the pointwise mdse of a table of any size.
- :func:`quad_vec_max` — ``scipy.integrate.quad_vec`` with the max norm, for NumPy
  integrands of moderate size (the default of :func:`~exactdiff.mdse_integral`).

and :func:`gauss_legendre_nodes`, positive-weight fixed nodes on the same panels (a sum
of positive terms keeps an inequality that holds at every node).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import quad_vec

from .backend import namespace

__all__ = [
    "adaptive_gauss_kronrod",
    "adaptive_gauss_legendre",
    "quad_vec_max",
    "gauss_legendre_nodes",
    "log_panels",
    "VARIABLES",
]

# -- Gauss–Kronrod 15 --------------------------------------------------------------------------
# QUADPACK's qk15: the 15 Kronrod nodes and weights, and the 7-point Gauss weights embedded.
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
_NODES = np.concatenate([-_XGK[:-1], [0.0], _XGK[-2::-1]])  # ascending
_WK = np.concatenate([_WGK[:-1], [_WGK[-1]], _WGK[-2::-1]])
_WG15 = np.zeros(15)
_WG15[[1, 3, 5, 13, 11, 9]] = np.concatenate([_WG[:3], _WG[:3]])
_WG15[7] = _WG[3]

#: Variables of integration: name → (x(y), dx/dy). ``"v"``: x = y⁸ (an integrand like
#: x^{−γ}·log^k(1/x) with γ <= 3/4 becomes 8y⁷·y^{−8γ}·log^k, which vanishes at 0 and is
#: integrated without bisecting towards 0); ``"u"``: x = e^y; ``"x"``: the identity.
VARIABLES = {
    "v": (lambda y: y**8, lambda y: 8 * y**7),
    "u": (math.exp, math.exp),
    "x": (lambda y: y, lambda y: 1.0),
}


def _gk15_panel(G, variable, a, b, cache):
    """GK15 on [a, b] in ``variable`` for a vector integrand G(x), with QUADPACK's
    error estimate err = resasc·min(1, (200|K15 − G7|/resasc)^1.5) per component."""
    to_x, jac = VARIABLES[variable]
    half, mid = 0.5 * (b - a), 0.5 * (a + b)
    vals = []
    for node in _NODES:
        y = mid + half * node
        x = to_x(y)
        if x not in cache:
            cache[x] = G(x)
        vals.append(cache[x] * jac(y))
    V = np.array(vals)  # (15, c)
    with np.errstate(invalid="ignore", over="ignore"):
        K = half * (_WK @ V)
        Gs = half * (_WG15 @ V)
        resasc = half * (_WK @ np.abs(V - K / (2 * half)))
        diff = np.abs(K - Gs)
        safe = np.where(resasc > 0, resasc, 1.0)
        err = np.where(resasc > 0, resasc * np.minimum(1.0, (200 * diff / safe) ** 1.5), diff)
    return [variable, a, b, K, np.where(np.isfinite(K), err, 0.0)]


def adaptive_gauss_kronrod(G, pieces, rtol, atol, *, max_panels=400, min_width=2.0**-10):
    """∫ G(x) dx over ``pieces`` for a vector-valued G, adaptive GK15.

    Parameters
    ----------
    G : callable
        x → array (c,); called once per distinct node.
    pieces : list of (variable, a, b)
        Initial panels, in the variables of :data:`VARIABLES` (``a``, ``b`` in that
        variable), together covering the interval.
    rtol : array (c,)
        Relative tolerance per component (``inf``: never refined for).
    atol : float
        Absolute floor of every tolerance.
    max_panels : int
    min_width : float
        Panels narrower than this (relative to b for ``"v"``) are not bisected.

    Bisects the panel with the largest max_c err_c/tol_c until, for every component c,
    Σ_panels err_c <= tol_c = max(atol, rtol_c·|I_c|) (infinite components skipped), or
    ``max_panels`` panels.

    Returns
    -------
    (I, err, converged, cache)
        ``cache`` maps every node x evaluated to G(x).

    Examples
    --------
    >>> import numpy as np
    >>> I, err, ok, _ = adaptive_gauss_kronrod(lambda x: np.array([np.log(1 / x), x]),
    ...                                        [("v", 0.0, 1.0)], np.full(2, 1e-12), 1e-15)
    >>> bool(ok and abs(I[0] - 1) < 1e-12 and abs(I[1] - 0.5) < 1e-12)
    True
    """
    cache = {}
    rtol = np.asarray(rtol, dtype=np.float64)
    panels = [_gk15_panel(G, variable, a, b, cache) for variable, a, b in pieces]
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
        variable, a, b = panels[j][:3]
        del panels[j]
        mid = 0.5 * (a + b)
        panels += [_gk15_panel(G, variable, a, mid, cache), _gk15_panel(G, variable, mid, b, cache)]


# -- Gauss–Legendre on panels in u = log x --------------------------------------------------------
#: Orders of :func:`adaptive_gauss_legendre`: each panel is integrated with GL_ORDERS[1]
#: nodes (the result) and GL_ORDERS[0] nodes; the error estimate is the max-norm of the
#: difference, summed over panels (pessimistic: about the error of the lower order).
GL_ORDERS = (10, 14)
#: Initial panel widths in u: GL_WIDTH right of U_NEAR, GL_WIDTH_FAR left of it, where
#: the integrands of the NLL are below e^{U_NEAR}·|u| per unit rate and smooth.
GL_WIDTH, GL_WIDTH_FAR, U_NEAR = 4.0, 8.0, -21.0
#: Panels are bisected, largest error first, down to this width at most, and at most
#: GL_MAX_PANELS of them are kept (the rounding floor of the integrand ends refinement).
GL_MIN_WIDTH, GL_MAX_PANELS = 2.0**-6, 256


def log_panels(u_min, u_end):
    """Panel edges on [u_min, u_end] in u = log σ̄: GL_WIDTH_FAR wide left of U_NEAR,
    GL_WIDTH right of it."""
    edges = []
    if u_min < U_NEAR < u_end:
        k = max(1, int(np.ceil((U_NEAR - u_min) / GL_WIDTH_FAR)))
        edges += list(np.linspace(u_min, U_NEAR, k + 1))[:-1]
        start = U_NEAR
    else:
        start = u_min
    k = max(1, int(np.ceil((u_end - start) / GL_WIDTH)))
    return edges + list(np.linspace(start, u_end, k + 1))


def gauss_legendre_nodes(u_min, u_end, order=GL_ORDERS[1]):
    """Nodes u_j and positive weights w_j with ∫_{u_min}^{u_end} f(u) du ≈ Σ_j w_j f(u_j):
    composite Gauss–Legendre of ``order`` nodes on the panels of :func:`log_panels`."""
    x, w = np.polynomial.legendre.leggauss(order)
    us, ws = [], []
    edges = log_panels(u_min, u_end)
    for a, b in zip(edges[:-1], edges[1:]):
        half = 0.5 * (b - a)
        us.append(a + half * (x + 1.0))
        ws.append(half * w)
    return np.concatenate(us), np.concatenate(ws)


def adaptive_gauss_legendre(integrand, u_min, u_end, epsrel, epsabs):
    """∫_{u_min}^{u_end} integrand(u) du for an array-valued integrand in any array
    namespace: composite Gauss–Legendre on :func:`log_panels`, adaptive by bisection of
    the panel with the largest error estimate.

    Returns (value, error estimate); the error estimate is Σ_panels max |Q_high − Q_low|
    (:data:`GL_ORDERS`), and refinement stops once it is below
    ``epsrel·max|value| + epsabs`` (the tolerance of quad_vec with ``norm="max"``), or at
    :data:`GL_MIN_WIDTH` / :data:`GL_MAX_PANELS`. Memory: one array per panel.

    Examples
    --------
    >>> import numpy as np
    >>> value, err = adaptive_gauss_legendre(lambda u: np.array([np.exp(u)]), -40.0, 0.0, 1e-13, 1e-15)
    >>> bool(abs(value[0] - (1 - np.exp(-40.0))) < 1e-13)
    True
    """
    rules = [np.polynomial.legendre.leggauss(n) for n in GL_ORDERS]

    def panel(a, b):
        half = 0.5 * (b - a)
        results = []
        for x, w in rules:
            acc = 0.0
            for xi, wi in zip(x, w):
                acc = acc + float(wi * half) * integrand(float(a + half * (xi + 1.0)))
            results.append(acc)
        low, high = results
        xp = namespace(high)
        return [float(xp.max(xp.abs(high - low))), a, b, high]

    edges = log_panels(u_min, u_end)
    panels = [panel(a, b) for a, b in zip(edges[:-1], edges[1:])]
    total = sum(p[3] for p in panels[1:]) + panels[0][3]
    while True:
        xp = namespace(total)
        tol = epsrel * float(xp.max(xp.abs(total))) + epsabs
        err = sum(p[0] for p in panels)
        open_ = [p for p in panels if p[2] - p[1] > GL_MIN_WIDTH]
        if err <= tol or not open_ or len(panels) >= GL_MAX_PANELS:
            return total, err
        worst = max(open_, key=lambda p: p[0])
        panels.remove(worst)
        _, a, b, value = worst
        total = total - value
        mid = 0.5 * (a + b)
        for piece in (panel(a, mid), panel(mid, b)):
            total = total + piece[3]
            panels.append(piece)


def quad_vec_max(integrand, a, b, epsrel, epsabs, limit=2000):
    """``scipy.integrate.quad_vec`` with the max norm over the components: (value, error).

    Examples
    --------
    >>> import numpy as np
    >>> value, err = quad_vec_max(lambda u: np.array([1.0, u]), 0.0, 2.0, 1e-12, 1e-14)
    >>> bool(np.allclose(value, [2.0, 2.0], rtol=1e-14, atol=0))
    True
    """
    return quad_vec(integrand, a, b, epsrel=epsrel, epsabs=epsabs, norm="max", limit=limit)
