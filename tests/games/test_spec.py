"""Spec loading: params generators, overrides, affine detection, regions and samplers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import GAMES
from sgncert.analysis.sampling import sample_region
from sgncert.errors import SpecError
from sgncert.games.model import Region, Sampling
from sgncert.games.params import random_orthogonal, resolve_params
from sgncert.games.spec import game_from_dict, load_game

BASE = {"sgncert": 1, "players": [{"name": "x", "dim": 2}, {"name": "y", "dim": 1}]}


def test_param_generators(tmp_path):
    np.save(tmp_path / "B.npy", np.arange(6.0).reshape(2, 3))
    values, hashes = resolve_params(
        {
            "a": 2,
            "M": [[1, 2], [3, 4]],
            "I": {"eye": 3},
            "B": {"file": "B.npy"},
            "Q": {"random_orthogonal": 5, "seed": 3},
            "G": {"random_normal": [4, 2], "seed": 1, "scale": 0.1},
        },
        tmp_path,
        "spec: params",
    )
    assert values["a"].shape == () and values["a"] == 2.0
    assert np.array_equal(values["I"], np.eye(3))
    assert np.array_equal(values["B"], np.arange(6.0).reshape(2, 3)) and "B.npy" in hashes
    np.testing.assert_allclose(values["Q"] @ values["Q"].T, np.eye(5), atol=1e-12)
    assert np.array_equal(values["Q"], random_orthogonal(5, 3))
    np.testing.assert_allclose(values["G"], 0.1 * np.random.default_rng(1).standard_normal((4, 2)))


@pytest.mark.parametrize(
    "bad, needle",
    [
        ({"a": {"eye": 0}}, "positive integer"),
        ({"a": {"random_orthogonal": 3, "sed": 1}}, "did you mean 'seed'"),
        ({"a": [[1, 2], [3]]}, "rectangular"),
        ({"a": "x"}, "expected a number"),
        ({"a": {"file": "missing.npy"}}, "cannot read"),
        ({"1a": 1}, "identifier"),
    ],
)
def test_bad_params(tmp_path, bad, needle):
    with pytest.raises(SpecError, match=needle):
        resolve_params(bad, tmp_path, "spec: params")


def test_affine_detection_by_degree():
    quad = dict(BASE, costs={"x": "0.5 * x @ x + x @ (eye(2)[:, 0:1] @ y)", "y": "(y @ y) * 2 + y[0] * x[1]"})
    assert game_from_dict(quad, Path(".")).affine
    cubic = dict(BASE, costs={"x": "0.5 * x @ x + sum(x ** 3)", "y": "y @ y"})
    assert not game_from_dict(cubic, Path(".")).affine
    smooth = dict(BASE, costs={"x": "sum(logcosh(x))", "y": "y @ y"})
    assert not game_from_dict(smooth, Path(".")).affine


def test_overrides_change_the_hash_and_the_canonical_spec():
    a = load_game(GAMES / "scalar.yaml")
    b = load_game(GAMES / "scalar.yaml", ["lam=0.5"])
    assert a.sha256 != b.sha256 and b.canonical["params"]["lam"] == 0.5
    c = load_game(GAMES / "scalar.yaml", samples=17, seed=3)
    assert c.canonical["sampling"] == {"method": "sobol", "samples": 17, "seed": 3}
    # the canonical spec reloads to the same game
    assert game_from_dict(b.canonical, GAMES).sha256 == b.sha256


@pytest.mark.parametrize("method", ["sobol", "random", "grid", "vertices"])
@pytest.mark.parametrize("norm", ["inf", "2"])
def test_samplers_stay_in_region_and_include_centre(method, norm):
    if method == "grid" and norm == "2":
        pytest.skip("grid needs a box")
    c = np.array([0.5, -1.0, 2.0])
    region = Region(c, 0.3, norm, None)
    pts = sample_region(region, Sampling(method, 64, 5))
    assert np.array_equal(pts[0], c)
    dist = np.abs(pts - c).max(axis=1) if norm == "inf" else np.linalg.norm(pts - c, axis=1)
    assert np.all(dist <= 0.3 + 1e-12)
    expected = {"sobol": 65, "random": 65, "grid": 4**3 + 1, "vertices": (9 if norm == "inf" else 7)}[method]
    assert len(pts) == expected
    again = sample_region(region, Sampling(method, 64, 5))
    assert np.array_equal(pts, again)  # seeded
    if method in ("sobol", "random"):
        assert not np.array_equal(pts, sample_region(region, Sampling(method, 64, 6)))
    if method == "vertices" and norm == "inf":
        assert np.allclose(np.abs(pts[1:] - c), 0.3)


def test_equilibrium_centre_is_solved():
    from sgncert.analysis.certify import certify
    from sgncert.analysis.constants import value_and_jacobian

    g = load_game(GAMES / "logistic_duel.yaml", samples=64)
    c = certify(g)
    F, _ = value_and_jacobian(g, c.center)
    assert np.linalg.norm(F) < 1e-10 and c.equilibrium.residual < 1e-10
    assert np.linalg.norm(c.center) > 1e-3  # a real shift from the origin
