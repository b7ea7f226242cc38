"""The timescale band figure (docs/theory.md §5).

N = 2: ``alpha_*(r)`` over ``r = w_2/w_1`` (log axis) with the band ``(r_-, r_+)`` shaded,
the Perron optimum marked and, for exact games, ``alpha_true(r)``; N > 2: the interval of
``w_j/w_i`` for every pair with the chosen weights' ratios marked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..analysis.bands import band_pairs
from ..analysis.statistics import weighted_margins
from ..errors import SpecError
from ..theory.band import band_two_player
from ..theory.smallgain import perron_weights, sgn_margin
from .style import C_BAND, C_EUCLID, C_MARK, C_SGN, C_TRUE, OKABE_ITO, fmt, new_figure, style_context


def alpha_true_curve(J: np.ndarray, block_sizes: Sequence[int], ratios: np.ndarray) -> np.ndarray:
    """``alpha_true(1, r) = lambda_min(sym(S J S^-1))``, S = diag(sqrt(w_i) I_{d_i}), for each
    ratio r = w_2 / w_1 of a two-player game."""
    d1 = int(block_sizes[0])
    s = np.ones((ratios.size, np.shape(J)[0]))
    s[:, d1:] = np.sqrt(ratios)[:, None]
    return weighted_margins(J, s)


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


def band_data(
    mu,
    L,
    *,
    alpha: float = 0.0,
    weights: Sequence[float] | None = None,
    J: np.ndarray | None = None,
    block_sizes: Sequence[int] | None = None,
    names: Sequence[str] | None = None,
    band: list[dict] | None = None,
    title: str | None = None,
) -> dict:
    """The numbers of the band figure.

    ``weights``: the chosen weights (default: the Perron weights). ``J`` and ``block_sizes``
    (an exact game's constant Jacobian): adds ``alpha_true(r)`` for N = 2. ``band``: the
    pairs of :func:`sgncert.analysis.bands.band_pairs` at ``alpha`` when already known (N > 2).
    """
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
    data: dict[str, Any] = {
        "n_players": n,
        "players": names,
        "mu": mu.tolist(),
        "L": L.tolist(),
        "alpha": float(alpha),
        "weights": w.tolist(),
        "tau": float(perron.tau),
        "weights_are_perron": bool(np.allclose(w, perron.weights / perron.weights[0], rtol=1e-6, atol=0.0)),
        "title": title,
    }
    if n == 2:
        b = band_two_player(mu.tolist(), L.tolist(), float(alpha))
        low, high = (float(b[0]), float(b[1])) if b is not None else (None, None)
        r_opt = float(perron.weights[1] / perron.weights[0])
        r = _ratio_grid(low, high, r_opt)
        alpha_star = np.array([sgn_margin(mu, L, (1.0, ri)) for ri in r])
        data.update(
            {
                "band": None if b is None else {"low": low, "high": high},
                "r": r.tolist(),
                "alpha_star": alpha_star.tolist(),
                "r_opt": r_opt,
                "alpha_opt": float(sgn_margin(mu, L, (1.0, r_opt))),
                "r_chosen": float(w[1]),
                "alpha_chosen": float(sgn_margin(mu, L, w)),
                "alpha_true": None,
            }
        )
        if J is not None and block_sizes is not None:
            data["alpha_true"] = alpha_true_curve(J, block_sizes, r).tolist()
        return data
    pairs = band if band is not None else band_pairs(mu.tolist(), L.tolist(), float(alpha), interior_weights=w.tolist())
    data["pairs"] = [
        {
            "i": int(p["i"]),
            "j": int(p["j"]),
            "low": float(p["low"]),
            "high": math.inf if p["high"] is None else float(p["high"]),
            # the search settled both ends (a certificate's pair says so in "search"); the ends are proved either way
            "settled": bool(p.get("settled", p.get("search", "optimal") == "optimal")),
            "chosen": float(w[int(p["j"])] / w[int(p["i"])]),
        }
        for p in pairs
    ]
    return data


def band_figure(data: dict):
    """Draw :func:`band_data`; returns ``(figure, data)``."""
    if data["n_players"] == 2:
        return _band_two(data), data
    return _band_many(data), data


def _band_two(data: dict):
    fig, axes = new_figure(7.2, 4.4)
    ax = axes[0, 0]
    with style_context():
        r = np.asarray(data["r"])
        a_star = np.asarray(data["alpha_star"])
        alpha = data["alpha"]
        p1, p2 = data["players"]
        b = data["band"]
        if b is not None:
            lo = max(b["low"], r[0])
            hi = min(b["high"], r[-1])
            ax.axvspan(
                lo,
                hi,
                color=C_BAND,
                alpha=0.25,
                lw=0,
                label=f"band $C(w,\\alpha)\\succ 0$ at $\\alpha$ = {fmt(alpha)}: "
                f"$r\\in$({fmt(b['low'], 6)}, {fmt(b['high'], 7)})",
            )
            for edge in (b["low"], b["high"]):
                if 0 < edge < math.inf:
                    ax.axvline(edge, color=C_BAND, lw=1.0, ls="-")
        ax.plot(r, a_star, color=C_SGN, lw=2.4, label=r"SGN margin $\alpha_*(r)$", zorder=3)
        if data["alpha_true"] is not None:
            ax.plot(
                r,
                data["alpha_true"],
                color=C_TRUE,
                ls="--",
                lw=1.8,
                zorder=4,
                label=r"$\alpha_{\mathrm{true}}(r)$ = $\lambda_{\min}(\mathrm{sym}\,M^{1/2}JM^{-1/2})$ (exact)",
            )
        ax.axhline(
            alpha,
            color=OKABE_ITO["black"],
            lw=0.9,
            ls=":",
            label=f"requested $\\alpha$ = {fmt(alpha)}" if alpha != 0 else r"$\alpha = 0$",
        )
        ax.plot(
            [data["r_opt"]],
            [data["alpha_opt"]],
            marker="*",
            ms=14,
            color=C_MARK,
            mec="black",
            mew=0.8,
            ls="none",
            label=f"optimum $r^*$ = $w_2/w_1$ = {fmt(data['r_opt'], 6)}, $\\alpha_*$ = {fmt(data['alpha_opt'], 6)}",
        )
        if not math.isclose(data["r_chosen"], data["r_opt"], rel_tol=1e-6):
            ax.plot(
                [data["r_chosen"]],
                [data["alpha_chosen"]],
                marker="D",
                ms=7,
                color=OKABE_ITO["purple"],
                mec="black",
                ls="none",
                label=f"chosen weights: r = {fmt(data['r_chosen'], 6)}",
            )
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
        ax.set_title(
            f"{title}: $\\mu$ = ({fmt(data['mu'][0])}, {fmt(data['mu'][1])}), "
            f"$L_{{12}}$ = {fmt(data['L'][0][1])}, $L_{{21}}$ = {fmt(data['L'][1][0])}"
        )
        if b is None:
            ax.text(
                0.5,
                0.86,
                "empty band: no weights certify this margin",
                transform=ax.transAxes,
                ha="center",
                va="top",
                color=C_EUCLID,
                fontsize=11,
            )
        ax.legend(loc="lower center" if b is not None else "lower right", ncols=1)
    return fig


def _band_many(data: dict):
    pairs = data["pairs"]
    fig, axes = new_figure(7.2, 1.6 + 0.55 * max(len(pairs), 2))
    ax = axes[0, 0]
    with style_context():
        names = data["players"]
        finite = [v for p in pairs for v in (p["low"], p["high"], p["chosen"]) if 0 < v < math.inf]
        lo = 10 ** (math.floor(math.log10(min(finite))) - 1) if finite else 1e-3
        hi = 10 ** (math.ceil(math.log10(max(finite))) + 1) if finite else 1e3
        for k, p in enumerate(pairs):
            y = len(pairs) - 1 - k
            left = p["low"] if p["low"] > 0 else lo
            right = p["high"] if p["high"] < math.inf else hi
            ax.plot(
                [left, right],
                [y, y],
                color=C_SGN,
                lw=7,
                solid_capstyle="butt",
                alpha=1.0 if p["settled"] else 0.5,
                label="band of $w_j/w_i$" if k == 0 else None,
            )
            if p["low"] <= 0:
                ax.annotate("", xy=(lo, y), xytext=(lo * 3, y), arrowprops={"arrowstyle": "->", "color": C_SGN})
            if p["high"] == math.inf:
                ax.annotate("", xy=(hi, y), xytext=(hi / 3, y), arrowprops={"arrowstyle": "->", "color": C_SGN})
            ax.plot(
                [p["chosen"]],
                [y],
                marker="*",
                ms=13,
                color=C_MARK,
                mec="black",
                mew=0.8,
                ls="none",
                label=("chosen (Perron) weights" if data["weights_are_perron"] else "chosen weights")
                if k == 0
                else None,
            )
            label = f"({fmt(p['low'])}, {fmt(p['high'])})" + ("" if p["settled"] else " (proved; search unsettled)")
            ax.text(right, y + 0.22, label, ha="right", va="bottom", fontsize=8)
        ax.set_yticks(range(len(pairs)))
        ax.set_yticklabels([f"$w_{{{names[p['j']]}}}/w_{{{names[p['i']]}}}$" for p in reversed(pairs)])
        ax.set_ylim(-0.7, len(pairs) - 0.2)
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.set_xlabel("weight ratio (log scale)")
        title = data.get("title") or "Timescale bands"
        ax.set_title(
            f"{title}: pairwise weight-ratio intervals with $C(w,\\alpha)\\succ 0$, $\\alpha$ = {fmt(data['alpha'])}"
        )
        if not pairs:
            ax.text(0.5, 0.5, "empty: no weights certify this margin", transform=ax.transAxes, ha="center")
        fig.legend(loc="outside lower center", ncols=2)
    return fig
