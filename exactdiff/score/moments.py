"""The DSE likelihood of any score model, exactly: its limit, the exact moments of one draw
of every σ̄ law, and the variance-optimal law q* (Theorems 3.1–3.2 for any diffusion).

**Every time integral is an integral over σ̄.** A model sees only σ̄, so h = ℓ_DSE/σ(t)
(:mod:`~exactdiff.score.loss`) depends on t only through σ̄ and, with dσ̄ = σ(t) dt,

.. math::

    L^T_{DSE}(x_0; s) = \\int_0^T \\mathbb E_{x_t|x_0} \\ell_{DSE}\\, dt
                     = \\int_0^{\\bar\\sigma(T)} \\mathbb E_{x|x_0}[h]\\, d\\bar\\sigma .

The limit depends on the schedule only through σ̄(T); the variance of an estimator
depends on it only through its sampling law (:mod:`~exactdiff.score.laws`). The model's
exact DSE likelihood is L^T_DSE(x0; s) plus a **prior term** KL(p_{T|0}(·|x0) ‖ π_T)
(:func:`~exactdiff.score.loss.dse_prior_term`). With σ̄(T) = ∞ — the default for
schedules without an end, such as ``Constant`` — there is no prior term, and the integral
converges only when the model's scores decay as σ̄ → ∞ (checked; pass a finite ``T``
for a model that does not decay). For the oracle the value is
−log p0(x0) + [KL(p_{T|0} ‖ π_T) − KL(p_{T|0} ‖ p_T)] (Theorem 3.2), the bracket 0 at
σ̄(T) = ∞.

**Exact expectations** are sums over every state reachable from x0
(:class:`~exactdiff.score.states.Enumerator`: N^L states for the uniform process, shared
by every x0, 2^L for the absorbing one), one model call per quadrature node for all x0;
**integrals** are adaptive Gauss–Kronrod 15 with QUADPACK's error estimate
(:func:`~exactdiff.core.quadrature.adaptive_gauss_kronrod`), in v = σ̄^{1/8} on
[0, e^{−8}] (down to σ̄ = 0 exactly; it makes the singular integrands σ̄^{−γ} log^k(1/σ̄)
of the variances smooth) and in u = log σ̄ above; about 120–250 nodes.

**Moments.** One draw is D = h/q_σ̄(σ̄) + prior, so E[D] = ∫ E[h] dσ̄ + prior for every
law and E[(D − prior)^r] = ∫ E[h^r | σ̄] / q_σ̄^{r−1} dσ̄. The variance-optimal law is
q*(σ̄) ∝ √E[h² | σ̄] (Cauchy–Schwarz), with variance (∫ √E[h²] dσ̄)² − (∫ E[h] dσ̄)²
(:func:`optimal_proposal`).

**A model defined on a σ̄ range only** (a SEDD network trained on [σmin, σmax], which
declares ``sigma_bar_range = (σmin, σmax)``): every window must lie inside the range, and
the cut-off bias −∫_0^{σ̄(t_min)} E[h] dσ̄, which would need the model below σmin, is not
computed (``nan``, with a note). What such a model's likelihood bound leaves out below
σmin is model-independent in the audit: the oracle's head on the same window
(:func:`~exactdiff.audit.audit_score_model`).
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..core.quadrature import adaptive_gauss_kronrod
from ..core.results import EstimatorMoments
from ..core.validation import as_token_array, validate_count
from .laws import sigma_law, window
from .loss import dse_prior_term
from .protocol import capability
from .states import STATES_PER_CALL, Enumerator
from .variance import divergences, finite_order

__all__ = ["dse_limit", "expected_dse", "dse_moments_table", "dse_estimator_moments", "optimal_proposal",
           "cutoff_integral", "sigma_pieces"]

#: Where σ̄(T) = ∞ the quadrature stops at σ̄ = SBAR_CUT, after checking that σ̄·E[h | σ̄]
#: there is below TAIL_TOL (else the model's scores do not decay: pass a finite T).
SBAR_CUT = 60.0
TAIL_TOL = 1e-12
#: End of the head [0, SBAR_HEAD] integrated in v = σ̄^{1/8}, and where u = log σ̄ panels
#: narrow from 4 to 1.5: the integrands change where σ̄ is of order 1 (the token kernel
#: mixes). Tuned on sparse and dense toys, uniform and absorbing: about 120–160 nodes for
#: one x0 at rtol 1e-9, true errors 1e-11 or below.
SBAR_HEAD = math.exp(-8.0)
U_NARROW = -4.0
#: Absolute floor of every quadrature tolerance (nats).
QUAD_ATOL = 1e-13


def sigma_pieces(s_hi, breaks=()):
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


def as_sequences(x0, process, model, many):
    """x0 as an int array (L,) (or (m, L) when ``many``), checked against the process,
    the model's length and the model's vocabulary."""
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


def _range_of(model):
    """The model's declared σ̄ range (lo, hi), or (0, ∞)."""
    rng = getattr(model, "sigma_bar_range", None)
    if rng is None:
        return 0.0, math.inf
    lo, hi = (float(v) for v in rng)
    return lo, hi


