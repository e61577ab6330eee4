"""The default verification suite that ``exactdiff verify`` runs.

A suite is a list of named tasks; each task returns a list of :class:`CheckResult`.
Toys are built from seeds, so a run is reproducible.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from ..markov import MarkovChain
from ..process import (
    Constant,
    ForwardProcess,
    FullSpaceProcess,
    Geometric,
    LogLinear,
    absorbing,
    random_full_space_generator,
    random_generator,
    uniform,
)
from ..sequences import Distribution
from . import denoisers as denoiser_checks
from . import engines as engine_checks
from . import estimators as estimator_checks
from . import laws as law_checks
from . import likelihood as likelihood_checks
from . import markov as markov_checks
from . import masked as masked_checks
from . import process as process_checks
from . import score_entropy as mdse_checks
from . import score_models as score_model_checks
from .result import CheckResult

__all__ = ["default_suite", "symbolic_suite", "run_suite", "format_table", "results_to_json"]


def _mdse_tasks(label, p0, process, seed, T, quick=False):
    setup = {"toy": label, "seed": seed}
    tasks = [
        (f"Theorem 3.1 / {label} / {process.name}",
         lambda: mdse_checks.check_theorem_3_1(p0, process, setup=setup, seed=seed)),
        (f"Theorem 3.1 (Richardson) / {label} / {process.name}",
         lambda: mdse_checks.check_theorem_3_1_finite_difference(p0, process, setup=setup, seed=seed)),
        (f"Theorem 3.2 / {label} / {process.name}",
         lambda: mdse_checks.check_theorem_3_2(p0, process, T, setup=setup)),
    ]
    if quick:
        return tasks
    tasks += [
        (f"H(p0) integral / {label} / {process.name}",
         lambda: mdse_checks.check_entropy_integral(p0, process, setup=setup)),
        (f"I = H - H / {label} / {process.name}",
         lambda: mdse_checks.check_information_entropies(p0, process, 0.5, setup=setup)),
    ]
    if process.schedule.t_max == float("inf"):
        tasks.append((f"Theorem 3.2 (T→∞) / {label} / {process.name}",
                      lambda: mdse_checks.check_theorem_3_2_infinite(p0, process, setup=setup)))
    if process.token_wise:
        tasks += [
            (f"engines / {label} / {process.name}",
             lambda: engine_checks.check_engines_agree(p0, process, 0.5, setup=setup, seed=seed)),
            (f"concrete score / {label} / {process.name}",
             lambda: engine_checks.check_concrete_score(p0, process, 0.5, setup=setup)),
        ]
    return tasks


def _conditional_cases(p0, seed, n_cases=4):
    """Prompt/response splits over the support of p0, contiguous and not (seeded)."""
    L = p0.L
    rng = np.random.default_rng(seed)
    support = np.argwhere(p0.table > 0)
    cases = []
    for j in range(n_cases):
        x = tuple(int(v) for v in support[rng.integers(len(support))])
        perm = [int(i) for i in rng.permutation(L)]
        n_target = 2 + j % max(1, L - 2) if L >= 3 else 1
        target = sorted(perm[:n_target]) if j % 2 else list(range(L - n_target, L))
        rest = [i for i in range(L) if i not in target]
        context = rest if j % 2 == 0 else rest[: max(0, len(rest) - 1)]
        cases.append((x, target, context))
    return cases


def _pairs(p0, seed, n=3):
    support = np.argwhere(p0.table > 0)
    rng = np.random.default_rng(seed)
    if len(support) < 2:
        return []
    return [tuple(tuple(int(v) for v in support[i]) for i in rng.choice(len(support), 2, replace=False))
            for _ in range(n)]


def _masked_tasks(label, p0, seed, quick=False):
    setup = {"toy": label, "seed": seed}
    pairs = _pairs(p0, seed)
    x0 = np.unravel_index(int(np.argmax(p0.table)), p0.table.shape)
    tasks = [
        (f"Theorem 4.1 / {label}", lambda: likelihood_checks.check_theorem_4_1(p0, setup=setup)),
        (f"law of |U| / L={p0.L}", lambda: likelihood_checks.check_unmasked_size_law(p0.L)),
        (f"Corollary 3.7 / {label}", lambda: masked_checks.check_corollary_3_7(p0, setup=setup)),
        (f"Corollary 3.6 / {label}", lambda: masked_checks.check_corollary_3_6(p0, setup=setup)),
    ]
    if pairs:
        y0 = pairs[0][0] if pairs[0][0] != tuple(int(v) for v in x0) else pairs[0][1]
        tasks.append((f"estimators (Monte Carlo) / {label}",
                      lambda: estimator_checks.check_estimator_monte_carlo(p0, x0, y0, seed=seed, setup=setup)))
    tasks.append((f"mask laws / {label}",
                  lambda: law_checks.check_mask_laws(p0, np.argwhere(p0.table > 0)[:6], setup=setup)))
    if quick:
        return tasks
    tasks += [
        ("Lemma 3.3 / random denoiser",
         lambda: masked_checks.check_lemma_3_3(N=p0.N, L=min(p0.L, 3), seed=seed, setup=setup)),
        (f"Theorem 3.4 / {label}", lambda: masked_checks.check_theorem_3_4(p0, seed=seed, setup=setup)),
        (f"Theorem 3.4 (log-linear) / {label}",
         lambda: masked_checks.check_theorem_3_4(p0, LogLinear(1e-3), 1.0, seed=seed, setup=setup)),
        (f"Corollary 4.3 / {label}",
         lambda: likelihood_checks.check_corollary_4_3(p0, _conditional_cases(p0, seed), setup=setup)),
        (f"estimator means / {label}",
         lambda: estimator_checks.check_estimator_means(p0, np.argwhere(p0.table > 0)[:6], setup=setup)),
    ]
    if pairs:
        tasks.append((f"Eq. 18 / {label}", lambda: likelihood_checks.check_eq_18(p0, pairs, setup=setup)))
    return tasks


#: The score-model row enumerates every reachable state at each of ~200–300 quadrature
#: nodes per process: above this many states a toy is checked on the marginal law of its
#: first SCORE_MODEL_MAX_L positions (the identity holds for every law).
SCORE_MODEL_MAX_STATES, SCORE_MODEL_MAX_L = 1024, 4


def _score_model_tasks(label, p0, seed, toy_independent):
    sub, sub_label = p0, label
    if p0.table.size > SCORE_MODEL_MAX_STATES:
        L = min(p0.L, SCORE_MODEL_MAX_L)
        sub = Distribution(p0.subsequence_table(range(L)), alphabet=p0.alphabet)
        sub_label = f"{label}, first {L} letters"
    x0 = np.unravel_index(int(np.argmax(sub.table)), sub.table.shape)
    tasks = [(f"score-model limit / {sub_label}",
              lambda: score_model_checks.check_score_model_limit(sub, setup={"toy": sub_label, "seed": seed})),
             (f"DSE estimators (Monte Carlo) / {sub_label}",
              lambda: score_model_checks.check_dse_estimator_monte_carlo(sub, x0, seed=seed,
                                                                         setup={"toy": sub_label, "seed": seed}))]
    if toy_independent:
        tasks.append(("SEDD adapter / random scores", lambda: score_model_checks.check_sedd_adapter(seed=seed)))
    return tasks


def _process_tasks(N, seed):
    schedules = (Constant(1.0), LogLinear(1e-3), Geometric(1e-3, 20.0))
    tasks = [(f"kernels / N={N}", lambda: process_checks.check_kernels(N, setup={"toy": "token kernels"}))]
    for schedule in schedules:
        tasks.append((f"schedule rate / {schedule!r}",
                      lambda schedule=schedule: process_checks.check_schedule_rate(schedule)))
    tasks.append(("fitted denoisers / N=3 L=3", lambda: denoiser_checks.check_fitted_denoisers(seed=seed)))
    chain = markov_checks.random_chain(N=3, order=2, seed=seed)
    tasks.append(("Markov chain vs enumeration / order 2, N=3",
                  lambda: markov_checks.check_markov_chain(chain, L=6, seed=seed,
                                                           setup={"toy": "random chain, order 2"})))
    return tasks


def _markov_tasks(seed):
    """The Fig. 1b setting: order-4 chain over "ATGC", 16-letter prompt + 16-letter response."""
    rng = np.random.default_rng(seed)
    chain = MarkovChain(rng.dirichlet(np.full(4, 0.5), size=(4,) * 4), alphabet="ATGC")
    samples = chain.sample(2, 32, rng)
    cases = [(tuple(int(v) for v in s), list(range(16, 32)), list(range(16))) for s in samples]
    setup = {"toy": "order-4 chain 16+16", "seed": seed, "N": 4, "L": 32}
    return [("Corollary 4.3 / order-4 chain 16+16",
             lambda: likelihood_checks.check_corollary_4_3(chain, cases, setup=setup))]


def _large_tasks(seed):
    """The paper's 128-sequence toy (S = 4^8 = 65,536, above the dense threshold) under a
    random non-symmetric process: Theorem 3.1 and the engines against the dense route on
    a seeded sample of x0."""
    paper = Distribution.paper_toy(seed=seed)
    proc = ForwardProcess(random_generator(4, seed=seed + 5), Constant(1.0), name="random non-symmetric")
    setup = {"toy": "paper recipe K=128", "seed": seed}
    times = (1e-4, 1e-2, 0.3, 1.0, 3.0)
    return [
        ("Theorem 3.1 / paper K=128 L=8 / random non-symmetric",
         lambda: mdse_checks.check_theorem_3_1(paper, proc, times, setup=setup, seed=seed)),
        ("engines / paper K=128 L=8 / random non-symmetric",
         lambda: engine_checks.check_engines_agree(paper, proc, 0.5, setup=setup, seed=seed)),
    ]


def symbolic_suite(seed=0, budget_s=20.0):
    """The sympy proofs (``exactdiff verify --symbolic``): one task, eleven cases."""
    from .symbolic import symbolic_checks

    return [("symbolic (sympy)", lambda: symbolic_checks(budget_s=budget_s, seed=seed))]


def default_suite(seed=0, quick=False, toy=None, label=None, symbolic=None, budget_s=20.0):
    """The list of (name, task) pairs of the default verification run.

    Toys: a sparse random table (N=3, L=3) under the uniform, absorbing and a random
    non-symmetric process, and in λ for the masked identities; the kernels and schedules
    themselves; a random order-2 chain with a non-stationary initial law against
    enumeration; a random full-space CTMC (N=3, L=2); the paper's 128-sequence toy (L=8,
    "ATGC", built from the paper's recipe with ``seed``) under the uniform process and,
    above the dense threshold, a random non-symmetric one; a seeded order-4 Markov chain
    in the Fig. 1b setting (16 + 16); the Gaussian companion.

    With ``toy`` (a Distribution, named ``label``), every identity of the forward process
    and of masked diffusion is checked on that toy instead, each along routes that fit
    its size (the dense route on a sample of x0 above 1,024 noisy states), and the rows
    that do not depend on a toy are left out.

    ``symbolic`` adds the sympy proofs (:func:`symbolic_suite`, ``budget_s`` per case);
    by default they are part of the full run and left out of the quick and toy runs.
    """
    if symbolic is None:
        symbolic = not quick and toy is None
    small = toy if toy is not None else Distribution.dirichlet(3, 3, seed=seed, zero_fraction=0.2)
    label = label or ("random table" if toy is None else "your toy")
    N = small.N
    processes = [
        uniform(N, Constant(1.0)) if N >= 2 else None,
        absorbing(N, LogLinear(1e-3)),
        ForwardProcess(random_generator(N, seed=seed + 1), Geometric(1e-3, 20.0), name="random non-symmetric"),
    ]
    tasks = _process_tasks(N, seed) if toy is None else []
    for proc in processes:
        if proc is None:
            continue
        T = min(0.9 * proc.schedule.t_max, proc.schedule.time_of_total(10.0))
        tasks += _mdse_tasks(label, small, proc, seed, T, quick)
    tasks += _masked_tasks(label, small, seed, quick)
    tasks += _score_model_tasks(label, small, seed, toy_independent=toy is None)
    if toy is not None:
        if not quick:
            small_proc = processes[2]
            tasks.append((f"variational bound / {label} / {small_proc.name}",
                          lambda: mdse_checks.check_variational_bound(small, small_proc, 1.0, seed=seed,
                                                                      setup={"toy": label, "seed": seed})))
        return tasks + (symbolic_suite(seed, budget_s) if symbolic else [])
    full_p0 = Distribution.dirichlet(3, 2, seed=seed + 2, zero_fraction=0.2)
    full = FullSpaceProcess(random_full_space_generator(3, 2, seed=seed + 3), 3, 2, Constant(1.0))
    tasks += _mdse_tasks("random CTMC", full_p0, full, seed, 1.0, quick)
    if not quick:
        small_proc = processes[2]
        tasks.append((f"variational bound / random table / {small_proc.name}",
                      lambda: mdse_checks.check_variational_bound(small, small_proc, 1.0, seed=seed,
                                                                  setup={"toy": "random table", "seed": seed})))
        paper = Distribution.paper_toy(seed=seed)
        tasks += _mdse_tasks("paper recipe K=128", paper, uniform(4, Constant(1.0)), seed, 2.0, quick=True)
        tasks.append(("Theorem 4.1 / paper K=128 L=8",
                      lambda: likelihood_checks.check_theorem_4_1(paper, setup={"toy": "paper recipe K=128", "seed": seed})))
        tasks += _large_tasks(seed)
        tasks += _markov_tasks(seed)
        from .gaussian import gaussian_checks

        tasks.append(("Gaussian I-MMSE companion", gaussian_checks))
    return tasks + (symbolic_suite(seed, budget_s) if symbolic else [])


def run_suite(tasks, progress=True, stream=None):
    """Run every task; returns (results, seconds).

    A progress bar (tqdm) is drawn on ``stream`` (standard error by default) only when
    ``progress`` is set and ``stream`` is a terminal, so a redirected stream gets no
    carriage-return frames. A task that raises ``ValueError`` or ``ArithmeticError`` is a
    failed row whose note is the error text.
    """
    stream = sys.stderr if stream is None else stream
    results = []
    start = time.perf_counter()
    show = bool(progress) and getattr(stream, "isatty", lambda: False)()
    if show:
        from tqdm import tqdm

        bar = tqdm(tasks, desc="exactdiff verify", unit="task", file=stream, leave=False)
    else:
        bar = tasks
    for name, task in bar:
        if show:
            bar.set_postfix_str(name[:60])
        try:
            results.extend(task())
        except (ValueError, ArithmeticError) as exc:  # a task that cannot run is a failed check
            results.append(CheckResult(name, "task error", {"error": type(exc).__name__}, float("nan"),
                                       float("nan"), float("inf"), float("inf"), 0.0, False,
                                       f"{type(exc).__name__}: {exc}"))
    return results, time.perf_counter() - start


#: Short names of the references and processes in the narrow table.
_SHORT = {"estimator (Monte Carlo)": "estimator MC", "forward process (MATH.md)": "process",
          "masked diffusion in λ": "masking", "variational bound (Sec. 3)": "var. bound",
          "Theorem 4.1 / Corollary 3.7 (estimators)": "estimators", "Markov chain (forward pass)": "Markov chain",
          "Markov chain (forward–backward)": "Markov chain", "Theorem 4.1 (law of |U|)": "Thm 4.1 |U|",
          "Theorem 4.1 (conditionals)": "Thm 4.1 h_k", "Theorem 4.2 / Corollary 4.3": "Cor 4.3",
          "Corollary 4.3 (conditionals)": "Cor 4.3", "Theorem 3.1 (s* is optimal)": "Thm 3.1",
          "I-MMSE (Guo–Shamai–Verdú 2005)": "I-MMSE", "SEDD adapter (DSE)": "SEDD", "pointwise I-MMSE (Venkat–Weissman 2012)": "I-MMSE",
          "NLL (Kong et al. 2023)": "Kong 2023", "Theorem": "Thm", "Corollary": "Cor", "Lemma": "Lem"}
_PROCESS = {"uniform": "unif", "absorbing": "abs", "absorbing (λ)": "λ", "random non-symmetric": "rand",
            "full-space": "full"}
_SCHEDULE = {"Constant": "const", "LogLinear": "loglin", "Geometric": "geom"}


def _reference(text):
    if text in _SHORT:
        return _SHORT[text]
    for long, short in _SHORT.items():
        text = text.replace(long, short)
    return text.split(" (")[0]


def _toy_key(setup):
    """What identifies a row's toy: its label and size (None for rows without a toy)."""
    if "method" in setup and "budget_s" in setup:
        return ("sympy", None, None)
    if "d" in setup and "K" in setup:
        return (f"Gaussian, {setup['K']} points in R^{setup['d']}", None, None)
    if "toy" in setup:
        return (setup["toy"], setup.get("N"), setup.get("L"))
    if "schedule" in setup:
        return ("schedule", None, None)
    return None


