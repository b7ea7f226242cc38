"""Tests for ``sgncert verify``: honest certificates pass, tampered claims are named and
rejected (exit 1), malformed files give exit 2 and one line, simulation catches steps
past the true stability limit, resampling finds points beating a lowered sampled bound."""

from __future__ import annotations

import copy
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import GAMES, ROOT
from sgncert.analysis.certify import certify
from sgncert.cert.algebra import rk4_constant
from sgncert.cert.build import build_certificate, dumps
from sgncert.cert.load import load_certificate, parse_certificate
from sgncert.cert.verify import verify_certificate
from sgncert.cli import main
from sgncert.games.spec import load_game
from sgncert.theory.exact import psd_exact, sgn_matrix_exact

CREATED = "2026-01-01T00:00:00+00:00"


def make_cert(game) -> dict:
    return json.loads(dumps(build_certificate(certify(game), created=CREATED)))


def write(path: Path, doc) -> Path:
    path.write_text(doc if isinstance(doc, str) else dumps(doc), encoding="utf-8")
    return path


def run(*args):
    return CliRunner().invoke(main, ["verify", *map(str, args)])


def failed_names(report) -> set[str]:
    return {c.name for c in report.failed}


FAST = ("lq64", "scalar", "three_player", "logistic_duel")  # certified in seconds


def load(name: str):
    path = GAMES / f"{name}.yaml"
    return load_game(path, samples=512) if name == "logistic_duel" else load_game(path)


@pytest.fixture(scope="module")
def certs() -> dict:
    """One honest certificate per fast bundled game (the sampled one with fewer samples)."""
    return {name: make_cert(load(name)) for name in FAST}


@pytest.fixture(scope="module")
def certdir(tmp_path_factory, certs) -> Path:
    """The honest certificates in a folder of their own (their specs are embedded)."""
    d = tmp_path_factory.mktemp("certs")
    for name, doc in certs.items():
        write(d / f"{name}.cert.json", doc)
    return d


# ------------------------------------------------------------------ honest certificates
def test_fast_games_are_bundled(certs):
    assert set(FAST) <= {p.stem for p in GAMES.glob("*.yaml")}
    assert all(doc["certified"] for doc in certs.values())


@pytest.mark.parametrize("name", FAST)
def test_honest_certificates_verify(certdir, name):
    result = run(certdir / f"{name}.cert.json", "--resample", "256")
    assert result.exit_code == 0, result.output
    assert "VALID" in result.output


def test_json_report(certdir):
    result = run(certdir / "scalar.cert.json", "--json")
    assert result.exit_code == 0, result.output
    rep = json.loads(result.stdout)
    assert rep["verdict"] == "valid" and rep["exit_code"] == 0
    names = {c["name"] for c in rep["checks"]}
    assert {
        "game.sha256",
        "sgn.margin",
        "rate",
        "steps.euler.max",
        "steps.rk4.max",
        "band[0]",
        "constants.L",
        "constants.beta",
        "game.spec",
    } <= names
    assert all(c["status"] == "ok" for c in rep["checks"])


def test_a_certificate_without_a_verdict_is_judged_by_its_sgn_section(certs):
    """An older certificate has no verdict: certified means the SGN margin is proved
    positive, and the report names sgn as the proof (not "no proof holds")."""
    doc = copy.deepcopy(certs["scalar"])
    for key in ("verdict", "tight", "equilibrium", "invariant_ball"):
        doc.pop(key, None)
    rep = verify_certificate(doc, resample=0)
    assert rep.exit_code == 0 and rep.info["proofs"] == ["sgn"]
    assert any("without a verdict" in n for n in rep.notes)
    doc["sgn"]["margin"] = -abs(doc["sgn"]["margin"])  # then SGN proves nothing: certified is false
    assert verify_certificate(doc, resample=0).exit_code == 1


