"""Timescale bands: the closed form (sgncert.theory.band) and the verified SDPs of more players (sgncert.analysis.bands)."""

from __future__ import annotations

import math
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from sgncert.analysis.bands import band_pairs, interacting_pairs
from sgncert.errors import SpecError
from sgncert.theory.band import band_two_player
from sgncert.theory.exact import psd_exact, sgn_matrix_exact
from sgncert.theory.smallgain import sgn_margin, sgn_matrix

SQRT_HALF = math.sqrt(0.5)


def scalar_game(lam=1.0):
    return [1.0, 1.0], [[0.0, 10.0 * lam], [0.05 * lam, 0.0]]


def rel(a, b):
    return abs(a - b) / abs(b)


# ------------------------------------------------------------- SGN matrix and margin
def test_sgn_matrix_matches_exact():
    mu, L = [1.0, 2.0, 3.0], [[0.0, 1.0, 2.0], [3.0, 0.0, 4.0], [5.0, 6.0, 0.0]]
    C = sgn_matrix(mu, L, [1.0, 2.0, 4.0], 0.5)
    Ce = sgn_matrix_exact(mu, L, [1.0, 2.0, 4.0], 0.5)
    assert np.array_equal(C, np.array([[float(v) for v in r] for r in Ce]))


def test_sgn_margin_reference_values():
    for lam in (0.1, 0.5, 1.0, 1.3):
        mu, L = scalar_game(lam)
        assert sgn_margin(mu, L, [1.0, 200.0]) == pytest.approx(1 - lam * SQRT_HALF, abs=1e-12)
    mu, L = scalar_game(1.0)
    w = np.array([1.0, 37.0])
    C = sgn_matrix(mu, L, w, 0.0)
    Wm = np.diag(w**-0.5)
    half = 0.5 * np.linalg.eigvalsh(Wm @ C @ Wm)[0]
    assert sgn_margin(mu, L, w) == pytest.approx(half, abs=1e-12)
    # Perron weights are margin-optimal
    assert sgn_margin(mu, L, [1.0, 200.0]) > sgn_margin(mu, L, [1.0, 150.0])
    assert sgn_margin(mu, L, [1.0, 200.0]) > sgn_margin(mu, L, [1.0, 250.0])


# ------------------------------------------------------------------- two players
def test_scalar_reference_band():
    mu, L = scalar_game()
    lo, hi = band_two_player(mu, L)
    assert rel(lo, 34.3146) < 1e-4 and rel(hi, 1165.685) < 1e-4
    assert lo * hi == pytest.approx(40000.0, rel=1e-12)  # (L12/L21)^2
    assert math.sqrt(lo * hi) == pytest.approx(200.0, rel=1e-12)  # margin-optimal L12/L21
    # the interval is exactly where C > 0
    for r, inside in (
        (lo * 1.001, True),
        (hi * 0.999, True),
        (lo * 0.999, False),
        (hi * 1.001, False),
        (200.0, True),
        (1.0, False),
    ):
        assert bool(np.linalg.eigvalsh(sgn_matrix(mu, L, [1.0, r]))[0] > 0) is inside


def test_band_pairs_two_players_uses_closed_form():
    mu, L = scalar_game()
    (b,) = band_pairs(mu, L)
    assert (b["i"], b["j"]) == (0, 1)
    assert (b["low"], b["high"]) == band_two_player(mu, L)


def test_edge_cases():
    assert band_two_player([1.0, 1.0], [[0, 10.0], [0, 0]]) == (25.0, math.inf)
    assert band_two_player([1.0, 1.0], [[0, 0.0], [0.05, 0]]) == (0.0, pytest.approx(1600.0))
    assert band_two_player([1.0, 1.0], [[0, 0.0], [0.0, 0]]) == (0.0, math.inf)
    assert band_two_player([2.0, 3.0], [[0, 4.0], [0, 0]]) == (16.0 / 24.0, math.inf)
    # empty: m1 m2 <= L12 L21, or a non-positive curvature
    assert band_two_player([1.0, 1.0], [[0, 20.0], [0.05, 0]]) is None  # m1 m2 == L12 L21
    assert band_two_player([1.0, 1.0], [[0, 30.0], [0.05, 0]]) is None
    assert band_two_player([-1.0, -1.0], [[0, 0.0], [0.0, 0]]) is None
    assert band_two_player([1.0, 0.0], [[0, 0.0], [0.0, 0]]) is None
    assert band_pairs([1.0, 1.0], [[0, 30.0], [0.05, 0]]) == []


def test_no_cancellation_for_tiny_lower_endpoint():
    mu, L = [1.0, 1.0], [[0.0, 1e-8], [1e-8, 0.0]]
    lo, hi = band_two_player(mu, L)
    assert lo > 0
    assert lo == pytest.approx(2.5e-17, rel=1e-12)
    assert lo * hi == pytest.approx(1.0, rel=1e-12)


