"""JAX set-up: float64 on before any array exists (SPEC: every computation in float64),
synchronous CPU dispatch, and JAX's persistent compilation cache when the user opts in.

``SGNCERT_JAX_CACHE=/some/dir`` stores compiled kernels there, so re-certifying or
verifying the same game in a new process skips XLA compilation (seconds for Markov games).
"""

from __future__ import annotations

import os


def ensure_x64():
    """Import JAX with ``jax_enable_x64`` on (and the opt-in compilation cache); return it."""
    import jax

    if not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)
    # CPU asynchronous dispatch can leave a computation with while loops waiting forever
    # (jax-ml/jax#25861; seen here in the Lanczos loops: every XLA thread idle, the caller
    # blocked on the result). Synchronous dispatch costs nothing measurable for these kernels.
    try:
        jax.config.update("jax_cpu_enable_async_dispatch", False)
    except (AttributeError, KeyError, ValueError):  # an option this JAX does not have
        pass
    cache = os.environ.get("SGNCERT_JAX_CACHE")
    if cache and jax.config.jax_compilation_cache_dir != cache:
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return jax
