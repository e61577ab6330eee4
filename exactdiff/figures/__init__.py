"""The figure gallery. ``FIGURES`` maps a name to a function ``f(out_dir, seed) -> path``;
:func:`generate_all` writes every figure (``exactdiff figures --out DIR``). Seeds are
fixed, so the pictures are the same every time. Importing this package imports no
plotting library; matplotlib is imported when a figure is drawn."""

from __future__ import annotations

from .companion import gaussian_vs_discrete
from .dse_variance import DSE_FIGURES
from .estimators import ESTIMATOR_FIGURES
from .information import i_mdce, information_curves, pointwise_kl_curves, running_nll, time_free_weights

FIGURES = {
    "information_curves": information_curves,
    "pointwise_kl": pointwise_kl_curves,
    "running_nll": running_nll,
    "i_mdce": i_mdce,
    "time_free_weights": time_free_weights,
    "gaussian_vs_discrete": gaussian_vs_discrete,
    **ESTIMATOR_FIGURES,
    **DSE_FIGURES,
}

__all__ = ["FIGURES", "generate_all"]


def generate_all(out_dir, seed=0, names=None, progress=True):
    """Write the figures (all, or ``names``) to ``out_dir``; returns their paths."""
    unknown = set(names or ()) - set(FIGURES)
    if unknown:
        raise ValueError(f"unknown figure(s) {sorted(unknown)}; choose from {sorted(FIGURES)}.")
    from tqdm import tqdm

    chosen = [n for n in FIGURES if names is None or n in names]
    paths = []
    for name in tqdm(chosen, desc="figures", disable=not progress, leave=False):
        paths.append(FIGURES[name](out_dir, seed=seed))
    return paths
