"""Compiled exact SSA: events per second of the faster methods vs the direct method (issue 18.4).

Writes ``benchmarks/results/ssa_speed.json`` with ``ssa_events_speedup_gene`` and
``ssa_events_speedup_egfr`` (the default kernel, ``method="auto"`` with its default ``lanes``,
over ``method="direct"``, the kernel as it was before the faster methods), plus every
variant's events/s, and merges those two keys into ``results/performance.json``.  Variants:
``direct``, ``unrolled`` (default lanes: two trajectories side by side up to 12 reactions),
``unrolled_1lane`` (the same kernel one trajectory at a time; only where the default has two
lanes; identical numbers, checked here), ``dependency`` and ``tree``.

Per model, all variants are compiled (or loaded from the disk cache) and warmed up first; then
``--rounds`` rounds each call every variant once, in an order that rotates between rounds, with
the same parameters, seed and trajectories.  Each call is timed by the process's CPU time
(``time.process_time``; the kernel is single-threaded) and by wall-clock time.  The headline
ratio is the median over rounds of the per-round ratio of CPU-time event rates: on the shared
2-core machine other jobs make wall-clock rates vary several-fold between consecutive calls,
while CPU time counts only the time the kernel actually ran; the wall-clock medians are kept
beside it.  Sizes are small on purpose: Gene's defaults on a shortened horizon t = 0..500 (26
grid points, ~0.5 M events per trajectory), 4 trajectories per call; EGFR's defaults on t = 0..50 (51 grid points, ~4000 events per
trajectory), 100 trajectories per call.  For Gene, the CPU seconds of two full default
trajectories (t = 0..10 000, 26 grid points) by the default and the direct kernel are kept
too.  Results are written after each model.

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
    "gene": (np.linspace(0.0, 500.0, 26), 4),
    "egfr": (np.linspace(0.0, 50.0, 51), 100),
}


def _machine() -> dict:
    import numba
    return {"python": platform.python_version(), "processor": platform.machine(), "cpus": os.cpu_count(),
            "numpy": np.__version__, "numba": numba.__version__,
            "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


def _variants(name: str) -> dict:
    """label -> FastSSASimulator keyword arguments (``unrolled_1lane`` only where the default
    ``unrolled`` kernel has two lanes)."""
    from sciope_abs.simulators.fast_ssa import resolve_lanes

    out: dict = {m: {"method": m} for m in METHODS}
    if resolve_lanes(name, "unrolled") == 2:
        out["unrolled_1lane"] = {"method": "unrolled", "lanes": 1}
    return out


def _timed(sim, theta, n_traj: int, seed: int) -> tuple[np.ndarray, int, float, float]:
    c0, w0 = time.process_time(), time.perf_counter()
    x = sim.simulate(theta, n_traj=n_traj, seed=seed)
    c1, w1 = time.process_time(), time.perf_counter()
    if not np.isfinite(x).all():
        raise RuntimeError(f"{sim!r}: NaN traces")
    return x, int(sim.last_events_.sum()), max(c1 - c0, 1e-9), max(w1 - w0, 1e-9)


def measure(name: str, rounds: int, seed: int = 1) -> dict:
    """Side-by-side event rates of every variant on model ``name``."""
    from sciope_abs.simulators.fast_ssa import FastSSASimulator, resolve_lanes, resolve_method

    ts, n_traj = CASES[name]
    variants = _variants(name)
    labels = tuple(variants)
    sims, load_s = {}, {}
    for v, kw in variants.items():
        t0 = time.perf_counter()
        sims[v] = FastSSASimulator(name, timespan=ts, **kw).compile()
        load_s[v] = time.perf_counter() - t0
    theta = np.array([[sims["direct"].model.parameters[p] for p in sims["direct"].param_names]])
    for sim in sims.values():  # warm-up (first call allocations, caches)
        sim.simulate(theta, n_traj=1, seed=seed + 1)
    cpu: dict = {v: [] for v in labels}
    wall: dict = {v: [] for v in labels}
    events: dict = {v: [] for v in labels}
    traces: dict = {}
    for r in range(rounds):
        for v in labels[r % len(labels):] + labels[:r % len(labels)]:
            x, ev, c, w = _timed(sims[v], theta, n_traj, seed)
            traces[v] = x
            events[v].append(ev)
            cpu[v].append(ev / c)
            wall[v].append(ev / w)
    auto = resolve_method(name)
    ratio_cpu = {v: float(np.median(np.array(cpu[v]) / np.array(cpu["direct"]))) for v in labels}
    ratio_wall = {v: float(np.median(np.array(wall[v]) / np.array(wall["direct"]))) for v in labels}
    res = {
        "auto_method": auto,
        "auto_lanes": resolve_lanes(name, auto),
        "speedup": ratio_cpu[auto],
        "speedup_wall_clock": ratio_wall[auto],
        "setting": {"timespan_end": float(ts[-1]), "grid_points": int(ts.size), "trajectories_per_call": n_traj,
                    "rounds": rounds, "seed": seed, "theta": "model defaults"},
        "events_per_call_mean": {v: float(np.mean(events[v])) for v in labels},
        "events_per_cpu_second_median": {v: float(np.median(cpu[v])) for v in labels},
        "events_per_wall_second_median": {v: float(np.median(wall[v])) for v in labels},
        "speedup_over_direct_cpu": ratio_cpu,
        "speedup_over_direct_wall": ratio_wall,
        "compile_or_load_seconds": load_s,
    }
    if "unrolled_1lane" in traces:
        res["unrolled_lanes_identical"] = bool(np.array_equal(traces["unrolled"], traces["unrolled_1lane"]))
        res["unrolled_2_lanes_over_1_lane_cpu"] = float(
            np.median(np.array(cpu["unrolled"]) / np.array(cpu["unrolled_1lane"])))
    if name == "gene":  # two full default trajectories each (the model's grid: t = 0..10 000, 26 points)
        full = {"auto": FastSSASimulator(name), "direct": FastSSASimulator(name, method="direct")}
        res["full_trajectory_cpu_seconds"], res["full_trajectory_events_mean"] = {}, {}
        for v, sim in full.items():
            _, ev, c, _ = _timed(sim.compile(), theta, 2, seed)
            res["full_trajectory_cpu_seconds"][v] = c / 2
            res["full_trajectory_events_mean"][v] = ev / 2
        res["full_trajectory_grid_end"] = float(full["auto"].timespan[-1])
    return res


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
        print(f"{name}: auto={res['auto_method']} (lanes {res['auto_lanes']}) speedup {res['speedup']:.2f}x (CPU time), "
              f"{res['speedup_wall_clock']:.2f}x (wall); events/CPU-s {res['events_per_cpu_second_median']}",
              flush=True)


if __name__ == "__main__":
    main()
