"""Phase 1 of ``sgncert verify``: the claims that follow from the stated numbers alone.

Standard library and :mod:`fractions` only (neither JAX nor cvxpy nor NumPy is imported):

- the embedded spec hashes to ``game.sha256``;
- ``C(w, alpha) >= 0`` exactly from the stated mu, L, w and alpha = ``sgn.margin``;
  ``rate == sgn.margin``; ``certified`` agrees with the margin;
- every step size and contraction factor agrees with alpha and beta (only float rounding,
  1e-12 relative, is ever allowed in the unsafe direction); the RK4 constant c4 is
  re-derived here, independently of the writer (:func:`rk4_constant`);
- the band is re-derived in closed form for N = 2 and checked by exact PD tests just
  inside and just outside each finite end; for N > 2 the witnesses of each pair prove,
  in exact arithmetic, that every ratio in [low, high] certifies (an inner bound);
- the invariant ball fits the region.

The RK4 constant and the N = 2 band closed form are written here a second time on
purpose: the verifier must not trust the writer's code. Tests tie the two together.
See docs/theory.md §11.
"""

from __future__ import annotations

import functools
import hashlib
import math
from fractions import Fraction
from typing import Any

from ..errors import SpecError
from ..theory.exact import psd_exact, sgn_matrix_exact, to_fraction
from ..util.jsondoc import canonical_json
from .model import show
from .report import VerifyReport, number_text

ROUNDING = 1e-12  # relative slack for float rounding of stated step sizes / factors
REL_TOL = 1e-9  # relative tolerance when comparing with recomputed floating-point values


def _fr(x) -> Fraction:
    return to_fraction(x)


def _at_most(stated, bound: Fraction) -> bool:
    """stated <= bound, allowing only float rounding (relative ROUNDING) above it."""
    s = _fr(stated)
    return s <= bound + abs(bound) * _fr(ROUNDING)


def _at_least(stated, bound: Fraction) -> bool:
    s = _fr(stated)
    return s >= bound - abs(bound) * _fr(ROUNDING)


def _rk4_stage_factors(q):
    s2 = q / 2
    s3 = (q / 2) * (1 + s2)
    s4 = q * (1 + s3)
    return (0 * q, s2, s3, s4)


_RK4_B = (Fraction(1, 6), Fraction(1, 3), Fraction(1, 3), Fraction(1, 6))


def _rk4_a(q):
    return sum(b * max(0 * q, 1 - s) ** 2 for b, s in zip(_RK4_B, _rk4_stage_factors(q)))


def _rk4_k(q):
    s = _rk4_stage_factors(q)
    if q > 0:
        cross = sum(b * si * (1 + si) for b, si in zip(_RK4_B, s)) / q
    else:
        limits = (Fraction(0), Fraction(1, 2), Fraction(1, 2), Fraction(1))  # s_i / q as q -> 0
        cross = sum(b * c for b, c in zip(_RK4_B, limits))
    return 2 * cross + sum(b * (1 + si) for b, si in zip(_RK4_B, s)) ** 2


def rk4_constant() -> float:
    """c4 re-derived independently of the writer (docs/theory.md §6): the fixed point of
    c = 2 a(c) / k(c), in exact rational arithmetic.

    Bisection in exact arithmetic on [1e-9, 2] over float midpoints; returns the last
    float ``c`` with ``c < 2 a(c) / k(c)`` (the safe side).
    """
    lo, hi = 1e-9, 2.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        m = Fraction(mid)
        if m * _rk4_k(m) < 2 * _rk4_a(m):
            lo = mid
        else:
            hi = mid
    return lo


_c4 = functools.cache(rk4_constant)


_BELOW_ONE = (
    " (the exact bound is below 1 by less than a float64 can show next to 1: the step contracts, and 1 "
    "is the nearest float that bounds its factor)"
)


def _bounds_factor(factor: Fraction, squared_bound: Fraction) -> bool:
    """A stated step factor is a contraction factor bounding the proved one: below 1 with
    factor^2 >= the bound, or exactly 1 where the bound itself is below 1 (_BELOW_ONE)."""
    return (factor < 1 or (factor == 1 and squared_bound < 1)) and _at_least(factor * factor, squared_bound)


def _rk4_g(h: Fraction, alpha: Fraction, beta: Fraction) -> Fraction:
    """g(h) = 1 - 2 h alpha a(h beta) + h^2 beta^2 k(h beta): the squared RK4 factor bound."""
    q = h * beta
    return 1 - 2 * h * alpha * _rk4_a(q) + h * h * beta * beta * _rk4_k(q)