def test_a_contraction_too_slight_for_float64_is_stated_and_verified():
    """A stiff affine game (curvatures 1e6 and 1e-6): at the best Euler step the factor is
    sqrt(1 - (alpha / beta)^2) = 1 - 5e-25, which rounds to 1. The certificate states 1 (the
    nearest float bounding it) and verify accepts it because the exact bound is below 1;
    the RK4 step is not the golden-section search's breakdown (2.5e-40 before)."""
    from sgncert.games.spec import game_from_dict

    game = game_from_dict(
        {
            "sgncert": 1,
            "name": "stiff",
            "players": [{"name": "u", "dim": 1}, {"name": "v", "dim": 1}],
            "pseudo_gradient": {
                "blocks": {"u": {"u": 1e6, "v": 1e-3}, "v": {"u": -1e-3, "v": 1e-6}},
                "offset": {"u": 1.0, "v": 0.0},
            },
            "region": {"center": "equilibrium", "radius": 1.0, "norm": "inf"},
        }
    )
    doc = json.loads(dumps(build_certificate(certify(game), created=CREATED)))
    assert doc["certified"] and doc["steps"]["euler"]["factor"] == 1.0
    assert doc["steps"]["rk4"]["best"] >= 0.1 * doc["steps"]["rk4"]["max"] > 0
    rep = verify_certificate(doc, resample=0)
    assert rep.exit_code == 0, [c.message for c in rep.checks if c.status == "failed"]
    assert any("nearest float" in c.message for c in rep.checks if c.name == "steps.euler.factor")
    bad = copy.deepcopy(doc)  # a factor well below 1 claims more contraction than 1 - 5e-25: it fails
    bad["steps"]["euler"]["factor"] = 0.999
    assert "steps.euler.factor" in {c.name for c in verify_certificate(bad, resample=0).checks if c.status == "failed"}


def test_game_file_still_matches(certdir, tmp_path):
    result = run(certdir / "lq64.cert.json", "--game", GAMES / "lq64.yaml", "-v")
    assert result.exit_code == 0, result.output
    assert "game.file" in result.output
    changed = tmp_path / "lq64.yaml"
    changed.write_text((GAMES / "lq64.yaml").read_text().replace("lam: 1.0", "lam: 0.9"))
    result = run(certdir / "lq64.cert.json", "--game", changed)
    assert result.exit_code == 1
    assert "game.file" in result.output and "lam" in result.output
    broken = tmp_path / "broken.yaml"  # a spec that no longer parses: the file's claim fails (exit 1), not exit 2
    broken.write_text((GAMES / "lq64.yaml").read_text().replace("players:", "playrs:"))
    result = run(certdir / "lq64.cert.json", "--game", broken)
    assert result.exit_code == 1 and "no longer loads as a game" in result.output and "playrs" in result.output


def test_overridden_parameters_are_recorded_and_checked(tmp_path):
    """A certificate of `--set` values records them; verify applies them to the spec file,
    so the file still describes the certified game, and a changed record is caught."""
    game = load_game(GAMES / "scalar.yaml", ["lam=0.5"])
    assert float(game.params["lam"]) == 0.5
    doc = make_cert(game)
    assert doc["game"]["overrides"] == {"lam": 0.5}
    path = write(tmp_path / "c.json", doc)
    result = run(path, "--game", GAMES / "scalar.yaml", "-v")
    assert result.exit_code == 0, result.output
    assert "game.file" in result.output
    doc["game"]["overrides"]["lam"] = 0.6  # the file with 0.6 is not the certified game
    result = run(write(tmp_path / "d.json", doc), "--game", GAMES / "scalar.yaml")
    assert result.exit_code == 1
    assert "game.file" in result.output and "lam" in result.output


def test_with_params_certificate_matches_its_file(tmp_path):
    from sgncert import verify_certificate as api_verify
    from sgncert import with_params, write_certificate

    base = load_game(GAMES / "scalar.yaml")
    assert base.overrides == {}
    game = with_params(base, {"lam": 1.2})
    path = tmp_path / "c.json"
    doc = write_certificate(certify(game), path)
    assert doc["game"]["overrides"] == {"lam": 1.2}
    assert doc["certified"] and math.isclose(doc["sgn"]["margin"], 1 - 1.2 / math.sqrt(2), rel_tol=1e-9)
    report = api_verify(load_certificate(path), cert_path=path)
    assert report.verdict == "valid", report.summary()
    assert "game.file" in {c.name for c in report.checks if c.status == "ok"}


def test_honest_not_certified_is_valid_but_not_certified(tmp_path):
    """An honest certified: false is not a false claim: exit 4, never INVALID; claiming
    certified: true for it is invalid (exit 1)."""
    doc = make_cert(load_game(GAMES / "scalar.yaml", ["lam=2.0"]))
    assert doc["certified"] is False and doc["verdict"]["best"] is None
    assert not any(p["holds"] for p in doc["verdict"]["proofs"])
    result = run(write(tmp_path / "c.json", doc))
    assert result.exit_code == 4, result.output
    assert "VALID, NOT CERTIFIED" in result.output and "INVALID" not in result.output
    doc["certified"] = True
    result = run(write(tmp_path / "d.json", doc))
    assert result.exit_code == 1 and "certified" in result.output


