"""The wheel carries everything the package needs.

The wheel is built from a copy of the repository (so that a stale ``build/`` folder in
the checkout cannot leak files into it), installed without dependencies into a temporary
folder, and run from another temporary folder with ``python -S``: without ``site``, no
``.pth`` file runs, so an editable install of the checkout (``pip install -e .``, as CI
does) cannot supply a module the wheel lacks. The dependencies come from this
interpreter's site-packages, placed on ``PYTHONPATH`` after the wheel's folder.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: what never goes into the build: version control, environments, build outputs, results
_NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".whl",
                                     ".hypothesis", ".pytest_cache", "results", "*.pyc")


def _run(cmd, cwd, env=None, timeout=300):
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory):
    """(wheel path, folder the wheel was installed into without dependencies)."""
    # --no-build-isolation builds with this environment's setuptools and wheel (the
    # `test` extra installs both; setuptools < 70.1 needs wheel for bdist_wheel)
    tmp = tmp_path_factory.mktemp("wheel")
    src, dist, target = tmp / "src", tmp / "dist", tmp / "site"
    shutil.copytree(ROOT, src, ignore=_NOT_COPIED)
    out = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-cache-dir",
                "--disable-pip-version-check", "-q", "-w", str(dist), str(src)], cwd=tmp)
    assert out.returncode == 0, f"building the wheel failed:\n{out.stdout}\n{out.stderr}"
    (wheel,) = dist.glob("exactdiff-*.whl")
    out = _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile",
                "--disable-pip-version-check", "-q", "--target", str(target), str(wheel)], cwd=tmp)
    assert out.returncode == 0, f"installing the wheel failed:\n{out.stdout}\n{out.stderr}"
    return wheel, target


def _wheel_env(target):
    """Environment in which only the wheel's folder and this interpreter's
    site-packages are importable, with the repository absent."""
    site_dirs = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join([str(target), *site_dirs])
    env["OPENBLAS_NUM_THREADS"] = env.get("OPENBLAS_NUM_THREADS", "1")
    env["MPLBACKEND"] = "Agg"
    return env


def test_wheel_holds_every_module_and_the_version(installed_wheel):
    wheel, _ = installed_wheel
    source = {p.relative_to(ROOT).as_posix() for p in (ROOT / "exactdiff").rglob("*")
              if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = next(zf.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    missing = sorted(source - names)
    assert not missing, f"files of exactdiff/ missing from {wheel.name}: {missing}"
    import exactdiff

    assert f"\nVersion: {exactdiff.__version__}\n" in metadata
    assert wheel.name.startswith(f"exactdiff-{exactdiff.__version__}-")
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in names)


def test_verify_quick_runs_from_the_wheel(installed_wheel, tmp_path):
    _, target = installed_wheel
    env = _wheel_env(target)
    where = _run([sys.executable, "-S", "-c", "import exactdiff; print(exactdiff.__file__)"], cwd=tmp_path, env=env)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).resolve().is_relative_to(target.resolve())
    out = _run([sys.executable, "-S", "-m", "exactdiff", "verify", "--quick", "--no-progress"], cwd=tmp_path,
               env=env)
    assert out.returncode == 0, f"exactdiff verify --quick from the wheel failed:\n{out.stdout[-3000:]}\n{out.stderr}"
    assert "FAIL" not in out.stdout


def test_a_missing_subpackage_is_caught(installed_wheel, tmp_path):
    """The same run fails when the installed copy lacks a subpackage: the checkout does
    not stand in for it."""
    _, target = installed_wheel
    broken = tmp_path / "site"
    shutil.copytree(target, broken)
    shutil.rmtree(broken / "exactdiff" / "masked")
    out = _run([sys.executable, "-S", "-m", "exactdiff", "verify", "--quick", "--no-progress"], cwd=tmp_path,
               env=_wheel_env(broken))
    assert out.returncode != 0
    assert "No module named 'exactdiff.masked'" in out.stderr
