"""Tests for sgncert.theory.sets: constraint sets, their projections and the region helpers."""

from __future__ import annotations

import math

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sgncert.errors import SpecError
from sgncert.theory.sets import (
    REGION_TOL,
    SET_KINDS,
    ConstraintSet,
    ProductSet,
    SetError,
    in_region,
    make_set,
    region_meets_set,
    retract_into_region,
)

INF = math.inf

# sets of every kind, dims including 1, infinite bounds, radius 0, total 0
QP_SETS = [
    ({"box": {"low": -1, "high": 2}}, 1),
    ({"box": {"low": [-INF, 0.0, -1.0], "high": [1.0, INF, 1.0]}}, 3),
    ({"box": {"low": [-2, -1, 0, 0.5], "high": [-1, 1, 0, 3]}}, 4),
    ({"box": {"high": [0.5, -0.5]}}, 2),
    ({"nonnegative": True}, 1),
    ({"nonnegative": True}, 3),
    ({"ball": {"center": 0.5, "radius": 2}}, 1),
    ({"ball": {"center": [1.0, -2.0, 0.5], "radius": 1.5}}, 3),
    ({"ball": {"center": [0.3, -0.7], "radius": 0}}, 2),
    ({"simplex": {"total": 1}}, 1),
    ({"simplex": {}}, 4),
    ({"simplex": {"total": 3}}, 5),
    ({"simplex": {"total": 0}}, 3),
]


def qp_project(s: ConstraintSet, y: np.ndarray) -> np.ndarray:
    """argmin ||z - y||^2 over z in s, as a QP / SOCP solved by Clarabel."""
    z = cp.Variable(s.dim)
    if s.kind in ("box", "nonnegative"):
        lo, hi = np.isfinite(s.low), np.isfinite(s.high)
        cons = []
        if lo.any():
            cons.append(z[np.flatnonzero(lo)] >= s.low[lo])
        if hi.any():
            cons.append(z[np.flatnonzero(hi)] <= s.high[hi])
    elif s.kind == "ball":
        cons = [cp.norm(z - s.center, 2) <= s.radius]
    else:
        cons = [z >= 0, cp.sum(z) == s.total]
    prob = cp.Problem(cp.Minimize(cp.sum_squares(z - y)), cons)
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    assert prob.status == cp.OPTIMAL, prob.status
    return np.asarray(z.value, dtype=float)


def inside_points(s: ConstraintSet, w: np.ndarray) -> np.ndarray:
    """Points of the set's relative interior (the QP's multipliers are 0 there, and an
    interior-point solver is accurate only to about the square root of its gap at degenerate
    active constraints): halfway between P(w) and a relative-interior point q."""
    if s.kind in ("box", "nonnegative"):
        lo, hi = s.low, s.high
        q = np.where(np.isfinite(lo), lo + 1.0, np.where(np.isfinite(hi), hi - 1.0, 0.0))
        q = np.where(np.isfinite(lo) & np.isfinite(hi), (lo + hi) / 2, q)
    else:
        q = s.interior_point()  # ball: the center; simplex: total / dim everywhere
    return q + 0.5 * (s.project(w) - q)


@pytest.mark.parametrize("spec,dim", QP_SETS, ids=lambda v: str(v))
def test_projection_matches_qp(spec, dim):
    s = make_set(spec, dim)
    rng = np.random.default_rng(dim + 10 * SET_KINDS.index(next(iter(spec))))
    ys = np.concatenate(
        [
            inside_points(s, rng.standard_normal((3, dim)) * 2.0),
            rng.standard_normal((3, dim)),
            rng.standard_normal((3, dim)) * 30.0,  # far outside
        ]
    )
    batched = s.project(ys)
    assert batched.shape == ys.shape
    for y, p in zip(ys, batched):
        np.testing.assert_allclose(p, qp_project(s, y), rtol=0, atol=1e-7)
        np.testing.assert_array_equal(s.project(y), p)  # one point = its row of the batch
    # a point of the set is its own projection
    inside = ys[:3]
    np.testing.assert_allclose(s.project(inside), inside, rtol=0, atol=1e-12)


