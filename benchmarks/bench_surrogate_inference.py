"""Simulations needed by BOLFI and replenishment SMC-ABC vs SMC-ABC at equal accuracy (issue 16).

Two cheap models with an exact posterior to compare against:

* ``gauss2`` -- 20 iid N(mu, exp(log_sigma)^2) values; summaries mean and std (sufficient);
  prior Uniform(-3, 3) x Uniform(-1, 1); truth (1.0, 0.0).
* ``ma2`` -- the MA(2) process x_t = e_t + a1 e_{t-1} + a2 e_{t-2}, T = 100, the model of Sciope's
  SMC / replenishment example; summaries variance and autocovariances at lags 1, 2; prior
  Uniform(0, 1)^2 (Sciope's); truth (0.6, 0.2).

The reference posterior is the exact one (likelihood on a 150 x 150 grid; Gaussian for MA(2)).
Accuracy = C2ST (5-fold logistic regression on quadratic features, 0.5 = indistinguishable)
between 500 equally weighted draws of a method's posterior and 500 reference draws. For SMC-ABC
and replenishment SMC every round's population is read back from the run store with its
cumulative simulation count; BOLFI is run at several budgets. "Simulations needed" = the first
budget whose C2ST is at or below the target (per model: the best C2ST SMC-ABC reaches within its
budget, plus 0.02 for the C2ST's own noise of ~0.02 at 500 vs 500).

    python benchmarks/bench_surrogate_inference.py [--quick]   -> results/surrogate_inference.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from sciope_abs.distances import Adaptive  # noqa: E402
from sciope_abs.inference import BOLFI, SMCABC, History, ReplenishmentSMCABC  # noqa: E402
from sciope_abs.priors import JointPrior, Uniform  # noqa: E402
from sciope_abs.seeding import point_seeds  # noqa: E402
from sciope_abs.simulators.base import Simulator, check_theta  # noqa: E402

OUT = HERE / "results" / "surrogate_inference.json"
N_DRAWS = 500


class Gauss2(Simulator):
    """20 iid N(mu, exp(log_sigma)^2) values as one species over 20 time points."""

    def __init__(self, T: int = 20) -> None:
        self.param_names, self.species, self.timespan = ("mu", "log_sigma"), ("X",), np.arange(T, dtype=float)

    def simulate(self, theta, *, n_traj=1, seed=None, initial_state=None):
        theta = check_theta(theta, self.param_names, allow_negative=True)
        out = np.empty((theta.shape[0], n_traj, 1, len(self.timespan)))
        for i, ss in enumerate(point_seeds(seed, theta.shape[0])):
            z = np.random.default_rng(ss).standard_normal((n_traj, 1, len(self.timespan)))
            out[i] = theta[i, 0] + np.exp(theta[i, 1]) * z
        return out


class MA2(Simulator):
    """MA(2) series of length T as one species."""

    def __init__(self, T: int = 100) -> None:
        self.param_names, self.species, self.timespan = ("a1", "a2"), ("X",), np.arange(T, dtype=float)

    def simulate(self, theta, *, n_traj=1, seed=None, initial_state=None):
        theta = check_theta(theta, self.param_names, allow_negative=True)
        T = len(self.timespan)
        out = np.empty((theta.shape[0], n_traj, 1, T))
        for i, ss in enumerate(point_seeds(seed, theta.shape[0])):
            e = np.random.default_rng(ss).standard_normal((n_traj, T + 2))
            out[i, :, 0] = e[:, 2:] + theta[i, 0] * e[:, 1:-1] + theta[i, 1] * e[:, :-2]
        return out


class MeanStd:
    names = ["X__mean", "X__std"]

    def __call__(self, x):
        x = np.asarray(x, dtype=float)
        return np.stack([x.mean(axis=(1, 3))[:, 0], x.std(axis=(1, 3))[:, 0]], axis=1)


class AutoCov:
    names = ["X__var", "X__acov1", "X__acov2"]

    def __call__(self, x):
        x = np.asarray(x, dtype=float)[:, :, 0, :]
        x = x - x.mean(axis=2, keepdims=True)
        out = [np.mean(x * x, axis=2)] + [np.mean(x[:, :, k:] * x[:, :, :-k], axis=2) for k in (1, 2)]
        return np.stack([o.mean(axis=1) for o in out], axis=1)


def _grid_draws(logp: np.ndarray, g1: np.ndarray, g2: np.ndarray, n: int, seed: int) -> np.ndarray:
    p = np.exp(logp - logp.max()).ravel()
    p /= p.sum()
    rng = np.random.default_rng(seed)
    idx = rng.choice(p.size, size=n, p=p)
    i, j = np.unravel_index(idx, logp.shape)
    h1, h2 = g1[1] - g1[0], g2[1] - g2[0]
    return np.c_[g1[i] + h1 * (rng.random(n) - 0.5), g2[j] + h2 * (rng.random(n) - 0.5)]


def reference(name: str, x_obs: np.ndarray, prior: JointPrior, n: int) -> np.ndarray:
    """Draws from the exact posterior on a 150 x 150 grid over the prior box."""
    b = prior.bounds
    g1, g2 = (np.linspace(b[k, 0], b[k, 1], 151)[:-1] + (b[k, 1] - b[k, 0]) / 300 for k in range(2))
    x = x_obs.reshape(-1)
    logp = np.empty((g1.size, g2.size))
    if name == "gauss2":
        for i, mu in enumerate(g1):
            s = np.exp(g2)
            logp[i] = -x.size * np.log(s) - ((x - mu) ** 2).sum() / (2 * s ** 2)
    else:
        from scipy.linalg import cho_factor, cho_solve
        from scipy.linalg import toeplitz

        T = x.size
        for i, a1 in enumerate(g1):
            for j, a2 in enumerate(g2):
                col = np.zeros(T)
                col[0], col[1], col[2] = 1 + a1 ** 2 + a2 ** 2, a1 + a1 * a2, a2
                c = cho_factor(toeplitz(col))
                logp[i, j] = -np.log(np.diag(c[0])).sum() - 0.5 * x @ cho_solve(c, x)
    return _grid_draws(logp, g1, g2, n, seed=11)


def c2st(a: np.ndarray, b: np.ndarray, seed: int = 0) -> float:
    """Cross-validated accuracy of a logistic regression (quadratic features) telling ``a`` from ``b``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    x = np.vstack([a, b])
    y = np.r_[np.zeros(len(a)), np.ones(len(b))]
    clf = make_pipeline(StandardScaler(), PolynomialFeatures(2), LogisticRegression(max_iter=2000))
    return float(cross_val_score(clf, x, y, cv=StratifiedKFold(5, shuffle=True, random_state=seed),
                                 scoring="accuracy").mean())


