"""Identity checks: every identity of the paper computed along two independent routes,
their agreement held to a tolerance chosen on purpose. Every check returns a list of
:class:`~exactdiff.checks.result.CheckResult`.

- :mod:`~exactdiff.checks.process`: kernels against closed forms, schedule rates;
- :mod:`~exactdiff.checks.markov`: Markov chains against enumeration;
- :mod:`~exactdiff.checks.score_entropy`: Theorems 3.1 and 3.2 (I-MDSE, the NLL);
- :mod:`~exactdiff.checks.engines`: the dense and factorized engines, the concrete score;
- :mod:`~exactdiff.checks.masked`: Lemma 3.3, Theorem 3.4, Corollaries 3.6 and 3.7;
- :mod:`~exactdiff.checks.likelihood`: Theorem 4.1, Corollary 4.3, Eq. 18;
- :mod:`~exactdiff.checks.estimators`: the Monte Carlo estimators;
- :mod:`~exactdiff.checks.laws`: the mask laws (correct and flawed) against their closed forms;
- :mod:`~exactdiff.checks.score_models`: the score-model protocol (oracle limit = NLL) and
  SEDD's conventions;
- :mod:`~exactdiff.checks.denoisers`: the fitted denoisers against their definitions;
- :mod:`~exactdiff.checks.gaussian`: the Gaussian I-MMSE companion;
- :mod:`~exactdiff.checks.symbolic`: sympy proofs (imports sympy when used);
- :mod:`~exactdiff.checks.suite`: the default suite of ``exactdiff verify``.
"""

from .denoisers import check_fitted_denoisers
from .engines import check_concrete_score, check_engines_agree
from .estimators import check_estimator_means, check_estimator_monte_carlo
from .laws import check_mask_laws
from .likelihood import check_corollary_4_3, check_eq_18, check_theorem_4_1, check_unmasked_size_law
from .markov import check_markov_chain
from .masked import check_corollary_3_6, check_corollary_3_7, check_lemma_3_3, check_theorem_3_4
from .process import check_kernels, check_schedule_rate
from .result import CheckResult, compare
from .score_models import check_dse_estimator_monte_carlo, check_score_model_limit, check_sedd_adapter
from .score_entropy import (
    check_entropy_integral,
    check_information_entropies,
    check_theorem_3_1,
    check_theorem_3_1_finite_difference,
    check_theorem_3_2,
    check_theorem_3_2_infinite,
    check_variational_bound,
)

__all__ = [
    "CheckResult",
    "compare",
    "check_concrete_score",
    "check_corollary_3_6",
    "check_corollary_3_7",
    "check_corollary_4_3",
    "check_dse_estimator_monte_carlo",
    "check_engines_agree",
    "check_entropy_integral",
    "check_eq_18",
    "check_estimator_means",
    "check_estimator_monte_carlo",
    "check_fitted_denoisers",
    "check_information_entropies",
    "check_kernels",
    "check_lemma_3_3",
    "check_markov_chain",
    "check_mask_laws",
    "check_schedule_rate",
    "check_score_model_limit",
    "check_sedd_adapter",
    "check_theorem_3_1",
    "check_theorem_3_1_finite_difference",
    "check_theorem_3_2",
    "check_theorem_3_2_infinite",
    "check_theorem_3_4",
    "check_theorem_4_1",
    "check_unmasked_size_law",
    "check_variational_bound",
]


def __getattr__(name):
    """The Gaussian and symbolic checks, imported on first use (sympy is heavy)."""
    if name in ("gaussian", "symbolic", "suite"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
