"""Closed convex sets with closed-form Euclidean projections (docs/theory.md, "Constraint sets and projected play").

A constrained game restricts player i to a closed convex set ``X_i`` of ``R^{d_i}``; the
joint strategy set is the product ``X = X_1 x ... x X_N`` and projected play uses the
Euclidean projection ``P_X(y) = argmin_{z in X} ||z - y||_2``, which acts player by player.
The kinds, with their projections (all exact up to rounding, idempotent, non-expansive):

- ``box``          ``{x : low <= x <= high}`` (bounds may be infinite):  ``P(y) = clip(y, low, high)``;
- ``nonnegative``  the orthant ``{x >= 0}`` (a box with ``low = 0``, ``high = +inf``);
- ``ball``         ``{x : ||x - c||_2 <= r}``:  ``P(y) = c + min(1, r / ||y - c||) (y - c)``;
- ``simplex``      ``{x >= 0 : sum x = s}``:  ``P(y) = max(y - theta, 0)`` with ``theta`` the
  unique root of ``sum max(y - theta, 0) = s``, found by sorting (Held, Wolfe and Crowder
  1974; Duchi et al. 2008).

The projection is 1-Lipschitz and piecewise affine (ball: piecewise smooth), so it has a
Clarke generalized Jacobian everywhere; :meth:`ConstraintSet.projection_jacobian` returns one
element of it. The certification region ``R = {x : ||x - center|| <= radius}`` (a box for the
norm ``"inf"``, a Euclidean ball for ``"2"``) meets ``X`` in the set that projected play
lives in: :func:`region_meets_set` finds a point of ``R ∩ X`` and :func:`retract_into_region`
pulls sample points into ``R`` along segments to such a point.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from ..errors import SpecError

__all__ = [
    "SET_KINDS",
    "NORMS",
    "REGION_TOL",
    "SetError",
    "ConstraintSet",
    "make_set",
    "ProductSet",
    "in_region",
    "retract_into_region",
    "region_meets_set",
]

SET_KINDS = ("box", "nonnegative", "ball", "simplex")
NORMS = ("inf", "2")  # the region's norm: "inf" (a box) or "2" (a Euclidean ball)
REGION_TOL = 1e-9  # region_meets_set: a point counts as inside R at distance <= REGION_TOL * radius

_KEYS = {"box": ("low", "high"), "ball": ("center", "radius"), "simplex": ("total",)}
_INF_WORDS = {".inf": math.inf, "+.inf": math.inf, "inf": math.inf, "+inf": math.inf}
_INF_WORDS.update({"-.inf": -math.inf, "-inf": -math.inf})
_EXPECTED = ", ".join(SET_KINDS)


class SetError(SpecError):
    """An invalid constraint set (spec or construction); a ``ValueError`` with a one-line message."""


# ------------------------------------------------------------------------------ helpers
def _show(value: Any) -> str:
    """A short one-line repr of a user value, for messages."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def _num(x: float) -> str:
    """A number as a message shows it: ``3`` for 3.0, ``0.5``, ``inf``."""
    if math.isfinite(x) and float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


def _norms(v: np.ndarray) -> np.ndarray:
    """Row norms ``||v||_2`` over the last axis, always evaluated the same way (so that
    membership tests and the projections that guarantee them agree to the last bit)."""
    w = np.ascontiguousarray(v, dtype=float)
    return np.sqrt(np.sum(w * w, axis=-1))


def _points(x: Any, dim: int, what: str) -> np.ndarray:
    """``x`` as a float array whose last axis has length ``dim``."""
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 0 or arr.shape[-1] != dim:
        raise SetError(f"{what} must have shape (..., {dim}), got {arr.shape}")
    return arr


def _pull_into_ball(z: np.ndarray, center: np.ndarray, radius: float) -> np.ndarray:
    """Rows of ``z`` (n, d) rescaled towards ``center`` until ``||z - center|| <= radius`` holds
    exactly in floating point (as :func:`_norms` evaluates it). A row already inside is
    unchanged; the others move by a few ulps: ``z <- c + f (z - c)`` with ``f = r / ||z - c||``
    shrunk by ``2^(k-52)`` at try ``k``, ending at ``f = 0`` (``z = c``), which is inside."""
    out = z.copy()
    bad = _norms(out - center) > radius
    for k in range(53):
        if not bad.any():
            break
        w = out[bad] - center
        f = (radius / _norms(w)) * max(1.0 - 2.0 ** (k - 52), 0.0)
        out[bad] = center + w * f[:, None]
        bad = _norms(out - center) > radius
    return out


