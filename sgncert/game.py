"""The game model: players, the pseudo-gradient F and the region R (SPEC 1, 7).

A :class:`Game` is what a spec resolves to. Its pseudo-gradient is a pure JAX function
``F(x, p)`` of the stacked decision vector ``x = (x_1, ..., x_N)`` (length d) and the
parameter dict ``p``:

    F(x) = (grad_{x_1} f_1(x), ..., grad_{x_N} f_N(x))      (costs given)
    F(x) = H x + c                                           (pseudo-gradient blocks)

``affine`` is True when F is affine in x, decided statically (blocks, or every cost of
polynomial degree <= 2 in the player variables); then J = DF is constant and every
constant computed from it is labelled ``exact``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np


@dataclass(frozen=True)
class Player:
    """Player i: name, block size d_i and the offset of x_i inside x."""

    name: str
    dim: int
    offset: int

    @property
    def slice(self) -> slice:
        return slice(self.offset, self.offset + self.dim)


@dataclass(frozen=True)
class Region:
    """Compact convex region R: a box (``norm='inf'``) or Euclidean ball (``norm='2'``).

    ``center`` is None while it is still to be solved for (``center: equilibrium``).
    """

    center: np.ndarray | None
    radius: float
    norm: str  # "inf" (box of half-width radius) or "2" (ball)
    center_spec: Any = None  # "equilibrium", "zeros" or the list given

    def with_center(self, center: np.ndarray) -> "Region":
        return Region(np.asarray(center, dtype=np.float64), self.radius, self.norm, self.center_spec)


@dataclass(frozen=True)
class Sampling:
    """How R is sampled for non-affine games (SPEC 5.3); the centre is always added."""

    method: str = "sobol"  # sobol | random | grid | vertices
    samples: int = 1024
    seed: int = 0


@dataclass
class Game:
    """A resolved game spec. ``pseudo_gradient(x, p)`` is JAX-traceable."""

    name: str
    players: tuple[Player, ...]
    params: dict[str, np.ndarray]
    pseudo_gradient: Callable[[Any, Mapping[str, Any]], Any]
    affine: bool
    region: Region
    sampling: Sampling
    canonical: dict  # canonical spec, params applied (hashed and embedded in certificates)
    kind: str  # "costs" | "blocks" | "python"
    fixed_weights: tuple[float, ...] | None = None
    source: str = ""
    extras: dict = field(default_factory=dict)
    geometry: str = "euclidean"  # "euclidean" | "fisher"
    # Fisher geometry: x (d,) -> E(x) (d x d_reduced), or a batch (B, d) -> (B, d, d_reduced),
    # in NumPy (host LAPACK); K = E^T J E is the normalised Jacobian
    transform: Callable[[Any], Any] | None = None
    reduced_sizes: tuple[int, ...] | None = None  # block sizes of K (None: those of J)
    gauge: np.ndarray | None = None  # B (d x d_reduced): coordinates with gauge directions removed
    # cost expressions: block pattern and cost templates (sgncert.structure.CostStructure)
    structure: Any = None
    # pseudo-gradient blocks: params -> (H(p), c(p)) in NumPy, F(x) = H x + c (no XLA)
    affine_parts: Callable[[Mapping[str, np.ndarray]], tuple[np.ndarray, np.ndarray]] | None = None

    @functools.cached_property
    def sha256(self) -> str:
        """sha256 of the canonical JSON of ``canonical`` (computed on first use: a sweep's
        games need none)."""
        from .spec import canonical_json, sha256_text

        return sha256_text(canonical_json(self.canonical))

    @property
    def dim(self) -> int:
        return sum(p.dim for p in self.players)

    @property
    def metric_block_sizes(self) -> tuple[int, ...]:
        """Block sizes of the space where constants and the metric live (K's blocks)."""
        return self.reduced_sizes or self.block_sizes

    @property
    def n_players(self) -> int:
        return len(self.players)

    @property
    def block_sizes(self) -> tuple[int, ...]:
        return tuple(p.dim for p in self.players)

    def numpy_affine_parts(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(H, c) with F(x) = H x + c, evaluated in NumPy, for a game given by pseudo-gradient
        blocks; None for other games, or when NumPy cannot evaluate the blocks (the JAX path
        is the reference and reports any error)."""
        if self.affine_parts is None:
            return None
        try:
            return self.affine_parts(self.params)
        except Exception:
            return None

    def jax_params(self) -> dict:
        import jax.numpy as jnp

        return {k: jnp.asarray(v) for k, v in self.params.items()}


def split(x, players: tuple[Player, ...]) -> dict:
    """The dict {name: x_i} of a stacked vector x."""
    return {p.name: x[p.slice] for p in players}


def pseudo_gradient_from_costs(costs: Callable[[Mapping, Mapping], Mapping], players: tuple[Player, ...]):
    """F(x, p) = (grad_{x_i} f_i(x))_i for ``costs(x_dict, p) -> {name: scalar}`` (each
    player's gradient evaluates all the costs and keeps its own)."""
    return pseudo_gradient_from_player_costs(
        {pl.name: (lambda x, p, name=pl.name: costs(x, p)[name]) for pl in players}, players)


def pseudo_gradient_from_player_costs(costs: Mapping[str, Callable[[Mapping, Mapping], Any]],
                                      players: tuple[Player, ...]):
    """F(x, p) = (grad_{x_i} f_i(x))_i for one function ``f_i(x_dict, p)`` per player: each
    gradient evaluates only its own player's cost (tracing costs O(N), not O(N^2))."""
    import jax
    import jax.numpy as jnp

    def own_gradient(x, p, player: Player):
        def own_cost(xi):
            parts = split(x, players)
            parts[player.name] = xi
            return jnp.asarray(costs[player.name](parts, p)).reshape(())

        return jax.grad(own_cost)(x[player.slice])

    def F(x, p):
        return jnp.concatenate([own_gradient(x, p, pl) for pl in players])

    return F


def pseudo_gradient_from_blocks(blocks: Callable[[Mapping], np.ndarray], offset: Callable[[Mapping], Any]):
    """F(x, p) = H(p) x + c(p) for the affine game given by pseudo-gradient blocks."""

    def F(x, p):
        return blocks(p) @ x + offset(p)

    return F
