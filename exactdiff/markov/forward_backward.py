"""Forward–backward for k-th order Markov chains: the one message passing of the package.

A k-th order chain over N letters has transitions P of shape (N,)*(k+1),
``P[c_1, ..., c_k, v] = p(x^j = v | the k letters before are c)``, and an initial law π
of the first k letters, shape (N,)*k. A *row* is a sequence x of length Lw ≥ k with a
set V of visible positions; every other position is summed out. Everything here is
exact: no epsilon, V^Lw never enumerated.

Window messages
---------------
The forward message at position j ≥ k − 1 is a function of the window
w_j = (x^{j−k+1}, …, x^j), kept only over the *hidden* letters h_j of the window (the
visible ones are fixed to their letters), so it has N^{h} entries, h = #hidden in w_j:

.. math::

    \\alpha_j(h_j) \\propto p(x^{V \\cap [0, j]}, h_j), \\qquad
    \\beta_j(h_j) \\propto p(x^{V \\cap (j, L)} \\mid w_j),

    \\alpha_{j+1}(h_{j+1}) = \\sum_{x^{j-k+1} \\text{ if hidden}} \\alpha_j(h_j)\\, P(x^{j+1} \\mid w_j),
    \\qquad
    \\beta_j(h_j) = \\sum_{x^{j+1} \\text{ if hidden}} P(x^{j+1} \\mid w_j)\\, \\beta_{j+1}(h_{j+1}),

    p(x^i = v \\mid x^V) = \\frac{\\sum_{h_i:\\, x^i = v} \\alpha_i(h_i)\\, \\beta_i(h_i)}
                                {\\sum_{h_i} \\alpha_i(h_i)\\, \\beta_i(h_i)}

(for i < k − 1, at the window w_{k−1}). One step of one row costs N^{(hidden letters among
the k + 1 positions j−k+1..j+1)}: 1 in a visible stretch, N^{k+1} only when all k + 1 are
hidden. A run of k visible letters collapses the message to a point mass, so a visible
prompt costs O(1) per letter. Rows are batched by the hidden pattern of their window
(2^k codes): at each position the rows with the same (window code, next letter hidden?)
share every shape and advance by one gather of the transition factor and one
contraction, so a batch costs O(Lw · 2^{k+1}) numpy calls whatever its number of rows.

Every message is rescaled to sum 1 at every step; the logs of the forward scales add up
to log p(x^V), and conditionals are ratios within one row, in which every scale cancels.
A row whose visible letters have probability 0 gets log p(x^V) = −inf and ``nan``
conditionals (the callers raise, naming the context); a hidden letter whose
conditional is 0 gets log 0 = −inf.

When all k + 1 letters of a step are hidden, the factor is the whole table P
(:class:`FullStep`): a batched matrix product, or, for additively smoothed count tables
with many contexts, a sparse product plus a rank-one term.

Every subset at once (Theorem 4.1, Corollary 4.3)
-------------------------------------------------
For one sequence with target positions T (|T| = n) and context C, the 2^n marginals
log Z(J) = log p(x^{J ∪ C}), J ⊆ T (:func:`subset_log_z`), give every
conditional of the subset sums:

.. math::

    -\\log p(x^i \\mid x^{J \\cup C}) = \\log Z(J) - \\log Z(J \\cup \\{i\\}), \\qquad
    \\ell(J) = \\sum_{i \\in T \\setminus J} -\\log p(x^i \\mid x^{J \\cup C})

(:func:`subset_losses`), so 2^n marginals replace n · 2^{n−1} conditionals. They meet in
the middle: a split position s cuts T into n_L targets ≤ s and n_R > s; the forward
messages at s of the 2^{n_L} left patterns (a binary trie of window messages) and the
backward messages at s of the 2^{n_R} right patterns (dense over the N^k windows) give
Z(J_L ∪ J_R) = Σ_h α_s^{J_L}(h) β_s^{J_R}(h) for all 2^n sets by one matrix product per
left window code. Subsets are indexed by bits: bit q of J set ⇔ the q-th target position
(ascending) is visible.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..sequences.masks import subset_sizes


__all__ = [
    "ChainTensors",
    "FullStep",
    "chain_tensors",
    "log_subsequences",
    "log_conditionals",
    "posteriors",
    "subset_log_z",
    "subset_losses",
    "subset_terms",
    "subset_table_bytes",
    "HIDDEN",
    "VISIBLE",
    "FREE",
]

#: Roles of positions in the subset functions: summed out, always visible (the context
#: C), or free (the target T, visible or not by subset).
HIDDEN, VISIBLE, FREE = 0, 1, 2

#: Bytes of stored forward messages per chunk of rows in the row passes.
ROW_CHUNK_BYTES = 2**27
#: Bytes of the temporary of one sparse product (rows × stored transitions) at a time.
SPARSE_BLOCK_BYTES = 2**26
#: :class:`FullStep` takes the sparse route above this many contexts (when the table is
#: sparse plus rank one): measured on text8 fits (N = 27), the dense batched product is
#: as fast at k = 3 (19,683 contexts) and the sparse one 3–10× faster at k = 4.
SPARSE_MIN_CONTEXTS = 10**5


# ---------------------------------------------------------------------------------------
# The chain
# ---------------------------------------------------------------------------------------
class FullStep:
    """The step in which all k + 1 letters are hidden: the factor is the whole table P.

    Dense: ``out[n, (m, v)] = Σ_a α[n, (a, m)] P[a, m, v]`` as a batched matrix product
    over the k − 1 middle letters m, n · N^{k+1} work. Sparse plus rank one: an additively
    smoothed count table is P[c, v] = S[c, v] + u[c] with S sparse (the observed
    transitions) and u[c] = min_v P[c, v]; then the step is a sparse product plus a
    rank-one term, n · (nnz(S) + N^k) work. ``sparse=None`` takes it when
    nnz(S) ≤ N^{k+1}/8 and N^k > :data:`SPARSE_MIN_CONTEXTS`. (S = P − u is exact up to one
    rounding per entry.)
    """

    def __init__(self, transitions: np.ndarray, sparse: bool | None = None):
        P = np.asarray(transitions, dtype=np.float64)
        N, k = P.shape[0], P.ndim - 1
        self.N, self.k, self.M = N, k, N ** (k - 1)
        self.P3 = P.reshape(N, self.M, N)
        self.P3t = np.ascontiguousarray(self.P3.transpose(1, 0, 2))  # (m, a, v)
        self.sparse = False
        if sparse is False or (sparse is None and N**k <= SPARSE_MIN_CONTEXTS):
            return
        flat = P.reshape(N**k, N)
        u = flat.min(axis=1)
        S = flat - u[:, None]
        nz = np.nonzero(S)
        self.sparse = bool(sparse) if sparse is not None else nz[0].size <= P.size // 8
        if self.sparse:
            c, v = nz
            dst = (c % self.M) * N + v  # P[a, m, v] maps context (a, m) to context (m, v)
            val = S[nz]
            self.u = u.reshape(N, self.M)
            self.fwd = self._segments(c, dst, val)
            self.bwd = self._segments(dst, c, val)

    @staticmethod
    def _segments(src, dst, val):
        """Entries sorted by destination: (sources, values, segment starts, destinations)."""
        order = np.argsort(dst, kind="stable")
        src, dst, val = src[order], dst[order], val[order]
        starts = np.concatenate([[0], np.flatnonzero(np.diff(dst)) + 1])
        return src, val, starts, dst[starts]

    @staticmethod
    def _apply(x, seg, out):
        """``out[:, d] += Σ_{entries e → d} val_e · x[:, src_e]`` in row blocks."""
        src, val, starts, dst = seg
        if src.size == 0:
            return out
        block = max(1, SPARSE_BLOCK_BYTES // (8 * src.size))
        for r in range(0, x.shape[0], block):
            out[r: r + block, dst] += np.add.reduceat(x[r: r + block, src] * val, starts, axis=1)
        return out

    def forward(self, alpha, out):
        """``out[n, (m, v)] = Σ_a α[n, (a, m)] P[a, m, v]``; ``out`` (n, N^k) C-contiguous."""
        n, N, M = alpha.shape[0], self.N, self.M
        if self.sparse:
            g = np.einsum("nam,am->nm", alpha.reshape(n, N, M), self.u)
            out.reshape(n, M, N)[...] = g[:, :, None]
            return self._apply(alpha, self.fwd, out)
        np.matmul(alpha.reshape(n, N, M).transpose(2, 0, 1), self.P3t, out=out.reshape(n, M, N).transpose(1, 0, 2))
        return out

    def backward(self, beta, out):
        """``out[n, (a, m)] = Σ_v P[a, m, v] β[n, (m, v)]``; ``out`` (n, N^k) C-contiguous."""
        n, N, M = beta.shape[0], self.N, self.M
        if self.sparse:
            r = beta.reshape(n, M, N).sum(axis=2)
            np.multiply(self.u[None, :, :], r[:, None, :], out=out.reshape(n, N, M))
            return self._apply(beta, self.bwd, out)
        np.matmul(self.P3t, beta.reshape(n, M, N).transpose(1, 2, 0), out=out.reshape(n, N, M).transpose(2, 1, 0))
        return out


class ChainTensors:
    """What every pass uses, built once per chain by :func:`chain_tensors`.

    Attributes
    ----------
    P : ndarray, shape (N^{k+1},)
        The transitions, raveled (C order: the newest letter fastest).
    initial : ndarray, shape (N^k,)
        The law of the first k letters, raveled.
    N, k : int
    full : FullStep
        The all-hidden step, built on first use.
    """

    def __init__(self, transitions: np.ndarray, initial: np.ndarray):
        self.transitions = transitions
        self.N, self.k = transitions.shape[0], transitions.ndim - 1
        self.P = transitions.reshape(-1)
        self.initial = np.asarray(initial, dtype=np.float64).reshape(-1)
        self._full = None

    @property
    def full(self) -> FullStep:
        if self._full is None:
            self._full = FullStep(self.transitions)
        return self._full


def chain_tensors(transitions: np.ndarray, initial: np.ndarray) -> ChainTensors:
    """The :class:`ChainTensors` of a chain with ``transitions`` (N,)*(k+1) and
    ``initial`` (N,)*k (both validated by the caller)."""
    return ChainTensors(np.ascontiguousarray(transitions, dtype=np.float64), initial)


# ---------------------------------------------------------------------------------------
# Windows: a window of m consecutive positions has one bit per position (1 = hidden),
# oldest first; its factor is a dense array over the hidden letters in C order.
# ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _grid(N: int, bits: tuple) -> tuple:
    """(strides of the m positions, flat offsets of the hidden grid) in an N^m table."""
    m = len(bits)
    strides = tuple(N ** (m - 1 - q) for q in range(m))
    off = np.zeros(1, dtype=np.int64)
    for q in range(m):
        if bits[q]:
            off = (off[:, None] + strides[q] * np.arange(N)[None, :]).ravel()
    off.setflags(write=False)
    return strides, off


@functools.lru_cache(maxsize=None)
def _bits(code: int, m: int) -> tuple:
    """The m bits of ``code``, oldest (most significant) first."""
    return tuple((code >> (m - 1 - q)) & 1 for q in range(m))


def _gather(flat: np.ndarray, N: int, bits: tuple, letters: np.ndarray):
    """The factor of an N^m table over the hidden positions of a window, the visible ones
    fixed to ``letters`` (shape (m,), shared, or (n, m), one row each): shape (N^h,) or
    (n, N^h). ``None`` when every position is hidden (the whole table: :class:`FullStep`)."""
    if all(bits):
        return None
    strides, off = _grid(N, bits)
    base = 0
    for q, b in enumerate(bits):
        if not b:
            base = base + letters[..., q] * strides[q]
    if np.ndim(base) == 0:
        return flat[base + off]
    return flat[base[:, None] + off[None, :]]


def _forward(alpha, F, a_hidden, v_hidden, N, full, out=None):
    """α_{j+1}[n, (m, v)] = Σ_a α_j[n, (a, m)] F[(n,) a, m, v]: (n, A·M) → (n, M·V), with
    A = N if the oldest letter is hidden (else 1) and V = N if the new one is."""
    n = alpha.shape[0]
    A = N if a_hidden else 1
    M = alpha.shape[1] // A
    V = N if v_hidden else 1
    if out is None:
        out = np.empty((n, M * V))
    if F is None:
        return full.forward(alpha, out)
    a3, o3 = alpha.reshape(n, A, M), out.reshape(n, M, V)
    if F.ndim == 1:  # one factor for every row: a batched matrix product over m
        F3 = F.reshape(A, M, V)
        if A == 1:
            np.multiply(a3[:, 0, :, None], F3[0][None], out=o3)
        elif M == 1:
            np.matmul(a3[:, :, 0], F3[:, 0, :], out=o3[:, 0, :])
        else:
            np.matmul(a3.transpose(2, 0, 1), F3.transpose(1, 0, 2), out=o3.transpose(1, 0, 2))
    else:
        F4 = F.reshape(n, A, M, V)
        if A == 1:
            np.multiply(a3[:, 0, :, None], F4[:, 0], out=o3)
        else:
            np.einsum("nam,namv->nmv", a3, F4, out=o3)
    return out


def _backward(beta, F, a_hidden, v_hidden, N, full, out=None):
    """β_j[n, (a, m)] = Σ_v F[(n,) a, m, v] β_{j+1}[n, (m, v)]: (n, M·V) → (n, A·M)."""
    n = beta.shape[0]
    A = N if a_hidden else 1
    V = N if v_hidden else 1
    M = beta.shape[1] // V
    if out is None:
        out = np.empty((n, A * M))
    if F is None:
        return full.backward(beta, out)
    b3, o3 = beta.reshape(n, M, V), out.reshape(n, A, M)
    if F.ndim == 1:
        F3 = F.reshape(A, M, V)
        if V == 1:
            np.multiply(F3[None, :, :, 0], b3[:, None, :, 0], out=o3)
        elif M == 1:
            np.matmul(b3[:, 0, :], F3[:, 0, :].T, out=o3[:, :, 0])
        else:
            np.matmul(F3.transpose(1, 0, 2), b3.transpose(1, 2, 0), out=o3.transpose(2, 1, 0))
    else:
        F4 = F.reshape(n, A, M, V)
        if V == 1:
            np.multiply(F4[..., 0], b3[:, None, :, 0], out=o3)
        else:
            np.einsum("namv,nmv->nam", F4, b3, out=o3)
    return out


def _rescale(msg: np.ndarray) -> np.ndarray:
    """Rescale every row to sum 1 in place (a row of zeros stays zero); returns the
    logs of the sums (−inf for a zero row)."""
    s = msg.sum(axis=1)
    if s.min() > 0:
        msg /= s[:, None]
        return np.log(s)
    np.divide(msg, s[:, None], out=msg, where=s[:, None] > 0)
    with np.errstate(divide="ignore"):
        return np.log(s)


def _codes(hidden: np.ndarray, k: int) -> np.ndarray:
    """Window codes (b, Lw): code[:, j] = Σ_q hidden[:, j−k+1+q] << (k−1−q) for j ≥ k − 1
    (the newest letter is bit 0); 0 before."""
    b, Lw = hidden.shape
    h = hidden.astype(np.int64)
    codes = np.zeros((b, Lw), dtype=np.int64)
    for q in range(k):
        codes[:, k - 1:] |= h[:, q: Lw - k + 1 + q] << (k - 1 - q)
    return codes


def _groups(col: np.ndarray):
    """{code: rows (ascending)} and slot[r] = the index of row r among its code's rows."""
    order = np.argsort(col, kind="stable")
    sorted_codes = col[order]
    cuts = np.flatnonzero(np.diff(sorted_codes)) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [col.size]])
    groups, slot = {}, np.empty(col.size, dtype=np.int64)
    for a, b in zip(starts, ends):
        rows = order[a:b]
        groups[int(sorted_codes[a])] = rows
        slot[rows] = np.arange(b - a)
    return groups, slot


