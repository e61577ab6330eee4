"""The documentation site: every public name has an API page, every example a page shows
runs (with the README's, through the same machinery, ``tests/_examples.py``), every
relative link of the README and of the pages leads to a file, and the site builds with
warnings as errors (``slow``; CI builds it too)."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import types
import zlib
from pathlib import Path

import pytest
from _examples import HAVE_DATA, ROOT, SLOW, console_examples, needs_data, python_blocks, run_console, run_python_page

import exactdiff as ed

DOCS = Path(ROOT) / "docs"
sys.path.insert(0, str(DOCS / "_ext"))
import apigen  # noqa: E402  (docs/_ext/apigen.py: the generator of the API reference)

#: The pages a reader sees (the generated reference and the notebook copies excluded).
PAGES = sorted(p for p in DOCS.rglob("*.md") if p.relative_to(DOCS).parts[0] not in ("_build", "api", "notebooks"))
README = Path(ROOT) / "README.md"

#: Namespaces whose ``__all__`` the reference must cover, written down here independently of
#: the generator: the package, every namespace ``ed.__all__`` lists, and the subpackages
#: of the everyday API.
SUBPACKAGES = ("process", "information", "score", "masked", "markov", "sequences")


def _public_namespaces():
    listed = [n for n in ed.__all__ if isinstance(getattr(ed, n), types.ModuleType)]
    return ["exactdiff", *(f"exactdiff.{n}" for n in (*listed, *SUBPACKAGES))]


def _resolve(dotted):
    obj = ed
    for part in dotted.split(".")[1:]:
        obj = getattr(obj, part) if hasattr(obj, part) else importlib.import_module(f"{obj.__name__}.{part}")
    return obj


# -- (a) the API reference ----------------------------------------------------------------


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    out = tmp_path_factory.mktemp("api")
    apigen.write_api(str(out))
    return out


def _documented_object(page: Path):
    """The object a generated page documents, read from its directives."""
    text = page.read_text(encoding="utf-8")
    module = re.search(r"^\.\. currentmodule:: (\S+)$", text, flags=re.M)[1]
    name = re.search(r"^\.\. (?:autoclass|autofunction|py:data):: (\S+)$", text, flags=re.M)[1]
    return _resolve(f"{module}.{name}")


def test_the_generator_covers_every_public_namespace():
    assert set(_public_namespaces()) <= set(apigen.NAMESPACES)


@pytest.mark.parametrize("namespace", _public_namespaces())
def test_every_public_name_has_an_api_page(api, namespace):
    """Each name of the namespace's ``__all__`` is listed on the namespace's page and has a
    page of its own that documents that very object (a namespace: its page)."""
    module = _resolve(namespace)
    page = (api / f"{namespace}.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"^   ~?(\S+)$", page, flags=re.M)) | set(re.findall(r":(?:doc|data):`~?(\S+)`", page))
    missing = []
    for name in module.__all__:
        obj = getattr(module, name)
        if isinstance(obj, types.ModuleType):
            target = next(ns for ns in apigen.NAMESPACES if _resolve(ns) is obj)
            ok = (api / f"{target}.rst").exists() and target in listed
        else:
            pages = [p for p in (api / "generated").glob(f"*.{name}.rst") if _documented_object(p) is obj]
            ok = len(pages) == 1 and (name in listed or f"{pages[0].stem}" in listed)
        if not ok:
            missing.append(name)
    assert not missing, f"{namespace}: no API page for {missing}"


def test_an_object_is_documented_once(api):
    """A name that two namespaces share (``ed.MaskLaw`` is ``ed.masked.MaskLaw``) has one page."""
    stems = [p.stem for p in (api / "generated").glob("*.rst")]
    assert "exactdiff.MaskLaw" in stems and "exactdiff.masked.MaskLaw" not in stems
    assert "exactdiff.masked.GoodnessOfFit" in stems


def test_the_cli_help_is_generated(api):
    for command in ("exactdiff", "verify", "nll", "audit", "ood", "train", "figures"):
        assert "usage: exactdiff" in (api / "cli" / f"{command}.txt").read_text(encoding="utf-8")


# -- (b) the examples the pages show ------------------------------------------------------


def _page_id(path):
    return str(path.relative_to(ROOT))


def _bare(command):
    return command.split("#")[0].strip()


README_COMMANDS = {_bare(command) for command, _ in console_examples(README.read_text(encoding="utf-8"))}


def _console_params():
    params = []
    for page in PAGES:
        for command, expected in console_examples(page.read_text(encoding="utf-8")):
            if not command.startswith("exactdiff ") or _bare(command) in README_COMMANDS:
                continue  # a benchmark script (shown, not run), or one test_readme.py runs
            marks = [pytest.mark.skipif(not HAVE_DATA, reason="needs ../shared/data beside the project")] \
                if "../shared" in command else []
            if command.startswith(SLOW):
                marks.append(pytest.mark.slow)
            params.append(pytest.param(command, expected, marks=marks,
                                       id=f"{_page_id(page)}: {command.split('#')[0].strip()[:50]}"))
    return params


@pytest.mark.parametrize("command, expected", _console_params())
def test_page_console_example(command, expected, tmp_path):
    run_console(command, expected, tmp_path)


PYTHON_PAGES = [p for p in PAGES if python_blocks(p.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=_page_id)
def test_page_python_examples(page):
    """The page's python and pycon blocks run in order and print what they show."""
    text = page.read_text(encoding="utf-8")
    if needs_data(text) and not HAVE_DATA:
        pytest.skip("needs ../shared/data beside the project")
    run_python_page(python_blocks(text), _page_id(page))


