"""Command line: a thin shell over the library (SPEC 11).

Exit codes: 0 success (certified / valid), 1 checked and negative, 2 bad input or usage,
3 undecidable or numerical failure. Heavy libraries (JAX, cvxpy) are imported inside the
commands, so ``sgncert --help`` stays instant. No traceback reaches the user unless
``--debug`` is given.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .errors import EXIT_INPUT, EXIT_NEGATIVE, EXIT_NUMERICAL, EXIT_OK, SgnError


def _interactive(stream) -> bool:
    return stream.isatty() and not os.environ.get("CI") and not os.environ.get("NO_COLOR")


def _console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, no_color=not _interactive(stream), highlight=False,
                   width=None if stream.isatty() else 120)


def fail(message: str, code: int) -> "click.exceptions.Exit":
    """Print one line ``sgncert: error: ...`` on stderr and exit with ``code``."""
    click.echo(f"sgncert: error: {message}", err=True)
    raise SystemExit(code)


class Progress:
    """A rich progress bar on stderr (only on a TTY without CI / NO_COLOR)."""

    def __init__(self):
        self.bar = None
        self.tasks = {}

    def __enter__(self):
        if _interactive(sys.stderr):
            from rich.progress import BarColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

            self.bar = RichProgress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                                    TimeElapsedColumn(), console=_console(stderr=True), transient=True)
            self.bar.__enter__()
        return self

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.bar is None:
            return
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total)
        self.bar.update(self.tasks[stage], completed=done)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)


class SgnGroup(click.Group):
    """Maps library errors to exit codes and one-line messages."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SgnError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            click.echo("sgncert: interrupted; no file was changed", err=True)
            raise SystemExit(130)
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
def main(ctx, debug):
    """Certify that gradient play in a differentiable game contracts to its Nash equilibrium.

    The Small-Gain Nash (SGN) method bounds each player's curvature mu_i and the couplings
    L_ij on a region, finds block weights w making the pseudo-gradient strongly monotone in
    M(w) = blockdiag(w_i I), and reports the rate, safe step sizes and timescale bands.

    Exit codes: 0 certified/valid, 1 not certified/invalid, 2 bad input, 3 numerical failure.

    Game specs are data (YAML, expressions parsed without eval). The one exception is a
    Python hook (costs: {python: file.py:fn}), which RUNS the named file: only certify
    specs whose hooks you trust.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    _terminate_as_interrupt()


def _terminate_as_interrupt() -> None:
    """SIGTERM behaves like Ctrl-C: clean-up runs (no partial files) and exit code 130."""
    import signal

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, handler)
        # a process started from a non-interactive shell's background job inherits SIGINT
        # ignored; an explicit interrupt should still stop it cleanly
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except (ValueError, OSError):  # not the main thread (e.g. inside a test runner)
        pass


def _created() -> str | None:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        from datetime import datetime, timezone

        return datetime.fromtimestamp(int(epoch), timezone.utc).isoformat()
    return None


@main.command()
@click.argument("game", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Certificate file to write [default: GAME's folder/<stem>.cert.json].")
@click.option("--set", "overrides", multiple=True, metavar="NAME=VALUE", help="Override a parameter (repeatable).")
@click.option("--samples", type=click.IntRange(1, 10_000_000), help="Number of sample points (non-affine games).")
@click.option("--seed", type=click.IntRange(0), help="Sampling seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the certificate JSON on stdout instead of tables.")
@click.option("--no-write", is_flag=True, help="Do not write a certificate file.")
@click.option("--metric", type=click.Choice(["scalar", "block"]), default="scalar", show_default=True,
              help="Metric family for the tight steps: scalar (w_i I, projection-safe) or block "
                   "(a full positive-definite block per player; unconstrained games).")
@click.option("--tight/--no-tight", default=True, show_default=True,
              help="Search the largest proved Euler/RK4 steps over the metric family (LMI, exact re-check).")
@click.option("--force", is_flag=True, help="Run even beyond the sane size limits (dimension, samples x d^2).")
def certify(game, output, overrides, samples, seed, as_json, no_write, metric, tight, force):
    """Certify GAME.yaml and write its certificate.

    Exit 0 when certified, 1 when analysed but not certified (the certificate is still
    written with certified: false and the reason), 2 on bad input, 3 on numerical failure.
    """
    from .atomic import write_atomic
    from .certificate import build_certificate, dumps
    from .certify import certify as run_certify
    from .jaxconfig import ensure_x64
    from .spec import load_game

    ensure_x64()
    from .certify import check_limits

    g = load_game(game, list(overrides), samples=samples, seed=seed)
    check_limits(g, force)
    with Progress() as progress:
        result = run_certify(g, progress=progress, tight=tight, metric=metric)
    target = None if no_write else (output or game.with_name(game.stem + ".cert.json"))
    source = Path(os.path.relpath(game.resolve(), target.resolve().parent)).as_posix() if target else None
    doc = build_certificate(result, created=_created(), source=source)
    text = dumps(doc)
    if target is not None:
        try:
            write_atomic(target, text)
        except OSError as exc:
            fail(f"{target}: cannot write the certificate: {exc.strerror or exc}", EXIT_INPUT)
    if as_json:
        click.echo(text, nl=False)
    else:
        console = _console()
        from .report import certificate_tables

        for item in certificate_tables(doc):
            console.print(item)
        if not no_write:
            console.print(f"certificate written to {target}")
    sys.exit(EXIT_OK if doc["certified"] else EXIT_NEGATIVE)


@main.command()
def schema():
    """Print the certificate JSON Schema."""
    import json

    from .schema import CERTIFICATE_SCHEMA

    click.echo(json.dumps(CERTIFICATE_SCHEMA, indent=2, sort_keys=True))


from .cli_verify import verify as _verify  # noqa: E402
main.add_command(_verify)

from .cli_plots import band as _band, plot as _plot, sweep as _sweep  # noqa: E402

main.add_command(_band)
main.add_command(_sweep)
main.add_command(_plot)

def run() -> None:
    """Console entry point: ``main`` plus a hard exit after an interrupt, so that threads
    of half-initialised native libraries cannot hold up interpreter shutdown (files are
    already clean by then: atomic writes remove their temporary file on the way out)."""
    try:
        main()
    except SystemExit as exc:
        if exc.code == 130:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        raise


if __name__ == "__main__":  # pragma: no cover
    run()
