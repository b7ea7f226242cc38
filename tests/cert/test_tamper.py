"""The tamper suite: every numeric field of a certificate of each kind (exact, exact with
tight steps, N > 2 bands, sampled, Fisher) is edited in its unsafe direction, and verify
must reject it (exit 1, or exit 2 where the edit makes the certificate malformed), unless
the field is documented as informational (schema and README). A field that is neither classified here nor informational fails the suite, so a
new field cannot slip in unchecked."""

from __future__ import annotations

import copy

import pytest

from conftest import ROOT
from sgncert.cert.load import load_certificate
from sgncert.cert.model import json_schema
from sgncert.cert.verify import verify_certificate
from sgncert.errors import SpecError

CERTS = ROOT / "certificates"
KINDS = {
    "exact": "scalar",
    "exact-tight-64": "lq64",
    "n3-bands": "three_player",
    "sampled": "logistic_duel",
    "fisher": "rps",
    "constrained": "cournot",
    "constrained-simplex": "resource_allocation",
    "sound": "tanh_duel",
}

# +1: a larger value claims more; -1: a smaller value claims more (the unsafe direction)
CLAIMS = {
    "constants.mu[]": +1,
    "constants.L[][]": -1,
    "constants.beta": -1,
    "euclidean.margin": +1,
    "sgn.margin": +1,
    "sgn.alpha_true": +1,
    "rate": +1,
    "steps.euler.max": +1,
    "steps.euler.best": +1,
    "steps.euler.factor": -1,
    "steps.npg.max": +1,
    "steps.npg.best": +1,
    "steps.npg.factor": -1,
    "steps.rk4.max": +1,
    "steps.rk4.best": +1,
    "steps.rk4.factor": -1,
    "steps.rk4.c4": +1,
    "steps.exact.euler.contraction": +1,
    "steps.exact.euler.stability": +1,
    "steps.exact.rk4.contraction": +1,
    "steps.exact.rk4.stability": +1,
    "band[].low": -1,
    "band[].high": +1,
    "band_alpha": +1,
    "equilibrium.residual_M": -1,
    "equilibrium.distance_bound_M": -1,
    "invariant_ball.radius_M": +1,
    "region.radius": +1,
    "tight.euler.h": +1,
    "tight.euler.factor": -1,
    "tight.rk4.h": +1,
    "tight.rk4.factor": -1,
    "tight.rate.alpha": +1,
    "verdict.proofs[].rate": +1,
    "verdict.proofs[].beta": -1,
    "verdict.proofs[].steps.euler.h": +1,
    "verdict.proofs[].steps.euler.factor": -1,
    "verdict.proofs[].steps.npg.h": +1,
    "verdict.proofs[].steps.rk4.h": +1,
    "verdict.proofs[].steps.rk4.factor": -1,
    "verdict.best.rate": +1,
    "verdict.best.steps.euler.h": +1,
    "verdict.best.steps.euler.factor": -1,
    "verdict.best.steps.npg.h": +1,
    "verdict.best.steps.rk4.h": +1,
    "verdict.best.steps.rk4.factor": -1,
}
# reported values (not bounds) and what identifies the game: any change fails
REPORTED = {
    "sgn.tau",
    "sgn.gain",
    "constants.samples",
    "constants.seed",
    "region.center[]",
    "game.players[].dim",
    "geometry.reduced_dims[]",
    "tight.euler.true_limit",
    "tight.euler.ratio",
    "tight.rk4.true_limit",
    "tight.rk4.ratio",
    "tight.rate.true_bound",
    "tight.rate.ratio",
    "tight.sgn_ratio.euler",
    "tight.sgn_ratio.rk4",
    "constants.sound.sampled.mu[]",
    "constants.sound.sampled.L[][]",
    "constants.sound.sampled.gamma",
    "constants.sound.sampled.beta",
    "constants.sound.sampled.alpha_true",
    "constants.sound.leaves",
    "constants.sound.gaps.mu[]",
    "constants.sound.gaps.L[][]",
    "constants.sound.gaps.gamma",
    "constants.sound.gaps.beta",
    "constants.sound.gaps.alpha_true",
}
# evidence for a claim (witnesses, metrics, indices): checked, but another valid value is
# still a valid proof, so there is no unsafe direction (tampered evidence is tested in test_verify)
EVIDENCE = {
    "metric.weights[]",
    "band[].i",
    "band[].j",
    "band[].proof.low_weights[]",
    "band[].proof.high_weights[]",
    "band[].proof.low_direction[]",
    "band[].proof.high_direction[]",
    "tight.euler.weights[]",
    "tight.rk4.weights[]",
    "tight.rate.weights[]",
    "verdict.proofs[].weights[]",
    "verdict.proofs[].steps.euler.weights[]",
    "verdict.proofs[].steps.npg.weights[]",
    "verdict.proofs[].steps.rk4.weights[]",
    "verdict.best.weights[]",
    "verdict.best.steps.euler.weights[]",
    "verdict.best.steps.npg.weights[]",
    "verdict.best.steps.rk4.weights[]",
    "equilibrium.weights[]",
    "equilibrium.natural_map_step",  # any h with q(h) < 1 gives a valid bound: the residual is recomputed at it
}
INFORMATIONAL = {
    "sgn.margin_float",
    "equilibrium.residual",
    "region.center_spec[]",
    "steps.rk4_spectral_guideline",
    "tight.euler.checks",
    "tight.rk4.checks",
    "tight.rate.checks",
    "constants.sound.tolerance",
    "constants.sound.reached",
    "constants.sound.boxes",
    "constants.sound.budget_boxes",
    "constants.sound.budget_seconds",
}