def _band_closed_form(m1: float, m2: float, l12: float, l21: float) -> tuple[float, float] | None:
    """Closed form of the N = 2 band (docs/theory.md §5), re-derived independently of the writer."""
    if not (m1 > 0 and m2 > 0):
        return None
    p, q = m1 * m2, l12 * l21
    if not p > q:
        return None
    if l12 == 0 and l21 == 0:
        return (0.0, math.inf)
    if l21 == 0:
        return (l12 * l12 / (4.0 * p), math.inf)
    if l12 == 0:
        return (0.0, 4.0 * p / (l21 * l21))
    s = math.sqrt(p) + math.sqrt(p - q)
    return ((l12 / s) ** 2, (s / l21) ** 2)


def _pd2(mi, mj, lij, lji, r: Fraction, alpha) -> bool:
    """C((1, r), alpha) > 0 for the 2 x 2 game (mi, mj, lij, lji), exactly."""
    return psd_exact(sgn_matrix_exact([mi, mj], [[0, lij], [lji, 0]], [1, r], alpha), strict=True)


def rel_close(a: float, b: float, tol: float = REL_TOL) -> bool:
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= tol * max(abs(a), abs(b))


def _margin_estimate(mu, L, w) -> float | None:
    """alpha_*(w) by exact-PSD bisection (for messages only; None when too large to bother)."""
    n = len(mu)
    if n > 12:
        return None
    wf = [_fr(x) for x in w]
    if any(x <= 0 for x in wf):
        return None
    lo = (
        min(float(m) for m in mu)
        - sum(float(x) for row in L for x in row) * max(float(x) for x in w) / min(float(x) for x in w)
        - 1.0
    )
    hi = max(float(m) for m in mu) + 1.0
    if not psd_exact(sgn_matrix_exact(mu, L, wf, lo)):
        return None
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if psd_exact(sgn_matrix_exact(mu, L, wf, mid)):
            lo = mid
        else:
            hi = mid
    return lo


