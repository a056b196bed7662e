"""The genotype: the discrete architecture a search ends with.

A :class:`Genotype` is the backbone (:class:`~.cells.CellSpec` per cell) plus, for every
intermediate node, its kept incoming edges as ``(source, operation)`` pairs (at most
``max_inputs``, never the ``zero`` operation).  It is plain data: JSON in, JSON out, and
:meth:`Genotype.build_body` turns it into a fixed Keras body ``(b, input_dim) -> (b, width)`` whose
layer names match the supernet's, so searched weights carry over by name.
:func:`layout_genotype` gives the picture as plain data; the Bokeh figure is drawn in
:mod:`sciope_abs.viz.genotype` (:func:`draw_genotype`, :func:`save_genotype_html`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .cells import CellSpec, apply_cell
from .operations import ZERO, get_operation

__all__ = ["Genotype", "layout_genotype", "draw_genotype", "save_genotype_html"]

Edge = tuple[int, str]          # (source within the cell, operation name)


@dataclass(frozen=True)
class Genotype:
    """A derived architecture.

    Attributes
    ----------
    input_dim : int
        Width of the model input (scaled state ‖ rates).
    cells : tuple of CellSpec
        The backbone.
    nodes : tuple (per cell) of tuple (per node) of tuple of ``(source, op)``
        Kept incoming edges of every node; sources as in :mod:`.cells` (0, 1 = cell inputs,
        ``2 + j`` = node ``j``).
    search_space : tuple of str
        The candidate operations the search chose from.
    max_inputs : int
        Upper bound on incoming edges per node (2 in the paper).
    """

    input_dim: int
    cells: tuple[CellSpec, ...]
    nodes: tuple[tuple[tuple[Edge, ...], ...], ...]
    search_space: tuple[str, ...] = ()
    max_inputs: int = 2
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cells", tuple(self.cells))
        object.__setattr__(self, "nodes", tuple(
            tuple(tuple((int(s), str(op)) for s, op in node) for node in cell) for cell in self.nodes))
        object.__setattr__(self, "search_space", tuple(self.search_space))
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise a one-line ``ValueError`` unless this is a valid DAG of known, non-zero operations."""
        if len(self.cells) < 1:
            raise ValueError("genotype needs at least one cell")
        if len(self.nodes) != len(self.cells):
            raise ValueError(f"genotype has {len(self.cells)} cells but node lists for {len(self.nodes)}")
        for c, (spec, cell_nodes) in enumerate(zip(self.cells, self.nodes)):
            if spec.index != c:
                raise ValueError(f"cell {c} has index {spec.index}")
            if any(s > c for s in spec.sources):
                raise ValueError(f"cell {c} reads a later cell: sources {spec.sources}")
            if len(cell_nodes) != spec.n_nodes:
                raise ValueError(f"cell {c} declares {spec.n_nodes} nodes but lists {len(cell_nodes)}")
            for j, node in enumerate(cell_nodes):
                if not 1 <= len(node) <= self.max_inputs:
                    raise ValueError(f"cell {c} node {j} has {len(node)} inputs (allowed 1..{self.max_inputs})")
                sources = [s for s, _ in node]
                if len(set(sources)) != len(sources):
                    raise ValueError(f"cell {c} node {j} repeats a source: {sources}")
                for s, op in node:
                    if not 0 <= s < 2 + j:
                        raise ValueError(f"cell {c} node {j} reads source {s}, not a predecessor (0..{1 + j})")
                    if op == ZERO:
                        raise ValueError(f"cell {c} node {j} keeps the 'zero' operation")
                    get_operation(op)

    # ------------------------------------------------------------------ views
    @property
    def n_cells(self) -> int:
        return len(self.cells)

    @property
    def output_width(self) -> int:
        return self.cells[-1].width

    def ops_used(self) -> set[str]:
        """The operations kept anywhere in the network."""
        return {op for cell in self.nodes for node in cell for _, op in node}

    def edges(self) -> list[tuple[int, int, int, str]]:
        """All kept edges as ``(cell, node, source, op)``."""
        return [(c, j, s, op) for c, cell in enumerate(self.nodes)
                for j, node in enumerate(cell) for s, op in node]

    def __str__(self) -> str:
        lines = [f"Genotype(input_dim={self.input_dim}, width={self.output_width})"]
        for spec, cell in zip(self.cells, self.nodes):
            parts = ["; ".join(f"node{j} = " + " + ".join(f"{op}({spec.source_label(s)})" for s, op in node)
                               for j, node in enumerate(cell))]
            lines.append(f"  cell{spec.index} [in0=state{spec.sources[0]}, in1=state{spec.sources[1]}]: "
                         + parts[0])
        return "\n".join(lines)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        return {"format": "sciope_abs.genotype/1", "input_dim": self.input_dim,
                "cells": [spec.to_dict() for spec in self.cells],
                "nodes": [[[[s, op] for s, op in node] for node in cell] for cell in self.nodes],
                "search_space": list(self.search_space), "max_inputs": self.max_inputs,
                "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, d: dict) -> "Genotype":
        try:
            return cls(input_dim=int(d["input_dim"]),
                       cells=tuple(CellSpec.from_dict(c) for c in d["cells"]),
                       nodes=tuple(tuple(tuple((int(s), str(op)) for s, op in node) for node in cell)
                                   for cell in d["nodes"]),
                       search_space=tuple(d.get("search_space", ())),
                       max_inputs=int(d.get("max_inputs", 2)), meta=dict(d.get("meta", {})))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a genotype description: missing or malformed {exc}") from None

    def to_json(self, path: str | Path | None = None) -> str:
        """The JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> "Genotype":
        """From JSON text or a path to a JSON file (``FileNotFoundError`` if the path is missing)."""
        if isinstance(text_or_path, Path) or not str(text_or_path).lstrip().startswith("{"):
            path = Path(text_or_path)
            if not path.is_file():
                raise FileNotFoundError(f"genotype file not found: {path}")
            text_or_path = path.read_text()
        try:
            return cls.from_dict(json.loads(text_or_path))
        except json.JSONDecodeError as exc:
            raise ValueError(f"genotype JSON is malformed: {exc}") from None

    # ------------------------------------------------------------------ networks
    def build_body(self, name: str = "nas_body") -> Any:
        """A fixed Keras functional model ``(b, input_dim) -> (b, output_width)``.

        Layer names follow :class:`~.cells.CellSpec` (``cell0_pre1``, ``cell1_node0_from2_relu``),
        the same names the supernet uses.
        """
        import keras

        from ..layers import Tile

        x = keras.Input(shape=(self.input_dim,), name="inputs")
        states = [x]
        for spec, cell_nodes in zip(self.cells, self.nodes):
            kept = {(j, s): op for j, node in enumerate(cell_nodes) for s, op in node}

            def edge_fn(j, s, h, spec=spec, kept=kept):
                op = kept.get((j, s))
                if op is None:
                    return None
                return get_operation(op)(spec.width, spec.edge_name(j, s, op))(h)

            def preprocess(k, h, spec=spec):
                kind = spec.preprocess_kind(k)
                if kind == "identity":
                    return h
                if kind == "tile":
                    return Tile(spec.width // spec.input_widths[k], name=spec.preprocess_name(k))(h)
                return keras.layers.Dense(spec.width, name=spec.preprocess_name(k))(h)

            agg = keras.layers.Average if spec.aggregate == "mean" else keras.layers.Add
            out = apply_cell(spec, [states[s] for s in spec.sources], edge_fn,
                             add=lambda terms: keras.layers.Add()(terms),
                             aggregate=lambda outs, agg=agg: agg()(outs),
                             preprocess=preprocess)
            states.append(out)
        return keras.Model(x, states[-1], name=name)

    def layout(self) -> dict:
        """Positions and connections of the drawing (see :func:`layout_genotype`)."""
        return layout_genotype(self)

    def draw(self, **kwargs: Any) -> Any:
        """A Bokeh figure of the network (see :func:`draw_genotype`)."""
        return draw_genotype(self, **kwargs)

    @staticmethod
    def derive(specs: Sequence[CellSpec], probabilities: Any, ops: Sequence[str], *, input_dim: int,
               max_inputs: int = 2) -> "Genotype":
        """Discretise edge probabilities ``(n_edges, n_ops)`` (edges in :meth:`CellSpec.edges` order,
        cell by cell): the strongest non-zero operation per edge, then the ``max_inputs``
        strongest incoming edges per node (edge strength = that operation's probability).
        """
        import numpy as np

        probs = np.asarray(probabilities, dtype=np.float64)
        ops = tuple(ops)
        n_edges = sum(len(spec.edges()) for spec in specs)
        if probs.shape != (n_edges, len(ops)):
            raise ValueError(f"probabilities must have shape ({n_edges}, {len(ops)}), got {probs.shape}")
        nonzero = [i for i, op in enumerate(ops) if op != ZERO]
        if not nonzero:
            raise ValueError("cannot derive a genotype from a search space with only 'zero'")
        e = 0
        all_nodes = []
        for spec in specs:
            cell_nodes = []
            for j in range(spec.n_nodes):
                cands = []
                for s in range(2 + j):
                    row = probs[e]
                    best = max(nonzero, key=lambda i: (row[i], -i))
                    cands.append((row[best], -s, s, ops[best]))
                    e += 1
                cands.sort(reverse=True)
                kept = sorted((s, op) for _, _, s, op in cands[:max_inputs])
                cell_nodes.append(tuple(kept))
            all_nodes.append(tuple(cell_nodes))
        return Genotype(input_dim=input_dim, cells=tuple(specs), nodes=tuple(all_nodes),
                        search_space=ops, max_inputs=max_inputs)


def layout_genotype(genotype: Genotype | dict) -> dict:
    """Positions and connections of the drawing (plain data, drawn by :func:`draw_genotype`).

    Returns
    -------
    dict
        ``nodes``: list of ``{"id", "label", "x", "y", "kind", "width"}``; ``edges``: list of
        ``{"src", "dst", "op"}`` (one per kept operation); ``links``: list of
        ``{"src", "dst", "label"}`` (states into cells, nodes into cell outputs); ``ops``: the
        operations in colour order (search space first); ``title``: a default figure title.
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
    ops = list(dict.fromkeys(list(genotype.search_space) + sorted(genotype.ops_used())))
    title = f"searched body: {genotype.n_cells} cell(s), width {genotype.output_width}"
    return {"nodes": nodes, "edges": edges, "links": links, "ops": ops, "title": title}


def draw_genotype(genotype: Genotype | dict, **kwargs: Any) -> Any:
    """A Bokeh figure of ``genotype`` (a :class:`Genotype` or its dict); keywords ``title``,
    ``width``, ``height`` of :func:`sciope_abs.viz.genotype.draw_genotype_layout`."""
    from ...viz.genotype import draw_genotype_layout

    return draw_genotype_layout(layout_genotype(genotype), **kwargs)


def save_genotype_html(genotype: Genotype | dict, path: str | Path, **kwargs: Any) -> Path:
    """Draw ``genotype`` and write a standalone HTML file (Bokeh JS inlined, works offline)."""
    from ...viz.genotype import save_genotype_layout_html

    return save_genotype_layout_html(layout_genotype(genotype), path, **kwargs)
