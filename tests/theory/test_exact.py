"""Tests for sgncert.theory.exact: exact rational PSD decisions and certified margins."""

from __future__ import annotations

import math
import subprocess
import sys
from decimal import Decimal, getcontext
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sgncert.errors import NumericalError, SpecError
from sgncert.theory.exact import certified_margin, psd_exact, sgn_matrix_exact, to_fraction

SQRT_HALF = math.sqrt(0.5)


# ----------------------------------------------------------------------- to_fraction
def test_to_fraction_exact_values():
    assert to_fraction(3) == Fraction(3)
    assert to_fraction(0.1) == Fraction(3602879701896397, 36028797018963968)
    assert to_fraction(0.1) != Fraction(1, 10)
    assert to_fraction(Fraction(1, 3)) == Fraction(1, 3)
    assert to_fraction(np.float64(0.5)) == Fraction(1, 2)
    assert to_fraction(np.int64(-7)) == Fraction(-7)
    assert to_fraction(np.float32(0.1)) == Fraction(float(np.float32(0.1)))


@pytest.mark.parametrize("bad", [True, False, "1", None, 1j, [1]])
def test_to_fraction_wrong_type(bad):
    with pytest.raises(SpecError):
        to_fraction(bad)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_to_fraction_non_finite(bad):
    with pytest.raises(NumericalError):
        to_fraction(bad)


# ------------------------------------------------------------------------- psd_exact
def test_identity():
    eye = [[1 if i == j else 0 for j in range(4)] for i in range(4)]
    assert psd_exact(eye) and psd_exact(eye, strict=True)


def test_rank_one_psd_not_pd():
    assert psd_exact([[1, 1], [1, 1]])
    assert not psd_exact([[1, 1], [1, 1]], strict=True)


def test_indefinite():
    assert not psd_exact([[1, 2], [2, 1]])
    assert not psd_exact([[1, 2], [2, 1]], strict=True)


def test_zero_pivot_cases():
    assert psd_exact([[0, 0], [0, 1]])
    assert not psd_exact([[0, 0], [0, 1]], strict=True)
    assert not psd_exact([[0, 1], [1, 5]])
    # zero pivot that appears only after elimination
    assert psd_exact([[1, 1, 0], [1, 1, 0], [0, 0, 3]])
    assert not psd_exact([[1, 1, 1], [1, 1, 0], [1, 0, 3]])
    assert psd_exact([[0, 0, 0], [0, 0, 0], [0, 0, 0]])
    assert not psd_exact([[-1]])
    assert psd_exact([])


def test_tiny_negative_eigenvalue_from_floats_rejected():
    # det = (1 - 2^-50) - 1 < 0: one eigenvalue is about -2^-51 = -4.4e-16
    S = [[1.0, 1.0], [1.0, 1.0 - 2.0**-50]]
    assert abs(np.linalg.eigvalsh(np.array(S))[0]) < 1e-14  # floats cannot tell
    assert not psd_exact(S)
    # float(1 - 1e-15) < 1, so the 2x2 block has a negative determinant (~ -1e-15)
    S3 = [[1.0, 1.0, 0.0], [1.0, 1.0 - 1e-15, 0.0], [0.0, 0.0, 2.0]]
    assert not psd_exact(S3)
    # the same with the tiny entry on the other side is PD
    S3p = [[1.0, 1.0, 0.0], [1.0, 1.0 + 1e-15, 0.0], [0.0, 0.0, 2.0]]
    assert psd_exact(S3p, strict=True)


def test_rational_rotation_with_eigenvalue_minus_1e15():
    # Q = rotation with rational entries (3-4-5), S = Q diag(1, -1e-15) Q^T exactly
    Q = [[Fraction(3, 5), Fraction(-4, 5)], [Fraction(4, 5), Fraction(3, 5)]]
    D = [Fraction(1), Fraction(-1, 10**15)]
    S = [[sum(Q[i][k] * D[k] * Q[j][k] for k in range(2)) for j in range(2)] for i in range(2)]
    assert not psd_exact(S)
    D2 = [Fraction(1), Fraction(1, 10**15)]
    S2 = [[sum(Q[i][k] * D2[k] * Q[j][k] for k in range(2)) for j in range(2)] for i in range(2)]
    assert psd_exact(S2, strict=True)


def test_shape_and_symmetry_errors():
    with pytest.raises(ValueError):
        psd_exact([[1, 2], [3, 1]])
    with pytest.raises(ValueError):
        psd_exact([[1, 0, 0], [0, 1, 0]])
    with pytest.raises(ValueError):
        psd_exact([[1.0, 0.1], [math.nextafter(0.1, 1.0), 1.0]])  # off by one ulp


