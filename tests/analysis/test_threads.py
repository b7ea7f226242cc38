"""Batches worked on by threads: results in order, the calling thread's float64 and
context, and numbers that do not depend on the number of threads."""

from __future__ import annotations

import contextvars
import threading
import time

import numpy as np
import pytest

from conftest import GAMES
from sgncert.analysis import constants as C
from sgncert.analysis import threads as T
from sgncert.analysis.sampling import sample_game_region
from sgncert.games.spec import game_from_dict
from sgncert.util.jaxenv import float64

from .test_kept_jacobians import black_box
from .test_lanczos import _ring


def test_results_come_in_order_whatever_finishes_first():
    delays = [0.02, 0.0, 0.015, 0.0, 0.01, 0.0, 0.005, 0.0, 0.0]

    def work(k):
        time.sleep(delays[k])
        return k * k

    got = list(T.in_order(work, range(len(delays)), threads=3))
    assert got == [(k, k * k) for k in range(len(delays))]


def test_the_first_item_runs_alone_and_in_flight_work_is_bounded():
    running, most, events = [0], [0], []
    lock = threading.Lock()

    def work(k):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            events.append(("start", k))
        time.sleep(0.01)
        with lock:
            running[0] -= 1
            events.append(("end", k))
        return k

    produced = []

    def items():
        for k in range(12):
            produced.append(k)
            yield k

    consumed = 0
    for k, _ in T.in_order(work, items(), threads=2):
        # the generator runs ahead of the consumer by at most 2 x threads + 1 items
        assert len(produced) - consumed <= 2 * 2 + 2
        consumed += 1
    assert events[:2] == [("start", 0), ("end", 0)]  # nothing else started before the first item ended
    assert most[0] == 2


def test_an_error_in_a_worker_reaches_the_caller():
    def work(k):
        if k == 3:
            raise ValueError("bad point 3")
        return k

    with pytest.raises(ValueError, match="bad point 3"):
        list(T.in_order(work, range(8), threads=2))
    assert not [t for t in threading.enumerate() if t.name.startswith("sgncert-batch")]  # the pool is gone


def test_a_consumer_that_stops_early_leaves_no_threads():
    started = []

    def work(k):
        started.append(k)
        time.sleep(0.005)
        return k

    for k, _ in T.in_order(work, range(100), threads=2):
        if k == 3:
            break
    assert not [t for t in threading.enumerate() if t.name.startswith("sgncert-batch")]
    assert len(started) <= 3 + 2 * 2 + 2  # the items not started were cancelled


SETTING: contextvars.ContextVar[str] = contextvars.ContextVar("test_setting", default="unset")


@float64
def _dtypes_and_settings():
    import jax
    import jax.numpy as jnp

    def work(_k):
        return (
            str(jnp.zeros(1).dtype),
            SETTING.get(),
            jax.config.jax_debug_nans,
            jax.config.jax_default_matmul_precision,
            threading.current_thread().name,
        )

    token = SETTING.set("caller's")
    try:
        with jax.debug_nans(True), jax.default_matmul_precision("highest"):
            return [r for _, r in T.in_order(work, range(6), threads=2)]
    finally:
        SETTING.reset(token)


def test_workers_compute_with_the_callers_jax_settings_and_context():
    got = _dtypes_and_settings()
    assert {row[:4] for row in got} == {("float64", "caller's", True, "highest")}
    assert any(row[-1].startswith("sgncert-batch") for row in got)  # the pool did work


def test_thread_count_from_the_environment(monkeypatch):
    monkeypatch.setenv("SGNCERT_THREADS", "3")
    assert T.worker_threads() == 3
    monkeypatch.setenv("SGNCERT_THREADS", "1000")
    assert T.worker_threads() == T.MAX_THREADS
    monkeypatch.setenv("SGNCERT_THREADS", "two")  # unreadable: the CPU count
    assert 1 <= T.worker_threads() <= T.MAX_THREADS


def test_threads_are_limited_by_the_memory_budget(monkeypatch):
    per_point = 6 * 8 * 512 * 512 + 1  # a point of the dense path at d = 512
    monkeypatch.setattr(C, "available_memory", lambda: C.MEMORY_SHARE * 10 * per_point)  # budget: 10 points
    monkeypatch.setenv("SGNCERT_THREADS", "4")
    assert C.batch_threads(5, 512, large=False) == 2
    assert C.batch_threads(10, 512, large=False) == 1
    assert C.batch_threads(1, 512, large=False) == 4


@pytest.mark.parametrize("path", ["dense", "large", "matrix-free"])
def test_the_numbers_do_not_depend_on_the_number_of_threads(path, monkeypatch):
    from sgncert.analysis.matrix_free import MATRIX_FREE, MatrixFree

    if path == "dense":
        game = black_box()
        monkeypatch.setattr(C, "BATCH_POINTS", 16)  # several batches a thread
    else:
        game = game_from_dict(_ring(4, (12, 12, 12, 12), 60, seed=3), GAMES)  # d = 48
        monkeypatch.setattr(C, "DENSE_MAX_DIM", 0)  # the Lanczos path, batches of 8
    points = sample_game_region(game.region, game.sampling, game.sets)
    if path == "matrix-free":
        points = points[:9]
    w = np.linspace(0.7, 1.6, game.n_players)
    runs = []
    token = MATRIX_FREE.set(MatrixFree(starts=2, steps=20)) if path == "matrix-free" else None
    try:
        for threads in ("1", "3"):
            monkeypatch.setenv("SGNCERT_THREADS", threads)
            runs.append(
                (C.pointwise_statistics(game, points), C.pointwise_statistics(game, points, w, block_stats=False))
            )
    finally:
        if token is not None:
            MATRIX_FREE.reset(token)
    (a1, b1), (a3, b3) = runs
    for key in ("mu", "L", "gamma", "finite"):
        np.testing.assert_array_equal(a1[key], a3[key])
    for key in ("beta", "alpha_true"):
        np.testing.assert_array_equal(b1[key], b3[key])


def test_a_dask_task_works_in_its_own_thread(monkeypatch):
    """A Dask worker runs as many tasks as it has threads: their batches stay in the task's thread."""
    import types

    monkeypatch.delenv("SGNCERT_THREADS", raising=False)
    fake = types.SimpleNamespace(get_worker=lambda: object())
    monkeypatch.setitem(__import__("sys").modules, "distributed", fake)
    assert T.worker_threads() == 1

    def outside():
        raise ValueError("No worker found")

    fake.get_worker = outside
    assert T.worker_threads() >= 1 and not T._in_dask_task()
    monkeypatch.setenv("SGNCERT_THREADS", "2")  # the variable still decides
    fake.get_worker = lambda: object()
    assert T.worker_threads() == 2
