"""Benchmark games for bench/run.py: rings of players with non-quadratic costs.

    python bench/games/make_games.py        # (re)writes ring8x32.yaml and ring64x16.yaml

Player i (vector p_i of dimension D) has the cost

    f_i = 1/2 |p_i|^2 + 1/2 |P p_i|^2 + 0.1 sum(logcosh(p_i))
          + a tanh(p_i) . (R p_{i+1}) + b tanh(p_i) . (R^T p_{i-1})

(indices mod N, P a seeded Gaussian D x D matrix, R a seeded random orthogonal one), so
the Jacobian varies over the region (the sampled path runs), its diagonal blocks are dense
SPD-plus-diagonal, and each player is coupled to its two ring neighbours by dense blocks.
``ring_spec`` is also used in-memory by the scaling runs (d = N * D).
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def ring_spec(n_players: int, dim: int, samples: int = 1024, seed: int = 0, a: float = 0.3, b: float = 0.1) -> dict:
    names = [f"p{i}" for i in range(n_players)]
    costs = {}
    for i, me in enumerate(names):
        nxt, prv = names[(i + 1) % n_players], names[(i - 1) % n_players]
        costs[me] = (
            f"0.5 * {me} @ {me} + 0.5 * norm2(P @ {me}) + 0.1 * sum(logcosh({me}))"
            f" + a * tanh({me}) @ (R @ {nxt}) + b * tanh({me}) @ (R.T @ {prv})"
        )
    return {
        "sgncert": 1,
        "name": f"ring{n_players}x{dim}",
        "params": {
            "a": a,
            "b": b,
            "P": {"random_normal": [dim, dim], "seed": 1, "scale": round(0.3 / dim**0.5, 6)},
            "R": {"random_orthogonal": dim, "seed": 2},
        },
        "players": [{"name": n, "dim": dim} for n in names],
        "costs": costs,
        "region": {"center": "zeros", "radius": 0.5, "norm": "inf"},
        "sampling": {"method": "sobol", "samples": samples, "seed": seed},
    }


def write(n_players: int, dim: int) -> Path:
    import yaml

    spec = ring_spec(n_players, dim)
    path = HERE / f"{spec['name']}.yaml"
    head = (
        f"# Benchmark game (bench/run.py): {n_players} players x {dim} dims = d {n_players * dim}, a ring of\n"
        "# non-quadratic costs (see make_games.py, which writes this file). Not a shipped game.\n"
    )
    path.write_text(head + yaml.safe_dump(spec, sort_keys=False, width=200), encoding="utf-8")
    return path


if __name__ == "__main__":
    for n, d in ((8, 32), (64, 16)):
        print(write(n, d))
