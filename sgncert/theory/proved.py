"""Proved constants of an affine game: eigenvalue bounds of its constant Jacobian, decided
in exact rational arithmetic (docs/theory.md §2).

An affine game has one Jacobian J, a float64 matrix whose entries are exact (dyadic)
rationals. A floating-point eigenvalue of a matrix built from J is only an estimate (it
may be wrong in its last digits, or by far more when the matrix is ill conditioned), so
every "exact" constant is *proved* from J's rational entries instead. Each constant is a
bound on an extreme eigenvalue of a symmetric pencil ``(A, B)``, ``B > 0``:

=================  ==================================  ========  ===================
constant           claim                               A         B
=================  ==================================  ========  ===================
``mu_i``           ``sym J_ii - mu_i I >= 0``           sym J_ii  I (lower bound)
``L_ij``           ``[[l I, J_ij], [J_ij^T, l I]] >= 0``  see text  I (upper bound)
``gamma``          ``sym J - gamma I >= 0``             sym J     I (lower bound)
``alpha_true(w)``  ``sym(M J) - alpha M >= 0``          sym(M J)  M (lower bound)
``beta(w)``        ``beta^2 M - J^T M J >= 0``          J^T M J   M (upper bound, squared)
=================  ==================================  ========  ===================

with ``M = blockdiag(w_i I)``. ``[[l I, X], [X^T, l I]] >= 0`` iff ``||X||_2 <= l`` (Schur
complement), so ``L_ij`` bounds the largest eigenvalue of ``[[0, J_ij], [J_ij^T, 0]]``;
``||M^1/2 J M^-1/2||_2 <= beta`` iff ``J^T M J <= beta^2 M`` (congruence with ``M^1/2``);
``lambda_min(M^-1/2 sym(M J) M^-1/2) >= alpha`` iff ``sym(M J) >= alpha M``.

:func:`prove` walks a ladder from the float estimate towards the safe side until the
claim is decided true: first the estimate itself (decided exactly for small matrices),
then ``estimate -+ scale 2^-53 2^k``. A PSD claim is decided by congruence with a float
inverse Cholesky factor and Gershgorin's theorem (a proof of positive definiteness, fast),
else exactly by the characteristic polynomial (:func:`sgncert.theory.exact.charpoly_decide`)
when the matrix is small enough. :func:`holds` decides a stated value the same way (for
``sgncert verify``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import NumericalError
from .contraction import congruence_pd, rational, rational_identity, rational_matrix
from .exact import decide_exact, sqrt_upper

__all__ = [
    "PencilClaim",
    "own_curvature",
    "coupling",
    "euclidean_margin",
    "weighted_margin",
    "weighted_lipschitz",
    "prove",
    "holds",
    "rational_jacobian",
    "affine_residual_squared",
    "sqrt_upper",
    "PROOF_MAX_DIM",
]

PROOF_MAX_DIM = 512  # affine games of larger dimension are not proved (rational products grow as d^3)
FIRST_EXACT_MAX = 64  # the float estimate itself is decided exactly up to this size
LADDER_EXACT_MAX = 16  # every candidate of the ladder is decided exactly up to this size
VERIFY_EXACT_MAX = 256  # verify decides a stated value exactly up to this size (else: by congruence only)
LADDER_STEPS = 56  # estimate -+ scale 2^-53 2^k, k = 0 .. 55 (the last is 4 scale away)


@dataclass(frozen=True)
class PencilClaim:
    """The claim ``t B - A >= 0`` (``upper``: t bounds the pencil's largest eigenvalue) or
    ``A - t B >= 0`` (a lower bound of its smallest); ``squared``: t^2 in place of t.
    A and B are exact rational matrices (python-flint ``fmpq_mat``), B > 0; ``A_float``
    and ``B_float`` approximate them (they only guide the proof, never decide it)."""

    A: Any
    B: Any
    A_float: np.ndarray
    B_float: np.ndarray
    upper: bool
    squared: bool = False

    @property
    def scale(self) -> float:
        """A rough size of the pencil's eigenvalues (for the ladder's steps only)."""
        a = float(np.max(np.sum(np.abs(self.A_float), axis=1))) if self.A_float.size else 0.0
        b = float(np.min(np.diag(self.B_float))) if self.B_float.size else 1.0
        value = a / b if b > 0 else a
        return math.sqrt(value) if self.squared else value

    def matrix(self, t: float) -> tuple[Any, np.ndarray]:
        """The matrix of the claim at t: exactly (``fmpq_mat``) and approximately."""
        q = rational(t)
        tf = t * t if self.squared else t
        if self.squared:
            q = q * q
        if self.upper:
            return self.B * q - self.A, tf * self.B_float - self.A_float
        return self.A - self.B * q, self.A_float - tf * self.B_float


def _decide(claim: PencilClaim, t: float, exact_max: int) -> bool | None:
    """True: the claim holds at t (proved); False: it does not (decided exactly); None: not decided."""
    S, S_float = claim.matrix(t)
    if congruence_pd(S, S_float):
        return True
    n = S.nrows()
    if n > exact_max:
        return None
    return decide_exact(S, strict=False)


def prove(claim: PencilClaim, estimate: float) -> float:
    """The float nearest ``estimate`` on the safe side (a ladder, module docstring) for
    which the claim is proved; NumericalError when none of the ladder is."""
    est = float(estimate)
    if not math.isfinite(est):
        raise NumericalError(f"cannot prove a bound from the non-finite estimate {est!r}")
    if claim.squared and est < 0:
        est = 0.0
    step = max(abs(est), claim.scale, 1e-300) * 2.0**-53
    sign = 1.0 if claim.upper else -1.0
    n = claim.A.nrows()
    candidates = [est] + [est + sign * step * 2.0**k for k in range(LADDER_STEPS)]
    for k, t in enumerate(candidates):
        exact_max = FIRST_EXACT_MAX if k == 0 else LADDER_EXACT_MAX
        if (not claim.squared or t >= 0) and _decide(claim, t, exact_max):
            return t
    raise NumericalError(
        f"no bound within {candidates[-1] - est:+.3g} of the estimate {est!r} could be proved exactly ({n} x {n})"
    )


def holds(claim: PencilClaim, t: float) -> bool | None:
    """Decide the claim at a stated value: True (proved), False (disproved exactly) or
    None (too large to decide exactly, and the fast proof failed)."""
    if claim.squared and t < 0:
        return False
    return _decide(claim, float(t), VERIFY_EXACT_MAX)


# ----------------------------------------------------------------------------- the claims
def _offsets(block_sizes: Sequence[int]) -> list[int]:
    return [int(v) for v in np.concatenate([[0], np.cumsum(block_sizes)])]


def _sub(Jq: Any, rows: range, cols: range) -> Any:
    import flint

    return flint.fmpq_mat(len(rows), len(cols), [Jq[i, j] for i in rows for j in cols])


def _sym(X: Any) -> Any:
    import flint

    return (X + X.transpose()) * flint.fmpq(1, 2)


def own_curvature(J: np.ndarray, Jq: Any, block_sizes: Sequence[int], i: int) -> PencilClaim:
    """``mu_i <= lambda_min(sym J_ii)``: ``sym J_ii - mu_i I >= 0``."""
    o = _offsets(block_sizes)
    r = range(o[i], o[i + 1])
    Jf = J[o[i] : o[i + 1], o[i] : o[i + 1]]
    return PencilClaim(_sym(_sub(Jq, r, r)), rational_identity(len(r)), 0.5 * (Jf + Jf.T), np.eye(len(r)), upper=False)


def coupling(J: np.ndarray, Jq: Any, block_sizes: Sequence[int], i: int, j: int) -> PencilClaim | None:
    """``L_ij >= ||J_ij||_2``: ``L_ij^2 I - X^T X >= 0`` with X = J_ij (or X^T, whichever
    Gram matrix is smaller). None when J_ij is exactly zero: every L_ij >= 0 holds then."""
    o = _offsets(block_sizes)
    Xf = J[o[i] : o[i + 1], o[j] : o[j + 1]]
    if not np.any(Xf):
        return None
    X = _sub(Jq, range(o[i], o[i + 1]), range(o[j], o[j + 1]))
    if Xf.shape[0] < Xf.shape[1]:
        X, Xf = X.transpose(), Xf.T
    n = Xf.shape[1]
    return PencilClaim(X.transpose() * X, rational_identity(n), Xf.T @ Xf, np.eye(n), upper=True, squared=True)


def euclidean_margin(J: np.ndarray, Jq: Any) -> PencilClaim:
    """``gamma <= lambda_min(sym J)``: ``sym J - gamma I >= 0``."""
    n = Jq.nrows()
    return PencilClaim(_sym(Jq), rational_identity(n), 0.5 * (J + J.T), np.eye(n), upper=False)


def _metric(block_sizes: Sequence[int], weights: Sequence[float]) -> tuple[Any, np.ndarray]:
    import flint

    diag = [float(w) for w, n in zip(weights, block_sizes) for _ in range(int(n))]
    d = len(diag)
    M = flint.fmpq_mat(d, d)
    for k, v in enumerate(diag):
        M[k, k] = rational(v)
    return M, np.diag(diag)


def weighted_margin(J: np.ndarray, Jq: Any, block_sizes: Sequence[int], weights: Sequence[float]) -> PencilClaim:
    """``alpha_true(w) <= lambda_min(M^-1/2 sym(M J) M^-1/2)``: ``sym(M J) - alpha M >= 0``."""
    M, Mf = _metric(block_sizes, weights)
    MJf = Mf @ J
    return PencilClaim(_sym(M * Jq), M, 0.5 * (MJf + MJf.T), Mf, upper=False)


def weighted_lipschitz(J: np.ndarray, Jq: Any, block_sizes: Sequence[int], weights: Sequence[float]) -> PencilClaim:
    """``beta(w) >= ||M^1/2 J M^-1/2||_2``: ``beta^2 M - J^T M J >= 0``."""
    M, Mf = _metric(block_sizes, weights)
    return PencilClaim(Jq.transpose() * M * Jq, M, J.T @ Mf @ J, Mf, upper=True, squared=True)


def rational_jacobian(J: np.ndarray) -> Any:
    """J's exact rational entries (python-flint ``fmpq_mat``; shared, never modify it).

    Certify and verify prove several constants and the residual from one J: the conversion
    is cached on J's bytes, so it runs once per Jacobian."""
    J = np.ascontiguousarray(J, dtype=np.float64)
    return _rational_jacobian(J.tobytes(), J.shape)


