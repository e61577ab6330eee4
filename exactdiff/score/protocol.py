"""The score-model protocol: what a score model is, how exactdiff calls it, and the
optional capabilities a model may offer.

A **score model** is any callable ``model(x, sigma_bar) -> scores`` with

- ``x``: an integer array of shape (B, L) of noisy states, tokens 0..n−1 (n = N for the
  uniform process, N + 1 for the absorbing one, whose mask is token N);
- ``sigma_bar``: a float array of shape (B,) of total noise σ̄(t) > 0, one per row;
- ``scores``: an array of shape (B, L, n) of scores ≥ 0, where ``scores[b, i, v]``
  estimates the concrete score p_t(x with x^i ← v) / p_t(x) (MATH.md, "Optimal (concrete)
  score").

Optional attributes:

- ``log_scores = True``: the model returns log-scores instead (what a SEDD network
  outputs; −∞ for a score of 0);
- ``L``: the sequence length the model accepts;
- ``alphabet``: the letters of its tokens 0..N−1 in order (e.g. ``"ATGC"``); when given it
  is checked against the toy's.

**A model sees only σ̄.** So ℓ_DSE(x0, x, t, s) = σ(t)·h(x0, x, σ̄) and every time integral
of the DSE is an integral over σ̄ (:mod:`~exactdiff.score.moments`).

**Which entries are used.** The DSE (MATH.md) weighs the entry (i, v) of the state x by
the rate W[x^i, v] = Q^tok(x^i, v) from the neighbour x^{i←v} **into** x
(``process.off_diagonal``). Only entries with that weight positive enter: for the uniform
process every v ≠ x^i; for the absorbing process the unmasking moves v < N at masked
positions. :func:`evaluate_score_model` validates those entries (finite and ≥ 0) and
ignores the others. A score of 0 is valid — a ratio of probabilities — and costs
ℓ = +∞ exactly where the forward ratio r of that move is positive (a result, not an
error): the exact score of a sparse table is 0 on the moves towards impossible states.

**Capabilities by protocol.** A model may offer more than its scores through optional
methods, which the exact routes use when present and replace by the numeric route when
absent (:func:`capability`):

- ``exact_support(process)`` → (points (K, L), probabilities (K,)) when the model is the
  exact concrete score of that law under ``process`` (else None): an x0 outside the
  support has NLL +∞, and the variance at σ̄ → 0 is decided from the support
  (:mod:`~exactdiff.score.variance`);
- ``single_token_losses(x0, process)`` → ℓ_j = −log c(x0 with j masked)_{j, x0^j},
  j = 1..L, when the model is a Lemma 3.3 score (a denoiser's) under the absorbing
  ``process`` (else None): the small-noise coefficient of the variance.
"""

from __future__ import annotations

import numpy as np

from ..core.callables import call_user
from ..core.validation import as_token_array

__all__ = ["evaluate_score_model", "as_log_score_model", "capability", "validate_sigma_bar", "CAPABILITIES"]

#: The optional methods a score model may offer (module docstring).
CAPABILITIES = ("exact_support", "single_token_losses")


def capability(model, name):
    """The optional method ``name`` of :data:`CAPABILITIES` that ``model`` offers, or None."""
    if name not in CAPABILITIES:
        raise ValueError(f"`name` must be one of {CAPABILITIES} (got {name!r}).")
    method = getattr(model, name, None)
    return method if callable(method) else None


def validate_sigma_bar(process, sigma_bar, B) -> np.ndarray:
    """``sigma_bar`` as a float array (B,) after checking it: finite, > 0 and inside the
    range (0, σ̄(t_max)] of the process's schedule."""
    s = np.asarray(sigma_bar, dtype=np.float64)
    if s.shape != (B,):
        raise ValueError(f"`sigma_bar` must have shape (B,) = ({B},) (got {s.shape}).")
    bad = ~(np.isfinite(s) & (s > 0))
    if np.any(bad):
        b = int(np.argmax(bad))
        raise ValueError(f"`sigma_bar` must be finite and > 0 (got sigma_bar[{b}] = {s[b]}).")
    top = process.schedule.total_max
    if np.any(s > top * (1 + 1e-12)):
        b = int(np.argmax(s))
        raise ValueError(f"`sigma_bar` must lie in the schedule's range (0, {top:.6g}] of {process.schedule!r} "
                         f"(got sigma_bar[{b}] = {s[b]:.6g}).")
    return s


def _flag_hint(log_scores, out, used):
    """A hint when the output looks like the other kind: negative 'scores' are logs; for
    log-scores, values that are all ≥ 0 and many exactly 0 or 1 look like scores."""
    if not log_scores and np.any(used & (out < 0)):
        return (" The output has negative entries: if the model returns log-scores, set `model.log_scores = True` "
                "(--log-scores on the command line).")
    if log_scores and np.any(used & np.isnan(out)):
        return " If the model returns scores rather than log-scores, set `model.log_scores = False`."
    return ""


