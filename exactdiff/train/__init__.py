"""A trained neural denoiser, audited exactly (the paper's Fig. 1a with a real network).

- :mod:`~exactdiff.train.network`: the network as a plain-NumPy float64 denoiser
  (:class:`NetworkDenoiser`), saved to and loaded from ``.npz`` (:func:`save_network`,
  :func:`load_denoiser`);
- :mod:`~exactdiff.train.exact`: the exact audit over every sequence of a toy — limit,
  bias and variance with every mask enumerated (:func:`exact_limits`), and the exact bias
  of the empirical denoiser on the same samples (:func:`empirical_bias`);
- :mod:`~exactdiff.train.laws`: the mask laws of the λ-DCE objective and the recipe;
- :mod:`~exactdiff.train.trainer`: training with JAX and optax on CPU
  (:func:`train_denoiser`), with the exact learning curve at checkpoints;
- :mod:`~exactdiff.train.figures`: the learning curve and Fig. 1a of a trained network;
- :mod:`~exactdiff.train.text`: a denoiser of text responses given a prompt, trained on
  samples of the order-k chain of ``exactdiff ood`` (:func:`train_text_denoiser`);
- :mod:`~exactdiff.train.text_audit`: its loss on all 2^R masks of a response in one
  batched pass per block (:func:`response_losses`), for exact limits at L = 32;
- :mod:`~exactdiff.train.text_figures`: the paper's Fig. c with the trained network and
  its ground truth, and the text network's learning curve.

Training needs the ``train`` extra (``pip install "exactdiff[train]"``: JAX on CPU and
optax). Nothing else here needs it: ``import exactdiff.train`` imports NumPy and exactdiff
only, and a saved network is loaded and audited without JAX.

Examples
--------
>>> import exactdiff as ed
>>> from exactdiff.train import exact_limits
>>> p0 = ed.Distribution.dirichlet(2, 3, seed=0)
>>> exact_limits(p0, ed.OracleDenoiser(p0)).totals()["max_abs_bias"] < 1e-12
True
"""

from __future__ import annotations

from .exact import MAX_AUDIT_ROWS, ExactLimits, empirical_bias, exact_limits
from .figures import fig1a_trained_network, learning_curve_figure
from .laws import RECIPE, RECIPE_SIZE_LAW, TRAINING_LAWS, size_law
from .network import NetworkDenoiser, load_denoiser, mlp_shapes, prompt_mlp_shapes, read_network, save_network
from .text import TEXT_RECIPE, TextTrainingResult, chain_entropy_rate, jax_prompt_log_probs, train_text_denoiser
from .text_audit import masked_inputs, response_losses, response_losses_direct
from .text_figures import figc_trained_network, text_learning_curve
from .trainer import TRAIN_EXTRA, TrainingResult, jax_log_probs, require_training_extra, train_denoiser

__all__ = [
    # the network, without JAX
    "NetworkDenoiser",
    "load_denoiser",
    "save_network",
    "read_network",
    "mlp_shapes",
    "prompt_mlp_shapes",
    # the exact audit
    "ExactLimits",
    "exact_limits",
    "empirical_bias",
    "MAX_AUDIT_ROWS",
    # training
    "train_denoiser",
    "TrainingResult",
    "jax_log_probs",
    "require_training_extra",
    "TRAIN_EXTRA",
    "TRAINING_LAWS",
    "RECIPE",
    "RECIPE_SIZE_LAW",
    "size_law",
    # the text network (issue 24)
    "train_text_denoiser",
    "TextTrainingResult",
    "TEXT_RECIPE",
    "chain_entropy_rate",
    "jax_prompt_log_probs",
    "response_losses",
    "response_losses_direct",
    "masked_inputs",
    # figures
    "learning_curve_figure",
    "fig1a_trained_network",
    "figc_trained_network",
    "text_learning_curve",
]
