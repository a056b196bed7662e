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

Problem (b), ``toggle`` (``--problem toggle``): the library's genetic toggle switch (Gardner et al.
1999; U and V repress each other, Hill exponents 2, decay mu = 1, U(0) = V(0) = 10), alpha1 and
alpha2 varied over the library prior U(0.1, 2) each, one trajectory of U and V observed at
t = 0, 0.5, ..., 50 (101 points).  Two references:

- the **SMC reference** the issue asks for: a long exact-SSA SMC-ABC run per reference
  observation (the first ``--n-ref`` ones; ``--ref-particles`` particles, quantile 0.5, up to
  ``--ref-budget`` simulations, on ``--ref-summary``: the full trajectory, MAD-scaled, or a rich
  summary set), its convergence shown by the C2ST between its last two rounds' populations;
  ``c2st`` of a method is measured against it (mean over the reference observations);
- the **exact posterior**: the toggle switch's counts stay small (at most 11 in 20 000 prior
  simulations; the observed traces are checked), so the chemical master equation on the truncated state
  space {0..17}^2 gives the exact transition probabilities over dt = 0.5 (uniformisation,
  error < 1e-12), hence the exact likelihood on a 60 x 60 grid of cell centres (draws jittered
  inside their cell); ``c2st_exact`` is measured against it on every SMC observation.

Same methods and budget as (a); hand-picked = Mean + Std + AutoCorrelation(1, 2) of U and V.
SMC-ABC runs on the first ``max(--n-ref, --n-smc)`` observations (C2ST, mean error and sd
ratio against the references there).  Calibration: coverage of the truth over ``--n-obs``
observations by **rejection ABC on one shared table** of ``budget - pilot`` prior simulations
(the ``--accept`` nearest per observation, MAD-scaled Euclidean distance on each method's
features), with the 95 % interval width in prior sds beside it; the SMC runs' own coverage is
``coverage_95_smc``.  Results are written after every observation and a rerun resumes (fitted
summaries and references cached under ``runs/bench_learned_summaries/``; ``--only-reference``
runs the references alone, e.g. in a second process).

Command: ``.venv/bin/python benchmarks/bench_learned_summaries.py [--problem toggle]``
(``--quick`` for a smoke run); ``--bayes-floor 120``: problem (a)'s Bayes-floor MSE only.
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

from sciope_abs.crn import load_model  # noqa: E402
from sciope_abs.crn.model import CRN, Reaction  # noqa: E402
from sciope_abs.distances import Adaptive  # noqa: E402
from sciope_abs.inference import SMCABC  # noqa: E402
from sciope_abs.inference.posterior import weighted_quantile  # noqa: E402
from sciope_abs.inference.learned import pilot_simulations  # noqa: E402
from sciope_abs.priors import JointPrior, Uniform  # noqa: E402
from sciope_abs.simulators.fast_ssa import FastSSASimulator  # noqa: E402
from sciope_abs.summaries import (AutoCorrelation, CrossCorrelation, Mean, MeanTrajectory, Quantiles,  # noqa: E402
                                  Std)

logger = logging.getLogger("bench_learned_summaries")
METHODS = ("handpicked", "semiauto", "cnn", "pen", "cnn_emulator", "cnn_handpicked")
DEFAULT_METHODS = METHODS[:5]
GRID = 150
LOW, HIGH = np.array([2.0, 0.1]), np.array([20.0, 1.0])
TOGGLE_VARY = ("alpha1", "alpha2")
TOGGLE_GRID = 60
TOGGLE_NMAX = 18
CACHE = HERE.parent / "runs" / "bench_learned_summaries"
CLASSIFIER = ("sklearn MLPClassifier((32, 32), max_iter=1000) on standardised theta, "
              "StratifiedKFold(5, shuffle, random_state=0), 1000 vs 1000 draws")
DESCRIPTIONS = {
    "immigration_death": "0 -> X (k1), X -> 0 (k2 X), X(0)=0, t=0..20, 1 trajectory; prior k1~U(2,20), "
                         "k2~U(0.1,1); exact grid posterior 150x150",
    "toggle": "library toggle_switch, alpha1, alpha2 ~ U(0.1, 2) (beta=gamma=2, mu=1 fixed), U(0)=V(0)=10, "
              "t=0..50 step 0.5, 1 trajectory of U and V; references: long exact-SSA SMC-ABC (c2st) and the "
              "exact CME posterior on a 60x60 grid (c2st_exact)"}


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


