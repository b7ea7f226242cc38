"""Sound constants: enclosures of the Jacobian's program against dense sampling, the branch
and bound against closed forms, the partition's encoding, and what cannot be enclosed."""

from __future__ import annotations

import math

import flint
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import GAMES
from sgncert.analysis.constants import kernels
from sgncert.analysis.enclosure import jacobian_enclosure
from sgncert.analysis.sound import (
    SoundBudget,
    SoundSearch,
    encode_tree,
    leaves_of_tree,
    point_values,
    prove_on_tree,
    root_box,
)
from sgncert.errors import SpecError
from sgncert.games.spec import game_from_dict, load_game
from sgncert.theory import intervals as iv
from sgncert.theory.sound_bounds import Key, block_keys
from sgncert.util.jaxenv import jax_scope

# ------------------------------------------------------------------ random expressions
LEAVES = ["x", "y", "0.7", "1.3"]
UNARY = ["tanh({})", "sigmoid({})", "softplus({})", "logcosh({})", "sin({})", "cos({})", "exp(0.3 * {})"]
UNARY += ["sqrt(1 + {} ** 2)", "log(2 + tanh({}))", "({}) ** 2", "({}) ** 3", "1 / (1 + ({}) ** 2)"]
BINARY = ["({} + {})", "({} - {})", "({} * {})"]


def _expressions() -> st.SearchStrategy[str]:
    return st.recursive(
        st.sampled_from(LEAVES),
        lambda inner: st.one_of(
            st.builds(lambda f, a: f.format(a), st.sampled_from(UNARY), inner),
            st.builds(lambda f, a, b: f.format(a, b), st.sampled_from(BINARY), inner, inner),
        ),
        max_leaves=5,
    )


def _game(ex: str, ey: str, radius: float):
    spec = {
        "sgncert": 1,
        "name": "random",
        "players": [{"name": "x", "dim": 2}, {"name": "y", "dim": 2}],
        "costs": {"x": f"0.5 * x @ x + sum(x * {ex})", "y": f"0.5 * y @ y + sum(y * {ey})"},
        "region": {"center": [0.1, -0.2, 0.3, 0.0], "radius": radius, "norm": "inf"},
        "sampling": {"samples": 16},
    }
    return game_from_dict(spec)


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ex=_expressions(), ey=_expressions(), seed=st.integers(0, 2**16), radius=st.floats(0.05, 1.2))
def test_no_sampled_jacobian_falls_outside_its_enclosure(ex, ey, seed, radius):
    _check_enclosure(ex, ey, seed, radius)


@pytest.mark.parametrize(
    ("ex", "ey", "radius"),
    [
        ("logcosh(y)", "x", 0.25),  # XLA's tanh an ulp below the true value
        # pow(x, e) at x < 0 with an exponent interval that is not a point (2.0 ** 2 is rounded
        # outwards): exp(e log x) saw no negative x, and the derivative's lower end was 0
        ("x", "sqrt(1 + (x) ** 2 ** 2)", 1.0),
        ("x", "(x) ** (0.1 * 30)", 0.8),
    ],
)
def test_enclosures_found_wrong_by_the_property_test(ex, ey, radius):
    _check_enclosure(ex, ey, 0, radius)


def _check_enclosure(ex: str, ey: str, seed: int, radius: float) -> None:
    game = _game(ex, ey, radius)
    rng = np.random.default_rng(seed)
    center = np.asarray(game.region.center)
    with jax_scope():
        enclose = jacobian_enclosure(game, batch=8)
        lo = center + rng.uniform(-radius, 0, size=(3, 4))
        hi = lo + rng.uniform(0, radius, size=(3, 4))
        J = enclose(lo, hi).J
        jac = kernels(game)[0]
        for b in range(3):
            pts = lo[b] + rng.random((256, 4)) * (hi[b] - lo[b])
            pts[:16] = np.where(rng.random((16, 4)) < 0.5, lo[b], hi[b])  # corners too
            _, K = jac(pts, game.jax_params())
            K = np.asarray(K)
            ok = np.isfinite(K).all(axis=(1, 2))
            # the enclosure holds the true Jacobian; the float one carries its own rounding
            # (XLA's tanh is an ulp below the true value at some points: found by this test)
            slack = 1e-12 * (1.0 + np.abs(K[ok]))
            assert np.all(J.lo[b] <= K[ok] + slack) and np.all(K[ok] - slack <= J.hi[b]), (ex, ey)