def _resample(particles: np.ndarray, weights: np.ndarray, n: int, seed: int) -> np.ndarray:
    idx = np.random.default_rng(seed).choice(len(particles), size=n, replace=True, p=weights / weights.sum())
    return particles[idx]


def curve_from_store(run_dir: Path, ref: np.ndarray) -> list[dict]:
    """(cumulative simulations, tolerance, C2ST) after every stored round."""
    h = History.load(run_dir)
    out, cum = [], 0
    for t, entry in enumerate(h.rounds[: h.last_round + 1]):
        cum += int(entry["n_simulations"])
        pop = h.population(t)
        draws = _resample(pop.particles, pop.weights, N_DRAWS, seed=t)
        out.append({"round": t, "n_simulations": cum, "tolerance": float(entry["tolerance"]),
                    "c2st": c2st(draws, ref)})
    return out


def first_reaching(curve: list[dict], target: float):
    hit = [c["n_simulations"] for c in curve if c["c2st"] <= target]
    return min(hit) if hit else None


def run_model(name: str, quick: bool) -> dict:
    if name == "gauss2":
        sim, summ, truth = Gauss2(), MeanStd(), [[1.0, 0.0]]
        prior = JointPrior({"mu": Uniform(-3.0, 3.0), "log_sigma": Uniform(-1.0, 1.0)})
    else:
        sim, summ, truth = MA2(), AutoCov(), [[0.6, 0.2]]
        prior = JointPrior({"a1": Uniform(0.0, 1.0), "a2": Uniform(0.0, 1.0)})
    obs = sim.simulate(truth, n_traj=1, seed=2024)[0]
    ref = reference(name, obs, prior, N_DRAWS)
    n_part = 200 if quick else 500
    res: dict = {"model": name, "truth": truth[0], "n_draws": N_DRAWS, "reference_mean": ref.mean(0).tolist(),
                 "reference_std": ref.std(0).tolist()}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        SMCABC(sim, prior, summ, Adaptive(), observed=obs, client="sync").infer(
            n_part, quantile=0.5, max_rounds=4 if quick else 9, min_acceptance_rate=0.005, seed=1,
            run_dir=Path(tmp) / "smc", batch_size=100)
        res["smc"] = {"n_particles": n_part, "wall_time_s": time.perf_counter() - t0,
                      "curve": curve_from_store(Path(tmp) / "smc", ref)}
        print(name, "smc", res["smc"]["curve"][-1], flush=True)
        t0 = time.perf_counter()
        ReplenishmentSMCABC(sim, prior, summ, Adaptive(), observed=obs, client="sync").infer(
            n_part, alpha=0.5, p_min=0.05, max_rounds=5 if quick else 12, seed=1, run_dir=Path(tmp) / "rep",
            batch_size=100)
        res["replenishment"] = {"n_particles": n_part, "alpha": 0.5, "wall_time_s": time.perf_counter() - t0,
                                "curve": curve_from_store(Path(tmp) / "rep", ref)}
        print(name, "rep", res["replenishment"]["curve"][-1], flush=True)
    res["bolfi"] = {"curve": []}
    for budget in ([40] if quick else [50, 100, 200]):
        t0 = time.perf_counter()
        post = BOLFI(sim, prior, summ, observed=obs, client="sync").infer(budget, batch_size=5, seed=1)
        draws = post.sample(N_DRAWS, seed=0)
        res["bolfi"]["curve"].append({"n_simulations": budget, "c2st": c2st(draws, ref), "ess": post.info["ess"],
                                      "wall_time_s": time.perf_counter() - t0})
        print(name, "bolfi", res["bolfi"]["curve"][-1], flush=True)
    summarise(res)
    return res


