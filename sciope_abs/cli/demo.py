"""``sciope-abs demo``: the job ``make demo`` runs.

Runs the built-in pipeline (``sciope_abs/data/pipeline_demo.yaml``, package data, so an installed
wheel needs no checkout; ``examples/pipeline_demo.yaml`` is a link to it) on a local Dask cluster: X16 training data with the
compiled SSA, a small architecture search, held-out evaluation, SMC-ABC with the emulator on a
synthetic observation with known rates, and the fidelity check; writes
``demo_output/report.html``.  A second call reuses every finished stage.
"""
from __future__ import annotations

from typing import Any

import argparse
import logging
import sys
import time
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)

#: the demo's config inside the installed package
DEMO_CONFIG = "data/pipeline_demo.yaml"


def demo_config_path() -> Path:
    """Where the packaged demo config lives (inside ``sciope_abs``, wheel or checkout alike)."""
    return Path(str(resources.files("sciope_abs").joinpath(DEMO_CONFIG)))


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo", help="run the demo pipeline (X16: emulator search -> ABC -> fidelity) into demo_output/",
        description="Emulator-accelerated ABC on the X16 gene switch with known true rates; writes "
                    "demo_output/report.html (about 10 minutes on 2 cores; finished stages are reused).")
    p.add_argument("--out", default="demo_output", metavar="DIR", help="run directory (default demo_output)")
    p.add_argument("--config", default=None, metavar="YAML",
                   help="use another pipeline config (default: the built-in demo)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask scheduler address, or 'sync' (default: $SCIOPE_ABS_SCHEDULER, else a local cluster)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def demo_config() -> Any:
    """The demo's PipelineConfig (from the packaged ``sciope_abs/data/pipeline_demo.yaml``)."""
    from ..pipeline import load_config

    path = demo_config_path()
    if not path.is_file():
        raise FileNotFoundError(f"the demo config {path} is missing from the installed package; reinstall "
                                "sciope_abs or pass --config")
    return load_config(path)


def run(args: argparse.Namespace) -> int:
    from ..pipeline import load_config, run_pipeline

    cfg = load_config(Path(args.config)) if args.config else demo_config()
    t0 = time.perf_counter()
    log.info(f"sciope-abs demo: pipeline {cfg.name!r} on model {cfg.model}, inferring {cfg.vary_params} "
             f"(true values {cfg.observed['truth']}) into {args.out}/")
    res = run_pipeline(cfg, Path(args.out), client=args.scheduler, progress=not args.quiet)
    log.info(res.to_pandas()[["stage", "status", "seconds"]].to_string(index=False))
    if "infer" in res.stages:
        post = res.output("infer")
        table = post.describe()
        table["truth"] = [float(cfg.observed["truth"][n]) for n in post.names]
        log.info(table.to_string())
    fid = res.stages.get("fidelity", {})
    if fid:
        log.info(f"fidelity check: {'passed' if fid.get('passed') else 'FAILED'} - {fid.get('message')}")
    log.info(f"report: {res.report_path}\ntotal {time.perf_counter() - t0:.1f} s")
    sys.stdout.flush()
    return 0