# ---------------------------------------------------------------------------------------
# Batches of rows
# ---------------------------------------------------------------------------------------
def _window_pass(ct: ChainTensors, tokens, hidden, want):
    """One chunk of rows: (log p(x^V) (b,), log p(x^i | x^V) (b, Lw) or None, laws
    (b, Lw, N) or None). ``want`` is "marginal" (forward only), "log" or "laws"."""
    b, Lw = tokens.shape
    N, k = ct.N, ct.k
    top = (1 << k) - 1
    codes = _codes(hidden, k)
    logZ = np.zeros(b)
    keep = want != "marginal"
    groups, slots, alphas = {}, {}, {}

    j = k - 1
    groups[j], slots[j] = _groups(codes[:, j])
    cur = {}
    for w, rows in groups[j].items():
        F = _gather(ct.initial, N, _bits(w, k), tokens[rows, :k])
        msg = np.tile(ct.initial, (rows.size, 1)) if F is None else F
        logZ[rows] += _rescale(msg)
        cur[w] = msg
    if keep:
        alphas[j] = cur
    for j in range(k - 1, Lw - 1):
        groups[j + 1], slots[j + 1] = _groups(codes[:, j + 1])
        nxt = {}
        for w2, rows2 in groups[j + 1].items():
            v = w2 & 1
            out = np.empty((rows2.size, N ** _bits(w2, k).count(1)))
            old = codes[rows2, j]
            for a in (0, 1):
                w = (w2 >> 1) | (a << (k - 1))
                sel = old == w
                if not sel.any():
                    continue
                r = rows2[sel]
                F = _gather(ct.P, N, _bits(w, k) + (v,), tokens[r, j - k + 1: j + 2])
                full = ct.full if F is None else None
                if sel.all():
                    _forward(cur[w][slots[j][r]], F, a, v, N, full, out=out)
                else:
                    out[sel] = _forward(cur[w][slots[j][r]], F, a, v, N, full)
            logZ[rows2] += _rescale(out)
            nxt[w2] = out
        cur = nxt
        if keep:
            alphas[j + 1] = cur
        else:
            del groups[j], slots[j]
    if not keep:
        return logZ, None, None

    logp = np.zeros((b, Lw))
    laws = np.zeros((b, Lw, N)) if want == "laws" else None

    def emit(j, w, rows, gamma):
        """Conditionals of the hidden letters of window j that are final here: the newest
        one, and at j = k − 1 every hidden one."""
        bits = _bits(w, k)
        hid = [q for q in range(k) if bits[q]]
        qs = hid if j == k - 1 else ([k - 1] if bits[k - 1] else [])
        if not qs:
            return
        g = gamma.reshape((rows.size,) + (N,) * len(hid))
        for q in qs:
            ax = 1 + hid.index(q)
            marg = g.sum(axis=tuple(a for a in range(1, g.ndim) if a != ax)) if g.ndim > 2 else g
            tot = marg.sum(axis=1)
            pos = j - k + 1 + q
            with np.errstate(divide="ignore", invalid="ignore"):
                logp[rows, pos] = np.log(marg[np.arange(rows.size), tokens[rows, pos]] / tot)
                if laws is not None:
                    laws[rows, pos] = marg / tot[:, None]

    betas = {w: np.ones((rows.size, N ** _bits(w, k).count(1))) for w, rows in groups[Lw - 1].items()}
    last = alphas.pop(Lw - 1)
    for w, rows in groups[Lw - 1].items():
        emit(Lw - 1, w, rows, last[w])
    for j in range(Lw - 2, k - 2, -1):
        new = {}
        aj = alphas.pop(j)
        for w, rows in groups[j].items():
            a = (w >> (k - 1)) & 1
            out = np.empty((rows.size, N ** _bits(w, k).count(1)))
            nxt_hidden = hidden[rows, j + 1]
            for v in (0, 1):
                sel = nxt_hidden == bool(v)
                if not sel.any():
                    continue
                r = rows[sel]
                w2 = ((w << 1) & top) | v
                F = _gather(ct.P, N, _bits(w, k) + (v,), tokens[r, j - k + 1: j + 2])
                full = ct.full if F is None else None
                if sel.all():
                    _backward(betas[w2][slots[j + 1][r]], F, a, v, N, full, out=out)
                else:
                    out[sel] = _backward(betas[w2][slots[j + 1][r]], F, a, v, N, full)
            _rescale(out)
            new[w] = out
            emit(j, w, rows, aj[w] * out)
        betas = new
    dead = np.isneginf(logZ)
    if dead.any():
        undefined = dead[:, None] & hidden
        logp[undefined] = np.nan
        if laws is not None:
            laws[undefined] = np.nan
    if laws is not None:
        vis = ~hidden
        laws[vis] = np.eye(N)[tokens[vis]]
    return logZ, logp, laws


