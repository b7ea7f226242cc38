"""Parameter sweeps: certify a game over a grid of parameter values.

    ranges = [parse_param_range("lam=0:2.5:61")]
    doc = run_sweep(load_game("games/lq64.yaml"), ranges)
    doc["rows"][k]  # {"lam": ..., "certified": ..., "euclidean_margin": ..., "sgn_margin": ...}

Every grid point is ``certify(with_params(game, {...}))``: :func:`sgncert.games.spec.with_params`
keeps the compiled expressions and JAX kernels of ``game``, so a sweep compiles once.
A point whose certification fails numerically becomes a row with ``certified: false``
and an ``error`` field; bad input (unknown parameter, malformed range) raises
:class:`SpecError`.

Row fields (JSON-safe: ``inf`` becomes ``null``):

- the swept parameter values;
- ``certified`` (SGN), ``euclidean_margin`` (gamma), ``euclidean_certified`` (gamma > 0);
- ``sgn_margin`` (alpha_*(w), proved by exact arithmetic when certified, the float
  estimate otherwise), ``tau`` (sup_w alpha_*), ``gain`` (small-gain radius, null when
  some mu_i <= 0), ``weights``;
- ``alpha_true`` (true weighted margin at w; only for exact (affine) games, else null);
- ``beta``, ``euler_max``, ``euler_best``, ``rk4_max`` (0.0 when not certified, as in
  certificates);
- affine games: ``euler_stability``, ``rk4_stability`` (largest steps with spectral
  radius < 1) and ``euler_contraction``, ``rk4_contraction`` (largest steps contracting
  in the certified metric); null for sampled games or when unbounded;
- ``tight_euler``, ``tight_rk4``: with ``tight=True``, the largest steps proved over the
  scalar metric family (:mod:`sgncert.analysis.tight`; null otherwise);
- ``provenance`` (``exact`` | ``sampled``), ``error`` (null unless the point failed).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import NumericalError, SpecError
from ..games.fields import did_you_mean
from ..games.model import Game
from ..games.spec import with_params
from ..util.jaxenv import float64
from ..util.jsondoc import dumps_document, jsonable
from ..util.version import __version__
from .certify import Certification, certify

KIND = "sgncert.sweep"
SCHEMA_VERSION = "1"
MAX_POINTS = 100_000

ROW_FIELDS = (
    "certified",
    "euclidean_margin",
    "euclidean_certified",
    "sgn_margin",
    "tau",
    "gain",
    "alpha_true",
    "beta",
    "euler_max",
    "euler_best",
    "rk4_max",
    "euler_stability",
    "rk4_stability",
    "euler_contraction",
    "rk4_contraction",
    "tight_euler",
    "tight_rk4",
    "weights",
    "provenance",
    "error",
)


@dataclass(frozen=True)
class ParamRange:
    """``name=start:stop:num``: ``num`` equally spaced values, both ends included."""

    name: str
    start: float
    stop: float
    num: int

    @property
    def values(self) -> list[float]:
        if self.num == 1:
            return [self.start]
        step = (self.stop - self.start) / (self.num - 1)
        vals = [self.start + k * step for k in range(self.num)]
        vals[-1] = self.stop
        return vals

    def to_dict(self) -> dict:
        return {"name": self.name, "start": self.start, "stop": self.stop, "num": self.num}


def parse_param_range(text: str) -> ParamRange:
    """Parse ``name=start:stop:num`` (inclusive linspace, ``num >= 1``)."""
    if not isinstance(text, str) or "=" not in text:
        raise SpecError(f"--param {text!r}: expected NAME=START:STOP:NUM, e.g. lam=0:2.5:61")
    name, _, rng = text.partition("=")
    name = name.strip()
    if not name.isidentifier():
        raise SpecError(f"--param {text!r}: {name!r} is not a parameter name")
    parts = rng.split(":")
    if len(parts) != 3:
        raise SpecError(f"--param {text!r}: expected NAME=START:STOP:NUM (three fields after '='), e.g. lam=0:2.5:61")
    try:
        start, stop = float(parts[0]), float(parts[1])
    except ValueError:
        raise SpecError(f"--param {text!r}: START and STOP must be numbers") from None
    if not (math.isfinite(start) and math.isfinite(stop)):
        raise SpecError(f"--param {text!r}: START and STOP must be finite")
    try:
        num = int(parts[2].strip())
    except ValueError:
        raise SpecError(f"--param {text!r}: NUM must be a positive integer, got {parts[2]!r}") from None
    if not 1 <= num <= MAX_POINTS:
        raise SpecError(f"--param {text!r}: NUM must be between 1 and {MAX_POINTS}, got {num}")
    return ParamRange(name, start, stop, num)


def as_ranges(ranges: Iterable[ParamRange | str]) -> list[ParamRange]:
    out = [parse_param_range(r) if isinstance(r, str) else r for r in ranges]
    if not out:
        raise SpecError("a sweep needs at least one --param NAME=START:STOP:NUM")
    names = [r.name for r in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise SpecError(f"--param: parameter {sorted(dup)[0]!r} is swept twice")
    if math.prod(r.num for r in out) > MAX_POINTS:
        raise SpecError(f"the sweep grid has {math.prod(r.num for r in out)} points (limit {MAX_POINTS})")
    return out


def check_ranges(game: Game, ranges: Sequence[ParamRange]) -> None:
    """Every swept parameter exists in ``game`` and is a scalar."""
    for r in ranges:
        if r.name not in game.params:
            hint = did_you_mean(r.name, game.params)
            raise SpecError(f"--param {r.name}: the game has no parameter '{r.name}'{hint}")
        if game.params[r.name].size != 1:
            raise SpecError(
                f"--param {r.name}: only scalar parameters can be swept (shape {tuple(game.params[r.name].shape)})"
            )


def certification_row(c: Certification, values: dict[str, float]) -> dict[str, Any]:
    """The sweep row of one :class:`~sgncert.analysis.certify.Certification`."""
    exact = c.constants.provenance == "exact"
    row: dict[str, Any] = dict(values)
    row.update(
        {
            "certified": bool(c.certified),
            "euclidean_margin": float(c.constants.gamma),
            "euclidean_certified": bool(c.constants.gamma > 0),
            "sgn_margin": float(c.margin if c.certified else c.margin_float),
            "tau": float(c.perron.tau),
            "gain": c.gain,
            "alpha_true": float(c.weighted.alpha_true) if exact else None,
            "beta": float(c.weighted.beta),
            "euler_max": c.steps.euler_max if c.steps else 0.0,
            "euler_best": c.steps.euler_best if c.steps else 0.0,
            "rk4_max": c.steps.rk4_max if c.steps else 0.0,
            "euler_stability": c.thresholds.euler_stability if c.thresholds else None,
            "rk4_stability": c.thresholds.rk4_stability if c.thresholds else None,
            "euler_contraction": c.thresholds.euler_contraction if c.thresholds else None,
            "rk4_contraction": c.thresholds.rk4_contraction if c.thresholds else None,
            "tight_euler": c.tight.euler.h if c.tight else None,
            "tight_rk4": c.tight.rk4.h if c.tight else None,
            "weights": [float(v) for v in c.weights],
            "provenance": c.constants.provenance,
            "error": None,
        }
    )
    return row


def _failed_row(values: dict, exc: Exception, provenance: str) -> dict:
    row: dict[str, Any] = dict(values)
    row.update(dict.fromkeys(ROW_FIELDS))
    row.update({"certified": False, "euclidean_certified": False, "provenance": provenance, "error": str(exc)})
    return row


def last_certified(rows: Sequence[dict], name: str, key: str = "certified") -> float | None:
    """Largest value of parameter ``name`` among the rows with ``row[key]`` true (None if none)."""
    vals = [r[name] for r in rows if r.get(key)]
    return max(vals) if vals else None


def boundaries(rows: Sequence[dict], name: str) -> dict:
    """Certification boundaries along a 1-D sweep: last grid value certified by each test.

    For a sweep whose certified set is an interval starting at the first grid point (the
    usual case) this is the end of that interval; ``first_failure`` is the next grid value.
    """
    out = {}
    for label, key in (("euclidean", "euclidean_certified"), ("sgn", "certified")):
        ok = [bool(r.get(key)) for r in rows]
        vals = [r[name] for r in rows]
        last = last_certified(rows, name, key)
        first_fail = None
        if ok and ok[0]:
            k = ok.index(False) if False in ok else None
            first_fail = vals[k] if k is not None else None
        out[label] = {"last_certified": last, "first_failure": first_fail}
    return out


@float64
def run_sweep(
    game: Game,
    ranges: Iterable[ParamRange | str],
    progress: Callable[[str, int, int], None] | None = None,
    tight: bool = False,
) -> dict:
    """Certify ``game`` at every point of the cartesian grid of ``ranges``.

    ``tight``: also the largest proved steps over the scalar metric family (about 0.5 s a
    point for a 64-dim game); bands are not computed (they are not part of a row).

    Returns ``{"kind": "sgncert.sweep", "schema_version", "game": {...}, "params": [...],
    "rows": [...], "boundaries": {...}}`` (JSON-safe). ``progress(stage, done, total)``
    is called after each point with stage ``"sweep"``.
    """
    ranges = as_ranges(ranges)
    check_ranges(game, ranges)
    grid = list(itertools.product(*(r.values for r in ranges)))
    total = len(grid)
    provenance = "exact" if game.affine else "sampled"
    rows = []
    if progress:
        progress("sweep", 0, total)
    for k, point in enumerate(grid):
        values = {r.name: float(v) for r, v in zip(ranges, point)}
        g = with_params(game, values)
        try:
            row = certification_row(certify(g, tight=tight, bands=False), values)
        except NumericalError as exc:
            row = _failed_row(values, exc, provenance)
        rows.append(jsonable(row))
        if progress:
            progress("sweep", k + 1, total)
    doc = {
        "kind": KIND,
        "schema_version": SCHEMA_VERSION,
        "game": {
            "name": game.name,
            "source": game.source,
            "sha256": game.sha256,
            "affine": game.affine,
            "provenance": provenance,
            "players": [{"name": p.name, "dim": p.dim} for p in game.players],
            "params": {k: v.tolist() for k, v in game.params.items() if v.size == 1},
        },
        "params": [r.to_dict() for r in ranges],
        "rows": rows,
        "tool_version": __version__,
    }
    if len(ranges) == 1:
        doc["boundaries"] = boundaries(rows, ranges[0].name)
    return jsonable(doc)


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return " ".join(_csv_cell(v) for v in value)
    return str(value)


def rows_to_csv(rows: Sequence[dict]) -> str:
    """CSV text with a header: the columns of the first row, then any others in order of appearance.

    ``null`` is an empty cell, booleans are ``true`` / ``false``, lists (weights) are
    space-separated, floats use the shortest round-trip form.
    """
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(row.get(c)) for c in columns])
    return buf.getvalue()


def dumps_sweep(doc: dict) -> str:
    """The sweep document as JSON text (sorted keys, indent 2, trailing newline)."""
    return dumps_document(doc)
