"""Bokeh figures for exploring a sweep; each returns a Bokeh object for ``bokeh.io.show``
(inline in Jupyter after ``bokeh.io.output_notebook()``) or for the server app.

Inputs are plain arrays: an embedding ``xy (n, 2)``, traces ``(n, r, S, T)``, the timespan, the
species names and integer labels (``-1`` = unlabelled).
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

__all__ = ["label_colors", "scatter_figure", "trajectory_figure", "explore_layout", "PALETTE", "UNLABELLED"]

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
UNLABELLED = "#bbbbbb"


def label_colors(labels: Any) -> list[str]:
    """A colour per label (grey for -1)."""
    lab = np.asarray(labels, dtype=np.int64)
    return [UNLABELLED if v < 0 else PALETTE[int(v) % len(PALETTE)] for v in lab]


def _scatter_data(xy, labels, predictions, confidence, color_by: str) -> dict:
    xy = np.asarray(xy, dtype=np.float64)
    n = xy.shape[0]
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"xy must have shape (n, 2), got {xy.shape}")
    lab = np.full(n, -1) if labels is None else np.asarray(labels, dtype=np.int64)
    pred = np.full(n, -1) if predictions is None else np.asarray(predictions, dtype=np.int64)
    conf = np.zeros(n) if confidence is None else np.asarray(confidence, dtype=np.float64)
    if color_by not in ("label", "prediction"):
        raise ValueError(f"color_by must be 'label' or 'prediction', got {color_by!r}")
    shown = lab if color_by == "label" else np.where(lab >= 0, lab, pred)
    return {"x": xy[:, 0], "y": xy[:, 1], "index": np.arange(n), "label": lab, "prediction": pred,
            "confidence": conf, "color": label_colors(shown), "alpha": np.where(lab >= 0, 1.0, 0.35 + 0.5 * conf),
            "size": np.where(lab >= 0, 10, 7)}


def scatter_figure(xy: Any, labels: Any = None, predictions: Any = None, confidence: Any = None, *,
                   color_by: str = "prediction", title: str = "features (2-D embedding)", source: Any = None) -> Any:
    """Scatter of embedded features coloured by label (or prediction where unlabelled).

    Returns
    -------
    (figure, ColumnDataSource)
        The source's ``selected.indices`` hold the selection (box, lasso, tap).
    """
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure

    data = _scatter_data(xy, labels, predictions, confidence, color_by)
    if source is None:
        source = ColumnDataSource(data)
    else:
        source.data = data
    fig = figure(title=title, tools="box_select,lasso_select,tap,pan,wheel_zoom,reset", width=520, height=460,
                 active_drag="box_select", name="scatter")
    fig.scatter("x", "y", source=source, color="color", alpha="alpha", size="size", line_color="#333333",
                line_alpha=0.3, selection_line_color="black", nonselection_alpha=0.15)
    fig.add_tools(HoverTool(tooltips=[("point", "@index"), ("label", "@label"), ("prediction", "@prediction"),
                                      ("confidence", "@confidence{0.00}")]))
    fig.xaxis.axis_label, fig.yaxis.axis_label = "component 1", "component 2"
    return fig, source


def _traj_data(traces, indices, timespan, s: int) -> dict:
    xs, ys, who = [], [], []
    for i in indices:
        for j in range(traces.shape[1]):
            xs.append(np.asarray(timespan).tolist())
            ys.append(traces[i, j, s].tolist())
            who.append(int(i))
    return {"xs": xs, "ys": ys, "point": who}


def trajectory_figure(traces: Any, timespan: Any, species: Sequence[str], indices: Optional[Sequence[int]] = None,
                      sources: Optional[list] = None) -> Any:
    """One panel per species with the trajectories of ``indices`` (all realisations).

    Parameters
    ----------
    traces : array, shape (n, r, S, T)
    timespan : array, shape (T,)
    species : list of str, length S
    indices : sequence of int, optional (default: none shown)

    Returns
    -------
    (layout, list of ColumnDataSource)
        One source per species with ``xs``/``ys``/``point`` columns (multi-line data).
    """
    from bokeh.layouts import column
    from bokeh.models import ColumnDataSource
    from bokeh.plotting import figure

    x = np.asarray(traces, dtype=np.float64)
    if x.ndim != 4 or x.shape[2] != len(species) or x.shape[3] != len(timespan):
        raise ValueError(f"traces must have shape (n, r, {len(species)}, {len(timespan)}), got {x.shape}")
    idx = [] if indices is None else list(indices)
    figs, srcs = [], []
    for s, name in enumerate(species):
        data = _traj_data(x, idx, timespan, s)
        src = ColumnDataSource(data) if sources is None else sources[s]
        if sources is not None:
            src.data = data
        f = figure(title=f"{name}: selected trajectories", width=520, height=max(150, 440 // len(species)),
                   tools="pan,wheel_zoom,reset", name=f"traj_{name}")
        f.multi_line("xs", "ys", source=src, line_alpha=0.6, line_width=1.2)
        f.xaxis.axis_label, f.yaxis.axis_label = "time", name
        figs.append(f)
        srcs.append(src)
    return column(*figs), srcs


def explore_layout(xy: Any, traces: Any, timespan: Any, species: Sequence[str], *, labels: Any = None,
                   predictions: Any = None, confidence: Any = None, color_by: str = "prediction") -> Any:
    """Scatter + trajectory panels linked in the browser (works as static HTML / inline in Jupyter).

    Selecting points in the scatter shows their trajectories (a ``CustomJS`` callback copies
    them from an embedded table, so no server is needed). Keep ``n * r`` moderate: every
    trajectory is embedded in the page.
    """
    from bokeh.layouts import row
    from bokeh.models import ColumnDataSource, CustomJS

    x = np.asarray(traces, dtype=np.float64)
    fig, src = scatter_figure(xy, labels, predictions, confidence, color_by=color_by)
    panels, shown = trajectory_figure(x, timespan, species, indices=[])
    store = ColumnDataSource({f"s{s}": [x[:, :, s, :].tolist()[i] for i in range(x.shape[0])]
                              for s in range(x.shape[2])})
    cb = CustomJS(args=dict(src=src, store=store, shown=shown, t=list(map(float, timespan))), code="""
        const sel = src.selected.indices;
        for (let s = 0; s < shown.length; s++) {
            const xs = [], ys = [], who = [];
            const col = store.data['s' + s];
            for (const i of sel) { for (const tr of col[i]) { xs.push(t); ys.push(tr); who.push(i); } }
            shown[s].data = {xs: xs, ys: ys, point: who};
        }
    """)
    src.selected.js_on_change("indices", cb)
    return row(fig, panels)
