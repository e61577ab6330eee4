"""Mutation testing: does the test suite, and does ``exactdiff verify``, catch a wrong formula?

A curated list of mutants, each one genuine mathematical error (a transposed rate, a
dropped term, a wrong weight, a loosened check), written as an exact ``old`` source
snippet of one file and its ``new`` replacement. For every mutant:

1. the tracked files of the repository (``git ls-files``), as they are in the working
   tree, are copied once into a snapshot, and the snapshot into a fresh temporary
   directory ``<tmp>/repo`` (with ``<tmp>/shared`` linked to the project's ``../shared``,
   where the tests and figures look for the paper's tables);
2. ``old`` is replaced by ``new`` (``old`` must occur exactly once, or the script stops:
   the list cannot silently rot);
3. the mutated module is imported with the copy first on ``PYTHONPATH`` and
   ``exactdiff.__file__`` is asserted to lie in the copy; a mutant that does not import
   is reported INVALID (a syntax error is not a mathematical error);
4. ``python -m pytest -q -x -p no:cacheprovider`` runs in the copy: the mutant is
   *killed by tests* when it fails (the first failing test is recorded);
5. ``python -m exactdiff verify --no-progress --json FILE`` (the full default suite) runs
   in the copy: the mutant is *killed by verify* when it exits non-zero (the failing rows
   are recorded).

An unmutated ``baseline`` runs first (skip with ``--no-baseline``): both must pass on it,
or every kill would be meaningless. Goal (the issue): no mutant survives the tests, at
most 3 survive verify, each explained in the README.

Prints a progress line per mutant on stderr and a table at the end; writes
``benchmarks/results/mutants.json``. Run as ``python benchmarks/mutants.py`` from the
project's virtual environment (``--jobs 2`` mutants at a time, ``--only NAME...``,
``--list``; a run with ``--only`` writes ``mutants_only.json`` instead). A full run
takes about an hour on two cores.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from _common import write_json

ROOT = Path(__file__).resolve().parents[1]
#: Files beside the repository that the tests and figures read (``<root>/../shared/data``).
SHARED = ROOT.parent / "shared"

PYTEST = ["-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]
VERIFY = ["-m", "exactdiff", "verify", "--no-progress", "--json"]


def _m(name, file, old, new, error):
    return {"name": name, "file": file, "old": old, "new": new, "error": error}


DENSE = "exactdiff/information/engines/dense.py"
FACT = "exactdiff/information/engines/factorized.py"
EST = "exactdiff/masked/estimators.py"
FB = "exactdiff/markov/forward_backward.py"
LAWS = "exactdiff/masked/laws.py"
DSEL = "exactdiff/information/dse_likelihood.py"

#: The curated mutants. ``error`` states the mathematical error in one line.
MUTANTS = [
    # -- the DSE weight and the mdse contraction ----------------------------------------------
    _m("dense_dse_orientation", DENSE,
       "    W = off_diagonal(st.G)\n    out = _expected(st, W, concrete_score_matrix(st, W))",
       "    W = off_diagonal(st.G.T)\n    out = _expected(st, W, concrete_score_matrix(st, W))",
       "dense mdse weighs the DSE with Q_t(y, x) (rate from x into y) instead of Q_t(x, y)"),
    _m("factorized_mdse_B_untransposed", FACT,
       "F, zero = log_ratio_field(fz.marginal(), _off_diagonal(fz.Q), fz.Q.T)",
       "F, zero = log_ratio_field(fz.marginal(), _off_diagonal(fz.Q), fz.Q)",
       "factorized mdse field: Σ_i (Q along i) log p_t instead of (Qᵀ along i) log p_t"),
    _m("factorized_mdse_A_transposed", FACT,
       "F, zero = log_ratio_field(fz.marginal(), _off_diagonal(fz.Q), fz.Q.T)",
       "F, zero = log_ratio_field(fz.marginal(), _off_diagonal(fz.Q).T, fz.Q.T)",
       "factorized mdse field: [(Wᵀ along i) p_t]/p_t instead of [(W along i) p_t]/p_t"),
    _m("factorized_drop_K_term", FACT,
       "    out += fz.token_sum(token_constant(fz.Q, fz.k))\n",
       "",
       "factorized mdse drops σ Σ_i c(x0^i), the K(r) = r(log r − 1) term of the DSE"),
    # -- the KL derivative ----------------------------------------------------------------------
    _m("factorized_kl_derivative_B_untransposed", FACT,
       "inner, zero = log_ratio_field(fz.marginal(), Q, Q.T)",
       "inner, zero = log_ratio_field(fz.marginal(), Q, Q)",
       "d/dt KL: shared log-ratio helper called with B = Q instead of Qᵀ"),
    _m("factorized_kl_derivative_AB_swapped", FACT,
       "inner, zero = log_ratio_field(fz.marginal(), Q, Q.T)",
       "inner, zero = log_ratio_field(fz.marginal(), Q.T, Q)",
       "d/dt KL: shared log-ratio helper called with A and B swapped (Qᵀ for Q, Q for Qᵀ)"),
    _m("factorized_kl_derivative_sign", FACT,
       "    out -= fz.pull_back(inner)",
       "    out += fz.pull_back(inner)",
       "factorized d/dt KL: + E[ṗ_t/p_t + (Qᵀ log p_t)] instead of −"),
    _m("dense_kl_derivative_sign", DENSE,
       "    out = first - st.P.T @ ratio",
       "    out = first + st.P.T @ ratio",
       "dense d/dt KL: + Σ_x p_{t|0} ṗ_t/p_t instead of − (vanishes on average over x0)"),
    # -- the concrete score ----------------------------------------------------------------------
    _m("concrete_score_neighbour_inverted", "exactdiff/information/score_entropy.py",
       "out[..., i, v] = np.where(zero, 0.0, numer / safe)",
       "out[..., i, v] = np.where(zero | (numer == 0), 0.0, safe / np.where(numer == 0, 1.0, numer))",
       "neighbour-form concrete score p_t(x)/p_t(y) instead of p_t(y)/p_t(x)"),
    _m("concrete_score_matrix_inverted", DENSE,
       "data = np.where(px > 0, py / np.where(px > 0, px, 1.0), 0.0)",
       "data = np.where(py > 0, px / np.where(py > 0, py, 1.0), 0.0)",
       "matrix-form concrete score p_t(x)/p_t(y) instead of p_t(y)/p_t(x)"),
    # -- information ---------------------------------------------------------------------------------
    _m("entropy_in_bits", "exactdiff/information/divergences.py",
       "        return float(entr(pt).sum())",
       "        return float(entr(pt).sum() / np.log(2))",
       "H(p_t) in bits (log2) while every other quantity is in nats"),
    # -- the forward process ---------------------------------------------------------------------------
    _m("uniform_generator_unnormalised", "exactdiff/process/forward.py",
       "np.full((N, N), 1.0 / N) - np.eye(N)",
       "np.full((N, N), 1.0) - N * np.eye(N)",
       "uniform generator 11ᵀ − N·I instead of 11ᵀ/N − I (N times too fast)"),
    _m("token_kernel_rate_not_total", "exactdiff/process/forward.py",
       "return transition_kernel(self.Q, self.total(t), self.reachable)",
       "return transition_kernel(self.Q, self.rate(t), self.reachable)",
       "per-token kernel exp(σ(t) Q) instead of exp(σ̄(t) Q)"),
    _m("absorbing_kernel_mask_decays", "exactdiff/process/forward.py",
       "    k[N, N] = 1.0\n    return k",
       "    k[N, N] = np.exp(-sbar)\n    return k",
       "closed-form absorbing kernel: k(M|M) = e^{−σ̄} instead of 1 (the mask leaks)"),
    _m("geometric_rate_no_log", "exactdiff/process/schedules.py",
       "return self._level(t) * math.log(self.sigma_max / self.sigma_min)",
       "return self._level(t)",
       "Geometric σ(t) = σmin^{1−t} σmax^t without the factor log(σmax/σmin): not dσ̄/dt"),
    _m("loglinear_rate_no_1_minus_eps", "exactdiff/process/schedules.py",
       "return (1 - self.eps) / (1 - (1 - self.eps) * t)",
       "return 1.0 / (1 - (1 - self.eps) * t)",
       "LogLinear σ(t) = 1/(1 − (1−ε)t) instead of (1−ε)/(1 − (1−ε)t): off dσ̄/dt by 1/(1−ε)"),
    _m("geometric_rates_of_total_shift_dropped", "exactdiff/process/schedules.py",
       "return (np.asarray(sbar, dtype=np.float64) + self.sigma_min) * math.log(self.sigma_max / self.sigma_min)",
       "return np.asarray(sbar, dtype=np.float64) * math.log(self.sigma_max / self.sigma_min)",
       "Geometric σ at total σ̄ on arrays without the shift σmin: σ̄·log(σmax/σmin) instead of (σ̄ + σmin)·log(…)"),
    _m("lambda_of_t_inverted", "exactdiff/process/masking.py",
       "return -math.expm1(-process.total(validate_time(t)))",
       "return math.exp(-process.total(validate_time(t)))",
       "masking level λ(t) = e^{−σ̄} (the keep probability) instead of 1 − e^{−σ̄}"),
    _m("masking_kernel_swapped", "exactdiff/process/masking.py",
       "k[np.arange(N), np.arange(N)] = 1.0 - lam\n    k[N, :] = lam",
       "k[np.arange(N), np.arange(N)] = lam\n    k[N, :] = 1.0 - lam",
       "masking kernel k(v|v) = λ, k(M|v) = 1 − λ: masked with probability 1 − λ"),
    # -- masked diffusion: weights, subset sums, optimal denoiser ------------------------------
    _m("weights_H_L_minus_1", "exactdiff/masked/weights.py",
       "* time_free_weights(L) / harmonic_number(L)",
       "* time_free_weights(L) / harmonic_number(L - 1)",
       "law of |U| normalised by H_{L−1} instead of H_L"),
    _m("time_free_drop_empty_set", "exactdiff/masked/likelihood.py",
       "    for size in range(n):\n        for J in itertools.combinations(target, size):",
       "    for size in range(1, n):\n        for J in itertools.combinations(target, size):",
       "time-free sum over U ⊊ [L] without U = ∅ (the fully masked sequence)"),
    _m("subset_sum_coefficient", "exactdiff/masked/optimal.py",
       "(L - k) * A[k] - (k + 1) * A[k + 1]",
       "(L - k) * A[k] - k * A[k + 1]",
       "h_k = (L−k)A_k − k·A_{k+1} instead of (L−k)A_k − (k+1)A_{k+1}"),
    _m("mdce_integral_beta_swapped", "exactdiff/masked/optimal.py",
       "betainc(L - k, k + 1, Lambda)",
       "betainc(k + 1, L - k, Lambda)",
       "∫_0^Λ mdce/λ: incomplete Beta I_Λ(k+1, L−k) instead of I_Λ(L−k, k+1) (equal at Λ = 1)"),
    _m("empirical_alpha_one_over_N", "exactdiff/masked/denoisers.py",
       "return validate_pseudo_count(alpha, float(N) ** -L)",
       "return validate_pseudo_count(alpha, 1.0 / N)",
       "EmpiricalDenoiser default pseudo-count 1/N per sequence instead of 1/N^L"),
    # -- masked diffusion: estimators and their exact moments ---------------------------------
    _m("k_dce_weight_one_over_a", LAWS,
       'return cls(np.append(np.full(n, 1.0 / n), 0.0), "mean", float(n), name="k_dce")',
       'return cls(np.append(np.full(n, 1.0 / n), 0.0), "mean", 1.0, name="k_dce")',
       "k-DCE draw weighted 1/a instead of n/a"),
    _m("k_dce_mask_size_off_by_one", LAWS,
       "return rng.integers(lo, hi + 1, size=shape)",
       "return rng.integers(lo, hi, size=shape)",
       "a uniform size law never draws its largest number masked (k-DCE never masks everything)"),
    _m("time_integral_no_inverse_lambda", EST,
       "return masks, (1 - eps) / lam",
       "return masks, np.full(count, 1 - eps)",
       "time-integral estimator without the 1/λ weight"),
    _m("moments_variance_uncentred", EST,
       "variance = raw[1] - mean**2 if np.isfinite(raw[1]) else float(\"inf\")",
       "variance = raw[1] if np.isfinite(raw[1]) else float(\"inf\")",
       "exact Var[D] = E[D²] instead of E[D²] − E[D]²"),
    _m("log_ratio_uncoupled_masks", EST,
       "masks_y, w_y = masks, w",
       "masks_y, w_y = draw_masks(method, T.size, n, rng, eps)",
       "'coupled' Eq. 18 estimator draws an independent mask for y (still unbiased, larger variance)"),
    # -- Markov chains -------------------------------------------------------------------------------
    _m("markov_initial_law_ignored", FB,
       "self.initial = np.asarray(initial, dtype=np.float64).reshape(-1)",
       "self.initial = np.full(np.size(initial), 1.0 / np.size(initial))",
       "forward–backward starts from the uniform law of the first k letters, not the chain's"),
    _m("forward_backward_first_window_posteriors_dropped", FB,
       "qs = hid if j == k - 1 else ([k - 1] if bits[k - 1] else [])",
       "qs = [k - 1] if bits[k - 1] else []",
       "posteriors of the first k − 1 letters (window at k − 1) never computed"),
    _m("subset_table_right_scale_dropped", FB,
       "np.log(Z) + lsL[:, None] + lsR[None, :]",
       "np.log(Z) + lsL[:, None]",
       "subset table drops the log-scale of the backward messages"),
    # -- score models and the DSE likelihood (issue 12), mask laws (issue 13) ------------------------
    _m("score_entry_weights_transposed", "exactdiff/information/score_models.py",
       "return Q - np.diag(np.diag(Q))",
       "return (Q - np.diag(np.diag(Q))).T",
       "score-model DSE weight W[x^i, v] taken as the rate out of x into v (orientation flipped)"),
    _m("dse_per_rate_drops_K", DSEL,
       "term = np.where(W > 0, scores - xlogy(r, scores) + _K(r), 0.0)",
       "term = np.where(W > 0, scores - xlogy(r, scores), 0.0)",
       "score-model DSE loss without the constant K(r) = r(log r − 1)"),
    _m("dse_limit_drops_prior", DSEL,
       "value = I + prior",
       "value = I",
       "the model's exact DSE likelihood leaves out the prior term KL(p_T|0 ‖ π_T)"),
    _m("dse_draw_drops_prior", DSEL,
       "draws = h * inv_q + prior",
       "draws = h * inv_q",
       "a Monte Carlo draw of the DSE likelihood leaves out the prior term"),
    _m("time_free_law_uses_H_L_minus_1", LAWS,
       'return cls(np.append(unmasked_size_law(n), 0.0), "sum", harmonic_number(n), name="time_free")',
       'return cls(np.append(unmasked_size_law(n), 0.0), "sum", harmonic_number(n - 1), name="time_free")',
       "the time-free mask law scaled by H_{L−1} instead of H_L"),
    # -- the Gaussian companion --------------------------------------------------------------------
    _m("gaussian_nll_half_dropped", "exactdiff/gaussian.py",
       "return 0.5 * g * _quadrature(toy, [g], rule=rule, rtol=0.1 * rtol, atol=atol)[1][:, 0]",
       "return g * _quadrature(toy, [g], rule=rule, rtol=0.1 * rtol, atol=atol)[1][:, 0]",
       "Gaussian NLL = ∫_0^∞ mmse(x_j, γ) dγ without the factor ½"),
    _m("gaussian_mmse_doubled", "exactdiff/gaussian.py",
       "M[a, g_i] += np.sum(wt * np.einsum(\"dn,dn->n\", err, err))",
       "M[a, g_i] += 2.0 * np.sum(wt * np.einsum(\"dn,dn->n\", err, err))",
       "mmse formed as 2 E‖x_j − E[X|Z]‖², i.e. d/dγ KL = mmse (the I-MMSE ½ dropped)"),
    # -- symbolic and numerical helpers ---------------------------------------------------------
    _m("symbolic_dse_weights_orientation", "exactdiff/symbolic/algebra.py",
       "        if y != x and Q_t[x, y] != 0:\n            out[y] = Q_t[x, y]",
       "        if y != x and Q_t[y, x] != 0:\n            out[y] = Q_t[y, x]",
       "symbolic DSE weights Q_t(y, x) (rate from x into y) instead of Q_t(x, y)"),
    _m("richardson_coefficient", "exactdiff/core/numerics.py",
       "(table[m] - table[m - 1]) / (4.0**j - 1.0)",
       "(table[m] - table[m - 1]) / (2.0**j - 1.0)",
       "Richardson tableau divides by 2^j − 1 instead of 4^j − 1 (central differences are even in h)"),
    # -- broken checks ---------------------------------------------------------------------------------
    _m("check_theorem_3_2_drops_kl", "exactdiff/checks/score_entropy.py",
       "rhs = integral[support] + pointwise_kl(p0, process, T)[support]",
       "rhs = integral[support]",
       "Theorem 3.2 check compares −log p0 with ∫_0^T mdse dt alone, without KL(p_{T|0} ‖ p_T)"),
    _m("check_theorem_3_1_loose_tolerance", "exactdiff/checks/score_entropy.py",
       "TOL_DERIVATIVE = 1e-10",
       "TOL_DERIVATIVE = 1e-2",
       "Theorem 3.1 check held to 1e-2 instead of 1e-10"),
    _m("check_compare_nan_passes", "exactdiff/checks/result.py",
       "abs_err = np.where(np.isnan(abs_err), np.inf, abs_err)",
       "abs_err = np.where(np.isnan(abs_err), 0.0, abs_err)",
       "compare() counts a NaN residual as agreement (error 0)"),
    _m("check_engines_dense_vs_dense", "exactdiff/checks/engines.py",
       "    b = pointwise_kl(p0, process, t, engine=\"factorized\")[idx]\n"
       "    ma = dense(lambda **kw: mdse(p0, process, t, pointwise=True, **kw))\n"
       "    mb = mdse(p0, process, t, pointwise=True, engine=\"factorized\")[idx]",
       "    b = dense(lambda **kw: pointwise_kl(p0, process, t, **kw))\n"
       "    ma = dense(lambda **kw: mdse(p0, process, t, pointwise=True, **kw))\n"
       "    mb = dense(lambda **kw: mdse(p0, process, t, pointwise=True, **kw))",
       "the engines check compares the dense engine with itself"),
]


# -- the copies --------------------------------------------------------------------------------------
def _git(*args):
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, check=True).stdout


def repository_files(untracked=False):
    """The files to copy, relative to the root: ``git ls-files`` (and, with ``untracked``,
    the untracked files git does not ignore), as paths present in the working tree."""
    names = _git("ls-files", "-z").split(b"\0")
    if untracked:
        names += _git("ls-files", "-z", "--others", "--exclude-standard").split(b"\0")
    names = sorted({n.decode() for n in names if n})
    return [n for n in names if (ROOT / n).is_file()], [n for n in names if not (ROOT / n).exists()]


def make_snapshot(dest, files):
    """Copy ``files`` from the working tree into ``dest`` once; every mutant copies this."""
    for name in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)


def check_mutants(mutants, snapshot):
    """Every ``old`` must occur exactly once in its file and differ from ``new``."""
    problems = []
    names = [m["name"] for m in mutants]
    for m in mutants:
        path = snapshot / m["file"]
        if not path.is_file():
            problems.append(f"{m['name']}: {m['file']} does not exist")
            continue
        count = path.read_text(encoding="utf-8").count(m["old"])
        if count != 1:
            problems.append(f"{m['name']}: `old` occurs {count} times in {m['file']} (must be exactly once)")
        if m["old"] == m["new"]:
            problems.append(f"{m['name']}: `old` equals `new`")
        if names.count(m["name"]) > 1:
            problems.append(f"{m['name']}: duplicate name")
    if problems:
        raise SystemExit("the mutant list has rotted:\n  " + "\n  ".join(problems))


def _module(file):
    return file[:-3].replace("/", ".").removesuffix(".__init__")


def _env(copy):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(copy), env.get("PYTHONPATH")]))
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    env["MPLBACKEND"] = "Agg"
    return env


def _run(cmd, copy, timeout):
    start = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, *cmd], cwd=copy, env=_env(copy), capture_output=True,
                           text=True, timeout=timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as exc:
        rc, out, err = "timeout", exc.stdout or "", exc.stderr or ""
        out, err = (s.decode(errors="replace") if isinstance(s, bytes) else s for s in (out, err))
    return rc, out, err, time.perf_counter() - start


def _tail(text, lines=15):
    return "\n".join(text.strip().splitlines()[-lines:])


def _failing_tests(out):
    """The ``FAILED``/``ERROR`` lines of pytest's short summary (node id, and the message)."""
    found = []
    for line in out.splitlines():
        for tag in ("FAILED ", "ERROR "):
            if line.startswith(tag):
                found.append(line[len(tag):].strip())
    return found


