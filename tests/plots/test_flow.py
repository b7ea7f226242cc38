"""The flow figure: every bundled certificate (Fisher ones included), the natural-gradient
dynamics and metric of the Fisher geometry, and titles that say only what the data shows."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from conftest import GAMES, ROOT

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
    # (constrained games: in the M-ball of the certified step's weights and in X)
    X0, x_star = np.asarray(data["starts"]), np.asarray(data["x_star"])
    constrained = game.constrained
    # unconstrained: the metric of the invariant ball (the proof the equilibrium section names)
    eq_w = (doc.get("equilibrium") or {}).get("weights") or doc["metric"]["weights"]
    w = doc["verdict"]["best"]["steps"]["euler"]["weights"] if constrained else eq_w
    for x0 in X0:
        delta = x0 - x_star
        if fisher:
            norm = fisher_metric_norm(game, x_star, delta, w)
        else:
            norm = math.sqrt(sum(wi * float(delta[p.slice] @ delta[p.slice]) for p, wi in zip(game.players, w)))
        if constrained:
            assert 0 < norm <= data["radius_M"] * (1 + 1e-12)
        else:
            assert norm == pytest.approx(data["radius_M"], rel=1e-9)
    if constrained:
        assert data["dynamics"] == "projected Euler" and np.all(game.sets.contains(X0, tol=1e-12))
        assert data["invariant"] == bool(doc["certified"])
    elif fisher:  # no invariant ball is certified there: the starts are chosen inside the region
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
    if constrained:
        bound = data["step_bound"]
        titles = flow_titles(
            flow_claims(t, er, mr, step_bound=bound), certified=data["certified"], step=data["step"]["h"]
        )
        assert bound is not None and claims["within_step_bound"] and claims["m_final"] < 1.0
    else:
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


# ------------------------------------------------------------- constrained: projected Euler
# two scalar players on boxes, F = (2x + y - 3, 2y - x + 0.5): J = 2 I + skew, so sym J = 2 I and
# ||I - hJ|| = sqrt(1 - 4h + 5h^2) for every vector. The unconstrained root (1.3, 0.4) lies outside
# x <= 1: the equilibrium is x* = (1, 1/4) on the edge x = 1 (F_x(x*) = -3/4 < 0 pushes against it)
BOX_DUEL = {
    "sgncert": 1,
    "name": "box-duel",
    "params": {},
    "players": [
        {"name": "x", "dim": 1, "set": {"box": {"low": 0, "high": 1}}},
        {"name": "y", "dim": 1, "set": {"box": {"low": -1, "high": 1}}},
    ],
    "costs": {
        "x": "sum(x) * sum(x) + sum(x) * sum(y) - 3 * sum(x)",
        "y": "sum(y) * sum(y) - sum(x) * sum(y) + 0.5 * sum(y)",
    },
    "region": {"center": "equilibrium", "radius": 0.5, "norm": "inf"},
}
CONSTRAINED = ("box_duel", "cournot")
X_STAR = {"box_duel": [1.0, 0.25], "cournot": [2.0, 7 / 3, 4 / 3]}  # closed forms (cournot.yaml)


@pytest.fixture(scope="module")
def constrained(tmp_path_factory):
    """(certificate path, document, game, flow_data) of the box duel and of games/cournot.yaml,
    certified here (as `sgncert certify` does) and written next to each other."""
    from sgncert import build_certificate, certify, game_from_dict, load_game
    from sgncert.cert.build import dumps
    from sgncert.plots import flow_data

    folder = tmp_path_factory.mktemp("constrained")
    games = {"box_duel": game_from_dict(BOX_DUEL, folder), "cournot": load_game(GAMES / "cournot.yaml")}
    out = {}
    for name, game in games.items():
        doc = json.loads(dumps(build_certificate(certify(game, bands=False), created="t")))
        path = folder / f"{name}.cert.json"
        path.write_text(json.dumps(doc))
        out[name] = (path, doc, game, flow_data(doc, folder, starts=8, game=game))
    return out


def certified_step(doc: dict) -> tuple[float, float]:
    """(h, factor) of the verdict's projected-Euler step, from the document alone: h and its
    factor when attained; else 0.99 h and sqrt(1 - 2 h a + h^2 b^2) of the step's proof."""
    st = doc["verdict"]["best"]["steps"]["euler"]
    if st["attained"]:
        return st["h"], st["factor"]
    proof = next(p for p in doc["verdict"]["proofs"] if p["method"] == st["proof"])
    h = 0.99 * st["h"]
    return h, math.sqrt(1 - 2 * h * proof["rate"] + (h * proof["beta"]) ** 2)


