"""Sample points of the region R (docs/theory.md §2). The centre is always the first point.

Samplers (all seeded, deterministic):

- ``sobol``    scrambled Sobol points (scipy.stats.qmc), mapped onto R;
- ``random``   uniform points of R (numpy PCG64);
- ``grid``     k^d tensor grid of the box with k = floor(n^(1/d)) >= 2 (else a spec error);
- ``vertices`` the 2^d corners of the box (for a ball: the 2d points c +- r e_k).

Ball points use d + 1 coordinates of the unit cube: d Gaussian (by inverse CDF) for the
direction and one for the radius, r * u^(1/d), which is uniform in the ball.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np

from ..errors import SpecError
from ..games.model import Region, Sampling
from ..theory.sets import ProductSet, retract_into_region

MAX_POINTS = 10_000_000


def _unit_cube(method: str, n: int, dim: int, seed: int) -> np.ndarray:
    if method == "sobol":
        from scipy.stats import qmc

        if dim > 21201:
            raise SpecError(f"sampling: sobol supports at most 21201 dimensions, got {dim}; use method: random")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # balance warning for n not a power of 2
            return qmc.Sobol(dim, scramble=True, seed=np.random.default_rng(seed)).random(n)
    return np.random.default_rng(seed).random((n, dim))


def grid_points_per_axis(samples: int, d: int) -> int:
    """k = floor(samples^(1/d)) points per axis; SpecError when k < 2, since a grid needs both
    ends of every axis and would then take 2^d points, far more than the samples asked for."""
    k = math.floor(samples ** (1.0 / d) + 1e-9)
    if k < 2:
        raise SpecError(
            f"sampling: a grid needs 2 points per axis, 2^{d} = {2 ** min(d, 64)} points at dimension {d}, "
            f"more than samples: {samples}; raise samples or use sobol"
        )
    return int(k)


def sample_count(region: Region, sampling: Sampling, d: int) -> int:
    """How many points :func:`sample_region` returns (centre included), without drawing them."""
    if sampling.method == "vertices":
        return 1 + (2 * d if region.norm == "2" else 2 ** min(d, 64))
    if sampling.method == "grid":
        return 1 + grid_points_per_axis(sampling.samples, d) ** min(d, 64)
    return 1 + sampling.samples


def sample_region(region: Region, sampling: Sampling) -> np.ndarray:
    """Points of R as an (n, d) float64 array, centre first."""
    c, r = region.center, region.radius
    if c is None:
        raise SpecError("sample_region needs a region with its centre set (solve the equilibrium first)")
    d = c.shape[0]
    method, n = sampling.method, sampling.samples
    if method == "vertices":
        if region.norm == "2":
            offsets = np.concatenate([np.eye(d), -np.eye(d)]) * r
        else:
            if d > 20:
                raise SpecError(f"sampling: vertices of a {d}-dimensional box are 2^{d} points; use sobol")
            offsets = np.array(list(itertools.product((-r, r), repeat=d)), dtype=np.float64)
    elif method == "grid":
        if region.norm == "2":
            raise SpecError("sampling: grid sampling needs a box region (norm: inf)")
        k = grid_points_per_axis(n, d)
        if k**d > MAX_POINTS:
            raise SpecError(f"sampling: a grid of {k}^{d} points is too large; use sobol")
        axis = np.linspace(-r, r, k)
        offsets = np.array(list(itertools.product(axis, repeat=d)), dtype=np.float64)
    elif region.norm == "inf":
        offsets = (2.0 * _unit_cube(method, n, d, sampling.seed) - 1.0) * r
    else:
        from scipy.special import ndtri

        u = _unit_cube(method, n, d + 1, sampling.seed)
        g = ndtri(np.clip(u[:, :d], 1e-12, 1 - 1e-12))
        g /= np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-300)
        offsets = g * (r * u[:, d:] ** (1.0 / d))
    return np.concatenate([c[None, :], c[None, :] + offsets])


def in_feasible_region(points: np.ndarray, region: Region, sets: ProductSet | None) -> np.ndarray:
    """Points of R mapped into R and X (docs/theory.md §13): each point is projected onto X
    (per player, in closed form) and, if that left R, moved along the segment towards the
    centre (a point of both, convex) back into R. Points of R and X are unchanged, so the
    samples cover R and X; F is never evaluated outside X. Without sets: ``points``."""
    if sets is None or not sets.constrained:
        return points
    c = region.center
    assert c is not None
    return retract_into_region(sets.project(points), c, c, region.radius, region.norm)


OVERSAMPLE = 64  # sobol / random points drawn per sample of a constrained game, to fill R and X from inside
OVERSAMPLE_FLOATS = 20_000_000  # ... within this many coordinates (160 MB)


def sample_game_region(region: Region, sampling: Sampling, sets: ProductSet | None) -> np.ndarray:
    """:func:`sample_region`, mapped into R and X for a constrained game (centre first).

    Sobol and random samplers draw up to OVERSAMPLE times the points asked for (within
    OVERSAMPLE_FLOATS coordinates) and keep, in
    their order, those already in X (they fill R and X from inside, as the plain sampler
    fills R); only the shortfall is made of points mapped into R and X by
    :func:`in_feasible_region` (which lie on X's boundary when they started outside it).
    Grid and vertex samples are all mapped (their structure is the point)."""
    if sets is None or not sets.constrained:
        return sample_region(region, sampling)
    n = sampling.samples
    if sampling.method not in ("sobol", "random"):
        return in_feasible_region(sample_region(region, sampling), region, sets)
    factor = int(max(1, min(OVERSAMPLE, OVERSAMPLE_FLOATS // max(1, n * sets.dim))))
    pts = sample_region(region, Sampling(sampling.method, n * factor, sampling.seed))
    inside = sets.contains(pts[1:])
    kept = pts[1:][inside][:n]
    rest = in_feasible_region(pts[1:][~inside][: n - kept.shape[0]], region, sets)
    return np.concatenate([pts[:1], kept, rest])
