"""The surrogate interface: a regressor from parameters ``theta (n, d)`` to outputs ``y (n, F)``.

Every surrogate standardises its inputs (per parameter) and outputs (per column) internally, fits
one model per output column, and answers in the original units::

    s = GPSurrogate(seed=0).fit(theta, features)        # theta (n, d), features (n, F)
    mean, std = s.predict(theta_new, return_std=True)   # (m, F), (m, F)
    s.score(theta_test, y_test)                         # mean R^2 over the columns

Rows whose outputs are not finite (failed simulations) are left out of the fit and counted in
``n_dropped_``; non-finite parameters are an error.
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from ..seeding import SeedLike, as_seed_sequence, int_seed

__all__ = ["Surrogate", "check_xy", "check_x"]

log = logging.getLogger(__name__)


def check_x(theta: Any, d: int | None = None, what: str = "theta") -> np.ndarray:
    """``theta`` as a finite float array (n, d); a 1-D array is one column."""
    try:
        x = np.asarray(theta, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a numeric array of shape (n, d)") from None
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{what} must have shape (n, d) with n >= 1, got {np.shape(theta)}")
    if d is not None and x.shape[1] != d:
        raise ValueError(f"{what} has {x.shape[1]} parameters but the surrogate was fitted on {d}")
    if not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1))[:5].tolist()
        raise ValueError(f"{what} contains NaN or inf (rows {bad})")
    return x


def check_xy(theta: Any, y: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """Validated ``(theta (n, d), y (n, F), y_was_1d)``."""
    x = check_x(theta)
    try:
        yy = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("y must be a numeric array of shape (n,) or (n, F)") from None
    one_d = yy.ndim == 1
    if one_d:
        yy = yy[:, None]
    if yy.ndim != 2 or yy.shape[0] != x.shape[0]:
        raise ValueError(f"y must have shape ({x.shape[0]},) or ({x.shape[0]}, F) to match theta {x.shape}, "
                         f"got {np.shape(y)}")
    return x, yy, one_d


def _small_blas(n: int):
    """One BLAS thread for small problems: thread start-up and contention cost far more than they
    save on matrices of a few hundred rows (an MLP fit went from 1.4 s to 50 s on a busy 2-core box)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1 if n < 5000 else None)


