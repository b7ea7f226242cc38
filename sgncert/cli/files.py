"""Files the commands write: checked before any computation, written atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ..errors import SpecError

FILE_PATH = click.Path(dir_okay=False, path_type=Path)


def check_figure(path: Path) -> None:
    """SpecError unless ``path`` can hold a figure (.png, .svg or .pdf in an existing folder)."""
    from ..plots.style import check_figure_path

    check_figure_path(path)


def check_output(path: Path) -> None:
    """SpecError unless ``path`` can hold a sweep's JSON file (the CSV goes next to it)."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise SpecError(f"{path}: folder {folder} does not exist")
    if path.is_dir():
        raise SpecError(f"{path}: is a directory, expected a file")
    if path.suffix.lower() == ".csv":
        raise SpecError(f"{path}: -o names the JSON file (the CSV goes next to it, same stem)")


def save_figure_or_fail(fig: Any, target: Path) -> None:
    """Save a figure; an unwritable target is a SpecError (exit 2)."""
    from ..plots.style import save_figure

    try:
        save_figure(fig, target)
    except OSError as exc:
        raise SpecError(f"{target}: cannot write the figure: {exc.strerror or exc}") from None


def write_text(target: Path, text: str, what: str) -> None:
    """Write ``text`` atomically; an unwritable target is a SpecError (exit 2)."""
    from ..util.atomic import write_atomic

    try:
        write_atomic(target, text)
    except OSError as exc:
        raise SpecError(f"{target}: cannot write the {what}: {exc.strerror or exc}") from None


def game_files(game: Any) -> list[Path]:
    """The files a game was read from: its spec and the hook and data files the spec names."""
    if not getattr(game, "source", None):
        return []
    spec = Path(game.source)
    out = [spec]
    costs = game.canonical.get("costs")
    if isinstance(costs, dict) and isinstance(costs.get("python"), str):
        out.append(spec.parent / costs["python"].split(":")[0])
    out += [spec.parent / rel for rel in game.canonical.get("data_files") or {}]
    return out


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def _written_by_us(path: Path, kind: str) -> bool:
    """True when ``path`` holds an earlier sgncert output of ``kind`` (certificate: a JSON
    document of kind sgncert.certificate; sweep: one of kind sgncert.sweep; csv: a sweep's
    table, whose header names the column ``certified``)."""
    import json

    try:
        if kind == "csv":
            with path.open(encoding="utf-8") as fh:
                return "certified" in fh.readline().strip().split(",")
        with path.open(encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("kind") == f"sgncert.{kind}"


def check_target(path: Path, inputs: Sequence[Path], kind: str) -> None:
    """SpecError (exit 2, before any computation) when writing ``path`` would destroy what
    the user had: one of the command's input files, or an existing file that is not an
    earlier sgncert output of ``kind`` (certificate, sweep or csv), which -o replaces."""
    for source in inputs:
        if _same_file(path, source):
            raise SpecError(f"{path}: is an input of this command ({source}); write the output elsewhere (-o)")
    if path.is_file() and not _written_by_us(path, kind):
        what = {"certificate": "certificate", "sweep": "sweep", "csv": "sweep table"}[kind]
        raise SpecError(
            f"{path}: exists and is not a sgncert {what}, so it is not replaced; remove it or choose another -o"
        )
