"""Replenishment SMC-ABC (Drovandi & Pettitt 2011), as in Sciope's ``ReplenishmentSMCABC`` with
its flaws fixed, resumable from a run folder.

Round 0 simulates ``n_particles`` prior draws (a distance with ``fit`` is fitted on their
summaries, once). Every later round:

1. sort the particles by distance; **drop** the worst ``alpha`` fraction (``n_drop =
   round(alpha N)``; Drovandi & Pettitt's α -- Sciope's α is the fraction *kept*);
2. tolerance ``ε_t`` = the largest kept distance;
3. replenish: copy ``n_drop`` kept particles drawn uniformly with replacement;
4. fit the random-walk kernel (``scale`` x covariance of the kept particles);
5. move each copy by MCMC-ABC: propose ``θ' ~ N(θ, Σ)``; outside the prior -> rejected
   unsimulated; otherwise with probability ``min(1, π(θ')/π(θ))`` simulate, and accept when the
   distance is ``<= ε_t``. First ``R_trial`` moves per copy; from their acceptance rate ``p̂``,
   ``R = ceil(log c / log(1 - p̂))`` moves in all (at most ``R_max``): each copy then moved with
   probability ``1 - c`` at least once. ``p̂ = 0`` gives no second stage -- the round's rate is
   then 0 and the run stops (Sciope 0.4 divided by ``log 1 = 0`` and crashed) -- and ``p̂ = 1``
   gives ``R = R_trial``;
6. the round's MCMC acceptance rate ``p_acc`` = accepted moves / attempted moves over both
   stages together (Sciope added the two stages' rates, which double counts and can exceed 1).

The run stops when ``p_acc < p_min`` (the population can barely move: the tolerance is as low as
this budget reaches), when ``ε_t <= target_tolerance``, after ``max_rounds`` rounds, or once the
simulation budget is spent. The result is an equally weighted :class:`Posterior`.

With ``run_dir`` every round is written to a :class:`~sciope_abs.inference.history.History`
(JSON + npz, no pickle); :meth:`ReplenishmentSMCABC.resume`, called on an object built from the
same simulator, prior, summary, distance and observation (checked against the stored
fingerprint), continues to the same answer an uninterrupted run gives: each round's randomness
comes from ``(seed, round, stage)`` only.
"""
from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from .._checks import check_positive_int, optional
from ..seeding import SeedLike, as_seed_sequence
from ._points import simulate_summaries
from ._stream import auto_batch_size, child_seed, compute_distances, fit_distance, prepare_distance
from .history import History, fingerprint
from .kernels import MultivariateNormalKernel
from .posterior import Posterior
from .rejection import _present, _Problem, _bind_problem
from .tasks import SimulateSummarise

__all__ = ["ReplenishmentSMCABC", "n_moves"]

log = logging.getLogger(__name__)


def n_moves(p_hat: float, c: float, r_trial: int, r_max: int) -> int:
    """Total MCMC moves per particle from the trial acceptance rate ``p_hat``:
    ``ceil(log c / log(1 - p_hat))`` within ``[r_trial, r_max]``; ``r_trial`` for ``p_hat`` 0 or 1
    (nothing moved in the trial: more moves would not help, and the run stops on its rate)."""
    if p_hat <= 0 or p_hat >= 1:
        return int(r_trial)
    return int(min(max(math.ceil(math.log(c) / math.log1p(-p_hat)), r_trial), r_max))


@dataclass
class _State:
    t_done: int = -1
    pop: Optional[dict] = None
    history: list = field(default_factory=list)
    n_sims: int = 0
    elapsed: float = 0.0
    distance_state: Optional[dict] = None


