"""Every example runs when pasted: the README's console and Python examples and the
``--help`` epilogues, with the paper's data at ``../shared/data`` beside the project. The
README's examples run through the machinery that runs the documentation's
(``tests/_examples.py``)."""

import os
import shlex

import pytest
from _examples import ROOT, SHARED, SLOW, console_examples, needs_data, python_blocks, run_console, run_python_page

from exactdiff.cli import build_parser

needs_shared = pytest.mark.skipif(not os.path.isdir(SHARED), reason="needs ../shared/data beside the project")
README = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()

EXAMPLES = console_examples(README)


def _param(command, expected):
    marks = [needs_shared] if "../shared" in command else []
    if command.startswith(SLOW):
        marks.append(pytest.mark.slow)
    return pytest.param(command, expected, marks=marks, id=command.split("#")[0].strip()[:60])


def test_the_readme_has_console_examples():
    assert len(EXAMPLES) >= 5 and all(cmd.startswith("exactdiff ") for cmd, _ in EXAMPLES)


@pytest.mark.parametrize("command, expected", [_param(c, e) for c, e in EXAMPLES])
def test_readme_console_example(command, expected, tmp_path):
    """The command exits 0 (from the repository root) and prints every line shown."""
    run_console(command, expected, tmp_path)


def test_readme_python_examples():
    """The README's Python examples run in order and print what they show."""
    blocks = python_blocks(README)
    assert blocks, "the README shows no Python example"
    if needs_data("".join(b.code for b in blocks)) and not os.path.isdir(SHARED):
        pytest.skip("needs ../shared/data beside the project")
    run_python_page(blocks, "README.md")


def test_the_readme_is_short():
    """The README is a door (issue 23): at most 200 lines; the rest lives in docs/."""
    assert README.count("\n") <= 200


def _epilog_examples():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.choices and "verify" in a.choices).choices
    commands = []
    for name, sub in subparsers.items():
        for line in (sub.epilog or "").splitlines():
            line = line.strip()
            if line.startswith("exactdiff "):
                commands.append(line.split("#")[0].strip())
    return commands


EPILOG = _epilog_examples()


def test_every_epilog_has_examples():
    assert {c.split()[1] for c in EPILOG} >= {"verify", "nll", "figures"}


@needs_shared
@pytest.mark.parametrize("command", EPILOG)
def test_epilog_example_parses_and_its_files_exist(command):
    """Every ``--help`` example is valid for the parser, and the files it names exist
    (relative to the repository root)."""
    argv = shlex.split(command)[1:]
    args = build_parser().parse_args(argv)
    for value in vars(args).values():
        if isinstance(value, str) and value.startswith("../"):
            assert os.path.exists(os.path.join(ROOT, value)), value


@needs_shared
@pytest.mark.parametrize("command", [c for c in EPILOG if c.startswith("exactdiff nll")])
def test_nll_epilog_example_runs(command, monkeypatch, capsys):
    """The ``nll --help`` examples run and print finite NLLs for the sequences they name."""
    from exactdiff.cli import main

    monkeypatch.chdir(ROOT)
    argv = shlex.split(command)[1:]
    if "--samples" in argv:  # the same path with fewer draws
        argv[argv.index("--samples") + 1] = "64"
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "inf" not in out and "nan" not in out
