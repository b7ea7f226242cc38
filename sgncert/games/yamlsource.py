"""Reading spec YAML safely, with source lines for error messages.

- ``yaml.safe_load`` semantics (no Python object tags), through :class:`SpecLoader`, a
  ``yaml.SafeLoader`` subclass with its own rule for numbers (below);
- a duplicate key in any mapping of the document is an error that names both lines
  (``game.yaml:7: duplicate key 'x' (first at line 5)``), never "the last one wins";
- a size cap on the *expanded* document: anchors and aliases are counted as many times as
  they are referenced, so "billion laughs" documents are refused before anything walks them;
- a map from field paths (``region.radius``, ``players[1].dim``) to 1-based line numbers,
  so a spec error can say ``game.yaml:7: region.radius: ...``.

Numbers
-------
Spec files and ``--set name=value`` values read numbers by one rule. A plain (unquoted)
value is a number only when it is written in decimal:

- an integer: an optional sign and digits, without a leading zero (``0``, ``42``, ``-7``,
  ``+3``), with at most 300 digits;
- a decimal number: an optional sign, digits with a decimal point and/or an exponent
  (``0.5``, ``.5``, ``5.``, ``1e-3``, ``-2.5E+4``), or ``.inf``, ``-.inf`` and ``.nan``
  (also spelled ``.Inf``/``.INF``, ``.NaN``/``.NAN``). A value too large for a double
  (``1e400``) is an error; fields that need a finite number reject the infinities and NaN.

Anything else stays text, even when it looks like a number: hexadecimal, octal and binary
(``0x10``, ``0o17``, ``010``, ``0b1``), digit separators (``1_000``), sexagesimal values
(``1:30``) and ``+.inf``. A field that needs a number then reports the text it got, and a
``--set`` value must be a number or a list of numbers. Explicit ``!!int`` and ``!!float``
tags follow the same rule (``!!float`` also accepts an integer). Booleans are those of
YAML 1.1 (``true``/``false``, ``yes``/``no``, ``on``/``off`` in their usual spellings);
quoted values are always text.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import SpecError

MAX_SPEC_BYTES = 16 * 1024 * 1024
MAX_EXPANDED_NODES = 2_000_000
MAX_INT_DIGITS = 300

_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\Z")
_FLOAT = re.compile(
    r"""[-+]?(?:[0-9]+\.[0-9]*(?:[eE][-+]?[0-9]+)?   # 1.  1.5  1.5e3
              |\.[0-9]+(?:[eE][-+]?[0-9]+)?          # .5  .5e-3
              |[0-9]+[eE][-+]?[0-9]+)\Z              # 1e-3
       |-?\.(?:inf|Inf|INF)\Z
       |\.(?:nan|NaN|NAN)\Z""",
    re.X,
)


class _DuplicateKey(yaml.YAMLError):
    """A mapping repeats a key: ``line`` (1-based) repeats the key first seen at ``first``."""

    def __init__(self, key: str, line: int, first: int) -> None:
        super().__init__(key)
        self.key, self.line, self.first = key, line, first


def _construct_int(loader: SpecLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    if not _INT.match(text):
        raise yaml.constructor.ConstructorError(None, None, f"{text[:60]!r} is not a decimal integer", node.start_mark)
    if len(text.lstrip("+-")) > MAX_INT_DIGITS:
        raise yaml.constructor.ConstructorError(
            None, None, f"integer with more than {MAX_INT_DIGITS} digits", node.start_mark
        )
    return int(text)


def _construct_float(loader: SpecLoader, node: yaml.ScalarNode) -> float:
    text = loader.construct_scalar(node)
    if not (_INT.match(text) or _FLOAT.match(text)):
        raise yaml.constructor.ConstructorError(None, None, f"{text[:60]!r} is not a decimal number", node.start_mark)
    lowered = text.lower()
    if lowered.endswith(".nan"):
        return math.nan
    if lowered.endswith(".inf"):
        return -math.inf if text.startswith("-") else math.inf
    value = float(text)
    if math.isinf(value):
        raise yaml.constructor.ConstructorError(
            None, None, f"{text[:60]!r} is too large for a double-precision number", node.start_mark
        )
    return value


class SpecLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with the decimal number rule of this module (its own resolver
    and constructor tables: ``yaml.SafeLoader`` itself is unchanged)."""


SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT_TAG, _FLOAT_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
SpecLoader.add_implicit_resolver(_INT_TAG, _INT, list("-+0123456789"))
SpecLoader.add_implicit_resolver(_FLOAT_TAG, _FLOAT, list("-+0123456789."))
SpecLoader.add_constructor(_INT_TAG, _construct_int)
SpecLoader.add_constructor(_FLOAT_TAG, _construct_float)