def _pull_into_box(z: np.ndarray, center: np.ndarray, radius: float) -> np.ndarray:
    """Entries of ``z`` (n, d) moved towards ``center`` until ``|z - center| <= radius`` holds
    exactly in floating point: a clip, then one ulp at a time, ending at ``center``."""
    out = np.clip(z, center - radius, center + radius)
    target = np.broadcast_to(center, out.shape)
    bad = np.abs(out - center) > radius
    for _ in range(8):
        if not bad.any():
            break
        out[bad] = np.nextafter(out[bad], target[bad])
        bad = np.abs(out - center) > radius
    out[bad] = target[bad]
    return out


def _project_simplex(y: np.ndarray, total: float) -> np.ndarray:
    """Projection of each row of ``y`` (..., n) onto ``{x >= 0, sum x = total}``.

    With ``u`` a row sorted decreasingly and ``c_k = u_1 + ... + u_k - s``,
    ``rho = max{k : u_k - c_k / k > 0}`` and ``theta = c_rho / rho``; then
    ``P(y) = max(y - theta, 0)`` (Duchi et al. 2008, Fig. 1). Rows are first shifted by their
    maximum (the projection is invariant under ``y -> y + t 1``), so that rounding is relative
    to the spread of a row rather than its offset. ``total = 0`` gives 0; ``n = 1`` gives
    ``[total]``.
    """
    n = y.shape[-1]
    if total == 0.0:
        return np.zeros(y.shape)
    if n == 1:
        return np.full(y.shape, total)
    flat = y.reshape(-1, n)
    flat = flat - np.max(flat, axis=-1, keepdims=True)
    u = -np.sort(-flat, axis=-1)
    css = np.cumsum(u, axis=-1) - total
    k = np.arange(1, n + 1, dtype=float)
    cond = u - css / k > 0  # true for k = 1 (u_1 = 0, c_1 = -s), monotone in exact arithmetic
    rho = n - 1 - np.argmax(cond[:, ::-1], axis=-1)  # the last k where cond holds
    theta = css[np.arange(flat.shape[0]), rho] / (rho + 1.0)
    return np.maximum(flat - theta[:, None], 0.0).reshape(y.shape)


# ------------------------------------------------------------------------ one player's set
def _vector(value: Any, kind: str, name: str, dim: int, default: float) -> np.ndarray:
    """A read-only (dim,) float vector from ``None`` (``default``), a scalar or a sequence."""
    if value is None:
        arr = np.full(dim, default)
    else:
        try:
            arr = np.array(value, dtype=float)
        except (TypeError, ValueError):
            raise SetError(f"{kind}: {name} must be a number or a list of numbers, got {_show(value)}") from None
        if arr.ndim == 0:
            arr = np.full(dim, float(arr))
        elif arr.ndim != 1 or arr.shape[0] != dim:
            raise SetError(f"{kind}: {name} has {arr.size} entries, the player has dim {dim}")
    nan = np.flatnonzero(np.isnan(arr))
    if nan.size:
        raise SetError(f"{kind}: {name}[{nan[0]}] is NaN")
    arr.setflags(write=False)
    return arr


def _scalar(value: Any, kind: str, name: str, default: float | None) -> float:
    """A finite float >= 0 (``default`` when ``value`` is None)."""
    if value is None:
        if default is None:
            raise SetError(f"{kind}: {name} is required")
        return default
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise SetError(f"{kind}: {name} must be a number, got {_show(value)}") from None
    if not math.isfinite(x):
        raise SetError(f"{kind}: {name} must be finite, got {_num(x)}")
    if x < 0:
        raise SetError(f"{kind}: {name} must be >= 0, got {_num(x)}")
    return x


