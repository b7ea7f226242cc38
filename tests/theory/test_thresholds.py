"""The fast ``exact_thresholds`` against a copy of the original (grid + bisection) implementation.

``_reference_exact_thresholds`` is the implementation ``sgncert.theory.thresholds.exact_thresholds`` had
before it was made fast: scan a grid (geometric + linear up to h_hi = 4/rho) with the test of the
property at each point, then bisect 60 times between the last good and the first bad grid point.
The fast version must give the same four numbers to 1e-9 (relative).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sgncert.theory import thresholds
from sgncert.theory.thresholds import exact_thresholds, rk4_polynomial

REL = 1e-9


# ---------------------------------------------------------------- the original implementation


def _reference_first_crossing(values_ok, h_hi: float, n_grid: int = 512) -> float:
    grid = np.unique(
        np.concatenate([np.geomspace(h_hi * 1e-6, h_hi, n_grid // 2), np.linspace(h_hi / n_grid, h_hi, n_grid)])
    )
    ok = values_ok(grid)
    if ok.all():
        return math.inf
    first_bad = int(np.argmin(ok))
    if first_bad == 0:
        return 0.0
    lo, hi = float(grid[first_bad - 1]), float(grid[first_bad])
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if values_ok(np.array([mid]))[0]:
            lo = mid
        else:
            hi = mid
    return lo


def _reference_exact_thresholds(H, scaling, h_hi=None):
    """The original ``exact_thresholds`` (h_hi: override of 4/rho for the RK4 scans)."""
    from scipy.linalg import eigh

    H = np.asarray(H, dtype=np.float64)
    K = scaling[:, None] * H / scaling[None, :]
    d = K.shape[0]
    lam = np.linalg.eigvals(H)
    rho = float(np.max(np.abs(lam)))
    if rho == 0.0:
        return thresholds.ExactThresholds(0.0, 0.0, 0.0, 0.0)
    euler_stab = float(np.min(2.0 * lam.real / np.abs(lam) ** 2)) if np.all(lam.real > 0) else 0.0
    S = 0.5 * (K + K.T)
    if np.linalg.eigvalsh(S)[0] > 0:
        euler_con = 2.0 / float(eigh(K.T @ K, S, eigvals_only=True)[-1])
    else:
        euler_con = 0.0
    if h_hi is None:
        h_hi = 4.0 / rho

    def rk4_stable(hs):
        return np.max(np.abs(rk4_polynomial(-hs[:, None] * lam[None, :])), axis=1) < 1.0

    K2 = K @ K
    K3, K4 = K2 @ K, K2 @ K2
    eye = np.eye(d)

    def rk4_contracts(hs):
        out = np.empty(hs.shape[0], dtype=bool)
        for k, h in enumerate(hs):
            T = eye - h * K + h**2 * K2 / 2.0 - h**3 * K3 / 6.0 + h**4 * K4 / 24.0
            try:
                np.linalg.cholesky(eye - T.T @ T)
                out[k] = True
            except np.linalg.LinAlgError:
                out[k] = False
        return out

    return thresholds.ExactThresholds(
        euler_contraction=euler_con,
        euler_stability=euler_stab,
        rk4_contraction=_reference_first_crossing(rk4_contracts, h_hi, 96),
        rk4_stability=_reference_first_crossing(rk4_stable, h_hi, 2048),
    )


# ---------------------------------------------------------------- test matrices


def lq64(lam: float):
    """The lq64 game's Jacobian and metric scaling."""
    rng = np.random.default_rng(0)
    R = np.linalg.qr(rng.standard_normal((32, 32)))[0]
    H = np.block([[np.eye(32), lam * 10 * R], [lam * 0.05 * R.T, np.eye(32)]])
    return H, np.concatenate([np.ones(32), np.full(32, np.sqrt(200.0))])


