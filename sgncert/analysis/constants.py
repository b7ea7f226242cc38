"""Curvature, coupling and Lipschitz constants of a game on its region (docs/theory.md §2).

For each point x of a sample of R (or the single Jacobian of an affine game) the
statistics of :mod:`sgncert.analysis.statistics` are computed, and the constants are their
extrema over the points: mu_i = min mu_i(x), L_ij = max L_ij(x), gamma = min gamma(x),
beta(w) = max beta_w(x), alpha_true(w) = min at_w(x).

Two paths for sampled games, chosen by the dimension d of the metric space:

- ``d <= DENSE_MAX_DIM`` (dense): one Jacobian per point (``jacfwd`` of F, ``vmap``-ed over a
  fixed-size batch and ``jit``-ed once, :mod:`sgncert.analysis.kernels`), every statistic
  a batched dense eigenvalue call on the host (exact to rounding);
- ``d > DENSE_MAX_DIM`` (large): block-sparse Lanczos with safe-side bounds
  (:mod:`sgncert.analysis.lanczos`).

Provenance: ``exact`` when F is affine (J constant, one Jacobian, always the dense
formulas), ``sampled`` otherwise: the extremum over finitely many points is an estimate of
the inf / sup over R, not a bound.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import hashlib
import math
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import NumericalError, SpecError
from ..games.model import Game
from ..theory import proved
from ..util.jaxenv import float64
from .cluster import GamePayload, Runner
from .kernels import compiled_key, kernels, local_devices, on_device, rows_kernel, structured_rows
from .lanczos import LANCZOS_MAX_STEPS, large_batch, large_kernels
from .matrix_free import MATRIX_FREE, matrix_free_statistics
from .statistics import block_layout, block_statistics, dense_from_rows, host_statistics, weighted_statistics
from .threads import as_caller, in_order, threads_within

BATCH_BYTES = 256 * 1024 * 1024  # memory budget for one batch of Jacobians and work arrays (at most)
LARGE_BATCH_BYTES = 512 * 1024 * 1024  # the same for the large path (a few points of d x d each)
MEMORY_SHARE = 8  # a batch uses at most 1/MEMORY_SHARE of the memory available when the process starts


@functools.lru_cache(maxsize=1)
def available_memory() -> int | None:
    """Bytes of memory available to this process (MemAvailable, or free pages), read once
    per process so that every pass uses the same batch shapes; None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def memory_budget(cap: int) -> int:
    """Bytes one batch may use: ``cap``, or less when 1/MEMORY_SHARE of the available
    memory is smaller (at least 16 MiB)."""
    avail = available_memory()
    if avail is None:
        return cap
    return int(max(16 * 1024 * 1024, min(cap, avail // MEMORY_SHARE)))


@dataclass(frozen=True)
class Constants:
    """mu (N,), L (N, N) with zero diagonal, gamma; extrema over ``points``."""

    mu: np.ndarray
    L: np.ndarray
    gamma: float
    provenance: str  # "exact" | "sampled"
    samples: int
    worst: dict  # statistic -> index of the point attaining it
    center_value: np.ndarray | None = None  # F at the first point (the centre), when sampled
    jacobians: np.ndarray | None = None  # the metric-space Jacobians at the samples, when kept


@dataclass(frozen=True)
class WeightedConstants:
    """beta(w) = sup ||M^1/2 J M^-1/2||_2 and alpha_true(w) = inf lambda_min(sym(.))."""

    beta: float
    alpha_true: float


BATCH_POINTS = 256  # one batch shape per game: every pass (and verify's resampling) reuses one compilation
LARGE_BATCH_POINTS = 8  # large path: small batches keep a batch's operators in cache
DENSE_MAX_DIM = 64  # sampled games of larger (metric) dimension use the large path (module docstring;
# measured on 2 cores, ring games with 16-dim blocks and 1025 samples: d = 64 dense 7.4 s / large 8.7 s,
# d = 96 12.7 s / 10.1 s, d = 128 22.4 s / 10.1 s)


BLACK_BOX_FACTOR = 1.5  # games without cost templates (Python hooks, F given directly) switch at 1.5 x
# DENSE_MAX_DIM (d > 96): their large path gets no block rows from templates. Measured (python bench/run_blackbox.py
# --only switch, black-box rings of 16-dim players, 1025 samples, 2 cores, batches on 2 threads): d = 64 dense 2.2 s /
# large 4.2 s, d = 96 5.7 s / 5.8 s, d = 128 7.3 s / 6.6 s, d = 192 14.1 s / 7.7 s


def large_path(dim: int, black_box: bool = False) -> bool:
    """True when sampled statistics of a ``dim``-dimensional metric space use the large path
    (``black_box``: the game has no cost templates, see BLACK_BOX_FACTOR)."""
    return dim > (BLACK_BOX_FACTOR * DENSE_MAX_DIM if black_box else DENSE_MAX_DIM)


def game_large_path(game: Game) -> bool:
    """Whether ``game``'s sampled statistics use the large path."""
    black_box = game.structure is None and game.transform is None
    return large_path(sum(game.metric_block_sizes), black_box)


def batch_size(n_points: int, dim: int, large: bool | None = None) -> int:
    """Fixed batch size: BATCH_POINTS Jacobians (fewer when the per-point work arrays exceed
    the memory budget: BATCH_BYTES, or 1/MEMORY_SHARE of the available memory if smaller), independent of ``n_points`` so the jitted kernels
    compile once. Dense path: ~6 d x d arrays a point within BATCH_BYTES; large path (at
    most LARGE_BATCH_POINTS, within LARGE_BATCH_BYTES): ~5 d x d arrays (Jacobian, blocks,
    operators when every block is nonzero) plus three Lanczos bases of up to LANCZOS_MAX_STEPS + 1 vectors. Never O(samples x d^2).
    ``large``: the path (default: by ``dim`` alone)."""
    per_point, cap, most = _batch_memory(dim, large)
    return int(max(1, min(most, memory_budget(cap) // per_point)))


def _batch_memory(dim: int, large: bool | None) -> tuple[int, int, int]:
    """(bytes per point, budget, most points) of a batch on the path ``large`` (:func:`batch_size`)."""
    if large_path(dim) if large is None else large:
        return (
            5 * 8 * dim * dim + 3 * 8 * (min(dim, LANCZOS_MAX_STEPS) + 1) * dim,
            LARGE_BATCH_BYTES,
            LARGE_BATCH_POINTS,
        )
    return 6 * 8 * dim * dim + 1, BATCH_BYTES, BATCH_POINTS


def batch_threads(size: int, dim: int, large: bool | None = None) -> int:
    """Threads that work on batches of ``size`` points at once (:mod:`sgncert.analysis.threads`):
    one per CPU, as many as the batches' work arrays fit in the memory budget of one batch."""
    per_point, cap, _ = _batch_memory(dim, large)
    return threads_within(memory_budget(cap), size * per_point)


#: the runner of sample batches while a certification runs on a cluster (docs/theory.md §15)
SAMPLE_RUNNER: contextvars.ContextVar[Runner | None] = contextvars.ContextVar("sgncert_sample_runner", default=None)
CHUNKS_PER_WORKER = 2  # sample chunks a cluster worker gets (a multiple of the batch size each)


@float64
def _chunk_statistics(payload: GamePayload, item: tuple) -> dict[str, Any]:
    """A cluster task: the statistics of one chunk of sample points (the game rebuilt from
    its payload once per worker)."""
    from .cluster import rebuilt_game

    points, weights, keep, block_stats, margin = item
    return _local_statistics(rebuilt_game(payload), points, weights, None, keep, block_stats, margin)


@float64
def pointwise_statistics(
    game: Game,
    points: np.ndarray,
    weights=None,
    progress: Callable[[int, int], None] | None = None,
    keep_jacobians: bool = False,
    block_stats: bool = True,
    margin: bool = True,
) -> dict[str, np.ndarray]:
    """Per-point statistics of the (metric-space) Jacobians at ``points`` (n, d):
    ``mu`` (n, N), ``L`` (n, N, N), ``gamma`` (n,), ``finite`` (n,: F and its Jacobian are
    finite at the point), ``value0`` (F at the first point) and, with ``weights``, ``beta`` (n,) and ``alpha_true`` (n,).
    ``block_stats=False`` skips mu, L and gamma (the weighted pass needs only beta, alpha_true);
    ``margin=False`` skips alpha_true (beta alone: the Euclidean proof's beta(1)).
    ``keep_jacobians``: also ``jacobians`` (n, d_m, d_m), if they fit in BATCH_BYTES.

    While :data:`SAMPLE_RUNNER` holds a cluster runner, the points are split into chunks of
    whole batches (the batches a single process would form, so every statistic is the same
    number) and each chunk is a task."""
    mf = MATRIX_FREE.get()
    if mf is not None:  # no Jacobian is formed (sgncert.analysis.matrix_free)
        return matrix_free_statistics(game, points, mf, weights, progress, block_stats, margin)
    run = SAMPLE_RUNNER.get()
    size = batch_size(points.shape[0], game.dim, game_large_path(game))
    if run is None or run.workers < 1 or points.shape[0] <= size:
        return _local_statistics(game, points, weights, progress, keep_jacobians, block_stats, margin)
    per_chunk = size * max(1, math.ceil(points.shape[0] / size / (CHUNKS_PER_WORKER * run.workers)))
    chunks = [points[k : k + per_chunk] for k in range(0, points.shape[0], per_chunk)]
    w = None if weights is None else [float(v) for v in np.asarray(weights, dtype=np.float64).reshape(-1)]
    items = [(c, w, keep_jacobians, block_stats, margin) for c in chunks]
    done = [0]

    def finished(k: int, _result: Any) -> None:
        done[0] += chunks[k].shape[0]
        if progress:
            progress(done[0], points.shape[0])

    parts = run.map(_chunk_statistics, items, shared=GamePayload.of(game), on_done=finished)
    out: dict[str, Any] = {}
    for key in parts[0]:
        if key == "value0":
            out[key] = parts[0][key]
        elif all(key in p for p in parts):
            out[key] = np.concatenate([p[key] for p in parts])
    return out


KEEP_SHARE = 4  # the Jacobians kept for one certification use at most 1/KEEP_SHARE of the available memory


@dataclass
class JacobianStore:
    """The metric-space Jacobians of one certification, kept across its passes over the
    samples (constants, beta and alpha_true in the SGN weights, beta in w = 1) so each is
    computed once; used while :func:`keeping_jacobians` is active. It keeps the first set
    of points it sees (the samples; the sound search's leaf centres come later and are
    streamed), keyed by the game's compiled kernels, its parameter values and the points."""

    budget: int
    entries: dict = dataclasses.field(default_factory=dict)

    @staticmethod
    def key(game: Game, points: np.ndarray) -> tuple:
        h = hashlib.sha256(np.ascontiguousarray(points, dtype=np.float64).tobytes())
        for name in sorted(game.params):
            h.update(name.encode())
            h.update(np.ascontiguousarray(game.params[name], dtype=np.float64).tobytes())
        return (compiled_key(game), h.hexdigest())


#: the store of the certification running in this context (None: Jacobians are streamed)
JACOBIAN_STORE: contextvars.ContextVar[JacobianStore | None] = contextvars.ContextVar(
    "sgncert_jacobian_store", default=None
)


def keep_budget() -> int:
    """Bytes of Jacobians one certification may keep: 1/KEEP_SHARE of the available memory
    (BATCH_BYTES when unknown)."""
    avail = available_memory()
    return BATCH_BYTES if avail is None else int(avail // KEEP_SHARE)


@contextlib.contextmanager
def keeping_jacobians(budget: int | None = None) -> Iterator[JacobianStore]:
    """Keep the sampled Jacobians (when they fit ``budget`` bytes, default
    :func:`keep_budget`) for the passes run inside the block; stream them otherwise."""
    store = JacobianStore(keep_budget() if budget is None else budget)
    token = JACOBIAN_STORE.set(store)
    try:
        yield store
    finally:
        JACOBIAN_STORE.reset(token)


def _local_statistics(
    game: Game,
    points: np.ndarray,
    weights=None,
    progress: Callable[[int, int], None] | None = None,
    keep_jacobians: bool = False,
    block_stats: bool = True,
    margin: bool = True,
) -> dict[str, np.ndarray]:
    """:func:`pointwise_statistics` in this process."""

    p = game.jax_params()
    dm = sum(game.metric_block_sizes)
    large = game_large_path(game)
    lk: Any = large_kernels(game) if large else None
    s_np = None if weights is None else weight_scaling(game, weights)
    idx, mask = block_layout(game.metric_block_sizes)
    size = batch_size(points.shape[0], game.dim, large)
    out: dict[str, list] = {k: [] for k in ("mu", "L", "gamma", "finite", "beta", "alpha_true")}
    value0 = None
    n = points.shape[0]
    structured = large and structured_rows(game)
    store = None if structured else JACOBIAN_STORE.get()
    key = JacobianStore.key(game, points) if store is not None else None
    stored = store.entries.get(key) if store is not None else None
    nbytes = -(-n // size) * size * dm * dm * 8  # whole (padded) batches
    keeping: list | None = None  # this pass's batches for the store: the kernel's output arrays (no copy)
    if stored is None and store is not None and not store.entries and nbytes <= store.budget:
        keeping = []
    kept_batches = stored[0] if stored is not None else keeping  # every batch, when the store has them
    keep = keep_jacobians and (kept_batches is not None or nbytes <= BATCH_BYTES)
    kept = []  # keep_jacobians without the store: copies of the batches' points
    jacobians: Any = None if structured or stored is not None else kernels(game)[0]
    rows_fn: Any = None
    if structured:
        assert game.structure is not None
        rows_fn = rows_kernel(game)
        cols, valid = game.structure.cols, game.structure.valid
    elif large:
        N = game.n_players
        cols, valid = np.tile(np.arange(N, dtype=np.int32), (N, 1)), np.ones((N, N))
    batches = (
        _stored_batches(stored, size)
        if stored is not None
        else _dispatched(_batches(points, size), structured, rows_fn, jacobians, p)
    )

    def batch_statistics(item: tuple) -> dict[str, np.ndarray]:
        """The statistics of one batch (run on a worker thread)."""
        _start, count, (_values, K, G) = item
        if large:
            G = G if structured else lk["rows_of"](K)
            res = large_batch(game, lk, G, cols, valid, weights, s_np, block_stats, margin)
            return {k: arr[:count] for k, arr in res.items() if block_stats or k != "finite"}
        # dense statistics by host LAPACK (sgncert.analysis.statistics)
        return host_statistics(np.asarray(K)[:count], idx, mask, s_np, block_stats, margin)

    threads = batch_threads(size, game.dim, large)
    for (start, count, (values, K, G)), res in in_order(batch_statistics, batches, threads):
        if keeping is not None:
            keeping.append(K)
        if value0 is None:
            value0 = np.asarray(values)[0]  # (indexing the JAX array would compile a slice)
        if keep and kept_batches is None:
            kept.append(
                (np.asarray(K) if K is not None else dense_from_rows(np.asarray(G), cols, *lk["layout"]))[:count]
            )
        if "finite" in res:  # the theory needs F itself defined at every point, not only its Jacobian
            res["finite"] = res["finite"] & np.all(np.isfinite(np.asarray(values)[:count]), axis=1)
        for k, arr in res.items():
            out[k].append(arr)
        if progress:
            progress(start + count, n)
    result: dict[str, Any] = {k: np.concatenate(v) for k, v in out.items() if v}
    if store is not None and keeping is not None:
        store.entries[key] = (keeping, value0, n)
    result["value0"] = value0
    if keep:
        pieces = kept if kept_batches is None else [np.asarray(K) for K in kept_batches]
        result["jacobians"] = np.concatenate(pieces)[:n]
    return result


@contextlib.contextmanager
def compiling_ahead(game: Game, center: np.ndarray) -> Iterator[None]:
    """Compile the kernel of the first pass over the samples on a thread while the block
    runs (drawing the samples), for a batch of the shape the pass will use (copies of
    ``center``; nothing is computed), so the pass finds the program compiled. Nothing
    happens for the matrix-free path, on a cluster, or when the kernel is not one jitted
    function (Fisher geometry); an error is left for the pass itself to report, and an
    error in the block does not wait for the compilation."""
    try:
        worker = _compile_thread(game, center)
    except Exception:  # (the pass reports it)
        worker = None
    yield  # an exception here reaches the caller at once; the thread finishes on its own
    if worker is not None:
        worker.join()


def _compile_thread(game: Game, center: np.ndarray) -> threading.Thread | None:
    """The started thread of :func:`compiling_ahead`, or None when it does not apply."""
    run = SAMPLE_RUNNER.get()
    if MATRIX_FREE.get() is not None or (run is not None and run.workers >= 1):
        return None
    large = game_large_path(game)
    size = batch_size(1, game.dim, large)
    x = on_device(np.repeat(np.asarray(center, dtype=np.float64)[None], size, axis=0), local_devices()[0])
    p = game.jax_params()
    fn = rows_kernel(game) if large and structured_rows(game) else kernels(game)[0]
    if not hasattr(fn, "lower"):
        return None

    def compile_quietly() -> None:
        with contextlib.suppress(Exception):
            fn.lower(x, p).compile()

    # not a daemon: a process that ends while XLA compiles would abort; it waits for it instead
    worker = threading.Thread(target=as_caller(compile_quietly), name="sgncert-compile")
    worker.start()
    return worker


def _stored_batches(stored: tuple[list, np.ndarray, int], size: int):
    """(start, count, (F, K, None)) over kept Jacobians: the batches the first pass
    computed, as they were (the last one padded with copies of the first point)."""
    batches, value0, n = stored
    for b, K in enumerate(batches):
        start = b * size
        yield start, min(size, n - start), (value0[None], K, None)


def _dispatched(batches, structured: bool, rows_fn, jacobians, p):
    """(start, count, (F, K, G)) per batch, with the Jacobian kernel of each batch run on
    the next local JAX device in turn: a group of as many batches as devices is dispatched
    before any is read, so several accelerators work at once. Every batch runs the same
    program at the same batch size on its device, so the numbers do not depend on the
    number of devices."""
    devices = local_devices()
    group: list = []
    for start, count, chunk in batches:
        x = on_device(chunk, devices[len(group) % len(devices)])
        if structured:  # block rows straight from the cost templates (structural zeros skipped)
            values, G = rows_fn(x, p)
            group.append((start, count, (values, None, G)))
        else:
            values, K = jacobians(x, p)
            group.append((start, count, (values, K, None)))
        if len(group) == len(devices):
            yield from group
            group = []
    yield from group


def _batches(points: np.ndarray, size: int):
    """Fixed-size batches; the last one is padded with copies of the first point."""
    n = points.shape[0]
    for start in range(0, n, size):
        chunk = points[start : start + size]
        if chunk.shape[0] < size:
            chunk = np.concatenate([chunk, np.repeat(points[:1], size - chunk.shape[0], axis=0)])
        yield start, min(size, n - start), chunk


def exact_constants(game: Game, J: np.ndarray) -> Constants:
    """mu, L, gamma of an affine game from its constant Jacobian J, each *proved* from J's
    exact rational entries (provenance ``exact``, :mod:`sgncert.theory.proved`): the float
    eigenvalues are only the ladder's starting points. A game of dimension above
    PROOF_MAX_DIM keeps the float values, labelled ``sampled`` (estimates)."""
    mu, L, gamma = float_constants(game, J)
    provenance = "sampled"
    if np.shape(J)[0] <= proved.PROOF_MAX_DIM:
        J = np.asarray(J, dtype=np.float64)
        sizes = game.metric_block_sizes
        Jq = proved.rational_jacobian(J)
        n = game.n_players
        mu = np.array([proved.prove(proved.own_curvature(J, Jq, sizes, i), mu[i]) for i in range(n)])
        L = np.array(
            [
                [0.0 if i == j else _proved_coupling(J, Jq, sizes, i, j, float(L[i, j])) for j in range(n)]
                for i in range(n)
            ]
        )
        gamma = proved.prove(proved.euclidean_margin(J, Jq), gamma)
        provenance = "exact"
    return Constants(
        mu=mu,
        L=L,
        gamma=gamma,
        provenance=provenance,
        samples=1,
        worst={"mu": [0] * game.n_players, "gamma": 0},
    )


def float_constants(game: Game, J: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """mu, L, gamma of the constant Jacobian J in floating point (estimates)."""
    idx, mask = block_layout(game.metric_block_sizes)
    mu, L, gamma = block_statistics(np.asarray(J)[None], idx, mask)
    return mu[0], L[0], float(gamma[0])


def _proved_coupling(J: np.ndarray, Jq, sizes, i: int, j: int, estimate: float) -> float:
    claim = proved.coupling(J, Jq, sizes, i, j)
    return 0.0 if claim is None else proved.prove(claim, estimate)  # None: an exactly zero block


@float64
def sampled_constants(
    game: Game, points: np.ndarray, progress: Callable[[int, int], None] | None = None, keep_jacobians: bool = False
) -> Constants:
    """mu, L and gamma as extrema over ``points`` (n, d) (provenance ``sampled``)."""
    st = pointwise_statistics(game, points, progress=progress, keep_jacobians=keep_jacobians)
    if not st["finite"].all():
        bad = int(np.argmin(st["finite"]))
        raise NumericalError(
            f"F or its Jacobian is not finite at sample {bad}: x = {np.array2string(points[bad], threshold=8)}"
        )
    mu, L, gamma = st["mu"], st["L"], st["gamma"]
    worst = {"mu": [int(k) for k in np.argmin(mu, axis=0)], "gamma": int(np.argmin(gamma))}
    return Constants(
        mu=mu.min(axis=0),
        L=L.max(axis=0),
        gamma=float(gamma.min()),
        provenance="sampled",
        samples=int(points.shape[0]),
        worst=worst,
        center_value=st["value0"],
        jacobians=st.get("jacobians"),
    )


def weight_scaling(game: Game, weights) -> np.ndarray:
    """s = diag(M(w))^{1/2}: sqrt(w_i) repeated over player i's block (of the metric space)."""
    return np.concatenate([np.full(n, np.sqrt(w)) for n, w in zip(game.metric_block_sizes, weights)])


@float64
def weighted_constants(
    game: Game,
    weights,
    *,
    points: np.ndarray | None = None,
    J: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> WeightedConstants:
    """beta(w) and alpha_true(w): from the constant Jacobian ``J`` (proved from its rational
    entries, as :func:`exact_constants`), or as extrema over ``points``."""
    if J is not None:
        beta, at = weighted_statistics(np.asarray(J)[None], weight_scaling(game, weights))
        if np.all(np.isfinite(beta)) and np.all(np.isfinite(at)) and np.shape(J)[0] <= proved.PROOF_MAX_DIM:
            # proved from J's rational entries, as exact_constants
            J = np.asarray(J, dtype=np.float64)
            Jq = proved.rational_jacobian(J)
            w = [float(v) for v in np.asarray(weights, dtype=np.float64).reshape(-1)]
            sizes = game.metric_block_sizes
            beta = np.array([proved.prove(proved.weighted_lipschitz(J, Jq, sizes, w), float(beta[0]))])
            at = np.array([proved.prove(proved.weighted_margin(J, Jq, sizes, w), float(at[0]))])
    else:
        if points is None:
            raise SpecError("weighted_constants needs the constant Jacobian J or sample points")
        st = pointwise_statistics(game, points, weights, progress=progress, block_stats=False)
        beta, at = st["beta"], st["alpha_true"]
    if not (np.all(np.isfinite(beta)) and np.all(np.isfinite(at))):
        raise NumericalError("the weighted Jacobian statistics are not finite")
    return WeightedConstants(beta=float(beta.max()), alpha_true=float(at.min()))


@float64
def lipschitz_constant(
    game: Game,
    weights,
    *,
    points: np.ndarray | None = None,
    J: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> float:
    """beta(w) alone (the Euclidean proof's beta(1), whose alpha_true(1) is gamma): as
    :func:`weighted_constants`, without computing alpha_true(w) at the samples."""
    if J is not None or points is None:
        return weighted_constants(game, weights, points=points, J=J, progress=progress).beta
    beta = pointwise_statistics(game, points, weights, progress=progress, block_stats=False, margin=False)["beta"]
    if not np.all(np.isfinite(beta)):
        raise NumericalError("the weighted Jacobian statistics are not finite")
    return float(beta.max())


@float64
def value_and_jacobian(game: Game, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F(x), J(x)) as numpy arrays. A game given by pseudo-gradient blocks has
    F(x) = H(p) x + c(p) and J = H(p), evaluated in NumPy (no XLA compile: a sweep point
    costs microseconds); every other game, or blocks NumPy cannot evaluate, takes one
    jit-compiled call of F and jacfwd(F)."""
    parts = game.numpy_affine_parts()
    if parts is not None:
        value, jac = parts[0] @ np.asarray(x, dtype=np.float64) + parts[1], parts[0]
    else:
        value, jac = kernels(game)[1](np.asarray(x, dtype=np.float64), game.jax_params())
        value, jac = np.asarray(value), np.asarray(jac)
    if not (np.all(np.isfinite(value)) and np.all(np.isfinite(jac))):
        raise NumericalError(f"F or its Jacobian is not finite at x = {np.array2string(np.asarray(x), threshold=8)}")
    return value, jac
