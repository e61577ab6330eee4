"""Every example runs when pasted: the README's console examples and the ``--help``
epilogues, with the paper's data at ``../shared/data`` beside the project."""

import os
import re
import shlex
import subprocess
import sys

import pytest

from exactdiff.cli import build_parser

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SHARED = os.path.join(ROOT, "..", "shared", "data")
needs_data = pytest.mark.skipif(not os.path.isdir(SHARED), reason="needs ../shared/data beside the project")

#: Commands that take more than a few seconds: run with ``-m slow``.
SLOW = ("exactdiff verify --toy", "exactdiff figures", "exactdiff ood", "exactdiff train")


def console_examples(text):
    """(command, expected output lines) for every ``$ `` line of the console blocks."""
    examples = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                examples.append((line[2:], []))
            elif examples and line.strip():
                examples[-1][1].append(line.rstrip())
    return examples


EXAMPLES = console_examples(open(os.path.join(ROOT, "README.md"), encoding="utf-8").read())


def _param(command, expected):
    marks = [needs_data] if "../shared" in command else []
    if command.startswith(SLOW):
        marks.append(pytest.mark.slow)
    return pytest.param(command, expected, marks=marks, id=command.split("#")[0].strip()[:60])


def test_the_readme_has_console_examples():
    assert len(EXAMPLES) >= 5 and all(cmd.startswith("exactdiff ") for cmd, _ in EXAMPLES)


@pytest.mark.parametrize("command, expected", [_param(c, e) for c, e in EXAMPLES])
def test_readme_console_example(command, expected, tmp_path):
    """The command exits 0 (from the repository root) and prints every line shown."""
    command = re.sub(r"--out \S+", f"--out {tmp_path}", command)  # write into a scratch folder
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    done = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    printed = [line.rstrip() for line in done.stdout.splitlines()]
    missing = [line for line in expected if line not in printed]
    assert not missing, f"not printed: {missing}\nprinted:\n{done.stdout}"


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


@needs_data
@pytest.mark.parametrize("command", EPILOG)
def test_epilog_example_parses_and_its_files_exist(command):
    """Every ``--help`` example is valid for the parser, and the files it names exist
    (relative to the repository root)."""
    argv = shlex.split(command)[1:]
    args = build_parser().parse_args(argv)
    for value in vars(args).values():
        if isinstance(value, str) and value.startswith("../"):
            assert os.path.exists(os.path.join(ROOT, value)), value


@needs_data
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
