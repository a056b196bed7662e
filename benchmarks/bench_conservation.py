"""Conservation laws in emulator rollouts: with the exact projection and without it.

For each model (the three-gene-state toy G1 + G2 + G3 = 2 of issue 12, and the library's X16 and
X40), an SSA dataset is built (60 settings x 20 trajectories) and a 64x64 MLP emulator trained; 10^4
trajectories are rolled out from fresh initial states (rates varied over their ranges), once with
the projection onto the conservation laws (the emulator as shipped) and once with it replaced by
rounding and clipping alone (what the network's draws give).  Written per model to
``results/conservation.json`` (keys: ``model``, ``laws``, ``n_traj``, ``n_steps``, ``cells``,
``violations_projected``, ``violations_unprojected``, ``fraction_unprojected``,
``projection_ms_per_step``, ``rollout_seconds``).

    python benchmarks/bench_conservation.py            # ~5 minutes on 2 busy cores
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from sciope_abs.abstraction.dataset import build_dataset
from sciope_abs.abstraction.training import train
from sciope_abs.crn import CRN, Reaction, load_model
from sciope_abs.crn.conservation import count_violations

OUT = Path(__file__).parent / "results" / "conservation.json"


def three_gene() -> CRN:
    r = [Reaction("s12", {"G1": 1}, {"G2": 1}, rate="k12"), Reaction("s23", {"G2": 1}, {"G3": 1}, rate="k23"),
         Reaction("s31", {"G3": 1}, {"G1": 1}, rate="k31"),
         Reaction("p1", {"G1": 1}, {"G1": 1, "P": 1}, rate="a1"),
         Reaction("p2", {"G2": 1}, {"G2": 1, "P": 1}, rate="a2"),
         Reaction("p3", {"G3": 1}, {"G3": 1, "P": 1}, rate="a3"), Reaction("deg", {"P": 1}, {}, rate="b")]
    return CRN("three_gene", ("G1", "G2", "G3", "P"),
               {"k12": 0.5, "k23": 0.5, "k31": 0.5, "a1": 5.0, "a2": 20.0, "a3": 50.0, "b": 1.0}, r,
               {"G1": 2, "G2": 0, "G3": 0, "P": 10}, initial_ranges={"P": (0, 60)},
               conserved_groups=[{"species": ("G1", "G2", "G3"), "total": 2, "sampling": "multinomial"}],
               rate_ranges={"a2": (10.0, 30.0), "a3": (30.0, 70.0)}, dt=0.5, n_steps=10, observed=("P",))


CASES = {"three_gene": (three_gene, ("a2", "a3")), "x16": (lambda: load_model("x16"), ("a11", "a21")),
         "x40": (lambda: load_model("x40"), ("a11", "b2"))}


def run_case(name: str, n_rollout: int = 10_000, seed: int = 0) -> dict:
    model, vary = CASES[name][0](), CASES[name][1]
    ds = build_dataset(model, n_settings=60, n_traj=20, vary_params=vary, seed=seed, client="sync", progress=False)
    emu = train(ds, hidden=(64, 64), n_components=4, epochs=30, seed=seed, progress=False)
    n_set, r = 100, n_rollout // 100
    init = model.sample_initial_states(n_set, seed=seed + 1)
    rates = model.sample_rates(n_set, vary, seed=seed + 2)
    timings = []
    real = emu.project

    def timed(*a, **k):
        t0 = time.perf_counter()
        out = real(*a, **k)
        timings.append(time.perf_counter() - t0)
        return out

    emu.project = timed
    t0 = time.perf_counter()
    x = emu.rollout(init, rates, n_traj=r, seed=seed + 3)
    seconds = time.perf_counter() - t0
    emu.project = lambda y, totals, noise=None, fallback=None: y      # rounding and clipping only
    raw = emu.rollout(init, rates, n_traj=r, seed=seed + 3)
    W = model.conservation_matrix
    cells = int(n_set * r * model.n_steps)
    bad_raw = count_violations(raw, W)
    return {"model": name, "laws": [str(law) for law in model.conservation_laws], "n_traj": n_set * r,
            "n_steps": model.n_steps, "cells": cells, "violations_projected": count_violations(x, W),
            "violations_unprojected": bad_raw, "fraction_unprojected": bad_raw / cells,
            "projection_ms_per_step": 1e3 * float(np.mean(timings)), "rollout_seconds": seconds}


def main() -> None:
    results = json.loads(OUT.read_text()) if OUT.is_file() else {"rows": []}
    done = {row["model"] for row in results["rows"]}
    for name in CASES:
        if name in done:
            continue
        results["rows"].append(run_case(name))
        OUT.write_text(json.dumps(results, indent=1))
        print(json.dumps(results["rows"][-1]))


if __name__ == "__main__":
    main()
