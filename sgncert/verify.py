"""Independent verification of sgncert certificates (``sgncert verify``, SPEC 7 and 11).

``load_certificate(path)`` reads a certificate file strictly: a size cap, a nesting-depth
guard that runs *before* the JSON parser (no RecursionError can happen), no NaN /
Infinity / duplicate keys, every path of SPEC 7 present with its type. Anything wrong is a
:class:`~sgncert.errors.SpecError` (exit 2) with one line naming the path at fault.

``verify_certificate(doc, ...)`` checks the certificate's claims and returns a
:class:`VerifyReport` (verdict ``valid`` / ``invalid`` / ``undecidable`` -> exit 0 / 1 / 3):

Phase 1, algebra (standard library + :mod:`fractions` only; neither JAX nor cvxpy nor numpy
is imported): the embedded spec hashes to ``game.sha256``; ``C(w, alpha) >= 0`` exactly from
the stated mu, L, w and alpha = ``sgn.margin``; ``rate == sgn.margin``; ``certified``
agrees with the margin; every step size and contraction factor agrees with alpha and
beta (only float rounding, 1e-12 relative, is ever allowed in the unsafe direction); the
RK4 constant c4 is re-derived here from the SPEC 4 formula; the band is re-derived in
closed form for N = 2 and checked by exact PD tests just inside (and, for N = 2, just
outside) each finite end; for N > 2 each pair's band must lie inside the pair's 2 x 2
necessary band and contain the stated weights' ratio; the invariant ball fits the region.

Phase 2, recomputation (imports JAX): the game is rebuilt from the embedded spec (Python
hooks only after their file's sha256 matches the certificate), its hash compared, and
with ``game_path`` the spec file is checked to still describe the same game. Exact
(affine) games: J is recomputed and mu / L / beta / gamma / residual / exact step
thresholds compared (relative 1e-9, unsafe direction only). Sampled games: the
certificate's own sample set is recomputed (the claim "extremum over these samples"),
then ``resample`` fresh points (new seed) are drawn and every point where a stated bound
is beaten is reported with its coordinates. Fresh points beating a *sampled* estimate
are warnings (a sampled constant is an estimate, SPEC 2) unless ``strict``; for
provenance ``sound`` they are failures.

``simulate``: pairs of Euler and RK4 trajectories from random starts in the invariant
M(w)-ball at the certified best steps (and Euler at 0.99 x its max step); the observed
per-step M-distance factor must not exceed the certified one.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from .errors import EXIT_NEGATIVE, EXIT_NUMERICAL, EXIT_OK, NumericalError, SpecError
from .exact import psd_exact, sgn_matrix_exact, to_fraction

__all__ = ["Check", "VerifyReport", "load_certificate", "parse_certificate", "validate_certificate",
           "verify_certificate", "rk4_constant"]

SCHEMA_VERSION = "1"
KIND = "sgncert.certificate"
MAX_CERT_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64
MAX_PLAYERS = 256  # exact LDL^T in Fractions is O(N^3)
ROUNDING = 1e-12  # relative slack for float rounding of stated step sizes / factors
REL_TOL = 1e-9  # relative tolerance when comparing with recomputed floating-point values
SIM_PAIRS = 16
SIM_STEPS = 50

OK, FAILED, WARNING, UNDECIDABLE = "ok", "failed", "warning", "undecidable"


# ----------------------------------------------------------------------------- report
@dataclass
class Check:
    """One verified claim: ``name`` (e.g. ``constants.L[0][1]``), status and message."""

    name: str
    status: str  # ok | failed | warning | undecidable
    message: str

    def to_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "message": self.message}


@dataclass
class VerifyReport:
    """All checks of one certificate; ``verdict`` and ``exit_code`` summarise them."""

    checks: list[Check] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    simulation: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    def add(self, name: str, status: str, message: str) -> Check:
        check = Check(name, status, message)
        self.checks.append(check)
        return check

    def ok(self, name, message):
        return self.add(name, OK, message)

    def fail(self, name, message):
        return self.add(name, FAILED, message)

    def undecidable(self, name, message):
        return self.add(name, UNDECIDABLE, message)

    def warn(self, name, message):
        return self.add(name, WARNING, message)

    def _with(self, status) -> list[Check]:
        return [c for c in self.checks if c.status == status]

    @property
    def failed(self) -> list[Check]:
        return self._with(FAILED)

    @property
    def warnings(self) -> list[Check]:
        return self._with(WARNING)

    @property
    def undecided(self) -> list[Check]:
        return self._with(UNDECIDABLE)

    @property
    def verdict(self) -> str:
        if self.failed:
            return "invalid"
        if self.undecided:
            return "undecidable"
        return "valid"

    @property
    def exit_code(self) -> int:
        return {"valid": EXIT_OK, "invalid": EXIT_NEGATIVE, "undecidable": EXIT_NUMERICAL}[self.verdict]

    def summary(self) -> str:
        if self.verdict == "invalid":
            names = ", ".join(dict.fromkeys(c.name for c in self.failed))
            return f"INVALID: {len(self.failed)} claim(s) failed: {names}"
        if self.verdict == "undecidable":
            names = ", ".join(dict.fromkeys(c.name for c in self.undecided))
            return f"UNDECIDABLE: could not decide {names}"
        extra = f" ({len(self.warnings)} warning(s))" if self.warnings else ""
        return f"VALID: all {len(self.checks) - len(self.warnings)} checks passed{extra}"

    def to_dict(self) -> dict:
        """Plain JSON types; non-finite floats (a diverged simulation) become null."""
        counts = {s: len(self._with(s)) for s in (OK, FAILED, WARNING, UNDECIDABLE)}
        return {"kind": "sgncert.verify-report", "schema_version": "1", **self.info,
                "verdict": self.verdict, "exit_code": self.exit_code, "summary": self.summary(),
                "counts": counts, "checks": [c.to_dict() for c in self.checks], "notes": list(self.notes),
                "simulation": _finite(self.simulation), "timings": {k: round(v, 4) for k, v in self.timings.items()}}


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ------------------------------------------------------------------- loading / validation
_STRING_RE = re.compile(r'"(?:[^"\\]++|\\.)*+"?', re.S)  # never fails: linear time
_NOT_BRACKET_RE = re.compile(r"[^\[\]{}]++")
_EMPTY_PAIR_RE = re.compile(r"\[\]|\{\}")


def _nesting_too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """True when brackets outside strings nest deeper than ``limit`` (without recursion).

    Strings are removed, then everything but brackets; each pass deletes the innermost
    ``[]`` / ``{}`` pairs, i.e. one level, so more than ``limit`` productive passes mean
    deeper nesting. Unbalanced input stops early and is left to the JSON parser.
    """
    s = _NOT_BRACKET_RE.sub("", _STRING_RE.sub("", text))
    for _ in range(limit):
        if not s:
            return False
        t = _EMPTY_PAIR_RE.sub("", s)
        if t == s:
            return False
        s = t
    return bool(s) and _EMPTY_PAIR_RE.search(s) is not None


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(f"number {text[:40]} is out of the float range")
    return v


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed (write unbounded values as null)")


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k[:60]!r}")
        out[k] = v
    return out


def parse_certificate(data: bytes | str, label: str = "<certificate>") -> Any:
    """Parse certificate text (UTF-8 JSON) with the depth guard; SpecError on any problem."""
    if isinstance(data, bytes):
        if len(data) > MAX_CERT_BYTES:
            raise SpecError(f"{label}: file is larger than {MAX_CERT_BYTES} bytes")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SpecError(f"{label}: not UTF-8 text (byte {exc.start})") from None
    if _nesting_too_deep(data):
        raise SpecError(f"{label}: JSON nesting is deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(data, parse_float=_finite_float, parse_constant=_reject_constant,
                          object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{label}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:  # pragma: no cover - the depth guard runs first
        raise SpecError(f"{label}: JSON nesting too deep") from None
    except (ValueError, TypeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecError(f"{label}: not valid JSON: {first}") from None


def load_certificate(path: str | Path) -> dict:
    """Read, parse and structurally validate a certificate file (SpecError -> exit 2)."""
    path = Path(path)
    label = str(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_CERT_BYTES + 1)
    except IsADirectoryError:
        raise SpecError(f"{label}: is a directory, expected a certificate file") from None
    except OSError as exc:
        raise SpecError(f"{label}: cannot read: {exc.strerror or exc}") from None
    doc = parse_certificate(data, label)
    validate_certificate(doc, label)
    return doc


def _type_name(v: Any) -> str:
    return "null" if v is None else {bool: "boolean", int: "integer", float: "number", str: "string",
                                     list: "list", dict: "object"}.get(type(v), type(v).__name__)


def _show(v: Any) -> str:
    text = json.dumps(v) if isinstance(v, (str, int, float, bool)) or v is None else _type_name(v)
    return text if len(text) <= 60 else text[:57] + "..."


class _Validator:
    def __init__(self, doc: Any, label: str):
        self.doc, self.label = doc, label

    def error(self, path: str, what: str) -> SpecError:
        return SpecError(f"{self.label}: {path}: {what}" if path else f"{self.label}: {what}")

    def get(self, path: str, *, optional: bool = False) -> Any:
        cur = self.doc
        walked = []
        for part in path.split("."):
            if not isinstance(cur, dict):
                raise self.error(".".join(walked), f"expected an object, got {_type_name(cur)}")
            if part not in cur:
                if optional:
                    return None
                raise self.error(path, "missing")
            cur = cur[part]
            walked.append(part)
        return cur

    def number(self, value: Any, path: str, *, nullable: bool = False, positive: bool = False,
               nonneg: bool = False) -> Any:
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(path, f"expected a {'number or null' if nullable else 'number'}, got {_show(value)}")
        try:
            f = float(value)
        except OverflowError:
            raise self.error(path, "number out of the float range") from None
        if not math.isfinite(f):
            raise self.error(path, "expected a finite number")
        if positive and not f > 0:
            raise self.error(path, f"expected a positive number, got {_show(value)}")
        if nonneg and f < 0:
            raise self.error(path, f"expected a non-negative number, got {_show(value)}")
        return value

    def num(self, path: str, **kw) -> Any:
        return self.number(self.get(path), path, **kw)

    def typed(self, path: str, kind: type | tuple, what: str, *, optional: bool = False) -> Any:
        v = self.get(path, optional=optional)
        if v is None and optional:
            return None
        if isinstance(v, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.error(path, f"expected {what}, got {_show(v)}")
        if not isinstance(v, kind):
            raise self.error(path, f"expected {what}, got {_show(v)}")
        return v

    def vector(self, value: Any, path: str, n: int | None) -> list:
        if not isinstance(value, list):
            raise self.error(path, f"expected a list of numbers, got {_show(value)}")
        if n is not None and len(value) != n:
            raise self.error(path, f"expected {n} entries, got {len(value)}")
        for k, v in enumerate(value):
            self.number(v, f"{path}[{k}]")
        return value

    def integer(self, value: Any, path: str, *, minimum: int | None = None, nullable: bool = False):
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
            lim = f" >= {minimum}" if minimum is not None else ""
            raise self.error(path, f"expected an integer{lim}{' or null' if nullable else ''}, got {_show(value)}")
        return value


def validate_certificate(doc: Any, label: str = "<certificate>") -> dict:
    """Check the structure and types of every path ``verify`` reads (SPEC 7)."""
    v = _Validator(doc, label)
    if not isinstance(doc, dict):
        raise v.error("", f"expected a JSON object at the top level, got {_type_name(doc)}")
    version = v.get("schema_version")
    if version != SCHEMA_VERSION:
        raise v.error("schema_version", f"unknown schema version {_show(version)} (this sgncert reads \"1\")")
    if v.get("kind") != KIND:
        raise v.error("kind", f"expected \"{KIND}\", got {_show(v.get('kind'))}")
    v.typed("certified", bool, "a boolean")
    v.typed("game", dict, "an object")
    v.typed("game.name", str, "a string")
    sha = v.typed("game.sha256", str, "a string")
    if not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise v.error("game.sha256", "expected 64 lowercase hexadecimal digits")
    players = v.typed("game.players", list, "a list")
    if not players:
        raise v.error("game.players", "expected at least one player")
    dims = []
    for k, p in enumerate(players):
        where = f"game.players[{k}]"
        if not isinstance(p, dict):
            raise v.error(where, f"expected an object, got {_show(p)}")
        if not isinstance(p.get("name"), str):
            raise v.error(f"{where}.name", f"expected a string, got {_show(p.get('name'))}")
        dims.append(v.integer(p.get("dim"), f"{where}.dim", minimum=1))
    if len(players) > MAX_PLAYERS:
        raise v.error("game.players", f"{len(players)} players; verify supports at most {MAX_PLAYERS}")
    n, d = len(players), sum(dims)
    v.typed("game.spec", dict, "an object (the embedded canonical game spec)")
    v.typed("game.affine", bool, "a boolean", optional=True)
    v.typed("region", dict, "an object")
    v.vector(v.get("region.center"), "region.center", d)
    v.num("region.radius", positive=True)
    if v.get("region.norm") not in ("inf", "2"):
        raise v.error("region.norm", f"expected \"inf\" or \"2\", got {_show(v.get('region.norm'))}")
    v.typed("constants", dict, "an object")
    v.vector(v.get("constants.mu"), "constants.mu", n)
    L = v.get("constants.L")
    if not isinstance(L, list) or len(L) != n:
        raise v.error("constants.L", f"expected an {n} x {n} list of lists")
    for i, row in enumerate(L):
        v.vector(row, f"constants.L[{i}]", n)
    v.num("constants.beta", nullable=True, nonneg=True)
    if v.get("constants.provenance") not in ("exact", "sampled", "sound"):
        raise v.error("constants.provenance", f"expected exact, sampled or sound, got {_show(v.get('constants.provenance'))}")
    v.integer(v.get("constants.samples"), "constants.samples", minimum=1)
    v.integer(v.get("constants.seed"), "constants.seed", minimum=0, nullable=True)
    v.num("euclidean.margin")
    v.vector(v.get("metric.weights"), "metric.weights", n)
    v.num("sgn.margin")
    v.num("sgn.tau")
    v.num("sgn.gain", nullable=True)
    v.num("rate")
    for path in ("steps.euler.max", "steps.euler.best", "steps.euler.factor", "steps.rk4.max"):
        v.num(path, nonneg=True)
    for path in ("steps.rk4.best", "steps.rk4.factor", "steps.rk4.c4"):
        if v.get(path, optional=True) is not None:
            v.num(path, nonneg=True)
    exact = v.get("steps.exact", optional=True)
    if exact is not None:
        for method in ("euler", "rk4"):
            for what in ("contraction", "stability"):
                v.num(f"steps.exact.{method}.{what}", nullable=True, nonneg=True)
    band = v.typed("band", list, "a list")
    for k, b in enumerate(band):
        where = f"band[{k}]"
        if not isinstance(b, dict):
            raise v.error(where, f"expected an object, got {_show(b)}")
        i = v.integer(b.get("i"), f"{where}.i", minimum=0)
        j = v.integer(b.get("j"), f"{where}.j", minimum=0)
        if not i < j < n:
            raise v.error(where, f"expected player indices 0 <= i < j < {n}, got i = {i}, j = {j}")
        v.number(b.get("low"), f"{where}.low", nonneg=True)
        v.number(b.get("high"), f"{where}.high", nullable=True, nonneg=True)
    if v.get("band_alpha", optional=True) is not None:
        v.num("band_alpha")
    ball = v.get("invariant_ball", optional=True)
    if ball is not None:
        v.typed("invariant_ball", dict, "an object or null")
        v.num("invariant_ball.radius_M", nonneg=True)
    eq = v.get("equilibrium", optional=True)
    if eq is not None:
        v.typed("equilibrium", dict, "an object")
        for key in ("residual_M", "distance_bound_M"):
            if key in eq:
                v.num(f"equilibrium.{key}", nonneg=True)
    v.typed("provenance", dict, "an object")
    v.typed("provenance.tool_version", str, "a string")
    v.typed("provenance.x64", bool, "a boolean")
    return doc


# ------------------------------------------------------------------------ phase 1 helpers
def canonical_json(obj: Any) -> str:
    """Same canonical form as :func:`sgncert.spec.canonical_json` (kept local: no numpy)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _g(x: Any) -> str:
    if x is None:
        return "inf"
    if isinstance(x, Fraction):
        x = float(x)
    return f"{x:.12g}" if isinstance(x, float) else str(x)


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
        cross = sum(b * c for b, c in zip(_RK4_B, (0, Fraction(1, 2), Fraction(1, 2), 1)))
    return 2 * cross + sum(b * (1 + si) for b, si in zip(_RK4_B, s)) ** 2


