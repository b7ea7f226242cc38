"""Phase 2 of ``sgncert verify``: recompute what the certificate states about its game
(docs/theory.md §11).

- Exact (affine) games: J is recomputed and every stated constant (mu, L, beta, gamma,
  alpha_true) is re-proved from its exact rational entries (:mod:`sgncert.theory.proved`);
  the residual and the exact step thresholds are compared (relative 1e-9, unsafe
  direction only).
- Sampled games: the certificate's own sample set is recomputed (the claim "extremum over
  these samples"), then ``resample`` fresh points (a new seed) are drawn and every point
  where a stated bound is beaten is reported with its coordinates. Fresh points beating a
  *sampled* estimate are warnings (a sampled constant is an estimate) unless ``strict``;
  for provenance ``sound`` they are failures.
- Tight steps: the stated metric must contract the step maps (exactly for affine games, on
  the certificate's samples for sampled ones); the stated flow rate is re-proved.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from ..analysis.constants import (
    exact_constants,
    float_constants,
    pointwise_statistics,
    value_and_jacobian,
    weight_scaling,
    weighted_constants,
)
from ..analysis.equilibrium import natural_residual_allowance, residual_allowance
from ..analysis.sampling import sample_game_region
from ..analysis.sound import prove_on_tree
from ..analysis.statistics import weighted_statistics
from ..errors import NumericalError, SpecError
from ..games.model import Game, Sampling
from ..theory import proved
from ..theory.contraction import (
    blockdiag,
    check_contraction,
    check_rate,
    limit_from_eigs,
    sampled_factor,
    spectral_step_limit,
)
from ..theory.smallgain import perron_weights, small_gain_radius
from ..theory.sound_bounds import Key
from .algebra import REL_TOL, rel_close
from .report import FAILED, WARNING, VerifyReport, number_text


def _unsafe(stated: float, true: float, direction: int, scale: float) -> bool:
    """True when ``stated`` is on the unsafe side of ``true`` by more than REL_TOL.

    direction -1: stated must not exceed true (mu, gamma); +1: must not be below (L, beta).
    """
    tol = REL_TOL * max(abs(true), abs(stated), 1e-6 * scale)
    return (stated > true + tol) if direction < 0 else (stated < true - tol)


REPORTED_TOL = 1e-6  # relative: a reported (not bounding) value recomputed by the same method
REPROOF_TOL = 1e-7  # relative to the largest stated sound bound: re-proved only this close is a warning
FLOAT_EVAL_TOL = 1e-9  # relative to the largest stated constant: how far a float Jacobian's statistic
# may fall outside an exact (sound) bound by XLA's own rounding (its tanh, log1p are ulps off, and
# 1 - tanh^2 cancels): a fresh point beats a sound bound only by more than this


def _point(x, k: int = 6) -> str:
    vals = ", ".join(f"{float(v):.6g}" for v in list(x)[:k])
    return f"x = [{vals}{', ...' if len(x) > k else ''}]"


class Recomputation:
    """Recompute the constants, thresholds, residual and tight steps of a certificate for
    its rebuilt game. After :meth:`run`, ``F_center`` holds F at the centre, ``J`` the
    constant Jacobian (affine games) and ``K`` the Jacobians at the certificate's samples
    (sampled games, when they fit in memory), for the simulation to reuse."""

    def __init__(
        self,
        doc: dict[str, Any],
        rep: VerifyReport,
        game: Game,
        *,
        resample: int | None,
        seed: int | None,
        strict: bool,
    ) -> None:
        self.doc, self.rep, self.game = doc, rep, game
        self.resample, self.seed, self.strict = resample, seed, strict
        self.names = [p["name"] for p in doc["game"]["players"]]
        self.F_center: np.ndarray | None = None
        self.J: np.ndarray | None = None
        self.K: np.ndarray | None = None
        self.points: np.ndarray | None = None  # the certificate's samples (sampled games)
        self.sample_stats: dict[str, Any] | None = None  # their statistics in the certificate's metric

    @property
    def exact(self) -> bool:
        """The game's Jacobian is constant (affine, Euclidean geometry)."""
        return self.game.affine and self.game.transform is None

    def evaluate_center(self) -> bool:
        """F and J at the centre (False, with an undecidable check, when not finite)."""
        center = np.asarray(self.doc["region"]["center"], dtype=np.float64)
        try:
            self.F_center, self.J = value_and_jacobian(self.game, center)
        except NumericalError as exc:
            self.rep.undecidable("constants", f"{exc}")
            return False
        return True

    def run(self) -> bool:
        """Every recomputed check (module docstring); False when F or J is not finite at the
        centre of an exact game (an undecidable check says so, nothing else can be compared)."""
        if not all(float(w) > 0 for w in self.doc["metric"]["weights"]):
            self.rep.undecidable(
                "recompute", "the weights are not all positive (metric.weights): nothing to recompute in M(w)"
            )
            return False
        if self.exact:
            if not self.evaluate_center():
                return False
            self._exact()
        else:  # F(centre) and the sample Jacobians come with the recomputed statistics
            self._sampled()
            if self.doc["constants"]["provenance"] == "sound" and isinstance(self.doc["constants"].get("sound"), dict):
                self._sound()
        if self.F_center is not None:
            self._residual()
        self._derived()
        self._tight()
        self._verdict()
        return True

    def _reported(self, name: str, stated: Any, true: float | None, what: str, tol: float = REPORTED_TOL) -> None:
        """A reported value (not a bound) must match its recomputation, both ways."""
        if stated is None and true is None:
            return
        if stated is None or true is None or not rel_close(float(stated), float(true), tol):
            self.rep.fail(name, f"{what} stated {number_text(stated)} but recomputed {number_text(true)}")
        else:
            self.rep.ok(name, f"{what} = {number_text(stated)} (recomputed)")

    def _derived(self) -> None:
        """tau(A) and the small-gain radius, recomputed from the stated mu and L."""
        k, sgn = self.doc["constants"], self.doc["sgn"]
        mu = np.asarray(k["mu"], dtype=np.float64)
        L = np.asarray(k["L"], dtype=np.float64)
        np.fill_diagonal(L, 0.0)
        self._reported("sgn.tau", sgn.get("tau"), float(perron_weights(mu, L).tau), "tau(A)")
        if "gain" in sgn:
            self._reported("sgn.gain", sgn.get("gain"), small_gain_radius(mu, L), "the small-gain radius")

    # -- shared comparison
    def _compare(self, mu, L, beta, gamma, what: str, alpha_true: float | None = None) -> None:
        doc, rep = self.doc, self.rep
        k = doc["constants"]
        n = len(self.names)
        scale = float(max(np.max(np.abs(mu)), np.max(L), 1e-300))
        bad_mu = bad_L = 0
        for i in range(n):
            if _unsafe(float(k["mu"][i]), float(mu[i]), -1, scale):
                bad_mu += 1
                rep.fail(
                    f"constants.mu[{i}]",
                    f"mu_{self.names[i]} stated {number_text(float(k['mu'][i]))} but {what} value is "
                    f"{number_text(float(mu[i]))}: the stated curvature is too large",
                )
        for i in range(n):
            for j in range(n):
                if i != j and _unsafe(float(k["L"][i][j]), float(L[i, j]), +1, scale):
                    bad_L += 1
                    rep.fail(
                        f"constants.L[{i}][{j}]",
                        f"L_{self.names[i]},{self.names[j]} stated {number_text(float(k['L'][i][j]))} "
                        f"but {what} value is {number_text(float(L[i, j]))}: the stated coupling is too small",
                    )
        if not bad_mu:
            rep.ok("constants.mu", f"every stated mu_i <= {what} value (relative {REL_TOL:g})")
        if not bad_L:
            rep.ok("constants.L", f"every stated L_ij >= {what} value (relative {REL_TOL:g})")
        if k["beta"] is not None and _unsafe(float(k["beta"]), float(beta), +1, max(scale, abs(beta))):
            rep.fail(
                "constants.beta",
                f"beta(w) stated {number_text(float(k['beta']))} but {what} value is {number_text(float(beta))}: too small",
            )
        else:
            rep.ok("constants.beta", f"beta(w) = {number_text(k['beta'])} >= {what} value {number_text(float(beta))}")
        eg = doc["euclidean"]["margin"]
        if _unsafe(float(eg), float(gamma), -1, scale):
            rep.fail(
                "euclidean.margin",
                f"stated gamma {number_text(float(eg))} but {what} value is {number_text(float(gamma))}: too large",
            )
        else:
            rep.ok("euclidean.margin", f"gamma = {number_text(float(eg))} <= {what} value {number_text(float(gamma))}")
        at = doc["sgn"].get("alpha_true")
        if alpha_true is not None and at is not None:
            if _unsafe(float(at), float(alpha_true), -1, scale):
                rep.fail(
                    "sgn.alpha_true",
                    f"alpha_true(w) stated {number_text(float(at))} but {what} value is {number_text(float(alpha_true))}: too large",
                )
            else:
                rep.ok(
                    "sgn.alpha_true",
                    f"alpha_true(w) = {number_text(float(at))} <= {what} value {number_text(float(alpha_true))}",
                )

    def _exact(self) -> None:
        doc = self.doc
        if doc["constants"]["provenance"] != "exact":
            self.rep.notes.append(
                "the game is affine but its constants are labelled "
                f"{doc['constants']['provenance']}; compared with the exact values"
            )
        assert self.J is not None  # evaluate_center ran
        if self.J.shape[0] <= proved.PROOF_MAX_DIM:  # whatever the label: the exact check is the strongest
            self._exact_claims()
        else:
            k = exact_constants(self.game, self.J)
            wc = weighted_constants(self.game, doc["metric"]["weights"], J=self.J)
            self._compare(np.asarray(k.mu), np.asarray(k.L), wc.beta, k.gamma, "the recomputed exact", wc.alpha_true)
        self._thresholds()

    def _exact_claims(self) -> None:
        """Every exact constant re-proved from the rebuilt J's rational entries
        (:mod:`sgncert.theory.proved`): the stated value itself must pass the exact check."""
        doc, rep, game = self.doc, self.rep, self.game
        J = np.asarray(self.J, dtype=np.float64)
        Jq = proved.rational_jacobian(J)
        sizes = game.metric_block_sizes
        k, w = doc["constants"], [float(v) for v in doc["metric"]["weights"]]
        mu_f, L_f, gamma_f = float_constants(game, J)
        beta_f, at_f = weighted_statistics(J[None], weight_scaling(game, w))
        n = len(self.names)

        def check(name: str, claim, stated, what: str, estimate: float) -> bool:
            verdict = proved.holds(claim, float(stated))
            side = "upper" if claim.upper else "lower"
            if verdict:
                return True
            if verdict is None:
                rep.undecidable(name, f"{what} = {number_text(stated)}: too large to decide exactly ({side} bound)")
            else:
                rep.fail(
                    name,
                    f"{what} stated {number_text(stated)} is not a proved {side} bound for the rebuilt Jacobian "
                    f"(exact check fails; floating-point value {number_text(estimate)})",
                )
            return False

        ok_mu = True
        for i in range(n):  # every player checked (no short-circuit): each failure is reported
            ok_mu &= check(
                f"constants.mu[{i}]", proved.own_curvature(J, Jq, sizes, i), k["mu"][i], f"mu_{self.names[i]}", mu_f[i]
            )
        if ok_mu:
            rep.ok("constants.mu", "every mu_i <= lambda_min(sym J_ii), proved exactly from the rebuilt J")
        ok_L = True
        for i in range(n):
            for j in range(n):
                claim = None if i == j else proved.coupling(J, Jq, sizes, i, j)
                if claim is None:
                    continue  # J_ij = 0: any L_ij >= 0 holds (negative ones fail the algebra)
                ok_L &= check(
                    f"constants.L[{i}][{j}]",
                    claim,
                    k["L"][i][j],
                    f"L_{self.names[i]},{self.names[j]}",
                    L_f[i, j],
                )
        if ok_L:
            rep.ok("constants.L", "every L_ij >= ||J_ij||_2, proved exactly from the rebuilt J")
        if k["beta"] is not None and check(
            "constants.beta", proved.weighted_lipschitz(J, Jq, sizes, w), k["beta"], "beta(w)", float(beta_f[0])
        ):
            rep.ok("constants.beta", f"beta(w) = {number_text(k['beta'])} >= ||M^1/2 J M^-1/2||_2, proved exactly")
        if check("euclidean.margin", proved.euclidean_margin(J, Jq), doc["euclidean"]["margin"], "gamma", gamma_f):
            rep.ok(
                "euclidean.margin",
                f"gamma = {number_text(doc['euclidean']['margin'])} <= lambda_min(sym J), proved exactly",
            )
        at = doc["sgn"].get("alpha_true")
        if at is not None and check(
            "sgn.alpha_true", proved.weighted_margin(J, Jq, sizes, w), at, "alpha_true(w)", float(at_f[0])
        ):
            rep.ok("sgn.alpha_true", f"alpha_true(w) = {number_text(at)} <= lambda_min(sym(M J), M), proved exactly")

    def _thresholds(self) -> None:
        """Each stated exact step threshold: the property holds on (0, h*(1 - 1e-6)]."""
        doc, rep = self.doc, self.rep
        ex = doc["steps"].get("exact")
        if not isinstance(ex, dict):
            return
        s = weight_scaling(self.game, doc["metric"]["weights"])
        H = np.asarray(self.J, dtype=np.float64)
        K = s[:, None] * H / s[None, :]
        eye = np.eye(K.shape[0])

        def poly(h, A, method):
            if method == "euler":
                return eye - h * A
            hA = h * A
            return eye - hA + hA @ hA / 2.0 - hA @ hA @ hA / 6.0 + hA @ hA @ hA @ hA / 24.0

        for method in ("euler", "rk4"):
            if ex.get(method) is None:  # a constrained game states no RK4 threshold
                continue
            for what in ("contraction", "stability"):
                hstar = ex[method][what]
                name = f"steps.exact.{method}.{what}"
                if hstar is None:  # claimed for every step: a step map grows without bound as h does
                    self._unbounded_threshold(name, method, what, poly, K, H)
                    continue
                if hstar == 0:
                    continue
                hs = [hstar * t for t in (0.05, 0.2, 0.4, 0.6, 0.8, 0.9, 0.99, 0.999, 1 - 1e-6)]
                worst = 0.0
                for h in hs:
                    if what == "contraction":
                        v = float(np.linalg.norm(poly(h, K, method), 2))
                    else:
                        v = float(np.max(np.abs(np.linalg.eigvals(poly(h, H, method)))))
                    worst = max(worst, v)
                    if not v < 1.0:
                        label = "||T(h)||_M" if what == "contraction" else "spectral radius of T(h)"
                        rep.fail(
                            name,
                            f"{label} = {number_text(v)} >= 1 at h = {number_text(h)} below the stated threshold {number_text(hstar)}",
                        )
                        break
                else:
                    rep.ok(
                        name,
                        f"holds on (0, {number_text(hstar)}) (max {number_text(worst)} < 1 on a grid up to h*(1 - 1e-6))",
                    )

    def _unbounded_threshold(self, name: str, method: str, what: str, poly: Any, K: np.ndarray, H: np.ndarray) -> None:
        """A threshold stated as unbounded (null): the property must hold at every step; check
        it at steps far beyond the spectral scale of H."""
        rho = float(np.max(np.abs(np.linalg.eigvals(H)))) or 1.0
        for h in (0.5 / rho, 2.0 / rho, 8.0 / rho, 1e3 / rho):
            A = K if what == "contraction" else H
            T = poly(h, A, method)
            v = float(np.linalg.norm(T, 2)) if what == "contraction" else float(np.max(np.abs(np.linalg.eigvals(T))))
            if not v < 1.0:
                self.rep.fail(
                    name,
                    f"stated unbounded (null), but at h = {number_text(h)} the "
                    f"{'norm' if what == 'contraction' else 'spectral radius'} of T(h) is {number_text(v)} >= 1",
                )
                return
        self.rep.ok(name, "unbounded: T(h) contracts at every step tried, up to 1000 / rho(H)")

    def _stats(self, points):
        """Per-point mu (n, N), L (n, N, N), gamma (n), beta (n), finite (n) with the jitted kernels."""
        return pointwise_statistics(self.game, points, self.doc["metric"]["weights"], keep_jacobians=True)

    def _sampled(self) -> None:
        doc, rep = self.doc, self.rep
        game = self.game
        region = game.region.with_center(np.asarray(doc["region"]["center"], dtype=np.float64))
        k = doc["constants"]
        # 1. the claim "extrema over the certificate's own samples" is reproducible exactly
        pts = sample_game_region(region, game.sampling, game.sets)
        if pts.shape[0] != k["samples"]:
            rep.fail(
                "constants.samples",
                f"the spec's sampling gives {pts.shape[0]} points, the certificate states {k['samples']}",
            )
        if k["seed"] is not None and k["seed"] != game.sampling.seed:
            rep.fail(
                "constants.seed",
                f"stated seed {k['seed']} but the embedded spec samples with seed {game.sampling.seed}",
            )
        st = self._stats(pts)
        self.sample_stats = st
        self.points = pts
        self.F_center, self.K = st["value0"], st.get("jacobians")
        if not st["finite"].all():
            bad = int(np.argmin(st["finite"]))
            rep.undecidable("constants", f"F or its Jacobian is not finite at sample {bad}: {_point(pts[bad])}")
            return
        self._compare(
            st["mu"].min(axis=0),
            st["L"].max(axis=0),
            float(st["beta"].max()),
            float(st["gamma"].min()),
            f"the recomputed ({pts.shape[0]} certificate samples)",
            float(st["alpha_true"].min()),
        )
        # 2. fresh samples (a new seed): report every point that beats a stated bound
        if not self.resample:
            return
        method = game.sampling.method if game.sampling.method in ("sobol", "random") else "random"
        seed = self.seed if self.seed is not None else game.sampling.seed + 1
        fresh = sample_game_region(region, Sampling(method, int(self.resample), int(seed)), game.sets)[1:]  # no centre
        st = self._stats(fresh)
        status = FAILED if (self.strict or k["provenance"] == "sound") else WARNING
        if not st["finite"].all():
            bad = int(np.argmin(st["finite"]))
            rep.undecidable("resample", f"F or its Jacobian is not finite at a fresh sample: {_point(fresh[bad])}")
            return
        found = 0
        n = len(self.names)
        mu_s = np.asarray(k["mu"], dtype=np.float64)
        L_s = np.asarray(k["L"], dtype=np.float64)
        stated = np.abs(np.concatenate([mu_s.reshape(-1), L_s.reshape(-1), [float(k["beta"] or 0.0)]]))
        slack = FLOAT_EVAL_TOL * float(np.max(stated[np.isfinite(stated)], initial=0.0))
        if k["provenance"] != "sound":
            slack = 0.0  # a sampled estimate: any point beyond it is reported (as a warning)

        def report(name, mask, values, stated, worst_idx, what):
            nonlocal found
            found += 1
            rep.add(
                name,
                status,
                f"{int(mask.sum())} of {fresh.shape[0]} fresh points (seed {seed}) beat the stated "
                f"{what} {number_text(float(stated))}; worst {number_text(float(values[worst_idx]))} at {_point(fresh[worst_idx])}",
            )

        for i in range(n):
            v = st["mu"][:, i]
            mask = v < mu_s[i] - slack
            if mask.any():
                report(f"resample.mu[{i}]", mask, v, mu_s[i], int(np.argmin(v)), f"mu_{self.names[i]}")
        for i in range(n):
            for j in range(n):
                if i == j:
                    continue
                v = st["L"][:, i, j]
                mask = v > L_s[i, j] + slack
                if mask.any():
                    report(
                        f"resample.L[{i}][{j}]",
                        mask,
                        v,
                        L_s[i, j],
                        int(np.argmax(v)),
                        f"L_{self.names[i]},{self.names[j]}",
                    )
        if k["beta"] is not None:
            v = st["beta"]
            mask = v > float(k["beta"]) + slack
            if mask.any():
                report("resample.beta", mask, v, k["beta"], int(np.argmax(v)), "beta(w)")
        if found:
            if status == WARNING:
                rep.notes.append(
                    "sampled constants are estimates: fresh points beating them are warnings; "
                    "use --strict to treat them as failed claims"
                )
        else:
            rep.ok("resample", f"no stated bound is beaten at {fresh.shape[0]} fresh {method} points (seed {seed})")

    # -- sound constants: every stated bound re-proved on the certificate's partition
    def _sound_claims(self) -> list[tuple[str, Key, float, str]]:
        """(field, key, stated value, name) of every bound resting on the sound constants."""
        doc, n = self.doc, len(self.names)
        k = doc["constants"]
        w = tuple(float(v) for v in doc["metric"]["weights"])
        out: list[tuple[str, Key, float, str]] = []
        for i in range(n):
            out.append((f"constants.mu[{i}]", Key("mu", i), float(k["mu"][i]), f"mu_{self.names[i]}"))
            for j in range(n):
                if i != j:
                    name = f"L_{self.names[i]},{self.names[j]}"
                    out.append((f"constants.L[{i}][{j}]", Key("L", i, j), float(k["L"][i][j]), name))
        out.append(("euclidean.margin", Key("gamma"), float(doc["euclidean"]["margin"]), "gamma"))
        if k["beta"] is not None:
            out.append(("constants.beta", Key("beta", w=w), float(k["beta"]), "beta(w)"))
        if doc["sgn"].get("alpha_true") is not None:
            out.append(("sgn.alpha_true", Key("alpha", w=w), float(doc["sgn"]["alpha_true"]), "alpha_true(w)"))
        for idx, p in enumerate((doc.get("verdict") or {}).get("proofs") or []):
            if not p["holds"] or p["method"] not in ("euclidean", "weighted") or p.get("weights") is None:
                continue
            pw = tuple(float(v) for v in p["weights"])
            if p.get("beta") is not None:
                out.append((f"verdict.proofs[{idx}].beta", Key("beta", w=pw), float(p["beta"]), "beta(w)"))
            if p["method"] == "weighted" and p.get("rate") is not None:
                out.append((f"verdict.proofs[{idx}].rate", Key("alpha", w=pw), float(p["rate"]), "alpha_true(w)"))
        return out

    def _sound(self) -> None:
        """Re-prove each sound bound on every box of the certificate's partition (interval
        enclosures of the rebuilt game's Jacobian, docs/theory.md §14), and compare the
        reported sampled estimates with the samples' recomputed extrema."""
        doc, rep = self.doc, self.rep
        sound = doc["constants"]["sound"]
        claims = self._sound_claims()
        region = self.game.region.with_center(np.asarray(doc["region"]["center"], dtype=np.float64))
        try:
            ok, enclosed = prove_on_tree(
                self.game, region, str(sound["partition"]), [c[1] for c in claims], [c[2] for c in claims]
            )
        except SpecError as exc:
            rep.fail("constants.sound.partition", str(exc))
            return
        leaves = str(sound["partition"]).split().count(".")
        near = self._sound_near(region, str(sound["partition"]), claims, ok)
        status = FAILED if self.strict else WARNING
        for (name, _key, stated, what), good, close in zip(claims, ok, near):
            if good:
                rep.ok(
                    name,
                    f"{what} = {number_text(stated)} proved on every box of the partition "
                    f"({leaves} leaves; {enclosed} boxes enclosed)",
                )
            elif close:
                rep.add(
                    name,
                    status,
                    f"{what} stated {number_text(stated)} is proved on every box of the partition only to "
                    f"within {REPROOF_TOL:g} of the largest stated bound",
                )
            else:
                rep.fail(name, f"{what} stated {number_text(stated)} is not proved on every box of the partition")
        if near.any() and status == WARNING:
            rep.notes.append(
                "a sound bound proved only to within a hair: this release encloses the Jacobian in arithmetic "
                "that differs in the last bits from the one that made the certificate; certify again to restate "
                "it, or use --strict to treat it as a failed claim"
            )
        self._sound_report(sound, leaves)
        if self.sample_stats is not None:
            st = self.sample_stats
            est = sound.get("sampled") or {}
            n = len(self.names)
            pairs = [(f"constants.sound.sampled.mu[{i}]", est["mu"][i], float(st["mu"][:, i].min())) for i in range(n)]
            pairs += [
                (
                    f"constants.sound.sampled.L[{i}][{j}]",
                    est["L"][i][j],
                    float(st["L"][:, i, j].max()) if i != j else 0.0,
                )
                for i in range(n)
                for j in range(n)
            ]
            pairs += [
                ("constants.sound.sampled.gamma", est["gamma"], float(st["gamma"].min())),
                ("constants.sound.sampled.beta", est["beta"], float(st["beta"].max())),
                ("constants.sound.sampled.alpha_true", est["alpha_true"], float(st["alpha_true"].min())),
            ]
            bad = [(f, s_, t) for f, s_, t in pairs if not rel_close(float(s_), t, REPORTED_TOL)]
            for f, s_, t in bad:
                rep.fail(f, f"sampled estimate stated {number_text(s_)} but recomputed {number_text(t)}")
            if not bad:
                rep.ok("constants.sound.sampled", "the sampled estimates match the recomputed samples")

    def _sound_near(
        self, region: Any, partition: str, claims: list[tuple[str, Key, float, str]], ok: np.ndarray
    ) -> np.ndarray:
        """Which claims not re-proved hold when moved outwards by REPROOF_TOL times the
        largest stated bound: proved by the certifying release's outward-rounded arithmetic,
        a bound a later release encloses a few ulps wider (or whose spectral bound's
        rounding moves) is then a warning, not a failure; a bound raised past that is not."""
        near = np.zeros(len(claims), dtype=bool)
        todo = [k for k, good in enumerate(ok) if not good and math.isfinite(claims[k][2])]
        if not todo:
            return near
        scale = max((abs(c[2]) for c in claims if math.isfinite(c[2])), default=0.0)
        moved = [claims[k][2] + (1 if claims[k][1].upper else -1) * REPROOF_TOL * scale for k in todo]
        held, _ = prove_on_tree(self.game, region, partition, [claims[k][1] for k in todo], moved)
        near[todo] = held
        return near

    def _sound_report(self, sound: dict[str, Any], leaves: int) -> None:
        """What the certificate says of the search agrees with itself: the leaves with the
        partition, the boxes enclosed with the leaves, ``complete`` with the tolerance
        reached, and every relative gap with the stated bound and sampled estimate."""
        rep, doc = self.rep, self.doc
        k = doc["constants"]
        if sound.get("leaves") != leaves:
            rep.fail("constants.sound.leaves", f"states {sound.get('leaves')} leaves, the partition has {leaves}")
        if not isinstance(sound.get("boxes"), int) or sound["boxes"] < leaves:
            rep.fail("constants.sound.boxes", f"{sound.get('boxes')} boxes enclosed cannot give {leaves} leaves")
        complete = float(sound["reached"]) <= float(sound["tolerance"])
        if bool(sound.get("complete")) != complete:
            rep.fail(
                "constants.sound.complete",
                f"states complete = {sound.get('complete')}, but the gap reached {number_text(sound['reached'])} "
                f"{'is' if complete else 'is not'} within the tolerance {number_text(sound['tolerance'])}",
            )
        est, gaps = sound.get("sampled") or {}, sound.get("gaps") or {}

        def gap(bound: Any, sampled: Any) -> float:
            return abs(float(bound) - float(sampled)) / max(abs(float(sampled)), 1e-300)

        n = len(self.names)
        pairs = [(f"mu[{i}]", gaps["mu"][i], gap(k["mu"][i], est["mu"][i])) for i in range(n)]
        pairs += [
            (f"L[{i}][{j}]", gaps["L"][i][j], gap(k["L"][i][j], est["L"][i][j]) if i != j else 0.0)
            for i in range(n)
            for j in range(n)
        ]
        pairs += [("gamma", gaps["gamma"], gap(doc["euclidean"]["margin"], est["gamma"]))]
        if k["beta"] is not None:
            pairs += [("beta", gaps["beta"], gap(k["beta"], est["beta"]))]
        if doc["sgn"].get("alpha_true") is not None:
            pairs += [("alpha_true", gaps["alpha_true"], gap(doc["sgn"]["alpha_true"], est["alpha_true"]))]
        bad = [(f, g, t) for f, g, t in pairs if not rel_close(float(g), t, REPORTED_TOL) and abs(float(g) - t) > 1e-15]
        for f, g, t in bad:
            rep.fail(
                f"constants.sound.gaps.{f}",
                f"states {number_text(g)}, the stated bound and estimate give {number_text(t)}",
            )
        if not bad:
            rep.ok("constants.sound.gaps", "every relative gap follows from the stated bound and sampled estimate")

    def _residual(self) -> None:
        doc, rep = self.doc, self.rep
        eq: dict[str, Any] = doc["equilibrium"] if isinstance(doc.get("equilibrium"), dict) else {}
        stated = eq.get("residual_M")
        if stated is None:
            return
        weights, beta = self._equilibrium_metric()
        s = weight_scaling(self.game, weights)
        c = np.asarray(doc["region"]["center"], dtype=np.float64)
        F = np.asarray(self.F_center)
        if self.game.transform is not None:  # Fisher geometry: E^T F in the metric space
            F = self.game.transform(c).T @ F
        h = eq.get("natural_map_step")
        if (h is not None) != self.game.constrained:
            rep.fail(
                "equilibrium.natural_map_step",
                "a constrained game states its residual at a step h of the natural map (and only a constrained game)",
            )
            return
        if h is None and self.exact and self.J is not None and self.J.shape[0] <= proved.PROOF_MAX_DIM:
            # affine: ||J c + F(0)||_M exactly, from the rational J (F(c) in floats may cancel)
            F0, _ = value_and_jacobian(self.game, np.zeros_like(c))
            exact = proved.affine_residual_squared(self.J, F0, c, self.game.metric_block_sizes, weights)
            if Fraction(float(stated)) ** 2 >= exact:
                rep.ok("equilibrium.residual_M", f"stated {number_text(float(stated))} >= ||J c + F(0)||_M (exactly)")
            else:
                rep.fail(
                    "equilibrium.residual_M",
                    f"stated {number_text(float(stated))} but ||J c + F(0)||_M = {number_text(math.sqrt(float(exact)))} (exactly)",
                )
            return
        if h is not None:  # constrained: the natural map c - P_X(c - h F(c)) (docs/theory.md §13)
            assert self.game.sets is not None
            true = float(np.linalg.norm(s * self.game.sets.natural_map(c, float(h) * F)))
            what = f"||c - P_X(c - h F(c))||_M at h = {number_text(h)}"
            allowance = natural_residual_allowance(s, beta, float(h), c, F, true)
        else:
            true, what = float(np.linalg.norm(s * F)), "||F(center)||_M"
            allowance = residual_allowance(s, beta, c, true)
        if float(stated) >= true + allowance * (1 - 1e-4):
            rep.ok(
                "equilibrium.residual_M",
                f"stated {number_text(float(stated))} >= {what} = {number_text(true)} + rounding allowance "
                f"{number_text(allowance)}",
            )
        else:
            rep.fail(
                "equilibrium.residual_M",
                f"stated {number_text(float(stated))} but {what} = {number_text(true)}, plus the rounding "
                f"allowance {number_text(allowance)}",
            )

    def _equilibrium_metric(self) -> tuple[list[float], float | None]:
        """The weights of equilibrium.residual_M and the beta of its rounding allowance: the
        named proof's (phase 1 checked they agree with the verdict), else SGN's."""
        doc = self.doc
        eq = doc["equilibrium"] if isinstance(doc.get("equilibrium"), dict) else {}
        proofs = {p["method"]: p for p in (doc.get("verdict") or {}).get("proofs") or []}
        proof = proofs.get(eq.get("proof") or "")
        if proof is not None and eq.get("weights") is not None:
            return [float(w) for w in eq["weights"]], proof.get("beta")
        return [float(w) for w in doc["metric"]["weights"]], doc["constants"]["beta"]

    # -- the verdict's own constants: beta(1) (euclidean), alpha_true(w) and beta(w) (weighted)
    def _verdict(self) -> None:
        """Each holding euclidean / weighted proof's beta (and the weighted rate) in its own
        metric: re-proved exactly for affine games, recomputed on the certificate's samples
        otherwise (the rates of sgn and euclidean are the SGN and Euclidean sections')."""
        proofs = (self.doc.get("verdict") or {}).get("proofs") or []
        for k, p in enumerate(proofs):
            if not p["holds"] and p["method"] == "weighted" and p.get("weights") is not None:
                self._weaker_than_proved(f"verdict.proofs[{k}].holds", [float(x) for x in p["weights"]])
            if not p["holds"] or p["method"] not in ("euclidean", "weighted") or p.get("weights") is None:
                continue
            where = f"verdict.proofs[{k}]"
            w = [float(x) for x in p["weights"]]
            rate = p["rate"] if p["method"] == "weighted" else None
            if self.exact and self.J is not None and self.J.shape[0] <= proved.PROOF_MAX_DIM:
                J = np.asarray(self.J, dtype=np.float64)
                Jq = proved.rational_jacobian(J)
                sizes = self.game.metric_block_sizes
                self._proved(f"{where}.beta", proved.weighted_lipschitz(J, Jq, sizes, w), p["beta"], "beta(w)")
                if rate is not None:
                    self._proved(f"{where}.rate", proved.weighted_margin(J, Jq, sizes, w), rate, "alpha_true(w)")
                continue
            if self.exact and self.J is not None:
                wc = weighted_constants(self.game, w, J=self.J)
                beta_v, at_v = wc.beta, wc.alpha_true
                what = "the recomputed (floating-point)"
            elif self.points is not None:
                st = pointwise_statistics(self.game, self.points, w, block_stats=False)
                beta_v, at_v = float(st["beta"].max()), float(st["alpha_true"].min())
                what = f"the recomputed ({self.points.shape[0]} certificate samples)"
            else:
                continue
            self._bound(f"{where}.beta", p["beta"], beta_v, +1, "beta(w)", what)
            if rate is not None:
                self._bound(f"{where}.rate", rate, at_v, -1, "alpha_true(w)", what)

    def _weaker_than_proved(self, name: str, w: list[float]) -> None:
        """A weighted proof listed as failing must fail: alpha_true(w) > 0 (proved for affine
        games, on the certificate's samples otherwise) would make the verdict weaker than proved."""
        if self.exact and self.J is not None and self.J.shape[0] <= proved.PROOF_MAX_DIM:
            J = np.asarray(self.J, dtype=np.float64)
            positive = proved.holds(
                proved.weighted_margin(J, proved.rational_jacobian(J), self.game.metric_block_sizes, w), 0.0
            )
            at = float(weighted_constants(self.game, w, J=J).alpha_true)
            positive = bool(positive) and at > 0
        elif self.exact and self.J is not None:
            at = float(weighted_constants(self.game, w, J=self.J).alpha_true)
            positive = at > 0
        elif self.points is not None:
            at = float(pointwise_statistics(self.game, self.points, w, block_stats=False)["alpha_true"].min())
            positive = at > 0
        else:
            return
        if positive:
            self.rep.fail(
                name, f"weighted is listed as failing, but alpha_true(w) = {number_text(at)} > 0 in its metric"
            )
        else:
            self.rep.ok(name, f"weighted fails: alpha_true(w) = {number_text(at)} <= 0 in its metric")

    def _proved(self, name: str, claim, stated: float, what: str) -> None:
        """An exact claim: the stated value itself passes the exact check."""
        ok = proved.holds(claim, float(stated))
        side = "upper" if claim.upper else "lower"
        if ok:
            self.rep.ok(name, f"{what} = {number_text(stated)} is a proved {side} bound (exact, rebuilt J)")
        elif ok is None:
            self.rep.undecidable(name, f"{what} = {number_text(stated)}: too large to decide exactly")
        else:
            self.rep.fail(name, f"{what} stated {number_text(stated)} is not a proved {side} bound for the rebuilt J")

    def _bound(self, name: str, stated: float, true: float, direction: int, what: str, source: str) -> None:
        """A recomputed bound: stated on the safe side of the recomputation (relative REL_TOL)."""
        if _unsafe(float(stated), float(true), direction, abs(true)):
            side = "too small" if direction > 0 else "too large"
            self.rep.fail(
                name, f"{what} stated {number_text(stated)} but {source} value is {number_text(true)}: {side}"
            )
        else:
            rel = ">=" if direction > 0 else "<="
            self.rep.ok(name, f"{what} = {number_text(stated)} {rel} {source} value {number_text(true)}")

    # -- tight steps: the stated metric must contract the step maps
    def _tight(self) -> None:
        doc, rep = self.doc, self.rep
        t = doc.get("tight")
        if not isinstance(t, dict):
            return
        expected = "exact" if self.exact else "sampled"
        if t.get("provenance") != expected:
            rep.fail(
                "tight.provenance",
                f"tight steps of this game are {expected}, the certificate says {t.get('provenance')}",
            )
            return
        sizes = self.game.metric_block_sizes

        def metric(entry):
            if entry.get("weights") is not None:
                return np.diag(np.repeat(np.asarray(entry["weights"], dtype=np.float64), sizes))
            return blockdiag([np.asarray(b, dtype=np.float64) for b in entry["blocks"]])

        for method in ("euler", "rk4"):
            e = t.get(method)
            if not isinstance(e, dict) or not e.get("h"):
                continue
            name, h, factor, M = f"tight.{method}", float(e["h"]), float(e["factor"]), metric(e)
            if not (h > 0 and 0 < factor < 1):
                rep.fail(
                    name,
                    f"a tight step needs h > 0 and a factor in (0, 1); the certificate states "
                    f"h = {number_text(h)}, factor = {number_text(factor)}: no contraction is claimed",
                )
                continue
            if self.J is not None and t.get("provenance") == "exact":
                limit = spectral_step_limit(self.J, method)
                if h > limit:
                    rep.fail(name, f"h = {number_text(h)} exceeds the true stability limit {number_text(limit)}")
                elif check_contraction(self.J, h, M, factor, method):
                    rep.ok(
                        name,
                        f"||T(h)||_M <= {number_text(factor)} < 1 at h = {number_text(h)} proved exactly "
                        f"(true limit {number_text(limit)}, ratio {number_text(h / limit)})",
                    )
                else:
                    rep.fail(
                        name,
                        f"the stated metric does not make T(h = {number_text(h)}) contract with factor {number_text(factor)} "
                        "(exact rational check)",
                    )
            elif self.K is not None:
                worst = float(sampled_factor(self.K, h, M, method))
                if worst <= factor * (1 + 1e-9) and worst < 1:
                    rep.ok(
                        name,
                        f"max over the {len(self.K)} certificate samples of ||T(h)||_M = {number_text(worst)} "
                        f"<= {number_text(factor)} at h = {number_text(h)}",
                    )
                else:
                    rep.fail(
                        name,
                        f"at h = {number_text(h)} a certificate sample has ||T(h)||_M = {number_text(worst)} > {number_text(factor)}",
                    )
            else:
                rep.undecidable(name, "no Jacobians to check the tight step against")
        self._tight_truth(t)
        r = t.get("rate")
        if isinstance(r, dict) and r.get("alpha") is not None and self.J is not None:
            if check_rate(self.J, metric(r), float(r["alpha"])):
                rep.ok(
                    "tight.rate",
                    f"M H + H^T M >= 2 alpha M with alpha = {number_text(float(r['alpha']))} proved exactly",
                )
            else:
                rep.fail(
                    "tight.rate", f"the stated metric does not give the flow rate {number_text(float(r['alpha']))}"
                )

    def _tight_truth(self, t: dict) -> None:
        """The true limits a tight section reports (spectral step limits, min Re lambda(H))
        and the ratios built on them, recomputed from the rebuilt Jacobian(s)."""
        if self.J is not None and t.get("provenance") == "exact":
            J = np.asarray(self.J, dtype=np.float64)
            lam = np.linalg.eigvals(J)
        elif self.K is not None:
            lam = np.linalg.eigvals(np.asarray(self.K, dtype=np.float64))
        else:
            return
        limits = {}
        for method in ("euler", "rk4"):
            e = t.get(method)
            if not isinstance(e, dict):
                continue
            limits[method] = limit_from_eigs(lam, method)
            true = limits[method] if math.isfinite(limits[method]) else None  # null: unbounded
            self._reported(f"tight.{method}.true_limit", e.get("true_limit"), true, "the true step limit")
            if e.get("h") and true:
                self._reported(f"tight.{method}.ratio", e.get("ratio"), float(e["h"]) / true, "h / true_limit", 1e-9)
        ratio = t.get("sgn_ratio")
        if isinstance(ratio, dict):
            for method, lim in limits.items():
                sgn_max = self.doc["steps"][method]["max"]
                true = sgn_max / lim if lim > 0 else None
                self._reported(f"tight.sgn_ratio.{method}", ratio.get(method), true, "SGN max / true limit", 1e-9)
        r = t.get("rate")
        if isinstance(r, dict) and self.J is not None and t.get("provenance") == "exact":
            bound = float(np.min(lam.real))
            self._reported("tight.rate.true_bound", r.get("true_bound"), bound, "min Re lambda(H)")
            if r.get("alpha") is not None:  # defined for a positive true bound only, as the writer's
                expected = float(r["alpha"]) / bound if bound > 0 else None
                self._reported("tight.rate.ratio", r.get("ratio"), expected, "alpha / true_bound", 1e-9)

    # -- simulation
