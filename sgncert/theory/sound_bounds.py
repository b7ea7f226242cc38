"""The SGN constants proved over a box from an enclosure of the Jacobian (docs/theory.md §14).

Given an interval Jacobian ``J in [J_m +- J_r]`` valid for every x of a box B (batched:
``(n, d, d)`` for n boxes), every constant is an extreme eigenvalue of a symmetric interval
family, bounded by :func:`sgncert.theory.interval_spectra.lower_bound`:

=================  =====================================================  ===========
constant           family (A_m, A_r)                                       bound
=================  =====================================================  ===========
``mu_i``           ``sym J_ii``                                            lower
``L_ij``           ``-[[0, J_ij], [J_ij^T, 0]]`` (eigenvalues ``-+ sigma``)  ``-`` lower
``gamma``          ``sym J``                                               lower
``alpha_true(w)``  ``sym K``, ``K = D J D^-1``, ``D = diag(sqrt(w_i) I)``    lower
``beta(w)``        ``-[[0, K], [K^T, 0]]``                                 ``-`` lower
=================  =====================================================  ===========

The rounding of forming each midpoint (the symmetric part, the scaling by
``sqrt(w_i / w_j)``, itself enclosed) is added to its radius. Each constant is a *key*:
a name and whether it bounds from below (``mu``, ``gamma``, ``alpha``) or from above
(``L``, ``beta``); :func:`bounds` returns every key's bound on every box and
:func:`holds` decides stated values (for sgncert verify).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import intervals as iv
from .interval_spectra import holds_either as family_holds
from .interval_spectra import lower_bound, pencil_holds, pencil_lower_bound, spectral_radius_upper
from .intervals import Interval, U, up

__all__ = ["Key", "block_keys", "weighted_keys", "bounds", "holds"]


@dataclass(frozen=True)
class Key:
    """One constant: ``kind`` in mu / L / gamma / alpha / beta, the players it concerns
    (``i``, ``j``) and the weights of alpha / beta (``w``)."""

    kind: str
    i: int = -1
    j: int = -1
    w: tuple[float, ...] | None = None

    @property
    def upper(self) -> bool:
        """True: the constant is bounded from above (L, beta)."""
        return self.kind in ("L", "beta")


def block_keys(n_players: int) -> list[Key]:
    """mu_i, L_ij (i != j) and gamma."""
    keys = [Key("mu", i) for i in range(n_players)]
    keys += [Key("L", i, j) for i in range(n_players) for j in range(n_players) if i != j]
    return keys + [Key("gamma")]


def weighted_keys(weights: Sequence[float]) -> list[Key]:
    """beta(w) and alpha_true(w)."""
    w = tuple(float(v) for v in weights)
    return [Key("beta", w=w), Key("alpha", w=w)]


def _offsets(sizes: Sequence[int]) -> list[int]:
    return [0] + list(np.cumsum(sizes))


def _sym(m: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The symmetric part of ``[m +- r]`` (last two axes) with its rounding in the radius."""
    mt, rt = np.swapaxes(m, -1, -2), np.swapaxes(r, -1, -2)
    sm = 0.5 * (m + mt)
    sr = up(up(0.5 * up(r + rt)) + up(U * np.abs(sm)))
    return sm, sr


