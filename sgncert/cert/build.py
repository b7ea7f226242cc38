"""From a :class:`~sgncert.analysis.certify.Certification` to the certificate document.

The sections are those of :mod:`sgncert.cert.model`; the document is JSON with sorted
keys, UTF-8, two-space indent (:func:`dumps`). Non-finite numbers never appear: an
unbounded value (an open band end, an unbounded step limit) is written as ``null``.
Everything but ``provenance.created`` is a function of the spec, the seed and the library
versions, so repeated runs give byte-identical files apart from that line.
"""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..analysis.certify import Certification
from ..analysis.tight import TightRate as TightRateResult
from ..analysis.tight import TightResult
from ..analysis.verdict import ProvedStep, update_rules
from ..errors import SpecError
from ..games.model import Game
from ..theory.exact import euler_factor_squared, rounded, sqrt_upper
from ..theory.sound_bounds import Key
from ..theory.steps import C4
from ..util.atomic import write_atomic
from ..util.jaxenv import jax_scope
from ..util.jsondoc import dumps_document, finite_or_none, jsonable
from ..util.version import __version__
from . import model as m


def _versions() -> dict[str, str]:
    import jax
    import scipy

    return {"jax": jax.__version__, "numpy": np.__version__, "scipy": scipy.__version__}


def _provenance(c: Certification) -> m.Provenance:
    return cast(m.Provenance, c.provenance)


def _sound(c: Certification) -> m.SoundInfo | None:
    """The branch and bound behind sound constants (docs/theory.md §14)."""
    r = c.sound
    if r is None:
        return None
    n = c.game.n_players
    w = tuple(float(v) for v in c.weights)

    def values(what: str) -> m.SoundSampled:
        def get(key: Key) -> float:
            return r.value(key, what)

        return m.SoundSampled(
            mu=[get(Key("mu", i)) for i in range(n)],
            L=[[0.0 if i == j else get(Key("L", i, j)) for j in range(n)] for i in range(n)],
            gamma=get(Key("gamma")),
            beta=get(Key("beta", w=w)),
            alpha_true=get(Key("alpha", w=w)),
        )

    bound, sampled = values("bound"), values("sampled")

    def gap(b: float, s: float) -> float:
        return abs(b - s) / max(abs(s), 1e-300)

    gaps = m.SoundGaps(
        mu=[gap(b, s) for b, s in zip(bound.mu, sampled.mu)],
        L=[[gap(b, s) for b, s in zip(rb, rs)] for rb, rs in zip(bound.L, sampled.L)],
        gamma=gap(bound.gamma, sampled.gamma),
        beta=gap(bound.beta, sampled.beta),
        alpha_true=gap(bound.alpha_true, sampled.alpha_true),
    )
    return m.SoundInfo(
        partition=r.tree,
        tolerance=r.budget.tolerance,
        reached=r.reached,
        complete=r.complete,
        stopped=r.stopped,
        boxes=r.boxes,
        leaves=r.leaves,
        budget_boxes=r.budget.boxes,
        budget_seconds=r.budget.seconds,
        sampled=sampled,
        gaps=gaps,
    )


def _steps(c: Certification) -> m.StepsInfo:
    prov = _provenance(c)
    if c.steps is not None:
        s = c.steps
        euler = m.EulerSteps(max=s.euler_max, best=s.euler_best, factor=s.euler_factor)
        rk4 = m.Rk4Steps(max=s.rk4_max, best=s.rk4_best, factor=s.rk4_factor, c4=C4)
        guideline: float | None = s.rk4_spectral_guideline
    else:
        euler = m.EulerSteps(max=0.0, best=0.0, factor=1.0)
        rk4 = m.Rk4Steps(max=0.0, best=0.0, factor=1.0, c4=C4)
        guideline = None
    if c.game.constrained:  # RK4 is unconstrained only: no step claimed (docs/theory.md §13)
        rk4, guideline = m.Rk4Steps(max=0.0, c4=C4), None
    npg = None
    if c.game.geometry == "fisher":  # the Euler step in the Fisher geometry is natural policy gradient
        npg = m.NpgSteps(
            max=euler.max, best=euler.best, factor=euler.factor, update="theta_i <- theta_i - h G_i^+ grad_i f_i"
        )
    exact = None
    if c.thresholds is not None and not c.game.constrained:  # thresholds of the unprojected linear map
        t = c.thresholds
        exact = m.ExactStepThresholds(
            provenance="exact",
            euler=m.ThresholdPair(contraction=t.euler_contraction, stability=t.euler_stability),
            rk4=None
            if c.game.constrained
            else m.ThresholdPair(contraction=t.rk4_contraction, stability=t.rk4_stability),
        )
    return m.StepsInfo(provenance=prov, euler=euler, rk4=rk4, npg=npg, rk4_spectral_guideline=guideline, exact=exact)