def _short_setup(setup, codes):
    key = _toy_key(setup)
    parts = [codes[key]] if key is not None and key in codes else []
    if not parts and "L" in setup:
        parts.append(f"L={setup['L']}")
    if key is not None and key[0] == "schedule":
        name = str(setup["schedule"]).split("(")[0]
        parts.append(_SCHEDULE.get(name, name[:6]))
    if "process" in setup:
        parts.append(_PROCESS.get(setup["process"], setup["process"][:6]))
    if "schedule" in setup and "toy" in setup:
        name = str(setup["schedule"]).split("(")[0]
        parts.append(_SCHEDULE.get(name, name[:6]))
    if "method" in setup and "budget_s" in setup:
        parts.append(f"{setup['elapsed_s']:.1f}s")
    return " ".join(parts)


def _setup_text(setup):
    if "method" in setup and "budget_s" in setup:  # a sympy proof
        return f"sympy ({setup['method']}, {setup.get('elapsed_s', 0):.2f} s of {setup['budget_s']:g} s)"
    if "d" in setup and "K" in setup:  # the Gaussian companion
        return f"Gaussian, K={setup['K']} points in R^{setup['d']}"
    keys = ("toy", "process", "schedule", "N", "L")
    return ", ".join(f"{k}={setup[k]}" if k in ("N", "L") else f"{setup[k]}" for k in keys if k in setup)


