"""The default verification suite that ``exactdiff verify`` runs.

A suite is a list of named tasks; each task returns a list of :class:`CheckResult`.
Toys are built from seeds, so a run is reproducible.
"""

from __future__ import annotations

import json
import sys
import time

from .checks import mdse as mdse_checks
from .distribution import Distribution
from .process import FullSpaceProcess, ForwardProcess, absorbing, random_full_space_generator, random_generator, uniform
from .schedules import Constant, Geometric, LogLinear

__all__ = ["default_suite", "run_suite", "format_table", "results_to_json"]


def _mdse_tasks(label, p0, process, seed, T, quick=False, engines=True):
    setup = {"toy": label, "seed": seed}
    tasks = [
        (f"Theorem 3.1 / {label} / {process.name}",
         lambda: mdse_checks.check_theorem_3_1(p0, process, setup=setup)),
        (f"Theorem 3.2 / {label} / {process.name}",
         lambda: [mdse_checks.check_theorem_3_2(p0, process, T, setup=setup)]),
    ]
    if quick:
        return tasks
    tasks += [
        (f"Theorem 3.1 (Richardson) / {label} / {process.name}",
         lambda: [mdse_checks.check_theorem_3_1_finite_difference(p0, process, setup=setup)]),
        (f"H(p0) integral / {label} / {process.name}",
         lambda: [mdse_checks.check_entropy_integral(p0, process, setup=setup)]),
        (f"I = H - H / {label} / {process.name}",
         lambda: [mdse_checks.check_information_entropies(p0, process, 0.5, setup=setup)]),
    ]
    if process.schedule.t_max == float("inf"):
        tasks.append((f"Theorem 3.2 (T→∞) / {label} / {process.name}",
                      lambda: [mdse_checks.check_theorem_3_2_infinite(p0, process, setup=setup)]))
    if engines and process.token_wise:
        tasks.append((f"engines / {label} / {process.name}",
                      lambda: mdse_checks.check_engines_agree(p0, process, 0.5, setup=setup)))
    return tasks


def default_suite(seed=0, quick=False, toy=None):
    """The list of (name, task) pairs of the default verification run.

    Toys: a sparse random table (N=3, L=3) under the uniform, absorbing and a random
    non-symmetric process, a random full-space CTMC (N=3, L=2), and the paper's
    128-sequence toy (L=8, "ATGC", built from the paper's recipe with ``seed``). With
    ``toy`` (a Distribution) that toy replaces the random table.
    """
    small = toy if toy is not None else Distribution.dirichlet(3, 3, seed=seed, zero_fraction=0.2)
    N = small.N
    processes = [
        uniform(N, Constant(1.0)) if N >= 2 else None,
        absorbing(N, LogLinear(1e-3)),
        ForwardProcess(random_generator(N, seed=seed + 1), Geometric(1e-3, 20.0), name="random non-symmetric"),
    ]
    tasks = []
    for proc in processes:
        if proc is None:
            continue
        T = min(0.9 * proc.schedule.t_max, proc.schedule.time_of_total(10.0))
        tasks += _mdse_tasks("toy", small, proc, seed, T, quick)
    if not quick or toy is None:
        full_p0 = Distribution.dirichlet(3, 2, seed=seed + 2, zero_fraction=0.2)
        full = FullSpaceProcess(random_full_space_generator(3, 2, seed=seed + 3), 3, 2, Constant(1.0))
        tasks += _mdse_tasks("N=3 L=2", full_p0, full, seed, 1.0, quick)
    if not quick:
        small_proc = processes[2]
        tasks.append((f"variational bound / toy / {small_proc.name}",
                      lambda: [mdse_checks.check_variational_bound(small, small_proc, 1.0, seed=seed)]))
        paper = Distribution.paper_toy(seed=seed)
        tasks += _mdse_tasks("paper K=128 L=8", paper, uniform(4, Constant(1.0)), seed, 2.0, quick=True)
    return tasks


def run_suite(tasks, progress=True, stream=sys.stderr):
    """Run every task; returns (results, seconds). Shows a progress bar on ``stream``."""
    results = []
    start = time.perf_counter()
    try:
        from tqdm import tqdm

        bar = tqdm(tasks, desc="exactdiff verify", unit="task", file=stream, disable=not progress, leave=False)
    except ImportError:  # pragma: no cover - tqdm is a dependency
        bar = tasks
    for name, task in bar:
        if hasattr(bar, "set_postfix_str"):
            bar.set_postfix_str(name[:60])
        results.extend(task())
    return results, time.perf_counter() - start


def _setup_text(setup):
    keys = ("toy", "process", "schedule", "N", "L")
    return ", ".join(f"{setup[k]}" for k in keys if k in setup)


def format_table(results):
    """A plain-text table: check, reference, setup, residual, tolerance, pass/fail."""
    rows = [("check", "reference", "setup", "rel. residual", "tol", "result")]
    for r in results:
        rows.append((r.name, r.reference, _setup_text(r.setup), f"{r.rel_err:.2e}", f"{r.tol:.0e}",
                     "PASS" if r.passed else "FAIL"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    n_pass = sum(r.passed for r in results)
    lines.append(f"\n{n_pass}/{len(results)} checks passed")
    return "\n".join(lines)


def results_to_json(results, seconds=None):
    return json.dumps({
        "passed": all(r.passed for r in results),
        "n_checks": len(results),
        "seconds": seconds,
        "checks": [r.to_dict() for r in results],
    }, indent=2)
