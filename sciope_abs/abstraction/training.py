"""Training the MDN: Adam on minibatches, early stopping on the validation loss, NaN-safe, seeded.

:func:`fit_mdn` trains any Keras model built by :func:`~.network.build_mdn` on scaled pairs;
:func:`train` goes from an :class:`~.dataset.AbstractionDataset` to an :class:`~.emulator.Emulator`
with a fixed MLP body (the architecture search builds on the same two functions).
"""
from __future__ import annotations

import math
import time
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from ..seeding import SeedLike, as_generator, as_seed_sequence, int_seed
from .mixture import component_support, mixture_nll
from .network import find_head

__all__ = ["fit_mdn", "train", "TRAIN_DEFAULTS"]

TRAIN_DEFAULTS = dict(hidden=(64, 64), n_components=6, component="diag_normal", epochs=100, batch_size=256,
                      learning_rate=1e-3, patience=10, activation="swish", target="auto")

_EVAL_BATCH = 16384


def _check_xy(xy, name: str, n_in: int | None, n_out: int | None):
    try:
        x, y = xy
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (inputs, targets)") from None
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.ascontiguousarray(y, dtype=np.float32)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"{name}: inputs (m, S+p) and targets (m, S) must be 2-D with equal rows, "
                         f"got {x.shape} and {y.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if n_in is not None and x.shape[1] != n_in:
        raise ValueError(f"{name}: inputs have {x.shape[1]} columns, the network takes {n_in}")
    if n_out is not None and y.shape[1] != n_out:
        raise ValueError(f"{name}: targets have {y.shape[1]} columns, the head models {n_out}")
    return x, y


def check_clipnorm(clipnorm) -> float | None:
    """``None`` or a positive finite float (the global gradient-norm bound)."""
    if clipnorm is None:
        return None
    if isinstance(clipnorm, bool) or not isinstance(clipnorm, (int, float, np.integer, np.floating)) \
            or not np.isfinite(clipnorm) or clipnorm <= 0:
        raise ValueError(f"clipnorm must be a positive number or None, got {clipnorm!r}")
    return float(clipnorm)