# ---------------------------------------------------------------------------- tampering
def _scale(path, factor):
    def edit(doc):
        *head, last = path
        cur = doc
        for key in head:
            cur = cur[key]
        cur[last] = cur[last] * factor

    return edit


def _set(path, value):
    def edit(doc):
        *head, last = path
        cur = doc
        for key in head:
            cur = cur[key]
        cur[last] = value

    return edit


TAMPER = {
    "margin raised": (_scale(["sgn", "margin"], 1.01), "sgn.margin"),
    "rate raised": (_scale(["rate"], 1.5), "rate"),
    "weights out of band": (_set(["metric", "weights"], [1.0, 5000.0]), "metric.weights"),
    "L lowered": (_set(["constants", "L", 0, 1], 9.5), "constants.L[0][1]"),
    "mu raised": (_set(["constants", "mu", 1], 1.01), "constants.mu[1]"),
    "beta lowered": (_scale(["constants", "beta"], 0.99), "constants.beta"),
    "euler max inflated": (_scale(["steps", "euler", "max"], 1.5), "steps.euler.max"),
    "euler best inflated": (_scale(["steps", "euler", "best"], 1.01), "steps.euler.best"),
    "euler factor lowered": (_scale(["steps", "euler", "factor"], 0.99), "steps.euler.factor"),
    "rk4 max inflated": (_scale(["steps", "rk4", "max"], 1.2), "steps.rk4.max"),
    "rk4 factor lowered": (_scale(["steps", "rk4", "factor"], 0.999), "steps.rk4.factor"),
    "band high moved": (_scale(["band", 0, "high"], 1.1), "band[0].high"),
    "band low moved": (_scale(["band", 0, "low"], 0.9), "band[0].low"),
    "spec edited, hash kept": (_set(["game", "spec", "params", "lam"], 0.5), "game.sha256"),
    "hash changed": (_set(["game", "sha256"], "0" * 64), "game.sha256"),
    "euclidean margin raised": (_set(["euclidean", "margin"], 0.5), "euclidean.margin"),
    "invariant ball inflated": (_set(["invariant_ball", "radius_M"], 3.0), "invariant_ball.radius_M"),
    "exact stability inflated": (_scale(["steps", "exact", "euler", "stability"], 1.2), "steps.exact.euler.stability"),
    # a tight step must contract: the exact check alone proves only ||T(h)||_M <= factor
    "tight factor above 1": (_set(["tight", "euler", "factor"], 20.0), "tight.euler"),
    "geometry relabelled": (_set(["geometry", "kind"], "fisher"), "geometry.kind"),
    "exact threshold unbounded": (_set(["steps", "exact", "rk4", "stability"], None), "steps.exact.rk4.stability"),
    "constants relabelled sound": (_set(["constants", "provenance"], "sound"), "constants.provenance"),
    "tight relabelled sampled": (_set(["tight", "provenance"], "sampled"), "tight.provenance"),
}


def test_every_exact_threshold_unbounded_is_rejected(certs):
    doc = copy.deepcopy(certs["scalar"])
    for method in ("euler", "rk4"):
        for what in ("contraction", "stability"):
            doc["steps"]["exact"][method][what] = None
    names = failed_names(verify_certificate(doc))
    assert {f"steps.exact.{m}.{w}" for m in ("euler", "rk4") for w in ("contraction", "stability")} <= names


def test_beta_below_the_margin_fails_without_recomputation(certs):
    """beta >= alpha_true >= alpha always; step claims rest on beta and cannot pass with beta = 0."""
    doc = copy.deepcopy(certs["scalar"])
    doc["constants"]["beta"] = 0.0
    doc["steps"]["euler"]["max"] = 100.0
    rep = verify_certificate(doc, recompute=False)
    assert rep.exit_code == 1 and "constants.beta" in failed_names(rep)


@pytest.mark.parametrize("case", sorted(TAMPER))
def test_tampered_claim_is_rejected(certs, tmp_path, case):
    edit, name = TAMPER[case]
    doc = copy.deepcopy(certs["scalar"])
    edit(doc)
    result = run(write(tmp_path / "t.cert.json", doc))
    assert result.exit_code == 1, result.output
    assert name in result.output
    assert "INVALID" in result.output


