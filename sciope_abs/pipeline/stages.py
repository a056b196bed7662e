"""The pipeline's stages: dataset -> emulator (search or train) -> evaluate -> infer (SMC-ABC with the
emulator, the exact SSA, or the cheaper of the two per proposal: ``infer.simulator``) -> fidelity
(re-simulate posterior particles with SSA) -> ssa_infer (optional: the same
SMC-ABC with the exact simulator, for comparison).

Each stage is a :class:`Stage`: the stages it reads, the config parts its result depends on, a
``run`` that writes into its folder and a ``load`` that reads a finished folder back.  The input
hash of a stage covers its config parts, the model, the run seed and the input hashes of the
stages it reads, so changing one setting reruns exactly that stage and the stages downstream of
it (e.g. ``evaluate`` settings rerun ``evaluate`` only; ``emulator`` settings rerun everything but
``dataset``).

Seeds: stage ``k`` uses ``SeedSequence(config.seed, spawn_key=(k,))``, so a stage's randomness does
not depend on which other stages ran in this process.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .config import InferSection, PipelineConfig, emulator_config

log = logging.getLogger(__name__)

__all__ = ["Stage", "STAGES", "StageContext", "stage_seed", "build_prior", "build_summary", "check_inputs"]

_SEED_KEYS = {"dataset": 0, "emulator": 1, "evaluate": 2, "observed": 3, "infer": 4, "fidelity": 5, "ssa_infer": 6}


def stage_seed(cfg: PipelineConfig, stage: str) -> np.random.SeedSequence:
    """The seed of one stage (independent of the others)."""
    return np.random.SeedSequence(int(cfg.seed), spawn_key=(_SEED_KEYS[stage],))


class StageContext:
    """What stages share: the config, the model, the client, the cache and lazily loaded outputs."""

    def __init__(self, cfg: PipelineConfig, cache: Any, client: Any, progress: bool) -> None:
        from .specs import build_model

        self.cfg = cfg
        self.cache = cache
        self.client = client
        self.progress = progress
        self.crn = build_model(cfg.model)
        self.crn.check_parameter_names(cfg.vary_params)
        self.species = list(cfg.species or self.crn.observed or self.crn.species)
        self.crn.species_index(self.species)
        self.dt = float(cfg.dataset["dt"] if cfg.dataset["dt"] is not None else self.crn.dt)
        self.n_steps = int(cfg.dataset["n_steps"] if cfg.dataset["n_steps"] is not None else self.crn.n_steps)
        self._values: dict[Any, Any] = {}  # stage name -> value, and (kind, key) -> cached parts

    # ------------------------------------------------------------------ lazy outputs
    def get(self, stage: str) -> Any:
        if stage not in self._values:
            self._values[stage] = STAGES[stage].load(self, self.cache.path(stage))
        return self._values[stage]

    def put(self, stage: str, value: Any) -> None:
        self._values[stage] = value

    def log(self, msg: str) -> None:
        if self.progress:
            log.info(f"[pipeline] {msg}")

    # ------------------------------------------------------------------ shared pieces
    def initial_state(self) -> np.ndarray:
        """The observation's initial state (full model state)."""
        spec = self.cfg.observed["initial_state"]
        x0 = self.crn.default_initial_state().copy()
        if spec:
            unknown = [s for s in spec if s not in self.crn.species]
            if unknown:
                raise ValueError(f"observed.initial_state names unknown species {unknown} of {list(self.crn.species)}")
            for s, v in spec.items():
                x0[self.crn.species_index([s])[0]] = int(v)
        return x0

    def ssa_simulator(self) -> Any:
        """The exact simulator of the observed species on the emulator's grid."""
        from ..simulators import make_simulator

        return make_simulator(self.crn, param_names=list(self.cfg.vary_params), species=self.species,
                              timespan=self.crn.timespan(self.dt, self.n_steps), solver=self.cfg.dataset["solver"])

    def summary(self) -> Any:
        return build_summary(self.cfg.summaries, self.species, ctx=self)

    def distance(self) -> Any:
        from .specs import build_distance

        return build_distance(self.cfg.distance)

    def prior(self) -> Any:
        """The ABC prior of the config (:func:`build_prior`)."""
        return build_prior(self.cfg, _rate_bounds(self), crn=self.crn)

    def truth(self) -> np.ndarray:
        return np.array([[float(self.cfg.observed["truth"][p]) for p in self.cfg.vary_params]])

    def resolve_client(self, value: Any) -> Any:
        """``"sync"`` / an address as given; ``None`` = the pipeline's client."""
        return self.client if value is None else value