def check_algebra(doc: dict[str, Any], rep: VerifyReport) -> None:
    """Phase 1 of verify: every claim that follows from the stated numbers alone (module docstring)."""
    game, spec = doc["game"], doc["game"]["spec"]
    names = [p["name"] for p in game["players"]]
    n = len(names)
    mu = doc["constants"]["mu"]
    L = [[0 if i == j else doc["constants"]["L"][i][j] for j in range(n)] for i in range(n)]
    w = doc["metric"]["weights"]
    alpha = doc["sgn"]["margin"]
    beta = doc["constants"]["beta"]  # None: unbounded
    certified = doc["certified"]

    # -- the embedded spec is the hashed one
    try:
        digest = hashlib.sha256(canonical_json(spec).encode("utf-8")).hexdigest()
    except (TypeError, ValueError) as exc:  # pragma: no cover - validated JSON is always dumpable
        raise SpecError(f"game.spec: cannot be canonicalised: {exc}") from None
    if digest == game["sha256"]:
        rep.ok("game.sha256", f"the embedded spec hashes to {digest[:16]}...")
    else:
        rep.fail(
            "game.sha256",
            f"the embedded game spec hashes to {digest[:16]}..., the certificate states "
            f"{game['sha256'][:16]}...: the spec was edited after certification",
        )
    if spec.get("name") != game["name"]:
        rep.fail(
            "game.name", f"game.name {show(game['name'])} differs from the embedded spec's {show(spec.get('name'))}"
        )
    if "players" in spec:  # markov / normal-form games define players elsewhere: checked on rebuild
        spec_players = [
            {k: v for k, v in p.items() if k != "set"} if isinstance(p, dict) else p for p in spec["players"]
        ]
        if spec_players == [{"name": p["name"], "dim": p["dim"]} for p in game["players"]]:
            rep.ok("game.players", f"{n} players ({', '.join(names)}) as in the embedded spec")
        else:
            rep.fail("game.players", "game.players do not match the embedded spec")
    sreg = spec.get("region") if isinstance(spec.get("region"), dict) else {}
    reg = doc["region"]
    region_ok = sreg.get("radius") == reg["radius"] and sreg.get("norm") == reg["norm"]
    sc = sreg.get("center")
    if sc == "zeros":
        region_ok &= all(c == 0 for c in reg["center"])
    elif isinstance(sc, list):
        region_ok &= sc == reg["center"]
    elif sc != "equilibrium":
        region_ok = False
    if region_ok:
        rep.ok(
            "region",
            f"{'box' if reg['norm'] == 'inf' else 'ball'} of radius {number_text(reg['radius'])} "
            f"around the {'solved equilibrium' if sc == 'equilibrium' else 'spec centre'}",
        )
    else:
        rep.fail("region", "region (centre, radius or norm) differs from the embedded spec")

    # -- constants: couplings are norms
    neg = [(i, j) for i in range(n) for j in range(n) if i != j and _fr(L[i][j]) < 0]
    for i, j in neg:
        rep.fail(f"constants.L[{i}][{j}]", f"L[{i}][{j}] = {number_text(L[i][j])} is negative (a coupling is a norm)")
    if beta is not None and beta < 0:  # pragma: no cover - validated non-negative
        rep.fail("constants.beta", "beta is negative")

    # -- weights
    wf = [_fr(x) for x in w]
    if all(x > 0 for x in wf) and wf[0] == 1:
        rep.ok("metric.weights", "weights are positive with w_1 = 1")
    else:
        rep.fail("metric.weights", f"weights must be positive with w_1 = 1, got {[number_text(x) for x in w]}")

    # -- the margin: C(w, alpha) >= 0 exactly
    margin_ok = False
    if neg or not all(x > 0 for x in wf):
        rep.undecidable("sgn.margin", "not checked: negative couplings or non-positive weights")
    else:
        margin_ok = psd_exact(sgn_matrix_exact(mu, L, wf, alpha))
        if margin_ok:
            rep.ok("sgn.margin", f"C(w, {number_text(alpha)}) is positive semidefinite (exact rational LDL^T)")
        else:
            est = _margin_estimate(mu, L, w)
            true = f"; the stated mu, L and w only give alpha_*(w) ~ {number_text(est)}" if est is not None else ""
            rep.fail("sgn.margin", f"C(w, alpha) is not positive semidefinite at alpha = {number_text(alpha)}{true}")
    if _fr(doc["rate"]) == _fr(alpha):
        rep.ok("rate", f"rate = sgn.margin = {number_text(alpha)}")
    else:
        rep.fail("rate", f"rate = {number_text(doc['rate'])} but the proved margin sgn.margin = {number_text(alpha)}")
    should = bool(_fr(alpha) > 0 and beta is not None)
    rep.certifies = bool(certified)
    if isinstance(doc.get("verdict"), dict):
        pass  # certified iff some proof holds: checked with the verdict (sgncert.cert.proofs)
    elif certified and should:
        rep.ok("certified", "certified: the margin is positive and beta finite")
    elif certified:
        rep.fail(
            "certified",
            f"certified is true but sgn.margin = {number_text(alpha)}"
            + ("" if beta is not None else " and beta is unbounded")
            + " does not certify anything",
        )
    if doc["euclidean"]["margin"] > 0 and doc.get("euclidean", {}).get("certified") is False:
        rep.fail("euclidean.certified", "euclidean.margin > 0 but euclidean.certified is false")
    elif doc["euclidean"]["margin"] <= 0 and doc.get("euclidean", {}).get("certified") is True:
        rep.fail(
            "euclidean.certified",
            f"euclidean.certified is true but euclidean.margin = {number_text(doc['euclidean']['margin'])} <= 0",
        )

    if should:
        _phase1_steps(doc, rep, _fr(alpha), _fr(beta))
    else:  # no SGN margin: the SGN steps claim nothing (other proofs' steps are in the verdict)
        stated = {
            f"steps.{k}.{f}": doc["steps"][k][f]
            for k in ("euler", "npg", "rk4")
            if isinstance(doc["steps"].get(k), dict)
            for f in ("max", "best")
            if doc["steps"][k].get(f) is not None
        }
        for name, v in stated.items():
            if _fr(v) != 0:
                rep.fail(name, f"{number_text(v)} is claimed, but the SGN margin proves no step (0 means none)")
        for k in ("euler", "npg", "rk4"):
            f = doc["steps"].get(k, {}).get("factor") if isinstance(doc["steps"].get(k), dict) else None
            if f is not None and _fr(f) != 1:
                rep.fail(f"steps.{k}.factor", f"{number_text(f)} is claimed, but no step contracts (1 means none)")
        _check_c4(rep, doc["steps"]["rk4"])
    if doc["constants"]["provenance"] == "exact" and doc["constants"]["samples"] != 1:
        rep.fail(
            "constants.samples",
            f"exact constants come from one Jacobian; the certificate states {doc['constants']['samples']} samples",
        )
    sound = doc["constants"].get("sound")
    if doc["constants"]["provenance"] == "sound" and not isinstance(sound, dict):
        rep.fail(
            "constants.provenance", "constants labelled sound need the partition they are proved on (constants.sound)"
        )
    if isinstance(sound, dict) and doc["constants"]["provenance"] != "sound":
        rep.fail(
            "constants.sound", f"a sound partition, but the constants are labelled {doc['constants']['provenance']}"
        )

    _phase1_band(doc, rep, mu, L, wf, alpha, should)
    _phase1_ball(doc, rep, *_equilibrium_metric(doc, rep, wf, alpha, should))


