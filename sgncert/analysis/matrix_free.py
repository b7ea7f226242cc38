"""The matrix-free path: sampled constants of games whose players have many parameters
(neural networks), without ever forming a Jacobian or one of its blocks
(docs/theory.md §2, "The matrix-free path").

At each sample point x, every statistic is the extreme eigenvalue of a symmetric operator
applied through automatic differentiation only: ``J v`` is a forward-mode product (jvp of
F) and ``J^T u`` a reverse-mode one (vjp of F), so memory is O(d) per vector.

- mu_i(x) = lambda_min(sym J_ii): the operator v_i -> (J_ii v_i + J_ii^T v_i) / 2 on
  player i's block; for a game given by costs, J_ii is the (symmetric) Hessian of f_i in
  x_i and the operator is the Hessian-vector product v_i -> J_ii v_i;
- L_ij(x) = ||J_ij||_2 = sqrt(lambda_max(J_ij^T J_ij)), v_j -> J_ij^T (J_ij v_j);
- gamma(x) = lambda_min(sym J), alpha_true(x) = lambda_min(sym K) and
  beta(x) = sqrt(lambda_max(K^T K)) with K = S J S^-1, S = diag(sqrt(w_i)).

Each is found by ``steps`` Lanczos steps (three-term recurrence, local
reorthogonalisation) from ``starts`` independent random unit vectors (a fixed seed). The
Ritz value theta of each start is moved to the safe side twice:

- by its explicit residual rho = ||A y - theta y|| / ||y|| (a symmetric matrix has an
  eigenvalue within rho of theta), plus a rounding allowance;
- by the probabilistic bound of Kuczynski and Wozniakowski (:func:`kw_epsilon`): with
  probability at least 1 - ``failure``, k steps from a random start find lambda_max of a
  positive semidefinite matrix to relative error epsilon(n, k). For a norm this gives
  lambda_max <= (theta + rho) / (1 - epsilon). For a lambda_min it is applied to
  lambda_max I - A, giving lambda_min >= theta - rho - epsilon / (1 - 2 epsilon)
  (theta_max - theta_min), with theta_max - theta_min taken from the same T_k.

The most extreme value over the starts is kept, so a value is on the wrong side only if
every start failed: probability at most ``failure ** starts`` (0.001 by default). A
Krylov space that spans the operator's whole space (k >= n), or that breaks down, gives
exact Ritz values, and then no probabilistic allowance is added. The constants stay
``sampled`` estimates. The certificate records the starts, steps, failure and seed.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SpecError
from ..games.model import Game
from .kernels import cached_entry, dce_pseudo_gradient
from .threads import in_order, threads_within

MATRIX_FREE_DIM = 4096  # sampled games of larger dimension take this path automatically


@dataclass(frozen=True)
class MatrixFree:
    """Options of the matrix-free path (module docstring)."""

    starts: int = 3
    steps: int = 64
    failure: float = 0.1  # per start: the probability its estimate is outside the allowance
    seed: int = 0

    def __post_init__(self) -> None:
        if not (isinstance(self.starts, int) and 1 <= self.starts <= 64):
            raise SpecError(f"matrix-free: starts must be an integer in [1, 64], got {self.starts!r}")
        if not (isinstance(self.steps, int) and 2 <= self.steps <= 10_000):
            raise SpecError(f"matrix-free: steps must be an integer in [2, 10000], got {self.steps!r}")
        if not (isinstance(self.failure, float) and 1e-6 <= self.failure < 1.0):
            raise SpecError(f"matrix-free: failure must be a float in [1e-6, 1), got {self.failure!r}")
        if not (isinstance(self.seed, int) and 0 <= self.seed < 2**63):
            raise SpecError(f"matrix-free: seed must be an integer in [0, 2^63), got {self.seed!r}")

    @property
    def failure_probability(self) -> float:
        """The probability that a value is not on the safe side: every start failed."""
        return float(self.failure**self.starts)

    def record(self) -> dict[str, Any]:
        return {"starts": self.starts, "steps": self.steps, "failure": self.failure, "seed": self.seed}


#: the matrix-free options of the certification running in this context (None: dense or
#: large path, or automatic by dimension, see :func:`options_for`)
MATRIX_FREE: contextvars.ContextVar[MatrixFree | None] = contextvars.ContextVar("sgncert_matrix_free", default=None)


def options_for(game: Game, requested: bool | MatrixFree | None) -> MatrixFree | None:
    """The options to use: ``requested`` (True: defaults; False: never), or, when None,
    the defaults for games above MATRIX_FREE_DIM (sampled, Euclidean geometry)."""
    if requested is False or game.affine:  # affine games have exact constants
        return None
    if requested is None and game.dim <= MATRIX_FREE_DIM:
        return None
    if game.transform is not None:
        if requested is None:
            return None
        raise SpecError("matrix-free: not available in the Fisher geometry (its frames are dense per state)")
    return requested if isinstance(requested, MatrixFree) else MatrixFree()


def matrix_free_options(doc: dict[str, Any]) -> MatrixFree | None:
    """The options a certificate records in ``constants.matrix_free`` (None: not matrix-free)."""
    rec = (doc.get("constants") or {}).get("matrix_free")
    if not isinstance(rec, dict):
        return None
    if set(rec) != {"starts", "steps", "failure", "seed"}:
        raise SpecError(f"constants.matrix_free: expected the keys failure, seed, starts and steps, got {sorted(rec)}")
    try:
        return MatrixFree(starts=rec["starts"], steps=rec["steps"], failure=float(rec["failure"]), seed=rec["seed"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SpecError(f"constants.matrix_free: {exc}") from None


def _operators(game: Game) -> dict[str, Callable[..., Any]]:
    """Jitted products with J at a point, vmapped over the starts: ``jv(x, p, V)`` rows
    J v and ``jtv(x, p, U)`` rows J^T u, V, U of shape (starts, d); ``value(x, p)`` F(x)."""
    entry = cached_entry(game)
    if "matrix_free" not in entry:
        import jax

        F = dce_pseudo_gradient(game)

        def jv(x, p, V):
            return jax.vmap(lambda v: jax.jvp(lambda y: F(y, p), (x,), (v,))[1])(V)

        def jtv(x, p, U):
            _, pullback = jax.vjp(lambda y: F(y, p), x)
            return jax.vmap(lambda u: pullback(u)[0])(U)

        entry["matrix_free"] = {"jv": jax.jit(jv), "jtv": jax.jit(jtv), "value": jax.jit(F)}
    return entry["matrix_free"]


@dataclass(frozen=True)
class Extreme:
    """The safe-side value of one operator's extreme eigenvalue over the starts."""

    value: float
    theta: float  # the Ritz value the value was moved from
    rho: float  # its explicit residual (plus rounding allowance)
    allowance: float  # the Kuczynski-Wozniakowski allowance added on top (0 when exact)
    steps: int  # Lanczos steps taken (the most over the starts)


