"""Surrogate predictions for a :class:`~sciope_abs.exploration.Sweep`: features (and their
uncertainty) at parameter points that were never simulated.

::

    s = fit_surrogate(sweep, "gp", seed=0)                 # on sweep.theta -> sweep.features
    mean, std = predict_features(sweep, theta_new, surrogate=s)
    new = suggest_by_surrogate(s, sweep.bounds, n=10, seed=1)   # where the surrogate is least sure

Rows of the sweep with non-finite features (failed simulations) are left out of the fit.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .active import suggest_by_surrogate

__all__ = ["fit_surrogate", "predict_features", "suggest_by_surrogate"]


def _sweep_xy(sweep: Any) -> tuple[np.ndarray, np.ndarray]:
    for attr in ("theta", "features"):
        if not hasattr(sweep, attr):
            raise ValueError(f"expected a Sweep (with theta and features), got {type(sweep).__name__}")
    theta = np.asarray(sweep.theta, dtype=np.float64)
    feats = np.asarray(sweep.features, dtype=np.float64)
    if theta.ndim != 2 or theta.shape[0] == 0 or feats.ndim != 2 or feats.shape[0] != theta.shape[0]:
        raise ValueError(f"the sweep has no simulated points to learn from (theta {theta.shape}, "
                         f"features {feats.shape}); run it first")
    return theta, feats


def fit_surrogate(sweep: Any, surrogate: Any = "gp", columns: Any = None, **kwargs: Any) -> Any:
    """Fit a surrogate on a sweep's parameter points and features.

    Parameters
    ----------
    sweep : Sweep
    surrogate : str or Surrogate
        A registry name (``"gp"``, ``"svm"``, ``"ann"``; ``kwargs`` go to its class) or an
        unfitted object with ``fit`` and ``predict``.
    columns : sequence of int or str, optional
        Features to model (indices or names in ``sweep.feature_names``); default all.

    Returns
    -------
    Surrogate
        Fitted; ``columns_`` holds the feature indices it predicts.
    """
    from ..surrogates import as_surrogate

    theta, feats = _sweep_xy(sweep)
    cols = _columns(sweep, columns, feats.shape[1])
    model = as_surrogate(surrogate, **kwargs)
    model.fit(theta, feats[:, cols])
    model.columns_ = cols
    return model


def _columns(sweep: Any, columns: Any, F: int) -> np.ndarray:
    if columns is None:
        return np.arange(F)
    names = list(getattr(sweep, "feature_names", []) or [])
    out = []
    for c in columns:
        if isinstance(c, str):
            if c not in names:
                raise ValueError(f"unknown feature {c!r}; the sweep has {names[:8]}{'...' if len(names) > 8 else ''}")
            out.append(names.index(c))
        elif isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= c < F:
            out.append(int(c))
        else:
            raise ValueError(f"feature column {c!r} is not a name or an index in [0, {F})")
    if not out:
        raise ValueError("columns is empty")
    return np.asarray(out, dtype=np.int64)


def predict_features(sweep: Any, theta: Any, surrogate: Any = "gp", return_std: bool = True,
                     columns: Any = None, **kwargs: Any) -> Any:
    """Predict a sweep's features at new parameter points.

    Parameters
    ----------
    sweep : Sweep
    theta : array, shape (m, d)
    surrogate : str or Surrogate
        A fitted surrogate (from :func:`fit_surrogate`) is used as is; a name or an unfitted
        object is fitted on the sweep first.
    return_std : bool
    columns : sequence, optional
        See :func:`fit_surrogate` (ignored for an already fitted surrogate).

    Returns
    -------
    mean : array, shape (m, F')
    std : array, shape (m, F'), with ``return_std=True``
    """
    fitted = not isinstance(surrogate, str) and hasattr(surrogate, "columns_")
    model = surrogate if fitted else fit_surrogate(sweep, surrogate, columns=columns, **kwargs)
    theta = np.asarray(theta, dtype=np.float64)
    names = list(getattr(sweep, "param_names", []) or [])
    d = np.asarray(sweep.theta).shape[1]
    if theta.ndim != 2 or theta.shape[1] != d:
        raise ValueError(f"theta must have shape (m, {d}) for parameters {names}, got {theta.shape}")
    return model.predict(theta, return_std=return_std)
