"""Support-vector regression surrogate (scikit-learn SVR with a cross-validated RBF kernel)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .._checks import check_int_at_least
from ..seeding import SeedLike
from .base import Surrogate

__all__ = ["SVMSurrogate"]


class SVMSurrogate(Surrogate):
    """RBF support-vector regression, one SVR per output, ``C`` and ``gamma`` chosen by k-fold
    cross-validation (as Sciope's ``SVRModel``, with the grid on standardised inputs).

    SVR gives no predictive uncertainty: ``predict(..., return_std=True)`` raises.

    Parameters
    ----------
    C_grid : sequence of float
        Regularisation values tried.
    gamma_grid : sequence of float
        RBF widths tried, in units of ``1 / d`` (``1.0`` is scikit-learn's ``"scale"`` for
        standardised inputs).
    epsilon : float
        Width of the insensitive tube, in output standard deviations.
    cv : int
        Folds (capped at the number of rows).
    seed : int or SeedSequence, optional
        Seeds the fold shuffling.
    """

    supports_std = False

    def __init__(self, C_grid: Sequence[float] = (0.1, 1.0, 10.0, 100.0),
                 gamma_grid: Sequence[float] = (0.1, 0.3, 1.0, 3.0), epsilon: float = 0.05, cv: int = 5,
                 seed: SeedLike = None) -> None:
        super().__init__(seed)
        self.C_grid = tuple(float(c) for c in C_grid)
        self.gamma_grid = tuple(float(g) for g in gamma_grid)
        if not self.C_grid or not self.gamma_grid or min(self.C_grid + self.gamma_grid) <= 0:
            raise ValueError("C_grid and gamma_grid must be non-empty lists of positive numbers")
        if not epsilon >= 0:
            raise ValueError(f"epsilon must be >= 0, got {epsilon!r}")
        self.epsilon = float(epsilon)
        self.cv = check_int_at_least(cv, "cv", 2)

    def _fit_column(self, x: np.ndarray, y: np.ndarray, seed: int) -> Any:
        from sklearn.model_selection import GridSearchCV, KFold
        from sklearn.svm import SVR

        d = x.shape[1]
        grid = {"C": list(self.C_grid), "gamma": [g / d for g in self.gamma_grid]}
        folds = KFold(n_splits=min(self.cv, x.shape[0]), shuffle=True, random_state=seed)
        search = GridSearchCV(SVR(kernel="rbf", epsilon=self.epsilon), grid, cv=folds,
                              scoring="neg_mean_squared_error", n_jobs=1, refit=True)
        return search.fit(x, y).best_estimator_

    def _predict_column(self, model: Any, x: np.ndarray, return_std: bool):
        return model.predict(x), None
