"""Write the API reference of exactdiff from the package's ``__all__`` lists.

One page per public namespace (``docs/api/<namespace>.rst``) with a summary table of
every name in its ``__all__``, and one page per object (``docs/api/generated/``). An
object listed by several namespaces (``ed.MaskLaw`` is also ``ed.masked.MaskLaw``) is
documented once, under the first namespace of :data:`NAMESPACES` that lists it, and the
other namespaces link to that page. A name added to an ``__all__`` appears on the next
build without editing the docs. ``docs/conf.py`` calls :func:`write_api` before Sphinx
reads the sources; ``tests/test_docs.py`` calls it into a scratch folder and checks that
every public name got a page.

The output is generated (git-ignored): edit this script, never the pages.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import re
import shutil
import sys
import types
from dataclasses import dataclass

#: The public namespaces, in the order that decides where a shared object is documented.
NAMESPACES = (
    "exactdiff",
    "exactdiff.process",
    "exactdiff.information",
    "exactdiff.score",
    "exactdiff.masked",
    "exactdiff.markov",
    "exactdiff.sequences",
    "exactdiff.checks",
    "exactdiff.symbolic",
    "exactdiff.gaussian",
    "exactdiff.audit",
    "exactdiff.train",
    "exactdiff.adapters",
    "exactdiff.memory",
    "exactdiff.backend",
    "exactdiff.figures",
    "exactdiff.cli",
)

#: One line under each namespace's title in the index of the reference.
BLURBS = {
    "exactdiff": "the everyday API: ``import exactdiff as ed``",
    "exactdiff.process": "forward processes, generators, schedules, λ ↔ σ̄",
    "exactdiff.information": "exact quantities of the forward process: marginals, KL, mutual information, mdse",
    "exactdiff.score": "score models: the protocol, ℓ_DSE, σ̄ laws, estimators and their exact moments",
    "exactdiff.masked": "masked diffusion: denoisers, DCE, the time-free sums, mask laws, estimators",
    "exactdiff.markov": "k-th order Markov chains and their exact conditionals",
    "exactdiff.sequences": "the state space V^L and probability tables over it",
    "exactdiff.checks": "the identity checks that ``exactdiff verify`` runs",
    "exactdiff.symbolic": "sympy building blocks and the reduction to 0",
    "exactdiff.gaussian": "the I-MMSE companion",
    "exactdiff.audit": "audits of denoisers and score models, OOD detection on text8",
    "exactdiff.train": "the ``train`` extra: a network trained with the λ-DCE loss",
    "exactdiff.adapters": "SEDD's conventions",
    "exactdiff.memory": "the one memory limit and the memory estimates",
    "exactdiff.backend": "array libraries (NumPy, CuPy, Dask) through array-api-compat",
    "exactdiff.figures": "the figure gallery",
    "exactdiff.cli": "the command line: ``exactdiff verify|nll|audit|ood|train|figures``",
}

#: Guide pages that other branches are writing (issue 23). ``guide/index.md`` lists them in
#: its toctrees in their final place; until a page is merged, its entry is dropped when the
#: index is read (:func:`_drop_pending_guides`), so the build stays free of warnings. Empty
#: this once they are all in ``docs/guide/``.
PENDING_GUIDES = ("score_models", "dse_estimators", "auditing_code", "verify_range")

#: Data values shown in full when their repr is at most this long.
SHORT_REPR = 80


@dataclass(frozen=True)
class Entry:
    """A name of a namespace's ``__all__`` and the page that documents it."""

    namespace: str  # where it is listed
    name: str  # as listed
    kind: str  # "module", "class", "function" or "data"
    canonical: str  # the full name of the documented object (the page's name)

    @property
    def page(self) -> str:
        """The document (without suffix, relative to ``docs/``) that documents it."""
        if self.kind == "module":
            return f"api/{self.canonical}"
        return f"api/generated/{self.canonical}"


def load(dotted: str):
    """The object at a public dotted path (``exactdiff.memory`` is an attribute of
    ``exactdiff``, not an importable module)."""
    parts = dotted.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(".".join(parts[: i + 1]))
    return obj


def public_names(namespace: str) -> list[str]:
    """The namespace's ``__all__``, each name once, in order."""
    module = load(namespace)
    names = getattr(module, "__all__", None)
    if names is None:
        raise ValueError(f"`{namespace}` has no __all__.")
    return list(dict.fromkeys(names))


