"""Proposing metrics for the tight step search (docs/theory.md §9).

Two searches propose a metric M; neither is trusted: the caller (:mod:`sgncert.analysis.tight`)
re-checks every proposal exactly before it reports anything.

- LMI (cvxpy + Clarabel): for a fixed step h, ``max s`` subject to ``M - T_k^T M T_k >= s I``
  for every step map ``T_k``, ``metric >= s`` and ``trace M = d``; ``s > 0`` iff a contracting
  metric of the family exists. Solver errors and statuses other than ``optimal`` mean "no answer".
  Likewise the flow rate: ``M H + H^T M - 2 alpha M >= s I``.
- Descent: BFGS on ``max_k ||L^T T_k L^{-T}||_2`` (or ``-lambda_min(sym(L^T H L^{-T}))``) over
  ``M = L L^T`` with L block-diagonal lower triangular (scalar family: ``L = diag(sqrt(w_i))``),
  with the exact (sub)gradient of the extreme singular value or eigenvalue (Lewis & Overton).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..theory.contraction import blockdiag, split_blocks, step_matrix, symmetrise, tri_inv

RK4_COEFFS = (1.0, 1.0, 0.5, 1.0 / 6.0, 1.0 / 24.0)  # P(z) = sum RK4_COEFFS[k] z^k
DESCENT_MARGIN = 1e-6  # a step descent stops once the factor is below 1 - DESCENT_MARGIN


def normalise(M: np.ndarray, block_sizes: Sequence[int], family: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Scalar: project to w_i I (mean diagonal), w_1 = 1. Block: scale to lambda_min = 1."""
    M = symmetrise(M)
    if family == "scalar":
        means, k = [], 0
        for n in block_sizes:
            means.append(float(np.mean(np.diag(M)[k : k + n])))
            k += n
        w = np.asarray(means)
        if not (np.all(np.isfinite(w)) and np.all(w > 0)):
            return M, None
        w = w / w[0]
        return np.diag(np.repeat(w, block_sizes)), w
    lam = np.linalg.eigvalsh(M)[0]
    if not (math.isfinite(lam) and lam > 0):
        return M, None
    return symmetrise(M / lam), None


class MetricParam:
    """M = L L^T with L block-diagonal lower triangular, parametrised by theta.

    scalar: theta = log w_2..log w_N (w_1 = 1), L = diag(sqrt(w_i)) on block i.
    block: per block the lower triangle of L_i, diagonal entries as logs.
    """

    def __init__(self, block_sizes, family: str):
        self.bs = tuple(block_sizes)
        self.family = family
        self.d = sum(self.bs)
        self.off = np.concatenate([[0], np.cumsum(self.bs)]).astype(int)
        if family == "block":
            rows, cols, diag = [], [], []
            for i, n in enumerate(self.bs):
                r, c = np.tril_indices(n)
                rows.append(r + self.off[i])
                cols.append(c + self.off[i])
                diag.append(r == c)
            self.rows = np.concatenate(rows)
            self.cols = np.concatenate(cols)
            self.isdiag = np.concatenate(diag)

    @property
    def size(self) -> int:
        return len(self.bs) - 1 if self.family == "scalar" else self.rows.size

    def L(self, theta: np.ndarray) -> np.ndarray:
        if self.family == "scalar":
            logw = np.concatenate([[0.0], theta])
            return np.diag(np.repeat(np.exp(0.5 * logw), self.bs))
        L = np.zeros((self.d, self.d))
        L[self.rows, self.cols] = np.where(self.isdiag, np.exp(theta), theta)
        return L

    def grad(self, GL: np.ndarray, L: np.ndarray) -> np.ndarray:
        """Chain rule from dF/dL (dense) to dF/dtheta."""
        if self.family == "scalar":
            gd = np.diag(GL) * np.diag(L) * 0.5
            return np.array([gd[self.off[i] : self.off[i + 1]].sum() for i in range(1, len(self.bs))])
        g = GL[self.rows, self.cols]
        return np.where(self.isdiag, g * L[self.rows, self.cols], g)

    def theta(self, M: np.ndarray) -> np.ndarray:
        if self.family == "scalar":
            w = np.array([np.mean(np.diag(M)[self.off[i] : self.off[i + 1]]) for i in range(len(self.bs))])
            return np.log(w[1:] / w[0])
        Mb = blockdiag(split_blocks(symmetrise(M), self.bs))
        L = np.linalg.cholesky(Mb / np.linalg.eigvalsh(Mb)[0])
        vals = L[self.rows, self.cols]
        return np.where(self.isdiag, np.log(np.where(self.isdiag, vals, 1.0)), vals)

    def M(self, theta: np.ndarray) -> np.ndarray:
        L = self.L(theta)
        return symmetrise(L @ L.T)


