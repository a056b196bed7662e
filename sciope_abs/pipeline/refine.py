"""Sequential emulation: refine the emulator where the inference lands.

An emulator trained on settings spread over the whole prior can be poor where the posterior
concentrates.  When the fidelity check (:func:`sciope_abs.inference.fidelity.check_fidelity`) at
the posterior fails, :func:`refine_emulator` simulates new exact training data *around the
posterior particles* (rates drawn from the posterior by weighted resampling, jittered by a
fraction of the posterior spread, clipped to the emulator's trained ranges; the initial state of
the inference), and fine-tunes a copy of the emulator's network on the new pairs (plus, when
given, the old dataset's training pairs) with the emulator's **own scaler**, so its inputs and
outputs keep their meaning.  :func:`sequential_emulation` loops inference -> fidelity check ->
refinement until the check passes or ``max_refinements`` refinements are spent, and records
each round (fidelity ratio, passed, exact simulations and seconds spent).

Seeds: round ``k`` of :func:`sequential_emulation` uses child ``k`` of its seed (inference,
check and refinement each a child of that), so a run is reproducible.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .._checks import check_int_at_least, check_nonneg_int, check_positive_int
from .._config import Config, number_in, option
from ..seeding import SeedLike, as_seed_sequence

__all__ = ["refine_emulator", "sequential_emulation", "SequentialResult", "RefineConfig", "REFINE_DEFAULTS"]

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class RefineConfig(Config):
    """Settings of :func:`refine_emulator` (what it simulates and how it fine-tunes).

    Parameters
    ----------
    n_settings, n_traj : int
        New settings (rate vectors from the posterior) and SSA trajectories per setting.
    epochs, learning_rate, batch_size, patience : see :func:`~sciope_abs.abstraction.training.fit_mdn`.
    spread : float
        Jitter of each resampled particle: a normal with ``spread`` x the posterior standard
        deviation per parameter (0: the resampled particles themselves).
    solver : str
        The exact simulator (``sciope_abs.simulators.make_simulator``).
    val_fraction : float
        Fraction of the new settings held out to pick the checkpoint (at least one).
    """

    n_settings: int = option(40, "new settings drawn around the posterior (at least 2)")
    n_traj: int = option(20, "SSA trajectories per new setting")
    epochs: int = option(30, "fine-tuning epochs at most")
    learning_rate: float = option(5e-4, "Adam learning rate of the fine-tuning")
    batch_size: int = option(256, "minibatch size")
    patience: int = option(10, "early-stopping patience in epochs")
    spread: float = option(0.5, "jitter of a resampled particle, in posterior standard deviations")
    solver: str = option("auto", "the exact simulator")
    val_fraction: float = option(0.2, "fraction of the new settings that picks the checkpoint")


#: the pipeline's ``refine:`` section (``max_rounds: 0`` = off); the shared keys' defaults are
#: :class:`RefineConfig`'s
REFINE_DEFAULTS = {"max_rounds": 0, **{k: RefineConfig.default(k) for k in ("n_settings", "n_traj", "epochs",
                                                                            "learning_rate", "spread")},
                   "keep_old": True}


def check_refine_section(r: dict) -> None:
    """Validate the pipeline's ``refine:`` section in place (one-line errors naming ``refine.<key>``)."""
    check_nonneg_int(r["max_rounds"], "refine.max_rounds", what="a non-negative integer (0: off)")
    check_positive_int(r["n_traj"], "refine.n_traj")
    check_positive_int(r["epochs"], "refine.epochs")
    check_int_at_least(r["n_settings"], "refine.n_settings", 2)
    number_in(r, "refine", "learning_rate", 0.0, float("inf"))
    number_in(r, "refine", "spread", 0.0, float("inf"), lo_open=False)
    if not isinstance(r["keep_old"], bool):
        raise ValueError(f"refine.keep_old must be true or false, got {r['keep_old']!r}")


def _unwrap(emulator):
    """The :class:`~sciope_abs.abstraction.emulator.Emulator` inside a view (``SpeciesView``)."""
    inner = emulator
    while not hasattr(inner, "keras_model") and hasattr(inner, "simulator"):
        inner = inner.simulator
    if not hasattr(inner, "keras_model") or not hasattr(inner, "scaler"):
        raise ValueError(f"refine_emulator: {type(emulator).__name__} is not an Emulator (nor a view of one)")
    return inner


