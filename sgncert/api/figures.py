"""The figures of the command line, for Python: each takes what you have (a result, a
certificate dict or path, a game, sweep rows) and returns a matplotlib figure.

The numbers each figure draws are in ``figure.sgncert_data`` (the same dict the command
line's ``--json`` prints).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..analysis.constants import value_and_jacobian
from ..analysis.sweep import ParamRange, check_ranges, parse_param_range
from ..cert.load import load_certificate
from ..cert.rebuild import game_from_certificate
from ..errors import SpecError
from ..games.model import Game
from ..util.jaxenv import float64
from .result import Result
from .run import Rows, _game

__all__ = ["plot_band", "plot_flow", "plot_sweep", "plot_phase", "band_inputs"]

Source = Result | Mapping[str, Any] | str | Path


def _document(source: Source, what: str) -> tuple[dict[str, Any], Game | None, Path]:
    """(certificate document, the game when at hand, the folder hooks resolve against)."""
    if isinstance(source, Result):
        return source.to_dict(), source.game, Path(".")
    if isinstance(source, (str, Path)):
        return load_certificate(source), None, Path(source).parent
    if isinstance(source, Mapping):
        return dict(source), None, Path(".")
    raise SpecError(f"{what}: expected a Result, a certificate dict or a path, got {type(source).__name__}")


def _attach(fig: Any, data: dict[str, Any]) -> Any:
    fig.sgncert_data = data
    return fig


@float64
def band_inputs(
    doc: Mapping[str, Any], game: Game | None, base_dir: Path, alpha: float = 0.0
) -> tuple[dict, str | None]:
    """The keyword arguments of :func:`sgncert.plots.band_data` from a certificate (the exact
    game's Jacobian for alpha_true(r) when N = 2 and the game can be had), and a note when
    that curve is left out."""
    mu, L = doc["constants"]["mu"], doc["constants"]["L"]
    kwargs: dict[str, Any] = {
        "mu": mu,
        "L": L,
        "alpha": alpha,
        "weights": doc["metric"]["weights"],
        "names": [p["name"] for p in doc["game"]["players"]],
        "title": doc["game"]["name"],
    }
    note = None
    if doc["game"].get("affine") and len(mu) == 2:
        try:
            g = game if game is not None else game_from_certificate(dict(doc), base_dir)
            _, kwargs["J"] = value_and_jacobian(g, doc["region"]["center"])
            kwargs["block_sizes"] = g.block_sizes
        except SpecError as exc:
            note = f"alpha_true(r) not drawn: {exc}"
    if len(mu) > 2 and alpha == 0.0 and doc.get("band_alpha", 0.0) == 0.0:
        kwargs["band"] = [{**b, "high": math.inf if b["high"] is None else b["high"]} for b in doc["band"]]
    return kwargs, note


def plot_band(source: Source, *, alpha: float = 0.0) -> Any:
    """The timescale band figure (w_j / w_i with C(w, alpha) > 0) of a certificate.

    Example:
        >>> fig = plot_band(result)     # doctest: +SKIP
        >>> fig.sgncert_data["band"]    # doctest: +SKIP
    """
    from ..plots.band import band_data, band_figure

    doc, game, base = _document(source, "plot_band")
    kwargs, note = band_inputs(doc, game, base, alpha)
    fig, data = band_figure(band_data(**kwargs))
    if note:
        data["note"] = note
    return _attach(fig, data)


def plot_flow(
    source: Source, *, starts: int = 8, seed: int = 0, t_max: float | None = None, game: Game | None = None
) -> Any:
    """Trajectories of the certified dynamics and their distances to the equilibrium
    (``sgncert plot flow``). ``game``: the game, when the certificate's was built in memory."""
    from ..plots.flow import flow_data, flow_figure

    doc, own, base = _document(source, "plot_flow")
    fig, data = flow_figure(flow_data(doc, base, starts=starts, seed=seed, t_max=t_max, game=game or own))
    return _attach(fig, data)


def plot_sweep(rows: Rows | Mapping[str, Any]) -> Any:
    """Margins against the swept parameter (one parameter) or a heatmap (two): the rows of
    :func:`sgncert.sweep` or a sweep document."""
    from ..plots.sweep import sweep_figure

    doc = rows.doc if isinstance(rows, Rows) else rows
    if not isinstance(doc, Mapping) or "rows" not in doc:
        raise SpecError("plot_sweep: expected the rows of sgncert.sweep or a sweep document")
    fig, data = sweep_figure(dict(doc))
    return _attach(fig, data)


def plot_phase(
    game: Game | str | Path,
    param: str | tuple[str, float, float, int],
    *,
    points: int = 241,
    h_max: float | None = None,
    tight: bool = False,
) -> Any:
    """Step-size phase diagram of an affine game (``sgncert plot phase``); ``param`` is
    ``"lam=0:2:41"`` or ``("lam", 0.0, 2.0, 41)``."""
    from ..plots.phase import phase_data, phase_figure

    g = _game(game)
    prange = (
        parse_param_range(param)
        if isinstance(param, str)
        else ParamRange(str(param[0]), float(param[1]), float(param[2]), int(param[3]))
    )
    check_ranges(g, [prange])
    fig, data = phase_figure(phase_data(g, prange, n_h=points, h_max=h_max, tight=tight))
    return _attach(fig, data)
