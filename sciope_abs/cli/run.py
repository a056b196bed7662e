"""``sciope-abs run PIPELINE.yaml [--out RUN_DIR]``: the whole pipeline from one config, resumable."""
from __future__ import annotations

from typing import Any

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)

HELP = """\
Stages: dataset -> emulator (search or train) -> evaluate -> infer (SMC-ABC with the emulator)
-> fidelity (re-simulate posterior particles with SSA) -> ssa_infer (optional comparison).
Each stage writes RUN_DIR/<stage>/ and is skipped on the next run when its inputs (its config
section, the model, the seed and the stages it reads) are unchanged, so an interrupted run
resumes where it stopped and a changed setting reruns only the stages that depend on it.
RUN_DIR/report.html shows the results. Example config: examples/pipeline_demo.yaml.
"""


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run a pipeline config (dataset -> emulator -> ABC -> fidelity), resumable",
                       description="Run the emulator-accelerated inference pipeline described by a YAML config.",
                       epilog=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="pipeline YAML file")
    p.add_argument("--out", metavar="RUN_DIR", default=None,
                   help="run directory (default: <config name>_run next to the config)")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address or 'sync' (overrides the config)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..pipeline import load_config, run_pipeline

    cfg = load_config(Path(args.config))
    run_dir = Path(args.out) if args.out else Path(args.config).with_suffix("").with_name(
        Path(args.config).stem + "_run")
    res = run_pipeline(cfg, run_dir, client=args.scheduler, progress=not args.quiet)
    log.info(f"sciope-abs run: {run_dir}  ran {res.ran() or 'nothing'}; skipped {res.skipped() or 'nothing'}; "
             f"{res.wall_seconds:.1f} s")
    if res.stages.get("fidelity", {}).get("status") in ("ran", "skipped"):
        fid = res.stages["fidelity"]
        log.info(f"fidelity check: {'passed' if fid.get('passed') else 'FAILED'} - {fid.get('message')}")
    log.info(f"report: {res.report_path}")
    return 0
