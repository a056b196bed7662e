"""``SpeciesView``: a simulator seen through a subset of its species (the observed ones).

The emulator and the training data carry every species of the model (the emulator's state is
the full state); inference sees only the observed species.  The view is a picklable
:class:`~sciope_abs.simulators.base.Simulator` wrapper, so ABC, sweeps and the fidelity check take
it like any simulator (the pipeline wraps its emulator in one).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..protocols import Simulator as SimulatorProtocol
from ..seeding import SeedLike
from .base import Simulator

__all__ = ["SpeciesView"]


class SpeciesView(Simulator):
    """Only ``species`` of ``simulator``'s output; everything else passes through.

    Parameters
    ----------
    simulator : Simulator
        Its ``initial_state`` stays the full state of the wrapped simulator.
    species : sequence of str
        A subset of ``simulator.species`` (any order).
    """

    def __init__(self, simulator: SimulatorProtocol, species: Sequence[str]) -> None:
        full = list(simulator.species)
        species = [species] if isinstance(species, str) else list(species)
        missing = [s for s in species if s not in full]
        if missing or not species:
            raise ValueError(f"species {missing or species} are not produced by the simulator (it has {full})")
        self.simulator = simulator
        self.species = tuple(species)
        self._idx = [full.index(s) for s in species]
        self.param_names = tuple(simulator.param_names)
        self.timespan = np.asarray(simulator.timespan, dtype=np.float64)

    @property
    def preferred_batch_size(self) -> Any:
        """The wrapped simulator's ``preferred_batch_size`` (None when it declares none)."""
        return getattr(self.simulator, "preferred_batch_size", None)

    def simulate(self, theta: np.ndarray, *, n_traj: int = 1, seed: SeedLike = None,
                 initial_state: np.ndarray | None = None) -> np.ndarray:
        """``(n, r, len(species), T)``: the wrapped simulator's output at the viewed species."""
        x = self.simulator.simulate(theta, n_traj=n_traj, seed=seed, initial_state=initial_state)
        return np.ascontiguousarray(np.asarray(x)[:, :, self._idx])

    def __repr__(self) -> str:
        return f"SpeciesView({self.simulator!r}, species={list(self.species)})"
