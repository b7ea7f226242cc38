"""The certificate document, section by section (``schema_version`` "1"; the meaning of
every number is in docs/theory.md).

One frozen dataclass per section declares every field: its type, whether it must be
present, what ``null`` means, its bounds, and a description (which says whether
``sgncert verify`` re-checks the field or whether it is informational). Everything else
derives from these declarations:

- the JSON document written by ``sgncert certify`` (:func:`to_document`);
- the JSON Schema printed by ``sgncert schema`` (:func:`json_schema`);
- the structural validation that ``sgncert verify`` runs before it reads a certificate
  (:func:`validate_document`).

Standard library only: the verifier's algebraic phase imports this module and must stay
light. ``null`` stands for +infinity where a number may be unbounded (band ends, step
limits); NaN and infinity literals never appear.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import SpecError

SCHEMA_VERSION: Literal["1"] = "1"
KIND: Literal["sgncert.certificate"] = "sgncert.certificate"
MAX_PLAYERS = 256  # exact PSD decisions of N x N matrices (characteristic polynomial, ~7 s at 256)
MAX_BAND_PLAYERS = 64  # a band's proof is two exact N x N decisions per pair

Provenance = Literal["exact", "sampled", "sound"]
Family = Literal["scalar", "block"]
Method = Literal["euler", "rk4"]
Search = Literal["lmi", "descent"]
TightProvenance = Literal["exact", "sampled"]


def info(
    description: str,
    *,
    required: bool = True,
    omit_if_none: bool = False,
    null: str | None = None,
    minimum: float | None = None,
    exclusive_minimum: float | None = None,
    pattern: str | None = None,
    pattern_hint: str | None = None,
    min_items: int | None = None,
) -> dict[str, Any]:
    """Field metadata of the certificate model.

    Args:
        description: what the field says, and how verify treats it.
        required: the key must be present (older or smaller certificates may omit the others).
        omit_if_none: a ``None`` value is left out of the document instead of written as null.
        null: what ``null`` means for this field (e.g. ``"+infinity"``); the field is nullable.
        minimum, exclusive_minimum: bounds of a number.
        pattern, pattern_hint: a regular expression a string must match, and how to say so.
        min_items: the least length of a list.
    """
    return {
        "description": description,
        "required": required,
        "omit_if_none": omit_if_none,
        "null": null,
        "minimum": minimum,
        "exclusive_minimum": exclusive_minimum,
        "pattern": pattern,
        "pattern_hint": pattern_hint,
        "min_items": min_items,
    }


# ------------------------------------------------------------------------------- sections
@dataclass(frozen=True)
class Player:
    name: str = field(metadata=info("the player's name (checked with game.players)"))
    dim: int = field(
        metadata=info("the dimension d_i of the player's decision vector (checked with game.players)", minimum=1)
    )


@dataclass(frozen=True)
class GameInfo:
    name: str = field(metadata=info("the game's name (checked against the embedded spec)"))
    sha256: str = field(
        metadata=info(
            "sha256 of the canonical JSON of `spec` (checked: the embedded spec must hash to it)",
            pattern="^[0-9a-f]{64}$",
            pattern_hint="64 lowercase hexadecimal digits",
        )
    )
    players: list[Player] = field(
        metadata=info("players in play order (checked against the embedded spec and the rebuilt game)", min_items=1)
    )
    spec: dict[str, Any] = field(
        metadata=info(
            "the canonical game spec, parameters applied; its sha256 is game.sha256 (checked: verify rebuilds the game from it)"
        )
    )
    affine: bool | None = field(
        default=None,
        metadata=info("F is affine, so the Jacobian is constant (checked against the rebuilt game)", required=False),
    )
    overrides: dict[str, Any] | None = field(
        default=None,
        metadata=info(
            "parameter values that replace the spec file's (--set, with_params) (checked: verify applies them "
            "to the spec file before comparing it)",
            required=False,
            omit_if_none=True,
        ),
    )
    source: str | None = field(
        default=None,
        metadata=info(
            "the spec file, relative to the certificate's folder (checked: when the file is found, it must still describe the game)",
            required=False,
            null="not recorded",
        ),
    )


@dataclass(frozen=True)
class RegionInfo:
    center: list[float] = field(
        metadata=info(
            "the centre c of R, or the solved equilibrium for center: equilibrium (checked against the embedded spec when it gives the centre)"
        )
    )
    radius: float = field(
        metadata=info(
            "the half-width (box) or radius (ball) of R (checked against the embedded spec)", exclusive_minimum=0
        )
    )
    norm: Literal["inf", "2"] = field(
        metadata=info("inf: R is a box, 2: a Euclidean ball (checked against the embedded spec)")
    )
    center_spec: str | list[float] | None = field(
        default=None,
        metadata=info(
            "the centre as the spec gives it: a list, zeros or equilibrium (informational)",
            required=False,
            omit_if_none=True,
        ),
    )


@dataclass(frozen=True)
class SoundSampled:
    mu: list[float] = field(metadata=info("min of mu_i over the samples (checked: recomputed)"))
    L: list[list[float]] = field(metadata=info("max of L_ij over the samples, zero diagonal (checked: recomputed)"))
    gamma: float = field(metadata=info("min of gamma over the samples (checked: recomputed)"))
    beta: float = field(metadata=info("max of beta(w) over the samples, in metric.weights (checked: recomputed)"))
    alpha_true: float = field(
        metadata=info("min of alpha_true(w) over the samples, in metric.weights (checked: recomputed)")
    )


@dataclass(frozen=True)
class SoundGaps:
    mu: list[float] = field(metadata=info("relative gaps of mu_i (checked: recomputed from the bound and estimate)"))
    L: list[list[float]] = field(metadata=info("relative gaps of L_ij (checked: recomputed)"))
    gamma: float = field(metadata=info("relative gap of gamma (checked: recomputed)"))
    beta: float = field(metadata=info("relative gap of beta(w) (checked: recomputed)"))
    alpha_true: float = field(metadata=info("relative gap of alpha_true(w) (checked: recomputed)"))


@dataclass(frozen=True)
class MatrixFreeInfo:
    starts: int = field(
        metadata=info(
            "random unit start vectors of every Lanczos run, the most extreme safe-side value kept "
            "(checked: verify recomputes the constants with these options)",
            minimum=1,
        )
    )
    steps: int = field(
        metadata=info(
            "Lanczos steps of every run, fewer only when its Krylov space is invariant (checked: verify recomputes with them)",
            minimum=2,
        )
    )
    failure: float = field(
        metadata=info(
            "per start, the probability that its value is outside the Kuczynski-Wozniakowski allowance; a value "
            "is on the wrong side only if every start failed, probability failure^starts (checked: verify "
            "recomputes with it)",
            exclusive_minimum=0,
        )
    )
    seed: int = field(metadata=info("seed of the start vectors (checked: verify recomputes with it)", minimum=0))


@dataclass(frozen=True)
class SoundInfo:
    partition: str = field(
        metadata=info(
            "the boxes the bounds are proved on: pre-order bisections of the box around R (a coordinate: split it at "
            "its midpoint; '.': a leaf; 'x': a box outside R) (checked: verify re-proves every bound on every leaf)"
        )
    )
    tolerance: float = field(
        metadata=info(
            "the relative gap asked for between each bound and its best point value (informational)", minimum=0
        )
    )
    reached: float = field(
        metadata=info(
            "the largest relative gap reached: (best point value - bound) / |best point value| (informational)",
            minimum=0,
        )
    )
    complete: bool = field(metadata=info("every bound is within tolerance (checked: reached <= tolerance)"))
    stopped: str = field(metadata=info("what ended the search: tolerance, boxes or seconds (informational)"))
    boxes: int = field(metadata=info("boxes enclosed (informational; checked to be at least the leaves)", minimum=1))
    leaves: int = field(
        metadata=info("boxes of the final partition inside R (checked against the partition)", minimum=1)
    )
    budget_boxes: int = field(metadata=info("the budget in boxes (informational)", minimum=1))
    budget_seconds: float = field(metadata=info("the budget in seconds (informational)", minimum=0))
    sampled: SoundSampled = field(
        metadata=info(
            "the sampled estimates of the same run, extrema over the certificate's samples (checked: recomputed)"
        )
    )
    gaps: SoundGaps = field(
        metadata=info(
            "per constant, how far sampling alone was from the proved bound, relative: |bound - sampled| / "
            "|sampled| (checked: recomputed from the stated bounds and estimates)"
        )
    )


@dataclass(frozen=True)
class ConstantsInfo:
    mu: list[float] = field(
        metadata=info(
            "own curvatures mu_i = inf lambda_min(sym J_ii) over R (exact: re-proved from the rebuilt J; sampled: recomputed on the samples; sound: re-proved on the partition; a stated value above the true one fails)"
        )
    )
    L: list[list[float]] = field(
        metadata=info(
            "couplings L_ij = sup ||J_ij||_2 over R, zero diagonal (exact: re-proved from the rebuilt J; sampled: recomputed on the samples; sound: re-proved on the partition; a stated value below the true one fails)"
        )
    )
    beta: float | None = field(
        metadata=info(
            "beta(w) = sup ||M^1/2 J M^-1/2||_2 over R (exact: re-proved from the rebuilt J; sampled: recomputed on the samples; sound: re-proved on the partition; a stated value below the true one fails)",
            null="+infinity",
            minimum=0,
        )
    )
    provenance: Provenance = field(
        metadata=info(
            "how sure the constants are: exact (J constant; checked: the game must be affine), sampled (extrema over the samples, an estimate: fresh points beating them are warnings) or sound (proved bounds over R by interval branch and bound, constants.sound: re-proved on its partition; fresh points beating them fail)"
        )
    )
    samples: int = field(
        metadata=info(
            "number of points the extrema are taken over, 1 for exact constants (checked: the embedded spec's sampling gives as many)",
            minimum=1,
        )
    )
    seed: int | None = field(
        metadata=info(
            "seed of the sample points (checked against the embedded spec)",
            null="exact constants, no sampling",
            minimum=0,
        )
    )
    sampler: str | None = field(
        default=None,
        metadata=info(
            "how the points were drawn: jacobian (exact), sobol, random, grid or vertices (informational)",
            required=False,
            omit_if_none=True,
        ),
    )
    sound: SoundInfo | None = field(
        default=None,
        metadata=info(
            "provenance sound: the branch and bound that proved the constants over R (docs/theory.md §14)",
            required=False,
            omit_if_none=True,
        ),
    )
    matrix_free: MatrixFreeInfo | None = field(
        default=None,
        metadata=info(
            "the constants came from the matrix-free path, Lanczos on Jacobian-vector products with no "
            "Jacobian formed (docs/theory.md §2); absent: dense or block Jacobians",
            required=False,
            omit_if_none=True,
        ),
    )


@dataclass(frozen=True)
class EuclideanInfo:
    margin: float = field(
        metadata=info(
            "gamma = inf lambda_min(sym J) over R, the classical Euclidean (Rosen) test (exact: re-proved; sampled: recomputed)"
        )
    )
    certified: bool | None = field(
        default=None, metadata=info("gamma > 0 (checked against margin)", required=False, omit_if_none=True)
    )
    provenance: Provenance | None = field(
        default=None, metadata=info("as constants.provenance (informational)", required=False, omit_if_none=True)
    )


@dataclass(frozen=True)
class MetricInfo:
    weights: list[float] = field(
        metadata=info(
            "block weights w with w_1 = 1; M(w) = blockdiag(w_i I) (checked: positive, w_1 = 1, inside the band; the margin is proved for them)"
        )
    )
    kind: str | None = field(
        default=None, metadata=info("scalar: one weight per player (informational)", required=False, omit_if_none=True)
    )
    source: str | None = field(
        default=None,
        metadata=info(
            "perron (margin-optimal, closed form) or spec (given weights) (informational)",
            required=False,
            omit_if_none=True,
        ),
    )
    M: str | None = field(
        default=None, metadata=info("the metric in words (informational)", required=False, omit_if_none=True)
    )


@dataclass(frozen=True)
class GeometryInfo:
    kind: Literal["euclidean", "fisher"] = field(
        metadata=info(
            "euclidean, or fisher for softmax games, whose constants are normalised by G_i^-1/2 (checked against the rebuilt game)"
        )
    )
    reduced_dims: list[int] | None = field(
        default=None,
        metadata=info(
            "Fisher geometry: block sizes after quotienting the softmax gauge (checked against the rebuilt game)",
            required=False,
            omit_if_none=True,
        ),
    )
    normalisation: str | None = field(
        default=None,
        metadata=info(
            "Fisher geometry: how J is normalised, in words (informational)", required=False, omit_if_none=True
        ),
    )
    beta: str | None = field(
        default=None,
        metadata=info("Fisher geometry: what beta bounds, in words (informational)", required=False, omit_if_none=True),
    )


@dataclass(frozen=True)
class SgnInfo:
    margin: float = field(metadata=info("alpha_*(w), proved: C(w, margin) >= 0 is checked by an exact rational LDL^T"))
    tau: float = field(
        metadata=info(
            "tau(A) = sup_w alpha_*(w), the smallest real eigenvalue of A (recomputed from the stated mu and L; no claim rests on it)"
        )
    )
    gain: float | None = field(
        metadata=info(
            "small-gain radius rho(diag(mu)^-1 L); < 1 iff SGN can certify (recomputed from the stated mu and L; no claim rests on it)",
            null="not defined (some mu_i <= 0)",
        )
    )
    margin_float: float | None = field(
        default=None,
        metadata=info(
            "alpha_*(w) in floating point, before the exact proof (informational)", required=False, omit_if_none=True
        ),
    )
    margin_check: str | None = field(
        default=None, metadata=info("how the margin was proved (informational)", required=False, omit_if_none=True)
    )
    alpha_true: float | None = field(
        default=None,
        metadata=info(
            "the true weighted margin inf lambda_min(M^-1/2 sym(M J) M^-1/2) at w, >= margin (exact games: a proved lower bound, re-proved; sampled: the minimum over the samples, recomputed)",
            required=False,
            omit_if_none=True,
        ),
    )
    provenance: Provenance | None = field(
        default=None, metadata=info("as constants.provenance (informational)", required=False, omit_if_none=True)
    )
    tau_attained: bool | None = field(
        default=None,
        metadata=info(
            "the weights attain tau(A) (false when A is reducible; informational)", required=False, omit_if_none=True
        ),
    )


@dataclass(frozen=True)
class EulerSteps:
    max: float = field(
        metadata=info("Euler contracts in M(w) for h < max = 2 alpha/beta^2 (checked; 0: none)", minimum=0)
    )
    best: float = field(metadata=info("the step alpha/beta^2 minimising the proved factor (checked)", minimum=0))
    factor: float = field(
        metadata=info("the proved per-step factor sqrt(1 - alpha^2/beta^2) at best (checked)", minimum=0)
    )


@dataclass(frozen=True)
class Rk4Steps:
    max: float = field(
        metadata=info("RK4 contracts in M(w) for h < max = c4 alpha/beta^2 (checked; 0: none)", minimum=0)
    )
    best: float | None = field(
        default=None,
        metadata=info(
            "the step minimising the proved RK4 factor (checked)", required=False, omit_if_none=True, minimum=0
        ),
    )
    factor: float | None = field(
        default=None,
        metadata=info("the proved per-step factor at best (checked)", required=False, omit_if_none=True, minimum=0),
    )
    c4: float | None = field(
        default=None,
        metadata=info(
            "the RK4 constant c4 = 0.4032... (checked against an independent derivation)",
            required=False,
            omit_if_none=True,
            minimum=0,
        ),
    )


@dataclass(frozen=True)
class NpgSteps:
    max: float = field(metadata=info("natural policy gradient: as steps.euler.max (checked)", minimum=0))
    best: float = field(metadata=info("as steps.euler.best (checked)", minimum=0))
    factor: float = field(metadata=info("as steps.euler.factor (checked)", minimum=0))
    update: str = field(metadata=info("the update rule, in words (informational)"))


@dataclass(frozen=True)
class ThresholdPair:
    contraction: float | None = field(
        metadata=info("largest h with ||T(h)||_M < 1 on (0, h) (checked on a grid)", null="+infinity", minimum=0)
    )
    stability: float | None = field(
        metadata=info(
            "largest h with spectral radius rho(T(h)) < 1 on (0, h) (checked on a grid)", null="+infinity", minimum=0
        )
    )


@dataclass(frozen=True)
class ExactStepThresholds:
    euler: ThresholdPair = field(metadata=info("T(h) = I - hH"))
    rk4: ThresholdPair | None = field(
        default=None,
        metadata=info(
            "T(h) = P(-hH), P the RK4 polynomial (absent for a constrained game: RK4 is unconstrained only)",
            required=False,
            omit_if_none=True,
        ),
    )
    provenance: Provenance | None = field(
        default=None, metadata=info("exact (informational)", required=False, omit_if_none=True)
    )


@dataclass(frozen=True)
class StepsInfo:
    euler: EulerSteps = field(metadata=info("Euler steps proved from alpha and beta"))
    rk4: Rk4Steps = field(metadata=info("RK4 steps proved from alpha and beta"))
    provenance: Provenance | None = field(
        default=None, metadata=info("as constants.provenance (informational)", required=False, omit_if_none=True)
    )
    npg: NpgSteps | None = field(
        default=None,
        metadata=info(
            "Fisher geometry: natural policy gradient theta_i <- theta_i - h G_i^+ grad_i f_i",
            required=False,
            omit_if_none=True,
        ),
    )
    rk4_spectral_guideline: float | None = field(
        default=None,
        metadata=info(
            "the research code's RK4 step 2.5/beta: spectral stability of a linear system only, NOT a certified step "
            "(informational)",
            required=False,
            omit_if_none=True,
            minimum=0,
        ),
    )
    exact: ExactStepThresholds | None = field(
        default=None,
        metadata=info(
            "affine games: the exact largest steps for contraction in M(w) and for stability",
            required=False,
            omit_if_none=True,
        ),
    )


@dataclass(frozen=True)
class BandProof:
    low_weights: list[float] = field(
        metadata=info("weights w > 0 with C(w, band_alpha) > 0 and w_j/w_i <= low (checked exactly)", min_items=1)
    )
    high_weights: list[float] = field(
        metadata=info("weights w > 0 with C(w, band_alpha) > 0 and w_j/w_i >= high (checked exactly)", min_items=1)
    )
    low_direction: list[float] | None = field(
        default=None,
        metadata=info(
            "low = 0: d >= 0 with d_j = 0 < d_i and C(d, band_alpha) >= 0 (checked exactly)",
            required=False,
            omit_if_none=True,
        ),
    )
    high_direction: list[float] | None = field(
        default=None,
        metadata=info(
            "high = +infinity: d >= 0 with d_i = 0 < d_j and C(d, band_alpha) >= 0 (checked exactly)",
            required=False,
            omit_if_none=True,
        ),
    )


@dataclass(frozen=True)
class BandPair:
    i: int = field(metadata=info("first player index (checked: 0 <= i < j < N, each pair once)", minimum=0))
    j: int = field(metadata=info("second player index (checked: i < j < N)", minimum=0))
    low: float = field(
        metadata=info(
            "lower end of w_j/w_i with C(w, band_alpha) > 0 (checked exactly; N = 2: the closed form, "
            "N > 2: every ratio in [low, high] is proved by the witnesses in proof)",
            minimum=0,
        )
    )
    high: float | None = field(metadata=info("upper end (checked exactly)", null="+infinity", minimum=0))
    proof: BandProof | None = field(
        default=None,
        metadata=info(
            "N > 2: the witnesses that prove every ratio in [low, high] (required then; checked exactly)",
            required=False,
            omit_if_none=True,
        ),
    )
    search: str | None = field(
        default=None,
        metadata=info(
            "N > 2: 'optimal' when the search settled both ends (the band is then tight up to the solver's "
            "accuracy), else why not; the ends are proved either way (informational)",
            required=False,
            omit_if_none=True,
        ),
    )


@dataclass(frozen=True)
class EquilibriumInfo:
    residual_M: float | None = field(
        default=None, metadata=info("||F(center)||_M (recomputed)", required=False, omit_if_none=True, minimum=0)
    )
    solved: bool | None = field(
        default=None,
        metadata=info(
            "the centre was solved for, center: equilibrium (informational)", required=False, omit_if_none=True
        ),
    )
    method: str | None = field(
        default=None, metadata=info("how it was solved (informational)", required=False, omit_if_none=True)
    )
    residual: float | None = field(
        default=None,
        metadata=info("||F(center)||_2 at the end of the solve (informational)", required=False, omit_if_none=True),
    )
    distance_bound_M: float | None = field(
        default=None,
        metadata=info(
            "proved ||center - x*||_M <= residual_M / alpha (checked)", required=False, omit_if_none=True, minimum=0
        ),
    )
    in_region: bool | None = field(
        default=None,
        metadata=info(
            "the equilibrium x* provably lies in R: distance_bound_M <= R sqrt(min w) (checked when true)",
            required=False,
            omit_if_none=True,
        ),
    )
    natural_map_step: float | None = field(
        default=None,
        metadata=info(
            "constrained games: residual_M is ||c - P_X(c - h F(c))||_M at this h (the proof's alpha/beta^2) and "
            "distance_bound_M >= residual_M / (1 - q(h)), q(h)^2 = 1 - 2 h alpha + h^2 beta^2 (checked; absent: "
            "residual_M is ||F(c)||_M and the bound residual_M / alpha)",
            required=False,
            omit_if_none=True,
            exclusive_minimum=0,
        ),
    )
    proof: ProofMethod | None = field(
        default=None,
        metadata=info(
            "the verdict's proof whose rate alpha and metric M(w) the distance bound and the invariant ball use "
            "(checked: a holding proof with a rate; absent: sgn)",
            required=False,
            omit_if_none=True,
        ),
    )
    weights: list[float] | None = field(
        default=None,
        metadata=info(
            "the metric M(w) of residual_M, distance_bound_M and the invariant ball (checked: that proof's weights; "
            "absent: metric.weights)",
            required=False,
            omit_if_none=True,
        ),
    )


@dataclass(frozen=True)
class InvariantBall:
    radius_M: float = field(
        metadata=info(
            "radius of an M(w)-ball around x* inside R, forward invariant under the flow (checked)", minimum=0
        )
    )


@dataclass(frozen=True)
class TightStep:
    h: float = field(metadata=info("the largest step proved to contract in the metric (0: none; re-proved)"))
    factor: float = field(metadata=info("proved ||T(h)||_M <= factor < 1 (re-proved)"))
    family: Family = field(
        metadata=info("the metric family: scalar (w_i I) or block (a full block per player) (informational)")
    )
    method: Method = field(metadata=info("euler or rk4, as the section's name (informational)"))
    true_limit: float | None = field(
        metadata=info(
            "the spectral (true) step limit, min over the samples for sampled games (recomputed)", null="+infinity"
        )
    )
    ratio: float | None = field(metadata=info("h / true_limit (recomputed)", null="not defined"))
    checks: int = field(metadata=info("exact re-checks run (informational)", minimum=0))
    provenance: TightProvenance = field(
        metadata=info("exact or sampled (informational: tight.provenance decides how verify checks)")
    )
    search: Search = field(metadata=info("lmi or descent (informational)"))
    weights: list[float] | None = field(
        default=None,
        metadata=info(
            "scalar family: the metric's weights, w_1 = 1 (re-proved with h and factor)",
            required=False,
            omit_if_none=True,
        ),
    )
    blocks: list[list[list[float]]] | None = field(
        default=None,
        metadata=info(
            "block family: the metric's blocks M_i (re-proved with h and factor)", required=False, omit_if_none=True
        ),
    )


@dataclass(frozen=True)
class TightRate:
    alpha: float | None = field(
        metadata=info("the flow rate proved: M H + H^T M >= 2 alpha M exactly (re-proved)", null="none found")
    )
    family: Family = field(metadata=info("scalar or block (informational)"))
    true_bound: float | None = field(
        metadata=info("min Re lambda(H), no metric does better (recomputed)", null="not defined")
    )
    ratio: float | None = field(metadata=info("alpha / true_bound (recomputed)", null="not defined"))
    checks: int = field(metadata=info("exact re-checks run (informational)", minimum=0))
    provenance: Literal["exact"] = field(metadata=info("exact (informational)"))
    search: Search = field(metadata=info("lmi or descent (informational)"))
    weights: list[float] | None = field(
        default=None,
        metadata=info("scalar family: the metric's weights (re-proved with alpha)", required=False, omit_if_none=True),
    )
    blocks: list[list[list[float]]] | None = field(
        default=None,
        metadata=info("block family: the metric's blocks (re-proved with alpha)", required=False, omit_if_none=True),
    )


@dataclass(frozen=True)
class SgnRatio:
    euler: float | None = field(
        metadata=info("steps.euler.max / tight.euler.true_limit (recomputed)", null="not defined")
    )
    rk4: float | None = field(metadata=info("steps.rk4.max / tight.rk4.true_limit (recomputed)", null="not defined"))


@dataclass(frozen=True)
class TightInfo:
    metric_family: Family = field(metadata=info("the metric family searched: scalar or block (informational)"))
    provenance: TightProvenance = field(
        metadata=info(
            "exact (affine games: re-proved exactly) or sampled (an estimate, checked in floating point on the certificate's own samples)"
        )
    )
    euler: TightStep = field(metadata=info("the largest proved Euler step (projected Euler for a constrained game)"))
    rate: TightRate | None = field(
        metadata=info("affine games: the largest proved flow rate", null="not computed (sampled games)")
    )
    rk4: TightStep | None = field(
        default=None,
        metadata=info(
            "the largest proved RK4 step (absent for a constrained game: RK4 is unconstrained only)",
            required=False,
            omit_if_none=True,
        ),
    )
    sgn_ratio: SgnRatio | None = field(
        default=None, metadata=info("how far the SGN steps are from the true limits", required=False, omit_if_none=True)
    )


ProofMethod = Literal["sgn", "euclidean", "weighted", "lmi"]
UpdateRule = Literal["euler", "npg", "rk4"]


@dataclass(frozen=True)
class VerdictStep:
    h: float = field(
        metadata=info(
            "the step proved (re-checked: the formula 2 rate/beta^2 or c4 rate/beta^2 exactly, or the tight section's step)",
            exclusive_minimum=0,
        )
    )
    attained: bool = field(
        metadata=info(
            "false: an open bound, every 0 < step < h contracts; true: h itself is proved in the metric "
            "(metric search; Euler: also every smaller step) (checked)"
        )
    )
    factor: float | None = field(
        metadata=info(
            "the proved per-step contraction factor at h (checked against the tight section)",
            null="open bound (no factor at h itself)",
            minimum=0,
        )
    )
    weights: list[float] | None = field(
        metadata=info(
            "the scalar metric w (w_1 = 1) the step holds in (checked against its proof)",
            null="the block metric of the tight section",
        )
    )
    proof: ProofMethod | None = field(
        default=None,
        metadata=info(
            "verdict.best only: the proof the step comes from (checked: the largest step of any holding proof)",
            required=False,
            omit_if_none=True,
        ),
    )


@dataclass(frozen=True)
class VerdictSteps:
    euler: VerdictStep | None = field(
        default=None,
        metadata=info("explicit Euler x+ = x - h F(x)", required=False, omit_if_none=True),
    )
    npg: VerdictStep | None = field(
        default=None,
        metadata=info(
            "Fisher geometry: natural policy gradient theta_i <- theta_i - h G_i^+ grad_i f_i",
            required=False,
            omit_if_none=True,
        ),
    )
    rk4: VerdictStep | None = field(
        default=None,
        metadata=info(
            "classical RK4 on the flow (on the natural-gradient flow in the Fisher geometry)",
            required=False,
            omit_if_none=True,
        ),
    )


@dataclass(frozen=True)
class VerdictProof:
    method: ProofMethod = field(
        metadata=info(
            "sgn (small-gain margin), euclidean (gamma > 0, M = I), weighted (alpha_true(w) > 0), "
            "lmi (the tight section's metric search) (checked: each at most once, in this order)"
        )
    )
    holds: bool = field(metadata=info("the proof holds (checked)"))
    provenance: Provenance = field(
        metadata=info("exact (proved on R) or sampled (on the samples only) (checked against the constants)")
    )
    steps: VerdictSteps = field(metadata=info("the largest step proved per update rule (empty when it fails)"))
    reason: str | None = field(
        default=None, metadata=info("why it does not hold (informational)", required=False, null="it holds")
    )
    rate: float | None = field(
        default=None,
        metadata=info(
            "the proved flow contraction rate in the proof's metric (re-checked)",
            required=False,
            null="no rate proved",
        ),
    )
    weights: list[float] | None = field(
        default=None,
        metadata=info(
            "the scalar metric w (w_1 = 1) of the rate and of the formula steps (re-checked with them)",
            required=False,
            null="none (block metric, or no rate)",
        ),
    )
    beta: float | None = field(
        default=None,
        metadata=info(
            "beta(w) = sup ||M^1/2 J M^-1/2||_2 in the proof's metric, used by its steps (re-checked)",
            required=False,
            null="not used (lmi) or not computed (the proof fails)",
        ),
    )


@dataclass(frozen=True)
class VerdictBest:
    proof: ProofMethod = field(
        metadata=info("the holding proof with the largest proved rate (checked; ties: the first listed)")
    )
    rate: float | None = field(metadata=info("its proved flow rate (checked)", null="no holding proof proves a rate"))
    weights: list[float] | None = field(
        metadata=info("the scalar metric of that rate (checked)", null="a block metric or none")
    )
    steps: VerdictSteps = field(
        metadata=info("per update rule, the largest step of any holding proof, with its proof and metric (checked)")
    )


@dataclass(frozen=True)
class VerdictInfo:
    proofs: list[VerdictProof] = field(metadata=info("every proof tried, in the order sgn, euclidean, weighted, lmi"))
    best: VerdictBest | None = field(
        metadata=info("the strongest statement proved (checked)", null="no proof holds: not certified")
    )
    update_rules: list[UpdateRule] = field(
        metadata=info("the update rules certified: euler and rk4, or npg and rk4 (Fisher geometry) (checked)")
    )


@dataclass(frozen=True)
class ToolProvenance:
    tool_version: str = field(metadata=info("the sgncert version that wrote the certificate (informational)"))
    x64: bool = field(metadata=info("computed in float64 (informational)"))
    versions: dict[str, str] | None = field(
        default=None,
        metadata=info("versions of the numerical libraries (informational)", required=False, omit_if_none=True),
    )
    created: str | None = field(
        default=None,
        metadata=info(
            "creation time, ISO 8601 (informational; the only field that varies between identical runs)",
            required=False,
            omit_if_none=True,
        ),
    )


@dataclass(frozen=True)
class Certificate:
    """The whole certificate document."""

    schema_version: Literal["1"] = field(
        metadata=info("the certificate format version (checked: verify reads version 1)")
    )
    kind: Literal["sgncert.certificate"] = field(metadata=info("what this document is (checked)"))
    certified: bool = field(
        metadata=info("the game is certified: some proof of the verdict holds (checked against every proof)")
    )
    game: GameInfo = field(metadata=info("the game certified"))
    region: RegionInfo = field(metadata=info("the region R all constants hold on"))
    constants: ConstantsInfo = field(metadata=info("curvature, coupling and Lipschitz constants on R"))
    euclidean: EuclideanInfo = field(metadata=info("the classical Euclidean test, for comparison"))
    metric: MetricInfo = field(metadata=info("the certified metric M(w)"))
    sgn: SgnInfo = field(metadata=info("the small-gain (SGN) analysis"))
    rate: float = field(
        metadata=info("the SGN contraction rate of the flow in M(w) (= sgn.margin; checked); verdict.best has the best")
    )
    steps: StepsInfo = field(metadata=info("the SGN step sizes, proved from alpha = sgn.margin and beta (checked)"))
    band: list[BandPair] = field(metadata=info("timescale band: for each pair (i, j) the interval of w_j/w_i"))
    provenance: ToolProvenance = field(metadata=info("how the certificate was made"))
    reason: str | None = field(
        default=None, metadata=info("why the game is not certified (informational)", required=False, null="certified")
    )
    notes: list[str] | None = field(
        default=None, metadata=info("remarks of the certifier (informational)", required=False, omit_if_none=True)
    )
    geometry: GeometryInfo | None = field(
        default=None, metadata=info("the geometry of the constants", required=False, omit_if_none=True)
    )
    band_alpha: float | None = field(
        default=None,
        metadata=info(
            "the margin alpha the band is for, default 0 (checked: the band is checked at it)",
            required=False,
            omit_if_none=True,
        ),
    )
    band_note: str | None = field(
        default=None,
        metadata=info(
            "why the band lists fewer pairs than there are (skipped, only the interacting pairs, a failed search) "
            "(informational: a pair not listed claims nothing)",
            required=False,
            omit_if_none=True,
        ),
    )
    equilibrium: EquilibriumInfo | None = field(
        default=None,
        metadata=info(
            "the centre as an approximate equilibrium, and the proved distance to the true one",
            required=False,
            omit_if_none=True,
        ),
    )
    invariant_ball: InvariantBall | None = field(
        default=None, metadata=info("a forward-invariant M(w)-ball inside R", required=False, null="none claimed")
    )
    tight: TightInfo | None = field(
        default=None,
        metadata=info(
            "the largest proved steps over a metric family, with the metric and the true limits",
            required=False,
            null="not computed",
        ),
    )
    verdict: VerdictInfo | None = field(
        default=None,
        metadata=info(
            "every proof tried and the strongest statement proved (certified iff one holds)",
            required=False,
            omit_if_none=True,
        ),
    )


# ------------------------------------------------------------------------------ the document
def to_document(section: Any) -> Any:
    """The JSON value of a section (dataclass), list or plain value: fields marked
    ``omit_if_none`` whose value is None are left out; everything else is kept as it is."""
    if dataclasses.is_dataclass(section) and not isinstance(section, type):
        out = {}
        for f in dataclasses.fields(section):
            value = getattr(section, f.name)
            if value is None and f.metadata.get("omit_if_none"):
                continue
            out[f.name] = to_document(value)
        return out
    if isinstance(section, (list, tuple)):
        return [to_document(v) for v in section]
    return section


# ----------------------------------------------------------------------- type introspection
_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _split_optional(tp: Any) -> tuple[Any, bool]:
    """(the type without None, whether None is allowed)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(tp))
        return (args[0] if len(args) == 1 else typing.Union[tuple(args)]), nullable  # noqa: UP007
    return tp, False


