"""Bokeh picture of a grid of agents over time: one heat map per species and a time slider.

Input is one trajectory of composite counts ``(N * S, T)`` in the node-major order of
:func:`sciope_abs.crn.compose_grid` and :class:`sciope_abs.abstraction.grid.GridSimulator`
(``Bee_0_0, BeeA_0_0, ..., P_rows-1_cols-1``), the grid shape and the agent's species names.
The slider switches every map to the chosen time in the browser (a ``CustomJS`` callback over
the stored frames), so a saved HTML file works without a server.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["grid_frames", "grid_heatmaps"]


def grid_frames(trace: Any, shape: Sequence[int], species: Sequence[str]) -> np.ndarray:
    """Reshape one composite trajectory to frames.

    Parameters
    ----------
    trace : array (N * S, T)
    shape : (rows, cols)
    species : sequence of S str

    Returns
    -------
    array (T, S, rows, cols)
    """
    rows, cols = (int(v) for v in shape)
    S = len(species)
    x = np.asarray(trace, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != rows * cols * S:
        raise ValueError(f"trace must have shape ({rows * cols * S}, T) for a {rows}x{cols} grid of species "
                         f"{list(species)}, got {x.shape}")
    return x.reshape(rows, cols, S, x.shape[1]).transpose(3, 2, 0, 1)


def grid_heatmaps(trace: Any, shape: Sequence[int], species: Sequence[str], timespan: Any, *,
                  show: Sequence[str] | None = None, title: str = "", size: int = 260) -> Any:
    """Heat maps of the chosen species over the grid with one time slider.

    Parameters
    ----------
    trace : array (N * S, T)
        One trajectory (e.g. ``traces[0, 0]`` of a grid simulator's output).
    shape : (rows, cols)
    species : sequence of S str
        The agent's species (``("Bee", "BeeA", "BeeD", "P")``).
    timespan : array (T,)
    show : sequence of str, optional
        Species to draw (default: all).
    title : str
    size : int
        Width and height of each map in pixels.

    Returns
    -------
    bokeh layout
        A row of maps (colour scale per species, fixed over time) above the slider.
    """
    from bokeh.layouts import column, row
    from bokeh.models import ColorBar, ColumnDataSource, CustomJS, LinearColorMapper, Slider
    from bokeh.palettes import Viridis256
    from bokeh.plotting import figure

    frames = grid_frames(trace, shape, species)
    ts = np.asarray(timespan, dtype=np.float64).ravel()
    if ts.size != frames.shape[0]:
        raise ValueError(f"timespan has {ts.size} times, the trace {frames.shape[0]}")
    show = list(species) if show is None else list(show)
    unknown = [s for s in show if s not in species]
    if unknown:
        raise ValueError(f"show names unknown species {unknown}; the agent has {list(species)}")
    rows, cols = frames.shape[2:]
    figs, sources = [], []
    for s in show:
        k = list(species).index(s)
        hi = float(frames[:, k].max()) or 1.0
        mapper = LinearColorMapper(palette=Viridis256, low=0.0, high=hi)
        src = ColumnDataSource({"image": [frames[0, k]], "frames": [frames[:, k].reshape(len(ts), -1).tolist()]})
        fig = figure(title=f"{title} {s}".strip(), width=size, height=size, x_range=(0, cols), y_range=(rows, 0),
                     tools="hover,save", tooltips=[(s, "@image")], name=f"grid_{s}")
        fig.image(image="image", x=0, y=0, dw=cols, dh=rows, color_mapper=mapper, source=src)
        fig.add_layout(ColorBar(color_mapper=mapper, width=8), "right")
        figs.append(fig)
        sources.append(src)
    slider = Slider(start=0, end=max(len(ts) - 1, 1), value=0, step=1, title=f"time step (dt = {ts[1] - ts[0]:g})"
                    if ts.size > 1 else "time step", disabled=ts.size < 2, name="grid_time")
    slider.js_on_change("value", CustomJS(args={"sources": sources, "rows": rows, "cols": cols}, code="""
        const t = cb_obj.value;
        for (const src of sources) {
            const flat = src.data.frames[0][t];
            const img = [];
            for (let i = 0; i < rows; i++) img.push(flat.slice(i * cols, (i + 1) * cols));
            src.data = Object.assign({}, src.data, {image: [img]});
        }
    """))
    return column(row(*figs), slider)
