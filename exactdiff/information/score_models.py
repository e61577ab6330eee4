"""The score-model protocol and built-in score models: bring your own score network.

A **score model** is any callable ``model(x, sigma_bar) -> scores`` with

- ``x``: an integer array of shape (B, L) of noisy states, tokens 0..n−1 (n = N for the
  uniform process, N + 1 for the absorbing one, whose mask is token N);
- ``sigma_bar``: a float array of shape (B,) of total noise σ̄(t) > 0, one per row;
- ``scores``: a positive array of shape (B, L, n), where ``scores[b, i, v]`` estimates
  the concrete score p_t(x with x^i ← v) / p_t(x) (MATH.md, "Optimal (concrete) score").

A model that sets the attribute ``log_scores = True`` returns log-scores instead (what a
SEDD network outputs); one that sets ``allows_zero = True`` may return exact zeros (the
oracle of a sparse table under the absorbing process does: p_t(y) = 0 there). An
attribute ``L`` fixes the sequence length the model accepts.

**A model sees only σ̄.** So ℓ_DSE(x0, x, t, s) = σ(t)·h(x0, x, σ̄) and every time
integral of the DSE is an integral over σ̄ (:mod:`~exactdiff.information.dse_likelihood`).

**Which entries are used.** The DSE (MATH.md) weighs the entry (i, v) of the state x by
the rate Q^tok(x^i, v) from the neighbour x^{i←v} **into** x. Only entries with that
weight positive and v ≠ x^i enter: for the uniform process every v ≠ x^i; for the
absorbing process the unmasking moves v < N at masked positions. :func:`evaluate_score_model`
validates those entries (finite, > 0, or = 0 where the model allows zeros) and ignores
the others.

Built-in models:

- :class:`OracleScore` — the exact concrete score s* of a table p0;
- :class:`CorruptedScore` — a score tempered and mixed towards the score of the
  process started from the uniform data law (as :class:`~exactdiff.CorruptedDenoiser`);
- :class:`DenoiserScore` — the score a denoiser implies under the absorbing process by
  Lemma 3.3, so every denoiser is a score model.

:func:`load_score_model` resolves a built-in name or a ``"module:callable"`` import path.

A torch network plugs in through a small wrapper (torch is not a dependency)::

    def torch_score(net, device="cpu"):
        import torch

        @torch.no_grad()
        def model(x, sigma_bar):
            out = net(torch.as_tensor(x, device=device), torch.as_tensor(sigma_bar, device=device))
            return out.double().cpu().numpy()              # (B, L, n) log-scores
        model.log_scores = True
        return model
"""

from __future__ import annotations

import importlib
import math

import numpy as np

from ..core import memory
from ..core.tensor import apply_all
from ..core.validation import as_table, as_token_array
from ..masked.denoisers import CorruptedDenoiser, OracleDenoiser, evaluate_denoiser
from ..process.forward import transition_kernel

__all__ = [
    "evaluate_score_model",
    "check_sigma_bar",
    "OracleScore",
    "CorruptedScore",
    "DenoiserScore",
    "as_log_score_model",
    "load_score_model",
    "import_callable",
    "SCORE_MODELS",
    "process_kind",
    "token_kernels",
    "score_entry_weights",
    "sigma_bar_max",
    "reference_scores",
]


# -- the process, token by token ---------------------------------------------------------------
def process_kind(process) -> str:
    """``"uniform"``, ``"absorbing"`` or ``"general"`` (another token-wise generator).

    Raises ``ValueError`` for a process that is not token-wise: a score model scores the
    neighbours x^{i←v} of a token-wise process.
    """
    if not getattr(process, "token_wise", False):
        raise ValueError(f"`process` must be a token-wise ForwardProcess (got {process!r}).")
    n, N, Q = process.n, process.N, process.Q
    if n == N and np.array_equal(Q, np.full((N, N), 1.0 / N) - np.eye(N)):
        return "uniform"
    absorbing = np.zeros((N + 1, N + 1))
    absorbing[np.arange(N), np.arange(N)] = -1.0
    absorbing[N, :N] = 1.0
    if n == N + 1 and np.array_equal(Q, absorbing):
        return "absorbing"
    return "general"


