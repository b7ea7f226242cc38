"""Loading and validating game specs (SPEC 7) into :class:`sgncert.game.Game`.

The YAML is read with ``yaml.safe_load`` only; expressions are compiled by
:mod:`sgncert.expressions` (``ast``, never ``eval``). The only way a spec runs user code
is a Python hook ``costs: {python: file.py:fn}``, whose file's sha256 is recorded.
Every problem raises :class:`SpecError` with one line naming file, field and value.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .errors import SpecError
from .game import (Game, Player, Region, Sampling, pseudo_gradient_from_blocks, pseudo_gradient_from_costs,
                   pseudo_gradient_from_player_costs)
from .structure import cost_structure
from .params import did_you_mean, parse_overrides, resolve_params, to_array

TOP_KEYS = ("sgncert", "name", "params", "players", "costs", "pseudo_gradient", "region", "sampling",
            "weights", "markov", "normal_form", "geometry", "data_files")
SAMPLERS = ("sobol", "random", "grid", "vertices")
MAX_DIM = 100_000


def canonical_json(obj: Any) -> str:
    """Canonical JSON (sorted keys, no spaces, shortest round-trip floats)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_keys(mapping: Mapping, allowed, where: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise SpecError(f"{where}: unknown key '{key}'{did_you_mean(key, allowed)}")


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise SpecError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _players(raw: Any, where: str, reserved) -> tuple[Player, ...]:
    if not isinstance(raw, list) or not raw:
        raise SpecError(f"{where}: expected a non-empty list of {{name, dim}} entries")
    players, offset, seen = [], 0, set()
    for k, entry in enumerate(raw):
        loc = f"{where}[{k}]"
        entry = _mapping(entry, loc)
        _check_keys(entry, ("name", "dim"), loc)
        name, dim = entry.get("name"), entry.get("dim", 1)
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("__"):
            raise SpecError(f"{loc}.name: {name!r} is not a valid identifier")
        if name in seen or name in reserved:
            raise SpecError(f"{loc}.name: '{name}' is already used by a player, parameter or function")
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise SpecError(f"{loc}.dim: expected a positive integer, got {dim!r}")
        seen.add(name)
        players.append(Player(name, dim, offset))
        offset += dim
    if offset > MAX_DIM:
        raise SpecError(f"{where}: total dimension {offset} exceeds the limit {MAX_DIM}")
    return tuple(players)


def _region(raw: Any, where: str, dim: int) -> tuple[Region, dict]:
    raw = _mapping(raw, where)
    _check_keys(raw, ("center", "radius", "norm"), where)
    radius = raw.get("radius", 1.0)
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not (0 < radius < math.inf):
        raise SpecError(f"{where}.radius: expected a positive finite number, got {radius!r}")
    norm_raw = raw.get("norm", "inf")
    norm = {"inf": "inf", "box": "inf", "2": "2", "ball": "2"}.get(
        "inf" if norm_raw == math.inf else str(norm_raw).strip().lower())
    if norm is None:
        raise SpecError(f"{where}.norm: expected inf (box) or 2 (ball), got {norm_raw!r}")
    center_raw = raw.get("center", "zeros")
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
    canon = {"center": center_canon, "radius": float(radius), "norm": norm}
    return Region(center, float(radius), norm, center_canon), canon


def _sampling(raw: Any, where: str, samples: int | None, seed: int | None) -> Sampling:
    raw = _mapping(raw if raw is not None else {}, where)
    _check_keys(raw, ("method", "samples", "seed"), where)
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


def _load_hook(ref: Any, base_dir: Path, where: str):
    """Import ``file.py:fn`` relative to the spec; return (callable, canonical entry)."""
    import importlib.util

    if not isinstance(ref, str) or ref.count(":") != 1:
        raise SpecError(f"{where}: expected 'file.py:function', got {ref!r}")
    rel, fn_name = ref.split(":")
    path = (base_dir / rel).resolve()
    if path.suffix != ".py" or not fn_name.isidentifier():
        raise SpecError(f"{where}: expected 'file.py:function', got {ref!r}")
    if not path.is_relative_to(base_dir.resolve()):
        raise SpecError(f"{where}: the hook {rel} must lie in the spec's folder or below it")
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"{where}: cannot read {rel}: {exc.strerror or exc}") from None
    digest = hashlib.sha256(source).hexdigest()
    module_name = f"sgncert_hook_{digest[:16]}"
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except Exception as exc:  # user code: report, never crash
        raise SpecError(f"{where}: importing {rel} failed: {type(exc).__name__}: {exc}") from None
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise SpecError(f"{where}: {rel} has no function '{fn_name}'")
    return fn, {"python": ref, "sha256": digest}


