"""Automatic behaviour labels computed from traces: a stand-in for a person labelling a sweep.

- :func:`bistability_labels` -- a point is bistable when its realisations settle in *both* of two
  states where one species dominates the other (toggle switch: U high / V low and the reverse).
- :func:`oscillation_labels` -- a point oscillates when its trajectories show repeated large,
  regularly spaced peaks (Vilar oscillator: the repressor R).

Both map traces ``(n, r, S, T)`` to integer labels ``(n,)`` (1 = the behaviour, 0 = not); a
point whose traces contain NaN (a failed simulation) gets ``-1`` (unlabelled).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["bistability_labels", "oscillation_labels", "LABELLERS", "get_labeller"]


def _traces(x) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 4:
        raise ValueError(f"traces must have shape (n, r, S, T), got {arr.shape}")
    if arr.shape[3] < 4:
        raise ValueError(f"traces need at least 4 time points to be labelled, got T={arr.shape[3]}")
    return arr


def _index(species: int | str, names: Sequence[str] | None, S: int) -> int:
    if isinstance(species, str):
        if names is None or species not in names:
            raise ValueError(f"species {species!r} not among the trace species {list(names or [])}")
        return list(names).index(species)
    i = int(species)
    if not -S <= i < S:
        raise ValueError(f"species index {i} out of range for S={S}")
    return i % S


def bistability_labels(traces: Any, pair: tuple = (0, 1), *, species_names: Sequence[str] | None = None,
                       burn_in: float = 0.5, ratio: float = 2.0, offset: float = 3.0,
                       min_fraction: float = 0.05, min_occupancy: float = 0.6) -> np.ndarray:
    """Label each point bistable (1) or not (0) from its realisations.

    After the burn-in, every (realisation, time) sample is in state A when
    ``a >= ratio * b + offset``, in state B when ``b >= ratio * a + offset``, else in neither.
    A point is bistable when both states hold at least ``min_fraction`` of its samples and
    together at least ``min_occupancy`` (the mass sits in the two dominance states, not between).

    Parameters
    ----------
    traces : array, shape (n, r, S, T)
    pair : (species, species)
        Indices or names (with ``species_names``) of the two mutually repressing species.
    species_names : sequence of str, optional
    burn_in : float in [0, 1)
        Fraction of the time points skipped at the start.
    ratio, offset : float
        Dominance threshold.
    min_fraction, min_occupancy : float in (0, 1]

    Returns
    -------
    array of int, shape (n,)
        1 bistable, 0 not, -1 failed (NaN traces).
    """
    x = _traces(traces)
    if not 0.0 <= burn_in < 1.0:
        raise ValueError(f"burn_in must be in [0, 1), got {burn_in}")
    if not (0.0 < min_fraction <= 1.0 and 0.0 < min_occupancy <= 1.0):
        raise ValueError("min_fraction and min_occupancy must be in (0, 1]")
    ia, ib = (_index(s, species_names, x.shape[2]) for s in pair)
    if ia == ib:
        raise ValueError(f"pair must name two different species, got {pair}")
    start = min(int(burn_in * x.shape[3]), x.shape[3] - 1)
    a, b = x[:, :, ia, start:], x[:, :, ib, start:]
    pa = (a >= ratio * b + offset).mean(axis=(1, 2))
    pb = (b >= ratio * a + offset).mean(axis=(1, 2))
    out = ((np.minimum(pa, pb) >= min_fraction) & (pa + pb >= min_occupancy)).astype(np.int64)
    out[np.isnan(x).any(axis=(1, 2, 3))] = -1
    return out


def oscillation_labels(traces: Any, species: int | str = 0, *, species_names: Sequence[str] | None = None,
                       burn_in: float = 0.1, min_peaks: int = 3, prominence: float = 0.5,
                       max_period_cv: float = 0.5) -> np.ndarray:
    """Label each point oscillating (1) or not (0) from the peaks of one species.

    A realisation oscillates when it has at least ``min_peaks`` peaks whose prominence is at
    least ``prominence`` times the trajectory's range, spaced regularly (coefficient of
    variation of the peak-to-peak intervals at most ``max_period_cv``). A point oscillates when
    most of its realisations do.

    Parameters
    ----------
    traces : array, shape (n, r, S, T)
    species : int or str
        The species whose trajectory is inspected (name needs ``species_names``).
    burn_in : float in [0, 1)
    min_peaks : int
    prominence : float in (0, 1]
        Relative to ``max - min`` of the trajectory after the burn-in.
    max_period_cv : float

    Returns
    -------
    array of int, shape (n,)
        1 oscillating, 0 not, -1 failed (NaN traces).
    """
    from scipy.signal import find_peaks

    x = _traces(traces)
    if not 0.0 <= burn_in < 1.0:
        raise ValueError(f"burn_in must be in [0, 1), got {burn_in}")
    if not 0.0 < prominence <= 1.0:
        raise ValueError(f"prominence must be in (0, 1], got {prominence}")
    if int(min_peaks) < 2:
        raise ValueError(f"min_peaks must be at least 2, got {min_peaks}")
    k = _index(species, species_names, x.shape[2])
    start = min(int(burn_in * x.shape[3]), x.shape[3] - 4)
    n, r = x.shape[:2]
    out = np.zeros(n, dtype=np.int64)
    for i in range(n):
        if np.isnan(x[i]).any():
            out[i] = -1
            continue
        votes = 0
        for j in range(r):
            y = x[i, j, k, start:]
            span = float(y.max() - y.min())
            if span <= 0:
                continue
            peaks, _ = find_peaks(y, prominence=prominence * span)
            if len(peaks) < int(min_peaks):
                continue
            gaps = np.diff(peaks)
            if gaps.std() <= max_period_cv * gaps.mean():
                votes += 1
        out[i] = int(votes * 2 > r)
    return out


LABELLERS: dict[str, Callable[..., np.ndarray]] = {"bistability": bistability_labels,
                                                  "oscillation": oscillation_labels}


def get_labeller(name: str) -> Callable[..., np.ndarray]:
    """An automatic labeller by name (see :data:`LABELLERS`)."""
    if name not in LABELLERS:
        raise ValueError(f"unknown labeller {name!r}; choose one of {sorted(LABELLERS)}")
    return LABELLERS[name]
