"""Game parameters: resolution of the spec's ``params`` section.

A parameter is a scalar, an inline nested list, or a generator mapping:

- ``{file: R.npy}``                       a ``.npy`` array, path relative to the spec;
- ``{eye: n}``                            the n x n identity;
- ``{random_orthogonal: n, seed: s}``     Q from the QR factorisation of an n x n standard
  normal matrix drawn by ``numpy.random.default_rng(s)``, signs fixed so that
  ``diag(R) > 0`` (Haar-distributed, reproducible across platforms);
- ``{random_normal: shape, seed: s, scale: c}``  ``c * N(0, 1)`` entries.

Every value is returned as a float64 ``numpy.ndarray`` (0-d for scalars) and must be finite.
``--set name=value`` overrides replace a parameter by a YAML number or list of numbers (read by
the decimal rule of :mod:`~sgncert.games.yamlsource`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SpecError
from .fields import did_you_mean, positive_int
from .yamlsource import load_yaml

MAX_PARAM_ELEMENTS = 4_000_000  # 32 MB of float64 per parameter
GENERATORS = ("file", "eye", "random_orthogonal", "random_normal")


def _check_size(shape, where: str) -> None:
    if math.prod(shape) > MAX_PARAM_ELEMENTS:
        raise SpecError(f"{where}: {math.prod(shape)} elements exceed the limit of {MAX_PARAM_ELEMENTS}")


def _seed(spec: Mapping, where: str) -> int:
    seed = spec.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SpecError(f"{where}.seed: expected a non-negative integer, got {seed!r}")
    return seed


def random_orthogonal(n: int, seed: int) -> np.ndarray:
    """Haar-random orthogonal n x n matrix: Q of QR(G), G ~ N(0,1), with diag(R) > 0."""
    g = np.random.default_rng(seed).standard_normal((n, n))
    q, r = np.linalg.qr(g)
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


def _generated(spec: Mapping, base_dir: Path, where: str, hashes: dict[str, str]) -> np.ndarray:
    kinds = [k for k in GENERATORS if k in spec]
    if len(kinds) != 1:
        raise SpecError(f"{where}: expected exactly one of {', '.join(GENERATORS)}, got keys {sorted(map(str, spec))}")
    kind = kinds[0]
    allowed = {
        "file": {"file"},
        "eye": {"eye"},
        "random_orthogonal": {"random_orthogonal", "seed"},
        "random_normal": {"random_normal", "seed", "scale"},
    }[kind]
    for key in spec:
        if key not in allowed:
            raise SpecError(f"{where}: unknown key '{key}' for a {kind} parameter{did_you_mean(key, allowed)}")
    if kind == "file":
        rel = spec["file"]
        if not isinstance(rel, str) or not rel.endswith(".npy"):
            raise SpecError(f"{where}.file: expected a path to a .npy file, got {rel!r}")
        path = (base_dir / rel).resolve()
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise SpecError(f"{where}.file: cannot read {rel}: {exc.strerror or exc}") from None
        hashes[rel] = hashlib.sha256(raw).hexdigest()
        try:
            import io

            arr = np.load(io.BytesIO(raw), allow_pickle=False)
        except Exception as exc:  # numpy raises many types on bad files
            raise SpecError(f"{where}.file: {rel} is not a valid .npy array ({exc})") from None
        if arr.dtype.kind not in "biuf":
            raise SpecError(f"{where}.file: {rel} holds {arr.dtype} data, expected real numbers")
        _check_size(arr.shape, where)
        return np.asarray(arr, dtype=np.float64)
    if kind == "eye":
        n = positive_int(spec["eye"], f"{where}.eye")
        _check_size((n, n), where)
        return np.eye(n)
    if kind == "random_orthogonal":
        n = positive_int(spec["random_orthogonal"], f"{where}.random_orthogonal")
        _check_size((n, n), where)
        return random_orthogonal(n, _seed(spec, where))
    shape = spec["random_normal"]
    shape = [shape] if isinstance(shape, int) and not isinstance(shape, bool) else shape
    if not isinstance(shape, list) or not shape:
        raise SpecError(f"{where}.random_normal: expected a shape like [32, 32], got {spec['random_normal']!r}")
    shape = tuple(positive_int(s, f"{where}.random_normal") for s in shape)
    _check_size(shape, where)
    scale = spec.get("scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise SpecError(f"{where}.scale: expected a finite number, got {scale!r}")
    return float(scale) * np.random.default_rng(_seed(spec, where)).standard_normal(shape)


_NOT_NUMBERS = (str, bytes, bool, np.bool_, dict, type(None))


def _check_leaves(value: list | tuple, where: str) -> None:
    """No entry of a nested list is text, a boolean, None or a mapping: NumPy would turn
    ``'1_0'`` into 10.0 and ``True`` into 1.0 without a word."""
    stack = [value]
    while stack:
        for item in stack.pop():
            if isinstance(item, (list, tuple)):
                stack.append(item)
            elif isinstance(item, _NOT_NUMBERS):
                raise SpecError(f"{where}: expected a nested list of numbers, got the entry {item!r:.60}")


def to_array(value: Any, where: str) -> np.ndarray:
    """A float64 array from a YAML number or (rectangular) nested list of numbers, or from an
    array of real numbers. NaN and Inf pass; callers that need finite values check them."""
    if isinstance(value, _NOT_NUMBERS):
        raise SpecError(f"{where}: expected a number or a nested list of numbers, got {value!r:.60}")
    if isinstance(value, (list, tuple)):
        _check_leaves(value, where)
    elif isinstance(value, np.ndarray) and value.dtype.kind not in "biuf":
        raise SpecError(f"{where}: expected an array of real numbers, got {value.dtype} data")
    try:
        arr = np.array(value, dtype=np.float64)
    except OverflowError:
        raise SpecError(f"{where}: a number is too large for a double-precision number") from None
    except (ValueError, TypeError):
        raise SpecError(f"{where}: expected a number or a rectangular nested list of numbers") from None
    if arr.dtype == object:
        raise SpecError(f"{where}: expected a rectangular nested list of numbers")
    _check_size(arr.shape, where)
    return arr


def resolve_params(
    raw: Any, base_dir: Path, where: str, overrides: Mapping[str, Any] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Resolve the ``params`` mapping; return (values, sha256 of each data file used).

    ``overrides`` (from ``--set``) replace existing parameters before generation.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: expected a mapping of parameter names to values")
    raw = dict(raw)
    for name, value in (overrides or {}).items():
        if name not in raw:
            raise SpecError(f"override {name} (--set): no parameter named '{name}'{did_you_mean(name, raw)}")
        raw[name] = value
    values: dict[str, np.ndarray] = {}
    hashes: dict[str, str] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("__"):
            raise SpecError(f"{where}: parameter name {name!r} is not a valid identifier")
        loc = f"{where}.{name}"
        arr = _generated(value, base_dir, loc, hashes) if isinstance(value, dict) else to_array(value, loc)
        if not np.all(np.isfinite(arr)):
            raise SpecError(f"{loc}: contains NaN or Inf")
        values[name] = arr
    return values, hashes


def _all_finite(value: Any) -> bool:
    """Every number of a (nested, possibly ragged) list is finite."""
    if isinstance(value, list):
        return all(_all_finite(v) for v in value)
    return math.isfinite(value)


def parse_overrides(items) -> dict[str, Any]:
    """Parse ``--set name=value`` strings: a value is a number or a (nested) list of numbers,
    read as YAML by the spec files' rule for numbers (decimal only, see
    :mod:`~sgncert.games.yamlsource`), so ``--set lam=0x10`` is an error, not 16."""
    out: dict[str, Any] = {}
    for item in items or ():
        name, sep, text = item.partition("=")
        name = name.strip()
        label = "--set " + " ".join(item.split())  # one line, whatever the value spans
        if not sep or not name:
            raise SpecError(f"{label}: expected name=value")
        value, _ = load_yaml(text, label)
        if isinstance(value, bool) or not isinstance(value, (int, float, list)):
            raise SpecError(
                f"{label}: value must be a number or a list of numbers, written in decimal "
                f"(e.g. 0.5, -3, 1e-3), got {value!r:.60}"
            )
        if isinstance(value, list):
            _check_leaves(value, label)
        if not _all_finite(value):
            raise SpecError(f"{label}: contains NaN or Inf")
        out[name] = value
    return out
