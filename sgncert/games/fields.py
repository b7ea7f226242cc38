"""Validation of spec fields: each helper returns the value or raises a one-line
:class:`~sgncert.errors.SpecError` that names the field (``where``)."""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Mapping
from typing import Any

from ..errors import SpecError


def did_you_mean(name: object, choices: Collection[object]) -> str:
    """A `` (did you mean 'x'?)`` suffix naming the closest choice, or ``''``."""
    close = difflib.get_close_matches(str(name), sorted(str(c) for c in choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_keys(mapping: Mapping[Any, Any], allowed: Collection[str], where: str) -> None:
    """Every key of ``mapping`` is one of ``allowed``."""
    for key in mapping:
        if key not in allowed:
            raise SpecError(f"{where}: unknown key '{key}'{did_you_mean(key, allowed)}")


def mapping(value: Any, where: str) -> dict[Any, Any]:
    """``value`` when it is a mapping."""
    if not isinstance(value, dict):
        raise SpecError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def positive_int(value: Any, where: str) -> int:
    """``value`` when it is an integer >= 1 (not a boolean)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{where}: expected a positive integer, got {value!r}")
    return value


def number_in(raw: Any, where: str, lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite number in the interval from ``lo`` to ``hi`` (each end open or closed)."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        raise SpecError(f"{where}: expected a number, got {raw!r}")
    if raw < lo or (lo_open and raw == lo) or raw > hi or (hi_open and raw == hi):
        lb, rb = ("(" if lo_open else "["), (")" if hi_open else "]")
        raise SpecError(f"{where}: {raw!r} is outside {lb}{lo}, {hi}{rb}")
    return float(raw)
