"""ABC on the genetic toggle switch: rejection and SMC-ABC in-process, on 1 and on 2 local Dask
workers, side by side in one run, with a profile of where the time goes.

The toolbox example's setup: truth = the model's defaults (alpha1=alpha2=1, beta=gamma=2, mu=1),
prior Uniform(0.1 theta, 2 theta), observed = 20 SSA trajectories of U and V on
linspace(0, 50, 101) simulated at the truth; summaries mean, std and autocorrelation at lags 1, 2
per species (computed inside the tasks); adaptive (MAD-scaled) distance; exact SSA with the
compiled in-process simulator.

Two cases:

* ``toggle``: the plain compiled SSA (~0.15 ms per proposal of 10 trajectories), 1000 accepted
  samples (rejection: quantile 0.02 of 50 000; SMC: 1000 particles, 6 rounds), 100 proposals per
  batch;
* ``toggle_10ms``: the same simulator made to cost >= 10 ms of real CPU work per proposal
  (:class:`CostlySimulator`: every proposal's trajectories are returned unchanged and ``extra``
  more are simulated and thrown away; no sleep), 100 accepted (rejection quantile 0.05 of 2000;
  SMC 200 particles, 4 rounds), 10 proposals per batch.

Per run: wall time, simulations, posterior quality, and the profile: CPU seconds of the client
process (it holds the scheduler and the nannies too) and of each worker process, the engine's
task count, batches per task and worker seconds inside tasks (``post.info["engine"]``), Dask's
task stream (task durations, idle gaps between tasks on a worker, the workers' busy fraction =
time inside tasks / (workers x wall time)), and bytes per task.  The machine's load average is
recorded beside each run.  Every setup of a case and method uses the same seed and must give the
same posterior (checked).

Usage: python benchmarks/bench_abc.py [--quick] [--cases toggle,toggle_10ms]
    -> benchmarks/results/abc.json, and (full run) ``smc_2_workers_over_inprocess`` and
    ``rejection_2_workers_over_inprocess`` (in-process wall time / 2-worker wall time, case
    ``toggle``) with their detail ``abc_workers_detail`` in benchmarks/results/performance.json
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

from sciope_abs.crn import load_model  # noqa: E402
from sciope_abs.distances import Adaptive  # noqa: E402
from sciope_abs.inference import SMCABC, ABCRejection  # noqa: E402
from sciope_abs.inference.tasks import ProposalBatch, SimulateSummarise  # noqa: E402
from sciope_abs.priors import JointPrior  # noqa: E402
from sciope_abs.simulators import FastSSASimulator  # noqa: E402
from sciope_abs.summaries import AutoCorrelation, Mean, Std  # noqa: E402

IDENTIFIED = ("alpha1", "alpha2", "mu")
#: CPU seconds per proposal the costly case must reach
COSTLY_SECONDS = 0.010


class CostlySimulator:
    """The toggle-switch SSA at >= 10 ms of real CPU work per proposal.

    ``simulate`` returns exactly the inner simulator's traces (so the posterior is the plain
    case's for the same seed and batches) and, per proposal, simulates ``extra`` more
    trajectories at the same parameters that are thrown away.
    """

    def __init__(self, inner: FastSSASimulator, extra: int) -> None:
        self.inner, self.extra = inner, int(extra)
        self.param_names, self.species, self.timespan = inner.param_names, inner.species, inner.timespan

    def simulate(self, theta, *, n_traj=1, seed=None, initial_state=None):
        x = self.inner.simulate(theta, n_traj=n_traj, seed=seed, initial_state=initial_state)
        theta = np.asarray(theta, dtype=np.float64)
        for i in range(theta.shape[0]):
            self.inner.simulate(theta[i:i + 1], n_traj=self.extra, seed=i, initial_state=initial_state)
        return x


def problem(n_traj_obs: int):
    model = load_model("toggle_switch")
    sim = FastSSASimulator(model)
    names = list(sim.param_names)
    truth = np.array([model.parameters[p] for p in names])
    prior = JointPrior.uniform_around(dict(zip(names, truth)), 0.1, 2.0)
    obs = sim.simulate(truth[None], n_traj=n_traj_obs, seed=1)[0]
    sp = ("U", "V")
    summary = Mean(species=sp) + Std(species=sp) + AutoCorrelation(lags=(1, 2), species=sp)
    return sim, prior, summary, obs, truth, names


def costly(sim: FastSSASimulator, prior, n_traj: int) -> tuple[CostlySimulator, float]:
    """A CostlySimulator whose mean CPU cost per proposal (n_traj trajectories) is >= 10 ms."""
    theta = np.asarray(prior.sample(50, seed=3))
    sim.simulate(theta[:2], n_traj=n_traj, seed=0)
    c0 = time.process_time()
    sim.simulate(theta, n_traj=20 * n_traj, seed=0)
    per_traj = (time.process_time() - c0) / (50 * 20 * n_traj)
    extra = max(int(np.ceil(1.3 * COSTLY_SECONDS / per_traj)) - n_traj, 0)
    for _ in range(4):  # the cost per trajectory differs between the calibration and the wrapped run
        wrapped = CostlySimulator(sim, extra)
        c0 = time.process_time()
        wrapped.simulate(theta, n_traj=n_traj, seed=0)
        cost = (time.process_time() - c0) / theta.shape[0]
        if cost >= 1.1 * COSTLY_SECONDS:
            break
        extra = int(np.ceil((extra + n_traj) * 1.2 * COSTLY_SECONDS / max(cost, 1e-9))) - n_traj
    return wrapped, cost


def quality(post, prior, truth, names) -> dict:
    mean = post.mean()
    ci = post.credible_interval(0.95)
    draws = post.sample(4000, seed=0)
    prior_draws = prior.sample(4000, seed=0)
    out = {}
    for j, p in enumerate(names):
        out[p] = {
            "truth": float(truth[j]), "posterior_mean": float(mean[j]), "posterior_std": float(post.std()[j]),
            "abs_error_posterior_mean": float(abs(mean[j] - truth[j])),
            "abs_error_prior_mean": float(abs(prior.mean()[j] - truth[j])),
            "mae_posterior_draw": float(np.abs(draws[:, j] - truth[j]).mean()),
            "mae_prior_draw": float(np.abs(prior_draws[:, j] - truth[j]).mean()),
            "ci95": [float(ci[j, 0]), float(ci[j, 1])],
            "covered": bool(ci[j, 0] <= truth[j] <= ci[j, 1]),
        }
    return out


def task_stream_stats(records: list, wall: float, n_workers: int) -> dict:
    """Task durations, idle gaps between consecutive tasks of a worker, busy fraction."""
    comp, per_worker = [], {}
    for t in records:
        for ss in t.get("startstops", ()):
            if ss["action"] == "compute" and str(t.get("key", "")).find("sciope-fn-") < 0:
                comp.append(ss["stop"] - ss["start"])
                per_worker.setdefault(t["worker"], []).append((ss["start"], ss["stop"]))
    gaps = []
    for iv in per_worker.values():
        iv.sort()
        gaps += [b[0] - a[1] for a, b in zip(iv, iv[1:])]
    comp_a, gaps_a = np.array(comp), np.array(gaps)
    busy = float(comp_a.sum()) if comp else 0.0
    q = (lambda a, p: float(np.percentile(a, p)) if a.size else float("nan"))
    return {"n_tasks": len(comp), "task_seconds_median": q(comp_a, 50), "task_seconds_p90": q(comp_a, 90),
            "busy_seconds": busy, "busy_fraction": busy / (n_workers * wall),
            "gap_seconds_median": q(gaps_a, 50), "gap_seconds_total": float(gaps_a.sum()) if gaps else 0.0,
            "gaps_over_50ms": int((gaps_a > 0.05).sum()) if gaps else 0}


def bytes_per_task(prob_sim, summary, n_traj: int, batch_size: int, batches_per_task: float, d: int) -> dict:
    """Pickled bytes of one task's input (its batches) and output (their summaries)."""
    theta = np.ones((batch_size, d))
    b = ProposalBatch(0, theta, np.random.SeedSequence(1))
    s = np.zeros((batch_size, len(summary.names)))
    return {"input_bytes": batches_per_task * len(pickle.dumps(b)),
            "output_bytes": batches_per_task * len(pickle.dumps(s)),
            "task_function_bytes_shipped_once": len(pickle.dumps(SimulateSummarise(prob_sim, summary, n_traj)))}


