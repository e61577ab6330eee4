"""exactdiff: exact verification of the information theory of discrete diffusion.

Implements, on toys small enough to enumerate, the identities of Jeon, Shin, Jeon &
No, *Information-Theoretic Discrete Diffusion* (NeurIPS 2025): I-MDSE, I-MDCE, the
exact NLL decompositions and the time-free, conditional and log-ratio formulas, each
checked along two independent routes. ``import exactdiff as ed`` gives the everyday API
below; specialist names live in the subpackages (``ed.checks``, ``ed.symbolic``,
``ed.gaussian``, ``ed.information``, ``ed.masked``, ``ed.process``, ``ed.markov``,
``ed.memory``, ``ed.backend``, ``ed.figures``, ``ed.audit``).

Conventions, followed by every function:

- **Arguments**: a function that takes the law ``p0`` takes it first (``audit_denoiser(p0,
  denoiser)``, ``exact_limits(p0, denoiser)``); otherwise first the model a quantity is
  computed from (a denoiser, a score model), then the forward ``process``, then time,
  then the sequences it is evaluated at, then the rest; options are keyword-only.
- **Time**: ``t`` is diffusion time, ``lam`` the masking level λ = 1 − e^{−σ̄(t)};
  ``T`` and ``Lambda`` are the ends of integrals. λ ↔ σ̄ is converted in one place
  (:mod:`exactdiff.process.masking`).
- **Keywords** mean the same everywhere: ``law`` is an estimator's sampling law (a name,
  a ``MaskLaw`` or ``TimeIntegralLaw`` for denoisers, a law of σ̄ for score models),
  ``engine`` (``"dense"``, ``"factorized"``, ``"auto"``) picks how the forward process is
  computed, ``route`` picks between two exact formulas of the same quantity,
  ``quadrature`` a quadrature rule, ``pointwise`` returns values per x0 (default False),
  ``at`` restricts them to some x0, ``rng`` is a ``numpy.random.Generator`` or a seed.
- **Checks** return a list of :class:`~exactdiff.checks.CheckResult`.
- **Undefined cases**: conditioning on a context of probability 0 raises a
  ``ValueError`` that names the context; a position both conditioned on and asked for
  raises; an impossible sequence has NLL ``inf``.
- **Units**: nats; generators in the column convention, ``Q[y, x]`` the rate from x to y.

``import exactdiff`` imports numpy and scipy only; sympy, matplotlib and tqdm are
imported when the symbolic proofs, figures or progress bars are used.
"""

from __future__ import annotations

import importlib

from . import adapters
from .core import backend, memory
from .core.numerics import richardson_derivative
from .information import (
    concrete_score,
    conditional_entropy,
    marginal,
    marginal_entropy,
    mdse,
    mdse_integral,
    mdse_running_integral,
    mutual_information,
    mutual_information_derivative,
    pointwise_kl,
    pointwise_kl_derivative,
)
from .io import load_distribution
from .markov import MarkovChain, fit_markov_chain
from .masked import (
    CorruptedDenoiser,
    EmpiricalDenoiser,
    Estimate,
    EstimatorMoments,
    MarkovDenoiser,
    MaskLaw,
    OracleDenoiser,
    TableDenoiser,
    conditional_nll,
    dce_integral,
    dce_loss,
    estimate_conditional_nll,
    estimate_log_ratio,
    estimate_nll,
    estimator_moments,
    evaluate_denoiser,
    exact_conditional_nll,
    expected_dce,
    harmonic_number,
    log_ratio_expectation,
    log_ratio_moments,
    mask_losses,
    mdce,
    mdce_integral,
    subset_sums,
    time_free_nll,
    time_free_weights,
    unmasked_size_law,
)
from .process import Constant, ForwardProcess, FullSpaceProcess, Geometric, LogLinear, absorbing, uniform
from .score import (
    OracleScore,
    dse_estimator_moments,
    dse_limit,
    dse_loss,
    estimate_dse_nll,
    expected_dse,
)
from .sequences import Distribution, SequenceSpace

__version__ = "0.2.0"

#: Namespaces imported on first use (``ed.checks``, ``ed.symbolic``, …).
_LAZY = ("checks", "symbolic", "gaussian", "figures", "cli", "audit", "train")

__all__ = [
    # sequences and laws
    "SequenceSpace",
    "Distribution",
    "MarkovChain",
    "load_distribution",
    "fit_markov_chain",
    # the forward process
    "ForwardProcess",
    "FullSpaceProcess",
    "uniform",
    "absorbing",
    "Constant",
    "LogLinear",
    "Geometric",
    # information and score entropy
    "marginal",
    "pointwise_kl",
    "pointwise_kl_derivative",
    "mutual_information",
    "mutual_information_derivative",
    "marginal_entropy",
    "conditional_entropy",
    "concrete_score",
    "mdse",
    "mdse_integral",
    "mdse_running_integral",
    # bring your own score model
    "OracleScore",
    "dse_loss",
    "expected_dse",
    "dse_limit",
    "estimate_dse_nll",
    "dse_estimator_moments",
    # masked diffusion
    "mdce",
    "mdce_integral",
    "subset_sums",
    "dce_loss",
    "expected_dce",
    "dce_integral",
    "harmonic_number",
    "time_free_weights",
    "unmasked_size_law",
    "time_free_nll",
    "conditional_nll",
    "exact_conditional_nll",
    "log_ratio_expectation",
    # denoisers and estimators
    "evaluate_denoiser",
    "TableDenoiser",
    "OracleDenoiser",
    "EmpiricalDenoiser",
    "MarkovDenoiser",
    "CorruptedDenoiser",
    "Estimate",
    "EstimatorMoments",
    "MaskLaw",
    "estimate_nll",
    "estimate_conditional_nll",
    "estimate_log_ratio",
    "estimator_moments",
    "log_ratio_moments",
    "mask_losses",
    # numerics
    "richardson_derivative",
    # namespaces
    "adapters",
    "backend",
    "memory",
    *_LAZY,
]


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