@dataclass(frozen=True)
class ConstraintSet:
    """A closed convex set ``X_i ⊂ R^dim`` of one player, with its Euclidean projection.

    Construct with :func:`make_set` from the spec form, or directly; fields that do not apply
    to ``kind`` must be ``None``, and missing ones take their defaults (box: ``low = -inf``,
    ``high = +inf``; nonnegative: ``low = 0``, ``high = +inf``; ball: ``center = 0``;
    simplex: ``total = 1``). Arrays are stored read-only as (dim,) float vectors.

    Attributes:
      kind: one of :data:`SET_KINDS`.
      dim: the player's dimension ``d_i >= 1``.
      low, high: box / nonnegative: bounds (``low <= high``, entries may be infinite).
      center, radius: ball ``{x : ||x - center||_2 <= radius}``, ``radius >= 0`` finite.
      total: simplex ``{x >= 0 : sum x = total}``, ``total >= 0`` finite.
    """

    kind: str
    dim: int
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    center: np.ndarray | None = None
    radius: float | None = None
    total: float | None = None

    def __post_init__(self) -> None:
        kind = self.kind
        if not isinstance(kind, str) or kind not in SET_KINDS:
            raise SetError(f"unknown set {_show(kind)} (expected one of {_EXPECTED})")
        dim = self.dim
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 1:
            raise SetError(f"{kind}: dim must be a positive integer, got {_show(dim)}")
        used = {"box": ("low", "high"), "nonnegative": ("low", "high"), "ball": ("center", "radius")}
        for name in ("low", "high", "center", "radius", "total"):
            if getattr(self, name) is not None and name not in used.get(kind, ("total",)):
                raise SetError(f"{kind}: {name} does not apply to this kind of set")
        fields: dict[str, Any] = {"dim": int(dim)}
        if kind in ("box", "nonnegative"):
            low = _vector(self.low, kind, "low", dim, 0.0 if kind == "nonnegative" else -math.inf)
            high = _vector(self.high, kind, "high", dim, math.inf)
            if kind == "nonnegative" and not (np.all(low == 0.0) and np.all(high == math.inf)):
                raise SetError("nonnegative: low must be 0 and high +inf (use a box for other bounds)")
            for i in range(dim):
                if low[i] > high[i]:
                    raise SetError(f"{kind}: low {_num(low[i])} > high {_num(high[i])} at index {i}")
                if low[i] == math.inf or high[i] == -math.inf:
                    side = f"low is +inf at index {i}" if low[i] == math.inf else f"high is -inf at index {i}"
                    raise SetError(f"{kind}: {side} (the set would be empty)")
            fields.update(low=low, high=high)
        elif kind == "ball":
            center = _vector(self.center, kind, "center", dim, 0.0)
            bad = np.flatnonzero(~np.isfinite(center))
            if bad.size:
                raise SetError(f"ball: center[{bad[0]}] must be finite, got {_num(center[bad[0]])}")
            fields.update(center=center, radius=_scalar(self.radius, kind, "radius", None))
        else:
            fields.update(total=_scalar(self.total, kind, "total", 1.0))
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    # equality and hashing by value (the default would compare arrays elementwise)
    def _key(self) -> tuple[Any, ...]:
        vec = lambda a: None if a is None else tuple(float(v) for v in a)
        return (self.kind, self.dim, vec(self.low), vec(self.high), vec(self.center), self.radius, self.total)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ConstraintSet):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    # ------------------------------------------------------------------- projection
    def project(self, y: np.ndarray) -> np.ndarray:
        """Euclidean projection ``P(y) = argmin_{z in X} ||z - y||_2``, batched.

        Box / nonnegative: ``clip(y, low, high)``. Ball: ``y`` if ``||y - c|| <= r``, else
        ``c + (r / ||y - c||) (y - c)``, finished so that ``||P(y) - c|| <= r`` holds exactly in
        floating point (hence ``contains(P(y))`` with ``tol = 0``). Simplex: see the module
        docstring; the sum equals ``total`` up to rounding.

        Args:
          y: points, shape (..., dim), finite.

        Returns:
          The projections, shape (..., dim), float64.
        """
        y = _points(y, self.dim, f"{self.kind}: y")
        if self.kind in ("box", "nonnegative"):
            return np.clip(y, self.low, self.high)
        if self.kind == "ball":
            assert self.center is not None and self.radius is not None
            c, r = self.center, self.radius
            flat = y.reshape(-1, self.dim)
            v = flat - c
            n = _norms(v)
            out = flat.copy()
            far = n > r
            out[far] = c + v[far] * (r / n[far])[:, None]
            return _pull_into_ball(out, c, r).reshape(y.shape)
        assert self.total is not None
        return _project_simplex(y, self.total)

    def contains(self, x: np.ndarray, tol: float = 0.0) -> np.ndarray:
        """Membership with an absolute slack ``tol >= 0``, batched.

        Box: ``low - tol <= x <= high + tol``; ball: ``||x - c||_2 <= r + tol``; simplex:
        ``x >= -tol`` and ``|sum x - total| <= tol (1 + total)``. NaN is never contained.

        Args:
          x: points, shape (..., dim).
          tol: the slack.

        Returns:
          A bool array of shape (...,).
        """
        x = _points(x, self.dim, f"{self.kind}: x")
        if self.kind in ("box", "nonnegative"):
            assert self.low is not None and self.high is not None
            return np.all((x >= self.low - tol) & (x <= self.high + tol), axis=-1)
        if self.kind == "ball":
            assert self.radius is not None
            return _norms(x - self.center) <= self.radius + tol
        assert self.total is not None
        total = self.total
        return np.all(x >= -tol, axis=-1) & (np.abs(np.sum(x, axis=-1) - total) <= tol * (1.0 + total))

    def projection_jacobian(self, y: np.ndarray) -> np.ndarray:
        """An element of the Clarke generalized Jacobian of ``P`` at ``y``.

        Box: ``diag(1[low < y < high])`` (0 on clipped coordinates and on bounds with
        ``low = high``). Ball, ``v = y - c``: ``I`` if ``||v|| < r``; else
        ``(r / ||v||) (I - v v^T / ||v||^2)`` (0 when ``r = ||v|| = 0``). Simplex, with
        ``S = supp P(y)``: ``I_S - 1_S 1_S^T / |S|`` on ``S x S``, zero elsewhere (0 when
        ``total = 0``). Each is the derivative of ``P`` where ``P`` is differentiable.

        Args:
          y: one point, shape (dim,) (a batch (..., dim) gives (..., dim, dim)).

        Returns:
          The Jacobian, shape (dim, dim).
        """
        y = _points(y, self.dim, f"{self.kind}: y")
        eye = np.eye(self.dim)
        if self.kind in ("box", "nonnegative"):
            free = ((y > self.low) & (y < self.high)).astype(float)
            return eye * free[..., None, :]
        if self.kind == "ball":
            assert self.radius is not None
            r = self.radius
            v = y - self.center
            n = _norms(v)[..., None, None]
            safe = np.where(n > 0, n, 1.0)
            u = v[..., :, None] / safe
            outside = (r / safe) * (eye - u * np.swapaxes(u, -1, -2))
            outside = np.where(n > 0, outside, 0.0)
            return np.where(n < r, eye, outside)
        m = (self.project(y) > 0).astype(float)
        count = np.maximum(np.sum(m, axis=-1), 1.0)[..., None, None]
        return eye * m[..., None, :] - m[..., :, None] * m[..., None, :] / count

    # ------------------------------------------------------------------- descriptions
    def describe(self) -> dict[str, Any]:
        """The canonical spec form, which :func:`make_set` maps back to an equal set.

        Returns:
          ``{"box": {"low": [...], "high": [...]}}`` (infinite bounds as ``float('inf')``),
          ``{"nonnegative": True}``, ``{"ball": {"center": [...], "radius": r}}`` or
          ``{"simplex": {"total": s}}``.
        """
        if self.kind == "nonnegative":
            return {"nonnegative": True}
        if self.kind == "box":
            assert self.low is not None and self.high is not None
            return {"box": {"low": [float(v) for v in self.low], "high": [float(v) for v in self.high]}}
        if self.kind == "ball":
            assert self.center is not None
            return {"ball": {"center": [float(v) for v in self.center], "radius": self.radius}}
        return {"simplex": {"total": self.total}}

    def interior_point(self) -> np.ndarray:
        """A point of the set: box: the midpoint of finite bounds, else the finite bound, else 0;
        ball: the center; simplex: ``total / dim`` in each coordinate (sum up to rounding).

        Returns:
          Shape (dim,).
        """
        if self.kind in ("box", "nonnegative"):
            assert self.low is not None and self.high is not None
            lo, hi = self.low, self.high
            flo, fhi = np.isfinite(lo), np.isfinite(hi)
            with np.errstate(invalid="ignore"):
                mid = np.where(flo & fhi, lo / 2.0 + hi / 2.0, np.where(flo, lo, np.where(fhi, hi, 0.0)))
            return np.clip(mid, lo, hi)
        if self.kind == "ball":
            assert self.center is not None
            return self.center.copy()
        assert self.total is not None
        return np.full(self.dim, self.total / self.dim)