class Surrogate(ABC):
    """Base class of the regression surrogates (scikit-learn API shape).

    Subclasses implement :meth:`_fit_column` (one standardised output column) and
    :meth:`_predict_column`.

    Parameters
    ----------
    seed : int or SeedSequence, optional
        Seeds every random part of the fit (restarts, initial weights, CV splits).

    Attributes
    ----------
    n_features_in_ : int
        Number of parameters d.
    n_outputs_ : int
        Number of output columns F.
    n_dropped_ : int
        Training rows left out because their outputs were not finite.
    """

    #: whether ``predict(..., return_std=True)`` is available
    supports_std: bool = True
    #: True: one model for all output columns (``_fit_column`` gets y (n, F)); False: one per column
    multi_output: bool = False

    def __init__(self, seed: SeedLike = None) -> None:
        self.seed = seed

    # ------------------------------------------------------------------ to implement
    @abstractmethod
    def _fit_column(self, x: np.ndarray, y: np.ndarray, seed: int) -> Any:
        """Fit on standardised inputs (n, d) and one standardised output (n,) -- all outputs
        (n, F) when ``multi_output`` -- and return the fitted model."""

    @abstractmethod
    def _predict_column(self, model: Any, x: np.ndarray, return_std: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Mean and, if asked, std (shape (m,), or (m, F) when ``multi_output``) in standardised
        output units."""

    # ------------------------------------------------------------------ public API
    def fit(self, theta: Any, y: Any) -> "Surrogate":
        """Fit on parameter points and their outputs.

        Parameters
        ----------
        theta : array, shape (n, d)
        y : array, shape (n, F) or (n,)
            Rows with a non-finite entry are dropped (counted in ``n_dropped_``).

        Returns
        -------
        self
        """
        x, yy, one_d = check_xy(theta, y)
        ok = np.isfinite(yy).all(axis=1)
        if ok.sum() < 3:
            raise ValueError(f"need at least 3 rows with finite outputs to fit a surrogate, got {int(ok.sum())}")
        self.n_dropped_ = int((~ok).sum())
        if self.n_dropped_:
            log.info("%s: %d of %d rows with non-finite outputs left out", type(self).__name__, self.n_dropped_,
                     yy.shape[0])
        x, yy = x[ok], yy[ok]
        self.n_features_in_, self.n_outputs_, self._one_d = x.shape[1], yy.shape[1], one_d
        self.x_mean_, self.x_scale_ = x.mean(axis=0), x.std(axis=0)
        self.x_scale_[self.x_scale_ == 0] = 1.0
        self.y_mean_, self.y_scale_ = yy.mean(axis=0), yy.std(axis=0)
        self.y_scale_[self.y_scale_ == 0] = 1.0
        xs = (x - self.x_mean_) / self.x_scale_
        ys = (yy - self.y_mean_) / self.y_scale_
        seeds = as_seed_sequence(self.seed).spawn(yy.shape[1])
        with _small_blas(x.shape[0]):
            if self.multi_output:
                self.models_ = [self._fit_column(xs, ys, int_seed(seeds[0]))]
            else:
                self.models_ = [self._fit_column(xs, ys[:, j], int_seed(seeds[j])) for j in range(yy.shape[1])]
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "models_"):
            raise ValueError(f"{type(self).__name__} is not fitted: call fit(theta, y) first")

    def predict(self, theta: Any, return_std: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Predicted outputs at ``theta``.

        Parameters
        ----------
        theta : array, shape (m, d)
        return_std : bool
            Also return the predictive standard deviation (not for surrogates with
            ``supports_std = False``).

        Returns
        -------
        mean : array, shape (m, F) (shape (m,) when fitted on a 1-D ``y``)
        std : array, same shape, only with ``return_std=True``
        """
        self._check_fitted()
        if return_std and not self.supports_std:
            raise ValueError(f"{type(self).__name__} gives no predictive uncertainty; use GPSurrogate or "
                             "ANNSurrogate for return_std=True")
        x = (check_x(theta, self.n_features_in_) - self.x_mean_) / self.x_scale_
        means, stds = [], []
        with _small_blas(x.shape[0]):
            for m in self.models_:
                mu, sd = self._predict_column(m, x, return_std)
                means.append(np.asarray(mu).reshape(x.shape[0], -1))
                if return_std:
                    if sd is None:
                        raise ValueError(f"{type(self).__name__} returned no standard deviation for return_std=True")
                    stds.append(np.asarray(sd).reshape(x.shape[0], -1))
        mean = np.concatenate(means, axis=1) * self.y_scale_ + self.y_mean_
        if self._one_d:
            mean = mean[:, 0]
        if not return_std:
            return mean
        std = np.concatenate(stds, axis=1) * self.y_scale_
        return mean, (std[:, 0] if self._one_d else std)

    def score(self, theta: Any, y: Any) -> float:
        """Coefficient of determination R^2 averaged over the output columns (rows with
        non-finite ``y`` left out); 1 is perfect, 0 is the constant predictor of the test mean."""
        x, yy, _ = check_xy(theta, y)
        ok = np.isfinite(yy).all(axis=1)
        if ok.sum() < 2:
            raise ValueError("score needs at least 2 rows with finite outputs")
        pred = np.asarray(self.predict(x[ok])).reshape(int(ok.sum()), -1)
        yy = yy[ok]
        ss_res = np.sum((yy - pred) ** 2, axis=0)
        ss_tot = np.sum((yy - yy.mean(axis=0)) ** 2, axis=0)
        r2 = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), np.where(ss_res == 0, 1.0, 0.0))
        return float(np.mean(r2))

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def get_params(self) -> dict:
        """The constructor parameters (scikit-learn style)."""
        import inspect

        return {k: getattr(self, k) for k in inspect.signature(type(self).__init__).parameters if k != "self"}
