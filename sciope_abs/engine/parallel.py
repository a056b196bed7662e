"""Chunked parallel map on Dask: automatic chunking, per-item seeds, retries, streaming.

Items are grouped into *chunks*; one chunk is one Dask task that loops over its items (the
scheduler's per-task overhead is ~1 ms, so items that take microseconds-to-milliseconds are
batched until a task takes ~0.5 s).  Per-item seeds are derived from ``seed`` **before** the
chunking (item ``i`` gets ``point_seeds(seed, n)[i]``), so results depend only on the seed, never
on the number of workers or the chunk size.

``client="sync"`` runs everything in this process (no Dask import), chunk by chunk, with the same
results; it is meant for tests, debugging and tiny jobs.

Failures, one mechanism: an exception inside ``fn`` fails only its item (``on_error``).  A task
whose worker process dies is re-run by the Dask scheduler itself, at most ``allowed-failures + 1``
times in all (``distributed.scheduler.allowed-failures``, 3 by default: 4 runs); after that its
items fail with one message ("task lost: its worker died on each of 4 attempts ...") and the rest
of the batch goes on.  The engine never resubmits such a task on top.  A task that was lost
without running (the copy of ``fn`` on the workers vanished with them) is resubmitted, with ``fn``
shipped again, at most ``retries`` times.

The function is shipped to the workers once per client (:mod:`sciope_abs.engine.shipping`), so
maps called again and again with the same simulator (SMC rounds) do not serialise it again.
"""
from __future__ import annotations

import contextlib

import itertools
import math
import pickle
import time
import traceback
import uuid
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Generator, Iterable, Iterator, Optional, Sequence, Union

import numpy as np

from .._checks import check_positive_int
from ..seeding import SeedLike, as_seed_sequence, point_seeds
from .progress import make_progress
from .shipping import ship, unwrap

__all__ = ["TaskFailure", "SchedulerLostError", "parallel_map", "imap_unordered", "resolve_client",
           "TARGET_TASK_SECONDS"]

#: what ``chunk_size="auto"`` aims for: seconds of work per Dask task
TARGET_TASK_SECONDS = 0.5
#: chunks per worker (at least) when the number of items is known, for load balance
MIN_TASKS_PER_WORKER = 4

ChunkSize = Union[int, str]
#: tasks kept in flight: a number, or a callable asked before every submission
InFlight = Union[int, Callable[[], int]]


@dataclass(frozen=True)
class TaskFailure:
    """Placed in the result slot of an item whose function raised (``on_error="return"``).

    Attributes
    ----------
    index : int
        Position of the item in the input.
    error : str
        ``"ExceptionType: message"``.
    traceback : str
        The formatted traceback from the worker (empty when the task itself was lost).
    """

    index: int
    error: str
    traceback: str = ""

    def __repr__(self) -> str:
        return f"TaskFailure(index={self.index}, error={self.error!r})"


class SchedulerLostError(ConnectionError):
    """The Dask scheduler went away (or stopped answering) in the middle of a map.

    The message is one line naming the scheduler's address; what the caller finished before
    (SMC rounds in ``run_dir``, finished pipeline stages) stays on disk.
    """


def _scheduler_address(client: Any) -> str:
    with contextlib.suppress(Exception):
        return str(client.scheduler.address)
    return "(unknown address)"


def _is_scheduler_loss(client: Any, exc: BaseException) -> bool:
    """Whether ``exc`` (raised by a Dask call) means the scheduler connection is gone."""
    from distributed.comm.core import CommClosedError

    if isinstance(exc, CommClosedError):
        return True
    if getattr(client, "status", "running") not in ("running", "newly-created"):
        return True
    return isinstance(exc, (OSError, TimeoutError)) and "connect" in str(exc).lower()