# ----------------------------------------------------------------------- the spec form
def _entry(value: Any, where: str, allow_inf: bool) -> float:
    """One number of a spec: an int / float (not a bool) or, where allowed, an inf string."""
    if isinstance(value, str):
        word = value.strip().lower()
        if allow_inf and word in _INF_WORDS:
            return _INF_WORDS[word]
        raise SetError(f"{where} must be a number, got {_show(value)}")
    if isinstance(value, bool | np.bool_) or not isinstance(value, Real):
        raise SetError(f"{where} must be a number, got {_show(value)}")
    x = float(value)
    if math.isnan(x):
        raise SetError(f"{where} is NaN")
    if not allow_inf and math.isinf(x):
        raise SetError(f"{where} must be finite, got {_num(x)}")
    return x


def _spec_vector(value: Any, kind: str, name: str, dim: int, allow_inf: bool) -> np.ndarray:
    """A scalar (broadcast) or a list of ``dim`` entries."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != dim:
            raise SetError(f"{kind}: {name} has {len(value)} entries, the player has dim {dim}")
        return np.array([_entry(v, f"{kind}: {name}[{i}]", allow_inf) for i, v in enumerate(value)])
    return np.full(dim, _entry(value, f"{kind}: {name}", allow_inf))


def _spec_body(body: Any, kind: str) -> Mapping[Any, Any]:
    """The mapping under a set's key, with its keys checked."""
    keys = _KEYS[kind]
    if not isinstance(body, Mapping):
        raise SetError(f"{kind}: expected a mapping with keys {', '.join(keys)}, got {_show(body)}")
    for key in body:
        if key not in keys:
            raise SetError(f"{kind}: unknown key {_show(key)} (expected {', '.join(keys)})")
    return body


