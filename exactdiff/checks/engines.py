"""Checks that the two engines agree, and that the score entropy of the concrete score
is the minimum DSE. Every check returns a list of :class:`CheckResult`."""

from __future__ import annotations

import numpy as np

from ..core.validation import as_table
from ..information import concrete_score, mdse, pointwise_kl
from .result import compare
from ..information.divergences import term_scale
from .reference import reference_expected_dse
from .score_entropy import sample_x0, setup_of

__all__ = ["check_engines_agree", "check_concrete_score"]

#: Both engines form a KL as a difference of O(L log n) terms and an mdse from O(L n)
#: rate-weighted terms; measured agreement, relative to those sizes: below 4e-15 for the
#: KL (held to TOL_ENGINES) and 2e-13 for mdse (held to 10·TOL_ENGINES).
TOL_ENGINES = 1e-12


def _points(table, process, seed):
    at = sample_x0(table, process, seed)
    return at, (table > 0) if at is None else tuple(at.T)


def check_engines_agree(p0, process, t, *, setup=None, seed=0, tol=TOL_ENGINES):
    """Dense and factorized engines: pointwise KL and mdse, on every x0 of the support or,
    above the dense threshold, on a seeded sample of it
    (:func:`~exactdiff.checks.score_entropy.sample_x0`).

    Relative error against the size of the terms: max(|value|, L log n) for the KL (both
    engines form it as a difference of O(L log n) terms) and max(|value|,
    σ(t)·L·max|Q_ii|) for mdse.
    """
    table = as_table(p0)
    at, idx = _points(table, process, seed)
    floor = table.ndim * np.log(process.n)

    def dense(quantity):
        values = quantity(engine="dense", at=at)
        return values[idx] if at is None else values

    a = dense(lambda **kw: pointwise_kl(p0, process, t, **kw))
    b = pointwise_kl(p0, process, t, engine="factorized")[idx]
    ma = dense(lambda **kw: mdse(p0, process, t, pointwise=True, **kw))
    mb = mdse(p0, process, t, pointwise=True, engine="factorized")[idx]
    info = setup_of(p0, process, setup, t=float(t), x0="all" if at is None else f"sample of {len(at)} (seed {seed})")
    return [
        compare("dense = factorized: pointwise KL", "engine", info, a, b, tol,
                np.maximum(np.maximum(np.abs(a), np.abs(b)), floor), "rel. to max(|value|, L log n)"),
        compare("dense = factorized: pointwise mdse", "engine", info, ma, mb, 10 * tol,
                np.maximum(np.maximum(np.abs(ma), np.abs(mb)), term_scale(process, t, table.ndim)),
                "rel. to max(|value|, σ(t)·L·max|Q_ii|)"),
    ]


def check_concrete_score(p0, process, t, *, setup=None, seed=0, tol=TOL_ENGINES):
    """The DSE of the concrete score is the minimum DSE: E_{x|x0} ℓ_DSE(x0, x, t, s*)
    with s* = :func:`~exactdiff.concrete_score` (neighbour form, the factorized
    ``expected_dse``) against mdse(x0, t) summed by the dense engine, for every x0 of the
    support or, above the dense threshold, a seeded sample of it. Token-wise processes."""
    table = as_table(p0)
    at, idx = _points(table, process, seed)
    lhs = reference_expected_dse(concrete_score(p0, process, t, form="neighbour"), process, t, L=table.ndim,
                       engine="factorized")[idx]
    rhs = mdse(p0, process, t, pointwise=True, engine="dense", at=at)
    rhs = rhs[idx] if at is None else rhs
    info = setup_of(p0, process, setup, t=float(t), x0="all" if at is None else f"sample of {len(at)} (seed {seed})")
    return [compare("E l_DSE(concrete score) = mdse(x0,t)", "Theorem 3.1 (s* is optimal)", info, lhs, rhs, tol,
                    np.maximum(np.maximum(np.abs(lhs), np.abs(rhs)), term_scale(process, t, table.ndim)),
                    "neighbour-form concrete score, factorized expected_dse vs dense mdse")]