def test_one_bad_file_does_not_stop_the_others(certdir, tmp_path, monkeypatch):
    """Pre-commit passes many files: an internal error in one is that file's error (exit 3), and the
    others are still verified."""
    import sgncert.cert.verify as verify_module

    real = verify_module.verify_certificate

    def flaky(doc, **kw):
        if doc["game"]["name"] == "lq64":
            raise RuntimeError("simulated\nbreakdown")
        return real(doc, **kw)

    monkeypatch.setattr(verify_module, "verify_certificate", flaky)
    result = run(certdir / "lq64.cert.json", certdir / "scalar.cert.json", "--no-recompute", "--json")
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    assert [r["verdict"] for r in doc["reports"]] == ["error", "valid"]
    line = result.stderr.strip()
    assert line.count("\n") == 0 and "internal error: RuntimeError: simulated" in line


def test_tampered_lq64_L_via_library(certs):
    doc = copy.deepcopy(certs["lq64"])
    doc["constants"]["L"][1][0] *= 0.9
    rep = verify_certificate(doc)
    assert rep.exit_code == 1 and "constants.L[1][0]" in failed_names(rep)
    msg = next(c.message for c in rep.failed if c.name == "constants.L[1][0]")
    assert "0.045" in msg and "0.05" in msg  # stated and true values


def test_npg_claims_are_checked_like_euler(certs):
    doc = copy.deepcopy(certs["scalar"])
    doc["steps"]["npg"] = dict(doc["steps"]["euler"], update="theta_i <- theta_i - h G_i^+ grad_i f_i")
    assert verify_certificate(doc, recompute=False).exit_code == 0
    doc["steps"]["npg"]["max"] *= 1.5
    assert "steps.npg.max" in failed_names(verify_certificate(doc, recompute=False))


def test_three_player_tampering(certs):
    doc = copy.deepcopy(certs["three_player"])
    doc["band"][0]["high"] *= 50  # beyond the pair's 2 x 2 necessary band
    doc["constants"]["L"][2][1] *= 0.99
    rep = verify_certificate(doc, recompute=True)
    assert {"band[0].high", "constants.L[2][1]"} <= failed_names(rep)
    doc = copy.deepcopy(certs["three_player"])
    doc["metric"]["weights"] = [1.0, 5.0, 0.04362551081895292]
    rep = verify_certificate(doc, recompute=False)
    assert {"sgn.margin", "metric.weights"} <= failed_names(rep)


def test_fisher_geometry_cannot_be_dropped_or_relabelled():
    """A Fisher certificate read as Euclidean would claim strong monotonicity in ||.||_2."""
    doc = load_certificate(ROOT / "certificates" / "rps.cert.json")
    for edit in ("relabel", "drop"):
        d = copy.deepcopy(doc)
        if edit == "relabel":
            d["geometry"]["kind"] = "euclidean"
        else:
            del d["geometry"]
        rep = verify_certificate(d, resample=0)
        assert rep.exit_code == 1 and "geometry.kind" in failed_names(rep), edit


def test_in_region_needs_the_distance_bound_to_fit(certs):
    doc = copy.deepcopy(certs["scalar"])
    doc["invariant_ball"] = None
    doc["equilibrium"]["distance_bound_M"] = 10.0  # >= residual / alpha, but far outside R
    doc["equilibrium"]["in_region"] = True
    rep = verify_certificate(doc, recompute=False)
    assert rep.exit_code == 1 and failed_names(rep) == {"equilibrium.in_region"}
    doc["equilibrium"]["in_region"] = False  # what the bound supports: accepted
    assert verify_certificate(doc, recompute=False).exit_code == 0


def test_in_region_cannot_stand_without_its_residual(certs):
    """in_region and a distance bound rest on residual_M / alpha: without the residual the claim
    is unproved (it used to pass with distance 0)."""
    doc = copy.deepcopy(certs["three_player"])
    del doc["equilibrium"]["residual_M"]
    doc["equilibrium"]["distance_bound_M"] = 0.0
    doc["invariant_ball"] = None
    rep = verify_certificate(doc, recompute=False)
    assert rep.exit_code == 1 and {"equilibrium.distance_bound_M", "equilibrium.in_region"} <= failed_names(rep)


