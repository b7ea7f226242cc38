"""The ``openspiel:`` section: an OpenSpiel game read into sgncert's tabular models
(docs/theory.md §8, "Games from OpenSpiel").

A simultaneous-move game with perfect information and listed chance outcomes is explored
from its initial state. Its decision states (every player acts at once) are its
*histories*: OpenSpiel has no Markov state, and the printed state can hide what the
future depends on (a step count, a reward already paid), so two histories are never
merged and the model is the game tree itself. Chance nodes between decision states are
summed out. Player i's
reward for a joint action a at state s is the expected change of its OpenSpiel return
until the next decision state, ``r_i(s, a) = E[R_i(s') - R_i(s)]``, so intermediate
rewards and terminal payoffs both count once. Terminal states merge into one absorbing
state with reward 0. OpenSpiel's payoffs are utilities, maximised, exactly as the
``normal_form:`` and ``markov:`` sections read them.

* One decision state whose every joint action ends the game (matrix games, one-shot
  normal-form games) is the normal-form model: the payoff tensors are the expected
  returns, and no discount applies.
* Otherwise it is the tabular Markov model on the tree: finite games only (every history
  ends), with the discount from the spec applied per decision step.

Refused, with a sentence saying why: turn-based games, imperfect information, sampled
chance, legal actions that change between states, more than ``MAX_STATES`` decision
histories, ``MAX_JOINT_ACTIONS`` joint actions or ``MAX_TENSOR`` transition entries.

The game's identity is its game string (and parameters), the open_spiel version that
read it and the sha256 of the extracted tensors; a spec that records a sha256 is refused
(:class:`~sgncert.errors.SourceChanged`) when the installed OpenSpiel reads different
tensors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SourceChanged, SpecError
from .fields import check_keys, mapping, number_in

OPENSPIEL_KEYS = ("game", "params", "entropy", "discount", "players", "sha256", "open_spiel", "states")
MAX_STATES = 2000  # decision states (histories) explored before refusing (the Jacobian has S * sum(A_i) rows)
MAX_JOINT_ACTIONS = 100_000  # joint actions of one decision state
MAX_TENSOR = 25_000_000  # entries of the transition tensor S x A_1 x ... x A_N x S
TERMINAL = "<terminal>"
EXTRA = 'OpenSpiel games need the optional extra: pip install "sgncert[openspiel]"'


def pyspiel_module(where: str) -> Any:
    """The ``pyspiel`` module, or a one-line error naming the optional extra."""
    try:
        import pyspiel
    except ImportError:
        raise SpecError(f"{where}: {EXTRA}") from None
    return pyspiel


def open_spiel_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("open_spiel")
    except PackageNotFoundError:  # pragma: no cover - pyspiel imported from a source build
        return "unknown"


@dataclass(frozen=True)
class ExtractedGame:
    """The tensors read from an OpenSpiel game.

    ``transitions`` is ``P[s, a_1, ..., a_N, s']`` and ``rewards`` is ``r[i, s, a_1, ..., a_N]``;
    the absorbing terminal state, when reached, is the last state."""

    game_string: str
    players: int
    actions: tuple[int, ...]
    state_labels: tuple[str, ...]
    initial: np.ndarray
    transitions: np.ndarray
    rewards: np.ndarray

    @property
    def normal_form(self) -> bool:
        """One decision state, entered surely, whose every joint action ends the game."""
        return (
            len(self.state_labels) == 2
            and self.state_labels[-1] == TERMINAL
            and self.initial[0] == 1.0
            and bool(np.all(self.transitions[0, ..., 1] == 1.0))
        )

    @property
    def sha256(self) -> str:
        """sha256 of the action counts and the float64 tensors (little-endian, C order)."""
        h = hashlib.sha256()
        h.update(np.asarray(self.actions, dtype="<i8").tobytes())
        for arr in (self.initial, self.transitions, self.rewards):
            h.update(np.ascontiguousarray(arr, dtype="<f8").tobytes())
        return h.hexdigest()


def game_string(game: Any) -> str:
    """A string ``pyspiel.load_game`` reads back into ``game``: its short name and parameters."""
    pyspiel = pyspiel_module("openspiel")
    return str(pyspiel.game_parameters_to_string({"name": game.get_type().short_name, **game.get_parameters()}))


def load(value: Any, params: Any, where: str) -> tuple[Any, Any, dict[str, Any]]:
    """(pyspiel game, the game as given when it is a loaded ``pyspiel.Game`` else None, the
    canonical ``game`` / ``params`` entries that load it again)."""
    pyspiel = pyspiel_module(where)
    if isinstance(value, pyspiel.Game):
        if params:
            raise SpecError(f"{where}.params: a loaded game already has its parameters; give them to load_game")
        string = game_string(value)
        return _reloaded(string, where), value, {"game": string}
    if not isinstance(value, str) or not value.strip():
        raise SpecError(
            f"{where}.game: expected a pyspiel.Game or an OpenSpiel game string such as 'matrix_rps', got {value!r:.60}"
        )
    extra = {} if params is None else dict(mapping(params, f"{where}.params"))
    for k, v in extra.items():
        if not isinstance(v, (bool, int, float, str)):
            raise SpecError(f"{where}.params.{k}: expected a number, boolean or string, got {v!r:.60}")
    if extra and "(" in value:
        raise SpecError(f"{where}: give the game's parameters in its string or in params, not both ({value!r})")
    game = _load_game(value, extra, where)
    return game, None, {"game": value} | ({"params": extra} if extra else {})


def _load_game(value: str, extra: dict[str, Any], where: str, failed: Callable[[str], str] | None = None) -> Any:
    """pyspiel.load_game, silenced; games implemented in Python are registered on demand.
    ``failed(reason)`` words the error (default: OpenSpiel cannot load the game)."""
    pyspiel = pyspiel_module(where)
    for attempt in range(2):
        try:
            with _quiet_stderr():  # OpenSpiel prints its error (with every game name) before raising it
                return pyspiel.load_game(value, extra) if extra else pyspiel.load_game(value)
        except Exception as exc:  # pyspiel.SpielError: unknown game, bad parameter
            message = _first_line(exc)
            if attempt == 0 and message.startswith("Unknown game"):
                with contextlib.suppress(Exception):  # OpenSpiel's games written in Python register on import
                    import open_spiel.python.games  # noqa: F401
                continue
            text = failed(message) if failed else f"OpenSpiel cannot load {value!r}: {message}"
            raise SpecError(f"{where}.game: {text}") from None
    raise AssertionError("unreachable")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return re.sub(r"\s*Available \w+ are:$", "", text.splitlines()[0]) if text else type(exc).__name__


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (C++ writes there directly) for the block."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (an embedded interpreter): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _reloaded(string: str, where: str) -> Any:
    """The game ``pyspiel.load_game(string)`` rebuilds, or an error saying it cannot."""
    return _load_game(
        string,
        {},
        where,
        lambda reason: (
            f"this game cannot be rebuilt from its name and parameters ({string!r}: {reason}), so its "
            "certificate could not be verified; load it with pyspiel.load_game"
        ),
    )


def _refuse_kind(game: Any, where: str) -> None:
    pyspiel = pyspiel_module(where)
    gt = game.get_type()
    name = gt.short_name
    if gt.dynamics == pyspiel.GameType.Dynamics.SEQUENTIAL:
        raise SpecError(
            f"{where}: '{name}' is turn-based (players move one at a time); sgncert's games are "
            "simultaneous-move, every player choosing a policy at every state"
        )
    if gt.dynamics != pyspiel.GameType.Dynamics.SIMULTANEOUS:
        raise SpecError(f"{where}: '{name}' has {gt.dynamics.name.lower()} dynamics; only simultaneous-move games map")
    if gt.information == pyspiel.GameType.Information.IMPERFECT_INFORMATION:
        raise SpecError(
            f"{where}: '{name}' has imperfect information: players do not see the state, so a policy "
            "per state (the tabular Markov model) is not a policy of this game"
        )
    if gt.chance_mode == pyspiel.GameType.ChanceMode.SAMPLED_STOCHASTIC:
        raise SpecError(f"{where}: '{name}' samples its chance outcomes instead of listing them; they cannot be summed")
    if game.num_players() < 2:
        raise SpecError(f"{where}: '{name}' has {game.num_players()} player; a game needs at least 2")


class _Explorer:
    """Breadth-first exploration of the decision states (see the module docstring)."""

    def __init__(self, game: Any, where: str):
        self.game, self.where = game, where
        self.n = game.num_players()
        self.keys: dict[str, int] = {}  # history (or TERMINAL) -> index in order of discovery
        self.decisions = 0  # keys that are decision states
        self.actions: tuple[int, ...] | None = None

    def _fail(self, msg: str) -> SpecError:
        return SpecError(f"{self.where}: '{self.game.get_type().short_name}' {msg}")

    def settle(self, state: Any, prob: float, out: list[tuple[Any, float]]) -> None:
        """Sum out chance nodes: the decision or terminal states reached, with probabilities."""
        if state.is_chance_node():
            for outcome, p in state.chance_outcomes():
                if p > 0.0:
                    child = state.clone()
                    child.apply_action(outcome)
                    self.settle(child, prob * p, out)
            return
        out.append((state, prob))

    def key(self, state: Any) -> str:
        """A decision state is its history (every action and chance outcome so far):
        OpenSpiel has no Markov state, and its printed state can hide what the future
        depends on (a step count, a reward already paid), so histories are never merged."""
        return TERMINAL if state.is_terminal() else ",".join(map(str, state.history()))

    def index(self, state: Any) -> tuple[int, bool]:
        """The index of the state's key; True when this history saw it first."""
        k = self.key(state)
        if k in self.keys:
            return self.keys[k], False
        if k != TERMINAL:
            count = self.decisions
            joint = math.prod(self.actions) if self.actions else 1
            if count >= MAX_STATES or (count + 2) ** 2 * joint > MAX_TENSOR:
                raise self._fail(
                    f"has more than {count} decision states (histories: a finite game with at most {MAX_STATES} "
                    f"and {MAX_TENSOR} transition entries maps); sgncert's tabular model would be too large"
                )
            self.decisions += 1
        self.keys[k] = len(self.keys)
        return self.keys[k], True

    def _legal(self, state: Any) -> tuple[int, ...]:
        if not state.is_simultaneous_node():
            raise self._fail(
                f"lets player {state.current_player()} move alone in state {str(state)!r}; "
                "sgncert needs every player to act at every state"
            )
        counts = []
        for i in range(self.n):
            legal = list(state.legal_actions(i))
            if legal != list(range(len(legal))) or len(legal) < 2:
                raise self._fail(
                    f"gives player {i} the legal actions {legal[:8]} in state {str(state)!r}; sgncert's tabular "
                    "model needs the same actions 0, ..., A-1 (at least 2) in every state"
                )
            counts.append(len(legal))
        found = tuple(counts)
        if self.actions is None:
            if math.prod(found) > MAX_JOINT_ACTIONS:
                raise self._fail(
                    f"has {math.prod(found)} joint actions {found} in one state (more than {MAX_JOINT_ACTIONS}); "
                    "sgncert's tabular model would be too large"
                )
            self.actions = found
        elif found != self.actions:
            raise self._fail(
                f"has {found} legal actions in state {str(state)!r} but {self.actions} in the first state; "
                "sgncert's tabular model needs the same action counts in every state"
            )
        return found

    def row(self, state: Any) -> tuple[np.ndarray, dict[tuple[tuple[int, ...], str], float], list[Any]]:
        """(expected reward changes [A..., N], the probability of each (joint action, next
        key), the states reached)."""
        acts = self._legal(state)
        base = np.asarray(state.returns(), dtype=np.float64)
        rewards = np.zeros((*acts, self.n))
        nxt: dict[tuple[tuple[int, ...], str], float] = {}
        reached: list[Any] = []
        for joint in np.ndindex(*acts):
            child = state.clone()
            child.apply_actions([int(a) for a in joint])
            out: list[tuple[Any, float]] = []
            self.settle(child, 1.0, out)
            for s, p in out:
                rewards[joint] += p * (np.asarray(s.returns(), dtype=np.float64) - base)
                edge = (joint, self.key(s))
                nxt[edge] = nxt.get(edge, 0.0) + p
                reached.append(s)
        return rewards, nxt, reached

    def explore(self) -> ExtractedGame:
        root: list[tuple[Any, float]] = []
        self.settle(self.game.new_initial_state(), 1.0, root)
        initial: dict[int, float] = {}
        queue: list[Any] = []
        for s, p in root:
            i, new = self.index(s)
            initial[i] = initial.get(i, 0.0) + p
            if new:
                queue.append(s)
        dists: dict[int, tuple[np.ndarray, dict[tuple[tuple[int, ...], str], float]]] = {}
        head = 0
        while head < len(queue):
            state = queue[head]
            head += 1
            if state.is_terminal():
                continue
            i = self.keys[self.key(state)]
            rewards, nxt, reached = self.row(state)
            dists[i] = (rewards, nxt)
            for s in reached:
                _, new = self.index(s)
                if new:
                    queue.append(s)
        if self.actions is None:
            raise self._fail("ends before any player acts")
        return self._tensors(initial, dists)

    def _tensors(
        self, initial: dict[int, float], dists: dict[int, tuple[np.ndarray, dict[tuple[tuple[int, ...], str], float]]]
    ) -> ExtractedGame:
        assert self.actions is not None
        acts, n = self.actions, self.n
        labels = [k for k in self.keys if k != TERMINAL]  # the histories
        order = {k: i for i, k in enumerate(labels)}
        if TERMINAL in self.keys:
            order[TERMINAL] = len(labels)
            labels.append(TERMINAL)
        S = len(labels)
        by_old = {old: order[k] for k, old in self.keys.items()}
        P = np.zeros((S, *acts, S))
        r = np.zeros((n, S, *acts))
        for old, (rewards, nxt) in dists.items():
            s = by_old[old]
            r[(slice(None), s)] = np.moveaxis(rewards, -1, 0)
            for (joint, k), p in nxt.items():
                P[(s, *joint, order[k])] += p
        if TERMINAL in order:
            P[(order[TERMINAL], ..., order[TERMINAL])] = 1.0
        mu0 = np.zeros(S)
        for old, p in initial.items():
            mu0[by_old[old]] += p
        return ExtractedGame(
            game_string="",
            players=n,
            actions=acts,
            state_labels=tuple(labels),
            initial=mu0,
            transitions=P,
            rewards=r,
        )


def _check_utility(game: Any, ex: ExtractedGame, where: str) -> None:
    """The payoffs must be what the game type declares (zero-sum, identical interest)."""
    pyspiel = pyspiel_module(where)
    utility = game.get_type().utility
    spread = 0.0
    if utility == pyspiel.GameType.Utility.ZERO_SUM:
        spread, what = float(np.max(np.abs(ex.rewards.sum(axis=0)))), "zero-sum"
    elif utility == pyspiel.GameType.Utility.CONSTANT_SUM:
        total = ex.rewards.sum(axis=0)
        spread, what = float(np.max(total) - np.min(total)), "constant-sum"
    elif utility == pyspiel.GameType.Utility.IDENTICAL:
        spread, what = float(np.max(np.ptp(ex.rewards, axis=0))), "identical-interest"
    if spread > 1e-9 * max(1.0, float(np.max(np.abs(ex.rewards)))):
        raise SpecError(f"{where}: '{game.get_type().short_name}' declares itself {what}, but its payoffs are not")


def extract(game: Any, where: str) -> ExtractedGame:
    """The tensors of an OpenSpiel game (refusing games that do not map; module docstring)."""
    _refuse_kind(game, where)
    ex = _Explorer(game, where).explore()
    _check_utility(game, ex, where)
    return ex


@dataclass(frozen=True)
class OpenSpielSection:
    """A validated ``openspiel:`` section: the tensors and the canonical section."""

    extracted: ExtractedGame
    names: tuple[str, ...]
    entropy: float
    discount: float
    canonical: dict[str, Any]


def openspiel_section(raw: Mapping[str, Any], where: str) -> OpenSpielSection:
    """Validate an ``openspiel:`` section and read its game (module docstring)."""
    check_keys(raw, OPENSPIEL_KEYS, where)
    if "game" not in raw:
        raise SpecError(f"{where}: 'game' is required (an OpenSpiel game string such as 'matrix_rps')")
    tau = number_in(raw.get("entropy"), f"{where}.entropy", 0.0, math.inf, lo_open=True, hi_open=True)
    game, given, identity = load(raw["game"], raw.get("params"), where)
    string = identity["game"]
    ex = dataclasses.replace(extract(game, where), game_string=string)
    digest = ex.sha256
    if given is not None and extract(given, where).sha256 != digest:
        raise SpecError(
            f"{where}.game: loading {string!r} again gives another game than the one passed (its parameters "
            "do not survive OpenSpiel's game string, e.g. a float with more than 15 digits), so its "
            "certificate could not be verified; load it with a game string"
        )
    recorded = raw.get("sha256")
    version = open_spiel_version()
    if recorded is not None:
        if recorded != digest:
            made = raw.get("open_spiel", "another version")
            raise SourceChanged(
                f"{where}: open_spiel {version} reads {string!r} into tensors with sha256 {digest[:16]}..., "
                f"not the recorded {str(recorded)[:16]}... (read by open_spiel {made}): the game changed"
            )
        version = str(raw.get("open_spiel", version))
    names_raw = raw.get("players")
    if names_raw is None:
        names = tuple(f"p{k + 1}" for k in range(ex.players))
    elif (
        not isinstance(names_raw, list)
        or len(names_raw) != ex.players
        or not all(isinstance(x, str) for x in names_raw)
        or len(set(names_raw)) != len(names_raw)
    ):
        raise SpecError(f"{where}.players: expected a list of {ex.players} distinct player names")
    else:
        names = tuple(names_raw)
    S = 1 if ex.normal_form else len(ex.state_labels)  # the model's states (one-shot: no terminal state)
    if "states" in raw and (isinstance(raw["states"], bool) or raw["states"] != S):
        raise SpecError(f"{where}.states: the game has {S} states, not {raw['states']!r}")
    canonical: dict[str, Any] = {**identity, "entropy": tau, "players": list(names)}
    if ex.normal_form:
        if "discount" in raw:
            raise SpecError(f"{where}.discount: {string!r} is a one-shot (normal-form) game; it has no discount")
        gamma = 0.0
    else:
        if "discount" not in raw:
            raise SpecError(
                f"{where}.discount: {string!r} is a stochastic game (episodic in OpenSpiel); give a discount in [0, 1)"
            )
        gamma = number_in(raw.get("discount"), f"{where}.discount", 0.0, 1.0, hi_open=True)
        canonical["discount"] = gamma
    canonical |= {"states": S, "sha256": digest, "open_spiel": version}
    return OpenSpielSection(ex, names, tau, gamma, canonical)
