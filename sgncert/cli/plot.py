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
    "--h-max",
    type=float,
    help="Largest step size drawn [default: 1.25 x the largest finite true stability threshold, else 3/max|eig H|].",
)
@click.option(
    "--h-points", type=click.IntRange(16, 4000), default=241, show_default=True, help="Step sizes on the grid."
)
@click.option("--set", "overrides", multiple=True, metavar="NAME=VALUE", help="Override a fixed parameter.")
@click.option("--tight", is_flag=True, help="Overlay the largest proved steps over the scalar metric family.")
def phase(game, param, output, h_max, h_points, overrides, tight):
    """Step-size phase diagram of an affine GAME.yaml.

    Two heatmaps over (parameter, step h): the spectral radius of the Euler map I - hH and
    of the RK4 map P(-hH), H the game's constant Jacobian, with the contour radius = 1, the
    true stability thresholds, the exact contraction thresholds in M(w) (w: the weights
    chosen at each parameter value) and the certified SGN steps (Euler 2 alpha/beta^2,
    RK4 c4 alpha/beta^2; 0 where not certified); with --tight also the tight steps.
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
@click.option(
    "--time",
    "t_max",
    type=float,
    help="Time horizon [default: 5/alpha; not certified: 10/max(min mu, 0.1)]; constrained games: "
    "t = k h, ceil(t/h) projected Euler steps [default: until the M-distances fall below 1e-9 of "
    "their starts, 20 to 1000 steps].",
)
@click.option(
    "--seed",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Seed of the random start directions (metric dimension > 2).",
)
@click.option(
    "--game",
    "game_path",
    type=FILE_PATH,
    help="The game spec file (Python hooks and data files resolve next to it) [default: next to CERT.json].",
)
def flow(cert, output, starts, t_max, seed, game_path):
    """Trajectories of the certified dynamics of CERT.json and their distances to the equilibrium.

    Euclidean geometry: the flow x' = -F(x) (RK4, small steps) from starts on the
    certificate's invariant M(w)-sphere around x* (without one, the M(w)-sphere of radius
    R sqrt(min w)); distances ||x - x*||_2 and ||x - x*||_M, M = blockdiag(w_i I).

    Fisher geometry (softmax games): the natural-gradient flow
    theta' = -G(theta)^+ F(theta) from starts on an M(w)-sphere inside the region;
    distances in the gauge-free logits and in the Fisher metric at the equilibrium,
    M = blockdiag(w_i G_i(theta*)), measured in the reduced (gauge-quotiented) frame where
    the certificate's weights live.

    M(w) is the metric of the proof the certificate's equilibrium section names (its
    invariant ball's metric; the SGN weights for older certificates).

    Left panel: both distances relative to the start against time, with exp(-alpha t)
    (alpha that proof's certified rate). Right panel: the trajectories with the M(w)-ellipse
    through the starts (in the Euclidean geometry also the Euclidean circle through the
    first start), drawn on a line for a one-dimensional (metric) space; in the plane of
    the state with stream lines of the field for a two-dimensional one (Fisher: of the
    reduced coordinates); in the plane of the first two coordinates for one player in
    more dimensions (a projection); otherwise in the plane of the first two players'
    distances to the equilibrium (Fisher: in the norms of G_i(theta*)), where the M-ball
    is the ellipse w_1 a^2 + w_2 b^2 <= r^2 (for more than two players the ellipse
    contains the projection of the ball).

    Constrained games (players with sets X_i; docs/theory.md §13): the certified dynamics
    is projected Euler x+ = P_X(x - h F(x)) at the certificate's largest proved step
    (verdict.best.steps.euler: h itself when attained, else 0.99 h; not certified:
    h = 1/||J(x*)||_2 and no bound), iterated from starts
    in the invariant M(w)-ball around x* intersected with X (w the weights of that step;
    every start and iterate lies in X). Left panel: the distances ||x_k - x*||_2 and
    ||x_k - x*||_M relative to the start against t = k h (iteration k on the top axis),
    with the certified bound factor^k (an open bound: factor = sqrt(1 - 2 h a + h^2 b^2)
    at 0.99 h, a and b the rate and beta of the step's proof). Right panel: for a game of
    dimension 2 (e.g. two scalar players) the iterates in the state plane with the boundary
    of X (box edges, ball circle, nonnegative axes; clipped to the window; X shaded), else
    the plane of the first two players' distances as above.

    Titles state only what the plotted trajectories show: whether each distance grows
    above its start, and whether the M-distance stays below exp(-alpha t) (constrained
    games: below factor^k, and at which projected Euler step).
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
    v = data["variable"].lstrip("\\")
    claims = data["claims"]
    out.print(
        f"max ||{v}(t)-{v}*||_2 / ||{v}(0)-{v}*||_2 = {data['max_euclidean_ratio']:.4g}; "
        f"max ||{v}(t)-{v}*||_M / ||{v}(0)-{v}*||_M = {data['max_m_ratio']:.4g}",
        markup=False,
    )
    if claims["within_bound"] is not None:
        verdict = "yes" if claims["within_bound"] else f"no (up to x{claims['bound_excess']:.4g})"
        out.print(f"M-distance within exp(-alpha t) on every trajectory: {verdict}")
    out.print(f"figure written to {output}")