def token_kernels(process, sigma_bar) -> np.ndarray:
    """k = exp(σ̄ Q^tok) for an array of total noises, shape ``sigma_bar.shape + (n, n)``.

    ``k[..., y, x]`` is p(y | x) for one token. Closed forms for the uniform process,
    k = e^{−σ̄} I + (1 − e^{−σ̄}) 11ᵀ/N, and the absorbing one, k(x|x) = e^{−σ̄},
    k(M|x) = 1 − e^{−σ̄} (MATH.md), with σ̄ = ∞ allowed; other generators by
    :func:`~exactdiff.process.forward.transition_kernel` (``scipy.linalg.expm``,
    structurally unreachable entries exactly 0), once per distinct σ̄.

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> k = token_kernels(ed.uniform(3), np.array([0.4, 2.0]))
    >>> bool(np.allclose(k[1], ed.process.uniform_kernel(3, 2.0), rtol=0, atol=1e-15))
    True
    """
    sbar = np.asarray(sigma_bar, dtype=np.float64)
    if np.any(~(sbar >= 0)):
        raise ValueError(f"`sigma_bar` must be a total noise >= 0 (got minimum {np.nanmin(sbar)}).")
    kind, n, N = process_kind(process), process.n, process.N
    decay = np.exp(-sbar)[..., None, None]
    jumped = (-np.expm1(-sbar))[..., None, None]  # 1 − e^{−σ̄} without cancellation
    if kind == "uniform":
        return decay * np.eye(N) + jumped / N
    if kind == "absorbing":
        k = np.zeros(sbar.shape + (n, n))
        k[..., np.arange(N), np.arange(N)] = decay[..., 0]
        k[..., N, :N] = jumped[..., 0]
        k[..., N, N] = 1.0
        return k
    if np.any(np.isinf(sbar)):
        raise ValueError("`sigma_bar` = inf is supported for the uniform and absorbing processes only.")
    values, inverse = np.unique(sbar, return_inverse=True)
    ks = np.stack([transition_kernel(process.Q, float(s), process.reachable) for s in values])
    return ks[inverse.reshape(sbar.shape)]


def score_entry_weights(process) -> np.ndarray:
    """W[a, v] = Q^tok(a, v) for v ≠ a and 0 on the diagonal, shape (n, n): the rate from
    v **into** a. The DSE weight of the entry (i, v) at the state x is σ(t)·W[x^i, v]."""
    Q = np.asarray(process.Q, dtype=np.float64)
    return Q - np.diag(np.diag(Q))


def reference_scores(process, sigma_bar, x) -> np.ndarray:
    """The concrete score of the process started from the uniform data law, (B, L, n).

    Token-wise, π_σ̄(v) = Σ_{a<N} k(v|a)/N and s_ref(x)_{i,v} = π_σ̄(v)/π_σ̄(x^i): 1 for the
    uniform process; ((1−λ)/λ)/N for the unmasking moves of the absorbing process
    (λ = 1 − e^{−σ̄}). The prior term of the DSE likelihood is the KL to this law.
    Entries whose denominator is 0 are returned as 1 (they have DSE weight 0).
    """
    sbar = np.asarray(sigma_bar, dtype=np.float64)
    x = np.asarray(x, dtype=np.int64)
    k = token_kernels(process, sbar)  # (B, n, n)
    pi = k[..., :, : process.N].sum(axis=-1) / process.N  # (B, n)
    den = np.take_along_axis(pi, x, axis=1)[:, :, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, pi[:, None, :] / den, 1.0)


# -- the protocol ----------------------------------------------------------------------------------
def sigma_bar_max(process) -> float:
    """σ̄(t_max) of the process's schedule (∞ for an unbounded time domain)."""
    t_max = process.schedule.t_max
    return math.inf if not math.isfinite(t_max) else float(process.schedule.total(t_max))


