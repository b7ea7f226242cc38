"""The certification pipeline: game -> constants -> weights -> margin -> steps (docs/theory.md).

``certify(game)`` returns a :class:`Certification` holding every number of the
certificate; :mod:`sgncert.cert.build` turns it into the JSON document. Nothing here
prints or writes files.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import NumericalError, SpecError
from ..games.model import Game, Region
from ..theory import proved
from ..theory.exact import certified_margin
from ..theory.proved import PROOF_MAX_DIM
from ..theory.smallgain import PerronWeights, perron_weights, sgn_margin, small_gain_radius
from ..theory.sound_bounds import Key, block_keys, weighted_keys
from ..theory.steps import SgnSteps, sgn_steps
from ..theory.thresholds import ExactThresholds, exact_thresholds
from ..util.jaxenv import float64
from .bands import band_pairs, interacting_pairs
from .cluster import LocalRunner, Runner
from .constants import (
    SAMPLE_RUNNER,
    Constants,
    WeightedConstants,
    compiling_ahead,
    exact_constants,
    keeping_jacobians,
    lipschitz_constant,
    sampled_constants,
    value_and_jacobian,
    weight_scaling,
    weighted_constants,
)
from .equilibrium import Equilibrium, natural_residual_allowance, residual_allowance, solve_equilibrium
from .matrix_free import MATRIX_FREE, MatrixFree, options_for
from .sampling import sample_count, sample_game_region
from .sound import SoundBudget, SoundReport, SoundSearch, game_budget, point_values, report_of
from .tight import TightSteps, tight_rate, tight_step, tight_step_sampled
from .verdict import Proof, Verdict, formula_proof, lmi_proof, not_tried

Progress = Callable[[str, int, int], None]

# more players than this: no timescale bands (two SDPs per interacting pair), with a note
BAND_MAX_PLAYERS = 24


@dataclass
class Certification:
    """Everything ``sgncert certify`` computes for one game."""

    game: Game
    center: np.ndarray
    constants: Constants
    weights: np.ndarray
    weights_source: str  # "perron" | "spec"
    perron: PerronWeights
    margin_float: float  # alpha_*(w) in floating point
    margin: float  # proved by exact rational arithmetic: C(w, margin) >= 0
    gain: float | None
    weighted: WeightedConstants
    steps: SgnSteps | None
    thresholds: ExactThresholds | None
    band: list[dict]
    band_note: str | None
    equilibrium: Equilibrium | None
    residual_M: float  # an upper bound of ||F(center)||_M in the metric of equilibrium_proof (rounding allowed for)
    certified: bool  # some proof of the verdict holds
    reason: str | None
    notes: list[str] = field(default_factory=list)
    tight: TightSteps | None = None
    verdict: Verdict | None = None
    # the proof whose rate and scalar metric bound the distance to the equilibrium (None: none holds)
    equilibrium_proof: str | None = None
    equilibrium_weights: np.ndarray | None = None  # the metric of residual_M (the SGN weights when none holds)
    # constrained games: residual_M is ||c - P_X(c - h F(c))||_M at this h (None: ||F(c)||_M)
    residual_step: float | None = None
    sound: SoundReport | None = None  # provenance sound: what the branch and bound proved
    matrix_free: MatrixFree | None = None  # the constants came from the matrix-free path with these options

    @property
    def sgn_certified(self) -> bool:
        """The small-gain proof holds: alpha_*(w) > 0 with a finite beta(w)."""
        return self.steps is not None

    @property
    def provenance(self) -> str:
        return self.constants.provenance


def _reason(mu, margin: float, gain: float | None, names) -> str:
    bad = [f"mu_{names[i]} = {m:.6g}" for i, m in enumerate(mu) if m <= 0]
    if bad:
        return "a player's own curvature is not positive (" + ", ".join(bad) + "), so no weights can work"
    g = f"; small-gain radius rho(diag(mu)^-1 L) = {gain:.6g} >= 1" if gain is not None else ""
    return f"SGN margin alpha_*(w) = {margin:.6g} <= 0{g}"


MATRIX_FREE_MAX_SAMPLES = 4096  # matrix-free: each sample costs several Lanczos runs
MAX_DIM = 4096  # beyond: dense d x d eigen problems take minutes; needs force=True
MAX_WORK = 2e10  # samples x d^2 (floats of Jacobians computed); needs force=True


def check_limits(game: Game, force: bool = False, matrix_free: bool | None = None) -> None:
    """Refuse sizes beyond a sane limit (a likely typo) unless ``force``: SpecError (exit 2).
    The matrix-free path (``matrix_free``, or automatic above its dimension) forms no d x d
    matrix, so only its sample count is limited."""
    if force:
        return
    if options_for(game, matrix_free) is not None:
        n = sample_count(game.region, game.sampling, game.dim)
        if n > MATRIX_FREE_MAX_SAMPLES:
            raise SpecError(
                f"{game.source}: {n} samples on the matrix-free path (several Lanczos runs each) exceed the sane "
                f"limit {MATRIX_FREE_MAX_SAMPLES}; use fewer samples or pass --force"
            )
        return
    d = game.dim
    if d > MAX_DIM:
        raise SpecError(f"{game.source}: dimension {d} exceeds the sane limit {MAX_DIM}; pass --force to run anyway")
    if not game.affine:
        n = sample_count(game.region, game.sampling, d)
        if n * d * d > MAX_WORK:
            raise SpecError(
                f"{game.source}: {n} samples x dimension {d}^2 = {n * d * d:.3g} Jacobian entries "
                f"exceed the sane limit {MAX_WORK:.0e}; use fewer samples or pass --force"
            )


TIGHT_MAX_DIM = 256  # metric searches beyond this dimension are skipped
TIGHT_MAX_SAMPLES = 2048  # sampled games: every sample's map is re-checked exactly (about 1 ms each)


def _tight(
    game: Game, jacobian: np.ndarray | None, jacobians: np.ndarray | None, family: str
) -> tuple[TightSteps | None, str | None]:
    """Largest proved steps (and flow rate) over a metric family (:mod:`sgncert.analysis.tight`),
    or None and why they were skipped."""
    sizes = game.metric_block_sizes
    if game.geometry != "euclidean":
        return None, "tight steps are not computed in the Fisher geometry (the metric moves with theta)"
    if sum(sizes) > TIGHT_MAX_DIM:
        return None, f"tight steps skipped: dimension {sum(sizes)} > {TIGHT_MAX_DIM}"
    constrained = game.constrained  # projected Euler only, in the projection-safe scalar family
    if constrained and family != "scalar":
        return None, "tight steps skipped: the block metric family is for unconstrained games only"
    if jacobian is not None:
        return TightSteps(
            family,
            tight_step(jacobian, sizes, method="euler", family=family),
            None if constrained else tight_step(jacobian, sizes, method="rk4", family=family),
            tight_rate(jacobian, sizes, family=family),
        ), None
    if jacobians is not None and len(jacobians) > TIGHT_MAX_SAMPLES + 1:  # the centre is extra
        return None, (
            f"tight steps skipped: {len(jacobians) - 1} samples > {TIGHT_MAX_SAMPLES} "
            "(each sample's step map is re-checked exactly); certify with fewer --samples for them"
        )
    if jacobians is not None:
        return TightSteps(
            family,
            tight_step_sampled(jacobians, sizes, method="euler", family=family),
            None if constrained else tight_step_sampled(jacobians, sizes, method="rk4", family=family),
            None,
        ), None
    return None, "tight steps skipped: the sampled Jacobians do not fit in memory"


def _choose_weights(game: Game, mu: np.ndarray, L: np.ndarray) -> tuple[np.ndarray, str, PerronWeights]:
    """The spec's weights (normalised, w_1 = 1), else the Perron weights of (mu, L)."""
    perron = perron_weights(mu, L)
    if game.fixed_weights is not None:
        weights = np.asarray(game.fixed_weights, dtype=np.float64)
        return weights / weights[0], "spec", perron
    return perron.weights, "perron", perron


