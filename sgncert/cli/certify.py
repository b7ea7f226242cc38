"""``sgncert certify GAME.yaml`` and ``sgncert schema``."""

from __future__ import annotations

import os
import sys
from datetime import UTC
from pathlib import Path

import click

from ..errors import EXIT_INPUT, EXIT_NEGATIVE, EXIT_OK
from .console import Progress, console, emit, fail
from .files import check_target, game_files


def _created() -> str | None:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        from datetime import datetime

        return datetime.fromtimestamp(int(epoch), UTC).isoformat()
    return None


@click.command()
@click.argument("game", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Certificate file to write [default: GAME's folder/<stem>.cert.json].",
)
@click.option("--set", "overrides", multiple=True, metavar="NAME=VALUE", help="Override a parameter (repeatable).")
@click.option("--samples", type=click.IntRange(1, 10_000_000), help="Number of sample points (non-affine games).")
@click.option("--seed", type=click.IntRange(0), help="Sampling seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the certificate JSON on stdout instead of tables.")
@click.option("--no-write", is_flag=True, help="Do not write a certificate file.")
@click.option(
    "--metric",
    type=click.Choice(["scalar", "block"]),
    default="scalar",
    show_default=True,
    help="Metric family for the tight steps: scalar (w_i I, projection-safe) or block "
    "(a full positive-definite block per player; unconstrained games).",
)
@click.option(
    "--tight/--no-tight",
    default=True,
    show_default=True,
    help="Search the largest proved Euler/RK4 steps over the metric family (LMI, exact re-check).",
)
@click.option(
    "--bands/--no-bands",
    default=True,
    show_default=True,
    help="Compute the timescale band (N > 2: two SDPs per interacting pair; skipped past 24 players).",
)
@click.option(
    "--bounds",
    type=click.Choice(["sampled", "sound"]),
    help="How the constants of a non-affine game are bounded: sampled (extrema over the samples, "
    "estimates) or sound (proved over the whole region by interval branch and bound) [default: the "
    "spec's bounds, else sampled].",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0, min_open=True),
    help="Sound bounds: stop refining when every bound is within this relative gap of its best "
    "sampled value [default: the spec's, else 0.01].",
)
@click.option(
    "--budget",
    metavar="BOXES|SECONDSs",
    help="Sound bounds: stop after this many boxes (20000) or seconds (120s), or both (20000,120s) "
    "[default: the spec's, else 20000,120s].",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Run the sample batches on this Dask scheduler (tcp://host:8786) [default: $SGNCERT_SCHEDULER, else here].",
)
@click.option(
    "--workers", type=click.IntRange(1, 1024), help="Run the sample batches on a local Dask cluster of N processes."
)
@click.option(
    "--matrix-free/--no-matrix-free",
    default=None,
    help="Constants by Lanczos on Jacobian-vector products, no Jacobian formed (players with many "
    "parameters) [default: above 4096 dimensions].",
)
@click.option("--force", is_flag=True, help="Run even beyond the sane size limits (dimension, samples x d^2).")
def certify(
    game: Path,
    output: Path | None,
    overrides: tuple[str, ...],
    samples: int | None,
    seed: int | None,
    as_json: bool,
    no_write: bool,
    metric: str,
    tight: bool,
    bands: bool,
    bounds: str | None,
    tolerance: float | None,
    budget: str | None,
    scheduler: str | None,
    workers: int | None,
    matrix_free: bool | None,
    force: bool,
) -> None:
    """Certify GAME.yaml and write its certificate.

    Exit 0 when certified, 1 when analysed but not certified (the certificate is still
    written with certified: false and the reason), 2 on bad input, 3 on numerical failure.
    """
    from ..analysis.certify import check_limits
    from ..api.run import certify as run_certify
    from ..cert.build import build_certificate, dumps, spec_source
    from ..games.spec import load_game
    from ..util.atomic import write_atomic

    g = load_game(game, list(overrides), samples=samples, seed=seed)
    check_limits(g, force, matrix_free)
    target = None if no_write else (output or game.with_name(game.stem + ".cert.json"))
    if target is not None:
        check_target(target, game_files(g), "certificate")
    if (tolerance is not None or budget is not None) and (bounds or g.bounds) != "sound":
        from ..errors import SpecError

        raise SpecError(
            "--tolerance and --budget apply to sound bounds: add --bounds sound (or bounds: sound in the spec)"
        )
    sound_budget = sound_options(g, tolerance, budget)
    with Progress() as progress:
        result = run_certify(
            g,
            progress=progress,
            tight=tight,
            metric=metric,
            bands=bands,
            bounds=bounds,
            budget=sound_budget,
            scheduler=scheduler,
            workers=workers,
            matrix_free=matrix_free,
        )
    source = spec_source(g, target) if target else None
    doc = build_certificate(result, created=_created(), source=source)
    text = dumps(doc)
    if target is not None:
        try:
            write_atomic(target, text)
        except OSError as exc:
            fail(f"{target}: cannot write the certificate: {exc.strerror or exc}", EXIT_INPUT)
    if as_json:
        emit(text, nl=False)
    else:
        from .tables import certificate_tables

        out = console()
        for item in certificate_tables(doc):
            out.print(item)
        if not no_write:
            out.print(f"certificate written to {target}")
    sys.exit(EXIT_OK if doc["certified"] else EXIT_NEGATIVE)


def parse_budget(text: str) -> dict[str, float]:
    """``--budget``: ``BOXES``, ``SECONDSs`` or both, comma-separated (SpecError otherwise)."""
    from ..errors import SpecError

    out: dict[str, float] = {}
    usage = f"--budget: expected a number of boxes (20000), of seconds (120s) or both (20000,120s), got {text!r}"
    for part in text.replace(" ", "").split(","):
        key = "seconds" if part.endswith("s") else "boxes"
        if key in out:
            raise SpecError(f"--budget: {key} given twice in {text!r}")
        try:
            value = float(part[:-1]) if key == "seconds" else int(part)
        except ValueError:
            raise SpecError(usage) from None
        if not (value > 0 and value < float("inf")):
            raise SpecError(f"--budget: {key} must be positive, got {part!r}")
        out[key] = value
    return out


def sound_options(game, tolerance: float | None, budget: str | None):
    """The sound search's budget: the spec's ``bounds`` options, overridden by the command line."""
    from ..analysis.sound import SoundBudget, game_budget

    base = game_budget(game)
    opts = {"tolerance": base.tolerance, "boxes": base.boxes, "seconds": base.seconds}
    if tolerance is not None:
        opts["tolerance"] = tolerance
    if budget is not None:
        opts.update(parse_budget(budget))
    return SoundBudget(tolerance=float(opts["tolerance"]), boxes=int(opts["boxes"]), seconds=float(opts["seconds"]))


@click.command()
def schema() -> None:
    """Print the certificate JSON Schema."""
    from ..cert.model import json_schema
    from .console import echo_json

    echo_json(json_schema())
