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

Array libraries. The factorized engine runs in the namespace of ``p0``: a NumPy table
(or a :class:`~exactdiff.Distribution`) gives NumPy results, a CuPy table is computed on
its GPU, an ``array_api_strict`` table with the standard's functions only (see
:mod:`exactdiff.backend`). The dense engine is the NumPy reference and accepts NumPy
tables only. Before allocating, the factorized engine estimates its peak memory
(:mod:`exactdiff.memory`) and refuses with a ``ValueError`` what would not fit.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import expm
from scipy.special import entr, rel_entr, xlogy

from . import _tensor as T
from . import memory
from .backend import as_xp_table, asarray_like, is_numpy, namespace
from ._validation import check_memory, check_time
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
    """The validated table of ``p0`` (in its own array namespace), checked against the process."""
    table = as_xp_table(p0)
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
        if not is_numpy(namespace(table)):
            raise ValueError("the dense engine works on NumPy arrays only (got an array of "
                             f"{namespace(table).__name__}); use engine='factorized' or pass a NumPy table.")
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


class Factorized:
    """What every factorized quantity at one time t starts from, in the namespace of p0.

    ``table`` is p0 (shape (N,)*L), ``k`` the data kernel k_t (n×N, on the host) and
    ``kT`` its transpose on the table's device, ``sigma`` = σ(t). The peak memory of
    ``quantity`` (see :mod:`exactdiff.memory`) is checked before anything is allocated.
    """

    def __init__(self, p0, process, t, quantity):
        self.table = check_shapes(p0, process)
        self.xp = namespace(self.table)
        self.N, self.n, self.L = process.N, process.n, self.table.ndim
        memory.check(quantity, self.N, self.n, self.L, xp=self.xp)
        self.k, sigma = _kernel_pieces(process, t)
        self.sigma = float(sigma)  # a Python float: array_api_strict refuses NumPy scalars
        self.Q = process.Q
        self.kT = asarray_like(self.k.T, self.table)

    def marginal(self):
        """p_t = (k_t along every axis) p0, shape (n,)*L."""
        return T.apply_all(self.k, self.table)

    def token_sum(self, values):
        return T.token_sum(values, self.L, like=self.table)

    def pull_back(self, F):
        """[(kᵀ along every axis) F](x0) = E_{x_t ~ p_{t|0}(·|x0)} F(x_t), shape (N,)*L."""
        return T.apply_all(self.kT, F)

    def reaches(self, zero):
        """For every x0: can x_t reach a state in the boolean table ``zero``? (None if it is empty.)"""
        if not bool(self.xp.any(zero)):
            return None
        return self.pull_back(self.xp.astype(zero, self.xp.float64)) > 0


def _log_in_place(pt):
    """Overwrite p_t by the finite part of log p_t (0 where p_t = 0), block by block;
    return the boolean table of p_t = 0."""
    xp = namespace(pt)
    zero = pt == 0
    T.map_blocks(lambda p, z: xp.log(xp.where(z, 1.0, p)), pt, zero)
    return zero


def log_ratio_field(pt, A, B):
    """F(x) = Σ_i [(A along i) p_t](x) / p_t(x) + Σ_i [(B along i) log p_t](x), for every x.

    The first sum is 0 where p_t(x) = 0 and log p_t is its finite part there. ``pt`` is
    **overwritten** (by log p_t) to keep the peak at two full tables. Returns F and the
    boolean table of p_t = 0. With A = Q_off, B = Qᵀ this is F of the mdse (MATH.md); with
    A = Q, B = Qᵀ it is the inner field of d/dt KL.
    """
    xp = namespace(pt)
    F = T.sum_over_axes(A, pt)
    T.map_blocks(lambda f, p: xp.where(p == 0, 0.0, f / xp.where(p == 0, 1.0, p)), F, pt)
    zero = _log_in_place(pt)
    T.sum_over_axes(B, pt, out=F)
    return F, zero


# -- marginal --------------------------------------------------------------------------
def marginal(p0, process, t, engine="auto"):
    """p_t = (k_t along every axis) p0, as a table of shape (n,)*L."""
    engine = resolve_engine(process, engine)
    if engine == "dense":
        st = DenseState(p0, process, t)
        return st.pt.reshape((st.n,) * st.L)
    return Factorized(p0, process, t, "marginal").marginal()


# -- pointwise KL --------------------------------------------------------------------------
def _kl_dense(p0, process, t):
    st = DenseState(p0, process, t)
    return st.unflatten(rel_entr(st.P, st.pt[:, None]).sum(axis=0))


def _kl_factorized(p0, process, t):
    fz = Factorized(p0, process, t, "pointwise_kl")
    xp, k = fz.xp, fz.k
    logp = fz.marginal()
    zero = _log_in_place(logp)
    kl = fz.token_sum(xlogy(k, k).sum(axis=0))  # Σ_x p(x|x0) log p(x|x0)
    kl -= fz.pull_back(logp)
    del logp
    reach = fz.reaches(zero)
    return kl if reach is None else xp.where(reach, xp.inf, kl)


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
    fz = Factorized(p0, process, t, "pointwise_kl_derivative")
    xp, k, Q = fz.xp, fz.k, fz.Q
    a = np.where(k > 0, (Q @ k) * np.log(np.where(k > 0, k, 1.0)), 0.0).sum(axis=0)
    # inner(x) = Σ_i (Qᵀ along i) log p_t + [Σ_i (Q along i) p_t] / p_t   (ṗ_t / p_t)
    inner, zero = log_ratio_field(fz.marginal(), Q, Q.T)
    out = fz.token_sum(a)
    out -= fz.pull_back(inner)
    del inner
    out *= fz.sigma
    reach = fz.reaches(zero)
    return out if reach is None else xp.where(reach, 0.0, out)


