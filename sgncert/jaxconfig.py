"""JAX set-up: float64 on before any array exists (SPEC: every computation in float64)."""

from __future__ import annotations


def ensure_x64():
    """Import JAX with ``jax_enable_x64`` on and return the module."""
    import jax

    if not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)
    return jax
