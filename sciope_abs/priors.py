"""Prior distributions over kinetic parameters (pure numpy/scipy).

One-dimensional distributions (:class:`Uniform`, :class:`LogUniform`, :class:`Normal`, and any
``scipy.stats`` frozen distribution wrapped by :class:`ScipyDistribution`) are combined into a
:class:`JointPrior` of independent named dimensions, which implements the ``Prior`` protocol of
DESIGN.md §3::

    prior = JointPrior({"alpha1": Uniform(0.1, 2.0), "mu": LogUniform(0.01, 1.0)})
    theta = prior.sample(100, seed=1)        # (100, 2)
    lp = prior.log_prob(theta)               # (100,)
    theta = prior.ppf(u)                     # unit cube (n, 2) -> support (designs use this)

Sampling goes through the quantile function (``ppf`` of uniform draws), so a design that maps the
unit cube with :meth:`JointPrior.ppf` and :meth:`JointPrior.sample` share one convention.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, Mapping, Sequence

import numpy as np

from ._checks import check_nonneg_int
from .seeding import SeedLike, as_generator

__all__ = [
    "Distribution", "Uniform", "LogUniform", "Normal", "ScipyDistribution",
    "JointPrior", "as_distribution", "as_prior",
]

# Quantiles used to replace an infinite end of a support by a finite bound (see ``bounds``).
_TAIL = 1e-12


def _as_1d(x: Any, what: str = "x") -> np.ndarray:
    """A float array of shape (n,) from a scalar, (n,) or (n, 1) input."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0:
        return arr[None]
    if arr.ndim == 2 and arr.shape[1] == 1:
        return arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{what} must have shape (n,) or (n, 1) for a 1-D distribution, got {arr.shape}")
    return arr


def _check_unit(u: np.ndarray) -> np.ndarray:
    if np.any(np.isnan(u)) or np.any((u < 0) | (u > 1)):
        raise ValueError("ppf input must lie in the unit interval [0, 1] (no NaN)")
    return u


class Distribution(ABC):
    """A one-dimensional distribution.

    Subclasses implement :meth:`log_prob`, :meth:`ppf` and :attr:`support`; sampling uses the
    quantile function on uniform draws.
    """

    ndim = 1

    @property
    @abstractmethod
    def support(self) -> tuple[float, float]:
        """The (possibly infinite) support ``(low, high)``."""

    @abstractmethod
    def log_prob(self, x: Any) -> np.ndarray:
        """Log density at ``x`` of shape (n,) (or (n, 1)) -> (n,); ``-inf`` outside the support."""

    @abstractmethod
    def ppf(self, u: Any) -> np.ndarray:
        """Quantile function: ``u`` in [0, 1] of shape (n,) -> values of shape (n,)."""

    @abstractmethod
    def mean(self) -> float:
        """The distribution's mean."""

    @abstractmethod
    def std(self) -> float:
        """The distribution's standard deviation."""

    def sample(self, n: int, seed: SeedLike = None) -> np.ndarray:
        """Draw ``n`` values.

        Returns
        -------
        array, shape (n,)
        """
        n = check_nonneg_int(n, "n")
        rng = as_generator(seed)
        return self.ppf(rng.random(n))

    @property
    def bounds(self) -> tuple[float, float]:
        """Finite bounds ``(low, high)``: the support, with an infinite end replaced by the
        ``1e-12`` (resp. ``1 - 1e-12``) quantile (about 7 standard deviations for a normal)."""
        lo, hi = self.support
        if not np.isfinite(lo):
            lo = float(self.ppf(np.array([_TAIL]))[0])
        if not np.isfinite(hi):
            hi = float(self.ppf(np.array([1.0 - _TAIL]))[0])
        return float(lo), float(hi)

    def prob(self, x: Any) -> np.ndarray:
        """Density at ``x`` (shape (n,))."""
        return np.exp(self.log_prob(x))


