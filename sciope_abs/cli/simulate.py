"""``sciope-abs simulate MODEL``: simulate a parameter design over a model on Dask, write a zarr store.

The design spans the model's variable rates (its ``rate_ranges``; a parameter without a range
varies in [0.6, 1.4] x its default, the case studies' convention) as a uniform ``JointPrior``.
One root seed gives the design (child 0) and the simulations (child 1): the same command gives
the same store whatever the cluster.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from .._checks import check_int

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    from ..designs import DESIGNS

    p = sub.add_parser(
        "simulate", help="simulate a parameter design over a model on Dask and save it (zarr)",
        description="Draw N parameter points from a design over MODEL's variable rates, simulate R trajectories "
                    "per point on a Dask cluster (progress bar), and write a zarr store with the traces, the "
                    "points and their provenance (model hash, seed, solver, version).")
    p.add_argument("model", help="library model name (see `sciope-abs models`) or an SBML file")
    p.add_argument("--design", default="sobol", choices=sorted(DESIGNS), help="parameter design (default sobol)")
    p.add_argument("-n", "--n-points", dest="n", type=int, default=256, metavar="N",
                   help="parameter points (default 256)")
    p.add_argument("--traj", type=int, default=10, metavar="R", help="trajectories per point (default 10)")
    p.add_argument("--seed", type=int, default=0, help="root random seed (default 0)")
    p.add_argument("--params", default=None, metavar="a,b",
                   help="comma-separated parameters to vary (default: the model's variable rates)")
    p.add_argument("--solver", default="auto",
                   help="auto (compiled SSA where possible, else GillesPy2 SSA), fast_ssa, ssa, tau, hybrid, "
                        "ode, numpy_ssa")
    p.add_argument("--steps", type=int, default=None, help="number of time steps (default: the model's)")
    p.add_argument("--dt", type=float, default=None, help="time step (default: the model's)")
    p.add_argument("--out", default=None, metavar="FILE.zarr", help="output store (default: MODEL_sims.zarr)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask scheduler address, or 'sync' to run in-process (default: $SCIOPE_ABS_SCHEDULER, "
                        "else a local cluster)")
    p.add_argument("--chunk-size", default="auto", help="points per Dask task (default auto)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def load_model_spec(spec: str) -> Any:
    """A library model by name, or an SBML file (``*.xml``/``*.sbml``)."""
    from ..crn.resolve import as_crn

    return as_crn(spec, sbml=True)


def design_prior(crn: Any, params: Optional[Sequence[str]] = None) -> Any:
    """A uniform ``JointPrior`` over ``params`` (default: the model's variable rates)."""
    from ..priors import JointPrior, Uniform

    if params is None:
        params = list(crn.rate_ranges) or list(crn.parameters)
    params = list(crn.check_parameter_names(params))
    if not params:
        raise ValueError("no parameters to vary")
    dists = {}
    for name in params:
        lo, hi = crn.rate_ranges.get(name, (0.6 * crn.parameters[name], 1.4 * crn.parameters[name]))
        if not hi > lo:
            raise ValueError(f"parameter {name!r} has no range to vary over (default {crn.parameters[name]})")
        dists[name] = Uniform(lo, hi)
    return JointPrior(dists)


def parse_params(text: Optional[str]) -> Optional[list[str]]:
    if text is None:
        return None
    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names:
        raise ValueError(f"--params must name at least one parameter, got {text!r}")
    return names


def parse_chunk_size(text: Any) -> Any:
    if text in (None, "auto"):
        return "auto"
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise ValueError(f"--chunk-size must be 'auto' or a positive integer, got {text!r}") from None
    if value < 1:
        raise ValueError(f"--chunk-size must be 'auto' or a positive integer, got {text!r}")
    return value


def resolve_cli_client(scheduler: Optional[str]) -> Any:
    """``'sync'`` (argument or ``$SCIOPE_ABS_SCHEDULER``) stays in-process; anything else goes to
    :func:`~sciope_abs.engine.get_client` (address, environment variable, local cluster)."""
    from ..engine.parallel import resolve_client

    return resolve_client(scheduler)


def simulate_design(model: Any, *, design: str = "sobol", n: int = 256, n_traj: int = 10, seed: int = 0,
                    params: Optional[Sequence[str]] = None, solver: str = "auto", dt: Optional[float] = None,
                    n_steps: Optional[int] = None, client: Any = None, chunk_size: Any = "auto",
                    progress: bool = True) -> Any:
    """Simulate a design over a model; returns ``(SimulationSet, seconds)`` (not yet saved)."""
    from ..designs import get_design
    from ..engine import simulate_parallel
    from ..simulators import make_simulator
    from ..store import SimulationSet

    crn = load_model_spec(model)
    for flag, value in (("-n", n), ("--traj", n_traj)):
        check_int(value, flag, low=1, what=">= 1")
    check_int(seed, "--seed", low=0, what=">= 0")
    prior = design_prior(crn, params)
    design_seed, sim_seed = np.random.SeedSequence(seed).spawn(2)
    theta = get_design(design, prior).generate(n, seed=design_seed)
    timespan = crn.timespan(dt, n_steps)
    sim = make_simulator(crn, param_names=prior.names, timespan=timespan, solver=solver)
    t0 = time.perf_counter()
    traces = simulate_parallel(sim, theta, n_traj=n_traj, seed=sim_seed, client=client, chunk_size=chunk_size,
                               progress=progress, desc=f"simulate {crn.name}")
    seconds = time.perf_counter() - t0
    sset = SimulationSet(theta=theta, traces=traces, param_names=tuple(prior.names), species=tuple(sim.species),
                         timespan=sim.timespan,
                         attrs={"model_name": crn.name, "model_hash": crn.content_hash(), "model": crn.to_dict(),
                                "seed": seed, "solver": solver, "simulator": type(sim).__name__,
                                "design": design, "n_traj": n_traj,
                                "prior_bounds": np.asarray(prior.bounds).tolist()})
    return sset, seconds


def check_destination(out: Path) -> None:
    """Refuse, before anything is simulated, an ``--out`` that could not be written.

    ``out`` must be absent or an earlier zarr store (which is replaced), and the nearest existing
    folder above it must accept a new entry (probed by creating and removing one).  Messages name
    ``out`` as the user wrote it.
    """
    from ..store import is_store

    if out.exists() and not is_store(out):
        raise ValueError(f"--out {out} exists and is not a zarr store; refusing to overwrite it (choose another path)")
    anchor = out.absolute().parent
    while not anchor.exists() and anchor != anchor.parent:
        anchor = anchor.parent
    if not anchor.is_dir():
        raise ValueError(f"--out {out} cannot be written: {anchor} is not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=f".{out.name}.probe-", dir=anchor))
    except OSError as exc:
        raise ValueError(f"--out {out} cannot be written: no permission to create it in {anchor} "
                         f"({exc.strerror or type(exc).__name__})") from None


def save_store(sset: Any, out: Path) -> None:
    """``sset.save(out)``; a failed write is one line naming ``out`` (not the store's temporary folder)."""
    try:
        sset.save(out)
    except OSError as exc:
        raise ValueError(f"--out {out}: writing the store failed ({exc.strerror or type(exc).__name__}); "
                         "nothing was written there") from None


def run(args: argparse.Namespace) -> int:
    chunk_size = parse_chunk_size(args.chunk_size)
    crn = load_model_spec(args.model)
    out = Path(args.out) if args.out else Path(f"{crn.name}_sims.zarr")
    check_destination(out)
    client = resolve_cli_client(args.scheduler)
    sset, seconds = simulate_design(crn, design=args.design, n=args.n, n_traj=args.traj, seed=args.seed,
                                    params=parse_params(args.params), solver=args.solver, dt=args.dt,
                                    n_steps=args.steps, client=client, chunk_size=chunk_size,
                                    progress=not args.quiet)
    save_store(sset, out)
    failed = int(np.isnan(sset.traces.reshape(sset.n_points, -1)).all(axis=1).sum())
    log.info(f"wrote {out}: {sset.n_points} points x {sset.n_traj} trajectories x {len(sset.species)} species x "
             f"{len(sset.timespan)} times of {crn.name} ({args.design} design over {', '.join(sset.param_names)}; "
             f"{sset.attrs['simulator']}) in {seconds:.1f} s" + (f"; {failed} points failed (NaN)" if failed else ""))
    sys.stdout.flush()
    return 0