def block_bounds(search: SoundSearch, n: int, with_gamma: bool = True) -> tuple:
    """(mu, L[, gamma]) over R from a sound search (NumericalError when one is unbounded)."""
    b = dict(zip(search.keys, search.region_bounds()))
    mu = np.array([b[Key("mu", i)] for i in range(n)])
    L = np.array([[0.0 if i == j else b[Key("L", i, j)] for j in range(n)] for i in range(n)])
    gamma = b.get(Key("gamma"), 0.0)
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(L)) and math.isfinite(gamma)):
        raise NumericalError(
            "sound bounds: the Jacobian's enclosure is unbounded on part of the region within the budget "
            "(a division by an interval holding 0, a logarithm near 0, an overflow; or F itself may be "
            "undefined there (NaN), or jump where a comparison in it is not decided); raise --budget, "
            "shrink the region, or use --bounds sampled"
        )
    return (mu, L, gamma) if with_gamma else (mu, L)


def _sound(
    game: Game,
    region: Region,
    sampled: Constants,
    points: np.ndarray,
    budget: SoundBudget,
    progress: Callable[[int, int], None] | None,
) -> tuple[SoundReport, Constants, WeightedConstants, float | None]:
    """Sound constants by branch and bound (docs/theory.md §14): mu, L, gamma first; then
    beta and alpha_true in the metric they choose (and beta(1) when gamma > 0), on the same
    partition. Returns the report, the constants (provenance sound), the weighted
    constants of the final weights and beta(1) (None when gamma <= 0)."""
    n = game.n_players
    search = SoundSearch.start(game, region, budget, point_values(game))
    estimate: dict[Key, float] = {Key("gamma"): float(sampled.gamma)}
    for i in range(n):
        estimate[Key("mu", i)] = float(sampled.mu[i])
        for j in range(n):
            if i != j:
                estimate[Key("L", i, j)] = float(sampled.L[i, j])
    # 1. mu and L (they choose the metric), within half the budget
    keys = [k for k in block_keys(n) if k.kind != "gamma"]
    search.add_keys(keys, np.array([estimate[k] for k in keys]))
    search.refine(progress, share=0.5)

    def weighted_at(weights: np.ndarray, with_ones: bool) -> None:
        wk = [Key("gamma")] + weighted_keys(weights.tolist())
        if with_ones:
            wk += [Key("beta", w=tuple([1.0] * n))]
        wk = [k for k in wk if k not in search.keys]
        values = []
        for key in wk:
            if key not in estimate:
                assert key.w is not None
                wc = weighted_constants(game, list(key.w), points=points)
                estimate[Key("beta", w=key.w)] = wc.beta
                estimate[Key("alpha", w=key.w)] = wc.alpha_true
            values.append(estimate[key])
        search.add_keys(wk, np.array(values))

    # 2. gamma, and beta, alpha_true in that metric (beta(1) too when gamma may be positive)
    weights = _choose_weights(game, *block_bounds(search, n, with_gamma=False))[0]
    weighted_at(weights, sampled.gamma > 0)
    search.refine(progress)
    # 3. mu and L only improve as boxes split: if the metric they choose moved, its beta and
    # alpha_true too, within what is left of the budget
    final = _choose_weights(game, *block_bounds(search, n, with_gamma=False))[0]
    if not np.array_equal(final, weights):
        weights = final
        weighted_at(weights, sampled.gamma > 0)
        search.refine(progress)
    mu, L, gamma = block_bounds(search, n)
    if gamma > 0 and Key("beta", w=tuple([1.0] * n)) not in search.keys:
        weighted_at(weights, True)
    report = report_of(search, estimate)
    w = tuple(float(v) for v in weights)
    constants = Constants(
        mu=mu,
        L=L,
        gamma=gamma,
        provenance="sound",
        samples=sampled.samples,
        worst=sampled.worst,
        center_value=sampled.center_value,
        jacobians=sampled.jacobians,
    )
    weighted = WeightedConstants(beta=report.value(Key("beta", w=w)), alpha_true=report.value(Key("alpha", w=w)))
    beta1 = report.value(Key("beta", w=tuple([1.0] * n))) if gamma > 0 else None
    return report, constants, weighted, beta1


