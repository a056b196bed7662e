"""``sciope-abs dataset MODEL --settings N --traj R``: simulate emulator training data.

Writes a zarr dataset (``AbstractionDataset``); rerunning the same command finds the complete
store with the same configuration and reuses it instead of simulating again.
"""
from __future__ import annotations

from typing import Any

import argparse
import logging
import sys
from pathlib import Path

from ..abstraction.config import DatasetConfig
from ._options import add_option
from .simulate import load_model_spec

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "dataset", help="simulate SSA training data for an emulator (zarr, resumable)",
        description="Simulate N randomised initial settings x R SSA trajectories of MODEL on a grid of step "
                    "--dt, split by setting into train/val/test, and store them as a zarr dataset. "
                    "Rerunning with the same arguments reuses a complete output.")
    p.add_argument("model", help="library model name (e.g. x16, gene) or an SBML file")
    # types and help (and the defaults of the optional ones) from DatasetConfig
    add_option(p, DatasetConfig, "n_settings", required=True, metavar="N")
    add_option(p, DatasetConfig, "n_traj", required=True, metavar="R")
    add_option(p, DatasetConfig, "dt")
    add_option(p, DatasetConfig, "n_steps")
    p.add_argument("--vary", default="", metavar="a,b",
                   help="comma-separated kinetic rates drawn per setting from the model's rate ranges")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0; same seed, same dataset)")
    add_option(p, DatasetConfig, "split", metavar="TR,VA,TE")
    add_option(p, DatasetConfig, "solver")
    p.add_argument("--out", default=None, metavar="DIR", help="output zarr folder (default: MODEL_dataset.zarr)")
    p.add_argument("--scheduler", default=None,
                   help="Dask scheduler address, or 'sync' to run in-process (default: a local cluster)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..abstraction.dataset import build_dataset

    crn = load_model_spec(args.model)
    try:
        split = [float(v) for v in args.split.split(",")]
    except ValueError:
        raise ValueError(f"--split must be three comma-separated fractions, got {args.split!r}") from None
    out = Path(args.out) if args.out else Path(f"{crn.name}_dataset.zarr")
    ds = build_dataset(crn, args.n_settings, args.n_traj, dt=args.dt, n_steps=args.n_steps, vary_params=args.vary,
                       seed=args.seed, client=args.scheduler, solver=args.solver, split=split, path=out,
                       progress=not args.quiet)
    if ds.reused:
        log.info(f"reusing the complete dataset at {out} (same configuration); nothing simulated")
    else:
        log.info(f"wrote {out}")
    sizes = ", ".join(f"{s} {ds.splits[s].size}" for s in ("train", "val", "test"))
    log.info(f"{ds.model.name}: {ds.n_settings} settings x {ds.n_traj} trajectories, dt={ds.dt}, "
             f"{ds.n_steps} steps, vary={list(ds.vary_params)}; settings: {sizes}; "
             f"content hash {ds.content_hash()}")
    sys.stdout.flush()
    return 0
