"""The game model: players, the pseudo-gradient F and the region R (docs/theory.md §1).

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..theory.sets import ProductSet
from ..util.jsondoc import sha256_json

if TYPE_CHECKING:
    from .structure import CostStructure

PseudoGradient = Callable[[Any, Mapping[str, Any]], Any]
"""``F(x, p)``: the stacked decision vector and the parameter dict to the stacked gradients."""


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

    def with_center(self, center: np.ndarray) -> Region:
        return Region(np.asarray(center, dtype=np.float64), self.radius, self.norm, self.center_spec)


@dataclass(frozen=True)
class Sampling:
    """How R is sampled for non-affine games; the centre is always added."""

    method: str = "sobol"  # sobol | random | grid | vertices
    samples: int = 1024
    seed: int = 0


@dataclass
class Game:
    """A resolved game spec. ``pseudo_gradient(x, p)`` is JAX-traceable."""

    name: str
    players: tuple[Player, ...]
    params: dict[str, np.ndarray]
    pseudo_gradient: PseudoGradient
    affine: bool
    region: Region
    sampling: Sampling
    canonical: dict[str, Any]  # canonical spec, params applied (hashed and embedded in certificates)
    kind: str  # "costs" | "blocks" | "python" | "markov" | "normal_form"
    fixed_weights: tuple[float, ...] | None = None
    source: str = ""
    extras: dict[str, Any] = field(default_factory=dict)
    # parameter values that replace the spec file's (--set, with_params), as plain JSON values:
    # the file plus these describes the game
    overrides: dict[str, Any] = field(default_factory=dict)
    geometry: str = "euclidean"  # "euclidean" | "fisher"
    # Fisher geometry: x (d,) -> E(x) (d x d_reduced), or a batch (B, d) -> (B, d, d_reduced),
    # in NumPy (host LAPACK); K = E^T J E is the normalised Jacobian
    transform: Callable[[Any], np.ndarray] | None = None
    reduced_sizes: tuple[int, ...] | None = None  # block sizes of K (None: those of J)
    gauge: np.ndarray | None = None  # B (d x d_reduced): coordinates with gauge directions removed
    # cost expressions: block pattern and cost templates
    structure: CostStructure | None = None
    # pseudo-gradient blocks: params -> (H(p), c(p)) in NumPy, F(x) = H x + c (no XLA)
    affine_parts: Callable[[Mapping[str, np.ndarray]], tuple[np.ndarray, np.ndarray]] | None = None
    # the players' constraint sets X = X_1 x ... x X_N (None: unconstrained; docs/theory.md §13)
    sets: ProductSet | None = None
    # how the constants of a non-affine game are bounded: "sampled" (estimates) or "sound"
    # (proved over R, docs/theory.md §14), with the sound search's options (tolerance, boxes, seconds)
    bounds: str = "sampled"
    bounds_options: dict[str, float] = field(default_factory=dict)

    @property
    def constrained(self) -> bool:
        """Some player is constrained to a set: the certified update is projected Euler."""
        return self.sets is not None and self.sets.constrained

    @functools.cached_property
    def sha256(self) -> str:
        """sha256 of the canonical JSON of ``canonical`` (computed on first use: a sweep's
        games need none)."""
        return sha256_json(self.canonical)

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

    def jax_params(self) -> dict[str, Any]:
        """The parameters as JAX arrays (float64 inside :func:`sgncert.util.jaxenv.jax_scope`)."""
        import jax

        # device_put, not jnp.asarray: the latter compiles an identity program per shape
        return {k: jax.device_put(np.asarray(v)) for k, v in self.params.items()}


def split(x: Any, players: tuple[Player, ...]) -> dict[str, Any]:
    """The dict {name: x_i} of a stacked vector x."""
    return {p.name: x[p.slice] for p in players}
