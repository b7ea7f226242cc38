"""The sweep figure: Euclidean vs SGN (vs true) margins against a swept parameter with
both certification boundaries; a heatmap of the SGN margin for two parameters."""

from __future__ import annotations

import numpy as np

from ..analysis.sweep import boundaries
from ..errors import SpecError
from .style import C_EUCLID, C_MARK, C_SGN, C_TRUE, finite_or_nan, fmt, new_figure, style_context


def sweep_figure(doc: dict):
    """Margins against the swept parameter (1 parameter) or a heatmap (2 parameters)."""
    params = doc["params"]
    if len(params) == 1:
        return _sweep_1d(doc)
    if len(params) == 2:
        return _sweep_2d(doc)
    raise SpecError(f"a sweep plot needs 1 or 2 swept parameters, this sweep has {len(params)}")


def _sweep_1d(doc: dict):
    name = doc["params"][0]["name"]
    rows = doc["rows"]
    x = np.array([r[name] for r in rows], dtype=np.float64)
    gamma = finite_or_nan(r.get("euclidean_margin") for r in rows)
    sgn = finite_or_nan(r.get("sgn_margin") for r in rows)
    has_true = any(r.get("alpha_true") is not None for r in rows)
    true = finite_or_nan(r.get("alpha_true") for r in rows) if has_true else None
    bnd = doc.get("boundaries") or boundaries(rows, name)
    data = {
        "param": name,
        "x": x.tolist(),
        "euclidean_margin": gamma.tolist(),
        "sgn_margin": sgn.tolist(),
        "alpha_true": None if true is None else true.tolist(),
        "euclidean_boundary": bnd["euclidean"]["certified_up_to"],
        "sgn_boundary": bnd["sgn"]["certified_up_to"],
        "failed": [r[name] for r in rows if r.get("error")],
    }
    fig, axes = new_figure(7.2, 4.4)
    ax = axes[0, 0]
    with style_context():
        x0 = float(np.min(x)) if x.size else 0.0
        left = x0
        for key, colour, label in (("euclidean_boundary", C_EUCLID, "Euclidean"), ("sgn_boundary", C_SGN, "SGN")):
            v = data[key]
            if v is not None:
                if v > left:  # shade each test's extra reach once (no overlapping tints)
                    ax.axvspan(left, v, color=colour, alpha=0.08, lw=0)
                    left = v
                ax.axvline(v, color=colour, ls=":", lw=1.6, label=f"{label} certifies up to {name} = {fmt(v)}")
        ax.axhline(0.0, color="black", lw=0.9)
        ax.plot(x, gamma, color=C_EUCLID, marker="o", ms=2.5, label=r"Euclidean margin $\gamma$ (Rosen)")
        ax.plot(x, sgn, color=C_SGN, marker="s", ms=2.5, label=r"SGN margin $\alpha_*(w)$, " + _weights_text(rows))
        if true is not None:
            ax.plot(
                x,
                true,
                color=C_TRUE,
                ls="--",
                lw=1.6,
                label=r"true weighted margin $\alpha_{\mathrm{true}}(w)$ (exact)",
            )
        if data["failed"]:
            ax.plot(
                data["failed"],
                [0.0] * len(data["failed"]),
                "x",
                color="black",
                ms=7,
                ls="none",
                label="numerical failure",
            )
        focus = np.concatenate([v[np.isfinite(v)] for v in (sgn, true if true is not None else sgn)] + [[0.0]])
        g_fin = gamma[np.isfinite(gamma)]
        lo = float(np.min(focus))
        hi = max(float(np.max(focus)), float(np.max(g_fin)) if g_fin.size else 0.0)
        span = max(hi - lo, 1e-3)
        ax.set_ylim(lo - 0.3 * span, hi + 0.15 * span)
        if g_fin.size and float(np.min(g_fin)) < lo - 0.3 * span:
            ax.text(
                0.99,
                0.02,
                r"$\gamma$ continues below the axis",
                transform=ax.transAxes,
                ha="right",
                va="bottom",
                color=C_EUCLID,
                fontsize=8,
            )
        if x.size > 1:
            ax.set_xlim(x0, float(np.max(x)))
        ax.set_xlabel(f"parameter {name}")
        ax.set_ylabel(r"margin  (1/time; > 0 certifies)")
        prov = doc.get("game", {}).get("provenance", "")
        ax.set_title(
            f"{doc.get('game', {}).get('name', 'game')}: certification across {name} "
            f"({len(rows)} points, {prov} constants)"
        )
        ax.legend(loc="upper right")
    return fig, data


def _weights_text(rows) -> str:
    """Which weights the SGN margins are at: the Perron (margin-optimal) weights when every
    row's margin equals its optimum tau (to rounding), else the rows' own weights."""
    pairs = [(r.get("sgn_margin"), r.get("tau")) for r in rows]
    pairs = [(float(a), float(t)) for a, t in pairs if a is not None and t is not None]
    if pairs and all(abs(a - t) <= 1e-6 * max(1.0, abs(t)) for a, t in pairs):
        return r"Perron weights ($\alpha_* = \tau$)"
    return "each point's weights"


def _sweep_2d(doc: dict):
    (p1, p2) = doc["params"]
    n1, n2 = p1["num"], p2["num"]
    rows = doc["rows"]
    xs = np.array([r[p1["name"]] for r in rows]).reshape(n1, n2)[:, 0]
    ys = np.array([r[p2["name"]] for r in rows]).reshape(n1, n2)[0, :]
    sgn = finite_or_nan(r.get("sgn_margin") for r in rows).reshape(n1, n2)
    gamma = finite_or_nan(r.get("euclidean_margin") for r in rows).reshape(n1, n2)
    data = {
        "params": [p1["name"], p2["name"]],
        "x": xs.tolist(),
        "y": ys.tolist(),
        "sgn_margin": sgn.tolist(),
        "euclidean_margin": gamma.tolist(),
    }
    fig, axes = new_figure(6.6, 4.8)
    ax = axes[0, 0]
    with style_context():
        mesh = ax.pcolormesh(xs, ys, sgn.T, shading="nearest", cmap="cividis")
        cb = fig.colorbar(mesh, ax=ax)
        cb.set_label(r"SGN margin $\alpha_*(w)$  (1/time)")
        handles = []
        from matplotlib.lines import Line2D

        if n1 > 1 and n2 > 1:
            if np.nanmin(sgn) < 0 < np.nanmax(sgn):
                ax.contour(xs, ys, sgn.T, levels=[0.0], colors=["white"], linewidths=2.0)
                handles.append(Line2D([], [], color="white", lw=2, label=r"SGN boundary $\alpha_*=0$"))
            if np.nanmin(gamma) < 0 < np.nanmax(gamma):
                ax.contour(xs, ys, gamma.T, levels=[0.0], colors=[C_MARK], linewidths=2.0, linestyles="--")
                handles.append(Line2D([], [], color=C_MARK, lw=2, ls="--", label=r"Euclidean boundary $\gamma=0$"))
        if handles:
            leg = ax.legend(handles=handles, loc="upper right", facecolor="#444444", labelcolor="white")
            leg.get_frame().set_alpha(0.85)
        ax.grid(False)
        ax.set_xlabel(f"parameter {p1['name']}")
        ax.set_ylabel(f"parameter {p2['name']}")
        ax.set_title(f"{doc.get('game', {}).get('name', 'game')}: SGN margin over ({p1['name']}, {p2['name']})")
    return fig, data
