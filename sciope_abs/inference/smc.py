"""Population Monte Carlo ABC (SMC-ABC) with an adaptive tolerance schedule, resumable.

Round 0 draws ``n_particles`` proposals from the prior (every one with finite summaries is
accepted).  Round ``t >= 1``:

* tolerance ``eps_t`` from the :class:`~sciope_abs.inference.epsilon.Epsilon` schedule (default:
  the ``quantile`` of round ``t-1``'s accepted distances), never below ``target_tolerance``;
* proposals: an ancestor drawn by weight, perturbed with a multivariate normal whose covariance is
  twice the weighted covariance of the population (jittered if degenerate); proposals outside the
  prior's support are redrawn (not simulated);
* accepted while ``distance <= eps_t`` until ``n_particles`` are accepted (the batch that fills
  the population may hold more acceptances: they are simulated, counted in ``n_simulations``,
  but not accepted; ``acceptance_rate = n_accepted / n_evaluated`` with ``n_evaluated`` the
  simulations up to the one that filled the population);
* importance weights ``w_i ∝ prior(θ_i) / Σ_j w_j K(θ_i | θ_j)``, returned in the Posterior;
* a distance with ``fit`` (``Adaptive``) is refitted on all summaries simulated in the round.

Stopping rules, checked after every round (so the run always ends): the tolerance reached
``target_tolerance``; the acceptance rate fell below ``min_acceptance_rate`` (a round is cut off
once it has used ``n_particles / min_acceptance_rate`` simulations); ``max_rounds``;
``max_simulations``; ``max_time``.  A round cut off before completing is dropped and the last
complete population is returned; its simulations are reported as ``n_simulations_discarded``
(``n_simulations`` = ``n_simulations_used`` + ``n_simulations_discarded``).

Each round's randomness comes from ``(seed, round, batch)`` only; with ``run_dir`` every round
is written to a :class:`~sciope_abs.inference.history.History` (JSON + npz, no pickle) and
:meth:`SMCABC.resume`, called on an ``SMCABC`` built from the same simulator, prior, summary,
distance and observation (checked against the stored fingerprint), continues an interrupted run
to the same answer an uninterrupted run gives.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from .._checks import check_positive_int, optional
from ..seeding import SeedLike, as_seed_sequence
from ._stream import (ABCWarning, LazyBatch, RoundStream, auto_batch_size, child_seed, compute_distances,
                      expected_need, fit_distance, preferred_batch_size, prepare_distance)
from .config import SMCConfig
from .epsilon import Epsilon, QuantileEpsilon, epsilon_spec, get_epsilon
from .history import History, fingerprint
from .kernels import MultivariateNormalKernel, clone_kernel
from .posterior import Posterior
from .rejection import _present, _Problem, _bind_problem, _check_time
from .round import MAX_FIT_ROWS, Round, one_blas_thread  # noqa: F401  (MAX_FIT_ROWS: kept importable from here)
from .tasks import ProposalBatch, SimulateSummarise

__all__ = ["SMCABC"]

#: redraws of a perturbed proposal that falls outside the prior's support
MAX_SUPPORT_TRIES = 1000
#: kernel values held at once by the importance-weight computation (2**22 float64 = 32 MiB)
MAX_WEIGHT_CELLS = 2 ** 22
#: the defaults of :meth:`SMCABC.infer`'s signature (the one definition: :class:`SMCConfig`)
_DEFAULTS = SMCConfig()


@dataclass(frozen=True, eq=False)
class Perturbation:
    """Round ``t``'s proposal mechanism, sent with the tasks: ancestors drawn by weight from the
    previous population, perturbed by the fitted kernel, redrawn while outside the prior.

    Called on a :class:`~sciope_abs.inference._stream.LazyBatch` it draws that batch's proposals
    from the batch's ``draw_seed`` (on a worker, so the client only consumes results).
    """

    particles: np.ndarray
    weights: np.ndarray
    kernel: MultivariateNormalKernel
    prior: Any

    def __call__(self, batch: LazyBatch) -> tuple[np.ndarray, int]:
        return self.draw(batch.m, np.random.default_rng(batch.draw_seed))

    def draw(self, m: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """``m`` proposals (m, d) and the number of redraws outside the prior."""
        P, w = self.particles, self.weights
        out = np.empty((m, P.shape[1]))
        todo = np.arange(m)
        n_outside = 0
        for _ in range(MAX_SUPPORT_TRIES):
            anc = rng.choice(P.shape[0], size=todo.size, p=w)
            cand = self.kernel.perturb(P[anc], rng)
            inside = np.isfinite(self.prior.log_prob(cand))
            out[todo[inside]] = cand[inside]
            n_outside += int((~inside).sum())
            todo = todo[~inside]
            if todo.size == 0:
                return out, n_outside
        raise ValueError(f"the perturbation kernel left the prior's support {MAX_SUPPORT_TRIES} times in a row; "
                         "the population sits outside the prior?")


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(a - m), axis=axis))


@dataclass
class _RunState:
    """The state carried from round to round (what a History stores)."""

    t_done: int = -1
    pop: Optional[dict] = None
    history: list = field(default_factory=list)
    n_sims: int = 0
    tol: float = float("inf")
    sim_d: Optional[np.ndarray] = None
    sim_theta: Optional[np.ndarray] = None    # the proposals behind sim_d (m, d) ...
    sim_logq: Optional[np.ndarray] = None     # ... and their log proposal density (m,)
    elapsed: float = 0.0
    distance_state: Optional[dict] = None
    n_unprocessed: int = 0                    # simulated after their round had filled (never used)
    engine: dict = field(default_factory=dict)  # what the tasks did (RoundStream.profile())


class SMCABC(_Problem):
    """Sequential Monte Carlo ABC (ABC population Monte Carlo).

    Parameters
    ----------
    simulator, prior, summary, distance, observed, n_traj, initial_state, client
        As in :class:`~sciope_abs.inference.ABCRejection`.  The prior needs ``log_prob``.
    kernel : MultivariateNormalKernel, optional
        Perturbation kernel (default: covariance = 2 x weighted population covariance;
        ``MultivariateNormalKernel("silverman")``: Silverman's rule, pyABC's default, fewer
        simulations per tolerance and a smaller ESS).  It is cloned before fitting: the object
        passed in is never changed.
    """

    method = "smc"

    def __init__(self, simulator: Any, prior: Any, summary: Any, distance: Any = None, observed: Any = None, *,
                 n_traj: int = 1, initial_state: Any = None, client: Any = None,
                 kernel: Optional[MultivariateNormalKernel] = None) -> None:
        _bind_problem(self, simulator, prior, summary, distance, observed, n_traj, initial_state, client)
        self.kernel = kernel if kernel is not None else MultivariateNormalKernel()

    @property
    def param_names(self) -> list[str]:
        return list(self.simulator.param_names)

    # ------------------------------------------------------------------ public API
    def infer(self, n_particles: int = _DEFAULTS.n_particles, *, quantile: float = _DEFAULTS.quantile,
              target_tolerance: Optional[float] = _DEFAULTS.target_tolerance,
              min_acceptance_rate: Optional[float] = _DEFAULTS.min_acceptance_rate,
              max_rounds: int = _DEFAULTS.max_rounds, max_simulations: Optional[int] = _DEFAULTS.max_simulations,
              max_time: Optional[float] = _DEFAULTS.max_time, batch_size: Any = _DEFAULTS.batch_size,
              seed: SeedLike = None, run_dir: Any = None, progress: bool = False,
              epsilon: Any = _DEFAULTS.epsilon) -> Posterior:
        """Run SMC-ABC.

        The defaults are :class:`~sciope_abs.inference.config.SMCConfig`'s (the one definition the
        CLI and the pipeline read too); ``smc.infer(**config.kwargs(), seed=...)`` runs with a
        config object.  The run store and ``posterior.info["config"]`` record the settings as
        ``SMCConfig.to_dict()``.

        Parameters
        ----------
        n_particles : int
            Population size (accepted particles per round).
        quantile : float in (0, 1)
            Next tolerance = this quantile of the current round's accepted distances (the
            default schedule; ignored when ``epsilon`` is given).
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
            Proposals per Dask task.  ``"auto"``: about ``n_particles / 10``; for a simulator
            that declares ``preferred_batch_size`` (an emulator) a round's expected need in one
            call (``1.5 n / previous acceptance rate``, at most ``preferred_batch_size``).
        seed : int or SeedSequence
        run_dir : path, optional
            Run store (:class:`~sciope_abs.inference.history.History`): every round as JSON +
            npz, and the final ``posterior.npz``; :meth:`resume` continues from it.
        progress : bool
        epsilon : Epsilon, str or dict, optional
            Tolerance schedule (:mod:`sciope_abs.inference.epsilon`): ``"quantile"``,
            ``{"name": "list", "values": [...]}``, ``{"name": "acceptance_rate",
            "target_rate": 0.1}`` or an :class:`~sciope_abs.inference.epsilon.Epsilon`.

        Returns
        -------
        Posterior
            Weighted particles of the last complete round, with the per-round history.
        """
        settings = self._settings(n_particles, quantile, target_tolerance, min_acceptance_rate, max_rounds,
                                  max_simulations, max_time, batch_size, seed, epsilon,
                                  preferred_batch_size(self.simulator))
        store = None
        if run_dir is not None:
            self._check_storable()
            store = History.create(run_dir, self._store_config(settings), self.s_obs)
        return self._run(settings, _RunState(), store, progress)

    def resume(self, run_dir: Any, *, progress: bool = False) -> Posterior:
        """Continue the run stored in ``run_dir`` (or return its posterior if it finished).

        This ``SMCABC`` must be built from the same simulator, prior, summary, distance,
        observation, ``n_traj``, initial state and kernel as the run (a one-line ValueError
        names the parts whose fingerprint differs); the settings and seed come from the store.
        Nothing in ``run_dir`` is unpickled.
        """
        store = History.load(run_dir)
        if store.config.get("method") != self.method:
            raise ValueError(f"{run_dir} holds a {store.config.get('method')!r} run, not an SMC-ABC ({self.method!r}) run")
        if store.done:
            return store.posterior()
        store.check_fingerprint(self._fingerprint())
        settings = dict(store.config["settings"], _config=store.config.get("config"))
        return self._run(settings, self._load_state(store), store, progress)

    # ------------------------------------------------------------------ settings and store
    @classmethod
    def check_config(cls, config: SMCConfig) -> None:
        """Refuse bad settings with the one-line ValueError :meth:`infer` raises, simulating nothing
        (what ``sciope-abs infer`` runs on its ``settings:`` block before writing the run folder)."""
        c = config
        cls._settings(c.n_particles, c.quantile, c.target_tolerance, c.min_acceptance_rate, c.max_rounds,
                      c.max_simulations, c.max_time, c.batch_size, 0, c.epsilon)

    @staticmethod
    def _settings(n_particles: Any, quantile: Any, target_tolerance: Any, min_acceptance_rate: Any,
                  max_rounds: Any, max_simulations: Any, max_time: Any, batch_size: Any, seed: SeedLike,
                  epsilon: Any, preferred: Optional[int] = None) -> dict:
        n_particles = check_positive_int(n_particles, "n_particles")
        if n_particles < 2:
            raise ValueError("n_particles must be at least 2 (the kernel needs a population)")
        eps: Epsilon = QuantileEpsilon(quantile) if epsilon is None else get_epsilon(epsilon)
        if target_tolerance is not None and not (float(target_tolerance) >= 0):
            raise ValueError(f"target_tolerance must be >= 0, got {target_tolerance!r}")
        if min_acceptance_rate is not None and not 0 < float(min_acceptance_rate) <= 1:
            raise ValueError(f"min_acceptance_rate must lie in (0, 1], got {min_acceptance_rate!r}")
        max_rounds = check_positive_int(max_rounds, "max_rounds")
        max_simulations = optional(check_positive_int, max_simulations, "max_simulations")
        max_time = _check_time(max_time)
        if min_acceptance_rate is None and max_simulations is None and max_time is None:
            raise ValueError("SMCABC needs a bound on each round: give min_acceptance_rate, max_simulations "
                             "or max_time")
        root = as_seed_sequence(seed)
        # a simulator that prefers large batches (an emulator) gets whole rounds per call
        large = preferred if batch_size == "auto" else None
        bs = auto_batch_size(batch_size, n_particles)
        try:
            eps_spec: Any = epsilon_spec(eps)
        except ValueError:
            eps_spec = None  # an unregistered schedule: fine in memory, refused for run_dir
        # the settings as given (batch_size "auto" stays "auto"), what the store and info record
        config = SMCConfig(n_particles, float(quantile), target_tolerance, min_acceptance_rate, max_rounds,
                           max_simulations, max_time, batch_size, eps_spec if epsilon is not None else None)
        return {"_config": config.to_dict(), "n_particles": n_particles,
                "quantile": float(getattr(eps, "quantile", quantile)),
                "target_tolerance": None if target_tolerance is None else float(target_tolerance),
                "min_acceptance_rate": None if min_acceptance_rate is None else float(min_acceptance_rate),
                "max_rounds": max_rounds, "max_simulations": max_simulations, "max_time": max_time,
                "batch_size": bs, "large_batches": large, "seed_entropy": root.entropy,
                "seed_spawn_key": list(root.spawn_key), "epsilon": eps_spec, "_epsilon": eps}

    def _fingerprint(self) -> dict[str, str]:
        return fingerprint({"simulator": self.simulator, "prior": self.prior, "summary": self.summary,
                            "distance": prepare_distance(self.distance), "observed": self.s_obs,
                            "n_traj": self.n_traj, "initial_state": self.initial_state, "kernel": self.kernel})

    def _check_storable(self) -> None:
        d = prepare_distance(self.distance)
        if callable(getattr(d, "fit", None)) and not (callable(getattr(d, "get_state", None))
                                                      and callable(getattr(d, "set_state", None))):
            raise ValueError(f"distance {type(d).__name__} is refitted every round but has no get_state()/"
                             "set_state(): its fitted state cannot be written to run_dir")

    def _store_config(self, settings: dict) -> dict:
        if settings["epsilon"] is None:
            epsilon_spec(settings["_epsilon"])  # raises the one-line error
        F = self.s_obs.size
        return {"method": self.method, "settings": {k: v for k, v in settings.items() if not k.startswith("_")},
                "config": settings.get("_config"),
                "param_names": self.param_names, "summary_names": self._summary_names(F),
                "n_traj": self.n_traj, "fingerprint": self._fingerprint()}

    def _load_state(self, store: History) -> _RunState:
        st = _RunState()
        t = store.last_round
        if t < 0:
            return st  # crashed inside round 0: start over (same seed -> same answer)
        st.t_done, st.pop = t, store.population(t).as_dict()
        st.history = store.rounds
        st.n_sims = int(store.state["n_simulations"])
        st.tol = float(store.state["tolerance"])
        st.sim_d = store.simulated_distances(t)
        st.sim_theta, st.sim_logq = store.simulated_proposals(t)
        st.elapsed = float(store.state["elapsed"])
        st.distance_state = store.distance_state(t)
        return st

    # ------------------------------------------------------------------ the algorithm
    def _run(self, settings: dict, st: _RunState, store: Optional[History], progress: bool) -> Posterior:
        eps_sched: Epsilon = settings.get("_epsilon") or get_epsilon(settings["epsilon"])
        root = np.random.SeedSequence(settings["seed_entropy"], spawn_key=tuple(settings["seed_spawn_key"]))
        task = SimulateSummarise(self.simulator, self.summary, self.n_traj, self.initial_state)
        distance = prepare_distance(self.distance)
        if st.distance_state and callable(getattr(distance, "set_state", None)):
            distance.set_state(st.distance_state)
        t_start = time.perf_counter() - st.elapsed
        deadline = None if settings["max_time"] is None else t_start + settings["max_time"]
        max_rounds = settings["max_rounds"]
        eps_rounds = eps_sched.max_rounds()
        if eps_rounds is not None:
            max_rounds = min(max_rounds, int(eps_rounds))

        stop_message = None
        if st.pop is not None:
            stop_message = self._stop_rule(st.history[-1], st.t_done, settings, max_rounds, st.n_sims, deadline)
        stream = RoundStream(task, self.client, progress=progress, desc="smc-abc")
        try:
            with one_blas_thread():
                while stop_message is None:
                    stop_message = self._one_round(st, settings, stream, distance, eps_sched, root, deadline,
                                                   max_rounds, store, t_start)
        finally:
            stream.close()
        st.n_unprocessed += stream.n_unprocessed
        # proposals of tasks cancelled once their round had filled (queued ones never ran)
        st.engine = dict(stream.profile(), n_proposals_cancelled=stream.n_cancelled)
        return self._finish(st, settings, stop_message, store, time.perf_counter() - t_start)

    def _one_round(self, st: _RunState, settings: dict, stream: RoundStream, distance: Any, eps_sched: Epsilon,
                   root: np.random.SeedSequence, deadline: Optional[float], max_rounds: int,
                   store: Optional[History], t_start: float) -> Optional[str]:
        """Run round ``st.t_done + 1``; the stop message, or None to go on."""
        n = settings["n_particles"]
        t = st.t_done + 1
        bs = self._round_batch(settings, st, t)
        eps, kern = self._round_setup(t, st, distance, eps_sched, settings)
        needs_q = bool(getattr(eps_sched, "uses_proposal_density", False))
        rnd = Round(t, eps, n, self.s_obs.size, distance, self.s_obs, defer_distances=(t == 0))
        log_q: list = []  # log proposal densities of the accepted particles, computed as they arrive
        propose, consume = self._proposer(t, child_seed(root, t), st.pop, kern, rnd, log_q)
        cap = self._round_cap(settings, st.n_sims)
        # the tolerance shrinks every round, so the rate is expected below the previous round's
        prev_rate = 0.7 * float(st.history[-1].get("acceptance_rate") or 0.0) if (t > 0 and st.history) else 1.0
        pop = None if t == 0 else _present(st.pop, "the population")
        draw = None if pop is None else Perturbation(pop["particles"], pop["weights"], _present(kern, "the kernel"),
                                                     self.prior)
        res = stream.run_round(propose, consume, batch_size=bs, max_proposals=cap, deadline=deadline,
                               need=expected_need(rnd, prev_rate), draw=draw)
        st.n_sims += rnd.n_sims
        if res.reason != "target":
            message = self._cut_message(t, res.reason, rnd, settings, st.n_sims)
            self._cut_round(rnd, st, distance)
            return message
        entry = self._complete_round(rnd, st, distance, kern, needs_q, log_q)
        stop_message = self._stop_rule(entry, t, settings, max_rounds, st.n_sims, deadline)
        if store is not None:
            store.append(t, _present(st.pop, "the population"),
                         distance.get_state() if hasattr(distance, "get_state") else {},
                         _present(st.sim_d, "the simulated distances"), st.history, st.n_sims, time.perf_counter() - t_start, st.tol,
                         sim_theta=st.sim_theta, sim_logq=st.sim_logq)
        return stop_message

    def _round_setup(self, t: int, st: _RunState, distance: Any, eps_sched: Epsilon,
                     settings: dict) -> tuple[float, Optional[MultivariateNormalKernel]]:
        """Tolerance and (fitted, cloned) kernel of round ``t``."""
        if t == 0:
            return float("inf"), None
        pop = _present(st.pop, "the previous population")
        d_prev = compute_distances(distance, self.s_obs, pop["summaries"])
        kern = clone_kernel(self.kernel).fit(pop["particles"], pop["weights"])
        kw = {}
        if getattr(eps_sched, "uses_proposal_density", False) and st.sim_logq is not None and st.sim_theta is not None:
            # importance weights of the previous round's proposals under this round's proposal
            logw = self._log_proposal(st.sim_theta, pop, kern) - st.sim_logq
            kw["simulated_weights"] = np.exp(logw - np.max(logw))
        eps = float(eps_sched(t, d_prev, simulated=st.sim_d, **kw))
        if settings["target_tolerance"] is not None:
            eps = max(eps, settings["target_tolerance"])
        return eps, kern

    def _proposer(self, t: int, rs: np.random.SeedSequence, pop: Optional[dict],
                  kern: Optional[MultivariateNormalKernel], rnd: Round, log_q: Optional[list] = None
                  ) -> tuple[Callable[[int, int], ProposalBatch], Callable[[ProposalBatch, np.ndarray], bool]]:
        """``propose(k, m)`` and the round's ``consume``; a batch's redraws outside the prior are
        counted in ``rnd.n_outside`` when the batch is consumed (batches simulated after the
        round filled are never counted).  With ``log_q`` (rounds after 0), the log proposal
        density of each batch's accepted particles is appended to it as the batch is consumed,
        while the workers simulate the next batches, instead of all at the end of the round."""
        prior = self.prior
        outside: dict[int, int] = {}
        log_k = None  # the previous population whitened once for the round's proposal densities
        if log_q is not None and t > 0 and pop is not None and callable(getattr(kern, "log_density_from", None)):
            log_k = _present(kern, "the kernel").log_density_from(pop["particles"])

        def propose(k: int, m: int) -> Any:
            if t == 0:
                theta = np.asarray(prior.sample(m, child_seed(rs, k, 0)), dtype=np.float64).reshape(m, -1)
                return ProposalBatch(k, theta, child_seed(rs, k, 1))
            # drawn in the task (Perturbation), on a worker: the same numbers as drawn here
            return LazyBatch(k, m, child_seed(rs, k, 0), child_seed(rs, k, 1))

        def consume(batch: ProposalBatch, s: np.ndarray) -> bool:
            rnd.n_outside += outside.pop(batch.index, 0) + batch.n_outside
            full = rnd.consume(batch, s)
            if log_q is not None and t > 0 and rnd.theta and rnd.theta[-1].shape[0]:
                log_q.append(self._log_proposal(rnd.theta[-1], _present(pop, "the population"),
                                                _present(kern, "the kernel"), log_k=log_k))
            return full

        return propose, consume

    @staticmethod
    def _round_batch(settings: dict, st: _RunState, t: int) -> int:
        """Proposals per task in round ``t``: the fixed ``batch_size``, or for a simulator that
        prefers large batches (``large_batches``, its ``preferred_batch_size``) the round's
        expected need in one call: ``n`` in round 0, ``1.5 n / (previous acceptance rate)`` after
        it, rounded up to a multiple of 64, within ``[n, large_batches]`` (depends only on the
        history, so on the seed)."""
        large, n = settings.get("large_batches"), settings["n_particles"]
        if not large:
            return int(settings["batch_size"])
        if t == 0 or not st.history:
            m = n
        else:
            rate = max(float(st.history[-1].get("acceptance_rate") or 0.0), 1e-3)
            m = 64 * math.ceil(1.5 * n / rate / 64)
        return int(max(min(m, int(large)), min(n, int(large))))

    @staticmethod
    def _round_cap(settings: dict, n_sims_total: int) -> Optional[int]:
        cap = None
        if settings["min_acceptance_rate"] is not None:
            cap = math.ceil(settings["n_particles"] / settings["min_acceptance_rate"])
        if settings["max_simulations"] is not None:
            left = settings["max_simulations"] - n_sims_total
            cap = left if cap is None else min(cap, left)
        return cap

    def _complete_round(self, rnd: Round, st: _RunState, distance: Any,
                        kern: Optional[MultivariateNormalKernel], needs_q: bool = False,
                        log_q: Optional[list] = None) -> dict:
        n = rnd.n
        if needs_q:  # the proposal density of this round's simulations, for the next tolerance
            st.sim_theta = np.concatenate(rnd.fit_theta)
            st.sim_logq = (np.asarray(self.prior.log_prob(st.sim_theta), dtype=np.float64) if rnd.t == 0
                           else self._log_proposal(st.sim_theta, _present(st.pop, "the population"),
                                                   _present(kern, "the kernel")))
        theta, d_acc, s_acc = (a[:n] for a in rnd.accepted(len(self.prior.names)))
        w = (np.full(n, 1.0 / n) if rnd.t == 0
             else self._weights(theta, _present(st.pop, "the population"), _present(kern, "the kernel"),
                                np.concatenate(log_q)[:n] if log_q else None))
        # adapt the distance to this round's simulations (no-op for fixed distances)
        fit_rows = np.concatenate(rnd.fit_rows)
        fit_distance(distance, fit_rows)
        if rnd.t == 0:
            d_acc = compute_distances(distance, self.s_obs, s_acc)
        st.sim_d = compute_distances(distance, self.s_obs, fit_rows)
        st.pop = {"particles": theta, "weights": w, "distances": d_acc, "summaries": s_acc}
        st.t_done, st.tol = rnd.t, rnd.eps
        entry = rnd.entry(float(1.0 / np.sum(w ** 2)), complete=True, discarded=False)
        st.history.append(entry)
        return entry

    def _cut_round(self, rnd: Round, st: _RunState, distance: Any) -> None:
        """A round that ended before filling its population: dropped, unless it is round 0."""
        if st.pop is None:
            # even round 0 failed: return what it has (maybe nothing), equally weighted
            theta, _, s_acc = rnd.accepted(len(self.prior.names))
            if len(theta):
                fit_distance(distance, np.concatenate(rnd.fit_rows))
            d_acc = compute_distances(distance, self.s_obs, s_acc) if len(theta) else np.zeros(0)
            st.pop = {"particles": theta, "weights": np.full(len(theta), 1.0 / max(len(theta), 1)),
                      "distances": d_acc, "summaries": s_acc}
            st.tol = float("inf")
            st.history.append(rnd.entry(None, complete=False, discarded=False))
            return
        st.history.append(rnd.entry(None, complete=False, discarded=True))

    def _finish(self, st: _RunState, settings: dict, stop_message: str, store: Optional[History],
                elapsed: float) -> Posterior:
        history = st.history
        complete_rounds = [h for h in history if h.get("complete", True)]
        if history and not history[-1].get("complete", True):
            warnings.warn(stop_message, ABCWarning, stacklevel=4)
        discarded = sum(int(h["n_simulations"]) for h in history if h.get("discarded", False))
        F = self.s_obs.size
        info = {"n_simulations": st.n_sims, "n_simulations_used": st.n_sims - discarded,
                "n_simulations_discarded": discarded, "tolerance": st.tol, "n_rounds": len(complete_rounds),
                "batch_size": settings["batch_size"], "seed_entropy": str(settings["seed_entropy"]),
                "n_traj": self.n_traj, "n_simulations_unprocessed": st.n_unprocessed, "engine": st.engine,
                "config": settings.get("_config"),
                "settings": {k: v for k, v in settings.items() if k != "seed_entropy" and not k.startswith("_")}}
        pop = _present(st.pop, "the population")
        post = Posterior(pop["particles"], self.param_names, weights=pop["weights"] if len(pop["particles"]) else None,
                         distances=pop["distances"], summaries=pop["summaries"],
                         summary_names=self._summary_names(F), observed=self.s_obs, history=history,
                         message=stop_message, method=self.method, info=info)
        if store is not None:
            store.finish(post, history, st.n_sims, elapsed, stop_message)
            post.run_store = store
        return post

    # ------------------------------------------------------------------ pieces
    def _summary_names(self, F: int) -> list[str]:
        names = list(getattr(self.summary, "names", []) or [])
        return names if len(names) == F else [f"s{i}" for i in range(F)]

    def _perturbed(self, pop: dict, kern: MultivariateNormalKernel, m: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """``m`` proposals (m, d): ancestors by weight, perturbed, redrawn while outside the prior;
        and the number of redraws (:class:`Perturbation`, here in this process)."""
        return Perturbation(pop["particles"], pop["weights"], kern, self.prior).draw(m, rng)

    @staticmethod
    def _log_proposal(theta: np.ndarray, pop: dict, kern: MultivariateNormalKernel,
                      max_cells: int = MAX_WEIGHT_CELLS, log_k: Optional[Callable] = None) -> np.ndarray:
        """``log Σ_j w_j K(θ_i | θ_j)`` (m,) of the proposal built on ``pop`` (up to the support's
        normalising constant, which cancels in importance weights).

        Vectorised over blocks of rows: at most ``max_cells`` kernel values (float64) are held at
        once, so memory stays bounded for any population size (rows are independent: the result
        does not depend on the block size).  ``log_k``: ``kern.log_density_from(particles)``,
        the population already whitened."""
        logw = np.log(pop["weights"])[None, :]
        n_pop = max(int(pop["particles"].shape[0]), 1)
        chunk = max(1, int(max_cells) // n_pop)
        out = np.empty(theta.shape[0])
        with np.errstate(divide="ignore"):
            for a in range(0, theta.shape[0], chunk):
                block = (log_k(theta[a:a + chunk]) if log_k is not None
                         else kern.log_density(theta[a:a + chunk], pop["particles"]))
                out[a:a + chunk] = _logsumexp(block + logw, axis=1)
        return out

    def _weights(self, theta: np.ndarray, pop: dict, kern: MultivariateNormalKernel,
                 log_q: Optional[np.ndarray] = None) -> np.ndarray:
        """Normalised importance weights prior(θ_i) / Σ_j w_j K(θ_i | θ_j) (the n x n kernel
        matrix in memory-bounded blocks, :meth:`_log_proposal`; ``log_q``: its rows already
        computed, as the round's batches were consumed)."""
        log_prior = np.asarray(self.prior.log_prob(theta), dtype=np.float64)
        if log_q is None or log_q.shape[0] != theta.shape[0]:
            log_q = self._log_proposal(theta, pop, kern)
        logw = log_prior - log_q
        logw -= np.max(logw)
        w = np.exp(logw)
        return w / w.sum()

    @staticmethod
    def _stop_rule(entry: dict, t: int, settings: dict, max_rounds: int, n_sims_total: int,
                   deadline: Optional[float]) -> Optional[str]:
        target, min_rate = settings["target_tolerance"], settings["min_acceptance_rate"]
        tol = entry["tolerance"]
        if target is not None and tol <= target:
            return f"reached the target tolerance {target:g} in round {t} (tolerance {tol:g})"
        if min_rate is not None and t > 0 and entry["acceptance_rate"] < min_rate:
            return (f"acceptance rate {entry['acceptance_rate']:.3g} in round {t} fell below "
                    f"min_acceptance_rate {min_rate:g}")
        if t + 1 >= max_rounds:
            if max_rounds < settings["max_rounds"]:
                return f"used the last tolerance of the epsilon schedule in round {t} (tolerance {tol:g})"
            return f"reached max_rounds={settings['max_rounds']} (final tolerance {tol:g})"
        if settings["max_simulations"] is not None and n_sims_total >= settings["max_simulations"]:
            return f"used the simulation budget of {settings['max_simulations']} simulations after round {t}"
        if deadline is not None and time.perf_counter() > deadline:
            return f"reached the wall-clock limit of {settings['max_time']:g} s after round {t}"
        return None

    @staticmethod
    def _cut_message(t: int, reason: str, rnd: Round, settings: dict, n_sims_total: int) -> str:
        got = f"round {t} (tolerance {rnd.eps:g}) accepted {rnd.n_acc} of {rnd.n} particles " \
              f"in {rnd.n_sims} simulations"
        if reason == "time":
            why = f"the wall-clock limit of {settings['max_time']:g} s"
        elif settings["max_simulations"] is not None and n_sims_total >= settings["max_simulations"]:
            why = f"the simulation budget of {settings['max_simulations']} simulations"
        else:
            why = (f"the acceptance rate fell below min_acceptance_rate {settings['min_acceptance_rate']:g} "
                   f"(rate {rnd.rate:.3g})")
        keep = ("returning the last complete round; its simulations are counted as discarded" if t > 0
                else "returning what round 0 accepted")
        return f"stopped: {why}; {got}; {keep}"
