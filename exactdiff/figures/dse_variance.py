"""The figure of the DSE likelihood study: the exact variance of one draw of each DSE
estimator, per sequence, against the optimal law q* and the masked estimators on the same
toy, for the oracle and five imperfect score models, under the uniform and the absorbing
process.

Every number comes from a library function: :func:`~exactdiff.score.dse_moments_table`
(enumeration over x, quadrature over σ̄, one pass per model and process) for the DSE
estimators and q*, :func:`~exactdiff.estimator_moments` (every mask, exact rationals) for
the masked ones. The setup — processes, laws and models — is fixed here so that the
figure, ``benchmarks/dse_study.py`` and docs/guide/dse_estimators.md share it.

**The models.** Besides the oracle s* (:class:`~exactdiff.OracleScore`), five imperfect
models; the first four have an error that does not vanish as σ̄ → 0 (κ(x0) > 0 for every
x0: the ratios at the states one jump from x0 are off by a factor that stays away from
1), the fitted one only next to other support points:

- ``imperfect``: tempered and mixed, ``CorruptedScore(s*, 0.1, 1.5)`` (uniform) or the
  Lemma 3.3 score of ``CorruptedDenoiser(oracle, 0.1, 1.5)`` (absorbing) — the study's
  first imperfect model; it keeps the decay of s* as σ̄ → ∞ by construction;
- ``perturbed``: s*·exp(0.15 sin(1.7 i + 2.3 v + 0.5)) (:class:`PerturbedScore`), a fixed
  error per (position i, token v) — under the uniform process it does **not** decay as
  σ̄ → ∞;
- ``biased``: 1.2·s* (:class:`BiasedScore`), the simplest score that does not decay under
  the uniform process: h → L(N−1)/N·φ(1.2), φ(u) = u − 1 − log u;
- ``misclocked``: s* read at the noise level σ̄/2 (:class:`MisclockedScore`), a network
  conditioned on the wrong noise; it decays like e^{−σ̄/2} instead of e^{−σ̄};
- ``fitted``: the oracle of the empirical law of 1,024 draws from p0 with one pseudo-count
  on each support point (:func:`fitted_table`): the right support, wrong weights (the
  score of its oracle denoiser under the absorbing process, Lemma 3.3).
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..masked import CorruptedDenoiser, OracleDenoiser, estimator_moments
from ..process import Geometric, LogLinear, absorbing, uniform
from ..score import CorruptedScore, DenoiserScore, OracleScore, dse_moments_table, evaluate_score_model
from ..score.laws import PowerLaw
from ..sequences import Distribution
from .style import pyplot as _pyplot
from .style import save as _save

__all__ = [
    "STUDY_PROCESSES",
    "STUDY_MODELS",
    "MASKED_LAWS",
    "PerturbedScore",
    "BiasedScore",
    "MisclockedScore",
    "study_laws",
    "study_models",
    "fitted_table",
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
#: The masked estimators (``ed.estimator_moments``), at ε = 0 for the time integral.
MASKED_LAWS = ("time_free", "k_dce", "time_integral")
#: The models of the study (module docstring), and their parameters.
STUDY_MODELS = ("oracle", "imperfect", "perturbed", "biased", "misclocked", "fitted")
EPSILON, TEMPERATURE = 0.1, 1.5
PERTURBATION, BIAS, CLOCK = 0.15, 1.2, 0.5
FIT_SAMPLES, FIT_SEED = 1024, 7
#: The law ``power`` had by default before the study of imperfect models: α = 1/4, ρ = 0.9
#: (absorbing) or 1/2, and no uniform-in-σ̄ part (ω = 0); and its label.
OLD_POWER = {"absorbing": (0.25, 0.9, 0.0), "uniform": (0.25, 0.5, 0.0), "general": (0.25, 0.5, 0.0)}
POWER_LAMBDA_ONLY = "power, old default (α=1/4, ω=0)"


class PerturbedScore:
    """A base model's scores times a fixed factor per (position, token):

    .. math:: s'(x)_{i,v} = s(x)_{i,v}\\, \\exp\\big(a \\sin(1.7\\, i + 2.3\\, v + 0.5)\\big),

    i = 0..L−1 the position, v = 0..n−1 the token. Under the uniform process, as σ̄ → ∞,
    s* → 1 and the true ratios r → 1, so h → h∞(x) = (1/N) Σ_i Σ_{v≠x^i} φ(f_{i,v}) with
    f the factor and φ(u) = u − 1 − log u: the error does not decay. Under the absorbing
    process s* and r decay together like e^{−σ̄}, and so does h.

    Parameters
    ----------
    base : score model
    process : ForwardProcess
    amplitude : float
        a (0.15 in the issue that introduced it).
    """

    log_scores = False

    def __init__(self, base, process, amplitude=PERTURBATION):
        self.base, self.process, self.L = base, process, base.L
        self.alphabet = getattr(base, "alphabet", None)
        i, v = np.arange(base.L)[:, None], np.arange(process.n)[None, :]
        self.factor = np.exp(float(amplitude) * np.sin(1.7 * i + 2.3 * v + 0.5))  # (L, n)

    def __repr__(self):
        return f"PerturbedScore({self.base!r})"

    def __call__(self, x, sigma_bar):
        return evaluate_score_model(self.base, self.process, sigma_bar, x) * self.factor[None]


class BiasedScore:
    """A base model's scores times a constant b: s' = b·s.

    Under the uniform process, as σ̄ → ∞, h → L(N−1)/N · φ(b), φ(u) = u − 1 − log u, the
    same at every state (the off-diagonal rates of the uniform generator are 1/N), so
    E[h² | σ̄] → (L(N−1)/N · φ(b))²: the simplest model that does not decay.
    """

    log_scores = False

    def __init__(self, base, process, b=BIAS):
        self.base, self.process, self.L, self.b = base, process, base.L, float(b)
        self.alphabet = getattr(base, "alphabet", None)

    def __repr__(self):
        return f"BiasedScore({self.base!r}, b={self.b:g})"

    def __call__(self, x, sigma_bar):
        return self.b * evaluate_score_model(self.base, self.process, sigma_bar, x)


class MisclockedScore:
    """A base model read at the wrong noise level: s'(x, σ̄) = s(x, c·σ̄).

    For the oracle, at the states one jump from x0 the ratio back to x0 is ~1/σ̄, so s'/s*
    → 1/c as σ̄ → 0 (an error that does not vanish). As σ̄ → ∞ s' decays like e^{−cσ̄}
    instead of e^{−σ̄}: E[h²] ~ e^{−4cσ̄} under the uniform process, e^{−2cσ̄} under the
    absorbing one, where a λ-law (q_σ̄ ∝ e^{−σ̄}) pays ∫ e^{(1−2c)σ̄} dσ̄.
    """

    log_scores = False

    def __init__(self, base, process, c=CLOCK):
        self.base, self.process, self.L, self.c = base, process, base.L, float(c)
        self.alphabet = getattr(base, "alphabet", None)

    def __repr__(self):
        return f"MisclockedScore({self.base!r}, c={self.c:g})"

    def __call__(self, x, sigma_bar):
        return evaluate_score_model(self.base, self.process, self.c * np.asarray(sigma_bar, dtype=np.float64), x)


def fitted_table(p0) -> np.ndarray:
    """The table of the ``fitted`` model: the empirical law of 1,024 seeded draws from p0
    with one pseudo-count on each support point of p0,
    p̂(x) = (n(x) + 1)/(1024 + K) on supp p0 (K points), 0 elsewhere — a law with the
    support of p0 and wrong weights on it, whose oracle score draws fast (K support points
    per Monte Carlo call, where a full-support table would need N^L)."""
    table = np.asarray(p0.table, dtype=np.float64)
    draws = Distribution(table).sample(FIT_SAMPLES, np.random.default_rng(FIT_SEED))
    counts = np.zeros(table.shape)
    np.add.at(counts, tuple(draws.T), 1.0)
    counts[table > 0] += 1.0
    return counts / counts.sum()


def study_models(p0, process, names=STUDY_MODELS) -> dict:
    """{name: score model} for the study's models (module docstring) on p0 and ``process``.

    Under the absorbing process ``imperfect`` is the Lemma 3.3 score of
    ``CorruptedDenoiser(OracleDenoiser(p0), 0.1, 1.5)``, the denoiser the masked estimators
    use, so that the two families estimate the same model (Theorem 3.4); ``fitted`` is the
    oracle score of :func:`fitted_table` (1,024 seeded draws), which is the Lemma
    3.3 score of the oracle denoiser of that table under the absorbing process.
    """
    unknown = set(names) - set(STUDY_MODELS)
    if unknown:
        raise ValueError(f"`names` must be among {list(STUDY_MODELS)} (got {sorted(unknown)}).")
    oracle = OracleScore(p0, process)
    make = {
        "oracle": lambda: oracle,
        "imperfect": lambda: (CorruptedScore(oracle, process, EPSILON, TEMPERATURE) if process.kind == "uniform" else
                              DenoiserScore(CorruptedDenoiser(OracleDenoiser(p0), EPSILON, TEMPERATURE), process)),
        "perturbed": lambda: PerturbedScore(oracle, process),
        "biased": lambda: BiasedScore(oracle, process),
        "misclocked": lambda: MisclockedScore(oracle, process),
        "fitted": lambda: OracleScore(fitted_table(p0), process),
    }
    return {name: make[name]() for name in names}


def study_laws(process) -> list:
    """The DSE estimators of every panel, (label, law, options) for
    :func:`~exactdiff.score.dse_moments_table`: ``uniform_t`` at t_min = 0 and 1e-3 (SEDD's
    ``sampling_eps``), ``log_sigma`` at 1e-3, ``uniform_lambda``, the default ``power``
    and the old default of ``power`` (:data:`OLD_POWER`: α = 1/4, no uniform-in-σ̄ part)."""
    return [
        ("uniform_t", "uniform_t", {}),
        ("uniform_t, t_min=1e-3", "uniform_t", {"t_min": T_CUT}),
        ("log_sigma, t_min=1e-3", "log_sigma", {"t_min": T_CUT}),
        ("uniform_lambda", "uniform_lambda", {}),
        (POWER_LAMBDA_ONLY, PowerLaw(*OLD_POWER[process.kind]), {}),
        ("power", "power", {}),
    ]


def _support(p0):
    return np.argwhere(np.asarray(p0.table) > 0)


def dse_variance_panel(p0, kind, model_name, *, laws=None, x0s=None) -> dict:
    """Exact moments of every DSE estimator for every support sequence of p0 (one pass).

    ``laws``: default :func:`study_laws`. Returns a dict: ``x0`` (m, L), ``nll``,
    ``limit`` (the model's DSE likelihood, the mean of ``power``), ``variance``
    {label: (m,)} with ``"optimal"`` (q*), ``kurtosis`` {label: (m,)}, ``cutoff_bias``,
    ``notes``, ``means``, ``moments`` (the EstimatorMoments), ``process``, ``schedule``
    and ``cost``.
    """
    process = STUDY_PROCESSES[kind](p0.N)
    model = study_models(p0, process, [model_name])[model_name]
    x0s = _support(p0) if x0s is None else np.asarray(x0s)
    laws = study_laws(process) if laws is None else list(laws)
    table = dse_moments_table(model, process, x0s, laws, T=T_END)
    moments = table["moments"]
    return dict(
        x0=x0s, nll=-np.log(np.asarray(p0.table)[tuple(x0s.T)]), process=process.name, schedule=repr(process.schedule),
        limit=np.array([m.mean for m in moments["power"]]) if "power" in moments else None,
        variance={**{label: np.array([m.variance for m in rows]) for label, rows in moments.items()},
                  "optimal": np.array([o["variance"] for o in table["optimal"]])},
        kurtosis={label: np.array([m.kurtosis for m in rows]) for label, rows in moments.items()},
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


#: Panel titles of the processes and the models.
_PROCESS_TEXT = {"uniform": f"uniform, Geometric(1e-4, 20), T = {T_END:g}",
                 "absorbing": f"absorbing, LogLinear(1e-3), T = {T_END:g}"}
_MODEL_TEXT = {"oracle": "oracle score", "imperfect": f"tempered & mixed (T={TEMPERATURE:g}, ε={EPSILON:g})",
               "perturbed": f"perturbed: s*·exp({PERTURBATION:g} sin(1.7i+2.3v+0.5))", "biased": f"biased: {BIAS:g}·s*",
               "misclocked": f"misclocked: s*(x, σ̄/{1 / CLOCK:g})", "fitted": f"fitted ({FIT_SAMPLES} draws)"}
#: The models drawn per sequence (the others enter the summary column only).
_PER_SEQUENCE = ("oracle", "imperfect", "perturbed")
#: Styles: (colour, marker, line) per estimator.
_STYLE = {
    "uniform_t": ("tab:red", "v", "-"),
    "uniform_t, t_min=1e-3": ("tab:orange", "v", "--"),
    "log_sigma, t_min=1e-3": ("tab:brown", "s", ":"),
    "uniform_lambda": ("tab:pink", "^", "-"),
    POWER_LAMBDA_ONLY: ("tab:cyan", "P", "--"),
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


def _sequence_panel(ax, panel, masked, kind, model_name):
    """Var of one draw per sequence (sorted by Var under q*), one line per estimator."""
    order = np.argsort(panel["variance"]["optimal"])
    idx = np.arange(order.size)
    curves = [(k, v) for k, v in list(panel["variance"].items()) + list((masked or {}).get("variance", {}).items())
              if k in _STYLE]
    finite = np.concatenate([v[np.isfinite(v)] for _, v in curves])
    top = 10 ** math.ceil(math.log10(finite.max() * 1.5) + 0.5)
    n_inf = 0
    for name, v in curves:
        color, marker, line = _STYLE[name]
        v = v[order]
        what = f"{name} (masked)" if name in MASKED_LAWS else ("q* (optimal)" if name == "optimal" else name)
        ax.plot(idx, np.where(np.isfinite(v), v, np.nan), line, color=color,
                lw=2 if name in ("optimal", "power") else 1.2, marker=marker if np.isinf(v).any() else None,
                markevery=[], label=f"{what}: median {_median_text(v)}")
        inf = ~np.isfinite(v)
        if inf.any():  # infinite variances: markers near the top, one row per estimator
            ax.plot(idx[inf], np.full(inf.sum(), top / 1.6 ** (1 + n_inf)), marker or "|", color=color, ms=4, ls="none")
            n_inf += 1
    ax.set_yscale("log")
    ax.set_ylim(finite.min() / 2, top)
    ax.grid(alpha=0.3, which="both")
    ax.set_title(f"{_PROCESS_TEXT[kind]}\n{_MODEL_TEXT[model_name]}", fontsize=9.5)
    ax.set_xlabel(f"sequence (the {order.size} of the toy, sorted by Var under q*)", fontsize=8.5)
    ax.set_ylabel("Var of one draw D (nats²)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1, frameon=False)


def _summary_panel(ax, panels, kind, models):
    """Var/Var(q*) per model: median over sequences (marker) and worst (end of the bar)."""
    labels = [k for k in _STYLE if k not in MASKED_LAWS and k != "optimal" and k != "uniform_t"]
    top = 1e6
    width = 0.8 / len(labels)
    for j, label in enumerate(labels):
        color, marker, _ = _STYLE[label]
        for i, model_name in enumerate(models):
            var = panels[(kind, model_name)]["variance"]
            ratio = var[label] / var["optimal"]
            x = i - 0.4 + width * (j + 0.5)
            med, worst = float(np.median(ratio)), float(np.max(ratio))
            shown = [min(v, top) for v in (med, worst)]
            ax.plot([x, x], shown, color=color, lw=1)
            ax.plot(x, shown[0], marker or "o", color=color, ms=5, ls="none",
                    label=label if i == 0 else None, mfc=color if math.isfinite(med) else "white")
    ax.axhline(1.0, color="k", lw=1.5, label="q* (optimal)")
    ax.set_yscale("log")
    ax.set_ylim(0.8, top * 1.5)
    ax.set_xticks(range(len(models)))
    ax.set_xticklabels(models, rotation=30, fontsize=8)
    ax.grid(alpha=0.3, which="both", axis="y")
    ax.set_ylabel("Var / Var(q*): median (marker) to worst (bar end)")
    ax.set_title(f"{_PROCESS_TEXT[kind]}\nevery model: ratio to q* (∞ drawn at 10⁶, hollow marker)", fontsize=9.5)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1, frameon=False)


def dse_estimator_variance_figure(path="figures/dse_estimator_variance.png", *, seed=0, p0=None, label=None,
                                  panels=None) -> dict:
    """The exact variance of one draw of each DSE likelihood estimator, per sequence, and
    its ratio to the optimal law q* for every model of the study.

    A 2×4 grid: rows the uniform process (``Geometric(1e-4, 20)``) and the absorbing one
    (``LogLinear(1e-3)``), T = 1. The first three columns are the oracle, the tempered
    and mixed model and the perturbed one (:func:`study_models`): the sequences of the toy
    sorted by the variance of q*, one line per estimator (:func:`study_laws`), q* and, for
    the first two, the masked estimators with the matching denoiser (time-free, k-DCE,
    time-integral at ε = 0; the same in both rows); an infinite variance is a marker at
    the top edge. The last column gives, for all six models, Var/Var(q*) of each law:
    median over sequences and worst.

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

    Cost on the paper toy: twelve quadrature passes (six models, two processes) of
    165–270 nodes over 65,536 (uniform) and 22,078 (absorbing) states for 128 sequences,
    and the masked estimators: measured 129–265 s per uniform pass and 44–53 s per
    absorbing one at load average 7–10, about 25 minutes in all on two loaded cores
    (``benchmarks/dse_study.py`` computes them in parts and draws from its results).
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
        for model_name in STUDY_MODELS:
            if (kind, model_name) not in panels:
                panels[(kind, model_name)] = dse_variance_panel(p0, kind, model_name)
    fig, axes = plt.subplots(2, 4, figsize=(22, 13), constrained_layout=True)
    for r, kind in enumerate(STUDY_PROCESSES):
        for c, model_name in enumerate(_PER_SEQUENCE):
            _sequence_panel(axes[r, c], panels[(kind, model_name)], panels.get(("masked", model_name)), kind,
                            model_name)
        _summary_panel(axes[r, 3], panels, kind, STUDY_MODELS)
    fig.suptitle(f"Exact variance of one draw of each DSE likelihood estimator, per sequence, against q* and the "
                 f"masked estimators (markers at the top: infinite variance)\ntoy: {label}; 'power' is the default "
                 f"law (α=1/5, with its uniform-in-σ̄ part); '{POWER_LAMBDA_ONLY}' the law it replaced", fontsize=11)
    out = _save(fig, path)
    return dict(path=out, toy=label, panels=panels)


def _registered(out_dir, seed=0):
    """Write ``dse_estimator_variance.png`` into ``out_dir``; returns its path."""
    return dse_estimator_variance_figure(os.path.join(out_dir, "dse_estimator_variance.png"), seed=seed)["path"]


#: The gallery entries, ``name → f(out_dir, seed) -> path`` (see ``exactdiff.figures``).
DSE_FIGURES = {"dse_estimator_variance": _registered}