def test_projection_special_values():
    np.testing.assert_array_equal(make_set({"simplex": {"total": 0}}, 4).project(np.arange(8.0).reshape(2, 4)), 0.0)
    np.testing.assert_array_equal(make_set({"simplex": {"total": 2.5}}, 1).project([[-7.0], [3.0]]), [[2.5], [2.5]])
    np.testing.assert_array_equal(make_set({"ball": {"center": [1, 2], "radius": 0}}, 2).project([5.0, -3.0]), [1, 2])
    # simplex projection is invariant under shifts, even with a large offset
    s = make_set({"simplex": {"total": 1}}, 3)
    np.testing.assert_allclose(s.project([1e8, 1e8 + 0.5, 1e8 - 3]), [0.25, 0.75, 0.0], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(s.project(1e16 + np.array([0.0, 2.0, -8.0])), [0.0, 1.0, 0.0])  # ulp(1e16) = 2
    np.testing.assert_array_equal(s.project([0.2, 0.3, 0.5]), [0.2, 0.3, 0.5])
    # nested batch axes
    y = np.random.default_rng(0).standard_normal((2, 5, 3))
    np.testing.assert_array_equal(s.project(y)[1, 3], s.project(y[1, 3]))
    assert s.contains(s.project(y), 1e-12).shape == (2, 5)
    with pytest.raises(SetError, match=r"shape \(\.\.\., 3\)"):
        s.project(np.zeros((2, 4)))


# ------------------------------------------------------------------------- properties
finite = st.floats(-10, 10, allow_nan=False, allow_subnormal=False)


@st.composite
def constraint_sets(draw):
    kind = draw(st.sampled_from(SET_KINDS))
    dim = draw(st.integers(1, 5))
    vec = st.lists(finite, min_size=dim, max_size=dim)
    if kind == "box":
        low = np.array(draw(vec))
        high = low + np.abs(np.array(draw(vec)))
        low[np.array(draw(st.lists(st.booleans(), min_size=dim, max_size=dim)))] = -INF
        high[np.array(draw(st.lists(st.booleans(), min_size=dim, max_size=dim)))] = INF
        return ConstraintSet("box", dim, low=low, high=high)
    if kind == "nonnegative":
        return ConstraintSet("nonnegative", dim)
    if kind == "ball":
        return ConstraintSet("ball", dim, center=np.array(draw(vec)), radius=draw(st.floats(0, 5)))
    return ConstraintSet("simplex", dim, total=draw(st.floats(0, 5)))


def points(dim, scale=30.0):
    return st.lists(st.floats(-scale, scale, allow_nan=False, allow_subnormal=False), min_size=dim, max_size=dim).map(
        np.array
    )


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_projection_idempotent_and_inside(data):
    s = data.draw(constraint_sets())
    y = data.draw(points(s.dim))
    p = s.project(y)
    assert s.contains(p, tol=1e-12)
    if s.kind == "simplex":
        np.testing.assert_allclose(s.project(p), p, rtol=0, atol=1e-12 * (1 + np.max(np.abs(y))))
    else:  # clip and the finished radial scaling are exact: P(y) is in X with tol 0, P(P(y)) = P(y)
        assert s.contains(p, tol=0.0)
        np.testing.assert_array_equal(s.project(p), p)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_projection_nonexpansive(data):
    s = data.draw(constraint_sets())
    a, b = data.draw(points(s.dim)), data.draw(points(s.dim))
    if data.draw(st.booleans()):  # a nearby pair as well
        b = a + data.draw(points(s.dim, scale=1e-3))
    lhs = np.linalg.norm(s.project(a) - s.project(b))
    rounding = 1e-14 * (1 + np.max(np.abs(a)) + np.max(np.abs(b)))
    assert lhs <= np.linalg.norm(a - b) * (1 + 1e-12) + rounding


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_projection_variational_inequality(data):
    s = data.draw(constraint_sets())
    y = data.draw(points(s.dim))
    p = s.project(y)
    for _ in range(3):
        z = s.project(data.draw(points(s.dim)))  # a point of X
        assert np.dot(y - p, z - p) <= 1e-9
    assert np.dot(y - p, s.interior_point() - p) <= 1e-9


def test_projection_is_the_nearest_point_on_samples():
    """No sampled point of the set is nearer to y than P(y)."""
    rng = np.random.default_rng(3)
    for spec, dim in QP_SETS:
        s = make_set(spec, dim)
        y = rng.standard_normal(dim) * 5
        z = s.project(rng.standard_normal((500, dim)) * 5)
        assert np.min(np.linalg.norm(z - y, axis=1)) >= np.linalg.norm(s.project(y) - y) - 1e-12


# ------------------------------------------------------------------------- jacobians
def pattern(s, y):
    """What fixes the local affine piece of P near y."""
    if s.kind in ("box", "nonnegative"):
        return tuple((y > s.low) & (y < s.high))
    if s.kind == "ball":
        return bool(np.linalg.norm(y - s.center) < s.radius)
    return tuple(s.project(y) > 0)


JAC_SETS = [
    ({"box": {"low": [-1, -INF, 0], "high": [1, 0.5, INF]}}, 3),
    ({"nonnegative": True}, 2),
    ({"ball": {"center": [0.5, -0.5, 1.0], "radius": 1.2}}, 3),
    ({"ball": {"center": 0.0, "radius": 0.7}}, 1),
    ({"simplex": {"total": 2.0}}, 4),
    ({"simplex": {"total": 1.0}}, 2),
]


@pytest.mark.parametrize("spec,dim", JAC_SETS, ids=lambda v: str(v))
def test_projection_jacobian_finite_differences(spec, dim):
    s = make_set(spec, dim)
    rng = np.random.default_rng(7 + dim)
    h, kink_margin = 1e-6, 1e-3
    checked, pieces = 0, set()
    for _ in range(60):
        y = rng.standard_normal(dim) * 1.5
        probes = [y + kink_margin * e for e in np.vstack([np.eye(dim), -np.eye(dim)])]
        if any(pattern(s, q) != pattern(s, y) for q in probes):
            continue  # too close to a kink
        J = s.projection_jacobian(y)
        assert J.shape == (dim, dim)
        fd = np.column_stack([(s.project(y + h * e) - s.project(y - h * e)) / (2 * h) for e in np.eye(dim)])
        np.testing.assert_allclose(J, fd, rtol=0, atol=1e-6)
        checked += 1
        pieces.add(pattern(s, y))
    assert checked >= 20
    assert len(pieces) >= 2  # several affine pieces were visited


def test_projection_jacobian_values():
    ball = make_set({"ball": {"center": [0, 0], "radius": 2}}, 2)
    np.testing.assert_array_equal(ball.projection_jacobian([0.5, 0.5]), np.eye(2))
    # outside at v = (4, 0): (r/|v|)(I - v v^T/|v|^2) = diag(0, 1/2)
    np.testing.assert_allclose(ball.projection_jacobian([4.0, 0.0]), [[0, 0], [0, 0.5]], atol=1e-16)
    np.testing.assert_array_equal(make_set({"ball": {"radius": 0}}, 2).projection_jacobian([0.0, 0.0]), 0.0)
    np.testing.assert_array_equal(make_set({"ball": {"radius": 0}}, 2).projection_jacobian([1.0, 2.0]), 0.0)
    box = make_set({"box": {"low": [0, 1, -1], "high": [2, 1, 1]}}, 3)  # low = high on the middle coordinate
    np.testing.assert_array_equal(box.projection_jacobian([1.0, 1.0, 5.0]), np.diag([1.0, 0.0, 0.0]))
    simplex = make_set({"simplex": {"total": 1}}, 3)
    S = np.array([[0.5, -0.5, 0], [-0.5, 0.5, 0], [0, 0, 0]])  # support {0, 1} of P(y) = (0.5, 0.5, 0)
    np.testing.assert_allclose(simplex.projection_jacobian([1.0, 1.0, -3.0]), S, atol=1e-16)
    np.testing.assert_array_equal(make_set({"simplex": {"total": 0}}, 3).projection_jacobian([1.0, 2.0, 3.0]), 0.0)
    np.testing.assert_array_equal(make_set({"simplex": {"total": 4}}, 1).projection_jacobian([1.0]), [[0.0]])
    # batched
    ys = np.array([[1.0, 1.0, -3.0], [0.2, 0.3, 0.5]])
    Js = simplex.projection_jacobian(ys)
    assert Js.shape == (2, 3, 3)
    np.testing.assert_allclose(Js[1], np.eye(3) - 1 / 3, atol=1e-16)


# ------------------------------------------------------------------------ spec forms
BAD_SPECS = [
    ({"box": {"low": 3, "high": 1}}, 2, "box: low 3 > high 1 at index 0"),
    ({"box": {"low": [0, 2.5], "high": [1, 2]}}, 2, "box: low 2.5 > high 2 at index 1"),
    ({"ball": {"radius": -1}}, 2, "ball: radius must be >= 0, got -1"),
    ({"simplex": {"total": -2}}, 3, "simplex: total must be >= 0, got -2"),
    ({"box": {"low": [0, 0, 0]}}, 2, "box: low has 3 entries, the player has dim 2"),
    ({"ball": {"center": [0], "radius": 1}}, 2, "ball: center has 1 entries, the player has dim 2"),
    ({"cube": {}}, 2, "unknown set 'cube' (expected one of box, nonnegative, ball, simplex)"),
    ({"nonnegative": False}, 2, "nonnegative: expected true, got False"),
    ({"nonnegative": {}}, 2, "nonnegative: expected true, got {}"),
    ({"ball": {"radious": 1}}, 2, "ball: unknown key 'radious' (expected center, radius)"),
    ({"box": {"low": 0, "hi": 1}}, 2, "box: unknown key 'hi' (expected low, high)"),
    ({"simplex": {"sum": 1}}, 2, "simplex: unknown key 'sum' (expected total)"),
    ({"ball": {"center": 0}}, 2, "ball: missing key 'radius'"),
    ({"box": {"low": [0, math.nan]}}, 2, "box: low[1] is NaN"),
    ({"box": {"high": math.nan}}, 2, "box: high is NaN"),
    ({"ball": {"radius": math.nan}}, 2, "ball: radius is NaN"),
    ({"ball": {"radius": INF}}, 2, "ball: radius must be finite, got inf"),
    ({"ball": {"center": [0, "inf"], "radius": 1}}, 2, "ball: center[1] must be a number, got 'inf'"),
    ({"simplex": {"total": math.nan}}, 2, "simplex: total is NaN"),
    ({"simplex": {"total": "1"}}, 2, "simplex: total must be a number, got '1'"),
    ({"box": {"low": "lots"}}, 2, "box: low must be a number, got 'lots'"),
    ({"box": {"low": [True, 0]}}, 2, "box: low[0] must be a number, got True"),
    ({"box": {"low": ".inf"}}, 1, "box: low is +inf at index 0 (the set would be empty)"),
    ({"box": [0, 1]}, 2, "box: expected a mapping with keys low, high, got [0, 1]"),
    ({"simplex": None}, 2, "simplex: expected a mapping with keys total, got None"),
    (
        {"box": {}, "ball": {"radius": 1}},
        2,
        "a constraint set is a mapping with exactly one key (one of box, nonnegative, ball, simplex), got 2 keys ['box', 'ball']",
    ),
    (
        "box",
        2,
        "a constraint set is a mapping with exactly one key (one of box, nonnegative, ball, simplex), got 'box'",
    ),
    ({"nonnegative": True}, 0, "dim must be a positive integer, got 0"),
]


@pytest.mark.parametrize("spec,dim,message", BAD_SPECS, ids=lambda v: str(v))
def test_make_set_errors(spec, dim, message):
    with pytest.raises(SetError) as info:
        make_set(spec, dim)
    assert str(info.value) == message
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, SpecError)


