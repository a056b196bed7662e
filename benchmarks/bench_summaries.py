"""Summary statistics: vectorised numpy built-ins vs tsfresh "minimal" on the same traces.

Writes ``benchmarks/results/summaries.json``. Both run in this process, side by side, on the
same (n, r, S, T) array of Poisson-like counts; the tsfresh import is timed separately and not
counted in its per-call time. Run: ``.venv/bin/python benchmarks/bench_summaries.py``.
"""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np

from sciope_abs.summaries import AutoCorrelation, Burstiness, CrossCorrelation, Mean, Quantiles, Std, TSFresh

OUT = Path(__file__).resolve().parent / "results" / "summaries.json"


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(n: int = 200, r: int = 10, S: int = 2, T: int = 101) -> dict:
    rng = np.random.default_rng(0)
    rates = rng.uniform(2.0, 50.0, size=(n, 1, S, 1))
    x = rng.poisson(rates, size=(n, r, S, T)).astype(np.float64)
    species = tuple(f"X{i}" for i in range(S))

    builtins = (Mean(species=species) + Std(species=species) + Quantiles(species=species)
                + AutoCorrelation(species=species) + Burstiness(species=species)
                + CrossCorrelation(species=species))
    minimal_equivalent = Mean(species=species) + Std(species=species) + Quantiles(qs=(0.0, 0.5, 1.0), species=species)

    t_builtin = best_of(lambda: builtins(x), 5)
    t_builtin_min = best_of(lambda: minimal_equivalent(x), 5)

    t0 = time.perf_counter()
    import tsfresh  # noqa: F401  (import cost reported on its own)
    t_import = time.perf_counter() - t0
    ts = TSFresh("minimal", species=species).fit(x[:8])
    t_tsfresh = best_of(lambda: ts(x), 2)
    f_ts = ts(x)
    f_np = Mean(species=species)(x)
    agree = float(np.max(np.abs(f_ts[:, ts.names.index("X0__mean")] - f_np[:, 0])))

    result = {
        "shape": [n, r, S, T],
        "builtin_features": len(builtins.names),
        "builtin_seconds": t_builtin,
        "builtin_minimal_like_features": len(minimal_equivalent.names),
        "builtin_minimal_like_seconds": t_builtin_min,
        "tsfresh_minimal_features": len(ts.names),
        "tsfresh_minimal_seconds": t_tsfresh,
        "tsfresh_import_seconds": t_import,
        "speedup_builtin_all_vs_tsfresh_minimal": t_tsfresh / t_builtin,
        "speedup_builtin_minimal_like_vs_tsfresh_minimal": t_tsfresh / t_builtin_min,
        "max_abs_diff_mean_tsfresh_vs_numpy": agree,
        "machine": {"python": platform.python_version(), "processor": platform.machine(),
                    "numpy": np.__version__},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    res = main()
    print(json.dumps(res, indent=2))
