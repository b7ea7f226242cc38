"""Samplers of the region: a grid takes the sample count it is given, or refuses."""

from __future__ import annotations

import numpy as np
import pytest

from sgncert.analysis.sampling import sample_count, sample_region
from sgncert.errors import SpecError
from sgncert.games.model import Region, Sampling


def test_grid_uses_the_sample_count():
    region = Region(np.zeros(3), 1.0, "inf")
    pts = sample_region(region, Sampling("grid", 64, 0))
    assert pts.shape == (1 + 4**3, 3) == (sample_count(region, Sampling("grid", 64, 0), 3), 3)


@pytest.mark.parametrize("d", [5, 20])
def test_grid_with_fewer_samples_than_two_per_axis_is_refused(d):
    """It used to take 2^d points whatever the count (1,048,577 at d = 20)."""
    region = Region(np.zeros(d), 1.0, "inf")
    with pytest.raises(SpecError, match=f"2 points per axis.*samples: {2**d - 1}"):
        sample_region(region, Sampling("grid", 2**d - 1, 0))
    with pytest.raises(SpecError, match="2 points per axis"):
        sample_count(region, Sampling("grid", 2**d - 1, 0), d)
    assert sample_count(region, Sampling("grid", 2**d, 0), d) == 1 + 2**d