def test_make_set_error_messages_stay_on_one_line():
    with pytest.raises(SetError) as info:
        make_set({"box": {"low": np.zeros((2, 2))}}, 2)  # a numpy repr spans lines
    assert "\n" not in str(info.value)
    with pytest.raises(SetError) as info:
        make_set({"box": {"low": "a\nb"}}, 2)
    assert "\n" not in str(info.value)


def test_make_set_valid_forms():
    box = make_set({"box": {"low": "-.inf", "high": [1, ".inf", "inf"]}}, 3)
    np.testing.assert_array_equal(box.low, [-INF, -INF, -INF])
    np.testing.assert_array_equal(box.high, [1, INF, INF])
    box = make_set({"box": {"low": [-1, "-inf"], "high": 2}}, 2)  # scalar broadcast
    np.testing.assert_array_equal(box.low, [-1, -INF])
    np.testing.assert_array_equal(box.high, [2, 2])
    box = make_set({"box": {}}, 2)
    np.testing.assert_array_equal(box.project([1e9, -1e9]), [1e9, -1e9])
    box = make_set({"box": {"low": np.float64(0.5), "high": np.array([1, 2])}}, 2)
    np.testing.assert_array_equal(box.low, [0.5, 0.5])
    ball = make_set({"ball": {"radius": 2}}, 3)
    np.testing.assert_array_equal(ball.center, [0, 0, 0])
    assert ball.radius == 2.0 and isinstance(ball.radius, float)
    assert make_set({"ball": {"center": 1.5, "radius": 0}}, 2).center.tolist() == [1.5, 1.5]
    assert make_set({"simplex": {}}, 3).total == 1.0
    nonneg = make_set({"nonnegative": True}, 2)
    np.testing.assert_array_equal(nonneg.low, [0, 0])
    np.testing.assert_array_equal(nonneg.high, [INF, INF])
    assert nonneg.describe() == {"nonnegative": True}
    with pytest.raises(ValueError):
        box.low[0] = 3.0  # stored read-only