# --------------------------------------------------------------------------------- schema
def _number_schema(meta: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    if meta.get("minimum") is not None:
        base["minimum"] = meta["minimum"]
    if meta.get("exclusive_minimum") is not None:
        base["exclusiveMinimum"] = meta["exclusive_minimum"]
    return base


def _type_schema(tp: Any, meta: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _object_schema(tp)
    if tp is Any:
        return {}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return _number_schema(meta, {"type": "integer"})
    if tp is float:
        return _number_schema(meta, {"type": "number"})
    if tp is str:
        out: dict[str, Any] = {"type": "string"}
        if meta.get("pattern"):
            out["pattern"] = meta["pattern"]
        return out
    if origin is Literal:
        values = list(typing.get_args(tp))
        return {"const": values[0]} if len(values) == 1 else {"enum": values}
    if origin is list:
        (item,) = typing.get_args(tp)
        out = {"type": "array", "items": _type_schema(item, meta)}
        if meta.get("min_items") is not None:
            out["minItems"] = meta["min_items"]
        return out
    if origin is dict:
        _, value = typing.get_args(tp)
        return (
            {"type": "object"} if value is Any else {"type": "object", "additionalProperties": _type_schema(value, {})}
        )
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_type_schema(a, meta) for a in typing.get_args(tp)]}
    raise AssertionError(f"no schema for the type {tp!r}")  # a declaration error in this module


