"""Exact constants are proved from the Jacobian's rational entries (sgncert.theory.proved),
never taken from a floating-point eigenvalue; psd_exact stays exact and fast for large
matrices (characteristic polynomial)."""

from __future__ import annotations

import copy
import json
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import GAMES
from sgncert.analysis.certify import certify
from sgncert.cert.build import build_certificate, dumps
from sgncert.cert.verify import verify_certificate
from sgncert.games.spec import game_from_dict, load_game
from sgncert.theory import exact, proved
from sgncert.theory.exact import charpoly_decide, ldl_decide, psd_exact

# A symmetric 6 x 6 float matrix of norm ~1e8 designed with lambda_min = 5e-10; rounding
# makes the float matrix's exact lambda_min negative, while numpy's eigvalsh says +1.5e-8.
HOSTILE_H = [
    [21527487.924439937, -4279486.314999855, -4598581.822262511, 14785249.115129197, 4400806.863932027, -10289750.094363512],
    [-4279486.314999855, 28893030.71946044, 24223935.355762184, -15232278.060217148, -4541132.204547459, 17464015.55841787],
    [-4598581.822262511, 24223935.355762184, 37493789.40704422, -16561413.387127958, -10279769.253024744, 32321832.109750696],
    [14785249.115129197, -15232278.060217148, -16561413.387127958, 47980947.60762645, -6956750.898423955, -6346888.857068879],
    [4400806.863932027, -4541132.204547459, -10279769.253024744, -6956750.898423955, 36715242.45766086, -5729776.80100877],
    [-10289750.094363512, 17464015.55841787, 32321832.109750696, -6346888.857068879, -5729776.80100877, 37389501.883768134],
]  # fmt: skip


def fractions(A) -> list[list[Fraction]]:
    return [[Fraction(float(v)) for v in row] for row in np.asarray(A, dtype=np.float64).tolist()]


def shifted(A, t: float) -> list[list[Fraction]]:
    """A - t I, exactly."""
    M = fractions(A)
    for i in range(len(M)):
        M[i][i] -= Fraction(t)
    return M


def test_hostile_matrix_is_what_it_says():
    H = np.array(HOSTILE_H)
    assert np.array_equal(H, H.T)
    assert np.linalg.eigvalsh(H)[0] > 0  # the float estimate claims positive definiteness
    assert not ldl_decide(fractions(H), strict=False)  # the exact matrix is indefinite


def test_hostile_one_player_game_is_not_certified():
    """The float eigenvalue would certify a margin ~1e-8 for a game whose Jacobian is not
    even monotone; the proved mu is a true lower bound, so nothing is certified."""
    spec = {
        "sgncert": 1,
        "name": "hostile",
        "params": {"H": HOSTILE_H},
        "players": [{"name": "x", "dim": 6}],
        "pseudo_gradient": {"blocks": {"x": {"x": "H"}}},
        "region": {"center": "zeros", "radius": 1.0, "norm": 2},
    }
    c = certify(game_from_dict(spec), tight=False)
    mu = float(c.constants.mu[0])
    assert c.constants.provenance == "exact"
    assert mu <= 0 and not c.certified
    assert ldl_decide(shifted(HOSTILE_H, mu), strict=False)  # independent: sym H - mu I >= 0
    assert c.constants.gamma <= mu  # one player: gamma is the same eigenvalue
    assert ldl_decide(shifted(HOSTILE_H, c.constants.gamma), strict=False)


def random_symmetric(seed: int, n: int, cond: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = np.geomspace(1.0, cond, n) * rng.choice([-1.0, 1.0], n)
    A = (Q * lam) @ Q.T
    return 0.5 * (A + A.T)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 10), cond=st.sampled_from([1.0, 1e3, 1e8, 1e12]))
