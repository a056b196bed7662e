"""Feature scaling and 2-D embeddings of sweep features for display and label spreading.

:func:`scale_features` maps features ``(n, F)`` to a standardized space (optionally after a
signed log, which tames the heavy right tails of count statistics); :func:`reduce` embeds that
space in two dimensions with PCA, kernel PCA or t-SNE (scikit-learn) or UMAP (when
``umap-learn`` is installed). Rows with NaN (failed simulations) stay NaN and are ignored when fitting.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..seeding import SeedLike, as_seed_sequence, int_seed

__all__ = ["scale_features", "reduce", "REDUCTIONS", "available_reductions"]

SCALINGS = ("log", "standard", "none")
REDUCTIONS = ("pca", "kpca", "tsne", "umap")


def _features(features) -> np.ndarray:
    try:
        f = np.asarray(features, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("features must be a numeric array of shape (n, F)") from None
    if f.ndim != 2 or f.shape[1] < 1:
        raise ValueError(f"features must have shape (n, F) with F >= 1, got {f.shape}")
    return f


def scale_features(features: Any, scale: str = "log") -> np.ndarray:
    """Standardize features column by column.

    Parameters
    ----------
    features : array, shape (n, F)
    scale : {"log", "standard", "none"}
        ``"log"``: ``sign(f) * log1p(|f|)`` then zero mean / unit variance; ``"standard"``:
        zero mean / unit variance; ``"none"``: unchanged. Constant columns become 0.

    Returns
    -------
    array, shape (n, F)
        NaN rows stay NaN; statistics use the finite rows only.
    """
    f = _features(features)
    if scale not in SCALINGS:
        raise ValueError(f"scale must be one of {SCALINGS}, got {scale!r}")
    if scale == "none":
        return f.copy()
    if scale == "log":
        f = np.sign(f) * np.log1p(np.abs(f))
    ok = np.isfinite(f).all(axis=1)
    if not ok.any():
        raise ValueError("every feature row contains NaN; nothing to scale")
    mu = f[ok].mean(axis=0)
    sd = f[ok].std(axis=0)
    sd[sd == 0] = 1.0
    out = (f - mu) / sd
    out[~ok] = np.nan
    return out


def available_reductions() -> list[str]:
    """The reduction methods usable here (``"umap"`` only with ``umap-learn`` installed)."""
    import importlib.util

    return [m for m in REDUCTIONS if m != "umap" or importlib.util.find_spec("umap") is not None]


def reduce(features: Any, method: str = "pca", seed: SeedLike = None, *, scale: str = "log",
           perplexity: float = 30.0, kernel: str = "rbf", gamma: float | None = None) -> np.ndarray:
    """Embed features in two dimensions.

    Parameters
    ----------
    features : array, shape (n, F)
    method : {"pca", "kpca", "tsne", "umap"}
    seed : int or SeedSequence, optional
        Seeds t-SNE / UMAP (PCA is deterministic); the same seed gives the same embedding.
    scale : {"log", "standard", "none"}
        See :func:`scale_features`.
    perplexity : float
        t-SNE perplexity (capped below the number of rows).
    kernel : {"rbf", "poly", "sigmoid", "cosine"}
        Kernel PCA's kernel (``method="kpca"``; scikit-learn ``KernelPCA``).
    gamma : float, optional
        Kernel PCA's kernel width; default ``1 / F`` on the scaled features (Sciope fixed
        0.01 on unscaled features).

    Returns
    -------
    array, shape (n, 2)
        NaN for rows with NaN features. With a single feature the second column is 0.
    """
    if method not in REDUCTIONS:
        raise ValueError(f"method must be one of {REDUCTIONS}, got {method!r}")
    z = scale_features(features, scale)
    ok = np.isfinite(z).all(axis=1)
    zk = z[ok]
    out = np.full((z.shape[0], 2), np.nan)
    if zk.shape[0] < 3:
        raise ValueError(f"need at least 3 points with finite features to reduce, got {zk.shape[0]}")
    rs = int_seed(as_seed_sequence(seed)) if seed is not None else 0
    if zk.shape[1] == 1:
        out[ok, 0] = zk[:, 0]
        out[ok, 1] = 0.0
        return out
    if method == "pca":
        from sklearn.decomposition import PCA

        emb = PCA(n_components=2).fit_transform(zk)
    elif method == "kpca":
        emb = _kpca(zk, kernel, gamma)
    elif method == "tsne":
        from sklearn.manifold import TSNE

        from threadpoolctl import threadpool_limits

        perp = float(min(perplexity, max(1.0, (zk.shape[0] - 1) / 3.0)))
        # small embeddings: OpenMP threads cost more than they save (10x slower on a busy 2-core box)
        with threadpool_limits(limits=1 if zk.shape[0] < 5000 else None):
            emb = TSNE(n_components=2, perplexity=perp, init="pca", random_state=rs).fit_transform(zk)
    else:
        try:
            import umap
        except ImportError:
            raise ValueError("method='umap' needs the optional package umap-learn (pip install umap-learn)") from None
        emb = umap.UMAP(n_components=2, random_state=rs,
                        n_neighbors=int(min(15, zk.shape[0] - 1))).fit_transform(zk)
    out[ok] = emb
    return out


def _kpca(z: np.ndarray, kernel: str, gamma: float | None) -> np.ndarray:
    from sklearn.decomposition import KernelPCA

    if kernel not in ("rbf", "poly", "sigmoid", "cosine"):
        raise ValueError(f"kernel must be 'rbf', 'poly', 'sigmoid' or 'cosine', got {kernel!r}")
    if gamma is not None and not float(gamma) > 0:
        raise ValueError(f"gamma must be > 0, got {gamma!r}")
    # the eigen-solver is deterministic ("dense"), so no seed is needed
    return KernelPCA(n_components=2, kernel=kernel, gamma=gamma, eigen_solver="dense").fit_transform(z)