def test_logsumexp_is_enclosed_not_refused():
    """The expression language's logsumexp has no stop_gradient (its shift by max(a) has a
    closed-form derivative, softmax): sound bounds accept it and its enclosure holds."""
    _check_enclosure("logsumexp(y)", "logsumexp(x + y)", 3, 0.5)


# --------------------------------------------------------------------- closed forms
def _sech2(r: float) -> flint.arb:
    return 1 - flint.arb(r).tanh() ** 2


def test_tanh_duel_constants_match_their_closed_forms():
    game = load_game(GAMES / "tanh_duel.yaml")
    region = game.region.with_center(np.zeros(4))
    keys = block_keys(2)
    estimates = np.array([1.0, 1.0, 0.5, 0.8, 0.5])  # mu_x, mu_y, L_xy, L_yx, gamma (rough)
    with jax_scope():
        search = SoundSearch.start(game, region, SoundBudget(boxes=64), point_values(game))
        search.add_keys(keys, estimates)
        search.refine()
    b = dict(zip(search.keys, search.region_bounds()))
    for i, a in enumerate((0.5, 0.8)):
        true = flint.arb(a) + _sech2(1.5)  # the infimum, at the box's corners
        assert flint.arb(b[Key("mu", i)]) <= true  # sound: never above the truth
        assert b[Key("mu", i)] > float(true.mid()) * (1 - 1e-12)  # and tight
    assert 0.6 <= b[Key("L", 0, 1)] <= 0.6 * (1 + 1e-12)
    assert 0.9 <= b[Key("L", 1, 0)] <= 0.9 * (1 + 1e-12)
    # the box centres and samples never beat a proved bound
    assert np.all(search.best_values()[:2] >= search.region_bounds()[:2])


def test_partition_tree_round_trips_and_covers_the_box():
    game = load_game(GAMES / "tanh_duel.yaml")
    region = game.region.with_center(np.zeros(4))
    with jax_scope():
        search = SoundSearch.start(game, region, SoundBudget(boxes=40, tolerance=1e-9), point_values(game))
        search.add_keys([Key("gamma")], np.array([0.6]))
        search.refine()
    tree = encode_tree(search.nodes)
    lo, hi = root_box(region, None)
    llo, lhi, plo, _ = leaves_of_tree(tree, lo, hi)
    assert llo.shape[0] == len(search.leaves) == tree.split().count(".")
    assert plo.shape[0] == 0
    assert np.sum(np.prod(lhi - llo, axis=1)) == pytest.approx(np.prod(hi - lo), rel=1e-12)
    # the recorded bound is re-proved on the rebuilt partition; a larger one is not
    gamma = float(search.region_bounds()[0])
    ok, _ = prove_on_tree(game, region, tree, [Key("gamma"), Key("gamma")], [gamma, gamma + 0.05])
    assert ok.tolist() == [True, False]
    for bad in (tree + " .", tree.replace(".", "", 1), "9 . .", "a"):
        with pytest.raises(SpecError):
            prove_on_tree(game, region, bad, [Key("gamma")], [gamma])


def test_ball_regions_prune_boxes_outside_and_verify_checks_them():
    spec = {
        "sgncert": 1,
        "name": "disk",
        "players": [{"name": "x", "dim": 1}, {"name": "y", "dim": 1}],
        "costs": {"x": "sum(logcosh(x)) + 0.2 * sum(x * y ** 2)", "y": "sum(logcosh(y)) - 0.3 * sum(x * y)"},
        "region": {"center": [0, 0], "radius": 1.0, "norm": "2"},
    }
    game = game_from_dict(spec)
    region = game.region.with_center(np.zeros(2))
    with jax_scope():
        search = SoundSearch.start(game, region, SoundBudget(boxes=400, tolerance=1e-9), point_values(game))
        search.add_keys([Key("mu", 0), Key("mu", 1)], np.array([10.0, 10.0]))
        search.refine()
    tree = encode_tree(search.nodes)
    lo, hi = root_box(region, None)
    _, _, plo, phi = leaves_of_tree(tree, lo, hi)
    assert plo.shape[0] > 0
    nearest = np.clip(0.0, plo, phi)  # the point of each pruned box closest to the centre
    assert np.all(np.linalg.norm(nearest, axis=1) > 1.0)
    mu0 = float(search.region_bounds()[0])
    ok, _ = prove_on_tree(game, region, tree, [Key("mu", 0)], [mu0])
    assert ok.all()
    # a box inside the ball marked as outside it (so its bound is never checked) is caught,
    # where the claim needs that box
    llo, lhi, _, _ = leaves_of_tree(tree, lo, hi)
    worst = int(np.argmin([np.linalg.norm(np.clip(0.0, a, b)) for a, b in zip(llo, lhi)]))
    tokens = tree.split()
    positions = [k for k, t in enumerate(tokens) if t == "."]
    tokens[positions[worst]] = "x"
    with pytest.raises(SpecError, match="outside the region"):
        prove_on_tree(game, region, " ".join(tokens), [Key("mu", 0)], [mu0])