def _lost(client: Any, exc: BaseException) -> SchedulerLostError:
    reason = " ".join(f"{type(exc).__name__}: {exc}".split())
    if len(reason) > 120:
        reason = reason[:117] + "..."
    return SchedulerLostError(f"lost the Dask scheduler at {_scheduler_address(client)} ({reason}); "
                              "work finished before is kept")


# --------------------------------------------------------------------------- running one chunk
def _portable_exception(exc: BaseException) -> BaseException:
    """The exception itself if it pickles, else a RuntimeError carrying its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _error_record(exc: BaseException) -> tuple[BaseException, str, str]:
    message = " ".join(f"{type(exc).__name__}: {exc}".split())
    return _portable_exception(exc), message, traceback.format_exc()


def run_chunk(fn: Callable, items: Sequence, seeds: Optional[Sequence], batched: bool = False) -> dict:
    """Run ``fn`` over one chunk of items (inside a Dask task or in-process).

    Parameters
    ----------
    fn : callable
        ``fn(item)`` / ``fn(item, seed)``; with ``batched=True`` ``fn(items, seeds)`` returning a
        sequence of ``len(items)`` results (a failing batch is re-run item by item so that one
        bad item does not take the others with it).
    items : sequence
    seeds : sequence of SeedSequence or None
    batched : bool

    Returns
    -------
    dict
        ``values`` (list, ``None`` where an item failed), ``errors`` (position -> (exception,
        message, traceback)), ``times`` (seconds per item), ``warnings`` (unique
        (category, message) pairs raised inside).
    """
    m = len(items)
    try:
        fn = unwrap(fn)  # unpickled once per worker process
    except Exception as exc:  # it cannot be loaded here (a module missing on the worker ...): every item fails
        record = _error_record(exc)
        return {"values": [None] * m, "errors": {p: record for p in range(m)}, "times": [0.0] * m, "warnings": []}
    values: list = [None] * m
    errors: dict[int, tuple] = {}
    times = [0.0] * m
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        def one(pos: int) -> None:
            t0 = time.perf_counter()
            try:
                if batched:
                    out = fn([items[pos]], None if seeds is None else [seeds[pos]])
                    values[pos] = out[0]
                elif seeds is None:
                    values[pos] = fn(items[pos])
                else:
                    values[pos] = fn(items[pos], seeds[pos])
            except Exception as exc:  # one failing item never kills the chunk
                errors[pos] = _error_record(exc)
            times[pos] = time.perf_counter() - t0

        if batched and m > 1:
            t0 = time.perf_counter()
            try:
                out = fn(list(items), None if seeds is None else list(seeds))
                if len(out) != m:
                    raise ValueError(f"batched function returned {len(out)} results for {m} items")
                values = list(out)
                times = [(time.perf_counter() - t0) / m] * m
            except Exception:
                for pos in range(m):
                    one(pos)
        else:
            for pos in range(m):
                one(pos)
    seen: dict[tuple, None] = {}
    for w in caught:
        seen.setdefault((w.category, str(w.message)), None)
    return {"values": values, "errors": errors, "times": times, "warnings": list(seen)}


# --------------------------------------------------------------------------- chunk planning
class _ChunkPlanner:
    """Decides how many items go into the next task (fixed, or adaptive for ``"auto"``)."""

    def __init__(self, chunk_size: ChunkSize, total: Optional[int], n_workers: int,
                 target: float = TARGET_TASK_SECONDS) -> None:
        if isinstance(chunk_size, str):
            if chunk_size != "auto":
                raise ValueError(f"chunk_size must be a positive int or 'auto', got {chunk_size!r}")
            self.fixed: Optional[int] = None
        else:
            self.fixed = check_positive_int(chunk_size, "chunk_size", what="a positive int or 'auto'")
        self.target = float(target)
        self.cap = (max(1, math.ceil(total / (MIN_TASKS_PER_WORKER * max(1, n_workers))))
                    if total else 10_000)
        self._times: list[float] = []

    def observe(self, times: Sequence[float]) -> None:
        self._times.extend(float(t) for t in times)
        del self._times[:-256]

    def next_size(self) -> int:
        if self.fixed is not None:
            return self.fixed
        if not self._times:
            return 1  # pilot: one item per task until a timing comes back
        # lower quartile: robust against the first call on a worker (solver compilation)
        per_item = max(float(np.percentile(self._times, 25)), 1e-6)
        return int(min(self.cap, max(1, self.target // per_item)))


# --------------------------------------------------------------------------- clients
def resolve_client(client: Any) -> Any:
    """``"sync"`` stays ``"sync"``; ``None`` or an address string becomes a Dask client.

    With ``client=None`` the environment variable ``SCIOPE_ABS_SCHEDULER`` may also say ``sync``.
    """
    if client is None:
        import os

        from .client import SCHEDULER_ENV

        if os.environ.get(SCHEDULER_ENV, "").strip() == "sync":
            return "sync"
    if isinstance(client, str):
        if client == "sync":
            return "sync"
        from .client import get_client

        return get_client(client)
    if client is None:
        from .client import get_client

        return get_client()
    return client


def _seed_iter(seed: Any, total: Optional[int]) -> Optional[Iterator[np.random.SeedSequence]]:
    if seed is None:
        return None
    if total is not None:
        return iter(point_seeds(seed, total))
    if isinstance(seed, (list, tuple)):
        return iter([as_seed_sequence(s) for s in seed])
    base = as_seed_sequence(seed)
    # spawning one at a time gives the same children as spawning all at once
    return (base.spawn(1)[0] for _ in itertools.count())


# --------------------------------------------------------------------------- the streaming core
@dataclass
class _Chunk:
    indices: list
    items: list
    seeds: Optional[list]
    attempts: int = 0


def _take_chunks(items: Iterator, seeds: Optional[Iterator], planner: _ChunkPlanner,
                 counter: Iterator[int]) -> Iterator[_Chunk]:
    """Lazily cut the item stream into chunks; the planner is asked at each cut."""
    while True:
        size = planner.next_size()
        batch = list(itertools.islice(items, size))
        if not batch:
            return
        idx = [next(counter) for _ in batch]
        sds = None if seeds is None else [next(seeds) for _ in batch]
        yield _Chunk(idx, batch, sds)


def _stream(fn: Callable, items: Iterable, *, total: Optional[int], client: Any, chunk_size: ChunkSize,
            seed: Any, retries: int, max_in_flight: Optional[InFlight], batched: bool, desc: Optional[str],
            cancel_if: Optional[Callable[[list], bool]] = None) -> Generator[tuple[_Chunk, dict], None, None]:
    """Yield ``(chunk, run_chunk result)`` as chunks complete; cancels what is left on close."""
    if retries is None or int(retries) < 0:
        raise ValueError(f"retries must be >= 0, got {retries!r}")
    retries = int(retries)
    seeds = _seed_iter(seed, total)
    item_iter = iter(items)
    counter = itertools.count()

    if client == "sync":
        planner = _ChunkPlanner(chunk_size, total, 1)
        for chunk in _take_chunks(item_iter, seeds, planner, counter):
            res = run_chunk(fn, chunk.items, chunk.seeds, batched)
            planner.observe(res["times"])
            yield chunk, res
        return
    planner, max_in_flight = _dask_plan(client, chunk_size, total, max_in_flight)
    yield from _stream_dask(fn, _take_chunks(item_iter, seeds, planner, counter), planner, client=client,
                            retries=retries, max_in_flight=max_in_flight, batched=batched, desc=desc,
                            cancel_if=cancel_if)


def _dask_plan(client: Any, chunk_size: ChunkSize, total: Optional[int], max_in_flight: Optional[InFlight]
               ) -> tuple[_ChunkPlanner, InFlight]:
    """The chunk planner and the number of tasks in flight for a cluster's worker count."""
    from .client import n_workers_of

    workers = n_workers_of(client)
    planner = _ChunkPlanner(chunk_size, total, workers)
    if max_in_flight is None:
        max_in_flight = 2 * workers + 1
    if callable(max_in_flight):  # asked again before every submission (at least 1 is kept)
        return planner, max_in_flight
    max_in_flight = int(max_in_flight)
    if max_in_flight < 1:
        raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
    return planner, max_in_flight