class ToggleCME:
    """Exact transition probabilities of the toggle switch over one observation step (CME).

    States (U, V) in {0..n_max-1}^2; births that would leave the box are dropped (the counts stay
    far below: 10 at t = 0, birth rates <= 2, unit decay, at most 11 in 20 000 prior
    simulations; enlarging the box
    from 18 to 26 changed the log-likelihood by < 1e-12).  The generator is linear in the rates:
    ``A = alpha1 A1 + alpha2 A2 + mu A3``; ``exp(A dt)`` applied to the observed start states by
    uniformisation (Poisson tail < 1e-15).
    """

    def __init__(self, crn: CRN, dt: float, n_max: int = TOGGLE_NMAX):
        from scipy import sparse

        self.n, self.dt, self.sparse = n_max, float(dt), sparse
        pr = crn.parameters
        self.mu, beta, gamma = float(pr["mu"]), float(pr["beta"]), float(pr["gamma"])
        u, v = (a.ravel().astype(float) for a in np.meshgrid(np.arange(n_max), np.arange(n_max), indexing="ij"))
        self.a1 = self._gen(u, v, 1.0 / (1.0 + v ** beta), 1, 0)
        self.a2 = self._gen(u, v, 1.0 / (1.0 + u ** gamma), 0, 1)
        self.a3 = self._gen(u, v, u, -1, 0) + self._gen(u, v, v, 0, -1)

    def _gen(self, u, v, rate, du, dv):
        n, sp = self.n, self.sparse
        tu, tv = u + du, v + dv
        ok = (tu >= 0) & (tu < n) & (tv >= 0) & (tv < n) & (rate > 0)
        src, dst, r = (u * n + v)[ok].astype(int), (tu * n + tv)[ok].astype(int), rate[ok]
        shape = (n * n, n * n)
        return (sp.coo_matrix((r, (dst, src)), shape=shape) - sp.coo_matrix((r, (src, src)), shape=shape)).tocsr()

    def _one(self, states: np.ndarray, a1: float, a2: float) -> float:
        from scipy.stats import poisson

        starts, inv = np.unique(states[:-1], return_inverse=True)
        gen = a1 * self.a1 + a2 * self.a2 + self.mu * self.a3
        lam = float(-gen.diagonal().min()) * 1.0001
        step = (gen / lam + self.sparse.identity(self.n ** 2, format="csr")).tocsr()
        k_max = int(poisson.ppf(1 - 1e-15, lam * self.dt)) + 5
        w = poisson.pmf(np.arange(k_max + 1), lam * self.dt)
        vec = np.zeros((self.n ** 2, len(starts)))
        vec[starts, np.arange(len(starts))] = 1.0
        out = w[0] * vec
        for k in range(1, k_max + 1):
            vec = step @ vec
            out += w[k] * vec
        return float(np.log(np.maximum(out[states[1:], inv], 1e-300)).sum())

    def log_likelihood(self, traces: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Log-likelihood of traces (r, 2, T) at each row of ``theta`` (m, 2) = (alpha1, alpha2)."""
        tr = np.asarray(traces).astype(np.int64)
        if tr.min() < 0 or tr.max() >= self.n:
            raise ValueError(f"observed counts {tr.min()}..{tr.max()} leave the CME box 0..{self.n - 1}")
        states = [t[0] * self.n + t[1] for t in tr]
        return np.array([sum(self._one(s, a, b) for s in states) for a, b in np.asarray(theta)])


def grid_posterior_sample(loglik, low: np.ndarray, high: np.ndarray, grid: int, n: int, seed: int) -> np.ndarray:
    """``n`` draws from the posterior on a ``grid`` x ``grid`` box of cell centres (uniform prior),
    jittered uniformly inside their cell; ``loglik(theta (m, 2)) -> (m,)``."""
    width = (high - low) / grid
    c1 = low[0] + (np.arange(grid) + 0.5) * width[0]
    c2 = low[1] + (np.arange(grid) + 0.5) * width[1]
    K1, K2 = np.meshgrid(c1, c2, indexing="ij")
    ll = loglik(np.c_[K1.ravel(), K2.ravel()])
    w = np.exp(ll - ll.max())
    w /= w.sum()
    rng = np.random.default_rng(seed)
    idx = rng.choice(w.size, size=n, p=w)
    centres = np.c_[K1.ravel()[idx], K2.ravel()[idx]]
    return centres + rng.uniform(-0.5, 0.5, size=(n, 2)) * width


def exact_posterior_sample(traj: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Immigration-death: ``n`` draws from the grid posterior of trajectories ``traj`` (r, T)."""
    return grid_posterior_sample(lambda th: grid_log_likelihood(traj, th[:, 0], th[:, 1]), LOW, HIGH, GRID, n, seed)


def bayes_floor(n: int, seed: int = 77) -> dict:
    """Immigration-death: ``E[Var(z | x)]`` of the prior-standardised parameters ``z`` over ``n``
    prior draws (exact grid posteriors), the lowest validation MSE any regressor of ``z`` on the
    trajectory can reach; and the MSE of the exact posterior mean (equal in expectation)."""
    sim = FastSSASimulator(immigration_death(), param_names=("k1", "k2"))
    prior = JointPrior({"k1": Uniform(LOW[0], HIGH[0]), "k2": Uniform(LOW[1], HIGH[1])})
    theta = prior.sample(n, seed)
    x = sim.simulate(theta, n_traj=1, seed=seed + 1)
    width = (HIGH - LOW) / GRID
    K1, K2 = np.meshgrid(LOW[0] + (np.arange(GRID) + 0.5) * width[0], LOW[1] + (np.arange(GRID) + 0.5) * width[1],
                         indexing="ij")
    mean, sd = np.asarray(prior.mean()).ravel(), np.asarray(prior.std()).ravel()
    z = (np.c_[K1.ravel(), K2.ravel()] - mean) / sd
    var, err = [], []
    for i in range(n):
        ll = grid_log_likelihood(x[i, :, 0], K1.ravel(), K2.ravel())
        w = np.exp(ll - ll.max())
        w /= w.sum()
        m = w @ z
        var.append(w @ (z - m) ** 2 + (width / sd) ** 2 / 12)
        err.append((m - (theta[i] - mean) / sd) ** 2)
    var, err = np.array(var), np.array(err)
    return {"rows": [], "n_draws": n, "seed": seed, "posterior_variance_std": var.mean(axis=0).tolist(),
            "posterior_variance_std_se": (var.std(axis=0) / np.sqrt(n)).tolist(), "floor": float(var.mean()),
            "mse_of_exact_posterior_mean": err.mean(axis=0).tolist()}


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


def compare(draws: np.ndarray, ref: np.ndarray, suffix: str = "", with_c2st: bool = True) -> dict:
    """C2ST (when ``with_c2st``), |mean error| in reference sds and sd ratio of ``draws`` against ``ref``."""
    out = {f"c2st{suffix}": c2st(draws, ref)} if with_c2st else {}
    return {**out, f"mean_error_sd{suffix}": (np.abs(draws.mean(0) - ref.mean(0)) / ref.std(0)).tolist(),
            f"sd_ratio{suffix}": (draws.std(0) / ref.std(0)).tolist()}


def posterior_metrics(post, draws: np.ndarray, ref: np.ndarray, truth: np.ndarray, smc_ref=None,
                      toggle: bool = False, with_c2st: bool = True) -> dict:
    """Metrics against ``ref`` and the 95 % central-interval coverage of ``truth``; with
    ``toggle`` those against ``ref`` (the CME posterior) get the suffix ``_exact`` and the
    unsuffixed ones are against ``smc_ref`` (when given)."""
    lo = np.array([weighted_quantile(post.samples[:, j], 0.025, post.weights) for j in range(post.ndim)]).ravel()
    hi = np.array([weighted_quantile(post.samples[:, j], 0.975, post.weights) for j in range(post.ndim)]).ravel()
    mean, sd = post.mean(), post.std()
    out = {"c2st": c2st(draws, ref)} if with_c2st else {}
    out.update({"mean_error_sd": (np.abs(mean - ref.mean(0)) / ref.std(0)).tolist(),
                "sd_ratio": (sd / ref.std(0)).tolist(), "covered": ((lo <= truth) & (truth <= hi)).tolist()})
    if not toggle:
        return out
    exact = {f"{k}_exact": out.pop(k) for k in ("c2st", "mean_error_sd", "sd_ratio") if k in out}
    return {**out, **exact, **({} if smc_ref is None else compare(draws, smc_ref))}


def train_emulator(crn: CRN, vary, n_settings: int, n_traj: int, epochs: int, seed: int):
    from sciope_abs.abstraction import build_dataset, train

    t0 = time.perf_counter()
    ds = build_dataset(crn, n_settings, n_traj, vary_params=tuple(vary), seed=seed, client="sync",
                       solver="fast_ssa", progress=False)
    emu = train(ds, epochs=epochs, patience=8, seed=seed + 1, progress=False)
    return emu, {"emulator_training_trajectories": n_settings * n_traj, "emulator_seconds": time.perf_counter() - t0}


def _cached_fit(cache: Path, name: str, make, handpicked):
    """Load ``name``'s fitted summary and info from ``cache`` or fit it with ``make()`` and store both."""
    from sciope_abs.surrogates.learned import LearnedSummary
    from sciope_abs.surrogates.learned_semiauto import SemiAutoSummary

    path, info_path = cache / name, cache / f"{name}.info.json"
    if info_path.exists():
        info = json.loads(info_path.read_text())
        if name == "semiauto":
            return {**info, "summary": SemiAutoSummary.load(path.with_suffix(".json"), base=handpicked)}
        return {**info, "summary": LearnedSummary.load(path)}
    entry = make()
    cache.mkdir(parents=True, exist_ok=True)
    entry["summary"].save(path.with_suffix(".json") if name == "semiauto" else path)
    info_path.write_text(json.dumps({k: v for k, v in entry.items() if k != "summary"}))
    return entry


def fit_summaries(methods, sim, prior, handpicked, args, vary, cache: Path) -> dict:
    """One fitted summary per method (pilot simulations shared by the exact-pilot methods)."""
    from sciope_abs.surrogates.learned import LearnedSummary
    from sciope_abs.surrogates.learned_semiauto import SemiAutoSummary

    out = {"handpicked": {"summary": handpicked, "pilot": 0, "fit_s": 0.0}}
    pilot: dict = {}

    def exact_pilot():
        if not pilot:
            t0 = time.perf_counter()
            pilot["theta"], pilot["x"] = pilot_simulations(sim, prior, args.pilot, seed=101, client="sync")
            pilot["s"] = time.perf_counter() - t0
        return pilot["theta"], pilot["x"], pilot["s"]

    net = dict(epochs=args.epochs, patience=10, seed=7)

    def semiauto():
        theta, x, pilot_s = exact_pilot()
        t0 = time.perf_counter()
        s = SemiAutoSummary(handpicked, "quadratic").fit(theta, x, prior=prior)
        return {"summary": s, "pilot": args.pilot, "fit_s": pilot_s + time.perf_counter() - t0, "r2": s.r2_.tolist()}

    def network(arch):
        theta, x, pilot_s = exact_pilot()
        t0 = time.perf_counter()
        s = LearnedSummary(arch, **net).fit(theta, x, prior=prior)
        logger.info("%s fitted: val MSE %.3f after %d epochs", arch, s.card_["best_val_mse"], s.card_["epochs_run"])
        return {"summary": s, "pilot": args.pilot, "fit_s": pilot_s + time.perf_counter() - t0,
                "val_mse": s.card_["best_val_mse"], "epochs_run": s.card_["epochs_run"]}

    def emulated():
        emu, info = train_emulator(sim.model, vary, args.emu_settings, args.emu_traj, args.emu_epochs, seed=55)
        t0 = time.perf_counter()
        theta_e, x_e = pilot_simulations(emu, prior, args.pilot, seed=101, client="sync")
        s = LearnedSummary("cnn", **net).fit(theta_e, x_e, prior=prior)
        return {"summary": s, "pilot": args.pilot, "fit_s": info["emulator_seconds"] + time.perf_counter() - t0,
                "val_mse": s.card_["best_val_mse"], **info}

    if "semiauto" in methods:
        out["semiauto"] = _cached_fit(cache, "semiauto", semiauto, handpicked)
    for arch in ("cnn", "pen"):
        if arch in methods or (arch == "cnn" and "cnn_handpicked" in methods):
            out[arch] = _cached_fit(cache, arch, lambda a=arch: network(a), handpicked)
    if "cnn_handpicked" in methods:
        out["cnn_handpicked"] = {**out["cnn"], "summary": out["cnn"]["summary"] + handpicked}
    if "cnn_emulator" in methods:
        out["cnn_emulator"] = _cached_fit(cache, "cnn_emulator", emulated, handpicked)
    return out


def _mean_of(cs: list, key: str):
    vals = [c[key] for c in cs if key in c]
    return (np.mean(vals, axis=0).tolist() if np.ndim(vals[0]) else float(np.mean(vals))) if vals else None


def aggregate(cases: list, fitted: dict, problem: str, coverage: dict | None = None) -> list:
    rows = []
    by: dict = {}
    for c in cases:
        by.setdefault(c["summary"], []).append(c)
    for name, cs in by.items():
        cov = np.array([c["covered"] for c in cs if "covered" in c], dtype=float)
        with_c2st = [c for c in cs if "c2st" in c]
        row = {"problem": problem, "summary": name, "n_simulations": int(np.mean([c["n_simulations"] for c in cs])),
               "c2st": _mean_of(cs, "c2st"), "coverage_95": float(cov.mean()) if cov.size else None,
               "wall_s": float(np.mean([c["wall_s"] for c in cs])), "n_obs": len(cs),
               "c2st_sd": float(np.std([c["c2st"] for c in with_c2st])) if with_c2st else None,
               "mean_error_sd": _mean_of(cs, "mean_error_sd"), "sd_ratio": _mean_of(cs, "sd_ratio"),
               "coverage_per_parameter": cov.mean(axis=0).tolist() if cov.size else None}
        if problem == "toggle":
            row.update({"c2st_n_obs": len(with_c2st), "c2st_exact": _mean_of(cs, "c2st_exact"),
                        "c2st_exact_sd": float(np.std([c["c2st_exact"] for c in cs if "c2st_exact" in c])),
                        "mean_error_sd_exact": _mean_of(cs, "mean_error_sd_exact"),
                        "sd_ratio_exact": _mean_of(cs, "sd_ratio_exact")})
            for k in ("c2st_last_two_rounds", "final_tolerance", "rounds"):
                if any(k in c for c in cs):
                    row[k] = _mean_of(cs, k)
            cov_row = (coverage or {}).get(name)
            row.update({"coverage_95_smc": row["coverage_95"], "coverage_95": None, "coverage_scheme": None,
                        "coverage_per_parameter_smc": row["coverage_per_parameter"], "coverage_per_parameter": None})
            if cov_row:
                row.update({**cov_row, "coverage_scheme": "rejection ABC on one shared table of budget - pilot "
                            "prior simulations, nearest --accept points per observation"})
        info = fitted.get(name, {})
        row.update({k: v for k, v in info.items() if k not in ("summary",)})
        if name == "cnn_emulator":
            row["n_exact_simulations"] = row["n_simulations"] - info.get("pilot", 0) + \
                info.get("emulator_training_trajectories", 0)
        rows.append(row)
    return rows


def run_case(name: str, entry: dict, sim, prior, obs, ref, truth, args, seed: int, smc_ref=None,
             with_c2st: bool = True) -> dict:
    budget = args.budget - entry["pilot"]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = SMCABC(sim, prior, entry["summary"], Adaptive(), obs, client="sync").infer(
            args.particles, quantile=0.5, max_rounds=100, min_acceptance_rate=0.001, max_simulations=budget,
            seed=seed)
    abc_s = time.perf_counter() - t0
    draws = post.sample(len(ref), seed=seed)
    m = posterior_metrics(post, draws, ref, truth, smc_ref, toggle=args.problem == "toggle", with_c2st=with_c2st)
    return {"summary": name, "n_simulations": int(entry["pilot"] + post.n_simulations), "abc_s": abc_s,
            "wall_s": abc_s + entry["fit_s"], "rounds": len(post.history), "truth": truth.tolist(), **m}


def reference_summary(kind: str, species):
    if kind == "trajectory":
        return MeanTrajectory(species=species)
    return (Mean(species=species) + Std(species=species) + AutoCorrelation(lags=(1, 2, 4, 8), species=species)
            + CrossCorrelation(lag=0) + Quantiles(species=species))


def run_reference(sim, prior, obs, args, run_dir: Path, seed: int) -> None:
    """The long SMC-ABC reference run into ``run_dir``; if another process (``--only-reference``)
    is writing it, wait for its ``posterior.npz`` (at most 90 minutes)."""
    lock = run_dir.with_name(run_dir.name + ".running")
    deadline = time.time() + 5400
    while lock.exists() and not (run_dir / "posterior.npz").exists() and time.time() < deadline:
        time.sleep(15)
    if (run_dir / "posterior.npz").exists():
        return
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(str(os.getpid()))
    try:
        import shutil

        shutil.rmtree(run_dir, ignore_errors=True)
        summary = reference_summary(args.ref_summary, tuple(sim.species))
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            SMCABC(sim, prior, summary, Adaptive(), obs, client="sync").infer(
                args.ref_particles, quantile=0.5, max_rounds=200, min_acceptance_rate=args.ref_min_rate,
                max_simulations=args.ref_budget, seed=seed, run_dir=run_dir)
        (run_dir / "wall.json").write_text(json.dumps({"wall_s": time.perf_counter() - t0}))
    finally:
        lock.unlink(missing_ok=True)


def smc_reference(sim, prior, obs, exact: np.ndarray, truth, args, run_dir: Path, seed: int):
    """A long exact-SSA SMC-ABC run (cached in ``run_dir``); returns (1000 draws, case dict)."""
    from sciope_abs.inference.history import History

    t0 = time.perf_counter()
    run_reference(sim, prior, obs, args, run_dir, seed)
    wall = time.perf_counter() - t0
    h = History.load(run_dir)
    wall = float(json.loads((run_dir / "wall.json").read_text())["wall_s"]) if (run_dir / "wall.json").exists() \
        else wall
    post = h.posterior()
    t_last = h.last_round
    rng = np.random.default_rng(seed)

    def draws(t):
        pop = h.population(t)
        w = np.asarray(pop.weights, dtype=float)
        return np.asarray(pop.particles)[rng.choice(len(w), size=len(exact), p=w / w.sum())]

    last, prev = draws(t_last), draws(t_last - 1)
    rounds = [r for r in h.rounds if r.get("complete", True)]
    lo = np.quantile(last, 0.025, axis=0)
    hi = np.quantile(last, 0.975, axis=0)
    case = {"summary": "smc_reference", "n_simulations": int(post.n_simulations), "wall_s": wall,
            "c2st_last_two_rounds": c2st(last, prev), "rounds": t_last + 1,
            "final_tolerance": float(rounds[-1].get("tolerance") or np.nan),
            "tolerances_last_rounds": [r.get("tolerance") for r in rounds[-4:]],
            "reference_summary": args.ref_summary, "covered": ((lo <= truth) & (truth <= hi)).tolist(),
            **{f"{k}_exact": v for k, v in compare(last, exact).items()}}
    return last, case


def run_label(args) -> str:
    return f"budget_{args.budget}" if args.problem == "immigration_death" else f"{args.problem}_budget_{args.budget}"


def write_merged(out: Path, doc: dict, label: str) -> None:
    """Write ``doc`` as run ``label`` into ``out``, keeping the other runs; ``rows`` lists every
    run's rows (each (problem, summary, n_simulations) once)."""
    runs = {}
    if out.exists():
        old = json.loads(out.read_text())
        runs = old.get("runs") or {f"budget_{old['settings']['budget']}": old}
    runs[label] = {k: v for k, v in doc.items() if k != "runs"}
    rows, seen = [], set()
    for run in runs.values():
        for row in run["rows"]:
            key = (row["problem"], row["summary"], row["n_simulations"])
            if key not in seen:
                seen.add(key)
                rows.append(row)
    full = {"rows": rows, "problem": DESCRIPTIONS, "c2st_classifier": CLASSIFIER, "runs": runs}
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(full, indent=1))
    os.replace(tmp, out)


