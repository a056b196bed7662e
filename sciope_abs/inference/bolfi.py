"""GP-surrogate likelihood-free inference: BOLFI (Gutmann & Corander 2016, as in ELFI).

The (log) discrepancy ``y(θ) = log(distance(s_obs, s_sim(θ)) + c)`` is modelled by a Gaussian
process over θ (:class:`~sciope_abs.surrogates.GPSurrogate`: ARD kernel + fitted noise). After
``n_initial`` points of a Latin hypercube over the prior, batches of ``batch_size`` points are
chosen by the lower confidence bound

    LCB(θ) = μ(θ) - sqrt(β_t) σ(θ),   β_t = 2 log(t^(d/2+2) π² / (3 ε))

(Brochu et al. 2010; ``t`` = evidence so far, ``ε`` = ``exploration``), minimised over the
prior's support; the points of one batch are picked one after another, each added to the GP as a
pseudo-observation at its predicted mean ("kriging believer"), so a batch spreads out and its
simulations run in parallel on Dask.

The approximate likelihood is the probability that a new discrepancy falls below a threshold
``h`` (ELFI's ``BolfiPosterior``): ``L(θ) ∝ Φ((h - μ(θ)) / sqrt(σ²(θ) + σ_n²))`` with ``h``
defaulting to the minimum of the GP mean. The posterior ``prior(θ) L(θ)`` is sampled by
importance sampling: prior draws first, then a defensive mixture of a Gaussian fitted to them
(weight 0.9) and the prior (0.1); the returned :class:`Posterior` carries the weights.

The point of the method is its simulation count: tens to hundreds of simulations where
rejection or SMC-ABC need thousands, which matters when one simulation is expensive.
"""
from __future__ import annotations

import copy
import logging
import math
import time
from typing import Any, Optional

import numpy as np

from .._checks import check_positive_int, optional
from ..seeding import SeedLike, as_seed_sequence, int_seed
from ._points import simulate_summaries
from ._stream import child_seed, compute_distances, fit_distance, prepare_distance
from .posterior import Posterior
from .rejection import _Problem, _bind_problem
from .tasks import SimulateSummarise

__all__ = ["BOLFI", "lcb_beta"]

log = logging.getLogger(__name__)


def lcb_beta(t: int, d: int, exploration: float = 0.1) -> float:
    """The LCB weight ``β_t = 2 log(t^(d/2+2) π² / (3 ε))`` (at least 0)."""
    t = max(int(t), 1)
    return max(2.0 * ((d / 2.0 + 2.0) * math.log(t) + math.log(math.pi ** 2 / (3.0 * exploration))), 0.0)


