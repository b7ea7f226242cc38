"""sgncert: certify that gradient play in a differentiable game converges to its Nash
equilibrium, how fast, and with which step sizes (Small-Gain Nash).

    >>> import sgncert
    >>> game = sgncert.load_game("games/scalar.yaml", ["lam=0.8"])   # doctest: +SKIP
    >>> result = sgncert.certify(game)                               # doctest: +SKIP
    >>> result.certified, result.verdict.best.method, result.verdict.best.rate  # doctest: +SKIP
    >>> result.verdict.best_steps()["euler"]  # (proof, ProvedStep): the largest proved Euler step  # doctest: +SKIP
    >>> sgncert.write_certificate(result, "scalar.cert.json")         # doctest: +SKIP
    >>> sgncert.verify_certificate(sgncert.load_certificate("scalar.cert.json")).verdict  # doctest: +SKIP

Importing this package is cheap: JAX, NumPy and cvxpy are imported when a function that
needs them is first used. sgncert computes in float64 without changing the caller's JAX
configuration (see :mod:`sgncert.util.jaxenv`). The maths is in docs/theory.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import NumericalError as NumericalError
from .errors import SgnError as SgnError
from .errors import SpecError as SpecError
from .util.version import __version__ as __version__

if TYPE_CHECKING:
    from .analysis.certify import Certification as Certification
    from .analysis.matrix_free import MatrixFree as MatrixFree
    from .analysis.sound import SoundBudget as SoundBudget
    from .analysis.sweep import run_sweep as run_sweep
    from .analysis.verdict import Proof as Proof
    from .analysis.verdict import ProvedStep as ProvedStep
    from .analysis.verdict import Verdict as Verdict
    from .api.build import from_openspiel as from_openspiel
    from .api.build import make_game as make_game
    from .api.figures import plot_band as plot_band
    from .api.figures import plot_flow as plot_flow
    from .api.figures import plot_phase as plot_phase
    from .api.figures import plot_sweep as plot_sweep
    from .api.result import Result as Result
    from .api.run import Rows as Rows
    from .api.run import certify as certify
    from .api.run import sweep as sweep
    from .api.run import verify as verify
    from .cert.build import build_certificate as build_certificate
    from .cert.build import write_certificate as write_certificate
    from .cert.load import load_certificate as load_certificate
    from .cert.model import json_schema as json_schema
    from .cert.report import VerifyReport as VerifyReport
    from .cert.verify import verify_certificate as verify_certificate
    from .games.model import Game as Game
    from .games.spec import game_from_dict as game_from_dict
    from .games.spec import load_game as load_game
    from .games.spec import with_params as with_params

_LAZY = {  # public name -> (module, attribute)
    "Certification": ("analysis.certify", "Certification"),
    "SoundBudget": ("analysis.sound", "SoundBudget"),
    "MatrixFree": ("analysis.matrix_free", "MatrixFree"),
    "run_sweep": ("analysis.sweep", "run_sweep"),
    "Proof": ("analysis.verdict", "Proof"),
    "ProvedStep": ("analysis.verdict", "ProvedStep"),
    "Verdict": ("analysis.verdict", "Verdict"),
    "make_game": ("api.build", "make_game"),
    "from_openspiel": ("api.build", "from_openspiel"),
    "plot_band": ("api.figures", "plot_band"),
    "plot_flow": ("api.figures", "plot_flow"),
    "plot_phase": ("api.figures", "plot_phase"),
    "plot_sweep": ("api.figures", "plot_sweep"),
    "Result": ("api.result", "Result"),
    "Rows": ("api.run", "Rows"),
    "certify": ("api.run", "certify"),
    "sweep": ("api.run", "sweep"),
    "verify": ("api.run", "verify"),
    "build_certificate": ("cert.build", "build_certificate"),
    "write_certificate": ("cert.build", "write_certificate"),
    "load_certificate": ("cert.load", "load_certificate"),
    "json_schema": ("cert.model", "json_schema"),
    "VerifyReport": ("cert.report", "VerifyReport"),
    "verify_certificate": ("cert.verify", "verify_certificate"),
    "Game": ("games.model", "Game"),
    "game_from_dict": ("games.spec", "game_from_dict"),
    "load_game": ("games.spec", "load_game"),
    "with_params": ("games.spec", "with_params"),
}

__all__ = sorted([*_LAZY, "NumericalError", "SgnError", "SpecError", "__version__"])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sgncert' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