def _bands(
    mu: np.ndarray, L: np.ndarray, interior: np.ndarray | None, progress: Callable[[int, int], None] | None
) -> tuple[list[dict], str | None]:
    """The timescale band at alpha = 0 and a note on what it leaves out (docs/theory.md §5):
    N > 2: the interacting pairs only, none past BAND_MAX_PLAYERS; a failed search never
    stops the certification, it is a note."""
    n = mu.size
    if n > BAND_MAX_PLAYERS:
        return [], f"bands skipped: {n} players (more than {BAND_MAX_PLAYERS})"
    pairs = interacting_pairs(L) if n > 2 else None
    try:
        band = band_pairs(
            mu.tolist(),
            L.tolist(),
            0.0,
            interior_weights=None if interior is None else interior.tolist(),
            pairs=pairs,
            progress=progress,
        )
    except NumericalError as exc:
        return [], f"band unknown: {exc}"
    said = []
    if pairs is not None and len(pairs) < n * (n - 1) // 2:
        said.append(f"bands of the {len(pairs)} interacting pairs (L_ij or L_ji > 0) only")
    got = {(b["i"], b["j"]) for b in band}
    if pairs is not None and (band or interior is not None) and (lost := [p for p in pairs if p not in got]):
        said.append(f"pairs {lost}: the search proved nothing beyond one point")
    if unsettled := [(b["i"], b["j"]) for b in band if not b.get("settled", True)]:
        said.append(f"pairs {unsettled}: ends proved, but the search did not settle them (see band[].search)")
    return band, "; ".join(said) or None


