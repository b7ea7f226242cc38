"""The small-gain condition and its margin-optimal weights (SPEC 3).

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


def comparison_matrix(mu, L) -> np.ndarray:
    """A with A_ii = mu_i and A_ij = -L_ij (i != j)."""
    mu, L = np.asarray(mu, dtype=np.float64), np.asarray(L, dtype=np.float64)
    A = -L.copy()
    np.fill_diagonal(A, mu)
    return A


def sgn_margin(mu, L, w) -> float:
    """alpha_*(w) = lambda_min(sym(W^{1/2} A W^{-1/2}))."""
    A = comparison_matrix(mu, L)
    s = np.sqrt(np.asarray(w, dtype=np.float64))
    K = s[:, None] * A / s[None, :]
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
