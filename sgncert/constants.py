"""Curvature, coupling and Lipschitz constants of a game on its region (SPEC 2).

For each point x of a sample of R (or the single Jacobian of an affine game):

    mu_i(x)   = lambda_min(sym J_ii(x))
    L_ij(x)   = ||J_ij(x)||_2                       (i != j)
    gamma(x)  = lambda_min(sym J(x))                (Euclidean monotonicity, Rosen)
    beta_w(x) = ||M^{1/2} J(x) M^{-1/2}||_2         (given weights w)
    at_w(x)   = lambda_min(sym(M^{1/2} J(x) M^{-1/2}))   (alpha_true(w))

and the constants are the extrema over the points. One Jacobian per point (``jacfwd`` of
F, ``vmap``-ed over a fixed-size batch and ``jit``-ed once); blocks are gathered from it
into an (N, D, N, D) array padded to the largest block D (a free reshape when all blocks
have one size). Spectral norms are sqrt(lambda_max(B^T B)). On the large path, games
given by cost expressions (Euclidean geometry) skip the full Jacobian: their cost
templates (:mod:`sgncert.structure`) give it by block rows, only the blocks J_ij with j
mentioned in f_i (the others are exactly zero).

Two paths for sampled games, chosen by the dimension d of the metric space:

- ``d <= DENSE_MAX_DIM`` (dense): every statistic is a batched dense symmetric eigenvalue
  call per point, as written above (exact to rounding).
- ``d > DENSE_MAX_DIM`` (large): the d x d eigenvalue problems would cost O(d^3) per
  point, so
    * mu_i: dense eigenvalues of the N diagonal D x D blocks (exact, as above; LAPACK on
      the host, which beats XLA's batched eigvalsh for small blocks on CPU);
    * L_ij: dense spectral norms of the blocks that are nonzero at some point of the
      batch; a block whose entries are all exactly 0 has norm exactly 0 (block sparsity
      costs nothing);
    * gamma, alpha_true, beta: Lanczos (three-term recurrence with local
      reorthogonalisation) on sym J, sym K and K^T K (K = S J S^-1), each operator stored
      by block rows with only the blocks that are nonzero somewhere in the batch (dense
      when that is at least half of them), one problem per compiled loop, in chunks of
      LANCZOS_CHUNK steps for a batch of points at once. When the residual estimate
      |b_k s_k| of the extreme Ritz pair (theta, s) of T_k is small, the Ritz vector
      y = Q s is formed and the explicit residual rho = ||A y - theta y|| / ||y|| plus a
      rounding allowance is computed; the value is accepted when rho <= tol * ||T_k||
      (``LANCZOS_TOL`` = 1e-10 for beta, a certified constant; ``LANCZOS_TOL_DIAGNOSTIC`` =
      1e-6 for the diagnostics gamma and alpha_true). A symmetric matrix has an eigenvalue
      within rho of theta, so the value reported is on the safe side of the Ritz value:
      ``theta - rho`` for the lambda_min's (at most ~1e-6 ||.|| below the dense value),
      ``sqrt(theta + rho)`` for beta (at most ~1e-10 relative above ||K||_2). That theta
      approximates the *extreme* eigenvalue (not an interior one) is what Lanczos from a
      fixed Gaussian start vector delivers unless that vector is (numerically) orthogonal
      to the extreme eigenvector; a point that does not converge within
      ``LANCZOS_MAX_STEPS`` falls back to the dense eigenvalues.

Provenance: ``exact`` when F is affine (J constant, one Jacobian, always the dense
formulas), ``sampled`` otherwise: the extremum over finitely many points is an estimate of
the inf / sup over R, not a bound.

Compilation: the pseudo-gradient is traced once and dead code is removed from its jaxpr
before the Jacobian kernel is built (a cost-based F evaluates every player's cost inside
each player's gradient; the unused ones are dropped), parameters are traced arguments (a
sweep compiles once), and batch shapes are fixed.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .errors import NumericalError
from .game import Game

BATCH_BYTES = 256 * 1024 * 1024  # memory budget for one batch of Jacobians and work arrays (at most)
LARGE_BATCH_BYTES = 512 * 1024 * 1024  # the same for the large path (a few points of d x d each)
MEMORY_SHARE = 8  # a batch uses at most 1/MEMORY_SHARE of the memory available when the process starts


@functools.lru_cache(maxsize=1)
def available_memory() -> int | None:
    """Bytes of memory available to this process (MemAvailable, or free pages), read once
    per process so that every pass uses the same batch shapes; None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def memory_budget(cap: int) -> int:
    """Bytes one batch may use: ``cap``, or less when 1/MEMORY_SHARE of the available
    memory is smaller (at least 16 MiB)."""
    avail = available_memory()
    if avail is None:
        return cap
    return int(max(16 * 1024 * 1024, min(cap, avail // MEMORY_SHARE)))


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
LARGE_BATCH_POINTS = 8  # large path: small batches keep a batch's operators in cache
DENSE_MAX_DIM = 64  # sampled games of larger (metric) dimension use the large path (module docstring;
# measured on 2 cores, ring games with 16-dim blocks and 1025 samples: d = 64 dense 7.4 s / large 8.7 s,
# d = 96 12.7 s / 10.1 s, d = 128 22.4 s / 10.1 s)
LANCZOS_MAX_STEPS = 512  # per point; beyond this the point falls back to dense eigenvalues
LANCZOS_CHUNK = 32  # Lanczos steps per compiled call (convergence is checked between calls; 16 was 6-20% slower)
LANCZOS_TOL = 1e-10  # relative residual for beta (certified)
LANCZOS_TOL_DIAGNOSTIC = 1e-6  # relative residual for gamma and alpha_true (diagnostics; the value is shifted by it)
LANCZOS_SEED = 20251208  # the fixed Gaussian start vector


def large_path(dim: int) -> bool:
    """True when sampled statistics of a ``dim``-dimensional metric space use the large path."""
    return dim > DENSE_MAX_DIM


def batch_size(n_points: int, dim: int) -> int:
    """Fixed batch size: BATCH_POINTS Jacobians (fewer when the per-point work arrays exceed
    the memory budget: BATCH_BYTES, or 1/MEMORY_SHARE of the available memory if smaller), independent of ``n_points`` so the jitted kernels
    compile once. Dense path: ~6 d x d arrays a point within BATCH_BYTES; large path (at
    most LARGE_BATCH_POINTS, within LARGE_BATCH_BYTES): ~5 d x d arrays (Jacobian, blocks,
    operators when every block is nonzero) plus three Lanczos bases of up to LANCZOS_MAX_STEPS + 1 vectors. Never O(samples x d^2)."""
    if large_path(dim):
        per_point = 5 * 8 * dim * dim + 3 * 8 * (min(dim, LANCZOS_MAX_STEPS) + 1) * dim
        return int(max(1, min(LARGE_BATCH_POINTS, memory_budget(LARGE_BATCH_BYTES) // per_point)))
    per_point = 6 * 8 * dim * dim + 1
    return int(max(1, min(BATCH_POINTS, memory_budget(BATCH_BYTES) // per_point)))


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


def _blocks(J, idx, mask):
    """(B, N, N, D, D) blocks of a batch of Jacobians (B, d, d), zero-padded to D.
    Equal block sizes: a reshape; otherwise a gather."""
    N, D = mask.shape
    if mask.all():
        return J.reshape(J.shape[0], N, D, N, D).swapaxes(2, 3)
    blockmask = (mask[:, :, None, None] & mask[None, None, :, :]).astype(np.float64)
    Jp = J[:, idx[:, :, None, None], idx[None, None, :, :]] * blockmask  # (B, N, D, N, D)
    return Jp.swapaxes(2, 3)


def _diag_lambda_min(diag, fro2, mask):
    """(B, N) lambda_min(sym J_ii) of the diagonal blocks ``diag`` (B, N, D, D), zero-padded
    to D. The padded part of each block is shifted by 2 (1 + ||J||_F) (``fro2`` (B,) is
    ||J||_F^2), above every eigenvalue of sym J_ii, so the smallest eigenvalue is that of
    sym J_ii itself."""
    D = mask.shape[1]
    big = 2.0 * (1.0 + np.sqrt(fro2))
    pad = (~mask).astype(np.float64)[None, :, :, None] * np.eye(D)
    return np.linalg.eigvalsh(_sym(diag) + big[:, None, None, None] * pad)[..., 0]


def block_statistics(J, idx, mask):
    """Per-point (mu, L, gamma) of a batch of Jacobians J (B, d, d) (the dense formulas)."""
    N, D = mask.shape
    blocks = _blocks(J, idx, mask)
    mu = _diag_lambda_min(blocks[:, np.arange(N), np.arange(N)], np.sum(J * J, axis=(1, 2)), mask)
    L = spectral_norm(blocks) * (1.0 - np.eye(N))
    gamma = np.linalg.eigvalsh(_sym(J))[:, 0]
    return mu, L, gamma


def weighted_statistics(J, s):
    """Per-point (||K||_2, lambda_min(sym K)) with K = S J S^{-1}, S = diag(s)."""
    K = s[None, :, None] * J / s[None, None, :]
    return spectral_norm(K), np.linalg.eigvalsh(_sym(K))[:, 0]


def spectral_norm(B):
    """||B||_2 = sqrt(lambda_max(B^T B)) over the last two axes."""
    return np.sqrt(np.maximum(np.linalg.eigvalsh(B.swapaxes(-1, -2) @ B)[..., -1], 0.0))


def _dce_pseudo_gradient(game: Game):
    """F with dead code removed: trace F once, drop the equations no output needs, and
    evaluate the remaining jaxpr. A cost-based F computes every player's cost inside each
    player's gradient (N^2 cost evaluations, N of them used); without this, jacfwd would
    differentiate (and XLA compile) all of them. Falls back to F itself if anything fails."""
    import jax
    import jax.numpy as jnp

    F = game.pseudo_gradient
    try:
        from jax._src.interpreters import partial_eval as pe
        from jax.extend.core import ClosedJaxpr, jaxpr_as_fun

        p = game.jax_params()
        closed = jax.make_jaxpr(F)(jnp.zeros(game.dim), p)
        jaxpr, _ = pe.dce_jaxpr(closed.jaxpr, [True] * len(closed.jaxpr.outvars), instantiate=True)
        if len(jaxpr.eqns) >= len(closed.jaxpr.eqns):
            return F
        fun = jaxpr_as_fun(ClosedJaxpr(jaxpr, closed.consts))
        treedef = jax.tree_util.tree_structure(p)

        def F_small(x, params):
            leaves, tdef = jax.tree_util.tree_flatten(params)
            if tdef != treedef:
                return F(x, params)
            return fun(x, *leaves)[0]

        return F_small
    except Exception:  # private API moved, unusual primitives: the plain F is always correct
        return F


def _kernels(game: Game):
    """Jitted batch kernels for sampled games.

    ``jacobians(X, p) -> (F(X), K(X))`` (one Jacobian per point, mapped to the metric
    space) is compiled once and shared by every pass. No XLA program here calls LAPACK
    (see :func:`_host_statistics`): the statistics and the Fisher frames E(x) are computed
    on the host.
    """
    import jax

    F = _dce_pseudo_gradient(game)
    value = jax.vmap(F, in_axes=(0, None))
    jac_plain = jax.vmap(jax.jacfwd(F), in_axes=(0, None))
    plain = jax.jit(lambda X, p: (value(X, p), jac_plain(X, p)))
    if game.transform is None:
        return plain, F

    def jacobians(X, p):  # Fisher geometry: K = E(x)^T J(x) E(x), E by host LAPACK
        values, J = plain(X, p)
        E = game.transform(np.asarray(X))
        return values, E.swapaxes(1, 2) @ np.asarray(J) @ E

    return jacobians, F


_KERNEL_CACHE: dict[tuple, tuple] = {}


def _compiled_key(game: Game) -> tuple:
    """Compiled kernels depend only on F and the block layout, not on parameter values
    (params are traced arguments), so games differing only in params share them."""
    return (id(game.pseudo_gradient), id(game.transform), id(game.structure), game.block_sizes,
            game.metric_block_sizes)


def _cached(game: Game) -> dict:
    key = _compiled_key(game)
    if key not in _KERNEL_CACHE:
        if len(_KERNEL_CACHE) > 8:
            _KERNEL_CACHE.clear()
        # keep F and the transform alive so their ids stay unique while cached
        _KERNEL_CACHE[key] = ((game.pseudo_gradient, game.transform, game.structure), {})
    return _KERNEL_CACHE[key][1]


def kernels(game: Game):
    """(jacobians, value_and_jacobian) jitted for this game's F, cached."""
    entry = _cached(game)
    if "dense" not in entry:
        import jax

        jacobians, F_small = _kernels(game)
        vj = jax.jit(lambda x, p: (F_small(x, p), jax.jacfwd(F_small)(x, p)))
        entry["dense"] = (jacobians, vj)
    return entry["dense"]


def structured_rows(game: Game) -> bool:
    """True when the large path takes the Jacobian by block rows from the game's cost
    templates (:mod:`sgncert.structure`): cost expressions in the Euclidean geometry."""
    return game.structure is not None and game.transform is None


def _rows_kernel(game: Game):
    """jit of :func:`sgncert.structure.block_row_jacobian` for this game, cached."""
    entry = _cached(game)
    if "rows" not in entry:
        import jax

        from .structure import block_row_jacobian

        entry["rows"] = jax.jit(block_row_jacobian(game.structure, game.players))
    return entry["rows"]


# ----------------------------------------------------------------------------------------
# large path: block-sparse Lanczos


def _large_kernels(game: Game) -> dict:
    """Jitted kernels of the large path (B points, N players, blocks padded to D).

    The Lanczos operators are stored by block rows: ``cols`` (N, R) lists the R column
    blocks of each block row that are nonzero at some point of the batch (padded with
    ``valid`` = 0), and an operator is an array (B, N, D, R*D) of those blocks side by
    side, so a product costs O(nonzero blocks), with no scatter."""
    entry = _cached(game)
    if "large" in entry:
        return entry["large"]
    import jax
    import jax.numpy as jnp
    from jax import lax

    idx, mask = _layout(game)
    N, D = mask.shape
    rows_all = np.arange(N)[:, None]

    @jax.jit
    def rows_of(K):
        """Unstructured games: the Jacobians K (B, d, d) as block rows (B, N, N, D, D)
        (every column block, in order)."""
        return _blocks(K, idx, mask)

    @jax.jit
    def row_norms(G):
        """(B, N, R) squared Frobenius norms of the stored blocks and (B,) finiteness."""
        return jnp.sum(G * G, axis=(3, 4)), jnp.all(jnp.isfinite(G), axis=(1, 2, 3, 4))

    @jax.jit
    def small_blocks(G, diag_pos, rows, pos):
        """The diagonal blocks (B, N, D, D) and the blocks G[:, rows[q], pos[q]] (B, P, D, D)."""
        return G[:, np.arange(N), diag_pos], G[:, rows, pos]

    def build(problems, G, cols, fpos, bpos, valid, s):
        """The operators of ``problems``: sym J (gamma), sym K (alpha), K and K^T (beta),
        K = S J S^-1 with S = diag(s) constant on each block (s: (N,)). G (B, N, R0, D, D)
        holds the Jacobian by block rows; row i of an operator has the column blocks
        cols[i] (R of them), J_{i, cols[i, r]} = G[:, i, fpos[i, r]] and
        J_{cols[i, r], i} = G[:, cols[i, r], bpos[i, r]] (position R0: a zero block). Each
        is stored by block rows, (B, N, D, R*D) (row i: its R blocks side by side), or, when
        every block is listed (R = N), as a dense (B, N*D, N*D) matrix."""
        B = G.shape[0]
        R = cols.shape[1]
        Gz = jnp.concatenate([G, jnp.zeros_like(G[:, :, :1])], axis=2)
        GF = Gz[:, rows_all, fpos]  # (B, N, R, D, D): J_{i, c}
        GT = Gz[:, cols, bpos].swapaxes(-1, -2)  # (J_{c, i})^T
        v = valid[None, :, :, None, None]
        up = (s[:, None] / s[cols])[None, :, :, None, None]  # s_i / s_c

        def layout(op):
            op = (op * v).transpose(0, 1, 3, 2, 4).reshape(B, N, D, R * D)
            if R == N:  # columns in order 0..N-1: the dense matrix
                return op.reshape(B, N * D, N * D)
            return op

        sym_J = layout(0.5 * (GF + GT)) if "gamma" in problems else None
        sym_K = layout(0.5 * (GF * up + GT / up)) if "alpha" in problems else None
        if "beta" in problems:
            return sym_J, sym_K, layout(GF * up), layout(GT / up)
        return sym_J, sym_K, None, None

    def matvec(op, cols, v):
        """op applied to v (B, N, D) (matrix-vector products: XLA's batched dot is fastest
        with one right-hand side)."""
        B = v.shape[0]
        if op.ndim == 3:
            return (op @ v.reshape(B, N * D, 1)).reshape(B, N, D)
        return (op @ v[:, cols].reshape(B, N, -1, 1))[..., 0]

    def apply(kinds, ops, cols, V):
        """V (nprob, B, N*D) -> each problem's operator applied to its vectors: A v for
        kind "sym" (ops[p] = (A,): sym J for gamma, sym K for alpha) and K^T (K v) for kind
        "normal" (ops[p] = (K, K^T): beta), K = S J S^-1."""
        B = V.shape[1]
        out = []
        for p, kind in enumerate(kinds):
            v = V[p].reshape(B, N, D)
            if kind == "sym":
                w = matvec(ops[p][0], cols, v)
            else:
                w = matvec(ops[p][1], cols, matvec(ops[p][0], cols, v))
            out.append(w.reshape(B, N * D))
        return jnp.stack(out)

    def start(nprob, B, cap, v0):
        """Empty Lanczos state for ``nprob`` problems x B points: the basis Q (first vector
        v0) and the coefficients a, b."""
        Q = jnp.zeros((nprob, B, cap + 1, v0.shape[0])).at[:, :, 0].set(v0)
        return Q, jnp.zeros((nprob, B, cap)), jnp.zeros((nprob, B, cap))

    def chunk(kinds, steps, ops, cols, Q, a, b, k0):
        """``steps`` Lanczos steps from step k0 for every problem and point. Q (nprob, B,
        cap + 1, n) holds the basis (unused slots 0), a / b the recurrence coefficients.
        Plain three-term recurrence (no global reorthogonalisation: extreme Ritz values
        converge all the same, and every accepted value is checked by an explicit residual).
        The new vectors are written into Q once per chunk."""
        V0 = lax.dynamic_index_in_dim(Q, k0, axis=2, keepdims=False)
        Vp0 = lax.dynamic_index_in_dim(Q, jnp.maximum(k0 - 1, 0), axis=2, keepdims=False)
        bp0 = jnp.where(k0 > 0, lax.dynamic_index_in_dim(b, jnp.maximum(k0 - 1, 0), axis=2, keepdims=False), 0.0)

        def body(carry, _):
            V, Vp, bp = carry
            W = apply(kinds, ops, cols, V)
            al = jnp.sum(V * W, axis=-1)
            W = W - al[..., None] * V - bp[..., None] * Vp
            W = W - jnp.sum(V * W, axis=-1, keepdims=True) * V  # local reorthogonalisation
            be = jnp.sqrt(jnp.sum(W * W, axis=-1))
            Vn = W / jnp.where(be > 0, be, 1.0)[..., None]
            return (Vn, V, be), (Vn, al, be)

        _, (Vs, als, bes) = lax.scan(body, (V0, Vp0, bp0), None, length=steps)
        Q = lax.dynamic_update_slice_in_dim(Q, Vs.transpose(1, 2, 0, 3), k0 + 1, axis=2)
        a = lax.dynamic_update_slice_in_dim(a, als.transpose(1, 2, 0), k0, axis=2)
        b = lax.dynamic_update_slice_in_dim(b, bes.transpose(1, 2, 0), k0, axis=2)
        return Q, a, b

    def residual(kinds, ops, cols, Q, S, theta, k):
        """(||A y - theta y||, ||y||) for the Ritz vectors y = sum_{j<k} S_j Q_j (one per
        problem and point); reads only the first k basis vectors (k a multiple of the chunk)."""
        def add(j, Y):
            q = lax.dynamic_slice_in_dim(Q, j * LANCZOS_CHUNK, LANCZOS_CHUNK, axis=2)
            sj = lax.dynamic_slice_in_dim(S, j * LANCZOS_CHUNK, LANCZOS_CHUNK, axis=2)
            return Y + jnp.einsum("pbkn,pbk->pbn", q, sj)

        Y = lax.fori_loop(0, k // LANCZOS_CHUNK, add, jnp.zeros(Q.shape[:2] + Q.shape[3:], Q.dtype))
        R = apply(kinds, ops, cols, Y) - theta[..., None] * Y
        return jnp.sqrt(jnp.sum(R * R, axis=-1)), jnp.sqrt(jnp.sum(Y * Y, axis=-1))

    out = {
        "rows_of": rows_of, "row_norms": row_norms, "small_blocks": small_blocks,
        "build": jax.jit(build, static_argnums=(0,)),
        "chunk": jax.jit(chunk, static_argnums=(0, 1), donate_argnums=(4, 5, 6)),
        "start": jax.jit(start, static_argnums=(0, 1, 2)),
        "residual": jax.jit(residual, static_argnums=(0,)),
        "layout": (idx, mask),
    }
    entry["large"] = out
    return out


def _bucket(n: int, cap: int) -> int:
    """Padded count: the next power of two >= n (at least 8), at most ``cap``."""
    return int(min(cap, max(8, 1 << max(0, n - 1).bit_length())))


def _row_lists(pattern: np.ndarray):
    """(cols (N, R), valid (N, R)): the True columns of each row of ``pattern``, padded to
    the largest row count R; R = N (every block, columns in order) when that is at least
    half the blocks (the operators are then dense matrices)."""
    N = pattern.shape[0]
    R = int(pattern.sum(axis=1).max())
    if 2 * R >= N:
        return np.tile(np.arange(N, dtype=np.int32), (N, 1)), np.ones((N, N))
    cols = np.zeros((N, R), dtype=np.int32)
    valid = np.zeros((N, R), dtype=np.float64)
    for i in range(N):
        c = np.nonzero(pattern[i])[0]
        cols[i, :len(c)], valid[i, :len(c)] = c, 1.0
    return cols, valid


def _start_vector(mask: np.ndarray) -> np.ndarray:
    v = np.random.default_rng(LANCZOS_SEED).standard_normal(mask.shape) * mask
    return (v / np.linalg.norm(v)).reshape(-1)


def _ritz(a: np.ndarray, b: np.ndarray, largest: bool):
    """(theta, s, rho_est, scale) of the extreme Ritz pair of the Lanczos tridiagonal (a, b):
    theta the smallest (largest) eigenvalue of T_k (LAPACK bisection, dstebz), s its
    eigenvector (inverse iteration, dstein), rho_est = |b_k s_k| (the residual estimate),
    scale >= ||T_k|| (Gershgorin)."""
    from scipy.linalg import lapack

    k = a.shape[0]
    off = np.abs(b)
    scale = float(np.max(np.abs(a) + off + np.concatenate([[0.0], off[:-1]]))) or 1.0
    i = k if largest else 1
    e = np.ascontiguousarray(b[:k - 1])
    a = np.ascontiguousarray(a)
    _, w, iblock, isplit, info = lapack.dstebz(a, e, 3, 0.0, 0.0, i, i, 0.0, b"B")
    z, info2 = lapack.dstein(a, e, w[:1], iblock, isplit)
    if info != 0 or info2 != 0:
        return float(w[0]), z[:, 0], math.inf, scale
    return float(w[0]), z[:, 0], abs(float(b[k - 1] * z[-1, 0])), scale


def _dense_value(name: str, K: np.ndarray, s: np.ndarray | None) -> float:
    """The dense formula for one point (the Lanczos fallback)."""
    if name == "gamma":
        return float(np.linalg.eigvalsh(_sym(K))[0])
    Ks = s[:, None] * K / s[None, :]
    if name == "alpha":
        return float(np.linalg.eigvalsh(_sym(Ks))[0])
    return float(np.sqrt(max(np.linalg.eigvalsh(Ks.T @ Ks)[-1], 0.0)))


def _lanczos_statistics(lk: dict, ops, cols, s_flat, problems: tuple, dim: int,
                        finite: np.ndarray, frob: np.ndarray, dense_point) -> dict[str, np.ndarray]:
    """Per-point safe-side values of ``problems`` (subset of gamma, alpha, beta) for a batch.

    Lanczos runs in chunks of LANCZOS_CHUNK steps for all points and problems at once;
    after each chunk, a (problem, point) whose residual estimate |b_k s_k| is below half its
    tolerance gets its Ritz vector y = Q s and the explicit residual ||A y - theta y|| / ||y||
    (plus a rounding allowance) computed; if that is below the
    tolerance too, theta -/+ rho is accepted. ``frob`` (B,) is ||J||_F per point and
    ``dense_point(i)`` the dense Jacobian of point i (for the fallback). The
    rounding allowance uses sqrt(n) eps (the usual size of accumulated rounding errors in
    a length-n dot product) rather than the worst case n eps, which at n = 1024 would
    exceed LANCZOS_TOL by itself."""
    idx, mask = lk["layout"]
    B = finite.shape[0]
    n = mask.size
    nprob = len(problems)
    out = {name: np.full(B, np.nan) for name in problems}
    todo = np.zeros((nprob, B), dtype=bool)
    todo[:, finite] = True
    kmax = min(max(dim, 2 * LANCZOS_CHUNK), LANCZOS_MAX_STEPS)
    ratio = 1.0 if s_flat is None else float(np.max(s_flat) / np.min(s_flat))
    eps = np.finfo(np.float64).eps
    normF = {"gamma": frob, "alpha": ratio * frob, "beta": ratio * frob}  # >= ||A||_F (beta: ||K||_F)
    tols = [LANCZOS_TOL if name == "beta" else LANCZOS_TOL_DIAGNOSTIC for name in problems]
    kinds = tuple("normal" if name == "beta" else "sym" for name in problems)
    sym_J, sym_K, Kop, KTop = ops
    ops = tuple({"gamma": (sym_J,), "alpha": (sym_K,), "beta": (Kop, KTop)}[name] for name in problems)
    if todo.any():
        cap = -(-kmax // LANCZOS_CHUNK) * LANCZOS_CHUNK  # fixed: one compilation per problem set
        Q, a, b = lk["start"](nprob, B, cap, _start_vector(mask))
        k = 0
        next_check = np.full((nprob, B), 2 * LANCZOS_CHUNK)
        last = np.full((nprob, B, 2), np.nan)  # (k, rho_est) of the previous check
        while k < kmax and todo.any():
            Q, a, b = lk["chunk"](kinds, LANCZOS_CHUNK, ops, cols, Q, a, b, k)
            k += LANCZOS_CHUNK
            if not np.any(todo & (next_check <= k)) and k < kmax:
                continue
            an, bn = np.array(a)[:, :, :k], np.array(b)[:, :, :k]
            S = np.zeros((nprob, B, cap))
            theta = np.zeros((nprob, B))
            cand = np.zeros((nprob, B), dtype=bool)
            scales = np.ones((nprob, B))
            for p, name in enumerate(problems):
                for i in np.nonzero(todo[p] & ((next_check[p] <= k) | (k >= kmax)))[0]:
                    if not (np.all(np.isfinite(an[p, i])) and np.all(np.isfinite(bn[p, i]))):
                        todo[p, i] = False
                        continue
                    th, vec, rho_est, scale = _ritz(an[p, i], bn[p, i], largest=(name == "beta"))
                    target = 0.5 * tols[p] * scale
                    if rho_est <= target or k >= kmax:
                        cand[p, i] = True
                        S[p, i, :k] = vec
                        theta[p, i] = th
                        scales[p, i] = scale
                    else:  # skip checks until the residual, decaying at its recent rate, may be there
                        # (at most 2 chunks: Lanczos convergence accelerates, and the batch runs
                        # until its slowest point is done, so an overlong wait costs every point)
                        k0, r0 = last[p, i]
                        wait = LANCZOS_CHUNK
                        if np.isfinite(r0) and 0 < rho_est < r0:
                            rate = math.log(r0 / rho_est) / (k - k0)
                            wait = min(2 * LANCZOS_CHUNK, max(wait, int(0.7 * math.log(rho_est / target) / rate)
                                                              // LANCZOS_CHUNK * LANCZOS_CHUNK))
                        next_check[p, i] = k + wait
                        last[p, i] = (k, rho_est)
            if not cand.any():
                continue
            res, ynorm = lk["residual"](kinds, ops, cols, Q, S, theta, k)
            res, ynorm = np.asarray(res), np.asarray(ynorm)
            for p, name in enumerate(problems):
                for i in np.nonzero(cand[p])[0]:
                    if not ynorm[p, i] > 0.5:
                        continue
                    # rounding allowance for the computed residual: 8 sqrt(n) eps ||A||_F ||y||
                    # (beta: A y = K^T (K y), so 16 sqrt(n) eps ||K||_F sqrt(theta) ||y||)
                    bound = normF[name][i] * (2 * math.sqrt(max(theta[p, i], 0.0)) if name == "beta" else 1.0)
                    rho = res[p, i] / ynorm[p, i] + 8 * math.sqrt(n) * eps * bound
                    if rho <= tols[p] * scales[p, i]:
                        th = theta[p, i]
                        out[name][i] = math.sqrt(max(th + rho, 0.0)) if name == "beta" else th - rho
                        todo[p, i] = False
    if todo.any():  # not converged within LANCZOS_MAX_STEPS: the dense formulas
        for p, name in enumerate(problems):
            for i in np.nonzero(todo[p])[0]:
                if finite[i]:
                    out[name][i] = _dense_value(name, dense_point(i), s_flat)
    return out


def _large_batch(game: Game, lk: dict, G, cols: np.ndarray, valid0: np.ndarray, weights,
                 s_flat: np.ndarray | None, want_blocks: bool) -> dict:
    """Statistics of one batch of metric-space Jacobians on the large path, given by block
    rows G (B, N, R0, D, D): G[:, i, r] = J_{i, cols[i, r]} where valid0[i, r] = 1 (every
    other block is zero)."""
    import jax.numpy as jnp

    idx, mask = lk["layout"]
    N = mask.shape[0]
    R0 = cols.shape[1]
    fro, finite = lk["row_norms"](G)
    fro, finite = np.asarray(fro), np.asarray(finite)
    stored = (np.any(fro[finite] > 0, axis=0) if finite.any() else np.ones((N, R0), dtype=bool)) & (valid0 > 0)
    pos = np.full((N, N), R0, dtype=np.int32)  # position of block (i, j) in row i (R0: not stored, zero)
    ii, rr = np.nonzero(valid0 > 0)
    pos[ii, cols[ii, rr]] = rr
    present = np.zeros((N, N), dtype=bool)  # blocks nonzero at some point of the batch
    ii, rr = np.nonzero(stored)
    present[ii, cols[ii, rr]] = True
    res: dict[str, np.ndarray] = {"finite": finite}
    fro_full = np.zeros((G.shape[0], N, N))
    fro_full[:, ii, cols[ii, rr]] = fro[:, ii, rr]
    if want_blocks:  # small dense eigenvalue problems: LAPACK on the host (faster than XLA's here)
        r, c = np.nonzero(present & ~np.eye(N, dtype=bool))
        P = _bucket(r.size, N * N)
        off_rows = np.zeros(P, dtype=np.int32)
        off_pos = np.zeros(P, dtype=np.int32)
        off_rows[:r.size], off_pos[:r.size] = r, pos[r, c]
        off_pos = np.minimum(off_pos, R0 - 1)
        diag_pos = np.minimum(pos[np.arange(N), np.arange(N)], R0 - 1)
        diag, off = lk["small_blocks"](G, jnp.asarray(diag_pos), jnp.asarray(off_rows), jnp.asarray(off_pos))
        diag, off = np.array(diag), np.array(off)[:, :r.size]
        diag[:, pos[np.arange(N), np.arange(N)] == R0] = 0.0  # a diagonal block not stored is zero
        diag[~finite], off[~finite] = 0.0, 0.0  # LAPACK rejects NaN; those points are reported
        fro2 = np.sum(np.where(finite[:, None, None], fro_full, 0.0), axis=(1, 2))  # ||J||_F^2
        res["mu"] = _diag_lambda_min(diag, fro2, mask)
        L = np.zeros((diag.shape[0], N, N))
        if r.size:
            L[:, r, c] = spectral_norm(off)
        res["mu"][~finite], L[~finite] = np.nan, np.nan
        res["L"] = L
    problems = (("gamma",) if want_blocks else ()) + (("alpha", "beta") if weights is not None else ())
    if problems:
        sym_cols, valid = _row_lists(present | present.T | np.eye(N, dtype=bool))
        fpos = pos[np.arange(N)[:, None], sym_cols]
        bpos = pos[sym_cols, np.arange(N)[:, None]]
        s_blk = np.ones(N) if weights is None else np.sqrt(np.asarray(weights, dtype=np.float64))
        sym_cols = jnp.asarray(sym_cols)
        ops = lk["build"](problems, G, sym_cols, jnp.asarray(fpos), jnp.asarray(bpos), jnp.asarray(valid),
                          jnp.asarray(s_blk))
        st = {}
        for name in problems:  # one problem per compiled loop: XLA runs them faster apart
            st.update(_lanczos_statistics(lk, ops, sym_cols, s_flat, (name,), int(mask.sum()), finite,
                                          np.sqrt(np.sum(fro_full, axis=(1, 2))),
                                          lambda i: _dense_from_rows(np.asarray(G[i:i + 1]), cols, idx, mask)[0]))
        for name, key in (("gamma", "gamma"), ("alpha", "alpha_true"), ("beta", "beta")):
            if name in st:
                res[key] = st[name]
    return res


def _dense_from_rows(G: np.ndarray, cols: np.ndarray, idx: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The (B, d, d) Jacobians of block rows G (B, N, R, D, D) (blocks unpadded by ``mask``)."""
    N, D = mask.shape
    B, _, R = G.shape[:3]
    d = int(mask.sum())
    out = np.zeros((B, d, d))
    for i in range(N):
        ri = idx[i][mask[i]]
        for r in range(R):
            j = cols[i, r]
            cj = idx[j][mask[j]]
            out[:, ri[:, None], cj[None, :]] += G[:, i, r][:, :ri.size, :cj.size]
    return out


def _host_statistics(K: np.ndarray, idx, mask, s: np.ndarray | None, block_stats: bool) -> dict[str, np.ndarray]:
    """The dense formulas on a batch of Jacobians K (B, d, d) by NumPy's LAPACK: mu, L,
    gamma, finite (``block_stats``) and beta, alpha_true (``s`` given).

    Not XLA's eigenvalue kernel: jaxlib's batched LAPACK calls split their batch over
    XLA's intra-op thread pool and wait on a pool thread, so two of them running at once
    in one program can occupy every pool thread and never return (it hung CI on 2 cores;
    tests/test_no_lapack_in_xla.py keeps every compiled program free of them). On the
    host they are also faster (256 x 64 x 64: 0.45 s vs 0.74 s). Points with a non-finite
    Jacobian get NaN statistics and ``finite`` False."""
    finite = np.all(np.isfinite(K), axis=(1, 2))
    Kf = np.where(finite[:, None, None], K, 0.0)
    out = {}
    if block_stats:
        mu, L, gamma = block_statistics(Kf, idx, mask)
        out.update(mu=mu, L=L, gamma=gamma, finite=finite)
    if s is not None:
        out["beta"], out["alpha_true"] = weighted_statistics(Kf, s)
    for key in ("mu", "L", "gamma", "beta", "alpha_true"):
        if key in out:
            out[key] = np.where(finite.reshape((-1,) + (1,) * (out[key].ndim - 1)), out[key], np.nan)
    return out


def pointwise_statistics(game: Game, points: np.ndarray, weights=None,
                         progress: Callable[[int, int], None] | None = None,
                         keep_jacobians: bool = False, block_stats: bool = True) -> dict[str, np.ndarray]:
    """Per-point statistics of the (metric-space) Jacobians at ``points`` (n, d):
    ``mu`` (n, N), ``L`` (n, N, N), ``gamma`` (n,), ``finite`` (n,), ``value0`` (F at the
    first point) and, with ``weights``, ``beta`` (n,) and ``alpha_true`` (n,).
    ``block_stats=False`` skips mu, L and gamma (the weighted pass needs only beta, alpha_true).
    ``keep_jacobians``: also ``jacobians`` (n, d_m, d_m), if they fit in BATCH_BYTES."""
    import jax.numpy as jnp

    p = game.jax_params()
    dm = sum(game.metric_block_sizes)
    large = large_path(dm)
    lk = _large_kernels(game) if large else None
    s_np = None if weights is None else weight_scaling(game, weights)
    idx, mask = _layout(game)
    size = batch_size(points.shape[0], game.dim)
    out: dict[str, list] = {k: [] for k in ("mu", "L", "gamma", "finite", "beta", "alpha_true")}
    value0 = None
    keep = keep_jacobians and points.shape[0] * dm * dm * 8 <= BATCH_BYTES
    kept = []
    structured = large and structured_rows(game)
    jacobians = None if structured else kernels(game)[0]  # (tracing F for nothing costs 0.7 s at 8 x 32)
    if structured:
        rows_kernel = _rows_kernel(game)
        cols, valid = game.structure.cols, game.structure.valid
    elif large:
        N = game.n_players
        cols, valid = np.tile(np.arange(N, dtype=np.int32), (N, 1)), np.ones((N, N))
    for start, count, chunk in _batches(points, size):
        if structured:  # block rows straight from the cost templates (structural zeros skipped)
            values, G = rows_kernel(jnp.asarray(chunk), p)
            K = None
        else:
            values, K = jacobians(jnp.asarray(chunk), p)
            G = lk["rows_of"](K) if large else None
        if value0 is None:
            value0 = np.asarray(values[0])
        if keep:
            kept.append((np.asarray(K) if K is not None else
                         _dense_from_rows(np.asarray(G), cols, *lk["layout"]))[:count])
        if large:
            res = _large_batch(game, lk, G, cols, valid, weights, s_np, block_stats)
            for key, arr in res.items():
                if key == "finite" and not block_stats:
                    continue
                out[key].append(arr[:count])
        else:  # dense statistics by host LAPACK (see _host_statistics)
            for key, arr in _host_statistics(np.asarray(K)[:count], idx, mask, s_np, block_stats).items():
                out[key].append(arr)
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
        st = pointwise_statistics(game, points, weights, progress=progress, block_stats=False)
        beta, at = st["beta"], st["alpha_true"]
    if not (np.all(np.isfinite(beta)) and np.all(np.isfinite(at))):
        raise NumericalError("the weighted Jacobian statistics are not finite")
    return WeightedConstants(beta=float(beta.max()), alpha_true=float(at.min()))


def value_and_jacobian(game: Game, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F(x), J(x)) as numpy arrays. A game given by pseudo-gradient blocks has
    F(x) = H(p) x + c(p) and J = H(p), evaluated in NumPy (no XLA compile: a sweep point
    costs microseconds); every other game, or blocks NumPy cannot evaluate, takes one
    jit-compiled call of F and jacfwd(F)."""
    parts = game.numpy_affine_parts()
    if parts is not None:
        value, jac = parts[0] @ np.asarray(x, dtype=np.float64) + parts[1], parts[0]
    else:
        import jax.numpy as jnp

        value, jac = kernels(game)[1](jnp.asarray(x), game.jax_params())
        value, jac = np.asarray(value), np.asarray(jac)
    if not (np.all(np.isfinite(value)) and np.all(np.isfinite(jac))):
        raise NumericalError(f"F or its Jacobian is not finite at x = {np.array2string(np.asarray(x), threshold=8)}")
    return value, jac