def random_case(seed: int, spread: float = 0.1):
    """Sizes 2..64; normal, symmetric, non-normal and rotation-dominated matrices; metric scalings
    exp(N(0, spread^2)) (a large spread makes sym K indefinite: no contraction at all)."""
    rng = np.random.default_rng(1000 + seed)
    d = [2, 3, 4, 5, 8, 12, 16, 24, 32, 48, 64][seed % 11]
    A = rng.standard_normal((d, d)) / np.sqrt(d)
    kind = seed % 5
    if kind == 0:  # generic, eigenvalues in the right half plane
        H = A + (2.2 + rng.random()) * np.eye(d)
    elif kind == 1:  # symmetric positive definite
        H = A @ A.T + 0.3 * np.eye(d)
    elif kind == 2:  # monotone part plus a strong rotation
        Q = np.linalg.qr(rng.standard_normal((d, d)))[0]
        H = Q @ np.diag(0.2 + rng.random(d) * 2) @ Q.T + 1.5 * (A - A.T)
    elif kind == 3:  # non-normal: a large strictly upper triangular part
        H = np.diag(1.0 + rng.random(d)) + np.triu(rng.standard_normal((d, d)), 1) * (0.7 / np.sqrt(d))
    else:  # a game-like block matrix with one-sided couplings
        h = d // 2 if d > 1 else 1
        H = A @ A.T * 0.3 + np.eye(d)
        H[:h, h:] += 1.0 * rng.standard_normal((h, d - h)) / np.sqrt(d)
        H[h:, :h] += 0.1 * rng.standard_normal((d - h, h)) / np.sqrt(d)
    scaling = np.exp(rng.normal(size=d) * spread) if seed % 3 else np.ones(d)
    return H, scaling


def assert_close(got, want, rel=REL):
    for name in ("euler_contraction", "euler_stability", "rk4_contraction", "rk4_stability"):
        a, b = getattr(got, name), getattr(want, name)
        if a == b:
            continue
        assert math.isfinite(a) and math.isfinite(b), (name, a, b)
        assert abs(a - b) <= rel * max(abs(a), abs(b)), (name, a, b, abs(a - b) / max(abs(a), abs(b)))


def rk4_matrix(Z):
    I = np.eye(Z.shape[0])
    return I + Z @ (I + Z @ (I / 2 + Z @ (I / 6 + Z / 24)))


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("seed", range(22))
def test_matches_the_original_on_random_matrices(seed):
    H, s = random_case(seed)
    assert_close(exact_thresholds(H, s), _reference_exact_thresholds(H, s))


@pytest.mark.parametrize("seed", [5, 8, 10, 19])
def test_matches_the_original_with_strong_scalings(seed):
    H, s = random_case(seed, spread=0.8)
    got = exact_thresholds(H, s)
    assert_close(got, _reference_exact_thresholds(H, s))
    assert got.rk4_contraction == 0.0 < got.rk4_stability


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0, 1.3, 1.41, 2.5])
def test_matches_the_original_on_lq64(lam):
    H, s = lq64(lam)
    got, want = exact_thresholds(H, s), _reference_exact_thresholds(H, s)
    assert_close(got, want)
    if lam == 2.5:  # eigenvalues 1 - 0.707 lam < 0: nothing is stable
        assert got == thresholds.ExactThresholds(0.0, 0.0, 0.0, 0.0)


def test_lq64_has_the_known_rk4_numbers():
    t = exact_thresholds(*lq64(1.0))
    z = 2.785293563405282  # P(-z) = 1: the RK4 stability interval on the real axis
    assert t.rk4_stability == pytest.approx(z / (1 + np.sqrt(0.5)), rel=1e-12)
    assert t.rk4_contraction == pytest.approx(z / (1 + np.sqrt(0.5)), rel=1e-12)  # K is symmetric


@pytest.mark.parametrize(
    "H, zero",
    [
        (np.array([[-0.1, 1.0], [0.0, 2.0]]), ("rk4_contraction", "rk4_stability")),  # Re lambda < 0
        (np.array([[0.0, 1.0], [-1.0, 0.0]]), ("rk4_stability",)),  # imaginary: |P(ih)| rounds to 1
        (np.array([[1.0, 6.0], [0.0, 1.0]]), ("rk4_contraction",)),  # sym part indefinite
        (np.diag([1.0, 0.0, 2.0]), ("rk4_contraction", "rk4_stability")),  # |P(0)| = 1
    ],
)
def test_failing_at_once_gives_zero(H, zero):
    s = np.ones(H.shape[0])
    got, want = exact_thresholds(H, s), _reference_exact_thresholds(H, s)
    assert_close(got, want)
    for name in zero:
        assert getattr(got, name) == 0.0


