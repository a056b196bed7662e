"""Simulation speed: the figures of issue 2's Speed section, measured side by side in one run.

Writes ``benchmarks/results/simulate.json``.  The script is a list of measurement functions
(the list :data:`MEASUREMENTS`); each takes the shared options and returns ``{name: result}``, and the
results are merged into the one JSON file (entries of measurements not run this time are kept).
Adding a measurement is one function (with its own argparse options read via ``getattr``
(opts, name, default)`` if it needs any) plus one entry in :data:`MEASUREMENTS`.

Run: ``.venv/bin/python benchmarks/bench_simulate.py [--only NAME ...] [--points N]``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

# GillesPy2 builds with SCons from the venv: make it findable without activation
_BIN = os.path.dirname(sys.executable)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")

OUT = Path(__file__).resolve().parent / "results" / "simulate.json"


def _machine() -> dict:
    import gillespy2
    return {"python": platform.python_version(), "processor": platform.machine(), "cpus": os.cpu_count(),
            "numpy": np.__version__, "gillespy2": gillespy2.__version__,
            "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


# --------------------------------------------------------------------------- measurements
def wrapper_overhead(opts: argparse.Namespace) -> dict:
    """GillespySimulator vs the same calls on one reused GillesPy2 SSACSolver (variable=True).

    Toggle switch, ``opts.points`` parameter points x 1 trajectory on the model's grid
    (101 time points).  Both sides are warm (compiled) before timing; rounds alternate between
    them and the median round is reported.  ``compilations`` counts GillesPy2 builds
    (``BuildEngine.build_simulation`` calls) made by the wrapper during the whole run,
    warm-up included.
    """
    import gillespy2
    from gillespy2.solvers.cpp.build.build_engine import BuildEngine

    from sciope_abs.crn import load_model
    from sciope_abs.seeding import int_seed, point_seeds
    from sciope_abs.simulators import GillespySimulator
    from sciope_abs.simulators.gillespy import solver_cache_info
    from sciope_abs.simulators.gillespy_model import to_gillespy_model

    crn = load_model("toggle_switch")
    n = int(opts.points)
    rng = np.random.default_rng(0)
    names = list(crn.rate_ranges)
    lo = np.array([crn.rate_ranges[p][0] for p in names])
    hi = np.array([crn.rate_ranges[p][1] for p in names])
    theta = lo + (hi - lo) * rng.random((n, len(names)))
    seeds = [int_seed(s) or 1 for s in point_seeds(1, n)]
    x0 = crn.default_initial_state()

    builds = {"n": 0}
    original = BuildEngine.build_simulation

    def counting(self, *a, **kw):
        builds["n"] += 1
        return original(self, *a, **kw)

    BuildEngine.build_simulation = counting
    try:
        # the wrapper: constructed, compiled on first use, then reused
        sim = GillespySimulator(crn)
        t0 = time.perf_counter()
        sim.simulate(theta[:1], seed=1)
        wrapper_compile_s = time.perf_counter() - t0
        wrapper_builds = builds["n"]

        # the direct baseline: one SSACSolver, variable=True, the same 200 runs
        builds["n"] = 0
        t0 = time.perf_counter()
        direct = gillespy2.SSACSolver(model=to_gillespy_model(crn), variable=True)
        direct_compile_s = time.perf_counter() - t0
        direct_builds = builds["n"]
        init = dict(zip(crn.species, map(int, x0)))

        def run_direct():
            out = np.empty((n, 1, len(crn.species), len(sim.timespan)))
            for i in range(n):
                res = direct.run(variables={**crn.parameters, **dict(zip(names, theta[i])), **init},
                                 seed=seeds[i], number_of_trajectories=1)
                for k, s in enumerate(crn.species):
                    out[i, 0, k] = res[0][s]
            return out

        def run_wrapper():
            return sim.simulate(theta, n_traj=1, seed=1)

        builds["n"] = 0
        t_wrap, t_direct = [], []
        for _ in range(int(opts.rounds)):
            t0 = time.perf_counter()
            xw = run_wrapper()
            t_wrap.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            xd = run_direct()
            t_direct.append(time.perf_counter() - t0)
        wrapper_builds += builds["n"]
    finally:
        BuildEngine.build_simulation = original

    same = bool(np.array_equal(xw, xd))  # same seeds -> the very same traces
    wrap_s, direct_s = float(np.median(t_wrap)), float(np.median(t_direct))
    return {"wrapper_overhead": {
        "model": "toggle_switch", "n_points": n, "n_traj": 1, "time_points": len(sim.timespan),
        "rounds": int(opts.rounds),
        "wrapper_seconds_median": wrap_s, "direct_seconds_median": direct_s,
        "wrapper_seconds_all": t_wrap, "direct_seconds_all": t_direct,
        "ratio_wrapper_over_direct": wrap_s / direct_s, "goal_ratio": 1.2,
        "per_point_ms_wrapper": 1e3 * wrap_s / n, "per_point_ms_direct": 1e3 * direct_s / n,
        "compilations_wrapper": wrapper_builds, "goal_compilations": 1,
        "compilations_direct": direct_builds,
        "solver_cache_info": solver_cache_info(),
        "compile_seconds_wrapper": wrapper_compile_s, "compile_seconds_direct": direct_compile_s,
        "identical_traces": same,
    }}


# --------------------------------------------------------------------------- fast SSA (issue 3)
def _direct_ssa_solver(crn, timespan):
    """One reused GillesPy2 SSACSolver (variable=True) on ``timespan``: the exact-SSA baseline."""
    import gillespy2

    from sciope_abs.simulators.gillespy_model import to_gillespy_model
    return gillespy2.SSACSolver(model=to_gillespy_model(crn, timespan), variable=True)


def fast_ssa_per_call(opts: argparse.Namespace) -> dict:
    """Per-call cost: ``FastSSASimulator`` vs a reused GillesPy2 ``SSACSolver`` (variable=True).

    Toggle switch on its grid (101 time points, t = 0..50), ``opts.calls`` calls of one
    parameter point x 1 trajectory each (the ABC pattern), the same parameter points on both
    sides.  Both are warm (compiled, one call made) before timing; ``opts.rounds_calls`` rounds
    alternate between them and the median is reported.
    """
    from sciope_abs.crn import load_model
    from sciope_abs.seeding import int_seed, point_seeds
    from sciope_abs.simulators import FastSSASimulator

    crn = load_model("toggle_switch")
    n = int(getattr(opts, "calls", 1000))
    names = list(crn.rate_ranges)
    theta = crn.sample_rates(n, names, seed=0)
    seeds = [int_seed(s) or 1 for s in point_seeds(1, n)]
    init = dict(zip(crn.species, map(int, crn.default_initial_state())))

    fast = FastSSASimulator(crn)
    t0 = time.perf_counter()
    fast.compile()
    fast_load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    direct = _direct_ssa_solver(crn, fast.timespan)
    direct_compile_s = time.perf_counter() - t0
    fast.simulate(theta[:1], seed=1)
    direct.run(variables={**crn.parameters, **init}, seed=1, number_of_trajectories=1)

    def run_fast():
        for i in range(n):
            fast.simulate(theta[i:i + 1], n_traj=1, seed=i)

    def run_direct():
        for i in range(n):
            direct.run(variables={**crn.parameters, **dict(zip(names, theta[i])), **init},
                       seed=seeds[i], number_of_trajectories=1)

    t_fast, t_direct = [], []
    for _ in range(int(getattr(opts, "rounds_calls", 3))):
        t0 = time.perf_counter()
        run_fast()
        t_fast.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        run_direct()
        t_direct.append(time.perf_counter() - t0)
    f, d = float(np.median(t_fast)), float(np.median(t_direct))
    return {"fast_ssa_per_call": {
        "model": "toggle_switch", "calls": n, "n_traj": 1, "time_points": int(fast.timespan.size),
        "fast_us_per_call": 1e6 * f / n, "gillespy2_ssa_us_per_call": 1e6 * d / n,
        "fast_seconds_all": t_fast, "gillespy2_seconds_all": t_direct,
        "speedup": d / f, "goal_speedup": 20.0,
        "fast_kernel_load_seconds": fast_load_s, "gillespy2_compile_seconds": direct_compile_s,
    }}


def fast_ssa_gene_throughput(opts: argparse.Namespace) -> dict:
    """Throughput on Gene: ``FastSSASimulator`` vs a reused GillesPy2 ``SSACSolver``.

    Default parameters and initial state, a short horizon (``opts.gene_horizon`` time units,
    26 grid points; the paper's horizon is 10000), ``opts.gene_traj`` trajectories in one call
    on each side, ``opts.rounds_gene`` alternating rounds, median reported.  Events are counted
    by the fast kernel; GillesPy2's events/s uses the same mean events per trajectory (the two
    are statistically equivalent, see tests/test_fast_ssa.py).
    """
    from sciope_abs.crn import load_model
    from sciope_abs.simulators import FastSSASimulator

    crn = load_model("gene")
    horizon = float(getattr(opts, "gene_horizon", 1000.0))
    r = int(getattr(opts, "gene_traj", 10))
    ts = np.linspace(0.0, horizon, 26)
    fast = FastSSASimulator(crn, timespan=ts)
    theta = np.array([[crn.parameters[p] for p in fast.param_names]])
    direct = _direct_ssa_solver(crn, ts)
    init = dict(zip(crn.species, map(int, crn.default_initial_state())))
    fast.simulate(theta, n_traj=1, seed=0)
    direct.run(variables={**crn.parameters, **init}, seed=1, number_of_trajectories=1)

    t_fast, t_direct, events = [], [], []
    for k in range(int(getattr(opts, "rounds_gene", 3))):
        t0 = time.perf_counter()
        fast.simulate(theta, n_traj=r, seed=100 + k)
        t_fast.append(time.perf_counter() - t0)
        events.append(int(fast.last_events_.sum()))
        t0 = time.perf_counter()
        direct.run(variables={**crn.parameters, **init}, seed=100 + k, number_of_trajectories=r)
        t_direct.append(time.perf_counter() - t0)
    f, d = float(np.median(t_fast)), float(np.median(t_direct))
    ev_per_traj = float(np.mean(events)) / r
    return {"fast_ssa_gene_throughput": {
        "model": "gene", "horizon": horizon, "time_points": int(ts.size), "n_traj": r,
        "events_per_trajectory": ev_per_traj,
        "fast_trajectories_per_s": r / f, "gillespy2_trajectories_per_s": r / d,
        "fast_events_per_s": ev_per_traj * r / f, "gillespy2_events_per_s_estimated": ev_per_traj * r / d,
        "fast_seconds_all": t_fast, "gillespy2_seconds_all": t_direct,
        "speedup": d / f, "goal_speedup": 3.0,
        "fast_update_mode": "full (6 reactions, straight-line propensities)",
    }}


#: the measurements, run in this order; each returns {result key: dict}, merged into simulate.json
def dask_throughput(opts: argparse.Namespace) -> dict:
    """Gene, 200 points x 100 trajectories: ``simulate_parallel`` on 2 local workers vs serial
    (GillesPy2 SSA); the measurement lives in ``simulate_dask.py`` (options ``dask_points``,
    ``dask_traj``, ``dask_horizon``, ``dask_workers`` read with defaults 200, 100, 10, 2)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from simulate_dask import dask_throughput as measure

    return measure(opts)


MEASUREMENTS: list[Callable[[argparse.Namespace], dict]] = [
    wrapper_overhead,
    fast_ssa_per_call,
    fast_ssa_gene_throughput,
    dask_throughput,
]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    by_name = {fn.__name__: fn for fn in MEASUREMENTS}
    ap.add_argument("--only", nargs="*", choices=sorted(by_name), help="run only these measurements")
    ap.add_argument("--points", type=int, default=200, help="parameter points (default 200)")
    ap.add_argument("--rounds", type=int, default=5, help="alternating timing rounds (default 5)")
    opts = ap.parse_args(argv)
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    for name in opts.only or list(by_name):
        t0 = time.perf_counter()
        res = by_name[name](opts)
        print(f"{name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        results.update(res)
    results["machine"] = _machine()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
