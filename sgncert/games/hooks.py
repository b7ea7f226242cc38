"""Python hooks: the one way a game spec runs user code (``costs: {python: file.py:fn}``).

The hook file's sha256 is recorded in the canonical spec, and a game rebuilt from a
certificate runs the hook only when the file still has that sha256
(:func:`check_recorded_hook`, called before anything imports it).
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SpecError


def _parse_ref(ref: Any, where: str) -> tuple[str, str]:
    """('file.py', 'function') of a hook reference ``file.py:function``."""
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise SpecError(f"{where}: expected 'file.py:function', got {ref!r}")
    rel, fn_name = ref.split(":")
    if not rel.endswith(".py") or not fn_name.isidentifier():
        raise SpecError(f"{where}: expected 'file.py:function', got {ref!r}")
    return rel, fn_name


def load_hook(ref: Any, base_dir: Path, where: str) -> tuple[Callable[..., Any], dict[str, str]]:
    """Import ``file.py:fn`` relative to ``base_dir``; return (the function, its canonical
    entry ``{"python": ref, "sha256": digest of the file}``)."""
    rel, fn_name = _parse_ref(ref, where)
    path = (base_dir / rel).resolve()
    if not path.is_relative_to(base_dir.resolve()):
        raise SpecError(f"{where}: the hook {rel} must lie in the spec's folder or below it")
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"{where}: cannot read {rel}: {exc.strerror or exc}") from None
    digest = hashlib.sha256(source).hexdigest()
    module_name = f"sgncert_hook_{digest[:16]}"
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"no loader for {rel}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except Exception as exc:  # user code: report, never crash
        raise SpecError(f"{where}: importing {rel} failed: {type(exc).__name__}: {exc}") from None
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise SpecError(f"{where}: {rel} has no function '{fn_name}'")
    return fn, {"python": ref, "sha256": digest}


@dataclass(frozen=True)
class HookCheck:
    """The recorded hook of a canonical spec against the file on disk.

    ``state``: ``"none"`` (the spec has no hook), ``"ok"`` (the file has the recorded
    sha256), ``"changed"`` (it does not: it must not run) or ``"unreadable"``.
    """

    state: str
    rel: str = ""
    path: Path | None = None
    digest: str = ""
    recorded: str = ""
    error: str = ""


def check_recorded_hook(spec: dict[str, Any], base_dir: Path) -> HookCheck:
    """Compare the hook file a canonical spec names (relative to ``base_dir``) with its
    recorded sha256, without running it. SpecError when the spec's hook entry is malformed."""
    costs = spec.get("costs")
    if not (isinstance(costs, dict) and "python" in costs):
        return HookCheck("none")
    recorded = costs.get("sha256")
    if not isinstance(recorded, str):
        raise SpecError("game.spec.costs: expected {python: 'file.py:function', sha256: ...}")
    rel, _ = _parse_ref(costs.get("python"), "game.spec.costs.python")
    path = base_dir / rel
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        return HookCheck("unreadable", rel, path, recorded=recorded, error=str(exc.strerror or exc))
    return HookCheck("ok" if digest == recorded else "changed", rel, path, digest, recorded)
