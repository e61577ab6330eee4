"""Exact information curves of a forward process: p_t, the pointwise KL
KL(p_{t|0}(·|x0) ‖ p_t) for all x0, the mutual information I(x0; x_t), entropies,
and their exact time derivatives (from dp/dt = σ(t) Q p, not finite differences).

Two engines compute every quantity:

- ``"dense"``: forms the full S×S generator and its matrix exponential (the reference;
  also the only engine for a :class:`~exactdiff.FullSpaceProcess`).
- ``"factorized"``: applies the per-token kernels axis by axis, O(L·n·S) per pass,
  never forming an S×S array.

``engine="auto"`` picks factorized for token-wise processes and dense otherwise.
Pointwise results are arrays of shape (N,)*L over x0. Where x_t can reach a state of
zero marginal mass (possible only when p0(x0) = 0) the pointwise KL is ``inf``.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import expm
from scipy.special import entr, rel_entr, xlogy

from . import _tensor as T
from ._validation import as_table, check_memory, check_time
from .process import DENSE_MAX_BYTES

__all__ = [
    "marginal",
    "pointwise_kl",
    "pointwise_kl_derivative",
    "mutual_information",
    "mutual_information_derivative",
    "marginal_entropy",
    "marginal_entropy_derivative",
    "conditional_entropy",
    "information_curves",
]

ENGINES = ("dense", "factorized", "auto")


# -- shared set-up -------------------------------------------------------------------------
def resolve_engine(process, engine):
    if engine not in ENGINES:
        raise ValueError(f"`engine` must be one of {set(ENGINES)} (got {engine!r}).")
    if engine == "auto":
        return "factorized" if process.token_wise else "dense"
    if engine == "factorized" and not process.token_wise:
        raise ValueError("the factorized engine needs a token-wise process; use engine='dense' for a FullSpaceProcess.")
    return engine


def check_shapes(p0, process):
    table = as_table(p0)
    if table.shape[0] != process.N:
        raise ValueError(f"`p0` has N={table.shape[0]} tokens but the process has N={process.N} data tokens.")
    if not process.token_wise and table.ndim != process.L:
        raise ValueError(f"`p0` has L={table.ndim} but the full-space process has L={process.L}.")
    return table


class DenseState:
    """Everything the dense engine needs at one time t.

    ``G`` is the S×S generator (S = n^L), ``P[x, j] = p_{t|0}(x | x0_j)`` for the
    data states x0_j in C order, ``pt = P p0``.
    """

    def __init__(self, p0, process, t):
        table = check_shapes(p0, process)
        t = check_time(t)
        L, n, N = table.ndim, process.n, process.N
        S = n**L
        check_memory(5 * 8 * S * S, DENSE_MAX_BYTES * 5,
                     f"the dense engine for n={n}, L={L} (S={S}, five S×S float64 arrays)")
        self.L, self.n, self.N, self.t = L, n, N, t
        self.sigma = process.rate(t)
        self.G = process.full_generator(L)
        if process.token_wise:
            K = expm(process.total(t) * self.G)
            reach = process._reach
            pattern = reach
            for _ in range(L - 1):
                pattern = np.kron(pattern, reach)
            K[~pattern] = 0.0
        else:
            K = process.full_kernel(t)
        data = np.ravel_multi_index(np.unravel_index(np.arange(N**L), (N,) * L), (n,) * L)
        self.data = data
        self.P = K[:, data]
        self.p0 = table.ravel()
        self.pt = self.P @ self.p0

    def unflatten(self, values):
        return np.asarray(values).reshape((self.N,) * self.L)


def _kernel_pieces(process, t):
    t = check_time(t)
    return process.data_kernel(t), process.rate(t)


# -- marginal --------------------------------------------------------------------------
def marginal(p0, process, t, engine="auto"):
    """p_t = (k_t along every axis) p0, as a table of shape (n,)*L."""
    engine = resolve_engine(process, engine)
    if engine == "dense":
        st = DenseState(p0, process, t)
        return st.pt.reshape((st.n,) * st.L)
    table = check_shapes(p0, process)
    k, _ = _kernel_pieces(process, t)
    return T.apply_all(k, table)


# -- pointwise KL --------------------------------------------------------------------------
def _kl_dense(p0, process, t):
    st = DenseState(p0, process, t)
    return st.unflatten(rel_entr(st.P, st.pt[:, None]).sum(axis=0))


def _kl_factorized(p0, process, t):
    table = check_shapes(p0, process)
    k, _ = _kernel_pieces(process, t)
    L = table.ndim
    pt = T.apply_all(k, table)
    logp, zero = T.split_log(pt)
    self_term = T.token_sum(xlogy(k, k).sum(axis=0), L)  # Σ_x p(x|x0) log p(x|x0)
    kl = self_term - T.apply_all(k.T, logp)
    reaches_zero = T.apply_all(k.T, zero.astype(np.float64)) > 0
    kl[reaches_zero] = np.inf
    return kl


def pointwise_kl(p0, process, t, engine="auto"):
    """KL(p_{t|0}(·|x0) ‖ p_t) for every x0, shape (N,)*L, in nats.

    .. math:: \\mathrm{KL}(x_0, t) = \\sum_x p_{t|0}(x|x_0) \\log \\frac{p_{t|0}(x|x_0)}{p_t(x)}

    Factorized form: Σ_i Σ_y k(y|x0^i) log k(y|x0^i) − [(kᵀ along every axis) log p_t](x0).

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> p0 = ed.Distribution.dirichlet(3, 2, seed=1)
    >>> proc = ed.uniform(3)
    >>> bool(np.allclose(ed.pointwise_kl(p0, proc, 0.5, "dense"), ed.pointwise_kl(p0, proc, 0.5, "factorized"), rtol=1e-12))
    True
    """
    engine = resolve_engine(process, engine)
    return {"dense": _kl_dense, "factorized": _kl_factorized}[engine](p0, process, t)


def _kl_derivative_dense(p0, process, t):
    st = DenseState(p0, process, t)
    dP = st.sigma * (st.G @ st.P)
    dpt = st.sigma * (st.G @ st.pt)
    pos = st.P > 0
    logP = np.log(np.where(pos, st.P, 1.0))
    logpt, zero = T.split_log(st.pt)
    ratio = np.where(zero, 0.0, dpt / np.where(zero, 1.0, st.pt))
    first = np.where(pos, dP * (logP - logpt[:, None]), 0.0).sum(axis=0)
    out = first - st.P.T @ ratio
    return st.unflatten(_where_infinite_zero(out, st.P.T @ zero.astype(float) > 0))


def _where_infinite_zero(values, infinite):
    """Where the KL itself is infinite its derivative is reported as 0 (it stays +inf)."""
    return np.where(infinite, 0.0, values)


def _kl_derivative_factorized(p0, process, t):
    table = check_shapes(p0, process)
    k, sigma = _kernel_pieces(process, t)
    Q = process.Q
    L = table.ndim
    pt = T.apply_all(k, table)
    logp, zero = T.split_log(pt)
    Qk = Q @ k
    a = np.where(k > 0, Qk * np.log(np.where(k > 0, k, 1.0)), 0.0).sum(axis=0)
    dpt = T.sum_over_axes(Q, pt)
    ratio = np.where(zero, 0.0, dpt / np.where(zero, 1.0, pt))
    inner = T.sum_over_axes(Q.T, logp) + ratio
    out = sigma * (T.token_sum(a, L) - T.apply_all(k.T, inner))
    infinite = T.apply_all(k.T, zero.astype(np.float64)) > 0
    return _where_infinite_zero(out, infinite)


def pointwise_kl_derivative(p0, process, t, engine="auto"):
    """The exact d/dt KL(p_{t|0}(·|x0) ‖ p_t) for every x0, shape (N,)*L.

    From ṗ_{t|0} = σ(t) Q p_{t|0} and ṗ_t = σ(t) Q p_t:

    .. math:: \\frac{d}{dt}\\mathrm{KL} = \\sum_x \\dot p_{t|0}(x|x_0)\\,
              \\log\\frac{p_{t|0}(x|x_0)}{p_t(x)} - \\sum_x p_{t|0}(x|x_0)\\frac{\\dot p_t(x)}{p_t(x)}

    Where the KL is infinite (x0 outside the support of p0 under an absorbing
    process) the derivative is reported as 0. By Theorem 3.1 this equals −mdse(x0, t).
    """
    engine = resolve_engine(process, engine)
    return {"dense": _kl_derivative_dense, "factorized": _kl_derivative_factorized}[engine](p0, process, t)


# -- mutual information and entropies -------------------------------------------------------
def _average(table, values):
    """E_{x0 ~ p0}[values], with 0·anything = 0 outside the support."""
    return float(np.where(table > 0, table * np.where(table > 0, values, 0.0), 0.0).sum())


def mutual_information(p0, process, t, engine="auto"):
    """I(x0; x_t) = E_{x0} KL(p_{t|0}(·|x0) ‖ p_t), in nats."""
    table = as_table(p0)
    return _average(table, pointwise_kl(p0, process, t, engine))


def mutual_information_derivative(p0, process, t, engine="auto"):
    """The exact d/dt I(x0; x_t) = E_{x0} d/dt KL; by Theorem 3.1 it equals −mdse(t)."""
    table = as_table(p0)
    return _average(table, pointwise_kl_derivative(p0, process, t, engine))


def marginal_entropy(p0, process, t, engine="auto"):
    """H(p_t) = −Σ_x p_t(x) log p_t(x), in nats."""
    return float(entr(marginal(p0, process, t, engine)).sum())


def marginal_entropy_derivative(p0, process, t, engine="auto"):
    """d/dt H(p_t) = −Σ_x ṗ_t(x) log p_t(x), with ṗ_t = σ(t) (Σ_i Q along i) p_t."""
    engine = resolve_engine(process, engine)
    if engine == "dense":
        st = DenseState(p0, process, t)
        logpt, _ = T.split_log(st.pt)
        return float(-(st.sigma * (st.G @ st.pt)) @ logpt)
    table = check_shapes(p0, process)
    k, sigma = _kernel_pieces(process, t)
    pt = T.apply_all(k, table)
    logp, _ = T.split_log(pt)
    return float(-(sigma * T.sum_over_axes(process.Q, pt) * logp).sum())


def conditional_entropy(p0, process, t, engine="auto"):
    """H(x_t | x0) = E_{x0} H(p_{t|0}(·|x0)); equals H(p_t) − I(x0; x_t)."""
    engine = resolve_engine(process, engine)
    table = check_shapes(p0, process)
    if engine == "dense":
        st = DenseState(p0, process, t)
        return _average(table, st.unflatten(entr(st.P).sum(axis=0)))
    k, _ = _kernel_pieces(process, t)
    return _average(table, T.token_sum(entr(k).sum(axis=0), table.ndim))


def information_curves(p0, process, times, engine="auto", progress=False):
    """I(x0; x_t) and its exact derivative at each time, as two arrays."""
    times = np.asarray(times, dtype=np.float64)
    I = np.array([mutual_information(p0, process, t, engine) for t in times])
    dI = np.array([mutual_information_derivative(p0, process, t, engine) for t in times])
    return I, dI
