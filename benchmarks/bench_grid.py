"""Grid of emulated honeybee cells (issue 17): fidelity vs the exact composite SSA, speed, scale.

1. Two single-agent emulators of ``bees`` with the same training budget (pairs, network, epochs):
   ``default`` — ``build_dataset`` with the model's initial ranges (Bee 0..29, P 0..14, no
   aggressive or dead bees at the start), and ``grid`` — ``build_grid_dataset``: empty,
   near-empty, pheromone-only, calm and wide cells, with pheromone exchanged between steps.
2. Fidelity on 3x3 and 5x5 grids (reflecting, hop rate ``D``): 10 bees per node and pheromone
   seeded at three nodes of a corner (the paper's layout), emulator-grid vs the exact SSA of
   ``compose_grid`` (GillesPy2's NumPy SSA: nothing to compile, and the colony fires only ~100
   events per trajectory); L1 histogram distances of the colony-level outputs (alive = calm +
   aggressive bees, aggressive, dead, total pheromone) and of the per-node counts (mean over
   nodes) at several times, each divided by the SSA self-distance (two independent SSA
   ensembles) -> ``l1_ratio``.
3. Speed: 10x10 grid, 10 bees per node, 100 time units (200 steps): emulator-grid vs exact SSA
   of the composite network (760 reactions) over the full horizon on a stated number of
   trajectories, scaled linearly to the emulator's count (``ssa_scaled``): GillesPy2's NumPy
   SSA, then the compiled in-process SSA (its one-off compilation is reported apart).
4. Scale: 100x100 nodes, wall time and peak memory (process RSS) of a 200-step rollout.

    python benchmarks/bench_grid.py [--quick] [--traj 500]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

from sciope_abs.crn import GridSpec, colony_totals, compose_grid, grid_initial_state, load_model  # noqa: E402

OUT = HERE / "results" / "grid.json"
RUNS = HERE.parent / "runs" / "bench_grid"
D = 0.2
OUTPUTS = ("alive", "aggressive", "dead", "pheromone")
log = logging.getLogger("bench_grid")


def save(res: dict) -> None:
    out = RUNS / "grid_quick.json" if res["config"]["tag"] == "quick" else OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))


def layout(spec: GridSpec) -> np.ndarray:
    R, C = spec.shape
    return grid_initial_state(spec, {"Bee": 10}, {"P": {(R - 1, C - 1): 5, (R - 2, C - 1): 1, (R - 1, C - 2): 1}})


def colony_outputs(traces: np.ndarray, spec: GridSpec) -> dict:
    """(r, N*S, T) -> output name -> (r, T)."""
    tot = colony_totals(traces, spec)
    return {"alive": tot[:, 0] + tot[:, 1], "aggressive": tot[:, 1], "dead": tot[:, 2], "pheromone": tot[:, 3]}


def train_emulators(cfg: dict, seed: int) -> dict:
    from sciope_abs.abstraction import Emulator, build_dataset, build_grid_dataset, train

    bees = load_model("bees")
    emus, info = {}, {}
    for design in ("default", "grid"):
        path = RUNS / f"emulator_{design}_{cfg['tag']}" if design == "default" else \
            RUNS / f"emulator_{design}_{cfg['tag']}_{cfg['grid_design_tag']}"
        t0 = time.perf_counter()
        if (path / "config.json").is_file():
            emus[design] = Emulator.load(path)
            card = emus[design].card
            info[design] = {"reused": str(path.relative_to(HERE.parent)), "n_train_pairs": card.get("n_train_pairs"),
                            "epochs_run": card["history"]["epochs_run"],
                            "best_val_loss": card["history"]["best_val_loss"]}
            continue
        if design == "default":
            ds = build_dataset(bees, cfg["train_settings"], cfg["train_traj"], n_steps=cfg["train_steps"],
                               seed=seed, client="sync", progress=False)
        else:
            ds = build_grid_dataset(bees, cfg["train_settings"] * cfg["train_traj"], cfg["train_steps"],
                                    seed=seed, **cfg["grid_design"])
        t1 = time.perf_counter()
        emu = train(ds, hidden=(64, 64), n_components=6, epochs=cfg["epochs"], patience=10, seed=seed + 1,
                    progress=False)
        emu.save(path)
        emus[design] = emu
        info[design] = {"dataset_s": t1 - t0, "train_s": time.perf_counter() - t1,
                        "n_train_pairs": int(len(ds.pairs("train")[0])),
                        "epochs_run": emu.card["history"]["epochs_run"],
                        "best_val_loss": emu.card["history"]["best_val_loss"]}
        log.info("trained %s: %s", design, info[design])
    return {"emulators": emus, "info": info}


def exact_simulator(g, timespan, solver: str):
    """The exact SSA of the composite network: GillesPy2's NumPy SSA (``numpy_ssa``, nothing to
    compile) or the compiled in-process kernel (``fast_ssa``, compiled once per structure)."""
    from sciope_abs.simulators import make_simulator

    return make_simulator(g, param_names=(), species=g.species, timespan=timespan, solver=solver)


def fidelity(emus: dict, shape, cfg: dict, seed: int) -> list[dict]:
    from sciope_abs.abstraction.grid import GridSimulator
    from sciope_abs.abstraction.histograms import histogram_distance

    bees = load_model("bees")
    spec = GridSpec(bees, shape, {"P": D})
    g = compose_grid(bees, shape, {"P": D})
    H, r, times = cfg["fid_steps"], cfg["traj"], cfg["fid_times"]
    x0 = layout(spec)
    ssa = exact_simulator(g, g.timespan(bees.dt, H), cfg["fid_solver"])
    t0 = time.perf_counter()
    a = ssa.simulate(np.zeros((1, 0)), n_traj=r, seed=seed, initial_state=x0)[0]
    b = ssa.simulate(np.zeros((1, 0)), n_traj=r, seed=seed + 1, initial_state=x0)[0]
    ssa_s = time.perf_counter() - t0
    ca, cb = colony_outputs(a, spec), colony_outputs(b, spec)
    N, S = spec.n_nodes, bees.n_species
    na, nb = a.reshape(r, N, S, H + 1), b.reshape(r, N, S, H + 1)
    rows = []
    for design, emu, absorbing in [(d, e, a) for d, e in emus.items() for a in ("emulate", "keep")]:
        sim = GridSimulator(emu, shape, {"P": D}, n_steps=H, absorbing=absorbing)
        t1 = time.perf_counter()
        e = sim.rollout(x0, None, n_traj=r, seed=seed + 2)[0]
        emu_s = time.perf_counter() - t1
        ce = colony_outputs(e, spec)
        ne = e.reshape(r, N, S, H + 1)
        bees_node = ne[:, :, :3].sum(axis=2)
        violations = float((bees_node != bees_node[..., :1]).mean())
        for t in times:
            for out in OUTPUTS:
                d, d0 = (histogram_distance(ce[out][:, t], ca[out][:, t]),
                         histogram_distance(cb[out][:, t], ca[out][:, t]))
                rows.append({"grid": f"{shape[0]}x{shape[1]}", "design": design, "absorbing": absorbing,
                             "output": out, "time": t * bees.dt,
                             "l1": d, "l1_self": d0, "l1_ratio": d / d0 if d0 > 0 else None,
                             "mean_emulator": float(ce[out][:, t].mean()), "mean_ssa": float(ca[out][:, t].mean())})
            for k, sp in enumerate(bees.species):
                d = np.mean([histogram_distance(ne[:, m, k, t], na[:, m, k, t]) for m in range(N)])
                d0 = np.mean([histogram_distance(nb[:, m, k, t], na[:, m, k, t]) for m in range(N)])
                rows.append({"grid": f"{shape[0]}x{shape[1]}", "design": design, "absorbing": absorbing,
                             "output": f"node_{sp}",
                             "time": t * bees.dt, "l1": float(d), "l1_self": float(d0),
                             "l1_ratio": float(d / d0) if d0 > 0 else None})
        for row in rows:
            if row["design"] == design and row["absorbing"] == absorbing and "n_traj" not in row:
                row.update({"n_traj": r, "emulator_s": emu_s, "ssa_s_two_ensembles": ssa_s,
                            "bee_conservation_violations": violations})
        log.info("fidelity %s %s %s done (%.1f s emulator, %.1f s SSA)", shape, design, absorbing, emu_s, ssa_s)
    return rows


def speed(emu, cfg: dict, seed: int, solver: str) -> list[dict]:
    from sciope_abs.abstraction.grid import GridSimulator

    bees = load_model("bees")
    shape, H = (10, 10), 200
    spec = GridSpec(bees, shape, {"P": D})
    g = compose_grid(bees, shape, {"P": D})
    x0 = layout(spec)
    ssa = exact_simulator(g, g.timespan(bees.dt, H), solver)
    t0 = time.perf_counter()
    ssa.simulate(np.zeros((1, 0)), n_traj=1, seed=seed + 99, initial_state=x0)   # compile / warm up
    warm_s = time.perf_counter() - t0
    r_ssa = cfg["speed_ssa_traj"][solver]
    t0 = time.perf_counter()
    ssa.simulate(np.zeros((1, 0)), n_traj=r_ssa, seed=seed, initial_state=x0)
    ssa_s = time.perf_counter() - t0
    events = int(getattr(ssa, "last_events_", np.zeros(1)).sum()) or None
    rows = []
    for absorbing, r in [(a, r) for a in ("keep", "emulate") for r in cfg["speed_emu_traj"]]:
        sim = GridSimulator(emu, shape, {"P": D}, n_steps=H, absorbing=absorbing)
        sim.rollout(x0, None, n_steps=2, n_traj=1, seed=0)      # build the compiled step once
        t0 = time.perf_counter()
        sim.rollout(x0, None, n_traj=r, seed=seed + r)
        emu_s = time.perf_counter() - t0
        scaled = ssa_s * r / r_ssa
        rows.append({"grid": "10x10", "horizon": H * bees.dt, "n_traj": r, "absorbing": absorbing, "emulator_s": emu_s,
                     "emulator_network_s": sim.last_seconds_["network"],
                     "emulator_diffusion_s": sim.last_seconds_["diffusion"], "ssa_solver": solver,
                     "ssa_s": ssa_s, "ssa_n_traj": r_ssa, "ssa_events": events, "ssa_first_call_s": warm_s,
                     "ssa_scaled": scaled, "speedup": scaled / emu_s})
        log.info("speed: %s", rows[-1])
    return rows


def scale(emu, cfg: dict, seed: int) -> list[dict]:
    from sciope_abs.abstraction.grid import GridSimulator

    bees = load_model("bees")
    shape, H = (100, 100), 200
    spec = GridSpec(bees, shape, {"P": D})
    x0 = grid_initial_state(spec, {"Bee": 10}, random_sources={"P": (100, 5)}, seed=seed)
    sim = GridSimulator(emu, shape, {"P": D}, n_steps=H)
    rows = []
    for r in cfg["scale_traj"]:
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        out = sim.rollout(x0, None, n_traj=r, seed=seed, record="colony")
        wall = time.perf_counter() - t0
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows.append({"grid": "100x100", "n_nodes": spec.n_nodes, "n_traj": r, "horizon": H * bees.dt,
                     "wall_s": wall, "network_s": sim.last_seconds_["network"],
                     "diffusion_s": sim.last_seconds_["diffusion"], "peak_rss_mb": rss1,
                     "peak_rss_before_mb": rss0, "final_colony_mean": out[0, :, :, -1].mean(axis=0).tolist()})
        log.info("scale: %s", rows[-1])
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run, not a measurement)")
    ap.add_argument("--traj", type=int, default=500, help="trajectories per ensemble (default 500)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="fidelity,speed,scale")
    ap.add_argument("--no-fast-ssa", action="store_true", help="time only GillesPy2's NumPy SSA")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = dict(tag="full2", train_settings=200, train_traj=10, train_steps=40, epochs=150, traj=args.traj,
               fid_steps=60, fid_times=(10, 30, 60), fid_solver="numpy_ssa",
               speed_ssa_traj={"numpy_ssa": 10, "fast_ssa": 100}, speed_emu_traj=(1, 100),
               scale_traj=(1, 10))
    # the grid design, sized to where these grids take a cell: at most 10 bees a node, a few
    # pheromone molecules arriving or leaving per step (hop rate 0.2: an interior node loses a third
    # of its pheromone per step of 0.5)
    cfg["grid_design"] = {"highs": {"Bee": 10, "BeeA": 10, "BeeD": 10, "P": 20}, "inflow": (0.0, 1.0),
                          "outflow": (0.0, 0.4)}
    cfg["grid_design_tag"] = "v3"
    if args.quick:
        cfg.update(tag="quick", train_settings=20, train_traj=5, train_steps=10, epochs=3, traj=50, fid_steps=10,
                   fid_times=(5, 10), speed_ssa_traj={"numpy_ssa": 2, "fast_ssa": 2}, speed_emu_traj=(1,),
                   scale_traj=(1,))
    res = json.loads(OUT.read_text()) if OUT.is_file() and not args.quick else {}
    res.update({"config": {**cfg, "D": D, "boundary": "reflecting", "splitting": "strang",
                           "layout": "10 bees per node; P 5 at (R-1, C-1), 1 at (R-2, C-1) and (R-1, C-2)",
                           "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)"}})
    res.setdefault("fidelity", [])
    res.setdefault("speed", [])
    trained = train_emulators(cfg, args.seed)
    res["training"] = trained["info"]
    save(res)
    only = set(args.only.split(","))
    if "fidelity" in only:
        res["fidelity"] = []
        for shape in ((3, 3), (5, 5)):
            res["fidelity"] += fidelity(trained["emulators"], shape, cfg, args.seed + 10)
            save(res)
    if "speed" in only:
        res["speed"] = speed(trained["emulators"]["grid"], cfg, args.seed + 20, "numpy_ssa")
        save(res)
    if "scale" in only:
        res["scale"] = scale(trained["emulators"]["grid"], cfg, args.seed + 30)
        save(res)
    if "speed" in only and not args.no_fast_ssa:   # last: the 760-reaction kernel compiles for minutes
        res["speed"] += speed(trained["emulators"]["grid"], cfg, args.seed + 20, "fast_ssa")
        save(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
