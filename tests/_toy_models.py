"""Toy simulators and summaries with known answers, importable by tests and by Dask workers.

``GaussianSimulator``: theta (n, 1) -> x (n, r, 1, T) with iid N(theta, sigma^2) entries.  With
the summary "mean of all r*T values" the likelihood of theta is N(s_obs; theta, sigma^2/(r T)),
so under a wide uniform prior the posterior is (nearly) N(s_obs, sigma^2/(r T)).
"""
from __future__ import annotations

import numpy as np

from sciope_abs.seeding import point_seeds
from sciope_abs.simulators.base import Simulator, check_theta

# A switch the resume test uses to "crash" a run in-process (client="sync"): when set to an
# int, the simulator raises after that many more calls.  Not part of any pickled state.
CRASH_AFTER: dict = {"calls": None}


class SimulatorCrash(RuntimeError):
    """Raised by the toy simulators when CRASH_AFTER runs out (simulates an interrupted job)."""


def _maybe_crash() -> None:
    left = CRASH_AFTER["calls"]
    if left is None:
        return
    if left <= 0:
        raise SimulatorCrash("simulated crash")
    CRASH_AFTER["calls"] = left - 1


class GaussianSimulator(Simulator):
    """iid N(mu, sigma^2) observations; parameter ``mu`` (and ``log_sigma`` when ``two_params``)."""

    def __init__(self, sigma: float = 1.0, T: int = 25, two_params: bool = False) -> None:
        self.sigma = float(sigma)
        self.param_names = ("mu", "log_sigma") if two_params else ("mu",)
        self.species = ("X",)
        self.timespan = np.arange(int(T), dtype=np.float64)

    def simulate(self, theta, *, n_traj=1, seed=None, initial_state=None):
        _maybe_crash()
        theta = check_theta(theta, self.param_names, allow_negative=True)
        n, T = theta.shape[0], len(self.timespan)
        out = np.empty((n, int(n_traj), 1, T))
        for i, ss in enumerate(point_seeds(seed, n)):
            rng = np.random.default_rng(ss)
            sigma = np.exp(theta[i, 1]) if theta.shape[1] == 2 else self.sigma
            out[i] = theta[i, 0] + sigma * rng.standard_normal((int(n_traj), 1, T))
        return out


class MeanSummary:
    """Mean over realisations and time per species: (n, r, S, T) -> (n, S)."""

    def __init__(self, species=("X",)) -> None:
        self.species = tuple(species)

    @property
    def names(self):
        return [f"{s}__mean" for s in self.species]

    def __call__(self, x):
        return np.asarray(x, dtype=np.float64).mean(axis=(1, 3))


class MeanStdSummary(MeanSummary):
    """Mean and standard deviation over realisations and time per species: (n, 2 S)."""

    @property
    def names(self):
        return [f"{s}__{f}" for s in self.species for f in ("mean", "std")]

    def __call__(self, x):
        x = np.asarray(x, dtype=np.float64)
        return np.stack([x.mean(axis=(1, 3)), x.std(axis=(1, 3))], axis=2).reshape(x.shape[0], -1)


class NaNSummary(MeanSummary):
    """The mean, but NaN for every proposal whose theta (recovered as the mean) exceeds ``cut``."""

    def __init__(self, cut: float = 0.0) -> None:
        super().__init__()
        self.cut = float(cut)

    def __call__(self, x):
        s = super().__call__(x)
        s[s[:, 0] > self.cut] = np.nan
        return s


class AbsDistance:
    """|s_obs - s| for one feature (a distance with no fit)."""

    def __call__(self, s_obs, s_sim):
        return np.abs(np.asarray(s_sim) - np.asarray(s_obs)).sum(axis=1)


def gaussian_posterior(s_obs: float, sigma: float, n_obs: int, eps: float = 0.0) -> tuple[float, float]:
    """Mean and std of the ABC posterior under a flat prior with a uniform acceptance window.

    Exact posterior N(s_obs, sigma^2/n_obs); rejection with |s - s_obs| <= eps convolves it
    with Uniform(-eps, eps), adding eps^2/3 to the variance.
    """
    return float(s_obs), float(np.sqrt(sigma ** 2 / n_obs + eps ** 2 / 3))
