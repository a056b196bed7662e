"""The base class of a mixture component (a distribution family over ``event_dim`` reals).

A component reads its parameters from a slice of the mixture head's output, shape
``(b, n_params(event_dim))``: *raw* (unconstrained) network outputs that the component maps to
its own constrained parameters (positive scales through ``softplus``).  Everything is plain
TensorFlow (no tensorflow-probability), so that log-probabilities and samples compile into the
emulator's ``tf.function``.
"""
from __future__ import annotations

from typing import Any

import math
from abc import ABC, abstractmethod

import tensorflow as tf

__all__ = ["Component", "MIN_SCALE", "LOG_2PI", "positive_scale", "inverse_cdf_index"]

#: floor on every scale parameter (in the scaled target space) so densities stay bounded.
MIN_SCALE = 1e-4
LOG_2PI = math.log(2.0 * math.pi)


def positive_scale(raw: tf.Tensor) -> tf.Tensor:
    """``softplus(raw) + MIN_SCALE``: an unconstrained output mapped to a positive scale."""
    return tf.nn.softplus(raw) + MIN_SCALE


def inverse_cdf_index(probs: tf.Tensor, u: tf.Tensor) -> tf.Tensor:
    """Index ``k`` (b,) int32 with ``cdf[k-1] <= u < cdf[k]`` for probabilities ``probs`` (b, m)
    and uniforms ``u`` (b,), clamped to ``m - 1``.

    The running sum is taken column by column, left to right (the additions ``tf.cumsum`` makes,
    so the same bits), and compared as it goes: narrow ``(b, m)`` scans and reductions cost more
    than ``m`` column operations.
    """
    m = int(probs.shape[-1])
    acc = probs[:, 0]
    k = tf.cast(acc < u, tf.int32)
    for i in range(1, m - 1):
        acc = acc + probs[:, i]
        k = k + tf.cast(acc < u, tf.int32)
    return k if m > 1 else tf.zeros_like(k)


class Component(ABC):
    """One family of mixture components.

    Attributes
    ----------
    name : str
        Registry name.
    support : {"real", "positive"}
        Where the density lives; the emulator chooses its target parametrisation from it.
    """

    name: str = ""
    support: str = "real"

    @abstractmethod
    def n_params(self, event_dim: int) -> int:
        """Number of raw parameters for an event of ``event_dim`` dimensions."""

    @abstractmethod
    def log_prob(self, params: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        """Log-density of ``y`` (b, event_dim) under ``params`` (b, n_params); returns (b,)."""

    @abstractmethod
    def sample_from_noise(self, params: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
        """Reparameterised sample from standard-normal noise ``eps`` (b, event_dim)."""

    @abstractmethod
    def mean(self, params: tf.Tensor) -> tf.Tensor:
        """The location parameter (mean for normals, median for the log-normal), (b, event_dim)."""

    def sample(self, params: tf.Tensor, seed: Any) -> tf.Tensor:
        """Sample ``(b, event_dim)`` with a stateless seed (shape-[2] int tensor or int)."""
        params = tf.convert_to_tensor(params, tf.float32)
        d = self.event_dim_from_params(params)
        eps = tf.random.stateless_normal(tf.stack([tf.shape(params)[0], d]), seed=_as_stateless_seed(seed))
        return self.sample_from_noise(params, eps)

    def event_dim_from_params(self, params: tf.Tensor) -> int:
        """Recover ``event_dim`` from the static width of ``params``."""
        width = int(params.shape[-1])
        for d in range(1, width + 1):
            if self.n_params(d) == width:
                return d
        raise ValueError(f"component {self.name!r}: no event_dim has {width} parameters")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _as_stateless_seed(seed) -> tf.Tensor:
    if isinstance(seed, int):
        return tf.constant([seed & 0x7FFFFFFF, (seed >> 31) & 0x7FFFFFFF], dtype=tf.int64)
    seed = tf.convert_to_tensor(seed)
    if seed.shape.rank == 0:
        return tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
    return tf.cast(seed, tf.int64)
