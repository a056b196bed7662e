"""``sciope-abs grid SOURCE``: simulate a grid of agents whose shared species diffuse.

``SOURCE`` is an emulator folder (``Emulator.save`` / ``sciope-abs train``): the grid is advanced
by the emulator (:class:`~sciope_abs.abstraction.grid.GridSimulator`); or a library model name:
the exact composite network (:func:`~sciope_abs.crn.compose_grid`) runs on the compiled SSA.
Writes the traces (``--out FILE.npz``, no pickle) and, with ``--html``, a Bokeh page of heat
maps per species with a time slider (trajectory 0).

    sciope-abs grid runs/bees_emulator --shape 10x10 --shared P=0.2 --per-node Bee=10 \\
        --source P:9,9=5 --source P:8,9=1 --steps 200 --traj 10 --out grid.npz --html grid.html
"""
from __future__ import annotations

from typing import Any

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from .._checks import check_int

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "grid", help="simulate a grid of agents with diffusing shared species (emulator or exact SSA)",
        description="Copy a single-agent network over a rows x cols grid whose shared species hop between von "
                    "Neumann neighbours, and simulate it: with an emulator folder, by alternating batched "
                    "emulator steps and exact diffusion steps; with a library model name, by the compiled exact "
                    "SSA of the composite network.")
    p.add_argument("source", metavar="SOURCE", help="an emulator folder, or a library model name (exact SSA)")
    p.add_argument("--shape", default="10x10", help="grid shape ROWSxCOLS (default 10x10)")
    p.add_argument("--shared", action="append", default=None, metavar="SPECIES=RATE",
                   help="shared species and its hop rate to each neighbour (repeatable; default P=0.2)")
    p.add_argument("--boundary", default="reflecting", choices=("reflecting", "periodic"))
    p.add_argument("--per-node", action="append", default=None, metavar="SPECIES=COUNT",
                   help="count of a species at every node (repeatable; default Bee=10)")
    p.add_argument("--source", dest="sources", action="append", default=[], metavar="SPECIES:ROW,COL=COUNT",
                   help="molecules added at one node (repeatable), e.g. P:9,9=5")
    p.add_argument("--random-sources", action="append", default=[], metavar="SPECIES=NODESxCOUNT",
                   help="COUNT molecules at each of NODES random nodes (repeatable), e.g. P=3x5")
    p.add_argument("--steps", type=int, default=None, help="time steps of the model's dt (default: the model's)")
    p.add_argument("--traj", type=int, default=1, help="trajectories (default 1)")
    p.add_argument("--solver", default="fast_ssa",
                   help="exact solver when SOURCE is a model name: fast_ssa (compiled once per grid shape) or a "
                        "GillesPy2 solver such as numpy_ssa or ssa (default fast_ssa)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", default=None, metavar="FILE.npz", help="write traces, timespan, species, shape")
    p.add_argument("--html", default=None, metavar="FILE.html", help="write heat maps with a time slider")
    p.set_defaults(func=run)


def _pairs(items, what: str, cast):
    out = {}
    for item in items:
        key, sep, val = str(item).partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{what} {item!r} must look like NAME=VALUE")
        try:
            out[key.strip()] = cast(val)
        except ValueError:
            raise ValueError(f"{what} {item!r}: {val!r} is not a valid value") from None
    return out


def _shape(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--shape must look like ROWSxCOLS (e.g. 10x10), got {text!r}") from None
    return rows, cols


def _sources(items) -> dict:
    out: dict = {}
    for item in items:
        try:
            species, rest = item.split(":", 1)
            node, count = rest.split("=", 1)
            i, j = (int(v) for v in node.split(","))
            out.setdefault(species.strip(), {})[(i, j)] = int(count)
        except ValueError:
            raise ValueError(f"--source {item!r} must look like SPECIES:ROW,COL=COUNT (e.g. P:9,9=5)") from None
    return out


def _random_sources(items) -> dict:
    out = {}
    for item in items:
        try:
            species, rest = item.split("=", 1)
            nodes, count = (int(v) for v in rest.lower().split("x"))
        except ValueError:
            raise ValueError(f"--random-sources {item!r} must look like SPECIES=NODESxCOUNT (e.g. P=3x5)") from None
        out[species.strip()] = (nodes, count)
    return out


def _check_out(path: str | None, suffix: str, flag: str) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if p.suffix.lower() != suffix:
        raise ValueError(f"{flag} {path} must end in {suffix}")
    if p.is_dir():
        raise ValueError(f"{flag} {path} is a folder")
    if not p.parent.exists():
        raise FileNotFoundError(f"{flag}: folder {p.parent} does not exist")
    return p


def run(args: argparse.Namespace) -> int:
    from ..crn import GridSpec, colony_totals, grid_initial_state

    shape = _shape(args.shape)
    shared = _pairs(args.shared or ["P=0.2"], "--shared", float)
    per_node = _pairs(args.per_node or ["Bee=10"], "--per-node", int)
    sources, random_sources = _sources(args.sources), _random_sources(args.random_sources)
    out, html = _check_out(args.out, ".npz", "--out"), _check_out(args.html, ".html", "--html")
    check_int(args.traj, "--traj", low=1, what=">= 1")
    src = Path(args.source)
    emulator = None
    if src.is_dir():
        from ..abstraction.emulator import Emulator

        emulator = Emulator.load(src)
        agent = emulator.model
    else:
        from ..crn.resolve import as_crn

        agent = as_crn(args.source)
    spec = GridSpec(agent, shape, shared, args.boundary)     # checks species, rates, shape, boundary
    x0 = grid_initial_state(spec, per_node, sources, random_sources, seed=args.seed)
    n_steps = check_int(agent.n_steps if args.steps is None else args.steps, "--steps", low=1, what=">= 1")
    t0 = time.perf_counter()
    if emulator is not None:
        from ..abstraction.grid import GridSimulator

        sim = GridSimulator(emulator, shape, shared, args.boundary, n_steps=n_steps)
        traces = sim.rollout(x0, None, n_traj=args.traj, seed=args.seed)[0]
        ts, how = sim.timespan, "emulator"
    else:
        from ..crn import compose_grid
        from ..simulators import make_simulator

        g = compose_grid(agent, shape, shared, args.boundary)
        ts = g.timespan(agent.dt, n_steps)
        ssa = make_simulator(g, param_names=(), species=g.species, timespan=ts, solver=args.solver)
        traces = ssa.simulate(np.zeros((1, 0)), n_traj=args.traj, seed=args.seed, initial_state=x0)[0]
        how = f"exact SSA, {args.solver}"
    seconds = time.perf_counter() - t0
    colony = colony_totals(traces, spec)[:, :, -1].mean(axis=0)
    log.info(f"{shape[0]}x{shape[1]} grid of {agent.name}, {args.traj} trajectories x {n_steps} steps ({how}): "
             f"{seconds:.2f} s")
    log.info("colony at t = {:g}: ".format(ts[-1]) + ", ".join(f"{s}={v:.1f}" for s, v in zip(agent.species, colony)))
    if out is not None:
        np.savez(out, traces=traces, timespan=ts, species=np.array(spec.species), agent_species=np.array(agent.species),
                 shape=np.array(shape))
        log.info(f"traces written to {out}")
    if html is not None:
        from ..viz.grid import grid_heatmaps
        from ..viz.html import save_html

        lay = grid_heatmaps(traces[0], shape, agent.species, ts, title=f"{agent.name} ({how})")
        save_html(lay, html, f"{agent.name} grid", inline=True)
        log.info(f"heat maps written to {html}")
    return 0