def _row_label(check):
    s = check.get("setup", {})
    where = ", ".join(str(s[k]) if k not in ("N", "L", "K", "d") else f"{k}={s[k]}"
                      for k in ("toy", "process", "schedule", "N", "L", "K", "d") if k in s)
    return f"{check['name']} [{where}]" if where else check["name"]


def run_mutant(m, snapshot, tmp_root, timeout, keep):
    """Copy, mutate, import, test and verify one mutant; returns its record."""
    start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=f"{m['name']}-", dir=tmp_root))
    copy = work / "repo"
    shutil.copytree(snapshot, copy)
    if SHARED.is_dir():
        (work / "shared").symlink_to(SHARED, target_is_directory=True)
    rec = {k: m[k] for k in ("name", "file", "error")}
    if m["old"] is not None:
        path = copy / m["file"]
        text = path.read_text(encoding="utf-8")
        assert text.count(m["old"]) == 1, m["name"]
        path.write_text(text.replace(m["old"], m["new"]), encoding="utf-8")
    try:
        module = _module(m["file"]) if m["file"] else "exactdiff"
        probe = f"import importlib, exactdiff; importlib.import_module({module!r}); print(exactdiff.__file__)"
        rc, out, err, _ = _run(["-c", probe], copy, 120)
        if rc != 0:
            rec.update(status="INVALID", import_error=_tail(err, 8), seconds=time.perf_counter() - start)
            return rec
        imported = Path(out.strip().splitlines()[-1]).resolve()
        if copy.resolve() not in imported.parents:
            raise RuntimeError(f"{m['name']}: exactdiff was imported from {imported}, not from the copy {copy}")
        rec["imported_from"] = str(imported)

        rc, out, err, sec = _run(PYTEST, copy, timeout)
        failing = _failing_tests(out)
        summary = [ln for ln in out.strip().splitlines() if " passed" in ln or " failed" in ln or " error" in ln]
        rec["tests"] = {"rc": rc, "killed": rc != 0, "first_failure": failing[0] if failing else None,
                        "failures": failing, "summary": summary[-1] if summary else None, "seconds": sec}
        if rc != 0 and not failing:
            rec["tests"]["output_tail"] = _tail(out + "\n" + err)

        report = work / "verify.json"
        rc, out, err, sec = _run(VERIFY + [str(report)], copy, timeout)
        rows, n_checks, crashed = [], None, False
        try:
            payload = json.loads(report.read_text())
            n_checks = payload["n_checks"]
            rows = [{"row": _row_label(c), "reference": c["reference"], "rel_err": c["rel_err"], "tol": c["tol"]}
                    for c in payload["checks"] if not c["passed"]]
        except (OSError, ValueError, KeyError):
            crashed = True
        rec["verify"] = {"rc": rc, "killed": rc != 0, "crashed": crashed, "n_checks": n_checks,
                         "failing_rows": rows, "seconds": sec}
        if crashed:
            rec["verify"]["output_tail"] = _tail(out + "\n" + err)
        rec["status"] = "ok"
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            rec["copy"] = str(copy)
    rec["seconds"] = time.perf_counter() - start
    return rec


