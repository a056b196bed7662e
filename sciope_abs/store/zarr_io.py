"""Generic zarr v3 helpers: a group of named numpy arrays plus JSON attributes.

Every on-disk result of the toolbox (simulation sets, abstraction datasets, sweeps) is such a
group.  Writes are atomic: the group is written next to its destination and renamed into place,
so a crash never leaves a half-written store, and an existing *store* at the destination is
replaced only once the new one is complete (a directory that is not a zarr store is never
overwritten).
"""
from __future__ import annotations

import json
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Union

import numpy as np

__all__ = ["write_group", "read_group", "is_store", "to_jsonable", "PathLike"]

PathLike = Union[str, Path]


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, tuples, Paths and SeedSequences into plain JSON values."""
    if isinstance(value, np.random.SeedSequence):
        return {"entropy": str(value.entropy), "spawn_key": [int(k) for k in value.spawn_key]}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if np.isfinite(v) else str(v)
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"attribute value of type {type(value).__name__} cannot be stored as JSON: {value!r}")


def is_store(path: PathLike) -> bool:
    """Whether ``path`` is a zarr v3 group (a directory with a ``zarr.json``)."""
    p = Path(path)
    return p.is_dir() and (p / "zarr.json").is_file()


def write_group(path: PathLike, arrays: Mapping[str, np.ndarray], attrs: Mapping[str, Any] | None = None, *,
                overwrite: bool = True, chunks: Mapping[str, tuple] | None = None) -> Path:
    """Write named arrays and attributes as a zarr v3 group, atomically.

    Parameters
    ----------
    path : str or Path
        Destination directory (conventionally ``*.zarr``).
    arrays : dict[str, array]
        Arrays to store (numeric dtypes; unicode strings are stored as variable-length UTF-8).
    attrs : dict, optional
        JSON-able attributes (numpy values, tuples and SeedSequences are converted).  A
        ``created`` timestamp (UTC, ISO 8601) is added unless given.
    overwrite : bool
        Replace an existing zarr store at ``path``.  A path that exists but is not a zarr store
        is never replaced (``ValueError``).
    chunks : dict[str, tuple], optional
        Chunk shape per array (default: zarr's automatic chunking).

    Returns
    -------
    Path
        The written store.
    """
    import zarr

    path = Path(path)
    if path.exists():
        if not is_store(path):
            raise ValueError(f"{path} exists and is not a zarr store; refusing to overwrite it")
        if not overwrite:
            raise ValueError(f"{path} already exists (pass overwrite=True to replace it)")
    meta = to_jsonable(dict(attrs or {}))
    meta.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    parent = path.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        group = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        for name, value in arrays.items():
            data = np.asarray(value)
            if data.dtype == object:
                raise ValueError(f"array {name!r} has dtype object; store numbers or fixed-width strings")
            kw = {"chunks": tuple(chunks[name])} if chunks and name in chunks else {}
            if data.dtype.kind == "U":  # variable-length UTF-8: the string type zarr v3 specifies
                arr = group.create_array(name, shape=data.shape, dtype=str, **kw)
                arr[...] = data
            else:
                group.create_array(name, data=data, **kw)
        group.attrs.update(meta)
        if path.exists():
            trash = parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
            path.rename(trash)
            tmp.rename(path)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            tmp.rename(path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def read_group(path: PathLike, *, lazy: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a zarr group written by :func:`write_group`.

    Parameters
    ----------
    path : str or Path
    lazy : bool
        Return ``zarr.Array`` objects (read on indexing) instead of numpy arrays.

    Returns
    -------
    arrays : dict[str, array]
    attrs : dict

    Raises
    ------
    FileNotFoundError
        Nothing at ``path``.
    ValueError
        ``path`` exists but is not a zarr store.
    """
    import zarr

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no zarr store at {p}")
    if not is_store(p):
        raise ValueError(f"{p} is not a zarr store (no zarr.json)")
    try:
        group = zarr.open_group(str(p), mode="r")
    except Exception as exc:
        raise ValueError(f"{p} is not a readable zarr group: {exc}") from None
    attrs = json.loads(json.dumps(dict(group.attrs)))
    arrays = {name: (arr if lazy else _to_numpy(arr[...])) for name, arr in group.arrays()}
    return arrays, attrs


def _to_numpy(data: np.ndarray) -> np.ndarray:
    if data.dtype.kind == "T":  # numpy StringDType from zarr's variable-length strings -> plain unicode
        width = max(1, max((len(v) for v in data.ravel().tolist()), default=1))
        return data.astype(f"<U{width}")
    return data
