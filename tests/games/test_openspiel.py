"""OpenSpiel games (the ``openspiel:`` section and ``sgncert.from_openspiel``): the mapping
against hand-written equivalents, payoff signs, values with chance nodes against an
independent recursion over OpenSpiel's own states, identity and refusals."""

from __future__ import annotations

import itertools
import json
import sys

import numpy as np
import pytest

from conftest import GAMES, ROOT
from sgncert import SpecError, certify, from_openspiel, game_from_dict, verify
from sgncert.analysis.constants import value_and_jacobian
from sgncert.cli.app import main
from sgncert.games import openspiel as osmod

pyspiel = pytest.importorskip("pyspiel")

FAST = {"region": {"center": "equilibrium", "radius": 0.2, "norm": "inf"}, "sampling": {"samples": 16, "seed": 0}}
# two players walk to their destinations; chance orders conflicting moves; a player's
# reward for arriving is paid once (a flag the printed state does not show)
PATH = {"grid": "A.a\nB.b", "players": 2, "horizon": 3, "step_reward": -0.1, "solve_reward": 1.0, "group_reward": 1.0}


def spec(section: dict, **extra) -> dict:
    return {"sgncert": 1, "name": "g", "openspiel": section, **FAST, **extra}


def numbers(result) -> dict:
    """Every number of a certificate but the game's identity."""
    doc = result.to_dict()
    return {k: v for k, v in doc.items() if k not in ("game", "provenance")}


def test_matrix_game_equals_payoffs_spec_and_nfg_file(tmp_path):
    game = pyspiel.load_game("matrix_rps")
    from_os = certify(game_from_dict(spec({"game": "matrix_rps", "entropy": 1.0, "players": ["row", "col"]})))
    A = [[0, -1, 1], [1, 0, -1], [-1, 1, 0]]  # rows, columns: rock, paper, scissors (utilities of row)
    by_hand = certify(
        game_from_dict(
            {
                "sgncert": 1,
                "name": "g",
                "params": {"A": A},
                "normal_form": {"payoffs": {"row": "A", "col": "-A"}, "entropy": 1.0},
                **FAST,
            }
        )
    )
    (tmp_path / "rps.nfg").write_text(pyspiel.game_to_nfg_string(game))
    nfg = certify(
        game_from_dict({"sgncert": 1, "name": "g", "normal_form": {"nfg": "rps.nfg", "entropy": 1.0}, **FAST}, tmp_path)
    )
    assert from_os.certified
    assert numbers(from_os) == numbers(by_hand)
    nfg_numbers = numbers(nfg)  # the .nfg names its players "Player_0", "Player_1"
    assert json.dumps(nfg_numbers).replace("Player_0", "row").replace("Player_1", "col") == json.dumps(numbers(by_hand))


def test_payoffs_are_utilities_with_openspiel_signs():
    game = pyspiel.load_game("matrix_rps")
    g = from_openspiel(game, entropy=1.0)
    u_row, u_col = (np.asarray(r({}))[0] for r in g.extras["model"].rewards)
    state = game.new_initial_state()
    labels = [state.action_to_string(0, a) for a in range(3)]
    paper, rock = labels.index("Paper"), labels.index("Rock")
    assert u_row[paper, rock] == 1.0 and u_col[paper, rock] == -1.0  # paper covers rock: row wins
    np.testing.assert_array_equal(u_row + u_col, 0.0)  # zero-sum, as the game type declares
    for a, b in itertools.product(range(3), range(3)):  # every entry is OpenSpiel's own return
        s = game.new_initial_state()
        s.apply_actions([a, b])
        assert (u_row[a, b], u_col[a, b]) == tuple(s.returns())


def test_prisoners_dilemma_equilibrium_defects():
    """Payoffs are maximised: with little entropy both players defect (a dominant strategy).
    Read as costs, they would cooperate."""
    g = from_openspiel("matrix_pd", entropy=0.05, **FAST)
    from sgncert.analysis.equilibrium import solve_equilibrium

    x = np.asarray(solve_equilibrium(g).x)
    game = pyspiel.load_game("matrix_pd")
    defect = [game.new_initial_state().action_to_string(i, 1) for i in range(2)]
    assert defect == ["Defect", "Defect"]
    for logits in (x[:2], x[2:]):
        pi = np.exp(logits - logits.max())
        pi /= pi.sum()
        assert pi[1] > 0.99


def repeated_pd_by_hand(entropy: float, discount: float) -> dict:
    """The 2-round repeated prisoner's dilemma as a hand-written markov: section.

    States: 0 the first round, 1 + 2 a + b the second round after (a, b), 5 the end
    (absorbing). Stage payoffs (OpenSpiel's matrix_pd): (C, C) 5/5, (C, D) 0/10, (D, C)
    10/0, (D, D) 1/1, paid in the round they are played."""
    row = [[5.0, 0.0], [10.0, 1.0]]
    col = [[5.0, 10.0], [0.0, 1.0]]
    P = np.zeros((6, 2, 2, 6))
    for a, b in itertools.product(range(2), range(2)):
        P[0, a, b, 1 + 2 * a + b] = 1.0
        P[1:, a, b, 5] = 1.0
    r = np.zeros((2, 6, 2, 2))
    r[0, :5], r[1, :5] = row, col
    return {
        "states": 6,
        "actions": {"p1": 2, "p2": 2},
        "players": ["p1", "p2"],
        "discount": discount,
        "entropy": entropy,
        "transitions": P.tolist(),
        "rewards": {"p1": r[0].tolist(), "p2": r[1].tolist()},
    }


