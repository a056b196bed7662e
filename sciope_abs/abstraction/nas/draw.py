"""A picture of a genotype (Bokeh): inputs, cells, nodes and the operation chosen on every edge.

Cells are drawn left to right.  In each cell the two inputs (``in0``, ``in1``) sit on the left,
the intermediate nodes in the middle and the output (mean or sum of the last nodes) on the
right; every kept edge is a curve coloured and labelled by its operation.  Dashed grey lines
carry a state into the next cells (labelled with the input projection: ``dense``, ``tile`` or
``=`` for none).  The figures of the seed paper (11, 15, 20, 25) show the same thing.
"""
from __future__ import annotations

from pathlib import Path

from .genotype import Genotype

__all__ = ["draw_genotype", "save_genotype_html", "layout_genotype"]

_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf")


def layout_genotype(genotype: Genotype) -> dict:
    """Positions and connections of the drawing (plain data, used by :func:`draw_genotype`).

    Returns
    -------
    dict
        ``nodes``: list of ``{"id", "label", "x", "y", "kind", "width"}``; ``edges``: list of
        ``{"src", "dst", "op"}`` (one per kept operation); ``links``: list of
        ``{"src", "dst", "label"}`` (states into cells, nodes into cell outputs).
    """
    if isinstance(genotype, dict):
        genotype = Genotype.from_dict(genotype)
    nodes, edges, links = [], [], []
    nodes.append({"id": "x", "label": f"input ({genotype.input_dim})", "x": 0.0, "y": 0.0,
                  "kind": "input", "width": genotype.input_dim})
    state_ids = ["x"]
    x0 = 1.5
    for spec, cell in zip(genotype.cells, genotype.nodes):
        c = spec.index
        n = spec.n_nodes
        ids = [f"c{c}_in0", f"c{c}_in1"] + [f"c{c}_n{j}" for j in range(n)]
        nodes.append({"id": ids[0], "label": f"c{c}.in0", "x": x0, "y": 1.0, "kind": "cell_input",
                      "width": spec.width})
        nodes.append({"id": ids[1], "label": f"c{c}.in1", "x": x0, "y": -1.0, "kind": "cell_input",
                      "width": spec.width})
        for k in range(2):
            kind = spec.preprocess_kind(k)
            label = {"identity": "=", "tile": f"tile x{spec.width // spec.input_widths[k]}",
                     "dense": f"dense {spec.input_widths[k]}->{spec.width}"}[kind]
            links.append({"src": state_ids[spec.sources[k]], "dst": ids[k], "label": label})
        for j in range(n):
            y = 0.0 if n == 1 else 1.6 - 3.2 * j / (n - 1)
            nodes.append({"id": ids[2 + j], "label": f"c{c}.node{j}", "x": x0 + 1.2 * (j + 1), "y": y,
                          "kind": "node", "width": spec.width})
        for j, node in enumerate(cell):
            for s, op in node:
                edges.append({"src": ids[s], "dst": ids[2 + j], "op": op})
        out_id = f"c{c}_out"
        nodes.append({"id": out_id, "label": f"cell{c} ({spec.aggregate})", "x": x0 + 1.2 * (n + 1),
                      "y": 0.0, "kind": "cell_output", "width": spec.width})
        for j in spec.output_nodes():
            links.append({"src": ids[2 + j], "dst": out_id, "label": ""})
        state_ids.append(out_id)
        x0 += 1.2 * (n + 1) + 1.5
    return {"nodes": nodes, "edges": edges, "links": links}


def draw_genotype(genotype: Genotype | dict, *, title: str | None = None, width: int = 900,
                  height: int = 380):
    """A Bokeh figure of ``genotype`` (a :class:`~.genotype.Genotype` or its dict).

    Returns
    -------
    bokeh.plotting.figure
    """
    from bokeh.models import ColumnDataSource, HoverTool, LabelSet
    from bokeh.plotting import figure

    if isinstance(genotype, dict):
        genotype = Genotype.from_dict(genotype)
    lay = layout_genotype(genotype)
    pos = {n["id"]: (n["x"], n["y"]) for n in lay["nodes"]}
    ops = list(dict.fromkeys(list(genotype.search_space) + sorted(genotype.ops_used())))
    colour = {op: _PALETTE[i % len(_PALETTE)] for i, op in enumerate(ops)}

    fig = figure(title=title or f"searched body: {genotype.n_cells} cell(s), width {genotype.output_width}",
                 width=width, height=height, toolbar_location="above", tools="pan,wheel_zoom,reset,save")
    fig.axis.visible = False
    fig.grid.visible = False

    # links: states into cells and nodes into outputs
    lx0, ly0, lx1, ly1, llabel, lmx, lmy = [], [], [], [], [], [], []
    for link in lay["links"]:
        (xa, ya), (xb, yb) = pos[link["src"]], pos[link["dst"]]
        lx0.append(xa), ly0.append(ya), lx1.append(xb), ly1.append(yb)
        llabel.append(link["label"]), lmx.append((xa + xb) / 2), lmy.append((ya + yb) / 2)
    links = ColumnDataSource(dict(x0=lx0, y0=ly0, x1=lx1, y1=ly1, label=llabel, mx=lmx, my=lmy))
    fig.segment("x0", "y0", "x1", "y1", source=links, line_color="#aaaaaa", line_dash="dashed",
                line_width=1.5)
    fig.add_layout(LabelSet(x="mx", y="my", text="label", source=links, text_font_size="8pt",
                            text_color="#777777", text_align="center"))

    # operation edges: quadratic curves bent by the vertical gap, coloured by operation
    ex0, ey0, ex1, ey1, ecx, ecy, eop, ecol, emx, emy = [], [], [], [], [], [], [], [], [], []
    for i, e in enumerate(lay["edges"]):
        (xa, ya), (xb, yb) = pos[e["src"]], pos[e["dst"]]
        bend = 0.35 * (1 if i % 2 == 0 else -1)
        cx, cy = (xa + xb) / 2, (ya + yb) / 2 + bend
        ex0.append(xa), ey0.append(ya), ex1.append(xb), ey1.append(yb), ecx.append(cx), ecy.append(cy)
        eop.append(e["op"]), ecol.append(colour[e["op"]])
        emx.append(0.25 * xa + 0.5 * cx + 0.25 * xb), emy.append(0.25 * ya + 0.5 * cy + 0.25 * yb)
    edges = ColumnDataSource(dict(x0=ex0, y0=ey0, x1=ex1, y1=ey1, cx=ecx, cy=ecy, op=eop,
                                  color=ecol, mx=emx, my=emy))
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


def save_genotype_html(genotype: Genotype | dict, path: str | Path, **kwargs) -> Path:
    """Draw ``genotype`` and write a standalone HTML file (Bokeh JS inlined, works offline)."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    fig = draw_genotype(genotype, **kwargs)
    path = Path(path)
    path.write_text(file_html(fig, INLINE, title="sciope_abs genotype"))
    return path
