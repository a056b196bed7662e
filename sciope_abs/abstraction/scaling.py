"""The one scaler of the deep abstraction: affine standardisation plus the target parametrisation.

:class:`StateScaler` is fitted on the train split's transition pairs ``(x_t ‖ rates) -> x_{t+dt}``
only (``AbstractionDataset`` does), numpy only, and exposes its statistics so the emulator applies
the same affine maps inside a compiled TensorFlow function:

- inputs:     ``(v - in_mean_) / in_scale_``          (width ``S + p``)
- targets:    ``(y - out_mean_) / out_scale_``        (width ``S``)
- increments: ``(y - x - delta_mean_) / delta_scale_`` (width ``S``; ``x`` = the state part of
  the input), for an emulator that models the change over one step rather than the next state.

Scales are standard deviations; a constant column (e.g. a species that never changes) gets
scale 1 so nothing is divided by zero.

How the MDN sees its target is the scaler's ``target`` (set with :meth:`StateScaler.with_target`):

``"delta"`` (default for real-support components)
    the increment ``(y - x - delta_mean_) / delta_scale_``: the network learns a correction to
    the current state, which keeps slowly-changing species (gene switches) near-exact;
``"state"``
    the next state itself, ``(y - out_mean_) / out_scale_``;
``"positive"`` (forced for positive-support components, e.g. the log-normal)
    ``(y + 1) / out_scale_``, strictly positive for counts ``y >= 0``.

Training dequantises the integer targets with uniform noise of half-width ``0.5`` count
(:meth:`StateScaler.half_width`, in target units), so a density is fitted to the mass of each
count's unit cell (the paper's infinity-norm ball ``B_s``) and components cannot collapse onto
single integers.  Sampling maps a draw back to counts with :meth:`StateScaler.decode_tf`; the
emulator then rounds, clips at 0 and restores conserved totals.

Saved as JSON (:meth:`StateScaler.to_dict`); files written before the target was part of the
scaler (no ``target`` key, or only the six statistics) still load, the target then coming from
the emulator's config.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

__all__ = ["StateScaler", "TARGET_KINDS"]

#: the target parametrisations of the network
TARGET_KINDS = ("delta", "state", "positive")

_FIELDS = ("in_mean_", "in_scale_", "out_mean_", "out_scale_", "delta_mean_", "delta_scale_")


def _mean_scale(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = v.mean(axis=0)
    std = v.std(axis=0)
    tiny = std <= 1e-12 * np.maximum(1.0, np.abs(mean))
    return mean, np.where(tiny, 1.0, std)


def _check_target(target) -> str:
    if target not in TARGET_KINDS:
        raise ValueError(f"unknown target kind {target!r}; choose one of {TARGET_KINDS}")
    return target


class StateScaler:
    """Standardise emulator inputs, targets and one-step increments; encode the network's target.

    Fit it on the training pairs only (``AbstractionDataset`` does).

    Parameters
    ----------
    target : {"delta", "state", "positive"}
        The target parametrisation of :meth:`encode_targets` / :meth:`decode` (see the module
        docstring); a dataset's scaler keeps the default, an emulator's has its own
        (:meth:`with_target`).

    Attributes
    ----------
    n_species_, n_rates_ : int
    in_mean_, in_scale_ : arrays, shape (S + p,)
    out_mean_, out_scale_, delta_mean_, delta_scale_ : arrays, shape (S,)
    n_samples_ : int
        Number of pairs the statistics were computed from.
    """

    def __init__(self, target: str = "delta") -> None:
        self.target = _check_target(target)

    def with_target(self, target: str) -> "StateScaler":
        """A copy with the same fitted statistics and target parametrisation ``target``."""
        self._check_fitted()
        out = StateScaler(target)
        for k in _FIELDS:
            setattr(out, k, np.array(getattr(self, k), dtype=np.float64))
        out.n_species_, out.n_rates_, out.n_samples_ = self.n_species_, self.n_rates_, self.n_samples_
        return out

    def fit(self, inputs: Any, targets: Any) -> "StateScaler":
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
    def transform_inputs(self, x: Any) -> np.ndarray:
        """``(x - in_mean_) / in_scale_``; shape (m, S + p) -> (m, S + p) float32."""
        x = self._check_width(x, "inputs", "inputs")
        return ((x - self.in_mean_) / self.in_scale_).astype(np.float32)

    def transform_targets(self, y: Any) -> np.ndarray:
        """``(y - out_mean_) / out_scale_``; shape (m, S) -> (m, S) float32."""
        y = self._check_width(y, "states", "targets")
        return ((y - self.out_mean_) / self.out_scale_).astype(np.float32)

    def inverse_targets(self, y_scaled: Any) -> np.ndarray:
        """Inverse of :meth:`transform_targets`; float64."""
        y = self._check_width(y_scaled, "states", "scaled targets")
        return y * self.out_scale_ + self.out_mean_

    def transform_deltas(self, x: Any, y: Any) -> np.ndarray:
        """Scaled increments ``(y - x[:, :S] - delta_mean_) / delta_scale_``, float32."""
        x = self._check_width(x, "inputs", "inputs")
        y = self._check_width(y, "states", "targets")
        return ((y - x[:, : self.n_species_] - self.delta_mean_) / self.delta_scale_).astype(np.float32)

    def inverse_deltas(self, x: Any, d_scaled: Any) -> np.ndarray:
        """Next states from scaled increments: ``x[:, :S] + d * delta_scale_ + delta_mean_``."""
        x = self._check_width(x, "inputs", "inputs")
        d = self._check_width(d_scaled, "states", "scaled increments")
        return x[:, : self.n_species_] + d * self.delta_scale_ + self.delta_mean_

    # ------------------------------------------------------------------ the network's encoding
    def encode_inputs(self, x: Any) -> np.ndarray:
        """``(state || rates)`` (m, S + p) -> scaled float32 (same as :meth:`transform_inputs`)."""
        return self.transform_inputs(x)

    def encode_targets(self, x: Any, y: Any) -> np.ndarray:
        """Next states ``y`` (m, S) given inputs ``x`` (m, S + p) or states (m, S) -> float32
        targets in the :attr:`target` parametrisation."""
        self._check_fitted()
        S = self.n_species_
        x = np.asarray(x, dtype=np.float64)[:, :S]
        y = np.asarray(y, dtype=np.float64)
        if y.ndim != 2 or y.shape[1] != S or x.shape[0] != y.shape[0]:
            raise ValueError(f"targets must have shape ({x.shape[0]}, {S}), got {y.shape}")
        if self.target == "delta":
            z = (y - x - self.delta_mean_) / self.delta_scale_
        elif self.target == "state":
            z = (y - self.out_mean_) / self.out_scale_
        else:
            z = (y + 1.0) / self.out_scale_
        return z.astype(np.float32)

    def encode(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Raw pairs -> ``(encode_inputs(x), encode_targets(x, y))``, the network's training data."""
        return self.encode_inputs(x), self.encode_targets(x, y)

    def target_scale(self) -> np.ndarray:
        """Counts per target unit, (S,)."""
        self._check_fitted()
        return self.delta_scale_ if self.target == "delta" else self.out_scale_

    def half_width(self) -> np.ndarray:
        """Dequantisation half-width (0.5 count) in target units, (S,) float32."""
        return (0.5 / self.target_scale()).astype(np.float32)

    def decode(self, state: Any, z: Any) -> np.ndarray:
        """numpy inverse of :meth:`encode_targets` (real-valued counts, before rounding)."""
        self._check_fitted()
        state = np.asarray(state, dtype=np.float64)[:, : self.n_species_]
        z = np.asarray(z, dtype=np.float64)
        if self.target == "delta":
            return state + self.delta_mean_ + z * self.delta_scale_
        if self.target == "state":
            return self.out_mean_ + z * self.out_scale_
        return z * self.out_scale_ - 1.0

    def encode_inputs_tf(self, x: Any) -> Any:
        """TensorFlow :meth:`encode_inputs` of a float32 tensor (b, S + p)."""
        import tensorflow as tf

        return (x - tf.constant(self.in_mean_, tf.float32)) / tf.constant(self.in_scale_, tf.float32)

    def decode_tf(self, state: Any, z: Any) -> Any:
        """TensorFlow :meth:`decode` of float32 tensors ``state`` (b, S) and ``z`` (b, S)."""
        import tensorflow as tf

        f = lambda v: tf.constant(v, tf.float32)  # noqa: E731
        if self.target == "delta":
            return state + f(self.delta_mean_) + z * f(self.delta_scale_)
        if self.target == "state":
            return f(self.out_mean_) + z * f(self.out_scale_)
        return z * f(self.out_scale_) - 1.0

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict:
        """JSON-friendly statistics (lists of floats) and the target."""
        self._check_fitted()
        d = {k: np.asarray(getattr(self, k)).tolist() for k in _FIELDS}
        d.update(n_species=self.n_species_, n_rates=self.n_rates_, n_samples=self.n_samples_, target=self.target)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "StateScaler":
        """Rebuild from :meth:`to_dict`; refuses missing, mis-shaped or non-finite statistics."""
        missing = [k for k in _FIELDS if k not in d]
        if missing:
            raise ValueError(f"StateScaler.from_dict: missing keys {missing}")
        self = cls(d.get("target", "delta"))
        for k in _FIELDS:
            v = np.asarray(d[k], dtype=np.float64)
            if v.ndim != 1 or not np.isfinite(v).all() or (k.endswith("scale_") and (v <= 0).any()):
                raise ValueError(f"StateScaler.from_dict: {k} must be a vector of finite numbers"
                                 f"{' > 0' if k.endswith('scale_') else ''}, got {d[k]!r:.80}")
            setattr(self, k, v)
        # files holding only the six statistics: the widths follow from them
        self.n_species_ = int(d.get("n_species", self.out_mean_.size))
        self.n_rates_ = int(d.get("n_rates", self.in_mean_.size - self.n_species_))
        self.n_samples_ = int(d.get("n_samples", 0))
        S, width = self.n_species_, self.n_species_ + self.n_rates_
        if self.in_mean_.shape != (width,) or self.in_scale_.shape != (width,) or \
                any(getattr(self, k).shape != (S,) for k in _FIELDS[2:]):
            raise ValueError("StateScaler.from_dict: statistics do not match n_species/n_rates")
        return self

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, StateScaler):
            return NotImplemented
        if not (hasattr(self, "in_mean_") and hasattr(other, "in_mean_")):
            return self is other
        return self.target == other.target and all(np.array_equal(getattr(self, k), getattr(other, k))
                                                   for k in _FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        if not hasattr(self, "in_mean_"):
            return f"StateScaler(target={self.target!r}, unfitted)"
        return (f"StateScaler(target={self.target!r}, S={self.n_species_}, p={self.n_rates_}, "
                f"fitted on {self.n_samples_} pairs)")
