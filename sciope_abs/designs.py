"""Experimental designs: point sets in a prior's support (pure numpy/scipy).

Every design draws points in the unit cube ``[0, 1]^d`` and maps them into the prior with
:meth:`sciope_abs.priors.JointPrior.ppf`, so a Latin hypercube over a log-uniform prior is
stratified in ``log`` space and a design over a truncated normal puts more points near the mean::

    design = Sobol(prior)
    theta = design.generate(256, seed=1)     # (256, d)

Registry: ``get_design(name, prior, **kw)`` with names ``"lhs"``, ``"sobol"``, ``"halton"``,
``"random"``, ``"factorial"``, ``"maximin"``, ``"sequential_maximin"``.

:class:`SequentialMaximin` also grows an existing set: ``SequentialMaximin(prior).extend(theta, k,
seed)`` returns ``k`` new points, each as far as possible from everything simulated before it.
"""
from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from typing import Any, Sequence

import numpy as np

from ._checks import check_positive_int
from .priors import JointPrior, as_prior
from .seeding import SeedLike, as_generator

__all__ = [
    "Design", "LatinHypercube", "Sobol", "Halton", "RandomDesign", "Factorial", "Maximin",
    "SequentialMaximin", "DESIGNS", "get_design",
]


class Design(ABC):
    """Base class: ``generate(n, seed) -> (n, d)`` inside ``prior``'s support.

    Implements the :class:`sciope_abs.protocols.Design` protocol; a user design need not inherit
    from it.

    Parameters
    ----------
    prior : JointPrior or dict name -> distribution
    """

    def __init__(self, prior: Any):
        self.prior: JointPrior = as_prior(prior)

    @property
    def names(self) -> list[str]:
        return self.prior.names

    @property
    def ndim(self) -> int:
        return self.prior.ndim

    @abstractmethod
    def unit(self, n: int, seed: SeedLike = None) -> np.ndarray:
        """The design in the unit cube, shape (n, d)."""

    def generate(self, n: int, seed: SeedLike = None) -> np.ndarray:
        """``n`` design points mapped into the prior's support.

        Parameters
        ----------
        n : int
        seed : int, SeedSequence or Generator
            The same seed gives the same points.

        Returns
        -------
        array, shape (n, d), columns in the order of ``prior.names``
        """
        u = self.unit(check_positive_int(n, "n"), seed)
        return self.prior.ppf(u)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(prior={self.prior!r})"


class LatinHypercube(Design):
    """Latin hypercube sample (``scipy.stats.qmc.LatinHypercube``, points randomised within their
    strata): each of the ``n`` equal-probability strata of every dimension holds one point."""

    def unit(self, n: int, seed: SeedLike = None) -> np.ndarray:
        from scipy.stats import qmc

        return qmc.LatinHypercube(self.ndim, scramble=True, rng=as_generator(seed)).random(n)


class Sobol(Design):
    """Scrambled Sobol' sequence (``scipy.stats.qmc.Sobol``, Owen scrambling, seeded).

    The balance properties of Sobol' points are exact when ``n`` is a power of two. For other
    ``n`` the first ``n`` points of the scrambled sequence are returned (what ``random(n)`` gives)
    without scipy's balance warning; prefer powers of two where it matters.
    """

    def unit(self, n: int, seed: SeedLike = None) -> np.ndarray:
        from scipy.stats import qmc

        m = max(0, math.ceil(math.log2(n)))
        engine = qmc.Sobol(self.ndim, scramble=True, rng=as_generator(seed))
        return engine.random_base2(m)[:n]


class Halton(Design):
    """Scrambled Halton sequence (``scipy.stats.qmc.Halton``, seeded)."""

    def unit(self, n: int, seed: SeedLike = None) -> np.ndarray:
        from scipy.stats import qmc

        return qmc.Halton(self.ndim, scramble=True, rng=as_generator(seed)).random(n)


class RandomDesign(Design):
    """Independent draws from the prior (plain Monte Carlo); identical to ``prior.sample``."""

    def unit(self, n: int, seed: SeedLike = None) -> np.ndarray:
        return as_generator(seed).random((n, self.ndim))


