"""Figures of the SGN paper from games, certificates and sweeps (issue 5).

Each figure has a ``*_data`` function that computes the numbers it draws (plain floats and
lists, JSON-safe apart from ``inf``) and a ``*_figure`` function that draws them and returns
``(figure, data)``:

- :func:`band_data` / :func:`band_figure`: N = 2, ``alpha_*(r)`` over ``r = w_2/w_1`` (log
  axis) with the band ``(r_-, r_+)`` shaded, the Perron optimum marked and, for exact games,
  ``alpha_true(r)``; N > 2, the interval of ``w_j/w_i`` for every pair with the chosen
  weights' ratios marked.
- :func:`sweep_figure`: Euclidean vs SGN (vs true) margins against a swept parameter with
  both certification boundaries; a heatmap of the SGN margin for two parameters.
- :func:`phase_data` / :func:`phase_figure`: affine games, spectral radius of the Euler and
  RK4 maps over (parameter, h) with the certified SGN steps and the true thresholds.
- :func:`flow_data` / :func:`flow_figure`: trajectories of ``x' = -F(x)`` in the Euclidean
  and the ``M(w)`` norm against ``exp(-alpha t)``; for 2-D games the phase portrait with the
  ``M``-ellipse (a projection for larger games).

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas (no GUI, no pyplot
global state), fixed sizes, dpi and style, and the Okabe-Ito colour-blind-safe palette.
:func:`save_figure` writes them atomically with the software/date metadata removed, so
the same input gives the same bytes. matplotlib is imported lazily.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .errors import SpecError

# Okabe & Ito (2008), colour-blind-safe
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
}
C_EUCLID = OKABE_ITO["vermillion"]  # Euclidean quantities
C_SGN = OKABE_ITO["blue"]           # SGN / M(w) quantities
C_TRUE = OKABE_ITO["green"]         # exact / true quantities
C_BAND = OKABE_ITO["sky"]
C_MARK = OKABE_ITO["orange"]
C_TIGHT = OKABE_ITO["purple"]        # tight (LMI-metric) steps
DPI = 150
STYLE = {
    "font.size": 9.5, "axes.titlesize": 10.5, "axes.labelsize": 10, "legend.fontsize": 8.5,
    "xtick.labelsize": 9, "ytick.labelsize": 9, "axes.grid": True, "grid.alpha": 0.3,
    "grid.linewidth": 0.6, "axes.spines.top": False, "axes.spines.right": False,
    "figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white",
    "lines.linewidth": 1.8, "legend.framealpha": 0.9, "image.cmap": "cividis",
    "svg.hashsalt": "sgncert", "path.simplify": True, "font.family": "DejaVu Sans",
    "mathtext.fontset": "dejavusans", "axes.prop_cycle": None,
}

FORMATS = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
}


# ----------------------------------------------------------------------------- plumbing
def _mpl():
    """Import matplotlib headless (Agg) and return (matplotlib, Figure)."""
    import sys

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:  # never switch the backend of a live pyplot session
        matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return matplotlib, Figure


def _style():
    matplotlib, _ = _mpl()
    from cycler import cycler

    style = dict(STYLE)
    style["axes.prop_cycle"] = cycler(color=[OKABE_ITO[k] for k in
                                             ("blue", "vermillion", "green", "orange", "purple", "sky", "black")])
    return matplotlib.rc_context(style)


def new_figure(width: float, height: float, ncols: int = 1, nrows: int = 1, **kw):
    """A Figure with the sgncert style, constrained layout, and its axes."""
    _, Figure = _mpl()
    with _style():
        fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def check_figure_path(path: str | Path) -> tuple[str, Path]:
    """(format, folder) of a figure file; SpecError for an unknown suffix or a missing folder.

    Cheap (no matplotlib): commands call it before any computation.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".") or "png"
    if fmt not in FORMATS:
        raise SpecError(f"{path}: unsupported figure format '.{fmt}' (use .png, .svg or .pdf)")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise SpecError(f"{path}: folder {folder} does not exist")
    if path.is_dir():
        raise SpecError(f"{path}: is a directory, expected a figure file")
    return fmt, folder


def save_figure(fig, path: str | Path, *, dpi: int = DPI) -> Path:
    """Save ``fig`` atomically (temp file in the target folder, then os.replace).

    The format follows the suffix (``.png`` default, ``.svg``, ``.pdf``); metadata that
    would vary between runs (software version, dates) is left out.
    """
    from .atomic import write_atomic

    path = Path(path)
    fmt, _ = check_figure_path(path)

    def draw(fh):
        with _style():
            fig.savefig(fh, format=fmt, dpi=dpi, metadata=FORMATS[fmt])

    write_atomic(path, draw)
    return path