def build_summary(spec: Any, species: Any, ctx: "StageContext | None" = None) -> Any:
    """The summary of the config's ``summaries:`` entry (a registry name, ``{name: ..., **kw}``, or
    a list of them) for the observed ``species``, built by :func:`.specs.build_summary` (the factory
    ``sciope-abs infer`` uses too).  Learned entries (``{name: learned | semiauto, n_pilot: ...}``)
    need ``ctx``: see :func:`_learned_specs`."""
    from ..inference.learned import has_learned_spec
    from .specs import build_summary as _build_summary

    try:
        if has_learned_spec(spec):
            spec = _learned_specs(spec, species, ctx)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"summaries: {' '.join(str(exc).split())}") from None
    return _build_summary(spec, species)


def _learned_specs(spec: Any, species: Any, ctx: "StageContext | None") -> list:
    """Learned entries fitted once on an exact-SSA pilot from the ABC prior (issue 15), stored in
    ``<run_dir>/learned_summaries/<hash of their inputs>`` and loaded from there afterwards."""
    from ..inference.learned import check_learned_specs, resolve_learned_specs, save_learned_parts
    from ..summaries import make_summary
    from .cache import content_hash

    if ctx is None or ctx.cache is None:   # checking the config before the run: nothing is simulated
        return check_learned_specs(spec, species)
    cfg = ctx.cfg
    key = content_hash(spec, cfg.seed, ctx.crn.content_hash(), list(cfg.vary_params), list(species), cfg.prior,
                       cfg.infer["n_traj"], ctx.dt, ctx.n_steps, cfg.dataset["solver"], cfg.observed["initial_state"])
    if ("learned", key) not in ctx._values:
        folder = ctx.cache.run_dir / "learned_summaries" / key
        resolved = resolve_learned_specs(spec, ctx.ssa_simulator(), ctx.prior(),
                                         seed=int(cfg.seed), n_traj=int(cfg.infer["n_traj"]), client=ctx.client,
                                         load_from=folder, initial_state=ctx.initial_state())
        if not folder.exists():
            save_learned_parts(spec, make_summary(resolved, species=tuple(species)), folder)
        ctx._values[("learned", key)] = resolved
    return ctx._values[("learned", key)]


def check_inputs(ctx: "StageContext") -> None:
    """Build what the stages will build from the config (summary, distance, prior, initial state)
    so that a bad entry is a one-line error before any stage runs."""
    ctx.initial_state()
    ctx.summary()
    ctx.distance()
    ctx.prior()


def build_prior(cfg: PipelineConfig, rate_bounds: np.ndarray, crn: Any = None) -> Any:
    """The ABC prior: the config's ``prior:`` (:func:`.specs.build_prior`, the grammar
    ``sciope-abs infer`` reads too), or uniform over the emulator's trained rate ranges."""
    from .specs import build_prior as _build_prior

    return _build_prior(cfg.prior, names=list(cfg.vary_params), crn=crn, truth=cfg.observed.get("truth"),
                        rate_bounds=rate_bounds)


@dataclass(frozen=True)
class Stage:
    """One stage: ``deps`` (stages read), ``config`` (callable cfg -> its config parts)."""

    name: str
    deps: tuple
    config: Callable[[PipelineConfig], Any]
    run: Callable[[StageContext, Path], tuple[Any, dict]]
    load: Callable[[StageContext, Path], Any]
    enabled: Callable[[PipelineConfig], bool] = lambda cfg: True


# ---------------------------------------------------------------------------- dataset
def _run_dataset(ctx: StageContext, out: Path):
    from ..abstraction.dataset import build_dataset

    d = ctx.cfg.dataset
    ds = build_dataset(ctx.crn, n_settings=d["n_settings"], n_traj=d["n_traj"], dt=ctx.dt, n_steps=ctx.n_steps,
                       vary_params=list(ctx.cfg.vary_params), seed=stage_seed(ctx.cfg, "dataset"),
                       client=ctx.client, solver=d["solver"], split=tuple(d["split"]), path=out / "data.zarr",
                       progress=ctx.progress)
    return ds, {"n_settings": ds.n_settings, "n_traj": ds.n_traj, "solver": ds.attrs.get("solver"),
                "simulation_seconds": ds.attrs.get("simulation_seconds")}


