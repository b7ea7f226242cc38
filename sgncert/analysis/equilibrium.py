"""Solving F(x) = 0 for ``center: equilibrium`` (docs/theory.md §10).

Affine F = Hx + c: x = -H^{-1} c (least squares when H is singular, then checked).
Otherwise a damped Newton method (backtracking on ||F||^2) from the origin, falling back
to extragradient steps when a Newton direction cannot be computed or does not descend.
For softmax games the gauge is fixed: the iteration runs in x = B z with B the basis of
the complement of the per-state all-ones directions (F is orthogonal to them and J
annihilates them), so the Newton systems B^T J B are regular. The residual ||F(x_hat)|| is returned; once alpha > 0 is certified, strong monotonicity
in M gives the a-posteriori bound ||x_hat - x*||_M <= ||F(x_hat)||_M / alpha.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import NumericalError
from ..games.model import Game
from ..util.jaxenv import float64


@dataclass(frozen=True)
class Equilibrium:
    x: np.ndarray
    residual: float  # ||F(x)||_2
    method: str
    iterations: int


@float64
def solve_equilibrium(game: Game, *, tol: float = 1e-12, max_iter: int = 100) -> Equilibrium:
    """Approximate Nash equilibrium x_hat: ||F(x_hat)||_2 <= tol * (1 + ||F(0)||_2) (or the
    residual float64 can reach, 64 eps (||J||_F ||x_hat|| + ||F(0)||)) and a Newton correction
    below 1e-6 (1 + ||x_hat||); NumericalError when not reached. The residual reached is
    recorded: every distance bound uses it, not the target.
    Constrained games: :func:`solve_variational_inequality`."""
    import jax
    import jax.numpy as jnp

    if game.constrained:
        return solve_variational_inequality(game, tol=tol)

    B = np.eye(game.dim) if game.gauge is None else np.asarray(game.gauge)
    parts = game.numpy_affine_parts()
    if parts is not None:  # F(x) = H x + c in NumPy: no compilation (sweep points)
        H, c = parts

        def F_full(x):
            return H @ np.asarray(x) + c

        def J_full(x):
            return H
    else:
        p = game.jax_params()
        F_full = jax.jit(lambda x: game.pseudo_gradient(x, p))
        J_full = jax.jit(jax.jacfwd(lambda x: game.pseudo_gradient(x, p)))

    def F(x):
        return B.T @ np.asarray(F_full(x))

    def J(x):
        return B.T @ np.asarray(J_full(x)) @ B

    x = np.zeros(game.dim)
    f0 = np.asarray(F(jnp.asarray(x)))
    if not np.all(np.isfinite(f0)):
        raise NumericalError("equilibrium: F is not finite at the starting point 0")
    target = tol * (1.0 + float(np.linalg.norm(f0)))
    f, method = f0, "newton"
    for it in range(1, max_iter + 1):
        r = float(np.linalg.norm(f))
        Jx = np.asarray(J(jnp.asarray(x)))
        try:
            step = B @ np.linalg.solve(Jx, -f)
        except np.linalg.LinAlgError:
            step = B @ np.linalg.lstsq(Jx, -f, rcond=None)[0]
        # converged: a small residual AND a small Newton correction (a residual that is small
        # only because F decays, as e^x does towards -inf, is not a root). The residual float64
        # can reach is about eps (||J|| ||x|| + ||F(0)||): below that the target is not asked
        floor = (
            64
            * np.finfo(np.float64).eps
            * (float(np.linalg.norm(Jx)) * float(np.linalg.norm(x)) + float(np.linalg.norm(f0)))
        )
        if r <= max(target, floor) and float(np.linalg.norm(step)) <= 1e-6 * (1.0 + float(np.linalg.norm(x))):
            return Equilibrium(x, r, method, it - 1)
        t, accepted = 1.0, False
        while t > 1e-10 and np.all(np.isfinite(step)):
            cand = x + t * step
            fc = np.asarray(F(jnp.asarray(cand)))
            if np.all(np.isfinite(fc)) and np.linalg.norm(fc) < (1.0 - 1e-4 * t) * r:
                x, f, accepted = cand, fc, True
                break
            t *= 0.5
        if not accepted:  # extragradient: x+ = x - eta F(x - eta F(x)), eta from the Jacobian's size
            method = "newton+extragradient"
            eta = 0.5 / max(float(np.linalg.norm(Jx, 2)), 1e-12)
            half = x - eta * (B @ f)
            cand = x - eta * (B @ np.asarray(F(jnp.asarray(half))))
            fc = np.asarray(F(jnp.asarray(cand)))
            if not np.all(np.isfinite(fc)):
                break
            x, f = cand, fc
    r = float(np.linalg.norm(f))
    raise NumericalError(
        f"equilibrium: the solver did not converge (residual ||F(x)|| = {r:.3g} after {max_iter} iterations)"
    )


def _field(game: Game):
    """F and J as NumPy functions: NumPy for pseudo-gradient blocks, jitted JAX otherwise."""
    import jax

    parts = game.numpy_affine_parts()
    if parts is not None:
        H, c = parts
        return (lambda x: H @ np.asarray(x) + c), (lambda x: H)
    p = game.jax_params()
    F = jax.jit(lambda x: game.pseudo_gradient(x, p))
    J = jax.jit(jax.jacfwd(lambda x: game.pseudo_gradient(x, p)))
    return (lambda x: np.asarray(F(np.asarray(x)))), (lambda x: np.asarray(J(np.asarray(x))))


def natural_residual(game: Game, F, x: np.ndarray, h: float = 1.0) -> float:
    """||x - P_X(x - h F(x))||_2 / h: zero exactly at a solution of the variational inequality."""
    assert game.sets is not None
    return float(np.linalg.norm(game.sets.natural_map(x, h * F(x)))) / h


@float64
def solve_variational_inequality(
    game: Game, *, tol: float = 1e-12, max_iter: int = 200, max_extragradient: int = 20000
) -> Equilibrium:
    """The equilibrium of a constrained game: x* in X with <F(x*), x - x*> >= 0 for every x in
    X, i.e. the fixed point of T_h(x) = P_X(x - h F(x)) (docs/theory.md §13).

    Semismooth Newton on G(x) = x - P_X(x - h F(x)) (h = 1/||J(x_0)||_2, the generalised
    Jacobian I - D (I - h J) with D an element of the projection's Clarke Jacobian; iterates
    projected onto X, so F is never evaluated outside X) for the fast local phase, and
    projected extragradient steps (Korpelevich, step backtracked until
    eta ||F(y) - F(x)|| <= 0.9 ||y - x||; convergent for monotone Lipschitz F) wherever a
    Newton step does not reduce ||G||. Stops when ||G(x)|| <= tol (1 + ||x||) (G is in x's
    units whatever the scale of F) and the Newton correction is below 1e-6 (1 + ||x||);
    NumericalError with the residual reached otherwise.

    Returns:
        An :class:`Equilibrium` whose ``residual`` is the natural-map residual
        ||x - P_X(x - F(x))||_2 (at h = 1).
    """
    sets = game.sets
    assert sets is not None
    F, J = _field(game)
    x = sets.project(np.zeros(game.dim))
    f = F(x)
    if not np.all(np.isfinite(f)):
        raise NumericalError("equilibrium: F is not finite at the starting point P_X(0)")
    norm_J = float(np.linalg.norm(J(x), 2))
    h = 1.0 / norm_J if norm_J > 0 else 1.0  # G(x) = x - P_X(x - h F(x)) is then in x's units
    eye = np.eye(game.dim)
    far = 1e8 * (1.0 + float(np.linalg.norm(x)) + float(np.linalg.norm(f)) * h)  # iterates past this diverge

    def diverged(z: np.ndarray) -> None:
        if not (np.all(np.isfinite(z)) and float(np.linalg.norm(z)) <= far):
            r = float(np.linalg.norm(G(x, f))) / h
            raise NumericalError(
                f"equilibrium: the iterates of the variational inequality solver diverge (||x|| > {far:.3g}; "
                f"natural-map residual {r:.3g}): the game may have no equilibrium in X"
            )

    def G(z: np.ndarray, fz: np.ndarray) -> np.ndarray:
        return sets.natural_map(z, h * fz)

    g = G(x, f)
    method, eg_steps, eta, correction = "semismooth newton", 0, h, math.inf
    for _ in range(max_iter):
        D = sets.projection_jacobian(x - h * f)
        dG = (eye - D) + h * (D @ J(x))  # I - D (I - h J), without cancelling h J against I
        try:
            delta = np.linalg.solve(dG, -g)
        except np.linalg.LinAlgError:
            delta = np.linalg.lstsq(dG, -g, rcond=None)[0]
        # converged: the natural map is small in x's own units AND so is the Newton correction
        # (a map that is small only because F decays, as e^-x does towards +inf, is not a solution)
        size, correction = 1.0 + float(np.linalg.norm(x)), float(np.linalg.norm(delta))
        if float(np.linalg.norm(g)) <= tol * size and correction <= 1e-6 * size:
            return Equilibrium(x, natural_residual(game, F, x), method, eg_steps)
        cand = sets.project(x + delta)
        diverged(cand)
        fc = F(cand)
        if np.all(np.isfinite(fc)) and np.linalg.norm(gc := G(cand, fc)) < (1.0 - 1e-4) * np.linalg.norm(g):
            x, f, g = cand, fc, gc
            continue
        method = "semismooth newton + projected extragradient"
        for _ in range(50):  # a run of extragradient steps, then Newton again
            if eg_steps >= max_extragradient:
                break
            while True:
                y = sets.project(x - eta * f)
                fy = F(y)
                if not np.all(np.isfinite(fy)):
                    raise NumericalError("equilibrium: F is not finite at an extragradient point")
                if eta * np.linalg.norm(fy - f) <= 0.9 * np.linalg.norm(y - x) or eta < 1e-14:
                    break
                eta *= 0.5
            x = sets.project(x - eta * fy)
            diverged(x)
            f = F(x)
            eg_steps += 1
            eta *= 1.2  # let the step grow back
        g = G(x, f)
        if eg_steps >= max_extragradient:
            break
    r = float(np.linalg.norm(G(x, f)))
    raise NumericalError(
        f"equilibrium: the variational inequality solver did not converge (natural-map residual "
        f"||x - P_X(x - h F(x))|| = {r:.3g} at h = {h:.3g}, target {tol * (1 + float(np.linalg.norm(x))):.3g}; "
        f"last Newton correction {correction:.3g}: a small residual with a large correction means F only "
        "decays, with no equilibrium in X near x)"
    )


ROUNDING_ALLOWANCE = 1e-13  # relative size of the floating-point error allowed for in F(c)


def residual_allowance(s: np.ndarray, beta: float | None, center: np.ndarray, residual: float) -> float:
    """What the rounding of ``F(c)`` may hide: ``1e-13 (1 + ||F(c)||_M + (max s)^2 / min s
    beta ||c||)``, the size of the terms ``F(c)`` sums (``||J|| <= (max s / min s) beta``
    with ``s = diag(M)^1/2``). The certificate states ``||F(c)||_M`` plus this, so its
    distance bound allows for rounding; verify recomputes both (docs/theory.md §10)."""
    s = np.asarray(s, dtype=np.float64)
    b = float(beta) if beta is not None and np.isfinite(beta) else 0.0
    size = 1.0 + float(residual) + float(np.max(s)) ** 2 / float(np.min(s)) * b * float(np.linalg.norm(center))
    return ROUNDING_ALLOWANCE * size


def natural_residual_allowance(
    s: np.ndarray, beta: float | None, h: float, center: np.ndarray, F_center: np.ndarray, residual: float
) -> float:
    """What rounding may hide in ``||c - P_X(c - h F(c))||_M`` (constrained games):
    ``1e-13 (1 + r + max s (||c|| + h (||F(c)|| + (max s / min s) beta ||c||)))``: the
    terms ``c - h F(c)`` sums, with ``F(c)``'s own error (``||J|| <= (max s / min s) beta``)
    magnified by ``h`` (docs/theory.md §13). Certify adds it; verify recomputes both."""
    s = np.asarray(s, dtype=np.float64)
    b = float(beta) if beta is not None and np.isfinite(beta) else 0.0
    c, f = float(np.linalg.norm(center)), float(np.linalg.norm(F_center))
    size = 1.0 + float(residual) + float(np.max(s)) * (c + h * (f + float(np.max(s)) / float(np.min(s)) * b * c))
    return ROUNDING_ALLOWANCE * size
