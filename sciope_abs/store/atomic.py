"""Atomic file writes: a reader sees the old file or the complete new one, never a partial one.

Everything is written to a hidden temporary file in the destination's folder (same file system)
and moved over the destination with ``os.replace``; on any error the temporary file is removed
and the destination is left as it was.  The temporary name is unique per call (process id and a
random tag), so concurrent writers of the same file never write into each other's temporary.
"""
from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "atomic_savez"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """A temporary path next to ``path``; moved onto ``path`` when the block ends without error.

    Parameters
    ----------
    path : str or os.PathLike
        The destination file.  Its folder must exist.
    suffix : str
        Ending of the temporary name (``".npz"`` for writers that append one otherwise).

    Yields
    ------
    pathlib.Path
        Where the block writes the file.
    """
    dest = Path(path)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{suffix}")
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, fsync: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically; ``fsync`` flushes it to disk before the move."""
    dest = Path(path)
    with atomic_path(dest) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    return dest


def atomic_write_text(path: str | os.PathLike, text: str, *, fsync: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def atomic_savez(path: str | os.PathLike, arrays: Mapping[str, Any], *, compressed: bool = False) -> Path:
    """``numpy.savez`` (or ``savez_compressed``) of ``arrays`` to ``path`` atomically.

    ``path`` is used as given (no ``.npz`` is appended to it).
    """
    dest = Path(path)
    save = np.savez_compressed if compressed else np.savez
    with atomic_path(dest, suffix=".npz") as tmp:
        save(tmp, **dict(arrays))
    return dest
