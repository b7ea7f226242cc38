"""``sgncert band``, ``sgncert sweep`` and ``sgncert plot phase|flow`` (issue 5).

Register with ``main.add_command(band)``, ``main.add_command(sweep)``,
``main.add_command(plot)``. Heavy libraries (JAX, matplotlib, cvxpy) are imported inside
the commands. Errors are :class:`sgncert.errors.SgnError`s, mapped to exit codes and one
line by the ``SgnGroup`` of :mod:`sgncert.cli` (bad input: 2, numerical failure: 3). The
commands exit 0 whenever they produce their output; a sweep whose points are not
certified is still a successful sweep.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

_PATH = click.Path(dir_okay=False, path_type=Path)


def _setup():
    from .jaxconfig import ensure_x64

    ensure_x64()


def _save(fig, target: Path) -> None:
    from .plots import save_figure

    try:
        save_figure(fig, target)
    except OSError as exc:
        from .errors import SpecError

        raise SpecError(f"{target}: cannot write the figure: {exc.strerror or exc}") from None


def _write_text(target: Path, text: str, what: str) -> None:
    from .atomic import write_atomic
    from .errors import SpecError

    try:
        write_atomic(target, text)
    except OSError as exc:
        raise SpecError(f"{target}: cannot write the {what}: {exc.strerror or exc}") from None


def _check_figure(path: Path) -> None:
    from .plots import check_figure_path

    check_figure_path(path)


def _check_output(path: Path) -> None:
    from .errors import SpecError

    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise SpecError(f"{path}: folder {folder} does not exist")
    if path.is_dir():
        raise SpecError(f"{path}: is a directory, expected a file")
    if path.suffix.lower() == ".csv":
        raise SpecError(f"{path}: -o names the JSON file (the CSV goes next to it, same stem)")


def _is_certificate(path: Path) -> bool:
    return path.suffix.lower() == ".json"


def _load_game(path: Path, overrides, samples=None, seed=None):
    from .spec import load_game

    return load_game(path, list(overrides), samples=samples, seed=seed)


# ------------------------------------------------------------------------------- band
@click.command()
@click.argument("source", type=_PATH, metavar="GAME.yaml|CERT.json")
@click.option("-o", "--output", type=_PATH, default=Path("band.png"), show_default=True,
              help="Figure file (.png, .svg or .pdf).")
@click.option("--alpha", type=float, default=0.0, show_default=True,
              help="Margin at which the band {w : C(w, alpha) > 0} is drawn.")
@click.option("--set", "overrides", multiple=True, metavar="NAME=VALUE", help="Override a parameter (GAME.yaml only).")
@click.option("--game", "game_path", type=_PATH,
              help="With CERT.json: the game spec file (Python hooks resolve next to it).")
@click.option("--json", "as_json", is_flag=True, help="Print the plotted numbers as JSON on stdout.")
def band(source, output, alpha, overrides, game_path, as_json):
    """Plot the timescale band of GAME.yaml or CERT.json.

    Two players: the SGN margin alpha_*(r) over the weight ratio r = w2/w1 (log axis), the
    band (r_-, r_+) where C(w, alpha) > 0 shaded, the margin-optimal ratio marked and, for
    exact (affine) games, the true weighted margin alpha_true(r). More players: the interval
    of w_j/w_i for every pair, with the chosen weights' ratios marked.
    """
    _check_figure(output)
    _setup()
    from .errors import SpecError
    from .plots import band_data, band_figure

    J = block_sizes = band_pairs = None
    if _is_certificate(source):
        if overrides:
            raise SpecError("--set applies to GAME.yaml, not to a certificate")
        from .verify import load_certificate

        doc = load_certificate(source)
        mu, L = doc["constants"]["mu"], doc["constants"]["L"]
        weights = doc["metric"]["weights"]
        names = [p["name"] for p in doc["game"]["players"]]
        title = doc["game"]["name"]
        note = None
        if doc["game"].get("affine") and len(mu) == 2:
            try:
                from .constants import value_and_jacobian
                from .plots import game_from_certificate

                game = game_from_certificate(doc, game_path.parent if game_path else source.parent)
                _, J = value_and_jacobian(game, doc["region"]["center"])
                block_sizes = game.block_sizes
            except SpecError as exc:
                note = f"alpha_true(r) not drawn: {exc}"
        if len(mu) > 2 and alpha == 0.0 and doc.get("band_alpha", 0.0) == 0.0:
            band_pairs = [{**b, "high": math.inf if b["high"] is None else b["high"]} for b in doc["band"]]
    else:
        from .certify import certify

        game = _load_game(source, overrides)
        from .cli import Progress

        with Progress() as progress:
            c = certify(game, progress=progress)
        mu, L, weights = c.constants.mu, c.constants.L, c.weights
        names, title, note = [p.name for p in game.players], game.name, None
        if game.affine and game.n_players == 2:
            from .constants import value_and_jacobian

            _, J = value_and_jacobian(game, c.center)
            block_sizes = game.block_sizes
        if game.n_players > 2 and alpha == 0.0:
            band_pairs = c.band
    data = band_data(mu, L, alpha=alpha, weights=weights, J=J, block_sizes=block_sizes, names=names,
                     band=band_pairs, title=title)
    fig, data = band_figure(data)
    _save(fig, output)
    if as_json:
        from .certificate import jsonable

        click.echo(json.dumps(jsonable(data), sort_keys=True, indent=2))
        return
    from .cli import _console

    console = _console()
    if data["n_players"] == 2:
        b = data["band"]
        high = "inf" if b is None or b["high"] == math.inf else format(b["high"], ".7g")
        band_text = "empty" if b is None else f"({b['low']:.6g}, {high})"
        console.print(f"band of w2/w1 at alpha = {alpha:g}: {band_text}; optimum r* = {data['r_opt']:.6g} "
                      f"(alpha_* = {data['alpha_opt']:.6g})")
    else:
        from rich.table import Table

        t = Table(title=f"timescale bands at alpha = {alpha:g}")
        for col in ("pair", "low", "high", "chosen", "verified"):
            t.add_column(col)
        for p in data["pairs"]:
            t.add_row(f"w_{names[p['j']]}/w_{names[p['i']]}", f"{p['low']:.6g}",
                      "inf" if p["high"] == math.inf else f"{p['high']:.6g}", f"{p['chosen']:.6g}",
                      "yes" if p["verified"] else "no")
        console.print(t)
    if note:
        console.print(note)
    console.print(f"figure written to {output}")


# ------------------------------------------------------------------------------ sweep
def _boundary_text(doc: dict) -> list[str]:
    if "boundaries" not in doc:
        return []
    name = doc["params"][0]["name"]
    out = []
    for label, key in (("Euclidean", "euclidean"), ("SGN", "sgn")):
        b = doc["boundaries"][key]
        if b["last_certified"] is None:
            out.append(f"{label}: certifies no grid point")
        else:
            nxt = f" (fails at {name} = {b['first_failure']:.6g})" if b["first_failure"] is not None else ""
            out.append(f"{label}: certifies up to {name} = {b['last_certified']:.6g}{nxt}")
    return out


def _rows_table(doc: dict, limit: int = 25):
    from rich.table import Table

    names = [p["name"] for p in doc["params"]]
    rows = doc["rows"]
    keep = list(range(len(rows)))
    if len(rows) > limit:  # every k-th row plus the rows around a change of verdict
        step = math.ceil(len(rows) / limit)
        keep = set(range(0, len(rows), step)) | {len(rows) - 1}
        for k in range(1, len(rows)):
            for key in ("certified", "euclidean_certified"):
                if rows[k].get(key) != rows[k - 1].get(key):
                    keep |= {k - 1, k}
        keep = sorted(keep)
    shown = f" ({len(keep)} shown)" if len(keep) < len(rows) else ""
    t = Table(title=f"{doc['game']['name']}: {len(rows)} grid points{shown}")
    for col in names + ["SGN", "Euclid. gamma", "SGN alpha", "alpha_true", "beta", "Euler max", "RK4 max"]:
        t.add_column(col, justify="right")

    def f(v):
        return "-" if v is None else f"{v:.4g}"

    for k in keep:
        r = rows[k]
        verdict = "[green]yes[/]" if r["certified"] else ("[magenta]error[/]" if r.get("error") else "[red]no[/]")
        t.add_row(*[f"{r[n]:.6g}" for n in names], verdict, f(r.get("euclidean_margin")), f(r.get("sgn_margin")),
                  f(r.get("alpha_true")), f(r.get("beta")), f(r.get("euler_max")), f(r.get("rk4_max")))
    return t



@click.command()
@click.argument("game", type=_PATH, metavar="GAME.yaml")
@click.option("--param", "params", multiple=True, required=True, metavar="NAME=START:STOP:NUM",
              help="Swept parameter: NUM equally spaced values from START to STOP inclusive (repeatable: grid).")
@click.option("-o", "--output", type=_PATH, default=Path("sweep.json"), show_default=True,
              help="Sweep JSON file; the CSV is written next to it (same stem, .csv).")
@click.option("--plot", "plot_path", type=_PATH, help="Also draw the margins against the parameter (.png/.svg/.pdf).")
@click.option("--set", "overrides", multiple=True, metavar="NAME=VALUE", help="Override a fixed parameter.")
@click.option("--samples", type=click.IntRange(1, 10_000_000), help="Number of sample points (non-affine games).")
@click.option("--seed", type=click.IntRange(0), help="Sampling seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the sweep JSON on stdout instead of the table.")
@click.option("--tight", is_flag=True, help="Also the largest proved steps over the scalar metric family per point.")
def sweep(game, params, output, plot_path, overrides, samples, seed, as_json, tight):
    """Certify GAME.yaml over a grid of parameter values.

    Writes a JSON document (kind sgncert.sweep: one row per grid point with the parameter
    values, certified, Euclidean margin, SGN margin, alpha_true for exact games, beta and
    the certified steps) and the same rows as CSV. Exit 0 when the sweep ran, whatever the
    verdicts; 2 on bad input.
    """
    _check_output(output)
    if plot_path is not None:
        _check_figure(plot_path)
    _setup()
    from .sweep import _as_ranges, check_ranges, dumps_sweep, rows_to_csv, run_sweep

    ranges = _as_ranges(params)
    g = _load_game(game, overrides, samples=samples, seed=seed)
    check_ranges(g, ranges)
    if plot_path is not None and len(ranges) > 2:
        from .errors import SpecError

        raise SpecError(f"--plot needs 1 or 2 swept parameters, got {len(ranges)}")
    from .cli import Progress

    with Progress() as progress:
        doc = run_sweep(g, ranges, progress=progress, tight=tight)
    text = dumps_sweep(doc)
    _write_text(output, text, "sweep")
    csv_path = output.with_suffix(".csv")
    _write_text(csv_path, rows_to_csv(doc["rows"]), "CSV")
    if plot_path is not None:
        from .plots import sweep_figure

        fig, _ = sweep_figure(doc)
        _save(fig, plot_path)
    if as_json:
        click.echo(text, nl=False)
        return
    from .cli import _console

    console = _console()
    console.print(_rows_table(doc))
    for line in _boundary_text(doc):
        console.print(line)
    failed = sum(1 for r in doc["rows"] if r.get("error"))
    if failed:
        console.print(f"{failed} point(s) failed numerically (rows with an 'error' field)")
    console.print(f"sweep written to {output} and {csv_path}" + (f", figure to {plot_path}" if plot_path else ""))


# ------------------------------------------------------------------------------- plot
@click.group()
def plot():
    """Figures: step-size phase diagrams and flow trajectories."""


@plot.command()
@click.argument("game", type=_PATH, metavar="GAME.yaml")
@click.option("--param", "param", required=True, metavar="NAME=START:STOP:NUM",
              help="Parameter on the horizontal axis (NUM values from START to STOP inclusive).")
@click.option("-o", "--output", type=_PATH, default=Path("phase.png"), show_default=True, help="Figure file.")
@click.option("--h-max", type=float,
              help="Largest step size drawn [default: 1.25 x the largest finite true threshold].")
@click.option("--h-points", type=click.IntRange(16, 4000), default=241, show_default=True,
              help="Step sizes on the grid.")
@click.option("--set", "overrides", multiple=True, metavar="NAME=VALUE", help="Override a fixed parameter.")
@click.option("--tight", is_flag=True, help="Overlay the largest proved steps over the scalar metric family.")
def phase(game, param, output, h_max, h_points, overrides, tight):
    """Step-size phase diagram of an affine GAME.yaml.

    The spectral radius of the Euler map I - hH and the RK4 map P(-hH) over (parameter, h),
    with the certified SGN steps (Euler 2 alpha/beta^2, RK4 c4 alpha/beta^2), the exact
    contraction thresholds in M(w) and the true stability thresholds.
    """
    _check_figure(output)
    _setup()
    from .cli import Progress, _console
    from .plots import phase_data, phase_figure
    from .sweep import check_ranges, parse_param_range

    prange = parse_param_range(param)
    g = _load_game(game, overrides)
    check_ranges(g, [prange])
    with Progress() as progress:
        data = phase_data(g, prange, n_h=h_points, h_max=h_max, progress=progress, tight=tight)
    fig, data = phase_figure(data)
    _save(fig, output)
    _console().print(f"figure written to {output}")


@plot.command()
@click.argument("cert", type=_PATH, metavar="CERT.json")
@click.option("-o", "--output", type=_PATH, default=Path("flow.png"), show_default=True, help="Figure file.")
@click.option("--starts", type=click.IntRange(1, 256), default=8, show_default=True, help="Number of trajectories.")
@click.option("--time", "t_max", type=float, help="Time horizon [default: 5/alpha].")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seed of the random start directions (d > 2).")
@click.option("--game", "game_path", type=_PATH,
              help="The game spec file (Python hooks and data files resolve next to it) [default: next to CERT.json].")
def flow(cert, output, starts, t_max, seed, game_path):
    """Trajectories of the flow x' = -F(x) of a certified game.

    Distances to the equilibrium in the Euclidean norm and in the certified M(w)-norm,
    relative to the start, against time with the certified bound exp(-alpha t): the
    Euclidean distance may grow (the trajectory escapes the ball) while the M-distance
    contracts (it is trapped in the ellipse). For 2-D games also the phase portrait with
    the invariant M-ellipse; larger games are projected on the first coordinate of each of
    the first two players.
    """
    _check_figure(output)
    _setup()
    from .cli import _console
    from .plots import flow_data, flow_figure
    from .verify import load_certificate

    doc = load_certificate(cert)
    base = game_path.parent if game_path else cert.parent
    data = flow_data(doc, base, starts=starts, seed=seed, t_max=t_max)
    fig, data = flow_figure(data)
    _save(fig, output)
    console = _console()
    console.print(f"max ||x(t)-x*||_2 / ||x(0)-x*||_2 = {data['max_euclidean_ratio']:.4g}; "
                  f"max ||x(t)-x*||_M / ||x(0)-x*||_M = {data['max_m_ratio']:.4g}")
    console.print(f"figure written to {output}")