def _load_dataset(ctx: StageContext, out: Path):
    from ..abstraction.dataset import AbstractionDataset

    return AbstractionDataset.load(out / "data.zarr")


# ---------------------------------------------------------------------------- emulator
def _run_emulator(ctx: StageContext, out: Path):
    ds = ctx.get("dataset")
    e = ctx.cfg.emulator
    seed = stage_seed(ctx.cfg, "emulator")
    config = emulator_config(ctx.cfg)   # the section checked against SearchConfig / TrainConfig
    if e["method"] == "search":
        from ..abstraction.nas import search

        emu = search(ds, config, seed=seed, progress=ctx.progress)
    else:
        from ..abstraction.training import train

        emu = train(ds, config, seed=seed, progress=ctx.progress)
    emu.save(out / "emulator")
    hist = emu.card.get("history", {})
    return emu, {"method": e["method"], "epochs_run": hist.get("epochs_run"),
                 "best_val_loss": hist.get("best_val_loss")}


def _load_emulator(ctx: StageContext, out: Path):
    from ..abstraction.emulator import Emulator

    return Emulator.load(out / "emulator")


# ---------------------------------------------------------------------------- evaluate
def _run_evaluate(ctx: StageContext, out: Path):
    from ..abstraction.evaluation import evaluate

    v = ctx.cfg.evaluate
    emu = ctx.get("emulator")
    lags = [int(x) for x in v["lags"] if int(x) <= emu.n_steps] or [emu.n_steps]
    rep = evaluate(emu, n_settings=v["n_settings"], n_traj=v["n_traj"], lags=lags,
                   seed=stage_seed(ctx.cfg, "evaluate"), client=ctx.client, species=ctx.species, bins=v["bins"],
                   progress=ctx.progress)
    rep.save(out / "report")
    tab = rep.table()
    return rep, {"mean_l1": float(tab.l1.mean()), "mean_self_l1": float(tab.self_l1.mean()),
                 "emulator_seconds": rep.meta.get("emulator_seconds"), "ssa_seconds": rep.meta.get("ssa_seconds")}


def _load_evaluate(ctx: StageContext, out: Path):
    from ..abstraction.report import EvaluationReport

    return EvaluationReport.load(out / "report")


# ---------------------------------------------------------------------------- infer (emulator)
def _observed(ctx: StageContext) -> np.ndarray:
    """The synthetic observation: SSA traces (r, S_obs, T) at the true rates."""
    o = ctx.cfg.observed
    x = ctx.ssa_simulator().simulate(ctx.truth(), n_traj=int(o["n_traj"]), seed=int(o["seed"]),
                                     initial_state=ctx.initial_state())
    if not np.isfinite(x).all():
        raise ValueError("the synthetic observation failed to simulate (NaN traces)")
    return x[0]


def _smc(ctx: StageContext, simulator, observed: np.ndarray, client: Any, seed, run_dir: Path):
    from ..inference import SMCABC

    i = ctx.cfg.infer
    prior = ctx.prior()
    smc = SMCABC(simulator, prior, ctx.summary(), ctx.distance(), observed=observed, n_traj=int(i["n_traj"]),
                 initial_state=ctx.initial_state(), client=client)
    config = InferSection.from_mapping(i, "infer").smc_config()   # the SMCConfig fields of the section
    t0 = time.perf_counter()
    post = smc.infer(**config.kwargs(), seed=seed, run_dir=run_dir, progress=ctx.progress)
    return post, time.perf_counter() - t0


def _rate_bounds(ctx: StageContext) -> np.ndarray:
    return np.array([ctx.crn.rate_ranges.get(p, (0.0, np.inf)) for p in ctx.cfg.vary_params], dtype=np.float64)


def _emulator_view(ctx: StageContext):
    from ..simulators.view import SpeciesView

    return SpeciesView(ctx.get("emulator"), ctx.species)


#: timed simulation per simulator when the pipeline compares their cost per proposal (seconds)
COST_PILOT_SECONDS = 1.0
#: at most this many parameter points in a cost pilot (the emulator's batch: its preferred size)
COST_PILOT_POINTS = 1024