def _rows(ct: ChainTensors, tokens, visible, want):
    """Validate (b, Lw) rows and run :func:`_window_pass` chunk by chunk (stored forward
    messages at most :data:`ROW_CHUNK_BYTES` per chunk)."""
    tokens = np.asarray(tokens, dtype=np.int64)
    hidden = ~np.asarray(visible, dtype=bool)
    if tokens.ndim != 2 or hidden.shape != tokens.shape or tokens.shape[1] < ct.k:
        raise ValueError(f"`tokens` and `visible` must have one shape (b, Lw) with Lw >= k={ct.k} "
                         f"(got {tokens.shape} and {hidden.shape}).")
    b, Lw = tokens.shape
    per_row = np.zeros(b)
    if want != "marginal":
        n_hidden = subset_sizes(ct.k)[_codes(hidden, ct.k)[:, ct.k - 1:]]
        per_row = (float(ct.N) ** n_hidden).sum(axis=1) * 8.0
    logZ = np.empty(b)
    logp = np.empty((b, Lw)) if want != "marginal" else None
    laws = np.empty((b, Lw, ct.N)) if want == "laws" else None
    start = 0
    while start < b:
        cum = np.cumsum(per_row[start:])
        stop = start + max(1, int(np.searchsorted(cum, ROW_CHUNK_BYTES, side="right")))
        sl = slice(start, stop)
        z, lp, lw = _window_pass(ct, tokens[sl], hidden[sl], want)
        logZ[sl] = z
        if logp is not None:
            logp[sl] = lp
        if laws is not None:
            laws[sl] = lw
        start = stop
    return logZ, logp, laws