def kw_epsilon(n: int, k: int, failure: float) -> float:
    """The relative error epsilon that k Lanczos steps from a random start exceed with
    probability at most ``failure``, for a positive semidefinite matrix of order n:
    Kuczynski and Wozniakowski (1992, Theorem 4.2) bound that probability by
    1.648 sqrt(n) exp(-sqrt(epsilon) (2k - 1)). Zero when k >= n (the Krylov space is
    everything)."""
    if k >= n:
        return 0.0
    return (math.log(1.648 * math.sqrt(n) / failure) / (2 * k - 1)) ** 2


def lanczos_extreme(
    apply: Callable[[np.ndarray], np.ndarray], n: int, largest: bool, opts: MatrixFree, stream: tuple[int, ...]
) -> Extreme:
    """The safe-side extreme eigenvalue of the symmetric operator ``apply`` ((S, n) -> (S, n))
    from ``opts.starts`` random starts (module docstring). ``largest`` is for positive
    semidefinite operators (A^T A). ``stream`` names the run (point, statistic, blocks), so
    every run has its own start vectors."""
    S, m = opts.starts, min(opts.steps, n)
    rng = np.random.default_rng([opts.seed, *stream])
    V = rng.standard_normal((S, n))  # uniform on the sphere once normalised
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    Q = np.zeros((S, m + 1, n))
    Q[:, 0] = V
    a = np.zeros((S, m))
    b = np.zeros((S, m))
    steps = np.full(S, m)
    k = 0
    while k < m:
        W = np.array(apply(Q[:, k]), dtype=np.float64)
        a[:, k] = np.einsum("sn,sn->s", Q[:, k], W)
        W -= a[:, k, None] * Q[:, k] + (b[:, k - 1, None] * Q[:, k - 1] if k > 0 else 0.0)
        for j in range(max(0, k - 1), k + 1):  # local reorthogonalisation (O(n) a step)
            W -= np.einsum("sn,sn->s", Q[:, j], W)[:, None] * Q[:, j]
        b[:, k] = np.linalg.norm(W, axis=1)
        Q[:, k + 1] = W / np.where(b[:, k] > 0, b[:, k], 1.0)[:, None]
        k += 1
        broke = (b[:, k - 1] == 0) & (steps == m)  # an invariant Krylov space: its Ritz values are exact
        steps[broke] = k
        if np.all(steps <= k):
            break
    theta, lo, hi, eps_kw = np.zeros(S), np.zeros(S), np.zeros(S), np.zeros(S)
    vecs = []
    for r in range(S):
        kr = int(steps[r])
        T = np.diag(a[r, :kr]) + np.diag(b[r, : kr - 1], 1) + np.diag(b[r, : kr - 1], -1)
        w, Z = np.linalg.eigh(T)
        j = kr - 1 if largest else 0
        theta[r], lo[r], hi[r] = w[j], w[0], w[-1]
        vecs.append(Q[r, :kr].T @ Z[:, j])
        exact = kr < m or kr >= n  # broke down, or spans the space
        eps_kw[r] = 0.0 if exact else kw_epsilon(n, kr, opts.failure)
    Y = np.stack(vecs)
    R = np.asarray(apply(Y), dtype=np.float64) - theta[:, None] * Y
    ynorm = np.linalg.norm(Y, axis=1)
    scale = np.maximum(np.abs(lo), np.abs(hi))  # ||T_k|| <= ||A||
    eps = np.finfo(np.float64).eps
    # the residual (a symmetric matrix has an eigenvalue within it), with a rounding allowance
    rho = np.linalg.norm(R, axis=1) / ynorm + 16 * math.sqrt(n) * eps * scale  # 0 for a zero operator
    if largest:  # lambda_max(A^T A) <= theta / (1 - eps) unless this start failed (probability <= failure)
        safe = (theta + rho) / (1.0 - eps_kw)
        allowance = safe - (theta + rho)
    else:  # the bound applied to lambda_max I - A: lambda_min >= theta - eps / (1 - 2 eps) (theta_max - theta_min)
        allowance = np.where(eps_kw < 0.5, eps_kw / np.maximum(1.0 - 2.0 * eps_kw, 1e-300) * (hi - lo), np.inf)
        safe = theta - rho - allowance
    best = int(np.argmax(safe) if largest else np.argmin(safe))
    return Extreme(float(safe[best]), float(theta[best]), float(rho[best]), float(allowance[best]), int(steps.max()))


