"""Step sizes (docs/theory.md §6): c4, exact thresholds, and simulated contraction at the certified steps."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import certify_spec, random_affine_spec, random_nonlinear_spec
from sgncert.analysis.constants import weight_scaling
from sgncert.theory.steps import C4, rk4_a, rk4_factor_bound, rk4_k, sgn_steps
from sgncert.theory.thresholds import exact_thresholds, rk4_polynomial
from sgncert.util.jaxenv import jax_scope


def test_c4_is_the_fixed_point():
    assert C4 == pytest.approx(0.4032, abs=5e-5)
    assert C4 == pytest.approx(2 * rk4_a(C4) / rk4_k(C4), rel=1e-12)
    # below c4 the proved factor is < 1 for every alpha <= beta; just above it fails at alpha = beta
    for ratio in (1.0, 0.5, 0.1, 0.01):
        alpha, beta = ratio, 1.0
        assert rk4_factor_bound(0.999 * C4 * alpha / beta**2, alpha, beta) < 1.0
    assert rk4_factor_bound(1.001 * C4, 1.0, 1.0) > 1.0


def test_sgn_steps_formulas():
    s = sgn_steps(0.3, 1.7)
    assert s.euler_max == pytest.approx(2 * 0.3 / 1.7**2)
    assert s.euler_best == pytest.approx(0.3 / 1.7**2)
    assert s.euler_factor == pytest.approx(math.sqrt(1 - (0.3 / 1.7) ** 2))
    assert s.rk4_max == pytest.approx(C4 * 0.3 / 1.7**2)
    assert 0 < s.rk4_best <= s.rk4_max and s.rk4_factor < 1
    assert s.rk4_spectral_guideline == pytest.approx(2.5 / 1.7)
    assert sgn_steps(0.0, 1.0) is None and sgn_steps(-0.1, 1.0) is None


def brute_force_threshold(T_of_h, h_max, n=20000):
    """First h on a fine grid where ||T(h)|| (or rho) reaches 1."""
    hs = np.linspace(h_max / n, h_max, n)
    for h in hs:
        if T_of_h(h) >= 1.0:
            return h
    return math.inf


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_thresholds_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    d = 4
    H = rng.standard_normal((d, d)) * 0.6 + 2.0 * np.eye(d)
    s = np.exp(rng.normal(size=d) * 0.3)
    t = exact_thresholds(H, s)
    K = s[:, None] * H / s[None, :]
    lam = np.linalg.eigvals(H)
    h_max = 4.0 / np.max(np.abs(lam))
    step = h_max / 20000
    cases = [
        (t.euler_contraction, lambda h: np.linalg.norm(np.eye(d) - h * K, 2)),
        (t.euler_stability, lambda h: np.max(np.abs(1 - h * lam))),
        (t.rk4_contraction, lambda h: np.linalg.norm(rk4_matrix(-h * K), 2)),
        (t.rk4_stability, lambda h: np.max(np.abs(rk4_polynomial(-h * lam)))),
    ]
    for got, f in cases:
        expect = brute_force_threshold(f, h_max)
        assert abs(got - expect) <= step + 1e-9
        if got > 0:
            assert f(0.999 * got) < 1.0


def rk4_matrix(Z):
    I = np.eye(Z.shape[0])
    return I + Z + Z @ Z / 2 + Z @ Z @ Z / 6 + Z @ Z @ Z @ Z / 24


def test_rk4_spectral_guideline_is_not_a_contraction_step():
    """2.5/beta keeps a linear system spectrally stable, yet the one-step norm can exceed 1,
    and the proved RK4 bound does not cover it: it is only a guideline."""
    H = np.array([[0.62, 0.12], [-3.84, -0.62]])  # eigenvalues 0.0026 +- 0.238i
    h = 2.5 / np.linalg.norm(H, 2)
    assert np.max(np.abs(rk4_polynomial(-h * np.linalg.eigvals(H)))) < 1.0  # spectrally stable
    assert np.linalg.norm(rk4_matrix(-h * H), 2) > 2.0  # but it expands distances
    # for every alpha <= beta, the proved RK4 factor at 2.5/beta exceeds 1
    for alpha in (1.0, 0.5, 0.1):
        assert rk4_factor_bound(2.5, alpha, 1.0) > 1.0


def euler_step(F, h):
    return lambda x: x - h * F(x)


def rk4_step(F, h):
    def step(x):
        k1 = F(x)
        k2 = F(x - 0.5 * h * k1)
        k3 = F(x - 0.5 * h * k2)
        k4 = F(x - h * k3)
        return x - h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)

    return step


def max_pair_ratio(certification, step_factory, h, n_pairs=64, n_steps=30, seed=0):
    """Max over pairs and steps of ||x+ - y+||_M / ||x - y||_M from starts in the invariant ball."""
    with jax_scope():
        c = certification
        p = c.game.jax_params()
        F = jax.vmap(lambda x: c.game.pseudo_gradient(x, p))
        step = jax.jit(step_factory(F, h))
        s = weight_scaling(c.game, c.weights)
        rng = np.random.default_rng(seed)
        # starts inside the largest M-ball about the centre that lies in R (so trajectories stay in R)
        radius_M = 0.9 * c.game.region.radius * math.sqrt(float(np.min(c.weights)))

        def starts():
            g = rng.standard_normal((n_pairs, c.game.dim))
            g *= (radius_M * rng.random((n_pairs, 1)) ** (1 / c.game.dim)) / np.linalg.norm(g, axis=1, keepdims=True)
            return c.center + g / s

        x, y = jnp.asarray(starts()), jnp.asarray(starts())
        worst = 0.0
        for _ in range(n_steps):
            d0 = np.linalg.norm(s * np.asarray(x - y), axis=1)
            x, y = step(x), step(y)
            d1 = np.linalg.norm(s * np.asarray(x - y), axis=1)
            keep = d0 > 1e-7  # ratios of tiny distances are rounding noise
            if not keep.any():
                break
            worst = max(worst, float(np.max(d1[keep] / d0[keep])))
        return worst


AFFINE = [random_affine_spec(seed, dims=(2, 3), coupling=0.5) for seed in (18, 19)] + [
    random_affine_spec(seed, dims=(1, 2, 2), coupling=0.5) for seed in (0, 2)
]
NONLINEAR = [random_nonlinear_spec(seed) for seed in (21, 23)]


@pytest.mark.parametrize(
    "spec", AFFINE + [pytest.param(s, marks=pytest.mark.slow) for s in NONLINEAR], ids=lambda s: s["name"]
)
def test_trajectory_pairs_contract_at_the_certified_steps(spec):
    c = certify_spec(spec)
    assert c.certified, c.reason
    st = c.steps
    for factory, h, bound in (
        (
            euler_step,
            0.99 * st.euler_max,
            math.sqrt(1 - 2 * 0.99 * st.euler_max * c.margin + (0.99 * st.euler_max * c.weighted.beta) ** 2),
        ),
        (euler_step, st.euler_best, st.euler_factor),
        (rk4_step, 0.99 * st.rk4_max, rk4_factor_bound(0.99 * st.rk4_max, c.margin, c.weighted.beta)),
        (rk4_step, st.rk4_best, st.rk4_factor),
    ):
        observed = max_pair_ratio(c, factory, h)
        assert observed < 1.0
        # affine games: the bound is proved; sampled games: estimated constants, small slack
        slack = 1e-9 if c.game.affine else 1e-3
        assert observed <= bound + slack, (factory.__name__, h, observed, bound)


def test_affine_exact_contraction_threshold_is_sharp():
    """Just below the exact contraction threshold the M-norm shrinks; just above, some pair grows."""
    c = certify_spec(AFFINE[0])
    h_star = c.thresholds.euler_contraction
    assert c.steps.euler_max <= h_star * (1 + 1e-12)  # SGN step is within the exact limit
    assert max_pair_ratio(c, euler_step, 0.98 * h_star, n_pairs=256) < 1.0
    s = weight_scaling(c.game, c.weights)
    from sgncert.analysis.constants import value_and_jacobian

    _, H = value_and_jacobian(c.game, c.center)
    K = s[:, None] * H / s[None, :]
    assert np.linalg.norm(np.eye(len(K)) - 1.02 * h_star * K, 2) > 1.0


@pytest.mark.parametrize("seed", range(3))
def test_generalized_max_eigenvalue_equals_scipys(seed):
    """lambda_max(K^T K, sym K) by the Cholesky reduction equals scipy.linalg.eigh's."""
    import scipy.linalg

    from sgncert.theory.thresholds import generalized_max_eigenvalue as _generalized_max_eigenvalue

    rng = np.random.default_rng(seed)
    n = 3 + 10 * seed
    K = rng.standard_normal((n, n)) + n * np.eye(n)
    S = 0.5 * (K + K.T)
    ref = scipy.linalg.eigh(K.T @ K, S, eigvals_only=True)[-1]
    assert _generalized_max_eigenvalue(K.T @ K, S) == pytest.approx(ref, rel=1e-12)
