"""Games held in memory, from a notebook user's side: every way of giving the functions
gives the numbers the equivalent spec gives, the program hash names the code, results
save the CLI's certificate and verify, sweeps give rows, figures come back as figures,
and bad arguments are SpecErrors naming the argument."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest

import sgncert
from conftest import GAMES

SPEC = {
    "sgncert": 1,
    "name": "duel",
    "params": {"c": 0.8},
    "players": [{"name": "x", "dim": 2}, {"name": "y", "dim": 2}],
    "costs": {
        "x": "0.5 * x @ x + sum(logcosh(x)) + c * sum(x * tanh(y))",
        "y": "0.5 * y @ y - c * sum(y * tanh(x))",
    },
    "region": {"center": "zeros", "radius": 1.0},
    "sampling": {"samples": 127},
}


def cost_x(x, p):
    u, v = x["x"], x["y"]
    return 0.5 * u @ u + jnp.sum(jnp.logaddexp(u, -u) - jnp.log(2.0)) + p["c"] * jnp.sum(u * jnp.tanh(v))


def cost_y(x, p):
    u, v = x["x"], x["y"]
    return 0.5 * v @ v - p["c"] * jnp.sum(v * jnp.tanh(u))


def _make(**kw):
    args = {
        "params": {"c": 0.8},
        "region": {"center": "zeros", "radius": 1.0},
        "sampling": {"samples": 127},
        "name": "duel",
    }
    args.update(kw)
    return sgncert.make_game({"x": 2, "y": 2}, **args)


@pytest.fixture(scope="module")
def game():
    return _make(costs={"x": cost_x, "y": cost_y})


@pytest.fixture(scope="module")
def result(game):
    return sgncert.certify(game, bands=True)


def test_every_form_of_the_functions_gives_the_specs_numbers(game):
    reference = sgncert.certify(sgncert.game_from_dict(SPEC), tight=False, bands=False, progress=False)
    forms = {
        "per-player costs": game,
        "one costs function": _make(costs=lambda x, p: {"x": cost_x(x, p), "y": cost_y(x, p)}),
        "pseudo-gradient": _make(
            pseudo_gradient=lambda x, p: {
                "x": x["x"] + jnp.tanh(x["x"]) + p["c"] * jnp.tanh(x["y"]),
                "y": x["y"] - p["c"] * jnp.tanh(x["x"]),
            }
        ),
        "expression strings": _make(costs=SPEC["costs"]),
    }
    for label, g in forms.items():
        r = sgncert.certify(g, tight=False, bands=False, progress=False)
        np.testing.assert_allclose(r.constants.mu, reference.constants.mu, rtol=1e-12, err_msg=label)
        np.testing.assert_allclose(r.constants.L, reference.constants.L, rtol=1e-12, err_msg=label)
        assert r.constants.gamma == pytest.approx(reference.constants.gamma, rel=1e-12), label
        assert r.certified and r.verdict.best.method == reference.verdict.best.method


def test_affine_blocks_from_arrays_are_exact_and_rebuild_without_code():
    H = {"x": {"x": [[1.0]], "y": [[0.8]]}, "y": {"x": [[-0.8]], "y": [[1.0]]}}
    g = sgncert.make_game({"x": 1, "y": 1}, blocks=H, offset={"x": [0.5]}, region={"center": "zeros"})
    r = sgncert.certify(g, bands=False, progress=False)
    assert r.provenance == "exact" and r.constants.mu.tolist() == [1.0, 1.0]
    assert r.constants.L[0, 1] == pytest.approx(0.8, rel=1e-15)
    assert sgncert.verify(r.to_dict()).verdict == "valid"  # no game needed: arrays are in the spec


def test_the_hash_names_the_program_not_the_python_objects(game):
    again = _make(costs={"x": lambda x, p: cost_x(x, p), "y": cost_y})  # another object, same program
    assert again.sha256 == game.sha256
    A = np.array([1.0, 2.0])

    def scaled(x, p):
        return cost_y(x, p) + jnp.sum(A * x["y"])

    first = _make(costs={"x": cost_x, "y": scaled})
    before = sgncert.certify(first, tight=False, bands=False, progress=False)
    A[1] = 2.5  # a closed-over array changed (traced as a constant)
    second = _make(costs={"x": cost_x, "y": scaled})
    assert len({game.sha256, first.sha256, second.sha256}) == 3
    # the first game kept its program: the same numbers, the same hash, after the change
    after = sgncert.certify(first, tight=False, bands=False, progress=False)
    assert after.constants.mu.tolist() == before.constants.mu.tolist() and after.game.sha256 == first.sha256
    record = game.canonical["costs"]["in_memory"]
    assert record["kind"] == "player_costs" and len(record["program_sha256"]) == 64
    assert game.extras["in_memory"]["functions"] == ["x: cost_x", "y: cost_y"]
    # params are arguments, not part of the program: other values, another game, same program
    other = sgncert.with_params(game, {"c": 0.5})
    assert other.sha256 != game.sha256
    assert other.canonical["costs"] == game.canonical["costs"]


def test_result_repr_html_and_certificate(result, tmp_path):
    text = repr(result)
    assert text.startswith("Result(duel: CERTIFIED (on the samples) by ") and "euler h <= " in text
    html = result._repr_html_()
    assert "<table>" in html and "sgn" in html and "CERTIFIED" in html
    doc = json.loads(result.to_json(created="2026-01-01T00:00:00+00:00"))
    assert doc == sgncert.build_certificate(result, created="2026-01-01T00:00:00+00:00")
    path = result.save(tmp_path / "duel.cert.json")
    assert sgncert.load_certificate(path)["game"]["sha256"] == result.game.sha256


def test_verify_takes_paths_dicts_and_results_and_needs_the_game_built_in_memory(result, game, tmp_path):
    path = result.save(tmp_path / "duel.cert.json")
    assert sgncert.verify(result, resample=0).verdict == "valid"  # a Result brings its game
    assert sgncert.verify(path, game=game, resample=0).verdict == "valid"
    assert sgncert.verify(result.to_dict(), game=game, resample=0).verdict == "valid"
    alone = sgncert.verify(path, resample=0)
    assert alone.verdict == "undecidable" and alone.exit_code == 3
    assert any("in memory" in c.message and "game=" in c.message for c in alone.checks if c.status == "undecidable")
    other = _make(costs={"x": cost_x, "y": lambda x, p: cost_y(x, p) * 1.01})
    bad = sgncert.verify(path, game=other, resample=0)
    assert bad.verdict == "invalid" and "game.spec" in {c.name for c in bad.checks if c.status == "failed"}
    with pytest.raises(sgncert.SpecError, match="in memory"):
        sgncert.game_from_dict(result.to_dict()["game"]["spec"])


def test_sweep_rows_and_frame(game):
    rows = sgncert.sweep(game, {"c": (0.0, 1.6, 3)}, progress=False)
    assert [r["c"] for r in rows] == [0.0, 0.8, 1.6]
    assert rows.doc["rows"] == list(rows) and rows.doc["params"][0]["name"] == "c"
    assert [r["c"] for r in sgncert.sweep(game, ["c=0:1.6:3"], progress=False)] == [0.0, 0.8, 1.6]
    pd = pytest.importorskip("pandas")
    frame = rows.to_frame()
    assert isinstance(frame, pd.DataFrame) and list(frame["c"]) == [0.0, 0.8, 1.6]


def test_to_frame_without_pandas_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(sgncert.SgnError, match="pip install pandas"):
        sgncert.Rows([{"a": 1}]).to_frame()


def test_progress_is_silent_in_scripts_and_reports_when_asked(capsys):
    seen = []
    g = sgncert.load_game(GAMES / "logistic_duel.yaml", samples=63)
    sgncert.certify(g, tight=False, bands=False, progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert seen and all(0 <= d <= t for _, d, t in seen) and seen[-1][1] == seen[-1][2]
    sgncert.certify(g, tight=False, bands=False)  # progress=None outside a notebook: nothing shown
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_figures_come_back_as_matplotlib_figures(result, game):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    band = sgncert.plot_band(result)
    assert isinstance(band, Figure) and band.sgncert_data["band"]["low"] < 1.0 < band.sgncert_data["band"]["high"]
    flow = sgncert.plot_flow(result, starts=2)
    assert isinstance(flow, Figure) and flow.sgncert_data["claims"] is not None
    rows = sgncert.sweep(game, {"c": (0.0, 1.6, 3)}, progress=False)
    assert isinstance(sgncert.plot_sweep(rows), Figure)
    phase = sgncert.plot_phase(GAMES / "scalar.yaml", ("lam", 0.0, 1.0, 5), points=32)
    assert isinstance(phase, Figure) and "h" in phase.sgncert_data


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"costs": {"x": cost_x}}, "costs: expected one function per player"),
        ({"costs": {"x": cost_x, "y": cost_y}, "region": {"radius": -1}}, "make_game: region.radius"),
        ({"costs": {"x": cost_x, "y": cost_y}, "params": {"c": "abc"}}, "make_game: params.c"),
        ({"costs": {"x": cost_x, "y": lambda x, p: x["z"]}}, "costs: evaluating the costs failed"),
        ({}, "give exactly one of costs, pseudo_gradient or blocks"),
        (
            {"pseudo_gradient": lambda x, p: {"x": x["x"], "y": x["y"][:1]}},
            "pseudo_gradient.y: shape (1,), expected (2,)",
        ),
        ({"pseudo_gradient": lambda x, p: {"x": x["x"]}}, "no gradient for player 'y'"),
        ({"costs": lambda x, p: {"x": cost_x(x, p), "y": cost_y(x, p), "z": 0.0}}, "costs of unknown players ['z']"),
        ({"costs": {"x": lambda x, p: None, "y": cost_y}}, "costs.x: the cost is NoneType"),
        ({"costs": {"x": lambda x, p: p["nope"], "y": cost_y}}, "no player or parameter 'nope'"),
        ({"costs": {"x": cost_x, "y": cost_y}, "params": [1, 2]}, "params: expected a dict"),
        ({"costs": {"x": cost_x, "y": cost_y}, "weights": 3}, "weights: expected one positive number"),
    ],
)
def test_bad_arguments_are_spec_errors_naming_them(kwargs, named):
    args = {"params": {"c": 0.8}, "region": {"center": np.zeros(4), "radius": 1.0}} | kwargs  # arrays welcome
    with pytest.raises(sgncert.SpecError) as info:
        sgncert.make_game({"x": 2, "y": 2}, **args)
    assert named in str(info.value) and "\n" not in str(info.value)


def test_bad_arguments_of_certify_and_verify(result):
    for call, named in [
        (lambda: sgncert.certify(result.game, bounds="sound", budget=5), "budget: expected sgncert.SoundBudget"),
        (lambda: sgncert.verify(result, resample=-1), "resample: expected a non-negative integer"),
        (lambda: sgncert.certify(result.game, progress=lambda a: None), "progress: expected a function"),
        (lambda: sgncert.certify(result.game, progress="yes"), "progress: expected True, False, None"),
    ]:
        with pytest.raises(sgncert.SpecError, match=named):
            call()


def test_region_and_sampling_default_to_the_specs():
    g = sgncert.make_game(
        {"x": 1, "y": 1}, costs={"x": lambda x, p: 0.5 * x["x"] @ x["x"], "y": lambda x, p: 0.5 * x["y"] @ x["y"]}
    )
    spec = sgncert.game_from_dict(
        {
            "sgncert": 1,
            "players": [{"name": "x", "dim": 1}, {"name": "y", "dim": 1}],
            "costs": {"x": "0.5 * x @ x", "y": "0.5 * y @ y"},
        }
    )
    assert g.canonical["region"] == spec.canonical["region"] and g.canonical["sampling"] == spec.canonical["sampling"]