def _equilibrium_metric(doc: dict, rep: VerifyReport, wf, alpha, sgn_holds: bool) -> tuple[list, Any, Any, bool]:
    """The metric weights, rate and 'holds' the equilibrium section uses: those of the proof
    it names (``equilibrium.proof``, a holding proof of the verdict with a rate, in the
    metric ``equilibrium.weights``), or SGN's when it names none."""
    eq: dict[str, Any] = doc["equilibrium"] if isinstance(doc.get("equilibrium"), dict) else {}
    name, weights = eq.get("proof"), eq.get("weights")
    if name is None:
        if weights is not None and [_fr(x) for x in weights] != wf:
            rep.fail("equilibrium.weights", "without equilibrium.proof the weights must be metric.weights (SGN)")
        return wf, alpha, doc["constants"]["beta"], sgn_holds
    proofs = (doc.get("verdict") or {}).get("proofs") or []
    proof = next((p for p in proofs if p["method"] == name), None)
    if proof is None or not proof["holds"] or proof.get("rate") is None or proof.get("weights") is None:
        rep.fail("equilibrium.proof", f"{name} is not a holding proof of the verdict with a rate and scalar weights")
        return wf, alpha, None, False
    if weights is None or [_fr(x) for x in weights] != [_fr(x) for x in proof["weights"]]:
        rep.fail("equilibrium.weights", f"the weights must be those of the {name} proof")
        return wf, alpha, None, False
    # the writer takes the holding proof with the largest rate among those it can use: a scalar
    # metric, and beta for the rounding allowance (unless the residual is exact: affine, unconstrained)
    fisher = (doc.get("geometry") or {}).get("kind") == "fisher"
    exact = doc["constants"]["provenance"] == "exact" and not fisher and not constrained(doc)
    usable = [
        p
        for p in proofs
        if p["holds"]
        and p.get("rate") is not None
        and p.get("weights") is not None
        and (p.get("beta") is not None or exact)
    ]
    top = max(usable, key=lambda p: _fr(p["rate"]), default=None)
    if top is not None and _fr(top["rate"]) > _fr(proof["rate"]):
        rep.fail(
            "equilibrium.proof",
            f"{name} (rate {number_text(proof['rate'])}) is not the usable proof with the largest rate: "
            f"{top['method']} proves {number_text(top['rate'])}",
        )
    return [_fr(x) for x in weights], proof["rate"], proof.get("beta"), True


def _euler_claims(rep: VerifyReport, prefix: str, e: dict, a: Fraction, b: Fraction) -> None:
    """max <= 2 alpha / beta^2, best <= alpha / beta^2, factor >= sqrt(1 - 2 h alpha + h^2 beta^2)."""
    for key in ("max", "best", "factor"):
        v = e.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            rep.fail(f"{prefix}.{key}", f"expected a non-negative number, got {show(v)}")
            return
    emax = 2 * a / (b * b)
    if e["max"] > 0 and _at_most(e["max"], emax):
        rep.ok(f"{prefix}.max", f"{number_text(e['max'])} <= 2 alpha / beta^2 = {number_text(emax)}")
    else:
        rep.fail(f"{prefix}.max", f"stated {number_text(e['max'])} but 2 alpha / beta^2 = {number_text(emax)}")
    ebest = a / (b * b)
    if e["best"] > 0 and _at_most(e["best"], ebest) and _at_most(e["best"], _fr(e["max"])):
        rep.ok(f"{prefix}.best", f"{number_text(e['best'])} <= alpha / beta^2 = {number_text(ebest)}")
    else:
        rep.fail(
            f"{prefix}.best",
            f"stated {number_text(e['best'])} but alpha / beta^2 = {number_text(ebest)} (and it must not exceed max = {number_text(e['max'])})",
        )
    h = _fr(e["best"])
    g = 1 - 2 * h * a + h * h * b * b
    f = _fr(e["factor"])
    if _bounds_factor(f, g):
        rep.ok(
            f"{prefix}.factor",
            f"{number_text(f)} >= sqrt(1 - 2 h alpha + h^2 beta^2) = {number_text(math.sqrt(max(0.0, float(g))))} at h = best"
            + (_BELOW_ONE if f == 1 else ""),
        )
    else:
        rep.fail(
            f"{prefix}.factor",
            f"stated {number_text(f)} but the proved bound at h = {number_text(h)} is "
            f"sqrt(1 - 2 h alpha + h^2 beta^2) = {number_text(math.sqrt(max(0.0, float(g))))}"
            + (" (a factor must be < 1)" if f >= 1 else ""),
        )


