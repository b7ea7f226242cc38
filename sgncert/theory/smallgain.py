"""The small-gain condition and its margin-optimal weights (docs/theory.md §3-4).

Comparison matrix (a Z-matrix): A_ii = mu_i, A_ij = -L_ij. For weights w > 0 and
W = diag(w), the SGN margin is

    alpha_*(w) = 1/2 lambda_min(W^{-1/2} C(w, 0) W^{-1/2}) = lambda_min(sym(W^{1/2} A W^{-1/2})).

Best weights in closed form: SGN feasibility is diagonal stability of A, and

    sup_w alpha_*(w) = tau(A) = smallest real eigenvalue of A = s - rho(s I - A),

attained at w_i = v_i / u_i with A u = tau u, v^T A = tau v^T (Perron vectors of the
non-negative matrix B = s I - A). Equivalently SGN holds iff rho(diag(mu)^{-1} L) < 1
(the small-gain radius, for mu > 0). When B is reducible the Perron vectors may vanish and
the supremum need not be attained; then finite weights are taken from Perron vectors of
B + eps (1 1^T - I) for shrinking eps: the most moderate weights whose alpha_*(w), evaluated
on the true A, reaches (1 - 1e-3) tau; the fraction reached is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ..errors import SpecError


def as_game(mu: ArrayLike, L: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(mu, L) as float arrays with L's diagonal set to 0; SpecError unless mu has N finite
    entries and L is N x N, finite and non-negative off the diagonal."""
    try:
        m = np.asarray(mu, dtype=float).reshape(-1)
        Lm = np.array(L, dtype=float)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"mu / L must be numeric: {exc}") from None
    n = m.size
    if Lm.shape != (n, n):
        raise SpecError(f"L has shape {Lm.shape}, expected ({n}, {n}) to match mu")
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(Lm))):
        raise SpecError("mu and L must be finite")
    np.fill_diagonal(Lm, 0.0)
    if np.any(Lm < 0):
        i, j = map(int, np.argwhere(Lm < 0)[0])
        raise SpecError(f"coupling L[{i}][{j}] = {Lm[i, j]} is negative")
    return m, Lm


def as_weights(w: ArrayLike, n: int) -> np.ndarray:
    """``w`` as a float array of n positive finite weights (SpecError otherwise)."""
    wv = np.asarray(w, dtype=float).reshape(-1)
    if wv.size != n:
        raise SpecError(f"weights have length {wv.size}, expected {n}")
    if not np.all(np.isfinite(wv)) or np.any(wv <= 0):
        raise SpecError("weights must be positive and finite")
    return wv


def comparison_matrix(mu: ArrayLike, L: ArrayLike) -> np.ndarray:
    """A with A_ii = mu_i and A_ij = -L_ij (i != j)."""
    mu, L = np.asarray(mu, dtype=np.float64), np.asarray(L, dtype=np.float64)
    A = -L.copy()
    np.fill_diagonal(A, mu)
    return A


def sgn_matrix(mu: ArrayLike, L: ArrayLike, w: ArrayLike, alpha: float = 0.0) -> np.ndarray:
    """``C(w, alpha) = W (A - alpha I) + (A - alpha I)^T W`` as a float array (N x N, symmetric):
    ``C_ii = 2 w_i (mu_i - alpha)``, ``C_ij = -(w_i L_ij + w_j L_ji)``. The exact rational
    version is :func:`sgncert.theory.exact.sgn_matrix_exact`."""
    m, Lm = as_game(mu, L)
    wv = as_weights(w, m.size)
    WL = wv[:, None] * Lm
    C = -(WL + WL.T)
    np.fill_diagonal(C, 2.0 * wv * (m - float(alpha)))
    return C


def sgn_margin(mu: ArrayLike, L: ArrayLike, w: ArrayLike) -> float:
    """SGN margin ``alpha_*(w) = lambda_min(sym(W^{1/2} A W^{-1/2}))`` (a float estimate).

    Equal to ``1/2 lambda_min(W^{-1/2} C(w, 0) W^{-1/2})``; a proved lower bound comes from
    :func:`sgncert.theory.exact.certified_margin`.
    """
    m, Lm = as_game(mu, L)
    s = np.sqrt(as_weights(w, m.size))
    K = s[:, None] * comparison_matrix(m, Lm) / s[None, :]
    return float(np.linalg.eigvalsh(0.5 * (K + K.T))[0])


def tau(mu, L) -> float:
    """tau(A), the smallest real eigenvalue of the Z-matrix A (= s - rho(s I - A))."""
    A = comparison_matrix(mu, L)
    s = float(np.max(np.diag(A)))
    B = s * np.eye(len(A)) - A
    return s - float(np.max(np.abs(np.linalg.eigvals(B)))) if len(A) > 1 else s


def small_gain_radius(mu, L) -> float | None:
    """rho(diag(mu)^{-1} L); None when some mu_i <= 0 (the test then does not apply)."""
    mu, L = np.asarray(mu, dtype=np.float64), np.asarray(L, dtype=np.float64)
    if np.any(mu <= 0):
        return None
    G = L / mu[:, None]
    np.fill_diagonal(G, 0.0)
    return float(np.max(np.abs(np.linalg.eigvals(G))))


FRACTION_SLACK = 1e-3  # reducible A: accept weights reaching (1 - 1e-3) tau


def _perron_vector(B: np.ndarray) -> np.ndarray:
    """The non-negative eigenvector of the Perron root of B >= 0, normalised to sum 1."""
    vals, vecs = np.linalg.eig(B)
    k = int(np.argmax(vals.real))
    v = np.abs(vecs[:, k].real)
    return v / v.sum()


@dataclass(frozen=True)
class PerronWeights:
    """Margin-optimal weights (w_1 = 1), tau(A), and alpha_*(w) reached by them."""

    weights: np.ndarray
    tau: float
    margin: float
    attained: bool  # False when A is reducible and the supremum is only approached


def perron_weights(mu, L) -> PerronWeights:
    """w_i = v_i / u_i from the right (u) and left (v) Perron vectors of B = s I - A."""
    mu, L = np.asarray(mu, dtype=np.float64), np.asarray(L, dtype=np.float64)
    N = len(mu)
    t = tau(mu, L)
    if N == 1:
        return PerronWeights(np.ones(1), t, float(mu[0]), True)
    A = comparison_matrix(mu, L)
    s = float(np.max(mu))
    B = s * np.eye(N) - A
    scale = max(float(np.max(B)), 1e-300)
    best = None
    target = t - FRACTION_SLACK * abs(t)  # the "stated fraction" of tau for reducible A
    for eps in (0.0, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-10, 1e-12):
        Be = B + eps * scale * (np.ones((N, N)) - np.eye(N))
        u, v = _perron_vector(Be), _perron_vector(Be.T)
        if np.any(u <= 1e-300) or np.any(v <= 1e-300):
            continue
        w = v / u
        w = w / w[0]
        if not np.all(np.isfinite(w)):
            continue
        m = sgn_margin(mu, L, w)
        if best is None or m > best[1]:
            best = (w, m)
        if m >= (t - 1e-12 * max(1.0, abs(t)) if eps == 0.0 else target):
            break  # exact Perron weights, or the most moderate weights reaching the fraction
    if best is None:
        w = np.ones(N)
        best = (w, sgn_margin(mu, L, w))
    w, m = best
    attained = bool(m >= t - 1e-12 * max(1.0, abs(t)))
    return PerronWeights(w, t, m, attained)
