"""The certificate model is the one source of the document, the JSON Schema and verify's
structural validation: every certificate validates against the schema (with jsonschema, an
independent validator), every field it holds is declared, and the schema and verify's
validation agree on what is malformed."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import GAMES, ROOT
from sgncert.analysis.certify import certify
from sgncert.cert.build import build_certificate
from sgncert.cert.model import declared_paths, json_schema, validate_document
from sgncert.cli import main
from sgncert.errors import SpecError
from sgncert.games.spec import game_from_dict, load_game

SCHEMA = json_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
SHIPPED = sorted((ROOT / "certificates").glob("*.cert.json"))

HOOK = """
import jax.numpy as jnp

def costs(x, p):
    a, b = x["a"], x["b"]
    return {"a": 0.5 * a @ a + 0.3 * jnp.sum(jnp.tanh(a)) * b[0], "b": 0.5 * b @ b - 0.2 * jnp.sum(a) * b[0]}
"""


def _paths(value, prefix: str = "") -> set[str]:
    """Every field path of a document, list items as [], the free game.spec and
    provenance.versions objects not descended into."""
    out = set()
    if isinstance(value, dict):
        for k, v in value.items():
            path = f"{prefix}.{k}" if prefix else k
            out.add(path)
            if path not in ("game.spec", "provenance.versions"):
                out |= _paths(v, path)
    elif isinstance(value, list):
        for v in value:
            if isinstance(v, (dict, list)):
                out |= _paths(v, prefix + "[]")
    return out


@pytest.fixture(scope="module")
def kinds(tmp_path_factory) -> dict[str, dict]:
    """A certificate of each game kind: expression costs (exact and sampled), affine blocks,
    a Python hook, a Markov game, normal-form games from payoffs and from an .nfg file, fixed
    weights, and a game that is not certified."""
    folder = tmp_path_factory.mktemp("kinds")
    (folder / "hook.py").write_text(HOOK)
    (folder / "hook.yaml").write_text(
        "sgncert: 1\nplayers: [{name: a, dim: 2}, {name: b, dim: 1}]\ncosts: {python: hook.py:costs}\n"
        "sampling: {samples: 16}\n"
    )
    games = {
        "costs-exact": load_game(GAMES / "scalar.yaml"),
        "costs-sampled": load_game(GAMES / "logistic_duel.yaml", samples=32),
        "blocks": load_game(GAMES / "lq64.yaml"),
        "hook": load_game(folder / "hook.yaml"),
        "markov": load_game(GAMES / "markov_coordination.yaml"),
        "normal-form": load_game(GAMES / "rps.yaml"),
        "nfg": load_game(GAMES / "three_firms.yaml", samples=8),
        "fixed-weights": game_from_dict(
            {
                "sgncert": 1,
                "players": [{"name": "x", "dim": 1}, {"name": "y", "dim": 1}],
                "pseudo_gradient": {"blocks": {"x": {"x": 1.0, "y": 0.5}, "y": {"x": 0.2, "y": 1.0}}},
                "weights": [1.0, 2.0],
            }
        ),
        "not-certified": game_from_dict(
            {
                "sgncert": 1,
                "players": [{"name": "x", "dim": 1}, {"name": "y", "dim": 1}],
                "pseudo_gradient": {"blocks": {"x": {"x": 1.0, "y": 0.5}, "y": {"x": 0.5, "y": 0.0}}},
            }
        ),
    }
    return {
        name: build_certificate(certify(g, tight=name != "blocks"), created="2026-01-01T00:00:00+00:00")
        for name, g in games.items()
    }


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_certificates_match_the_schema(path: Path):
    doc = json.loads(path.read_text())
    VALIDATOR.validate(doc)
    validate_document(doc, path.name)


@pytest.mark.slow
def test_every_game_kind_matches_the_schema(kinds):
    assert not kinds["not-certified"]["certified"] and kinds["markov"]["geometry"]["kind"] == "fisher"
    assert kinds["hook"]["game"]["spec"]["costs"]["sha256"]
    for name, doc in kinds.items():
        errors = sorted(VALIDATOR.iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, (name, [f"{list(e.path)}: {e.message}" for e in errors[:3]])
        validate_document(doc, name)


@pytest.mark.slow
def test_every_field_written_is_declared(kinds):
    declared = declared_paths()
    docs = list(kinds.values()) + [json.loads(p.read_text()) for p in SHIPPED]
    for doc in docs:
        undeclared = _paths(doc) - declared
        assert not undeclared, (doc["game"]["name"], sorted(undeclared))


def test_schema_is_complete_and_printed_by_the_cli():
    props = SCHEMA["properties"]
    for section in ("tight", "equilibrium", "invariant_ball", "geometry", "steps", "band", "sgn"):
        assert section in props, section
    tight = props["tight"]
    assert {"euler", "rk4", "rate", "sgn_ratio", "metric_family"} <= set(tight["properties"])
    assert set(SCHEMA["required"]) >= {"schema_version", "kind", "certified", "game", "constants", "steps", "band"}
    # every field carries a description (what it says, and whether verify checks it)
    stack = [SCHEMA]
    while stack:
        node = stack.pop()
        for name, sub in node.get("properties", {}).items():
            assert sub.get("description"), name
            stack.extend(s for s in [sub, sub.get("items", {})] + sub.get("anyOf", []) if isinstance(s, dict))
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0 and json.loads(result.output) == SCHEMA
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_every_field_says_whether_verify_checks_it():
    """Each leaf field's description says how verify treats it: checked, recomputed, re-proved, or
    informational (no claim rests on it)."""
    words = ("checked", "recomputed", "re-proved", "informational")
    stack = [("", SCHEMA)]
    leaves = 0
    while stack:
        path, node = stack.pop()
        for name, sub in node.get("properties", {}).items():
            inner = [sub, sub.get("items", {})] + sub.get("anyOf", [])
            nested = [
                n for n in inner if isinstance(n, dict) and ("properties" in n or "properties" in n.get("items", {}))
            ]
            if nested:
                stack.extend((f"{path}.{name}", n if "properties" in n else n["items"]) for n in nested)
            else:
                leaves += 1
                assert any(w in sub["description"] for w in words), f"{path}.{name}: {sub['description']}"
    assert leaves > 100


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (("tight", "euler", "h"), "x", "tight.euler.h"),
        (("equilibrium", "residual_M"), -1.0, "equilibrium.residual_M"),
        (("geometry", "kind"), "spherical", "geometry.kind"),
        (("steps", "exact", "rk4", "stability"), "fast", "steps.exact.rk4.stability"),
        (("invariant_ball", "radius_M"), None, "invariant_ball.radius_M"),
        (("band", 0, "high"), "inf", "band[0].high"),
        (("provenance", "versions", "jax"), 3, "provenance.versions.jax"),
    ],
)
def test_validation_names_the_path(path, value, named):
    doc = json.loads((ROOT / "certificates" / "scalar.cert.json").read_text())
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert not VALIDATOR.is_valid(doc)
    with pytest.raises(SpecError, match=named.replace(".", r"\.").replace("[", r"\[").replace("]", r"\]")):
        validate_document(doc, "c.json")


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**6), 10**6),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=6),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8,
)


def _field_paths(doc, prefix=()):
    for k, v in doc.items():
        if k == "spec":
            continue
        yield (*prefix, k)
        if isinstance(v, dict):
            yield from _field_paths(v, (*prefix, k))
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            yield from _field_paths(v[0], (*prefix, k, 0))


SCALAR = json.loads((ROOT / "certificates" / "scalar.cert.json").read_text())
FIELDS = sorted(_field_paths(SCALAR), key=str)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_schema_and_verify_agree_on_malformed_fields(data):
    """Replace one field by random JSON: whatever the schema rejects, verify's validation
    rejects too. Verify is stricter in two ways the schema cannot express: lengths (N
    players, dimension d, indices i < j < N), and integers written as 1.0 (JSON Schema counts
    them as integers; verify refuses them, as indices and counts must be integers)."""
    doc = copy.deepcopy(SCALAR)
    path = data.draw(st.sampled_from(FIELDS))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = data.draw(json_values)
    if not VALIDATOR.is_valid(doc):
        with pytest.raises(SpecError):
            validate_document(doc, "c.json")
    else:
        try:
            validate_document(doc, "c.json")
        except SpecError as exc:  # only what the schema cannot say
            allowed = (
                "entries",
                "player indices",
                "list of lists",
                "supports at most",
                "expected an integer",
                "exactly one of weights or blocks",
                "blocks",
                "block",
            )
            assert any(w in str(exc) for w in allowed), str(exc)
