"""The verdict: every proof tried, and the strongest statement proved (docs/theory.md §12).

A game is certified when *any* of four proofs holds; each is a statement about the same
dynamics (one common step h, the weights never enter the update) in its own metric:

* ``sgn``: the small-gain margin ``alpha_*(w) > 0`` with the Perron (or the spec's)
  weights; steps ``h < 2 alpha/beta(w)^2`` (Euler) and ``h < c4 alpha/beta(w)^2`` (RK4).
* ``euclidean``: ``gamma = inf_R lambda_min(sym J) > 0`` (``M = I``, Rosen's test); the same
  step formulas with ``alpha = gamma`` and ``beta(1) = sup_R ||J||_2``.
* ``weighted``: ``alpha_true(w) = inf_R lambda_min(M^{-1/2} sym(M J) M^{-1/2}) > 0`` for the
  best of the weights tried (the SGN weights, and for affine games the weights of the tight
  rate search); the same step formulas with ``alpha = alpha_true(w)``, ``beta = beta(w)``.
  Since ``alpha_true(w) >= alpha_*(w)``, it never proves less than ``sgn`` in the same metric.
* ``lmi``: the tight section (:mod:`sgncert.analysis.tight`): the largest Euler and RK4 steps
  proved in a searched metric, each in its own metric, and (affine games) the largest flow
  rate. Its steps are proved *at* h (Euler also at every smaller step: ``h -> ||I - hJ||_M``
  is convex and equals 1 at 0), the formula steps for every ``0 < h < max``.

The Fisher geometry (Markov and normal-form games) certifies natural policy gradient: its
update rules are ``npg`` (the Euler step of the natural-gradient field) and ``rk4`` (on the
natural-gradient flow). Nothing here is computed: :func:`sgncert.analysis.certify.certify`
hands over the numbers, this module assembles and ranks them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..theory.steps import sgn_steps
from .tight import TightSteps

PROOFS = ("sgn", "euclidean", "weighted", "lmi")


def update_rules(geometry: str, constrained: bool = False) -> tuple[str, ...]:
    """The certified update rules: ``("euler", "rk4")``, ``("npg", "rk4")`` in the Fisher
    geometry, ``("euler",)`` (projected Euler) for a constrained game (docs/theory.md §13)."""
    if constrained:
        return ("euler",)
    return ("npg", "rk4") if geometry == "fisher" else ("euler", "rk4")


@dataclass(frozen=True)
class ProvedStep:
    """One proved step size of one update rule.

    ``h``: the step; ``attained``: False for an open bound (every ``0 < h' < h`` contracts),
    True when ``h`` itself is proved (the metric-search steps); ``factor``: the proved
    per-step contraction factor at ``h`` (attained steps; None for open bounds);
    ``weights``: the scalar metric ``w`` (``w_1 = 1``) it holds in, None for a block metric
    (given in the tight section)."""

    h: float
    attained: bool
    factor: float | None
    weights: tuple[float, ...] | None


@dataclass(frozen=True)
class Proof:
    """One proof tried: whether it holds, why not, and what it proves.

    ``rate``: the proved flow contraction rate in the proof's metric (None: none proved);
    ``weights``: the scalar metric of the rate (None: identity for ``euclidean`` is written
    as ones; None when no rate metric); ``beta``: the Lipschitz constant in that metric the
    formula steps use (None for ``lmi``); ``steps``: update rule -> :class:`ProvedStep`
    (empty when the proof does not hold)."""

    method: str
    holds: bool
    reason: str | None
    rate: float | None
    weights: tuple[float, ...] | None
    beta: float | None
    provenance: str
    steps: dict[str, ProvedStep] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """Every proof tried, in the order of PROOFS."""

    proofs: tuple[Proof, ...]

    @property
    def certified(self) -> bool:
        """True iff some proof holds."""
        return any(p.holds for p in self.proofs)

    def proof(self, method: str) -> Proof | None:
        return next((p for p in self.proofs if p.method == method), None)

    @property
    def best(self) -> Proof | None:
        """The holding proof with the largest proved rate (ties: the first in PROOFS); a
        holding proof without a rate only when no holding proof has one."""
        holding = [p for p in self.proofs if p.holds]
        if not holding:
            return None
        return max(holding, key=lambda p: -math.inf if p.rate is None else p.rate)

    def best_steps(self) -> dict[str, tuple[str, ProvedStep]]:
        """Per update rule, the largest proved step over the holding proofs and the proof it comes from."""
        out: dict[str, tuple[str, ProvedStep]] = {}
        for p in self.proofs:
            if not p.holds:
                continue
            for rule, s in p.steps.items():
                if s.h > 0 and (rule not in out or s.h > out[rule][1].h):
                    out[rule] = (p.method, s)
        return out

    @property
    def reason(self) -> str | None:
        """Why nothing is certified: each proof's reason (None when certified)."""
        if self.certified:
            return None
        return "; ".join(f"{p.method}: {p.reason}" for p in self.proofs)


def _weights(w: Sequence[float] | np.ndarray | None) -> tuple[float, ...] | None:
    return None if w is None else tuple(float(v) for v in w)


def formula_proof(
    method: str,
    rate: float,
    beta: float,
    weights: Sequence[float],
    provenance: str,
    geometry: str,
    reason: str | None,
    constrained: bool = False,
) -> Proof:
    """A proof from a rate ``alpha`` (strong monotonicity in ``M(w)``) and ``beta(w)``: holds
    iff ``alpha > 0`` and beta is finite; steps ``2 alpha/beta^2`` and ``c4 alpha/beta^2``.
    ``reason``: why not, when ``alpha <= 0`` (a non-finite beta gives its own reason)."""
    w = _weights(weights)
    if not (rate > 0):
        return Proof(method, False, reason, None, w, None, provenance)
    steps = sgn_steps(rate, beta)
    if steps is None:
        return Proof(method, False, f"beta = {beta!r} is not finite", None, w, None, provenance)
    rules = update_rules(geometry, constrained)
    maxima = {"euler": steps.euler_max, "npg": steps.euler_max, "rk4": steps.rk4_max}
    return Proof(
        method,
        True,
        None,
        float(rate),
        w,
        float(beta),
        provenance,
        {rule: ProvedStep(maxima[rule], False, None, w) for rule in rules},
    )


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def not_tried(method: str, reason: str, provenance: str) -> Proof:
    """A proof that was not attempted (reason says why): it does not hold."""
    return Proof(method, False, reason, None, None, None, provenance)


def lmi_proof(tight: TightSteps, geometry: str, constrained: bool = False) -> Proof:
    """The tight section as a proof: holds iff a step or a positive flow rate was proved."""
    rules = update_rules(geometry, constrained)
    steps: dict[str, ProvedStep] = {}
    for rule, r in zip(rules, (tight.euler, tight.rk4)):
        if r is not None and r.certified:
            steps[rule] = ProvedStep(float(r.h), True, float(r.factor), _weights(r.weights))
    rate = tight.rate.alpha if tight.rate is not None and tight.rate.alpha > 0 else None
    rate_w = _weights(tight.rate.weights) if rate is not None and tight.rate is not None else None
    holds = bool(steps) or rate is not None
    reason = None if holds else f"no step or flow rate proved in the {tight.family} metric family"
    return Proof("lmi", holds, reason, rate, rate_w, None, tight.euler.provenance, steps if holds else {})
