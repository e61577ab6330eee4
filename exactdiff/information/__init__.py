"""The information theory of the forward process, exactly: marginals, pointwise KLs,
mutual information, entropies and their time derivatives
(:mod:`~exactdiff.information.divergences`), the score entropy, the concrete score and
the minimum DSE (:mod:`~exactdiff.information.score_entropy`), their time integrals
(:mod:`~exactdiff.information.integrals`), all computed by the engines of
:mod:`~exactdiff.information.engines` (dense and factorized)."""

from .divergences import (
    conditional_entropy,
    marginal,
    marginal_entropy,
    marginal_entropy_derivative,
    mutual_information,
    mutual_information_derivative,
    pointwise_kl,
    pointwise_kl_derivative,
)
from .integrals import dse_integral, mdse_integral, mdse_running_integral
from .score_entropy import concrete_score, dse_loss, expected_dse, mdse, neighbour_to_matrix

__all__ = [
    "concrete_score",
    "conditional_entropy",
    "dse_integral",
    "dse_loss",
    "expected_dse",
    "marginal",
    "marginal_entropy",
    "marginal_entropy_derivative",
    "mdse",
    "mdse_integral",
    "mdse_running_integral",
    "mutual_information",
    "mutual_information_derivative",
    "neighbour_to_matrix",
    "pointwise_kl",
    "pointwise_kl_derivative",
]
