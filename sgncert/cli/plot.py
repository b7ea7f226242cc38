"""``sgncert plot phase GAME.yaml`` and ``sgncert plot flow CERT.json``."""

from __future__ import annotations

from pathlib import Path

import click

from .console import Progress, console
from .files import FILE_PATH, check_figure, save_figure_or_fail


@click.group()
def plot():
    """Figures: step-size phase diagrams and flow trajectories."""


@plot.command()
@click.argument("game", type=FILE_PATH, metavar="GAME.yaml")
@click.option(
    "--param",
    "param",
    required=True,
    metavar="NAME=START:STOP:NUM",
    help="Parameter on the horizontal axis (NUM values from START to STOP inclusive).",
)
@click.option("-o", "--output", type=FILE_PATH, default=Path("phase.png"), show_default=True, help="Figure file.")
@click.option(
    "--h-max", type=float, help="Largest step size drawn [default: 1.25 x the largest finite true threshold]."
)
@click.option(
    "--h-points", type=click.IntRange(16, 4000), default=241, show_default=True, help="Step sizes on the grid."
)
@click.option("--set", "overrides", multiple=True, metavar="NAME=VALUE", help="Override a fixed parameter.")
@click.option("--tight", is_flag=True, help="Overlay the largest proved steps over the scalar metric family.")
def phase(game, param, output, h_max, h_points, overrides, tight):
    """Step-size phase diagram of an affine GAME.yaml.

    The spectral radius of the Euler map I - hH and the RK4 map P(-hH) over (parameter, h),
    with the certified SGN steps (Euler 2 alpha/beta^2, RK4 c4 alpha/beta^2), the exact
    contraction thresholds in M(w) and the true stability thresholds.
    """
    check_figure(output)
    from ..analysis.sweep import check_ranges, parse_param_range
    from ..games.spec import load_game
    from ..plots.phase import phase_data, phase_figure

    prange = parse_param_range(param)
    g = load_game(game, list(overrides))
    check_ranges(g, [prange])
    with Progress() as progress:
        data = phase_data(g, prange, n_h=h_points, h_max=h_max, progress=progress, tight=tight)
    fig, data = phase_figure(data)
    save_figure_or_fail(fig, output)
    console().print(f"figure written to {output}")


@plot.command()
@click.argument("cert", type=FILE_PATH, metavar="CERT.json")
@click.option("-o", "--output", type=FILE_PATH, default=Path("flow.png"), show_default=True, help="Figure file.")
@click.option("--starts", type=click.IntRange(1, 256), default=8, show_default=True, help="Number of trajectories.")
@click.option("--time", "t_max", type=float, help="Time horizon [default: 5/alpha].")
@click.option(
    "--seed", type=click.IntRange(0), default=0, show_default=True, help="Seed of the random start directions (d > 2)."
)
@click.option(
    "--game",
    "game_path",
    type=FILE_PATH,
    help="The game spec file (Python hooks and data files resolve next to it) [default: next to CERT.json].",
)
def flow(cert, output, starts, t_max, seed, game_path):
    """Trajectories of the flow x' = -F(x) of a certified game.

    Distances to the equilibrium in the Euclidean norm and in the certified M(w)-norm,
    relative to the start, against time with the certified bound exp(-alpha t): the
    Euclidean distance may grow (the trajectory escapes the ball) while the M-distance
    contracts (it is trapped in the ellipse). For 2-D games also the phase portrait with
    the invariant M-ellipse; larger games are projected on the first coordinate of each of
    the first two players.
    """
    check_figure(output)
    from ..cert.load import load_certificate
    from ..plots.flow import flow_data, flow_figure

    doc = load_certificate(cert)
    base = game_path.parent if game_path else cert.parent
    data = flow_data(doc, base, starts=starts, seed=seed, t_max=t_max)
    fig, data = flow_figure(data)
    save_figure_or_fail(fig, output)
    out = console()
    out.print(
        f"max ||x(t)-x*||_2 / ||x(0)-x*||_2 = {data['max_euclidean_ratio']:.4g}; "
        f"max ||x(t)-x*||_M / ||x(0)-x*||_M = {data['max_m_ratio']:.4g}"
    )
    out.print(f"figure written to {output}")
