"""The ``sgncert`` command: a lazy click group over the library.

Exit codes: 0 success (certified / valid), 1 checked and negative, 2 bad input or usage,
3 undecidable or numerical failure, 4 (verify) valid but not certified, 130 interrupted. Each command lives in its own module,
imported only when that command runs (heavy libraries are imported inside the commands),
so ``sgncert --help`` stays instant. No traceback reaches the user unless ``--debug`` is
given, before or after the subcommand (each command gets the option when it is loaded).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from ..errors import EXIT_INTERRUPTED, EXIT_NUMERICAL, SgnError
from .console import fail

COMMANDS = {
    "band": "sgncert.cli.band:band",
    "certify": "sgncert.cli.certify:certify",
    "plot": "sgncert.cli.plot:plot",
    "schema": "sgncert.cli.certify:schema",
    "sweep": "sgncert.cli.sweep:sweep",
    "verify": "sgncert.cli.verify:verify",
}

DEBUG_HELP = "Show Python tracebacks on errors."
#: key in ``click.Context.meta`` (shared by a context and all its sub-contexts)
DEBUG_KEY = "sgncert.debug"
#: key in ``click.Context.meta``: what a command adds to the interrupt message (a sweep's journal)
INTERRUPT_NOTE = "sgncert.interrupt_note"


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[DEBUG_KEY] = True


def debug_requested(ctx: click.Context) -> bool:
    """Whether ``--debug`` was given anywhere on the command line."""
    return bool(ctx.meta.get(DEBUG_KEY))


def with_debug_option(cmd: click.Command) -> click.Command:
    """Give ``cmd`` (and the commands of a group, recursively) a ``--debug`` flag, so that
    ``sgncert certify GAME --debug`` works as ``sgncert --debug certify GAME`` does.
    Eager: it is set before the other options are converted. Idempotent."""
    if not any(p.name == "debug" for p in cmd.params):
        cmd.params.append(
            click.Option(
                ["--debug"], is_flag=True, expose_value=False, is_eager=True, callback=_set_debug, help=DEBUG_HELP
            )
        )
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            with_debug_option(sub)
    return cmd


class SgnGroup(click.Group):
    """Loads each command's module on first use, and maps library errors to exit codes
    and one-line messages."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS and name not in self.commands:
            module, attr = COMMANDS[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        cmd = super().get_command(ctx, name)
        return with_debug_option(cmd) if cmd is not None else None

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any):
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:  # the top level's own options: one line too
            if "--debug" in args or isinstance(exc, click.exceptions.NoArgsIsHelpError):
                raise  # (no arguments at all: click prints the help)
            fail(f"{exc.format_message()} (see 'sgncert --help')", exc.exit_code)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SgnError as exc:
            if debug_requested(ctx):
                raise
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            click.echo(f"sgncert: interrupted; no output file was changed{ctx.meta.get(INTERRUPT_NOTE, '')}", err=True)
            raise SystemExit(EXIT_INTERRUPTED) from None
        except click.UsageError as exc:  # one line, like every other bad input
            if debug_requested(ctx) or isinstance(exc, click.exceptions.NoArgsIsHelpError):
                raise
            where = (
                f"sgncert {exc.ctx.command_path.split(' ', 1)[1]}"
                if exc.ctx and " " in exc.ctx.command_path
                else "sgncert"
            )
            fail(f"{exc.format_message()} (see '{where} --help')", exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # last resort: never a traceback without --debug
            if debug_requested(ctx):
                raise
            first = str(exc).splitlines()[0] if str(exc) else ""
            fail(f"internal error: {type(exc).__name__}: {first} (run with --debug for the traceback)", EXIT_NUMERICAL)


@click.group(cls=SgnGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sgncert")
@click.option("--debug", is_flag=True, help=DEBUG_HELP + " Also accepted after the command.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Certify that gradient play in a differentiable game contracts to its Nash equilibrium.

    The Small-Gain Nash (SGN) method bounds each player's curvature mu_i and the couplings
    L_ij on a region, finds block weights w making the pseudo-gradient strongly monotone in
    M(w) = blockdiag(w_i I), and reports the rate, safe step sizes and timescale bands.

    Exit codes: 0 certified/valid, 1 not certified/invalid, 2 bad input, 3 numerical failure,
    4 valid but not certified (verify).

    Game specs are data (YAML, expressions parsed without eval). The one exception is a
    Python hook (costs: {python: file.py:fn}), which RUNS the named file: only certify
    specs whose hooks you trust.
    """
    from ..util.jaxenv import own_process

    if debug:
        ctx.meta[DEBUG_KEY] = True
    own_process()  # this process is sgncert's: synchronous JAX dispatch, opt-in compilation cache
    _terminate_as_interrupt()


def _terminate_as_interrupt() -> None:
    """SIGTERM behaves like Ctrl-C: clean-up runs (no partial files) and exit code 130."""
    import signal

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, handler)
        # a process started from a non-interactive shell's background job inherits SIGINT
        # ignored; an explicit interrupt should still stop it cleanly
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except (ValueError, OSError):  # not the main thread (e.g. inside a test runner)
        pass


def run() -> None:
    """Console entry point: ``main`` plus a hard exit after an interrupt, so that threads
    of half-initialised native libraries cannot hold up interpreter shutdown (files are
    already clean by then: atomic writes remove their temporary file on the way out)."""
    try:
        main()
    except SystemExit as exc:
        if exc.code == EXIT_INTERRUPTED:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)
        raise
