"""Histogram distances between two samples of one quantity (the seed paper's equations 5–6).

Both samples are binned on the **same** edges, each histogram is normalised to probabilities
(``h(z) = count(z) / m``), and then

- ``kind="l1"``:  ``d = sum_z |h_X(z) - h_Y(z)|`` (equation 5, the full sum, *not* halved: it
  ranges over ``[0, 2]``; 2 means disjoint supports), and
- ``kind="iou"``: ``d = 1 - sum_z min(h_X, h_Y) / sum_z max(h_X, h_Y)`` (equation 6 is the
  intersection-over-union *similarity*; one minus it is a distance in ``[0, 1]``).

Binning (``bins``):

- ``None``: one bin per integer over the union range of both samples (edges at half-integers),
  the natural choice for molecule counts;
- an int ``k``: at most ``k`` bins over the union range.  Integer-valued samples get
  integer-aligned bins of ``ceil(range / k)`` whole units each (so no bin holds more integers
  than another, which would otherwise leave a comb pattern); other samples get ``k`` equal-width
  bins;
- an array: the bin edges themselves;
- ``"auto"``: :func:`auto_bins` of the smaller sample's size, ``ceil(sqrt(m))`` within
  ``[10, 100]``, so that two samples of one law do not look far apart only because each bin
  holds a handful of draws (the finite-sample L1 distance grows like ``sqrt(k / m)``).

TensorFlow-free, numpy only.
"""
from __future__ import annotations

from typing import Any

import math

import numpy as np

__all__ = ["histogram_distance", "histogram_edges", "histogram_pair", "auto_bins", "DISTANCE_KINDS"]

DISTANCE_KINDS = ("l1", "iou")


def _as_sample(x, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64).ravel()
    if arr.size == 0:
        raise ValueError(f"histogram_distance: sample {name} is empty")
    if not np.isfinite(arr).all():
        raise ValueError(f"histogram_distance: sample {name} has non-finite values (NaN/inf)")
    return arr


def auto_bins(m: int) -> int:
    """Histogram bins for samples of size ``m``: ``ceil(sqrt(m))`` within ``[10, 100]``.

    The L1 distance between two samples of ``m`` draws of one law on ``k`` evenly filled bins is
    about ``sqrt(4 k / (pi m))``: with ``k = sqrt(m)`` it falls as ``m ** (-1/4)`` (about 0.2 at
    1000 draws, 0.3 at 200) instead of approaching its maximum 2 when ``k`` is fixed and ``m`` small.
    """
    return int(min(100, max(10, math.ceil(math.sqrt(max(int(m), 1))))))


def histogram_edges(a: Any, b: Any, bins: Any = None) -> np.ndarray:
    """Bin edges shared by samples ``a`` and ``b`` (see the module docstring for ``bins``).

    Returns
    -------
    array, shape (n_bins + 1,)
    """
    a = _as_sample(a, "a")
    b = _as_sample(b, "b")
    if bins is not None and not np.isscalar(bins):
        edges = np.asarray(bins, dtype=np.float64).ravel()
        if edges.size < 2 or not np.all(np.diff(edges) > 0):
            raise ValueError("histogram bins: explicit edges must be a strictly increasing array of >= 2 values")
        return edges
    if isinstance(bins, str):
        if bins != "auto":
            raise ValueError(f"histogram bins must be 'auto', None, an int or edges, got {bins!r}")
        bins = auto_bins(min(a.size, b.size))
    lo = float(min(a.min(), b.min()))
    hi = float(max(a.max(), b.max()))
    integer = bool(np.all(a == np.round(a)) and np.all(b == np.round(b)))
    if bins is None:
        if not integer:
            raise ValueError("histogram bins=None (unit bins) needs integer-valued samples; "
                             "give a bin count for real-valued data")
        return np.arange(round(lo), round(hi) + 2, dtype=np.float64) - 0.5
    k = int(bins)
    if k < 1 or k != bins:
        raise ValueError(f"histogram bins must be a positive integer, got {bins!r}")
    if integer:
        n_units = int(round(hi - lo)) + 1
        width = max(1, math.ceil(n_units / k))
        n_bins = math.ceil(n_units / width)
        return round(lo) - 0.5 + width * np.arange(n_bins + 1, dtype=np.float64)
    if hi == lo:
        return np.array([lo - 0.5, hi + 0.5])
    return np.linspace(lo, hi, k + 1)


def histogram_pair(a: Any, b: Any, bins: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised histograms of ``a`` and ``b`` on shared edges.

    Returns
    -------
    p, q : arrays, shape (n_bins,)
        Probabilities (each sums to 1 over the bins: the edges cover both samples).
    edges : array, shape (n_bins + 1,)
    """
    edges = histogram_edges(a, b, bins)
    a = _as_sample(a, "a")
    b = _as_sample(b, "b")
    p = np.histogram(a, bins=edges)[0] / a.size
    q = np.histogram(b, bins=edges)[0] / b.size
    return p, q, edges


def histogram_distance(a: Any, b: Any, kind: str = "l1", bins: Any = None) -> float:
    """Distance between the histograms of two samples (paper eqs. 5–6).

    Parameters
    ----------
    a : array, shape (m,)
    b : array, shape (m',)
        Samples of one quantity (e.g. a species' count at one time point), any sizes.
    kind : {"l1", "iou"}
        ``"l1"``: sum of absolute differences of the probability histograms, in [0, 2];
        ``"iou"``: one minus intersection over union, in [0, 1].
    bins : None, int, "auto" or array
        Shared binning: unit bins for integer data (None), at most ``bins`` bins, ``"auto"``
        (from the sample sizes, :func:`auto_bins`), or edges.

    Returns
    -------
    float
        0 for identical samples.
    """
    if kind not in DISTANCE_KINDS:
        raise ValueError(f"histogram distance kind must be one of {DISTANCE_KINDS}, got {kind!r}")
    p, q, _ = histogram_pair(a, b, bins)
    if kind == "l1":
        return float(np.abs(p - q).sum())
    inter = np.minimum(p, q).sum()
    union = np.maximum(p, q).sum()
    return float(1.0 - inter / union)


def distance_tables(emulated: np.ndarray, ssa: np.ndarray, ssa_self: np.ndarray, bins: Any = None) -> dict:
    """Histogram distances per (setting, species, lag) for three sample arrays of shape (n, r, k, L).

    Returns ``{"l1", "iou", "self_l1", "self_iou"}`` -> arrays (n, k, L): emulator vs SSA and SSA vs
    an independent SSA ensemble; NaN where a sample holds non-finite values (failed simulations).
    """
    shape = (emulated.shape[0], emulated.shape[2], emulated.shape[3])
    out = {k: np.full(shape, np.nan) for k in ("l1", "iou", "self_l1", "self_iou")}
    for i, j, t in np.ndindex(*shape):
        x, y1, y2 = emulated[i, :, j, t], ssa[i, :, j, t], ssa_self[i, :, j, t]
        if np.isfinite(y1).all() and np.isfinite(y2).all():
            out["self_l1"][i, j, t] = histogram_distance(y2, y1, "l1", bins)
            out["self_iou"][i, j, t] = histogram_distance(y2, y1, "iou", bins)
            if np.isfinite(x).all():
                out["l1"][i, j, t] = histogram_distance(x, y1, "l1", bins)
                out["iou"][i, j, t] = histogram_distance(x, y1, "iou", bins)
    return out