def _verdict(
    game: Game,
    constants: Constants,
    weights: np.ndarray,
    margin: float,
    sgn_reason: str,
    weighted: WeightedConstants,
    tight: TightSteps | None,
    tight_note: str | None,
    points: np.ndarray | None,
    jac: np.ndarray | None,
    beta_ones: Callable[[], float] | None = None,
) -> Verdict:
    """Every proof of docs/theory.md §12, from the numbers computed (and, for the Euclidean
    and weighted proofs, beta in their metrics: one more pass over the samples each, only
    when the proof's rate is positive)."""
    geo, prov, con = game.geometry, constants.provenance, game.constrained
    ones = np.ones(game.n_players)
    sgn = formula_proof("sgn", margin, weighted.beta, weights.tolist(), prov, geo, sgn_reason, con)
    gamma = constants.gamma
    frame = "the unweighted Fisher metric (w = 1)" if geo == "fisher" else "the Euclidean norm"
    if gamma > 0:
        if np.array_equal(weights, ones):
            beta1 = weighted.beta
        elif beta_ones is not None:
            beta1 = beta_ones()
        else:
            beta1 = lipschitz_constant(game, ones, points=points, J=jac)
    else:
        beta1 = math.nan
    euclid = formula_proof(
        "euclidean",
        gamma,
        beta1,
        ones.tolist(),
        prov,
        geo,
        f"gamma = {gamma:.6g} <= 0: F is not strongly monotone in {frame}",
        con,
    )
    # weighted: the best alpha_true(w) over the weights tried
    cands = [(weighted.alpha_true, weighted.beta, weights)]
    tried = "the SGN weights"
    if tight is not None and tight.rate is not None and tight.rate.weights is not None and jac is not None:
        wr = np.asarray(tight.rate.weights, dtype=np.float64)
        tried += " and the rate search's"
        if not np.array_equal(wr, weights) and tight.rate.alpha > weighted.alpha_true:
            wc = weighted_constants(game, wr, J=jac)
            cands.append((wc.alpha_true, wc.beta, wr))
    a, b, w = max(cands, key=lambda t: t[0])
    weighted_proof = formula_proof(
        "weighted", a, b, w.tolist(), prov, geo, f"alpha_true(w) = {a:.6g} <= 0 for {tried}", con
    )
    lmi = lmi_proof(tight, geo, con) if tight is not None else not_tried("lmi", tight_note or "not computed", prov)
    return Verdict((sgn, euclid, weighted_proof, lmi))


