"""Timescale bands of any number of players (docs/theory.md §5).

Two players: the closed form :func:`sgncert.theory.band.band_two_player`. More players:
two small semidefinite programs per pair (cvxpy + Clarabel), whose answers are never
trusted: every reported end is the ratio of a witness proved inside the band exactly
(:func:`sgncert.theory.band.pulled_endpoint`), an inner approximation of the true band.
cvxpy is imported when a band of more than two players is first computed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import NumericalError, SpecError
from ..theory.band import band_two_player, in_closure, pulled_endpoint, strictly_inside
from ..theory.smallgain import as_game, as_weights, perron_weights

__all__ = ["band_pairs"]

# solver components below this (relative to the normalised w_i = 1) are treated as 0
_ZERO_TOL = 1e-7


def _check_status(prob, what: str) -> str:
    st = prob.status
    if st in ("optimal", "infeasible", "unbounded"):
        return st
    raise NumericalError(f"band SDP ({what}) ended with solver status '{st}'")


def _solve(prob, what: str):
    import cvxpy as cp

    try:
        prob.solve(solver=cp.CLARABEL)
    except cp.error.SolverError as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NumericalError(f"band SDP ({what}) failed: {msg}") from exc
    return _check_status(prob, what)


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
) -> list[dict]:
    """Band of ``w_j / w_i`` for every pair ``i < j`` over ``K = {w > 0 : C(w, alpha) > 0}``.

    Returns a list of ``{"i", "j", "low", "high"}`` dicts (``high`` may be ``math.inf``,
    ``low`` may be ``0.0``), or ``[]`` when K is empty (the caller decides what that means).

    N = 2: the closed form of :func:`band_two_player` (keys i, j, low, high only).

    N > 2: two SDPs per pair with cvxpy + Clarabel, ``min / max w_j`` over
    ``{w >= 0, w_i = 1, C(w, alpha) >> 0}`` (the closure of K's slice). Solver answers
    are not trusted; each dict carries ``"verified"``:

    * a finite endpoint is reported as the ratio of a witness ``w_t = (1-t) w_end +
      t w_int`` (``t`` = 1e-9 ... 0.1, first that passes) for which ``C(w_t, alpha) > 0``
      is proved in exact arithmetic, rounded toward the interior. This is an inner
      approximation: by convexity every ratio between the two witnesses is in the band.
    * ``low = 0`` is reported when a solver witness with ``w_j = 0`` (small entries set
      to zero) is proved ``C >= 0`` exactly: then ``(1-t) d + t w_int`` lies in K for all
      ``t in (0, 1]`` and its ratio tends to 0. Likewise ``high = inf`` needs a proved
      recession direction ``d >= 0`` with ``d_i = 0, d_j = 1, C(d, alpha) >= 0``
      (``w_int + s d`` lies in K for all ``s >= 0``).
    * an endpoint that cannot be proved is still reported (solver value) with
      ``"verified": False``.

    ``interior_weights``: a w with ``C(w, alpha) > 0`` (e.g. Perron weights); checked
    exactly and replaced by one found here if it fails.

    Raises:
        NumericalError: an inaccurate / failed solve.
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
        return [{"i": 0, "j": 1, "low": float(b[0]), "high": float(b[1])}]
    return [
        {k: v for k, v in d.items() if k != "witnesses"} for d in _band_general(mu_l, L_l, m, Lm, a, interior_weights)
    ]


def _band_general(mu_l, L_l, m, Lm, a, interior_weights) -> list[dict]:
    """Implementation of band_pairs for N > 2; each dict also has ``"witnesses"``
    ``(w_low, w_high)`` (numpy arrays, or None for 0 / inf / unverified endpoints)."""
    import cvxpy as cp

    n = m.size
    # normalise the data (K is invariant under scaling C by a positive constant)
    scale = max(float(np.max(np.abs(m - a))), float(np.max(Lm)), 1e-300)
    ms, Ls = (m - a) / scale, Lm / scale
    E = []
    for k in range(n):
        Ek = np.zeros((n, n))
        Ek[k, k] = 2.0 * ms[k]
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

    # one parametrised problem for all pairs: e @ w == 1, minimise c @ w
    w = cp.Variable(n)
    e = cp.Parameter(n)
    c = cp.Parameter(n)
    C = sum(w[k] * E[k] for k in range(n))
    C = 0.5 * (C + C.T)
    prob = cp.Problem(cp.Minimize(c @ w), [w >= 0, e @ w == 1, C >> 0])
    # recession direction: d_i = 0, d_j = 1, d >= 0, C(d) >> 0; minimise sum(d) for sparsity
    d = cp.Variable(n)
    Cd = sum(d[k] * E[k] for k in range(n))
    Cd = 0.5 * (Cd + Cd.T)
    ei = cp.Parameter(n)
    ej = cp.Parameter(n)
    rec = cp.Problem(cp.Minimize(cp.sum(d)), [d >= 0, ei @ d == 0, ej @ d == 1, Cd >> 0])

    out = []
    eye = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            e.value = eye[i]
            verified = True
            # ---- low: minimise w_j
            c.value = eye[j]
            st = _solve(prob, f"min w_{j}/w_{i}")
            if st != "optimal":
                raise NumericalError(f"band SDP (min w_{j}/w_{i}) ended with status '{st}'")
            w_lo = np.asarray(w.value, dtype=float)
            low, wit_lo = None, None
            if w_lo[j] <= _ZERO_TOL:
                d0 = _clean(w_lo)
                d0[j] = 0.0
                if d0[i] > 0 and in_closure(mu_l, L_l, d0, a):
                    low = 0.0
            if low is None:
                low, wit_lo = pulled_endpoint(mu_l, L_l, a, w_lo, w_int, i, j, +1)
            if low is None:
                low, verified = max(float(w_lo[j]) / float(w_lo[i]), 0.0), False
            # ---- high: maximise w_j
            c.value = -eye[j]
            st = _solve(prob, f"max w_{j}/w_{i}")
            high, wit_hi = None, None
            if st == "unbounded":
                ei.value, ej.value = eye[i], eye[j]
                st2 = _solve(rec, f"recession w_{j}/w_{i}")
                if st2 == "optimal":
                    d_value = np.asarray(d.value, dtype=float)
                    for dd in (_clean(d_value), np.maximum(d_value, 0.0)):
                        dd[i] = 0.0
                        if dd[j] > 0 and in_closure(mu_l, L_l, dd, a):
                            high = math.inf
                            break
                if high is None:
                    high, verified = math.inf, False
            elif st == "optimal":
                w_hi = np.asarray(w.value, dtype=float)
                high, wit_hi = pulled_endpoint(mu_l, L_l, a, w_hi, w_int, i, j, -1)
                if high is None:
                    high, verified = float(w_hi[j]) / float(w_hi[i]), False
            else:
                raise NumericalError(f"band SDP (max w_{j}/w_{i}) ended with status '{st}'")
            out.append(
                {
                    "i": i,
                    "j": j,
                    "low": float(low),
                    "high": float(high),
                    "verified": bool(verified),
                    "witnesses": (wit_lo, wit_hi),
                }
            )
    return out