def sigma_and_grad(L: np.ndarray, Ts: Sequence[np.ndarray]) -> tuple[float, np.ndarray]:
    """max_k ||L^T T_k L^{-T}||_2 and its (sub)gradient with respect to L."""
    LinvT = tri_inv(L).T
    best: tuple[float, np.ndarray, np.ndarray, np.ndarray] | None = None
    for T in Ts:
        A = L.T @ T @ LinvT
        U, s, Vt = np.linalg.svd(A)
        if best is None or s[0] > best[0]:
            best = (float(s[0]), U[:, 0], Vt[0], T)
    assert best is not None, "no step maps"
    sig, u, v, T = best
    y = LinvT @ v
    x = T @ y
    return float(sig), np.outer(x, u) - sig * np.outer(y, v)


def rate_and_grad(L: np.ndarray, H: np.ndarray):
    """lambda_min(sym(L^T H L^{-T})) and its (sub)gradient with respect to L."""
    LinvT = tri_inv(L).T
    A = L.T @ H @ LinvT
    ev, Q = np.linalg.eigh(0.5 * (A + A.T))
    q = Q[:, 0]
    y = LinvT @ q
    x = H @ y
    return float(ev[0]), np.outer(x, q) - np.outer(y, A.T @ q)


class _Stop(Exception):
    pass


def descent(
    par: MetricParam, fun, theta0: np.ndarray, maxiter: int = 300, target: float = -math.inf, stall: int = 40
) -> tuple[np.ndarray, float]:
    """Minimise fun(L) -> (value, dvalue/dL) over theta by BFGS; returns the best point seen.

    Stops early once the value is below ``target`` (a step search only needs *a*
    contracting metric) or after ``stall`` iterations without relative progress 1e-9.
    """
    from scipy.optimize import minimize, minimize_scalar

    best_value = [math.inf]
    best_theta = [np.array(theta0, dtype=float)]
    hist: list[float] = []

    def f(theta):
        try:
            L = par.L(theta)
            if not np.all(np.isfinite(L)):
                return math.inf, np.zeros_like(theta)
            val, GL = fun(L)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            return math.inf, np.zeros_like(theta)
        if val < best_value[0]:
            best_value[0], best_theta[0] = val, np.array(theta)
        if best_value[0] < target:
            raise _Stop
        return val, par.grad(GL, L)

    def callback(_xk):
        hist.append(best_value[0])
        if len(hist) > stall and hist[-stall - 1] - hist[-1] <= 1e-9 * abs(hist[-1]):
            raise _Stop

    try:
        with np.errstate(all="ignore"):
            if par.size == 0:
                f(np.asarray(theta0, dtype=float))
            elif par.size == 1:  # quasi-convex in w: bounded 1-D search around the start
                c = float(theta0[0])
                minimize_scalar(
                    lambda t: f(np.array([t]))[0],
                    bounds=(c - 12.0, c + 12.0),
                    method="bounded",
                    options={"xatol": 1e-12, "maxiter": 400},
                )
            else:
                minimize(
                    f,
                    np.asarray(theta0, dtype=float),
                    jac=True,
                    method="BFGS",
                    callback=callback,
                    options={"maxiter": maxiter, "gtol": 1e-12},
                )
    except _Stop:
        pass
    return best_theta[0], best_value[0]


# ================================================================= LMI (cvxpy + Clarabel)
def metric_variable(block_sizes, family: str):
    """cvxpy expression M (d x d), the variable list and the metric constraints builder."""
    import cvxpy as cp

    d = sum(block_sizes)
    if family == "scalar":
        w = cp.Variable(len(block_sizes))
        off = np.concatenate([[0], np.cumsum(block_sizes)]).astype(int)
        E = []
        for i in range(len(block_sizes)):
            e = np.zeros(d)
            e[off[i] : off[i + 1]] = 1.0
            E.append(np.diag(e))
        M = sum(w[i] * E[i] for i in range(len(block_sizes)))

        def scalar_cons(s: Any) -> list[Any]:
            return [w >= s]

        def scalar_value() -> np.ndarray:
            return np.diag(np.repeat(np.asarray(w.value, dtype=float), block_sizes))

        return M, scalar_cons, scalar_value
    X = [cp.Variable((n, n), symmetric=True) for n in block_sizes]
    M = cp.bmat(
        [
            [X[i] if i == j else np.zeros((block_sizes[i], block_sizes[j])) for j in range(len(block_sizes))]
            for i in range(len(block_sizes))
        ]
    )

    def block_cons(s: Any) -> list[Any]:
        return [X[i] - s * np.eye(n) >> 0 for i, n in enumerate(block_sizes)]

    def block_value() -> np.ndarray:
        return blockdiag([np.asarray(x.value, dtype=float) for x in X])

    return M, block_cons, block_value


