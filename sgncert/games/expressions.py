"""Safe compiler for the sgncert expression language.

Expressions are Python syntax, parsed with :mod:`ast` (never ``eval``/``exec``/``compile``
of user text), checked against a small whitelist, and compiled *once* into a tree of
Python closures built on :mod:`jax.numpy`.  The resulting callable is traceable by
``jax.jit``, ``jax.vmap``, ``jax.jacfwd`` and friends. Every operation also has a NumPy
flavour: :meth:`CompiledExpression.numpy` evaluates NumPy inputs without XLA (sweeps of
affine games evaluate their blocks this way).

Grammar (summary)
-----------------
::

    expr      := number | name | expr BINOP expr | ('-' | '+') expr | '(' expr ')'
               | expr '.T' | expr '[' index ']' | FUNC '(' expr {',' expr} ')'
    BINOP     := '+' | '-' | '*' | '/' | '**' | '@'
    index     := item {',' item}
    item      := INT | [INT] ':' [INT] [':' [INT]]          (INT may carry a leading '-')
    number    := int or float literal in decimal (``16``, ``0.5``, ``.5``, ``1e-3``; not
                 ``0x10``, ``0o17``, ``0b1``, ``1_000`` or ``00``), |value| <= 1e300
                 (ints: at most 300 digits)
    name      := a player (a 1-D vector, from ``x``) or a parameter (from ``p``)

Functions (positional arguments only)
-------------------------------------
``sum(a)``        sum of all elements (``jnp.sum``)
``dot(a, b)``     ``jnp.dot``
``exp log tanh sin cos sqrt``   elementwise, as in ``jax.numpy``
``softplus(a)``   ``log(1 + exp(a))``, elementwise (``jax.nn.softplus``)
``sigmoid(a)``    ``1 / (1 + exp(-a))``, elementwise (``jax.nn.sigmoid``)
``logsumexp(a)``  ``log(sum(exp(a)))`` over *all* elements, computed stably
``logcosh(a)``    ``log(cosh(a))`` elementwise, computed stably as
                  ``a + softplus(-2 a) - log 2``
``norm2(v)``      the *squared* Euclidean norm ``sum(v ** 2)`` (smooth everywhere; it is
                  not the norm itself)
``eye(n)``        the ``n x n`` identity; ``n`` must be a positive integer literal

Other semantics: ``@`` is ``jnp.matmul`` (two 1-D vectors give their inner product),
``.T`` is ``jnp.transpose``, ``/`` is true division, ``**`` is ``jnp.power`` (an integral
literal exponent such as ``2`` or ``2.0`` becomes an integer power).

Anything else -- other attributes, dunder names, unknown names, other calls, keyword
arguments, lambdas, comprehensions, comparisons, boolean operators, conditional
expressions, strings, f-strings, containers, starred expressions, ``:=`` -- is rejected
with a :class:`~sgncert.errors.SpecError` of the form
``"{where}: {problem} in expression '{source}' at column {col}"`` (``col`` is 1-based).
Sources are limited to 10,000 characters and nesting to 100 levels.  Shape or index
errors found when the expression is evaluated are reported the same way; in particular an
integer index outside its axis (``x[7]`` of a 2-vector, ``x[-3]``) or more indices than
the value has axes is an error in both flavours (JAX alone would clamp the index). Slices
keep Python's semantics (``x[1:99]`` is ``x[1:]``).

Degree analysis
---------------
:attr:`CompiledExpression.degree` is a static upper bound of the polynomial degree in
the *player* variables (``math.inf`` when the expression is not recognised as a
polynomial): numbers and parameters have degree 0 and players degree 1; ``+``/``-`` take
the maximum; ``*``, ``@`` and ``dot`` add; ``a / b`` is ``deg(a)`` when ``deg(b) == 0``
and ``inf`` otherwise; ``a ** n`` with ``n`` a non-negative integral literal is
``n * deg(a)`` (so ``a ** 0`` has degree 0); any other power is 0 when both operands
have degree 0 and ``inf`` otherwise; unary signs, ``.T``, indexing and ``sum`` keep the
degree; ``norm2`` doubles it; ``eye`` is 0; every other function is 0 on a degree-0
argument and ``inf`` otherwise.
"""

from __future__ import annotations

import ast
import contextvars
import math
import re
import warnings
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import jax.scipy.special
import numpy as np

