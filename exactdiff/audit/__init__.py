"""Auditing likelihood estimators and models against exact truth, and out-of-distribution
detection on real text with an exact AUROC.

- :mod:`~exactdiff.audit.limits`: per sequence, the truth, a denoiser's exact limit under
  a mask law, the bias (split into the law's and the model's), the variance and the draws
  needed, and a Monte Carlo estimate;
- :mod:`~exactdiff.audit.scores`: the same for a score model and a law of σ̄ (DSE);
- :mod:`~exactdiff.audit.report`: ``report.json``, ``report.md`` and the figures of an audit;
- :mod:`~exactdiff.audit.text`: the text8 alphabet, the mapping of other text to it, and
  reading text files;
- :mod:`~exactdiff.audit.ood`: prompt/response pairs, exact conditional NLLs, the exact
  and Monte Carlo AUROCs of out-of-distribution detection, and its figure;
- :mod:`~exactdiff.audit.influence`: "influenced by another distribution" on a toy with a
  known answer (the exact denoiser of a mixture of a data chain and a teacher chain).

Importing this package imports numpy and scipy only (matplotlib and tqdm when a figure or
a progress bar is drawn).
"""

from .influence import MixtureDenoiser, influence_experiment, plot_influence
from ..core.results import STDERR_GOAL, draws_for
from .limits import BIAS_TOL, ExactTruth, audit_denoiser
from .ood import auroc, ood_detection, plot_ood
from .report import write_report
from .scores import audit_score_model
from .text import TEXT8_ALPHABET, read_text, text8_normalize

__all__ = [
    "audit_denoiser",
    "audit_score_model",
    "ExactTruth",
    "draws_for",
    "write_report",
    "ood_detection",
    "auroc",
    "plot_ood",
    "influence_experiment",
    "MixtureDenoiser",
    "plot_influence",
    "read_text",
    "text8_normalize",
    "TEXT8_ALPHABET",
    "BIAS_TOL",
    "STDERR_GOAL",
]
