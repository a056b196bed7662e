"""The bi-level, gradient-based search loop (ProxylessNAS-style path binarisation).

Two optimisers, two data splits:

- **weight steps** (train split, ``alpha`` frozen): per minibatch, sample one-hot gates from
  ``p = softmax(alpha)`` — one active operation per edge — and take an Adam step on the weights
  of the network (the inactive paths get no gradient);
- **architecture steps** (architecture-validation split, weights frozen): per minibatch, sample
  gates from the current ``p``, compute ``dL/dg`` (every candidate's output enters through its
  gate, so this needs one forward and one backward pass), and update ``alpha`` with

      dL/dalpha_i = sum_j dL/dg_j * p_j (delta_ij - p_i) = p_i (dL/dg_i - <dL/dg, p>)

  (equation 13 of the seed paper with ``dL/dg`` in place of ``dL/dp``).

Stages: :meth:`ProxylessSearch.heat_up` (weights only, ``alpha`` untouched) and
:meth:`ProxylessSearch.search` (blocks of ``turn`` weight epochs and ``turn`` architecture epochs,
alternating).  The loss is any TensorFlow-traceable ``loss_fn(y, head_out) -> scalar``: the MDN's
negative log-likelihood in :func:`.searching.search`, a mean squared error in the tests.
"""
from __future__ import annotations

import logging
import time
import warnings
from typing import Any, Callable

import numpy as np

from ..._checks import check_nonneg_int, check_positive_float, check_positive_int
from ...seeding import SeedLike, as_generator
from ..training import check_clipnorm, dequantise
from .supernet import SuperNet

__all__ = ["ProxylessSearch", "arch_gradient"]
log = logging.getLogger(__name__)



def arch_gradient(dgates: Any, probs: Any) -> Any:
    """``dL/dalpha`` from ``dL/dg`` and ``p`` (both ``(n_edges, n_ops)``), in TensorFlow."""
    import tensorflow as tf

    inner = tf.reduce_sum(dgates * probs, axis=1, keepdims=True)
    return probs * (dgates - inner)