@pytest.mark.parametrize("spec,dim", QP_SETS, ids=lambda v: str(v))
def test_describe_round_trip(spec, dim):
    s = make_set(spec, dim)
    d = s.describe()
    assert list(d) == [s.kind]
    again = make_set(d, dim)
    assert again == s and hash(again) == hash(s)
    assert s.contains(s.interior_point(), tol=1e-12)


def test_describe_forms_and_equality():
    assert make_set({"box": {"low": "-.inf", "high": 1}}, 2).describe() == {
        "box": {"low": [-INF, -INF], "high": [1.0, 1.0]}
    }
    assert make_set({"ball": {"center": [1, 2], "radius": 3}}, 2).describe() == {
        "ball": {"center": [1.0, 2.0], "radius": 3.0}
    }
    assert make_set({"simplex": {"total": 2}}, 4).describe() == {"simplex": {"total": 2.0}}
    a = make_set({"ball": {"radius": 1}}, 2)
    assert a != make_set({"ball": {"radius": 1.5}}, 2)
    assert a != make_set({"ball": {"radius": 1}}, 3)
    assert len({a, make_set({"ball": {"center": 0, "radius": 1}}, 2)}) == 1


def test_interior_points():
    box = make_set({"box": {"low": [-1, 2, -INF, -INF], "high": [3, INF, 4, INF]}}, 4)
    np.testing.assert_array_equal(box.interior_point(), [1, 2, 4, 0])
    np.testing.assert_array_equal(make_set({"ball": {"center": [1, -1], "radius": 0}}, 2).interior_point(), [1, -1])
    np.testing.assert_allclose(make_set({"simplex": {"total": 3}}, 4).interior_point(), 0.75)


