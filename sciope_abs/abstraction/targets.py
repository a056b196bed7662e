"""How the MDN sees states: input scaling and the target parametrisation.

The network never sees counts.  Inputs ``(state_t || rates)`` are standardised with the train
split's statistics, ``(v - in_mean_) / in_scale_``.  The target ``state_{t+dt}`` is modelled in
one of three scaled forms (``kind``):

``"delta"`` (default for real-support components)
    the increment ``(y - x - delta_mean_) / delta_scale_``: the network learns a correction to
    the current state, which keeps slowly-changing species (gene switches) near-exact;
``"state"``
    the next state itself, ``(y - out_mean_) / out_scale_``;
``"positive"`` (forced for positive-support components, e.g. the log-normal)
    ``(y + 1) / out_scale_``, strictly positive for counts ``y >= 0``.

Training dequantises the integer targets with uniform noise of half-width ``0.5`` count
(:meth:`Scaling.half_width`, in target units), so a density is fitted to the mass of each count's
unit cell (the paper's infinity-norm ball ``B_s``) and components cannot collapse onto single
integers.  Sampling maps a draw back to counts with :meth:`Scaling.decode_tf`; the emulator then
rounds, clips at 0 and restores conserved totals.

Zero or non-finite scales (a species that never changes) are replaced by 1.  All statistics come
from the dataset's :class:`~sciope_abs.abstraction.scaling.StateScaler` (fitted on train only).
"""
from __future__ import annotations

import numpy as np

__all__ = ["Scaling", "TARGET_KINDS"]

TARGET_KINDS = ("delta", "state", "positive")


def _safe_scale(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64).ravel()
    return np.where(np.isfinite(v) & (v > 0), v, 1.0)


def _vec(v, n: int, what: str) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64).ravel()
    if v.shape != (n,):
        raise ValueError(f"scaler statistic {what} has shape {v.shape}, expected ({n},)")
    return np.where(np.isfinite(v), v, 0.0)


class Scaling:
    """Fitted affine input scaling plus the target parametrisation.

    Parameters
    ----------
    kind : {"delta", "state", "positive"}
    in_mean, in_scale : array (S + p,)
    out_mean, out_scale, delta_mean, delta_scale : array (S,)
    """

    def __init__(self, kind: str, in_mean, in_scale, out_mean, out_scale, delta_mean, delta_scale):
        if kind not in TARGET_KINDS:
            raise ValueError(f"unknown target kind {kind!r}; choose one of {TARGET_KINDS}")
        self.kind = kind
        self.in_mean = np.asarray(in_mean, dtype=np.float64).ravel()
        self.in_scale = _safe_scale(in_scale)
        if self.in_scale.shape != self.in_mean.shape:
            raise ValueError(f"in_mean_ {self.in_mean.shape} and in_scale_ {self.in_scale.shape} differ in shape")
        S = np.asarray(out_mean).size
        self.out_mean = _vec(out_mean, S, "out_mean_")
        self.out_scale = _safe_scale(_vec(out_scale, S, "out_scale_"))
        self.delta_mean = _vec(delta_mean, S, "delta_mean_")
        self.delta_scale = _safe_scale(_vec(delta_scale, S, "delta_scale_"))

    @classmethod
    def from_scaler(cls, scaler, kind: str) -> "Scaling":
        """Read the fitted statistics of a ``StateScaler`` (any object with the six ``*_`` arrays)."""
        try:
            return cls(kind, scaler.in_mean_, scaler.in_scale_, scaler.out_mean_, scaler.out_scale_,
                       scaler.delta_mean_, scaler.delta_scale_)
        except AttributeError as exc:
            raise ValueError(f"scaler is not fitted or lacks a statistic: {exc}") from None

    @property
    def n_species(self) -> int:
        return self.out_mean.size

    @property
    def n_inputs(self) -> int:
        return self.in_mean.size

    # ---------------------------------------------------------------- numpy (training side)
    def encode_inputs(self, x) -> np.ndarray:
        """``(state || rates)`` (m, S + p) -> scaled float32."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise ValueError(f"inputs must have shape (m, {self.n_inputs}), got {x.shape}")
        return ((x - self.in_mean) / self.in_scale).astype(np.float32)

    def encode(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Raw pairs -> ``(encode_inputs(x), encode_targets(x, y))``, the network's training data."""
        return self.encode_inputs(x), self.encode_targets(x, y)

    def encode_targets(self, x, y) -> np.ndarray:
        """Next states ``y`` (m, S) given inputs ``x`` (m, S + p) or states (m, S) -> float32 targets."""
        x = np.asarray(x, dtype=np.float64)[:, : self.n_species]
        y = np.asarray(y, dtype=np.float64)
        if y.ndim != 2 or y.shape[1] != self.n_species or x.shape[0] != y.shape[0]:
            raise ValueError(f"targets must have shape ({x.shape[0]}, {self.n_species}), got {y.shape}")
        if self.kind == "delta":
            z = (y - x - self.delta_mean) / self.delta_scale
        elif self.kind == "state":
            z = (y - self.out_mean) / self.out_scale
        else:
            z = (y + 1.0) / self.out_scale
        return z.astype(np.float32)

    def target_scale(self) -> np.ndarray:
        """Counts per target unit, (S,)."""
        return self.delta_scale if self.kind == "delta" else self.out_scale

    def half_width(self) -> np.ndarray:
        """Dequantisation half-width (0.5 count) in target units, (S,) float32."""
        return (0.5 / self.target_scale()).astype(np.float32)

    def decode(self, state, z) -> np.ndarray:
        """numpy inverse of :meth:`encode_targets` (real-valued counts, before rounding)."""
        state = np.asarray(state, dtype=np.float64)[:, : self.n_species]
        z = np.asarray(z, dtype=np.float64)
        if self.kind == "delta":
            return state + self.delta_mean + z * self.delta_scale
        if self.kind == "state":
            return self.out_mean + z * self.out_scale
        return z * self.out_scale - 1.0

    # ---------------------------------------------------------------- TensorFlow (emulator side)
    def encode_inputs_tf(self, x):
        import tensorflow as tf

        return (x - tf.constant(self.in_mean, tf.float32)) / tf.constant(self.in_scale, tf.float32)

    def decode_tf(self, state, z):
        import tensorflow as tf

        f = lambda v: tf.constant(v, tf.float32)  # noqa: E731
        if self.kind == "delta":
            return state + f(self.delta_mean) + z * f(self.delta_scale)
        if self.kind == "state":
            return f(self.out_mean) + z * f(self.out_scale)
        return z * f(self.out_scale) - 1.0

    # ---------------------------------------------------------------- persistence
    def to_dict(self) -> dict:
        return {"kind": self.kind, "in_mean": self.in_mean.tolist(), "in_scale": self.in_scale.tolist(),
                "out_mean": self.out_mean.tolist(), "out_scale": self.out_scale.tolist(),
                "delta_mean": self.delta_mean.tolist(), "delta_scale": self.delta_scale.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Scaling":
        return cls(d["kind"], d["in_mean"], d["in_scale"], d["out_mean"], d["out_scale"],
                   d["delta_mean"], d["delta_scale"])

    def __repr__(self) -> str:
        return f"Scaling(kind={self.kind!r}, S={self.n_species}, inputs={self.n_inputs})"
