"""Independent verification of sgncert certificates (``sgncert verify``, docs/theory.md §11).

:func:`verify_certificate` checks a certificate's claims without trusting the program that
wrote it, and returns a :class:`~sgncert.cert.report.VerifyReport` (verdict ``valid`` /
``invalid`` / ``undecidable`` -> exit 0 / 1 / 3):

1. algebra (:mod:`sgncert.cert.algebra`): what follows from the stated numbers alone, in
   exact rational arithmetic; imports neither JAX nor cvxpy nor NumPy;
2. the game (:mod:`sgncert.cert.rebuild`): rebuilt from the embedded spec, a Python hook
   only after its file's sha256 matches the certificate;
3. recomputation (:mod:`sgncert.cert.recompute`): the constants, thresholds, residual and
   tight steps, for the rebuilt game;
4. simulation (:mod:`sgncert.cert.simulate`, optional): the certified dynamics, run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..errors import NumericalError, SpecError
from .algebra import check_algebra
from .model import validate_document
from .proofs import check_verdict
from .report import VerifyReport

SIM_PAIRS = 16
SIM_STEPS = 50


def _phase2(
    doc: dict[str, Any],
    rep: VerifyReport,
    *,
    base_dir: Path,
    game_path: Path | None,
    resample: int | None,
    seed: int | None,
    simulate: bool,
    recompute: bool,
    strict: bool,
    sim_pairs: int,
    sim_steps: int,
    game: Any = None,
) -> None:
    from ..analysis.matrix_free import MATRIX_FREE, matrix_free_options
    from ..util.jaxenv import jax_scope
    from .rebuild import rebuild_and_check

    with jax_scope():
        game = rebuild_and_check(doc, rep, base_dir, game_path, supplied=game)
        if game is None or not (recompute or simulate):
            return
        from .recompute import Recomputation
        from .simulate import simulate as run_simulation

        t = time.perf_counter()
        mf = matrix_free_options(doc)
        if mf is not None and resample and resample > doc["constants"]["samples"]:
            rep.notes.append(
                f"matrix-free constants: {resample} fresh points capped at the certificate's "
                f"{doc['constants']['samples']} (each point costs several Lanczos runs)"
            )
            resample = doc["constants"]["samples"]
        rc = Recomputation(doc, rep, game, resample=resample, seed=seed, strict=strict)
        token = MATRIX_FREE.set(mf)
        try:
            evaluated = rc.run() if recompute else rc.evaluate_center()
        finally:
            MATRIX_FREE.reset(token)
        if recompute:
            rep.timings["recompute"] = time.perf_counter() - t
        if simulate and evaluated:
            t = time.perf_counter()
            run_simulation(
                doc, rep, game, jacobian=rc.J, value=rc.F_center, seed=seed, pairs=sim_pairs, steps=sim_steps
            )
            rep.timings["simulate"] = time.perf_counter() - t


def holding_proofs(doc: dict[str, Any]) -> list[str]:
    """The proofs a certificate states as holding; one without a verdict (an older format)
    is certified by its SGN section alone, so ``sgn`` when it says certified."""
    v = doc.get("verdict")
    if isinstance(v, dict):
        return [p["method"] for p in v.get("proofs", []) if p["holds"]]
    return ["sgn"] if doc.get("certified") else []


def verify_certificate(
    doc: dict[str, Any],
    *,
    cert_path: str | Path | None = None,
    game_path: str | Path | None = None,
    resample: int | None = 1024,
    seed: int | None = None,
    simulate: bool = False,
    recompute: bool = True,
    strict: bool = False,
    sim_pairs: int = SIM_PAIRS,
    sim_steps: int = SIM_STEPS,
    game: Any = None,
) -> VerifyReport:
    """Verify the claims of a certificate document.

    Args:
        doc: the parsed certificate (e.g. from :func:`sgncert.load_certificate`); its
            structure is validated first.
        cert_path: where the certificate lives: hooks, data files and ``game.source``
            resolve next to it.
        game_path: the game spec file; checked to still describe the certified game (hooks
            then resolve next to it).
        resample: fresh sample points for sampled games (0 / None: none).
        seed: their seed (default: the certificate's seed + 1), also used for the
            simulation's random starts.
        simulate: also run trajectory pairs at the certified steps.
        recompute: recompute the constants (False, with ``simulate=False`` and no spec file
            found: the algebraic phase only, which imports neither JAX nor cvxpy nor NumPy).
        strict: fresh points beating a sampled estimate fail instead of warning.
        game: the certified :class:`~sgncert.games.model.Game` itself (needed for a game
            built in memory from Python functions, which the embedded spec cannot rebuild):
            its sha256 must be the certificate's.

    Returns:
        The :class:`~sgncert.cert.report.VerifyReport`; ``exit_code`` is 0 (valid),
        1 (invalid) or 3 (undecidable).

    Raises:
        SpecError: a malformed certificate or embedded spec (exit 2). Numerical trouble in
            the recomputation becomes an ``undecidable`` check rather than an exception.
    """
    label = str(cert_path) if cert_path is not None else "<certificate>"
    validate_document(doc, label)
    rep = VerifyReport()
    rep.info = {
        "certificate": None if cert_path is None else str(cert_path),
        "game": doc["game"]["name"],
        "sha256": doc["game"]["sha256"],
        "provenance": doc["constants"]["provenance"],
        "certified": doc["certified"],
        "proofs": holding_proofs(doc),
        "tool_version": doc["provenance"]["tool_version"],
    }
    source = doc["game"].get("source")
    spec_file = Path(game_path) if game_path is not None else None
    if spec_file is None and cert_path is not None and isinstance(source, str) and source:
        candidate = Path(cert_path).parent / source  # the spec the certificate was made from
        if candidate.is_file():
            spec_file = candidate
            rep.notes.append(f"spec file {candidate} found through game.source; checked against the certificate")
        else:
            rep.notes.append(f"game.source {source} not found next to the certificate; checked the embedded spec only")
    t = time.perf_counter()
    try:
        check_algebra(doc, rep)
        check_verdict(doc, rep)
    except SpecError as exc:
        raise SpecError(f"{label}: {exc}") from None
    except (NumericalError, ArithmeticError, ValueError) as exc:
        rep.undecidable("algebra", f"numerical breakdown in the exact checks: {type(exc).__name__}: {exc}")
    rep.timings["algebra"] = time.perf_counter() - t
    if recompute or simulate or spec_file is not None or game is not None:
        if spec_file is not None:
            base_dir = spec_file.parent
        elif cert_path is not None:
            base_dir = Path(cert_path).parent
        else:
            base_dir = Path(".")
        try:
            _phase2(
                doc,
                rep,
                base_dir=base_dir,
                game_path=spec_file,
                resample=resample,
                seed=seed,
                simulate=simulate,
                recompute=recompute,
                strict=strict,
                sim_pairs=sim_pairs,
                sim_steps=sim_steps,
                game=game,
            )
        except SpecError as exc:
            raise SpecError(f"{label}: {exc}") from None
        except NumericalError as exc:
            rep.undecidable("recompute", str(exc))
        except (ArithmeticError, FloatingPointError) as exc:
            rep.undecidable("recompute", f"numerical breakdown: {type(exc).__name__}: {exc}")
    else:
        rep.notes.append("constants not recomputed (algebraic checks only)")
    return rep
