"""Exact information curves of a forward process: p_t, the pointwise KL
KL(p_{t|0}(·|x0) ‖ p_t), the mutual information I(x0; x_t), entropies, and their exact
time derivatives (from dp/dt = σ(t) Q p, not finite differences).

Every function takes ``engine`` (:mod:`exactdiff.information.engines`: ``"dense"``,
``"factorized"`` or ``"auto"``). Pointwise results are tables of shape (N,)*L over x0,
or, with ``at`` (an integer array (m, L) of sequences, or a list of token tuples), the m
values at those x0 — the dense engine then forms only those kernel columns. Where x_t can
reach a state of zero marginal mass (possible only when p0(x0) = 0) the pointwise KL is
``inf``.

Quantities that are non-negative by definition (the pointwise KL, I, mdse) are never
returned negative: a computed value in [−r, 0), where r is the rounding scale of its
terms (:func:`rounding_scale`: 64·ε times their size), is returned as 0, and one below
−r raises ``ArithmeticError`` (a numerical failure, not rounding). Entropies are sums of
non-negative terms and need no such step. Array libraries: the factorized engine runs in the namespace of ``p0``
(:mod:`exactdiff.core.backend`); the dense engine is NumPy only.
"""

from __future__ import annotations

import numpy as np
from scipy.special import entr

from ..core.backend import namespace
from .engines import validate_positive_noise, prepare

__all__ = [
    "marginal",
    "pointwise_kl",
    "pointwise_kl_derivative",
    "mutual_information",
    "mutual_information_derivative",
    "marginal_entropy",
    "marginal_entropy_derivative",
    "conditional_entropy",
    "flat_indices",
    "pointwise",
    "expectation",
    "term_scale",
    "rounding_scale",
    "nonnegative",
]


def flat_indices(at, N, L):
    """Flat C-order indices in V^L of the sequences ``at`` (an integer array (m, L) or a
    list of token tuples)."""
    arr = np.asarray(at)
    if arr.ndim == 1 and arr.size == L and arr.dtype != object:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != L or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"`at` must be an integer array of shape (m, L={L}) of sequences (got {np.shape(at)}).")
    if arr.size and (arr.min() < 0 or arr.max() >= N):
        raise ValueError(f"`at` must hold tokens in 0..{N - 1} (got values in {arr.min()}..{arr.max()}).")
    return np.ravel_multi_index(tuple(arr.T), (N,) * L) if arr.size else np.zeros(0, dtype=np.int64)


#: Quantities that are >= 0 by definition, and whether their terms carry the rate σ(t).
NON_NEGATIVE = {"pointwise_kl": False, "mdse": True}


def term_scale(process, t, L):
    """σ(t)·L·max|Q_ii| (token-wise) or σ(t)·max|G_ii| (full space): the size of the
    rate factors of the terms of ℓ_DSE and of dKL/dt at time t."""
    Q = process.Q if process.token_wise else process.G
    per = float(np.abs(np.diag(Q)).max())
    return float(process.rate(t)) * (L * per if process.token_wise else per)


def rounding_scale(table, process, t, with_rates):
    """64·ε·(L log n + max_{x0} −log p0(x0) + 1), times :func:`term_scale` when the
    quantity carries rates: the float64 rounding of a KL (or of an mdse) formed as a
    difference of log-terms of at most that size."""
    xp = namespace(table)
    smallest = float(xp.min(xp.where(table > 0, table, 1.0)))
    size = table.ndim * np.log(process.n) - np.log(smallest) + 1.0
    scale = 64 * float(np.finfo(np.float64).eps) * float(size)
    return scale * term_scale(process, t, table.ndim) if with_rates else scale


def nonnegative(values, scale, what):
    """``values`` with entries in [−scale, 0) set to 0; ``ArithmeticError`` if one is
    below −scale (a failure of the computation, not rounding)."""
    xp = namespace(values)
    if bool(xp.any(values < -scale)):
        worst = float(xp.min(values))
        raise ArithmeticError(f"{what} came out as {worst:.3g}, below −{scale:.1e}, the rounding scale of its "
                              f"terms; it is >= 0 by definition, so the computation failed (please report it).")
    return xp.where(values < 0, 0.0, values)


def pointwise(name, p0, process, t, engine, at):
    """Evaluate the pointwise quantity ``name`` of the engine: a table over x0, or its
    values at the sequences ``at`` (non-negative quantities clipped within rounding,
    :func:`nonnegative`)."""
    table, t, module = prepare(p0, process, t, engine)
    flat = None if at is None else flat_indices(at, table.shape[0], table.ndim)
    return _evaluate(name, table, process, t, module, flat)