def check_sigma_bar(process, sigma_bar, B) -> np.ndarray:
    """``sigma_bar`` as a float array (B,) after checking it: finite, > 0 and inside the
    range (0, σ̄(t_max)] of the process's schedule."""
    s = np.asarray(sigma_bar, dtype=np.float64)
    if s.shape != (B,):
        raise ValueError(f"`sigma_bar` must have shape (B,) = ({B},) (got {s.shape}).")
    bad = ~(np.isfinite(s) & (s > 0))
    if np.any(bad):
        b = int(np.argmax(bad))
        raise ValueError(f"`sigma_bar` must be finite and > 0 (got sigma_bar[{b}] = {s[b]}).")
    top = sigma_bar_max(process)
    if np.any(s > top * (1 + 1e-12)):
        b = int(np.argmax(s))
        raise ValueError(f"`sigma_bar` must lie in the schedule's range (0, {top:.6g}] of {process.schedule!r} "
                         f"(got sigma_bar[{b}] = {s[b]:.6g}).")
    return s


def evaluate_score_model(model, process, sigma_bar, x, *, log_scores=None, allow_zero=None) -> np.ndarray:
    """Call ``model(x, sigma_bar)`` and validate its output: the scores, shape (B, L, n).

    Parameters
    ----------
    model : callable
        ``model(x, sigma_bar)`` → (B, L, n) scores, or log-scores (``log_scores``).
    process : ForwardProcess
        Token-wise; gives n and the DSE weights W[x^i, v] = Q^tok(x^i, v) (:func:`score_entry_weights`).
    sigma_bar : float array, shape (B,)
        Total noise, in (0, σ̄(t_max)] of the process's schedule.
    x : int array, shape (B, L)
        Noisy states, tokens 0..n−1.
    log_scores : bool, optional
        The model returns log-scores; default ``getattr(model, "log_scores", False)``.
    allow_zero : bool, optional
        Accept scores equal to 0 (log-score −∞); default ``getattr(model, "allows_zero",
        False)``. A zero score where the forward ratio r > 0 makes ℓ_DSE = +∞: a result,
        not an error.

    Returns
    -------
    ndarray, shape (B, L, n)
        The scores (not logs). Entries with DSE weight 0 (v = x^i; for the absorbing
        process every unmasked position and the mask column) are not validated: they are
        returned as given when every entry is finite and positive, else replaced by 1, so
        that the zero weight never meets a NaN or a log of 0.

    Raises
    ------
    ValueError
        A wrong shape, or a used entry that is non-finite, negative or zero, naming the
        first offending (row, position, token), its value, and σ̄ and x of that row.

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> proc = ed.uniform(2)
    >>> bad = lambda x, s: np.zeros(x.shape + (2,))
    >>> evaluate_score_model(bad, proc, np.array([0.5]), np.array([[0, 1]]))
    Traceback (most recent call last):
        ...
    ValueError: the score model must return finite scores > 0 at every used entry; got score 0.0 at row 0, position 0, token 1 (sigma_bar=0.5, x=[0, 1]).
    """
    x = as_token_array(x, process.n, "x")
    B, L = x.shape
    s = check_sigma_bar(process, sigma_bar, B)
    log_scores = bool(getattr(model, "log_scores", False)) if log_scores is None else bool(log_scores)
    allow_zero = bool(getattr(model, "allows_zero", False)) if allow_zero is None else bool(allow_zero)
    out = np.asarray(model(x, s), dtype=np.float64)
    expected = (B, L, process.n)
    if out.shape != expected:
        raise ValueError(f"the score model must return shape (B, L, n) = {expected} (got {out.shape}).")
    if out.size:  # fast path: every entry valid (min and max propagate NaN, which fails)
        lo, hi = out.min(), out.max()
        if log_scores and -np.inf < lo and hi < np.inf:
            return np.exp(out)
        if not log_scores and 0 < lo and hi < np.inf:
            return out
    used = score_entry_weights(process)[x] > 0
    with np.errstate(invalid="ignore"):
        if log_scores:
            ok = np.isfinite(out) | (allow_zero & (out == -np.inf))
            rule = "finite log-scores" + (" (or -inf)" if allow_zero else "")
        else:
            ok = np.isfinite(out) & ((out > 0) | (allow_zero & (out == 0)))
            rule = "finite scores " + (">= 0" if allow_zero else "> 0")
    bad = used & ~ok
    if np.any(bad):
        b, i, v = (int(a[0]) for a in np.nonzero(bad))
        what = "log-score" if log_scores else "score"
        raise ValueError(f"the score model must return {rule} at every used entry; got {what} {float(out[b, i, v])!r} "
                         f"at row {b}, position {i}, token {v} (sigma_bar={s[b]:.6g}, x={x[b].tolist()}).")
    with np.errstate(over="ignore"):
        scores = np.exp(out) if log_scores else out
    return np.where(used, scores, 1.0)