def kind_of(obj) -> str:
    if isinstance(obj, types.ModuleType):
        return "module"
    if inspect.isclass(obj):
        return "class"
    if inspect.isroutine(obj):
        return "function"
    return "data"


def api_entries() -> list[Entry]:
    """Every (namespace, name) of the public API with the page that documents it."""
    modules = {id(load(ns)): ns for ns in NAMESPACES}
    seen: dict[tuple[str, int], str] = {}  # (name, id(object)) -> canonical full name
    entries = []
    for ns in NAMESPACES:
        module = load(ns)
        for name in public_names(ns):
            obj = getattr(module, name)
            kind = kind_of(obj)
            if kind == "module":
                if id(obj) not in modules:
                    raise ValueError(f"`{ns}.{name}` is a module that is not in NAMESPACES; add it there.")
                canonical = modules[id(obj)]
            else:
                canonical = seen.setdefault((name, id(obj)), f"{ns}.{name}")
            entries.append(Entry(ns, name, kind, canonical))
    return entries


def _title(text: str, char: str = "=") -> str:
    return f"{text}\n{char * len(text)}\n"


def _attr_comments(module) -> dict[str, str]:
    """``{name: text}`` of the ``#:`` comments (the lines just above a module-level
    assignment, or after it on the same line) of a module, as Sphinx reads them."""
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):  # a module without source (never the case in a checkout)
        return {}
    lines = source.splitlines()
    comments = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        names += [e.id for t in targets if isinstance(t, ast.Tuple) for e in t.elts if isinstance(e, ast.Name)]
        if not names:
            continue
        above, k = [], node.lineno - 2
        while k >= 0 and lines[k].lstrip().startswith("#:"):
            above.insert(0, lines[k].lstrip()[2:].strip())
            k -= 1
        trailing = lines[node.lineno - 1].partition("#:")[2].strip()
        text = "\n".join(above) or trailing
        for name in names:
            if text:
                comments[name] = text
    return comments


def _data_comment(name: str, obj) -> str:
    """The ``#:`` comment on the assignment that defines ``obj`` in some module of the
    package (autodoc would look only in the namespace that re-exports it)."""
    for modname, module in sorted(sys.modules.items()):
        if modname.startswith("exactdiff") and getattr(module, name, None) is obj:
            text = _attr_comments(module).get(name)
            if text:
                return text
    return ""


def _object_page(entry: Entry) -> str:
    module, _, name = entry.canonical.rpartition(".")
    text = _title(entry.canonical) + f"\n.. currentmodule:: {module}\n\n"
    if entry.kind == "class":
        return text + f".. autoclass:: {name}\n   :members:\n   :special-members: __call__\n"
    if entry.kind == "function":
        return text + f".. autofunction:: {name}\n"
    obj = load(entry.canonical)
    value = repr(obj)
    text += f".. py:data:: {name}\n"
    if len(value) <= SHORT_REPR and isinstance(obj, (int, float, str, tuple, frozenset)):
        text += f"   :value: {value}\n"
    else:
        text += f"   :type: {type(obj).__name__}\n"
    comment = "\n".join(escape_bars(_data_comment(name, obj).splitlines()))
    comment = comment or f"A {type(obj).__name__}; see :doc:`the namespace <../{module}>`."
    return text + "\n" + "".join(f"   {line}\n" if line else "\n" for line in comment.splitlines())


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    end = re.search(r"\.(\s|$)", text)
    return text[: end.start() + 1] if end else text


def _constants(entries: list[Entry]) -> str:
    """A list of data entries with the first sentence of their ``#:`` comment (autosummary
    would show the docstring of their type, "Built-in immutable sequence.")."""
    lines = []
    for e in entries:
        comment = _first_sentence(" ".join(escape_bars(_data_comment(e.name, load(e.canonical)).splitlines())))
        lines.append(f"- :data:`~{e.canonical}`" + (f" — {comment}" if comment else "") + "\n")
    return "".join(lines) + "\n"


