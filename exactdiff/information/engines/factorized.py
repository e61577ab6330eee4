"""The factorized engine: per-token kernels applied axis by axis, O(L·n·S) per pass, for
every x0 at once; never an S×S array.

For a token-wise process p_{t|0}(x | x0) = Π_i k_t(x^i | x0^i) with k_t = exp(σ̄(t) Q^tok),
so p_t = (k along every axis) p0 and E_{x_t|x0} F(x_t) = [(kᵀ along every axis) F](x0).
The mdse rearrangement of MATH.md ("Computing mdse on sequences"):

.. math::

    \\mathrm{mdse}(x_0, t) = \\sigma(t) [(k^T \\text{ along every axis}) F](x_0)
        + \\sigma(t) \\sum_i c(x_0^i),

    F(x) = \\sum_i \\frac{[(Q_{off} \\text{ along } i) p_t](x)}{p_t(x)}
         + \\sum_i [(Q^{tok\\,T} \\text{ along } i) \\log p_t](x),

    c(u) = \\sum_{a \\ne b} Q^{tok}(a, b)\\, k(b|u) (\\log k(b|u) - \\log k(a|u) - 1).

Every function works in the array namespace of the table (NumPy, CuPy, array_api_strict,
Dask; :mod:`exactdiff.core.backend`) through the contractions of
:mod:`exactdiff.core.tensor`, and checks its peak memory (:mod:`exactdiff.core.memory`)
before allocating. Small n×n quantities stay on the host.

For every x0 the mdse is four contractions along every axis and three elementwise sweeps:
p_t (``apply_all``), F (``ratio_field``: both sums, the division and log p_t in one sweep
per level, the zeros of p_t found on the way), the pull-back (``apply_all`` in place of F),
then + Σ_i c(x0^i) (the token sum, built by outer sums) and × σ(t). At most two tables over
x_t (p_t and F) exist at a time. The updates ``out += …`` and ``out *= …`` are in place in
memory and rebind the name for Dask, which has no in-place operators.

Dask tables are rechunked along their leading axes as :func:`exactdiff.core.memory.dask_layout`
says (the memory limit and the table's own chunks) and the quantities come back as Dask
arrays. ``pointwise_kl`` and ``mdse`` are persisted (evaluated once, kept in memory or on
the cluster) because the callers in :mod:`exactdiff.information` check their sign;
``.compute()`` gathers them.
"""

from __future__ import annotations

import numpy as np
from scipy.special import entr, xlogy

from ...core import memory
from ...core import tensor as T
from ...core.backend import device, is_dask, namespace, persist

#: The engine interface (``marginal``, ``pointwise_kl``, …) is reached through
#: :data:`exactdiff.information.engines.ENGINES`; only the engine's own pieces are exported.
__all__ = ["Factorized", "log_ratio_field", "token_constant", "select"]

#: Safety factor, in log space, between the smallest possible p_t(x) and the smallest
#: normal float64 below which p_t = 0 is looked for (see :meth:`Factorized.no_zero_mass`).
_UNDERFLOW_MARGIN = 40.0


