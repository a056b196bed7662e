"""The mixture density head: flat network output -> mixture of components over ``event_dim``.

Layout of the flat head output ``head_out`` (b, H), with ``K`` components over ``D`` dimensions:

    [ logits (K) | raw params of component 0 | raw params of component 1 | ... ]

``H = K + sum_k n_params_k(D)`` (:func:`head_size`).  ``component`` is a registry name (all
``K`` components of that family, e.g. ``"diag_normal"``), a config dict of a configured family
(e.g. ``{"name": "categorical", ...}``: categorical low-copy dimensions beside a continuous base,
:mod:`.components.categorical`), or a sequence of ``K`` of those (a mixed mixture, e.g. four
``"diag_normal"`` then two ``"full_normal"``; families of different support cannot be mixed).  Consecutive components of the same family are evaluated as one batched block.

Everything is plain TensorFlow; the loss is the mean negative log-likelihood
(:func:`mixture_nll`).  Sampling is reparameterised from explicit noise
(:func:`mixture_sample_from_noise`: one uniform for the component choice and ``D`` standard
normals per row), which is what lets the emulator draw per-trajectory noise from per-point seeds
and stay reproducible whatever the batch; :func:`mixture_sample` draws that noise from a
stateless TensorFlow seed.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from .components import get_component
from .components.base import inverse_cdf_index

__all__ = ["as_spec", "head_size", "resolve_components", "mixture_log_prob", "mixture_nll",
           "mixture_sample", "mixture_sample_from_noise", "mixture_parameters", "component_support",
           "mixture_class_probabilities"]

def as_spec(component: Any) -> Any:
    """A JSON-able component spec: a name or config dict as is, a sequence as a list."""
    if isinstance(component, (str, dict)):
        return component
    if hasattr(component, "config") and callable(component.config):
        return component.config()
    return [as_spec(c) for c in component]


def resolve_components(component: Any, n_components: int) -> list:
    """The ``K`` component instances of a mixture (validates the spec; one-line ValueError)."""
    n_components = int(n_components)
    if n_components < 1:
        raise ValueError(f"n_components must be >= 1, got {n_components}")
    if not isinstance(component, (list, tuple)):
        comps = [get_component(component)] * n_components
    else:
        if len(component) != n_components:
            raise ValueError(f"component list has {len(component)} names for n_components={n_components}")
        comps = [get_component(c) for c in component]
    supports = {c.support for c in comps}
    if len(supports) > 1:
        raise ValueError(f"cannot mix components of different support {sorted(supports)} in one mixture")
    return comps


def component_support(component: Any, n_components: int = 1) -> str:
    """``"real"`` or ``"positive"``: the support of the mixture's components."""
    return resolve_components(component, n_components)[0].support


def head_size(n_components: int, event_dim: int, component: Any = "diag_normal") -> int:
    """Width ``H`` of the flat head output."""
    comps = resolve_components(component, n_components)
    return len(comps) + sum(c.n_params(event_dim) for c in comps)


def _key(comp):
    """Components with equal keys share one batched block (the config for a configured family)."""
    config = getattr(comp, "config", None)
    return repr(config()) if callable(config) else comp.name


def _blocks(n_components: int, event_dim: int, component):
    """Static layout: list of (component, first_k, n_k, offset, n_params) blocks."""
    comps = resolve_components(component, n_components)
    blocks, offset, k = [], len(comps), 0
    while k < len(comps):
        j = k
        while j < len(comps) and _key(comps[j]) == _key(comps[k]):
            j += 1
        npar = comps[k].n_params(event_dim)
        blocks.append((comps[k], k, j - k, offset, npar))
        offset += (j - k) * npar
        k = j
    return blocks


def _block_params(head_out: tf.Tensor, offset: int, n_k: int, npar: int) -> tf.Tensor:
    """Params of one block reshaped to (b * n_k, npar) (component-major inside each row)."""
    p = head_out[:, offset: offset + n_k * npar]
    return tf.reshape(p, [-1, npar])


def _check_head(head_out, n_components, event_dim, component) -> tf.Tensor:
    head_out = tf.convert_to_tensor(head_out, tf.float32)
    want = head_size(n_components, event_dim, component)
    if head_out.shape[-1] is not None and int(head_out.shape[-1]) != want:
        raise ValueError(f"head output has width {int(head_out.shape[-1])}, expected {want} for "
                         f"{n_components} x {component!r} over {event_dim} dimensions")
    return head_out


def _component_log_probs(y, head_out, n_components, event_dim, component):
    """``(log_weights (b, K), component log-densities (b, K))``."""
    head_out = _check_head(head_out, n_components, event_dim, component)
    y = tf.convert_to_tensor(y, tf.float32)
    K = int(n_components)
    log_w = tf.nn.log_softmax(head_out[:, :K], axis=-1)
    parts = []
    for comp, _, n_k, offset, npar in _blocks(K, event_dim, component):
        params = _block_params(head_out, offset, n_k, npar)
        y_rep = tf.reshape(tf.repeat(y[:, None, :], n_k, axis=1), [-1, int(event_dim)])
        parts.append(tf.reshape(comp.log_prob(params, y_rep), [-1, n_k]))
    return log_w, tf.concat(parts, axis=1) if len(parts) > 1 else parts[0]


