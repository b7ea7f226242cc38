"""Running sweep points on a Dask cluster (docs/theory.md §15).

Sweep points are independent: each is a certification of the game at some parameter values.
A :class:`Runner` maps a function over them and gives the results in order; the local
runner calls it in this process, :class:`DaskRunner` submits one task a point to a Dask
``distributed`` cluster (an address, ``SGNCERT_SCHEDULER``, or a local cluster of N worker
processes). A worker needs only sgncert installed: each task carries the game as its
canonical spec plus the bytes of its hook and data files, checked there against the
sha256 the spec records, and the worker rebuilds the game from them. Dask re-runs the
tasks of a worker that dies on the others; every point's row depends only on the spec and
the point, so the rows are the same bytes whatever the number of workers or the order in
which they finish. Dask is imported only when a cluster is asked for.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SgnError, SpecError
from ..games.model import Game

__all__ = ["GamePayload", "Runner", "LocalRunner", "DaskRunner", "runner", "SCHEDULER_ENV", "INSTALL_HINT"]

SCHEDULER_ENV = "SGNCERT_SCHEDULER"
INSTALL_HINT = 'running on a cluster needs Dask\'s distributed: pip install "sgncert[cluster]"'
CONNECT_TIMEOUT = "20s"  # how long to wait for a scheduler to answer
TASK_RETRIES = 2  # a task that raises on a worker (not only one whose worker dies) is re-run this often


@dataclass(frozen=True)
class GamePayload:
    """What a worker needs to rebuild a game: its canonical spec and the bytes of the files
    the spec names (a Python hook, data files), by their paths relative to the spec."""

    spec: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)

    @staticmethod
    def of(game: Game) -> GamePayload:
        spec = game.canonical
        costs = spec.get("costs")
        if isinstance(costs, dict) and "in_memory" in costs:
            raise SpecError(
                "a game built in memory from Python functions runs on this machine only (its functions "
                "are not in its spec); certify it without a cluster"
            )
        base = Path(game.source).parent if game.source else Path(".")
        files: dict[str, bytes] = {}
        if isinstance(costs, dict) and isinstance(costs.get("python"), str):
            rel = costs["python"].split(":")[0]
            files[rel] = (base / rel).read_bytes()
        for rel in spec.get("data_files") or {}:
            files[rel] = (base / rel).read_bytes()
        return GamePayload(spec, files)

    def game(self) -> Game:
        """The game, rebuilt in a private folder after every file's sha256 is checked."""
        from ..games.spec import game_from_dict

        recorded = dict(self.spec.get("data_files") or {})
        costs = self.spec.get("costs")
        if isinstance(costs, dict) and isinstance(costs.get("python"), str):
            recorded[costs["python"].split(":")[0]] = costs.get("sha256")
        with tempfile.TemporaryDirectory(prefix="sgncert-task-") as tmp:
            for rel, data in self.files.items():
                digest = hashlib.sha256(data).hexdigest()
                if recorded.get(rel) != digest:
                    raise SpecError(f"task: {rel} does not have the sha256 its spec records")
                path = Path(tmp) / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            return game_from_dict(self.spec, tmp, "game.spec")


_REBUILT: dict[str, Game] = {}  # a worker's game, rebuilt once per spec (its kernels compile once)


def rebuilt_game(payload: GamePayload) -> Game:
    """The payload's game, rebuilt once per worker process and spec."""
    from ..util.jsondoc import sha256_json

    key = sha256_json(payload.spec)
    if key not in _REBUILT:
        _REBUILT.clear()
        _REBUILT[key] = payload.game()
    return _REBUILT[key]


class Runner:
    """Maps a function over items, results in the items' order (``on_done(k, result)``
    after each one finishes, in whatever order they finish)."""

    workers: int = 1

    def map(
        self,
        fn: Callable[..., Any],
        items: Sequence[Any],
        *,
        shared: Any = None,
        on_done: Callable[[int, Any], None] | None = None,
    ) -> list[Any]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class LocalRunner(Runner):
    """In this process, in order."""

    def map(
        self,
        fn: Callable[..., Any],
        items: Sequence[Any],
        *,
        shared: Any = None,
        on_done: Callable[[int, Any], None] | None = None,
    ) -> list[Any]:
        out = []
        for k, item in enumerate(items):
            r = fn(shared, item)
            out.append(r)
            if on_done:
                on_done(k, r)
        return out


class DaskRunner(Runner):
    """On a Dask ``distributed`` cluster: ``address`` of a scheduler, or ``workers`` local
    worker processes started (and stopped by :meth:`close`) on 127.0.0.1."""

    def __init__(self, address: str | None = None, workers: int | None = None, where: str = "--scheduler") -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise SgnError(INSTALL_HINT) from None
        self._cluster = None
        if address:
            try:
                self.client = Client(address, timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError, ValueError) as exc:
                msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise SpecError(f"{where} {address}: no Dask scheduler answered ({msg})") from None
        else:
            self._cluster = LocalCluster(
                n_workers=int(workers or 1),
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            )
            self.client = Client(self._cluster)
        self.workers = max(1, len(self.client.scheduler_info().get("workers", {})))

    def map(
        self,
        fn: Callable[..., Any],
        items: Sequence[Any],
        *,
        shared: Any = None,
        on_done: Callable[[int, Any], None] | None = None,
    ) -> list[Any]:
        from distributed import as_completed

        # the shared payload once per call under a fresh key (a key reused across calls could
        # be released by the previous call's futures while this one still needs it)
        remote = self.client.scatter(shared, broadcast=True, hash=False) if shared is not None else None
        run = uuid.uuid4().hex[:12]
        futures = [
            self.client.submit(fn, remote, item, key=f"sgncert-{run}-{k}", retries=TASK_RETRIES, pure=False)
            for k, item in enumerate(items)
        ]
        index = {f.key: k for k, f in enumerate(futures)}
        out: list[Any] = [None] * len(items)
        for fut in as_completed(futures):
            k = index[fut.key]
            out[k] = fut.result()
            if on_done:
                on_done(k, out[k])
        return out

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


@contextlib.contextmanager
def runner(scheduler: str | None = None, workers: int | None = None) -> Iterator[Runner]:
    """The runner for ``--scheduler ADDRESS`` (or ``SGNCERT_SCHEDULER``) or ``--workers N``;
    this process when neither is given (Dask is then not imported)."""
    if scheduler and workers:
        raise SpecError("--scheduler and --workers: give one (a scheduler's workers are its own)")
    # an explicit --workers wins over the environment's scheduler
    address = scheduler or (None if workers else os.environ.get(SCHEDULER_ENV)) or None
    where = "--scheduler" if scheduler else SCHEDULER_ENV
    if address is None and not workers:
        yield LocalRunner()
        return
    if workers is not None and workers < 1:
        raise SpecError(f"--workers: expected a positive number of processes, got {workers}")
    r = DaskRunner(address, workers, where)
    try:
        yield r
    finally:
        r.close()
