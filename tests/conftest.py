"""Shared test setup: the venv's bin/ on PATH (GillesPy2 finds SCons there) and a private
GillesPy2 build folder, so tests work without activating anything.

Test data live in ``tests/data/`` (inside the repository: a fresh clone with nothing beside it
passes); no test reads anything outside the checkout.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"


def _writable(folder: Path) -> bool:
    try:
        os.rmdir(tempfile.mkdtemp(dir=folder))
        return True
    except OSError:
        return False


def make_unwritable(folder: Path):
    """Make ``folder`` refuse new entries, also for root; returns an undo callable, or None if impossible.

    Tries permissions first (enough for an ordinary user), then ``chattr +i`` (root, ext4/xfs).
    """
    mode = folder.stat().st_mode
    folder.chmod(0o555)
    if not _writable(folder):
        return lambda: folder.chmod(mode)
    folder.chmod(mode)
    if shutil.which("chattr") and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0:
        if not _writable(folder):
            return lambda: subprocess.run(["chattr", "-i", str(folder)], check=True)
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    return None


@pytest.fixture
def unwritable_dir(tmp_path):
    """An existing folder nobody (root included) can create entries in; skipped where that is impossible."""
    folder = tmp_path / "locked"
    folder.mkdir()
    undo = make_unwritable(folder)
    if undo is None:
        pytest.skip("cannot make a folder unwritable here (an ordinary chmod does not stop root, and chattr failed)")
    yield folder
    undo()
