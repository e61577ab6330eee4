"""Score models: bring your own score network, and its DSE likelihood exactly.

- :mod:`~exactdiff.score.protocol`: the protocol ``model(x, sigma_bar)``, its validation
  and the optional capabilities a model may offer;
- :mod:`~exactdiff.score.models`: the built-in models (the exact concrete score, a
  corrupted one) and the reference score of the uniform start;
- :mod:`~exactdiff.score.bridge`: every denoiser is a score model (Lemma 3.3);
- :mod:`~exactdiff.score.loss`: ℓ_DSE per draw and the prior term, written once;
- :mod:`~exactdiff.score.states`: the reachable states, exact conditional moments by
  enumeration, state draws;
- :mod:`~exactdiff.score.laws`: the laws of σ̄ of the Monte Carlo estimators and their
  window;
- :mod:`~exactdiff.score.estimators`: the Monte Carlo estimate;
- :mod:`~exactdiff.score.moments`: the exact limit, the exact moments of every law and the
  optimal law q*;
- :mod:`~exactdiff.score.variance`: when a variance is infinite;
- :mod:`~exactdiff.score.loading`: models by name or import path.

SEDD's conventions (log-scores, total noise, its geometric noise) are in
:mod:`exactdiff.adapters.sedd`.
"""

from .bridge import DenoiserScore
from .estimators import estimate_dse_nll
from .laws import SIGMA_LAWS
from .loading import SCORE_MODELS, load_score_model
from .loss import dse_loss, dse_prior_term
from .models import CorruptedScore, OracleScore, reference_scores
from .moments import dse_estimator_moments, dse_limit, dse_moments_table, expected_dse, optimal_proposal
from .protocol import as_log_score_model, evaluate_score_model
from .variance import variance_divergence

__all__ = [
    "OracleScore",
    "CorruptedScore",
    "DenoiserScore",
    "reference_scores",
    "evaluate_score_model",
    "as_log_score_model",
    "load_score_model",
    "SCORE_MODELS",
    "dse_loss",
    "dse_prior_term",
    "expected_dse",
    "dse_limit",
    "dse_moments_table",
    "dse_estimator_moments",
    "optimal_proposal",
    "estimate_dse_nll",
    "variance_divergence",
    "SIGMA_LAWS",
]
