"""``sgncert band GAME.yaml|CERT.json``: the timescale band figure."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from .console import Progress, console, emit
from .files import FILE_PATH, check_figure, save_figure_or_fail


def _is_certificate(path: Path) -> bool:
    return path.suffix.lower() == ".json"


@click.command()
@click.argument("source", type=FILE_PATH, metavar="GAME.yaml|CERT.json")
@click.option(
    "-o",
    "--output",
    type=FILE_PATH,
    default=Path("band.png"),
    show_default=True,
    help="Figure file (.png, .svg or .pdf).",
)
@click.option(
    "--alpha",
    type=float,
    default=0.0,
    show_default=True,
    help="Margin at which the band {w : C(w, alpha) > 0} is drawn.",
)
@click.option("--set", "overrides", multiple=True, metavar="NAME=VALUE", help="Override a parameter (GAME.yaml only).")
@click.option(
    "--game", "game_path", type=FILE_PATH, help="With CERT.json: the game spec file (Python hooks resolve next to it)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the plotted numbers as JSON on stdout.")
def band(source, output, alpha, overrides, game_path, as_json):
    """Plot the timescale band of GAME.yaml or CERT.json.

    Two players: the SGN margin alpha_*(r) over the weight ratio r = w2/w1 (log axis), the
    band (r_-, r_+) where C(w, alpha) > 0 shaded, the margin-optimal ratio marked and, for
    exact (affine) games, the true weighted margin alpha_true(r). More players: the interval
    of w_j/w_i for every pair, with the chosen weights' ratios marked.
    """
    check_figure(output)
    from ..api.figures import band_inputs
    from ..errors import SpecError
    from ..plots.band import band_data, band_figure

    if _is_certificate(source):
        if overrides:
            raise SpecError("--set applies to GAME.yaml, not to a certificate")
        from ..cert.load import load_certificate

        doc = load_certificate(source)
        kwargs, note = band_inputs(doc, None, game_path.parent if game_path else source.parent, alpha)
    else:
        from ..api.run import certify
        from ..games.spec import load_game

        game = load_game(source, list(overrides))
        with Progress() as progress:
            result = certify(game, progress=progress)
        kwargs, note = band_inputs(result.to_dict(), game, source.parent, alpha)
    names = kwargs["names"]
    data = band_data(**kwargs)
    fig, data = band_figure(data)
    save_figure_or_fail(fig, output)
    if as_json:
        from ..util.jsondoc import jsonable

        emit(json.dumps(jsonable(data), sort_keys=True, indent=2))
        return
    out = console()
    if data["n_players"] == 2:
        b = data["band"]
        high = "inf" if b is None or b["high"] == math.inf else format(b["high"], ".7g")
        band_text = "empty" if b is None else f"({b['low']:.6g}, {high})"
        out.print(
            f"band of w2/w1 at alpha = {alpha:g}: {band_text}; optimum r* = {data['r_opt']:.6g} "
            f"(alpha_* = {data['alpha_opt']:.6g})"
        )
    else:
        from rich.table import Table

        from .tables import add_number_column, number, number_cell

        # numbers in full (shortest round-trip repr), never truncated (see tables.py)
        t = Table(title=f"timescale bands at alpha = {number(alpha)}")
        t.add_column("pair", overflow="fold")
        for col in ("low", "high", "chosen"):
            add_number_column(t, col)
        t.add_column("search settled", overflow="fold")
        for p in data["pairs"]:
            t.add_row(
                f"w_{names[p['j']]}/w_{names[p['i']]}",
                number_cell(number(p["low"])),
                number_cell(number(p["high"])),
                number_cell(number(p["chosen"])),
                "yes" if p["settled"] else "no (ends proved, maybe not tight)",
            )
        out.print(t)
    if note:
        out.print(note)
    out.print(f"figure written to {output}")