def _draw_settings(emu, posterior, n: int, spread: float, seed) -> np.ndarray:
    """(n, p) rates: weighted resampling of the posterior, jittered, inside the trained ranges."""
    names = list(posterior.names)
    if names != list(emu.param_names):
        raise ValueError(f"refine_emulator: the posterior has parameters {names}, the emulator takes "
                         f"{list(emu.param_names)}")
    k_pick, k_jit = seed.spawn(2)
    theta = np.asarray(posterior.sample(n, seed=k_pick), dtype=np.float64).reshape(n, -1)
    if spread > 0 and len(posterior) > 1:
        sd = np.asarray(posterior.std(), dtype=np.float64).reshape(-1)
        theta = theta + np.random.default_rng(k_jit).normal(size=theta.shape) * spread * sd
    lo, hi = emu.rate_bounds[:, 0], emu.rate_bounds[:, 1]
    return np.clip(theta, lo, hi)


def _initial_states(emu, initial_state, n: int, seed) -> np.ndarray:
    if initial_state is None:
        return emu.model.sample_initial_states(n, seed=seed)
    x0 = np.asarray(initial_state, dtype=np.int64).reshape(-1)
    if x0.size != len(emu.species):
        raise ValueError(f"refine_emulator: initial_state has {x0.size} entries, the emulator's model has "
                         f"{len(emu.species)} species {list(emu.species)}")
    return np.broadcast_to(x0, (n, x0.size)).copy()


def refine_emulator(emulator: Any, posterior: Any, config: RefineConfig | None = None, *, initial_state: Any = None, dataset: Any = None,
                    seed: SeedLike = None, client: Any = None, progress: bool = False, **overrides: Any) -> Any:
    """Fine-tune a copy of ``emulator`` on exact data simulated around ``posterior``'s particles.

    Parameters
    ----------
    emulator : Emulator or a view of one (``SpeciesView``)
        Left unchanged; the refined copy keeps its scaler, architecture and rate ranges.
    posterior : Posterior
        Where the inference landed; its parameter names are the emulator's ``param_names``.
    config : RefineConfig, optional
        What to simulate and how to fine-tune (default ``RefineConfig()``; fields documented there).
    initial_state : array (S,), optional
        The inference's initial state (full model state); default: the model's initial-state rule.
    dataset : AbstractionDataset, optional
        The emulator's original data: its train pairs are added to the new ones (old + new).
    seed : int or SeedSequence
    client : passed to ``sciope_abs.engine.simulate_parallel``.
    progress : bool
    **overrides
        Fields of :class:`RefineConfig` replacing those of ``config`` (``n_settings=80``).

    Returns
    -------
    Emulator
        The refined copy; ``card["refinements"]`` lists what each refinement simulated and cost
        (``n_settings``, ``n_traj``, ``n_simulations`` = settings x trajectories, seconds).
    """
    from ..abstraction.emulator import Emulator
    from ..abstraction.training import fit_mdn

    cfg = (config if config is not None else RefineConfig()).override(**overrides)
    emu = _unwrap(emulator)
    n_settings, n_traj, epochs = _check_refine(cfg, emu, posterior, dataset)
    ss = as_seed_sequence(seed)
    k_theta, k_init, k_sim, k_split, k_fit = np.random.SeedSequence(ss.entropy, spawn_key=ss.spawn_key).spawn(5)
    rates = _draw_settings(emu, posterior, n_settings, float(cfg.spread), k_theta)
    init = _initial_states(emu, initial_state, n_settings, k_init)
    (x_tr, y_tr), (x_va, y_va), sim_seconds = _new_pairs(emu, cfg, rates, init, k_sim, k_split, client, progress)
    if dataset is not None:
        x_old, y_old = dataset.pairs("train")
        x_tr, y_tr = np.concatenate([x_old, x_tr]), np.concatenate([y_old, y_tr])
    new = Emulator.from_bytes(emu.to_bytes())       # a deep copy: the caller's emulator is not touched
    scaling = new.scaler
    hist = fit_mdn(new.keras_model, scaling.encode(x_tr, y_tr), scaling.encode(x_va, y_va), epochs=epochs,
                   batch_size=int(cfg.batch_size), learning_rate=float(cfg.learning_rate),
                   patience=int(cfg.patience), seed=k_fit, target_noise=scaling.half_width(), progress=progress,
                   desc="refine")
    new._step_fn, new._compiled = None, None
    record = {"n_settings": int(n_settings), "n_traj": int(n_traj), "n_simulations": int(n_settings * n_traj),
              "simulation_seconds": sim_seconds, "training_seconds": float(hist["seconds"]),
              "n_train_pairs": int(len(x_tr)), "n_val_pairs": int(len(x_va)), "old_data": dataset is not None,
              "epochs_run": int(hist["epochs_run"]), "best_val_loss": float(hist["best_val_loss"]),
              "stop_reason": hist["stop_reason"], "rate_mean": rates.mean(axis=0).tolist()}
    new.card = {**new.card, "refinements": list(new.card.get("refinements", [])) + [record]}
    log.info("refined the emulator on %d settings x %d trajectories around the posterior (%.1f s simulating, "
             "%.1f s training, %s)", n_settings, n_traj, sim_seconds, hist["seconds"], hist["stop_reason"])
    return new