def _fit(text, width):
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(results, wide=False, width=100):
    """A plain-text table of the results: check, reference, setup, relative residual,
    tolerance and PASS/FAIL, then the count of passed checks.

    By default the table fits ``width`` columns: references are abbreviated, the setup
    column holds a toy code (explained in a legend under the table), the process and the
    schedule, and long check names are cut with "…". ``wide=True`` prints every field in
    full. A failed row whose computation raised is followed by its error text.
    """
    codes = {}
    for r in results:
        key = _toy_key(r.setup)
        if key is not None and key not in codes and key[0] != "schedule":
            codes[key] = f"T{len(codes) + 1}"
    rows = [["check", "reference", "setup", "residual", "tol", "result"]]
    for r in results:
        ref = r.reference if wide else _reference(r.reference)
        setup = _setup_text(r.setup) if wide else _short_setup(r.setup, codes)
        rows.append([r.name, ref, setup, f"{r.rel_err:.1e}", f"{r.tol:.0e}", "PASS" if r.passed else "FAIL"])
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    if not wide:
        for col, cap in ((1, 14), (2, 16)):
            widths[col] = min(widths[col], cap)
        widths[0] = max(24, width - sum(widths[1:]) - 2 * 5)
        for row in rows:
            for col in range(3):
                row[col] = _fit(row[col], widths[col])
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows[:1]]
    lines.append("  ".join("-" * w for w in widths))
    for r, row in zip(results, rows[1:]):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if r.reference == "task error":
            lines.append(("    " + _fit(r.note, width - 4)) if not wide else "    " + r.note)
    n_pass = sum(r.passed for r in results)
    lines.append(f"\n{n_pass}/{len(results)} checks passed")
    if not wide and codes:
        lines.append("toys:")
        for (label, N, L), code in codes.items():
            size = ", ".join(f"{k}={v}" for k, v in (("N", N), ("L", L)) if v is not None)
            lines.append(f"  {code}  {label}" + (f" ({size})" if size else ""))
        lines.append("processes: unif uniform, abs absorbing, rand random non-symmetric, full full-space")
        lines.append("  CTMC, λ masked diffusion in λ; schedules: const constant, loglin log-linear,")
        lines.append("  geom geometric. --wide prints every field in full.")
    return "\n".join(lines)


def results_to_json(results, seconds=None):
    """The results as a JSON document: passed, n_checks, seconds and every check."""
    return json.dumps({
        "passed": all(r.passed for r in results),
        "n_checks": len(results),
        "seconds": seconds,
        "checks": [r.to_dict() for r in results],
    }, indent=2)
