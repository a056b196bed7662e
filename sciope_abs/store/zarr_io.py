"""Generic zarr v3 helpers: a group of named numpy arrays plus JSON attributes.

Every on-disk result of the toolbox (simulation sets, abstraction datasets, sweeps) is such a
group.  Writes are atomic: the group is written next to its destination and renamed into place,
so a crash never leaves a half-written store, and an existing *store* at the destination is
replaced only once the new one is complete (a directory that is not a zarr store is never
overwritten).

Every write records an inventory in the group's metadata: each array's shape, dtype and the
BLAKE2b checksum of every chunk file.  :func:`read_group` checks it before decoding anything, so a
deleted chunk (which zarr would silently read back as the fill value, 0.0) or a damaged one is
refused with one line naming the store, the array and the chunk (:class:`StoreCorruptError`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, Mapping, Union

import numpy as np

__all__ = ["write_group", "read_group", "is_store", "to_jsonable", "PathLike", "StoreCorruptError"]

PathLike = Union[str, Path]
logger = logging.getLogger(__name__)

INVENTORY_KEY = "sciope_abs_inventory"
_INVENTORY_VERSION = 1


class StoreCorruptError(ValueError):
    """A store whose chunks do not match the inventory written with it (missing, damaged, extra)."""


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

    Raises
    ------
    OSError
        The store could not be written; the message names ``path`` (never the temporary folder).
    """
    path = Path(path)
    if path.exists():
        if not is_store(path):
            raise ValueError(f"{path} exists and is not a zarr store; refusing to overwrite it")
        if not overwrite:
            raise ValueError(f"{path} already exists (pass overwrite=True to replace it)")
    meta = to_jsonable(dict(attrs or {}))
    meta.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    parent = path.parent
    tmp = parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _write_tmp(tmp, arrays, meta, chunks)
        if path.exists():
            trash = parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
            path.rename(trash)
            tmp.rename(path)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            tmp.rename(path)
    except OSError as exc:  # name the user's destination, not the temporary folder next to it
        raise OSError(exc.errno, f"cannot write the zarr store {path}: {exc.strerror or type(exc).__name__}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def _write_tmp(tmp: Path, arrays: Mapping[str, np.ndarray], meta: dict, chunks: Mapping[str, tuple] | None) -> None:
    """Write the group at ``tmp``, its chunk inventory last."""
    import zarr

    group = zarr.open_group(str(tmp), mode="w", zarr_format=3)
    for name, value in arrays.items():
        data = np.asarray(value)
        if data.dtype == object:
            raise ValueError(f"array {name!r} has dtype object; store numbers or fixed-width strings")
        chunk: tuple[int, ...] | Literal["auto"] = tuple(chunks[name]) if chunks and name in chunks else "auto"
        if data.dtype.kind == "U":  # variable-length UTF-8: the string type zarr v3 specifies
            arr = group.create_array(name, shape=data.shape, dtype=str, chunks=chunk)
            arr[...] = data
        else:
            group.create_array(name, data=data, chunks=chunk)
    group.attrs.update({**meta, INVENTORY_KEY: _inventory(tmp, group)})


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
    StoreCorruptError
        A chunk recorded at write time is missing, damaged or joined by one that was not written,
        or the metadata cannot be read (a ``ValueError``; the message names store, array, chunk).
    """
    import zarr

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no zarr store at {p}")
    if not is_store(p):
        raise ValueError(f"{p} is not a zarr store (no zarr.json)")
    try:
        group = zarr.open_group(str(p), mode="r")
        attrs = json.loads(json.dumps(dict(group.attrs)))
        members = dict(group.arrays())
    except Exception as exc:  # noqa: BLE001 - any unreadable metadata is one line naming the store
        raise StoreCorruptError(f"{p} is not a readable zarr group: {_one_line(exc)}") from None
    inventory = attrs.pop(INVENTORY_KEY, None)
    if inventory is None:
        logger.warning("%s has no chunk inventory (written before sciope_abs recorded one); missing chunks "
                       "cannot be detected and would read as the fill value", p)
    else:
        _check_inventory(p, inventory, members)
    arrays = {name: (arr if lazy else _decode(p, name, arr)) for name, arr in members.items()}
    return arrays, attrs


def _chunk_digest(file: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(file, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _chunk_files(array_dir: Path) -> dict[str, Path]:
    """The chunk files of one array directory, keyed by their path relative to it (``c/0/1``)."""
    return {f.relative_to(array_dir).as_posix(): f for f in sorted(array_dir.rglob("*"))
            if f.is_file() and f.name != "zarr.json"}


def _inventory(root: Path, group: Any) -> dict:
    """Shape, dtype and chunk checksums of every array of the group written at ``root``."""
    arrays = {}
    for name, arr in group.arrays():
        chunks = {key: _chunk_digest(f) for key, f in _chunk_files(root / name).items()}
        arrays[name] = {"shape": [int(n) for n in arr.shape], "dtype": str(arr.dtype), "chunks": chunks}
    return {"version": _INVENTORY_VERSION, "hash": "blake2b-128", "arrays": arrays}


def _check_inventory(p: Path, inventory: Any, members: Mapping[str, Any]) -> None:
    """Raise :class:`StoreCorruptError` unless the chunks on disk are exactly those written."""
    expected = inventory.get("arrays") if isinstance(inventory, dict) else None
    if not isinstance(expected, dict):
        raise StoreCorruptError(f"{p}: the chunk inventory in zarr.json is unreadable; refusing to load the store")
    for name in members:
        if name not in expected:
            raise StoreCorruptError(f"{p}: array {name!r} is not in the store's inventory (added after writing); "
                                    "refusing to load the store")
    for name, entry in expected.items():
        if name not in members:
            raise StoreCorruptError(f"{p}: array {name!r} is missing from the store")
        shape = [int(n) for n in members[name].shape]
        if shape != list(entry["shape"]):
            raise StoreCorruptError(f"{p}: array {name!r} has shape {tuple(shape)} but was written with "
                                    f"{tuple(entry['shape'])}")
        on_disk = _chunk_files(p / name)
        for key, digest in entry["chunks"].items():
            if key not in on_disk:
                raise StoreCorruptError(f"{p}: array {name!r} is missing chunk {key} (of {len(entry['chunks'])} "
                                        "written); refusing to read it as zeros")
            if _chunk_digest(on_disk[key]) != digest:
                raise StoreCorruptError(f"{p}: array {name!r} has a corrupt chunk {key} (checksum mismatch)")
        extra = sorted(set(on_disk) - set(entry["chunks"]))
        if extra:
            raise StoreCorruptError(f"{p}: array {name!r} has chunk {extra[0]} that was not written with it")


def _decode(p: Path, name: str, arr: Any) -> np.ndarray:
    try:
        return _to_numpy(arr[...])
    except Exception as exc:  # noqa: BLE001 - a chunk zarr cannot decode: one line naming store and array
        raise StoreCorruptError(f"{p}: array {name!r} cannot be decoded: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if text else type(exc).__name__


def _to_numpy(data: np.ndarray) -> np.ndarray:
    if data.dtype.kind == "T":  # numpy StringDType from zarr's variable-length strings -> plain unicode
        width = max(1, max((len(v) for v in data.ravel().tolist()), default=1))
        return data.astype(f"<U{width}")
    return data
