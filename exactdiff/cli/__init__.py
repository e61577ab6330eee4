"""The ``exactdiff`` command line: one module per subcommand (``verify``, ``nll``,
``audit``, ``ood``, ``train``, ``figures``), each with ``add_parser(subparsers)`` and its
command function."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from . import audit, figures, nll, ood, train, verify

__all__ = ["build_parser", "main"]

#: The subcommands, in the order ``--help`` lists them.
COMMANDS = (verify, nll, audit, ood, train, figures)


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


#: Environment variables that set a BLAS thread count; when one is set, it is obeyed.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def blas_threads():
    """One BLAS thread for the command line (threadpoolctl), unless the environment sets a
    count. exactdiff's products are small (at most a few thousand entries a side), where
    threads only contend: on a shared 2-core machine ``verify --quick`` took 1.8 s on one
    thread against 6.2–8.8 s on two (README, *BLAS threads*)."""
    if any(name in os.environ for name in THREAD_VARIABLES):
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def main(argv=None):
    """Run the command line; a bad option, file or input ends with one line on standard
    error and exit status 2, never a traceback. BLAS runs on one thread unless the
    environment sets a count (:func:`blas_threads`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with blas_threads():
            return args.func(args)
    except (ValueError, ArithmeticError) as exc:
        parser.exit(2, f"exactdiff {args.command}: error: {exc}\n")
    except BrokenPipeError:  # the reader stopped early (``| head``): no error, no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a file that cannot be read or written
        parser.exit(2, f"exactdiff {args.command}: error: {exc.strerror or exc}: {exc.filename!r}\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
