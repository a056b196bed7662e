"""sciope_abs.viz: Bokeh figures (inline in Jupyter) and the exploration server app (DESIGN §2).

Imports nothing above ``viz``: figures take plain arrays, the app reads a sweep folder through
:mod:`sciope_abs.store`. Bokeh is imported inside the functions.
"""
from .figures import explore_layout, label_colors, scatter_figure, trajectory_figure

__all__ = ["explore_layout", "label_colors", "scatter_figure", "trajectory_figure"]