def run_one(method: str, client, cfg: dict, prob) -> tuple[dict, object]:
    sim, prior, summary, obs, truth, names = prob
    t0 = time.perf_counter()
    if method == "rejection":
        abc = ABCRejection(sim, prior, summary, Adaptive(), observed=obs, n_traj=cfg["n_traj"], client=client)
        post = abc.infer(cfg["n_accept"], quantile=cfg["quantile"], seed=7, batch_size=cfg["batch_size"])
    else:
        smc = SMCABC(sim, prior, summary, Adaptive(), observed=obs, n_traj=cfg["n_traj"], client=client)
        post = smc.infer(cfg["n_particles"], max_rounds=cfg["rounds"], seed=7, batch_size=cfg["batch_size"])
    wall = time.perf_counter() - t0
    rec = {
        "wall_time_s": wall, "n_simulations": post.n_simulations,
        "simulations_per_s": post.n_simulations / wall,
        "n_accepted": len(post), "ess": post.ess,
        "acceptance_rate_overall": len(post) / post.n_simulations,
        "n_simulations_unprocessed": post.info.get("n_simulations_unprocessed", post.info.get("n_unprocessed")),
        "engine": post.info.get("engine"),
        "rounds": [{k: h[k] for k in ("round", "tolerance", "acceptance_rate", "ess", "n_simulations", "wall_time")}
                   for h in post.history],
        "message": post.message,
        "parameters": quality(post, prior, truth, names),
    }
    return rec, post


