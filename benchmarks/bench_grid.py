"""Grid of emulated honeybee cells (issue 17): fidelity vs the exact composite SSA, diagnosis, speed, scale.

1. Five single-agent emulators of ``bees``, the same training budget (56 000 pairs, MLP 64x64,
   early stopping with patience 20) except ``grid_2x``:
   ``default`` — ``build_dataset`` with the model's initial ranges (Bee 0..29, P 0..14, no
   aggressive or dead bees at the start), a rounded mixture of 6 Normals (as in the first pass);
   ``default_categorical`` — the same data, ``train_for_grid`` (a categorical over the joint
   increments); ``grid_normal`` — ``build_grid_dataset`` from the node states the exact 3x3 and
   5x5 grids visit (``exact_grid_states``, runs independent of the references) and the cell
   kinds, pheromone exchanged between steps, Normal mixture; ``grid`` — the same data,
   ``train_for_grid`` (the recommended emulator); ``grid_2x`` — twice the chains.
2. Fidelity on 3x3 and 5x5 grids (reflecting, hop rate ``D``): 10 bees per node and pheromone
   seeded at three nodes of a corner (the paper's layout), emulator-grid (``absorbing`` "keep",
   the default, and "emulate") vs the exact SSA of ``compose_grid`` (GillesPy2's NumPy SSA:
   nothing to compile, and the colony fires only ~100 events per trajectory); L1 histogram
   distances of the colony-level outputs (alive = calm + aggressive bees, aggressive, dead,
   total pheromone) and of the per-node counts (mean over nodes) at several times, each divided
   by the SSA self-distance (two independent SSA ensembles) -> ``l1_ratio``.
3. Diagnosis: the grid with the agent's exact SSA as the reaction step (what is left is the
   operator splitting, Strang and Lie), and every emulator's one-step law against the exact one
   on node states drawn from the exact 3x3 run, per class of state (pheromone / aggressive bees
   present or not): mean increments, probability of no change, total variation.
4. Speed: 10x10 grid, 10 bees per node, 100 time units (200 steps): emulator-grid vs exact SSA
   of the composite network (760 reactions) over the full horizon on a stated number of
   trajectories, scaled linearly to the emulator's count (``ssa_scaled``): GillesPy2's NumPy
   SSA, then the compiled in-process SSA (its one-off compilation is reported apart; its event
   count per trajectory is recorded).
5. Scale: 100x100 nodes, wall time and peak memory (process RSS) of a 200-step rollout.

    python benchmarks/bench_grid.py [--quick] [--traj 500] [--only fidelity,diagnose,speed,scale]

Results are written after every case; a rerun with the same configuration resumes the
fidelity cases (the exact ensembles and emulators are cached under ``runs/bench_grid``).
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
    out = RUNS / "grid_quick.json" if res["config"]["tag"].startswith("quick") else Path(res["_out"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({k: v for k, v in res.items() if k != "_out"}, indent=1))


def layout(spec: GridSpec) -> np.ndarray:
    R, C = spec.shape
    return grid_initial_state(spec, {"Bee": 10}, {"P": {(R - 1, C - 1): 5, (R - 2, C - 1): 1, (R - 1, C - 2): 1}})


def colony_outputs(traces: np.ndarray, spec: GridSpec) -> dict:
    """(r, N*S, T) -> output name -> (r, T)."""
    tot = colony_totals(traces, spec)
    return {"alive": tot[:, 0] + tot[:, 1], "aggressive": tot[:, 1], "dead": tot[:, 2], "pheromone": tot[:, 3]}


DESIGNS = ("default", "default_categorical", "grid_normal", "grid", "grid_2x")


def visited_pool(cfg: dict, seed: int) -> np.ndarray:
    """Node states the exact 3x3 and 5x5 grids visit (``exact_grid_states``; absorbing states left
    out), from runs independent of the fidelity references (other seeds)."""
    from sciope_abs.abstraction.grid_design import exact_grid_states

    bees = load_model("bees")
    pools = [exact_grid_states(bees, sh, {"P": D}, layout(GridSpec(bees, sh, {"P": D})), n_traj=cfg["pool_traj"],
                               n_steps=cfg["fid_steps"], seed=seed + 100 + k) for k, sh in enumerate(((3, 3), (5, 5)))]
    return np.concatenate(pools)


def _design_dataset(design: str, cfg: dict, seed: int, pool_box: list):
    from sciope_abs.abstraction import build_dataset, build_grid_dataset

    bees = load_model("bees")
    if design.startswith("default"):
        return build_dataset(bees, cfg["train_settings"], cfg["train_traj"], n_steps=cfg["train_steps"], seed=seed,
                             client="sync", progress=False)
    if not pool_box:
        pool_box.append(visited_pool(cfg, seed))
    chains = cfg["grid_chains"] * (2 if design == "grid_2x" else 1)
    return build_grid_dataset(bees, chains, cfg["grid_chain_steps"], pool=pool_box[0], seed=seed, **cfg["grid_design"])


def train_emulators(cfg: dict, seed: int) -> dict:
    """The five emulators: default design with a Normal mixture (the first pass's) and with
    categorical increments; the grid design (visited states + cell kinds) with a Normal mixture,
    with categorical increments (``train_for_grid``: the recommended one), and twice as many chains."""
    from sciope_abs.abstraction import Emulator, train
    from sciope_abs.abstraction.grid_design import train_for_grid

    emus, info, pool_box, cache = {}, {}, [], {}
    for design in DESIGNS:
        tag = cfg["default_tag"] if design == "default" else cfg["tag"]
        path = RUNS / f"emulator_{design}_{tag}"
        t0 = time.perf_counter()
        if (path / "config.json").is_file():
            emus[design] = Emulator.load(path)
            card = emus[design].card
            info[design] = {"reused": str(path.relative_to(HERE.parent)), "n_train_pairs": card.get("n_train_pairs"),
                            "epochs_run": card["history"]["epochs_run"],
                            "best_val_loss": card["history"]["best_val_loss"]}
            continue
        key = design.startswith("default"), design == "grid_2x"
        if key not in cache:
            cache[key] = _design_dataset(design, cfg, seed, pool_box)
        ds = cache[key]
        t1 = time.perf_counter()
        kw = dict(hidden=(64, 64), epochs=cfg["epochs"], patience=cfg["patience"], seed=seed + 1, progress=False)
        categorical = design in ("default_categorical", "grid", "grid_2x")
        # train_for_grid: one joint categorical (one component); the Normal mixtures: 6 components
        emu = train_for_grid(ds, **kw) if categorical else train(ds, n_components=6, **kw)
        emu.save(path)
        emus[design] = emu
        info[design] = {"dataset_s": t1 - t0, "train_s": time.perf_counter() - t1,
                        "n_train_pairs": int(len(ds.pairs("train")[0])), "categorical": categorical,
                        "pool_size": int(len(pool_box[0])) if pool_box and not design.startswith("default") else 0,
                        "epochs_run": emu.card["history"]["epochs_run"],
                        "best_val_loss": emu.card["history"]["best_val_loss"]}
        log.info("trained %s: %s", design, info[design])
    return {"emulators": emus, "info": info}


def exact_simulator(g, timespan, solver: str):
    """The exact SSA of the composite network: GillesPy2's NumPy SSA (``numpy_ssa``, nothing to
    compile) or the compiled in-process kernel (``fast_ssa``, compiled once per structure)."""
    from sciope_abs.simulators import make_simulator

    return make_simulator(g, param_names=(), species=g.species, timespan=timespan, solver=solver)


def exact_ensembles(shape, cfg: dict, seed: int, third: bool = False):
    """Two independent exact ensembles of ``cfg["traj"]`` trajectories and their wall time (cached
    per shape and size); with ``third``, a third one (``seed + 7``) instead."""
    bees = load_model("bees")
    spec = GridSpec(bees, shape, {"P": D})
    H, r = cfg["fid_steps"], cfg["traj"]
    cache = RUNS / f"exact_{shape[0]}x{shape[1]}_{r}x{H}_seed{seed}{'_third' if third else ''}.npz"
    if cache.is_file():
        z = np.load(cache, allow_pickle=False)
        return z["a"], z["b"], float(z["seconds"])
    g = compose_grid(bees, shape, {"P": D})
    ssa = exact_simulator(g, g.timespan(bees.dt, H), cfg["fid_solver"])
    t0 = time.perf_counter()
    seeds = (seed + 7, seed + 7) if third else (seed, seed + 1)
    a = ssa.simulate(np.zeros((1, 0)), n_traj=r, seed=seeds[0], initial_state=layout(spec))[0]
    b = a if third else ssa.simulate(np.zeros((1, 0)), n_traj=r, seed=seeds[1], initial_state=layout(spec))[0]
    seconds = time.perf_counter() - t0
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, a=a, b=b, seconds=seconds)
    return a, b, seconds


def compare(e: np.ndarray, a: np.ndarray, b: np.ndarray, spec: GridSpec, times, base: dict) -> list[dict]:
    """Rows of L1 distances of ``e`` to the exact ``a`` next to the self-distance ``b``-``a``, at ``times``."""
    from sciope_abs.abstraction.histograms import histogram_distance

    bees = spec.agent
    ce, ca, cb = (colony_outputs(z, spec) for z in (e, a, b))
    N, S, T = spec.n_nodes, bees.n_species, a.shape[-1]
    ne, na, nb = (z.reshape(len(z), N, S, T) for z in (e, a, b))
    rows = []
    for t in times:
        for out in OUTPUTS:
            d, d0 = histogram_distance(ce[out][:, t], ca[out][:, t]), histogram_distance(cb[out][:, t], ca[out][:, t])
            rows.append({**base, "output": out, "time": t * bees.dt, "l1": d, "l1_self": d0,
                         "l1_ratio": d / d0 if d0 > 0 else None, "mean_emulator": float(ce[out][:, t].mean()),
                         "mean_ssa": float(ca[out][:, t].mean())})
        for k, sp in enumerate(bees.species):
            d = float(np.mean([histogram_distance(ne[:, m, k, t], na[:, m, k, t]) for m in range(N)]))
            d0 = float(np.mean([histogram_distance(nb[:, m, k, t], na[:, m, k, t]) for m in range(N)]))
            rows.append({**base, "output": f"node_{sp}", "time": t * bees.dt, "l1": d, "l1_self": d0,
                         "l1_ratio": d / d0 if d0 > 0 else None})
    return rows


def fidelity(emus: dict, shape, cfg: dict, seed: int, res: dict, replicate: int = 0) -> None:
    """Appends to ``res["fidelity"]`` every (design, absorbing) case not there yet, saving after each.
    ``replicate`` k > 0 repeats the measurement with new exact ensembles and emulator seeds
    (``seed + 1000 k``), rows marked ``"replicate": k``."""
    seed = seed + 1000 * int(replicate)
    from sciope_abs.abstraction.grid import GridSimulator

    bees = load_model("bees")
    spec = GridSpec(bees, shape, {"P": D})
    H, r, times = cfg["fid_steps"], cfg["traj"], cfg["fid_times"]
    a, b, ssa_s = exact_ensembles(shape, cfg, seed)
    N, S = spec.n_nodes, bees.n_species
    grid = f"{shape[0]}x{shape[1]}"
    done = {(row["grid"], row["design"], row["absorbing"]) for row in res["fidelity"]
            if row.get("replicate", 0) == replicate}
    rep = {"replicate": replicate} if replicate else {}
    if (grid, "exact_ssa", "-") not in done:  # what a perfect simulator scores: a third exact ensemble
        c, _, c_s = exact_ensembles(shape, cfg, seed, third=True)
        res["fidelity"] += [{**row, "n_traj": r, "ssa_s": c_s}
                            for row in compare(c, a, b, spec, times, {"grid": grid, "design": "exact_ssa",
                                                                      "absorbing": "-", **rep})]
        save(res)
    cases = [(d, e, a) for d, e in emus.items() for a in ("keep", "emulate")]
    if replicate:
        cases = [(d, e, a) for d, e, a in cases if a == "keep" or d == "grid_2x"]
    for design, emu, absorbing in cases:
        if (grid, design, absorbing) in done:
            continue
        sim = GridSimulator(emu, shape, {"P": D}, n_steps=H, absorbing=absorbing)
        t1 = time.perf_counter()
        e = sim.rollout(layout(spec), None, n_traj=r, seed=seed + 2)[0]
        emu_s = time.perf_counter() - t1
        bees_node = e.reshape(r, N, S, H + 1)[:, :, :3].sum(axis=2)
        violations = float((bees_node != bees_node[..., :1]).mean())
        base = {"grid": grid, "design": design, "absorbing": absorbing, **rep}
        rows = compare(e, a, b, spec, times, base)
        for row in rows:
            row.update({"n_traj": r, "emulator_s": emu_s, "ssa_s_two_ensembles": ssa_s,
                        "bee_conservation_violations": violations})
        res["fidelity"] += rows
        save(res)
        log.info("fidelity %s %s %s done (%.1f s emulator, %.1f s SSA)", grid, design, absorbing, emu_s, ssa_s)


def exact_reaction_grid(emu, shape, splitting: str, n_steps: int, substeps: int = 1):
    """A GridSimulator whose reaction step is the agent's exact SSA: with a perfect reaction step,
    what is left of the grid's error is the operator splitting.  ``substeps`` > 1 splits every
    step of ``dt`` into that many reaction and diffusion sub-steps (``rollout`` then returns
    ``n_steps * substeps`` steps; keep every ``substeps``-th)."""
    from sciope_abs.abstraction.grid import GridSimulator, diffusion_kernels
    from sciope_abs.simulators import FastSSASimulator

    bees = load_model("bees")
    h = bees.dt / substeps
    single = FastSSASimulator(bees, param_names=(), timespan=np.array([0.0, h]))

    class ExactReaction(GridSimulator):
        def _react(self, prev, rates_rows, keys, traj, t):
            seed = np.random.SeedSequence([int(keys[0, 0]), int(keys[0, 1]), int(t)])
            tr = single.simulate(np.zeros((len(prev), 0)), n_traj=1, seed=seed, initial_state=prev.astype(np.int64))
            return tr[:, 0, :, -1]

    sim = ExactReaction(emu, shape, {"P": D}, n_steps=n_steps * substeps, splitting=splitting, absorbing="emulate")
    sim._kernels = [diffusion_kernels(sim.spec, D, h / 2 if splitting == "strang" else h)]
    return sim


CLASSES = {"P=0,A=0": lambda x: (x[:, 3] == 0) & (x[:, 1] == 0), "P=0,A>0": lambda x: (x[:, 3] == 0) & (x[:, 1] > 0),
           "P>0,A=0": lambda x: (x[:, 3] > 0) & (x[:, 1] == 0), "P>0,A>0": lambda x: (x[:, 3] > 0) & (x[:, 1] > 0)}


def _tv(d1: np.ndarray, d2: np.ndarray) -> float:
    """Total variation between the empirical laws of two samples of joint increments (m, S)."""
    u, inv = np.unique(np.concatenate([d1, d2]), axis=0, return_inverse=True)
    inv = inv.ravel()
    p1 = np.bincount(inv[:len(d1)], minlength=len(u)) / len(d1)
    p2 = np.bincount(inv[len(d1):], minlength=len(u)) / len(d2)
    return float(0.5 * np.abs(p1 - p2).sum())


def diagnose(emus: dict, cfg: dict, seed: int) -> dict:
    """Where the error comes from: the splitting (exact reaction step) and the emulators' one-step
    law on the node states the exact grid visits (per class of state)."""
    from sciope_abs.simulators import FastSSASimulator

    bees = load_model("bees")
    out: dict = {"splitting": [], "one_step": []}
    shape, H = (3, 3), cfg["fid_steps"]
    spec = GridSpec(bees, shape, {"P": D})
    a, b, _ = exact_ensembles(shape, cfg, seed)
    for splitting, k in (("strang", 1), ("lie", 1), ("strang", 4)):
        sim = exact_reaction_grid(emus["default"], shape, splitting, H, substeps=k)
        e = sim.rollout(layout(spec), None, n_traj=cfg["traj"], seed=seed + 3)[0][..., ::k]
        base = {"grid": "3x3", "design": "exact_reaction", "splitting": splitting, "substeps": k,
                "dt_substep": bees.dt / k}
        out["splitting"] += [row for row in compare(e, a, b, spec, cfg["fid_times"], base)
                             if not row["output"].startswith("node_")]
        log.info("splitting %s done", splitting)
    r, _, T = a.shape
    states = a.reshape(r, spec.n_nodes, 4, T).transpose(0, 3, 1, 2).reshape(-1, 4).astype(np.int64)
    x = states[np.random.default_rng(seed).integers(0, len(states), cfg["diag_states"])]
    single = FastSSASimulator(bees, param_names=(), timespan=np.array([0.0, bees.dt]))
    steps = {"ssa": single.simulate(np.zeros((len(x), 0)), n_traj=1, seed=seed + 4, initial_state=x)[:, 0, :, -1],
             # a second exact draw: the sampling noise of tv_vs_ssa
             "ssa_repeat": single.simulate(np.zeros((len(x), 0)), n_traj=1, seed=seed + 6, initial_state=x)[:, 0, :, -1]}
    for design, emu in emus.items():
        steps[design] = emu.rollout(x.astype(np.float64), np.zeros((len(x), 0)), n_steps=1, n_traj=1,
                                    seed=seed + 5)[:, 0, :, -1]
    for name, y in steps.items():
        for cls, f in CLASSES.items():
            c = f(x)
            d = (y - x)[c]
            out["one_step"].append({"grid": "3x3", "design": name, "class": cls, "fraction_visited": float(c.mean()),
                                    "mean_increment": dict(zip(bees.species, d.mean(axis=0).round(5).tolist())),
                                    "p_no_change": float((d == 0).all(axis=1).mean()),
                                    "tv_vs_ssa": _tv(d, (steps["ssa"] - x)[c]) if name != "ssa" else None})
    return out


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
    ev = getattr(ssa, "last_events_", None)   # per parameter point, summed over its trajectories
    events = float(np.sum(ev)) / r_ssa if ev is not None and np.size(ev) else None
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
                     "ssa_s": ssa_s, "ssa_n_traj": r_ssa, "ssa_events_per_traj": events, "ssa_first_call_s": warm_s,
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


def config(args) -> dict:
    cfg = dict(tag="full3", default_tag="full3", train_settings=200, train_traj=10, train_steps=40, epochs=150,
               patience=20,
               traj=args.traj, fid_steps=60, fid_times=(10, 30, 60), fid_solver="numpy_ssa",
               speed_ssa_traj={"numpy_ssa": 10, "fast_ssa": 100}, speed_emu_traj=(1, 100), scale_traj=(1, 10),
               pool_traj=100, grid_chains=10000, grid_chain_steps=8, diag_states=40000)
    # the grid design: chains of 8 steps from the visited states (70 %) and the cell kinds, sized to
    # where these grids take a cell (at most 10 bees a node, P <= 20), with a few pheromone
    # molecules arriving or leaving per step (hop rate 0.2: an interior node loses a third of its
    # pheromone per step of 0.5); 10 000 chains x 8 steps = the default design's 56 000 pairs
    cfg["grid_design"] = {"highs": {"Bee": 10, "BeeA": 10, "BeeD": 10, "P": 20}, "inflow": (0.0, 1.0),
                          "outflow": (0.0, 0.4)}
    if args.quick:
        cfg.update(tag="quick3", default_tag="quick3", train_settings=20, train_traj=5, train_steps=10, epochs=3,
                   traj=50, fid_steps=10, fid_times=(5, 10), speed_ssa_traj={"numpy_ssa": 2, "fast_ssa": 2},
                   speed_emu_traj=(1,), scale_traj=(1,), pool_traj=5, grid_chains=200, grid_chain_steps=4,
                   diag_states=2000)
    return cfg


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run, not a measurement)")
    ap.add_argument("--traj", type=int, default=500, help="trajectories per ensemble (default 500)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="fidelity,diagnose,speed,scale")
    ap.add_argument("--no-fast-ssa", action="store_true", help="time only GillesPy2's NumPy SSA")
    ap.add_argument("--out", default=str(OUT), help=f"results file (default {OUT.relative_to(HERE.parent)}; "
                                                    "read first when it exists, to resume)")
    ap.add_argument("--replicates", type=int, default=0,
                    help="repeat the fidelity cases (absorbing='keep', and grid_2x 'emulate') with K new seeds")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = config(args)
    out = Path(args.out)
    res = json.loads((out if out.is_file() else OUT).read_text()) if OUT.is_file() and not args.quick else {}
    if res.get("config", {}).get("tag") != cfg["tag"] or res.get("config", {}).get("traj") != cfg["traj"]:
        res = {k: v for k, v in res.items() if k in ("speed", "scale")}   # a new measurement: no stale rows
        res["fidelity"] = []
    res.update({"config": {**cfg, "D": D, "boundary": "reflecting", "splitting": "strang",
                           "layout": "10 bees per node; P 5 at (R-1, C-1), 1 at (R-2, C-1) and (R-1, C-2)",
                           "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)"}})
    res.setdefault("fidelity", [])
    res["_out"] = str(out)
    trained = train_emulators(cfg, args.seed)
    res["training"] = trained["info"]
    save(res)
    only = set(args.only.split(","))
    emus = trained["emulators"]
    if "fidelity" in only:
        for k in range(args.replicates + 1):
            for shape in ((3, 3), (5, 5)):
                fidelity(emus, shape, cfg, args.seed + 10, res, replicate=k)
    if "diagnose" in only:
        res["diagnosis"] = diagnose(emus, cfg, args.seed + 10)
        save(res)
    if "speed" in only:
        res["speed"] = speed(emus["grid"], cfg, args.seed + 20, "numpy_ssa")
        save(res)
    if "scale" in only:
        res["scale"] = scale(emus["grid"], cfg, args.seed + 30)
        save(res)
    if "speed" in only and not args.no_fast_ssa:   # last: the 760-reaction kernel compiles for minutes
        res["speed"] += speed(emus["grid"], cfg, args.seed + 20, "fast_ssa")
        save(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