def summarise(res: dict) -> None:
    """Simulations each method needs to reach the target C2ST (SMC-ABC's best + 0.02), and at the
    looser levels 0.6 / 0.7 / 0.8 / 0.9 (``needed_at``); ratios are SMC-ABC's count / the method's."""
    methods = ("smc", "replenishment", "bolfi")
    target = min(c["c2st"] for c in res["smc"]["curve"]) + 0.02
    res["target_c2st"] = target
    need = {m: first_reaching(res[m]["curve"], target) for m in methods}
    res["n_simulations_needed"] = need
    res["ratio_vs_smc"] = {m: (need["smc"] / need[m] if need[m] else None) for m in ("replenishment", "bolfi")}
    res["needed_at"] = {}
    for level in (0.6, 0.7, 0.8, 0.9):
        nd = {m: first_reaching(res[m]["curve"], level) for m in methods}
        res["needed_at"][f"{level:.1f}"] = {"n_simulations": nd, "ratio_vs_smc": {
            m: (nd["smc"] / nd[m] if nd[m] and nd["smc"] else None) for m in ("replenishment", "bolfi")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--summarise", action="store_true",
                    help="recompute the summary fields of an existing result file (no new runs)")
    args = ap.parse_args()
    out = Path(args.out)
    if args.summarise:
        results = json.loads(out.read_text())
        for res in results["models"].values():
            summarise(res)
        out.write_text(json.dumps(results, indent=1))
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                                 "load_avg_start": list(os.getloadavg())}, "models": {}}
    for name in ("gauss2", "ma2"):
        results["models"][name] = run_model(name, args.quick)
        results["machine"]["load_avg_end"] = list(os.getloadavg())
        out.write_text(json.dumps(results, indent=1))   # per model, so an interruption loses nothing
    print(json.dumps({k: {"need": v["n_simulations_needed"], "ratio": v["ratio_vs_smc"]}
                      for k, v in results["models"].items()}, indent=1))


if __name__ == "__main__":
    main()