CANCEL = """sgncert: 1
name: cancel
params: {K: 1.0e20}
players: [{name: p, dim: 1}, {name: q, dim: 1}]
costs:
  p: "0.5 * p @ p + sum(p) * ((K + sum(q)) - K)"
  q: "0.5 * q @ q - 0.5 * sum(q) * sum(p) + sum(q)"
region: {center: [0.0, -1.0], radius: 3.0, norm: 2}
"""


def test_affine_residual_is_exact_despite_cancellation(tmp_path):
    """F(c) in floats loses q to cancellation ((K + q) - K with K = 1e20), so the float residual
    at c = (0, -1) is 0 although ||c - x*|| ~ 0.75; the residual of an affine game comes from
    J c + F(0) in rationals instead."""
    spec = tmp_path / "cancel.yaml"
    spec.write_text(CANCEL)
    game = load_game(spec)
    assert game.affine
    doc = make_cert(game)
    assert doc["certified"]
    w = doc["metric"]["weights"]
    # independent: F(c) = J c + F(0) with J = [[1, 1], [-0.5, 1]], F(0) = (0, 1): F(0, -1) = (-1, 0)
    assert doc["equilibrium"]["residual_M"] >= math.sqrt(w[0]) * 1.0
    dist = doc["equilibrium"]["distance_bound_M"]
    x_star = np.array([2 / 3, -2 / 3])  # solves F = 0
    true = math.sqrt(w[0] * (0 - x_star[0]) ** 2 + w[1] * (-1 - x_star[1]) ** 2)
    assert dist >= true
    assert verify_certificate(doc, resample=0).exit_code == 0
    doc["equilibrium"]["residual_M"] = 1e-12  # the float residual plus rounding: rejected now
    assert "equilibrium.residual_M" in failed_names(verify_certificate(doc, resample=0))


def test_band_alpha_other_than_zero_is_rejected(certs):
    doc = copy.deepcopy(certs["three_player"])
    doc["band_alpha"] = -1000.0
    rep = verify_certificate(doc, recompute=False)
    assert rep.exit_code == 1 and "band_alpha" in failed_names(rep)


def test_two_player_band_ends_lie_in_the_closed_band(certs):
    """A stated end must satisfy C((1, end)) >= 0 exactly: widening by 6e-10 (inside the closed
    form's 1e-9 tolerance) is caught; the shipped ends pass."""
    doc = copy.deepcopy(certs["scalar"])
    mu, L = doc["constants"]["mu"], doc["constants"]["L"]
    for end in ("low", "high"):
        r = doc["band"][0][end]
        assert psd_exact(sgn_matrix_exact(mu, L, [1, r], 0))
    doc["band"][0]["low"] *= 1 - 6e-10
    doc["band"][0]["high"] *= 1 + 6e-10
    rep = verify_certificate(doc, recompute=False)
    assert {"band[0].low", "band[0].high"} <= failed_names(rep)


def test_affine_constants_are_re_proved_whatever_their_label(certs):
    doc = copy.deepcopy(certs["three_player"])
    doc["constants"]["provenance"] = "sampled"
    doc["constants"]["beta"] *= 1 - 5e-10  # within a float comparison's tolerance, below the true norm
    rep = verify_certificate(doc, resample=0)
    assert rep.exit_code == 1 and "constants.beta" in failed_names(rep)


def test_non_positive_weights_are_invalid_not_a_crash(certs):
    for bad in (0.0, -0.2):
        doc = copy.deepcopy(certs["three_player"])
        doc["metric"]["weights"][1] = bad
        rep = verify_certificate(doc, resample=0)
        assert rep.exit_code == 1 and "metric.weights" in failed_names(rep)


N3_BAND_TAMPER = {
    # widened inside the pair's 2 x 2 necessary band: no witness reaches the new ends
    "low lowered": (lambda b: b.update(low=b["low"] * 0.5), "band[0].low"),
    "high raised": (lambda b: b.update(high=b["high"] * 1.01), "band[0].high"),
    "high unbounded": (lambda b: b.update(high=None), "band[0].high"),
    "low zero": (lambda b: b.update(low=0.0), "band[0].low"),
    "proof removed": (lambda b: b.pop("proof"), "band[0]"),
    "witness moved": (lambda b: b["proof"]["high_weights"].__setitem__(b["j"], b["high"] * 1.5), "band[0].high"),
    "witness off the cone": (lambda b: b["proof"]["low_weights"].__setitem__(b["j"], 1e-9), "band[0].low"),
}