def test_repeated_game_equals_hand_written_markov_spec():
    string = "repeated_game(stage_game=matrix_pd(),num_repetitions=2)"
    ex = osmod.extract(pyspiel.load_game(string), "x")
    assert len(ex.state_labels) == 6 and ex.state_labels[-1] == osmod.TERMINAL
    from_os = game_from_dict(spec({"game": string, "entropy": 2.0, "discount": 0.9}))
    by_hand = game_from_dict({"sgncert": 1, "name": "g", "markov": repeated_pd_by_hand(2.0, 0.9), **FAST})
    assert from_os.kind == by_hand.kind == "markov" and from_os.dim == by_hand.dim == 24
    m_os, m_hand = from_os.extras["model"], by_hand.extras["model"]
    np.testing.assert_array_equal(m_os.transitions({}), m_hand.transitions(by_hand.jax_params()))
    for r_os, r_hand in zip(m_os.rewards, m_hand.rewards):
        np.testing.assert_array_equal(r_os({}), r_hand(by_hand.jax_params()))
    rng = np.random.default_rng(1)
    for x in rng.normal(size=(3, 24)):  # the same pseudo-gradient and Jacobian, to the last bit
        for a, b in zip(value_and_jacobian(from_os, x), value_and_jacobian(by_hand, x)):
            np.testing.assert_array_equal(a, b)


def test_chance_nodes_values_match_a_recursion_over_openspiel_states():
    """The discounted value of a fixed random policy in the extracted model equals a
    recursion that plays OpenSpiel itself (chance outcomes, returns, every history): the
    model is the game tree, so a reward OpenSpiel pays once (pathfinding's arrival, a flag
    str(state) does not print) is paid once in the model too."""
    game = pyspiel.load_game("pathfinding", PATH)
    ex = osmod.extract(game, "x")
    S, (A1, A2) = len(ex.state_labels), ex.actions
    assert ex.state_labels[-1] == osmod.TERMINAL and S > 100
    np.testing.assert_allclose(ex.transitions.sum(axis=-1), 1.0, atol=1e-15)
    assert 0.0 < ex.transitions.max() and np.any((ex.transitions > 0) & (ex.transitions < 1))  # chance
    rng = np.random.default_rng(0)
    policy = {label: (rng.dirichlet(np.ones(A1)), rng.dirichlet(np.ones(A2))) for label in ex.state_labels}
    gamma = 0.9
    joint = np.stack([np.outer(*policy[label]) for label in ex.state_labels])  # [S, A1, A2]
    P_pi = np.einsum("sab,sabt->st", joint, ex.transitions)
    r_pi = np.einsum("sab,isab->is", joint, ex.rewards)
    V = np.linalg.solve(np.eye(S) - gamma * P_pi, r_pi.T).T  # [player, S]

    def value(state):  # E[sum_k gamma^k (R(s_{k+1}) - R(s_k))], played in OpenSpiel
        if state.is_terminal():
            return np.zeros(2)
        p1, p2 = policy[",".join(map(str, state.history()))]
        base = np.asarray(state.returns())
        total = np.zeros(2)
        for a, b in itertools.product(range(A1), range(A2)):
            child = state.clone()
            child.apply_actions([a, b])
            for s, p in settle(child):
                total += p1[a] * p2[b] * p * (np.asarray(s.returns()) - base + gamma * value(s))
        return total

    def settle(state):
        if not state.is_chance_node():
            return [(state, 1.0)]
        out = []
        for o, p in state.chance_outcomes():
            c = state.clone()
            c.apply_action(o)
            out += [(s, p * q) for s, q in settle(c)]
        return out

    expected = sum(p * value(s) for s, p in settle(game.new_initial_state()))
    assert np.abs(V @ ex.initial).max() > 0.1  # rewards are paid: a test that can fail
    np.testing.assert_allclose(V @ ex.initial, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"game": "tic_tac_toe"}, "is turn-based"),
        ({"game": "kuhn_poker"}, "is turn-based"),
        ({"game": "coop_box_pushing"}, "has imperfect information"),
        ({"game": "oshi_zumo(coins=3,size=1,horizon=4)"}, "same action counts in every state"),
        ({"game": "blotto", "params": {"players": 4}}, "joint actions (66, 66, 66, 66) in one state"),
        ({"game": "markov_soccer"}, "decision states (histories: a finite game"),
        ({"game": "blotto(coins=3)", "params": {"fields": 2}}, "in its string or in params, not both"),
        ({"game": "matrix_rps", "states": True}, "the game has 1 states"),
        ({"game": "nope"}, "cannot load 'nope': Unknown game 'nope'."),
        ({"game": "matrix_rps(x=1)"}, "Unknown parameter 'x'"),
        ({"game": "matrix_rps", "discount": 0.9}, "one-shot (normal-form) game; it has no discount"),
        ({"game": "repeated_game(stage_game=matrix_pd(),num_repetitions=2)"}, "give a discount in [0, 1)"),
        ({"game": "matrix_rps", "players": ["a"]}, "a list of 2 distinct player names"),
        ({"game": "matrix_rps", "sha256": "0" * 64}, "the game changed"),
        ({"game": 3}, "expected a pyspiel.Game or an OpenSpiel game string"),
        ({}, "'game' is required"),
    ],
)
def test_games_that_do_not_map_are_refused_with_a_reason(section, message):
    section = {"entropy": 1.0, **section}
    with pytest.raises(SpecError) as err:
        game_from_dict(spec(section))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_state_cap(monkeypatch):
    monkeypatch.setattr(osmod, "MAX_STATES", 10)
    with pytest.raises(SpecError, match="more than 10 decision states"):
        game_from_dict(spec({"game": "pathfinding", "params": PATH, "entropy": 1.0, "discount": 0.9}))