def _namespace_page(namespace: str, entries: list[Entry]) -> str:
    own = [e for e in entries if e.kind != "module" and e.canonical == f"{namespace}.{e.name}"]
    shared = [e for e in entries if e.kind != "module" and e not in own]
    subs = [e for e in entries if e.kind == "module"]
    text = _title(namespace) + f"\n.. automodule:: {namespace}\n   :no-members:\n\n.. currentmodule:: {namespace}\n\n"
    code = [e for e in own if e.kind != "data"]
    data = [e for e in own if e.kind == "data"]
    if code:
        text += ".. autosummary::\n   :toctree: generated/\n   :nosignatures:\n\n"
        text += "".join(f"   {e.name}\n" for e in code) + "\n"
    if data:
        text += _title("Constants", "-") + "\n" + _constants(data)
        text += ".. toctree::\n   :hidden:\n\n" + "".join(f"   generated/{e.canonical}\n" for e in data) + "\n"
    if shared:
        text += _title("Documented elsewhere", "-") + "\nThe same objects, listed here too:\n\n"
        shared_code = [e for e in shared if e.kind != "data"]
        if shared_code:
            text += ".. autosummary::\n   :nosignatures:\n\n"
            text += "".join(f"   ~{e.canonical}\n" for e in shared_code) + "\n"
        text += _constants([e for e in shared if e.kind == "data"])
    if subs:
        text += _title("Namespaces", "-") + "\n"
        text += "".join(f"- :doc:`{e.canonical}` — {BLURBS[e.canonical]}\n" for e in subs) + "\n"
    return text


def _index_page() -> str:
    text = _title("API reference") + "\n"
    text += (
        "Every public name of exactdiff, generated from the ``__all__`` list of each namespace. "
        "``import exactdiff as ed`` gives the everyday API; the specialist names live in the "
        "namespaces below (``ed.masked``, ``ed.score``, …). An object listed by several "
        "namespaces is documented once, under the first one here, and the others link to it.\n\n"
    )
    text += ".. toctree::\n   :maxdepth: 1\n   :hidden:\n\n" + "".join(f"   {ns}\n" for ns in NAMESPACES) + "\n"
    text += "".join(f"- :doc:`{ns}` — {BLURBS[ns]}\n" for ns in NAMESPACES)
    return text


def cli_help() -> dict[str, str]:
    """The ``--help`` text of ``exactdiff`` and of each subcommand, 88 columns wide."""
    os.environ["COLUMNS"] = "88"  # argparse wraps to the terminal width
    from exactdiff.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if getattr(a, "choices", None) and "verify" in a.choices)
    texts = {"exactdiff": parser.format_help()}
    texts.update({name: sub.format_help() for name, sub in subparsers.choices.items()})
    return texts


def _write(path: str, text: str) -> None:
    """Write only what changed, so that Sphinx rereads only those pages."""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_api(out_dir: str) -> list[Entry]:
    """Write the reference into ``out_dir`` (``docs/api``): ``index.rst``, a page per
    namespace, ``generated/<name>.rst`` per object and ``cli/<command>.txt``; pages
    left from names that were removed are deleted. Returns the entries."""
    entries = api_entries()
    generated = os.path.join(out_dir, "generated")
    os.makedirs(generated, exist_ok=True)
    os.makedirs(os.path.join(out_dir, "cli"), exist_ok=True)
    wanted = {"index.rst"}
    for ns in NAMESPACES:
        wanted.add(f"{ns}.rst")
        _write(os.path.join(out_dir, f"{ns}.rst"), _namespace_page(ns, [e for e in entries if e.namespace == ns]))
    _write(os.path.join(out_dir, "index.rst"), _index_page())
    pages = set()
    for entry in entries:
        if entry.kind != "module" and entry.canonical not in pages:
            pages.add(entry.canonical)
            _write(os.path.join(generated, f"{entry.canonical}.rst"), _object_page(entry))
    for name, text in cli_help().items():
        _write(os.path.join(out_dir, "cli", f"{name}.txt"), text)
    for stale in set(os.listdir(generated)) - {f"{p}.rst" for p in pages}:
        os.remove(os.path.join(generated, stale))
    for stale in {f for f in os.listdir(out_dir) if f.endswith(".rst")} - wanted:
        os.remove(os.path.join(out_dir, stale))
    return entries


