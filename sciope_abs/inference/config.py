"""The settings of the ABC samplers, one frozen dataclass each.

:class:`SMCConfig` (:meth:`~sciope_abs.inference.SMCABC.infer`) and :class:`RejectionConfig`
(:meth:`~sciope_abs.inference.ABCRejection.infer`) are the **one** definition of those settings
and their defaults: the methods' signature defaults are read from them, ``sciope-abs infer``'s
``settings:`` block is checked against their fields
(:meth:`~sciope_abs._config.Config.from_mapping`, one-line errors naming ``settings.key``), the
pipeline's ``infer:`` section is :class:`SMCConfig`'s fields plus the pipeline's own
(``n_traj``, ``scheduler``, ``simulator``), and a run store records ``config.to_dict()`` under
``config.json``'s ``"config"``.

Ranges (``quantile`` in (0, 1), a bound on each round, a valid epsilon schedule) are checked by
the methods themselves, before any simulation.  Plain dataclasses: importing this module imports
neither numpy nor Dask.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._config import Config, option

__all__ = ["SMCConfig", "RejectionConfig"]


@dataclass(frozen=True)
class SMCConfig(Config):
    """Settings of :meth:`SMCABC.infer <sciope_abs.inference.SMCABC.infer>` (see its parameters).

    Parameters
    ----------
    n_particles : int
        Population size (accepted particles per round; default 500).
    quantile : float in (0, 1)
        Next tolerance = this quantile of the round's accepted distances (default 0.5; ignored
        when ``epsilon`` is given).
    target_tolerance : float, optional
        Stop once a round's tolerance is at or below it.
    min_acceptance_rate : float in (0, 1], optional
        Stop when a round's acceptance rate falls below it (default 0.01).
    max_rounds : int
        Rounds at most, round 0 (the prior) included (default 10).
    max_simulations : int, optional
        Simulation budget over all rounds.
    max_time : float, optional
        Wall-clock limit in seconds.
    batch_size : int or "auto"
        Proposals per Dask task.
    epsilon : str, dict or Epsilon, optional
        Tolerance schedule replacing ``quantile`` (:mod:`sciope_abs.inference.epsilon`).
    """

    n_particles: int = option(500, "population size (accepted particles per round)")
    quantile: float = option(0.5, "next tolerance: this quantile of the round's accepted distances")
    target_tolerance: float | None = option(None, "stop once a round's tolerance is at or below it", "float")
    min_acceptance_rate: float | None = option(0.01, "stop when a round accepts less (null: no such rule)",
                                               none=True)
    max_rounds: int = option(10, "rounds at most, round 0 (the prior) included")
    max_simulations: int | None = option(None, "simulations over all rounds at most", "int")
    max_time: float | None = option(None, "wall-clock limit in seconds", "float")
    batch_size: Any = option("auto", "proposals per Dask task, or auto", "any")
    epsilon: Any = option(None, "tolerance schedule replacing quantile, e.g. {name: acceptance_rate}", "any")

    def kwargs(self) -> dict[str, Any]:
        """The fields as keyword arguments of ``SMCABC.infer``."""
        return {name: getattr(self, name) for name in self.field_names()}


@dataclass(frozen=True)
class RejectionConfig(Config):
    """Settings of :meth:`ABCRejection.infer <sciope_abs.inference.ABCRejection.infer>`.

    Parameters
    ----------
    n_samples : int, optional
        Accepted samples wanted (default 1000, see the method).
    quantile : float in (0, 1], optional
        Accept the closest ``quantile`` of all simulations (give it or ``tolerance``).
    tolerance : float, optional
        Accept proposals with ``distance <= tolerance``.
    max_simulations : int, optional
        Simulation budget.
    max_time : float, optional
        Wall-clock limit in seconds.
    batch_size : int or "auto"
        Proposals per Dask task.
    """

    n_samples: int | None = option(None, "accepted samples wanted (default 1000)", "int")
    quantile: float | None = option(None, "accept the closest quantile of all simulations", "float")
    tolerance: float | None = option(None, "accept proposals with distance <= tolerance", "float")
    max_simulations: int | None = option(None, "simulation budget", "int")
    max_time: float | None = option(None, "wall-clock limit in seconds", "float")
    batch_size: Any = option("auto", "proposals per Dask task, or auto", "any")

    def kwargs(self) -> dict[str, Any]:
        """The fields as keyword arguments of ``ABCRejection.infer``."""
        return {name: getattr(self, name) for name in self.field_names()}
