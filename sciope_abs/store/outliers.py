"""Outlier flagging in stored simulation sets (Sciope's ``DataSet.process_outliers``, returning
the flags instead of printing them).

::

    sims = load_simulations("runs/toggle.zarr")
    rep = flag_outliers(sims)                       # z-scores of per-point trace means
    rep = flag_outliers(sims, summary=my_summary)   # or of any features (n, F)
    sims.theta[rep.rows]                            # the parameter points to look at

Methods: ``"zscore"`` (``|x - mean| / std > threshold``, default 3), ``"robust"`` (the same with
median and 1.4826 x MAD), ``"iqr"`` (outside ``[Q1 - k IQR, Q3 + k IQR]``, ``threshold`` = k,
default 1.5). Non-finite values are reported separately (``nonfinite``), never scored as 0.
With ``n`` points no z-score can exceed ``(n - 1) / sqrt(n)``, so the plain z-score needs
``n > 10`` to flag anything at threshold 3.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

__all__ = ["OutlierReport", "flag_outliers", "OUTLIER_METHODS"]

OUTLIER_METHODS = ("zscore", "robust", "iqr")


@dataclass(frozen=True)
class OutlierReport:
    """What :func:`flag_outliers` found.

    Attributes
    ----------
    mask : bool array, shape (n, F)
        Outlying values.
    scores : array, shape (n, F)
        The per-value score (z-score, robust z-score, or distance beyond the fences in IQRs;
        NaN where the value is not finite).
    rows : int array
        Points with at least one outlying value.
    nonfinite : int array
        Points with a NaN or inf value (failed simulations).
    columns : list of str
        Name of each of the F columns.
    method : str
    threshold : float
    """

    mask: np.ndarray
    scores: np.ndarray
    rows: np.ndarray
    nonfinite: np.ndarray
    columns: list
    method: str
    threshold: float

    def counts(self) -> dict:
        """Outlying values per column (only columns with any)."""
        c = self.mask.sum(axis=0)
        return {self.columns[j]: int(c[j]) for j in np.flatnonzero(c)}


def _values(data: Any, summary: Any) -> tuple[np.ndarray, list]:
    if hasattr(data, "traces") and hasattr(data, "species"):
        traces = np.asarray(data.traces, dtype=np.float64)
        if summary is not None:
            vals = np.asarray(summary(traces), dtype=np.float64)
            names = list(getattr(summary, "names", []) or [])
            return vals, names if len(names) == vals.shape[1] else [f"f{j}" for j in range(vals.shape[1])]
        # per point: mean over trajectories and time, and final-time mean, per species
        vals = np.concatenate([traces.mean(axis=(1, 3)), traces[:, :, :, -1].mean(axis=1)], axis=1)
        names = [f"{s}__mean" for s in data.species] + [f"{s}__final" for s in data.species]
        return vals, names
    if summary is not None:
        raise ValueError("summary= applies to a SimulationSet; pass features (n, F) without it")
    try:
        vals = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("data must be a SimulationSet or a numeric array of shape (n, F)") from None
    if vals.ndim == 1:
        vals = vals[:, None]
    return vals, [f"f{j}" for j in range(vals.shape[1] if vals.ndim == 2 else 0)]


def flag_outliers(data: Any, method: str = "zscore", threshold: Optional[float] = None,
                  summary: Any = None) -> OutlierReport:
    """Flag outlying values column by column.

    Parameters
    ----------
    data : SimulationSet or array, shape (n, F)
        A loaded simulation set (see :func:`~sciope_abs.store.load_simulations`) or features.
    method : {"zscore", "robust", "iqr"}
    threshold : float, optional
        3 for the z-scores, 1.5 for ``"iqr"``.
    summary : Summary, optional
        Features of a SimulationSet's traces (default: per-species mean and final value).

    Returns
    -------
    OutlierReport
    """
    if method not in OUTLIER_METHODS:
        raise ValueError(f"method must be one of {OUTLIER_METHODS}, got {method!r}")
    thr = (1.5 if method == "iqr" else 3.0) if threshold is None else float(threshold)
    if not thr > 0:
        raise ValueError(f"threshold must be > 0, got {threshold!r}")
    x, names = _values(data, summary)
    if x.ndim != 2 or x.shape[0] < 3:
        raise ValueError(f"need values of shape (n >= 3, F), got {x.shape}")
    fin = np.isfinite(x)
    xf = np.where(fin, x, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "iqr":
            q1, q3 = np.nanpercentile(xf, 25, axis=0), np.nanpercentile(xf, 75, axis=0)
            iqr = q3 - q1
            below, above = (q1 - xf) / iqr, (xf - q3) / iqr
            scores = np.fmax(below, above)
            scores = np.where(iqr[None, :] > 0, scores, np.where((xf < q1) | (xf > q3), np.inf, 0.0))
        else:
            if method == "zscore":
                center, spread = np.nanmean(xf, axis=0), np.nanstd(xf, axis=0)
            else:
                center = np.nanmedian(xf, axis=0)
                spread = 1.4826 * np.nanmedian(np.abs(xf - center), axis=0)
            dev = np.abs(xf - center)
            scores = np.where(spread[None, :] > 0, dev / spread, np.where(dev > 0, np.inf, 0.0))
    scores = np.where(fin, scores, np.nan)
    mask = np.nan_to_num(scores, nan=-np.inf) > thr
    return OutlierReport(mask=mask, scores=scores, rows=np.flatnonzero(mask.any(axis=1)),
                         nonfinite=np.flatnonzero(~fin.all(axis=1)), columns=names, method=method, threshold=thr)
