"""certify, verify and sweep for Python callers (the command line calls these too).

Each takes what a notebook user has at hand: a :class:`~sgncert.games.model.Game` (from
:func:`~sgncert.api.build.make_game` or :func:`~sgncert.load_game`) or a spec path; a
certificate as a path, a dict or a :class:`~sgncert.api.result.Result`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..analysis.certify import certify as run_certify
from ..analysis.cluster import runner
from ..analysis.matrix_free import MatrixFree
from ..analysis.sound import SoundBudget
from ..analysis.sweep import ParamRange, run_sweep
from ..cert.load import load_certificate
from ..cert.report import VerifyReport
from ..cert.verify import verify_certificate
from ..errors import SgnError, SpecError
from ..games.model import Game
from ..games.spec import load_game
from .progress import ProgressArg, progress_bar
from .result import Result

__all__ = ["certify", "verify", "sweep", "Rows"]


def _game(game: Game | str | Path, where: str = "game") -> Game:
    if isinstance(game, Game):
        return game
    if isinstance(game, (str, Path)):
        return load_game(game)
    raise SpecError(
        f"{where}: expected a Game (sgncert.make_game, sgncert.load_game) or a spec path, got {type(game).__name__}"
    )


def certify(
    game: Game | str | Path,
    *,
    tight: bool = True,
    metric: str = "scalar",
    bands: bool = True,
    bounds: str | None = None,
    budget: SoundBudget | None = None,
    progress: ProgressArg = None,
    scheduler: str | None = None,
    workers: int | None = None,
    matrix_free: bool | MatrixFree | None = None,
) -> Result:
    """Certify a game: every proof of docs/theory.md §12, its constants, steps and bands.

    Args:
        game: a :class:`~sgncert.games.model.Game` or the path of a spec file.
        tight: also search the largest proved steps over a metric family (LMI).
        metric: that family: ``"scalar"`` (``w_i I``) or ``"block"``.
        bands: compute the timescale band.
        bounds: ``"sampled"`` or ``"sound"`` (constants proved over the region); None: the
            game's own (a spec's ``bounds``).
        budget: the sound search's tolerance and budget.
        progress: None (a bar in notebooks only), True, False, or ``f(stage, done, total)``.
        scheduler, workers: run the sample batches on a Dask cluster (a scheduler's address,
            or a local cluster of that many processes); default ``$SGNCERT_SCHEDULER``, else
            this process. The numbers are the same.
        matrix_free: True (or a :class:`~sgncert.analysis.matrix_free.MatrixFree` with
            starts, steps, failure and seed): constants by Lanczos on Jacobian-vector
            products, no Jacobian formed (players with many parameters); False: never;
            None: automatically above 4096 dimensions.

    Returns:
        A :class:`~sgncert.api.result.Result`.

    Raises:
        SpecError: bad input (the message names the argument). NumericalError: a numerical step failed.

    Example:
        >>> r = certify(make_game({"x": 1}, costs={"x": lambda x, p: 0.5 * (x["x"] @ x["x"])},
        ...                       region={"center": [0.0], "radius": 1.0}), bands=False)
        >>> r.certified, r.verdict.best.rate
        (True, 1.0)
    """
    if metric not in ("scalar", "block"):
        raise SpecError(f"metric: expected 'scalar' or 'block', got {metric!r}")
    if bounds not in (None, "sampled", "sound"):
        raise SpecError(f"bounds: expected 'sampled' or 'sound', got {bounds!r}")
    if budget is not None and not isinstance(budget, SoundBudget):
        raise SpecError(
            f"budget: expected sgncert.SoundBudget(tolerance=..., boxes=..., seconds=...), got {budget!r:.60}"
        )
    if not (matrix_free in (None, True, False) or isinstance(matrix_free, MatrixFree)):
        raise SpecError(f"matrix_free: expected True, False, None or sgncert.MatrixFree(...), got {matrix_free!r:.60}")
    g = _game(game)
    with runner(scheduler, workers) as run, progress_bar(progress) as callback:
        c = run_certify(
            g,
            progress=callback,
            tight=tight,
            metric=metric,
            bands=bands,
            bounds=bounds,
            budget=budget,
            runner=run,
            matrix_free=matrix_free,
        )
    return Result.of(c)


def verify(
    certificate: Result | Mapping[str, Any] | str | Path,
    *,
    game: Game | None = None,
    resample: int | None = 1024,
    seed: int | None = None,
    simulate: bool = False,
    strict: bool = False,
) -> VerifyReport:
    """Re-check a certificate's claims (docs/theory.md §11).

    Args:
        certificate: a :class:`~sgncert.api.result.Result`, a certificate dict, or the path
            of a certificate file.
        game: the certified game, when it was built in memory (its functions cannot be
            rebuilt from the certificate: their program's hash is compared instead). A
            Result brings its own game.
        resample, seed, simulate, strict: as ``sgncert verify``.

    Returns:
        A :class:`~sgncert.cert.report.VerifyReport` (``.verdict``, ``.exit_code``, ``.summary()``).
    """
    cert_path: Path | None = None
    if isinstance(certificate, Result):
        doc = certificate.to_dict()
        game = certificate.game if game is None else game
    elif isinstance(certificate, (str, Path)):
        cert_path = Path(certificate)
        doc = load_certificate(cert_path)
    elif isinstance(certificate, Mapping):
        doc = dict(certificate)
    else:
        raise SpecError(
            f"certificate: expected a Result, a certificate dict or a path, got {type(certificate).__name__}"
        )
    if game is not None and not isinstance(game, Game):
        raise SpecError(f"game: expected a Game, got {type(game).__name__}")
    for arg, value in (("resample", resample), ("seed", seed)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise SpecError(f"{arg}: expected a non-negative integer, got {value!r:.60}")
    return verify_certificate(
        doc, cert_path=cert_path, resample=resample, seed=seed, simulate=simulate, strict=strict, game=game
    )


class Rows(list[dict[str, Any]]):
    """A sweep's rows (one dict per grid point), with the whole sweep document in ``.doc``."""

    doc: dict[str, Any]

    def to_frame(self) -> Any:
        """The rows as a pandas DataFrame (pandas is optional: ``pip install pandas``)."""
        try:
            import pandas as pd  # type: ignore[import-untyped]
        except ImportError:
            raise SgnError("to_frame needs pandas, which is not installed: pip install pandas") from None
        return pd.DataFrame(list(self))


def _range(name: str, value: Any) -> ParamRange:
    if isinstance(value, str):
        from ..analysis.sweep import parse_param_range

        return parse_param_range(f"{name}={value}")
    if isinstance(value, (tuple, list)) and len(value) == 3:
        start, stop, num = value
        if isinstance(num, bool) or not isinstance(num, int) or num < 1:
            raise SpecError(f"sweep {name}: the number of values must be a positive integer, got {num!r}")
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (start, stop)):
            raise SpecError(f"sweep {name}: start and stop must be finite numbers, got {start!r}, {stop!r}")
        return ParamRange(name, float(start), float(stop), int(num))
    raise SpecError(f"sweep {name}: expected (start, stop, num) or 'start:stop:num', got {value!r:.60}")


def sweep(
    game: Game | str | Path,
    params: Mapping[str, Any] | Sequence[str],
    *,
    tight: bool = False,
    progress: ProgressArg = None,
    scheduler: str | None = None,
    workers: int | None = None,
) -> Rows:
    """Certify at every point of a parameter grid.

    Args:
        game: a Game or a spec path.
        params: ``{"lam": (0.0, 2.5, 61)}`` (start, stop, number of values; both ends
            included), or the command line's ``["lam=0:2.5:61"]``.
        tight: also the largest proved steps at every point.
        progress, scheduler, workers: as :func:`certify` (on a cluster, a task per grid point).

    Returns:
        :class:`Rows`: a list of dicts (``.to_frame()`` for pandas); ``.doc`` is the sweep
        document ``sgncert sweep`` writes (with the located boundaries).
    """
    g = _game(game)
    if isinstance(params, Mapping):
        ranges: list[ParamRange | str] = [_range(str(k), v) for k, v in params.items()]
    else:
        ranges = list(params)
    with runner(scheduler, workers) as run, progress_bar(progress) as callback:
        doc = run_sweep(g, ranges, progress=callback, tight=tight, runner=run)
    rows = Rows(doc["rows"])
    rows.doc = doc
    return rows
