"""``sciope-abs dataset MODEL --settings N --traj R``: simulate emulator training data.

Writes a zarr dataset (``AbstractionDataset``); rerunning the same command finds the complete
store with the same configuration and reuses it instead of simulating again.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .simulate import load_model_spec


def register(sub) -> None:
    p = sub.add_parser(
        "dataset", help="simulate SSA training data for an emulator (zarr, resumable)",
        description="Simulate N randomised initial settings x R SSA trajectories of MODEL on a grid of step "
                    "--dt, split by setting into train/val/test, and store them as a zarr dataset. "
                    "Rerunning with the same arguments reuses a complete output.")
    p.add_argument("model", help="library model name (e.g. x16, gene) or an SBML file")
    p.add_argument("--settings", type=int, required=True, metavar="N", help="randomised initial settings")
    p.add_argument("--traj", type=int, required=True, metavar="R", help="SSA trajectories per setting")
    p.add_argument("--dt", type=float, default=None, help="time step (default: the model's)")
    p.add_argument("--steps", type=int, default=None, help="number of steps (default: the model's)")
    p.add_argument("--vary", default="", metavar="a,b",
                   help="comma-separated kinetic rates drawn per setting from the model's rate ranges")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0; same seed, same dataset)")
    p.add_argument("--split", default="0.7,0.15,0.15", metavar="TR,VA,TE",
                   help="fractions of settings for train, architecture-validation, test")
    p.add_argument("--solver", default="auto", help="simulator (default: exact SSA, the fastest available)")
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
    ds = build_dataset(crn, args.settings, args.traj, dt=args.dt, n_steps=args.steps, vary_params=args.vary,
                       seed=args.seed, client=args.scheduler, solver=args.solver, split=split, path=out,
                       progress=not args.quiet)
    if ds.reused:
        print(f"reusing the complete dataset at {out} (same configuration); nothing simulated")
    else:
        print(f"wrote {out}")
    sizes = ", ".join(f"{s} {ds.splits[s].size}" for s in ("train", "val", "test"))
    print(f"{ds.model.name}: {ds.n_settings} settings x {ds.n_traj} trajectories, dt={ds.dt}, "
          f"{ds.n_steps} steps, vary={list(ds.vary_params)}; settings: {sizes}; "
          f"content hash {ds.content_hash()}")
    sys.stdout.flush()
    return 0
