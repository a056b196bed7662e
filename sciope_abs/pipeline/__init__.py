"""Config-driven, resumable runs: dataset -> emulator -> evaluate -> infer -> fidelity (-> ssa_infer).

``run_pipeline(config, run_dir)`` (or ``sciope-abs run PIPELINE.yaml``) runs the stages of
:mod:`.stages` into ``run_dir``, skipping every stage whose inputs are unchanged (:mod:`.cache`),
and writes ``run_dir/report.html`` (:mod:`.report`).  See ``examples/pipeline_demo.yaml``.
"""
from .config import PipelineConfig, load_config
from .run import PipelineResult, run_pipeline
from .stages import STAGES

__all__ = ["PipelineConfig", "load_config", "PipelineResult", "run_pipeline", "STAGES"]
