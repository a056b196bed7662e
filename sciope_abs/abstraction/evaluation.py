"""Fidelity of an emulator: histogram distances to SSA next to the SSA self-distance.

For each held-out initial setting (fresh random settings, a dataset's test split, or given
arrays) three ensembles of ``n_traj`` trajectories start from the same state with the same rates:
the emulator's, and two independent exact SSA ones.  For every observed species and time lag the
histogram distance (L1 and IoU, :mod:`.histograms`, shared bins) is computed between emulator and
SSA, and between the two SSA ensembles (the *self-distance*: the error margin of finite
sampling).  An emulator is as good as SSA when its distance reaches the self-distance.

The emulator may be any object with ``rollout(initial_states, rates, n_steps, n_traj, seed)`` or
with the Simulator interface (``simulate`` + ``species`` + ``timespan``), so an SSA simulator
can be evaluated against itself.

What makes the numbers trustworthy and affordable:

- the exact ensembles are simulated in batches of ``traj_batch`` trajectories, each batch with
  its own child seed (so the progress bar advances per batch and the numbers depend on the seed
  and the batch size only, never on workers), and stored **content-addressed** in ``cache``
  (key: model hash, settings, species, grid, ``n_traj``, batch size, seed, solver): a rerun or
  another emulator evaluated on the same settings reuses them;
- ``bins="auto"`` (default) sizes the histograms to the ensemble, ``ceil(sqrt(n_traj))``
  bins within ``[10, 100]``, so a small ensemble does not saturate the distance;
- the report's table gives the standard error of the self-distance and of the paired
  difference (emulator minus self) over settings, and :func:`evaluate` warns when they are too
  large to tell a ratio of 1.3 from 1 (two standard errors above 0.3 times the self-distance);
- the emulator's trajectories are checked against the network's conservation laws: the
  report's ``meta["violations"]`` counts the (trajectory, step) cells that break one.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..crn.model import CRN
from ..crn.resolve import as_crn
from ..seeding import SeedLike, as_seed_sequence
from ..store.atomic import atomic_savez
from .config import EvaluationConfig
from .histograms import auto_bins, distance_tables
from .report import EvaluationReport

#: the defaults of :func:`evaluate`'s signature (the one definition: :class:`EvaluationConfig`)
_DEFAULTS = EvaluationConfig()

__all__ = ["evaluate", "evaluate_many", "ssa_ensembles", "ResolutionWarning", "CACHE_ENV"]

#: environment variable naming the default cache folder of exact ensembles
CACHE_ENV = "SCIOPE_ABS_CACHE"
#: a ratio difference the evaluation should resolve at two standard errors
_RESOLVE = 0.3
_CACHE_FORMAT = "sciope_abs/ssa-ensembles/1"


class ResolutionWarning(UserWarning):
    """The evaluation's self-distance is too uncertain to tell the emulator from SSA."""


def _resolve_crn(emulator, model) -> CRN:
    if model is not None:
        return as_crn(model)
    for attr in ("model", "crn"):
        m = getattr(emulator, attr, None)
        if isinstance(m, CRN):
            return m
    raise ValueError("evaluate: the emulator carries no CRN; pass model=")


def _emulator_dt(emulator) -> float:
    dt = getattr(emulator, "dt", None)
    if dt is not None:
        return float(dt)
    ts = np.asarray(getattr(emulator, "timespan", ()), dtype=np.float64)
    if ts.size < 2:
        raise ValueError("evaluate: the emulator has neither dt nor a timespan of >= 2 points")
    steps = np.diff(ts)
    if not np.allclose(steps, steps[0], rtol=1e-9, atol=0):
        raise ValueError("evaluate: the emulator's timespan is not a uniform grid")
    return float(steps[0])


def _check_lags(lags) -> tuple[int, ...]:
    try:
        vals = sorted({int(v) for v in np.atleast_1d(lags)})
    except (TypeError, ValueError):
        raise ValueError(f"lags must be positive integers (numbers of steps), got {lags!r}") from None
    if not vals or vals[0] < 1 or any(float(v) != int(v) for v in np.atleast_1d(lags)):
        raise ValueError(f"lags must be positive integers (numbers of steps), got {lags!r}")
    return tuple(vals)


