"""Simulate and summarise a given set of parameter points in parallel (used by BOLFI and
replenishment SMC-ABC, whose proposals are fixed before they are simulated)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._stream import child_seed
from .tasks import SimulateSummarise

__all__ = ["simulate_summaries"]


@dataclass(frozen=True)
class _PointsTask:
    """``(theta (m, d), seeds [m SeedSequence]) -> summaries (m, F)``; point ``i`` uses ``seeds[i]``."""

    task: SimulateSummarise

    def __call__(self, item: tuple) -> np.ndarray:
        import warnings

        from ..simulators.base import SimulationWarning

        theta, seeds = item
        t = self.task
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SimulationWarning)  # failed points: NaN rows
            x = t.simulator.simulate(theta, n_traj=t.n_traj, seed=list(seeds), initial_state=t.initial_state)
        s = np.asarray(t.summary(x), dtype=np.float64)
        if s.ndim == 1:
            s = s[:, None]
        if s.ndim != 2 or s.shape[0] != theta.shape[0]:
            raise ValueError(f"summary returned shape {s.shape} for {theta.shape[0]} simulations; expected "
                             f"({theta.shape[0]}, F)")
        return s


def simulate_summaries(task: SimulateSummarise, theta: np.ndarray, seed: np.random.SeedSequence, *,
                       batch_size: int, client: Any, progress: bool = False, desc: str = "abc") -> np.ndarray:
    """Summaries ``(n, F)`` of ``theta (n, d)``; NaN rows where a simulation failed.

    Point ``i`` is simulated with the seed ``child_seed(seed, i)`` only, so the numbers do not
    depend on ``batch_size``, the client or the number of workers.
    """
    from ..engine import parallel_map

    theta = np.asarray(theta, dtype=np.float64)
    n = theta.shape[0]
    items = [(theta[i:i + batch_size], [child_seed(seed, j) for j in range(i, min(i + batch_size, n))])
             for i in range(0, n, batch_size)]
    if not items:
        raise ValueError("no parameter points to simulate")
    out = parallel_map(_PointsTask(task), items, client=client, chunk_size=1, progress=progress, desc=desc)
    return np.vstack(out)
