"""Reference values (those of the SGN paper) for the scalar game and the 64-dim LQ game."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import GAMES
from sgncert.analysis.certify import certify
from sgncert.games.spec import load_game

S = math.sqrt(0.5)


def scalar(lam: float):
    return certify(load_game(GAMES / "scalar.yaml", [f"lam={lam}"]))


@pytest.mark.parametrize("lam", [0.1, 0.5, 1.0, 1.3])
def test_scalar_game_closed_forms(lam):
    c = scalar(lam)
    assert c.constants.provenance == "exact"
    np.testing.assert_allclose(c.constants.mu, [1.0, 1.0], rtol=1e-12)
    np.testing.assert_allclose(c.constants.L, [[0, 10 * lam], [0.05 * lam, 0]], rtol=1e-12)
    assert c.constants.gamma == pytest.approx(1 - 5.025 * lam, rel=1e-12, abs=1e-12)
    assert c.perron.tau == pytest.approx(1 - lam * S, rel=1e-12)
    assert c.margin == pytest.approx(1 - lam * S, rel=1e-12)
    assert c.margin <= 1 - lam * S + 1e-15  # the proved margin never exceeds the truth
    assert c.weighted.alpha_true == pytest.approx(1 - lam * S, rel=1e-12)
    np.testing.assert_allclose(c.weights, [1.0, 200.0], rtol=1e-10)
    assert c.weighted.beta == pytest.approx(1 + lam * S, rel=1e-12)
    assert c.gain == pytest.approx(lam * S, rel=1e-12)


def test_scalar_game_at_lambda_one_matches_spec_table():
    c = scalar(1.0)
    assert c.margin == pytest.approx(0.292893, abs=1e-6)
    assert c.weighted.beta == pytest.approx(1.707107, abs=1e-6)
    assert c.steps.euler_max == pytest.approx(0.201010, abs=1e-6)
    assert c.steps.euler_best == pytest.approx(0.100505, abs=1e-6)
    assert c.steps.euler_factor == pytest.approx(math.sqrt(1 - (0.292893 / 1.707107) ** 2), abs=1e-6)
    (band,) = c.band
    assert (band["i"], band["j"]) == (0, 1)
    assert band["low"] == pytest.approx(34.3146, rel=1e-6)
    assert band["high"] == pytest.approx(1165.685, rel=1e-6)
    assert c.thresholds.euler_stability == pytest.approx(1.171573, abs=1e-6)
    assert c.thresholds.rk4_stability == pytest.approx(1.631587, abs=1e-6)
    # the certified metric is optimal here: contraction in M holds up to the true limits
    assert c.thresholds.euler_contraction == pytest.approx(1.171573, abs=1e-6)


def test_certification_boundaries():
    """Euclidean certifies iff lam < 0.199005; SGN iff lam < 1.414214."""
    assert scalar(0.1990).constants.gamma > 0
    assert scalar(0.1991).constants.gamma < 0
    assert scalar(1.4142).certified
    c = scalar(1.4143)
    assert not c.certified
    assert "SGN margin" in c.reason and "small-gain radius" in c.reason


def test_lq64_has_the_scalar_numbers(lq64_certification):
    c = lq64_certification
    assert c.game.dim == 64 and c.constants.provenance == "exact"
    R = c.game.params["R"]
    np.testing.assert_allclose(R @ R.T, np.eye(32), atol=1e-12)  # seeded orthogonal
    assert c.constants.gamma == pytest.approx(1 - 5.025, rel=1e-12)
    assert c.margin == pytest.approx(1 - S, rel=1e-12)
    assert c.weighted.alpha_true == pytest.approx(1 - S, rel=1e-12)
    np.testing.assert_allclose(c.weights, [1.0, 200.0], rtol=1e-10)
    assert c.weighted.beta == pytest.approx(1 + S, rel=1e-12)
    assert c.steps.euler_max == pytest.approx(0.201010, abs=1e-6)
    assert c.band[0]["low"] == pytest.approx(34.3146, rel=1e-6)
    assert c.band[0]["high"] == pytest.approx(1165.685, rel=1e-6)
    assert c.thresholds.euler_stability == pytest.approx(1.171573, abs=1e-6)
    assert c.thresholds.rk4_stability == pytest.approx(1.631587, abs=1e-6)


def test_lq64_random_orthogonal_is_seeded():
    a = load_game(GAMES / "lq64.yaml").params["R"]
    b = load_game(GAMES / "lq64.yaml").params["R"]
    assert np.array_equal(a, b)
    c = load_game(GAMES / "lq64.yaml", ["lam=0.5"])
    assert np.array_equal(a, c.params["R"]) and float(c.params["lam"]) == 0.5


def test_sampled_constants_of_an_affine_cost_game_agree_with_exact():
    """The same quadratic game forced through the sampling path gives the exact numbers."""
    from sgncert.analysis.constants import sampled_constants
    from sgncert.analysis.sampling import sample_region

    game = load_game(GAMES / "three_player.yaml")
    c = certify(game)
    pts = sample_region(game.region.with_center(c.center), game.sampling)
    s = sampled_constants(game, pts)
    assert s.provenance == "sampled" and s.samples == game.sampling.samples + 1
    np.testing.assert_allclose(s.mu, c.constants.mu, rtol=1e-10)
    np.testing.assert_allclose(s.L, c.constants.L, rtol=1e-10, atol=1e-14)
    assert s.gamma == pytest.approx(c.constants.gamma, rel=1e-10)