def _settings(crn: CRN, param_names: tuple[str, ...], n_settings: int, initial_states, rates, dataset,
              k_init, k_rates) -> tuple[np.ndarray, np.ndarray]:
    p = len(param_names)
    if dataset is not None and initial_states is None and rates is None:
        idx = dataset.split_index("test")
        if idx.size == 0:
            raise ValueError("evaluate: the dataset's test split is empty")
        idx = idx[:n_settings]
        if tuple(dataset.vary_params) != param_names:
            raise ValueError(f"evaluate: dataset varies {list(dataset.vary_params)}, the emulator takes {list(param_names)}")
        return dataset.initial_states[idx].astype(np.int64), dataset.rates[idx].astype(np.float64)
    if initial_states is not None:
        init = np.asarray(initial_states, dtype=np.float64)
        if init.ndim == 1:
            init = init[None, :]
        if init.ndim != 2 or init.shape[1] != crn.n_species:
            raise ValueError(f"initial_states must have shape (n, {crn.n_species}) for species {list(crn.species)}, "
                             f"got {np.shape(initial_states)}")
        if not np.isfinite(init).all() or (init < 0).any() or (init != np.round(init)).any():
            raise ValueError("initial_states must hold non-negative integer counts")
        init = init.astype(np.int64)
    else:
        n = n_settings if rates is None else int(np.atleast_2d(rates).shape[0])
        init = crn.sample_initial_states(n, seed=k_init)
    n = init.shape[0]
    if rates is not None:
        th = np.asarray(rates, dtype=np.float64)
        if p == 0 and th.size == 0:
            th = th.reshape(n, 0)
        if th.ndim == 1 and th.shape[0] == p:
            th = np.tile(th, (n, 1))
        if th.shape != (n, p):
            raise ValueError(f"rates must have shape ({n}, {p}) for {list(param_names)}, got {np.shape(rates)}")
    elif p == 0:
        th = np.zeros((n, 0))
    elif all(v in crn.rate_ranges for v in param_names):
        th = crn.sample_rates(n, param_names, seed=k_rates)
    else:
        th = np.tile([crn.parameters[v] for v in param_names], (n, 1))
    return init, th


def _emulate(emulator, init, rates, H: int, n_traj: int, seed, dt: float) -> tuple[np.ndarray, tuple[str, ...]]:
    """Emulator trajectories (n, r, S_e, H + 1) and the emulator's species names."""
    species = tuple(getattr(emulator, "species", ()))
    if hasattr(emulator, "rollout"):
        out = emulator.rollout(init, rates, n_steps=H, n_traj=n_traj, seed=seed)
        out = np.asarray(out, dtype=np.float64)
        if out.ndim != 4 or out.shape[-1] < H + 1:
            raise ValueError(f"emulator.rollout returned shape {out.shape}, expected (n, {n_traj}, S, {H + 1})")
        return out[..., : H + 1], species
    if not hasattr(emulator, "simulate"):
        raise ValueError("evaluate: the emulator needs a rollout(...) or simulate(...) method")
    ts = np.asarray(emulator.timespan, dtype=np.float64)
    if ts.size < H + 1 or not np.allclose(ts[: H + 1] - ts[0], np.arange(H + 1) * dt, rtol=1e-9, atol=1e-12 * dt):
        raise ValueError(f"evaluate: the emulator's timespan does not cover {H} steps of dt={dt}")
    out = np.asarray(emulator.simulate(rates, n_traj=n_traj, seed=seed, initial_state=init), dtype=np.float64)
    return out[..., : H + 1], species


