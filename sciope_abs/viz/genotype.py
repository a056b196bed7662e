"""A picture of a searched architecture (Bokeh): inputs, cells, nodes and the operation on every edge.

Cells are drawn left to right.  In each cell the two inputs (``in0``, ``in1``) sit on the left,
the intermediate nodes in the middle and the output (mean or sum of the last nodes) on the
right; every kept edge is a curve coloured and labelled by its operation.  Dashed grey lines
carry a state into the next cells (labelled with the input projection: ``dense``, ``tile`` or
``=`` for none).  The figures of the seed paper (11, 15, 20, 25) show the same thing.

The figure is drawn from plain data, the layout that
:func:`sciope_abs.abstraction.nas.genotype.layout_genotype` computes, so this module imports
nothing above ``viz``; ``Genotype.draw()`` and :func:`sciope_abs.abstraction.nas.draw_genotype`
are the entry points that take a genotype.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["draw_genotype_layout", "save_genotype_layout_html"]

_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf")


def draw_genotype_layout(lay: dict, *, title: str | None = None, width: int = 900, height: int = 380) -> Any:
    """A Bokeh figure of a genotype's layout.

    Parameters
    ----------
    lay : dict
        :func:`sciope_abs.abstraction.nas.genotype.layout_genotype` of the genotype: ``nodes``,
        ``edges``, ``links``, ``ops`` (colour order) and ``title``.
    title : str, optional
        Default: the layout's ``title``.
    width, height : int
        Figure size in pixels.

    Returns
    -------
    bokeh.plotting.figure
    """
    from bokeh.models import ColumnDataSource, HoverTool, LabelSet
    from bokeh.plotting import figure

    pos = {n["id"]: (n["x"], n["y"]) for n in lay["nodes"]}
    colour = {op: _PALETTE[i % len(_PALETTE)] for i, op in enumerate(lay["ops"])}

    fig = figure(title=title or lay["title"],
                 width=width, height=height, toolbar_location="above", tools="pan,wheel_zoom,reset,save")
    fig.axis.visible = False
    fig.grid.visible = False

    # links: states into cells and nodes into outputs
    lcols: dict[str, list] = {k: [] for k in ("x0", "y0", "x1", "y1", "label", "mx", "my")}
    for link in lay["links"]:
        (xa, ya), (xb, yb) = pos[link["src"]], pos[link["dst"]]
        for k, v in zip(lcols, (xa, ya, xb, yb, link["label"], (xa + xb) / 2, (ya + yb) / 2)):
            lcols[k].append(v)
    links = ColumnDataSource(lcols)
    fig.segment("x0", "y0", "x1", "y1", source=links, line_color="#aaaaaa", line_dash="dashed",
                line_width=1.5)
    fig.add_layout(LabelSet(x="mx", y="my", text="label", source=links, text_font_size="8pt",
                            text_color="#777777", text_align="center"))

    # operation edges: quadratic curves bent by the vertical gap, coloured by operation
    ecols: dict[str, list] = {k: [] for k in ("x0", "y0", "x1", "y1", "cx", "cy", "op", "color", "mx", "my")}
    for i, e in enumerate(lay["edges"]):
        (xa, ya), (xb, yb) = pos[e["src"]], pos[e["dst"]]
        bend = 0.35 * (1 if i % 2 == 0 else -1)
        cx, cy = (xa + xb) / 2, (ya + yb) / 2 + bend
        row = (xa, ya, xb, yb, cx, cy, e["op"], colour[e["op"]],
               0.25 * xa + 0.5 * cx + 0.25 * xb, 0.25 * ya + 0.5 * cy + 0.25 * yb)
        for k, v in zip(ecols, row):
            ecols[k].append(v)
    edges = ColumnDataSource(ecols)
    fig.quadratic("x0", "y0", "x1", "y1", "cx", "cy", source=edges, line_color="color", line_width=3)
    fig.add_layout(LabelSet(x="mx", y="my", text="op", source=edges, text_font_size="9pt",
                            text_color="color", text_align="center", y_offset=3))

    # nodes
    kinds = {"input": ("#333333", 16), "cell_input": ("#999999", 12), "node": ("#4c72b0", 18),
             "cell_output": ("#dd8452", 16)}
    nodes = ColumnDataSource(dict(
        x=[n["x"] for n in lay["nodes"]], y=[n["y"] for n in lay["nodes"]],
        label=[n["label"] for n in lay["nodes"]], kind=[n["kind"] for n in lay["nodes"]],
        width=[n["width"] for n in lay["nodes"]],
        color=[kinds[n["kind"]][0] for n in lay["nodes"]], size=[kinds[n["kind"]][1] for n in lay["nodes"]]))
    renderer = fig.scatter("x", "y", source=nodes, size="size", fill_color="color", line_color="white")
    fig.add_layout(LabelSet(x="x", y="y", text="label", source=nodes, text_font_size="8pt",
                            text_align="center", y_offset=-22))
    fig.add_tools(HoverTool(renderers=[renderer], tooltips=[("node", "@label"), ("width", "@width")]))
    xs = [n["x"] for n in lay["nodes"]]
    fig.x_range.start, fig.x_range.end = min(xs) - 0.8, max(xs) + 0.8
    fig.y_range.start, fig.y_range.end = -2.6, 2.4
    return fig


def save_genotype_layout_html(lay: dict, path: str | Path, **kwargs: Any) -> Path:
    """Draw a genotype's layout (:func:`draw_genotype_layout`, same keywords) and write a
    standalone HTML file (Bokeh JS inlined, works offline)."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    fig = draw_genotype_layout(lay, **kwargs)
    path = Path(path)
    path.write_text(file_html(fig, INLINE, title="sciope_abs genotype"))
    return path