from ..errors import SgnError, SpecError
from .fields import did_you_mean

__all__ = ["CompiledExpression", "compile_expression", "FUNCTIONS"]

Array = Any
Evaluator = Callable[[Mapping[str, Array], Mapping[str, Array]], Array]

MAX_SOURCE_LENGTH = 10_000
MAX_DEPTH = 100
MAX_EYE = 4096
_HUGE_FLOAT = 1e300
_HUGE_INT = 10**300
_INDEX_LIMIT = 2**63 - 1
_MAX_DISPLAY = 200
_LOG2 = math.log(2.0)


#: True while :meth:`CompiledExpression.numpy` evaluates (the NumPy flavour of each op).
_NUMPY_FLAVOUR: contextvars.ContextVar[bool] = contextvars.ContextVar("sgncert_numpy_flavour", default=False)


def _dual(jax_op: Callable[..., Array], numpy_op: Callable[..., Array]) -> Callable[..., Array]:
    """One operation in two flavours: JAX (calling an expression; traceable by jit, vmap
    and jacfwd), and NumPy inside :meth:`CompiledExpression.numpy` when no operand is a JAX
    array (no XLA dispatch or compile)."""

    def op(*values: Array) -> Array:
        if _NUMPY_FLAVOUR.get() and not any(isinstance(v, jax.Array) for v in values):
            return numpy_op(*values)
        return jax_op(*values)

    op.__name__ = getattr(jax_op, "__name__", "op")
    return op


def _np_logsumexp(a: Array) -> Array:
    from scipy.special import logsumexp

    return logsumexp(a)


# softplus and logcosh carry their derivatives in closed form (sigmoid and tanh): the same
# numbers as JAX's own rules, but a program that interval arithmetic encloses tightly
# (docs/theory.md §14); JAX's logaddexp rule differentiated twice gives enclosures
# thousands of times too wide.
@jax.custom_jvp
def _softplus(a: Array) -> Array:
    return jax.nn.softplus(a)


@jax.custom_jvp
def _tanh(a: Array) -> Array:
    return jnp.tanh(a)


@_tanh.defjvp
def _tanh_jvp(primals: tuple[Array], tangents: tuple[Array]) -> tuple[Array, Array]:
    (a,), (t,) = primals, tangents
    y = _tanh(a)
    return y, (1.0 - y**2) * t  # JAX's (1 + y)(1 - y) encloses up to 4x too wide


@jax.custom_jvp
def _sigmoid(a: Array) -> Array:
    return jax.nn.sigmoid(a)


@_sigmoid.defjvp
def _sigmoid_jvp(primals: tuple[Array], tangents: tuple[Array]) -> tuple[Array, Array]:
    (a,), (t,) = primals, tangents
    y = _sigmoid(a)
    return y, (0.25 - (y - 0.5) ** 2) * t  # = y (1 - y), one occurrence of y


@_softplus.defjvp
def _softplus_jvp(primals: tuple[Array], tangents: tuple[Array]) -> tuple[Array, Array]:
    (a,), (t,) = primals, tangents
    return _softplus(a), _sigmoid(a) * t


@jax.custom_jvp
def _logcosh(a: Array) -> Array:
    a = jnp.asarray(a)
    return a + jax.nn.softplus(-2.0 * a) - _LOG2


@_logcosh.defjvp
def _logcosh_jvp(primals: tuple[Array], tangents: tuple[Array]) -> tuple[Array, Array]:
    (a,), (t,) = primals, tangents
    return _logcosh(a), _tanh(a) * t


def _np_logcosh(a: Array) -> Array:
    return a + np.logaddexp(0.0, -2.0 * np.asarray(a, dtype=np.float64)) - _LOG2


@jax.custom_jvp
def _logsumexp(a: Array) -> Array:
    """log(sum(exp(a))), shifted by max(a) for stability. Its derivative is the closed form
    softmax(a): JAX's own logsumexp hides the shift behind stop_gradient, which sound bounds
    must refuse (they cannot tell that its derivative cancels)."""
    a = jnp.asarray(a)
    m = jnp.max(a)
    return m + jnp.log(jnp.sum(jnp.exp(a - m)))


@_logsumexp.defjvp
def _logsumexp_jvp(primals: tuple[Array], tangents: tuple[Array]) -> tuple[Array, Array]:
    (a,), (t,) = primals, tangents
    y = _logsumexp(a)
    return y, jnp.sum(jnp.exp(jnp.asarray(a) - y) * t)