def fit_mdn(model, train_xy, val_xy, *, epochs: int = 100, batch_size: int = 256, learning_rate: float = 1e-3,
            patience: int = 10, seed: SeedLike = None, target_noise=None, clipnorm: float | None = None,
            callbacks: Sequence[Callable] = (), progress: bool = True, desc: str = "train") -> dict:
    """Train an MDN in place; the best-validation weights are restored at the end.

    Parameters
    ----------
    model : keras.Model
        Built by :func:`~.network.build_mdn` (holds a ``MixtureHead``).
    train_xy, val_xy : (array (m, S + p), array (m, S))
        Scaled inputs and targets.  The validation pairs decide early stopping and the
        checkpoint: never a training minibatch.
    epochs, batch_size, learning_rate : int, int, float
        Adam on shuffled minibatches (the last one may be smaller).
    patience : int
        Stop after this many epochs without a new best validation loss.
    seed : int or SeedSequence
        Drives the shuffling and the dequantisation noise; with seeded initialisers the whole
        run is reproducible.
    target_noise : array (S,), optional
        Half-widths of the uniform dequantisation noise added to every target (fresh each
        epoch on train, one fixed draw on validation).
    clipnorm : float, optional
        Clip the global norm of every minibatch gradient to this value (Adam's
        ``global_clipnorm``): guards against a single exploding step.  Default: no clipping.
    callbacks : sequence of callables ``cb(epoch, logs, model) -> bool | None``
        Called after each epoch; a truthy return stops training.
    progress : bool
        A tqdm bar over epochs with the losses.

    Returns
    -------
    dict
        ``loss`` and ``val_loss`` per epoch, ``best_epoch`` (0-based), ``best_val_loss``,
        ``epochs_run``, ``stop_reason`` (``"completed"``, ``"early_stopping"``, ``"nan"``,
        ``"callback"``) and ``seconds``.
    """
    import keras
    from tqdm.auto import tqdm

    head = find_head(model)
    K, D, comp = head.n_components, head.event_dim, head.component
    n_in = int(model.inputs[0].shape[-1]) if getattr(model, "inputs", None) else None
    x_tr, y_tr = _check_xy(train_xy, "train_xy", n_in, D)
    x_va, y_va = _check_xy(val_xy, "val_xy", x_tr.shape[1], D)
    for name, arr in (("train inputs", x_tr), ("train targets", y_tr), ("validation inputs", x_va),
                      ("validation targets", y_va)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contain NaN or inf")
    epochs, batch_size, patience = int(epochs), int(batch_size), int(patience)
    if epochs < 1 or batch_size < 1 or patience < 1 or not learning_rate > 0:
        raise ValueError("epochs, batch_size and patience must be >= 1 and learning_rate > 0")

    rng = as_generator(seed)
    if target_noise is None:
        half = np.zeros(D, dtype=np.float32)
    else:
        half = np.asarray(target_noise, dtype=np.float32).ravel()
        if half.shape != (D,) or (half < 0).any():
            raise ValueError(f"target_noise must be {D} non-negative half-widths, got {half.shape}")
    y_va_noisy = y_va + (rng.uniform(-1, 1, y_va.shape) * half).astype(np.float32)

    optimizer = keras.optimizers.Adam(learning_rate=float(learning_rate),
                                      global_clipnorm=check_clipnorm(clipnorm))
    weights = model.trainable_variables
    optimizer.build(weights)
    m = x_tr.shape[0]

    spec = [tf.TensorSpec((None, x_tr.shape[1]), tf.float32), tf.TensorSpec((None, D), tf.float32)]

    @tf.function(input_signature=spec, autograph=False)
    def train_step(xb, yb):
        with tf.GradientTape() as tape:
            loss = mixture_nll(yb, model(xb, training=True), K, D, comp)
        grads = tape.gradient(loss, weights)
        optimizer.apply_gradients(zip(grads, weights))
        return loss

    def train_epoch(perm, y_epoch) -> float:
        xs, ys = x_tr[perm], y_epoch[perm]
        total = 0.0
        for a in range(0, m, batch_size):
            xb, yb = xs[a:a + batch_size], ys[a:a + batch_size]
            loss = float(train_step(xb, yb))
            total += loss * len(xb)
            if not math.isfinite(loss):
                return float("nan")
        return total / m

    @tf.function(input_signature=spec, autograph=False)
    def batch_nll_sum(x, y):
        return mixture_nll(y, model(x, training=False), K, D, comp) * tf.cast(tf.shape(x)[0], tf.float32)

    def val_loss() -> float:
        s = 0.0
        for a in range(0, x_va.shape[0], _EVAL_BATCH):
            s += float(batch_nll_sum(x_va[a:a + _EVAL_BATCH], y_va_noisy[a:a + _EVAL_BATCH]))
        return s / x_va.shape[0]

    best = model.get_weights()
    hist = {"loss": [], "val_loss": [], "best_epoch": -1, "best_val_loss": float("inf"),
            "epochs_run": 0, "stop_reason": "completed"}
    since_best = 0
    t0 = time.perf_counter()
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False, unit="epoch")
    for epoch in bar:
        perm = rng.permutation(m).astype(np.int32)
        y_noisy = y_tr + (rng.uniform(-1, 1, y_tr.shape) * half).astype(np.float32) if half.any() else y_tr
        loss = train_epoch(perm, y_noisy)
        vloss = val_loss() if math.isfinite(loss) else float("nan")
        hist["loss"].append(loss)
        hist["val_loss"].append(vloss)
        hist["epochs_run"] = epoch + 1
        if not (math.isfinite(loss) and math.isfinite(vloss)):
            hist["stop_reason"] = "nan"
            break
        if vloss < hist["best_val_loss"]:
            hist["best_val_loss"], hist["best_epoch"], since_best = vloss, epoch, 0
            best = model.get_weights()
        else:
            since_best += 1
        bar.set_postfix(loss=f"{loss:.4f}", val_loss=f"{vloss:.4f}", best=hist["best_epoch"])
        logs = {"loss": loss, "val_loss": vloss, "best_epoch": hist["best_epoch"]}
        if any(bool(cb(epoch, logs, model)) for cb in callbacks):
            hist["stop_reason"] = "callback"
            break
        if since_best >= patience:
            hist["stop_reason"] = "early_stopping"
            break
    bar.close()
    model.set_weights(best)  # the best validation checkpoint (initial weights if none was finite)
    hist["seconds"] = time.perf_counter() - t0
    return hist