# -- reporting ---------------------------------------------------------------------------------------
def _short_test(rec):
    t = rec.get("tests", {})
    if not t.get("killed"):
        return "-"
    if t.get("rc") == "timeout":
        return "(timeout)"
    first = t.get("first_failure") or "(no FAILED line)"
    return first.split(" - ")[0]


def progress_line(i, total, rec):
    if rec["status"] == "INVALID":
        return f"[{i}/{total}] {rec['name']}: INVALID (does not import) {rec['seconds']:.0f} s"
    t, v = rec["tests"], rec["verify"]
    tests = f"tests KILLED by {_short_test(rec)}" if t["killed"] else "tests SURVIVED"
    verify = (f"verify KILLED ({len(v['failing_rows'])} rows{', crashed' if v['crashed'] else ''})"
              if v["killed"] else "verify SURVIVED")
    return f"[{i}/{total}] {rec['name']}: {tests}; {verify}; {rec['seconds']:.0f} s"


def print_table(records):
    head = ("mutant", "file", "tests", "first failing test", "verify", "rows", "seconds")
    rows = []
    for r in records:
        f = r["file"].removeprefix("exactdiff/") if r["file"] else "-"
        if r["status"] == "INVALID":
            rows.append((r["name"], f, "INVALID", "-", "INVALID", "-", f"{r['seconds']:.0f}"))
            continue
        t, v = r["tests"], r["verify"]
        nrows = f"{len(v['failing_rows'])}" + ("+crash" if v["crashed"] else "")
        rows.append((r["name"], f, "killed" if t["killed"] else "SURVIVED", _short_test(r),
                     "killed" if v["killed"] else "SURVIVED", nrows if v["killed"] else "0", f"{r['seconds']:.0f}"))
    widths = [max(len(str(row[i])) for row in [head] + rows) for i in range(len(head))]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=2, help="mutants run at a time (default 2)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="run only these mutants")
    ap.add_argument("--list", action="store_true", help="check and list the mutants, run nothing")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated baseline run")
    ap.add_argument("--timeout", type=float, default=1800.0,
                    help="seconds allowed to pytest and to verify, each, per mutant (default 1800)")
    ap.add_argument("--untracked", action="store_true",
                    help="also copy untracked files that git does not ignore (default: tracked files only)")
    ap.add_argument("--tmp", type=Path, default=None, help="where the copies go (default: the system temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the mutated copies")
    args = ap.parse_args(argv)

    mutants = MUTANTS
    if args.only:
        unknown = sorted(set(args.only) - {m["name"] for m in MUTANTS})
        if unknown:
            raise SystemExit(f"unknown mutant(s): {', '.join(unknown)} (see --list)")
        mutants = [m for m in MUTANTS if m["name"] in args.only]

    tmp_root = Path(tempfile.mkdtemp(prefix="exactdiff-mutants-", dir=args.tmp))
    try:
        files, missing = repository_files(args.untracked)
        snapshot = tmp_root / "snapshot"
        make_snapshot(snapshot, files)
        check_mutants(MUTANTS, snapshot)  # the whole list, even with --only: it must not rot
        if args.list:
            for m in MUTANTS:
                print(f"{m['name']:42s} {m['file']:42s} {m['error']}")
            print(f"{len(MUTANTS)} mutants; every `old` occurs exactly once.")
            return 0
        jobs = ([] if args.no_baseline else [dict(name="baseline", file="", old=None, new=None, error="(unmutated)")])
        jobs += mutants
        head = _git("rev-parse", "HEAD").decode().strip()
        status = _git("status", "--porcelain").decode().splitlines()
        print(f"{len(jobs)} runs ({len(files)} files copied, HEAD {head[:10]}, "
              f"{len(status)} paths differ from HEAD), {args.jobs} at a time", file=sys.stderr, flush=True)
        start = time.perf_counter()
        records, done = {}, 0
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = {pool.submit(run_mutant, m, snapshot, tmp_root, args.timeout, args.keep): m["name"] for m in jobs}
            for fut in as_completed(futures):
                rec = fut.result()
                records[rec["name"]] = rec
                done += 1
                print(progress_line(done, len(jobs), rec), file=sys.stderr, flush=True)
        total = time.perf_counter() - start
    finally:
        if not args.keep:
            shutil.rmtree(tmp_root, ignore_errors=True)

    baseline = records.pop("baseline", None)
    ordered = [records[m["name"]] for m in mutants]
    valid = [r for r in ordered if r["status"] == "ok"]
    survive_tests = [r["name"] for r in valid if not r["tests"]["killed"]]
    survive_verify = [r["name"] for r in valid if not r["verify"]["killed"]]
    invalid = [r["name"] for r in ordered if r["status"] == "INVALID"]

    print()
    print_table(ordered)
    print()
    if baseline is not None:
        ok = baseline["status"] == "ok" and not baseline["tests"]["killed"] and not baseline["verify"]["killed"]
        print(f"baseline (unmutated): {'tests and verify pass' if ok else 'FAILS: ' + progress_line(0, 0, baseline)}")
    print(f"{len(ordered)} mutants, {len(invalid)} invalid; survive the tests: {len(survive_tests)} "
          f"{survive_tests}; survive verify: {len(survive_verify)} {survive_verify}")
    print(f"goal: none survives the tests: {'met' if not survive_tests else 'NOT met'}; "
          f"at most 3 survive verify: {'met' if len(survive_verify) <= 3 else 'NOT met'}")
    print(f"total wall time {total:.0f} s ({args.jobs} jobs)")
    if not args.only:
        write_json("mutants", dict(
            benchmark="mutants", head=head, dirty_paths=status, files_copied=len(files),
            untracked_copied=args.untracked, missing_tracked=missing, jobs=args.jobs,
            pytest=" ".join(["python", *PYTEST]), verify=" ".join(["python", *VERIFY, "FILE"]),
            seconds=total, baseline=baseline, mutants=ordered, invalid=invalid,
            survive_tests=survive_tests, survive_verify=survive_verify,
            goal_tests=not survive_tests, goal_verify=len(survive_verify) <= 3,
            descriptions={m["name"]: {"file": m["file"], "error": m["error"], "old": m["old"], "new": m["new"]}
                          for m in mutants}))
    else:
        write_json("mutants_only", dict(benchmark="mutants", only=args.only, head=head, dirty_paths=status,
                                        seconds=total, baseline=baseline, mutants=ordered))
    return 0


if __name__ == "__main__":
    sys.exit(main())