def _check_c4(rep: VerifyReport, r: dict) -> float:
    """The stated RK4 constant against the one re-derived here; returns the re-derived c4."""
    c4 = _c4()
    stated_c4 = r.get("c4")
    if stated_c4 is not None:
        if _at_most(stated_c4, Fraction(c4)):
            rep.ok("steps.rk4.c4", f"c4 = {number_text(stated_c4)} (re-derived: {number_text(c4)})")
        else:
            rep.fail(
                "steps.rk4.c4",
                f"stated c4 = {number_text(stated_c4)} exceeds the re-derived fixed point {number_text(c4)}",
            )
    return c4


def constrained(doc: dict) -> bool:
    """Some player of the embedded spec has a constraint set (the rebuild checks the spec)."""
    players = (doc["game"].get("spec") or {}).get("players")  # a summary may show a certificate without its spec
    return isinstance(players, list) and any(isinstance(p, dict) and "set" in p for p in players)


def _phase1_steps(doc: dict, rep: VerifyReport, a: Fraction, b: Fraction) -> None:
    steps = doc["steps"]
    e, r = steps["euler"], steps["rk4"]
    if b < a:  # every step claim rests on beta: none can be checked against an impossible one
        rep.fail(
            "constants.beta",
            f"beta = {number_text(b)} is below the margin {number_text(a)}, impossible since alpha_*(w) <= alpha_true(w) <= beta(w); "
            "the step claims rest on it",
        )
        return
    # Euler (docs/theory.md §6); the natural-gradient step of the Fisher geometry has the same bounds
    _euler_claims(rep, "steps.euler", e, a, b)
    if isinstance(steps.get("npg"), dict):
        _euler_claims(rep, "steps.npg", steps["npg"], a, b)
    c4 = _check_c4(rep, r)
    rmax = _fr(r["max"])
    bound = Fraction(c4) * a / (b * b)
    if constrained(doc):  # projected Euler only (docs/theory.md §13)
        if rmax == 0 and r.get("best") is None and r.get("factor") is None:
            rep.ok("steps.rk4.max", "constrained game: RK4 is unconstrained only, no step claimed")
        else:
            rep.fail("steps.rk4.max", "a constrained game certifies projected Euler only: RK4 claims no step (max 0)")
        return
    if rmax > 0 and _at_most(rmax, bound) and _rk4_g(rmax, a, b) <= 1:
        rep.ok("steps.rk4.max", f"{number_text(rmax)} <= c4 alpha / beta^2 = {number_text(bound)}")
    else:
        rep.fail(
            "steps.rk4.max",
            f"stated {number_text(rmax)} but c4 alpha / beta^2 = {number_text(bound)}: RK4 is not proved to contract at that step",
        )
    if "best" in r and r.get("best") is not None:
        hb = _fr(r["best"])
        if hb > 0 and _at_most(hb, rmax):
            rep.ok("steps.rk4.best", f"{number_text(hb)} <= max = {number_text(rmax)}")
        else:
            rep.fail("steps.rk4.best", f"stated {number_text(hb)} is not in (0, rk4.max = {number_text(rmax)}]")
        if r.get("factor") is not None:
            gb = _rk4_g(hb, a, b)
            fr = _fr(r["factor"])
            if _bounds_factor(fr, gb):
                rep.ok(
                    "steps.rk4.factor",
                    f"{number_text(fr)} >= sqrt(g(h)) = {number_text(math.sqrt(max(0.0, float(gb))))} at h = best"
                    + (_BELOW_ONE if fr == 1 else ""),
                )
            else:
                rep.fail(
                    "steps.rk4.factor",
                    f"stated {number_text(fr)} but the proved bound at h = {number_text(hb)} is "
                    f"sqrt(g(h)) = {number_text(math.sqrt(max(0.0, float(gb))))}"
                    + (" (a factor must be < 1)" if fr >= 1 else ""),
                )


