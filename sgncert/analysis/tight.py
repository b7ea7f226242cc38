"""Tight certificates: the largest step (and rate) proved in a searched metric (docs/theory.md §9).

The SGN step ``alpha / beta^2`` is safe but loose. Here the metric itself is
searched, and every answer is re-checked in exact rational arithmetic before it is
reported.

Maths
-----
Affine game ``F(x) = H x + c`` (constant Jacobian H, d x d, players' blocks of sizes
``d_1..d_N``). One step of

    Euler:  T(h) = I - h H,
    RK4:    T(h) = P(-h H),   P(z) = 1 + z + z^2/2 + z^3/6 + z^4/24,

maps differences ``x - y`` to ``T(h)(x - y)``. T(h) contracts in the metric
``||v||_M^2 = v^T M v`` with factor rho iff

    T^T M T <= rho^2 M        <=>   ||M^{1/2} T M^{-1/2}||_2 <= rho.            (1)

Metric families (``M = blockdiag(M_1..M_N)``):

* ``scalar``: ``M_i = w_i I`` (w_1 = 1). Projection-safe: the M-projection onto a product
  set is the per-player Euclidean projection, so projected steps keep the factor.
* ``block``: ``M_i`` any symmetric positive-definite matrix (normalised to
  ``lambda_min(M) = 1``). Only for unconstrained games: a projection need not be
  non-expansive in such a metric.

For fixed h the set of M satisfying (1) with rho < 1 is a convex cone described by an
LMI in M. The tight step of a family is ``sup {h : (1) holds with rho < 1 for some M in
the family}``; it never exceeds the spectral limit ``h_true = sup {h : spectral radius of
T(s) < 1 for all s in (0, h)}`` (the *true* limit; for a full metric, N = 1, it is equal to
it by Lyapunov's theorem).

Flow ``x' = -F(x)``: ``||x(t) - y(t)||_M <= exp(-alpha t) ||x(0) - y(0)||_M`` iff

    M H + H^T M >= 2 alpha M,                                                     (2)

and every M satisfies ``alpha <= min Re lambda(H)`` (the *true* rate of the linear flow).

How a number is proved
----------------------
A *search* proposes a metric; the search is never trusted. Two searches exist:

* ``lmi``: cvxpy + Clarabel. For fixed h (parameters ``t^p``, ``t = h ||H||_2``, so the
  problem is built once per game/method/family and re-solved):
  ``maximise s  s.t.  M - T^T M T >= s I,  M_i >= s I (block) or w_i >= s (scalar),
  trace M = d``. The trace fixes the scale of the cone; ``s > 0`` iff a contracting
  metric of the family exists (strictly). Solver errors, any status other than
  ``optimal`` and ``s <= 0`` mean "not certified at this h". Clarabel's cost grows fast
  with the cone size (one 64 x 64 cone: ~1 s per interior-point iteration, measured),
  so ``auto`` uses it for ``d <= LMI_MAX_DIM`` only.
* ``descent``: minimise ``||L^T T L^{-T}||_2`` over ``M = L L^T``, L block-diagonal and
  lower triangular (``scalar``: ``L = diag(sqrt(w_i))``), by BFGS with the exact
  (sub)gradient of the top singular value (a nonsmooth but well-known-to-work local
  method, Lewis & Overton). Used for larger d.

Every candidate (h, M) is accepted only after the *exact re-check*: with the float M
(exactly symmetric) and a float factor ``rho_c`` slightly above the measured
``||M^{1/2} T M^{-1/2}||_2`` (``rho_c = observed (1 + 1e-9)`` rounded up, required
``< 1``), the matrices ``M`` and ``rho_c^2 M - T^T M T`` are shown positive definite in
exact rational arithmetic (python-flint ``fmpq_mat``), where ``T`` is computed exactly
from the float H and the float h (every float is a dyadic rational). Positive
definiteness of a rational S is decided by congruence: with X the float inverse of a
float Cholesky factor of S (made exactly lower triangular, so exactly invertible when its
diagonal is non-zero), ``B = X S X^T`` is computed exactly and shown strictly diagonally
dominant with positive diagonal (Gershgorin); if that test is inconclusive (S very
ill-conditioned), an exact rational LDL^T decides (d <= 32), otherwise the answer is
"not certified". A ``True`` is therefore a proof about the float data.

The step is found by bisection on h between the largest *certified* h and the smallest
h where the search failed (the certified set need not be an interval; only certified
values are ever reported, never interpolated ones). Each certified metric also lifts the
lower end to its own threshold (the end of the interval on which ``||T(h)||_M < 1``),
re-checked exactly. The start is the Perron-weight scalar metric of SGN.

Sampled (non-affine) games: :func:`tight_step_sampled` finds one metric for the
Jacobians at all given samples. By the mean-value theorem, ``x+ - y+ = T(h; J_bar)(x - y)``
with ``J_bar = int_0^1 J(y + s(x - y)) ds`` for Euler, and a metric satisfying (1) for every
matrix in the convex hull of ``{J(x) : x in R}`` (for Euler (1) is convex in J, so the hull
is covered by its extreme points) certifies the nonlinear map on R. A finite sample only
*estimates* that hull: the result is labelled ``provenance = "sampled"`` and is not a
bound. ``sgncert verify`` re-checks it in floating point on the certificate's own samples;
:func:`~sgncert.theory.contraction.sampled_factor` evaluates the metric on any other
points. For RK4 on a nonlinear game the stages see different Jacobians, so the sampled RK4
number is an estimate twice over (frozen-Jacobian linearisation).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import SpecError
from ..theory.contraction import (
    blockdiag,
    check_contraction,
    check_method,
    check_rate,
    contraction_factor,
    limit_from_eigs,
    metric_rate,
    metric_step_threshold,
    round_up,
    sampled_factor,
    spectral_step_limit,
    split_blocks,
    step_matrix,
)
from ..theory.smallgain import perron_weights
from .metric_search import (
    DESCENT_MARGIN,
    MetricParam,
    RateLMI,
    StepLMI,
    descent,
    normalise,
    rate_and_grad,
    sigma_and_grad,
)

__all__ = ["TightResult", "TightRate", "TightSteps", "tight_step", "tight_rate", "tight_step_sampled", "LMI_MAX_DIM"]

LMI_MAX_DIM = 32  # search="auto": cvxpy + Clarabel LMI up to this dimension
FACTOR_SLACK = 1e-9  # rho_c = observed * (1 + FACTOR_SLACK), rounded up
RATE_SLACK = 1e-9  # alpha_c = observed - RATE_SLACK * max(1, |observed|)
LIFT_SLACK = 1e-7  # candidate h = (1 - LIFT_SLACK) * threshold of a metric
FAMILIES = ("scalar", "block")


# =============================================================================== results
@dataclass(frozen=True)
class TightResult:
    """Largest certified step of one method in one metric family.

    ``h``: largest step proved (``0.0`` when none); ``factor``: proved contraction factor
    ``||T(h)||_M <= factor < 1`` (``1.0`` when none); ``metric``: the blocks ``M_i``
    (numpy arrays, ``lambda_min``-normalised for ``block``, ``w_i I`` for ``scalar``);
    ``weights``: ``w`` with ``w_1 = 1`` (scalar family only, else None); ``true_limit``:
    spectral limit (affine) or its minimum over the samples (sampled);
    ``ratio = h / true_limit``; ``checks``: exact re-checks run (each over all samples
    for sampled games); ``solves``: metric searches run (LMI solves or descents);
    ``provenance``: ``"exact"`` (affine) or ``"sampled"``; ``search``: ``"lmi"`` or
    ``"descent"``; ``seconds``: wall time.
    """

    h: float
    factor: float
    metric: tuple
    weights: np.ndarray | None
    family: str
    method: str
    true_limit: float
    ratio: float
    checks: int
    solves: int
    provenance: str
    search: str
    seconds: float
    notes: tuple = ()

    @property
    def certified(self) -> bool:
        return self.h > 0.0

    def matrix(self) -> np.ndarray:
        """M = blockdiag(metric) as a dense d x d array."""
        return blockdiag(self.metric)


@dataclass(frozen=True)
class TightRate:
    """Largest certified flow rate: ``M H + H^T M >= 2 alpha M`` proved exactly.

    ``alpha``: certified rate (``-inf`` none found); ``true_bound = min Re lambda(H)``;
    ``ratio = alpha / true_bound``; other fields as in :class:`TightResult`.
    """

    alpha: float
    metric: tuple
    weights: np.ndarray | None
    family: str
    true_bound: float
    ratio: float
    checks: int
    solves: int
    provenance: str
    search: str
    seconds: float

    def matrix(self) -> np.ndarray:
        return blockdiag(self.metric)


@dataclass(frozen=True)
class TightSteps:
    """The tight Euler and RK4 steps of one metric family, and (affine games) the flow rate."""

    family: str
    euler: TightResult
    rk4: TightResult | None  # None: a constrained game (RK4 is unconstrained only)
    rate: TightRate | None

    def step(self, method: str) -> TightResult | None:
        """The result for ``method`` (``"euler"`` or ``"rk4"``)."""
        return self.euler if method == "euler" else self.rk4


EXACT_BAND = 1e-6  # sampled maps with float factor below fc (1 - EXACT_BAND) skip the exact check


# ====================================================================== metric helpers
def _check_blocks(block_sizes, d: int) -> tuple[int, ...]:
    bs = tuple(int(b) for b in block_sizes)
    if any(b <= 0 for b in bs) or sum(bs) != d:
        raise SpecError(f"block sizes {bs} do not add up to the dimension {d}")
    return bs


def _block_data(H: np.ndarray, block_sizes):
    """mu_i = lambda_min(sym H_ii), L_ij = ||H_ij||_2 of an affine game, for the search's
    start only (block by block with an SVD norm; :func:`sgncert.analysis.statistics.block_statistics`
    gives the certified values, equal to rounding, and is not used here because the search
    path, and so the certified step's last bits, depend on the start's exact bits)."""
    N = len(block_sizes)
    off = np.concatenate([[0], np.cumsum(block_sizes)])
    mu = np.zeros(N)
    L = np.zeros((N, N))
    for i in range(N):
        Hi = H[off[i] : off[i + 1], off[i] : off[i + 1]]
        mu[i] = np.linalg.eigvalsh(0.5 * (Hi + Hi.T))[0]
        for j in range(N):
            if i != j:
                L[i, j] = np.linalg.norm(H[off[i] : off[i + 1], off[j] : off[j + 1]], 2)
    return mu, L


def _heuristic_weights(H: np.ndarray, block_sizes) -> np.ndarray:
    """Perron (margin-optimal SGN) weights when they exist, else ones."""
    N = len(block_sizes)
    if N == 1:
        return np.ones(1)
    mu, L = _block_data(H, block_sizes)
    if np.all(mu > 0):
        w = np.asarray(perron_weights(mu, L).weights, dtype=float)
        if np.all(np.isfinite(w)) and np.all(w > 0):
            return w / w[0]
    return np.ones(N)


# ================================================================================ steps
def _choose_search(search: str, d: int) -> str:
    if search == "auto":
        return "lmi" if d <= LMI_MAX_DIM else "descent"
    if search not in ("lmi", "descent"):
        raise SpecError(f"unknown search {search!r} (auto, lmi, descent)")
    return search


class _StepSearch:
    """Shared machinery of tight_step / tight_step_sampled: candidate checks + bisection."""

    def __init__(self, Hs, block_sizes, family, method, search, rho, exact_all):
        self.Hs = [np.asarray(H, dtype=np.float64) for H in Hs]
        self.bs = block_sizes
        self.family = family
        self.method = method
        self.search = search
        self.rho = 1.0 if rho is None else float(rho)
        self.exact_all = exact_all
        self.par = MetricParam(block_sizes, family)
        self.lmi = None
        self.checks = 0
        self.solves = 0
        self.best = None  # (h, factor, M, weights)
        self.notes: list[str] = []

    # -- a candidate (h, M): float screen, then exact re-check over all matrices
    def try_metric(self, h: float, M: np.ndarray) -> bool:
        if not (h > 0 and math.isfinite(h)):
            return False
        M, w = normalise(M, self.bs, self.family)
        if self.family == "scalar" and w is None:
            return False
        Ts = [step_matrix(H, h, self.method) for H in self.Hs]
        per = [contraction_factor(T, M) for T in Ts]
        obs = max(per)
        if not math.isfinite(obs):
            return False
        fc = round_up(obs * (1.0 + FACTOR_SLACK))
        if not (fc < 1.0 and fc <= self.rho):
            return False
        self.checks += 1
        # Exact re-check of every map whose float factor comes within EXACT_BAND of fc (always
        # the single map of an affine game); with many sampled maps, those far below fc are
        # accepted on their float factor, whose rounding error (~1e-13) is far below the gap.
        tight_ones = [H for H, f in zip(self.Hs, per) if len(self.Hs) == 1 or f > fc * (1.0 - EXACT_BAND)]
        if not all(check_contraction(H, h, M, fc, self.method) for H in tight_ones):
            return False
        if self.best is None or h > self.best[0]:
            self.best = (float(h), float(fc), M, w)
        return True

    def lift(self, M: np.ndarray, h_floor: float) -> bool:
        """Try the metric's own threshold (affine: one H) above h_floor."""
        if len(self.Hs) != 1:
            return False
        Mn, _ = normalise(M, self.bs, self.family)
        hs = metric_step_threshold(self.Hs[0], Mn, self.method) * (1.0 - LIFT_SLACK)
        if hs > h_floor * (1.0 + 1e-12):
            return self.try_metric(hs, Mn)
        return False

    def find(self, h: float, warm: np.ndarray | None) -> list[np.ndarray]:
        """Metrics proposed for step h (LMI or descent), best first."""
        self.solves += 1
        if self.search == "lmi":
            if self.lmi is None:
                self.lmi = StepLMI(self.Hs, self.bs, self.family, self.method)
            M = self.lmi.find(h)
            return [] if M is None else [M]
        Ts = [step_matrix(H, h, self.method) for H in self.Hs]
        theta0 = self.par.theta(warm) if warm is not None else np.zeros(self.par.size)
        theta, val = descent(
            self.par, lambda L: sigma_and_grad(L, Ts), theta0, target=min(self.rho, 1.0 - DESCENT_MARGIN)
        )
        return [self.par.M(theta)] if math.isfinite(val) else []

    def attempt(self, h: float) -> bool:
        warm = None if self.best is None else self.best[2]
        if warm is not None and self.try_metric(h, warm):
            self.lift(warm, h)
            return True
        for M in self.find(h, warm):
            if self.try_metric(h, M):
                self.lift(M, h)
                return True
        return False

    def bisect(self, h_lo: float, h_hi: float, rel_tol: float, max_steps: int = 60) -> None:
        """Bisection between the largest certified h and the smallest failed h."""
        lo = self.best[0] if self.best is not None else h_lo
        hi = h_hi
        # first probe: just below the upper end (tight families finish here)
        if self.best is None or self.best[0] < hi * (1.0 - rel_tol):
            probe = hi * (1.0 - 0.5 * rel_tol)
            if not self.attempt(probe):
                hi = probe
        for _ in range(max_steps):
            lo = self.best[0] if self.best is not None else lo
            if hi - lo <= rel_tol * hi:
                break
            mid = 0.5 * (lo + hi)
            if not self.attempt(mid):
                hi = mid

    def result(self, true_limit: float, provenance: str, t0: float) -> TightResult:
        if self.best is None:
            d = sum(self.bs)
            M = np.eye(d)
            return TightResult(
                0.0,
                1.0,
                split_blocks(M, self.bs),
                None,
                self.family,
                self.method,
                float(true_limit),
                0.0,
                self.checks,
                self.solves,
                provenance,
                self.search,
                time.perf_counter() - t0,
                tuple(self.notes),
            )
        h, fc, M, w = self.best
        ratio = h / true_limit if true_limit > 0 and math.isfinite(true_limit) else math.nan
        return TightResult(
            h,
            fc,
            split_blocks(M, self.bs),
            w,
            self.family,
            self.method,
            float(true_limit),
            float(ratio),
            self.checks,
            self.solves,
            provenance,
            self.search,
            time.perf_counter() - t0,
            tuple(self.notes),
        )


