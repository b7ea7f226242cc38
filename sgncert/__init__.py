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
    from .analysis.certify import certify as certify
    from .analysis.sound import SoundBudget as SoundBudget
    from .analysis.sweep import run_sweep as run_sweep
    from .analysis.verdict import Proof as Proof
    from .analysis.verdict import ProvedStep as ProvedStep
    from .analysis.verdict import Verdict as Verdict
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

_LAZY = {
    "Certification": "analysis.certify",
    "certify": "analysis.certify",
    "SoundBudget": "analysis.sound",
    "run_sweep": "analysis.sweep",
    "Proof": "analysis.verdict",
    "ProvedStep": "analysis.verdict",
    "Verdict": "analysis.verdict",
    "build_certificate": "cert.build",
    "write_certificate": "cert.build",
    "load_certificate": "cert.load",
    "json_schema": "cert.model",
    "VerifyReport": "cert.report",
    "verify_certificate": "cert.verify",
    "Game": "games.model",
    "game_from_dict": "games.spec",
    "load_game": "games.spec",
    "with_params": "games.spec",
}

__all__ = sorted([*_LAZY, "NumericalError", "SgnError", "SpecError", "__version__"])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sgncert' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
