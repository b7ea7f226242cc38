"""Constrained games (docs/theory.md §13): closed-form equilibria on the boundary and inside,
projected Euler at the certified steps, the natural-map residual, samples that never leave
X, and the errors a user meets."""

from __future__ import annotations

import copy
import itertools
import json
import math

import numpy as np
import pytest
import yaml

from conftest import GAMES
from sgncert import certify, game_from_dict, load_game
from sgncert.analysis.constants import value_and_jacobian
from sgncert.cert.build import build_certificate
from sgncert.cert.verify import verify_certificate
from sgncert.errors import NumericalError, SpecError

COURNOT = yaml.safe_load((GAMES / "cournot.yaml").read_text())
RESOURCES = yaml.safe_load((GAMES / "resource_allocation.yaml").read_text())


def cournot(capacity: float = 2.0, **region) -> dict:
    spec = copy.deepcopy(COURNOT)
    spec["players"][0]["set"] = {"box": {"low": 0, "high": capacity}}
    spec["region"].update(region)
    return spec


def cournot_closed_form(a=10.0, b=1.0, c=(1.0, 2.0, 3.0), K1=2.0) -> np.ndarray:
    """q_i = (a - c_i)/b - Q when interior; firm 1 at K1 when its unconstrained choice exceeds it."""
    n = len(c)
    Q = sum(a - ci for ci in c) / ((n + 1) * b)
    q = np.array([(a - ci) / b - Q for ci in c])
    if q[0] <= K1:
        return q
    Q = (sum(a - ci for ci in c[1:]) + b * K1) / (n * b)
    return np.array([K1] + [(a - ci) / b - Q for ci in c[1:]])


@pytest.fixture(scope="module")
def cournot_cert():
    return certify(game_from_dict(cournot(), GAMES), bands=False)


@pytest.fixture(scope="module")
def resources_cert():
    return certify(load_game(GAMES / "resource_allocation.yaml"), bands=False)


# ------------------------------------------------------------------ equilibria in closed form
def test_cournot_capacity_binds(cournot_cert):
    c = cournot_cert
    expected = cournot_closed_form()
    assert expected == pytest.approx([2.0, 7 / 3, 4 / 3], abs=1e-15)
    assert c.center == pytest.approx(expected, abs=1e-12)
    F, _ = value_and_jacobian(c.game, c.center)
    assert F[0] == pytest.approx(-4 / 3, abs=1e-12)  # firm 1 would sell more: KKT at its upper bound
    assert F[1:] == pytest.approx([0.0, 0.0], abs=1e-12)
    assert c.equilibrium is not None and c.equilibrium.residual <= 1e-14  # the natural map vanishes


def test_cournot_interior_when_capacity_is_slack():
    c = certify(game_from_dict(cournot(capacity=5.0), GAMES), bands=False, tight=False)
    assert c.center == pytest.approx([3.0, 2.0, 1.0], abs=1e-12) == cournot_closed_form(K1=5.0)
    F, _ = value_and_jacobian(c.game, c.center)
    assert np.abs(F).max() <= 1e-12  # interior: an unconstrained root of F


def _support_enumeration(c1, c2) -> np.ndarray:
    """The resource game's equilibrium by brute force over supports (independent of the solver):
    on its support S_i player i's F_i is constant (= lambda_i) and no larger than elsewhere."""
    c1, c2 = np.asarray(c1), np.asarray(c2)
    K, found = 3, []
    subsets = [s for r in (1, 2, 3) for s in itertools.combinations(range(K), r)]
    for S1, S2 in itertools.product(subsets, subsets):
        # unknowns: x1 (3), x2 (3), l1, l2; F1 = c1 + 2 x1 + 2 x2, F2 = c2 + 2 x2 + 0.5 x1
        A, rhs = [], []
        for k in range(K):
            row = np.zeros(8)
            if k in S1:
                row[k], row[3 + k], row[6] = 2.0, 2.0, -1.0
                rhs.append(-c1[k])
            else:
                row[k] = 1.0
                rhs.append(0.0)
            A.append(row)
        for k in range(K):
            row = np.zeros(8)
            if k in S2:
                row[3 + k], row[k], row[7] = 2.0, 0.5, -1.0
                rhs.append(-c2[k])
            else:
                row[3 + k] = 1.0
                rhs.append(0.0)
            A.append(row)
        A.append(np.r_[np.ones(3), np.zeros(5)])
        A.append(np.r_[np.zeros(3), np.ones(3), np.zeros(2)])
        rhs += [1.0, 1.0]
        try:
            z = np.linalg.solve(np.array(A), np.array(rhs))
        except np.linalg.LinAlgError:
            continue
        x1, x2, l1, l2 = z[:3], z[3:6], z[6], z[7]
        F1, F2 = c1 + 2 * x1 + 2 * x2, c2 + 2 * x2 + 0.5 * x1
        if x1.min() >= -1e-12 and x2.min() >= -1e-12 and F1.min() >= l1 - 1e-12 and F2.min() >= l2 - 1e-12:
            found.append(np.r_[x1, x2])
    assert found
    return found[0]


