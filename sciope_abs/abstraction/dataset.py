"""Training data for the deep abstraction: SSA traces from randomised settings, split by setting.

``build_dataset`` draws ``n_settings`` initial states (the model's ranges, conserved totals kept)
and, for the kinetic rates named in ``vary_params``, one rate vector per setting (uniform in the
model's ``rate_ranges``), simulates ``n_traj`` exact SSA trajectories per setting on a grid of
step ``dt`` through the engine (Dask, or in-process with ``client="sync"``), and splits the
**settings** (not the pairs) into train / architecture-validation / test, so that no initial
setting contributes pairs to two splits.  The scaler is fitted on the train pairs only.

A transition pair is ``(x_t ‖ rates) -> x_{t+dt}``: ``pairs(split)`` returns
``inputs (m, S + p)`` and ``targets (m, S)``, raw counts, rows ordered by setting, trajectory,
step.

The dataset is stored as a zarr group with its provenance (model, model hash, seed, solver,
sizes, package versions) and a configuration hash; ``build_dataset(..., path=...)`` with the
same configuration finds the complete store and loads it instead of simulating again.
"""
from __future__ import annotations

import hashlib
import json
import time
import warnings
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .._checks import check_positive_int
from .._version import __version__
from ..crn.model import CRN
from ..crn.resolve import as_crn
from ..seeding import SeedLike, as_seed_sequence
from .scaling import StateScaler

__all__ = ["AbstractionDataset", "build_dataset", "SPLITS"]

SPLITS = ("train", "val", "test")
_FORMAT = "sciope_abs/abstraction-dataset/1"


# ---------------------------------------------------------------------------- small helpers

def _vary_tuple(crn: CRN, vary_params) -> tuple[str, ...]:
    if vary_params is None:
        return ()
    if isinstance(vary_params, str):
        vary_params = [v.strip() for v in vary_params.split(",") if v.strip()]
    vary = tuple(str(v) for v in vary_params)
    if len(set(vary)) != len(vary):
        raise ValueError(f"vary_params has duplicates: {list(vary)}")
    missing = [v for v in vary if v not in crn.rate_ranges]
    if missing:
        raise ValueError(f"vary_params {missing} have no rate range in model {crn.name!r}; "
                         f"variable rates are {list(crn.rate_ranges)}")
    return vary


