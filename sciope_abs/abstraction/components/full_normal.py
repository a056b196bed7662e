"""Normal with a full covariance ``Sigma = L L^T``, ``L`` lower-triangular with positive diagonal.

Raw parameters, width ``D + D (D + 1) / 2``: ``[mu (D), tril (D (D + 1) / 2)]``; ``tril`` fills the
lower triangle row by row (``L[0,0], L[1,0], L[1,1], L[2,0], ...``) and the diagonal entries go
through ``softplus(raw) + MIN_SCALE``.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .base import LOG_2PI, MIN_SCALE, Component
from .registry import register_component

__all__ = ["FullNormal", "tril_layout"]


def tril_layout(d: int) -> tuple[np.ndarray, np.ndarray]:
    """Gather indices that place a length-``d(d+1)/2`` vector into a ``(d, d)`` lower triangle.

    Returns ``(index (d*d,), is_diag (d*d,))``: ``index`` points into the vector padded with one
    trailing zero (upper-triangle entries point at the pad).
    """
    m = d * (d + 1) // 2
    index = np.full((d, d), m, dtype=np.int32)
    is_diag = np.zeros((d, d), dtype=bool)
    k = 0
    for i in range(d):
        for j in range(i + 1):
            index[i, j] = k
            is_diag[i, j] = i == j
            k += 1
    return index.ravel(), is_diag.ravel()


@register_component
class FullNormal(Component):
    """Full-covariance Normal component (lower-triangular scale)."""

    name = "full_normal"
    support = "real"

    def n_params(self, event_dim: int) -> int:
        d = int(event_dim)
        return d + d * (d + 1) // 2

    def _split(self, params: tf.Tensor):
        d = self.event_dim_from_params(params)
        mu, tril = params[:, :d], params[:, d:]
        index, is_diag = tril_layout(d)
        padded = tf.concat([tril, tf.zeros_like(tril[:, :1])], axis=1)
        flat = tf.gather(padded, index, axis=1)                       # (b, d*d)
        flat = tf.where(is_diag[None, :], tf.nn.softplus(flat) + MIN_SCALE, flat)
        scale = tf.reshape(flat, tf.stack([tf.shape(params)[0], d, d]))
        return mu, scale

    def log_prob(self, params: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        mu, scale = self._split(params)
        d = int(mu.shape[-1])
        z = tf.linalg.triangular_solve(scale, (y - mu)[:, :, None], lower=True)[:, :, 0]
        log_det = tf.reduce_sum(tf.math.log(tf.linalg.diag_part(scale)), axis=-1)
        return -0.5 * tf.reduce_sum(tf.square(z), axis=-1) - log_det - 0.5 * d * LOG_2PI

    def sample_from_noise(self, params: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
        mu, scale = self._split(params)
        return mu + tf.linalg.matvec(scale, eps)

    def mean(self, params: tf.Tensor) -> tf.Tensor:
        return params[:, : self.event_dim_from_params(params)]

    def covariance(self, params: tf.Tensor) -> tf.Tensor:
        """``L L^T``, shape (b, D, D)."""
        _, scale = self._split(params)
        return tf.matmul(scale, scale, transpose_b=True)
