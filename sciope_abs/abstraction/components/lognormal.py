"""Log-normal with a diagonal covariance of ``log y``: ``log y ~ N(mu, diag(sigma^2))``.

Raw parameters, width ``2 * D``: ``[mu (D), raw_sigma (D)]`` (``mu``, ``sigma`` of ``log y``).
Support is ``y > 0``; the emulator therefore models a strictly positive target with it
(see :mod:`sciope_abs.abstraction.scaling`).  A non-positive ``y`` gets a very low, finite
log-density (``y`` is floored at 1e-12), never NaN.
"""
from __future__ import annotations

import tensorflow as tf

from .base import LOG_2PI, Component, positive_scale
from .registry import register_component

__all__ = ["LogNormal"]

_Y_FLOOR = 1e-12


@register_component
class LogNormal(Component):
    """Diagonal log-normal component (positive support)."""

    name = "lognormal"
    support = "positive"

    def n_params(self, event_dim: int) -> int:
        return 2 * int(event_dim)

    def _split(self, params: tf.Tensor):
        d = int(params.shape[-1]) // 2
        return params[:, :d], positive_scale(params[:, d:])

    def log_prob(self, params: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        mu, sigma = self._split(params)
        log_y = tf.math.log(tf.maximum(y, _Y_FLOOR))
        z = (log_y - mu) / sigma
        return tf.reduce_sum(-0.5 * tf.square(z) - tf.math.log(sigma) - 0.5 * LOG_2PI - log_y, axis=-1)

    def sample_from_noise(self, params: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
        mu, sigma = self._split(params)
        # cap the exponent so a wild draw cannot overflow float32
        return tf.exp(tf.minimum(mu + sigma * eps, 80.0))

    def mean(self, params: tf.Tensor) -> tf.Tensor:
        """The median ``exp(mu)`` (the mode of each log-coordinate)."""
        return tf.exp(tf.minimum(self._split(params)[0], 80.0))
