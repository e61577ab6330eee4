"""Adapters onto other codebases' conventions.

- :mod:`~exactdiff.adapters.sedd`: SEDD (Lou, Meng & Ermon 2024) — its per-position score
  entropy (log-scores, total noise, no rate), its geometric noise (not shifted to
  σ̄(0) = 0) as a time conversion, and its networks as score models.
"""

from .sedd import SEDD_GRAPHS, SEDDGeometric, sedd_score_entropy, sedd_score_model

__all__ = ["SEDD_GRAPHS", "SEDDGeometric", "sedd_score_entropy", "sedd_score_model"]
