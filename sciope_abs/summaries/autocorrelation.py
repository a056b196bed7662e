"""Autocorrelation at given lags of each species' trajectory."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .base import SpeciesSummary

__all__ = ["AutoCorrelation"]


class AutoCorrelation(SpeciesSummary):
    """Sample autocorrelation at lags ``lags`` (in time steps) per species and realisation::

        acf(l) = sum_t (x_t - m)(x_{t+l} - m) / sum_t (x_t - m)^2

    with ``m`` the time average (the standard biased estimator, in [-1, 1]). A constant
    trajectory has no fluctuations to correlate: its autocorrelation is defined as 0 (not NaN, so
    a valid simulation is never discarded). Lags must be smaller than ``T``.

    Names ``"<species>__autocorr_<lag>"``.
    """

    def __init__(self, lags: Sequence[int] = (1, 2, 5), species: Sequence[str] | None = None,
                 reduce: str = "mean"):
        super().__init__(species, reduce)
        lg = np.atleast_1d(np.asarray(lags))
        if lg.ndim != 1 or lg.size == 0 or lg.dtype.kind not in "iu" or np.any(lg < 1):
            raise ValueError(f"lags must be a non-empty list of positive integers, got {lags!r}")
        self.lags = tuple(int(v) for v in lg)

    def labels(self) -> list[str]:
        return [f"autocorr_{lag}" for lag in self.lags]

    def _per_species(self, x: np.ndarray) -> np.ndarray:
        T = x.shape[-1]
        if max(self.lags) >= T:
            raise ValueError(f"autocorrelation lag {max(self.lags)} needs more than T={T} time points")
        xc = x - x.mean(axis=-1, keepdims=True)
        denom = np.sum(xc * xc, axis=-1)
        out = np.empty(x.shape[:-1] + (len(self.lags),))
        safe = np.where(denom > 0, denom, 1.0)
        for k, lag in enumerate(self.lags):
            num = np.sum(xc[..., :-lag] * xc[..., lag:], axis=-1)
            out[..., k] = np.where(denom > 0, num / safe, 0.0)
        return out

    def _params(self):
        return {"lags": list(self.lags), **super()._params()}
