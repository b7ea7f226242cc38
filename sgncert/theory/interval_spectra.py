"""Proved eigenvalue bounds of interval matrices (docs/theory.md §14).

An interval matrix ``[A_m - A_r, A_m + A_r]`` (A_m symmetric, A_r >= 0 entrywise and
symmetric) holds every symmetric ``A = A_m + Delta`` with ``|Delta| <= A_r``. Weyl's
inequality and ``||Delta||_2 <= || |Delta| ||_2 <= rho(A_r)`` (the spectral radius of a
non-negative matrix is monotone in its entries) give

    lambda_min(A) >= lambda_min(A_m) - rho(A_r)          for every A in the family.

Both terms are proved, with NumPy floats only:

- ``rho(A_r) <= max_i (A_r v)_i / v_i`` for any positive vector v (Collatz-Wielandt); v is
  a float estimate of the Perron vector, and the quotient is rounded upwards;
- ``lambda_min(A_m) > t`` because ``S = A_m - t I`` is positive definite: with X a float
  approximate inverse of S's Cholesky factor (exactly lower triangular with non-zero
  diagonal, hence invertible), the computed ``B = fl(fl(X S) X^T)`` differs from
  ``X S X^T`` by at most ``gamma_n (|X||S||X^T| + |fl(X S)||X^T|)`` entrywise, and a
  strictly diagonally dominant B with positive diagonal, radius included, is positive
  definite (Gershgorin), so S is (congruence).

:func:`holds` decides ``lambda_min >= t`` over the family (sgncert verify re-proves a
stated bound with it); :func:`lower_bound` finds a float t just below the estimate for
which it holds. Everything is batched over leading axes.
"""

from __future__ import annotations

import numpy as np

from .intervals import U, down, gamma_n, inflate, up

__all__ = [
    "spectral_radius_upper",
    "pd_proved",
    "holds",
    "holds_either",
    "lower_bound",
    "midpoint_lower_bound",
    "diagonal_first",
    "pencil_holds",
    "pencil_lower_bound",
    "LADDER",
]

LADDER = tuple(2.0 ** (-46 + 4 * k) for k in range(7))  # relative back-offs from the estimate
_MAX_FACTOR = 1e150  # a congruence factor larger than this proves nothing (overflow guard)


def spectral_radius_upper(R: np.ndarray) -> np.ndarray:
    """Upper bounds of the spectral radius of non-negative symmetric matrices R (..., n, n)
    (Collatz-Wielandt with a float Perron vector; inf where R is not finite)."""
    n = R.shape[-1]
    if n == 0:
        return np.zeros(R.shape[:-2])
    finite = np.all(np.isfinite(R), axis=(-1, -2))
    Rf = np.where(finite[..., None, None], R, 0.0)
    _, vecs = np.linalg.eigh(Rf)
    v = np.abs(vecs[..., -1])
    v = v + 1e-8 * np.max(v, axis=-1, keepdims=True) + 1e-300
    Rv = inflate(np.einsum("...ij,...j->...i", Rf, v), n)
    ratio = up(Rv / v)
    return np.where(finite, np.max(ratio, axis=-1), np.inf)