@pytest.mark.parametrize("case", sorted(N3_BAND_TAMPER))
def test_three_player_band_needs_its_witnesses(certs, case):
    """N > 2 band ends are proved by witness weights; an end they do not reach is rejected
    (exit 1) without recomputation."""
    doc = copy.deepcopy(certs["three_player"])
    assert verify_certificate(doc, recompute=False).exit_code == 0
    edit, name = N3_BAND_TAMPER[case]
    edit(doc["band"][0])
    rep = verify_certificate(doc, recompute=False)
    assert rep.exit_code == 1 and name in failed_names(rep), rep.summary()


def test_three_player_band_witnesses_are_exact(certs):
    """Independent recomputation: each witness is a point of K (numpy eigenvalues, with room),
    and its ratio reaches the stated end."""
    doc = certs["three_player"]
    mu, L = np.array(doc["constants"]["mu"]), np.array(doc["constants"]["L"])
    for b in doc["band"]:
        i, j = b["i"], b["j"]
        for end in ("low", "high"):
            w = np.array(b["proof"][f"{end}_weights"])
            C = 2 * np.diag(w * mu) - (w[:, None] * L + (w[:, None] * L).T) * (1 - np.eye(3))
            assert np.linalg.eigvalsh(C)[0] > 0
            assert (w[j] / w[i] <= b["low"] * (1 + 1e-15)) if end == "low" else (w[j] / w[i] >= b["high"] * (1 - 1e-15))


RING = "sgncert: 1\nname: ring{n}\nparams: {{c: 0.3}}\nplayers: [{players}]\ncosts:\n{costs}\nregion: {{center: zeros, radius: 1.0, norm: 2}}\n"


def ring_spec(n: int) -> str:
    players = ", ".join(f"{{name: x{k}, dim: 1}}" for k in range(n))
    costs = "\n".join(f'  x{k}: "0.5 * x{k} @ x{k} + c * x{k} @ x{(k + 1) % n}"' for k in range(n))
    return RING.format(n=n, players=players, costs=costs)


def test_ring_of_ten_players_certifies_with_its_band(tmp_path):
    """A ring of 10 scalar players (margin 0.7): certify writes the certificate (the band
    search never blocks it), the band lists the 10 interacting pairs with proved ends and
    says which it did not settle; verify accepts it. --no-bands skips the band with a note."""
    spec = tmp_path / "ring10.yaml"
    spec.write_text(ring_spec(10))
    out = tmp_path / "ring10.cert.json"
    r = CliRunner().invoke(main, ["certify", str(spec), "-o", str(out), "--no-tight"])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["certified"] and math.isclose(doc["sgn"]["margin"], 0.7, rel_tol=1e-9)
    assert len(doc["band"]) == 10 and "interacting pairs" in doc["band_note"]
    assert all(b["proof"] for b in doc["band"])
    result = run(out)
    assert result.exit_code == 0, result.output
    r = CliRunner().invoke(main, ["certify", str(spec), "-o", str(out), "--no-tight", "--no-bands"])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["band"] == [] and "not computed" in doc["band_note"]
    assert run(out, "--no-recompute").exit_code == 0


def test_bands_past_the_player_limit_are_skipped_with_a_note():
    from sgncert.analysis.certify import BAND_MAX_PLAYERS, _bands

    n = BAND_MAX_PLAYERS + 1
    L = np.zeros((n, n))
    L[0, 1] = 0.5
    band, note = _bands(np.ones(n), L, np.ones(n), None)
    assert band == [] and f"{n} players" in note


HOOK = """
import jax.numpy as jnp


def costs(x, p):
    a, b = x["a"], x["b"]
    return {"a": 0.5 * jnp.sum(a * a) + 0.3 * jnp.sum(jnp.tanh(a) * b),
            "b": 0.5 * jnp.sum(b * b) + 0.2 * jnp.sum(jnp.sin(a) * b)}
"""

HOOK_SPEC = """sgncert: 1
name: hooked
players: [{name: a, dim: 1}, {name: b, dim: 1}]
costs: {python: hook.py:costs}
region: {center: [0, 0], radius: 0.5, norm: inf}
sampling: {method: sobol, samples: 64, seed: 3}
"""


