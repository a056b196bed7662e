"""Active learning vs random batches on the toggle switch (bistability), side by side.

For each seed: a pool of ``POOL`` Latin-hypercube points is simulated; 5 % of it is labelled by
the automatic bistability labeller (the stand-in for a person). Then ``ROUNDS`` batches of
``BATCH`` new points are added either by ``sweep.suggest`` (entropy) or uniformly from the
prior; every new point is labelled by the labeller; after each round label spreading predicts
the pool's unlabelled points and its accuracy is recorded. Reported: accuracy against the
number of labels for both strategies (mean over seeds) and the labels needed to reach
``TARGET`` accuracy.

Run: ``python benchmarks/bench_exploration.py`` (writes benchmarks/results/exploration.json).
"""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np

from sciope_abs.designs import LatinHypercube
from sciope_abs.exploration import Sweep, bistability_labels
from sciope_abs.priors import JointPrior, Uniform
from sciope_abs.simulators import FastSSASimulator
from sciope_abs.summaries import AutoCorrelation, CrossCorrelation, Mean, Quantiles, Std

POOL, FRACTION, BATCH, ROUNDS, N_TRAJ = 400, 0.05, 10, 6, 8
SEEDS = (0, 1, 2)
TARGET = 0.85
SP = ("U", "V")


def make():
    prior = JointPrior({"alpha1": Uniform(1, 30), "alpha2": Uniform(1, 30), "beta": Uniform(0.5, 3),
                        "gamma": Uniform(0.5, 3)})
    sim = FastSSASimulator("toggle_switch", param_names=prior.names, species=SP)
    summary = (Mean(species=SP) + Std(species=SP) + Quantiles(species=SP) + AutoCorrelation(species=SP)
               + CrossCorrelation(species=SP))
    return prior, sim, summary


def run_strategy(strategy: str, seed: int) -> list[tuple[int, float]]:
    prior, sim, summary = make()
    sweep = Sweep(sim, LatinHypercube(prior), summary, n_traj=N_TRAJ, seed=seed, client="sync").run(POOL)
    truth = list(bistability_labels(sweep.traces))
    rng = np.random.default_rng(1000 + seed)
    first = rng.choice(POOL, int(FRACTION * POOL), replace=False)
    for i in first:
        sweep.label([i], int(truth[i]))
    evaluate = np.setdiff1d(np.arange(POOL), first)
    curve = []
    for rnd in range(ROUNDS + 1):
        res = sweep.spread(seed=rnd)
        acc = float(np.mean(res.predictions[evaluate] == np.asarray(truth)[evaluate]))
        curve.append((int((sweep.labels >= 0).sum()), acc))
        if rnd == ROUNDS:
            break
        if strategy == "active":
            theta = sweep.suggest(BATCH, strategy="entropy", seed=seed * 100 + rnd)
        else:
            theta = prior.sample(BATCH, seed=np.random.SeedSequence([seed, rnd, 7]))
        new = sweep.extend(theta=theta)
        y = bistability_labels(sweep.traces[new])
        truth.extend(int(v) for v in y)
        for i, v in zip(new, y):
            if v >= 0:
                sweep.label([int(i)], int(v))
    return curve


def labels_to_target(curve):
    for n, acc in curve:
        if acc >= TARGET:
            return n
    return None


def main() -> None:
    t0 = time.time()
    out = {"model": "toggle_switch", "label": "bistability", "pool": POOL, "initial_fraction": FRACTION,
           "batch": BATCH, "rounds": ROUNDS, "n_traj": N_TRAJ, "seeds": list(SEEDS), "target_accuracy": TARGET,
           "runs": {}}
    for strategy in ("active", "random"):
        curves = [run_strategy(strategy, s) for s in SEEDS]
        out["runs"][strategy] = {
            "curves": curves,
            "mean_accuracy": [float(np.mean([c[k][1] for c in curves])) for k in range(ROUNDS + 1)],
            "labels": [c[0] for c in curves[0]],
            "labels_to_target": [labels_to_target(c) for c in curves],
        }
        print(strategy, np.round(out["runs"][strategy]["mean_accuracy"], 3), out["runs"][strategy]["labels_to_target"])
    a, r = out["runs"]["active"]["mean_accuracy"], out["runs"]["random"]["mean_accuracy"]
    out["final_accuracy_gain"] = a[-1] - r[-1]
    out["mean_accuracy_gain_over_rounds"] = float(np.mean(np.subtract(a[1:], r[1:])))
    out["seconds"] = time.time() - t0
    out["machine"] = {"python": platform.python_version(), "processor": platform.machine()}
    path = Path(__file__).parent / "results" / "exploration.json"
    path.write_text(json.dumps(out, indent=1))
    print("wrote", path)


if __name__ == "__main__":
    main()
