"""Error types of sgncert and the exit codes they map to.

- :class:`SpecError`      -> exit 2: bad input (spec, parameter, expression, certificate,
  command-line value).
- :class:`NumericalError` -> exit 3: a numerical step failed or could not decide.

Every message is one line naming the file, field or expression at fault. Both derive
from :class:`SgnError`, so ``except sgncert.SgnError`` catches everything sgncert raises
on purpose; :class:`SpecError` is also a ``ValueError`` and :class:`NumericalError` an
``ArithmeticError``, for callers that catch the built-in kinds.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_NEGATIVE = 1
EXIT_INPUT = 2
EXIT_NUMERICAL = 3
EXIT_NOT_CERTIFIED = 4  # verify: every claim holds, but the certificate certifies nothing
EXIT_INTERRUPTED = 130


class SgnError(Exception):
    """Base class: an error with a one-line message and an exit code."""

    exit_code = EXIT_INPUT


class SpecError(SgnError, ValueError):
    """Invalid game spec, parameter, expression, certificate or other user input (exit 2)."""

    exit_code = EXIT_INPUT


class SourceChanged(SpecError):
    """A game source outside the spec (an OpenSpiel game) no longer gives what the spec
    recorded: when verifying, a failed claim (exit 1) rather than bad input."""


class NumericalError(SgnError, ArithmeticError):
    """A numerical step failed or could not decide (exit 3)."""

    exit_code = EXIT_NUMERICAL