def _stream_dask(fn: Callable, chunks: Iterator[_Chunk], planner: _ChunkPlanner, *, client: Any, retries: int,
                 max_in_flight: InFlight, batched: bool, desc: Optional[str],
                 cancel_if: Optional[Callable[[list], bool]] = None) -> Generator[tuple[_Chunk, dict], None, None]:
    """The Dask side of :func:`_stream`: ``fn`` shipped once, ``max_in_flight`` tasks topped up;
    before topping up, the pending tasks whose item positions ``cancel_if`` names are cancelled
    (never yielded)."""
    from distributed import as_completed

    label = (desc or getattr(fn, "__name__", None) or type(fn).__name__).replace(" ", "_")
    token = uuid.uuid4().hex[:8]
    ac = as_completed(loop=client.loop)
    try:
        fn_future = ship(client, fn, label)
    except Exception as exc:
        if _is_scheduler_loss(client, exc):
            raise _lost(client, exc) from None
        raise
    pending: dict[Any, _Chunk] = {}
    n_submitted = itertools.count()
    exhausted = False

    def submit(chunk: _Chunk) -> None:
        nonlocal fn_future
        if fn_future.status not in ("pending", "finished"):  # it erred or was cancelled: send it again
            fn_future = ship(client, fn, label, renew=True)
        fut = client.submit(run_chunk, fn_future, chunk.items, chunk.seeds, batched,
                            key=f"sciope-{label}-{token}-{next(n_submitted)}", pure=False)
        pending[fut] = chunk
        ac.add(fut)

    def fill() -> None:
        nonlocal exhausted
        while not exhausted and len(pending) < (max(1, int(max_in_flight())) if callable(max_in_flight)
                                                else max_in_flight):
            chunk = next(chunks, None)
            if chunk is None:
                exhausted = True
                return
            submit(chunk)

    def guarded(call: Callable, *args: Any) -> Any:
        try:
            return call(*args)
        except Exception as exc:
            if _is_scheduler_loss(client, exc):
                raise _lost(client, exc) from None
            raise

    def wait_next() -> Any:
        """Top up the tasks in flight and wait for the next one (None when all are done)."""
        if cancel_if is not None and pending:
            drop = [f for f, ch in pending.items() if cancel_if(ch.indices)]
            if drop:
                client.cancel(drop)
                for f in drop:
                    pending.pop(f)
        fill()
        return next(ac) if pending else None

    try:
        while True:
            fut = guarded(wait_next)
            if fut is None:
                break
            chunk = pending.pop(fut, None)
            if chunk is None:
                continue
            try:
                res = fut.result()
            except Exception as exc:  # the task itself was lost: its worker died, or its inputs did
                if _is_scheduler_loss(client, exc):
                    raise _lost(client, exc) from None
                chunk.attempts += 1
                if _resubmittable(exc) and chunk.attempts <= retries:
                    guarded(submit, chunk)
                    continue
                res = _lost_chunk_result(chunk, exc)
            finally:
                fut.release()
            planner.observe(res["times"])
            yield chunk, res
    finally:
        if pending:
            with contextlib.suppress(Exception):  # the scheduler may be gone
                client.cancel(list(pending), force=True)
            pending.clear()
        ac.clear()


