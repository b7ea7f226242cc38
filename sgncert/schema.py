"""JSON Schema (draft 2020-12) of the certificate document, schema_version "1" (SPEC 7).

``null`` stands for +infinity where a number may be unbounded (band ends, step limits).
"""

from __future__ import annotations

_num = {"type": "number"}
_num_or_inf = {"type": ["number", "null"], "description": "null means +infinity"}
_prov = {"enum": ["exact", "sampled", "sound"]}
_vec = {"type": "array", "items": _num}


def _obj(required: dict, **extra) -> dict:
    return {"type": "object", "required": sorted(required), "properties": required, **extra}


CERTIFICATE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://sgncert.invalid/schema/certificate-1.json",
    "title": "sgncert certificate",
    **_obj({
        "schema_version": {"const": "1"},
        "kind": {"const": "sgncert.certificate"},
        "certified": {"type": "boolean"},
        "reason": {"type": ["string", "null"]},
        "game": _obj({
            "name": {"type": "string"},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "players": {"type": "array", "minItems": 1,
                        "items": _obj({"name": {"type": "string"}, "dim": {"type": "integer", "minimum": 1}})},
            "spec": {"type": "object", "description": "canonical spec, params applied; its sha256 is game.sha256"},
        }),
        "region": _obj({"center": _vec, "radius": _num, "norm": {"enum": ["inf", "2"]}}),
        "constants": _obj({
            "mu": _vec, "L": {"type": "array", "items": _vec}, "beta": _num, "provenance": _prov,
            "samples": {"type": "integer", "minimum": 1}, "seed": {"type": ["integer", "null"]},
        }),
        "euclidean": _obj({"margin": _num}),
        "metric": _obj({"weights": _vec}),
        "sgn": _obj({"margin": _num, "tau": _num, "gain": {"type": ["number", "null"]}}),
        "rate": _num,
        "steps": _obj({
            "euler": _obj({"max": _num, "best": _num, "factor": _num}),
            "rk4": _obj({"max": _num}),
        }),
        "band": {"type": "array", "items": _obj({
            "i": {"type": "integer", "minimum": 0}, "j": {"type": "integer", "minimum": 0},
            "low": _num, "high": _num_or_inf})},
        "provenance": _obj({"tool_version": {"type": "string"}, "x64": {"const": True}}),
    }),
}