# -- built-in models --------------------------------------------------------------------------------
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
    0·log 0 = 0 (r = 0 there too), so ``allows_zero`` is True except for the uniform
    process.

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
        process_kind(process)
        table = as_table(p0)
        if table.shape[0] != process.N:
            raise ValueError(f"`p0` has N={table.shape[0]} tokens but the process has N={process.N} data tokens.")
        memory.refuse(8 * (process.n ** table.ndim) * (2 + table.ndim * process.n),
                      f"the oracle score of a table with n={process.n}, L={table.ndim}")
        self.table, self.process, self.L, self.n = table, process, table.ndim, process.n
        flat = table.ravel()
        support = np.flatnonzero(flat > 0)
        self._weights = flat[support]
        self.support_points = np.stack(np.unravel_index(support, table.shape), axis=1)  # (K, L)
        self.allows_zero = process_kind(process) != "uniform"
        self._strides = process.n ** np.arange(self.L - 1, -1, -1)

    def __repr__(self):
        return f"OracleScore(N={self.process.N}, L={self.L}, {self.process!r})"

    def marginal(self, sigma_bar) -> np.ndarray:
        """p_σ̄ as a table of shape (n,)*L."""
        k = token_kernels(self.process, np.float64(sigma_bar))[:, : self.process.N]
        return apply_all(k, self.table)

    def __call__(self, x, sigma_bar):
        x = as_token_array(x, self.n, "x")
        if x.shape[1] != self.L:
            raise ValueError(f"`x` must have L={self.L} columns (got {x.shape[1]}).")
        sigma_bar = np.asarray(sigma_bar, dtype=np.float64)
        K, L, n = self._weights.size, self.L, self.n
        if sigma_bar.size and np.all(sigma_bar == sigma_bar[0]):  # one σ̄ (enumeration)
            if x.shape[0] * K * (n + 3) >= 4 * n ** (L + 1):  # the table route is cheaper
                return self._table_route(x, sigma_bar[0])
            return self._support_route(x, token_kernels(self.process, sigma_bar[:1]), same=True)
        return self._support_route(x, token_kernels(self.process, sigma_bar), same=False)

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

    def single_token_losses(self, x0) -> np.ndarray:
        """ℓ_j = −log p0(x0^j | x0^{−j}) for j = 1..L: the loss of each single masked token
        (the small-noise coefficient of the absorbing process, :mod:`.dse_likelihood`)."""
        x0 = np.asarray(x0, dtype=np.int64)
        out = np.empty(self.L)
        for j in range(self.L):
            column = np.moveaxis(self.table, j, 0)[(slice(None),) + tuple(np.delete(x0, j))]
            with np.errstate(divide="ignore"):
                out[j] = np.log(column.sum()) - np.log(self.table[tuple(x0)])
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
        process_kind(process)
        if not 0.0 <= float(epsilon) <= 1.0:
            raise ValueError(f"`epsilon` must lie in [0, 1] (got {epsilon}).")
        if not (np.isfinite(temperature) and float(temperature) > 0):
            raise ValueError(f"`temperature` must be a finite number > 0 (got {temperature}).")
        self.base, self.process = base, process
        self.epsilon, self.temperature = float(epsilon), float(temperature)
        self.allows_zero = bool(getattr(base, "allows_zero", False)) and self.epsilon == 0.0
        self.L = getattr(base, "L", None)

    def __repr__(self):
        return f"CorruptedScore({self.base!r}, epsilon={self.epsilon:g}, temperature={self.temperature:g})"

    def __call__(self, x, sigma_bar):
        s = evaluate_score_model(self.base, self.process, sigma_bar, x)
        ref = reference_scores(self.process, sigma_bar, x)
        a = 1.0 / self.temperature
        return (1 - self.epsilon) * ref ** (1 - a) * s**a + self.epsilon * ref