# ---------------------------------------------------------------- what is refused
def _hook_game(tmp_path, body: str):
    (tmp_path / "hook.py").write_text("import jax, jax.numpy as jnp\ndef costs(x, p):\n" + body, encoding="utf-8")
    spec = {
        "sgncert": 1,
        "name": "hooked",
        "players": [{"name": "x", "dim": 2}, {"name": "y", "dim": 2}],
        "costs": {"python": "hook.py:costs"},
        "region": {"center": "zeros", "radius": 1.0},
    }
    return game_from_dict(spec, base_dir=tmp_path)


def test_a_hook_of_supported_operations_is_enclosed(tmp_path):
    game = _hook_game(
        tmp_path,
        "    u, v = x['x'], x['y']\n"
        "    return {'x': 0.5 * u @ u + jnp.sum(jnp.tanh(u) * v) + jnp.sum(jax.nn.softplus(u)),\n"
        "            'y': 0.5 * v @ v - jnp.sum(u * jnp.log1p(jnp.exp(v))) + jnp.sum(jnp.sin(v) ** 2)}\n",
    )
    rng = np.random.default_rng(7)
    with jax_scope():
        enclose = jacobian_enclosure(game, batch=4)
        lo = rng.uniform(-1, 0, size=(2, 4))
        hi = lo + rng.uniform(0, 0.7, size=(2, 4))
        J = enclose(lo, hi).J
        for b in range(2):
            pts = lo[b] + rng.random((256, 4)) * (hi[b] - lo[b])
            K = np.asarray(kernels(game)[0](pts, game.jax_params())[1])
            assert np.all(J.lo[b] <= K) and np.all(K <= J.hi[b])


def test_an_unsupported_operation_is_named(tmp_path):
    game = _hook_game(
        tmp_path,
        "    return {'x': 0.5 * x['x'] @ x['x'] + jnp.sum(jnp.cumsum(x['x']) * x['y']),\n"
        "            'y': 0.5 * x['y'] @ x['y'] - jnp.sum(x['x'] * x['y'])}\n",
    )
    with jax_scope(), pytest.raises(SpecError, match="cumsum"):
        jacobian_enclosure(game)


def test_normal_form_closed_form_is_the_games_pseudo_gradient():
    from sgncert.games.markov import normal_form_pseudo_gradient

    rng = np.random.default_rng(4)
    for name in ("rps.yaml", "three_firms.yaml"):
        game = load_game(GAMES / name)
        with jax_scope() as jax:
            F = normal_form_pseudo_gradient(game.extras["model"], tuple(pl.offset for pl in game.players))
            p = game.jax_params()
            X = rng.normal(size=(8, game.dim)) * 2
            ours = jax.jit(jax.vmap(lambda x: F(x, p)))(X)
            theirs = jax.jit(jax.vmap(lambda x: game.pseudo_gradient(x, p)))(X)
            np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), atol=1e-13)


def test_matching_pennies_fisher_frame_bounds_are_sound():
    """Closed forms over the box of half-width r (the game's comments): mu_i = tau (1 - 2 r
    tanh r) - 2 tanh^2 r at the corners, L = 1 at the centre (reduced Fisher frame)."""
    game = load_game(GAMES / "matching_pennies.yaml")
    region = game.region.with_center(np.zeros(game.dim))
    tau, r = float(game.extras["model"].entropy), float(game.region.radius)
    mu_true = tau * (1 - 2 * r * math.tanh(r)) - 2 * math.tanh(r) ** 2
    with jax_scope():
        search = SoundSearch.start(game, region, SoundBudget(boxes=200), point_values(game))
        search.add_keys(block_keys(2), np.array([mu_true, mu_true, 1.0, 1.0, mu_true]))
        search.refine()
    b = dict(zip(search.keys, search.region_bounds()))
    for i in range(2):
        assert 0.0 < b[Key("mu", i)] <= mu_true
    for key in (Key("L", 0, 1), Key("L", 1, 0)):
        assert 1.0 <= b[key] < 3.0
    # the values at the box centres agree with the closed forms from the right side
    best = dict(zip(search.keys, search.best_values()))
    assert best[Key("mu", 0)] >= mu_true - 1e-9 and best[Key("L", 0, 1)] <= 1.0 + 1e-9