def _check_range(model, w):
    lo, hi = _range_of(model)
    if w.s_lo < lo * (1 - 1e-12) or w.s_hi > hi * (1 + 1e-12):
        raise ValueError(f"the window σ̄ ∈ [{w.s_lo:.6g}, {w.s_hi:.6g}] (t in [{w.t_lo:.6g}, {w.t_hi:.6g}]) leaves "
                         f"the model's declared range `sigma_bar_range` = [{lo:.6g}, {hi:.6g}]; choose `t_min` and "
                         f"`T` inside it (for a SEDD geometric model, SEDDGeometric(...).window()).")


def _impossible(model, process, X0):
    """Rows of X0 outside the support of a model that offers ``exact_support``: their NLL
    is +∞ (no quadrature)."""
    support = capability(model, "exact_support")
    found = None if support is None else support(process)
    if found is None:
        return np.zeros(X0.shape[0], dtype=bool)
    points = {tuple(row) for row in np.asarray(found[0]).tolist()}
    return np.array([tuple(row) not in points for row in X0.tolist()])


def _tail_check(enum, s_hi):
    """Where σ̄(T) = ∞: σ̄·E[h | σ̄] at SBAR_CUT must be negligible, else refuse."""
    if not math.isinf(s_hi):
        return
    val = enum.moments(SBAR_CUT, 1)[0] * SBAR_CUT
    if not np.all(val <= TAIL_TOL):
        raise ValueError(f"the DSE integral to σ̄(T) = inf does not converge for this model: σ̄·E[ℓ/σ | σ̄] = "
                         f"{np.max(val):.3g} at σ̄ = {SBAR_CUT:g} (the scores of the moves that undo the noise "
                         f"must decay like e^(-σ̄)); pass a finite `T` (--T on the command line), for which the "
                         f"prior term KL(p_T|0 ‖ π_T) is added.")


def cutoff_integral(model, process, X0, s_lo, *, epsrel=1e-10, states_per_call=STATES_PER_CALL):
    """∫_0^{s_lo} E[h | σ̄] dσ̄ for every row of X0 (enumeration and quadrature): minus the
    cut-off bias of a window that starts at σ̄ = s_lo."""
    enum = Enumerator(model, process, X0, states_per_call)
    I, _, _, _ = adaptive_gauss_kronrod(lambda s: enum.moments(s)[0], sigma_pieces(s_lo),
                                        np.full(X0.shape[0], epsrel), 1e-14)
    return I


