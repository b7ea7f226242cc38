"""Games held in memory: JAX functions (or arrays) in, a :class:`~sgncert.games.model.Game` out.

A YAML spec is one way of describing a game; :func:`make_game` is the other. Everything but
the functions is the spec's (players, sets, region, sampling, weights, bounds, params), so it
is checked by the same code and errors carry the same messages, named after the argument
(``costs``, ``region``, ...) instead of a file and line. The functions are

- ``costs={"x": f_x, "y": f_y}`` with ``f_i(x, p) -> scalar``, or ``costs=f`` with
  ``f(x, p) -> {"x": f_x, "y": f_y}``: ``x`` is the dict of the players' vectors and ``p`` the
  dict of parameters (JAX arrays); F is their gradient by autodiff;
- ``pseudo_gradient=g`` with ``g(x, p) -> {"x": F_x, "y": F_y}``: F itself;
- ``blocks={"x": {"x": A, "y": B}, "y": {...}}`` (and ``offset={"x": c}``): an affine game
  ``F_i = sum_j H_ij x_j + c_i`` given by arrays (written into the spec as parameters, so
  its certificate is rebuilt without any code).

**Identity.** A certificate names its game by the sha256 of the canonical spec. For functions
that hash covers the *program*: the jaxpr that JAX traces from F (at the players' shapes and
the parameters' values) and every constant array it closes over. The same functions (or any
rewrite that traces to the same program) give the same hash, so a certificate verifies later
with the game rebuilt from the same code (``verify(cert, game=...)``); changing a coefficient
or a closed-over array changes it. The game keeps the program as traced when it is made
(closed-over arrays are copied into it), so changing an array afterwards changes neither
the game nor its hash: make the game again. An ``identifier`` given by the caller is
recorded beside the hash as a name for the code. See docs/theory.md §11 (phase 2).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import SpecError
from ..games.model import Game
from ..games.pseudo_gradient import check_costs, pseudo_gradient_from_costs, pseudo_gradient_from_player_costs
from ..games.spec import IN_MEMORY, game_from_dict
from ..util.jaxenv import float64

__all__ = ["make_game", "program_sha256", "IN_MEMORY"]


def _players(players: Any) -> list[dict[str, Any]]:
    """``{"x": 2, "y": 3}``, ``[("x", 2), ...]`` or spec-style ``[{"name": "x", "dim": 2, "set": ...}]``."""
    if isinstance(players, Mapping):
        return [{"name": str(k), "dim": v} for k, v in players.items()]
    if isinstance(players, (list, tuple)):
        out = []
        for k, item in enumerate(players):
            if isinstance(item, Mapping):
                out.append(dict(item))
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                out.append({"name": str(item[0]), "dim": item[1]})
            else:
                raise SpecError(f"players[{k}]: expected (name, dim) or {{name, dim, set}}, got {item!r:.60}")
        return out
    raise SpecError(f"players: expected a dict name -> dim or a list of players, got {type(players).__name__}")


def _plain(value: Any, where: str = "params") -> Any:
    """A value as the spec's plain JSON value (NumPy and JAX arrays to nested lists)."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise SpecError(f"{where}: expected a number or an array of numbers, got {type(value).__name__}") from None
    return arr.tolist()


