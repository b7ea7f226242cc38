"""The public Python API as a notebook user meets it: cheap to import, the names it
promises, errors of its own types, and the caller's JAX configuration left alone, with the
same numbers whether or not the caller enabled x64."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import sgncert
from conftest import GAMES, ROOT, run_at_once

PUBLIC = {
    "load_game",
    "game_from_dict",
    "with_params",
    "Game",
    "certify",
    "Certification",
    "run_sweep",
    "build_certificate",
    "write_certificate",
    "load_certificate",
    "verify_certificate",
    "VerifyReport",
    "json_schema",
    "SgnError",
    "SpecError",
    "NumericalError",
    "__version__",
}


def _python(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_public_names():
    assert PUBLIC <= set(sgncert.__all__) <= set(dir(sgncert))
    for name in PUBLIC:
        assert getattr(sgncert, name) is not None
    assert issubclass(sgncert.SpecError, sgncert.SgnError) and issubclass(sgncert.NumericalError, sgncert.SgnError)
    assert sgncert.SpecError.exit_code == 2 and sgncert.NumericalError.exit_code == 3
    with pytest.raises(AttributeError):
        sgncert.no_such_name  # noqa: B018


def test_import_is_cheap_and_changes_nothing():
    out = _python("""
        import os, sys
        import sgncert
        print(sorted(m for m in ("jax", "numpy", "cvxpy", "scipy", "matplotlib") if m in sys.modules))
        print(os.environ.get("JAX_ENABLE_X64"))
    """)
    assert out.split("\n")[:2] == ["[]", "None"]


def test_calling_sgncert_leaves_the_callers_jax_configuration_alone():
    out = _python(f"""
        import jax
        from jax._src import xla_bridge
        before = (jax.config.jax_enable_x64, xla_bridge._CPU_ENABLE_ASYNC_DISPATCH.value,
                  jax.config.jax_compilation_cache_dir)
        import sgncert
        game = sgncert.load_game({str(GAMES / "logistic_duel.yaml")!r}, samples=16)
        result = sgncert.certify(game, tight=False, bands=False)
        after = (jax.config.jax_enable_x64, xla_bridge._CPU_ENABLE_ASYNC_DISPATCH.value,
                 jax.config.jax_compilation_cache_dir)
        import jax.numpy as jnp
        print(before == after, before[0], jnp.ones(2).dtype, result.certified)
    """)
    assert out.split() == ["True", "False", "float32", "True"]


@pytest.mark.slow
def test_same_numbers_whether_or_not_the_caller_enabled_x64():
    code = f"""
        import json, sys
        import jax
        if sys.argv[1] == "x64":
            jax.config.update("jax_enable_x64", True)
        import sgncert
        docs = {{}}
        for name, samples in (("logistic_duel", 16), ("rps", None), ("scalar", None)):
            game = sgncert.load_game({str(GAMES)!r} + "/" + name + ".yaml", samples=samples)
            docs[name] = sgncert.build_certificate(sgncert.certify(game, bands=False), created="t")
        print(json.dumps(docs, sort_keys=True))
    """
    outs = run_at_once([([sys.executable, "-c", textwrap.dedent(code), mode], None) for mode in ("x64", "x32")])
    a, b = (json.loads(out) for out in outs)
    for name in a:
        a[name]["provenance"].pop("versions"), b[name]["provenance"].pop("versions")
    assert a == b
    assert a["logistic_duel"]["provenance"]["x64"] is True


def test_a_notebook_session(tmp_path):
    """Load, certify, write, read back and verify, all from Python."""
    game = sgncert.load_game(GAMES / "scalar.yaml", ["lam=0.8"])
    result = sgncert.certify(game, tight=False)
    assert isinstance(result, sgncert.Certification) and result.certified
    assert result.margin == pytest.approx(1 - 0.8 * 0.5**0.5, rel=1e-12)  # tau = 1 - lam / sqrt(2)
    result = sgncert.certify(sgncert.with_params(game, {"lam": 1.0}), tight=False)
    assert result.margin == pytest.approx(1 - 0.5**0.5, rel=1e-12)
    result = sgncert.certify(sgncert.load_game(GAMES / "scalar.yaml"), tight=False)
    doc = sgncert.write_certificate(result, tmp_path / "scalar.cert.json")
    assert (tmp_path / doc["game"]["source"]).resolve() == (GAMES / "scalar.yaml").resolve()
    back = sgncert.load_certificate(tmp_path / "scalar.cert.json")
    assert back == doc
    report = sgncert.verify_certificate(back, cert_path=tmp_path / "scalar.cert.json")
    assert report.verdict == "valid", report.summary()


def test_user_facing_errors_are_sgncert_errors(tmp_path):
    with pytest.raises(sgncert.SpecError, match="cannot read"):
        sgncert.load_game(tmp_path / "missing.yaml")
    with pytest.raises(sgncert.SpecError, match="unknown key"):
        sgncert.game_from_dict({"sgncert": 1, "playerz": []})
    with pytest.raises(sgncert.SpecError, match="schema version"):
        sgncert.verify_certificate({"schema_version": "9"})
    from sgncert.analysis.tight import tight_step

    with pytest.raises(sgncert.SpecError, match="unknown method"):
        tight_step([[1.0]], [1], method="midpoint")
    with pytest.raises(sgncert.SpecError, match="square"):
        tight_step([[1.0, 2.0]], [2])
