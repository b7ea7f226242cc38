"""Reading spec YAML (sgncert.games.yamlsource): duplicate keys, the decimal number rule
shared by spec files and ``--set`` values, and one-line errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from conftest import GAMES
from sgncert.errors import SpecError
from sgncert.games.params import parse_overrides, to_array
from sgncert.games.spec import load_game
from sgncert.games.yamlsource import load_yaml, read_spec

SCALAR = (GAMES / "scalar.yaml").read_text()


def write(tmp_path, text: str, name: str = "game.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def spec_error(path, overrides=None) -> str:
    with pytest.raises(SpecError) as info:
        load_game(path, overrides)
    msg = str(info.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


# --------------------------------------------------------------------------- duplicate keys
AFFINE = """\
sgncert: 1
params: {a: 1.0}
players: [{name: x, dim: 1}, {name: y, dim: 1}]
pseudo_gradient:
  blocks:
    x: {x: 1.0, y: 0.5}
    y: {y: 1.0}
    x: {x: 2.0}
region: {radius: 1.0}
"""


def test_duplicate_block_row_names_both_lines(tmp_path):
    path = write(tmp_path, AFFINE)
    assert spec_error(path) == f"{path}:8: duplicate key 'x' (first at line 6)"


def test_duplicate_costs_section(tmp_path):
    text = SCALAR.replace("region:", 'costs: {x1: "x1 @ x1", x2: "x2 @ x2"}\nregion:')
    path = write(tmp_path, text)
    second = text.splitlines().index('costs: {x1: "x1 @ x1", x2: "x2 @ x2"}') + 1
    assert spec_error(path) == f"{path}:{second}: duplicate key 'costs' (first at line 7)"


@pytest.mark.parametrize(
    "text, line, first, key",
    [
        ("a: {x: 1, y: 2, x: 3}\n", 1, 1, "x"),  # flow mapping
        ("a:\n  - {u: 1}\n  - u: 1\n    v: 2\n    u: 3\n", 5, 3, "u"),  # inside a list
        ("a: 1\nb: 2\n'a': 3\n", 3, 1, "a"),  # quoting does not make another key
        ("{1: x, 1.0: y}\n", 1, 1, "1.0"),  # equal as dict keys
        ("b: 1\na: 1\na: 2\nb: 2\n", 3, 2, "a"),  # the first repetition in the document
        ("a: {<<: {p: 1}, <<: {q: 2}}\n", 1, 1, "<<"),
    ],
)
def test_duplicate_keys_anywhere(text, line, first, key):
    with pytest.raises(SpecError) as info:
        load_yaml(text, "game.yaml")
    assert str(info.value) == f"game.yaml:{line}: duplicate key {key!r} (first at line {first})"


def test_merge_keys_may_still_be_overridden():
    value, lines = load_yaml("base: &b {x: 1, y: 2}\nother: {<<: *b, x: 3}\n", "game.yaml")
    assert value == {"base": {"x": 1, "y": 2}, "other": {"x": 3, "y": 2}}
    assert lines[("other", "x")] == 2


def test_line_map_and_alias_bomb_guard_still_work(tmp_path):
    _, lines = read_spec(GAMES / "scalar.yaml")
    assert lines[("region", "radius")] == 10 and lines[("costs", "x2")] == 9
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + k)}: &{chr(98 + k)} [{', '.join(['*' + chr(97 + k)] * 10)}]\n" for k in range(7)
    )
    with pytest.raises(SpecError, match="expands"):
        read_spec(write(tmp_path, bomb))


def test_python_tags_stay_refused():
    with pytest.raises(SpecError, match="YAML error at line 1"):
        load_yaml("a: !!python/object/apply:os.system ['true']\n", "game.yaml")


# --------------------------------------------------------------------------- numbers
@pytest.mark.parametrize(
    "text, value",
    [
        ("1e-3", 1e-3),
        ("1e3", 1000.0),
        ("-2.5E+4", -25000.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("+1.5", 1.5),
        ("0", 0),
        ("-7", -7),
        ("+3", 3),
        ("12", 12),
    ],
)
def test_decimal_numbers(text, value):
    got = load_yaml(f"v: {text}\n", "game.yaml")[0]["v"]
    assert got == value and type(got) is type(value)
    assert parse_overrides([f"lam={text}"])["lam"] == value


@pytest.mark.parametrize("text", ["0x10", "1_0", "0o17", "010", "00", "0b1", "1:30", "+.inf", "1e", "1,5"])
def test_numeric_looking_text_stays_text(text):
    assert load_yaml(f"v: {text}\n", "game.yaml")[0]["v"] == text
    with pytest.raises(SpecError) as info:
        parse_overrides([f"lam={text}"])
    assert str(info.value).startswith(f"--set lam={text}: value must be a number") and "\n" not in str(info.value)


def test_yaml_infinities_and_nan():
    value = load_yaml("v: [.inf, -.inf, .nan, .Inf, -.INF, .NaN]\n", "game.yaml")[0]["v"]
    assert value[:2] == [math.inf, -math.inf] and math.isnan(value[2]) and value[3:5] == [math.inf, -math.inf]


@pytest.mark.parametrize(
    "text, needle",
    [
        ("!!int 0x10", "'0x10' is not a decimal integer"),
        ("!!float 1_0", "'1_0' is not a decimal number"),
        ("1e400", "too large"),
        pytest.param("1" * 400, "more than 300 digits", id="400-digits"),
        pytest.param("1" * 5000, "more than 300 digits", id="5000-digits"),  # past int()'s own limit
        pytest.param("!!float " + "1" * 400, "too large", id="float-400-digits"),
    ],
)
def test_explicit_tags_and_huge_numbers(text, needle):
    with pytest.raises(SpecError) as info:
        load_yaml(f"v: {text}\n", "game.yaml")
    assert str(info.value).startswith("game.yaml: YAML error at line 1, column 4: ") and needle in str(info.value)
    assert load_yaml("v: !!float 2\n", "game.yaml")[0]["v"] == 2.0


def test_booleans_and_global_safe_loader_unchanged():
    assert load_yaml("v: [yes, no, on, off, true, False]\n", "game.yaml")[0]["v"] == [
        True,
        False,
        True,
        False,
        True,
        False,
    ]
    assert yaml.safe_load("v: [0x10, 1_0, 1e-3]") == {"v": [16, 10, "1e-3"]}  # PyYAML's own loader is left alone


def test_exponent_without_a_dot_is_a_number_in_a_spec(tmp_path):
    path = write(tmp_path, SCALAR.replace("radius: 1.0", "radius: 1e-3").replace("lam: 1.0", "lam: 2e-1"))
    game = load_game(path)
    assert game.region.radius == 1e-3 and game.params["lam"] == 0.2


@pytest.mark.parametrize(
    "old, new, line, field",
    [
        ("radius: 1.0", "radius: 0x10", 10, "region.radius: expected a positive finite number, got '0x10'"),
        ("radius: 1.0", "radius: .inf", 10, "region.radius: expected a positive finite number, got inf"),
        ("samples: 1024", "samples: 1_024", 11, "sampling.samples: expected an integer"),
        ("seed: 0", "seed: 010", 11, "sampling.seed: expected a non-negative integer, got '010'"),
        ("dim: 1}, {name: x2", "dim: 0b1}, {name: x2", 6, "players[0].dim: expected a positive integer, got '0b1'"),
        ("lam: 1.0", "lam: 1:30", 5, "params.lam: expected a number or a nested list of numbers, got '1:30'"),
        (
            "center: [0, 0]",
            "center: [0, 1_0]",
            10,
            "region.center: expected a nested list of numbers, got the entry '1_0'",
        ),
        ("lam: 1.0", "lam: [1.0, '2.5']", 5, "params.lam: expected a nested list of numbers, got the entry '2.5'"),
        ("lam: 1.0", "lam: .nan", 5, "params.lam: contains NaN or Inf"),
    ],
)
def test_non_decimal_values_are_rejected_with_their_field(tmp_path, old, new, line, field):
    assert old in SCALAR
    path = write(tmp_path, SCALAR.replace(old, new))
    msg = spec_error(path)
    assert msg.startswith(f"{path}:{line}: ") and field in msg, msg


@pytest.mark.parametrize(
    "item, needle",
    [
        ("lam=0x10", "--set lam=0x10: value must be a number"),
        ("lam=[1, 0x10]", "--set lam=[1, 0x10]: expected a nested list of numbers, got the entry '0x10'"),
        ("lam=[1, yes]", "got the entry True"),
        ("lam={a: 1, a: 2}", "duplicate key 'a'"),
        ("lam=[1, [2", "--set lam=[1, [2: YAML error at line 1"),
    ],
)
def test_bad_set_values(item, needle):
    with pytest.raises(SpecError) as info:
        parse_overrides([item])
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_set_values_on_a_game():
    assert load_game(GAMES / "scalar.yaml", ["lam=5e-1"]).params["lam"] == 0.5
    with pytest.raises(SpecError, match=r"^--set lam=0x10: value must be a number"):
        load_game(GAMES / "scalar.yaml", ["lam=0x10"])
    with pytest.raises(SpecError, match="contains NaN or Inf"):
        load_game(GAMES / "scalar.yaml", ["lam=.inf"])


def test_to_array_refuses_text_and_booleans_inside_lists():
    for bad in ([1, "1_0"], [[1.0], ["2"]], [True, 2], [1, None]):
        with pytest.raises(SpecError, match="nested list of numbers, got the entry"):
            to_array(bad, "spec: params.a")
    with pytest.raises(SpecError, match="too large"):
        to_array([10**400], "spec: params.a")
    with pytest.raises(SpecError, match="real numbers"):
        to_array(np.array(["1.5"]), "spec: params.a")
    assert to_array((1, np.float64(2.0)), "w").tolist() == [1.0, 2.0]  # API values pass
    assert to_array(np.arange(3), "w").dtype == np.float64


def test_cli_exits_2_with_one_line(tmp_path):
    from click.testing import CliRunner

    from sgncert.cli import main

    path = write(tmp_path, AFFINE)
    r = CliRunner().invoke(main, ["certify", str(path), "--no-write"])
    assert r.exit_code == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith(f"{path}:8: duplicate key 'x' (first at line 6)")
    r = CliRunner().invoke(main, ["certify", str(GAMES / "scalar.yaml"), "--no-write", "--set", "lam=0x10"])
    assert r.exit_code == 2 and "--set lam=0x10" in r.stderr and len(r.stderr.strip().splitlines()) == 1
