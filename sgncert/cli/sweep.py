"""``sgncert sweep GAME.yaml --param NAME=START:STOP:NUM``: certify over a parameter grid."""

from __future__ import annotations

import math
from pathlib import Path

import click

from .app import INTERRUPT_NOTE
from .console import Progress, console, emit
from .files import FILE_PATH, check_figure, check_output, check_target, game_files, save_figure_or_fail, write_text
from .tables import add_number_column, add_row, number, number_cell, plain


def _num(value: float) -> str:
    """A parameter value in full (shortest round-trip form): a boundary is never rounded."""
    return repr(float(value))


def _boundary_text(doc: dict) -> list[str]:
    """One sentence per test from the sweep's ``boundaries`` (1-D sweeps only)."""
    if "boundaries" not in doc:
        return []
    p = doc["params"][0]
    name = p["name"]
    way = "down to" if p["stop"] < p["start"] else "up to"
    out = []
    for label, key in (("Euclidean", "euclidean"), ("SGN", "sgn"), ("Certified (any proof)", "certified")):
        b = doc["boundaries"].get(key)
        if b is None:
            continue
        if b["certified_up_to"] is None:
            line = f"{label}: not certified at the first grid point {name} = {_num(b['fails_at'])}"
            if b["grid_next_certified"] is not None:
                line += f" (first certified grid point {name} = {_num(b['grid_next_certified'])})"
        elif b["fails_at"] is None:
            line = f"{label}: certifies every grid point ({way} {name} = {_num(b['certified_up_to'])})"
        else:
            line = f"{label}: certifies {way} {name} = {_num(b['certified_up_to'])} (fails at {_num(b['fails_at'])})"
            if b["grid_next_certified"] is not None:
                line += f"; certified again at grid point {name} = {_num(b['grid_next_certified'])}"
        out.append(line)
    return out


def _rows_table(doc: dict, limit: int = 25):
    from rich.table import Table

    names = [p["name"] for p in doc["params"]]
    rows = doc["rows"]
    keep = list(range(len(rows)))
    if len(rows) > limit:  # every k-th row plus the rows around a change of verdict
        step = math.ceil(len(rows) / limit)
        chosen = set(range(0, len(rows), step)) | {len(rows) - 1}
        for k in range(1, len(rows)):
            for key in ("certified", "sgn_certified", "euclidean_certified"):
                if rows[k].get(key) != rows[k - 1].get(key):
                    chosen |= {k - 1, k}
        keep = sorted(chosen)
    shown = f" ({len(keep)} shown)" if len(keep) < len(rows) else ""
    t = Table(title=plain(f"{doc['game']['name']}: {len(rows)} grid points{shown}"), title_justify="left")
    for n in names:
        add_number_column(t, n)
    t.add_column("certified by", overflow="fold")
    for col in ("best rate", "SGN alpha_*", "Euclid. gamma"):
        add_number_column(t, col)

    def f(v):
        return number_cell("-" if v is None else number(v))

    for k in keep:
        r = rows[k]
        if r.get("error"):
            verdict = plain("error", style="magenta")
        else:
            verdict = plain(",".join(r.get("proofs") or []) or "no", style="green" if r["certified"] else "red")
        add_row(
            t,
            *[f(r[n]) for n in names],
            verdict,
            f(r.get("best_rate")),
            f(r.get("sgn_margin")),
            f(r.get("euclidean_margin")),
        )
    return t


