"""The ``markov:`` and ``normal_form:`` sections of a spec: validated into a
:class:`~sgncert.games.markov.MarkovModel` with its players and pseudo-gradient
(docs/theory.md §8).

Transition rows must sum to 1, shapes must match, ``discount`` lie in [0, 1) and
``entropy`` be positive; each violation is a one-line spec error. A normal-form game is
the one-state case (payoff arrays or a Gambit ``.nfg`` file; payoffs are utilities).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SpecError
from .expressions import FUNCTIONS
from .fields import check_keys, mapping, number_in
from .markov import MarkovModel, markov_costs
from .model import Player, PseudoGradient
from .nfg import read_nfg
from .openspiel import openspiel_section
from .params import to_array
from .pseudo_gradient import compile_field, pseudo_gradient_from_costs

ArrayOfParams = Callable[[Mapping[str, Any]], Any]
TABULAR_KEYS = ("markov", "normal_form", "openspiel")


def _array(value: Any, params: Mapping[str, np.ndarray], where: str) -> ArrayOfParams:
    """A param name / expression over params (returns a function of p) or an inline array."""
    if isinstance(value, str):
        expr = compile_field(value, [], params, where)
        return lambda p: expr({}, p)
    arr = to_array(value, where)
    return lambda p: arr


def _check_model(model: MarkovModel, params: Mapping[str, np.ndarray], where: str) -> None:
    import jax.numpy as jnp

    p = {k: jnp.asarray(v) for k, v in params.items()}
    S, acts = model.states, model.actions
    try:
        P = np.asarray(model.transitions(p), dtype=np.float64)
    except SpecError:
        raise
    except Exception as exc:
        raise SpecError(f"{where}.transitions: cannot evaluate: {exc}") from None
    if P.shape != (S, *acts, S):
        raise SpecError(f"{where}.transitions: shape {P.shape}, expected {(S, *acts, S)} [S, A_1, ..., A_N, S]")
    if not np.all(np.isfinite(P)) or np.any(P < 0):
        raise SpecError(f"{where}.transitions: probabilities must be finite and non-negative")
    row = np.abs(P.sum(axis=-1) - 1.0)
    if np.any(row > 1e-9):
        bad = np.unravel_index(int(np.argmax(row)), row.shape)
        raise SpecError(f"{where}.transitions: row {list(map(int, bad))} sums to {P.sum(axis=-1)[bad]:.12g}, not 1")
    for name, reward in zip(model.names, model.rewards):
        R = np.asarray(reward(p), dtype=np.float64)
        if R.shape != (S, *acts):
            raise SpecError(f"{where}.rewards.{name}: shape {R.shape}, expected {(S, *acts)} [S, A_1, ..., A_N]")
        if not np.all(np.isfinite(R)):
            raise SpecError(f"{where}.rewards.{name}: contains NaN or Inf")


def player_order(order: Any, named: Mapping[str, Any], where: str) -> tuple[str, ...]:
    """Player names in play order: the optional ``players`` list, else the mapping's order.

    Canonical specs always carry the list, because canonical JSON sorts mapping keys."""
    names = tuple(str(n) for n in named)
    if order is None:
        return names
    if not isinstance(order, list) or sorted(map(str, order)) != sorted(names):
        raise SpecError(f"{where}.players: expected a list ordering exactly the players {list(names)}")
    return tuple(str(n) for n in order)


def markov_model(raw: Mapping[str, Any], params: Mapping[str, np.ndarray], where: str) -> MarkovModel:
    """Validate a ``markov:`` section into a :class:`MarkovModel`."""
    check_keys(raw, ("states", "actions", "discount", "entropy", "initial", "transitions", "rewards", "players"), where)
    S = raw.get("states")
    if isinstance(S, bool) or not isinstance(S, int) or not 1 <= S <= 10_000:
        raise SpecError(f"{where}.states: expected a positive integer, got {S!r}")
    actions = mapping(raw.get("actions"), f"{where}.actions")
    if not actions:
        raise SpecError(f"{where}.actions: give at least one player and its action count")
    names = player_order(raw.get("players"), actions, where)
    for n, a in actions.items():
        if isinstance(a, bool) or not isinstance(a, int) or not 2 <= a <= 1000:
            raise SpecError(f"{where}.actions.{n}: expected an action count >= 2, got {a!r}")
    gamma = number_in(raw.get("discount"), f"{where}.discount", 0.0, 1.0, hi_open=True)
    tau = number_in(raw.get("entropy"), f"{where}.entropy", 0.0, math.inf, lo_open=True, hi_open=True)
    mu0 = to_array(raw.get("initial", [1.0] + [0.0] * (S - 1)), f"{where}.initial").reshape(-1)
    if mu0.shape != (S,) or np.any(mu0 < 0) or abs(mu0.sum() - 1.0) > 1e-9:
        raise SpecError(f"{where}.initial: expected {S} non-negative probabilities summing to 1")
    if "transitions" not in raw:
        raise SpecError(f"{where}: 'transitions' is required")
    rewards_raw = mapping(raw.get("rewards"), f"{where}.rewards")
    check_keys(rewards_raw, names, f"{where}.rewards")
    missing = [n for n in names if n not in rewards_raw]
    if missing:
        raise SpecError(f"{where}.rewards: no reward given for player '{missing[0]}'")
    model = MarkovModel(
        names=names,
        states=S,
        actions=tuple(int(actions[n]) for n in names),
        discount=gamma,
        entropy=tau,
        initial=mu0,
        transitions=_array(raw["transitions"], params, f"{where}.transitions"),
        rewards=tuple(_array(rewards_raw[n], params, f"{where}.rewards.{n}") for n in names),
    )
    _check_model(model, params, where)
    return model


def _identifier(name: str, k: int) -> str:
    ident = re.sub(r"\W", "_", name.strip()) or f"p{k + 1}"
    return ident if ident[0].isalpha() and not ident.startswith("__") else f"p{k + 1}_{ident}"


def one_state_model(
    names: tuple[str, ...], shape: tuple[int, ...], entropy: float, payoffs: list[ArrayOfParams]
) -> MarkovModel:
    """A normal-form game as the one-state Markov model: no discount, every joint action
    returns to the state, player i's reward is ``payoffs[i](p)`` (shape ``shape``)."""
    return MarkovModel(
        names=names,
        states=1,
        actions=shape,
        discount=0.0,
        entropy=entropy,
        initial=np.ones(1),
        transitions=lambda p: np.ones((1, *shape, 1)),
        rewards=tuple((lambda f: lambda p: f(p)[None])(f) for f in payoffs),
    )


