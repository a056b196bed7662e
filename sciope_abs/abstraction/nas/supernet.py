"""The over-parameterised network of the search: every edge is a mixed operation.

Each edge ``e`` holds all candidate operations and a row ``alpha[e]`` of architecture parameters;
``p_e = softmax(alpha[e])`` (equation 10 of the seed paper).  A forward pass takes binary gates
``g (n_edges, n_ops)``, one-hot per edge, sampled from ``p`` (path binarisation, equations
11–12): the edge outputs ``sum_i g_i o_i(x)``, i.e. the one sampled operation.  Because the gates
enter the graph multiplicatively, ``dL/dg_i = <dL/dy, o_i(x)>`` is available for every
candidate, which is what the architecture update uses (:mod:`.strategy`).

``alpha`` is a non-trainable Keras weight: the weight optimiser never sees it, the architecture
optimiser updates it explicitly.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import keras
import numpy as np
from keras import ops as kops

from ...seeding import SeedLike, as_generator
from .cells import CellSpec, apply_cell, build_cell_specs
from .genotype import Genotype
from ..layers import Tile
from .operations import ZERO, check_ops, get_operation

__all__ = ["MixedOp", "SuperNet"]


class MixedOp(keras.layers.Layer):
    """All candidate operations of one edge; the output is their gate-weighted sum.

    ``call(x (b, w), gate (n_ops,), sparse=False) -> (b, w)``.  The ``zero`` candidate contributes
    nothing and is not computed.  With ``sparse=True`` the gate must be one-hot and only the
    selected operation is computed (a switch): the same output and weight gradients at a fraction
    of the cost, but no gradient with respect to the gate.
    """

    def __init__(self, spec: CellSpec, node: int, source: int, ops: Sequence[str], **kwargs: Any):
        super().__init__(name=spec.edge_name(node, source), **kwargs)
        self.op_names = tuple(ops)
        self.candidates = {op: get_operation(op)(spec.width, spec.edge_name(node, source, op))
                           for op in self.op_names if op != ZERO}

    def build(self, input_shape: Any) -> None:
        for layer in self.candidates.values():
            layer.build(input_shape)

    def call(self, x: Any, gate: Any, sparse: bool = False) -> Any:
        if sparse:   # only the gated operation runs (gate is one-hot): weight steps, evaluation
            def branch(op: str) -> Callable[[], Any]:
                if op == ZERO:
                    return lambda: kops.zeros_like(x)
                layer = self.candidates[op]
                return lambda: layer(x)

            branches = [branch(op) for op in self.op_names]
            return kops.switch(kops.cast(kops.argmax(gate), "int32"), branches)
        out = None
        for i, op in enumerate(self.op_names):
            if op == ZERO:
                continue
            term = gate[i] * self.candidates[op](x)
            out = term if out is None else out + term
        return out


class SuperNet(keras.layers.Layer):
    """The search-space body ``(b, input_dim) -> (b, width)`` with architecture parameters.

    Parameters
    ----------
    input_dim : int
        Width of the (scaled) input, ``S + p``.
    cells, cell_size, expansion : int
        ``C_n``, ``C_s`` and ``d`` of the paper (defaults 2, 2, 20).
    ops : sequence of str, optional
        Candidate operations (default: all built-ins, :data:`.operations.DEFAULT_OPS`).
    expand : {"dense", "tile"}
        How cell inputs are widened.
    aggregate : {"mean", "sum"}, n_aggregate : int, optional
        Cell output = aggregate of the last ``n_aggregate`` nodes (default all).

    Attributes
    ----------
    specs : list of CellSpec
    edges : list of ``(cell, node, source)``, the row order of ``alpha``
    alpha : Keras variable, shape (n_edges, n_ops)
    """

    def __init__(self, input_dim: int, cells: int = 2, cell_size: int = 2, expansion: int = 20,
                 ops: Sequence[str] | None = None, *, expand: str = "dense", aggregate: str = "mean",
                 n_aggregate: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.ops = check_ops(ops)
        self.input_dim = int(input_dim)
        self.specs = build_cell_specs(input_dim, cells, cell_size, expansion, expand=expand,
                                      aggregate=aggregate, n_aggregate=n_aggregate)
        self.edges: list[tuple[int, int, int]] = []
        self.mixed: dict[tuple[int, int, int], MixedOp] = {}
        self.preprocessors: dict[tuple[int, int], keras.layers.Layer] = {}
        for spec in self.specs:
            for k in range(2):
                kind = spec.preprocess_kind(k)
                if kind == "dense":
                    self.preprocessors[(spec.index, k)] = keras.layers.Dense(
                        spec.width, name=spec.preprocess_name(k))
                elif kind == "tile":
                    self.preprocessors[(spec.index, k)] = Tile(
                        spec.width // spec.input_widths[k], name=spec.preprocess_name(k))
            for j, s in spec.edges():
                self.edges.append((spec.index, j, s))
                self.mixed[(spec.index, j, s)] = MixedOp(spec, j, s, self.ops)
        self._edge_index = {e: i for i, e in enumerate(self.edges)}
        # keep tracked lists so Keras sees every sublayer
        self._mixed_list = list(self.mixed.values())
        self._pre_list = list(self.preprocessors.values())
        self.alpha = self.add_weight(name="alpha", shape=(len(self.edges), len(self.ops)),
                                     initializer="zeros", trainable=False)

    # ------------------------------------------------------------------ sizes
    @property
    def n_edges(self) -> int:
        return len(self.edges)

    @property
    def n_ops(self) -> int:
        return len(self.ops)

    @property
    def output_width(self) -> int:
        return self.specs[-1].width

    @property
    def weight_variables(self) -> list:
        """Every weight of the operations and the input projections (not ``alpha``)."""
        return list(self.trainable_variables)

    # ------------------------------------------------------------------ forward
    def call(self, x: Any, gates: Any = None, sparse: bool = False) -> Any:
        """``x (b, input_dim)``, ``gates (n_edges, n_ops)``; default gates: argmax of ``alpha``.

        ``sparse=True`` (one-hot gates) computes only the selected operation of every edge."""
        if gates is None:
            gates = kops.one_hot(kops.argmax(self.alpha, axis=-1), self.n_ops)
        states = [x]
        for spec in self.specs:
            c = spec.index

            def edge_fn(j, s, h, c=c):
                return self.mixed[(c, j, s)](h, gates[self._edge_index[(c, j, s)]], sparse=sparse)

            def preprocess(k, h, c=c):
                layer = self.preprocessors.get((c, k))
                return h if layer is None else layer(h)

            def aggregate(outs, spec=spec):
                total = outs[0]
                for o in outs[1:]:
                    total = total + o
                return total / len(outs) if spec.aggregate == "mean" else total

            def add(terms):
                total = terms[0]
                for t in terms[1:]:
                    total = total + t
                return total

            states.append(apply_cell(spec, [states[s] for s in spec.sources], edge_fn, add,
                                     aggregate, preprocess))
        return states[-1]

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tuple(input_shape[:-1]) + (self.output_width,)

    # ------------------------------------------------------------------ architecture
    def probabilities(self) -> np.ndarray:
        """``softmax(alpha)`` per edge, shape ``(n_edges, n_ops)``."""
        a = np.asarray(keras.ops.convert_to_numpy(self.alpha), dtype=np.float64)
        a = a - a.max(axis=1, keepdims=True)
        e = np.exp(a)
        return e / e.sum(axis=1, keepdims=True)

    def sample_gates(self, seed: SeedLike = None) -> np.ndarray:
        """One-hot gates ``(n_edges, n_ops)`` float32: one operation per edge drawn from ``p``."""
        rng = as_generator(seed)
        p = self.probabilities()
        u = rng.random((self.n_edges, 1))
        idx = (u > np.cumsum(p, axis=1)).sum(axis=1)
        idx = np.minimum(idx, self.n_ops - 1)
        gates = np.zeros((self.n_edges, self.n_ops), dtype=np.float32)
        gates[np.arange(self.n_edges), idx] = 1.0
        return gates

    def argmax_gates(self) -> np.ndarray:
        """One-hot gates of the currently most probable operation per edge."""
        idx = self.probabilities().argmax(axis=1)
        gates = np.zeros((self.n_edges, self.n_ops), dtype=np.float32)
        gates[np.arange(self.n_edges), idx] = 1.0
        return gates

    def derive(self, max_inputs: int = 2) -> Genotype:
        """The discrete architecture: strongest non-zero operation per edge, top ``max_inputs``
        incoming edges per node."""
        return Genotype.derive(self.specs, self.probabilities(), self.ops, input_dim=self.input_dim,
                               max_inputs=max_inputs)

    # ------------------------------------------------------------------ weight transfer
    def transfer_to(self, body: keras.Model, genotype: Genotype) -> int:
        """Copy the weights of the kept operations and of the input projections into ``body``
        (built by ``genotype.build_body()``); returns the number of layers copied."""
        copied = 0
        for spec in genotype.cells:
            for k in range(2):
                layer = self.preprocessors.get((spec.index, k))
                if layer is not None and layer.weights:
                    body.get_layer(spec.preprocess_name(k)).set_weights(layer.get_weights())
                    copied += 1
        for c, j, s, op in genotype.edges():
            src = self.mixed[(c, j, s)].candidates[op]
            if src.weights:
                body.get_layer(genotype.cells[c].edge_name(j, s, op)).set_weights(src.get_weights())
                copied += 1
        return copied