def rk4_constant() -> float:
    """c4 of SPEC 4, re-derived independently: the fixed point of c = 2 a(c) / k(c).

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


_C4: float | None = None


def _c4() -> float:
    global _C4
    if _C4 is None:
        _C4 = rk4_constant()
    return _C4


def _rk4_g(h: Fraction, alpha: Fraction, beta: Fraction) -> Fraction:
    """g(h) = 1 - 2 h alpha a(h beta) + h^2 beta^2 k(h beta): the squared RK4 factor bound."""
    q = h * beta
    return 1 - 2 * h * alpha * _rk4_a(q) + h * h * beta * beta * _rk4_k(q)


def _band_closed_form(m1: float, m2: float, l12: float, l21: float) -> tuple[float, float] | None:
    """SPEC 3 closed form of the N = 2 band (independent float re-derivation)."""
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


def _rel_close(a: float, b: float, tol: float = REL_TOL) -> bool:
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
    lo = min(float(m) for m in mu) - sum(float(x) for row in L for x in row) * max(float(x) for x in w) \
        / min(float(x) for x in w) - 1.0
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


# --------------------------------------------------------------------------- phase 1
def _phase1(doc: dict, rep: VerifyReport) -> None:
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
        rep.fail("game.sha256", f"the embedded game spec hashes to {digest[:16]}..., the certificate states "
                                f"{game['sha256'][:16]}...: the spec was edited after certification")
    if spec.get("name") != game["name"]:
        rep.fail("game.name", f"game.name {_show(game['name'])} differs from the embedded spec's {_show(spec.get('name'))}")
    if "players" in spec:  # markov / normal-form games define players elsewhere: checked on rebuild
        if spec["players"] == [{"name": p["name"], "dim": p["dim"]} for p in game["players"]]:
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
        rep.ok("region", f"{'box' if reg['norm'] == 'inf' else 'ball'} of radius {_g(reg['radius'])} "
                         f"around the {'solved equilibrium' if sc == 'equilibrium' else 'spec centre'}")
    else:
        rep.fail("region", "region (centre, radius or norm) differs from the embedded spec")

    # -- constants: couplings are norms
    neg = [(i, j) for i in range(n) for j in range(n) if i != j and _fr(L[i][j]) < 0]
    for i, j in neg:
        rep.fail(f"constants.L[{i}][{j}]", f"L[{i}][{j}] = {_g(L[i][j])} is negative (a coupling is a norm)")
    if beta is not None and beta < 0:  # pragma: no cover - validated non-negative
        rep.fail("constants.beta", "beta is negative")

    # -- weights
    wf = [_fr(x) for x in w]
    if all(x > 0 for x in wf) and wf[0] == 1:
        rep.ok("metric.weights", "weights are positive with w_1 = 1")
    else:
        rep.fail("metric.weights", f"weights must be positive with w_1 = 1, got {[_g(x) for x in w]}")

    # -- the margin: C(w, alpha) >= 0 exactly
    margin_ok = False
    if neg or not all(x > 0 for x in wf):
        rep.undecidable("sgn.margin", "not checked: negative couplings or non-positive weights")
    else:
        margin_ok = psd_exact(sgn_matrix_exact(mu, L, wf, alpha))
        if margin_ok:
            rep.ok("sgn.margin", f"C(w, {_g(alpha)}) is positive semidefinite (exact rational LDL^T)")
        else:
            est = _margin_estimate(mu, L, w)
            true = f"; the stated mu, L and w only give alpha_*(w) ~ {_g(est)}" if est is not None else ""
            rep.fail("sgn.margin", f"C(w, alpha) is not positive semidefinite at alpha = {_g(alpha)}{true}")
    if _fr(doc["rate"]) == _fr(alpha):
        rep.ok("rate", f"rate = sgn.margin = {_g(alpha)}")
    else:
        rep.fail("rate", f"rate = {_g(doc['rate'])} but the proved margin sgn.margin = {_g(alpha)}")
    should = bool(_fr(alpha) > 0 and beta is not None)
    if certified and should:
        rep.ok("certified", "certified: the margin is positive and beta finite")
    elif certified:
        rep.fail("certified", f"certified is true but sgn.margin = {_g(alpha)}"
                              + ("" if beta is not None else " and beta is unbounded") + " does not certify anything")
    else:
        reason = doc.get("reason") if isinstance(doc.get("reason"), str) else "no reason given"
        rep.fail("certified", f"the certificate does not certify convergence ({reason})")
    if doc["euclidean"]["margin"] > 0 and doc.get("euclidean", {}).get("certified") is False:
        rep.fail("euclidean.certified", "euclidean.margin > 0 but euclidean.certified is false")
    elif doc["euclidean"]["margin"] <= 0 and doc.get("euclidean", {}).get("certified") is True:
        rep.fail("euclidean.certified", f"euclidean.certified is true but euclidean.margin = {_g(doc['euclidean']['margin'])} <= 0")

    if certified and should and _fr(beta) > 0:
        _phase1_steps(doc, rep, _fr(alpha), _fr(beta))

    _phase1_band(doc, rep, mu, L, wf, alpha, certified)
    _phase1_ball(doc, rep, wf, alpha, certified)


def _euler_claims(rep: VerifyReport, prefix: str, e: dict, a: Fraction, b: Fraction) -> None:
    """max <= 2 alpha / beta^2, best <= alpha / beta^2, factor >= sqrt(1 - 2 h alpha + h^2 beta^2)."""
    for key in ("max", "best", "factor"):
        v = e.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            rep.fail(f"{prefix}.{key}", f"expected a non-negative number, got {_show(v)}")
            return
    emax = 2 * a / (b * b)
    if e["max"] > 0 and _at_most(e["max"], emax):
        rep.ok(f"{prefix}.max", f"{_g(e['max'])} <= 2 alpha / beta^2 = {_g(emax)}")
    else:
        rep.fail(f"{prefix}.max", f"stated {_g(e['max'])} but 2 alpha / beta^2 = {_g(emax)}")
    ebest = a / (b * b)
    if 0 < e["best"] and _at_most(e["best"], ebest) and _at_most(e["best"], _fr(e["max"])):
        rep.ok(f"{prefix}.best", f"{_g(e['best'])} <= alpha / beta^2 = {_g(ebest)}")
    else:
        rep.fail(f"{prefix}.best", f"stated {_g(e['best'])} but alpha / beta^2 = {_g(ebest)} "
                                     f"(and it must not exceed max = {_g(e['max'])})")
    h = _fr(e["best"])
    g = 1 - 2 * h * a + h * h * b * b
    f = _fr(e["factor"])
    if f < 1 and _at_least(f * f, g):
        rep.ok(f"{prefix}.factor", f"{_g(f)} >= sqrt(1 - 2 h alpha + h^2 beta^2) = {_g(math.sqrt(max(0.0, float(g))))} at h = best")
    else:
        rep.fail(f"{prefix}.factor", f"stated {_g(f)} but the proved bound at h = {_g(h)} is "
                                       f"sqrt(1 - 2 h alpha + h^2 beta^2) = {_g(math.sqrt(max(0.0, float(g))))}"
                                       + (" (a factor must be < 1)" if f >= 1 else ""))


def _phase1_steps(doc: dict, rep: VerifyReport, a: Fraction, b: Fraction) -> None:
    steps = doc["steps"]
    e, r = steps["euler"], steps["rk4"]
    if b < a:
        rep.fail("constants.beta", f"beta = {_g(b)} is below the margin {_g(a)}, impossible since "
                                   "alpha_*(w) <= alpha_true(w) <= beta(w)")
    # Euler (SPEC 4); the natural-gradient step of the Fisher geometry has the same bounds
    _euler_claims(rep, "steps.euler", e, a, b)
    if isinstance(steps.get("npg"), dict):
        _euler_claims(rep, "steps.npg", steps["npg"], a, b)
    # RK4: c4 re-derived here
    c4 = _c4()
    stated_c4 = r.get("c4")
    if stated_c4 is not None:
        if _at_most(stated_c4, Fraction(c4)):
            rep.ok("steps.rk4.c4", f"c4 = {_g(stated_c4)} (re-derived: {_g(c4)})")
        else:
            rep.fail("steps.rk4.c4", f"stated c4 = {_g(stated_c4)} exceeds the re-derived fixed point {_g(c4)}")
    rmax = _fr(r["max"])
    bound = Fraction(c4) * a / (b * b)
    if rmax > 0 and _at_most(rmax, bound) and _rk4_g(rmax, a, b) <= 1:
        rep.ok("steps.rk4.max", f"{_g(rmax)} <= c4 alpha / beta^2 = {_g(bound)}")
    else:
        rep.fail("steps.rk4.max", f"stated {_g(rmax)} but c4 alpha / beta^2 = {_g(bound)}: RK4 is not proved "
                                  "to contract at that step")
    if "best" in r and r.get("best") is not None:
        hb = _fr(r["best"])
        if 0 < hb and _at_most(hb, rmax):
            rep.ok("steps.rk4.best", f"{_g(hb)} <= max = {_g(rmax)}")
        else:
            rep.fail("steps.rk4.best", f"stated {_g(hb)} is not in (0, rk4.max = {_g(rmax)}]")
        if r.get("factor") is not None:
            gb = _rk4_g(hb, a, b)
            fr = _fr(r["factor"])
            if fr < 1 and _at_least(fr * fr, gb):
                rep.ok("steps.rk4.factor", f"{_g(fr)} >= sqrt(g(h)) = {_g(math.sqrt(max(0.0, float(gb))))} at h = best")
            else:
                rep.fail("steps.rk4.factor", f"stated {_g(fr)} but the proved bound at h = {_g(hb)} is "
                                             f"sqrt(g(h)) = {_g(math.sqrt(max(0.0, float(gb))))}"
                                             + (" (a factor must be < 1)" if fr >= 1 else ""))


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
            rep.fail(f"band[{k}]", f"low = {_g(lo)} is not below high = {_g(hi)}")
    if n == 2:
        cf = _band_closed_form(float(mu[0]) - float(ba), float(mu[1]) - float(ba), float(L[0][1]), float(L[1][0]))
        if cf is None:
            if band:
                rep.fail("band", f"the band at alpha = {_g(ba)} is empty (closed form) but the certificate lists one")
            else:
                rep.ok("band", "empty, as the closed form says")
            return
        if (0, 1) not in by_pair:
            rep.fail("band", f"missing: the closed form gives ({_g(cf[0])}, {_g(cf[1])})")
            return
    elif certified and _fr(alpha) > af:
        missing = [(i, j) for i in range(n) for j in range(i + 1, n) if (i, j) not in by_pair]
        if missing:
            rep.fail("band", f"pairs {missing} are missing although the weights certify")
    for (i, j), k in sorted(by_pair.items()):
        b = band[k]
        lo, hi = b["low"], b["high"]
        hi_f = math.inf if hi is None else float(hi)
        ok_lo = ok_hi = True
        msgs = []
        if n == 2:
            cf = _band_closed_form(float(mu[0]) - float(ba), float(mu[1]) - float(ba), float(L[0][1]), float(L[1][0]))
            if not _rel_close(float(lo), cf[0]) and not (cf[0] == 0 and lo == 0):
                ok_lo = False
                msgs.append(("low", f"stated {_g(lo)} but the closed form gives {_g(cf[0])}"))
            if not _rel_close(hi_f, cf[1]):
                ok_hi = False
                msgs.append(("high", f"stated {_g(hi)} but the closed form gives {_g(cf[1])}"))
        # exact PD tests of the pair's 2 x 2 principal block (for N = 2 that is C itself)
        mi, mj, lij, lji = mu[i], mu[j], L[i][j], L[j][i]
        lo_f = Fraction(lo)
        narrow = hi is not None and float(hi) <= float(lo) * (1 + 4e-9)
        # outside tests only where the closed form is well conditioned (not near p = q)
        outside = n == 2 and (hi is None or float(lo) == 0 or float(hi) > float(lo) * (1 + 1e-6))
        mid = Fraction(math.sqrt(float(lo) * float(hi))) if narrow and float(lo) > 0 else None
        if lo > 0:
            r_in = mid if mid is not None else lo_f * (1 + Fraction(1, 10**9))
            if not _pd2(mi, mj, lij, lji, r_in, af):
                ok_lo = False
                msgs.append(("low", f"C(w, {_g(ba)}) is not positive definite at w_j/w_i = {_g(r_in)} just inside the stated end {_g(lo)}"))
            elif outside and _pd2(mi, mj, lij, lji, lo_f * (1 - Fraction(1, 10**9)), af):
                ok_lo = False
                msgs.append(("low", f"C(w, {_g(ba)}) is still positive definite just below the stated end {_g(lo)}"))
        if hi is not None:
            hi_q = Fraction(hi)
            r_in = mid if mid is not None else hi_q * (1 - Fraction(1, 10**9))
            if hi_q > 0 and not _pd2(mi, mj, lij, lji, r_in, af):
                ok_hi = False
                msgs.append(("high", f"C(w, {_g(ba)}) is not positive definite at w_j/w_i = {_g(r_in)} just inside the stated end {_g(hi)}"))
            elif outside and _pd2(mi, mj, lij, lji, hi_q * (1 + Fraction(1, 10**9)), af):
                ok_hi = False
                msgs.append(("high", f"C(w, {_g(ba)}) is still positive definite just above the stated end {_g(hi)}"))
        for end, msg in msgs:
            rep.fail(f"band[{k}].{end}", f"w_{j}/w_{i}: {msg}")
        if ok_lo and ok_hi:
            how = "matches the closed form; exact PD just inside and not just outside each end" if n == 2 else \
                "inside the pair's 2 x 2 necessary band (exact PD just inside each end)"
            rep.ok(f"band[{k}]", f"w_{j}/w_{i} in ({_g(lo)}, {_g(hi)}): {how}")
        # the certified weights must lie in the band
        if certified and all(x > 0 for x in wf) and _fr(alpha) > af:
            r = wf[j] / wf[i]
            inside = (r > lo_f or (n > 2 and r == lo_f)) and (hi is None or r < Fraction(hi) or (n > 2 and r == Fraction(hi)))
            if inside:
                rep.ok(f"metric.weights[{j}]/[{i}]", f"w_{j}/w_{i} = {_g(r)} lies in band[{k}]")
            else:
                rep.fail("metric.weights", f"w_{j}/w_{i} = {_g(r)} lies outside the band ({_g(lo)}, {_g(hi)}) "
                                           "in which the weights must lie")


def _phase1_ball(doc: dict, rep: VerifyReport, wf, alpha, certified: bool) -> None:
    ball = doc.get("invariant_ball")
    eq = doc.get("equilibrium") if isinstance(doc.get("equilibrium"), dict) else {}
    if ball is None or not certified or not all(x > 0 for x in wf) or _fr(alpha) <= 0:
        return
    a = _fr(alpha)
    res = eq.get("residual_M")
    dist = eq.get("distance_bound_M")
    if res is None or dist is None:
        rep.fail("invariant_ball.radius_M", "an invariant ball is claimed without equilibrium.residual_M "
                                            "and equilibrium.distance_bound_M")
        return
    need = _fr(res) / a
    if _at_least(dist, need):
        rep.ok("equilibrium.distance_bound_M", f"{_g(dist)} >= residual_M / alpha = {_g(need)}")
    else:
        rep.fail("equilibrium.distance_bound_M", f"stated {_g(dist)} but residual_M / alpha = {_g(need)}")
    rM, rad = _fr(ball["radius_M"]), _fr(doc["region"]["radius"])
    # ||x - c||_M <= R sqrt(min w) keeps x in the box / ball of radius R: (rM + dist)^2 <= R^2 min w
    lhs, rhs = (rM + _fr(dist)) ** 2, rad * rad * min(wf)
    if _at_most(lhs, rhs):
        rep.ok("invariant_ball.radius_M", f"radius_M + distance = {_g(rM + _fr(dist))} <= R sqrt(min w) = {_g(math.sqrt(float(rhs)))}")
    else:
        rep.fail("invariant_ball.radius_M", f"radius_M + distance bound = {_g(rM + _fr(dist))} exceeds the largest "
                                            f"M-ball in the region, R sqrt(min w) = {_g(math.sqrt(float(rhs)))}")


# --------------------------------------------------------------------------- phase 2
def _unsafe(stated: float, true: float, direction: int, scale: float) -> bool:
    """True when ``stated`` is on the unsafe side of ``true`` by more than REL_TOL.

    direction -1: stated must not exceed true (mu, gamma); +1: must not be below (L, beta).
    """
    tol = REL_TOL * max(abs(true), abs(stated), 1e-6 * scale)
    return (stated > true + tol) if direction < 0 else (stated < true - tol)


def _point(x, k: int = 6) -> str:
    vals = ", ".join(f"{float(v):.6g}" for v in list(x)[:k])
    return f"x = [{vals}{', ...' if len(x) > k else ''}]"


def _hook(spec: dict, base_dir: Path, rep: VerifyReport) -> bool:
    """Check a Python hook's file against its recorded sha256 before anything runs it."""
    costs = spec.get("costs")
    if not (isinstance(costs, dict) and "python" in costs):
        return True
    ref, recorded = costs.get("python"), costs.get("sha256")
    if not isinstance(ref, str) or ref.count(":") != 1 or not isinstance(recorded, str):
        raise SpecError("game.spec.costs: expected {python: 'file.py:function', sha256: ...}")
    rel = ref.split(":")[0]
    path = base_dir / rel
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        rep.undecidable("game.hook", f"cannot read the hook {path} ({exc.strerror or exc}); "
                                     "pass --game GAME.yaml to say where the game lives")
        return False
    if digest != recorded:
        rep.fail("game.hook", f"hook file {rel} has sha256 {digest[:16]}..., the certificate recorded "
                              f"{recorded[:16]}...: the hook changed after certification (not run)")
        return False
    rep.ok("game.hook", f"hook file {rel} matches its recorded sha256")
    return True