def setup(args) -> dict:
    """Model, simulator, prior, hand-picked summary and exact log-likelihood of ``args.problem``."""
    if args.problem == "immigration_death":
        crn, vary, species, low, high, grid = immigration_death(), ("k1", "k2"), ("X",), LOW, HIGH, GRID

        def loglik(obs, th):
            return grid_log_likelihood(obs[:, 0], th[:, 0], th[:, 1])
    else:
        crn, vary, species, grid = load_model("toggle_switch"), TOGGLE_VARY, ("U", "V"), TOGGLE_GRID
        low = np.array([crn.rate_ranges[p][0] for p in vary])
        high = np.array([crn.rate_ranges[p][1] for p in vary])
        cme = ToggleCME(crn, dt=crn.dt)
        loglik = cme.log_likelihood
    sim = FastSSASimulator(crn, param_names=vary)
    prior = JointPrior({p: Uniform(lo, hi) for p, lo, hi in zip(vary, low, high)})
    handpicked = Mean(species=species) + Std(species=species) + AutoCorrelation(lags=(1, 2), species=species)
    return {"crn": crn, "vary": vary, "sim": sim, "prior": prior, "handpicked": handpicked,
            "exact": lambda obs, n, seed: grid_posterior_sample(lambda th: loglik(obs, th), low, high, grid, n, seed)}


