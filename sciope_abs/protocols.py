"""The protocols: the doors between the package's rooms (DESIGN.md section 3).

Each is a :class:`typing.Protocol`, so a user class that has the methods and attributes below
conforms without inheriting anything from the package; type checkers accept it wherever the
package asks for the protocol, and ``isinstance(obj, Simulator)`` (``runtime_checkable``) checks
that the members exist (not their signatures).

The package's own base classes (:class:`sciope_abs.simulators.Simulator`,
:class:`sciope_abs.summaries.Summary`, :class:`sciope_abs.distances.Distance`,
:class:`sciope_abs.designs.Design`) and :class:`sciope_abs.priors.JointPrior` implement these
protocols and add shared input checks; inheriting from them is a convenience, never a
requirement.

Shapes are the contract: ``n`` parameter points, ``r`` trajectories (realisations) per point,
``S`` observed species, ``T`` time points, ``d`` parameters, ``F`` features.

This module is pure typing (numpy only for annotations): it sits in the bottom layer and any
module may import it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from .seeding import SeedLike

__all__ = ["Simulator", "Summary", "Distance", "Prior", "Design"]


@runtime_checkable
class Simulator(Protocol):
    """Parameter points to trajectories.

    Attributes
    ----------
    param_names : sequence of str, length d
        The columns of ``theta``.
    species : sequence of str, length S
        The observed species, in the order of the trace axis ``S``.
    timespan : array, shape (T,)
        The output time points.
    """

    @property
    def param_names(self) -> Sequence[str]:
        """Parameter names, length d (the columns of ``theta``)."""

    @property
    def species(self) -> Sequence[str]:
        """Observed species, length S."""

    @property
    def timespan(self) -> np.ndarray:
        """Output time points, shape (T,)."""

    def simulate(self, theta: np.ndarray, *, n_traj: int = 1, seed: SeedLike = None,
                 initial_state: np.ndarray | None = None) -> np.ndarray:
        """Simulate ``n_traj`` trajectories at each of the ``n`` parameter points.

        Parameters
        ----------
        theta : array, shape (n, d)
            Parameter values in the order of ``param_names``.
        n_traj : int
            Trajectories (realisations) ``r`` per point.
        seed : int, SeedSequence or list of n SeedSequence
            The same seed gives the same traces; a list gives point ``i`` the seed ``seed[i]``.
        initial_state : array, shape (S,) or (n, S), optional
            Initial counts in the order of ``species``; default: the model's.

        Returns
        -------
        array, shape (n, r, S, T)
            NaN traces for a point whose simulation failed.
        """


@runtime_checkable
class Summary(Protocol):
    """Traces to summary statistics.

    Attributes
    ----------
    names : list of str, length F
        Feature names, ``"species__feature"``.

    Notes
    -----
    An optional ``fit(x (n, r, S, T))`` learns what the summary needs from reference traces;
    the package calls it when present. On Python 3.11 ``isinstance(obj, Summary)`` evaluates
    ``names``, so a summary whose names are not known before its first call does not pass the
    runtime check; the package's own checks therefore only ask that a summary be callable.
    """

    @property
    def names(self) -> list[str]:
        """Feature names ``"species__feature"``, length F."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Summaries of each point.

        Parameters
        ----------
        x : array, shape (n, r, S, T)

        Returns
        -------
        array, shape (n, F)
            NaN rows for points whose traces contain NaN.
        """


@runtime_checkable
class Distance(Protocol):
    """Observed and simulated summaries to distances.

    Notes
    -----
    An optional ``fit(s_sim (n, F))`` learns scales from a simulated population (adaptive
    distances); the ABC samplers call it when present, on a private copy of the distance.
    """

    def __call__(self, s_obs: np.ndarray, s_sim: np.ndarray) -> np.ndarray:
        """Distance of each simulated row to the observation.

        Parameters
        ----------
        s_obs : array, shape (F,)
        s_sim : array, shape (n, F)

        Returns
        -------
        array, shape (n,)
            ``+inf`` (or NaN, treated as ``+inf``) for rows that cannot be compared.
        """


@runtime_checkable
class Prior(Protocol):
    """A distribution over the ``d`` parameters.

    Attributes
    ----------
    names : sequence of str, length d
        The columns of every ``(n, d)`` array; ABC requires the simulator's ``param_names``.
    bounds : array, shape (d, 2)
        Finite lower and upper bounds per parameter (plot ranges, sweep suggestions).
    """

    @property
    def names(self) -> Sequence[str]:
        """Parameter names, length d."""

    @property
    def bounds(self) -> np.ndarray:
        """Finite bounds per parameter, shape (d, 2)."""

    def sample(self, n: int, seed: SeedLike = None) -> np.ndarray:
        """Draw ``n`` independent points.

        Parameters
        ----------
        n : int
        seed : int, SeedSequence or Generator
            The same seed gives the same points.

        Returns
        -------
        array, shape (n, d)
        """

    def log_prob(self, theta: np.ndarray) -> np.ndarray:
        """Log density of each point.

        Parameters
        ----------
        theta : array, shape (n, d)

        Returns
        -------
        array, shape (n,)
            ``-inf`` outside the support.
        """


@runtime_checkable
class Design(Protocol):
    """A set of parameter points inside a prior's support.

    Notes
    -----
    A design may also carry the ``prior`` it covers (a :class:`Prior`) and its ``names``; a
    sweep then takes its suggestion bounds and column check from them.
    """

    def generate(self, n: int, seed: SeedLike = None) -> np.ndarray:
        """``n`` design points.

        Parameters
        ----------
        n : int
        seed : int, SeedSequence or Generator
            The same seed gives the same points.

        Returns
        -------
        array, shape (n, d)
        """

