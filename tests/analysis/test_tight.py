"""Tight certificates (docs/theory.md §9): searched metrics, exact re-checks, bisection on h."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import GAMES
from sgncert.analysis.tight import tight_rate, tight_step, tight_step_sampled
from sgncert.theory.contraction import (
    check_contraction,
    check_rate,
    contraction_factor,
    sampled_factor,
    spectral_step_limit,
    step_matrix,
)
from sgncert.theory.smallgain import perron_weights, sgn_margin
from sgncert.theory.thresholds import exact_thresholds

SCALAR_H = np.array([[1.0, 10.0], [0.05, 1.0]])  # the scalar reference game at lam = 1
EULER_TRUE, RK4_TRUE = 1.171573, 1.631587


def random_lq(seed: int, n: int = 3, lam: float = 0.83, independent: bool = True) -> np.ndarray:
    """Two-player LQ game: Q_i = R_i^T R_i + I, couplings lam 10 R and lam 0.05 S (unit norms).

    ``independent=False`` uses S = R^T (the issue's games, symmetrised by scalar weights);
    True draws S independently (scalar weights cannot symmetrise; block metrics help).
    """
    rng = np.random.default_rng(seed)

    def unit(A):
        return A / np.linalg.norm(A, 2)

    R1, R2 = unit(rng.standard_normal((n, n))), unit(rng.standard_normal((n, n)))
    R = unit(rng.standard_normal((n, n)))
    S = unit(rng.standard_normal((n, n))) if independent else R.T
    return np.block([[R1.T @ R1 + np.eye(n), lam * 10.0 * R], [lam * 0.05 * S, R2.T @ R2 + np.eye(n)]])


def block_constants(H, bs):
    off = np.concatenate([[0], np.cumsum(bs)])
    N = len(bs)
    mu = np.array(
        [
            np.linalg.eigvalsh(
                0.5 * (H[off[i] : off[i + 1], off[i] : off[i + 1]] + H[off[i] : off[i + 1], off[i] : off[i + 1]].T)
            )[0]
            for i in range(N)
        ]
    )
    L = np.array(
        [
            [0.0 if i == j else np.linalg.norm(H[off[i] : off[i + 1], off[j] : off[j + 1]], 2) for j in range(N)]
            for i in range(N)
        ]
    )
    return mu, L


@pytest.fixture(scope="module")
def lq64_H():
    from sgncert.analysis.constants import value_and_jacobian
    from sgncert.games.spec import load_game

    g = load_game(GAMES / "lq64.yaml")
    _, H = value_and_jacobian(g, np.zeros(64))
    return np.asarray(H)


# ----------------------------------------------------------------------- reference values
@pytest.mark.parametrize("which", ["scalar", "lq64"])
def test_reference_tight_steps(which, lq64_H):
    H, bs = (SCALAR_H, [1, 1]) if which == "scalar" else (lq64_H, [32, 32])
    e = tight_step(H, bs, method="euler")
    assert e.provenance == "exact" and e.family == "scalar" and e.method == "euler"
    assert abs(e.h / 1.1716 - 1) < 1e-3
    assert e.h <= EULER_TRUE + 1e-6 and e.h <= e.true_limit
    assert e.true_limit == pytest.approx(EULER_TRUE, abs=1e-6)
    assert e.factor < 1 and e.ratio == pytest.approx(e.h / e.true_limit)
    assert e.weights[0] == 1.0 and e.weights[1] == pytest.approx(200.0, rel=1e-6)
    r = tight_step(H, bs, method="rk4")
    assert abs(r.h / RK4_TRUE - 1) < 1e-2 and r.h <= r.true_limit <= RK4_TRUE + 1e-6
    assert r.true_limit == pytest.approx(RK4_TRUE, abs=1e-6)
    # the SGN steps are far below: 0.201 (Euler max)
    assert e.h > 5 * 0.201


def test_reference_rate():
    r = tight_rate(SCALAR_H, [1, 1])
    assert r.alpha <= r.true_bound == pytest.approx(1 - math.sqrt(0.5))
    assert r.ratio > 1 - 1e-6


# ------------------------------------------------------------------ never above the truth
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("family", ["scalar", "block"])
def test_certified_steps_below_true_limits(seed, family):
    H = random_lq(seed, n=2 + seed % 2, independent=seed % 2 == 0)
    bs = [H.shape[0] // 2] * 2
    scale = None
    for method in ("euler", "rk4"):
        res = tight_step(H, bs, method=method, family=family, rel_tol=1e-3)
        assert res.true_limit == pytest.approx(spectral_step_limit(H, method))
        assert 0 < res.h <= res.true_limit
        assert 0 < res.factor < 1 and res.checks >= 1
        # exact re-check of the reported numbers, and a float cross-check
        M = res.matrix()
        assert check_contraction(H, res.h, M, res.factor, method)
        assert contraction_factor(step_matrix(H, res.h, method), M) <= res.factor
        # at least as good as the SGN (Perron) metric's own exact threshold
        if scale is None:
            w = perron_weights(*block_constants(H, bs)).weights
            scale = np.repeat(np.sqrt(w), bs)
        th = exact_thresholds(H, scale)
        heur = th.euler_contraction if method == "euler" else th.rk4_contraction
        assert res.h >= heur * (1 - 1e-6)


def test_block_beats_scalar_on_unequal_couplings():
    H = random_lq(0, n=3, independent=True)
    sc = tight_step(H, [3, 3], family="scalar", rel_tol=1e-3)
    bl = tight_step(H, [3, 3], family="block", rel_tol=1e-3)
    assert bl.h >= sc.h and bl.ratio > sc.ratio + 0.01
    assert bl.weights is None and sc.weights is not None


def test_lmi_and_descent_agree():
    H = random_lq(1, n=2, independent=True)
    a = tight_step(H, [2, 2], family="block", search="lmi", rel_tol=1e-4)
    b = tight_step(H, [2, 2], family="block", search="descent", rel_tol=1e-4)
    assert a.search == "lmi" and b.search == "descent"
    assert a.h == pytest.approx(b.h, rel=3e-3)


# ------------------------------------------------------------------- simulated contraction
@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_trajectories_contract_in_reported_metric(method):
    rng = np.random.default_rng(7)
    for seed, family in ((0, "scalar"), (2, "block")):
        H = random_lq(seed, n=3, independent=True)
        res = tight_step(H, [3, 3], method=method, family=family, rel_tol=1e-3)
        T, M = step_matrix(H, res.h, method), res.matrix()
        for _ in range(5):
            x = rng.standard_normal(6)
            for _ in range(50):
                y = T @ x
                nx, ny = math.sqrt(x @ M @ x), math.sqrt(y @ M @ y)
                assert ny <= res.factor * nx * (1 + 1e-12)
                x = y / max(ny, 1e-300)


# ---------------------------------------------------------------------- the exact re-check
def test_exact_recheck_rejects_perturbed_metric():
    res = tight_step(SCALAR_H, [1, 1], method="euler")
    M = res.matrix()
    assert check_contraction(SCALAR_H, res.h, M, res.factor, "euler")
    bad = M.copy()
    bad[1, 1] *= 1.5  # one block scaled
    assert not check_contraction(SCALAR_H, res.h, bad, res.factor, "euler")
    # the same metric at a larger step, or with a smaller factor
    assert not check_contraction(SCALAR_H, res.h * 1.01, M, res.factor, "euler")
    assert not check_contraction(SCALAR_H, res.h, M, res.factor * (1 - 1e-6), "euler")
    # a metric that is not positive definite
    assert not check_contraction(SCALAR_H, res.h, -M, res.factor, "euler")


def test_exact_recheck_block_metric():
    H = random_lq(0, n=3, independent=True)
    res = tight_step(H, [3, 3], family="block", method="rk4", rel_tol=1e-3)
    M = res.matrix()
    assert check_contraction(H, res.h, M, res.factor, "rk4")
    bad = M.copy()
    bad[3:, 3:] *= 1.5
    assert not check_contraction(H, res.h, bad, res.factor, "rk4")
    assert not check_contraction(H, min(res.true_limit * 1.001, res.h * 1.05), M, res.factor, "rk4")


# -------------------------------------------------------------------------------- rate
@pytest.mark.parametrize("seed", range(3))
def test_tight_rate_between_sgn_and_spectrum(seed):
    H = random_lq(seed, n=3, independent=True)
    mu, L = block_constants(H, [3, 3])
    w = perron_weights(mu, L).weights
    sgn = sgn_margin(mu, L, w)
    for family in ("scalar", "block"):
        r = tight_rate(H, [3, 3], family=family)
        assert r.alpha >= sgn - 1e-9
        assert r.alpha <= r.true_bound == pytest.approx(float(np.min(np.linalg.eigvals(H).real)))
        assert check_rate(H, r.matrix(), r.alpha)
        assert not check_rate(H, r.matrix(), r.true_bound + 1e-6)


# -------------------------------------------------------------------------------- sampled
def test_sampled_common_metric():
    rng = np.random.default_rng(3)
    H = random_lq(4, n=2, independent=True)
    J = np.stack([H * (1 + 0.05 * rng.standard_normal(H.shape)) for _ in range(120)] + [H])
    res = tight_step_sampled(J, [2, 2], method="euler", family="scalar", rel_tol=1e-3)
    assert res.provenance == "sampled" and 0 < res.h <= res.true_limit
    assert res.true_limit == pytest.approx(min(spectral_step_limit(Jk, "euler") for Jk in J))
    assert sampled_factor(J, res.h, res.matrix(), "euler") <= res.factor
    # never better than the single centre Jacobian's tight step
    single = tight_step(H, [2, 2], method="euler", family="scalar", rel_tol=1e-3)
    assert res.h <= single.h * (1 + 2e-3)
    bl = tight_step_sampled(J, [2, 2], method="rk4", family="block", rel_tol=1e-3)
    assert 0 < bl.h <= bl.true_limit and sampled_factor(J, bl.h, bl.matrix(), "rk4") <= bl.factor
