"""Enclosures of a game's Jacobian over boxes: its JAX program run in interval arithmetic
(docs/theory.md §14).

The program of ``x -> J(x) = DF(x)`` (``jax.jacfwd`` of the pseudo-gradient, ``vmap``-ed
over a batch of points) is traced once to a jaxpr, and the jaxpr is then *interpreted*
with :mod:`sgncert.theory.intervals` in place of floats: each input coordinate is an
interval (a box), and every float the program computes becomes an interval holding every
value it can take on the box. The same interpreter serves cost expressions, pseudo-gradient
blocks, normal-form games and Python hooks: what matters is which JAX operations the
program uses.

Supported operations: the arithmetic ``add sub mul div neg max min abs sign
integer_pow square sqrt rsqrt pow``, the elementary functions of
:data:`sgncert.theory.intervals.ELEMENTARY`, ``dot_general``, the reductions
``reduce_sum reduce_max reduce_min``, comparisons and ``select_n`` (an undecided
comparison selects the hull of both branches), data movement (``broadcast_in_dim reshape
transpose squeeze expand_dims slice dynamic_slice concatenate pad gather scatter split
rev copy convert_element_type iota``, run by JAX itself on each end), and nested
``jit``/``custom_jvp_call``/``custom_vjp_call`` programs. Anything else is refused with
:class:`~sgncert.errors.SpecError` naming the operation.

The Jacobian program is JAX's derivative of F, so its enclosure bounds F's true Jacobian
only where F is defined, continuous and differentiated truly: a box where F's own enclosure
is not finite, or where F's program (:class:`_JumpGuard`) meets a selection or comparison
the box does not decide, gets the whole line; ``stop_gradient``, rounding and loops in F's
program are refused (:func:`jumps_of`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..errors import SpecError
from ..games.model import Game
from ..theory import intervals as iv
from ..theory.intervals import Interval

__all__ = [
    "Enclosure",
    "JacobianEnclosure",
    "jacobian_enclosure",
    "stack_enclosures",
    "take",
    "SUPPORTED",
    "unsupported_operations",
]

ENCLOSURE_BATCH = 128  # boxes per interpreted batch (one trace per game)
MEAN_VALUE_MAX_DIM = 32  # the mean-value form (d^3 derivative entries per box) up to this dimension


@dataclass(frozen=True)
class Tri:
    """A boolean array that may be undecided: ``can_true`` / ``can_false`` per entry."""

    can_true: np.ndarray
    can_false: np.ndarray

    @staticmethod
    def exact(b: np.ndarray) -> Tri:
        b = np.asarray(b, dtype=bool)
        return Tri(b, ~b)


Value = Any  # Interval (floats), Tri (booleans) or np.ndarray (integers, exact)


def _interval(v: Value) -> Interval:
    if isinstance(v, Interval):
        return v
    if isinstance(v, Tri):  # a boolean used as a number: 0, 1 or [0, 1]
        return Interval(np.where(v.can_false, 0.0, 1.0), np.where(v.can_true, 1.0, 0.0))
    return iv.point(np.asarray(v, dtype=np.float64))


# ----------------------------------------------------------------------- data movement
_STRUCTURAL = frozenset(
    {
        "broadcast_in_dim",
        "reshape",
        "transpose",
        "squeeze",
        "expand_dims",
        "slice",
        "dynamic_slice",
        "concatenate",
        "pad",
        "gather",
        "rev",
        "copy",
        "copy_p",
        "split",
        "dynamic_update_slice",
    }
)


def _bind(prim: Any, args: Sequence[Any], params: dict) -> list[np.ndarray]:
    out = prim.bind(*args, **params)
    outs = out if prim.multiple_results else [out]
    return [np.asarray(o) for o in outs]


def _numpy_move(name: str, arrays: Sequence[np.ndarray], params: dict) -> list[np.ndarray] | None:
    """The data movement ``name`` in NumPy (None: not available here; JAX runs it)."""
    x = arrays[0]
    if name == "broadcast_in_dim":
        shape = tuple(int(n) for n in params["shape"])
        dims = tuple(int(k) for k in params["broadcast_dimensions"])
        expanded = [1] * len(shape)
        for k, dim in enumerate(dims):
            expanded[dim] = x.shape[k]
        return [np.broadcast_to(x.reshape(expanded), shape)]
    if name == "reshape" and params.get("dimensions") is None:
        return [np.reshape(x, tuple(int(n) for n in params["new_sizes"]))]
    if name == "transpose":
        return [np.transpose(x, tuple(int(k) for k in params["permutation"]))]
    if name == "squeeze":
        return [np.squeeze(x, axis=tuple(int(k) for k in params["dimensions"]))]
    if name == "expand_dims":
        return [np.expand_dims(x, tuple(int(k) for k in params["dimensions"]))]
    if name == "slice":
        strides = params.get("strides") or (1,) * x.ndim
        idx = tuple(
            slice(int(a), int(b), int(c)) for a, b, c in zip(params["start_indices"], params["limit_indices"], strides)
        )
        return [x[idx]]
    if name == "concatenate":
        return [np.concatenate(arrays, axis=int(params["dimension"]))]
    if name == "pad":
        config = [(int(a), int(b), int(c)) for a, b, c in params["padding_config"]]
        if any(c != 0 for _, _, c in config):
            return None
        fill = np.asarray(arrays[1]).item()
        padded = np.pad(x, [(max(a, 0), max(b, 0)) for a, b, _ in config], constant_values=fill)
        crop = tuple(slice(-min(a, 0), padded.shape[k] + min(b, 0)) for k, (a, b, _) in enumerate(config))
        return [padded[crop]]
    if name == "rev":
        return [np.flip(x, axis=tuple(int(k) for k in params["dimensions"]))]
    if name in ("copy", "copy_p"):
        return [x]
    if name == "split":
        cuts = np.cumsum([int(n) for n in params["sizes"]])[:-1]
        return list(np.split(x, cuts, axis=int(params["axis"])))
    return None


def _move(prim: Any, arrays: Sequence[Any], params: dict) -> list[np.ndarray]:
    import jax.numpy as jnp

    out = _numpy_move(prim.name, [np.asarray(a) for a in arrays], params)
    if out is not None:
        return out
    return _bind(prim, [jnp.asarray(a) for a in arrays], params)


def _structural(prim: Any, args: Sequence[Value], params: dict) -> list[Value]:
    """A data-movement operation: every output entry is one input entry (or a constant fill
    value), so it maps lower ends to lower ends and upper ends to upper ends."""
    if not any(isinstance(a, (Interval, Tri)) for a in args):
        return _move(prim, args, params)
    if any(isinstance(a, Tri) for a in args):
        # move "can be true" and "must be true" (both monotone in a constant fill value:
        # a fill of False can be false, and is not true), then "can be false" = not "must be true"
        t = _move(prim, [a.can_true if isinstance(a, Tri) else a for a in args], params)
        m = _move(prim, [~a.can_false if isinstance(a, Tri) else a for a in args], params)
        return [Tri(a, ~b) for a, b in zip(t, m)]
    lo = _move(prim, [a.lo if isinstance(a, Interval) else a for a in args], params)
    hi = _move(prim, [a.hi if isinstance(a, Interval) else a for a in args], params)
    return [iv._clean(a, b) if a.dtype.kind == "f" else a for a, b in zip(lo, hi)]


def _scatter(args: Sequence[Value], params: dict) -> list[Value]:
    """``scatter`` overwrites; sound on ends only when no two updates share a target, which
    is checked by counting (a scatter-add of ones)."""
    import jax
    import jax.numpy as jnp

    operand, indices, updates = args
    counts = jax.lax.scatter_add(
        jnp.zeros(np.shape(_interval(operand).lo)),
        jnp.asarray(indices),
        jnp.ones(np.shape(_interval(updates).lo)),
        params["dimension_numbers"],
        indices_are_sorted=params["indices_are_sorted"],
        unique_indices=False,
        mode=params["mode"],
    )
    if float(jnp.max(counts)) > 1:
        raise SpecError("sound bounds: a scatter writes one entry twice (its result is not determined); not supported")
    prim = jax.lax.scatter_p
    return _structural(prim, [_interval(operand), indices, _interval(updates)], params)


# ---------------------------------------------------------------------- comparisons
def _compare(name: str, a: Value, b: Value) -> Tri:
    if not isinstance(a, (Interval, Tri)) and not isinstance(b, (Interval, Tri)):
        op = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater}
        op["ge"] = np.greater_equal
        return Tri.exact(op[name](a, b))
    x, y = _interval(a), _interval(b)
    if name in ("gt", "ge"):
        x, y, name = y, x, {"gt": "lt", "ge": "le"}[name]
    if name == "lt":  # x < y
        return Tri(x.lo < y.hi, x.hi >= y.lo)
    if name == "le":
        return Tri(x.lo <= y.hi, x.hi > y.lo)
    point_eq = (x.lo == x.hi) & (y.lo == y.hi) & (x.lo == y.lo)
    overlap = (x.lo <= y.hi) & (y.lo <= x.hi)
    if name == "eq":
        return Tri(overlap, ~point_eq)
    return Tri(~point_eq, overlap)  # ne


def _self_compare(name: str, a: Value) -> Tri:
    """A value compared with itself: equal, unless it may be NaN (a non-finite enclosure)."""
    if isinstance(a, Interval):
        finite = np.isfinite(a.lo) & np.isfinite(a.hi)
    else:
        finite = np.ones(np.shape(a.can_true if isinstance(a, Tri) else a), dtype=bool)
    if name in ("eq", "le", "ge"):
        return Tri(np.ones_like(finite), ~finite)
    return Tri(~finite, np.ones_like(finite))


def _select(pred: Value, cases: Sequence[Value]) -> Value:
    if isinstance(pred, Tri):
        assert len(cases) == 2
        if _ints(cases) and np.all(pred.can_true != pred.can_false):  # decided: integers stay exact
            return np.where(pred.can_true, np.asarray(cases[1]), np.asarray(cases[0]))
        if all(isinstance(c, Tri) for c in cases):
            f, t = cases
            ct = (pred.can_false & f.can_true) | (pred.can_true & t.can_true)
            cf = (pred.can_false & f.can_false) | (pred.can_true & t.can_false)
            return Tri(ct, cf)
        f, t = _interval(cases[0]), _interval(cases[1])
        lo = np.where(pred.can_true, np.where(pred.can_false, np.minimum(f.lo, t.lo), t.lo), f.lo)
        hi = np.where(pred.can_true, np.where(pred.can_false, np.maximum(f.hi, t.hi), t.hi), f.hi)
        return Interval(lo, hi)
    which = np.asarray(pred)
    if all(isinstance(c, Tri) for c in cases):
        return Tri(np.choose(which, [c.can_true for c in cases]), np.choose(which, [c.can_false for c in cases]))
    ivs = [_interval(c) for c in cases]
    if not any(isinstance(c, (Interval, Tri)) for c in cases):
        return np.choose(which, [np.asarray(c) for c in cases])
    return Interval(np.choose(which, [c.lo for c in ivs]), np.choose(which, [c.hi for c in ivs]))


# ------------------------------------------------------------------------ arithmetic
def _dot_general(a: Value, b: Value, dimension_numbers: Any) -> Interval:
    x, y = _interval(a), _interval(b)
    (lc, rc), (lb, rb) = dimension_numbers
    lc, rc, lb, rb = (tuple(int(k) for k in t) for t in (lc, rc, lb, rb))
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    ls = [next(letters) for _ in range(len(x.shape))]
    rs = [""] * len(y.shape)
    for i, j in zip(lc, rc):
        rs[j] = ls[i]
    for i, j in zip(lb, rb):
        rs[j] = ls[i]
    for j in range(len(rs)):
        if not rs[j]:
            rs[j] = next(letters)
    out = [ls[i] for i in lb] + [ls[i] for i in range(len(ls)) if i not in lc and i not in lb]
    out += [rs[j] for j in range(len(rs)) if j not in rc and j not in rb]
    inner = int(np.prod([x.shape[i] for i in lc])) if lc else 1
    return iv.contract(x, y, f"{''.join(ls)},{''.join(rs)}->{''.join(out)}", inner)


def _ints(args: Sequence[Value]) -> bool:
    return not any(isinstance(a, (Interval, Tri)) for a in args)


def _arith(name: str, args: Sequence[Value], params: dict) -> Value:
    if name in ("and", "or", "not", "xor"):
        if _ints(args):
            return {"and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor}.get(name, np.invert)(*args)
        ts = [a if isinstance(a, Tri) else Tri.exact(a) for a in args]
        if name == "not":
            return Tri(ts[0].can_false, ts[0].can_true)
        p, q = ts
        if name == "and":
            return Tri(p.can_true & q.can_true, p.can_false | q.can_false)
        if name == "or":
            return Tri(p.can_true | q.can_true, p.can_false & q.can_false)
        return Tri(
            (p.can_true & q.can_false) | (p.can_false & q.can_true),
            (p.can_true & q.can_true) | (p.can_false & q.can_false),
        )
    if _ints(args) and name == "div":  # lax.div on integers truncates toward zero
        num, den = (np.asarray(v) for v in args)
        if np.any(den == 0):
            raise SpecError("sound bounds: the program divides an integer by zero")
        return (np.sign(num) * np.sign(den) * (np.abs(num) // np.abs(den))).astype(np.result_type(num, den))
    if _ints(args) and name in ("add", "sub", "mul", "neg", "max", "min", "abs", "sign", "add_any"):
        fn = {"add": np.add, "add_any": np.add, "sub": np.subtract, "mul": np.multiply, "neg": np.negative}
        fn.update(max=np.maximum, min=np.minimum, abs=np.abs, sign=np.sign)
        return fn[name](*args)
    x = [_interval(a) for a in args]
    if name in ("add", "add_any"):
        return iv.add(*x)
    if name == "sub":
        return iv.sub(*x)
    if name == "mul":
        return iv.mul(*x)
    if name == "div":
        return iv.div(*x)
    if name == "neg":
        return iv.neg(x[0])
    if name == "max":
        return iv.maximum(*x)
    if name == "min":
        return iv.minimum(*x)
    if name == "abs":
        return iv.absolute(x[0])
    if name == "sign":
        return iv.keep_undefined(Interval(np.sign(x[0].lo), np.sign(x[0].hi)), x[0])
    if name == "square":
        return iv.integer_power(x[0], 2)
    if name == "integer_pow":
        return iv.integer_power(x[0], _power_exponent(int(params["y"])))
    if name == "sqrt":
        return iv.sqrt(x[0])
    if name == "rsqrt":
        return iv.div(iv.point(np.ones(x[0].shape)), iv.sqrt(x[0]))
    if name == "pow":
        base, expo = x
        if np.all(expo.lo == expo.hi) and np.all(expo.lo == np.round(expo.lo)) and np.unique(expo.lo).size == 1:
            return iv.integer_power(base, _power_exponent(int(np.unique(expo.lo)[0])))
        # b^e = exp(e log b) only for b > 0: a negative base with an integer exponent has a
        # finite value of either sign (IEEE pow and the real power agree there), which the
        # logarithm cannot see: the whole line wherever the base may be negative
        out = iv.elementary("exp", iv.mul(expo, iv.elementary("log", base)))
        negative = np.broadcast_to(base.lo < 0, out.lo.shape)
        return Interval(np.where(negative, -np.inf, out.lo), np.where(negative, np.inf, out.hi))
    if name == "is_finite":
        a = x[0]
        return Tri(~(np.isneginf(a.hi) | np.isposinf(a.lo)), ~(np.isfinite(a.lo) & np.isfinite(a.hi)))
    if name in iv.ELEMENTARY:
        return iv.elementary(name, x[0])
    raise AssertionError(name)


MAX_INTEGER_POWER = 4096  # integer powers are n - 1 rounded products; beyond this, refused


def _power_exponent(n: int) -> int:
    if abs(n) > MAX_INTEGER_POWER:
        raise SpecError(f"sound bounds: the program raises to the power {n} (at most {MAX_INTEGER_POWER} is supported)")
    return n


_ARITH = frozenset(
    {"add", "add_any", "sub", "mul", "div", "neg", "max", "min", "abs", "sign", "square", "integer_pow", "sqrt"}
    | {"rsqrt", "pow", "is_finite", "and", "or", "not", "xor"}
    | set(iv.ELEMENTARY)
)
_COMPARE = frozenset({"eq", "ne", "lt", "le", "gt", "ge"})
_REDUCE = frozenset({"reduce_sum", "reduce_max", "reduce_min"})
_CALLS = frozenset({"jit", "pjit", "closed_call", "core_call", "remat", "checkpoint", "custom_jvp_call"})
_CALLS_VJP = frozenset({"custom_vjp_call", "custom_vjp_call_jaxpr"})
_OTHER = frozenset({"dot_general", "select_n", "iota", "convert_element_type", "scatter", "stop_gradient"})
SUPPORTED: frozenset[str] = _STRUCTURAL | _ARITH | _COMPARE | _REDUCE | _CALLS | _CALLS_VJP | _OTHER
"""The JAX operations a program may use to have sound bounds."""


def _sub_jaxpr(eqn: Any) -> Any:
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        if key in eqn.params:
            return eqn.params[key]
    raise SpecError(f"sound bounds: cannot read the program of the operation {eqn.primitive.name!r}")


def _closed(j: Any) -> tuple[Any, list]:
    return (j.jaxpr, list(j.consts)) if hasattr(j, "consts") else (j, [])


def unsupported_operations(jaxpr: Any) -> set[str]:
    """Names of the operations of ``jaxpr`` (nested programs included) outside SUPPORTED."""
    bad: set[str] = set()
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name not in SUPPORTED:
            bad.add(name)
        elif name in _CALLS | _CALLS_VJP:
            bad |= unsupported_operations(_closed(_sub_jaxpr(eqn))[0])
    return bad


def _convert(v: Value, params: dict, source: Any = np.float64) -> Value:
    dtype = np.dtype(params["new_dtype"])
    if dtype.kind == "f":
        if dtype != np.float64:
            raise SpecError(f"sound bounds: the program converts to {dtype} (only float64 is supported)")
        if isinstance(v, (Interval, Tri)):
            return _interval(v)
        a = np.asarray(v)
        if a.size and np.max(np.abs(a)) > 2**53:
            raise SpecError("sound bounds: an integer above 2^53 is converted to a float")
        return iv.point(a.astype(np.float64))
    if dtype.kind == "b":
        if isinstance(v, Tri):
            return v
        if isinstance(v, Interval):
            return _truth(v)
        return Tri.exact(np.asarray(v) != 0)
    if isinstance(v, Tri):  # a boolean to an integer: exact where decided, else [0, 1]
        return _declared(_interval(v), dtype, "convert_element_type")
    if isinstance(v, Interval):
        if np.dtype(source).kind in "iu":  # an integer not determined on the box stays an interval
            return _declared(v, dtype, "convert_element_type")
        raise SpecError(f"sound bounds: the program converts a float to {dtype} (not supported)")
    return np.asarray(v).astype(dtype)


def _truth(v: Interval) -> Tri:
    """A number as a boolean: true unless exactly 0, false where 0 is in the interval."""
    return Tri(~((v.lo == 0) & (v.hi == 0)), (v.lo <= 0) & (v.hi >= 0))


def _declared(v: Value, dtype: Any, consumer: str) -> Value:
    """``v`` as its declared dtype: a boolean held as an interval (a max of booleans, a
    boolean scatter) becomes three-valued; an integer held as an interval that is one
    integer on the whole box becomes that exact integer. An integer that is not determined
    on the box (chosen by an undecided comparison) stays an interval, which arithmetic and
    conversion to float accept; used as an index it is refused."""
    kind = np.dtype(dtype).kind
    if kind == "b" and isinstance(v, Interval):
        return _truth(v)
    if kind in "iu" and isinstance(v, Interval):
        if np.all(v.lo == v.hi) and np.all(np.isfinite(v.lo)) and np.all(v.lo == np.round(v.lo)):
            return np.asarray(v.lo).astype(dtype)
        if consumer in _STRUCTURAL or consumer == "scatter":
            raise SpecError(
                "sound bounds: an integer the program uses as an index is not determined on a box "
                "(a comparison sgncert cannot decide there chooses it); not supported"
            )
    return v


def interpret(
    jaxpr: Any, consts: Sequence[Any], args: Sequence[Value], undecided: list[np.ndarray] | None = None
) -> list[Value]:
    """Run ``jaxpr`` on interval / exact arguments (module docstring). ``undecided``
    collects, for every operation that may jump (a selection, a boolean turned into a
    number, sign), the mask of entries where the box does not decide it."""
    from jax.extend import core as jcore

    env: dict[Any, Value] = {}

    def read(v: Any) -> Value:
        if isinstance(v, jcore.Literal):
            return _lift(v.val)
        return env[v]

    def _lift(val: Any) -> Value:
        a = np.asarray(val)
        if a.dtype.kind == "c":
            raise SpecError("sound bounds: the program uses complex numbers (not supported)")
        if a.dtype.kind == "f":
            a = a.astype(np.float64)
            return iv._clean(a, a)  # a NaN constant: the whole line
        if a.dtype.kind == "b":
            return Tri.exact(a)
        return a

    for var, val in zip(jaxpr.constvars, consts):
        env[var] = _lift(val)
    for var, val in zip(jaxpr.invars, args):
        env[var] = val
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        dtypes = [np.dtype(getattr(v.aval, "dtype", np.float64)) for v in [*eqn.invars, *eqn.outvars]]
        if any(t.kind == "c" for t in dtypes):
            raise SpecError("sound bounds: the program uses complex numbers (not supported)")
        if any(t.kind == "f" and t != np.float64 for t in dtypes):
            narrow = next(t for t in dtypes if t.kind == "f" and t != np.float64)
            raise SpecError(f"sound bounds: the program computes in {narrow} (only float64 is supported)")
        ins = [_declared(read(v), getattr(v.aval, "dtype", np.float64), name) for v in eqn.invars]
        params = dict(eqn.params)
        if name in _STRUCTURAL:
            outs = _structural(eqn.primitive, ins, params)
        elif name == "scatter":
            outs = _scatter(ins, params)
        elif name in _ARITH:
            if undecided is not None and name == "sign" and isinstance(ins[0], Interval):
                undecided.append((ins[0].lo <= 0) & (ins[0].hi >= 0) & (ins[0].lo < ins[0].hi))
            outs = [_arith(name, ins, params)]
        elif name in _COMPARE and len(eqn.invars) == 2 and eqn.invars[0] is eqn.invars[1]:
            outs = [_self_compare(name, ins[0])]  # x == x, x != x (NaN tests): decided unless x may be NaN
        elif name in _COMPARE:
            outs = [_compare(name, *ins)]
        elif name == "select_n":
            if undecided is not None and isinstance(ins[0], Tri):
                undecided.append(ins[0].can_true & ins[0].can_false)
            outs = [_select(ins[0], ins[1:])]
        elif name == "dot_general":
            outs = [_dot_general(ins[0], ins[1], params["dimension_numbers"])]
        elif name in _REDUCE:
            axes = tuple(int(a) for a in params["axes"])
            if _ints(ins):
                reduce: Any = {"reduce_sum": np.sum, "reduce_max": np.max, "reduce_min": np.min}[name]
                outs = [reduce(ins[0], axis=axes)]
            elif name == "reduce_sum":
                outs = [iv.total(_interval(ins[0]), axes)]
            else:
                x = _interval(ins[0])
                fn = np.max if name == "reduce_max" else np.min
                # XLA's max / min of a NaN is NaN: a possibly undefined entry makes the result so
                out = Interval(fn(x.lo, axis=axes), fn(x.hi, axis=axes))
                outs = [iv.whole_where(out, np.any(iv.undefined(x), axis=axes))]
        elif name == "iota":
            outs = [_lift(np.asarray(eqn.primitive.bind(**params)))]
        elif name == "convert_element_type":
            if undecided is not None and isinstance(ins[0], Tri):
                undecided.append(ins[0].can_true & ins[0].can_false)
            outs = [_convert(ins[0], params, getattr(eqn.invars[0].aval, "dtype", np.float64))]
        elif name == "stop_gradient":
            outs = ins
        elif name in _CALLS or name in _CALLS_VJP:
            sub, sub_consts = _closed(_sub_jaxpr(eqn))
            n_consts = int(params.get("num_consts", 0)) if name in _CALLS_VJP else 0
            outs = interpret(
                sub, sub_consts, ins[n_consts:] if n_consts and len(ins) > len(sub.invars) else ins, undecided
            )
        else:
            raise SpecError(f"sound bounds: the operation {name!r} is not supported")
        for var, val in zip(eqn.outvars, outs):
            env[var] = val
    return [read(v) for v in jaxpr.outvars]


class Enclosure(NamedTuple):
    """Interval Jacobians ``J`` (n, d_m, d_m) in the metric space's coordinates and, for the
    Fisher geometry, the reduced Fisher matrices ``G`` (n, d_m, d_m) (None: G = I)."""

    J: Interval
    G: Interval | None


def stack_enclosures(items: Sequence[Enclosure]) -> Enclosure:
    """One :class:`Enclosure` of many boxes, in order."""
    J = Interval(np.concatenate([e.J.lo for e in items]), np.concatenate([e.J.hi for e in items]))
    if items[0].G is None:
        return Enclosure(J, None)
    G = Interval(
        np.concatenate([e.G.lo for e in items if e.G is not None]),
        np.concatenate([e.G.hi for e in items if e.G is not None]),
    )
    return Enclosure(J, G)


def take(e: Enclosure, rows: slice | np.ndarray) -> Enclosure:
    """The boxes ``rows`` of an enclosure."""
    J = Interval(e.J.lo[rows], e.J.hi[rows])
    return Enclosure(J, None if e.G is None else Interval(e.G.lo[rows], e.G.hi[rows]))


@dataclass(frozen=True)
class _Program:
    """A traced batch program run in interval arithmetic. With ``defined_by_value``, the
    program returns (J, F) and the boxes where F's enclosure is not finite (F may be
    undefined or unbounded there) get the whole line for every entry of J: a Jacobian
    bound proves nothing about a game whose pseudo-gradient may be NaN in the box."""

    jaxpr: Any
    consts: list
    batch: int
    defined_by_value: bool = False

    def __call__(self, lo: np.ndarray, hi: np.ndarray) -> Interval:
        return self.evaluate(lo, hi)[0]

    def evaluate(self, lo: np.ndarray, hi: np.ndarray) -> tuple[Interval, np.ndarray]:
        """(the enclosure, ``defined`` (n,)): False on the boxes where F's enclosure is not
        finite (``defined_by_value``), whose enclosure is the whole line."""
        los, his, oks = [], [], []
        for count, blo, bhi in _padded_batches(lo, hi, self.batch):
            outs = interpret(self.jaxpr, self.consts, [Interval(blo, bhi)])
            J = _interval(outs[0])
            defined = np.ones(blo.shape[0], dtype=bool)
            if self.defined_by_value:
                F = _interval(outs[1])
                defined = np.all(np.isfinite(F.lo) & np.isfinite(F.hi), axis=tuple(range(1, F.lo.ndim)))
                J = _whole_boxes(J, ~defined)
            los.append(J.lo[:count])
            his.append(J.hi[:count])
            oks.append(defined[:count])
        return Interval(np.concatenate(los), np.concatenate(his)), np.concatenate(oks)


@dataclass(frozen=True)
class _JumpGuard:
    """F's own program (vmapped over ``batch`` boxes, a batch size no axis of the game
    shares) run in interval arithmetic to find the boxes where F may jump: where a selection
    or a boolean made a number on values depending on x is not decided by the box."""

    jaxpr: Any
    consts: list
    batch: int

    def may_jump(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        out = []
        for count, blo, bhi in _padded_batches(lo, hi, self.batch):
            masks: list[np.ndarray] = []
            interpret(self.jaxpr, self.consts, [Interval(blo, bhi)], masks)
            flags = np.zeros(self.batch, dtype=bool)
            for m in masks:
                m = np.asarray(m, dtype=bool)
                axes = [k for k, size in enumerate(m.shape) if size == self.batch]
                if len(axes) == 1:  # the boxes' axis: any undecided entry of a box flags it
                    flags |= np.moveaxis(m, axes[0], 0).reshape(self.batch, -1).any(axis=1)
                elif m.any():  # no box axis to read it by: every box
                    flags[:] = True
            out.append(flags[:count])
        return np.concatenate(out) if out else np.zeros(0, dtype=bool)


def _padded_batches(lo: np.ndarray, hi: np.ndarray, batch: int):
    """(count, lo, hi) per batch of ``batch`` boxes, the last padded with copies of its first
    box (one traced batch shape)."""
    for start in range(0, lo.shape[0], batch):
        blo, bhi = lo[start : start + batch], hi[start : start + batch]
        count = blo.shape[0]
        if count < batch:
            blo = np.concatenate([blo, np.repeat(blo[:1], batch - count, axis=0)])
            bhi = np.concatenate([bhi, np.repeat(bhi[:1], batch - count, axis=0)])
        yield count, blo, bhi


def _guard_batch(game: Game) -> int:
    """A prime batch size above ENCLOSURE_BATCH that no size of the game's arrays is likely
    to share (its dimension and block sizes are avoided)."""
    taken = {game.dim, *game.block_sizes, *game.metric_block_sizes}
    k = ENCLOSURE_BATCH + 1
    while k in taken or any(k % q == 0 for q in range(2, int(k**0.5) + 1)):
        k += 1
    return k


def _whole_boxes(J: Interval, boxes: np.ndarray) -> Interval:
    """``J`` (n, ...) with the whole line on every entry of the boxes ``boxes`` (n,)."""
    return iv.whole_where(J, np.broadcast_to(boxes.reshape((-1,) + (1,) * (J.lo.ndim - 1)), J.shape))


@dataclass(frozen=True)
class JacobianEnclosure:
    """``enclose(lo, hi)`` -> :class:`Enclosure` of the Jacobians over the boxes (n, d).

    Two enclosures are intersected: the program of J run on the box (the natural interval
    extension), and, when ``second`` is given, the mean-value form
    ``J(x) in J(c) + sum_k dJ/dx_k(box) (x_k - c_k)`` around the box's centre c, whose
    excess width shrinks quadratically with the box. Fisher-geometry games (``fisher``
    given) also enclose the reduced Fisher matrix G~(x), and J is taken in the reduced
    coordinates ``B^T J B`` (B the gauge basis)."""

    dim: int
    first: _Program
    second: _Program | None = None
    fisher: _Program | None = None
    gauge: np.ndarray | None = None
    guard: _JumpGuard | None = None

    def __call__(self, lo: np.ndarray, hi: np.ndarray) -> Enclosure:
        return self.with_smear(lo, hi)[0]

    def with_smear(
        self, lo: np.ndarray, hi: np.ndarray, sizes: Sequence[int] | None = None
    ) -> tuple[Enclosure, np.ndarray]:
        """The enclosure (in the metric space's coordinates) and each coordinate's smear
        (:meth:`jacobian_with_smear`)."""
        J, smear = self.jacobian_with_smear(lo, hi, sizes)
        if self.fisher is None:
            return Enclosure(J, None), smear
        assert self.gauge is not None
        B = iv.point(self.gauge)
        Jr = iv.contract(iv.contract(B, J, "ka,nkl->nal", B.shape[0]), B, "nal,lb->nab", B.shape[0])
        return Enclosure(Jr, self.fisher(lo, hi)), smear

    def jacobian_with_smear(
        self, lo: np.ndarray, hi: np.ndarray, sizes: Sequence[int] | None = None
    ) -> tuple[Interval, np.ndarray]:
        """The enclosure and each coordinate's *smear* per block (n, N, N, d):
        ``sum_{ab in block} max|dJ_ab/dx_k| w_k`` over the box, how much of the block's
        width coordinate k accounts for (the box's sides when no derivative program is
        used). ``sizes``: the blocks (default: one block)."""
        sizes = [self.dim] if sizes is None else list(sizes)
        N = len(sizes)
        J, defined = self.first.evaluate(lo, hi)
        if self.guard is not None:  # a box where F may jump proves nothing (its Jacobian misses the jump)
            defined = defined & ~self.guard.may_jump(lo, hi)
            J = _whole_boxes(J, ~defined)
        if self.second is None:
            return J, np.broadcast_to((hi - lo)[:, None, None, :], (lo.shape[0], N, N, lo.shape[1])).copy()
        c = lo + 0.5 * (hi - lo)
        Jc = self.first(c, c)
        H = self.second(lo, hi)  # (n, d, d, d): dJ_ab / dx_k
        step = iv.sub(Interval(lo, hi), iv.point(c))  # x - c over the box (n, d)
        spread = iv.contract(H, step, "nabk,nk->nab", lo.shape[1])
        mv = iv.add(Jc, spread)
        with np.errstate(invalid="ignore"):
            size = np.maximum(np.abs(H.lo), np.abs(H.hi))
            size = np.where(np.isfinite(size), size, 1e300)
            off = np.concatenate([[0], np.cumsum(sizes)])
            rows = np.add.reduceat(size, off[:-1], axis=1)
            blocks = np.add.reduceat(rows, off[:-1], axis=2)  # (n, N, N, d)
            smear = blocks * (hi - lo)[:, None, None, :]
        # the mean-value form knows nothing of F: a box where F may be undefined stays unproved
        return _whole_boxes(Interval(np.maximum(J.lo, mv.lo), np.minimum(J.hi, mv.hi)), ~defined), smear


# operations that can make J jump (a selection on a comparison, sign, rounding) or make
# JAX's derivative of J differ from the true one (stop_gradient, loops): with any of them in
# J's program the mean-value form, which integrates JAX's dJ/dx along segments, is not used
_NOT_SMOOTH = frozenset(
    {"select_n", "sign", "floor", "ceil", "round", "rem", "stop_gradient", "is_finite", "clamp"}
    | {"eq", "ne", "lt", "le", "gt", "ge", "and", "or", "not", "xor", "argmax", "argmin", "sort"}
    | {"while", "cond", "scan", "custom_vjp_call", "custom_vjp_call_jaxpr"}
)


def rough_operations(jaxpr: Any, depends: Sequence[bool] | None = None) -> set[str]:
    """The operations of _NOT_SMOOTH that act on values depending on the inputs (``depends``:
    which inputs count; default all): a comparison of constants (jacfwd's basis vectors) or
    a selection on a constant mask is not a jump. Nested programs are searched with their
    inputs' dependence."""
    from jax.extend import core as jcore

    dep: dict[Any, bool] = {}
    for var, d in zip(jaxpr.invars, depends if depends is not None else [True] * len(jaxpr.invars)):
        dep[var] = bool(d)

    def of(v: Any) -> bool:
        return False if isinstance(v, jcore.Literal) else dep.get(v, False)

    found: set[str] = set()
    for eqn in jaxpr.eqns:
        ins = [of(v) for v in eqn.invars]
        name = eqn.primitive.name
        if name == "select_n":
            if ins and ins[0]:
                found.add(name)
        elif name in _NOT_SMOOTH and any(ins):
            found.add(name)
        for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
            if key in eqn.params:
                sub = _closed(eqn.params[key])[0]
                found |= rough_operations(sub, ins[-len(sub.invars) :] if sub.invars else [])
        for var in eqn.outvars:
            dep[var] = any(ins)
    return found


def mean_value_applies(game: Game, jac: Callable[[Any], Any]) -> bool:
    """True when the mean-value form is valid for ``game``: J is continuous and JAX's
    derivative of its program is the true one, which sgncert knows for the programs it
    writes (cost expressions with their stated derivatives, pseudo-gradient blocks, the
    normal-form closed form) once dead code is removed and no operation of _NOT_SMOOTH is
    left. A Python hook is a black box (a custom derivative rule could lie): never."""
    import jax
    import jax.numpy as jnp

    if game.kind not in ("costs", "blocks", "normal_form"):
        return False
    live = _live(jax.make_jaxpr(jac)(jnp.zeros(game.dim)))
    if live is None:  # the private dead-code pass moved: stay with the interval program alone
        return False
    return not rough_operations(live)


def _live(closed: Any) -> Any:
    """The jaxpr of ``closed`` with dead code removed (None when JAX's private pass moved)."""
    try:
        from jax._src.interpreters import partial_eval as pe

        return pe.dce_jaxpr(closed.jaxpr, [True] * len(closed.jaxpr.outvars), instantiate=True)[0]
    except Exception:
        return None


_TRACED: dict[tuple[str, int, bool, bool], JacobianEnclosure] = {}  # by the game's sha256: certify, then verify
_TRACED_MAX = 8


# operations that let F jump (a selection or a comparison on values depending on x, sign,
# rounding, loops) or make JAX's derivative of F differ from the true one (stop_gradient, a
# custom vjp): with any of them in F's own program, the Jacobian program's enclosure says
# nothing about how F changes across a jump, so sound bounds are refused
# (clamp and sort are continuous in F; logic on booleans matters only through a selection or a conversion)
_JUMPS = _NOT_SMOOTH - {"clamp", "sort", "and", "or", "not", "xor"}
# of those, the ones a box can decide (checked box by box by :class:`_JumpGuard`); the others are refused
_JUMPS_BY_BOX = frozenset({"select_n", "sign", "is_finite", "eq", "ne", "lt", "le", "gt", "ge"})


def jumps_of(game: Game, F: Callable[[Any, Any], Any] | None = None) -> set[str]:
    """The operations of ``game``'s pseudo-gradient program (dead code removed) that may
    make F jump or its JAX derivative differ from the true one, acting on values that
    depend on x (:data:`_JUMPS`); ``F``: the program to read (default the game's own)."""
    import jax
    import jax.numpy as jnp

    F = game.pseudo_gradient if F is None else F
    p = game.jax_params()
    closed = jax.make_jaxpr(lambda y: F(y, p))(jnp.zeros(game.dim))
    live = _live(closed)  # (without the dead-code pass: the whole program, which can only find more)
    return rough_operations(closed.jaxpr if live is None else live) & _JUMPS


def jacobian_enclosure(
    game: Game, batch: int = ENCLOSURE_BATCH, mean_value: bool = True, continuous_only: bool = True
) -> JacobianEnclosure:
    """The interval Jacobian of ``game`` (and its reduced Fisher matrix in the Fisher
    geometry); SpecError naming any operation that cannot be enclosed, and for Markov games.
    ``continuous_only`` (every proof): SpecError also when F's own program may jump or its
    JAX derivative is not F's (:func:`jumps_of`); off only to test the interpreter.
    The traced programs are kept for the few games last enclosed (their canonical spec's
    sha256 names them), so verifying right after certifying traces nothing again."""
    key = (game.sha256, int(batch), bool(mean_value), bool(continuous_only))
    if key not in _TRACED:
        if len(_TRACED) >= _TRACED_MAX:
            _TRACED.pop(next(iter(_TRACED)))
        _TRACED[key] = _trace_enclosure(game, batch, mean_value, continuous_only)
    return _TRACED[key]


def _trace_enclosure(game: Game, batch: int, mean_value: bool, continuous_only: bool = True) -> JacobianEnclosure:
    import jax
    import jax.numpy as jnp

    from ..util.jaxenv import jax_scope

    if game.kind == "markov":
        raise SpecError(
            "sound bounds are not supported yet for Markov games (their occupancy solve is a loop that "
            "sgncert cannot enclose); use --bounds sampled"
        )
    fisher_fn = None
    F = game.pseudo_gradient
    offsets = tuple(pl.offset for pl in game.players)
    if game.kind == "normal_form":
        from ..games.markov import normal_form_pseudo_gradient, reduced_fisher

        # the same F in exact arithmetic, in a closed form interval arithmetic encloses tightly
        F = normal_form_pseudo_gradient(game.extras["model"], offsets)
        if game.transform is not None:
            fisher_fn = reduced_fisher(game.extras["model"], offsets)
    with jax_scope():
        p = game.jax_params()
        jumps = jumps_of(game, F) if continuous_only else set()
        if hard := jumps - _JUMPS_BY_BOX:
            names = ", ".join(sorted(hard))
            raise SpecError(
                f"sound bounds: the game's F uses {names} on values that depend on x, so F may jump or its JAX "
                "derivative is not F's (stop_gradient: a derivative of 0); its Jacobian bounds would prove nothing "
                "about F. Write F without them, or use --bounds sampled (docs/theory.md §14)"
            )
        guard = None
        if jumps:  # selections and comparisons: a box that does not decide one may hold a jump of F
            gb = _guard_batch(game)
            gj = jax.make_jaxpr(jax.vmap(lambda y: F(y, p)))(jnp.zeros((gb, game.dim)))
            guard = _JumpGuard(gj.jaxpr, list(gj.consts), gb)

        def jac(x: Any) -> Any:
            return jax.jacfwd(lambda y: F(y, p))(x)

        def jac_and_value(x: Any) -> Any:  # (J(x), F(x)) from one forward pass
            def both(y: Any) -> Any:
                v = F(y, p)
                return v, v

            return jax.jacfwd(both, has_aux=True)(x)

        closed = jax.make_jaxpr(jax.vmap(jac_and_value))(jnp.zeros((batch, game.dim)))
        second = None
        if mean_value and game.dim <= MEAN_VALUE_MAX_DIM and mean_value_applies(game, jac):
            second = jax.make_jaxpr(jax.vmap(jax.jacfwd(jac)))(jnp.zeros((batch, game.dim)))
        fisher = None if fisher_fn is None else jax.make_jaxpr(jax.vmap(fisher_fn))(jnp.zeros((batch, game.dim)))
    bad = set()
    for prog in (closed, second, fisher):
        if prog is not None:
            bad |= unsupported_operations(prog.jaxpr)
    if bad:
        names = ", ".join(sorted(bad))
        raise SpecError(
            f"sound bounds: the game's JAX program uses {names}, which sgncert cannot enclose "
            f"(use --bounds sampled, or write the game with supported operations: docs/theory.md §14)"
        )
    first = _Program(closed.jaxpr, list(closed.consts), batch, defined_by_value=True)
    return JacobianEnclosure(
        game.dim,
        first,
        None if second is None else _Program(second.jaxpr, list(second.consts), batch),
        None if fisher is None else _Program(fisher.jaxpr, list(fisher.consts), batch),
        None if fisher is None else np.asarray(game.gauge, dtype=np.float64),
        guard,
    )
