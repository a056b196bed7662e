"""The trained MDN as a :class:`~sciope_abs.simulators.base.Simulator`.

The emulator advances all ``n x r`` trajectories together: at each step one batched network
call inside a compiled ``tf.function`` gives the mixture parameters of every trajectory, a draw
is taken from per-trajectory noise, mapped back to counts (round, clip at 0) and projected
exactly onto the network's conservation laws (``model.conservation_laws``, any group size and
integer weights) at each trajectory's own initial totals, as the exact process keeps them
(:func:`sciope_abs.crn.conservation.project_counts`: one species per law, its complement, takes
what the others leave; ties are broken by per-trajectory noise).  An initial total outside the range
the model's initial-state rule produces lies outside the training data and warns.

The noise of parameter point ``i`` comes from ``point_seeds(seed, n)[i]`` (a uniform for the
component choice and ``S`` standard normals per trajectory and step), so a point's trajectories
do not depend on which other points share the batch.

Two rollout paths: ``rollout="compiled"`` (default) runs all steps in one compiled loop with
counter-based noise and the projection inside it (:mod:`.rollout`); ``"stepwise"`` calls the
compiled step once per step and projects on the host.  Both draw the same counter-based noise
(one vectorised draw per step, no Python loop over points), so for a seed they give the same
trajectories wherever both apply.  Law structures the compiled projection does not cover
(weights other than 1, a species in two laws) use the stepwise path, with a logged reason.
"""
from __future__ import annotations

import json
import logging
import warnings
import zipfile
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._checks import check_positive_int
from ..seeding import SeedLike, point_seeds
from ..simulators.base import Simulator, check_initial_state, check_theta
from ..store.archive import directory_bytes, from_directory_bytes
from .card import jsonable, package_versions
from .rollout import COUNT_CAP, ROLLOUT_METHODS
from .scaling import StateScaler

__all__ = ["Emulator", "EmulatorRangeWarning", "package_versions", "EMULATOR_FILES"]

EMULATOR_FILES = {"model": "model.keras", "config": "config.json", "scaler": "scaler.json", "card": "card.json",
                  "genotype": "genotype.json"}

#: output dtypes of a rollout
OUTPUT_DTYPES = ("float64", "float32", "int32")

log = logging.getLogger(__name__)


class EmulatorRangeWarning(UserWarning):
    """Rates (or states) outside the range the emulator was trained on."""


