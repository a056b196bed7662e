"""Composition of single-agent networks over a spatial grid (the paper's multi-scale scenario).

A grid of ``rows x cols`` nodes holds one copy of a single-agent :class:`~sciope_abs.crn.CRN` per
node; the *shared* species (the honeybees' alarm pheromone ``P``) diffuse between von Neumann
neighbours.  :func:`compose_grid` builds the exact composite network, which any exact simulator
(the compiled SSA, GillesPy2) runs as the reference:

* species are renamed per node, ``P`` at node ``(i, j)`` becoming ``P_i_j``; the composite's
  species are **node-major**: all species of node ``(0, 0)`` in the agent's order, then node
  ``(0, 1)``, ... (row-major nodes), so a state reshapes to ``(n_nodes, S)``;
* every agent reaction is copied per node (``stinging_1_2``), custom propensities rewritten on
  the renamed species; kinetic parameters are shared by all nodes;
* a shared species ``X`` with diffusion rate ``D`` gets one reaction ``X_i_j -> X_k_l`` of rate
  ``D`` per ordered pair of neighbours (parameter ``D_X``): each molecule hops to each neighbour
  at rate ``D``.  ``boundary="reflecting"`` leaves out the moves that would leave the grid;
  ``"periodic"`` wraps them around (a move onto the node itself, on a side of length 1, is left
  out).

:class:`GridSpec` holds the geometry and the naming, shared by :func:`compose_grid`, the
emulated grid (:class:`sciope_abs.abstraction.grid.GridSimulator`) and the pictures, so that
both simulators use one species order.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence, cast

import numpy as np

from ..seeding import SeedLike, as_generator
from .model import CRN, Reaction

__all__ = ["GridSpec", "compose_grid", "grid_initial_state", "colony_totals", "BOUNDARIES"]

BOUNDARIES = ("reflecting", "periodic")
_DIRECTIONS = (("N", -1, 0), ("S", 1, 0), ("W", 0, -1), ("E", 0, 1))


@dataclass(frozen=True)
class GridSpec:
    """Geometry and naming of a grid of agents.

    Parameters
    ----------
    agent : CRN
        The single-agent network.
    shape : (int, int)
        ``(rows, cols)``, each >= 1.
    shared : dict[str, float]
        Shared (diffusing) species of the agent -> hop rate ``D`` to each neighbour (>= 0).
    boundary : {"reflecting", "periodic"}
    """

    agent: CRN
    shape: tuple[int, int]
    shared: Mapping[str, float] = field(default_factory=dict)
    boundary: str = "reflecting"

    def __post_init__(self) -> None:
        try:
            rows, cols = (int(v) for v in self.shape)
        except (TypeError, ValueError):
            raise ValueError(f"grid shape must be two positive integers (rows, cols), got {self.shape!r}") from None
        if rows < 1 or cols < 1:
            raise ValueError(f"grid shape must be two positive integers (rows, cols), got {self.shape!r}")
        object.__setattr__(self, "shape", (rows, cols))
        if self.boundary not in BOUNDARIES:
            raise ValueError(f"boundary must be one of {BOUNDARIES}, got {self.boundary!r}")
        shared = {}
        for s, rate in dict(self.shared).items():
            if s not in self.agent.species:
                raise ValueError(f"shared species {s!r} is not a species of model {self.agent.name!r} "
                                 f"(it has {list(self.agent.species)})")
            rate = float(rate)
            if not np.isfinite(rate) or rate < 0:
                raise ValueError(f"diffusion rate of {s!r} must be a finite number >= 0, got {rate}")
            shared[s] = rate
        object.__setattr__(self, "shared", shared)
        taken = set(self.agent.parameters) | set(self.agent.species)
        clash = [self.rate_parameter(s) for s in shared if self.rate_parameter(s) in taken]
        if clash:
            raise ValueError(f"diffusion parameter name(s) {clash} clash with names of model {self.agent.name!r}")

    # ------------------------------------------------------------------ naming
    @property
    def n_nodes(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def nodes(self) -> list[tuple[int, int]]:
        """Node coordinates in row-major order (the composite's node order)."""
        return [(i, j) for i in range(self.shape[0]) for j in range(self.shape[1])]

    @staticmethod
    def rate_parameter(species: str) -> str:
        """Name of the diffusion-rate parameter of a shared species (``D_P``)."""
        return f"D_{species}"

    @staticmethod
    def node_name(name: str, i: int, j: int) -> str:
        """Per-node name of a species or reaction (``P_2_3``)."""
        return f"{name}_{i}_{j}"

    @property
    def species(self) -> tuple[str, ...]:
        """Composite species, node-major (all agent species of node (0, 0), then (0, 1), ...)."""
        return tuple(self.node_name(s, i, j) for i, j in self.nodes for s in self.agent.species)

    def node_index(self, node: Sequence[int]) -> int:
        """Row-major index of node ``(i, j)``; a node outside the grid raises ``ValueError``."""
        try:
            i, j = (int(v) for v in node)
        except (TypeError, ValueError):
            raise ValueError(f"a node is a pair (row, col), got {node!r}") from None
        if not (0 <= i < self.shape[0] and 0 <= j < self.shape[1]):
            raise ValueError(f"node {(i, j)} is outside the {self.shape[0]}x{self.shape[1]} grid")
        return i * self.shape[1] + j

    # ------------------------------------------------------------------ geometry
    def neighbour_moves(self) -> list[tuple[int, int, str]]:
        """Every allowed hop ``(source node, target node, direction)`` (row-major node indices)."""
        rows, cols = self.shape
        moves = []
        for a, (i, j) in enumerate(self.nodes):
            for name, di, dj in _DIRECTIONS:
                k, l = i + di, j + dj
                if self.boundary == "periodic":
                    k, l = k % rows, l % cols
                elif not (0 <= k < rows and 0 <= l < cols):
                    continue
                b = k * cols + l
                if b != a:
                    moves.append((a, b, name))
        return moves

    def axis_generator(self, axis: int, rate: float) -> np.ndarray:
        """Generator ``Q`` (L, L) of one molecule's walk along ``axis`` (0: rows, 1: cols).

        The 2-D walk that hops to each von Neumann neighbour at ``rate`` is two independent 1-D
        walks (rows and columns), each hopping to each of its existing neighbours at ``rate``.
        """
        L = self.shape[axis]
        Q = np.zeros((L, L))
        for a in range(L):
            for step in (-1, 1):
                b = a + step
                if self.boundary == "periodic":
                    b %= L
                elif not 0 <= b < L:
                    continue
                if b != a:
                    Q[a, b] += rate
        Q[np.diag_indices(L)] = -Q.sum(axis=1)
        return Q

    def full_generator(self, rate: float) -> np.ndarray:
        """Generator (n_nodes, n_nodes) of one molecule's walk on the whole grid (for checks)."""
        Q = np.zeros((self.n_nodes, self.n_nodes))
        for a, b, _ in self.neighbour_moves():
            Q[a, b] += rate
        Q[np.diag_indices(self.n_nodes)] = -Q.sum(axis=1)
        return Q


# ---------------------------------------------------------------------------- composition
def _rename_expression(expr: str, mapping: Mapping[str, str]) -> str:
    """``expr`` with every species name replaced by its per-node name (AST based)."""

    class _Rename(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.Name:
            return ast.copy_location(ast.Name(id=mapping.get(node.id, node.id), ctx=node.ctx), node)

    tree = _Rename().visit(ast.parse(expr, mode="eval"))
    return ast.unparse(tree)


def compose_grid(crn: CRN, shape: Sequence[int], shared: Mapping[str, float] | None = None,
                 boundary: str = "reflecting", name: str | None = None) -> CRN:
    """The exact composite network of ``crn`` copied over a grid, shared species diffusing.

    Parameters
    ----------
    crn : CRN
        Single-agent network (e.g. ``load_model("bees")``).
    shape : (rows, cols)
    shared : dict[str, float]
        Shared species -> hop rate to each von Neumann neighbour (``{"P": 0.1}``).
    boundary : {"reflecting", "periodic"}
    name : str, optional
        Default ``"<crn.name>_grid<rows>x<cols>"``.

    Returns
    -------
    CRN
        ``n_nodes * S`` species (node-major, see :class:`GridSpec`), ``n_nodes * M`` agent
        reactions plus one diffusion reaction per ordered neighbour pair and shared species;
        default initial state, initial ranges and conserved pairs copied per node; the agent's
        parameters and rate ranges plus one fixed ``D_<species>`` per shared species; the
        agent's ``dt`` and ``n_steps``; every per-node copy of the agent's observed species and
        of the shared species is observed.
    """
    spec = GridSpec(crn, cast("tuple[int, int]", tuple(shape)), dict(shared or {}), boundary)  # checked there
    reactions: list[Reaction] = []
    for i, j in spec.nodes:
        mapping = {s: spec.node_name(s, i, j) for s in crn.species}
        for r in crn.reactions:
            reactions.append(Reaction(
                spec.node_name(r.name, i, j),
                {mapping[s]: c for s, c in r.reactants.items()}, {mapping[s]: c for s, c in r.products.items()},
                rate=r.rate,
                propensity=None if r.propensity is None else _rename_expression(r.propensity, mapping)))
    nodes = spec.nodes
    for s in spec.shared:
        for a, b, direction in spec.neighbour_moves():
            src, dst = spec.node_name(s, *nodes[a]), spec.node_name(s, *nodes[b])
            reactions.append(Reaction(f"hop_{src}_{direction}", {src: 1}, {dst: 1}, rate=spec.rate_parameter(s)))
    per_node = {(s, i, j): spec.node_name(s, i, j) for i, j in nodes for s in crn.species}
    observed = [per_node[(s, i, j)] for i, j in nodes for s in crn.species
                if s in crn.observed or s in spec.shared]
    extra = {}
    groups = getattr(crn, "conserved_groups", ())
    if groups:  # conserved groups (beyond pairs) of models that declare them, renamed per node
        extra["conserved_groups"] = [replace(g, species=tuple(per_node[(s, i, j)] for s in g.species))
                                     for i, j in nodes for g in groups]
    return CRN(
        name=name or f"{crn.name}_grid{spec.shape[0]}x{spec.shape[1]}",
        species=spec.species,
        parameters={**crn.parameters, **{spec.rate_parameter(s): D for s, D in spec.shared.items()}},
        reactions=reactions,
        initial_state={per_node[(s, i, j)]: crn.initial_state[s] for i, j in nodes for s in crn.species},
        initial_ranges={per_node[(s, i, j)]: rng for i, j in nodes for s, rng in crn.initial_ranges.items()},
        complements={per_node[(s, i, j)]: (per_node[(o, i, j)], t) for i, j in nodes
                     for s, (o, t) in crn.complements.items()},
        rate_ranges=dict(crn.rate_ranges), dt=crn.dt, n_steps=crn.n_steps, observed=observed,
        **extra,
        description=f"{crn.name} on a {spec.shape[0]}x{spec.shape[1]} grid ({spec.boundary} boundary), "
                    f"shared {spec.shared}",
    )


# ---------------------------------------------------------------------------- layouts and outputs
def grid_initial_state(spec: GridSpec, per_node: Mapping[str, int] | None = None,
                       sources: Mapping[str, Mapping[tuple[int, int], int]] | None = None,
                       random_sources: Mapping[str, tuple[int, int]] | None = None,
                       seed: SeedLike = None) -> np.ndarray:
    """An initial layout, flat in the composite's species order, shape ``(n_nodes * S,)`` int64.

    Parameters
    ----------
    spec : GridSpec
    per_node : dict[str, int], optional
        Count of each agent species at every node (e.g. ``{"Bee": 10}``); species not named are 0.
    sources : dict[str, dict[(i, j), int]], optional
        Counts added at chosen nodes (``{"P": {(9, 9): 5, (8, 9): 1}}``).
    random_sources : dict[str, (n_sources, count)], optional
        ``count`` molecules added at each of ``n_sources`` distinct nodes drawn with ``seed``.
    seed : int or SeedSequence

    Returns
    -------
    ndarray (n_nodes * S,)
    """
    S = spec.agent.n_species
    x = np.zeros((spec.n_nodes, S), dtype=np.int64)
    for s, c in dict(per_node or {}).items():
        x[:, _agent_index(spec, s)] = _count(c, f"per_node[{s!r}]")
    for s, where in dict(sources or {}).items():
        k = _agent_index(spec, s)
        for node, c in dict(where).items():
            x[spec.node_index(node), k] += _count(c, f"sources[{s!r}][{node!r}]")
    if random_sources:
        rng = as_generator(seed)
        for s, (n_src, c) in dict(random_sources).items():
            k = _agent_index(spec, s)
            n_src = _count(n_src, f"random_sources[{s!r}] number of nodes")
            if n_src > spec.n_nodes:
                raise ValueError(f"random_sources[{s!r}] asks for {n_src} nodes on a grid of {spec.n_nodes}")
            x[rng.choice(spec.n_nodes, size=n_src, replace=False), k] += _count(c, f"random_sources[{s!r}] count")
    return x.reshape(-1)


def _agent_index(spec: GridSpec, s: str) -> int:
    if s not in spec.agent.species:
        raise ValueError(f"unknown species {s!r}; model {spec.agent.name!r} has {list(spec.agent.species)}")
    return spec.agent.species.index(s)


def _count(c, where: str) -> int:
    if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 0:
        raise ValueError(f"{where} must be a non-negative integer, got {c!r}")
    return int(c)


def colony_totals(traces: np.ndarray, spec: GridSpec) -> np.ndarray:
    """Sum each agent species over the nodes.

    Parameters
    ----------
    traces : array (..., n_nodes * S, T)
        Composite traces (node-major species axis, as both grid simulators return them).
    spec : GridSpec

    Returns
    -------
    array (..., S, T)
    """
    traces = np.asarray(traces)
    S = spec.agent.n_species
    if traces.ndim < 2 or traces.shape[-2] != spec.n_nodes * S:
        raise ValueError(f"traces must have shape (..., {spec.n_nodes * S}, T) for a {spec.shape} grid of "
                         f"{S} species, got {traces.shape}")
    lead = traces.shape[:-2]
    return traces.reshape(*lead, spec.n_nodes, S, traces.shape[-1]).sum(axis=-3)
