"""Loading and validating game specs into :class:`~sgncert.games.model.Game`.

The YAML is read with ``yaml.safe_load`` semantics only (:mod:`~sgncert.games.yamlsource`);
expressions are compiled by :mod:`~sgncert.games.expressions` (``ast``, never ``eval``).
The only way a spec runs user code is a Python hook ``costs: {python: file.py:fn}``
(:mod:`~sgncert.games.hooks`), whose file's sha256 is recorded. Every problem raises
:class:`~sgncert.errors.SpecError` with one line naming the file, line, field and value.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SpecError
from ..theory.sets import ConstraintSet, ProductSet, SetError, make_set
from ..util.jaxenv import float64
from .expressions import FUNCTIONS
from .fields import check_keys, did_you_mean, mapping
from .markov import fisher_transform, gauge_matrix
from .model import Game, Player, PseudoGradient, Region, Sampling
from .params import parse_overrides, resolve_params, to_array
from .pseudo_gradient import (
    affine_blocks,
    check_costs,
    expression_costs,
    hook_costs,
    pseudo_gradient_from_blocks,
    pseudo_gradient_from_costs,
    pseudo_gradient_from_player_costs,
)
from .structure import CostStructure, cost_structure
from .tabular import TABULAR_KEYS, tabular_game
from .yamlsource import read_spec, with_line

TOP_KEYS = (
    "sgncert",
    "name",
    "params",
    "players",
    "costs",
    "pseudo_gradient",
    "region",
    "sampling",
    "weights",
    "markov",
    "normal_form",
    "openspiel",
    "geometry",
    "data_files",
    "bounds",
)
SAMPLERS = ("sobol", "random", "grid", "vertices")
IN_MEMORY = "in_memory"  # the costs section a game built from Python functions records (sgncert.make_game)
MAX_DIM = 10_000_000  # players of neural networks: the matrix-free path never forms a d x d matrix

Overrides = Mapping[str, Any] | list[str] | tuple[str, ...] | None


def _players(raw: Any, where: str, reserved: set[str]) -> tuple[tuple[Player, ...], ProductSet | None]:
    """The players, and their constraint sets (None when no player has one)."""
    if not isinstance(raw, list) or not raw:
        raise SpecError(f"{where}: expected a non-empty list of {{name, dim}} entries")
    players: list[Player] = []
    sets: list[ConstraintSet | None] = []
    offset, seen = 0, set[str]()
    for k, entry in enumerate(raw):
        loc = f"{where}[{k}]"
        entry = mapping(entry, loc)
        check_keys(entry, ("name", "dim", "set"), loc)
        name, dim = entry.get("name"), entry.get("dim", 1)
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("__"):
            raise SpecError(f"{loc}.name: {name!r} is not a valid identifier")
        if name in seen or name in reserved:
            raise SpecError(f"{loc}.name: '{name}' is already used by a player, parameter or function")
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise SpecError(f"{loc}.dim: expected a positive integer, got {dim!r}")
        seen.add(name)
        players.append(Player(name, dim, offset))
        if "set" in entry:
            try:
                sets.append(make_set(mapping(entry["set"], f"{loc}.set"), dim))
            except SetError as exc:
                raise SpecError(f"{loc}.set: {exc}") from None
        else:
            sets.append(None)
        offset += dim
    if offset > MAX_DIM:
        raise SpecError(f"{where}: total dimension {offset} exceeds the limit {MAX_DIM}")
    product = ProductSet(tuple(sets), tuple(p.dim for p in players)) if any(x is not None for x in sets) else None
    return tuple(players), product


def _set_canon(s: ConstraintSet) -> dict[str, Any]:
    """A set's canonical spec form: JSON numbers, infinite bounds as the strings "inf" / "-inf"."""

    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, float) and math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v

    return plain(s.describe())


def _check_center_in_sets(region: Region, sets: ProductSet, players: tuple[Player, ...], where: str) -> None:
    """A given centre must lie in X: constants are computed on R and X, and F is never evaluated outside X."""
    if region.center is None:
        return
    for p, s in zip(players, sets.sets):
        if s is not None and not bool(s.contains(region.center[p.slice])):
            part = ", ".join(repr(float(v)) for v in region.center[p.slice][:6])
            raise SpecError(
                f"{where}.center: player {p.name}'s part [{part}{', ...' if p.dim > 6 else ''}] "
                f"is outside its set {s.kind}; the centre must lie in the players' sets (use center: equilibrium)"
            )


