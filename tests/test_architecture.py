"""The layout's rules, checked on the source: no import cycle (imports inside functions
included) between modules or between subpackages, no private name imported across
subpackages, a deliberate public surface whose every name imports, no public name that
means two things, and no heavy import at ``import exactdiff``."""

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import exactdiff as ed

ROOT = Path(ed.__file__).resolve().parent
MODULES = sorted(ROOT.rglob("*.py"))


def _module_name(path):
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(module, level, package):
    """Absolute name of ``from <level dots><module> import ...`` inside ``package``."""
    if level == 0:
        return module
    base = package.split(".")
    base = base[: len(base) - level + 1]
    return ".".join(base + ([module] if module else []))


def _imports():
    """(importing module, imported exactdiff module, imported names) for every import
    statement anywhere in the package, functions included."""
    names = {_module_name(p) for p in MODULES}
    out = []
    for path in MODULES:
        mod = _module_name(path)
        package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                target = _resolve(node.module, node.level, package)
                if not target.startswith("exactdiff"):
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    out.append((mod, sub if sub in names else target, None if sub in names else alias.name))
            elif isinstance(node, ast.Import):
                out += [(mod, a.name, None) for a in node.names if a.name.startswith("exactdiff")]
    return out


def _subpackage(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _cycles(edges):
    """Strongly connected components with more than one node (Tarjan)."""
    graph = {}
    for a, b in edges:
        if a != b:
            graph.setdefault(a, set()).add(b)
            graph.setdefault(b, set())
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return comps


def test_no_import_cycle_between_modules():
    edges = [(a, b) for a, b, _ in _imports()]
    # a package's __init__ importing its own submodules is not a cycle of the design
    edges = [(a, b) for a, b in edges if not b.startswith(a + ".")]
    assert _cycles(edges) == []


def test_no_import_cycle_between_subpackages():
    edges = {(_subpackage(a), _subpackage(b)) for a, b, _ in _imports() if _subpackage(a) and _subpackage(b)}
    assert _cycles(edges) == []


def test_no_private_name_crosses_a_subpackage():
    bad = [(a, b, name) for a, b, name in _imports()
           if _subpackage(a) != _subpackage(b) and (
               (name or "").startswith("_") or any(part.startswith("_") for part in b.split(".")[1:]))]
    assert bad == []


def test_public_surface():
    assert len(ed.__all__) <= 70 and len(set(ed.__all__)) == len(ed.__all__)
    for name in ["Distribution", "ForwardProcess", "Constant", "LogLinear", "Geometric", "uniform", "absorbing",
                 "pointwise_kl", "mutual_information", "mdse", "mdce", "time_free_nll", "conditional_nll",
                 "OracleDenoiser", "estimate_nll", "estimator_moments", "checks", "symbolic", "gaussian"]:
        assert name in ed.__all__, name


def _public_modules():
    return [_module_name(p) for p in MODULES if not any(part.startswith("_") and part != "__init__.py"
                                                         for part in p.relative_to(ROOT).parts)]


def test_every_name_in_every_all_imports():
    for name in _public_modules():
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", []):
            assert hasattr(module, attr), f"{name}.{attr}"


def test_no_public_name_means_two_things():
    """A public function or class name is defined once: re-exports are the same object."""
    seen = {}
    for name in _public_modules():
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr)
            if inspect.ismodule(obj) or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if attr in seen:
                assert seen[attr][1] is obj, f"{attr}: {seen[attr][0]} and {name}"
            else:
                seen[attr] = (name, obj)


def test_import_exactdiff_loads_no_heavy_optional_library():
    code = ("import sys, exactdiff; heavy = [m for m in ('sympy', 'matplotlib', 'tqdm', 'mpmath', 'scipy.stats', 'dask', 'distributed', 'jax') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", ["checks", "symbolic", "gaussian", "figures", "cli", "audit", "train"])
def test_namespaces_load_on_first_use(name):
    assert inspect.ismodule(getattr(ed, name))