def make_set(spec: Mapping[str, Any], dim: int) -> ConstraintSet:
    """A player's constraint set from its spec form.

    The spec has exactly one key of :data:`SET_KINDS`:

    - ``{"box": {"low": L, "high": H}}``: ``L``, ``H`` a number (broadcast) or a list of ``dim``
      numbers; either may be omitted (``-inf`` / ``+inf``); infinities as floats or the
      strings ``'.inf'``, ``'-.inf'``, ``'inf'``, ``'-inf'``;
    - ``{"nonnegative": True}``;
    - ``{"ball": {"center": C, "radius": r}}``: ``C`` a number or a list (default 0), ``r >= 0``;
    - ``{"simplex": {"total": s}}``: ``s >= 0`` (default 1).

    Args:
      spec: the spec form (as :meth:`ConstraintSet.describe` writes it).
      dim: the player's dimension.

    Returns:
      The set.

    Raises:
      SetError: with a one-line message naming the problem (unknown set or key, wrong
        number of entries, NaN, ``low > high``, negative radius or total, ...).
    """
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 1:
        raise SetError(f"dim must be a positive integer, got {_show(dim)}")
    if not isinstance(spec, Mapping) or len(spec) != 1:
        got = f"{len(spec)} keys {_show(list(spec))}" if isinstance(spec, Mapping) else _show(spec)
        raise SetError(f"a constraint set is a mapping with exactly one key (one of {_EXPECTED}), got {got}")
    ((kind, body),) = spec.items()
    if kind not in SET_KINDS:
        raise SetError(f"unknown set {_show(kind)} (expected one of {_EXPECTED})")
    if kind == "nonnegative":
        if not (body is True or (isinstance(body, np.bool_) and bool(body))):
            raise SetError(f"nonnegative: expected true, got {_show(body)}")
        return ConstraintSet("nonnegative", int(dim))
    body = _spec_body(body, kind)
    if kind == "box":
        low = _spec_vector(body.get("low", -math.inf), "box", "low", dim, allow_inf=True)
        high = _spec_vector(body.get("high", math.inf), "box", "high", dim, allow_inf=True)
        return ConstraintSet("box", int(dim), low=low, high=high)
    if kind == "ball":
        if "radius" not in body:
            raise SetError("ball: missing key 'radius'")
        center = _spec_vector(body.get("center", 0.0), "ball", "center", dim, allow_inf=False)
        radius = _entry(body["radius"], "ball: radius", allow_inf=False)
        return ConstraintSet("ball", int(dim), center=center, radius=radius)
    total = _entry(body.get("total", 1.0), "simplex: total", allow_inf=False)
    return ConstraintSet("simplex", int(dim), total=total)


