"""The large path: sampled statistics of high-dimensional games by block-sparse Lanczos
(docs/theory.md §2).

When the metric space's dimension d exceeds ``DENSE_MAX_DIM``, d x d eigenvalue problems
per point would cost O(d^3), so for a batch of points

- mu_i: dense eigenvalues of the N diagonal D x D blocks (exact to rounding; LAPACK on
  the host, which beats XLA's batched eigvalsh for small blocks on CPU);
- L_ij: dense spectral norms of the blocks that are nonzero at some point of the batch; a
  block whose entries are all exactly 0 has norm exactly 0 (block sparsity costs nothing);
- gamma, alpha_true, beta: Lanczos (three-term recurrence with local reorthogonalisation)
  on sym J, sym K and K^T K (K = S J S^-1), each operator stored by block rows with only
  the blocks that are nonzero somewhere in the batch (dense when that is at least half of
  them), one problem per compiled loop, in chunks of LANCZOS_CHUNK steps for a batch of
  points at once. When the residual estimate |b_k s_k| of the extreme Ritz pair (theta, s)
  of T_k is small, the Ritz vector y = Q s is formed and the explicit residual
  rho = ||A y - theta y|| / ||y|| plus a rounding allowance is computed; the value is
  accepted when rho <= tol * ||T_k|| (``LANCZOS_TOL`` = 1e-10 for beta, a certified
  constant; ``LANCZOS_TOL_DIAGNOSTIC`` = 1e-6 for the diagnostics gamma and alpha_true).
  A symmetric matrix has an eigenvalue within rho of theta, so the value reported is on the
  safe side of the Ritz value: ``theta - rho`` for the lambda_min's (at most ~1e-6 ||.||
  below the dense value), ``sqrt(theta + rho)`` for beta (at most ~1e-10 relative above
  ||K||_2). That theta approximates the *extreme* eigenvalue (not an interior one) is what
  Lanczos from a fixed Gaussian start vector delivers unless that vector is (numerically)
  orthogonal to the extreme eigenvector; a point that does not converge within
  ``LANCZOS_MAX_STEPS`` falls back to the dense eigenvalues.

Games given by cost expressions (Euclidean geometry) skip the full Jacobian: their cost
templates (:mod:`sgncert.games.structure`) give it by block rows, only the blocks J_ij with
j mentioned in f_i (the others are exactly zero).
"""

from __future__ import annotations

import math

import numpy as np

from ..games.model import Game
from ..theory.contraction import sym
from .kernels import cached_entry
from .statistics import block_layout, blocks_of, dense_from_rows, diag_lambda_min, spectral_norm

LANCZOS_MAX_STEPS = 512  # per point; beyond this the point falls back to dense eigenvalues
LANCZOS_CHUNK = 32  # Lanczos steps per compiled call (convergence is checked between calls; 16 was 6-20% slower)
LANCZOS_TOL = 1e-10  # relative residual for beta (certified)
LANCZOS_TOL_DIAGNOSTIC = 1e-6  # relative residual for gamma and alpha_true (diagnostics; the value is shifted by it)
LANCZOS_SEED = 20251208  # the fixed Gaussian start vector


def large_kernels(game: Game) -> dict:
    """Jitted kernels of the large path (B points, N players, blocks padded to D).

    The Lanczos operators are stored by block rows: ``cols`` (N, R) lists the R column
    blocks of each block row that are nonzero at some point of the batch (padded with
    ``valid`` = 0), and an operator is an array (B, N, D, R*D) of those blocks side by
    side, so a product costs O(nonzero blocks), with no scatter."""
    entry = cached_entry(game)
    if "large" in entry:
        return entry["large"]
    import jax
    import jax.numpy as jnp
    from jax import lax

    idx, mask = block_layout(game.metric_block_sizes)
    N, D = mask.shape
    rows_all = np.arange(N)[:, None]

    @jax.jit
    def rows_of(K):
        """Unstructured games: the Jacobians K (B, d, d) as block rows (B, N, N, D, D)
        (every column block, in order)."""
        return blocks_of(K, idx, mask)

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
        "rows_of": rows_of,
        "row_norms": row_norms,
        "small_blocks": small_blocks,
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
        cols[i, : len(c)], valid[i, : len(c)] = c, 1.0
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
    e = np.ascontiguousarray(b[: k - 1])
    a = np.ascontiguousarray(a)
    _, w, iblock, isplit, info = lapack.dstebz(a, e, 3, 0.0, 0.0, i, i, 0.0, b"B")
    z, info2 = lapack.dstein(a, e, w[:1], iblock, isplit)
    if info != 0 or info2 != 0:
        return float(w[0]), z[:, 0], math.inf, scale
    return float(w[0]), z[:, 0], abs(float(b[k - 1] * z[-1, 0])), scale


