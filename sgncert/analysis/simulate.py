"""Trajectories of the dynamics a certificate speaks about (docs/theory.md §6, §11).

- :func:`flow_trajectories`: the flow ``x' = -F(x)`` by classical RK4 with a small step,
  jit + vmap over the starts (figures).
- :func:`step_pairs`: pairs of Euler / RK4 / natural-gradient iterations at a given step,
  and the largest per-step ratio of their distance in a metric (verification).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..games.model import Game, PseudoGradient
from ..util.jaxenv import float64

VectorField = Callable[[np.ndarray], np.ndarray]
"""A batch of points (B, d) to the field at them (B, d)."""


def rk4_step(f: Callable[[Any], Any], x: Any, h: float) -> Any:
    """One classical RK4 step of ``x' = f(x)`` (NumPy or JAX arrays alike)."""
    k1 = f(x)
    k2 = f(x + 0.5 * h * k1)
    k3 = f(x + 0.5 * h * k2)
    k4 = f(x + h * k3)
    return x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


@float64
def flow_trajectories(
    F: PseudoGradient, p: dict[str, Any], X0: np.ndarray, dt: float, n_blocks: int, stride: int
) -> np.ndarray:
    """RK4 on ``x' = -F(x, p)`` from each row of X0 with step ``dt``; the states every
    ``stride`` steps, an array (starts, n_blocks + 1, d) that begins with X0."""
    import jax
    import jax.numpy as jnp

    def f(x: Any) -> Any:
        return -F(x, p)

    def rk4(_: Any, x: Any) -> Any:
        return rk4_step(f, x, dt)

    def block(x: Any, _: Any) -> tuple[Any, Any]:
        x = jax.lax.fori_loop(0, stride, rk4, x)
        return x, x

    def run(x0: Any) -> Any:
        _, xs = jax.lax.scan(block, x0, None, length=n_blocks)
        return jnp.concatenate([x0[None], xs])

    return np.asarray(jax.jit(jax.vmap(run))(jnp.asarray(X0)))


def batched_field(
    game: Game, *, jacobian: np.ndarray | None = None, value: np.ndarray | None = None, center: np.ndarray | None = None
) -> VectorField:
    """``X (B, d) -> F(X) (B, d)``. An affine game with its constant Jacobian and the value
    at ``center`` given is evaluated as ``F(c) + J (x - c)`` in NumPy; otherwise one jitted,
    vmapped F."""
    if game.affine and jacobian is not None and value is not None and center is not None:
        J, F0, c = np.asarray(jacobian), np.asarray(value), np.asarray(center)
        return lambda Z: F0 + (Z - c) @ J.T
    import jax
    import jax.numpy as jnp

    from ..util.jaxenv import jax_scope

    fn = jax.jit(jax.vmap(game.pseudo_gradient, in_axes=(0, None)))
    with jax_scope():
        p = game.jax_params()

    def field(Z: np.ndarray) -> np.ndarray:
        with jax_scope():
            return np.asarray(fn(jnp.asarray(Z), p))

    return field


@dataclass(frozen=True)
class PairRun:
    """What pairs of trajectories did: the largest one-step ratio of their distance
    (``worst_factor``), the distance after all steps relative to the start (largest over the
    pairs, ``decay``), and whether an iterate left the finite range (``diverged``)."""

    worst_factor: float
    decay: float
    diverged: bool


def step_pairs(
    F: VectorField,
    Z0: np.ndarray,
    scale: np.ndarray,
    method: str,
    h: float,
    steps: int,
    frame: Callable[[np.ndarray], np.ndarray] | None = None,
    project: Callable[[np.ndarray], np.ndarray] | None = None,
) -> PairRun:
    """Iterate ``x <- x - h F(x)`` (``method="euler"``; ``x <- P_X(x - h F(x))`` with
    ``project``, projected Euler) or classical RK4 on ``x' = -F(x)`` from the rows of Z0,
    whose first and second halves are paired; distances are ``||scale * frame(x - y)||_2``
    (``frame`` defaults to the identity)."""
    if project is not None and method != "euler":
        raise ValueError("only Euler steps are projected (RK4 is unconstrained only)")
    P = Z0.shape[0] // 2
    Z = Z0.copy()

    def minus_F(Z: np.ndarray) -> np.ndarray:
        return -F(Z)

    def dist(Z: np.ndarray) -> np.ndarray:
        diff = Z[:P] - Z[P:]
        return np.asarray(np.linalg.norm(scale * (diff if frame is None else frame(diff)), axis=1))

    d0 = dist(Z)
    prev = d0
    worst = 0.0
    diverged = False
    with np.errstate(all="ignore"):
        for _ in range(steps):
            Z = Z - h * F(Z) if method == "euler" else rk4_step(minus_F, Z, h)
            if project is not None:
                Z = project(Z)
            if not np.all(np.isfinite(Z)):
                diverged = True
                break
            cur = dist(Z)
            live = prev > 1e-9 * d0
            if live.any():
                worst = max(worst, float(np.max(cur[live] / prev[live])))
            prev = cur
    decay = float(np.max(prev / d0)) if not diverged else math.inf
    return PairRun(worst, decay, diverged)


def ball_points(rng: np.random.Generator, n: int, d: int, radius: float) -> np.ndarray:
    """n points uniform in the Euclidean ball of ``radius`` around 0 in R^d."""
    g = rng.standard_normal((n, d))
    g /= np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-300)
    return np.asarray(g * (radius * rng.random((n, 1)) ** (1.0 / d)))
