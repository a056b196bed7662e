"""The emulator's compiled rollout against the bare network calls (issue 18, part 1).

A Gene emulator (species G0, G1, M, P; rates Kt, Kd1, Ku varied; the library's default head: a
categorical component for the gene states beside 6 diagonal Normals) with a default-size MLP
body (about 57 000 parameters, the size issue 18 measured) is trained for one epoch on a cheap
synthetic Gene-like chain: the weights do not change the cost of a step, only the shapes do.
Then, side by side in one process per thread setting and on the same batch (1000 settings x 100
trajectories = 10^5 rows, 25 steps, float32 output):

* ``raw``: 25 bare network calls (a ``tf.function`` around the Keras model) on the batch's inputs;
* ``compiled``: :meth:`Emulator.rollout` with the compiled loop (and with XLA ``jit_compile``);
* ``stepwise``: the per-step path (host noise and projection);
* peak resident memory of the compiled rollout over the bytes of its output (RSS sampled);
* 10^6 x 25 Gene trajectories: timed directly, or as 2 x 10^5 scaled x 5 when 10^6 would take
  over ~2 minutes at the current load (said in the JSON);
* the same raw / compiled pair and the 10^6 run with a **searched** body of the default search
  size (``C_n = C_s = 2``, ``d = 20``: width 140 on the 7 inputs) and the operations the Gene
  search kept (``SEARCHED_NODES``), in the default thread setting.

Every timing is taken twice: wall-clock and the process's CPU time (all threads).  On a machine
shared with other jobs the wall-clock ratio moves with the load; the CPU-time ratio is the work
ratio, and CPU seconds / 2 is what the wall time would be on 2 idle cores.

Writes ``rollout_over_raw``, ``gene_1e6_seconds`` (the searched body), ``rollout_peak_memory_over_output``
and details beside them into ``benchmarks/results/performance.json`` (read-modify-write of these
keys only; on a shared machine the keys are CPU-time figures, :func:`perf_entries`) and the
details to ``benchmarks/results/rollout.json``.  The machine's load average is recorded: absolute times
on a shared machine are not representative, the ratios measured side by side are.

    python benchmarks/bench_rollout.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "runs" / "bench_rollout"
HIDDEN = (150, 150, 150)
#: the nodes the Gene search kept (runs/bench_fidelity gene_states ..._searched_seed0/genotype.json),
#: per cell and node: (source, operation)
SEARCHED_NODES = [[[(0, "swish"), (1, "swish")], [(0, "swish"), (1, "dense")]],
                  [[(0, "swish"), (1, "activated_dense")], [(1, "swish"), (2, "glu")]]]
THREADS = {"default": None, "intra2_inter1": (2, 1), "intra1_inter1": (1, 1)}
PERF_KEYS = ("rollout_over_raw", "gene_1e6_seconds", "rollout_peak_memory_over_output")
#: load average (2 cores) below which the wall clock is taken as the measure
QUIET_LOAD = 2.5


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def gene_like_dataset(n_settings: int = 60, n_traj: int = 4, n_steps: int = 25, seed: int = 0):
    """A synthetic Gene-like chain (G0 + G1 = 1 flips, M and P random walks) as a dataset."""
    from sciope_abs.abstraction.dataset import AbstractionDataset
    from sciope_abs.crn import load_model

    model = load_model("gene")
    vary = ("Kt", "Kd1", "Ku")
    rng = np.random.default_rng(seed)
    init = model.sample_initial_states(n_settings, seed=rng)
    rates = model.sample_rates(n_settings, vary, seed=rng)
    x = np.empty((n_settings, n_traj, 4, n_steps + 1))
    x[..., 0] = init[:, None, :]
    for t in range(1, n_steps + 1):
        g1 = (rng.random((n_settings, n_traj)) < 0.7).astype(float)
        x[:, :, 1, t], x[:, :, 0, t] = g1, 1 - g1
        x[:, :, 2, t] = np.maximum(x[:, :, 2, t - 1] + rng.integers(-1, 2, (n_settings, n_traj)), 0)
        x[:, :, 3, t] = np.maximum(x[:, :, 3, t - 1] + rng.normal(0, 20, (n_settings, n_traj)).round(), 0)
    order = rng.permutation(n_settings)
    splits = {"train": order[:40], "val": order[40:50], "test": order[50:]}
    return AbstractionDataset(model, vary, model.dt, n_steps, x, init, rates, splits)


def searched_body(input_dim: int = 7):
    """The searched body at the default search size (2 cells x 2 nodes, d = 20)."""
    from sciope_abs.abstraction.nas.cells import build_cell_specs
    from sciope_abs.abstraction.nas.genotype import Genotype

    specs = build_cell_specs(input_dim, cells=2, cell_size=2, expansion=20)
    return Genotype(input_dim, tuple(specs), SEARCHED_NODES).build_body()


def build_emulator(path: Path, body: str = "mlp"):
    """Train (one epoch) and save the benchmark's Gene emulator (``"mlp"`` or ``"searched"`` body),
    or load it."""
    from sciope_abs.abstraction.emulator import Emulator
    from sciope_abs.abstraction.training import train

    if (path / "config.json").is_file():
        return Emulator.load(path)
    extra = {"body": searched_body()} if body == "searched" else {"hidden": HIDDEN}
    emu = train(gene_like_dataset(), epochs=1, seed=0, progress=False, **extra)
    emu.save(path)
    return emu


class PeakRSS:
    """Peak resident set size (bytes) of this process, sampled every 2 ms in a thread."""

    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.002)

    def __enter__(self):
        self.base = self.rss()
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.rss())


def _inputs(emu, n_points: int, seed: int):
    init = emu.model.sample_initial_states(n_points, seed=seed)
    rates = emu.model.sample_rates(n_points, emu.param_names, seed=seed + 1)
    return init, rates


def _raw_fn(emu, init, rates, r: int, jit: bool):
    """A timer of 25 bare network calls on the (n * r) rows of the batch (traced on creation)."""
    import tensorflow as tf

    net = emu.keras_model
    x = emu.scaler.encode_inputs(np.concatenate([np.repeat(init, r, axis=0), np.repeat(rates, r, axis=0)], 1))
    x = tf.constant(x, tf.float32)
    fn = tf.function(lambda v: net(v, training=False), jit_compile=jit)
    fn(x).numpy()
    return call_timer(fn, x)


def call_timer(fn, x):
    """A timer of ``n`` calls ``fn(x)`` (one host copy at the end): ``timed(n) -> (wall, CPU) seconds``."""
    def timed(n_calls: int) -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n_calls):
            y = fn(x)
        y.numpy()
        return time.perf_counter() - t0, time.process_time() - c0
    return timed


def _rollout_fn(emu, init, rates, r, method):
    """A timer of one rollout of the batch (traced / compiled at the timed shapes on the first call)."""
    def timed(n_steps: int) -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        emu.rollout(init, rates, n_steps=n_steps, n_traj=r, seed=2, method=method, dtype="float32")
        return time.perf_counter() - t0, time.process_time() - c0
    return timed


def run_case(name: str, n_points: int, r: int, n_steps: int, big: bool, rounds: int) -> dict:
    """One thread setting (a fresh process): raw, compiled (plain / XLA), stepwise in interleaved
    rounds (the minimum over rounds is kept beside every value, wall and CPU), with the searched
    body's raw / compiled pair in the default setting, then memory and 10^6."""
    import tensorflow as tf

    if THREADS[name] is not None:
        tf.config.threading.set_intra_op_parallelism_threads(THREADS[name][0])
        tf.config.threading.set_inter_op_parallelism_threads(THREADS[name][1])
    from sciope_abs.abstraction.emulator import Emulator

    emu = build_emulator(CACHE / "gene_emulator")
    xla = Emulator.load(CACHE / "gene_emulator")
    xla.jit_compile = True
    init, rates = _inputs(emu, n_points, 3)
    res = {"threads": name, "load_start": _load(), "rows": n_points * r, "n_steps": n_steps,
           "n_parameters": int(emu.keras_model.count_params()), "component": emu.component, "rounds": {},
           "rounds_cpu": {}}
    timers = {"raw": _raw_fn(emu, init, rates, r, False), "raw_xla": _raw_fn(emu, init, rates, r, True),
              "compiled": _rollout_fn(emu, init, rates, r, "compiled"),
              "compiled_xla": _rollout_fn(xla, init, rates, r, "compiled"),
              "stepwise": _rollout_fn(emu, init, rates, r, "stepwise")}
    searched = build_emulator(CACHE / "gene_emulator_searched", "searched") if big else None
    if searched is not None:
        res["searched_n_parameters"] = int(searched.keras_model.count_params())
        timers.update(raw_searched=_raw_fn(searched, init, rates, r, False),
                      compiled_searched=_rollout_fn(searched, init, rates, r, "compiled"))
    for key in ("compiled", "compiled_xla", "compiled_searched"):
        if key in timers:
            timers[key](n_steps)                        # trace (and XLA-compile) once, untimed
    for _ in range(rounds):
        for key, fn in timers.items():
            wall, cpu = fn(n_steps)
            res["rounds"].setdefault(key, []).append(wall)
            res["rounds_cpu"].setdefault(key, []).append(cpu)
    for key in timers:
        res[f"{key}_s"], res[f"{key}_cpu_s"] = min(res["rounds"][key]), min(res["rounds_cpu"][key])
    best = "compiled_xla_s" if res["compiled_xla_s"] < res["compiled_s"] else "compiled_s"
    res["best_compiled"] = best
    res["rollout_over_raw"] = res[best] / res["raw_s"]
    res["rollout_over_raw_xla"] = res[best] / res["raw_xla_s"]
    res["rollout_over_raw_cpu"] = res[best.replace("_s", "_cpu_s")] / res["raw_cpu_s"]
    pairs = [(k, "raw") for k in ("compiled", "compiled_xla", "stepwise")] + \
        ([("compiled_searched", "raw_searched")] if searched is not None else [])
    for key, base in pairs:
        res[f"{key}_over_raw"] = res[f"{key}_s"] / res[f"{base}_s"]
        res[f"{key}_over_raw_cpu"] = res[f"{key}_cpu_s"] / res[f"{base}_cpu_s"]
        res[f"{key}_over_raw_per_round"] = [a / b for a, b in zip(res["rounds"][key], res["rounds"][base])]
        res[f"{key}_over_raw_cpu_per_round"] = [a / b for a, b in zip(res["rounds_cpu"][key], res["rounds_cpu"][base])]
    if big:
        res.update(_memory_and_million(xla if best == "compiled_xla_s" else emu, n_steps, res[best]))
        res["searched"] = _million(searched, n_steps, res["compiled_searched_s"])
        res["gene_1e6_seconds"] = res["searched"]["seconds"]
    res["load_end"] = _load()
    return res


