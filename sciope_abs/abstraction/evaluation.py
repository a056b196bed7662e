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
"""
from __future__ import annotations

import time
from typing import Mapping, Sequence

import numpy as np

from ..crn.model import CRN
from ..seeding import SeedLike, as_seed_sequence
from .histograms import distance_tables
from .report import EvaluationReport

__all__ = ["evaluate", "evaluate_many"]


def _resolve_crn(emulator, model) -> CRN:
    if model is not None:
        if isinstance(model, CRN):
            return model
        if isinstance(model, str):
            from ..crn import load_model

            return load_model(model)
        raise ValueError(f"model must be a CRN or a model name, got {type(model).__name__}")
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


def evaluate(emulator, model=None, n_settings: int = 25, n_traj: int = 1000, lags: Sequence[int] = (1, 3, 5, 10),
             seed: SeedLike = None, client=None, species: Sequence[str] | None = None, initial_states=None,
             rates=None, *, dataset=None, bins=100, reference=None, solver: str = "auto",
             progress: bool = True, keep_samples: bool = True) -> EvaluationReport:
    """Histogram distances of an emulator to SSA, next to the SSA self-distance.

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
    bins : None, int or array
        Histogram binning (see :func:`~.histograms.histogram_distance`): at most 100 shared
        integer-aligned bins by default, ``None`` for unit bins.
    reference : Simulator, optional
        The exact simulator (default: ``make_simulator(model, ..., solver=solver)``).
    progress : bool
    keep_samples : bool
        Keep the three ensembles at the lags (for ``report.plot()`` and ``report.rebin()``).

    Returns
    -------
    EvaluationReport

    See Also
    --------
    evaluate_many : several emulators against one pair of SSA ensembles.
    """
    reports = evaluate_many({"emulator": emulator}, model, n_settings, n_traj, lags, seed, client, species,
                            initial_states, rates, dataset=dataset, bins=bins, reference=reference,
                            solver=solver, progress=progress, keep_samples=keep_samples)
    return reports["emulator"]


def _common(emulators: Mapping[str, object], attr: str, get) -> object:
    values = {name: get(emu) for name, emu in emulators.items()}
    first = next(iter(values.values()))
    for name, v in values.items():
        if v != first:
            raise ValueError(f"evaluate_many: all emulators must share {attr}; "
                             f"{next(iter(values))!r} has {first!r}, {name!r} has {v!r}")
    return first


def evaluate_many(emulators: Mapping[str, object], model=None, n_settings: int = 25, n_traj: int = 1000,
                  lags: Sequence[int] = (1, 3, 5, 10), seed: SeedLike = None, client=None,
                  species: Sequence[str] | None = None, initial_states=None, rates=None, *, dataset=None,
                  bins=100, reference=None, solver: str = "auto", progress: bool = True,
                  keep_samples: bool = True) -> dict[str, EvaluationReport]:
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
    dataset, bins, reference, solver, progress, keep_samples
        As in :func:`evaluate`.

    Returns
    -------
    dict of str to EvaluationReport
        In the order of ``emulators``.
    """
    if not isinstance(emulators, Mapping) or not emulators:
        raise ValueError("evaluate_many: emulators must be a non-empty mapping of names to emulators")
    first = next(iter(emulators.values()))
    crn = _resolve_crn(first, model)
    n_settings = int(n_settings)
    n_traj = int(n_traj)
    if n_settings < 1 or n_traj < 1:
        raise ValueError(f"n_settings and n_traj must be >= 1, got {n_settings} and {n_traj}")
    lags = _check_lags(lags)
    H = lags[-1]
    dt = _common(emulators, "dt", _emulator_dt)
    param_names = _common(emulators, "param_names", lambda e: tuple(getattr(e, "param_names", ())))
    obs = tuple(crn.observed if species is None else species)
    crn.species_index(obs)  # validates names

    ss = as_seed_sequence(seed)
    base = np.random.SeedSequence(ss.entropy, spawn_key=ss.spawn_key)
    k_init, k_rates, k_ssa, k_emu = base.spawn(4)
    init, th = _settings(crn, param_names, n_settings, initial_states, rates, dataset, k_init, k_rates)

    # exact reference: 2 * n_traj per setting, split into two independent halves
    from ..engine import simulate_parallel

    if reference is None:
        from ..simulators import make_simulator

        reference = make_simulator(crn, param_names=param_names, species=crn.species,
                                   timespan=np.arange(H + 1, dtype=np.float64) * dt, solver=solver)
    ref_species = tuple(reference.species)
    t0 = time.perf_counter()
    ssa = simulate_parallel(reference, th, n_traj=2 * n_traj, seed=k_ssa, initial_state=init, client=client,
                            progress=progress)
    ssa_seconds = time.perf_counter() - t0
    ssa = np.asarray(ssa, dtype=np.float64)
    ir = [ref_species.index(s) if s in ref_species else None for s in obs]
    lag_idx = np.asarray(lags)

    reports: dict[str, EvaluationReport] = {}
    for name, emulator in emulators.items():
        t0 = time.perf_counter()
        emu, emu_species = _emulate(emulator, init, th, H, n_traj, k_emu, dt)
        emu_seconds = time.perf_counter() - t0
        missing = [s for s, r in zip(obs, ir) if s not in emu_species or r is None]
        if missing:
            raise ValueError(f"evaluate: species {missing} are not produced by both the emulator {name!r} "
                             "and the reference")
        ie = [emu_species.index(s) for s in obs]
        a = emu[:, :, ie][..., lag_idx]                    # (n, r, k, L)
        b1 = ssa[:, :n_traj, ir][..., lag_idx]
        b2 = ssa[:, n_traj:, ir][..., lag_idx]
        out = distance_tables(a, b1, b2, bins)
        meta = {"model": crn.name, "model_hash": crn.content_hash(), "dt": dt, "n_traj": n_traj,
                "bins": bins if bins is None or np.isscalar(bins) else np.asarray(bins).tolist(),
                "seed": {"entropy": str(base.entropy), "spawn_key": [int(v) for v in base.spawn_key]},
                "emulator": type(emulator).__name__, "reference": type(reference).__name__,
                "emulator_seconds": emu_seconds, "ssa_seconds": ssa_seconds}
        card = getattr(emulator, "card", None)
        if isinstance(card, dict):
            meta["emulator_card"] = {k: card[k] for k in ("model_hash", "dataset_hash") if k in card}
        reports[name] = EvaluationReport(obs, lags, out["l1"], out["iou"], out["self_l1"], out["self_iou"],
                                         initial_states=init, rates=th, param_names=param_names,
                                         samples_emulator=a.astype(np.float32) if keep_samples else None,
                                         samples_ssa=b1.astype(np.float32) if keep_samples else None,
                                         samples_ssa_self=b2.astype(np.float32) if keep_samples else None,
                                         bins=bins, meta=meta)
    return reports
