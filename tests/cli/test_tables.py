"""What ``sgncert certify`` and ``sgncert band`` print: the verdict says exactly what is
certified, Fisher games are labelled in their reduced frame, numbers are printed in full."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import pytest

from conftest import GAMES, ROOT

CERTS = ROOT / "certificates"

# a quadratic game whose region (the unit ball around 0) is far from the equilibrium (30.9..., -6.1...):
# F is strongly monotone everywhere, but the a-posteriori bound cannot place x* in the region
FAR = """\
sgncert: 1
name: far
players: [{name: x, dim: 1}, {name: y, dim: 1}]
costs: {x: "0.5 * x @ x + 0.2 * x @ y - 30 * sum(x)", y: "0.5 * y @ y - 0.2 * y @ x"}
region: {center: CENTER, radius: 1.0, norm: 2}
"""


def invoke(*args):
    from click.testing import CliRunner

    from sgncert.cli import main

    r = CliRunner().invoke(main, [str(a) for a in args], env={"SOURCE_DATE_EPOCH": None})
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r


def flat(text: str) -> str:
    """Text with every run of whitespace made one space (rich wraps long lines between words)."""
    return " ".join(text.split())


def render(doc: dict, width: int = 200) -> str:
    from rich.console import Console

    from sgncert.cli.tables import certificate_tables

    console = Console(record=True, width=width, no_color=True)
    for item in certificate_tables(doc):
        console.print(item)
    return console.export_text()


def load(name: str) -> dict:
    return json.loads((CERTS / f"{name}.cert.json").read_text())


def cells(text: str, first: str) -> list[str]:
    """The cells of the table row (or header) whose first cell is ``first``."""
    for line in text.splitlines():
        parts = [c.strip() for c in re.split("[│┃]", line)]
        if len(parts) > 2 and parts[1] == first:
            return parts[1:-1]
    raise AssertionError(f"no row {first!r} in\n{text}")


def certify_far(tmp_path: Path, center: str):
    spec = tmp_path / "far.yaml"
    spec.write_text(FAR.replace("CENTER", center))
    out = tmp_path / "far.cert.json"
    r = invoke("certify", spec, "-o", out, "--no-tight")
    assert r.exit_code == 0, r.output
    return r, json.loads(out.read_text())


# ------------------------------------------------------------------ 1. the equilibrium and the region
def test_verdict_says_convergence_is_not_certified_when_the_equilibrium_may_lie_outside(tmp_path):
    r, doc = certify_far(tmp_path, "[0, 0]")
    eq = doc["equilibrium"]
    assert doc["certified"] is True
    assert eq["in_region"] is False and doc["invariant_ball"] is None
    radius_M = doc["region"]["radius"] * math.sqrt(min(doc["metric"]["weights"]))
    assert eq["distance_bound_M"] > radius_M  # the game really is "far"
    text = flat(r.stdout)
    best = doc["verdict"]["best"]
    euler = best["steps"]["euler"]
    assert eq["proof"] == best["proof"] and eq["weights"] == best["weights"]
    metric = "M = I" if set(best["weights"]) == {1.0} else "M(w), w = ["
    assert f"CERTIFIED on the region: F strongly monotone in {metric}" in text
    assert f" with rate {best['rate']!r} " in text
    assert (
        "(trajectories that stay in the region approach each other at this rate; at most one equilibrium "
        f"in the region); largest proved Euler steps below h = {euler['h']!r} ({euler['proof']})" in text
    )
    radius_M = doc["region"]["radius"] * math.sqrt(min(eq["weights"]))
    assert (
        "NOT certified: convergence to the equilibrium, which may lie outside the region "
        f"(distance bound ||c - x*||_M <= {eq['distance_bound_M']!r} in M = I of {eq['proof']} vs radius "
        f"{radius_M!r}" in text
    )
    assert "no invariant ball" in text
    assert "contraction rate" not in text and "converges to it" not in text

    from sgncert.cli.tables import certificate_tables

    verdict = certificate_tables(doc)[-1]
    assert "yellow" in str(verdict.style) and "green" not in str(verdict.style)  # a warning, not a plain pass


def test_verdict_names_the_invariant_ball_when_the_equilibrium_is_in_the_region(tmp_path):
    r, doc = certify_far(tmp_path, "equilibrium")
    eq, ball = doc["equilibrium"], doc["invariant_ball"]
    assert eq["in_region"] is True and ball["radius_M"] > 0
    text = flat(r.stdout)
    best = doc["verdict"]["best"]
    euler = best["steps"]["euler"]
    assert f"CERTIFIED on the region: contraction rate {best['rate']!r} in " in text
    assert f"largest proved Euler steps below h = {euler['h']!r} ({euler['proof']})" in text
    # the ball is claimed for the dynamics proved in its metric: the flow and that proof's own steps
    own = next(p for p in doc["verdict"]["proofs"] if p["method"] == eq["proof"])["steps"]["euler"]["h"]
    assert (
        f"The equilibrium lies in the region (||c - x*||_M <= {eq['distance_bound_M']!r} in M = I of "
        f"{eq['proof']}); the flow and Euler steps below h = {own!r}"
    ) in text
    assert (
        f"started in the invariant M-ball of radius {ball['radius_M']!r} around it stay in the region and converge "
        "to it (steps proved in another metric need not stay in this ball)"
    ) in text
    assert "NOT certified" not in text

    from sgncert.cli.tables import certificate_tables

    assert "green" in str(certificate_tables(doc)[-1].style)


def test_fisher_verdict_claims_no_ball():
    """Fisher certificates record no in_region and no ball (docs/theory.md §10): the verdict adds neither."""
    doc = load("rps")
    assert "in_region" not in doc["equilibrium"] and doc.get("invariant_ball") is None
    text = flat(render(doc))
    assert "invariant M-ball" not in text and "NOT certified" not in text
    best = doc["verdict"]["best"]
    assert best["proof"] == "euclidean" and best["weights"] == [1.0, 1.0]
    assert (
        f"CERTIFIED on the samples (estimated constants): contraction rate {best['rate']!r} in M = G (Fisher, w = 1); "
        f"largest proved natural policy gradient steps below h = {best['steps']['npg']['h']!r} (euclidean)" in text
    )


# ------------------------------------------------------------------ 2. the Fisher frame
@pytest.mark.parametrize(
    ("name", "reduced", "logits", "meaning"),
    [
        ("rps", 2, 3, "strongly monotone in the reduced Fisher frame"),
        ("markov_coordination", 2, 4, "strongly monotone in the reduced Fisher frame"),
        ("markov_general_sum", 2, 4, "reduced Fisher frame test fails"),
    ],
)
def test_fisher_games_are_labelled_in_the_reduced_frame(name, reduced, logits, meaning):
    doc = load(name)
    assert doc["geometry"]["kind"] == "fisher" and doc["geometry"]["reduced_dims"] == [reduced] * 2
    text = render(doc)
    assert "||.||_2" not in text and "Euclidean test fails" not in text
    row = cells(text, "gamma (reduced Fisher frame)")
    assert row == ["gamma (reduced Fisher frame)", repr(doc["euclidean"]["margin"]), meaning]
    assert "dim (logits)" in text and "reduced Fisher frame K = E^T J E" in text
    for p in doc["game"]["players"]:
        assert p["dim"] == logits
        assert cells(text, p["name"])[1] == f"{reduced} ({logits})"


def test_fisher_reduced_dims_from_the_spec_when_the_geometry_omits_them():
    doc = copy.deepcopy(load("markov_coordination"))
    del doc["geometry"]["reduced_dims"]  # informational: an older or hand-made certificate may lack it
    text = render(doc)
    assert doc["game"]["spec"]["markov"]["states"] == 2
    assert cells(text, "p1")[1] == "2 (4)" and cells(text, "p2")[1] == "2 (4)"
    del doc["game"]["spec"]
    text = render(doc)
    assert cells(text, "p1")[1] == "? (4)"


def test_euclidean_games_keep_the_euclidean_labels():
    doc = load("three_player")
    text = render(doc)
    assert cells(text, "Euclidean gamma")[2] == "Euclidean test fails"
    assert "Fisher" not in text
    assert [cells(text, n)[1] for n in ("p", "q", "r")] == ["1", "2", "3"]
    doc = copy.deepcopy(load("logistic_duel"))
    doc["euclidean"]["margin"] = 0.125  # no shipped Euclidean game passes the Euclidean test
    assert cells(render(doc), "Euclidean gamma")[1:] == ["0.125", "strongly monotone in ||.||_2"]


def test_provenance_label_is_shown_not_read_as_markup():
    """The constants title's ``[label]`` is text: as rich markup it vanished from the screen."""
    assert "two-player-scalar: constants [exact]" in render(load("scalar"))
    doc = load("rps")
    assert (
        f"{doc['game']['name']}: constants [sampled ({doc['constants']['samples']} points, sobol, seed 0); "
        "reduced Fisher frame K = E^T J E]" in flat(render(doc))
    )


