"""Plots and sweeps: figure files, sweep rows and the numbers the plots draw."""

from __future__ import annotations

import csv
import io
import json
import math

import click
import numpy as np
import pytest

from conftest import GAMES, ROOT

CERTS = ROOT / "certificates"
SQRT_HALF = math.sqrt(0.5)


def cli():
    """A tiny group with the plot commands and sgncert's error handling (exit codes)."""
    from sgncert.cli.app import SgnGroup
    from sgncert.cli.band import band
    from sgncert.cli.plot import plot
    from sgncert.cli.sweep import sweep

    @click.group(cls=SgnGroup)
    def group():
        pass

    for command in (band, sweep, plot):
        group.add_command(command)
    return group


def invoke(*args):
    from click.testing import CliRunner

    r = CliRunner().invoke(cli(), [str(a) for a in args], env={"CI": "1"})
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r


def assert_nonblank(path):
    from matplotlib.image import imread

    from sgncert.plots import nonblank_fraction

    assert path.exists() and path.stat().st_size > 10_000
    img = imread(str(path))
    assert img.shape[0] > 300 and img.shape[1] > 500
    assert nonblank_fraction(path) > 0.01
    colours = np.unique((img[..., :3].reshape(-1, 3) * 255).round().astype(np.uint8), axis=0)
    assert len(colours) > 50


# ------------------------------------------------------------------------------ sweeps
@pytest.mark.parametrize(
    "text, expected",
    [
        ("lam=0:2.5:61", ("lam", 0.0, 2.5, 61)),
        ("b=0.5:0.5:1", ("b", 0.5, 0.5, 1)),
        (" k = -1e-1:2:3", ("k", -0.1, 2.0, 3)),
    ],
)
def test_parse_param_range(text, expected):
    from sgncert.analysis.sweep import parse_param_range

    r = parse_param_range(text)
    assert (r.name, r.start, r.stop, r.num) == expected
    assert len(r.values) == r.num and r.values[0] == r.start and r.values[-1] == r.stop


@pytest.mark.parametrize(
    "text",
    ["lam", "lam=0:1", "lam=0:1:0", "lam=a:1:3", "lam=0:inf:3", "lam=0:1:2.5", "1x=0:1:3", "lam=0:1:3:4", "=0:1:3"],
)
def test_parse_param_range_rejects(text):
    from sgncert.analysis.sweep import parse_param_range
    from sgncert.errors import SpecError

    with pytest.raises(SpecError, match="--param"):
        parse_param_range(text)


@pytest.fixture(scope="module")
def scalar_sweep():
    from sgncert.analysis.sweep import run_sweep
    from sgncert.games.spec import load_game

    calls = []
    doc = run_sweep(load_game(GAMES / "scalar.yaml"), ["lam=0:2.5:61"], progress=lambda *a: calls.append(a))
    return doc, calls


def test_scalar_sweep_boundaries(scalar_sweep):
    doc, calls = scalar_sweep
    rows = doc["rows"]
    assert doc["kind"] == "sgncert.sweep" and len(rows) == 61
    assert ("sweep", 61, 61) in calls and calls[-1][0] == "boundaries"
    sgn = [r["lam"] for r in rows if r["sgn_certified"]]
    assert sgn == [r["lam"] for r in rows if r["certified"]]  # no other proof reaches further here
    euc = [r["lam"] for r in rows if r["euclidean_certified"]]
    # SGN certifies exactly the grid points with lam < sqrt(2), Euclidean those with lam < 0.199005
    assert max(sgn) == pytest.approx(1.375, abs=1e-12) and len(sgn) == 34
    assert max(euc) == pytest.approx(4 * 2.5 / 60, abs=1e-12) and len(euc) == 5
    assert sgn == [r["lam"] for r in rows[:34]] and euc == [r["lam"] for r in rows[:5]]
    b = doc["boundaries"]["sgn"]
    assert b["grid_last_certified"] == pytest.approx(1.375) and b["grid_first_failure"] == pytest.approx(2.5 * 34 / 60)
    assert b["certified_up_to"] < math.sqrt(2) <= b["fails_at"] and b["fails_at"] - b["certified_up_to"] < 1e-6
    e = doc["boundaries"]["euclidean"]
    assert e["grid_last_certified"] == pytest.approx(2.5 * 4 / 60)
    assert e["certified_up_to"] < 1 / 5.025 <= e["fails_at"] and e["fails_at"] - e["certified_up_to"] < 1e-6


