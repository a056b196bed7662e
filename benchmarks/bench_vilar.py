"""The Vilar oscillator case study (issue 16): Sciope's 15-parameter bounds, strong and weak scaling.

1. **Behaviour over the bounds**: ``--behaviour-points`` Latin-hypercube points over Sciope's
   inference prior (``sciope_abs.crn.library.vilar``, the bounds of Sciope's
   ``vilar_inference.ipynb``), 2 SSA trajectories each on linspace(0, 200, 401), labelled by
   ``oscillation_labels`` on the repressor R: the fraction oscillating and not.
2. **Strong scaling** (Sciope's headline): the same ``--points`` (1000) parameter points x 1
   trajectory on linspace(0, 100, 101), ``simulate_parallel`` on a LocalCluster of 1 and of 2
   workers (each warmed: kernel compiled / loaded before timing); speed-up = t1 / t2.
3. **Weak scaling of ABC rejection**: infer (delta_r, gamma_c) with the 13 other rates at their
   defaults from 20 synthetic trajectories; mean, std and lag-1/2 autocorrelation of C, A, R;
   adaptive distance; quantile 0.1 with ``25 x workers`` accepted samples (so ``250 x workers``
   simulations) on 1 and 2 workers; ideal weak scaling keeps the wall time constant
   (efficiency = t1 / t2).

The machine is shared (the load average is recorded next to every timing). Results are written
after every case to ``results/vilar.json``.

    python benchmarks/bench_vilar.py [--points 1000] [--behaviour-points 200] [--quick]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

OUT = HERE / "results" / "vilar.json"
SPECIES = ["C", "A", "R"]
ABC_PARAMS = ["delta_r", "gamma_c"]


def _load() -> list:
    return [round(v, 2) for v in os.getloadavg()]


def _warm(sim, theta):
    sim.simulate(theta, n_traj=1, seed=0)
    return os.getpid()


def behaviour(n: int) -> dict:
    from sciope_abs.crn import load_model
    from sciope_abs.designs import LatinHypercube
    from sciope_abs.exploration import oscillation_labels
    from sciope_abs.priors import JointPrior, Uniform
    from sciope_abs.simulators import FastSSASimulator

    crn = load_model("vilar")
    names = list(crn.rate_ranges)
    prior = JointPrior({p: Uniform(*crn.rate_ranges[p]) for p in names})
    sim = FastSSASimulator(crn, param_names=names, species=SPECIES, timespan=np.linspace(0, 200, 401))
    theta = LatinHypercube(prior).generate(n, seed=1)
    t0 = time.perf_counter()
    x = sim.simulate(theta, n_traj=2, seed=1)
    lab = oscillation_labels(x, "R", species_names=SPECIES)
    truth = np.array([[crn.parameters[p] for p in names]])
    lab_truth = oscillation_labels(sim.simulate(truth, n_traj=4, seed=2), "R", species_names=SPECIES)
    return {"bounds": {p: list(crn.rate_ranges[p]) for p in names}, "n_points": n, "n_traj": 2,
            "timespan": [0, 200, 401], "n_oscillating": int((lab == 1).sum()), "n_not": int((lab == 0).sum()),
            "n_failed": int((lab < 0).sum()), "fraction_oscillating": float((lab == 1).mean()),
            "truth_oscillates": bool(lab_truth[0] == 1), "wall_time_s": time.perf_counter() - t0, "load": _load()}


def strong(n: int) -> dict:
    from sciope_abs.crn import load_model
    from sciope_abs.designs import LatinHypercube
    from sciope_abs.engine import close_clients, get_client, simulate_parallel
    from sciope_abs.priors import JointPrior, Uniform
    from sciope_abs.simulators import FastSSASimulator

    crn = load_model("vilar")
    names = list(crn.rate_ranges)
    prior = JointPrior({p: Uniform(*crn.rate_ranges[p]) for p in names})
    sim = FastSSASimulator(crn, param_names=names, species=SPECIES, timespan=np.linspace(0, 100, 101))
    theta = LatinHypercube(prior).generate(n, seed=3)
    out: dict = {"n_points": n, "n_traj": 1, "timespan": [0, 100, 101], "runs": {}}
    ref = None
    for w in (1, 2):
        close_clients()
        client = get_client(n_workers=w, verbose=False)
        client.run(_warm, sim, theta[:1])
        t0, load0 = time.perf_counter(), _load()
        x = simulate_parallel(sim, theta, n_traj=1, seed=5, client=client, progress=False)
        dt = time.perf_counter() - t0
        same = bool(ref is None or np.array_equal(x, ref, equal_nan=True))
        ref = x if ref is None else ref
        out["runs"][str(w)] = {"workers": w, "wall_time_s": dt, "points_per_s": n / dt, "same_as_1_worker": same,
                               "load_before": load0, "load_after": _load()}
        print("strong", w, dt, flush=True)
    close_clients()
    out["speedup_2_vs_1"] = out["runs"]["1"]["wall_time_s"] / out["runs"]["2"]["wall_time_s"]
    return out


def weak(per_worker: int) -> dict:
    from sciope_abs.crn import load_model
    from sciope_abs.distances import Adaptive
    from sciope_abs.engine import close_clients, get_client
    from sciope_abs.inference import ABCRejection
    from sciope_abs.priors import JointPrior, Uniform
    from sciope_abs.simulators import FastSSASimulator
    from sciope_abs.summaries import AutoCorrelation, Mean, Std

    crn = load_model("vilar")
    prior = JointPrior({p: Uniform(*crn.rate_ranges[p]) for p in ABC_PARAMS})
    sim = FastSSASimulator(crn, param_names=ABC_PARAMS, species=SPECIES, timespan=np.linspace(0, 100, 101))
    truth = np.array([[crn.parameters[p] for p in ABC_PARAMS]])
    obs = sim.simulate(truth, n_traj=20, seed=7)[0]
    summary = Mean(species=SPECIES) + Std(species=SPECIES) + AutoCorrelation(species=SPECIES)
    out: dict = {"params": ABC_PARAMS, "truth": truth[0].tolist(), "quantile": 0.1, "runs": {}}
    for w in (1, 2):
        close_clients()
        client = get_client(n_workers=w, verbose=False)
        client.run(_warm, sim, truth)
        n_acc = per_worker * w
        t0, load0 = time.perf_counter(), _load()
        post = ABCRejection(sim, prior, summary, Adaptive(), observed=obs, client=client).infer(
            n_acc, quantile=0.1, seed=11, batch_size=10)
        dt = time.perf_counter() - t0
        out["runs"][str(w)] = {"workers": w, "n_accepted": len(post), "n_simulations": post.n_simulations,
                               "wall_time_s": dt, "simulations_per_s": post.n_simulations / dt,
                               "posterior_mean": post.mean().tolist(), "posterior_std": post.std().tolist(),
                               "load_before": load0, "load_after": _load()}
        print("weak", w, dt, flush=True)
    close_clients()
    out["prior_std"] = prior.std().tolist() if hasattr(prior, "std") else None
    out["weak_efficiency_2_vs_1"] = out["runs"]["1"]["wall_time_s"] / out["runs"]["2"]["wall_time_s"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--behaviour-points", type=int, default=200)
    ap.add_argument("--per-worker", type=int, default=25)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cases", default="behaviour,strong,weak")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    if args.quick:
        args.points, args.behaviour_points, args.per_worker = 20, 10, 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    res = json.loads(out.read_text()) if out.exists() else {}
    res["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count()}
    for case in args.cases.split(","):
        if case == "behaviour":
            res["behaviour"] = behaviour(args.behaviour_points)
        elif case == "strong":
            res["strong_scaling"] = strong(args.points)
        elif case == "weak":
            res["weak_scaling"] = weak(args.per_worker)
        else:
            raise SystemExit(f"unknown case {case!r}; choose from behaviour, strong, weak")
        out.write_text(json.dumps(res, indent=1))
        print(case, "written", flush=True)


if __name__ == "__main__":
    main()
