"""Block structure of a cost-based game: which players each F_i depends on, and which
players share a cost formula (the blocks J_ij = d F_i / d x_j, docs/theory.md §1).

For a game given by cost expressions, F_i = grad_{x_i} f_i depends on x_j only if f_i
mentions player j, so

    J_ij = 0  whenever f_i does not mention j            (a structural zero, exact)

and only the blocks of the players f_i mentions ("slots": i itself first, then the others
in order of first appearance) need derivatives. Costs that are the same formula up to the
renaming of players (a ring where f_i couples p_i to p_{i+1} and p_{i-1}) form a *group*:
one template expression over slot names, compiled once and ``vmap``-ed over the group's
members with their slot vectors gathered from x. The Jacobian comes out by block rows

    G[b, i, r] = J_{i, cols[i, r]}(x_b)      (B, N, R, D, D), zero-padded to D = max d_i

with ``cols`` (N, R) the slot players of row i (padding: ``valid`` = 0). The cost of a
Jacobian is then sum_i d_i * (slot dimensions of i) instead of d^2 per evaluation of F,
and tracing / compiling costs O(groups) instead of O(N^2).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .expressions import FUNCTIONS, CompiledExpression, compile_expression
from .model import Player


@dataclass(frozen=True)
class CostGroup:
    """Players whose costs are one template over slots: ``members`` (m,) player indices,
    ``slots`` (m, S) the player in each slot (slot 0: the member itself), ``dims`` (S,)."""

    template: CompiledExpression  # over ``slot_names``
    slot_names: tuple[str, ...]
    members: np.ndarray
    slots: np.ndarray
    dims: tuple[int, ...]


@dataclass(frozen=True)
class CostStructure:
    """Groups of a cost-based game and its block pattern (pattern[i, j]: F_i may depend
    on x_j; structural zeros are exact)."""

    groups: tuple[CostGroup, ...]
    cols: np.ndarray  # (N, R) slot players of each row
    valid: np.ndarray  # (N, R) 1.0 where cols is a real slot

    @property
    def pattern(self) -> np.ndarray:
        N = self.cols.shape[0]
        out = np.zeros((N, N), dtype=bool)
        rows = np.repeat(np.arange(N), self.cols.shape[1])
        keep = self.valid.reshape(-1) > 0
        out[rows[keep], self.cols.reshape(-1)[keep]] = True
        return out


class _Rename(ast.NodeTransformer):
    """Player names -> slot names, own player first, the others by first appearance."""

    def __init__(self, own: str, players: set[str], prefix: str):
        self.order = [own]
        self.players, self.prefix = players, prefix

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id not in self.players:
            return node
        if node.id not in self.order:
            self.order.append(node.id)
        return ast.copy_location(ast.Name(id=f"{self.prefix}{self.order.index(node.id)}", ctx=node.ctx), node)


def _slot_prefix(taken: set[str]) -> str:
    """A prefix p such that no name in ``taken`` is p followed by digits."""
    prefix = "_s"
    while any(name.startswith(prefix) and name[len(prefix) :].isdigit() for name in taken):
        prefix += "x"
    return prefix


def cost_structure(sources: Mapping[str, str], players: tuple[Player, ...], params) -> CostStructure:
    """Group the players' cost expressions ``sources`` (name -> source) by template."""
    names = [p.name for p in players]
    index = {n: i for i, n in enumerate(names)}
    prefix = _slot_prefix(set(params) | set(FUNCTIONS) | set(names))
    found: dict[tuple, list[tuple[int, list[int]]]] = {}
    for i, p in enumerate(players):
        rename = _Rename(p.name, set(names), prefix)
        tree = rename.visit(ast.parse(str(sources[p.name]).strip(), mode="eval"))
        slots = [index[n] for n in rename.order]
        key = (ast.unparse(tree), tuple(players[j].dim for j in slots))
        found.setdefault(key, []).append((i, slots))
    groups = []
    for (text, dims), entries in found.items():
        slot_names = tuple(f"{prefix}{k}" for k in range(len(dims)))
        template = compile_expression(text, players=slot_names, params=list(params), where="cost template")
        groups.append(
            CostGroup(
                template=template,
                slot_names=slot_names,
                members=np.array([e[0] for e in entries], dtype=np.int32),
                slots=np.array([e[1] for e in entries], dtype=np.int32),
                dims=dims,
            )
        )
    N = len(players)
    R = max(g.slots.shape[1] for g in groups)
    cols = np.tile(np.arange(N, dtype=np.int32)[:, None], (1, R))
    valid = np.zeros((N, R))
    for g in groups:
        S = g.slots.shape[1]
        cols[g.members, :S] = g.slots
        valid[g.members, :S] = 1.0
    return CostStructure(groups=tuple(groups), cols=cols, valid=valid)


def block_row_jacobian(structure: CostStructure, players: tuple[Player, ...]):
    """``fn(X, p) -> (F(X) (B, d), G (B, N, R, D, D))``: F and its Jacobian by block rows
    (module docstring) for a batch of points X (B, d); traceable, to be jitted by the caller."""
    import jax
    import jax.numpy as jnp

    D = max(p.dim for p in players)
    R = structure.cols.shape[1]
    offsets = [p.offset for p in players]

    def group_fn(g: CostGroup):
        def cost(vecs, p):
            return jnp.asarray(g.template(dict(zip(g.slot_names, vecs)), p)).reshape(())

        def own_gradient(vecs, p):
            return jax.grad(lambda v0: cost((v0,) + tuple(vecs[1:]), p))(vecs[0])

        def value_and_jac(vecs, p):
            jac, value = jax.jacfwd(lambda v: (own_gradient(v, p),) * 2, has_aux=True)(vecs)
            return value, jac

        # gather indices: slot k of member m -> coordinates of x
        gather = [np.stack([offsets[j] + np.arange(g.dims[k]) for j in g.slots[:, k]]) for k in range(len(g.dims))]
        members_mapped = jax.vmap(value_and_jac, in_axes=(0, None))
        return gather, members_mapped

    prepared = [(g, *group_fn(g)) for g in structure.groups]

    member_order = np.concatenate([g.members for g in structure.groups])
    inverse = np.argsort(member_order)  # row i of the stacked groups' output is player member_order[i]
    value_index = np.concatenate([i * D + np.arange(p.dim) for i, p in enumerate(players)])

    def one_point(x, p):
        rows, values = [], []
        for g, gather, fn in prepared:
            value, jac = fn(tuple(x[idx] for idx in gather), p)  # value (m, d_0); jac[k] (m, d_0, d_k)
            d0 = g.dims[0]
            blocks = [jnp.pad(Jk, ((0, 0), (0, D - d0), (0, D - Jk.shape[2]))) for Jk in jac]
            blocks += [jnp.zeros_like(blocks[0])] * (R - len(blocks))
            rows.append(jnp.stack(blocks, axis=1))  # (m, R, D, D)
            values.append(jnp.pad(value, ((0, 0), (0, D - d0))))
        G = jnp.concatenate(rows)[inverse]
        F = jnp.concatenate(values)[inverse].reshape(-1)[value_index]
        return F, G

    return jax.vmap(one_point, in_axes=(0, None))
