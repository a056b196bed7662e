"""Learned summary statistics: a network regressing the parameters from traces is the summary.

:class:`LearnedSummary` is a :class:`~sciope_abs.summaries.base.Summary` with a
``fit(theta (n, d), x (n, r, S, T))``: it trains a network (architectures in
:mod:`~sciope_abs.surrogates.learned_arch`: ``"dense"``, ``"cnn"``, ``"pen"``) to predict the
parameters, scaled (``target="standardise"``: ``(theta - mean) / std``, with the prior's moments
when a prior is given, else the training sample's; ``target="log"``: the same on ``log theta``),
from the traces.  Its output -- the predicted scaled parameters, an estimate of the posterior
mean ``E[theta | x]`` (Fearnhead & Prangle 2012) -- is the summary, ``(n, d)`` features named
``"<prefix>__<parameter>"``.  The trajectories of a point are pooled (mean of per-trajectory
embeddings), so the summary does not depend on their order and accepts any ``r``.

Training: Adam on shuffled minibatches of mean-squared error, early stopping on a validation
split of the points, best-validation weights restored; every initialiser, the split and the
shuffling come from ``seed``.  :meth:`LearnedSummary.save` writes ``model.keras`` (loaded with
``safe_mode=True``), ``config.json`` (scalings, names) and ``card.json`` (training record,
versions); :meth:`LearnedSummary.load` refuses an incomplete or corrupt directory with a message
naming the file.  TensorFlow is imported only when a network is built, trained, run or loaded.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._checks import check_positive_int
from ..seeding import SeedLike, as_generator, as_seed_sequence, int_seed
from ..store.archive import directory_bytes, from_directory_bytes
from ..summaries.base import NamesUnknownError, Summary, check_traces
from .learned_arch import architecture_defaults, build_network

__all__ = ["LearnedSummary", "LEARNED_FILES", "TARGETS", "check_fit_data", "ThetaScaler"]

logger = logging.getLogger(__name__)

LEARNED_FILES = {"model": "model.keras", "config": "config.json", "card": "card.json"}
TARGETS = ("standardise", "log")
_FORMAT = "sciope_abs.learned_summary/1"
_PREDICT_BATCH = 1024


def check_fit_data(theta: Any, x: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate training pairs: ``theta`` (n, d) and traces (n, r, S, T); rows with NaN are dropped.

    Raises a one-line ``ValueError`` when shapes disagree or fewer than 10 usable points remain.
    """
    th = np.asarray(theta, dtype=np.float64)
    if th.ndim == 1:
        th = th[:, None]
    if th.ndim != 2 or th.shape[1] < 1:
        raise ValueError(f"theta must have shape (n, d), got {np.shape(theta)}")
    xx = check_traces(x)
    if xx.shape[0] != th.shape[0]:
        raise ValueError(f"theta has {th.shape[0]} points but the traces have {xx.shape[0]}")
    ok = np.isfinite(th).all(axis=1) & np.isfinite(xx.reshape(len(xx), -1)).all(axis=1)
    if ok.sum() < 10:
        raise ValueError(f"need at least 10 points with finite theta and traces to fit, got {int(ok.sum())}")
    if not ok.all():
        logger.info("fit: dropping %d of %d points with NaN theta or traces", int((~ok).sum()), len(ok))
    return th[ok], xx[ok]