def test_markov_games_are_not_supported_yet():
    game = load_game(GAMES / "markov_coordination.yaml")
    with jax_scope(), pytest.raises(SpecError, match="not supported yet"):
        jacobian_enclosure(game)


def test_a_budget_out_of_range_is_a_spec_error():
    with pytest.raises(SpecError):
        SoundBudget(tolerance=0.0)
    with pytest.raises(SpecError):
        SoundBudget(boxes=0)
    assert math.isfinite(SoundBudget().seconds)


def test_a_jacobian_that_jumps_is_enclosed_without_the_mean_value_form(tmp_path):
    """relu(0.3 - a)^2 in a cost: J_aa jumps from 4 to 1 at a = 0.3, where JAX's derivative of
    J is 0 on both sides; the mean-value form would keep J(c) = 4 on a box across the jump.
    F's program holds relu's derivative, a selection on a > 0.3: a box across 0.3 does not
    decide it, and F might jump there (here it does not: the kink is squared away), so such a
    box proves nothing; the boxes on either side prove their own constants."""
    game = _hook_game(
        tmp_path,
        "    a, b = x['x'], x['y']\n"
        "    return {'x': 0.5 * a @ a + 1.5 * jnp.sum(jax.nn.relu(0.3 - a) ** 2) + 0.2 * jnp.sum(a * b),\n"
        "            'y': 0.5 * b @ b - 0.2 * jnp.sum(a * b)}\n",
    )
    lo = np.array([[0.2, 0.2, -0.5, -0.5], [0.35, 0.35, -0.5, -0.5], [-0.5, -0.5, -0.5, -0.5]])
    hi = np.array([[0.4, 0.4, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5], [0.25, 0.25, 0.5, 0.5]])
    with jax_scope():
        raw = jacobian_enclosure(game, continuous_only=False)
        assert raw.second is None  # no mean-value form: J jumps
        J = raw(lo, hi).J  # the interpreter alone: across the jump, both 1 and 4
        assert J.lo[0, 0, 0] <= 1.0 and J.hi[0, 0, 0] >= 4.0
        G = jacobian_enclosure(game)(lo, hi).J
    assert np.all(np.isneginf(G.lo[0])) and np.all(np.isposinf(G.hi[0]))  # undecided: nothing proved
    for box, value in ((1, 1.0), (2, 4.0)):  # a > 0.3: J_aa = 1; a < 0.3: J_aa = 4 (to rounding)
        assert G.lo[box, 0, 0] <= value <= G.hi[box, 0, 0] and G.hi[box, 0, 0] - G.lo[box, 0, 0] < 1e-12


def test_a_pseudo_gradient_that_jumps_or_stops_gradients_is_never_proved(tmp_path):
    """A hinge max(a - 0.1, 0) in a cost makes F jump by 5 at a = 0.1 while JAX's Jacobian
    is 1 on both sides; stop_gradient(tanh(10 a)) in a cost leaves JAX's derivative 5 tanh(10 a)
    out of dF/da. Both were certified with sound constants; Euler at the stated step moves a
    pair across the jump apart by a factor of 13888, and the other by 27 (not 0.745)."""
    from sgncert.analysis.certify import certify
    from sgncert.errors import NumericalError

    hinge = _hook_game(
        tmp_path,
        "    a, b = x['x'], x['y']\n"
        "    return {'x': 0.5 * a @ a + 5.0 * jnp.sum(jnp.maximum(a - 0.1, 0.0)) + 0.2 * jnp.sum(a * b),\n"
        "            'y': 0.5 * b @ b - 0.2 * jnp.sum(a * b)}\n",
    )
    with jax_scope():
        F = kernels(hinge)[1]
        left, right = (np.asarray(F(np.array([a, a, 0.0, 0.0]), hinge.jax_params())[0])[0] for a in (0.0999, 0.1001))
        assert right - left > 4.99  # the jump
        with pytest.raises(NumericalError, match="jump"):
            certify(hinge, tight=False, bands=False, bounds="sound", budget=SoundBudget(boxes=200))
    stop = _hook_game(
        tmp_path,
        "    a, b = x['x'], x['y']\n"
        "    return {'x': 0.5 * a @ a + 5.0 * jnp.sum(a * jax.lax.stop_gradient(jnp.tanh(10 * a))),\n"
        "            'y': 0.5 * b @ b - 0.2 * jnp.sum(a * b)}\n",
    )
    with jax_scope(), pytest.raises(SpecError, match="stop_gradient"):
        jacobian_enclosure(stop)


