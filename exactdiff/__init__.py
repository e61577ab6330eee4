"""exactdiff: exact verification of the information theory of discrete diffusion.

Implements, on toys small enough to enumerate, the identities of Jeon, Shin, Jeon &
No, *Information-Theoretic Discrete Diffusion* (NeurIPS 2025): I-MDSE, the exact NLL
decomposition and their checks. ``import exactdiff as ed`` gives the whole API.
"""

from .checks import CheckResult
from .checks.mdse import (
    check_engines_agree,
    check_entropy_integral,
    check_information_entropies,
    check_theorem_3_1,
    check_theorem_3_1_finite_difference,
    check_theorem_3_2,
    check_theorem_3_2_infinite,
    check_variational_bound,
)
from .checks.masked import (
    check_corollary_3_6,
    check_corollary_3_7,
    check_corollary_4_3,
    check_eq_18,
    check_lemma_3_3,
    check_theorem_3_4,
    check_theorem_4_1,
)
from .denoisers import OracleDenoiser, TableDenoiser, evaluate_denoiser
from .distribution import Distribution, load_distribution
from .information import (
    conditional_entropy,
    information_curves,
    marginal,
    marginal_entropy,
    marginal_entropy_derivative,
    mutual_information,
    mutual_information_derivative,
    pointwise_kl,
    pointwise_kl_derivative,
)
from .likelihood import conditional_nll, exact_conditional_nll, log_ratio_expectation, time_free_nll
from .markov import MarkovChain
from .masked import (
    dce_integral,
    dce_loss,
    expected_dce,
    harmonic_number,
    masked_marginal,
    masking_kernel,
    mdce,
    mdce_integral,
    optimal_denoiser_table,
    subset_sums,
    time_free_weights,
    unmasked_size_law,
)
from .process import (
    ForwardProcess,
    FullSpaceProcess,
    absorbing,
    absorbing_kernel,
    random_full_space_generator,
    random_generator,
    uniform,
    uniform_kernel,
)
from .schedules import Constant, Geometric, LogLinear, Schedule
from .score_entropy import concrete_score, dse_integral, dse_loss, expected_dse, mdse, mdse_integral
from .space import SequenceSpace

__version__ = "0.1.0"

__all__ = [
    "CheckResult",
    "Constant",
    "Distribution",
    "ForwardProcess",
    "FullSpaceProcess",
    "Geometric",
    "LogLinear",
    "MarkovChain",
    "OracleDenoiser",
    "Schedule",
    "SequenceSpace",
    "TableDenoiser",
    "absorbing",
    "absorbing_kernel",
    "check_corollary_3_6",
    "check_corollary_3_7",
    "check_corollary_4_3",
    "check_engines_agree",
    "check_entropy_integral",
    "check_eq_18",
    "check_information_entropies",
    "check_lemma_3_3",
    "check_theorem_3_1",
    "check_theorem_3_1_finite_difference",
    "check_theorem_3_2",
    "check_theorem_3_2_infinite",
    "check_theorem_3_4",
    "check_theorem_4_1",
    "check_variational_bound",
    "concrete_score",
    "conditional_entropy",
    "conditional_nll",
    "dce_integral",
    "dce_loss",
    "dse_integral",
    "dse_loss",
    "evaluate_denoiser",
    "exact_conditional_nll",
    "expected_dce",
    "expected_dse",
    "harmonic_number",
    "information_curves",
    "load_distribution",
    "log_ratio_expectation",
    "marginal",
    "marginal_entropy",
    "marginal_entropy_derivative",
    "masked_marginal",
    "masking_kernel",
    "mdce",
    "mdce_integral",
    "mdse",
    "mdse_integral",
    "mutual_information",
    "mutual_information_derivative",
    "optimal_denoiser_table",
    "pointwise_kl",
    "pointwise_kl_derivative",
    "random_full_space_generator",
    "random_generator",
    "subset_sums",
    "time_free_nll",
    "time_free_weights",
    "uniform",
    "uniform_kernel",
    "unmasked_size_law",
]