def test_proved_bounds_hold_exactly_and_are_tight(seed, n, cond):
    """lambda_min / ||.||_2 proved by the ladder: the claim holds in exact arithmetic
    (independent LDL^T in Fractions) and the bound is within a few ulps of the scale."""
    A = random_symmetric(seed, n, cond)
    Aq = proved.rational_jacobian(A)
    est = float(np.linalg.eigvalsh(A)[0])
    lo = proved.prove(proved.euclidean_margin(A, Aq), est)
    assert lo <= est and ldl_decide(shifted(A, lo), strict=False)
    scale = float(np.max(np.sum(np.abs(A), axis=1)))
    assert est - lo <= 1e-10 * scale
    # ||A||_2 through the coupling claim of a two-player split
    if n >= 2:
        sizes = [n // 2, n - n // 2]
        X = A[: sizes[0], sizes[0] :]
        norm = float(np.linalg.norm(X, 2))
        up = proved.prove(proved.coupling(A, Aq, sizes, 0, 1), norm)
        assert up >= norm
        G = [[Fraction(0)] * n for _ in range(n)]  # [[u I, X], [X^T, u I]] exactly
        for i in range(n):
            G[i][i] = Fraction(up)
        for p in range(sizes[0]):
            for q in range(sizes[1]):
                G[p][sizes[0] + q] = G[sizes[0] + q][p] = Fraction(float(X[p, q]))
        assert ldl_decide(G, strict=False)
        assert up - norm <= 1e-10 * max(scale, 1e-300)


def test_weighted_constants_are_proved():
    """beta(w)^2 M - J^T M J >= 0 and sym(M J) - alpha_true M >= 0 hold exactly."""
    rng = np.random.default_rng(3)
    J = rng.standard_normal((5, 5)) + 3 * np.eye(5)
    sizes, w = [2, 3], [1.0, 37.5]
    Jq = proved.rational_jacobian(J)
    s = np.repeat(np.sqrt(w), sizes)
    K = s[:, None] * J / s[None, :]
    beta = proved.prove(proved.weighted_lipschitz(J, Jq, sizes, w), float(np.linalg.norm(K, 2)))
    at = proved.prove(proved.weighted_margin(J, Jq, sizes, w), float(np.linalg.eigvalsh(0.5 * (K + K.T))[0]))
    Mf = np.repeat(w, sizes)
    Jf = fractions(J)
    n = 5
    MJ = [[Fraction(Mf[i]) * Jf[i][j] for j in range(n)] for i in range(n)]
    JtMJ = [[sum(Jf[k][i] * Fraction(Mf[k]) * Jf[k][j] for k in range(n)) for j in range(n)] for i in range(n)]
    B = [[(Fraction(beta) ** 2 * Fraction(Mf[i]) if i == j else 0) - JtMJ[i][j] for j in range(n)] for i in range(n)]
    assert ldl_decide(B, strict=False)
    S = [
        [(MJ[i][j] + MJ[j][i]) / 2 - (Fraction(at) * Fraction(Mf[i]) if i == j else 0) for j in range(n)]
        for i in range(n)
    ]
    assert ldl_decide(S, strict=False)
    assert beta == pytest.approx(np.linalg.norm(K, 2), rel=1e-12)
    assert at == pytest.approx(np.linalg.eigvalsh(0.5 * (K + K.T))[0], rel=1e-9, abs=1e-12)


def test_verify_rejects_a_float_bound_that_is_not_proved():
    """The scalar game's float beta(w) (1.7071067811865475) is below the exact norm: a
    certificate stating it is rejected, although it agrees with a float recomputation."""
    doc = json.loads(
        dumps(build_certificate(certify(load_game(GAMES / "scalar.yaml")), created="2026-01-01T00:00:00+00:00"))
    )
    assert verify_certificate(doc, resample=0).exit_code == 0
    assert doc["constants"]["beta"] > 1.7071067811865475
    bad = copy.deepcopy(doc)
    bad["constants"]["beta"] = 1.7071067811865475
    rep = verify_certificate(bad, resample=0)
    assert rep.exit_code == 1 and "constants.beta" in {c.name for c in rep.failed}
    bad = copy.deepcopy(doc)
    bad["sgn"]["alpha_true"] = math.nextafter(1 - math.sqrt(0.5), 1.0)  # just above the exact value
    rep = verify_certificate(bad, resample=0)
    assert rep.exit_code == 1 and "sgn.alpha_true" in {c.name for c in rep.failed}


# ------------------------------------------------------------------- psd_exact at scale
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 14), rank=st.integers(0, 14), shift=st.sampled_from([-1, 0, 1]))
def test_characteristic_polynomial_agrees_with_ldl(seed, n, rank, shift):
    rng = np.random.default_rng(seed)
    B = rng.integers(-3, 4, (n, min(rank, n))).astype(float)
    A = B @ B.T + shift * np.eye(n) * (rng.random() < 0.5)
    M = fractions(A)
    for strict in (False, True):
        assert charpoly_decide(M, strict=strict) == ldl_decide([r[:] for r in M], strict=strict)


def test_psd_exact_of_a_large_matrix_uses_the_characteristic_polynomial(monkeypatch):
    """128 x 128 (LDL^T in Fractions takes minutes there) is decided exactly, both ways."""

    def no_ldl(*args, **kwargs):
        raise AssertionError("LDL^T in Fractions must not run on a large matrix")

    monkeypatch.setattr(exact, "ldl_decide", no_ldl)
    n = 128
    rng = np.random.default_rng(5)
    B = rng.standard_normal((n, n - 1))
    A = B @ B.T  # PSD, singular
    A = 0.5 * (A + A.T)
    lam = float(np.linalg.eigvalsh(A)[0])
    assert abs(lam) < 1e-9
    assert psd_exact((A + 1e-3 * np.eye(n)).tolist(), strict=True)
    assert not psd_exact((A - 1e-3 * np.eye(n)).tolist())
