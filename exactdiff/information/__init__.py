"""The information theory of the forward process, exactly: marginals, pointwise KLs,
mutual information, entropies and their time derivatives
(:mod:`~exactdiff.information.divergences`), the concrete score and the minimum DSE
(:mod:`~exactdiff.information.score_entropy`) and their time integrals
(:mod:`~exactdiff.information.integrals`), all computed by the engines of
:mod:`~exactdiff.information.engines` (dense and factorized). Quantities of the forward
process only: the DSE of a score model is in :mod:`exactdiff.score`."""

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
from .integrals import mdse_integral, mdse_running_integral
from .score_entropy import concrete_score, mdse

__all__ = [
    "concrete_score",
    "conditional_entropy",
    "marginal",
    "marginal_entropy",
    "marginal_entropy_derivative",
    "mdse",
    "mdse_integral",
    "mdse_running_integral",
    "mutual_information",
    "mutual_information_derivative",
    "pointwise_kl",
    "pointwise_kl_derivative",
]
