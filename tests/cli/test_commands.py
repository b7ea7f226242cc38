"""The command line as a user meets it: exit codes, files, JSON, errors, start-up time."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import GAMES, ROOT

REQUIRED_PATHS = [
    "schema_version",
    "kind",
    "certified",
    "game.name",
    "game.sha256",
    "game.players",
    "region",
    "constants.mu",
    "constants.L",
    "constants.beta",
    "constants.provenance",
    "constants.samples",
    "constants.seed",
    "euclidean.margin",
    "metric.weights",
    "sgn.margin",
    "sgn.tau",
    "sgn.gain",
    "rate",
    "steps.euler.max",
    "steps.euler.best",
    "steps.euler.factor",
    "steps.rk4.max",
    "band",
    "provenance.tool_version",
    "provenance.x64",
]


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run(*args, env=None):
    """Run the CLI in-process (JAX is imported once for the whole module)."""
    from click.testing import CliRunner

    from sgncert.cli import main

    r = CliRunner().invoke(main, list(args), env={"SOURCE_DATE_EPOCH": None, **(env or {})})
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return Result(r.exit_code, r.stdout, r.stderr)


def run_subprocess(*args):
    return subprocess.run(
        [sys.executable, "-m", "sgncert", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def get(doc, path):
    for part in path.split("."):
        doc = doc[part]
    return doc


def test_help_imports_neither_jax_nor_cvxpy():
    code = (
        "import sys, time; t = time.perf_counter(); from sgncert.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', [m for m in ('jax', 'cvxpy', 'numpy', 'scipy') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert "HEAVY []" in out.stdout


@pytest.fixture(scope="module")
def scalar_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cert") / "scalar.json"
    r = run("certify", str(GAMES / "scalar.yaml"), "-o", str(out), "--json")
    return r, out


def test_certify_writes_certificate_with_every_required_path(scalar_run):
    r, out = scalar_run
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert json.loads(r.stdout) == doc  # --json prints the certificate on stdout
    for path in REQUIRED_PATHS:
        get(doc, path)
    assert doc["schema_version"] == "1" and doc["kind"] == "sgncert.certificate"
    assert doc["certified"] is True and doc["constants"]["provenance"] == "exact"
    assert doc["provenance"]["x64"] is True
    assert doc["rate"] == doc["sgn"]["margin"]
    assert list(doc) == sorted(doc)  # sorted keys
    assert doc["game"]["spec"]["params"]["lam"] == 1.0


def test_certificate_is_byte_identical_apart_from_timestamp(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert run("certify", str(GAMES / "logistic_duel.yaml"), "-o", str(a), "--samples", "256").returncode == 0
    assert run("certify", str(GAMES / "logistic_duel.yaml"), "-o", str(b), "--samples", "256").returncode == 0
    strip = lambda p: [line for line in p.read_text().splitlines() if '"created"' not in line]
    assert strip(a) == strip(b)
    doc = json.loads(a.read_text())
    assert doc["constants"]["provenance"] == "sampled" and doc["constants"]["samples"] == 257
    assert doc["game"]["spec"]["sampling"]["samples"] == 256
    # with SOURCE_DATE_EPOCH the whole file is reproducible
    env = {"SOURCE_DATE_EPOCH": "0"}
    run("certify", str(GAMES / "scalar.yaml"), "-o", str(a), env=env)
    run("certify", str(GAMES / "scalar.yaml"), "-o", str(b), env=env)
    assert a.read_bytes() == b.read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_not_certified_exits_1_and_still_writes(tmp_path):
    out = tmp_path / "c.json"
    r = run("certify", str(GAMES / "scalar.yaml"), "--set", "lam=1.5", "-o", str(out))
    assert r.returncode == 1
    doc = json.loads(out.read_text())
    assert doc["certified"] is False and "small-gain radius" in doc["reason"]
    assert "NOT CERTIFIED" in r.stdout


BAD_SPECS = {
    "not yaml": ("a: [1, 2", "YAML error"),
    "not a mapping": ("- 1\n- 2\n", "expected a mapping"),
    "wrong version": ("sgncert: 2\nplayers: [{name: x}]\ncosts: {x: 'x @ x'}\n", "schema version"),
    "unknown key": ("sgncert: 1\nplayrs: []\n", "did you mean 'players'"),
    "bad expression": ("sgncert: 1\nplayers: [{name: x, dim: 1}]\ncosts: {x: '__import__(\"os\")'}\n", "column"),
    "unknown name": (
        "sgncert: 1\nparams: {lam: 1}\nplayers: [{name: x, dim: 1}]\ncosts: {x: 'lamb * x @ x'}\n",
        "did you mean 'lam'",
    ),
    "missing cost": (
        "sgncert: 1\nplayers: [{name: x, dim: 1}, {name: y, dim: 1}]\ncosts: {x: 'x @ x'}\n",
        "no cost given for player 'y'",
    ),
    "vector cost": ("sgncert: 1\nplayers: [{name: x, dim: 2}]\ncosts: {x: 'x * x'}\n", "expected a scalar"),
    "shape mismatch": (
        "sgncert: 1\nplayers: [{name: x, dim: 2}, {name: y, dim: 3}]\ncosts: {x: 'x @ y', y: 'y @ y'}\n",
        "costs",
    ),
    "bad block shape": (
        "sgncert: 1\nparams: {B: [[1, 2]]}\nplayers: [{name: x, dim: 1}, {name: y, dim: 1}]\n"
        "pseudo_gradient: {blocks: {x: {x: 1, y: B}, y: {y: 1}}}\n",
        "expected (1, 1)",
    ),
    "nan param": ("sgncert: 1\nparams: {a: .nan}\nplayers: [{name: x, dim: 1}]\ncosts: {x: 'a * x @ x'}\n", "NaN"),
    "bad radius": ("sgncert: 1\nplayers: [{name: x, dim: 1}]\ncosts: {x: 'x @ x'}\nregion: {radius: -1}\n", "radius"),
    "center length": (
        "sgncert: 1\nplayers: [{name: x, dim: 2}]\ncosts: {x: 'x @ x'}\nregion: {center: [1]}\n",
        "dimension 2",
    ),
    "bad sampler": (
        "sgncert: 1\nplayers: [{name: x, dim: 1}]\ncosts: {x: 'x @ x'}\nsampling: {method: sobl}\n",
        "did you mean 'sobol'",
    ),
    "missing hook": ("sgncert: 1\nplayers: [{name: x, dim: 1}]\ncosts: {python: nothere.py:costs}\n", "cannot read"),
    "duplicate player": (
        "sgncert: 1\nplayers: [{name: x, dim: 1}, {name: x, dim: 1}]\ncosts: {x: 'x @ x'}\n",
        "already used",
    ),
}


@pytest.mark.parametrize("name", list(BAD_SPECS))
def test_bad_specs_exit_2_with_one_line(tmp_path, name):
    text, needle = BAD_SPECS[name]
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    r = run("certify", str(spec), "-o", str(tmp_path / "out.json"))
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert needle in lines[0] and lines[0].startswith("sgncert: error:")
    assert "bad.yaml" in lines[0] or name in ("missing hook",)
    assert not (tmp_path / "out.json").exists()


def test_missing_file_and_bad_set_exit_2(tmp_path):
    r = run_subprocess("certify", str(tmp_path / "nope.yaml"))  # the real process, end to end
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.returncode == 2 and "cannot read" in r.stderr
    r = run("certify", str(GAMES / "scalar.yaml"), "--set", "lamb=1", "--no-write")
    assert r.returncode == 2 and "did you mean 'lam'" in r.stderr
    r = run("certify", str(GAMES / "scalar.yaml"), "--set", "lam=.nan", "--no-write")  # blames --set, not the spec
    assert r.returncode == 2 and r.stderr.startswith("sgncert: error: --set lam=.nan: contains NaN")


def test_existing_certificate_survives_a_failed_run(tmp_path):
    out = tmp_path / "keep.json"
    out.write_text("precious")
    spec = tmp_path / "bad.yaml"
    spec.write_text("sgncert: 1\nplayers: [{name: x, dim: 1}]\ncosts: {x: 'exp(x @ x'}\n")
    assert run("certify", str(spec), "-o", str(out)).returncode == 2
    assert out.read_text() == "precious"


def test_output_never_replaces_an_input_or_a_foreign_file(tmp_path):
    """-o may replace an earlier certificate or sweep, never the game's own files nor an
    unrelated file; refused at once (exit 2, one line), the file unchanged."""
    spec = tmp_path / "scalar.yaml"
    spec.write_text((GAMES / "scalar.yaml").read_text())
    before = spec.read_text()
    notes = tmp_path / "notes.txt"
    notes.write_text("precious")
    for args in (
        ("certify", str(spec), "-o", str(spec)),
        ("certify", str(spec), "-o", str(notes)),
        ("sweep", str(spec), "--param", "lam=0:1:2", "-o", str(spec)),
        ("sweep", str(spec), "--param", "lam=0:1:2", "-o", str(tmp_path / "notes.json")),
    ):
        (tmp_path / "notes.json").write_text('{"kind": "mine"}')
        r = run(*args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (args, r.stderr)
        assert ("is an input" in r.stderr) or ("is not a sgncert" in r.stderr), r.stderr
    assert spec.read_text() == before and notes.read_text() == "precious"
    assert (tmp_path / "notes.json").read_text() == '{"kind": "mine"}'
    cert = tmp_path / "s.cert.json"
    for _ in range(2):  # an earlier certificate is replaced
        assert run("certify", str(spec), "-o", str(cert), "--no-tight", "--no-bands").returncode == 0
    r = run("sweep", str(spec), "--param", "lam=0:1:2", "-o", str(cert))  # a certificate is not a sweep
    assert r.returncode == 2 and "not a sgncert sweep" in r.stderr
    (tmp_path / "sw.csv").write_text("a,b\n1,2\n")  # a foreign table where the sweep's CSV would go
    r = run("sweep", str(spec), "--param", "lam=0:1:2", "-o", str(tmp_path / "sw.json"))
    assert r.returncode == 2 and "not a sgncert sweep table" in r.stderr and not (tmp_path / "sw.json").exists()


def test_python_hook_game(tmp_path):
    (tmp_path / "hook.py").write_text(
        "import jax.numpy as jnp\n"
        "def costs(x, p):\n"
        "    a, b = x['a'], x['b']\n"
        "    return {'a': 0.5 * a @ a + p['k'] * jnp.tanh(a) @ b, 'b': 0.5 * b @ b + 0.1 * b @ a}\n"
    )
    (tmp_path / "g.yaml").write_text(
        "sgncert: 1\nname: hooked\nparams: {k: 0.5}\nplayers: [{name: a, dim: 2}, {name: b, dim: 2}]\n"
        "costs: {python: hook.py:costs}\nregion: {center: zeros, radius: 0.5}\nsampling: {samples: 128}\n"
    )
    r = run("certify", str(tmp_path / "g.yaml"), "--json", "--no-write")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["constants"]["provenance"] == "sampled"
    import hashlib

    assert doc["game"]["spec"]["costs"]["sha256"] == hashlib.sha256((tmp_path / "hook.py").read_bytes()).hexdigest()


# ------------------------------------------------------------------ --debug anywhere
DEBUG_COMMANDS = [
    ["certify", "nope.yaml"],
    ["sweep", "nope.yaml", "--param", "lam=0:1:3"],
    ["verify", "nope.json"],
    ["band", "nope.yaml"],
    ["plot", "phase", "nope.yaml", "--param", "lam=0:1:3"],
    ["plot", "flow", "nope.json"],
]


@pytest.mark.parametrize("args", DEBUG_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_debug_before_or_after_the_command(tmp_path, args):
    from click.testing import CliRunner

    from sgncert.cli import main
    from sgncert.errors import SpecError

    args = [str(tmp_path / a) if a.startswith("nope.") else a for a in args]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and r.stderr.startswith("sgncert: error:") and "cannot read" in r.stderr
    positions = [["--debug", *args], [*args, "--debug"], [args[0], "--debug", *args[1:]]]
    if args[0] == "plot":  # the group, its command, or the end
        positions.append([args[0], args[1], "--debug", *args[2:]])
    for argv in positions:
        r = CliRunner().invoke(main, argv)
        assert isinstance(r.exception, SpecError), (argv, r.output)


def test_debug_after_the_command_shows_internal_tracebacks(monkeypatch):
    from click.testing import CliRunner

    import sgncert.api.run as api_run
    from sgncert.cli import main

    def boom(*a, **k):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(api_run, "run_certify", boom)  # the analysis the command's API function calls
    r = CliRunner().invoke(main, ["certify", str(GAMES / "scalar.yaml"), "--no-write"])
    assert r.exit_code == 3 and "--debug" in r.stderr
    r = CliRunner().invoke(main, ["certify", str(GAMES / "scalar.yaml"), "--no-write", "--debug"])
    assert isinstance(r.exception, RuntimeError)
    r = CliRunner().invoke(main, ["schema", "--debug"])  # a command without arguments takes it too
    assert r.exit_code == 0 and json.loads(r.stdout)


def test_debug_after_the_command_in_a_real_process(tmp_path):
    r = run_subprocess("certify", str(tmp_path / "nope.yaml"), "--debug")
    assert "Traceback" in r.stderr and "SpecError" in r.stderr and "cannot read" in r.stderr


def test_command_help_lists_debug_and_imports_nothing_heavy():
    code = (
        "import sys; from sgncert.cli import main\n"
        "try:\n    main(['certify', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', [m for m in ('jax', 'cvxpy', 'numpy', 'scipy') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert "--debug" in out.stdout and "HEAVY []" in out.stdout


# ------------------------------------------------------------ sweep: located boundaries
def test_sweep_prints_the_located_boundaries_in_full(tmp_path):
    out = tmp_path / "sweep.json"
    r = run("sweep", str(GAMES / "scalar.yaml"), "--param", "lam=0:2.5:61", "-o", str(out))
    assert r.returncode == 0, r.stderr
    bnd = json.loads(out.read_text())["boundaries"]
    for label, key, root in (("Euclidean", "euclidean", 1 / 5.025), ("SGN", "sgn", 2**0.5)):
        a, b = bnd[key]["certified_up_to"], bnd[key]["fails_at"]
        assert a < root <= b and b - a < 1e-7
        assert f"{label}: certifies up to lam = {a!r} (fails at {b!r})" in r.stdout
    assert "SGN: certifies up to lam = 1.41421356 (fails at 1.41421358)" in r.stdout


def test_sweep_refuses_set_on_a_swept_parameter_and_says_when_nothing_resumes(tmp_path):
    spec = str(GAMES / "scalar.yaml")
    r = run("sweep", spec, "--param", "lam=0:1:2", "--set", "lam=2", "-o", str(tmp_path / "s.json"))
    assert r.returncode == 2 and "lam is swept by --param" in r.stderr  # --set would be silently ignored
    r = run("sweep", spec, "--param", "lam=0:1:2", "--boundary-rtol", "0", "--resume", "-o", str(tmp_path / "s.json"))
    assert r.returncode == 0 and "no finished rows" in r.stderr and (tmp_path / "s.json").is_file()


def test_sweep_boundary_rtol_option(tmp_path):
    out = tmp_path / "sweep.json"
    r = run("sweep", str(GAMES / "scalar.yaml"), "--param", "lam=0:2.5:61", "-o", str(out), "--boundary-rtol", "0")
    assert r.returncode == 0 and "SGN: certifies up to lam = 1.375 (fails at 1.4166666666666665)" in r.stdout
    assert json.loads(out.read_text())["boundaries"]["sgn"]["evaluations"] == 0
    r = run("sweep", str(GAMES / "scalar.yaml"), "--param", "lam=1.5:1.3:5", "-o", str(out))
    assert "SGN: not certified at the first grid point lam = 1.5 (first certified grid point lam = 1.4)" in r.stdout
    r = run("sweep", str(GAMES / "scalar.yaml"), "--param", "lam=0.1:0:3", "-o", str(out))
    assert "SGN: certifies every grid point (down to lam = 0.0)" in r.stdout
    r = run("sweep", str(GAMES / "scalar.yaml"), "--param", "lam=0:1:3", "-o", str(out), "--boundary-rtol", "2")
    assert r.returncode == 2
