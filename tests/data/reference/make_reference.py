"""Generate the stored reference results that ``tests/test_reference_results.py`` compares against.

The references pin the numbers a seed gives: an ABC rejection posterior and an SMC-ABC posterior
(toggle switch, compiled SSA, in-process client), a small :class:`AbstractionDataset`, the
rollouts of a small saved emulator (``emulator/``, a ``.keras`` artifact) and of one trained for a
seed, and the points of every seeded design.  A refactoring that keeps behaviour keeps these
numbers; a change that moves them on purpose regenerates them **in the same commit** and says why.

Regenerate ONLY on purpose (the references were first made from commit 95f7c03, before the
issue-14 redesign; the two ``*_rollout_stepwise`` arrays were regenerated on purpose when the
stepwise path switched to the compiled loop's counter-based noise, issue 14 step 3, and now equal
the ``*_rollout_compiled`` ones; every other array was unchanged by that regeneration)::

    cd /work/main   # the repository root
    PATH=$PWD/.venv/bin:$PATH .venv/bin/python tests/data/reference/make_reference.py

It writes ``reference.npz`` (plain arrays, loaded with ``allow_pickle=False``), ``reference.json``
(scalars, messages, names) and, only if absent or with ``--new-emulator``, the saved emulator.
The case functions below are the ones the test runs, so the test and the references cannot drift.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
EMULATOR_DIR = HERE / "emulator"
NPZ = HERE / "reference.npz"
JSON = HERE / "reference.json"

TOGGLE_TIMES = np.linspace(0.0, 5.0, 11)


def _toggle_problem():
    """The toggle switch on the compiled SSA, two free rates, Mean + Std summaries, observed data."""
    from sciope_abs.priors import JointPrior, Uniform
    from sciope_abs.simulators import make_simulator
    from sciope_abs.summaries import Mean, Std

    sim = make_simulator("toggle_switch", param_names=("alpha1", "alpha2"), timespan=TOGGLE_TIMES,
                         solver="fast_ssa")
    prior = JointPrior({"alpha1": Uniform(0.1, 2.0), "alpha2": Uniform(0.1, 2.0)})
    summary = Mean() + Std()
    observed = sim.simulate(np.array([[1.0, 0.5]]), n_traj=4, seed=11)[0]
    return sim, prior, summary, observed


def _posterior_record(post, prefix: str) -> tuple[dict, dict]:
    arrays = {f"{prefix}_samples": np.asarray(post.samples, dtype=float),
              f"{prefix}_weights": np.asarray(post.weights, dtype=float),
              f"{prefix}_distances": np.asarray(post.distances, dtype=float)}
    meta = {"n_simulations": int(post.n_simulations), "tolerance": float(post.tolerance)}
    return arrays, meta


def case_observed() -> tuple[dict, dict]:
    """The observed traces of the toggle switch for seed 11: (4 trajectories, 2 species, 11 times)."""
    *_, observed = _toggle_problem()
    return {"observed": np.asarray(observed)}, {}


def case_rejection() -> tuple[dict, dict]:
    """ABC rejection, quantile mode: 25 closest of 250 prior draws, batches of 50, seed 3."""
    from sciope_abs.distances import Euclidean
    from sciope_abs.inference import ABCRejection

    sim, prior, summary, observed = _toggle_problem()
    abc = ABCRejection(sim, prior, summary, Euclidean(), observed=observed, n_traj=4, client="sync")
    post = abc.infer(quantile=0.1, max_simulations=250, batch_size=50, seed=3)
    return _posterior_record(post, "rejection")


def case_rejection_tolerance() -> tuple[dict, dict]:
    """ABC rejection, tolerance mode: 20 samples within 0.4, batches of 40, seed 5."""
    from sciope_abs.distances import Euclidean
    from sciope_abs.inference import ABCRejection

    sim, prior, summary, observed = _toggle_problem()
    abc = ABCRejection(sim, prior, summary, Euclidean(), observed=observed, n_traj=4, client="sync")
    post = abc.infer(20, tolerance=0.4, max_simulations=2000, batch_size=40, seed=5)
    return _posterior_record(post, "rejection_tol")


def case_smc() -> tuple[dict, dict]:
    """SMC-ABC: 40 particles, 4 rounds, adaptive (MAD-scaled) distance, batches of 40, seed 4."""
    from sciope_abs.distances import Adaptive
    from sciope_abs.inference import SMCABC

    sim, prior, summary, observed = _toggle_problem()
    smc = SMCABC(sim, prior, summary, Adaptive(), observed=observed, n_traj=4, client="sync")
    post = smc.infer(40, max_rounds=4, max_simulations=3000, batch_size=40, seed=4)
    arrays, meta = _posterior_record(post, "smc")
    arrays["smc_round_tolerances"] = np.array([h["tolerance"] for h in post.history], dtype=float)
    arrays["smc_round_simulations"] = np.array([h["n_simulations"] for h in post.history], dtype=np.int64)
    return arrays, meta


def case_dataset() -> tuple[dict, dict]:
    """A toggle-switch AbstractionDataset: 8 settings x 3 trajectories x 6 steps, one varied rate, seed 5."""
    from sciope_abs.abstraction.dataset import build_dataset

    ds = build_dataset("toggle_switch", n_settings=8, n_traj=3, dt=0.5, n_steps=6, vary_params=("alpha1",),
                       seed=5, client="sync", progress=False)
    arrays = {"dataset_traces": np.asarray(ds.traces), "dataset_initial_states": np.asarray(ds.initial_states),
              "dataset_rates": np.asarray(ds.rates)}
    for split in ("train", "val", "test"):
        arrays[f"dataset_split_{split}"] = np.asarray(ds.split_index(split), dtype=np.int64)
    x, y = ds.pairs("train")
    arrays["dataset_train_x"], arrays["dataset_train_y"] = np.asarray(x), np.asarray(y)
    return arrays, {"dataset_species": list(ds.species), "dataset_vary_params": list(ds.vary_params)}


def _small_dataset():
    from sciope_abs.abstraction.dataset import build_dataset

    return build_dataset("toggle_switch", n_settings=12, n_traj=4, dt=0.5, n_steps=5, vary_params=("alpha1",),
                         seed=7, client="sync", progress=False)


def train_small_emulator():
    """An emulator trained for seed 0 with tiny sizes (2 epochs, one hidden layer of 8)."""
    from sciope_abs.abstraction.training import train

    return train(_small_dataset(), hidden=(8,), n_components=2, epochs=2, batch_size=64, seed=0,
                 progress=False, discrete=None)


ROLLOUT_STATES = np.array([[3, 12], [10, 10], [0, 0]])
ROLLOUT_RATES = np.array([[0.5], [1.0], [1.8]])


def emulator_rollouts(emu) -> dict:
    """Rollouts of ``emu``: 3 settings x 5 trajectories x 6 steps (compiled and stepwise, seed 21) and
    ``simulate`` of 2 points x 3 trajectories (seed 22)."""
    out = {}
    for method in ("compiled", "stepwise"):
        out[f"rollout_{method}"] = emu.rollout(ROLLOUT_STATES, ROLLOUT_RATES, n_steps=6, n_traj=5, seed=21,
                                               method=method)
    out["simulate"] = emu.simulate(np.array([[0.7], [1.4]]), n_traj=3, seed=22)
    return out


def case_saved_emulator() -> tuple[dict, dict]:
    """Rollouts of the saved emulator in ``emulator/`` (loaded with safe_mode)."""
    from sciope_abs.abstraction import Emulator

    emu = Emulator.load(EMULATOR_DIR)
    return {f"saved_emulator_{k}": v for k, v in emulator_rollouts(emu).items()}, {}


def case_trained_emulator() -> tuple[dict, dict]:
    """Rollouts of an emulator trained for a seed in this process (see ``train_small_emulator``)."""
    emu = train_small_emulator()
    return {f"trained_emulator_{k}": v for k, v in emulator_rollouts(emu).items()}, {}


def case_designs() -> tuple[dict, dict]:
    """Seeded points of every design on a 3-parameter prior (uniform, log-uniform, normal)."""
    from sciope_abs.designs import Halton, LatinHypercube, RandomDesign, Sobol
    from sciope_abs.priors import JointPrior, LogUniform, Normal, Uniform

    prior = JointPrior({"a": Uniform(0.0, 2.0), "b": LogUniform(0.01, 10.0), "c": Normal(1.0, 0.5)})
    arrays = {"prior_sample": prior.sample(7, np.random.default_rng(9))}
    for name, cls in (("lhs", LatinHypercube), ("sobol", Sobol), ("halton", Halton), ("random", RandomDesign)):
        arrays[f"design_{name}"] = cls(prior).generate(8, seed=13)
    return arrays, {}


def case_sweep() -> tuple[dict, dict]:
    """A Sweep of the toggle switch over a 6-point Latin hypercube, 2 trajectories, seed 17."""
    from sciope_abs.designs import LatinHypercube
    from sciope_abs.exploration import Sweep

    sim, prior, summary, _ = _toggle_problem()
    sweep = Sweep(sim, LatinHypercube(prior), summary, n_traj=2, seed=17, client="sync")
    sweep.run(6)
    return {"sweep_theta": np.asarray(sweep.theta), "sweep_features": np.asarray(sweep.features)}, {}


CASES = {
    "observed": case_observed, "rejection": case_rejection, "rejection_tolerance": case_rejection_tolerance,
    "smc": case_smc, "dataset": case_dataset, "saved_emulator": case_saved_emulator,
    "trained_emulator": case_trained_emulator, "designs": case_designs, "sweep": case_sweep,
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-emulator", action="store_true", help="retrain and overwrite emulator/")
    args = parser.parse_args(argv)
    import sciope_abs
    print(f"sciope_abs from {sciope_abs.__file__}")
    if args.new_emulator or not (EMULATOR_DIR / "model.keras").exists():
        import shutil
        shutil.rmtree(EMULATOR_DIR, ignore_errors=True)
        train_small_emulator().save(EMULATOR_DIR)
    arrays, meta = {}, {}
    for name, case in CASES.items():
        a, m = case()
        arrays.update(a)
        meta[name] = m
    np.savez(NPZ, **arrays)
    JSON.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(arrays)} arrays to {NPZ.name}, {JSON.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