_floats = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 5), k=st.integers(1, 5), data=st.data())
def test_random_gram_matrices_accepted(n, k, data):
    B = [[Fraction(data.draw(_floats)) for _ in range(k)] for _ in range(n)]
    G = [[sum(B[i][t] * B[j][t] for t in range(k)) for j in range(n)] for i in range(n)]
    assert psd_exact(G)
    if k < n:  # rank-deficient: never PD
        assert not psd_exact(G, strict=True)
    # shifting by a tiny negative multiple of a null-ish direction breaks PSD when singular
    if not psd_exact(G, strict=True):
        shifted = [[G[i][j] - (Fraction(1, 10**30) if i == j else 0) for j in range(n)] for i in range(n)]
        assert not psd_exact(shifted)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 4), data=st.data())
def test_agrees_with_numpy_when_clear(n, data):
    S = np.array([[data.draw(_floats) for _ in range(n)] for _ in range(n)])
    S = 0.5 * (S + S.T)
    lam = np.linalg.eigvalsh(S)
    tol = 1e-9 * max(1.0, float(np.max(np.abs(S))))
    if lam[0] > tol:
        assert psd_exact(S.tolist(), strict=True)
    elif lam[0] < -tol:
        assert not psd_exact(S.tolist())


# ------------------------------------------------------------------ SGN matrix, margin
def _scalar_game(lam=1.0):
    return [1.0, 1.0], [[0.0, 10.0 * lam], [0.05 * lam, 0.0]]


def test_sgn_matrix_exact_entries():
    mu, L = [1.0, 2.0, 3.0], [[9.0, 1.0, 2.0], [3.0, 9.0, 4.0], [5.0, 6.0, 9.0]]
    C = sgn_matrix_exact(mu, L, [1, 2, 4], Fraction(1, 2))
    assert C[0][0] == 2 * 1 * Fraction(1, 2)
    assert C[1][1] == 2 * 2 * Fraction(3, 2)
    assert C[2][2] == 2 * 4 * Fraction(5, 2)
    assert C[0][1] == C[1][0] == -(1 * 1 + 2 * 3)
    assert C[0][2] == C[2][0] == -(1 * 2 + 4 * 5)
    assert C[1][2] == C[2][1] == -(2 * 4 + 4 * 6)
    assert all(isinstance(v, Fraction) for r in C for v in r)
    with pytest.raises(SpecError):
        sgn_matrix_exact(mu, [[0, -1, 0], [0, 0, 0], [0, 0, 0]], [1, 1, 1], 0)
    with pytest.raises(SpecError):
        sgn_matrix_exact(mu, L, [1, 1], 0)


def _true_margin_decimal(w2: float) -> Decimal:
    """alpha_*(1, w2) of the scalar game (float data) to 50 digits:
    1 - (L12 + w2 L21) / (2 sqrt(w2))."""
    getcontext().prec = 50
    c = Decimal(10.0) + Decimal(w2) * Decimal(0.05)
    return Decimal(1) - c / (2 * Decimal(w2).sqrt())


def test_certified_margin_scalar_game_perron_weights():
    mu, L = _scalar_game()
    w = [1.0, 200.0]
    # a float estimate (what numpy would give)
    Wh = np.diag(np.sqrt(w))
    A = np.array([[1.0, -10.0], [-0.05, 1.0]])
    B = Wh @ A @ np.linalg.inv(Wh)
    est = float(np.linalg.eigvalsh(0.5 * (B + B.T))[0])
    a = certified_margin(mu, L, w, est)
    assert abs(a - (1 - SQRT_HALF)) < 1e-12
    assert a <= est
    assert Decimal(a) <= _true_margin_decimal(200.0)
    assert psd_exact(sgn_matrix_exact(mu, L, w, a))
    assert not psd_exact(sgn_matrix_exact(mu, L, w, a * 1.0001))


def test_certified_margin_from_too_large_estimate():
    mu, L = _scalar_game()
    a = certified_margin(mu, L, [1.0, 200.0], 0.3)  # true value 0.29289...
    assert 0.0 < a <= 1 - SQRT_HALF
    assert psd_exact(sgn_matrix_exact(mu, L, [1.0, 200.0], a))


def test_certified_margin_failures():
    mu, L = _scalar_game()
    with pytest.raises(NumericalError):
        certified_margin(mu, L, [1.0, 200.0], math.nan)
    with pytest.raises(SpecError):
        certified_margin(mu, L, [1.0, -1.0], 0.1)


def test_certified_margin_negative_margin():
    # margin may be negative (SGN fails at these weights): still a proved lower bound
    mu, L = _scalar_game(lam=2.0)
    w = [1.0, 200.0]
    true = 1 - 2.0 * SQRT_HALF  # alpha_*(1, 200) = 1 - lam sqrt(0.5) at lam = 2
    a = certified_margin(mu, L, w, true)
    assert a <= true + 1e-15 and abs(a - true) < 1e-12
    assert psd_exact(sgn_matrix_exact(mu, L, w, a))


def test_module_is_standard_library_only():
    code = (
        "import sys, sgncert.theory.exact; "
        "bad = [m for m in ('numpy', 'jax', 'cvxpy') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=__file__.rsplit("/tests/", 1)[0])
