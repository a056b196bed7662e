"""Tolerance schedules of SMC-ABC: ``epsilon(t, distances, simulated=...) -> tolerance of round t``.

Round 0 samples the prior and accepts every finite simulation (tolerance ``inf``); for a round
``t >= 1`` the schedule sees the previous round's accepted distances ``(n,)`` and the distances of
the simulations that round made ``(m,)`` (``inf`` for failed ones), both under the distance as
refitted after that round.

- :class:`QuantileEpsilon` -- the ``quantile`` of the previous accepted distances (the default,
  0.5: Beaumont et al. 2009; Del Moral et al. 2012);
- :class:`ListEpsilon` -- a fixed list of tolerances for rounds 1, 2, ... (the run ends when the
  list does);
- :class:`AcceptanceRateEpsilon` -- the tolerance at which a fraction ``target_rate`` of the
  next round's proposals is predicted to be accepted: the previous round's simulations,
  importance-weighted from the proposal that made them to the next round's proposal (pyABC's
  acceptance-rate scheme).

Registry: :data:`EPSILONS` and :func:`get_epsilon` (a name, a ``{"name": ..., **params}`` dict or
an :class:`Epsilon`); a run store records ``{"name": ..., **get_params()}`` and rebuilds the
schedule from it on resume.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, Optional, Sequence

import numpy as np

__all__ = ["Epsilon", "QuantileEpsilon", "ListEpsilon", "AcceptanceRateEpsilon", "EPSILONS", "get_epsilon",
           "epsilon_spec"]


def _finite(d: np.ndarray) -> np.ndarray:
    d = np.asarray(d, dtype=np.float64).reshape(-1)
    return d[np.isfinite(d)]


class Epsilon(ABC):
    """Base class of tolerance schedules (scikit-learn manners: parameters in ``__init__``)."""

    #: registry name (``EPSILONS[name] is type(self)``)
    name: str = ""

    def max_rounds(self) -> Optional[int]:
        """Rounds the schedule defines at most (round 0 included), or None if unbounded."""
        return None

    #: whether the schedule needs ``simulated_weights`` (the SMC loop then records the proposal
    #: density of each round's simulations)
    uses_proposal_density: bool = False

    @abstractmethod
    def __call__(self, t: int, distances: np.ndarray, *, simulated: Optional[np.ndarray] = None,
                 simulated_weights: Optional[np.ndarray] = None) -> float:
        """The tolerance of round ``t >= 1``.

        Parameters
        ----------
        t : int
            The round about to run.
        distances : array, shape (n,)
            Round ``t - 1``'s accepted distances.
        simulated : array, shape (m,), optional
            Distances of round ``t - 1``'s simulations (``inf`` where a simulation failed).
        simulated_weights : array, shape (m,), optional
            Importance weights of those simulations' proposals: round ``t``'s proposal density
            over the one that made them (given to schedules with ``uses_proposal_density``).

        Returns
        -------
        float
        """

    @abstractmethod
    def get_params(self) -> dict[str, Any]:
        """The constructor arguments as JSON data."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"


class QuantileEpsilon(Epsilon):
    """``quantile`` of the previous round's finite accepted distances.

    Parameters
    ----------
    quantile : float in (0, 1)
    """

    name = "quantile"

    def __init__(self, quantile: float = 0.5) -> None:
        q = _number(quantile, "quantile")
        if not 0 < q < 1:
            raise ValueError(f"quantile must lie in (0, 1), got {quantile!r}")
        self.quantile = q

    def __call__(self, t: int, distances: np.ndarray, *, simulated: Optional[np.ndarray] = None,
                 simulated_weights: Optional[np.ndarray] = None) -> float:
        d = _finite(distances)
        if d.size == 0:
            raise ValueError(f"round {t}: the previous round has no finite distances to take a quantile of")
        return float(np.quantile(d, self.quantile))

    def get_params(self) -> dict[str, Any]:
        return {"quantile": self.quantile}