def test_scalar_sweep_rows_match_spec_10(scalar_sweep):
    rows = scalar_sweep[0]["rows"]
    for r in rows:
        lam = r["lam"]
        assert r["euclidean_margin"] == pytest.approx(1 - 5.025 * lam, abs=1e-9)
        assert r["tau"] == pytest.approx(1 - lam * SQRT_HALF, abs=1e-9)
        assert r["alpha_true"] == pytest.approx(1 - lam * SQRT_HALF, abs=1e-9)
        assert r["beta"] == pytest.approx(1 + lam * SQRT_HALF, abs=1e-9)
        assert r["provenance"] == "exact" and r["error"] is None
        if r["certified"]:
            assert r["sgn_margin"] <= r["alpha_true"] + 1e-12
            assert r["euler_max"] == pytest.approx(2 * r["sgn_margin"] / r["beta"] ** 2, rel=1e-9)
        else:
            assert r["euler_max"] == 0.0 and r["rk4_max"] == 0.0
    r1 = rows[24]
    assert r1["lam"] == 1.0
    assert r1["sgn_margin"] == pytest.approx(0.292893, abs=1e-6)
    assert r1["euler_max"] == pytest.approx(0.201010, abs=1e-6)
    assert r1["euler_stability"] == pytest.approx(1.171573, abs=1e-6)
    assert r1["rk4_stability"] == pytest.approx(1.631587, abs=1e-6)
    assert r1["weights"] == pytest.approx([1.0, 200.0])


def test_rows_to_csv(scalar_sweep):
    from sgncert.analysis.sweep import rows_to_csv

    rows = scalar_sweep[0]["rows"]
    table = list(csv.DictReader(io.StringIO(rows_to_csv(rows))))
    assert len(table) == 61
    assert list(table[0])[:3] == ["lam", "certified", "proof"]
    assert float(table[24]["lam"]) == 1.0 and table[24]["certified"] == "true"
    assert float(table[24]["sgn_margin"]) == rows[24]["sgn_margin"]  # round-trip floats
    assert table[40]["certified"] == "false" and table[40]["error"] == ""


def test_sweep_failed_point_becomes_row(monkeypatch):
    import sgncert.analysis.sweep as sweep_module
    from sgncert.analysis.sweep import run_sweep
    from sgncert.errors import NumericalError
    from sgncert.games.spec import load_game

    real = sweep_module.certify

    def flaky(game, **kw):
        if float(game.params["lam"]) == 0.5:
            raise NumericalError("simulated breakdown")
        return real(game, **kw)

    monkeypatch.setattr(sweep_module, "certify", flaky)
    doc = run_sweep(load_game(GAMES / "scalar.yaml"), ["lam=0:1:3"])
    bad = doc["rows"][1]
    assert bad["certified"] is False and bad["error"] == "simulated breakdown" and bad["sgn_margin"] is None
    assert doc["rows"][0]["certified"] and doc["rows"][2]["certified"]
    json.dumps(doc, allow_nan=False)


def test_sweep_bad_parameter_is_input_error(tmp_path):
    r = invoke("sweep", GAMES / "scalar.yaml", "--param", "lamda=0:1:3", "-o", tmp_path / "s.json")
    assert r.exit_code == 2 and "did you mean 'lam'" in r.stderr
    r = invoke("sweep", GAMES / "lq64.yaml", "--param", "R=0:1:3", "-o", tmp_path / "s.json")
    assert r.exit_code == 2 and "scalar" in r.stderr
    assert not (tmp_path / "s.json").exists()


