"""A saved directory as bytes and back: how models that save to a folder (emulators, learned
summaries) travel to Dask workers without pickling their Keras objects.

The bytes are an uncompressed zip of the folder's files; loading goes through the object's own
``load`` (Keras safe mode, card checks), never through pickle.
"""
from __future__ import annotations

import io
import os
import tempfile
import zipfile
from typing import Any, Callable

__all__ = ["directory_bytes", "from_directory_bytes"]


def directory_bytes(save: Callable[[str], Any]) -> bytes:
    """Call ``save(folder)`` on a temporary folder and return its files as zip bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        save(tmp)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
            for f in sorted(os.listdir(tmp)):
                zf.write(os.path.join(tmp, f), f)
        return buf.getvalue()


def from_directory_bytes(blob: bytes, load: Callable[[str], Any]) -> Any:
    """Unpack zip bytes from :func:`directory_bytes` into a temporary folder and return ``load(folder)``."""
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            zf.extractall(tmp)
        return load(tmp)
