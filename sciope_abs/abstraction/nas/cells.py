"""Computational cells: the backbone shared by the supernet and the derived network.

A network body is ``C_n`` cells.  Cell ``c`` has two inputs, the outputs of cells ``c-2`` and
``c-1`` (the model input where there is no such cell), and ``C_s`` intermediate nodes.  Node ``j``
is a sum over its predecessors (the two inputs and nodes ``0..j-1``) of an operation on each
(equation 9 of the seed paper).  The cell output aggregates the last ``n_aggregate`` nodes (mean
or sum).  The first cell is *expanding*: its width is ``expansion`` times the model input width;
the other cells keep that width.  An input whose width differs from the cell's is brought to it
by a linear dense layer, or, with ``expand="tile"`` and a width that divides, by repeating each
feature (``(x1, x2) -> (x1, x1, x2, x2)``).

Sources inside a cell are numbered ``0`` (input 0, two cells back), ``1`` (input 1, previous
cell) and ``2 + j`` (node ``j``).  This module is plain Python: it describes the backbone;
:mod:`.supernet` and :mod:`.genotype` build Keras layers from it with the same layer names, so
weights move from the supernet to the derived network by name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..._checks import check_positive_int

__all__ = ["CellSpec", "build_cell_specs", "apply_cell", "EXPAND_MODES", "AGGREGATES"]

EXPAND_MODES = ("dense", "tile")
AGGREGATES = ("mean", "sum")


@dataclass(frozen=True)
class CellSpec:
    """One cell of the backbone.

    Attributes
    ----------
    index : int
        Position of the cell (0 = first).
    width : int
        Width of every node of the cell and of its output.
    sources : tuple of 2 int
        Which earlier states feed inputs 0 and 1: 0 = model input, ``k + 1`` = output of cell ``k``.
    input_widths : tuple of 2 int
        Widths of those states.
    n_nodes : int
        Intermediate nodes ``C_s``.
    expand : {"dense", "tile"}
        How an input of another width is brought to ``width``.
    aggregate : {"mean", "sum"}
        How the output combines the aggregated nodes.
    n_aggregate : int
        The last ``n_aggregate`` nodes form the output.
    """

    index: int
    width: int
    sources: tuple[int, int]
    input_widths: tuple[int, int]
    n_nodes: int
    expand: str = "dense"
    aggregate: str = "mean"
    n_aggregate: int = 2

    @property
    def expanding(self) -> bool:
        return any(w != self.width for w in self.input_widths)

    def preprocess_kind(self, k: int) -> str:
        """``"identity"``, ``"tile"`` or ``"dense"`` for input ``k``."""
        w_in = self.input_widths[k]
        if w_in == self.width:
            return "identity"
        if self.expand == "tile" and self.width % w_in == 0:
            return "tile"
        return "dense"

    def preprocess_name(self, k: int) -> str:
        return f"cell{self.index}_pre{k}"

    def edges(self) -> list[tuple[int, int]]:
        """All ``(node, source)`` pairs of the fully connected cell, node by node."""
        return [(j, s) for j in range(self.n_nodes) for s in range(2 + j)]

    def edge_name(self, node: int, source: int, op: str | None = None) -> str:
        base = f"cell{self.index}_node{node}_from{source}"
        return base if op is None else f"{base}_{op}"

    def output_nodes(self) -> list[int]:
        return list(range(self.n_nodes - self.n_aggregate, self.n_nodes))

    def source_label(self, source: int) -> str:
        if source < 2:
            return f"in{source}"
        return f"node{source - 2}"

    def to_dict(self) -> dict:
        return {"index": self.index, "width": self.width, "sources": list(self.sources),
                "input_widths": list(self.input_widths), "n_nodes": self.n_nodes,
                "expand": self.expand, "aggregate": self.aggregate, "n_aggregate": self.n_aggregate}

    @classmethod
    def from_dict(cls, d: dict) -> "CellSpec":
        return cls(index=int(d["index"]), width=int(d["width"]),
                   sources=(int(d["sources"][0]), int(d["sources"][1])),
                   input_widths=(int(d["input_widths"][0]), int(d["input_widths"][1])),
                   n_nodes=int(d["n_nodes"]), expand=str(d["expand"]),
                   aggregate=str(d["aggregate"]), n_aggregate=int(d["n_aggregate"]))


def build_cell_specs(input_dim: int, cells: int = 2, cell_size: int = 2, expansion: int = 20, *,
                     expand: str = "dense", aggregate: str = "mean",
                     n_aggregate: int | None = None) -> list[CellSpec]:
    """The backbone: ``cells`` cells of ``cell_size`` nodes, the first widened ``expansion`` times.

    Raises a one-line ``ValueError`` for a non-positive size or an unknown mode.
    """
    input_dim = check_positive_int(input_dim, "input_dim")
    cells = check_positive_int(cells, "cells")
    cell_size = check_positive_int(cell_size, "cell_size")
    expansion = check_positive_int(expansion, "expansion")
    if expand not in EXPAND_MODES:
        raise ValueError(f"expand must be one of {EXPAND_MODES}, got {expand!r}")
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
    n_agg = cell_size if n_aggregate is None else check_positive_int(n_aggregate, "n_aggregate")
    if n_agg > cell_size:
        raise ValueError(f"n_aggregate={n_agg} exceeds cell_size={cell_size}")
    width = input_dim * expansion
    widths = [input_dim]          # widths of states: model input, then each cell's output
    specs = []
    for c in range(cells):
        sources = (max(c - 1, 0), c)
        specs.append(CellSpec(index=c, width=width, sources=sources,
                              input_widths=(widths[sources[0]], widths[sources[1]]),
                              n_nodes=cell_size, expand=expand, aggregate=aggregate,
                              n_aggregate=n_agg))
        widths.append(width)
    return specs


def apply_cell(spec: CellSpec, inputs: Sequence, edge_fn: Callable, add: Callable,
               aggregate: Callable, preprocess: Callable) -> Any:
    """Run one cell on its two input states.

    Parameters
    ----------
    spec : CellSpec
    inputs : two tensors (the states ``spec.sources`` point at)
    edge_fn : ``(node, source, tensor) -> tensor or None``
        The operation on an edge (``None``: the edge is absent).
    add : ``list[tensor] -> tensor``
        Sum of a node's incoming edges.
    aggregate : ``list[tensor] -> tensor``
        The cell output from the aggregated nodes.
    preprocess : ``(k, tensor) -> tensor``
        Brings input ``k`` to the cell width.
    """
    states = [preprocess(0, inputs[0]), preprocess(1, inputs[1])]
    for j in range(spec.n_nodes):
        terms = []
        for s in range(2 + j):
            out = edge_fn(j, s, states[s])
            if out is not None:
                terms.append(out)
        if not terms:
            raise ValueError(f"cell {spec.index} node {j} has no incoming edge")
        states.append(terms[0] if len(terms) == 1 else add(terms))
    outs = [states[2 + j] for j in spec.output_nodes()]
    return outs[0] if len(outs) == 1 else aggregate(outs)