def test_sweep_cli_writes_json_csv_and_plot(tmp_path):
    out, png = tmp_path / "sweep.json", tmp_path / "sweep.png"
    r = invoke("sweep", GAMES / "scalar.yaml", "--param", "lam=0:2.5:61", "-o", out, "--plot", png)
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    b = doc["boundaries"]["sgn"]
    assert f"SGN: certifies up to lam = {b['certified_up_to']!r} (fails at {b['fails_at']!r})" in r.stdout
    assert doc["kind"] == "sgncert.sweep" and len(doc["rows"]) == 61
    assert len(out.with_suffix(".csv").read_text().splitlines()) == 62
    assert_nonblank(png)
    r = invoke("sweep", GAMES / "scalar.yaml", "--param", "lam=0:1:3", "-o", tmp_path / "j.json", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["rows"][2]["lam"] == 1.0


def test_sweep_figure_data(scalar_sweep):
    from sgncert.plots import sweep_figure

    fig, data = sweep_figure(scalar_sweep[0])
    assert data["sgn_boundary"] == pytest.approx(math.sqrt(2), abs=1e-6)
    assert data["euclidean_boundary"] == pytest.approx(1 / 5.025, abs=1e-6)
    assert data["alpha_true"][24] == pytest.approx(0.292893, abs=1e-6)


def test_two_parameter_sweep_heatmap(tmp_path):
    png = tmp_path / "grid.png"
    r = invoke(
        "sweep",
        GAMES / "scalar.yaml",
        "--param",
        "lam=0:2:4",
        "--param",
        "b=0.01:0.2:3",
        "-o",
        tmp_path / "grid.json",
        "--plot",
        png,
    )
    assert r.exit_code == 0, r.output
    rows = json.loads((tmp_path / "grid.json").read_text())["rows"]
    assert len(rows) == 12 and {"lam", "b"} <= set(rows[0])
    assert [(r["lam"], r["b"]) for r in rows[:4]] == [(0.0, 0.01), (0.0, 0.105), (0.0, 0.2), (2 / 3, 0.01)]
    assert_nonblank(png)


# -------------------------------------------------------------------------------- band
def test_band_data_matches_spec_10():
    from sgncert.plots import band_data

    data = band_data([1.0, 1.0], [[0.0, 10.0], [0.05, 0.0]])
    assert data["band"]["low"] == pytest.approx(34.3146, rel=1e-5)
    assert data["band"]["high"] == pytest.approx(1165.685, rel=1e-5)
    assert data["r_opt"] == pytest.approx(200.0, rel=1e-9)
    assert max(data["alpha_star"]) == pytest.approx(0.292893, abs=1e-6)
    r = np.asarray(data["r"])
    assert r[0] < 34.3146 / 3 and r[-1] > 1165.685 * 3  # margins on both sides of the band
    a = np.asarray(data["alpha_star"])
    assert np.all(a[(r > 34.32) & (r < 1165.6)] > 0) and np.all(a[(r < 34.31) | (r > 1165.7)] < 0)


def test_band_cli_game_and_certificate(tmp_path):
    png = tmp_path / "band.png"
    r = invoke("band", GAMES / "scalar.yaml", "-o", png, "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["band"]["low"] == pytest.approx(34.3146, rel=1e-5)
    assert data["band"]["high"] == pytest.approx(1165.685, rel=1e-5)
    assert data["r_opt"] == pytest.approx(200.0) and data["alpha_opt"] == pytest.approx(0.292893, abs=1e-6)
    # exact game: alpha_true(r) >= alpha_*(r), equal here (scalar blocks)
    assert np.allclose(data["alpha_true"], data["alpha_star"], atol=1e-9)
    assert_nonblank(png)
    png2 = tmp_path / "band_cert.png"
    r = invoke("band", CERTS / "scalar.cert.json", "-o", png2, "--json")
    assert r.exit_code == 0, r.output
    from_cert = json.loads(r.stdout)
    assert from_cert["band"] == data["band"] and from_cert["alpha_true"] == data["alpha_true"]
    assert png2.read_bytes() == png.read_bytes()  # same game, same figure


def test_alpha_true_curve_lq64_blocks():
    """alpha_true(r) of the 64-dim LQ game (blocks of 32) peaks at r = 200 with tau (the reference values)."""
    from scipy.stats import ortho_group

    from sgncert.plots import alpha_true_curve

    R = ortho_group.rvs(32, random_state=np.random.default_rng(0))
    eye = np.eye(32)
    H = np.block([[eye, 10.0 * R], [0.05 * R.T, eye]])
    r = np.array([34.3146, 100.0, 200.0, 400.0, 1165.685])
    a = alpha_true_curve(H, (32, 32), r)
    assert a[2] == pytest.approx(1 - SQRT_HALF, abs=1e-9)
    assert np.all(a[[1, 3]] < a[2]) and np.allclose(a[[0, 4]], 0.0, atol=1e-5)


def test_band_alpha_option():
    from sgncert.plots import band_data

    data = band_data([1.0, 1.0], [[0.0, 10.0], [0.05, 0.0]], alpha=0.1)
    r, a = np.asarray(data["r"]), np.asarray(data["alpha_star"])
    lo, hi = data["band"]["low"], data["band"]["high"]
    assert np.interp(math.log(lo), np.log(r), a) == pytest.approx(0.1, abs=1e-4)
    assert np.interp(math.log(hi), np.log(r), a) == pytest.approx(0.1, abs=1e-4)


def test_band_three_players(tmp_path):
    png = tmp_path / "band3.png"
    r = invoke("band", CERTS / "three_player.cert.json", "-o", png, "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    cert = json.loads((CERTS / "three_player.cert.json").read_text())
    assert [(p["i"], p["j"]) for p in data["pairs"]] == [(0, 1), (0, 2), (1, 2)]
    for p, b in zip(data["pairs"], cert["band"]):
        assert p["low"] == b["low"] and p["high"] == b["high"]
        assert p["low"] < p["chosen"] < p["high"]
    assert_nonblank(png)


def test_figures_are_deterministic(tmp_path):
    from sgncert.plots import band_data, band_figure, save_figure

    a, b = tmp_path / "a.png", tmp_path / "b.png"
    for target in (a, b):
        save_figure(band_figure(band_data([1.0, 1.0], [[0.0, 10.0], [0.05, 0.0]]))[0], target)
    assert a.read_bytes() == b.read_bytes()
    assert b"Software" not in a.read_bytes()[:2000]


# ------------------------------------------------------------------------------- phase
def test_phase_data_thresholds():
    from sgncert.games.spec import load_game
    from sgncert.plots import phase_data

    data = phase_data(load_game(GAMES / "scalar.yaml"), "lam=0:2.5:61")
    k = data["x"].index(1.0)
    assert data["euler_stability"][k] == pytest.approx(1.171573, abs=1e-4)
    assert data["rk4_stability"][k] == pytest.approx(1.631587, abs=1e-4)
    assert data["euler_max"][k] == pytest.approx(0.201010, abs=1e-6)
    # the heatmap agrees with the thresholds: rho < 1 just below, > 1 just above
    h = np.asarray(data["h"])
    for key in ("euler", "rk4"):
        rho = np.asarray(data[f"{key}_rho"])[k]
        thr = data[f"{key}_stability"][k]
        assert np.all(rho[(h > 0) & (h < thr - 1e-3)] < 1) and np.all(rho[h > thr + 1e-3] > 1)
    # past sqrt(2) an eigenvalue is negative: no stable step, nothing certified
    assert data["euler_stability"][-1] == 0.0 and data["euler_max"][-1] == 0.0


def test_phase_cli(tmp_path):
    png = tmp_path / "phase.png"
    r = invoke("plot", "phase", GAMES / "scalar.yaml", "--param", "lam=0:2.5:11", "--h-points", "64", "-o", png)
    assert r.exit_code == 0, r.output
    assert_nonblank(png)
    r = invoke("plot", "phase", GAMES / "logistic_duel.yaml", "--param", "lam=0:1:3", "-o", tmp_path / "x.png")
    assert r.exit_code == 2 and "affine" in r.stderr and not (tmp_path / "x.png").exists()


# -------------------------------------------------------------------------------- flow
def test_flow_scalar_euclidean_grows_metric_contracts(tmp_path):
    from sgncert.plots import flow_data, flow_figure, save_figure

    doc = json.loads((CERTS / "scalar.cert.json").read_text())
    data = flow_data(doc, CERTS)
    t = np.asarray(data["t"])
    m = np.asarray(data["m_ratio"])
    assert np.all(m <= np.exp(-data["alpha"] * t)[None, :] * (1 + 1e-6) + 1e-12)  # the certified bound
    assert data["max_euclidean_ratio"] > 3.0  # the Euclidean distance triples first
    assert data["claims"]["within_bound"] and data["claims"]["m_grows"] == 0
    assert data["titles"]["portrait"] == (
        f"Euclidean distance grows on {data['claims']['euclidean_grows']} of 8 (up to ×3.19);\n"
        "$M(w)$-distance never exceeds its start (all 8)"
    )
    assert data["invariant"] and data["geometry"] == "euclidean"
    assert data["plane"] == "state" and data["stream"] is not None
    path = np.asarray(data["path"])  # every trajectory stays in the invariant M-ellipse
    a, b = data["ellipse_axes"]
    assert np.all((path[..., 0] / a) ** 2 + (path[..., 1] / b) ** 2 <= 1 + 1e-9)
    png = tmp_path / "flow.png"
    save_figure(flow_figure(data)[0], png)
    assert_nonblank(png)


def test_flow_cli_lq64(tmp_path):
    png = tmp_path / "flow64.png"
    r = invoke("plot", "flow", CERTS / "lq64.cert.json", "-o", png, "--starts", "3", "--time", "6")
    assert r.exit_code == 0, r.output
    assert "max ||x(t)-x*||_M / ||x(0)-x*||_M = 1" in r.stdout
    assert_nonblank(png)


def test_flow_rejects_tampered_certificate(tmp_path):
    doc = json.loads((CERTS / "scalar.cert.json").read_text())
    doc["game"]["spec"]["params"]["lam"] = 0.5  # no longer hashes to game.sha256
    bad = tmp_path / "bad.cert.json"
    bad.write_text(json.dumps(doc))
    r = invoke("plot", "flow", bad, "-o", tmp_path / "f.png")
    assert r.exit_code == 2 and "sha256" in r.stderr


def test_bad_output_paths_fail_before_any_work(tmp_path):
    r = invoke("sweep", GAMES / "scalar.yaml", "--param", "lam=0:1:3", "-o", tmp_path / "s.csv")
    assert r.exit_code == 2 and "JSON" in r.stderr
    r = invoke("sweep", GAMES / "scalar.yaml", "--param", "lam=0:1:3", "-o", tmp_path / "no" / "s.json")
    assert r.exit_code == 2 and "does not exist" in r.stderr
    r = invoke("band", GAMES / "scalar.yaml", "-o", tmp_path / "band.jpg")
    assert r.exit_code == 2 and ".png" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_flow_of_a_one_player_game(tmp_path):
    """A one-dimensional state is drawn on a line (it used to raise IndexError, exit 3)."""
    from click.testing import CliRunner

    from sgncert.cli import main

    (tmp_path / "one.yaml").write_text(
        "sgncert: 1\nplayers: [{name: x, dim: 1}]\ncosts: {x: '0.5 * x @ x + 0.2 * sum(logcosh(x))'}\n"
        "region: {center: equilibrium, radius: 1.0}\nsampling: {samples: 16}\n"
    )
    runner = CliRunner()
    assert runner.invoke(main, ["certify", str(tmp_path / "one.yaml"), "--no-tight"]).exit_code == 0
    r = runner.invoke(main, ["plot", "flow", str(tmp_path / "one.cert.json"), "-o", str(tmp_path / "f.png")])
    assert r.exit_code == 0, r.output
    from sgncert.plots import nonblank_fraction

    assert nonblank_fraction(tmp_path / "f.png") > 0.02
