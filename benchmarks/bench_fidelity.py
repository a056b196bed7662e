"""Fidelity of the deep abstraction on every library model, with the same defaults for all.

Per model and mode (``states``: initial states randomised, rates fixed; ``rates``: the model's
variable rates also randomised over their ranges) and with **no per-model tuning**:

1. a dataset of exact SSA traces from the default size rule of this benchmark: 100 settings and
   as many trajectories per setting as give ``--pairs`` training pairs (70 % train split) at the
   model's own ``dt`` and ``n_steps`` (at least 2 trajectories);
2. ``search(dataset)`` and ``train(dataset)`` (the fixed MLP) with every hyper-parameter at its
   default, side by side on that dataset;
3. ``evaluate_many`` of both on the same held-out settings and the same two SSA ensembles
   (``--eval-settings`` x n_traj), lags 1 / 3 / 10: L1 and IoU, the SSA self-distance and the
   ratios.  n_traj follows one rule for every model (:func:`eval_traj_rule`): the SSA seconds
   per 10-step trajectory are measured on a pilot (8 dataset settings x 4 trajectories, after
   one warm-up trajectory), and n_traj is the largest multiple of 100 whose two exact
   ensembles fit ``--eval-budget`` seconds (default 300), clipped to [100, 1000]; the pilot,
   the prediction and the reason are in ``runs[...]["eval_traj_rule"]``.  ``--eval-traj N``
   fixes n_traj instead (the earlier runs: 200);
4. conservation-law violations: (trajectory, step) cells of 10^4 emulator trajectories (the
   evaluation settings, 10 steps) whose law values differ from the start
   (``crn.conservation_laws``).

With ``--ablations`` two more fixed MLPs are trained on the same data and evaluated in the same
call: ``discrete=None`` (every species continuous: what the categorical low-copy head changes)
and ``lags=(1, 2, 5, 10)`` (multi-lag training pairs: what looking beyond one step changes).
They are written under ``ablations``, not ``rows``.  A model without variable rates (EGFR)
has no ``rates`` case: it is recorded in ``runs`` with ``skipped`` and no rows.  ``--auto-size SECONDS`` adds
``search(size="auto", time_budget=SECONDS)`` (ablation ``searched_auto``; its rounds in
``runs[...]["auto_size"]``).

    python benchmarks/bench_fidelity.py [--models x16,toggle_switch] [--modes states,rates]
        [--pairs 70000] [--eval-settings 20] [--eval-budget 300 | --eval-traj N] [--ablations]
        [--force] [--retrain] [--cache runs/bench_fidelity] [--out results/fidelity.json]

Writes ``benchmarks/results/fidelity.json``: ``rows`` (one per model, mode, body, lag, keys
``model, mode, body, lag, n_settings, n_traj, l1, l1_self, l1_ratio, iou_ratio, violations``),
``runs`` (per model and mode: sizes, times, validation losses, discrete species, and every
body's paired L1 difference to the MLP per lag with its standard error over the settings) and
``ablations``.  The file is rewritten after every model and mode, and a (model, mode) already
in it is skipped unless ``--force``: the suite resumes where it stopped.  Each write re-reads
the file under a lock and replaces only its own (model, mode), so two runs over disjoint cases
may share one results file.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import logging
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

LOG = logging.getLogger("bench_fidelity")
ALL_MODELS = ("x16", "x40", "gene", "sir", "toggle_switch", "bees", "egfr", "vilar")
LAGS = (1, 3, 10)
N_SETTINGS = 100
VIOLATION_TRAJ = 10_000
EVAL_TRAJ_MAX, EVAL_TRAJ_MIN, EVAL_TRAJ_STEP = 1000, 100, 100
PILOT_SETTINGS, PILOT_TRAJ = 8, 4
OUT = HERE / "results" / "fidelity.json"
CACHE = HERE.parent / "runs" / "bench_fidelity"      # ignored by git; datasets are reused


def dataset_size(crn, pairs: int) -> tuple[int, int]:
    """The benchmark's default size rule: 100 settings, trajectories for ``pairs`` training pairs."""
    n_traj = max(2, math.ceil(pairs / (0.7 * N_SETTINGS * crn.n_steps)))
    return N_SETTINGS, n_traj


