"""Hostile input, failure paths, interrupts and reproducibility (no traceback, no lost file)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import GAMES, ROOT, run_at_once
from sgncert.errors import SpecError
from sgncert.games.spec import game_from_dict


def cli(*args, env=None):
    from click.testing import CliRunner

    from sgncert.cli import main

    r = CliRunner().invoke(main, list(args), env={"SOURCE_DATE_EPOCH": None, **(env or {})})
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r


def one_line_error(r, code=2):
    assert r.exit_code == code, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr and lines[0].startswith("sgncert: error:")
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ("certify", "games/scalar.yaml", "--samples", "0"),
        ("certify", "games/scalar.yaml", "--bounds", "exact"),
        ("certify",),
        ("certifyy", "x"),
        ("--bogus",),
        ("plot", "flow"),
        ("verify", "--format", "xml", "c.json"),
    ],
    ids=["range", "choice", "missing-argument", "no-such-command", "top-level-option", "nested", "verify"],
)
def test_usage_errors_are_one_line(args):
    line = one_line_error(cli(*args))
    assert "--help" in line


# --------------------------------------------------------------------------- spec errors
@pytest.mark.parametrize(
    "text, needle",
    [
        (
            "sgncert: 1\nplayers:\n  - {name: x, dim: 1}\n  - {name: y, dim: 0}\ncosts: {x: 'x @ x', y: 'y @ y'}\n",
            "bad.yaml:4: players[1].dim",
        ),
        (
            "sgncert: 1\nparams: {lam: 1}\nplayers: [{name: x, dim: 1}]\ncosts:\n  x: 'lamb * x @ x'\n",
            "bad.yaml:5: costs.x: unknown name 'lamb' (did you mean 'lam'?)",
        ),
        (
            "sgncert: 1\nplayers: [{name: x, dim: 1}]\ncosts: {x: 'x @ x'}\nregion:\n  radius: 1\n  centre: [0]\n",
            "bad.yaml:6: region: unknown key 'centre' (did you mean 'center'?)",
        ),
        ("sgncert: 1\nplayers: [{name: x, dim: 1}]\ncosts: {x: 'x @ x'}\nregion: {center: [.inf]}\n", "NaN or Inf"),
        ("sgncert: 1\nplayers: [{name: x, dim: 1}]\ncosts: {x: 'x.__class__'}\n", "dunder"),
        ("sgncert: 1\nplayers: [{name: x, dim: 1}]\ncosts: {x: '(lambda: x)()'}\n", "column"),
        ("sgncert: 1\nplayers: [{name: x, dim: 1}]\ncosts: {x: '[v for v in x][0]'}\n", "column"),
        ("sgncert: 1\nplayers: [{name: x, dim: 1}]\ncosts: {x: 'x @ x * 1' }\nregion: {radius: 0}\n", "radius"),
    ],
)
def test_spec_errors_name_file_line_and_field(tmp_path, text, needle):
    (tmp_path / "bad.yaml").write_text(text)
    line = one_line_error(cli("certify", str(tmp_path / "bad.yaml"), "--no-write"))
    assert needle in line


def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    names = "abcdefghij"
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"{names[k]}: &{names[k]} [" + ", ".join(["*" + names[k - 1]] * 10) + "]" for k in range(1, 9)]
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    t = time.perf_counter()
    line = one_line_error(cli("certify", str(tmp_path / "bomb.yaml"), "--no-write"))
    assert "aliases" in line and time.perf_counter() - t < 5


def test_sizes_beyond_the_limit_need_force(tmp_path):
    (tmp_path / "big.yaml").write_text(
        "sgncert: 1\nplayers: [{name: x, dim: 5000}]\ncosts: {x: 'sum(logcosh(x))'}\nsampling: {samples: 4}\n"
    )
    # above 4096 dimensions the matrix-free path is the default; the dense path needs --force
    line = one_line_error(cli("certify", str(tmp_path / "big.yaml"), "--no-write", "--no-matrix-free"))
    assert "sane limit" in line and "--force" in line
    (tmp_path / "big_many.yaml").write_text(
        "sgncert: 1\nplayers: [{name: x, dim: 5000}]\ncosts: {x: 'sum(logcosh(x))'}\nsampling: {samples: 5000}\n"
    )
    line = one_line_error(cli("certify", str(tmp_path / "big_many.yaml"), "--no-write"))
    assert "matrix-free path" in line and "--force" in line
    (tmp_path / "many.yaml").write_text(
        "sgncert: 1\nplayers: [{name: x, dim: 200}]\ncosts: {x: 'sum(logcosh(x))'}\nsampling: {samples: 1000000}\n"
    )
    assert "--force" in one_line_error(cli("certify", str(tmp_path / "many.yaml"), "--no-write"))


VOCAB = [
    "sgncert",
    "name",
    "params",
    "players",
    "costs",
    "pseudo_gradient",
    "region",
    "sampling",
    "weights",
    "markov",
    "normal_form",
    "geometry",
    "center",
    "radius",
    "norm",
    "method",
    "samples",
    "seed",
    "dim",
    "x",
    "y",
    "blocks",
    "offset",
    "eye",
    "random_orthogonal",
    "file",
    "python",
    "states",
    "actions",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "x @ x",
            "0.5 * x @ x + y @ x",
            "zeros",
            "equilibrium",
            "inf",
            "sobol",
            "x",
            "exp(",
            "__import__",
            "1e999",
            "lam * x @ x",
            "hook.py:costs",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(VOCAB), inner, max_size=4)),
    max_leaves=12,
)
specs = st.fixed_dictionaries(
    {"sgncert": st.sampled_from([1, 1, 1, 2])},
    optional={
        k: values
        for k in ("players", "costs", "region", "params", "sampling", "pseudo_gradient", "weights", "name", "markov")
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs)
def test_fuzzed_specs_raise_only_spec_errors(spec):
    try:
        game_from_dict(spec, ROOT, "fuzz.yaml")
    except SpecError as exc:
        assert "\n" not in str(exc)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_fuzzed_certificates_raise_only_spec_errors(tmp_path_factory, data):
    """Random JSON, and the real certificate with one field replaced by random JSON."""
    from sgncert.cert.load import load_certificate

    doc = json.loads((ROOT / "certificates" / "scalar.cert.json").read_text())
    if data.draw(st.booleans()):
        doc = data.draw(json_values)
    else:
        section = data.draw(st.sampled_from(sorted(doc)))
        if isinstance(doc[section], dict) and doc[section]:
            doc[section][data.draw(st.sampled_from(sorted(doc[section])))] = data.draw(json_values)
        else:
            doc[section] = data.draw(json_values)
    path = tmp_path_factory.mktemp("fuzz") / "c.json"
    path.write_text(json.dumps(doc, allow_nan=True))
    try:
        load_certificate(path)
    except SpecError as exc:
        assert "\n" not in str(exc)


# ------------------------------------------------------------------------- failure paths
def test_non_finite_jacobian_exits_3(tmp_path):
    (tmp_path / "g.yaml").write_text(
        "sgncert: 1\nplayers: [{name: x, dim: 1}]\ncosts: {x: 'sqrt(x @ x) + log(x @ x)'}\nsampling: {samples: 8}\n"
    )
    line = one_line_error(cli("certify", str(tmp_path / "g.yaml"), "-o", str(tmp_path / "c.json")), code=3)
    assert "not finite" in line and not (tmp_path / "c.json").exists()


def test_non_convergent_equilibrium_exits_3(tmp_path):
    (tmp_path / "g.yaml").write_text(  # F = (e^x, e^y) never vanishes
        "sgncert: 1\nplayers: [{name: x, dim: 1}, {name: y, dim: 1}]\n"
        "costs: {x: 'sum(exp(x))', y: 'sum(exp(y))'}\nregion: {center: equilibrium}\n"
    )
    line = one_line_error(cli("certify", str(tmp_path / "g.yaml"), "--no-write"), code=3)
    assert "equilibrium" in line and "did not converge" in line


def test_singular_jacobian_is_not_certified_with_reason(tmp_path):
    (tmp_path / "g.yaml").write_text(  # own curvature 0 for player y
        "sgncert: 1\nplayers: [{name: x, dim: 1}, {name: y, dim: 1}]\n"
        "pseudo_gradient: {blocks: {x: {x: 1.0, y: 0.5}, y: {x: 0.5, y: 0.0}}}\n"
    )
    r = cli("certify", str(tmp_path / "g.yaml"), "-o", str(tmp_path / "c.json"))
    assert r.exit_code == 1
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["certified"] is False and "mu_y = 0" in doc["reason"]
    assert doc["steps"]["euler"]["max"] == 0.0 and doc["tight"]["euler"]["h"] == 0.0


@pytest.mark.parametrize("status", ["optimal_inaccurate", "solver_error"])
def test_clarabel_trouble_is_never_a_band_and_never_blocks_the_certificate(monkeypatch, tmp_path, status):
    """A solver that returns nothing usable: no band end is claimed (the interior point alone
    proves nothing beyond its own ratio), and certify still writes the certificate, saying why."""
    import cvxpy as cp

    from sgncert.analysis.bands import band_pairs

    def broken(self, *args, **kwargs):
        if status == "solver_error":
            raise cp.error.SolverError("Clarabel failed")
        self._status = status
        return None

    monkeypatch.setattr(cp.Problem, "solve", broken)
    monkeypatch.setattr(cp.Problem, "status", property(lambda self: getattr(self, "_status", "solver_error")))
    mu, L = [1.0, 1.0, 1.0], [[0, 0.2, 0.1], [0.1, 0, 0.2], [0.2, 0.1, 0]]
    assert band_pairs(mu, L, 0.0, interior_weights=[1.0, 1.0, 1.0]) == []
    out = tmp_path / "c.json"
    r = cli("certify", str(GAMES / "three_player.yaml"), "-o", str(out), "--no-tight")
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["certified"] and doc["band"] == [] and "proved nothing" in doc["band_note"]
    assert cli("verify", str(out), "--no-recompute").exit_code == 0


# -------------------------------------------------------------------- interrupts, files
SLOW_HOOK = """
import pathlib
import time
import jax.numpy as jnp

