"""Sound constants: bounds proved over all of R by branch and bound (docs/theory.md §14).

The region R (a box, or the boxes covering a ball; for a constrained game intersected
with a box holding X) is split into sub-boxes. On each box the Jacobian is enclosed by
interval arithmetic (:mod:`sgncert.analysis.enclosure`) and every constant is bounded
from the enclosure (:mod:`sgncert.theory.sound_bounds`); the bound over R is the min (or
max) over the leaves. A constant is *resolved* when its bound is within ``tolerance`` of
the best value seen at a point (the run's samples and the centres of the boxes):

    (best - bound) / max(|best|, FLOOR * scale) <= tolerance       (lower bounds; mirrored for upper)

with ``scale`` the largest |best| of the constants. Until every constant is resolved, or
the budget (boxes or seconds) is spent, the leaves that keep an unresolved constant from
its tolerance are bisected across their widest side (relative to R's). Bisection splits a
box at the float ``lo + (hi - lo) / 2``, so the children cover the parent exactly, and the
partition is recorded as a pre-order string of the split coordinates
(:func:`encode_tree`) from which :func:`leaves_of_tree` rebuilds every leaf.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import SpecError
from ..games.model import Game, Region
from ..theory.intervals import down, up
from ..theory.sound_bounds import Key, bounds
from ..theory.sound_bounds import holds as key_holds
from ..util.jaxenv import float64
from .enclosure import Enclosure, JacobianEnclosure, jacobian_enclosure, stack_enclosures, take

__all__ = [
    "SoundBudget",
    "SoundSearch",
    "root_box",
    "encode_tree",
    "leaves_of_tree",
    "prove_on_tree",
    "DEFAULT_TOLERANCE",
    "DEFAULT_BOXES",
    "DEFAULT_SECONDS",
]

DEFAULT_TOLERANCE = 0.01
DEFAULT_BOXES = 20_000
DEFAULT_SECONDS = 120.0
FLOOR = 1e-3  # relative tolerances are measured against at least 1e-3 of the largest constant
SPLIT_BATCH = 64  # leaves bisected per round (two interpreted batches of children)
PRUNED = "x"
LEAF = "."


@dataclass(frozen=True)
class SoundBudget:
    """When to stop refining: every constant within ``tolerance`` (relative), or ``boxes``
    boxes enclosed, or ``seconds`` spent."""

    tolerance: float = DEFAULT_TOLERANCE
    boxes: int = DEFAULT_BOXES
    seconds: float = DEFAULT_SECONDS

    def __post_init__(self) -> None:
        if not (math.isfinite(self.tolerance) and self.tolerance > 0):
            raise SpecError(f"--tolerance: expected a positive number, got {self.tolerance!r}")
        if self.boxes < 1:
            raise SpecError(f"--budget: expected at least 1 box, got {self.boxes!r}")
        if not self.seconds > 0:
            raise SpecError(f"--budget: expected a positive number of seconds, got {self.seconds!r}")


def root_box(region: Region, bounding: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray]:
    """A box holding R (R's own box, or the box around its ball), intersected with
    ``bounding`` (a box holding X) when given; rounded outwards."""
    assert region.center is not None
    c = np.asarray(region.center, dtype=np.float64)
    lo, hi = down(c - region.radius), up(c + region.radius)
    if bounding is not None:
        lo, hi = np.maximum(lo, bounding[0]), np.minimum(hi, bounding[1])
    if np.any(lo > hi):
        raise SpecError("sound bounds: the region and the constraint sets do not meet")
    return lo, hi


def _outside_ball(lo: np.ndarray, hi: np.ndarray, region: Region) -> np.ndarray:
    """True for boxes proved disjoint from R when R is a ball (never for a box region):
    the squared distance from the centre, rounded down, exceeds radius^2 rounded up."""
    if region.norm != "2":
        return np.zeros(lo.shape[0], dtype=bool)
    assert region.center is not None
    c = region.center
    gap = np.maximum(np.maximum(down(lo - c), down(c - hi)), 0.0)
    d2 = np.sum(down(gap * gap), axis=-1) * (1.0 - 4.0 * lo.shape[-1] * 2.0**-53)
    return d2 > up(region.radius * region.radius)


# -------------------------------------------------------------------------- the tree
@dataclass
class _Node:
    lo: np.ndarray
    hi: np.ndarray
    split: int = -1  # coordinate, -1 for a leaf
    pruned: bool = False
    children: tuple[int, int] | None = None


def _children(
    lo: np.ndarray, hi: np.ndarray, k: int
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    m = lo[k] + (hi[k] - lo[k]) / 2.0
    lhi, rlo = hi.copy(), lo.copy()
    lhi[k], rlo[k] = m, m
    return (lo, lhi), (rlo, hi)


def encode_tree(nodes: Sequence[_Node]) -> str:
    """Pre-order tokens: a split coordinate, ``.`` for a leaf, ``x`` for a pruned box."""
    out: list[str] = []
    stack = [0]
    while stack:
        node = nodes[stack.pop()]
        if node.children is None:
            out.append(PRUNED if node.pruned else LEAF)
        else:
            out.append(str(node.split))
            stack.extend(reversed(node.children))
    return " ".join(out)


def leaves_of_tree(tree: str, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(leaf lows, leaf highs, pruned lows, pruned highs) of a tree from :func:`encode_tree`
    (SpecError when it is malformed), in pre-order."""
    nodes = _tree_nodes(tree, lo, hi)
    d = len(lo)

    def stacked(items: list[_Node]) -> tuple[np.ndarray, np.ndarray]:
        if not items:
            return np.zeros((0, d)), np.zeros((0, d))
        return np.stack([n.lo for n in items]), np.stack([n.hi for n in items])

    order = _preorder(nodes)
    leaves = [n for n in order if n.children is None and not n.pruned]
    pruned = [n for n in order if n.pruned]
    return (*stacked(leaves), *stacked(pruned))


def _preorder(nodes: Sequence[_Node]) -> list[_Node]:
    out, stack = [], [0]
    while stack:
        node = nodes[stack.pop()]
        out.append(node)
        if node.children is not None:
            stack.extend(reversed(node.children))
    return out


# ------------------------------------------------------------------------ the search
@dataclass
class SoundSearch:
    """Branch and bound over R for a set of keys (module docstring). Build with
    :meth:`start`; :meth:`refine` adds keys and splits until resolved or out of budget."""

    game: Game
    region: Region
    enclose: JacobianEnclosure
    budget: SoundBudget
    point_values: Callable[[np.ndarray, Sequence[Key]], np.ndarray]
    nodes: list[_Node] = field(default_factory=list)
    leaves: list[int] = field(default_factory=list)  # node ids of the live (unpruned) leaves
    J: list[Enclosure] = field(default_factory=list)  # enclosure per live leaf (aligned with leaves)
    smear: list[np.ndarray] = field(default_factory=list)  # each live leaf's smear (N, N, d): where to split
    keys: list[Key] = field(default_factory=list)
    bound: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (leaves, keys), lower-oriented
    best: np.ndarray = field(default_factory=lambda: np.zeros(0))  # best point value per key, lower-oriented
    boxes: int = 0
    started: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0
    stopped: str = "tolerance"  # what ended the last refine: tolerance, boxes or seconds

    @staticmethod
    @float64
    def start(
        game: Game,
        region: Region,
        budget: SoundBudget,
        point_values: Callable[[np.ndarray, Sequence[Key]], np.ndarray],
    ) -> SoundSearch:
        enclose = jacobian_enclosure(game)
        bounding = game.sets.bounding_box() if game.constrained and game.sets is not None else None
        lo, hi = root_box(region, bounding)
        s = SoundSearch(game, region, enclose, budget, point_values)
        s.nodes.append(_Node(lo, hi))
        s.leaves = [0]
        J, smear = enclose.with_smear(lo[None], hi[None], game.block_sizes)
        s.J = [J]
        s.smear = [smear[0]]
        s.boxes = 1
        s.bound = np.zeros((1, 0))
        return s

    # --- per-key orientation: everything is stored as a lower bound (upper keys negated)
    def _oriented(self, values: np.ndarray, keys: Sequence[Key]) -> np.ndarray:
        sign = np.array([-1.0 if k.upper else 1.0 for k in keys])
        return values * sign

    def _leaf_bounds(self, J: Enclosure, keys: Sequence[Key]) -> np.ndarray:
        return self._oriented(bounds(J.J, J.G, self.game.metric_block_sizes, keys), keys)

    def _stack(self, idx: Sequence[int]) -> Enclosure:
        return stack_enclosures([self.J[i] for i in idx])

    def add_keys(self, keys: Sequence[Key], sample_values: np.ndarray) -> None:
        """Track more keys; ``sample_values`` (len(keys),) are their values at the samples
        (natural orientation: min for lower keys, max for upper ones)."""
        new = [k for k in keys if k not in self.keys]
        if not new:
            return
        pos = [list(keys).index(k) for k in new]
        J = self._stack(range(len(self.leaves)))
        self.bound = np.concatenate([self.bound, self._leaf_bounds(J, new)], axis=1)
        # the new keys' best values: the samples and the centres of the live leaves (the
        # keys tracked already have seen those centres when the leaves were made)
        lo = np.stack([self.nodes[i].lo for i in self.leaves])
        hi = np.stack([self.nodes[i].hi for i in self.leaves])
        at_centres = np.min(self._oriented(self.point_values(0.5 * (lo + hi), new), new), 0)
        sampled = self._oriented(np.asarray(sample_values, dtype=np.float64)[pos], new)
        self.best = np.concatenate([self.best, np.minimum(sampled, at_centres)])
        self.keys.extend(new)

    def region_bounds(self) -> np.ndarray:
        """Each key's bound over R (natural orientation)."""
        return self._oriented(np.min(self.bound, axis=0), self.keys)

    def best_values(self) -> np.ndarray:
        return self._oriented(self.best, self.keys)

    def gaps(self) -> np.ndarray:
        """Relative distance of each bound from its best point value (module docstring)."""
        low = np.min(self.bound, axis=0)
        scale = float(np.max(np.abs(self.best))) if self.best.size else 0.0
        denom = np.maximum(np.abs(self.best), FLOOR * scale)
        with np.errstate(invalid="ignore", divide="ignore"):
            gap = np.where(denom > 0, (self.best - low) / np.where(denom > 0, denom, 1.0), 0.0)
        return np.where(np.isfinite(low), np.maximum(gap, 0.0), np.inf)

    def out_of_budget(self, share: float = 1.0) -> bool:
        return (
            self.boxes + 2 > share * self.budget.boxes  # a split encloses two boxes
            or time.perf_counter() - self.started >= share * self.budget.seconds
        )

    @float64
    def refine(self, progress: Callable[[int, int], None] | None = None, share: float = 1.0) -> None:
        """Bisect the leaves holding unresolved keys back until all are resolved or the
        budget is spent (``share``: the part of the whole budget this call may reach)."""
        width0 = self.nodes[0].hi - self.nodes[0].lo
        scale0 = np.where(width0 > 0, width0, 1.0)
        while True:
            gaps = self.gaps()
            open_keys = gaps > self.budget.tolerance
            if not open_keys.any() or not self.leaves:
                self.stopped = "tolerance"
                break
            if self.out_of_budget(share):
                self.stopped = "boxes" if self.boxes + 2 > share * self.budget.boxes else "seconds"
                break
            scale = float(np.max(np.abs(self.best))) if self.best.size else 0.0
            denom = np.maximum(np.abs(self.best), FLOOR * scale)
            target = self.best - self.budget.tolerance * denom  # a leaf below this keeps the key open
            deficit = (target - self.bound) / np.where(denom > 0, denom, 1.0)
            # each open key gets its share of the round: its worst leaves first
            per_key = max(1, SPLIT_BATCH // int(open_keys.sum()))
            picked: dict[int, None] = {}
            for k in np.flatnonzero(open_keys):
                order = np.argsort(-deficit[:, k], kind="stable")[:per_key]
                picked.update((int(r), None) for r in order if deficit[r, k] > 0)
            # a leaf is split for the open key it misses by most
            # (relative to the key's own gap: the leaf that holds a key back most decides)
            with np.errstate(invalid="ignore", divide="ignore"):
                rel = deficit / np.where((gaps > 0) & np.isfinite(gaps), gaps, 1.0)[None, :]
            masked = np.where(open_keys[None, :], np.nan_to_num(rel, nan=np.inf), -np.inf)
            chosen = [(r, self.keys[int(np.argmax(masked[r]))]) for r in list(picked)[:SPLIT_BATCH]]
            if not chosen:  # rounding: the bound sits on the target
                self.stopped = "tolerance"
                break
            room = max(1, int(share * self.budget.boxes - self.boxes) // 2)
            chosen = chosen[:room]
            self._split(chosen, scale0)
            if progress:
                progress(min(self.boxes, self.budget.boxes), self.budget.boxes)
        self.seconds = time.perf_counter() - self.started

    def _split(self, chosen: Sequence[tuple[int, Key]], scale0: np.ndarray) -> None:
        new_lo, new_hi, parents = [], [], []
        inherited = []  # each child's parent bounds: a child is inside its parent, so they hold on it too
        for li, key in chosen:
            inherited += [self.bound[li], self.bound[li]]
            nid = self.leaves[li]
            node = self.nodes[nid]
            blocks = self.smear[li]
            if key.kind == "mu":
                sm = blocks[key.i, key.i]
            elif key.kind == "L":
                sm = blocks[key.i, key.j]
            else:
                sm = blocks.sum(axis=(0, 1))
            width = (node.hi - node.lo) / scale0
            # the coordinate accounting for most of the enclosure's width; ties and a flat
            # smear go to the widest side (relative to R's), which also keeps boxes from
            # becoming needles
            k = int(np.argmax(sm + 1e-12 * np.max(sm) * width)) if np.max(sm) > 0 else int(np.argmax(width))
            if width[k] < 1e-3 * np.max(width):
                k = int(np.argmax(width))
            (alo, ahi), (blo, bhi) = _children(node.lo, node.hi, k)
            node.split = k
            ids = []
            for clo, chi in ((alo, ahi), (blo, bhi)):
                self.nodes.append(_Node(clo, chi))
                ids.append(len(self.nodes) - 1)
                new_lo.append(clo)
                new_hi.append(chi)
            node.children = (ids[0], ids[1])
            parents.append(ids)
        lo, hi = np.stack(new_lo), np.stack(new_hi)
        outside = _outside_ball(lo, hi, self.region)
        keep_ids = []
        for pos, nid in enumerate([i for pair in parents for i in pair]):
            if outside[pos]:
                self.nodes[nid].pruned = True
            else:
                keep_ids.append((pos, nid))
        # replace the split leaves by their kept children
        drop = {li for li, _ in chosen}
        keep_rows = [r for r in range(len(self.leaves)) if r not in drop]
        self.leaves = [self.leaves[r] for r in keep_rows]
        self.J = [self.J[r] for r in keep_rows]
        self.smear = [self.smear[r] for r in keep_rows]
        self.bound = self.bound[keep_rows]
        if keep_ids:
            rows = np.array([p for p, _ in keep_ids])
            J, smear = self.enclose.with_smear(lo[rows], hi[rows], self.game.block_sizes)
            self.boxes += len(rows)
            for row, (_, nid) in enumerate(keep_ids):
                self.leaves.append(nid)
                self.J.append(take(J, slice(row, row + 1)))
                self.smear.append(smear[row])
            if not self.keys:
                self.bound = np.concatenate([self.bound, np.zeros((len(rows), 0))])
            else:
                own = self._leaf_bounds(J, self.keys)
                self.bound = np.concatenate([self.bound, np.maximum(own, np.stack(inherited)[rows])])
                mids = 0.5 * (lo[rows] + hi[rows])
                pv = self._oriented(self.point_values(mids, self.keys), self.keys)
                self.best = np.minimum(self.best, np.min(pv, axis=0))

    def evaluate(self, keys: Sequence[Key]) -> np.ndarray:
        """Bounds over R of ``keys`` on the current partition, without refining."""
        J = self._stack(range(len(self.leaves)))
        return self._oriented(np.min(self._leaf_bounds(J, keys), axis=0), keys)

    def tree(self) -> str:
        return encode_tree(self.nodes)


MAX_TOKENS = 4_000_001  # a partition of up to 2 million leaves
MAX_DEPTH_PER_DIM = 64  # bisections along one path, per coordinate (2^-64 of a side is below rounding)


def _tree_nodes(tree: str, lo: np.ndarray, hi: np.ndarray) -> list[_Node]:
    """Every node of a tree from :func:`encode_tree` (node 0 the root; SpecError when
    malformed, longer than MAX_TOKENS or deeper than MAX_DEPTH_PER_DIM per coordinate: a
    hostile certificate must not keep verify busy)."""
    tokens = tree.split()
    if len(tokens) > MAX_TOKENS:
        raise SpecError(f"sound partition: {len(tokens)} tokens (at most {MAX_TOKENS})")
    max_depth = MAX_DEPTH_PER_DIM * len(lo)
    depth: dict[int, int] = {}
    nodes = [_Node(np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64))]
    stack = [0]
    d = len(lo)
    for pos, tok in enumerate(tokens):
        if not stack:
            raise SpecError(f"sound partition: {len(tokens) - pos} tokens after the last box")
        node = nodes[stack.pop()]
        if tok == PRUNED:
            node.pruned = True
        elif tok != LEAF:
            try:
                k = int(tok)
            except ValueError:
                raise SpecError(f"sound partition: unknown token {tok!r} at {pos}") from None
            if not 0 <= k < d:
                raise SpecError(f"sound partition: coordinate {k} out of range at {pos}")
            (alo, ahi), (blo, bhi) = _children(node.lo, node.hi, k)
            node.split = k
            parent_depth = depth.get(id(node), 0)
            if parent_depth + 1 > max_depth:
                raise SpecError(f"sound partition: deeper than {max_depth} bisections")
            nodes += [_Node(alo, ahi), _Node(blo, bhi)]
            depth[id(nodes[-2])] = depth[id(nodes[-1])] = parent_depth + 1
            node.children = (len(nodes) - 2, len(nodes) - 1)
            stack += [len(nodes) - 1, len(nodes) - 2]
    if stack:
        raise SpecError("sound partition: the tree ends early")
    return nodes


@float64
def prove_on_tree(
    game: Game, region: Region, tree: str, keys: Sequence[Key], values: Sequence[float], batch: int = 256
) -> tuple[np.ndarray, int]:
    """Re-prove stated bounds on a recorded partition (sgncert verify): per key, whether it
    holds on every leaf, and the number of boxes enclosed to show it. A bound proved on a box holds on every
    box inside it, so the tree is walked from the root and a subtree is entered only for
    the keys not yet proved on its root; a box marked outside R must be proved to be."""
    bounding = game.sets.bounding_box() if game.constrained and game.sets is not None else None
    lo, hi = root_box(region, bounding)
    nodes = _tree_nodes(tree, lo, hi)
    pruned = [node for node in nodes if node.pruned]
    if pruned and not np.all(_outside_ball(np.stack([n.lo for n in pruned]), np.stack([n.hi for n in pruned]), region)):
        raise SpecError("sound partition: a box marked outside the region is not proved to be")
    enclose = jacobian_enclosure(game)
    ok = np.ones(len(keys), dtype=bool)
    enclosed = 0
    level = [(0, np.zeros(len(keys), dtype=bool))]  # (node, keys already proved above it)
    while level:
        live = [(n, done) for n, done in level if not nodes[n].pruned and not done.all()]
        proved = np.zeros((len(live), len(keys)), dtype=bool)
        for start in range(0, len(live), batch):
            part = live[start : start + batch]
            blo = np.stack([nodes[n].lo for n, _ in part])
            bhi = np.stack([nodes[n].hi for n, _ in part])
            todo = [k for k in range(len(keys)) if not all(done[k] for _, done in part)]
            E = enclose(blo, bhi)
            enclosed += len(part)
            got = key_holds(E.J, E.G, game.metric_block_sizes, [keys[k] for k in todo], [values[k] for k in todo])
            proved[start : start + len(part)][:, todo] = got
        nxt = []
        for (n, done), row in zip(live, proved):
            now = done | row
            if nodes[n].children is None:
                ok &= now
            elif not now.all():
                nxt += [(c, now) for c in nodes[n].children or ()]
        level = nxt
    return ok, enclosed


# --------------------------------------------------------------- values at points
def point_values(game: Game) -> Callable[[np.ndarray, Sequence[Key]], np.ndarray]:
    """``values(points, keys)`` -> (n, len(keys)): each key's float value at each point (the
    Jacobian's statistics there: an estimate, never a bound)."""
    from .constants import pointwise_statistics

    def values(points: np.ndarray, keys: Sequence[Key]) -> np.ndarray:
        out = np.empty((points.shape[0], len(keys)))
        st = pointwise_statistics(game, points) if any(k.w is None for k in keys) else {}
        by_w: dict[tuple[float, ...], dict[str, np.ndarray]] = {}
        for c, key in enumerate(keys):
            if key.w is not None:
                if key.w not in by_w:
                    by_w[key.w] = pointwise_statistics(game, points, list(key.w), block_stats=False)
                s = by_w[key.w]
                out[:, c] = s["beta"] if key.kind == "beta" else s["alpha_true"]
            elif key.kind == "mu":
                out[:, c] = st["mu"][:, key.i]
            elif key.kind == "L":
                out[:, c] = st["L"][:, key.i, key.j]
            else:
                out[:, c] = st["gamma"]
        return out

    return values


@dataclass(frozen=True)
class SoundReport:
    """What the branch and bound proved: ``bound`` per key (natural orientation), the best
    point value ``best`` and the sampled estimate ``sampled`` of the same run, the relative
    ``gaps`` (module docstring), the partition and the effort spent."""

    budget: SoundBudget
    keys: tuple[Key, ...]
    bound: np.ndarray
    best: np.ndarray
    sampled: np.ndarray
    gaps: np.ndarray
    tree: str
    boxes: int
    leaves: int
    seconds: float
    stopped: str

    @property
    def complete(self) -> bool:
        """Every bound is within the tolerance of its best point value."""
        return bool(np.all(self.gaps <= self.budget.tolerance))

    @property
    def reached(self) -> float:
        """The largest relative gap (the tolerance actually reached)."""
        return float(np.max(self.gaps)) if self.gaps.size else 0.0

    def value(self, key: Key, what: str = "bound") -> float:
        return float(getattr(self, what)[self.keys.index(key)])


def report_of(search: SoundSearch, sampled: dict[Key, float]) -> SoundReport:
    """The search's result, with the sampled estimate of each key."""
    keys = tuple(search.keys)
    return SoundReport(
        budget=search.budget,
        keys=keys,
        bound=search.region_bounds(),
        best=search.best_values(),
        sampled=np.array([sampled.get(k, math.nan) for k in keys]),
        gaps=search.gaps(),
        tree=search.tree(),
        boxes=search.boxes,
        leaves=len(search.leaves),
        seconds=time.perf_counter() - search.started,
        stopped=search.stopped,
    )


def game_budget(game: Game) -> SoundBudget:
    """The spec's ``bounds`` options (tolerance, boxes, seconds) as a budget."""
    opts = getattr(game, "bounds_options", None) or {}
    return SoundBudget(
        tolerance=float(opts.get("tolerance", DEFAULT_TOLERANCE)),
        boxes=int(opts.get("boxes", DEFAULT_BOXES)),
        seconds=float(opts.get("seconds", DEFAULT_SECONDS)),
    )