def evaluate(emulator: Any, model: Any = None, n_settings: int = _DEFAULTS.n_settings,
             n_traj: int = _DEFAULTS.n_traj, lags: Sequence[int] = _DEFAULTS.lags, seed: SeedLike = None,
             client: Any = None, species: Sequence[str] | None = None, initial_states: Any = None,
             rates: Any = None, *, dataset: Any = None, bins: Any = _DEFAULTS.bins, reference: Any = None,
             solver: str = "auto",
             progress: bool = True, keep_samples: bool = True, cache: Any = None,
             traj_batch: int = 100) -> EvaluationReport:
    """Histogram distances of an emulator to SSA, next to the SSA self-distance.

    The defaults of ``n_settings``, ``n_traj``, ``lags`` and ``bins`` are
    :class:`~sciope_abs.abstraction.config.EvaluationConfig`'s (``sciope-abs evaluate`` and the
    pipeline's ``evaluate:`` section read the same dataclass);
    ``evaluate(emu, **EvaluationConfig(n_traj=200).to_dict())`` runs with a config object.

    Parameters
    ----------
    emulator : Emulator or Simulator-like
        Anything with ``rollout(initial_states (n,S), rates (n,p), n_steps, n_traj, seed)``, or
        with ``simulate(theta, n_traj=, seed=, initial_state=)``, ``species`` and ``timespan``.
        Its ``param_names`` (default none) are the rates it is conditioned on.
    model : CRN or str, optional
        The reference model (default: ``emulator.model``).
    n_settings : int
        Held-out initial settings (when they are drawn, or taken from ``dataset``).
    n_traj : int
        Trajectories per setting in each of the three ensembles.
    lags : sequence of int
        Time lags in steps of the emulator's ``dt``.
    seed : int or SeedSequence
        Drives the settings, both SSA ensembles and the emulator's sampling.
    client : passed to ``sciope_abs.engine.simulate_parallel`` for the SSA ensembles.
    species : sequence of str, optional
        Species to compare (default: ``model.observed``).
    initial_states : array (n, S), optional
    rates : array (n, p), optional
        Explicit settings; by default fresh random ones (the model's ranges).
    dataset : AbstractionDataset, optional
        Use (up to ``n_settings`` of) its test-split settings.
    bins : "auto", None, int or array
        Histogram binning (see :func:`~.histograms.histogram_distance`): ``"auto"`` (default)
        ``ceil(sqrt(n_traj))`` shared integer-aligned bins within ``[10, 100]``
        (:func:`~.histograms.auto_bins`); an int: at most that many; ``None``: unit bins.
    reference : Simulator, optional
        The exact simulator (default: ``make_simulator(model, ..., solver=solver)``).
    progress : bool
    keep_samples : bool
        Keep the three ensembles at the lags (for ``report.plot()`` and ``report.rebin()``).
    cache : str or Path, optional
        Folder of content-addressed exact ensembles (default: the ``SCIOPE_ABS_CACHE``
        environment variable; unset: no cache).  Reused when model, settings, species, grid,
        ``n_traj``, ``traj_batch``, seed and solver all match.
    traj_batch : int
        Trajectories per simulation task of the exact ensembles (part of the cache key: the
        numbers depend on it, not on the workers).

    Returns
    -------
    EvaluationReport
        ``meta`` records ``violations`` (emulator cells breaking a conservation law),
        ``ssa_cache`` (the ensemble file, or None) and ``ssa_reused``.

    See Also
    --------
    evaluate_many : several emulators against one pair of SSA ensembles.
    """
    reports = evaluate_many({"emulator": emulator}, model, n_settings, n_traj, lags, seed, client, species,
                            initial_states, rates, dataset=dataset, bins=bins, reference=reference,
                            solver=solver, progress=progress, keep_samples=keep_samples, cache=cache,
                            traj_batch=traj_batch)
    return reports["emulator"]


def _common(emulators: Mapping[str, object], attr: str, get) -> object:
    values = {name: get(emu) for name, emu in emulators.items()}
    first = next(iter(values.values()))
    for name, v in values.items():
        if v != first:
            raise ValueError(f"evaluate_many: all emulators must share {attr}; "
                             f"{next(iter(values))!r} has {first!r}, {name!r} has {v!r}")
    return first