# ------------------------------------------------------------------ 3. numbers in full
def shown_numbers(doc: dict) -> list[float]:
    """Every float the certify tables print."""
    k, sgn, steps = doc["constants"], doc["sgn"], doc["steps"]
    out = [*k["mu"], *(x for row in k["L"] for x in row if x), *doc["metric"]["weights"], k["beta"]]
    out += [doc["euclidean"]["margin"], sgn["margin"], sgn["tau"], sgn["gain"], sgn["alpha_true"], doc["rate"]]
    out += [steps["euler"][f] for f in ("max", "best", "factor")] + [steps["rk4"][f] for f in ("max", "best", "factor")]
    out += [steps.get("rk4_spectral_guideline")]
    if steps.get("exact"):
        out += [steps["exact"][m][f] for m in ("euler", "rk4") for f in ("contraction", "stability")]
    out += [x for b in doc["band"] for x in (b["low"], b["high"])]
    return [float(x) for x in out if isinstance(x, float) and math.isfinite(x)]


@pytest.mark.parametrize("name", ["scalar", "three_player", "rps", "logistic_duel", "lq64"])
def test_every_number_is_printed_in_full(name):
    doc = load(name)
    numbers = shown_numbers(doc)
    assert any(len(repr(x)) > 8 for x in numbers)  # 6 significant digits would lose something
    for width in (200, 120):  # 120: what certify prints when stdout is not a terminal
        text = render(doc, width)
        assert "…" not in text
        for x in numbers:
            assert repr(x) in text, (width, x)