def _equilibrium(c: Certification) -> tuple[m.EquilibriumInfo, m.InvariantBall | None]:
    """The a-posteriori distance to the equilibrium and the invariant ball (docs/theory.md §10),
    in the rate and metric of ``c.equilibrium_proof`` (the holding proof with the largest rate
    in a scalar metric)."""
    g = c.game
    weights = c.weights if c.equilibrium_weights is None else c.equilibrium_weights
    solved = c.equilibrium is not None
    method = c.equilibrium.method if c.equilibrium is not None else None
    residual = c.equilibrium.residual if c.equilibrium is not None else None
    distance = in_region = invariant = None
    proof = c.verdict.proof(c.equilibrium_proof) if c.verdict is not None and c.equilibrium_proof else None
    if proof is not None and proof.rate is not None and (c.residual_step is None or proof.beta is not None):
        radius_M = g.region.radius * math.sqrt(float(np.min(weights)))
        if c.residual_step is None:
            distance = rounded(Fraction(c.residual_M) / Fraction(proof.rate), up=True)
        else:  # ||c - x*||_M <= r / (1 - q(h)) (docs/theory.md §13), q(h) rounded up
            assert proof.beta is not None
            q = sqrt_upper(euler_factor_squared(c.residual_step, proof.rate, proof.beta))
            distance = rounded(Fraction(c.residual_M) / (1 - Fraction(q)), up=True) if q < 1 else None
        # the Fisher metric is degenerate along the softmax gauge and varies with theta:
        # no M-ball inside the logit box is claimed
        if g.geometry != "fisher" and distance is not None:
            fit = Fraction(g.region.radius) ** 2 * min(Fraction(float(w)) for w in weights)  # (R sqrt(min w))^2
            in_region = Fraction(distance) ** 2 <= fit
            if in_region:
                r = max(0.0, radius_M - distance)
                while r > 0 and (Fraction(r) + Fraction(distance)) ** 2 > fit:  # exactly inside
                    r = math.nextafter(r, 0.0)
                invariant = m.InvariantBall(radius_M=r)
    return (
        m.EquilibriumInfo(
            residual_M=c.residual_M,
            solved=solved,
            method=method,
            residual=residual,
            distance_bound_M=distance,
            in_region=in_region,
            natural_map_step=c.residual_step,
            proof=cast(m.ProofMethod, c.equilibrium_proof) if c.equilibrium_proof else None,
            weights=[float(w) for w in weights],
        ),
        invariant,
    )


def _verdict_step(s: ProvedStep, proof: str | None = None) -> m.VerdictStep:
    return m.VerdictStep(
        h=s.h,
        attained=s.attained,
        factor=s.factor,
        weights=None if s.weights is None else list(s.weights),
        proof=cast(m.ProofMethod, proof) if proof else None,
    )


def _verdict(c: Certification) -> m.VerdictInfo | None:
    """Every proof tried and the best statement (docs/theory.md §12)."""
    v = c.verdict
    if v is None:
        return None
    proofs = [
        m.VerdictProof(
            method=cast(m.ProofMethod, p.method),
            holds=p.holds,
            provenance=cast(m.Provenance, p.provenance),
            steps=m.VerdictSteps(**{rule: _verdict_step(s) for rule, s in p.steps.items()}),
            reason=p.reason,
            rate=p.rate,
            weights=None if p.weights is None else list(p.weights),
            beta=p.beta,
        )
        for p in v.proofs
    ]
    best = v.best
    best_info = None
    if best is not None:
        best_info = m.VerdictBest(
            proof=cast(m.ProofMethod, best.method),
            rate=best.rate,
            weights=None if best.weights is None else list(best.weights),
            steps=m.VerdictSteps(**{rule: _verdict_step(s, name) for rule, (name, s) in v.best_steps().items()}),
        )
    return m.VerdictInfo(
        proofs=proofs,
        best=best_info,
        update_rules=cast(list[m.UpdateRule], list(update_rules(c.game.geometry, c.game.constrained))),
    )