def test_direct_construction_checks():
    with pytest.raises(SetError, match="ball: radius is required"):
        ConstraintSet("ball", 2)
    with pytest.raises(SetError, match="box: radius does not apply"):
        ConstraintSet("box", 2, radius=1.0)
    with pytest.raises(SetError, match="nonnegative: low must be 0"):
        ConstraintSet("nonnegative", 2, low=np.ones(2))
    with pytest.raises(SetError, match="unknown set 'cube'"):
        ConstraintSet("cube", 2)
    with pytest.raises(SetError, match="box: low has 3 entries"):
        ConstraintSet("box", 2, low=np.zeros(3))
    assert ConstraintSet("simplex", 3).total == 1.0


def test_contains():
    box = make_set({"box": {"low": [0, -INF], "high": [1, 0]}}, 2)
    x = np.array([[0.5, -100.0], [1.0 + 1e-9, 0.0], [0.5, math.nan]])
    assert box.contains(x).tolist() == [True, False, False]
    assert box.contains(x, tol=1e-8).tolist() == [True, True, False]
    simplex = make_set({"simplex": {"total": 2}}, 2)
    x = np.array([[1.0, 1.0], [2.0 + 1e-9, 0.0], [-1e-9, 2.0], [1.5, 1.5]])
    assert simplex.contains(x).tolist() == [True, False, False, False]
    assert simplex.contains(x, tol=1e-9).tolist() == [True, True, True, False]
    ball = make_set({"ball": {"center": [3, 4], "radius": 5}}, 2)
    assert ball.contains(np.array([[0.0, 0.0], [0.0, -1e-9]])).tolist() == [True, False]
    assert ball.contains(np.array([0.0, 0.0])).shape == ()


