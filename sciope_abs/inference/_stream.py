"""Shared machinery of the ABC methods: input checks, seeds, and the streaming batch loop.

The loop hands simulated batches to the caller **in batch order**, whatever order they complete
in on the cluster, so acceptance and stopping decisions (and hence the posterior) depend only on
the seed, never on the number of workers or on timing.  Results that arrive after the stopping
batch are discarded, not counted.
"""
from __future__ import annotations

import copy
import math
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Generator, Iterator, Optional

import numpy as np

from .._checks import check_positive_int
from ..seeding import child_seed
from .tasks import ProposalBatch, SimulateSummarise

__all__ = ["child_seed", "check_prior", "observed_summary", "stream_batches", "StreamResult", "RoundStream",
           "SimulateGroup", "TaskGroup", "LazyBatch", "TaskSizer", "expected_need", "TASK_SECONDS",
           "ABCWarning", "default_distance", "auto_batch_size", "preferred_batch_size"]


class ABCWarning(UserWarning):
    """An ABC run ended before reaching its target (budget or time limit)."""


def check_prior(prior: Any, simulator: Any):
    """The prior, ordered as the simulator's ``param_names``; one-line ValueError on a mismatch."""
    from ..priors import JointPrior, as_prior

    names = list(getattr(simulator, "param_names", []))
    if not names:
        raise ValueError("the simulator has no param_names; ABC needs to know which parameters it infers")
    if isinstance(prior, (JointPrior, dict)):
        try:
            return as_prior(prior, names=names)
        except ValueError as exc:
            raise ValueError(f"prior does not match the simulator: {exc}") from None
    pnames = list(getattr(prior, "names", []))
    if pnames != names:
        raise ValueError(f"prior parameters {pnames} do not match the simulator's param_names {names} "
                         "(same names in the same order)")
    for attr in ("sample", "log_prob"):
        if not callable(getattr(prior, attr, None)):
            raise ValueError(f"prior must have a {attr}() method")
    return prior


