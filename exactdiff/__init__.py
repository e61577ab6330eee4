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
from .markov import MarkovChain
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
    "Schedule",
    "SequenceSpace",
    "absorbing",
    "absorbing_kernel",
    "check_engines_agree",
    "check_entropy_integral",
    "check_information_entropies",
    "check_theorem_3_1",
    "check_theorem_3_1_finite_difference",
    "check_theorem_3_2",
    "check_theorem_3_2_infinite",
    "check_variational_bound",
    "concrete_score",
    "conditional_entropy",
    "dse_integral",
    "dse_loss",
    "expected_dse",
    "information_curves",
    "load_distribution",
    "marginal",
    "marginal_entropy",
    "marginal_entropy_derivative",
    "mdse",
    "mdse_integral",
    "mutual_information",
    "mutual_information_derivative",
    "pointwise_kl",
    "pointwise_kl_derivative",
    "random_full_space_generator",
    "random_generator",
    "uniform",
    "uniform_kernel",
]
