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