def copy_notebooks(src_dir: str, out_dir: str) -> list[str]:
    """Copy the committed notebooks into the source tree (``docs/notebooks``, git-ignored),
    unchanged, so that myst-nb renders their stored outputs; returns their names."""
    os.makedirs(out_dir, exist_ok=True)
    names = sorted(f for f in os.listdir(src_dir) if f.endswith(".ipynb"))
    for name in names:
        src, dst = os.path.join(src_dir, name), os.path.join(out_dir, name)
        if not os.path.exists(dst) or open(src, "rb").read() != open(dst, "rb").read():
            shutil.copyfile(src, dst)
    for stale in set(os.listdir(out_dir)) - set(names):
        os.remove(os.path.join(out_dir, stale))
    return names


# -- Sphinx extension: references to any public path of a documented object -------------


def _aliases() -> dict[str, str]:
    """Every public dotted path, the defining module's path and, where it names one object,
    the bare name of each documented object, mapped to the name it is documented under."""
    aliases, bare = {}, {}
    for entry in api_entries():
        if entry.kind == "module":
            continue
        aliases[f"{entry.namespace}.{entry.name}"] = entry.canonical
        bare.setdefault(entry.name, set()).add(entry.canonical)
        obj = load(entry.canonical)
        qualname = getattr(obj, "__qualname__", None)
        if entry.kind in ("class", "function") and getattr(obj, "__module__", None) and qualname:
            aliases.setdefault(f"{obj.__module__}.{qualname}", entry.canonical)
        elif entry.kind == "data":
            for modname, module in list(sys.modules.items()):
                if modname.startswith("exactdiff") and getattr(module, entry.name, None) is obj:
                    aliases.setdefault(f"{modname}.{entry.name}", entry.canonical)
    for name, canonicals in bare.items():
        if len(canonicals) == 1:
            aliases.setdefault(name, canonicals.pop())
    return aliases


_ALIASES: dict[str, str] = {}


def _resolve_alias(app, env, node, contnode):
    """A reference to ``exactdiff.masked.estimate_nll`` (or to the defining module's
    ``exactdiff.masked.estimators.estimate_nll``, or to a bare ``estimate_nll`` that names
    one public object) resolves to ``exactdiff.estimate_nll``, where it is documented; a
    method or attribute path resolves through its class. A module that has no page of its
    own (``exactdiff.score.laws``) resolves to its namespace's page."""
    if node.get("refdomain") != "py":
        return None
    if not _ALIASES:
        _ALIASES.update(_aliases())
    domain = env.domains["py"]
    target = node.get("reftarget", "")
    if node.get("reftype") == "mod":
        module = target.rpartition(".")[0]
        while module and module not in domain.modules:
            module = module.rpartition(".")[0]
        if not module:
            return None
        new_node = node.deepcopy()
        new_node["reftarget"] = module
        return domain.resolve_xref(env, node["refdoc"], app.builder, "mod", module, new_node, contnode)
    candidates = [target]
    if node.get("py:module") and not target.startswith("exactdiff"):
        candidates.insert(0, f"{node['py:module']}.{target}")
    for candidate in candidates:
        head, tail = candidate, ""
        while head:
            if head in _ALIASES and _ALIASES[head] + tail != target:
                new = _ALIASES[head] + tail
                new_node = node.deepcopy()
                new_node["reftarget"] = new
                return domain.resolve_xref(env, node["refdoc"], app.builder, "obj", new, new_node, contnode)
            head, _, last = head.rpartition(".")
            tail = f".{last}{tail}"
    return None


# -- Sphinx extension: a bar in a docstring is a bar ---------------------------------------

# Docstrings write |U|, |T| and |bias| for sizes and absolute values, as plain text
# (``help()`` shows them as written). reST would read ``|U|`` as a substitution
# reference; the package defines none, so every bar in prose is escaped on the way into
# Sphinx. Left alone: inline literals and roles (``…``, :math:`…`), the bodies of
# directives and literal blocks (``.. math::`` among them), doctests and the lines of grid
# tables (``+---`` or ``| … |``).
_INLINE = re.compile(r"(``.+?``|:[\w:+-]+:`[^`]*`|`[^`]*`_{0,2})")