def normal_form_model(
    raw: Mapping[str, Any], params: Mapping[str, np.ndarray], base_dir: Path, where: str
) -> tuple[MarkovModel, dict[str, Any]]:
    """A ``normal_form:`` section (payoff arrays or a Gambit .nfg file) as a one-state game.

    Every player's payoff array is indexed by the joint action ``[a_1, ..., a_N]`` (shape
    ``(A_1, ..., A_N)``, the same axes for all players) and is a utility, maximised: the
    cost is minus the expected payoff (:func:`~sgncert.games.markov.markov_costs`). So a
    two-player zero-sum game is ``{row: A, col: "-A"}``, not ``"-A.T"``.

    The second value holds, for an .nfg file, its sha256 (``nfg``) and the payoff arrays
    read from it (``payoffs``), which the canonical spec embeds."""
    check_keys(raw, ("payoffs", "nfg", "entropy", "players"), where)
    tau = number_in(raw.get("entropy"), f"{where}.entropy", 0.0, math.inf, lo_open=True, hi_open=True)
    extra: dict[str, Any] = {}
    if ("payoffs" in raw) == ("nfg" in raw):
        raise SpecError(f"{where}: give exactly one of 'payoffs' or 'nfg'")
    funcs: list[ArrayOfParams]
    if "nfg" in raw:
        rel = raw["nfg"]
        if not isinstance(rel, str):
            raise SpecError(f"{where}.nfg: expected a file path")
        players, payoffs, data = read_nfg(base_dir / rel, f"{where}.nfg")
        names = tuple(_identifier(n, k) for k, n in enumerate(players))
        if len(set(names)) != len(names):
            raise SpecError(f"{where}.nfg: player names are not distinct identifiers: {players}")
        funcs = [(lambda arr: lambda p: arr)(a) for a in payoffs]
        shape = payoffs[0].shape
        extra = {
            "nfg": {rel: hashlib.sha256(data).hexdigest()},
            "payoffs": {n: a.tolist() for n, a in zip(names, payoffs)},
        }
    else:
        pay = mapping(raw["payoffs"], f"{where}.payoffs")
        names = player_order(raw.get("players"), pay, where)
        funcs = [_array(pay[n], params, f"{where}.payoffs.{n}") for n in names]
        import jax.numpy as jnp

        shapes = {np.shape(np.asarray(f({k: jnp.asarray(v) for k, v in params.items()}))) for f in funcs}
        if len(shapes) != 1 or len(next(iter(shapes))) != len(names):
            raise SpecError(
                f"{where}.payoffs: every payoff array must have shape (A_1, ..., A_N) with N = {len(names)}"
            )
        shape = next(iter(shapes))
    if any(a < 2 for a in shape):
        raise SpecError(f"{where}: every player needs at least 2 strategies, got {shape}")
    model = one_state_model(names, tuple(int(a) for a in shape), tau, funcs)
    _check_model(model, params, where)
    return model, extra


