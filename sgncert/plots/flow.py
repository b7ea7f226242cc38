"""The flow figure: trajectories of ``x' = -F(x)`` in the Euclidean and the ``M(w)`` norm
against ``exp(-alpha t)`` (docs/theory.md §3, §10); for 2-D games the phase portrait with
the ``M``-ellipse (a projection for larger games). Integration is
:func:`sgncert.analysis.simulate.flow_trajectories`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..analysis.constants import value_and_jacobian, weight_scaling
from ..analysis.equilibrium import solve_equilibrium
from ..analysis.simulate import batched_field, flow_trajectories
from ..cert.rebuild import game_from_certificate
from ..errors import NumericalError, SpecError
from ..util.jaxenv import float64
from .style import C_EUCLID, C_MARK, C_SGN, fmt, new_figure, style_context

STEP_SCALE = 0.05  # RK4 step h = STEP_SCALE / ||J(x*)||_2: |P(-hJ) - exp(-hJ)| ~ (h||J||)^5/120 ~ 3e-9 per step


@float64
def flow_data(
    doc: dict, base_dir: str | Path = ".", *, starts: int = 8, seed: int = 0, t_max: float | None = None, game=None
) -> dict:
    """Trajectories of the flow ``x' = -F(x)`` from a certificate.

    Starts lie on the boundary of the largest ``M(w)``-ball around the equilibrium inside
    the region (the certificate's invariant ball): the first in the direction where the
    Euclidean norm grows fastest (the eigenvector of ``lambda_min(sym J(x*))``), the others
    evenly spaced (d = 2) or seeded random directions. Integration: classical RK4 with
    steps ``0.05 / ||J(x*)||_2`` (jit + vmap over the starts).
    """
    if not isinstance(starts, int) or not 1 <= starts <= 256:
        raise SpecError(f"--starts must be an integer in [1, 256], got {starts!r}")
    if game is None:
        game = game_from_certificate(doc, base_dir)
    w = np.asarray(doc["metric"]["weights"], dtype=np.float64)
    s = weight_scaling(game, w)
    center = np.asarray(doc["region"]["center"], dtype=np.float64)
    F_c, J_c = value_and_jacobian(game, center)
    x_star, x_star_source = center, "region centre"
    if float(np.linalg.norm(F_c)) > 1e-9 * (1.0 + float(np.linalg.norm(J_c))):
        import dataclasses

        eq = solve_equilibrium(dataclasses.replace(game, region=game.region.with_center(center)))
        x_star, x_star_source = eq.x, f"solved ({eq.method})"
    _, J = value_and_jacobian(game, x_star)
    alpha = float(doc["sgn"]["margin"]) if doc["certified"] else None
    ball = doc.get("invariant_ball") or {}
    radius_M = ball.get("radius_M") if isinstance(ball, dict) else None
    if not radius_M:
        radius_M = float(doc["region"]["radius"]) * math.sqrt(float(np.min(w)))
    d = game.dim
    # directions in the scaled coordinates v = S (x - x*), ||v||_2 = radius_M
    gamma_vals, gamma_vecs = np.linalg.eigh(0.5 * (J + J.T))
    e = gamma_vecs[:, 0]
    dirs = [s * e]
    if d == 2:
        base = math.atan2(dirs[0][1], dirs[0][0])
        dirs += [
            np.array([math.cos(base + 2 * math.pi * k / starts), math.sin(base + 2 * math.pi * k / starts)])
            for k in range(1, starts)
        ]
    else:
        rng = np.random.default_rng(seed)
        dirs += list(rng.standard_normal((starts - 1, d)))
    V = np.array([v / np.linalg.norm(v) * radius_M for v in dirs[:starts]])
    X0 = x_star + V / s
    norm_J = float(np.linalg.norm(J, 2)) or 1.0
    if t_max is None:
        t_max = 5.0 / alpha if alpha and alpha > 0 else 10.0 / max(float(np.min(doc["constants"]["mu"])), 0.1)
        t_max = float(min(t_max, 1e4))
    if not (t_max > 0 and math.isfinite(t_max)):
        raise SpecError(f"--time must be positive and finite, got {t_max!r}")
    n_blocks = 400
    steps_needed = max(n_blocks, math.ceil(t_max * norm_J / STEP_SCALE))
    stride = min(max(1, math.ceil(steps_needed / n_blocks)), 250)
    dt = t_max / (n_blocks * stride)
    traj = flow_trajectories(game.pseudo_gradient, game.jax_params(), X0, dt, n_blocks, stride)
    if not np.all(np.isfinite(traj)):
        raise NumericalError("the simulated flow left the finite range (the game may not be stable there)")
    t = np.arange(n_blocks + 1) * dt * stride
    diff = traj - x_star[None, None, :]
    e_norm = np.linalg.norm(diff, axis=2)
    m_norm = np.linalg.norm(diff * s[None, None, :], axis=2)
    e_ratio = e_norm / e_norm[:, :1]
    m_ratio = m_norm / m_norm[:, :1]
    players = game.players
    flat = False
    if d == 1:  # a one-dimensional state: the line, drawn as the plane's first axis
        plane, flat = "state", True
        labels = [players[0].name, "(one-dimensional state)"]
        path = np.stack([traj[:, :, 0], np.zeros(traj.shape[:2])], axis=2)
        s_pair = (s[0], s[0])
        origin = np.array([x_star[0], 0.0])
    elif d == 2 or len(players) < 2:  # the state plane (the first two coordinates of a one-player game)
        plane = "state"
        labels = [players[0].name, players[1].name] if len(players) == 2 else ["x[0]", "x[1]"]
        path = traj[:, :, :2]
        s_pair = (s[0], s[1])
        origin = x_star[:2]
    else:  # per-player distances: ||x||_M^2 = sum_i w_i ||x_i||^2, exact for two players
        plane = "player_norms"
        p1, p2 = players[0], players[1]
        labels = [f"$\\|{p1.name} - {p1.name}^*\\|_2$", f"$\\|{p2.name} - {p2.name}^*\\|_2$"]
        path = np.stack(
            [np.linalg.norm(diff[:, :, p1.slice], axis=2), np.linalg.norm(diff[:, :, p2.slice], axis=2)], axis=2
        )
        s_pair = (s[p1.offset], s[p2.offset])
        origin = np.zeros(2)
    data = {
        "game": game.name,
        "dim": d,
        "n_players": len(players),
        "t": t.tolist(),
        "alpha": alpha,
        "certified": bool(doc["certified"]),
        "weights": w.tolist(),
        "radius_M": float(radius_M),
        "x_star": x_star.tolist(),
        "x_star_source": x_star_source,
        "gamma_center": float(gamma_vals[0]),
        "euclidean_ratio": e_ratio.tolist(),
        "m_ratio": m_ratio.tolist(),
        "max_euclidean_ratio": float(np.max(e_ratio)),
        "max_m_ratio": float(np.max(m_ratio)),
        "plane": plane,
        "plane_labels": labels,
        "plane_origin": [float(origin[0]), float(origin[1])],
        "path": path.tolist(),
        "ball_radius": float(np.linalg.norm(X0[0] - x_star)),
        "ellipse_axes": [float(radius_M / s_pair[0]), 0.0 if flat else float(radius_M / s_pair[1])],
        "region": {"radius": float(doc["region"]["radius"]), "norm": doc["region"]["norm"]},
        "stream": None,
    }
    if d == 2:
        data["stream"] = _stream_field(game, data)
    return data


def _window(data, aspect: float):
    """Axis limits around the ellipse and the trajectories, height/width = ``aspect`` in data units."""
    c = np.asarray(data["plane_origin"])
    a, b = data["ellipse_axes"]
    path = np.asarray(data["path"])
    ext_x = max(a, float(np.max(np.abs(path[:, :, 0] - c[0]))))
    ext_y = max(b, float(np.max(np.abs(path[:, :, 1] - c[1]))))
    if data["plane"] == "player_norms":  # one quadrant
        w = 1.08 * max(ext_x, ext_y / aspect)
        return (0.0, w), (0.0, w * aspect)
    half_w = 1.15 * max(ext_x, ext_y / aspect)
    half_h = half_w * aspect
    return (c[0] - half_w, c[0] + half_w), (c[1] - half_h, c[1] + half_h)


PORTRAIT_ASPECT = 0.62  # height / width of the phase-portrait axes (data units, equal scale)


def _stream_field(game, data, n: int = 41) -> dict:
    (x0, x1), (y0, y1) = _window(data, PORTRAIT_ASPECT)
    gx, gy = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    X, Y = np.meshgrid(gx, gy)
    pts = np.stack([X.ravel(), Y.ravel()], axis=1)
    Fv = -batched_field(game)(pts)
    return {
        "x": gx.tolist(),
        "y": gy.tolist(),
        "u": Fv[:, 0].reshape(n, n).tolist(),
        "v": Fv[:, 1].reshape(n, n).tolist(),
        "xlim": [x0, x1],
        "ylim": [y0, y1],
    }


def flow_figure(data: dict):
    """Norm ratios against time, and the (projected) phase portrait; returns (fig, data)."""
    from matplotlib.patches import Circle, Ellipse

    fig, axes = new_figure(11.0, 4.9, ncols=2, width_ratios=[1.0, 1.15])
    t = np.asarray(data["t"])
    er, mr = np.asarray(data["euclidean_ratio"]), np.asarray(data["m_ratio"])
    with style_context():
        ax = axes[0, 0]
        for k in range(er.shape[0]):
            ax.plot(
                t,
                er[k],
                color=C_EUCLID,
                lw=2.0 if k == 0 else 1.0,
                alpha=1.0 if k == 0 else 0.55,
                label=r"Euclidean $\|x(t)-x^*\|_2/\|x(0)-x^*\|_2$" if k == 0 else None,
            )
        for k in range(mr.shape[0]):
            ax.plot(
                t,
                mr[k],
                color=C_SGN,
                lw=2.0 if k == 0 else 1.0,
                alpha=1.0 if k == 0 else 0.55,
                label=r"metric $\|x(t)-x^*\|_M/\|x(0)-x^*\|_M$" if k == 0 else None,
            )
        if data["alpha"]:
            ax.plot(
                t,
                np.exp(-data["alpha"] * t),
                color="black",
                ls="--",
                lw=1.6,
                label=f"certified bound $e^{{-\\alpha t}}$, $\\alpha$ = {fmt(data['alpha'])}",
            )
        ax.axhline(1.0, color="black", lw=0.8, ls=":")
        ax.set_yscale("log")
        floor = max(float(np.min(np.concatenate([er.ravel(), mr.ravel()]))), 1e-8)
        ax.set_ylim(floor * 0.7, max(1.5, data["max_euclidean_ratio"] * 1.6))
        ax.set_xlim(0, t[-1])
        ax.set_xlabel("time t  (flow time units)")
        ax.set_ylabel("distance to $x^*$ relative to the start (log)")
        where = "the invariant $M(w)$-sphere" if data["certified"] else "an $M(w)$-sphere (not certified)"
        ax.set_title(f"Flow $x' = -F(x)$: {er.shape[0]} starts on {where}")
        ax.legend(loc="lower left")
        if data["max_euclidean_ratio"] > 1.01:
            k = int(np.argmax(np.max(er, axis=1)))
            i = int(np.argmax(er[k]))
            ax.annotate(
                f"escapes the Euclidean ball (×{data['max_euclidean_ratio']:.3g})",
                xy=(t[i], er[k, i]),
                xytext=(0.35, 0.93),
                textcoords="axes fraction",
                fontsize=8,
                color=C_EUCLID,
                arrowprops={"arrowstyle": "->", "color": C_EUCLID},
            )

        ax = axes[0, 1]
        c = tuple(data["plane_origin"])
        path = np.asarray(data["path"])
        if data["stream"] is not None:
            st = data["stream"]
            ax.streamplot(
                np.asarray(st["x"]),
                np.asarray(st["y"]),
                np.asarray(st["u"]),
                np.asarray(st["v"]),
                color="#a0a0a0",
                density=1.1,
                linewidth=0.7,
                arrowsize=0.8,
                broken_streamlines=True,
            )
            xlim, ylim = st["xlim"], st["ylim"]
        else:
            xlim, ylim = _window(data, PORTRAIT_ASPECT)
        a, b = data["ellipse_axes"]
        ax.add_patch(Ellipse(c, 2 * a, 2 * b, fill=True, fc=C_SGN, alpha=0.08, lw=0))
        kind = "invariant $M(w)$-ellipse" if data["certified"] else "$M(w)$-ellipse"
        ax.add_patch(
            Ellipse(
                c,
                2 * a,
                2 * b,
                fill=False,
                ec=C_SGN,
                lw=2.0,
                label=f"{kind}, $w$ = ({', '.join(fmt(v) for v in data['weights'])})",
            )
        )
        r = data["ball_radius"]
        ax.add_patch(
            Circle(
                c,
                r,
                fill=False,
                ec=C_EUCLID,
                lw=1.6,
                ls="--",
                label=f"Euclidean ball through the worst start (r = {fmt(r)})",
            )
        )
        for k in range(path.shape[0] - 1, -1, -1):
            ax.plot(
                path[k, :, 0],
                path[k, :, 1],
                color=C_EUCLID if k == 0 else C_SGN,
                lw=2.0 if k == 0 else 1.0,
                alpha=1.0 if k == 0 else 0.8,
                zorder=4 if k == 0 else 3,
                label=("trajectory from the worst start" if k == 0 else ("other trajectories" if k == 1 else None)),
            )
            ax.plot(
                path[k, 0, 0],
                path[k, 0, 1],
                "o",
                ms=3.5,
                color="black",
                zorder=5,
                label="starts" if k == 0 else None,
                clip_on=False,
            )
        ax.plot(
            [c[0]],
            [c[1]],
            marker="*",
            ms=12,
            color=C_MARK,
            mec="black",
            ls="none",
            zorder=6,
            label="equilibrium $x^*$",
            clip_on=False,
        )
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.set_aspect("equal", adjustable="box")
        px, py = data["plane_labels"]
        ax.set_xlabel(px)
        ax.set_ylabel(py)
        story = ": escapes the ball, trapped in the ellipse" if data["certified"] else " (not certified)"
        if data["plane"] == "state":
            ax.set_title("Phase portrait" + story)
        else:
            ax.set_title("Distance per player" + story)
            which = "" if data["n_players"] == 2 else f", first two of {data['n_players']} players"
            ax.set_xlabel(f"{px}   ({data['dim']}-D flow{which})")
        ax.legend(loc="upper right", fontsize=7.5)
        fig.suptitle(
            f"{data['game']}: "
            + ("certified" if data["certified"] else "NOT certified")
            + f", Euclidean margin at $x^*$: $\\lambda_{{\\min}}(\\mathrm{{sym}}\\,J)$ = {fmt(data['gamma_center'])}"
        )
    return fig, data
