"""Sound certificates end to end: what only the partition's re-proof can catch, malformed
partitions, and the command line's options and errors."""

from __future__ import annotations

import copy
import json

import pytest

from conftest import GAMES, ROOT
from sgncert.cert.load import load_certificate
from sgncert.cert.verify import verify_certificate

CERT = ROOT / "certificates" / "tanh_duel.cert.json"


@pytest.fixture(scope="module")
def doc():
    return load_certificate(CERT)


def _failed(rep) -> set[str]:
    return {c.name for c in rep.checks if c.status == "failed"}


def test_shipped_sound_certificate_states_proved_bounds_below_the_samples(doc):
    k = doc["constants"]
    assert k["provenance"] == "sound"
    s = k["sound"]
    # sampling alone over-claims mu (the infimum is at the corners), the proof does not
    for i in range(2):
        assert k["mu"][i] < s["sampled"]["mu"][i]
        assert s["gaps"]["mu"][i] == pytest.approx((s["sampled"]["mu"][i] - k["mu"][i]) / s["sampled"]["mu"][i])
    assert [p["provenance"] for p in doc["verdict"]["proofs"]] == ["sound", "sound", "sound", "sampled"]


def test_a_bound_raised_within_the_sampling_gap_is_caught_by_the_partition(doc):
    """mu_x raised by 1e-5 (relative) still lies below every sample (and the stated band no
    longer matches it, which the algebra sees): the re-proof on the partition rejects it."""
    bad = copy.deepcopy(doc)
    bad["constants"]["mu"][0] *= 1 + 1e-5
    assert bad["constants"]["mu"][0] < doc["constants"]["sound"]["sampled"]["mu"][0]
    rep = verify_certificate(bad, resample=0)
    assert rep.exit_code == 1
    msg = {c.name: c.message for c in rep.checks if c.status == "failed"}
    assert "not proved on every box of the partition" in msg["constants.mu[0]"]
    assert "constants.mu[1]" not in msg


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["constants"]["sound"].update(partition=d["constants"]["sound"]["partition"] + " ."),
        lambda d: d["constants"]["sound"].update(partition="0 . ."),  # a coarser partition proves less
        lambda d: d["constants"].pop("sound"),
        lambda d: d["constants"]["sound"].update(complete=True),  # reached is above the tolerance
        lambda d: d["constants"]["sound"].update(partition="0 " * 300 + ". " * 301),  # too deep: refused at once
    ],
    ids=["extra-token", "coarse", "missing", "complete", "deep"],
)
def test_a_forged_or_missing_partition_is_invalid(doc, edit):
    bad = copy.deepcopy(doc)
    edit(bad)
    assert verify_certificate(bad, resample=0).exit_code == 1


def test_cli_sound_options_and_errors(tmp_path):
    from tests.cli.test_commands import run

    for bad in ("many", "10s,5s", "5,0s"):
        r = run("certify", str(GAMES / "tanh_duel.yaml"), "--budget", bad, "--no-write")
        assert r.returncode == 2 and "--budget" in r.stderr and "Traceback" not in r.stderr
    r = run("certify", str(GAMES / "markov_coordination.yaml"), "--bounds", "sound", "--no-write")
    assert r.returncode == 2 and "not supported yet" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    out = tmp_path / "t.cert.json"
    r = run(
        "certify", str(GAMES / "tanh_duel.yaml"), "--budget", "40", "--tolerance", "0.5", "--no-tight", "-o", str(out)
    )
    assert r.returncode == 0, r.stderr
    cert = json.loads(out.read_text())
    s = cert["constants"]["sound"]
    assert s["budget_boxes"] == 40 and s["tolerance"] == 0.5 and s["boxes"] <= 40
    assert "sound bounds (proved over the whole region)" in r.stdout
    assert "proved over the whole region by" in r.stdout


@pytest.fixture
def wider_enclosures(monkeypatch):
    """The Jacobian enclosures of a later release that rounds a little more loosely: every
    interval entry 1e-14 (relative, about 45 ulps) wider on each side."""
    import numpy as np

    from sgncert.analysis import sound
    from sgncert.theory.intervals import Interval

    enclose = sound.jacobian_enclosure

    def wider(game, *args, **kwargs):
        inner = enclose(game, *args, **kwargs)

        def widened(lo, hi):
            E = inner(lo, hi)
            pad = np.where(E.J.lo < E.J.hi, 1e-14 * np.maximum(np.abs(E.J.lo), np.abs(E.J.hi)), 0.0)
            return E._replace(J=Interval(E.J.lo - pad, E.J.hi + pad))

        return widened

    monkeypatch.setattr(sound, "jacobian_enclosure", wider)


def test_a_sound_bound_a_looser_release_proves_only_to_a_hair_is_a_warning(doc, wider_enclosures):
    """Stated bounds are exactly what was proved, so arithmetic a few ulps wider cannot
    re-prove all of them; each is then proved to within REPROOF_TOL of the largest bound: a
    warning (a failure with --strict), while a bound raised by 1e-5 still fails."""
    from sgncert.cert.recompute import REPROOF_TOL

    rep = verify_certificate(doc, resample=0)
    warned = {c.name for c in rep.checks if c.status == "warning"}
    assert warned and not _failed(rep) and rep.exit_code == 0
    assert all("only to within" in c.message for c in rep.checks if c.name in warned)
    assert any("certify again" in n for n in rep.notes)
    strict = verify_certificate(doc, resample=0, strict=True)
    assert _failed(strict) == warned and strict.exit_code == 1
    bad = copy.deepcopy(doc)
    bad["constants"]["mu"][0] *= 1 + 1e-5  # far beyond REPROOF_TOL x the largest bound (~2.3)
    assert 1e-5 * bad["constants"]["mu"][0] > 10 * REPROOF_TOL * 2.3
    assert "constants.mu[0]" in _failed(verify_certificate(bad, resample=0))


def test_a_fresh_point_beats_a_sound_bound_only_beyond_float_rounding(doc):
    """The float Jacobian at a fresh point carries XLA's own rounding (its tanh is ulps
    off), while a sound bound is about exact arithmetic: a point beats the bound only by
    more than FLOAT_EVAL_TOL times the largest stated constant."""
    import numpy as np

    from sgncert.analysis.constants import pointwise_statistics
    from sgncert.analysis.sampling import sample_game_region
    from sgncert.cert.recompute import FLOAT_EVAL_TOL
    from sgncert.games.model import Sampling
    from sgncert.games.spec import load_game

    game = load_game(GAMES / "tanh_duel.yaml")
    region = game.region.with_center(np.asarray(doc["region"]["center"], dtype=np.float64))
    fresh = sample_game_region(region, Sampling(game.sampling.method, 64, game.sampling.seed + 1), game.sets)[1:]
    worst = float(pointwise_statistics(game, fresh)["mu"][:, 0].min())  # the fresh points verify draws
    k = doc["constants"]
    slack = FLOAT_EVAL_TOL * max(abs(float(v)) for v in [*k["mu"], *sum(k["L"], []), k["beta"]])
    for above, beaten in ((0.5, False), (3.0, True)):
        bad = copy.deepcopy(doc)
        bad["constants"]["mu"][0] = worst + above * slack
        assert ("resample.mu[0]" in _failed(verify_certificate(bad, resample=64))) is beaten