def _resubmittable(exc: BaseException) -> bool:
    """Whether a lost task is worth submitting again.

    A task whose worker died was already re-run by the scheduler (``allowed-failures`` times,
    Dask's own bound): ``KilledWorker`` is final, never resubmitted on top.  A task that never ran
    because its inputs vanished (the shipped function's holders died) or that was cancelled by
    the cluster is resubmitted, at most ``retries`` times.
    """
    from distributed.scheduler import KilledWorker

    return not isinstance(exc, KilledWorker)


def _lost_chunk_result(chunk: _Chunk, exc: BaseException) -> dict:
    """A run_chunk-shaped result marking every item of a lost task as failed, with one message."""
    from distributed.scheduler import KilledWorker

    if isinstance(exc, KilledWorker):
        runs = getattr(exc, "allowed_failures", None)
        msg = ("its worker died on every attempt" if runs is None else
               f"its worker died on each of {int(runs) + 1} attempts")
        msg += " (killed by the function, or out of memory)"
    else:
        msg = " ".join(f"{type(exc).__name__}: {exc}".split()) or type(exc).__name__
    err = (RuntimeError(f"task lost: {msg}"), f"task lost: {msg}", "")
    return {"values": [None] * len(chunk.items), "errors": {p: err for p in range(len(chunk.items))},
            "times": [], "warnings": []}


