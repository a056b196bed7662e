"""The unit of work ABC sends to a worker: simulate one batch of proposals and summarise it.

Summaries are computed next to the simulation, so only ``(m, F)`` features travel back, never
the raw ``(m, r, S, T)`` traces.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ProposalBatch", "SimulateSummarise"]


@dataclass(frozen=True)
class ProposalBatch:
    """One batch of proposals.

    Attributes
    ----------
    index : int
        Batch number within its round (proposals are ordered by ``(index, row)``).
    theta : array, shape (m, d)
    seed : numpy.random.SeedSequence
        Simulation seed of the batch (point ``i`` uses its ``i``-th child).
    n_outside : int
        Redraws outside the prior's support behind these proposals (counted by SMC-ABC).
    """

    index: int
    theta: np.ndarray
    seed: np.random.SeedSequence
    n_outside: int = 0  # proposals redrawn outside the prior's support (SMC-ABC, drawn in the task)


@dataclass(frozen=True)
class SimulateSummarise:
    """Callable task: ``ProposalBatch -> summaries (m, F)`` (float64, NaN where a point failed).

    Parameters
    ----------
    simulator : Simulator
    summary : Summary
        ``(m, r, S, T) -> (m, F)``.
    n_traj : int
        Trajectories per proposal.
    initial_state : array, shape (S,), optional
    """

    simulator: Any
    summary: Any
    n_traj: int = 1
    initial_state: Any = None

    def __call__(self, batch: ProposalBatch) -> np.ndarray:
        import warnings

        from ..simulators.base import SimulationWarning

        m = batch.theta.shape[0]
        with warnings.catch_warnings():
            # failed points come back as NaN and are counted as rejected by the ABC loop
            warnings.simplefilter("ignore", SimulationWarning)
            # a fresh copy: spawning children never depends on what happened to the object before
            seed = np.random.SeedSequence(batch.seed.entropy, spawn_key=batch.seed.spawn_key,
                                          pool_size=batch.seed.pool_size)
            x = self.simulator.simulate(batch.theta, n_traj=self.n_traj, seed=seed,
                                        initial_state=self.initial_state)
        s = np.asarray(self.summary(x), dtype=np.float64)
        if s.ndim == 1:
            s = s[:, None]
        if s.ndim != 2 or s.shape[0] != m:
            raise ValueError(f"summary returned shape {s.shape} for {m} simulations; expected ({m}, F)")
        return s