def test_holding_on_the_whole_grid_gives_inf():
    """inf: the property holds on the whole grid.  With h_hi = 4/rho that never happens (|h lam| = 4
    lies outside the RK4 stability region, and ||T|| >= rho(T)), so the scans are cut short here."""
    for seed in (0, 1, 2, 7):
        H, s = random_case(seed)
        K = s[:, None] * H / s[None, :]
        lam = np.linalg.eigvals(H)
        rho = float(np.max(np.abs(lam)))
        mu = np.linalg.eigvalsh(0.5 * (K + K.T))
        t = exact_thresholds(H, s)
        for frac in (0.5, 0.999):
            h_hi = frac * min(t.rk4_contraction, t.rk4_stability)
            want = _reference_exact_thresholds(H, s, h_hi=h_hi)
            assert want.rk4_contraction == math.inf and want.rk4_stability == math.inf
            assert thresholds._rk4_contraction_threshold(K, mu, h_hi) == math.inf
            assert thresholds._rk4_stability_threshold(lam, h_hi, rho) == math.inf
        # and with h_hi just above the crossing both are found again
        h_hi = 1.5 * max(t.rk4_contraction, t.rk4_stability)
        want = _reference_exact_thresholds(H, s, h_hi=h_hi)
        got_c = thresholds._rk4_contraction_threshold(K, mu, h_hi)
        got_s = thresholds._rk4_stability_threshold(lam, h_hi, rho)
        assert got_c == pytest.approx(want.rk4_contraction, rel=REL)
        assert got_s == pytest.approx(want.rk4_stability, rel=REL)


@pytest.mark.parametrize("seed", [0, 2, 3, 4, 5, 9, 13, 21])
def test_rk4_contraction_threshold_is_sharp(seed):
    """||P(-h* K)||_2 <= 1 (to rounding: the Cholesky test decides) at the returned h*, and >= 1
    just above it."""
    H, s = random_case(seed)
    K = s[:, None] * H / s[None, :]
    h = exact_thresholds(H, s).rk4_contraction
    assert 0.0 < h < math.inf
    assert np.linalg.svd(rk4_matrix(-h * K), compute_uv=False)[0] < 1.0 + 1e-12
    assert np.linalg.svd(rk4_matrix(-1.000001 * h * K), compute_uv=False)[0] >= 1.0 - 1e-9


def test_rk4_stability_threshold_is_sharp():
    for seed in (0, 2, 3, 4):
        H, s = random_case(seed)
        lam = np.linalg.eigvals(H)
        h = exact_thresholds(H, s).rk4_stability
        assert np.max(np.abs(rk4_polynomial(-h * lam))) < 1.0
        assert np.max(np.abs(rk4_polynomial(-1.000001 * h * lam))) >= 1.0 - 1e-9


def test_nearly_symmetric_and_exactly_symmetric_paths_agree():
    """A symmetric K uses the eigenvalue route; a tiny non-symmetric part forces the matrix route."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal((16, 16)) / 4
    H = A @ A.T + 0.5 * np.eye(16)
    s = np.ones(16)
    sym = exact_thresholds(H, s)
    E = 1e-9 * (A - A.T)
    near = exact_thresholds(H + E, s)
    assert near.rk4_contraction == pytest.approx(sym.rk4_contraction, rel=1e-7)
    assert_close(near, _reference_exact_thresholds(H + E, s))
    assert_close(sym, _reference_exact_thresholds(H, s))


def test_no_fallback_to_the_bisection(monkeypatch):
    """The fast paths decide these cases alone (the 60-step bisection with the original test is only
    a safety net)."""

    def fail(*args):
        raise AssertionError("bisection fallback used")

    monkeypatch.setattr(thresholds, "_bisect", fail)
    for lam in (0.0, 0.5, 1.0, 1.3, 2.5):
        exact_thresholds(*lq64(lam))
    for seed in range(22):
        exact_thresholds(*random_case(seed))