class DenoiserScore:
    """The score a denoiser implies under the absorbing process (Lemma 3.3):

    .. math:: s(x)_{i,v} = \\frac{1-\\lambda}{\\lambda}\\, c(x)_{i,v}, \\qquad
              \\lambda = 1 - e^{-\\bar\\sigma},

    for a masked position i (x^i = M) and a data token v < N. Then
    ℓ_DSE = σ(t)·((1−λ)/λ)·ℓ_DCE for any normalised c (Lemma 3.3), so every denoiser
    (:mod:`exactdiff.masked.denoisers`) is a score model, and its DSE likelihood at
    σ̄(T) = ∞ is its time-integrated DCE (Theorem 3.4).

    The other entries (masking moves at unmasked positions, and v = M) have DSE weight 0
    under the absorbing generator and are returned as 1, a placeholder: the true ratio
    of a masking move would need the denoiser at another state. ``allows_zero`` is True:
    a denoiser may give probability 0 (the oracle of a sparse table does), and then
    ℓ = +∞ exactly where ℓ_DCE = +∞.

    Parameters
    ----------
    denoiser : callable
        (B, L) int → (B, L, N) probabilities.
    process : ForwardProcess
        The absorbing process.
    """

    log_scores = False
    allows_zero = True

    def __init__(self, denoiser, process):
        if process_kind(process) != "absorbing":
            raise ValueError(f"`process` must be the absorbing process for a denoiser's score (got {process!r}).")
        self.denoiser, self.process, self.N = denoiser, process, process.N
        self.L = getattr(denoiser, "L", None)

    def __repr__(self):
        return f"DenoiserScore({type(self.denoiser).__name__}, {self.process!r})"

    def __call__(self, x, sigma_bar):
        x = np.asarray(x, dtype=np.int64)
        sigma_bar = np.asarray(sigma_bar, dtype=np.float64)
        c = evaluate_denoiser(self.denoiser, x, self.N)  # (B, L, N)
        ratio = 1.0 / np.expm1(sigma_bar)  # (1 − λ)/λ
        out = np.ones(x.shape + (self.N + 1,))
        masked = x == self.N
        out[..., : self.N] = np.where(masked[..., None], ratio[:, None, None] * c, 1.0)
        return out


class _Flagged:
    """A score model with its ``log_scores`` flag set from outside."""

    def __init__(self, model, log_scores):
        self.model, self.log_scores = model, bool(log_scores)
        self.allows_zero = bool(getattr(model, "allows_zero", False))
        self.L = getattr(model, "L", None)

    def __call__(self, x, sigma_bar):
        return self.model(x, sigma_bar)


class _LogOf:
    """The log-scores of a score model (``log_scores = True``)."""

    log_scores = True

    def __init__(self, model):
        self.model = model
        self.allows_zero = bool(getattr(model, "allows_zero", False))
        self.L = getattr(model, "L", None)

    def __call__(self, x, sigma_bar):
        out = np.asarray(self.model(x, sigma_bar), dtype=np.float64)
        if getattr(self.model, "log_scores", False):
            return out
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(out)


def as_log_score_model(model):
    """The same model returning log-scores (``log_scores = True``), as a SEDD network does.
    A zero score becomes −∞, allowed only where the model allows zeros.

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> p0 = ed.Distribution.dirichlet(2, 2, seed=0); proc = ed.uniform(2)
    >>> x, s = np.array([[0, 1]]), np.array([0.7])
    >>> a = evaluate_score_model(ed.OracleScore(p0, proc), proc, s, x)
    >>> b = evaluate_score_model(as_log_score_model(ed.OracleScore(p0, proc)), proc, s, x)
    >>> bool(np.allclose(a, b, rtol=1e-14, atol=0))
    True
    """
    return _LogOf(model)


