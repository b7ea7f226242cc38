"""What ``sgncert verify`` prints: one line per certificate and a summary whose counts add up
(the failed claims under their certificate's line), every check with ``-v``, GitHub Actions
annotations with ``--format github``; exit 4 for an honest ``certified: false``."""

from __future__ import annotations

import json
import re
import shutil

from conftest import GAMES, ROOT

from .test_tables import invoke

CERTS = ROOT / "certificates"


def _copy(tmp_path, *names):
    out = []
    for name in names:
        shutil.copy(CERTS / f"{name}.cert.json", tmp_path / f"{name}.cert.json")
        out.append(tmp_path / f"{name}.cert.json")
    return out


def _tampered(tmp_path):
    doc = json.loads((CERTS / "scalar.cert.json").read_text())
    doc["steps"]["euler"]["max"] *= 1.5  # a false claim
    path = tmp_path / "tampered.cert.json"
    path.write_text(json.dumps(doc))
    return path


def _not_certified(tmp_path):
    spec = tmp_path / "weak.yaml"
    spec.write_text((GAMES / "scalar.yaml").read_text().replace("lam: 1.0", "lam: 2.0"))
    out = tmp_path / "weak.cert.json"
    r = invoke("certify", spec, "-o", out, "--no-bands")
    assert r.exit_code == 1, r.output
    return out


def test_one_line_per_certificate_and_a_summary_that_adds_up(tmp_path):
    good = _copy(tmp_path, "scalar", "three_player")
    bad, weak = _tampered(tmp_path), _not_certified(tmp_path)
    r = invoke("verify", *good, bad, weak, "--resample", "0")
    assert r.exit_code == 1, r.output  # the most severe: invalid
    lines = r.output.splitlines()
    top = [ln for ln in lines if not ln.startswith("  ")]
    assert len(top) == 5, r.output  # four certificates and the summary
    assert top[0].startswith(f"{good[0]}: VALID: two-player-scalar [exact]")
    assert "certified by sgn" in top[0]
    # the inflated step breaks its own claim and the ratio to the true limit built on it
    assert top[2].startswith(f"{bad}: INVALID: 2 claim(s) failed (two-player-scalar): ")
    assert top[2].endswith("steps.euler.max, tight.sgn_ratio.euler")
    failed = [ln for ln in lines if ln.startswith("  failed: ")]  # the failing rows, with their messages
    assert [ln.split(":")[1].strip() for ln in failed] == ["steps.euler.max", "tight.sgn_ratio.euler"]
    assert top[3].startswith(f"{weak}: VALID, NOT CERTIFIED") and "no proof holds" in top[3]
    assert top[4] == "verified 4 certificate(s): 2 valid, 1 valid but not certified, 1 invalid"
    counts = [int(n) for n in re.findall(r"(\d+) (?:valid|invalid)", top[4].split(":", 1)[1])]
    assert sum(counts) == 4


def test_not_certified_exits_4_alone_and_verbose_prints_every_check(tmp_path):
    weak = _not_certified(tmp_path)
    r = invoke("verify", weak, "--resample", "0")
    assert r.exit_code == 4 and len(r.output.splitlines()) == 1, r.output
    r = invoke("verify", weak, "--resample", "0", "-v")
    assert r.exit_code == 4
    assert "sgn.margin" in r.output and "verdict.proofs" in r.output and "game.file" in r.output
    assert "VALID, NOT CERTIFIED: all" in r.output


def test_github_annotations(tmp_path):
    (good,) = _copy(tmp_path, "scalar")
    bad = _tampered(tmp_path)
    r = invoke("verify", good, bad, "--resample", "0", "--format", "github")
    assert r.exit_code == 1
    lines = r.output.splitlines()
    assert all(ln.startswith("::") for ln in lines), r.output
    errors = [ln for ln in lines if ln.startswith("::error ")]
    assert any(f"file={bad}".replace(":", "%3A") in ln and "steps.euler.max" in ln for ln in errors), errors
    notice = [ln for ln in lines if ln.startswith("::notice ")]
    assert len(notice) == 1 and "VALID" in notice[0] and str(good).replace(":", "%3A") in notice[0]
    # newlines and percent signs in messages are escaped: one annotation per line
    from sgncert.cli.verify import _gh_escape

    assert _gh_escape("50% a\nb") == "50%25 a%0Ab" and _gh_escape("a:b,c", True) == "a%3Ab%2Cc"