calls = [0]


def costs(x, p):
    calls[0] += 1
    if calls[0] > 1:  # the spec check traces once quickly; certification then takes a minute
        pathlib.Path(__file__).with_name("entered").touch()  # the test waits for this
        time.sleep(60)
    return {"a": 0.5 * x["a"] @ x["a"] + 0.1 * jnp.tanh(x["a"]) @ x["b"], "b": 0.5 * x["b"] @ x["b"]}
"""


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_keeps_previous_certificate(tmp_path, sig):
    (tmp_path / "slow.py").write_text(SLOW_HOOK)
    (tmp_path / "g.yaml").write_text(
        "sgncert: 1\nplayers: [{name: a, dim: 2}, {name: b, dim: 2}]\n"
        "costs: {python: slow.py:costs}\nsampling: {samples: 16}\n"
    )
    out = tmp_path / "c.json"
    previous = '{"kind": "sgncert.certificate", "note": "an earlier certificate"}\n'
    out.write_text(previous)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sgncert", "certify", str(tmp_path / "g.yaml"), "-o", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, SGNCERT_JAX_CACHE=""),
    )
    entered = tmp_path / "entered"
    deadline = time.monotonic() + 60
    while not entered.exists() and time.monotonic() < deadline:  # inside the certification, where the hook sleeps
        time.sleep(0.05)
    assert entered.exists(), "the certification never reached the hook"
    entered.unlink()
    time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err and "partial" not in err  # (a sweep's note)
    assert out.read_text() == previous
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("__")) == ["c.json", "g.yaml", "slow.py"]


def test_unwritable_output_is_one_line(tmp_path):
    line = one_line_error(cli("certify", str(GAMES / "scalar.yaml"), "-o", str(tmp_path / "no" / "dir" / "c.json")))
    assert "cannot write" in line


def test_internal_errors_are_one_line_and_debug_shows_traceback(monkeypatch, tmp_path):
    import sgncert.api.run as api_run

    def boom(*a, **k):
        raise RuntimeError("unexpected\nsecond line")

    monkeypatch.setattr(api_run, "run_certify", boom)  # the analysis the command's API function calls
    line = one_line_error(cli("certify", str(GAMES / "scalar.yaml"), "--no-write"), code=3)
    assert "internal error: RuntimeError: unexpected" in line and "--debug" in line
    from click.testing import CliRunner

    from sgncert.cli import main

    r = CliRunner().invoke(main, ["--debug", "certify", str(GAMES / "scalar.yaml"), "--no-write"])
    assert isinstance(r.exception, RuntimeError)


# ------------------------------------------------------------------------ reproducibility
def test_certificate_independent_of_batch_size(monkeypatch):
    import sgncert.analysis.constants as constants
    from sgncert.analysis.certify import certify
    from sgncert.cert.build import build_certificate
    from sgncert.games.spec import load_game

    def make():
        return build_certificate(certify(load_game(GAMES / "logistic_duel.yaml", samples=300)), created="t")

    a = make()
    monkeypatch.setattr(constants, "BATCH_POINTS", 7)
    assert make() == a


@pytest.mark.slow
def test_certificate_independent_of_thread_count(tmp_path):
    env = dict(os.environ, SOURCE_DATE_EPOCH="0")
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    base = [
        sys.executable,
        "-m",
        "sgncert",
        "certify",
        str(GAMES / "logistic_duel.yaml"),
        "--samples",
        "300",
        "--no-tight",
    ]
    one = dict(
        env,
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        SGNCERT_THREADS="1",
        XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    )
    run_at_once([(base + ["-o", str(a)], env), (base + ["-o", str(b)], one)])
    assert a.read_bytes() == b.read_bytes()
    assert np.isfinite(json.loads(a.read_text())["rate"])