def eval_traj_rule(crn, ds, n_settings: int, budget: float, seed: int) -> tuple[int, dict]:
    """Evaluation trajectories per ensemble from the measured SSA cost, the same rule for every model.

    The reference simulator of ``evaluate_many`` (``make_simulator``, ``solver="auto"``, the
    evaluation horizon of ``max(LAGS)`` steps) runs one warm-up trajectory, then
    ``PILOT_TRAJ`` trajectories at each of the first ``PILOT_SETTINGS`` settings of the
    dataset (same distribution as the evaluation settings).  The two exact ensembles cost
    ``2 * n_settings * n_traj * seconds_per_traj``; ``n_traj`` is the largest multiple of
    ``EVAL_TRAJ_STEP`` within ``budget`` seconds, clipped to ``[EVAL_TRAJ_MIN, EVAL_TRAJ_MAX]``.
    """
    from sciope_abs.simulators import make_simulator

    sim = make_simulator(crn, param_names=ds.vary_params, species=crn.species,
                         timespan=np.arange(max(LAGS) + 1, dtype=np.float64) * crn.dt)
    k = min(PILOT_SETTINGS, ds.n_settings)
    init, th = ds.initial_states[:k], ds.rates[:k]
    sim.simulate(th[:1], n_traj=1, seed=seed, initial_state=init[:1])       # compiles the kernel
    t0 = time.perf_counter()
    sim.simulate(th, n_traj=PILOT_TRAJ, seed=seed + 1, initial_state=init)
    per_traj = (time.perf_counter() - t0) / (k * PILOT_TRAJ)
    fit = budget / (2 * n_settings * per_traj) if per_traj > 0 else math.inf
    n = int(min(EVAL_TRAJ_MAX, max(EVAL_TRAJ_MIN, EVAL_TRAJ_STEP * math.floor(fit / EVAL_TRAJ_STEP))))
    if fit >= EVAL_TRAJ_MAX:
        reason = f"cap: {EVAL_TRAJ_MAX} fit the {budget:.0f} s budget"
    elif fit >= EVAL_TRAJ_MIN:
        reason = f"budget: {fit:.0f} trajectories fit {budget:.0f} s, rounded down to {n}"
    else:
        reason = (f"floor: only {fit:.0f} fit {budget:.0f} s; {EVAL_TRAJ_MIN} taken, "
                  f"predicted {2 * n_settings * n * per_traj:.0f} s")
    return n, {"pilot_settings": k, "pilot_traj": PILOT_TRAJ, "ssa_seconds_per_traj": per_traj,
               "budget_seconds": budget, "n_traj": n, "predicted_ssa_seconds": 2 * n_settings * n * per_traj,
               "reason": reason}


def _load(out: Path) -> dict:
    if out.is_file():
        return json.loads(out.read_text())
    return {"rows": [], "runs": {}, "ablations": {}}