def _compile(source: Any, players, params, where: str):
    from .expressions import compile_expression

    if isinstance(source, bool) or not isinstance(source, (str, int, float)):
        raise SpecError(f"{where}: expected an expression string or a number, got {source!r:.60}")
    return compile_expression(str(source), players=players, params=params, where=where)


def _check_costs(costs, players: tuple[Player, ...], params: dict, where: str) -> None:
    """Evaluate the costs' shapes once (abstractly) so shape errors are spec errors."""
    import jax
    import jax.numpy as jnp

    x = {p.name: jax.ShapeDtypeStruct((p.dim,), jnp.float64) for p in players}
    try:
        out = jax.eval_shape(costs, x, {k: jnp.asarray(v) for k, v in params.items()})
    except SpecError:
        raise
    except Exception as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecError(f"{where}: evaluating the costs failed: {msg}") from None
    if not isinstance(out, dict):
        raise SpecError(f"{where}: costs must return a dict of player name -> scalar")
    for p in players:
        if p.name not in out:
            raise SpecError(f"{where}: no cost returned for player '{p.name}'")
        if math.prod(out[p.name].shape) != 1:
            raise SpecError(f"{where}.{p.name}: cost has shape {tuple(out[p.name].shape)}, expected a scalar")


def _expression_costs(raw: dict, players, params: dict, where: str):
    names = [p.name for p in players]
    _check_keys(raw, names, where)
    compiled = {}
    for p in players:
        if p.name not in raw:
            raise SpecError(f"{where}: no cost given for player '{p.name}'")
        compiled[p.name] = _compile(raw[p.name], names, list(params), f"{where}.{p.name}")

    def costs(x, p):
        return {name: expr(x, p) for name, expr in compiled.items()}

    affine = all(expr.degree <= 2 for expr in compiled.values())
    return costs, affine, {name: str(raw[name]) for name in names}, compiled


def _blocks(raw: dict, players: tuple[Player, ...], params: dict, where: str):
    """H(p) and c(p) from ``pseudo_gradient: {blocks: ..., offset: ...}``."""
    import jax.numpy as jnp

    _check_keys(raw, ("blocks", "offset"), where)
    names = [p.name for p in players]
    blocks_raw = _mapping(raw.get("blocks"), f"{where}.blocks")
    offset_raw = _mapping(raw.get("offset", {}), f"{where}.offset")
    _check_keys(blocks_raw, names, f"{where}.blocks")
    _check_keys(offset_raw, names, f"{where}.offset")
    by_name = {p.name: p for p in players}
    entries, offsets = [], []
    jparams = {k: jnp.asarray(v) for k, v in params.items()}
    for i_name, row in blocks_raw.items():
        row = _mapping(row, f"{where}.blocks.{i_name}")
        _check_keys(row, names, f"{where}.blocks.{i_name}")
        for j_name, src in row.items():
            loc = f"{where}.blocks.{i_name}.{j_name}"
            expr = _compile(src, [], list(params), loc)
            pi, pj = by_name[i_name], by_name[j_name]
            shape = jnp.shape(_evaluate(expr, jparams, loc))
            if not (shape == (pi.dim, pj.dim) or (shape in ((), (1,), (1, 1)) and pi.dim == pj.dim)):
                raise SpecError(f"{loc}: block has shape {shape}, expected ({pi.dim}, {pj.dim})")
            entries.append((pi, pj, expr))
    for name, src in offset_raw.items():
        loc = f"{where}.offset.{name}"
        expr = _compile(src, [], list(params), loc)
        shape = jnp.shape(_evaluate(expr, jparams, loc))
        if shape not in ((), (1,), (by_name[name].dim,)):
            raise SpecError(f"{loc}: offset has shape {shape}, expected ({by_name[name].dim},)")
        offsets.append((by_name[name], expr))
    d = sum(p.dim for p in players)

    def block(val, pi: Player, pj: Player, xp):
        """A block value as (dim_i, dim_j): a scalar on a square block means scalar * I."""
        if val.size == 1 and pi.dim == pj.dim:
            return val.reshape(()) * xp.eye(pi.dim)
        return val.reshape(pi.dim, pj.dim)

    def H(p):
        out = jnp.zeros((d, d))
        for pi, pj, expr in entries:
            out = out.at[pi.slice, pj.slice].set(block(jnp.asarray(expr({}, p), dtype=jnp.float64), pi, pj, jnp))
        return out

    def c(p):
        out = jnp.zeros(d)
        for pi, expr in offsets:
            out = out.at[pi.slice].set(jnp.broadcast_to(jnp.asarray(expr({}, p), dtype=jnp.float64).reshape(-1), (pi.dim,)))
        return out

    def parts_numpy(p):
        """(H(p), c(p)) from the expressions' NumPy flavour: no XLA dispatch or compile."""
        Hn, cn = np.zeros((d, d)), np.zeros(d)
        for pi, pj, expr in entries:
            Hn[pi.slice, pj.slice] = block(expr.numpy({}, p), pi, pj, np)
        for pi, expr in offsets:
            cn[pi.slice] = expr.numpy({}, p).reshape(-1)
        return Hn, cn

    canon = {"blocks": {i: {j: str(s) for j, s in _mapping(r, "").items()} for i, r in blocks_raw.items()},
             "offset": {i: str(s) for i, s in offset_raw.items()}}
    return H, c, parts_numpy, canon


