"""benchmarks/gpu.sh and benchmarks/gpu.py without a GPU: the --dry-run flow, with NumPy
standing in for CuPy, and the JSON it writes; the stops for time and memory; the stop
when the device disagrees with NumPy on the toys."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _gpu_module():
    spec = importlib.util.spec_from_file_location("_gpu_benchmark", ROOT / "benchmarks" / "gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gpu = _gpu_module()


@pytest.mark.skipif(shutil.which("bash") is None, reason="gpu.sh is a bash script")
def test_dry_run_writes_the_json(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path / "out"), PYTHON=sys.executable, EXACTDIFF_SITE=str(tmp_path / "site"),
               OPENBLAS_NUM_THREADS="1")
    out = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu.sh"), "--dry-run"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads((tmp_path / "out" / "gpu.json").read_text())
    assert (tmp_path / "out" / "gpu.log").read_text().strip().endswith("gpu.json")
    assert result["dry_run"] is True and result["backend"] == "numpy-stand-in" and result["passed"] is True
    assert 0 < result["budget_s"] <= 20
    toy = result["toy_check"]
    assert toy["passed"] and toy["rtol"] == 1e-12 and len(toy["rows"]) == 6
    assert {(r["process"], r["quantity"]) for r in toy["rows"]} == {
        (p, q) for p in ("uniform", "absorbing") for q in ("mdse (pointwise)", "pointwise_kl", "mutual_information")}
    for kind, n in (("uniform", 4), ("absorbing", 5)):
        rows = [r for r in result["sizes"] if r["process"] == kind]
        assert [r["L"] for r in rows] == [4, 5, 6, 7]  # the dry run's sizes, in order, none skipped
        for r in rows:
            assert r["S"] == 4 ** r["L"] and r["table_states"] == n ** r["L"] and r["device_s"] > 0
            assert r["estimate_bytes"] >= 8 * r["S"]
            # NumPy is timed and compared up to L = 5 in the dry run, where both are NumPy: equal
            assert (r["agreement"] == 0.0 and r["numpy_s"] > 0) if r["L"] <= 5 else r["agreement"] is None
        assert result["largest_S"][kind] == 4**7
        assert result["stops"][kind] == {"reason": "max_L", "L": 8}


@pytest.mark.skipif(shutil.which("bash") is None, reason="gpu.sh is a bash script")
def test_gpu_sh_refuses_an_unknown_option_before_doing_anything(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path / "out"), EXACTDIFF_SITE=str(tmp_path / "site"))
    script = str(ROOT / "benchmarks" / "gpu.sh")
    bad = subprocess.run(["bash", script, "--bogus"], env=env, capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "gpu.sh: unknown option --bogus" in bad.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "site").exists()
    usage = subprocess.run(["bash", script, "--help"], capture_output=True, text=True, timeout=30)
    assert usage.returncode == 0 and "--dry-run" in usage.stdout and "download_wheels.sh" in usage.stdout


def test_stops_before_a_size_that_exceeds_the_time_left(tmp_path):
    assert gpu.main(["--dry-run", "--budget", "1e-6", "--out", str(tmp_path / "g.json")]) == 0
    result = json.loads((tmp_path / "g.json").read_text())
    # the first size always runs (nothing to predict from); the next is predicted past the budget
    assert [r["L"] for r in result["sizes"]] == [4, 4]
    assert all(s["reason"] == "time" and s["L"] == 5 for s in result["stops"].values())


def test_stops_before_a_size_that_exceeds_the_memory_limit(tmp_path):
    limit = 200_000
    assert gpu.main(["--dry-run", "--memory-limit", str(limit), "--out", str(tmp_path / "g.json")]) == 0
    result = json.loads((tmp_path / "g.json").read_text())
    for kind, stop in result["stops"].items():
        done = [r for r in result["sizes"] if r["process"] == kind]
        assert stop["reason"] == "memory" and stop["estimate_bytes"] > limit >= done[-1]["estimate_bytes"]
        assert stop["L"] == done[-1]["L"] + 1


def test_a_device_that_disagrees_with_numpy_stops_the_run(tmp_path, monkeypatch, capsys):
    class OffByOnePart10To9(gpu.NumpyStandIn):
        def to_host(self, x):
            return np.asarray(x) * (1 + 1e-9)

    monkeypatch.setitem(gpu.BACKENDS, "numpy-stand-in", OffByOnePart10To9)
    assert gpu.main(["--dry-run", "--out", str(tmp_path / "g.json")]) == gpu.EXIT_TOY_MISMATCH
    result = json.loads((tmp_path / "g.json").read_text())
    assert result["passed"] is False and result["toy_check"]["passed"] is False
    assert 5e-10 < result["toy_check"]["worst"] < 1e-8
    assert "sizes" not in result
    assert "disagrees with NumPy beyond 1e-12" in capsys.readouterr().err


def test_agreement_treats_infinities_exactly():
    assert gpu.agreement([1.0, np.inf], [1.0, np.inf]) == 0.0
    assert gpu.agreement([1.0, 2.0], [1.0, np.inf]) == np.inf
    assert gpu.agreement([np.inf], [-np.inf]) == np.inf
    assert gpu.agreement([3.0 + 3e-12], [3.0]) == pytest.approx(1e-12, rel=1e-3)
    assert gpu.agreement([0.5 + 1e-13], [0.5]) == pytest.approx(1e-13, rel=1e-2)  # relative to max(|x|, 1)