class ListEpsilon(Epsilon):
    """Fixed tolerances for rounds ``1, 2, ...``; the run ends after the last one.

    Parameters
    ----------
    values : sequence of float
        Non-increasing, finite, >= 0.
    """

    name = "list"

    def __init__(self, values: Sequence[float]) -> None:
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or len(values) == 0:
            raise ValueError(f"values must be a non-empty list of tolerances, got {values!r}")
        vals = [_number(v, f"values[{i}]") for i, v in enumerate(values)]
        if any(not (math.isfinite(v) and v >= 0) for v in vals):
            raise ValueError(f"values must be finite tolerances >= 0, got {list(values)!r}")
        if any(b > a for a, b in zip(vals, vals[1:])):
            raise ValueError(f"values must not increase, got {vals}")
        self.values = vals

    def max_rounds(self) -> Optional[int]:
        return len(self.values) + 1

    def __call__(self, t: int, distances: np.ndarray, *, simulated: Optional[np.ndarray] = None,
                 simulated_weights: Optional[np.ndarray] = None) -> float:
        if not 1 <= t <= len(self.values):
            raise ValueError(f"round {t}: the tolerance list has values for rounds 1..{len(self.values)} only")
        return float(self.values[t - 1])

    def get_params(self) -> dict[str, Any]:
        return {"values": list(self.values)}


class AcceptanceRateEpsilon(Epsilon):
    """The tolerance at which ``target_rate`` of the next round's proposals are predicted to pass.

    The prediction reweights the previous round's simulations (their distances under the
    refitted distance) by ``q_t(θ) / q_{t-1}(θ)``, the next round's proposal density over the
    one that drew them, and takes the weighted ``target_rate`` quantile of their distances
    (failed simulations count as rejected). Without weights (a schedule used outside SMCABC)
    the simulations count equally. The tolerance never rises above the previous round's
    largest accepted distance, so it does not increase; the realised rate then exceeds the
    target when that cap binds.

    Parameters
    ----------
    target_rate : float in (0, 1)
    """

    name = "acceptance_rate"
    uses_proposal_density = True

    def __init__(self, target_rate: float = 0.1) -> None:
        r = _number(target_rate, "target_rate")
        if not 0 < r < 1:
            raise ValueError(f"target_rate must lie in (0, 1), got {target_rate!r}")
        self.target_rate = r

    def __call__(self, t: int, distances: np.ndarray, *, simulated: Optional[np.ndarray] = None,
                 simulated_weights: Optional[np.ndarray] = None) -> float:
        acc = _finite(distances)
        if acc.size == 0:
            raise ValueError(f"round {t}: the previous round has no finite distances")
        sim = np.asarray(simulated if simulated is not None else distances, dtype=np.float64).reshape(-1)
        sim = np.where(np.isnan(sim), np.inf, sim)
        w = np.ones(sim.size) if simulated_weights is None else np.asarray(simulated_weights, dtype=np.float64)
        if w.shape != sim.shape or not (np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
            raise ValueError(f"round {t}: simulated_weights must be {sim.size} finite non-negative weights")
        order = np.argsort(sim, kind="stable")
        cw = np.cumsum(w[order]) / w.sum()
        k = min(int(np.searchsorted(cw, self.target_rate, side="left")), sim.size - 1)
        return min(float(sim[order][k]), float(acc.max()))

    def get_params(self) -> dict[str, Any]:
        return {"target_rate": self.target_rate}


def _number(v: Any, what: str) -> float:
    if isinstance(v, bool):
        raise ValueError(f"{what} must be a number, got {v!r}")
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: could not convert {v!r} to a number") from None


EPSILONS: dict[str, type[Epsilon]] = {
    "quantile": QuantileEpsilon,
    "list": ListEpsilon,
    "acceptance_rate": AcceptanceRateEpsilon,
}


def get_epsilon(spec: Any) -> Epsilon:
    """An :class:`Epsilon` from itself, a registry name or ``{"name": ..., **params}``."""
    if isinstance(spec, Epsilon):
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict) or "name" not in spec:
        raise ValueError(f"epsilon must be an Epsilon, a name or {{name: ..., ...}}; got {spec!r}")
    kw = dict(spec)
    name = str(kw.pop("name")).lower()
    if name not in EPSILONS:
        raise ValueError(f"unknown epsilon {name!r}; choose one of {sorted(EPSILONS)}")
    try:
        return EPSILONS[name](**kw)
    except TypeError as exc:
        raise ValueError(f"epsilon {name!r}: {exc}") from None


def epsilon_spec(eps: Epsilon) -> dict[str, Any]:
    """``{"name": ..., **params}`` of a registered schedule (a one-line error for others)."""
    name = getattr(eps, "name", "")
    if EPSILONS.get(name) is not type(eps):
        raise ValueError(f"{type(eps).__name__} is not in the epsilon registry (EPSILONS); register it to save "
                         "the run to run_dir")
    return {"name": name, **eps.get_params()}