def _inline_params(spec: dict) -> None:
    params = spec.get("params", {})
    if not isinstance(params, dict):
        raise SpecError("game.spec.params: expected an object")
    for name, value in params.items():
        if isinstance(value, dict):
            raise SpecError(f"game.spec.params.{name}: a canonical spec holds inline values, not {sorted(value)[:3]}")


def _spec_diff(a: dict, b: dict) -> str:
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    parts = []
    for k in keys:
        if k == "params" and isinstance(a.get(k), dict) and isinstance(b.get(k), dict):
            pa, pb = a[k], b[k]
            diff = sorted(p for p in set(pa) | set(pb) if pa.get(p) != pb.get(p))
            parts.append(f"params {', '.join(diff[:6])}")
        else:
            parts.append(k)
    return "; ".join(parts) or "nothing visible"


class _Phase2:
    def __init__(self, doc, rep, *, cert_path, game_path, resample, seed, simulate, recompute, strict,
                 sim_pairs, sim_steps):
        self.doc, self.rep = doc, rep
        self.cert_path, self.game_path = cert_path, game_path
        self.resample, self.seed, self.simulate, self.recompute, self.strict = resample, seed, simulate, recompute, strict
        self.sim_pairs, self.sim_steps = sim_pairs, sim_steps
        self.names = [p["name"] for p in doc["game"]["players"]]
        self.F_center = self.J = None

    def run(self) -> None:
        doc, rep = self.doc, self.rep
        spec = doc["game"]["spec"]
        if self.game_path is not None:
            base_dir = Path(self.game_path).parent
        elif self.cert_path is not None:
            base_dir = Path(self.cert_path).parent
        else:
            base_dir = Path(".")
        _inline_params(spec)
        if not _hook(spec, base_dir, rep):
            return
        t = time.perf_counter()
        from .jaxconfig import ensure_x64

        ensure_x64()
        import numpy as np

        from .spec import game_from_dict, load_game

        self.np = np
        game = game_from_dict(spec, base_dir, "game.spec")
        rep.timings["rebuild"] = time.perf_counter() - t
        self.game = game
        if game.sha256 == doc["game"]["sha256"]:
            rep.ok("game.spec", "rebuilding the embedded spec gives the certified sha256")
        else:
            rep.fail("game.spec", f"rebuilding the embedded spec gives sha256 {game.sha256[:16]}..., "
                                  f"not the certified {doc['game']['sha256'][:16]}...")
        if self.game_path is not None:
            sampling = spec.get("sampling", {}) if isinstance(spec.get("sampling"), dict) else {}
            fg = load_game(self.game_path, samples=sampling.get("samples"), seed=sampling.get("seed"))
            if fg.sha256 == doc["game"]["sha256"]:
                rep.ok("game.file", f"{self.game_path} still describes the certified game")
            else:
                rep.fail("game.file", f"{self.game_path} no longer describes the certified game "
                                      f"(differs in: {_spec_diff(fg.canonical, spec)}); certificates made with "
                                      "--set overrides do not match their file")
        rebuilt = [{"name": p.name, "dim": p.dim} for p in game.players]
        stated = [{"name": p["name"], "dim": p["dim"]} for p in doc["game"]["players"]]
        if rebuilt != stated:
            show = ", ".join(p["name"] for p in rebuilt), ", ".join(p["name"] for p in stated)
            if sorted(map(str, rebuilt)) == sorted(map(str, stated)):
                # the canonical spec does not pin the player order: every recomputed index would be permuted
                rep.undecidable("game.players", f"rebuilding the embedded spec orders the players ({show[0]}), the "
                                                f"certificate orders them ({show[1]}): constants cannot be compared")
                return
            rep.fail("game.players", f"the rebuilt game has players ({show[0]}), the certificate states ({show[1]})")
            return
        if "players" not in spec:
            rep.ok("game.players", f"{len(rebuilt)} players as in the rebuilt game")
        affine_claim = doc["game"].get("affine")
        prov = doc["constants"]["provenance"]
        if affine_claim is not None and affine_claim != game.affine:
            rep.fail("game.affine", f"the certificate says affine = {affine_claim}, the rebuilt game is "
                                    f"{'affine' if game.affine else 'not affine'}")
        if prov == "exact" and not game.affine:
            rep.fail("constants.provenance", "constants are labelled exact but the game is not affine "
                                             "(its Jacobian varies over the region)")
        if self.recompute or self.simulate:
            t = time.perf_counter()
            center = np.asarray(doc["region"]["center"], dtype=np.float64)
            from .constants import value_and_jacobian

            exact = game.affine and getattr(game, "transform", None) is None
            self.F_center = self.J = self.K = None
            if exact or not self.recompute:
                try:
                    self.F_center, self.J = value_and_jacobian(game, center)
                except NumericalError as exc:
                    rep.undecidable("constants", f"{exc}")
                    return
            if self.recompute:
                if exact:
                    self._exact()
                else:  # F(centre) and the sample Jacobians come with the recomputed statistics
                    self._sampled()
                if self.F_center is not None:
                    self._residual()
                self._tight()
            rep.timings["recompute"] = time.perf_counter() - t
        if self.simulate:
            t = time.perf_counter()
            self._simulate()
            rep.timings["simulate"] = time.perf_counter() - t

    # -- shared comparison
    def _compare(self, mu, L, beta, gamma, what: str) -> None:
        doc, rep, np = self.doc, self.rep, self.np
        k = doc["constants"]
        n = len(self.names)
        scale = float(max(np.max(np.abs(mu)), np.max(L), 1e-300))
        bad_mu = bad_L = 0
        for i in range(n):
            if _unsafe(float(k["mu"][i]), float(mu[i]), -1, scale):
                bad_mu += 1
                rep.fail(f"constants.mu[{i}]", f"mu_{self.names[i]} stated {_g(float(k['mu'][i]))} but {what} value is "
                                               f"{_g(float(mu[i]))}: the stated curvature is too large")
        for i in range(n):
            for j in range(n):
                if i != j and _unsafe(float(k["L"][i][j]), float(L[i, j]), +1, scale):
                    bad_L += 1
                    rep.fail(f"constants.L[{i}][{j}]", f"L_{self.names[i]},{self.names[j]} stated {_g(float(k['L'][i][j]))} "
                                                       f"but {what} value is {_g(float(L[i, j]))}: the stated coupling is too small")
        if not bad_mu:
            rep.ok("constants.mu", f"every stated mu_i <= {what} value (relative {REL_TOL:g})")
        if not bad_L:
            rep.ok("constants.L", f"every stated L_ij >= {what} value (relative {REL_TOL:g})")
        if k["beta"] is not None and _unsafe(float(k["beta"]), float(beta), +1, max(scale, abs(beta))):
            rep.fail("constants.beta", f"beta(w) stated {_g(float(k['beta']))} but {what} value is {_g(float(beta))}: too small")
        else:
            rep.ok("constants.beta", f"beta(w) = {_g(k['beta'])} >= {what} value {_g(float(beta))}")
        eg = doc["euclidean"]["margin"]
        if _unsafe(float(eg), float(gamma), -1, scale):
            rep.fail("euclidean.margin", f"stated gamma {_g(float(eg))} but {what} value is {_g(float(gamma))}: too large")
        else:
            rep.ok("euclidean.margin", f"gamma = {_g(float(eg))} <= {what} value {_g(float(gamma))}")

    def _exact(self) -> None:
        from .constants import exact_constants, weighted_constants

        doc, np = self.doc, self.np
        if doc["constants"]["provenance"] != "exact":
            self.rep.notes.append("the game is affine but its constants are labelled "
                                  f"{doc['constants']['provenance']}; compared with the exact values")
        k = exact_constants(self.game, self.J)
        beta = weighted_constants(self.game, doc["metric"]["weights"], J=self.J).beta
        self._compare(np.asarray(k.mu), np.asarray(k.L), beta, k.gamma, "the recomputed exact")
        self._thresholds()

    def _thresholds(self) -> None:
        """Each stated exact step threshold: the property holds on (0, h*(1 - 1e-6)]."""
        doc, rep, np = self.doc, self.rep, self.np
        ex = doc["steps"].get("exact")
        if not isinstance(ex, dict):
            return
        from .constants import weight_scaling

        s = weight_scaling(self.game, doc["metric"]["weights"])
        H = np.asarray(self.J, dtype=np.float64)
        K = s[:, None] * H / s[None, :]
        eye = np.eye(K.shape[0])

        def poly(h, A):
            if method == "euler":
                return eye - h * A
            hA = h * A
            return eye - hA + hA @ hA / 2.0 - hA @ hA @ hA / 6.0 + hA @ hA @ hA @ hA / 24.0

        for method in ("euler", "rk4"):
            for what in ("contraction", "stability"):
                hstar = ex[method][what]
                name = f"steps.exact.{method}.{what}"
                if hstar is None or hstar == 0:
                    continue
                hs = [hstar * t for t in (0.05, 0.2, 0.4, 0.6, 0.8, 0.9, 0.99, 0.999, 1 - 1e-6)]
                worst = 0.0
                for h in hs:
                    if what == "contraction":
                        v = float(np.linalg.norm(poly(h, K), 2))
                    else:
                        v = float(np.max(np.abs(np.linalg.eigvals(poly(h, H)))))
                    worst = max(worst, v)
                    if not v < 1.0:
                        label = "||T(h)||_M" if what == "contraction" else "spectral radius of T(h)"
                        rep.fail(name, f"{label} = {_g(v)} >= 1 at h = {_g(h)} below the stated threshold {_g(hstar)}")
                        break
                else:
                    rep.ok(name, f"holds on (0, {_g(hstar)}) (max {_g(worst)} < 1 on a grid up to h*(1 - 1e-6))")

    def _stats(self, points):
        """Per-point mu (n, N), L (n, N, N), gamma (n), beta (n), finite (n) with the jitted kernels."""
        from .constants import pointwise_statistics

        return pointwise_statistics(self.game, points, self.doc["metric"]["weights"], keep_jacobians=True)

    def _sampled(self) -> None:
        from .game import Sampling
        from .sampling import sample_region

        doc, rep, np = self.doc, self.rep, self.np
        game = self.game
        region = game.region.with_center(np.asarray(doc["region"]["center"], dtype=np.float64))
        k = doc["constants"]
        # 1. the claim "extrema over the certificate's own samples" is reproducible exactly
        pts = sample_region(region, game.sampling)
        if pts.shape[0] != k["samples"]:
            rep.fail("constants.samples", f"the spec's sampling gives {pts.shape[0]} points, the certificate states {k['samples']}")
        if k["seed"] is not None and k["seed"] != game.sampling.seed:
            rep.fail("constants.seed", f"stated seed {k['seed']} but the embedded spec samples with seed {game.sampling.seed}")
        st = self._stats(pts)
        self.F_center, self.K = st["value0"], st.get("jacobians")
        if not st["finite"].all():
            bad = int(np.argmin(st["finite"]))
            rep.undecidable("constants", f"the Jacobian is not finite at sample {bad}: {_point(pts[bad])}")
            return
        self._compare(st["mu"].min(axis=0), st["L"].max(axis=0), float(st["beta"].max()), float(st["gamma"].min()),
                      f"the recomputed ({pts.shape[0]} certificate samples)")
        # 2. fresh samples (a new seed): report every point that beats a stated bound
        if not self.resample:
            return
        method = game.sampling.method if game.sampling.method in ("sobol", "random") else "random"
        seed = self.seed if self.seed is not None else game.sampling.seed + 1
        fresh = sample_region(region, Sampling(method, int(self.resample), int(seed)))[1:]  # drop the centre
        st = self._stats(fresh)
        status = FAILED if (self.strict or k["provenance"] == "sound") else WARNING
        if not st["finite"].all():
            bad = int(np.argmin(st["finite"]))
            rep.undecidable("resample", f"the Jacobian is not finite at a fresh sample: {_point(fresh[bad])}")
            return
        found = 0
        n = len(self.names)
        mu_s = np.asarray(k["mu"], dtype=np.float64)
        L_s = np.asarray(k["L"], dtype=np.float64)

        def report(name, mask, values, stated, worst_idx, what):
            nonlocal found
            found += 1
            rep.add(name, status, f"{int(mask.sum())} of {fresh.shape[0]} fresh points (seed {seed}) beat the stated "
                                  f"{what} {_g(float(stated))}; worst {_g(float(values[worst_idx]))} at {_point(fresh[worst_idx])}")

        for i in range(n):
            v = st["mu"][:, i]
            mask = v < mu_s[i]
            if mask.any():
                report(f"resample.mu[{i}]", mask, v, mu_s[i], int(np.argmin(v)), f"mu_{self.names[i]}")
        for i in range(n):
            for j in range(n):
                if i == j:
                    continue
                v = st["L"][:, i, j]
                mask = v > L_s[i, j]
                if mask.any():
                    report(f"resample.L[{i}][{j}]", mask, v, L_s[i, j], int(np.argmax(v)),
                           f"L_{self.names[i]},{self.names[j]}")
        if k["beta"] is not None:
            v = st["beta"]
            mask = v > float(k["beta"])
            if mask.any():
                report("resample.beta", mask, v, k["beta"], int(np.argmax(v)), "beta(w)")
        if found:
            if status == WARNING:
                rep.notes.append("sampled constants are estimates (SPEC 2): fresh points beating them are warnings; "
                                 "use --strict to treat them as failed claims")
        else:
            rep.ok("resample", f"no stated bound is beaten at {fresh.shape[0]} fresh {method} points (seed {seed})")

    def _residual(self) -> None:
        from .constants import weight_scaling

        doc, rep, np = self.doc, self.rep, self.np
        eq = doc.get("equilibrium") if isinstance(doc.get("equilibrium"), dict) else {}
        stated = eq.get("residual_M")
        if stated is None:
            return
        s = weight_scaling(self.game, doc["metric"]["weights"])
        c = np.asarray(doc["region"]["center"], dtype=np.float64)
        F = np.asarray(self.F_center)
        J0 = self.J if self.J is not None else (self.K[0] if self.K is not None else np.zeros((1, 1)))
        if getattr(self.game, "transform", None) is not None:  # Fisher geometry: E^T F in the metric space
            F = self.game.transform(c).T @ F
        true = float(np.linalg.norm(s * F))
        # rounding of F(c) = (terms of size ||J|| ||c||): the tolerance of the comparison
        noise = 1e-13 * (1.0 + float(np.max(s)) * float(np.linalg.norm(J0, 2)) * float(np.linalg.norm(c)))
        if float(stated) >= true * (1 - REL_TOL) - noise:
            rep.ok("equilibrium.residual_M", f"||F(center)||_M = {_g(true)} <= stated {_g(float(stated))} (+ rounding)")
        else:
            rep.fail("equilibrium.residual_M", f"stated {_g(float(stated))} but ||F(center)||_M = {_g(true)}")

    # -- tight steps (issue 7): the stated metric must contract the step maps
    def _tight(self) -> None:
        doc, rep, np = self.doc, self.rep, self.np
        t = doc.get("tight")
        if not isinstance(t, dict):
            return
        from .tight import check_contraction, check_rate, sampled_factor, spectral_step_limit

        sizes = self.game.metric_block_sizes

        def metric(entry):
            if entry.get("weights") is not None:
                return np.diag(np.repeat(np.asarray(entry["weights"], dtype=np.float64), sizes))
            from scipy.linalg import block_diag

            return block_diag(*[np.asarray(b, dtype=np.float64) for b in entry["blocks"]])

        for method in ("euler", "rk4"):
            e = t.get(method)
            if not isinstance(e, dict) or not e.get("h"):
                continue
            name, h, factor, M = f"tight.{method}", float(e["h"]), float(e["factor"]), metric(e)
            if self.J is not None and t.get("provenance") == "exact":
                limit = spectral_step_limit(self.J, method)
                if h > limit:
                    rep.fail(name, f"h = {_g(h)} exceeds the true stability limit {_g(limit)}")
                elif check_contraction(self.J, h, M, factor, method):
                    rep.ok(name, f"||T(h)||_M <= {_g(factor)} < 1 at h = {_g(h)} proved exactly "
                                 f"(true limit {_g(limit)}, ratio {_g(h / limit)})")
                else:
                    rep.fail(name, f"the stated metric does not make T(h = {_g(h)}) contract with factor {_g(factor)} "
                                   "(exact rational check)")
            elif self.K is not None:
                worst = float(sampled_factor(self.K, h, M, method))
                if worst <= factor * (1 + 1e-9) and worst < 1:
                    rep.ok(name, f"max over the {len(self.K)} certificate samples of ||T(h)||_M = {_g(worst)} "
                                 f"<= {_g(factor)} at h = {_g(h)}")
                else:
                    rep.fail(name, f"at h = {_g(h)} a certificate sample has ||T(h)||_M = {_g(worst)} > {_g(factor)}")
            else:
                rep.undecidable(name, "no Jacobians to check the tight step against")
        r = t.get("rate")
        if isinstance(r, dict) and r.get("alpha") is not None and self.J is not None:
            if check_rate(self.J, metric(r), float(r["alpha"])):
                rep.ok("tight.rate", f"M H + H^T M >= 2 alpha M with alpha = {_g(float(r['alpha']))} proved exactly")
            else:
                rep.fail("tight.rate", f"the stated metric does not give the flow rate {_g(float(r['alpha']))}")

    # -- simulation
    def _simulate(self) -> None:
        doc, rep, np = self.doc, self.rep, self.np
        if not doc["certified"] or doc["constants"]["beta"] is None:
            rep.notes.append("simulation skipped: the certificate certifies no step size")
            return
        if getattr(self.game, "geometry", "euclidean") == "fisher":
            self._simulate_npg()
            return
        from .constants import weight_scaling

        game = self.game
        s = weight_scaling(game, doc["metric"]["weights"])
        c = np.asarray(doc["region"]["center"], dtype=np.float64)
        ball = doc.get("invariant_ball")
        w_min = min(float(x) for x in doc["metric"]["weights"])
        radius_M = float(ball["radius_M"]) if ball else float(doc["region"]["radius"]) * math.sqrt(w_min)
        if not radius_M > 0:
            radius_M = float(doc["region"]["radius"]) * math.sqrt(w_min)
        seed = self.seed if self.seed is not None else (doc["constants"]["seed"] or 0) + 1
        rng = np.random.default_rng(seed)
        d, P = c.shape[0], self.sim_pairs
        g = rng.standard_normal((2 * P, d))
        g /= np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-300)
        Z0 = c + g * (radius_M * rng.random((2 * P, 1)) ** (1.0 / d)) / s
        F = self._batched_F()
        e, r = doc["steps"]["euler"], doc["steps"]["rk4"]
        alpha, beta = float(doc["sgn"]["margin"]), float(doc["constants"]["beta"])
        runs = [("simulate.euler", "euler", float(e["best"]), float(e["factor"]), "certified factor at euler.best"),
                ("simulate.euler.max", "euler", 0.99 * float(e["max"]),
                 math.sqrt(max(0.0, 1 - 2 * 0.99 * float(e["max"]) * alpha + (0.99 * float(e["max"]) * beta) ** 2)),
                 "proved bound at 0.99 x euler.max")]
        if r.get("best") is not None and r.get("factor") is not None:
            runs.append(("simulate.rk4", "rk4", float(r["best"]), float(r["factor"]), "certified factor at rk4.best"))
        for name, method, h, certified_factor, label in runs:
            if not h > 0:
                continue
            obs, decay, diverged = self._run(F, Z0, s, method, h, self.sim_steps)
            T = self.sim_steps
            self.rep.simulation[name] = {"method": method, "h": h, "pairs": P, "steps": T, "observed_factor": obs,
                                         "certified_factor": certified_factor, "observed_decay": decay,
                                         "certified_decay": certified_factor ** T, "start_radius_M": radius_M,
                                         "seed": seed}
            slack = certified_factor * REL_TOL + 1e-12
            if diverged:
                rep.fail(name, f"{method} at h = {_g(h)}: trajectories diverge (non-finite); {label} {_g(certified_factor)}")
            elif obs > certified_factor + slack or obs >= 1.0:
                rep.fail(name, f"{method} at h = {_g(h)}: observed per-step M-distance factor {_g(obs)} > {label} "
                               f"{_g(certified_factor)}" + (" (distances grow)" if obs > 1 else ""))
            elif decay > certified_factor ** T * (1 + REL_TOL) + 1e-12:
                rep.fail(name, f"{method} at h = {_g(h)}: distance shrank by {_g(decay)} over {T} steps, "
                               f"more than the certified {_g(certified_factor ** T)}")
            else:
                rep.ok(name, f"{method} at h = {_g(h)}: observed factor {_g(obs)} <= {label} {_g(certified_factor)}; "
                             f"decay over {T} steps {_g(decay)} <= {_g(certified_factor ** T)} ({P} pairs)")

    def _simulate_npg(self) -> None:
        """Natural policy gradient pairs theta <- theta - h G^+ grad f at the certified step,
        distances in the Fisher metric M = blockdiag(w_i G_i) at the centre; Euclidean policy
        gradient at the same step is reported beside it."""
        import jax
        import jax.numpy as jnp

        from .constants import weight_scaling
        from .markov import natural_gradient

        doc, rep, np, game = self.doc, self.rep, self.np, self.game
        model = game.extras["model"]
        p = game.jax_params()
        pg = jax.jit(jax.vmap(game.pseudo_gradient, in_axes=(0, None)))
        npg = natural_gradient(model, tuple(pl.offset for pl in game.players), pg)  # the same compiled F
        c = np.asarray(doc["region"]["center"], dtype=np.float64)
        E_inv = np.linalg.pinv(game.transform(c))  # G~^{1/2} U^T: the Fisher frame
        s = weight_scaling(game, doc["metric"]["weights"])
        seed = self.seed if self.seed is not None else (doc["constants"]["seed"] or 0) + 1
        rng = np.random.default_rng(seed)
        P, d, r = self.sim_pairs, c.shape[0], 0.9 * float(doc["region"]["radius"])
        Z0 = c + rng.uniform(-r, r, (2 * P, d)) if doc["region"]["norm"] == "inf" else c + self._ball(rng, 2 * P, d, r)
        # distances are measured in the metric frame: s * (E_c^+ (x - y))
        frame = lambda Z: Z @ E_inv.T  # noqa: E731
        e = doc["steps"]["euler"]
        h, certified_factor = float(e["best"]), float(e["factor"])
        T = self.sim_steps
        for name, vector_field, label in (("simulate.npg", npg, "natural policy gradient"),
                                          ("simulate.pg", pg, "Euclidean policy gradient")):
            F = lambda Z, f=vector_field: np.asarray(f(jnp.asarray(Z), p))  # noqa: E731
            obs, decay, diverged = self._run(F, Z0, s, "euler", h, T, frame=frame)
            self.rep.simulation[name] = {"method": label, "h": h, "pairs": P, "steps": T, "observed_factor": obs,
                                         "certified_factor": certified_factor if name == "simulate.npg" else None,
                                         "observed_decay": decay, "seed": seed}
            if name == "simulate.pg":
                msg = f"{label} at the same h = {_g(h)}: observed factor {_g(obs)} in the Fisher metric (not certified)"
                (rep.ok if obs < 1 and not diverged else rep.warn)(name, msg)
                continue
            # sampled constants and a metric that moves with theta: a small relative slack
            slack = certified_factor * 1e-3
            if diverged or obs >= 1.0 or obs > certified_factor + slack:
                rep.fail(name, f"{label} at h = {_g(h)}: observed per-step factor {_g(obs)} > certified "
                               f"{_g(certified_factor)}" + (" (diverged)" if diverged else ""))
            else:
                rep.ok(name, f"{label} at h = {_g(h)}: observed factor {_g(obs)} <= certified {_g(certified_factor)}"
                             f" ({P} pairs, {T} steps, decay {_g(decay)})")

    def _ball(self, rng, n, d, r):
        np = self.np
        g = rng.standard_normal((n, d))
        g /= np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-300)
        return g * r * rng.random((n, 1)) ** (1.0 / d)

    def _batched_F(self):
        np = self.np
        c = np.asarray(self.doc["region"]["center"], dtype=np.float64)
        if self.game.affine:
            J, F0 = np.asarray(self.J), np.asarray(self.F_center)
            return lambda Z: F0 + (Z - c) @ J.T
        import jax
        import jax.numpy as jnp

        fn = jax.jit(jax.vmap(self.game.pseudo_gradient, in_axes=(0, None)))
        p = self.game.jax_params()
        return lambda Z: np.asarray(fn(jnp.asarray(Z), p))

    def _run(self, F, Z0, s, method: str, h: float, steps: int, frame=None):
        np = self.np
        P = Z0.shape[0] // 2
        Z = Z0.copy()

        def dist(Z):
            diff = Z[:P] - Z[P:]
            return np.linalg.norm(s * (diff if frame is None else frame(diff)), axis=1)

        d0 = dist(Z)
        prev = d0
        worst = 0.0
        diverged = False
        with np.errstate(all="ignore"):
            for _ in range(steps):
                if method == "euler":
                    Z = Z - h * F(Z)
                else:
                    k1 = F(Z)
                    k2 = F(Z - 0.5 * h * k1)
                    k3 = F(Z - 0.5 * h * k2)
                    k4 = F(Z - h * k3)
                    Z = Z - (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
                if not np.all(np.isfinite(Z)):
                    diverged = True
                    break
                cur = dist(Z)
                live = prev > 1e-9 * d0
                if live.any():
                    worst = max(worst, float(np.max(cur[live] / prev[live])))
                prev = cur
        decay = float(np.max(prev / d0)) if not diverged else math.inf
        return worst, decay, diverged


# ----------------------------------------------------------------------------- entry point
def verify_certificate(doc: dict, *, cert_path: str | Path | None = None, game_path: str | Path | None = None,
                       resample: int | None = 1024, seed: int | None = None, simulate: bool = False,
                       recompute: bool = True, strict: bool = False, sim_pairs: int = SIM_PAIRS,
                       sim_steps: int = SIM_STEPS) -> VerifyReport:
    """Verify the claims of a certificate dict (validated with :func:`validate_certificate`).

    ``recompute=False`` and ``simulate=False`` and no ``game_path``: the algebraic phase
    only, which imports neither JAX nor cvxpy (nor numpy). ``resample``: fresh sample
    points for sampled games (0 / None: none); ``seed``: their seed (default: the
    certificate's seed + 1), also used for the simulation's random starts.

    SpecError (exit 2) for a malformed certificate or embedded spec; numerical trouble in
    the recomputation becomes an ``undecidable`` check (exit 3) rather than an exception.
    """
    label = str(cert_path) if cert_path is not None else "<certificate>"
    validate_certificate(doc, label)
    rep = VerifyReport()
    rep.info = {"certificate": None if cert_path is None else str(cert_path), "game": doc["game"]["name"],
                "sha256": doc["game"]["sha256"], "provenance": doc["constants"]["provenance"],
                "certified": doc["certified"], "tool_version": doc["provenance"]["tool_version"]}
    source = doc["game"].get("source")
    if game_path is None and cert_path is not None and isinstance(source, str) and source:
        candidate = Path(cert_path).parent / source  # the spec the certificate was made from
        if candidate.is_file():
            game_path = candidate
            rep.notes.append(f"spec file {candidate} found through game.source; checked against the certificate")
        else:
            rep.notes.append(f"game.source {source} not found next to the certificate; checked the embedded spec only")
    t = time.perf_counter()
    try:
        _phase1(doc, rep)
    except SpecError as exc:
        raise SpecError(f"{label}: {exc}") from None
    except (NumericalError, ArithmeticError, ValueError) as exc:
        rep.undecidable("algebra", f"numerical breakdown in the exact checks: {type(exc).__name__}: {exc}")
    rep.timings["algebra"] = time.perf_counter() - t
    if recompute or simulate or game_path is not None:
        phase2 = _Phase2(doc, rep, cert_path=cert_path, game_path=game_path, resample=resample, seed=seed,
                         simulate=simulate, recompute=recompute, strict=strict, sim_pairs=sim_pairs,
                         sim_steps=sim_steps)
        try:
            phase2.run()
        except SpecError as exc:
            raise SpecError(f"{label}: {exc}") from None
        except NumericalError as exc:
            rep.undecidable("recompute", str(exc))
        except (ArithmeticError, FloatingPointError) as exc:
            rep.undecidable("recompute", f"numerical breakdown: {type(exc).__name__}: {exc}")
    else:
        rep.notes.append("constants not recomputed (algebraic checks only)")
    return rep