def _finite_bounds(prior: Any) -> np.ndarray:
    b = np.asarray(getattr(prior, "bounds", None), dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 2 or not np.all(np.isfinite(b)):
        raise ValueError("BOLFI needs a prior with finite bounds (d, 2) to search the acquisition over")
    return b


class BOLFI(_Problem):
    """Bayesian optimisation for likelihood-free inference.

    Parameters
    ----------
    simulator, prior, summary, distance, observed, n_traj, initial_state, client
        As in :class:`~sciope_abs.inference.ABCRejection`. The prior needs ``sample``,
        ``log_prob`` and finite ``bounds``.
    surrogate : GPSurrogate, optional
        The (unfitted) GP of the log discrepancy; default ``GPSurrogate(n_restarts=2)``. It is
        copied and refitted, with a seed from the run's, after every batch.

    Attributes
    ----------
    gp_ : GPSurrogate
        The GP after the last batch (set by :meth:`infer`).
    evidence_ : dict
        ``theta (n, d)``, ``distance (n,)``, ``log_discrepancy (n,)`` of every simulation.
    """

    method = "bolfi"

    def __init__(self, simulator: Any, prior: Any, summary: Any, distance: Any = None, observed: Any = None, *,
                 n_traj: int = 1, initial_state: Any = None, client: Any = None, surrogate: Any = None) -> None:
        _bind_problem(self, simulator, prior, summary, distance, observed, n_traj, initial_state, client)
        self.bounds = _finite_bounds(self.prior)
        if surrogate is None:
            from ..surrogates import GPSurrogate

            surrogate = GPSurrogate(n_restarts=2)
        if not (hasattr(surrogate, "fantasize") and hasattr(surrogate, "fit")):
            raise ValueError("surrogate must be a GPSurrogate (BOLFI needs fit, predict with std and fantasize)")
        self.surrogate = surrogate

    @property
    def param_names(self) -> list[str]:
        return list(self.simulator.param_names)

    # ------------------------------------------------------------------ public API
    def infer(self, n_simulations: int = 100, *, n_initial: Optional[int] = None, batch_size: int = 5,
              threshold: Optional[float] = None, n_samples: int = 4000, exploration: float = 0.1,
              n_candidates: int = 2000, log_offset: Any = "auto", sim_batch_size: int = 1,
              seed: SeedLike = None, progress: bool = False) -> Posterior:
        """Run BOLFI.

        Parameters
        ----------
        n_simulations : int
            Total simulation budget (initial design included).
        n_initial : int, optional
            Points of the initial Latin hypercube (default ``max(10, 5 d)``, at most the budget).
        batch_size : int
            Points acquired per GP update (simulated in parallel).
        threshold : float, optional
            ``h`` on the log-discrepancy scale; default: the minimum of the final GP mean.
        n_samples : int
            Importance samples of the returned posterior (per stage).
        exploration : float in (0, 1)
            ``ε`` of the LCB weight; smaller explores more.
        n_candidates : int
            Prior draws on which the acquisition is evaluated before a local refinement.
        log_offset : float or "auto"
            ``c`` in ``log(distance + c)``; ``"auto"``: 1e-6 x the median initial distance (keeps
            zero distances of discrete summaries finite).
        sim_batch_size : int
            Points per Dask task.
        seed : int or SeedSequence
        progress : bool

        Returns
        -------
        Posterior
            Importance-weighted samples; ``info`` holds the threshold, the evidence and the
            simulation count.
        """
        n_sims = check_positive_int(n_simulations, "n_simulations")
        d = len(self.param_names)
        n0 = optional(check_positive_int, n_initial, "n_initial") or max(10, 5 * d)
        n0 = min(n0, n_sims)
        if n0 < 3:
            raise ValueError(f"BOLFI needs at least 3 initial simulations, got n_simulations={n_sims}")
        bs = check_positive_int(batch_size, "batch_size")
        check_positive_int(n_samples, "n_samples")
        check_positive_int(n_candidates, "n_candidates")
        if not 0 < float(exploration) < 1:
            raise ValueError(f"exploration must lie in (0, 1), got {exploration!r}")
        root = as_seed_sequence(seed)
        task = SimulateSummarise(self.simulator, self.summary, self.n_traj, self.initial_state)
        t0 = time.perf_counter()
        distance = prepare_distance(self.distance)
        theta = self._initial_design(n0, child_seed(root, 0, 0))
        s = simulate_summaries(task, theta, child_seed(root, 0, 1), batch_size=sim_batch_size,
                               client=self.client, progress=progress, desc="bolfi init")
        fit_distance(distance, s)
        dist = compute_distances(distance, self.s_obs, s)
        offset = self._offset(log_offset, dist)
        history = [self._record(0, theta, dist, t0)]
        r = 0
        gp = self._fit_gp(theta, dist, offset, child_seed(root, 0, 2))
        while theta.shape[0] < n_sims:
            r += 1
            m = min(bs, n_sims - theta.shape[0])
            new = self._acquire(gp, m, theta.shape[0], float(exploration), n_candidates, child_seed(root, r, 0))
            s_new = simulate_summaries(task, new, child_seed(root, r, 1), batch_size=sim_batch_size,
                                       client=self.client, progress=progress, desc=f"bolfi batch {r}")
            d_new = compute_distances(distance, self.s_obs, s_new)
            theta, dist = np.vstack([theta, new]), np.r_[dist, d_new]
            gp = self._fit_gp(theta, dist, offset, child_seed(root, r, 2))
            history.append(self._record(r, new, d_new, t0))
        self.gp_ = gp
        y = np.log(dist + offset)
        self.evidence_ = {"theta": theta, "distance": dist, "log_discrepancy": y}
        return self._posterior(gp, theta, threshold, offset, n_samples, history, child_seed(root, r + 1, 0))

    # ------------------------------------------------------------------ steps
    def _initial_design(self, n: int, seed: np.random.SeedSequence) -> np.ndarray:
        from scipy.stats import qmc

        u = qmc.LatinHypercube(len(self.param_names), scramble=True, rng=np.random.default_rng(seed)).random(n)
        ppf = getattr(self.prior, "ppf", None)  # a JointPrior maps the unit cube; other priors are sampled
        if callable(ppf):
            return np.asarray(ppf(u), dtype=np.float64)
        return np.asarray(self.prior.sample(n, seed), dtype=np.float64).reshape(n, -1)

    @staticmethod
    def _offset(log_offset: Any, dist: np.ndarray) -> float:
        fin = dist[np.isfinite(dist)]
        if fin.size < 3:
            raise ValueError(f"only {fin.size} of the {dist.size} initial simulations gave finite distances; "
                             "BOLFI needs at least 3 (check the simulator and the summary)")
        if isinstance(log_offset, str):
            if log_offset != "auto":
                raise ValueError(f"log_offset must be a number >= 0 or 'auto', got {log_offset!r}")
            med = float(np.median(fin))
            return 1e-6 * med if med > 0 else 1e-12
        c = float(log_offset)
        if not c >= 0 or (c == 0 and np.any(fin <= 0)):
            raise ValueError(f"log_offset must be >= 0 (and > 0 when a distance is 0), got {log_offset!r}")
        return c

    def _fit_gp(self, theta: np.ndarray, dist: np.ndarray, offset: float, seed: np.random.SeedSequence):
        gp = copy.deepcopy(self.surrogate)
        gp.seed = int_seed(seed)
        gp.include_noise = True
        y = np.log(dist + offset)   # inf distances -> inf -> left out by the surrogate
        return gp.fit(theta, np.where(np.isfinite(y), y, np.nan))

    @staticmethod
    def _latent(gp):
        g = copy.copy(gp)
        g.include_noise = False
        return g

    def _acq(self, gp, x: np.ndarray, beta: float) -> np.ndarray:
        mu, sd = self._latent(gp).predict(x, return_std=True)
        return mu - math.sqrt(beta) * sd

    def _acquire(self, gp, m: int, t: int, exploration: float, n_candidates: int,
                 seed: np.random.SeedSequence) -> np.ndarray:
        from scipy.optimize import minimize

        d = len(self.param_names)
        beta = lcb_beta(t, d, exploration)
        lo, hi = self.bounds[:, 0], self.bounds[:, 1]
        width = hi - lo
        box = list(zip(lo + 1e-9 * width, hi - 1e-9 * width))
        picks = []
        for j in range(m):
            cand = np.asarray(self.prior.sample(n_candidates, child_seed(seed, j)), dtype=np.float64).reshape(-1, d)
            a = self._acq(gp, cand, beta)
            x0 = cand[int(np.argmin(a))]
            res = minimize(lambda x: float(self._acq(gp, x[None, :], beta)[0]), x0, method="L-BFGS-B", bounds=box,
                           options={"maxiter": 50})
            x = res.x if res.fun <= a.min() and np.isfinite(self.prior.log_prob(res.x[None, :])[0]) else x0
            picks.append(x)
            gp = gp.fantasize(x[None, :])
        return np.vstack(picks)

    def _record(self, r: int, theta: np.ndarray, dist: np.ndarray, t0: float) -> dict:
        fin = dist[np.isfinite(dist)]
        return {"round": r, "n_simulations": int(theta.shape[0]), "n_failed": int((~np.isfinite(dist)).sum()),
                "min_distance": float(fin.min()) if fin.size else float("inf"),
                "acquired": theta.tolist() if r > 0 else [], "wall_time": time.perf_counter() - t0}

    # ------------------------------------------------------------------ posterior
    def log_likelihood(self, theta: Any, threshold: Optional[float] = None) -> np.ndarray:
        """``log Φ((h - μ(θ)) / sqrt(σ²(θ) + σ_n²))`` under the fitted GP, shape (n,)."""
        from scipy.stats import norm

        if not hasattr(self, "gp_"):
            raise ValueError("BOLFI is not fitted: call infer() first")
        h = self.threshold_ if threshold is None else float(threshold)
        mu, sd = self.gp_.predict(np.asarray(theta, dtype=np.float64).reshape(-1, len(self.param_names)),
                                  return_std=True)
        return norm.logcdf((h - mu) / np.maximum(sd, 1e-12))

    def _log_target(self, x: np.ndarray) -> np.ndarray:
        lp = np.asarray(self.prior.log_prob(x), dtype=np.float64)
        out = np.full(x.shape[0], -np.inf)
        ok = np.isfinite(lp)
        if ok.any():
            out[ok] = lp[ok] + self.log_likelihood(x[ok])
        return out

    def _posterior(self, gp, theta: np.ndarray, threshold: Optional[float], offset: float, n: int,
                   history: list, seed: np.random.SeedSequence) -> Posterior:
        from scipy.stats import multivariate_normal

        d = len(self.param_names)
        rng = np.random.default_rng(seed)
        x1 = np.asarray(self.prior.sample(n, child_seed(seed, 1)), dtype=np.float64).reshape(n, d)
        if threshold is None:
            threshold = float(np.min(gp.predict(np.vstack([theta, x1]))))
        self.threshold_ = float(threshold)
        lw1 = self.log_likelihood(x1)             # prior draws: weight = likelihood
        w1 = np.exp(lw1 - lw1.max())
        w1 /= w1.sum()
        mu = w1 @ x1
        jitter = np.diag((1e-6 * (self.bounds[:, 1] - self.bounds[:, 0])) ** 2)
        cov = np.atleast_2d(np.cov(x1.T, aweights=w1)) * 2.0 + jitter
        # stage 2: defensive mixture 0.9 N(mu, 2 cov) + 0.1 prior
        from_prior = rng.random(n) >= 0.9
        x2 = rng.multivariate_normal(mu, cov, size=n)
        xp = np.asarray(self.prior.sample(n, child_seed(seed, 2)), dtype=np.float64).reshape(n, d)
        x2[from_prior] = xp[from_prior]
        lq_norm = multivariate_normal(mu, cov, allow_singular=True).logpdf(x2).reshape(-1)
        lp = np.asarray(self.prior.log_prob(x2), dtype=np.float64)
        lq = np.logaddexp(np.log(0.9) + lq_norm, np.log(0.1) + np.where(np.isfinite(lp), lp, -np.inf))
        lt = self._log_target(x2)
        lw = np.where(np.isfinite(lt), lt - lq, -np.inf)
        w = np.exp(lw - lw[np.isfinite(lw)].max())
        ess = float(w.sum() ** 2 / np.sum(w ** 2))
        info = {"n_simulations": int(theta.shape[0]), "threshold": self.threshold_,
                "tolerance": float(max(math.exp(self.threshold_) - offset, 0.0)), "log_offset": offset,
                "ess": ess, "noise_std": float(gp.noise_std()[0]),
                "evidence_theta": self.evidence_["theta"].tolist(),
                "evidence_distance": [float(v) if np.isfinite(v) else None for v in self.evidence_["distance"]]}
        names = list(getattr(self.summary, "names", []) or [])
        return Posterior(x2[w > 0], self.param_names, weights=w[w > 0], history=history,
                         summary_names=names if len(names) == self.s_obs.size else None,
                         message=f"simulation budget of {theta.shape[0]} used; importance ESS {ess:.0f} of {n}",
                         method=self.method, info=info)
