"""Correlation between pairs of species over time."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .._checks import check_nonneg_int
from .base import RealisationSummary

__all__ = ["CrossCorrelation"]


class CrossCorrelation(RealisationSummary):
    """Pearson correlation over time between two species' trajectories, per realisation.

    Parameters
    ----------
    pairs : sequence of (a, b), optional
        Species pairs by name (needs ``species``) or by index; default all pairs ``i < j``.
    lag : int
        Correlate ``a_t`` with ``b_{t+lag}`` (default 0).
    species, reduce : see :class:`~sciope_abs.summaries.base.RealisationSummary`

    A pair in which either trajectory is constant has correlation 0. Names
    ``"<a>__crosscorr_<b>"`` (``"<a>__crosscorr_<b>_lag<k>"`` when ``lag > 0``).
    """

    def __init__(self, pairs: Sequence[tuple] | None = None, lag: int = 0,
                 species: Sequence[str] | None = None, reduce: str = "mean"):
        super().__init__(species, reduce)
        self.lag = check_nonneg_int(lag, "lag")
        if pairs is not None:
            pairs = [tuple(p) for p in pairs]
            if not pairs or any(len(p) != 2 for p in pairs):
                raise ValueError(f"pairs must be a non-empty list of (a, b) pairs, got {pairs!r}")
        self.pairs = pairs
        if pairs is not None and self.species is not None:
            self._resolve(self.species)

    def _resolve(self, species: tuple[str, ...]) -> list[tuple[int, int]]:
        S = len(species)
        if self.pairs is None:
            if S < 2:
                raise ValueError("CrossCorrelation needs at least two species")
            return [(i, j) for i in range(S) for j in range(i + 1, S)]
        out = []
        for a, b in self.pairs:
            idx = []
            for s in (a, b):
                if isinstance(s, (int, np.integer)) and not isinstance(s, bool):
                    if not 0 <= s < S:
                        raise ValueError(f"species index {s} out of range for S={S}")
                    idx.append(int(s))
                elif s in species:
                    idx.append(species.index(s))
                else:
                    raise ValueError(f"unknown species {s!r} in pairs (species are {list(species)})")
            out.append((idx[0], idx[1]))
        return out

    def _names(self, species: tuple[str, ...]) -> list[str]:
        suffix = f"_lag{self.lag}" if self.lag else ""
        return [f"{species[i]}__crosscorr_{species[j]}{suffix}" for i, j in self._resolve(species)]

    def _per_realisation(self, x: np.ndarray, species: tuple[str, ...]) -> np.ndarray:
        T = x.shape[-1]
        if self.lag >= T - 1:
            raise ValueError(f"cross-correlation lag {self.lag} needs more than T={T} time points")
        out = []
        for i, j in self._resolve(species):
            a = x[:, :, i, : T - self.lag]
            b = x[:, :, j, self.lag:]
            ac = a - a.mean(axis=-1, keepdims=True)
            bc = b - b.mean(axis=-1, keepdims=True)
            den = np.sqrt(np.sum(ac * ac, axis=-1) * np.sum(bc * bc, axis=-1))
            num = np.sum(ac * bc, axis=-1)
            out.append(np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0))
        return np.stack(out, axis=-1)

    def _params(self):
        return {"pairs": self.pairs, "lag": self.lag or None, **super()._params()}