def test_the_pages_have_examples():
    """The machinery finds what it should: the tour's doctests and console commands."""
    tour = (DOCS / "tour.md").read_text(encoding="utf-8")
    assert len(python_blocks(tour)) >= 4 and len(console_examples(tour)) >= 5


# -- links --------------------------------------------------------------------------------

_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
#: What is not prose: fenced code, inline code, display and inline math.
_NOT_PROSE = re.compile(r"```.*?```|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]+\$", flags=re.S)


@pytest.mark.parametrize("page", [README, *PAGES], ids=_page_id)
def test_relative_links_lead_to_files(page):
    """Every relative markdown link (``docs/guide/denoisers.md``, ``../figures/x.png``)
    names a file, so the pages read on a code host too; a guide another branch is writing
    (``apigen.PENDING_GUIDES``) may be missing until it is merged."""
    pending = {f"{name}.md" for name in apigen.PENDING_GUIDES}
    broken = []
    for target in _LINK.findall(_NOT_PROSE.sub("", page.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):
            continue
        path = (page.parent / target).resolve()
        if not path.exists() and not (path.parent.name == "guide" and path.name in pending):
            broken.append(target)
    assert not broken, f"{_page_id(page)}: links to missing files {broken}"


# -- the build ----------------------------------------------------------------------------


@pytest.mark.slow
def test_the_site_builds_with_warnings_as_errors(tmp_path):
    """``sphinx-build -W --keep-going -b html docs …`` succeeds, and its inventory holds
    every public name's page."""
    pytest.importorskip("sphinx", reason="the docs extra is not installed")
    pytest.importorskip("myst_nb", reason="the docs extra is not installed")
    pytest.importorskip("numpydoc", reason="the docs extra is not installed")
    out = tmp_path / "html"
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-d",
                           str(tmp_path / "doctrees"), str(DOCS), str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-4000:]
    header, _, body = (out / "objects.inv").read_bytes().partition(b"zlib.\n")  # four header lines, then zlib
    assert header.startswith(b"# Sphinx inventory version 2")
    rows = [line.split(" ", 2) for line in zlib.decompress(body).decode("utf-8").splitlines()]
    documented = {name for name, kind, _ in rows if kind.startswith("py:")}
    wanted = {entry.canonical for entry in apigen.api_entries()}
    assert not wanted - documented
