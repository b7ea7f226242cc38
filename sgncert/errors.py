"""Error types that map onto sgncert's exit codes (SPEC 11).

- :class:`SpecError`     -> exit 2: bad input (spec, params, expression, CLI value).
- :class:`NumericalError` -> exit 3: undecidable or numerical breakdown.

Messages are one line and name the file / field / expression at fault.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_NEGATIVE = 1
EXIT_INPUT = 2
EXIT_NUMERICAL = 3


class SgnError(Exception):
    """Base class: an error with a one-line message and an exit code."""

    exit_code = EXIT_INPUT


class SpecError(SgnError, ValueError):
    """Invalid game spec, parameter, expression or other user input (exit 2)."""

    exit_code = EXIT_INPUT


class NumericalError(SgnError, ArithmeticError):
    """A numerical step failed or could not decide (exit 3)."""

    exit_code = EXIT_NUMERICAL
