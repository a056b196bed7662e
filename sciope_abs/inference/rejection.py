"""ABC rejection sampling, streamed over Dask."""
from __future__ import annotations

import math
import time
import warnings
from typing import Any, Optional, TypeVar

import numpy as np

from .._checks import check_positive_int, optional
from ..protocols import Prior as PriorProtocol
from ..protocols import Simulator as SimulatorProtocol
from ..protocols import Summary as SummaryProtocol
from ..seeding import SeedLike, as_seed_sequence
from .config import RejectionConfig
from ._stream import (ABCWarning, auto_batch_size, check_prior, child_seed, expected_need, observed_summary,
                      preferred_batch_size, prepare_distance, stream_batches)
from .posterior import Posterior
from .round import QuantileRound, Round, one_blas_thread
from .tasks import ProposalBatch, SimulateSummarise

__all__ = ["ABCRejection", "DEFAULT_MAX_SIMULATIONS"]

#: simulation budget of a tolerance-based run when neither max_simulations nor max_time is given
DEFAULT_MAX_SIMULATIONS = 1_000_000
#: the defaults of :meth:`ABCRejection.infer`'s signature (the one definition: :class:`RejectionConfig`)
_DEFAULTS = RejectionConfig()


def _check_time(max_time: Any) -> Optional[float]:
    if max_time is None:
        return None
    try:
        t = float(max_time)
    except (TypeError, ValueError):
        raise ValueError(f"max_time must be a number of seconds, got {max_time!r}") from None
    if not t > 0:
        raise ValueError(f"max_time must be > 0 seconds, got {max_time!r}")
    return t



_T = TypeVar("_T")


def _present(value: Optional[_T], what: str) -> _T:
    """``value``, which the order of the rounds guarantees is set (round 0 sets the population)."""
    if value is None:
        raise RuntimeError(f"ABC state: {what} is not set yet")
    return value


class _Problem:
    """The attributes every ABC sampler shares, set by :func:`_bind_problem`."""

    simulator: SimulatorProtocol
    prior: PriorProtocol
    summary: SummaryProtocol
    distance: Any            # a Distance, or None for the default (Euclidean)
    observed: Any
    s_obs: np.ndarray        # (F,)
    n_traj: int
    initial_state: Any
    client: Any


def _bind_problem(abc: _Problem, simulator: Any, prior: Any, summary: Any, distance: Any, observed: Any, n_traj: Any,
                  initial_state: Any, client: Any) -> None:
    """Check and set the attributes every ABC sampler shares (simulator, prior, summary, distance,
    observed data and its summary, ``n_traj``, initial state, client)."""
    abc.simulator = simulator
    abc.prior = check_prior(prior, simulator)
    if not callable(summary):
        raise ValueError(f"summary must be callable on traces (n, r, S, T), got {summary!r}")
    abc.summary = summary
    abc.distance = distance
    abc.n_traj = check_positive_int(n_traj, "n_traj")
    abc.initial_state = initial_state
    abc.client = client
    abc.observed = observed
    abc.s_obs = observed_summary(observed, simulator, summary)

