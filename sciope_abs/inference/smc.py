"""Population Monte Carlo ABC (SMC-ABC) with an adaptive tolerance schedule, resumable.

Round 0 draws ``n_particles`` proposals from the prior (every one with finite summaries is
accepted).  Round ``t >= 1``:

* tolerance ``eps_t`` = the ``quantile`` of round ``t-1``'s accepted distances (never below
  ``target_tolerance``);
* proposals: an ancestor drawn by weight, perturbed with a multivariate normal whose covariance is
  twice the weighted covariance of the population (jittered if degenerate); proposals outside the
  prior's support are redrawn (not simulated);
* accepted while ``distance <= eps_t`` until ``n_particles`` are accepted;
* importance weights ``w_i ∝ prior(θ_i) / Σ_j w_j K(θ_i | θ_j)``, returned in the Posterior;
* a distance with ``fit`` (``Adaptive``) is refitted on all summaries simulated in the round.

Stopping rules, checked after every round (so the run always ends): the tolerance reached
``target_tolerance``; the acceptance rate fell below ``min_acceptance_rate`` (a round is cut off
once it has used ``n_particles / min_acceptance_rate`` simulations); ``max_rounds``;
``max_simulations``; ``max_time``.  A round cut off before completing is dropped and the last
complete population is returned.

Each round's randomness comes from ``(seed, round, batch)`` only; with ``run_dir`` the state is
written after every round and :meth:`SMCABC.resume` continues an interrupted run to the same
answer an uninterrupted run gives.
"""
from __future__ import annotations

import json
import math
import os
import pickle
import time
import warnings
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..seeding import SeedLike, as_seed_sequence
from ._stream import (ABCWarning, auto_batch_size, check_prior, child_seed, compute_distances, fit_distance,
                      observed_summary, prepare_distance, stream_batches)
from .kernels import MultivariateNormalKernel
from .posterior import Posterior
from .rejection import _check_positive_int, _check_time
from .tasks import ProposalBatch, SimulateSummarise

__all__ = ["SMCABC"]

#: summaries kept per round for refitting an adaptive distance (the first ones, in proposal order)
MAX_FIT_ROWS = 20_000
#: redraws of a perturbed proposal that falls outside the prior's support
MAX_SUPPORT_TRIES = 1000

