"""``sgncert verify CERT.json``: decide whether a certificate's claims hold.

Exit 0 valid, 1 invalid (every failed claim listed), 2 unreadable / malformed / unknown
schema version (one line on stderr), 3 undecidable, 4 valid but not certified (an honest
``certified: false``). Output: one line per certificate (failed claims indented below it)
and a summary line; ``-v`` every check as a table; ``--format github`` GitHub Actions
annotations; ``--json`` one JSON document. Heavy imports happen inside the command; the
algebraic phase needs none of them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .console import console, echo_json, emit

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
@click.option("-v", "--verbose", is_flag=True, help="Print every check of every certificate as a table.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "github"]),
    default="text",
    show_default=True,
    help="text: one line per certificate; github: GitHub Actions annotations (::error file=...::).",
)
def verify(
    certs: tuple[Path, ...],
    game_path: Path | None,
    resample: int,
    seed: int | None,
    simulate: bool,
    strict: bool,
    no_recompute: bool,
    as_json: bool,
    verbose: bool,
    fmt: str,
) -> None:
    """Verify the claims of CERT.json without trusting the program that wrote it.

    Exit 0 when every claim holds and the certificate certifies the game, 4 when every
    claim holds but it certifies nothing (certified: false, honestly), 1 when some claim
    fails (all are listed), 2 when the file is unreadable or malformed, 3 when a check
    cannot be decided. With several files (as pre-commit passes them) each is verified;
    the exit code is the most severe one (2, then 1, then 3, then 4).
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

    printer = _Printer(verbose=verbose, fmt=fmt, quiet=as_json)
    if len(certs) == 1:  # errors propagate: SgnGroup prints one line and exits 2 / 3
        report = check(certs[0])
        if as_json:
            echo_json(report.to_dict())
        else:
            printer.report(report, certs[0])
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
            codes.append(code)
            docs.append({"certificate": str(cert), "verdict": verdict, "exit_code": code, "error": message})
            printer.error(cert, verdict, message)
            continue
        codes.append(report.exit_code)
        docs.append(report.to_dict())
        printer.report(report, cert)
    code = next((c for c in (2, 1, 3, 4) if c in codes), 0)
    if as_json:
        echo_json({"kind": "sgncert.verify-reports", "exit_code": code, "reports": docs})
    else:
        printer.summary([d["verdict"] for d in docs])
    sys.exit(code)


_LABEL = {
    "valid": "VALID",
    "not-certified": "VALID, NOT CERTIFIED",
    "invalid": "INVALID",
    "undecidable": "UNDECIDABLE",
    "malformed": "MALFORMED",
    "error": "ERROR",
}
_COUNT_LABEL = {
    "valid": "valid",
    "not-certified": "valid but not certified",
    "invalid": "invalid",
    "undecidable": "undecidable",
    "malformed": "malformed",
    "error": "internal error",
}
_VERDICT_STYLE = {
    "valid": "green",
    "not-certified": "yellow",
    "invalid": "bold red",
    "undecidable": "magenta",
    "malformed": "bold red",
    "error": "bold red",
}


def _gh_escape(text: str, prop: bool = False) -> str:
    """GitHub Actions workflow-command escaping (properties also escape ':' and ',')."""
    out = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return out.replace(":", "%3A").replace(",", "%2C") if prop else out


class _Printer:
    """How verify prints: one line per certificate (text), annotations (github), tables (-v)."""

    def __init__(self, *, verbose: bool, fmt: str, quiet: bool) -> None:
        self.verbose, self.fmt, self.quiet = verbose, fmt, quiet

    def _line(self, cert: Path, verdict: str, detail: str) -> None:
        from rich.text import Text

        out = console()
        line = Text(f"{cert}: ")
        line.append(_LABEL.get(verdict, verdict.upper()), style=_VERDICT_STYLE.get(verdict, ""))
        line.append(f": {detail}" if detail else "")
        out.print(line, soft_wrap=True)

    def _annotate(self, level: str, cert: Path, title: str, message: str) -> None:
        emit(f"::{level} file={_gh_escape(str(cert), True)},title={_gh_escape(title, True)}::{_gh_escape(message)}")

    def report(self, report: VerifyReport, cert: Path) -> None:
        if self.quiet:
            return
        if self.verbose:
            _print_table(report, cert)
        if self.fmt == "github":
            self._github(report, cert)
            return
        self._line(cert, report.verdict, _detail(report))
        from rich.text import Text

        out = console()
        for c in report.failed + report.undecided:
            out.print(Text(f"  {c.status}: {c.name}: {c.message}", style=_STYLE.get(c.status, "")), soft_wrap=True)

    def _github(self, report: VerifyReport, cert: Path) -> None:
        for c in report.failed:
            self._annotate("error", cert, f"sgncert verify: {c.name}", c.message)
        for c in report.undecided:
            self._annotate("error", cert, f"sgncert verify: {c.name} (undecidable)", c.message)
        for c in report.warnings:
            self._annotate("warning", cert, f"sgncert verify: {c.name}", c.message)
        level = {"valid": "notice", "not-certified": "warning"}.get(report.verdict, "error")
        self._annotate(level, cert, f"sgncert verify: {_LABEL[report.verdict]}", _detail(report) or report.summary())

    def error(self, cert: Path, verdict: str, message: str) -> None:
        """A certificate that could not be verified: one line on stderr (also with --json), or an annotation."""
        if self.fmt == "github" and not self.quiet:
            self._annotate("error", cert, f"sgncert verify: {_LABEL.get(verdict, verdict)}", message)
        else:
            click.echo(f"sgncert: error: {message}", err=True)

    def summary(self, verdicts: list[str]) -> None:
        """The closing line: how many certificates got each verdict (the counts add up)."""
        if self.quiet or self.fmt == "github":
            return
        from rich.text import Text

        counts = {v: verdicts.count(v) for v in _LABEL if verdicts.count(v)}
        parts = ", ".join(f"{n} {_COUNT_LABEL[v]}" for v, n in counts.items())
        worst = next(
            (v for v in ("malformed", "error", "invalid", "undecidable", "not-certified") if v in counts), "valid"
        )
        console().print(
            Text(f"verified {len(verdicts)} certificate(s): {parts}", style=_VERDICT_STYLE[worst]), soft_wrap=True
        )


def _detail(report: VerifyReport) -> str:
    """What follows the verdict on a certificate's line."""
    info = report.info
    prov = info.get("provenance")
    where = {"sampled": "on the samples", "exact": "exact"}.get(str(prov), str(prov))
    warn = f", {len(report.warnings)} warning(s)" if report.warnings else ""
    if report.verdict == "invalid":
        names = report.names(report.failed)
        return f"{len(names)} claim(s) failed ({info.get('game')}): {', '.join(names)}"
    if report.verdict == "undecidable":
        return f"could not decide {', '.join(report.names(report.undecided))} ({info.get('game')})"
    passed = len(report.checks) - len(report.warnings)
    proofs = info.get("proofs")
    by = f"; certified by {', '.join(proofs)}" if proofs else "; no proof holds"
    return f"{info.get('game')} [{where}]: {passed} checks passed{warn}{by}"


def _print_table(report: VerifyReport, cert: Path) -> None:
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