def pointwise_kl_derivative(p0, process, t, engine="auto"):
    """The exact d/dt KL(p_{t|0}(·|x0) ‖ p_t) for every x0, shape (N,)*L.

    From ṗ_{t|0} = σ(t) Q p_{t|0} and ṗ_t = σ(t) Q p_t:

    .. math:: \\frac{d}{dt}\\mathrm{KL} = \\sum_x \\dot p_{t|0}(x|x_0)\\,
              \\log\\frac{p_{t|0}(x|x_0)}{p_t(x)} - \\sum_x p_{t|0}(x|x_0)\\frac{\\dot p_t(x)}{p_t(x)}

    Where the KL is infinite (x0 outside the support of p0 under an absorbing
    process) the derivative is reported as 0. By Theorem 3.1 this equals −mdse(x0, t).
    """
    engine = resolve_engine(process, engine)
    check_positive_noise(process, t)
    return {"dense": _kl_derivative_dense, "factorized": _kl_derivative_factorized}[engine](p0, process, t)


def check_positive_noise(process, t):
    """Refuse t with σ̄(t) = 0: there dKL/dt and mdse are −∞ and +∞ (mdse grows like
    −log t as t → 0), and no finite number would be right."""
    t = check_time(t)
    if process.total(t) == 0:
        raise ValueError(f"`t` must be > 0 here: at σ̄(t) = 0 the KL derivative is −∞ and mdse is +∞ (got t={t}).")
    return t


# -- mutual information and entropies -------------------------------------------------------
def _average(table, values):
    """E_{x0 ~ p0}[values], with 0·anything = 0 outside the support (any array namespace)."""
    xp = namespace(table)
    support = table > 0
    return float(xp.sum(xp.where(support, table * xp.where(support, values, 0.0), 0.0)))


def mutual_information(p0, process, t, engine="auto"):
    """I(x0; x_t) = E_{x0} KL(p_{t|0}(·|x0) ‖ p_t), in nats."""
    table = as_xp_table(p0)
    return _average(table, pointwise_kl(table, process, t, engine))


def mutual_information_derivative(p0, process, t, engine="auto"):
    """The exact d/dt I(x0; x_t) = E_{x0} d/dt KL; by Theorem 3.1 it equals −mdse(t)."""
    table = as_xp_table(p0)
    return _average(table, pointwise_kl_derivative(table, process, t, engine))


def _entropy_of(p):
    """−Σ p log p with 0·log 0 = 0, in the namespace of ``p``."""
    xp = namespace(p)
    return -float(xp.sum(xp.where(p > 0, p * xp.log(xp.where(p > 0, p, 1.0)), 0.0)))


def marginal_entropy(p0, process, t, engine="auto"):
    """H(p_t) = −Σ_x p_t(x) log p_t(x), in nats."""
    pt = marginal(p0, process, t, engine)
    if isinstance(pt, np.ndarray):
        return float(entr(pt).sum())
    return _entropy_of(pt)


def marginal_entropy_derivative(p0, process, t, engine="auto"):
    """d/dt H(p_t) = −Σ_x ṗ_t(x) log p_t(x), with ṗ_t = σ(t) (Σ_i Q along i) p_t."""
    engine = resolve_engine(process, engine)
    if engine == "dense":
        st = DenseState(p0, process, t)
        logpt, _ = T.split_log(st.pt)
        return float(-(st.sigma * (st.G @ st.pt)) @ logpt)
    fz = Factorized(p0, process, t, "marginal_entropy_derivative")
    pt = fz.marginal()
    dpt = T.sum_over_axes(fz.Q, pt)  # ṗ_t / σ
    _log_in_place(pt)
    total = sum(float(fz.xp.sum(dpt[blk] * pt[blk])) for blk in T.blocks(pt.shape))
    return -fz.sigma * total


def conditional_entropy(p0, process, t, engine="auto"):
    """H(x_t | x0) = E_{x0} H(p_{t|0}(·|x0)); equals H(p_t) − I(x0; x_t)."""
    engine = resolve_engine(process, engine)
    table = check_shapes(p0, process)
    if engine == "dense":
        st = DenseState(p0, process, t)
        return _average(table, st.unflatten(entr(st.P).sum(axis=0)))
    k, _ = _kernel_pieces(process, t)
    return _average(table, T.token_sum(entr(k).sum(axis=0), table.ndim, like=table))


def information_curves(p0, process, times, engine="auto", progress=False):
    """I(x0; x_t) and its exact derivative at each time, as two arrays."""
    times = np.asarray(times, dtype=np.float64)
    I = np.array([mutual_information(p0, process, t, engine) for t in times])
    dI = np.array([mutual_information_derivative(p0, process, t, engine) for t in times])
    return I, dI
