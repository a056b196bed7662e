"""The state at the last time point: its mean and variance over realisations."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .base import Summary, REDUCE_MODES

__all__ = ["FinalValue"]


class FinalValue(Summary):
    """Final-time counts of each species.

    ``reduce="mean"`` (default): the mean and the variance (``ddof=0``) over the ``r``
    realisations of ``x[..., -1]``; names ``"<species>__final_mean"``, ``"<species>__final_var"``;
    output (n, 2 S). ``reduce="none"``: the final value of each realisation; names
    ``"<species>__final"``; output (n, r, S).
    """

    def __init__(self, species: Sequence[str] | None = None, reduce: str = "mean"):
        super().__init__(species)
        if reduce not in REDUCE_MODES:
            raise ValueError(f"reduce must be one of {REDUCE_MODES}, got {reduce!r}")
        self.reduce = reduce

    def _names(self, species: tuple[str, ...]) -> list[str]:
        if self.reduce == "none":
            return [f"{s}__final" for s in species]
        return [f"{s}__{lab}" for s in species for lab in ("final_mean", "final_var")]

    def _compute(self, x: np.ndarray, species: tuple[str, ...]) -> np.ndarray:
        last = x[..., -1]  # (n, r, S)
        if self.reduce == "none":
            return last.copy()
        return np.stack([last.mean(axis=1), last.var(axis=1)], axis=-1).reshape(x.shape[0], -1)
