"""Curvature, coupling and Lipschitz constants of a game on its region (SPEC 2).

For each point x of a sample of R (or the single Jacobian of an affine game):

    mu_i(x)   = lambda_min(sym J_ii(x))
    L_ij(x)   = ||J_ij(x)||_2                       (i != j)
    gamma(x)  = lambda_min(sym J(x))                (Euclidean monotonicity, Rosen)
    beta_w(x) = ||M^{1/2} J(x) M^{-1/2}||_2         (given weights w)
    at_w(x)   = lambda_min(sym(M^{1/2} J(x) M^{-1/2}))   (alpha_true(w))

and the constants are the extrema over the points. One Jacobian per point (``jacfwd`` of
F, ``vmap``-ed over a fixed-size batch and ``jit``-ed once); blocks are gathered from it
into an (N, D, N, D) array padded to the largest block D, so each statistic is one batched
symmetric eigenvalue call. Spectral norms are sqrt(lambda_max(B^T B)).

Provenance: ``exact`` when F is affine (J constant, one Jacobian), ``sampled`` otherwise:
the extremum over finitely many points is an estimate of the inf / sup over R, not a bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .errors import NumericalError
from .game import Game

BATCH_BYTES = 256 * 1024 * 1024  # memory budget for one batch of Jacobians and work arrays


@dataclass(frozen=True)
class Constants:
    """mu (N,), L (N, N) with zero diagonal, gamma; extrema over ``points``."""

    mu: np.ndarray
    L: np.ndarray
    gamma: float
    provenance: str  # "exact" | "sampled"
    samples: int
    worst: dict  # statistic -> index of the point attaining it
    center_value: np.ndarray | None = None  # F at the first point (the centre), when sampled
    jacobians: np.ndarray | None = None  # the metric-space Jacobians at the samples, when kept


@dataclass(frozen=True)
class WeightedConstants:
    """beta(w) = sup ||M^1/2 J M^-1/2||_2 and alpha_true(w) = inf lambda_min(sym(.))."""

    beta: float
    alpha_true: float


BATCH_POINTS = 256  # one batch shape per game: every pass (and verify's resampling) reuses one compilation


def batch_size(n_points: int, dim: int) -> int:
    """Fixed batch size: BATCH_POINTS Jacobians (fewer when ~6 d x d work arrays each exceed
    the memory budget), independent of ``n_points`` so the jitted kernels compile once."""
    per_point = 6 * 8 * dim * dim + 1
    return int(max(1, min(BATCH_POINTS, BATCH_BYTES // per_point)))


def _layout(game: Game):
    """Gather indices idx (N, D) and mask (N, D) placing block i's coordinates first
    (blocks of the metric space: the Jacobian's, or the Fisher-reduced ones)."""
    sizes = game.metric_block_sizes
    D = max(sizes)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
    idx = np.zeros((len(sizes), D), dtype=np.int32)
    mask = np.zeros((len(sizes), D), dtype=bool)
    for i, (o, n) in enumerate(zip(offsets, sizes)):
        idx[i, :n] = np.arange(o, o + n)
        mask[i, :n] = True
    return idx, mask


def _sym(a):
    """sym B = (B + B^T) / 2 over the last two axes (numpy or JAX arrays)."""
    return 0.5 * (a + a.swapaxes(-1, -2))


def block_statistics(J, idx, mask, xp=np):
    """Per-point (mu, L, gamma) of a batch of Jacobians J (B, d, d), in numpy or jax.numpy.

    Blocks are gathered into (B, N, N, D, D) with zero padding; the padded part of each
    diagonal block is shifted by 2 (1 + ||J||_F), above every eigenvalue of sym J_ii, so
    the smallest eigenvalue is that of sym J_ii itself.
    """
    N, D = mask.shape
    blockmask = (mask[:, :, None, None] & mask[None, None, :, :]).astype(np.float64)
    Jp = J[:, idx[:, :, None, None], idx[None, None, :, :]] * blockmask  # (B, N, D, N, D)
    blocks = Jp.transpose(0, 1, 3, 2, 4)  # (B, N, N, D, D)
    diag = blocks[:, np.arange(N), np.arange(N)]  # (B, N, D, D)
    big = 2.0 * (1.0 + xp.sqrt(xp.sum(J * J, axis=(1, 2))))
    pad = (~mask).astype(np.float64)[None, :, :, None] * np.eye(D)
    mu = xp.linalg.eigvalsh(_sym(diag) + big[:, None, None, None] * pad)[..., 0]
    L = spectral_norm(blocks, xp) * (1.0 - np.eye(N))
    gamma = xp.linalg.eigvalsh(_sym(J))[:, 0]
    return mu, L, gamma


def weighted_statistics(J, s, xp=np):
    """Per-point (||K||_2, lambda_min(sym K)) with K = S J S^{-1}, S = diag(s)."""
    K = s[None, :, None] * J / s[None, None, :]
    return spectral_norm(K, xp), xp.linalg.eigvalsh(_sym(K))[:, 0]


def spectral_norm(B, xp=np):
    """||B||_2 = sqrt(lambda_max(B^T B)) over the last two axes."""
    return xp.sqrt(xp.maximum(xp.linalg.eigvalsh(B.swapaxes(-1, -2) @ B)[..., -1], 0.0))


def _kernels(game: Game):
    """Jitted batch kernels for sampled games.

    The expensive one, ``jacobians(X, p) -> (F(X), K(X))`` (one Jacobian per point, mapped
    to the metric space), is compiled once and shared by every pass; the statistics
    kernels take the Jacobians as input and compile in milliseconds.
    """
    import jax
    import jax.numpy as jnp

    idx, mask = _layout(game)
    F = game.pseudo_gradient
    value = jax.vmap(F, in_axes=(0, None))
    jac_plain = jax.vmap(jax.jacfwd(F), in_axes=(0, None))
    if game.transform is None:
        def jacobians(X, p):
            return value(X, p), jac_plain(X, p)
    else:  # Fisher geometry: K = E(x)^T J(x) E(x)
        transform = jax.vmap(game.transform)

        def jacobians(X, p):
            E = transform(X)
            return value(X, p), E.swapaxes(1, 2) @ jac_plain(X, p) @ E

    def block_stats(K):
        finite = jnp.all(jnp.isfinite(K), axis=(1, 2))
        return (*block_statistics(K, idx, mask, jnp), finite)

    def weighted_stats(K, s):
        return weighted_statistics(K, s, jnp)

    return jax.jit(jacobians), jax.jit(block_stats), jax.jit(weighted_stats)


_KERNEL_CACHE: dict[tuple, tuple] = {}


def _compiled_key(game: Game) -> tuple:
    """Compiled kernels depend only on F and the block layout, not on parameter values
    (params are traced arguments), so games differing only in params share them."""
    return (id(game.pseudo_gradient), id(game.transform), game.block_sizes, game.metric_block_sizes)


def kernels(game: Game):
    """(jacobians, block_stats, weighted_stats, value_and_jacobian) jitted for this game's F, cached."""
    key = _compiled_key(game)
    if key not in _KERNEL_CACHE:
        if len(_KERNEL_CACHE) > 8:
            _KERNEL_CACHE.clear()
        import jax

        F = game.pseudo_gradient
        vj = jax.jit(lambda x, p: (F(x, p), jax.jacfwd(F)(x, p)))
        # keep F and the transform alive so their ids stay unique while cached
        _KERNEL_CACHE[key] = ((game.pseudo_gradient, game.transform), (*_kernels(game), vj))
    return _KERNEL_CACHE[key][1]


def pointwise_statistics(game: Game, points: np.ndarray, weights=None,
                         progress: Callable[[int, int], None] | None = None,
                         keep_jacobians: bool = False) -> dict[str, np.ndarray]:
    """Per-point statistics of the (metric-space) Jacobians at ``points`` (n, d):
    ``mu`` (n, N), ``L`` (n, N, N), ``gamma`` (n,), ``finite`` (n,), ``value0`` (F at the
    first point) and, with ``weights``, ``beta`` (n,) and ``alpha_true`` (n,).
    ``keep_jacobians``: also ``jacobians`` (n, d_m, d_m), if they fit in BATCH_BYTES."""
    import jax.numpy as jnp

    jacobians, block_stats, weighted_stats, _ = kernels(game)
    p = game.jax_params()
    sj = None if weights is None else jnp.asarray(weight_scaling(game, weights))
    size = batch_size(points.shape[0], game.dim)
    out: dict[str, list] = {k: [] for k in ("mu", "L", "gamma", "finite", "beta", "alpha_true")}
    value0 = None
    dm = sum(game.metric_block_sizes)
    keep = keep_jacobians and points.shape[0] * dm * dm * 8 <= BATCH_BYTES
    kept = []
    for start, count, chunk in _batches(points, size):
        values, K = jacobians(jnp.asarray(chunk), p)
        if value0 is None:
            value0 = np.asarray(values[0])
        if keep:
            kept.append(np.asarray(K)[:count])
        for key, arr in zip(("mu", "L", "gamma", "finite"), block_stats(K)):
            out[key].append(np.asarray(arr)[:count])
        if sj is not None:
            for key, arr in zip(("beta", "alpha_true"), weighted_stats(K, sj)):
                out[key].append(np.asarray(arr)[:count])
        if progress:
            progress(start + count, points.shape[0])
    result = {k: np.concatenate(v) for k, v in out.items() if v}
    result["value0"] = value0
    if keep:
        result["jacobians"] = np.concatenate(kept)
    return result


def _batches(points: np.ndarray, size: int):
    """Fixed-size batches; the last one is padded with copies of the first point."""
    n = points.shape[0]
    for start in range(0, n, size):
        chunk = points[start:start + size]
        if chunk.shape[0] < size:
            chunk = np.concatenate([chunk, np.repeat(points[:1], size - chunk.shape[0], axis=0)])
        yield start, min(size, n - start), chunk


def exact_constants(game: Game, J: np.ndarray) -> Constants:
    """mu, L, gamma of an affine game from its constant Jacobian J (provenance ``exact``)."""
    idx, mask = _layout(game)
    mu, L, gamma = block_statistics(np.asarray(J)[None], idx, mask)
    return Constants(mu=mu[0], L=L[0], gamma=float(gamma[0]), provenance="exact", samples=1,
                     worst={"mu": [0] * game.n_players, "gamma": 0})


def sampled_constants(game: Game, points: np.ndarray,
                      progress: Callable[[int, int], None] | None = None, keep_jacobians: bool = False) -> Constants:
    """mu, L and gamma as extrema over ``points`` (n, d) (provenance ``sampled``)."""
    st = pointwise_statistics(game, points, progress=progress, keep_jacobians=keep_jacobians)
    if not st["finite"].all():
        bad = int(np.argmin(st["finite"]))
        raise NumericalError(f"the Jacobian is not finite at sample {bad}: "
                             f"x = {np.array2string(points[bad], threshold=8)}")
    mu, L, gamma = st["mu"], st["L"], st["gamma"]
    worst = {"mu": [int(k) for k in np.argmin(mu, axis=0)], "gamma": int(np.argmin(gamma))}
    return Constants(mu=mu.min(axis=0), L=L.max(axis=0), gamma=float(gamma.min()),
                     provenance="sampled", samples=int(points.shape[0]), worst=worst, center_value=st["value0"],
                     jacobians=st.get("jacobians"))


def weight_scaling(game: Game, weights) -> np.ndarray:
    """s = diag(M(w))^{1/2}: sqrt(w_i) repeated over player i's block (of the metric space)."""
    return np.concatenate([np.full(n, np.sqrt(w)) for n, w in zip(game.metric_block_sizes, weights)])


def weighted_constants(game: Game, weights, *, points: np.ndarray | None = None, J: np.ndarray | None = None,
                       progress: Callable[[int, int], None] | None = None) -> WeightedConstants:
    """beta(w) and alpha_true(w): from the constant Jacobian ``J``, or as extrema over ``points``."""
    if J is not None:
        beta, at = weighted_statistics(np.asarray(J)[None], weight_scaling(game, weights))
    else:
        st = pointwise_statistics(game, points, weights, progress=progress)
        beta, at = st["beta"], st["alpha_true"]
    if not (np.all(np.isfinite(beta)) and np.all(np.isfinite(at))):
        raise NumericalError("the weighted Jacobian statistics are not finite")
    return WeightedConstants(beta=float(beta.max()), alpha_true=float(at.min()))


def value_and_jacobian(game: Game, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F(x), J(x)) as numpy arrays, from one jit-compiled call."""
    import jax.numpy as jnp

    value, jac = kernels(game)[3](jnp.asarray(x), game.jax_params())
    value, jac = np.asarray(value), np.asarray(jac)
    if not (np.all(np.isfinite(value)) and np.all(np.isfinite(jac))):
        raise NumericalError(f"F or its Jacobian is not finite at x = {np.array2string(np.asarray(x), threshold=8)}")
    return value, jac