def _region(raw: Any, where: str, dim: int) -> tuple[Region, dict[str, Any]]:
    raw = mapping(raw, where)
    check_keys(raw, ("center", "radius", "norm"), where)
    radius = raw.get("radius", 1.0)
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not (0 < radius < math.inf):
        raise SpecError(f"{where}.radius: expected a positive finite number, got {radius!r}")
    norm_raw = raw.get("norm", "inf")
    norm = {"inf": "inf", "box": "inf", "2": "2", "ball": "2"}.get(
        "inf" if norm_raw == math.inf else str(norm_raw).strip().lower()
    )
    if norm is None:
        raise SpecError(f"{where}.norm: expected inf (box) or 2 (ball), got {norm_raw!r}")
    center_raw = raw.get("center", "zeros")
    center: np.ndarray | None
    center_canon: str | list[float]
    if center_raw == "zeros":
        center, center_canon = np.zeros(dim), "zeros"
    elif center_raw == "equilibrium":
        center, center_canon = None, "equilibrium"
    else:
        if isinstance(center_raw, str):
            raise SpecError(f"{where}.center: expected a list, 'zeros' or 'equilibrium', got {center_raw!r}")
        center = to_array(center_raw, f"{where}.center").reshape(-1)
        if center.shape != (dim,):
            raise SpecError(f"{where}.center: has {center.size} entries, the game has dimension {dim}")
        if not np.all(np.isfinite(center)):
            raise SpecError(f"{where}.center: contains NaN or Inf")
        center_canon = [float(c) for c in center]
    canon: dict[str, Any] = {"center": center_canon, "radius": float(radius), "norm": norm}
    return Region(center, float(radius), norm, center_canon), canon


def _sampling(raw: Any, where: str, samples: int | None, seed: int | None) -> Sampling:
    raw = mapping(raw if raw is not None else {}, where)
    check_keys(raw, ("method", "samples", "seed"), where)
    method = raw.get("method", "sobol")
    if method not in SAMPLERS:
        raise SpecError(f"{where}.method: unknown sampler {method!r}{did_you_mean(method, SAMPLERS)}")
    n = raw.get("samples", 1024) if samples is None else samples
    s = raw.get("seed", 0) if seed is None else seed
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 10_000_000:
        raise SpecError(f"{where}.samples: expected an integer in [1, 10000000], got {n!r}")
    if isinstance(s, bool) or not isinstance(s, int) or s < 0:
        raise SpecError(f"{where}.seed: expected a non-negative integer, got {s!r}")
    return Sampling(method, n, s)


BOUNDS = ("sampled", "sound")


def _bounds(raw: Any, where: str) -> tuple[str, dict[str, float], Any]:
    """``bounds: sampled | sound`` or ``{method: sound, tolerance: 0.01, boxes: N, seconds: S}``:
    (method, options, canonical form or None when absent)."""
    if raw is None:
        return "sampled", {}, None
    if isinstance(raw, str):
        raw = {"method": raw}
    raw = mapping(raw, where)
    check_keys(raw, ("method", "tolerance", "boxes", "seconds"), where)
    method = raw.get("method", "sampled")
    if method not in BOUNDS:
        raise SpecError(
            f"{where}.method: expected 'sampled' or 'sound', got {method!r}{did_you_mean(str(method), BOUNDS)}"
        )
    opts: dict[str, float] = {}
    for key, integral in (("tolerance", False), ("boxes", True), ("seconds", False)):
        if key not in raw:
            continue
        v = raw[key]
        ok = not isinstance(v, bool) and isinstance(v, int if integral else (int, float))
        if not ok or not math.isfinite(float(v)) or v <= 0:
            kind = "a positive integer" if integral else "a positive number"
            raise SpecError(f"{where}.{key}: expected {kind}, got {v!r}")
        opts[key] = int(v) if integral else float(v)
    return method, opts, {"method": method, **opts}


