"""The flow figure: trajectories of the dynamics a certificate speaks about, their distance
to the equilibrium in the plain and in the certified metric against ``exp(-alpha t)``, and
a picture of the trajectories in a plane (docs/theory.md §3, §8, §10).

- Euclidean geometry: the flow ``x' = -F(x)``; distances ``||x - x*||_2`` and
  ``||x - x*||_M`` with ``M = blockdiag(w_i I)``.
- Fisher geometry (softmax games): the natural-gradient flow ``theta' = -G(theta)^+
  F(theta)`` (natural policy gradient with infinitesimal steps; ``steps.npg`` is its Euler
  step); distances in the gauge-free logits, ``||B^T (theta - theta*)||_2`` (``B`` the
  Helmert basis that removes the softmax gauge), and in the Fisher metric at the
  equilibrium, ``||theta - theta*||_M`` with ``M = blockdiag(w_i G_i(theta*))``, i.e.
  ``||W^1/2 E(theta*)^+ (theta - theta*)||_2`` in the reduced (gauge-quotiented) frame
  where the certificate's weights live. The certified rate is that of the linearised flow
  (docs/theory.md §8); the figure checks it on the trajectories instead of assuming it.
- Constrained games (players with sets X_i, docs/theory.md §13): the certified dynamics is
  projected Euler ``x+ = P_X(x - h F(x))`` at the certificate's largest proved step
  (``verdict.best.steps.euler``), from starts in the invariant ``M``-ball intersected with X
  (``M`` in that step's weights); distances ``||x_k - x*||_2`` and ``||x_k - x*||_M`` against
  the certified bound ``factor^k`` and ``t = k h``; a game of dimension 2 is drawn in its
  plane with the boundary of X (:func:`projected_flow_data`, :func:`set_outline`).

Titles and annotations are computed from the plotted trajectories (:func:`flow_claims`,
:func:`flow_titles`): a distance is said to grow only if it does on the plotted samples.
Integration: classical RK4 with steps ``0.05 / ||A(x*)||_2`` (A the field's Jacobian),
jit + vmap over the starts (:func:`sgncert.analysis.simulate.flow_trajectories`); the
natural-gradient field is compiled once and stepped on the host (:func:`_integrate_host`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis.constants import value_and_jacobian, weight_scaling
from ..analysis.equilibrium import solve_equilibrium
from ..analysis.simulate import batched_field, flow_trajectories, rk4_step
from ..cert.rebuild import game_from_certificate
from ..errors import NumericalError, SpecError
from ..games.model import Game, PseudoGradient
from ..util.jaxenv import float64, jax_scope
from .style import C_EUCLID, C_MARK, C_SGN, fmt, new_figure, style_context

STEP_SCALE = 0.05  # RK4 step h = STEP_SCALE / ||A(x*)||_2: |P(-hA) - exp(-hA)| ~ (h||A||)^5/120 ~ 3e-9 per step
CLAIM_RTOL = 1e-6  # a distance ratio "exceeds" a level only by more than this (relative) ...
CLAIM_ATOL = 1e-12  # ... plus this (absolute): rounding of x - x* near the equilibrium is not growth


# ------------------------------------------------------------------------------ geometry
@dataclass(frozen=True)
class FlowGeometry:
    """What is integrated and how distances are measured.

    ``field``: the vector field's negative, ``(x, p) -> F(x)`` (the plotted flow is
    ``x' = -field(x)``), ``batched`` its jitted batch form when the flow is stepped on the
    host; ``A``: its Jacobian at ``x*``; ``to_metric`` (d_m x d) maps a
    displacement to the coordinates of the metric space (where ``M = diag(s)^2``),
    ``from_metric`` (d x d_m) back; ``logits`` (d x d_q): an orthonormal basis of the
    displacements whose Euclidean length is reported (the identity, or the gauge-free
    logits); ``blocks``: each player's slice of the metric coordinates."""

    kind: str  # "euclidean" | "fisher"
    field: PseudoGradient
    batched: Callable[[np.ndarray], np.ndarray] | None  # Fisher: X (B, d) -> field(X), one jitted vmap
    A: np.ndarray
    to_metric: np.ndarray
    from_metric: np.ndarray
    logits: np.ndarray
    blocks: tuple[slice, ...]


def natural_gradient_field(game: Game) -> PseudoGradient:
    """``(theta, p) -> G(theta)^+ F(theta, p)`` for a softmax (Fisher) game, in JAX.

    Per player and state ``G = diag(pi) - pi pi^T`` is singular only along the all-ones
    vector ``1``, and ``F`` is orthogonal to it. For ``g`` orthogonal to ``1``, ``g / pi``
    solves ``G v = g`` (``G (g/pi) = g - pi (1^T g) = g``), and the minimum-norm solution
    ``G^+ g`` is its projection on the complement of ``1``. Equal to
    :func:`sgncert.games.markov.natural_gradient` (``E E^T F``), without the host
    eigen-decompositions, so it is one jittable function."""
    import jax
    import jax.numpy as jnp

    model = game.extras.get("model")
    if model is None:
        raise SpecError(f"{game.name}: the Fisher geometry needs a tabular (markov / normal_form) game")
    S = int(model.states)
    layout = []
    for player, a in zip(game.players, model.actions):
        if player.dim != S * int(a):
            raise SpecError(f"{game.name}: player {player.name} has {player.dim} logits, expected {S} x {a}")
        layout.append((player.offset, int(a)))
    F = game.pseudo_gradient

    def field(x: Any, p: Any) -> Any:
        g = F(x, p)
        parts = []
        for o, a in layout:
            pi = jax.nn.softmax(x[o : o + S * a].reshape(S, a), axis=1)
            gi = g[o : o + S * a].reshape(S, a)
            gi = gi - jnp.mean(gi, axis=1, keepdims=True)  # F is gauge-free; drop its rounding
            v = gi / pi
            parts.append((v - jnp.mean(v, axis=1, keepdims=True)).reshape(-1))
        return jnp.concatenate(parts)

    return field


def _slices(sizes) -> tuple[slice, ...]:
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    return tuple(slice(int(offsets[k]), int(offsets[k + 1])) for k in range(len(sizes)))


def euclidean_geometry(game: Game, J: np.ndarray) -> FlowGeometry:
    """The flow ``x' = -F(x)`` measured in the coordinates of ``x`` (J = DF(x*))."""
    eye = np.eye(game.dim)
    return FlowGeometry("euclidean", game.pseudo_gradient, None, J, eye, eye, eye, _slices(game.block_sizes))


FD_STEP = 1e-5  # central differences of the natural-gradient field: error ~ FD_STEP^2 |D^3 V| + 1e-16 |V| / FD_STEP