def _equilibrium_proof(verdict: Verdict, exact_residual: bool) -> Proof | None:
    """The holding proof with the largest rate in a scalar metric: the a-posteriori distance
    to the equilibrium and the invariant ball use its rate and metric (docs/theory.md §10).
    The residual's rounding allowance needs beta in that metric, unless it is exact."""
    usable = [
        p
        for p in verdict.proofs
        if p.holds and p.rate is not None and p.weights is not None and (p.beta is not None or exact_residual)
    ]
    return max(usable, key=lambda p: -math.inf if p.rate is None else p.rate, default=None)


@float64
def certify(
    game: Game,
    *,
    progress: Progress | None = None,
    tight: bool = True,
    metric: str = "scalar",
    bands: bool = True,
    bounds: str | None = None,
    budget: SoundBudget | None = None,
    runner: Runner | None = None,
    matrix_free: bool | MatrixFree | None = None,
) -> Certification:
    """Certify ``game``: constants, weights, the proved margin, step sizes and bands.

    Args:
        game: a game from :func:`sgncert.load_game` or :func:`sgncert.game_from_dict`.
        progress: called as ``progress(stage, done, total)`` during long stages.
        tight: also search the largest proved Euler / RK4 steps over the metric family
            ``metric`` (``"scalar"``: ``w_i I``, projection-safe; ``"block"``: a full block
            per player, unconstrained games only).
        bands: compute the timescale band (N > 2: two SDPs per interacting pair, none past
            BAND_MAX_PLAYERS players; a search that fails is a note, never an error).
        bounds: ``"sampled"`` (extrema over the samples: estimates) or ``"sound"`` (bounds
            proved over all of R by interval branch and bound, docs/theory.md §14); None:
            the spec's ``bounds`` (default sampled). Affine games are exact either way.
        budget: tolerance and budget of the sound branch and bound (default SoundBudget()).
        runner: a cluster runner (:mod:`sgncert.analysis.cluster`) for the sample batches;
            the numbers are the same as in this process.
        matrix_free: True (default options) or a :class:`~sgncert.analysis.matrix_free.MatrixFree`:
            constants by Lanczos on Jacobian-vector products, no Jacobian formed; False:
            never; None: automatically for sampled games above MATRIX_FREE_DIM dimensions.

    Returns:
        A :class:`Certification`; ``certified`` says whether the margin is positive.

    Raises:
        SpecError: bad input. NumericalError: a numerical step failed (a non-finite
            Jacobian, an equilibrium solve that does not converge, a solver failure).

    Example:
        >>> result = certify(load_game("games/scalar.yaml"))  # doctest: +SKIP
        >>> result.certified, result.margin  # doctest: +SKIP
        (True, 0.2928932188134...)

    References:
        docs/theory.md (the maths of every number).
    """
    if not isinstance(game, Game):
        raise SpecError(
            f"certify needs a Game (from sgncert.load_game or sgncert.game_from_dict), got {type(game).__name__}"
        )
    mf = options_for(game, matrix_free)
    affine_note = bool(matrix_free) and game.affine  # exact constants need no Lanczos
    if mf is not None and (bounds or game.bounds) == "sound":
        raise SpecError("matrix-free constants are sampled estimates; they do not combine with --bounds sound")
    if mf is not None and game.region.center is None and game.dim > MAX_DIM:
        raise SpecError(
            f"region.center: equilibrium is solved by Newton steps with the full Jacobian, too large at d = {game.dim}; "
            "give the centre explicitly (solve it by gradient play, for example)"
        )
    token = SAMPLE_RUNNER.set(None if runner is None or isinstance(runner, LocalRunner) else runner)
    mf_token = MATRIX_FREE.set(mf)
    try:
        with keeping_jacobians():  # every pass over the samples reuses one set of Jacobians
            c = _certify(
                game, progress, tight and mf is None, metric, bands, bounds, budget, no_tight=_no_tight(tight, mf)
            )
    finally:
        MATRIX_FREE.reset(mf_token)
        SAMPLE_RUNNER.reset(token)
    if affine_note:
        c.notes.append("the game is affine: its constants are exact, so the matrix-free path is not used")
    if mf is not None:
        c.matrix_free = mf
        c.notes.append(
            f"matrix-free constants (no Jacobian formed): Lanczos from {mf.starts} random starts (seed {mf.seed}), "
            f"{mf.steps} steps; each value moved to the safe side by its residual and a probabilistic allowance "
            f"(wrong side with probability <= {mf.failure_probability:.3g})"
            + ("; tight steps are not computed on this path" if tight else "")
        )
    return c


