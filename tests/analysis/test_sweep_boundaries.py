"""Sweep boundaries located between the grid points: the bracket (certified_up_to, fails_at]
around each test's crossing, each end backed by a certification (SPEC reference: the
scalar game certifies by SGN iff lam < sqrt(2), by the Euclidean test iff lam < 1/5.025)."""

from __future__ import annotations

import json
import math

import pytest

from conftest import GAMES

SQRT2 = math.sqrt(2.0)
EUCLID = 1 / 5.025  # gamma = 1 - 5.025 lam
STEP = 2.5 / 60  # the grid step of lam=0:2.5:61


@pytest.fixture(scope="module")
def scalar():
    from sgncert.games.spec import load_game

    return load_game(GAMES / "scalar.yaml")


@pytest.fixture(scope="module")
def sweep(scalar):
    from sgncert.analysis.sweep import run_sweep

    calls = []
    doc = run_sweep(scalar, ["lam=0:2.5:61"], progress=lambda *a: calls.append(a))
    return doc, calls


def certified_at(game, lam):
    """(SGN certified with a positive margin, gamma > 0) at ``lam``, certified afresh."""
    from sgncert.analysis.certify import certify
    from sgncert.games.spec import with_params

    c = certify(with_params(game, {"lam": lam}), tight=False, bands=False)
    return bool(c.certified and c.margin > 0), bool(c.constants.gamma > 0)


@pytest.mark.parametrize("label, root", [("sgn", SQRT2), ("euclidean", EUCLID)])
def test_located_crossings_match_closed_forms(sweep, label, root):
    b = sweep[0]["boundaries"][label]
    a, f = b["certified_up_to"], b["fails_at"]
    assert a < root <= f
    assert f - a <= 1e-6 * STEP * (1 + 1e-9)
    assert b["rtol"] == 1e-6 and 1 <= b["evaluations"] <= 8  # secant steps: far fewer than bisection's 20
    # the grid values it started from are kept
    assert b["grid_last_certified"] < a and f < b["grid_first_failure"]
    assert b["grid_first_failure"] - b["grid_last_certified"] == pytest.approx(STEP)
    assert b["grid_next_certified"] is None


def test_grid_ends_as_before(sweep):
    bnd = sweep[0]["boundaries"]
    assert bnd["sgn"]["grid_last_certified"] == pytest.approx(1.375)
    assert bnd["sgn"]["grid_first_failure"] == pytest.approx(34 * STEP)
    assert bnd["euclidean"]["grid_last_certified"] == pytest.approx(4 * STEP)
    assert bnd["euclidean"]["grid_first_failure"] == pytest.approx(5 * STEP)


def test_bracket_ends_are_backed_by_certifications(scalar, sweep):
    bnd = sweep[0]["boundaries"]
    assert certified_at(scalar, bnd["sgn"]["certified_up_to"])[0] is True
    assert certified_at(scalar, bnd["sgn"]["fails_at"])[0] is False
    assert certified_at(scalar, bnd["euclidean"]["certified_up_to"])[1] is True
    assert certified_at(scalar, bnd["euclidean"]["fails_at"])[1] is False


def test_bracket_ends_are_short_decimals(sweep):
    """Trial points are rounded to the fewest digits the tolerance allows, so the printed
    boundary is the proved value itself (no truncation needed)."""
    for b in sweep[0]["boundaries"].values():
        for v in (b["certified_up_to"], b["fails_at"]):
            assert len(repr(v).lstrip("0.").replace(".", "")) <= 10


def test_progress_and_json(sweep):
    doc, calls = sweep
    assert ("sweep", 61, 61) in calls and calls[-1] == ("boundaries", 3, 3)
    json.dumps(doc, allow_nan=False)


def test_rtol_argument(scalar):
    from sgncert.analysis.sweep import run_sweep
    from sgncert.errors import SpecError

    coarse = run_sweep(scalar, ["lam=0:2.5:61"], boundary_rtol=1e-2)["boundaries"]["sgn"]
    assert coarse["certified_up_to"] < SQRT2 <= coarse["fails_at"]
    assert coarse["fails_at"] - coarse["certified_up_to"] <= 1e-2 * STEP * (1 + 1e-9)
    grid = run_sweep(scalar, ["lam=0:2.5:61"], boundary_rtol=None)["boundaries"]["sgn"]
    assert grid["certified_up_to"] == grid["grid_last_certified"] == pytest.approx(1.375)
    assert grid["fails_at"] == grid["grid_first_failure"] and grid["evaluations"] == 0 and grid["rtol"] is None
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(SpecError, match="tolerance"):
            run_sweep(scalar, ["lam=0:1:2"], boundary_rtol=bad)