def _field_schema(tp: Any, meta: dict[str, Any]) -> dict[str, Any]:
    inner, nullable = _split_optional(tp)
    out = _type_schema(inner, meta)
    if nullable:
        out = (
            {"anyOf": [out, {"type": "null"}]}
            if ("type" not in out or "anyOf" in out)
            else dict(out, type=[out["type"], "null"])
        )
    description = meta.get("description", "")
    if nullable and meta.get("null"):
        description += f" (null: {meta['null']})"
    if description:
        out = dict(out, description=description)
    return out


def _object_schema(cls: type) -> dict[str, Any]:
    props, required = {}, []
    for f in dataclasses.fields(cls):
        props[f.name] = _field_schema(_hints(cls)[f.name], dict(f.metadata))
        if f.metadata.get("required", True):
            required.append(f.name)
    out: dict[str, Any] = {"type": "object", "properties": props, "required": sorted(required)}
    if cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "("):
        out["description"] = " ".join(cls.__doc__.split())
    return out


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the certificate, derived from the dataclasses."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://sgncert.invalid/schema/certificate-1.json",
        "title": "sgncert certificate",
        **_object_schema(Certificate),
    }


# ----------------------------------------------------------------------------- validation
def _type_name(v: Any) -> str:
    return (
        "null"
        if v is None
        else {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "object"}.get(
            type(v), type(v).__name__
        )
    )