def _phase1_band(doc: dict, rep: VerifyReport, mu, L, wf, alpha, certified: bool) -> None:
    n = len(mu)
    band = doc["band"]
    ba = doc.get("band_alpha", 0.0)
    ba = 0.0 if ba is None else ba
    af = _fr(ba)
    by_pair = {}
    for k, b in enumerate(band):
        if (b["i"], b["j"]) in by_pair:
            rep.fail(f"band[{k}]", f"pair ({b['i']}, {b['j']}) is listed twice")
        by_pair[(b["i"], b["j"])] = k
        lo, hi = b["low"], b["high"]
        if hi is not None and not lo < hi:
            rep.fail(f"band[{k}]", f"low = {number_text(lo)} is not below high = {number_text(hi)}")
    noted = isinstance(doc.get("band_note"), str)  # the certifier says why pairs are missing
    if af != 0:
        rep.fail(
            "band_alpha", f"band_alpha = {number_text(ba)}: this version writes and checks bands at alpha = 0 only"
        )
        return
    if n == 2:
        cf = _band_closed_form(float(mu[0]) - float(ba), float(mu[1]) - float(ba), float(L[0][1]), float(L[1][0]))
        if cf is None:
            if band:
                rep.fail(
                    "band",
                    f"the band at alpha = {number_text(ba)} is empty (closed form) but the certificate lists one",
                )
            else:
                rep.ok("band", "empty, as the closed form says")
            return
        if (0, 1) not in by_pair:
            if noted:
                rep.ok("band", f"not listed ({doc['band_note']}); it claims nothing")
            else:
                rep.fail("band", f"missing: the closed form gives ({number_text(cf[0])}, {number_text(cf[1])})")
            return
    elif certified and _fr(alpha) > af and not noted:
        missing = [(i, j) for i in range(n) for j in range(i + 1, n) if (i, j) not in by_pair]
        if missing:
            rep.fail("band", f"pairs {missing} are missing although the weights certify (and band_note says nothing)")
    for (i, j), k in sorted(by_pair.items()):
        b = band[k]
        if n == 2:
            assert cf is not None  # an empty closed-form band returned above
            ok = _band_two_ends(rep, k, b, mu, L, ba, cf)
        else:
            ok = _band_witnesses(rep, k, b, mu, L, ba, n)
        lo, hi = b["low"], b["high"]
        if ok:
            how = (
                "matches the closed form; exact PD just inside and not just outside each end"
                if n == 2
                else "every ratio in it proved by the witnesses (exact PD), an inner bound of the band"
            )
            rep.ok(f"band[{k}]", f"w_{j}/w_{i} in ({number_text(lo)}, {number_text(hi)}): {how}")
        # the certified weights must lie in the band
        if certified and all(x > 0 for x in wf) and _fr(alpha) > af:
            r = wf[j] / wf[i]
            lo_f = _fr(lo)
            inside = (r > lo_f or (n > 2 and r == lo_f)) and (hi is None or r < _fr(hi) or (n > 2 and r == _fr(hi)))
            if inside:
                rep.ok(f"metric.weights[{j}]/[{i}]", f"w_{j}/w_{i} = {number_text(r)} lies in band[{k}]")
            else:
                rep.fail(
                    "metric.weights",
                    f"w_{j}/w_{i} = {number_text(r)} lies outside the band ({number_text(lo)}, {number_text(hi)}) in which the weights must lie",
                )