class ReplenishmentSMCABC(_Problem):
    """Replenishment SMC-ABC (equal weights, MCMC moves, adaptive number of moves).

    Parameters
    ----------
    simulator, prior, summary, distance, observed, n_traj, initial_state, client
        As in :class:`~sciope_abs.inference.ABCRejection`. The prior needs ``log_prob``.
    kernel : MultivariateNormalKernel, optional
        Random-walk proposal (default ``MultivariateNormalKernel(scale=2.0)``: twice the
        covariance of the kept particles). Cloned before fitting.
    """

    method = "replenishment"

    def __init__(self, simulator: Any, prior: Any, summary: Any, distance: Any = None, observed: Any = None, *,
                 n_traj: int = 1, initial_state: Any = None, client: Any = None,
                 kernel: Optional[MultivariateNormalKernel] = None) -> None:
        _bind_problem(self, simulator, prior, summary, distance, observed, n_traj, initial_state, client)
        self.kernel = kernel if kernel is not None else MultivariateNormalKernel(scale=2.0)

    @property
    def param_names(self) -> list[str]:
        return list(self.simulator.param_names)

    # ------------------------------------------------------------------ public API
    def infer(self, n_particles: int = 500, *, alpha: float = 0.5, R_trial: int = 5, c: float = 0.01,
              p_min: float = 0.05, R_max: int = 100, target_tolerance: Optional[float] = None,
              max_rounds: int = 100, max_simulations: Optional[int] = None, batch_size: Any = "auto",
              seed: SeedLike = None, run_dir: Any = None, progress: bool = False) -> Posterior:
        """Run replenishment SMC-ABC.

        Parameters
        ----------
        n_particles : int
            Population size N.
        alpha : float in (0, 1)
            Fraction of the population dropped (and replenished) per round.
        R_trial : int
            Trial MCMC moves per replenished particle.
        c : float in (0, 1)
            Allowed probability that a replenished particle is never moved.
        p_min : float in (0, 1)
            Stop when the round's MCMC acceptance rate falls below it.
        R_max : int
            Most moves per particle in a round.
        target_tolerance : float, optional
            Stop once the tolerance is at or below it.
        max_rounds : int
            Rounds at most (round 0, the prior, included).
        max_simulations : int, optional
            Simulation budget; the round that would exceed it is not started.
        batch_size : int or "auto"
            Proposals per Dask task.
        seed : int or SeedSequence
        run_dir : path, optional
            Run store; :meth:`resume` continues from it.
        progress : bool

        Returns
        -------
        Posterior
            Equal weights; ``history`` has one entry per round (tolerance, acceptance rate,
            moves, simulations).
        """
        settings = self._settings(n_particles, alpha, R_trial, c, p_min, R_max, target_tolerance, max_rounds,
                                  max_simulations, batch_size, seed)
        store = None
        if run_dir is not None:
            d = prepare_distance(self.distance)
            if callable(getattr(d, "fit", None)) and not callable(getattr(d, "get_state", None)):
                raise ValueError(f"distance {type(d).__name__} has fit() but no get_state()/set_state(): its "
                                 "fitted state cannot be written to run_dir")
            store = History.create(run_dir, self._store_config(settings), self.s_obs)
        return self._run(settings, _State(), store, progress)

    def resume(self, run_dir: Any, *, progress: bool = False) -> Posterior:
        """Continue the run stored in ``run_dir`` (or return its posterior if it finished).

        Build this object from the same simulator, prior, summary, distance, observation,
        ``n_traj``, initial state and kernel as the run; a one-line ValueError names the parts
        whose fingerprint differs. Nothing in ``run_dir`` is unpickled.
        """
        store = History.load(run_dir)
        if store.config.get("method") != self.method:
            raise ValueError(f"{run_dir} holds a {store.config.get('method')!r} run, not a replenishment SMC-ABC run")
        if store.done:
            return store.posterior()
        store.check_fingerprint(self._fingerprint())
        st = _State()
        t = store.last_round
        if t >= 0:
            st.t_done, st.pop = t, store.population(t).as_dict()
            st.history, st.n_sims = store.rounds, int(store.state["n_simulations"])
            st.elapsed, st.distance_state = float(store.state["elapsed"]), store.distance_state(t)
        return self._run(dict(store.config["settings"]), st, store, progress)

    # ------------------------------------------------------------------ settings and store
    @staticmethod
    def _settings(n: Any, alpha: Any, r_trial: Any, c: Any, p_min: Any, r_max: Any, target: Any, max_rounds: Any,
                  max_sims: Any, batch_size: Any, seed: SeedLike) -> dict:
        n = check_positive_int(n, "n_particles")
        if n < 4:
            raise ValueError("n_particles must be at least 4")
        a = float(alpha)
        if not 0 < a < 1:
            raise ValueError(f"alpha (the fraction dropped per round) must lie in (0, 1), got {alpha!r}")
        n_drop = int(round(a * n))
        if not 1 <= n_drop <= n - 2:
            raise ValueError(f"alpha={alpha} drops {n_drop} of {n} particles; it must drop 1 to {n - 2}")
        for name, v in (("c", c), ("p_min", p_min)):
            if not 0 < float(v) < 1:
                raise ValueError(f"{name} must lie in (0, 1), got {v!r}")
        r_trial = check_positive_int(r_trial, "R_trial")
        r_max = check_positive_int(r_max, "R_max")
        if r_max < r_trial:
            raise ValueError(f"R_max ({r_max}) must be >= R_trial ({r_trial})")
        if target is not None and not float(target) >= 0:
            raise ValueError(f"target_tolerance must be >= 0, got {target!r}")
        root = as_seed_sequence(seed)
        return {"n_particles": n, "alpha": a, "n_drop": n_drop, "R_trial": r_trial, "c": float(c),
                "p_min": float(p_min), "R_max": r_max, "target_tolerance": None if target is None else float(target),
                "max_rounds": check_positive_int(max_rounds, "max_rounds"),
                "max_simulations": optional(check_positive_int, max_sims, "max_simulations"),
                "batch_size": auto_batch_size(batch_size, n_drop), "seed_entropy": root.entropy,
                "seed_spawn_key": list(root.spawn_key)}

    def _fingerprint(self) -> dict[str, str]:
        return fingerprint({"simulator": self.simulator, "prior": self.prior, "summary": self.summary,
                            "distance": prepare_distance(self.distance), "observed": self.s_obs,
                            "n_traj": self.n_traj, "initial_state": self.initial_state, "kernel": self.kernel})

    def _summary_names(self) -> list[str]:
        names = list(getattr(self.summary, "names", []) or [])
        return names if len(names) == self.s_obs.size else [f"s{i}" for i in range(self.s_obs.size)]

    def _store_config(self, settings: dict) -> dict:
        return {"method": self.method, "settings": settings, "param_names": self.param_names,
                "summary_names": self._summary_names(), "n_traj": self.n_traj, "fingerprint": self._fingerprint()}

    # ------------------------------------------------------------------ the algorithm
    def _run(self, settings: dict, st: _State, store: Optional[History], progress: bool) -> Posterior:
        root = np.random.SeedSequence(settings["seed_entropy"], spawn_key=tuple(settings["seed_spawn_key"]))
        task = SimulateSummarise(self.simulator, self.summary, self.n_traj, self.initial_state)
        distance = prepare_distance(self.distance)
        if st.distance_state:
            distance.set_state(st.distance_state)
        t0 = time.perf_counter() - st.elapsed
        message = self._stop(st, settings)
        while message is None:
            t = st.t_done + 1
            rt0 = time.perf_counter()
            if t == 0:
                pop, entry = self._round0(task, distance, settings, child_seed(root, 0), progress)
            else:
                pop, entry = self._round(task, distance, _present(st.pop, "the population"), settings,
                                         child_seed(root, t), progress)
            entry.update(round=t, wall_time=time.perf_counter() - rt0)
            st.t_done, st.pop, st.n_sims = t, pop, st.n_sims + entry["n_simulations"]
            st.history.append(entry)
            log.info("replenishment round %d: tolerance %.4g, acceptance %.3g, %d simulations", t,
                     entry["tolerance"], entry["acceptance_rate"] if entry["acceptance_rate"] is not None else 1.0,
                     entry["n_simulations"])
            if store is not None:
                store.append(t, pop, distance.get_state() if hasattr(distance, "get_state") else {}, np.zeros(0),
                             st.history, st.n_sims, time.perf_counter() - t0, entry["tolerance"])
            message = self._stop(st, settings)
        return self._finish(st, message, store, time.perf_counter() - t0)

    def _stop(self, st: _State, s: dict) -> Optional[str]:
        if st.t_done < 0:
            return None
        h = st.history[-1]
        rate = h["acceptance_rate"]
        if s["target_tolerance"] is not None and h["tolerance"] <= s["target_tolerance"]:
            return f"target tolerance {s['target_tolerance']:g} reached"
        if rate is not None and rate < s["p_min"]:
            return f"MCMC acceptance rate {rate:.3g} fell below p_min={s['p_min']:g}"
        if st.t_done + 1 >= s["max_rounds"]:
            return f"max_rounds={s['max_rounds']} reached"
        if s["max_simulations"] is not None:
            worst = s["n_drop"] * s["R_max"]
            if st.n_sims + worst > s["max_simulations"]:
                return (f"simulation budget: {st.n_sims} used, the next round may need up to {worst} more "
                        f"(max_simulations={s['max_simulations']})")
        return None

    def _simulate(self, task: SimulateSummarise, distance: Any, theta: np.ndarray, seed: np.random.SeedSequence,
                  settings: dict, progress: bool, desc: str) -> tuple[np.ndarray, np.ndarray]:
        s = simulate_summaries(task, theta, seed, batch_size=settings["batch_size"], client=self.client,
                               progress=progress, desc=desc)
        if s.shape[1] != self.s_obs.size:
            raise ValueError(f"the summary gives {s.shape[1]} features for simulations but the observed summary "
                             f"vector has {self.s_obs.size}")
        return s, compute_distances(distance, self.s_obs, s)

    def _round0(self, task, distance, settings: dict, seed, progress: bool) -> tuple[dict, dict]:
        n = settings["n_particles"]
        theta = np.asarray(self.prior.sample(n, child_seed(seed, 0)), dtype=np.float64).reshape(n, -1)
        s = simulate_summaries(task, theta, child_seed(seed, 1), batch_size=settings["batch_size"],
                               client=self.client, progress=progress, desc="replenishment round 0")
        fit_distance(distance, s)
        d = compute_distances(distance, self.s_obs, s)
        if np.isfinite(d).sum() < n - settings["n_drop"]:
            raise ValueError(f"only {int(np.isfinite(d).sum())} of {n} prior simulations gave finite distances; "
                             f"replenishment keeps {n - settings['n_drop']} per round (check the simulator/summary)")
        pop = {"particles": theta, "weights": np.full(n, 1.0 / n), "distances": d, "summaries": s}
        return pop, {"tolerance": float("inf"), "acceptance_rate": None, "n_simulations": n, "n_moves": 0,
                     "n_attempted": 0, "n_accepted": 0, "n_failed": int((~np.isfinite(d)).sum())}

    def _round(self, task, distance, prev: dict, settings: dict, seed, progress: bool) -> tuple[dict, dict]:
        n, n_drop = settings["n_particles"], settings["n_drop"]
        order = np.argsort(prev["distances"], kind="stable")
        keep = order[: n - n_drop]
        eps = float(prev["distances"][keep[-1]])
        rng = np.random.default_rng(child_seed(seed, 0))
        src = keep[rng.integers(0, keep.size, n_drop)]
        theta = np.vstack([prev["particles"][keep], prev["particles"][src]])
        dist = np.r_[prev["distances"][keep], prev["distances"][src]]
        summ = np.vstack([prev["summaries"][keep], prev["summaries"][src]])
        kern = copy.deepcopy(self.kernel).fit(prev["particles"][keep])
        moving = np.arange(n - n_drop, n)
        c = {"attempted": 0, "accepted": 0, "sims": 0, "failed": 0}
        r_trial, r_max = settings["R_trial"], settings["R_max"]
        for r in range(r_trial):
            self._move(task, distance, kern, theta, dist, summ, moving, eps, child_seed(seed, 1, r), settings,
                       progress, c)
        p_hat = c["accepted"] / max(c["attempted"], 1)
        R = n_moves(p_hat, settings["c"], r_trial, r_max)
        for r in range(r_trial, R):
            self._move(task, distance, kern, theta, dist, summ, moving, eps, child_seed(seed, 1, r), settings,
                       progress, c)
        rate = c["accepted"] / max(c["attempted"], 1)
        pop = {"particles": theta, "weights": np.full(n, 1.0 / n), "distances": dist, "summaries": summ}
        return pop, {"tolerance": eps, "acceptance_rate": rate, "trial_acceptance_rate": p_hat,
                     "n_moves": int(R), "n_attempted": c["attempted"], "n_accepted": c["accepted"],
                     "n_simulations": c["sims"], "n_failed": c["failed"]}

    def _move(self, task, distance, kern, theta: np.ndarray, dist: np.ndarray, summ: np.ndarray,
              moving: np.ndarray, eps: float, seed, settings: dict, progress: bool, c: dict) -> None:
        """One MCMC-ABC move of every particle in ``moving`` (in place)."""
        rng = np.random.default_rng(child_seed(seed, 0))
        cur = theta[moving]
        prop = kern.perturb(cur, rng)
        lp_new = np.asarray(self.prior.log_prob(prop), dtype=np.float64)
        lp_old = np.asarray(self.prior.log_prob(cur), dtype=np.float64)
        u = rng.random(moving.size)
        ok = np.isfinite(lp_new) & (np.log(np.maximum(u, 1e-300)) < lp_new - lp_old)
        c["attempted"] += int(moving.size)
        if not ok.any():
            return
        idx = moving[ok]
        s, d = self._simulate(task, distance, prop[ok], child_seed(seed, 1), settings, progress, "replenishment")
        c["sims"] += int(idx.size)
        c["failed"] += int((~np.isfinite(d)).sum())
        acc = d <= eps
        c["accepted"] += int(acc.sum())
        theta[idx[acc]], dist[idx[acc]], summ[idx[acc]] = prop[ok][acc], d[acc], s[acc]

    def _finish(self, st: _State, message: str, store: Optional[History], elapsed: float) -> Posterior:
        pop = _present(st.pop, "the population")
        tol = float(st.history[-1]["tolerance"])
        info = {"n_simulations": st.n_sims, "tolerance": tol, "n_rounds": len(st.history), "n_traj": self.n_traj}
        post = Posterior(pop["particles"], self.param_names, weights=pop["weights"], distances=pop["distances"],
                         summaries=pop["summaries"], summary_names=self._summary_names(), observed=self.s_obs,
                         history=st.history, message=message, method=self.method, info=info)
        if store is not None:
            store.finish(post, st.history, st.n_sims, elapsed, message)
            post.run_store = store
        return post