def fisher_geometry(game: Game, center: np.ndarray) -> tuple[FlowGeometry, np.ndarray, str]:
    """(geometry, theta*, where theta* comes from) of a softmax game: the natural-gradient
    field ``V = G^+ F``, its Jacobian ``A = G^+ J`` at the equilibrium (where ``F = 0``),
    and the frame ``E(theta*)`` of the metric space. A is taken by central differences of V
    along the gauge-free directions ``B`` (J, and so A, vanishes along the gauge:
    ``A = (A B) B^T``); it chooses the first start and is reported, nothing is certified
    from it.

    theta* is the region's centre when ``V`` vanishes there (equivalently F: ``||G^+ g|| >=
    2 ||g||`` for gauge-free g), else :func:`sgncert.analysis.equilibrium.solve_equilibrium`'s."""
    if game.transform is None or game.gauge is None:
        raise SpecError(f"{game.name}: a Fisher-geometry game needs its Fisher transform and gauge basis")
    field = natural_gradient_field(game)
    batched = batched_natural_field(game, field)
    Q = np.asarray(game.gauge, dtype=np.float64)  # d x d_q, orthonormal columns
    q = Q.shape[1]

    def at(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        V = batched(np.concatenate([x[None], x + FD_STEP * Q.T, x - FD_STEP * Q.T]))
        if not np.all(np.isfinite(V)):
            where = np.array2string(x, threshold=8)
            raise NumericalError(f"the natural-gradient field is not finite near theta = {where}")
        return V[0], (V[1 : 1 + q] - V[1 + q :]).T / (2.0 * FD_STEP)

    value, AQ = at(center)
    x_star, source = center, "region centre"
    if float(np.linalg.norm(value)) > 1e-9 * (1.0 + float(np.linalg.norm(AQ, 2))):
        eq = solve_equilibrium(dataclasses.replace(game, region=game.region.with_center(center)))
        x_star, source = eq.x, f"solved ({eq.method})"
        _, AQ = at(x_star)
    E = np.asarray(game.transform(x_star), dtype=np.float64)  # d x d_m, E^T G E = I, E E^T = G^+
    geo = FlowGeometry("fisher", field, batched, AQ @ Q.T, np.linalg.pinv(E), E, Q, _slices(game.metric_block_sizes))
    return geo, x_star, source


FIELD_CHUNK = 32  # the batched field always runs on chunks of this many points: one compilation


def batched_natural_field(game: Game, field: PseudoGradient) -> Callable[[np.ndarray], np.ndarray]:
    """``X (B, d) -> field(X) (B, d)``: one jitted vmap over chunks of FIELD_CHUNK points
    (the last padded with copies of the first), so every batch size reuses one compilation
    (a chunk costs about what a single point does)."""
    import jax
    import jax.numpy as jnp

    fn = jax.jit(jax.vmap(field, in_axes=(0, None)))
    p = game.jax_params()

    def batched(X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        n = X.shape[0]
        pad = (-n) % FIELD_CHUNK
        Z = np.concatenate([X, np.repeat(X[:1], pad, axis=0)]) if pad else X
        with jax_scope():
            out = [np.asarray(fn(jnp.asarray(Z[k : k + FIELD_CHUNK]), p)) for k in range(0, Z.shape[0], FIELD_CHUNK)]
        return np.concatenate(out)[:n]

    return batched


def _integrate_host(
    batched: Callable[[np.ndarray], np.ndarray], X0: np.ndarray, dt: float, n_blocks: int, stride: int
) -> np.ndarray:
    """RK4 on ``x' = -batched(x)`` stepped on the host, the states every ``stride`` steps
    (as :func:`sgncert.analysis.simulate.flow_trajectories`, which compiles the whole loop:
    for a Markov game's natural-gradient field that compilation alone takes seconds)."""

    def f(Z: np.ndarray) -> np.ndarray:
        return -batched(Z)

    X = np.asarray(X0, dtype=np.float64)
    out = [X]
    with np.errstate(all="ignore"):
        for _ in range(n_blocks):
            for _ in range(stride):
                X = rk4_step(f, X, dt)
            out.append(X)
            if not np.all(np.isfinite(X)):
                break
    out += [np.full_like(X, np.nan)] * (n_blocks + 1 - len(out))
    return np.stack(out, axis=1)


# ------------------------------------------------------------------------------- claims
def flow_claims(
    t,
    euclidean_ratio,
    m_ratio,
    alpha: float | None = None,
    *,
    rtol: float = CLAIM_RTOL,
    atol: float = CLAIM_ATOL,
    step_bound=None,
) -> dict:
    """What the plotted distance ratios (trajectories x time, each 1 at t = 0) show.

    ``*_grows``: how many trajectories exceed their starting distance (by more than
    ``rtol``, ``atol``) at some plotted time; ``*_max``: the largest ratio; ``*_final``: the
    largest ratio at the last time. With ``alpha``: ``within_bound`` (every M-ratio at most
    ``exp(-alpha t)``, within the same tolerances) and ``bound_excess``, the largest
    ``ratio / exp(-alpha t)``. With ``step_bound`` (one value per time: the certified
    ``factor^k`` of projected Euler after k steps) also ``within_step_bound`` and
    ``step_bound_excess``, the same checks against it."""
    t = np.asarray(t, dtype=np.float64)
    er = np.atleast_2d(np.asarray(euclidean_ratio, dtype=np.float64))
    mr = np.atleast_2d(np.asarray(m_ratio, dtype=np.float64))
    if er.shape != mr.shape or er.shape[1] != t.size:
        raise ValueError(f"ratios of shapes {er.shape} and {mr.shape} do not match {t.size} times")
    e_peak, m_peak = np.max(er, axis=1), np.max(mr, axis=1)
    level = 1.0 + rtol + atol
    claims: dict[str, Any] = {
        "trajectories": int(er.shape[0]),
        "euclidean_grows": int(np.sum(e_peak > level)),
        "first_euclidean_grows": bool(e_peak[0] > level),
        "euclidean_max": float(np.max(e_peak)),
        "euclidean_final": float(np.max(er[:, -1])),
        "m_grows": int(np.sum(m_peak > level)),
        "m_max": float(np.max(m_peak)),
        "m_final": float(np.max(mr[:, -1])),
        "alpha": alpha,
        "within_bound": None,
        "bound_excess": None,
    }
    if alpha:
        bound = np.exp(-float(alpha) * t)[None, :]
        over = mr > bound * (1.0 + rtol) + atol
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            excess = np.where(mr > atol, np.log(np.maximum(mr, 1e-300)) + float(alpha) * t[None, :], -np.inf)
        claims["within_bound"] = not bool(np.any(over))
        claims["bound_excess"] = float(np.exp(min(np.max(excess), 700.0)))
    if step_bound is not None:
        sb = np.asarray(step_bound, dtype=np.float64)
        if sb.shape != t.shape:
            raise ValueError(f"a step bound of shape {sb.shape} does not match {t.size} times")
        over = mr > sb[None, :] * (1.0 + rtol) + atol
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            log_sb = np.log(np.maximum(sb, 1e-300))[None, :]
            excess = np.where(mr > atol, np.log(np.maximum(mr, 1e-300)) - log_sb, -np.inf)
        claims["within_step_bound"] = not bool(np.any(over))
        claims["step_bound_excess"] = float(np.exp(min(np.max(excess), 700.0)))
    return claims


def times(v: float) -> str:
    """``v`` with the digits it takes not to read as 1 (a ratio of 1.003 is "1.003", not "1")."""
    for digits in range(3, 10):
        text = f"{v:.{digits}g}"
        if float(text) != 1.0 or v == 1.0:
            return text
    return f"{v:.10g}"


def _grow_text(name: str, grows: int, n: int, peak: float) -> str:
    if not grows:
        return f"{name} never exceeds its start" if n == 1 else f"{name} never exceeds its start (all {n})"
    where = "grows" if n == 1 else (f"grows on all {n}" if grows == n else f"grows on {grows} of {n}")
    return f"{name} {where} (up to ×{times(peak)})"


def step_text(h: float) -> str:
    """A step size with the digits it was certified with (0.49999995, not 0.5)."""
    return f"{h:.8g}"


def flow_titles(claims: dict, *, fisher: bool = False, certified: bool = True, step: float | None = None) -> dict:
    """The texts of the figure that make claims, built only from :func:`flow_claims`:
    ``portrait`` (the right panel's title), ``bound`` (the note on ``exp(-alpha t)``, or on
    the per-step bound ``factor^k`` of projected Euler, in its legend entry; None without
    either) and ``peak`` (the arrow's text, None when no plain distance grows). ``step``:
    the plotted trajectories are projected Euler iterates at this step (the portrait says so)."""
    n = claims["trajectories"]
    plain = "logit distance" if fisher else "Euclidean distance"
    portrait = (
        _grow_text(plain[0].upper() + plain[1:], claims["euclidean_grows"], n, claims["euclidean_max"])
        + ";\n"
        + _grow_text("$M(w)$-distance", claims["m_grows"], n, claims["m_max"])
    )
    if step is not None:
        portrait = f"Projected Euler iterates, h = {step_text(step)}:\n" + portrait
    if not certified:
        portrait += " (not certified)"
    bound = None
    within, excess = claims.get("within_bound"), claims.get("bound_excess", 0.0)
    if within is None:
        within, excess = claims.get("within_step_bound"), claims.get("step_bound_excess", 0.0)
    if within is not None:
        if within:
            bound = "the $M(w)$-ratio stays below it" if n == 1 else f"all {n} $M(w)$-ratios stay below it"
        else:
            bound = f"$M(w)$-ratio exceeds it (up to ×{times(excess)})"
    peak = f"{plain} grows to ×{times(claims['euclidean_max'])} of its start" if claims["euclidean_grows"] else None
    return {"portrait": portrait, "bound": bound, "peak": peak}


# ---------------------------------------------------------------- projected Euler (X)
PROJECTED_MIN_STEPS = 20  # the default horizon: at least this many iterates ...
PROJECTED_MAX_STEPS = 1000  # ... at most this many (or until factor^k < 1e-3) ...
PROJECTED_FLOOR = 1e-9  # ... ending once every M-ratio is below this (the left panel's floor is 1e-8)
PROJECTED_STEP_LIMIT = 100_000  # --time / h may ask for at most this many iterates
OPEN_BOUND_SHRINK = 0.99  # an open bound (every step below h contracts) is iterated at 0.99 h
START_POOL_2D = 360  # candidate start directions on the M-ellipse of a 2-D game (evenly spaced)
START_POOL_MIN = 64  # ... and at least this many seeded random ones in more dimensions


@dataclass(frozen=True)
class ProjectedStep:
    """The projected-Euler step a constrained certificate proves (docs/theory.md §12-13).

    ``h``: the step iterated; ``h_certified``: the verdict's step (``h``, or the open bound
    ``h / 0.99``); ``factor``: the certified per-step contraction factor at ``h`` in
    ``M = blockdiag(w_i I)``, ``w = weights`` (None: no certified step); ``proof``: the proof
    that proves it; ``open_bound``: the verdict's step is an open bound (``attained`` false)."""

    h: float
    h_certified: float | None
    factor: float | None
    proof: str | None
    weights: np.ndarray
    open_bound: bool

    @property
    def certified(self) -> bool:
        return self.factor is not None


def projected_step(doc: dict, J: np.ndarray) -> ProjectedStep:
    """The certified projected-Euler step of ``doc``: ``verdict.best.steps.euler``.

    Attained (``attained`` true): iterated at ``h`` with its stated factor. An open bound
    (every step below ``h`` contracts): iterated at ``0.99 h`` with the factor proved there,
    ``sqrt(1 - 2 h a + h^2 b^2)`` (``a``, ``b`` the rate and beta of the step's proof in
    ``verdict.proofs``); a proof without beta (the tight search) proves its factor ``rho`` at
    ``h``, and ``s -> ||M^1/2 (I - sJ) M^-1/2||`` is convex and 1 at 0, so
    ``1 - 0.99 (1 - rho)`` at ``0.99 h``. Without a certified step (not certified, or no
    Euler step proved): ``h = 1 / ||J(x*)||_2`` in the certificate's metric, no factor."""
    verdict = doc.get("verdict") or {}
    st = ((verdict.get("best") or {}).get("steps") or {}).get("euler") if doc.get("certified") else None
    fallback_w = np.asarray(doc["metric"]["weights"], dtype=np.float64)
    if not st or st.get("h") is None or not float(st["h"]) > 0:
        norm_J = float(np.linalg.norm(J, 2))
        return ProjectedStep(1.0 / norm_J if norm_J > 0 else 1.0, None, None, None, fallback_w, False)
    weights = np.asarray(st.get("weights") or fallback_w, dtype=np.float64)
    h_cert = float(st["h"])
    name = st.get("proof")
    factor: float | None
    if st.get("attained"):
        factor = None if st.get("factor") is None else float(st["factor"])
        return ProjectedStep(h_cert, h_cert, factor, name, weights, False)
    h = OPEN_BOUND_SHRINK * h_cert
    proof: dict = next((p for p in verdict.get("proofs") or [] if p.get("method") == name), {})
    a, b, rho = proof.get("rate"), proof.get("beta"), st.get("factor")
    if a is not None and b is not None:
        factor = math.sqrt(max(0.0, 1.0 - 2.0 * h * float(a) + (h * float(b)) ** 2))
    elif rho is not None:
        factor = 1.0 - OPEN_BOUND_SHRINK * (1.0 - float(rho))
    else:
        factor = None
    return ProjectedStep(h, h_cert, factor, name, weights, True)


def _constrained_equilibrium(game: Game, center: np.ndarray) -> tuple[np.ndarray, str]:
    """x* in X solving the variational inequality: the region's centre (projected onto X, which
    moves it by rounding at most) when its natural-map residual ``||c - P_X(c - h F(c))||``
    (``h = 1 / ||J(c)||``) vanishes to rounding, else
    :func:`sgncert.analysis.equilibrium.solve_equilibrium`'s."""
    assert game.sets is not None
    c = game.sets.project(center)
    F_c, J_c = value_and_jacobian(game, c)
    norm_J = float(np.linalg.norm(J_c, 2))
    h = 1.0 / norm_J if norm_J > 0 else 1.0
    residual = float(np.linalg.norm(game.sets.natural_map(c, h * F_c)))
    scale = 1e-10 * (1.0 + float(np.linalg.norm(c)))
    if float(np.linalg.norm(c - center)) <= scale and residual <= scale:
        return c, "region centre"
    eq = solve_equilibrium(dataclasses.replace(game, region=game.region.with_center(center)))
    return game.sets.project(np.asarray(eq.x, dtype=np.float64)), f"solved ({eq.method})"


def ball_in_region(doc: dict, x_star: np.ndarray, s: np.ndarray) -> float:
    """The largest r with the ball ``||x - x*||_M <= r`` (``M = diag(s)^2``) inside the region:
    over that ball ``|x_j - x*_j| <= r / s_j`` and ``||x - x*||_2 <= r / min s``, so
    ``min_j s_j (R - |x*_j - c_j|)`` (box) or ``min(s) (R - ||x* - c||_2)`` (ball); 0 when
    x* is not inside. Shrunk by 1e-9 (relative) against rounding."""
    R = float(doc["region"]["radius"])
    o = x_star - np.asarray(doc["region"]["center"], dtype=np.float64)
    if doc["region"]["norm"] == "inf":
        r = float(np.min(s * (R - np.abs(o))))
    else:
        r = float(np.min(s)) * (R - float(np.linalg.norm(o)))
    return max(r, 0.0) * (1.0 - 1e-9)


def feasible_starts(
    game: Game,
    center: np.ndarray,
    x_star: np.ndarray,
    s: np.ndarray,
    radius_M: float,
    first: np.ndarray,
    starts: int,
    seed: int,
) -> np.ndarray:
    """Up to ``starts`` distinct starts in the ``M``-ball of ``radius_M`` around x* and in X.

    Candidates on the ``M``-sphere (a 2-D game: ``START_POOL_2D`` directions evenly spaced
    from ``first``; otherwise ``first``, ``-first`` and seeded random directions) are mapped
    into R and X by :func:`sgncert.analysis.sampling.in_feasible_region` (the projection onto
    X is non-expansive in M and fixes x*, so they stay in the ball). Those at least half as far
    from x* as the farthest (in M) are kept, duplicates dropped, and ``starts`` of them chosen
    evenly by index (angle, in 2-D), the first candidate first. NumericalError when every
    candidate lands on x* (the ball meets X only there)."""
    from ..analysis.sampling import in_feasible_region

    d = x_star.size
    if d == 1:
        V = np.array([[1.0], [-1.0]]) * (1.0 if first[0] >= 0 else -1.0)
    elif d == 2:
        base = math.atan2(first[1], first[0])
        ang = base + 2.0 * math.pi * np.arange(START_POOL_2D) / START_POOL_2D
        V = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    else:
        rng = np.random.default_rng(seed)
        V = np.concatenate([first[None], -first[None], rng.standard_normal((max(START_POOL_MIN, 16 * starts), d))])
    V = V / np.linalg.norm(V, axis=1, keepdims=True)
    candidates = x_star + radius_M * (V / s)
    candidates = in_feasible_region(candidates, game.region.with_center(center), game.sets)
    dist = np.linalg.norm(s * (candidates - x_star), axis=1)
    far = float(np.max(dist))
    if not far > 1e-9 * radius_M:
        raise NumericalError("the invariant M-ball meets X only at the equilibrium: no start to iterate from")
    kept: list[np.ndarray] = []
    for x, r in zip(candidates, dist):
        if r >= 0.5 * far and all(float(np.linalg.norm(s * (x - y))) > 1e-6 * radius_M for y in kept):
            kept.append(x)
    idx = np.unique(np.round(np.linspace(0, len(kept) - 1, min(starts, len(kept)))).astype(int))
    return np.array([kept[i] for i in idx])


def _interval_sets(game: Game) -> list[tuple[float, float]] | None:
    """Per coordinate ``[low, high]`` when X is a product of intervals (boxes, orthants, 1-D
    balls and simplices, unconstrained players), else None."""
    assert game.sets is not None
    out: list[tuple[float, float]] = []
    for cs, n in zip(game.sets.sets, game.sets.sizes):
        if cs is None:
            out += [(-math.inf, math.inf)] * n
        elif cs.kind in ("box", "nonnegative"):
            assert cs.low is not None and cs.high is not None
            out += [(float(a), float(b)) for a, b in zip(cs.low, cs.high)]
        elif n == 1 and cs.kind == "ball":
            assert cs.center is not None and cs.radius is not None
            out.append((float(cs.center[0]) - cs.radius, float(cs.center[0]) + cs.radius))
        elif n == 1 and cs.kind == "simplex":
            assert cs.total is not None
            out.append((cs.total, cs.total))
        else:
            return None
    return out


def _set_text(game: Game) -> str:
    """The players' sets in words: ``x ∈ [0, 1], y ≥ 0``."""
    assert game.sets is not None
    parts = []
    for p, cs in zip(game.players, game.sets.sets):
        if cs is None:
            continue
        if cs.kind == "nonnegative":
            parts.append(f"{p.name} ≥ 0")
        elif cs.kind == "box" and cs.dim == 1:
            assert cs.low is not None and cs.high is not None
            parts.append(f"{p.name} ∈ [{fmt(float(cs.low[0]))}, {fmt(float(cs.high[0]))}]")
        elif cs.kind == "box":
            parts.append(f"{p.name} in a box")
        elif cs.kind == "ball":
            parts.append(f"{p.name} in a ball (r = {fmt(cs.radius)})")
        else:
            parts.append(f"{p.name} in a simplex (sum {fmt(cs.total)})")
    return ", ".join(parts)


def _clip_segment(p0, p1, xlim, ylim) -> tuple[np.ndarray, np.ndarray] | None:
    """The part of the segment p0-p1 inside the window (Liang-Barsky), or None."""
    p0, p1 = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
    d = p1 - p0
    lo, hi = 0.0, 1.0
    for k, (a, b) in enumerate((xlim, ylim)):
        if d[k] == 0.0:
            if not a <= p0[k] <= b:
                return None
            continue
        t0, t1 = (a - p0[k]) / d[k], (b - p0[k]) / d[k]
        lo, hi = max(lo, min(t0, t1)), min(hi, max(t0, t1))
    if lo > hi:
        return None
    return p0 + lo * d, p0 + hi * d


def set_outline(game: Game, flat: bool, xlim, ylim) -> dict | None:
    """The boundary of X in the plane of a game of dimension at most 2, clipped to the window
    ``xlim`` x ``ylim``: ``{"x", "y"}`` (one polyline, pieces separated by NaN), ``"fill"``
    (the set, for shading: a rectangle or a circle, None for a segment) and ``"text"``.

    A product of intervals ``I_1 x I_2`` (boxes, orthants): its finite edges (a
    one-dimensional game, ``flat``: its endpoints as vertical lines); one player in R^2 with a
    ball: the circle; with a simplex: the segment ``{x >= 0, x_1 + x_2 = s}`` (the set itself).
    None when nothing of it lies in the window."""
    assert game.sets is not None
    (x0, x1), (y0, y1) = xlim, ylim
    big = 10.0 * (abs(x0) + abs(x1) + abs(y0) + abs(y1) + 1.0)  # a stand-in for infinity past the window
    segments: list[tuple[np.ndarray, np.ndarray]] = []
    polylines: list[np.ndarray] = []
    fill: dict | None = None
    intervals = _interval_sets(game)
    if intervals is not None:
        if flat:
            intervals = [intervals[0], (-math.inf, math.inf)]
        (a1, b1), (a2, b2) = intervals
        lo1, hi1, lo2, hi2 = (max(v, -big) if v < 0 else min(v, big) for v in (a1, b1, a2, b2))
        for v in sorted({a1, b1}):
            if math.isfinite(v):
                segments.append((np.array([v, lo2]), np.array([v, hi2])))
        for v in sorted({a2, b2}):
            if math.isfinite(v):
                segments.append((np.array([lo1, v]), np.array([hi1, v])))
        fill = {"kind": "rect", "x": [lo1, hi1], "y": [lo2, hi2]}
    else:
        cs = next(c for c in game.sets.sets if c is not None)
        if cs.kind == "ball":
            assert cs.center is not None and cs.radius is not None
            ang = np.linspace(0.0, 2.0 * math.pi, 721)
            circle = cs.center[None, :] + cs.radius * np.stack([np.cos(ang), np.sin(ang)], axis=1)
            inside = (circle[:, 0] >= x0) & (circle[:, 0] <= x1) & (circle[:, 1] >= y0) & (circle[:, 1] <= y1)
            circle[~inside] = np.nan
            polylines.append(circle)
            fill = {"kind": "circle", "center": [float(v) for v in cs.center], "radius": float(cs.radius)}
        else:  # a simplex in R^2: a segment
            assert cs.total is not None
            segments.append((np.array([cs.total, 0.0]), np.array([0.0, cs.total])))
    for p0, p1 in segments:
        clipped = _clip_segment(p0, p1, xlim, ylim)
        if clipped is not None:
            polylines.append(np.stack(clipped))
    pieces = [q for q in polylines if np.any(np.isfinite(q[:, 0]))]
    if not pieces:
        return None
    gap = np.full((1, 2), np.nan)
    line = np.concatenate([np.concatenate([q, gap]) for q in pieces])[:-1]
    return {
        "x": line[:, 0].tolist(),
        "y": line[:, 1].tolist(),
        "fill": fill,
        "text": _set_text(game),
    }


def projected_flow_data(doc: dict, game: Game, *, starts: int = 8, seed: int = 0, t_max: float | None = None) -> dict:
    """The certified dynamics of a constrained game (docs/theory.md §13): projected Euler
    ``x_{k+1} = P_X(x_k - h F(x_k))`` at the certified step (:func:`projected_step`), from
    starts in the invariant ``M``-ball intersected with X (:func:`feasible_starts`; ``M`` in
    the weights of that step), with ``||x_k - x*||_2`` and ``||x_k - x*||_M`` relative to the
    start against the certified bound ``factor^k``, plotted against ``t = k h``.

    The ball is the certificate's invariant ball when the step's weights are those of the
    equilibrium's proof, else the largest ``M``-ball around x* inside the region
    (:func:`ball_in_region`; invariant too: the step contracts towards x* in M on R ∩ X).
    Horizon: ``ceil(t_max / h)`` iterates; by default until every M-ratio is below
    ``PROJECTED_FLOOR`` (between ``PROJECTED_MIN_STEPS`` and ``PROJECTED_MAX_STEPS`` iterates,
    and not beyond ``factor^k = 1e-3``). The figure's data has the keys of :func:`flow_data`'s
    plus ``constrained``, ``step``, ``iterations``, ``k``, ``iterates`` (starts x (k + 1) x d),
    ``step_bound``, ``ball_source`` and ``set_boundary`` (the boundary of X in a plane of
    dimension at most 2, :func:`set_outline`)."""
    assert game.sets is not None
    center = np.asarray(doc["region"]["center"], dtype=np.float64)
    x_star, x_star_source = _constrained_equilibrium(game, center)
    F_star, J = value_and_jacobian(game, x_star)
    geo = euclidean_geometry(game, J)
    step = projected_step(doc, J)
    certified = bool(doc["certified"]) and step.certified
    w = step.weights
    s = weight_scaling(game, w)
    if s.size != game.dim:
        raise SpecError(f"certificate: {w.size} weights do not fit the players {game.block_sizes}")
    dm = s.size

    ball = doc.get("invariant_ball") or {}
    eq_w = (doc.get("equilibrium") or {}).get("weights") or doc["metric"]["weights"]
    stated = ball.get("radius_M") if isinstance(ball, dict) else None
    from_certificate = bool(certified and stated and np.array_equal(np.asarray(eq_w, dtype=np.float64), w))
    radius_M = float(stated) if from_certificate and stated is not None else ball_in_region(doc, x_star, s)
    if not (radius_M > 0 and math.isfinite(radius_M)):
        raise NumericalError(f"no M(w)-ball of positive radius fits around the equilibrium (radius {radius_M!r})")

    gamma_vals, gamma_vecs = np.linalg.eigh(0.5 * (J + J.T))
    first = s * gamma_vecs[:, 0]
    X0 = feasible_starts(game, center, x_star, s, radius_M, first, starts, seed)

    h = step.h
    q = step.factor
    if t_max is not None:
        if not (t_max > 0 and math.isfinite(t_max)):
            raise SpecError(f"--time must be positive and finite, got {t_max!r}")
        n_steps = max(1, math.ceil(t_max / h - 1e-9))
        if n_steps > PROJECTED_STEP_LIMIT:
            raise SpecError(
                f"--time {t_max!r} is {n_steps} projected Euler steps of h = {h:.8g}, more than {PROJECTED_STEP_LIMIT}"
            )
        auto = False
    else:
        n_steps = PROJECTED_MAX_STEPS
        if q is not None and 0 < q < 1:
            n_steps = min(n_steps, max(PROJECTED_MIN_STEPS, math.ceil(math.log(1e-3) / math.log(q))))
        auto = True
    F = batched_field(game, jacobian=J, value=F_star, center=x_star)
    project = game.sets.project
    d0 = np.linalg.norm(s * (X0 - x_star), axis=1)
    X = X0
    out = [X0]
    with np.errstate(all="ignore"):
        for k in range(1, n_steps + 1):
            X = project(X - h * F(X))
            out.append(X)
            if not np.all(np.isfinite(X)):
                raise NumericalError(f"projected Euler at h = {h:.8g} left the finite range")
            ratio = float(np.max(np.linalg.norm(s * (X - x_star), axis=1) / d0))
            if auto and k >= PROJECTED_MIN_STEPS and ratio <= PROJECTED_FLOOR:
                break
    traj = np.stack(out, axis=1)
    ks = np.arange(traj.shape[1])
    t = ks * h
    diff = traj - x_star[None, None, :]
    e_norm = np.linalg.norm(diff, axis=2)
    m_norm = np.linalg.norm(diff * s[None, None, :], axis=2)
    e_ratio = e_norm / e_norm[:, :1]
    m_ratio = m_norm / m_norm[:, :1]
    bound = None if q is None else np.power(q, ks.astype(np.float64))
    claims = flow_claims(t, e_ratio, m_ratio, None, step_bound=bound)

    plane, flat, projection, path, s_pair, origin, labels = _plane(game, geo, traj, diff, s, x_star)
    data: dict[str, Any] = {
        "game": game.name,
        "geometry": "euclidean",
        "dynamics": "projected Euler",
        "constrained": True,
        "variable": "x",
        "dim": game.dim,
        "metric_dim": dm,
        "n_players": len(game.players),
        "t": t.tolist(),
        "k": ks.tolist(),
        "iterations": int(ks[-1]),
        "alpha": None,
        "certified": certified,
        "step": {
            "h": h,
            "h_certified": step.h_certified,
            "open_bound": step.open_bound,
            "factor": q,
            "proof": step.proof,
        },
        "step_bound": None if bound is None else bound.tolist(),
        "weights": w.tolist(),
        "radius_M": radius_M,
        "invariant": certified,
        "ball_source": "certificate" if from_certificate else "region",
        "starts_in_region": True,
        "iterates": traj.tolist(),
        **_trajectory_fields(doc, x_star, x_star_source, X0, gamma_vals, e_ratio, m_ratio, claims),
        **_plane_fields(plane, projection, labels, origin, path, radius_M, s_pair, flat),
        "ball_radius": float(np.linalg.norm(X0[0] - x_star)),
        "set_boundary": None,
    }
    data["titles"] = flow_titles(claims, certified=certified, step=h)
    if plane == "state" and not projection:  # the state itself (dimension <= 2): draw the boundary of X
        xlim, ylim = _window(data, PORTRAIT_ASPECT)
        data["set_boundary"] = set_outline(game, flat, xlim, ylim)
    return data


# --------------------------------------------------------------------------------- data
def _trajectory_fields(
    doc: dict, x_star, x_star_source: str, X0, gamma_vals, e_ratio, m_ratio, claims: dict
) -> dict[str, Any]:
    """The fields of a flow's data that every dynamics shares: the equilibrium, the starts,
    the distance ratios and the claims drawn from them."""
    return {
        "x_star": x_star.tolist(),
        "starts": X0.tolist(),
        "x_star_source": x_star_source,
        "gamma_center": float(gamma_vals[0]),
        "euclidean_ratio": e_ratio.tolist(),
        "m_ratio": m_ratio.tolist(),
        "max_euclidean_ratio": float(np.max(e_ratio)),
        "max_m_ratio": float(np.max(m_ratio)),
        "claims": claims,
        "region": {"radius": float(doc["region"]["radius"]), "norm": doc["region"]["norm"]},
    }


def _plane_fields(plane: str, projection, labels, origin, path, radius_M: float, s_pair, flat: bool) -> dict[str, Any]:
    """The right panel's plane, path and M-ellipse."""
    return {
        "plane": plane,
        "projection": projection,
        "plane_labels": labels,
        "plane_origin": [float(origin[0]), float(origin[1])],
        "path": path.tolist(),
        "ellipse_axes": [float(radius_M / s_pair[0]), 0.0 if flat else float(radius_M / s_pair[1])],
        "stream": None,
    }


def _equilibrium(game: Game, center: np.ndarray) -> tuple[np.ndarray, str]:
    F_c, J_c = value_and_jacobian(game, center)
    if float(np.linalg.norm(F_c)) <= 1e-9 * (1.0 + float(np.linalg.norm(J_c))):
        return center, "region centre"
    eq = solve_equilibrium(dataclasses.replace(game, region=game.region.with_center(center)))
    return eq.x, f"solved ({eq.method})"


def _fisher_radius(doc: dict, x_star: np.ndarray, center: np.ndarray, unit: np.ndarray) -> tuple[float, bool]:
    """Largest r with ``x* + r u`` in the region for every row u of ``unit`` (logit
    displacements of M-norm 1); (r, True). When x* is not inside the region, the region's
    radius around x* instead: (r, False)."""
    R = float(doc["region"]["radius"])
    norm = doc["region"]["norm"]
    o = x_star - center
    inside = float(np.max(np.abs(o))) < R if norm == "inf" else float(np.linalg.norm(o)) < R
    if not inside:
        o = np.zeros_like(o)
    radii = []
    for u in unit:
        if norm == "inf":
            with np.errstate(divide="ignore"):
                r = np.where(np.abs(u) > 0, (R - np.sign(u) * o) / np.abs(u), np.inf)
            radii.append(float(np.min(r)))
        else:  # ||o + r u||_2 = R
            uu, ou, oo = float(u @ u), float(o @ u), float(o @ o)
            radii.append((-ou + math.sqrt(max(ou * ou - uu * (oo - R * R), 0.0))) / uu)
    return float(min(radii)), inside


def _plane(
    game: Game, geo: FlowGeometry, traj: np.ndarray, Y: np.ndarray, s: np.ndarray, x_star: np.ndarray
) -> tuple[str, bool, bool, np.ndarray, tuple[float, float], np.ndarray, list[str]]:
    """The right panel's plane: (plane, flat, projection, path, s_pair, origin, labels) for the
    trajectories ``traj`` (B, T, d), their metric coordinates ``Y`` and the scaling ``s``."""
    fisher = geo.kind == "fisher"
    dm = s.size
    players = game.players
    names = [p.name for p in players]
    flat = projection = False
    if dm == 1:  # a one-dimensional (metric) space: the line, drawn as the plane's first axis
        plane, flat = "state", True
        first = Y[:, :, 0] if fisher else traj[:, :, 0]
        path = np.stack([first, np.zeros(traj.shape[:2])], axis=2)
        s_pair = (s[0], s[0])
        origin = np.array([0.0 if fisher else x_star[0], 0.0])
        labels = [f"Fisher coordinate of {names[0]}" if fisher else names[0], "(one-dimensional)"]
    elif dm == 2 or len(players) < 2:  # the plane of the first two (metric) coordinates
        plane = "state"
        projection = dm > 2
        path = Y[:, :, :2] if fisher else traj[:, :, :2]
        s_pair = (s[0], s[1])
        origin = np.zeros(2) if fisher else x_star[:2]
        if fisher:
            labels = [f"Fisher coordinate of {n}" for n in names[:2]] if len(players) == 2 else ["$y_0$", "$y_1$"]
        else:
            labels = names[:2] if len(players) == 2 else ["x[0]", "x[1]"]
    else:  # per-player distances: ||.||_M^2 = sum_i w_i ||.||_i^2, exact for two players
        plane = "player_norms"
        projection = len(players) > 2
        b1, b2 = geo.blocks[0], geo.blocks[1]
        if fisher:
            labels = [f"$\\|\\theta_{{{n}}} - \\theta_{{{n}}}^*\\|_{{G(\\theta^*)}}$" for n in names[:2]]
        else:
            labels = [f"$\\|{n} - {n}^*\\|_2$" for n in names[:2]]
        path = np.stack([np.linalg.norm(Y[:, :, b1], axis=2), np.linalg.norm(Y[:, :, b2], axis=2)], axis=2)
        s_pair = (s[b1.start], s[b2.start])
        origin = np.zeros(2)
    return plane, flat, projection, path, s_pair, origin, labels


@float64
def flow_data(
    doc: dict, base_dir: str | Path = ".", *, starts: int = 8, seed: int = 0, t_max: float | None = None, game=None
) -> dict:
    """Trajectories of the certified dynamics from a certificate (module docstring).

    Starts lie on one ``M(w)``-sphere around the equilibrium: in the Euclidean geometry the
    certificate's invariant ball (else the ball of radius ``R sqrt(min w)``); in the
    Fisher geometry, where no invariant ball is certified, the largest sphere on which
    every start lies in the region. The first start is in the direction where the plain
    distance decreases slowest at ``x*`` (the eigenvector of ``lambda_min(sym A)``, ``A``
    the field's Jacobian restricted to the measured coordinates), the others evenly spaced
    (a 2-D metric space) or seeded random directions. RK4 steps ``0.05 / ||A||_2``.
    """
    if not isinstance(starts, int) or not 1 <= starts <= 256:
        raise SpecError(f"--starts must be an integer in [1, 256], got {starts!r}")
    if game is None:
        game = game_from_certificate(doc, base_dir)
    if game.constrained and game.geometry != "fisher":
        return projected_flow_data(doc, game, starts=starts, seed=seed, t_max=t_max)
    # the metric and rate of the proof the equilibrium section names (its distance bound and
    # invariant ball are in that metric); the SGN metric and margin for older certificates
    eq = doc.get("equilibrium") or {}
    proof = next(
        (p for p in (doc.get("verdict") or {}).get("proofs", []) if p["method"] == eq.get("proof") and p["holds"]),
        None,
    )
    w = np.asarray(eq.get("weights") or doc["metric"]["weights"], dtype=np.float64)
    s = weight_scaling(game, w)  # over the metric space's coordinates
    center = np.asarray(doc["region"]["center"], dtype=np.float64)
    if game.geometry == "fisher":
        geo, x_star, x_star_source = fisher_geometry(game, center)
    else:
        x_star, x_star_source = _equilibrium(game, center)
        geo = euclidean_geometry(game, value_and_jacobian(game, x_star)[1])
    fisher = geo.kind == "fisher"
    if s.size != geo.to_metric.shape[0]:
        raise SpecError(f"certificate: {w.size} weights do not fit the metric blocks {game.metric_block_sizes}")
    certified = bool(doc["certified"])
    # the certified rate in M(w): the named proof's, else the SGN margin when positive (a
    # certificate may hold by another proof while the SGN margin at w is not)
    margin = proof["rate"] if proof is not None else doc["sgn"].get("margin")
    alpha = float(margin) if certified and margin is not None and float(margin) > 0 else None
    dm = s.size

    # the first start: the direction where the plain (logit) distance decreases slowest
    Q = geo.logits
    plain_A = Q.T @ geo.A @ Q
    gamma_vals, gamma_vecs = np.linalg.eigh(0.5 * (plain_A + plain_A.T))
    dirs = [s * (geo.to_metric @ (Q @ gamma_vecs[:, 0]))]
    if dm == 2:
        base = math.atan2(dirs[0][1], dirs[0][0])
        dirs += [
            np.array([math.cos(base + 2 * math.pi * k / starts), math.sin(base + 2 * math.pi * k / starts)])
            for k in range(1, starts)
        ]
    else:
        rng = np.random.default_rng(seed)
        dirs += list(rng.standard_normal((starts - 1, dm)))
    V = np.array([v / np.linalg.norm(v) for v in dirs[:starts]])  # scaled metric coordinates, M-norm 1
    unit = (V / s) @ geo.from_metric.T  # the displacements of M-norm 1
    ball = doc.get("invariant_ball") or {}
    invariant = False
    region_fit = True
    if fisher:
        radius_M, region_fit = _fisher_radius(doc, x_star, center, unit)
    else:
        stated = ball.get("radius_M") if isinstance(ball, dict) else None
        invariant = bool(certified and stated)
        if stated:
            radius_M = float(stated)
        else:
            radius_M = float(doc["region"]["radius"]) * math.sqrt(float(np.min(w)))
    if not (radius_M > 0 and math.isfinite(radius_M)):
        raise NumericalError(f"no M(w)-sphere of positive radius fits around the equilibrium (radius {radius_M!r})")
    X0 = x_star + radius_M * unit

    norm_A = float(np.linalg.norm(geo.A, 2)) or 1.0
    if t_max is None:
        t_max = 5.0 / alpha if alpha and alpha > 0 else 10.0 / max(float(np.min(doc["constants"]["mu"])), 0.1)
        t_max = float(min(t_max, 1e4))
    if not (t_max > 0 and math.isfinite(t_max)):
        raise SpecError(f"--time must be positive and finite, got {t_max!r}")
    n_blocks = 400
    steps_needed = max(n_blocks, math.ceil(t_max * norm_A / STEP_SCALE))
    stride = min(max(1, math.ceil(steps_needed / n_blocks)), 250)
    dt = t_max / (n_blocks * stride)
    if geo.batched is not None:
        traj = _integrate_host(geo.batched, X0, dt, n_blocks, stride)
    else:
        traj = flow_trajectories(geo.field, game.jax_params(), X0, dt, n_blocks, stride)
    if not np.all(np.isfinite(traj)):
        raise NumericalError("the simulated flow left the finite range (the game may not be stable there)")
    t = np.arange(n_blocks + 1) * dt * stride
    diff = traj - x_star[None, None, :]
    Y = diff @ geo.to_metric.T  # metric coordinates (unweighted)
    e_norm = np.linalg.norm(diff @ Q, axis=2)
    m_norm = np.linalg.norm(Y * s[None, None, :], axis=2)
    e_ratio = e_norm / e_norm[:, :1]
    m_ratio = m_norm / m_norm[:, :1]
    claims = flow_claims(t, e_ratio, m_ratio, alpha)

    var = "\\theta" if fisher else "x"
    plane, flat, projection, path, s_pair, origin, labels = _plane(game, geo, traj, Y, s, x_star)
    players = game.players
    data: dict[str, Any] = {
        "game": game.name,
        "geometry": geo.kind,
        "dynamics": "natural-gradient flow" if fisher else "flow",
        "variable": var,
        "dim": game.dim,
        "metric_dim": dm,
        "n_players": len(players),
        "t": t.tolist(),
        "alpha": alpha,
        "certified": certified,
        "weights": w.tolist(),
        "radius_M": radius_M,
        "invariant": invariant,
        "starts_in_region": region_fit,
        **_trajectory_fields(doc, x_star, x_star_source, X0, gamma_vals, e_ratio, m_ratio, claims),
        **_plane_fields(plane, projection, labels, origin, path, radius_M, s_pair, flat),
        # the Euclidean ball through the first start (not drawn in the Fisher geometry, whose
        # plane is in metric coordinates)
        "ball_radius": None if fisher else float(np.linalg.norm(X0[0] - x_star)),
    }
    data["titles"] = flow_titles(claims, fisher=fisher, certified=certified)
    if dm == 2 and plane == "state":
        if fisher:
            nat = geo.batched
            assert nat is not None

            def velocity(P: np.ndarray) -> np.ndarray:  # y' = E^+ theta' (theta' is gauge-free)
                return -(nat(x_star + P @ geo.from_metric.T) @ geo.to_metric.T)
        else:
            F = batched_field(game)

            def velocity(P: np.ndarray) -> np.ndarray:
                return -F(P)

        data["stream"] = _stream_field(velocity, data)
    return data


def _window(data, aspect: float):
    """Axis limits around the ellipse, the Euclidean circle and the trajectories, height/width = ``aspect``."""
    c = np.asarray(data["plane_origin"])
    a, b = data["ellipse_axes"]
    r = data.get("ball_radius") or 0.0
    path = np.asarray(data["path"])
    ext_x = max(a, float(np.max(np.abs(path[:, :, 0] - c[0]))))
    ext_y = max(b, float(np.max(np.abs(path[:, :, 1] - c[1]))))
    if data["plane"] == "player_norms":  # one quadrant
        w = 1.08 * max(ext_x, ext_y / aspect, r)
        return (0.0, w), (0.0, w * aspect)
    half_w = 1.15 * max(ext_x, ext_y / aspect)
    half_h = half_w * aspect
    return (c[0] - half_w, c[0] + half_w), (c[1] - half_h, c[1] + half_h)


PORTRAIT_ASPECT = 0.62  # height / width of the phase-portrait axes (data units, equal scale)


def _stream_field(velocity: Callable[[np.ndarray], np.ndarray], data: dict, n: int = 41) -> dict:
    """The plotted field on an n x n grid of the portrait's window (plane coordinates)."""
    (x0, x1), (y0, y1) = _window(data, PORTRAIT_ASPECT)
    gx, gy = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    X, Y = np.meshgrid(gx, gy)
    Fv = velocity(np.stack([X.ravel(), Y.ravel()], axis=1))
    return {
        "x": gx.tolist(),
        "y": gy.tolist(),
        "u": Fv[:, 0].reshape(n, n).tolist(),
        "v": Fv[:, 1].reshape(n, n).tolist(),
        "xlim": [x0, x1],
        "ylim": [y0, y1],
    }


# ------------------------------------------------------------------------------- figure
def _texts(data: dict) -> dict:
    """Labels that say what is drawn (geometry-dependent; no claims)."""
    fisher = data["geometry"] == "fisher"
    if data.get("constrained"):
        return {
            "plain": r"Euclidean $\|x_k-x^*\|_2/\|x_0-x^*\|_2$",
            "metric": r"metric $\|x_k-x^*\|_M/\|x_0-x^*\|_M$, $M=\mathrm{blockdiag}(w_i I)$",
            "bound": "certified bound $q^k$, $q$ = ",
            "flow": "Projected Euler $x_{k+1} = P_X(x_k - hF(x_k))$",
            "star": "equilibrium $x^* \\in X$",
            "first": "from the first start",
            "margin": r"Euclidean margin at $x^*$: $\lambda_{\min}(\mathrm{sym}\,J)$",
            "ylabel": r"distance to $x^*$ relative to the start (log)",
        }
    if fisher:
        return {
            "plain": r"logit $\|\theta(t)-\theta^*\|_2/\|\theta(0)-\theta^*\|_2$ (gauge-free)",
            "metric": r"Fisher $\|\theta(t)-\theta^*\|_M/\|\theta(0)-\theta^*\|_M$, $M=\mathrm{blockdiag}(w_i G_i(\theta^*))$",
            "bound": "certified rate $e^{-\\alpha t}$ (linearised flow), $\\alpha$ = ",
            "flow": "Natural-gradient flow $\\theta' = -G(\\theta)^+F(\\theta)$",
            "star": "equilibrium $\\theta^*$",
            "first": r"from the first start ($\lambda_{\min}$ direction of $\mathrm{sym}\,G^+J(\theta^*)$)",
            "margin": r"logit margin of the flow at $\theta^*$: $\lambda_{\min}(\mathrm{sym}\,G^+J)$ (gauge-free)",
            "ylabel": r"distance to $\theta^*$ relative to the start (log)",
        }
    return {
        "plain": r"Euclidean $\|x(t)-x^*\|_2/\|x(0)-x^*\|_2$",
        "metric": r"metric $\|x(t)-x^*\|_M/\|x(0)-x^*\|_M$, $M=\mathrm{blockdiag}(w_i I)$",
        "bound": "certified bound $e^{-\\alpha t}$, $\\alpha$ = ",
        "flow": "Flow $x' = -F(x)$",
        "star": "equilibrium $x^*$",
        "first": r"from the first start ($\lambda_{\min}$ direction of $\mathrm{sym}\,J(x^*)$)",
        "margin": r"Euclidean margin at $x^*$: $\lambda_{\min}(\mathrm{sym}\,J)$",
        "ylabel": r"distance to $x^*$ relative to the start (log)",
    }


def _sphere_text(data: dict) -> str:
    if data.get("constrained"):
        if not data["certified"]:
            return "an $M(w)$-ball inside the region, $\\cap X$"
        if data["ball_source"] == "certificate":
            return "the certified invariant $M(w)$-ball $\\cap X$"
        return "the largest $M(w)$-ball in the region (invariant) $\\cap X$"
    if data["invariant"]:
        return "the certified invariant $M(w)$-sphere"
    if data["geometry"] == "fisher":
        if data["starts_in_region"]:
            return "an $M(w)$-sphere inside the region"
        return "an $M(w)$-sphere ($\\theta^*$ outside the region)"
    return "an $M(w)$-sphere of radius $R\\sqrt{\\min w}$"


def _step_bound_label(data: dict, texts: dict, titles: dict) -> str:
    """The legend entry of ``factor^k``: the factor, the proof and where it is proved."""
    st = data["step"]
    where = "at 0.99 × its open bound" if st["open_bound"] else "at h"
    label = texts["bound"] + times(st["factor"]) + f" ({st['proof']}, {where})"
    return label + (f":\n{titles['bound']}" if titles["bound"] else "")


def flow_figure(data: dict):
    """Distance ratios against time, and the trajectories in a plane; returns (fig, data).
    The claims in titles and notes are ``data["titles"]`` (:func:`flow_titles`). A
    constrained game (``data["constrained"]``, :func:`projected_flow_data`): projected Euler
    iterates against ``t = k h`` with the certified bound ``factor^k``, and the boundary of X
    in a plane of dimension at most 2."""
    from matplotlib.patches import Circle, Ellipse, Rectangle

    constrained = bool(data.get("constrained"))
    dots = {"marker": ".", "ms": 3.0} if constrained and len(data["t"]) <= 80 else {}

    texts = _texts(data)
    titles = data.get("titles") or flow_titles(
        flow_claims(data["t"], data["euclidean_ratio"], data["m_ratio"], data["alpha"]),
        fisher=data["geometry"] == "fisher",
        certified=data["certified"],
    )
    fig, axes = new_figure(11.0, 4.9, ncols=2, width_ratios=[1.0, 1.15])
    t = np.asarray(data["t"])
    er, mr = np.asarray(data["euclidean_ratio"]), np.asarray(data["m_ratio"])
    with style_context():
        ax = axes[0, 0]
        for k in range(er.shape[0]):
            ax.plot(
                t,
                er[k],
                **dots,
                color=C_EUCLID,
                lw=2.0 if k == 0 else 1.0,
                alpha=1.0 if k == 0 else 0.55,
                label=texts["plain"] if k == 0 else None,
            )
        for k in range(mr.shape[0]):
            ax.plot(
                t,
                mr[k],
                **dots,
                color=C_SGN,
                lw=2.0 if k == 0 else 1.0,
                alpha=1.0 if k == 0 else 0.55,
                label=texts["metric"] if k == 0 else None,
            )
        if data["alpha"]:
            ax.plot(
                t,
                np.exp(-data["alpha"] * t),
                color="black",
                ls="--",
                lw=1.6,
                label=texts["bound"] + fmt(data["alpha"]) + (f": {titles['bound']}" if titles["bound"] else ""),
            )
        if constrained and data.get("step_bound") is not None:
            ax.plot(
                t,
                np.asarray(data["step_bound"]),
                color="black",
                ls="--",
                lw=1.6,
                label=_step_bound_label(data, texts, titles),
            )
        ax.axhline(1.0, color="black", lw=0.8, ls=":")
        ax.set_yscale("log")
        floor = max(float(np.min(np.concatenate([er.ravel(), mr.ravel()]))), 1e-8)
        top = max(float(np.max(er)), float(np.max(mr)))
        ax.set_ylim(floor * 0.7, max(1.5, top * 1.6))
        ax.set_xlim(0, t[-1])
        ax.set_ylabel(texts["ylabel"])
        if constrained:
            h = data["step"]["h"]
            ax.set_xlabel(f"time t = k h  ({data['iterations']} steps k of h = {step_text(h)})")
            top = ax.secondary_xaxis("top", functions=(lambda v, h=h: v / h, lambda v, h=h: v * h))
            top.set_xlabel("iteration k", fontsize=8)
            top.tick_params(labelsize=7)
            ax.set_title(f"{texts['flow']}, h = {step_text(h)}:\n{er.shape[0]} starts in {_sphere_text(data)}")
        else:
            ax.set_xlabel("time t  (flow time units)")
            ax.set_title(f"{texts['flow']}:\n{er.shape[0]} starts on {_sphere_text(data)}")
        ax.legend(loc="lower left", fontsize=7.5)
        if titles["peak"]:
            k = int(np.argmax(np.max(er, axis=1)))
            i = int(np.argmax(er[k]))
            ax.annotate(
                titles["peak"],
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
        outline = data.get("set_boundary")
        if outline:
            fill = outline["fill"]
            if fill and fill["kind"] == "rect":
                (x0, x1), (y0, y1) = fill["x"], fill["y"]
                ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fc="#808080", alpha=0.10, lw=0, zorder=0.5))
            elif fill and fill["kind"] == "circle":
                ax.add_patch(Circle(tuple(fill["center"]), fill["radius"], fc="#808080", alpha=0.10, lw=0, zorder=0.5))
            ax.plot(
                outline["x"],
                outline["y"],
                color="black",
                lw=2.2,
                zorder=2.5,
                label=f"boundary of $X$ ({outline['text']}; $X$ shaded)" if fill else f"$X$ ({outline['text']})",
            )
        if constrained and data["projection"]:
            kind = "invariant $M(w)$-ball" if data["invariant"] else "$M(w)$-ball of the starts"
            kind += ", projected"
        elif constrained:
            kind = "invariant $M(w)$-ellipse" if data["invariant"] else "$M(w)$-ellipse of the starts"
        elif data["projection"]:  # the plane shows a projection: the starts lie inside the ellipse, not on it
            kind = "certified invariant $M(w)$-ball" if data["invariant"] else "$M(w)$-ball through the starts"
            kind += ", projected"
        else:
            kind = "certified invariant $M(w)$-ellipse" if data["invariant"] else "$M(w)$-ellipse through the starts"
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
        r = data.get("ball_radius")
        if r:
            ax.add_patch(
                Circle(
                    c,
                    r,
                    fill=False,
                    ec=C_EUCLID,
                    lw=1.6,
                    ls="--",
                    label=f"Euclidean ball through the first start (r = {fmt(r)})"
                    + (", projected" if data["projection"] else ""),
                )
            )
        for k in range(path.shape[0] - 1, -1, -1):
            ax.plot(
                path[k, :, 0],
                path[k, :, 1],
                **({"marker": ".", "ms": 2.5} if constrained else {}),
                color=C_EUCLID if k == 0 else C_SGN,
                lw=2.0 if k == 0 else 1.0,
                alpha=1.0 if k == 0 else 0.8,
                zorder=4 if k == 0 else 3,
                label=(f"trajectory {texts['first']}" if k == 0 else ("other trajectories" if k == 1 else None)),
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
            label=texts["star"],
            clip_on=False,
        )
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.set_aspect("equal", adjustable="box")
        px, py = data["plane_labels"]
        ax.set_xlabel(px)
        ax.set_ylabel(py)
        ax.set_title(titles["portrait"], fontsize=9.5)
        space = "Fisher frame" if data["geometry"] == "fisher" else ("projected Euler" if constrained else "flow")
        if data["plane"] == "player_norms":
            which = "" if data["n_players"] == 2 else f", first two of {data['n_players']} players"
            ax.set_xlabel(f"{px}   ({data['metric_dim']}-D {space}{which})")
        elif data["projection"]:
            ax.set_xlabel(f"{px}   (first two of {data['metric_dim']} coordinates)")
        if constrained:  # X and its boundary may fill any corner of the window
            ax.legend(loc="best", fontsize=6.5, framealpha=0.85)
        else:
            ax.legend(loc="upper right", fontsize=7)
        fig.suptitle(
            f"{data['game']}: "
            + ("certified" if data["certified"] else "NOT certified")
            + (" (Fisher geometry)" if data["geometry"] == "fisher" else "")
            + (" (constrained to $X$: projected Euler)" if constrained else "")
            + f", {texts['margin']} = {fmt(data['gamma_center'])}"
        )
    return fig, data
