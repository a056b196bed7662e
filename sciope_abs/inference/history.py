"""``History``: the run store of an SMC-ABC run, as data (JSON + npz), never pickle.

A run folder holds::

    config.json        settings (JSON), parameter and summary names, the fingerprint of the
                       objects the run was started with, the epsilon and distance specs
    observed.npz       the observed summary vector (F,)
    round_000.npz ...  one per complete round: particles (n, d), weights (n,), distances (n,),
                       summaries (n, F), sim_distances (m,) of the simulations the round made
                       (for acceptance-targeted tolerances; with them their proposals
                       sim_theta (m, d) and log proposal density sim_logq (m,)), and the
                       fitted distance state
                       (arrays ``distance.<name>``, JSON values in ``distance_json``)
    state.json         the index: last complete round, per-round entries, counts, status
    posterior.npz      the result, once the run is done

Everything is read with ``json`` and ``numpy.load(allow_pickle=False)``, so opening someone
else's run folder runs no code, and the history can be read without the objects that wrote it::

    h = History.load("runs/toggle/smc")
    h.to_pandas()             # one row per round
    h.population(2)           # particles, weights, distances, summaries of round 2

:meth:`SMCABC.resume <sciope_abs.inference.SMCABC.resume>` reads it back; the simulator, prior,
summary and distance are passed again by the user and checked against the stored fingerprint.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..store.atomic import atomic_savez, atomic_write_bytes

__all__ = ["History", "Population", "fingerprint", "describe"]

CONFIG, STATE, OBSERVED, POSTERIOR = "config.json", "state.json", "observed.npz", "posterior.npz"
FORMAT = 2
_POP_KEYS = ("particles", "weights", "distances", "summaries")


def _json(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars and arrays become Python numbers and lists."""
    if isinstance(obj, dict):
        return {str(k): _json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _json(obj.tolist())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    return obj


def _dumps(obj: Any) -> bytes:
    return json.dumps(_json(obj), indent=1, allow_nan=True).encode()


# --------------------------------------------------------------------------- fingerprints
def _type_name(obj: Any) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def _safe_repr(obj: Any) -> Optional[str]:
    """``repr(obj)`` when it describes the object (no memory address), else None."""
    try:
        r = repr(obj)
    except Exception:
        return None
    return None if " at 0x" in r else r


def describe(role: str, obj: Any) -> Any:
    """JSON data describing ``obj`` for the fingerprint of a run (the same object, the same data).

    Simulators are described by their protocol attributes (type, ``param_names``, ``species``,
    ``timespan``, the model's content hash when it has one); distances and kernels by their
    ``get_params()``; priors and summaries by their ``repr`` (which names their parameters);
    arrays by a SHA-256.
    """
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, np.ndarray) or role in ("observed", "initial_state"):
        arr = np.ascontiguousarray(np.asarray(obj, dtype=np.float64))
        return {"shape": list(arr.shape), "sha256": hashlib.sha256(arr.tobytes()).hexdigest()[:16]}
    out: dict[str, Any] = {"type": _type_name(obj)}
    if role == "simulator":
        for attr in ("param_names", "species"):
            out[attr] = [str(v) for v in getattr(obj, attr, [])]
        ts = getattr(obj, "timespan", None)
        out["timespan"] = None if ts is None else describe("observed", ts)
        content_hash = getattr(getattr(obj, "model", None), "content_hash", None)
        if callable(content_hash):
            out["model"] = content_hash()
        return out
    params = getattr(obj, "get_params", None)
    if callable(params):
        out["params"] = _json(params())
        return out
    r = _safe_repr(obj)
    if r is not None:
        out["repr"] = r
        return out
    # no parameters and no descriptive repr: the feature names, when known without a call
    with contextlib.suppress(TypeError, ValueError):
        names = getattr(obj, "names", None)
        if names is not None:
            out["names"] = [str(n) for n in names]
    return out


def fingerprint(parts: dict[str, Any]) -> dict[str, str]:
    """Per part, a short SHA-256 of :func:`describe` (``{"simulator": "ab12...", ...}``)."""
    out = {}
    for role, obj in parts.items():
        blob = json.dumps(_json(describe(role, obj)), sort_keys=True, default=str).encode()
        out[role] = hashlib.sha256(blob).hexdigest()[:16]
    return out


# --------------------------------------------------------------------------- the store
@dataclass(frozen=True)
class Population:
    """One round's weighted particles.

    Attributes
    ----------
    particles : array, shape (n, d)
    weights : array, shape (n,)
    distances : array, shape (n,)
    summaries : array, shape (n, F)
    """

    particles: np.ndarray
    weights: np.ndarray
    distances: np.ndarray
    summaries: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in _POP_KEYS}