def training_pairs(dataset, component, n_components: int, target: str = "auto"):
    """Resolve the target parametrisation and return the raw train/val pairs with their encoding.

    Returns ``(target, scaling, (x_train, y_train), (x_val, y_val))``; ``scaling.encode(x, y)`` gives
    the network's scaled inputs and targets.  Shared by :func:`train` and the architecture search.
    """
    from .targets import Scaling

    support = component_support(component, n_components)
    if target == "auto":
        target = "positive" if support == "positive" else "delta"
    if support == "positive" and target != "positive":
        raise ValueError(f"component {component!r} has positive support: use target='positive'")
    scaling = Scaling.from_scaler(dataset.scaler, target)
    x_tr, y_tr = dataset.pairs("train")
    x_va, y_va = dataset.pairs("val")
    if len(x_tr) == 0 or len(x_va) == 0:
        raise ValueError(f"dataset needs non-empty train and val splits (got {len(x_tr)} and {len(x_va)} pairs)")
    return target, scaling, (x_tr, y_tr), (x_va, y_va)

def train(dataset, *, hidden: Sequence[int] = (64, 64), n_components: int = 6, component="diag_normal",
          epochs: int = 100, batch_size: int = 256, learning_rate: float = 1e-3, patience: int = 10,
          seed: SeedLike = None, progress: bool = True, target: str = "auto", activation: str = "swish",
          body=None, callbacks: Sequence[Callable] = ()):
    """Train an MDN emulator on an :class:`~.dataset.AbstractionDataset`.

    Parameters
    ----------
    dataset : AbstractionDataset
        Its ``"train"`` pairs fit the weights, its ``"val"`` pairs pick the checkpoint; the
        ``"test"`` split is left for :func:`~.evaluation.evaluate`.
    hidden, activation : MLP body widths and activation (ignored when ``body`` is given).
    n_components, component : the mixture (default 6 diagonal Normals).
    epochs, batch_size, learning_rate, patience : see :func:`fit_mdn`.
    seed : int or SeedSequence
        Seeds the initialisers, the shuffling and the dequantisation noise.
    target : {"auto", "delta", "state", "positive"}
        Target parametrisation (:mod:`~.targets`); ``"auto"`` = ``"delta"`` for real-support
        components, ``"positive"`` for the log-normal.
    body : keras.Model, optional
        A prebuilt body (b, S + p) -> (b, h), e.g. a searched architecture.
    callbacks : passed to :func:`fit_mdn`.

    Returns
    -------
    Emulator
        With ``card`` holding the model and dataset hashes, the settings and the training history.
    """
    from .bodies import mlp_body
    from .emulator import Emulator, package_versions
    from .network import build_mdn

    target, scaling, (x_tr, y_tr), (x_va, y_va) = training_pairs(dataset, component, n_components, target)
    S, n_in = len(dataset.species), x_tr.shape[1]

    ss = as_seed_sequence(seed)
    s_body, s_head, s_fit = ss.spawn(3)
    if body is None:
        body = mlp_body(n_in, hidden=hidden, activation=activation, seed=int_seed(s_body))
    mdn = build_mdn(body, n_components, S, component, seed=int_seed(s_head), input_dim=n_in)
    history = fit_mdn(mdn, scaling.encode(x_tr, y_tr), scaling.encode(x_va, y_va),
                      epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, patience=patience,
                      seed=s_fit, target_noise=scaling.half_width(), callbacks=callbacks, progress=progress)
    settings = {"hidden": [int(h) for h in hidden], "activation": activation, "n_components": int(n_components),
                "component": component if isinstance(component, str) else list(component),
                "epochs": int(epochs), "batch_size": int(batch_size), "learning_rate": float(learning_rate),
                "patience": int(patience), "target": target,
                "seed": int(seed) if isinstance(seed, (int, np.integer)) else None,
                "body": "mlp" if body is not None and body.name == "mlp_body" else getattr(body, "name", "custom")}
    card = {"model_name": dataset.model.name, "model_hash": dataset.model.content_hash(),
            "dataset_hash": dataset.content_hash(), "n_train_pairs": int(len(x_tr)), "n_val_pairs": int(len(x_va)),
            "training": settings,
            "history": {k: (list(map(float, v)) if isinstance(v, list) else v) for k, v in history.items()},
            "versions": package_versions()}
    rate_bounds = getattr(dataset, "rate_bounds", None)
    return Emulator(mdn, dataset.scaler, dataset.model, tuple(dataset.vary_params), dataset.dt, dataset.n_steps,
                    n_components, component, card, target=target, rate_bounds=rate_bounds)