def _fmt(v: float | None, digits: int = 4) -> str:
    if v is None:
        return "none"
    if math.isinf(v):
        return "∞"
    return f"{v:.{digits}g}"


def _finite_or_nan(values) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


# ------------------------------------------------------------------- games from certificates
def game_from_certificate(doc: dict, base_dir: str | Path = "."):
    """Rebuild the certified game from ``doc["game"]["spec"]``.

    A Python hook is only run when its file (relative to ``base_dir``) still has the
    sha256 recorded in the certificate. Raises SpecError when the game cannot be rebuilt
    or the rebuilt spec does not hash to the certified one.
    """
    import hashlib

    from .spec import game_from_dict

    spec = doc.get("game", {}).get("spec")
    if not isinstance(spec, dict):
        raise SpecError("certificate: game.spec is missing; cannot rebuild the game")
    base_dir = Path(base_dir)
    costs = spec.get("costs")
    if isinstance(costs, dict) and "python" in costs:
        ref, recorded = costs.get("python"), costs.get("sha256")
        rel = str(ref).split(":")[0]
        try:
            digest = hashlib.sha256((base_dir / rel).read_bytes()).hexdigest()
        except OSError as exc:
            raise SpecError(f"certificate: cannot read the hook {base_dir / rel}: {exc.strerror or exc} "
                            "(pass --game GAME.yaml to say where the game lives)") from None
        if digest != recorded:
            raise SpecError(f"certificate: hook {rel} changed since certification (sha256 differs); not running it")
    game = game_from_dict(spec, base_dir, "game.spec")
    if game.sha256 != doc["game"].get("sha256"):
        raise SpecError("certificate: the embedded spec does not rebuild the certified game (sha256 differs)")
    return game


# ------------------------------------------------------------------------------- band
def alpha_true_curve(J: np.ndarray, block_sizes: Sequence[int], ratios: np.ndarray) -> np.ndarray:
    """``alpha_true(1, r) = lambda_min(sym(S J S^-1))``, S = diag(sqrt(w_i) I_{d_i}), for each r."""
    J = np.asarray(J, dtype=np.float64)
    d1 = int(block_sizes[0])
    s = np.ones((ratios.size, J.shape[0]))
    s[:, d1:] = np.sqrt(ratios)[:, None]
    K = s[:, :, None] * J[None] / s[:, None, :]
    return np.linalg.eigvalsh(0.5 * (K + K.transpose(0, 2, 1)))[:, 0]


def _ratio_grid(low: float | None, high: float | None, r_opt: float | None, n: int = 601) -> np.ndarray:
    """Log grid spanning the band with half a decade (at least) of margin on both sides."""
    if low is not None and high is not None and low > 0 and math.isfinite(high):
        lo, hi = math.log10(low), math.log10(high)
        pad = max(0.5, 0.25 * (hi - lo))
        lo, hi = lo - pad, hi + pad
    elif low is not None and low > 0:  # (low, inf)
        lo, hi = math.log10(low) - 1.0, math.log10(low) + 4.0
    elif high is not None and math.isfinite(high) and high > 0:  # (0, high)
        lo, hi = math.log10(high) - 4.0, math.log10(high) + 1.0
    else:
        c = math.log10(r_opt) if r_opt and r_opt > 0 and math.isfinite(r_opt) else 0.0
        lo, hi = c - 1.5, c + 1.5
    grid = np.logspace(lo, hi, n)
    extra = [v for v in (low, high, r_opt) if v is not None and 0 < v < math.inf and 10**lo <= v <= 10**hi]
    return np.unique(np.concatenate([grid, np.asarray(extra, dtype=np.float64)]))


