"""The information theory of the forward process, exactly: marginals, pointwise KLs,
mutual information, entropies and their time derivatives
(:mod:`~exactdiff.information.divergences`), the score entropy, the concrete score and
the minimum DSE (:mod:`~exactdiff.information.score_entropy`), their time integrals
(:mod:`~exactdiff.information.integrals`), all computed by the engines of
:mod:`~exactdiff.information.engines` (dense and factorized); the score-model protocol
(:mod:`~exactdiff.information.score_models`) and the exact DSE likelihood of any score
model, its estimators and their exact moments (:mod:`~exactdiff.information.dse_likelihood`)."""

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
from .dse_likelihood import (
    dse_estimator_moments,
    dse_limit,
    dse_loss_per_rate,
    dse_moments_table,
    dse_prior_term,
    estimate_dse_nll,
    optimal_proposal,
    variance_divergence,
)
from .integrals import dse_integral, mdse_integral, mdse_running_integral
from .score_entropy import concrete_score, dse_loss, expected_dse, mdse, neighbour_to_matrix
from .score_models import (
    CorruptedScore,
    DenoiserScore,
    OracleScore,
    as_log_score_model,
    evaluate_score_model,
    import_callable,
    load_score_model,
)

__all__ = [
    "CorruptedScore",
    "DenoiserScore",
    "OracleScore",
    "as_log_score_model",
    "concrete_score",
    "conditional_entropy",
    "dse_estimator_moments",
    "dse_integral",
    "dse_limit",
    "dse_loss",
    "dse_loss_per_rate",
    "dse_moments_table",
    "dse_prior_term",
    "estimate_dse_nll",
    "evaluate_score_model",
    "expected_dse",
    "import_callable",
    "load_score_model",
    "marginal",
    "marginal_entropy",
    "marginal_entropy_derivative",
    "mdse",
    "mdse_integral",
    "mdse_running_integral",
    "mutual_information",
    "mutual_information_derivative",
    "neighbour_to_matrix",
    "optimal_proposal",
    "pointwise_kl",
    "pointwise_kl_derivative",
    "variance_divergence",
]
