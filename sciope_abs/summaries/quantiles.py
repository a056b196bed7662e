"""Quantiles over time of each species' trajectory."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .base import SpeciesSummary

__all__ = ["Quantiles"]


class Quantiles(SpeciesSummary):
    """Quantiles ``qs`` over time (numpy's linear interpolation) of each species per realisation.

    Parameters
    ----------
    qs : sequence of float in [0, 1]
    species, reduce : see :class:`~sciope_abs.summaries.base.RealisationSummary`

    Names ``"<species>__quantile_<q>"``, e.g. ``"U__quantile_0.5"``.
    """

    def __init__(self, qs: Sequence[float] = (0.1, 0.5, 0.9), species: Sequence[str] | None = None,
                 reduce: str = "mean"):
        super().__init__(species, reduce)
        q = np.atleast_1d(np.asarray(qs, dtype=np.float64))
        if q.ndim != 1 or q.size == 0 or np.any(np.isnan(q)) or np.any((q < 0) | (q > 1)):
            raise ValueError(f"quantiles qs must be a non-empty list of numbers in [0, 1], got {qs!r}")
        self.qs = tuple(float(v) for v in q)

    def labels(self) -> list[str]:
        return [f"quantile_{q:g}" for q in self.qs]

    def _per_species(self, x: np.ndarray) -> np.ndarray:
        return np.moveaxis(np.quantile(x, self.qs, axis=-1), 0, -1)

    def _params(self):
        return {"qs": list(self.qs), **super()._params()}