def test_band_shrinks_with_alpha_and_closes_at_margin():
    for lam in (0.5, 1.0, 1.3):
        mu, L = scalar_game(lam)
        a_star = 1 - lam * SQRT_HALF
        lo0, hi0 = band_two_player(mu, L, 0.0)
        prev = (lo0, hi0)
        for frac in (0.25, 0.5, 0.9, 0.999):
            lo, hi = band_two_player(mu, L, frac * a_star)
            assert prev[0] < lo < 200.0 < hi < prev[1]
            assert lo * hi == pytest.approx(40000.0, rel=1e-9)
            prev = (lo, hi)
        for a in (a_star * (1 + 1e-9), a_star + 0.01, 1.0, 2.0):
            assert band_two_player(mu, L, a) is None
    assert 1 - SQRT_HALF == pytest.approx(0.292893, abs=1e-6)


def test_two_player_spec_errors():
    with pytest.raises(SpecError):
        band_two_player([1.0, 1.0, 1.0], [[0] * 3] * 3)
    with pytest.raises(SpecError):
        band_two_player([1.0, 1.0], [[0, -1.0], [0, 0]])
    with pytest.raises(SpecError):
        band_two_player([1.0, 1.0], [[0, 1.0]])


# ------------------------------------------------------------------ three players
def random_game(seed=0, rho=0.7):
    rng = np.random.default_rng(seed)
    mu = rng.uniform(1.0, 2.0, 3)
    L = rng.uniform(0.0, 1.0, (3, 3))
    np.fill_diagonal(L, 0.0)
    L *= rho / np.max(np.abs(np.linalg.eigvals(L / mu[:, None])))
    return mu.tolist(), L.tolist()


def feasible_grid(mu, L, alpha=0.0, n=500, lo=-3.5, hi=3.5):
    """w = (1, a, b) on a log grid; returns the weights with C(w, alpha) > 0 (numpy)."""
    g = np.logspace(lo, hi, n)
    a, b = np.meshgrid(g, g, indexing="ij")
    W = np.stack([np.ones(a.size), a.ravel(), b.ravel()], axis=1)
    Lm = np.array(L)
    m = np.array(mu) - alpha
    WL = W[:, :, None] * Lm[None]
    C = -(WL + np.transpose(WL, (0, 2, 1)))
    idx = np.arange(3)
    C[:, idx, idx] = 2.0 * W * m[None]
    ok = np.linalg.eigvalsh(C)[:, 0] > 0
    return W[ok]


@pytest.mark.parametrize("seed,alpha", [(0, 0.0), (0, 0.3), (3, 0.0)])
def test_three_player_band_against_brute_force(seed, alpha):
    mu, L = random_game(seed)
    bands = band_pairs(mu, L, alpha)
    assert [(b["i"], b["j"]) for b in bands] == [(0, 1), (0, 2), (1, 2)]
    assert all(b["settled"] for b in bands)
    Wf = feasible_grid(mu, L, alpha)
    assert len(Wf) > 100
    for b in bands:
        i, j = b["i"], b["j"]
        assert 0 < b["low"] < b["high"] < math.inf
        r = Wf[:, j] / Wf[:, i]
        # every observed feasible ratio lies in the reported interval
        assert r.min() >= b["low"] * (1 - 1e-3)
        assert r.max() <= b["high"] * (1 + 1e-3)
        # and the interval is tight (grid step is about 3.3%)
        assert r.min() <= b["low"] * 1.1
        assert r.max() >= b["high"] / 1.1


def test_three_player_witnesses_are_exactly_feasible():
    mu, L = random_game(0)
    for b in band_pairs(mu, L):
        i, j = b["i"], b["j"]
        for end, inward in (("low", 1), ("high", -1)):
            val, wit = b[end], np.array(b["proof"][f"{end}_weights"])
            assert np.all(wit > 0)
            assert psd_exact(sgn_matrix_exact(mu, L, wit.tolist(), 0.0), strict=True)
            ratio = Fraction(float(wit[j])) / Fraction(float(wit[i]))
            assert abs(float(ratio) - val) <= 1e-15 * val
            # rounded toward the interior of the verified interval
            assert (Fraction(val) - ratio) * inward >= 0


