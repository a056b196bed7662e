"""Semi-supervised labelling: label spreading over scaled features with an automatic kernel width.

A few points carry a user's labels (``>= 0``); the rest are ``-1``. :func:`spread_labels` runs
scikit-learn's ``LabelSpreading`` on :func:`~sciope_abs.exploration.reduction.scale_features`
of the features and returns, for every point, the predicted label, its confidence (the largest
class probability) and the class probabilities.

Kernel width: for ``kernel="rbf"`` the candidates are ``gamma = c / median(pairwise distance)^2``
(the median heuristic) for ``c`` in :data:`GAMMA_FACTORS`; for ``kernel="knn"`` the candidates are
:data:`KNN_NEIGHBORS`. The candidate with the best k-fold accuracy on the labelled points (each
fold's labels hidden, predicted by spreading from the others) wins; ties go to the candidate
nearest the middle of the grid.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from .._checks import check_positive_float
from ..seeding import SeedLike, as_generator
from .reduction import scale_features

__all__ = ["SpreadResult", "spread_labels", "GAMMA_FACTORS", "KNN_NEIGHBORS", "entropy", "margin"]

GAMMA_FACTORS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
KNN_NEIGHBORS = (3, 5, 7, 10, 15, 20)
KERNELS = ("rbf", "knn")


@dataclass
class SpreadResult:
    """Outcome of :func:`spread_labels`.

    Attributes
    ----------
    predictions : array of int, shape (n,)
        Predicted label per point (the given label where one was given; -1 for NaN rows).
    confidence : array, shape (n,)
        Largest class probability (0 for NaN rows).
    proba : array, shape (n, K)
        Class probabilities over ``classes``.
    classes : array of int, shape (K,)
    kernel : str
    width : float
        The chosen ``gamma`` (rbf) or ``n_neighbors`` (knn).
    cv_accuracy : float
        k-fold accuracy of the chosen width on the labelled points (NaN when it could not be
        scored).
    """

    predictions: np.ndarray
    confidence: np.ndarray
    proba: np.ndarray
    classes: np.ndarray
    kernel: str
    width: float
    cv_accuracy: float


def entropy(proba: np.ndarray) -> np.ndarray:
    """Shannon entropy of class probabilities (n, K) -> (n,), normalised to [0, 1]."""
    p = np.clip(np.asarray(proba, dtype=np.float64), 1e-12, 1.0)
    k = p.shape[1]
    return -(p * np.log(p)).sum(axis=1) / (np.log(k) if k > 1 else 1.0)


def margin(proba: np.ndarray) -> np.ndarray:
    """Uncertainty as ``1 - (p_first - p_second)`` (n, K) -> (n,), in [0, 1]."""
    p = np.sort(np.asarray(proba, dtype=np.float64), axis=1)
    if p.shape[1] < 2:
        return np.zeros(p.shape[0])
    return 1.0 - (p[:, -1] - p[:, -2])


def _model(kernel: str, width: float, max_iter: int):
    from sklearn.semi_supervised import LabelSpreading

    if kernel == "rbf":
        return LabelSpreading(kernel="rbf", gamma=float(width), max_iter=max_iter)
    return LabelSpreading(kernel="knn", n_neighbors=int(width), max_iter=max_iter)


def _fit(z: np.ndarray, y: np.ndarray, kernel: str, width: float, max_iter: int):
    m = _model(kernel, width, max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning / divide warnings of sparse graphs
        m.fit(z, y)
    return m


def _cv_score(z, y, kernel, width, folds, max_iter) -> float:
    labelled = np.flatnonzero(y >= 0)
    correct = 0
    for fold in folds:
        yy = y.copy()
        yy[fold] = -1
        if len(np.unique(yy[yy >= 0])) < 1:
            continue
        m = _fit(z, yy, kernel, width, max_iter)
        correct += int((m.transduction_[fold] == y[fold]).sum())
    return correct / max(len(labelled), 1)


def _check_labels(labels, n: int) -> np.ndarray:
    """The labels as integers of shape (n,), ``-1`` for unlabelled; anything else is refused."""
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"labels must have shape ({n},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError("labels must be integers (-1 = unlabelled)")
        y = y.astype(np.int64)
    if np.any(y < -1):
        raise ValueError("labels must be >= 0, or -1 for unlabelled")
    return y


def _choose_width(zk: np.ndarray, yk: np.ndarray, kernel: str, n_folds: int, max_iter: int,
                  seed: SeedLike) -> tuple[float, float]:
    """The kernel width (rbf ``gamma`` or knn ``n_neighbors``) with the best cross-validated accuracy
    over the labelled points of ``zk`` (n, F), and that accuracy; ties go to the middle of the grid."""
    labelled = np.flatnonzero(yk >= 0)
    rng = as_generator(seed)
    perm = rng.permutation(labelled)
    k = int(min(max(2, n_folds), len(labelled)))
    folds = [f for f in np.array_split(perm, k) if len(f)]
    if kernel == "rbf":
        from scipy.spatial.distance import pdist

        sub = zk if zk.shape[0] <= 2000 else zk[rng.choice(zk.shape[0], 2000, replace=False)]
        d = pdist(sub)
        med = float(np.median(d[d > 0])) if np.any(d > 0) else 1.0
        grid = [c / med ** 2 for c in GAMMA_FACTORS]
    else:
        grid = [kk for kk in KNN_NEIGHBORS if kk < zk.shape[0]] or [max(1, zk.shape[0] - 1)]
    scores = np.array([_cv_score(zk, yk, kernel, w, folds, max_iter) for w in grid])
    mid = (len(grid) - 1) / 2.0
    best = max(range(len(grid)), key=lambda i: (float(np.round(scores[i], 12)), -abs(i - mid)))
    return float(grid[best]), float(scores[best])


def _spread_proba(zk: np.ndarray, yk: np.ndarray, kernel: str, width: float, max_iter: int,
                  n_classes: int) -> np.ndarray:
    """Class probabilities (n, n_classes) of label spreading, rows normalised (uniform where undefined)."""
    m = _fit(zk, yk, kernel, width, max_iter)
    proba = np.asarray(m.label_distributions_, dtype=np.float64)
    proba = np.nan_to_num(proba, nan=1.0 / n_classes)
    s = proba.sum(axis=1, keepdims=True)
    return np.where(s > 0, proba / np.where(s > 0, s, 1.0), 1.0 / n_classes)


def spread_labels(features: Any, labels: Any, *, kernel: str = "rbf", width: Optional[float] = None,
                  scale: str = "log", n_folds: int = 5, max_iter: int = 200, seed: SeedLike = 0) -> SpreadResult:
    """Propagate a few labels to every point.

    Parameters
    ----------
    features : array, shape (n, F)
    labels : array of int, shape (n,)
        Class labels ``>= 0`` for labelled points, ``-1`` for unlabelled.
    kernel : {"rbf", "knn"}
    width : float, optional
        ``gamma`` (rbf) or ``n_neighbors`` (knn); chosen automatically when None.
    scale : {"log", "standard", "none"}
        Feature scaling (see :func:`~sciope_abs.exploration.reduction.scale_features`).
    n_folds : int
        Folds over the labelled points for choosing the width.
    max_iter : int
    seed : int or SeedSequence
        Shuffles the folds.

    Returns
    -------
    SpreadResult
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    z = scale_features(features, scale)
    y = _check_labels(labels, z.shape[0])
    ok = np.isfinite(z).all(axis=1)
    zk, yk = z[ok], y[ok].astype(np.int64)
    classes = np.unique(yk[yk >= 0])
    if classes.size == 0:
        raise ValueError("no labelled points with finite features: label at least one point first")
    n = z.shape[0]
    if classes.size == 1:
        # one class known: everything predicted as it, with the confidence of knowing nothing else
        proba = np.ones((int(ok.sum()), 1))
        width_used, cv = float("nan"), float("nan")
    else:
        if width is None:
            width_used, cv = _choose_width(zk, yk, kernel, n_folds, max_iter, seed)
        else:
            width_used, cv = check_positive_float(width, "width"), float("nan")
        proba = _spread_proba(zk, yk, kernel, width_used, max_iter, classes.size)
    full = np.full((n, classes.size), np.nan)
    full[ok] = proba
    pred = np.full(n, -1, dtype=np.int64)
    conf = np.zeros(n)
    pred[ok] = classes[np.argmax(proba, axis=1)]
    conf[ok] = proba.max(axis=1)
    given = ok & (y >= 0)
    pred[given] = y[given]
    return SpreadResult(predictions=pred, confidence=conf, proba=full, classes=classes,
                        kernel=kernel if classes.size > 1 else "none", width=width_used, cv_accuracy=cv)
