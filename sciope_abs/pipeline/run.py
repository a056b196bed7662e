"""``run_pipeline(config, run_dir)``: run the stages in order, skipping those already done.

A stage is skipped when its folder holds a completion marker with the same input hash (see
:mod:`.cache`); a stage that raises leaves no marker, so the next call resumes there.  The
report (:mod:`.report`) is rewritten at the end of every run (it is cheap and reads only the
stage folders).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .cache import StageCache, content_hash
from .config import PipelineConfig, load_config
from .stages import STAGES, StageContext, check_inputs

log = logging.getLogger(__name__)

__all__ = ["run_pipeline", "PipelineResult", "stage_hashes"]


@dataclass
class PipelineResult:
    """What a pipeline run did and where its outputs are.

    Attributes
    ----------
    run_dir : Path
    stages : dict
        name -> ``{"status": "ran" | "skipped" | "disabled", "seconds", "input_hash", ...}``
        (``seconds`` is the stage's own time, also for a skipped stage: the time it took when it ran).
    report_path : Path or None
    config : PipelineConfig
    """

    run_dir: Path
    stages: dict
    report_path: Path | None
    config: PipelineConfig
    wall_seconds: float = 0.0
    _ctx: Any = field(default=None, repr=False)

    def ran(self) -> list[str]:
        return [k for k, v in self.stages.items() if v["status"] == "ran"]

    def skipped(self) -> list[str]:
        return [k for k, v in self.stages.items() if v["status"] == "skipped"]

    def output(self, stage: str) -> Any:
        """A stage's output object (Emulator, EvaluationReport, Posterior, FidelityReport ...)."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; stages are {list(STAGES)}")
        if self.stages.get(stage, {}).get("status") not in ("ran", "skipped"):
            raise ValueError(f"stage {stage!r} did not run in this pipeline")
        return self._ctx.get(stage)

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame([{"stage": k, **{kk: vv for kk, vv in v.items() if not isinstance(vv, (dict, list))}}
                             for k, v in self.stages.items()])


def stage_hashes(cfg: PipelineConfig, model_hash: str) -> dict[str, str]:
    """Input hash of every stage (chained through the stages it reads)."""
    out: dict[str, str] = {}
    for name, st in STAGES.items():
        out[name] = content_hash(name, model_hash, int(cfg.seed), cfg.model, st.config(cfg),
                                 [out[d] for d in st.deps])
    return out


def _resolve_client(client: Any, cfg: PipelineConfig, progress: bool) -> Any:
    if client is not None:
        return client
    if cfg.scheduler == "sync":
        return "sync"
    from ..engine import get_client

    c = get_client(cfg.scheduler)
    link = getattr(c, "dashboard_link", None)
    if link and progress:
        log.info(f"[pipeline] Dask dashboard: {link}")
    return c


def run_pipeline(config: Any, run_dir: Any, client: Any = None, progress: bool = True, *,
                 stages: Sequence[str] | None = None, report: bool = True) -> PipelineResult:
    """Run (or resume) a pipeline.

    Parameters
    ----------
    config : PipelineConfig, dict or path to a YAML file
    run_dir : str or Path
        Output folder; one sub-folder per stage, ``report.html`` at the top.
    client : Dask client, address, "sync" or None
        Where the SSA simulations run (default: the config's ``scheduler``, else a local cluster).
    progress : bool
        One line per stage plus the stages' own progress bars.
    stages : sequence of str, optional
        Run only up to the last of these (the others it needs are still run or reused).
    report : bool
        Write ``run_dir/report.html``.

    Returns
    -------
    PipelineResult
    """
    cfg = load_config(config)
    run_dir = Path(run_dir)
    names = list(STAGES)
    if stages is not None:
        unknown = [s for s in stages if s not in STAGES]
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown}; stages are {names}")
        names = names[: max(names.index(s) for s in stages) + 1]
    # the whole config is checked (model, species, summaries, distance, prior) before the run
    # folder is written or a client started; a folder is never marked by a config that failed
    ctx = StageContext(cfg, None, None, progress)
    check_inputs(ctx)
    t_start = time.perf_counter()
    cache = StageCache(run_dir)
    (run_dir / "config.yaml").write_text(cfg.to_yaml())
    ctx.cache = cache
    ctx.client = _resolve_client(client, cfg, progress)
    hashes = stage_hashes(cfg, ctx.crn.content_hash())
    result: dict[str, dict] = {}
    enabled = [n for n in names if STAGES[n].enabled(cfg)]
    for k, name in enumerate(names, 1):
        st = STAGES[name]
        h = hashes[name]
        if not st.enabled(cfg):
            result[name] = {"status": "disabled", "seconds": 0.0, "input_hash": h}
            continue
        pos = f"{enabled.index(name) + 1}/{len(enabled)}"
        if cache.is_done(name, h):
            rec = cache.record(name) or {}  # is_done: the record exists
            result[name] = {**rec, "status": "skipped"}
            ctx.log(f"stage {pos} {name}: up to date (inputs {h}), skipped")
            continue
        ctx.log(f"stage {pos} {name}: running (inputs {h})")
        out = cache.start(name)
        t0 = time.perf_counter()
        value, info = st.run(ctx, out)
        seconds = time.perf_counter() - t0
        ctx.put(name, value)
        rec = cache.finish(name, h, seconds=seconds, finished=time.strftime("%Y-%m-%d %H:%M:%S"), **info)
        result[name] = {**rec, "status": "ran"}
        ctx.log(f"stage {pos} {name}: done in {seconds:.1f} s")
    wall = time.perf_counter() - t_start
    (run_dir / "run.json").write_text(json.dumps({"stages": result, "wall_seconds": wall}, indent=1, default=str))
    res = PipelineResult(run_dir, result, None, cfg, wall, ctx)
    if report:
        from .report import write_report

        res.report_path = write_report(res, run_dir / "report.html")
        ctx.log(f"report: {res.report_path}")
    return res
