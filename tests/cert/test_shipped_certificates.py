"""Every certificate shipped in certificates/ verifies against the current code, and every
bundled game has one (regenerate them with `bash certificates/regenerate.sh`)."""

from __future__ import annotations

import json

import pytest

from conftest import GAMES, ROOT
from sgncert.cert.load import load_certificate
from sgncert.cert.verify import verify_certificate

CERTS = sorted((ROOT / "certificates").glob("*.cert.json"))


def test_every_bundled_game_has_a_certificate():
    assert {p.stem for p in GAMES.glob("*.yaml")} == {p.name[: -len(".cert.json")] for p in CERTS}


@pytest.mark.parametrize("path", CERTS, ids=lambda p: p.name)
def test_shipped_certificate_verifies(path):
    doc = load_certificate(path)
    if "openspiel" in doc["game"]["spec"]:  # games read from OpenSpiel need the optional extra
        pytest.importorskip("pyspiel")
    report = verify_certificate(doc, cert_path=path, resample=128)
    assert report.exit_code == 0, report.summary()
    names = {c.name for c in report.checks}
    assert "game.file" in names  # the spec next to it was found (game.source) and still matches
    assert doc["certified"] is True
    # the certificate is what certify writes today: same spec hash as the bundled game
    from sgncert.games.spec import load_game

    sampling = doc["game"]["spec"]["sampling"]
    assert (
        load_game(
            ROOT / "certificates" / doc["game"]["source"], samples=sampling["samples"], seed=sampling["seed"]
        ).sha256
        == doc["game"]["sha256"]
    )
    assert json.loads(path.read_text())["provenance"]["created"].startswith("1970-01-01")  # SOURCE_DATE_EPOCH=0