def _embedding(m: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``-[[0, X], [X^T, 0]]`` and its radius ``[[0, R], [R^T, 0]]`` (exact)."""
    a, b = m.shape[-2:]
    lead = m.shape[:-2]
    Am = np.zeros(lead + (a + b, a + b))
    Ar = np.zeros_like(Am)
    Am[..., :a, a:] = -m
    Am[..., a:, :a] = -np.swapaxes(m, -1, -2)
    Ar[..., :a, a:] = r
    Ar[..., a:, :a] = np.swapaxes(r, -1, -2)
    return Am, Ar


def _scaled(J: Interval, sizes: Sequence[int], w: Sequence[float]) -> Interval:
    """``K = D J D^-1`` entrywise: J_ab sqrt(w_i / w_j), the factor enclosed."""
    s = np.concatenate([np.full(n, float(v)) for n, v in zip(sizes, w)])
    ratio = iv.div(iv.point(s[:, None] * np.ones_like(s)[None, :]), iv.point(np.ones_like(s)[:, None] * s[None, :]))
    return iv.mul(J, iv.sqrt(ratio))


def _family(J: Interval, sizes: Sequence[int], key: Key) -> tuple[np.ndarray, np.ndarray]:
    """(A_m, A_r) of ``key`` on each box (module docstring)."""
    off = _offsets(sizes)
    if key.kind in ("alpha", "beta"):
        assert key.w is not None
        m, r = _scaled(J, sizes, key.w).mid_rad()
    else:
        m, r = J.mid_rad()
    if key.kind in ("mu", "L"):
        i, j = key.i, key.j if key.kind == "L" else key.i
        m = m[..., off[i] : off[i + 1], off[j] : off[j + 1]]
        r = r[..., off[i] : off[i + 1], off[j] : off[j + 1]]
    if key.kind in ("L", "beta"):
        return _embedding(m, r)
    return _sym(m, r)


def _magnitude(J: Interval, sizes: Sequence[int], key: Key) -> np.ndarray:
    """The norm bound of L and beta by magnitudes: ``||X||_2 <= || |X| ||_2`` for the
    entrywise largest ``|X| <= max(|lo|, |hi|)`` (Perron-Frobenius), proved by
    Collatz-Wielandt on ``[[0, |X|], [|X|^T, 0]]``. Exact for non-negative diagonal
    blocks, where the midpoint-radius bound loses when the radii differ."""
    if key.kind == "beta":
        assert key.w is not None
        K = _scaled(J, sizes, key.w)
    else:
        off = _offsets(sizes)
        K = Interval(
            J.lo[..., off[key.i] : off[key.i + 1], off[key.j] : off[key.j + 1]],
            J.hi[..., off[key.i] : off[key.i + 1], off[key.j] : off[key.j + 1]],
        )
    mag = np.maximum(np.abs(K.lo), np.abs(K.hi))
    _, R = _embedding(mag, mag)
    return spectral_radius_upper(R)


def _blockdiag(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    n, m = a.shape[-1], b.shape[-1]
    out = np.zeros(a.shape[:-2] + (n + m, n + m))
    out[..., :n, :n] = a
    out[..., n:, n:] = b
    return out


def _pencil(
    J: Interval, G: Interval, sizes: Sequence[int], key: Key
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The Fisher frame's claim as ``A0 + t A1 >= 0`` (A1 negative definite): for lower
    keys ``sym(.) - t G`` (t the bound), for upper keys ``[[l G_i, X], [X^T, l G_j]]``
    with t = -l (docs/theory.md §14). Returns (A0_m, A0_r, A1_m, A1_r)."""
    off = _offsets(sizes)
    Gm, Gr = _sym(*G.mid_rad())
    A0m, A0r = _family(J, sizes, key)
    if key.kind == "mu":
        blk = slice(off[key.i], off[key.i + 1])
        return A0m, A0r, -Gm[..., blk, blk], Gr[..., blk, blk]
    if key.kind == "L":
        bi, bj = slice(off[key.i], off[key.i + 1]), slice(off[key.j], off[key.j + 1])
        return A0m, A0r, -_blockdiag(Gm[..., bi, bi], Gm[..., bj, bj]), _blockdiag(Gr[..., bi, bi], Gr[..., bj, bj])
    if key.kind == "beta":
        return A0m, A0r, -_blockdiag(Gm, Gm), _blockdiag(Gr, Gr)
    return A0m, A0r, -Gm, Gr  # gamma, alpha


def bounds(J: Interval, G: Interval | None, sizes: Sequence[int], keys: Sequence[Key]) -> np.ndarray:
    """(n, len(keys)): each key's proved bound on each box (lower bounds for mu, gamma,
    alpha; upper bounds for L, beta: the better of the midpoint-radius and the magnitude
    bound); -inf / +inf where nothing is proved. ``G``: the reduced Fisher matrices of the
    Fisher geometry (None: the Euclidean geometry, G = I)."""
    out = np.empty((J.shape[0], len(keys)))
    for k, key in enumerate(keys):
        if key.kind == "L" and _zero_block(J, sizes, key):
            out[:, k] = 0.0  # an exactly zero block
            continue
        if G is not None:
            t = pencil_lower_bound(*_pencil(J, G, sizes, key))
            out[:, k] = -t if key.upper else t
            continue
        Am, Ar = _family(J, sizes, key)
        b = lower_bound(Am, Ar)
        out[:, k] = np.minimum(-b, _magnitude(J, sizes, key)) if key.upper else b
    return out


def _zero_block(J: Interval, sizes: Sequence[int], key: Key) -> bool:
    off = _offsets(sizes)
    bi, bj = slice(off[key.i], off[key.i + 1]), slice(off[key.j], off[key.j + 1])
    return not (np.any(J.lo[..., bi, bj]) or np.any(J.hi[..., bi, bj]))


def holds(
    J: Interval, G: Interval | None, sizes: Sequence[int], keys: Sequence[Key], values: Sequence[float]
) -> np.ndarray:
    """(n, len(keys)) booleans: True where the stated value of each key is proved on each
    box (``key >= value`` for lower bounds, ``key <= value`` for upper ones)."""
    out = np.empty((J.shape[0], len(keys)), dtype=bool)
    for k, (key, value) in enumerate(zip(keys, values)):
        if key.kind == "L" and _zero_block(J, sizes, key):
            out[:, k] = value >= 0.0
            continue
        t = np.asarray(-float(value) if key.upper else float(value))
        if G is not None:
            out[:, k] = pencil_holds(*_pencil(J, G, sizes, key), t)
            continue
        Am, Ar = _family(J, sizes, key)
        ok = family_holds(Am, Ar, t)
        if key.upper:
            ok |= _magnitude(J, sizes, key) <= float(value)
        out[:, k] = ok
    return out