class Factorized:
    """What every factorized quantity at one time t starts from, in the namespace of p0.

    ``table`` is p0 (shape (N,)*L; a Dask table rechunked along its leading axes), ``k``
    the data kernel k_t (n×N, on the host), ``sigma`` = σ(t). The peak memory of
    ``quantity`` (:data:`exactdiff.core.memory.QUANTITIES`) is checked before anything is
    allocated.
    """

    def __init__(self, table, process, t, quantity):
        self.xp = namespace(table)
        self.N, self.n, self.L = process.N, process.n, table.ndim
        if is_dask(table):
            cut = memory.dask_layout(self.N, self.n, self.L, table=table)
            memory.check(quantity, self.N, self.n, self.L, xp=self.xp, cut=cut)
            table = T.chunk_leading(table, cut)
        else:
            memory.check(quantity, self.N, self.n, self.L, xp=self.xp)
        self.table = table
        self.k = process.data_kernel(t)
        self.sigma = float(process.rate(t))  # a Python float: array_api_strict refuses NumPy scalars
        self.Q = process.Q

    def marginal(self):
        """p_t = (k_t along every axis) p0, shape (n,)*L."""
        return T.apply_all(self.k, self.table)

    def token_sum(self, values):
        """Σ_i values[x0^i] over x0, in the table's namespace (and chunks)."""
        return T.token_sum(values, self.L, like=self.table)

    def pull_back(self, F):
        """[(kᵀ along every axis) F](x0) = E_{x_t ~ p_{t|0}(·|x0)} F(x_t), shape (N,)*L.
        ``F`` is overwritten (the result is written in place of it when k is square)."""
        return T.apply_all(self.k.T, F, overwrite=True)

    def no_zero_mass(self):
        """True when no p_t(x) can be 0: p_t(x) >= max p0 · Π_i min k >= N^{−L} (min k)^L,
        and every partial sum of the contractions is at least that large, so when this
        bound is a normal float64 (with a margin of e^40) no state has zero mass."""
        kmin = float(self.k.min())
        return kmin > 0 and self.L * (np.log(kmin) - np.log(self.N)) > np.log(np.finfo(np.float64).tiny) + _UNDERFLOW_MARGIN

    def reaches(self, zero):
        """For every x0: can x_t reach a state in the boolean table ``zero``? None when
        ``zero`` is None or no state can have zero mass (:meth:`no_zero_mass`; the only
        test for Dask, where the zeros are not looked for before the graph runs)."""
        if zero is None or self.no_zero_mass():
            return None
        if not is_dask(zero) and not bool(self.xp.any(zero)):
            return None
        return self.pull_back(self.xp.astype(zero, self.xp.float64)) > 0

    def finish(self, values, keep=False):
        """``values``; with ``keep``, a Dask result is persisted (its sign is checked by
        the caller: evaluate it once)."""
        return persist(values) if keep else values


def log_ratio_field(pt, A, B):
    """F(x) = Σ_i [(A along i) p_t](x) / p_t(x) + Σ_i [(B along i) log p_t](x), for every x.

    The first sum is 0 where p_t(x) = 0 and log p_t is its finite part there
    (:func:`exactdiff.core.tensor.ratio_field`; ``pt`` is not changed). Returns F and the
    boolean table of p_t = 0 (None when p_t has no zero; lazy for Dask). With A = Q_off,
    B = Qᵀ this is F of the mdse (MATH.md); with A = Q, B = Qᵀ it is the inner field of
    d/dt KL.
    """
    return T.ratio_field(A, B, pt, zeros=True)


def select(values, at):
    """The table ``values`` over x0, or its entries at the flat indices ``at``."""
    if at is None:
        return values
    xp = namespace(values)
    index = xp.asarray(np.asarray(at, dtype=np.int64), device=device(values))
    return xp.take(xp.reshape(values, (-1,)), index)


def _off_diagonal(Q):
    return Q - np.diag(np.diag(Q))


def token_constant(Q, k):
    """c(u) = Σ_{a≠b} Q(a,b) k(b|u)(log k(b|u) − log k(a|u) − 1), the K term of MATH.md,
    for every data token u (k is n×N)."""
    W = _off_diagonal(Q)
    pos = k > 0
    logk = np.log(np.where(pos, k, 1.0))
    # Σ_{a,b} W[a,b] k[b,u] log k[b,u] − Σ_a log k[a,u] (W k)[a,u] − Σ_b (Σ_a W[a,b]) k[b,u]
    return W.sum(axis=0) @ xlogy(k, k) - (np.where(pos, logk, 0.0) * (W @ k)).sum(axis=0) - W.sum(axis=0) @ k


def marginal(table, process, t):
    """p_t = (k_t along every axis) p0, shape (n,)*L."""
    return Factorized(table, process, t, "marginal").marginal()


def pointwise_kl(table, process, t, at=None):
    """Σ_i Σ_y k(y|x0^i) log k(y|x0^i) − [(kᵀ along every axis) log p_t](x0), for every x0;
    ``inf`` where x_t can reach a state of zero marginal mass."""
    fz = Factorized(table, process, t, "pointwise_kl")
    xp, k = fz.xp, fz.k
    pt = fz.marginal()
    zero = None if fz.no_zero_mass() else pt == 0
    logp = T.map_blocks(T.finite_log, pt)  # in place of p_t where the library allows it
    del pt
    kl = fz.token_sum(xlogy(k, k).sum(axis=0))  # Σ_x p(x|x0) log p(x|x0)
    kl -= fz.pull_back(logp)
    del logp
    reach = fz.reaches(zero)
    return select(fz.finish(kl if reach is None else xp.where(reach, xp.inf, kl), keep=True), at)


