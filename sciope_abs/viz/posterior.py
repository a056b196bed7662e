"""Posterior figures: weighted marginals and pairwise scatters, and two posteriors side by side."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

__all__ = ["posterior_grid", "posterior_comparison"]


def posterior_grid(samples: Any, weights: Any, names: Sequence[str], truth: Optional[np.ndarray] = None, *,
                   bins: int = 30, size: int = 180) -> Any:
    """Bokeh grid: weighted marginal histograms on the diagonal, pairwise scatter below it.

    Parameters
    ----------
    samples : array (n, d)
    weights : array (n,)
    names : sequence of d str
    truth : array (d,), optional
        Marked as a red line on the marginals and a red cross on the scatters.
    bins : int
    size : int
        Width and height of each panel in pixels.
    """
    from bokeh.layouts import gridplot
    from bokeh.models import Span
    from bokeh.plotting import figure

    samples = np.asarray(samples, dtype=np.float64)
    d = len(names)
    rows = []
    alpha = float(np.clip(30.0 / max(samples.shape[0], 1), 0.05, 0.6))
    for i in range(d):
        row: list = []
        for j in range(d):
            if j > i:
                row.append(None)
                continue
            p = figure(width=size, height=size, tools="pan,wheel_zoom,box_zoom,reset,save",
                       x_axis_label=names[j] if i == d - 1 else None,
                       y_axis_label=(names[i] if j == 0 and i > 0 else ("density" if i == j == 0 else None)))
            if i == j:
                x = samples[:, i]
                if len(x):
                    hist, edges = np.histogram(x, bins=bins, weights=weights, density=True)
                    p.quad(top=hist, bottom=0, left=edges[:-1], right=edges[1:], fill_alpha=0.6,
                           line_color="white")
                if truth is not None:
                    p.add_layout(Span(location=truth[i], dimension="height", line_color="red", line_width=2))
            else:
                p.scatter(samples[:, j], samples[:, i], size=3, alpha=alpha)
                if truth is not None:
                    p.scatter([truth[j]], [truth[i]], marker="x", size=12, color="red", line_width=2)
            row.append(p)
        rows.append(row)
    return gridplot(rows)


def posterior_comparison(names: Sequence[str], posteriors: Sequence[tuple], truth: Optional[dict] = None, *,
                         bins: int = 30, title: str = "{name}") -> Any:
    """One panel per parameter with the weighted marginals of several posteriors overlaid.

    Parameters
    ----------
    names : sequence of d str
    posteriors : sequence of (samples (n, d), weights (n,), colour, label)
        Drawn in this order (the last on top); the bins span all of them.
    truth : dict name -> value, optional
        A red line per panel.
    bins : int
    title : str
        Panel title; ``{name}`` is replaced by the parameter's name.
    """
    from bokeh.layouts import row
    from bokeh.models import Span
    from bokeh.plotting import figure

    figs = []
    for j, name in enumerate(names):
        f = figure(title=title.format(name=name), width=360, height=260, x_axis_label=name, y_axis_label="density")
        lo = min(float(np.min(s[:, j])) for s, *_ in posteriors)
        hi = max(float(np.max(s[:, j])) for s, *_ in posteriors)
        edges = np.linspace(lo, hi, bins + 1)
        for samples, weights, colour, label in posteriors:
            h, _ = np.histogram(samples[:, j], bins=edges, weights=weights, density=True)
            f.quad(left=edges[:-1], right=edges[1:], bottom=0, top=h, color=colour, fill_alpha=0.4, line_alpha=0,
                   legend_label=label)
        if truth is not None:
            f.add_layout(Span(location=truth[name], dimension="height", line_color="red", line_width=2))
        f.legend.label_text_font_size = "8pt"
        figs.append(f)
    return row(*figs)