# ----------------------------------------------------- primitive rules an audit found wrong
HOOKS = {
    "integer division": """
        k = jax.lax.div(jnp.arange(2) + 3, jnp.full(2, 2, dtype=jnp.arange(2).dtype))  # [1, 2]
        w = (jnp.arange(2, dtype=jnp.uint32) + 3) // jnp.uint32(2)  # lax.div on uint32
        return {"x": 0.5 * jnp.sum(k.astype(jnp.float64) * u * u) + jnp.sum(w.astype(jnp.float64) * u * v),
                "y": 0.5 * v @ v}""",
    "boolean gather with a fill value": """
        mask = u > 0.0
        dn = lax.GatherDimensionNumbers(offset_dims=(), collapsed_slice_dims=(0,), start_index_map=(0,))
        m = lax.gather(mask, jnp.array([[0], [5]]), dn, (1,), mode="fill", fill_value=False)
        return {"x": 0.5 * jnp.sum(jnp.where(~m, 1.0, 3.0) * u * u), "y": 0.5 * v @ v}""",
    "a NaN test on log": """
        a = jnp.where(jnp.log(u) < 5.0, 1.0, 3.0)  # NaN < 5 is False for u < 0
        return {"x": 0.5 * jnp.sum(a * u * u), "y": 0.5 * v @ v}""",
    "a NaN constant": """
        a = jnp.where(~(u > jnp.nan), 1.0, 3.0)  # u > NaN is False
        return {"x": 0.5 * jnp.sum(a * u * u), "y": 0.5 * v @ v}""",
    "an integer chosen by a decided comparison": """
        k = jnp.where(u > 5.0, 1, 2)  # 2 on the whole box: an exact integer, used as an index
        s = jnp.array([1.0, 2.0, 3.0])[k]
        return {"x": 0.5 * jnp.sum(s * u * u), "y": 0.5 * v @ v}""",
    "a boolean scatter": """
        m = jnp.zeros(2, bool).at[1].set(u[0] > 0.0)  # undecided on the box
        return {"x": 0.5 * jnp.sum(jnp.where(m, 3.0, 1.0) * u * u) + jnp.sum(u * v), "y": 0.5 * v @ v}""",
    "a maximum of booleans": """
        m = jnp.maximum(u > 0.2, v > 10.0)
        return {"x": 0.5 * jnp.sum(jnp.where(m, 3.0, 1.0) * u * u), "y": 0.5 * v @ v}""",
    "an integer scatter used as an index": """
        k = jnp.zeros(2, jnp.int32).at[1].set(2)
        s = jnp.array([1.0, 2.0, 3.0])[k]
        return {"x": 0.5 * jnp.sum(s * u * u), "y": 0.5 * v @ v}""",
    "an undetermined integer index": """
        k = jnp.where(u[0] > 0.0, 0, 1)  # undecided on the box, then used as an index
        return {"x": 0.5 * u @ u + u[0] * lax.dynamic_slice(v, (k,), (1,))[0], "y": 0.5 * v @ v}""",
    "float32 arithmetic": """
        w = jnp.float32(1) / jnp.float32(3)  # 0.3333333432674408 in float32
        return {"x": 0.5 * u @ u + w.astype(jnp.float64) * jnp.sum(u * v), "y": 0.5 * v @ v}""",
    "complex numbers": """
        s = jnp.abs(jnp.exp(1j * (jnp.arange(2) + 2)) + 1)
        return {"x": 0.5 * jnp.sum(s * u * u), "y": 0.5 * v @ v}""",
}


