"""Masked diffusion, exactly.

- :mod:`~exactdiff.masked.weights`: H_n and the subset weight B(n − m, m + 1) of the
  time-free formulas (one home);
- :mod:`~exactdiff.masked.optimal`: masked marginals, the optimal denoiser, the subset sums
  h_k and the minimum DCE in closed form;
- :mod:`~exactdiff.masked.dce`: the DCE of any denoiser, by enumerating masks;
- :mod:`~exactdiff.masked.denoisers`: the denoiser protocol and built-in denoisers;
- :mod:`~exactdiff.masked.likelihood`: the exact time-free, conditional and log-ratio sums;
- :mod:`~exactdiff.masked.laws`: mask laws (the law of the unmasked set and how a draw
  aggregates), their exact moments, the flawed laws of published evaluation code, and a
  goodness-of-fit test for mask samplers;
- :mod:`~exactdiff.masked.time_integral`: the time-integral law over any window of λ
  (normalised or not, stratified or not), with exact moments;
- :mod:`~exactdiff.masked.estimators`: Monte Carlo estimators and their exact moments.
"""

from ..sequences.masks import mask_patterns
from .dce import dce_integral, dce_loss, expected_dce
from .denoisers import (
    CorruptedDenoiser,
    EmpiricalDenoiser,
    MarkovDenoiser,
    OracleDenoiser,
    TableDenoiser,
    empirical_table,
    evaluate_denoiser,
)
from ..core.results import Estimate, EstimatorMoments
from .estimators import (
    LAWS,
    estimate_conditional_nll,
    estimate_log_ratio,
    estimate_nll,
    estimator_moments,
    log_ratio_moments,
    mask_losses,
    moments_from_losses,
    resolve_law,
)
from .laws import LAW_NAMES, GoodnessOfFit, MaskLaw, flawed_law_means, goodness_of_fit
from .likelihood import conditional_nll, exact_conditional_nll, log_ratio_expectation, time_free_nll
from .time_integral import TimeIntegralLaw
from .optimal import masked_marginal, mdce, mdce_integral, optimal_denoiser_table, subset_sums, visible_table
from .weights import harmonic_number, subset_weight, time_free_weights, unmasked_size_law

__all__ = [
    "CorruptedDenoiser",
    "EmpiricalDenoiser",
    "Estimate",
    "EstimatorMoments",
    "GoodnessOfFit",
    "LAW_NAMES",
    "LAWS",
    "MarkovDenoiser",
    "MaskLaw",
    "OracleDenoiser",
    "TableDenoiser",
    "conditional_nll",
    "dce_integral",
    "dce_loss",
    "empirical_table",
    "estimate_conditional_nll",
    "estimate_log_ratio",
    "estimate_nll",
    "estimator_moments",
    "evaluate_denoiser",
    "exact_conditional_nll",
    "expected_dce",
    "flawed_law_means",
    "goodness_of_fit",
    "harmonic_number",
    "log_ratio_expectation",
    "log_ratio_moments",
    "mask_losses",
    "moments_from_losses",
    "resolve_law",
    "TimeIntegralLaw",
    "mask_patterns",
    "masked_marginal",
    "mdce",
    "mdce_integral",
    "optimal_denoiser_table",
    "subset_sums",
    "subset_weight",
    "time_free_nll",
    "time_free_weights",
    "unmasked_size_law",
    "visible_table",
]