class Factorial(Design):
    """Full factorial grid.

    Parameters
    ----------
    prior : JointPrior or dict
    levels : int or sequence of int, optional
        Levels per dimension. Given, the grid has ``prod(levels)`` points and ``generate(n)``
        needs ``n`` equal to that (or ``n=None``). Not given, ``generate(n)`` uses
        ``L = floor(n ** (1/d))`` levels in every dimension -- the largest full grid with equal
        levels that fits in ``n`` -- and warns when ``L ** d != n``.
    endpoints : bool
        False (default): level ``k`` of ``L`` sits at probability ``(k + 0.5) / L``, the middle of
        ``L`` equal-probability slices, so every prior (also unbounded ones) works. True: levels at
        ``linspace(0, 1, L)`` in probability space, i.e. the grid includes the support's ends
        (needs a bounded support).

    The grid is deterministic; ``seed`` is accepted for the common interface and ignored. Row
    order: the last dimension varies fastest.
    """

    def __init__(self, prior: Any, levels: int | Sequence[int] | None = None, endpoints: bool = False):
        super().__init__(prior)
        if levels is not None:
            lv = np.atleast_1d(np.asarray(levels))
            if lv.ndim != 1 or lv.dtype.kind not in "iu" or np.any(lv < 1):
                raise ValueError(f"levels must be a positive integer or one per dimension, got {levels!r}")
            if lv.shape[0] == 1:
                lv = np.repeat(lv, self.ndim)
            if lv.shape[0] != self.ndim:
                raise ValueError(f"levels has {lv.shape[0]} entries for {self.ndim} parameters {self.names}")
            self.levels: tuple[int, ...] | None = tuple(int(v) for v in lv)
        else:
            self.levels = None
        self.endpoints = bool(endpoints)
        if self.endpoints and not np.all(np.isfinite(self.prior.support)):
            raise ValueError("Factorial(endpoints=True) needs a bounded support; use endpoints=False")

    def levels_for(self, n: int | None) -> tuple[int, ...]:
        """The levels per dimension that ``generate(n)`` uses."""
        if self.levels is not None:
            return self.levels
        if n is None:
            raise ValueError("Factorial without levels needs n")
        n = check_positive_int(n, "n")
        L = int(math.floor(n ** (1.0 / self.ndim) + 1e-9))
        return (max(L, 1),) * self.ndim

    def _axis(self, L: int) -> np.ndarray:
        if self.endpoints:
            return np.linspace(0.0, 1.0, L) if L > 1 else np.array([0.5])
        return (np.arange(L) + 0.5) / L

    def unit(self, n: int | None, seed: SeedLike = None) -> np.ndarray:
        levels = self.levels_for(n)
        total = int(np.prod(levels))
        if self.levels is not None and n is not None and n != total:
            raise ValueError(f"Factorial grid with levels {levels} has {total} points, asked for n={n}")
        if self.levels is None and n is not None and total != n:
            warnings.warn(f"Factorial: n={n} is not a full grid in {self.ndim} dimensions; using "
                          f"{levels[0]} levels per dimension = {total} points", UserWarning, stacklevel=3)
        axes = [self._axis(L) for L in levels]
        mesh = np.meshgrid(*axes, indexing="ij")
        return np.stack([m.reshape(-1) for m in mesh], axis=1)

    def generate(self, n: int | None = None, seed: SeedLike = None) -> np.ndarray:
        """The grid, shape (prod(levels), d); see the class docstring for how ``n`` is used."""
        return self.prior.ppf(self.unit(n, seed))


class Maximin(Design):
    """Maximin Latin hypercube: the best of ``n_candidates`` Latin hypercubes by the smallest
    pairwise distance between points (measured in the unit cube).

    The first candidate is exactly ``LatinHypercube(prior).generate(n, seed)``, so for the same
    seed a Maximin design is never worse than the plain Latin hypercube. Nearest-neighbour distances
    come from a k-d tree, so large ``n`` stays cheap.
    """

    def __init__(self, prior: Any, n_candidates: int = 20):
        super().__init__(prior)
        self.n_candidates = check_positive_int(n_candidates, "n_candidates")

    @staticmethod
    def min_distance(u: np.ndarray) -> float:
        """Smallest pairwise Euclidean distance between the rows of ``u`` (n, d); inf for n < 2."""
        if u.shape[0] < 2:
            return float("inf")
        from scipy.spatial import cKDTree

        dist, _ = cKDTree(u).query(u, k=2)
        return float(dist[:, 1].min())

    def unit(self, n: int, seed: SeedLike = None) -> np.ndarray:
        from scipy.stats import qmc

        engine = qmc.LatinHypercube(self.ndim, scramble=True, rng=as_generator(seed))
        best = engine.random(n)
        best_d = self.min_distance(best)
        for _ in range(self.n_candidates - 1):
            cand = engine.random(n)
            d = self.min_distance(cand)
            if d > best_d:
                best, best_d = cand, d
        return best

    def __repr__(self) -> str:
        return f"Maximin(prior={self.prior!r}, n_candidates={self.n_candidates})"