def escape_bars(lines: list[str]) -> list[str]:
    """``lines`` with every ``|`` of prose written ``\\|`` (see above)."""
    out, block_indent, doctest = [], None, False
    for line in lines:
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if block_indent is not None and stripped and indent <= block_indent:
            block_indent = None
        doctest = (doctest and bool(stripped)) or stripped.startswith(">>>")
        table = stripped.startswith(("+-", "+=")) or (len(stripped) > 1 and stripped[0] == stripped.rstrip()[-1] == "|")
        if block_indent is not None or doctest or table:
            out.append(line)
            continue
        if stripped.startswith(".. ") or line.rstrip().endswith("::"):
            block_indent = indent
        out.append("".join(part if k % 2 else part.replace("|", "\\|") for k, part in enumerate(_INLINE.split(line))))
    return out


def _escape_docstring(app, what, name, obj, options, lines):
    lines[:] = escape_bars(lines)


# -- Sphinx extension: code in the pages links to the reference ---------------------------

# The pages write API names as inline code (`ed.estimate_nll`, `MaskLaw.time_free(n)`,
# `check_kernels`), which reads well on a code host; in the built site such code links to
# the object's entry in the reference. Functions link when written with their namespace
# (`ed.mdse`, `exactdiff.train.exact_limits`); a bare name only when it names one public
# object and is a class or constant (`MaskLaw.time_free`, `LAW_NAMES`) or a check
# (`check_kernels`), so that a figure called `pointwise_kl` stays a figure.
_BARE: dict[str, str] = {}


def _api_target(text: str, objects) -> str | None:
    """The documented full name that the inline code ``text`` names, or None."""
    if not _ALIASES:
        _ALIASES.update(_aliases())
    if not _BARE:
        names: dict[str, set] = {}
        for entry in api_entries():
            if entry.kind != "module":
                names.setdefault(entry.name, set()).add(entry.canonical)
        linkable = {n: c for n, c in names.items() if n[:1].isupper() or n.startswith("check_")}
        _BARE.update({n: c.pop() for n, c in linkable.items() if len(c) == 1})
    name = text.strip().split("(")[0]
    if not re.fullmatch(r"[A-Za-z_][\w.]*", name):
        return None
    if name.startswith("ed."):
        name = "exactdiff." + name[3:]
    head, _, rest = name.partition(".")
    candidates = [name]
    if head in _BARE:
        candidates.append(_BARE[head] + (f".{rest}" if rest else ""))
    for candidate in candidates:
        prefix, tail = candidate, ""
        while prefix:
            full = _ALIASES.get(prefix, prefix) + tail
            if full in objects:
                return full
            prefix, _, last = prefix.rpartition(".")
            tail = f".{last}{tail}"
    return None


def _link_inline_code(app, doctree, docname):
    from docutils import nodes

    if app.builder.format != "html" or docname.startswith("api/"):
        return
    objects = app.env.domains["py"].objects
    for node in list(doctree.findall(nodes.literal)):
        if isinstance(node.parent, (nodes.reference, nodes.literal_block)) or "xref" in node.get("classes", []):
            continue
        full = _api_target(node.astext(), objects)
        if full is None or objects[full].docname == docname:
            continue
        entry = objects[full]
        uri = app.builder.get_relative_uri(docname, entry.docname) + "#" + entry.node_id
        reference = nodes.reference("", "", internal=True, refuri=uri, reftitle=full)
        node.replace_self(reference)
        reference.append(node)


def _drop_pending_guides(app, docname, source):
    """Drop the toctree entries of ``guide/index`` that name a pending guide not yet written."""
    if docname != "guide/index":
        return
    guide = os.path.join(app.srcdir, "guide")
    missing = {name for name in PENDING_GUIDES if not os.path.exists(os.path.join(guide, f"{name}.md"))}
    source[0] = "\n".join(line for line in source[0].split("\n") if line.strip() not in missing)


def _reread_guide_index(app, env, added, changed, removed):
    """Reread the guide index on every build, so that a pending guide that has just
    arrived gets its toctree entry back in an incremental build too."""
    return ["guide/index"] if PENDING_GUIDES else []


def setup(app):
    app.connect("source-read", _drop_pending_guides)
    app.connect("env-get-outdated", _reread_guide_index)
    app.connect("missing-reference", _resolve_alias)
    app.connect("doctree-resolved", _link_inline_code)
    app.connect("autodoc-process-docstring", _escape_docstring, priority=900)  # after numpydoc
    return {"parallel_read_safe": True, "parallel_write_safe": True}