def profiled_run(method: str, spec, cfg: dict, prob) -> tuple[dict, object]:
    """One setup: wall time and posterior, CPU seconds per process, the task stream."""
    from sciope_abs.engine import get_client

    load = os.getloadavg()[0]
    if spec == "sync":
        c0 = time.process_time()
        rec, post = run_one(method, "sync", cfg, prob)
        rec["cpu_seconds"] = {"client": time.process_time() - c0, "workers": []}
    else:
        from distributed import get_task_stream

        client = get_client(n_workers=spec, verbose=False)
        sim, prior, summary, obs, *_ = prob
        # warm-up outside the timing: workers import the package and load the compiled kernel
        ABCRejection(sim, prior, summary, observed=obs, n_traj=2, client=client).infer(
            quantile=0.5, max_simulations=4 * spec * 10, batch_size=10, seed=0)
        w0, c0 = client.run(time.process_time), time.process_time()
        with get_task_stream(client=client) as ts:
            rec, post = run_one(method, client, cfg, prob)
        w1, c1 = client.run(time.process_time), time.process_time()
        rec["cpu_seconds"] = {"client": c1 - c0, "workers": [w1[w] - w0[w] for w in sorted(w0)]}
        rec["task_stream"] = task_stream_stats(ts.data, rec["wall_time_s"], spec)
    rec["load_average_1min_before"] = load
    rec["load_average_1min_after"] = os.getloadavg()[0]
    return rec, post


def cpu_bound_ratio(runs: dict, method: str) -> float:
    """In-process CPU seconds / the least wall time 2 cores could take for the 2-worker run's
    CPU seconds (all processes together over 2 cores, and no less than the busiest process):
    the speed-up an idle 2-core machine allows at most, read from CPU time, which the other jobs
    on a shared machine inflate far less than wall time."""
    c_in = runs[f"{method} / in-process"]["cpu_seconds"]["client"]
    c2 = runs[f"{method} / 2 workers"]["cpu_seconds"]
    total = c2["client"] + sum(c2["workers"])
    return c_in / max(total / 2, max(c2["workers"] + [c2["client"]]))


def run_case(name: str, cfg: dict, prob, results: dict) -> None:
    setups = [("in-process", "sync"), ("1 worker", 1), ("2 workers", 2)]
    for method in ("rejection", "smc"):
        posts = {}
        for label, spec in setups:
            print(f"{name}: {method} / {label} ...", flush=True)
            rec, post = profiled_run(method, spec, cfg, prob)
            results["cases"][name]["runs"][f"{method} / {label}"] = rec
            posts[label] = post
            print(f"  {rec['wall_time_s']:.1f} s, {rec['n_simulations']} simulations, cpu "
                  f"{rec['cpu_seconds']}, load {rec['load_average_1min_before']:.1f}, busy "
                  f"{rec.get('task_stream', {}).get('busy_fraction', float('nan')):.2f}", flush=True)
        runs = results["cases"][name]["runs"]
        base = posts["in-process"]
        for label in ("1 worker", "2 workers"):
            runs[f"{method} / {label}"]["identical_to_in_process"] = bool(
                np.array_equal(base.samples, posts[label].samples)
                and np.array_equal(base.weights, posts[label].weights))
        w = {lab: runs[f"{method} / {lab}"]["wall_time_s"] for lab, _ in setups}
        results["cases"][name]["ratios"][method] = {
            "2_workers_over_inprocess": w["in-process"] / w["2 workers"],
            "1_worker_over_inprocess": w["in-process"] / w["1 worker"],
            "2_workers_over_1_worker": w["1 worker"] / w["2 workers"],
            "cpu_bound_2_workers_over_inprocess": cpu_bound_ratio(runs, method),
            "busy_fraction_2_workers": runs[f"{method} / 2 workers"]["task_stream"]["busy_fraction"],
            "busy_fraction_1_worker": runs[f"{method} / 1 worker"]["task_stream"]["busy_fraction"]}
        eng = runs[f"{method} / 2 workers"]["engine"] or {}
        per_task = eng.get("n_batches", 0) / max(eng.get("n_tasks", 1), 1)
        sim, _, summary, *_ = prob
        runs[f"{method} / 2 workers"]["bytes_per_task"] = bytes_per_task(
            sim, summary, cfg["n_traj"], cfg["batch_size"], per_task, len(prob[5]))
        write_json(results)


