"""The certificate document (SPEC 7): building, serialising and writing it atomically.

JSON with sorted keys, UTF-8, two-space indent (written with :func:`sgncert.atomic.write_atomic`). Non-finite numbers never appear:
an unbounded value (``inf``: an open band end, an unbounded step limit) is written as
``null``. Everything but ``provenance.created`` is a function of the spec, the seed and
the library versions, so repeated runs give byte-identical files apart from that line.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

import numpy as np

from . import __version__
from .certify import Certification
from .steps import C4

SCHEMA_VERSION = "1"
KIND = "sgncert.certificate"


def jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars/arrays to floats/lists, inf to None; NaN is an error."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            raise ValueError("NaN in certificate")
        return v if math.isfinite(v) else None
    return value


def _versions() -> dict:
    import jax
    import scipy

    return {"jax": jax.__version__, "numpy": np.__version__, "scipy": scipy.__version__}


def build_certificate(c: Certification, *, created: str | None = None, source: str | None = None) -> dict:
    """The certificate dict for a :class:`Certification`.

    ``source``: the spec's path relative to the certificate's folder (``game.source``),
    which ``sgncert verify`` uses to check that the spec file still describes the game.
    """
    import jax

    g = c.game
    prov = c.provenance
    k = c.constants
    steps: dict[str, Any] = {"provenance": prov}
    if c.steps is not None:
        s = c.steps
        steps["euler"] = {"max": s.euler_max, "best": s.euler_best, "factor": s.euler_factor}
        steps["rk4"] = {"max": s.rk4_max, "best": s.rk4_best, "factor": s.rk4_factor, "c4": C4}
        steps["rk4_spectral_guideline"] = s.rk4_spectral_guideline
    else:
        steps["euler"] = {"max": 0.0, "best": 0.0, "factor": 1.0}
        steps["rk4"] = {"max": 0.0, "best": 0.0, "factor": 1.0, "c4": C4}
    if g.geometry == "fisher":  # the Euler step in the Fisher geometry is natural policy gradient
        steps["npg"] = dict(steps["euler"], update="theta_i <- theta_i - h G_i^+ grad_i f_i")
    if c.thresholds is not None:
        t = c.thresholds
        steps["exact"] = {"provenance": "exact",
                          "euler": {"contraction": t.euler_contraction, "stability": t.euler_stability},
                          "rk4": {"contraction": t.rk4_contraction, "stability": t.rk4_stability}}
    w = c.weights
    radius_M = c.game.region.radius * math.sqrt(float(np.min(w)))
    equilibrium: dict[str, Any] = {"residual_M": c.residual_M}
    if c.equilibrium is not None:
        equilibrium.update({"solved": True, "method": c.equilibrium.method, "residual": c.equilibrium.residual})
    else:
        equilibrium["solved"] = False
    if c.certified and g.geometry == "fisher":
        # the Fisher metric is degenerate along the softmax gauge and varies with theta:
        # no M-ball inside the logit box is claimed
        equilibrium["distance_bound_M"] = c.residual_M / c.margin
        invariant = None
    elif c.certified:
        dist = c.residual_M / c.margin
        equilibrium["distance_bound_M"] = dist
        equilibrium["in_region"] = bool(dist <= radius_M)
        invariant = {"radius_M": max(0.0, radius_M - dist)} if dist <= radius_M else None
    else:
        invariant = None
    doc = {
        "tight": _tight_section(c),
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "certified": c.certified,
        "reason": c.reason,
        "notes": list(c.notes),
        "game": {
            "name": g.name,
            "sha256": g.sha256,
            "players": [{"name": p.name, "dim": p.dim} for p in g.players],
            "affine": g.affine,
            "spec": g.canonical,
            "source": source,
        },
        "region": {"center": c.center, "radius": g.region.radius, "norm": g.region.norm,
                   "center_spec": g.region.center_spec},
        "constants": {
            "mu": k.mu, "L": k.L, "beta": c.weighted.beta, "provenance": prov,
            "samples": k.samples, "seed": None if g.affine else g.sampling.seed,
            "sampler": "jacobian" if g.affine else g.sampling.method,
        },
        "euclidean": {"margin": k.gamma, "certified": bool(k.gamma > 0), "provenance": prov},
        "metric": {"weights": w, "kind": "scalar", "source": c.weights_source,
                   "M": "blockdiag(w_i I_{d_i})" if g.geometry == "euclidean" else "blockdiag(w_i G_i(theta))"},
        "geometry": _geometry(g),
        "sgn": {
            "margin": c.margin, "margin_float": c.margin_float, "margin_check": "exact rational LDL^T of C(w, margin)",
            "tau": c.perron.tau, "gain": c.gain, "alpha_true": c.weighted.alpha_true, "provenance": prov,
            "tau_attained": c.perron.attained,
        },
        "rate": c.margin,
        "steps": steps,
        "band": [{"i": b["i"], "j": b["j"], "low": b["low"], "high": b["high"]} for b in c.band],
        "band_alpha": 0.0,
        "equilibrium": equilibrium,
        "invariant_ball": invariant,
        "provenance": {
            "tool_version": __version__, "x64": bool(jax.config.jax_enable_x64), "versions": _versions(),
            "created": created or datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        },
    }
    return jsonable(doc)


def _tight_section(c: Certification) -> dict | None:
    """Largest proved steps over the metric family, with their metrics and ratios to the truth."""
    t = c.tight
    if t is None:
        return None
    out = {"metric_family": t["family"], "provenance": t["euler"].provenance,
           "euler": t["euler"].to_dict(), "rk4": t["rk4"].to_dict(),
           "rate": t["rate"].to_dict() if t.get("rate") is not None else None}
    if c.steps is not None:
        ratio = {}
        for m, sgn_max in (("euler", c.steps.euler_max), ("rk4", c.steps.rk4_max)):
            limit = t[m].true_limit
            ratio[m] = sgn_max / limit if limit and math.isfinite(limit) else None
        out["sgn_ratio"] = ratio  # the SGN steps as fractions of the true limits
    return out


def _geometry(g) -> dict:
    if g.geometry == "euclidean":
        return {"kind": "euclidean"}
    return {"kind": "fisher", "reduced_dims": list(g.metric_block_sizes),
            "normalisation": "K = E^T J E, E = blockdiag_i blockdiag_s(U G~_{i,s}^{-1/2}); "
                             "softmax gauge (per-state all-ones direction) quotiented out",
            "beta": "Lipschitz constant of the natural-gradient field, Jacobian G^+ J (exact at the equilibrium)"}


def dumps(doc: dict) -> str:
    """Canonical certificate text: sorted keys, indent 2, UTF-8, trailing newline."""
    return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