def cost_per_proposal(simulator: Any, theta: np.ndarray, n_traj: int, initial_state: Any, seed: int,
                      budget_s: float = COST_PILOT_SECONDS) -> float:
    """Seconds per proposal (``n_traj`` trajectories of one parameter point) of ``simulator``.

    A first, untimed call warms it up (compilation, graph tracing).  A simulator that declares
    ``preferred_batch_size`` (an emulator) is timed on batches of that size (at most
    ``len(theta)``) with ``n_traj`` trajectories each, as ABC feeds it.  Others (an exact SSA,
    whose trajectories are independent, so its cost is linear in them) are timed with one
    trajectory on 1, 2, 4, ... points until ``budget_s`` seconds are spent or ``theta`` is used
    up, and the cost per trajectory is scaled by ``n_traj`` (a slow SSA stays a short pilot).

    Parameters
    ----------
    simulator : Simulator
    theta : array, shape (m, d)
        Parameter points to time (prior draws).
    n_traj : int
    initial_state : array (S,) or None
    seed : int
    budget_s : float
    """
    pref = getattr(simulator, "preferred_batch_size", None)
    r = int(n_traj) if pref else 1
    simulator.simulate(theta[:2] if pref else theta[:1], n_traj=r, seed=seed, initial_state=initial_state)
    m = min(int(pref), len(theta)) if pref else 1
    spent, done, start = 0.0, 0, 0
    while True:
        batch = theta[start:start + m] if start + m <= len(theta) else theta[:m]
        t0 = time.perf_counter()
        simulator.simulate(batch, n_traj=r, seed=seed + 1 + done, initial_state=initial_state)
        spent += time.perf_counter() - t0
        done, start = done + len(batch), (start + len(batch)) % len(theta)
        if spent >= budget_s or done >= len(theta):
            return spent / done * (int(n_traj) / r)
        m = min(2 * m, len(theta))


def _choose_simulator(ctx: StageContext) -> tuple[Any, dict]:
    """The simulator of the ``infer`` stage (``infer.simulator``) and the measured costs.

    Both simulators' cost per proposal is measured on prior draws (:func:`cost_per_proposal`,
    about ``COST_PILOT_SECONDS`` each after a warm-up call); ``auto`` takes the cheaper one (a timing, so the choice is
    recorded in the stage summary: set ``infer.simulator`` to it to pin it)."""
    from ..inference._stream import child_seed

    i = ctx.cfg.infer
    emu, ssa = _emulator_view(ctx), ctx.ssa_simulator()
    prior = ctx.prior()
    n_pilot = min(COST_PILOT_POINTS, int(getattr(emu, "preferred_batch_size", None) or 64))
    theta = np.asarray(prior.sample(n_pilot, child_seed(stage_seed(ctx.cfg, "infer"), 99)), dtype=np.float64)
    theta = theta.reshape(n_pilot, -1)
    costs = {name: cost_per_proposal(sim, theta, int(i["n_traj"]), ctx.initial_state(), seed=7)
             for name, sim in (("emulator", emu), ("ssa", ssa))}
    cheaper = min(costs, key=costs.__getitem__)
    choice = cheaper if i["simulator"] == "auto" else i["simulator"]
    msg = (f"cost per proposal ({i['n_traj']} trajectories): emulator {costs['emulator'] * 1e3:.3g} ms, "
           f"exact SSA {costs['ssa'] * 1e3:.3g} ms; the {cheaper} is cheaper; inferring with the {choice}"
           + (" (infer.simulator: auto)" if i["simulator"] == "auto" else ""))
    logging.getLogger(__name__).info(msg)
    ctx.log(msg)
    facts = {"simulator": choice, "cheaper": cheaper, "cost_per_proposal_emulator": costs["emulator"],
             "cost_per_proposal_ssa": costs["ssa"], "emulator_over_ssa_cost": costs["emulator"] / costs["ssa"]}
    return (emu if choice == "emulator" else ssa), facts


def _run_infer(ctx: StageContext, out: Path):
    observed = _observed(ctx)
    np.save(out / "observed.npy", observed)
    truth = dict(zip(ctx.cfg.vary_params, ctx.truth()[0].tolist()))
    (out / "truth.json").write_text(json.dumps(truth))
    client = ctx.resolve_client(ctx.cfg.infer["scheduler"])
    simulator, facts = _choose_simulator(ctx)
    post, seconds = _smc(ctx, simulator, observed, client, stage_seed(ctx.cfg, "infer"), out / "smc")
    post.save(out / "posterior.npz")
    return post, {"inference_seconds": seconds, "n_simulations": post.n_simulations, "message": post.message,
                  "posterior_mean": post.mean().tolist(), "posterior_std": post.std().tolist(), "truth": truth,
                  **facts}


