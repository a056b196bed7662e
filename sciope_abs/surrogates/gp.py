"""Gaussian-process surrogate (scikit-learn), one GP per output with an ARD kernel."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import check_nonneg_int
from ..seeding import SeedLike
from .base import Surrogate, check_x

__all__ = ["GPSurrogate"]


class GPSurrogate(Surrogate):
    """Gaussian process regression with automatic relevance determination (ARD).

    Kernel per output column (inputs and outputs standardised): ``C * RBF(l_1..l_d) + White``,
    i.e. one length scale per parameter, a signal variance and a noise variance, all fitted by
    maximum marginal likelihood (L-BFGS-B with ``n_restarts`` seeded random restarts). The
    predictive standard deviation includes the fitted noise when ``include_noise`` is True, so
    it describes where a *new simulation* will land; without it, where the mean function is.

    Parameters
    ----------
    n_restarts : int
        Extra optimiser restarts from random hyper-parameters (Sciope used 100; 2-5 suffices
        for smooth responses and is much cheaper).
    noise : bool
        Fit a white-noise term (stochastic simulators); False: a tiny fixed jitter only.
    include_noise : bool
        Add the fitted noise variance to the predictive variance.
    length_scale_bounds : (float, float)
        Bounds of each length scale in standardised input units.
    seed : int or SeedSequence, optional

    Attributes
    ----------
    models_ : list of sklearn.gaussian_process.GaussianProcessRegressor, one per output
    """

    def __init__(self, n_restarts: int = 2, noise: bool = True, include_noise: bool = True,
                 length_scale_bounds: tuple = (1e-2, 1e3), seed: SeedLike = None) -> None:
        super().__init__(seed)
        self.n_restarts = check_nonneg_int(n_restarts, "n_restarts")
        self.noise = bool(noise)
        self.include_noise = bool(include_noise)
        self.length_scale_bounds = tuple(length_scale_bounds)

    def _kernel(self, d: int):
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

        rbf = RBF(length_scale=np.ones(d), length_scale_bounds=self.length_scale_bounds)
        k = ConstantKernel(1.0, (1e-3, 1e3)) * rbf
        if self.noise:
            k = k + WhiteKernel(1e-2, (1e-8, 1e1))
        return k

    def _fit_column(self, x: np.ndarray, y: np.ndarray, seed: int) -> Any:
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor

        gp = GaussianProcessRegressor(kernel=self._kernel(x.shape[1]), alpha=1e-8, normalize_y=False,
                                      n_restarts_optimizer=self.n_restarts, random_state=seed)
        with warnings.catch_warnings():
            # a length scale at its bound is a legitimate answer (an irrelevant parameter)
            warnings.simplefilter("ignore", ConvergenceWarning)
            return gp.fit(x, y)

    @staticmethod
    def _noise_var(gp: Any) -> float:
        from sklearn.gaussian_process.kernels import WhiteKernel

        k = gp.kernel_
        if hasattr(k, "k2") and isinstance(k.k2, WhiteKernel):
            return float(k.k2.noise_level)
        return 0.0

    def _predict_column(self, model: Any, x: np.ndarray, return_std: bool):
        if not return_std:
            return model.predict(x), None
        mu, sd = model.predict(x, return_std=True)
        var = sd ** 2
        if not self.include_noise:
            var = np.maximum(var - self._noise_var(model), 0.0)
        return mu, np.sqrt(np.maximum(var, 0.0))

    def noise_std(self) -> np.ndarray:
        """Fitted noise standard deviation per output in original units, shape (F,)."""
        self._check_fitted()
        return np.sqrt([self._noise_var(m) for m in self.models_]) * self.y_scale_

    def length_scales(self) -> np.ndarray:
        """Fitted ARD length scales in original parameter units, shape (F, d)."""
        self._check_fitted()
        ls = [np.atleast_1d(m.kernel_.k1.k2.length_scale if self.noise else m.kernel_.k2.length_scale)
              for m in self.models_]
        return np.stack([np.broadcast_to(v, (self.n_features_in_,)) for v in ls]) * self.x_scale_

    def fantasize(self, theta: Any) -> "GPSurrogate":
        """A copy conditioned on extra points at their predicted mean, hyper-parameters kept.

        The mean is unchanged; the predictive std shrinks near ``theta``. Used to pick batches
        ("kriging believer"): each pick lowers the uncertainty around itself before the next.

        Parameters
        ----------
        theta : array, shape (k, d)
        """
        import copy

        from sklearn.gaussian_process import GaussianProcessRegressor

        self._check_fitted()
        xs = (check_x(theta, self.n_features_in_) - self.x_mean_) / self.x_scale_
        new = copy.copy(self)
        models = []
        for m in self.models_:
            ym = m.predict(xs)
            g = GaussianProcessRegressor(kernel=m.kernel_, alpha=m.alpha, optimizer=None, normalize_y=False)
            models.append(g.fit(np.vstack([m.X_train_, xs]), np.concatenate([m.y_train_, ym])))
        new.models_ = models
        return new