def solve_lmi(prob) -> bool:
    """Clarabel; any error or non-optimal status means 'no answer'."""

    import cvxpy as cp

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # inaccurate solutions are rejected below
            prob.solve(solver=cp.CLARABEL)
    except (cp.error.SolverError, ValueError, ArithmeticError):
        return False
    return prob.status == "optimal"


class StepLMI:
    """max s : M - T_k^T M T_k >= s I (k over the Jacobians), metric >= s, trace M = d.

    Parametrised (``h=None``): T_k = sum_j c_j (-t H_k/n)^j with n = max ||H_k||_2 and
    t = h n; the parameters are the powers t^p (DPP: built once, re-solved for every h).
    Fixed ``h``: T_k computed in floats and used as constants (cheaper to build for many
    cones, as in the sampled cutting-plane loop, where the active set changes anyway).
    """

    def __init__(self, Hs: Sequence[np.ndarray], block_sizes, family: str, method: str, h: float | None = None):
        import cvxpy as cp

        self.nrm = max(float(np.linalg.norm(H, 2)) for H in Hs) or 1.0
        d = sum(block_sizes)
        coeffs = (1.0, 1.0) if method == "euler" else RK4_COEFFS
        P = 2 * (len(coeffs) - 1)
        self.P = P
        self.fixed = h
        self.t = [cp.Parameter(name=f"t{p}") for p in range(1, P + 1)]
        M, mcons, self.value = metric_variable(block_sizes, family)
        s = cp.Variable()
        self.s = s
        cons = mcons(s) + [cp.trace(M) == d]
        for H in Hs:
            if h is not None:
                T = step_matrix(H, h, method)
                G = M - T.T @ M @ T
                cons.append(0.5 * (G + G.T) - s * np.eye(d) >> 0)
                continue
            Hn = np.asarray(H, dtype=float) / self.nrm
            pw = [np.eye(d)]
            for _ in range(len(coeffs) - 1):
                pw.append(pw[-1] @ Hn)
            G = 0
            for p in range(1, P + 1):
                terms = [
                    coeffs[j] * coeffs[p - j] * (pw[j].T @ M @ pw[p - j])
                    for j in range(max(0, p - len(coeffs) + 1), min(p, len(coeffs) - 1) + 1)
                ]
                G = G - ((-1) ** p) * self.t[p - 1] * sum(terms)
            cons.append(0.5 * (G + G.T) - s * np.eye(d) >> 0)
        self.prob = cp.Problem(cp.Maximize(s), cons)

    def find(self, h: float) -> np.ndarray | None:
        if self.fixed is None:
            t = h * self.nrm
            for p in range(1, self.P + 1):
                self.t[p - 1].value = t**p
        elif h != self.fixed:
            raise AssertionError("this LMI was built for a fixed step")
        if not solve_lmi(self.prob):
            return None
        if self.s.value is None or not float(self.s.value) > 0:
            return None
        return self.value()


class RateLMI:
    """max s : M H + H^T M - 2 a M >= s I, metric >= s, trace M = d (parameter a, H/n)."""

    def __init__(self, H: np.ndarray, block_sizes, family: str):
        import cvxpy as cp

        self.nrm = float(np.linalg.norm(H, 2)) or 1.0
        d = sum(block_sizes)
        Hn = H / self.nrm
        M, mcons, self.value = metric_variable(block_sizes, family)
        self.a = cp.Parameter(name="a")
        s = cp.Variable()
        self.s = s
        G = M @ Hn + Hn.T @ M - 2 * self.a * M
        self.prob = cp.Problem(cp.Maximize(s), mcons(s) + [cp.trace(M) == d, 0.5 * (G + G.T) - s * np.eye(d) >> 0])

    def find(self, alpha: float) -> np.ndarray | None:
        self.a.value = alpha / self.nrm
        if not solve_lmi(self.prob):
            return None
        if self.s.value is None or not float(self.s.value) > 0:
            return None
        return self.value()