def expectation(name, p0, process, t, engine):
    """E_{x0 ~ p0} of the pointwise quantity ``name`` (p0 checked once)."""
    table, t, module = prepare(p0, process, t, engine)
    return average(table, _evaluate(name, table, process, t, module, None))


def _evaluate(name, table, process, t, module, flat):
    values = getattr(module, name)(table, process, t, flat)
    if name in NON_NEGATIVE:
        values = nonnegative(values, rounding_scale(table, process, t, NON_NEGATIVE[name]), name)
    if flat is None and tuple(values.shape) != tuple(table.shape):
        return namespace(values).reshape(values, table.shape)
    return values


def marginal(p0, process, t, *, engine="auto"):
    """p_t = Σ_{x0} p0(x0) p_{t|0}(·|x0) over all n^L noisy states, shape (n,)*L."""
    table, t, module = prepare(p0, process, t, engine)
    return module.marginal(table, process, t)


def pointwise_kl(p0, process, t, *, engine="auto", at=None):
    """KL(p_{t|0}(·|x0) ‖ p_t) for every x0, shape (N,)*L (or (m,) with ``at``), in nats.

    .. math:: \\mathrm{KL}(x_0, t) = \\sum_x p_{t|0}(x|x_0) \\log \\frac{p_{t|0}(x|x_0)}{p_t(x)}

    Factorized form: Σ_i Σ_y k(y|x0^i) log k(y|x0^i) − [(kᵀ along every axis) log p_t](x0).

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> p0 = ed.Distribution.dirichlet(3, 2, seed=1)
    >>> proc = ed.uniform(3)
    >>> a = ed.pointwise_kl(p0, proc, 0.5, engine="dense")
    >>> b = ed.pointwise_kl(p0, proc, 0.5, engine="factorized")
    >>> bool(np.allclose(a, b, rtol=1e-12))
    True
    """
    return pointwise("pointwise_kl", p0, process, t, engine, at)


def pointwise_kl_derivative(p0, process, t, *, engine="auto", at=None):
    """The exact d/dt KL(p_{t|0}(·|x0) ‖ p_t) for every x0, shape (N,)*L (or (m,)).

    From ṗ_{t|0} = σ(t) Q p_{t|0} and ṗ_t = σ(t) Q p_t:

    .. math:: \\frac{d}{dt}\\mathrm{KL} = \\sum_x \\dot p_{t|0}(x|x_0)\\,
              \\log\\frac{p_{t|0}(x|x_0)}{p_t(x)} - \\sum_x p_{t|0}(x|x_0)\\frac{\\dot p_t(x)}{p_t(x)}

    Where the KL is infinite (x0 outside the support of p0 under an absorbing
    process) the derivative is reported as 0. By Theorem 3.1 this equals −mdse(x0, t).
    """
    validate_positive_noise(process, t)
    return pointwise("pointwise_kl_derivative", p0, process, t, engine, at)


def average(table, values):
    """E_{x0 ~ p0}[values], with 0·anything = 0 outside the support (any array namespace)."""
    xp = namespace(table)
    support = table > 0
    return float(xp.sum(xp.where(support, table * xp.where(support, values, 0.0), 0.0)))


def mutual_information(p0, process, t, *, engine="auto"):
    """I(x0; x_t) = E_{x0} KL(p_{t|0}(·|x0) ‖ p_t), in nats (an average of values >= 0,
    so >= 0)."""
    return expectation("pointwise_kl", p0, process, t, engine)


def mutual_information_derivative(p0, process, t, *, engine="auto"):
    """The exact d/dt I(x0; x_t) = E_{x0} d/dt KL; by Theorem 3.1 it equals −mdse(t)."""
    validate_positive_noise(process, t)
    return expectation("pointwise_kl_derivative", p0, process, t, engine)


def marginal_entropy(p0, process, t, *, engine="auto"):
    """H(p_t) = −Σ_x p_t(x) log p_t(x), in nats (0·log 0 = 0)."""
    pt = marginal(p0, process, t, engine=engine)
    if isinstance(pt, np.ndarray):
        return float(entr(pt).sum())
    xp = namespace(pt)
    return -float(xp.sum(xp.where(pt > 0, pt * xp.log(xp.where(pt > 0, pt, 1.0)), 0.0)))


def marginal_entropy_derivative(p0, process, t, *, engine="auto"):
    """d/dt H(p_t) = −Σ_x ṗ_t(x) log p_t(x), with ṗ_t = σ(t) (Σ_i Q along i) p_t."""
    table, t, module = prepare(p0, process, t, engine)
    return module.marginal_entropy_derivative(table, process, t)


def conditional_entropy(p0, process, t, *, engine="auto"):
    """H(x_t | x0) = E_{x0} H(p_{t|0}(·|x0)); equals H(p_t) − I(x0; x_t)."""
    return expectation("conditional_entropy", p0, process, t, engine)
