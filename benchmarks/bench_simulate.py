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


#: the measurements, run in this order; each returns {result key: dict}, merged into simulate.json
MEASUREMENTS: list[Callable[[argparse.Namespace], dict]] = [
    wrapper_overhead,
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
