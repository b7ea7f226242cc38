"""Tests for the safe expression compiler (sgncert.games.expressions)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sgncert.errors import SpecError
from sgncert.games.expressions import CompiledExpression, compile_expression
from sgncert.util.jaxenv import jax_scope


@pytest.fixture(autouse=True)
def _float64():
    """Expressions are compiled to JAX; sgncert evaluates them in float64 scopes, as here (the
    test process keeps JAX's global float32 default, like a user's session)."""
    with jax_scope():
        yield


WHERE = "game.yaml: costs.x1"
PLAYERS = ("x", "x1", "x2")
PARAMS = ("lam", "a", "b", "R", "s")

X1 = np.array([0.3, -1.2, 0.7])
X2 = np.array([1.5, 0.25, -0.4])
XV = np.array([0.5, -2.0, 1.25, 3.0])
R = np.array([[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0], [0.25, -0.5, 1.5]])
P = {"lam": 0.8, "a": 10.0, "b": 0.05, "R": R, "s": 2.5}
X = {"x": XV, "x1": X1, "x2": X2}


def comp(src: str) -> CompiledExpression:
    return compile_expression(src, players=PLAYERS, params=PARAMS, where=WHERE)


def ev(src: str, x=None, p=None):
    return np.asarray(comp(src)(X if x is None else x, P if p is None else p))


def softplus_ref(v):
    return np.log1p(np.exp(v))


VALUES = [
    ("0.5 * x1 @ x1 + lam * a * x1 @ x2", 0.5 * X1 @ X1 + 0.8 * 10.0 * X1 @ X2),
    ("0.5 * x2 @ x2 + lam * b * x2 @ x1", 0.5 * X2 @ X2 + 0.8 * 0.05 * X2 @ X1),
    ("logcosh(x)", np.log(np.cosh(XV))),
    ("sum(logcosh(x))", np.sum(np.log(np.cosh(XV)))),
    ("softplus(x)", softplus_ref(XV)),
    ("logsumexp(x)", np.log(np.sum(np.exp(XV)))),
    ("logsumexp(R)", np.log(np.sum(np.exp(R)))),
    ("norm2(x)", float(np.sum(XV**2))),
    ("norm2(x1 - x2)", float(np.sum((X1 - X2) ** 2))),
    ("eye(3) @ x1", X1),
    ("R.T @ x1", R.T @ X1),
    ("x1 @ R @ x2", X1 @ R @ X2),
    ("dot(x1, x2)", float(X1 @ X2)),
    ("x[0]", XV[0]),
    ("x[1:3]", XV[1:3]),
    ("x[-1]", XV[-1]),
    ("x[::-1]", XV[::-1]),
    ("R[0, 2]", R[0, 2]),
    ("R[:, 1]", R[:, 1]),
    ("R[-1, 1:]", R[-1, 1:]),
    ("sigmoid(x)", 1.0 / (1.0 + np.exp(-XV))),
    ("tanh(x) + sin(x) * cos(x)", np.tanh(XV) + np.sin(XV) * np.cos(XV)),
    ("sqrt(exp(x1)) - log(s)", np.sqrt(np.exp(X1)) - np.log(2.5)),
    ("-x1 / s + +x2", -X1 / 2.5 + X2),
    ("x ** 2", XV**2),
    ("x ** 2.0", XV**2),
    ("s ** 0.5", math.sqrt(2.5)),
    ("2 ** -1", 0.5),
    ("(x1 @ x1) ** 2", float(X1 @ X1) ** 2),
    ("sum(x) / 4", np.mean(XV)),
    ("3", 3.0),
]


@pytest.mark.parametrize(("src", "expected"), VALUES)
def test_values(src: str, expected) -> None:
    np.testing.assert_allclose(ev(src), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("src", "expected"), VALUES)
def test_numpy_flavour_values(src: str, expected) -> None:
    """``.numpy`` on NumPy inputs: a NumPy float64 result (no JAX array anywhere), equal to
    the reference and to the JAX flavour."""
    out = comp(src).numpy(X, P)
    assert type(out) is np.ndarray and out.dtype == np.float64
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out, ev(src), rtol=1e-14, atol=1e-15)


def test_numpy_flavour_is_stable_and_silent_for_large_arguments() -> None:
    v = np.array([-800.0, 0.0, 800.0])
    for src in ("logcosh(x)", "softplus(x)", "sigmoid(x)", "logsumexp(x)", "exp(x)", "log(x)"):
        with np.errstate(all="raise"):  # .numpy must not raise or warn: inf/nan as under JAX
            out = comp(src).numpy({"x": v}, P)
        np.testing.assert_allclose(out, ev(src, x={"x": v}), rtol=1e-14, atol=0.0)


def test_logcosh_is_stable_for_large_arguments() -> None:
    v = np.array([-800.0, 0.0, 800.0])
    out = ev("logcosh(x)", x={"x": v})
    np.testing.assert_allclose(out, [800.0 - math.log(2.0), 0.0, 800.0 - math.log(2.0)])
    assert np.all(np.isfinite(out))


def test_jacfwd_matches_hand_gradient() -> None:
    cost = comp("0.5 * x1 @ x1 + lam * a * x1 @ x2 + sum(logcosh(x1)) + norm2(R @ x1)")

    def f(v):
        return cost({"x1": v, "x2": jnp.asarray(X2)}, P)

    grad = np.asarray(jax.jacfwd(f)(jnp.asarray(X1)))
    expected = X1 + 0.8 * 10.0 * X2 + np.tanh(X1) + 2.0 * R.T @ (R @ X1)
    np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-12)


def test_jit_and_vmap() -> None:
    cost = comp("0.5 * x1 @ x1 + lam * x1 @ x2")
    f = jax.jit(lambda v, w: cost({"x1": v, "x2": w}, {"lam": 2.0}))
    batch = np.stack([X1, X2, X1 + X2])
    out = np.asarray(jax.vmap(f, in_axes=(0, None))(batch, X2))
    expected = [0.5 * v @ v + 2.0 * v @ X2 for v in batch]
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_metadata() -> None:
    e = comp("lam * x1 @ x2 + exp(s)")
    assert e.source == "lam * x1 @ x2 + exp(s)"
    assert e.names == frozenset({"lam", "x1", "x2", "s"})
    assert e.degree == 2


@pytest.mark.parametrize(
    ("src", "degree"),
    [
        ("0.5 * x1 @ x1 + lam * a * x1 @ x2", 2),
        ("x1 @ x1 * sum(x2)", 3),
        ("exp(x)", math.inf),
        ("exp(lam) * x @ x", 2),
        ("x / lam", 1),
        ("1 / x", math.inf),
        ("x ** 2", 2),
        ("x ** 2.0", 2),
        ("x ** 0.5", math.inf),
        ("x ** 0", 0),
        ("exp(x) ** 0", 0),
        ("x ** -1", math.inf),
        ("(x @ x) ** 2", 4),
        ("norm2(x)", 2),
        ("norm2(R @ x1 - x2)", 2),
        ("lam ** s", 0),
        ("s ** x", math.inf),
        ("3", 0),
        ("eye(3) @ x1", 1),
        ("dot(x1, R @ x2)", 2),
        ("sum(x1[0:2]) * x2[0] * x2.T[1]", 3),
        ("-x1 @ x1 + 2", 2),
        ("logcosh(s) + sigmoid(lam) * x", 1),
        ("softplus(x1 @ x2)", math.inf),
        ("exp(x) * 0", math.inf),
    ],
)
def test_degree(src: str, degree: float) -> None:
    assert comp(src).degree == degree


@pytest.mark.parametrize(
    ("src", "col", "word"),
    [
        ("__import__('os')", 1, "dunder"),
        ("x.__class__", 1, "dunder"),
        ("jnp.exp(x)", 1, "attribute"),
        ("x1 + x.shape", 6, "attribute"),
        ("lambda: 1", 1, "lambda"),
        ("[i for i in x]", 1, "comprehension"),
        ("sum(i for i in x)", 4, "comprehension"),
        ("open('f')", 1, "unknown function 'open'"),
        ("x if x else x", 1, "conditional"),
        ("1e999", 1, "huge literal"),
        ("x + 1" + "0" * 301, 5, "huge literal"),
        ("'abc'", 1, "string literal"),
        ("x + b'a'", 5, "bytes literal"),
        ("2j * x", 1, "complex literal"),
        ("True * x", 1, "boolean literal"),
        ("None", 1, "None"),
        ("f(x=1)", 3, "keyword"),
        ("exp(x=1)", 5, "keyword"),
        ("exp(*x)", 5, "starred"),
        ("x < 1", 1, "comparison"),
        ("x and x", 1, "boolean operator"),
        ("not x", 1, "'not'"),
        ("f'{x}'", 1, "f-string"),
        ("(y := x)", 2, "walrus"),
        ("[x, x]", 1, "list"),
        ("{1: x}", 1, "dict"),
        ("{x}", 1, "set"),
        ("(x, x)", 1, "tuple"),
        ("x // 2", 3, "'//'"),
        ("(x) % 2", 5, "'%'"),
        ("x[lam]", 3, "integer literal"),
        ("x[0.5]", 3, "integer literal"),
        ("x[...]", 3, "integer literal"),
        ("exp(x, x)", 1, "takes 1 argument"),
        ("dot(x)", 1, "takes 2 arguments"),
        ("eye(lam)", 5, "positive integer literal"),
        ("eye(3.0)", 5, "positive integer literal"),
        ("x1(3)", 1, "not a function"),
        ("exp", 1, "must be called"),
        ("(x1 + x2)(3)", 2, "whitelisted"),
        ("1 + lamb * x", 5, "unknown name 'lamb' (did you mean 'lam'?)"),
        ("x + )", 5, "syntax error"),
        ("", 1, "empty"),
        ("(" * 500 + "x" + ")" * 500, 101, "nesting too deep"),
        ("-" * 150 + "x", 101, "nesting too deep"),
        ("x" + "+x" * 200, 1, "nesting too deep"),
        ("x + " * 3000 + "x", 10001, "too long"),
    ],
)
def test_rejected(src: str, col: int, word: str) -> None:
    with pytest.raises(SpecError) as info:
        comp(src)
    msg = str(info.value)
    assert msg.startswith(WHERE + ": ")
    assert f"at column {col}" in msg
    assert word in msg
    assert "\n" not in msg


def test_error_format_and_columns_across_lines() -> None:
    with pytest.raises(SpecError) as info:
        comp("  (x1 @ x1 +\nfoo)")
    assert str(info.value) == (f"{WHERE}: unknown name 'foo' in expression '  (x1 @ x1 + foo)' at column 14")


def test_runtime_shape_errors_are_spec_errors() -> None:
    with pytest.raises(SpecError, match=r"'@'.*at column 4"):
        comp("x1 @ x")(X, P)
    with pytest.raises(SpecError, match=r"subscript.*at column 1"):
        comp("x1[7]")(X, P)
    with pytest.raises(SpecError, match=r"no value given for player 'x2'"):
        comp("x1 @ x2")({"x1": X1}, P)


@pytest.mark.parametrize(
    ("src", "x", "p", "what"),
    [
        ("x1[7] @ x1", {}, {}, "subscript index 7 is out of range for an axis of length 3"),
        ("x1[-4]", {}, {}, "subscript index -4 is out of range for an axis of length 3"),
        ("lam * r[9]", {}, {"r": np.ones(2)}, "subscript index 9 is out of range for an axis of length 2"),
        ("R[0, 3]", {}, {}, "subscript index 3 is out of range for an axis of length 3"),
        ("R[-4, :]", {}, {}, "subscript index -4 is out of range for an axis of length 3"),
        ("R[:, -4]", {}, {}, "subscript index -4 is out of range for an axis of length 3"),
        ("R[0, 0, 0]", {}, {}, "subscript has 3 indices for a value with 2 axes"),
        ("x1[0, 1]", {}, {}, "subscript has 2 indices for a value with 1 axis"),
        ("s[0]", {}, {}, "subscript has 1 index for a value with 0 axes"),
    ],
)
def test_out_of_range_indices_are_spec_errors(src: str, x, p, what: str) -> None:
    """JAX clamps an out-of-range index (x1[7] would read x1[2]): every flavour refuses it,
    with the column of the subscript."""
    e = compile_expression(src, players=PLAYERS, params=PARAMS + ("r",), where=WHERE)
    col = src.index(src.split("[")[0].split()[-1]) + 1
    expected = f"{WHERE}: {what} in expression '{src}' at column {col}"
    xs, ps = {**X, **x}, {**P, **p}
    jx = {k: jnp.asarray(v) for k, v in xs.items()}
    jp = {k: jnp.asarray(v) for k, v in ps.items()}
    calls = [
        lambda: e(jx, jp),
        lambda: e.numpy(xs, ps),
        lambda: jax.jit(lambda v: e(dict(jx, x1=v), jp))(jx["x1"]),
        lambda: jax.vmap(lambda v: e(dict(jx, x1=v), jp))(jnp.stack([jx["x1"]] * 2)),
    ]
    for call in calls:
        with pytest.raises(SpecError) as info:
            call()
        assert str(info.value) == expected


def test_in_range_indices_and_slices_are_unchanged() -> None:
    jx = {k: jnp.asarray(v) for k, v in X.items()}
    for src, expected in [
        ("x1[-3]", X1[0]),
        ("x1[2]", X1[2]),
        ("x1[1:99]", X1[1:]),
        ("R[5:, 1]", R[5:, 1]),
        ("R[-3, -1]", R[0, 2]),
    ]:
        np.testing.assert_array_equal(ev(src, x=jx), expected)
        np.testing.assert_array_equal(comp(src).numpy(X, P), expected)


def test_out_of_range_index_in_a_spec_names_file_and_line(tmp_path) -> None:
    from sgncert.games.spec import load_game

    path = tmp_path / "game.yaml"
    path.write_text("sgncert: 1\nparams: {r: [1.0, 2.0]}\nplayers: [{name: u, dim: 2}]\ncosts:\n  u: 'u[7] @ u'\n")
    with pytest.raises(SpecError) as info:
        load_game(path)
    assert str(info.value) == (
        f"{path}:5: costs.u: subscript index 7 is out of range for an axis of length 2 in expression 'u[7] @ u' at column 1"
    )
    path.write_text(
        "sgncert: 1\n"
        "params: {r: [1.0, 2.0]}\n"
        "players: [{name: u, dim: 2}]\n"
        "pseudo_gradient:\n"
        "  blocks: {u: {u: 'r[9] * eye(2)'}}\n"
    )
    with pytest.raises(SpecError, match=r"game\.yaml:5: .*subscript index 9 is out of range for an axis of length 2"):
        load_game(path)


@pytest.mark.parametrize(
    ("src", "col", "literal"),
    [
        ("x * 0x10", 5, "0x10"),
        ("x * 1_0", 5, "1_0"),
        ("x * 0o17", 5, "0o17"),
        ("x ** 0b10", 6, "0b10"),
        ("x * 00", 5, "00"),
        ("x * 1_0.5", 5, "1_0.5"),
        ("x[0x1]", 3, "0x1"),
        ("x[-0b1]", 4, "0b1"),
        ("eye(0x2) @ x1[0:2]", 5, "0x2"),
    ],
)
def test_non_decimal_literals_are_rejected(src: str, col: int, literal: str) -> None:
    """Number literals follow the decimal rule of spec files: ``0x10`` in an expression (or a
    spec value such as ``offset: {x: 0x10}``, which reaches the compiler as text) is no 16."""
    with pytest.raises(SpecError) as info:
        comp(src)
    assert str(info.value) == (
        f"{WHERE}: number literal '{literal}' is not allowed (write numbers in decimal, e.g. 16, 0.5, 1e-3) "
        f"in expression '{src}' at column {col}"
    )


def test_decimal_literals() -> None:
    np.testing.assert_allclose(ev("x1 * 1e-3 + .5 + 5. + 2.5E+1 + 0 + 10"), X1 * 1e-3 + 40.5)


ALPHABET = [
    "x",
    "x1",
    "lam",
    "R",
    "s",
    "lamb",
    "__class__",
    "__import__",
    "exp",
    "eye",
    "norm2",
    "dot",
    "open",
    "0",
    "1",
    "2.5",
    "-3",
    "1e999",
    "'a'",
    "True",
    "None",
    "+",
    "-",
    "*",
    "/",
    "**",
    "@",
    "//",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    ".",
    ".T",
    "lambda",
    "if",
    "else",
    "for",
    "in",
    "=",
    ":=",
    "<",
    "and",
    "not",
    " ",
    "\n",
    "{",
    "}",
    "*",
    "f'",
    "...",
    "#",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(ALPHABET), max_size=14))
def test_fuzz_only_spec_errors(tokens: list[str]) -> None:
    src = "".join(tokens)
    try:
        expr = comp(src)
    except SpecError:
        return
    assert expr.degree >= 0
    try:
        expr({"x": XV[:3], "x1": X1, "x2": X2}, P)
    except SpecError:
        pass