def _weights(raw: Any, where: str, n_players: int) -> tuple[float, ...] | None:
    if raw is None:
        return None
    w = to_array(raw, where).reshape(-1)
    if w.shape != (n_players,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise SpecError(f"{where}: expected {n_players} positive finite numbers")
    return tuple(float(v) for v in w)


def load_game(
    path: str | Path, overrides: Overrides = None, *, samples: int | None = None, seed: int | None = None
) -> Game:
    """Load, validate and resolve a game spec file.

    Args:
        path: the spec (YAML).
        overrides: ``--set`` strings (``["lam=0.5"]``) or an already parsed mapping of
            parameter values.
        samples, seed: override the spec's ``sampling`` section.

    Returns:
        The resolved :class:`~sgncert.games.model.Game`.

    Raises:
        SpecError: the file, a field, a parameter or an expression is invalid (the message
            names the file and line).

    Example:
        >>> game = load_game("games/scalar.yaml", ["lam=0.8"])  # doctest: +SKIP
    """
    path = Path(path)
    raw, lines = read_spec(path)
    try:
        return game_from_dict(raw, path.parent, str(path), overrides, samples=samples, seed=seed)
    except SpecError as exc:  # point at the line of the offending field
        raise SpecError(with_line(str(exc), str(path), lines)) from None


@float64
def game_from_dict(
    raw: Any,
    base_dir: str | Path = ".",
    label: str = "<spec>",
    overrides: Overrides = None,
    *,
    samples: int | None = None,
    seed: int | None = None,
) -> Game:
    """Build a :class:`~sgncert.games.model.Game` from an already parsed spec mapping.

    ``base_dir`` resolves relative paths (data files, Python hooks, .nfg files); ``label``
    names the spec in error messages. Otherwise as :func:`load_game`.
    """
    base_dir = Path(base_dir)
    if isinstance(overrides, (list, tuple)):
        overrides = parse_overrides(overrides)
    where = label
    spec = mapping(raw, where)
    check_keys(spec, TOP_KEYS, where)
    if spec.get("sgncert") != 1:
        raise SpecError(f"{where}: sgncert: expected schema version 1, got {spec.get('sgncert')!r}")
    tabular = [k for k in TABULAR_KEYS if k in spec]
    if len(tabular) > 1 or (tabular and any(k in spec for k in ("players", "costs", "pseudo_gradient"))):
        raise SpecError(
            f"{where}: a '{tabular[0]}' game defines its own players and costs; "
            "remove players/costs/pseudo_gradient (or the other game section)"
        )
    geometry = spec.get("geometry", "fisher" if tabular else "euclidean")
    if geometry not in ("euclidean", "fisher") or (geometry == "fisher" and not tabular):
        raise SpecError(
            f"{where}: geometry: expected 'euclidean'{' or fisher' if tabular else ''} "
            f"(fisher is for markov / normal_form / openspiel games), got {geometry!r}"
        )
    name = spec.get("name", Path(label).stem)
    if not isinstance(name, str) or not name:
        raise SpecError(f"{where}.name: expected a non-empty string")
    params, data_hashes = resolve_params(spec.get("params"), base_dir, f"{where}: params", overrides)

    canon_game: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    transform = reduced = gauge = None
    structure: CostStructure | None = None
    affine_parts = None
    F: PseudoGradient
    if tabular:
        players, F, canon_game, model, kind = tabular_game(spec, tabular[0], params, base_dir, where, data_hashes)
        affine = False
        extras["model"] = model
        if geometry == "fisher":
            transform = fisher_transform(model, tuple(p.offset for p in players))
            reduced = model.reduced_dims
        gauge = gauge_matrix(model)
        canon_game["geometry"] = geometry
    else:
        players, sets = _players(spec.get("players"), f"{where}: players", set(params) | set(FUNCTIONS))
    d = sum(p.dim for p in players)
    region, region_canon = _region(spec.get("region", {}), f"{where}: region", d)
    if not tabular and sets is not None:
        _check_center_in_sets(region, sets, players, f"{where}: region")
    sampling = _sampling(spec.get("sampling"), f"{where}: sampling", samples, seed)

    has_costs, has_blocks = "costs" in spec, "pseudo_gradient" in spec
    if tabular:
        pass
    elif has_costs == has_blocks:
        raise SpecError(f"{where}: give exactly one of 'costs' or 'pseudo_gradient'")
    elif has_blocks:
        H, c, affine_parts, canon_game["pseudo_gradient"] = affine_blocks(
            mapping(spec["pseudo_gradient"], f"{where}: pseudo_gradient"), players, params, f"{where}: pseudo_gradient"
        )
        F, affine, kind = pseudo_gradient_from_blocks(H, c), True, "blocks"
    else:
        costs_raw = mapping(spec["costs"], f"{where}: costs")
        if IN_MEMORY in costs_raw:
            raise SpecError(
                f"{where}: costs: the game was built in memory from Python functions (sgncert.make_game): "
                "its spec cannot rebuild it; pass the game itself (sgncert.verify(cert, game=...))"
            )
        if "python" in costs_raw:
            costs, canon_game["costs"] = hook_costs(costs_raw, base_dir, f"{where}: costs")
            check_costs(costs, players, params, f"{where}: costs")
            F, affine, kind = pseudo_gradient_from_costs(costs, players), False, "python"
        else:
            costs, affine, canon_game["costs"], compiled = expression_costs(
                costs_raw, players, params, f"{where}: costs"
            )
            check_costs(costs, players, params, f"{where}: costs")
            F, kind = pseudo_gradient_from_player_costs(compiled, players), "costs"
            try:  # an optimisation only: a template the compiler rejects (length limit) means no structure
                structure = cost_structure(canon_game["costs"], players, params)
            except SpecError:
                structure = None

    weights = _weights(spec.get("weights"), f"{where}: weights", len(players))
    bounds, bounds_options, bounds_canon = _bounds(spec.get("bounds"), f"{where}: bounds")
    canonical: dict[str, Any] = {
        "sgncert": 1,
        "name": name,
        "params": {k: v.tolist() for k, v in params.items()},
        "players": [
            {"name": p.name, "dim": p.dim}
            | ({} if tabular or sets is None or (si := sets.sets[i]) is None else {"set": _set_canon(si)})
            for i, p in enumerate(players)
        ],
        "region": region_canon,
        "sampling": {"method": sampling.method, "samples": sampling.samples, "seed": sampling.seed},
        **canon_game,
    }
    if tabular:
        del canonical["players"]  # defined by the markov / normal_form section
    if data_hashes:
        canonical["data_files"] = dict(sorted(data_hashes.items()))
    elif isinstance(spec.get("data_files"), dict):  # a canonical spec: params are already inline
        canonical["data_files"] = dict(sorted(spec["data_files"].items()))
    if weights is not None:
        canonical["weights"] = list(weights)
    if bounds_canon is not None:
        canonical["bounds"] = bounds_canon
    return Game(
        name=name,
        players=players,
        params=params,
        pseudo_gradient=F,
        affine=affine,
        region=region,
        sampling=sampling,
        canonical=canonical,
        kind=kind,
        fixed_weights=weights,
        source=label,
        extras=extras,
        geometry=geometry,
        transform=transform,
        reduced_sizes=reduced,
        gauge=gauge,
        structure=structure,
        affine_parts=affine_parts,
        overrides={name: _plain_value(value) for name, value in (overrides or {}).items()},
        sets=None if tabular else sets,
        bounds=bounds,
        bounds_options=bounds_options,
    )


def _plain_value(value: Any) -> Any:
    """An override as a plain JSON value (arrays to nested lists)."""
    return np.asarray(value, dtype=np.float64).tolist() if not isinstance(value, (int, float)) else value


def with_params(game: Game, overrides: Mapping[str, Any]) -> Game:
    """The same game with some parameters replaced by values of the same shape.

    Compiled expressions and JAX kernels are shared with ``game`` (parameters are traced
    arguments), so sweeps re-use one compilation. The canonical spec is updated (its sha256
    is computed when first used).
    """
    params = dict(game.params)
    for name, value in overrides.items():
        if name not in params:
            raise SpecError(f"parameter '{name}' does not exist{did_you_mean(name, params)}")
        arr = to_array(value, f"parameter {name}")
        if arr.shape != params[name].shape:
            raise SpecError(f"parameter {name}: shape {arr.shape} differs from the spec's {params[name].shape}")
        if not np.all(np.isfinite(arr)):
            raise SpecError(f"parameter {name}: contains NaN or Inf")
        params[name] = arr
    canonical = dict(game.canonical, params={k: v.tolist() for k, v in params.items()})
    recorded = dict(game.overrides, **{name: _plain_value(value) for name, value in overrides.items()})
    return dataclasses.replace(game, params=params, canonical=canonical, overrides=recorded)
