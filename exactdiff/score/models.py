"""Built-in score models: the exact concrete score of a table and a corrupted one.

- :class:`OracleScore` — the exact concrete score s* of a table p0;
- :class:`CorruptedScore` — a score tempered and mixed towards the reference score of the
  process started from the uniform data law (as :class:`~exactdiff.CorruptedDenoiser`);
- :func:`reference_scores` — that reference score.

The score of a denoiser (Lemma 3.3) is :class:`~exactdiff.score.bridge.DenoiserScore`.
"""

from __future__ import annotations

import numpy as np

from ..core import memory
from ..core.tensor import apply_all
from ..core.validation import as_table, as_token_array
from .protocol import evaluate_score_model

__all__ = ["OracleScore", "CorruptedScore", "reference_scores"]


def validate_token_wise(process):
    """``process`` if it is token-wise (a score model scores the neighbours x^{i←v} of a
    token-wise process), else ``ValueError``."""
    if not getattr(process, "token_wise", False):
        raise ValueError(f"`process` must be a token-wise ForwardProcess (got {process!r}).")
    return process


def reference_scores(process, sigma_bar, x) -> np.ndarray:
    """The concrete score of the process started from the uniform data law, (B, L, n).

    Token-wise, s_ref(x)_{i,v} = π_σ̄(v)/π_σ̄(x^i) with π_σ̄ the law of one token from a
    uniform data token (:meth:`~exactdiff.ForwardProcess.uniform_start_law`): 1 for the
    uniform process; ((1−λ)/λ)/N for the unmasking moves of the absorbing process
    (λ = 1 − e^{−σ̄}). The prior term of the DSE likelihood is the KL to this law.
    Entries whose denominator is 0 are returned as 1 (they have DSE weight 0).
    """
    x = np.asarray(x, dtype=np.int64)
    pi = process.uniform_start_law(np.asarray(sigma_bar, dtype=np.float64))  # (B, n)
    den = np.take_along_axis(pi, x, axis=1)[:, :, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, pi[:, None, :] / den, 1.0)