def band_data(mu, L, *, alpha: float = 0.0, weights: Sequence[float] | None = None, J: np.ndarray | None = None,
              block_sizes: Sequence[int] | None = None, names: Sequence[str] | None = None,
              band: list[dict] | None = None, title: str | None = None) -> dict:
    """The numbers of the band figure.

    ``weights``: the chosen weights (default: the Perron weights). ``J`` and ``block_sizes``
    (an exact game's constant Jacobian): adds ``alpha_true(r)`` for N = 2. ``band``: the
    pairs of :func:`sgncert.band.band_pairs` at ``alpha`` when already known (N > 2).
    """
    from .band import band_pairs, band_two_player
    from .smallgain import perron_weights, sgn_margin

    mu = np.asarray(mu, dtype=np.float64).reshape(-1)
    L = np.array(L, dtype=np.float64)
    n = mu.size
    if n < 2:
        raise SpecError("a band needs at least two players")
    if not math.isfinite(alpha):
        raise SpecError(f"--alpha must be finite, got {alpha!r}")
    names = list(names) if names else [f"{k + 1}" for k in range(n)]
    perron = perron_weights(mu, L)
    w = np.asarray(weights if weights is not None else perron.weights, dtype=np.float64)
    w = w / w[0]
    data: dict[str, Any] = {"n_players": n, "players": names, "mu": mu.tolist(), "L": L.tolist(),
                            "alpha": float(alpha), "weights": w.tolist(), "tau": float(perron.tau),
                            "title": title}
    if n == 2:
        b = band_two_player(mu.tolist(), L.tolist(), float(alpha))
        low, high = (float(b[0]), float(b[1])) if b is not None else (None, None)
        r_opt = float(perron.weights[1] / perron.weights[0])
        r = _ratio_grid(low, high, r_opt)
        alpha_star = np.array([sgn_margin(mu, L, (1.0, ri)) for ri in r])
        data.update({
            "band": None if b is None else {"low": low, "high": high},
            "r": r.tolist(), "alpha_star": alpha_star.tolist(),
            "r_opt": r_opt, "alpha_opt": float(sgn_margin(mu, L, (1.0, r_opt))),
            "r_chosen": float(w[1]), "alpha_chosen": float(sgn_margin(mu, L, w)),
            "alpha_true": None,
        })
        if J is not None and block_sizes is not None:
            data["alpha_true"] = alpha_true_curve(J, block_sizes, r).tolist()
        return data
    pairs = band if band is not None else band_pairs(mu.tolist(), L.tolist(), float(alpha),
                                                     interior_weights=w.tolist())
    data["pairs"] = [{"i": int(p["i"]), "j": int(p["j"]), "low": float(p["low"]),
                      "high": math.inf if p["high"] is None else float(p["high"]),
                      "verified": bool(p.get("verified", True)),
                      "chosen": float(w[int(p["j"])] / w[int(p["i"])])} for p in pairs]
    return data


def band_figure(data: dict):
    """Draw :func:`band_data`; returns ``(figure, data)``."""
    if data["n_players"] == 2:
        return _band_two(data), data
    return _band_many(data), data


def _band_two(data: dict):
    fig, axes = new_figure(7.2, 4.4)
    ax = axes[0, 0]
    with _style():
        r = np.asarray(data["r"])
        a_star = np.asarray(data["alpha_star"])
        alpha = data["alpha"]
        p1, p2 = data["players"]
        b = data["band"]
        if b is not None:
            lo = max(b["low"], r[0])
            hi = min(b["high"], r[-1])
            ax.axvspan(lo, hi, color=C_BAND, alpha=0.25, lw=0,
                       label=f"band $C(w,\\alpha)\\succ 0$ at $\\alpha$ = {_fmt(alpha)}: "
                             f"$r\\in$({_fmt(b['low'], 6)}, {_fmt(b['high'], 7)})")
            for edge in (b["low"], b["high"]):
                if 0 < edge < math.inf:
                    ax.axvline(edge, color=C_BAND, lw=1.0, ls="-")
        ax.plot(r, a_star, color=C_SGN, lw=2.4, label=r"SGN margin $\alpha_*(r)$", zorder=3)
        if data["alpha_true"] is not None:
            ax.plot(r, data["alpha_true"], color=C_TRUE, ls="--", lw=1.8, zorder=4,
                    label=r"$\alpha_{\mathrm{true}}(r)$ = $\lambda_{\min}(\mathrm{sym}\,M^{1/2}JM^{-1/2})$ (exact)")
        ax.axhline(alpha, color=OKABE_ITO["black"], lw=0.9, ls=":",
                   label=f"requested $\\alpha$ = {_fmt(alpha)}" if alpha != 0 else r"$\alpha = 0$")
        ax.plot([data["r_opt"]], [data["alpha_opt"]], marker="*", ms=14, color=C_MARK, mec="black", mew=0.8,
                ls="none", label=f"optimum $r^*$ = $w_2/w_1$ = {_fmt(data['r_opt'], 6)}, "
                                 f"$\\alpha_*$ = {_fmt(data['alpha_opt'], 6)}")
        if not math.isclose(data["r_chosen"], data["r_opt"], rel_tol=1e-6):
            ax.plot([data["r_chosen"]], [data["alpha_chosen"]], marker="D", ms=7, color=OKABE_ITO["purple"],
                    mec="black", ls="none", label=f"chosen weights: r = {_fmt(data['r_chosen'], 6)}")
        ax.set_xscale("log")
        ax.set_xlim(r[0], r[-1])
        top = max(float(np.max(a_star)), float(np.nanmax(data["alpha_true"])) if data["alpha_true"] else -np.inf)
        hi_ref, lo_ref = max(top, alpha, 0.0), min(top, alpha, 0.0)
        span = max(hi_ref - lo_ref, 1e-3)
        bottom = lo_ref - 0.9 * span
        if b is None:  # empty band: show the (negative) peak and its flanks
            bottom = max(float(np.min(a_star)), lo_ref - 4.0 * span)
        ax.set_ylim(bottom, hi_ref + 0.35 * span)
        ax.set_xlabel(f"weight ratio $r = w_2/w_1$  (players {p2} : {p1}, log scale)")
        ax.set_ylabel(r"margin $\alpha$  (1/time)")
        title = data.get("title") or "Timescale band"
        ax.set_title(f"{title}: $\\mu$ = ({_fmt(data['mu'][0])}, {_fmt(data['mu'][1])}), "
                     f"$L_{{12}}$ = {_fmt(data['L'][0][1])}, $L_{{21}}$ = {_fmt(data['L'][1][0])}")
        if b is None:
            ax.text(0.5, 0.86, "empty band: no weights certify this margin", transform=ax.transAxes,
                    ha="center", va="top", color=C_EUCLID, fontsize=11)
        ax.legend(loc="lower center" if b is not None else "lower right", ncols=1)
    return fig