REFUSED = {"complex numbers": "complex", "float32 arithmetic": "float32", "an undetermined integer index": "index"}


@pytest.mark.parametrize("case", sorted(HOOKS))
def test_python_hook_enclosures_hold_or_are_refused(case, tmp_path):
    import textwrap

    body = "from jax import lax\nu, v = x['x'], x['y']\n" + textwrap.dedent(HOOKS[case]).strip()
    game = _hook_game(tmp_path, textwrap.indent(body, "    ") + "\n")
    rng = np.random.default_rng(0)
    with jax_scope():
        enclose = jacobian_enclosure(game, batch=4, continuous_only=False)  # the interpreter's rules alone
        lo, hi = np.array([[-0.5, 0.1, -0.5, -0.5]]), np.array([[0.5, 0.5, 0.5, 0.5]])
        if case in REFUSED:
            with pytest.raises(SpecError, match=REFUSED[case]):
                enclose(lo, hi)
            return
        J = enclose(lo, hi).J
        pts = lo + rng.random((64, 4)) * (hi - lo)
        K = np.asarray(kernels(game)[0](pts, game.jax_params())[1])
    assert np.all(J.lo[0] <= K) and np.all(K <= J.hi[0]), case


def test_sine_far_from_zero_keeps_its_peaks():
    """At |x| ~ 1e13 the float period index is off by more than its margin: [-1, 1] there."""
    lo, x0, hi = 10005733447608.156, 10005733447608.158, 10005733447608.16
    out = iv.elementary("sin", iv.Interval(np.array([lo]), np.array([hi])))
    exact = flint.arb(x0).sin()
    assert out.lo[0] <= float(exact.lower()) and float(exact.upper()) <= out.hi[0]
    small = iv.elementary("sin", iv.Interval(np.array([1000.0]), np.array([1000.5])))  # still tight below 2^20
    assert small.hi[0] - small.lo[0] < 0.5


def test_a_huge_integer_power_is_refused_not_looped_over():
    game = _game("(x / 2) ** 1000000000000", "x", 0.5)
    with jax_scope(), pytest.raises(SpecError, match="power"):
        jacobian_enclosure(game, batch=8)(np.full((1, 4), -0.1), np.full((1, 4), 0.1))


# ------------------------------------------------- a pseudo-gradient undefined in part of the region
def _undefined_in_part(tmp_path):
    """F_x = x + w log(y) with w = 0: NaN (0 * NaN, 0 * -inf) wherever y <= 0, while its
    Jacobian [[1, w / y], [0, 1]] is finite there (y != 0). The region y in [-0.5, 1.5]
    (centre 0.5) holds such points; the theory needs F defined on all of it."""
    (tmp_path / "hook.py").write_text(
        "import jax.numpy as jnp\n"
        "def costs(x, p):\n"
        "    u, v = x['x'][0], x['y'][0]\n"
        "    return {'x': 0.5 * u * u + p['w'] * u * jnp.log(v), 'y': 0.5 * v * v}\n",
        encoding="utf-8",
    )
    spec = {
        "sgncert": 1,
        "name": "undefined-in-part",
        "params": {"w": 0.0},
        "players": [{"name": "x", "dim": 1}, {"name": "y", "dim": 1}],
        "costs": {"python": "hook.py:costs"},
        "region": {"center": [0.0, 0.5], "radius": 1.0, "norm": "inf"},
    }
    return game_from_dict(spec, base_dir=tmp_path)


def test_a_pseudo_gradient_undefined_in_part_of_the_region_is_never_certified(tmp_path):
    from sgncert.analysis.certify import certify
    from sgncert.errors import NumericalError

    game = _undefined_in_part(tmp_path)
    with jax_scope():
        F, J = kernels(game)[1](np.array([0.0, -0.25]), game.jax_params())
        assert np.isnan(np.asarray(F)[0]) and np.all(np.isfinite(np.asarray(J)))  # what the game is
        with pytest.raises(NumericalError, match="F or its Jacobian is not finite at sample"):
            certify(game, tight=False, bands=False)
        with pytest.raises(NumericalError, match="F or its Jacobian is not finite at sample"):
            certify(game, tight=False, bands=False, matrix_free=True)
        with pytest.raises(NumericalError, match="not finite at sample"):  # (the samples come first)
            certify(game, tight=False, bands=False, bounds="sound")
        # the enclosure itself: boxes reaching y <= 0 prove nothing, the others stay tight
        enclose = jacobian_enclosure(game, batch=2)
        J = enclose(np.array([[-1.0, -0.5], [-1.0, 0.5]]), np.array([[1.0, -0.25], [1.0, 1.5]])).J
        assert np.all(np.isneginf(J.lo[0])) and np.all(np.isposinf(J.hi[0]))
        assert np.all(np.isfinite(J.lo[1])) and np.all(np.isfinite(J.hi[1]))


