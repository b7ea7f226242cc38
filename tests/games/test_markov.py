"""Markov and normal-form games in the Fisher geometry (docs/theory.md §8), reference values included."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import GAMES, ROOT
from sgncert.analysis.certify import certify
from sgncert.errors import SpecError
from sgncert.games.markov import gauge_basis, natural_gradient
from sgncert.games.nfg import parse_nfg
from sgncert.games.spec import game_from_dict, load_game
from sgncert.util.jaxenv import jax_scope

TABULAR = ["markov_coordination", "markov_general_sum", "rps", "three_firms"]


@pytest.fixture(scope="module")
def certified():
    """Each bundled tabular game certified once for the whole module."""
    return {name: certify(load_game(GAMES / f"{name}.yaml")) for name in TABULAR}


@pytest.fixture(scope="module")
def reference(certified):
    return certified["markov_coordination"]


@pytest.mark.slow
def test_reference_markov_numbers(reference):
    """Reference values: mu ~ 0.9344, L ~ 0.6009, alpha ~ 0.3335 at r = 1, beta ~ 1.572, step ~ 0.270 (3%)."""
    c = reference
    assert c.constants.provenance == "sampled" and c.constants.samples == 2**8 + 1
    np.testing.assert_allclose(c.constants.mu, [0.9344, 0.9344], rtol=0.03)
    np.testing.assert_allclose([c.constants.L[0, 1], c.constants.L[1, 0]], [0.6009, 0.6009], rtol=0.03)
    np.testing.assert_allclose(c.weights, [1.0, 1.0], rtol=1e-9)  # common reward: symmetric
    assert c.margin == pytest.approx(0.3335, rel=0.03)
    assert c.weighted.beta == pytest.approx(1.572, rel=0.03)
    assert c.steps.euler_max == pytest.approx(0.270, rel=0.03)
    assert c.game.geometry == "fisher" and c.game.metric_block_sizes == (2, 2)


@pytest.mark.slow
def test_fisher_constants_against_finite_differences(reference):
    """K = E^T J E at a sample point vs. central finite differences of F and an explicit
    G^{-1/2} built from the policies."""
    with jax_scope():
        g = reference.game
        p = g.jax_params()
        x = np.array([0.05, -0.1, 0.1, 0.0, -0.07, 0.02, 0.1, -0.1])
        F_jit = jax.jit(lambda v: g.pseudo_gradient(v, p))  # one compile, not op-by-op dispatch
        F = lambda v: np.asarray(F_jit(jnp.asarray(v)))  # noqa: E731
        eps = 1e-6
        J_fd = np.stack([(F(x + eps * e) - F(x - eps * e)) / (2 * eps) for e in np.eye(8)], axis=1)
        U = gauge_basis(2)
        Es = []
        for i in range(2):
            th = x[4 * i : 4 * i + 4].reshape(2, 2)
            pi = np.exp(th) / np.exp(th).sum(axis=1, keepdims=True)
            blocks = []
            for s in range(2):
                G = np.diag(pi[s]) - np.outer(pi[s], pi[s])
                Gr = U.T @ G @ U
                w, V = np.linalg.eigh(Gr)
                blocks.append(U @ V @ np.diag(w**-0.5) @ V.T)
            Es.append(np.block([[blocks[0], np.zeros((2, 1))], [np.zeros((2, 1)), blocks[1]]]))
        E = np.block([[Es[0], np.zeros((4, 2))], [np.zeros((4, 2)), Es[1]]])
        K_fd = E.T @ J_fd @ E
        E_lib = np.asarray(g.transform(jnp.asarray(x)))
        K_lib = E_lib.T @ np.asarray(jax.jit(jax.jacfwd(g.pseudo_gradient))(jnp.asarray(x), p)) @ E_lib
        np.testing.assert_allclose(K_lib, K_fd, atol=1e-7)
        # mu_1 at this point, from the finite-difference K
        mu1 = np.linalg.eigvalsh(0.5 * (K_fd[:2, :2] + K_fd[:2, :2].T))[0]
        assert mu1 >= reference.constants.mu[0] - 1e-9 or np.any(np.abs(x) > 0.1)


def npg_pair_ratio(c, h, n_pairs=32, n_steps=25, seed=0):
    """Max per-step ratio of Fisher-metric distances for natural policy gradient pairs."""
    with jax_scope():
        g = c.game
        p = g.jax_params()
        field = natural_gradient(
            g.extras["model"],
            tuple(pl.offset for pl in g.players),
            jax.jit(jax.vmap(g.pseudo_gradient, in_axes=(0, None))),
        )
        rng = np.random.default_rng(seed)
        r = g.region.radius * 0.9
        x = jnp.asarray(c.center + rng.uniform(-r, r, (n_pairs, g.dim)))
        y = jnp.asarray(c.center + rng.uniform(-r, r, (n_pairs, g.dim)))
        s = np.concatenate([np.full(n, np.sqrt(w)) for n, w in zip(g.metric_block_sizes, c.weights)])
        E = np.asarray(g.transform(jnp.asarray(c.center)))  # metric at the equilibrium
        Einv = np.linalg.pinv(E)  # coordinates in the Fisher-normalised frame
        worst = 0.0
        for _ in range(n_steps):
            d0 = np.linalg.norm(s * (np.asarray(x - y) @ Einv.T), axis=1)
            x, y = x - h * field(x, p), y - h * field(y, p)
            d1 = np.linalg.norm(s * (np.asarray(x - y) @ Einv.T), axis=1)
            keep = d0 > 1e-8
            if not keep.any():
                break
            worst = max(worst, float(np.max(d1[keep] / d0[keep])))
        return worst


@pytest.mark.parametrize("name", TABULAR)
def test_natural_policy_gradient_contracts_at_certified_step(name, certified):
    c = certified[name]
    assert c.certified, c.reason
    ratio = npg_pair_ratio(c, 0.99 * c.steps.euler_max)
    assert ratio < 1.0
    # the certified per-step factor at the best step, with the small slack of a sampled estimate
    assert npg_pair_ratio(c, c.steps.euler_best) <= c.steps.euler_factor + 1e-2


def test_general_sum_game_is_not_trivial(certified):
    c = certified["markov_general_sum"]
    assert c.certified and c.constants.gamma < 0  # Euclidean test fails, SGN certifies
    assert c.weights[1] > 10  # far from equal weights
    assert c.equilibrium is not None and c.equilibrium.residual < 1e-9
    assert np.linalg.norm(c.center) > 0.1  # not the uniform policy


def test_nfg_parser_payoff_and_outcome_versions():
    players, (A, B) = parse_nfg('NFG 1 R "PD" { "A" "B" } { 2 2 }\n"c"\n3 3 0 5 5 0 1/2 1')
    assert players == ["A", "B"]
    # profiles (1,1), (2,1), (1,2), (2,2): player 1 varies fastest
    np.testing.assert_array_equal(A, [[3, 5], [0, 0.5]])
    np.testing.assert_array_equal(B, [[3, 0], [5, 1]])
    text = 'NFG 1 R "x" { "P1" "P2" } { { "U" "D" } { "L" "R" } }\n""\n{ { "o1" 1, 2 } { "o2" 3 4 } }\n1 2 0 1'
    _, (A, B) = parse_nfg(text)
    np.testing.assert_array_equal(A, [[1, 0], [3, 1]])
    np.testing.assert_array_equal(B, [[2, 0], [4, 2]])
    players, pays = parse_nfg((GAMES / "three_firms.nfg").read_text())
    assert players == ["Firm1", "Firm2", "Firm3"] and pays[0].shape == (2, 2, 2)
    assert pays[0][0, 1, 1] == 1.0 and pays[0][0, 0, 1] == 0.5 and pays[0][0, 0, 0] == 0.0
    assert pays[2][1, 1, 0] == 1.0 and np.all(pays[1][:, 1, :] == 0)  # staying out pays 0
    for bad in ['NFG 2 R "x"', 'NFG 1 R "x" { "A" } { 2 }\n1', 'NFG 1 R "x" { "A" "B" } { 2 2 }\n1 2 x']:
        with pytest.raises(SpecError):
            parse_nfg(bad)


def _markov_spec(**changes):
    spec = {
        "sgncert": 1,
        "name": "m",
        "params": {},
        "markov": {
            "states": 1,
            "actions": {"a": 2, "b": 2},
            "discount": 0.5,
            "entropy": 1.0,
            "initial": [1.0],
            "transitions": [[[[1.0], [1.0]], [[1.0], [1.0]]]],
            "rewards": {"a": [[[1, 0], [0, 1]]], "b": [[[0, 1], [1, 0]]]},
        },
        "region": {"center": "zeros", "radius": 0.1},
    }
    spec["markov"].update(changes)
    return spec


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"transitions": [[[[0.5], [1.0]], [[1.0], [1.0]]]]}, "sums to 0.5"),
        ({"transitions": [[[1.0, 1.0], [1.0, 1.0]]]}, "shape"),
        ({"discount": 1.0}, "discount"),
        ({"entropy": 0.0}, "entropy"),
        ({"initial": [0.5]}, "initial"),
        ({"rewards": {"a": [[1, 0], [0, 1]], "b": [[[0, 1], [1, 0]]]}}, "rewards.a"),
        ({"actions": {"a": 1, "b": 2}}, "action count"),
    ],
)
def test_markov_validation(change, needle):
    game_from_dict(_markov_spec(), ROOT)  # the unchanged spec loads
    with pytest.raises(SpecError, match=needle):
        game_from_dict(_markov_spec(**change), ROOT)


def test_euclidean_geometry_option(reference):
    spec = dict(reference.game.canonical, geometry="euclidean")
    c = certify(game_from_dict(spec, GAMES))
    assert c.game.geometry == "euclidean" and c.game.metric_block_sizes == (4, 4)
    assert not np.allclose(c.constants.mu, reference.constants.mu)  # a different geometry
    # and the canonical spec round-trips for both
    assert game_from_dict(reference.game.canonical, GAMES).sha256 == reference.game.sha256


@pytest.mark.parametrize(("seed", "S"), [(0, 1), (1, 7), (2, 23)])  # 23: the fori_loop branch
def test_occupancy_solve_without_lapack_matches_numpy(seed, S):
    """solve_column_dominant on A = I - gamma P^T: equal to LAPACK's solve, and its
    forward-mode derivative equal to -A^{-1} dA A^{-1} b."""
    with jax_scope():
        from sgncert.games.markov import UNROLL_STATES, solve_column_dominant

        assert (S > UNROLL_STATES) == (seed == 2)
        rng = np.random.default_rng(seed)
        P = rng.random((S, S)) ** 3
        P /= P.sum(axis=1, keepdims=True)
        gamma, b = 0.99 * rng.random(), rng.random(S)
        A, dA = np.eye(S) - gamma * P.T, -P.T
        x = np.linalg.solve(A, b)
        np.testing.assert_allclose(np.asarray(jax.jit(solve_column_dominant)(A, b)), x, rtol=1e-13)
        dx = jax.jit(jax.jacfwd(lambda g: solve_column_dominant(jnp.eye(S) - g * jnp.asarray(P.T), jnp.asarray(b))))(
            gamma
        )
        np.testing.assert_allclose(np.asarray(dx), -np.linalg.solve(A, dA @ x), rtol=1e-11, atol=1e-14)


def test_fisher_frames_batch_equal_points_and_invert_the_reduced_fisher_matrix():
    g = load_game(GAMES / "markov_general_sum.yaml")
    model = g.extras["model"]
    rng = np.random.default_rng(3)
    X = rng.normal(scale=1.5, size=(5, g.dim))
    E = g.transform(X)
    assert E.shape == (5, g.dim, sum(g.metric_block_sizes))
    for b in range(5):
        np.testing.assert_array_equal(g.transform(X[b]), E[b])
        # E E^T = U G~^{-1} U^T per player and state, i.e. G E E^T G = G (the pseudo-inverse)
        o = 0
        for a in model.actions:
            for s in range(model.states):
                th = X[b, o + s * a : o + (s + 1) * a]
                pi = np.exp(th - th.max()) / np.exp(th - th.max()).sum()
                G = np.diag(pi) - np.outer(pi, pi)
                blk = E[b, o + s * a : o + (s + 1) * a]
                np.testing.assert_allclose(G @ blk @ blk.T @ G, G, atol=1e-12)
            o += model.states * a