def _band_many(data: dict):
    pairs = data["pairs"]
    fig, axes = new_figure(7.2, 1.6 + 0.55 * max(len(pairs), 2))
    ax = axes[0, 0]
    with _style():
        names = data["players"]
        finite = [v for p in pairs for v in (p["low"], p["high"], p["chosen"]) if 0 < v < math.inf]
        lo = 10 ** (math.floor(math.log10(min(finite))) - 1) if finite else 1e-3
        hi = 10 ** (math.ceil(math.log10(max(finite))) + 1) if finite else 1e3
        for k, p in enumerate(pairs):
            y = len(pairs) - 1 - k
            left = p["low"] if p["low"] > 0 else lo
            right = p["high"] if p["high"] < math.inf else hi
            ax.plot([left, right], [y, y], color=C_SGN, lw=7, solid_capstyle="butt",
                    alpha=1.0 if p["verified"] else 0.5, label="band of $w_j/w_i$" if k == 0 else None)
            if p["low"] <= 0:
                ax.annotate("", xy=(lo, y), xytext=(lo * 3, y), arrowprops={"arrowstyle": "->", "color": C_SGN})
            if p["high"] == math.inf:
                ax.annotate("", xy=(hi, y), xytext=(hi / 3, y), arrowprops={"arrowstyle": "->", "color": C_SGN})
            ax.plot([p["chosen"]], [y], marker="*", ms=13, color=C_MARK, mec="black", mew=0.8, ls="none",
                    label="chosen (Perron) weights" if k == 0 else None)
            label = f"({_fmt(p['low'])}, {_fmt(p['high'])})" + ("" if p["verified"] else " unverified")
            ax.text(right, y + 0.22, label,
                    ha="right", va="bottom", fontsize=8)
        ax.set_yticks(range(len(pairs)))
        ax.set_yticklabels([f"$w_{{{names[p['j']]}}}/w_{{{names[p['i']]}}}$" for p in reversed(pairs)])
        ax.set_ylim(-0.7, len(pairs) - 0.2)
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.set_xlabel("weight ratio (log scale)")
        title = data.get("title") or "Timescale bands"
        ax.set_title(f"{title}: pairwise weight-ratio intervals with $C(w,\\alpha)\\succ 0$, "
                     f"$\\alpha$ = {_fmt(data['alpha'])}")
        if not pairs:
            ax.text(0.5, 0.5, "empty: no weights certify this margin", transform=ax.transAxes, ha="center")
        fig.legend(loc="outside lower center", ncols=2)
    return fig


# ------------------------------------------------------------------------------ sweep
def sweep_figure(doc: dict):
    """Margins against the swept parameter (1 parameter) or a heatmap (2 parameters)."""
    params = doc["params"]
    if len(params) == 1:
        return _sweep_1d(doc)
    if len(params) == 2:
        return _sweep_2d(doc)
    raise SpecError(f"a sweep plot needs 1 or 2 swept parameters, this sweep has {len(params)}")