class ABCRejection(_Problem):
    """Approximate Bayesian computation by rejection.

    Proposals are drawn from the prior in batches, simulated and summarised inside Dask tasks
    (raw traces never travel), and compared with the observed summaries.  Batches are processed
    in proposal order whatever order they complete in, so the result depends only on ``seed``
    (and ``batch_size``), not on the number of workers.

    Parameters
    ----------
    simulator : Simulator
        ``simulate(theta (n, d), n_traj=, seed=) -> (n, r, S, T)``.
    prior : JointPrior, dict name -> distribution, or an object with ``sample``, ``log_prob`` and
        ``names``
        Its names must be the simulator's ``param_names``.
    summary : Summary
        ``(n, r, S, T) -> (n, F)``.
    distance : Distance, optional
        ``(s_obs (F,), s_sim (n, F)) -> (n,)``; default :class:`~sciope_abs.distances.Euclidean`.
        A distance with ``fit`` (e.g. ``Adaptive``) is fitted on the first batch of the run.
    observed : array
        Raw traces ``(r, S, T)`` or ``(1, r, S, T)`` (summarised with ``summary``) or a summary
        vector ``(F,)``.
    n_traj : int
        Trajectories simulated per proposal.
    initial_state : array (S,), optional
    client : Dask client, scheduler address, ``"sync"`` or None
        See :func:`sciope_abs.engine.get_client`.
    """

    method = "rejection"

    def __init__(self, simulator: Any, prior: Any, summary: Any, distance: Any = None, observed: Any = None, *,
                 n_traj: int = 1, initial_state: Any = None, client: Any = None) -> None:
        _bind_problem(self, simulator, prior, summary, distance, observed, n_traj, initial_state, client)

    @property
    def param_names(self) -> list[str]:
        return list(self.simulator.param_names)

    def _task(self) -> SimulateSummarise:
        return SimulateSummarise(self.simulator, self.summary, self.n_traj, self.initial_state)

    def _summary_names(self, F: int) -> list[str]:
        names = list(getattr(self.summary, "names", []) or [])
        return names if len(names) == F else [f"s{i}" for i in range(F)]

    def infer(self, n_samples: Optional[int] = _DEFAULTS.n_samples, *, quantile: Optional[float] = _DEFAULTS.quantile,
              tolerance: Optional[float] = _DEFAULTS.tolerance,
              max_simulations: Optional[int] = _DEFAULTS.max_simulations,
              max_time: Optional[float] = _DEFAULTS.max_time, batch_size: Any = _DEFAULTS.batch_size,
              seed: SeedLike = None, progress: bool = False) -> Posterior:
        """Run the sampler.

        Give exactly one of ``tolerance`` and ``quantile``.  The defaults are
        :class:`~sciope_abs.inference.config.RejectionConfig`'s (``sciope-abs infer`` checks its
        ``settings:`` block against it); ``posterior.info["config"]`` records them.

        Parameters
        ----------
        n_samples : int, optional
            Accepted samples wanted (default 1000; with ``quantile`` and ``max_simulations`` and
            no ``n_samples``, ``ceil(quantile * max_simulations)``).
        tolerance : float, optional
            Accept proposals with ``distance <= tolerance``; proposals stream until
            ``n_samples`` are accepted or the budget ends the run.
        quantile : float in (0, 1], optional
            Simulate ``ceil(n_samples / quantile)`` proposals and accept the ``n_samples``
            closest ones (the ``quantile`` of all distances).
        max_simulations : int, optional
            Simulation budget (default for ``tolerance``: ``DEFAULT_MAX_SIMULATIONS``).
        max_time : float, optional
            Wall-clock limit in seconds; the run stops at the next result after it.
        batch_size : int or "auto"
            Proposals per Dask task (``"auto"`` with a simulator that declares a
            ``preferred_batch_size``, an emulator: that many per call, at most the budget).
        seed : int or SeedSequence
        progress : bool
            Show a progress bar of the tasks.

        Returns
        -------
        Posterior
            Equal weights; ``message`` says how the run ended; when the budget ended it before
            the target an :class:`ABCWarning` is also issued.
        """
        plan = self._plan(n_samples, quantile, tolerance, max_simulations, max_time, batch_size,
                          preferred_batch_size(self.simulator))
        root = as_seed_sequence(seed)
        distance = prepare_distance(self.distance)
        prior, F = self.prior, self.s_obs.size
        if plan["mode"] == "tolerance":
            rnd: Any = Round(0, plan["tol"], plan["n_target"], F, distance, self.s_obs, fit_on_first=True)
        else:
            rnd = QuantileRound(plan["n_keep"], F, len(prior.names), distance, self.s_obs)

        def propose(k: int, m: int) -> ProposalBatch:
            theta = np.asarray(prior.sample(m, child_seed(root, k, 0)), dtype=np.float64).reshape(m, -1)
            return ProposalBatch(k, theta, child_seed(root, k, 1))

        t0 = time.perf_counter()
        deadline = None if max_time is None else t0 + max_time
        with one_blas_thread():
            res = stream_batches(self._task(), propose, rnd.consume, batch_size=plan["batch_size"],
                                 max_proposals=plan["budget"], deadline=deadline, client=self.client,
                                 progress=progress, desc="abc-rejection",
                                 need=expected_need(rnd, None) if plan["mode"] == "tolerance" else None)
        wall = time.perf_counter() - t0
        if plan["mode"] == "tolerance":
            out = self._tolerance_result(rnd, res.reason, plan, max_time)
        else:
            out = self._quantile_result(rnd, plan, max_time)
        theta, dist, summ, final_tol, n_eval, message, short = out
        if short:
            warnings.warn(message, ABCWarning, stacklevel=2)
        n_sims = rnd.n_sims
        history = [self._history_entry(len(theta), final_tol, n_eval, rnd, res, wall, short)]
        info = {"n_simulations": n_sims, "n_simulations_used": n_sims, "n_simulations_discarded": 0,
                "tolerance": final_tol, "reason": res.reason, "batch_size": plan["batch_size"],
                "budget": plan["budget"], "n_nan": rnd.n_nan, "n_unprocessed": res.n_discarded,
                "seed_entropy": str(root.entropy), "n_traj": self.n_traj, "mode": plan["mode"],
                "engine": res.profile,
                "config": self._config(n_samples, quantile, tolerance, max_simulations, max_time, batch_size)}
        post = Posterior(theta, self.param_names, distances=dist, summaries=summ,
                         summary_names=self._summary_names(F), observed=self.s_obs, history=history,
                         message=message, method=self.method, info=info)
        return post

    @staticmethod
    def _history_entry(n_accepted: int, final_tol: float, n_eval: int, rnd: Any, res: Any, wall: float,
                       short: bool) -> dict:
        """The run's one history entry (round 0).  ``acceptance_rate = n_accepted / n_evaluated``;
        results that arrived after the stop are not counted in ``n_simulations`` (they are
        ``n_unprocessed``)."""
        return {"round": 0, "tolerance": final_tol, "acceptance_rate": n_accepted / max(n_eval, 1),
                "ess": float(n_accepted), "n_simulations": rnd.n_sims, "n_evaluated": n_eval,
                "n_accepted": int(n_accepted), "n_nan": rnd.n_nan, "n_unprocessed": res.n_discarded,
                "wall_time": wall, "complete": not short, "discarded": False}

    @staticmethod
    def _config(n_samples: Any, quantile: Any, tolerance: Any, max_simulations: Any, max_time: Any,
                batch_size: Any) -> dict:
        """The (checked) settings as given, ``RejectionConfig.to_dict()``: what ``info`` records."""
        def num(v: Any, kind: type) -> Any:
            return None if v is None else kind(v)

        bs = batch_size if isinstance(batch_size, str) else int(batch_size)
        return RejectionConfig(num(n_samples, int), num(quantile, float), num(tolerance, float),
                               num(max_simulations, int), num(max_time, float), bs).to_dict()

    @staticmethod
    def _plan(n_samples: Any, quantile: Any, tolerance: Any, max_simulations: Any, max_time: Any,
              batch_size: Any, preferred: Optional[int] = None) -> dict:
        """Checked settings: mode, tolerance or quantile, targets, budget, batch size."""
        if (tolerance is None) == (quantile is None):
            raise ValueError("give exactly one of tolerance= (absolute) and quantile= (of all distances)")
        n_samples = optional(check_positive_int, n_samples, "n_samples")
        max_simulations = optional(check_positive_int, max_simulations, "max_simulations")
        max_time = _check_time(max_time)
        if tolerance is not None:
            tol = float(tolerance)
            if not (tol >= 0 and math.isfinite(tol)):
                raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
            n_target = n_samples or 1000
            budget = max_simulations if (max_simulations or max_time) else DEFAULT_MAX_SIMULATIONS
            return {"mode": "tolerance", "tol": tol, "n_target": n_target, "n_keep": n_target, "budget": budget,
                    "batch_size": auto_batch_size(batch_size, budget if preferred else n_target, preferred)}
        q = float(quantile)
        if not 0 < q <= 1:
            raise ValueError(f"quantile must lie in (0, 1], got {quantile!r}")
        if n_samples is None and max_simulations is not None:
            budget = max_simulations
            n_keep = max(1, math.ceil(q * budget))
        else:
            n_keep = n_samples or 1000
            budget = math.ceil(n_keep / q)
            if max_simulations is not None and max_simulations < budget:
                budget = max_simulations
                n_keep = max(1, math.ceil(q * budget))
        return {"mode": "quantile", "q": q, "n_target": n_keep, "n_keep": n_keep, "budget": budget,
                "batch_size": auto_batch_size(batch_size, budget, preferred)}

    def _tolerance_result(self, rnd: Round, reason: str, plan: dict, max_time: Optional[float]) -> tuple:
        theta, dist, summ = rnd.accepted(len(self.prior.names))
        tol, n_target, n_sims = plan["tol"], plan["n_target"], rnd.n_sims
        if reason == "target":
            message = f"accepted {n_target} samples at tolerance {tol:g} after {n_sims} simulations"
            return theta, dist, summ, tol, rnd.n_eval, message, False
        limit = (f"wall-clock limit of {max_time:g} s" if reason == "time"
                 else f"simulation budget of {plan['budget']} simulations")
        message = (f"stopped by the {limit}: only {len(theta)} of {n_target} samples reached tolerance "
                   f"{tol:g} after {n_sims} simulations (acceptance rate {rnd.rate:.3g})")
        return theta, dist, summ, tol, rnd.n_eval, message, True

    @staticmethod
    def _quantile_result(rnd: QuantileRound, plan: dict, max_time: Optional[float]) -> tuple:
        q, budget, n_sims = plan["q"], plan["budget"], rnd.n_sims
        keep = plan["n_keep"]
        if n_sims < budget:  # stopped by the clock before all proposals were simulated
            keep = max(1, math.ceil(q * n_sims)) if n_sims else 0
        theta, dist, summ = rnd.closest(keep)
        final_tol = float(dist.max()) if len(dist) else float("nan")
        short = True
        if n_sims < budget:
            message = (f"stopped by the wall-clock limit of {max_time:g} s after {n_sims} of {budget} "
                       f"simulations; accepted the closest {len(theta)} (quantile {q:g})")
        elif len(theta) < keep:
            message = (f"only {len(theta)} of {budget} simulations gave finite summaries; accepted those "
                       f"(wanted {keep})")
        else:
            short = False
            message = (f"accepted the {len(theta)} closest of {n_sims} simulations (quantile {q:g}), "
                       f"tolerance {final_tol:g}")
        return theta, dist, summ, final_tol, n_sims, message, short