@float64
def frozen_program(
    F: Callable[[Any, Mapping[str, Any]], Any], dim: int, params: Mapping[str, np.ndarray]
) -> tuple[Callable[[Any, Mapping[str, Any]], Any], str]:
    """(F as traced now, the sha256 of that program): the program JAX traces from ``F(x, p)``
    at x in R^dim and the parameters' shapes, evaluated from its jaxpr, whose constants are
    copies of the arrays F closes over; the hash covers the jaxpr's text and the bytes,
    shapes and dtypes of every constant."""
    import jax
    import jax.numpy as jnp
    from jax.extend.core import jaxpr_as_fun

    p = {k: jnp.asarray(v) for k, v in params.items()}
    closed = jax.make_jaxpr(lambda x, q: F(x, q))(jnp.zeros(dim), p)
    h = hashlib.sha256(str(closed.jaxpr).encode())
    for c in closed.consts:
        a = np.asarray(c)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    fun = jaxpr_as_fun(closed)
    treedef = jax.tree_util.tree_structure(p)

    def frozen(x: Any, q: Mapping[str, Any]) -> Any:
        leaves, tdef = jax.tree_util.tree_flatten(dict(q))
        if tdef != treedef:  # type: ignore[operator]  # PyTreeDef compares by structure
            raise SpecError("the parameters' names differ from the game's")
        return fun(x, *leaves)[0]

    return frozen, h.hexdigest()


def program_sha256(F: Callable[[Any, Mapping[str, Any]], Any], dim: int, params: Mapping[str, np.ndarray]) -> str:
    """sha256 of the program JAX traces from ``F(x, p)`` (:func:`frozen_program`)."""
    return frozen_program(F, dim, params)[1]


def _qualname(fn: Any) -> str:
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__)