def _sweep_1d(doc: dict):
    from .sweep import boundaries

    name = doc["params"][0]["name"]
    rows = doc["rows"]
    x = np.array([r[name] for r in rows], dtype=np.float64)
    gamma = _finite_or_nan(r.get("euclidean_margin") for r in rows)
    sgn = _finite_or_nan(r.get("sgn_margin") for r in rows)
    has_true = any(r.get("alpha_true") is not None for r in rows)
    true = _finite_or_nan(r.get("alpha_true") for r in rows) if has_true else None
    bnd = doc.get("boundaries") or boundaries(rows, name)
    data = {"param": name, "x": x.tolist(), "euclidean_margin": gamma.tolist(), "sgn_margin": sgn.tolist(),
            "alpha_true": None if true is None else true.tolist(),
            "euclidean_boundary": bnd["euclidean"]["last_certified"], "sgn_boundary": bnd["sgn"]["last_certified"],
            "failed": [r[name] for r in rows if r.get("error")]}
    fig, axes = new_figure(7.2, 4.4)
    ax = axes[0, 0]
    with _style():
        x0 = float(np.min(x)) if x.size else 0.0
        left = x0
        for key, colour, label in (("euclidean_boundary", C_EUCLID, "Euclidean"), ("sgn_boundary", C_SGN, "SGN")):
            v = data[key]
            if v is not None:
                if v > left:  # shade each test's extra reach once (no overlapping tints)
                    ax.axvspan(left, v, color=colour, alpha=0.08, lw=0)
                    left = v
                ax.axvline(v, color=colour, ls=":", lw=1.6,
                           label=f"{label} certifies up to {name} = {_fmt(v)}")
        ax.axhline(0.0, color="black", lw=0.9)
        ax.plot(x, gamma, color=C_EUCLID, marker="o", ms=2.5, label=r"Euclidean margin $\gamma$ (Rosen)")
        ax.plot(x, sgn, color=C_SGN, marker="s", ms=2.5, label=r"SGN margin $\alpha_*(w)$, Perron weights")
        if true is not None:
            ax.plot(x, true, color=C_TRUE, ls="--", lw=1.6,
                    label=r"true weighted margin $\alpha_{\mathrm{true}}(w)$ (exact)")
        if data["failed"]:
            ax.plot(data["failed"], [0.0] * len(data["failed"]), "x", color="black", ms=7, ls="none",
                    label="numerical failure")
        focus = np.concatenate([v[np.isfinite(v)] for v in (sgn, true if true is not None else sgn)] + [[0.0]])
        g_fin = gamma[np.isfinite(gamma)]
        lo = float(np.min(focus))
        hi = max(float(np.max(focus)), float(np.max(g_fin)) if g_fin.size else 0.0)
        span = max(hi - lo, 1e-3)
        ax.set_ylim(lo - 0.3 * span, hi + 0.15 * span)
        if g_fin.size and float(np.min(g_fin)) < lo - 0.3 * span:
            ax.text(0.99, 0.02, r"$\gamma$ continues below the axis", transform=ax.transAxes, ha="right",
                    va="bottom", color=C_EUCLID, fontsize=8)
        if x.size > 1:
            ax.set_xlim(x0, float(np.max(x)))
        ax.set_xlabel(f"parameter {name}")
        ax.set_ylabel(r"margin  (1/time; > 0 certifies)")
        prov = doc.get("game", {}).get("provenance", "")
        ax.set_title(f"{doc.get('game', {}).get('name', 'game')}: certification across {name} "
                     f"({len(rows)} points, {prov} constants)")
        ax.legend(loc="upper right")
    return fig, data


def _sweep_2d(doc: dict):
    (p1, p2) = doc["params"]
    n1, n2 = p1["num"], p2["num"]
    rows = doc["rows"]
    xs = np.array([r[p1["name"]] for r in rows]).reshape(n1, n2)[:, 0]
    ys = np.array([r[p2["name"]] for r in rows]).reshape(n1, n2)[0, :]
    sgn = _finite_or_nan(r.get("sgn_margin") for r in rows).reshape(n1, n2)
    gamma = _finite_or_nan(r.get("euclidean_margin") for r in rows).reshape(n1, n2)
    data = {"params": [p1["name"], p2["name"]], "x": xs.tolist(), "y": ys.tolist(),
            "sgn_margin": sgn.tolist(), "euclidean_margin": gamma.tolist()}
    fig, axes = new_figure(6.6, 4.8)
    ax = axes[0, 0]
    with _style():
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


