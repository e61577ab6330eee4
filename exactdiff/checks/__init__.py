"""Identity checks: each returns a :class:`CheckResult`."""

from .result import CheckResult, compare

__all__ = ["CheckResult", "compare"]
