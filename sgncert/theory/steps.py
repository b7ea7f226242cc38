"""Safe step sizes from alpha = alpha_*(w) > 0 and beta = beta(w) (docs/theory.md §6).

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

The research code's RK4 step 2.5 / beta is only reported as ``rk4_spectral_guideline``:
it makes a linear system spectrally stable, which is not contraction.

Exact thresholds for a constant Jacobian are in :mod:`sgncert.theory.thresholds`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
    (b1, b2, b3, b4), (s1, s2, s3, s4) = RK4_B, rk4_stage_factors(q)
    return (
        b1 * max(0.0, 1.0 - s1) ** 2
        + b2 * max(0.0, 1.0 - s2) ** 2
        + b3 * max(0.0, 1.0 - s3) ** 2
        + b4 * max(0.0, 1.0 - s4) ** 2
    )


def rk4_k(q: float) -> float:
    """k(q) = 2 sum b_i s_i (1 + s_i) / q + (sum b_i (1 + s_i))^2 (limit as q -> 0 included)."""
    (b1, b2, b3, b4), (s1, s2, s3, s4) = RK4_B, rk4_stage_factors(q)
    if q > 0:
        cross = (b1 * s1 * (1.0 + s1) + b2 * s2 * (1.0 + s2) + b3 * s3 * (1.0 + s3) + b4 * s4 * (1.0 + s4)) / q
    else:
        cross = b1 * 0.0 + b2 * 0.5 + b3 * 0.5 + b4 * 1.0
    return 2.0 * cross + (b1 * (1.0 + s1) + b2 * (1.0 + s2) + b3 * (1.0 + s3) + b4 * (1.0 + s4)) ** 2


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
    """sqrt(1 - 2 h alpha + h^2 beta^2): the proved per-step factor of (projected) Euler (docs/theory.md §6)."""
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
    def g(h):
        return rk4_factor_bound(h, alpha, beta)

    lo, hi = 0.0, rk4_max
    phi = (math.sqrt(5.0) - 1.0) / 2.0
    m1, m2 = hi - phi * (hi - lo), lo + phi * (hi - lo)
    g1, g2 = g(m1), g(m2)
    for _ in range(100):  # one new evaluation a step, until the bracket is at rounding size
        if hi - lo <= 1e-15 * hi:
            break
        if g1 <= g2:
            hi, m2, g2 = m2, m1, g1
            m1 = hi - phi * (hi - lo)
            g1 = g(m1)
        else:
            lo, m1, g1 = m1, m2, g2
            m2 = lo + phi * (hi - lo)
            g2 = g(m2)
    rk4_best = 0.5 * (lo + hi)
    if g(0.5 * rk4_max) >= 1.0:  # the factor is 1 to float64 resolution everywhere: no minimum to find
        rk4_best = min(euler_best, rk4_max)
    return SgnSteps(
        euler_max=2.0 * alpha / beta**2,
        euler_best=euler_best,
        euler_factor=math.sqrt(max(0.0, 1.0 - (alpha / beta) ** 2)),
        rk4_max=rk4_max,
        rk4_best=rk4_best,
        rk4_factor=rk4_factor_bound(rk4_best, alpha, beta),
        rk4_spectral_guideline=RK4_SPECTRAL_GUIDELINE / beta,
    )
