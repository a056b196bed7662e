"""Active learning: propose NEW parameter points where the behaviour classifier is least certain.

:func:`suggest_points` fits a k-nearest-neighbour classifier on the parameter points (scaled to
the unit cube of the prior bounds) and their labels (the user's labels plus the spread
predictions), draws candidates -- Gaussian perturbations of the most uncertain existing points
(step ``step`` times the bound width, clipped to the bounds) plus uniform draws over the bounds --
scores each candidate by the classifier's uncertainty (entropy or margin), and returns the best
``n`` candidates that keep a minimum distance from each other (greedy, most uncertain first).

:func:`suggest_by_surrogate` does the same for a regression surrogate of the features
(:mod:`sciope_abs.surrogates`): new points where the predicted features are least certain.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .._checks import check_positive_int
from ..seeding import SeedLike, as_generator
from .labelling import entropy, margin

__all__ = ["suggest_points", "suggest_by_surrogate", "STRATEGIES", "uncertainty"]

STRATEGIES = {"entropy": entropy, "margin": margin}


def uncertainty(proba: Any, strategy: str = "entropy") -> np.ndarray:
    """Uncertainty of class probabilities (n, K) -> (n,) in [0, 1] by ``strategy``."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {sorted(STRATEGIES)}, got {strategy!r}")
    return STRATEGIES[strategy](proba)


def _bounds(bounds, d: int) -> np.ndarray:
    b = np.asarray(bounds, dtype=np.float64)
    if b.shape != (d, 2):
        raise ValueError(f"bounds must have shape ({d}, 2), got {b.shape}")
    if not np.all(np.isfinite(b)) or np.any(b[:, 1] <= b[:, 0]):
        raise ValueError("bounds must be finite with low < high in every dimension")
    return b


def suggest_points(theta: Any, targets: Any, bounds: Any, n: int, *, strategy: str = "entropy", seed: SeedLike = None,
                   point_uncertainty: Optional[np.ndarray] = None, n_candidates: int = 2000,
                   local_fraction: float = 0.75, step: float = 0.1, n_neighbors: int = 10,
                   n_anchors: Optional[int] = None) -> np.ndarray:
    """Propose ``n`` new parameter points within ``bounds``.

    Parameters
    ----------
    theta : array, shape (m, d)
        Existing parameter points.
    targets : array of int, shape (m,)
        Known or predicted class per point; ``-1`` points are ignored by the classifier.
    bounds : array, shape (d, 2)
        Low/high per parameter (the prior's bounds); every suggestion lies inside.
    n : int
        Points to propose.
    strategy : {"entropy", "margin"}
    seed : int or SeedSequence
    point_uncertainty : array, shape (m,), optional
        Uncertainty of the existing points (e.g. ``1 - confidence`` of label spreading) used to
        pick the anchors of local candidates; default: the classifier's own uncertainty.
    n_candidates : int
        Candidates scored.
    local_fraction : float in [0, 1]
        Share of candidates drawn near uncertain points (the rest uniform over the bounds).
    step : float
        Standard deviation of the local perturbation, as a fraction of each bound's width.
    n_neighbors : int
        k of the kNN classifier.
    n_anchors : int, optional
        Uncertain existing points used as anchors (default ``max(n, 10)``).

    Returns
    -------
    array, shape (n, d)
    """
    th = np.asarray(theta, dtype=np.float64)
    if th.ndim != 2:
        raise ValueError(f"theta must have shape (m, d), got {th.shape}")
    d = th.shape[1]
    b = _bounds(bounds, d)
    y = np.asarray(targets).astype(np.int64)
    if y.shape != (th.shape[0],):
        raise ValueError(f"targets must have shape ({th.shape[0]},), got {y.shape}")
    check_positive_int(n, "n")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {sorted(STRATEGIES)}, got {strategy!r}")
    if not 0.0 <= local_fraction <= 1.0:
        raise ValueError(f"local_fraction must be in [0, 1], got {local_fraction}")
    rng = as_generator(seed)
    lo, width = b[:, 0], b[:, 1] - b[:, 0]
    u = (th - lo) / width
    ok = (y >= 0) & np.isfinite(u).all(axis=1)
    if not ok.any():
        raise ValueError("no labelled or predicted points to learn from: label some points and spread first")
    n_cand = max(int(n_candidates), 4 * int(n))
    cand, score = _scored_candidates(u, y, ok, int(n), n_cand, rng, strategy=strategy,
                                     point_uncertainty=point_uncertainty, local_fraction=local_fraction,
                                     step=step, n_neighbors=n_neighbors, n_anchors=n_anchors)
    score = score + 1e-9 * rng.random(len(score))  # seeded tie-break
    order = np.argsort(-score, kind="stable")
    return lo + cand[np.asarray(_spaced_picks(cand, order, int(n)))] * width