def pointwise_kl_derivative(table, process, t, at=None):
    """d/dt KL for every x0: σ(t)·(Σ_i a(x0^i) − [(kᵀ along every axis) G](x0)) with
    a(u) = Σ_y (Q k)(y|u) log k(y|u) and G = Σ_i (Qᵀ along i) log p_t + [Σ_i (Q along i) p_t]/p_t
    (= ṗ_t/(σ p_t)); 0 where the KL itself is infinite."""
    fz = Factorized(table, process, t, "pointwise_kl_derivative")
    xp, k, Q = fz.xp, fz.k, fz.Q
    a = np.where(k > 0, (Q @ k) * np.log(np.where(k > 0, k, 1.0)), 0.0).sum(axis=0)
    inner, zero = log_ratio_field(fz.marginal(), Q, Q.T)
    out = fz.token_sum(a)
    out -= fz.pull_back(inner)
    del inner
    out *= fz.sigma
    reach = fz.reaches(zero)
    return select(out if reach is None else xp.where(reach, 0.0, out), at)


def mdse(table, process, t, at=None):
    """σ(t)·[(kᵀ along every axis) F](x0) + σ(t)·Σ_i c(x0^i) for every x0 (module
    docstring), with two full tables over x_t at most; ``inf`` where x_t can reach a state
    of zero marginal mass."""
    fz = Factorized(table, process, t, "mdse")
    F, zero = log_ratio_field(fz.marginal(), _off_diagonal(fz.Q), fz.Q.T)
    out = fz.pull_back(F)
    del F
    out += fz.token_sum(token_constant(fz.Q, fz.k))
    out *= fz.sigma
    reach = fz.reaches(zero)
    return select(fz.finish(out if reach is None else fz.xp.where(reach, fz.xp.inf, out), keep=True), at)


def expected_dse(score, process, t, L):
    """E_{x|x0} ℓ_DSE(x0, x, t, s) for every x0 and a score in neighbour form
    ``s[x][i, v]`` (shape (n,)*L + (L, n)), NumPy only:

    σ(t)·([(kᵀ along every axis) A](x0) − [(kᵀ along every axis) B](x0) + Σ_i c(x0^i))

    with A(x) = Σ_i Σ_v W[x^i, v] s[x][i, v] (the s term) and
    B(y) = Σ_i Σ_a W[a, y^i] log s[y^{i←a}][i, y^i] (the r log s term, regrouped by the
    neighbour y), W the off-diagonal of Q. ``inf`` where a used score is 0 against r > 0.
    """
    k, sigma, Q = process.data_kernel(t), process.rate(t), process.Q
    W = _off_diagonal(Q)
    used = W > 0
    n = process.n
    A = np.zeros((n,) * L)
    B = np.zeros((n,) * L)
    Bzero = np.zeros((n,) * L)
    for i in range(L):
        si = score[..., i, :]  # (n,)*L + (n,): s[x][i, v]
        shape = [1] * L + [n]
        shape[i] = n
        A += (W.reshape(shape) * si).sum(axis=-1)
        g = np.moveaxis(si, i, 0)  # g[a, rest..., b]
        mask = used.reshape((n,) + (1,) * (L - 1) + (n,))
        logg = np.where(mask & (g > 0), np.log(np.where(g > 0, g, 1.0)), 0.0)
        zg = (mask & (g == 0)).astype(float)
        B += np.moveaxis(np.einsum("ab,a...b->b...", W, logg), 0, i)
        Bzero += np.moveaxis(np.einsum("ab,a...b->b...", W, zg), 0, i)
    out = sigma * (T.apply_all(k.T, A) - T.apply_all(k.T, B) + T.token_sum(token_constant(Q, k), L))
    out[T.apply_all(k.T, Bzero) > 0] = np.inf
    return out


def marginal_entropy_derivative(table, process, t):
    """d/dt H(p_t) = −σ(t) Σ_x [Σ_i (Q along i) p_t](x) log p_t(x)."""
    fz = Factorized(table, process, t, "marginal_entropy_derivative")
    pt = fz.marginal()
    dpt = T.sum_over_axes(fz.Q, pt)  # ṗ_t / σ
    return -fz.sigma * T.block_sum(lambda d, p: d * T.finite_log(p), dpt, pt)


def conditional_entropy(table, process, t, at=None):
    """H(p_{t|0}(·|x0)) = Σ_i H(k_t(·|x0^i)) for every x0."""
    k = process.data_kernel(t)
    return select(T.token_sum(entr(k).sum(axis=0), table.ndim, like=table), at)