def _memory_and_million(emu, n_steps: int, t_1e5: float) -> dict:
    """Peak RSS over output bytes at 10^5 rows, and the 10^6 x n_steps wall time."""
    init, rates = _inputs(emu, 1000, 5)
    emu.rollout(init, rates, n_steps=n_steps, n_traj=100, seed=1, dtype="float32")
    with PeakRSS() as mem:
        out = emu.rollout(init, rates, n_steps=n_steps, n_traj=100, seed=4, dtype="float32")
    res = {"memory": {"output_bytes": int(out.nbytes), "rss_before": mem.base, "rss_peak": mem.peak,
                      "chunk_rows": emu._compiled.chunk_rows(out.shape[0] * out.shape[1], n_steps)}}
    res["rollout_peak_memory_over_output"] = (mem.peak - mem.base) / out.nbytes
    del out
    res["gene_1e6"] = _million(emu, n_steps, t_1e5)
    return res


def _million(emu, n_steps: int, t_1e5: float) -> dict:
    """10^6 trajectories x n_steps: wall and CPU seconds (2 x 10^5 timed and scaled x 5 when 10^6
    would take over ~2 minutes at the current load)."""
    scale = 1 if 10 * t_1e5 <= 120 else 5
    n_pts = 10000 // scale
    init, rates = _inputs(emu, n_pts, 7)
    t0, c0 = time.perf_counter(), time.process_time()
    emu.rollout(init, rates, n_steps=n_steps, n_traj=100, seed=6, dtype="float32")
    t, c = time.perf_counter() - t0, time.process_time() - c0
    return {"timed_rows": n_pts * 100, "timed_seconds": t, "timed_cpu_seconds": c, "scale": scale,
            "seconds": t * scale, "cpu_seconds": c * scale, "idle_2_core_estimate_seconds": c * scale / 2,
            "load": _load(), "n_parameters": int(emu.keras_model.count_params()),
            "note": "timed directly" if scale == 1 else "2x10^5 rows timed, scaled x5 (load)"}


