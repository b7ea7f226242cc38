"""``sgncert verify CERT.json``: decide whether a certificate's claims hold.

Exit 0 valid, 1 invalid (every failed claim listed), 2 unreadable / malformed / unknown
schema version (one line on stderr), 3 undecidable. Heavy imports happen inside the
command; the algebraic phase needs none of them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .console import console, echo_json

if TYPE_CHECKING:
    from ..cert.report import VerifyReport

_STYLE = {"ok": "green", "failed": "bold red", "warning": "yellow", "undecidable": "magenta"}


@click.command()
@click.argument("certs", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="CERT.json...")
@click.option(
    "--game",
    "game_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The game spec file; checked to still describe the certified game (hooks resolve next to it).",
)
@click.option(
    "--resample",
    type=click.IntRange(0, 10_000_000),
    default=1024,
    show_default=True,
    help="Fresh sample points for sampled games (0: none).",
)
@click.option(
    "--seed",
    type=click.IntRange(0),
    help="Seed of the fresh samples and simulation starts [default: certificate seed + 1].",
)
@click.option("--simulate", is_flag=True, help="Run Euler and RK4 trajectory pairs at the certified steps.")
@click.option("--strict", is_flag=True, help="Treat fresh points beating a sampled estimate as failed claims.")
@click.option(
    "--no-recompute",
    is_flag=True,
    help="Only the exact algebraic checks (no recomputed constants; JAX is still imported when the game spec is found, to check it against the certificate).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON report on stdout.")
def verify(
    certs: tuple[Path, ...],
    game_path: Path | None,
    resample: int,
    seed: int | None,
    simulate: bool,
    strict: bool,
    no_recompute: bool,
    as_json: bool,
) -> None:
    """Verify the claims of CERT.json without trusting the program that wrote it.

    Exit 0 when every claim holds, 1 when some claim fails (all are listed), 2 when the
    file is unreadable or malformed, 3 when a check cannot be decided. With several files
    (as pre-commit passes them) each is verified; the exit code is the most severe one
    (2, then 1, then 3).
    """
    from ..cert.load import load_certificate
    from ..cert.verify import verify_certificate
    from ..errors import EXIT_NUMERICAL, SgnError, SpecError

    def check(cert: Path) -> VerifyReport:
        doc = load_certificate(cert)
        return verify_certificate(
            doc,
            cert_path=cert,
            game_path=game_path,
            resample=resample,
            seed=seed,
            simulate=simulate,
            recompute=not no_recompute,
            strict=strict,
        )

    if len(certs) == 1:  # errors propagate: SgnGroup prints one line and exits 2 / 3
        report = check(certs[0])
        if as_json:
            echo_json(report.to_dict())
        else:
            _print_report(report, certs[0])
        sys.exit(report.exit_code)
    codes: list[int] = []
    docs: list[dict[str, Any]] = []
    for cert in certs:
        try:
            report = check(cert)
        except Exception as exc:  # one file's trouble never stops the others (pre-commit passes many)
            if isinstance(exc, SgnError):
                verdict, code, message = (
                    ("malformed" if isinstance(exc, SpecError) else "undecidable"),
                    exc.exit_code,
                    str(exc),
                )
            else:
                first = str(exc).splitlines()[0] if str(exc) else ""
                verdict, code, message = (
                    "error",
                    EXIT_NUMERICAL,
                    f"{cert}: internal error: {type(exc).__name__}: {first}",
                )
            click.echo(f"sgncert: error: {message}", err=True)
            codes.append(code)
            docs.append({"certificate": str(cert), "verdict": verdict, "exit_code": code, "error": message})
            continue
        codes.append(report.exit_code)
        docs.append(report.to_dict())
        if not as_json:
            _print_report(report, cert)
    code = next((c for c in (2, 1, 3) if c in codes), 0)
    if as_json:
        echo_json({"kind": "sgncert.verify-reports", "exit_code": code, "reports": docs})
    sys.exit(code)


def _print_report(report: VerifyReport, cert: Path) -> None:
    from rich.table import Table
    from rich.text import Text

    out = console()
    info = report.info
    table = Table(title=f"verify {cert}: {info.get('game')} [{info.get('provenance')}]", title_justify="left")
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for c in report.checks:
        table.add_row(Text(c.name), Text(c.status, style=_STYLE.get(c.status, "")), Text(c.message))
    out.print(table)
    for note in report.notes:
        out.print(Text(f"note: {note}"))
    out.print(Text(report.summary(), style=_STYLE["ok" if report.verdict == "valid" else "failed"]))
