"""The ``sgncert`` command: a lazy click group over the library.

Exit codes: 0 success (certified / valid), 1 checked and negative, 2 bad input or usage,
3 undecidable or numerical failure, 130 interrupted. Each command lives in its own module,
imported only when that command runs (heavy libraries are imported inside the commands),
so ``sgncert --help`` stays instant. No traceback reaches the user unless ``--debug`` is
given.
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


class SgnGroup(click.Group):
    """Loads each command's module on first use, and maps library errors to exit codes
    and one-line messages."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS and name not in self.commands:
            module, attr = COMMANDS[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SgnError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            click.echo("sgncert: interrupted; no file was changed", err=True)
            raise SystemExit(EXIT_INTERRUPTED) from None
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # last resort: never a traceback without --debug
            if ctx.obj and ctx.obj.get("debug"):
                raise
            first = str(exc).splitlines()[0] if str(exc) else ""
            fail(f"internal error: {type(exc).__name__}: {first} (run with --debug for the traceback)", EXIT_NUMERICAL)


@click.group(cls=SgnGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sgncert")
@click.option("--debug", is_flag=True, help="Show Python tracebacks on errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Certify that gradient play in a differentiable game contracts to its Nash equilibrium.

    The Small-Gain Nash (SGN) method bounds each player's curvature mu_i and the couplings
    L_ij on a region, finds block weights w making the pseudo-gradient strongly monotone in
    M(w) = blockdiag(w_i I), and reports the rate, safe step sizes and timescale bands.

    Exit codes: 0 certified/valid, 1 not certified/invalid, 2 bad input, 3 numerical failure.

    Game specs are data (YAML, expressions parsed without eval). The one exception is a
    Python hook (costs: {python: file.py:fn}), which RUNS the named file: only certify
    specs whose hooks you trust.
    """
    from ..util.jaxenv import own_process

    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
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