# --------------------------------------------------------------------------- product
def test_product_set_with_unconstrained_player():
    simplex = make_set({"simplex": {"total": 1}}, 2)
    ball = make_set({"ball": {"center": [0, 0, 0], "radius": 1}}, 3)
    X = ProductSet((simplex, None, ball), (2, 1, 3))
    assert X.constrained and X.dim == 6
    assert not ProductSet((None, None), (2, 1)).constrained
    y = np.array([[2.0, 0.0, -7.5, 3.0, 4.0, 0.0], [0.5, 0.5, 1.0, 0.0, 0.0, 0.5]])
    p = X.project(y)
    np.testing.assert_allclose(p[0], [1.0, 0.0, -7.5, 0.6, 0.8, 0.0], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(p[1], y[1])
    assert X.contains(p).tolist() == [True, True]
    assert X.contains(y).tolist() == [False, True]
    assert not X.contains(np.array([0.5, 0.5, math.nan, 0, 0, 0]))
    J = X.projection_jacobian(y[0])
    assert J.shape == (6, 6)
    np.testing.assert_array_equal(J[:2, :2], simplex.projection_jacobian(y[0, :2]))
    assert J[2, 2] == 1.0
    np.testing.assert_allclose(J[3:, 3:], ball.projection_jacobian(y[0, 3:]))
    off = J.copy()
    off[:2, :2] = off[2:3, 2:3] = off[3:, 3:] = 0
    assert not off.any()
    np.testing.assert_allclose(X.interior_point(), [0.5, 0.5, 0, 0, 0, 0])
    assert X.contains(X.interior_point())
    # X from a list, equality by value
    assert ProductSet([simplex, None, ball], [2, 1, 3]) == X


def test_product_set_checks():
    with pytest.raises(SetError, match="player 1: the set has dim 2, the player has dim 3"):
        ProductSet((None, make_set({"nonnegative": True}, 2)), (1, 3))
    with pytest.raises(SetError, match="2 sets for 1 players"):
        ProductSet((None, None), (1,))
    with pytest.raises(SetError, match=r"shape \(\.\.\., 3\)"):
        ProductSet((None, None), (1, 2)).project(np.zeros(4))


# ---------------------------------------------------------------------------- region
REGIONS = [
    (np.array([0.1, -0.3, 0.7]), 0.2, "inf"),
    (np.array([0.1, -0.3, 0.7]), 0.2, "2"),
    (np.array([1e3 + 0.1, 0.3, -0.7]), 1.3, "inf"),
    (np.array([1e3 + 0.1, 0.3, -0.7]), 1.3, "2"),
    (np.array([0.0, 0.0, 0.0]), 0.0, "2"),
]


@pytest.mark.parametrize("center,radius,norm", REGIONS, ids=lambda v: str(v))
def test_retract_into_region(center, radius, norm):
    rng = np.random.default_rng(11)
    d = center.size
    # the center, and a point of the boundary (a corner of the box, a point of the sphere) made
    # exactly inside by a first retraction
    edge = center + radius * np.array([1.0, -1.0, 1.0]) * (1.0 if norm == "inf" else 3.0)
    anchors = [center.copy(), retract_into_region(edge[None], center, center, radius, norm)[0]]
    for anchor in anchors:
        assert in_region(anchor, center, radius, norm)
        pts = center + radius * rng.standard_normal((400, d)) * np.array([[0.5], [2.0], [50.0], [1.05]]).repeat(100, 0)
        out = retract_into_region(pts, anchor, center, radius, norm)
        assert out.shape == pts.shape
        assert in_region(out, center, radius, norm).all()  # exactly, in floating point
        was_in = in_region(pts, center, radius, norm)
        assert 0 < was_in.sum() < len(pts) or radius == 0
        np.testing.assert_array_equal(out[was_in], pts[was_in])
        # on the segment from the anchor to the point, as far out as the region allows
        v, w = pts - anchor, out - anchor
        vv = np.sum(v * v, axis=1)
        t = np.sum(w * v, axis=1) / np.where(vv > 0, vv, 1.0)
        scale = 1e-12 * (1 + np.max(np.abs(center)) + radius * 50)
        assert np.all(np.linalg.norm(w - t[:, None] * v, axis=1) <= scale * np.sqrt(vv + 1))
        assert np.all((t >= -1e-12) & (t <= 1 + 1e-12))
        moved = ~was_in
        dist = np.max(np.abs(out - center), axis=1) if norm == "inf" else np.linalg.norm(out - center, axis=1)
        assert np.all(dist[moved] >= radius - scale)


def test_retract_into_region_closed_forms():
    # box [-1, 1]^2, anchor 0: (4, 1) -> t = 1/4 -> (1, 0.25)
    out = retract_into_region(np.array([[4.0, 1.0], [0.5, 0.5]]), np.zeros(2), np.zeros(2), 1.0, "inf")
    np.testing.assert_allclose(out, [[1.0, 0.25], [0.5, 0.5]], rtol=0, atol=1e-15)
    # ball radius 5 around 0, anchor (3, 0), point (3, 8): segment meets the circle at (3, 4)
    out = retract_into_region(np.array([[3.0, 8.0]]), np.array([3.0, 0.0]), np.zeros(2), 5.0, "2")
    np.testing.assert_allclose(out, [[3.0, 4.0]], rtol=0, atol=1e-14)
    # anchor on the circle at (-5, 0), point (10, 0): the chord leaves the disc at (5, 0)
    out = retract_into_region(np.array([[10.0, 0.0]]), np.array([-5.0, 0.0]), np.zeros(2), 5.0, "2")
    np.testing.assert_allclose(out, [[5.0, 0.0]], rtol=0, atol=1e-14)
    with pytest.raises(SetError, match="anchor must be one point of the region"):
        retract_into_region(np.zeros((1, 2)), np.array([2.0, 0.0]), np.zeros(2), 1.0, "inf")
    with pytest.raises(SetError, match="unknown norm '1'"):
        retract_into_region(np.zeros((1, 2)), np.zeros(2), np.zeros(2), 1.0, "1")


def _meets(X, center, radius, norm):
    z = region_meets_set(X, np.asarray(center, dtype=float), radius, norm)
    assert z is not None
    assert X.contains(z, tol=1e-12)
    assert in_region(z, center, radius, norm, tol=REGION_TOL * radius)
    return z


def test_region_meets_set_finds_points():
    ball = make_set({"ball": {"center": [3.0, 0.8], "radius": 2.05}}, 2)
    X = ProductSet((ball,), (2,))
    # P_X(0) = (1.019.., 0.27..) lies outside the box [-1, 1]^2 that still meets the ball (at (1, 0.8))
    assert not in_region(X.project(np.zeros(2)), np.zeros(2), 1.0, "inf", tol=1e-3)
    z = _meets(X, [0.0, 0.0], 1.0, "inf")
    assert z[0] <= 1 + 1e-9
    # the Euclidean ball of radius 1.1 around 0 meets it (distance 3.105 - 2.05 = 1.055), radius 1 does not
    _meets(X, [0.0, 0.0], 1.1, "2")
    assert region_meets_set(X, np.zeros(2), 1.0, "2") is None
    simplex = make_set({"simplex": {"total": 3}}, 3)
    Y = ProductSet((simplex, None, make_set({"box": {"low": [2, -1], "high": [4, 1]}}, 2)), (3, 1, 2))
    _meets(Y, np.zeros(6), 2.0, "inf")
    _meets(Y, np.zeros(6), 3.0, "2")
    _meets(Y, np.array([1, 1, 1, 50, 3, 0.0]), 1.0, "inf")
    assert region_meets_set(ProductSet((None,), (2,)), np.array([7.0, 1.0]), 0.0, "2").tolist() == [7, 1]


def test_region_meets_set_empty():
    ball = make_set({"ball": {"center": [5.0, 5.0], "radius": 1.0}}, 2)
    X = ProductSet((ball,), (2,))
    assert region_meets_set(X, np.zeros(2), 1.0, "inf") is None
    assert region_meets_set(X, np.zeros(2), 1.0, "2") is None
    # corner case: the ball nearly reaches the box corner (1, 1) but not quite (distance 1.1314 > 1.13)
    near = ProductSet((make_set({"ball": {"center": [1.8, 1.8], "radius": 1.13}}, 2),), (2,))
    assert region_meets_set(near, np.zeros(2), 1.0, "inf") is None
    assert region_meets_set(near, np.zeros(2), 1.0 + 0.0014, "inf") is not None
    simplex = ProductSet((make_set({"simplex": {"total": 1}}, 2), None), (2, 1))
    assert region_meets_set(simplex, np.array([-2.0, -2.0, 0.0]), 1.5, "inf") is None