def _blocks_spec(blocks: Any, offset: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pseudo_gradient section, params): array blocks become parameters named after their place."""
    if not isinstance(blocks, Mapping):
        raise SpecError("blocks: expected a dict player -> {player: array}")
    params: dict[str, Any] = {}
    section: dict[str, Any] = {"blocks": {}, "offset": {}}
    for i, row in blocks.items():
        if not isinstance(row, Mapping):
            raise SpecError(f"blocks.{i}: expected a dict player -> array")
        section["blocks"][str(i)] = {}
        for j, value in row.items():
            if isinstance(value, str):  # an expression of the parameters, as in a spec
                section["blocks"][str(i)][str(j)] = value
                continue
            name = f"H_{i}_{j}"
            params[name] = _plain(value, f"blocks.{i}.{j}")
            section["blocks"][str(i)][str(j)] = name
    if offset is not None:
        for i, value in offset.items():
            if isinstance(value, str):
                section["offset"][str(i)] = value
                continue
            name = f"c_{i}"
            params[name] = _plain(value, f"offset.{i}")
            section["offset"][str(i)] = name
    return section, params


@float64
def make_game(
    players: Any,
    *,
    costs: Callable[..., Any] | Mapping[str, Callable[..., Any]] | Mapping[str, str] | None = None,
    pseudo_gradient: Callable[..., Any] | None = None,
    blocks: Mapping[str, Mapping[str, Any]] | None = None,
    offset: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    region: Mapping[str, Any] | None = None,
    sampling: Mapping[str, Any] | None = None,
    weights: Sequence[float] | None = None,
    bounds: str | Mapping[str, Any] | None = None,
    name: str = "game",
    identifier: str | None = None,
) -> Game:
    """A game from Python values: the same :class:`~sgncert.games.model.Game` a spec file gives.

    Args:
        players: ``{"x": 2, "y": 3}``, or a list of ``(name, dim)`` or of spec-style
            ``{"name": ..., "dim": ..., "set": {...}}`` (constraint sets as in specs).
        costs: one JAX function per player, ``f_i(x, p) -> scalar``; one function
            ``f(x, p) -> {name: scalar}``; or expression strings as in a spec.
        pseudo_gradient: ``g(x, p) -> {name: F_i}``, F itself (instead of costs).
        blocks, offset: an affine game ``F_i = sum_j H_ij x_j + c_i`` from arrays.
        params: ordinary Python values (numbers, nested lists, NumPy or JAX arrays); the
            functions receive them as JAX arrays in ``p``.
        region, sampling, weights, bounds: as the spec's sections, with its defaults (the
            box of radius 1 around 0; 1024 Sobol points, seed 0); ``region={"center":
            "equilibrium"}`` centres it on the solved equilibrium.
        name: the game's name in tables and certificates.
        identifier: a name for the code, recorded beside the program's hash (every
            function sgncert can certify traces, so its program is always hashed).

    Returns:
        A :class:`~sgncert.games.model.Game`.

    Raises:
        SpecError: a bad argument (the message names it), or functions that do not trace.

    Example:
        >>> import jax.numpy as jnp
        >>> game = make_game(
        ...     {"x": 1, "y": 1},
        ...     costs={"x": lambda x, p: 0.5 * jnp.sum(x["x"] ** 2) + p["c"] * jnp.sum(x["x"] * x["y"]),
        ...            "y": lambda x, p: 0.5 * jnp.sum(x["y"] ** 2) - p["c"] * jnp.sum(x["x"] * x["y"])},
        ...     params={"c": 2.0}, region={"center": [0.0, 0.0], "radius": 1.0})
        >>> game.n_players, game.dim, game.kind
        (2, 2, 'python')
    """
    for arg, value in (("params", params), ("region", region), ("sampling", sampling), ("offset", offset)):
        if value is not None and not isinstance(value, Mapping):
            raise SpecError(f"{arg}: expected a dict, got {type(value).__name__}")
    if weights is not None and (isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__")):
        raise SpecError(f"weights: expected one positive number per player, got {weights!r:.60}")
    given = [
        k for k, v in (("costs", costs), ("pseudo_gradient", pseudo_gradient), ("blocks", blocks)) if v is not None
    ]
    if len(given) != 1:
        raise SpecError(f"make_game: give exactly one of costs, pseudo_gradient or blocks (got {given or 'none'})")
    spec: dict[str, Any] = {"sgncert": 1, "name": name, "players": _players(players)}
    names = [str(p.get("name")) for p in spec["players"]]
    plain_params = {str(k): _plain(v, f"params.{k}") for k, v in (params or {}).items()}
    if region is not None:  # else the spec's defaults
        spec["region"] = {str(k): _plain(v, f"region.{k}") for k, v in region.items()}
    if sampling is not None:
        spec["sampling"] = dict(sampling)
    if weights is not None:
        spec["weights"] = [_plain(v, "weights") for v in weights]
    if bounds is not None:
        spec["bounds"] = bounds if isinstance(bounds, str) else dict(bounds)
    strings = isinstance(costs, Mapping) and all(isinstance(v, (str, int, float)) for v in costs.values())
    if blocks is not None:
        section, block_params = _blocks_spec(blocks, offset)
        clash = sorted(set(block_params) & set(plain_params))
        if clash:
            raise SpecError(f"params: {clash[0]} is the name of a block; rename it")
        spec["pseudo_gradient"] = section
        spec["params"] = {**plain_params, **block_params}
        return game_from_dict(spec, label="make_game")
    spec["params"] = plain_params
    if strings:
        spec["costs"] = {str(k): v for k, v in costs.items()}  # type: ignore[union-attr]
        return game_from_dict(spec, label="make_game")
    # functions: resolve everything else as a spec with placeholder costs, then put F in
    spec["costs"] = dict.fromkeys(names, "0")
    base = game_from_dict(spec, label="make_game")
    players_t = base.players
    where: str
    if pseudo_gradient is not None:
        where = "pseudo_gradient"
        if not callable(pseudo_gradient):
            raise SpecError("pseudo_gradient: expected a function g(x, p) -> {player: gradient}")
        F = _field_from_dict(pseudo_gradient, players_t)
        functions = [_qualname(pseudo_gradient)]
        kind = "pseudo_gradient"
    elif callable(costs):
        where = "costs"
        check_costs(costs, players_t, base.params, where)
        _no_extra_costs(costs, base, where)
        F = pseudo_gradient_from_costs(costs, players_t)
        functions = [_qualname(costs)]
        kind = "costs"
    else:
        where = "costs"
        if not isinstance(costs, Mapping):
            raise SpecError(f"costs: expected a function, a dict player -> function, got {type(costs).__name__}")
        missing = [n for n in names if n not in costs]
        extra = [str(k) for k in costs if k not in names]
        if missing or extra:
            raise SpecError(f"costs: expected one function per player {names}, missing {missing}, unknown {extra}")
        for n, f in costs.items():
            if not callable(f):
                raise SpecError(f"costs.{n}: expected a function f(x, p) -> scalar or an expression string")
        per_player: dict[str, Callable[..., Any]] = {str(n): f for n, f in costs.items() if callable(f)}

        def all_costs(x: Mapping[str, Any], p: Mapping[str, Any]) -> dict[str, Any]:
            return {n: f(x, p) for n, f in per_player.items()}

        check_costs(all_costs, players_t, base.params, where)
        F = pseudo_gradient_from_player_costs(per_player, players_t)
        functions = [f"{n}: {_qualname(per_player[n])}" for n in names]
        kind = "player_costs"
    _check_output(F, base, where)  # every player's output traces, with its own shape
    # the game keeps the program as traced now: arrays the functions close over are copied
    # into it, so changing them later changes neither this game nor its hash
    F, digest = frozen_program(F, base.dim, base.params)
    record: dict[str, Any] = {"kind": kind, "program_sha256": digest}  # the code, not the functions' names
    if identifier is not None:
        record["identifier"] = str(identifier)
    canonical = dict(base.canonical)
    canonical["costs"] = {IN_MEMORY: record}
    return dataclasses.replace(
        base,
        pseudo_gradient=F,
        affine=False,
        kind="python",
        canonical=canonical,
        structure=None,
        affine_parts=None,
        source="",
        extras={**base.extras, IN_MEMORY: {**record, "functions": functions}},
    )


def _field_from_dict(g: Callable[..., Any], players: Sequence[Any]) -> Callable[[Any, Mapping[str, Any]], Any]:
    """F(x, p) for ``g(x_dict, p) -> {name: F_i}``."""
    from ..games.model import split

    def F(x: Any, p: Mapping[str, Any]) -> Any:
        import jax.numpy as jnp

        out = g(split(x, tuple(players)), p)
        if not isinstance(out, Mapping):
            raise SpecError("pseudo_gradient: the function must return a dict player -> gradient")
        names = [pl.name for pl in players]
        extra = [str(k) for k in out if k not in names]
        if extra:
            raise SpecError(f"pseudo_gradient: gradients of unknown players {extra} (players: {names})")
        parts = []
        for pl in players:
            if pl.name not in out:
                raise SpecError(f"pseudo_gradient: no gradient for player '{pl.name}'")
            v = jnp.asarray(out[pl.name])
            if v.size != pl.dim or v.ndim > 1:
                raise SpecError(f"pseudo_gradient.{pl.name}: shape {tuple(v.shape)}, expected ({pl.dim},)")
            parts.append(jnp.reshape(v, (-1,)))
        return jnp.concatenate(parts)

    return F


def _no_extra_costs(costs: Callable[..., Any], game: Game, where: str) -> None:
    """A costs function names only the game's players."""
    import jax
    import jax.numpy as jnp

    x = {pl.name: jax.ShapeDtypeStruct((pl.dim,), jnp.float64) for pl in game.players}
    out = jax.eval_shape(costs, x, game.jax_params())
    names = [pl.name for pl in game.players]
    extra = [str(k) for k in out if k not in names]
    if extra:
        raise SpecError(f"{where}: costs of unknown players {extra} (players: {names})")


