"""Baselines for bench/run.py, measured in the same run as sgncert.

1. ``research_sweep``: the research code's way of sweeping the 64-dim LQ game
   (AashVed/SmallGainNash, LQ_GAMES/compute_sgn_metrics.py, re-implemented here): for
   each lambda build H (64 x 64) with numpy, its Euclidean margin by a dense eigvalsh, then
   for each of 161 log-spaced ratios r = w2/w1 the SGN margin (a 2 x 2 eigvalsh), the true
   weighted margin (a 64 x 64 eigvalsh) and beta (a 64 x 64 SVD), in Python loops, and
   keep the ratio that maximises alpha/beta^2 (its Euler objective).
2. ``naive_sampled``: a straightforward JAX implementation of the sampled constants: one
   ``jit(vmap(jacfwd(F)))`` Jacobian per point (fixed batch), then dense ``eigvalsh`` for
   mu_i and gamma and ``jnp.linalg.norm(., 2)`` for every coupling block L_ij, the Perron
   weights, and a second pass with ``norm(K, 2)`` for beta and ``eigvalsh`` for alpha_true
   (each a jitted call of its own: one LAPACK call per XLA program, see below).
"""

from __future__ import annotations

import numpy as np

RATIOS = np.geomspace(1e-1, 1e4, 161)


def research_sweep(R: np.ndarray, lams, a: float = 10.0, b: float = 0.05, ratios=RATIOS) -> list[dict]:
    """Per lambda: gamma, the best ratio on the grid, its alpha_*, alpha_true and beta."""
    n = R.shape[0]
    I = np.eye(n)
    rows = []
    for lam in lams:
        H = np.block([[I, lam * a * R], [lam * b * R.T, I]])
        gamma = float(np.linalg.eigvalsh(0.5 * (H + H.T))[0])
        mu1 = mu2 = 1.0
        L12, L21 = lam * a, lam * b
        best = None
        for r in ratios:
            w = np.array([1.0, r])
            C = np.array([[2 * w[0] * mu1, -(w[0] * L12 + w[1] * L21)], [-(w[0] * L12 + w[1] * L21), 2 * w[1] * mu2]])
            Dm = np.diag(1 / np.sqrt(w))
            alpha = 0.5 * float(np.linalg.eigvalsh(Dm @ C @ Dm)[0])
            m = np.concatenate([np.full(n, w[0]), np.full(n, w[1])])
            M, Ms, Mi = np.diag(m), np.diag(np.sqrt(m)), np.diag(1 / np.sqrt(m))
            alpha_true = float(np.linalg.eigvalsh(Mi @ (0.5 * (M @ H + H.T @ M)) @ Mi)[0])
            beta = float(np.linalg.svd(Ms @ H @ Mi, compute_uv=False)[0])
            obj = alpha / beta**2 if alpha > 0 else -np.inf
            if best is None or obj > best[0]:
                best = (obj, r, alpha, alpha_true, beta)
        rows.append(
            {
                "lam": float(lam),
                "gamma": gamma,
                "ratio": best[1],
                "sgn_margin": best[2],
                "alpha_true": best[3],
                "beta": best[4],
                "certified": bool(best[2] > 0),
            }
        )
    return rows


def naive_sampled(game, points: np.ndarray, batch: int = 64) -> dict:
    """mu, L, gamma, Perron weights, beta, alpha_true of a sampled game, the straightforward way."""
    import jax
    import jax.numpy as jnp

    from sgncert.theory.smallgain import perron_weights

    F = game.pseudo_gradient
    sizes = game.block_sizes
    offs = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    N = len(sizes)
    jac = jax.jit(jax.vmap(jax.jacfwd(F), in_axes=(0, None)))
    # one LAPACK call per compiled program: jaxlib's batched LAPACK kernels wait on XLA's
    # thread pool, and two in one program can deadlock it (tests/analysis/test_kernels.py)
    eig_min = jax.jit(lambda A: jnp.linalg.eigvalsh(0.5 * (A + A.swapaxes(1, 2)))[:, 0])
    norm2 = jax.jit(lambda A: jnp.linalg.norm(A, ord=2, axis=(1, 2)))

    def block(J, i, j):
        return J[:, offs[i] : offs[i + 1], offs[j] : offs[j + 1]]

    def block_pass(X, p):
        J = np.asarray(jac(X, p))
        mu = np.stack([np.asarray(eig_min(block(J, i, i))) for i in range(N)], axis=1)
        L = np.stack(
            [
                np.stack(
                    [np.zeros(X.shape[0]) if i == j else np.asarray(norm2(block(J, i, j))) for j in range(N)], axis=1
                )
                for i in range(N)
            ],
            axis=1,
        )
        return mu, L, np.asarray(eig_min(J))

    def weighted_pass(X, p, s):
        J = np.asarray(jac(X, p))
        K = s[None, :, None] * J / s[None, None, :]
        return np.asarray(norm2(K)), np.asarray(eig_min(K))

    p = game.jax_params()
    n = points.shape[0]
    pad = (-n) % batch
    P = np.concatenate([points, np.repeat(points[:1], pad, axis=0)])
    mus, Ls, gammas = [], [], []
    for k in range(0, P.shape[0], batch):
        mu, L, g = block_pass(jnp.asarray(P[k : k + batch]), p)
        mus.append(np.asarray(mu))
        Ls.append(np.asarray(L))
        gammas.append(np.asarray(g))
    mu = np.concatenate(mus)[:n].min(axis=0)
    L = np.concatenate(Ls)[:n].max(axis=0)
    gamma = float(np.concatenate(gammas)[:n].min())
    w = perron_weights(mu, L).weights
    s = np.concatenate([np.full(d, np.sqrt(wi)) for d, wi in zip(sizes, w)])
    betas, alphas = [], []
    for k in range(0, P.shape[0], batch):
        be, at = weighted_pass(jnp.asarray(P[k : k + batch]), p, s)
        betas.append(np.asarray(be))
        alphas.append(np.asarray(at))
    return {
        "mu": mu,
        "L": L,
        "gamma": gamma,
        "weights": w,
        "beta": float(np.concatenate(betas)[:n].max()),
        "alpha_true": float(np.concatenate(alphas)[:n].min()),
    }
