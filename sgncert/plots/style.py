"""The look of every figure: palette, style, sizes, and deterministic saving.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas (no GUI, no pyplot
global state), fixed sizes, dpi and style, and the Okabe-Ito colour-blind-safe palette.
:func:`save_figure` writes them atomically with the software/date metadata removed, so
the same input gives the same bytes. matplotlib is imported lazily.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SpecError

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}
C_EUCLID = OKABE_ITO["vermillion"]  # Euclidean quantities
C_SGN = OKABE_ITO["blue"]  # SGN / M(w) quantities
C_TRUE = OKABE_ITO["green"]  # exact / true quantities
C_BAND = OKABE_ITO["sky"]
C_MARK = OKABE_ITO["orange"]
C_TIGHT = OKABE_ITO["purple"]  # tight (LMI-metric) steps
DPI = 150
STYLE = {
    "font.size": 9.5,
    "axes.titlesize": 10.5,
    "axes.labelsize": 10,
    "legend.fontsize": 8.5,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "lines.linewidth": 1.8,
    "legend.framealpha": 0.9,
    "image.cmap": "cividis",
    "svg.hashsalt": "sgncert",
    "path.simplify": True,
    "font.family": "DejaVu Sans",
    "mathtext.fontset": "dejavusans",
    "axes.prop_cycle": None,
}

FORMATS = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
}


# ----------------------------------------------------------------------------- plumbing
def _mpl() -> tuple[Any, Any]:
    """Import matplotlib headless (Agg) and return (matplotlib, Figure)."""
    import sys

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:  # never switch the backend of a live pyplot session
        matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return matplotlib, Figure


def style_context() -> Any:
    matplotlib, _ = _mpl()
    from cycler import cycler

    style = dict(STYLE)
    style["axes.prop_cycle"] = cycler(
        color=[OKABE_ITO[k] for k in ("blue", "vermillion", "green", "orange", "purple", "sky", "black")]
    )
    return matplotlib.rc_context(style)


def new_figure(width: float, height: float, ncols: int = 1, nrows: int = 1, **kw):
    """A Figure with the sgncert style, constrained layout, and its axes."""
    _, Figure = _mpl()
    with style_context():
        fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def check_figure_path(path: str | Path) -> tuple[str, Path]:
    """(format, folder) of a figure file; SpecError for an unknown suffix or a missing folder.

    Cheap (no matplotlib): commands call it before any computation.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".") or "png"
    if fmt not in FORMATS:
        raise SpecError(f"{path}: unsupported figure format '.{fmt}' (use .png, .svg or .pdf)")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise SpecError(f"{path}: folder {folder} does not exist")
    if path.is_dir():
        raise SpecError(f"{path}: is a directory, expected a figure file")
    return fmt, folder


def save_figure(fig, path: str | Path, *, dpi: int = DPI) -> Path:
    """Save ``fig`` atomically (temp file in the target folder, then os.replace).

    The format follows the suffix (``.png`` default, ``.svg``, ``.pdf``); metadata that
    would vary between runs (software version, dates) is left out.
    """
    from ..util.atomic import write_atomic

    path = Path(path)
    fmt, _ = check_figure_path(path)

    def draw(fh):
        with style_context():
            fig.savefig(fh, format=fmt, dpi=dpi, metadata=FORMATS[fmt])

    write_atomic(path, draw)
    return path


def fmt(v: float | None, digits: int = 4) -> str:
    if v is None:
        return "none"
    if math.isinf(v):
        return "∞"
    return f"{v:.{digits}g}"


def finite_or_nan(values) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def nonblank_fraction(path: str | Path) -> float:
    """Fraction of pixels of a PNG that are not (nearly) white; used by tests and checks."""
    from matplotlib.image import imread

    img = imread(str(path))
    rgb = img[..., :3]
    return float(np.mean(np.any(rgb < 0.95, axis=-1)))