def mixture_log_prob(y: Any, head_out: Any, n_components: int, event_dim: int, component: Any = "diag_normal") -> tf.Tensor:
    """Log-density of ``y`` (b, D) under the mixture of ``head_out`` (b, H); returns (b,)."""
    log_w, comp_lp = _component_log_probs(y, head_out, n_components, event_dim, component)
    return tf.reduce_logsumexp(log_w + comp_lp, axis=-1)


def mixture_nll(y: Any, head_out: Any, n_components: int, event_dim: int, component: Any = "diag_normal") -> tf.Tensor:
    """Mean negative log-likelihood (scalar): the training loss."""
    return -tf.reduce_mean(mixture_log_prob(y, head_out, n_components, event_dim, component))


def mixture_parameters(head_out: Any, n_components: int, event_dim: int, component: Any = "diag_normal") -> Any:
    """``(weights (b, K), locations (b, K, D))`` as numpy arrays (for inspection and plots)."""
    head_out = _check_head(head_out, n_components, event_dim, component)
    K = int(n_components)
    w = tf.nn.softmax(head_out[:, :K], axis=-1)
    locs = []
    for comp, _, n_k, offset, npar in _blocks(K, event_dim, component):
        locs.append(tf.reshape(comp.mean(_block_params(head_out, offset, n_k, npar)), [-1, n_k, int(event_dim)]))
    return w.numpy(), tf.concat(locs, axis=1).numpy()


def mixture_class_probabilities(head_out: Any, n_components: int, event_dim: int, component: Any) -> dict:
    """Marginal class probabilities of the categorical groups (numpy).

    Returns
    -------
    dict
        ``{group (tuple of dims): (values (m, len(group)), probabilities (b, m))}`` for every
        categorical group, the values in scaled target units, the probabilities summed over the
        mixture components (empty for a mixture without categorical dimensions).
    """
    head_out = _check_head(head_out, n_components, event_dim, component)
    K = int(n_components)
    w = tf.nn.softmax(head_out[:, :K], axis=-1)
    out: dict = {}
    for comp, k0, n_k, offset, npar in _blocks(K, event_dim, component):
        if not hasattr(comp, "probabilities"):
            continue
        params = _block_params(head_out, offset, n_k, npar)
        for g, vals, pr in zip(comp.groups, comp.values, comp.probabilities(params)):
            pr = tf.reshape(pr, [-1, n_k, len(vals)]) * w[:, k0:k0 + n_k, None]
            total, key = tf.reduce_sum(pr, axis=1).numpy(), tuple(g)
            if key in out:
                if out[key][0].shape != np.shape(vals) or not np.allclose(out[key][0], vals):
                    raise ValueError(f"group {list(g)} has different class values in different components")
                total = total + out[key][1]
            out[key] = (np.asarray(vals), total)
    return out


def mixture_sample_from_noise(head_out: Any, n_components: int, event_dim: int, component: Any, u: Any, eps: Any) -> tf.Tensor:
    """Reparameterised mixture sample from explicit noise.

    The component of each row is chosen first (inverse CDF of the weights at ``u``); only that
    component's parameters are gathered (``tf.gather`` with ``batch_dims=1``) and transformed, so
    a draw costs one component's work per row, not ``K``.  The result is that of drawing every
    component and keeping the chosen one (the same operations on the same values; at most the
    last bit of a value may differ, where a vectorised kernel handles a tensor's tail element by
    element, so counts rounded from it do not change).

    Parameters
    ----------
    head_out : tensor (b, H)
    u : tensor (b,)
        Uniform(0, 1) draws choosing the component (inverse CDF of the weights).
    eps : tensor (b, D)
        Standard-normal draws transformed by the chosen component.

    Returns
    -------
    tensor (b, D)
    """
    head_out = _check_head(head_out, n_components, event_dim, component)
    K, D = int(n_components), int(event_dim)
    u = tf.convert_to_tensor(u, tf.float32)
    eps = tf.convert_to_tensor(eps, tf.float32)
    k = inverse_cdf_index(tf.nn.softmax(head_out[:, :K], axis=-1), u)
    out = None
    for comp, k0, n_k, offset, npar in _blocks(K, D, component):
        if n_k == 1:
            params = head_out[:, offset: offset + npar]
        else:
            per_comp = tf.reshape(head_out[:, offset: offset + n_k * npar], [-1, n_k, npar])
            params = tf.gather(per_comp, tf.clip_by_value(k - k0, 0, n_k - 1), axis=1, batch_dims=1)
        draw = comp.sample_from_noise(params, eps)
        out = draw if out is None else tf.where(((k >= k0) & (k < k0 + n_k))[:, None], draw, out)
    return out


def mixture_sample(head_out: Any, n_components: int, event_dim: int, component: Any = "diag_normal", seed: Any = 0) -> tf.Tensor:
    """Sample ``(b, D)`` from the mixture with a stateless seed (int or shape-[2] int tensor)."""
    from .components.base import _as_stateless_seed

    head_out = _check_head(head_out, n_components, event_dim, component)
    s = tf.random.experimental.stateless_split(_as_stateless_seed(seed), num=2)
    b = tf.shape(head_out)[0]
    u = tf.random.stateless_uniform(tf.reshape(b, [1]), seed=s[0])
    eps = tf.random.stateless_normal(tf.stack([b, int(event_dim)]), seed=s[1])
    return mixture_sample_from_noise(head_out, n_components, event_dim, component, u, eps)