def _point_uncertainty(u: np.ndarray, y: np.ndarray, ok: np.ndarray, k: int, strategy: str,
                       point_uncertainty: Optional[np.ndarray]) -> np.ndarray:
    """Uncertainty (m,) of the existing points in the unit cube ``u`` (m, d): the given one, else the
    leave-in kNN class probabilities' uncertainty; ``-inf`` where a point is not finite."""
    from sklearn.neighbors import KNeighborsClassifier

    m = u.shape[0]
    if point_uncertainty is not None:
        pu = np.asarray(point_uncertainty, dtype=np.float64)
        if pu.shape != (m,):
            raise ValueError(f"point_uncertainty must have shape ({m},), got {pu.shape}")
        return np.where(np.isfinite(pu) & np.isfinite(u).all(axis=1), pu, -np.inf)
    pu = np.full(m, -np.inf)
    fin = np.isfinite(u).all(axis=1)
    # leave-in kNN proba with uniform weights (distance weights make every point certain of itself)
    uni = KNeighborsClassifier(n_neighbors=k).fit(u[ok], y[ok])
    pu[fin] = uncertainty(uni.predict_proba(u[fin]), strategy)
    return pu


def _scored_candidates(u: np.ndarray, y: np.ndarray, ok: np.ndarray, n: int, n_cand: int, rng: np.random.Generator,
                       *, strategy: str, point_uncertainty: Optional[np.ndarray], local_fraction: float,
                       step: float, n_neighbors: int, n_anchors: Optional[int]) -> tuple[np.ndarray, np.ndarray]:
    """Candidates (n_cand, d) in the unit cube, near uncertain anchors and uniform, with the kNN
    classifier's uncertainty at each (n_cand,); uniform with zero scores while one class is known."""
    from sklearn.neighbors import KNeighborsClassifier

    d = u.shape[1]
    if np.unique(y[ok]).size < 2:
        # one behaviour known: nothing to be uncertain about yet -- explore uniformly
        return rng.random((n_cand, d)), np.zeros(n_cand)
    k = int(min(n_neighbors, ok.sum()))
    clf = KNeighborsClassifier(n_neighbors=k, weights="distance").fit(u[ok], y[ok])
    pu = _point_uncertainty(u, y, ok, k, strategy, point_uncertainty)
    n_anc = int(min(n_anchors or max(n, 10), np.isfinite(pu).sum()))
    anchors = u[np.argsort(-pu, kind="stable")[:n_anc]] if n_anc > 0 else np.empty((0, d))
    n_local = int(round(local_fraction * n_cand)) if len(anchors) else 0
    local = anchors[rng.integers(0, len(anchors), n_local)] + step * rng.standard_normal((n_local, d)) \
        if n_local else np.empty((0, d))
    cand = np.clip(np.vstack([local, rng.random((n_cand - n_local, d))]), 0.0, 1.0)
    return cand, uncertainty(clf.predict_proba(cand), strategy)


def _spaced_picks(cand: np.ndarray, order: np.ndarray, n: int) -> list[int]:
    """The first ``n`` candidates in ``order`` that keep a minimum distance from each other, the
    distance halved until ``n`` are found."""
    d = cand.shape[1]
    # uncertain regions are class boundaries, (d-1)-dimensional: space the picks along them
    min_dist = 0.5 * float(n) ** (-1.0 / max(d - 1, 1))
    chosen: list[int] = []
    while len(chosen) < n and min_dist > 1e-6:
        for i in order:
            if len(chosen) >= n:
                break
            if i in chosen:
                continue
            if not chosen or np.min(np.linalg.norm(cand[chosen] - cand[i], axis=1)) >= min_dist:
                chosen.append(int(i))
        min_dist /= 2.0
    return chosen[:n]