def _cholesky_inverse(S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(X, ok): X a lower-triangular approximate inverse Cholesky factor of each S, ok
    where the float factorisation succeeded."""
    shape = S.shape
    flat = S.reshape((-1,) + shape[-2:])
    X = np.zeros_like(flat)
    ok = np.zeros(flat.shape[0], dtype=bool)
    try:
        Lf = np.linalg.cholesky(flat)
        ok[:] = True
    except np.linalg.LinAlgError:
        Lf = np.zeros_like(flat)
        for k in range(flat.shape[0]):
            try:
                Lf[k] = np.linalg.cholesky(flat[k])
                ok[k] = True
            except np.linalg.LinAlgError:
                pass
    eye = np.eye(shape[-1])
    Lsafe = np.where(ok[:, None, None], Lf, eye)
    X = np.tril(np.linalg.inv(Lsafe))
    return X.reshape(shape), ok.reshape(shape[:-2])


def pd_proved(S: np.ndarray, rad: np.ndarray) -> np.ndarray:
    """True where every symmetric matrix within ``rad`` (entrywise, >= 0) of the float
    matrix S (..., n, n) is proved positive definite (module docstring); False: not proved."""
    n = S.shape[-1]
    if n == 0:
        return np.ones(S.shape[:-2], dtype=bool)
    finite = np.all(np.isfinite(S) & np.isfinite(rad), axis=(-1, -2))
    S = np.where(finite[..., None, None], S, np.eye(n))
    rad = np.where(finite[..., None, None], rad, 0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        X, ok = _cholesky_inverse(S)
        diag_x = np.diagonal(X, axis1=-2, axis2=-1)
        ok &= np.all(diag_x != 0, axis=-1) & np.all(np.isfinite(X), axis=(-1, -2))
        ok &= np.max(np.abs(X), axis=(-1, -2)) < _MAX_FACTOR
        Xt = np.swapaxes(X, -1, -2)
        Y = X @ S
        B = Y @ Xt
        aX, aXt = np.abs(X), np.abs(Xt)
        g = gamma_n(n)
        T = aX @ (g * np.abs(S) + rad) @ aXt + g * (np.abs(Y) @ aXt)
        T = inflate(T, 3 * n + 4)
        off = np.abs(B)
        idx = np.arange(n)
        off[..., idx, idx] = 0.0
        row = inflate(np.sum(off + T, axis=-1), n + 1)
        diag = np.diagonal(B, axis1=-2, axis2=-1)
        dominant = np.all(diag > row, axis=-1) & np.all(np.isfinite(row), axis=-1)
    return finite & ok & dominant


def _shifted(Am: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(S, rad) with S = fl(A_m - t I) and rad the rounding of its diagonal."""
    n = Am.shape[-1]
    idx = np.arange(n)
    S = Am.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        S[..., idx, idx] = Am[..., idx, idx] - np.asarray(t)[..., None]
        rad = np.zeros_like(S)
        rad[..., idx, idx] = up(U * np.abs(S[..., idx, idx]))
    return S, rad


def holds(Am: np.ndarray, Ar: np.ndarray, t: np.ndarray) -> np.ndarray:
    """True where ``lambda_min(A) >= t`` is proved for every A in ``[A_m +- A_r]``
    (A_m symmetric, A_r >= 0 symmetric; batched over leading axes; ``t`` broadcast)."""
    t = np.broadcast_to(np.asarray(t, dtype=np.float64), Am.shape[:-2])
    rho = spectral_radius_upper(Ar)
    with np.errstate(over="ignore", invalid="ignore"):
        need = up(t + rho)  # prove lambda_min(A_m) > t + rho(A_r)
    ok = np.isfinite(need)
    S, rad = _shifted(Am, np.where(ok, need, 0.0))
    return ok & pd_proved(S, rad)


def diagonal_first(Am: np.ndarray, Ar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The family's worst diagonal moved into the midpoint: ``(A_m - diag(A_r), A_r - diag(A_r))``.

    Every A of the family satisfies ``A >= (A_m - diag(A_r)) + Delta_off`` (Loewner order)
    with ``|Delta_off| <= A_r - diag(A_r)``, so a lower bound of the second family's
    lambda_min bounds the first's; it is exact for diagonal families, where the plain
    midpoint-radius bound loses ``max r_i - r_min``. The diagonal is rounded down."""
    n = Am.shape[-1]
    idx = np.arange(n)
    A2 = Am.copy()
    R2 = Ar.copy()
    A2[..., idx, idx] = down(Am[..., idx, idx] - Ar[..., idx, idx])
    R2[..., idx, idx] = 0.0
    return A2, R2


def lower_bound(Am: np.ndarray, Ar: np.ndarray) -> np.ndarray:
    """The better of :func:`midpoint_lower_bound` on the family and on its
    :func:`diagonal_first` form (both are proved)."""
    a = midpoint_lower_bound(Am, Ar)
    if not np.any(np.diagonal(Ar, axis1=-2, axis2=-1)):
        return a
    return np.maximum(a, midpoint_lower_bound(*diagonal_first(Am, Ar)))


def holds_either(Am: np.ndarray, Ar: np.ndarray, t: np.ndarray) -> np.ndarray:
    """:func:`holds` on the family or on its :func:`diagonal_first` form."""
    ok = holds(Am, Ar, t)
    if ok.all() or not np.any(np.diagonal(Ar, axis1=-2, axis2=-1)):
        return ok
    return ok | holds(*diagonal_first(Am, Ar), t)


def midpoint_lower_bound(Am: np.ndarray, Ar: np.ndarray) -> np.ndarray:
    """A proved lower bound of ``lambda_min`` over each interval matrix family: the float
    estimate ``lambda_min(A_m) - rho(A_r)`` moved down by the first back-off of LADDER
    that :func:`holds` proves; -inf where none is proved."""
    shape = Am.shape[:-2]
    n = Am.shape[-1]
    if n == 0:
        return np.full(shape, np.inf)
    finite = np.all(np.isfinite(Am) & np.isfinite(Ar), axis=(-1, -2))
    Amf = np.where(finite[..., None, None], Am, 0.0)
    est = np.linalg.eigvalsh(Amf)[..., 0] - spectral_radius_upper(np.where(finite[..., None, None], Ar, 0.0))
    scale = np.max(np.sum(np.abs(Amf), axis=-1), axis=-1) + np.abs(est) + 1e-300
    out = np.full(shape, -np.inf)
    todo = finite & np.isfinite(est)
    for back in LADDER:
        if not todo.any():
            break
        t = down(est - back * scale)
        proved = np.zeros(shape, dtype=bool)
        proved[todo] = holds(Am[todo], Ar[todo], t[todo])
        out = np.where(proved, t, out)
        todo &= ~proved
    return out


# ----------------------------------------------------------------- pencils (Fisher frame)
def _pencil_at(
    A0m: np.ndarray, A0r: np.ndarray, A1m: np.ndarray, A1r: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The interval matrix ``A0 + t A1`` (t per family), its forming rounding in the radius."""
    tt = np.asarray(t, dtype=np.float64)[..., None, None]
    with np.errstate(over="ignore", invalid="ignore"):
        prod = tt * A1m
        Sm = A0m + prod
        Sr = up(up(A0r + up(np.abs(tt) * A1r)) + up(2.0 * U * up(np.abs(A0m) + np.abs(prod))))
    return Sm, Sr


def pencil_holds(A0m: np.ndarray, A0r: np.ndarray, A1m: np.ndarray, A1r: np.ndarray, t: np.ndarray) -> np.ndarray:
    """True where ``A0 + t A1 >= 0`` is proved for every member of the interval families
    (positive definite, by :func:`holds_either` at 0)."""
    t = np.broadcast_to(np.asarray(t, dtype=np.float64), A0m.shape[:-2])
    ok = np.isfinite(t)
    Sm, Sr = _pencil_at(A0m, A0r, A1m, A1r, np.where(ok, t, 0.0))
    return ok & holds_either(Sm, Sr, np.zeros(A0m.shape[:-2]))


def _pencil_estimate(A0m, A0r, A1m, A1r, t) -> np.ndarray:
    """A float estimate of the proof's margin at t (>= 0: the proof should hold)."""
    Sm, Sr = _pencil_at(A0m, A0r, A1m, A1r, t)
    finite = np.all(np.isfinite(Sm) & np.isfinite(Sr), axis=(-1, -2))
    Smf = np.where(finite[..., None, None], Sm, 0.0)
    a = np.linalg.eigvalsh(Smf)[..., 0] - spectral_radius_upper(np.where(finite[..., None, None], Sr, 0.0))
    d = Sr.shape[-1]
    idx = np.arange(d)
    A2 = Smf.copy()
    R2 = np.where(finite[..., None, None], Sr, 0.0).copy()
    A2[..., idx, idx] = Smf[..., idx, idx] - R2[..., idx, idx]
    R2[..., idx, idx] = 0.0
    b = np.linalg.eigvalsh(A2)[..., 0] - spectral_radius_upper(R2)
    return np.where(finite, np.maximum(a, b), -np.inf)


PENCIL_EXPAND = 64  # doublings of the bracket
PENCIL_BISECT = 56  # bisection steps


def pencil_lower_bound(A0m: np.ndarray, A0r: np.ndarray, A1m: np.ndarray, A1r: np.ndarray) -> np.ndarray:
    """The largest float t (found by bisection on a float estimate, then proved by
    :func:`pencil_holds` with a back-off) such that ``A0 + t A1 >= 0`` for every member of
    the interval families, where every A1 of its family is negative definite (so the
    feasible t form an interval unbounded below); -inf where no t is proved."""
    shape = A0m.shape[:-2]
    scale = np.max(np.sum(np.abs(A0m), axis=-1), axis=-1) + 1e-300
    size1 = np.max(np.sum(np.abs(A1m), axis=-1), axis=-1) + 1e-300
    step = scale / size1
    ok0 = _pencil_estimate(A0m, A0r, A1m, A1r, np.zeros(shape)) >= 0
    # bracket: lo feasible, hi infeasible (by the estimate)
    lo = np.where(ok0, 0.0, -step)
    hi = np.where(ok0, step, 0.0)
    for _ in range(PENCIL_EXPAND + 1):
        f_lo = _pencil_estimate(A0m, A0r, A1m, A1r, lo) >= 0
        f_hi = _pencil_estimate(A0m, A0r, A1m, A1r, hi) >= 0
        done = f_lo & ~f_hi
        if done.all():
            break
        width = hi - lo
        down_ = ~f_lo  # lo is not feasible yet: look below it
        up_ = f_lo & f_hi  # hi is still feasible: look above it
        lo, hi = (
            np.where(down_, lo - 2.0 * width, np.where(up_, hi, lo)),
            np.where(down_, lo, np.where(up_, hi + 2.0 * width, hi)),
        )
    for _ in range(PENCIL_BISECT):
        mid = lo + 0.5 * (hi - lo)
        f = _pencil_estimate(A0m, A0r, A1m, A1r, mid) >= 0
        lo, hi = np.where(f, mid, lo), np.where(f, hi, mid)
    out = np.full(shape, -np.inf)
    todo = done.copy()
    mag = np.abs(lo) + step
    for back in LADDER:
        if not todo.any():
            break
        t = down(lo - back * mag)
        proved = np.zeros(shape, dtype=bool)
        proved[todo] = pencil_holds(A0m[todo], A0r[todo], A1m[todo], A1r[todo], t[todo])
        out = np.where(proved, t, out)
        todo &= ~proved
    return out
