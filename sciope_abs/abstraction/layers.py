"""The custom Keras layers of a saved emulator, in one module, registered for safe-mode loading.

Everything a ``model.keras`` of an emulator may hold beyond Keras' own layers is defined here and
registered with ``keras.saving.register_keras_serializable`` when this module is imported, so
:meth:`~sciope_abs.abstraction.emulator.Emulator.load` reads any saved network, trained or
searched, with ``safe_mode=True`` after importing this module alone (nothing of training or of
the architecture search):

- :class:`MixtureHead` — body features ``(b, h)`` -> flat mixture parameters ``(b, H)``;
- :class:`AppendConstant` — ``(b, n) -> (b, n + 1)``, the frozen lag input of a multi-lag network;
- :class:`ElementWise`, :class:`GatedLinearUnit`, :class:`Zero`, :class:`Tile` — the custom
  layers of the search's candidate operations and cell expansion (:mod:`.nas.operations`).

The registered names (``sciope_abs>MixtureHead``, ``sciope_abs.nas>Tile`` ...) are what saved
files refer to: they do not change when a class moves between modules.
"""
from __future__ import annotations

from typing import Any, Sequence

import keras

from .mixture import as_spec, head_size

__all__ = ["MixtureHead", "AppendConstant", "ElementWise", "GatedLinearUnit", "Zero", "Tile"]

#: registration package of the search's layers (kept: saved genotype networks name it)
_NAS_PACKAGE = "sciope_abs.nas"


@keras.saving.register_keras_serializable(package="sciope_abs")
class MixtureHead(keras.layers.Layer):
    """Keras layer: body features (b, h) -> flat mixture parameters (b, H).

    One affine map; the logits and raw component parameters are interpreted by the functions
    of this module (:func:`mixture_nll`, :func:`mixture_sample_from_noise`).

    Parameters
    ----------
    n_components : int
    event_dim : int
        Dimension ``D`` of the modelled variable.
    component : str, dict or sequence of those
        Registry name(s) or config dict(s) (see :data:`~sciope_abs.abstraction.components.COMPONENTS`).
    seed : int, optional
        Seed of the weight initialiser.
    """

    def __init__(self, n_components: int, event_dim: int, component: str | dict | Sequence[str | dict] = "diag_normal",
                 seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.n_components = int(n_components)
        self.event_dim = int(event_dim)
        self.component = as_spec(component)
        self.seed = None if seed is None else int(seed)
        self.units = head_size(self.n_components, self.event_dim, self.component)

    def build(self, input_shape: Any) -> None:
        h = int(input_shape[-1])
        self.kernel = self.add_weight(name="kernel", shape=(h, self.units),
                                      initializer=keras.initializers.GlorotUniform(seed=self.seed))
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, inputs: Any) -> Any:
        return keras.ops.matmul(inputs, self.kernel) + self.bias

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self) -> Any:
        cfg = super().get_config()
        cfg.update(n_components=self.n_components, event_dim=self.event_dim, component=self.component,
                   seed=self.seed)
        return cfg


@keras.saving.register_keras_serializable(package="sciope_abs")
class AppendConstant(keras.layers.Layer):
    """``(b, n) -> (b, n + 1)``: append one column holding ``value``.

    Used to freeze an extra conditioning input (the lag of a multi-lag network, see
    :func:`fix_last_input`) so the exported network takes the emulator's usual inputs.
    """

    def __init__(self, value: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.value = float(value)

    def call(self, inputs: Any) -> Any:
        col = keras.ops.ones_like(inputs[:, :1]) * self.value
        return keras.ops.concatenate([inputs, col], axis=-1)

    def compute_output_shape(self, input_shape: Any) -> Any:
        width = None if input_shape[-1] is None else int(input_shape[-1]) + 1
        return tuple(input_shape[:-1]) + (width,)

    def get_config(self) -> Any:
        cfg = super().get_config()
        cfg.update(value=self.value)
        return cfg


@keras.saving.register_keras_serializable(package=_NAS_PACKAGE)
class ElementWise(keras.layers.Layer):
    """``y = x * w + b`` with one weight and one bias per feature."""

    def build(self, input_shape: Any) -> None:
        width = int(input_shape[-1])
        self.w = self.add_weight(name="w", shape=(width,), initializer="ones")
        self.b = self.add_weight(name="b", shape=(width,), initializer="zeros")

    def call(self, x: Any) -> Any:
        return x * self.w + self.b


@keras.saving.register_keras_serializable(package=_NAS_PACKAGE)
class GatedLinearUnit(keras.layers.Layer):
    """``y = (x W + b) * sigmoid(x V + c)`` (Dauphin et al.), width preserved."""

    def __init__(self, units: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.units = int(units)
        self.linear = keras.layers.Dense(self.units, name="linear")
        self.gate = keras.layers.Dense(self.units, activation="sigmoid", name="gate")

    def build(self, input_shape: Any) -> None:
        self.linear.build(input_shape)
        self.gate.build(input_shape)

    def call(self, x: Any) -> Any:
        return self.linear(x) * self.gate(x)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self) -> Any:
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package=_NAS_PACKAGE)
class Zero(keras.layers.Layer):
    """The zero operation: no connection (outputs zeros of the input's shape)."""

    def call(self, x: Any) -> Any:
        return keras.ops.zeros_like(x)


@keras.saving.register_keras_serializable(package=_NAS_PACKAGE)
class Tile(keras.layers.Layer):
    """Tiling expansion: ``(x1, x2, ...) -> (x1, x1, ..., x2, x2, ...)``, each repeated ``reps`` times."""

    def __init__(self, reps: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.reps = int(reps)

    def call(self, x: Any) -> Any:
        return keras.ops.repeat(x, self.reps, axis=-1)

    def compute_output_shape(self, input_shape: Any) -> Any:
        last = input_shape[-1]
        return tuple(input_shape[:-1]) + (None if last is None else last * self.reps,)

    def get_config(self) -> Any:
        return {**super().get_config(), "reps": self.reps}
