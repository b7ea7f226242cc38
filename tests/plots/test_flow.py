"""The flow figure: every bundled certificate (Fisher ones included), the natural-gradient
dynamics and metric of the Fisher geometry, and titles that say only what the data shows."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import ROOT

from .test_figures import assert_nonblank, invoke

CERTS = ROOT / "certificates"
CERT_FILES = sorted(CERTS.glob("*.cert.json"))
STEM = [p.name.removesuffix(".cert.json") for p in CERT_FILES]
STARTS = 4


def is_fisher(doc: dict) -> bool:
    return (doc.get("geometry") or {}).get("kind") == "fisher"


def fisher_metric_norm(game, x_star, delta, weights) -> float:
    """sqrt(sum_i w_i delta_i^T G_i(theta*) delta_i), G_i from the softmax policies directly
    (blockdiag over states of diag(pi) - pi pi^T): independent of the Fisher frame E."""
    model = game.extras["model"]
    S = model.states
    total = 0.0
    for player, a, w in zip(game.players, model.actions, weights):
        theta = np.asarray(x_star)[player.slice].reshape(S, a)
        d = np.asarray(delta)[player.slice].reshape(S, a)
        pi = np.exp(theta - theta.max(axis=1, keepdims=True))
        pi /= pi.sum(axis=1, keepdims=True)
        for s in range(S):
            G = np.diag(pi[s]) - np.outer(pi[s], pi[s])
            total += w * float(d[s] @ G @ d[s])
    return math.sqrt(total)


@pytest.fixture(scope="module")
def flows():
    """flow_data of a bundled certificate with STARTS starts, computed once per module."""
    from sgncert.cert.rebuild import game_from_certificate
    from sgncert.plots import flow_data

    cache: dict = {}

    def get(path):
        if path not in cache:
            doc = json.loads(path.read_text())
            game = game_from_certificate(doc, path.parent)
            cache[path] = (doc, game, flow_data(doc, path.parent, starts=STARTS, game=game))
        return cache[path]

    return get


def test_bundled_fisher_certificates_are_covered():
    fisher = {p.name.removesuffix(".cert.json") for p in CERT_FILES if is_fisher(json.loads(p.read_text()))}
    assert {"markov_coordination", "markov_general_sum", "rps", "three_firms"} <= fisher
    assert len(fisher) < len(CERT_FILES)  # Euclidean ones too


# --------------------------------------------------------------------- every certificate
# the command on one certificate of each kind (the figure itself is drawn for every certificate below)
CLI_KINDS = ("markov_general_sum", "three_firms", "logistic_duel")


@pytest.mark.parametrize("path", [CERTS / f"{k}.cert.json" for k in CLI_KINDS], ids=CLI_KINDS)
def test_plot_flow_cli(path, tmp_path):
    """Through the command (it used to exit 3 on every Fisher certificate): Markov, .nfg, sampled Euclidean."""
    png = tmp_path / "flow.png"
    r = invoke("plot", "flow", path, "-o", png, "--starts", "3")
    assert r.exit_code == 0, r.output
    assert f"figure written to {png}" in r.stdout
    doc = json.loads(path.read_text())
    v = "theta" if is_fisher(doc) else "x"
    assert f"max ||{v}(t)-{v}*||_M / ||{v}(0)-{v}*||_M = " in r.stdout
    assert_nonblank(png)


@pytest.mark.parametrize("path", CERT_FILES, ids=STEM)
def test_flow_data_and_figure_every_certificate(path, flows):
    from sgncert.plots.flow import CLAIM_ATOL, CLAIM_RTOL, flow_claims, flow_figure, flow_titles

    doc, game, data = flows(path)
    fisher = is_fisher(doc)
    assert data["geometry"] == ("fisher" if fisher else "euclidean")
    assert data["metric_dim"] == sum(game.metric_block_sizes)
    t = np.asarray(data["t"])
    er, mr = np.asarray(data["euclidean_ratio"]), np.asarray(data["m_ratio"])
    assert er.shape == mr.shape == (STARTS, t.size) and np.all(np.isfinite(er)) and np.all(np.isfinite(mr))
    assert np.allclose(er[:, 0], 1.0) and np.allclose(mr[:, 0], 1.0)

    # the starts lie on one M(w)-sphere, measured here without the plotting code's frames
    X0, x_star = np.asarray(data["starts"]), np.asarray(data["x_star"])
    w = doc["metric"]["weights"]
    for x0 in X0:
        delta = x0 - x_star
        if fisher:
            norm = fisher_metric_norm(game, x_star, delta, w)
        else:
            norm = math.sqrt(sum(wi * float(delta[p.slice] @ delta[p.slice]) for p, wi in zip(game.players, w)))
        assert norm == pytest.approx(data["radius_M"], rel=1e-9)
    if fisher:  # no invariant ball is certified there: the starts are chosen inside the region
        c, R = np.asarray(doc["region"]["center"]), doc["region"]["radius"]
        assert data["starts_in_region"] and np.all(np.abs(X0 - c) <= R * (1 + 1e-9))
        # gauge-free displacements: no component along any (player, state) all-ones direction
        B = np.asarray(game.gauge)
        assert np.allclose(B @ (B.T @ (X0 - x_star).T), (X0 - x_star).T, atol=1e-12)
        assert not data["invariant"]
    else:
        assert data["invariant"] == bool(doc["certified"] and (doc.get("invariant_ball") or {}).get("radius_M"))

    # the claims are those of the plotted ratios, and the figure's texts are built from them
    level = 1 + CLAIM_RTOL + CLAIM_ATOL
    claims = data["claims"]
    assert claims["euclidean_grows"] == int(np.sum(np.max(er, axis=1) > level))
    assert claims["m_grows"] == int(np.sum(np.max(mr, axis=1) > level))
    assert claims["euclidean_max"] == pytest.approx(float(np.max(er)))
    titles = flow_titles(flow_claims(t, er, mr, data["alpha"]), fisher=fisher, certified=data["certified"])
    assert data["titles"] == titles
    if data["alpha"]:
        inside = bool(np.all(mr <= np.exp(-data["alpha"] * t) * (1 + CLAIM_RTOL) + CLAIM_ATOL))
        assert claims["within_bound"] is inside
        if not fisher:  # proved for the flow in M(w) (docs/theory.md §3); Fisher: a linearisation
            assert inside
        assert claims["m_final"] < 1.0  # the certified dynamics contract
    fig, _ = flow_figure(data)
    assert fig.axes[1].get_title() == titles["portrait"]
    texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    assert not any(word in text for text in texts for word in ("escapes", "trapped"))
    if titles["bound"]:
        assert any(titles["bound"] in text for text in texts)


def test_flow_titles_match_the_logistic_duel_data(flows):
    """The bug report: its Euclidean distance never grows, and the figure must not say it escapes."""
    _, _, data = flows(CERTS / "logistic_duel.cert.json")
    er = np.asarray(data["euclidean_ratio"])
    assert np.max(er) <= 1.0 + 1e-9
    assert data["claims"]["euclidean_grows"] == 0 and data["titles"]["peak"] is None
    assert data["titles"]["portrait"].startswith("Euclidean distance never exceeds its start")
    _, _, scalar = flows(CERTS / "scalar.cert.json")  # ... while the scalar game's does
    assert scalar["claims"]["first_euclidean_grows"] and scalar["max_euclidean_ratio"] > 3.0
    assert "Euclidean distance grows" in scalar["titles"]["portrait"]
    assert "never exceeds" in scalar["titles"]["portrait"].split("\n")[1]  # its M(w)-distance


# ----------------------------------------------------------------------- claims, titles
T = np.linspace(0.0, 5.0, 101)


def test_claims_when_the_euclidean_distance_grows():
    from sgncert.plots.flow import flow_claims, flow_titles

    decay = np.exp(-T)
    bump = np.exp(-0.5 * T) * (1 + 2 * T)  # up to 4 e^-0.75 = 1.889 at t = 1.5 (a grid point)
    c = flow_claims(T, [bump, decay], [decay, 0.5 * decay + 0.5 * np.exp(-2 * T)], alpha=0.9)
    assert c["euclidean_grows"] == 1 and c["first_euclidean_grows"] and c["m_grows"] == 0
    assert c["euclidean_max"] == pytest.approx(4 * math.exp(-0.75), rel=1e-12)
    assert c["within_bound"] is True
    titles = flow_titles(c)
    assert titles["portrait"] == (
        "Euclidean distance grows on 1 of 2 (up to ×1.89);\n$M(w)$-distance never exceeds its start (all 2)"
    )
    assert titles["peak"] == "Euclidean distance grows to ×1.89 of its start"
    assert titles["bound"] == "all 2 $M(w)$-ratios stay below it"


def test_claims_when_no_distance_grows():
    from sgncert.plots.flow import flow_claims, flow_titles

    decay = np.exp(-T)
    c = flow_claims(T, [decay, decay**2], [decay, decay], alpha=None)
    assert c["euclidean_grows"] == c["m_grows"] == 0 and c["within_bound"] is None
    titles = flow_titles(c, fisher=True, certified=False)
    assert titles["portrait"] == (
        "Logit distance never exceeds its start (all 2);\n$M(w)$-distance never exceeds its start (all 2) (not certified)"
    )
    assert titles["peak"] is None and titles["bound"] is None


def test_claims_when_the_metric_distance_grows_past_the_bound():
    from sgncert.plots.flow import flow_claims, flow_titles

    slow = np.exp(-0.5 * T) * (1 + T)  # exceeds its start, and e^{-t} by e^{0.5 t}(1 + t)
    c = flow_claims(T, [slow], [slow], alpha=1.0)
    assert c["m_grows"] == 1 and c["within_bound"] is False
    assert c["bound_excess"] == pytest.approx(math.exp(2.5) * 6, rel=1e-9)  # at t = 5
    titles = flow_titles(c)
    assert "$M(w)$-distance grows (up to ×" in titles["portrait"]
    assert titles["bound"].startswith("$M(w)$-ratio exceeds it (up to ×")


def test_claims_ignore_rounding_but_not_small_growth():
    from sgncert.plots.flow import flow_claims, flow_titles

    flat = np.ones_like(T)
    c = flow_claims(T, [flat * (1 + 1e-13)], [flat], alpha=None)
    assert c["euclidean_grows"] == 0  # rounding of x - x*, not growth
    c = flow_claims(T, [flat * 1.003], [flat], alpha=None)
    assert c["euclidean_grows"] == 1
    assert "(up to ×1.003)" in flow_titles(c)["portrait"]  # not "×1"


def test_claims_check_shapes():
    from sgncert.plots.flow import flow_claims

    with pytest.raises(ValueError, match="do not match"):
        flow_claims(T, np.ones((2, T.size)), np.ones((3, T.size)))


# ------------------------------------------------------------------- Fisher dynamics
def test_natural_gradient_field_is_the_fisher_pseudo_inverse():
    """G^+ F in closed form (per state: project F/pi off the all-ones vector) equals the
    quotient pseudo-inverse E E^T F of sgncert.games.markov, on a Markov and a normal-form game."""
    import jax

    from sgncert.cert.rebuild import game_from_certificate
    from sgncert.games.markov import natural_gradient
    from sgncert.plots.flow import batched_natural_field, natural_gradient_field
    from sgncert.util.jaxenv import jax_scope

    for name in ("markov_general_sum", "rps"):
        doc = json.loads((CERTS / f"{name}.cert.json").read_text())
        game = game_from_certificate(doc, CERTS)
        X = np.asarray(doc["region"]["center"]) + 0.5 * np.random.default_rng(3).standard_normal((6, game.dim))
        with jax_scope():
            mine = batched_natural_field(game, natural_gradient_field(game))(X)
            F = jax.jit(jax.vmap(game.pseudo_gradient, in_axes=(0, None)))
            offsets = tuple(p.offset for p in game.players)
            ref = natural_gradient(game.extras["model"], offsets, F)(X, game.jax_params())
            plain = np.asarray(F(X, game.jax_params()))
        assert np.max(np.abs(ref)) > 1e-2
        np.testing.assert_allclose(mine, ref, rtol=1e-10, atol=1e-13)
        assert not np.allclose(mine, plain, atol=1e-3)  # the natural gradient, not the plain one


def test_fisher_geometry_jacobian_and_frame():
    """A = G^+ J at the equilibrium (central differences against the exact Jacobian), and
    the frame maps gauge-free displacements to the metric space and back."""
    from sgncert.analysis.constants import value_and_jacobian
    from sgncert.cert.rebuild import game_from_certificate
    from sgncert.plots.flow import fisher_geometry
    from sgncert.util.jaxenv import jax_scope

    doc = json.loads((CERTS / "three_firms.cert.json").read_text())
    game = game_from_certificate(doc, CERTS)
    with jax_scope():
        geo, x_star, source = fisher_geometry(game, np.asarray(doc["region"]["center"]))
        _, J = value_and_jacobian(game, x_star)
    E = game.transform(x_star)
    np.testing.assert_allclose(geo.A, E @ E.T @ J, atol=1e-8)
    assert geo.kind == "fisher" and source == "region centre"
    assert geo.to_metric.shape == (sum(game.metric_block_sizes), game.dim)
    B = np.asarray(game.gauge)
    np.testing.assert_allclose(geo.from_metric @ geo.to_metric @ B, B, atol=1e-12)  # identity on gauge-free


def test_fisher_flow_of_a_two_dimensional_metric_space(tmp_path):
    """2 x 2 matching pennies: a 2-D reduced space, drawn in its plane with stream lines; the
    document is not certified (only the fields the figure reads), so no rate is drawn."""
    from sgncert.games.spec import load_game
    from sgncert.plots import flow_data, flow_figure, save_figure

    (tmp_path / "mp.yaml").write_text(
        "sgncert: 1\nname: pennies\nparams:\n  A: [[1, -1], [-1, 1]]\n"
        "normal_form:\n  payoffs: {row: 'A', col: '-A'}\n  entropy: 1.0\n"
        "region: {center: [0, 0, 0, 0], radius: 0.3, norm: inf}\n"
    )
    game = load_game(tmp_path / "mp.yaml")
    doc = {
        "certified": False,
        "sgn": {"margin": None},
        "metric": {"weights": [1.0, 2.0]},
        "region": {"center": [0.0] * 4, "radius": 0.3, "norm": "inf"},
        "constants": {"mu": [1.0, 1.0]},
    }
    data = flow_data(doc, tmp_path, starts=6, t_max=4.0, game=game)
    assert data["geometry"] == "fisher" and data["metric_dim"] == 2 and data["plane"] == "state"
    assert data["stream"] is not None and not data["projection"] and data["alpha"] is None
    assert data["x_star_source"] == "region centre"  # uniform play is the equilibrium
    path = np.asarray(data["path"])  # metric coordinates: the starts are on the ellipse
    a, b = data["ellipse_axes"]
    assert a == pytest.approx(b * math.sqrt(2.0)) and b < a
    assert np.allclose((path[:, 0, 0] / a) ** 2 + (path[:, 0, 1] / b) ** 2, 1.0)
    assert data["titles"]["bound"] is None and data["titles"]["portrait"].endswith("(not certified)")
    fig, _ = flow_figure(data)
    assert len(fig.axes[0].get_lines()) == 2 * 6 + 1  # the ratios and the level 1, no exp(-alpha t)
    png = tmp_path / "f.png"
    save_figure(fig, png)
    assert_nonblank(png)


# ---------------------------------------------------------------------------------- help
def test_plot_help_describes_what_is_drawn():
    r = invoke("plot", "flow", "--help")
    assert r.exit_code == 0
    text = " ".join(r.stdout.split())
    assert "first coordinate of each" not in text  # the old text described a projection never drawn
    for phrase in (
        "natural-gradient flow",
        "M = blockdiag(w_i G_i(theta*))",
        "first two players' distances",
        "w_1 a^2 + w_2 b^2 <= r^2",
        "Euclidean circle through the first start",
    ):
        assert phrase in text, phrase
    r = invoke("plot", "phase", "--help")
    assert r.exit_code == 0 and "spectral radius of the Euler map I - hH" in " ".join(r.stdout.split())
