"""The dense engine: every quantity summed from its definition over the whole state space.

The sequence-level generator G on all S = n^L states is a ``scipy.sparse`` matrix (the
Kronecker sum Σ_i I ⊗ … ⊗ Q ⊗ … ⊗ I for a token-wise process; the given matrix for a
:class:`~exactdiff.FullSpaceProcess`), every sum over states and neighbours is written
out literally with it, and the kernel columns

.. math:: P[:, x_0] = p_{t|0}(\\cdot \\mid x_0), \\qquad p_t = \\sum_{x_0} p_0(x_0)\\, P[:, x_0]

come from

- the exponential of the whole generator (:func:`~exactdiff.process.forward.transition_kernel`)
  for a full-space process, and for a token-wise one with at most
  :data:`EXPM_MAX_STATES` states: nothing here then uses the per-token kernels or the
  per-axis contractions of the factorized engine, so the two share no algebra;
- above that, for a token-wise process, Kronecker products of the token-kernel columns,
  p_{t|0}(x | x0) = Π_i k_t(x^i | x0^i), with p_t contracted by ``numpy.tensordot`` axis
  by axis. The sums over x_t and its neighbours stay literal, so the factorized
  rearrangement (MATH.md, "Computing mdse on sequences") is still checked against the
  definition.

``at`` restricts a pointwise quantity to some x0 (flat indices into V^L): only those
columns are formed, so a toy of S = 4^8 = 65,536 states is checked on a sample of x0 with
about 8 · 8 · S · (m + 1) bytes for m of them. Without ``at`` every x0 is a column:
S · N^L values, which :func:`exactdiff.core.memory.refuse` refuses before allocating
when it does not fit.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sparse
from scipy.special import entr, rel_entr

from ...core import memory
from ...core.tensor import split_log
from ...process.forward import transition_kernel

#: The engine interface (``marginal``, ``pointwise_kl``, …) is reached through
#: :data:`exactdiff.information.engines.ENGINES`; only the engine's own pieces are exported.
__all__ = ["DenseState", "sequence_generator", "off_diagonal", "concrete_score_matrix"]

#: Arrays of S × (number of x0 columns) float64 values the engine holds at its peak
#: (the columns, their image under G, their log, xlogy and temporaries).
COLUMN_COPIES = 8
#: Largest token-wise state space whose kernel is the exponential of the whole
#: generator (about five S × S arrays, 40 MiB at S = 1024).
EXPM_MAX_STATES = 1024


def sequence_generator(process, L):
    """The generator on all n^L states as a CSR matrix (column convention, C order)."""
    if not process.token_wise:
        return sparse.csr_matrix(process.full_generator(L))
    n = process.n
    Q = sparse.csr_matrix(process.Q)
    G = sparse.csr_matrix((n**L, n**L))
    for i in range(L):
        G = G + sparse.kron(sparse.kron(sparse.identity(n**i), Q), sparse.identity(n ** (L - i - 1)))
    return G.tocsr()


class DenseState:
    """Everything the dense engine needs at one time t.

    Attributes
    ----------
    G : scipy.sparse.csr_matrix, shape (S, S)
        The sequence-level generator (S = n^L).
    P : ndarray, shape (S, m)
        ``P[x, j] = p_{t|0}(x | x0_j)`` for the m data states x0_j of ``cols``.
    pt : ndarray, shape (S,)
        The marginal p_t.
    cols : ndarray of int, shape (m,)
        Flat C-order indices of the x0 in V^L (``at``, or all N^L of them).
    sigma : float
        σ(t).
    """

    def __init__(self, table, process, t, at=None):
        L, n, N = table.ndim, process.n, process.N
        S = n**L
        self.cols = np.arange(N**L) if at is None else np.asarray(at, dtype=np.int64)
        m = self.cols.size
        self.L, self.n, self.N, self.t = L, n, N, t
        self.sigma = float(process.rate(t))
        #: flat index in (n,)*L of every data state of V^L
        self.data = np.ravel_multi_index(np.unravel_index(np.arange(N**L), (N,) * L), (n,) * L)
        whole = not process.token_wise or S <= EXPM_MAX_STATES
        memory.refuse((5 * 8 * S * S if whole else 0) + COLUMN_COPIES * 8 * S * (m + 1),
                      f"the dense engine for n={n}, L={L} (S={S:,} states, {m:,} x0 columns)")
        self.G = sequence_generator(process, L)
        if whole:
            K = _full_kernel(process, t, self.G, L)
            self.P = K[:, self.data[self.cols]]
            self.pt = K[:, self.data] @ table.ravel()
        else:
            k = process.data_kernel(t)  # (n, N)
            x0 = np.unravel_index(self.cols, (N,) * L)
            self.P = np.empty((S, m))
            for j in range(m):
                column = k[:, x0[0][j]]
                for i in range(1, L):
                    column = np.multiply.outer(column, k[:, x0[i][j]])
                self.P[:, j] = column.ravel()
            pt = table
            for axis in range(L):
                pt = np.moveaxis(np.tensordot(k, pt, axes=([1], [axis])), 0, axis)
            self.pt = pt.ravel()


def _full_kernel(process, t, G, L):
    """exp(σ̄(t) G) of the whole generator ``G`` (:func:`sequence_generator`), entries
    unreachable under G set to exactly 0."""
    if not process.token_wise:
        return process.full_kernel(t)
    pattern = process.reachable
    for _ in range(L - 1):
        pattern = np.kron(pattern, process.reachable)
    return transition_kernel(G.toarray(), process.total(t), pattern)


def _state(table, process, t, at):
    return DenseState(table, process, t, at)


def marginal(table, process, t):
    """p_t over all n^L states, shape (n,)*L."""
    st = _state(table, process, t, np.zeros(0, dtype=np.int64))
    return st.pt.reshape((st.n,) * st.L)


def pointwise_kl(table, process, t, at=None):
    """KL(p_{t|0}(·|x0) ‖ p_t) = Σ_x P[x, x0] log(P[x, x0] / p_t(x)), one value per column."""
    st = _state(table, process, t, at)
    return rel_entr(st.P, st.pt[:, None]).sum(axis=0)


def pointwise_kl_derivative(table, process, t, at=None):
    """d/dt KL for every column, from Ṗ = σ G P and ṗ_t = σ G p_t:
    Σ_x Ṗ log(P/p_t) − Σ_x P ṗ_t/p_t; 0 where the KL itself is infinite."""
    st = _state(table, process, t, at)
    dP = st.sigma * (st.G @ st.P)
    dpt = st.sigma * (st.G @ st.pt)
    pos = st.P > 0
    logP = np.log(np.where(pos, st.P, 1.0))
    logpt, zero = split_log(st.pt)
    ratio = np.where(zero, 0.0, dpt / np.where(zero, 1.0, st.pt))
    first = np.where(pos, dP * (logP - logpt[:, None]), 0.0).sum(axis=0)
    out = first - st.P.T @ ratio
    return np.where(st.P.T @ zero.astype(float) > 0, 0.0, out)


def off_diagonal(G):
    """The off-diagonal part W of a sparse generator (W[x, y]: the rate from y into x)."""
    W = (G - sparse.diags(G.diagonal())).tocsr()
    W.eliminate_zeros()
    return W


def concrete_score_matrix(st, W=None):
    """The concrete score in matrix form, s*[x, y] = p_t(y)/p_t(x), on the sparsity of W
    (the pairs with a rate from y into x), as a CSR matrix; 0 where p_t(x) = 0 (undefined
    there; such x is never reached from an x0 in the support of p0)."""
    W = off_diagonal(st.G) if W is None else W
    rows, cols = W.nonzero()
    px, py = st.pt[rows], st.pt[cols]
    data = np.where(px > 0, py / np.where(px > 0, px, 1.0), 0.0)
    return sparse.csr_matrix((data, (rows, cols)), shape=W.shape)


def _score_at_pairs(score, rows, cols):
    """The entries ``score[rows, cols]`` of a dense or sparse (S, S) score."""
    if sparse.issparse(score):
        return np.asarray(score.tocsr()[rows, cols]).ravel()
    return np.asarray(score)[rows, cols]


#: Largest number of (edge, column) values :func:`_expected` forms at a time.
EDGE_BLOCK = 1 << 22


def _expected(st, W, score):
    """E_{x|x0} ℓ_DSE(x0, x, t, s) for every column, summed over the pairs (x, y) with a
    rate W[x, y] > 0 from y into x, term by term as in the definition:

    σ(t) Σ_{x,y} W[x,y] [P[x] s[x,y] − P[y] log s[x,y] + P[y] (log P[y] − log P[x]) − P[y]]

    (P[x]·K(P[y]/P[x]) with K(a) = a(log a − 1) is the last two terms; 0·log 0 = 0). The
    logarithms of each pair are combined before anything is summed, so a large log p_t
    never cancels across the whole space, and the sums are pairwise. ``inf`` where r > 0
    meets a score of 0. Where P[x] = 0 every y with W[x, y] > 0 has P[y] = 0 too (a rate
    from y into x would make x reachable), so such pairs contribute 0.
    """
    W = W.tocoo()
    keep = st.P.any(axis=1)[W.row]  # pairs into a state no x0 reaches carry no mass
    rows, cols, w = W.row[keep], W.col[keep], W.data[keep]
    s = _score_at_pairs(score, rows, cols)
    if not (np.all(np.isfinite(s)) and np.all(s >= 0)):
        raise ValueError("`score` must be finite and non-negative where the process has rates.")
    logs = np.log(np.where(s > 0, s, 1.0))[:, None]
    P = st.P
    logP = np.log(np.where(P > 0, P, 1.0))
    m = P.shape[1]
    out = np.empty(m)
    step = max(1, EDGE_BLOCK // max(1, rows.size))
    for start in range(0, m, step):
        block = slice(start, start + step)
        Px, Py = P[rows, block], P[cols, block]
        gap = logP[cols, block]
        gap -= logP[rows, block]
        gap -= logs
        terms = Px * s[:, None]
        terms += Py * (gap - 1.0)
        terms *= w[:, None]
        total = terms.sum(axis=0)
        out[block] = np.where(((Py > 0) & (s[:, None] == 0)).any(axis=0), np.inf, total)
    return st.sigma * out


def mdse(table, process, t, at=None):
    """mdse(x0, t) for every column: the DSE summed from its definition with the concrete
    score s*(x)_y = p_t(y)/p_t(x) (:func:`concrete_score_matrix`). ``inf`` where x_t can reach
    a state of zero marginal mass."""
    st = _state(table, process, t, at)
    W = off_diagonal(st.G)
    out = _expected(st, W, concrete_score_matrix(st, W))
    _, zero = split_log(st.pt)
    return np.where(st.P.T @ zero.astype(float) > 0, np.inf, out)


def expected_dse(score, process, t, L):
    """E_{x|x0} ℓ_DSE(x0, x, t, s) for every x0, for a score in matrix form s[x, y]
    (shape (S, S), dense or sparse; used where the rate W[x, y] from y into x is > 0)."""
    dummy = np.zeros((process.N,) * L)
    dummy.flat[0] = 1.0
    st = _state(dummy, process, t, None)
    S = st.G.shape[0]
    if tuple(score.shape) != (S, S):
        raise ValueError(f"a matrix-form score must have shape (S, S) = ({S}, {S}) (got {tuple(score.shape)}).")
    return _expected(st, off_diagonal(st.G), score)


def marginal_entropy_derivative(table, process, t):
    """d/dt H(p_t) = −Σ_x ṗ_t(x) log p_t(x), ṗ_t = σ G p_t."""
    st = _state(table, process, t, np.zeros(0, dtype=np.int64))
    logpt, _ = split_log(st.pt)
    return float(-(st.sigma * (st.G @ st.pt)) @ logpt)


def conditional_entropy(table, process, t, at=None):
    """H(p_{t|0}(·|x0)) for every column."""
    return entr(_state(table, process, t, at).P).sum(axis=0)