def _band_two_ends(rep: VerifyReport, k: int, b: dict, mu, L, ba, cf: tuple[float, float]) -> bool:
    """N = 2: the ends match the closed form, with exact PD tests just inside (and, where the
    closed form is well conditioned, not just outside) each end."""
    af = _fr(ba)
    lo, hi = b["low"], b["high"]
    hi_f = math.inf if hi is None else float(hi)
    msgs = []
    if not rel_close(float(lo), cf[0]) and not (cf[0] == 0 and lo == 0):
        msgs.append(("low", f"stated {number_text(lo)} but the closed form gives {number_text(cf[0])}"))
    if not rel_close(hi_f, cf[1]):
        msgs.append(("high", f"stated {number_text(hi)} but the closed form gives {number_text(cf[1])}"))
    mi, mj, lij, lji = mu[0], mu[1], L[0][1], L[1][0]
    lo_f = Fraction(lo)
    narrow = hi is not None and float(hi) <= float(lo) * (1 + 4e-9)
    # outside tests only where the closed form is well conditioned (not near p = q)
    outside = hi is None or float(lo) == 0 or float(hi) > float(lo) * (1 + 1e-6)
    mid = Fraction(math.sqrt(float(lo) * float(hi))) if narrow and float(lo) > 0 else None
    if lo > 0:
        r_in = mid if mid is not None else lo_f * (1 + Fraction(1, 10**9))
        if not _pd2(mi, mj, lij, lji, r_in, af):
            msgs.append(
                (
                    "low",
                    f"C(w, {number_text(ba)}) is not positive definite at w_j/w_i = {number_text(r_in)} just inside the stated end {number_text(lo)}",
                )
            )
        elif outside and _pd2(mi, mj, lij, lji, lo_f * (1 - Fraction(1, 10**9)), af):
            msgs.append(
                (
                    "low",
                    f"C(w, {number_text(ba)}) is still positive definite just below the stated end {number_text(lo)}",
                )
            )
    if hi is not None:
        hi_q = Fraction(hi)
        r_in = mid if mid is not None else hi_q * (1 - Fraction(1, 10**9))
        if hi_q > 0 and not _pd2(mi, mj, lij, lji, r_in, af):
            msgs.append(
                (
                    "high",
                    f"C(w, {number_text(ba)}) is not positive definite at w_j/w_i = {number_text(r_in)} just inside the stated end {number_text(hi)}",
                )
            )
        elif outside and _pd2(mi, mj, lij, lji, hi_q * (1 + Fraction(1, 10**9)), af):
            msgs.append(
                (
                    "high",
                    f"C(w, {number_text(ba)}) is still positive definite just above the stated end {number_text(hi)}",
                )
            )
    # each stated finite end must itself lie in the closed band: C((1, end), alpha) >= 0 exactly
    for end, value in (("low", lo), ("high", hi)):
        if value is not None and value > 0 and not psd_exact(sgn_matrix_exact(mu, L, [1, value], af)):
            msgs.append(
                (end, f"C(w, {number_text(ba)}) is not positive semidefinite at the stated end {number_text(value)}")
            )
    for end, msg in msgs:
        rep.fail(f"band[{k}].{end}", f"w_1/w_0: {msg}")
    return not msgs


def _band_witnesses(rep: VerifyReport, k: int, b: dict, mu, L, ba, n: int) -> bool:
    """N > 2: every ratio in [low, high] is attained in K = {w > 0 : C(w, band_alpha) > 0}.

    K is a convex cone, so two points of K prove every ratio between theirs: ``low_weights``
    (ratio <= low) and ``high_weights`` (ratio >= high), each checked ``w > 0`` and
    ``C(w) > 0`` exactly. ``low = 0`` needs a direction ``d >= 0``, ``d_j = 0 < d_i``,
    ``C(d) >= 0`` (then ``(1 - t) d + t w`` is in K with ratio -> 0 as t -> 0); ``high =
    +inf`` one with ``d_i = 0 < d_j`` (``w + s d`` is in K with ratio -> inf). See
    docs/theory.md §5.
    """
    i, j = b["i"], b["j"]
    proof = b.get("proof")
    if not isinstance(proof, dict):
        rep.fail(f"band[{k}]", f"w_{j}/w_{i}: an N > 2 band needs its proof (witness weights); none given")
        return False
    msgs = []
    for end in ("low", "high"):
        value = b[end]
        w = [_fr(x) for x in proof[f"{end}_weights"]]
        if not all(x > 0 for x in w) or not psd_exact(sgn_matrix_exact(mu, L, w, ba), strict=True):
            msgs.append((end, f"{end}_weights are not a point of the band's cone (w > 0, C(w, {number_text(ba)}) > 0)"))
            continue
        r = w[j] / w[i]
        unbounded = (end == "low" and value == 0) or (end == "high" and value is None)
        if not unbounded:
            if (end == "low" and r > _fr(value)) or (end == "high" and r < _fr(value)):
                msgs.append(
                    (end, f"the witness ratio {number_text(r)} does not reach the stated end {number_text(value)}")
                )
            continue
        d = proof.get(f"{end}_direction")
        zero, positive = (j, i) if end == "low" else (i, j)
        if not isinstance(d, list):
            msgs.append((end, f"{'0' if end == 'low' else 'an unbounded end'} needs {end}_direction; none given"))
            continue
        df = [_fr(x) for x in d]
        if not (all(x >= 0 for x in df) and df[zero] == 0 and df[positive] > 0):
            msgs.append((end, f"{end}_direction must be >= 0 with d_{zero} = 0 < d_{positive}"))
        elif not psd_exact(sgn_matrix_exact(mu, L, df, ba)):
            msgs.append((end, f"C({end}_direction, {number_text(ba)}) is not positive semidefinite"))
    for end, msg in msgs:
        rep.fail(f"band[{k}].{end}", f"w_{j}/w_{i}: {msg}")
    return not msgs