def _reemit(warns: Iterable[tuple]) -> None:
    for category, message in warns:
        warnings.warn(message, category, stacklevel=3)


def _check_on_error(on_error: str) -> None:
    if on_error not in ("raise", "return"):
        raise ValueError(f"on_error must be 'raise' or 'return', got {on_error!r}")


def _raise_item_error(index: int, record: tuple) -> None:
    exc, message, _tb = record
    try:
        new = type(exc)(f"item {index} failed: {message}")
    except Exception:
        new = RuntimeError(f"item {index} failed: {message}")
    raise new from exc


# --------------------------------------------------------------------------- public API
def parallel_map(fn: Callable, items: Iterable, *, client: Any = None, chunk_size: ChunkSize = "auto",
                 progress: bool = True, seed: SeedLike | Sequence[np.random.SeedSequence] = None,
                 retries: int = 2, on_error: str = "raise", desc: Optional[str] = None,
                 max_in_flight: Optional[int] = None) -> list:
    """Apply ``fn`` to every item on a Dask cluster; results in input order.

    Parameters
    ----------
    fn : callable
        ``fn(item)``, or ``fn(item, seed)`` when ``seed`` is given.  It must be picklable (a
        module-level function or an object of an importable class); it is sent to the workers
        once per client (:func:`~sciope_abs.engine.ship`), not with every task or call.
    items : iterable
        The inputs (materialised into a list; ``n = len(items)``).
    client : distributed.Client, address str, "sync" or None
        ``None``: :func:`~sciope_abs.engine.get_client` (``$SCIOPE_ABS_SCHEDULER`` or a local
        cluster); ``"sync"``: run in this process without Dask.
    chunk_size : int or "auto"
        Items per task.  ``"auto"`` times pilot tasks and then aims for ~0.5 s per task, with at
        least 4 tasks per worker.  Results never depend on it.
    progress : bool
        Show a progress bar (stderr).
    seed : int, SeedSequence or list of n SeedSequence, optional
        Item ``i`` receives ``point_seeds(seed, n)[i]`` as second argument.
    retries : int
        How often a task lost *without running* (the workers holding ``fn`` died) is submitted
        again.  A task whose worker died while running it is re-run by the scheduler only
        (``distributed.scheduler.allowed-failures``, default 3), then its items fail.
    on_error : {"raise", "return"}
        An exception in ``fn`` for one item: ``"raise"`` cancels the rest and raises (the
        message names the item index); ``"return"`` puts a :class:`TaskFailure` in that slot and
        keeps all other results.
    desc : str, optional
        Progress-bar label (and Dask task-name prefix).
    max_in_flight : int, optional
        Tasks submitted at a time (default ``2 * workers + 1``).

    Returns
    -------
    list, length n
    """
    _check_on_error(on_error)
    items = list(items)
    n = len(items)
    if n == 0:
        return []
    client = resolve_client(client)
    out: list = [None] * n
    warns: dict[tuple, None] = {}
    bar = make_progress(n, desc=desc, enabled=progress)
    stream = _stream(fn, items, total=n, client=client, chunk_size=chunk_size, seed=seed, retries=retries,
                     max_in_flight=max_in_flight, batched=False, desc=desc)
    try:
        for chunk, res in stream:
            for pos, index in enumerate(chunk.indices):
                record = res["errors"].get(pos)
                if record is None:
                    out[index] = res["values"][pos]
                elif on_error == "raise":
                    _raise_item_error(index, record)
                else:
                    out[index] = TaskFailure(index, record[1], record[2])
            for w in res["warnings"]:
                warns.setdefault(w, None)
            bar.update(len(chunk.indices))
    finally:
        stream.close()
        bar.close()
    _reemit(warns)
    return out