def test_decreasing_sweep_locates_downwards(scalar):
    """Grid order counts: a sweep that runs downwards from a certified point brackets the
    crossing below it (both tests depend on |lam|); one that starts failing locates nothing."""
    from sgncert.analysis.sweep import run_sweep

    b = run_sweep(scalar, ["lam=-1.3:-1.5:5"])["boundaries"]["sgn"]
    assert b["fails_at"] <= -SQRT2 < b["certified_up_to"] and b["certified_up_to"] - b["fails_at"] <= 1e-6 * 0.05
    assert certified_at(scalar, b["certified_up_to"])[0] is True
    assert certified_at(scalar, b["fails_at"])[0] is False
    b = run_sweep(scalar, ["lam=-0.1:-0.3:5"])["boundaries"]["euclidean"]
    assert b["fails_at"] <= -EUCLID < b["certified_up_to"]
    down = run_sweep(scalar, ["lam=0.3:0.1:5"])["boundaries"]["euclidean"]
    assert down["certified_up_to"] is None and down["fails_at"] == 0.3
    assert down["grid_next_certified"] == pytest.approx(0.15) and down["evaluations"] == 0


def test_all_certified_and_first_point_failing(scalar):
    from sgncert.analysis.sweep import run_sweep

    b = run_sweep(scalar, ["lam=0:0.1:3"])["boundaries"]
    for entry in b.values():
        assert entry["certified_up_to"] == 0.1 and entry["fails_at"] is None and entry["evaluations"] == 0
    b = run_sweep(scalar, ["lam=2:3:3"])["boundaries"]["sgn"]
    assert b["certified_up_to"] is None and b["grid_last_certified"] is None
    assert b["fails_at"] == b["grid_first_failure"] == 2.0 and b["grid_next_certified"] is None


def test_multi_parameter_sweep_has_no_boundaries(scalar):
    from sgncert.analysis.sweep import run_sweep

    assert "boundaries" not in run_sweep(scalar, ["lam=0:2:3", "b=0.01:0.2:2"])


def test_not_one_interval_is_flagged():
    """Grid-only boundaries from rows: the first crossing, and the grid point where the
    certified set starts again."""
    from sgncert.analysis.sweep import boundaries

    ok = [True, True, False, False, True, False]
    rows = [
        {
            "x": float(i),
            "certified": v,
            "sgn_certified": v,
            "sgn_margin": 1.0 if v else -1.0,
            "euclidean_certified": False,
        }
        for i, v in enumerate(ok)
    ]
    b = boundaries(rows, "x")
    assert b["sgn"] == {
        "certified_up_to": 1.0,
        "fails_at": 2.0,
        "grid_last_certified": 1.0,
        "grid_first_failure": 2.0,
        "grid_next_certified": 4.0,
        "evaluations": 0,
        "rtol": None,
    }
    assert b["euclidean"]["certified_up_to"] is None and b["euclidean"]["grid_next_certified"] is None
    assert b["certified"] == b["sgn"]  # every row certified here is SGN-certified


def test_sgn_test_needs_a_positive_margin():
    """A row certified by some other proof with alpha_*(w) <= 0 does not pass the SGN test,
    but passes the verdict's."""
    from sgncert.analysis.sweep import sgn_passes, verdict_passes

    assert sgn_passes({"certified": True, "sgn_certified": True, "sgn_margin": 0.1})
    assert not sgn_passes({"certified": True, "sgn_certified": False, "sgn_margin": -0.3})
    assert verdict_passes({"certified": True, "sgn_certified": False, "sgn_margin": -0.3})
    assert not sgn_passes({"certified": False, "sgn_certified": False, "sgn_margin": 0.1})
    assert not sgn_passes({"certified": False, "sgn_margin": None})


# ------------------------------------------------------------- the search on synthetic tests
def synthetic(threshold, margin=None):
    """evaluate(x) for a test passing iff x < threshold, with an optional margin function."""
    seen = []

    def evaluate(x):
        seen.append(x)
        return {"ok": x < threshold, "m": None if margin is None else margin(x)}

    return evaluate, seen


def passes(row):
    return bool(row["ok"])