class FileJournal:
    """The rows of a sweep as they finish, one JSON line each after a header line naming the
    game, the grid and the options (``OUTPUT.partial.jsonl``): ``--resume`` reads them back
    (a torn last line is ignored) and runs only the missing points; the file is removed once
    the sweep is written."""

    def __init__(self, path: Path, header: dict, resume: bool) -> None:
        import json

        from ..errors import SpecError

        self.path, self.done = path, {}
        lines = path.read_text(encoding="utf-8").splitlines() if resume and path.is_file() else []
        if resume and not lines:
            click.echo(f"sgncert: note: --resume: no finished rows in {path}; running every point", err=True)
        if lines:
            try:
                stored = json.loads(lines[0])
            except ValueError:
                stored = None
            if stored != header:
                raise SpecError(
                    f"--resume: {path} is the partial sweep of another game, grid or options; "
                    "remove it or run without --resume"
                )
            for line in lines[1:]:
                try:
                    entry = json.loads(line)
                    self.done[int(entry["k"])] = entry["row"]
                except (ValueError, KeyError, TypeError):
                    break  # a line torn by the interruption: the rest is run again
        self._json = json
        self._file = path.open("w", encoding="utf-8")
        self._file.write(json.dumps(header, sort_keys=True) + "\n")
        for k, row in sorted(self.done.items()):  # rows keep their keys' order (the CSV's columns)
            self._file.write(json.dumps({"k": k, "row": row}) + "\n")
        self._file.flush()

    def record(self, index: int, row: dict) -> None:
        self._file.write(self._json.dumps({"k": index, "row": row}) + "\n")
        self._file.flush()

    def finish(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


@click.command()
@click.argument("game", type=FILE_PATH, metavar="GAME.yaml")
@click.option(
    "--param",
    "params",
    multiple=True,
    required=True,
    metavar="NAME=START:STOP:NUM",
    help="Swept parameter: NUM equally spaced values from START to STOP inclusive (repeatable: grid).",
)
@click.option(
    "-o",
    "--output",
    type=FILE_PATH,
    default=Path("sweep.json"),
    show_default=True,
    help="Sweep JSON file; the CSV is written next to it (same stem, .csv).",
)
@click.option(
    "--plot", "plot_path", type=FILE_PATH, help="Also draw the margins against the parameter (.png/.svg/.pdf)."
)
@click.option("--set", "overrides", multiple=True, metavar="NAME=VALUE", help="Override a fixed parameter.")
@click.option("--samples", type=click.IntRange(1, 10_000_000), help="Number of sample points (non-affine games).")
@click.option("--seed", type=click.IntRange(0), help="Sampling seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the sweep JSON on stdout instead of the table.")
@click.option("--tight", is_flag=True, help="Also the largest proved steps over the scalar metric family per point.")
@click.option(
    "--boundary-rtol",
    type=click.FloatRange(0.0, 1.0),
    default=1e-6,
    show_default=True,
    help="One parameter: locate each test's boundary to this fraction of the grid step "
    "(a few more certifications); 0: report the grid values only.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Run the grid points on this Dask scheduler (tcp://host:8786) [default: $SGNCERT_SCHEDULER, else here].",
)
@click.option(
    "--workers", type=click.IntRange(1, 1024), help="Run the grid points on a local Dask cluster of N processes."
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted sweep from the rows already in OUTPUT.partial.jsonl (none is run twice).",
)
def sweep(
    game, params, output, plot_path, overrides, samples, seed, as_json, tight, boundary_rtol, scheduler, workers, resume
):
    """Certify GAME.yaml over a grid of parameter values.

    Writes a JSON document (kind sgncert.sweep: one row per grid point with the parameter
    values, certified, Euclidean margin, SGN margin, alpha_true for exact games, beta and
    the certified steps) and the same rows as CSV. With one parameter, each test's boundary
    is located between the grid points by a few more certifications: "certifies up to
    lam = a (fails at b)" means a is certified and b is not, so the crossing lies in (a, b].
    Exit 0 when the sweep ran, whatever the verdicts; 2 on bad input.
    """
    check_output(output)
    if plot_path is not None:
        check_figure(plot_path)
    from ..analysis.sweep import as_ranges, check_ranges, dumps_sweep, rows_to_csv, run_sweep
    from ..games.spec import load_game

    ranges = as_ranges(params)
    from ..games.params import parse_overrides

    if clash := sorted({r.name for r in ranges} & set(parse_overrides(list(overrides)))):
        from ..errors import SpecError

        raise SpecError(f"--set {clash[0]}: {clash[0]} is swept by --param; give it one or the other")
    g = load_game(game, list(overrides), samples=samples, seed=seed)
    check_ranges(g, ranges)
    check_target(output, game_files(g), "sweep")
    check_target(output.with_suffix(".csv"), game_files(g), "csv")
    if plot_path is not None and len(ranges) > 2:
        from ..errors import SpecError

        raise SpecError(f"--plot needs 1 or 2 swept parameters, got {len(ranges)}")
    from ..analysis.cluster import runner

    header = {
        "kind": "sgncert.sweep.partial",
        "game": g.sha256,
        "params": [r.to_dict() for r in ranges],
        "tight": bool(tight),
    }
    with runner(scheduler, workers) as run, Progress() as progress:
        journal = FileJournal(output.with_name(output.name + ".partial.jsonl"), header, resume)
        click.get_current_context().meta[INTERRUPT_NOTE] = (
            f" ({journal.path} keeps the finished rows: run again with --resume)"
        )
        doc = run_sweep(
            g, ranges, progress=progress, tight=tight, boundary_rtol=boundary_rtol or None, runner=run, journal=journal
        )
    text = dumps_sweep(doc)
    write_text(output, text, "sweep")
    journal.finish()
    csv_path = output.with_suffix(".csv")
    write_text(csv_path, rows_to_csv(doc["rows"]), "CSV")
    if plot_path is not None:
        from ..plots.sweep import sweep_figure

        fig, _ = sweep_figure(doc)
        save_figure_or_fail(fig, plot_path)
    if as_json:
        emit(text, nl=False)
        return
    out = console()
    out.print(_rows_table(doc))
    for line in _boundary_text(doc):
        out.print(line)
    failed = sum(1 for r in doc["rows"] if r.get("error"))
    if failed:
        out.print(f"{failed} point(s) failed numerically (rows with an 'error' field)")
    out.print(f"sweep written to {output} and {csv_path}" + (f", figure to {plot_path}" if plot_path else ""))