@pytest.mark.parametrize("name", CONSTRAINED)
def test_projected_euler_stays_in_X_and_below_the_certified_bound(name, constrained):
    from sgncert.analysis.constants import value_and_jacobian

    _, doc, game, data = constrained[name]
    assert doc["certified"] and game.constrained
    assert data["dynamics"] == "projected Euler" and data["alpha"] is None
    x_star = np.asarray(data["x_star"])
    np.testing.assert_allclose(x_star, X_STAR[name], atol=1e-12)  # on the boundary of X
    F_star, _ = value_and_jacobian(game, x_star)
    assert abs(F_star[0]) > 0.5  # F does not vanish there: a variational inequality, not a root

    # the step and factor of the verdict, recomputed from the document
    h, factor = certified_step(doc)
    assert data["step"]["h"] == pytest.approx(h, rel=1e-15)
    assert data["step"]["factor"] == pytest.approx(factor, rel=1e-12) and factor < 1
    if name == "box_duel":  # the Euclidean proof's open bound 2 gamma / beta^2 = 4/5, iterated at 0.99 x 4/5
        assert not doc["verdict"]["best"]["steps"]["euler"]["attained"] and data["step"]["open_bound"]
        assert h == pytest.approx(0.792, rel=1e-12) and factor == pytest.approx(math.sqrt(1 - 4 * h + 5 * h * h))

    # every start and every iterate lies in X; the starts in the M-ball of the step's weights
    X = np.asarray(data["iterates"])  # starts x (k + 1) x d
    K = data["iterations"]
    assert X.shape == (8, K + 1, game.dim) and K >= 20
    assert np.all(game.sets.contains(X, tol=1e-12))
    np.testing.assert_array_equal(X[:, 0], np.asarray(data["starts"]))
    w = np.asarray(doc["verdict"]["best"]["steps"]["euler"]["weights"])
    s = np.concatenate([np.full(p.dim, math.sqrt(wi)) for p, wi in zip(game.players, w)])
    d_M = np.linalg.norm(s * (X - x_star), axis=2)
    assert np.all(d_M[:, 0] <= data["radius_M"] * (1 + 1e-12)) and np.all(d_M[:, 0] > 0)
    assert data["radius_M"] == doc["invariant_ball"]["radius_M"]

    # the iterates are projected Euler at h: x_{k+1} = P_X(x_k - h F(x_k))
    for k in (0, 1, K - 1):
        for b in range(X.shape[0]):
            F, _ = value_and_jacobian(game, X[b, k])
            np.testing.assert_allclose(X[b, k + 1], game.sets.project(X[b, k] - h * F), rtol=0, atol=1e-13)

    # the plotted M-ratios: those recomputed here, never above factor^k, and below 1 at the end
    mr = np.asarray(data["m_ratio"])
    np.testing.assert_allclose(mr, d_M / d_M[:, :1], rtol=1e-12, atol=0)
    bound = factor ** np.asarray(data["k"], dtype=float)
    np.testing.assert_allclose(data["step_bound"], bound, rtol=1e-12)
    assert np.all(mr <= bound * (1 + 1e-9) + 1e-12)
    assert np.max(mr[:, -1]) < 1.0 and np.max(mr[:, -1]) <= 1e-9  # the default horizon: down to 1e-9
    np.testing.assert_allclose(data["t"], h * np.arange(K + 1))
    claims = data["claims"]
    assert claims["within_step_bound"] is True and claims["within_bound"] is None
    assert claims["m_final"] < 1.0 and claims["m_grows"] == 0