@pytest.mark.parametrize("increasing", [True, False])
def test_bisection_without_margins(increasing):
    from sgncert.analysis.sweep import locate_crossing

    t = 0.123456789
    seen = []

    def evaluate(x):  # passes below t (increasing sweep) or above t (decreasing sweep)
        seen.append(x)
        return {"ok": (x < t) == increasing, "m": None}

    a, b = (0.0, 1.0) if increasing else (1.0, 0.0)
    lo, hi, n = locate_crossing(evaluate, passes, "m", (a, {"ok": True, "m": None}), (b, {"ok": False, "m": None}))
    assert abs(hi - lo) <= 1e-6
    assert (lo < t <= hi) if increasing else (hi < t <= lo)
    assert n == len(seen) and n <= 22  # bisection: ceil(log2(1e6)) = 20, decimal rounding aside
    assert all(0.0 < x < 1.0 for x in seen)


def test_secant_on_a_linear_margin_and_safeguard_on_a_convex_one():
    from sgncert.analysis.sweep import locate_crossing

    t = 0.7071067811865476
    evaluate, seen = synthetic(t, lambda x: t - x)
    lo, hi, n = locate_crossing(evaluate, passes, "m", (0.0, {"ok": True, "m": t}), (1.0, {"ok": False, "m": t - 1}))
    assert lo < t <= hi and hi - lo <= 1e-6 and n <= 3
    # a very convex margin: regula falsi alone would creep; the bisection safeguard bounds it
    evaluate, seen = synthetic(t, lambda x: math.exp(40 * (t - x)) - 1)
    lo, hi, n = locate_crossing(
        evaluate, passes, "m", (0.0, {"ok": True, "m": math.exp(40 * t) - 1}), (1.0, {"ok": False, "m": -1.0})
    )
    assert lo < t <= hi and hi - lo <= 1e-6 and n <= 45


def test_margin_disagreeing_with_the_verdict_falls_back_to_bisection():
    """Margins with no sign change between the ends (the proof failed while the float margin
    is positive) carry no secant information; the verdicts still decide the bracket."""
    from sgncert.analysis.sweep import locate_crossing

    t = 0.3
    evaluate, _ = synthetic(t, lambda x: 1.0)
    lo, hi, n = locate_crossing(evaluate, passes, "m", (0.0, {"ok": True, "m": 1.0}), (1.0, {"ok": False, "m": 1.0}))
    assert lo < t <= hi and hi - lo <= 1e-6 and n <= 21


def test_max_evaluations_keeps_a_valid_bracket():
    from sgncert.analysis.sweep import locate_crossing

    evaluate, seen = synthetic(0.4)
    lo, hi, n = locate_crossing(
        evaluate, passes, "m", (0.0, {"ok": True, "m": None}), (1.0, {"ok": False, "m": None}), max_evaluations=3
    )
    assert n == 3 and len(seen) == 3 and lo < 0.4 <= hi and hi - lo > 1e-6


def test_numerical_failure_inside_the_bracket_counts_as_not_certified(scalar, monkeypatch):
    """A re-certification that breaks down is a failing end: certified_up_to stays proved."""
    import sgncert.analysis.sweep as sweep_module
    from sgncert.errors import NumericalError

    real = sweep_module.certify
    broke = []

    def flaky(game, **kw):
        lam = float(game.params["lam"])
        if 1.39 < lam < 1.4143:  # around the true crossing sqrt(2)
            broke.append(lam)
            raise NumericalError("simulated breakdown")
        return real(game, **kw)

    monkeypatch.setattr(sweep_module, "certify", flaky)
    doc = sweep_module.run_sweep(scalar, ["lam=1.375:1.5:4"])
    b = doc["boundaries"]["sgn"]
    assert broke and b["certified_up_to"] <= 1.39 < b["fails_at"] and b["fails_at"] - b["certified_up_to"] <= 1e-6
    monkeypatch.undo()
    assert certified_at(scalar, b["certified_up_to"])[0] is True


@pytest.mark.slow
def test_verdict_boundary_beyond_sgn_on_three_players():
    """three_player: the weighted proof certifies well past the small-gain boundary; the verdict's
    bracket is backed by a certification on each side."""
    from sgncert import certify, load_game, with_params
    from sgncert.analysis.sweep import run_sweep

    game = load_game(GAMES / "three_player.yaml")
    doc = run_sweep(game, ["k=0:2:5"])
    b = doc["boundaries"]
    assert b["sgn"]["certified_up_to"] < b["certified"]["certified_up_to"] < 2.0
    lo, hi = b["certified"]["certified_up_to"], b["certified"]["fails_at"]
    assert hi - lo <= 1e-6 * 0.5 * 1.01
    assert certify(with_params(game, {"k": lo}), tight=False, bands=False).certified
    assert not certify(with_params(game, {"k": hi}), tight=False, bands=False).certified
