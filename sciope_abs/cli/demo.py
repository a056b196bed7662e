"""``sciope-abs demo``: the job ``make demo`` runs.

For now: simulate a small Sobol design over X16's variable rates on a local Dask cluster, save
the store, and print a summary table (P1 at the final time per point, timing, output path).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def register(sub) -> None:
    p = sub.add_parser(
        "demo", help="run the demo job (simulate a design on X16 and summarise it)",
        description="Simulate a Sobol design of N points x R trajectories over the X16 gene switch's variable "
                    "rates on Dask, write the zarr store and print a summary of P1 at the final time.")
    p.add_argument("-n", "--n-points", dest="n", type=int, default=32, metavar="N", help="points (default 32)")
    p.add_argument("--traj", type=int, default=10, metavar="R", help="trajectories per point (default 10)")
    p.add_argument("--seed", type=int, default=1, help="root random seed (default 1)")
    p.add_argument("--out", default="demo_output/x16_demo.zarr", metavar="FILE.zarr",
                   help="output store (default demo_output/x16_demo.zarr)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask scheduler address, or 'sync' (default: $SCIOPE_ABS_SCHEDULER, else a local cluster)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..crn import load_model
    from .simulate import resolve_cli_client, simulate_design

    crn = load_model("x16")
    params = ["a11", "a12", "a21", "b1"]
    client = resolve_cli_client(args.scheduler)
    print(f"sciope-abs demo: {crn!r}\n  design: sobol, {args.n} points over {params} x {args.traj} trajectories, "
          f"seed {args.seed}")
    sset, seconds = simulate_design(crn, design="sobol", n=args.n, n_traj=args.traj, seed=args.seed, params=params,
                                    client=client, progress=not args.quiet)
    out = sset.save(Path(args.out))

    p1 = sset.traces[:, :, sset.species.index("P1"), -1]  # (n, r) at t_end
    mean, std = np.nanmean(p1, axis=1), np.nanstd(p1, axis=1)
    t_end = sset.timespan[-1]
    header = ["point"] + list(sset.param_names) + [f"mean P1(t={t_end:g})", "std"]
    rows = []
    shown = min(len(p1), 8)
    for i in range(shown):
        rows.append([str(i)] + [f"{v:.3g}" for v in sset.theta[i]] + [f"{mean[i]:.1f}", f"{std[i]:.1f}"])
    widths = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(header)]
    print()
    for row in [header] + rows:
        print("  " + "  ".join(c.rjust(w) for c, w in zip(row, widths)))
    if shown < len(p1):
        print(f"  ... {len(p1) - shown} more points")
    finite = p1[np.isfinite(p1)]
    print(f"\n  all points: P1(t={t_end:g}) mean {finite.mean():.1f}, std {finite.std():.1f}, "
          f"range [{finite.min():.0f}, {finite.max():.0f}] over {finite.size} trajectories")
    rate = sset.n_points * sset.n_traj / max(seconds, 1e-9)
    print(f"  simulated {sset.n_points * sset.n_traj} trajectories in {seconds:.2f} s ({rate:.0f}/s, "
          f"{sset.attrs['simulator']})")
    print(f"  wrote {out}  (load it with sciope_abs.store.load_simulations)")
    sys.stdout.flush()
    return 0
