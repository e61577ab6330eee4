"""Symbolic mathematics with sympy: the paper's objects as exact expressions
(:mod:`~exactdiff.symbolic.algebra`) and the reduction of a residual to exactly 0 under
a time budget (:mod:`~exactdiff.symbolic.reduce`). The proofs of the identities are in
:mod:`exactdiff.checks.symbolic` (``exactdiff verify --symbolic``).

Importing this package imports sympy; ``import exactdiff`` does not."""

from .algebra import *  # noqa: F401,F403
from .algebra import __all__ as _algebra_all
from .reduce import FALLBACK_DPS, FALLBACK_TOL, STAGES, Outcome, Proof, prove, reduce_to_zero

__all__ = [*_algebra_all, "FALLBACK_DPS", "FALLBACK_TOL", "STAGES", "Outcome", "Proof", "prove", "reduce_to_zero"]
