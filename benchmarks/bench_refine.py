"""Sequential emulation on the demo model (issue 12.8): a failed fidelity check, refined.

The demo pipeline (``sciope_abs/data/pipeline_demo.yaml``: X16, a11 and a21 from 20 P1 trajectories)
with a deliberately small first dataset and a short training (``--settings`` x ``--traj``, fixed
MLP, ``--epochs``), everything in-process, and ``refine: {max_rounds: ...}`` on.  The pipeline's
fidelity stage records each round (fidelity ratio, passed, exact SSA trajectories and seconds
spent); this script writes them with the sizes to ``benchmarks/results/refine.json`` (a list
``runs``, one per (first dataset, refine) sizes; a rerun with other sizes is added beside them).

    python benchmarks/bench_refine.py [--run-dir runs/bench_refine] [--settings 20 --traj 4 --epochs 8]
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


def control(run_dir: str, n_settings: int, n_traj: int, epochs: int, seed: int = 11) -> dict:
    """The same refinement budget placed around the posterior vs over the whole prior.

    Both fine-tune the run's first emulator (old + new pairs) and are checked at the run's first
    posterior with the fidelity stage's sizes and seed, so the placement is the only difference.
    """
    import warnings

    from sciope_abs.inference import Posterior, check_fidelity
    from sciope_abs.pipeline import PipelineConfig
    from sciope_abs.pipeline.cache import StageCache
    from sciope_abs.pipeline.refine import refine_emulator
    from sciope_abs.pipeline.stages import StageContext, stage_seed
    from sciope_abs.pipeline.view import SpeciesView

    cfg = PipelineConfig.from_yaml(Path(run_dir) / "config.yaml")
    ctx = StageContext(cfg, StageCache(Path(run_dir)), "sync", False)
    emu, ds, post = ctx.get("emulator"), ctx.get("dataset"), ctx.get("infer")
    lo, hi = emu.rate_bounds[:, 0], emu.rate_bounds[:, 1]
    rng = np.random.default_rng(seed)
    prior_like = Posterior(lo + (hi - lo) * rng.uniform(size=(1000, len(lo))), list(emu.param_names), method="prior")
    f, out = cfg.fidelity, {"n_settings": n_settings, "n_traj": n_traj, "epochs": epochs}
    for name, where, spread in (("posterior", post, 0.5), ("prior", prior_like, 0.0)):
        t0 = time.perf_counter()
        new = refine_emulator(emu, where, n_settings=n_settings, n_traj=n_traj, epochs=epochs, spread=spread,
                              initial_state=ctx.initial_state(), dataset=ds, seed=seed, client="sync")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rep = check_fidelity(post, SpeciesView(new, ctx.species), ctx.ssa_simulator(),
                                 n_particles=int(f["n_particles"]), n_traj=int(f["n_traj"]),
                                 seed=stage_seed(cfg, "fidelity"), initial_state=ctx.initial_state(), client="sync")
        out[name] = {"ratio": rep.ratio, "passed": rep.passed, "seconds": time.perf_counter() - t0}
    return out


def main(argv=None) -> dict:
    import yaml

    from sciope_abs.pipeline import run_pipeline

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", default="runs/bench_refine")
    ap.add_argument("--settings", type=int, default=20, help="first dataset: settings")
    ap.add_argument("--traj", type=int, default=4, help="first dataset: trajectories per setting")
    ap.add_argument("--epochs", type=int, default=8, help="first training: epochs")
    ap.add_argument("--rounds", type=int, default=2, help="refine.max_rounds")
    ap.add_argument("--refine-settings", type=int, default=40)
    ap.add_argument("--refine-traj", type=int, default=20)
    ap.add_argument("--refine-epochs", type=int, default=30)
    ap.add_argument("--out", default=str(HERE / "results" / "refine.json"))
    ap.add_argument("--control", action="store_true",
                    help="after the run: the same refinement budget around the posterior vs over the prior")
    a = ap.parse_args(argv)

    cfg = yaml.safe_load((HERE.parent / "sciope_abs" / "data" / "pipeline_demo.yaml").read_text())
    cfg["scheduler"] = "sync"
    cfg["dataset"].update(n_settings=a.settings, n_traj=a.traj)
    cfg["emulator"] = {"method": "train", "train": {"hidden": [32, 32], "n_components": 4, "epochs": a.epochs,
                                                    "batch_size": 128}}
    cfg["refine"] = {"max_rounds": a.rounds, "n_settings": a.refine_settings, "n_traj": a.refine_traj,
                     "epochs": a.refine_epochs}
    t0 = time.perf_counter()
    res = run_pipeline(cfg, a.run_dir, progress=True, stages=["dataset", "emulator", "infer", "fidelity"],
                       report=False)
    wall = time.perf_counter() - t0
    fid, ds = res.stages["fidelity"], res.stages["dataset"]
    out = {"model": cfg["model"], "first_dataset": {"n_settings": a.settings, "n_traj": a.traj,
                                                    "n_simulations": a.settings * a.traj, "epochs": a.epochs,
                                                    "seconds": ds.get("seconds")},
           "refine": cfg["refine"], "fidelity": cfg["fidelity"], "truth": cfg["observed"]["truth"],
           "first_passed": fid["passed"], "first_ratio": fid["ratio"],
           "posterior_mean": res.stages["infer"].get("posterior_mean"),
           "refined_passed": fid.get("refined_passed"), "refined_ratio": fid.get("refined_ratio"),
           "refined_posterior_mean": fid.get("refined_posterior_mean"), "rounds": fid.get("refine_rounds", []),
           "refine_exact_simulations": fid.get("refine_exact_simulations", 0),
           "fidelity_stage_seconds": fid.get("seconds"), "wall_seconds": wall,
           "machine": {"platform": platform.platform(), "cpus": os.cpu_count()}}
    path = Path(a.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    runs = json.loads(path.read_text()).get("runs", []) if path.exists() else []
    key = lambda r: (r["first_dataset"], r["refine"])          # noqa: E731 - one run per sizes
    runs = [r for r in runs if key(r) != key(out)] + [out]
    if a.control:
        out["control"] = control(a.run_dir, a.refine_settings, a.refine_traj, a.refine_epochs)
    path.write_text(json.dumps({"runs": runs}, indent=1, default=float))
    print(json.dumps({k: out[k] for k in ("first_ratio", "refined_ratio", "refined_passed",
                                          "refine_exact_simulations", "wall_seconds")}))
    return out


if __name__ == "__main__":
    main()
