"""Network architectures for learned summary statistics (a registry; TensorFlow/Keras inside).

Every architecture maps the traces of one parameter point, ``(r, T, S)`` with any number ``r`` of
trajectories, to ``d`` outputs in three stages::

    phi   : one trajectory (T, S) -> embedding (h,)          (applied to each of the r trajectories)
    pool  : mean over the r embeddings -> (h,)                (invariant to trajectory order)
    rho   : dense layers -> (d,)                              (the predicted, scaled parameters)

Architectures (Sciope 0.4's defaults where it has them):

- ``"dense"`` -- ``phi`` = flatten ``T * S`` values, Dense layers (default widths 100, 100);
  the DNN of Jiang et al. 2017 (Sciope's ``DNNEstimator``).
- ``"cnn"`` -- ``phi`` = Conv1D over time (25 filters, kernel 3), max-pooling (3), Conv1D (50,
  kernel 3), average over time (Sciope's ``CNNEstimator``).
- ``"pen"`` -- the partially exchangeable network of Wiqvist et al. 2019 for Markov data of
  order ``k``: an inner network on every window of ``k + 1`` consecutive states (Conv1D with kernel
  ``k + 1`` and 1-wide Conv1D layers), averaged over the windows, concatenated with the first
  ``k + 1`` states (Sciope's ``PEN``, default ``k`` = 3 there, 1 here for first-order Markov
  jump processes).

``rho`` is Dense layers (default widths 100, 100) with ReLU and a linear output.  Only
built-in Keras layers are used, so a saved model loads with ``safe_mode=True``.  A new
architecture is one builder ``(T, S, seeds, **params) -> keras.Model`` from ``(T, S)`` to ``(h,)``
plus one line in :data:`ARCHITECTURES`.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import numpy as np

__all__ = ["ARCHITECTURES", "register_architecture", "build_network", "architecture_defaults"]


def _ints(v: Any, what: str) -> tuple[int, ...]:
    vals = tuple(np.atleast_1d(np.asarray(v)).tolist())
    if not vals or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in vals):
        raise ValueError(f"{what} must be a non-empty list of positive integers, got {v!r}")
    return vals


def _init(seeds: Iterator[int]):
    import keras

    return keras.initializers.GlorotUniform(seed=next(seeds))


def _dense_phi(T: int, S: int, seeds: Iterator[int], widths: Sequence[int] = (100, 100)):
    import keras

    inp = keras.Input((T, S))
    h = keras.layers.Flatten()(inp)
    for w in _ints(widths, "widths"):
        h = keras.layers.Dense(w, activation="relu", kernel_initializer=_init(seeds))(h)
    return keras.Model(inp, h, name="phi_dense")


def _cnn_phi(T: int, S: int, seeds: Iterator[int], filters: Sequence[int] = (25, 50), kernel: int = 3,
             pool: int = 3):
    import keras

    kernel, pool = _ints(kernel, "kernel")[0], _ints(pool, "pool")[0]
    inp = keras.Input((T, S))
    h = inp
    for i, f in enumerate(_ints(filters, "filters")):
        h = keras.layers.Conv1D(f, kernel, padding="same", activation="relu", kernel_initializer=_init(seeds))(h)
        if i < len(filters) - 1:
            h = keras.layers.MaxPooling1D(pool, padding="same")(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(inp, h, name="phi_cnn")


def _pen_phi(T: int, S: int, seeds: Iterator[int], order: int = 1, filters: Sequence[int] = (25, 50)):
    import keras

    order = int(order)
    if order < 0 or order + 1 > T:
        raise ValueError(f"PEN order must be in [0, T - 1] = [0, {T - 1}], got {order}")
    inp = keras.Input((T, S))
    filters = _ints(filters, "filters")
    h = keras.layers.Conv1D(filters[0], order + 1, padding="valid", activation="relu",
                            kernel_initializer=_init(seeds))(inp)       # every window of order+1 states
    for f in filters[1:]:
        h = keras.layers.Conv1D(f, 1, activation="relu", kernel_initializer=_init(seeds))(h)
    h = keras.layers.GlobalAveragePooling1D()(h)                        # exchangeable over windows
    first = keras.layers.Flatten()(keras.layers.Cropping1D((0, T - order - 1))(inp))
    out = keras.layers.Concatenate()([h, first])
    return keras.Model(inp, out, name="phi_pen")


#: name -> (builder of phi, its default parameters)
ARCHITECTURES: dict[str, tuple[Callable, dict]] = {
    "dense": (_dense_phi, {"widths": (100, 100)}),
    "cnn": (_cnn_phi, {"filters": (25, 50), "kernel": 3, "pool": 3}),
    "pen": (_pen_phi, {"order": 1, "filters": (25, 50)}),
}


def register_architecture(name: str, builder: Callable, defaults: dict | None = None) -> None:
    """Add an architecture: ``builder(T, S, seeds, **params) -> keras.Model`` from (T, S) to (h,)."""
    if not callable(builder):
        raise ValueError(f"builder for architecture {name!r} must be callable")
    ARCHITECTURES[str(name).lower()] = (builder, dict(defaults or {}))


def architecture_defaults(arch: str) -> dict:
    """The default parameters of architecture ``arch``."""
    key = str(arch).lower()
    if key not in ARCHITECTURES:
        raise ValueError(f"unknown learned-summary architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}")
    return dict(ARCHITECTURES[key][1])


def build_network(arch: str, T: int, S: int, d: int, *, seed: int = 0, head: Sequence[int] = (100, 100),
                  params: dict | None = None) -> Any:
    """The full network: input (b, r, T, S) with any ``r`` -> output (b, d).

    Parameters
    ----------
    arch : str
        A key of :data:`ARCHITECTURES`.
    T, S, d : int
        Time points, species and outputs.
    seed : int
        Seeds every initialiser (same seed, same initial weights).
    head : sequence of int
        Widths of ``rho``'s hidden Dense layers.
    params : dict, optional
        Architecture parameters (override the defaults; unknown keys are refused).

    Returns
    -------
    keras.Model
    """
    import keras

    defaults = architecture_defaults(arch)
    params = dict(params or {})
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(f"unknown parameters {unknown} for architecture {arch!r}; it takes {sorted(defaults)}")
    builder = ARCHITECTURES[str(arch).lower()][0]
    rng = np.random.default_rng(int(seed))
    seeds = iter(int(s) for s in rng.integers(0, 2**31 - 1, size=1000))
    phi = builder(int(T), int(S), seeds, **{**defaults, **params})
    inp = keras.Input((None, int(T), int(S)), name="traces")
    h = keras.layers.TimeDistributed(phi, name="per_trajectory")(inp)   # (b, r, h)
    h = keras.layers.GlobalAveragePooling1D(name="pool_trajectories")(h)  # mean over r
    for w in _ints(head, "head"):
        h = keras.layers.Dense(w, activation="relu", kernel_initializer=_init(seeds))(h)
    out = keras.layers.Dense(int(d), kernel_initializer=_init(seeds), name="theta")(h)
    return keras.Model(inp, out, name=f"learned_summary_{arch}")