def _check_split(split, n_settings: int) -> tuple[float, float, float]:
    try:
        fr = tuple(float(f) for f in split)
    except TypeError:
        raise ValueError(f"split must be three fractions (train, val, test), got {split!r}") from None
    if len(fr) != 3 or any(f < 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
        raise ValueError(f"split must be three non-negative fractions (train, val, test) summing to 1, got {split!r}")
    if round(fr[0] * n_settings) < 1:
        raise ValueError(f"split {fr} leaves no training setting out of {n_settings}")
    return fr


def _split_counts(n: int, fr: Sequence[float]) -> tuple[int, int, int]:
    n_train = int(round(fr[0] * n))
    n_val = min(int(round(fr[1] * n)), n - n_train)
    n_test = n - n_train - n_val
    if fr[2] == 0 and n_test:
        n_val += n_test
        n_test = 0
    return n_train, n_val, n_test


def _seed_record(ss: np.random.SeedSequence) -> dict:
    return {"entropy": str(ss.entropy), "spawn_key": [int(k) for k in ss.spawn_key]}


def _seed_from_record(rec: Mapping) -> np.random.SeedSequence:
    return np.random.SeedSequence(int(rec["entropy"]), spawn_key=tuple(rec["spawn_key"]))


def _hash_json(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def _versions() -> dict:
    import importlib.metadata as md

    out = {"sciope_abs": __version__, "numpy": np.__version__}
    for pkg in ("gillespy2", "zarr", "numba", "dask"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            continue
    return out


# ---------------------------------------------------------------------------- zarr I/O
def _write_store(path: Path, arrays: Mapping[str, np.ndarray], attrs: Mapping) -> None:
    """Atomic write through the store helpers (a crash never leaves a half-written dataset)."""
    from ..store.zarr_io import write_group

    if path.is_dir() and not any(path.iterdir()):
        path.rmdir()
    write_group(path, arrays, {**dict(attrs), "complete": True})


def _read_attrs(path: Path) -> dict | None:
    """The attrs of a zarr group at ``path``, or None when there is no readable group."""
    import zarr

    from ..store.zarr_io import is_store

    if not is_store(path):
        return None
    try:
        return dict(zarr.open_group(str(path), mode="r").attrs)
    except Exception:  # noqa: BLE001 - anything unreadable is "not a dataset"
        return None


def _read_store(path: Path) -> tuple[dict, dict]:
    from ..store.zarr_io import read_group

    arrays, attrs = read_group(path)
    return {k: np.asarray(v) for k, v in arrays.items()}, attrs


# ---------------------------------------------------------------------------- the dataset
class AbstractionDataset:
    """SSA traces from randomised settings, split by setting, with a train-only scaler.

    Parameters
    ----------
    model : CRN
    vary_params : sequence of str
        Kinetic rates randomised per setting (``p`` of them, may be 0).
    dt : float
    n_steps : int
    traces : array, shape (n_settings, n_traj, S, n_steps + 1)
        Counts of all model species (declared order); a failed setting is NaN.
    initial_states : array, shape (n_settings, S)
    rates : array, shape (n_settings, p)
    splits : dict {"train", "val", "test"} -> int array of setting indices
        Disjoint.
    scaler : StateScaler, optional
        Default: fitted on ``pairs("train")``.
    attrs : dict, optional
        Provenance (seed, solver, config, versions).
    """

    def __init__(self, model: CRN, vary_params: Sequence[str], dt: float, n_steps: int, traces: np.ndarray,
                 initial_states: np.ndarray, rates: np.ndarray, splits: Mapping[str, np.ndarray],
                 scaler: StateScaler | None = None, attrs: Mapping | None = None) -> None:
        if not isinstance(model, CRN):
            raise ValueError(f"model must be a CRN, got {type(model).__name__}")
        self.model = model
        self.vary_params = tuple(vary_params)
        self.species = tuple(model.species)
        self.dt = float(dt)
        self.n_steps = int(n_steps)
        self.traces = np.asarray(traces, dtype=np.float64)
        S, p = len(self.species), len(self.vary_params)
        if self.traces.ndim != 4 or self.traces.shape[2] != S or self.traces.shape[3] != self.n_steps + 1:
            raise ValueError(f"traces must have shape (n_settings, n_traj, {S}, {self.n_steps + 1}), got {self.traces.shape}")
        n = self.traces.shape[0]
        self.initial_states = np.asarray(initial_states, dtype=np.int64)
        if self.initial_states.shape != (n, S):
            raise ValueError(f"initial_states must have shape ({n}, {S}), got {self.initial_states.shape}")
        self.rates = np.asarray(rates, dtype=np.float64)
        if p == 0 and self.rates.size == 0:
            self.rates = self.rates.reshape(n, 0)
        if self.rates.shape != (n, p):
            raise ValueError(f"rates must have shape ({n}, {p}) for {list(self.vary_params)}, got {self.rates.shape}")
        self.splits = {}
        for name in SPLITS:
            idx = np.asarray(splits.get(name, ()), dtype=np.int64).ravel()
            if idx.size and (idx.min() < 0 or idx.max() >= n):
                raise ValueError(f"split {name!r} has setting indices outside [0, {n})")
            self.splits[name] = idx
        allidx = np.concatenate([self.splits[s] for s in SPLITS])
        if np.unique(allidx).size != allidx.size:
            raise ValueError("splits overlap: a setting index appears in two splits (or twice in one)")
        if self.splits["train"].size == 0:
            raise ValueError("the train split is empty")
        self.attrs = dict(attrs or {})
        self.conservation_violations = self._check_conservation()
        self.scaler = scaler if scaler is not None else StateScaler().fit(*self.pairs("train"))
        self.reused = False

    def _check_conservation(self) -> int:
        """(trajectory, step) cells whose conservation-law values left their initial ones; warns if any."""
        from ..crn.conservation import count_violations

        laws = self.model.conservation_laws
        bad = count_violations(self.traces, laws)
        if bad:
            x = np.moveaxis(self.traces, 2, -1)
            v = x @ self.model.conservation_matrix.T.astype(np.float64)
            moved = (v != v[:, :, :1]).any(axis=(0, 1, 2))
            names = [str(law).rsplit(" = ", 1)[0] for law, m in zip(laws, moved) if m]
            warnings.warn(f"{bad} of {self.traces.shape[0] * self.traces.shape[1] * self.n_steps} (trajectory, step) "
                          f"cells of the traces break conservation laws of model {self.model.name!r} ({names}): "
                          f"the simulator is not exact for this network", UserWarning, stacklevel=3)
        return bad

    # ------------------------------------------------------------------ sizes
    @property
    def n_settings(self) -> int:
        return int(self.traces.shape[0])

    @property
    def n_traj(self) -> int:
        return int(self.traces.shape[1])

    @property
    def n_species(self) -> int:
        return len(self.species)

    @property
    def n_rates(self) -> int:
        return len(self.vary_params)

    @property
    def timespan(self) -> np.ndarray:
        return np.arange(self.n_steps + 1, dtype=np.float64) * self.dt

    @property
    def rate_bounds(self) -> np.ndarray:
        """(p, 2) array of (low, high) from the model's ``rate_ranges``."""
        return np.array([self.model.rate_ranges[v] for v in self.vary_params], dtype=np.float64).reshape(-1, 2)

    # ------------------------------------------------------------------ pairs
    def split_index(self, split: str) -> np.ndarray:
        """Setting indices of ``split`` ("train", "val", "test" or "all")."""
        if split == "all":
            return np.sort(np.concatenate([self.splits[s] for s in SPLITS]))
        if split not in self.splits:
            raise ValueError(f"unknown split {split!r}; use one of {list(SPLITS) + ['all']}")
        return self.splits[split]

    def pairs(self, split: str = "train", *, return_settings: bool = False) -> Any:
        """Raw transition pairs ``(x_t ‖ rates) -> x_{t+dt}`` of one split's settings.

        Parameters
        ----------
        split : {"train", "val", "test", "all"}
        return_settings : bool
            Also return the setting index of each row.

        Returns
        -------
        inputs : array, shape (m, S + p)
            State at step t followed by the setting's rates; ``m = settings * n_traj * n_steps``,
            rows ordered by setting (in split order), trajectory, step.
        targets : array, shape (m, S)
            State at step t + 1.
        settings : array, shape (m,), only with ``return_settings``
        """
        idx = self.split_index(split)
        tr = self.traces[idx]                               # (k, r, S, T)
        k, r, S, T = tr.shape
        x = np.moveaxis(tr[..., :-1], 2, -1)                # (k, r, T-1, S)
        y = np.moveaxis(tr[..., 1:], 2, -1)
        rates = np.broadcast_to(self.rates[idx][:, None, None, :], (k, r, T - 1, self.n_rates))
        inputs = np.concatenate([x, rates], axis=-1).reshape(-1, S + self.n_rates)
        targets = y.reshape(-1, S)
        if return_settings:
            return inputs, targets, np.repeat(idx, r * (T - 1))
        return inputs, targets

    def scaled_pairs(self, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """:meth:`pairs` through the scaler: float32 inputs and targets."""
        x, y = self.pairs(split)
        return self.scaler.transform_inputs(x), self.scaler.transform_targets(y)

    # ------------------------------------------------------------------ identity and I/O
    def content_hash(self) -> str:
        """SHA-256 (hex, 16 chars) of the model, grid, arrays and splits: same data, same hash."""
        h = hashlib.sha256()
        meta = {"model": self.model.content_hash(), "vary": list(self.vary_params), "dt": self.dt,
                "n_steps": self.n_steps, "shape": list(self.traces.shape)}
        h.update(json.dumps(meta, sort_keys=True).encode())
        for arr in (self.traces, self.initial_states, self.rates, *(self.splits[s] for s in SPLITS)):
            h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()[:16]

    def save(self, path: str | os.PathLike) -> Path:
        """Write the dataset as a zarr group at ``path`` (overwritten); returns the path."""
        path = Path(path)
        arrays = {"traces": self.traces, "initial_states": self.initial_states, "rates": self.rates,
                  **{f"split_{s}": self.splits[s] for s in SPLITS}}
        from ..crn.model import warn_if_custom_sampling

        warn_if_custom_sampling(self.model)
        attrs = {"format": _FORMAT, "model": self.model.to_dict(), "model_hash": self.model.content_hash(),
                 "conservation_laws": [law.to_dict() for law in self.model.conservation_laws],
                 "conservation_violations": self.conservation_violations,
                 "vary_params": list(self.vary_params), "species": list(self.species), "dt": self.dt,
                 "n_steps": self.n_steps, "scaler": self.scaler.to_dict(), "content_hash": self.content_hash(),
                 **{k: v for k, v in self.attrs.items() if k not in ("complete", "format")}}
        _write_store(path, arrays, attrs)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "AbstractionDataset":
        """Read a dataset written by :meth:`save` (FileNotFoundError / ValueError otherwise)."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no abstraction dataset at {path}")
        attrs = _read_attrs(path)
        if attrs is None or attrs.get("format") != _FORMAT:
            raise ValueError(f"{path} is not an abstraction dataset (no zarr group with format {_FORMAT!r})")
        if not attrs.get("complete"):
            raise ValueError(f"the abstraction dataset at {path} is incomplete (interrupted write); rebuild it")
        arrays, attrs = _read_store(path)
        model = CRN.from_dict(attrs.pop("model"))
        stored = attrs.pop("conservation_laws", None)
        attrs.pop("conservation_violations", None)
        if stored is not None and stored != [law.to_dict() for law in model.conservation_laws]:
            raise ValueError(f"the abstraction dataset at {path} is corrupt: its conservation laws {stored} are not "
                             f"those of its model ({[str(v) for v in model.conservation_laws]})")
        ds = cls(model, attrs.pop("vary_params"), attrs.pop("dt"), attrs.pop("n_steps"), arrays["traces"],
                 arrays["initial_states"], arrays["rates"], {s: arrays[f"split_{s}"] for s in SPLITS},
                 scaler=StateScaler.from_dict(attrs.pop("scaler")),
                 attrs={k: v for k, v in attrs.items() if k not in ("species", "format", "complete")})
        stored = ds.attrs.pop("content_hash", None)
        if stored is not None and stored != ds.content_hash():
            raise ValueError(f"the abstraction dataset at {path} is corrupt (content hash mismatch)")
        return ds

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={self.splits[s].size}" for s in SPLITS)
        return (f"AbstractionDataset({self.model.name!r}, settings={self.n_settings} ({sizes}), "
                f"traj={self.n_traj}, dt={self.dt}, steps={self.n_steps}, vary={list(self.vary_params)})")


# ---------------------------------------------------------------------------- building
def _simulate(crn: CRN, vary: tuple[str, ...], dt: float, n_steps: int, rates: np.ndarray, init: np.ndarray,
              n_traj: int, seed: np.random.SeedSequence, client, solver: str, progress: bool):
    """SSA traces (n, r, S, T) of all species through the engine; returns (traces, solver name)."""
    from ..engine import simulate_parallel
    from ..simulators import make_simulator

    sim = make_simulator(crn, param_names=vary, species=crn.species, timespan=crn.timespan(dt, n_steps),
                         solver=solver)
    traces = simulate_parallel(sim, rates, n_traj=n_traj, seed=seed, initial_state=init, client=client,
                               progress=progress)
    used = getattr(sim, "solver", None) or type(sim).__name__
    return np.asarray(traces, dtype=np.float64), str(used)


def _stored_dataset(path: Path, config_hash: str) -> AbstractionDataset | None:
    """The complete dataset of this configuration at ``path`` (``reused``), or None when there is
    none yet; a different dataset or a foreign folder there is refused."""
    attrs = _read_attrs(path) if path.exists() else None
    if attrs is not None and attrs.get("format") == _FORMAT and attrs.get("complete"):
        if attrs.get("config_hash") == config_hash:
            ds = AbstractionDataset.load(path)
            ds.reused = True
            return ds
        raise ValueError(f"{path} already holds a dataset with a different configuration "
                         f"(config hash {attrs.get('config_hash')} != {config_hash}); choose another path")
    if path.exists() and attrs is None and (not path.is_dir() or any(path.iterdir())):
        raise ValueError(f"{path} exists and is not an abstraction dataset; choose another path")
    return None


def _split_settings(ok: np.ndarray, fractions, k_split) -> dict[str, np.ndarray]:
    """Train / val / test setting indices: a seeded shuffle of the settings that simulated (``ok``)."""
    n_settings = ok.size
    if not ok.all():
        warnings.warn(f"{int((~ok).sum())} of {n_settings} settings failed to simulate; they are left out "
                      f"of all splits", UserWarning, stacklevel=3)
    perm = np.random.default_rng(k_split).permutation(n_settings)
    perm = perm[ok[perm]]
    n_train, n_val, _ = _split_counts(perm.size, fractions)
    if n_train < 1:
        raise ValueError("no setting simulated successfully: the dataset would have no training data")
    return {"train": np.sort(perm[:n_train]), "val": np.sort(perm[n_train:n_train + n_val]),
            "test": np.sort(perm[n_train + n_val:])}


def build_dataset(model: Any, n_settings: int, n_traj: int, dt: float | None = None, n_steps: int | None = None,
                  vary_params: Sequence[str] = (), seed: SeedLike = None, client: Any = None, solver: str = "auto",
                  split: Sequence[float] = (0.7, 0.15, 0.15), path: str | os.PathLike | None = None, progress: bool = True) -> AbstractionDataset:
    """Simulate training data for an emulator.

    Parameters
    ----------
    model : CRN or str
        The network (or a library name, see ``sciope_abs.crn.load_model``).
    n_settings, n_traj : int
        Randomised initial settings, and SSA trajectories per setting.
    dt, n_steps : float, int, optional
        Time step and number of steps (default: the model's).
    vary_params : sequence of str or "a,b"
        Kinetic rates drawn per setting from the model's ``rate_ranges`` (default: none).
    seed : int or SeedSequence
        Same seed, same dataset, whatever the client or chunking.  Needed for resuming: with
        ``seed=None`` a fresh seed is drawn and recorded, so no earlier store matches.
    client : dask Client, address, "sync" or None
        Passed to ``sciope_abs.engine.simulate_parallel``.
    solver : str
        Passed to ``sciope_abs.simulators.make_simulator`` (exact SSA by default).
    split : (train, val, test) fractions
        Of the *settings*; seeded shuffle.  Settings whose simulation failed are left out.
    path : str or Path, optional
        Where to store the zarr dataset.  If it already holds a complete dataset with the same
        configuration, that dataset is loaded and nothing is simulated (``ds.reused`` is True).
    progress : bool

    Returns
    -------
    AbstractionDataset
    """
    crn = as_crn(model)
    n_settings = check_positive_int(n_settings, "n_settings")
    n_traj = check_positive_int(n_traj, "n_traj")
    dt = crn.dt if dt is None else float(dt)
    if not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be a positive number, got {dt}")
    n_steps = crn.n_steps if n_steps is None else check_positive_int(n_steps, "n_steps")
    vary = _vary_tuple(crn, vary_params)
    fractions = _check_split(split, n_settings)
    ss = as_seed_sequence(seed)
    base = np.random.SeedSequence(ss.entropy, spawn_key=ss.spawn_key)
    config = {"model_hash": crn.content_hash(), "n_settings": n_settings, "n_traj": n_traj, "dt": dt,
              "n_steps": n_steps, "vary_params": list(vary), "seed": _seed_record(base), "solver": solver,
              "split": list(fractions)}
    config_hash = _hash_json(config)

    if path is not None:
        path = Path(path)
        stored = _stored_dataset(path, config_hash)
        if stored is not None:
            return stored

    k_init, k_rates, k_sim, k_split = base.spawn(4)
    init = crn.sample_initial_states(n_settings, seed=k_init)
    rates = crn.sample_rates(n_settings, vary, seed=k_rates) if vary else np.zeros((n_settings, 0))
    t0 = time.perf_counter()
    traces, solver_used = _simulate(crn, vary, dt, n_steps, rates, init, n_traj, k_sim, client, solver, progress)
    sim_seconds = time.perf_counter() - t0
    expected = (n_settings, n_traj, crn.n_species, n_steps + 1)
    if traces.shape != expected:
        raise ValueError(f"simulator returned traces of shape {traces.shape}, expected {expected}")

    ok = np.isfinite(traces).all(axis=(1, 2, 3))
    splits = _split_settings(ok, fractions, k_split)
    attrs = {"config": config, "config_hash": config_hash, "seed": _seed_record(base), "solver": solver_used,
             "solver_requested": solver, "simulation_seconds": sim_seconds, "n_failed_settings": int((~ok).sum()),
             "versions": _versions()}
    ds = AbstractionDataset(crn, vary, dt, n_steps, traces, init, rates, splits, attrs=attrs)
    if path is not None:
        ds.save(path)
    return ds