def perf_entries(case: dict) -> dict:
    """The issue's keys from the default case, and the details kept beside them.

    On a quiet machine (load average below :data:`QUIET_LOAD` at start and end) the keys are
    wall-clock figures.  On a shared one the wall clock measures the other jobs, so the keys are
    the CPU-time ratio and CPU seconds / 2 (the wall time on 2 idle cores), and ``rollout_basis``
    says so; both figures are kept either way.
    """
    quiet = max(case["load_start"][0], case["load_end"][0]) < QUIET_LOAD
    out = {"rollout_basis": "wall" if quiet else "cpu (load %.1f-%.1f)" % (case["load_start"][0], case["load_end"][0]),
           "rollout_over_raw": case["rollout_over_raw"] if quiet else case["rollout_over_raw_cpu"],
           "rollout_over_raw_wall": case["rollout_over_raw"], "rollout_over_raw_cpu": case["rollout_over_raw_cpu"],
           "rollout_peak_memory_over_output": case["rollout_peak_memory_over_output"]}
    for key, res in (("gene_1e6", case["searched"]), ("gene_1e6_mlp", case["gene_1e6"])):
        out[f"{key}_seconds"] = res["seconds"] if quiet else res["idle_2_core_estimate_seconds"]
        out[f"{key}_wall_seconds"], out[f"{key}_cpu_seconds"] = res["seconds"], res["cpu_seconds"]
    out["searched_rollout_over_raw"] = case["compiled_searched_over_raw" + ("" if quiet else "_cpu")]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="10^4 rows, 5 steps (smoke run)")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (minimum kept)")
    ap.add_argument("--out", default=str(HERE / "results" / "rollout.json"))
    args = ap.parse_args()
    n_points, r, n_steps = (100, 100, 5) if args.quick else (1000, 100, 25)
    if args.case:
        res = run_case(args.case, n_points, r, n_steps, big=args.case == "default" and not args.quick,
                       rounds=args.rounds)
        (CACHE / f"case_{args.case}.json").write_text(json.dumps(res, indent=1, default=str))
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    build_emulator(CACHE / "gene_emulator")
    if not args.quick:
        build_emulator(CACHE / "gene_emulator_searched", "searched")
    out = Path(args.out)
    results = {"load_start": _load(), "cases": {}, "quick": bool(args.quick)}
    for name in THREADS:   # one fresh process per thread setting (TF fixes them at start)
        subprocess.run([sys.executable, __file__, "--case", name, "--rounds", str(args.rounds)]
                       + (["--quick"] if args.quick else []),
                       check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        results["cases"][name] = json.loads((CACHE / f"case_{name}.json").read_text())
        out.write_text(json.dumps(results, indent=1, default=str))
        if name == "default" and not args.quick:     # the keys, as soon as they are measured
            perf = HERE / "results" / "performance.json"
            data = json.loads(perf.read_text()) if perf.exists() else {}
            data.update(perf_entries(results["cases"][name]))
            perf.write_text(json.dumps(data, indent=1))
    results["load_end"] = _load()
    out.write_text(json.dumps(results, indent=1, default=str))
    print(json.dumps({k: {q: v for q, v in c.items() if q.endswith("_s") or q.endswith("over_raw")}
                      for k, c in results["cases"].items()}, indent=1))


if __name__ == "__main__":
    main()