def test_numbers_are_folded_never_cut_on_a_narrow_terminal():
    doc = load("three_player")
    text = render(doc, 40)
    assert "…" not in text
    # a number too wide for its column continues on the next line of the same column:
    # read each column top to bottom and find every number whole
    columns: dict[tuple[int, int], str] = {}
    for line in text.splitlines():
        parts = line.split("│")
        for c, part in enumerate(parts[1:-1]):
            columns[(len(parts), c)] = columns.get((len(parts), c), "") + part.strip()
    folded = 0
    for x in shown_numbers(doc):
        assert any(repr(x) in col for col in columns.values()), x
        folded += repr(x) not in text
    assert folded > 0  # the width really forces folding


def test_certify_prints_full_numbers_end_to_end(tmp_path):
    out = tmp_path / "scalar.cert.json"
    r = invoke("certify", GAMES / "scalar.yaml", "-o", out, "--no-tight")
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    for x in (doc["sgn"]["tau"], doc["band"][0]["low"], doc["band"][0]["high"], doc["steps"]["euler"]["max"]):
        assert repr(x) in r.stdout


def test_band_table_prints_full_numbers(tmp_path):
    doc = load("three_player")
    r = invoke("band", CERTS / "three_player.cert.json", "-o", tmp_path / "b.png", "--json")
    assert r.exit_code == 0, r.output
    pairs = json.loads(r.stdout)["pairs"]
    r = invoke("band", CERTS / "three_player.cert.json", "-o", tmp_path / "b.png")
    assert r.exit_code == 0, r.output
    assert "…" not in r.stdout
    for p, b in zip(pairs, doc["band"]):
        names = [q["name"] for q in doc["game"]["players"]]
        row = cells(r.stdout, f"w_{names[b['j']]}/w_{names[b['i']]}")
        assert row[1:4] == [repr(b["low"]), repr(b["high"]), repr(p["chosen"])]
        assert row[4] == "yes"


def test_band_two_player_summary_keeps_the_readme_format(tmp_path):
    """README.md quotes this line: the 2-player summary keeps its short form."""
    r = invoke("band", GAMES / "scalar.yaml", "-o", tmp_path / "b.png")
    assert r.exit_code == 0, r.output
    assert "band of w2/w1 at alpha = 0: (34.3146, 1165.685); optimum r* = 200 (alpha_* = 0.292893)" in r.stdout


# ------------------------------------------------------------------ 4. band note and unsettled pairs
def test_band_note_is_printed(tmp_path):
    r = invoke("certify", GAMES / "scalar.yaml", "--no-write", "--no-tight", "--no-bands")
    assert r.exit_code == 0, r.output
    assert "band note: bands not computed (bands=False, --no-bands)" in flat(r.stdout)


