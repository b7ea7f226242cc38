"""The pseudo-gradient F of a spec's ``costs`` or ``pseudo_gradient`` section
(docs/theory.md §1).

- Costs (expressions or a Python hook): ``F(x, p) = (grad_{x_i} f_i(x))_i`` by JAX autodiff.
- Blocks: ``F(x, p) = H(p) x + c(p)``, also evaluated in NumPy (no XLA dispatch) for
  sweeps of affine games.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SpecError
from .expressions import CompiledExpression, compile_expression
from .fields import check_keys, mapping
from .hooks import load_hook
from .model import Player, PseudoGradient, split

Costs = Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]]
"""``costs(x_dict, p) -> {player name: scalar cost}``."""


def pseudo_gradient_from_costs(costs: Costs, players: tuple[Player, ...]) -> PseudoGradient:
    """F(x, p) = (grad_{x_i} f_i(x))_i for ``costs(x_dict, p) -> {name: scalar}`` (each
    player's gradient evaluates all the costs and keeps its own)."""

    def own_cost(name: str) -> Callable[[Mapping[str, Any], Mapping[str, Any]], Any]:
        return lambda x, p: costs(x, p)[name]

    return pseudo_gradient_from_player_costs({pl.name: own_cost(pl.name) for pl in players}, players)


def pseudo_gradient_from_player_costs(
    costs: Mapping[str, Callable[[Mapping[str, Any], Mapping[str, Any]], Any]], players: tuple[Player, ...]
) -> PseudoGradient:
    """F(x, p) = (grad_{x_i} f_i(x))_i for one function ``f_i(x_dict, p)`` per player: each
    gradient evaluates only its own player's cost (tracing costs O(N), not O(N^2))."""
    import jax
    import jax.numpy as jnp

    def own_gradient(x: Any, p: Mapping[str, Any], player: Player) -> Any:
        def own_cost(xi: Any) -> Any:
            parts = split(x, players)
            parts[player.name] = xi
            return jnp.asarray(costs[player.name](parts, p)).reshape(())

        return jax.grad(own_cost)(x[player.slice])

    def F(x: Any, p: Mapping[str, Any]) -> Any:
        return jnp.concatenate([own_gradient(x, p, pl) for pl in players])

    return F


def pseudo_gradient_from_blocks(
    blocks: Callable[[Mapping[str, Any]], Any], offset: Callable[[Mapping[str, Any]], Any]
) -> PseudoGradient:
    """F(x, p) = H(p) x + c(p) for the affine game given by pseudo-gradient blocks."""

    def F(x: Any, p: Mapping[str, Any]) -> Any:
        return blocks(p) @ x + offset(p)

    return F


def compile_field(source: Any, players: list[str], params: Mapping[str, Any], where: str) -> CompiledExpression:
    """Compile the expression (or number) of one spec field."""
    if isinstance(source, bool) or not isinstance(source, (str, int, float)):
        raise SpecError(f"{where}: expected an expression string or a number, got {source!r:.60}")
    return compile_expression(str(source), players=players, params=list(params), where=where)


def check_costs(costs: Costs, players: tuple[Player, ...], params: Mapping[str, np.ndarray], where: str) -> None:
    """Evaluate the costs' shapes once (abstractly) so shape errors are spec errors."""
    import jax
    import jax.numpy as jnp

    x = {p.name: jax.ShapeDtypeStruct((p.dim,), jnp.float64) for p in players}
    try:
        out = jax.eval_shape(costs, x, {k: jnp.asarray(v) for k, v in params.items()})
    except SpecError:
        raise
    except KeyError as exc:
        known = [p.name for p in players] + sorted(params)
        raise SpecError(
            f"{where}: evaluating the costs failed: no player or parameter {exc.args[0]!r} (known: {known})"
        ) from None
    except Exception as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecError(f"{where}: evaluating the costs failed: {msg}") from None
    if not isinstance(out, dict):
        raise SpecError(f"{where}: costs must return a dict of player name -> scalar")
    for p in players:
        if p.name not in out:
            raise SpecError(f"{where}: no cost returned for player '{p.name}'")
        if not hasattr(out[p.name], "shape"):
            raise SpecError(f"{where}.{p.name}: the cost is {type(out[p.name]).__name__}, expected a scalar")
        if math.prod(out[p.name].shape) != 1:
            raise SpecError(f"{where}.{p.name}: cost has shape {tuple(out[p.name].shape)}, expected a scalar")


def expression_costs(
    raw: Mapping[str, Any], players: tuple[Player, ...], params: Mapping[str, np.ndarray], where: str
) -> tuple[Costs, bool, dict[str, str], dict[str, CompiledExpression]]:
    """(costs, affine, canonical section, compiled expressions) of ``costs: {player: expr}``."""
    names = [p.name for p in players]
    check_keys(raw, names, where)
    compiled = {}
    for p in players:
        if p.name not in raw:
            raise SpecError(f"{where}: no cost given for player '{p.name}'")
        compiled[p.name] = compile_field(raw[p.name], names, params, f"{where}.{p.name}")

    def costs(x: Mapping[str, Any], p: Mapping[str, Any]) -> dict[str, Any]:
        return {name: expr(x, p) for name, expr in compiled.items()}

    affine = all(expr.degree <= 2 for expr in compiled.values())
    return costs, affine, {name: str(raw[name]) for name in names}, compiled


def hook_costs(raw: Mapping[str, Any], base_dir: Path, where: str) -> tuple[Costs, dict[str, str]]:
    """(costs, canonical section) of ``costs: {python: file.py:fn}`` (runs the hook file)."""
    # "sha256" appears in canonical (embedded) specs; the file's hash is recomputed
    check_keys(raw, ("python", "sha256"), where)
    return load_hook(raw["python"], base_dir, f"{where}.python")


def _evaluate(expr: CompiledExpression, p: Mapping[str, Any], where: str) -> Any:
    try:
        return expr({}, p)
    except SpecError:
        raise
    except Exception as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecError(f"{where}: evaluating '{expr.source}' failed: {msg}") from None


AffineParts = Callable[[Mapping[str, np.ndarray]], tuple[np.ndarray, np.ndarray]]


def affine_blocks(
    raw: Mapping[str, Any], players: tuple[Player, ...], params: Mapping[str, np.ndarray], where: str
) -> tuple[Callable[[Mapping[str, Any]], Any], Callable[[Mapping[str, Any]], Any], AffineParts, dict[str, Any]]:
    """H(p) and c(p) (JAX), their NumPy evaluation and the canonical section of
    ``pseudo_gradient: {blocks: ..., offset: ...}``."""
    import jax.numpy as jnp

    check_keys(raw, ("blocks", "offset"), where)
    names = [p.name for p in players]
    blocks_raw = mapping(raw.get("blocks"), f"{where}.blocks")
    offset_raw = mapping(raw.get("offset", {}), f"{where}.offset")
    check_keys(blocks_raw, names, f"{where}.blocks")
    check_keys(offset_raw, names, f"{where}.offset")
    by_name = {p.name: p for p in players}
    entries, offsets = [], []
    jparams = {k: jnp.asarray(v) for k, v in params.items()}
    for i_name, row in blocks_raw.items():
        row = mapping(row, f"{where}.blocks.{i_name}")
        check_keys(row, names, f"{where}.blocks.{i_name}")
        for j_name, src in row.items():
            loc = f"{where}.blocks.{i_name}.{j_name}"
            expr = compile_field(src, [], params, loc)
            pi, pj = by_name[i_name], by_name[j_name]
            shape = jnp.shape(_evaluate(expr, jparams, loc))
            if not (shape == (pi.dim, pj.dim) or (shape in ((), (1,), (1, 1)) and pi.dim == pj.dim)):
                raise SpecError(f"{loc}: block has shape {shape}, expected ({pi.dim}, {pj.dim})")
            entries.append((pi, pj, expr))
    for name, src in offset_raw.items():
        loc = f"{where}.offset.{name}"
        expr = compile_field(src, [], params, loc)
        shape = jnp.shape(_evaluate(expr, jparams, loc))
        if shape not in ((), (1,), (by_name[name].dim,)):
            raise SpecError(f"{loc}: offset has shape {shape}, expected ({by_name[name].dim},)")
        offsets.append((by_name[name], expr))
    d = sum(p.dim for p in players)

    def block(val: Any, pi: Player, pj: Player, xp: Any) -> Any:
        """A block value as (dim_i, dim_j): a scalar on a square block means scalar * I."""
        if val.size == 1 and pi.dim == pj.dim:
            return val.reshape(()) * xp.eye(pi.dim)
        return val.reshape(pi.dim, pj.dim)

    def H(p: Mapping[str, Any]) -> Any:
        out = jnp.zeros((d, d))
        for pi, pj, expr in entries:
            out = out.at[pi.slice, pj.slice].set(block(jnp.asarray(expr({}, p), dtype=jnp.float64), pi, pj, jnp))
        return out

    def c(p: Mapping[str, Any]) -> Any:
        out = jnp.zeros(d)
        for pi, expr in offsets:
            value = jnp.asarray(expr({}, p), dtype=jnp.float64).reshape(-1)
            out = out.at[pi.slice].set(jnp.broadcast_to(value, (pi.dim,)))
        return out

    def parts_numpy(p: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(H(p), c(p)) from the expressions' NumPy flavour: no XLA dispatch or compile."""
        Hn, cn = np.zeros((d, d)), np.zeros(d)
        for pi, pj, expr in entries:
            Hn[pi.slice, pj.slice] = block(expr.numpy({}, p), pi, pj, np)
        for pi, expr in offsets:
            cn[pi.slice] = expr.numpy({}, p).reshape(-1)
        return Hn, cn

    canon = {
        "blocks": {i: {j: str(s) for j, s in mapping(r, "").items()} for i, r in blocks_raw.items()},
        "offset": {i: str(s) for i, s in offset_raw.items()},
    }
    return H, c, parts_numpy, canon