def test_hook_game(tmp_path):
    gdir, cdir = tmp_path / "game", tmp_path / "certs"
    gdir.mkdir(), cdir.mkdir()
    (gdir / "hook.py").write_text(HOOK)
    (gdir / "hooked.yaml").write_text(HOOK_SPEC)
    doc = make_cert(load_game(gdir / "hooked.yaml"))
    assert doc["certified"] and doc["constants"]["provenance"] == "sampled"
    # next to the game: hooks resolve; elsewhere: undecidable until --game says where
    honest = write(gdir / "hooked.cert.json", doc)
    result = run(honest, "--resample", "64", "-v")
    assert result.exit_code == 0, result.output
    assert "game.hook" in result.output
    away = write(cdir / "hooked.cert.json", doc)
    result = run(away)
    assert result.exit_code == 3 and "game.hook" in result.output and "--game" in result.output
    # the hook file changes after certification: rejected without running it
    (gdir / "hook.py").write_text(HOOK.replace("0.3 *", "0.9 *") + "\nraise SystemExit('must not run')\n")
    result = run(away, "--game", gdir / "hooked.yaml")
    assert result.exit_code == 1, result.output
    assert "game.hook" in result.output


# --------------------------------------------------------------------------- sampled games
def test_sampled_lowered_L_is_found_by_resampling(certs):
    doc = copy.deepcopy(certs["logistic_duel"])
    doc["constants"]["L"][0][1] *= 0.999
    rep = verify_certificate(doc, resample=256, seed=11)
    assert rep.exit_code == 1
    names = failed_names(rep)
    assert "constants.L[0][1]" in names  # the certificate's own samples disagree
    found = [c for c in rep.checks if c.name == "resample.L[0][1]"]
    assert found and re.search(r"x = \[[-0-9.e, ]+\]", found[0].message), found
    assert found[0].status == "warning"  # a sampled estimate beaten: failed only with strict=True


# ----------------------------------------------------------------------------- simulation
def test_simulation_passes_honest_lq64(certs):
    rep = verify_certificate(certs["lq64"], recompute=False, simulate=True)
    assert rep.exit_code == 0, rep.summary()
    sims = {c.name for c in rep.checks if c.name.startswith("simulate.")}
    # the SGN steps, and the verdict's best steps (the tight ones) in their own metrics
    assert sims == {"simulate.euler", "simulate.euler.max", "simulate.rk4", "simulate.best.euler", "simulate.best.rk4"}
    obs = rep.simulation["simulate.euler"]
    assert obs["observed_factor"] <= obs["certified_factor"]


def test_simulation_catches_inflated_euler_step(certs):
    """A consistent lie: beta lowered so that Euler best = 1.3 passes the algebra, past the
    true stability limit 1.1716 of lq64. Only the simulation can see it."""
    from sgncert.theory.steps import sgn_steps

    doc = copy.deepcopy(certs["lq64"])
    doc.pop("verdict")  # written as an older certificate (SGN sections only), whose algebra is SGN's
    assert doc["equilibrium"].pop("proof") == "sgn" and doc["equilibrium"].pop("weights") == doc["metric"]["weights"]
    alpha = doc["sgn"]["margin"]
    beta = math.sqrt(alpha / 1.3) * (1 - 1e-12)
    s = sgn_steps(alpha, beta)
    assert s.euler_best > 1.3 > doc["steps"]["exact"]["euler"]["stability"]
    doc["constants"]["beta"] = beta
    doc["steps"]["euler"] = {"max": s.euler_max, "best": s.euler_best, "factor": s.euler_factor}
    doc["steps"]["rk4"].update(max=s.rk4_max, best=s.rk4_best, factor=s.rk4_factor)
    algebra = verify_certificate(doc, recompute=False)
    assert algebra.exit_code == 0, [c.to_dict() for c in algebra.failed]
    rep = verify_certificate(doc, recompute=False, simulate=True)
    assert rep.exit_code == 1
    assert "simulate.euler" in failed_names(rep)
    obs = rep.simulation["simulate.euler"]
    assert obs["observed_factor"] > 1.0 > obs["certified_factor"]
    # and the recomputation names the lowered beta
    assert "constants.beta" in failed_names(verify_certificate(doc))


# --------------------------------------------------------------------------- malformed input
def _deep(n):
    return "[" * n + "]" * n