def evaluate_many(emulators: Mapping[str, object], model: Any = None, n_settings: int = _DEFAULTS.n_settings,
                  n_traj: int = _DEFAULTS.n_traj, lags: Sequence[int] = _DEFAULTS.lags, seed: SeedLike = None,
                  client: Any = None, species: Sequence[str] | None = None, initial_states: Any = None,
                  rates: Any = None, *, dataset: Any = None, bins: Any = _DEFAULTS.bins, reference: Any = None,
                  solver: str = "auto", progress: bool = True,
                  keep_samples: bool = True, cache: Any = None, traj_batch: int = 100) -> dict[str, EvaluationReport]:
    """Several emulators against the same held-out settings and the same two SSA ensembles.

    The exact ensembles (usually the expensive part) are simulated once; each emulator is then
    sampled with the same seed that :func:`evaluate` would use, so
    ``evaluate_many({"a": emu}, ..., seed=s)["a"]`` equals ``evaluate(emu, ..., seed=s)`` and the
    reports share their self-distances: the comparison between emulators is paired, setting by
    setting.

    Parameters
    ----------
    emulators : mapping of str to emulator
        Names to emulators (see :func:`evaluate`); all must share ``dt`` and ``param_names``.
    model, n_settings, n_traj, lags, seed, client, species, initial_states, rates
        As in :func:`evaluate`.
    dataset, bins, reference, solver, progress, keep_samples, cache, traj_batch
        As in :func:`evaluate`.

    Returns
    -------
    dict of str to EvaluationReport
        In the order of ``emulators``.
    """
    crn, n_settings, n_traj, lags, dt, param_names, obs = _check_many(emulators, model, n_settings, n_traj,
                                                                      lags, species)
    H = lags[-1]
    ss = as_seed_sequence(seed)
    base = np.random.SeedSequence(ss.entropy, spawn_key=ss.spawn_key)
    k_init, k_rates, k_ssa, k_emu = base.spawn(4)
    init, th = _settings(crn, param_names, n_settings, initial_states, rates, dataset, k_init, k_rates)

    traj_batch = int(traj_batch)
    if traj_batch < 1:
        raise ValueError(f"traj_batch must be >= 1, got {traj_batch}")
    if isinstance(bins, str) and bins != "auto":
        raise ValueError(f"bins must be 'auto', None, an int or an array of edges, got {bins!r}")
    reference = _reference(reference, crn, param_names, H, dt, solver, obs)
    ens = ssa_ensembles(reference, crn, init, th, obs, H, dt, n_traj, k_ssa, client=client, cache=cache,
                        traj_batch=traj_batch, solver=solver, progress=progress)
    lag_idx = np.asarray(lags)
    ctx = {"crn": crn, "obs": obs, "lags": lags, "lag_idx": lag_idx, "init": init, "th": th, "H": H, "dt": dt,
           "n_traj": n_traj, "param_names": param_names, "ens": ens, "b1": ens["b1"][..., lag_idx],
           "b2": ens["b2"][..., lag_idx], "bins": bins, "resolved": auto_bins(n_traj) if isinstance(bins, str) else bins,
           "base": base, "k_emu": k_emu, "reference": reference, "traj_batch": traj_batch,
           "keep_samples": keep_samples}
    reports: dict[str, EvaluationReport] = {}
    for name, emulator in emulators.items():
        reports[name] = _report_for(name, emulator, ctx)
    for name, report in reports.items():
        _warn_resolution(report, n_traj, name if len(reports) > 1 else None)
    return reports


def _check_many(emulators, model, n_settings, n_traj, lags, species):
    """Checked ``(crn, n_settings, n_traj, lags, dt, param_names, observed species)`` of :func:`evaluate_many`."""
    if not isinstance(emulators, Mapping) or not emulators:
        raise ValueError("evaluate_many: emulators must be a non-empty mapping of names to emulators")
    first = next(iter(emulators.values()))
    crn = _resolve_crn(first, model)
    n_settings = int(n_settings)
    n_traj = int(n_traj)
    if n_settings < 1 or n_traj < 1:
        raise ValueError(f"n_settings and n_traj must be >= 1, got {n_settings} and {n_traj}")
    lags = _check_lags(lags)
    dt = _common(emulators, "dt", _emulator_dt)
    param_names = _common(emulators, "param_names", lambda e: tuple(getattr(e, "param_names", ())))
    obs = tuple(crn.observed if species is None else species)
    crn.species_index(obs)  # validates names
    return crn, n_settings, n_traj, lags, dt, param_names, obs