def _to_unit(prior: JointPrior, theta: np.ndarray, grid: int = 4097) -> np.ndarray:
    """Points of the prior's space in the unit cube (the inverse of ``prior.ppf``), by monotone
    interpolation of each dimension's ``ppf`` on a fine probability grid."""
    u = np.linspace(0.0, 1.0, grid)
    u[0], u[-1] = 1e-12, 1.0 - 1e-12
    q = prior.ppf(np.repeat(u[:, None], prior.ndim, axis=1))
    out = np.empty_like(theta, dtype=np.float64)
    for j in range(prior.ndim):
        out[:, j] = np.interp(theta[:, j], q[:, j], u)
    return out


class SequentialMaximin(Design):
    """Greedy sequential maximin: each new point is the candidate farthest (in the smallest
    distance) from every point simulated so far, as in Sciope's ``MaximinSampling``.

    Candidates are ``candidates_per_point`` x (points so far) uniform draws (at least
    ``min_candidates``) in the unit cube of the prior's probability space (so a log-uniform
    parameter is spread in ``log`` space); distances are measured there, with the Minkowski
    ``p`` norm (Sciope used ``p=1``; default 2).

    Parameters
    ----------
    prior : JointPrior or dict
    candidates_per_point : int
    min_candidates : int
    p : float >= 1
    """

    def __init__(self, prior: Any, candidates_per_point: int = 10, min_candidates: int = 100, p: float = 2.0):
        super().__init__(prior)
        self.candidates_per_point = check_positive_int(candidates_per_point, "candidates_per_point")
        self.min_candidates = check_positive_int(min_candidates, "min_candidates")
        if not float(p) >= 1:
            raise ValueError(f"p must be >= 1, got {p!r}")
        self.p = float(p)

    def _grow(self, u0: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        from scipy.spatial import cKDTree

        pts = [row for row in u0]
        new = []
        for _ in range(k):
            m = max(self.min_candidates, self.candidates_per_point * max(len(pts), 1))
            cand = rng.random((m, self.ndim))
            if pts:
                score, _ = cKDTree(np.asarray(pts)).query(cand, k=1, p=self.p)
                best = cand[int(np.argmax(score))]
            else:
                best = cand[0]
            pts.append(best)
            new.append(best)
        return np.asarray(new).reshape(k, self.ndim)

    def unit(self, n: int, seed: SeedLike = None) -> np.ndarray:
        return self._grow(np.zeros((0, self.ndim)), n, as_generator(seed))

    def extend(self, theta: Any, n: int, seed: SeedLike = None) -> np.ndarray:
        """``n`` new points, greedily far from the existing points ``theta`` and each other.

        Parameters
        ----------
        theta : array, shape (m, d)
            Points already simulated (inside the prior's support).
        n : int
        seed : int, SeedSequence or Generator

        Returns
        -------
        array, shape (n, d)
        """
        th = np.asarray(theta, dtype=np.float64)
        if th.ndim != 2 or th.shape[1] != self.ndim or not np.isfinite(th).all():
            raise ValueError(f"theta must be a finite array of shape (m, {self.ndim}) for {self.names}, "
                             f"got {np.shape(theta)}")
        inside = self.prior.contains(th) if hasattr(self.prior, "contains") else np.ones(th.shape[0], bool)
        if not np.all(inside):
            raise ValueError(f"theta rows {np.flatnonzero(~inside)[:5].tolist()} lie outside the prior's support")
        u = self._grow(_to_unit(self.prior, th), check_positive_int(n, "n"), as_generator(seed))
        return self.prior.ppf(u)

    def __repr__(self) -> str:
        return f"SequentialMaximin(prior={self.prior!r}, candidates_per_point={self.candidates_per_point}, p={self.p})"


DESIGNS: dict[str, type[Design]] = {
    "lhs": LatinHypercube,
    "sobol": Sobol,
    "halton": Halton,
    "random": RandomDesign,
    "factorial": Factorial,
    "maximin": Maximin,
    "sequential_maximin": SequentialMaximin,
}


def get_design(name: str, prior: Any, **kwargs: Any) -> Design:
    """A design by registry name (``"lhs"``, ``"sobol"``, ``"halton"``, ``"random"``,
    ``"factorial"``, ``"maximin"``, ``"sequential_maximin"``) over ``prior``; ``kwargs`` go to
    the class."""
    key = str(name).lower()
    if key not in DESIGNS:
        raise ValueError(f"unknown design {name!r}; choose one of {sorted(DESIGNS)}")
    return DESIGNS[key](prior, **kwargs)
