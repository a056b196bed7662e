"""``sciope-abs explore SWEEP_DIR``: the exploration app on a local Bokeh server.

The sweep's simulator and summary are rebuilt from the specs stored in the folder (JSON data);
nothing in the folder is unpickled or executed.

Wires the exploration layer (label spreading, active-learning suggestions, re-simulation of
points whose traces were not kept) into :func:`sciope_abs.viz.app.serve`.
"""
from __future__ import annotations

from typing import Any

import argparse
from pathlib import Path


def register(sub: Any) -> None:
    p = sub.add_parser(
        "explore", help="open a sweep in the exploration app (Bokeh server on localhost)",
        description="Serve a sweep folder (written by Sweep.save) as a Bokeh app: scatter of the embedded "
                    "features, trajectories of the selected points, labelling saved to the folder, label "
                    "spreading and active-learning batches.")
    p.add_argument("sweep", metavar="SWEEP_DIR", help="a folder written by Sweep.save")
    p.add_argument("--port", type=int, default=5006, help="port (default 5006; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--no-show", action="store_true", help="do not open a browser")
    p.add_argument("--scheduler", default="sync",
                   help="Dask scheduler address for new batches, or 'sync' in-process (default sync)")
    p.add_argument("--strategy", default="entropy", choices=["entropy", "margin"],
                   help="active-learning uncertainty (default entropy)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..exploration import Sweep
    from ..viz.app import serve

    path = Path(args.sweep)
    if not (path / "data.zarr").exists():
        raise FileNotFoundError(f"no sweep at {path} (missing data.zarr)")
    probe = Sweep.load(path, client=args.scheduler)

    def on_spread(p: Path) -> str:
        sw = Sweep.load(p, client=args.scheduler)
        res = sw.spread()
        sw.save_labels(p)
        width = "" if res.kernel == "none" else f", {res.kernel} width {res.width:.3g}"
        return f"spread {int((sw.labels >= 0).sum())} labels to {len(sw)} points{width}"

    def on_suggest(p: Path, n: int) -> str:
        sw = Sweep.load(p, client=args.scheduler)
        if sw.simulator is None or sw.summary is None:
            raise ValueError("this sweep's simulator or summary has no stored spec (a class outside the "
                             "built-ins); load it in Python with Sweep.load(path, simulator=..., summary=...) "
                             "to grow it")
        theta = sw.suggest(n, strategy=args.strategy, seed=sw.n_batches)
        new = sw.extend(theta=theta)
        if (sw.labels >= 0).any():
            sw.spread()
        sw.save(p)
        return f"simulated {len(new)} suggested points ({args.strategy}); sweep has {len(sw)}"

    loader = None if probe.traces is not None or probe.simulator is None else probe.trajectories
    serve(path, port=args.port, host=args.host, show=not args.no_show, on_spread=on_spread,
          on_suggest=on_suggest, traj_loader=loader)
    return 0