def _reference(reference, crn: CRN, param_names, H: int, dt: float, solver: str, obs):
    """The exact simulator (default: ``make_simulator`` of the model over ``H`` steps of ``dt``)."""
    if reference is None:
        from ..simulators import make_simulator

        reference = make_simulator(crn, param_names=param_names, species=crn.species,
                                   timespan=np.arange(H + 1, dtype=np.float64) * dt, solver=solver)
    missing = [s for s in obs if s not in tuple(reference.species)]
    if missing:
        raise ValueError(f"evaluate: species {missing} are not produced by the reference {type(reference).__name__}")
    return reference


def _report_for(name: str, emulator, ctx: dict) -> EvaluationReport:
    """One emulator's report against the shared SSA ensembles of ``ctx`` (built by :func:`evaluate_many`)."""
    crn, obs, H, dt, n_traj, resolved = ctx["crn"], ctx["obs"], ctx["H"], ctx["dt"], ctx["n_traj"], ctx["resolved"]
    b1, b2, ens, keep = ctx["b1"], ctx["b2"], ctx["ens"], ctx["keep_samples"]
    t0 = time.perf_counter()
    # a fresh copy of the emulators' seed for each: one that spawns from it must not move the next one's
    k_emu = ctx["k_emu"]
    k_this = np.random.SeedSequence(k_emu.entropy, spawn_key=k_emu.spawn_key)
    emu, emu_species = _emulate(emulator, ctx["init"], ctx["th"], H, n_traj, k_this, dt)
    emu_seconds = time.perf_counter() - t0
    missing = [s for s in obs if s not in emu_species]
    if missing:
        raise ValueError(f"evaluate: species {missing} are not produced by both the emulator {name!r} "
                         "and the reference")
    a = emu[:, :, [emu_species.index(s) for s in obs]][..., ctx["lag_idx"]]      # (n, r, k, L)
    out = distance_tables(a, b1, b2, resolved)
    violations, checked = _violations(crn, emu, emu_species)
    base = ctx["base"]
    meta = {"model": crn.name, "model_hash": crn.content_hash(), "dt": dt, "n_traj": n_traj,
            "bins": _bins_record(resolved), "bins_requested": _bins_record(ctx["bins"]),
            "seed": {"entropy": str(base.entropy), "spawn_key": [int(v) for v in base.spawn_key]},
            "emulator": type(emulator).__name__, "reference": type(ctx["reference"]).__name__,
            "emulator_seconds": emu_seconds, "ssa_seconds": ens["seconds"], "ssa_cache": ens["path"],
            "ssa_reused": ens["reused"], "traj_batch": ctx["traj_batch"], "violations": violations,
            "violation_cells": int(emu.shape[0] * emu.shape[1] * H), "laws_checked": checked,
            "ssa_violations": ens["violations"]}
    card = getattr(emulator, "card", None)
    if isinstance(card, dict):
        meta["emulator_card"] = {k: card[k] for k in ("model_hash", "dataset_hash") if k in card}
    if violations:
        warnings.warn(f"evaluate: {violations} of {meta['violation_cells']} (trajectory, step) cells of emulator "
                      f"{name!r} break conservation laws of {crn.name!r} ({', '.join(checked)})",
                      UserWarning, stacklevel=4)
    return EvaluationReport(obs, ctx["lags"], out["l1"], out["iou"], out["self_l1"], out["self_iou"],
                            initial_states=ctx["init"], rates=ctx["th"], param_names=ctx["param_names"],
                            samples_emulator=a.astype(np.float32) if keep else None,
                            samples_ssa=b1.astype(np.float32) if keep else None,
                            samples_ssa_self=b2.astype(np.float32) if keep else None,
                            bins=resolved, meta=meta)


def _bins_record(bins):
    return bins if bins is None or isinstance(bins, str) or np.isscalar(bins) else np.asarray(bins).tolist()