def _phase1_ball(doc: dict, rep: VerifyReport, wf, alpha, beta, certified: bool) -> None:
    """The distance bound ``||c - x*||_M <= residual_M / alpha`` (constrained games:
    ``residual_M / (1 - q(h))`` with the natural map at ``h``), ``in_region`` and the
    invariant ball, all exactly (docs/theory.md §10, §13)."""
    ball = doc.get("invariant_ball")
    eq: dict[str, Any] = doc["equilibrium"] if isinstance(doc.get("equilibrium"), dict) else {}
    res, dist = eq.get("residual_M"), eq.get("distance_bound_M")
    in_region = eq.get("in_region") is True
    if ball is None and not in_region and dist is None:
        return
    positive = certified and all(x > 0 for x in wf) and _fr(alpha) > 0
    dist_ok = False
    if dist is not None:
        if not positive or res is None:
            rep.fail(
                "equilibrium.distance_bound_M",
                "a distance bound needs a certified positive margin and equilibrium.residual_M",
            )
        elif (h := eq.get("natural_map_step")) is not None:
            # dist >= r / (1 - q) with q^2 = 1 - 2 h alpha + h^2 beta^2 < 1: dist - r >= 0, (dist - r)^2 >= dist^2 q^2
            q2 = None if beta is None else 1 - 2 * _fr(h) * _fr(alpha) + (_fr(h) * _fr(beta)) ** 2
            d, r = _fr(dist), _fr(res)
            if q2 is not None and q2 < 1 and d - r >= 0 and (d - r) ** 2 >= d * d * q2:
                rep.ok(
                    "equilibrium.distance_bound_M",
                    f"{number_text(dist)} >= residual_M / (1 - q(h)), q(h)^2 = 1 - 2 h alpha + h^2 beta^2 at "
                    f"h = {number_text(h)} (exactly)",
                )
                dist_ok = True
            else:
                rep.fail(
                    "equilibrium.distance_bound_M",
                    f"stated {number_text(dist)} is not >= residual_M / (1 - q(h)) at h = {number_text(h)}"
                    + (" (q(h) >= 1: no contraction at that step)" if q2 is not None and q2 >= 1 else ""),
                )
        elif _fr(dist) >= _fr(res) / _fr(alpha):
            rep.ok("equilibrium.distance_bound_M", f"{number_text(dist)} >= residual_M / alpha (exactly)")
            dist_ok = True
        else:
            rep.fail(
                "equilibrium.distance_bound_M",
                f"stated {number_text(dist)} but residual_M / alpha = {number_text(_fr(res) / _fr(alpha))}",
            )
    rad = _fr(doc["region"]["radius"])
    rhs = rad * rad * min(wf) if all(x > 0 for x in wf) else Fraction(0)
    r_text = number_text(math.sqrt(float(rhs)))
    if in_region:  # x* in R: ||c - x*||_M <= dist <= R sqrt(min w) keeps x* in R
        fisher = isinstance(doc.get("geometry"), dict) and doc["geometry"].get("kind") == "fisher"
        if fisher or not dist_ok:
            rep.fail(
                "equilibrium.in_region", "in_region is claimed without a proved distance bound in a Euclidean M(w)"
            )
        elif _fr(dist) ** 2 <= rhs:
            rep.ok("equilibrium.in_region", f"distance bound {number_text(dist)} <= R sqrt(min w) = {r_text}")
        else:
            rep.fail(
                "equilibrium.in_region",
                f"in_region is claimed but the distance bound {number_text(dist)} exceeds the largest M-ball "
                f"in the region, R sqrt(min w) = {r_text}",
            )
    if ball is not None:
        rM = _fr(ball["radius_M"])
        # ||x - c||_M <= R sqrt(min w) keeps x in the box / ball of radius R: (rM + dist)^2 <= R^2 min w
        if not dist_ok:
            rep.fail("invariant_ball.radius_M", "an invariant ball is claimed without a proved distance bound")
        elif (rM + _fr(dist)) ** 2 <= rhs:
            rep.ok(
                "invariant_ball.radius_M",
                f"radius_M + distance = {number_text(rM + _fr(dist))} <= R sqrt(min w) = {r_text} (exactly)",
            )
        else:
            rep.fail(
                "invariant_ball.radius_M",
                f"radius_M + distance bound = {number_text(rM + _fr(dist))} exceeds the largest "
                f"M-ball in the region, R sqrt(min w) = {r_text}",
            )
