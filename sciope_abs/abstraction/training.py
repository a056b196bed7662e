"""Training the MDN: Adam on minibatches, early stopping on the validation loss, NaN-safe, seeded.

:func:`fit_mdn` trains any Keras model built by :func:`~.network.build_mdn` on scaled pairs;
:func:`train` goes from an :class:`~.dataset.AbstractionDataset` to an :class:`~.emulator.Emulator`
with a fixed MLP body (the architecture search builds on the same two functions).
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import tensorflow as tf

from ..seeding import SeedLike, as_generator, as_seed_sequence, int_seed
from .components.categorical import MAX_SUPPORT, categorical_spec, low_copy_species
from .config import TrainConfig
from .bodies import mlp_body
from .card import train_card
from .emulator import Emulator
from .mixture import as_spec, component_support, mixture_nll
from .network import build_mdn, find_head, fix_last_input
from .scaling import StateScaler

__all__ = ["fit_mdn", "train", "TRAIN_DEFAULTS", "prepare_training", "mdn_nll", "resolve_discrete", "check_lags",
           "lagged_pairs", "lag_feature", "dequantise", "emulator_from", "export_network"]

#: the defaults of :func:`train`, read from :class:`~.config.TrainConfig`
TRAIN_DEFAULTS = dataclasses.asdict(TrainConfig())

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


def check_clipnorm(clipnorm: Any) -> float | None:
    """``None`` or a positive finite float (the global gradient-norm bound)."""
    if clipnorm is None:
        return None
    if isinstance(clipnorm, bool) or not isinstance(clipnorm, (int, float, np.integer, np.floating)) \
            or not np.isfinite(clipnorm) or clipnorm <= 0:
        raise ValueError(f"clipnorm must be a positive number or None, got {clipnorm!r}")
    return float(clipnorm)


def fit_mdn(model: Any, train_xy: Any, val_xy: Any, *, epochs: int = 100, batch_size: int = 256, learning_rate: float = 1e-3,
            patience: int = 10, seed: SeedLike = None, target_noise: Any = None, clipnorm: float | None = None,
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
    from tqdm.auto import tqdm

    head = find_head(model)
    x_tr, y_tr, x_va, y_va = _check_fit_data(model, train_xy, val_xy, head.event_dim)
    epochs, batch_size, patience = _check_fit_args(epochs, batch_size, learning_rate, patience)
    rng = as_generator(seed)
    half = _half_widths(target_noise, head.event_dim)
    y_va_noisy = dequantise(y_va, half, rng)           # one fixed draw, made first
    loop = _EpochLoop(model, head, x_tr, x_va, y_va_noisy, batch_size, learning_rate, clipnorm)
    t0 = time.perf_counter()
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False, unit="epoch")
    hist = _run_epochs(loop, bar, y_tr, half, rng, patience, callbacks)
    bar.close()
    hist["seconds"] = time.perf_counter() - t0
    return hist


def dequantise(y: np.ndarray, half: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``y`` plus uniform noise in ``[-half, half]`` per column (float32), drawn from ``rng``.

    The dequantisation of integer counts that :func:`fit_mdn` and the architecture search share:
    a density is fitted to each count's unit cell, not to a point mass.
    """
    return y + (rng.uniform(-1, 1, y.shape) * half).astype(np.float32)


def _check_fit_args(epochs, batch_size, learning_rate, patience) -> tuple[int, int, int]:
    epochs, batch_size, patience = int(epochs), int(batch_size), int(patience)
    if epochs < 1 or batch_size < 1 or patience < 1 or not learning_rate > 0:
        raise ValueError("epochs, batch_size and patience must be >= 1 and learning_rate > 0")
    return epochs, batch_size, patience


