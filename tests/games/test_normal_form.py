"""Normal-form games: the payoff indexing convention, zero-sum vs common-interest
Jacobians in closed form, and Gambit .nfg files against the equivalent ``payoffs:`` spec.

Convention (README, sgncert/games/tabular.py): every player's payoff array is indexed by
the joint action ``[a_1, ..., a_N]`` (shape ``(A_1, ..., A_N)``) and is a utility, so
``f_i = -(pi^T u_i + tau H(pi_i))``. A two-player zero-sum game with row payoff ``A`` is
``{row: A, col: -A}``. In logits, with ``G_i = diag(pi_i) - pi_i pi_i^T``,

    J_12 = -G_1 u_1 G_2,    J_21 = -G_2 u_2^T G_1,

so ``u_2 = -u_1`` gives ``J_12 = -J_21^T`` and ``u_2 = u_1`` gives ``J_12 = J_21^T``. At a
uniform equilibrium whose expected payoffs ``u_1 pi_2`` are constant, ``J_ii = tau G_i``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import GAMES
from sgncert import certify, game_from_dict, load_game
from sgncert.analysis.constants import value_and_jacobian
from sgncert.util.jaxenv import jax_scope

RPS = np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]], dtype=float)  # rows/cols: rock, paper, scissors
PENNIES = np.array([[1, -1], [-1, 1]], dtype=float)  # the row player wins when the pennies match


def fisher_g(n: int) -> np.ndarray:
    """G = diag(pi) - pi pi^T at the uniform policy over n actions."""
    return np.eye(n) / n - np.ones((n, n)) / n**2


def payoffs(game) -> list[np.ndarray]:
    """The payoff arrays u_i[a_1, ..., a_N] of a loaded normal-form game."""
    model = game.extras["model"]
    with jax_scope():
        return [np.asarray(r(game.jax_params()), dtype=float)[0] for r in model.rewards]


def jacobian_blocks(game, x):
    """F(x) and the blocks J_ij of the logit Jacobian."""
    F, J = value_and_jacobian(game, x)
    s = [p.slice for p in game.players]
    return F, [[J[a, b] for b in s] for a in s]


def normal_form_spec(A, col: str, entropy: float, **extra) -> dict:
    return {
        "sgncert": 1,
        "name": "nf",
        "params": {"A": A.tolist()},
        "normal_form": {"payoffs": {"row": "A", "col": col}, "entropy": entropy},
        "region": {"center": "equilibrium", "radius": 0.2, "norm": "inf"},
        "sampling": {"method": "vertices"},
        **extra,
    }


# ------------------------------------------------------------------ the bundled zero-sum games
@pytest.mark.parametrize(("name", "A", "tau"), [("rps", RPS, 1.0), ("matching_pennies", PENNIES, 1.5)])
def test_bundled_zero_sum_games(name, A, tau):
    """Payoffs as written in the spec, summing to zero over every joint action; at the
    uniform equilibrium J_ii = tau G, J_12 = -G A G = -J_21^T exactly."""
    game = load_game(GAMES / f"{name}.yaml")
    assert game.extras["model"].entropy == tau
    u_row, u_col = payoffs(game)
    np.testing.assert_array_equal(u_row, A)  # u_row[a_row, a_col]
    np.testing.assert_array_equal(u_row + u_col, 0.0)  # zero-sum, entrywise over joint actions
    n = A.shape[0]
    F, ((J11, J12), (J21, J22)) = jacobian_blocks(game, np.zeros(game.dim))
    np.testing.assert_allclose(F, 0.0, atol=1e-15)  # the uniform policy is the equilibrium
    G = fisher_g(n)
    np.testing.assert_allclose(J11, tau * G, atol=1e-14)
    np.testing.assert_allclose(J22, tau * G, atol=1e-14)
    np.testing.assert_allclose(J12, -G @ A @ G, atol=1e-14)
    np.testing.assert_allclose(J12, -J21.T, atol=1e-14)
    assert np.abs(J12).max() > 0.05  # a real coupling, not a trivially zero one


def test_closed_form_jacobians_at_the_centre():
    """RPS: G A G = A/9 (rows and columns of A sum to 0); pennies: A = 4G and G^2 = G/2,
    so J = [[tau G, -G], [G, tau G]]."""
    _, ((_, J12), (J21, _)) = jacobian_blocks(load_game(GAMES / "rps.yaml"), np.zeros(6))
    np.testing.assert_allclose(J12, -RPS / 9, atol=1e-15)
    np.testing.assert_allclose(J21, RPS.T / 9, atol=1e-15)
    _, J = value_and_jacobian(load_game(GAMES / "matching_pennies.yaml"), np.zeros(4))
    G = np.array([[1, -1], [-1, 1]]) / 4
    np.testing.assert_allclose(J, np.block([[1.5 * G, -G], [G, 1.5 * G]]), atol=1e-15)


def test_common_interest_is_told_apart_from_zero_sum():
    """``col: "-A.T"`` with antisymmetric A (the old rps.yaml) is u_col = u_row: common
    interest, J_12 = J_21^T, not -J_21^T."""
    zero_sum = game_from_dict(normal_form_spec(RPS, "-A", 1.0), GAMES)
    common = game_from_dict(normal_form_spec(RPS, "-A.T", 1.0), GAMES)
    u_row, u_col = payoffs(common)
    np.testing.assert_array_equal(u_col, u_row)
    _, ((_, C12), (C21, _)) = jacobian_blocks(common, np.zeros(6))
    _, ((_, Z12), (Z21, _)) = jacobian_blocks(zero_sum, np.zeros(6))
    np.testing.assert_allclose(C12, C21.T, atol=1e-15)
    np.testing.assert_allclose(C21, -RPS.T / 9, atol=1e-15)
    assert np.abs(C12 + C21.T).max() > 0.2  # 2 |A| / 9: the zero-sum identity fails
    np.testing.assert_allclose(Z12, -Z21.T, atol=1e-15)
    assert np.abs(Z12 - Z21.T).max() > 0.2
    np.testing.assert_array_equal(C12, Z12)  # player 1's coupling is the same, player 2's flips
    # the same block norms, so the same L at the centre; only the symmetric part differs
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.2, 0.2, 6)
    _, ((_, C12), (C21, _)) = jacobian_blocks(common, x)
    _, ((_, Z12), (Z21, _)) = jacobian_blocks(zero_sum, x)
    np.testing.assert_allclose(C12, C21.T, atol=1e-14)  # at any point, not only the centre
    np.testing.assert_allclose(Z12, -Z21.T, atol=1e-14)


def test_rps_reduced_fisher_frame_at_the_centre():
    """K = E^T J E with G~ = I/3: K_ii = tau I, K_12 = -K_21^T and ||K_12|| = ||A||/3 = 1/sqrt(3)."""
    game = load_game(GAMES / "rps.yaml")
    _, J = value_and_jacobian(game, np.zeros(6))
    E = game.transform(np.zeros(6))
    K = E.T @ J @ E
    np.testing.assert_allclose(K[:2, :2], np.eye(2), atol=1e-14)
    np.testing.assert_allclose(K[2:, 2:], np.eye(2), atol=1e-14)
    np.testing.assert_allclose(K[:2, 2:], -K[2:, :2].T, atol=1e-14)
    np.testing.assert_allclose(np.linalg.svd(K[:2, 2:], compute_uv=False), [3**-0.5] * 2, rtol=1e-13)


# ------------------------------------------------------------------ matching pennies, closed form
def pennies_mu(tau: float, r: float = 0.2) -> float:
    """inf over the logit box of radius r of K_11 = tau + 2 t_1 t_2 - tau t_1 l_1, with
    l_i the logit difference of player i (|l_i| <= 2r) and t_i = tanh(l_i / 2) = 2 p_i - 1:
    attained at the vertices with |l_1| = |l_2| = 2r, t_1 t_2 < 0."""
    t = math.tanh(r)
    return tau * (1 - 2 * r * t) - 2 * t * t


@pytest.mark.parametrize("tau", [1.1, 1.5])
def test_matching_pennies_certificate_in_closed_form(tau):
    """K_12 = -2 sqrt(G~_1 G~_2) with G~_i = 2 p_i (1 - p_i) <= 1/2, so L = 1 (the centre);
    mu as in :func:`pennies_mu`; zero-sum, so gamma = mu; alpha = mu - L with w = (1, 1);
    beta = ||[[tau, -1], [1, tau]]|| = sqrt(tau^2 + 1) (the centre); 2 players: the band is
    the root interval of (1 + r)^2 = 4 mu^2 r. SGN certifies iff tau > 1.1703."""
    spec = normal_form_spec(PENNIES, "-A", tau)
    c = certify(game_from_dict(spec, GAMES), tight=False, bands=True)
    mu = pennies_mu(tau)
    assert c.constants.provenance == "sampled" and c.constants.samples == 17  # 2^4 vertices + centre
    np.testing.assert_allclose(c.center, 0.0, atol=1e-12)
    np.testing.assert_allclose(c.constants.mu, [mu, mu], rtol=1e-12)
    np.testing.assert_allclose(c.constants.L, [[0, 1], [1, 0]], rtol=1e-12)
    assert c.constants.gamma == pytest.approx(mu, rel=1e-12)
    assert c.margin == pytest.approx(mu - 1, rel=1e-10)
    assert c.gain == pytest.approx(1 / mu, rel=1e-12)
    # the SGN proof (steps are its consequence); whatever else the verdict says: zero-sum, so
    # gamma = mu > 0 and F is strongly monotone in the unweighted Fisher metric for both tau
    assert (c.steps is not None) == (tau > 1.1703)
    if c.steps is not None:
        np.testing.assert_allclose(c.weights, [1.0, 1.0], rtol=1e-12)
        assert c.weighted.beta == pytest.approx(math.sqrt(tau**2 + 1), rel=1e-12)
        assert c.steps.euler_max == pytest.approx(2 * (mu - 1) / (tau**2 + 1), rel=1e-10)
        b = 2 * mu * mu - 1
        (band,) = c.band
        assert band["low"] == pytest.approx(b - math.sqrt(b * b - 1), rel=1e-8)
        assert band["high"] == pytest.approx(b + math.sqrt(b * b - 1), rel=1e-8)


def test_bundled_matching_pennies_numbers():
    c = certify(load_game(GAMES / "matching_pennies.yaml"), tight=False, bands=False)
    assert c.steps is not None and c.margin == pytest.approx(0.30366077379729, rel=1e-12)
    assert 1.1703 < 1 / (1 - 0.4 * math.tanh(0.2)) * (1 + 2 * math.tanh(0.2) ** 2) < 1.1704  # the threshold tau


# ------------------------------------------------------------------ .nfg files == payoffs: specs
# a general-sum 2 x 3 game: u_row[a_row, a_col], u_col[a_row, a_col]. Not square, not
# symmetric: a transposed or C-ordered read changes the game (or its shape).
ROW_2x3 = [[3, 0, 1], [1, 2, 0.5]]
COL_2x3 = [[0, 2, 1], [3, 0, 2]]
# Gambit payoff version: profiles (1,1) (2,1) (1,2) (2,2) (1,3) (2,3), player 1 fastest
NFG_2x3 = 'NFG 1 R "general sum 2x3" { "Row" "Col" } { 2 3 }\n""\n3 0  1 3  0 2  2 0  1 1  1/2 2\n'
NFG_RPS = 'NFG 1 R "rps" { "row" "col" } { 3 3 }\n"R P S"\n0 0  1 -1  -1 1   -1 1  0 0  1 -1   1 -1  -1 1  0 0\n'


def entry_payoffs() -> dict[str, list]:
    """three_firms.nfg by its definition: entering pays 1 - 1/2 per other entrant, staying out 0
    (strategy 0 = E, 1 = O), indexed [a_1, a_2, a_3]."""
    out = {}
    for i in range(3):
        u = np.zeros((2, 2, 2))
        for a in np.ndindex(2, 2, 2):
            if a[i] == 0:
                u[a] = 1 - 0.5 * sum(a[j] == 0 for j in range(3) if j != i)
        out[f"Firm{i + 1}"] = u.tolist()
    return out


def same_certificate(a, b):
    for x, y in [
        (a.constants.mu, b.constants.mu),
        (a.constants.L, b.constants.L),
        ([a.constants.gamma], [b.constants.gamma]),
        ([a.weighted.beta, a.weighted.alpha_true], [b.weighted.beta, b.weighted.alpha_true]),
        ([a.margin, a.margin_float], [b.margin, b.margin_float]),
        (a.weights, b.weights),
        (a.center, b.center),
    ]:
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-15)
    assert a.certified == b.certified and (a.gain is None) == (b.gain is None)
    if a.gain is not None:
        assert a.gain == pytest.approx(b.gain, rel=1e-12)
    assert (a.steps is None) == (b.steps is None)
    if a.steps is not None and b.steps is not None:
        assert a.steps.euler_max == pytest.approx(b.steps.euler_max, rel=1e-12)


@pytest.mark.parametrize(
    ("nfg", "pays", "tau"),
    [
        (NFG_2x3, {"Row": ROW_2x3, "Col": COL_2x3}, 2.0),
        pytest.param(NFG_RPS, {"row": RPS.tolist(), "col": (-RPS).tolist()}, 1.0, marks=pytest.mark.slow),
        pytest.param(None, entry_payoffs(), 0.5, marks=pytest.mark.slow),  # the bundled games/three_firms.nfg
    ],
    ids=["general-sum-2x3", "rps", "three-firms"],
)
def test_nfg_and_payoffs_spec_give_the_same_certificate(tmp_path, nfg, pays, tau):
    if nfg is None:
        base, name = GAMES, "three_firms.nfg"
    else:
        base, name = tmp_path, "game.nfg"
        (tmp_path / name).write_text(nfg)
    common = {
        "sgncert": 1,
        "name": "twin",
        "region": {"center": "equilibrium", "radius": 0.2, "norm": "inf"},
        "sampling": {"method": "vertices"},
    }
    from_nfg = game_from_dict({**common, "normal_form": {"nfg": name, "entropy": tau}}, base)
    from_payoffs = game_from_dict({**common, "normal_form": {"payoffs": pays, "entropy": tau}}, base)
    assert [p.name for p in from_nfg.players] == list(pays)
    for u, v in zip(payoffs(from_nfg), payoffs(from_payoffs)):
        np.testing.assert_array_equal(u, v)
    a = certify(from_nfg, tight=False, bands=False)
    b = certify(from_payoffs, tight=False, bands=False)
    same_certificate(a, b)
    assert a.constants.samples == 2**from_nfg.dim + 1
