"""Small picklable simulators and task functions for the engine tests.

They live in an importable module because functions sent to Dask workers are pickled by
reference.  ``ToySimulator`` follows the Simulator protocol exactly (per-point seeds, NaN + warning
for a failed point) without any compiled solver, so engine tests are fast.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from sciope_abs.seeding import as_generator, point_seeds
from sciope_abs.simulators.base import Simulator, check_initial_state, check_theta, report_failures


class ToySimulator(Simulator):
    """Birth–death counts with Poisson noise: x_t ~ Poisson(k_birth / k_death * (1 - e^{-k_death t})) + x0.

    A point with ``k_birth > fail_above`` fails (NaN + SimulationWarning), to test isolation.
    """

    def __init__(self, fail_above: float = np.inf, sleep: float = 0.0) -> None:
        self.param_names = ("k_birth", "k_death")
        self.species = ("A", "B")
        self.timespan = np.linspace(0.0, 5.0, 6)
        self.fail_above = float(fail_above)
        self.sleep = float(sleep)

    def simulate(self, theta, *, n_traj=1, seed=None, initial_state=None):
        theta = check_theta(theta, self.param_names)
        n = theta.shape[0]
        x0 = check_initial_state(initial_state, n, self.species, np.array([0, 3]))
        seeds = point_seeds(seed, n)
        out = np.empty((n, n_traj, 2, len(self.timespan)))
        failures = {}
        for i, (kb, kd) in enumerate(theta):
            if self.sleep:
                time.sleep(self.sleep)
            if kb > self.fail_above:
                out[i] = np.nan
                failures[i] = f"k_birth={kb} too large"
                continue
            rng = as_generator(seeds[i])
            mean = kb / max(kd, 1e-9) * (1 - np.exp(-kd * self.timespan))
            out[i, :, 0] = x0[i, 0] + rng.poisson(mean, size=(n_traj, len(self.timespan)))
            out[i, :, 1] = x0[i, 1] + rng.poisson(1.0, size=(n_traj, len(self.timespan)))
        report_failures(failures, n)
        return out


def final_mean(x):
    """postprocess: (m, r, S, T) -> (m, S) mean over trajectories at the final time."""
    return x[:, :, :, -1].mean(axis=1)


def square(x):
    return x * x


def draw(item, seed):
    """One normal draw per item from its seed, plus the item (tests seed handling)."""
    return float(item) + float(np.random.default_rng(seed).normal())


def fail_on_three(x):
    if x == 3:
        raise ValueError("three is not allowed")
    return x * 10


def slow_identity(x):
    time.sleep(0.05)
    return x


def die_once(args):
    """Kill this worker process the first time (marker file absent), return the value after."""
    value, marker = args
    marker = Path(marker)
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        os._exit(1)
    return value * 2


def record_call(args):
    """Append the item to a log file (counts how many items actually ran), after a pause."""
    value, log = args
    time.sleep(0.2)
    with open(log, "a") as fh:
        fh.write(f"{value}\n")
    return value


def worker_path(_):
    return os.environ.get("PATH", "")


def getpid(_):
    return os.getpid()
