"""Interval arithmetic and proved spectra of interval matrices: every enclosure holds the
exact value (checked in 120-bit ball arithmetic), every proved bound holds for random
members of the family, and nothing false is proved."""

from __future__ import annotations

import math

import flint
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sgncert.theory import intervals as iv
from sgncert.theory.interval_spectra import holds, lower_bound, pd_proved, spectral_radius_upper
from sgncert.theory.intervals import Interval

finite = st.floats(min_value=-30.0, max_value=30.0, allow_nan=False)


def _interval(a: float, b: float) -> Interval:
    lo, hi = min(a, b), max(a, b)
    return Interval(np.array([lo]), np.array([hi]))


def _inside(x: Interval, fn, point: float) -> bool:
    """fn(point), exactly, lies within [lo, hi]: decided in ball arithmetic at rising
    precision (False only when a ball lies wholly outside)."""
    lo, hi = float(x.lo[0]), float(x.hi[0])
    old = flint.ctx.prec
    try:
        for prec in (120, 1200, 4200):
            flint.ctx.prec = prec
            exact = fn(flint.arb(point))
            low_ok = lo == -math.inf or flint.arb(lo) <= exact
            high_ok = hi == math.inf or exact <= flint.arb(hi)
            if low_ok and high_ok:
                return True
            if (lo != -math.inf and exact < flint.arb(lo)) or (hi != math.inf and exact > flint.arb(hi)):
                return False
        return True  # undecided at 4200 bits: not a counterexample
    finally:
        flint.ctx.prec = old


ARB = {
    "exp": lambda v: v.exp(),
    "expm1": lambda v: v.expm1(),
    "tanh": lambda v: v.tanh(),
    "logistic": lambda v: 1 / (1 + (-v).exp()),
    "sin": lambda v: v.sin(),
    "cos": lambda v: v.cos(),
}


@settings(max_examples=60, deadline=None)
@given(a=finite, b=finite, t=st.floats(0, 1), name=st.sampled_from(sorted(ARB)))
def test_elementary_enclosures_hold_the_exact_value(a, b, t, name):
    x = _interval(a, b)
    y = iv.elementary(name, x)
    point = float(np.clip(x.lo[0] + t * (x.hi[0] - x.lo[0]), x.lo[0], x.hi[0]))
    assert _inside(y, ARB[name], point)


@settings(max_examples=60, deadline=None)
@given(a=st.floats(1e-6, 50), b=st.floats(1e-6, 50), t=st.floats(0, 1))
def test_logarithms_and_roots_enclose(a, b, t):
    x = _interval(a, b)
    point = float(np.clip(x.lo[0] + t * (x.hi[0] - x.lo[0]), x.lo[0], x.hi[0]))
    assert _inside(iv.elementary("log", x), lambda v: v.log(), point)
    assert _inside(iv.elementary("log1p", x), lambda v: v.log1p(), point)
    assert _inside(iv.sqrt(x), lambda v: v.sqrt(), point)


@settings(max_examples=80, deadline=None)
@given(a=finite, b=finite, c=finite, d=finite, s=st.floats(0, 1), u=st.floats(0, 1), n=st.integers(-3, 5))
def test_arithmetic_encloses_exact_rational_results(a, b, c, d, s, u, n):
    from fractions import Fraction

    x, y = _interval(a, b), _interval(c, d)
    # points of the intervals (clipped: lo + s (hi - lo) can round outside them)
    px = float(np.clip(x.lo[0] + s * (x.hi[0] - x.lo[0]), x.lo[0], x.hi[0]))
    py = float(np.clip(y.lo[0] + u * (y.hi[0] - y.lo[0]), y.lo[0], y.hi[0]))
    fx, fy = Fraction(float(px)), Fraction(float(py))

    def within(z: Interval, q: Fraction) -> bool:
        return (z.lo[0] == -math.inf or Fraction(float(z.lo[0])) <= q) and (
            z.hi[0] == math.inf or q <= Fraction(float(z.hi[0]))
        )

    assert within(iv.add(x, y), fx + fy)
    assert within(iv.sub(x, y), fx - fy)
    assert within(iv.mul(x, y), fx * fy)
    if fy != 0:
        assert within(iv.div(x, y), fx / fy)
    if n >= 0 or fx != 0:
        assert within(iv.integer_power(x, n), fx**n)
    terms = np.array([[px, py, px * 0.3]])
    box = Interval(terms, terms)
    exact_sum = sum(Fraction(float(v)) for v in terms[0])
    assert within(iv.total(box, [1]), exact_sum)


def test_zeros_stay_exact_and_nan_becomes_the_whole_line():
    z = iv.point(np.zeros(3))
    x = Interval(np.array([1.0, -1.0, 2.0]), np.array([1.5, 2.0, 3.0]))
    prod = iv.mul(z, x)
    assert np.all(prod.lo == 0) and np.all(prod.hi == 0)
    # an infinite end may be the program's overflow, and XLA's 0 * inf is NaN
    over = iv.mul(z, Interval(np.array([1.0, -np.inf, -np.inf]), np.array([np.inf, 2.0, np.inf])))
    assert np.all(np.isneginf(over.lo)) and np.all(np.isposinf(over.hi))
    s = iv.total(iv.point(np.zeros((2, 4))), [1])
    assert np.all(s.lo == 0) and np.all(s.hi == 0)
    inf = Interval(np.array([np.inf]), np.array([np.inf]))
    d = iv.sub(inf, inf)
    assert d.lo[0] == -np.inf and d.hi[0] == np.inf
    assert iv.div(iv.point(np.ones(1)), _interval(-1.0, 1.0)).hi[0] == np.inf