def write_json(results: dict) -> None:
    out = Path(results["_out"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({k: v for k, v in results.items() if not k.startswith("_")}, indent=1))


CASES = {
    "toggle": {"n_traj": 10, "n_accept": 1000, "quantile": 0.02, "n_particles": 1000, "rounds": 6,
               "batch_size": 100, "costly": False},
    "toggle_10ms": {"n_traj": 10, "n_accept": 100, "quantile": 0.05, "n_particles": 200, "rounds": 4,
                    "batch_size": 10, "costly": True},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--cases", default="toggle,toggle_10ms")
    ap.add_argument("--out", default=str(HERE / "results" / "abc.json"))
    ap.add_argument("--performance", default=str(HERE / "results" / "performance.json"),
                    help="where the *_2_workers_over_inprocess ratios go (read-modify-write)")
    args = ap.parse_args()
    base = problem(20)
    results: dict = {"_out": args.out, "config": {
        "model": "toggle_switch", "truth": "model defaults", "prior": "Uniform(0.1 theta, 2 theta)",
        "observed": "20 SSA trajectories, U and V, linspace(0, 50, 101)",
        "summaries": "mean, std, autocorrelation lags 1,2 per species", "distance": "adaptive (MAD)",
        "simulator": "FastSSASimulator (exact SSA, numba)", "seed": 7, "quick": args.quick},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_average_at_start": list(os.getloadavg())}, "cases": {}}
    old = Path(args.out)
    if not args.quick and old.exists():  # a run of some cases keeps the others' results
        results["cases"] = {k: v for k, v in json.loads(old.read_text()).get("cases", {}).items()
                            if k in CASES and k not in args.cases.split(",")}
    from sciope_abs.engine import close_clients

    for name in args.cases.split(","):
        cfg = dict(CASES[name])
        if args.quick:
            cfg.update(n_accept=max(cfg["n_accept"] // 5, 20), quantile=min(cfg["quantile"] * 2.5, 0.5),
                       n_particles=max(cfg["n_particles"] // 5, 40), rounds=3)
        prob = base
        if cfg["costly"]:
            wrapped, cost = costly(base[0], base[1], cfg["n_traj"])
            prob = (wrapped,) + tuple(base[1:])
            cfg["cpu_seconds_per_proposal"] = cost
            cfg["extra_trajectories"] = wrapped.extra
        results["cases"][name] = {"config": cfg, "runs": {}, "ratios": {}}
        run_case(name, cfg, prob, results)
    close_clients()
    results["machine"]["load_average_at_end"] = list(os.getloadavg())
    write_json(results)
    print(f"wrote {args.out}")
    if not args.quick and "toggle" in results["cases"]:
        write_performance(Path(args.performance), results)


def write_performance(path: Path, results: dict) -> None:
    """``{method}_2_workers_over_inprocess`` (in-process wall time / 2-worker wall time on the
    plain toggle case: the 2 workers' speed-up, goal >= 1.7) and ``abc_workers_detail`` into
    ``path``, read-modify-write of only these keys."""
    case = results["cases"]["toggle"]
    own: dict = {f"{m}_2_workers_over_inprocess": case["ratios"][m]["2_workers_over_inprocess"]
                 for m in ("rejection", "smc")}
    detail: dict = {"load_average_at_start": results["machine"]["load_average_at_start"],
                    "load_average_at_end": results["machine"]["load_average_at_end"]}
    for name, c in results["cases"].items():
        detail[name] = {"ratios": c["ratios"],
                        "wall_time_s": {k: v["wall_time_s"] for k, v in c["runs"].items()},
                        "load_average_1min": {k: v["load_average_1min_before"] for k, v in c["runs"].items()}}
        if c["config"].get("cpu_seconds_per_proposal"):
            detail[name]["cpu_seconds_per_proposal"] = c["config"]["cpu_seconds_per_proposal"]
    detail["note"] = ("toggle switch, exact compiled SSA, in-process / 1 / 2 workers side by side in one run; "
                      "wall-time ratios on the shared 2-core machine swing with the load recorded beside them; "
                      "cpu_bound_* (from CPU seconds per process) and busy_fraction_* (Dask task stream) are the "
                      "load-robust reading")
    own["abc_workers_detail"] = detail
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(own)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)
    print(f"wrote {sorted(own)} into {path}")


if __name__ == "__main__":
    main()