# ------------------------------------------------------------------------------ phase
def phase_data(game, prange, *, n_h: int = 241, h_max: float | None = None, tight: bool = False,
               progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Spectral radii of the Euler and RK4 maps of an affine game over (parameter, h).

    ``prange``: a :class:`sgncert.sweep.ParamRange` (or ``"name=start:stop:num"``). The
    eigenvalues of H = J are computed once per parameter value; the radii are
    ``max |1 - h lambda|`` and ``max |P(-h lambda)|`` over the eigenvalues, for every h at
    once. Certified steps and the exact thresholds come from :func:`sgncert.sweep.run_sweep`.
    """
    from .constants import value_and_jacobian
    from .spec import with_params
    from .steps import rk4_polynomial
    from .sweep import parse_param_range, run_sweep

    if isinstance(prange, str):
        prange = parse_param_range(prange)
    if not game.affine:
        raise SpecError(f"{game.source or game.name}: plot phase needs an affine game (constant Jacobian); "
                        "this game's constants are sampled")
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
    col = {k: [r.get(k) for r in rows] for k in ("euler_max", "rk4_max", "euler_stability", "rk4_stability",
                                                  "euler_contraction", "rk4_contraction", "tight_euler",
                                                  "tight_rk4", "certified")}
    return {"game": game.name, "param": prange.name, "x": [float(v) for v in prange.values], "h": h.tolist(),
            "euler_rho": euler_rho.tolist(), "rk4_rho": rk4_rho.tolist(), **col, "sweep": sweep}


def phase_figure(data: dict):
    """Two heatmaps (Euler, RK4) of the spectral radius over (parameter, h); returns (fig, data)."""
    from matplotlib.lines import Line2D

    x = np.asarray(data["x"])
    h = np.asarray(data["h"])
    fig, axes = new_figure(10.5, 4.6, ncols=2, sharey=True)
    with _style():
        mesh = None
        for ax, method, key in ((axes[0, 0], "Euler", "euler"), (axes[0, 1], "RK4", "rk4")):
            rho = np.asarray(data[f"{key}_rho"])
            mesh = ax.pcolormesh(x, h, np.clip(rho, 0.0, 2.0).T, shading="nearest", cmap="cividis", vmin=0, vmax=2,
                                 rasterized=True)
            if x.size > 1 and np.min(rho) < 1 < np.max(rho):
                ax.contour(x, h, rho.T, levels=[1.0], colors=["white"], linewidths=1.2)
            stab = _finite_or_nan(data[f"{key}_stability"])
            con = _finite_or_nan(data[f"{key}_contraction"])
            cert = _finite_or_nan(data[f"{key}_max"])
            ax.plot(x, stab, color="black", lw=3.6, zorder=3)
            ax.plot(x, stab, color=C_MARK, lw=2.0, ls="--", zorder=4)
            ax.plot(x, con, color=C_BAND, lw=1.6, ls=":", zorder=4)
            ax.plot(x, cert, color="white", lw=3.8, zorder=5)
            ax.plot(x, cert, color=C_SGN, lw=2.2, zorder=6)
            tight = _finite_or_nan(data.get(f"tight_{key}") or [None] * len(x))
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
            Line2D([], [], color=C_SGN, lw=2.2,
                   label="certified SGN step (Euler $2\\alpha/\\beta^2$, RK4 $c_4\\alpha/\\beta^2$)"),
        ]
        if any(v is not None for v in (data.get("tight_euler") or [])):
            handles.append(Line2D([], [], color=C_TIGHT, lw=1.8, ls="-.", label="tight step (LMI metric, proved)"))
        leg = axes[0, 1].legend(handles=handles, loc="upper right", facecolor="#3a3a3a", labelcolor="white",
                                fontsize=7.5)
        leg.get_frame().set_alpha(0.9)
        fig.suptitle(f"{data['game']}: step-size phase diagram over {data['param']}")
    return fig, data


# ------------------------------------------------------------------------------- flow
def _simulate(F, p, X0: np.ndarray, dt: float, n_blocks: int, stride: int) -> np.ndarray:
    """RK4 on x' = -F(x, p) from each row of X0; states every ``stride`` steps, (k, n_blocks+1, d)."""
    import jax
    import jax.numpy as jnp

    def f(x):
        return -F(x, p)

    def rk4(_, x):
        k1 = f(x)
        k2 = f(x + 0.5 * dt * k1)
        k3 = f(x + 0.5 * dt * k2)
        k4 = f(x + dt * k3)
        return x + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

    def block(x, _):
        x = jax.lax.fori_loop(0, stride, rk4, x)
        return x, x

    def run(x0):
        _, xs = jax.lax.scan(block, x0, None, length=n_blocks)
        return jnp.concatenate([x0[None], xs])

    out = np.asarray(jax.jit(jax.vmap(run))(jnp.asarray(X0)))
    return out


STEP_SCALE = 0.05  # RK4 step h = STEP_SCALE / ||J(x*)||_2: |P(-hJ) - exp(-hJ)| ~ (h||J||)^5/120 ~ 3e-9 per step


def flow_data(doc: dict, base_dir: str | Path = ".", *, starts: int = 8, seed: int = 0, t_max: float | None = None,
              game=None) -> dict:
    """Trajectories of the flow ``x' = -F(x)`` from a certificate.

    Starts lie on the boundary of the largest ``M(w)``-ball around the equilibrium inside
    the region (the certificate's invariant ball): the first in the direction where the
    Euclidean norm grows fastest (the eigenvector of ``lambda_min(sym J(x*))``), the others
    evenly spaced (d = 2) or seeded random directions. Integration: classical RK4 with
    steps ``0.05 / ||J(x*)||_2`` (jit + vmap over the starts).
    """
    from .constants import value_and_jacobian, weight_scaling
    from .equilibrium import solve_equilibrium
    from .jaxconfig import ensure_x64

    ensure_x64()
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
        dirs += [np.array([math.cos(base + 2 * math.pi * k / starts), math.sin(base + 2 * math.pi * k / starts)])
                 for k in range(1, starts)]
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
    traj = _simulate(game.pseudo_gradient, game.jax_params(), X0, dt, n_blocks, stride)
    if not np.all(np.isfinite(traj)):
        from .errors import NumericalError

        raise NumericalError("the simulated flow left the finite range (the game may not be stable there)")
    t = np.arange(n_blocks + 1) * dt * stride
    diff = traj - x_star[None, None, :]
    e_norm = np.linalg.norm(diff, axis=2)
    m_norm = np.linalg.norm(diff * s[None, None, :], axis=2)
    e_ratio = e_norm / e_norm[:, :1]
    m_ratio = m_norm / m_norm[:, :1]
    players = game.players
    if d == 2 or len(players) < 2:  # the state plane (the first two coordinates of a one-player game)
        plane = "state"
        labels = [players[0].name, players[1].name] if len(players) == 2 else ["x[0]", "x[1]"]
        path = traj[:, :, :2]
        s_pair = (s[0], s[1])
        origin = x_star[:2]
    else:  # per-player distances: ||x||_M^2 = sum_i w_i ||x_i||^2, exact for two players
        plane = "player_norms"
        p1, p2 = players[0], players[1]
        labels = [f"$\\|{p1.name} - {p1.name}^*\\|_2$", f"$\\|{p2.name} - {p2.name}^*\\|_2$"]
        path = np.stack([np.linalg.norm(diff[:, :, p1.slice], axis=2), np.linalg.norm(diff[:, :, p2.slice], axis=2)],
                        axis=2)
        s_pair = (s[p1.offset], s[p2.offset])
        origin = np.zeros(2)
    data = {
        "game": game.name, "dim": d, "n_players": len(players), "t": t.tolist(), "alpha": alpha,
        "certified": bool(doc["certified"]), "weights": w.tolist(), "radius_M": float(radius_M),
        "x_star": x_star.tolist(), "x_star_source": x_star_source, "gamma_center": float(gamma_vals[0]),
        "euclidean_ratio": e_ratio.tolist(), "m_ratio": m_ratio.tolist(),
        "max_euclidean_ratio": float(np.max(e_ratio)), "max_m_ratio": float(np.max(m_ratio)),
        "plane": plane, "plane_labels": labels, "plane_origin": [float(origin[0]), float(origin[1])],
        "path": path.tolist(),
        "ball_radius": float(np.linalg.norm(X0[0] - x_star)),
        "ellipse_axes": [float(radius_M / s_pair[0]), float(radius_M / s_pair[1])],
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
    import jax
    import jax.numpy as jnp

    (x0, x1), (y0, y1) = _window(data, PORTRAIT_ASPECT)
    gx, gy = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    X, Y = np.meshgrid(gx, gy)
    pts = np.stack([X.ravel(), Y.ravel()], axis=1)
    p = game.jax_params()
    Fv = np.asarray(jax.jit(jax.vmap(lambda x: -game.pseudo_gradient(x, p)))(jnp.asarray(pts)))
    return {"x": gx.tolist(), "y": gy.tolist(), "u": Fv[:, 0].reshape(n, n).tolist(),
            "v": Fv[:, 1].reshape(n, n).tolist(), "xlim": [x0, x1], "ylim": [y0, y1]}


def flow_figure(data: dict):
    """Norm ratios against time, and the (projected) phase portrait; returns (fig, data)."""
    from matplotlib.patches import Circle, Ellipse

    fig, axes = new_figure(11.0, 4.9, ncols=2, width_ratios=[1.0, 1.15])
    t = np.asarray(data["t"])
    er, mr = np.asarray(data["euclidean_ratio"]), np.asarray(data["m_ratio"])
    with _style():
        ax = axes[0, 0]
        for k in range(er.shape[0]):
            ax.plot(t, er[k], color=C_EUCLID, lw=2.0 if k == 0 else 1.0, alpha=1.0 if k == 0 else 0.55,
                    label=r"Euclidean $\|x(t)-x^*\|_2/\|x(0)-x^*\|_2$" if k == 0 else None)
        for k in range(mr.shape[0]):
            ax.plot(t, mr[k], color=C_SGN, lw=2.0 if k == 0 else 1.0, alpha=1.0 if k == 0 else 0.55,
                    label=r"metric $\|x(t)-x^*\|_M/\|x(0)-x^*\|_M$" if k == 0 else None)
        if data["alpha"]:
            ax.plot(t, np.exp(-data["alpha"] * t), color="black", ls="--", lw=1.6,
                    label=f"certified bound $e^{{-\\alpha t}}$, $\\alpha$ = {_fmt(data['alpha'])}")
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
            ax.annotate(f"escapes the Euclidean ball (×{data['max_euclidean_ratio']:.3g})", xy=(t[i], er[k, i]),
                        xytext=(0.35, 0.93), textcoords="axes fraction", fontsize=8, color=C_EUCLID,
                        arrowprops={"arrowstyle": "->", "color": C_EUCLID})

        ax = axes[0, 1]
        c = tuple(data["plane_origin"])
        path = np.asarray(data["path"])
        if data["stream"] is not None:
            st = data["stream"]
            ax.streamplot(np.asarray(st["x"]), np.asarray(st["y"]), np.asarray(st["u"]), np.asarray(st["v"]),
                          color="#a0a0a0", density=1.1, linewidth=0.7, arrowsize=0.8, broken_streamlines=True)
            xlim, ylim = st["xlim"], st["ylim"]
        else:
            xlim, ylim = _window(data, PORTRAIT_ASPECT)
        a, b = data["ellipse_axes"]
        ax.add_patch(Ellipse(c, 2 * a, 2 * b, fill=True, fc=C_SGN, alpha=0.08, lw=0))
        kind = "invariant $M(w)$-ellipse" if data["certified"] else "$M(w)$-ellipse"
        ax.add_patch(Ellipse(c, 2 * a, 2 * b, fill=False, ec=C_SGN, lw=2.0,
                             label=f"{kind}, $w$ = ({', '.join(_fmt(v) for v in data['weights'])})"))
        r = data["ball_radius"]
        ax.add_patch(Circle(c, r, fill=False, ec=C_EUCLID, lw=1.6, ls="--",
                            label=f"Euclidean ball through the worst start (r = {_fmt(r)})"))
        for k in range(path.shape[0] - 1, -1, -1):
            ax.plot(path[k, :, 0], path[k, :, 1], color=C_EUCLID if k == 0 else C_SGN,
                    lw=2.0 if k == 0 else 1.0, alpha=1.0 if k == 0 else 0.8, zorder=4 if k == 0 else 3,
                    label=("trajectory from the worst start" if k == 0 else
                           ("other trajectories" if k == 1 else None)))
            ax.plot(path[k, 0, 0], path[k, 0, 1], "o", ms=3.5, color="black", zorder=5,
                    label="starts" if k == 0 else None, clip_on=False)
        ax.plot([c[0]], [c[1]], marker="*", ms=12, color=C_MARK, mec="black", ls="none", zorder=6,
                label="equilibrium $x^*$", clip_on=False)
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
        fig.suptitle(f"{data['game']}: " + ("certified" if data["certified"] else "NOT certified") +
                     f", Euclidean margin at $x^*$: $\\lambda_{{\\min}}(\\mathrm{{sym}}\\,J)$ = {_fmt(data['gamma_center'])}")
    return fig, data


# ------------------------------------------------------------------------------ checks
def nonblank_fraction(path: str | Path) -> float:
    """Fraction of pixels of a PNG that are not (nearly) white; used by tests and checks."""
    from matplotlib.image import imread

    img = imread(str(path))
    rgb = img[..., :3]
    return float(np.mean(np.any(rgb < 0.95, axis=-1)))