def _norm2(v: Array) -> Array:
    return jnp.sum(jnp.square(v))


def _np_norm2(v: Array) -> Array:
    return np.sum(np.square(v))


def _np_sigmoid(a: Array) -> Array:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(a, dtype=np.float64)))


# name -> implementation (one argument); eye and dot are handled separately.
_UNARY: dict[str, Callable[[Array], Array]] = {
    "sum": _dual(jnp.sum, np.sum),
    "exp": _dual(jnp.exp, np.exp),
    "log": _dual(jnp.log, np.log),
    "tanh": _dual(_tanh, np.tanh),
    "sin": _dual(jnp.sin, np.sin),
    "cos": _dual(jnp.cos, np.cos),
    "sqrt": _dual(jnp.sqrt, np.sqrt),
    "softplus": _dual(_softplus, lambda a: np.logaddexp(0.0, a)),
    "logsumexp": _dual(_logsumexp, _np_logsumexp),
    "logcosh": _dual(_logcosh, _np_logcosh),
    "sigmoid": _dual(_sigmoid, _np_sigmoid),
    "norm2": _dual(_norm2, _np_norm2),
}
FUNCTIONS: frozenset[str] = frozenset(_UNARY) | {"dot", "eye"}
_POWER = _dual(jnp.power, np.power)
_NEGATIVE = _dual(jnp.negative, np.negative)
_TRANSPOSE = _dual(jnp.transpose, np.transpose)
_DOT = _dual(jnp.dot, np.dot)

_BINOPS: dict[type[ast.operator], tuple[str, Callable[[Array, Array], Array]]] = {
    ast.Add: ("+", _dual(jnp.add, np.add)),
    ast.Sub: ("-", _dual(jnp.subtract, np.subtract)),
    ast.Mult: ("*", _dual(jnp.multiply, np.multiply)),
    ast.Div: ("/", _dual(jnp.true_divide, np.true_divide)),
    ast.Pow: ("**", _POWER),
    ast.MatMult: ("@", _dual(jnp.matmul, np.matmul)),
}
_REJECTED_BINOPS: dict[type[ast.operator], str] = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
}
_REJECTED_NODES: dict[type[ast.AST], str] = {
    ast.Lambda: "lambda",
    ast.ListComp: "list comprehension",
    ast.SetComp: "set comprehension",
    ast.DictComp: "dict comprehension",
    ast.GeneratorExp: "generator expression (comprehension)",
    ast.Compare: "comparison",
    ast.BoolOp: "boolean operator (and/or)",
    ast.IfExp: "conditional expression (if/else)",
    ast.JoinedStr: "f-string",
    ast.FormattedValue: "f-string",
    ast.Starred: "starred expression",
    ast.NamedExpr: "walrus assignment ':='",
    ast.Dict: "dict display",
    ast.List: "list display",
    ast.Set: "set display",
    ast.Tuple: "tuple (outside a subscript)",
    ast.Slice: "slice (outside a subscript)",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}
_NO_DEPTH = (ast.expr_context, ast.operator, ast.unaryop, ast.boolop, ast.cmpop)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_DECIMAL = re.compile(r"(?:0|[1-9][0-9]*|(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+)\Z")
_RUNTIME_ERRORS = (TypeError, ValueError, IndexError, ArithmeticError)


@dataclass(frozen=True)
class CompiledExpression:
    """A compiled expression: call it as ``expr(x, p)``.

    ``x`` maps player names to 1-D vectors and ``p`` parameter names to scalars or
    arrays.  ``degree`` is the static polynomial degree in the player variables
    (``math.inf`` if not polynomial) and ``names`` the players/parameters referenced.
    """

    source: str
    degree: float
    names: frozenset[str]
    _fn: Evaluator = field(repr=False, compare=False)

    def __call__(self, x: Mapping[str, Array], p: Mapping[str, Array]) -> Array:
        return jnp.asarray(self._fn(x, p))

    def numpy(self, x: Mapping[str, np.ndarray], p: Mapping[str, np.ndarray]) -> np.ndarray:
        """The value in NumPy float64 for NumPy inputs, with no XLA dispatch (an affine
        game's blocks at each point of a sweep). Overflow and invalid operations give
        inf/nan silently, as under JAX; callers check finiteness."""
        token = _NUMPY_FLAVOUR.set(True)
        try:
            with np.errstate(all="ignore"):
                return np.asarray(self._fn(x, p), dtype=np.float64)
        finally:
            _NUMPY_FLAVOUR.reset(token)