def test_nothing_computed_from_a_possibly_undefined_value_comes_out_bounded(tmp_path):
    """tanh(log y) on y in [-2, -1] is NaN in the program (jnp.tanh(nan) is nan), though
    tanh of any real number lies in [-1, 1]; its derivative sech^2(log y) / y likewise."""
    game = _hook_game(
        tmp_path,
        "    u, v = x['x'], x['y']\n"
        "    return {'x': 0.5 * u @ u + jnp.sum(u * jnp.tanh(jnp.log(v))) + jnp.sum(jnp.abs(jnp.log(v)) ** 2),\n"
        "            'y': 0.5 * v @ v}\n",
    )
    with jax_scope():
        assert np.isnan(float(jnp_tanh_log(-1.5)))
        J = jacobian_enclosure(game, batch=1)(np.array([[0.0, 0.0, -2.0, -2.0]]), np.array([[0.1, 0.1, -1.0, -1.0]])).J
    assert np.all(np.isneginf(J.lo)) and np.all(np.isposinf(J.hi))


def jnp_tanh_log(v: float):
    import jax.numpy as jnp

    return jnp.tanh(jnp.log(jnp.float64(v)))


def test_the_mean_value_form_does_not_prove_a_box_where_f_is_undefined():
    """F_x = sqrt(y) is NaN for y < 0 while J's second row [1, 1] is constant: the
    mean-value form alone would prove that row on a box reaching y < 0."""
    game = game_from_dict(
        {
            "sgncert": 1,
            "name": "sqrt",
            "players": [{"name": "x", "dim": 1}, {"name": "y", "dim": 1}],
            "costs": {"x": "sum(x * sqrt(y))", "y": "0.5 * sum(y ** 2) + sum(x * y)"},
            "region": {"center": [0.0, 1.0], "radius": 2.0},
        }
    )
    with jax_scope():
        enclose = jacobian_enclosure(game, batch=2)
        assert enclose.second is not None  # the mean-value form is used for this game
        F, _ = kernels(game)[1](np.array([0.5, -0.5]), game.jax_params())
        assert np.isnan(np.asarray(F)[0])
        J = enclose(np.array([[0.0, -1.0], [0.0, 1.0]]), np.array([[1.0, 3.0], [1.0, 3.0]])).J
    assert np.all(np.isneginf(J.lo[0])) and np.all(np.isposinf(J.hi[0]))
    assert np.all(np.isfinite(J.lo[1])) and np.all(np.isfinite(J.hi[1]))


def test_an_overflow_is_not_hidden_by_an_exact_zero_tangent(tmp_path):
    """exp(v) overflows to inf for v > 709.78; the tangent of u / (1 + exp(v)) along u is
    then 0 * inf = NaN in XLA's J_xx, so J_xx may not be proved [0, 0]."""
    (tmp_path / "hook.py").write_text(
        "import jax.numpy as jnp\n"
        "def costs(x, p):\n"
        "    u, v = x['x'][0], x['y'][0]\n"
        "    return {'x': u / (1 + jnp.exp(v)), 'y': 0.5 * v * v}\n",
        encoding="utf-8",
    )
    spec = {
        "sgncert": 1,
        "name": "overflow",
        "players": [{"name": "x", "dim": 1}, {"name": "y", "dim": 1}],
        "costs": {"python": "hook.py:costs"},
        "region": {"center": [0.5, 705.0], "radius": 5.0, "norm": "inf"},
    }
    game = game_from_dict(spec, base_dir=tmp_path)
    with jax_scope():
        _, K = kernels(game)[1](np.array([0.5, 710.0]), game.jax_params())
        assert np.isnan(np.asarray(K)[0, 0])
        J = jacobian_enclosure(game, batch=1)(np.array([[0.0, 700.0]]), np.array([[1.0, 710.0]])).J
    assert np.isneginf(J.lo[0, 0, 0]) and np.isposinf(J.hi[0, 0, 0])
