"""Reading spec YAML safely, with source lines for error messages.

- ``yaml.safe_load`` semantics only (no Python object tags);
- a size cap on the *expanded* document: anchors and aliases are counted as many times as
  they are referenced, so "billion laughs" documents are refused before anything walks them;
- a map from field paths (``region.radius``, ``players[1].dim``) to 1-based line numbers,
  so a spec error can say ``game.yaml:7: region.radius: ...``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import SpecError

MAX_SPEC_BYTES = 16 * 1024 * 1024
MAX_EXPANDED_NODES = 2_000_000


def _expanded_size(root) -> int:
    """Number of nodes of the document with every alias expanded (memoised over shared nodes)."""
    import yaml

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
    import yaml

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


def read_spec(path: Path) -> tuple[Any, dict[tuple, int]]:
    """(parsed document, field path -> line); every problem is a one-line SpecError."""
    import yaml

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"{path}: file is larger than {MAX_SPEC_BYTES} bytes")
    try:
        text = data.decode("utf-8")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is None:
            return None, {}
        if _expanded_size(root) > MAX_EXPANDED_NODES:
            raise SpecError(
                f"{path}: the document expands (anchors and aliases) to more than {MAX_EXPANDED_NODES} nodes"
            )
        value = yaml.SafeLoader(text).get_single_data()
        return value, _lines(root)
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise SpecError(f"{path}: YAML error{at}: {problem}") from None
    except RecursionError:
        raise SpecError(f"{path}: YAML nesting too deep") from None


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
