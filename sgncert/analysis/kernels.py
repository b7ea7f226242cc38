"""Compiled JAX kernels of a game, cached per pseudo-gradient (docs/theory.md §2).

``jacobians(X, p) -> (F(X), K(X))`` (one Jacobian per point, mapped to the metric space)
is compiled once and shared by every pass over the samples; parameters are traced
arguments, so a sweep compiles once; batch shapes are fixed. The pseudo-gradient is traced
once and dead code is removed from its jaxpr before the Jacobian kernel is built (a
cost-based F evaluates every player's cost inside each player's gradient; the unused ones
are dropped). No compiled program calls LAPACK (:mod:`sgncert.analysis.statistics`).
"""

from __future__ import annotations

import numpy as np

from ..games.model import Game
from ..games.structure import block_row_jacobian


def dce_pseudo_gradient(game: Game):
    """F with dead code removed: trace F once, drop the equations no output needs, and
    evaluate the remaining jaxpr. A cost-based F computes every player's cost inside each
    player's gradient (N^2 cost evaluations, N of them used); without this, jacfwd would
    differentiate (and XLA compile) all of them. Falls back to F itself if anything fails."""
    import jax
    import jax.numpy as jnp

    F = game.pseudo_gradient
    try:
        from jax._src.interpreters import partial_eval as pe
        from jax.extend.core import ClosedJaxpr, jaxpr_as_fun

        p = game.jax_params()
        closed = jax.make_jaxpr(F)(jnp.zeros(game.dim), p)
        jaxpr, _ = pe.dce_jaxpr(closed.jaxpr, [True] * len(closed.jaxpr.outvars), instantiate=True)
        if len(jaxpr.eqns) >= len(closed.jaxpr.eqns):
            return F
        fun = jaxpr_as_fun(ClosedJaxpr(jaxpr, closed.consts))
        treedef = jax.tree_util.tree_structure(p)

        def F_small(x, params):
            leaves, tdef = jax.tree_util.tree_flatten(params)
            if tdef != treedef:  # type: ignore[operator]  # PyTreeDef compares by structure
                return F(x, params)
            return fun(x, *leaves)[0]

        return F_small
    except Exception:  # private API moved, unusual primitives: the plain F is always correct
        return F


def _kernels(game: Game):
    """Jitted batch kernels for sampled games.

    ``jacobians(X, p) -> (F(X), K(X))`` (one Jacobian per point, mapped to the metric
    space) is compiled once and shared by every pass. No XLA program here calls LAPACK
    (:mod:`sgncert.analysis.statistics`): the statistics and the Fisher frames E(x) are
    computed on the host.
    """
    import jax

    F = dce_pseudo_gradient(game)
    value = jax.vmap(F, in_axes=(0, None))
    jac_plain = jax.vmap(jax.jacfwd(F), in_axes=(0, None))
    plain = jax.jit(lambda X, p: (value(X, p), jac_plain(X, p)))
    if game.transform is None:
        return plain, F

    transform = game.transform

    def jacobians(X, p):  # Fisher geometry: K = E(x)^T J(x) E(x), E by host LAPACK
        values, J = plain(X, p)
        E = transform(np.asarray(X))
        return values, E.swapaxes(1, 2) @ np.asarray(J) @ E

    return jacobians, F


KERNEL_CACHE: dict[tuple, tuple] = {}


def compiled_key(game: Game) -> tuple:
    """Compiled kernels depend only on F and the block layout, not on parameter values
    (params are traced arguments), so games differing only in params share them."""
    return (id(game.pseudo_gradient), id(game.transform), id(game.structure), game.block_sizes, game.metric_block_sizes)


def cached_entry(game: Game) -> dict:
    key = compiled_key(game)
    if key not in KERNEL_CACHE:
        if len(KERNEL_CACHE) > 8:
            KERNEL_CACHE.clear()
        # keep F and the transform alive so their ids stay unique while cached
        KERNEL_CACHE[key] = ((game.pseudo_gradient, game.transform, game.structure), {})
    return KERNEL_CACHE[key][1]


def kernels(game: Game):
    """(jacobians, value_and_jacobian) jitted for this game's F, cached."""
    entry = cached_entry(game)
    if "dense" not in entry:
        import jax

        jacobians, F_small = _kernels(game)
        vj = jax.jit(lambda x, p: (F_small(x, p), jax.jacfwd(F_small)(x, p)))
        entry["dense"] = (jacobians, vj)
    return entry["dense"]


def structured_rows(game: Game) -> bool:
    """True when the large path takes the Jacobian by block rows from the game's cost
    templates (:mod:`sgncert.games.structure`): cost expressions in the Euclidean geometry."""
    return game.structure is not None and game.transform is None


def rows_kernel(game: Game):
    """jit of :func:`sgncert.games.structure.block_row_jacobian` for this game, cached."""
    entry = cached_entry(game)
    if "rows" not in entry:
        import jax

        assert game.structure is not None, "rows_kernel needs cost templates (structured_rows)"
        entry["rows"] = jax.jit(block_row_jacobian(game.structure, game.players))
    return entry["rows"]


def local_devices() -> list:
    """The local JAX devices (the CPU, or every accelerator of this host)."""
    import jax

    return list(jax.local_devices())


def on_device(x: np.ndarray, device):
    """A batch of points committed to ``device`` (the kernel then runs there)."""
    import jax

    if len(local_devices()) == 1:  # uncommitted, as every other input: one compilation per kernel
        return np.asarray(x)
    return jax.device_put(np.asarray(x), device)
