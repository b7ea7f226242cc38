"""A bench game of two neural-network players (bench/run_blackbox.py, case nn): two MLPs
of about 10^5 parameters each, playing a regularised zero-sum game on fixed data.

Player g has the parameters theta of an MLP g_theta: R^8 -> R (two tanh hidden layers of
width 311: 100,120 parameters), player h the parameters phi of an MLP h_phi of the same
shape. On fixed data x_1..x_n (n = 32, seeded),

    f_g(theta, phi) = lam/2 |theta - theta_0|^2 + c mean_k g_theta(x_k) h_phi(x_k)
    f_h(theta, phi) = lam/2 |phi - phi_0|^2     - c mean_k g_theta(x_k) h_phi(x_k)

(a zero-sum coupling plus each player's own ridge term around its initialisation), so
J_hg = -J_gh^T. The region is a small box around the equilibrium, computed here by
simultaneous gradient play to ||F|| < 1e-10. Not a shipped game.
"""

from __future__ import annotations

import numpy as np

WIDTH, INPUTS, DATA = 311, 8, 32
LAM, COUPLING, RADIUS = 1.0, 0.02, 0.01


def shapes(width: int = WIDTH, inputs: int = INPUTS) -> list[tuple[int, ...]]:
    return [(inputs, width), (width,), (width, width), (width,), (width, 1), (1,)]


def n_params(width: int = WIDTH, inputs: int = INPUTS) -> int:
    return sum(int(np.prod(s)) for s in shapes(width, inputs))


def init(rng: np.random.Generator, width: int = WIDTH, inputs: int = INPUTS) -> np.ndarray:
    parts = []
    for s in shapes(width, inputs):
        scale = 1.0 / np.sqrt(s[0]) if len(s) == 2 else 0.0
        parts.append((rng.standard_normal(s) * scale).reshape(-1))
    return np.concatenate(parts)


def mlp(theta, X, width: int = WIDTH, inputs: int = INPUTS):
    import jax.numpy as jnp

    ws, k = [], 0
    for s in shapes(width, inputs):
        size = int(np.prod(s))
        ws.append(theta[k : k + size].reshape(s))
        k += size
    W1, b1, W2, b2, W3, b3 = ws
    h = jnp.tanh(X @ W1 + b1)
    h = jnp.tanh(h @ W2 + b2)
    return (h @ W3 + b3)[:, 0]


def game(samples: int = 16, width: int = WIDTH, seed: int = 0):
    from sgncert.util.jaxenv import jax_scope

    with jax_scope():  # float64, as sgncert computes
        return _game(samples, width, seed)


def _game(samples: int, width: int, seed: int):
    import jax.numpy as jnp

    import sgncert

    rng = np.random.default_rng(seed)
    X = jnp.asarray(rng.standard_normal((DATA, INPUTS)))
    theta0, phi0 = jnp.asarray(init(rng, width)), jnp.asarray(init(rng, width))

    def coupling(x):
        return COUPLING * jnp.mean(mlp(x["g"], X, width) * mlp(x["h"], X, width))

    def f_g(x, p):
        return 0.5 * LAM * jnp.sum((x["g"] - theta0) ** 2) + coupling(x)

    def f_h(x, p):
        return 0.5 * LAM * jnp.sum((x["h"] - phi0) ** 2) - coupling(x)

    eq = equilibrium(f_g, f_h, theta0, phi0)
    P = n_params(width)
    return sgncert.make_game(
        {"g": P, "h": P},
        costs={"g": f_g, "h": f_h},
        region={"center": np.concatenate(eq).tolist(), "radius": RADIUS, "norm": "inf"},
        sampling={"method": "random", "samples": samples, "seed": 0},
        name=f"mlp_duel ({P} + {P} parameters)",
    )


def equilibrium(f_g, f_h, theta0, phi0, tol: float = 1e-10):
    """Simultaneous gradient play x <- x - h F(x) until ||F|| < tol (the game is strongly monotone)."""
    import jax

    @jax.jit
    def F(t, f):
        return jax.grad(lambda a: f_g({"g": a, "h": f}, None))(t), jax.grad(lambda b: f_h({"g": t, "h": b}, None))(f)

    t, f = theta0, phi0
    for _ in range(10_000):
        gt, gf = F(t, f)
        norm = float(np.sqrt(np.sum(np.asarray(gt) ** 2) + np.sum(np.asarray(gf) ** 2)))
        if norm < tol:
            return np.asarray(t), np.asarray(f)
        t, f = t - 0.5 * gt, f - 0.5 * gf
    raise RuntimeError(f"gradient play did not converge: ||F|| = {norm:.3g}")
