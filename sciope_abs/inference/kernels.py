"""Perturbation kernels for SMC-ABC."""
from __future__ import annotations

import contextlib
from typing import Any, Callable

import numpy as np

__all__ = ["MultivariateNormalKernel", "clone_kernel", "silverman_factor", "SCALE_RULES"]


def silverman_factor(n_eff: float, d: int) -> float:
    """Silverman's rule of thumb for the covariance of a Gaussian kernel density estimate:
    ``(4 / (n_eff (d + 2)))^(2 / (d + 4))`` times the sample covariance (the square of
    ``scipy.stats.gaussian_kde``'s ``silverman_factor``)."""
    return float((4.0 / (max(float(n_eff), 1.0) * (d + 2))) ** (2.0 / (d + 4)))


#: data-driven covariance multipliers by name: (effective sample size, dimension) -> factor
SCALE_RULES: dict[str, Callable[[float, int], float]] = {"silverman": silverman_factor}


def clone_kernel(kernel: Any) -> Any:
    """An unfitted copy of ``kernel`` (``type(k)(**k.get_params())``, else a deep copy), so that
    fitting never changes the caller's object."""
    params = getattr(kernel, "get_params", None)
    if callable(params):
        return type(kernel)(**params())
    import copy

    return copy.deepcopy(kernel)


class MultivariateNormalKernel:
    """Multivariate normal perturbation with covariance adapted from a weighted population.

    ``fit`` sets the covariance to ``scale`` times the weighted covariance of the particles
    (``scale=2`` is the classic choice of Beaumont et al. 2009 / Filippi et al. 2013;
    ``scale="silverman"`` is Silverman's rule of thumb for a Gaussian kernel density estimate,
    the factor ``(4 / (n_eff (d + 2)))^(2 / (d + 4))`` with ``n_eff = 1 / sum(w^2)`` the
    effective sample size: pyABC's default ``MultivariateNormalTransition``).  A
    degenerate covariance (one particle, identical particles, collinear particles) gets a
    jitter on its diagonal, relative to the particles' scale, so that the kernel always has a
    density.  One-dimensional parameter spaces work the same way (a 1 x 1 covariance).

    Parameters
    ----------
    scale : float or "silverman"
        Multiplier of the weighted covariance, or ``"silverman"`` (chosen from the effective
        sample size and the dimension at every fit; the fitted value is ``scale_``).
    jitter : float
        Relative diagonal jitter added when the covariance is not positive definite.
    """

    def __init__(self, scale: float | str = 2.0, jitter: float = 1e-3) -> None:
        if isinstance(scale, str):
            if scale not in SCALE_RULES:
                raise ValueError(f"scale must be a number > 0 or one of {sorted(SCALE_RULES)}, got {scale!r}")
        elif not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        if not jitter > 0:
            raise ValueError(f"jitter must be > 0, got {jitter}")
        self.scale: float | str = scale if isinstance(scale, str) else float(scale)
        self.jitter = float(jitter)

    def get_params(self) -> dict:
        """The constructor arguments (``scale``, ``jitter``)."""
        return {"scale": self.scale, "jitter": self.jitter}

    def fit(self, particles: np.ndarray, weights: np.ndarray | None = None) -> "MultivariateNormalKernel":
        """Adapt the covariance to ``particles`` (n, d) with ``weights`` (n,)."""
        x = np.asarray(particles, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"particles must have shape (n, d) with n >= 1, got {x.shape}")
        n, d = x.shape
        w = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, dtype=np.float64)
        w = w / w.sum()
        mu = w @ x
        xc = x - mu
        rule = SCALE_RULES.get(self.scale) if isinstance(self.scale, str) else None
        self.scale_ = float(rule(1.0 / float(np.sum(w * w)), d)) if rule is not None else float(self.scale)
        cov = self.scale_ * (xc * w[:, None]).T @ xc
        self.cov_ = self._regularise(cov, x)
        self.chol_ = np.linalg.cholesky(self.cov_)
        self.log_norm_ = -0.5 * d * np.log(2 * np.pi) - np.sum(np.log(np.diag(self.chol_)))
        return self

    def _regularise(self, cov: np.ndarray, x: np.ndarray) -> np.ndarray:
        # a reference scale per dimension: the spread if any, else the magnitude, else 1
        ref = np.sqrt(np.maximum(np.diag(cov), 0.0))
        mag = np.abs(x).max(axis=0)
        ref = np.where(ref > 0, ref, np.where(mag > 0, mag, 1.0))
        eps = self.jitter
        for _ in range(60):
            with contextlib.suppress(np.linalg.LinAlgError):
                np.linalg.cholesky(cov)
                evals = np.linalg.eigvalsh(cov)
                if evals.min() > 1e-12 * max(evals.max(), 1e-300):
                    return cov
            cov = cov + np.diag((eps * ref) ** 2 + (eps * 1e-12))
            eps *= 10.0
        raise ValueError("could not regularise the perturbation covariance (non-finite particles?)")

    def _check(self) -> None:
        if not hasattr(self, "chol_"):
            raise ValueError("the kernel is not fitted: call fit(particles, weights) first")

    def perturb(self, centers: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One perturbed draw around each row of ``centers`` (m, d)."""
        self._check()
        centers = np.asarray(centers, dtype=np.float64)
        z = rng.standard_normal(centers.shape)
        return centers + z @ self.chol_.T

    def log_density(self, theta: np.ndarray, centers: np.ndarray) -> np.ndarray:
        """``log K(theta_i | center_j)``, shape (n, m)."""
        return self.log_density_from(centers)(theta)

    def log_density_from(self, centers: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """``theta (n, d) -> log K(theta_i | center_j)`` (n, m) with ``centers`` (m, d) whitened
        once (SMC-ABC evaluates a round's accepted particles batch by batch against the same
        population); the same numbers as :meth:`log_density`."""
        self._check()
        from scipy.linalg import solve_triangular

        centers = np.atleast_2d(np.asarray(centers, dtype=np.float64))
        # whiten both sets once, then squared distances by |a|^2 + |b|^2 - 2 a.b (one matrix product)
        shift = centers.mean(axis=0)
        b = solve_triangular(self.chol_, (centers - shift).T, lower=True).T     # (m, d)
        bb = np.sum(b * b, axis=1)[None, :]
        chol, log_norm = self.chol_, self.log_norm_

        def log_k(theta: np.ndarray) -> np.ndarray:
            theta = np.atleast_2d(np.asarray(theta, dtype=np.float64))
            a = solve_triangular(chol, (theta - shift).T, lower=True).T       # (n, d)
            sq = np.sum(a * a, axis=1)[:, None] + bb - 2.0 * (a @ b.T)
            return log_norm - 0.5 * np.maximum(sq, 0.0)

        return log_k