def show(v: Any) -> str:
    """A short rendering of a JSON value for error messages."""
    import json

    text = json.dumps(v) if isinstance(v, (str, int, float, bool)) or v is None else _type_name(v)
    return text if len(text) <= 60 else text[:57] + "..."


class _Validator:
    """Walks a parsed document along the model's types; the first problem is a SpecError
    ``"{label}: {path}: {what}"``."""

    def __init__(self, label: str) -> None:
        self.label = label

    def error(self, path: str, what: str) -> SpecError:
        return SpecError(f"{self.label}: {path}: {what}" if path else f"{self.label}: {what}")

    def number(self, value: Any, path: str, meta: dict[str, Any], integer: bool) -> None:
        kind = "an integer" if integer else "a number"
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok:
            bound = f" >= {meta['minimum']}" if integer and meta.get("minimum") is not None else ""
            nullable = " or null" if meta.get("_nullable") else ""
            raise self.error(path, f"expected {kind}{bound}{nullable}, got {show(value)}")
        try:
            f = float(value)
        except OverflowError:
            raise self.error(path, "number out of the float range") from None
        if not math.isfinite(f):
            raise self.error(path, "expected a finite number")
        if meta.get("exclusive_minimum") is not None and not f > meta["exclusive_minimum"]:
            raise self.error(path, f"expected a positive number, got {show(value)}")
        if meta.get("minimum") is not None and f < meta["minimum"]:
            what = "a non-negative number" if meta["minimum"] == 0 else f"{kind} >= {meta['minimum']}"
            raise self.error(path, f"expected {what}, got {show(value)}")

    def value(self, value: Any, tp: Any, path: str, meta: dict[str, Any]) -> None:
        inner, nullable = _split_optional(tp)
        if value is None:
            if nullable:
                return
            what = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(inner, "a value")
            raise self.error(path, f"expected {what}, got null")
        meta = dict(meta, _nullable=nullable)
        origin = typing.get_origin(inner)
        if isinstance(inner, type) and dataclasses.is_dataclass(inner):
            self.section(value, inner, path)
        elif inner is Any:
            return
        elif inner is bool:
            if not isinstance(value, bool):
                raise self.error(path, f"expected a boolean, got {show(value)}")
        elif inner in (int, float):
            self.number(value, path, meta, integer=inner is int)
        elif inner is str:
            if not isinstance(value, str):
                raise self.error(path, f"expected a string, got {show(value)}")
            if meta.get("pattern") and not re.fullmatch(meta["pattern"], value):
                raise self.error(path, f"expected {meta.get('pattern_hint') or 'a match of ' + meta['pattern']}")
        elif origin is Literal:
            allowed = typing.get_args(inner)
            if value not in allowed or isinstance(value, bool):
                names = " or ".join(f'"{a}"' for a in allowed)
                raise self.error(path, f"expected {names}, got {show(value)}")
        elif origin is list:
            (item,) = typing.get_args(inner)
            if not isinstance(value, list):
                what = "a list of numbers" if item is float else "a list"
                raise self.error(path, f"expected {what}, got {show(value)}")
            if meta.get("min_items") and len(value) < meta["min_items"]:
                raise self.error(path, f"expected at least {meta['min_items']} entries")
            for k, v in enumerate(value):
                self.value(v, item, f"{path}[{k}]", {k2: meta[k2] for k2 in ("minimum",) if k2 in meta})
        elif origin is dict:
            if not isinstance(value, dict):
                raise self.error(path, f"expected an object, got {show(value)}")
            _, vtype = typing.get_args(inner)
            for k, v in value.items():
                self.value(v, vtype, f"{path}.{k}", {})
        elif origin in (typing.Union, types.UnionType):
            for option in typing.get_args(inner):
                try:
                    self.value(value, option, path, meta)
                    return
                except SpecError:
                    continue
            raise self.error(path, f"unexpected value {show(value)}")
        else:  # pragma: no cover - a declaration error in this module
            raise AssertionError(f"cannot validate the type {inner!r}")

    def section(self, value: Any, cls: type, path: str) -> None:
        if not isinstance(value, dict):
            raise self.error(path, f"expected an object, got {_type_name(value)}")
        hints = _hints(cls)
        for f in dataclasses.fields(cls):
            where = f"{path}.{f.name}" if path else f.name
            if f.name not in value:
                if f.metadata.get("required", True):
                    raise self.error(where, "missing")
                continue
            self.value(value[f.name], hints[f.name], where, dict(f.metadata))