# ------------------------------------------------------------------------- the product
@dataclass(frozen=True)
class ProductSet:
    """The joint set ``X = X_1 x ... x X_N``; ``None`` is an unconstrained player (``R^{d_i}``).

    Points are concatenations ``x = (x_1, ..., x_N)`` of the players' blocks, of total length
    ``d = sum sizes``. Projections act block by block: ``P_X(y) = (P_1(y_1), ..., P_N(y_N))``.

    Attributes:
      sets: one set (or ``None``) per player.
      sizes: the players' dimensions ``d_i``.
    """

    sets: tuple[ConstraintSet | None, ...]
    sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        sets, sizes = tuple(self.sets), tuple(self.sizes)
        if len(sets) != len(sizes):
            raise SetError(f"product: {len(sets)} sets for {len(sizes)} players")
        for i, (s, n) in enumerate(zip(sets, sizes)):
            if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
                raise SetError(f"product: player {i} has dim {_show(n)} (expected a positive integer)")
            if s is not None and not isinstance(s, ConstraintSet):
                raise SetError(f"product: player {i}: expected a ConstraintSet or None, got {_show(s)}")
            if s is not None and s.dim != n:
                raise SetError(f"product: player {i}: the set has dim {s.dim}, the player has dim {n}")
        object.__setattr__(self, "sets", sets)
        object.__setattr__(self, "sizes", tuple(int(n) for n in sizes))

    @property
    def dim(self) -> int:
        """``d = sum_i d_i``."""
        return sum(self.sizes)

    @property
    def constrained(self) -> bool:
        """Whether any player has a set."""
        return any(s is not None for s in self.sets)

    def _blocks(self) -> list[tuple[slice, ConstraintSet | None]]:
        ends = np.cumsum((0,) + self.sizes)
        return [(slice(int(a), int(b)), s) for a, b, s in zip(ends[:-1], ends[1:], self.sets)]

    def project(self, x: np.ndarray) -> np.ndarray:
        """``P_X`` block by block (unconstrained blocks unchanged).

        Args:
          x: points, shape (..., d).

        Returns:
          Shape (..., d).
        """
        out = np.array(_points(x, self.dim, "product: x"), dtype=float, copy=True)
        for sl, s in self._blocks():
            if s is not None:
                out[..., sl] = s.project(out[..., sl])
        return out

    def natural_map(self, x: np.ndarray, step: np.ndarray) -> np.ndarray:
        """``x - P_X(x - step)`` (``step = h F(x)``), computed as ``step + (y - P_X(y))`` with
        ``y = x - step``: on free coordinates ``P_X(y) = y`` and the result is ``step`` itself,
        not a difference in which a small step is absorbed by a large ``x`` (docs/theory.md §13).

        Args:
          x: points, shape (..., d).
          step: ``h F(x)``, the same shape.

        Returns:
          Shape (..., d); zero exactly at a fixed point of projected Euler.
        """
        y = x - step
        return step + (y - self.project(y))

    def contains(self, x: np.ndarray, tol: float = 0.0) -> np.ndarray:
        """Every block in its set with slack ``tol`` (an unconstrained block: not NaN).

        Args:
          x: points, shape (..., d).
          tol: the absolute slack of :meth:`ConstraintSet.contains`.

        Returns:
          Bool, shape (...,).
        """
        x = _points(x, self.dim, "product: x")
        ok = np.ones(x.shape[:-1], dtype=bool)
        for sl, s in self._blocks():
            ok &= ~np.any(np.isnan(x[..., sl]), axis=-1) if s is None else s.contains(x[..., sl], tol)
        return ok

    def projection_jacobian(self, y: np.ndarray) -> np.ndarray:
        """Block-diagonal Clarke Jacobian element: ``diag(J_1(y_1), ..., J_N(y_N))``, ``I`` for
        unconstrained players.

        Args:
          y: one point, shape (d,) (a batch (..., d) gives (..., d, d)).

        Returns:
          Shape (d, d).
        """
        y = _points(y, self.dim, "product: y")
        J = np.zeros(y.shape + (self.dim,))
        for sl, s in self._blocks():
            J[..., sl, sl] = np.eye(sl.stop - sl.start) if s is None else s.projection_jacobian(y[..., sl])
        return J

    def bounding_box(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, high), shape (d,) each: a box holding X (rounded outwards; +-inf for
        unconstrained coordinates): a box's own bounds, a ball's ``center -+ radius``, a
        simplex's ``[0, total]``."""
        lows, highs = [], []
        for s, n in zip(self.sets, self.sizes):
            if s is None:
                lows.append(np.full(n, -math.inf))
                highs.append(np.full(n, math.inf))
            elif s.kind in ("box", "nonnegative"):
                assert s.low is not None and s.high is not None
                lows.append(np.asarray(s.low, dtype=np.float64))
                highs.append(np.asarray(s.high, dtype=np.float64))
            elif s.kind == "ball":
                assert s.center is not None and s.radius is not None
                lows.append(np.nextafter(s.center - s.radius, -math.inf))
                highs.append(np.nextafter(s.center + s.radius, math.inf))
            else:
                assert s.total is not None
                lows.append(np.zeros(n))
                highs.append(np.full(n, float(s.total)))
        return np.concatenate(lows), np.concatenate(highs)

    def interior_point(self) -> np.ndarray:
        """The players' :meth:`ConstraintSet.interior_point` (0 for unconstrained ones), shape (d,)."""
        parts = [np.zeros(n) if s is None else s.interior_point() for s, n in zip(self.sets, self.sizes)]
        return np.concatenate(parts) if parts else np.zeros(0)