def _check_low_high(low: Any, high: Any, cls: str) -> tuple[float, float]:
    try:
        lo, hi = float(low), float(high)
    except (TypeError, ValueError):
        raise ValueError(f"{cls}: low and high must be numbers, got {low!r}, {high!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"{cls}: low and high must be finite, got low={lo}, high={hi}")
    if not lo < hi:
        raise ValueError(f"{cls}: low must be < high, got low={lo}, high={hi}")
    return lo, hi


class Uniform(Distribution):
    """Uniform on ``[low, high]``."""

    def __init__(self, low: float, high: float):
        self.low, self.high = _check_low_high(low, high, "Uniform")

    @property
    def support(self) -> tuple[float, float]:
        return self.low, self.high

    def log_prob(self, x: Any) -> np.ndarray:
        x = _as_1d(x)
        inside = (x >= self.low) & (x <= self.high)
        return np.where(inside, -math.log(self.high - self.low), -np.inf)

    def ppf(self, u: Any) -> np.ndarray:
        u = _check_unit(_as_1d(u, "u"))
        return self.low + u * (self.high - self.low)

    def mean(self) -> float:
        return 0.5 * (self.low + self.high)

    def std(self) -> float:
        return (self.high - self.low) / math.sqrt(12.0)

    def __repr__(self) -> str:
        return f"Uniform(low={self.low:g}, high={self.high:g})"


class LogUniform(Distribution):
    """Log-uniform (reciprocal) on ``[low, high]`` with ``0 < low < high``: ``log x`` is uniform."""

    def __init__(self, low: float, high: float):
        self.low, self.high = _check_low_high(low, high, "LogUniform")
        if self.low <= 0:
            raise ValueError(f"LogUniform: low must be > 0, got low={self.low}")
        self._log_ratio = math.log(self.high / self.low)

    @property
    def support(self) -> tuple[float, float]:
        return self.low, self.high

    def log_prob(self, x: Any) -> np.ndarray:
        x = _as_1d(x)
        inside = (x >= self.low) & (x <= self.high)
        with np.errstate(divide="ignore", invalid="ignore"):
            lp = -np.log(np.where(inside, x, 1.0)) - math.log(self._log_ratio)
        return np.where(inside, lp, -np.inf)

    def ppf(self, u: Any) -> np.ndarray:
        u = _check_unit(_as_1d(u, "u"))
        out = self.low * np.exp(u * self._log_ratio)
        return np.clip(out, self.low, self.high)

    def mean(self) -> float:
        return (self.high - self.low) / self._log_ratio

    def std(self) -> float:
        m2 = (self.high ** 2 - self.low ** 2) / (2.0 * self._log_ratio)
        return math.sqrt(max(m2 - self.mean() ** 2, 0.0))

    def __repr__(self) -> str:
        return f"LogUniform(low={self.low:g}, high={self.high:g})"


class Normal(Distribution):
    """Normal ``N(mean, std**2)``, truncated to ``[low, high]`` when either bound is given.

    The truncated density is renormalised: ``log_prob`` subtracts
    ``log(Phi(b) - Phi(a))`` with ``a, b`` the standardised bounds.
    """

    def __init__(self, mean: float, std: float, low: float | None = None, high: float | None = None):
        try:
            self.mu, self.sigma = float(mean), float(std)
        except (TypeError, ValueError):
            raise ValueError(f"Normal: mean and std must be numbers, got {mean!r}, {std!r}") from None
        if not np.isfinite(self.mu):
            raise ValueError(f"Normal: mean must be finite, got {self.mu}")
        if not (np.isfinite(self.sigma) and self.sigma > 0):
            raise ValueError(f"Normal: std must be > 0, got std={self.sigma}")
        self.low = -np.inf if low is None else float(low)
        self.high = np.inf if high is None else float(high)
        if np.isnan(self.low) or np.isnan(self.high) or not self.low < self.high:
            raise ValueError(f"Normal: low must be < high, got low={self.low}, high={self.high}")
        from scipy.special import log_ndtr, ndtr

        self._a = (self.low - self.mu) / self.sigma
        self._b = (self.high - self.mu) / self.sigma
        # log(Phi(b) - Phi(a)), computed on the side of the mean where it is accurate
        if self._a > 0:
            mass = ndtr(-self._a) - ndtr(-self._b)
        else:
            mass = ndtr(self._b) - ndtr(self._a)
        if not mass > 0:
            # far in a tail: use log-space difference
            la, lb = (log_ndtr(-self._b), log_ndtr(-self._a)) if self._a > 0 else (log_ndtr(self._a), log_ndtr(self._b))
            self._log_mass = float(lb + np.log1p(-np.exp(la - lb)))
        else:
            self._log_mass = float(np.log(mass))
        if not np.isfinite(self._log_mass):
            raise ValueError(f"Normal: the interval [{self.low}, {self.high}] has no mass under N({self.mu}, {self.sigma}^2)")
        self.truncated = bool(np.isfinite(self.low) or np.isfinite(self.high))

    @property
    def support(self) -> tuple[float, float]:
        return float(self.low), float(self.high)

    def log_prob(self, x: Any) -> np.ndarray:
        x = _as_1d(x)
        inside = (x >= self.low) & (x <= self.high)
        z = (x - self.mu) / self.sigma
        lp = -0.5 * z * z - math.log(self.sigma) - 0.5 * math.log(2.0 * math.pi) - self._log_mass
        return np.where(inside, lp, -np.inf)

    def ppf(self, u: Any) -> np.ndarray:
        u = _check_unit(_as_1d(u, "u"))
        if not self.truncated:
            from scipy.special import ndtri

            return self.mu + self.sigma * ndtri(u)
        from scipy.stats import truncnorm

        out = truncnorm.ppf(u, self._a, self._b, loc=self.mu, scale=self.sigma)
        return np.clip(out, self.low, self.high)

    def mean(self) -> float:
        if not self.truncated:
            return self.mu
        from scipy.stats import truncnorm

        return float(truncnorm.mean(self._a, self._b, loc=self.mu, scale=self.sigma))

    def std(self) -> float:
        if not self.truncated:
            return self.sigma
        from scipy.stats import truncnorm

        return float(truncnorm.std(self._a, self._b, loc=self.mu, scale=self.sigma))

    def __repr__(self) -> str:
        extra = ""
        if np.isfinite(self.low):
            extra += f", low={self.low:g}"
        if np.isfinite(self.high):
            extra += f", high={self.high:g}"
        return f"Normal(mean={self.mu:g}, std={self.sigma:g}{extra})"


class ScipyDistribution(Distribution):
    """Wrap a one-dimensional ``scipy.stats`` frozen distribution (continuous or discrete)."""

    def __init__(self, frozen: Any):
        if not (hasattr(frozen, "ppf") and (hasattr(frozen, "logpdf") or hasattr(frozen, "logpmf"))):
            raise ValueError(f"expected a scipy.stats frozen distribution, got {type(frozen).__name__}")
        self.frozen = frozen
        self._discrete = hasattr(frozen, "logpmf")

    @property
    def support(self) -> tuple[float, float]:
        lo, hi = self.frozen.support()
        return float(lo), float(hi)

    def log_prob(self, x: Any) -> np.ndarray:
        x = _as_1d(x)
        fn = self.frozen.logpmf if self._discrete else self.frozen.logpdf
        lp = np.asarray(fn(x), dtype=np.float64)
        return np.where(np.isnan(lp), -np.inf, lp)

    def ppf(self, u: Any) -> np.ndarray:
        u = _check_unit(_as_1d(u, "u"))
        return np.asarray(self.frozen.ppf(u), dtype=np.float64)

    def mean(self) -> float:
        return float(self.frozen.mean())

    def std(self) -> float:
        return float(self.frozen.std())

    def __repr__(self) -> str:
        args = ", ".join(f"{a:g}" for a in getattr(self.frozen, "args", ()))
        kw = ", ".join(f"{k}={v:g}" for k, v in getattr(self.frozen, "kwds", {}).items())
        name = getattr(getattr(self.frozen, "dist", None), "name", "scipy")
        return f"ScipyDistribution({name}({', '.join(p for p in (args, kw) if p)}))"


def as_distribution(obj: Any, name: str = "parameter") -> Distribution:
    """A :class:`Distribution` from a Distribution or a scipy.stats frozen distribution."""
    if isinstance(obj, Distribution):
        return obj
    if hasattr(obj, "ppf") and (hasattr(obj, "logpdf") or hasattr(obj, "logpmf")):
        return ScipyDistribution(obj)
    raise ValueError(f"prior for {name!r} must be a sciope_abs.priors distribution or a scipy.stats "
                     f"frozen distribution, got {type(obj).__name__}")


class JointPrior:
    """A prior of independent named dimensions.

    Parameters
    ----------
    dists : mapping name -> distribution
        Each value a :class:`Distribution` (``Uniform``, ``LogUniform``, ``Normal``) or a
        one-dimensional ``scipy.stats`` frozen distribution. The mapping's order is the column
        order of every ``(n, d)`` array.

    Attributes
    ----------
    names : list of str, length d
    ndim : int, d
    bounds : array, shape (d, 2)
        Finite bounds per dimension (see :attr:`Distribution.bounds`).
    """

    def __init__(self, dists: Mapping[str, Any]):
        if isinstance(dists, JointPrior):
            dists = dict(zip(dists.names, dists.dists))
        if not isinstance(dists, Mapping):
            raise ValueError(f"JointPrior expects a dict name -> distribution, got {type(dists).__name__}")
        if len(dists) == 0:
            raise ValueError("JointPrior needs at least one parameter")
        names = list(dists.keys())
        for nm in names:
            if not isinstance(nm, str) or not nm:
                raise ValueError(f"parameter names must be non-empty strings, got {nm!r}")
        self._names = names
        self.dists: list[Distribution] = [as_distribution(d, nm) for nm, d in dists.items()]

    # --- construction helpers -------------------------------------------------------------
    @classmethod
    def from_bounds(cls, names: Sequence[str], lows: Sequence[float] | np.ndarray, highs: Sequence[float] | np.ndarray,
                    log: bool = False) -> "JointPrior":
        """Independent ``Uniform(low, high)`` (``LogUniform`` if ``log``) per named parameter."""
        names = list(names)
        lo_arr, hi_arr = np.atleast_1d(np.asarray(lows, dtype=float)), np.atleast_1d(np.asarray(highs, dtype=float))
        if not (len(names) == lo_arr.shape[0] == hi_arr.shape[0]):
            raise ValueError(f"from_bounds: got {len(names)} names, {lo_arr.shape[0]} lows and {hi_arr.shape[0]} highs")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"parameter names must be unique, repeated: {dup}")
        cls_ = LogUniform if log else Uniform
        dists = {}
        for nm, lo, hi in zip(names, lo_arr, hi_arr):
            try:
                dists[nm] = cls_(lo, hi)
            except ValueError as exc:
                raise ValueError(f"parameter {nm!r}: {exc}") from None
        return cls(dists)

    @classmethod
    def from_model(cls, model: Any, names: Sequence[str] | None = None, log: bool = False) -> "JointPrior":
        """``Uniform`` (``LogUniform`` if ``log``) over a model's ``rate_ranges``.

        Parameters
        ----------
        model : CRN or str
            A CRN (anything with a ``rate_ranges`` dict name -> (low, high)) or a library model
            name for :func:`sciope_abs.crn.load_model`.
        names : sequence of str, optional
            Which rates, in this order (default: all of ``rate_ranges``).
        """
        from .crn.resolve import as_crn

        model = as_crn(model, passthrough=True)
        ranges = getattr(model, "rate_ranges", None)
        if not ranges:
            raise ValueError(f"model {getattr(model, 'name', model)!r} declares no rate_ranges to build a prior from")
        names = list(ranges) if names is None else list(names)
        missing = [n for n in names if n not in ranges]
        if missing:
            raise ValueError(f"parameters {missing} have no range in the model (variable rates are {list(ranges)})")
        return cls.from_bounds(names, [ranges[n][0] for n in names], [ranges[n][1] for n in names], log=log)

    @classmethod
    def uniform_around(cls, values: Mapping[str, float], low_factor: float = 0.1,
                       high_factor: float = 2.0) -> "JointPrior":
        """``Uniform(low_factor * v, high_factor * v)`` per parameter (the toggle-switch example
        uses ``Uniform(0.1 theta, 2 theta)``). Values must be positive."""
        names = list(values.keys())
        vals = np.asarray([float(values[n]) for n in names])
        bad = [n for n, v in zip(names, vals) if not (np.isfinite(v) and v > 0)]
        if bad:
            raise ValueError(f"uniform_around needs positive finite values, got non-positive for {bad}")
        return cls.from_bounds(names, low_factor * vals, high_factor * vals)

    # --- protocol -------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return list(self._names)

    @property
    def ndim(self) -> int:
        return len(self._names)

    def __len__(self) -> int:
        return self.ndim

    @property
    def bounds(self) -> np.ndarray:
        """Finite bounds, shape (d, 2)."""
        return np.array([d.bounds for d in self.dists], dtype=np.float64)

    @property
    def support(self) -> np.ndarray:
        """Support per dimension (may contain infinities), shape (d, 2)."""
        return np.array([d.support for d in self.dists], dtype=np.float64)

    def _check_theta(self, theta: Any, what: str = "theta") -> np.ndarray:
        try:
            arr = np.asarray(theta, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{what} must be numeric with shape (n, {self.ndim})") from None
        if arr.ndim == 1 and arr.shape[0] == self.ndim:
            arr = arr[None, :]
        elif arr.ndim == 1 and self.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != self.ndim:
            raise ValueError(f"{what} must have shape (n, {self.ndim}) for parameters {self.names}, got {arr.shape}")
        return arr

    def sample(self, n: int, seed: SeedLike = None) -> np.ndarray:
        """Draw ``n`` independent points.

        Returns
        -------
        array, shape (n, d)
        """
        n = check_nonneg_int(n, "n")
        rng = as_generator(seed)
        return self.ppf(rng.random((n, self.ndim)))

    def ppf(self, u: Any) -> np.ndarray:
        """Map unit-cube points into the prior dimension by dimension.

        Parameters
        ----------
        u : array, shape (n, d), values in [0, 1]

        Returns
        -------
        array, shape (n, d)
        """
        u = self._check_theta(u, "u")
        out = np.empty_like(u)
        for j, d in enumerate(self.dists):
            out[:, j] = d.ppf(u[:, j])
        return out

    def log_prob(self, theta: Any) -> np.ndarray:
        """Sum of the independent log densities.

        Parameters
        ----------
        theta : array, shape (n, d) (a single point of shape (d,) is accepted)

        Returns
        -------
        array, shape (n,)
            ``-inf`` outside the support or where theta is NaN.
        """
        theta = self._check_theta(theta)
        lp = np.zeros(theta.shape[0])
        for j, d in enumerate(self.dists):
            lp = lp + d.log_prob(theta[:, j])
        return np.where(np.isnan(lp), -np.inf, lp)

    def prob(self, theta: Any) -> np.ndarray:
        """Joint density, shape (n,)."""
        return np.exp(self.log_prob(theta))

    def contains(self, theta: Any) -> np.ndarray:
        """Boolean mask (n,): the points inside the support."""
        theta = self._check_theta(theta)
        sup = self.support
        return np.all((theta >= sup[:, 0]) & (theta <= sup[:, 1]), axis=1)

    def mean(self) -> np.ndarray:
        """Prior mean per dimension, shape (d,)."""
        return np.array([d.mean() for d in self.dists], dtype=np.float64)

    def std(self) -> np.ndarray:
        """Prior standard deviation per dimension, shape (d,)."""
        return np.array([d.std() for d in self.dists], dtype=np.float64)

    def select(self, names: Sequence[str]) -> "JointPrior":
        """The prior restricted to / reordered as ``names`` (e.g. a simulator's ``param_names``)."""
        names = list(names)
        missing = [n for n in names if n not in self._names]
        if missing:
            raise ValueError(f"parameters {missing} are not in the prior (it has {self.names})")
        lookup = dict(zip(self._names, self.dists))
        return JointPrior({n: lookup[n] for n in names})

    def __getitem__(self, name: str) -> Distribution:
        if name not in self._names:
            raise KeyError(name)
        return self.dists[self._names.index(name)]

    def __repr__(self) -> str:
        inner = ", ".join(f"{n!r}: {d!r}" for n, d in zip(self._names, self.dists))
        return f"JointPrior({{{inner}}})"


def as_prior(obj: Any, names: Sequence[str] | None = None) -> JointPrior:
    """Normalise ``obj`` to a :class:`JointPrior`.

    Accepts a JointPrior, a dict name -> distribution, or a single distribution (then ``names``
    must hold exactly one name). With ``names`` the result is reordered to them and a prior whose
    names do not match raises a one-line ValueError.
    """
    if isinstance(obj, JointPrior):
        prior = obj
    elif isinstance(obj, Mapping):
        prior = JointPrior(obj)
    else:
        if names is None or len(list(names)) != 1:
            raise ValueError("a single distribution needs exactly one parameter name (names=[...])")
        prior = JointPrior({list(names)[0]: as_distribution(obj)})
    if names is not None:
        names = list(names)
        if sorted(names) != sorted(prior.names):
            raise ValueError(f"prior parameters {prior.names} do not match {names}")
        prior = prior.select(names)
    return prior