def _validate(method: str, family: str) -> None:
    check_method(method)
    if family not in FAMILIES:
        raise SpecError(f"unknown metric family {family!r} (expected one of {FAMILIES})")


def tight_step(
    H: np.ndarray,
    block_sizes: Sequence[int],
    *,
    method: str = "euler",
    family: str = "scalar",
    rho: float | None = None,
    rel_tol: float = 1e-4,
    search: str = "auto",
) -> TightResult:
    """Largest h such that T(h) provably contracts in some metric of ``family``.

    ``H``: the constant Jacobian of an affine game (d x d); ``block_sizes``: the players'
    dimensions. ``method``: ``"euler"`` (T = I - hH) or ``"rk4"`` (T = P(-hH)).
    ``family``: ``"scalar"`` (M_i = w_i I, projection-safe) or ``"block"`` (M_i any SPD
    block; unconstrained games only). ``rho``: require the proved factor <= rho (default:
    any factor < 1). ``rel_tol``: bisection stops when (h_fail - h_cert) <= rel_tol h_fail.
    ``search``: ``"auto"`` (LMI with cvxpy + Clarabel for d <= LMI_MAX_DIM, else descent),
    ``"lmi"`` or ``"descent"``.

    Returns a :class:`TightResult` with ``provenance = "exact"``: ``||T(h)||_M <= factor``
    was proved in exact rational arithmetic for the float H, h and M returned
    (:func:`check_contraction`); ``h <= true_limit`` always holds (no metric can do better
    than the spectral limit), and ``h = 0`` means nothing was certified.

    Start: the Perron (SGN margin-optimal) scalar weights and their own contraction
    threshold; block family: the scalar family's best metric is tried first (it is a
    member). Then bisection (module docstring).
    """
    t0 = time.perf_counter()
    _validate(method, family)
    H = np.asarray(H, dtype=np.float64)
    if H.ndim != 2 or H.shape[0] != H.shape[1] or not np.all(np.isfinite(H)):
        raise SpecError("H must be a finite square matrix")
    bs = _check_blocks(block_sizes, H.shape[0])
    true_limit = spectral_step_limit(H, method)
    srch = _choose_search(search, H.shape[0])
    st = _StepSearch([H], bs, family, method, srch, rho, True)
    if true_limit <= 0:
        st.notes.append("H is not Hurwitz-stable: no step contracts in any metric")
        return st.result(true_limit, "exact", t0)
    # heuristic start: Perron weights, their threshold, then (block) the scalar optimum
    w0 = _heuristic_weights(H, bs)
    M0 = np.diag(np.repeat(w0, bs))
    if not st.lift(M0, 0.0):
        hs = metric_step_threshold(H, M0, method)
        for frac in (0.5, 0.25, 0.1, 0.01):
            if hs > 0 and st.try_metric(hs * frac, M0):
                break
    if family == "block" and len(bs) > 1:
        sc = tight_step(H, bs, method=method, family="scalar", rho=rho, rel_tol=rel_tol, search=search)
        st.checks += sc.checks
        st.solves += sc.solves
        if sc.certified:
            st.try_metric(sc.h, sc.matrix())
    if rho is not None and st.best is None:
        st.notes.append(f"no start certified with factor <= {rho}")
        return st.result(true_limit, "exact", t0)
    st.bisect(0.0, true_limit, rel_tol)
    return st.result(true_limit, "exact", t0)


