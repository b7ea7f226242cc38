"""Analysis: from a game to numbers. Sampling the region, the constants (dense and
Lanczos paths), the equilibrium, the certification pipeline, parameter sweeps, the tight
metric search and trajectory simulation. Nothing here prints or writes files."""

from .certify import Certification as Certification
from .sweep import run_sweep as run_sweep