def _violations(crn: CRN, traj: np.ndarray, species: tuple[str, ...]) -> tuple[int, list[str]]:
    """Cells of trajectories (n, r, S_e, T) that break a law whose species they all carry."""
    from ..crn.conservation import count_violations

    laws = [law for law in crn.conservation_laws if all(s in species for s in law.species)]
    if not laws:
        return 0, []
    W = np.zeros((len(laws), len(species)), dtype=np.int64)
    for k, law in enumerate(laws):
        W[k, [species.index(s) for s in law.species]] = law.weights
    return count_violations(traj, W), [str(law).rsplit(" = ", 1)[0] for law in laws]


def _warn_resolution(report: EvaluationReport, n_traj: int, name: str | None = None) -> None:
    """Warn when two standard errors of the self-distance (or of the paired difference) exceed
    0.3 times the self-distance at some (species, lag)."""
    worst = None
    for r in report.table().itertuples(index=False):
        se = max(r.self_l1_se, r.l1_diff_se)
        rel = 2 * se / r.self_l1 if r.self_l1 > 0 and np.isfinite(se) else np.inf
        if rel > _RESOLVE and (worst is None or rel > worst[0]):
            worst = (rel, r, se)
    if worst is not None:
        rel, r, se = worst
        what = "no standard error (one setting)" if not np.isfinite(se) else f"a standard error of {se:.3g}"
        who = "" if name is None else f" of {name!r}"
        warnings.warn(f"evaluate{who}: at {r.species} lag {r.lag} the self-distance {r.self_l1:.3g} (or the paired "
                      f"difference to it) has {what} over {r.n_settings} settings x {n_traj} trajectories: too "
                      f"uncertain to tell a ratio of {1 + _RESOLVE:g} from 1; use more settings or trajectories",
                      ResolutionWarning, stacklevel=3)


# ---------------------------------------------------------------------------- exact ensembles
def _digest(arr: np.ndarray) -> str:
    a = np.ascontiguousarray(arr)
    return hashlib.sha256(str(a.dtype).encode() + str(a.shape).encode() + a.tobytes()).hexdigest()[:16]


def _ensemble_key(reference, crn: CRN, init, th, obs, H, dt, n_traj, seed, traj_batch, solver) -> tuple[str, dict]:
    ref_model = getattr(reference, "model", None)
    ts = getattr(reference, "timespan", None)
    record = {"format": _CACHE_FORMAT, "model": crn.content_hash(), "species": list(obs),
              "reference": type(reference).__name__, "solver": str(getattr(reference, "solver", None) or solver),
              "reference_model": ref_model.content_hash() if isinstance(ref_model, CRN) else None,
              "reference_species": list(getattr(reference, "species", ())),
              "reference_timespan": None if ts is None else _digest(np.asarray(ts, dtype=np.float64)),
              "param_names": list(getattr(reference, "param_names", ())), "dt": float(dt), "n_steps": int(H),
              "n_traj": int(n_traj), "traj_batch": int(traj_batch),
              "seed": {"entropy": str(seed.entropy), "spawn_key": [int(v) for v in seed.spawn_key]},
              "initial_states": _digest(np.asarray(init, dtype=np.int64)), "rates": _digest(np.asarray(th, np.float64))}
    blob = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:24], record


def _cache_dir(cache) -> Path | None:
    if cache is None:
        cache = os.environ.get(CACHE_ENV) or None
    if cache is None or cache is False:
        return None
    path = Path(cache)
    if path.exists() and not path.is_dir():
        raise ValueError(f"evaluate: cache {path} exists and is not a folder")
    return path


def _read_cached(file: Path, record: dict, shape: tuple) -> dict | None:
    try:
        with np.load(file, allow_pickle=False) as z:
            stored = json.loads(str(z["record"]))
            b1, b2 = z["b1"].astype(np.float64), z["b2"].astype(np.float64)
            extra = {"violations": int(z["violations"]), "seconds": float(z["seconds"])}
    except (OSError, ValueError, KeyError, EOFError) as err:
        warnings.warn(f"evaluate: cached ensembles {file} are unreadable ({type(err).__name__}); simulating again",
                      UserWarning, stacklevel=4)
        return None
    if stored != record or b1.shape != shape or b2.shape != shape:
        warnings.warn(f"evaluate: cached ensembles {file} do not match their key; simulating again",
                      UserWarning, stacklevel=4)
        return None
    return {"b1": b1, "b2": b2, **extra}