def tight_step_sampled(
    jacobians,
    block_sizes: Sequence[int],
    *,
    method: str = "euler",
    family: str = "scalar",
    rel_tol: float = 1e-3,
    search: str = "auto",
    initial: int = 8,
    max_rounds: int = 20,
    seed: int = 0,
) -> TightResult:
    """One metric contracting T(h; J_k) for every sampled Jacobian J_k (an estimate).

    ``jacobians``: array (K, d, d) of J(x_k) at sample points of R (include the centre).
    Returns a :class:`TightResult` with ``provenance = "sampled"``: ``||T(h; J_k)||_M <=
    factor < 1`` holds *for every given sample* (proved exactly for the samples whose float
    factor lies within EXACT_BAND of the bound, by a float margin far above rounding for
    the rest), but the samples only
    estimate the convex hull of {J(x) : x in R} that the mean-value argument needs (see
    the module docstring), so this is not a bound for the game (fresh samples can be
    checked with :func:`~sgncert.theory.contraction.sampled_factor`). ``true_limit`` is the smallest spectral limit over
    the samples (no common metric can exceed it).

    Cutting planes: the metric search (LMI with one cone per active sample, or descent on
    the worst sample) starts from ``initial`` samples (the one with the largest
    ||J||, the first one (by convention the centre) and random ones), checks all samples
    in floating point, adds the worst violators (up to 8 per round) and repeats
    (``max_rounds``); only then does the exact re-check run over all samples.
    """
    t0 = time.perf_counter()
    _validate(method, family)
    J = np.asarray(jacobians, dtype=np.float64)
    if J.ndim == 2:
        J = J[None]
    if J.ndim != 3 or J.shape[1] != J.shape[2] or not np.all(np.isfinite(J)):
        raise SpecError("jacobians must be a finite (K, d, d) array")
    K, d, _ = J.shape
    bs = _check_blocks(block_sizes, d)
    lam = np.linalg.eigvals(J)
    true_limit = limit_from_eigs(lam, method)
    srch = _choose_search(search, d)
    rng = np.random.default_rng(seed)
    norms = np.linalg.norm(J, 2, axis=(1, 2))
    active = sorted(
        {0, int(np.argmax(norms))} | set(rng.choice(K, size=min(K, max(0, initial - 2)), replace=False).tolist())
    )

    class _Sampled(_StepSearch):
        def find(self, h, warm):
            nonlocal active
            cands: list[np.ndarray] = []
            for _ in range(max_rounds):
                self.solves += 1
                sub = [self.Hs[k] for k in active]
                if srch == "lmi":
                    try:
                        M = StepLMI(sub, bs, family, method, h=h).find(h)
                    except Exception:  # cvxpy construction trouble: not certified here
                        M = None
                else:
                    Ts = [step_matrix(Hk, h, method) for Hk in sub]
                    th0 = self.par.theta(warm) if warm is not None else np.zeros(self.par.size)
                    th, val = descent(self.par, lambda L: sigma_and_grad(L, Ts), th0, target=1.0 - DESCENT_MARGIN)
                    M = self.par.M(th) if math.isfinite(val) else None
                if M is None:
                    return cands
                Mn, _ = normalise(M, bs, family)
                f = sampled_factor(self.Hs, h, Mn, method, per_sample=True)
                bad = [int(k) for k in np.argsort(-f) if f[k] >= 1.0 and int(k) not in active][:8]
                if not bad:
                    return [Mn]
                active = sorted(set(active) | set(bad))
                warm = Mn
            return cands

    st = _Sampled([J[k] for k in range(K)], bs, family, method, srch, None, True)
    if true_limit <= 0:
        st.notes.append("a sampled Jacobian is not Hurwitz-stable")
        return st.result(true_limit, "sampled", t0)
    w0 = _heuristic_weights(J[0], bs)
    M0 = np.diag(np.repeat(w0, bs))
    h_start = min(metric_step_threshold(Jk, M0, method) for Jk in J[active])
    for frac in (1.0 - LIFT_SLACK, 0.9, 0.5, 0.25, 0.1, 0.01):
        if h_start > 0 and st.try_metric(h_start * frac, M0):
            break
    st.bisect(0.0, true_limit, rel_tol)
    st.notes.append(f"{len(active)} of {K} samples active in the metric search")
    return st.result(true_limit, "sampled", t0)


