"""Safe step sizes from alpha = alpha_*(w) > 0 and beta = beta(w) (SPEC 4).

Projected Euler, in the M(w)-norm:
    ||x+ - y+||_M^2 <= (1 - 2 h alpha + h^2 beta^2) ||x - y||_M^2,
so it contracts for 0 < h < 2 alpha / beta^2; best h = alpha / beta^2 with factor
sqrt(1 - alpha^2 / beta^2).

Classical RK4 on the flow: with q = h beta, stage factors s = (0, q/2, (q/2)(1+s_2),
q(1+s_3)), weights b = (1,2,2,1)/6, a(q) = sum b_i (1-s_i)_+^2 and
k(q) = 2 sum b_i s_i (1+s_i)/q + (sum b_i (1+s_i))^2, monotonicity and Lipschitz bounds
of each stage give
    ||x+ - y+||_M^2 <= g(h) ||x - y||_M^2,   g(h) = 1 - 2 h alpha a(q) + h^2 beta^2 k(q).
Since alpha <= beta, q <= c when h = c alpha / beta^2, so g(h) < 1 for every
h < c4 alpha / beta^2 where c4 = 0.4032... is the fixed point of c = 2 a(c) / k(c).

The research code's RK4 step 2.5 / beta is only reported as ``rk4_spectral_guideline``.

Affine games (constant J = H): with K = M^{1/2} H M^{-1/2} we also give exact thresholds,
the largest h with ||T(h)||_2 < 1 in the certified metric and the largest h with
spectral radius rho(T(h)) < 1 (true stability), for T = I - hK (Euler) and
T = P(-hK), P(z) = 1 + z + z^2/2 + z^3/6 + z^4/24 (RK4); "largest" means the end of the
interval (0, h*) on which the property holds for every step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

RK4_B = (1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0)
RK4_SPECTRAL_GUIDELINE = 2.5  # research code: h = 2.5 / beta (spectral, not contraction)


def rk4_stage_factors(q: float) -> tuple[float, float, float, float]:
    """s_i with ||e_i - e|| <= s_i ||e|| for the RK4 stage points (q = h beta)."""
    s2 = q / 2.0
    s3 = (q / 2.0) * (1.0 + s2)
    s4 = q * (1.0 + s3)
    return (0.0, s2, s3, s4)


def rk4_a(q: float) -> float:
    """a(q) = sum b_i (1 - s_i)_+^2: monotonicity retained by the stages."""
    return sum(b * max(0.0, 1.0 - s) ** 2 for b, s in zip(RK4_B, rk4_stage_factors(q)))


def rk4_k(q: float) -> float:
    """k(q) = 2 sum b_i s_i (1 + s_i) / q + (sum b_i (1 + s_i))^2 (limit as q -> 0 included)."""
    s = rk4_stage_factors(q)
    cross = sum(b * si * (1.0 + si) for b, si in zip(RK4_B, s)) / q if q > 0 else sum(
        b * c for b, c in zip(RK4_B, (0.0, 0.5, 0.5, 1.0)))
    return 2.0 * cross + sum(b * (1.0 + si) for b, si in zip(RK4_B, s)) ** 2


def rk4_contraction_constant() -> float:
    """c4: the fixed point of c = 2 a(c) / k(c), found by bisection (c4 = 0.4032...)."""
    lo, hi = 1e-9, 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid < 2.0 * rk4_a(mid) / rk4_k(mid):
            lo = mid
        else:
            hi = mid
    return lo


C4 = rk4_contraction_constant()


def euler_factor_bound(h: float, alpha: float, beta: float) -> float:
    """sqrt(max(0, 1 - 2 h alpha + h^2 beta^2)): proved M-norm contraction factor of Euler."""
    return math.sqrt(max(0.0, 1.0 - 2.0 * h * alpha + h * h * beta * beta))


def rk4_factor_bound(h: float, alpha: float, beta: float) -> float:
    """sqrt(g(h)), g(h) = 1 - 2 h alpha a(h beta) + h^2 beta^2 k(h beta)."""
    q = h * beta
    return math.sqrt(max(0.0, 1.0 - 2.0 * h * alpha * rk4_a(q) + h * h * beta * beta * rk4_k(q)))


@dataclass(frozen=True)
class SgnSteps:
    euler_max: float
    euler_best: float
    euler_factor: float
    rk4_max: float
    rk4_best: float
    rk4_factor: float
    rk4_spectral_guideline: float


def sgn_steps(alpha: float, beta: float) -> SgnSteps | None:
    """Step sizes certified by alpha > 0 and beta (None when alpha <= 0)."""
    if not (alpha > 0 and beta > 0 and math.isfinite(beta)):
        return None
    alpha = min(alpha, beta)  # alpha <= beta always holds; guard rounding
    euler_best = alpha / beta**2
    rk4_max = C4 * alpha / beta**2
    # best RK4 step: minimise the proved factor over (0, rk4_max] (golden section; g is unimodal here)
    lo, hi = 0.0, rk4_max
    phi = (math.sqrt(5.0) - 1.0) / 2.0
    for _ in range(100):
        m1, m2 = hi - phi * (hi - lo), lo + phi * (hi - lo)
        if rk4_factor_bound(m1, alpha, beta) <= rk4_factor_bound(m2, alpha, beta):
            hi = m2
        else:
            lo = m1
    rk4_best = 0.5 * (lo + hi)
    return SgnSteps(
        euler_max=2.0 * alpha / beta**2,
        euler_best=euler_best,
        euler_factor=math.sqrt(max(0.0, 1.0 - (alpha / beta) ** 2)),
        rk4_max=rk4_max,
        rk4_best=rk4_best,
        rk4_factor=rk4_factor_bound(rk4_best, alpha, beta),
        rk4_spectral_guideline=RK4_SPECTRAL_GUIDELINE / beta,
    )


def _first_crossing(values_ok, h_hi: float, n_grid: int = 512) -> float:
    """End of the interval (0, h*) on which ``values_ok(h)`` (vectorised, bool) holds.

    Scans a geometric-then-linear grid up to h_hi, then bisects between the last good and
    the first bad grid point (60 steps).
    """
    grid = np.unique(np.concatenate([np.geomspace(h_hi * 1e-6, h_hi, n_grid // 2),
                                     np.linspace(h_hi / n_grid, h_hi, n_grid)]))
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


def rk4_polynomial(z):
    """P(z) = 1 + z + z^2/2 + z^3/6 + z^4/24, the RK4 stability polynomial."""
    return 1.0 + z * (1.0 + z * (0.5 + z * (1.0 / 6.0 + z / 24.0)))


@dataclass(frozen=True)
class ExactThresholds:
    """Exact step limits for constant J (None: no finite limit)."""

    euler_contraction: float  # largest h: ||I - hK||_2 < 1 (certified metric)
    euler_stability: float    # largest h: rho(I - hH) < 1
    rk4_contraction: float    # largest h: ||P(-hK)||_2 < 1
    rk4_stability: float      # largest h: rho(P(-hH)) < 1


def exact_thresholds(H: np.ndarray, scaling: np.ndarray) -> ExactThresholds:
    """Thresholds for T(h) of Euler and RK4 with K = S H S^{-1}, S = diag(scaling)."""
    from scipy.linalg import eigh

    H = np.asarray(H, dtype=np.float64)
    K = scaling[:, None] * H / scaling[None, :]
    d = K.shape[0]
    lam = np.linalg.eigvals(H)
    rho = float(np.max(np.abs(lam)))
    if rho == 0.0:
        return ExactThresholds(0.0, 0.0, 0.0, 0.0)
    # Euler, stability: |1 - h lam|^2 < 1  <=>  h < 2 Re(lam) / |lam|^2 for every eigenvalue
    euler_stab = float(np.min(2.0 * lam.real / np.abs(lam) ** 2)) if np.all(lam.real > 0) else 0.0
    # Euler, contraction: (I - hK)^T (I - hK) < I  <=>  2 sym K - h K^T K > 0
    S = 0.5 * (K + K.T)
    if np.linalg.eigvalsh(S)[0] > 0:
        euler_con = 2.0 / float(eigh(K.T @ K, S, eigvals_only=True)[-1])
    else:
        euler_con = 0.0
    h_hi = 4.0 / rho  # |h lam_max| > 4 lies outside the RK4 stability region

    def rk4_stable(hs):
        return np.max(np.abs(rk4_polynomial(-hs[:, None] * lam[None, :])), axis=1) < 1.0

    K2 = K @ K
    K3, K4 = K2 @ K, K2 @ K2
    eye = np.eye(d)

    def rk4_contracts(hs):
        # ||T||_2 < 1  <=>  I - T^T T > 0, decided per h by a Cholesky factorisation
        out = np.empty(hs.shape[0], dtype=bool)
        for k, h in enumerate(hs):
            T = eye - h * K + h**2 * K2 / 2.0 - h**3 * K3 / 6.0 + h**4 * K4 / 24.0
            try:
                np.linalg.cholesky(eye - T.T @ T)
                out[k] = True
            except np.linalg.LinAlgError:
                out[k] = False
        return out

    return ExactThresholds(
        euler_contraction=euler_con,
        euler_stability=euler_stab,
        rk4_contraction=_first_crossing(rk4_contracts, h_hi, 96),
        rk4_stability=_first_crossing(rk4_stable, h_hi, 2048),
    )
