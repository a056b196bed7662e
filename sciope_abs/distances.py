"""Distances between observed and simulated summary statistics (pure numpy).

Every distance implements::

    distance(s_obs (F,), s_sim (n, F)) -> (n,)

A simulated row containing NaN (a failed simulation or an undefined feature) is at distance
``+inf``, so it is never accepted but is still counted. :class:`Adaptive` scales each feature by
its median absolute deviation (MAD) over a simulated population given to :meth:`Adaptive.fit`
(an SMC-ABC run refits it every round).

Registry: ``get_distance(name, **kw)`` with ``"euclidean"``, ``"manhattan"``, ``"adaptive"``.
"""
from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

__all__ = ["Distance", "Euclidean", "Manhattan", "NaiveSquared", "Adaptive", "DISTANCES", "get_distance", "check_summaries"]


def check_summaries(s_obs: Any, s_sim: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate and return ``s_obs`` as (F,) and ``s_sim`` as (n, F) float arrays.

    ``s_obs`` may be (F,) or (1, F); ``s_sim`` may be (n, F) or a single row (F,). A feature
    count mismatch raises a one-line ValueError naming both shapes; NaN in ``s_obs`` is an error
    (every distance to it would be undefined).
    """
    try:
        obs = np.asarray(s_obs, dtype=np.float64)
        sim = np.asarray(s_sim, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("summaries must be numeric arrays: s_obs (F,), s_sim (n, F)") from None
    obs_shape, sim_shape = obs.shape, sim.shape
    if obs.ndim == 2 and obs.shape[0] == 1:
        obs = obs[0]
    if sim.ndim == 1:
        sim = sim[None, :]
    if obs.ndim != 1 or sim.ndim != 2 or sim.shape[1] != obs.shape[0]:
        raise ValueError(f"shape mismatch: s_obs has shape {obs_shape} (want (F,)), s_sim has shape "
                         f"{sim_shape} (want (n, F))")
    if np.any(np.isnan(obs)):
        raise ValueError(f"observed summaries contain NaN at features {np.flatnonzero(np.isnan(obs)).tolist()}")
    return obs, sim


class Distance(ABC):
    """Base class of the package's distances; implements the :class:`sciope_abs.protocols.Distance`
    protocol (a user distance need not inherit from it). Subclasses implement :meth:`_distance` on
    validated arrays.

    :meth:`fit` is a no-op for fixed distances and returns ``self``.
    """

    def fit(self, s_sim: Any) -> "Distance":
        """Fit scales on a simulated population (n, F); a no-op for fixed distances."""
        return self

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments (JSON data): ``type(self)(**get_params())`` is an unfitted copy."""
        return {}

    def get_state(self) -> dict[str, Any]:
        """The fitted state as data: numpy arrays and JSON values, no objects (empty when unfitted
        or for fixed distances). :meth:`set_state` restores it exactly; run stores save it."""
        return {}

    def set_state(self, state: dict[str, Any]) -> "Distance":
        """Restore a state from :meth:`get_state`; returns ``self``."""
        if state:
            raise ValueError(f"{type(self).__name__} has no fitted state, got keys {sorted(state)}")
        return self

    @abstractmethod
    def _distance(self, diff: np.ndarray) -> np.ndarray:
        """Distances (n,) from the differences ``s_sim - s_obs`` (n, F) (NaN rows already zeroed)."""

    def __call__(self, s_obs: Any, s_sim: Any) -> np.ndarray:
        """Distances of each simulated row to the observation.

        Parameters
        ----------
        s_obs : array, shape (F,)
        s_sim : array, shape (n, F)

        Returns
        -------
        array, shape (n,)
            ``+inf`` for rows containing NaN.
        """
        obs, sim = check_summaries(s_obs, s_sim)
        bad = np.any(np.isnan(sim), axis=1)
        diff = np.where(bad[:, None], 0.0, sim - obs[None, :])
        out = self._distance(diff)
        out[bad] = np.inf
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Euclidean(Distance):
    """``sqrt(sum_f (s_sim - s_obs)^2)``."""

    def _distance(self, diff: np.ndarray) -> np.ndarray:
        return np.sqrt(np.sum(diff * diff, axis=1))


class Manhattan(Distance):
    """``sum_f |s_sim - s_obs|``."""

    def _distance(self, diff: np.ndarray) -> np.ndarray:
        return np.sum(np.abs(diff), axis=1)


class NaiveSquared(Distance):
    """``sum_f (s_sim - s_obs)^2``, the squared Euclidean distance (Sciope's
    ``NaiveSquaredDistance`` returns the element-wise squares (n, F), see :meth:`components`;
    the protocol's (n,) is their sum, so ``d <= eps^2`` accepts what Euclidean ``<= eps`` does)."""

    def _distance(self, diff: np.ndarray) -> np.ndarray:
        return np.sum(diff * diff, axis=1)

    def components(self, s_obs: Any, s_sim: Any) -> np.ndarray:
        """Element-wise squares ``(s_sim - s_obs)^2``, shape (n, F) (NaN rows stay NaN)."""
        obs, sim = check_summaries(s_obs, s_sim)
        return (sim - obs[None, :]) ** 2


class Adaptive(Distance):
    """Euclidean (``p=2``) or Manhattan (``p=1``) distance of MAD-scaled features.

    Called before :meth:`fit`, the distance fits itself on the ``s_sim`` of that call. Rescaling
    a feature column (of both ``s_obs`` and the population) by any positive factor leaves the
    distances unchanged.

    Parameters
    ----------
    p : 1 or 2

    Attributes
    ----------
    scale_ : array, shape (F,)
        Per-feature median absolute deviation over the rows given to :meth:`fit` (finite values
        only); a zero or undefined MAD is replaced by 1.
    notes_ : list of str
        One line per feature whose MAD was zero or undefined.
    unit_scale_ : list of int
        Indices of those features.
    """

    def __init__(self, p: int = 2):
        if p not in (1, 2):
            raise ValueError(f"Adaptive: p must be 1 or 2, got {p!r}")
        self.p = p
        self.scale_: np.ndarray | None = None
        self.notes_: list[str] = []
        self.unit_scale_: list[int] = []

    def fit(self, s_sim: Any) -> "Adaptive":
        """Fit the per-feature MAD on a simulated population, shape (n, F)."""
        sim = np.asarray(s_sim, dtype=np.float64)
        if sim.ndim != 2 or sim.shape[0] == 0:
            raise ValueError(f"Adaptive.fit expects s_sim of shape (n, F) with n >= 1, got {sim.shape}")
        finite = np.where(np.isfinite(sim), sim, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns -> NaN MAD, handled below
            med = np.nanmedian(finite, axis=0)
            mad = np.nanmedian(np.abs(finite - med[None, :]), axis=0)
        bad = ~(np.isfinite(mad) & (mad > 0))
        self.unit_scale_ = np.flatnonzero(bad).tolist()
        self.notes_ = [f"feature {j}: MAD is {'zero' if mad[j] == 0 else 'undefined'}, scale set to 1"
                       for j in self.unit_scale_]
        self.scale_ = np.where(bad, 1.0, mad)
        return self

    def get_params(self) -> dict[str, Any]:
        return {"p": self.p}

    def get_state(self) -> dict[str, Any]:
        """``{"scale_": array (F,), "unit_scale_": list, "notes_": list}``, or ``{}`` before :meth:`fit`."""
        if self.scale_ is None:
            return {}
        return {"scale_": np.array(self.scale_, dtype=np.float64), "unit_scale_": list(self.unit_scale_),
                "notes_": list(self.notes_)}

    def set_state(self, state: dict[str, Any]) -> "Adaptive":
        if not state:
            self.scale_, self.unit_scale_, self.notes_ = None, [], []
            return self
        scale = np.asarray(state["scale_"], dtype=np.float64)
        if scale.ndim != 1 or not (np.isfinite(scale).all() and (scale > 0).all()):
            raise ValueError(f"Adaptive state: scale_ must be a positive finite vector, got shape {scale.shape}")
        self.scale_ = scale
        self.unit_scale_ = [int(j) for j in state.get("unit_scale_", [])]
        self.notes_ = [str(n) for n in state.get("notes_", [])]
        return self

    def __call__(self, s_obs: Any, s_sim: Any) -> np.ndarray:
        obs, sim = check_summaries(s_obs, s_sim)
        if self.scale_ is None:
            self.fit(sim)
        scale = self._scale()
        if scale.shape[0] != obs.shape[0]:
            raise ValueError(f"Adaptive was fitted on {scale.shape[0]} features, got s_obs of shape {obs.shape}")
        return super().__call__(obs, sim)

    def _scale(self) -> np.ndarray:
        if self.scale_ is None:
            raise ValueError("Adaptive is not fitted: call fit(s_sim) on simulated summaries (n, F) first")
        return self.scale_

    def _distance(self, diff: np.ndarray) -> np.ndarray:
        z = diff / self._scale()[None, :]
        if self.p == 1:
            return np.sum(np.abs(z), axis=1)
        return np.sqrt(np.sum(z * z, axis=1))

    def __repr__(self) -> str:
        return f"Adaptive(p={self.p})"


DISTANCES: dict[str, type[Distance]] = {
    "euclidean": Euclidean,
    "manhattan": Manhattan,
    "adaptive": Adaptive,
    "naive_squared": NaiveSquared,
}


def get_distance(name: str, **kwargs: Any) -> Distance:
    """A distance by registry name (``"euclidean"``, ``"manhattan"``, ``"adaptive"``)."""
    key = str(name).lower()
    if key not in DISTANCES:
        raise ValueError(f"unknown distance {name!r}; choose one of {sorted(DISTANCES)}")
    return DISTANCES[key](**kwargs)