def _write_cached(file: Path, record: dict, ens: dict) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    both = np.stack([ens["b1"], ens["b2"]])
    finite = both[np.isfinite(both)]
    small = finite.size == 0 or (np.all(finite == np.round(finite)) and np.abs(finite).max() < 2 ** 24)
    dtype = np.float32 if small else np.float64
    atomic_savez(file, {"record": np.array(json.dumps(record, sort_keys=True)), "b1": ens["b1"].astype(dtype),
                        "b2": ens["b2"].astype(dtype), "violations": np.array(ens["violations"]),
                        "seconds": np.array(ens["seconds"])}, compressed=True)


def ssa_ensembles(reference: Any, crn: CRN, init: np.ndarray, th: np.ndarray, species: Sequence[str], n_steps: int,
                  dt: float, n_traj: int, seed: np.random.SeedSequence, *, client: Any = None, cache: Any = None,
                  traj_batch: int = 100, solver: str = "auto", progress: bool = True) -> dict:
    """Two independent exact ensembles per setting, simulated in trajectory batches, cached.

    Parameters
    ----------
    reference : Simulator
        The exact simulator (its ``param_names`` match the columns of ``th``).
    crn : CRN
    init : array (n, S)
    th : array (n, p)
    species : sequence of str
        Species to keep (the compared ones).
    n_steps, dt : int, float
        Steps of the grid ``0, dt, ..., n_steps * dt``.
    n_traj : int
        Trajectories in each of the two ensembles.
    seed : SeedSequence
        Batch ``b`` of half ``h`` of setting ``i`` uses the child key ``(i, h, b)``.
    client, cache, traj_batch, solver, progress
        As in :func:`evaluate`.

    Returns
    -------
    dict
        ``b1``, ``b2``: arrays (n, n_traj, k, n_steps + 1) (NaN for a failed setting);
        ``violations``: cells of the exact traces that break a conservation law (0 for an exact
        solver); ``seconds``; ``path`` (cache file or None); ``reused``.
    """
    obs = tuple(species)
    n = init.shape[0]
    shape = (n, int(n_traj), len(obs), int(n_steps) + 1)
    folder = _cache_dir(cache)
    key, record = _ensemble_key(reference, crn, init, th, obs, n_steps, dt, n_traj, seed, traj_batch, solver)
    file = None if folder is None else folder / f"ssa-{key}.npz"
    if file is not None and file.is_file():
        got = _read_cached(file, record, shape)
        if got is not None:
            return {**got, "path": str(file), "reused": True}
    from ..engine import simulate_parallel

    nb = max(1, math.ceil(n_traj / traj_batch))
    size = math.ceil(n_traj / nb)
    seeds = [np.random.SeedSequence(seed.entropy, spawn_key=tuple(seed.spawn_key) + (i, h, b))
             for i in range(n) for h in range(2) for b in range(nb)]
    t0 = time.perf_counter()
    x = simulate_parallel(reference, np.repeat(th, 2 * nb, axis=0), n_traj=size, seed=seeds,
                          initial_state=np.repeat(init, 2 * nb, axis=0), client=client, chunk_size=1,
                          progress=progress, desc="exact ensembles")
    seconds = time.perf_counter() - t0
    x = np.asarray(x, dtype=np.float64)
    S_ref, T = x.shape[2], x.shape[3]
    x = x.reshape(n, 2, nb * size, S_ref, T)[:, :, :n_traj]
    ref_species = tuple(reference.species)
    violations, _ = _violations(crn, x.reshape(n, 2 * n_traj, S_ref, T), ref_species)
    ir = [ref_species.index(s) for s in obs]
    x[~np.isfinite(x).all(axis=(1, 2, 3, 4))] = np.nan       # a setting with a failed batch fails whole
    ens = {"b1": x[:, 0][:, :, ir], "b2": x[:, 1][:, :, ir], "violations": int(violations), "seconds": seconds}
    if file is not None:
        _write_cached(file, record, ens)
    return {**ens, "path": None if file is None else str(file), "reused": False}
