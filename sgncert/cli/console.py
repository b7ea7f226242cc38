"""Terminal output of the command line, in one place: consoles, progress bars, errors.

Human output (rich) goes to the terminal; progress and colour go to stderr and switch off
when the stream is not a TTY or ``CI`` / ``NO_COLOR`` is set; machine output (``--json``)
is one JSON document on stdout.
"""

from __future__ import annotations

import os
import sys
from types import TracebackType
from typing import IO, Any, NoReturn

import click


def interactive(stream: IO[str]) -> bool:
    """True for a TTY when neither ``CI`` nor ``NO_COLOR`` is set."""
    return stream.isatty() and not os.environ.get("CI") and not os.environ.get("NO_COLOR")


def console(stderr: bool = False) -> Any:
    """A rich Console on stdout (or stderr); plain text, 120 columns, when not a TTY. A
    reader that stops early (``| head``) silences the rest of the output; the command still
    ends with its own exit code (rich would exit 1, which means "not certified" here)."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            silence_stdout()

    stream = sys.stderr if stderr else sys.stdout
    return _Console(
        file=stream, no_color=not interactive(stream), highlight=False, width=None if stream.isatty() else 120
    )


def silence_stdout() -> None:
    """Send the rest of stdout to /dev/null (its reader has gone: a broken pipe), so that no
    later write or the interpreter's final flush fails."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def fail(message: str, code: int) -> NoReturn:
    """Print one line ``sgncert: error: ...`` on stderr and exit with ``code``."""
    click.echo(f"sgncert: error: {message}", err=True)
    raise SystemExit(code)


def emit(text: str, nl: bool = True) -> None:
    """``text`` on stdout; a reader that stops early (a broken pipe) silences the rest."""
    try:
        click.echo(text, nl=nl)
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()


def echo_json(doc: Any) -> None:
    """One JSON document on stdout (sorted keys, indent 2)."""
    import json

    emit(json.dumps(doc, indent=2, sort_keys=True, allow_nan=False, default=str))


class Progress:
    """A rich progress bar on stderr (only on a TTY without CI / NO_COLOR); call it as
    ``progress(stage, done, total)``."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> Progress:
        if interactive(sys.stderr):
            from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self.bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=console(stderr=True),
                transient=True,
            )
            self.bar.__enter__()
        return self

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.bar is None:
            return
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total)
        self.bar.update(self.tasks[stage], completed=done)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.bar is not None:
            self.bar.__exit__(exc_type, exc, tb)