def test_projected_flow_figure_of_a_2d_game_draws_the_box(constrained):
    """Two scalar players: the iterates in the state plane, with the edges of the box X (clipped to
    the window) through x*, the set shaded, and titles built from the plotted data."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    from sgncert.plots import flow_figure
    from sgncert.plots.flow import flow_claims, flow_titles

    _, doc, game, data = constrained["box_duel"]
    assert data["plane"] == "state" and not data["projection"] and data["stream"] is None
    outline = data["set_boundary"]
    assert outline is not None and outline["fill"]["kind"] == "rect" and outline["text"] == "x ∈ [0, 1], y ∈ [-1, 1]"
    titles = flow_titles(
        flow_claims(data["t"], data["euclidean_ratio"], data["m_ratio"], step_bound=data["step_bound"]),
        step=data["step"]["h"],
    )
    assert data["titles"] == titles
    assert titles["portrait"].startswith("Projected Euler iterates, h = 0.792:\n")

    fig, _ = flow_figure(data)
    left, right = fig.axes[0], fig.axes[1]
    assert right.get_title() == titles["portrait"]
    assert left.get_title().startswith("Projected Euler") and "h = 0.792" in left.get_title()
    assert "X" in left.get_title()  # the starts are in the invariant ball intersected with X
    legend = [t.get_text() for t in left.get_legend().get_texts()]
    assert any(
        "certified bound $q^k$, $q$ = 0.984 (euclidean, at 0.99 × its open bound)" in t and titles["bound"] in t
        for t in legend
    )
    assert titles["bound"] == "all 8 $M(w)$-ratios stay below it"

    # the boundary of X: one line, every finite point on an edge of [0, 1] x [-1, 1] and in the window
    lines = [a for a in right.get_lines() if str(a.get_label()).startswith("boundary of $X$")]
    assert len(lines) == 1
    bx, by = (np.asarray(v, dtype=float) for v in lines[0].get_data())
    ok = np.isfinite(bx)
    bx, by = bx[ok], by[ok]
    assert bx.size >= 2
    on_edge = np.isclose(bx, 0) | np.isclose(bx, 1) | np.isclose(by, -1) | np.isclose(by, 1)
    assert np.all(on_edge)
    assert np.all((bx >= -1e-12) & (bx <= 1 + 1e-12) & (by >= -1 - 1e-12) & (by <= 1 + 1e-12))
    (x0, x1), (y0, y1) = right.get_xlim(), right.get_ylim()
    assert np.all((bx >= x0 - 1e-12) & (bx <= x1 + 1e-12) & (by >= y0 - 1e-12) & (by <= y1 + 1e-12))
    # the edge x = 1 through x* = (1, 1/4) spans the window's height within [-1, 1]
    edge = by[np.isclose(bx, 1)]
    assert edge.min() == pytest.approx(max(y0, -1)) and edge.max() == pytest.approx(min(y1, 1))
    assert any(isinstance(p, Rectangle) and p.get_alpha() == pytest.approx(0.10) for p in right.patches)

    # the plotted trajectories are the iterates (in X), starting at the starts
    X = np.asarray(data["iterates"])
    traj = [a for a in right.get_lines() if isinstance(a, Line2D) and len(a.get_xdata()) == X.shape[1]]
    assert len(traj) == X.shape[0]
    for a in traj:
        P = np.stack([np.asarray(a.get_xdata()), np.asarray(a.get_ydata())], axis=1)
        assert np.all(game.sets.contains(P, tol=1e-12))


def test_projected_flow_of_cournot_keeps_the_player_plane(constrained):
    """Three scalar players: the plane of the first two players' distances; no boundary drawn."""
    from sgncert.plots import flow_figure

    _, doc, game, data = constrained["cournot"]
    assert data["plane"] == "player_norms" and data["projection"] and data["set_boundary"] is None
    assert data["step"]["proof"] == doc["verdict"]["best"]["steps"]["euler"]["proof"]
    path, X, x_star = np.asarray(data["path"]), np.asarray(data["iterates"]), np.asarray(data["x_star"])
    np.testing.assert_allclose(path, np.abs(X[:, :, :2] - x_star[:2]), atol=1e-15)
    fig, _ = flow_figure(data)
    assert fig.axes[1].get_title() == data["titles"]["portrait"]
    assert "projected Euler" in fig.axes[1].get_xlabel()


@pytest.mark.parametrize("name", CONSTRAINED)
def test_plot_flow_cli_on_constrained_certificates(name, constrained, tmp_path):
    path, doc, _, _ = constrained[name]
    png = tmp_path / "flow.png"
    r = invoke("plot", "flow", path, "-o", png, "--starts", "3")
    assert r.exit_code == 0, r.output
    assert f"figure written to {png}" in r.stdout
    m = re.search(r"max \|\|x\(t\)-x\*\|\|_M / \|\|x\(0\)-x\*\|\|_M = (\S+)", r.stdout)
    assert m and float(m.group(1)) == 1.0  # the start itself: no iterate is farther from x* in M
    assert "exp(-alpha t)" not in r.stdout  # no flow rate is claimed for projected Euler
    assert_nonblank(png)


