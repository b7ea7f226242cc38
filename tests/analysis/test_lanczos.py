"""The large-dimension path of the constants (sgncert.analysis.lanczos): block-sparse Lanczos with
residual bounds, host eigenvalues of the small blocks, dead-code-eliminated F, batch sizes
from the memory budget. Each agrees with the dense formulas, and on the safe side."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import GAMES, random_affine_spec, random_nonlinear_spec
from sgncert.analysis import constants as C
from sgncert.analysis import kernels, lanczos
from sgncert.analysis.certify import certify
from sgncert.analysis.sampling import sample_region
from sgncert.games.spec import game_from_dict, load_game
from sgncert.util.jaxenv import jax_scope


def _dense(game, points, weights):
    """Every per-point statistic by the dense formulas (the dense path's jitted kernels)."""
    assert not C.large_path(sum(game.metric_block_sizes)) or C.DENSE_MAX_DIM >= game.dim
    return C.pointwise_statistics(game, points, weights)


def _check_safe(large, dense, tol_diag=2e-6, tol_beta=2e-10):
    """mu and L exact; beta an upper estimate within tol_beta; gamma, alpha_true lower
    estimates within tol_diag (relative to the operator's scale)."""
    np.testing.assert_allclose(large["mu"], dense["mu"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(large["L"], dense["L"], rtol=1e-12, atol=1e-12)
    b, bd = large["beta"], dense["beta"]
    assert np.all(b >= bd * (1 - 1e-14)), "beta underestimated"
    assert np.all(b <= bd * (1 + tol_beta) + 1e-14)
    for key in ("gamma", "alpha_true"):
        scale = np.maximum(np.abs(dense[key]), bd)
        assert np.all(large[key] <= dense[key] + 1e-13 * scale), f"{key} overestimated"
        assert np.all(large[key] >= dense[key] - 2 * tol_diag * scale), key


def _large_and_dense(game, points, weights, monkeypatch, threshold=0):
    monkeypatch.setattr(C, "DENSE_MAX_DIM", threshold)
    large = C.pointwise_statistics(game, points, weights)
    monkeypatch.undo()
    return large, _dense(game, points, weights)


def _ring(players, dims, samples, seed=0):
    """A ring of players with (possibly unequal) block sizes: zero blocks, padding."""
    names = [f"p{i}" for i in range(len(dims))]
    rng = np.random.default_rng(seed)
    params, costs = {}, {}
    for i, (n, d) in enumerate(zip(names, dims)):
        j = (i + 1) % len(dims)
        params[f"A{i}"] = (0.4 * rng.standard_normal((d, dims[j]))).tolist()
        params[f"P{i}"] = (0.3 * rng.standard_normal((d, d))).tolist()
        costs[n] = (
            f"0.5 * {n} @ {n} + 0.5 * norm2(P{i} @ {n}) + 0.2 * sum(logcosh({n})) + tanh({n}) @ (A{i} @ {names[j]})"
        )
    return {
        "sgncert": 1,
        "name": "ring-test",
        "params": params,
        "players": [{"name": n, "dim": d} for n, d in zip(names, dims)],
        "costs": costs,
        "region": {"center": "zeros", "radius": 0.5, "norm": "inf"},
        "sampling": {"method": "sobol", "samples": samples, "seed": seed},
    }


@pytest.fixture(scope="module")
def ring_game():
    dims = (3, 5, 2, 4)  # unequal blocks (gather + padding), zero blocks off the ring
    return game_from_dict(_ring(len(dims), dims, 12), GAMES)


@pytest.mark.slow
def test_large_path_agrees_with_dense_on_a_ring(ring_game, monkeypatch):
    game = ring_game
    pts = sample_region(game.region, game.sampling)
    w = np.linspace(1.0, 3.0, game.n_players)
    large, dense = _large_and_dense(game, pts, w, monkeypatch)
    _check_safe(large, dense)
    assert np.all(large["L"][:, 0, 2] == 0.0)  # a structurally zero block: exactly 0


@pytest.mark.slow
def test_large_path_agrees_on_a_nonlinear_two_player_game(monkeypatch):
    game = game_from_dict(random_nonlinear_spec(3, samples=31), GAMES)
    c = certify(game, tight=False, bands=False)
    pts = sample_region(game.region.with_center(c.center), game.sampling)
    large, dense = _large_and_dense(game, pts, c.weights, monkeypatch)
    _check_safe(large, dense)


@pytest.mark.slow
def test_fisher_geometry_on_the_large_path(monkeypatch):
    import json

    game = load_game(GAMES / "markov_general_sum.yaml")
    cert = json.loads((GAMES.parent / "certificates" / "markov_general_sum.cert.json").read_text())
    center = np.asarray(cert["region"]["center"], dtype=np.float64)
    pts = sample_region(game.region.with_center(center), game.sampling)
    large, dense = _large_and_dense(game, pts, np.asarray(cert["metric"]["weights"]), monkeypatch)
    _check_safe(large, dense)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_spectral_norm_bound_on_random_matrices(seed):
    """A constant random J of dimension 150 (> DENSE_MAX_DIM) forced through the sampled
    path: beta >= ||S J S^-1||_2 and within 1e-9 relative; lambda_min's from below."""
    spec = random_affine_spec(seed, dims=(70, 80), coupling=0.4)
    spec["region"]["center"] = "zeros"
    game = game_from_dict(spec, GAMES)
    assert C.large_path(game.dim)
    pts = np.zeros((3, game.dim))
    w = np.array([1.0, 10.0 ** (seed - 1)])
    st = C.pointwise_statistics(game, pts, w)
    dense = C.pointwise_statistics(game, pts, w, block_stats=False, keep_jacobians=True)
    K = dense["jacobians"][0]
    s = C.weight_scaling(game, w)
    dense = {
        "beta": [np.linalg.norm(s[:, None] * K / s[None, :], 2)],
        "gamma": [np.linalg.eigvalsh(0.5 * (K + K.T))[0]],
        "alpha_true": dense["alpha_true"],
    }
    assert np.all(st["beta"] >= dense["beta"][0] * (1 - 1e-15))
    assert np.all(st["beta"] <= dense["beta"][0] * (1 + 1e-9))
    for key in ("gamma", "alpha_true"):
        assert np.all(st[key] <= dense[key][0] + 1e-13)
        assert np.all(st[key] >= dense[key][0] - 4e-6 * dense["beta"][0])


def test_unconverged_points_fall_back_to_dense(ring_game, monkeypatch):
    game = ring_game
    pts = sample_region(game.region, game.sampling)
    w = np.linspace(1.0, 2.0, game.n_players)
    monkeypatch.setattr(lanczos, "LANCZOS_TOL", 0.0)  # nothing converges: every value from the fallback
    monkeypatch.setattr(lanczos, "LANCZOS_TOL_DIAGNOSTIC", 0.0)
    monkeypatch.setattr(C, "DENSE_MAX_DIM", 0)
    large = C.pointwise_statistics(game, pts, w)
    monkeypatch.undo()
    dense = _dense(game, pts, w)
    for key in ("gamma", "beta", "alpha_true"):
        np.testing.assert_allclose(large[key], dense[key], rtol=1e-12, atol=1e-12)


def test_dead_code_elimination_keeps_F_and_J():
    import jax
    import jax.numpy as jnp

    with jax_scope():
        game = load_game(GAMES / "three_player.yaml")
        F_small = jax.jit(kernels.dce_pseudo_gradient(game))
        x = jnp.asarray(np.linspace(-0.3, 0.4, game.dim))
        p = game.jax_params()
        np.testing.assert_allclose(
            np.asarray(F_small(x, p)), np.asarray(jax.jit(game.pseudo_gradient)(x, p)), rtol=1e-13, atol=1e-15
        )
        np.testing.assert_allclose(
            np.asarray(jax.jit(jax.jacfwd(F_small))(x, p)),
            np.asarray(jax.jit(jax.jacfwd(game.pseudo_gradient))(x, p)),
            rtol=1e-13,
            atol=1e-15,
        )
        n_small = len(jax.make_jaxpr(kernels.dce_pseudo_gradient(game))(x, p).jaxpr.eqns)
        n_full = len(jax.make_jaxpr(game.pseudo_gradient)(x, p).jaxpr.eqns)
        assert n_small <= n_full


@pytest.mark.parametrize("dim", [2, 64, 128, 129, 256, 1024, 4096])
def test_batch_size_follows_the_memory_budget(dim):
    size = C.batch_size(10**6, dim)
    assert size == C.batch_size(10, dim)  # fixed: one compilation per game
    assert 1 <= size <= C.BATCH_POINTS
    if dim > 1:
        assert size * 8 * dim * dim <= C.BATCH_BYTES  # never samples x d^2 at once


def test_batch_size_shrinks_with_the_available_memory(monkeypatch):
    """The budget is the smaller of BATCH_BYTES and 1/MEMORY_SHARE of the available memory."""
    dim = C.DENSE_MAX_DIM
    per_point = 6 * 8 * dim * dim
    real = C.available_memory()
    assert real is None or real > 0
    big = C.batch_size(1000, dim)
    monkeypatch.setattr(C, "available_memory", lambda: C.MEMORY_SHARE * 16 * 1024 * 1024)  # 16 MiB a batch
    small = C.batch_size(1000, dim)
    assert small * per_point <= 16 * 1024 * 1024 < (small + 1) * per_point
    assert small < big
    monkeypatch.setattr(C, "available_memory", lambda: None)  # unknown: the fixed budget
    assert C.batch_size(1000, dim) == min(C.BATCH_POINTS, C.BATCH_BYTES // (per_point + 1))


@pytest.mark.parametrize("path", ["dense", "large", "matrix-free"])
def test_beta_alone_is_the_beta_computed_with_alpha_true(path, monkeypatch):
    """The Euclidean proof's beta(1) skips alpha_true(1) (which is gamma): the same beta,
    bit for bit, on every path."""
    from sgncert.analysis.matrix_free import MATRIX_FREE, MatrixFree

    game = game_from_dict(_ring(3, (4, 6, 5), 24, seed=5), GAMES)
    if path == "large":
        monkeypatch.setattr(C, "DENSE_MAX_DIM", 0)
    token = MATRIX_FREE.set(MatrixFree(starts=2, steps=24)) if path == "matrix-free" else None
    try:
        pts = sample_region(game.region, game.sampling)
        w = np.ones(game.n_players)
        both = C.pointwise_statistics(game, pts, w, block_stats=False)
        alone = C.pointwise_statistics(game, pts, w, block_stats=False, margin=False)
        beta = C.lipschitz_constant(game, w, points=pts)
    finally:
        if token is not None:
            MATRIX_FREE.reset(token)
    assert "alpha_true" not in alone
    np.testing.assert_array_equal(alone["beta"], both["beta"])
    assert beta == float(both["beta"].max())
    # and beta(1) = ||J||_2 at each point, against the dense formula
    dense = np.array([np.linalg.norm(C.value_and_jacobian(game, x)[1], 2) for x in pts])
    np.testing.assert_allclose(alone["beta"], dense, rtol=1e-6 if path == "matrix-free" else 1e-9)
    assert np.all(alone["beta"] >= dense * (1 - 1e-12))  # the safe side