def dse_limit(model, process, x0, *, T=None, epsrel=1e-9, states_per_call=STATES_PER_CALL):
    """The model's exact DSE likelihood: L^T_DSE(x0; s) + KL(p_{T|0}(·|x0) ‖ π_T).

    .. math::

        L^T_{DSE}(x_0; s) = \\int_0^T \\mathbb E_{x_t|x_0} \\ell_{DSE}(x_0, x_t, t, s)\\,dt
                         = \\int_0^{\\bar\\sigma(T)} \\mathbb E_{x|x_0}[h]\\,d\\bar\\sigma,

    the value every estimator of :func:`~exactdiff.estimate_dse_nll` converges to (at
    t_min = 0). The expectation is a sum over every state reachable from x0, one model
    call of up to ``states_per_call`` states each (model calls = quadrature nodes when
    the states fit one call, plus one at σ̄ = 60 where σ̄(T) = ∞); the integral is adaptive
    GK15 in v = σ̄^{1/8} then u = log σ̄ (module docstring), to ``epsrel`` on every x0.

    For the oracle (:class:`~exactdiff.OracleScore`) the value is −log p0(x0) +
    [KL(p_{T|0} ‖ π_T) − KL(p_{T|0} ‖ p_T)] (Theorem 3.2), exactly −log p0(x0) at
    σ̄(T) = ∞; for another model the gap to −log p0(x0) is its bias, of either sign
    pointwise, ≥ 0 on average over p0 (the variational bound).

    Parameters
    ----------
    model : score model
        (:mod:`~exactdiff.score.protocol`).
    process : ForwardProcess
        Token-wise.
    x0 : int array, shape (L,) or (m, L)
    T : float, optional
        End of the integral; default the end of the schedule's domain (``inf`` for
        ``Constant`` and ``Geometric``: σ̄(T) = ∞, no prior term; then the model's scores
        must decay as σ̄ → ∞, checked at σ̄ = 60, else ``ValueError``).
    epsrel : float
        Relative quadrature tolerance per x0 (absolute floor 1e-13).
    states_per_call : int >= 4096
        States per model call.

    Returns
    -------
    value : float, or ndarray (m,)
        ``inf`` at an x0 outside the support of a model offering ``exact_support``.
    info : dict
        ``integral``, ``prior`` (float or (m,)), ``T``, ``sigma_bar_T``, ``quad_error``
        (GK15 error estimate, max over x0), ``converged``, ``nodes``, ``model_calls``,
        ``rows`` (states scored), ``states`` (per call), ``seconds``, ``seconds_model``.

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> p0 = ed.Distribution.dirichlet(2, 2, seed=0); proc = ed.absorbing(2)
    >>> value, info = ed.dse_limit(ed.OracleScore(p0, proc), proc, np.array([1, 0]))
    >>> bool(abs(value - p0.nll((1, 0))) < 1e-10), info["prior"]
    (True, 0.0)
    """
    t0 = time.perf_counter()
    X0 = as_sequences(x0, process, model, many=True)
    single = X0.ndim == 1
    X0 = np.atleast_2d(X0)
    w = window(process, T, 0.0)
    _check_range(model, w)
    enum = Enumerator(model, process, X0, states_per_call)
    _tail_check(enum, w.s_hi)
    impossible = _impossible(model, process, X0)
    I, E, converged, _ = adaptive_gauss_kronrod(lambda s: np.where(impossible, 0.0, enum.moments(s)[0]),
                                                sigma_pieces(w.s_hi), np.full(X0.shape[0], float(epsrel)), QUAD_ATOL)
    I = np.where(impossible, np.inf, I)
    prior = dse_prior_term(process, w.s_hi, X0)
    value = I + prior
    info = dict(integral=float(I[0]) if single else I, prior=float(prior[0]) if single else prior, T=w.t_hi,
                sigma_bar_T=w.s_hi, quad_error=float(np.max(E)), converged=converged, nodes=enum.nodes,
                model_calls=enum.calls, rows=enum.rows, states=int(enum.states.shape[0]),
                seconds=time.perf_counter() - t0, seconds_model=enum.seconds_model)
    return (float(value[0]) if single else value), info


def expected_dse(model, process, t, x0, *, states_per_call=STATES_PER_CALL):
    """E_{x_t ~ p_{t|0}(·|x0)} ℓ_DSE(x0, x_t, t, s) exactly, every reachable state summed:
    σ(t)·E[h | σ̄(t)] (with the oracle it is mdse(x0, t), Theorem 3.1's integrand).

    Returns a float for one x0 (L,), else an array (m,).

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> p0 = ed.Distribution.dirichlet(2, 3, seed=1); proc = ed.uniform(2)
    >>> value = ed.expected_dse(ed.OracleScore(p0, proc), proc, 0.4, np.array([0, 1, 1]))
    >>> bool(abs(value - ed.mdse(p0, proc, 0.4, pointwise=True)[0, 1, 1]) < 1e-12)
    True
    """
    X0 = as_sequences(x0, process, model, many=True)
    enum = Enumerator(model, process, np.atleast_2d(X0), states_per_call)
    out = enum.moments(process.total(t), 1)[0] * process.rate(t)
    return float(out[0]) if X0.ndim == 1 else out


def _law_item(item):
    """(label, law, options) from ``"name"`` or ``(label, name, {options})``."""
    if isinstance(item, str):
        return item, item, {}
    try:
        label, name, options = item
    except (TypeError, ValueError):
        raise ValueError(f"each of `laws` must be a law name or (label, law, options) (got {item!r}).") from None
    unknown = set(options) - {"T", "t_min", "alpha", "rho"}
    if unknown:
        raise ValueError(f"law options must be among 'T', 't_min', 'alpha', 'rho' (got {sorted(unknown)}).")
    return str(label), name, dict(options)


def _raw_with_prior(raw_y, ey, c):
    """Raw moments of D = Y + c from those of Y (E[Y] = ey; ``raw_y[r−1]`` = E[Y^r])."""
    m2, m3, m4 = raw_y[1:4]
    return (ey + c, m2 + 2 * c * ey + c * c, m3 + 3 * c * m2 + 3 * c * c * ey + c**3,
            m4 + 4 * c * m3 + 6 * c * c * m2 + 4 * c**3 * ey + c**4)