def test_projected_flow_horizon_follows_time(constrained):
    from sgncert.plots import flow_data

    path, doc, game, _ = constrained["box_duel"]
    data = flow_data(doc, path.parent, starts=2, t_max=4.0, game=game)
    h = data["step"]["h"]
    assert data["iterations"] == math.ceil(4.0 / h) and data["t"][-1] == pytest.approx(data["iterations"] * h)
    with pytest.raises(Exception, match="projected Euler steps"):
        flow_data(doc, path.parent, starts=2, t_max=1e9, game=game)


def test_projected_step_from_the_verdict():
    """An attained step at h with its factor; an open bound at 0.99 h with the factor of its proof's
    rate and beta (or, without beta, the convexity bound 1 - 0.99 (1 - rho)); nothing certified."""
    from sgncert.plots.flow import projected_step

    J = np.array([[3.0, 0.0], [0.0, 1.0]])

    def doc(step, proofs=(), certified=True):
        best = {"steps": {"euler": step}} if step else {"steps": {}}
        return {
            "certified": certified,
            "metric": {"weights": [1.0, 2.0]},
            "verdict": {"best": best, "proofs": list(proofs)},
        }

    st = projected_step(doc({"h": 0.5, "attained": True, "factor": 0.8, "proof": "lmi", "weights": [1.0, 3.0]}), J)
    assert (st.h, st.factor, st.open_bound, st.proof) == (0.5, 0.8, False, "lmi") and list(st.weights) == [1.0, 3.0]
    proof = {"method": "weighted", "rate": 1.0, "beta": 2.0}
    st = projected_step(
        doc({"h": 0.5, "attained": False, "factor": None, "proof": "weighted", "weights": None}, [proof]), J
    )
    assert st.h == pytest.approx(0.495) and st.open_bound and list(st.weights) == [1.0, 2.0]
    assert st.factor == pytest.approx(math.sqrt(1 - 2 * 0.495 + (0.495 * 2) ** 2))
    st = projected_step(
        doc(
            {"h": 0.5, "attained": False, "factor": 0.9, "proof": "lmi", "weights": [1, 1]},
            [{"method": "lmi", "rate": 1.0, "beta": None}],
        ),
        J,
    )
    assert st.factor == pytest.approx(1 - 0.99 * 0.1)
    st = projected_step(doc(None, certified=False), J)
    assert not st.certified and st.h == pytest.approx(1 / 3) and st.h_certified is None


def test_set_outline_of_a_ball_and_an_orthant_is_clipped_to_the_window():
    from sgncert import game_from_dict
    from sgncert.plots.flow import set_outline

    def game(set_):
        return game_from_dict(
            {
                "sgncert": 1,
                "name": "one",
                "params": {},
                "players": [{"name": "z", "dim": 2, "set": set_}],
                "costs": {"z": "0.5 * z @ z"},
                "region": {"center": "equilibrium", "radius": 0.5, "norm": "inf"},
            }
        )

    xlim, ylim = (-0.5, 2.0), (-0.5, 0.5)
    ball = set_outline(game({"ball": {"center": [0, 0], "radius": 1}}), False, xlim, ylim)
    P = np.stack([ball["x"], ball["y"]], axis=1)
    fin = P[np.all(np.isfinite(P), axis=1)]
    assert len(fin) > 50 and np.any(np.isnan(P[:, 0]))  # the circle, cut where it leaves the window
    np.testing.assert_allclose(np.linalg.norm(fin, axis=1), 1.0, rtol=1e-12)
    assert np.all((fin[:, 0] >= xlim[0]) & (fin[:, 0] <= xlim[1]) & (fin[:, 1] >= ylim[0]) & (fin[:, 1] <= ylim[1]))
    assert ball["fill"] == {"kind": "circle", "center": [0.0, 0.0], "radius": 1.0}

    orthant = set_outline(game({"nonnegative": True}), False, xlim, ylim)
    Q = np.stack([orthant["x"], orthant["y"]], axis=1)
    fin = Q[np.all(np.isfinite(Q), axis=1)]
    assert np.all((fin[:, 0] == 0) | (fin[:, 1] == 0)) and orthant["text"] == "z ≥ 0"
    assert {tuple(p) for p in fin} == {
        (0.0, 0.0),
        (0.0, 0.5),
        (2.0, 0.0),
    }  # the two axes, from the corner to the window
    simplex = set_outline(game({"simplex": {"total": 1}}), False, (-1.0, 0.5), (-1.0, 2.0))
    np.testing.assert_allclose(np.stack([simplex["x"], simplex["y"]], axis=1), [[0.5, 0.5], [0.0, 1.0]])
    assert simplex["fill"] is None
    assert set_outline(game({"ball": {"center": [5, 5], "radius": 1}}), False, xlim, ylim) is None