def imap_unordered(fn: Callable, items: Iterable, *, client: Any = None, chunk_size: ChunkSize = 1,
                   seed: SeedLike = None, retries: int = 2, on_error: str = "raise",
                   max_in_flight: Optional[InFlight] = None, progress: bool = False,
                   desc: Optional[str] = None, total: Optional[int] = None,
                   cancel_if: Optional[Callable[[list], bool]] = None) -> Generator[tuple[int, Any], None, None]:
    """Yield ``(index, result)`` pairs as they complete; closing the generator cancels the rest.

    ``items`` may be an endless iterator (streaming ABC draws proposals until enough are
    accepted, then closes the generator).  At most ``max_in_flight`` tasks are outstanding, so
    items are pulled from the iterator lazily.  Each item's result is yielded exactly once.

    Parameters
    ----------
    fn : callable
        ``fn(item)`` or ``fn(item, seed)`` when ``seed`` is given.
    items : iterable or iterator
    client, chunk_size, retries, on_error, progress, desc
        As in :func:`parallel_map` (``chunk_size`` defaults to 1 here).
    seed : int or SeedSequence, optional
        Item ``i`` (in input order) receives the ``i``-th child of the seed: the same child it
        would get from :func:`parallel_map` on the first ``n`` items.
    max_in_flight : int or callable () -> int, optional
        Outstanding tasks (default ``2 * workers + 1``); a callable is asked before every
        submission (a streaming caller that knows how much more work it needs), at least one
        task is always kept in flight.
    total : int, optional
        Length of ``items`` if known (for the progress bar and chunk planning).
    cancel_if : callable (list of int) -> bool, optional
        Asked, before more tasks are submitted, with the input positions of each task still in
        flight: True cancels that task, whose items are then never yielded (a streaming caller
        that no longer needs them: SMC-ABC's batches of a round that has filled).  A task already
        running finishes on its worker, its result dropped; a queued one never runs.  Ignored
        in-process.

    Yields
    ------
    (int, object)
        The item's input position and ``fn``'s result (or a :class:`TaskFailure`).
    """
    _check_on_error(on_error)
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    client = resolve_client(client)
    if seed is not None and isinstance(seed, (list, tuple)) and total is None:
        total = len(seed)
    stream = _stream(fn, items, total=total, client=client, chunk_size=chunk_size, seed=seed, retries=retries,
                     max_in_flight=max_in_flight, batched=False, desc=desc, cancel_if=cancel_if)
    bar = make_progress(total, desc=desc, enabled=progress)
    try:
        for chunk, res in stream:
            for w in res["warnings"]:
                warnings.warn(w[1], w[0], stacklevel=2)
            for pos, index in enumerate(chunk.indices):
                record = res["errors"].get(pos)
                if record is not None:
                    if on_error == "raise":
                        _raise_item_error(index, record)
                    bar.update(1)
                    yield index, TaskFailure(index, record[1], record[2])
                else:
                    bar.update(1)
                    yield index, res["values"][pos]
    finally:
        stream.close()
        bar.close()