def _save_case(out: Path, key: tuple[str, str], rows: list, info: dict, ablations: dict) -> dict:
    """Re-read ``out`` under a lock, replace the rows, run and ablations of ``key`` only, write atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out.parent, os.O_RDONLY)       # the folder is the lock: no lock file is left behind
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        res = _load(out)
        res["rows"] = [r for r in res["rows"] if (r["model"], r["mode"]) != key] + rows
        res["runs"]["/".join(key)] = info
        if ablations:
            res["ablations"]["/".join(key)] = ablations
        tmp = out.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(res, indent=1, sort_keys=True, default=float))
        tmp.replace(out)
    finally:
        os.close(fd)
    return res


def _violations(emu, crn, init, rates, seed) -> int:
    """Law-breaking (trajectory, step) cells in VIOLATION_TRAJ emulator trajectories of 10 steps."""
    from sciope_abs.crn.conservation import count_violations

    laws = crn.conservation_laws
    r = math.ceil(VIOLATION_TRAJ / len(init))
    out = emu.rollout(init, rates, n_steps=max(LAGS), n_traj=r, seed=seed)
    return int(count_violations(out, laws)) if len(laws) else 0


def _per_lag(rep) -> dict:
    """Mean over settings and observed species per lag: l1, self_l1, iou, self_iou."""
    out = {}
    for t, lag in enumerate(rep.lags):
        m = {k: float(np.nanmean(getattr(rep, k)[:, :, t])) for k in ("l1", "self_l1", "iou", "self_iou")}
        out[int(lag)] = m
    return out


def _paired(reps: dict) -> dict:
    """Every body minus the MLP, L1 per lag: mean over settings (of the species mean) and its SE."""
    out = {}
    for key, rep in reps.items():
        if key == "mlp":
            continue
        d = np.nanmean(rep.l1 - reps["mlp"].l1, axis=1)             # (n_settings, n_lags)
        n = np.isfinite(d).sum(axis=0)
        out[key] = {int(lag): {"mean": float(np.nanmean(d[:, t])),
                               "se": float(np.nanstd(d[:, t], ddof=1) / np.sqrt(n[t])) if n[t] > 1 else None}
                    for t, lag in enumerate(rep.lags)}
    return out


def run_case(name: str, mode: str, args) -> tuple[list, dict, dict]:
    from sciope_abs.abstraction import Emulator, build_dataset, evaluate_many, train
    from sciope_abs.abstraction.nas import search
    from sciope_abs.crn import load_model

    crn = load_model(name)
    if mode == "rates" and not crn.rate_ranges:
        return [], {"skipped": f"{name} has no variable rates (rate_ranges is empty): its rates mode "
                               "would repeat the states mode"}, {}
    vary = tuple(crn.rate_ranges) if mode == "rates" else ()
    cache = args.cache
    n_settings, n_traj = dataset_size(crn, args.pairs)
    info = {"dataset": {"n_settings": n_settings, "n_traj": n_traj, "dt": crn.dt, "n_steps": crn.n_steps,
                        "vary_params": list(vary)}}
    t0 = time.perf_counter()
    ds = build_dataset(crn, n_settings, n_traj, vary_params=vary, seed=args.seed, client=args.client,
                       progress=False, path=cache / f"{name}_{mode}_{n_settings}x{n_traj}.zarr")
    info["dataset"].update(seconds=time.perf_counter() - t0, reused=bool(ds.reused),
                           n_train_pairs=int(len(ds.pairs("train")[0])))
    LOG.info("%s/%s: dataset %s (%.0f s)", name, mode, ds, info["dataset"]["seconds"])
    emus, seconds = {}, {}
    makers = {"searched": lambda: search(ds, seed=args.seed, progress=False),
              "mlp": lambda: train(ds, seed=args.seed, progress=False)}
    if args.ablations:
        makers["mlp_continuous"] = lambda: train(ds, seed=args.seed, progress=False, discrete=None)
        makers["mlp_multilag"] = lambda: train(ds, seed=args.seed, progress=False, lags=(1, 2, 5, 10))
    if args.auto_size:
        makers["searched_auto"] = lambda: search(ds, size="auto", time_budget=args.auto_size, seed=args.seed,
                                                 progress=False)
    for key, make in makers.items():   # a trained emulator is saved, so an interrupted case resumes
        folder = cache / f"{name}_{mode}_{ds.content_hash()}_{key}_seed{args.seed}"
        t0 = time.perf_counter()
        if (folder / "config.json").is_file() and not args.retrain:
            emus[key] = Emulator.load(folder)
            seconds[key] = emus[key].card.get("bench_train_seconds")
        else:
            emus[key] = make()
            seconds[key] = time.perf_counter() - t0
            emus[key].card["bench_train_seconds"] = seconds[key]
            emus[key].save(folder)
    LOG.info("%s/%s: trained %s", name, mode, {k: round(v or 0) for k, v in seconds.items()})
    earlier = _load(args.eval_traj_from)["runs"].get(f"{name}/{mode}") if args.eval_traj_from else None
    if earlier and args.eval_traj is None:     # the rule's decision of the earlier run: its exact ensembles are cached
        eval_traj = int(earlier["eval_traj_rule"]["n_traj"])
        info["eval_traj_rule"] = dict(earlier["eval_traj_rule"], reused_from=str(args.eval_traj_from))
    elif args.eval_traj is None:
        eval_traj, info["eval_traj_rule"] = eval_traj_rule(crn, ds, args.eval_settings, args.eval_budget,
                                                           args.seed + 3)
    else:
        eval_traj, info["eval_traj_rule"] = args.eval_traj, {"n_traj": args.eval_traj, "reason": "fixed by --eval-traj"}
    LOG.info("%s/%s: evaluation n_traj %d (%s)", name, mode, eval_traj, info["eval_traj_rule"]["reason"])
    t0 = time.perf_counter()
    reps = evaluate_many(emus, n_settings=args.eval_settings, n_traj=eval_traj, lags=LAGS,
                         seed=args.seed + 1, client=args.client, progress=False, keep_samples=False,
                         cache=cache / "ssa")
    eval_seconds = time.perf_counter() - t0
    first = next(iter(reps.values()))
    init, rates = first.initial_states, first.rates
    rows, ablations = [], {}
    for key, rep in reps.items():
        viol = _violations(emus[key], crn, init, rates, args.seed + 2)
        stats = _per_lag(rep)
        recs = []
        for lag, m in stats.items():
            recs.append({"model": name, "mode": mode, "body": key, "lag": lag, "n_settings": int(rep.n_settings),
                         "n_traj": int(eval_traj), "l1": m["l1"], "l1_self": m["self_l1"],
                         "l1_ratio": m["l1"] / m["self_l1"] if m["self_l1"] > 0 else None,
                         "iou_ratio": m["iou"] / m["self_iou"] if m["self_iou"] > 0 else None,
                         "violations": viol})
        if key in ("searched", "mlp"):
            rows.extend(recs)
        else:
            ablations[key] = recs
        info.setdefault("bodies", {})[key] = {
            "train_seconds": seconds[key], "best_val_loss": emus[key].card["history"].get("best_val_loss"),
            "discrete": emus[key].card["training"].get("discrete"), "n_params": int(emus[key].keras_model.count_params()),
            "size": {k: emus[key].card["training"].get(k) for k in ("cells", "cell_size", "expansion")}
            if key == "searched" else None,
            "evaluation_violations": rep.meta.get("violations")}
    info["paired_vs_mlp"] = _paired(reps)
    if "searched_auto" in emus:
        info["auto_size"] = {"time_budget": args.auto_size,
                             "size_history": emus["searched_auto"].card["search"]["size_history"],
                             "stop_reason": emus["searched_auto"].card["search"].get("size_stop_reason")}
    info["evaluation_seconds"] = eval_seconds
    info["violation_trajectories"] = math.ceil(VIOLATION_TRAJ / len(init)) * len(init)
    return rows, info, ablations


def _goal(model: str) -> float:
    return 1.5 if model == "egfr" else 1.3


def markdown_table(res: dict) -> str:
    """The BENCHMARKS.md table of a results file: one line per (model, mode, body), the goal per case."""
    head = ("| model / mode | body | L1 ratio lag 1 / 3 / 10 (L1, self at 10) | IoU ratio 1 / 3 / 10 | violations "
            "| dataset / train / evaluation s | eval n_traj (rule) | goal lags 3, 10 |\n|---|---|---|---|---|---|---|---|")
    lines = [head]
    for key, run in res["runs"].items():
        model, mode = key.split("/")
        if "skipped" in run:
            lines.append(f"| {model} / {mode} | — | not run: {run['skipped']} | | | | | |")
            continue
        rule = run.get("eval_traj_rule", {"reason": "fixed by --eval-traj"})
        for body in ("searched", "mlp"):
            r = {x["lag"]: x for x in res["rows"] if (x["model"], x["mode"], x["body"]) == (model, mode, body)}
            if not r:
                continue
            ok = all(r[lag]["l1_ratio"] is not None and r[lag]["l1_ratio"] <= _goal(model) for lag in (3, 10))
            ok = ok and r[10]["violations"] == 0
            ratios = " / ".join(f"{r[lag]['l1_ratio']:.2f}" for lag in LAGS)
            ious = " / ".join(f"{r[lag]['iou_ratio']:.2f}" for lag in LAGS)
            secs = (f"{run['dataset']['seconds']:.0f}{' (reused)' if run['dataset']['reused'] else ''} / "
                    f"{run['bodies'][body]['train_seconds']:.0f} / {run['evaluation_seconds']:.0f}")
            lines.append(f"| {model} / {mode} | {body} | {ratios} ({r[10]['l1']:.3f}, {r[10]['l1_self']:.3f}) | "
                         f"{ious} | {r[10]['violations']} | {secs} | {r[10]['n_traj']} ({rule['reason']}) | "
                         f"{'met' if ok else '**not met**'} |")
        d = run.get("paired_vs_mlp", {}).get("searched")
        if d:
            diffs = " / ".join(f"{d[str(lag)]['mean']:+.3f} ± {d[str(lag)]['se'] or float('nan'):.3f}"
                               for lag in LAGS)
            lines.append(f"| | searched − MLP (paired L1) | {diffs} | | | | | |")
    mean = {body: " / ".join(f"{np.mean([x['l1_ratio'] for x in res['rows'] if x['body'] == body and x['lag'] == lag]):.3f}"
                             for lag in LAGS) for body in ("searched", "mlp")}
    cases = len({(x["model"], x["mode"]) for x in res["rows"]})
    lines.append(f"| suite mean over {cases} cases | searched | {mean['searched']} | | | | | |")
    lines.append(f"| suite mean over {cases} cases | mlp | {mean['mlp']} | | | | | |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(ALL_MODELS))
    ap.add_argument("--modes", default="states,rates")
    ap.add_argument("--pairs", type=int, default=70_000, help="training pairs of the size rule (default 70000)")
    ap.add_argument("--eval-settings", type=int, default=20)
    ap.add_argument("--eval-traj", type=int, default=None,
                    help="fix the evaluation trajectories per ensemble (default: the rule of eval_traj_rule)")
    ap.add_argument("--eval-budget", type=float, default=300.0, metavar="SECONDS",
                    help="SSA seconds the rule allows for the two exact ensembles of one case (default 300)")
    ap.add_argument("--eval-traj-from", type=Path, default=None, metavar="RESULTS",
                    help="take each case's evaluation n_traj from the rule's decision recorded in an earlier "
                         "results file (so its cached exact ensembles are reused)")
    ap.add_argument("--ablations", action="store_true")
    ap.add_argument("--auto-size", type=float, default=None, metavar="SECONDS",
                    help="also search(size='auto', time_budget=SECONDS), evaluated as ablation 'searched_auto'")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--client", default="sync", help="'sync' (default, in-process) or a Dask address")
    ap.add_argument("--force", action="store_true", help="rerun cases already in the results file "
                    "(trained emulators and exact ensembles are reused from runs/bench_fidelity)")
    ap.add_argument("--retrain", action="store_true", help="train again even where a trained emulator is saved")
    ap.add_argument("--cache", type=Path, default=CACHE, help="datasets, emulators and exact ensembles "
                    f"(default {CACHE.relative_to(HERE.parent)})")
    ap.add_argument("--table", action="store_true", help="print the markdown table of --out and exit")
    ap.add_argument("--out", type=Path, default=OUT, help=f"results file (default {OUT.relative_to(HERE.parent)})")
    args = ap.parse_args(argv)
    if args.table:
        print(markdown_table(_load(args.out)))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in models if m not in ALL_MODELS] + [m for m in modes if m not in ("states", "rates")]
    if bad:
        ap.error(f"unknown model(s) or mode(s): {bad}")
    if args.eval_traj is not None and args.eval_traj < 1 or args.eval_budget <= 0:
        ap.error("--eval-traj must be >= 1 and --eval-budget > 0")
    res = _load(args.out)
    for name in models:
        for mode in modes:
            key = f"{name}/{mode}"
            if key in res["runs"] and not args.force:
                LOG.info("%s: already in %s, skipped", key, args.out)
                continue
            t0 = time.perf_counter()
            rows, info, ablations = run_case(name, mode, args)
            info.update(wall_seconds=time.perf_counter() - t0, load_average=os.getloadavg(),
                        config={"pairs": args.pairs, "eval_settings": args.eval_settings,
                                "eval_traj": args.eval_traj, "eval_budget": args.eval_budget,
                                "seed": args.seed, "lags": list(LAGS), "ablations": bool(args.ablations)},
                        machine={"python": platform.python_version(), "cpus": os.cpu_count()},
                        finished=time.strftime("%Y-%m-%d %H:%M:%S"))
            res = _save_case(args.out, (name, mode), rows, info, ablations)
            LOG.info("%s done in %.0f s: %s", key, info["wall_seconds"],
                     [(r["body"], r["lag"], round(r["l1_ratio"] or float("nan"), 2)) for r in rows])
    return 0


if __name__ == "__main__":
    sys.exit(main())
