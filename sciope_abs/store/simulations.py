"""Simulation sets on disk: traces ``(n, r, S, T)``, parameter points ``(n, d)`` and their labels.

A store is a zarr v3 group with arrays ``traces``, ``theta``, ``timespan`` and attributes:
``kind="simulations"``, ``param_names``, ``species``, ``model_name``, ``model_hash`` (and the
model as JSON when a :class:`~sciope_abs.crn.CRN` was given), ``seed``, ``solver``,
``sciope_abs_version``, ``created``, plus anything passed in ``attrs``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from .._version import __version__
from .zarr_io import PathLike, read_group, to_jsonable, write_group

__all__ = ["SimulationSet", "save_simulations", "load_simulations"]

KIND = "simulations"


def _model_attrs(model: Any) -> dict:
    if model is None:
        return {"model_name": None, "model_hash": None}
    if isinstance(model, str):
        return {"model_name": model, "model_hash": None}
    if hasattr(model, "content_hash") and hasattr(model, "to_dict"):
        return {"model_name": model.name, "model_hash": model.content_hash(), "model": model.to_dict()}
    raise ValueError(f"model must be a CRN, a model name or None, got {type(model).__name__}")


def _check_shapes(traces: np.ndarray, theta: np.ndarray, param_names: Sequence[str], species: Sequence[str],
                  timespan: np.ndarray) -> None:
    if traces.ndim != 4:
        raise ValueError(f"traces must have shape (n, r, S, T), got {traces.shape}")
    n, _r, S, T = traces.shape
    if theta.ndim != 2 or theta.shape[0] != n:
        raise ValueError(f"theta must have shape ({n}, d) to match traces {traces.shape}, got {theta.shape}")
    if len(param_names) != theta.shape[1]:
        raise ValueError(f"{len(param_names)} param_names for theta with {theta.shape[1]} columns")
    if len(species) != S:
        raise ValueError(f"{len(species)} species names for traces with S={S}")
    if timespan.ndim != 1 or len(timespan) != T:
        raise ValueError(f"timespan must have shape ({T},) to match traces, got {timespan.shape}")


@dataclass
class SimulationSet:
    """Simulated trajectories with their parameter points and labels (numpy in, numpy out).

    Attributes
    ----------
    theta : array, shape (n, d)
    traces : array, shape (n, r, S, T)
    param_names : tuple of str, length d
    species : tuple of str, length S
    timespan : array, shape (T,)
    attrs : dict
        Provenance: model name/hash, seed, solver, package version, creation time, ...
    """

    theta: np.ndarray
    traces: np.ndarray
    param_names: tuple
    species: tuple
    timespan: np.ndarray
    attrs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.theta = np.asarray(self.theta, dtype=np.float64)
        self.traces = np.asarray(self.traces, dtype=np.float64)
        self.timespan = np.asarray(self.timespan, dtype=np.float64)
        self.param_names = tuple(self.param_names)
        self.species = tuple(self.species)
        _check_shapes(self.traces, self.theta, self.param_names, self.species, self.timespan)

    # ------------------------------------------------------------------ shape helpers
    @property
    def n_points(self) -> int:
        return int(self.traces.shape[0])

    @property
    def n_traj(self) -> int:
        return int(self.traces.shape[1])

    def __len__(self) -> int:
        return self.n_points

    @property
    def model_name(self) -> Optional[str]:
        return self.attrs.get("model_name")

    def crn(self) -> Any:
        """The :class:`~sciope_abs.crn.CRN` the traces came from, if it was stored."""
        spec = self.attrs.get("model")
        if not spec:
            raise ValueError("this simulation set does not carry its model (saved without a CRN)")
        from ..crn.model import CRN

        return CRN.from_dict(spec)

    # ------------------------------------------------------------------ conversions
    def to_xarray(self) -> Any:
        """An ``xarray.Dataset``: ``traces`` (point, trajectory, species, time) and ``theta`` (point, param)."""
        try:
            import xarray as xr
        except ImportError as exc:  # pragma: no cover - xarray ships with arviz in the dev extra
            raise ImportError("to_xarray() needs xarray: pip install xarray") from exc
        n, r, _S, _T = self.traces.shape
        return xr.Dataset(
            {"traces": (("point", "trajectory", "species", "time"), self.traces),
             "theta": (("point", "param"), self.theta)},
            coords={"point": np.arange(n), "trajectory": np.arange(r), "species": list(self.species),
                    "time": self.timespan, "param": list(self.param_names)},
            attrs={k: (v if isinstance(v, (str, int, float)) else str(v)) for k, v in self.attrs.items()
                   if k != "model"},
        )

    def to_pandas(self) -> Any:
        """Long table: one row per (point, trajectory, time).

        Columns ``point``, ``trajectory``, ``time``, one column per parameter (the point's
        values), one column per species (counts).
        """
        import pandas as pd

        n, r, S, T = self.traces.shape
        point = np.repeat(np.arange(n), r * T)
        traj = np.tile(np.repeat(np.arange(r), T), n)
        tcol = np.tile(self.timespan, n * r)
        cols: dict[str, np.ndarray] = {"point": point, "trajectory": traj, "time": tcol}
        for j, p in enumerate(self.param_names):
            cols[p] = self.theta[point, j]
        counts = self.traces.transpose(0, 1, 3, 2).reshape(n * r * T, S)
        for k, s in enumerate(self.species):
            cols[s] = counts[:, k]
        return pd.DataFrame(cols)

    def save(self, path: PathLike, *, overwrite: bool = True) -> Path:
        """Write this set to a zarr store (see :func:`save_simulations`)."""
        extra = {k: v for k, v in self.attrs.items() if k not in _RESERVED}  # provenance carries over
        return save_simulations(path, self.traces, self.theta, param_names=self.param_names, species=self.species,
                                timespan=self.timespan, seed=self.attrs.get("seed"), solver=self.attrs.get("solver"),
                                attrs=extra, overwrite=overwrite)

    def __repr__(self) -> str:
        return (f"SimulationSet(model={self.model_name!r}, n={self.n_points}, r={self.n_traj}, "
                f"species={list(self.species)}, params={list(self.param_names)}, T={len(self.timespan)})")


_RESERVED = {"kind", "param_names", "species", "sciope_abs_version", "solver", "seed"}


def save_simulations(path: PathLike, traces: np.ndarray, theta: np.ndarray, *, param_names: Sequence[str],
                     species: Sequence[str], timespan: np.ndarray, model: Any = None, seed: Any = None,
                     solver: Optional[str] = None, attrs: Optional[Mapping[str, Any]] = None,
                     overwrite: bool = True) -> Path:
    """Save simulated traces and their parameter points as a zarr v3 store.

    Parameters
    ----------
    path : str or Path
        Destination (``*.zarr``).  An existing simulation store there is replaced atomically.
    traces : array, shape (n, r, S, T)
    theta : array, shape (n, d)
    param_names : sequence of str, length d
    species : sequence of str, length S
    timespan : array, shape (T,)
    model : CRN or str, optional
        A CRN stores its name, content hash and full definition; a string only the name.
    seed : int or SeedSequence, optional
        The seed of the run (stored for provenance).
    solver : str, optional
    attrs : dict, optional
        Extra JSON-able attributes (design, n_traj, ...).
    overwrite : bool

    Returns
    -------
    Path
    """
    traces = np.asarray(traces, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    timespan = np.asarray(timespan, dtype=np.float64)
    param_names = [str(p) for p in param_names]
    species = [str(s) for s in species]
    _check_shapes(traces, theta, param_names, species, timespan)
    meta: dict[str, Any] = dict(to_jsonable(dict(attrs or {})))
    meta.update({"kind": KIND, "param_names": param_names, "species": species, "seed": to_jsonable(seed),
                 "solver": solver, "sciope_abs_version": __version__})
    for key, value in _model_attrs(model).items():
        if value is not None or key not in meta:
            meta[key] = value
    n, r, S, T = traces.shape
    per_point = max(1, r * S * T * 8)
    rows = int(max(1, min(n, (8 << 20) // per_point)))  # ~8 MiB chunks along the points
    return write_group(path, {"traces": traces, "theta": theta, "timespan": timespan}, meta,
                       overwrite=overwrite, chunks={"traces": (rows, r, S, T)})


def load_simulations(path: PathLike) -> SimulationSet:
    """Load a store written by :func:`save_simulations`.

    Raises
    ------
    FileNotFoundError
        Nothing at ``path``.
    ValueError
        ``path`` is not a zarr store, or not a simulation store.
    """
    arrays, attrs = read_group(path)
    missing = [k for k in ("traces", "theta", "timespan") if k not in arrays]
    if attrs.get("kind") != KIND or missing:
        raise ValueError(f"{path} is a zarr store but not a sciope_abs simulation store"
                         + (f" (missing arrays {missing})" if missing else ""))
    return SimulationSet(theta=arrays["theta"], traces=arrays["traces"], param_names=tuple(attrs["param_names"]),
                         species=tuple(attrs["species"]), timespan=arrays["timespan"], attrs=attrs)
