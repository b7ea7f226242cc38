"""Perron weights, tau(A), the small-gain radius and the SGN lemma alpha_true >= alpha_*."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import certify_spec, random_affine_spec
from sgncert.theory.exact import psd_exact, sgn_matrix_exact
from sgncert.theory.smallgain import comparison_matrix, perron_weights, sgn_margin, sgn_matrix, small_gain_radius, tau


def random_mu_L(rng, n, scale=0.5):
    mu = 0.5 + rng.random(n)
    L = scale * rng.random((n, n)) * (rng.random((n, n)) < 0.8)
    np.fill_diagonal(L, 0.0)
    return mu, L


def cvxpy_best_margin(mu, L, tol=1e-7):
    """sup_w alpha_*(w) by bisection on alpha with an LMI feasibility problem in w."""
    import cvxpy as cp

    n = len(mu)
    w = cp.Variable(n)
    a = cp.Parameter()
    C = cp.Variable((n, n), symmetric=True)
    cons = [w >= 1e-6, cp.sum(w) == n]
    for i in range(n):
        cons.append(C[i, i] == 2 * mu[i] * w[i] - 2 * a * w[i])  # 2 w_i (mu_i - alpha)
        for j in range(i + 1, n):
            cons.append(C[i, j] == -(w[i] * L[i, j] + w[j] * L[j, i]))
    cons.append(C >> 0)
    prob = cp.Problem(cp.Minimize(0), cons)
    lo, hi = -10.0, float(np.min(mu))
    while hi - lo > tol:
        a.value = 0.5 * (lo + hi)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # inaccurate near the boundary counts as infeasible
            prob.solve(solver=cp.CLARABEL)
        if prob.status == "optimal":
            lo = a.value
        else:
            hi = a.value
    return lo


@pytest.mark.parametrize("seed", range(4))
def test_perron_margin_equals_tau_and_cvxpy_bisection(seed):
    rng = np.random.default_rng(seed)
    n = 2 + seed % 3
    mu, L = random_mu_L(rng, n)
    pw = perron_weights(mu, L)
    assert pw.attained
    # tau(A): smallest real eigenvalue of A, independently from numpy's eigenvalues
    eig = np.linalg.eigvals(comparison_matrix(mu, L))
    assert pw.tau == pytest.approx(float(np.min(eig.real)), abs=1e-10)
    assert pw.margin == pytest.approx(pw.tau, abs=1e-10)
    assert pw.margin == pytest.approx(cvxpy_best_margin(mu, L), abs=1e-5)
    # no random weights beat the Perron weights
    for _ in range(200):
        w = np.exp(rng.normal(size=n) * 2)
        assert sgn_margin(mu, L, w) <= pw.margin + 1e-12
    # SGN feasibility <=> small-gain radius < 1 (mu > 0 here)
    assert (pw.tau > 0) == (small_gain_radius(mu, L) < 1)


def test_margin_definition_matches_half_eigenvalue_of_scaled_C():
    rng = np.random.default_rng(5)
    mu, L = random_mu_L(rng, 4)
    w = np.exp(rng.normal(size=4))
    Wm = np.diag(w**-0.5)
    expected = 0.5 * np.linalg.eigvalsh(Wm @ sgn_matrix(mu, L, w, 0.0) @ Wm)[0]
    assert sgn_margin(mu, L, w) == pytest.approx(expected, rel=1e-12)


def test_reducible_comparison_matrix_reports_fraction():
    """One-way coupling: tau is not attained; finite weights reach 0.999 of it."""
    mu, L = np.array([1.0, 1.0]), np.array([[0.0, 0.0], [5.0, 0.0]])
    pw = perron_weights(mu, L)
    assert pw.tau == pytest.approx(1.0)
    assert not pw.attained
    assert 0.999 * pw.tau <= pw.margin < pw.tau
    assert psd_exact(sgn_matrix_exact(mu.tolist(), L.tolist(), pw.weights.tolist(), 0.999))


def test_negative_curvature_is_not_certifiable():
    mu, L = np.array([1.0, -0.1]), np.array([[0.0, 0.1], [0.1, 0.0]])
    assert perron_weights(mu, L).tau < 0
    assert small_gain_radius(mu, L) is None
    assert tau(mu, L) < 0


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), coupling=st.floats(0.05, 1.0))
def test_true_weighted_margin_dominates_sgn_margin(seed, coupling):
    """The SGN lemma (docs/theory.md §3): alpha_true(w) >= alpha_*(w) for the certified weights."""
    c = certify_spec(random_affine_spec(seed, dims=(1, 2, 2), coupling=coupling), tight=False, bands=False)
    assert c.weighted.alpha_true >= c.margin - 1e-12 * max(1.0, abs(c.margin))
    assert c.weighted.alpha_true >= c.margin_float - 1e-9
    # and for arbitrary weights too
    rng = np.random.default_rng(seed)
    from sgncert.analysis.constants import value_and_jacobian, weighted_constants

    _, J = value_and_jacobian(c.game, c.center)
    for _ in range(3):
        w = np.exp(rng.normal(size=3))
        at = weighted_constants(c.game, w, J=J).alpha_true
        assert at >= sgn_margin(c.constants.mu, c.constants.L, w) - 1e-10