def _metric_fields(r: TightResult | TightRateResult) -> dict[str, Any]:
    """The metric of a tight result as the certificate writes it: weights (scalar family) or blocks."""
    if r.weights is not None:
        return {"weights": [float(v) for v in r.weights], "blocks": None}
    return {"weights": None, "blocks": [np.asarray(b, dtype=float).tolist() for b in r.metric]}


def _tight_entry(r: TightResult) -> m.TightStep:
    return m.TightStep(
        h=float(r.h),
        factor=float(r.factor),
        family=cast(m.Family, r.family),
        method=cast(m.Method, r.method),
        true_limit=finite_or_none(r.true_limit),
        ratio=finite_or_none(r.ratio),
        checks=int(r.checks),
        provenance=cast(m.TightProvenance, r.provenance),
        search=cast(m.Search, r.search),
        **_metric_fields(r),
    )


def _tight_rate(r: TightRateResult) -> m.TightRate:
    return m.TightRate(
        alpha=finite_or_none(r.alpha),
        family=cast(m.Family, r.family),
        true_bound=finite_or_none(r.true_bound),
        ratio=finite_or_none(r.ratio),
        checks=int(r.checks),
        provenance="exact",
        search=cast(m.Search, r.search),
        **_metric_fields(r),
    )


def _tight(c: Certification) -> m.TightInfo | None:
    """Largest proved steps over the metric family, with their metrics and ratios to the truth."""
    t = c.tight
    if t is None:
        return None
    ratio = None
    if c.steps is not None:
        limits = {"euler": t.euler.true_limit, "rk4": t.rk4.true_limit if t.rk4 is not None else None}
        sgn_max = {"euler": c.steps.euler_max, "rk4": c.steps.rk4_max}
        ratio = m.SgnRatio(
            **{
                k: sgn_max[k] / v if v and math.isfinite(v) and not (k == "rk4" and t.rk4 is None) else None
                for k, v in limits.items()
            }
        )
    return m.TightInfo(
        metric_family=cast(m.Family, t.family),
        provenance=cast(m.TightProvenance, t.euler.provenance),
        euler=_tight_entry(t.euler),
        rk4=_tight_entry(t.rk4) if t.rk4 is not None else None,
        rate=_tight_rate(t.rate) if t.rate is not None else None,
        sgn_ratio=ratio,
    )


def _geometry(g: Game) -> m.GeometryInfo:
    if g.geometry == "euclidean":
        return m.GeometryInfo(kind="euclidean")
    return m.GeometryInfo(
        kind="fisher",
        reduced_dims=list(g.metric_block_sizes),
        normalisation="K = E^T J E, E = blockdiag_i blockdiag_s(U G~_{i,s}^{-1/2}); "
        "softmax gauge (per-state all-ones direction) quotiented out",
        beta="Lipschitz constant of the natural-gradient field, Jacobian G^+ J (exact at the equilibrium)",
    )


