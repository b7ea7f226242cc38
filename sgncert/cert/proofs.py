"""Phase 1 of ``sgncert verify`` for the ``verdict`` section (docs/theory.md §12).

Standard library and exact rationals only, like :mod:`sgncert.cert.algebra`. What follows
from the stated numbers alone:

- the proofs listed are known, each at most once, in the order sgn, euclidean, weighted, lmi;
  the update rules are those of the geometry;
- ``sgn`` restates the SGN sections (rate = ``sgn.margin``, metric = ``metric.weights``,
  beta = ``constants.beta``) and holds iff the margin is positive and beta finite;
- ``euclidean`` has rate = ``euclidean.margin`` in the identity metric and holds iff it is
  positive (a positive gamma listed as failing is a claim weaker than proved: invalid);
- the formula steps of sgn, euclidean and weighted satisfy ``h <= 2 rate/beta^2`` (Euler,
  natural policy gradient) and ``h <= c4 rate/beta^2`` (RK4), c4 re-derived independently;
- ``lmi`` restates the tight section (its steps, factors, metrics and rate);
- ``best`` is the holding proof with the largest rate, and its steps the largest of every
  holding proof; ``certified`` is true iff some proof holds.

Recomputation (euclidean beta(1), weighted alpha_true(w) and beta(w)) is phase 2
(:mod:`sgncert.cert.recompute`); the tight section's steps are re-proved there as well.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from .algebra import _at_most, _fr, constrained, rk4_constant
from .report import VerifyReport, number_text

ORDER = ("sgn", "euclidean", "weighted", "lmi")


def rules_of(doc: dict[str, Any]) -> list[str]:
    """The update rules of the certificate's geometry (projected Euler alone for a constrained game)."""
    if constrained(doc):
        return ["euler"]
    fisher = isinstance(doc.get("geometry"), dict) and doc["geometry"].get("kind") == "fisher"
    return ["npg", "rk4"] if fisher else ["euler", "rk4"]


def _rate_key(p: dict) -> Fraction | None:
    return None if p.get("rate") is None else _fr(p["rate"])


def check_verdict(doc: dict[str, Any], rep: VerifyReport) -> None:
    """The verdict section's claims that follow from the stated numbers (module docstring).
    Certificates without a verdict (older ones) are judged by the SGN sections alone."""
    v = doc.get("verdict")
    if not isinstance(v, dict):
        rep.notes.append("a certificate without a verdict (an older format): judged by its SGN section alone")
        return
    rules = rules_of(doc)
    t = doc.get("tight")
    if constrained(doc) and isinstance(t, dict) and (t.get("rk4") is not None or t["metric_family"] != "scalar"):
        rep.fail("tight", "a constrained game: only projected Euler in the scalar metric family is certified")
    if v["update_rules"] != rules:
        rep.fail("verdict.update_rules", f"expected {rules} for this geometry, got {v['update_rules']}")
    methods = [p["method"] for p in v["proofs"]]
    if methods != list(ORDER):
        rep.fail("verdict.proofs", f"every proof once, in the order {', '.join(ORDER)}; got {methods}")
        return
    c4 = Fraction(rk4_constant())
    all_ok = True
    for k, p in enumerate(v["proofs"]):
        all_ok &= _check_proof(doc, rep, f"verdict.proofs[{k}]", p, rules, c4)
    if all_ok:
        rep.ok("verdict.proofs", f"{len(methods)} proofs ({', '.join(methods)}) agree with the certificate's sections")
    holding = [p for p in v["proofs"] if p["holds"]]
    if bool(holding) == doc["certified"]:
        if holding:
            rep.ok("certified", f"certified: {', '.join(p['method'] for p in holding)} hold(s)")
    else:
        rep.fail(
            "certified",
            f"certified is {str(doc['certified']).lower()} but "
            + (f"{', '.join(p['method'] for p in holding)} hold(s)" if holding else "no proof holds"),
        )
    _check_best(rep, v, holding, rules)


