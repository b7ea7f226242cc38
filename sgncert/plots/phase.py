"""The step-size phase diagram of an affine game: spectral radius of the Euler and RK4 maps
over (parameter, h) with the certified SGN steps and the true thresholds (docs/theory.md §7)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..analysis.constants import value_and_jacobian
from ..analysis.sweep import parse_param_range, run_sweep
from ..errors import SpecError
from ..games.spec import with_params
from ..theory.thresholds import rk4_polynomial
from ..util.jaxenv import float64
from .style import C_BAND, C_MARK, C_SGN, C_TIGHT, finite_or_nan, new_figure, style_context


@float64
def phase_data(
    game,
    prange,
    *,
    n_h: int = 241,
    h_max: float | None = None,
    tight: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict:
    """Spectral radii of the Euler and RK4 maps of an affine game over (parameter, h).

    ``prange``: a :class:`sgncert.analysis.sweep.ParamRange` (or ``"name=start:stop:num"``). The
    eigenvalues of H = J are computed once per parameter value; the radii are
    ``max |1 - h lambda|`` and ``max |P(-h lambda)|`` over the eigenvalues, for every h at
    once. Certified steps and the exact thresholds come from :func:`sgncert.analysis.sweep.run_sweep`.
    """
    if isinstance(prange, str):
        prange = parse_param_range(prange)
    if game.constrained:
        raise SpecError(
            f"{game.source or game.name}: plot phase draws the unprojected Euler and RK4 maps; for a constrained "
            "game only projected Euler is certified (use plot flow)"
        )
    if not game.affine:
        raise SpecError(
            f"{game.source or game.name}: plot phase needs an affine game (constant Jacobian); "
            "this game's constants are sampled"
        )
    sweep = run_sweep(game, [prange], progress=progress, tight=tight)
    rows = sweep["rows"]
    x0 = game.region.center if game.region.center is not None else np.zeros(game.dim)
    eigs = []
    for v in prange.values:
        _, J = value_and_jacobian(with_params(game, {prange.name: v}), x0)
        eigs.append(np.linalg.eigvals(J))
    lam = np.array(eigs)  # (n_param, d)
    stab = [r.get("rk4_stability") for r in rows] + [r.get("euler_stability") for r in rows]
    finite = [s for s in stab if s is not None and s > 0 and math.isfinite(s)]
    if h_max is None:
        if finite:
            h_max = 1.25 * max(finite)
        else:
            rho = float(np.max(np.abs(lam))) or 1.0
            h_max = 3.0 / rho
    if not (h_max > 0 and math.isfinite(h_max)):
        raise SpecError(f"--h-max must be positive and finite, got {h_max!r}")
    h = np.linspace(0.0, h_max, n_h)
    z = -h[None, :, None] * lam[:, None, :]  # (n_param, n_h, d)
    euler_rho = np.max(np.abs(1.0 + z), axis=2)
    rk4_rho = np.max(np.abs(rk4_polynomial(z)), axis=2)
    col = {
        k: [r.get(k) for r in rows]
        for k in (
            "euler_max",
            "rk4_max",
            "euler_stability",
            "rk4_stability",
            "euler_contraction",
            "rk4_contraction",
            "tight_euler",
            "tight_rk4",
            "certified",
        )
    }
    return {
        "game": game.name,
        "param": prange.name,
        "x": [float(v) for v in prange.values],
        "h": h.tolist(),
        "euler_rho": euler_rho.tolist(),
        "rk4_rho": rk4_rho.tolist(),
        **col,
        "sweep": sweep,
    }


def phase_figure(data: dict):
    """Two heatmaps (Euler, RK4) of the spectral radius over (parameter, h); returns (fig, data)."""
    from matplotlib.lines import Line2D

    x = np.asarray(data["x"])
    h = np.asarray(data["h"])
    fig, axes = new_figure(10.5, 4.6, ncols=2, sharey=True)
    with style_context():
        mesh = None
        for ax, method, key in ((axes[0, 0], "Euler", "euler"), (axes[0, 1], "RK4", "rk4")):
            rho = np.asarray(data[f"{key}_rho"])
            mesh = ax.pcolormesh(
                x, h, np.clip(rho, 0.0, 2.0).T, shading="nearest", cmap="cividis", vmin=0, vmax=2, rasterized=True
            )
            if x.size > 1 and np.min(rho) < 1 < np.max(rho):
                ax.contour(x, h, rho.T, levels=[1.0], colors=["white"], linewidths=1.2)
            stab = finite_or_nan(data[f"{key}_stability"])
            con = finite_or_nan(data[f"{key}_contraction"])
            cert = finite_or_nan(data[f"{key}_max"])
            ax.plot(x, stab, color="black", lw=3.6, zorder=3)
            ax.plot(x, stab, color=C_MARK, lw=2.0, ls="--", zorder=4)
            ax.plot(x, con, color=C_BAND, lw=1.6, ls=":", zorder=4)
            ax.plot(x, cert, color="white", lw=3.8, zorder=5)
            ax.plot(x, cert, color=C_SGN, lw=2.2, zorder=6)
            tight = finite_or_nan(data.get(f"tight_{key}") or [None] * len(x))
            if np.any(np.isfinite(tight)):
                ax.plot(x, tight, color="white", lw=3.4, zorder=5)
                ax.plot(x, tight, color=C_TIGHT, lw=1.8, ls="-.", zorder=6)
            ax.set_ylim(0, h[-1])
            ax.set_xlim(x[0], x[-1]) if x.size > 1 else None
            ax.grid(False)
            ax.set_xlabel(f"parameter {data['param']}")
            ax.set_title(f"{method}: spectral radius of " + ("$I - hH$" if key == "euler" else "$P(-hH)$"))
        axes[0, 0].set_ylabel("step size h  (time units)")
        cb = fig.colorbar(mesh, ax=axes[0, :].tolist(), shrink=0.9)
        cb.set_label(r"spectral radius $\rho(T(h))$  (clipped at 2)")
        cb.ax.axhline(1.0, color="white", lw=1.2)
        handles = [
            Line2D([], [], color="white", lw=1.2, label=r"$\rho = 1$"),
            Line2D([], [], color=C_MARK, lw=2.0, ls="--", path_effects=None, label="true stability threshold (exact)"),
            Line2D([], [], color=C_BAND, lw=1.6, ls=":", label="exact contraction threshold in $M(w)$"),
            Line2D(
                [],
                [],
                color=C_SGN,
                lw=2.2,
                label="certified SGN step (Euler $2\\alpha/\\beta^2$, RK4 $c_4\\alpha/\\beta^2$)",
            ),
        ]
        if any(v is not None for v in (data.get("tight_euler") or [])):
            handles.append(
                Line2D([], [], color=C_TIGHT, lw=1.8, ls="-.", label="tight step (proved, scalar metric family)")
            )
        leg = axes[0, 1].legend(
            handles=handles, loc="upper right", facecolor="#3a3a3a", labelcolor="white", fontsize=7.5
        )
        leg.get_frame().set_alpha(0.9)
        fig.suptitle(f"{data['game']}: step-size phase diagram over {data['param']}")
    return fig, data
