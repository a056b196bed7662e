"""Peer benchmark: pyABC's ABC-SMC vs this toolbox's SMC-ABC on the genetic toggle switch, and
GillesPy2's C++ SSA vs the compiled SSA on the same parameter grid.

The samplers are compared, not the simulators: both sides call the **same compiled simulator**
(``FastSSASimulator``) with the same number of trajectories per proposal, the same summaries
(mean, std, autocorrelation at lags 1, 2 of U and V), the same distance (Euclidean on summaries
divided by fixed scales, the MAD of a 1000-point prior pilot, computed once and shared, so the
tolerances of both runs are in the same units), the same population size and the same
median-quantile tolerance schedule, on the same number of worker processes (pyABC: its
``MulticoreEvalParallelSampler`` with ``n_procs`` processes, its fastest local sampler;
sciope_abs: a Dask ``LocalCluster`` with as many single-threaded workers).

pyABC runs first for ``--generations`` populations; sciope_abs then runs until its tolerance
reaches pyABC's final epsilon (``target_tolerance``), twice: with its default kernel (2 x the
weighted covariance) and with pyABC's kernel rule (``MultivariateNormalKernel("silverman")``,
pyABC's ``MultivariateNormalTransition`` default), the latter giving ``pyabc_wall_over_ours``
(the same statistical algorithm on both sides). Reported: wall time and simulations of
each, their ratio, and the agreement of the two posteriors (mean difference in posterior sds, sd
ratio, C2ST accuracy of a logistic regression on quadratic features, 5-fold, between 1000
weighted resamples of each; 0.5 = indistinguishable).

Usage: python benchmarks/bench_peers.py [--quick] [--workers 2]
  -> benchmarks/results/peers.json, and the key ``pyabc_wall_over_ours`` (plus
     ``gillespy_over_compiled_ssa``) merged into benchmarks/results/performance.json
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

from sciope_abs.crn import load_model  # noqa: E402
from sciope_abs.distances import Distance  # noqa: E402
from sciope_abs.inference import SMCABC, MultivariateNormalKernel  # noqa: E402
from sciope_abs.priors import JointPrior  # noqa: E402
from sciope_abs.simulators import FastSSASimulator, GillespySimulator  # noqa: E402
from sciope_abs.summaries import AutoCorrelation, Mean, Std  # noqa: E402

SPECIES = ("U", "V")
log = logging.getLogger("bench_peers")


class ScaledEuclidean(Distance):
    """Euclidean distance of summaries divided by fixed per-feature scales (shared by both sides)."""

    def __init__(self, scale: np.ndarray):
        self.scale = np.asarray(scale, dtype=float)

    def get_params(self) -> dict:
        return {"scale": self.scale.tolist()}

    def _distance(self, diff: np.ndarray) -> np.ndarray:
        return np.sqrt(np.sum((diff / self.scale) ** 2, axis=1))


def problem(n_traj_obs: int, n_pilot: int) -> dict:
    model = load_model("toggle_switch")
    sim = FastSSASimulator(model)
    names = list(sim.param_names)
    truth = np.array([model.parameters[p] for p in names])
    prior = JointPrior.uniform_around(dict(zip(names, truth)), 0.1, 2.0)
    summary = Mean(species=SPECIES) + Std(species=SPECIES) + AutoCorrelation(lags=(1, 2), species=SPECIES)
    obs = sim.simulate(truth[None], n_traj=n_traj_obs, seed=1)[0]
    pilot = summary(sim.simulate(prior.sample(n_pilot, seed=2), n_traj=10, seed=3))
    pilot = pilot[np.all(np.isfinite(pilot), axis=1)]
    mad = np.median(np.abs(pilot - np.median(pilot, axis=0)), axis=0)
    scale = np.where(mad > 0, mad, 1.0)
    return {"sim": sim, "names": names, "truth": truth, "prior": prior, "summary": summary, "obs": obs,
            "s_obs": summary(obs[None])[0], "scale": scale, "lo": prior.bounds[:, 0], "hi": prior.bounds[:, 1]}


def _pyabc_model(prob: dict, n_traj: int):
    sim, summary, names = prob["sim"], prob["summary"], prob["names"]

    def model(pars: dict) -> dict:
        theta = np.array([[pars[n] for n in names]])
        seed = int(np.random.default_rng().integers(2**63))
        return {"s": summary(sim.simulate(theta, n_traj=n_traj, seed=seed))[0]}
    return model


def run_pyabc(prob: dict, args) -> dict:
    import pyabc

    scale = prob["scale"]

    def distance(a: dict, b: dict) -> float:
        s = a["s"]
        if not np.all(np.isfinite(s)):
            return float("inf")
        return float(np.sqrt(np.sum(((s - b["s"]) / scale) ** 2)))

    prior = pyabc.Distribution(**{n: pyabc.RV("uniform", lo, hi - lo)
                                  for n, lo, hi in zip(prob["names"], prob["lo"], prob["hi"])})
    sampler = pyabc.sampler.MulticoreEvalParallelSampler(n_procs=args.workers)
    abc = pyabc.ABCSMC(_pyabc_model(prob, args.n_traj), prior, distance, population_size=args.particles,
                       eps=pyabc.MedianEpsilon(), sampler=sampler)
    with tempfile.TemporaryDirectory() as tmp:
        db = "sqlite:///" + os.path.join(tmp, "pyabc.db")
        abc.new(db, {"s": prob["s_obs"]})
        t0 = time.perf_counter()
        hist = abc.run(max_nr_populations=args.generations)
        wall = time.perf_counter() - t0
        df, w = hist.get_distribution(m=0, t=hist.max_t)
        pops = hist.get_all_populations()
        eps = [float(e) for e in pops["epsilon"].to_numpy() if np.isfinite(e)]
        samples = df[prob["names"]].to_numpy()
        n_sims, n_gen = int(hist.total_nr_simulations), int(hist.max_t + 1)
    return {"wall_s": wall, "n_simulations": n_sims, "generations": n_gen,
            "epsilons": eps, "final_tolerance": eps[-1], "samples": samples, "weights": np.asarray(w)}


def run_ours(prob: dict, args, target: float, kernel=None) -> dict:
    """sciope_abs's SMC-ABC to ``target`` on a fresh 2-worker cluster; ``kernel``: the
    perturbation kernel (None: the default, 2 x the weighted covariance)."""
    from sciope_abs.engine import close_clients, get_client

    client = get_client(n_workers=args.workers, verbose=False)
    smc = SMCABC(prob["sim"], prob["prior"], prob["summary"], ScaledEuclidean(prob["scale"]),
                 observed=prob["obs"], n_traj=args.n_traj, client=client, kernel=kernel)
    smc.infer(50, max_rounds=2, seed=0, target_tolerance=None)          # warm the workers up
    t0 = time.perf_counter()
    post = smc.infer(args.particles, target_tolerance=target, max_rounds=args.generations + 10, seed=7)
    wall = time.perf_counter() - t0
    close_clients()
    return {"wall_s": wall, "n_simulations": int(post.n_simulations), "generations": len(post.history),
            "ess": float(post.ess), "kernel": "default (2 x weighted covariance)" if kernel is None else
            f"MultivariateNormalKernel(scale={kernel.scale!r})",
            "epsilons": [float(h["tolerance"]) for h in post.history],
            "final_tolerance": float(post.history[-1]["tolerance"]), "message": post.message,
            "samples": post.samples, "weights": post.weights}


def c2st(a: np.ndarray, b: np.ndarray, seed: int = 0) -> float:
    """Cross-validated accuracy of a logistic regression (quadratic features) telling ``a`` from ``b``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    x = np.vstack([a, b])
    y = np.r_[np.zeros(len(a)), np.ones(len(b))]
    clf = make_pipeline(StandardScaler(), PolynomialFeatures(2), LogisticRegression(max_iter=2000))
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    return float(cross_val_score(clf, x, y, cv=cv, scoring="accuracy").mean())


