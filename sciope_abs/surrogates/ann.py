"""Neural-network surrogate: an ensemble of scikit-learn multi-layer perceptrons.

No TensorFlow: a small MLP trained with L-BFGS fits the few hundred to few thousand points of a
sweep in seconds. The spread of ``n_members`` independently initialised networks is the
predictive uncertainty (a deep ensemble; it reflects how far a point is from the training data,
not the simulator's noise).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .._checks import check_positive_int
from ..seeding import SeedLike
from .base import Surrogate

__all__ = ["ANNSurrogate"]


class ANNSurrogate(Surrogate):
    """Ensemble of ``MLPRegressor`` networks, all outputs at once.

    Parameters
    ----------
    hidden_layer_sizes : sequence of int
        Widths of the hidden layers.
    activation : {"tanh", "relu", "logistic"}
    alpha : float
        L2 weight penalty.
    max_iter : int
        L-BFGS iterations at most.
    n_members : int
        Networks in the ensemble; ``return_std`` needs at least 2.
    seed : int or SeedSequence, optional
        Seeds the initial weights of every member.
    """

    multi_output = True

    def __init__(self, hidden_layer_sizes: Sequence[int] = (32, 32), activation: str = "tanh",
                 alpha: float = 0.1, max_iter: int = 1000, n_members: int = 5, seed: SeedLike = None) -> None:
        super().__init__(seed)
        self.hidden_layer_sizes = tuple(int(h) for h in hidden_layer_sizes)
        if not self.hidden_layer_sizes or min(self.hidden_layer_sizes) < 1:
            raise ValueError(f"hidden_layer_sizes must be positive widths, got {hidden_layer_sizes!r}")
        if activation not in ("tanh", "relu", "logistic"):
            raise ValueError(f"activation must be 'tanh', 'relu' or 'logistic', got {activation!r}")
        self.activation = activation
        self.alpha = float(alpha)
        self.max_iter = int(max_iter)
        self.n_members = check_positive_int(n_members, "n_members")

    @property
    def supports_std(self) -> bool:  # type: ignore[override]
        return self.n_members >= 2

    def _fit_column(self, x: np.ndarray, y: np.ndarray, seed: int) -> Any:
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPRegressor

        rng = np.random.default_rng(seed)
        members = []
        for _ in range(self.n_members):
            net = MLPRegressor(hidden_layer_sizes=self.hidden_layer_sizes, activation=self.activation,
                               solver="lbfgs", alpha=self.alpha, max_iter=self.max_iter,
                               random_state=int(rng.integers(0, 2**31 - 1)))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                members.append(net.fit(x, y if y.shape[1] > 1 else y[:, 0]))
        return members

    def _predict_column(self, model: Any, x: np.ndarray, return_std: bool):
        preds = np.stack([np.asarray(m.predict(x)).reshape(x.shape[0], -1) for m in model])  # (M, m, F)
        mean = preds.mean(axis=0)
        if not return_std:
            return mean, None
        return mean, preds.std(axis=0, ddof=1)
