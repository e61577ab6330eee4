"""The ``exactdiff`` command line: one module per subcommand (``verify``, ``nll``,
``figures``), each with ``add_parser(subparsers)`` and its command function."""

from __future__ import annotations

import argparse
import sys

from . import figures, nll, verify

__all__ = ["build_parser", "main"]

#: The subcommands, in the order ``--help`` lists them.
COMMANDS = (verify, nll, figures)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="exactdiff",
        description="Exact verification of the information theory of discrete diffusion "
        "(Jeon et al., NeurIPS 2025).",
        epilog=verify.VERIFY_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv=None):
    """Run the command line; a bad option, file or input ends with one line on standard
    error and exit status 2, never a traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, ArithmeticError) as exc:
        parser.exit(2, f"exactdiff {args.command}: error: {exc}\n")
    except OSError as exc:  # a file that cannot be read or written
        parser.exit(2, f"exactdiff {args.command}: error: {exc.strerror or exc}: {exc.filename!r}\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
