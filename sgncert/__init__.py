"""sgncert: certify convergence of gradient play in differentiable games (Small-Gain Nash).

Importing this package is cheap: JAX and cvxpy are imported only by the modules that
need them. JAX is asked for float64 (``JAX_ENABLE_X64``) before it is first imported;
:func:`sgncert.jaxconfig.ensure_x64` enforces it at run time.
"""

import os as _os

_os.environ.setdefault("JAX_ENABLE_X64", "1")

__version__ = "0.1.0"
