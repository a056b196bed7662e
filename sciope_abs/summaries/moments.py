"""Moments over time: :class:`Mean` and :class:`Std` of each species' trajectory."""
from __future__ import annotations

import numpy as np

from .base import SpeciesSummary

__all__ = ["Mean", "Std"]


class Mean(SpeciesSummary):
    """Time average of each species per realisation (then averaged over realisations unless
    ``reduce="none"``). Names ``"<species>__mean"``."""

    def labels(self) -> list[str]:
        return ["mean"]

    def _per_species(self, x: np.ndarray) -> np.ndarray:
        return x.mean(axis=-1)[..., None]


class Std(SpeciesSummary):
    """Standard deviation over time (``ddof=0``) of each species per realisation. Names
    ``"<species>__std"``."""

    def labels(self) -> list[str]:
        return ["std"]

    def _per_species(self, x: np.ndarray) -> np.ndarray:
        return x.std(axis=-1)[..., None]
