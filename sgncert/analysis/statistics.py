"""Per-point statistics of Jacobians by dense linear algebra on the host (docs/theory.md §2).

For a batch of (metric-space) Jacobians J (B, d, d) with player blocks J_ij:

    mu_i(x)   = lambda_min(sym J_ii(x)),   L_ij(x) = ||J_ij(x)||_2 (i != j),
    gamma(x)  = lambda_min(sym J(x)),
    beta_w(x) = ||S J(x) S^{-1}||_2,        at_w(x) = lambda_min(sym(S J(x) S^{-1})),

S = M(w)^{1/2}. Blocks are gathered into an (N, N, D, D) array padded to the largest
block D (a free reshape when all blocks have one size); spectral norms are
sqrt(lambda_max(B^T B)).

All of it is NumPy's LAPACK, never XLA's: jaxlib's batched LAPACK kernels split their
batch over XLA's intra-op thread pool and wait on a pool thread, so two of them running
at once in one compiled program can occupy every pool thread and never return (it hung
CI on 2 cores). On the host they are also faster (256 x 64 x 64: 0.45 s vs 0.74 s).
"""

from __future__ import annotations

import numpy as np

from ..theory.contraction import sym


def block_layout(sizes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Gather indices idx (N, D) and mask (N, D) placing block i's coordinates first, for
    blocks of the given sizes (the metric space's: the Jacobian's, or the Fisher-reduced ones)."""
    D = max(sizes)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
    idx = np.zeros((len(sizes), D), dtype=np.int32)
    mask = np.zeros((len(sizes), D), dtype=bool)
    for i, (o, n) in enumerate(zip(offsets, sizes)):
        idx[i, :n] = np.arange(o, o + n)
        mask[i, :n] = True
    return idx, mask


def blocks_of(J, idx, mask):
    """(B, N, N, D, D) blocks of a batch of Jacobians (B, d, d), zero-padded to D.
    Equal block sizes: a reshape; otherwise a gather."""
    N, D = mask.shape
    if mask.all():
        return J.reshape(J.shape[0], N, D, N, D).swapaxes(2, 3)
    blockmask = (mask[:, :, None, None] & mask[None, None, :, :]).astype(np.float64)
    Jp = J[:, idx[:, :, None, None], idx[None, None, :, :]] * blockmask  # (B, N, D, N, D)
    return Jp.swapaxes(2, 3)


def diag_lambda_min(diag, fro2, mask):
    """(B, N) lambda_min(sym J_ii) of the diagonal blocks ``diag`` (B, N, D, D), zero-padded
    to D. The padded part of each block is shifted by 2 (1 + ||J||_F) (``fro2`` (B,) is
    ||J||_F^2), above every eigenvalue of sym J_ii, so the smallest eigenvalue is that of
    sym J_ii itself."""
    D = mask.shape[1]
    big = 2.0 * (1.0 + np.sqrt(fro2))
    pad = (~mask).astype(np.float64)[None, :, :, None] * np.eye(D)
    return np.linalg.eigvalsh(sym(diag) + big[:, None, None, None] * pad)[..., 0]


def block_statistics(J, idx, mask):
    """Per-point (mu, L, gamma) of a batch of Jacobians J (B, d, d) (the dense formulas)."""
    N, _D = mask.shape
    blocks = blocks_of(J, idx, mask)
    mu = diag_lambda_min(blocks[:, np.arange(N), np.arange(N)], np.sum(J * J, axis=(1, 2)), mask)
    L = spectral_norm(blocks) * (1.0 - np.eye(N))
    gamma = np.linalg.eigvalsh(sym(J))[:, 0]
    return mu, L, gamma


def scaled(J, s):
    """K = S J S^{-1}, S = diag(s), of a batch of Jacobians J (B, d, d)."""
    return s[None, :, None] * J / s[None, None, :]


def weighted_statistics(J, s):
    """Per-point (||K||_2, lambda_min(sym K)) with K = S J S^{-1}, S = diag(s)."""
    K = scaled(J, s)
    return spectral_norm(K), np.linalg.eigvalsh(sym(K))[:, 0]


def weighted_margins(J: np.ndarray, scalings: np.ndarray) -> np.ndarray:
    """``lambda_min(sym(S J S^{-1}))`` of one Jacobian J (d, d) for each scaling S = diag(s),
    s a row of ``scalings`` (n, d): the true weighted margin alpha_true of many weights at once."""
    J = np.asarray(J, dtype=np.float64)
    K = scalings[:, :, None] * J[None] / scalings[:, None, :]
    return np.asarray(np.linalg.eigvalsh(sym(K))[:, 0])


def spectral_norm(B):
    """||B||_2 = sqrt(lambda_max(B^T B)) over the last two axes."""
    return np.sqrt(np.maximum(np.linalg.eigvalsh(B.swapaxes(-1, -2) @ B)[..., -1], 0.0))


def dense_from_rows(G: np.ndarray, cols: np.ndarray, idx: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The (B, d, d) Jacobians of block rows G (B, N, R, D, D) (blocks unpadded by ``mask``)."""
    N, _D = mask.shape
    B, _, R = G.shape[:3]
    d = int(mask.sum())
    out = np.zeros((B, d, d))
    for i in range(N):
        ri = idx[i][mask[i]]
        for r in range(R):
            j = cols[i, r]
            cj = idx[j][mask[j]]
            out[:, ri[:, None], cj[None, :]] += G[:, i, r][:, : ri.size, : cj.size]
    return out


def host_statistics(
    K: np.ndarray, idx, mask, s: np.ndarray | None, block_stats: bool, margin: bool = True
) -> dict[str, np.ndarray]:
    """The dense formulas on a batch of Jacobians K (B, d, d) by NumPy's LAPACK: mu, L,
    gamma, finite (``block_stats``) and beta, alpha_true (``s`` given; alpha_true only with
    ``margin``). Points with a non-finite Jacobian get NaN statistics and ``finite`` False."""
    finite = np.all(np.isfinite(K), axis=(1, 2))
    Kf = np.where(finite[:, None, None], K, 0.0)
    out: dict[str, np.ndarray] = {}
    if block_stats:
        mu, L, gamma = block_statistics(Kf, idx, mask)
        out.update(mu=mu, L=L, gamma=gamma, finite=finite)
    if s is not None and margin:
        out["beta"], out["alpha_true"] = weighted_statistics(Kf, s)
    elif s is not None:
        out["beta"] = spectral_norm(scaled(Kf, s))
    for key in ("mu", "L", "gamma", "beta", "alpha_true"):
        if key in out:
            out[key] = np.where(finite.reshape((-1,) + (1,) * (out[key].ndim - 1)), out[key], np.nan)
    return out
