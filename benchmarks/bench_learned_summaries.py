"""Learned summary statistics vs hand-picked ones for SMC-ABC, against an exact posterior (issue 15).

Problem (a), ``immigration_death``: the reaction network 0 -> X (k1), X -> 0 (k2 X), X(0) = 0,
one trajectory observed at t = 0, 1, ..., 20.  Its likelihood is exact: the transition over one
time unit is ``Binomial(x_t, e^-k2) + Poisson(k1 / k2 (1 - e^-k2))``, so the posterior under the
uniform prior k1 ~ U(2, 20), k2 ~ U(0.1, 1) is computed on a 150 x 150 grid of cell centres and
the reference sample is 1000 grid draws (by posterior mass) jittered uniformly inside their cell.
Simulations are the toolbox's exact compiled SSA (``FastSSASimulator``).

Methods, all SMC-ABC (1000 particles, quantile 0.5, MAD-scaled distance), **same total budget
of simulations per observation, the pilot included**:

- ``handpicked``: Mean + Std + AutoCorrelation(1, 2), the whole budget for the ABC;
- ``semiauto``: Fearnhead & Prangle's linear regression of theta on those features and their
  squares, fitted on a pilot of prior simulations;
- ``cnn``, ``pen``: :class:`~sciope_abs.surrogates.learned.LearnedSummary` trained on that pilot;
- ``cnn_emulator``: the CNN trained on a pilot simulated by an MDN emulator of the same network
  (trained here on its own SSA data set, counted separately), the ABC with the exact SSA;
- ``cnn_handpicked`` (only with ``--methods``): the CNN's features concatenated with the
  hand-picked ones.

The learned summaries are fitted once per method on one pilot and used for every observation
(amortised); each run's ``n_simulations`` still counts the pilot in full.  Over ``--n-obs``
synthetic observations (truth drawn from the prior) it reports, per method: the classifier
two-sample test (C2ST: 5-fold stratified cross-validated accuracy of scikit-learn's
``MLPClassifier((32, 32))`` on standardised parameters, 1000 ABC draws resampled by weight vs
1000 reference draws; 0.5 = indistinguishable), the posterior-mean error in reference standard
deviations, the sd ratio (ABC / reference), the coverage of the truth by the 95 % central
credible interval (over observations and parameters) and the wall time per run (ABC plus the
full pilot and fit).  An ``exact`` row gives the floor: C2ST of two independent reference samples
and the exact posterior's coverage.  Results are rewritten after every observation; a run with
another ``--budget`` is kept beside the earlier ones (``runs`` in the JSON, all in ``rows``).

Command: ``.venv/bin/python benchmarks/bench_learned_summaries.py`` (``--quick`` for a smoke run).
Problem (b), the toggle switch against a long exact-SSA SMC reference, is not run by this script.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

from sciope_abs.crn.model import CRN, Reaction  # noqa: E402
from sciope_abs.distances import Adaptive  # noqa: E402
from sciope_abs.inference import SMCABC  # noqa: E402
from sciope_abs.inference.posterior import weighted_quantile  # noqa: E402
from sciope_abs.inference.learned import pilot_simulations  # noqa: E402
from sciope_abs.priors import JointPrior, Uniform  # noqa: E402
from sciope_abs.simulators.fast_ssa import FastSSASimulator  # noqa: E402
from sciope_abs.summaries import AutoCorrelation, Mean, Std  # noqa: E402

logger = logging.getLogger("bench_learned_summaries")
METHODS = ("handpicked", "semiauto", "cnn", "pen", "cnn_emulator", "cnn_handpicked")
DEFAULT_METHODS = METHODS[:5]
GRID = 150
LOW, HIGH = np.array([2.0, 0.1]), np.array([20.0, 1.0])


def immigration_death() -> CRN:
    return CRN(name="immigration_death", species=("X",), parameters={"k1": 10.0, "k2": 0.5},
               reactions=[Reaction("birth", {}, {"X": 1}, rate="k1"), Reaction("death", {"X": 1}, {}, rate="k2")],
               initial_state={"X": 0}, initial_ranges={"X": (0, 100)},
               rate_ranges={"k1": (2.0, 20.0), "k2": (0.1, 1.0)}, dt=1.0, n_steps=20)


def grid_log_likelihood(traj: np.ndarray, k1: np.ndarray, k2: np.ndarray) -> np.ndarray:
    """Exact log-likelihood of trajectories ``traj`` (r, T) (unit time steps) at each (k1, k2)."""
    from scipy.stats import binom, poisson

    p = np.exp(-k2)
    lam = k1 / k2 * (1.0 - p)
    ll = np.zeros_like(k1)
    for tr in np.asarray(traj, dtype=np.int64):
        for a, b in zip(tr[:-1], tr[1:]):
            j = np.arange(0, min(a, b) + 1)[:, None]
            s = (binom.pmf(j, a, p[None, :]) * poisson.pmf(b - j, lam[None, :])).sum(axis=0)
            ll += np.log(np.maximum(s, 1e-300))
    return ll


def exact_posterior_sample(traj: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` draws from the grid posterior (uniform prior), jittered inside their cells."""
    width = (HIGH - LOW) / GRID
    c1 = LOW[0] + (np.arange(GRID) + 0.5) * width[0]
    c2 = LOW[1] + (np.arange(GRID) + 0.5) * width[1]
    K1, K2 = np.meshgrid(c1, c2, indexing="ij")
    ll = grid_log_likelihood(traj, K1.ravel(), K2.ravel())
    w = np.exp(ll - ll.max())
    w /= w.sum()
    rng = np.random.default_rng(seed)
    idx = rng.choice(w.size, size=n, p=w)
    centres = np.c_[K1.ravel()[idx], K2.ravel()[idx]]
    return centres + rng.uniform(-0.5, 0.5, size=(n, 2)) * width