class History:
    """The run store of one SMC-ABC run folder (see the module docstring for the layout).

    Create one with :meth:`create` (a new run) or :meth:`load` (an existing folder); both
    need no simulator, prior or summary.

    Attributes
    ----------
    run_dir : Path
    config : dict
        ``settings``, ``param_names``, ``summary_names``, ``fingerprint``, ``method``, ...
    state : dict
        ``round`` (last complete round, -1 before round 0 finished), ``history`` (one entry per
        round), ``n_simulations``, ``elapsed``, ``tolerance``, ``status``, ``message``.
    """

    def __init__(self, run_dir: Path, config: dict, state: dict) -> None:
        self.run_dir = Path(run_dir)
        self.config = config
        self.state = state

    # ------------------------------------------------------------------ opening
    @staticmethod
    def exists(run_dir: Any) -> bool:
        """Whether ``run_dir`` holds a run (of this format or the old pickled one)."""
        rd = Path(run_dir)
        return (rd / CONFIG).exists() or (rd / STATE).exists() or (rd / "config.pkl").exists()

    @classmethod
    def create(cls, run_dir: Any, config: dict, observed: np.ndarray) -> "History":
        """Start a run store in ``run_dir`` (created; refused if it already holds a run)."""
        rd = Path(run_dir)
        if cls.exists(rd):
            raise ValueError(f"run_dir {str(rd)!r} already holds an SMC-ABC run; continue it with "
                             "SMCABC(...).resume(run_dir) or choose an empty directory")
        rd.mkdir(parents=True, exist_ok=True)
        config = {"format": FORMAT, **_json(config)}
        atomic_savez(rd / OBSERVED, {"observed": np.asarray(observed, dtype=np.float64)})
        atomic_write_bytes(rd / CONFIG, _dumps(config), fsync=True)
        state = {"round": -1, "history": [], "n_simulations": 0, "elapsed": 0.0, "tolerance": None,
                 "status": "running", "message": ""}
        return cls(rd, config, state)

    @classmethod
    def load(cls, run_dir: Any) -> "History":
        """Open the run store in ``run_dir`` (read-only use needs nothing else)."""
        rd = Path(run_dir)
        if not (rd / CONFIG).exists():
            if (rd / "config.pkl").exists():
                raise ValueError(f"{rd} holds a run in the old pickled format (config.pkl), which is not "
                                 "loaded (unpickling runs code); start the run again")
            raise FileNotFoundError(f"no SMC-ABC run in {str(rd)!r} (missing {CONFIG})")
        config = cls._read_json(rd / CONFIG)
        if config.get("format") != FORMAT:
            raise ValueError(f"{rd / CONFIG}: unknown run store format {config.get('format')!r} (want {FORMAT})")
        state = cls._read_json(rd / STATE) if (rd / STATE).exists() else \
            {"round": -1, "history": [], "n_simulations": 0, "elapsed": 0.0, "tolerance": None,
             "status": "running", "message": ""}
        return cls(rd, config, state)

    @staticmethod
    def _read_json(path: Path) -> dict:
        try:
            out = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path} is not a readable JSON file: {' '.join(str(exc).split())}") from None
        if not isinstance(out, dict):
            raise ValueError(f"{path} must hold a JSON object")
        return out

    # ------------------------------------------------------------------ facts
    @property
    def last_round(self) -> int:
        """The last complete round (-1 when round 0 has not finished)."""
        return int(self.state["round"])

    @property
    def done(self) -> bool:
        return self.state.get("status") == "done" and (self.run_dir / POSTERIOR).exists()

    @property
    def rounds(self) -> list[dict]:
        """One entry per round (complete rounds, and a cut-off last round once the run is done)."""
        return [dict(h) for h in self.state["history"]]

    @property
    def observed(self) -> np.ndarray:
        with np.load(self.run_dir / OBSERVED, allow_pickle=False) as z:
            return np.asarray(z["observed"], dtype=np.float64)

    def check_fingerprint(self, current: dict[str, str]) -> None:
        """One-line ValueError naming the parts that differ from the run's stored fingerprint."""
        stored = self.config.get("fingerprint", {})
        differ = sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))
        if differ:
            raise ValueError(f"cannot resume {self.run_dir}: {', '.join(differ)} differ from what the run was "
                             "started with (pass the same objects, or start a new run)")

    # ------------------------------------------------------------------ rounds
    def _round_path(self, t: int) -> Path:
        return self.run_dir / f"round_{int(t):03d}.npz"

    def population(self, t: Optional[int] = None) -> Population:
        """The population of round ``t`` (default: the last complete round)."""
        t = self.last_round if t is None else int(t)
        arrays = self._round_arrays(t)
        return Population(*(np.asarray(arrays[k], dtype=np.float64) for k in _POP_KEYS))

    def _round_arrays(self, t: int) -> dict[str, np.ndarray]:
        path = self._round_path(t)
        if not 0 <= t <= self.last_round or not path.exists():
            raise ValueError(f"round {t} is not stored in {self.run_dir} (complete rounds: 0..{self.last_round})")
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path} cannot be read as an npz of arrays: {' '.join(str(exc).split())}") from None

    def simulated_distances(self, t: int) -> np.ndarray:
        """Distances (m,) of the (first) simulations round ``t`` made, under its fitted distance."""
        return np.asarray(self._round_arrays(t).get("sim_distances", np.zeros(0)), dtype=np.float64)

    def simulated_proposals(self, t: int) -> tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        """The proposals ``(m, d)`` behind :meth:`simulated_distances` and their log proposal
        density ``(m,)``, when the run's epsilon schedule needs them (else ``(None, None)``)."""
        arrays = self._round_arrays(t)
        if "sim_theta" not in arrays:
            return None, None
        return (np.asarray(arrays["sim_theta"], dtype=np.float64), np.asarray(arrays["sim_logq"], dtype=np.float64))

    def distance_state(self, t: Optional[int] = None) -> dict[str, Any]:
        """The fitted distance state after round ``t`` (for ``Distance.set_state``)."""
        t = self.last_round if t is None else int(t)
        arrays = self._round_arrays(t)
        state: dict[str, Any] = json.loads(str(arrays["distance_json"])) if "distance_json" in arrays else {}
        for k, v in arrays.items():
            if k.startswith("distance."):
                state[k[len("distance."):]] = np.asarray(v)
        return state

    def append(self, t: int, pop: dict[str, np.ndarray], distance_state: dict[str, Any],
               sim_distances: np.ndarray, history: list[dict], n_simulations: int, elapsed: float,
               tolerance: float, sim_theta: Optional[np.ndarray] = None,
               sim_logq: Optional[np.ndarray] = None) -> None:
        """Write round ``t`` (arrays first, then the index, each atomically)."""
        arrays = {k: np.asarray(pop[k], dtype=np.float64) for k in _POP_KEYS}
        arrays["sim_distances"] = np.asarray(sim_distances, dtype=np.float64)
        if sim_theta is not None and sim_logq is not None:
            arrays["sim_theta"] = np.asarray(sim_theta, dtype=np.float64)
            arrays["sim_logq"] = np.asarray(sim_logq, dtype=np.float64)
        js = {}
        for k, v in (distance_state or {}).items():
            if isinstance(v, np.ndarray):
                arrays[f"distance.{k}"] = v
            else:
                js[k] = _json(v)
        arrays["distance_json"] = np.array(json.dumps(js))
        atomic_savez(self._round_path(t), arrays)
        self.state.update(round=int(t), history=_json(history), n_simulations=int(n_simulations),
                          elapsed=float(elapsed), tolerance=float(tolerance), status="running")
        atomic_write_bytes(self.run_dir / STATE, _dumps(self.state), fsync=True)

    def finish(self, posterior: Any, history: list[dict], n_simulations: int, elapsed: float,
               message: str) -> None:
        """Write the posterior and mark the run done."""
        posterior.save(self.run_dir / POSTERIOR)
        self.state.update(history=_json(history), n_simulations=int(n_simulations), elapsed=float(elapsed),
                          status="done", message=str(message))
        atomic_write_bytes(self.run_dir / STATE, _dumps(self.state), fsync=True)

    # ------------------------------------------------------------------ views
    def posterior(self) -> Any:
        """The finished run's :class:`~sciope_abs.inference.Posterior` (``posterior.npz``)."""
        from .posterior import Posterior

        if not (self.run_dir / POSTERIOR).exists():
            raise ValueError(f"the run in {self.run_dir} has not finished (no {POSTERIOR}); resume it first")
        return Posterior.load(self.run_dir / POSTERIOR)

    def to_pandas(self) -> Any:
        """One row per round: tolerance, acceptance rate, ESS, simulations (all / used /
        discarded), accepted particles, wall time, complete."""
        import pandas as pd

        return pd.DataFrame(self.rounds)

    def __repr__(self) -> str:
        return (f"History({str(self.run_dir)!r}, rounds={self.last_round + 1}, status={self.state.get('status')!r}, "
                f"n_simulations={self.state.get('n_simulations')})")