def _check_output(F: Callable[..., Any], game: Game, where: str) -> None:
    """F returns one number per coordinate (evaluated abstractly)."""
    import jax
    import jax.numpy as jnp

    try:
        out = jax.eval_shape(F, jax.ShapeDtypeStruct((game.dim,), jnp.float64), game.jax_params())
    except SpecError:
        raise
    except Exception as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecError(f"{where}: evaluating the functions failed: {msg}") from None
    if tuple(out.shape) != (game.dim,):
        raise SpecError(f"{where}: the pseudo-gradient has shape {tuple(out.shape)}, expected ({game.dim},)")


def from_openspiel(
    game: Any,
    *,
    entropy: float,
    discount: float | None = None,
    params: Mapping[str, Any] | None = None,
    players: Sequence[str] | None = None,
    region: Mapping[str, Any] | None = None,
    sampling: Mapping[str, Any] | None = None,
    weights: Sequence[float] | None = None,
    bounds: str | Mapping[str, Any] | None = None,
    geometry: str | None = None,
    name: str | None = None,
) -> Game:
    """An OpenSpiel game as an entropy-regularised normal-form or tabular Markov game:
    the game a spec's ``openspiel:`` section gives (docs/theory.md §8).

    Args:
        game: a loaded ``pyspiel.Game`` (rebuilt from its name and parameters, which the
            certificate records) or a game string such as ``"matrix_rps"``.
        params: the game's parameters, with a game string (``{"horizon": 3}``).
        entropy: the entropy weight tau > 0.
        discount: for stochastic games, the discount in [0, 1); one-shot games take none.
        players: names for the players (default ``p1, p2, ...``).
        region, sampling, weights, bounds, geometry: as the spec's sections (geometry
            ``fisher`` by default).
        name: the game's name (default: the OpenSpiel game's short name).

    Returns:
        A :class:`~sgncert.games.model.Game` of kind ``normal_form`` or ``markov``.

    Raises:
        SpecError: open_spiel is not installed, or the game does not map (turn-based,
            imperfect information, ...: the message says why).

    Example:
        >>> import pyspiel                                                     # doctest: +SKIP
        >>> game = from_openspiel(pyspiel.load_game("matrix_rps"), entropy=1.0)  # doctest: +SKIP
        >>> game.kind, game.canonical["openspiel"]["game"]                    # doctest: +SKIP
        ('normal_form', 'matrix_rps()')
    """
    from ..games.openspiel import pyspiel_module

    pyspiel = pyspiel_module("from_openspiel")
    if not (isinstance(game, pyspiel.Game) or (isinstance(game, str) and game.strip())):
        raise SpecError(
            f"game: expected a pyspiel.Game or an OpenSpiel game string such as 'matrix_rps', got {game!r:.60}"
        )
    section: dict[str, Any] = {"game": game, "entropy": entropy}
    if params is not None:
        if not isinstance(params, Mapping):
            raise SpecError(f"params: expected a dict of game parameters, got {type(params).__name__}")
        section["params"] = dict(params)
    if discount is not None:
        section["discount"] = discount
    if players is not None:
        if isinstance(players, (str, bytes)):
            raise SpecError(f"players: expected a list of names, got {players!r}")
        section["players"] = [str(p) for p in players]
    if name is None:
        name = game.split("(")[0] if isinstance(game, str) else str(game.get_type().short_name)
    spec: dict[str, Any] = {"sgncert": 1, "name": name, "openspiel": section}
    for key, value in (("region", region), ("sampling", sampling)):
        if value is not None:
            if not isinstance(value, Mapping):
                raise SpecError(f"{key}: expected a dict, got {type(value).__name__}")
            spec[key] = {str(k): _plain(v, f"{key}.{k}") for k, v in value.items()}
    if weights is not None:
        if isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__"):
            raise SpecError(f"weights: expected one positive number per player, got {weights!r:.60}")
        spec["weights"] = [_plain(v, "weights") for v in weights]
    if bounds is not None:
        if not isinstance(bounds, (str, Mapping)):
            raise SpecError(f"bounds: expected 'sampled', 'sound' or a dict, got {bounds!r:.60}")
        spec["bounds"] = bounds if isinstance(bounds, str) else dict(bounds)
    if geometry is not None:
        spec["geometry"] = geometry
    return game_from_dict(spec, label="from_openspiel")
