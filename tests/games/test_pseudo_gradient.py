"""Games given by pseudo-gradient blocks evaluate H(p) and c(p) in NumPy (no XLA), the
path every sweep point of an affine game takes: it agrees with jacfwd of the jitted F."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conftest import GAMES, random_affine_spec
from sgncert.analysis.constants import value_and_jacobian
from sgncert.games.spec import game_from_dict, load_game, with_params


def _jax_path(game):
    return dataclasses.replace(game, affine_parts=None)


def _agree(game, x):
    value, jac = value_and_jacobian(game, x)
    value_jax, jac_jax = value_and_jacobian(_jax_path(game), x)
    assert type(jac) is np.ndarray and jac.shape == (game.dim, game.dim)
    np.testing.assert_allclose(jac, jac_jax, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(value, value_jax, rtol=1e-13, atol=1e-14)


def test_lq64_agrees_with_jacfwd():
    game = load_game(GAMES / "lq64.yaml")
    assert game.kind == "blocks" and game.affine_parts is not None
    _agree(game, np.random.default_rng(0).standard_normal(game.dim))


@pytest.mark.parametrize("seed", range(4))
def test_random_affine_games_agree_with_jacfwd(seed):
    game = game_from_dict(random_affine_spec(seed, dims=(2, 3, 1)), GAMES)
    _agree(game, np.random.default_rng(seed).standard_normal(game.dim))


def test_parameter_changes_and_functions_reach_the_numpy_blocks():
    spec = {
        "sgncert": 1,
        "name": "fn-blocks",
        "params": {"lam": 0.5, "R": [[1.0, 2.0], [0.0, -1.0]]},
        "players": [{"name": "u", "dim": 2}, {"name": "v", "dim": 2}],
        "pseudo_gradient": {
            "blocks": {
                "u": {"u": "1 + sigmoid(lam)", "v": "exp(lam) * R"},
                "v": {"u": "-logsumexp(R) * R.T", "v": "eye(2) * softplus(lam)"},
            },
            "offset": {"v": "tanh(lam)"},
        },
        "region": {"center": "zeros", "radius": 1.0, "norm": "inf"},
    }
    game = game_from_dict(spec, GAMES)
    x = np.array([0.3, -0.2, 1.0, 0.5])
    for lam in (0.5, -2.0, 3.0):
        g = with_params(game, {"lam": lam})
        _agree(g, x)
        _, J = value_and_jacobian(g, x)
        np.testing.assert_allclose(J[:2, 2:], np.exp(lam) * np.array([[1.0, 2.0], [0.0, -1.0]]), rtol=1e-15)
        np.testing.assert_allclose(J[0, 0], 1 + 1 / (1 + np.exp(-lam)), rtol=1e-15)


def test_blocks_numpy_cannot_evaluate_fall_back_to_jax():
    game = load_game(GAMES / "lq64.yaml")

    def broken(params):
        raise ValueError("not evaluable in NumPy")

    value, jac = value_and_jacobian(dataclasses.replace(game, affine_parts=broken), np.ones(game.dim))
    value_ref, jac_ref = value_and_jacobian(_jax_path(game), np.ones(game.dim))
    np.testing.assert_array_equal(jac, jac_ref)
    np.testing.assert_array_equal(value, value_ref)


@pytest.mark.parametrize("seed", range(2))
def test_equilibrium_of_blocks_games_without_xla(seed):
    """solve_equilibrium on a blocks game uses H, c in NumPy: x* = -H^{-1} c, the same point
    as the JAX path's Newton iteration."""
    from sgncert.analysis.equilibrium import solve_equilibrium

    game = game_from_dict(random_affine_spec(seed, dims=(2, 3, 1)), GAMES)
    H, c = game.numpy_affine_parts()
    eq = solve_equilibrium(game)
    np.testing.assert_allclose(eq.x, np.linalg.solve(H, -c), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(eq.x, solve_equilibrium(_jax_path(game)).x, rtol=1e-12, atol=1e-13)
    assert eq.residual <= 1e-12


@pytest.mark.parametrize("seed", range(8))
def test_equilibrium_of_an_ill_conditioned_affine_game_is_found(seed):
    """H with eigenvalues near 2e4, 3 and 1e-2: the residual float64 reaches at the root,
    about eps ||H|| ||x*||, is above 1e-12 (1 + ||F(0)||); the solve succeeds (it failed
    for most such games), records that residual, and the point is the root of H x + c."""
    from sgncert.analysis.equilibrium import solve_equilibrium

    rng = np.random.default_rng(seed)
    A = rng.normal(size=(3, 3))
    Q, _ = np.linalg.qr(A)
    H = Q @ np.diag([2e4, 3.0, 1e-2]) @ Q.T + 0.1 * (A - A.T)
    c = rng.normal(size=3)
    blocks = {"Haa": H[:2, :2], "Hab": H[:2, 2:], "Hba": H[2:, :2], "Hbb": H[2:, 2:], "ca": c[:2], "cb": c[2:]}
    spec = {
        "sgncert": 1,
        "name": "ill-conditioned",
        "players": [{"name": "a", "dim": 2}, {"name": "b", "dim": 1}],
        "params": {k: v.tolist() for k, v in blocks.items()},
        "pseudo_gradient": {
            "blocks": {"a": {"a": "Haa", "b": "Hab"}, "b": {"a": "Hba", "b": "Hbb"}},
            "offset": {"a": "ca", "b": "cb"},
        },
        "region": {"center": "equilibrium", "radius": 1.0},
    }
    eq = solve_equilibrium(game_from_dict(spec))
    exact = np.linalg.solve(H, -c)
    assert np.linalg.norm(eq.x - exact) <= 1e-9 * np.linalg.norm(exact)
    assert eq.residual == pytest.approx(np.linalg.norm(H @ eq.x + c), rel=1e-6, abs=1e-15)
