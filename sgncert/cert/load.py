"""Reading certificate files strictly.

A size cap, a nesting-depth guard that runs *before* the JSON parser (so no
RecursionError can happen), no NaN / Infinity literals or duplicate keys, and the
structure of :mod:`sgncert.cert.model`. Anything wrong is a one-line
:class:`~sgncert.errors.SpecError` (exit 2) naming the path at fault.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from ..errors import SpecError
from .model import validate_document

MAX_CERT_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64
_STRING_RE = re.compile(r'"(?:[^"\\]++|\\.)*+"?', re.S)  # never fails: linear time
_NOT_BRACKET_RE = re.compile(r"[^\[\]{}]++")
_EMPTY_PAIR_RE = re.compile(r"\[\]|\{\}")


def _nesting_too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """True when brackets outside strings nest deeper than ``limit`` (without recursion).

    Strings are removed, then everything but brackets; each pass deletes the innermost
    ``[]`` / ``{}`` pairs, i.e. one level, so more than ``limit`` productive passes mean
    deeper nesting. Unbalanced input stops early and is left to the JSON parser.
    """
    s = _NOT_BRACKET_RE.sub("", _STRING_RE.sub("", text))
    for _ in range(limit):
        if not s:
            return False
        t = _EMPTY_PAIR_RE.sub("", s)
        if t == s:
            return False
        s = t
    return bool(s) and _EMPTY_PAIR_RE.search(s) is not None


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise SpecError(f"number {text[:40]} is out of the float range")
    return v


def _reject_constant(name: str) -> Any:
    raise SpecError(f"{name} is not allowed (write unbounded values as null)")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise SpecError(f"duplicate key {k[:60]!r}")
        out[k] = v
    return out


def parse_certificate(data: bytes | str, label: str = "<certificate>") -> Any:
    """Parse certificate text (UTF-8 JSON) with the depth guard; SpecError on any problem."""
    if isinstance(data, bytes):
        if len(data) > MAX_CERT_BYTES:
            raise SpecError(f"{label}: file is larger than {MAX_CERT_BYTES} bytes")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SpecError(f"{label}: not UTF-8 text (byte {exc.start})") from None
    if _nesting_too_deep(data):
        raise SpecError(f"{label}: JSON nesting is deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(
            data, parse_float=_finite_float, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates
        )
    except json.JSONDecodeError as exc:
        raise SpecError(f"{label}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:  # pragma: no cover - the depth guard runs first
        raise SpecError(f"{label}: JSON nesting too deep") from None
    except (ValueError, TypeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        first = first.split("; use sys.set_int_max_str_digits")[0]  # (Python's advice is not the user's)
        raise SpecError(f"{label}: not valid JSON: {first}") from None


def load_certificate(path: str | Path) -> dict[str, Any]:
    """Read, parse and structurally validate a certificate file (SpecError -> exit 2)."""
    path = Path(path)
    label = str(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_CERT_BYTES + 1)
    except IsADirectoryError:
        raise SpecError(f"{label}: is a directory, expected a certificate file") from None
    except OSError as exc:
        raise SpecError(f"{label}: cannot read: {exc.strerror or exc}") from None
    doc = parse_certificate(data, label)
    return validate_document(doc, label)