def c2st(a: np.ndarray, b: np.ndarray, seed: int = 0) -> float:
    """5-fold cross-validated accuracy of an MLP classifier telling ``a`` from ``b``."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.vstack([a, b])
    y = np.r_[np.zeros(len(a)), np.ones(len(b))]
    clf = make_pipeline(StandardScaler(), MLPClassifier((32, 32), max_iter=1000, random_state=seed))
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(cross_val_score(clf, x, y, cv=cv, scoring="accuracy").mean())


def posterior_metrics(post, draws: np.ndarray, ref: np.ndarray, truth: np.ndarray) -> dict:
    lo = np.array([weighted_quantile(post.samples[:, j], 0.025, post.weights) for j in range(post.ndim)]).ravel()
    hi = np.array([weighted_quantile(post.samples[:, j], 0.975, post.weights) for j in range(post.ndim)]).ravel()
    mean, sd = post.mean(), post.std()
    return {"c2st": c2st(draws, ref), "mean_error_sd": (np.abs(mean - ref.mean(0)) / ref.std(0)).tolist(),
            "sd_ratio": (sd / ref.std(0)).tolist(), "covered": ((lo <= truth) & (truth <= hi)).tolist()}


def train_emulator(crn: CRN, n_settings: int, n_traj: int, epochs: int, seed: int):
    from sciope_abs.abstraction import build_dataset, train

    t0 = time.perf_counter()
    ds = build_dataset(crn, n_settings, n_traj, vary_params=("k1", "k2"), seed=seed, client="sync",
                       solver="fast_ssa", progress=False)
    emu = train(ds, epochs=epochs, patience=8, seed=seed + 1, progress=False)
    return emu, {"emulator_training_trajectories": n_settings * n_traj, "emulator_seconds": time.perf_counter() - t0}


def fit_summaries(methods, sim, prior, handpicked, args) -> dict:
    """One fitted summary per method (pilot simulations shared by the exact-pilot methods)."""
    from sciope_abs.surrogates.learned import LearnedSummary
    from sciope_abs.surrogates.learned_semiauto import SemiAutoSummary

    out = {"handpicked": {"summary": handpicked, "pilot": 0, "fit_s": 0.0}}
    need_exact = [m for m in methods if m in ("semiauto", "cnn", "pen", "cnn_handpicked")]
    if need_exact:
        t0 = time.perf_counter()
        theta, x = pilot_simulations(sim, prior, args.pilot, seed=101, client="sync")
        pilot_s = time.perf_counter() - t0
    net = dict(epochs=args.epochs, patience=10, seed=7)
    if "semiauto" in methods:
        t0 = time.perf_counter()
        s = SemiAutoSummary(handpicked, "quadratic").fit(theta, x, prior=prior)
        out["semiauto"] = {"summary": s, "pilot": args.pilot, "fit_s": pilot_s + time.perf_counter() - t0,
                           "r2": s.r2_.tolist()}
    for arch in ("cnn", "pen"):
        if arch in methods or (arch == "cnn" and "cnn_handpicked" in methods):
            t0 = time.perf_counter()
            s = LearnedSummary(arch, **net).fit(theta, x, prior=prior)
            out[arch] = {"summary": s, "pilot": args.pilot, "fit_s": pilot_s + time.perf_counter() - t0,
                         "val_mse": s.card_["best_val_mse"], "epochs_run": s.card_["epochs_run"]}
            logger.info("%s fitted: val MSE %.3f after %d epochs", arch, s.card_["best_val_mse"], s.card_["epochs_run"])
    if "cnn_handpicked" in methods:
        out["cnn_handpicked"] = {**out["cnn"], "summary": out["cnn"]["summary"] + handpicked}
    if "cnn_emulator" in methods:
        emu, info = train_emulator(sim.model, args.emu_settings, args.emu_traj, args.emu_epochs, seed=55)
        t0 = time.perf_counter()
        theta_e, x_e = pilot_simulations(emu, prior, args.pilot, seed=101, client="sync")
        s = LearnedSummary("cnn", **net).fit(theta_e, x_e, prior=prior)
        out["cnn_emulator"] = {"summary": s, "pilot": args.pilot, "fit_s": info["emulator_seconds"] +
                               time.perf_counter() - t0, "val_mse": s.card_["best_val_mse"], **info}
    return out


def aggregate(cases: list, fitted: dict, args) -> list:
    rows = []
    by = {}
    for c in cases:
        by.setdefault(c["summary"], []).append(c)
    for name, cs in by.items():
        cov = np.array([c["covered"] for c in cs], dtype=float)
        row = {"problem": "immigration_death", "summary": name, "n_simulations": int(np.mean([c["n_simulations"] for c in cs])),
               "c2st": float(np.mean([c["c2st"] for c in cs])), "coverage_95": float(cov.mean()),
               "wall_s": float(np.mean([c["wall_s"] for c in cs])), "n_obs": len(cs),
               "c2st_sd": float(np.std([c["c2st"] for c in cs])),
               "mean_error_sd": np.mean([c["mean_error_sd"] for c in cs], axis=0).tolist(),
               "sd_ratio": np.mean([c["sd_ratio"] for c in cs], axis=0).tolist(),
               "coverage_per_parameter": cov.mean(axis=0).tolist()}
        info = fitted.get(name, {})
        row.update({k: v for k, v in info.items() if k not in ("summary",)})
        if name == "cnn_emulator":
            row["n_exact_simulations"] = row["n_simulations"] - info.get("pilot", 0) + \
                info.get("emulator_training_trajectories", 0)
        rows.append(row)
    return rows


def run_case(name: str, entry: dict, sim, prior, obs, ref, truth, args, seed: int) -> dict:
    budget = args.budget - entry["pilot"]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = SMCABC(sim, prior, entry["summary"], Adaptive(), obs, client="sync").infer(
            args.particles, quantile=0.5, max_rounds=100, min_acceptance_rate=0.001, max_simulations=budget,
            seed=seed)
    abc_s = time.perf_counter() - t0
    draws = post.sample(len(ref), seed=seed)
    m = posterior_metrics(post, draws, ref, truth)
    return {"summary": name, "n_simulations": int(entry["pilot"] + post.n_simulations), "abc_s": abc_s,
            "wall_s": abc_s + entry["fit_s"], "rounds": len(post.history), "truth": truth.tolist(), **m}


def write_merged(out: Path, doc: dict) -> None:
    """Write ``doc`` as the run of its budget into ``out``, keeping the runs of other budgets;
    ``rows`` lists every run's rows (the ``exact`` row once)."""
    runs = {}
    if out.exists():
        old = json.loads(out.read_text())
        runs = old.get("runs") or {f"budget_{old['settings']['budget']}": old}
    label = f"budget_{doc['settings']['budget']}"
    runs[label] = {k: v for k, v in doc.items() if k != "runs"}
    rows, seen = [], set()
    for run in runs.values():
        for row in run["rows"]:
            key = (row["problem"], row["summary"], row["n_simulations"])
            if key not in seen:
                seen.add(key)
                rows.append(row)
    full = {"rows": rows, "problem": doc["problem"], "c2st_classifier": doc["c2st_classifier"], "runs": runs}
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(full, indent=1))
    os.replace(tmp, out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-obs", type=int, default=20)
    ap.add_argument("--budget", type=int, default=50_000)
    ap.add_argument("--pilot", type=int, default=5_000)
    ap.add_argument("--particles", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--emu-settings", type=int, default=300)
    ap.add_argument("--emu-traj", type=int, default=20)
    ap.add_argument("--emu-epochs", type=int, default=60)
    ap.add_argument("--methods", default=",".join(DEFAULT_METHODS))
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    ap.add_argument("--out", default=str(HERE / "results" / "learned_summaries.json"))
    args = ap.parse_args()
    if args.quick:
        args.n_obs, args.budget, args.pilot, args.particles, args.epochs = 2, 4000, 1000, 200, 5
        args.emu_settings, args.emu_traj, args.emu_epochs = 20, 5, 2
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = sorted(set(methods) - set(METHODS))
    if bad:
        raise SystemExit(f"unknown methods {bad}; choose from {list(METHODS)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    crn = immigration_death()
    sim = FastSSASimulator(crn, param_names=("k1", "k2"))
    prior = JointPrior({"k1": Uniform(LOW[0], HIGH[0]), "k2": Uniform(LOW[1], HIGH[1])})
    handpicked = Mean(species=("X",)) + Std(species=("X",)) + AutoCorrelation(lags=(1, 2), species=("X",))
    truths = prior.sample(args.n_obs, 2024)
    observed = sim.simulate(truths, n_traj=1, seed=2025)
    t_start = time.perf_counter()
    fitted = fit_summaries(methods, sim, prior, handpicked, args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cases: list = []
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    for i in range(args.n_obs):
        ref = exact_posterior_sample(observed[i, :, 0], 2 * 1000, seed=300 + i)
        ref_a, ref_b = ref[:1000], ref[1000:]
        lo, hi = np.quantile(ref_a, 0.025, axis=0), np.quantile(ref_a, 0.975, axis=0)
        cases.append({"summary": "exact", "n_simulations": 0, "wall_s": 0.0, "c2st": c2st(ref_b, ref_a),
                      "mean_error_sd": (np.abs(ref_b.mean(0) - ref_a.mean(0)) / ref_a.std(0)).tolist(),
                      "sd_ratio": (ref_b.std(0) / ref_a.std(0)).tolist(),
                      "covered": ((lo <= truths[i]) & (truths[i] <= hi)).tolist(), "truth": truths[i].tolist()})
        for name in methods:
            c = run_case(name, fitted[name], sim, prior, observed[i], ref_a, truths[i], args, seed=1000 + i)
            c["obs"] = i
            cases.append(c)
            logger.info("obs %d %s: c2st %.3f sd ratio %s covered %s (%.1f s)", i, name, c["c2st"],
                        np.round(c["sd_ratio"], 2), c["covered"], c["abc_s"])
        doc = {"rows": aggregate(cases, fitted, args), "settings": settings, "n_obs_done": i + 1,
               "elapsed_s": time.perf_counter() - t_start,
               "problem": {"immigration_death": "0 -> X (k1), X -> 0 (k2 X), X(0)=0, t=0..20, 1 trajectory; "
                                                "prior k1~U(2,20), k2~U(0.1,1); exact grid posterior 150x150"},
               "c2st_classifier": "sklearn MLPClassifier((32, 32), max_iter=1000) on standardised theta, "
                                  "StratifiedKFold(5, shuffle, random_state=0), 1000 vs 1000 draws",
               "cases": cases}
        write_merged(out, doc)
    logger.info("done in %.0f s -> %s", time.perf_counter() - t_start, out)


if __name__ == "__main__":
    main()