def _check_xy(xy, what: str):
    try:
        x, y = xy
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a pair (inputs, targets)") from None
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or len(x) == 0:
        raise ValueError(f"{what}: inputs (m, D) and targets (m, S) with m > 0 needed, "
                         f"got {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError(f"{what} contains NaN or inf")
    return x, y


class ProxylessSearch:
    """Alternating weight / architecture optimisation of a :class:`~.supernet.SuperNet` + head.

    Parameters
    ----------
    supernet : SuperNet
    head : keras layer
        Maps the supernet output ``(b, width)`` to what ``loss_fn`` expects.
    loss_fn : callable ``(y (b, S), head_out) -> scalar tensor``
    learning_rate : float
        Adam step of the weights.
    arch_learning_rate : float
        Adam step of ``alpha`` (``beta_1 = 0``, as in ProxylessNAS).
    batch_size : int
    turn : int
        Epochs per block in the alternating stage (3–5 in the paper).
    seed : int or SeedSequence
        Drives shuffling, gate sampling and dequantisation noise (weights are initialised by
        the caller).
    target_noise : array (S,), optional
        Half-widths of uniform noise added to the targets, fresh every epoch (the
        dequantisation of integer counts that :func:`~..training.fit_mdn` also uses); the
        validation loss is computed on one fixed draw.
    clipnorm : float, optional
        Bound on the global norm of each weight gradient (default 5; ``None``: no clipping).
        Wide supernets on many species (EGFR: width 460) otherwise see rare exploding steps
        that wreck the shared weights mid-search.
    progress : bool
        One line per epoch on stderr.

    Attributes
    ----------
    history : dict
        ``"heat_up"``: train loss per epoch; ``"search"``: list of ``{"epoch", "phase"
        ("weights"|"arch"), "loss", "val_loss"}``; ``"alpha"``: ``softmax(alpha)`` after every
        search epoch (list of ``(n_edges, n_ops)`` nested lists), ``"alpha_initial"``.
    """

    def __init__(self, supernet: SuperNet, head: Any, loss_fn: Callable, *, learning_rate: float = 1e-3,
                 arch_learning_rate: float = 3e-2, batch_size: int = 256, turn: int = 3,
                 seed: SeedLike = None, target_noise: Any = None, clipnorm: float | None = 5.0,
                 progress: bool = True):
        import keras

        if not isinstance(supernet, SuperNet):
            raise ValueError(f"supernet must be a SuperNet, got {type(supernet).__name__}")
        for name, v in (("learning_rate", learning_rate), ("arch_learning_rate", arch_learning_rate)):
            check_positive_float(v, name)
        check_positive_int(batch_size, "batch_size")
        check_positive_int(turn, "turn")
        self.supernet = supernet
        self.head = head
        self.loss_fn = loss_fn
        self.batch_size = int(batch_size)
        self.turn = int(turn)
        self.progress = progress
        self.rng = as_generator(seed)
        self.target_noise = None if target_noise is None else np.asarray(target_noise, np.float32).ravel()
        if self.target_noise is not None and (self.target_noise < 0).any():
            raise ValueError("target_noise half-widths must be non-negative")
        self._eval_seed = int(self.rng.integers(2**31))
        self.clipnorm = check_clipnorm(clipnorm)
        self.weight_optimizer = keras.optimizers.Adam(learning_rate, global_clipnorm=self.clipnorm)
        self.arch_optimizer = keras.optimizers.Adam(arch_learning_rate, beta_1=0.0, epsilon=1e-8)
        self.history: dict = {"heat_up": [], "search": [], "alpha": [],
                              "alpha_initial": supernet.probabilities().tolist(), "seconds": {}}
        self._steps: tuple[Any, Any, Any] | None = None

    def _fns(self) -> tuple[Any, Any, Any]:
        """The compiled (weight epoch, architecture epoch, evaluation) steps; :meth:`build` makes them."""
        if self._steps is None:
            raise RuntimeError("the search steps are not built: call build(input_dim) first")
        return self._steps

    # ------------------------------------------------------------------ compiled steps
    def build(self, input_dim: int) -> None:
        """Build every layer and compile the three steps (done on first use)."""
        if self._steps is not None:
            return
        import tensorflow as tf

        net, head, loss_fn = self.supernet, self.head, self.loss_fn
        gates0 = tf.constant(net.argmax_gates())
        head(net(tf.zeros((1, input_dim)), gates0))       # build every layer eagerly
        weights = list(net.weight_variables) + list(head.trainable_variables)
        alpha = net.alpha
        self.weight_optimizer.build(weights)
        self.arch_optimizer.build([alpha])
        w_opt, a_opt = self.weight_optimizer, self.arch_optimizer
        bs, n_ops = self.batch_size, net.n_ops

        def gates_from_uniform(u):
            """Inverse-CDF draw of one operation per edge from the current softmax(alpha)."""
            cdf = tf.cumsum(tf.nn.softmax(tf.convert_to_tensor(alpha), axis=-1), axis=-1)
            choice = tf.reduce_sum(tf.cast(u[:, None] > cdf, tf.int32), axis=-1)
            return tf.one_hot(tf.minimum(choice, n_ops - 1), n_ops, dtype=tf.float32)

        def weight_update(xb, yb, g):
            with tf.GradientTape() as tape:
                loss = loss_fn(yb, head(net(xb, g, sparse=True)))
            grads = tape.gradient(loss, weights, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            w_opt.apply(grads, weights)
            return loss

        def arch_update(xb, yb, g):
            with tf.GradientTape() as tape:
                tape.watch(g)
                loss = loss_fn(yb, head(net(xb, g)))
            dg = tape.gradient(loss, g, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            probs = tf.nn.softmax(tf.convert_to_tensor(alpha), axis=-1)
            a_opt.apply([arch_gradient(dg, probs)], [alpha])
            return loss

        def make_epoch(update):
            @tf.function(reduce_retracing=True)
            def epoch(x, y, perm, u):
                """One pass over ``perm``; gates of minibatch ``i`` drawn with ``u[i]``."""
                m = tf.shape(perm)[0]
                n_batches = (m + bs - 1) // bs
                total = tf.constant(0.0, tf.float32)
                for i in tf.range(n_batches):
                    idx = perm[i * bs: tf.minimum((i + 1) * bs, m)]
                    xb, yb = tf.gather(x, idx), tf.gather(y, idx)
                    loss = update(xb, yb, gates_from_uniform(u[i]))
                    total += loss * tf.cast(tf.shape(idx)[0], tf.float32)
                return total / tf.cast(m, tf.float32)
            return epoch

        @tf.function(reduce_retracing=True)
        def eval_sum(x, y, g):
            return loss_fn(y, head(net(x, g, sparse=True))) * tf.cast(tf.shape(x)[0], tf.float32)

        self._weights = weights
        self._steps = (make_epoch(weight_update), make_epoch(arch_update), eval_sum)

    # ------------------------------------------------------------------ loops
    def _log(self, msg: str) -> None:
        if self.progress:
            log.info(f"[search] {msg}")

    def _noisy(self, y: np.ndarray, rng) -> np.ndarray:
        if self.target_noise is None or not self.target_noise.any():
            return y
        if self.target_noise.shape != (y.shape[1],):
            raise ValueError(f"target_noise has {self.target_noise.size} half-widths for {y.shape[1]} targets")
        return dequantise(y, self.target_noise, rng)

    def _epoch(self, x: np.ndarray, y: np.ndarray, epoch_fn) -> float:
        import tensorflow as tf

        m = len(x)
        y = self._noisy(y, self.rng)
        perm = self.rng.permutation(m).astype(np.int32)
        u = self.rng.random((-(-m // self.batch_size), self.supernet.n_edges)).astype(np.float32)
        loss = float(epoch_fn(tf.constant(x), tf.constant(y), tf.constant(perm), tf.constant(u)))
        return loss if np.isfinite(loss) else float("nan")

    def evaluate(self, xy: Any, gates: np.ndarray | None = None, batch_size: int = 8192) -> float:
        """Mean loss on ``xy`` with fixed one-hot gates (default: the most probable operation per edge)."""
        x, y = _check_xy(xy, "evaluation data")
        self.build(x.shape[1])
        g = self.supernet.argmax_gates() if gates is None else np.asarray(gates, dtype=np.float32)
        total = 0.0
        for start in range(0, len(x), batch_size):
            total += float(self._fns()[2](x[start:start + batch_size], y[start:start + batch_size], g))
        return total / len(x)

    def weight_epoch(self, train_xy: Any) -> float:
        """One epoch of weight steps (``alpha`` untouched); returns the mean minibatch loss."""
        x, y = _check_xy(train_xy, "train data")
        self.build(x.shape[1])
        return self._epoch(x, y, self._fns()[0])

    def arch_epoch(self, val_xy: Any) -> float:
        """One epoch of architecture steps (weights untouched); returns the mean minibatch loss."""
        x, y = _check_xy(val_xy, "architecture-validation data")
        self.build(x.shape[1])
        return self._epoch(x, y, self._fns()[1])

    def _snapshot(self):
        return [v.numpy().copy() for v in self._weights], self.supernet.alpha.numpy().copy()

    def _restore(self, snap) -> None:
        for v, val in zip(self._weights, snap[0]):
            v.assign(val)
        self.supernet.alpha.assign(snap[1])

    def heat_up(self, train_xy: Any, epochs: int) -> list[float]:
        """Train the weights only, gates sampled from the (untouched) ``softmax(alpha)``."""
        x, y = _check_xy(train_xy, "train data")
        epochs = check_nonneg_int(epochs, "heat-up epochs")
        self.build(x.shape[1])
        t0 = time.perf_counter()
        for ep in range(epochs):
            snap = self._snapshot()
            loss = self._epoch(x, y, self._fns()[0])
            if not np.isfinite(loss):
                self._restore(snap)
                warnings.warn(f"heat-up stopped at epoch {ep + 1}: non-finite loss; weights restored",
                              RuntimeWarning, stacklevel=2)
                break
            self.history["heat_up"].append(loss)
            self._log(f"heat-up  epoch {ep + 1}/{epochs}  train loss {loss:.4f}")
        self.history["seconds"]["heat_up"] = time.perf_counter() - t0
        return self.history["heat_up"]

    def search(self, train_xy: Any, val_xy: Any, epochs: int) -> list[dict]:
        """Alternate ``turn`` weight epochs on ``train_xy`` (``alpha`` frozen) with ``turn``
        architecture epochs on ``val_xy`` (weights frozen), ``epochs`` epochs in total."""
        x, y = _check_xy(train_xy, "train data")
        xv, yv = _check_xy(val_xy, "architecture-validation data")
        if x.shape[1] != xv.shape[1] or y.shape[1] != yv.shape[1]:
            raise ValueError(f"train and validation widths differ: {x.shape[1:]}/{y.shape[1:]} vs "
                             f"{xv.shape[1:]}/{yv.shape[1:]}")
        epochs = check_nonneg_int(epochs, "search epochs")
        self.build(x.shape[1])
        weight_step, arch_step, _ = self._fns()
        yv_eval = self._noisy(yv, np.random.default_rng(self._eval_seed))   # one fixed draw
        t0 = time.perf_counter()
        for ep in range(epochs):
            phase = "weights" if (ep // self.turn) % 2 == 0 else "arch"
            snap = self._snapshot()
            if phase == "weights":
                loss = self._epoch(x, y, weight_step)
            else:
                loss = self._epoch(xv, yv, arch_step)
            if not np.isfinite(loss):
                self._restore(snap)
                warnings.warn(f"search stopped at epoch {ep + 1} ({phase}): non-finite loss; "
                              "weights and alpha restored", RuntimeWarning, stacklevel=2)
                break
            val_loss = self.evaluate((xv, yv_eval))
            probs = self.supernet.probabilities()
            self.history["search"].append({"epoch": ep + 1, "phase": phase, "loss": loss,
                                           "val_loss": val_loss})
            self.history["alpha"].append(probs.round(6).tolist())
            self._log(f"search   epoch {ep + 1}/{epochs}  [{phase:7s}] loss {loss:.4f}  "
                      f"val loss (argmax arch) {val_loss:.4f}  max p {probs.max(axis=1).mean():.3f}")
        self.history["seconds"]["search"] = time.perf_counter() - t0
        return self.history["search"]