def test_resource_allocation_equilibrium(resources_cert):
    c = resources_cert
    spec = c.game.canonical["params"]
    brute = _support_enumeration(spec["c1"], spec["c2"])
    assert brute == pytest.approx([1, 0, 0, 0, 0.75, 0.25], abs=1e-12)
    assert c.center == pytest.approx(brute, abs=1e-12)
    assert c.equilibrium.residual <= 1e-14
    assert c.game.sets.contains(c.center, tol=1e-15)


# ------------------------------------------------------------------ projected Euler, certified
def _pairs_in_region_and_X(c, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    from sgncert.analysis.sampling import in_feasible_region

    region = c.game.region.with_center(c.center)
    r = region.radius
    X = in_feasible_region(c.center + rng.uniform(-r, r, (n, c.game.dim)), region, c.game.sets)
    Y = in_feasible_region(c.center + rng.uniform(-r, r, (n, c.game.dim)), region, c.game.sets)
    return X, Y


@pytest.mark.parametrize("name", ["cournot", "resources"])
def test_projected_euler_never_exceeds_the_certified_factor(name, cournot_cert, resources_cert):
    """Every holding proof's projected Euler step (0.99 x an open bound, the step itself when
    attained), in its own metric: over many random pairs of R and X one step's M-distance ratio
    never exceeds the proved factor, and repeated steps contract to x*."""
    from sgncert.theory.exact import euler_factor_squared

    c = cournot_cert if name == "cournot" else resources_cert
    F = lambda Z: np.asarray([value_and_jacobian(c.game, z)[0] for z in Z])  # noqa: E731
    rng = np.random.default_rng(1)
    X, Y = _pairs_in_region_and_X(c, 200, rng)
    sizes = c.game.block_sizes
    checked = 0
    for p in c.verdict.proofs:
        if not p.holds:
            continue
        assert set(p.steps) == {"euler"}  # RK4 is unconstrained only
        s = p.steps["euler"]
        h = s.h if s.attained else 0.99 * s.h
        factor = s.factor if s.attained else math.sqrt(float(euler_factor_squared(h, p.rate, p.beta)))
        scale = np.sqrt(np.repeat(np.asarray(s.weights), sizes))
        Xp = c.game.sets.project(X - h * F(X))
        Yp = c.game.sets.project(Y - h * F(Y))
        ratio = np.linalg.norm(scale * (Xp - Yp), axis=1) / np.linalg.norm(scale * (X - Y), axis=1)
        assert ratio.max() <= factor * (1 + 1e-12) and factor < 1, p.method
        Z = X[:5].copy()
        for _ in range(400):
            Z = c.game.sets.project(Z - h * F(Z))
        assert np.abs(Z - c.center).max() < 1e-3 * np.abs(X[:5] - c.center).max() + 1e-9, p.method
        checked += 1
    assert checked >= 2


def test_steps_certified_for_constrained_games_are_projected_euler_only(cournot_cert):
    doc = build_certificate(cournot_cert)
    assert doc["verdict"]["update_rules"] == ["euler"]
    assert doc["steps"]["rk4"]["max"] == 0.0 and "best" not in doc["steps"]["rk4"]
    # the exact thresholds are those of the unprojected linear maps: not claimed for a constrained game
    assert "rk4" not in doc["tight"] and "exact" not in doc["steps"]
    assert doc["game"]["spec"]["players"][0]["set"] == {"box": {"low": [0.0], "high": [2.0]}}
    # SGN's small-gain radius is exactly 1 here: the Euclidean proof certifies
    assert not doc["verdict"]["proofs"][0]["holds"]
    eu = doc["verdict"]["proofs"][1]
    assert eu["holds"] and eu["rate"] == pytest.approx(1.0) and eu["steps"]["euler"]["h"] == pytest.approx(2 / 16)


def test_distance_bound_uses_the_natural_map(cournot_cert, tmp_path):
    """residual_M = ||c - P_X(c - h F(c))||_M at h = alpha/beta^2 and the bound r / (1 - q(h)); verify
    re-checks it exactly, and a distance below it is rejected."""
    doc = json.loads(json.dumps(build_certificate(cournot_cert)))
    eq = doc["equilibrium"]
    proof = next(p for p in doc["verdict"]["proofs"] if p["method"] == eq["proof"])
    assert eq["natural_map_step"] == pytest.approx(proof["rate"] / proof["beta"] ** 2)
    q = math.sqrt(1 - proof["rate"] ** 2 / proof["beta"] ** 2)
    assert eq["distance_bound_M"] >= eq["residual_M"] / (1 - q)
    rep = verify_certificate(copy.deepcopy(doc), resample=0, simulate=True)
    assert rep.verdict == "valid", [c.to_dict() for c in rep.failed]
    assert "simulate.best.euler" in {c.name for c in rep.checks if c.status == "ok"}
    bad = copy.deepcopy(doc)
    bad["equilibrium"]["distance_bound_M"] = eq["residual_M"] / (1 - q) * 0.5
    assert "equilibrium.distance_bound_M" in {c.name for c in verify_certificate(bad, resample=0).failed}


# ------------------------------------------------------------------ sampled games stay inside X
LOG_GAME = {
    "sgncert": 1,
    "name": "log-duel",
    "players": [
        {"name": "q", "dim": 2, "set": {"box": {"low": 0.2, "high": 3}}},
        {"name": "r", "dim": 1, "set": {"nonnegative": True}},
    ],
    "costs": {
        "q": "q @ q - 0.5 * sum(log(q)) + 0.3 * sum(q) * sum(r)",
        "r": "r @ r - 0.3 * sum(r) * sum(q) + sum(r)",
    },
    "region": {"center": "equilibrium", "radius": 1.0, "norm": "inf"},
    "sampling": {"method": "sobol", "samples": 64, "seed": 0},
}


def test_samples_never_leave_X():
    """log(q) is NaN below 0: a sample outside X would fail the certification. The region reaches
    below q = 0, yet every sample lies in R and X and the constants are finite."""
    from sgncert.analysis.sampling import sample_game_region

    game = game_from_dict(LOG_GAME)
    c = certify(game, bands=False, tight=False)
    assert c.constants.provenance == "sampled" and np.all(np.isfinite(c.constants.mu))
    pts = sample_game_region(game.region.with_center(c.center), game.sampling, game.sets)
    assert pts.shape[0] == 65 and np.all(game.sets.contains(pts, tol=1e-12))
    assert np.all(np.abs(pts - c.center) <= 1.0 + 1e-12)
    assert pts[:, :2].min() >= 0.2 and pts[:, 2].min() >= 0.0
    # drawn from inside: (R and X) is a box here, so the samples are spread through it, not piled on its faces
    interior = np.all((pts[:, :2] > 0.2) & (np.abs(pts[:, :2] - c.center[:2]) < 1.0), axis=1)
    assert interior.mean() > 0.95
    assert c.certified and c.verdict.best.rate > 0


def test_samples_fill_a_small_set_from_inside():
    """A unit ball inside a box region of radius 3: the samples fill the ball, they do not pile on its
    sphere (projection alone would put 98% there and miss an interior non-monotone bump)."""
    from sgncert.analysis.sampling import sample_game_region
    from sgncert.games.model import Region, Sampling
    from sgncert.theory.sets import ProductSet, make_set

    sets = ProductSet((make_set({"ball": {"radius": 1.0}}, 3),), (3,))
    pts = sample_game_region(Region(np.zeros(3), 3.0, "inf"), Sampling("sobol", 1024, 0), sets)
    r = np.linalg.norm(pts, axis=1)
    assert pts.shape == (1025, 3) and r.max() <= 1.0
    inside = r < 1.0 - 1e-9
    assert inside.mean() > 0.9  # strictly inside (projection alone: 2%)
    assert np.mean(r[inside] < 0.5) == pytest.approx(0.125, abs=0.03)  # uniform in the ball: (1/2)^3 of it


# ------------------------------------------------------------------ what the user meets
def test_centre_outside_X_is_a_spec_error():
    spec = cournot()
    spec["region"]["center"] = [3.0, 1.0, 1.0]  # q1 = 3 > capacity 2
    with pytest.raises(SpecError, match=r"region\.center: player q1's part .* outside its set box"):
        game_from_dict(spec, GAMES)


def test_invalid_sets_are_one_line_spec_errors():
    for bad, message in (
        ({"box": {"low": 3, "high": 1}}, "low 3 > high 1"),
        ({"ball": {"radius": -1}}, "radius must be >= 0"),
        ({"simplex": {"total": -2}}, "total must be >= 0"),
        ({"box": {"low": [0, 0]}}, "2 entries"),
        ({"cube": {}}, "unknown set 'cube'"),
    ):
        spec = cournot()
        spec["players"][0]["set"] = bad
        with pytest.raises(SpecError, match=message) as info:
            game_from_dict(spec, GAMES)
        assert str(info.value).startswith("<spec>: players[0].set: ") and "\n" not in str(info.value)


def test_a_variational_inequality_without_solution_is_a_numerical_error():
    """A player paid for every unit on x >= 0 (F = -1): no equilibrium, exit 3 with the residual."""
    spec = {
        "sgncert": 1,
        "name": "unbounded",
        "players": [{"name": "x", "dim": 1, "set": {"nonnegative": True}}],
        "costs": {"x": "-sum(x) + 0 * x @ x"},
        "region": {"center": "equilibrium", "radius": 1.0},
    }
    with pytest.raises(NumericalError, match="diverge .*residual .*no equilibrium in X"):
        certify(game_from_dict(spec), bands=False, tight=False)


def test_the_set_is_part_of_the_hashed_game():
    a, b = game_from_dict(cournot(), GAMES), game_from_dict(cournot(capacity=2.5), GAMES)
    assert a.sha256 != b.sha256
    assert a.canonical["players"][0]["set"] != b.canonical["players"][0]["set"]


def test_cli_exit_codes_for_constrained_specs(tmp_path):
    """Bad sets: one line and exit 2; no equilibrium: exit 3 with the residual; nothing written."""
    from click.testing import CliRunner

    from sgncert.cli import main

    def run(spec: dict):
        path = tmp_path / "g.yaml"
        path.write_text(yaml.safe_dump(spec))
        return CliRunner().invoke(main, ["certify", str(path), "-o", str(tmp_path / "g.cert.json")])

    spec = cournot()
    spec["players"][1]["set"] = {"box": {"low": [1, 2], "high": 3}}
    r = run(spec)
    assert r.exit_code == 2 and r.output.count("\n") == 1
    assert "players[1].set: box: low has 2 entries, the player has dim 1" in r.output
    r = run(
        {
            "sgncert": 1,
            "name": "unbounded",
            "players": [{"name": "x", "dim": 1, "set": {"nonnegative": True}}],
            "costs": {"x": "-sum(x) + 0 * x @ x"},
            "region": {"center": "equilibrium", "radius": 1.0},
        }
    )
    assert r.exit_code == 3 and "residual" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "g.cert.json").exists()


def test_no_false_equilibria_where_F_only_decays_or_is_tiny():
    """F = -e^-a on a >= 0 has no equilibrium (it decays to 0 as a grows): exit 3, not a point far
    out where rounding hides F. A game scaled by 1e-14 has the same equilibrium as the unscaled one."""
    decay = {
        "sgncert": 1,
        "name": "decay",
        "players": [{"name": "a", "dim": 1, "set": {"nonnegative": True}}],
        "costs": {"a": "exp(-sum(a))"},
        "region": {"center": "equilibrium", "radius": 1.0},
    }
    with pytest.raises(NumericalError, match="did not converge|diverge"):
        certify(game_from_dict(decay), bands=False, tight=False)
    spec = cournot()
    scaled = copy.deepcopy(spec)
    for name in ("q1", "q2", "q3"):
        scaled["costs"][name] = f"1e-14 * ({spec['costs'][name]})"
    c = certify(game_from_dict(scaled, GAMES), bands=False, tight=False)
    assert c.center == pytest.approx([2.0, 7 / 3, 4 / 3], abs=1e-9)