def _same(a: Any, b: Any) -> bool:
    """Equal numbers (or lists of numbers), compared exactly; None only equals None."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return _fr(a) == _fr(b)


def _check_proof(doc: dict, rep: VerifyReport, where: str, p: dict, rules: list[str], c4: Fraction) -> bool:
    """One proof's consistency; False (with failed checks) when something disagrees."""
    before = len(rep.failed)
    method, holds, steps = p["method"], p["holds"], p["steps"]
    stated_rules = [r for r in ("euler", "npg", "rk4") if steps.get(r) is not None]
    if any(r not in rules for r in stated_rules):
        rep.fail(f"{where}.steps", f"{method}: steps for {stated_rules}, but this geometry's rules are {rules}")
    if not holds and (stated_rules or p.get("rate") is not None or p.get("beta") is not None):
        rep.fail(where, f"{method} does not hold but states a rate, a beta or steps")
    if holds and p.get("rate") is None and not stated_rules:
        rep.fail(where, f"{method} holds but proves neither a rate nor a step")
    if p.get("rate") is not None and not _fr(p["rate"]) > 0:
        rep.fail(f"{where}.rate", f"{method}: a proved rate is positive, got {number_text(p['rate'])}")
    tight = doc.get("tight")
    expected_prov = doc["constants"]["provenance"]
    if method == "lmi" and isinstance(tight, dict):
        expected_prov = tight["provenance"]
    if p["provenance"] != expected_prov:
        rep.fail(
            f"{where}.provenance", f"{method}: stated {p['provenance']}, the constants it rests on are {expected_prov}"
        )
    if method == "lmi":
        _check_lmi(doc, rep, where, p)
    else:
        _check_formula(doc, rep, where, p, c4)
    return len(rep.failed) == before


def _check_formula(doc: dict, rep: VerifyReport, where: str, p: dict, c4: Fraction) -> None:
    """sgn, euclidean, weighted: what holds, and steps from the rate and beta."""
    method, n = p["method"], len(doc["game"]["players"])
    w = p.get("weights")
    if method == "sgn":
        margin, beta = doc["sgn"]["margin"], doc["constants"]["beta"]
        should = _fr(margin) > 0 and beta is not None
        if p["holds"] != should:
            rep.fail(f"{where}.holds", f"sgn: holds = {p['holds']} but sgn.margin = {number_text(margin)}")
        if p["holds"] and not (_same(p.get("rate"), margin) and _same(p.get("beta"), beta)):
            rep.fail(where, "sgn: rate and beta must be sgn.margin and constants.beta")
        if not _same(w, doc["metric"]["weights"]):
            rep.fail(f"{where}.weights", "sgn: the weights must be metric.weights")
    elif method == "euclidean":
        gamma = doc["euclidean"]["margin"]
        if p["holds"] != (_fr(gamma) > 0 and p.get("beta") is not None):
            rep.fail(
                f"{where}.holds",
                f"euclidean: holds = {p['holds']} but euclidean.margin = {number_text(gamma)}"
                + (" (a proved rate listed as failing)" if _fr(gamma) > 0 else ""),
            )
        if p["holds"] and not _same(p.get("rate"), gamma):
            rep.fail(f"{where}.rate", f"euclidean: the rate must be euclidean.margin = {number_text(gamma)}")
        if w is not None and not _same(w, [1] * n):
            rep.fail(f"{where}.weights", "euclidean: the metric is the identity, weights all 1")
    if not p["holds"]:
        return
    beta, rate = p.get("beta"), p.get("rate")
    if w is None or len(w) != n or not all(_fr(x) > 0 for x in w) or _fr(w[0]) != 1:
        rep.fail(f"{where}.weights", f"{method}: the metric needs {n} positive weights with w_1 = 1")
        return
    if beta is None or rate is None or not _fr(beta) > 0:
        rep.fail(where, f"{method}: holds but beta or the rate is missing")
        return
    a, b = _fr(rate), _fr(beta)
    for rule, s in p["steps"].items():
        if s is None:
            continue
        bound = (c4 if rule == "rk4" else 2) * a / (b * b)
        name = f"{where}.steps.{rule}"
        if s["attained"] or s.get("factor") is not None or not _same(s["weights"], w):
            rep.fail(
                name, f"{method}: a formula step is an open bound in the proof's metric (attained false, no factor)"
            )
        elif not _at_most(s["h"], bound):
            what = "c4 rate / beta^2" if rule == "rk4" else "2 rate / beta^2"
            rep.fail(name, f"{method}: stated {number_text(s['h'])} but {what} = {number_text(bound)}")


