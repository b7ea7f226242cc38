"""The ring game of make_games.py as a Python hook: a black box to sgncert (no cost
templates, so the whole Jacobian of F is taken by jacfwd). Benchmark only (bench/run.py)."""

import jax.numpy as jnp


def costs(x, p):
    names = sorted(x, key=lambda n: int(n[1:]))  # p0, p1, ...
    N = len(names)
    out = {}
    for i, me in enumerate(names):
        v, nxt, prv = x[me], x[names[(i + 1) % N]], x[names[(i - 1) % N]]
        out[me] = (
            0.5 * v @ v
            + 0.5 * jnp.sum((p["P"] @ v) ** 2)
            + 0.1 * jnp.sum(jnp.logaddexp(v, -v) - jnp.log(2.0))
            + p["a"] * jnp.tanh(v) @ (p["R"] @ nxt)
            + p["b"] * jnp.tanh(v) @ (p["R"].T @ prv)
        )
    return out