def _expanded_size(root) -> int:
    """Number of nodes of the document with every alias expanded (memoised over shared nodes)."""
    sizes: dict[int, int] = {}
    order, stack, seen = [], [root], set()
    while stack:  # iterative post-order: deep documents cannot overflow the stack
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        order.append(node)
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack.extend((k, v))
    for node in reversed(order):
        if isinstance(node, yaml.SequenceNode):
            total = 1 + sum(sizes.get(id(c), 1) for c in node.value)
        elif isinstance(node, yaml.MappingNode):
            total = 1 + sum(sizes.get(id(k), 1) + sizes.get(id(v), 1) for k, v in node.value)
        else:
            total = 1
        sizes[id(node)] = min(total, 10 * MAX_EXPANDED_NODES)
    return sizes.get(id(root), 1)


def _lines(root) -> dict[tuple, int]:
    """Field path -> line of its value (first occurrence; aliases are not re-walked)."""
    out: dict[tuple[Any, ...], int] = {}
    stack: list[tuple[tuple[Any, ...], Any]] = [((), root)]
    seen: set[int] = set()
    while stack:
        path, node = stack.pop()
        out.setdefault(path, node.start_mark.line + 1)
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend((path + (k,), child) for k, child in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    out.setdefault(path + (key.value,), key.start_mark.line + 1)
                    stack.append((path + (key.value,), value))
    return out


def _check_duplicate_keys(loader: SpecLoader, root: yaml.Node) -> None:
    """Raise :class:`_DuplicateKey` for the repeated key that comes first in the document.

    Keys are compared as the values they construct to (``1`` and ``1.0``, or ``x`` and
    ``"x"``, are the same key of a dict). Two ``<<`` merge keys in one mapping are
    duplicates too; keys brought in by a merge may still be overridden, as YAML intends.
    """
    merge = object()
    found: _DuplicateKey | None = None
    stack, seen = [root], set()
    while stack:  # every node once (aliases are not re-walked)
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, value_node in node.value:
                stack.extend((key_node, value_node))
                if not isinstance(key_node, yaml.ScalarNode):
                    continue  # a list or mapping as a key: the constructor refuses it
                key = merge if key_node.tag == _MERGE_TAG else loader.construct_object(key_node)
                line = key_node.start_mark.line + 1
                try:
                    if key not in first:
                        first[key] = line
                        continue
                except TypeError:  # unhashable: the constructor refuses it
                    continue
                if found is None or line < found.line:
                    text = key_node.value if len(key_node.value) <= 60 else key_node.value[:57] + "..."
                    found = _DuplicateKey(text, line, first[key])
    if found is not None:
        raise found


def load_yaml(text: str, label: str) -> tuple[Any, dict[tuple, int]]:
    """(value, field path -> line) of a YAML document read by :class:`SpecLoader`.

    Every problem is a one-line SpecError starting with ``label``.
    """
    loader = SpecLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, {}
        if _expanded_size(root) > MAX_EXPANDED_NODES:
            raise SpecError(
                f"{label}: the document expands (anchors and aliases) to more than {MAX_EXPANDED_NODES} nodes"
            )
        _check_duplicate_keys(loader, root)
        lines = _lines(root)  # before constructing: merges (<<) rewrite the mapping nodes
        return loader.construct_document(root), lines
    except _DuplicateKey as exc:
        raise SpecError(f"{label}:{exc.line}: duplicate key {exc.key!r} (first at line {exc.first})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or "invalid YAML").split())
        raise SpecError(f"{label}: YAML error{at}: {problem}") from None
    except RecursionError:
        raise SpecError(f"{label}: YAML nesting too deep") from None
    finally:
        loader.dispose()


def read_spec(path: Path) -> tuple[Any, dict[tuple, int]]:
    """(parsed document, field path -> line); every problem is a one-line SpecError."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"{path}: file is larger than {MAX_SPEC_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not UTF-8 text") from None
    return load_yaml(text, str(path))


_PATH = re.compile(r"^([A-Za-z_][\w]*(?:\[\d+\]|\.[\w]+)*)")
_UNKNOWN = re.compile(r"unknown key '([^']+)'")


def with_line(message: str, label: str, lines: dict[tuple, int]) -> str:
    """``label: field.path: ...`` -> ``label:LINE: field.path: ...`` when the path is known."""
    prefix = f"{label}: "
    if not lines or not message.startswith(prefix):
        return message
    rest = message[len(prefix) :]
    m = _PATH.match(rest)
    parts: list = []
    if m and (len(rest) == m.end() or rest[m.end()] in ":. ["):
        for token in re.findall(r"[^.\[\]]+|\[\d+\]", m.group(1)):
            parts.append(int(token[1:-1]) if token.startswith("[") else token)
    unknown = _UNKNOWN.search(rest)
    candidates = [tuple(parts) + (unknown.group(1),)] if unknown else []
    candidates += [tuple(parts[:k]) for k in range(len(parts), 0, -1)]
    for cand in candidates:
        if cand in lines:
            return f"{label}:{lines[cand]}: {rest}"
    return message