def evaluate_score_model(model, process, sigma_bar, x, *, log_scores=None) -> np.ndarray:
    """Call ``model(x, sigma_bar)`` and validate its output: the scores, shape (B, L, n).

    Parameters
    ----------
    model : callable
        ``model(x, sigma_bar)`` → (B, L, n) scores, or log-scores (``log_scores``).
    process : ForwardProcess
        Token-wise; gives n and the DSE weights W = ``process.off_diagonal``.
    sigma_bar : float array, shape (B,)
        Total noise, in (0, σ̄(t_max)] of the process's schedule.
    x : int array, shape (B, L)
        Noisy states, tokens 0..n−1.
    log_scores : bool, optional
        The model returns log-scores; default ``getattr(model, "log_scores", False)``.

    Returns
    -------
    ndarray, shape (B, L, n)
        The scores (not logs). Entries with DSE weight 0 (v = x^i; for the absorbing
        process every unmasked position and the mask column) are not validated: they are
        returned as given when every entry is finite and >= 0, else replaced by 1, so
        that the zero weight never meets a NaN.

    Raises
    ------
    ValueError
        A wrong shape, or a used entry that is NaN, infinite or negative (a log-score of
        +∞ or NaN), naming the first offending (row, position, token), its value, σ̄ and x
        of that row, with a hint when the ``log_scores`` flag looks wrong; an exception
        raised inside the user's model, as a one-line
        :class:`~exactdiff.core.callables.UserCodeError` naming the model.

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> proc = ed.uniform(2)
    >>> logs = lambda x, s: np.full(x.shape + (2,), -0.5)      # log-scores, flag not set
    >>> evaluate_score_model(logs, proc, np.array([0.5]), np.array([[0, 1]]))
    Traceback (most recent call last):
        ...
    ValueError: the score model must return finite scores >= 0 at every used entry; got score -0.5 at row 0, position 0, token 1 (sigma_bar=0.5, x=[0, 1]). The output has negative entries: if the model returns log-scores, set `model.log_scores = True` (--log-scores on the command line).
    """
    x = as_token_array(x, process.n, "x")
    B, L = x.shape
    s = validate_sigma_bar(process, sigma_bar, B)
    log_scores = bool(getattr(model, "log_scores", False)) if log_scores is None else bool(log_scores)
    raw = call_user(model, x, s, role="score model")
    try:
        out = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"the score model must return a float array of shape (B, L, n) = {(B, L, process.n)} "
                         f"(got {type(raw).__name__}).") from None
    expected = (B, L, process.n)
    if out.shape != expected:
        raise ValueError(f"the score model must return shape (B, L, n) = {expected} (got {out.shape}).")
    if out.size:  # fast path: every entry valid (min and max propagate NaN, which fails)
        lo, hi = out.min(), out.max()
        if log_scores and -np.inf < lo and hi < np.inf:
            return np.exp(out)
        if not log_scores and 0 <= lo and hi < np.inf:
            return out
    used = process.off_diagonal[x] > 0
    with np.errstate(invalid="ignore"):
        if log_scores:
            ok = np.isfinite(out) | (out == -np.inf)
            rule = "finite log-scores (or -inf)"
        else:
            ok = np.isfinite(out) & (out >= 0)
            rule = "finite scores >= 0"
    bad = used & ~ok
    if np.any(bad):
        b, i, v = (int(a[0]) for a in np.nonzero(bad))
        what = "log-score" if log_scores else "score"
        raise ValueError(f"the score model must return {rule} at every used entry; got {what} {float(out[b, i, v])!r} "
                         f"at row {b}, position {i}, token {v} (sigma_bar={s[b]:.6g}, x={x[b].tolist()})."
                         + _flag_hint(log_scores, out, used))
    with np.errstate(over="ignore"):
        scores = np.exp(out) if log_scores else out
    return np.where(used, scores, 1.0)


class _LogOf:
    """The log-scores of a score model (``log_scores = True``)."""

    log_scores = True

    def __init__(self, model):
        self.model = model
        for name in ("L", "alphabet", *CAPABILITIES):
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))

    def __repr__(self):
        return f"as_log_score_model({self.model!r})"

    def __call__(self, x, sigma_bar):
        out = np.asarray(call_user(self.model, x, sigma_bar, role="score model"), dtype=np.float64)
        if getattr(self.model, "log_scores", False):
            return out
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(out)


def as_log_score_model(model):
    """The same model returning log-scores (``log_scores = True``), as a SEDD network does;
    a score of 0 becomes −∞. Attributes and capabilities are kept.

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
