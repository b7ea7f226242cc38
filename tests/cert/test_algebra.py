"""Verify re-derives the RK4 constant and the two-player band on purpose, without the
writer's code; these tests tie each independent derivation to the writer's."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sgncert.cert.algebra import _band_closed_form, rk4_constant
from sgncert.theory.band import band_two_player
from sgncert.theory.steps import C4, rk4_a, rk4_k

positive = st.floats(1e-3, 1e3)
coupling = st.one_of(st.just(0.0), st.floats(1e-3, 1e3))


@settings(max_examples=300, deadline=None)
@given(m1=positive, m2=positive, l12=coupling, l21=coupling, alpha=st.floats(-1.0, 1.0))
def test_verify_band_closed_form_is_the_writers(m1, m2, l12, l21, alpha):
    writer = band_two_player([m1, m2], [[0.0, l12], [l21, 0.0]], alpha)
    verifier = _band_closed_form(m1 - alpha, m2 - alpha, l12, l21)
    assert (writer is None) == (verifier is None)
    if writer is not None:
        for w, v in zip(writer, verifier):
            assert (math.isinf(w) and math.isinf(v)) or w == pytest.approx(v, rel=1e-12, abs=0.0)


def test_verify_rk4_constant_is_the_writers():
    c = rk4_constant()
    assert abs(c - C4) < 1e-12
    # both are the fixed point of c = 2 a(c) / k(c), on its safe side
    assert c < 2 * rk4_a(c) / rk4_k(c) and C4 <= 2 * rk4_a(C4) / rk4_k(C4)
    assert c == pytest.approx(0.4032042579, abs=1e-9)