def _forward_one(ct: ChainTensors, tokens, hidden) -> float:
    """log p(x^V) of one row (Lw,): the forward pass of :func:`_window_pass` without the
    grouping of rows. A step whose k + 1 letters are all visible keeps the point mass
    (the message over no hidden letter is [1]) and multiplies by one transition, so
    those steps are summed at once: log p(x^V) = Σ_{visible steps} log P(x^{j+1} | w_j)
    + the logs of the scales of the other steps."""
    N, k, Lw = ct.N, ct.k, tokens.size
    code = _codes(hidden[None], k)[0]
    step_hidden = (code[k - 1: Lw - 1] != 0) | hidden[k:]
    grams = np.zeros(Lw - k, dtype=np.int64)
    for q in range(k + 1):
        grams = grams * N + tokens[q: Lw - k + q]
    with np.errstate(divide="ignore"):
        total = float(np.log(ct.P[grams[~step_hidden]]).sum())
    w = int(code[k - 1])
    F = _gather(ct.initial, N, _bits(w, k), tokens[:k])
    msg = (ct.initial if F is None else F)[None, :].copy()
    total += float(_rescale(msg)[0])
    letters, codes, hid = tokens.tolist(), code.tolist(), hidden.tolist()
    for j in (k - 1 + np.flatnonzero(step_hidden)).tolist():
        if total == -math.inf:
            break
        w, v = codes[j], int(hid[j + 1])
        bits = _bits(w, k) + (v,)
        if all(bits):
            F = None
        else:  # _gather with plain ints: this loop runs once per hidden step of one row
            strides, off = _grid(N, bits)
            F = ct.P[sum(letters[j - k + 1 + q] * strides[q] for q in range(k + 1) if not bits[q]) + off]
        msg = _forward(msg, F, (w >> (k - 1)) & 1, v, N, ct.full if F is None else None)
        scale = float(msg.sum())
        if scale <= 0.0:
            return -math.inf
        msg /= scale
        total += math.log(scale)
    return total