def _evaluate(expr, p, where: str):
    try:
        return expr({}, p)
    except SpecError:
        raise
    except Exception as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecError(f"{where}: evaluating '{expr.source}' failed: {msg}") from None


def read_yaml(path: Path) -> Any:
    """Safe-load a YAML file; unreadable, malformed or alias-bomb files are spec errors."""
    from .yamlsource import read_spec

    return read_spec(path)[0]


def load_game(path: str | Path, overrides: Mapping[str, Any] | list[str] | None = None, *,
              samples: int | None = None, seed: int | None = None) -> Game:
    """Load, validate and resolve a game spec file.

    ``overrides``: ``--set`` strings (``["lam=0.5"]``) or an already parsed mapping.
    ``samples`` / ``seed`` override the spec's ``sampling`` section.
    """
    from .yamlsource import read_spec, with_line

    path = Path(path)
    raw, lines = read_spec(path)
    try:
        return game_from_dict(raw, path.parent, str(path), overrides, samples=samples, seed=seed)
    except SpecError as exc:  # point at the line of the offending field
        raise SpecError(with_line(str(exc), str(path), lines)) from None


def game_from_dict(raw: Any, base_dir: Path, label: str = "<spec>",
                   overrides: Mapping[str, Any] | list[str] | None = None, *,
                   samples: int | None = None, seed: int | None = None) -> Game:
    """Build a :class:`Game` from an already parsed spec mapping (see :func:`load_game`)."""
    from .jaxconfig import ensure_x64

    ensure_x64()  # float64 even when the caller imported JAX first
    if isinstance(overrides, (list, tuple)):
        overrides = parse_overrides(overrides)
    where = label
    spec = _mapping(raw, where)
    _check_keys(spec, TOP_KEYS, where)
    if spec.get("sgncert") != 1:
        raise SpecError(f"{where}: sgncert: expected schema version 1, got {spec.get('sgncert')!r}")
    tabular = [k for k in ("markov", "normal_form") if k in spec]
    if len(tabular) > 1 or (tabular and any(k in spec for k in ("players", "costs", "pseudo_gradient"))):
        raise SpecError(f"{where}: a '{tabular[0]}' game defines its own players and costs; "
                        "remove players/costs/pseudo_gradient (or the other game section)")
    geometry = spec.get("geometry", "fisher" if tabular else "euclidean")
    if geometry not in ("euclidean", "fisher") or (geometry == "fisher" and not tabular):
        raise SpecError(f"{where}: geometry: expected 'euclidean'{' or fisher' if tabular else ''} "
                        f"(fisher is for markov / normal_form games), got {geometry!r}")
    name = spec.get("name", Path(label).stem)
    if not isinstance(name, str) or not name:
        raise SpecError(f"{where}.name: expected a non-empty string")
    params, data_hashes = resolve_params(spec.get("params"), base_dir, f"{where}: params", overrides)
    from .expressions import FUNCTIONS

    canon_game: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    transform = reduced = gauge = None
    if tabular:
        players, F, affine, kind, canon_game, extras = _tabular(spec, tabular[0], params, base_dir, where, data_hashes)
        model = extras["model"]
        from .markov import fisher_transform, gauge_matrix

        if geometry == "fisher":
            transform = fisher_transform(model, tuple(p.offset for p in players))
            reduced = model.reduced_dims
        gauge = gauge_matrix(extras["model"])
        canon_game["geometry"] = geometry
    else:
        players = _players(spec.get("players"), f"{where}: players", set(params) | set(FUNCTIONS))
    d = sum(p.dim for p in players)
    region, region_canon = _region(spec.get("region", {}), f"{where}: region", d)
    sampling = _sampling(spec.get("sampling"), f"{where}: sampling", samples, seed)

    has_costs, has_blocks = "costs" in spec, "pseudo_gradient" in spec
    structure = affine_parts = None
    if tabular:
        pass
    elif has_costs == has_blocks:
        raise SpecError(f"{where}: give exactly one of 'costs' or 'pseudo_gradient'")
    elif has_blocks:
        H, c, affine_parts, canon_game["pseudo_gradient"] = _blocks(_mapping(spec["pseudo_gradient"], f"{where}: pseudo_gradient"),
                                                     players, params, f"{where}: pseudo_gradient")
        F, affine, kind = pseudo_gradient_from_blocks(H, c), True, "blocks"
    else:
        costs_raw = _mapping(spec["costs"], f"{where}: costs")
        if "python" in costs_raw:
            # "sha256" appears in canonical (embedded) specs; the file's hash is recomputed
            _check_keys(costs_raw, ("python", "sha256"), f"{where}: costs")
            costs, canon_game["costs"] = _load_hook(costs_raw["python"], base_dir, f"{where}: costs.python")
            affine, kind = False, "python"
        else:
            costs, affine, canon_game["costs"], compiled = _expression_costs(costs_raw, players, params,
                                                                             f"{where}: costs")
            kind = "costs"
        _check_costs(costs, players, params, f"{where}: costs")
        if kind == "costs":
            F = pseudo_gradient_from_player_costs(compiled, players)
            try:  # an optimisation only: a template the compiler rejects (length limit) means no structure
                structure = cost_structure(canon_game["costs"], players, params)
            except SpecError:
                structure = None
        else:
            F = pseudo_gradient_from_costs(costs, players)

    weights = spec.get("weights")
    if weights is not None:
        w = to_array(weights, f"{where}: weights").reshape(-1)
        if w.shape != (len(players),) or not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise SpecError(f"{where}: weights: expected {len(players)} positive finite numbers")
        weights = tuple(float(v) for v in w)

    canonical = {
        "sgncert": 1,
        "name": name,
        "params": {k: v.tolist() for k, v in params.items()},
        "players": [{"name": p.name, "dim": p.dim} for p in players],
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
    return Game(name=name, players=players, params=params, pseudo_gradient=F, affine=affine,
                region=region, sampling=sampling, canonical=canonical,
                kind=kind, fixed_weights=weights, source=label,
                extras=extras, geometry=geometry, transform=transform, reduced_sizes=reduced, gauge=gauge,
                structure=structure, affine_parts=affine_parts)


def _tabular(spec: dict, key: str, params: dict, base_dir: Path, where: str, data_hashes: dict):
    """Players, F and canonical section of a markov / normal_form game (SPEC 6, 7)."""
    from .markov import markov_costs, markov_model, normal_form_model

    loc = f"{where}: {key}"
    raw = _mapping(spec[key], loc)
    names_used: list[str] = []

    def compile_fn(src, at):
        return _compile(src, [], list(params), at)

    if key == "markov":
        model = markov_model(raw, params, compile_fn, loc)
        canon = {k: (v if isinstance(v, (str, int, float)) else _plain(v)) for k, v in raw.items()}
    else:
        model, extra = normal_form_model(raw, params, compile_fn, base_dir, loc)
        if "nfg" in extra:
            data_hashes.update(extra["nfg"])
            canon = {"payoffs": extra["payoffs"], "entropy": model.entropy}
        else:
            canon = {k: (v if isinstance(v, (str, int, float)) else _plain(v)) for k, v in raw.items()}
    canon["players"] = list(model.names)  # play order survives the sorted keys of canonical JSON
    from .expressions import FUNCTIONS

    for n in model.names:
        if not n.isidentifier() or n in params or n in FUNCTIONS or n.startswith("__") or n in names_used:
            raise SpecError(f"{loc}: player name '{n}' must be a new identifier (not a param or function)")
        names_used.append(n)
    offsets = np.concatenate([[0], np.cumsum(model.dims)[:-1]]).astype(int)
    players = tuple(Player(n, d, int(o)) for n, d, o in zip(model.names, model.dims, offsets))
    costs = markov_costs(model)
    F = pseudo_gradient_from_costs(costs, players)
    return players, F, False, key, {key: canon}, {"model": model}


def _plain(value):
    """YAML data as plain JSON values (numbers as floats inside arrays)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    return float(value) if isinstance(value, float) else value


def with_params(game: Game, overrides: Mapping[str, Any]) -> Game:
    """The same game with some parameters replaced by values of the same shape.

    Compiled expressions and JAX kernels are shared with ``game`` (parameters are traced
    arguments), so sweeps re-use one compilation. The canonical spec is updated (its sha256
    is computed when first used).
    """
    import dataclasses

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
    return dataclasses.replace(game, params=params, canonical=canonical)
