"""Categorical dimensions for low-copy species, a continuous family for the others.

A species whose next-step target takes a handful of values in the training data (gene states,
a few receptors) is poorly served by Gaussian densities that are rounded afterwards: the mass
leaks onto impossible counts and conserved groups break.  This component models such
dimensions with **categorical distributions over the joint values seen in the data**, and the
remaining (abundant) dimensions with a continuous base family (default ``"diag_normal"``).

By default (:func:`categorical_spec`) all low-copy species form one group whose classes are
their joint values (for X16's gene states ``G1 + G2 = 4`` the increments ``(-1, +1), (0, 0),
(+1, -1)``: a draw never breaks the law), and the base has its own parameters for every class
(``conditional=True``): the protein's next count follows the gene's next state inside one
mixture component, instead of relying on the mixture weights to carry that correlation.  When
the joint values are too many (more than :data:`MAX_JOINT`), the species sharing a conservation
law form one group each, every other one a group of its own, and the base is independent of
the classes.

Raw parameters, width ``m * base.n_params(D - d) + m`` (conditional, ``m`` classes) or
``base.n_params(D - d) + sum_g m_g``:
``[base params (per class when conditional) | logits of group 0 (m_0) | logits of group 1 | ...]``.

``values[g]`` are the joint class values *in the scaled target space* (what the network is
trained on, :mod:`~sciope_abs.abstraction.targets`) and ``steps[g]`` one count in those units,
so a target is mapped to its nearest class in counts; the dequantisation noise of training
(under half a count) never moves a target past the midpoint to another class.  Sampling turns
the standard-normal noise of the group's first dimension into a uniform (``Phi(eps)``) and
inverts the class CDF, so the emulator's per-trajectory noise streams stay what they are.

The component is configured, so it is given as a dict, e.g. ``{"name": "categorical",
"event_dim": 3, "groups": [[0, 1]], "values": [[[...], ...]], "steps": [[...]], "base":
"diag_normal"}``; :func:`categorical_spec` builds that dict from training pairs
(``max_support`` distinct counts at most per species, default :data:`MAX_SUPPORT`).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from ..._checks import check_positive_int
from .base import Component, inverse_cdf_index
from .registry import get_component, register_component

__all__ = ["Categorical", "MAX_JOINT", "MAX_SUPPORT", "categorical_spec", "group_by_laws", "low_copy_species"]

#: a species is "low-copy" when its counts in the training data take at most this many values
MAX_SUPPORT = 8
#: all low-copy species share one categorical (and condition the others) up to this many joint values
MAX_JOINT = 32


@register_component
class Categorical(Component):
    """Categoricals over groups of discrete dimensions, a continuous ``base`` family over the others.

    Parameters
    ----------
    event_dim : int
        ``D``, all dimensions of the target.
    groups : sequence of sequences of int
        Disjoint groups of discrete dimensions (indices into ``0 .. D-1``); each group has one
        categorical over its joint values (a conserved pair such as ``G1, G2`` moves together).
    values : sequence of (m_g, len(group)) nested lists of float
        The joint class values of each group (scaled target units, distinct rows).
    steps : sequence of sequences of float, optional
        One count in scaled target units, per dimension of each group (default 1): a target is
        assigned to the class nearest in counts (max over the group's dimensions).
    base : str or dict
        Component family of the other dimensions (registry name; not itself categorical).
    conditional : bool
        With one group only: the base has its own parameters for every class of the group
        (``p(y) = pi_c * base(y_cont | params_c)``), so the abundant species follow the low-copy
        outcome (a protein that jumps with the gene state); otherwise the base is independent
        of the classes within a mixture component.
    """

    name = "categorical"

    def __init__(self, event_dim: int, groups: Sequence[Sequence[int]], values: Any, steps: Any = None, base: Any = "diag_normal",
                 conditional: bool = False):
        self.event_dim = int(event_dim)
        self.groups = [[int(j) for j in g] for g in groups]
        self.dims = sorted(j for g in self.groups for j in g)
        if not self.groups or any(not g for g in self.groups) or len(set(self.dims)) != len(self.dims) \
                or any(j < 0 or j >= self.event_dim for j in self.dims):
            raise ValueError(f"categorical: groups {self.groups} must be non-empty, disjoint and hold distinct "
                             f"indices in [0, {self.event_dim})")
        if len(values) != len(self.groups):
            raise ValueError(f"categorical: {len(values)} value tables for {len(self.groups)} groups")
        steps = [[1.0] * len(g) for g in self.groups] if steps is None else steps
        self.values, self.steps = [], []
        for g, vals, st in zip(self.groups, values, steps):
            arr = np.asarray(vals, dtype=np.float64).reshape(-1, len(g)) if len(vals) else np.zeros((0, len(g)))
            st = np.asarray(st, dtype=np.float64).ravel()
            if arr.shape[0] < 1 or not np.isfinite(arr).all() or np.unique(arr, axis=0).shape[0] != arr.shape[0]:
                raise ValueError(f"categorical: group {g} needs distinct finite class values, got {vals}")
            if st.shape != (len(g),) or not (np.isfinite(st).all() and (st > 0).all()):
                raise ValueError(f"categorical: group {g} needs {len(g)} positive steps, got {list(st)}")
            order = np.lexsort(arr.T[::-1])
            self.values.append(arr[order].tolist())
            self.steps.append(st.tolist())
        self.base_spec = base
        self.base = get_component(base)
        if isinstance(self.base, Categorical):
            raise ValueError("categorical: the base family cannot itself be categorical")
        self.support = self.base.support
        self.cont = [j for j in range(self.event_dim) if j not in set(self.dims)]
        self.conditional = bool(conditional)
        if self.conditional and len(self.groups) != 1:
            raise ValueError(f"categorical: conditional=True needs exactly one group, got {len(self.groups)}")
        self._n_base_one = self.base.n_params(len(self.cont)) if self.cont else 0
        self._n_classes = len(self.values[0]) if self.conditional else 1
        self._n_base = self._n_base_one * self._n_classes

    # ------------------------------------------------------------------ layout
    def config(self) -> dict:
        """The JSON dict that :func:`~.registry.get_component` rebuilds this component from."""
        return {"name": self.name, "event_dim": self.event_dim, "groups": [list(g) for g in self.groups],
                "values": [list(map(list, v)) for v in self.values], "steps": [list(s) for s in self.steps],
                "base": self.base_spec, "conditional": self.conditional}

    def n_params(self, event_dim: int) -> int:
        if int(event_dim) != self.event_dim:
            raise ValueError(f"categorical component was configured for {self.event_dim} dimensions, "
                             f"not {event_dim}")
        return self._n_base + sum(len(v) for v in self.values)

    def event_dim_from_params(self, params: tf.Tensor) -> int:
        return self.event_dim

    def _logits(self, params: tf.Tensor):
        """Per group: (logits (b, m_g), values tensor (m_g, len(group)))."""
        out, offset = [], self._n_base
        for vals in self.values:
            out.append((params[:, offset: offset + len(vals)], tf.constant(vals, tf.float32)))
            offset += len(vals)
        return out

    # ------------------------------------------------------------------ distribution
    def class_index(self, y_group: tf.Tensor, values: tf.Tensor, steps: Any) -> tf.Tensor:
        """Index of the class nearest (in counts, max over dimensions) to each row of ``y_group``."""
        steps = tf.constant(steps, tf.float32)
        dist = tf.reduce_max(tf.abs(y_group[:, None, :] - values[None, :, :]) / steps, axis=2)
        return tf.argmin(dist, axis=1, output_type=tf.int32)

    def _base_params(self, params: tf.Tensor, k: tf.Tensor | None) -> tf.Tensor:
        """The base's raw parameters (b, n_base_one): of class ``k`` (b,) when conditional."""
        if not self.conditional:
            return params[:, : self._n_base]
        per_class = tf.reshape(params[:, : self._n_base], [-1, self._n_classes, self._n_base_one])
        return tf.gather(per_class, k, axis=1, batch_dims=1)

    def log_prob(self, params: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        params = tf.convert_to_tensor(params, tf.float32)
        y = tf.convert_to_tensor(y, tf.float32)
        lp, first = 0.0, None
        for g, st, (logits, vals) in zip(self.groups, self.steps, self._logits(params)):
            k = self.class_index(tf.gather(y, g, axis=1), vals, st)
            first = k if first is None else first
            lp = lp + tf.gather(tf.nn.log_softmax(logits, axis=-1), k, axis=1, batch_dims=1)
        if self.cont:
            lp = lp + self.base.log_prob(self._base_params(params, first), tf.gather(y, self.cont, axis=1))
        return lp

    def probabilities(self, params: tf.Tensor) -> list:
        """Class probabilities of each group: list of (b, m_g) tensors."""
        params = tf.convert_to_tensor(params, tf.float32)
        return [tf.nn.softmax(logits, axis=-1) for logits, _ in self._logits(params)]

    def _assemble(self, cont_part, group_parts) -> tf.Tensor:
        cols = [None] * self.event_dim
        for i, j in enumerate(self.cont):
            cols[j] = cont_part[:, i]
        for g, part in zip(self.groups, group_parts):
            for i, j in enumerate(g):
                cols[j] = part[:, i]
        return tf.stack(cols, axis=1)

    def sample_from_noise(self, params: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
        params = tf.convert_to_tensor(params, tf.float32)
        eps = tf.convert_to_tensor(eps, tf.float32)
        parts, first = [], None
        for g, (logits, vals) in zip(self.groups, self._logits(params)):
            u = 0.5 * tf.math.erfc(-eps[:, g[0]] / math.sqrt(2.0))          # Phi(eps): uniform(0, 1)
            k = inverse_cdf_index(tf.nn.softmax(logits, axis=-1), u)
            first = k if first is None else first
            parts.append(tf.gather(vals, k))
        cont = (self.base.sample_from_noise(self._base_params(params, first), tf.gather(eps, self.cont, axis=1))
                if self.cont else None)
        return self._assemble(cont, parts)

    def mean(self, params: tf.Tensor) -> tf.Tensor:
        """Base location (class-weighted when conditional) on the continuous dims, the expected class
        value on the discrete ones."""
        params = tf.convert_to_tensor(params, tf.float32)
        probs = self.probabilities(params)
        cont = None
        if self.cont and self.conditional:
            locs = tf.stack([self.base.mean(self._base_params(params, tf.fill([tf.shape(params)[0]], c)))
                             for c in range(self._n_classes)], axis=1)            # (b, m, d')
            cont = tf.reduce_sum(probs[0][:, :, None] * locs, axis=1)
        elif self.cont:
            cont = self.base.mean(params[:, : self._n_base])
        parts = [tf.reduce_sum(pr[:, :, None] * tf.constant(vals, tf.float32)[None, :, :], axis=1)
                 for pr, vals in zip(probs, self.values)]
        return self._assemble(cont, parts)

    def __repr__(self) -> str:
        return (f"Categorical(groups={self.groups}, classes={[len(v) for v in self.values]}, "
                f"base={self.base_spec!r}, conditional={self.conditional})")


# ---------------------------------------------------------------------------- from the data
def low_copy_species(states: Any, max_support: int = MAX_SUPPORT) -> list[int]:
    """Indices of the columns of ``states`` (m, S) that take at most ``max_support`` distinct values."""
    states = np.asarray(states)
    if states.ndim != 2:
        raise ValueError(f"states must be 2-D (m, S), got shape {states.shape}")
    check_positive_int(max_support, "max_support")
    return [j for j in range(states.shape[1]) if np.unique(states[:, j]).size <= int(max_support)]


def _raw_values(x: np.ndarray, y: np.ndarray, group: Sequence[int], kind: str) -> np.ndarray:
    """Distinct raw joint target values of a group: increments for ``delta``, counts otherwise."""
    raw = y[:, group] - x[:, group] if kind == "delta" else y[:, group]
    return np.unique(np.round(raw), axis=0)


def _to_scaled(raw: np.ndarray, group: Sequence[int], scaling) -> tuple[np.ndarray, np.ndarray]:
    """Raw values (m, g) -> (scaled values, one count in scaled units (g,))."""
    if scaling.target == "delta":
        mean, scale = scaling.delta_mean_[group], scaling.delta_scale_[group]
    elif scaling.target == "state":
        mean, scale = scaling.out_mean_[group], scaling.out_scale_[group]
    else:
        mean, scale = -1.0 * np.ones(len(group)), scaling.out_scale_[group]
    return (raw - mean) / scale, 1.0 / np.asarray(scale, dtype=np.float64)


def group_by_laws(dims: Sequence[int], laws: Any) -> list[list[int]]:
    """Discrete dims that share a conservation law (rows of ``laws`` (L, S)) form one group."""
    dims = sorted(int(j) for j in dims)
    parent = {j: j for j in dims}

    def root(j):
        while parent[j] != j:
            j = parent[j]
        return j

    W = np.asarray(laws if laws is not None else np.zeros((0, 0)))
    for row in W.reshape(-1, W.shape[-1]) if W.size else ():
        members = [j for j in dims if j < len(row) and row[j] != 0]
        for a, b in zip(members, members[1:]):
            parent[root(b)] = root(a)
    groups: dict[int, list[int]] = {}
    for j in dims:
        groups.setdefault(root(j), []).append(j)
    return sorted(groups.values())


def categorical_spec(x: Any, y: Any, scaling: Any, component: Any = "diag_normal", *, species: Sequence[int] | None = None,
                     max_support: int = MAX_SUPPORT, laws: Any = None, max_joint: int | None = None) -> Any:
    """The mixture component spec with categorical low-copy dimensions, from raw training pairs.

    Parameters
    ----------
    x : array (m, S + p)
        Raw inputs (states first).
    y : array (m, S)
        Raw next states.
    scaling : StateScaler
        The target parametrisation the network is trained in (class values are mapped into it).
    component : str
        The continuous base family of the other dimensions.
    species : sequence of int, optional
        The discrete dimensions; default :func:`low_copy_species` of ``x``'s states and ``y``.
    max_support : int
        Distinct counts at most for a species to be discrete (default :data:`MAX_SUPPORT`).
    laws : array (L, S), optional
        Conservation-law weights, used when the joint values are too many for one group: then
        discrete species sharing a law get one joint categorical (:func:`group_by_laws`), so a
        conserved group still moves consistently, the others one categorical each, and the base
        is independent of the classes.
    max_joint : int
        All discrete species form **one** group, its classes the joint values seen in the data,
        with the base conditioned on the class (``conditional=True``), when there are at most
        this many joint values (default :data:`MAX_JOINT`).

    Returns
    -------
    str or dict
        ``component`` unchanged when no species is discrete, else the categorical's config dict.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    S = y.shape[1]
    if species is None:
        species = low_copy_species(np.concatenate([x[:, :S], y], axis=0), max_support)
    species = sorted(int(j) for j in species)
    if not species:
        return component
    max_joint = MAX_JOINT if max_joint is None else int(max_joint)
    joint = len(_raw_values(x, y, species, scaling.target)) <= max_joint
    groups = [species] if joint else group_by_laws(species, laws)
    values, steps = [], []
    for g in groups:
        z, step = _to_scaled(_raw_values(x, y, g, scaling.target), g, scaling)
        values.append(np.unique(z.astype(np.float32).astype(np.float64), axis=0).tolist())
        steps.append(step.tolist())
    return Categorical(S, groups, values, steps=steps, base=component, conditional=joint).config()
