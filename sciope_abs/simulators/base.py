"""The ``Simulator`` protocol and the input checks every simulator shares.

A simulator maps parameter points to trajectories::

    simulate(theta (n, d), *, n_traj=r, seed=None, initial_state=None) -> (n, r, S, T) float64

with attributes ``param_names`` (d), ``species`` (S, declared order) and ``timespan`` (T).
A point whose simulation fails yields NaN traces and a :class:`SimulationWarning`; the other
points are kept.
"""
from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from typing import Any, Sequence

import numpy as np

from ..seeding import SeedLike

__all__ = ["Simulator", "SimulationWarning", "check_theta", "check_initial_state", "report_failures"]


class SimulationWarning(UserWarning):
    """Some parameter points failed to simulate (their traces are NaN)."""


class Simulator(ABC):
    """Base class of the package's simulators (GillesPy2, compiled SSA, emulator).

    Implements the :class:`sciope_abs.protocols.Simulator` protocol and adds ``sim(theta, seed)``
    and :attr:`n_params`; a user simulator need not inherit from it.
    """

    param_names: tuple[str, ...]
    species: tuple[str, ...]
    timespan: np.ndarray

    @abstractmethod
    def simulate(self, theta: np.ndarray, *, n_traj: int = 1, seed: SeedLike = None,
                 initial_state: np.ndarray | None = None) -> np.ndarray:
        """Simulate ``n_traj`` trajectories at each of the ``n`` parameter points.

        Parameters
        ----------
        theta : array, shape (n, d)
            Parameter values in the order of :attr:`param_names`.
        n_traj : int
            Trajectories (realisations) per point.
        seed : int, SeedSequence or list of n SeedSequence
            Point ``i`` uses child ``i`` of the seed, so results do not depend on batching.
        initial_state : array, shape (S,) or (n, S), optional
            Initial counts in the order of :attr:`species`; default: the model's.

        Returns
        -------
        array, shape (n, n_traj, S, T)
        """

    def __call__(self, theta: np.ndarray, seed: SeedLike = None, **kwargs: Any) -> np.ndarray:
        return self.simulate(theta, seed=seed, **kwargs)

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(params={list(self.param_names)}, species={list(self.species)}, "
                f"T={len(self.timespan)})")


def check_theta(theta: Any, param_names: Sequence[str], *, allow_negative: bool = False) -> np.ndarray:
    """Validate ``theta`` and return it as a float64 array of shape ``(n, d)``.

    A 1-D theta of length d is one point.  Raises a one-line ``ValueError`` naming the problem
    (wrong shape, NaN/inf, negative rates).
    """
    d = len(param_names)
    try:
        arr = np.asarray(theta, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"theta must be numeric, shape (n, {d}) for {list(param_names)}: {exc}") from None
    if arr.ndim == 1 and arr.shape[0] == d:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != d:
        raise ValueError(f"theta must have shape (n, {d}) for parameters {list(param_names)}, got {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"theta has a non-finite value ({arr[i, j]}) for parameter {param_names[j]!r} at point {i}")
    if not allow_negative and (arr < 0).any():
        i, j = np.argwhere(arr < 0)[0]
        raise ValueError(f"rate {param_names[j]!r} is negative ({arr[i, j]}) at point {i}; kinetic rates must be >= 0")
    return arr


def check_initial_state(initial_state: Any, n: int, species: Sequence[str], default: np.ndarray) -> np.ndarray:
    """Validate initial counts; returns an int64 array of shape ``(n, S)``."""
    S = len(species)
    if initial_state is None:
        return np.tile(np.asarray(default, dtype=np.int64), (n, 1))
    arr = np.asarray(initial_state, dtype=np.float64)
    if arr.ndim == 1:
        arr = np.tile(arr, (n, 1))
    if arr.shape != (n, S):
        raise ValueError(f"initial_state must have shape ({S},) or ({n}, {S}) for species {list(species)}, "
                         f"got {np.shape(initial_state)}")
    if not np.isfinite(arr).all() or (arr < 0).any() or (arr != np.round(arr)).any():
        raise ValueError("initial_state must hold non-negative integer counts")
    return arr.astype(np.int64)


def report_failures(failures: dict[int, str], n: int) -> None:
    """Warn once about failed points (index -> reason); their traces are NaN."""
    if failures:
        first = next(iter(failures.items()))
        warnings.warn(f"{len(failures)} of {n} parameter points failed to simulate (NaN traces); "
                      f"first: point {first[0]}: {first[1]}", SimulationWarning, stacklevel=3)
