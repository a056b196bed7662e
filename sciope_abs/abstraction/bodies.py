"""Network bodies: Keras models mapping scaled inputs (b, S + p) to features (b, h).

The fixed MLP lives here; the architecture search (``abstraction/nas``) builds its searched
body with the same contract, and either plugs into :func:`~.network.build_mdn`.
"""
from __future__ import annotations

from typing import Sequence

import keras

__all__ = ["mlp_body"]


def mlp_body(input_dim: int, hidden: Sequence[int] = (64, 64), activation: str = "swish",
             seed: int | None = None, name: str = "mlp_body") -> keras.Model:
    """A multilayer perceptron body.

    Parameters
    ----------
    input_dim : int
        ``S + p``: state width plus number of varied rates.
    hidden : sequence of int
        Widths of the hidden ``Dense`` layers (at least one).
    activation : str
        Keras activation name.
    seed : int, optional
        Seeds the weight initialisers (layer ``i`` uses ``seed + i``).

    Returns
    -------
    keras.Model
        (b, input_dim) -> (b, hidden[-1]).
    """
    hidden = tuple(int(h) for h in hidden)
    if int(input_dim) < 1:
        raise ValueError(f"input_dim must be >= 1, got {input_dim}")
    if not hidden or min(hidden) < 1:
        raise ValueError(f"hidden must be a non-empty sequence of positive widths, got {hidden}")
    inp = keras.Input(shape=(int(input_dim),), name="scaled_inputs")
    x = inp
    for i, h in enumerate(hidden):
        init = keras.initializers.GlorotUniform(seed=None if seed is None else int(seed) + i)
        x = keras.layers.Dense(h, activation=activation, kernel_initializer=init, name=f"dense_{i}")(x)
    return keras.Model(inp, x, name=name)