def agreement(a: dict, b: dict, n: int = 1000) -> dict:
    rng = np.random.default_rng(0)

    def draw(r: dict) -> np.ndarray:
        w = np.asarray(r["weights"], float)
        return r["samples"][rng.choice(len(w), size=n, p=w / w.sum())]

    da, db = draw(a), draw(b)
    sd = np.sqrt(0.5 * (da.var(0) + db.var(0)))
    return {"mean_diff_in_sd": ((da.mean(0) - db.mean(0)) / sd).tolist(),
            "sd_ratio_ours_over_pyabc": (db.std(0) / da.std(0)).tolist(), "c2st": c2st(da, db)}


def ssa_side_by_side(args) -> dict:
    """GillesPy2's C++ SSA and the compiled SSA on the same grid, seeds and trajectory count."""
    model = load_model("toggle_switch")
    fast, gsp = FastSSASimulator(model), GillespySimulator(model, solver="ssa")
    names = list(fast.param_names)
    truth = np.array([model.parameters[p] for p in names])
    grid = JointPrior.uniform_around(dict(zip(names, truth)), 0.5, 1.5).sample(args.ssa_points, seed=4)
    gsp.simulate(grid[:1], n_traj=1, seed=0)                       # compile outside the timing
    fast.simulate(grid[:1], n_traj=1, seed=0)
    t0 = time.perf_counter()
    gsp.simulate(grid, n_traj=args.n_traj, seed=5)
    t_g = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast.simulate(grid, n_traj=args.n_traj, seed=5)
    t_f = time.perf_counter() - t0
    return {"points": args.ssa_points, "n_traj": args.n_traj, "gillespy_s": t_g, "compiled_s": t_f,
            "gillespy_over_compiled": t_g / t_f}


