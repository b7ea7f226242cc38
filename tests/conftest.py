"""Shared fixtures: random games built as spec dicts, certified through the library."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

# one persistent JAX compilation cache for the whole run (and the CLI subprocesses it starts):
# the same bundled games are certified in many tests, each time with fresh closures
os.environ.setdefault("SGNCERT_JAX_CACHE", tempfile.mkdtemp(prefix="sgncert-jax-cache-"))

from sgncert.util.jaxenv import configure_process  # noqa: E402

# the test process is sgncert's own: synchronous dispatch and the compilation cache, as the CLI
# has them. x64 stays off globally, as in a user's notebook: sgncert must compute in float64 anyway
configure_process()

ROOT = Path(__file__).resolve().parent.parent
GAMES = ROOT / "games"


def run_at_once(commands: list[tuple[list[str], dict | None]], timeout: float = 600) -> list[str]:
    """Run the (argv, env) commands at once from the repository root; their stdouts, each
    asserted to have exited 0 (with the end of its stderr)."""
    procs = [
        subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for argv, env in commands
    ]
    outs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            assert proc.returncode == 0, err[-3000:]
            outs.append(out)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    return outs


def random_affine_spec(seed: int, dims=(2, 3), coupling: float = 0.4) -> dict:
    """A random LQ game: own blocks R_i^T R_i + c_i I, couplings of scale ``coupling``."""
    rng = np.random.default_rng(seed)
    names = [f"p{i}" for i in range(len(dims))]
    params, blocks = {}, {}
    for i, (ni, di) in enumerate(zip(names, dims)):
        R = rng.standard_normal((di, di)) / np.sqrt(di)
        skew = rng.standard_normal((di, di)) * 0.3
        params[f"Q{i}"] = (R.T @ R + (0.5 + rng.random()) * np.eye(di) + skew - skew.T).tolist()
        blocks[ni] = {ni: f"Q{i}"}
        for j, (nj, dj) in enumerate(zip(names, dims)):
            if i != j:
                strong = (i < j) != (seed % 2 == 1)
                scale = coupling * (4.0 if strong else 0.1)  # strongly one-sided couplings
                params[f"B{i}{j}"] = (scale * rng.standard_normal((di, dj)) / np.sqrt(dj)).tolist()
                blocks[ni][nj] = f"B{i}{j}"
    return {
        "sgncert": 1,
        "name": f"random-affine-{seed}",
        "params": params,
        "players": [{"name": n, "dim": d} for n, d in zip(names, dims)],
        "pseudo_gradient": {"blocks": blocks, "offset": {names[0]: 0.3}},
        "region": {"center": "equilibrium", "radius": 1.0, "norm": "inf"},
    }


def random_nonlinear_spec(seed: int, samples: int = 512) -> dict:
    """A smooth non-quadratic two-player game with tanh couplings (sampled constants)."""
    rng = np.random.default_rng(seed)
    c, s = 0.8 + 1.2 * rng.random(), 0.1 + 0.2 * rng.random()
    return {
        "sgncert": 1,
        "name": f"random-nonlinear-{seed}",
        "params": {"c": float(c), "s": float(s), "A": (0.6 * rng.standard_normal((2, 2))).tolist()},
        "players": [{"name": "x", "dim": 2}, {"name": "y", "dim": 2}],
        "costs": {
            "x": "sum(logcosh(x)) + 0.5 * x @ x + c * sum(tanh(x) * (A @ y)) + 0.1 * sum(x ** 3) / 3",
            "y": "sum(softplus(y)) + 0.5 * y @ y + s * sum(tanh(y) * x)",
        },
        "region": {"center": "equilibrium", "radius": 0.4, "norm": "inf"},
        "sampling": {"method": "sobol", "samples": samples, "seed": seed},
    }


def certify_spec(spec: dict, base: Path = ROOT, **options):
    from sgncert.analysis.certify import certify
    from sgncert.games.spec import game_from_dict

    return certify(game_from_dict(spec, base, spec.get("name", "<test>")), **options)


@pytest.fixture(scope="session")
def lq64_certification():
    from sgncert.analysis.certify import certify
    from sgncert.games.spec import load_game

    return certify(load_game(GAMES / "lq64.yaml"))


def ring_spec(n: int = 8, a: float = 1.0) -> dict:
    """A sampled ring: F_i = x_i + a (x_{i+1} - x_{i-1}) + 0.1 tanh(x_i). J = I + a S + diag(0.1 sech^2):
    gamma = min 1 + 0.1 sech^2 > 1 on the box, while the small-gain radius is 2a / mu > 1."""
    names = [f"p{i}" for i in range(n)]
    costs = {
        v: f"0.5 * {v} @ {v} + a * {v} @ {names[(i + 1) % n]} - a * {v} @ {names[i - 1]} + 0.1 * sum(logcosh({v}))"
        for i, v in enumerate(names)
    }
    return {
        "sgncert": 1,
        "name": f"skew-ring-{n}",
        "params": {"a": a},
        "players": [{"name": v, "dim": 1} for v in names],
        "costs": costs,
        "region": {"center": "zeros", "radius": 1.0, "norm": "inf"},
        "sampling": {"method": "sobol", "samples": 128, "seed": 0},
    }
