"""Rebuilding the certified game from the spec a certificate embeds.

A Python hook runs only when its file still has the sha256 the certificate recorded
(checked before anything imports it); the rebuilt game must hash to ``game.sha256``.
:func:`game_from_certificate` raises on any mismatch (figures); :func:`rebuild_and_check`
records every finding as a check of a verify report.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..errors import SourceChanged, SpecError
from ..games.hooks import HookCheck, check_recorded_hook
from ..games.model import Game
from ..games.spec import IN_MEMORY, game_from_dict, load_game
from .report import VerifyReport


def _inline_params(spec: dict[str, Any]) -> None:
    params = spec.get("params", {})
    if not isinstance(params, dict):
        raise SpecError("game.spec.params: expected an object")
    for name, value in params.items():
        if isinstance(value, dict):
            raise SpecError(f"game.spec.params.{name}: a canonical spec holds inline values, not {sorted(value)[:3]}")


def _hook_message(hook: HookCheck) -> str:
    if hook.state == "unreadable":
        return f"cannot read the hook {hook.path} ({hook.error}); pass --game GAME.yaml to say where the game lives"
    return (
        f"hook file {hook.rel} has sha256 {hook.digest[:16]}..., the certificate recorded "
        f"{hook.recorded[:16]}...: the hook changed after certification (not run)"
    )


def _embedded_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc.get("game", {}).get("spec")
    if not isinstance(spec, dict):
        raise SpecError("certificate: game.spec is missing; cannot rebuild the game")
    _inline_params(spec)
    return spec


def game_from_certificate(doc: dict[str, Any], base_dir: str | Path = ".") -> Game:
    """Rebuild the certified game from ``doc["game"]["spec"]`` (hooks and data files resolve
    against ``base_dir``).

    Raises:
        SpecError: the hook changed or cannot be read, or the rebuilt spec does not hash to
            the certified ``game.sha256``.
    """
    spec = _embedded_spec(doc)
    base_dir = Path(base_dir)
    hook = check_recorded_hook(spec, base_dir)
    if hook.state in ("unreadable", "changed"):
        raise SpecError(f"certificate: {_hook_message(hook)}")
    game = game_from_dict(spec, base_dir, "game.spec")
    if game.sha256 != doc["game"].get("sha256"):
        raise SpecError("certificate: the embedded spec does not rebuild the certified game (sha256 differs)")
    return game


def _spec_diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    parts = []
    for k in keys:
        if k == "params" and isinstance(a.get(k), dict) and isinstance(b.get(k), dict):
            pa, pb = a[k], b[k]
            diff = sorted(p for p in set(pa) | set(pb) if pa.get(p) != pb.get(p))
            parts.append(f"params {', '.join(diff[:6])}")
        else:
            parts.append(k)
    return "; ".join(parts) or "nothing visible"


def _supplied(doc: dict[str, Any], rep: VerifyReport, spec: dict[str, Any], supplied: Game | None) -> Game | None:
    """The game the caller supplied, when its hash is the certificate's; a game built in
    memory cannot be rebuilt from its spec, so without one nothing is recomputed."""
    in_memory = isinstance(spec.get("costs"), dict) and IN_MEMORY in spec["costs"]
    if supplied is None:
        record = spec["costs"][IN_MEMORY] if in_memory else {}
        what = record.get("identifier") or ", ".join(map(str, record.get("functions") or [])) or "Python functions"
        rep.undecidable(
            "game.spec",
            f"the game was built in memory from {what}: pass the game to verify (sgncert.verify(cert, game=...)) "
            "to recompute its claims",
        )
        return None
    if supplied.sha256 == doc["game"]["sha256"]:
        how = "its program's hash" if in_memory else "its canonical spec"
        rep.ok("game.spec", f"the game supplied has the certified sha256 ({how})")
        return supplied
    rep.fail(
        "game.spec",
        f"the game supplied has sha256 {supplied.sha256[:16]}..., not the certified {doc['game']['sha256'][:16]}... "
        "(other functions, closed-over arrays, parameters, region or sampling)",
    )
    return None


def rebuild_and_check(
    doc: dict[str, Any], rep: VerifyReport, base_dir: Path, game_path: Path | None, supplied: Game | None = None
) -> Game | None:
    """Rebuild the game of a certificate for verify and record what agrees with it: the
    hook's sha256 (``game.hook``), the rebuilt hash (``game.spec``), the spec file
    (``game.file``, when ``game_path`` is given), the players, ``game.affine`` and the
    provenance of exact constants. ``supplied``: the game itself, compared by hash instead
    of rebuilding (required for a game built in memory). None when the game must not or
    cannot be compared."""
    spec = _embedded_spec(doc)
    in_memory = isinstance(spec.get("costs"), dict) and IN_MEMORY in spec["costs"]
    if supplied is not None or in_memory:
        game = _supplied(doc, rep, spec, supplied)
        return None if game is None else _check_rebuilt(doc, rep, spec, game)
    hook = check_recorded_hook(spec, base_dir)
    if hook.state == "unreadable":
        rep.undecidable("game.hook", _hook_message(hook))
        return None
    if hook.state == "changed":
        rep.fail("game.hook", _hook_message(hook))
        return None
    if hook.state == "ok":
        rep.ok("game.hook", f"hook file {hook.rel} matches its recorded sha256")
    t = time.perf_counter()
    try:
        game = game_from_dict(spec, base_dir, "game.spec")
    except SourceChanged as exc:  # the certified game is not the one its source gives today
        rep.fail("game.source", str(exc))
        return None
    rep.timings["rebuild"] = time.perf_counter() - t
    if game.sha256 == doc["game"]["sha256"]:
        rep.ok("game.spec", "rebuilding the embedded spec gives the certified sha256")
    else:
        rep.fail(
            "game.spec",
            f"rebuilding the embedded spec gives sha256 {game.sha256[:16]}..., "
            f"not the certified {doc['game']['sha256'][:16]}...",
        )
    if game_path is not None:
        sampling = spec.get("sampling", {}) if isinstance(spec.get("sampling"), dict) else {}
        overrides = doc["game"].get("overrides")
        try:
            fg = load_game(game_path, overrides or None, samples=sampling.get("samples"), seed=sampling.get("seed"))
        except SpecError as exc:  # the certificate is fine; the file beside it no longer is a game
            rep.fail("game.file", f"the spec file no longer loads as a game: {exc}")
            return _check_rebuilt(doc, rep, spec, game)
        if fg.sha256 == doc["game"]["sha256"]:
            rep.ok("game.file", f"{game_path} still describes the certified game")
        else:
            rep.fail(
                "game.file",
                f"{game_path} no longer describes the certified game (differs in: {_spec_diff(fg.canonical, spec)})",
            )
    return _check_rebuilt(doc, rep, spec, game)


def _check_rebuilt(doc: dict[str, Any], rep: VerifyReport, spec: dict[str, Any], game: Game) -> Game | None:
    """The players, geometry, affinity and provenance of the (rebuilt or supplied) game
    against the certificate's statements."""
    rebuilt = [{"name": p.name, "dim": p.dim} for p in game.players]
    stated = [{"name": p["name"], "dim": p["dim"]} for p in doc["game"]["players"]]
    if rebuilt != stated:
        shown = ", ".join(str(p["name"]) for p in rebuilt), ", ".join(str(p["name"]) for p in stated)
        if sorted(map(str, rebuilt)) == sorted(map(str, stated)):
            # the canonical spec does not pin the player order: every recomputed index would be permuted
            rep.undecidable(
                "game.players",
                f"rebuilding the embedded spec orders the players ({shown[0]}), the "
                f"certificate orders them ({shown[1]}): constants cannot be compared",
            )
            return None
        rep.fail("game.players", f"the rebuilt game has players ({shown[0]}), the certificate states ({shown[1]})")
        return None
    if "players" not in spec:
        rep.ok("game.players", f"{len(rebuilt)} players as in the rebuilt game")
    geometry = doc.get("geometry")
    stated_kind = geometry.get("kind") if isinstance(geometry, dict) else "euclidean"  # no section: Euclidean
    if stated_kind == game.geometry:
        rep.ok("geometry.kind", f"{game.geometry} geometry, as the rebuilt game has")
    else:
        rep.fail(
            "geometry.kind",
            f"the certificate says geometry {stated_kind}{'' if isinstance(geometry, dict) else ' (no geometry section)'}, "
            f"the rebuilt game has the {game.geometry} geometry",
        )
    if game.geometry == "fisher" and isinstance(geometry, dict):
        reduced = list(game.reduced_sizes) if game.reduced_sizes is not None else None
        if geometry.get("reduced_dims") is not None and geometry.get("reduced_dims") != reduced:
            rep.fail(
                "geometry.reduced_dims",
                f"the certificate states reduced dimensions {geometry.get('reduced_dims')}, the rebuilt game has {reduced}",
            )
    affine_claim = doc["game"].get("affine")
    if affine_claim is not None and affine_claim != game.affine:
        rep.fail(
            "game.affine",
            f"the certificate says affine = {affine_claim}, the rebuilt game is "
            f"{'affine' if game.affine else 'not affine'}",
        )
    if doc["constants"]["provenance"] == "exact" and not game.affine:
        rep.fail(
            "constants.provenance",
            "constants are labelled exact but the game is not affine (its Jacobian varies over the region)",
        )
    return game
