"""Interval arithmetic on NumPy arrays, rounded outwards (docs/theory.md §14).

An :class:`Interval` holds two float64 arrays ``lo <= hi`` of one shape and stands for
every real array ``v`` with ``lo <= v <= hi`` entrywise. Every operation returns an
interval that contains the exact real result for every choice of the operands in their
intervals (an *enclosure*):

- ``+ - * /`` and ``sqrt`` are correctly rounded in IEEE 754, so the float result moved
  one ulp outwards (``nextafter``) encloses the exact one;
- sums and matrix products are enclosed by the a-priori bound
  ``|fl(sum a_k) - sum a_k| <= gamma_n sum |a_k|``, ``gamma_n = n u / (1 - n u)``,
  ``u = 2^-53`` (Higham, *Accuracy and Stability of Numerical Algorithms*, §3.1), which
  holds for any order of summation and with fused multiply-adds, plus an absolute
  allowance for underflow;
- transcendental functions (``exp log log1p expm1 tanh logistic sin cos``) are never
  trusted to the last bit of libm: each endpoint is evaluated in python-flint's ball
  arithmetic (Arb), whose balls are proved to contain the exact value, and the ball's
  outer end is rounded outwards to a float. Monotone functions need only their endpoints;
  ``sin`` and ``cos`` also take the extrema of the periods the interval may touch.

Non-finite results (overflow, 0 * inf, a logarithm of an interval reaching 0) become the
whole line ``[-inf, inf]``: the enclosure stays true and the caller sees that nothing is
proved there. The whole line also stands for a value the program may not define at all
(NaN: a logarithm or square root of a negative number), and an infinite end for a float
that may have overflowed (``0 * inf`` is NaN in the program), so every operation keeps
both as the whole line (:func:`undefined`), even where the real result would be bounded:
``0 * x``, ``|x|``, ``max(x, 0)``, ``x^2`` or ``tanh x`` of them is the whole line, as the
program's NaN stays NaN through them. Nothing computed from such a value is proved.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Interval",
    "point",
    "down",
    "up",
    "inflate",
    "undefined",
    "keep_undefined",
    "whole_where",
    "gamma_n",
    "add",
    "sub",
    "neg",
    "mul",
    "div",
    "integer_power",
    "sqrt",
    "absolute",
    "maximum",
    "minimum",
    "hull",
    "total",
    "contract",
    "elementary",
    "ELEMENTARY",
]

U = 2.0**-53  # unit roundoff of float64
TINY = 2.0**-1000  # absolute allowance per rounding for underflow (each costs at most 2^-1075)
_ARB_PREC = 80  # bits of Arb's working precision for endpoint evaluations


def down(x: Any) -> Any:
    """The next float below x (a lower bound of any real x rounds to nearest)."""
    return np.nextafter(x, -np.inf)


def up(x: Any) -> Any:
    """The next float above x."""
    return np.nextafter(x, np.inf)


def gamma_n(n: int) -> float:
    """gamma_n = n u / (1 - n u), rounded up (the bound of n roundings)."""
    return float(up(np.float64(n * U / (1.0 - n * U)))) if n * U < 0.5 else math.inf


def inflate(x: np.ndarray, n: int) -> np.ndarray:
    """An upper bound of the exact value of a non-negative float expression of at most
    ``n`` roundings whose computed value is ``x``: ``x (1 + 2 gamma_{n+2}) + (n + 1) TINY``."""
    g = gamma_n(n + 2)
    return up(up(x * (1.0 + 2.0 * g)) + (n + 1) * TINY)


@dataclass(frozen=True)
class Interval:
    """``lo <= v <= hi`` entrywise (float64 arrays of one shape)."""

    lo: np.ndarray
    hi: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.lo.shape)

    def mid_rad(self) -> tuple[np.ndarray, np.ndarray]:
        """(m, r) with ``[lo, hi]`` inside ``[m - r, m + r]`` (r rounded up); non-finite
        ends give m = 0 and r = inf."""
        finite = np.isfinite(self.lo) & np.isfinite(self.hi)
        lo = np.where(finite, self.lo, 0.0)
        hi = np.where(finite, self.hi, 0.0)
        m = lo + 0.5 * (hi - lo)
        r = np.where(lo == hi, 0.0, np.maximum(up(hi - m), up(m - lo)))
        return m, np.where(finite, r, np.inf)

    def width(self) -> np.ndarray:
        return self.hi - self.lo


def undefined(a: Interval) -> np.ndarray:
    """Entries that may be undefined (NaN in the program: the whole line) or infinite (an
    end at +-inf: the program's float may have overflowed, and 0 * inf is NaN)."""
    return ~(np.isfinite(a.lo) & np.isfinite(a.hi))


def whole_where(out: Interval, mask: np.ndarray) -> Interval:
    """``out``, with the whole line where ``mask``."""
    if not np.any(mask):
        return out
    return Interval(np.where(mask, -np.inf, out.lo), np.where(mask, np.inf, out.hi))


def keep_undefined(out: Interval, *operands: Interval) -> Interval:
    """``out``, with the whole line wherever an operand (broadcast to ``out``) may be undefined."""
    bad = np.zeros(out.shape, dtype=bool)
    for a in operands:
        bad = bad | np.broadcast_to(undefined(a), out.shape)
    return whole_where(out, bad)


def _clean(lo: np.ndarray, hi: np.ndarray) -> Interval:
    """NaN ends (0 * inf, inf - inf) become the whole line."""
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    bad = np.isnan(lo) | np.isnan(hi)
    if bad.any():
        lo = np.where(bad, -np.inf, lo)
        hi = np.where(bad, np.inf, hi)
    return Interval(lo, hi)


def point(x: np.ndarray | float) -> Interval:
    """The degenerate interval of a float array (exact: floats are reals)."""
    a = np.asarray(x, dtype=np.float64)
    return Interval(a, a)


def _two_sum_error(a: np.ndarray, b: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The exact rounding error ``a + b - fl(a + b)`` (Knuth's TwoSum; exact for finite values)."""
    bb = s - a
    return (a - (s - bb)) + (b - bb)


def _sum_down(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A float <= a + b: fl(a + b), moved down only when the sum was rounded up."""
    s = a + b
    e = _two_sum_error(a, b, s)
    return np.where(np.isfinite(s) & (e >= 0), s, down(s))


def add(a: Interval, b: Interval) -> Interval:
    with np.errstate(invalid="ignore", over="ignore"):
        return _clean(_sum_down(a.lo, b.lo), -_sum_down(-a.hi, -b.hi))


def neg(a: Interval) -> Interval:
    return Interval(-a.hi, -a.lo)


def sub(a: Interval, b: Interval) -> Interval:
    return add(a, neg(b))


def mul(a: Interval, b: Interval) -> Interval:
    with np.errstate(invalid="ignore", over="ignore"):
        p = np.stack(np.broadcast_arrays(a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi))
        plo, phi = np.min(p, axis=0), np.max(p, axis=0)
        # a product of two floats is exact when one is a power of two or zero (no underflow):
        # keep the common exact cases (a factor 0, +-1, +-2, +-0.5) exact
        lo, hi = down(plo), up(phi)
        # exact when one factor is such a point and the other's ends are 0 or far from
        # underflow (2^-1020 * 1/2 is still normal); an overflow is never exact
        safe = (_exact_factor(a) & _normal_ends(b)) | (_exact_factor(b) & _normal_ends(a))
        if np.any(safe):
            safe = safe & np.isfinite(plo) & np.isfinite(phi)
            lo, hi = np.where(safe, plo, lo), np.where(safe, phi, hi)
        # an exact zero times anything else, bounded or not, is zero (0 * inf would be NaN);
        # times a possibly undefined value it stays undefined (the program's 0 * NaN is NaN)
        zero = ((a.lo == 0) & (a.hi == 0) & ~undefined(b)) | ((b.lo == 0) & (b.hi == 0) & ~undefined(a))
        if np.any(zero):
            lo, hi = np.where(zero, 0.0, lo), np.where(zero, 0.0, hi)
        return _clean(lo, hi)


def _normal_ends(a: Interval) -> np.ndarray:
    """Both ends are 0 or at least 2^-1020 in magnitude."""
    lo, hi = np.abs(a.lo), np.abs(a.hi)
    return ((lo == 0) | (lo >= 2.0**-1020)) & ((hi == 0) | (hi >= 2.0**-1020))


def _exact_factor(a: Interval) -> np.ndarray:
    """A point factor 0, +-1, +-2 or +-1/2: products by it are exact (barring underflow)."""
    v = np.abs(a.lo)
    return (a.lo == a.hi) & ((v == 0.0) | (v == 1.0) | (v == 2.0) | (v == 0.5))


def div(a: Interval, b: Interval) -> Interval:
    """a / b; the whole line where b's interval reaches 0."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        safe = (b.lo > 0) | (b.hi < 0)
        one = np.where(safe, 1.0, np.nan)
        inv = _clean(down(one / np.where(safe, b.hi, 1.0)), up(one / np.where(safe, b.lo, 1.0)))
        return mul(a, inv)


def _power_nonneg(v: np.ndarray, n: int, rounding: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """v^n for v >= 0 by n - 1 products, each rounded by ``rounding`` (down or up)."""
    out = v.copy()
    for _ in range(n - 1):
        out = rounding(out * v)
    return out


def integer_power(a: Interval, n: int) -> Interval:
    """a^n for an integer n (negative: 1 / a^-n)."""
    if n == 0:
        return point(np.ones(a.shape))
    if n < 0:
        return div(point(np.ones(a.shape)), integer_power(a, -n))
    if n == 1:
        return a
    with np.errstate(over="ignore", invalid="ignore"):
        alo, ahi = np.abs(a.lo), np.abs(a.hi)
        big, small = np.maximum(alo, ahi), np.minimum(alo, ahi)
        straddles = (a.lo < 0) & (a.hi > 0)
        if n % 2 == 0:
            lo = np.where(straddles, 0.0, _power_nonneg(small, n, down))
            return keep_undefined(_clean(lo, _power_nonneg(big, n, up)), a)
        # odd: monotone increasing
        lo = np.where(a.lo >= 0, _power_nonneg(alo, n, down), -_power_nonneg(alo, n, up))
        hi = np.where(a.hi >= 0, _power_nonneg(ahi, n, up), -_power_nonneg(ahi, n, down))
        return _clean(lo, hi)


def sqrt(a: Interval) -> Interval:
    """sqrt (correctly rounded in IEEE 754); the whole line where a may be negative (the
    program's value is NaN there)."""
    with np.errstate(invalid="ignore"):
        bad = a.lo < 0
        lo = np.where(bad, -np.inf, np.maximum(down(np.sqrt(np.maximum(a.lo, 0.0))), 0.0))
        hi = np.where(bad, np.inf, up(np.sqrt(np.maximum(a.hi, 0.0))))
        return _clean(lo, hi)


def absolute(a: Interval) -> Interval:
    alo, ahi = np.abs(a.lo), np.abs(a.hi)
    straddles = (a.lo < 0) & (a.hi > 0)
    return keep_undefined(Interval(np.where(straddles, 0.0, np.minimum(alo, ahi)), np.maximum(alo, ahi)), a)


def maximum(a: Interval, b: Interval) -> Interval:
    return keep_undefined(Interval(np.maximum(a.lo, b.lo), np.maximum(a.hi, b.hi)), a, b)


def minimum(a: Interval, b: Interval) -> Interval:
    return keep_undefined(Interval(np.minimum(a.lo, b.lo), np.minimum(a.hi, b.hi)), a, b)


def hull(a: Interval, b: Interval) -> Interval:
    """The smallest interval holding both."""
    return Interval(np.minimum(a.lo, b.lo), np.maximum(a.hi, b.hi))


def total(a: Interval, axes: Sequence[int]) -> Interval:
    """The sum over ``axes``: ``fl(sum)`` with the a-priori error bound gamma_n sum |a|."""
    axes = tuple(axes)
    n = int(np.prod([a.shape[k] for k in axes])) if axes else 1
    with np.errstate(invalid="ignore", over="ignore"):
        slo, shi = np.sum(a.lo, axis=axes), np.sum(a.hi, axis=axes)
        alo, ahi = np.sum(np.abs(a.lo), axis=axes), np.sum(np.abs(a.hi), axis=axes)
        # all terms exactly zero: an exact zero sum (no allowance, so zeros stay zeros)
        elo = np.where(alo > 0, inflate(gamma_n(n) * alo, n), 0.0)
        ehi = np.where(ahi > 0, inflate(gamma_n(n) * ahi, n), 0.0)
        return _clean(np.where(alo > 0, down(slo - elo), slo), np.where(ahi > 0, up(shi + ehi), shi))


def contract(a: Interval, b: Interval, subscripts: str, inner: int) -> Interval:
    """``einsum(subscripts, a, b)`` where ``inner`` terms are summed per output entry, in
    midpoint-radius form (Rump): with a = m_a +- r_a, b = m_b +- r_b,
    ``|ab - fl(m_a m_b)| <= |m_a| r_b + r_a (|m_b| + r_b) + gamma_inner |m_a||m_b|``."""
    ma, ra = a.mid_rad()
    mb, rb = b.mid_rad()
    with np.errstate(invalid="ignore", over="ignore"):
        c = np.einsum(subscripts, ma, mb)
        ama, amb = np.abs(ma), np.abs(mb)
        exact_a, exact_b = not np.any(ra), not np.any(rb)
        err = gamma_n(inner) * np.einsum(subscripts, ama, amb)
        if not exact_b:
            err = err + np.einsum(subscripts, ama, rb)
        if not exact_a:
            err = err + np.einsum(subscripts, ra, amb + rb)
        # products that may be non-zero; where none is, the result is an exact zero. A
        # possibly undefined factor (the whole line: m = 0, r = inf) is live even against an
        # exact zero: its allowance inf * 0 is NaN, and the entry becomes the whole line
        live = np.einsum(
            subscripts, ((ama > 0) | (ra > 0)).astype(np.float64), ((amb > 0) | (rb > 0)).astype(np.float64)
        )
        wa, wb = undefined(a), undefined(b)
        if wa.any() or wb.any():
            live = live + np.einsum(subscripts, wa.astype(np.float64), np.ones_like(mb))
            live = live + np.einsum(subscripts, np.ones_like(ma), wb.astype(np.float64))
        live = live > 0
        r = np.where(live, inflate(err, 2 * inner + 4), 0.0)
        return _clean(np.where(live, down(c - r), 0.0), np.where(live, up(c + r), 0.0))


# ------------------------------------------------------------------ elementary functions
def _arb_end(fn: Callable[..., object], values: np.ndarray, lower: bool) -> np.ndarray:
    """A float bound (lower or upper) of fn at each finite value, from an Arb ball."""
    import flint

    flat = values.reshape(-1)
    out = np.empty_like(flat)
    old = flint.ctx.prec
    flint.ctx.prec = _ARB_PREC
    cache: dict[float, float] = {}
    try:
        for k, v in enumerate(flat.tolist()):
            hit = cache.get(v)
            if hit is None:
                ball = fn(flint.arb(v))
                if not ball.is_finite():  # type: ignore[attr-defined]
                    hit = -math.inf if lower else math.inf
                else:
                    end = float(ball.lower() if lower else ball.upper())  # type: ignore[attr-defined]
                    hit = float(down(np.float64(end)) if lower else up(np.float64(end)))
                cache[v] = hit
            out[k] = hit
    finally:
        flint.ctx.prec = old
    return out.reshape(values.shape)


def _monotone(
    a: Interval,
    fn: Callable[..., object],
    limit: Callable[[np.ndarray], np.ndarray],
    domain_lo: float = -math.inf,
    open_domain: bool = False,
) -> Interval:
    """An increasing function: f(lo) rounded down, f(hi) rounded up (Arb at finite ends,
    ``limit`` at infinite ones, which are exact limits). Below ``domain_lo`` (or at it,
    ``open_domain``) the program's value is NaN or -inf: the whole line."""
    lo, hi = a.lo, a.hi
    fin_lo, fin_hi = np.isfinite(lo), np.isfinite(hi)
    out_lo = np.where(fin_lo, 0.0, limit(lo))
    out_hi = np.where(fin_hi, 0.0, limit(hi))
    if fin_lo.any():
        out_lo[fin_lo] = _arb_end(fn, lo[fin_lo], True)
    if fin_hi.any():
        out_hi[fin_hi] = _arb_end(fn, hi[fin_hi], False)
    if math.isfinite(domain_lo):
        bad = (lo <= domain_lo) if open_domain else (lo < domain_lo)
        out_lo = np.where(bad, -np.inf, out_lo)
        out_hi = np.where(bad, np.inf, out_hi)
    return _clean(out_lo, out_hi)


def _logistic(x):
    return 1 / (1 + (-x).exp())


def _limit(value_at_minus_inf: float, value_at_plus_inf: float) -> Callable[[np.ndarray], np.ndarray]:
    def limit(v: np.ndarray) -> np.ndarray:
        return np.where(v < 0, value_at_minus_inf, value_at_plus_inf)

    return limit


PERIODIC_MAX = 2.0**20  # |x| up to which sin / cos locate their extrema in floats (the index
# (x - peak) / 2 pi is then off by about 2^-52 |x| / 2 pi < 1e-10, within the 1e-9 margin); beyond: [-1, 1]


def _periodic(a: Interval, fn: Callable[..., object], peak: float) -> Interval:
    """sin (peak = pi/2) or cos (peak = 0): the ends from Arb, and +-1 wherever the interval
    may hold a maximum ``peak + 2 k pi`` or a minimum ``peak + pi + 2 k pi`` (decided with
    generous margins: including an extremum that is not there only widens the enclosure)."""
    lo, hi = a.lo, a.hi
    # beyond PERIODIC_MAX the float period index below may be off by more than its margin
    finite = np.isfinite(lo) & np.isfinite(hi) & (hi - lo < 6.0) & (np.maximum(-lo, hi) < PERIODIC_MAX)
    flo = np.where(finite, lo, 0.0)
    fhi = np.where(finite, hi, 0.0)
    e_lo = np.minimum(_arb_end(fn, flo, True), _arb_end(fn, fhi, True))
    e_hi = np.maximum(_arb_end(fn, flo, False), _arb_end(fn, fhi, False))
    two_pi = 2.0 * math.pi
    # k ranges of extrema inside [lo, hi], widened by one period's rounding slack
    k_max_lo = np.ceil((flo - peak) / two_pi - 1e-9)
    k_max_hi = np.floor((fhi - peak) / two_pi + 1e-9)
    k_min_lo = np.ceil((flo - peak - math.pi) / two_pi - 1e-9)
    k_min_hi = np.floor((fhi - peak - math.pi) / two_pi + 1e-9)
    has_max = k_max_lo <= k_max_hi
    has_min = k_min_lo <= k_min_hi
    out_lo = np.where(finite & ~has_min, e_lo, -1.0)
    out_hi = np.where(finite & ~has_max, e_hi, 1.0)
    return Interval(np.maximum(out_lo, -1.0), np.minimum(out_hi, 1.0))


ELEMENTARY: dict[str, Callable[[Interval], Interval]] = {
    "exp": lambda a: _monotone(a, lambda x: x.exp(), _limit(0.0, math.inf)),
    "expm1": lambda a: _monotone(a, lambda x: x.expm1(), _limit(-1.0, math.inf)),
    "log": lambda a: _monotone(a, lambda x: x.log(), _limit(-math.inf, math.inf), 0.0, True),
    "log1p": lambda a: _monotone(a, lambda x: x.log1p(), _limit(-math.inf, math.inf), -1.0, True),
    "tanh": lambda a: _monotone(a, lambda x: x.tanh(), _limit(-1.0, 1.0)),
    "logistic": lambda a: _monotone(a, _logistic, _limit(0.0, 1.0)),
    "atan": lambda a: _monotone(a, lambda x: x.atan(), _limit(-math.pi / 2, math.pi / 2)),
    "sin": lambda a: _periodic(a, lambda x: x.sin(), math.pi / 2),
    "cos": lambda a: _periodic(a, lambda x: x.cos(), 0.0),
}
"""Elementary functions with proved enclosures (Arb), by JAX primitive name."""


def elementary(name: str, a: Interval) -> Interval:
    """The enclosure of the elementary function ``name`` (a key of ELEMENTARY); the whole
    line where ``a`` may be undefined (tanh of NaN is NaN, not a value in [-1, 1])."""
    return keep_undefined(ELEMENTARY[name](a), a)