# -------------------------------------------------------------------------- the region
def _region_args(center: Any, radius: Any, norm: Any, d: int | None = None) -> tuple[np.ndarray, float, str]:
    """Checked ``(center, radius, norm)`` of a region ``R = {x : ||x - center||_norm <= radius}``."""
    c = np.asarray(center, dtype=float)
    if c.ndim != 1 or (d is not None and c.shape[0] != d) or not np.all(np.isfinite(c)):
        want = "(d,)" if d is None else f"({d},)"
        raise SetError(f"region: center must be a finite vector of shape {want}, got shape {c.shape}")
    r = float(radius)
    if not (math.isfinite(r) and r >= 0):
        raise SetError(f"region: radius must be finite and >= 0, got {_num(r)}")
    if norm not in NORMS:
        raise SetError(f"region: unknown norm {_show(norm)} (expected 'inf' or '2')")
    return c, r, str(norm)


def in_region(points: np.ndarray, center: np.ndarray, radius: float, norm: str, tol: float = 0.0) -> np.ndarray:
    """Membership in ``R = {x : ||x - center||_norm <= radius}`` with slack ``tol``.

    ``"inf"``: ``max_j |x_j - c_j| <= radius + tol``; ``"2"``: ``||x - c||_2 <= radius + tol``,
    evaluated exactly as :func:`retract_into_region` guarantees it.

    Args:
      points: shape (..., d).
      center: shape (d,).
      radius: ``>= 0``.
      norm: ``"inf"`` or ``"2"``.
      tol: an absolute slack.

    Returns:
      Bool, shape (...,).
    """
    c, r, norm = _region_args(center, radius, norm)
    x = _points(points, c.shape[0], "region: points")
    if norm == "inf":
        return np.all(np.abs(x - c) <= r + tol, axis=-1)
    return _norms(x - c) <= r + tol


