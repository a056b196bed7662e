"""Compiled exact SSA: events per second of the faster methods vs the direct method (issue 18.4).

Writes ``benchmarks/results/ssa_speed.json`` with ``ssa_events_speedup_gene`` and
``ssa_events_speedup_egfr`` (the default method, ``method="auto"``, over ``method="direct"``,
the kernel as it was before the faster methods), plus every method's events/s.

Per model, all methods are compiled (or loaded from the disk cache) and warmed up first; then
``--rounds`` rounds each call every method once, in an order that rotates between rounds, with
the same parameters, seed and trajectories.  Each call is timed by the process's CPU time
(``time.process_time``; the kernel is single-threaded) and by wall-clock time.  The headline
ratio is the median over rounds of the per-round ratio of CPU-time event rates: on the shared
2-core machine other jobs make wall-clock rates vary several-fold between consecutive calls,
while CPU time counts only the time the kernel actually ran; the wall-clock medians are kept
beside it.  Sizes are small on purpose (Gene ~1 s per full trajectory today): Gene's defaults
on a shortened horizon t = 0..500 (26 grid points, ~0.7 M events per trajectory), 3
trajectories per call; EGFR's defaults on t = 0..50 (51 grid points, ~4000 events per
trajectory), 100 trajectories per call.  Results are written after each model.

Run: ``.venv/bin/python benchmarks/bench_ssa.py [--rounds 9] [--only gene egfr]``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "results" / "ssa_speed.json"
METHODS = ("direct", "unrolled", "dependency", "tree")
CASES = {  # model: (timespan, trajectories per call)
    "gene": (np.linspace(0.0, 500.0, 26), 3),
    "egfr": (np.linspace(0.0, 50.0, 51), 100),
}


def _machine() -> dict:
    import numba
    return {"python": platform.python_version(), "processor": platform.machine(), "cpus": os.cpu_count(),
            "numpy": np.__version__, "numba": numba.__version__,
            "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


def measure(name: str, rounds: int, seed: int = 1) -> dict:
    """Side-by-side event rates of every method on model ``name``."""
    from sciope_abs.simulators.fast_ssa import FastSSASimulator, resolve_method

    ts, n_traj = CASES[name]
    sims, load_s = {}, {}
    for m in METHODS:
        t0 = time.perf_counter()
        sims[m] = FastSSASimulator(name, timespan=ts, method=m).compile()
        load_s[m] = time.perf_counter() - t0
    theta = np.array([[sims["direct"].model.parameters[p] for p in sims["direct"].param_names]])
    for sim in sims.values():  # warm-up (first call allocations, caches)
        sim.simulate(theta, n_traj=1, seed=seed + 1)
    cpu = {m: [] for m in METHODS}
    wall = {m: [] for m in METHODS}
    events = {}
    for r in range(rounds):
        order = METHODS[r % len(METHODS):] + METHODS[:r % len(METHODS)]
        for m in order:
            c0, w0 = time.process_time(), time.perf_counter()
            x = sims[m].simulate(theta, n_traj=n_traj, seed=seed)
            c1, w1 = time.process_time(), time.perf_counter()
            if not np.isfinite(x).all():
                raise RuntimeError(f"{name}, method {m}: NaN traces")
            ev = int(sims[m].last_events_.sum())
            events.setdefault(m, []).append(ev)
            cpu[m].append(ev / max(c1 - c0, 1e-9))
            wall[m].append(ev / max(w1 - w0, 1e-9))
    auto = resolve_method(name)
    ratio_cpu = {m: float(np.median(np.array(cpu[m]) / np.array(cpu["direct"]))) for m in METHODS}
    ratio_wall = {m: float(np.median(np.array(wall[m]) / np.array(wall["direct"]))) for m in METHODS}
    return {
        "auto_method": auto,
        "speedup": ratio_cpu[auto],
        "speedup_wall_clock": ratio_wall[auto],
        "setting": {"timespan_end": float(ts[-1]), "grid_points": int(ts.size), "trajectories_per_call": n_traj,
                    "rounds": rounds, "seed": seed, "theta": "model defaults"},
        "events_per_call_mean": {m: float(np.mean(events[m])) for m in METHODS},
        "events_per_cpu_second_median": {m: float(np.median(cpu[m])) for m in METHODS},
        "events_per_wall_second_median": {m: float(np.median(wall[m])) for m in METHODS},
        "speedup_over_direct_cpu": ratio_cpu,
        "speedup_over_direct_wall": ratio_wall,
        "compile_or_load_seconds": load_s,
    }


def _merge_performance(keys: dict) -> None:
    """Read-modify-write of this benchmark's keys in results/performance.json (issue 18's summary)."""
    path = OUT.parent / "performance.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(keys)
    path.write_text(json.dumps(data, indent=1))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--only", nargs="*", choices=list(CASES), default=list(CASES))
    opts = ap.parse_args(argv)
    result = json.loads(OUT.read_text()) if OUT.exists() else {}
    for name in opts.only:
        res = measure(name, opts.rounds)
        result[name] = res
        result[f"ssa_events_speedup_{name}"] = res["speedup"]
        result["machine"] = _machine()
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        _merge_performance({f"ssa_events_speedup_{name}": res["speedup"]})
        print(f"{name}: auto={res['auto_method']} speedup {res['speedup']:.2f}x (CPU time), "
              f"{res['speedup_wall_clock']:.2f}x (wall); events/CPU-s {res['events_per_cpu_second_median']}",
              flush=True)


if __name__ == "__main__":
    main()
