"""Batches of sample points worked on by a pool of threads, results in order
(docs/theory.md §2, "Speed").

XLA's CPU programs and NumPy's LAPACK release the interpreter lock while they run, and the
small per-point problems of the sampled statistics (LAPACK on blocks of a few dozen
dimensions, Lanczos loops on a few points at a time) keep one core busy each. So the
batches of a pass are worked on by ``worker_threads()`` threads while the calling thread
computes the next batches' Jacobians. Every batch runs the same programs on the same
inputs as it would alone, so the numbers do not depend on the number of threads. The
worker threads compute with the calling thread's JAX settings (float64, device, precision:
JAX keeps them per thread) and see its context variables. Inside a Dask worker, whose
tasks already share the worker's cores, the work stays in the calling thread.
"""

from __future__ import annotations

import collections
import contextvars
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from ..util.jaxenv import thread_settings

T = TypeVar("T")
R = TypeVar("R")

MAX_THREADS = 8  # beyond this, more threads only add memory (batches in flight)


def worker_threads() -> int:
    """Threads for batch work: the CPUs this process may run on, at most MAX_THREADS; 1
    in a Dask worker's task (the worker runs as many tasks as it has threads).
    ``SGNCERT_THREADS`` overrides both (1: work in the calling thread)."""
    env = os.environ.get("SGNCERT_THREADS")
    if env:
        try:
            return max(1, min(MAX_THREADS, int(env)))
        except ValueError:
            pass
    if _in_dask_task():
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_THREADS, cpus))


def threads_within(budget: int | None, per_item: int) -> int:
    """:func:`worker_threads`, fewer when ``per_item`` bytes of work arrays a thread would
    exceed ``budget`` bytes (None, unknown: one thread)."""
    if budget is None:
        return 1
    return int(max(1, min(worker_threads(), budget // max(1, per_item))))


def as_caller(fn: Callable[..., R]) -> Callable[..., R]:
    """``fn`` to run on another thread as it would run on this one: with this thread's JAX
    settings (:func:`sgncert.util.jaxenv.thread_settings`) and a copy of its context
    variables taken now (a fresh copy for each call, so calls may run at once)."""
    settings = thread_settings()
    ctx = contextvars.copy_context()

    def in_scope(*args: object) -> R:
        with settings():
            return fn(*args)

    def run(*args: object) -> R:
        return ctx.copy().run(in_scope, *args)

    return run


def _in_dask_task() -> bool:
    """True in a task running on a Dask worker (``distributed`` is then imported)."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return False
    try:
        distributed.get_worker()
    except (ValueError, AttributeError):
        return False
    return True


def in_order(work: Callable[[T], R], items: Iterable[T], threads: int | None = None) -> Iterator[tuple[T, R]]:
    """(item, work(item)) for each item, in the order of ``items``, with ``work`` run on
    ``threads`` worker threads (default :func:`worker_threads`). The first item is worked
    on alone, so that the programs it compiles are compiled once; after it, at most
    2 x threads + 1 items are submitted and not yet returned (the memory a pass holds
    stays bounded). When the caller stops early or an item fails, the items not started
    are cancelled and the running ones finish before this returns."""
    n = worker_threads() if threads is None else threads
    it = iter(items)
    for first in it:
        yield first, work(first)
        break
    else:
        return
    if n <= 1:
        for item in it:
            yield item, work(item)
        return
    in_scope = as_caller(work)
    pending: collections.deque[tuple[T, Future[R]]] = collections.deque()
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="sgncert-batch") as pool:
        try:
            for item in it:
                pending.append((item, pool.submit(in_scope, item)))
                while len(pending) > 2 * n or (pending and pending[0][1].done()):
                    done, fut = pending.popleft()
                    yield done, fut.result()
            while pending:
                done, fut = pending.popleft()
                yield done, fut.result()
        finally:
            for _, fut in pending:
                fut.cancel()
