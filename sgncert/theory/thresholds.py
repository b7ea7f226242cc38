"""Exact step-size thresholds of a constant Jacobian (affine games, docs/theory.md §7).

With K = M^{1/2} H M^{-1/2} (M = diag(scaling)^2) the thresholds are the largest h with
||T(h)||_2 < 1 in the certified metric (contraction) and the largest h with spectral
radius rho(T(h)) < 1 (true stability), for T = I - hK (Euler) and T = P(-hK),
P(z) = 1 + z + z^2/2 + z^3/6 + z^4/24 (RK4); "largest" means the end of the interval
(0, h*) on which the property holds for every step.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np


def first_crossing(values_ok, h_hi: float, n_grid: int = 512) -> float:
    """End of the interval (0, h*) on which ``values_ok(h)`` (vectorised, bool) holds.

    Scans a geometric-then-linear grid up to h_hi, then bisects between the last good and
    the first bad grid point (60 steps).
    """
    grid = _crossing_grid(h_hi, n_grid)
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


def _crossing_grid(h_hi: float, n_grid: int) -> np.ndarray:
    """The scan grid of :func:`first_crossing`: geometric from h_hi 1e-6, then linear, up to h_hi."""
    return h_hi * _unit_crossing_grid(n_grid)


@functools.lru_cache(maxsize=8)
def _unit_crossing_grid(n_grid: int) -> np.ndarray:
    return np.unique(np.concatenate([np.geomspace(1e-6, 1.0, n_grid // 2), np.linspace(1.0 / n_grid, 1.0, n_grid)]))


def _bisect(ok, lo: float, hi: float) -> float:
    """The fast thresholds' fallback: the refinement of :func:`first_crossing` (60 bisection
    steps keeping ok(lo), not ok(hi)) for a scalar test (kept apart so tests can tell when the
    fallback runs)."""
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo


def rk4_polynomial(z):
    """P(z) = 1 + z + z^2/2 + z^3/6 + z^4/24, the RK4 stability polynomial."""
    return 1.0 + z * (1.0 + z * (0.5 + z * (1.0 / 6.0 + z / 24.0)))


@dataclass(frozen=True)
class ExactThresholds:
    """Exact step limits for constant J (None: no finite limit)."""

    euler_contraction: float  # largest h: ||I - hK||_2 < 1 (certified metric)
    euler_stability: float  # largest h: rho(I - hH) < 1
    rk4_contraction: float  # largest h: ||P(-hK)||_2 < 1
    rk4_stability: float  # largest h: rho(P(-hH)) < 1


# --------------------------------------------------------------------------------------------
# Exact thresholds for constant J.
#
# Each RK4 threshold keeps the meaning of ``first_crossing``: scan the same grid (geometric and
# linear up to h_hi = 4/rho), take the first grid point where the property fails, and return the
# crossing between it and the grid point before.  What changed is how grid points are decided and
# how the crossing is located:
#
#   * spectral properties use |P(-h lam)|^2 - 1 = sum_{m=1}^8 a_m(lam) h^m, a real polynomial in
#     h per eigenvalue, so the whole grid is one small matrix product; a grid point within a
#     rounding bound of the boundary is decided by the original test, and the crossing is the
#     first root of those polynomials (safeguarded Newton);
#   * ||P(-hK)||_2 < 1 is spectral when K is symmetric up to rounding (||P(-hK)||_2 is then
#     max_j |P(-h mu_j)| over the eigenvalues mu of K: the lq64 family with its Perron weights,
#     for one) and is decided like stability; a general K keeps the original grid scan of
#     Cholesky tests and bisection (~35 ms at d = 64).
#
# Every returned crossing r is checked with the original test: it holds at r (or r (1 - eta))
# and fails at r (1 + eta), eta = 1e-14 (else 1e-12); otherwise the original bisection runs, as
# it also does where the property is within rounding of its boundary on the whole bracket (there
# the original test flips at random, and only the bisection reproduces the original number).
# --------------------------------------------------------------------------------------------

_INV_FACT = np.array([1.0, 1.0, 1.0 / 2.0, 1.0 / 6.0, 1.0 / 24.0])
_RK4_C = np.array([1.0, -1.0, 1.0 / 2.0, -1.0 / 6.0, 1.0 / 24.0])  # P(-hK) = sum_k _RK4_C[k] h^k K^k
_POWERS = np.arange(1, 9)


def _scan_grid(h_hi: float, n_grid: int) -> tuple[np.ndarray, np.ndarray]:
    """The grid of :func:`first_crossing` (the same points, bit for bit) and the table
    V[m-1, i] = grid_i^m, m = 1..8."""
    grid = _crossing_grid(h_hi, n_grid)
    V = np.empty((8, grid.shape[0]))
    V[0] = grid
    for m in range(1, 8):
        np.multiply(V[m - 1], grid, out=V[m])
    return grid, V


def _p3(x):
    """P'(x) = 1 + x + x^2/2 + x^3/6; for x >= 0 it bounds |P'(z)| on |z| <= x."""
    return 1.0 + x * (1.0 + x * (0.5 + x / 6.0))


def _rk4_abs_coefficients(lam: np.ndarray) -> np.ndarray:
    """a[j, m-1], m = 1..8: |P(-h lam_j)|^2 - 1 = sum_m a[j, m-1] h^m (real coefficients).

    P(-h lam) = sum_k p_k h^k with p_k = (-lam)^k / k!, so
    |P(-h lam)|^2 = sum_{k,l} Re(p_k conj p_l) h^(k+l), whose h^0 coefficient is exactly 1.
    """
    lam = np.asarray(lam, dtype=np.complex128)
    p = (-lam[:, None]) ** np.arange(5) * _INV_FACT
    pc = p.conj()
    a = np.zeros((lam.shape[0], 9))
    for k in range(5):
        a[:, k : k + 5] += (p[:, k : k + 1] * pc).real
    return a[:, 1:]


def _clusters(vals: np.ndarray, scale: float):
    """Group values equal up to ~1e-10 scale: (representatives, label of each value, radius),
    radius = max |value - its representative|."""
    key = np.round(vals / (1e-10 * scale))
    order = np.argsort(key, kind="stable")
    ks = key[order]
    first = np.empty(ks.shape[0], dtype=bool)
    first[:1] = True
    np.not_equal(ks[1:], ks[:-1], out=first[1:])
    label = np.empty(ks.shape[0], dtype=np.intp)
    label[order] = np.cumsum(first) - 1
    reps = vals[order[first]]
    radius = float(np.max(np.abs(vals - reps[label]))) if vals.size else 0.0
    return reps, label, radius


def _spectral_scan(vals: np.ndarray, grid: np.ndarray, V: np.ndarray, nu: float, extra, exact_ok):
    """First grid index where max_j |P(-h vals_j)| < 1 fails (len(grid) if never), the values whose
    polynomial may cross there, and whether the grid point before it was only decided by the
    original test (then the property is within rounding of its boundary there).

    Q[j, i] = |P(-grid_i v_j)|^2 - 1 for cluster representatives v_j.  Its rounding (and that of
    the original test) is below 1e-12 P(h nu)^2, nu >= max |vals|, since P(h nu)^2 bounds the sum of
    |terms|; replacing a value by its representative (distance <= radius) moves |P| by at most
    h radius P'(h nu); ``extra[i]`` bounds any further error of |P| (the caller's).  Grid point i
    holds for certain if every Q[j, i] < -tol_i, fails for certain if some Q[j, i] > tol_i, and is
    decided by ``exact_ok(h)`` (the original test) otherwise.
    """
    reps, label, radius = _clusters(vals, nu)
    Q = _rk4_abs_coefficients(reps) @ V  # Q[j, i]: value j, grid point i
    Pn = rk4_polynomial(grid * nu)
    err = grid * (radius * _p3(grid * nu)) + extra  # error of |P|
    tol = 1e-12 * Pn**2 + err * (2.0 * Pn + err)
    rowmax = Q.max(axis=0)
    unsure = ~(rowmax < -tol)
    for i in np.flatnonzero(unsure):
        if rowmax[i] > tol[i] or not exact_ok(float(grid[i])):
            near = np.flatnonzero(Q[:, i] >= -tol[i])
            if radius > 1e-13 * nu:  # use every member of those clusters
                near = np.flatnonzero(np.isin(label, near))
                return int(i), vals[near], bool(i > 0 and unsure[i - 1])
            return int(i), reps[near], bool(i > 0 and unsure[i - 1])
    return grid.shape[0], vals[:0], False


def _spectral_crossing(lam: np.ndarray, lo: float, hi: float) -> float:
    """First h in (lo, hi] with max_j |P(-h lam_j)| = 1 (hi if none), given |P(-lo lam_j)| < 1.

    For each eigenvalue, f(h) = |P(z)|^2 - 1 with z = -h lam and f'(h) = -2 Re(conj(P(z)) P'(z) lam),
    P'(z) = 1 + z + z^2/2 + z^3/6: Newton's method inside a bracket [a, b] with f(a) < 0 <= f(b)
    (b = hi when f stays negative), bisecting whenever a Newton step leaves the bracket.
    """
    best = hi
    for l in np.asarray(lam, dtype=np.complex128).tolist():
        a, b = lo, best
        x = 0.5 * (a + b)
        for _ in range(200):
            z = -x * l
            Pz = 1.0 + z * (1.0 + z * (0.5 + z * (1.0 / 6.0 + z / 24.0)))
            dP = 1.0 + z * (1.0 + z * (0.5 + z / 6.0))
            f = Pz.real * Pz.real + Pz.imag * Pz.imag - 1.0
            df = -2.0 * (Pz.conjugate() * dP * l).real
            if f < 0.0:
                a = x
            else:
                b = x
            xn = x - f / df if df != 0.0 else math.nan
            if not a < xn < b:
                xn = 0.5 * (a + b)
            if abs(xn - x) <= 2e-16 * x or b - a <= 4e-16 * b:
                x = xn
                break
            x = xn
        best = min(best, x)
    return float(best)


def _polish(ok, r: float, lo: float, hi: float) -> float | None:
    """Check an estimated crossing r in (lo, hi) with the original test ``ok`` (ok(lo), not ok(hi)).

    Returns r when ok(r) holds and fails at r (1 + eta), r (1 - eta) when ok fails at r and holds
    there, for eta = 1e-14 or else 1e-12; None when neither (the caller then bisects).
    """
    if not lo < r < hi:
        return None
    if ok(r):
        for eta in (1e-14, 1e-12):
            up = r * (1.0 + eta)
            if up >= hi or not ok(up):
                return r
    else:
        for eta in (1e-14, 1e-12):
            down = r * (1.0 - eta)
            if down <= lo:
                return lo
            if ok(down):
                return down
    return None


def _rk4_stability_threshold(lam: np.ndarray, h_hi: float, rho: float) -> float:
    """First crossing of max_j |P(-h lam_j)| = 1 (grid of 2048 points up to h_hi, as before)."""

    def stable(h):  # the original test, for one step size
        hs = np.array([h])
        return bool(np.max(np.abs(rk4_polynomial(-hs[:, None] * lam[None, :])), axis=1)[0] < 1.0)

    half = lam[lam.imag >= 0.0]  # a conjugate pair has one |P|
    return _spectral_threshold(half, h_hi, 2048, rho, stable)


def _spectral_threshold(vals: np.ndarray, h_hi: float, n_grid: int, nu: float, ok, extra=None) -> float:
    """First crossing of max_j |P(-h vals_j)| = 1 on the grid of :func:`first_crossing` (n_grid
    points up to h_hi), refined by :func:`_spectral_crossing` and checked by ``ok`` (the original
    test); ``extra(grid)`` bounds any further error of |P| (see :func:`_spectral_scan`)."""
    grid, V = _scan_grid(h_hi, n_grid)
    i, near, unsure = _spectral_scan(vals, grid, V, nu, 0.0 if extra is None else extra(grid), ok)
    if i >= grid.shape[0]:
        return math.inf
    if i == 0:
        return 0.0
    lo, hi = float(grid[i - 1]), float(grid[i])
    # within rounding of the boundary at lo, the original test flips at random: bisect as it did
    r = None if unsure else _polish(ok, _spectral_crossing(near, lo, hi), lo, hi)
    return r if r is not None else _bisect(ok, lo, hi)


def _rk4_contraction_threshold(K: np.ndarray, mu: np.ndarray, h_hi: float) -> float:
    """First crossing of ||P(-hK)||_2 = 1 (grid of 96 points up to h_hi, as before).

    ``mu`` are the eigenvalues of S = (K + K^T)/2 (ascending).  The original test at one h is a
    Cholesky factorisation of I - T^T T, T = P(-hK).
    """
    n = K.shape[0]
    K2 = K @ K
    K3, K4 = K2 @ K, K2 @ K2
    eye = np.eye(n)

    def contracts(h):  # the original test, for one step size
        T = eye - h * K + h**2 * K2 / 2.0 - h**3 * K3 / 6.0 + h**4 * K4 / 24.0
        try:
            np.linalg.cholesky(eye - T.T @ T)
            return True
        except np.linalg.LinAlgError:
            return False

    e_norm = float(np.linalg.norm(K - K.T)) / 2.0  # ||E||_F, E = K - S
    nu = float(np.max(np.abs(mu))) + e_norm  # >= ||K||_2, ||S||_2
    if e_norm > 1e-12 * nu:  # general K: the grid scan and bisection of first_crossing
        return first_crossing(lambda hs: np.array([contracts(float(h)) for h in hs]), h_hi, 96)
    # K = S + E, E of rounding size: ||P(-hK)||_2 is within h (||E|| + err mu) P'(h nu) of
    # max_j |P(-h mu_j)|, as ||K^k - S^k|| <= k nu^(k-1) ||E||; eigvalsh's error in mu is
    # below 1e-13 nu
    return _spectral_threshold(
        mu, h_hi, 96, nu, contracts, extra=lambda grid: grid * (e_norm + 1e-13 * nu) * _p3(grid * nu)
    )


def generalized_max_eigenvalue(A: np.ndarray, S: np.ndarray) -> float:
    """lambda_max(A, S) for symmetric A and positive definite S, by LAPACK's own reduction
    (as in sygvd): S = C C^T, lambda_max(C^{-1} A C^{-T}). NumPy only (scipy.linalg costs
    0.6 s to import, more than a whole 61-point sweep)."""
    C = np.linalg.cholesky(S)
    X = np.linalg.solve(C, A)
    R = np.linalg.solve(C, X.T)
    return float(np.linalg.eigvalsh(0.5 * (R + R.T))[-1])


def exact_thresholds(H: np.ndarray, scaling: np.ndarray) -> ExactThresholds:
    """Thresholds for T(h) of Euler and RK4 with K = S H S^{-1}, S = diag(scaling).

    Euler: stability h < 2 Re(lam) / |lam|^2 for every eigenvalue lam of H; contraction
    (I - hK)^T (I - hK) < I  <=>  2 sym(K) - h K^T K > 0  <=>  h < 2 / lambda_max(K^T K, sym K).
    RK4: the end of the first interval (0, h*) on which max_j |P(-h lam_j)| < 1 (stability) or
    ||P(-hK)||_2 < 1 (contraction), located on the grid of :func:`first_crossing` and refined.
    """
    H = np.asarray(H, dtype=np.float64)
    K = scaling[:, None] * H / scaling[None, :]
    lam = np.linalg.eigvals(H)
    rho = float(np.max(np.abs(lam)))
    if rho == 0.0:
        return ExactThresholds(0.0, 0.0, 0.0, 0.0)
    # Euler, stability: |1 - h lam|^2 < 1  <=>  h < 2 Re(lam) / |lam|^2 for every eigenvalue
    euler_stab = float(np.min(2.0 * lam.real / np.abs(lam) ** 2)) if np.all(lam.real > 0) else 0.0
    # Euler, contraction: (I - hK)^T (I - hK) < I  <=>  2 sym K - h K^T K > 0
    S = 0.5 * (K + K.T)
    mu = np.linalg.eigvalsh(S)
    if mu[0] > 0:
        # K = S + E: lambda_max(K^T K, S) = lambda_max(S^2 + S E + E^T S + E^T E, S) is within
        # (2 ||S|| ||E|| + ||E||^2) / mu_min of lambda_max(S^2, S) = mu_max; use that when E is
        # of rounding size
        e_norm = float(np.linalg.norm(K - S))
        if (2.0 * mu[-1] + e_norm) * e_norm <= 1e-14 * mu[0] * mu[-1]:
            euler_con = 2.0 / float(mu[-1])
        else:
            euler_con = 2.0 / generalized_max_eigenvalue(K.T @ K, S)
    else:
        euler_con = 0.0
    h_hi = 4.0 / rho  # |h lam_max| > 4 lies outside the RK4 stability region
    return ExactThresholds(
        euler_contraction=euler_con,
        euler_stability=euler_stab,
        rk4_contraction=_rk4_contraction_threshold(K, mu, h_hi),
        rk4_stability=_rk4_stability_threshold(lam, h_hi, rho),
    )