def from_costs(game: Game) -> bool:
    """True when F_i is the gradient of a cost f_i in x_i, so J_ii is a Hessian (symmetric)."""
    from ..games.spec import IN_MEMORY

    if game.kind == "costs":
        return True
    return game.kind == "python" and game.extras.get(IN_MEMORY, {}).get("kind") != "pseudo_gradient"


def _point_statistics(
    game: Game,
    ops: dict,
    x: np.ndarray,
    p: Any,
    weights,
    block_stats: bool,
    opts: MatrixFree,
    index: int,
    margin: bool = True,
) -> dict[str, Any]:

    sizes = game.block_sizes
    offs = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    N, d = len(sizes), game.dim
    xj = np.asarray(x, dtype=np.float64)  # numpy into jitted functions: no conversion program

    def jv(V):
        return np.asarray(ops["jv"](xj, p, V))

    def jtv(U):
        return np.asarray(ops["jtv"](xj, p, U))

    def embed(i, Vi):
        V = np.zeros((Vi.shape[0], d))
        V[:, offs[i] : offs[i + 1]] = Vi
        return V

    out: dict[str, Any] = {}
    hessian = from_costs(game)
    Op = Callable[[np.ndarray], np.ndarray]

    def own(i: int) -> Op:  # sym J_ii (a Hessian-vector product for costs)
        sl = slice(offs[i], offs[i + 1])
        if hessian:
            return lambda V: jv(embed(i, V))[:, sl]
        return lambda V: 0.5 * (jv(embed(i, V))[:, sl] + jtv(embed(i, V))[:, sl])

    def coupling(i: int, j: int) -> Op:  # J_ij^T J_ij
        si, sj = slice(offs[i], offs[i + 1]), slice(offs[j], offs[j + 1])
        return lambda V: jtv(embed(i, jv(embed(j, V))[:, si]))[:, sj]

    if block_stats:
        mu = np.zeros(N)
        L = np.zeros((N, N))
        for i in range(N):
            mu[i] = lanczos_extreme(own(i), sizes[i], False, opts, (index, 0, i)).value
            for j in range(N):
                if i != j:
                    sq = lanczos_extreme(coupling(i, j), sizes[j], True, opts, (index, 1, i, j))
                    L[i, j] = math.sqrt(max(sq.value, 0.0))
        out["mu"], out["L"] = mu, L
        out["gamma"] = lanczos_extreme(lambda V: 0.5 * (jv(V) + jtv(V)), d, False, opts, (index, 2)).value
    if weights is not None:
        s = np.concatenate([np.full(n, math.sqrt(w)) for n, w in zip(sizes, np.asarray(weights, dtype=np.float64))])

        def kv(V: np.ndarray) -> np.ndarray:  # K v = S J S^-1 v
            return s * jv(V / s)

        def ktv(U: np.ndarray) -> np.ndarray:  # K^T u = S^-1 J^T S u
            return jtv(U * s) / s

        if margin:
            out["alpha_true"] = lanczos_extreme(lambda V: 0.5 * (kv(V) + ktv(V)), d, False, opts, (index, 3)).value
        sq = lanczos_extreme(lambda V: ktv(kv(V)), d, True, opts, (index, 4))
        out["beta"] = math.sqrt(max(sq.value, 0.0))
    return out