def _check_fit_data(model, train_xy, val_xy, D: int):
    """Checked float32 ``(x_tr, y_tr, x_va, y_va)``: widths of the network, all finite."""
    n_in = int(model.inputs[0].shape[-1]) if getattr(model, "inputs", None) else None
    x_tr, y_tr = _check_xy(train_xy, "train_xy", n_in, D)
    x_va, y_va = _check_xy(val_xy, "val_xy", x_tr.shape[1], D)
    for name, arr in (("train inputs", x_tr), ("train targets", y_tr), ("validation inputs", x_va),
                      ("validation targets", y_va)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contain NaN or inf")
    return x_tr, y_tr, x_va, y_va


def _half_widths(target_noise, D: int) -> np.ndarray:
    """The dequantisation half-widths (D,) float32 (zeros without ``target_noise``)."""
    if target_noise is None:
        return np.zeros(D, dtype=np.float32)
    half = np.asarray(target_noise, dtype=np.float32).ravel()
    if half.shape != (D,) or (half < 0).any():
        raise ValueError(f"target_noise must be {D} non-negative half-widths, got {half.shape}")
    return half


class _EpochLoop:
    """The compiled minibatch step and validation loss of one :func:`fit_mdn` run."""

    def __init__(self, model, head, x_tr, x_va, y_va, batch_size: int, learning_rate: float, clipnorm):
        import keras

        K, D, comp = head.n_components, head.event_dim, head.component
        self.model, self.x_tr, self.x_va, self.y_va, self.batch_size = model, x_tr, x_va, y_va, batch_size
        optimizer = keras.optimizers.Adam(learning_rate=float(learning_rate),
                                          global_clipnorm=check_clipnorm(clipnorm))
        weights = model.trainable_variables
        optimizer.build(weights)
        spec = [tf.TensorSpec((None, x_tr.shape[1]), tf.float32), tf.TensorSpec((None, D), tf.float32)]

        @tf.function(input_signature=spec, autograph=False)
        def train_step(xb, yb):
            with tf.GradientTape() as tape:
                loss = mixture_nll(yb, model(xb, training=True), K, D, comp)
            grads = tape.gradient(loss, weights)
            optimizer.apply_gradients(zip(grads, weights))
            return loss

        @tf.function(input_signature=spec, autograph=False)
        def batch_nll_sum(x, y):
            return mixture_nll(y, model(x, training=False), K, D, comp) * tf.cast(tf.shape(x)[0], tf.float32)

        self.train_step, self.batch_nll_sum = train_step, batch_nll_sum

    def train_epoch(self, perm: np.ndarray, y_epoch: np.ndarray) -> float:
        """Mean minibatch loss of one pass in the order ``perm``; NaN at the first non-finite loss."""
        xs, ys, m, bs = self.x_tr[perm], y_epoch[perm], len(perm), self.batch_size
        total = 0.0
        for a in range(0, m, bs):
            xb, yb = xs[a:a + bs], ys[a:a + bs]
            loss = float(self.train_step(xb, yb))
            total += loss * len(xb)
            if not math.isfinite(loss):
                return float("nan")
        return total / m

    def val_loss(self) -> float:
        """Mean NLL of the validation pairs (their fixed dequantisation draw)."""
        s = 0.0
        for a in range(0, self.x_va.shape[0], _EVAL_BATCH):
            s += float(self.batch_nll_sum(self.x_va[a:a + _EVAL_BATCH], self.y_va[a:a + _EVAL_BATCH]))
        return s / self.x_va.shape[0]


def _run_epochs(loop: _EpochLoop, bar, y_tr: np.ndarray, half: np.ndarray, rng, patience: int,
                callbacks: Sequence[Callable]) -> dict:
    """Epochs with early stopping on the validation loss; the best weights are restored at the end."""
    model, m = loop.model, len(y_tr)
    best = model.get_weights()
    hist: dict[str, Any] = {"loss": [], "val_loss": [], "best_epoch": -1, "best_val_loss": float("inf"),
                            "epochs_run": 0, "stop_reason": "completed"}
    since_best = 0
    for epoch in bar:
        perm = rng.permutation(m).astype(np.int32)
        loss = loop.train_epoch(perm, dequantise(y_tr, half, rng) if half.any() else y_tr)
        vloss = loop.val_loss() if math.isfinite(loss) else float("nan")
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
    model.set_weights(best)  # the best validation checkpoint (initial weights if none was finite)
    return hist


def mdn_nll(model: Any, xy: Any, target_noise: Any = None, *, seed: SeedLike = 0, max_rows: int | None = 20000) -> float:
    """Mean NLL of an MDN on (scaled) pairs with one fixed dequantisation draw.

    Train and validation losses compared on the same footing (no weight updates in between, the
    same kind of noise): what the automatic size search reads.  At most ``max_rows`` rows (a
    seeded subsample) are used.
    """
    head = find_head(model)
    x, y = _check_xy(xy, "pairs", None, head.event_dim)
    rng = as_generator(seed)
    if max_rows is not None and len(x) > max_rows:
        pick = np.sort(rng.choice(len(x), size=int(max_rows), replace=False))
        x, y = x[pick], y[pick]
    if target_noise is not None:
        y = y + (rng.uniform(-1, 1, y.shape) * np.asarray(target_noise, np.float32)).astype(np.float32)
    total = 0.0
    for a in range(0, len(x), _EVAL_BATCH):
        out = model(x[a:a + _EVAL_BATCH], training=False)
        total += float(mixture_nll(y[a:a + _EVAL_BATCH], out, head.n_components, head.event_dim,
                                   head.component)) * len(out)
    return total / len(x)


def training_pairs(dataset: Any, component: Any, n_components: int, target: str = "auto") -> Any:
    """Resolve the target parametrisation and return the raw train/val pairs with their encoding.

    Returns ``(target, scaling, (x_train, y_train), (x_val, y_val))``: ``scaling`` is the dataset's
    :class:`~.scaling.StateScaler` with that target, ``scaling.encode(x, y)`` gives the network's
    scaled inputs and targets.  Shared by :func:`train` and the architecture search.
    """
    support = component_support(component, n_components)
    if target == "auto":
        target = "positive" if support == "positive" else "delta"
    if support == "positive" and target != "positive":
        raise ValueError(f"component {component!r} has positive support: use target='positive'")
    scaling = dataset.scaler.with_target(target)
    x_tr, y_tr = dataset.pairs("train")
    x_va, y_va = dataset.pairs("val")
    if len(x_tr) == 0 or len(x_va) == 0:
        raise ValueError(f"dataset needs non-empty train and val splits (got {len(x_tr)} and {len(x_va)} pairs)")
    return target, scaling, (x_tr, y_tr), (x_va, y_va)


def check_lags(lags: Any, n_steps: int | None = None) -> tuple[int, ...]:
    """Sorted distinct training lags (steps); must contain 1 (the emulator's step)."""
    try:
        vals = [int(v) for v in np.atleast_1d(lags)]
        ok = all(float(v) == int(v) for v in np.atleast_1d(lags))
    except (TypeError, ValueError):
        vals, ok = [], False
    if not ok or not vals or min(vals) < 1 or 1 not in vals:
        raise ValueError(f"lags must be positive integers (steps) including 1, got {lags!r}")
    out = tuple(sorted(set(vals)))
    if n_steps is not None and out[-1] > n_steps:
        raise ValueError(f"lag {out[-1]} is longer than the dataset's {n_steps} steps")
    return out


def lag_feature(lag: Any, max_lag: int) -> np.ndarray:
    """The lag input of a multi-lag network: ``log(lag) / log(max_lag)`` (0 at lag 1)."""
    lag = np.asarray(lag, dtype=np.float64)
    return (np.log(lag) / math.log(max_lag)).astype(np.float32) if max_lag > 1 else np.zeros_like(lag, np.float32)


def lagged_pairs(dataset: Any, split: str, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw pairs ``(x_t || rates) -> x_{t+lag}`` of one split, rows by setting, trajectory, step."""
    idx = dataset.split_index(split)
    tr = np.asarray(dataset.traces)[idx]                      # (k, r, S, T)
    k, r, S, T = tr.shape
    if not 1 <= lag < T:
        raise ValueError(f"lag {lag} needs at least {lag + 1} time points, the dataset has {T}")
    x = np.moveaxis(tr[..., :-lag], 2, -1)
    y = np.moveaxis(tr[..., lag:], 2, -1)
    p = len(dataset.vary_params)
    rates = np.broadcast_to(np.asarray(dataset.rates)[idx][:, None, None, :], (k, r, T - lag, p))
    return np.concatenate([x, rates], axis=-1).reshape(-1, S + p), y.reshape(-1, S)


def resolve_discrete(component: Any, species: Sequence[str], x: Any, y: Any, scaling: Any,
                     discrete: str | Sequence[str] | None = "auto",
                     max_support: int = MAX_SUPPORT, laws: Any = None) -> Any:
    """The head's component spec with categorical low-copy species (see :mod:`.components.categorical`).

    ``discrete``: ``"auto"`` (species whose counts take at most ``max_support`` values in the
    training pairs ``x``, ``y``), ``None`` (no categorical dimension), or a sequence of species
    names.  Discrete species sharing a row of ``laws`` (L, S) get one joint categorical.  A
    component that is already a config dict is returned unchanged.
    """
    if discrete is None or discrete is False or isinstance(component, dict):
        return component
    S = len(species)
    if isinstance(discrete, str):
        if discrete != "auto":
            raise ValueError(f"discrete must be 'auto', None or a list of species, got {discrete!r}")
        dims = low_copy_species(np.concatenate([np.asarray(x)[:, :S], np.asarray(y)], axis=0), max_support)
    else:
        unknown = [s for s in discrete if s not in species]
        if unknown:
            raise ValueError(f"discrete species {unknown} are not species of the model {list(species)}")
        dims = sorted(species.index(s) for s in discrete)
    if not dims:
        return component
    if isinstance(component, (list, tuple)):
        return [categorical_spec(x, y, scaling, c, species=dims, laws=laws) for c in component]
    return categorical_spec(x, y, scaling, component, species=dims, laws=laws)


@dataclass
class Prepared:
    """Everything :func:`train` and the search need from a dataset, encoded once."""

    target: str
    scaling: StateScaler
    component: Any            # a registry name or config dict, or one per mixture component
    train_xy: tuple
    val_xy: tuple
    n_inputs: int
    lags: tuple
    n_train_pairs: int
    n_val_pairs: int
    discrete: list = field(default_factory=list)


def prepare_training(dataset: Any, component: Any, n_components: int, target: str = "auto", *, discrete: Any = "auto",
                     max_support: int = MAX_SUPPORT, lags: Any = (1,), lag_fraction: float = 1.0,
                     seed: SeedLike = None) -> Prepared:
    """Encode a dataset's pairs for the network: target, scaling, component spec and lags.

    With ``lags = (1, k2, ...)`` the training pairs also hold ``(x_t -> x_{t+k})`` pairs, the lag
    entering the network as one more input column (:func:`lag_feature`); together they number
    ``lag_fraction`` times the lag-1 pairs (a seeded subsample, split evenly over the longer lags).
    The validation pairs are lag-1 only: checkpoints are picked for the one-step network the
    emulator rolls out.
    """
    target, scaling, (x_tr, y_tr), (x_va, y_va) = training_pairs(dataset, component, n_components, target)
    lags = check_lags(lags, int(dataset.n_steps))
    if not (isinstance(lag_fraction, (int, float, np.integer, np.floating)) and lag_fraction > 0):
        raise ValueError(f"lag_fraction must be a positive number, got {lag_fraction!r}")
    lag_tr = np.ones(len(x_tr))
    if len(lags) > 1:
        rng = as_generator(seed)
        n_each = max(1, int(round(lag_fraction * len(x_tr) / (len(lags) - 1))))
        xs, ys, ls = [x_tr], [y_tr], [lag_tr]
        for k in lags[1:]:
            xk, yk = lagged_pairs(dataset, "train", k)
            pick = np.sort(rng.choice(len(xk), size=min(n_each, len(xk)), replace=False))
            xs.append(xk[pick])
            ys.append(yk[pick])
            ls.append(np.full(len(pick), float(k)))
        x_tr, y_tr, lag_tr = np.concatenate(xs), np.concatenate(ys), np.concatenate(ls)
    species = tuple(dataset.species)
    laws = getattr(dataset.model, "conservation_matrix", None)
    spec = resolve_discrete(component, species, x_tr, y_tr, scaling, discrete, max_support, laws=laws)
    train_xy, val_xy = scaling.encode(x_tr, y_tr), scaling.encode(x_va, y_va)
    if len(lags) > 1:
        train_xy = (np.concatenate([train_xy[0], lag_feature(lag_tr, lags[-1])[:, None]], axis=1), train_xy[1])
        val_xy = (np.concatenate([val_xy[0], np.zeros((len(x_va), 1), np.float32)], axis=1), val_xy[1])
    first = spec[0] if isinstance(spec, list) and spec else spec
    disc = sorted((j for g in first["groups"] for j in g), key=int) if isinstance(first, dict) else []
    disc = [species[j] for j in disc]
    return Prepared(target, scaling, spec, train_xy, val_xy, int(train_xy[0].shape[1]), lags,
                    int(len(x_tr)), int(len(x_va)), disc)


def export_network(mdn: Any, prepared: Prepared) -> Any:
    """The network the emulator calls: a multi-lag MDN with its lag input held at lag 1."""
    return fix_last_input(mdn, 0.0) if len(prepared.lags) > 1 else mdn


def emulator_from(dataset: Any, prepared: Prepared, mdn: Any, n_components: int, card: dict, genotype: dict | None = None) -> Any:
    """The :class:`~.emulator.Emulator` of a trained MDN: what :func:`train` and the search return.

    ``mdn`` is the network as trained (with the lag input of a multi-lag network, see
    :func:`export_network`); the emulator gets the dataset's scaler, model, rates, grid and rate
    bounds, the prepared component spec and target, ``card`` and ``genotype``.
    """
    return Emulator(export_network(mdn, prepared), dataset.scaler, dataset.model, tuple(dataset.vary_params),
                    dataset.dt, dataset.n_steps, n_components, as_spec(prepared.component), card,
                    target=prepared.target, rate_bounds=getattr(dataset, "rate_bounds", None), genotype=genotype)


def train(dataset: Any, config: TrainConfig | None = None, *, seed: SeedLike = None, progress: bool = True,
          body: Any = None, callbacks: Sequence[Callable] = (), **overrides: Any) -> Any:
    """Train an MDN emulator on an :class:`~.dataset.AbstractionDataset`.

    Parameters
    ----------
    dataset : AbstractionDataset
        Its ``"train"`` pairs fit the weights, its ``"val"`` pairs pick the checkpoint; the
        ``"test"`` split is left for :func:`~.evaluation.evaluate`.
    config : TrainConfig, optional
        The hyper-parameters (default ``TrainConfig()``; each field is documented there).
    seed : int or SeedSequence
        Seeds the initialisers, the shuffling and the dequantisation noise.
    progress : bool
        A tqdm bar over epochs.
    body : keras.Model, optional
        A prebuilt body (b, S + p) -> (b, h), e.g. a searched architecture (with ``lags``
        longer than 1 it must take one more input column, the lag).
    callbacks : passed to :func:`fit_mdn`.
    **overrides
        Fields of :class:`~.config.TrainConfig` replacing those of ``config``:
        ``train(ds, epochs=50)`` is ``train(ds, TrainConfig(epochs=50))``.

    Returns
    -------
    Emulator
        With ``card`` holding the model and dataset hashes, the settings, the training history
        and ``card["config"]`` (``TrainConfig.to_dict()``).
    """
    cfg = (config if config is not None else TrainConfig()).override(**overrides)
    hidden, n_components, max_support = cfg.hidden, cfg.n_components, cfg.max_support
    ss = as_seed_sequence(seed)
    s_body, s_head, s_fit, s_lag = ss.spawn(4)
    prep = prepare_training(dataset, cfg.component, n_components, cfg.target, discrete=cfg.discrete,
                            max_support=max_support, lags=cfg.lags, lag_fraction=cfg.lag_fraction, seed=s_lag)
    S, n_in = len(dataset.species), prep.n_inputs
    if body is None:
        body = mlp_body(n_in, hidden=hidden, activation=cfg.activation, seed=int_seed(s_body))
    mdn = build_mdn(body, n_components, S, prep.component, seed=int_seed(s_head), input_dim=n_in)
    history = fit_mdn(mdn, prep.train_xy, prep.val_xy, epochs=cfg.epochs, batch_size=cfg.batch_size,
                      learning_rate=cfg.learning_rate, patience=cfg.patience, seed=s_fit,
                      target_noise=prep.scaling.half_width(), callbacks=callbacks, progress=progress)
    settings = {"hidden": [int(h) for h in hidden], "activation": cfg.activation, "n_components": int(n_components),
                "component": as_spec(prep.component), "epochs": int(cfg.epochs), "batch_size": int(cfg.batch_size),
                "learning_rate": float(cfg.learning_rate), "patience": int(cfg.patience), "target": prep.target,
                "discrete": list(prep.discrete), "max_support": int(max_support), "lags": list(prep.lags),
                "lag_fraction": float(cfg.lag_fraction),
                "seed": int(seed) if isinstance(seed, (int, np.integer)) else None,
                "body": "mlp" if body.name == "mlp_body" else getattr(body, "name", "custom")}
    card = train_card(dataset, prep, settings, history, config=cfg.to_dict())
    return emulator_from(dataset, prep, mdn, n_components, card)