def _scaled_std(surrogate, x: np.ndarray) -> np.ndarray:
    """Mean over outputs of the predictive std relative to each output's spread, shape (m,)."""
    _, sd = surrogate.predict(x, return_std=True)
    sd = np.asarray(sd, dtype=np.float64).reshape(x.shape[0], -1)
    scale = np.asarray(getattr(surrogate, "y_scale_", np.ones(sd.shape[1])), dtype=np.float64).reshape(-1)
    return np.mean(sd / np.where(scale > 0, scale, 1.0), axis=1)


def suggest_by_surrogate(surrogate: Any, bounds: Any, n: int, *, seed: SeedLike = None, candidates: Optional[np.ndarray] = None,
                         n_candidates: int = 2000) -> np.ndarray:
    """Propose ``n`` new points where a fitted surrogate's predictions are least certain.

    Candidates (uniform over ``bounds`` unless given) are scored by the predictive standard
    deviation relative to each output's spread, averaged over outputs (for a GP the latent
    part only: the simulator's noise cannot be reduced by simulating there). The batch is picked
    greedily: with a surrogate that has ``fantasize`` (the GP) each pick is added as a pseudo
    observation at its predicted mean, so the uncertainty around it drops before the next pick
    ("kriging believer"); otherwise picks keep a minimum distance from each other, as in
    :func:`suggest_points`.

    Parameters
    ----------
    surrogate : Surrogate
        Fitted, with ``predict(theta, return_std=True)``.
    bounds : array, shape (d, 2)
    n : int
    seed : int or SeedSequence
    candidates : array, shape (c, d), optional
        Points to choose from (default: ``n_candidates`` uniform draws over the bounds).
    n_candidates : int

    Returns
    -------
    array, shape (n, d)
    """
    check_positive_int(n, "n")
    if not getattr(surrogate, "supports_std", True):
        raise ValueError(f"{type(surrogate).__name__} gives no predictive uncertainty; use a GP or ANN surrogate")
    d = int(getattr(surrogate, "n_features_in_", np.shape(bounds)[0]))
    b = _bounds(bounds, d)
    rng = as_generator(seed)
    lo, width = b[:, 0], b[:, 1] - b[:, 0]
    if candidates is None:
        cand = lo + rng.random((max(int(n_candidates), 4 * int(n)), d)) * width
    else:
        cand = np.asarray(candidates, dtype=np.float64)
        if cand.ndim != 2 or cand.shape[1] != d or cand.shape[0] < n:
            raise ValueError(f"candidates must have shape (c >= {n}, {d}), got {cand.shape}")
    chosen: list[int] = []
    model = surrogate
    if getattr(model, "include_noise", False):
        # only the surrogate's own uncertainty can be reduced by simulating: leave the noise out
        import copy

        model = copy.copy(model)
        model.include_noise = False
    score = _scaled_std(model, cand) + 1e-12 * rng.random(cand.shape[0])
    min_dist = 0.5 * float(n) ** (-1.0 / d)
    u = (cand - lo) / width
    for _ in range(int(n)):
        if hasattr(model, "fantasize"):
            if chosen:
                model = model.fantasize(cand[chosen[-1:]])
                score = _scaled_std(model, cand) + 1e-12 * rng.random(cand.shape[0])
            score[chosen] = -np.inf
            chosen.append(int(np.argmax(score)))
            continue
        order = np.argsort(-score, kind="stable")
        pick = next((int(i) for i in order if i not in chosen and (not chosen or np.min(
            np.linalg.norm(u[chosen] - u[i], axis=1)) >= min_dist)), None)
        if pick is None:
            min_dist /= 2.0
            pick = next(int(i) for i in order if i not in chosen)
        chosen.append(pick)
    return cand[np.asarray(chosen)]