class ThetaScaler:
    """The target parametrisation: ``z = (g(theta) - mean) / std`` with ``g`` identity or log."""

    def __init__(self, target: str = "standardise", mean: Any = None, std: Any = None) -> None:
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        self.target = target
        self.mean: np.ndarray | None = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.std: np.ndarray | None = None if std is None else np.asarray(std, dtype=np.float64)

    def _moments(self) -> tuple[np.ndarray, np.ndarray]:
        if self.mean is None or self.std is None:
            raise ValueError("ThetaScaler is not fitted: call fit(theta, prior) first")
        return self.mean, self.std

    def _g(self, theta: np.ndarray) -> np.ndarray:
        if self.target == "log":
            if np.any(theta <= 0):
                raise ValueError("target='log' needs positive parameters; got values <= 0")
            return np.log(theta)
        return theta

    def fit(self, theta: np.ndarray, prior: Any = None) -> "ThetaScaler":
        """Moments from the prior (``target="standardise"`` and a prior with ``mean``/``std``) or the sample."""
        if prior is not None and self.target == "standardise" and callable(getattr(prior, "mean", None)):
            mean = np.asarray(prior.mean(), dtype=np.float64).reshape(-1)
            std = np.asarray(prior.std(), dtype=np.float64).reshape(-1)
        else:
            g = self._g(theta)
            mean, std = g.mean(axis=0), g.std(axis=0)
        if mean.shape != (theta.shape[1],) or not np.all(np.isfinite(std)):
            raise ValueError(f"prior moments have shape {mean.shape}, expected ({theta.shape[1]},)")
        self.mean, self.std = mean, np.where(std > 0, std, 1.0)
        return self

    def encode(self, theta: np.ndarray) -> np.ndarray:
        mean, std = self._moments()
        return (self._g(theta) - mean) / std

    def decode(self, z: np.ndarray) -> np.ndarray:
        mean, std = self._moments()
        g = z * std + mean
        return np.exp(g) if self.target == "log" else g

    def to_dict(self) -> dict:
        mean, std = self._moments()
        return {"target": self.target, "mean": mean.tolist(), "std": std.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "ThetaScaler":
        return cls(d["target"], d["mean"], d["std"])


class LearnedSummary(Summary):
    """A neural network's estimate of the (scaled) parameters, used as summary statistics.

    Parameters
    ----------
    arch : {"dense", "cnn", "pen"} or a registered name
        See :mod:`~sciope_abs.surrogates.learned_arch`.
    arch_params : dict, optional
        Architecture parameters (e.g. ``{"order": 2}`` for PEN, ``{"filters": [16, 32]}``).
    head : sequence of int
        Hidden widths of the dense layers after pooling over trajectories.
    target : {"standardise", "log"}
        Parametrisation the network predicts (and the features are in).
    input_transform : {"auto", "log1p", "none"}
        Applied to the traces before per-species standardisation; ``"auto"`` = ``log1p`` when the
        training traces are non-negative (counts), else none.
    epochs, batch_size, learning_rate, patience : int, int, float, int
        Adam; stop after ``patience`` epochs without a better validation loss (best weights kept).
    validation_fraction : float in (0, 1)
        Share of the training points held out for early stopping.
    seed : int or SeedSequence
        Initial weights, split and shuffling.
    param_names : sequence of str, optional
        Parameter names used in :attr:`names` (default: from the prior given to :meth:`fit`, else
        ``"theta0", ...``).
    prefix : str
        Feature-name prefix: names are ``"<prefix>__<parameter>"``.
    species : sequence of str, optional
        Checked against the traces' species axis.
    """

    #: the forward pass compiled per number of trajectories, for the current model (see _predict_fn)
    _compiled: tuple[Any, dict[int, Any]] | None

    def __init__(self, arch: str = "cnn", arch_params: dict | None = None, head: Sequence[int] = (100, 100), *,
                 target: str = "standardise", input_transform: str = "auto", epochs: int = 200,
                 batch_size: int = 64, learning_rate: float = 1e-3, patience: int = 10,
                 validation_fraction: float = 0.2, seed: SeedLike = 0, param_names: Sequence[str] | None = None,
                 prefix: str = "learned", species: Sequence[str] | None = None):
        super().__init__(species)
        defaults = architecture_defaults(arch)
        unknown = sorted(set(arch_params or {}) - set(defaults))
        if unknown:
            raise ValueError(f"unknown arch_params {unknown} for architecture {arch!r}; it takes {sorted(defaults)}")
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        if input_transform not in ("auto", "log1p", "none"):
            raise ValueError(f"input_transform must be 'auto', 'log1p' or 'none', got {input_transform!r}")
        for what, v in (("epochs", epochs), ("batch_size", batch_size), ("patience", patience)):
            check_positive_int(v, what)
        if not 0 < float(validation_fraction) < 1:
            raise ValueError(f"validation_fraction must lie in (0, 1), got {validation_fraction!r}")
        if not float(learning_rate) > 0:
            raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
        self.arch = str(arch).lower()
        self.arch_params = dict(arch_params or {})
        self.head = tuple(int(w) for w in head)
        self.target = target
        self.input_transform = input_transform
        self.epochs, self.batch_size, self.patience = int(epochs), int(batch_size), int(patience)
        self.learning_rate = float(learning_rate)
        self.validation_fraction = float(validation_fraction)
        self.seed = seed
        self.param_names = None if param_names is None else tuple(str(p) for p in param_names)
        self.prefix = str(prefix)
        self.model_: Any = None  # a Keras model once fitted (Keras ships no type information)
        self.config_: dict | None = None
        self.card_: dict = {}

    # ------------------------------------------------------------------ names
    @property
    def names(self) -> list[str]:
        """``"<prefix>__<parameter>"`` for each of the ``d`` outputs (known once fitted)."""
        if self.config_ is None:
            raise NamesUnknownError("LearnedSummary: names are known after fit(theta, x) or load(path)")
        return [f"{self.prefix}__{p}" for p in self.config_["param_names"]]

    def _names(self, species: tuple[str, ...]) -> list[str]:
        return self.names

    @property
    def is_fitted(self) -> bool:
        return self.model_ is not None and self.config_ is not None

    def _config(self) -> dict[str, Any]:
        if self.config_ is None:
            raise ValueError("LearnedSummary is not fitted: call fit(theta, x) or LearnedSummary.load(path) first")
        return self.config_

    # ------------------------------------------------------------------ input scaling
    def _prepare(self, x: np.ndarray) -> np.ndarray:
        """(n, r, S, T) -> scaled float32 (n, r, T, S)."""
        cfg = self._config()
        if x.shape[2] != cfg["n_species"] or x.shape[3] != cfg["n_times"]:
            raise ValueError(f"the learned summary was trained on traces with S={cfg['n_species']} species and "
                             f"T={cfg['n_times']} time points, got S={x.shape[2]}, T={x.shape[3]}")
        z = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        if cfg["input_transform"] == "log1p":
            z = np.log1p(np.maximum(z, 0.0))
        mean = np.asarray(cfg["x_mean"])[None, None, :, None]
        std = np.asarray(cfg["x_std"])[None, None, :, None]
        return np.ascontiguousarray(((z - mean) / std).transpose(0, 1, 3, 2), dtype=np.float32)

    # ------------------------------------------------------------------ fit
    def fit(self, theta: Any, x: Any = None, *, prior: Any = None, progress: bool = False) -> "LearnedSummary":
        """Train the network on pairs ``theta`` (n, d), traces ``x`` (n, r, S, T).

        Parameters
        ----------
        theta : array (n, d)
            Parameters of the training simulations (e.g. a pilot from the prior).
        x : array (n, r, S, T)
            Their traces.  Called as ``fit(x)`` alone (the :class:`Summary` protocol, e.g. by a
            :class:`~sciope_abs.summaries.base.CombinedSummary`), an already fitted summary only
            checks the species and keeps its weights.
        prior : JointPrior, optional
            Gives the scaling moments (``target="standardise"``) and the parameter names.
        progress : bool
            Log the losses every 10 epochs.

        Returns
        -------
        self
        """
        if x is None:
            if not self.is_fitted:
                raise ValueError("LearnedSummary.fit needs (theta (n, d), x (n, r, S, T)) to train the network")
            self._bind_species(check_traces(theta).shape[2])
            return self
        th, xx = check_fit_data(theta, x)
        self._bind_species(xx.shape[2])
        names = self._resolve_param_names(th.shape[1], prior)
        transform = self.input_transform
        if transform == "auto":
            transform = "log1p" if np.min(xx) >= 0 else "none"
        z = np.log1p(xx) if transform == "log1p" else xx
        x_mean = z.mean(axis=(0, 1, 3))
        x_std = z.std(axis=(0, 1, 3))
        tscale = ThetaScaler(self.target).fit(th, prior)
        self.config_ = {"format": _FORMAT, "arch": self.arch, "arch_params": self.arch_params, "head": list(self.head),
                        "n_species": int(xx.shape[2]), "n_times": int(xx.shape[3]), "param_names": names,
                        "input_transform": transform, "x_mean": x_mean.tolist(),
                        "x_std": np.where(x_std > 0, x_std, 1.0).tolist(), "theta_scaling": tscale.to_dict(),
                        "prefix": self.prefix, "species": list(self.species) if self.species else None}
        ss = as_seed_sequence(self.seed)
        s_init, s_split, s_fit = ss.spawn(3)
        self.model_ = build_network(self.arch, xx.shape[3], xx.shape[2], th.shape[1], seed=int_seed(s_init),
                                    head=self.head, params=self.arch_params)
        n = len(th)
        perm = as_generator(s_split).permutation(n)
        n_val = min(max(1, int(round(self.validation_fraction * n))), n - 1)
        val, tr = perm[:n_val], perm[n_val:]
        inputs, targets = self._prepare(xx), tscale.encode(th).astype(np.float32)
        hist = self._train(inputs[tr], targets[tr], inputs[val], targets[val], s_fit, progress)
        self.card_ = {"format": _FORMAT, "n_train": int(len(tr)), "n_val": int(n_val),
                      "n_traj": int(xx.shape[1]), "seed": _seed_record(self.seed), **hist,
                      "settings": {"epochs": self.epochs, "batch_size": self.batch_size,
                                   "learning_rate": self.learning_rate, "patience": self.patience,
                                   "validation_fraction": self.validation_fraction},
                      "versions": _versions()}
        return self

    def _resolve_param_names(self, d: int, prior: Any) -> list[str]:
        names = self.param_names
        if names is None and prior is not None and getattr(prior, "names", None) is not None:
            names = tuple(prior.names)
        if names is None:
            names = tuple(f"theta{i}" for i in range(d))
        if len(names) != d:
            raise ValueError(f"param_names has {len(names)} entries {list(names)} but theta has d={d} columns")
        return list(names)

    def _train(self, x_tr, y_tr, x_va, y_va, seed, progress: bool) -> dict:
        import keras
        import tensorflow as tf

        model = self.model_
        opt = keras.optimizers.Adam(learning_rate=self.learning_rate)
        weights = model.trainable_variables
        opt.build(weights)
        spec = [tf.TensorSpec((None,) + x_tr.shape[1:], tf.float32), tf.TensorSpec((None, y_tr.shape[1]), tf.float32)]

        @tf.function(input_signature=spec, autograph=False)
        def step(xb, yb):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(xb, training=True) - yb))
            opt.apply_gradients(zip(tape.gradient(loss, weights), weights))
            return loss

        def val_loss() -> float:
            pred = self._predict_scaled(x_va)
            return float(np.mean((pred - y_va) ** 2))

        rng = as_generator(seed)
        best, best_loss, best_epoch, since = model.get_weights(), val_loss(), -1, 0
        losses, vlosses, reason = [], [], "completed"
        t0 = time.perf_counter()
        for epoch in range(self.epochs):
            perm = rng.permutation(len(x_tr))
            tot = 0.0
            for a in range(0, len(perm), self.batch_size):
                idx = perm[a:a + self.batch_size]
                tot += float(step(x_tr[idx], y_tr[idx])) * len(idx)
            losses.append(tot / len(perm))
            vlosses.append(val_loss())
            if not (math.isfinite(losses[-1]) and math.isfinite(vlosses[-1])):
                reason = "nan"
                break
            if vlosses[-1] < best_loss:
                best, best_loss, best_epoch, since = model.get_weights(), vlosses[-1], epoch, 0
            else:
                since += 1
            if progress and epoch % 10 == 0:
                logger.debug("learned summary epoch %d: loss %.4f val_loss %.4f", epoch, losses[-1], vlosses[-1])
            if since >= self.patience:
                reason = "early_stopping"
                break
        model.set_weights(best)
        return {"loss": losses, "val_loss": vlosses, "best_epoch": best_epoch, "best_val_mse": best_loss,
                "epochs_run": len(losses), "stop_reason": reason, "seconds": time.perf_counter() - t0}

    # ------------------------------------------------------------------ predict
    def _predict_fn(self, r: int):
        """The forward pass compiled once per number of trajectories ``r`` (an eager call costs
        ~30 ms; Keras' TimeDistributed needs a static ``r`` inside a graph)."""
        cache: tuple[Any, dict[int, Any]] | None = getattr(self, "_compiled", None)
        if cache is None or cache[0] is not self.model_:
            cache = (self.model_, {})
            self._compiled = cache
        fn = cache[1].get(r)
        if fn is None:
            import tensorflow as tf

            cfg, net = self._config(), self.model_
            spec = [tf.TensorSpec((None, r, cfg["n_times"], cfg["n_species"]), tf.float32)]
            fn = tf.function(lambda z: net(z, training=False), input_signature=spec, autograph=False)
            cache[1][r] = fn
        return fn

    def _predict_scaled(self, z: np.ndarray) -> np.ndarray:
        if len(z) == 0:
            return np.zeros((0, len(self._config()["param_names"])))
        f = self._predict_fn(int(z.shape[1]))
        out = [np.asarray(f(z[a:a + _PREDICT_BATCH]), dtype=np.float64) for a in range(0, len(z), _PREDICT_BATCH)]
        return np.concatenate(out, axis=0)

    def _compute(self, x: np.ndarray, species: tuple[str, ...]) -> np.ndarray:
        if not self.is_fitted:
            raise ValueError("LearnedSummary is not fitted: call fit(theta, x) or LearnedSummary.load(path) first")
        return self._predict_scaled(self._prepare(x))

    def predict_theta(self, x: Any) -> np.ndarray:
        """The network's parameter estimate in the original units, (n, d)."""
        z = self(x)
        return ThetaScaler.from_dict(self._config()["theta_scaling"]).decode(z)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``model.keras``, ``card.json`` and ``config.json`` (last: marks a complete save) to ``path``."""
        if not self.is_fitted:
            raise ValueError("cannot save an unfitted LearnedSummary")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model_.save(path / LEARNED_FILES["model"])
        settings = {"arch": self.arch, "arch_params": self.arch_params, "head": list(self.head),
                    "target": self.target, "input_transform": self.input_transform, "epochs": self.epochs,
                    "batch_size": self.batch_size, "learning_rate": self.learning_rate, "patience": self.patience,
                    "validation_fraction": self.validation_fraction, "prefix": self.prefix}
        (path / LEARNED_FILES["card"]).write_text(json.dumps(_jsonable(self.card_), indent=1, sort_keys=True))
        cfg = {**self._config(), "settings": settings}
        (path / LEARNED_FILES["config"]).write_text(json.dumps(_jsonable(cfg), indent=1, sort_keys=True))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LearnedSummary":
        """Read a summary written by :meth:`save`; the Keras file is loaded with ``safe_mode=True``.

        Raises ``FileNotFoundError`` for a missing directory or file and ``ValueError`` naming the
        file for a corrupt or foreign one.
        """
        import keras

        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"no learned summary directory at {path}")
        for key in ("model", "config"):
            if not (path / LEARNED_FILES[key]).is_file():
                raise FileNotFoundError(f"learned summary at {path} is incomplete: missing {LEARNED_FILES[key]}")
        cfg = _read_json(path / LEARNED_FILES["config"])
        if cfg.get("format") != _FORMAT:
            raise ValueError(f"{path / LEARNED_FILES['config']} is not a learned summary config "
                             f"(format {cfg.get('format')!r}, expected {_FORMAT!r})")
        card = _read_json(path / LEARNED_FILES["card"]) if (path / LEARNED_FILES["card"]).is_file() else {}
        model_file = path / LEARNED_FILES["model"]
        try:
            net = keras.saving.load_model(model_file, compile=False, safe_mode=True)
        except Exception as exc:  # keras raises many types for a damaged archive
            raise ValueError(f"cannot read the learned summary network {model_file}: corrupt or not a Keras "
                             f"file ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})") from None
        s = cfg["settings"]
        obj = cls(s["arch"], s["arch_params"], s["head"], target=s["target"], input_transform=s["input_transform"],
                  epochs=s["epochs"], batch_size=s["batch_size"], learning_rate=s["learning_rate"],
                  patience=s["patience"], validation_fraction=s["validation_fraction"],
                  param_names=cfg["param_names"], prefix=s["prefix"], species=cfg.get("species"))
        expected = (None, None, cfg["n_times"], cfg["n_species"])
        got = tuple(net.inputs[0].shape) if getattr(net, "inputs", None) else None
        if got != expected or int(net.outputs[0].shape[-1]) != len(cfg["param_names"]):
            raise ValueError(f"{model_file} does not match {path / LEARNED_FILES['config']}: network input {got}, "
                             f"expected {expected}")
        obj.model_ = net
        obj.config_ = {k: v for k, v in cfg.items() if k != "settings"}
        obj.card_ = card
        obj.n_species_ = cfg["n_species"]
        return obj

    # ------------------------------------------------------------------ pickling (Dask tasks)
    def to_bytes(self) -> bytes:
        """The saved directory as zip bytes."""
        return directory_bytes(self.save)

    @classmethod
    def from_bytes(cls, blob: bytes) -> "LearnedSummary":
        return from_directory_bytes(blob, cls.load)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        if not self.is_fitted:
            return (_unfitted, ({k: v for k, v in self.__dict__.items() if k != "_compiled"},))
        return (_learned_from_bytes, (self.to_bytes(),))

    def _params(self) -> dict[str, Any]:
        return {"arch": self.arch, "arch_params": self.arch_params or None, "target": self.target}

    def __repr__(self) -> str:
        state = "fitted" if self.is_fitted else "unfitted"
        return f"LearnedSummary(arch={self.arch!r}, target={self.target!r}, {state})"


_UNPICKLED: dict[str, LearnedSummary] = {}


def _learned_from_bytes(blob: bytes) -> LearnedSummary:
    """Unpickle, reusing a summary already rebuilt in this process from the same bytes."""
    key = hashlib.sha256(blob).hexdigest()
    obj = _UNPICKLED.get(key)
    if obj is None:
        obj = LearnedSummary.from_bytes(blob)
        if len(_UNPICKLED) >= 4:
            _UNPICKLED.pop(next(iter(_UNPICKLED)))
        _UNPICKLED[key] = obj
    return obj


def _unfitted(state: dict) -> LearnedSummary:
    obj = LearnedSummary.__new__(LearnedSummary)
    obj.__dict__.update(state)
    return obj


def _read_json(path: Path) -> dict:
    try:
        out = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {path}: not valid JSON ({exc})") from None
    if not isinstance(out, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(out).__name__}")
    return out


def _seed_record(seed: SeedLike):
    return int(seed) if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) else None


def _versions() -> dict:
    from ..abstraction.emulator import package_versions

    return package_versions()


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