class OracleScore:
    """The exact concrete score s*(x)_{i,v} = p_σ̄(x^{i←v}) / p_σ̄(x) of a table p0.

    p_σ̄ = (k along every axis) p0 with k = exp(σ̄ Q^tok) restricted to the data tokens,
    computed from σ̄ directly (a model sees only σ̄, never t). Two routes, chosen by cost
    for each call:

    - **table** (one σ̄ for the whole batch, many rows: enumeration): the full marginal
      table of n^L entries, then gathers (or shifts along each axis, on the full grid);
    - **support** (Monte Carlo batches, one σ̄ per row): p_σ̄(y) = Σ_z p0(z) Π_j k(y^j|z^j)
      over the K support points z of p0, for x and its L·n neighbours.

    Where p_σ̄(x) = 0 (absorbing: x unreachable from the support) the score is undefined
    and returned as 1; such states are never visited from an x0 in the support. Where
    p_σ̄(y) = 0 (absorbing, sparse p0) the score is exactly 0 and the DSE term is
    0·log 0 = 0 (r = 0 there too).

    Capabilities (:mod:`~exactdiff.score.protocol`): ``exact_support(process)`` and, under
    the absorbing process, ``single_token_losses(x0, process)``.

    Parameters
    ----------
    p0 : Distribution or array, shape (N,)*L
    process : ForwardProcess
        Token-wise, with N data tokens.

    Attributes
    ----------
    table : ndarray (N,)*L
    support_points : int ndarray (K, L)
        The sequences with p0 > 0.
    L, n : int

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> p0 = ed.Distribution.dirichlet(2, 2, seed=0); proc = ed.uniform(2)
    >>> s = ed.OracleScore(p0, proc)(np.array([[0, 1]]), np.array([proc.total(0.3)]))
    >>> ref = ed.concrete_score(p0, proc, 0.3)[0, 1]          # neighbour form at x = (0, 1)
    >>> bool(np.allclose(s[0], ref, rtol=1e-13, atol=0))
    True
    """

    log_scores = False

    def __init__(self, p0, process):
        validate_token_wise(process)
        table = as_table(p0)
        if table.shape[0] != process.N:
            raise ValueError(f"`p0` has N={table.shape[0]} tokens but the process has N={process.N} data tokens.")
        memory.refuse(8 * (process.n ** table.ndim) * (2 + table.ndim * process.n),
                      f"the oracle score of a table with n={process.n}, L={table.ndim}")
        self.table, self.process, self.L, self.n = table, process, table.ndim, process.n
        self.alphabet = getattr(p0, "alphabet", None)
        flat = table.ravel()
        support = np.flatnonzero(flat > 0)
        self._weights = flat[support]
        self.support_points = np.stack(np.unravel_index(support, table.shape), axis=1)  # (K, L)
        self._strides = process.n ** np.arange(self.L - 1, -1, -1)

    def __repr__(self):
        return f"OracleScore(N={self.process.N}, L={self.L}, {self.process!r})"

    def marginal(self, sigma_bar) -> np.ndarray:
        """The forward marginal p_σ̄ as a table of shape (n,)*L."""
        k = self.process.kernels(np.float64(sigma_bar))[:, : self.process.N]
        return apply_all(k, self.table)

    # -- capabilities ---------------------------------------------------------------------
    def exact_support(self, process):
        """(support points (K, L), probabilities (K,)) of p0 when ``process`` has this
        model's generator (a model sees only σ̄, so the schedule does not matter), else None."""
        if not np.array_equal(process.Q, self.process.Q):
            return None
        return self.support_points, self._weights

    def single_token_losses(self, x0, process):
        """ℓ_j = −log p0(x0^j | x0^{−j}), j = 1..L, under this model's absorbing process
        (else None): the loss of each single masked token."""
        if process.kind != "absorbing" or not np.array_equal(process.Q, self.process.Q):
            return None
        x0 = np.asarray(x0, dtype=np.int64)
        out = np.empty(self.L)
        for j in range(self.L):
            column = np.moveaxis(self.table, j, 0)[(slice(None),) + tuple(np.delete(x0, j))]
            with np.errstate(divide="ignore"):
                out[j] = np.log(column.sum()) - np.log(self.table[tuple(x0)])
        return out

    def __call__(self, x, sigma_bar):
        x = as_token_array(x, self.n, "x")
        if x.shape[1] != self.L:
            raise ValueError(f"`x` must have L={self.L} columns (got {x.shape[1]}).")
        sigma_bar = np.asarray(sigma_bar, dtype=np.float64)
        K, L, n = self._weights.size, self.L, self.n
        if sigma_bar.size and np.all(sigma_bar == sigma_bar[0]):  # one σ̄ (enumeration)
            if x.shape[0] * K * (n + 3) >= 4 * n ** (L + 1):  # the table route is cheaper
                return self._table_route(x, sigma_bar[0])
            return self._support_route(x, self.process.kernels(sigma_bar[:1]), same=True)
        return self._support_route(x, self.process.kernels(sigma_bar), same=False)

    @staticmethod
    def _ratios(px, py):
        with np.errstate(divide="ignore", invalid="ignore"):
            s = py / px[:, None, None]
        return np.where(px[:, None, None] > 0, s, 1.0)

    def _table_route(self, x, sbar):
        table = self.marginal(sbar)
        S = self.n**self.L
        idx = x @ self._strides
        if x.shape[0] == S and np.array_equal(idx, np.arange(S)):
            return self._grid_ratios(table)
        p = table.ravel()
        nbr = idx[:, None, None] + (np.arange(self.n)[None, None, :] - x[:, :, None]) * self._strides[None, :, None]
        return self._ratios(p[idx], p[nbr])

    def _grid_ratios(self, p, block=4096):
        """All ratios on the full grid in C order, p(x^{i←v})/p(x), block by block.

        The rows are taken in aligned blocks of C = n^k <= ``block`` states, so that the
        output block stays in cache while every axis is written: an axis inside the block
        (the last k) by broadcasting within it, an axis outside it (x^i fixed in the
        block) by n contiguous slices of p shifted by (v − x^i)·stride_i.
        """
        L, n = self.L, self.n
        S = n**L
        flat = p.ravel()
        zero = flat == 0
        inv = 1.0 / np.where(zero, 1.0, flat)
        k = 1
        while k < L and n ** (k + 1) <= block:
            k += 1
        C = n**k
        out = np.empty((S, L, n))
        for r0 in range(0, S, C):
            oc, ic, pc = out[r0: r0 + C], inv[r0: r0 + C], flat[r0: r0 + C]
            for i in range(L):
                if i >= L - k:  # the axis varies inside the block
                    A, B = n ** (i - (L - k)), n ** (L - i - 1)
                    np.multiply(np.swapaxes(pc.reshape(A, n, B), 1, 2)[:, None, :, :], ic.reshape(A, n, B, 1),
                                out=oc[:, i, :].reshape(A, n, B, n))
                else:  # x^i is the same for the whole block
                    stride = int(self._strides[i])
                    start = r0 - ((r0 // stride) % n) * stride
                    for v in range(n):
                        np.multiply(flat[start + v * stride: start + v * stride + C], ic, out=oc[:, i, v])
        if zero.any():
            out[zero] = 1.0
        return out

    def _support_route(self, x, k, same, chunk=1 << 21):
        """p(y) = Σ_z p0(z) Π_j k(y^j | z^j) over the support z for x and its neighbours;
        ``k`` is one kernel (1, n, n) for every row (``same``) or one per row (B, n, n)."""
        Z, w = self.support_points, self._weights
        K, L, n = Z.shape[0], self.L, self.n
        out = np.empty((x.shape[0], L, n))
        step = max(1, chunk // max(1, K * L * n))
        for a in range(0, x.shape[0], step):
            xb = x[a: a + step]
            kb = k if same else k[a: a + step]
            rows = np.zeros(xb.shape[0], dtype=np.int64) if same else np.arange(xb.shape[0])
            f = kb[rows[:, None, None], xb[:, None, :], Z[None, :, :]]  # (c, K, L): k(x^j | z^j)
            ones = np.ones(f.shape[:2] + (1,))
            pre = np.concatenate([ones, np.cumprod(f, axis=2)[:, :, :-1]], axis=2)
            suf = np.concatenate([np.cumprod(f[:, :, ::-1], axis=2)[:, :, ::-1][:, :, 1:], ones], axis=2)
            loo = pre * suf * w[None, :, None]  # w_z Π_{j≠i} k(x^j | z^j)
            px = (f.prod(axis=2) * w).sum(axis=1)
            if same:
                py = np.einsum("czi,vzi->civ", loo, kb[0][:, Z], optimize=True)
            else:
                py = np.einsum("czi,cvzi->civ", loo, kb[:, :, Z], optimize=True)
            out[a: a + step] = self._ratios(px, py)
        return out


class CorruptedScore:
    """A score tempered and mixed towards the reference score s_ref:

    .. math:: s'(x)_{i,v} = (1-\\varepsilon)\\, s_{ref}^{\\,1 - 1/T}\\, s^{1/T} + \\varepsilon\\, s_{ref},

    where s is the base model's score and s_ref the concrete score of the process started
    from the uniform data law (:func:`reference_scores`: 1 for the uniform process,
    ((1−λ)/λ)/N for the unmasking moves of the absorbing one, so that s' keeps the
    decay of s as σ̄ → ∞). T > 1 flattens the ratios s/s_ref, ε > 0 mixes in the
    reference; ε = 0 and T = 1 give ``base`` back. The analogue of
    :class:`~exactdiff.CorruptedDenoiser` for scores.

    Parameters
    ----------
    base : score model
    process : ForwardProcess
    epsilon : float in [0, 1]
    temperature : float > 0
    """

    log_scores = False

    def __init__(self, base, process, epsilon: float = 0.0, temperature: float = 1.0):
        validate_token_wise(process)
        if not 0.0 <= float(epsilon) <= 1.0:
            raise ValueError(f"`epsilon` must lie in [0, 1] (got {epsilon}).")
        if not (np.isfinite(temperature) and float(temperature) > 0):
            raise ValueError(f"`temperature` must be a finite number > 0 (got {temperature}).")
        self.base, self.process = base, process
        self.epsilon, self.temperature = float(epsilon), float(temperature)
        self.L = getattr(base, "L", None)
        self.alphabet = getattr(base, "alphabet", None)

    def __repr__(self):
        return f"CorruptedScore({self.base!r}, epsilon={self.epsilon:g}, temperature={self.temperature:g})"

    def __call__(self, x, sigma_bar):
        s = evaluate_score_model(self.base, self.process, sigma_bar, x)
        ref = reference_scores(self.process, sigma_bar, x)
        a = 1.0 / self.temperature
        return (1 - self.epsilon) * ref ** (1 - a) * s**a + self.epsilon * ref
