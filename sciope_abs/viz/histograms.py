"""Emulator-vs-SSA figures: overlaid count histograms and histogram distance against time lag.

Inputs are plain arrays (probabilities per bin and the bin edges, as
:func:`sciope_abs.abstraction.histograms.histogram_pair` returns them; distances per lag), so
this module imports nothing above ``viz``.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

__all__ = ["histogram_overlay", "distance_by_lag", "per_particle_distances", "side_by_side", "EMULATOR_COLOUR",
           "SSA_COLOUR"]

EMULATOR_COLOUR, SSA_COLOUR = "#ff7f0e", "#1f77b4"


def histogram_overlay(p: Optional[np.ndarray], q: Optional[np.ndarray], edges: Optional[np.ndarray], *,
                      title: str, width: int = 300, height: int = 240) -> Any:
    """A figure with the emulator's histogram ``p`` over the SSA's ``q`` (both on ``edges``).

    Parameters
    ----------
    p, q : array (k,) or None
        Probabilities per bin; ``None`` draws an empty figure (nothing comparable).
    edges : array (k + 1,) or None
    title : str
    width, height : int
    """
    from bokeh.plotting import figure

    f = figure(title=title, width=width, height=height, x_axis_label="count", y_axis_label="probability")
    if p is not None and q is not None and edges is not None:
        f.quad(left=edges[:-1], right=edges[1:], bottom=0, top=q, fill_alpha=0.4, color=SSA_COLOUR,
               line_alpha=0, legend_label="SSA")
        f.quad(left=edges[:-1], right=edges[1:], bottom=0, top=p, fill_alpha=0.4, color=EMULATOR_COLOUR,
               line_alpha=0, legend_label="emulator")
        f.legend.label_text_font_size = "8pt"
    return f


def distance_by_lag(lags: Any, distance: Any, self_distance: Any, *, species: str, kind: str = "l1") -> Any:
    """Mean histogram distance (emulator vs SSA) and the SSA self-distance against the time lag.

    Parameters
    ----------
    lags : array (L,)
    distance, self_distance : array (L,)
    species : str
        Named in the title.
    kind : {"l1", "iou"}
    """
    from bokeh.models import Range1d
    from bokeh.plotting import figure

    lags = np.asarray(lags)
    dist, self_dist = np.asarray(distance, dtype=np.float64), np.asarray(self_distance, dtype=np.float64)
    g = figure(title=f"{species}: mean {kind.upper()} histogram distance", width=420, height=300,
               x_axis_label="time lag (steps)", y_axis_label=f"{kind.upper()} distance")
    g.line(lags, dist, line_width=2, color=EMULATOR_COLOUR, legend_label="emulator vs SSA")
    g.scatter(lags, dist, size=6, color=EMULATOR_COLOUR)
    g.line(lags, self_dist, line_width=2, line_dash="dashed", color=SSA_COLOUR, legend_label="SSA self-distance")
    top = np.nanmax(np.r_[dist, self_dist, 0.01])
    g.y_range = Range1d(0, 1.15 * top)
    g.legend.location = "bottom_right"
    return g


def per_particle_distances(emulator_distance: Any, self_distance: Any, *, kind: str = "l1") -> Any:
    """Per posterior particle: the emulator-vs-SSA distance beside the SSA self-distance."""
    from bokeh.plotting import figure

    g = figure(title="per particle: emulator vs SSA and SSA self-distance", width=420, height=240,
               x_axis_label="particle", y_axis_label=f"mean {kind.upper()} distance")
    idx = np.arange(len(emulator_distance))
    g.scatter(idx, emulator_distance, color=EMULATOR_COLOUR, size=7, legend_label="emulator vs SSA")
    g.scatter(idx, self_distance, color=SSA_COLOUR, size=7, marker="square", legend_label="SSA vs SSA")
    g.legend.label_text_font_size = "8pt"
    return g


def side_by_side(figs: Sequence[Any]) -> Any:
    """The figures in one row."""
    from bokeh.layouts import row

    return row(*figs)