def _check_refine(cfg: RefineConfig, emu, posterior, dataset) -> tuple[int, int, int]:
    """The cheap checks of :func:`refine_emulator`: ``(n_settings, n_traj, epochs)`` as ints."""
    n_settings = check_int_at_least(cfg.n_settings, "n_settings", 2)
    n_traj = check_positive_int(cfg.n_traj, "n_traj")
    epochs = check_positive_int(cfg.epochs, "epochs")
    if not 0 < float(cfg.val_fraction) < 1:
        raise ValueError(f"val_fraction must lie in (0, 1), got {cfg.val_fraction!r}")
    if not float(cfg.spread) >= 0:
        raise ValueError(f"spread must be >= 0, got {cfg.spread!r}")
    if len(posterior) == 0:
        raise ValueError("refine_emulator: the posterior is empty (no accepted particles)")
    if dataset is not None and (list(dataset.species) != list(emu.species) or
                                list(dataset.vary_params) != list(emu.param_names)):
        raise ValueError("refine_emulator: dataset has other species or rates than the emulator")
    return n_settings, n_traj, epochs


def _new_pairs(emu, cfg: RefineConfig, rates: np.ndarray, init: np.ndarray, k_sim, k_split, client, progress):
    """SSA traces at the new settings, split by setting: (train pairs, validation pairs, seconds)."""
    from ..abstraction.dataset import _simulate

    n_settings = len(rates)
    t0 = time.perf_counter()
    traces, _ = _simulate(emu.model, tuple(emu.param_names), emu.dt, emu.n_steps, rates, init, int(cfg.n_traj),
                          k_sim, client, cfg.solver, progress)
    sim_seconds = time.perf_counter() - t0
    ok = np.flatnonzero(np.isfinite(traces).all(axis=(1, 2, 3)))
    if ok.size < 2:
        raise ValueError(f"refine_emulator: only {ok.size} of {n_settings} new settings simulated successfully")
    perm = np.random.default_rng(k_split).permutation(ok)
    n_val = max(1, int(round(float(cfg.val_fraction) * perm.size)))
    train = _pairs(traces[perm[n_val:]], rates[perm[n_val:]])
    val = _pairs(traces[perm[:n_val]], rates[perm[:n_val]])
    return train, val, sim_seconds