def test_game_object_must_rebuild_from_its_string():
    repeated = pyspiel.create_repeated_game(pyspiel.load_game("matrix_pd"), {"num_repetitions": 2})
    with pytest.raises(SpecError, match="cannot be rebuilt from its name and parameters"):
        from_openspiel(repeated, entropy=1.0, discount=0.9)
    path = {**PATH, "horizon": 2}
    g = from_openspiel(pyspiel.load_game("pathfinding", path), entropy=1.0, discount=0.5, **FAST)
    assert g.canonical["openspiel"]["game"].startswith("pathfinding(") and "params" not in g.canonical["openspiel"]
    assert g.name == "pathfinding" and g.kind == "markov"
    # a string with parameters is recorded as given, and loads the same game
    h = from_openspiel("pathfinding", params=path, entropy=1.0, discount=0.5, **FAST)
    assert h.canonical["openspiel"]["params"] == path and h.extras["model"].states == g.extras["model"].states
    third = pyspiel.load_game("pathfinding", {**path, "step_reward": -1 / 3})  # 16 digits do not survive the string
    with pytest.raises(SpecError, match="gives another game than the one passed"):
        from_openspiel(third, entropy=1.0, discount=0.5)
    for bad in (3, None, b"matrix_rps", ("matrix_rps",), ""):
        with pytest.raises(SpecError, match="expected a pyspiel.Game or an OpenSpiel game string"):
            from_openspiel(bad, entropy=1.0)


def test_identity_recorded_and_rebuilt():
    g = from_openspiel("matrix_mp", entropy=1.0, **FAST)
    section = g.canonical["openspiel"]
    ex = osmod.extract(pyspiel.load_game("matrix_mp"), "x")
    assert section["sha256"] == ex.sha256 and section["open_spiel"] == osmod.open_spiel_version()
    assert section["game"] == "matrix_mp" and section["states"] == 1  # the string as given
    again = game_from_dict(g.canonical)  # the canonical spec rebuilds the same game
    assert again.sha256 == g.sha256
    result = certify(g)
    assert verify(result).exit_code == 0
    # a certificate whose tensors differ from what OpenSpiel reads today does not verify
    doc = result.to_dict()
    doc["game"]["spec"]["openspiel"]["sha256"] = "f" * 64
    report = verify(doc)  # a failed claim (exit 1), as a changed hook is
    assert report.exit_code == 1 and any(c.name == "game.source" and c.status == "failed" for c in report.checks)


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspiel", None)
    with pytest.raises(SpecError, match=r'pip install "sgncert\[openspiel\]"'):
        game_from_dict(spec({"game": "matrix_rps", "entropy": 1.0}))


def test_cli_refusal_is_one_line_exit_2(tmp_path):
    from click.testing import CliRunner

    path = tmp_path / "ttt.yaml"
    path.write_text("sgncert: 1\nopenspiel: {game: tic_tac_toe, entropy: 1.0}\n")
    r = CliRunner().invoke(main, ["certify", str(path)])
    assert r.exit_code == 2
    assert r.output.strip().count("\n") == 0 and "ttt.yaml:2: openspiel: 'tic_tac_toe' is turn-based" in r.output


def test_bundled_shapley_game_is_what_it_says():
    from sgncert import load_game

    g = load_game(GAMES / "shapley.yaml")
    u_row, u_col = (np.asarray(r({}))[0] for r in g.extras["model"].rewards)
    np.testing.assert_array_equal(u_row, [[0, 0, 1], [1, 0, 0], [0, 1, 0]])  # as the spec's comment says
    np.testing.assert_array_equal(u_col, [[0, 1, 0], [0, 0, 1], [1, 0, 0]])
    doc = json.loads((ROOT / "certificates" / "shapley.cert.json").read_text())
    x = np.asarray(doc["region"]["center"])  # the unique equilibrium is uniform (logits equal)
    np.testing.assert_allclose(x - x.mean(), 0.0, atol=1e-9)
    assert doc["certified"] and doc["game"]["spec"]["openspiel"]["game"] == "matrix_shapleys_game"
