"""Timescale bands of any number of players (docs/theory.md §5).

Two players: the closed form :func:`sgncert.theory.band.band_two_player`. More players:
two small semidefinite programs per pair (cvxpy + Clarabel), whose answers are never
trusted: every reported end is the ratio of a witness proved inside the band exactly
(:func:`sgncert.theory.band.pulled_endpoint`), an inner approximation of the true band.
cvxpy is imported when a band of more than two players is first computed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import NumericalError, SpecError
from ..theory.band import band_two_player, in_closure, pulled_endpoint, ratio_inwards, strictly_inside
from ..theory.smallgain import as_game, as_weights, perron_weights

__all__ = ["band_pairs", "interacting_pairs"]

# solver components below this (relative to the normalised w_i = 1) are treated as 0
_ZERO_TOL = 1e-7
# the band SDPs bound the weights (w_i = 1) by this, which keeps them well conditioned; an
# end at the cap is tried as unbounded (a proved recession direction), else reported as unsettled
CAP = 1e6


def _solve(prob, what: str, accept: tuple[str, ...] = ("optimal", "infeasible", "unbounded")) -> str:
    """Solve with Clarabel; the status if it is one of ``accept``, else NumericalError."""
    import cvxpy as cp

    try:
        with warnings.catch_warnings():  # "Solution may be inaccurate": the status says so
            warnings.simplefilter("ignore", UserWarning)
            prob.solve(solver=cp.CLARABEL)
    except cp.error.SolverError as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NumericalError(f"band SDP ({what}) failed: {msg}") from exc
    st = prob.status
    if st not in accept:
        raise NumericalError(f"band SDP ({what}) ended with solver status '{st}'")
    return st


def _find_interior(mu, L, m, Lm, alpha, E, n) -> np.ndarray | None:
    """A strictly feasible w (``C(w, alpha) > 0`` proved exactly), or None if the cone
    is empty. Tries the Perron weights (when A is irreducible: for a reducible A they are
    only approximately optimal, and an endpoint pulled towards them moves inwards), then
    ``max s : C(w) >> s I, sum w = N``."""
    import cvxpy as cp

    perron = perron_weights(m, Lm)  # margin-optimal weights: interior when they attain tau(A)
    if perron.attained and strictly_inside(mu, L, perron.weights, alpha):
        return perron.weights
    w = cp.Variable(n)
    s = cp.Variable()
    C = sum(w[k] * E[k] for k in range(n))
    prob = cp.Problem(cp.Maximize(s), [w >= 0, cp.sum(w) == n, s <= 1, C - s * np.eye(n) >> 0])
    st = _solve(prob, "interior point")
    if st != "optimal":
        if st == "infeasible":  # cannot happen for this problem (w = 1, s = -big)
            return None
        raise NumericalError(f"band SDP (interior point) ended with status '{st}'")
    sval = float(s.value)  # type: ignore[arg-type]  # set by an optimal solve
    wv = np.asarray(w.value, dtype=float)
    if sval <= 0:
        return None
    wv = np.maximum(wv, 0.0)
    if strictly_inside(mu, L, wv, alpha):
        return wv / wv[0]
    if sval <= 1e-9:
        return None
    raise NumericalError(f"band: the solver's interior weights (margin {sval:.3g}) failed the exact PD check")


def _clean(d: np.ndarray) -> np.ndarray:
    d = np.maximum(np.asarray(d, dtype=float), 0.0)
    scale = float(np.max(d)) if d.size else 0.0
    return np.where(d <= _ZERO_TOL * max(scale, 1.0), 0.0, d)


def band_pairs(
    mu: Sequence[float],
    L: Sequence[Sequence[float]],
    alpha: float = 0.0,
    *,
    interior_weights: Sequence[float] | None = None,
    pairs: Sequence[tuple[int, int]] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict]:
    """Band of ``w_j / w_i`` for pairs ``i < j`` over ``K = {w > 0 : C(w, alpha) > 0}``.

    Returns a list of ``{"i", "j", "low", "high", "settled"}`` dicts (``high`` may be
    ``math.inf``, ``low`` may be ``0.0``), or ``[]`` when K is empty (the caller decides
    what that means).

    N = 2: the closed form of :func:`band_two_player` (``settled`` is True).

    N > 2: two SDPs per pair (cvxpy + Clarabel), ``min / max w_j`` over ``{0 <= w <= CAP,
    w_i = 1, C(w, alpha) >> 0}`` (the closure of K's slice, kept bounded). Solver answers
    are never trusted: every reported end is *proved*, and the dict's ``"proof"`` holds
    the evidence (plain float lists), checked by ``sgncert verify``:

    * ``low_weights`` / ``high_weights``: a point of K (``w > 0``, ``C(w, alpha) > 0``
      decided in exact arithmetic) whose ratio is ``<= low`` / ``>= high``. A finite end
      is the solver's optimum pulled toward an interior point until it passes, its ratio
      rounded toward the interior;
    * ``low = 0`` also needs ``low_direction``: ``d >= 0`` with ``d_j = 0 < d_i`` and
      ``C(d, alpha) >= 0`` (exactly), so ``(1 - t) d + t w`` lies in K for t in (0, 1] and
      its ratio tends to 0; ``high = inf`` needs ``high_direction`` with ``d_i = 0 < d_j``
      (``w + s d`` lies in K for all s >= 0).

    By convexity of K every ratio in ``[low, high]`` is attained: the band is an *inner*
    approximation of the true one, tight when the search settled (``"settled"``). An end
    whose search failed (solver status in ``"search"``) falls back to the interior point's
    own ratio; a pair with neither end settled is left out.

    Args:
        interior_weights: a w with ``C(w, alpha) > 0`` (e.g. the certified weights);
            checked exactly and replaced by one found here if it fails.
        pairs: the pairs ``(i, j)``, ``i < j``, to compute (default: all).
        progress: called as ``progress(done, total)`` after each pair (N > 2).

    Raises:
        NumericalError: (N > 2) no point of K is known and the search for one failed.
        SpecError: malformed inputs.
    """
    m, Lm = as_game(mu, L)
    n = m.size
    a = float(alpha)
    if not math.isfinite(a):
        raise SpecError(f"alpha must be finite, got {alpha!r}")
    mu_l = [float(v) for v in m]
    L_l = [[float(v) for v in row] for row in Lm]
    if n < 2:
        return []
    if n == 2:
        b = band_two_player(mu_l, L_l, a)
        if b is None:
            return []
        low, high = _closed_inwards(mu_l, L_l, a, float(b[0]), +1), _closed_inwards(mu_l, L_l, a, float(b[1]), -1)
        return [{"i": 0, "j": 1, "low": low, "high": high, "settled": True}]
    todo = [(i, j) for i in range(n) for j in range(i + 1, n)] if pairs is None else [tuple(p) for p in pairs]
    for i, j in todo:
        if not 0 <= i < j < n:
            raise SpecError(f"band pair ({i}, {j}): expected 0 <= i < j < {n}")
    return _band_general(mu_l, L_l, m, Lm, a, interior_weights, todo, progress)


def _closed_inwards(mu_l, L_l, a: float, end: float, direction: int) -> float:
    """A closed-form end moved inwards (up for the low end, down for the high one) until
    ``C((1, end), alpha) >= 0`` holds exactly: the stated band never pokes out of the true one."""
    if end == 0.0 or not math.isfinite(end):
        return end
    for _ in range(256):
        if in_closure(mu_l, L_l, [1.0, end], a):
            return end
        end = math.nextafter(end, math.inf if direction > 0 else 0.0)
    raise NumericalError(f"band end {end!r}: no float near the closed form is inside the band")


def interacting_pairs(L: np.ndarray | Sequence[Sequence[float]]) -> list[tuple[int, int]]:
    """The pairs ``i < j`` with ``L_ij > 0`` or ``L_ji > 0`` (the players that interact)."""
    Lm = np.asarray(L, dtype=np.float64)
    n = Lm.shape[0]
    return [(i, j) for i in range(n) for j in range(i + 1, n) if Lm[i, j] > 0 or Lm[j, i] > 0]


class _Sdps:
    """The parametrised band SDPs of one game (built once, re-solved per pair)."""

    def __init__(self, E: list[np.ndarray], n: int):
        import cvxpy as cp

        self.w = cp.Variable(n)
        self.e = cp.Parameter(n)
        self.c = cp.Parameter(n)
        C = sum(self.w[k] * E[k] for k in range(n))
        C = 0.5 * (C + C.T)
        # the slice w_i = 1 of K's closure, kept bounded (an unbounded end hits CAP)
        self.end = cp.Problem(cp.Minimize(self.c @ self.w), [self.w >= 0, self.w <= CAP, self.e @ self.w == 1, C >> 0])
        # recession direction: d_i = 0, d_j = 1, d >= 0, C(d) >> 0; minimise sum(d) for sparsity
        self.d = cp.Variable(n)
        Cd = sum(self.d[k] * E[k] for k in range(n))
        Cd = 0.5 * (Cd + Cd.T)
        self.ei = cp.Parameter(n)
        self.ej = cp.Parameter(n)
        self.rec = cp.Problem(
            cp.Minimize(cp.sum(self.d)), [self.d >= 0, self.ei @ self.d == 0, self.ej @ self.d == 1, Cd >> 0]
        )

    def optimum(self, i: int, j: int, sense: int) -> tuple[np.ndarray, str | None]:
        """The solver's ``argmin (sense=+1) / argmax (-1) w_j`` on the slice and a note when
        the solver was not sure of it (an inaccurate optimum is still a candidate: every end
        is proved exactly anyway); NumericalError when there is no candidate."""
        eye = np.eye(self.w.shape[0])
        self.e.value, self.c.value = eye[i], sense * eye[j]
        what = f"{'min' if sense > 0 else 'max'} w_{j}/w_{i}"
        st = _solve(self.end, what, accept=("optimal", "optimal_inaccurate"))
        if self.w.value is None:
            raise NumericalError(f"band SDP ({what}) ended with status '{st}' and no solution")
        return np.asarray(self.w.value, dtype=float), None if st == "optimal" else f"solver status '{st}'"

    def direction(self, i: int, j: int) -> np.ndarray:
        """The solver's recession direction (``d_i = 0, d_j = 1``); NumericalError if unsettled."""
        eye = np.eye(self.d.shape[0])
        self.ei.value, self.ej.value = eye[i], eye[j]
        st = _solve(self.rec, f"recession w_{j}/w_{i}", accept=("optimal", "optimal_inaccurate"))
        if self.d.value is None:
            raise NumericalError(f"band SDP (recession w_{j}/w_{i}) ended with status '{st}' and no solution")
        return np.asarray(self.d.value, dtype=float)


def _proved_direction(mu_l, L_l, a, d: np.ndarray, zero: int, positive: int) -> np.ndarray | None:
    """``d`` (small entries cleaned) with ``d[zero] = 0 < d[positive]`` and ``C(d, alpha) >= 0``
    proved exactly, or None."""
    for dd in (_clean(d), np.maximum(d, 0.0)):
        dd = dd.copy()
        dd[zero] = 0.0
        if dd[positive] > 0 and in_closure(mu_l, L_l, dd, a):
            return dd
    return None


def _low_end(sdp: _Sdps, mu_l, L_l, a, w_int, i, j) -> tuple[float, dict, str | None]:
    """The proved lower end of w_j/w_i, its evidence (see band_pairs) and a note when the
    search did not settle it."""
    w_lo, note = sdp.optimum(i, j, +1)
    if w_lo[j] <= _ZERO_TOL * max(float(w_lo[i]), 1e-300):
        d = _proved_direction(mu_l, L_l, a, w_lo, j, i)
        if d is not None:
            return 0.0, {"low_weights": w_int.tolist(), "low_direction": d.tolist()}, None
    low, wit = pulled_endpoint(mu_l, L_l, a, w_lo, w_int, i, j, +1)
    if low is None or wit is None:
        raise NumericalError(f"no proved point near the solver's min w_{j}/w_{i}" + (f" ({note})" if note else ""))
    return low, {"low_weights": wit.tolist()}, note


def _high_end(sdp: _Sdps, mu_l, L_l, a, w_int, i, j) -> tuple[float, dict, str | None]:
    """The proved upper end of w_j/w_i, its evidence (see band_pairs) and a note when the
    search did not settle it (an end at the search cap is proved but not the true end)."""
    w_hi, note = sdp.optimum(i, j, -1)
    if w_hi[j] >= 0.5 * CAP * float(w_hi[i]):  # at the cap: the slice is (probably) unbounded in w_j
        try:
            d = _proved_direction(mu_l, L_l, a, sdp.direction(i, j), i, j)
        except NumericalError:
            d = None
        if d is not None:
            return math.inf, {"high_weights": w_int.tolist(), "high_direction": d.tolist()}, None
        note = f"at the search cap w_j/w_i <= {CAP:g} with no proved unbounded direction"
    high, wit = pulled_endpoint(mu_l, L_l, a, w_hi, w_int, i, j, -1)
    if high is None or wit is None:
        raise NumericalError(f"no proved point near the solver's max w_{j}/w_{i}" + (f" ({note})" if note else ""))
    return high, {"high_weights": wit.tolist()}, note


def _band_general(mu_l, L_l, m, Lm, a, interior_weights, todo, progress=None) -> list[dict]:
    """Implementation of band_pairs for N > 2."""
    n = m.size
    # normalise the data (K is invariant under scaling C by a positive constant)
    scale = max(float(np.max(np.abs(m - a))), float(np.max(Lm)), 1e-300)
    ms, Ls = (m - a) / scale, Lm / scale
    E = []
    for k in range(n):
        Ek = np.zeros((n, n))
        Ek[k, :] -= Ls[k, :] * (np.arange(n) != k)
        Ek[:, k] -= Ls[k, :] * (np.arange(n) != k)
        Ek[k, k] = 2.0 * ms[k]
        E.append(Ek)

    w_int = None
    if interior_weights is not None:
        wi = as_weights(interior_weights, n)
        if strictly_inside(mu_l, L_l, wi, a):
            w_int = wi
    if w_int is None:
        w_int = _find_interior(mu_l, L_l, m, Lm, a, E, n)
        if w_int is None:
            return []

    sdp = _Sdps(E, n)
    out = []
    for done, (i, j) in enumerate(todo, 1):
        if progress is not None:
            progress(done - 1, len(todo))
        wn = w_int / w_int[i]
        proof: dict[str, Any] = {}
        ends: dict[str, float] = {}
        unsettled: list[str] = []
        found = 0
        for end, search, sense in (("low", _low_end, +1), ("high", _high_end, -1)):
            try:
                value, ev, note = search(sdp, mu_l, L_l, a, wn, i, j)
                found += 1
            except NumericalError as exc:  # fall back to the interior point's own ratio
                value, ev, note = (
                    ratio_inwards(float(wn[j]), float(wn[i]), sense),
                    {f"{end}_weights": wn.tolist()},
                    str(exc),
                )
            ends[end] = value
            proof.update(ev)
            if note:
                unsettled.append(f"{end}: {note}")
        low, high = ends["low"], ends["high"]
        if not found or not low < high:  # nothing proved beyond the interior point's own ratio
            continue
        out.append(
            {
                "i": i,
                "j": j,
                "low": float(low),
                "high": float(high),
                "settled": not unsettled,
                "search": "; ".join(unsettled) if unsettled else "optimal",
                "proof": proof,
            }
        )
    if progress is not None:
        progress(len(todo), len(todo))
    return out