def _check_lmi(doc: dict, rep: VerifyReport, where: str, p: dict) -> None:
    """lmi restates the tight section (re-proved in phase 2)."""
    t = doc.get("tight")
    if not isinstance(t, dict):
        if p["holds"]:
            rep.fail(where, "lmi holds but the certificate has no tight section")
        return
    rules = rules_of(doc)
    for rule, key in zip(rules, ("euler", "rk4")):
        entry, s = t.get(key), p["steps"].get(rule)
        if entry is None:
            rep.fail(f"{where}.steps.{rule}", f"lmi: the tight section has no {key} entry")
            continue
        proved = entry["h"] > 0
        if s is None:
            if proved and p["holds"]:
                rep.fail(f"{where}.steps.{rule}", f"lmi: tight.{key}.h = {number_text(entry['h'])} is not listed")
            continue
        same = (
            proved
            and s["attained"] is True
            and _same(s["h"], entry["h"])
            and _same(s.get("factor"), entry["factor"])
            and _same(s["weights"], entry.get("weights"))
        )
        if not same:
            rep.fail(f"{where}.steps.{rule}", f"lmi: the step must be tight.{key} (h, factor, metric; attained)")
    rate = t.get("rate") or {}
    alpha = rate.get("alpha")
    proved_rate = alpha if alpha is not None and _fr(alpha) > 0 else None
    if not (
        _same(p.get("rate"), proved_rate) and _same(p.get("weights"), rate.get("weights") if proved_rate else None)
    ):
        rep.fail(f"{where}.rate", "lmi: the rate and its weights must be tight.rate's (when positive)")
    should = proved_rate is not None or any((t.get(k) or {}).get("h", 0) > 0 for k in ("euler", "rk4")[: len(rules)])
    if p["holds"] != should:
        rep.fail(
            f"{where}.holds",
            f"lmi: holds = {p['holds']} but the tight section proves {'something' if should else 'nothing'}",
        )


def _check_best(rep: VerifyReport, v: dict, holding: list[dict], rules: list[str]) -> None:
    best = v.get("best")
    if not holding:
        if best is not None:
            rep.fail("verdict.best", "no proof holds, but a best statement is given")
        return
    if best is None:
        rep.fail("verdict.best", "some proof holds, but no best statement is given")
        return
    with_rate = [p for p in holding if p.get("rate") is not None]
    top = max(with_rate, key=lambda p: _fr(p["rate"])) if with_rate else holding[0]
    if (
        best["proof"] != top["method"]
        or not _same(best.get("rate"), top.get("rate"))
        or not _same(best.get("weights"), top.get("weights"))
    ):
        rep.fail(
            "verdict.best",
            f"the best proof is {top['method']} (rate {number_text(top.get('rate'))}), "
            f"not {best['proof']} (rate {number_text(best.get('rate'))})",
        )
    ok = True
    for rule in ("euler", "npg", "rk4"):
        cands = [(p["method"], p["steps"][rule]) for p in holding if p["steps"].get(rule) is not None]
        stated = best["steps"].get(rule)
        if not cands:
            if stated is not None:
                rep.fail(f"verdict.best.steps.{rule}", f"no holding proof proves a {rule} step")
                ok = False
            continue
        top_h = max(_fr(s["h"]) for _, s in cands)
        match = [
            (m, s)
            for m, s in cands
            if stated is not None
            and m == stated.get("proof")
            and all(_same(s.get(key), stated.get(key)) for key in ("h", "factor", "weights"))
            and s["attained"] == stated["attained"]
        ]
        if stated is None or not match or _fr(stated["h"]) != top_h:
            rep.fail(
                f"verdict.best.steps.{rule}",
                f"the largest {rule} step of a holding proof is {number_text(top_h)}"
                + ("" if stated is None else f"; stated {number_text(stated['h'])} from {stated.get('proof')}"),
            )
            ok = False
    if ok:
        parts = [
            f"{r} {number_text(best['steps'][r]['h'])} ({best['steps'][r]['proof']})"
            for r in rules
            if best["steps"].get(r)
        ]
        rep.ok("verdict.best", f"{best['proof']} has the largest rate; largest steps: {', '.join(parts) or 'none'}")
