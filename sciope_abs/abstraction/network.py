"""The mixture density network: body -> :class:`~.layers.MixtureHead`."""
from __future__ import annotations

from typing import Any, Sequence

import keras

from .layers import AppendConstant, MixtureHead
from .mixture import resolve_components

__all__ = ["build_mdn", "find_head", "fix_last_input"]


def fix_last_input(mdn: keras.Model, value: float) -> keras.Model:
    """An MDN taking one input column fewer: the last input of ``mdn`` is held at ``value``.

    The returned model shares ``mdn``'s layers (and weights); its top level holds the
    :class:`MixtureHead`, so :func:`find_head` finds it.
    """
    head = find_head(mdn)
    body = next(layer for layer in mdn.layers if layer is not head and not isinstance(layer, keras.layers.InputLayer))
    n_in = int(mdn.inputs[0].shape[-1])
    if n_in < 2:
        raise ValueError(f"fix_last_input: the network has {n_in} input column(s); nothing to fix")
    inp = keras.Input(shape=(n_in - 1,), name="inputs")
    out = head(body(AppendConstant(value, name="fixed_input")(inp)))
    return keras.Model(inp, out, name=mdn.name)


def build_mdn(body: Any, n_components: int = 6, event_dim: int | None = None,
              component: str | dict | Sequence[str | dict] = "diag_normal",
              seed: int | None = None, input_dim: int | None = None) -> keras.Model:
    """Join a body and a mixture head into one Keras model.

    Parameters
    ----------
    body : keras.Model or keras.layers.Layer
        Maps scaled inputs (b, S + p) to features (b, h).  Its input width is read from
        ``body.inputs`` when it is a functional model, else ``input_dim`` must be given.
    n_components : int
    event_dim : int
        ``D``: width of the modelled target (the number of species ``S``).
    component : str, dict or sequence of those
        Mixture component family (registry name or config dict) or one per component.
    seed : int, optional
        Seed of the head's initialiser.
    input_dim : int, optional
        Input width when the body does not declare one.

    Returns
    -------
    keras.Model
        (b, S + p) -> flat head output (b, H), H = :func:`~.mixture.head_size`.
    """
    if event_dim is None or int(event_dim) < 1:
        raise ValueError(f"event_dim must be a positive integer, got {event_dim}")
    resolve_components(component, n_components)
    if input_dim is None:
        inputs = getattr(body, "inputs", None)
        if not inputs:
            raise ValueError("build_mdn: the body declares no input shape; pass input_dim=")
        input_dim = int(inputs[0].shape[-1])
    inp = keras.Input(shape=(int(input_dim),), name="inputs")
    features = body(inp)
    out = MixtureHead(n_components, event_dim, component, seed=seed, name="mixture_head")(features)
    return keras.Model(inp, out, name="mdn")


def find_head(model: keras.Model) -> MixtureHead:
    """The :class:`MixtureHead` layer of an MDN built by :func:`build_mdn`."""
    for layer in model.layers:
        if isinstance(layer, MixtureHead):
            return layer
    raise ValueError(f"model {model.name!r} has no MixtureHead layer")