def _check_dimensions(doc: dict[str, Any], v: _Validator) -> None:
    """Lengths that depend on the number of players N and the dimension d."""
    players = doc["game"]["players"]
    if len(players) > MAX_PLAYERS:
        raise v.error("game.players", f"{len(players)} players; verify supports at most {MAX_PLAYERS}")
    n, d = len(players), sum(p["dim"] for p in players)

    def length(path: str, value: list[Any], expected: int, what: str = "entries") -> None:
        if len(value) != expected:
            raise v.error(path, f"expected {expected} {what}, got {len(value)}")

    length("region.center", doc["region"]["center"], d)
    length("constants.mu", doc["constants"]["mu"], n)
    L = doc["constants"]["L"]
    if len(L) != n:
        raise v.error("constants.L", f"expected an {n} x {n} list of lists")
    for i, row in enumerate(L):
        length(f"constants.L[{i}]", row, n)
    length("metric.weights", doc["metric"]["weights"], n)
    if doc["band"] and n > MAX_BAND_PLAYERS:
        raise v.error("band", f"{n} players; verify checks the bands of at most {MAX_BAND_PLAYERS} players")
    for k, b in enumerate(doc["band"]):
        if not b["i"] < b["j"] < n:
            raise v.error(f"band[{k}]", f"expected player indices 0 <= i < j < {n}, got i = {b['i']}, j = {b['j']}")
        for key, vec in (b.get("proof") or {}).items():
            length(f"band[{k}].proof.{key}", vec, n)
    tight = doc.get("tight")
    if isinstance(tight, dict):
        dims = [p["dim"] for p in players]
        fisher = isinstance(doc.get("geometry"), dict) and doc["geometry"].get("kind") == "fisher"
        for key in ("euler", "rk4", "rate"):
            entry = tight.get(key)
            if not isinstance(entry, dict):
                continue
            weights, blocks = entry.get("weights"), entry.get("blocks")
            if (weights is None) == (blocks is None):
                raise v.error(f"tight.{key}", "expected the metric as exactly one of weights or blocks")
            if weights is not None:
                length(f"tight.{key}.weights", weights, n)
                continue
            assert blocks is not None
            length(f"tight.{key}.blocks", blocks, n, "blocks")
            for i, block in enumerate(blocks):
                size = len(block) if fisher else dims[i]
                where = f"tight.{key}.blocks[{i}]"
                if len(block) != size or any(len(row) != size for row in block):
                    raise v.error(where, f"expected a {size} x {size} block")


def validate_document(doc: Any, label: str = "<certificate>") -> dict[str, Any]:
    """Check that ``doc`` has every required field of the model with its declared type,
    bounds and lengths; returns it, or raises a one-line SpecError naming the path."""
    v = _Validator(label)
    if not isinstance(doc, dict):
        raise v.error("", f"expected a JSON object at the top level, got {_type_name(doc)}")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise v.error("schema_version", f'unknown schema version {show(version)} (this sgncert reads "1")')
    if doc.get("kind") != KIND:
        raise v.error("kind", f'expected "{KIND}", got {show(doc.get("kind"))}')
    v.section(doc, Certificate, "")
    _check_dimensions(doc, v)
    return doc


def declared_paths(cls: type = Certificate, prefix: str = "") -> set[str]:
    """Every field path the model declares (list items as ``[]``; free objects end there)."""
    out = set()
    for f in dataclasses.fields(cls):
        path = f"{prefix}.{f.name}" if prefix else f.name
        out.add(path)
        tp, _ = _split_optional(_hints(cls)[f.name])
        while typing.get_origin(tp) is list:
            (tp,) = typing.get_args(tp)
            tp, _ = _split_optional(tp)
            path += "[]"
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            out |= declared_paths(tp, path)
    return out