def observed_summary(observed: Any, simulator: Any, summary: Any) -> np.ndarray:
    """The observed summary vector (F,) from raw traces (r, S, T) / (1, r, S, T) or a vector (F,)."""
    if observed is None:
        raise ValueError("observed data are required: raw traces (r, S, T) or (1, r, S, T), or summaries (F,)")
    try:
        obs = np.asarray(observed, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("observed data must be a numeric array") from None
    S, T = len(simulator.species), len(simulator.timespan)
    if obs.ndim == 1:
        s = obs
    elif obs.ndim in (3, 4):
        if obs.ndim == 4:
            if obs.shape[0] != 1:
                raise ValueError(f"observed traces must be one data set, shape (r, S, T) or (1, r, S, T); "
                                 f"got {obs.shape}")
            obs = obs[0]
        if obs.shape[1:] != (S, T):
            raise ValueError(f"observed traces have shape {obs.shape} but the simulator produces (r, {S}, {T}) "
                             f"(species {list(simulator.species)}, {T} time points)")
        if not np.isfinite(obs).all():
            raise ValueError("observed traces contain NaN or inf")
        s = np.asarray(summary(obs[None]), dtype=np.float64).reshape(-1)
    else:
        raise ValueError(f"observed data must be traces (r, S, T) / (1, r, S, T) or a summary vector (F,); "
                         f"got an array of shape {obs.shape}")
    if s.size == 0:
        raise ValueError("observed summaries are empty")
    if not np.isfinite(s).all():
        bad = np.flatnonzero(~np.isfinite(s))
        names = list(getattr(summary, "names", []) or [])
        which = [names[i] for i in bad] if len(names) == s.size else bad.tolist()
        raise ValueError(f"observed summaries are not finite for features {which[:5]}")
    declared = getattr(summary, "names", None)
    if obs.ndim == 1 and declared is not None:
        try:
            F = len(declared)
        except TypeError:
            F = None
        if F and F != s.size:
            raise ValueError(f"observed summary vector has {s.size} values but the summary has {F} features")
    return s


def default_distance():
    from ..distances import Euclidean

    return Euclidean()


def prepare_distance(distance: Any):
    """A private copy of the distance (fitting never changes the caller's object)."""
    if distance is None:
        return default_distance()
    if not callable(distance):
        raise ValueError(f"distance must be callable as distance(s_obs (F,), s_sim (n, F)), got {distance!r}")
    return copy.deepcopy(distance)


def compute_distances(distance: Any, s_obs: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Distances (n,), ``inf`` where the summaries (or the distance) are not finite."""
    n = s.shape[0]
    if s.shape[1] != s_obs.size:
        raise ValueError(f"simulated summaries have {s.shape[1]} features but the observed have {s_obs.size}")
    d = np.full(n, np.inf)
    ok = np.isfinite(s).all(axis=1)
    if ok.any():
        dd = np.asarray(distance(s_obs, s[ok]), dtype=np.float64).reshape(-1)
        if dd.shape[0] != int(ok.sum()):
            raise ValueError(f"distance returned {dd.shape[0]} values for {int(ok.sum())} simulations")
        d[ok] = np.where(np.isfinite(dd), dd, np.inf)
    return d


def fit_distance(distance: Any, s: np.ndarray) -> None:
    """Fit the distance's scale on the finite rows of ``s`` (no-op for distances without ``fit``)."""
    fit = getattr(distance, "fit", None)
    if callable(fit):
        ok = s[np.isfinite(s).all(axis=1)]
        if ok.shape[0] >= 2:
            fit(ok)


def preferred_batch_size(simulator: Any) -> Optional[int]:
    """The simulator's ``preferred_batch_size`` (parameter points per ``simulate`` call) when it
    declares one (an emulator, whose per-call overheads want large batches), else None."""
    pref = getattr(simulator, "preferred_batch_size", None)
    if pref is None:
        return None
    return check_positive_int(pref, f"{type(simulator).__name__}.preferred_batch_size", what="a positive int")


def auto_batch_size(batch_size: Any, target: int, preferred: Optional[int] = None) -> int:
    """Proposals per task: an int, or ``"auto"``: about a tenth of the target, within [10, 500];
    for a simulator with a ``preferred`` batch size, that size (at most ``target``, at least the
    plain rule's)."""
    if isinstance(batch_size, str):
        if batch_size != "auto":
            raise ValueError(f"batch_size must be a positive int or 'auto', got {batch_size!r}")
        plain = int(np.clip(int(np.ceil(target / 10)), 10, 500))
        return plain if preferred is None else max(plain, min(int(preferred), int(target)))
    return check_positive_int(batch_size, "batch_size", what="a positive int or 'auto'")


#: seconds of simulation one Dask task aims for once the cost of a batch is measured: the engine's
#: per-task cost (client, scheduler and worker together, about 5-15 ms of CPU on a 2-core machine)
#: stays a few per cent of it
TASK_SECONDS = 0.25
#: the least measured simulation a task holds on a cluster (unless the round's cap leaves less): the
#: per-task cost, about 5 ms of the client's CPU (submission, scheduler, result) and a few ms on the
#: worker, stays under a tenth of it even for the last tasks of a round (toggle-switch SMC-ABC on
#: 2 workers: 76 of 93 tasks held one batch of 16 ms before this floor)
MIN_TASK_SECONDS = 0.06
#: near the expected end of a round a task holds at most 1/(this x workers) of what is still needed,
#: so the last tasks are small and little is simulated in vain when the round fills
TAIL_TASKS_PER_WORKER = 2


@dataclass(frozen=True)
class LazyBatch:
    """A batch whose ``m`` proposals are drawn where it is simulated (a worker), by the group's
    ``draw`` (SMC-ABC's perturbation of the previous population), from ``draw_seed`` only: the
    same numbers wherever that happens."""

    index: int
    m: int
    draw_seed: np.random.SeedSequence
    seed: np.random.SeedSequence


def batch_len(b: Any) -> int:
    """Proposals in a :class:`ProposalBatch` or a :class:`LazyBatch`."""
    return int(b.m) if isinstance(b, LazyBatch) else int(b.theta.shape[0])


@dataclass(frozen=True, eq=False)
class TaskGroup:
    """The item of one task: batches in order, and for lazy batches the ``draw`` callable
    ``LazyBatch -> (theta (m, d), n_outside)``."""

    batches: tuple
    draw: Any = None
    tag: Optional[str] = None  # a flag (engine.signals) raised once these batches are not wanted


@dataclass(frozen=True)
class SimulateGroup:
    """One Dask task: several batches drawn (when lazy), simulated and summarised in a row.

    Returns ``(summaries, seconds, cpu_seconds, drawn)``: the ``(m_i, F)`` summaries of each
    batch (only features travel back, never traces), the task's wall time and CPU time on the
    worker (the process's and its finished child processes', so a simulator that runs a solver
    executable is costed too), from which the stream sizes the next tasks, and per batch
    ``(theta, n_outside)`` where the task drew it (else None).  Grouping never changes a result:
    each batch keeps its own seeds and is consumed in batch order.  Once the group's ``tag`` flag
    is raised (:mod:`sciope_abs.engine.signals`: its round has filled) the batches not yet begun
    are skipped, their summaries None: the client throws such a task's result away unread.
    """

    task: SimulateSummarise

    def __call__(self, group: TaskGroup) -> tuple[list, float, float, list]:
        from ..engine.signals import is_raised

        t0, c0 = time.perf_counter(), _cpu_seconds()
        out: list = []
        drawn: list[tuple[np.ndarray, int] | None] = []
        for b in group.batches:
            if group.tag is not None and is_raised(group.tag):
                out.append(None)
                drawn.append(None)
                continue
            if isinstance(b, LazyBatch):
                theta, n_outside = group.draw(b)
                drawn.append((theta, int(n_outside)))
                b = ProposalBatch(b.index, theta, b.seed)
            else:
                drawn.append(None)
            out.append(self.task(b))
        return out, time.perf_counter() - t0, _cpu_seconds() - c0, drawn


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its waited-for children (user + system)."""
    t = os.times()
    return time.process_time() + t.children_user + t.children_system


@dataclass
class TaskSizer:
    """How many batches go into the next Dask task (guided self-scheduling on measured cost).

    In-process (``n_workers=0``) and before any cost is known a task holds one batch.  Then a task
    holds about ``target`` CPU seconds of simulation, but never more than ``remaining / (tail x
    n_workers)`` batches when ``remaining`` (batches still expected to be needed) is known, so the
    tasks shrink towards the end of a round.  The sizes change only the timing, never a result.

    Parameters
    ----------
    n_workers : int
        Worker threads (0: in-process).
    target : float
        Seconds of simulation per task.
    tail : int
        Tasks per worker the remaining work is at least cut into.
    least : float
        Seconds of simulation a task holds at least, once the cost is measured (the per-task
        overhead stays a small part of it; the round's cap still cuts the last task).
    """

    n_workers: int
    target: float = TASK_SECONDS
    tail: int = TAIL_TASKS_PER_WORKER
    least: float = MIN_TASK_SECONDS
    covered_per_worker: int = 2
    n_tasks: int = 0
    n_batches: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    sizes: dict = field(default_factory=dict)

    def observe(self, n_batches: int, seconds: float, cpu_seconds: float) -> None:
        """Record one finished task: its batches and its wall and CPU time on the worker."""
        self.n_tasks += 1
        self.n_batches += int(n_batches)
        self.seconds += float(seconds)
        self.cpu_seconds += float(cpu_seconds)

    @property
    def batch_seconds(self) -> Optional[float]:
        """Measured CPU seconds per batch (None before the first result).  CPU, not wall time: on
        a loaded machine a task's wall time grows with the load, its work does not."""
        return self.cpu_seconds / self.n_batches if self.n_batches else None

    def size(self, remaining: Optional[float] = None, at_most: Optional[int] = None) -> int:
        """Batches for the next task (``at_most``: a further cap, e.g. a round's ramp-up)."""
        per = self.batch_seconds
        if self.n_workers < 1 or per is None:
            g = 1
        else:
            g = max(1, int(self.target / max(per, 1e-9)))
            if remaining is not None:
                g = min(g, max(1, int(remaining // (self.tail * self.n_workers))))
            if at_most is not None:
                g = max(1, min(g, int(at_most)))
            g = max(g, min(math.ceil(self.least / max(per, 1e-9)), max(1, int(self.target / max(per, 1e-9)))))
        self.sizes[g] = self.sizes.get(g, 0) + 1
        return g

    def in_flight(self, covered: bool) -> int:
        """Tasks to keep in flight: two per worker and one more while more work is expected; two
        per worker (one running, one queued behind it, so no worker waits for the client's
        answer) once what is in flight covers the expected need (what is simulated past the end
        of a round is thrown away, so the stream queues no more than that)."""
        w = max(self.n_workers, 1)
        return self.covered_per_worker * w if covered else 2 * w + 1

    def profile(self) -> dict:
        """What the tasks did: count, batches, worker seconds (wall, CPU), group sizes used."""
        return {"n_tasks": self.n_tasks, "n_batches": self.n_batches, "task_seconds": self.seconds,
                "task_cpu_seconds": self.cpu_seconds,
                "batches_per_task": {str(k): v for k, v in sorted(self.sizes.items())}}


def n_workers(client: Any) -> int:
    """Worker threads of ``client`` (0 in-process)."""
    if client is None or (isinstance(client, str) and client == "sync"):
        return 0
    from ..engine.client import n_workers_of

    return n_workers_of(client)


def expected_need(rnd: Any, prior_rate: Optional[float]) -> Callable[[], Optional[float]]:
    """Proposals still expected to be needed by a round ``rnd`` (with ``n``, ``n_acc``,
    ``n_eval``): ``(n - n_acc) / rate``, the rate measured so far shrunk towards ``prior_rate``
    (the previous round's); only task sizes depend on it."""
    def need() -> Optional[float]:
        if prior_rate is None and rnd.n_eval == 0:
            return None
        prior = float(prior_rate) if prior_rate is not None else 0.5
        rate = (rnd.n_acc + 50.0 * prior) / (rnd.n_eval + 50.0)
        return max(rnd.n - rnd.n_acc, 0) / max(rate, 1e-4)

    return need


@dataclass
class StreamResult:
    """What :func:`stream_batches` did."""

    reason: str            # "target", "budget" or "time"
    n_batches: int         # batches processed (in order)
    n_proposals: int       # proposals simulated and processed
    n_discarded: int       # proposals simulated but discarded (arrived after the stop)
    wall_time: float
    profile: dict = field(default_factory=dict)  # TaskSizer.profile() of the tasks behind it


def stream_batches(task: SimulateSummarise, propose: Callable[[int, int], ProposalBatch],
                   consume: Callable[[ProposalBatch, np.ndarray], bool], *, batch_size: int,
                   max_proposals: Optional[int], deadline: Optional[float], client: Any,
                   progress: bool = False, desc: str = "abc",
                   need: Optional[Callable[[], Optional[float]]] = None) -> StreamResult:
    """Simulate batches ``0, 1, 2, ...`` in parallel and hand them to ``consume`` in order.

    On a cluster several batches travel in one task (:class:`TaskSizer`: about
    :data:`TASK_SECONDS` of measured simulation, smaller towards the end); in-process one at a
    time.  Either way every batch keeps its seed and is consumed in order, so results do not
    depend on the grouping.

    Parameters
    ----------
    task : SimulateSummarise
    propose : callable (k, m) -> ProposalBatch
        Batch ``k`` of ``m`` proposals (deterministic in ``k``).
    consume : callable (batch, summaries (m, F)) -> bool
        Called in batch order; returns True when the target is met.
    batch_size : int
    max_proposals : int or None
        No more proposals than this are made (the last batch is cut to fit).
    deadline : float or None
        ``time.perf_counter()`` value after which the run stops at the next result.
    client : Dask client, address, "sync" or None
    need : callable () -> float or None, optional
        Proposals still expected to be needed (:func:`expected_need`); only task sizes use it.
    """
    from ..engine import imap_unordered
    from ..engine.parallel import resolve_client

    t0 = time.perf_counter()
    client = resolve_client(client)
    sizer = TaskSizer(n_workers(client))
    feed = _RoundFeed(0, propose, int(batch_size), max_proposals, need)
    groups: dict[int, TaskGroup] = {}

    def items() -> Iterator[TaskGroup]:
        pos = 0
        while True:
            grp = feed.next_group(sizer)
            if grp is None:
                return
            groups[pos] = grp
            pos += 1
            yield grp

    buffered: dict[int, tuple[ProposalBatch, np.ndarray]] = {}
    next_k, reason = 0, "budget"
    gen = imap_unordered(SimulateGroup(task), items(), client=client, chunk_size=1, progress=progress, desc=desc,
                         max_in_flight=lambda: sizer.in_flight(feed.covered()))
    try:
        for pos, res in gen:
            _take(buffered, groups.pop(pos), res, sizer)
            next_k, stop = _drain(buffered, next_k, consume, feed)
            if stop:
                reason = "target"
                break
            if deadline is not None and time.perf_counter() > deadline:
                reason = "time"
                break
    finally:
        gen.close()
    n_disc = int(sum(b.theta.shape[0] for b, _ in buffered.values()))
    return StreamResult(reason, next_k, feed.consumed, n_disc, time.perf_counter() - t0, sizer.profile())


def _take(buffered: dict, group: TaskGroup, res: tuple, sizer: TaskSizer) -> None:
    """File one task's batches under their batch index (drawn ones with the proposals the task
    drew) and record its cost."""
    outs, seconds, cpu, drawn = res
    sizer.observe(len(group.batches), seconds, cpu)
    for b, s, d in zip(group.batches, outs, drawn):
        if d is not None:
            b = ProposalBatch(b.index, d[0], b.seed, n_outside=d[1])
        buffered[b.index] = (b, s)


def _drain(buffered: dict, next_k: int, consume: Callable[[ProposalBatch, np.ndarray], bool],
           feed: "_RoundFeed") -> tuple[int, bool]:
    """Consume the buffered batches ``next_k, next_k + 1, ...`` in order; (next index, stopped)."""
    while next_k in buffered:
        b, s = buffered.pop(next_k)
        feed.consumed += b.theta.shape[0]
        next_k += 1
        if consume(b, s):
            return next_k, True
    return next_k, False


@dataclass
class _RoundFeed:
    """The batches of one round as the stream pulls them, grouped into tasks."""

    rid: int
    propose: Callable[[int, int], Any]
    batch_size: int
    cap: Optional[int]
    need: Optional[Callable[[], Optional[float]]] = None
    draw: Any = None
    tag: Optional[str] = None
    k: int = 0
    made: int = 0
    consumed: int = 0
    n_groups: int = 0

    def covered(self) -> bool:
        """Whether the proposals made but not yet consumed cover the expected need."""
        wanted = self.need() if self.need is not None else None
        return wanted is not None and self.made - self.consumed >= float(wanted)

    def next_group(self, sizer: TaskSizer) -> Optional[TaskGroup]:
        """The next task's batches (None once the cap is reached).  A round's first tasks ramp
        up (1, 2, 4, ... batches) so that every worker starts soon after the round opens."""
        if self.cap is not None and self.made >= self.cap:
            return None
        remaining = None if self.cap is None else (self.cap - self.made) / self.batch_size
        wanted = self.need() if self.need is not None else None
        if wanted is not None:
            ahead = max(float(wanted) - (self.made - self.consumed), 0.0) / self.batch_size
            remaining = ahead if remaining is None else min(remaining, ahead)
        out = []
        size = sizer.size(remaining, at_most=1 << min(self.n_groups, 20))
        self.n_groups += 1
        for _ in range(size):
            if self.cap is not None and self.made >= self.cap:
                break
            m = self.batch_size if self.cap is None else min(self.batch_size, self.cap - self.made)
            out.append(self.propose(self.k, m))
            self.k += 1
            self.made += m
        return TaskGroup(tuple(out), self.draw, self.tag)


class RoundStream:
    """One task stream shared by the rounds of a run: workers stay fed between rounds.

    Round ``t``'s batches are pulled lazily by the engine while round ``t`` is open.  When its
    population fills, the client finalises the round (weights, kernel, tolerance, store) while
    the batches still in flight keep the workers busy; the next round's batches are pulled as
    soon as the next round is opened, without tearing the stream down (no per-round start-up,
    no cancellation and idle drain between rounds).  Results are still consumed in batch order
    within a round, so what a round accepts depends on the seed only, never on the number of
    workers or on timing.  Batches launched for a round that never reach its ``consume`` (they
    finished after the round filled, or were cancelled when the run ended) are counted in
    :attr:`n_unprocessed` (like the results discarded by :func:`stream_batches`), never in a
    round's ``n_simulations``.  With :attr:`keep_in_flight` False the stream is cancelled and
    restarted at the end of every round instead (what a per-round stream does); the results are
    the same, only the timing differs (on 2 loaded workers, toggle switch, 1000 particles,
    5 rounds: 31.0 / 28.8 s kept vs 36.1 / 29.3 s cancelled, load average 18-20).

    Parameters
    ----------
    task : SimulateSummarise
    client : Dask client, address, "sync" or None
    progress : bool
    desc : str
    """

    #: keep the stream (and what is in flight) across rounds; False: cancel at the end of a round
    keep_in_flight: bool = True
    #: cancel the tasks of a round that has filled (its queued tasks never run; a running one
    #: finishes, its result dropped) while keeping the stream: the next round's tasks go out at once
    cancel_closed: bool = True
    #: tell the running tasks of a round that has filled to skip the batches they have not begun
    stop_early: bool = True

    def __init__(self, task: SimulateSummarise, client: Any, progress: bool = False, desc: str = "abc") -> None:
        self.task, self.client, self.progress, self.desc = task, client, progress, desc
        self.n_unprocessed = 0
        self.n_cancelled = 0
        self._token = uuid.uuid4().hex[:12]  # names this stream's round flags (engine.signals)
        self._feed: Optional[_RoundFeed] = None
        self._made: dict[int, tuple[int, TaskGroup]] = {}
        self._gen: Optional[Generator[tuple[int, Any], None, None]] = None
        self._fed_out = False
        self._pos = 0
        self._rid = 0
        self._sizer: Optional[TaskSizer] = None

    def _client(self) -> Any:
        """The client, resolved once (``None`` or an address becomes a Dask client)."""
        if self._sizer is None:
            from ..engine.parallel import resolve_client

            self.client = resolve_client(self.client)
            self._sizer = TaskSizer(n_workers(self.client))
        return self.client

    @property
    def sizer(self) -> TaskSizer:
        """The task sizer of this stream (its cost measurements carry over from round to round)."""
        self._client()
        if self._sizer is None:
            raise RuntimeError("the round stream has no task sizer")
        return self._sizer

    def profile(self) -> dict:
        """:meth:`TaskSizer.profile` of every task this stream ran."""
        return self.sizer.profile()

    def _in_flight(self) -> int:
        f = self._feed
        return self.sizer.in_flight(f is not None and f.covered())

    def _items(self) -> Iterator[TaskGroup]:
        while True:
            f = self._feed
            grp = f.next_group(self.sizer) if f is not None else None
            if f is None or grp is None:
                self._fed_out = True  # the engine sees the end of the items: a later round restarts
                return
            self._made[self._pos] = (f.rid, grp)
            self._pos += 1
            yield grp

    def _start(self) -> None:
        from ..engine import imap_unordered

        self._drop_stream()
        self._fed_out, self._pos = False, 0
        self._gen = imap_unordered(SimulateGroup(self.task), self._items(), client=self._client(),
                                   chunk_size=1, progress=self.progress, desc=self.desc,
                                   max_in_flight=self._in_flight, cancel_if=self._closed)

    def _closed(self, positions: list) -> bool:
        """Whether the task at ``positions`` belongs to a round that has closed (the engine then
        cancels it: a queued task never runs); its batches are counted in :attr:`n_cancelled`."""
        if not self.cancel_closed:
            return False
        made = [self._made.get(p) for p in positions]
        groups = [m[1] for m in made if m is not None and not (m[0] == self._rid and self._feed is not None)]
        if len(groups) != len(made):
            return False
        for p, grp in zip(positions, groups):
            del self._made[p]
            self.n_cancelled += int(sum(batch_len(b) for b in grp.batches))
        return True

    def _drop_stream(self) -> None:
        if self._gen is not None:
            self._gen.close()  # cancels what is still in flight
            self._gen = None
        self.n_unprocessed += int(sum(batch_len(b) for _, grp in self._made.values() for b in grp.batches))
        self._made.clear()

    def run_round(self, propose: Callable[[int, int], ProposalBatch],
                  consume: Callable[[ProposalBatch, np.ndarray], bool], *, batch_size: int,
                  max_proposals: Optional[int], deadline: Optional[float],
                  need: Optional[Callable[[], Optional[float]]] = None, draw: Any = None) -> StreamResult:
        """Simulate one round's batches ``0, 1, ...`` and hand them to ``consume`` in order
        (the arguments as in :func:`stream_batches`; ``propose`` may return a
        :class:`LazyBatch`, whose proposals ``draw(batch) -> (theta, n_outside)`` makes in the
        task, on a worker: the client only consumes)."""
        t0 = time.perf_counter()
        self._rid += 1
        feed = _RoundFeed(self._rid, propose, int(batch_size), max_proposals, need, draw,
                          tag=f"sciope-round-{self._token}-{self._rid}" if self.stop_early else None)
        self._feed = feed
        if self._gen is None or self._fed_out:
            self._start()
        buffered: dict[int, tuple[ProposalBatch, np.ndarray]] = {}
        next_k, reason = 0, "budget"
        gen = self._gen
        if gen is None:
            raise RuntimeError("the round stream has no task stream")
        for pos, res in gen:
            rid, grp = self._made.pop(pos)
            if rid != feed.rid:  # over-proposed for a round that is already closed
                done = [o is not None for o in res[0]]  # batches skipped once it closed are None
                if any(done):
                    self.sizer.observe(sum(done), res[1], res[2])
                self.n_unprocessed += int(sum(batch_len(b) for b, d in zip(grp.batches, done) if d))
                self.n_cancelled += int(sum(batch_len(b) for b, d in zip(grp.batches, done) if not d))
                continue
            _take(buffered, grp, res, self.sizer)
            next_k, stop = _drain(buffered, next_k, consume, feed)
            if stop:
                reason = "target"
                break
            if deadline is not None and time.perf_counter() > deadline:
                reason = "time"
                break
        else:
            self._gen = None  # all items done and delivered
        self._feed = None  # nothing more of this round is pulled
        if feed.tag is not None and any(rid == feed.rid for rid, _ in self._made.values()):
            from ..engine.signals import raise_flag

            raise_flag(self.client, feed.tag)  # its tasks still running skip the batches not begun
        n_disc = int(sum(b.theta.shape[0] for b, _ in buffered.values()))
        self.n_unprocessed += n_disc
        if not self.keep_in_flight and self._made:
            self._drop_stream()
        return StreamResult(reason, next_k, feed.consumed, n_disc, time.perf_counter() - t0, self.sizer.profile())

    def close(self) -> None:
        """Cancel what is in flight; count it as unprocessed."""
        self._drop_stream()
