"""A certification computes each sample's Jacobian once (kept across its passes when they
fit the memory budget) and gives the same numbers as recomputing them for every pass."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from sgncert import make_game
from sgncert.analysis import constants as C
from sgncert.analysis.certify import certify


def black_box(samples: int = 300):
    """Two players, a Python cost (no templates); weights != 1, so three passes run."""

    def fx(x, p):
        return 0.5 * x["x"] @ x["x"] + 0.1 * jnp.sum(jnp.cosh(x["x"])) + 0.8 * x["x"] @ jnp.tanh(x["y"])

    def fy(x, p):
        return 2.0 * x["y"] @ x["y"] - 0.3 * x["y"] @ jnp.sin(x["x"])

    return make_game({"x": 3, "y": 3}, costs={"x": fx, "y": fy}, sampling={"samples": samples, "seed": 1})


def counted(monkeypatch):
    calls = {"points": 0}
    original = C.kernels

    def kernels(game):
        jac, vj = original(game)

        def jacobians(X, p):
            calls["points"] += X.shape[0]
            return jac(X, p)

        return jacobians, vj

    monkeypatch.setattr(C, "kernels", kernels)
    return calls


def test_each_jacobian_is_computed_once_and_the_numbers_do_not_change(monkeypatch):
    game = black_box()
    calls = counted(monkeypatch)
    kept = certify(game, tight=False, bands=False)
    assert not np.allclose(kept.weights, 1.0)  # the Euclidean proof's beta(1) is a third pass
    size = C.batch_size(301, game.dim, C.game_large_path(game))
    assert calls["points"] == -(-301 // size) * size  # one pass of whole batches
    calls["points"] = 0
    monkeypatch.setattr(C, "KEEP_SHARE", 10**18)  # no memory to keep them: every pass recomputes
    streamed = certify(game, tight=False, bands=False)
    assert calls["points"] == 3 * -(-301 // size) * size
    for a, b in ((kept.constants.mu, streamed.constants.mu), (kept.constants.L, streamed.constants.L)):
        np.testing.assert_array_equal(a, b)
    assert kept.weighted == streamed.weighted and kept.constants.gamma == streamed.constants.gamma
    assert kept.verdict == streamed.verdict