def test_unsettled_band_pairs_are_marked():
    doc = copy.deepcopy(load("three_player"))
    doc["band"][1]["search"] = "high: solver status infeasible_inaccurate"
    doc["band_note"] = "pairs [(0, 2)]: ends proved, but the search did not settle them (see band[].search)"
    text = render(doc)
    assert cells(text, "pair")[-1] == "search"
    assert cells(text, "w_q / w_p")[-1] == "optimal" and cells(text, "w_r / w_q")[-1] == "optimal"
    assert cells(text, "w_r / w_p")[-1] == (
        "unsettled (ends proved, maybe not tight): high: solver status infeasible_inaccurate"
    )
    assert f"band note: {doc['band_note']}" in flat(text)


def test_two_player_band_has_no_search_column():
    text = render(load("scalar"))
    assert "search" not in cells(text, "pair")


# --------------------------------------------------------------------- 5. the verdict comes first
def test_summary_starts_with_the_verdict_and_fits_100_columns_on_eight_players(tmp_path):
    """An 8-player game: the verdict, the largest steps, the proofs and the equilibrium come
    first; at 100 columns no line is wider and every constant is printed whole."""

    import yaml

    from conftest import ring_spec

    spec = tmp_path / "ring.yaml"
    spec.write_text(yaml.safe_dump(ring_spec()))
    out = tmp_path / "ring.cert.json"
    r = invoke("certify", spec, "-o", out, "--no-tight")
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    text = render(doc, width=100)
    lines = text.splitlines()
    assert max(len(ln) for ln in lines) <= 100
    assert lines[0].startswith("CERTIFIED on the samples (estimated constants) by euclidean")
    assert "sgn does not hold: SGN margin alpha_*(w) = " in text
    order = [text.index(t) for t in ("largest proved steps", "proofs tried", "centre c = [0.0, ", "constants [")]
    assert order == sorted(order)
    assert "…" not in text
    numbers = doc["constants"]["mu"] + [x for row in doc["constants"]["L"] for x in row if x] + doc["metric"]["weights"]
    for x in numbers:
        assert repr(float(x)) in text, x  # whole, on one line


def test_samples_count_the_users_points_and_keep_the_tight_steps(tmp_path):
    """--samples 2048 (the tight limit): the centre is extra, the tight steps are still computed."""
    spec = tmp_path / "duel.yaml"
    spec.write_text(
        "sgncert: 1\nname: tanh-duel\nplayers: [{name: x, dim: 1}, {name: y, dim: 1}]\n"
        'costs: {x: "0.5 * x @ x + 0.3 * sum(tanh(x)) * sum(y)", y: "0.5 * y @ y - 0.3 * sum(tanh(y)) * sum(x)"}\n'
        "region: {center: zeros, radius: 1.0, norm: inf}\n"
    )
    out = tmp_path / "duel.cert.json"
    r = invoke("certify", spec, "-o", out, "--samples", "2048", "--no-bands")
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["constants"]["samples"] == 2049  # the user's 2048 and the centre
    assert doc["tight"] is not None and doc["tight"]["euler"]["h"] > 0
    assert not any("tight steps skipped" in n for n in doc.get("notes") or [])


@pytest.mark.parametrize("path", sorted(CERTS.glob("*.cert.json")), ids=lambda p: p.name.removesuffix(".cert.json"))
def test_every_bundled_summary_fits_100_columns_with_whole_numbers(path):
    """No line wider than 100 and every number of the constants, margins, steps, band and verdict
    printed whole (on one line, never folded or cut)."""

    from sgncert.cli.tables import number

    doc = json.loads(path.read_text())
    text = render(doc, width=100)
    assert max(len(line) for line in text.splitlines()) <= 100
    k, sgn, steps = doc["constants"], doc["sgn"], doc["steps"]
    numbers = [*k["mu"], *(x for row in k["L"] for x in row if x), *doc["metric"]["weights"], k["beta"]]
    numbers += [doc["euclidean"]["margin"], sgn["margin"], sgn["tau"], steps["euler"]["max"]]
    numbers += [x for b in doc["band"] for x in (b["low"], b["high"]) if x is not None]
    for p in doc["verdict"]["proofs"]:
        numbers += [p["rate"]] if p.get("rate") is not None else []
        numbers += [s["h"] for s in p["steps"].values()]
    missing = [x for x in numbers if number(x) not in text]
    assert not missing, missing