MALFORMED = {
    "not json": "this is not json {",
    "json list": "[1, 2, 3]",
    "empty": "",
    "deep nesting": _deep(10000),
    "deep inside object": '{"schema_version": "1", "x": ' + _deep(100) + "}",
    "nan": None,  # filled from an honest certificate below
    "infinity literal": None,
    "huge exponent": None,
    "schema version 2": None,
    "missing constants": None,
    "wrong type mu": None,
    "wrong type certified": None,
    "duplicate key": '{"schema_version": "1", "schema_version": "1"}',
    "bad utf8": b"\xff\xfe{}",
}


def _malformed(case, honest: dict):
    text = MALFORMED[case]
    if text is not None:
        return text
    doc = copy.deepcopy(honest)
    if case == "nan":
        return dumps(doc).replace('"rate": 0.2928932188134515', '"rate": NaN')
    if case == "infinity literal":
        return dumps(doc).replace('"rate": 0.2928932188134515', '"rate": Infinity')
    if case == "huge exponent":
        return dumps(doc).replace('"rate": 0.2928932188134515', '"rate": 1e999')
    if case == "schema version 2":
        doc["schema_version"] = "2"
    elif case == "missing constants":
        del doc["constants"]
    elif case == "wrong type mu":
        doc["constants"]["mu"] = ["one", 1.0]
    elif case == "wrong type certified":
        doc["certified"] = "yes"
    return dumps(doc)


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_certificate_exit_2(certs, tmp_path, case):
    data = _malformed(case, certs["scalar"])
    path = tmp_path / "bad.cert.json"
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        assert case in (
            "not json",
            "json list",
            "empty",
            "deep nesting",
            "deep inside object",
            "duplicate key",
        ) or data != dumps(certs["scalar"]), case
        path.write_text(data, encoding="utf-8")
    result = run(path)
    assert result.exit_code == 2, (case, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sgncert: error:"), result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_malformed_messages_name_the_path(certs, tmp_path):
    doc = copy.deepcopy(certs["scalar"])
    doc["constants"]["L"][1] = [0.05, "x"]
    with pytest.raises(Exception, match=r"constants\.L\[1\]\[1\]"):
        load_certificate(write(tmp_path / "c.json", doc))
    with pytest.raises(Exception, match="schema version"):
        parse_and_validate = dict(copy.deepcopy(certs["scalar"]), schema_version="2")
        load_certificate(write(tmp_path / "d.json", parse_and_validate))


def test_missing_file_and_directory(tmp_path):
    for target in (tmp_path / "nope.json", tmp_path):
        result = run(target)
        assert result.exit_code == 2
        assert len(result.stderr.strip().splitlines()) == 1


def test_several_files_as_pre_commit_passes_them(certdir, tmp_path):
    bad = tmp_path / "bad.cert.json"
    bad.write_text("{")
    result = run(certdir / "scalar.cert.json", certdir / "lq64.cert.json", "--no-recompute")
    assert result.exit_code == 0, result.output
    result = run(certdir / "scalar.cert.json", bad, "--no-recompute", "--json")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert [r["verdict"] for r in doc["reports"]] == ["valid", "malformed"]
    assert len(result.stderr.strip().splitlines()) == 1


def test_deep_nesting_in_a_real_process(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text(_deep(200000))
    proc = subprocess.run(
        [sys.executable, "-m", "sgncert", "verify", str(path)], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "nesting" in proc.stderr


def test_depth_guard_ignores_brackets_in_strings():
    doc = parse_certificate('{"a": "' + "[" * 1000 + '", "b": [[1]]}')
    assert doc["b"] == [[1]]


# ------------------------------------------------------------------------ light algebra path
def test_algebra_imports_neither_jax_nor_cvxpy(certdir):
    code = (
        "import sys\n"
        "from sgncert.cert import load_certificate, verify_certificate\n"
        f"doc = load_certificate({str(certdir / 'three_player.cert.json')!r})\n"
        "rep = verify_certificate(doc, recompute=False)\n"
        "assert rep.exit_code == 0, rep.summary()\n"
        "bad = [m for m in ('jax', 'cvxpy', 'numpy') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_rk4_constant_rederived():
    from sgncert.theory.steps import C4

    assert rk4_constant() == pytest.approx(0.4032042579, abs=1e-9)
    assert abs(rk4_constant() - C4) < 1e-12


def test_pre_commit_hook_definition():
    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "sgncert-verify")
    assert hook["entry"] == "sgncert verify" and hook["language"] == "python"
    files = re.compile(hook["files"])
    assert files.search("games/lq64.cert.json") and files.search("certificates/lq64.json")
    assert not files.search("games/lq64.yaml") and not files.search("package.json")
