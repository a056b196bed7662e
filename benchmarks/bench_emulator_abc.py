"""The emulator inside SMC-ABC at batch speed (issue 18 item 3), on the genetic toggle switch.

Setup: three rates varied (alpha1, alpha2, mu), 25 steps of dt = 2, a small MLP emulator trained
here on a small SSA dataset (a minute or two), observed = 20 SSA trajectories at the defaults,
summaries mean + std of U and V, adaptive distance, 300 particles, 20 trajectories per proposal,
5 rounds, all in-process (``client="sync"``, the same process for every run).

Measured side by side in one run:

* the emulator's **large-batch rate**: state-steps per second (trajectories x steps) of one
  ``simulate`` call on 5000 points x 20 trajectories (10^5 trajectories), after a warm-up call;
* SMC-ABC driven by the emulator with ``batch_size="auto"`` (the emulator's
  ``preferred_batch_size``: a round's expected need per call) and with the old auto rule
  (``n_particles / 10`` = 30 proposals per call), each one's state-steps per second of the whole
  inference (simulations x trajectories x steps / wall time, so the ABC bookkeeping counts against
  it);
* the same SMC-ABC with the exact compiled SSA.

Writes, by read-modify-write of only its own keys, ``benchmarks/results/performance.json``:
``emulator_abc_rate_over_batch_rate`` (inside-ABC rate / large-batch rate, goal >= 0.5),
``emulator_abc_smc_emulator_over_ssa`` (emulator-driven / exact SMC wall time, goal <= 1) and
``emulator_abc`` (the details).  The machine is shared: the load average is recorded.

Usage: python benchmarks/bench_emulator_abc.py [--quick]
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

from sciope_abs.crn import load_model  # noqa: E402
from sciope_abs.distances import Adaptive  # noqa: E402
from sciope_abs.inference import SMCABC  # noqa: E402
from sciope_abs.priors import JointPrior, Uniform  # noqa: E402
from sciope_abs.simulators import FastSSASimulator  # noqa: E402
from sciope_abs.summaries import Mean, Std  # noqa: E402

VARY = ["alpha1", "alpha2", "mu"]
OWN_KEYS = ("emulator_abc_rate_over_batch_rate", "emulator_abc_smc_emulator_over_ssa", "emulator_abc")


def update_performance(path: Path, values: dict) -> None:
    """Read-modify-write of only ``values``' keys (other benchmarks own the other keys)."""
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(values)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def train_emulator(model, n_steps: int, dt: float, quick: bool):
    from sciope_abs.abstraction import build_dataset, train

    t0 = time.perf_counter()
    ds = build_dataset(model, n_settings=40 if quick else 120, n_traj=10 if quick else 20, dt=dt, n_steps=n_steps,
                       vary_params=VARY, seed=0, client="sync", progress=False)
    emu = train(ds, hidden=(32, 32), n_components=3, epochs=10 if quick else 40, seed=0, progress=False)
    return emu, time.perf_counter() - t0


def batch_rate(emu, prior, n_points: int, n_traj: int) -> dict:
    theta = prior.sample(n_points, seed=3)
    emu.simulate(theta[:64], n_traj=n_traj, seed=1)  # warm-up (graph tracing)
    t0 = time.perf_counter()
    emu.simulate(theta, n_traj=n_traj, seed=2)
    sec = time.perf_counter() - t0
    return {"points": n_points, "n_traj": n_traj, "seconds": sec,
            "state_steps_per_second": n_points * n_traj * emu.n_steps / sec}


def smc_run(sim, prior, summary, obs, args, batch_size) -> tuple[dict, object]:
    smc = SMCABC(sim, prior, summary, Adaptive(), observed=obs, n_traj=args.n_traj, client="sync")
    t0 = time.perf_counter()
    post = smc.infer(args.particles, max_rounds=args.rounds, seed=2, batch_size=batch_size)
    sec = time.perf_counter() - t0
    steps = post.n_simulations * args.n_traj * (len(sim.timespan) - 1)
    return {"seconds": sec, "n_simulations": post.n_simulations, "batch_size": batch_size,
            "state_steps_per_second": steps / sec, "posterior_mean": post.mean().tolist(),
            "posterior_std": post.std().tolist(), "message": post.message}, post


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--particles", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n-traj", type=int, default=20)
    ap.add_argument("--out", default=str(HERE / "results" / "performance.json"))
    args = ap.parse_args()
    if args.quick:
        args.particles, args.rounds = 60, 3
    model = load_model("toggle_switch")
    n_steps, dt = 25, 2.0
    emu, train_s = train_emulator(model, n_steps, dt, args.quick)
    ssa = FastSSASimulator(model, param_names=VARY, timespan=np.asarray(emu.timespan))
    truth = np.array([model.parameters[p] for p in VARY])
    prior = JointPrior({p: Uniform(*model.rate_ranges[p]) for p in VARY})
    obs = ssa.simulate(truth[None], n_traj=20, seed=1)[0]
    summary = Mean(species=("U", "V")) + Std(species=("U", "V"))
    load0 = os.getloadavg()
    batch = batch_rate(emu, prior, 1000 if args.quick else 5000, args.n_traj)
    small_bs = int(np.clip(int(np.ceil(args.particles / 10)), 10, 500))
    emu_auto, p_emu = smc_run(emu, prior, summary, obs, args, "auto")
    emu_small, _ = smc_run(emu, prior, summary, obs, args, small_bs)
    exact, p_ssa = smc_run(ssa, prior, summary, obs, args, "auto")
    ratio = emu_auto["state_steps_per_second"] / batch["state_steps_per_second"]
    detail = {"setup": {"model": "toggle_switch", "vary": VARY, "n_steps": n_steps, "dt": dt,
                        "n_particles": args.particles, "n_traj": args.n_traj, "max_rounds": args.rounds,
                        "client": "sync", "quick": args.quick, "emulator": "MLP (32, 32), 3 components",
                        "preferred_batch_size": getattr(emu, "preferred_batch_size", None)},
              "train_seconds": train_s, "large_batch": batch, "smc_emulator_auto": emu_auto,
              "smc_emulator_small_batches": emu_small, "smc_exact_ssa": exact,
              "small_batches_rate_over_batch_rate": emu_small["state_steps_per_second"]
              / batch["state_steps_per_second"],
              "posterior_mean_difference_over_ssa_sd": ((p_emu.mean() - p_ssa.mean()) / p_ssa.std()).tolist(),
              "loadavg_before": list(load0), "loadavg_after": list(os.getloadavg()), "cpus": os.cpu_count(),
              "python": platform.python_version(),
              "note": "2-core machine shared by other jobs (see loadavg): timings are noisy"}
    update_performance(Path(args.out), {
        "emulator_abc_rate_over_batch_rate": ratio,
        "emulator_abc_smc_emulator_over_ssa": emu_auto["seconds"] / exact["seconds"],
        "emulator_abc": detail})
    print(json.dumps({k: detail[k] for k in ("large_batch", "smc_emulator_auto", "smc_emulator_small_batches",
                                              "smc_exact_ssa")}, indent=1))
    print(f"emulator_abc_rate_over_batch_rate = {ratio:.3f}; emulator/SSA SMC time = "
          f"{emu_auto['seconds'] / exact['seconds']:.3f}")


if __name__ == "__main__":
    main()
