"""JSON documents: the canonical form that is hashed, plain JSON values, and the
human-readable form that is written to files.

No NumPy import: arrays and NumPy scalars are recognised by duck typing, so the
certificate verifier's algebraic phase stays light.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from typing import Any

from ..errors import NumericalError


def canonical_json(obj: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces, shortest round-trip floats, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_text(text: str) -> str:
    """Hex sha256 of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_json(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj`` (what certificates record as ``game.sha256``)."""
    return sha256_text(canonical_json(obj))


def jsonable(value: Any, *, nan: str = "raise") -> Any:
    """``value`` as plain JSON types.

    Arrays (anything with ``tolist``) become lists, NumPy scalars Python numbers, tuples
    lists and mapping keys strings; ``inf`` becomes ``None`` (JSON has no infinity: every
    unbounded value of a document is written as ``null``).

    Args:
        value: the value to convert.
        nan: ``"raise"`` (a document never claims an undefined number) or ``"null"`` (a
            report of what was observed, e.g. a simulation that diverged).

    Raises:
        NumericalError: ``value`` contains a NaN and ``nan="raise"``.
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v, nan=nan) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, nan=nan) for v in value]
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # NumPy / JAX arrays and scalars
        return jsonable(value.tolist(), nan=nan)
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        v = float(value)
        if math.isnan(v):
            if nan == "null":
                return None
            raise NumericalError("a computed number is NaN; no document is written with it")
        return v if math.isfinite(v) else None
    return value


def finite_or_none(x: float) -> float | None:
    """``float(x)``, or ``None`` for an infinite or NaN value."""
    v = float(x)
    return v if math.isfinite(v) else None


def dumps_document(doc: Any) -> str:
    """Document text for files: sorted keys, indent 2, UTF-8, trailing newline."""
    return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
