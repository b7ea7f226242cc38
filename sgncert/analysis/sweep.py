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
- ``certified`` (some proof of the verdict holds, docs/theory.md §12: sgn, euclidean and
  weighted, and lmi with ``tight``), ``proofs`` (those that hold), ``proof`` (the best one,
  null when none), ``best_rate`` (its proved rate), ``best_step`` (the largest
  proved Euler / natural policy gradient step of any proof, 0.0 when none),
  ``best_margin`` (the largest of alpha_*(w), gamma and alpha_true(w) in floating point:
  positive where the sgn, euclidean or weighted proof holds; the verdict boundary's secant);
- ``sgn_certified`` (the SGN proof holds), ``euclidean_margin`` (gamma),
  ``euclidean_certified`` (gamma > 0);
- ``sgn_margin`` (alpha_*(w), proved by exact arithmetic when SGN certifies, the float
  estimate otherwise), ``tau`` (sup_w alpha_*), ``gain`` (small-gain radius, null when
  some mu_i <= 0), ``weights``;
- ``alpha_true`` (true weighted margin at w; only for exact (affine) games, else null);
- ``beta``, ``euler_max``, ``euler_best``, ``rk4_max`` (the SGN steps; 0.0 when SGN does
  not certify, as in certificates);
- affine games: ``euler_stability``, ``rk4_stability`` (largest steps with spectral
  radius < 1) and ``euler_contraction``, ``rk4_contraction`` (largest steps contracting
  in the certified metric); null for sampled games or when unbounded;
- ``tight_euler``, ``tight_rk4``: with ``tight=True``, the largest steps proved over the
  scalar metric family (:mod:`sgncert.analysis.tight`; null otherwise);
- ``provenance`` (``exact`` | ``sampled``), ``error`` (null unless the point failed).

A 1-D sweep also has ``boundaries``: for the Euclidean test (gamma > 0), the SGN test
(``sgn_certified``) and the verdict (``certified``: any proof), the bracket ``(certified_up_to, fails_at]`` around the point where the
test stops certifying, located between the grid points by a few more certifications of
the same kind (:func:`boundaries`), with the grid values it started from:

    doc["boundaries"]["sgn"]  # {"certified_up_to": 1.41421356, "fails_at": 1.41421358,
                              #  "grid_last_certified": 1.375, "grid_first_failure": 1.41666...,
                              #  "grid_next_certified": None, "evaluations": 2, "rtol": 1e-06}
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import NumericalError, SpecError
from ..games.fields import did_you_mean
from ..games.model import Game
from ..games.spec import with_params
from ..util.jaxenv import float64
from ..util.jsondoc import dumps_document, jsonable
from ..util.version import __version__
from .certify import Certification, certify
from .cluster import GamePayload, LocalRunner, Runner, rebuilt_game

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
    best = c.verdict.best if c.verdict is not None else None
    thresholds = None if c.game.constrained else c.thresholds  # thresholds of the unprojected linear maps
    steps = c.verdict.best_steps() if c.verdict is not None else {}
    first = steps.get("npg" if c.game.geometry == "fisher" else "euler")
    row.update(
        {
            "certified": bool(c.certified),
            "proof": None if best is None else best.method,
            "proofs": [] if c.verdict is None else [p.method for p in c.verdict.proofs if p.holds],
            "best_rate": None if best is None else best.rate,
            "best_step": 0.0 if first is None else first[1].h,
            "best_margin": float(max(c.margin_float, c.constants.gamma, c.weighted.alpha_true)),
            "sgn_certified": bool(c.sgn_certified),
            "euclidean_margin": float(c.constants.gamma),
            "euclidean_certified": bool(c.constants.gamma > 0),
            "sgn_margin": float(c.margin if c.sgn_certified else c.margin_float),
            "tau": float(c.perron.tau),
            "gain": c.gain,
            "alpha_true": float(c.weighted.alpha_true) if exact else None,
            "beta": float(c.weighted.beta),
            "euler_max": c.steps.euler_max if c.steps else 0.0,
            "euler_best": c.steps.euler_best if c.steps else 0.0,
            "rk4_max": (c.steps.rk4_max if c.steps else 0.0) if not c.game.constrained else None,
            "euler_stability": thresholds.euler_stability if thresholds else None,
            "rk4_stability": thresholds.rk4_stability if thresholds else None,
            "euler_contraction": thresholds.euler_contraction if thresholds else None,
            "rk4_contraction": thresholds.rk4_contraction if thresholds else None,
            "tight_euler": c.tight.euler.h if c.tight else None,
            "tight_rk4": c.tight.rk4.h if c.tight and c.tight.rk4 is not None else None,
            "weights": [float(v) for v in c.weights],
            "provenance": c.constants.provenance,
            "error": None,
        }
    )
    return row


def _failed_row(values: dict, exc: Exception, provenance: str) -> dict:
    row: dict[str, Any] = dict(values)
    row.update(dict.fromkeys(ROW_FIELDS))
    row.update(
        {
            "certified": False,
            "sgn_certified": False,
            "euclidean_certified": False,
            "provenance": provenance,
            "error": str(exc),
        }
    )
    return row


def last_certified(rows: Sequence[dict], name: str, key: str = "certified") -> float | None:
    """Largest value of parameter ``name`` among the rows with ``row[key]`` true (None if none)."""
    vals = [r[name] for r in rows if r.get(key)]
    return max(vals) if vals else None


def euclidean_passes(row: dict) -> bool:
    """The Euclidean test of a sweep row: gamma > 0."""
    return bool(row.get("euclidean_certified"))


def sgn_passes(row: dict) -> bool:
    """The SGN test of a sweep row: the small-gain proof holds (a proved alpha_*(w) > 0)."""
    margin = row.get("sgn_margin")
    return bool(row.get("sgn_certified")) and isinstance(margin, (int, float)) and margin > 0


def verdict_passes(row: dict) -> bool:
    """The verdict of a sweep row: some proof holds (docs/theory.md §12)."""
    return bool(row.get("certified"))


#: the tests whose boundary a 1-D sweep locates: label, test of a row, its margin's key
BOUNDARY_TESTS: tuple[tuple[str, Callable[[dict], bool], str], ...] = (
    ("euclidean", euclidean_passes, "euclidean_margin"),
    ("sgn", sgn_passes, "sgn_margin"),
    ("certified", verdict_passes, "best_margin"),
)
#: default bracket width at which a boundary search stops, relative to the grid step
BOUNDARY_RTOL = 1e-6
#: most certifications one boundary search may spend (bisection alone needs 20 for 1e-6)
BOUNDARY_MAX_EVALUATIONS = 64


def point_row(game: Game, values: dict[str, float], tight: bool = False) -> dict[str, Any]:
    """The sweep row of ``game`` at the parameter ``values`` (with the tight steps and the
    lmi proof when ``tight``, as the grid rows), a failed row when the certification breaks
    down numerically."""
    try:
        return certification_row(certify(with_params(game, values), tight=tight, bands=False), values)
    except NumericalError as exc:
        return _failed_row(values, exc, "exact" if game.affine else "sampled")


def _point_at(game: Game, name: str, tight: bool, value: float) -> dict[str, Any]:
    return point_row(game, {name: value}, tight)


def _short_decimal(x: float, lo: float, hi: float) -> float:
    """A float with few significant digits in ``[lo, hi]`` (a window around ``x``), so that
    the located boundaries print exactly and briefly; ``x`` itself at worst."""
    for digits in range(1, 18):
        y = float(f"{x:.{digits}g}")
        if lo <= y <= hi:
            return y
    return x


def _margin(row: dict, key: str) -> float | None:
    v = row.get(key)
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def locate_crossing(
    evaluate: Callable[[float], dict],
    passes: Callable[[dict], bool],
    margin_key: str,
    a: tuple[float, dict],
    b: tuple[float, dict],
    rtol: float = BOUNDARY_RTOL,
    max_evaluations: int = BOUNDARY_MAX_EVALUATIONS,
) -> tuple[float, float, int]:
    """Shrink the bracket ``(a, b)`` around a crossing of the test ``passes(row)``.

    ``a`` and ``b`` are ``(value, row)``: ``a``'s row passes the test, ``b``'s fails (a
    ``b < a`` is fine). ``evaluate(value)`` certifies at a new value and returns its row.
    Every trial point lies inside the current bracket and replaces the end whose verdict it
    shares, so the returned ``(a, b, evaluations)`` still has ``a`` certified and ``b``
    not, each by a certification. Stops when ``|b - a| <= rtol * |b0 - a0|`` or after
    ``max_evaluations``. Trial points follow the secant of ``row[margin_key]`` through the
    bracket ends where the margins straddle zero (a smooth margin crosses in 2-4 steps), and
    bisect otherwise or when the secant does not halve the bracket every two steps; each
    is rounded to the fewest significant digits within a quarter of the tolerance.
    """
    (xa, ra), (xb, rb) = a, b
    fa, fb = _margin(ra, margin_key), _margin(rb, margin_key)
    tol = rtol * abs(xb - xa)
    widths = [abs(xb - xa)]
    evaluations = 0
    while abs(xb - xa) > tol and evaluations < max_evaluations:
        width = abs(xb - xa)
        x = xa + (xb - xa) / 2
        stalled = len(widths) >= 3 and width > widths[-3] / 2
        if not stalled and fa is not None and fb is not None and fa > 0 >= fb and fa != fb:
            x = xa + (xb - xa) * (fa / (fa - fb))
        lo, hi = min(xa, xb) + tol / 2, max(xa, xb) - tol / 2  # keeps every step >= tol / 4
        x = min(max(x, lo), hi)
        x = _short_decimal(x, x - tol / 4, x + tol / 4)
        if x in (xa, xb):  # the bracket is at float resolution
            break
        row = evaluate(x)
        evaluations += 1
        if passes(row):
            xa, fa = x, _margin(row, margin_key)
        else:
            xb, fb = x, _margin(row, margin_key)
        widths.append(abs(xb - xa))
    return xa, xb, evaluations


def boundaries(
    rows: Sequence[dict],
    name: str,
    game: Game | None = None,
    rtol: float | None = BOUNDARY_RTOL,
    max_evaluations: int = BOUNDARY_MAX_EVALUATIONS,
    progress: Callable[[str, int, int], None] | None = None,
    tight: bool = False,
) -> dict:
    """Where each test stops certifying along a 1-D sweep (grid order), per test
    ``{"euclidean": {...}, "sgn": {...}, "certified": {...}}`` (:func:`euclidean_passes`:
    gamma > 0; :func:`sgn_passes`: alpha_*(w) > 0; :func:`verdict_passes`: some proof holds,
    the lmi proof only with ``tight``, as in the grid rows):

    - ``grid_last_certified``: the last grid value of the run of certified points that
      starts at the first grid point (None when the first point is not certified);
      ``grid_first_failure``: the next grid value (None when every point is certified);
    - ``certified_up_to``, ``fails_at``: the bracket around the crossing between those two
      grid values, located by re-certifying ``game`` in between (:func:`locate_crossing`,
      to ``rtol`` of the grid step): ``certified_up_to`` is certified and ``fails_at`` is
      not, each by a certification, so the crossing lies in ``(certified_up_to,
      fails_at]``. Without ``game`` (or with ``rtol=None``) they are the grid values;
    - ``grid_next_certified``: the first certified grid value after ``grid_first_failure``
      (None when none; otherwise the certified set is not one interval from the first grid
      point and only its first crossing is located);
    - ``evaluations``: the certifications the search made (at most ``max_evaluations``: the
      bracket may then be wider than asked); ``rtol``: the tolerance (None: not located).

    A row that failed numerically counts as not certified. ``progress(stage, done, total)``
    is called with stage ``"boundaries"`` after each test's search.
    """
    if rtol is not None and not (math.isfinite(rtol) and rtol > 0):
        raise SpecError(f"boundary tolerance must be a positive number, got {rtol!r}")
    vals = [r[name] for r in rows]
    out = {}
    located = game is not None and rtol is not None
    if located and progress:
        progress("boundaries", 0, len(BOUNDARY_TESTS))
    for i, (label, passes, margin_key) in enumerate(BOUNDARY_TESTS):
        ok = [passes(r) for r in rows]
        k = ok.index(False) if False in ok else len(rows)  # first failing grid point
        last = vals[k - 1] if k > 0 else None
        first_fail = vals[k] if k < len(rows) else None
        nxt = next((vals[j] for j in range(k + 1, len(rows)) if ok[j]), None)
        entry = {
            "certified_up_to": last,
            "fails_at": first_fail,
            "grid_last_certified": last,
            "grid_first_failure": first_fail,
            "grid_next_certified": nxt,
            "evaluations": 0,
            "rtol": None,
        }
        if game is not None and rtol is not None and 0 < k < len(rows):
            a, b, n = locate_crossing(
                functools.partial(_point_at, game, name, tight),
                passes,
                margin_key,
                (vals[k - 1], rows[k - 1]),
                (vals[k], rows[k]),
                rtol=rtol,
                max_evaluations=max_evaluations,
            )
            entry.update({"certified_up_to": a, "fails_at": b, "evaluations": n, "rtol": rtol})
        out[label] = entry
        if located and progress:
            progress("boundaries", i + 1, len(BOUNDARY_TESTS))
    return out


@float64
def sweep_point(shared: Any, item: tuple[dict[str, float], bool]) -> dict:
    """One row of a sweep: the game (or, on a cluster worker, the payload it is rebuilt
    from) certified at the parameter values ``item[0]`` (``item[1]``: tight steps)."""
    values, tight = item
    game = rebuilt_game(shared) if isinstance(shared, GamePayload) else shared
    g = with_params(game, values)
    try:
        row = certification_row(certify(g, tight=tight, bands=False), values)
    except NumericalError as exc:
        row = _failed_row(values, exc, "exact" if game.affine else "sampled")
    return jsonable(row)


class Journal(Protocol):
    """Rows already computed (``done``: grid index -> row) and where to record new ones."""

    @property
    def done(self) -> Mapping[int, dict]: ...

    def record(self, index: int, row: dict) -> None: ...


@float64
def run_sweep(
    game: Game,
    ranges: Iterable[ParamRange | str],
    progress: Callable[[str, int, int], None] | None = None,
    tight: bool = False,
    boundary_rtol: float | None = BOUNDARY_RTOL,
    runner: Runner | None = None,
    journal: Journal | None = None,
) -> dict:
    """Certify ``game`` at every point of the cartesian grid of ``ranges``.

    ``tight``: also the largest proved steps over the scalar metric family (about 0.5 s a
    point for a 64-dim game); bands are not computed (they are not part of a row).

    One swept parameter: ``boundaries`` (see :func:`boundaries`) brackets where each test
    stops certifying, located between the grid points to ``boundary_rtol`` of the grid step
    by a few more certifications (``None``: the grid values only). Several parameters: no
    ``boundaries`` (the rows hold the verdicts; the 2-D plot draws the zero contours).

    Returns ``{"kind": "sgncert.sweep", "schema_version", "game": {...}, "params": [...],
    "rows": [...], "boundaries": {...}}`` (JSON-safe). ``progress(stage, done, total)``
    is called after each point with stage ``"sweep"``, then after each boundary search with
    stage ``"boundaries"``.

    ``runner``: where the grid points run (:mod:`sgncert.analysis.cluster`; default this
    process; the boundary searches always run here). ``journal``: rows already computed
    (a resumed sweep: those points are not run again) and a ``record`` for each new row.
    The rows are the same whatever the runner.
    """
    ranges = as_ranges(ranges)
    check_ranges(game, ranges)
    grid = list(itertools.product(*(r.values for r in ranges)))
    total = len(grid)
    rows: list[dict | None] = [None] * total
    done = dict(journal.done) if journal is not None else {}
    for k, row in done.items():
        rows[k] = row
    todo = [k for k in range(total) if rows[k] is None]
    if progress:
        progress("sweep", total - len(todo), total)
    items = [({r.name: float(v) for r, v in zip(ranges, grid[k])}, tight) for k in todo]
    run = runner if runner is not None else LocalRunner()
    shared: Any = game if isinstance(run, LocalRunner) else GamePayload.of(game)

    def finished(j: int, row: dict) -> None:
        k = todo[j]
        rows[k] = row
        if journal is not None:
            journal.record(k, row)
        if progress:
            progress("sweep", sum(r is not None for r in rows), total)

    run.map(sweep_point, items, shared=shared, on_done=finished)
    complete = [r for r in rows if r is not None]
    assert len(complete) == total, "every grid point has its row"
    provenance = "exact" if game.affine else "sampled"
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
        "rows": complete,
        "tool_version": __version__,
    }
    if len(ranges) == 1:
        doc["boundaries"] = boundaries(
            complete, ranges[0].name, game, rtol=boundary_rtol, progress=progress, tight=tight
        )
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