def _pairs(traces: np.ndarray, rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw pairs ``(x_t || rates) -> x_{t+1}`` of traces (k, r, S, T), as ``AbstractionDataset.pairs``."""
    k, r, S, T = traces.shape
    x = np.moveaxis(traces[..., :-1], 2, -1)
    y = np.moveaxis(traces[..., 1:], 2, -1)
    rr = np.broadcast_to(rates[:, None, None, :], (k, r, T - 1, rates.shape[1]))
    return np.concatenate([x, rr], axis=-1).reshape(-1, S + rates.shape[1]), y.reshape(-1, S)


@dataclass
class SequentialResult:
    """Result of :func:`sequential_emulation`.

    Attributes
    ----------
    posterior : Posterior
        The last inference's posterior.
    emulator : Emulator
        The emulator that produced it (the input one when no refinement ran).
    fidelity : FidelityReport
        The last check.
    rounds : list of dict
        Per round: ``round``, ``ratio``, ``passed``, ``refined`` (a refinement followed),
        ``inference_seconds``, ``fidelity_seconds``, ``refine_seconds``, ``n_simulations``
        (exact SSA trajectories of that round's check and refinement) and
        ``n_inference_simulations`` (proposals of the emulator-driven inference).
    """

    posterior: Any
    emulator: Any
    fidelity: Any
    rounds: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.fidelity.passed)

    @property
    def n_exact_simulations(self) -> int:
        """Exact SSA trajectories spent by the checks and refinements."""
        return int(sum(r["n_simulations"] for r in self.rounds))


def sequential_emulation(emulator: Any, infer: Callable[[Any, Any], Any], ssa_simulator: Any, *, max_refinements: int = 2,
                         wrap: Callable[[Any], Any] | None = None, fidelity: dict | None = None,
                         refine: RefineConfig | dict | None = None, initial_state: Any = None, dataset: Any = None,
                         seed: SeedLike = None, client: Any = None, posterior: Any = None, report: Any = None) -> SequentialResult:
    """Inference -> fidelity check -> refinement, until the check passes or the refinements run out.

    Parameters
    ----------
    emulator : Emulator
    infer : callable ``infer(simulator, seed) -> Posterior``
        Runs the inference with the (wrapped) emulator, e.g. ``SMCABC(sim, ...).infer(..., seed=seed)``.
    ssa_simulator : Simulator
        The exact reference of the fidelity check (same species and grid as the wrapped emulator).
    max_refinements : int
        At most this many refinements (0: one inference and one check, nothing refined).
    wrap : callable, optional
        Maps the emulator to the simulator the inference and the check use (e.g. a ``SpeciesView``
        of the observed species); default: the emulator itself.
    fidelity : dict, optional
        Keyword arguments of :func:`~sciope_abs.inference.fidelity.check_fidelity` (``n_particles``,
        ``n_traj``, ``threshold``, ``summary``, ...).
    refine : RefineConfig or dict, optional
        The settings of :func:`refine_emulator` (a dict: fields of :class:`RefineConfig`,
        ``n_settings``, ``n_traj``, ``epochs``, ...).
    initial_state : array (S,), optional
        The inference's initial state (full model state), for the check and the new data.
    dataset : AbstractionDataset, optional
        The original data (old + new pairs in each fine-tuning).
    seed : int or SeedSequence
    client : passed to the SSA simulations.
    posterior, report : Posterior and FidelityReport, optional
        An inference (and its check) already run with ``emulator``: round 0 takes them instead of
        running ``infer`` (and ``check_fidelity``) again.

    Returns
    -------
    SequentialResult
    """
    import warnings

    from ..inference.fidelity import FidelityWarning, check_fidelity

    max_refinements = check_nonneg_int(max_refinements, "max_refinements")
    wrap = wrap or (lambda e: e)
    fid = dict(fidelity or {})
    ref = refine if isinstance(refine, RefineConfig) else RefineConfig().override(**dict(refine or {}))
    ss = as_seed_sequence(seed)
    seeds = np.random.SeedSequence(ss.entropy, spawn_key=ss.spawn_key).spawn(max_refinements + 1)
    emu, rounds = emulator, []
    for k, s_round in enumerate(seeds):
        s_inf, s_fid, s_ref = s_round.spawn(3)
        sim = wrap(emu)
        t0 = time.perf_counter()
        post = posterior if k == 0 and posterior is not None else infer(sim, s_inf)
        t1 = time.perf_counter()
        given = k == 0 and report is not None and posterior is not None
        if given:
            rep = report
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FidelityWarning)     # the failure is recorded in the rounds
                rep = check_fidelity(post, sim, ssa_simulator, seed=s_fid, initial_state=initial_state,
                                     client=client, **fid)
        t2 = time.perf_counter()
        n_check = 0 if given else 2 * int(rep.meta["n_traj"]) * int(rep.meta["n_particles"])
        row = {"round": k, "ratio": float(rep.ratio), "passed": bool(rep.passed), "refined": False,
               "inference_seconds": t1 - t0, "fidelity_seconds": t2 - t1, "refine_seconds": 0.0,
               "n_simulations": n_check, "n_inference_simulations": int(getattr(post, "n_simulations", 0))}
        rounds.append(row)
        log.info("sequential emulation round %d: fidelity ratio %.2f (%s)", k, rep.ratio,
                 "passed" if rep.passed else "failed")
        if rep.passed or k == max_refinements:
            break
        emu = refine_emulator(emu, post, ref, initial_state=initial_state, dataset=dataset, seed=s_ref,
                              client=client)
        rec = emu.card["refinements"][-1]
        row.update(refined=True, refine_seconds=time.perf_counter() - t2,
                   n_simulations=n_check + rec["n_simulations"])
    return SequentialResult(post, emu, rep, rounds)


def refine_in_pipeline(ctx: Any, posterior: Any, report: Any, out: Any, *, observe: Callable[[Any], np.ndarray],
                       smc: Callable[..., Any]) -> dict:
    """The pipeline's ``refine:`` section after a failed fidelity check (see ``stages._run_fidelity``).

    Refines the stage's emulator around ``posterior``, re-runs the stage's SMC-ABC with the
    refined emulator and checks it again, up to ``refine.max_rounds`` refinements; writes the
    final emulator, posterior and check into ``out / "refined"`` and returns the facts for the
    stage summary (the first check's ``passed`` / ``ratio`` stay in the stage's own report).
    ``observe(ctx)`` gives the observed traces and ``smc(ctx, simulator, observed, client, seed,
    run_dir)`` runs the stage's SMC-ABC (the stage passes its own, so this module does not import
    the stages: no import cycle).
    """
    import json

    from ..simulators.view import SpeciesView

    r, f = dict(ctx.cfg.refine), ctx.cfg.fidelity
    observed = observe(ctx)
    folder = out / "refined"
    client = ctx.resolve_client(ctx.cfg.infer["scheduler"])

    runs: list[Path] = []

    def infer(sim: Any, seed: Any) -> Any:   # one SMC-ABC run folder per refinement: refined/smc_1, smc_2, ...
        runs.append(folder / f"smc_{len(runs) + 1}")
        return smc(ctx, sim, observed, client, seed, runs[-1])[0]

    fid = {"n_particles": int(f["n_particles"]), "n_traj": int(f["n_traj"]), "summary": ctx.summary(),
           "threshold": float(f["threshold"]), "kind": f["kind"], "bins": f["bins"]}
    ref = RefineConfig(**{k: r[k] for k in ("n_settings", "n_traj", "epochs", "learning_rate", "spread")},
                       solver=ctx.cfg.dataset["solver"])
    res = sequential_emulation(ctx.get("emulator"), infer, ctx.ssa_simulator(),
                               max_refinements=int(r["max_rounds"]), wrap=lambda e: SpeciesView(e, ctx.species),
                               fidelity=fid, refine=ref, initial_state=ctx.initial_state(),
                               dataset=ctx.get("dataset") if r["keep_old"] else None,
                               seed=np.random.SeedSequence(int(ctx.cfg.seed), spawn_key=(7,)), client=ctx.client,
                               posterior=posterior, report=report)
    folder.mkdir(parents=True, exist_ok=True)
    res.emulator.save(folder / "emulator")
    res.posterior.save(folder / "posterior.npz")
    res.fidelity.save(folder / "fidelity")
    (folder / "rounds.json").write_text(json.dumps(res.rounds, indent=1))
    return {"refined_passed": res.passed, "refined_ratio": res.fidelity.ratio, "refine_rounds": res.rounds,
            "refined_posterior_mean": res.posterior.mean().tolist(),
            "refine_exact_simulations": res.n_exact_simulations}
