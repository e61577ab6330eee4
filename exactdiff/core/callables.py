"""Calling the user's own code: denoisers, score models, estimators and losses.

exactdiff takes plain callables on NumPy arrays. Two things are done here, once:

- :func:`import_callable` resolves an import path ``"module:attribute"`` (what the
  command line's ``--denoiser``, ``--score-model``, ``--estimator`` and ``--loss`` take)
  and remembers the path, so that messages can name it;
- :func:`call_user` calls such a callable and turns any exception it raises into a
  :class:`UserCodeError`, a ``ValueError`` whose one-line message says that the error came
  from the user's callable and names it ("error in your denoiser `mymodels:net`:
  ZeroDivisionError: …"); the original exception stays attached as ``__cause__`` with its
  traceback (the command line prints it with ``--traceback``).

Code of exactdiff itself (the built-in denoisers and score models) is called without
wrapping: an exception there is exactdiff's, not the user's.
"""

from __future__ import annotations

import functools
import importlib
import types

__all__ = ["UserCodeError", "import_callable", "call_user", "callable_name", "model_name", "is_user_code"]

#: The attribute :func:`import_callable` sets on a loaded callable (when it can) to
#: remember its import path.
SPEC_ATTRIBUTE = "__exactdiff_spec__"


class UserCodeError(ValueError):
    """An exception raised inside the user's callable, re-raised with a one-line message
    naming the callable; the original is ``__cause__``."""


def import_callable(spec, *, what="model"):
    """The callable named by an import path ``"module:attribute"`` (``"pkg.mod:obj.attr"``).

    Raises ``ValueError`` naming what is wrong: no ``:``, a module that cannot be
    imported (with the import error), a missing attribute (with the module's file), or an
    attribute that is not callable. ``what`` names the object in the messages. The path
    is remembered for later messages (:func:`callable_name`).

    Examples
    --------
    >>> import_callable("math:sqrt")(4.0)
    2.0
    >>> import_callable("no_such_module_xyz:model", what="score model")
    Traceback (most recent call last):
        ...
    ValueError: score model 'no_such_module_xyz:model': the module 'no_such_module_xyz' could not be imported (ModuleNotFoundError: No module named 'no_such_module_xyz'); is it on PYTHONPATH?
    """
    spec = str(spec)
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute or ":" in attribute:
        raise ValueError(f"{what} {spec!r} must be an import path 'module:callable' (e.g. 'mypkg.models:score').")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"{what} {spec!r}: the module {module_name!r} could not be imported "
                         f"({type(exc).__name__}: {exc}); is it on PYTHONPATH?") from None
    except Exception as exc:  # an error while executing the user's module
        raise UserCodeError(f"{what} {spec!r}: importing the module {module_name!r} raised "
                            f"{type(exc).__name__}: {_first_line(exc)}") from exc
    obj = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            where = f" ({module.__file__})" if getattr(module, "__file__", None) else ""
            owner = f"the module {module_name!r}" if obj is module else f"{type(obj).__name__} {attribute!r}"
            raise ValueError(f"{what} {spec!r}: {owner}{where} has no attribute {part!r}.")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{what} {spec!r}: {attribute!r} is a {type(obj).__name__}, not a callable.")
    try:
        setattr(obj, SPEC_ATTRIBUTE, spec)
    except (AttributeError, TypeError):  # a builtin or a slotted object
        pass
    return obj


def is_user_code(fn) -> bool:
    """Whether ``fn`` comes from outside exactdiff: the module of a function (or method,
    or the function of a ``functools.partial``), or of the class of a callable object."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if isinstance(fn, (types.FunctionType, types.MethodType, types.BuiltinFunctionType)):
        module = getattr(fn, "__module__", None) or ""
    else:
        module = type(fn).__module__
    return not (module == "exactdiff" or module.startswith("exactdiff."))


def callable_name(fn) -> str:
    """A short name for ``fn``: its import path when it was loaded by one, else
    ``module:qualname`` (functions) or ``module:ClassName`` instance (callable objects)."""
    spec = getattr(fn, SPEC_ATTRIBUTE, None)
    if spec:
        return str(spec)
    qual = getattr(fn, "__qualname__", None)
    if qual is not None:
        return f"{getattr(fn, '__module__', '?')}:{qual}"
    cls = type(fn)
    return f"{cls.__module__}:{cls.__qualname__} instance"


def model_name(fn) -> str:
    """A name for reports: the user's callable by :func:`callable_name`, one of exactdiff's
    own models by its ``repr`` (cut to one line of at most 80 characters)."""
    if is_user_code(fn):
        return callable_name(fn)
    text = " ".join(repr(fn).split())
    return text if len(text) <= 80 else text[:77] + "..."


def _first_line(exc) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else "(no message)"


def call_user(fn, *args, role="model"):
    """``fn(*args)``; an exception raised by the user's code becomes a
    :class:`UserCodeError` "error in your {role} `name`: Type: message" with the original
    as ``__cause__``. exactdiff's own callables are called as they are.

    Examples
    --------
    >>> def broken(x):
    ...     return 1 / 0
    >>> broken.__module__ = "mymodels"            # as if imported from the user's module
    >>> call_user(broken, 1, role="denoiser")
    Traceback (most recent call last):
        ...
    exactdiff.core.callables.UserCodeError: error in your denoiser `mymodels:broken`: ZeroDivisionError: division by zero (run with --traceback, or see the exception's __cause__, for your traceback)
    """
    if not is_user_code(fn):
        return fn(*args)
    try:
        return fn(*args)
    except UserCodeError:
        raise
    except Exception as exc:
        raise UserCodeError(f"error in your {role} `{callable_name(fn)}`: {type(exc).__name__}: {_first_line(exc)} "
                            f"(run with --traceback, or see the exception's __cause__, for your traceback)") from exc
