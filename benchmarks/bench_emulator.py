"""Deep-abstraction emulator: fidelity (histogram distance vs SSA self-distance) and speed.

For X16 (dt=20, 10 steps, observed P1) and Gene (dt=400, 25 steps, observed P):

1. training data with ``build_dataset`` (exact SSA, the compiled in-process kernel, on a local
   Dask cluster); cached under ``runs/bench_emulator`` so a rerun reuses it;
2. ``train`` a fixed MLP-MDN (64, 64 swish; 6 diagonal Normals), wall time measured;
3. ``evaluate`` on fresh held-out settings: L1 / IoU histogram distances emulator vs SSA and SSA
   vs SSA (self-distance), at the lags, at most 100 shared integer-aligned bins;
4. time to produce 10^4 traces (100 settings x 100 traces) of the model's horizon: the emulator
   in full, GillesPy2's C++ SSA (and the compiled in-process SSA) on a stated subset of the same
   settings, scaled linearly to 10^4 traces — all in the same run.

Sizes are scaled down from the paper's (X16 300 x 200 training traces, 25 x 10^4 evaluation
traces; Gene 150 x 100) to what a shared 2-core machine can do; they are recorded in the JSON.
Smaller evaluation ensembles give larger self-distances than the paper's (the finite-sample
error margin grows as 1/sqrt(n_traj)), so compare ratios emulator/self, not absolute values.

    python benchmarks/bench_emulator.py [--models x16,gene] [--quick]
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

# paper (Repin & Petrov), Table 3 (self / MDN, L1) and Table 2 (10^4 traces, seconds)
PAPER = {
    "x16": {"l1_self": {"3": 0.129, "10": 0.137}, "l1_mdn": {"3": 0.174, "10": 0.153}},
    "gene": {"l1_self": {"3": 0.152, "10": 0.168}, "l1_mdn": {"3": 0.197, "10": 0.206},
             "time_1e4_traces_s": {"ssa": 1952.8, "mdn": 1.5}},
}

CONFIGS = {
    "x16": dict(model="x16", dt=20.0, n_steps=10, train_settings=60, train_traj=40, eval_settings=25,
                eval_traj=100, lags=(1, 3, 5, 10), ssa_subset=(1, 100), epochs=100),
    "gene": dict(model="gene", dt=400.0, n_steps=25, train_settings=20, train_traj=10, eval_settings=10,
                 eval_traj=30, lags=(1, 3, 10), ssa_subset=(1, 2), epochs=100),
}
QUICK = {"train_settings": 12, "train_traj": 4, "eval_settings": 3, "eval_traj": 20, "epochs": 3,
         "ssa_subset": (1, 1)}


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def run_model(name: str, cfg: dict, cache: Path, client, seed: int = 0) -> dict:
    from sciope_abs.abstraction import Emulator, build_dataset, evaluate, train
    from sciope_abs.crn import load_model
    from sciope_abs.simulators import make_simulator

    crn = load_model(cfg["model"])
    res: dict = {"config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()},
                 "observed": list(crn.observed), "vary_params": [], "load_start": _load()}
    print(f"== {name}: dataset {cfg['train_settings']} x {cfg['train_traj']}", flush=True)
    t0 = time.perf_counter()
    ds = build_dataset(crn, cfg["train_settings"], cfg["train_traj"], dt=cfg["dt"], n_steps=cfg["n_steps"],
                       seed=seed, client=client, path=cache / f"{name}_{cfg['train_settings']}x{cfg['train_traj']}.zarr",
                       progress=False)
    res["dataset"] = {"seconds": time.perf_counter() - t0, "reused": ds.reused,
                      "simulation_seconds": ds.attrs.get("simulation_seconds"), "solver": ds.attrs.get("solver"),
                      "splits": {k: int(v.size) for k, v in ds.splits.items()},
                      "train_pairs": int(ds.pairs("train")[0].shape[0]), "content_hash": ds.content_hash()}

    print(f"== {name}: training", flush=True)
    t0 = time.perf_counter()
    emu = train(ds, hidden=(64, 64), n_components=6, component="diag_normal", epochs=cfg["epochs"],
                batch_size=256, learning_rate=1e-3, patience=15, seed=seed, progress=False)
    res["training"] = {"seconds": time.perf_counter() - t0, "hidden": [64, 64], "n_components": 6,
                       "component": "diag_normal", "max_epochs": cfg["epochs"], "patience": 15,
                       "epochs_run": emu.card.get("history", {}).get("epochs_run"),
                       "stop_reason": emu.card.get("history", {}).get("stop_reason")}
    emu.save(cache / f"{name}_emulator")

    print(f"== {name}: evaluation {cfg['eval_settings']} x {cfg['eval_traj']}", flush=True)
    rep = evaluate(emu, n_settings=cfg["eval_settings"], n_traj=cfg["eval_traj"], lags=cfg["lags"],
                   seed=seed + 1, client=client, bins=100, progress=False)
    rep.save(cache / f"{name}_evaluation")
    tab = rep.table()
    res["fidelity"] = {"table": tab.to_dict(orient="records"), "bins": 100,
                       "ssa_seconds": rep.meta["ssa_seconds"], "emulator_seconds": rep.meta["emulator_seconds"]}
    for lag in (3, 10):
        row = tab[tab.lag == lag]
        if len(row):
            r = row.iloc[0]
            res["fidelity"][f"lag{lag}"] = {"l1": r.l1, "self_l1": r.self_l1, "ratio": r.ratio,
                                            "iou": r.iou, "self_iou": r.self_iou,
                                            "meets_1.3x_goal": bool(r.ratio <= 1.3)}
    # coarser bins: a lower self-distance at these ensemble sizes, so a sharper ratio
    tab20 = rep.rebin(20).table()
    for lag in (3, 10):
        row = tab20[tab20.lag == lag]
        if len(row):
            r = row.iloc[0]
            res["fidelity"][f"lag{lag}_bins20"] = {"l1": r.l1, "self_l1": r.self_l1, "ratio": r.ratio}
    print(rep.summary(), flush=True)

    print(f"== {name}: timing 10^4 traces", flush=True)
    n_set, n_tr = 100, 100
    init = crn.sample_initial_states(n_set, seed=seed + 2)
    rates = np.zeros((n_set, 0))
    emu2 = Emulator.load(cache / f"{name}_emulator")
    emu2.rollout(init[:1], rates[:1], n_steps=cfg["n_steps"], n_traj=2, seed=0)  # trace the tf.function once
    t0 = time.perf_counter()
    out = emu2.rollout(init, rates, n_steps=cfg["n_steps"], n_traj=n_tr, seed=seed + 3)
    t_emu = time.perf_counter() - t0
    assert out.shape == (n_set, n_tr, crn.n_species, cfg["n_steps"] + 1)
    k_set, k_tr = cfg["ssa_subset"]
    timespan = crn.timespan(cfg["dt"], cfg["n_steps"])
    timing = {"emulator_s_1e4": t_emu, "subset_settings": k_set, "subset_traj": k_tr}
    for solver in ("ssa", "fast_ssa"):
        sim = make_simulator(crn, param_names=(), timespan=timespan, solver=solver)
        sim.simulate(np.zeros((1, 0)), n_traj=1, seed=9, initial_state=init[:1])  # compile / warm up
        t0 = time.perf_counter()
        sim.simulate(np.zeros((k_set, 0)), n_traj=k_tr, seed=seed + 4, initial_state=init[:k_set])
        dt_sub = time.perf_counter() - t0
        scale = (n_set * n_tr) / (k_set * k_tr)
        key = "gillespy2_cpp_ssa" if solver == "ssa" else "fast_ssa"
        timing[f"{key}_s_subset"] = dt_sub
        timing[f"{key}_s_1e4_scaled"] = dt_sub * scale
        timing[f"speedup_vs_{key}"] = dt_sub * scale / t_emu
    res["timing"] = timing
    res["load_end"] = _load()
    print(json.dumps(timing, indent=1), flush=True)
    return res


def markdown(results: dict) -> str:
    """The BENCHMARKS.md rows of a results JSON."""
    lines = ["| model | train data (settings x traj) | train s | eval (settings x traj) | lag | L1 self | L1 emulator "
             "| ratio | paper self / MDN | 10^4 traces: emulator s | GillesPy2 C++ SSA s (scaled) | speed-up |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.get("models", {}).items():
        c, t, pap = r["config"], r["timing"], r.get("paper") or {}
        for lag in ("3", "10"):
            f = r["fidelity"].get(f"lag{lag}")
            if f is None:
                continue
            ref = (f"{pap['l1_self'][lag]:.3f} / {pap['l1_mdn'][lag]:.3f}" if "l1_self" in pap else "")
            lines.append(f"| {name} | {c['train_settings']} x {c['train_traj']} | {r['training']['seconds']:.0f} | "
                         f"{c['eval_settings']} x {c['eval_traj']} | {lag} | {f['self_l1']:.3f} | {f['l1']:.3f} | "
                         f"{f['ratio']:.2f} | {ref} | {t['emulator_s_1e4']:.2f} | "
                         f"{t['gillespy2_cpp_ssa_s_1e4_scaled']:.0f} | {t['speedup_vs_gillespy2_cpp_ssa']:.0f}x |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="x16,gene")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test of the script)")
    ap.add_argument("--out", default=str(HERE / "results" / "emulator.json"))
    ap.add_argument("--scheduler", default=None, help="Dask address or 'sync' (default: local cluster)")
    ap.add_argument("--markdown", action="store_true", help="print the BENCHMARKS.md rows of --out and exit")
    args = ap.parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(Path(args.out).read_text())))
        return 0
    cache = HERE.parent / "runs" / "bench_emulator" / ("quick" if args.quick else "full")  # git-ignored
    cache.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() and not args.quick else {}
    results.setdefault("models", {})
    from sciope_abs._version import __version__

    results["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                          "sciope_abs": __version__,
                          "note": "shared 2-core machine: other engineers' jobs ran at the same time; "
                                  "load averages recorded per model"}
    results["paper"] = PAPER
    client = args.scheduler
    if client is None:
        from sciope_abs.engine import get_client

        client = get_client()
    for name in args.models.split(","):
        cfg = dict(CONFIGS[name])
        if args.quick:
            cfg.update(QUICK)
            cfg["lags"] = (1, 3)
        results["models"][name] = run_model(name, cfg, cache, client)
        results["models"][name]["paper"] = PAPER.get(name)
        if not args.quick:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=1, default=float))
    if args.quick:
        print(json.dumps(results["models"], indent=1, default=float)[:3000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
