"""Cost structure (sgncert.games.structure): template groups, structural zeros, the Jacobian by
block rows, and the large path fed by it. Everything is compared with jacfwd of the
plain pseudo-gradient (every cost traced for every player)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conftest import GAMES, random_nonlinear_spec
from sgncert.analysis import constants as C
from sgncert.analysis import kernels, statistics
from sgncert.analysis.sampling import sample_region
from sgncert.games.pseudo_gradient import pseudo_gradient_from_costs
from sgncert.games.spec import game_from_dict
from sgncert.util.jaxenv import jax_scope


def _spec(players, costs, params=None, samples=16):
    return {
        "sgncert": 1,
        "name": "structure-test",
        "params": params or {},
        "players": [{"name": n, "dim": d} for n, d in players],
        "costs": costs,
        "region": {"center": "zeros", "radius": 0.6, "norm": "inf"},
        "sampling": {"method": "sobol", "samples": samples, "seed": 3},
    }


def _ring_spec(n=6, dim=3):
    names = [f"q{i}" for i in range(n)]
    costs = {
        me: f"0.5 * {me} @ {me} + 0.1 * sum(logcosh({me})) + a * tanh({me}) @ (R @ {names[(i + 1) % n]})"
        f" + b * tanh({me}) @ (R.T @ {names[(i - 1) % n]})"
        for i, me in enumerate(names)
    }
    rng = np.random.default_rng(0)
    return _spec(
        [(m, dim) for m in names],
        costs,
        {"a": 0.3, "b": 0.2, "R": np.linalg.qr(rng.standard_normal((dim, dim)))[0].tolist()},
    )


MIXED = _spec(
    [("a", 2), ("b", 3), ("c", 1), ("e", 2)],
    {
        "a": "sum(logcosh(a)) + 0.5 * a @ a + k * tanh(a) @ (A @ b)",
        "b": "0.5 * b @ b + 0.1 * sum(b ** 4) + k * sum(tanh(b)) * sum(c) * sum(c)",  # c twice: one slot
        "c": "sum(softplus(e)) * 0.0 + 0.3 * sum(e) ** 2",  # does not mention itself: F_c = 0
        "e": "sum(logcosh(e)) + 0.5 * e @ e + k * tanh(e) @ (A @ b)",
    },
    {"A": np.eye(3)[:2].tolist(), "k": 0.3, "_s0": 1.0},
)


def _dense_jacobians(game, X):
    import jax
    import jax.numpy as jnp

    F = pseudo_gradient_from_costs(lambda x, p: {n: e(x, p) for n, e in _compiled(game).items()}, game.players)
    with jax_scope():
        p = game.jax_params()
        value = jax.jit(jax.vmap(F, in_axes=(0, None)))
        jac = jax.jit(jax.vmap(jax.jacfwd(F), in_axes=(0, None)))
        return np.asarray(value(jnp.asarray(X), p)), np.asarray(jac(jnp.asarray(X), p))


def _compiled(game):
    from sgncert.games.expressions import compile_expression

    names = [pl.name for pl in game.players]
    return {
        n: compile_expression(game.canonical["costs"][n], players=names, params=list(game.params), where=n)
        for n in names
    }


def test_ring_is_one_group_with_neighbour_slots():
    game = game_from_dict(_ring_spec(), GAMES)
    st = game.structure
    assert len(st.groups) == 1
    n = game.n_players
    np.testing.assert_array_equal(st.cols, [[i, (i + 1) % n, (i - 1) % n] for i in range(n)])
    assert st.pattern.sum() == 3 * n


def test_mixed_groups_slots_and_name_clash():
    game = game_from_dict(MIXED, GAMES)  # a parameter named like a slot: another prefix is used
    st = game.structure
    by_member = {int(m): g for g in st.groups for m in g.members}
    assert by_member[0] is by_member[3]  # a and e: one template
    assert len(st.groups) == 3
    assert not st.groups[0].slot_names[0].startswith("_s0")
    np.testing.assert_array_equal(st.pattern, [[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1], [0, 1, 0, 1]])


@pytest.mark.parametrize("spec", [MIXED, _ring_spec(), random_nonlinear_spec(5)], ids=["mixed", "ring", "nonlinear"])
def test_block_rows_equal_the_dense_jacobian(spec):
    import jax
    import jax.numpy as jnp

    from sgncert.games.structure import block_row_jacobian

    with jax_scope():
        spec = dict(spec, region=dict(spec["region"], center="zeros"))
        game = game_from_dict(spec, GAMES)
        X = np.random.default_rng(1).uniform(-0.6, 0.6, (5, game.dim))
        F, G = jax.jit(block_row_jacobian(game.structure, game.players))(jnp.asarray(X), game.jax_params())
        F_ref, J_ref = _dense_jacobians(game, X)
        np.testing.assert_allclose(np.asarray(F), F_ref, rtol=1e-13, atol=1e-14)
        idx, mask = statistics.block_layout(game.metric_block_sizes)
        J = statistics.dense_from_rows(np.asarray(G), game.structure.cols, idx, mask)
        np.testing.assert_allclose(J, J_ref, rtol=1e-13, atol=1e-14)
        outside = ~game.structure.pattern
        for i, pi in enumerate(game.players):
            for j, pj in enumerate(game.players):
                if outside[i, j]:
                    assert np.all(J_ref[:, pi.slice, pj.slice] == 0.0)  # structural zeros are exact
        # the per-player pseudo-gradient of the game is the same F
        F_game = jax.jit(jax.vmap(game.pseudo_gradient, in_axes=(0, None)))(jnp.asarray(X), game.jax_params())
        np.testing.assert_allclose(np.asarray(F_game), F_ref, rtol=1e-13, atol=1e-14)


@pytest.mark.slow
def test_large_path_from_block_rows_equals_the_unstructured_one(monkeypatch):
    game = game_from_dict(dict(MIXED, sampling={"method": "sobol", "samples": 20, "seed": 2}), GAMES)
    pts = sample_region(game.region, game.sampling)
    w = np.array([1.0, 2.0, 0.5, 1.5])
    monkeypatch.setattr(C, "DENSE_MAX_DIM", 0)
    assert kernels.structured_rows(game)
    rows = C.pointwise_statistics(game, pts, w, keep_jacobians=True)
    plain = C.pointwise_statistics(dataclasses.replace(game, structure=None), pts, w, keep_jacobians=True)
    for key in ("mu", "L", "gamma", "beta", "alpha_true"):
        np.testing.assert_allclose(rows[key], plain[key], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(rows["jacobians"], plain["jacobians"], rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(rows["jacobians"], _dense_jacobians(game, pts)[1], rtol=1e-13, atol=1e-14)
    assert np.all(rows["L"][:, 0, 2] == 0.0) and np.all(rows["L"][:, 2, 1] == 0.0)
    assert np.all(rows["mu"][:, 2] == 0.0)  # F_c does not depend on c


def test_a_template_over_the_length_limit_only_drops_the_structure():
    """Renaming x -> _s0 lengthens a cost near MAX_SOURCE_LENGTH: the game still loads."""
    from sgncert.games.expressions import MAX_SOURCE_LENGTH

    def balanced(n):  # a sum of n terms x@x nested as a balanced tree (shallow, compact)
        return "x@x" if n == 1 else f"({balanced(n // 2)})+({balanced(n - n // 2)})"

    long_cost = balanced(1024)
    assert len(long_cost) <= MAX_SOURCE_LENGTH
    game = game_from_dict(_spec([("x", 1), ("y", 1)], {"x": long_cost, "y": "y@y + x@y"}), GAMES)
    assert game.structure is None
    assert game.n_players == 2
