"""Progress bars for the Python API: shown in notebooks, silent in scripts unless asked.

``progress=None`` (the default) shows a bar inside a Jupyter kernel and nothing elsewhere;
``True`` always shows one (on stderr outside notebooks), ``False`` never; a callable
``progress(stage, done, total)`` receives the updates itself. The bar is rich's, which
renders as a live widget in Jupyter.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import SpecError

__all__ = ["ProgressArg", "progress_bar", "in_notebook"]

ProgressArg = bool | Callable[[str, int, int], None] | None


def in_notebook() -> bool:
    """True inside a Jupyter (IPython kernel) session."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = getattr(shell, "get_ipython", lambda: None)()
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


@contextlib.contextmanager
def progress_bar(progress: ProgressArg) -> Iterator[Callable[[str, int, int], None] | None]:
    """The ``progress(stage, done, total)`` callback for ``progress`` (module docstring)."""
    if callable(progress):
        import inspect

        try:
            inspect.signature(progress).bind("stage", 0, 1)
        except TypeError:
            raise SpecError("progress: expected a function f(stage, done, total), True, False or None") from None
        except ValueError:  # no signature to inspect (a builtin): trust it
            pass
        yield progress
        return
    if progress is not None and not isinstance(progress, bool):
        raise SpecError(
            f"progress: expected True, False, None or a function f(stage, done, total), got {progress!r:.60}"
        )
    show = in_notebook() if progress is None else bool(progress)
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=not in_notebook())
    tasks: dict[str, Any] = {}
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as bar:

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update