WHOLE = Interval(np.array([-np.inf]), np.array([np.inf]))


@pytest.mark.parametrize(
    "op",
    [
        lambda u: iv.mul(iv.point(np.zeros(1)), u),
        lambda u: iv.mul(u, iv.point(np.zeros(1))),
        iv.absolute,
        lambda u: iv.maximum(u, iv.point(np.zeros(1))),
        lambda u: iv.minimum(iv.point(np.ones(1)), u),
        lambda u: iv.integer_power(u, 2),
        lambda u: iv.contract(u.__class__(u.lo[None], u.hi[None]), iv.point(np.zeros((1, 1))), "ij,jk->ik", 1),
        *[lambda u, name=name: iv.elementary(name, u) for name in iv.ELEMENTARY],
    ],
    ids=["0*u", "u*0", "abs", "max", "min", "square", "contract", *iv.ELEMENTARY],
)
def test_a_possibly_undefined_value_stays_undefined(op):
    """The whole line may be the program's NaN (log of a negative number): 0 * NaN, |NaN|,
    max(NaN, 0), NaN^2, tanh(NaN) are NaN in the program, so none may come out bounded."""
    out = op(WHOLE)
    assert np.all(np.isneginf(out.lo)) and np.all(np.isposinf(out.hi))


def test_contract_encloses_matrix_products():
    rng = np.random.default_rng(3)
    A = Interval(*np.sort(rng.normal(size=(2, 5, 4)), axis=0))
    B = Interval(*np.sort(rng.normal(size=(2, 4, 3)), axis=0))
    C = iv.contract(A, B, "ij,jk->ik", 4)
    for _ in range(200):
        a = A.lo + rng.random(A.shape) * (A.hi - A.lo)
        b = B.lo + rng.random(B.shape) * (B.hi - B.lo)
        c = a @ b
        assert np.all(C.lo <= c + 1e-15 * np.abs(c)) and np.all(c - 1e-15 * np.abs(c) <= C.hi)


def _family(rng, n: int, count: int, rad: float):
    A = rng.normal(size=(count, n, n))
    A = (A + A.swapaxes(1, 2)) / 2
    R = np.abs(rng.normal(size=(count, n, n))) * rad
    return A, (R + R.swapaxes(1, 2)) / 2


def test_lower_bound_holds_for_every_sampled_member_and_is_tight():
    rng = np.random.default_rng(0)
    A, R = _family(rng, 6, 200, 1e-3)
    lb = lower_bound(A, R)
    assert np.all(np.isfinite(lb))
    for _ in range(100):
        D = rng.uniform(-1, 1, size=R.shape) * R
        D = (D + D.swapaxes(1, 2)) / 2
        assert np.all(np.linalg.eigvalsh(A + D)[:, 0] >= lb)
    # and the bound is no looser than lambda_min(A_m) - ||A_r||_2, up to the proof's back-off
    gap = np.linalg.eigvalsh(A)[:, 0] - np.linalg.norm(R, 2, axis=(1, 2)) - lb
    assert np.max(gap) < 1e-6


def test_diagonal_families_are_bounded_exactly():
    lo = np.array([[1.0, 2.0, 5.0]])
    hi = np.array([[3.0, 2.5, 9.0]])
    Am = np.zeros((1, 3, 3))
    Ar = np.zeros((1, 3, 3))
    Am[0][np.diag_indices(3)] = (lo + hi)[0] / 2
    Ar[0][np.diag_indices(3)] = (hi - lo)[0] / 2
    assert lower_bound(Am, Ar)[0] == pytest.approx(1.0, abs=1e-9)
    assert lower_bound(Am, Ar)[0] <= 1.0


def test_nothing_false_is_proved():
    rng = np.random.default_rng(1)
    A, R = _family(rng, 5, 100, 0.0)
    lam = np.linalg.eigvalsh(A)[:, 0]
    assert not holds(A, R, lam + 1e-6 * (1 + np.abs(lam))).any()
    assert holds(A, R, lam - 1e-6 * (1 + np.abs(lam))).all()
    indefinite = np.array([[[1.0, 2.0], [2.0, 1.0]]])
    assert not pd_proved(indefinite, np.zeros_like(indefinite))[0]
    assert pd_proved(np.eye(3)[None], np.zeros((1, 3, 3)))[0]
    # a radius large enough to reach a singular member is never proved definite
    assert not pd_proved(np.eye(2)[None], np.full((1, 2, 2), 1.0))[0]


def test_spectral_radius_upper_is_an_upper_bound():
    rng = np.random.default_rng(2)
    R = np.abs(rng.normal(size=(50, 7, 7)))
    R = (R + R.swapaxes(1, 2)) / 2
    rho = np.max(np.abs(np.linalg.eigvalsh(R)), axis=1)
    up = spectral_radius_upper(R)
    assert np.all(up >= rho) and np.all(up <= rho * (1 + 1e-6))


def test_products_by_a_half_that_underflow_are_rounded_outwards():
    x = Interval(np.array([-2.0]), np.array([5e-324]))
    y = iv.mul(x, iv.point(np.array([0.5])))
    assert y.lo[0] <= -1.0 and y.hi[0] > 0.0  # the exact upper end 2.5e-324 is no float: rounded up
    z = iv.mul(Interval(np.array([0.0]), np.array([5e-324])), iv.point(np.array([0.5])))
    assert z.hi[0] > 0.0
