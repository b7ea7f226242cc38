"""Files the commands write: checked before any computation, written atomically."""

from __future__ import annotations

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
