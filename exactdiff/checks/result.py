"""The structured result that every identity check returns."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ..core.serialize import jsonable

__all__ = ["CheckResult", "compare"]


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """Outcome of one identity check.

    Attributes
    ----------
    name : str
        Short name of the check, e.g. ``"I-MDSE pointwise (analytic)"``.
    reference : str
        The paper's theorem or equation, e.g. ``"Theorem 3.1"``.
    setup : dict
        What was checked: process, schedule, N, L, seed, times, ...
    lhs, rhs : float
        Representative values of both sides. For a check over many points these are
        the values at the point of largest relative error.
    abs_err, rel_err : float
        Worst absolute error and worst relative error over all points.
    tol : float
        The tolerance the relative error is held to.
    passed : bool
        ``rel_err <= tol`` (and both sides finite where they should be).
    note : str
        How the error is measured, which tolerance applies where, fall-backs used.
    """

    name: str
    reference: str
    setup: dict
    lhs: float
    rhs: float
    abs_err: float
    rel_err: float
    tol: float
    passed: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite floats become strings)."""
        out = dataclasses.asdict(self)
        for key in ("lhs", "rhs", "abs_err", "rel_err", "tol"):
            value = float(out[key])
            out[key] = value if math.isfinite(value) else str(value)
        out["passed"] = bool(out["passed"])
        out["setup"] = jsonable(out["setup"])
        return out




def compare(name, reference, setup, lhs, rhs, tol, scale=None, note=""):
    """Build a :class:`CheckResult` from two arrays of values that should agree.

    The relative error at each point is ``|lhs - rhs| / scale``, where ``scale``
    defaults to ``max(|lhs|, |rhs|)`` and may be given explicitly (for example the
    size of the terms being summed, when both sides are near zero). Points where
    both sides are the same infinity agree exactly. The reported ``lhs`` and ``rhs``
    are the values at the worst point.
    """
    import numpy as np

    lhs = np.atleast_1d(np.asarray(lhs, dtype=float))
    rhs = np.atleast_1d(np.asarray(rhs, dtype=float))
    if lhs.shape != rhs.shape:
        raise ValueError(f"`lhs` and `rhs` must have the same shape (got {lhs.shape} and {rhs.shape}).")
    if lhs.size == 0:
        raise ValueError(f"check {name!r} has nothing to compare (`lhs` is empty).")
    if scale is None:
        scale = np.maximum(np.abs(lhs), np.abs(rhs))
    scale = np.broadcast_to(np.asarray(scale, dtype=float), lhs.shape)
    same_inf = np.isinf(lhs) & (lhs == rhs)
    with np.errstate(invalid="ignore"):
        abs_err = np.where(same_inf, 0.0, np.abs(lhs - rhs))
    abs_err = np.where(np.isnan(abs_err), np.inf, abs_err)  # a NaN side is an infinite error
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(abs_err == 0, 0.0, abs_err / scale)
    rel = np.where(np.isnan(rel), np.inf, rel)
    worst = int(np.argmax(rel)) if rel.size else 0
    rel_err = float(rel.max()) if rel.size else 0.0
    return CheckResult(
        name=name,
        reference=reference,
        setup=dict(setup),
        lhs=float(lhs.flat[worst]),
        rhs=float(rhs.flat[worst]),
        abs_err=float(abs_err.max()),
        rel_err=rel_err,
        tol=float(tol),
        passed=bool(rel_err <= tol),
        note=note,
    )
