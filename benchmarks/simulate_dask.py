"""Dask throughput (issue 2, Speed): Gene, 200 points x 100 trajectories, GillesPy2 SSA,
``simulate_parallel`` on a 2-worker local cluster vs one serial in-process call.

A measurement function for ``bench_simulate.py`` (its ``MEASUREMENTS`` list imports
:func:`dask_throughput`); run alone it merges its entry into ``results/simulate.json``::

    .venv/bin/python benchmarks/simulate_dask.py [--dask-points 200] [--dask-traj 100] [--dask-horizon 10]

Both sides are warm (the C++ solver compiled in this process and on every worker) before timing.
The serial side's CPU use (this process + its solver subprocesses, from ``os.times``) is
recorded to explain why the parallel speed-up stays below the number of cores.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

_BIN = os.path.dirname(sys.executable)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")

OUT = Path(__file__).resolve().parent / "results" / "simulate.json"


def _warm(sim, theta):
    """Compile (or load) the solver on a worker: one tiny simulation."""
    sim.simulate(theta, n_traj=1, seed=0)
    return os.getpid()


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def dask_throughput(opts: argparse.Namespace) -> dict:
    """Gene: ``simulate_parallel`` on 2 local workers vs a serial ``GillespySimulator.simulate`` call.

    ``opts.dask_points`` points (Sobol over Gene's variable rates) x ``opts.dask_traj``
    trajectories on a grid of 26 points up to ``opts.dask_horizon`` (the paper's horizon, 10000,
    costs ~2.5 s per trajectory: 200 x 100 of them would take hours serially).
    """
    from sciope_abs.crn import load_model
    from sciope_abs.designs import Sobol
    from sciope_abs.engine import close_clients, get_client, simulate_parallel
    from sciope_abs.priors import JointPrior, Uniform
    from sciope_abs.simulators import GillespySimulator

    n = int(getattr(opts, "dask_points", 200))
    r = int(getattr(opts, "dask_traj", 100))
    horizon = float(getattr(opts, "dask_horizon", 10.0))
    workers = int(getattr(opts, "dask_workers", 2))
    crn = load_model("gene")
    prior = JointPrior({p: Uniform(*crn.rate_ranges[p]) for p in crn.rate_ranges})
    theta = Sobol(prior).generate(n, seed=0)
    sim = GillespySimulator(crn, param_names=prior.names, timespan=np.linspace(0.0, horizon, 26), solver="ssa")

    _warm(sim, theta[:1])
    load_before = os.getloadavg()[0]
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    serial = sim.simulate(theta, n_traj=r, seed=7)
    serial_s = time.perf_counter() - t0
    serial_cpu = _cpu_seconds() - cpu0

    client = get_client(n_workers=workers, verbose=False)
    client.wait_for_workers(workers)
    pids = client.run(_warm, sim, theta[:1])
    t0 = time.perf_counter()
    par = simulate_parallel(sim, theta, n_traj=r, seed=7, client=client, progress=False)
    parallel_s = time.perf_counter() - t0
    close_clients()

    return {"dask_throughput": {
        "model": "gene", "solver": "GillesPy2 SSACSolver (GillespySimulator ssa)", "n_points": n, "n_traj": r,
        "horizon": horizon, "time_points": 26, "workers": workers, "worker_pids": sorted(pids.values()),
        "serial_seconds": serial_s, "parallel_seconds": parallel_s,
        "speedup_parallel_over_serial": serial_s / parallel_s,
        "trajectories_per_s_serial": n * r / serial_s, "trajectories_per_s_parallel": n * r / parallel_s,
        "serial_cpu_seconds_incl_solver_subprocesses": serial_cpu,
        "serial_cores_busy": serial_cpu / serial_s,
        "identical_results": bool(np.array_equal(serial, par, equal_nan=True)),
        "load_average_1min_before": load_before, "cores": os.cpu_count(),
    }}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dask-points", type=int, default=200)
    ap.add_argument("--dask-traj", type=int, default=100)
    ap.add_argument("--dask-horizon", type=float, default=10.0)
    ap.add_argument("--dask-workers", type=int, default=2)
    opts = ap.parse_args(argv)
    res = dask_throughput(opts)
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    results.update(res)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    return res


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