@dataclass(frozen=True)
class _Node:
    fn: Evaluator
    degree: float


class _Compiler:
    def __init__(
        self,
        source: str,
        text: str,
        lead: int,
        players: frozenset[str],
        params: frozenset[str],
        where: str,
    ) -> None:
        self.source = source
        self.text = text  # source without leading whitespace (what ast parsed)
        self.lead = lead  # number of leading characters stripped
        self.players = players
        self.params = params
        self.where = where
        self.names: set[str] = set()
        self.lines = _LINE_BREAK.split(text)
        starts = [0]
        for m in _LINE_BREAK.finditer(text):
            starts.append(m.end())
        self.starts = starts

    # -- errors -----------------------------------------------------------------------
    def column(self, lineno: int | None, col_offset: int | None) -> int:
        """Absolute 1-based character column for an ast (line, byte offset)."""
        if not lineno or col_offset is None or lineno > len(self.lines):
            return self.lead + 1
        line = self.lines[lineno - 1]
        chars = len(line.encode("utf-8")[:col_offset].decode("utf-8", errors="ignore"))
        return self.lead + self.starts[lineno - 1] + chars + 1

    def node_column(self, node: ast.AST) -> int:
        """Column of a node; for a binary operation, the column of its operator."""
        col = self.column(getattr(node, "lineno", None), getattr(node, "col_offset", None))
        if isinstance(node, ast.BinOp):
            symbol = _BINOPS.get(type(node.op), (_REJECTED_BINOPS.get(type(node.op), ""),))[0]
            start = self.column(node.left.end_lineno, node.left.end_col_offset)
            stop = self.column(node.right.lineno, node.right.col_offset)
            found = self.source.find(symbol, start - 1, stop - 1) if symbol else -1
            if found >= 0:
                col = found + 1
        return col

    def fail(self, node: ast.AST, what: str, *, at_operator: bool = False) -> SpecError:
        if at_operator:
            col = self.node_column(node)
        else:
            col = self.column(getattr(node, "lineno", None), getattr(node, "col_offset", None))
        return _error(self.where, self.source, col, what)

    # -- compilation ----------------------------------------------------------------
    def compile(self, node: ast.AST) -> _Node:
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.UnaryOp):
            return self.unaryop(node)
        if isinstance(node, ast.Attribute):
            return self.attribute(node)
        if isinstance(node, ast.Subscript):
            return self.subscript(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        what = _REJECTED_NODES.get(type(node), f"construct '{type(node).__name__}'")
        raise self.fail(node, f"{what} is not allowed")

    def check_literal(self, node: ast.Constant) -> int | float:
        value = node.value
        if isinstance(value, bool):
            raise self.fail(node, "boolean literal is not allowed")
        if isinstance(value, (int, float)):
            self.check_decimal(node)
        if isinstance(value, int):
            if abs(value) >= _HUGE_INT:
                raise self.fail(node, "huge literal (more than 300 digits) is not allowed")
            return value
        if isinstance(value, float):
            if not math.isfinite(value) or abs(value) > _HUGE_FLOAT:
                raise self.fail(node, "huge literal (|value| > 1e300) is not allowed")
            return value
        kind = {
            str: "string literal",
            bytes: "bytes literal",
            complex: "complex literal",
            type(None): "None",
            type(Ellipsis): "Ellipsis '...'",
        }.get(type(value), f"literal of type {type(value).__name__}")
        raise self.fail(node, f"{kind} is not allowed")

    def check_decimal(self, node: ast.Constant) -> None:
        """A number literal is written in decimal, as numbers in spec files are (no ``0x10``,
        ``0o17``, ``0b1``, ``1_000`` or ``00``)."""
        lineno, start, stop = node.lineno, node.col_offset, node.end_col_offset
        if not 1 <= lineno <= len(self.lines) or stop is None or node.end_lineno != lineno:
            return
        text = self.lines[lineno - 1].encode("utf-8")[start:stop].decode("utf-8", errors="replace")
        if not _DECIMAL.match(text):
            raise self.fail(
                node, f"number literal '{text}' is not allowed (write numbers in decimal, e.g. 16, 0.5, 1e-3)"
            )

    def constant(self, node: ast.Constant) -> _Node:
        value = float(self.check_literal(node))

        def const(x: Mapping[str, Array], p: Mapping[str, Array]) -> Array:
            return value

        return _Node(const, 0.0)

    def name(self, node: ast.Name) -> _Node:
        ident = node.id
        if ident.startswith("__"):
            raise self.fail(node, f"dunder names are not allowed ('{ident}')")
        if ident in self.players:
            self.names.add(ident)
            return _Node(self.lookup(node, ident, "player", 0), 1.0)
        if ident in self.params:
            self.names.add(ident)
            return _Node(self.lookup(node, ident, "parameter", 1), 0.0)
        if ident in FUNCTIONS:
            raise self.fail(node, f"function '{ident}' must be called, e.g. '{ident}(...)'")
        hint = did_you_mean(ident, self.players | self.params)
        raise self.fail(node, f"unknown name '{ident}'{hint}")

    def lookup(self, node: ast.AST, ident: str, kind: str, which: int) -> Evaluator:
        col = self.column(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        where, source = self.where, self.source

        def get(x: Mapping[str, Array], p: Mapping[str, Array]) -> Array:
            try:
                return (x, p)[which][ident]
            except KeyError:
                raise _error(where, source, col, f"no value given for {kind} '{ident}'") from None

        return get

    def guarded(self, node: ast.AST, desc: str, op: Callable[..., Array], *args: Evaluator) -> Evaluator:
        """Evaluator applying ``op`` to the children's values; runtime errors become SpecError."""
        col = self.node_column(node)
        where, source = self.where, self.source

        def run(values: tuple[Array, ...]) -> Array:
            try:
                return op(*values)
            except SgnError:
                raise
            except _RUNTIME_ERRORS as exc:
                msg = " ".join(str(exc).split()) or type(exc).__name__
                if len(msg) > 160:
                    msg = msg[:157] + "..."
                raise _error(where, source, col, f"cannot evaluate {desc} ({msg})") from exc

        if len(args) == 1:
            (a,) = args

            def ev1(x: Mapping[str, Array], p: Mapping[str, Array]) -> Array:
                return run((a(x, p),))

            return ev1
        if len(args) == 2:
            a, b = args

            def ev2(x: Mapping[str, Array], p: Mapping[str, Array]) -> Array:
                return run((a(x, p), b(x, p)))

            return ev2

        def ev(x: Mapping[str, Array], p: Mapping[str, Array]) -> Array:
            return run(tuple(f(x, p) for f in args))

        return ev

    def binop(self, node: ast.BinOp) -> _Node:
        optype = type(node.op)
        if optype in _REJECTED_BINOPS:
            symbol = _REJECTED_BINOPS[optype]
            raise self.fail(node, f"operator '{symbol}' is not allowed", at_operator=True)
        symbol, op = _BINOPS[optype]
        left = self.compile(node.left)
        right = self.compile(node.right)
        if optype is ast.Pow:
            return self.power(node, left, right)
        if optype in (ast.Add, ast.Sub):
            degree = max(left.degree, right.degree)
        elif optype in (ast.Mult, ast.MatMult):
            degree = left.degree + right.degree
        else:  # Div
            degree = left.degree if right.degree == 0 else math.inf
        return _Node(self.guarded(node, f"'{symbol}'", op, left.fn, right.fn), degree)

    def power(self, node: ast.BinOp, left: _Node, right: _Node) -> _Node:
        exponent = _literal_number(node.right)
        if exponent is not None:
            if float(exponent).is_integer() and abs(exponent) < 2**31:
                exponent = int(exponent)
            if exponent == 0:
                degree = 0.0
            elif exponent > 0 and float(exponent).is_integer():
                degree = math.inf if math.isinf(left.degree) else float(exponent) * left.degree
            else:
                degree = 0.0 if left.degree == 0 else math.inf
            n = exponent

            def const(x: Mapping[str, Array], p: Mapping[str, Array]) -> Array:
                return n

            return _Node(self.guarded(node, "'**'", _POWER, left.fn, const), degree)
        if right.degree == 0:
            degree = 0.0 if left.degree == 0 else math.inf
        else:
            degree = math.inf
        return _Node(self.guarded(node, "'**'", _POWER, left.fn, right.fn), degree)

    def unaryop(self, node: ast.UnaryOp) -> _Node:
        if isinstance(node.op, ast.USub):
            operand = self.compile(node.operand)
            return _Node(self.guarded(node, "unary '-'", _NEGATIVE, operand.fn), operand.degree)
        if isinstance(node.op, ast.UAdd):
            return self.compile(node.operand)
        symbol = {ast.Not: "not", ast.Invert: "~"}.get(type(node.op), "?")
        raise self.fail(node, f"operator '{symbol}' is not allowed")

    def attribute(self, node: ast.Attribute) -> _Node:
        if node.attr.startswith("__"):
            raise self.fail(node, f"dunder names are not allowed ('.{node.attr}')")
        if node.attr != "T":
            raise self.fail(node, f"attribute '.{node.attr}' is not allowed (only '.T' is)")
        operand = self.compile(node.value)
        return _Node(self.guarded(node, "'.T'", _TRANSPOSE, operand.fn), operand.degree)

    def subscript(self, node: ast.Subscript) -> _Node:
        value = self.compile(node.value)
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if not items:
            raise self.fail(node.slice, "empty subscript is not allowed")
        index = tuple(self.index_item(item) for item in items)
        key: Any = index if isinstance(node.slice, ast.Tuple) else index[0]
        col = self.node_column(node)
        where, source = self.where, self.source

        def take(a: Array) -> Array:
            # JAX clamps an out-of-range index (x[7] of a 2-vector reads x[1]); shapes are
            # static under tracing, so check them here, in both flavours
            shape = np.shape(a)
            if len(index) > len(shape):
                given = f"{len(index)} {'index' if len(index) == 1 else 'indices'}"
                axes = f"{len(shape)} {'axis' if len(shape) == 1 else 'axes'}"
                raise _error(where, source, col, f"subscript has {given} for a value with {axes}")
            for k, n in zip(index, shape):
                if isinstance(k, int) and not -n <= k < n:
                    raise _error(where, source, col, f"subscript index {k} is out of range for an axis of length {n}")
            return a[key]

        return _Node(self.guarded(node, "subscript", take, value.fn), value.degree)

    def index_item(self, item: ast.expr) -> int | slice:
        if isinstance(item, ast.Slice):
            bounds = [None if part is None else self.index_int(part) for part in (item.lower, item.upper, item.step)]
            return slice(*bounds)
        return self.index_int(item)

    def index_int(self, node: ast.expr) -> int:
        literal = node
        while isinstance(literal, ast.UnaryOp) and isinstance(literal.op, (ast.USub, ast.UAdd)):
            literal = literal.operand
        if isinstance(literal, ast.Constant) and type(literal.value) in (int, float):
            self.check_decimal(literal)
        value = _literal_number(node)
        if value is None:
            raise self.fail(node, "subscript indices must be integer literals or slices of them")
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(node, "subscript indices must be integer literals (not floats)")
        if abs(value) > _INDEX_LIMIT:
            raise self.fail(node, "subscript index is out of range")
        return value

    def call(self, node: ast.Call) -> _Node:
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.fail(arg, "starred arguments are not allowed")
        if node.keywords:
            raise self.fail(node.keywords[0], "keyword arguments are not allowed")
        func = node.func
        if not isinstance(func, ast.Name):
            if isinstance(func, ast.Attribute):
                if func.attr.startswith("__"):
                    raise self.fail(func, f"dunder names are not allowed ('.{func.attr}')")
                raise self.fail(
                    func,
                    f"calling attribute '.{func.attr}' is not allowed (call a whitelisted function by its bare name)",
                )
            raise self.fail(func, "only calls of whitelisted functions by name are allowed")
        fname = func.id
        if fname.startswith("__"):
            raise self.fail(func, f"dunder names are not allowed ('{fname}')")
        if fname not in FUNCTIONS:
            if fname in self.players or fname in self.params:
                raise self.fail(func, f"'{fname}' is not a function")
            raise self.fail(func, f"unknown function '{fname}'{did_you_mean(fname, FUNCTIONS)}")
        nargs = len(node.args)
        if fname == "eye":
            if nargs != 1:
                raise self.fail(node, f"eye() takes 1 argument ({nargs} given)")
            arg = node.args[0]
            if isinstance(arg, ast.Constant):
                self.check_literal(arg)
            n = _literal_number(arg)
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise self.fail(arg, "eye() needs a positive integer literal")
            if n > MAX_EYE:
                raise self.fail(arg, f"eye() size {n} is too large (at most {MAX_EYE})")
            size = n

            def eye(x: Mapping[str, Array], p: Mapping[str, Array]) -> Array:
                return np.eye(size)  # a constant: NumPy in both flavours

            return _Node(eye, 0.0)
        expected = 2 if fname == "dot" else 1
        if nargs != expected:
            plural = "argument" if expected == 1 else "arguments"
            raise self.fail(node, f"{fname}() takes {expected} {plural} ({nargs} given)")
        compiled = [self.compile(a) for a in node.args]
        if fname == "dot":
            degree = compiled[0].degree + compiled[1].degree
            return _Node(self.guarded(node, "dot()", _DOT, compiled[0].fn, compiled[1].fn), degree)
        (operand,) = compiled
        if fname == "sum":
            degree = operand.degree
        elif fname == "norm2":
            degree = 2.0 * operand.degree
        else:
            degree = 0.0 if operand.degree == 0 else math.inf
        return _Node(self.guarded(node, f"{fname}()", _UNARY[fname], operand.fn), degree)


def _literal_number(node: ast.AST) -> int | float | None:
    """The value of a (possibly signed) int/float literal, else None."""
    sign = 1
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        if isinstance(node.op, ast.USub):
            sign = -sign
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return sign * node.value  # type: ignore[operator, return-value]  # an int or float, by the test
    return None


def _display(source: str) -> str:
    text = "".join(ch if ch.isprintable() else " " for ch in source)
    if len(text) > _MAX_DISPLAY:
        text = text[:_MAX_DISPLAY] + "..."
    return text


def _error(where: str, source: str, col: int, what: str) -> SpecError:
    return SpecError(f"{where}: {what} in expression '{_display(source)}' at column {col}")


def _max_depth_node(tree: ast.AST) -> tuple[ast.AST, int] | None:
    """First node nested deeper than MAX_DEPTH (iterative walk), or None."""
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return node, depth
        for child in reversed(list(ast.iter_child_nodes(node))):
            if not isinstance(child, _NO_DEPTH):
                stack.append((child, depth + 1))
    return None


def compile_expression(
    source: str,
    *,
    players: Collection[str],
    params: Collection[str],
    where: str,
) -> CompiledExpression:
    """Parse, check and compile ``source``; raise SpecError on anything not allowed."""
    if not isinstance(source, str):
        raise SpecError(f"{where}: expression must be a string, got {type(source).__name__}")
    if len(source) > MAX_SOURCE_LENGTH:
        raise _error(
            where,
            source,
            MAX_SOURCE_LENGTH + 1,
            f"expression too long ({len(source)} characters, at most {MAX_SOURCE_LENGTH})",
        )
    depth = 0
    for i, ch in enumerate(source):
        if ch in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                what = f"nesting too deep (more than {MAX_DEPTH} levels)"
                raise _error(where, source, i + 1, what)
        elif ch in ")]}":
            depth = max(0, depth - 1)

    text = source.lstrip(" \t\r\n\f")
    lead = len(source) - len(text)
    compiler = _Compiler(source, text, lead, frozenset(players), frozenset(params), where)
    if not text.strip():
        raise _error(where, source, 1, "empty expression")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        col = compiler.column(exc.lineno, None)
        if exc.lineno and exc.offset and exc.lineno <= len(compiler.lines):
            col = lead + compiler.starts[exc.lineno - 1] + max(exc.offset, 1)
        msg = " ".join(str(exc.msg).split())
        if len(msg) > 120:
            msg = msg[:117] + "..."
        raise _error(where, source, col, f"syntax error ({msg})") from None
    except (RecursionError, MemoryError, ValueError):
        raise _error(where, source, 1, "expression too deeply nested or malformed") from None

    deep = _max_depth_node(tree)
    if deep is not None:
        raise compiler.fail(deep[0], f"nesting too deep (more than {MAX_DEPTH} levels)")

    node = compiler.compile(tree.body)
    return CompiledExpression(
        source=source,
        degree=float(node.degree),
        names=frozenset(compiler.names),
        _fn=node.fn,
    )