def openspiel_model(raw: Mapping[str, Any], where: str) -> tuple[MarkovModel, dict[str, Any]]:
    """An ``openspiel:`` section as a normal-form (one state) or tabular Markov model, with its
    canonical section (:mod:`sgncert.games.openspiel`)."""
    section = openspiel_section(raw, where)
    ex = section.extracted
    if ex.normal_form:  # built as normal_form_model builds a payoffs: section
        payoffs = [(lambda a: lambda p: a)(np.array(ex.rewards[i, 0])) for i in range(ex.players)]
        model = one_state_model(section.names, ex.actions, section.entropy, payoffs)
    else:
        P = ex.transitions
        model = MarkovModel(
            names=section.names,
            states=len(ex.state_labels),
            actions=ex.actions,
            discount=section.discount,
            entropy=section.entropy,
            initial=ex.initial,
            transitions=lambda p: P,
            rewards=tuple((lambda a: lambda p: a)(ex.rewards[i]) for i in range(ex.players)),
        )
    _check_model(model, {}, where)
    return model, section.canonical


def plain(value: Any) -> Any:
    """YAML data as plain JSON values (numbers as floats inside arrays)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    return float(value) if isinstance(value, float) else value


def tabular_game(
    spec: Mapping[str, Any],
    key: str,
    params: Mapping[str, np.ndarray],
    base_dir: Path,
    where: str,
    data_hashes: dict[str, str],
) -> tuple[tuple[Player, ...], PseudoGradient, dict[str, Any], MarkovModel, str]:
    """(players, F, canonical section ``{key: ...}``, model, kind) of a markov / normal_form /
    openspiel game; kind is "markov" or "normal_form" (an OpenSpiel game is either).

    ``data_hashes`` receives the sha256 of an .nfg file read."""
    loc = f"{where}: {key}"
    raw = mapping(spec[key], loc)
    names_used: list[str] = []
    if key == "markov":
        model = markov_model(raw, params, loc)
        canon = {k: (v if isinstance(v, (str, int, float)) else plain(v)) for k, v in raw.items()}
    elif key == "openspiel":
        model, canon = openspiel_model(raw, loc)
    else:
        model, extra = normal_form_model(raw, params, base_dir, loc)
        if "nfg" in extra:
            data_hashes.update(extra["nfg"])
            canon = {"payoffs": extra["payoffs"], "entropy": model.entropy}
        else:
            canon = {k: (v if isinstance(v, (str, int, float)) else plain(v)) for k, v in raw.items()}
    canon["players"] = list(model.names)  # play order survives the sorted keys of canonical JSON
    for n in model.names:
        if not n.isidentifier() or n in params or n in FUNCTIONS or n.startswith("__") or n in names_used:
            raise SpecError(f"{loc}: player name '{n}' must be a new identifier (not a param or function)")
        names_used.append(n)
    offsets = np.concatenate([[0], np.cumsum(model.dims)[:-1]]).astype(int)
    players = tuple(Player(n, d, int(o)) for n, d, o in zip(model.names, model.dims, offsets))
    F = pseudo_gradient_from_costs(markov_costs(model), players)
    kind = (
        "normal_form"
        if key == "normal_form" or (key == "openspiel" and model.discount == 0.0 and model.states == 1)
        else "markov"
    )
    return players, F, {key: canon}, model, kind
