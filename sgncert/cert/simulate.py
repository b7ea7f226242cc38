"""``sgncert verify --simulate``: run the certified dynamics and compare with the claims.

Pairs of Euler and RK4 trajectories start in the invariant M(w)-ball (or the largest
M(w)-ball in R) at the certified best steps, and Euler also at 0.99 x its largest
certified step; the observed per-step M-distance factor must not exceed the certified
one, and the distance after all steps must not exceed the certified decay. For Fisher
(softmax) games the pairs run natural policy gradient in the Fisher metric at the centre,
with Euclidean policy gradient at the same step reported beside it (docs/theory.md §8).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..analysis.constants import weight_scaling
from ..analysis.sampling import in_feasible_region
from ..analysis.simulate import ball_points, batched_field, step_pairs
from ..games.markov import natural_gradient
from ..games.model import Game
from ..theory.steps import euler_factor_bound, rk4_factor_bound
from ..util.jaxenv import jax_scope
from .algebra import REL_TOL
from .report import VerifyReport, number_text


def _best_runs(doc: dict[str, Any], game: Game) -> list[tuple[str, str, float, float, str, np.ndarray]]:
    """The verdict's best Euler and RK4 steps, each in its own (scalar) metric: an open bound
    at 0.99 x h with the factor proved there from its proof's rate and beta, an attained step
    at h with its stated factor (docs/theory.md §12)."""
    best = (doc.get("verdict") or {}).get("best") or {}
    proofs = {p["method"]: p for p in (doc.get("verdict") or {}).get("proofs", [])}
    out = []
    for rule in ("euler", "rk4"):
        st = (best.get("steps") or {}).get(rule)
        if st is None or st.get("weights") is None or st["proof"] == "sgn":  # sgn: simulated above
            continue
        s = weight_scaling(game, st["weights"])
        if st["attained"]:
            h, factor, label = float(st["h"]), float(st["factor"]), f"certified factor ({st['proof']})"
        else:
            p = proofs[st["proof"]]
            a, b, h = float(p["rate"]), float(p["beta"]), 0.99 * float(st["h"])
            factor = (euler_factor_bound if rule == "euler" else rk4_factor_bound)(h, a, b)
            label = f"proved bound at 0.99 x h ({st['proof']})"
        out.append((f"simulate.best.{rule}", rule, h, factor, label, s))
    return out


def _seed(doc: dict[str, Any], seed: int | None) -> int:
    return seed if seed is not None else (doc["constants"]["seed"] or 0) + 1


def simulate(
    doc: dict[str, Any],
    rep: VerifyReport,
    game: Game,
    *,
    jacobian: np.ndarray | None,
    value: np.ndarray | None,
    seed: int | None,
    pairs: int,
    steps: int,
) -> None:
    """Run the simulation checks (module docstring) and add them to ``rep``. ``jacobian``
    and ``value`` are J and F at the centre when known (affine games are then stepped in
    NumPy)."""
    sgn_holds = doc["constants"]["beta"] is not None and doc["sgn"]["margin"] > 0
    if not doc["certified"]:
        rep.notes.append("simulation skipped: the certificate certifies no step size")
        return
    if game.geometry == "fisher":
        runs_npg = []
        if sgn_holds:
            e = doc["steps"]["euler"]
            runs_npg.append(("simulate.npg", doc["metric"]["weights"], float(e["best"]), float(e["factor"])))
        best = ((doc.get("verdict") or {}).get("best") or {}).get("steps", {}).get("npg")
        if best is not None and best["proof"] != "sgn" and best.get("weights") is not None:
            p = next(q for q in doc["verdict"]["proofs"] if q["method"] == best["proof"])
            h = float(best["h"]) if best["attained"] else 0.99 * float(best["h"])
            factor = (
                float(best["factor"]) if best["attained"] else euler_factor_bound(h, float(p["rate"]), float(p["beta"]))
            )
            runs_npg.append(("simulate.best.npg", best["weights"], h, factor))
        for k, (name, weights, h, factor) in enumerate(runs_npg):
            _simulate_npg(
                doc,
                rep,
                game,
                seed=seed,
                pairs=pairs,
                steps=steps,
                name=name,
                weights=weights,
                h=h,
                certified_factor=factor,
                compare_pg=k == 0,
            )
        return
    eq = doc.get("equilibrium") or {}
    ball_weights = eq.get("weights") or doc["metric"]["weights"]  # the invariant ball's metric
    s = weight_scaling(game, ball_weights)
    c = np.asarray(doc["region"]["center"], dtype=np.float64)
    ball = doc.get("invariant_ball")
    w_min = min(float(x) for x in ball_weights)
    radius_M = float(ball["radius_M"]) if ball else float(doc["region"]["radius"]) * math.sqrt(w_min)
    if not radius_M > 0:
        radius_M = float(doc["region"]["radius"]) * math.sqrt(w_min)
    seed = _seed(doc, seed)
    rng = np.random.default_rng(seed)
    d, P = c.shape[0], pairs
    Z0 = c + ball_points(rng, 2 * P, d, radius_M) / s
    project = None
    if game.constrained:  # projected Euler from starts in the ball and X (docs/theory.md §13)
        assert game.sets is not None
        project = game.sets.project
        Z0 = in_feasible_region(Z0, game.region.with_center(c), game.sets)
    F = batched_field(game, jacobian=jacobian, value=value, center=c)
    s_sgn = weight_scaling(game, doc["metric"]["weights"])
    runs: list[tuple[str, str, float, float, str, np.ndarray]] = []
    if sgn_holds:
        e, r = doc["steps"]["euler"], doc["steps"]["rk4"]
        alpha, beta = float(doc["sgn"]["margin"]), float(doc["constants"]["beta"])
        runs += [
            ("simulate.euler", "euler", float(e["best"]), float(e["factor"]), "certified factor at euler.best", s_sgn),
            (
                "simulate.euler.max",
                "euler",
                0.99 * float(e["max"]),
                euler_factor_bound(0.99 * float(e["max"]), alpha, beta),
                "proved bound at 0.99 x euler.max",
                s_sgn,
            ),
        ]
        if r.get("best") is not None and r.get("factor") is not None:
            runs.append(
                ("simulate.rk4", "rk4", float(r["best"]), float(r["factor"]), "certified factor at rk4.best", s_sgn)
            )
    runs += _best_runs(doc, game)
    T = steps
    for name, method, h, certified_factor, label, s_run in runs:
        if not h > 0 or (project is not None and method != "euler"):
            continue
        run = step_pairs(F, Z0, s_run, method, h, T, project=project)
        obs, decay = run.worst_factor, run.decay
        rep.simulation[name] = {
            "method": method,
            "h": h,
            "pairs": P,
            "steps": T,
            "observed_factor": obs,
            "certified_factor": certified_factor,
            "observed_decay": decay,
            "certified_decay": certified_factor**T,
            "start_radius_M": radius_M,
            "seed": seed,
        }
        slack = certified_factor * REL_TOL + 1e-12
        if run.diverged:
            rep.fail(
                name,
                f"{method} at h = {number_text(h)}: trajectories diverge (non-finite); {label} {number_text(certified_factor)}",
            )
        elif obs > certified_factor + slack or obs >= 1.0:
            rep.fail(
                name,
                f"{method} at h = {number_text(h)}: observed per-step M-distance factor {number_text(obs)} > {label} "
                f"{number_text(certified_factor)}" + (" (distances grow)" if obs > 1 else ""),
            )
        elif decay > certified_factor**T * (1 + REL_TOL) + 1e-12:
            rep.fail(
                name,
                f"{method} at h = {number_text(h)}: the distance after {T} steps is {number_text(decay)} of the start, "
                f"more than the certified {number_text(certified_factor**T)}",
            )
        else:
            rep.ok(
                name,
                f"{method} at h = {number_text(h)}: observed factor {number_text(obs)} <= {label} {number_text(certified_factor)}; "
                f"decay over {T} steps {number_text(decay)} <= {number_text(certified_factor**T)} ({P} pairs)",
            )


def _simulate_npg(
    doc: dict[str, Any],
    rep: VerifyReport,
    game: Game,
    *,
    seed: int | None,
    pairs: int,
    steps: int,
    name: str,
    weights: list[float],
    h: float,
    certified_factor: float,
    compare_pg: bool,
) -> None:
    """Natural policy gradient pairs theta <- theta - h G^+ grad f at a certified step ``h``
    with the proved factor, distances in the Fisher metric M = blockdiag(w_i G_i) at the
    centre; with ``compare_pg``, Euclidean policy gradient at the same step beside it."""
    import jax
    import jax.numpy as jnp

    assert game.transform is not None
    model = game.extras["model"]
    with jax_scope():
        p = game.jax_params()
    pg = jax.jit(jax.vmap(game.pseudo_gradient, in_axes=(0, None)))
    npg = natural_gradient(model, tuple(pl.offset for pl in game.players), pg)  # the same compiled F
    c = np.asarray(doc["region"]["center"], dtype=np.float64)
    E_inv = np.linalg.pinv(game.transform(c))  # G~^{1/2} U^T: the Fisher frame
    s = weight_scaling(game, weights)
    seed = _seed(doc, seed)
    rng = np.random.default_rng(seed)
    P, d, r = pairs, c.shape[0], 0.9 * float(doc["region"]["radius"])
    Z0 = c + rng.uniform(-r, r, (2 * P, d)) if doc["region"]["norm"] == "inf" else c + ball_points(rng, 2 * P, d, r)

    def frame(Z: np.ndarray) -> np.ndarray:  # distances are measured in the metric frame: s * (E_c^+ (x - y))
        return np.asarray(Z @ E_inv.T)

    T = steps
    fields = [(name, npg, "natural policy gradient")] + (
        [("simulate.pg", pg, "Euclidean policy gradient")] if compare_pg else []
    )
    for name, vector_field, label in fields:

        def F(Z: np.ndarray, f: Any = vector_field) -> np.ndarray:
            return np.asarray(f(jnp.asarray(Z), p))

        run = step_pairs(F, Z0, s, "euler", h, T, frame=frame)
        obs, decay = run.worst_factor, run.decay
        rep.simulation[name] = {
            "method": label,
            "h": h,
            "pairs": P,
            "steps": T,
            "observed_factor": obs,
            "certified_factor": certified_factor if name != "simulate.pg" else None,
            "observed_decay": decay,
            "seed": seed,
        }
        if name == "simulate.pg":
            msg = f"{label} at the same h = {number_text(h)}: observed factor {number_text(obs)} in the Fisher metric (not certified)"
            (rep.ok if obs < 1 and not run.diverged else rep.warn)(name, msg)
            continue
        # sampled constants and a metric that moves with theta: a small relative slack
        slack = certified_factor * 1e-3
        if run.diverged or obs >= 1.0 or obs > certified_factor + slack:
            rep.fail(
                name,
                f"{label} at h = {number_text(h)}: observed per-step factor {number_text(obs)} > certified "
                f"{number_text(certified_factor)}" + (" (diverged)" if run.diverged else ""),
            )
        else:
            rep.ok(
                name,
                f"{label} at h = {number_text(h)}: observed factor {number_text(obs)} <= certified {number_text(certified_factor)}"
                f" ({P} pairs, {T} steps, decay {number_text(decay)})",
            )
