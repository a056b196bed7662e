"""Content hashes of stage inputs, and the marker that says a stage's output is complete.

Each stage writes its output into ``RUN_DIR/<stage>/`` and, **last**, ``RUN_DIR/<stage>/stage.json``
holding the hash of its inputs (its config section, the model, and the input hashes of the
stages it reads) plus its timing.  A stage is skipped when that file exists and holds the same
input hash; a crash inside a stage leaves no marker, so the next run redoes that stage and
everything downstream of it, and nothing before it.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from ..store.atomic import atomic_write_text

__all__ = ["content_hash", "StageCache", "MARKER"]

MARKER = "stage.json"


def _canonical(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _canonical(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def content_hash(*parts: Any) -> str:
    """SHA-256 (16 hex chars) of JSON-serialisable parts (dict keys sorted)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(_canonical(p), sort_keys=True, default=str).encode())
        h.update(b"\x00")
    return h.hexdigest()[:16]


class StageCache:
    """The stage folders of one run directory."""

    def __init__(self, run_dir: Any) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)

    def path(self, stage: str) -> Path:
        return self.run_dir / stage

    def record(self, stage: str) -> dict | None:
        """The stage's marker (``input_hash``, ``seconds``, ...) or None if it never finished."""
        f = self.path(stage) / MARKER
        if not f.exists():
            return None
        try:
            return json.loads(f.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def is_done(self, stage: str, input_hash: str) -> bool:
        rec = self.record(stage)
        return rec is not None and rec.get("input_hash") == input_hash

    def start(self, stage: str) -> Path:
        """A clean, empty folder for the stage (any stale output and marker removed)."""
        p = self.path(stage)
        if p.exists():
            shutil.rmtree(p)
        p.mkdir(parents=True)
        return p

    def finish(self, stage: str, input_hash: str, **info: Any) -> dict:
        """Write the marker atomically (the stage's output must be complete by now)."""
        rec = {"stage": stage, "input_hash": input_hash, **info}
        f = self.path(stage) / MARKER
        atomic_write_text(f, json.dumps(rec, indent=1, default=str))
        return rec