def previous_cases(out: Path, label: str, settings: dict) -> list:
    """The cases of an earlier run with the same settings (resume), else []."""
    if not out.exists():
        return []
    run = json.loads(out.read_text()).get("runs", {}).get(label)
    # observations are prefix-stable: more of them extend a run; options that do not change the
    # SMC cases (and options added since the run was written) do not block resuming it
    free = ("n_obs", "n_smc", "n_c2st", "bayes_floor", "only_reference")
    old = (run or {}).get("settings", {})
    if not run or any(old[k] != settings[k] for k in old.keys() & settings.keys() if k not in free):
        return []
    return list(run.get("cases", []))


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problem", choices=("immigration_death", "toggle"), default="immigration_death")
    ap.add_argument("--n-obs", type=int, default=20)
    ap.add_argument("--budget", type=int, default=50_000)
    ap.add_argument("--pilot", type=int, default=5_000)
    ap.add_argument("--particles", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--emu-settings", type=int, default=300)
    ap.add_argument("--emu-traj", type=int, default=20)
    ap.add_argument("--emu-epochs", type=int, default=60)
    ap.add_argument("--n-ref", type=int, default=2, help="toggle: observations with an SMC reference")
    ap.add_argument("--n-smc", type=int, default=None, help="toggle: observations with SMC-ABC runs (>= n-ref)")
    ap.add_argument("--ref-particles", type=int, default=2000)
    ap.add_argument("--ref-budget", type=int, default=1_000_000)
    ap.add_argument("--ref-min-rate", type=float, default=0.002)
    ap.add_argument("--ref-summary", choices=("trajectory", "rich"), default="rich")
    ap.add_argument("--n-c2st", type=int, default=8, help="toggle: observations with C2STs (all get the rest)")
    ap.add_argument("--accept", type=int, default=1000, help="toggle: rejection-ABC acceptances for coverage")
    ap.add_argument("--only-reference", action="store_true", help="toggle: run only the SMC references")
    ap.add_argument("--methods", default=",".join(DEFAULT_METHODS))
    ap.add_argument("--bayes-floor", type=int, default=0, metavar="N",
                    help="immigration_death: only compute the Bayes-floor MSE over N prior draws (run 'bayes_floor')")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    ap.add_argument("--out", default=str(HERE / "results" / "learned_summaries.json"))
    args = ap.parse_args()
    if args.quick:
        args.n_obs, args.budget, args.pilot, args.particles, args.epochs = 2, 4000, 1000, 200, 5
        args.emu_settings, args.emu_traj, args.emu_epochs = 20, 5, 2
        args.n_ref, args.ref_particles, args.ref_budget, args.accept = 1, 300, 20_000, 100
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = sorted(set(methods) - set(METHODS))
    if bad:
        raise SystemExit(f"unknown methods {bad}; choose from {list(METHODS)}")
    return args, methods


def table_coverage(fitted: dict, methods, pb: dict, observed, truths, args) -> dict:
    """Calibration by rejection ABC on one shared table (toggle): ``budget - pilot`` prior
    simulations, per method the ``--accept`` nearest points (MAD-scaled Euclidean distance on
    that method's features) for each observation; coverage of the truth by the 95 % central
    interval and the interval width in prior sds."""
    t0 = time.perf_counter()
    n_table = args.budget - args.pilot
    theta = pb["prior"].sample(n_table, 555)
    x = pb["sim"].simulate(theta, n_traj=1, seed=556)
    prior_sd = np.asarray(pb["prior"].std(), dtype=float).ravel()
    sim_s = time.perf_counter() - t0
    out = {}
    for name in methods:
        t1 = time.perf_counter()
        summ = fitted[name]["summary"]
        f_tab, f_obs = np.asarray(summ(x), dtype=float), np.asarray(summ(observed), dtype=float)
        med = np.median(f_tab, axis=0)
        mad = np.median(np.abs(f_tab - med), axis=0)
        mad = np.where(mad > 0, mad, 1.0)
        covered, width = [], []
        for j in range(len(observed)):
            d = np.sqrt((((f_tab - f_obs[j]) / mad) ** 2).sum(axis=1))
            acc = theta[np.argpartition(d, args.accept)[:args.accept]]
            lo, hi = np.quantile(acc, 0.025, axis=0), np.quantile(acc, 0.975, axis=0)
            covered.append((lo <= truths[j]) & (truths[j] <= hi))
            width.append((hi - lo) / prior_sd)
        cov = np.array(covered, dtype=float)
        out[name] = {"coverage_95": float(cov.mean()), "coverage_per_parameter": cov.mean(axis=0).tolist(),
                     "interval_width_prior_sd": np.mean(width, axis=0).tolist(), "coverage_n_obs": len(observed),
                     "table_seconds": sim_s + time.perf_counter() - t1}
        logger.info("coverage %s: %.3f (per parameter %s), 95%% width %s prior sd", name, cov.mean(),
                    np.round(cov.mean(axis=0), 3), np.round(np.mean(width, axis=0), 2))
    return out


def observation_cases(i: int, pb: dict, fitted: dict, methods, observed, truths, args, cache: Path) -> list:
    """The exact row, the SMC reference (toggle, first ``n_ref``) and every method on observation ``i``."""
    ref = pb["exact"](observed[i], 2 * 1000, 300 + i)
    ref_a, ref_b = ref[:1000], ref[1000:]
    lo, hi = np.quantile(ref_a, 0.025, axis=0), np.quantile(ref_a, 0.975, axis=0)
    exact = {"summary": "exact", "n_simulations": 0, "wall_s": 0.0, "truth": truths[i].tolist(),
             "covered": ((lo <= truths[i]) & (truths[i] <= hi)).tolist()}
    sfx = "" if args.problem == "immigration_death" else "_exact"
    with_c2st = args.problem == "immigration_death" or i < args.n_c2st
    exact.update({k.replace("_exact", "") + sfx: v for k, v in compare(ref_b, ref_a, with_c2st=with_c2st).items()})
    cases, smc_ref = [exact], None
    if args.problem == "toggle" and i < args.n_ref:
        smc_ref, rc = smc_reference(pb["sim"], pb["prior"], observed[i], ref_a, truths[i], args,
                                    cache / f"reference_{i}", seed=900 + i)
        cases.append(rc)
        exact.update(compare(ref_b, smc_ref))
        logger.info("obs %d SMC reference: %d sims, %d rounds, tol %.3g, last-two-rounds c2st %.3f, vs exact %.3f",
                    i, rc["n_simulations"], rc["rounds"], rc["final_tolerance"], rc["c2st_last_two_rounds"],
                    rc["c2st_exact"])
    for name in methods:
        c = run_case(name, fitted[name], pb["sim"], pb["prior"], observed[i], ref_a, truths[i], args,
                     seed=1000 + i, smc_ref=smc_ref, with_c2st=with_c2st)
        cases.append(c)
        logger.info("obs %d %s: c2st %s exact %s sd ratio %s covered %s (%.1f s)", i, name, c.get("c2st"),
                    c.get("c2st_exact"), np.round(c.get("sd_ratio_exact", c.get("sd_ratio")), 2), c["covered"],
                    c["abc_s"])
    for c in cases:
        c["obs"] = i
    return cases


def main() -> None:
    args, methods = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.bayes_floor:
        fl = bayes_floor(args.bayes_floor)
        logger.info("Bayes floor of the standardised MSE: %.3f (%s)", fl["floor"], np.round(fl["posterior_variance_std"], 3))
        write_merged(Path(args.out), fl, "bayes_floor")
        return
    pb = setup(args)
    truths = pb["prior"].sample(args.n_obs, 2024)
    observed = pb["sim"].simulate(truths, n_traj=1, seed=2025)
    label = run_label(args)
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    cache = CACHE / (label + ("_quick" if args.quick else ""))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    if args.only_reference:
        for i in range(min(args.n_ref, args.n_obs)):
            run_reference(pb["sim"], pb["prior"], observed[i], args, cache / f"reference_{i}", seed=900 + i)
            logger.info("reference %d done (%.0f s)", i, time.perf_counter() - t_start)
        return
    fitted = fit_summaries(methods, pb["sim"], pb["prior"], pb["handpicked"], args, pb["vary"], cache)
    cases = previous_cases(out, label, settings)
    done = {c["obs"] for c in cases}
    if done:
        logger.info("resuming: observations %s already done", sorted(done))
    order = list(range(args.n_obs))
    coverage = None
    if args.problem == "toggle":  # SMC-ABC on the reference observations; calibration on a table
        order = order[:max(args.n_ref, args.n_smc or 0)]
        coverage = table_coverage(fitted, methods, pb, observed, truths, args)
    for i in order:
        if i in done:
            continue
        cases += observation_cases(i, pb, fitted, methods, observed, truths, args, cache)
        doc = {"rows": aggregate(cases, fitted, args.problem, coverage), "settings": settings, "coverage": coverage,
               "n_obs_done": len({c["obs"] for c in cases}),
               "elapsed_s": time.perf_counter() - t_start, "problem": DESCRIPTIONS[args.problem],
               "c2st_classifier": CLASSIFIER, "cases": cases}
        write_merged(out, doc, label)
    logger.info("done in %.0f s -> %s", time.perf_counter() - t_start, out)


if __name__ == "__main__":
    main()