def log_subsequences(ct: ChainTensors, tokens, visible) -> np.ndarray:
    """log p(x_b^{V_b}) for every row: one forward pass of window messages.

    Parameters
    ----------
    ct : ChainTensors
    tokens : int array, shape (b, Lw), Lw ≥ k
        The letters (ignored where hidden).
    visible : bool array, shape (b, Lw)

    Returns
    -------
    ndarray, shape (b,)
        log p(x^V) in nats; 0 for a row with nothing visible, −inf where it is 0.

    Examples
    --------
    >>> import numpy as np

from ..sequences.masks import subset_sizes
    >>> ct = chain_tensors(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([2 / 3, 1 / 3]))
    >>> out = log_subsequences(ct, np.array([[0, 1, 1], [0, 0, 1]]), np.array([[1, 0, 1], [1, 1, 1]], bool))
    >>> bool(np.allclose(np.exp(out), [2 / 3 * (0.9 * 0.1 + 0.1 * 0.8), 2 / 3 * 0.9 * 0.1], rtol=1e-14, atol=0))
    True
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    if tokens.ndim == 2 and tokens.shape[0] == 1 and tokens.shape[1] >= ct.k and np.shape(visible) == tokens.shape:
        return np.array([_forward_one(ct, tokens[0], ~np.asarray(visible, dtype=bool)[0])])
    return _rows(ct, tokens, visible, "marginal")[0]


def log_conditionals(ct: ChainTensors, tokens, visible):
    """log p(x_b^i | x_b^{V_b}) at every hidden position of every row, and log p(x_b^{V_b}).

    Returns
    -------
    logp : ndarray, shape (b, Lw)
        At hidden positions the log-conditional of the row's letter there (−inf where that
        conditional is 0); 0 at visible positions; ``nan`` at the hidden positions of a
        row whose visible letters have probability 0 (undefined).
    log_subsequence : ndarray, shape (b,)
    """
    logZ, logp, _ = _rows(ct, tokens, visible, "log")
    return logp, logZ


def posteriors(ct: ChainTensors, tokens, visible) -> np.ndarray:
    """p(x^j = v | the visible letters of row b) for every row b, position j, letter v.

    Returns
    -------
    ndarray, shape (b, Lw, N)
        The conditional law at hidden positions, the one-hot of the letter at visible
        ones; ``nan`` at the hidden positions of a row whose visible letters have
        probability 0 (undefined; the callers raise).
    """
    return _rows(ct, tokens, visible, "laws")[2]


# ---------------------------------------------------------------------------------------
# One sequence, every subset of a target: meet in the middle
# ---------------------------------------------------------------------------------------
def _default_left(n: int, n_min: int, N: int, k: int) -> int:
    """Targets on the forward side. The backward messages at the split are dense over
    N^k windows (2^{n_R} of them), the forward ones are trie rows over window factors;
    benchmarked at N = 27, |T| = 16: n_R = 4 at k = 1, 6 at k = 2..4 (about 1.3× and 3×
    faster than an even split at k = 3 and 4). An even split for N ≤ 8."""
    right = (4 if k == 1 else 6) if N > 8 else n // 2
    return int(min(n, max(n_min, n - right)))


def _split(ct, roles, n_left):
    T = np.flatnonzero(np.asarray(roles) == FREE)
    n = T.size
    if n == 0:
        raise ValueError("`roles` must mark at least one target (FREE) position.")
    n_min = int(np.sum(T <= ct.k - 1))
    nL = _default_left(n, n_min, ct.N, ct.k) if n_left is None else int(n_left)
    if not n_min <= nL <= n:
        raise ValueError(f"`n_left` must lie in {n_min}..{n} (got {n_left}).")
    s = max(ct.k - 1, int(T[nL - 1])) if nL > 0 else ct.k - 1
    return T, n, nL, s


def subset_table_bytes(ct: ChainTensors, roles, n_left=None) -> int:
    """Peak memory of :func:`subset_log_z` (an upper estimate): the dense backward
    messages (2^{n_R} N^k, with the step's temporaries), the forward messages at the
    split (Σ over the left patterns of N^{hidden letters of the window at s}) and the
    tables over 2^n subsets."""
    roles = np.asarray(roles)
    T, n, nL, s = _split(ct, roles, n_left)
    N, k = ct.N, ct.k
    left = 2.0 ** (nL - sum(1 for p in range(s - k + 1, s + 1) if roles[p] == FREE))
    for p in range(s - k + 1, s + 1):
        left *= (1 + N) if roles[p] == FREE else (N if roles[p] == HIDDEN else 1)
    right = 2.0 ** (n - nL) * N**k
    return int(8 * (3 * right + 3 * left + 6 * 2**n))


def subset_log_z(ct: ChainTensors, tokens, roles, *, n_left=None) -> np.ndarray:
    """log Z(J) = log p(x^{J ∪ C}) for every subset J of the target T, by meet in the middle.

    .. math::

        Z(J_L \\cup J_R) = \\sum_h \\alpha_s^{J_L}(h)\\, \\beta_s^{J_R}(h)

    where s splits T into T_L (positions ≤ s, |T_L| = n_L) and T_R (> s), α_s^{J_L} is the
    forward message at s over the hidden letters h of the window (x^{s−k+1..s}) when J_L
    and C are visible, and β_s^{J_R} the backward message p(x^{(J_R ∪ C) ∩ (s, Lw)} | window).
    Work O(2^{n_L} · step + 2^{n_R} N^{k+1} + 2^n E[N^h]); memory
    :func:`subset_table_bytes`.

    Parameters
    ----------
    ct : ChainTensors
    tokens : int array, shape (Lw,), Lw ≥ k
    roles : int array, shape (Lw,)
        :data:`HIDDEN` (summed out), :data:`VISIBLE` (the context C) or :data:`FREE` (T).
    n_left : int, optional
        Targets on the forward side (default: a benchmarked rule).

    Returns
    -------
    ndarray, shape (2^n,)
        Entry J (bit q set ⇔ the q-th target position, ascending, is visible) is
        log p(x^{J ∪ C}); −inf where that probability is 0.

    Examples
    --------
    >>> import numpy as np

from ..sequences.masks import subset_sizes
    >>> P, pi = np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([2 / 3, 1 / 3])
    >>> ct = chain_tensors(P, pi)
    >>> log_z = subset_log_z(ct, [0, 1, 1], np.array([VISIBLE, FREE, FREE]))   # C = {0}, T = {1, 2}
    >>> ref = [2 / 3, 2 / 3 * 0.1, 2 / 3 * (0.9 * 0.1 + 0.1 * 0.8), 2 / 3 * 0.1 * 0.8]  # J = ∅, {1}, {2}, {1, 2}
    >>> bool(np.allclose(np.exp(log_z), ref, rtol=1e-14, atol=0))
    True
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    roles = np.asarray(roles)
    N, k = ct.N, ct.k
    Lw = tokens.size
    T, n, nL, s = _split(ct, roles, n_left)
    bit_of = {int(p): q for q, p in enumerate(T)}
    top = (1 << k) - 1

    def branches(p):
        """(hidden bit, visible-set increment) options for position p."""
        if roles[p] == FREE:
            return ((1, 0), (0, 1 << bit_of[p]))
        return ((0 if roles[p] == VISIBLE else 1, 0),)

    def advance(groups, tasks_of, kernel):
        """One trie step: each (source group, branch) task writes its block into the new
        group of its code; every new message is rescaled to sum 1 (log scales carried)."""
        tasks, rows = [], {}
        for w, (ids, _, _) in groups.items():
            for w2, kargs, inc in tasks_of(w):
                tasks.append((w, w2, kargs, inc, rows.get(w2, 0)))
                rows[w2] = rows.get(w2, 0) + ids.size
        new = {w2: (np.empty(r, dtype=np.int64), np.empty((r, N ** _bits(w2, k).count(1))), np.empty(r))
               for w2, r in rows.items()}
        for w, w2, kargs, inc, at in tasks:
            ids, msg, ls = groups[w]
            sl = slice(at, at + ids.size)
            kernel(msg, *kargs, out=new[w2][1][sl])
            new[w2][0][sl] = ids | inc
            new[w2][2][sl] = ls
        for _, msg, ls in new.values():
            ls += _rescale(msg)
        return new

    def start(combos, make):
        parts = {}
        for bits, ids in combos:
            parts.setdefault(int("".join(map(str, bits)), 2), []).append((ids, make(bits)))
        out = {}
        for w, ps in parts.items():
            msg = np.stack([p[1] for p in ps])
            out[w] = (np.array([p[0] for p in ps], dtype=np.int64), msg, _rescale(msg))
        return out

    def factor(w, v, j, a):
        """Kernel arguments of the step between windows j and j + 1."""
        F = _gather(ct.P, N, _bits(w, k) + (v,), tokens[j - k + 1: j + 2])
        return F, a, v, N, ct.full if F is None else None

    # Forward trie over positions 0..s.
    combos = [((), 0)]
    for p in range(k):
        combos = [(bits + (b,), ids | inc) for bits, ids in combos for b, inc in branches(p)]

    def first(bits):
        msg = _gather(ct.initial, N, bits, tokens[:k])
        return np.array(ct.initial if msg is None else np.atleast_1d(msg), dtype=np.float64)

    fwd = start(combos, first)
    for j in range(k - 1, s):
        def tasks_of(w, j=j):
            a = (w >> (k - 1)) & 1
            return [(((w << 1) & top) | v, factor(w, v, j, a), inc) for v, inc in branches(j + 1)]
        fwd = advance(fwd, tasks_of, _forward)

    # Backward trie over positions Lw−1 down to s; positions ≤ s are left to the forward side.
    def rbranches(p):
        return ((1, 0),) if p <= s else branches(p)

    combos = [((), 0)]
    for p in range(Lw - k, Lw):
        combos = [(bits + (b,), ids | inc) for bits, ids in combos for b, inc in rbranches(p)]
    bwd = start(combos, lambda bits: np.ones(N ** sum(bits)))
    for j in range(Lw - 2, s - 1, -1):
        def tasks_of(w2, j=j):
            v = w2 & 1
            out = []
            for a, inc in rbranches(j - k + 1):  # the position entering the window
                w = (a << (k - 1)) | (w2 >> 1)
                out.append((w, factor(w, v, j, a), inc))
            return out
        bwd = advance(bwd, tasks_of, _backward)
    (idsR, beta, lsR), = bwd.values()  # the window at s is free on this side: dense over N^k

    log_z = np.full(2**n, np.nan)
    for w, (idsL, alpha, lsL) in fwd.items():
        bits = _bits(w, k)
        strides, off = _grid(N, bits)
        base = sum(int(tokens[s - k + 1 + q]) * strides[q] for q in range(k) if not bits[q])
        Z = alpha @ beta[:, base + off].T
        with np.errstate(divide="ignore"):
            log_z[idsL[:, None] | idsR[None, :]] = np.log(Z) + lsL[:, None] + lsR[None, :]
    return log_z


def subset_losses(log_z) -> np.ndarray:
    """ℓ(J) = Σ_{i ∈ T∖J} −log p(x^i | x^{J ∪ C}) = Σ_{i ∉ J} [log Z(J) − log Z(J ∪ {i})]
    for every J (ℓ(T) = 0), from the table of :func:`subset_log_z`; shape (2^n,).

    ``inf`` where Z(J) > 0 and some Z(J ∪ {i}) = 0 (an impossible letter); ``nan`` where
    Z(J) = 0 (a conditional given an impossible context: undefined)."""
    log_z = np.asarray(log_z, dtype=np.float64)
    n = int(round(math.log2(log_z.size))) if log_z.size else -1
    if log_z.ndim != 1 or n < 1 or log_z.size != 2**n:
        raise ValueError(f"`log_z` must have shape (2^n,) with n >= 1 (got {log_z.shape}).")
    # Axis n−1−q of the (2,)*n view is bit q of J; index 0 there = target q masked.
    z = log_z.reshape((2,) * n)
    ell = np.zeros((2,) * n)
    with np.errstate(invalid="ignore"):
        for q in range(n):
            lo = (slice(None),) * (n - 1 - q) + (0,)
            hi = (slice(None),) * (n - 1 - q) + (1,)
            ell[lo] += z[lo] - z[hi]
    return ell.ravel()


def subset_terms(ct: ChainTensors, tokens, roles) -> np.ndarray:
    """h_m = Σ_{J ⊆ T, |J| = m} ℓ(J), m = 0..|T|−1 (Theorem 4.1 / Corollary 4.3), from
    :func:`subset_losses`. The caller ensures p(x^{T ∪ C}) > 0; every Z(J) is then
    positive, and a zero means a value below the float64 range."""
    ell = subset_losses(subset_log_z(ct, tokens, roles))
    n = int(round(math.log2(ell.size)))
    if not np.all(np.isfinite(ell)):
        raise FloatingPointError(
            "a marginal p0(x^{J ∪ C}) of a sequence with positive probability fell outside the float64 "
            "range (below about 1e-308); the chain's transition probabilities are too extreme for the "
            "linear-space messages."
        )
    return np.bincount(subset_sizes(n), weights=ell, minlength=n + 1)[:n]
