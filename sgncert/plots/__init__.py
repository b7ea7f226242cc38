"""Figures of the SGN paper from games, certificates and sweeps.

Each figure has a ``*_data`` function that computes the numbers it draws (plain floats and
lists, JSON-safe apart from ``inf``) and a ``*_figure`` function that draws them and
returns ``(figure, data)``; :func:`save_figure` writes a figure deterministically.
matplotlib is imported only when a figure is drawn.
"""

from .band import alpha_true_curve as alpha_true_curve
from .band import band_data as band_data
from .band import band_figure as band_figure
from .flow import flow_data as flow_data
from .flow import flow_figure as flow_figure
from .phase import phase_data as phase_data
from .phase import phase_figure as phase_figure
from .style import check_figure_path as check_figure_path
from .style import nonblank_fraction as nonblank_fraction
from .style import save_figure as save_figure
from .sweep import sweep_figure as sweep_figure