def test_unbounded_ends_carry_proved_directions():
    mu = [1.0, 1.0, 2.0]
    L = [[0.0, 10.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    for b in band_pairs(mu, L):
        i, j, proof = b["i"], b["j"], b["proof"]
        if b["high"] == math.inf:
            d = proof["high_direction"]
            assert d[i] == 0 < d[j] and min(d) >= 0 and psd_exact(sgn_matrix_exact(mu, L, d, 0.0))
        if b["low"] == 0.0:
            d = proof["low_direction"]
            assert d[j] == 0 < d[i] and min(d) >= 0 and psd_exact(sgn_matrix_exact(mu, L, d, 0.0))


@pytest.mark.parametrize("n", [10, 16])
def test_ring_of_players_settles_or_says_why(n):
    """A ring of 10 or 16 scalar players (margin 0.7; the solver used to give up with
    'user_limit' / 'unbounded_inaccurate'): it cannot settle every end (the true band of
    w_1/w_0 reaches ~1e14), yet nothing fails: each end is proved, the unsettled ones say
    why, and only the interacting pairs are computed."""
    L = np.zeros((n, n))
    for k in range(n):
        L[k, (k + 1) % n] = 0.3
    pairs = interacting_pairs(L)
    assert pairs == sorted([(k, k + 1) for k in range(n - 1)] + [(0, n - 1)])
    bands = band_pairs([1.0] * n, L.tolist(), 0.0, interior_weights=[1.0] * n, pairs=pairs)
    assert [(b["i"], b["j"]) for b in bands] == pairs
    for b in bands:
        i, j = b["i"], b["j"]
        assert b["settled"] == (b["search"] == "optimal")
        for end in ("low", "high"):
            w = b["proof"][f"{end}_weights"]
            assert psd_exact(sgn_matrix_exact([1.0] * n, L.tolist(), w, 0.0), strict=True)
        # the neighbour's 2 x 2 block alone bounds w_j/w_i below by L^2 / 4 = 0.0225 (i -> j = i + 1)
        if j == i + 1:
            assert b["low"] >= 0.0225
        assert b["low"] < 1.0 < b["high"]  # equal weights certify


def test_three_player_endpoints_feasible_by_scan():
    """Independent check: just inside each endpoint some third weight makes C > 0."""
    mu, L = random_game(0)
    Lm = np.array(L)
    g = np.logspace(-5, 5, 40001)
    for b in band_pairs(mu, L):
        i, j = b["i"], b["j"]
        (k,) = {0, 1, 2} - {i, j}
        for rho in (b["low"] * (1 + 1e-3), b["high"] * (1 - 1e-3)):
            W = np.zeros((g.size, 3))
            W[:, i], W[:, j], W[:, k] = 1.0, rho, g
            WL = W[:, :, None] * Lm[None]
            C = -(WL + np.transpose(WL, (0, 2, 1)))
            C[:, [0, 1, 2], [0, 1, 2]] = 2.0 * W * np.array(mu)[None]
            assert np.max(np.linalg.eigvalsh(C)[:, 0]) > 0


def test_three_player_uncoupled_third_reduces_to_two_player():
    mu2, L2 = scalar_game()
    mu = mu2 + [1.5]
    L = [[0.0, 10.0, 0.0], [0.05, 0.0, 0.0], [0.0, 0.0, 0.0]]
    bands = band_pairs(mu, L)
    lo, hi = band_two_player(mu2, L2)
    b01 = bands[0]
    assert (b01["i"], b01["j"]) == (0, 1)
    assert rel(b01["low"], lo) < 1e-5 and rel(b01["high"], hi) < 1e-5
    assert lo <= b01["low"] and b01["high"] <= hi  # inner approximation
    # the uncoupled player's weight is free: (0, inf), proved
    for b in bands[1:]:
        assert b["low"] == 0.0 and b["high"] == math.inf and b["settled"]


def test_three_player_one_way_coupling_unbounded():
    # L21 = 0 analogue: band (25, inf) for the (0, 1) pair, third player uncoupled
    mu = [1.0, 1.0, 2.0]
    L = [[0.0, 10.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    b = band_pairs(mu, L)[0]
    assert rel(b["low"], 25.0) < 1e-5 and b["low"] >= 25.0
    assert b["high"] == math.inf and b["settled"]


def test_three_player_with_alpha_matches_two_player_block():
    mu2, L2 = scalar_game()
    mu = mu2 + [3.0]
    L = [[0.0, 10.0, 0.0], [0.05, 0.0, 0.0], [0.0, 0.0, 0.0]]
    lo, hi = band_two_player(mu2, L2, 0.2)
    b = band_pairs(mu, L, 0.2)[0]
    assert rel(b["low"], lo) < 1e-5 and rel(b["high"], hi) < 1e-5


def test_three_player_interior_weights_and_empty_cone():
    mu, L = random_game(0)
    ref = band_pairs(mu, L)
    # supplying Perron-like interior weights gives the same band
    wint = ref and [1.0, math.sqrt(ref[0]["low"] * ref[0]["high"]), math.sqrt(ref[1]["low"] * ref[1]["high"])]
    if np.linalg.eigvalsh(sgn_matrix(mu, L, wint))[0] > 0:
        got = band_pairs(mu, L, interior_weights=wint)
        for a, b in zip(got, ref):
            assert rel(a["low"], b["low"]) < 1e-5 and rel(a["high"], b["high"]) < 1e-5
    # infeasible interior weights are replaced, not trusted
    got = band_pairs(mu, L, interior_weights=[1.0, 1e6, 1e-6])
    for a, b in zip(got, ref):
        assert rel(a["low"], b["low"]) < 1e-5 and rel(a["high"], b["high"]) < 1e-5
    # small-gain radius > 1: the cone is empty
    mu_bad, L_bad = random_game(0, rho=1.2)
    assert band_pairs(mu_bad, L_bad) == []
    # alpha beyond the best margin: empty as well
    assert band_pairs(mu, L, alpha=5.0) == []


def test_band_module_import_is_cheap():
    code = "import sys, sgncert.theory.band; assert 'cvxpy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=__file__.rsplit("/tests/", 1)[0])