class Emulator(Simulator):
    """A deep-abstraction emulator of a CRN at a fixed time step.

    Parameters
    ----------
    keras_model : keras.Model
        The MDN (scaled ``(state || rates)`` (b, S + p) -> flat mixture parameters).
    scaler : StateScaler
        The dataset's scaler (fitted on its train split); the emulator keeps a copy with its
        ``target`` (:meth:`~.scaling.StateScaler.with_target`) as :attr:`scaler`.
    model : CRN
        The emulated network; its species order is the state order.
    vary_params : sequence of str
        Rates the network is conditioned on (``param_names``); may be empty.
    dt, n_steps : float, int
        Time step of the network and default rollout length.
    n_components, component : the mixture the network outputs.
    card : dict
        Model card (hashes, settings, history, fidelity, versions).
    target : str
        Target parametrisation the network was trained with (:mod:`~.scaling`).
    rate_bounds : array (p, 2), optional
        Trained rate ranges; rates outside them warn (or raise with ``strict=True``).
    genotype : dict, optional
        The searched architecture (NAS), stored beside the model.
    strict : bool
        Raise ``ValueError`` instead of warning for rates outside ``rate_bounds``.
    clip : bool
        Clip rates outside ``rate_bounds`` to the nearest bound (with a warning) instead of
        warning and extrapolating; ``strict`` takes precedence (refuses them).
    rollout : {"compiled", "stepwise"}
        Default rollout path (see the module docstring); :meth:`rollout` can override it.
    jit_compile : bool
        XLA-compile the compiled rollout loop.
    chunk_bytes : int
        Memory bound of one chunk of trajectories in the compiled rollout.
    """

    #: parameter points per ``simulate`` call that keep the network at its batch speed; ABC
    #: (``batch_size="auto"``) reads it with ``getattr`` and sends a round's proposals in one call
    preferred_batch_size: int = 4096

    def __init__(self, keras_model: Any, scaler: Any, model: Any, vary_params: Sequence[str], dt: float, n_steps: int,
                 n_components: int, component: Any, card: dict | None = None, *, target: str = "delta",
                 rate_bounds: Any = None, genotype: dict | None = None, strict: bool = False,
                 clip: bool = False, rollout: str = "compiled", jit_compile: bool = False,
                 chunk_bytes: int = 64 * 2 ** 20):
        from .mixture import resolve_components

        self.keras_model = keras_model
        if not isinstance(scaler, StateScaler):
            raise ValueError(f"scaler must be a fitted StateScaler, got {type(scaler).__name__}")
        self.scaler = scaler.with_target(target)
        self.model = model
        self.param_names = tuple(model.check_parameter_names(vary_params))
        self.species = tuple(model.species)
        self.dt = float(dt)
        self.n_steps = int(n_steps)
        if not self.dt > 0 or self.n_steps < 1:
            raise ValueError(f"dt must be > 0 and n_steps >= 1, got dt={dt}, n_steps={n_steps}")
        self.timespan = np.arange(self.n_steps + 1, dtype=np.float64) * self.dt
        self.n_components = int(n_components)
        self.component = component if isinstance(component, (str, dict)) else list(component)
        resolve_components(self.component, self.n_components)
        self.card = dict(card or {})
        self.target = target
        S, p = len(self.species), len(self.param_names)
        n_inputs = self.scaler.n_species_ + self.scaler.n_rates_
        if self.scaler.n_species_ != S or n_inputs != S + p:
            raise ValueError(f"scaler has {n_inputs} inputs / {self.scaler.n_species_} outputs, "
                             f"expected {S + p} / {S} for species {list(self.species)} and rates {list(self.param_names)}")
        if rate_bounds is None:
            self.rate_bounds = np.array([model.rate_ranges.get(q, (0.0, np.inf)) for q in self.param_names],
                                        dtype=np.float64).reshape(p, 2)
        else:
            self.rate_bounds = np.asarray(rate_bounds, dtype=np.float64).reshape(p, 2)
        self.genotype = genotype
        self.strict = bool(strict)
        self.clip = bool(clip)
        if rollout not in ROLLOUT_METHODS:
            raise ValueError(f"rollout must be one of {ROLLOUT_METHODS}, got {rollout!r}")
        if int(chunk_bytes) < 1:
            raise ValueError(f"chunk_bytes must be >= 1, got {chunk_bytes}")
        self.rollout_method = rollout
        self.jit_compile = bool(jit_compile)
        self.chunk_bytes = int(chunk_bytes)
        self._step_fn: Any = None            # the compiled one-step function (built on first use)
        self._law_maps: Any = None           # (P, Q) of the law correction (built on first use)
        #: correct draws onto the laws before rounding (:meth:`decode_tf`); False leaves the whole
        #: residual of a law to its pivot species (the behaviour before; for comparisons)
        self.correct_laws = True
        self._compiled: Any = None           # CompiledRollout, False (stepwise only) or None (not built)
        self.n_network_calls = 0

    # ------------------------------------------------------------------ the compiled step
    @property
    def conservation_matrix(self) -> np.ndarray:
        """Weights of the model's conservation laws, shape ``(L, S)``, int64."""
        return self.model.conservation_matrix

    def _totals(self, states: np.ndarray) -> np.ndarray:
        """Per-row law values of states (n, S), shape (n, L)."""
        W = self.conservation_matrix
        return (np.asarray(states, dtype=np.float64) @ W.T).reshape(len(states), W.shape[0])

    def held_species(self) -> list[int]:
        """Species drawn by a categorical head (exact joint low-copy values), sorted indices."""
        specs = self.component if isinstance(self.component, list) else [self.component]
        return sorted({int(j) for c in specs if isinstance(c, dict) and c.get("name") == "categorical"
                       for g in c.get("groups", ()) for j in g})

    def law_maps(self) -> tuple[np.ndarray, np.ndarray]:
        """``(P, Q)`` of :func:`~sciope_abs.crn.conservation.law_correction` for this emulator's
        laws, holding its categorical species (cached)."""
        if getattr(self, "_law_maps", None) is None:
            from ..crn.conservation import law_correction

            self._law_maps = law_correction(self.conservation_matrix, len(self.species), self.held_species())
        return self._law_maps

    def decode_tf(self, state: Any, z: Any, totals: Any) -> Any:
        """Real-valued next states (b, S) from a draw ``z`` (b, S) in target units, corrected
        onto the laws at ``totals`` (b, L) (:meth:`law_maps`), before rounding; float32."""
        import tensorflow as tf

        y = self.scaler.decode_tf(state, z)
        P, Q = self.law_maps()
        if not Q.any() or not self.correct_laws:
            return y
        y = tf.where(tf.math.is_finite(y), y, state)
        return tf.matmul(y, tf.constant(P, tf.float32)) + tf.matmul(tf.cast(totals, tf.float32), tf.constant(Q, tf.float32))

    def project(self, proposed: np.ndarray, totals: np.ndarray, noise: Any = None, fallback: Any = None) -> np.ndarray:
        """Counts (n, S) onto the conservation laws at ``totals`` (n, L), exactly (see
        :func:`~sciope_abs.crn.conservation.project_counts`); species in no law are only rounded
        and clipped at 0."""
        from ..crn.conservation import project_counts

        return project_counts(proposed, self.conservation_matrix, np.round(totals), rng=noise, fallback=fallback)

    def _build_step(self):
        import tensorflow as tf

        from .mixture import mixture_sample_from_noise

        S, p = len(self.species), len(self.param_names)
        K, comp, scaling, net = self.n_components, self.component, self.scaler, self.keras_model
        L = self.conservation_matrix.shape[0]

        @tf.function(input_signature=[tf.TensorSpec((None, S), tf.float32), tf.TensorSpec((None, p), tf.float32),
                                      tf.TensorSpec((None, L), tf.float32), tf.TensorSpec((None,), tf.float32),
                                      tf.TensorSpec((None, S), tf.float32)], autograph=False)
        def step(state, rates, totals, u, eps):
            """Rounded, clipped counts, corrected onto the laws at ``totals`` before rounding (the
            exact integer projection runs on the host)."""
            x = scaling.encode_inputs_tf(tf.concat([state, rates], axis=1))
            head = net(x, training=False)                      # one batched call for all n*r rows
            z = mixture_sample_from_noise(head, K, S, comp, u, eps)
            y = self.decode_tf(state, z, totals)
            y = tf.where(tf.math.is_finite(y), y, tf.zeros_like(y))
            return tf.clip_by_value(tf.round(y), 0.0, COUNT_CAP)

        return step

    # ------------------------------------------------------------------ checks
    def _check_rates(self, rates: np.ndarray) -> np.ndarray:
        """The rates to use: unchanged, or clipped to ``rate_bounds`` with ``clip=True``."""
        if rates.shape[1] == 0:
            return rates
        lo, hi = self.rate_bounds[:, 0], self.rate_bounds[:, 1]
        out = (rates < lo) | (rates > hi)
        if out.any():
            i, j = np.argwhere(out)[0]
            msg = (f"{int(out.any(axis=1).sum())} of {len(rates)} points have rates outside the trained range; "
                   f"first: {self.param_names[j]}={rates[i, j]:g} at point {i}, trained on [{lo[j]:g}, {hi[j]:g}]")
            if self.strict:
                raise ValueError(msg)
            if self.clip:
                warnings.warn(msg + "; clipped to the trained range (clip=True)", EmulatorRangeWarning, stacklevel=3)
                return np.clip(rates, lo, hi)
            warnings.warn(msg, EmulatorRangeWarning, stacklevel=3)
        return rates

    def _check_conservation(self, states: np.ndarray) -> None:
        """Warn for initial law totals outside those of the model's initial-state rule."""
        laws = self.model.conservation_laws
        if not laws:
            return
        values = self._totals(states)
        bounds = self.model.law_total_ranges()
        for k, law in enumerate(laws):
            lo, hi = bounds[k]
            bad = (values[:, k] < lo) | (values[:, k] > hi)
            if bad.any():
                i = int(np.argmax(bad))
                trained = f"{lo:g}" if lo == hi else f"in [{lo:g}, {hi:g}]"
                lhs = str(law).rsplit(" = ", 1)[0]
                warnings.warn(f"{int(bad.sum())} of {len(states)} initial states have {lhs} = {values[i, k]:g}, "
                              f"not the trained total {trained}; the emulator keeps their own total but was "
                              f"not trained there", EmulatorRangeWarning, stacklevel=3)

    # ------------------------------------------------------------------ simulation
    def rollout(self, initial_states: Any, rates: Any, n_steps: int | None = None, n_traj: int = 1,
                seed: SeedLike | Sequence = None, *, method: str | None = None, dtype: Any = None) -> np.ndarray:
        """Roll out ``n_traj`` trajectories from each of ``n`` settings.

        Parameters
        ----------
        initial_states : array (n, S) or (S,)
            Counts in the order of :attr:`species`.
        rates : array (n, p) or (p,)
            Values of :attr:`param_names` (p may be 0: pass ``np.empty((n, 0))`` or ``None``).
        n_steps : int, optional
            Steps of ``dt`` (default: :attr:`n_steps`).
        n_traj : int
        seed : int, SeedSequence or list of n SeedSequences
        method : {"compiled", "stepwise"}, optional
            Rollout path (default: the one given at construction, :attr:`rollout_method`).
        dtype : {"float64", "float32", "int32"}, optional
            Output dtype (default float64).

        Returns
        -------
        array (n, n_traj, S, n_steps + 1), integer counts of ``dtype``
        """
        method = self.rollout_method if method is None else method
        if method not in ROLLOUT_METHODS:
            raise ValueError(f"method must be one of {ROLLOUT_METHODS}, got {method!r}")
        dtype = np.dtype("float64" if dtype is None else dtype)
        if dtype.name not in OUTPUT_DTYPES:
            raise ValueError(f"dtype must be one of {OUTPUT_DTYPES}, got {dtype.name!r}")
        states, rates, n_steps, r = self._rollout_inputs(initial_states, rates, n_steps, n_traj)
        n, S = states.shape
        out = np.empty((n, r, S, n_steps + 1), dtype=dtype)
        out[:, :, :, 0] = states[:, None, :]
        if n == 0 or n_steps == 0:
            return out
        seeds = point_seeds(seed, n)
        compiled = self._compiled_rollout() if method == "compiled" else None
        if compiled is not None:
            totals = np.round(self._totals(states))
            compiled.run(states, rates, totals, seeds, r, n_steps, out)
            self.n_network_calls += n_steps
            return out
        return self._rollout_stepwise(states, rates, seeds, r, n_steps, out)

    def _rollout_inputs(self, initial_states, rates, n_steps, n_traj):
        """Checked ``(states (n, S), rates (n, p), n_steps, n_traj)`` of a rollout call."""
        S, p = len(self.species), len(self.param_names)
        n_steps = self.n_steps if n_steps is None else int(n_steps)
        if n_steps < 0:
            raise ValueError(f"n_steps must be >= 0, got {n_steps}")
        r = check_positive_int(n_traj, "n_traj")   # the message every Simulator gives
        st = np.asarray(initial_states, dtype=np.float64)
        if st.ndim == 1:
            st = st[None, :]
        if st.ndim != 2 or st.shape[1] != S:
            raise ValueError(f"initial states must have shape (n, {S}) for species {list(self.species)}, "
                             f"got {np.shape(initial_states)}")
        n = st.shape[0]
        states = check_initial_state(st, n, self.species, self.model.default_initial_state())
        if rates is None:
            rates = np.empty((n, 0))
        rates = np.asarray(rates, dtype=np.float64)
        if rates.ndim == 1 and rates.shape[0] == p:
            rates = np.tile(rates, (n, 1))
        if rates.shape != (n, p):
            raise ValueError(f"rates must have shape ({n}, {p}) for {list(self.param_names)}, got {rates.shape}")
        rates = check_theta(rates, self.param_names)
        rates = self._check_rates(rates)
        self._check_conservation(states)
        return states, rates, n_steps, r

    def _compiled_rollout(self):
        """The compiled rollout (built on first use), or None when the laws need the stepwise path."""
        if self._compiled is None:
            from .rollout import CompiledRollout, compiled_plan

            plan, reason = compiled_plan(self.conservation_matrix)
            if plan is None:
                log.info("emulator of %s: stepwise rollout (%s; the compiled projection covers unit-weight "
                         "laws with disjoint species)", self.model.name, reason)
                self._compiled = False
            else:
                self._compiled = CompiledRollout(self, plan, jit_compile=self.jit_compile,
                                                 chunk_bytes=self.chunk_bytes)
        return self._compiled or None

    def _rollout_stepwise(self, states, rates, seeds, r: int, n_steps: int, out: np.ndarray) -> np.ndarray:
        """One compiled step call per step, the projection on the host; the noise is the compiled
        loop's counter-based noise (:func:`.rollout.host_step_noise`), one vectorised draw per step."""
        import tensorflow as tf

        from .rollout import host_step_noise, point_keys

        if self._step_fn is None:
            self._step_fn = self._build_step()
        n, S = states.shape
        keys = np.repeat(point_keys(seeds).astype(np.uint64), r, axis=0)   # (n*r, 2): per point
        traj = np.tile(np.arange(r, dtype=np.uint64), n)                     # (n*r,): per trajectory
        prev = np.repeat(states, r, axis=0)
        rate_t = tf.constant(np.repeat(rates, r, axis=0), tf.float32)
        totals_np = np.repeat(self._totals(states), r, axis=0)
        totals = tf.constant(totals_np, tf.float32)
        has_laws = totals_np.shape[1] > 0
        for t in range(1, n_steps + 1):
            u, eps, ties = host_step_noise(keys, traj, t - 1, S, has_laws)
            y = self._step_fn(tf.constant(prev, tf.float32), rate_t, totals, tf.constant(u), tf.constant(eps))
            self.n_network_calls += 1
            y = y.numpy().astype(np.float64)
            if has_laws:  # exact, per trajectory; a row no repair can fill keeps its previous state
                y = self.project(y, totals_np, ties, fallback=prev)
            out[:, :, :, t] = y.reshape(n, r, S)
            prev = y
        return out

    def simulate(self, theta: Any, *, n_traj: int = 1, seed: SeedLike | Sequence = None,
                 initial_state: Any = None) -> np.ndarray:
        """Simulator protocol: ``theta`` (n, p) -> traces (n, n_traj, S, n_steps + 1).

        ``initial_state`` is (S,) or (n, S); default: the model's default initial state.
        """
        theta = check_theta(theta, self.param_names)
        n = theta.shape[0]
        states = check_initial_state(initial_state, n, self.species, self.model.default_initial_state())
        return self.rollout(states, theta, self.n_steps, n_traj, seed)

    # ------------------------------------------------------------------ persistence
    def _config(self) -> dict:
        return {"format": "sciope_abs.emulator/1", "model": self.model.to_dict(), "vary_params": list(self.param_names),
                "dt": self.dt, "n_steps": self.n_steps, "n_components": self.n_components,
                "component": self.component, "target": self.target, "rate_bounds": self.rate_bounds.tolist(),
                "strict": self.strict, "clip": self.clip,
                "conservation_laws": [law.to_dict() for law in self.model.conservation_laws]}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the emulator to directory ``path`` (created): ``model.keras``, ``config.json``,
        ``scaler.json``, ``card.json`` and ``genotype.json`` when there is one.  The config holds
        the whole model (reactions, initial-state rule, conserved groups) and its conservation laws."""
        from ..crn.model import warn_if_custom_sampling

        path = Path(path)
        warn_if_custom_sampling(self.model)
        path.mkdir(parents=True, exist_ok=True)
        self.keras_model.save(path / EMULATOR_FILES["model"])
        files = {"scaler": self.scaler.to_dict(), "card": self.card, "config": self._config()}
        if self.genotype is not None:
            files["genotype"] = self.genotype
        for key, obj in files.items():  # config last: its presence marks a complete save
            (path / EMULATOR_FILES[key]).write_text(json.dumps(jsonable(obj), indent=1, sort_keys=True))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, *, strict: bool | None = None, clip: bool | None = None) -> "Emulator":
        """Read an emulator written by :meth:`save` (the Keras file with ``safe_mode=True``).

        Imports nothing of training or of the architecture search: the custom layers a saved
        network may hold, trained or searched, are registered by :mod:`.layers`.
        """
        import keras

        from ..crn.model import CRN
        from . import layers  # noqa: F401  (registers every custom layer for safe-mode loading)

        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"no emulator directory at {path}")
        for key in ("model", "config", "scaler"):
            if not (path / EMULATOR_FILES[key]).is_file():
                raise FileNotFoundError(f"emulator at {path} is incomplete: missing {EMULATOR_FILES[key]}")
        cfg = json.loads((path / EMULATOR_FILES["config"]).read_text())
        card = json.loads((path / EMULATOR_FILES["card"]).read_text()) if (path / EMULATOR_FILES["card"]).is_file() else {}
        genotype = None
        if (path / EMULATOR_FILES["genotype"]).is_file():
            genotype = json.loads((path / EMULATOR_FILES["genotype"]).read_text())
        scaler = _load_scaler(path / EMULATOR_FILES["scaler"])
        model = CRN.from_dict(cfg["model"])
        stored = cfg.get("conservation_laws")
        if stored is not None and stored != [law.to_dict() for law in model.conservation_laws]:
            raise ValueError(f"emulator at {path}: the conservation laws in {EMULATOR_FILES['config']} do not match "
                             f"those of its model ({stored} vs {[str(v) for v in model.conservation_laws]})")
        net = _load_keras(keras, path / EMULATOR_FILES["model"])
        return cls(net, scaler, model, cfg["vary_params"], cfg["dt"], cfg["n_steps"],
                   cfg["n_components"], cfg["component"], card, target=cfg["target"],
                   rate_bounds=cfg["rate_bounds"], genotype=genotype,
                   strict=cfg.get("strict", False) if strict is None else strict,
                   clip=cfg.get("clip", False) if clip is None else clip)

    # ------------------------------------------------------------------ pickling (Dask)
    def to_bytes(self) -> bytes:
        """The saved directory as zip bytes."""
        return directory_bytes(self.save)

    @classmethod
    def from_bytes(cls, blob: bytes) -> "Emulator":
        return from_directory_bytes(blob, cls.load)

    def __reduce__(self) -> Any:
        return (_emulator_from_bytes, (self.to_bytes(),))

    def __repr__(self) -> str:
        return (f"Emulator({self.model.name!r}, params={list(self.param_names)}, species={list(self.species)}, "
                f"dt={self.dt:g}, n_steps={self.n_steps}, {self.n_components} x {self.component!r})")


_UNPICKLED: dict[str, Emulator] = {}


def _load_keras(keras, file: Path):
    """The Keras model at ``file`` (safe mode); a file Keras cannot read is reported as corrupt."""
    if not zipfile.is_zipfile(file):
        raise ValueError(f"emulator model file {file} is corrupt (not a .keras zip archive)")
    try:
        return keras.saving.load_model(file, compile=False, safe_mode=True)
    except Exception as err:  # noqa: BLE001 - Keras raises many kinds for a damaged archive
        if "safe_mode" in str(err):
            raise  # refused for safety: keep Keras' own explanation
        text = str(err).strip().splitlines()[0] if str(err).strip() else ""
        detail = type(err).__name__ if not text or "File not found" in text else text[:200]
        raise ValueError(f"emulator model file {file} is corrupt or not a Keras model ({detail})") from None


def _emulator_from_bytes(blob: bytes) -> Emulator:
    """Unpickle, reusing an emulator already rebuilt in this process from the same bytes (a Dask
    worker receiving the same emulator with every task loads it once)."""
    import hashlib

    key = hashlib.sha256(blob).hexdigest()
    emu = _UNPICKLED.get(key)
    if emu is None:
        emu = Emulator.from_bytes(blob)
        if len(_UNPICKLED) >= 4:
            _UNPICKLED.pop(next(iter(_UNPICKLED)))
        _UNPICKLED[key] = emu
    return emu


def _load_scaler(file: Path) -> StateScaler:
    """The scaler saved at ``file``; one that cannot be read is refused with the file named."""
    try:
        return StateScaler.from_dict(json.loads(file.read_text()))
    except (json.JSONDecodeError, ValueError, TypeError, AttributeError) as err:
        raise ValueError(f"emulator scaler file {file} cannot be read: {err}") from None
