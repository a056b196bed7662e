"""Normal with a diagonal covariance: ``y ~ N(mu, diag(sigma^2))``.

Raw parameters, width ``2 * D``: ``[mu (D), raw_sigma (D)]`` with ``sigma = softplus(raw) + MIN_SCALE``.
"""
from __future__ import annotations

import tensorflow as tf

from .base import LOG_2PI, Component, positive_scale
from .registry import register_component

__all__ = ["DiagNormal"]


@register_component
class DiagNormal(Component):
    """Diagonal-covariance Normal component (the default)."""

    name = "diag_normal"
    support = "real"

    def n_params(self, event_dim: int) -> int:
        return 2 * int(event_dim)

    def _split(self, params: tf.Tensor):
        d = int(params.shape[-1]) // 2
        return params[:, :d], positive_scale(params[:, d:])

    def log_prob(self, params: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        mu, sigma = self._split(params)
        z = (y - mu) / sigma
        return tf.reduce_sum(-0.5 * tf.square(z) - tf.math.log(sigma) - 0.5 * LOG_2PI, axis=-1)

    def sample_from_noise(self, params: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
        mu, sigma = self._split(params)
        return mu + sigma * eps

    def mean(self, params: tf.Tensor) -> tf.Tensor:
        return self._split(params)[0]
