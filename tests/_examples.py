"""The machinery that runs the examples a reader sees: the README's and every page of
``docs/``. Used by ``test_readme.py`` and ``test_docs.py``, so that both are held to the
same rules.

- A ``console`` block: every ``$ exactdiff …`` line is a command, run from the repository
  root with bash; it must exit 0 and print every line shown under it (``--out DIR`` is
  redirected into a scratch folder). Commands that take more than a few seconds
  (:data:`SLOW`) run with ``-m slow``; other ``$`` lines (a benchmark script of half an
  hour) are shown, not run.
- ``python`` and ``pycon`` blocks of one page run in order in one namespace, like the
  cells of a notebook, from the repository root. A ``pycon`` block is a doctest: each
  ``>>>`` statement must print what is shown (``...`` matches anything, whitespace is
  normalised). A ``python`` block must run without an exception.
- A ``python`` block whose first line is ``# not run: <reason>`` is shown and skipped (a
  torch model, a cluster): say why. A block that imports a package that is not
  installed is skipped with that reason.
- ``bash`` blocks (installs, long jobs) are not run.
"""

from __future__ import annotations

import doctest
import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SHARED = os.path.join(ROOT, "..", "shared", "data")
HAVE_DATA = os.path.isdir(SHARED)

#: Commands that take more than a few seconds: their tests are marked ``slow``.
SLOW = ("exactdiff verify --toy", "exactdiff figures", "exactdiff ood", "exactdiff train")

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)\n"
                    r"(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$", flags=re.S | re.M)


@dataclass(frozen=True)
class Block:
    """A fenced code block: its language, its code (dedented) and its first line."""

    lang: str
    code: str
    line: int


def code_blocks(text: str) -> list[Block]:
    """Every fenced block of a markdown text, in order (```` ```python ````, ```` ```{code-block} python ````)."""
    blocks = []
    for m in _FENCE.finditer(text):
        info = m["info"].strip()
        lang = info.split()[1] if info.startswith("{code-block}") and len(info.split()) > 1 else info.split(" ")[0]
        indent = len(m["indent"])
        code = "".join(line[indent:] if line[:indent].strip() == "" else line for line in m["body"].splitlines(True))
        blocks.append(Block(lang, code, text.count("\n", 0, m.start()) + 2))
    return blocks


def console_examples(text: str) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) for every ``$ `` line of the console blocks."""
    examples = []
    for block in code_blocks(text):
        if block.lang != "console":
            continue
        for line in block.code.splitlines():
            if line.startswith("$ "):
                examples.append((line[2:], []))
            elif examples and line.strip():
                examples[-1][1].append(line.rstrip())
    return examples


def run_console(command: str, expected: list[str], scratch) -> None:
    """Run one console example from the repository root; assert it exits 0 and prints
    every expected line."""
    command = re.sub(r"--out \S+", f"--out {scratch}", command)  # write into a scratch folder
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    done = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    printed = [line.rstrip() for line in done.stdout.splitlines()]
    missing = [line for line in expected if line not in printed]
    assert not missing, f"not printed: {missing}\nprinted:\n{done.stdout}"


def python_blocks(text: str) -> list[Block]:
    return [b for b in code_blocks(text) if b.lang in ("python", "pycon")]


def skip_reason(block: Block) -> str | None:
    """Why a block is not run (None: it runs)."""
    first = block.code.lstrip().splitlines()[0] if block.code.strip() else ""
    if first.startswith("# not run:"):
        return first[len("# not run:"):].strip() or "marked not run"
    code = block.code if block.lang == "python" else "\n".join(
        line[4:] for line in block.code.splitlines() if line.startswith((">>> ", "... ")))
    for name in re.findall(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", code, flags=re.M):
        if importlib.util.find_spec(name) is None:
            return f"needs {name}"
    return None


def needs_data(text: str) -> bool:
    return "../shared/" in text


def run_python_page(blocks: list[Block], name: str) -> list[str]:
    """Run a page's python and pycon blocks in one namespace from the repository root;
    returns the reasons of the blocks skipped. Raises AssertionError naming the block
    (its first line in the page) that failed."""
    namespace = {"__name__": "__main__"}
    skipped = []
    parser = doctest.DocTestParser()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        for block in blocks:
            reason = skip_reason(block)
            if reason:
                skipped.append(f"line {block.line}: {reason}")
                continue
            where = f"{name}, the block at line {block.line}"
            if block.lang == "python":
                try:
                    exec(compile(block.code, where, "exec"), namespace)
                except Exception as exc:
                    raise AssertionError(f"{where} raised {type(exc).__name__}: {exc}") from exc
                continue
            test = parser.get_doctest(block.code, namespace, where, name, block.line - 1)
            runner = doctest.DocTestRunner(optionflags=flags)
            out = []
            runner.run(test, out=out.append, clear_globs=False)
            namespace.update(test.globs)
            assert not runner.failures, "".join(out)
    finally:
        os.chdir(cwd)
    return skipped