def merge_performance(keys: dict) -> None:
    path = HERE / "results" / "performance.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(keys)
    path.write_text(json.dumps(data, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(HERE / "results" / "peers.json"))
    args = ap.parse_args()
    try:
        import pyabc  # noqa: F401
    except ImportError:
        sys.exit("bench_peers.py needs pyABC, a benchmark-only extra: pip install -e \".[bench]\"")
    args.particles = 100 if args.quick else 500
    args.generations = 3 if args.quick else 8
    args.n_traj, args.ssa_points = 10, (5 if args.quick else 50)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("ABC").propagate = False                  # pyABC logs through its own handler
    prob = problem(20, 200 if args.quick else 1000)
    load0 = list(os.getloadavg())
    log.info("pyABC ABC-SMC ...")
    pa = run_pyabc(prob, args)
    log.info("  %.1f s, %d simulations, final eps %.4g", pa["wall_s"], pa["n_simulations"], pa["final_tolerance"])
    log.info("sciope_abs SMC-ABC to the same tolerance ...")
    ours = run_ours(prob, args, pa["final_tolerance"])
    log.info("  %.1f s, %d simulations, final eps %.4g", ours["wall_s"], ours["n_simulations"],
             ours["final_tolerance"])
    log.info("sciope_abs SMC-ABC with pyABC's kernel rule (Silverman bandwidth) ...")
    same = run_ours(prob, args, pa["final_tolerance"], MultivariateNormalKernel("silverman"))
    log.info("  %.1f s, %d simulations, final eps %.4g", same["wall_s"], same["n_simulations"],
             same["final_tolerance"])
    ssa = ssa_side_by_side(args)
    strip = ("samples", "weights")
    out = {"config": {"model": "toggle_switch", "particles": args.particles, "generations_pyabc": args.generations,
                      "n_traj_per_proposal": args.n_traj, "workers": args.workers,
                      "summaries": "mean, std, autocorrelation lags 1,2 of U, V",
                      "distance": "Euclidean on summaries / MAD of a prior pilot (fixed, shared)",
                      "epsilon": "median of the previous population's distances (both)",
                      "simulator": "FastSSASimulator (both)",
                      "pyabc": "pyabc 0.13, MulticoreEvalParallelSampler(n_procs=workers)",
                      "ours": "SMCABC on a LocalCluster of `workers` single-threaded processes"},
           "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_at_start": load0,
                       "load_at_end": list(os.getloadavg())},
           "pyabc": {k: v for k, v in pa.items() if k not in strip},
           "ours": {k: v for k, v in ours.items() if k not in strip},
           "ours_same_kernel": {k: v for k, v in same.items() if k not in strip},
           "agreement": agreement(pa, ours), "agreement_same_kernel": agreement(pa, same), "ssa": ssa,
           # the samplers on the same kernel rule (pyABC's default, Silverman): the same statistical
           # algorithm, so equal accuracy, and the ratio measures the implementations
           "pyabc_wall_over_ours": pa["wall_s"] / same["wall_s"],
           "pyabc_simulations_over_ours": pa["n_simulations"] / same["n_simulations"],
           # this toolbox's default kernel (2 x covariance: more simulations, a larger ESS)
           "pyabc_wall_over_ours_default_kernel": pa["wall_s"] / ours["wall_s"],
           "pyabc_simulations_over_ours_default_kernel": pa["n_simulations"] / ours["n_simulations"]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    if not args.quick:
        merge_performance({"pyabc_wall_over_ours": out["pyabc_wall_over_ours"],
                           "pyabc_wall_over_ours_default_kernel": out["pyabc_wall_over_ours_default_kernel"],
                           "gillespy_over_compiled_ssa": ssa["gillespy_over_compiled"]})
    log.info("pyabc wall / ours = %.2f with the same kernel rule (C2ST %.3f), %.2f with our default kernel "
             "(C2ST %.3f); wrote %s", out["pyabc_wall_over_ours"], out["agreement_same_kernel"]["c2st"],
             out["pyabc_wall_over_ours_default_kernel"], out["agreement"]["c2st"], args.out)


if __name__ == "__main__":
    main()