def numeric_leaves(doc) -> list[tuple[str, tuple]]:
    """(pattern, path) of every number outside the embedded spec; lists become []."""
    out: list[tuple[str, tuple]] = []

    def walk(x, pattern: str, path: tuple) -> None:
        if isinstance(x, bool) or x is None:
            return
        if isinstance(x, (int, float)):
            out.append((pattern, path))
        elif isinstance(x, dict):
            for k, v in x.items():
                if pattern == "game" and k == "spec":
                    continue
                walk(v, f"{pattern}.{k}" if pattern else k, (*path, k))
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, f"{pattern}[]", (*path, i))

    walk(doc, "", ())
    return out


def docs() -> dict[str, dict]:
    return {kind: load_certificate(CERTS / f"{name}.cert.json") for kind, name in KINDS.items()}


DOCS = docs()


def _option(node: dict, key: str) -> dict:
    """The (first) schema alternative of ``node`` that has ``key`` (through anyOf)."""
    if key in node:
        return node
    for option in node.get("anyOf", []):
        found = _option(option, key)
        if found:
            return found
    return {}


def schema_description(pattern: str) -> str:
    """The schema's description of a field pattern (``a.b[].c``)."""
    node, desc = json_schema(), ""
    for part in pattern.split("."):
        prop = _option(node, "properties")["properties"][part.replace("[]", "")]
        desc = prop.get("description", "")
        node = prop
        for _ in range(part.count("[]")):
            node = _option(node, "items")["items"]
    return desc


def test_every_numeric_field_is_classified():
    classes = (set(CLAIMS), REPORTED, EVIDENCE, INFORMATIONAL)
    assert not set.intersection(*[set(c) for c in classes[:2]])
    seen = {pattern for doc in DOCS.values() for pattern, _ in numeric_leaves(doc)}
    unclassified = sorted(p for p in seen if not any(p in c for c in classes))
    assert not unclassified, f"numeric fields with no tamper test and not informational: {unclassified}"
    for kind in KINDS:
        assert numeric_leaves(DOCS[kind])


def test_informational_fields_are_documented_as_such():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for pattern in sorted(INFORMATIONAL):
        assert "informational" in schema_description(pattern), pattern
        assert f"`{pattern.replace('[]', '')}`" in readme, f"README does not list {pattern} as informational"


def _edit(doc: dict, path: tuple, direction: int) -> None:
    """Move the number at ``path`` in its unsafe direction (0: up, for reported values)."""
    *head, last = path
    cur = doc
    for key in head:
        cur = cur[key]
    v = cur[last]
    step = direction or +1
    if isinstance(v, int):
        cur[last] = v + step
    else:
        cur[last] = v + step * (abs(v) * 1e-3 if v != 0 else 1e-3)


# the sound certificate shares every other field's checks with the sampled one: only what
# rests on its partition is tampered with there (each verify re-proves the partition)
SOUND_ONLY = {
    "constants.mu[]",
    "constants.L[][]",
    "constants.beta",
    "euclidean.margin",
    "sgn.alpha_true",
    "verdict.proofs[].rate",
    "verdict.proofs[].beta",
} | {p for p in REPORTED if p.startswith("constants.sound.")}


def cases():
    out = []
    for kind, doc in DOCS.items():
        done = set()
        for pattern, path in numeric_leaves(doc):
            if kind == "sound" and pattern not in SOUND_ONLY:
                continue
            # every proof of the verdict is tampered with, not only the first listed
            key = (
                (pattern, doc["verdict"]["proofs"][path[2]]["method"]) if path[:2] == ("verdict", "proofs") else pattern
            )
            if key in done:
                continue
            if pattern in CLAIMS or pattern in REPORTED:
                if pattern == "constants.L[][]" and path[-1] == path[-2]:
                    continue  # the diagonal of L is not a coupling
                done.add(key)
                name = pattern if isinstance(key, str) else f"{pattern}:{key[1]}"
                out.append(pytest.param(kind, pattern, path, id=f"{kind}:{name}"))
    return out


@pytest.mark.parametrize("kind,pattern,path", cases())
def test_tampered_field_is_rejected(kind, pattern, path):
    doc = copy.deepcopy(DOCS[kind])
    _edit(doc, path, CLAIMS.get(pattern, 0))
    try:
        rep = verify_certificate(doc, recompute=False)  # the algebra alone catches most
        if rep.exit_code != 1:
            rep = verify_certificate(doc, resample=0)
    except SpecError:
        return  # a malformed certificate (a negative norm, inconsistent lengths): exit 2, also a rejection
    assert rep.exit_code == 1, f"{pattern} moved in its unsafe direction was accepted:\n{rep.summary()}"


def test_shipped_certificates_verify_untouched():
    for kind, doc in DOCS.items():
        assert verify_certificate(copy.deepcopy(doc), resample=0).exit_code == 0, kind
