"""The timescale band: the weight ratios that certify a margin (docs/theory.md §5).

Notation: N players, own curvatures ``mu``, couplings ``L`` (``L[i][j] >= 0`` is the
influence of player j on player i; the diagonal is ignored), weights ``w > 0``.

    C(w, alpha) = W (A - alpha I) + (A - alpha I)^T W,   A_ii = mu_i, A_ij = -L_ij,
    C_ii = 2 w_i (mu_i - alpha),   C_ij = -(w_i L_ij + w_j L_ji).

``C`` is linear in ``w``, so ``K = {w > 0 : C(w, alpha) > 0}`` is an open convex cone.
The *timescale band* of a pair (i, j) is the interval of ``w_j / w_i`` over K. Here: the
closed form for two players, and the exact checks that make a band end proved (a witness
``w`` with ``C(w, alpha) > 0`` decided in rational arithmetic). The search for the ends of
more players' bands (semidefinite programs) is :mod:`sgncert.analysis.bands`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import SpecError
from .exact import psd_exact, rounded, sgn_matrix_exact
from .smallgain import as_game

__all__ = ["band_two_player", "strictly_inside", "in_closure", "ratio_inwards", "pulled_endpoint"]

# pull parameters toward an interior point, tried in order (first that passes wins)
PULLS = (1e-9, 1e-7, 1e-5, 1e-3, 1e-2, 0.1)


def band_two_player(
    mu: Sequence[float], L: Sequence[Sequence[float]], alpha: float = 0.0
) -> tuple[float, float] | None:
    """Closed-form band of ``r = w_2 / w_1`` for N = 2 (docs/theory.md §5).

    With ``m_i = mu_i - alpha``, ``p = m1 m2``, ``q = L12 L21`` (``L12 = L[0][1]``):
    ``C(w, alpha) > 0`` iff ``m1, m2 > 0`` and ``4 r p > (L12 + r L21)^2``, i.e.
    ``r in (r_-, r_+)`` with ``r_+- = (sqrt p +- sqrt(p - q))^2 / L21^2``; non-empty
    iff ``p > q``. ``r_-`` is evaluated as ``L12^2 / (sqrt p + sqrt(p - q))^2``
    (from ``r_- r_+ = (L12/L21)^2``) to avoid cancellation. Edge cases:
    ``L21 = 0 -> (L12^2/(4p), inf)``, ``L12 = 0 -> (0, 4p/L21^2)``, both 0 -> ``(0, inf)``.

    Returns ``(low, high)`` (an open interval; ``high`` may be ``math.inf``) or ``None``
    when the band is empty.
    """
    m, Lm = as_game(mu, L)
    if m.size != 2:
        raise SpecError(f"band_two_player needs 2 players, got {m.size}")
    a = float(alpha)
    if not math.isfinite(a):
        raise SpecError(f"alpha must be finite, got {alpha!r}")
    m1, m2 = float(m[0]) - a, float(m[1]) - a
    l12, l21 = float(Lm[0, 1]), float(Lm[1, 0])
    if not (m1 > 0 and m2 > 0):
        return None
    p = m1 * m2
    q = l12 * l21
    if not p > q:
        return None
    if l12 == 0 and l21 == 0:
        return (0.0, math.inf)
    if l21 == 0:
        return (l12 * l12 / (4.0 * p), math.inf)
    if l12 == 0:
        return (0.0, 4.0 * p / (l21 * l21))
    s = math.sqrt(p) + math.sqrt(p - q)
    high = (s / l21) ** 2
    low = (l12 / s) ** 2
    return (low, high)


# ------------------------------------------------------------------------- general N
def strictly_inside(mu: Any, L: Any, w: Any, alpha: float) -> bool:
    """``w > 0`` and ``C(w, alpha) > 0``, proved in exact rational arithmetic."""
    return bool(np.all(np.asarray(w) > 0)) and psd_exact(
        sgn_matrix_exact(mu, L, [float(v) for v in w], alpha), strict=True
    )


def in_closure(mu: Any, L: Any, w: Any, alpha: float) -> bool:
    """``w >= 0`` and ``C(w, alpha) >= 0``, proved in exact rational arithmetic."""
    return bool(np.all(np.asarray(w) >= 0)) and psd_exact(sgn_matrix_exact(mu, L, [float(v) for v in w], alpha))


def ratio_inwards(wj: float, wi: float, direction: int) -> float:
    """Float of wj / wi rounded toward the interior: up (direction=+1) for a lower
    endpoint, down (-1) for an upper one."""
    return rounded(Fraction(wj) / Fraction(wi), up=direction > 0)


def pulled_endpoint(
    mu: Any, L: Any, alpha: float, w_end: Any, w_int: np.ndarray, i: int, j: int, direction: int
) -> tuple[float, np.ndarray] | tuple[None, None]:
    """Pull a candidate end ``w_end`` toward an interior point ``w_int`` (``w_t = (1 - t) w_end
    + t w_int`` for t in PULLS) until ``C(w_t, alpha) > 0`` is proved exactly; returns
    (the ratio w_j / w_i rounded inwards, the witness), or (None, None)."""
    w_int = w_int / w_int[i]
    w_end = np.maximum(np.asarray(w_end, dtype=float), 0.0)
    if not w_end[i] > 0:
        return None, None
    w_end = w_end / w_end[i]
    for t in PULLS:
        wt = (1.0 - t) * w_end + t * w_int
        if strictly_inside(mu, L, wt, alpha):
            return ratio_inwards(float(wt[j]), float(wt[i]), direction), wt
    return None, None
