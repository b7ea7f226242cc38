"""The command line: a thin shell over the public Python API. Nothing imports this
package but the ``sgncert`` entry point and ``python -m sgncert``."""

from .app import main as main
from .app import run as run