def certificate_model(c: Certification, *, created: str | None = None, source: str | None = None) -> m.Certificate:
    """The :class:`~sgncert.cert.model.Certificate` of a certification (see :func:`build_certificate`)."""
    g = c.game
    prov = _provenance(c)
    k = c.constants
    equilibrium, invariant = _equilibrium(c)
    with jax_scope() as jax:
        x64 = bool(jax.config.jax_enable_x64)
    return m.Certificate(
        schema_version=m.SCHEMA_VERSION,
        kind=m.KIND,
        certified=c.certified,
        reason=c.reason,
        notes=list(c.notes),
        game=m.GameInfo(
            name=g.name,
            sha256=g.sha256,
            players=[m.Player(name=p.name, dim=p.dim) for p in g.players],
            affine=g.affine,
            overrides=dict(g.overrides) or None,
            spec=g.canonical,
            source=source,
        ),
        region=m.RegionInfo(
            center=c.center.tolist(),
            radius=g.region.radius,
            norm="2" if g.region.norm == "2" else "inf",
            center_spec=g.region.center_spec,
        ),
        constants=m.ConstantsInfo(
            mu=k.mu.tolist(),
            L=k.L.tolist(),
            beta=c.weighted.beta,
            provenance=prov,
            samples=k.samples,
            seed=None if g.affine else g.sampling.seed,
            sampler="jacobian" if g.affine else g.sampling.method,
            sound=_sound(c),
            matrix_free=None if c.matrix_free is None else m.MatrixFreeInfo(**c.matrix_free.record()),
        ),
        euclidean=m.EuclideanInfo(margin=k.gamma, certified=bool(k.gamma > 0), provenance=prov),
        metric=m.MetricInfo(
            weights=c.weights.tolist(),
            kind="scalar",
            source=c.weights_source,
            M="blockdiag(w_i I_{d_i})" if g.geometry == "euclidean" else "blockdiag(w_i G_i(theta))",
        ),
        geometry=_geometry(g),
        sgn=m.SgnInfo(
            margin=c.margin,
            margin_float=c.margin_float,
            margin_check="exact rational LDL^T of C(w, margin)",
            tau=c.perron.tau,
            gain=c.gain,
            alpha_true=c.weighted.alpha_true,
            provenance=prov,
            tau_attained=c.perron.attained,
        ),
        rate=c.margin,
        steps=_steps(c),
        band=[_band_pair(b) for b in c.band],
        band_alpha=0.0,
        band_note=c.band_note,
        equilibrium=equilibrium,
        invariant_ball=invariant,
        tight=_tight(c),
        verdict=_verdict(c),
        provenance=m.ToolProvenance(
            tool_version=__version__,
            x64=x64,
            versions=_versions(),
            created=created or datetime.now(UTC).replace(microsecond=0).isoformat(),
        ),
    )


def _band_pair(b: dict) -> m.BandPair:
    proof = b.get("proof")
    return m.BandPair(
        i=b["i"],
        j=b["j"],
        low=b["low"],
        high=b["high"],
        proof=None if proof is None else m.BandProof(**proof),
        search=b.get("search"),
    )


def build_certificate(c: Certification, *, created: str | None = None, source: str | None = None) -> dict[str, Any]:
    """The certificate document (plain JSON values) of a certification.

    Args:
        c: the result of :func:`sgncert.certify`.
        created: the creation time to record (default: now, UTC).
        source: the spec's path relative to the certificate's folder (``game.source``),
            which ``sgncert verify`` uses to check that the spec file still describes the game.
    """
    doc = jsonable(m.to_document(certificate_model(c, created=created, source=source)))
    assert isinstance(doc, dict)
    return doc


def spec_source(game: Game, certificate_path: str | Path) -> str | None:
    """The game's spec file relative to the certificate's folder (``game.source``), or None
    when the game did not come from a file."""
    spec = Path(game.source) if game.source else None
    if spec is None or not spec.is_file():
        return None
    return Path(os.path.relpath(spec.resolve(), Path(certificate_path).resolve().parent)).as_posix()


def write_certificate(c: Certification, path: str | Path, *, created: str | None = None) -> dict[str, Any]:
    """Build the certificate of ``c`` and write it to ``path`` atomically (an interrupted or
    failed write leaves any previous file intact); returns the document.

    Raises:
        SpecError: the file cannot be written (exit 2).

    Example:
        >>> write_certificate(certify(load_game("games/scalar.yaml")), "scalar.cert.json")  # doctest: +SKIP
    """
    doc = build_certificate(c, created=created, source=spec_source(c.game, path))
    try:
        write_atomic(path, dumps(doc))
    except OSError as exc:
        raise SpecError(f"{path}: cannot write the certificate: {exc.strerror or exc}") from None
    return doc


def dumps(doc: dict[str, Any]) -> str:
    """Canonical certificate text: sorted keys, indent 2, UTF-8, trailing newline."""
    return dumps_document(doc)