def _load_posterior(ctx: StageContext, out: Path):
    from ..inference import Posterior

    return Posterior.load(out / "posterior.npz")


# ---------------------------------------------------------------------------- fidelity
def _run_fidelity(ctx: StageContext, out: Path):
    import warnings

    from ..inference.fidelity import FidelityWarning

    f = ctx.cfg.fidelity
    post = ctx.get("infer")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FidelityWarning)
        rep = post.check_fidelity(ctx.ssa_simulator(), n_particles=int(f["n_particles"]), n_traj=int(f["n_traj"]),
                                  seed=stage_seed(ctx.cfg, "fidelity"), summary=ctx.summary(),
                                  initial_state=ctx.initial_state(), emulator=_emulator_view(ctx),
                                  threshold=float(f["threshold"]), kind=f["kind"], bins=f["bins"], client=ctx.client,
                                  progress=ctx.progress)
    for w in caught:  # shown to the user, and kept in the report
        log.warning(str(w.message))
    rep.save(out)
    facts = {"passed": rep.passed, "ratio": rep.ratio, "message": rep.message}
    if ctx.cfg.refine["max_rounds"] and not rep.passed:   # sequential emulation (pipeline/refine.py)
        from .refine import refine_in_pipeline

        facts |= refine_in_pipeline(ctx, post, rep, out, observe=_observed, smc=_smc)
    return rep, facts


def _load_fidelity(ctx: StageContext, out: Path):
    from ..inference.fidelity import FidelityReport

    return FidelityReport.load(out)


# ---------------------------------------------------------------------------- ssa_infer
def _run_ssa_infer(ctx: StageContext, out: Path):
    observed = _observed(ctx)  # the same seeded observation the emulator-driven stage uses
    client = ctx.resolve_client(ctx.cfg.ssa_infer["scheduler"])
    post, seconds = _smc(ctx, ctx.ssa_simulator(), observed, client, stage_seed(ctx.cfg, "infer"), out / "smc")
    post.save(out / "posterior.npz")
    return post, {"inference_seconds": seconds, "n_simulations": post.n_simulations, "message": post.message,
                  "posterior_mean": post.mean().tolist(), "posterior_std": post.std().tolist()}


def _infer_config(cfg: PipelineConfig) -> dict:
    return {"observed": cfg.observed, "prior": cfg.prior, "summaries": cfg.summaries, "distance": cfg.distance,
            # (epsilon and target_tolerance: null, the defaults, are left out so that older runs
            # keep their hashes)
            "infer": {k: v for k, v in cfg.infer.items()
                      if k not in ("scheduler", "simulator")
                      and not (k in ("epsilon", "target_tolerance") and v is None)},
            "species": cfg.species}


def _emulator_infer_config(cfg: PipelineConfig) -> dict:
    # infer.simulator: emulator (the default) is left out so that older runs keep their hashes
    out = _infer_config(cfg)
    return out if cfg.infer["simulator"] == "emulator" else out | {"simulator": cfg.infer["simulator"]}


def _fidelity_config(cfg: PipelineConfig) -> dict:
    # refine: max_rounds 0 (the default, off) is left out so that older runs keep their hashes
    return cfg.fidelity | ({"refine": cfg.refine} if cfg.refine["max_rounds"] else {})


STAGES: dict[str, Stage] = {
    "dataset": Stage("dataset", (), lambda c: {"dataset": c.dataset, "vary": c.vary_params},
                     _run_dataset, _load_dataset),
    "emulator": Stage("emulator", ("dataset",), lambda c: c.emulator[c.emulator["method"]] | {"method": c.emulator["method"]},
                      _run_emulator, _load_emulator),
    "evaluate": Stage("evaluate", ("emulator",), lambda c: {"evaluate": c.evaluate, "species": c.species},
                      _run_evaluate, _load_evaluate),
    "infer": Stage("infer", ("emulator",), _emulator_infer_config, _run_infer, _load_posterior),
    "fidelity": Stage("fidelity", ("infer",), _fidelity_config, _run_fidelity, _load_fidelity),
    "ssa_infer": Stage("ssa_infer", (), lambda c: _infer_config(c) | {"ssa": "exact"},
                       _run_ssa_infer, _load_posterior, enabled=lambda c: bool(c.ssa_infer["enabled"])),
}
