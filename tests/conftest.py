"""Shared test setup: the venv's bin/ on PATH (GillesPy2 finds SCons there) and a private
GillesPy2 build folder, so tests work without activating anything.

Test data live in ``tests/data/`` (inside the repository: a fresh clone with nothing beside it
passes); no test reads anything outside the checkout.
"""
import os
import sys
from pathlib import Path

_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
