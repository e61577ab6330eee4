"""The figure of the DSE likelihood study: the exact variance of one draw of each DSE
estimator, per sequence, against the masked estimators on the same toy, with the oracle
and with an imperfect model, under the uniform and the absorbing process.

Every number comes from a library function: :func:`~exactdiff.information.dse_moments_table`
(enumeration over x_t, quadrature over σ̄, one pass per panel) for the DSE estimators and
q*, :func:`~exactdiff.estimator_moments` (every mask, exact rationals) for the masked
ones. The setup is fixed here so that the figure and ``benchmarks/dse_study.py`` share it.
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..score import CorruptedScore, DenoiserScore, OracleScore, dse_moments_table
from ..masked import CorruptedDenoiser, OracleDenoiser, estimator_moments
from ..process import Geometric, LogLinear, absorbing, uniform
from ..sequences import Distribution
from .style import pyplot as _pyplot
from .style import save as _save

__all__ = [
    "STUDY_PROCESSES",
    "STUDY_LAWS",
    "MASKED_LAWS",
    "study_models",
    "dse_variance_panel",
    "masked_variance_panel",
    "dse_estimator_variance_figure",
    "DSE_FIGURES",
]

#: The processes of the study, with T = 1: SEDD's uniform graph with its geometric noise
#: (exactdiff's shifted ``Geometric(1e-4, 20)``, σ̄(1) ≈ 20) and SEDD's/RADD's absorbing
#: graph with the log-linear noise (``LogLinear(1e-3)``, λ(1) = 0.999, so a prior term
#: L·1e-3·log N is part of every mean).
STUDY_PROCESSES = {
    "uniform": lambda N: uniform(N, Geometric(1e-4, 20.0)),
    "absorbing": lambda N: absorbing(N, LogLinear(1e-3)),
}
#: The end of the window, and SEDD's sampling cut-off (``sampling_eps``).
T_END, T_CUT = 1.0, 1e-3
#: The DSE estimators of each panel: (label, law, options), one quadrature pass.
STUDY_LAWS = (
    ("uniform_t", "uniform_t", {}),
    ("uniform_t, t_min=1e-3", "uniform_t", {"t_min": T_CUT}),
    ("log_sigma, t_min=1e-3", "log_sigma", {"t_min": T_CUT}),
    ("uniform_lambda", "uniform_lambda", {}),
    ("power", "power", {}),
)
#: The masked estimators (``ed.estimator_moments``), at ε = 0 for the time integral.
MASKED_LAWS = ("time_free", "k_dce", "time_integral")
#: The imperfect models: tempered (T = 1.5) and mixed (ε = 0.1).
EPSILON, TEMPERATURE = 0.1, 1.5


def study_models(p0, process):
    """{"oracle": the exact score, "imperfect": the corrupted one}: under the uniform
    process ``CorruptedScore(oracle, 0.1, 1.5)``; under the absorbing one the Lemma 3.3
    score of ``CorruptedDenoiser(OracleDenoiser(p0), 0.1, 1.5)``, the denoiser the masked
    estimators use, so that the two families estimate the same model (Theorem 3.4)."""
    oracle = OracleScore(p0, process)
    if process.name == "uniform":
        return {"oracle": oracle, "imperfect": CorruptedScore(oracle, process, EPSILON, TEMPERATURE)}
    return {"oracle": oracle,
            "imperfect": DenoiserScore(CorruptedDenoiser(OracleDenoiser(p0), EPSILON, TEMPERATURE), process)}


def _support(p0):
    return np.argwhere(np.asarray(p0.table) > 0)


def dse_variance_panel(p0, kind, model_name, *, laws=STUDY_LAWS, x0s=None) -> dict:
    """Exact moments of every DSE estimator for every support sequence of p0 (one pass).

    Returns a dict: ``x0`` (m, L), ``nll``, ``limit`` (the model's DSE likelihood, the
    mean of ``power``), ``variance`` {label: (m,)} with ``"optimal"`` (q*), ``cutoff_bias``
    {label: (m,)}, ``notes`` {label: [str]}, ``means``, ``moments`` (the
    EstimatorMoments), ``process`` and ``schedule`` (names) and ``cost``.
    """
    process = STUDY_PROCESSES[kind](p0.N)
    model = study_models(p0, process)[model_name]
    x0s = _support(p0) if x0s is None else np.asarray(x0s)
    table = dse_moments_table(model, process, x0s, list(laws), T=T_END)
    moments = table["moments"]
    return dict(
        x0=x0s, nll=-np.log(np.asarray(p0.table)[tuple(x0s.T)]), process=process.name, schedule=repr(process.schedule),
        limit=np.array([m.mean for m in moments["power"]]) if "power" in moments else None,
        variance={**{label: np.array([m.variance for m in rows]) for label, rows in moments.items()},
                  "optimal": np.array([o["variance"] for o in table["optimal"]])},
        means={label: np.array([m.mean for m in rows]) for label, rows in moments.items()},
        cutoff_bias={label: np.array([m.cutoff_bias for m in rows]) for label, rows in moments.items()},
        notes={label: [m.note for m in rows] for label, rows in moments.items()},
        moments=moments, cost=table["cost"])


def masked_variance_panel(p0, model_name, *, x0s=None) -> dict:
    """Exact mean and variance of one draw of each masked estimator (time-free, k-DCE,
    time-integral at ε = 0) for every support sequence, with the oracle denoiser or the
    corrupted one (``model_name`` "oracle" or "imperfect")."""
    den = OracleDenoiser(p0)
    if model_name == "imperfect":
        den = CorruptedDenoiser(den, EPSILON, TEMPERATURE)
    x0s = _support(p0) if x0s is None else np.asarray(x0s)
    rows = {law: [estimator_moments(den, x0, law) for x0 in x0s] for law in MASKED_LAWS}
    return dict(x0=x0s, variance={k: np.array([m.variance for m in v]) for k, v in rows.items()},
                means={k: np.array([m.mean for m in v]) for k, v in rows.items()}, moments=rows)


#: Panel titles of the processes.
_PROCESS_TEXT = {"uniform": f"uniform, Geometric(1e-4, 20): σ̄(T) ≈ 20, T = {T_END:g}",
                 "absorbing": f"absorbing, LogLinear(1e-3): λ(T) = 0.999, T = {T_END:g}"}
#: Styles: (colour, marker, line) per estimator.
_STYLE = {
    "uniform_t": ("tab:red", "v", "-"),
    "uniform_t, t_min=1e-3": ("tab:orange", "v", "--"),
    "log_sigma, t_min=1e-3": ("tab:brown", "s", ":"),
    "uniform_lambda": ("tab:pink", "^", "-"),
    "power": ("tab:blue", "o", "-"),
    "optimal": ("k", "", "-"),
    "time_free": ("tab:green", "D", "-"),
    "k_dce": ("tab:olive", "d", "--"),
    "time_integral": ("tab:purple", "x", ":"),
}


def _median_text(v):
    n_inf = int(np.isinf(v).sum())
    med = float(np.median(v))
    head = "∞" if math.isinf(med) else f"{med:.3g}"
    return head + (f", {n_inf}/{v.size} ∞" if n_inf else "")


def dse_estimator_variance_figure(path="figures/dse_estimator_variance.png", *, seed=0, p0=None, label=None,
                                  panels=None) -> dict:
    """The exact variance of one draw of each DSE likelihood estimator, per sequence.

    A 2×2 grid: rows the uniform process (``Geometric(1e-4, 20)``) and the absorbing one
    (``LogLinear(1e-3)``), T = 1; columns the oracle and the imperfect model
    (:func:`study_models`). In each panel the sequences of the toy are sorted by the
    variance of q*; lines give Var[D] of each DSE estimator (``uniform_t`` at t_min = 0
    and 1e-3, ``log_sigma`` at 1e-3, ``uniform_lambda``, ``power``) and of the optimal
    law q*, and of the masked estimators with the matching denoiser (time-free, k-DCE,
    time-integral at ε = 0; the same in both rows); an infinite variance is a marker at
    the top edge. The legend gives each median over sequences (and how many are ∞).

    Parameters
    ----------
    path : str
    seed : int
        Seed of the default toy, ``Distribution.paper_toy(seed=seed)`` (K = 128, N = 4,
        L = 8): the paper's recipe.
    p0 : Distribution, optional
        Another toy (``label`` names it in the title).
    panels : dict, optional
        Precomputed ``{(kind, model): dse_variance_panel(...)}`` and
        ``{("masked", model): masked_variance_panel(...)}`` (what ``benchmarks/dse_study.py``
        computes), to draw without recomputing.

    Returns
    -------
    dict
        ``path``, ``toy`` and ``panels`` (the plotted numbers).

    Cost: about 4 minutes on the paper toy on two loaded cores (four quadrature passes of
    165–270 nodes over 65,536 and 22,078 states for 128 sequences; measured 111, 86, 29
    and 25 s at load average 4).
    """
    plt = _pyplot()
    if p0 is None:
        p0, label = Distribution.paper_toy(seed=seed), f"paper recipe (K=128, N=4, L=8, seed {seed})"
    label = label or repr(p0)
    panels = dict(panels or {})
    for model_name in ("oracle", "imperfect"):
        if ("masked", model_name) not in panels:
            panels[("masked", model_name)] = masked_variance_panel(p0, model_name)
        for kind in STUDY_PROCESSES:
            if (kind, model_name) not in panels:
                panels[(kind, model_name)] = dse_variance_panel(p0, kind, model_name)
    fig, axes = plt.subplots(2, 2, figsize=(15, 12.5), constrained_layout=True)
    for r, kind in enumerate(STUDY_PROCESSES):
        for c, model_name in enumerate(("oracle", "imperfect")):
            ax = axes[r, c]
            panel, masked = panels[(kind, model_name)], panels[("masked", model_name)]
            order = np.argsort(panel["variance"]["optimal"])
            idx = np.arange(order.size)
            curves = [(k, v) for k, v in list(panel["variance"].items()) + list(masked["variance"].items())
                      if k in _STYLE]
            finite = np.concatenate([v[np.isfinite(v)] for _, v in curves])
            top = 10 ** math.ceil(math.log10(finite.max() * 1.5) + 0.5)
            n_inf = 0
            for name, v in curves:
                color, marker, line = _STYLE.get(name, ("gray", ".", "-"))
                v = v[order]
                what = f"{name} (masked)" if name in MASKED_LAWS else ("q* (optimal)" if name == "optimal" else name)
                ax.plot(idx, np.where(np.isfinite(v), v, np.nan), line, color=color, lw=2 if name == "optimal" else 1.3,
                        marker=marker if np.isinf(v).any() else None, markevery=[],
                        label=f"{what}: median {_median_text(v)}")
                inf = ~np.isfinite(v)
                if inf.any():  # infinite variances: markers near the top, one row per estimator
                    ax.plot(idx[inf], np.full(inf.sum(), top / 1.6 ** (1 + n_inf)), marker or "|", color=color,
                            ms=4, ls="none")
                    n_inf += 1
            ax.set_yscale("log")
            ax.set_ylim(finite.min() / 2, top)
            ax.grid(alpha=0.3, which="both")
            what = "oracle score" if model_name == "oracle" else f"imperfect model (ε={EPSILON:g}, T={TEMPERATURE:g})"
            ax.set_title(f"{_PROCESS_TEXT[kind]}: {what}", fontsize=10)
            ax.set_xlabel(f"sequence (the {order.size} of the toy, sorted by Var under q*)", fontsize=9)
            ax.set_ylabel("Var of one draw D (nats²)")
            ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    fig.suptitle(f"Exact variance of one draw of each DSE likelihood estimator, per sequence, against the masked "
                 f"estimators (markers at the top: infinite variance)\ntoy: {label}; uniform process with SEDD's "
                 f"geometric noise, absorbing process with the log-linear noise", fontsize=11)
    out = _save(fig, path)
    return dict(path=out, toy=label, panels=panels)


def _registered(out_dir, seed=0):
    """Write ``dse_estimator_variance.png`` into ``out_dir``; returns its path."""
    return dse_estimator_variance_figure(os.path.join(out_dir, "dse_estimator_variance.png"), seed=seed)["path"]


#: The gallery entries, ``name → f(out_dir, seed) -> path`` (see ``exactdiff.figures``).
DSE_FIGURES = {"dse_estimator_variance": _registered}