def matrix_free_statistics(
    game: Game,
    points: np.ndarray,
    opts: MatrixFree,
    weights=None,
    progress: Callable[[int, int], None] | None = None,
    block_stats: bool = True,
    margin: bool = True,
) -> dict[str, Any]:
    """Per-point statistics as :func:`sgncert.analysis.constants.pointwise_statistics`
    returns them (``mu``, ``L``, ``gamma``, ``finite``, ``value0``; with ``weights``,
    ``beta`` and, with ``margin``, ``alpha_true``), by the matrix-free path."""
    ops = _operators(game)
    p = game.jax_params()
    n = points.shape[0]
    rows: list[dict[str, Any]] = []
    finite = np.ones(n, dtype=bool)
    value0 = np.asarray(ops["value"](np.asarray(points[0], dtype=np.float64), p))  # F at the centre

    def at_point(k: int) -> tuple[dict[str, Any], bool]:
        defined = bool(np.all(np.isfinite(np.asarray(ops["value"](np.asarray(points[k], dtype=np.float64), p)))))
        return _point_statistics(game, ops, points[k], p, weights, block_stats, opts, k, margin), defined

    for k, (st, defined) in in_order(at_point, range(n), point_threads(sum(game.metric_block_sizes), opts)):
        finite[k] = defined and all(np.all(np.isfinite(v)) for v in st.values())
        rows.append(st)
        if progress:
            progress(k + 1, n)
    out: dict[str, Any] = {key: np.stack([r[key] for r in rows]) for key in rows[0]}
    if block_stats:
        out["finite"] = finite
    out["value0"] = value0
    return out


def point_threads(dim: int, opts: MatrixFree) -> int:
    """Threads that work on points at once (:mod:`sgncert.analysis.threads`): one per CPU,
    as many as their Lanczos bases (``starts`` x (``steps`` + 1) vectors of ``dim``, twice
    over for the work arrays) fit in 1/MEMORY_SHARE of the available memory."""
    from .constants import MEMORY_SHARE, available_memory

    avail = available_memory()
    return threads_within(
        None if avail is None else avail // MEMORY_SHARE, 2 * 8 * opts.starts * (min(opts.steps, dim) + 1) * dim
    )
