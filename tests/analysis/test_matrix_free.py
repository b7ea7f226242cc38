"""The matrix-free path: Lanczos on Jacobian-vector products against the dense formulas at
the same points, the safe side of every value, certification and verification with it."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest

from sgncert import SpecError, certify, make_game, verify
from sgncert.analysis.constants import pointwise_statistics
from sgncert.analysis.matrix_free import (
    MATRIX_FREE,
    MATRIX_FREE_DIM,
    MatrixFree,
    kw_epsilon,
    lanczos_extreme,
    options_for,
)
from sgncert.analysis.sampling import sample_region
from sgncert.util.jaxenv import jax_scope

RNG = np.random.default_rng(7)
A12 = RNG.standard_normal((6, 5)) * 0.3
A21 = RNG.standard_normal((5, 6)) * 0.2


def cost_game(samples: int = 6):
    """Two players (6 and 5 dims), non-quadratic own costs, bilinear-plus-tanh couplings."""
    A, B = jnp.asarray(A12), jnp.asarray(A21)

    def fx(x, p):
        u, v = x["x"], x["y"]
        return 0.5 * u @ u + 0.2 * jnp.sum(jnp.log(jnp.cosh(u))) + jnp.tanh(u) @ (A @ v)

    def fy(x, p):
        u, v = x["x"], x["y"]
        return 0.6 * v @ v + 0.1 * jnp.sum(v**4) + v @ (B @ jnp.sin(u))

    return make_game(
        {"x": 6, "y": 5},
        costs={"x": fx, "y": fy},
        region={"center": [0.1] * 11, "radius": 0.8},
        sampling={"method": "sobol", "samples": samples, "seed": 3},
    )


def field_game():
    """F given directly, with a non-symmetric own block: sym J_ii is not J_ii."""

    def F(x, p):
        u, v = x["x"], x["y"]
        return {"x": jnp.array([[1.0, 0.9], [-0.3, 1.2]]) @ u + 0.1 * jnp.tanh(u) + 0.4 * v, "y": v - 0.4 * u + v**3}

    return make_game(
        {"x": 2, "y": 2},
        pseudo_gradient=F,
        region={"center": [0.0] * 4, "radius": 0.5},
        sampling={"method": "sobol", "samples": 6, "seed": 3},
    )


def both(game, weights):
    points = sample_region(game.region, game.sampling)
    with jax_scope():
        dense = pointwise_statistics(game, points, weights)
        token = MATRIX_FREE.set(MatrixFree())
        try:
            free = pointwise_statistics(game, points, weights)
        finally:
            MATRIX_FREE.reset(token)
    return dense, free


@pytest.mark.parametrize("make", [cost_game, field_game], ids=["costs", "pseudo_gradient"])
def test_values_match_the_dense_formulas_on_the_safe_side(make):
    game = make()
    dense, free = both(game, [1.0, 2.5])
    for key, lower in (("mu", True), ("gamma", True), ("alpha_true", True), ("L", False), ("beta", False)):
        a, b = np.asarray(dense[key]), np.asarray(free[key])
        scale = np.maximum(np.abs(a), 1.0)
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-7 * scale.max(), err_msg=key)
        if lower:  # lambda_min's: theta - rho is never above the dense value (beyond rounding)
            assert np.all(b <= a + 1e-12 * scale), key
        else:  # norms: sqrt(theta + rho) never below
            assert np.all(b >= a - 1e-12 * scale), key
    np.testing.assert_allclose(free["value0"], dense["value0"], rtol=1e-13, atol=1e-15)  # F(centre), unbatched


def test_zero_blocks_are_exactly_zero_and_lanczos_finds_extremes():
    A = np.diag([3.0, -1.0, 0.5, 2.0, -4.0])
    Q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((5, 5)))
    M = Q @ A @ Q.T
    opts = MatrixFree()
    lo = lanczos_extreme(lambda V: V @ M.T, 5, False, opts, (0,))
    hi = lanczos_extreme(lambda V: V @ M.T, 5, True, opts, (0,))
    assert -4.0 - 1e-12 <= lo.value <= -4.0 and 3.0 <= hi.value <= 3.0 + 1e-12
    zero = lanczos_extreme(lambda V: 0.0 * V, 7, True, opts, (0,))
    assert zero.value == 0.0 and zero.rho == 0.0


def test_an_extreme_eigenvalue_next_to_a_cluster_stays_on_the_safe_side():
    """lambda_min = -5e-8 just below 1000 eigenvalues at +5e-8: a residual-corrected Ritz
    value can land in the cluster (positive); the Kuczynski-Wozniakowski allowance keeps
    the value below the truth, whatever the start."""
    n = 4000
    lam = np.concatenate([[-5e-8], np.full(1000, 5e-8), np.random.default_rng(0).uniform(0.1, 1.0, n - 1001)])
    for seed in range(3):
        e = lanczos_extreme(lambda V: V * lam, n, False, MatrixFree(seed=seed), (0,))
        assert e.value <= -5e-8 and e.allowance > 0 and e.steps == 64
        assert e.value > -0.01  # the allowance is eps(n, 64) x spread, about 0.3% here
    M = np.random.default_rng(1).standard_normal((300, 300))
    top = np.linalg.eigvalsh(M.T @ M)[-1]
    e = lanczos_extreme(lambda V: V @ (M.T @ M), 300, True, MatrixFree(), (0,))
    assert top <= e.value <= top * 1.01
    assert kw_epsilon(300, 300, 0.1) == 0.0 and 0 < kw_epsilon(10**5, 64, 0.1) < 0.005


def test_certify_records_the_options_and_verify_recomputes_them(tmp_path):
    game = cost_game(samples=4)
    r = certify(game, matrix_free=True, bands=False)
    dense = certify(game, matrix_free=False, bands=False, tight=False)
    doc = r.to_dict()
    assert doc["constants"]["matrix_free"] == {"starts": 3, "steps": 64, "failure": 0.1, "seed": 0}
    assert doc["constants"]["provenance"] == "sampled" and "matrix_free" not in dense.to_dict()["constants"]
    assert any("matrix-free constants" in n for n in doc["notes"])
    np.testing.assert_allclose(doc["constants"]["mu"], dense.to_dict()["constants"]["mu"], rtol=1e-7)
    path = tmp_path / "c.json"
    r.save(path)
    rep = verify(path, game=game, resample=0)
    assert rep.exit_code == 0, rep.summary()
    # a stated mu above what the same options recompute fails
    bad = json.loads(path.read_text())
    bad["constants"]["mu"][0] *= 1.01
    assert verify(bad, game=game, resample=0).exit_code != 0


def test_options_and_refusals():
    game = cost_game()
    assert options_for(game, None) is None and options_for(game, False) is None
    assert options_for(game, True) == MatrixFree()
    big = make_game(
        {"x": MATRIX_FREE_DIM // 2 + 1, "y": MATRIX_FREE_DIM // 2},
        costs={"x": "0.5 * x @ x + 0.1 * sum(logcosh(x))", "y": "0.5 * y @ y"},
        sampling={"method": "random", "samples": 2, "seed": 0},
    )
    assert options_for(big, None) == MatrixFree()  # automatic above the threshold
    import dataclasses

    at_equilibrium = dataclasses.replace(big, region=dataclasses.replace(big.region, center=None))
    with pytest.raises(SpecError, match="give the centre explicitly"):
        certify(at_equilibrium)
    with pytest.raises(SpecError, match="do not combine with --bounds sound"):
        certify(game, matrix_free=True, bounds="sound")
    with pytest.raises(SpecError, match="starts must be"):
        MatrixFree(starts=0)
