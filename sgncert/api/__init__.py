"""The Python API: build a game from JAX functions, certify it, save and verify its
certificate, draw its figures (the command line is a thin shell over these)."""

from .build import from_openspiel as from_openspiel
from .build import make_game as make_game
from .build import program_sha256 as program_sha256
from .figures import plot_band as plot_band
from .figures import plot_flow as plot_flow
from .figures import plot_phase as plot_phase
from .figures import plot_sweep as plot_sweep
from .result import Result as Result
from .run import Rows as Rows
from .run import certify as certify
from .run import sweep as sweep
from .run import verify as verify