# ================================================================================= rate
def tight_rate(
    H: np.ndarray, block_sizes: Sequence[int], *, family: str = "scalar", rel_tol: float = 1e-6, search: str = "auto"
) -> TightRate:
    """Largest alpha with ``M H + H^T M >= 2 alpha M`` proved exactly for M in ``family``.

    Flow ``x' = -(Hx + c)``: ``||x(t) - y(t)||_M <= exp(-alpha t) ||x(0) - y(0)||_M``.
    For fixed M the best alpha is ``lambda_min(sym(M^{1/2} H M^{-1/2}))`` (a generalised
    eigenvalue problem); over M it is quasi-concave. ``lmi``: bisection on alpha with the
    LMI ``max s: M H + H^T M - 2 alpha M >= s I, metric >= s, trace M = d`` (each feasible
    metric lifts the lower end to its own rate); ``descent``: BFGS on
    ``-lambda_min(sym(L^T H L^{-T}))``. The reported alpha = measured rate of the best
    metric minus ``RATE_SLACK max(1, |rate|)``, proved by :func:`check_rate`.
    ``true_bound = min Re lambda(H)`` bounds every metric's rate.
    """
    t0 = time.perf_counter()
    _validate("euler", family)
    H = np.asarray(H, dtype=np.float64)
    bs = _check_blocks(block_sizes, H.shape[0])
    srch = _choose_search(search, H.shape[0])
    true_bound = float(np.min(np.linalg.eigvals(H).real))
    par = MetricParam(bs, family)
    checks = solves = 0
    best: list = [-math.inf, None, None]

    def consider(M: np.ndarray) -> None:
        nonlocal checks
        Mn, w = normalise(M, bs, family)
        if family == "scalar" and w is None:
            return
        a = metric_rate(H, Mn)
        if not (math.isfinite(a) and a > best[0]):
            return
        for k in range(6):
            ac = a - RATE_SLACK * max(1.0, abs(a)) * (10.0**k)
            if ac <= best[0]:
                return
            checks += 1
            if check_rate(H, Mn, ac):
                best[:] = [float(ac), Mn, w]
                return

    w0 = _heuristic_weights(H, bs)
    consider(np.diag(np.repeat(w0, bs)))
    if family == "block" and len(bs) > 1:
        sc = tight_rate(H, bs, family="scalar", rel_tol=rel_tol, search=search)
        checks += sc.checks
        solves += sc.solves
        if sc.weights is not None:
            consider(sc.matrix())
    if srch == "lmi":
        lmi = RateLMI(H, bs, family)
        hi = true_bound
        lo = best[0]
        if not math.isfinite(lo):
            lo = min(float(np.linalg.eigvalsh(0.5 * (H + H.T))[0]), true_bound) - 1.0
        scale = max(1.0, abs(true_bound))
        for _ in range(80):
            lo = max(lo, best[0])
            if hi - lo <= rel_tol * scale:
                break
            mid = 0.5 * (lo + hi) if best[0] > -math.inf or lo > -math.inf else hi
            solves += 1
            M = lmi.find(mid)
            if M is None:
                hi = mid
                continue
            before = best[0]
            consider(M)
            if best[0] < mid and best[0] == before:
                hi = mid  # the metric did not prove mid: treat as failed
    else:
        warm = best[1] if best[1] is not None else np.eye(H.shape[0])
        solves += 1
        theta, _ = descent(par, lambda L: _neg(rate_and_grad(L, H)), par.theta(warm))
        consider(par.M(theta))
    M = best[1] if best[1] is not None else np.eye(H.shape[0])
    ratio = best[0] / true_bound if (true_bound > 0 and math.isfinite(best[0])) else math.nan
    return TightRate(
        float(best[0]),
        split_blocks(M, bs),
        best[2],
        family,
        true_bound,
        float(ratio),
        checks,
        solves,
        "exact",
        srch,
        time.perf_counter() - t0,
    )


def _neg(vg):
    v, g = vg
    return -v, -g
