"""The JAX environment of sgncert's computations.

sgncert computes in float64 without touching the caller's global JAX configuration:
every entry point runs inside :func:`jax_scope` (``jax.enable_x64`` as a context
manager, local to the calling thread), so a notebook that never enabled x64 keeps its
float32 default and still gets the same certificate as a float64 session.

Processes that sgncert owns (the ``sgncert`` command, the benchmarks, the test suite)
call :func:`own_process` at start; the first :func:`jax_scope` then applies two
process-wide settings before JAX's first computation (:func:`configure_process`):

- JAX's asynchronous CPU dispatch is turned off. An asynchronous computation containing
  loops can wait forever on the CPU backend (jax-ml/jax#25861); the Lanczos iterations of
  the large path are such loops. The setting is read when the CPU backend starts, so it
  is a process-wide choice, which a library must not make for its caller: in your own
  process set ``jax.config.update("jax_cpu_enable_async_dispatch", False)`` yourself if
  you ever see a certification hang.
- ``SGNCERT_JAX_CACHE=/some/dir`` turns on JAX's persistent compilation cache there, so
  re-certifying or verifying a game in a new process skips XLA compilation.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, ParamSpec, TypeVar, cast

P = ParamSpec("P")
R = TypeVar("R")


_process_owned = False
_configured = False


def own_process() -> None:
    """Declare that sgncert owns this process: the first :func:`jax_scope` applies
    :func:`configure_process`. Cheap (JAX is not imported here)."""
    global _process_owned
    _process_owned = True


@contextlib.contextmanager
def jax_scope() -> Iterator[ModuleType]:
    """Import JAX and compute in float64 inside the ``with`` block (this thread only).

    Yields the ``jax`` module. The caller's global configuration is left as it was (in a
    process declared with :func:`own_process`, the process-wide settings are applied once).
    """
    import jax

    if _process_owned and not _configured:
        configure_process()
    with _enable_x64(jax):
        yield jax


def _enable_x64(jax: ModuleType) -> contextlib.AbstractContextManager[Any]:
    """``jax.enable_x64(True)`` (JAX >= 0.8), or ``jax.experimental.enable_x64()`` before it."""
    enable = getattr(jax, "enable_x64", None)
    if enable is not None:
        return cast(contextlib.AbstractContextManager[Any], enable(True))
    from jax.experimental import enable_x64  # type: ignore[attr-defined]

    return cast(contextlib.AbstractContextManager[Any], enable_x64(True))


#: JAX settings a ``with`` block sets for its own thread only (besides x64)
THREAD_LOCAL_SETTINGS = (
    "default_device",
    "default_matmul_precision",
    "debug_nans",
    "debug_infs",
    "disable_jit",
    "numpy_dtype_promotion",
    "numpy_rank_promotion",
)


def thread_settings() -> Callable[[], contextlib.AbstractContextManager[Any]]:
    """The calling thread's JAX settings, to enter in another thread: a factory of
    context managers that apply them there (each of THREAD_LOCAL_SETTINGS as the calling
    thread sees it, and float64 as :func:`jax_scope`), so work moved to a worker thread
    runs as it would have in the calling one (same device, precision and checks)."""
    import jax

    values = {}
    for name in THREAD_LOCAL_SETTINGS:
        if hasattr(jax, name) and hasattr(jax.config, "jax_" + name):
            value = getattr(jax.config, "jax_" + name)
            values[name] = getattr(value, "value", value)  # an enum's value: what the setter takes

    @contextlib.contextmanager
    def applied() -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for name, value in values.items():
                stack.enter_context(getattr(jax, name)(value))
            stack.enter_context(jax_scope())
            yield

    return applied


def float64(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator: run ``fn`` inside :func:`jax_scope` (JAX is imported at the first call)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with jax_scope():
            return fn(*args, **kwargs)

    return wrapper


def configure_process() -> None:
    """Process-wide JAX settings for processes sgncert owns (module docstring).

    Call it before JAX's first computation: synchronous CPU dispatch, and the persistent
    compilation cache when ``SGNCERT_JAX_CACHE`` names a folder.
    """
    import jax

    global _configured
    _configured = True

    with contextlib.suppress(AttributeError, KeyError, ValueError):  # an option this JAX may not have
        jax.config.update("jax_cpu_enable_async_dispatch", False)
    cache = os.environ.get("SGNCERT_JAX_CACHE")
    if cache and jax.config.jax_compilation_cache_dir != cache:  # type: ignore[attr-defined]
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