_CONFIG = "config.pkl"
_STATE = "state.json"
_POSTERIOR = "posterior.npz"


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(a - m), axis=axis))


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class SMCABC:
    """Sequential Monte Carlo ABC (ABC population Monte Carlo).

    Parameters
    ----------
    simulator, prior, summary, distance, observed, n_traj, initial_state, client
        As in :class:`~sciope_abs.inference.ABCRejection`.  The prior needs ``log_prob``.
    kernel : MultivariateNormalKernel, optional
        Perturbation kernel (default: covariance = 2 x weighted population covariance).
    """

    method = "smc"

    def __init__(self, simulator: Any, prior: Any, summary: Any, distance: Any = None, observed: Any = None, *,
                 n_traj: int = 1, initial_state: Any = None, client: Any = None,
                 kernel: Optional[MultivariateNormalKernel] = None) -> None:
        self.simulator = simulator
        self.prior = check_prior(prior, simulator)
        if not callable(summary):
            raise ValueError(f"summary must be callable on traces (n, r, S, T), got {summary!r}")
        self.summary = summary
        self.distance = distance
        self.observed = observed
        self.n_traj = _check_positive_int(n_traj, "n_traj", allow_none=False)
        self.initial_state = initial_state
        self.client = client
        self.kernel = kernel if kernel is not None else MultivariateNormalKernel()
        self.s_obs = observed_summary(observed, simulator, summary)

    @property
    def param_names(self) -> list[str]:
        return list(self.simulator.param_names)

    # ------------------------------------------------------------------ public API
    def infer(self, n_particles: int = 500, *, quantile: float = 0.5, target_tolerance: Optional[float] = None,
              min_acceptance_rate: Optional[float] = 0.01, max_rounds: int = 10,
              max_simulations: Optional[int] = None, max_time: Optional[float] = None,
              batch_size: Any = "auto", seed: SeedLike = None, run_dir: Any = None,
              progress: bool = False) -> Posterior:
        """Run SMC-ABC.

        Parameters
        ----------
        n_particles : int
            Population size (accepted particles per round).
        quantile : float in (0, 1)
            Next tolerance = this quantile of the current round's accepted distances.
        target_tolerance : float, optional
            Stop once a round's tolerance is at or below it (tolerances never go below it).
        min_acceptance_rate : float in (0, 1], optional
            Stop when a round's acceptance rate falls below it.
        max_rounds : int
            Rounds at most, round 0 (the prior) included.
        max_simulations : int, optional
            Simulation budget over all rounds.
        max_time : float, optional
            Wall-clock limit in seconds.
        batch_size : int or "auto"
            Proposals per Dask task.
        seed : int or SeedSequence
        run_dir : path, optional
            Directory for the state after each round (and the final ``posterior.npz``).
        progress : bool

        Returns
        -------
        Posterior
            Weighted particles of the last complete round, with the per-round history.
        """
        n_particles = _check_positive_int(n_particles, "n_particles", allow_none=False)
        if n_particles < 2:
            raise ValueError("n_particles must be at least 2 (the kernel needs a population)")
        q = float(quantile)
        if not 0 < q < 1:
            raise ValueError(f"quantile must lie in (0, 1), got {quantile!r}")
        if target_tolerance is not None and not (float(target_tolerance) >= 0):
            raise ValueError(f"target_tolerance must be >= 0, got {target_tolerance!r}")
        if min_acceptance_rate is not None and not 0 < float(min_acceptance_rate) <= 1:
            raise ValueError(f"min_acceptance_rate must lie in (0, 1], got {min_acceptance_rate!r}")
        max_rounds = _check_positive_int(max_rounds, "max_rounds", allow_none=False)
        max_simulations = _check_positive_int(max_simulations, "max_simulations")
        max_time = _check_time(max_time)
        if min_acceptance_rate is None and max_simulations is None and max_time is None:
            raise ValueError("SMCABC needs a bound on each round: give min_acceptance_rate, max_simulations "
                             "or max_time")
        bs = auto_batch_size(batch_size, n_particles)
        root = as_seed_sequence(seed)
        settings = {"n_particles": n_particles, "quantile": q,
                    "target_tolerance": None if target_tolerance is None else float(target_tolerance),
                    "min_acceptance_rate": None if min_acceptance_rate is None else float(min_acceptance_rate),
                    "max_rounds": max_rounds, "max_simulations": max_simulations, "max_time": max_time,
                    "batch_size": bs, "seed_entropy": root.entropy, "seed_spawn_key": list(root.spawn_key)}
        rd = None
        if run_dir is not None:
            rd = Path(run_dir)
            if (rd / _STATE).exists() or (rd / _CONFIG).exists():
                raise ValueError(f"run_dir {str(rd)!r} already holds an SMC-ABC run; continue it with "
                                 "SMCABC.resume(run_dir) or choose an empty directory")
            rd.mkdir(parents=True, exist_ok=True)
            config = {"simulator": self.simulator, "prior": self.prior, "summary": self.summary,
                      "distance": self.distance, "observed": self.observed, "n_traj": self.n_traj,
                      "initial_state": self.initial_state, "kernel": self.kernel, "settings": settings}
            try:
                blob = pickle.dumps(config)
            except Exception as exc:
                raise ValueError(f"cannot save the run to run_dir (simulator, prior, summary and distance must "
                                 f"be picklable): {exc}") from None
            _atomic_write_bytes(rd / _CONFIG, blob)
        return self._run(settings, state=None, run_dir=rd, progress=progress)

    @classmethod
    def resume(cls, run_dir: Any, *, client: Any = None, progress: bool = False) -> Posterior:
        """Continue the run saved in ``run_dir`` (or return its posterior if it finished)."""
        rd = Path(run_dir)
        if not (rd / _CONFIG).exists():
            raise FileNotFoundError(f"no SMC-ABC run in {str(rd)!r} (missing {_CONFIG})")
        if (rd / _STATE).exists():
            st = json.loads((rd / _STATE).read_text())
            if st.get("status") == "done" and (rd / _POSTERIOR).exists():
                return Posterior.load(rd / _POSTERIOR)
        with open(rd / _CONFIG, "rb") as fh:
            config = pickle.load(fh)
        self = cls(config["simulator"], config["prior"], config["summary"], config["distance"], config["observed"],
                   n_traj=config["n_traj"], initial_state=config["initial_state"], client=client,
                   kernel=config["kernel"])
        state = cls._load_state(rd)
        return self._run(config["settings"], state=state, run_dir=rd, progress=progress)

    # ------------------------------------------------------------------ state on disk
    @staticmethod
    def _load_state(rd: Path) -> Optional[dict]:
        if not (rd / _STATE).exists():
            return None  # crashed inside round 0: start over (same seed -> same answer)
        st = json.loads((rd / _STATE).read_text())
        t = int(st["round"])
        with np.load(rd / f"round_{t:03d}.npz") as z:
            pop = {k: z[k] for k in ("particles", "weights", "distances", "summaries")}
        with open(rd / f"distance_{t:03d}.pkl", "rb") as fh:
            distance = pickle.load(fh)
        return {"round": t, "pop": pop, "distance": distance, "history": st["history"],
                "n_simulations": int(st["n_simulations"]), "elapsed": float(st["elapsed"]),
                "tolerance": st["tolerance"]}

    @staticmethod
    def _save_state(rd: Path, t: int, pop: dict, distance: Any, history: list, n_sims: int, elapsed: float,
                    tolerance: float, status: str = "running", message: str = "") -> None:
        tmp = rd / f"round_{t:03d}.tmp.npz"
        np.savez(tmp, **pop)
        os.replace(tmp, rd / f"round_{t:03d}.npz")
        _atomic_write_bytes(rd / f"distance_{t:03d}.pkl", pickle.dumps(distance))
        st = {"round": t, "history": history, "n_simulations": n_sims, "elapsed": elapsed,
              "tolerance": tolerance, "status": status, "message": message}
        _atomic_write_bytes(rd / _STATE, json.dumps(st, indent=1).encode())

    # ------------------------------------------------------------------ the algorithm
    def _run(self, settings: dict, state: Optional[dict], run_dir: Optional[Path], progress: bool) -> Posterior:
        n = settings["n_particles"]
        q = settings["quantile"]
        target = settings["target_tolerance"]
        min_rate = settings["min_acceptance_rate"]
        max_rounds = settings["max_rounds"]
        max_sims = settings["max_simulations"]
        max_time = settings["max_time"]
        bs = settings["batch_size"]
        root = np.random.SeedSequence(settings["seed_entropy"], spawn_key=tuple(settings["seed_spawn_key"]))
        prior = self.prior
        task = SimulateSummarise(self.simulator, self.summary, self.n_traj, self.initial_state)
        F = self.s_obs.size

        if state is None:
            t_done, pop, distance = -1, None, prepare_distance(self.distance)
            history: list[dict] = []
            n_sims_total, elapsed_before, tol_done = 0, 0.0, float("inf")
        else:
            t_done, pop, distance = state["round"], state["pop"], state["distance"]
            history = list(state["history"])
            n_sims_total, elapsed_before, tol_done = state["n_simulations"], state["elapsed"], state["tolerance"]
        t_start = time.perf_counter() - elapsed_before
        deadline = None if max_time is None else t_start + max_time

        stop_message = None
        if pop is not None:
            stop_message = self._stop_rule(history[-1], t_done, settings, n_sims_total, deadline)

        while stop_message is None:
            t = t_done + 1
            round_t0 = time.perf_counter()
            # ---- tolerance and proposal distribution of this round
            if t == 0:
                eps = float("inf")
            else:
                d_prev = compute_distances(distance, self.s_obs, pop["summaries"])
                eps = float(np.quantile(d_prev[np.isfinite(d_prev)], q))
                if target is not None:
                    eps = max(eps, target)
                kern = self.kernel.fit(pop["particles"], pop["weights"])
            rs = child_seed(root, t)
            counts = {"n_acc": 0, "n_sims": 0, "n_nan": 0, "n_outside": 0, "n_fit": 0}
            acc: dict[str, list] = {"theta": [], "d": [], "s": []}
            fit_rows: list[np.ndarray] = []

            def propose(k: int, m: int, t=t) -> ProposalBatch:
                if t == 0:
                    theta = np.asarray(prior.sample(m, child_seed(rs, k, 0)), dtype=np.float64).reshape(m, -1)
                else:
                    theta = self._perturbed(pop, kern, m, np.random.default_rng(child_seed(rs, k, 0)), counts)
                return ProposalBatch(k, theta, child_seed(rs, k, 1))

            def consume(batch: ProposalBatch, s: np.ndarray, eps=eps) -> bool:
                if s.shape[1] != F:
                    raise ValueError(f"the summary gives {s.shape[1]} features for simulations but the observed "
                                     f"summary vector has {F}")
                finite = np.isfinite(s).all(axis=1)
                counts["n_sims"] += s.shape[0]
                counts["n_nan"] += int((~finite).sum())
                if counts["n_fit"] < MAX_FIT_ROWS:
                    fit_rows.append(s[: MAX_FIT_ROWS - counts["n_fit"]])
                    counts["n_fit"] += fit_rows[-1].shape[0]
                if t == 0:
                    d = np.full(s.shape[0], np.nan)   # computed after the distance is fitted
                    ok = finite
                else:
                    d = compute_distances(distance, self.s_obs, s)
                    ok = d <= eps
                need = n - counts["n_acc"]
                idx = np.flatnonzero(ok)[:need]
                counts["n_acc"] += int(ok.sum())
                acc["theta"].append(batch.theta[idx])
                acc["d"].append(d[idx])
                acc["s"].append(s[idx])
                return counts["n_acc"] >= n

            cap = None
            if min_rate is not None:
                cap = math.ceil(n / min_rate)
            if max_sims is not None:
                left = max_sims - n_sims_total
                cap = left if cap is None else min(cap, left)
            res = stream_batches(task, propose, consume, batch_size=bs, max_proposals=cap, deadline=deadline,
                                 client=self.client, progress=progress, desc=f"smc-abc-round-{t}")
            n_sims_total += counts["n_sims"]
            rate = counts["n_acc"] / max(counts["n_sims"], 1)
            if res.reason != "target":
                stop_message = self._cut_message(t, res.reason, counts, n, rate, settings, n_sims_total, eps)
                if pop is None:
                    # even round 0 failed: return what it has (maybe nothing), equally weighted
                    theta = np.concatenate(acc["theta"]) if acc["theta"] else np.zeros((0, prior.ndim))
                    s_acc = np.concatenate(acc["s"]) if acc["s"] else np.zeros((0, F))
                    if len(theta):
                        fit_distance(distance, np.concatenate(fit_rows))
                    d_acc = compute_distances(distance, self.s_obs, s_acc) if len(theta) else np.zeros(0)
                    pop = {"particles": theta, "weights": np.full(len(theta), 1.0 / max(len(theta), 1)),
                           "distances": d_acc, "summaries": s_acc}
                    tol_done = float("inf")
                history.append(self._history_entry(t, eps, rate, None, counts, time.perf_counter() - round_t0,
                                                   complete=False))
                break
            theta = np.concatenate(acc["theta"])[:n]
            d_acc = np.concatenate(acc["d"])[:n]
            s_acc = np.concatenate(acc["s"])[:n]
            if t == 0:
                w = np.full(n, 1.0 / n)
            else:
                w = self._weights(theta, pop, kern)
            # adapt the distance to this round's simulations (no-op for fixed distances)
            fit_distance(distance, np.concatenate(fit_rows))
            if t == 0:
                d_acc = compute_distances(distance, self.s_obs, s_acc)
            pop = {"particles": theta, "weights": w, "distances": d_acc, "summaries": s_acc}
            t_done, tol_done = t, eps
            entry = self._history_entry(t, eps, rate, float(1.0 / np.sum(w ** 2)), counts,
                                        time.perf_counter() - round_t0, complete=True)
            history.append(entry)
            stop_message = self._stop_rule(entry, t, settings, n_sims_total, deadline)
            if run_dir is not None:
                self._save_state(run_dir, t, pop, distance, history, n_sims_total,
                                 time.perf_counter() - t_start, tol_done)

        complete_rounds = [h for h in history if h.get("complete", True)]
        ended_early = history and not history[-1].get("complete", True)
        if ended_early:
            warnings.warn(stop_message, ABCWarning, stacklevel=3)
        info = {"n_simulations": n_sims_total, "tolerance": tol_done, "n_rounds": len(complete_rounds),
                "batch_size": bs, "seed_entropy": str(settings["seed_entropy"]), "n_traj": self.n_traj,
                "settings": {k: v for k, v in settings.items() if k not in ("seed_entropy",)}}
        post = Posterior(pop["particles"], self.param_names, weights=pop["weights"] if len(pop["particles"]) else None,
                         distances=pop["distances"], summaries=pop["summaries"],
                         summary_names=self._summary_names(F), observed=self.s_obs, history=history,
                         message=stop_message, method=self.method, info=info)
        post.simulator = self.simulator  # for Posterior.check_fidelity (not saved)
        if run_dir is not None:
            post.save(run_dir / _POSTERIOR)
            st = json.loads((run_dir / _STATE).read_text()) if (run_dir / _STATE).exists() else {}
            st.update({"status": "done", "message": stop_message, "history": history,
                       "n_simulations": n_sims_total})
            st.setdefault("round", t_done)
            st.setdefault("elapsed", time.perf_counter() - t_start)
            st.setdefault("tolerance", tol_done)
            _atomic_write_bytes(run_dir / _STATE, json.dumps(st, indent=1).encode())
        return post

    # ------------------------------------------------------------------ pieces
    def _summary_names(self, F: int) -> list[str]:
        names = list(getattr(self.summary, "names", []) or [])
        return names if len(names) == F else [f"s{i}" for i in range(F)]

    def _perturbed(self, pop: dict, kern: MultivariateNormalKernel, m: int, rng: np.random.Generator,
                   counts: dict) -> np.ndarray:
        """``m`` proposals: ancestors by weight, perturbed, redrawn while outside the prior."""
        P, w = pop["particles"], pop["weights"]
        out = np.empty((m, P.shape[1]))
        todo = np.arange(m)
        for _ in range(MAX_SUPPORT_TRIES):
            anc = rng.choice(P.shape[0], size=todo.size, p=w)
            cand = kern.perturb(P[anc], rng)
            inside = np.isfinite(self.prior.log_prob(cand))
            out[todo[inside]] = cand[inside]
            counts["n_outside"] += int((~inside).sum())
            todo = todo[~inside]
            if todo.size == 0:
                return out
        raise ValueError(f"the perturbation kernel left the prior's support {MAX_SUPPORT_TRIES} times in a row; "
                         "the population sits outside the prior?")

    def _weights(self, theta: np.ndarray, pop: dict, kern: MultivariateNormalKernel) -> np.ndarray:
        """Normalised importance weights prior(θ_i) / Σ_j w_j K(θ_i | θ_j)."""
        log_prior = np.asarray(self.prior.log_prob(theta), dtype=np.float64)
        logk = kern.log_density(theta, pop["particles"])
        with np.errstate(divide="ignore"):
            log_mix = _logsumexp(logk + np.log(pop["weights"])[None, :], axis=1)
        logw = log_prior - log_mix
        logw -= np.max(logw)
        w = np.exp(logw)
        return w / w.sum()

    @staticmethod
    def _history_entry(t: int, eps: float, rate: float, ess: Optional[float], counts: dict, wall: float,
                       complete: bool) -> dict:
        return {"round": t, "tolerance": eps, "acceptance_rate": rate, "ess": ess,
                "n_simulations": counts["n_sims"], "n_accepted": min(counts["n_acc"], 10 ** 18),
                "n_nan": counts["n_nan"], "n_outside_prior": counts["n_outside"], "wall_time": wall,
                "complete": complete}

    @staticmethod
    def _stop_rule(entry: dict, t: int, settings: dict, n_sims_total: int, deadline: Optional[float]) -> Optional[str]:
        target, min_rate = settings["target_tolerance"], settings["min_acceptance_rate"]
        tol = entry["tolerance"]
        if target is not None and tol <= target:
            return f"reached the target tolerance {target:g} in round {t} (tolerance {tol:g})"
        if min_rate is not None and t > 0 and entry["acceptance_rate"] < min_rate:
            return (f"acceptance rate {entry['acceptance_rate']:.3g} in round {t} fell below "
                    f"min_acceptance_rate {min_rate:g}")
        if t + 1 >= settings["max_rounds"]:
            return f"reached max_rounds={settings['max_rounds']} (final tolerance {tol:g})"
        if settings["max_simulations"] is not None and n_sims_total >= settings["max_simulations"]:
            return f"used the simulation budget of {settings['max_simulations']} simulations after round {t}"
        if deadline is not None and time.perf_counter() > deadline:
            return f"reached the wall-clock limit of {settings['max_time']:g} s after round {t}"
        return None

    @staticmethod
    def _cut_message(t: int, reason: str, counts: dict, n: int, rate: float, settings: dict, n_sims_total: int,
                     eps: float) -> str:
        got = f"round {t} (tolerance {eps:g}) accepted {min(counts['n_acc'], n)} of {n} particles " \
              f"in {counts['n_sims']} simulations"
        if reason == "time":
            why = f"the wall-clock limit of {settings['max_time']:g} s"
        elif settings["max_simulations"] is not None and n_sims_total >= settings["max_simulations"]:
            why = f"the simulation budget of {settings['max_simulations']} simulations"
        else:
            why = (f"the acceptance rate fell below min_acceptance_rate {settings['min_acceptance_rate']:g} "
                   f"(rate {rate:.3g})")
        keep = "returning the last complete round" if t > 0 else "returning what round 0 accepted"
        return f"stopped: {why}; {got}; {keep}"
