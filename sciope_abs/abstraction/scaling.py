"""Affine standardisation of transition pairs ``(x_t ‖ rates) -> x_{t+dt}``.

:class:`StateScaler` is numpy only (no TensorFlow): it exposes the fitted statistics so that the
emulator can apply the same affine maps inside a compiled TensorFlow function:

- inputs:     ``(v - in_mean_) / in_scale_``          (width ``S + p``)
- targets:    ``(y - out_mean_) / out_scale_``        (width ``S``)
- increments: ``(y - x - delta_mean_) / delta_scale_`` (width ``S``; ``x`` = the state part of
  the input), for an emulator that models the change over one step rather than the next state.

Scales are standard deviations; a constant column (e.g. a species that never changes) gets
scale 1 so nothing is divided by zero.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

__all__ = ["StateScaler"]

_FIELDS = ("in_mean_", "in_scale_", "out_mean_", "out_scale_", "delta_mean_", "delta_scale_")


def _mean_scale(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = v.mean(axis=0)
    std = v.std(axis=0)
    tiny = std <= 1e-12 * np.maximum(1.0, np.abs(mean))
    return mean, np.where(tiny, 1.0, std)


class StateScaler:
    """Standardise emulator inputs, targets and one-step increments.

    Fit it on the training pairs only (``AbstractionDataset`` does).

    Attributes
    ----------
    n_species_, n_rates_ : int
    in_mean_, in_scale_ : arrays, shape (S + p,)
    out_mean_, out_scale_, delta_mean_, delta_scale_ : arrays, shape (S,)
    n_samples_ : int
        Number of pairs the statistics were computed from.
    """

    def fit(self, inputs, targets) -> "StateScaler":
        """Compute the statistics.

        Parameters
        ----------
        inputs : array, shape (m, S + p)
            States followed by rates.
        targets : array, shape (m, S)
            Next states.
        """
        x = np.asarray(inputs, dtype=np.float64)
        y = np.asarray(targets, dtype=np.float64)
        if x.ndim != 2 or y.ndim != 2:
            raise ValueError(f"StateScaler.fit: inputs and targets must be 2-D, got {x.shape} and {y.shape}")
        if x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise ValueError(f"StateScaler.fit: need the same, non-zero number of rows, got {x.shape[0]} and {y.shape[0]}")
        S = y.shape[1]
        if x.shape[1] < S:
            raise ValueError(f"StateScaler.fit: inputs have {x.shape[1]} columns, fewer than the {S} species of the targets")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ValueError("StateScaler.fit: inputs/targets contain NaN or inf")
        self.n_species_ = int(S)
        self.n_rates_ = int(x.shape[1] - S)
        self.n_samples_ = int(x.shape[0])
        self.in_mean_, self.in_scale_ = _mean_scale(x)
        self.out_mean_, self.out_scale_ = _mean_scale(y)
        self.delta_mean_, self.delta_scale_ = _mean_scale(y - x[:, :S])
        return self

    # ------------------------------------------------------------------ checks
    def _check_fitted(self) -> None:
        if not hasattr(self, "in_mean_"):
            raise ValueError("StateScaler is not fitted; call fit(inputs, targets) first")

    def _check_width(self, v, kind: str, what: str) -> np.ndarray:
        self._check_fitted()
        width = self.n_species_ + (self.n_rates_ if kind == "inputs" else 0)
        arr = np.asarray(v, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != width:
            raise ValueError(f"StateScaler: {what} must have shape (m, {width}), got {arr.shape}")
        return arr

    # ------------------------------------------------------------------ transforms
    def transform_inputs(self, x) -> np.ndarray:
        """``(x - in_mean_) / in_scale_``; shape (m, S + p) -> (m, S + p) float32."""
        x = self._check_width(x, "inputs", "inputs")
        return ((x - self.in_mean_) / self.in_scale_).astype(np.float32)

    def transform_targets(self, y) -> np.ndarray:
        """``(y - out_mean_) / out_scale_``; shape (m, S) -> (m, S) float32."""
        y = self._check_width(y, "states", "targets")
        return ((y - self.out_mean_) / self.out_scale_).astype(np.float32)

    def inverse_targets(self, y_scaled) -> np.ndarray:
        """Inverse of :meth:`transform_targets`; float64."""
        y = self._check_width(y_scaled, "states", "scaled targets")
        return y * self.out_scale_ + self.out_mean_

    def transform_deltas(self, x, y) -> np.ndarray:
        """Scaled increments ``(y - x[:, :S] - delta_mean_) / delta_scale_``, float32."""
        x = self._check_width(x, "inputs", "inputs")
        y = self._check_width(y, "states", "targets")
        return ((y - x[:, : self.n_species_] - self.delta_mean_) / self.delta_scale_).astype(np.float32)

    def inverse_deltas(self, x, d_scaled) -> np.ndarray:
        """Next states from scaled increments: ``x[:, :S] + d * delta_scale_ + delta_mean_``."""
        x = self._check_width(x, "inputs", "inputs")
        d = self._check_width(d_scaled, "states", "scaled increments")
        return x[:, : self.n_species_] + d * self.delta_scale_ + self.delta_mean_

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict:
        """JSON-friendly statistics (lists of floats)."""
        self._check_fitted()
        d = {k: np.asarray(getattr(self, k)).tolist() for k in _FIELDS}
        d.update(n_species=self.n_species_, n_rates=self.n_rates_, n_samples=self.n_samples_)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "StateScaler":
        missing = [k for k in (*_FIELDS, "n_species", "n_rates") if k not in d]
        if missing:
            raise ValueError(f"StateScaler.from_dict: missing keys {missing}")
        self = cls()
        for k in _FIELDS:
            setattr(self, k, np.asarray(d[k], dtype=np.float64))
        self.n_species_ = int(d["n_species"])
        self.n_rates_ = int(d["n_rates"])
        self.n_samples_ = int(d.get("n_samples", 0))
        if self.in_mean_.shape != (self.n_species_ + self.n_rates_,) or self.out_mean_.shape != (self.n_species_,):
            raise ValueError("StateScaler.from_dict: statistics do not match n_species/n_rates")
        return self

    def __eq__(self, other) -> bool:
        if not isinstance(other, StateScaler):
            return NotImplemented
        if not (hasattr(self, "in_mean_") and hasattr(other, "in_mean_")):
            return self is other
        return all(np.array_equal(getattr(self, k), getattr(other, k)) for k in _FIELDS)

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        if not hasattr(self, "in_mean_"):
            return "StateScaler(unfitted)"
        return f"StateScaler(S={self.n_species_}, p={self.n_rates_}, fitted on {self.n_samples_} pairs)"
