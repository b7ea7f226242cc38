"""Exact rational arithmetic for positive-(semi)definiteness claims (docs/theory.md §3).

Every finite IEEE float is a dyadic rational, so ``Fraction(x)`` is its exact value.
The functions here decide PSD / PD questions about matrices built from floats with
*no* rounding at all: a ``True`` answer is a proof about the floats handed in.

This module uses the Python standard library (``fractions``, ``math``, ``numbers``) and,
for matrices of more than LDL_MAX rows, python-flint's exact rationals. It is imported by
the independent certificate verifier, so it must never import numpy, jax or cvxpy.

Notation: N players, own curvatures ``mu`` (length N), couplings ``L`` (N x N,
``L[i][j] >= 0`` the influence of player j on player i; the diagonal is ignored),
weights ``w > 0``, shift ``alpha``. The SGN matrix is

    C(w, alpha) = W (A - alpha I) + (A - alpha I)^T W,     W = diag(w),
    C_ii = 2 w_i (mu_i - alpha),   C_ij = -(w_i L_ij + w_j L_ji)  (i != j),

with A the comparison matrix ``A_ii = mu_i``, ``A_ij = -L_ij``. Since
``C(w, alpha) = C(w, 0) - 2 alpha W``, ``C(w, alpha) >= 0`` iff
``alpha <= alpha_*(w) = 1/2 lambda_min(W^{-1/2} C(w, 0) W^{-1/2})``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from ..errors import NumericalError, SpecError

__all__ = [
    "to_fraction",
    "ldl_decide",
    "charpoly_decide",
    "decide_exact",
    "psd_exact",
    "sgn_matrix_exact",
    "certified_margin",
    "rounded",
]

# matrices up to this size are decided by LDL^T in Fractions, larger ones by the
# characteristic polynomial in python-flint (LDL^T in Fractions grows ~n^5: 128 x 128 takes
# minutes, the characteristic polynomial 0.5 s; 256 x 256 about 7 s)
LDL_MAX = 8


def to_fraction(x: object) -> Fraction:
    """Return the exact rational value of ``x`` (int, float or Fraction).

    Floats are dyadic rationals, so the conversion is exact (no rounding).
    numpy scalars are accepted through the :mod:`numbers` ABCs.

    Raises:
        SpecError: ``x`` is not a real number (bool, str, None, complex, ...).
        NumericalError: ``x`` is nan or infinite.
    """
    if isinstance(x, bool) or type(x).__name__ == "bool_":
        raise SpecError(f"expected a real number, got a boolean {x!r}")
    if isinstance(x, Fraction):
        return x
    if isinstance(x, numbers.Integral):
        return Fraction(int(x))
    if isinstance(x, numbers.Rational):
        return Fraction(int(x.numerator), int(x.denominator))
    if isinstance(x, numbers.Real):
        f = float(x)  # exact for float32/float64 scalars
        if not math.isfinite(f):
            raise NumericalError(f"non-finite number {f!r} cannot be made exact")
        return Fraction(f)
    raise SpecError(f"expected a real number, got {type(x).__name__} {x!r}")


def _matrix(S: Sequence[Sequence[object]]) -> list[list[Fraction]]:
    try:
        rows = [list(r) for r in S]
    except TypeError:
        raise SpecError("matrix must be a sequence of sequences") from None
    n = len(rows)
    if any(len(r) != n for r in rows):
        raise SpecError(f"matrix must be square, got {n} rows of lengths {sorted({len(r) for r in rows})}")
    return [[to_fraction(v) for v in r] for r in rows]


def ldl_decide(M: list[list[Any]], *, strict: bool) -> bool:
    """Decide exactly whether the symmetric matrix ``M`` is PSD (``strict``: PD).

    ``M`` holds exact numbers of any type with field arithmetic and comparison with 0
    (``Fraction``, python-flint's ``fmpq``); only its upper triangle is read, and it is
    overwritten. Method: symmetric Gaussian elimination (LDL^T without pivoting). At step
    k the pivot ``d = M_kk`` of the current Schur complement must be ``> 0`` (PD) or
    ``>= 0`` (PSD). A zero pivot is allowed for PSD only if the rest of its row is
    exactly zero: for a PSD matrix ``M_kk = 0`` forces ``M_kj = 0`` (2x2 minors
    ``M_kk M_jj - M_kj^2 >= 0``); the row/column then drops out. Otherwise the Schur
    complement ``M' = M - m m^T / d`` is PSD (PD) iff M is, by the congruence
    ``M = [1 0; m/d I] diag(d, M') [1 m^T/d; 0 I]`` (docs/theory.md §3).
    """
    n = len(M)
    for k in range(n):
        d = M[k][k]
        if d < 0 or (strict and d == 0):
            return False
        if d == 0:
            if any(M[k][j] != 0 for j in range(k + 1, n)):
                return False
            continue
        row = M[k]
        for i in range(k + 1, n):
            f = row[i] / d
            if f == 0:
                continue
            Mi = M[i]
            for j in range(i, n):
                Mi[j] = Mi[j] - f * row[j]
    return True


def charpoly_decide(M: Any, *, strict: bool) -> bool:
    """Decide exactly whether the symmetric rational matrix ``M`` (a list of lists of
    Fractions, or a python-flint ``fmpq_mat``) is PSD (``strict``: PD), from the signs of
    its characteristic polynomial (python-flint, exact).

    ``M`` symmetric has real eigenvalues lambda_k, and ``det(tI - M) = sum_k c_k t^k`` with
    ``(-1)^(n-k) c_k = e_(n-k)(lambda)``, the elementary symmetric functions. If every
    lambda >= 0 (> 0), every e is >= 0 (> 0). Conversely if every e is >= 0 (> 0), then
    ``prod (s + lambda_k) = sum e_(n-k) s^k > 0`` for s > 0 (s >= 0), so no lambda is
    negative (non-positive). Symmetry is the caller's to check (docs/theory.md §3).
    """
    import flint

    if isinstance(M, flint.fmpq_mat):
        Q, n = M, M.nrows()
    else:
        n = len(M)
        Q = flint.fmpq_mat(n, n, [flint.fmpq(v.numerator, v.denominator) for row in M for v in row])
    if n == 0:
        return True
    coeffs = Q.charpoly().coeffs()  # c_0 .. c_n (monic)
    coeffs += [flint.fmpq(0)] * (n + 1 - len(coeffs))
    for k, c in enumerate(coeffs):
        e = c if (n - k) % 2 == 0 else -c
        if e < 0 or (strict and e == 0):
            return False
    return True


def decide_exact(M: Any, *, strict: bool) -> bool:
    """Decide exactly whether the symmetric rational matrix ``M`` is PSD (``strict``: PD):
    :func:`ldl_decide` up to LDL_MAX rows, :func:`charpoly_decide` beyond.

    ``M`` is a list of lists of Fractions (overwritten by the LDL^T) or a python-flint
    ``fmpq_mat``; symmetry is the caller's to check.
    """
    if hasattr(M, "nrows"):  # python-flint fmpq_mat
        n = M.nrows()
        if n > LDL_MAX:
            return charpoly_decide(M, strict=strict)
        e = M.entries()
        M = [[Fraction(int(v.p), int(v.q)) for v in e[i * n : (i + 1) * n]] for i in range(n)]
    elif len(M) > LDL_MAX:
        return charpoly_decide(M, strict=strict)
    return ldl_decide(M, strict=strict)


def rounded(x: Fraction, *, up: bool) -> float:
    """The float nearest the rational ``x`` on the given side: a bound stated as a float
    stays a bound."""
    f = float(x)
    if up and Fraction(f) < x:
        f = math.nextafter(f, math.inf)
    elif not up and Fraction(f) > x:
        f = math.nextafter(f, -math.inf)
    return f


def euler_factor_squared(h: object, alpha: object, beta: object) -> Fraction:
    """q(h)^2 = 1 - 2 h alpha + h^2 beta^2 exactly: the squared factor by which one (projected)
    Euler step of size h contracts in M when F has rate alpha and Lipschitz constant beta in M
    (docs/theory.md §6, §13)."""
    hq, a, b = to_fraction(h), to_fraction(alpha), to_fraction(beta)
    return 1 - 2 * hq * a + hq * hq * b * b


def sqrt_upper(x: Fraction) -> float:
    """The smallest float r (up to one step) with r^2 >= x, for x >= 0."""
    r = math.sqrt(float(x))
    while Fraction(r) ** 2 < x:
        r = math.nextafter(r, math.inf)
    return r


def psd_exact(S: Sequence[Sequence[object]], *, strict: bool = False) -> bool:
    """Decide exactly whether the symmetric matrix ``S`` is PSD (``strict``: PD).

    The entries are converted to their exact rational values (floats included, see
    :func:`to_fraction`) and decided by :func:`decide_exact`: the answer is exact for the numbers handed in, with no
    rounding at all.

    Raises:
        SpecError: S is not square or not exactly symmetric.
    """
    M = _matrix(S)
    n = len(M)
    for i in range(n):
        for j in range(i + 1, n):
            if M[i][j] != M[j][i]:
                raise SpecError(f"matrix is not symmetric: entry ({i},{j}) = {M[i][j]} but ({j},{i}) = {M[j][i]}")
    return decide_exact(M, strict=strict)


def _game(mu: Sequence[object], L: Sequence[Sequence[object]]) -> tuple[list[Fraction], list[list[Fraction]]]:
    m = [to_fraction(v) for v in mu]
    n = len(m)
    try:
        rows = [list(r) for r in L]
    except TypeError:
        raise SpecError("L must be an N x N sequence of sequences") from None
    if len(rows) != n or any(len(r) != n for r in rows):
        raise SpecError(f"L must be {n} x {n} to match mu")
    Lf = [[to_fraction(v) if i != j else Fraction(0) for j, v in enumerate(r)] for i, r in enumerate(rows)]
    for i in range(n):
        for j in range(n):
            if i != j and Lf[i][j] < 0:
                raise SpecError(f"coupling L[{i}][{j}] = {float(Lf[i][j])} is negative")
    return m, Lf


def sgn_matrix_exact(
    mu: Sequence[object], L: Sequence[Sequence[object]], w: Sequence[object], alpha: object
) -> list[list[Fraction]]:
    """Return ``C(w, alpha)`` exactly as a list of lists of Fractions.

    ``C_ii = 2 w_i (mu_i - alpha)``, ``C_ij = -(w_i L_ij + w_j L_ji)`` for i != j.
    The diagonal of ``L`` is ignored.
    """
    m, Lf = _game(mu, L)
    n = len(m)
    wf = [to_fraction(v) for v in w]
    if len(wf) != n:
        raise SpecError(f"weights have length {len(wf)}, expected {n}")
    a = to_fraction(alpha)
    C = [[Fraction(0)] * n for _ in range(n)]
    for i in range(n):
        C[i][i] = 2 * wf[i] * (m[i] - a)
        for j in range(i + 1, n):
            c = -(wf[i] * Lf[i][j] + wf[j] * Lf[j][i])
            C[i][j] = c
            C[j][i] = c
    return C


def certified_margin(
    mu: Sequence[object], L: Sequence[Sequence[object]], w: Sequence[object], alpha_estimate: float
) -> float:
    """Largest float ``alpha <= alpha_estimate`` on a fixed descending ladder with
    ``C(w, alpha) >= 0`` proved in exact arithmetic.

    Because ``C(w, alpha) = C(w, 0) - 2 alpha W`` with ``W > 0``, PSD at ``alpha``
    is equivalent to ``alpha <= alpha_*(w)``: the returned float is a *proved* lower
    bound on the SGN margin of the weights ``w`` for the given float data (mu, L, w),
    i.e. ``<F(x)-F(y), M(w)(x-y)> >= alpha ||x-y||_M^2`` whenever the constants hold.

    Ladder: ``alpha_estimate`` itself, then ``a - k * (|a| 2^-48 + 2^-60)`` for
    ``k = 1, 2, 4, ...`` (at most 80 tries in all); the first candidate that passes
    :func:`psd_exact` is returned.

    Raises:
        NumericalError: no candidate passes (the estimate is far too large, or
            the weights do not certify anything), or ``alpha_estimate`` is not finite.
        SpecError: malformed inputs.
    """
    a = float(alpha_estimate)
    if not math.isfinite(a):
        raise NumericalError(f"alpha estimate {a!r} is not finite")
    wf = [to_fraction(v) for v in w]
    if any(v <= 0 for v in wf):
        raise SpecError("weights must be positive")
    base = abs(a) * 2.0**-48 + 2.0**-60
    candidates = [a] + [a - base * 2.0**k for k in range(79)]
    for cand in candidates:
        if psd_exact(sgn_matrix_exact(mu, L, wf, cand)):
            return float(cand)
    raise NumericalError(f"no margin at or below the estimate {a!r} could be proved by exact arithmetic")
