"""No compiled XLA program of sgncert calls LAPACK.

jaxlib's batched LAPACK kernels (eigh, LU, QR, SVD, Cholesky, ...) split their batch over
XLA's intra-op thread pool and block a pool thread until the parts finish. Two of them
running at once in one program can take every pool thread and wait forever: it hung CI
on 2 cores (gdb: both "tf_XLAEigen" threads in jax::ParallelBatchMap under
lapack_dsyevd_ffi). sgncert therefore computes eigenvalues, Fisher frames and solves on
the host or in plain XLA ops. This test certifies games on every path with XLA dumping
each compiled program, and looks for LAPACK custom calls in the dumps."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import pytest

from conftest import ROOT

SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, "tests")
    import numpy as np
    from conftest import GAMES, random_nonlinear_spec
    from sgncert.analysis import constants as C
    from sgncert.analysis.certify import certify
    from sgncert.games.spec import game_from_dict, load_game

    tabular = load_game(GAMES / "rps.yaml")  # Fisher frames, the occupancy solve (one state)
    certify(tabular, tight=False, bands=False)
    game = game_from_dict(random_nonlinear_spec(1, samples=33), GAMES)
    certify(game, tight=False, bands=False)                 # dense path
    C.DENSE_MAX_DIM = 0
    certify(game, tight=False, bands=False)                 # large path (Lanczos)
    print("done")
""")


@pytest.mark.slow
def test_compiled_programs_have_no_lapack_calls(tmp_path):
    dump = tmp_path / "xla"
    env = dict(os.environ, XLA_FLAGS=f"--xla_dump_to={dump} --xla_dump_hlo_as_text", SGNCERT_JAX_CACHE="")
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and "done" in out.stdout, out.stderr[-3000:]
    texts = list(dump.glob("*.txt"))
    assert len(texts) > 10  # the dump worked: every compiled program is there
    offenders = sorted({p.name.split(".")[1] for p in texts if "lapack" in p.read_text().lower()})
    assert not offenders, f"programs calling LAPACK inside XLA: {offenders}"


LOWERED: list[str] = []
_COUNTING = [False]


def _count_lowering(name: str, _secs: float, **_kw) -> None:
    if _COUNTING[0] and name.endswith("jaxpr_to_mlir_module_duration"):  # a program built (then compiled or cached)
        LOWERED.append(threading.current_thread().name)


def _programs_built(fn) -> int:
    import jax.monitoring

    if not getattr(_count_lowering, "registered", False):
        jax.monitoring.register_event_duration_secs_listener(_count_lowering)
        _count_lowering.registered = True  # type: ignore[attr-defined]
    LOWERED.clear()
    _COUNTING[0] = True
    try:
        fn()
    finally:
        _COUNTING[0] = False
    return len(LOWERED)


def test_compilations_do_not_grow_with_the_sample_count_or_the_compile_ahead(monkeypatch):
    """A certification builds the same programs at 40 and at 300 samples (the batch shape
    is fixed), and compiling the first pass's kernel ahead, on a thread while the samples
    are drawn, builds no program twice."""
    import contextlib

    from sgncert.analysis import certify as certify_module
    from sgncert.analysis.certify import certify

    from .test_kept_jacobians import black_box

    certify(black_box(20), tight=False, bands=False)  # the process-wide helpers, once
    counts = [_programs_built(lambda n=n: certify(black_box(n), tight=False, bands=False)) for n in (40, 300)]
    assert "sgncert-compile" in LOWERED  # the Jacobian program was built ahead, on its thread
    monkeypatch.setattr(certify_module, "compiling_ahead", lambda game, center: contextlib.nullcontext())
    counts.append(_programs_built(lambda: certify(black_box(40), tight=False, bands=False)))
    assert "sgncert-compile" not in LOWERED
    assert counts[0] == counts[1] == counts[2] > 0
