"""The verdict: every proof is tried, the game is certified when any holds, and the best
statement is the largest proved rate and the largest proved step per update rule
(docs/theory.md §12). Closed forms and simulated trajectories, not only code paths."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import GAMES, ring_spec
from sgncert import certify, game_from_dict, load_game
from sgncert.analysis.verdict import Proof, ProvedStep, Verdict
from sgncert.cert.build import build_certificate
from sgncert.cert.verify import verify_certificate

A = 2.0  # the skew coupling: SGN's small-gain radius is A > 1, the Euclidean margin is 1


def skew_spec(a: float = A) -> dict:
    """J = I + S with S skew-symmetric: gamma = 1 exactly, ||J||^2 = 1 + ||S||^2, no SGN proof."""
    return {
        "sgncert": 1,
        "name": "skew-three",
        "params": {"a": a},
        "players": [{"name": n, "dim": 1} for n in ("x", "y", "z")],
        "costs": {
            "x": "0.5 * x @ x + a * x @ y",
            "y": "0.5 * y @ y - a * y @ x + 0.5 * y @ z",
            "z": "0.5 * z @ z - 0.5 * z @ y",
        },
        "region": {"center": "zeros", "radius": 1.0, "norm": "inf"},
    }


def skew_jacobian(a: float = A) -> np.ndarray:
    return np.array([[1.0, a, 0.0], [-a, 1.0, 0.5], [0.0, -0.5, 1.0]])


@pytest.fixture(scope="module")
def skew():
    return certify(game_from_dict(skew_spec()))


def test_euclidean_proof_certifies_what_sgn_cannot(skew):
    """The issue's first case: SGN's margin is negative, the Euclidean margin is 1: certified."""
    v = skew.verdict
    assert not v.proof("sgn").holds and skew.gain > 1 and skew.margin < 0
    assert skew.certified and v.certified
    eu = v.proof("euclidean")
    assert eu.holds and eu.provenance == "exact"
    assert eu.rate == pytest.approx(1.0, abs=1e-12) and eu.rate <= 1.0  # gamma = 1, proved from below
    S_norm2 = A**2 + 0.25  # ||S||^2: S has eigenvalues 0, +-i sqrt(a^2 + 1/4)
    assert eu.beta == pytest.approx(math.sqrt(1 + S_norm2), rel=1e-12) and eu.beta >= math.sqrt(1 + S_norm2)
    h = eu.steps["euler"].h
    assert h == pytest.approx(2 / (1 + S_norm2), rel=1e-12) and not eu.steps["euler"].attained
    # the Euclidean step is the true stability limit here: eigenvalues 1 +- i||S|| and 1
    lam = np.linalg.eigvals(skew_jacobian())
    assert max(abs(1 - h * lam)) == pytest.approx(1.0, abs=1e-9)
    assert v.best.method in ("euclidean", "weighted", "lmi") and v.best.rate >= eu.rate - 1e-12


def test_euclidean_step_contracts_in_simulation(skew):
    """Euler at 0.99 of the proved step contracts every pair in ||.||_2 (factor < 1), at 1.01 x the
    (here: true) limit the iteration grows: the bound is not loose and not false."""
    J = skew_jacobian()
    h = skew.verdict.proof("euclidean").steps["euler"].h
    rng = np.random.default_rng(0)
    for _ in range(100):
        x, y = rng.uniform(-1, 1, 3), rng.uniform(-1, 1, 3)
        d0 = np.linalg.norm(x - y)
        for _ in range(20):
            x, y = x - 0.99 * h * (J @ x), y - 0.99 * h * (J @ y)
        assert np.linalg.norm(x - y) < d0
    T = np.eye(3) - 1.01 * h * J
    assert max(abs(np.linalg.eigvals(T))) > 1


def test_best_step_is_the_largest_of_the_holding_proofs(skew):
    v = skew.verdict
    for rule in ("euler", "rk4"):
        method, step = v.best_steps()[rule]
        holding = [p.steps[rule].h for p in v.proofs if p.holds and rule in p.steps]
        assert step.h == max(holding) and v.proof(method).steps[rule] == step


def test_skew_certificate_verifies_and_names_the_proof(skew, tmp_path):
    doc = build_certificate(skew)
    assert doc["certified"] and doc["verdict"]["best"]["proof"] == skew.verdict.best.method
    assert doc["equilibrium"]["proof"] == skew.equilibrium_proof
    assert [p["method"] for p in doc["verdict"]["proofs"]] == ["sgn", "euclidean", "weighted", "lmi"]
    sgn = doc["verdict"]["proofs"][0]
    assert not sgn["holds"] and "small-gain radius" in sgn["reason"] and sgn["steps"] == {}
    rep = verify_certificate(json.loads(json.dumps(doc)), resample=0)
    assert rep.verdict == "valid", [c.to_dict() for c in rep.failed]
    assert {"verdict.proofs", "verdict.best", "certified"} <= {c.name for c in rep.checks if c.status == "ok"}


def test_weighted_proof_is_never_weaker_than_sgn_in_the_same_metric():
    """alpha_true(w) >= alpha_*(w): on the bundled games the weighted rate is at least SGN's
    (up to the last digits of the two exact proofs), and it certifies three_player with
    rate 0.58 where SGN proves 0.156."""
    c = certify(load_game(GAMES / "three_player.yaml"), bands=False)
    sgn, weighted = c.verdict.proof("sgn"), c.verdict.proof("weighted")
    assert sgn.holds and weighted.holds
    assert weighted.rate > 3 * sgn.rate
    assert weighted.rate <= c.tight.rate.true_bound  # no metric beats min Re lambda(J)
    assert c.verdict.best.method == "weighted" and c.equilibrium_proof == "weighted"


def test_nothing_certified_lists_each_proofs_reason():
    spec = skew_spec()
    spec["costs"] = {"x": "0.5 * x @ x + 3 * x @ y", "y": "0.5 * y @ y + 3 * y @ x", "z": "0.5 * z @ z"}
    c = certify(game_from_dict(spec), bands=False)
    assert not c.certified and c.verdict.best is None and c.verdict.best_steps() == {}
    for method in ("sgn", "euclidean", "weighted", "lmi"):
        assert f"{method}: " in c.reason
    assert "gamma = -2 <= 0" in c.reason
    doc = build_certificate(c)
    assert doc["verdict"]["best"] is None and doc["equilibrium"].get("distance_bound_M") is None
    rep = verify_certificate(json.loads(json.dumps(doc)), resample=0)
    assert rep.verdict == "not-certified" and rep.exit_code == 4, [x.to_dict() for x in rep.failed]


def test_sampled_eight_player_game_certified_by_the_euclidean_proof():
    c = certify(game_from_dict(ring_spec()), bands=False, tight=False)
    assert c.constants.provenance == "sampled" and not c.verdict.proof("sgn").holds
    eu = c.verdict.proof("euclidean")
    assert eu.holds and eu.provenance == "sampled"
    corner = 1 + 0.1 / math.cosh(1.0) ** 2  # gamma's infimum on the box (at a corner); samples see >= it
    assert corner <= eu.rate <= 1.1 + 1e-12
    assert c.certified and c.verdict.best.rate >= eu.rate


def test_verdict_ranking_and_ties():
    """best: the largest rate (the first listed on ties); a proof without a rate only if none has one."""
    w = (1.0, 1.0)

    def proof(method, rate, h):
        steps = {"euler": ProvedStep(h, False, None, w)} if rate else {}
        return Proof(method, rate is not None, None if rate else "no", rate, w, 1.0, "exact", steps)

    v = Verdict((proof("sgn", 0.2, 0.1), proof("euclidean", 0.3, 0.05), proof("weighted", 0.3, 0.2)))
    assert v.best.method == "euclidean"  # tie with weighted: the first listed
    assert v.best_steps()["euler"][0] == "weighted"
    lmi_only = Verdict(
        (
            proof("sgn", None, 0),
            Proof("lmi", True, None, None, None, None, "sampled", {"rk4": ProvedStep(1.0, True, 0.9, w)}),
        )
    )
    assert lmi_only.best.method == "lmi" and lmi_only.best_steps()["rk4"][1].h == 1.0
    assert Verdict((proof("sgn", None, 0),)).best is None


@pytest.mark.slow
def test_entropy_matching_pennies_below_the_sgn_threshold():
    """tau = 1.1 < 1.1703: SGN fails, the Euclidean (unweighted Fisher) proof holds; its NPG step is
    2 gamma / beta(1)^2, beta(1) at least sqrt(tau^2 + 1) (its value at the centre)."""
    game = load_game(GAMES / "matching_pennies.yaml")
    spec = dict(game.canonical)
    spec["normal_form"] = dict(spec["normal_form"], entropy=1.1)
    c = certify(game_from_dict(spec), bands=False)
    v = c.verdict
    assert not v.proof("sgn").holds and v.proof("euclidean").holds and c.certified
    eu = v.proof("euclidean")
    assert set(eu.steps) == {"npg", "rk4"}
    assert eu.rate == pytest.approx(c.constants.gamma, rel=1e-15)
    assert eu.beta >= math.sqrt(1.1**2 + 1) * (1 - 1e-12)  # its value at the centre, which is sampled
    assert eu.steps["npg"].h == pytest.approx(2 * eu.rate / eu.beta**2, rel=1e-12)


def test_verify_simulates_the_best_steps_in_their_metrics(skew):
    """SGN proves no step here: the simulation runs the verdict's best Euler step (Euclidean, at
    0.99 x h) and RK4 step (lmi, at h) and finds each within its proved factor."""
    doc = json.loads(json.dumps(build_certificate(skew)))
    rep = verify_certificate(doc, recompute=False, simulate=True)
    assert rep.verdict == "valid", rep.summary()
    sims = {c.name: c for c in rep.checks if c.name.startswith("simulate.")}
    assert set(sims) == {"simulate.best.euler", "simulate.best.rk4"}
    assert all(c.status == "ok" for c in sims.values())
    e = rep.simulation["simulate.best.euler"]
    assert e["h"] == pytest.approx(0.99 * skew.verdict.best_steps()["euler"][1].h)
    # the Euclidean bound is tight here (J is normal on the plane of +-i): equal up to rounding
    assert e["observed_factor"] <= e["certified_factor"] * (1 + 1e-12) and e["certified_factor"] < 1
