"""Burstiness ``(sigma - mu) / (sigma + mu)`` of each species' trajectory."""
from __future__ import annotations

import numpy as np

from .base import SpeciesSummary

__all__ = ["Burstiness"]


class Burstiness(SpeciesSummary):
    """Burstiness ``B = (sigma - mu) / (sigma + mu)`` over time (Goh & Barabasi), per species and
    realisation, with ``mu`` and ``sigma`` the time mean and standard deviation (``ddof=0``).

    ``B = -1`` for a constant trajectory (also an all-zero one, where ``sigma + mu = 0``),
    ``B = 0`` for Poisson-like fluctuations, ``B -> 1`` for very bursty ones.
    Names ``"<species>__burstiness"``.
    """

    def labels(self) -> list[str]:
        return ["burstiness"]

    def _per_species(self, x: np.ndarray) -> np.ndarray:
        mu = x.mean(axis=-1)
        sd = x.std(axis=-1)
        den = sd + mu
        safe = np.where(den != 0, den, 1.0)
        return np.where(den != 0, (sd - mu) / safe, -1.0)[..., None]
