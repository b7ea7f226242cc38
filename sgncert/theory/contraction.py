"""One-step maps of Euler and RK4, their contraction in a metric, and exact proofs of it
(docs/theory.md §9).

A step of size h maps differences ``x - y`` of an affine game ``F(x) = H x + c`` to
``T(h)(x - y)`` with

    Euler:  T(h) = I - h H,
    RK4:    T(h) = P(-h H),   P(z) = 1 + z + z^2/2 + z^3/6 + z^4/24,

and T(h) contracts in ``||v||_M^2 = v^T M v`` with factor rho iff
``T^T M T <= rho^2 M``, i.e. ``||M^{1/2} T M^{-1/2}||_2 <= rho``. The flow ``x' = -F(x)``
contracts at rate alpha iff ``M H + H^T M >= 2 alpha M``.

:func:`check_contraction` and :func:`check_rate` decide these inequalities *exactly* for
the float data (python-flint rationals): positive definiteness of a rational S is shown
by congruence with a float approximate inverse Cholesky factor X (exactly lower
triangular with non-zero diagonal, hence invertible): S > 0 iff B = X S X^T > 0, and
B > 0 follows from strict diagonal dominance with positive diagonal (Gershgorin). If
that is inconclusive, an exact LDL^T decides (n <= 32); otherwise the answer is False
("not proved").
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import SpecError
from .exact import decide_exact
from .thresholds import first_crossing, rk4_polynomial

METHODS = ("euler", "rk4")


def check_method(method: str) -> None:
    """SpecError unless ``method`` is ``euler`` or ``rk4``."""
    if method not in METHODS:
        raise SpecError(f"unknown method {method!r} (expected one of {METHODS})")


def blockdiag(blocks) -> np.ndarray:
    d = sum(np.asarray(b).shape[0] for b in blocks)
    M = np.zeros((d, d))
    k = 0
    for b in blocks:
        n = np.asarray(b).shape[0]
        M[k : k + n, k : k + n] = b
        k += n
    return M


def split_blocks(M: np.ndarray, block_sizes) -> tuple:
    out, k = [], 0
    for n in block_sizes:
        out.append(np.array(M[k : k + n, k : k + n]))
        k += n
    return tuple(out)


def sym(a: Any) -> Any:
    """sym B = (B + B^T) / 2 over the last two axes (NumPy or JAX arrays, batches too);
    exactly symmetric in floating point (addition commutes)."""
    return 0.5 * (a + a.swapaxes(-1, -2))


def symmetrise(M: np.ndarray) -> np.ndarray:
    """:func:`sym` of a float64 copy of ``M``."""
    return np.asarray(sym(np.asarray(M, dtype=np.float64)))


def step_matrix(H: np.ndarray, h: float, method: str) -> np.ndarray:
    """T(h) = I - hH (Euler) or P(-hH) (RK4), in floating point."""
    H = np.asarray(H, dtype=np.float64)
    d = H.shape[0]
    Z = -h * H
    if method == "euler":
        return np.eye(d) + Z
    if method == "rk4":
        eye = np.eye(d)
        return eye + Z @ (eye + Z @ (0.5 * eye + Z @ (eye / 6.0 + Z / 24.0)))
    check_method(method)
    raise AssertionError("unreachable")


def tri_inv(L: np.ndarray) -> np.ndarray:
    """Inverse of a lower-triangular matrix (numpy's inv has far less call overhead than
    scipy's solve_triangular for small matrices); exactly lower triangular."""
    return np.tril(np.linalg.inv(L))


def cholesky_or_none(M: np.ndarray) -> np.ndarray | None:
    try:
        return np.linalg.cholesky(M)
    except np.linalg.LinAlgError:
        return None


def contraction_factor(T: np.ndarray, M: np.ndarray) -> float:
    """||M^{1/2} T M^{-1/2}||_2 = ||L^T T L^{-T}||_2 for M = L L^T (inf if M is not PD)."""
    L = cholesky_or_none(M)
    if L is None:
        return math.inf
    LinvT = tri_inv(L).T
    A = L.T @ T @ LinvT
    return float(np.linalg.norm(A, 2))


def metric_rate(H: np.ndarray, M: np.ndarray) -> float:
    """Largest alpha with M H + H^T M >= 2 alpha M: lambda_min(sym(L^T H L^{-T}))."""
    L = cholesky_or_none(M)
    if L is None:
        return -math.inf
    LinvT = tri_inv(L).T
    A = L.T @ H @ LinvT
    return float(np.linalg.eigvalsh(0.5 * (A + A.T))[0])


def spectral_step_limit(H: np.ndarray, method: str) -> float:
    """True step limit: sup {h : rho(T(s)) < 1 for all s in (0, h)} (0 if H is not stable).

    Euler: ``min 2 Re lambda / |lambda|^2``; RK4: the first crossing of
    ``max |P(-h lambda)| = 1`` (the reference algorithm of :func:`sgncert.theory.thresholds.exact_thresholds`).
    """
    lam = np.linalg.eigvals(np.asarray(H, dtype=np.float64))
    return limit_from_eigs(lam, method)


def limit_from_eigs(lam: np.ndarray, method: str) -> float:
    lam = np.asarray(lam).ravel()
    rho = float(np.max(np.abs(lam))) if lam.size else 0.0
    if rho == 0.0 or not np.all(lam.real > 0):
        return 0.0
    if method == "euler":
        return float(np.min(2.0 * lam.real / np.abs(lam) ** 2))

    def stable(hs):
        return np.max(np.abs(rk4_polynomial(-hs[:, None] * lam[None, :])), axis=1) < 1.0

    return float(first_crossing(stable, 4.0 / rho, 2048))


def metric_step_threshold(H: np.ndarray, M: np.ndarray, method: str) -> float:
    """End of the interval (0, h*) on which ||T(h)||_M < 1 (float estimate; 0 if none).

    Euler: ``2 / lambda_max(K^T K, sym K)`` by scipy's generalized symmetric eigensolver
    (the tight search's start depends on these exact bits, so it is not replaced by
    :func:`~sgncert.theory.thresholds.generalized_max_eigenvalue`, which agrees to 1e-13)."""
    from scipy.linalg import eigh

    L = cholesky_or_none(M)
    if L is None:
        return 0.0
    LinvT = tri_inv(L).T
    K = L.T @ np.asarray(H, dtype=np.float64) @ LinvT
    S = 0.5 * (K + K.T)
    if np.linalg.eigvalsh(S)[0] <= 0:
        return 0.0
    if method == "euler":
        return 2.0 / float(eigh(K.T @ K, S, eigvals_only=True)[-1])
    d = K.shape[0]
    K2 = K @ K
    K3, K4 = K2 @ K, K2 @ K2
    eye = np.eye(d)

    def contracts(hs):
        h = hs[:, None, None]
        T = eye - h * K + h**2 * K2 / 2.0 - h**3 * K3 / 6.0 + h**4 * K4 / 24.0
        return np.linalg.eigvalsh(eye - T.transpose(0, 2, 1) @ T)[:, 0] > 0.0

    rho = float(np.max(np.abs(np.linalg.eigvals(K))))
    return float(first_crossing(contracts, 4.0 / rho, 96))


def rational(x: float):
    """The exact rational value of a float (python-flint ``fmpq``)."""
    import flint

    return flint.fmpq(*float(x).as_integer_ratio())


def rational_matrix(A: np.ndarray):
    """Exact rational copy of a float matrix (python-flint fmpq_mat)."""
    import flint

    A = np.asarray(A, dtype=np.float64)
    if not np.all(np.isfinite(A)):
        raise SpecError("non-finite matrix")
    n, m = A.shape
    return flint.fmpq_mat(n, m, [flint.fmpq(*v.as_integer_ratio()) for v in A.ravel().tolist()])


def rational_identity(n: int):
    """The n x n identity as a python-flint ``fmpq_mat``."""
    import flint

    return flint.fmpq_mat(n, n, [1 if i == j else 0 for i in range(n) for j in range(n)])


def _exact_step(Hq, hq, method: str, d: int):
    """T(h) exactly: I - hH or Horner's P(-hH) = I + Z(I + Z(I/2 + Z(I/6 + Z/24)))."""
    import flint

    eye = rational_identity(d)
    Z = Hq * (-hq)
    if method == "euler":
        return eye + Z
    acc = eye * flint.fmpq(1, 6) + Z * flint.fmpq(1, 24)
    acc = eye * flint.fmpq(1, 2) + Z * acc
    acc = eye + Z * acc
    return eye + Z * acc


def integer_matrix(X: np.ndarray):
    """``(Xi, k)`` with ``X = Xi 2^k`` exactly: the float matrix as a python-flint ``fmpz_mat``
    (every float is an integer times a power of two)."""
    import flint

    X = np.asarray(X, dtype=np.float64)
    if not np.all(np.isfinite(X)):
        raise SpecError("non-finite matrix")
    m, e = np.frexp(X)
    mant = (m * 2.0**53).astype(np.int64)  # exact: |m| < 1
    e = e.astype(np.int64) - 53
    nz = mant != 0
    k = int(e[nz].min()) if nz.any() else 0
    shift = np.where(nz, e - k, 0)
    vals = [int(a) << int(b) for a, b in zip(mant.ravel().tolist(), shift.ravel().tolist())]
    return flint.fmpz_mat(X.shape[0], X.shape[1], vals), k


def congruence_pd(Sq, S_float: np.ndarray | None = None) -> bool:
    """A fast proof that the rational matrix Sq is positive definite (False: not proved).

    Congruence with a float approximate inverse Cholesky factor X (exactly lower
    triangular with non-zero diagonal, hence invertible): S > 0 iff B = X S X^T > 0, and
    B > 0 follows from strict diagonal dominance with positive diagonal (Gershgorin). In
    integers: with ``S = Si / D`` and ``X = Xi 2^k``, ``B`` is a positive multiple of
    ``Xi Si Xi^T``. Sq must be exactly symmetric (not proved otherwise). ``S_float``: an
    approximation of Sq to factor (default: Sq rounded to floats).
    """
    n = Sq.nrows()
    if n == 0:
        return True
    Si, _ = Sq.numer_denom()  # Sq = Si / D, D > 0
    if Si != Si.transpose():  # exact symmetry
        return False
    S = np.array([float(v) for v in Sq.entries()]).reshape(n, n) if S_float is None else S_float
    L = cholesky_or_none(S) if np.all(np.isfinite(S)) else None
    if L is None:
        return False
    X = np.tril(tri_inv(L))
    if not (np.all(np.isfinite(X)) and np.all(np.diag(X) != 0)):
        return False
    Xi, _ = integer_matrix(X)
    entries = [int(v) for v in (Xi * Si * Xi.transpose()).entries()]
    for i in range(n):
        row = entries[i * n : (i + 1) * n]
        diag = row[i]
        if diag <= 0 or not 2 * diag > sum(abs(v) for v in row):  # diag > sum of |off-diagonal|
            return False
    return True


def pd_exact(Sq, *, ldl_max: int = 32) -> bool:
    """Decide exactly that the symmetric rational matrix Sq is positive definite:
    :func:`congruence_pd`, and when that is inconclusive an exact decision
    (:func:`~sgncert.theory.exact.decide_exact`) for n <= ldl_max, else False ("not certified")."""
    if congruence_pd(Sq):
        return True
    n = Sq.nrows()
    if n <= ldl_max:
        return decide_exact(Sq, strict=True)
    return False


def round_up(x: float) -> float:
    return math.nextafter(float(x), math.inf)


def _exact_metric(M: np.ndarray, H: np.ndarray):
    """(M, H) as exact rational matrices when M is exactly symmetric and positive definite
    (decided exactly), else None."""
    if not np.array_equal(M, M.T):
        return None
    try:
        Mq = rational_matrix(M)
        Hq = rational_matrix(np.asarray(H, dtype=np.float64))
    except SpecError:
        return None
    return (Mq, Hq) if pd_exact(Mq) else None


def check_contraction(H: np.ndarray, h: float, M: np.ndarray, factor: float, method: str) -> bool:
    """Exact proof that ``||T(h)||_M <= factor`` and ``M > 0`` for the float data.

    Decides ``M > 0`` and ``factor^2 M - T^T M T > 0`` in rational arithmetic, with T
    computed exactly from the float H and h. M must be exactly symmetric.
    """
    M = np.asarray(M, dtype=np.float64)
    if not (math.isfinite(h) and math.isfinite(factor)):
        return False
    exact = _exact_metric(M, H)
    if exact is None:
        return False
    Mq, Hq = exact
    Tq = _exact_step(Hq, rational(h), method, M.shape[0])
    fq = rational(factor)
    Sq = Mq * (fq * fq) - Tq.transpose() * Mq * Tq
    return pd_exact(Sq)


def check_rate(H: np.ndarray, M: np.ndarray, alpha: float) -> bool:
    """Exact proof of ``M H + H^T M - 2 alpha M > 0`` and ``M > 0`` (so the flow contracts
    at rate >= alpha in ||.||_M)."""
    M = np.asarray(M, dtype=np.float64)
    if not math.isfinite(alpha):
        return False
    exact = _exact_metric(M, H)
    if exact is None:
        return False
    Mq, Hq = exact
    MH = Mq * Hq
    Sq = MH + MH.transpose() - Mq * (2 * rational(alpha))
    return pd_exact(Sq)


def sampled_factor(jacobians, h: float, M: np.ndarray, method: str, *, per_sample: bool = False):
    """max_k ||M^{1/2} T(h; J_k) M^{-1/2}||_2 in floating point (e.g. on fresh samples,
    to re-check a sampled tight step); ``per_sample``: the array of all K factors."""
    J = np.asarray(jacobians, dtype=np.float64)
    if J.ndim == 2:
        J = J[None]
    L = cholesky_or_none(symmetrise(M))
    if L is None:
        out = np.full(J.shape[0], math.inf)
        return out if per_sample else math.inf
    d = J.shape[1]
    LinvT = tri_inv(L).T
    Z = -h * J
    eye = np.eye(d)
    if method == "euler":
        T = eye + Z
    else:
        T = eye + Z @ (eye + Z @ (0.5 * eye + Z @ (eye / 6.0 + Z / 24.0)))
    A = L.T[None] @ T @ LinvT[None]
    f = np.linalg.norm(A, 2, axis=(1, 2))
    return f if per_sample else float(f.max())