def _dense_value(name: str, K: np.ndarray, s: np.ndarray | None) -> float:
    """The dense formula for one point (the Lanczos fallback)."""
    if name == "gamma":
        return float(np.linalg.eigvalsh(sym(K))[0])
    assert s is not None, "alpha and beta need the weights' scaling"
    Ks = s[:, None] * K / s[None, :]
    if name == "alpha":
        return float(np.linalg.eigvalsh(sym(Ks))[0])
    return float(np.sqrt(max(np.linalg.eigvalsh(Ks.T @ Ks)[-1], 0.0)))


def lanczos_statistics(
    lk: dict, ops, cols, s_flat, problems: tuple, dim: int, finite: np.ndarray, frob: np.ndarray, dense_point
) -> dict[str, np.ndarray]:
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
    _idx, mask = lk["layout"]
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
                            wait = min(
                                2 * LANCZOS_CHUNK,
                                max(
                                    wait, int(0.7 * math.log(rho_est / target) / rate) // LANCZOS_CHUNK * LANCZOS_CHUNK
                                ),
                            )
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


def large_batch(
    game: Game,
    lk: dict,
    G,
    cols: np.ndarray,
    valid0: np.ndarray,
    weights,
    s_flat: np.ndarray | None,
    want_blocks: bool,
    margin: bool = True,
) -> dict:
    """Statistics of one batch of metric-space Jacobians on the large path, given by block
    rows G (B, N, R0, D, D): G[:, i, r] = J_{i, cols[i, r]} where valid0[i, r] = 1 (every
    other block is zero). With ``weights``: beta, and alpha_true when ``margin``."""

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
        off_rows[: r.size], off_pos[: r.size] = r, pos[r, c]
        off_pos = np.minimum(off_pos, R0 - 1)
        diag_pos = np.minimum(pos[np.arange(N), np.arange(N)], R0 - 1)
        diag, off = lk["small_blocks"](G, diag_pos, off_rows, off_pos)
        diag, off = np.array(diag), np.array(off)[:, : r.size]
        diag[:, pos[np.arange(N), np.arange(N)] == R0] = 0.0  # a diagonal block not stored is zero
        diag[~finite], off[~finite] = 0.0, 0.0  # LAPACK rejects NaN; those points are reported
        fro2 = np.sum(np.where(finite[:, None, None], fro_full, 0.0), axis=(1, 2))  # ||J||_F^2
        res["mu"] = diag_lambda_min(diag, fro2, mask)
        L = np.zeros((diag.shape[0], N, N))
        if r.size:
            L[:, r, c] = spectral_norm(off)
        res["mu"][~finite], L[~finite] = np.nan, np.nan
        res["L"] = L
    # the operators of every statistic asked for (sym K is cheap: one program for either weighted pass)
    built = (("gamma",) if want_blocks else ()) + (("alpha", "beta") if weights is not None else ())
    problems = tuple(name for name in built if margin or name != "alpha")
    if problems:
        sym_cols, valid = _row_lists(present | present.T | np.eye(N, dtype=bool))
        fpos = pos[np.arange(N)[:, None], sym_cols]
        bpos = pos[sym_cols, np.arange(N)[:, None]]
        s_blk = np.ones(N) if weights is None else np.sqrt(np.asarray(weights, dtype=np.float64))
        ops = lk["build"](built, G, sym_cols, fpos, bpos, valid, s_blk)
        st = {}
        for name in problems:  # one problem per compiled loop: XLA runs them faster apart
            st.update(
                lanczos_statistics(
                    lk,
                    ops,
                    sym_cols,
                    s_flat,
                    (name,),
                    int(mask.sum()),
                    finite,
                    np.sqrt(np.sum(fro_full, axis=(1, 2))),
                    lambda i: dense_from_rows(np.asarray(G[i : i + 1]), cols, idx, mask)[0],
                )
            )
        for name, key in (("gamma", "gamma"), ("alpha", "alpha_true"), ("beta", "beta")):
            if name in st:
                res[key] = st[name]
    return res
