"""Beyond one process: a real local Dask cluster (worker processes on 127.0.0.1) runs sweeps
and sample batches with the same bytes as this process, survives a worker killed mid-sweep,
an interrupted sweep resumes without running a point twice, and sample batches spread over
several JAX devices give the same certificate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import GAMES, ROOT
from sgncert.analysis.certify import certify
from sgncert.analysis.cluster import DaskRunner, GamePayload, LocalRunner, runner
from sgncert.analysis.sweep import dumps_sweep, run_sweep
from sgncert.cert.build import build_certificate, dumps
from sgncert.errors import SgnError, SpecError
from sgncert.games.spec import load_game

pytest.importorskip("distributed")

CREATED = "1970-01-01T00:00:00+00:00"


@pytest.fixture(scope="module")
def cluster():
    r = DaskRunner(workers=2)
    yield r
    r.close()


def test_a_sweep_on_the_cluster_is_the_local_sweep_byte_for_byte(cluster):
    game = load_game(GAMES / "scalar.yaml")
    local = dumps_sweep(run_sweep(game, ["lam=0:2:9"]))
    assert dumps_sweep(run_sweep(game, ["lam=0:2:9"], runner=cluster)) == local


def test_sample_batches_on_the_cluster_give_the_same_certificate(cluster):
    game = load_game(GAMES / "logistic_duel.yaml", samples=767)  # 768 points: three batches, split over tasks
    local = dumps(build_certificate(certify(game, bands=False), created=CREATED))
    remote = dumps(build_certificate(certify(game, bands=False, runner=cluster), created=CREATED))
    assert remote == local


def test_a_worker_killed_mid_sweep_loses_nothing(cluster):
    game = load_game(GAMES / "scalar.yaml")
    local = run_sweep(game, ["lam=0:2:13"], boundary_rtol=None)["rows"]
    pids = list(cluster.client.run(os.getpid).values())
    killed = []

    class Killing:
        done: dict = {}

        def record(self, index, row):
            if not killed:  # the first row is back: kill one worker while the others run
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

    rows = run_sweep(game, ["lam=0:2:13"], boundary_rtol=None, runner=cluster, journal=Killing())["rows"]
    assert killed and rows == local
    cluster.client.wait_for_workers(1, timeout=60)


class _Interrupt(Exception):
    pass


class _Journal:
    def __init__(self, done=None, stop_after=None):
        self.done, self.rows, self.stop_after = dict(done or {}), {}, stop_after

    def record(self, index, row):
        self.rows[index] = row
        if self.stop_after is not None and len(self.rows) >= self.stop_after:
            raise _Interrupt


def test_an_interrupted_sweep_resumes_without_running_a_point_twice():
    game = load_game(GAMES / "scalar.yaml")
    whole = run_sweep(game, ["lam=0:2:9"])
    first = _Journal(stop_after=4)
    with pytest.raises(_Interrupt):
        run_sweep(game, ["lam=0:2:9"], journal=first)
    ran = []

    class Counting(LocalRunner):
        def map(self, fn, items, *, shared=None, on_done=None):
            ran.extend(values["lam"] for values, _ in items)
            return super().map(fn, items, shared=shared, on_done=on_done)

    second = _Journal(done={k: json.loads(json.dumps(r)) for k, r in first.rows.items()})  # as a file keeps them
    resumed = run_sweep(game, ["lam=0:2:9"], journal=second, runner=Counting())
    assert dumps_sweep(resumed) == dumps_sweep(whole)
    assert len(ran) == 9 - 4 and not set(ran) & {whole["rows"][k]["lam"] for k in first.rows}


def test_the_cli_resumes_from_its_partial_file(tmp_path):
    from tests.cli.test_commands import run

    out = tmp_path / "sweep.json"
    partial = tmp_path / "sweep.json.partial.jsonl"
    r = run("sweep", str(GAMES / "scalar.yaml"), "--param", "lam=0:2:5", "-o", str(out), "--boundary-rtol", "0")
    assert r.returncode == 0 and not partial.exists()
    whole = out.read_text()
    lines = [json.loads(x) for x in partial.read_text().splitlines()] if partial.exists() else []
    assert lines == []
    # a partial file of the same sweep with two rows done, and a torn line
    header = {
        "kind": "sgncert.sweep.partial",
        "game": load_game(GAMES / "scalar.yaml").sha256,
        "params": [{"name": "lam", "start": 0.0, "stop": 2.0, "num": 5}],
        "tight": False,
    }
    whole_csv = out.with_suffix(".csv").read_text()
    doc = run_sweep(load_game(GAMES / "scalar.yaml"), ["lam=0:2:5"], boundary_rtol=None)  # rows in their own key order
    partial.write_text(
        "\n".join(
            [
                json.dumps(header),
                json.dumps({"k": 0, "row": doc["rows"][0]}),
                json.dumps({"k": 3, "row": doc["rows"][3]}),
                '{"k": 4, "ro',
            ]
        )
    )
    out.unlink()
    r = run(
        "sweep", str(GAMES / "scalar.yaml"), "--param", "lam=0:2:5", "-o", str(out), "--boundary-rtol", "0", "--resume"
    )
    assert r.returncode == 0 and out.read_text() == whole and not partial.exists()
    assert out.with_suffix(".csv").read_text() == whole_csv  # the columns keep their order
    partial.write_text(json.dumps({**header, "tight": True}) + "\n")
    r = run("sweep", str(GAMES / "scalar.yaml"), "--param", "lam=0:2:5", "-o", str(out), "--resume")
    assert r.returncode == 2 and "another game, grid or options" in r.stderr


def test_without_a_cluster_dask_is_not_imported_and_its_absence_is_explained(monkeypatch):
    code = (
        "import sys; from sgncert.games.spec import load_game; from sgncert.analysis.sweep import run_sweep\n"
        "run_sweep(load_game('games/scalar.yaml'), ['lam=0:1:2'])\n"
        "print('distributed' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr[-2000:]
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(SgnError, match=r'pip install "sgncert\[cluster\]"'):
        with runner(workers=2):
            pass
    with pytest.raises(SpecError, match="give one"):
        with runner("tcp://127.0.0.1:1", 2):
            pass


def test_a_task_checks_the_files_it_carries(tmp_path):
    (tmp_path / "hook.py").write_text(
        "def costs(x, p):\n    return {'x': 0.5 * x['x'] @ x['x'], 'y': 0.5 * x['y'] @ x['y']}\n", encoding="utf-8"
    )
    (tmp_path / "g.yaml").write_text(
        "sgncert: 1\nname: hooked\nplayers: [{name: x, dim: 1}, {name: y, dim: 1}]\n"
        "costs: {python: hook.py:costs}\nregion: {center: zeros, radius: 1.0}\n",
        encoding="utf-8",
    )
    payload = GamePayload.of(load_game(tmp_path / "g.yaml"))
    assert payload.game().sha256 == load_game(tmp_path / "g.yaml").sha256
    forged = GamePayload(payload.spec, {"hook.py": b"def costs(x, p):\n    return {}\n"})
    with pytest.raises(SpecError, match="sha256"):
        forged.game()


def test_sample_batches_over_four_devices_give_the_same_certificate():
    code = (
        "import sys; from sgncert.games.spec import load_game; from sgncert.analysis.certify import certify\n"
        "from sgncert.cert.build import build_certificate, dumps; import jax\n"
        "g = load_game('games/rps.yaml')\n"
        "c = certify(g, tight=False, bands=False)\n"
        "sys.stdout.write(str(jax.local_device_count()) + '\\n' + dumps(build_certificate(c, created='x')))"
    )
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        here = certify(load_game(GAMES / "rps.yaml"), tight=False, bands=False)  # this process (one device), meanwhile
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    devices, text = out.split("\n", 1)
    assert devices == "4" and text == dumps(build_certificate(here, created="x"))


def test_an_unreachable_scheduler_is_a_one_line_error(monkeypatch):
    import sgncert.analysis.cluster as cluster_module

    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(SpecError, match=r"--scheduler tcp://127\.0\.0\.1:1: no Dask scheduler answered") as info:
        with runner("tcp://127.0.0.1:1"):
            pass
    assert "\n" not in str(info.value)