def _no_tight(tight: bool, mf: MatrixFree | None) -> str:
    """Why a certification has no tight steps (the LMI proof's reason)."""
    if tight and mf is not None:
        return "tight steps are not computed on the matrix-free path"
    return "tight steps not computed (tight=False, --no-tight)"


def _certify(
    game: Game,
    progress: Progress | None,
    tight: bool,
    metric: str,
    bands: bool,
    bounds: str | None,
    budget: SoundBudget | None,
    no_tight: str,
) -> Certification:
    """The certification itself (:func:`certify`); ``no_tight`` says why, when ``tight`` is False."""
    notes: list[str] = []
    equilibrium = None
    center = game.region.center
    if center is None:
        equilibrium = solve_equilibrium(game)
        center = equilibrium.x
    region = game.region.with_center(center)

    def stage(name):
        return (lambda done, total: progress(name, done, total)) if progress else None

    if game.affine:
        F_center, J_center = value_and_jacobian(game, center)
        points, jac = None, J_center
        constants = exact_constants(game, J_center)
        if constants.provenance != "exact":
            notes.append(
                f"the constants are floating-point eigenvalues of the constant Jacobian (estimates): "
                f"d = {game.dim} is above {PROOF_MAX_DIM}, the largest dimension proved exactly"
            )
    else:  # the centre is the first sample point: F(centre) comes with the constants
        with compiling_ahead(game, center):
            points, jac = sample_game_region(region, game.sampling, game.sets), None
        constants = sampled_constants(game, points, progress=stage("constants"), keep_jacobians=tight)
        if constants.center_value is None or not np.all(np.isfinite(constants.center_value)):
            raise NumericalError(f"F is not finite at the centre {np.array2string(center, threshold=8)}")
        F_center = constants.center_value
    method = bounds if bounds is not None else game.bounds
    if method not in ("sampled", "sound"):
        raise SpecError(f"bounds: expected 'sampled' or 'sound', got {method!r}")
    sound: SoundReport | None = None
    beta_ones: float | None = None
    if method == "sound" and game.affine:
        notes.append(
            "the game is affine: its constants are exact (proved from its constant Jacobian), so --bounds sound adds nothing"
        )
    elif method == "sound":
        assert points is not None
        sound, constants, weighted_sound, beta_ones = _sound(
            game, region, constants, points, budget or game_budget(game), stage("sound bounds")
        )
        if not sound.complete:
            notes.append(
                f"sound bounds: the budget ran out at a relative gap of {sound.reached:.3g} "
                f"(target {sound.budget.tolerance:g}); the bounds are proved, but looser than asked"
            )
    mu, L = constants.mu, constants.L
    weights, source, perron = _choose_weights(game, mu, L)
    if source == "perron" and not perron.attained and perron.tau > 0:
        notes.append(
            f"A is reducible: tau(A) is not attained; the weights reach {perron.margin / perron.tau:.6f} of it"
        )
    margin_float = sgn_margin(mu, L, weights)
    margin = certified_margin(mu.tolist(), L.tolist(), weights.tolist(), margin_float)
    gain = small_gain_radius(mu, L)
    if sound is not None:
        weighted = weighted_sound
    else:
        weighted = weighted_constants(game, weights, points=points, J=jac, progress=stage("metric"))
    certified_sgn = bool(margin > 0 and math.isfinite(weighted.beta))
    steps = sgn_steps(margin, weighted.beta) if certified_sgn else None
    thresholds: ExactThresholds | None = None
    if game.affine:
        thresholds = exact_thresholds(J_center, weight_scaling(game, weights))
    band, band_note = (
        _bands(mu, L, weights if certified_sgn else None, stage("bands"))
        if bands
        else ([], "bands not computed (bands=False, --no-bands)")
    )
    tight_results, tight_note = (
        _tight(game, J_center if game.affine else None, constants.jacobians, metric) if tight else (None, no_tight)
    )
    if tight and tight_note is not None:
        notes.append(tight_note)
    sgn_reason = _reason(mu, margin_float, gain, [pl.name for pl in game.players])
    verdict = _verdict(
        game,
        constants,
        weights,
        margin,
        sgn_reason,
        weighted,
        tight_results,
        tight_note,
        points,
        jac,
        None if beta_ones is None else (lambda: float(beta_ones)),
    )
    exact_residual = game.affine and game.transform is None and constants.provenance == "exact"
    eq_proof = _equilibrium_proof(verdict, exact_residual and not game.constrained)
    eq_weights = weights if eq_proof is None else np.asarray(eq_proof.weights, dtype=np.float64)
    eq_beta = weighted.beta if eq_proof is None or eq_proof.beta is None else eq_proof.beta
    if game.transform is not None:  # residual in the metric space: E^T F (Fisher-normalised)
        F_center = game.transform(center).T @ F_center
    residual_step = None
    if game.constrained:
        # the natural map at the proof's best Euler step h = alpha/beta^2 (docs/theory.md §13):
        # ||c - x*||_M <= ||c - P_X(c - h F(c))||_M / (1 - q(h)), q(h)^2 = 1 - 2 h alpha + h^2 beta^2
        assert game.sets is not None
        if eq_proof is not None and eq_proof.rate is not None and eq_proof.beta is not None:
            residual_step = eq_proof.rate / eq_proof.beta**2
        else:  # nothing certified: the residual at h = 1/beta, for information
            residual_step = 1.0 / eq_beta if math.isfinite(eq_beta) and eq_beta > 0 else 1.0
        s = weight_scaling(game, eq_weights)
        residual_M = float(np.linalg.norm(s * game.sets.natural_map(center, residual_step * F_center)))
        residual_M += natural_residual_allowance(s, eq_beta, residual_step, center, F_center, residual_M)
    elif exact_residual:
        # F(c) = J c + F(0) exactly, from the rational J the constants are proved from
        F0, _ = value_and_jacobian(game, np.zeros_like(center))
        residual_M = proved.sqrt_upper(
            proved.affine_residual_squared(J_center, F0, center, game.metric_block_sizes, eq_weights.tolist())
        )
    else:
        s = weight_scaling(game, eq_weights)
        residual_M = float(np.linalg.norm(s * F_center))
        residual_M += residual_allowance(s, eq_beta, center, residual_M)  # an upper bound (rounding)
    return Certification(
        game=game,
        center=center,
        constants=constants,
        weights=weights,
        weights_source=source,
        perron=perron,
        margin_float=margin_float,
        margin=margin,
        gain=gain,
        weighted=weighted,
        steps=steps,
        thresholds=thresholds,
        band=band,
        band_note=band_note,
        equilibrium=equilibrium,
        residual_M=residual_M,
        certified=verdict.certified,
        reason=verdict.reason,
        notes=notes,
        tight=tight_results,
        verdict=verdict,
        equilibrium_proof=None if eq_proof is None else eq_proof.method,
        equilibrium_weights=eq_weights,
        residual_step=residual_step,
        sound=sound,
    )
