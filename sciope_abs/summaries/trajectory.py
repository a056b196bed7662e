"""The trajectory itself as features (identity summary)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .base import NamesUnknownError, SpeciesSummary, check_traces

__all__ = ["MeanTrajectory", "Identity"]


class MeanTrajectory(SpeciesSummary):
    """The raw trajectory, flattened species-major: ``F = S * T``.

    ``reduce="mean"`` (default) gives the mean trajectory over realisations; ``reduce="none"``
    every realisation's own trajectory. Names ``"<species>__t<k>"`` for time index ``k``; pass
    ``time_index`` to keep only some time points.
    """

    def __init__(self, species: Sequence[str] | None = None, reduce: str = "mean",
                 time_index: Sequence[int] | None = None):
        super().__init__(species, reduce)
        if time_index is not None:
            ti = np.atleast_1d(np.asarray(time_index))
            if ti.ndim != 1 or ti.size == 0 or ti.dtype.kind not in "iu":
                raise ValueError(f"time_index must be a non-empty list of integers, got {time_index!r}")
            time_index = tuple(int(v) for v in ti)
        self.time_index = time_index
        self.n_times_: int | None = None if time_index is None else len(time_index)

    def labels(self) -> list[str]:
        if self.time_index is not None:
            return [f"t{k}" for k in self.time_index]
        if self.n_times_ is None:
            raise NamesUnknownError("MeanTrajectory: the number of time points is known after fit(x) or the first call")
        return [f"t{k}" for k in range(self.n_times_)]

    def fit(self, x: Any, /) -> "MeanTrajectory":
        x = check_traces(x)
        super().fit(x)
        self.n_times_ = x.shape[-1] if self.time_index is None else len(self.time_index)
        return self

    def _per_species(self, x: np.ndarray) -> np.ndarray:
        T = x.shape[-1]
        if self.time_index is None:
            self.n_times_ = T
            return x
        bad = [k for k in self.time_index if not -T <= k < T]
        if bad:
            raise ValueError(f"time_index {bad} out of range for T={T}")
        return x[..., list(self.time_index)]

    def _params(self):
        return {**super()._params(), "time_index": list(self.time_index) if self.time_index else None}


#: Alias: the identity summary (mean trajectory).
Identity = MeanTrajectory