# -- loading a model by name or import path -------------------------------------------------------
def import_callable(spec, *, what="model"):
    """The callable named by an import path ``"module:attribute"`` (``"pkg.mod:obj.attr"``).

    Raises ``ValueError`` naming what is wrong: no ``:``, a module that cannot be
    imported (with the import error), a missing attribute (with the module's file), or an
    attribute that is not callable. ``what`` names the object in the messages.

    Examples
    --------
    >>> import_callable("math:sqrt")(4.0)
    2.0
    >>> import_callable("no_such_module_xyz:model", what="score model")
    Traceback (most recent call last):
        ...
    ValueError: score model 'no_such_module_xyz:model': the module 'no_such_module_xyz' could not be imported (ModuleNotFoundError: No module named 'no_such_module_xyz'); is it on PYTHONPATH?
    """
    spec = str(spec)
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute or ":" in attribute:
        raise ValueError(f"{what} {spec!r} must be an import path 'module:callable' (e.g. 'mypkg.models:score').")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"{what} {spec!r}: the module {module_name!r} could not be imported "
                         f"({type(exc).__name__}: {exc}); is it on PYTHONPATH?") from None
    obj = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            where = f" ({module.__file__})" if getattr(module, "__file__", None) else ""
            owner = f"the module {module_name!r}" if obj is module else f"{type(obj).__name__} {attribute!r}"
            raise ValueError(f"{what} {spec!r}: {owner}{where} has no attribute {part!r}.")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{what} {spec!r}: {attribute!r} is a {type(obj).__name__}, not a callable.")
    return obj


def _oracle(p0, process, epsilon, temperature):
    return OracleScore(p0, process)


def _corrupted(p0, process, epsilon, temperature):
    return CorruptedScore(OracleScore(p0, process), process, epsilon, temperature)


def _corrupted_denoiser(p0, process, epsilon, temperature):
    return DenoiserScore(CorruptedDenoiser(OracleDenoiser(p0), epsilon, temperature), process)


#: Built-in score models by name → ``factory(p0, process, epsilon, temperature)``.
SCORE_MODELS = {
    "oracle": _oracle,
    "corrupted": _corrupted,
    "corrupted_denoiser": _corrupted_denoiser,
}


def load_score_model(spec, p0=None, process=None, *, epsilon=0.1, temperature=1.5, log_scores=None):
    """A score model from a built-in name or a ``"module:callable"`` import path.

    Parameters
    ----------
    spec : str
        A name of :data:`SCORE_MODELS` — ``"oracle"`` (:class:`OracleScore`),
        ``"corrupted"`` (:class:`CorruptedScore` of the oracle) or
        ``"corrupted_denoiser"`` (absorbing only: :class:`DenoiserScore` of the corrupted
        oracle denoiser) — or an import path whose attribute **is** a score model
        ``model(x, sigma_bar)`` (:func:`import_callable`).
    p0 : Distribution or array, optional
        The law the built-in models are built from (needed for them).
    process : ForwardProcess, optional
        Needed for the built-in models.
    epsilon, temperature : float
        The corruption of ``"corrupted"`` and ``"corrupted_denoiser"``.
    log_scores : bool, optional
        Set the ``log_scores`` flag of a loaded callable (default: its own attribute).

    Raises
    ------
    ValueError
        An unknown name, a bad import path (:func:`import_callable`), or a built-in name
        without ``p0`` and ``process``.

    Examples
    --------
    >>> import exactdiff as ed
    >>> p0 = ed.Distribution.dirichlet(2, 2, seed=0)
    >>> load_score_model("oracle", p0, ed.uniform(2))
    OracleScore(N=2, L=2, ForwardProcess(uniform, n=2, N=2, Constant(rate=1)))
    """
    spec = str(spec)
    if ":" in spec:
        model = import_callable(spec, what="score model")
        return model if log_scores is None else _Flagged(model, log_scores)
    if spec not in SCORE_MODELS:
        raise ValueError(f"`spec` must be one of {sorted(SCORE_MODELS)} or an import path 'module:callable' "
                         f"(got {spec!r}).")
    if p0 is None or process is None:
        raise ValueError(f"the built-in score model {spec!r} needs `p0` and `process`.")
    return SCORE_MODELS[spec](p0, process, epsilon, temperature)