def dse_moments_table(model, process, x0, laws, *, T=None, t_min=0.0, epsrel=1e-9,
                      states_per_call=STATES_PER_CALL, max_order=4, optimal=True) -> dict:
    """Exact moments of one draw of several DSE estimators, for every row of x0, in one pass.

    One adaptive GK15 quadrature over σ̄ carries every integrand on the same nodes — one
    model call per node for all x0 and all laws:

    - E[h]·1_W for each window W = [σ̄(t_min), σ̄(T)] (means), and E[h]·1[σ̄ < σ̄(t_min)]
      (cut-off biases), the window ends being panel edges;
    - E[h^r]/q^{r−1}·1_W for each law and r = 2..``max_order`` where guaranteed finite
      (:func:`~exactdiff.score.variance.finite_order`; third and fourth moments ride on
      the nodes the others choose and only enter the kurtosis and the standard error of a
      sample variance);
    - √E[h²]·1_W for the optimal law q* of the default window.

    A variance that diverges is ``inf`` without quadrature
    (:func:`~exactdiff.score.variance.variance_divergence`).

    Parameters
    ----------
    model, process : as :func:`dse_limit`
    x0 : int array, shape (L,) or (m, L)
    laws : sequence
        Law names (:data:`~exactdiff.score.laws.SIGMA_LAWS`), or ``(label, law, options)``
        with options among ``T``, ``t_min`` (overriding the defaults), ``alpha``, ``rho``
        (``power``).
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
    X0 = np.atleast_2d(as_sequences(x0, process, model, many=True))
    m = X0.shape[0]
    max_order = validate_count(max_order, "max_order", 2)
    if max_order > 4:
        raise ValueError(f"`max_order` must lie in 2..4 (got {max_order}).")
    main = window(process, T, t_min)
    _check_range(model, main)
    specs = {}
    for item in laws:
        label, name, options = _law_item(item)
        if label in specs:
            raise ValueError(f"`laws` has the label {label!r} twice.")
        w = window(process, options.pop("T", T), options.pop("t_min", t_min))
        _check_range(model, w)
        prop = sigma_law(name, process, options.get("alpha"), options.get("rho"))
        prop.check(w)
        specs[label] = (prop, w)
    if not specs:
        raise ValueError("`laws` must name at least one law.")
    heads = _range_of(model)[0] == 0.0  # the model is defined below every window
    windows = {(w.s_lo, w.s_hi): w for w in [main] + [w for _, w in specs.values()]}
    s_top = max(w.s_hi for w in windows.values())
    enum = Enumerator(model, process, X0, states_per_call)
    _tail_check(enum, s_top)
    impossible = _impossible(model, process, X0)
    div = {}
    if any(p.beta(w) == 0.0 for p, w in specs.values()):
        div = dict(enumerate(divergences(model, process, X0, states_per_call)))
    divergent = np.array([div.get(j, (False,))[0] for j in range(m)])

    # the integrands: (key, function of (moments M, σ̄) -> (m,), relative tolerance)
    parts = []
    for key, w in windows.items():
        parts.append((("mean", key), lambda M, s, w=w: M[0] * w.inside(s), epsrel))
        if w.s_lo > 0 and heads:
            parts.append((("head", key), lambda M, s, w=w: M[0] * (s < w.s_lo), epsrel))
    for label, (prop, w) in specs.items():
        beta = prop.beta(w)
        for r in range(2, max_order + 1):
            if finite_order(beta, r) or (r == 2 and beta == 0.0):
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
    lo = _range_of(model)[0]
    pieces = sigma_pieces(s_top, breaks)
    if lo > 0:  # the model is not called below its range: start the panels there
        pieces = [p for p in sigma_pieces(s_top, breaks + [lo]) if _piece_start(p) >= lo * (1 - 1e-12)]
    I, E, converged, cache = adaptive_gauss_kronrod(integrand, pieces, rtol, QUAD_ATOL)
    blocks = {key: (I[j * m:(j + 1) * m], E[j * m:(j + 1) * m]) for j, (key, _, _) in enumerate(parts)}

    out = {}
    for label, (prop, w) in specs.items():
        key = (w.s_lo, w.s_hi)
        ey = blocks[("mean", key)][0]
        if w.s_lo == 0:
            head, head_note = np.zeros(m), ""
        elif heads:
            head, head_note = -blocks[("head", key)][0], ""
        else:
            head = np.full(m, math.nan)
            head_note = (f"cutoff_bias = nan: the model is defined on σ̄ ∈ [{lo:.6g}, …] only (`sigma_bar_range`), "
                         f"so the part below σ̄(t_min) = {w.s_lo:.6g} is not computed.")
        prior = np.broadcast_to(dse_prior_term(process, w.s_hi, X0), (m,))
        rows = []
        for j in range(m):
            raw_y = [float(ey[j])] + [math.nan] * 3
            for r in range(2, max_order + 1):
                if ("moment", label, r) in blocks:
                    raw_y[r - 1] = float(blocks[("moment", label, r)][0][j])
            notes = [head_note] if head_note else []
            if impossible[j]:
                rows.append(EstimatorMoments(law=label, mean=math.inf, variance=math.inf, raw=(math.inf,) * 4,
                                             note="p0(x0) = 0: the NLL is infinite."))
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
            rows.append(EstimatorMoments(law=label, mean=float(raw[0]), variance=float(variance),
                                         raw=tuple(float(v) for v in raw), cutoff_bias=float(head[j]),
                                         note=" ".join(notes)))
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
                                                          E / np.maximum(QUAD_ATOL, rtol * np.abs(I)), 0.0))),
                converged=converged)
    return {"moments": out, "optimal": opt, "cost": cost}


def _piece_start(piece):
    """The σ̄ at which a panel of :func:`sigma_pieces` starts."""
    variable, a, _ = piece
    return a**8 if variable == "v" else math.exp(a)


def dse_estimator_moments(model, process, x0, law, *, T=None, t_min=0.0, alpha=None, rho=None, epsrel=1e-9,
                          states_per_call=STATES_PER_CALL) -> EstimatorMoments:
    """Exact moments of ONE draw of :func:`~exactdiff.estimate_dse_nll`: mean, variance and
    the raw moments E[D^r] up to 4 where guaranteed finite (hence the kurtosis and the
    draws a normal interval needs, :class:`~exactdiff.EstimatorMoments`).

    .. math::

        \\mathbb E[D] = \\int_{\\bar\\sigma(t_{min})}^{\\bar\\sigma(T)} \\mathbb E[h|\\bar\\sigma]\\,d\\bar\\sigma
            + \\text{prior}, \\qquad
        \\mathbb E[(D - \\text{prior})^r] = \\int \\frac{\\mathbb E[h^r|\\bar\\sigma]}
            {q_{\\bar\\sigma}(\\bar\\sigma)^{r-1}}\\,d\\bar\\sigma,

    the expectations over x by enumeration, the integrals by GK15 over σ̄
    (:func:`dse_moments_table`). ``variance`` is ``inf`` where the integral diverges,
    decided without quadrature (:func:`~exactdiff.score.variance.variance_divergence`):
    ``uniform_t`` and ``uniform_lambda`` at t_min = 0 diverge iff κ(x0) ≠ 0 — with the
    oracle of a sparse table they are **finite for some x0**; ``power`` and ``log_sigma``
    are always finite. ``cutoff_bias`` = −∫_0^{σ̄(t_min)} E[h] dσ̄ (0 at t_min = 0);
    ``note`` says why a moment is infinite or NaN (not computed).

    Under the absorbing process with a Lemma 3.3 score (:class:`~exactdiff.score.DenoiserScore`),
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
    >>> bool(m.variance < np.inf), bool(abs(m.mean - ed.dse_limit(model, proc, x0, T=20.0)[0]) < 1e-9)
    (True, True)
    """
    as_sequences(x0, process, model, many=False)
    table = dse_moments_table(model, process, x0, [(law, law, {"alpha": alpha, "rho": rho})], T=T,
                              t_min=t_min, epsrel=epsrel, states_per_call=states_per_call, optimal=False)
    return table["moments"][law][0]


def optimal_proposal(model, process, x0, *, T=None, t_min=0.0, epsrel=1e-9, states_per_call=STATES_PER_CALL) -> dict:
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
    as_sequences(x0, process, model, many=False)
    table = dse_moments_table(model, process, x0, ["power"], T=T, t_min=t_min, epsrel=epsrel,
                              states_per_call=states_per_call, max_order=2)
    opt = dict(table["optimal"][0])
    sched = process.schedule
    limit = sched.total_max
    opt["t"] = np.array([sched.time_of_total(float(s)) if s <= limit else math.nan for s in opt["sbar"]])
    opt["q_t"] = opt["q_sbar"] * sched.rates_of_total(opt["sbar"])
    return opt
