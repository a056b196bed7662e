"""Emulator-driven vs SSA-driven SMC-ABC on the demo model (issue 8's claim).

Same synthetic observation, same prior, same summaries, distance and SMC-ABC settings (those of
``examples/pipeline_demo.yaml``); the SSA-driven run uses ``FastSSASimulator`` — the fastest exact
simulator in the toolbox (compiled, in-process) — through the pipeline's ``ssa_infer`` stage.
Both runs go through ``run_pipeline`` into one run folder (stages already finished there are
reused, their recorded times reported), so:

* inference wall time of each (``infer`` vs ``ssa_infer`` stage), and the emulator's one-off cost
  (dataset + search) added for the "including training" ratio;
* GillesPy2's C++ SSA timed on a subset of proposals at the posterior, scaled linearly to the
  SSA-driven run's number of simulations (an estimate, labelled as such);
* posterior closeness: difference of means in units of the SSA posterior's std, ratio of stds,
  and a classifier two-sample test (C2ST: 5-fold cross-validated logistic regression on
  standardised, equally weighted resamples of both posteriors; 0.5 = indistinguishable).

    python benchmarks/bench_pipeline.py [--run-dir runs/bench_pipeline] [--quick]
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


def c2st(a: np.ndarray, b: np.ndarray, seed: int = 0) -> float:
    """Cross-validated accuracy of a logistic regression telling samples ``a`` from ``b``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    x = np.vstack([a, b])
    y = np.r_[np.zeros(len(a)), np.ones(len(b))]
    clf = make_pipeline(StandardScaler(), PolynomialFeatures(2), LogisticRegression(max_iter=2000))
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    return float(cross_val_score(clf, x, y, cv=cv, scoring="accuracy").mean())


def gillespy_estimate(cfg, particles: np.ndarray, n_sims: int, n_traj: int, ctx_state) -> dict:
    """Seconds per proposal of GillesPy2's C++ SSA on a few posterior particles, scaled to n_sims."""
    from sciope_abs.crn import load_model
    from sciope_abs.simulators import GillespySimulator

    crn = load_model(cfg.model)
    sim = GillespySimulator(crn, param_names=list(cfg.vary_params), species=list(cfg.species),
                            timespan=crn.timespan(float(cfg.dataset["dt"]), int(cfg.dataset["n_steps"])), solver="ssa")
    sim.simulate(particles[:1], n_traj=1, seed=0, initial_state=ctx_state)     # compile outside the timing
    t0 = time.perf_counter()
    sim.simulate(particles, n_traj=n_traj, seed=1, initial_state=ctx_state)
    per = (time.perf_counter() - t0) / len(particles)
    return {"subset_proposals": int(len(particles)), "n_traj": n_traj, "seconds_per_proposal": per,
            "estimated_seconds_for_run": per * n_sims}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run-dir", default="runs/bench_pipeline")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke run, numbers meaningless)")
    ap.add_argument("--gillespy-subset", type=int, default=5)
    ap.add_argument("--particles", type=int, default=100,
                    help="SMC-ABC particles for BOTH inferences (the demo uses 300; SSA-driven ABC on X16 "
                         "costs ~0.5 s per proposal here, so the default keeps the SSA side under ~30 min)")
    ap.add_argument("--rounds", type=int, default=3, help="SMC-ABC rounds for both inferences")
    args = ap.parse_args()

    from sciope_abs.pipeline import load_config, run_pipeline
    from sciope_abs.pipeline.stages import StageContext

    cfg = load_config(HERE.parent / "examples" / "pipeline_demo.yaml")
    cfg.ssa_infer["enabled"] = True
    cfg.ssa_infer["scheduler"] = "sync"       # both inferences in-process: a like-for-like comparison
    cfg.infer.update(n_particles=args.particles, max_rounds=args.rounds)
    if args.quick:
        cfg.dataset.update(n_settings=12, n_traj=4)
        cfg.emulator["search"].update(epochs=[1, 2, 2])
        cfg.evaluate.update(n_settings=2, n_traj=20)
        cfg.infer.update(n_particles=30, max_rounds=2)
        cfg.fidelity.update(n_particles=2, n_traj=20)
    load0 = list(os.getloadavg())
    res = run_pipeline(cfg, Path(args.run_dir), progress=True)
    st = res.stages
    emu_post, ssa_post = res.output("infer"), res.output("ssa_infer")
    t_emu, t_ssa = st["infer"]["inference_seconds"], st["ssa_infer"]["inference_seconds"]
    t_train = st["dataset"]["seconds"] + st["emulator"]["seconds"]
    rng = np.random.default_rng(0)
    a = emu_post.sample(1000, seed=rng.integers(2 ** 31))
    b = ssa_post.sample(1000, seed=rng.integers(2 ** 31))
    ctx = StageContext(cfg, None, "sync", False)
    gp = gillespy_estimate(cfg, ssa_post.sample(args.gillespy_subset, seed=3), ssa_post.n_simulations,
                           int(cfg.infer["n_traj"]), ctx.initial_state())
    out = {
        "model": cfg.model, "vary_params": cfg.vary_params, "truth": cfg.observed["truth"], "quick": args.quick,
        "settings": {"infer": cfg.infer, "dataset": cfg.dataset, "emulator": cfg.emulator},
        "ssa_simulator": "FastSSASimulator (compiled in-process SSA)",
        "wall_seconds": {"emulator_inference": t_emu, "ssa_inference": t_ssa, "emulator_training_total": t_train,
                         "dataset": st["dataset"]["seconds"], "search": st["emulator"]["seconds"]},
        "n_simulations": {"emulator": emu_post.n_simulations, "ssa": ssa_post.n_simulations},
        "speedup_inference_only": t_ssa / t_emu, "speedup_including_training": t_ssa / (t_emu + t_train),
        "gillespy2_ssa_estimate": gp, "speedup_vs_gillespy2_estimate": gp["estimated_seconds_for_run"] / t_emu,
        "posterior": {"names": emu_post.names, "emulator_mean": emu_post.mean().tolist(),
                      "ssa_mean": ssa_post.mean().tolist(), "emulator_std": emu_post.std().tolist(),
                      "ssa_std": ssa_post.std().tolist(),
                      "mean_diff_in_ssa_std": ((emu_post.mean() - ssa_post.mean()) / ssa_post.std()).tolist(),
                      "std_ratio": (emu_post.std() / ssa_post.std()).tolist(), "c2st": c2st(a, b)},
        "fidelity": {"passed": st["fidelity"].get("passed"), "ratio": st["fidelity"].get("ratio")},
        "stage_status": {k: v["status"] for k, v in st.items()},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg_start": load0,
                    "loadavg_end": list(os.getloadavg())},
    }
    path = HERE / "results" / ("pipeline_quick.json" if args.quick else "pipeline.json")
    path.write_text(json.dumps(out, indent=1, default=float))
    print(json.dumps({k: out[k] for k in ("wall_seconds", "speedup_inference_only", "speedup_including_training",
                                           "speedup_vs_gillespy2_estimate", "posterior")}, indent=1, default=float))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