def retract_into_region(
    points: np.ndarray, anchor: np.ndarray, center: np.ndarray, radius: float, norm: str
) -> np.ndarray:
    """Pull points into the region ``R`` along their segments to ``anchor``.

    For ``p`` outside ``R`` and ``a in R``, the result is ``a + t (p - a)`` with
    ``t = max{t in [0, 1] : a + t (p - a) in R}``, in closed form. With ``v = p - a``:

    - ``"inf"`` (a box ``[c - r, c + r]``): ``t = min(1, min_j t_j)``, ``t_j = (c_j + r - a_j) / v_j``
      for ``v_j > 0``, ``(c_j - r - a_j) / v_j`` for ``v_j < 0``;
    - ``"2"``: the larger root of ``||u + t v||^2 = r^2`` (``u = a - c``), i.e.
      ``t = (-b + sqrt(b^2 - |v|^2 k)) / |v|^2`` with ``b = u.v``, ``k = |u|^2 - r^2 <= 0``
      (written as ``-k / (b + sqrt(...))`` when ``b > 0``, to avoid cancellation).

    The result is then clipped (box) or rescaled towards ``c`` (ball) by a few ulps so that
    :func:`in_region` holds with ``tol = 0``. Points already in ``R`` are returned unchanged.

    Args:
      points: shape (..., d) (typically (n, d)).
      anchor: a point of ``R``, shape (d,) (checked up to ``REGION_TOL * radius``).
      center: the region's center, shape (d,).
      radius: the region's radius ``>= 0``.
      norm: ``"inf"`` or ``"2"``.

    Returns:
      Points of ``R``, shape of ``points``.

    Raises:
      SetError: if the anchor is not in ``R`` or the shapes disagree.
    """
    c, r, norm = _region_args(center, radius, norm)
    d = c.shape[0]
    a = _points(anchor, d, "retract_into_region: anchor")
    if a.ndim != 1 or not in_region(a, c, r, norm, REGION_TOL * r):
        raise SetError("retract_into_region: the anchor must be one point of the region")
    P = _points(points, d, "retract_into_region: points")
    flat = P.reshape(-1, d)
    out = flat.copy()
    todo = ~in_region(flat, c, r, norm)
    if not todo.any():
        return out.reshape(P.shape)
    v = flat[todo] - a
    if norm == "inf":
        with np.errstate(divide="ignore", invalid="ignore"):
            up, down = (c + r - a) / v, (c - r - a) / v
        tj = np.where(v > 0, up, np.where(v < 0, down, np.inf))
        t = np.clip(np.min(tj, axis=-1), 0.0, 1.0)
    else:
        u = a - c
        vv = np.sum(v * v, axis=-1)
        b = v @ u
        k = min(float(u @ u) - r * r, 0.0)
        sq = np.sqrt(np.maximum(b * b - vv * k, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(b <= 0, (sq - b) / vv, -k / (b + sq))
        t = np.clip(np.where(vv > 0, t, 0.0), 0.0, 1.0)
    z = a + t[:, None] * v
    out[todo] = _pull_into_box(z, c, r) if norm == "inf" else _pull_into_ball(z, c, r)
    return out.reshape(P.shape)


def _project_region(x: np.ndarray, c: np.ndarray, r: float, norm: str) -> np.ndarray:
    """Euclidean projection onto ``R`` (box: clip; ball: radial scaling)."""
    if norm == "inf":
        return np.clip(x, c - r, c + r)
    n = float(_norms(x - c))
    return x if n <= r else c + (x - c) * (r / n)


def region_meets_set(
    product: ProductSet, center: np.ndarray, radius: float, norm: str, iters: int = 2000
) -> np.ndarray | None:
    """A point of ``R ∩ X``, or ``None`` when none is found (the intersection is empty).

    First ``P_X(center)`` is tried; then Dykstra's alternating projections from ``x_0 = center``
    (``p = q = 0``)::

        y = P_X(x + p),  p <- x + p - y,  x <- P_R(y + q),  q <- y + q - x,

    which converge to ``P_{R ∩ X}(center)`` when the intersection is non-empty. Each ``y`` is
    a projection onto ``X``; the first one within ``REGION_TOL * radius`` of ``R`` (as
    :func:`in_region` measures) is returned. When the iterates stop moving with ``y`` still
    outside, ``(x, y)`` is a best-approximation pair of ``R`` and ``X`` at positive distance
    and the search stops early.

    Args:
      product: the joint set ``X``.
      center: the region's center, shape (d,).
      radius: the region's radius ``>= 0``.
      norm: ``"inf"`` or ``"2"``.
      iters: the budget of Dykstra iterations.

    Returns:
      A point of ``X`` (up to the rounding of its projection) within ``REGION_TOL * radius``
      of ``R``, shape (d,), or ``None``.
    """
    c, r, norm = _region_args(center, radius, norm, product.dim)
    tol = REGION_TOL * r
    y = product.project(c)
    if in_region(y, c, r, norm, tol):
        return y
    scale = 1e-14 * (1.0 + r + float(np.max(np.abs(c), initial=0.0)))
    x, p, q = c.copy(), np.zeros_like(c), np.zeros_like(c)
    still = 0
    for _ in range(int(iters)):
        y_new = product.project(x + p)
        p = x + p - y_new
        x_new = _project_region(y_new + q, c, r, norm)
        q = y_new + q - x_new
        if in_region(y_new, c, r, norm, tol):
            return y_new
        moved = max(float(np.max(np.abs(x_new - x))), float(np.max(np.abs(y_new - y))))
        still = still + 1 if moved <= scale else 0
        if still >= 5:
            return None
        x, y = x_new, y_new
    return None