@functools.lru_cache(maxsize=4)
def _rational_jacobian(data: bytes, shape: tuple[int, ...]) -> Any:
    return rational_matrix(np.frombuffer(data, dtype=np.float64).reshape(shape))


# ------------------------------------------------------------------- the affine residual
def affine_residual_squared(
    J: np.ndarray, F0: np.ndarray, center: np.ndarray, block_sizes: Sequence[int], weights: Sequence[float]
) -> Fraction:
    """``||J c + F(0)||_M^2`` exactly (``M = blockdiag(w_i I)``): the residual of an affine game
    at its centre from the same rational J the constants are proved from, immune to the
    cancellation a floating-point evaluation of F(c) may suffer."""
    import flint

    d = int(sum(block_sizes))
    Jq = rational_jacobian(J)
    cq = flint.fmpq_mat(d, 1, [rational(v) for v in np.asarray(center, dtype=np.float64).reshape(-1)])
    r = Jq * cq + flint.fmpq_mat(d, 1, [rational(v) for v in np.asarray(F0, dtype=np.float64).reshape(-1)])
    w = [rational(float(wi)) for wi, n in zip(weights, block_sizes) for _ in range(int(n))]
    total = sum((w[k] * r[k, 0] * r[k, 0] for k in range(d)), flint.fmpq(0))
    return Fraction(int(total.p), int(total.q))
