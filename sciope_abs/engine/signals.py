"""Flags a client raises on its workers while their tasks run, so that a running task can stop
early once what it computes is no longer wanted (SMC-ABC: the batches of a round that has
filled).

A flag is a name in a set held by each worker process.  :func:`raise_flag` sets it there through
``client.run(..., wait=False)``: the workers' event loops set it while their task threads go on,
and the client does not wait for an answer.  A task reads it between its own steps with
:func:`is_raised`, a set lookup in its own process, no communication.  A flag only ever makes a
task skip work whose result the caller throws away, so whether and when it arrives changes the
timing, never a result.  In-process (``client="sync"``) there is nothing running to stop:
:func:`raise_flag` does nothing.  No Dask import here: the workers' side is plain Python.
"""
from __future__ import annotations

from typing import Any

__all__ = ["raise_flag", "is_raised", "MAX_FLAGS"]

#: flags kept per worker process (the oldest are forgotten beyond this)
MAX_FLAGS = 4096

_raised: dict[str, None] = {}  # an insertion-ordered set


def _raise_here(name: str) -> None:
    _raised[str(name)] = None
    while len(_raised) > MAX_FLAGS:
        del _raised[next(iter(_raised))]


async def _raise_on_worker(name: str) -> None:
    """What ``client.run`` runs on a worker's event loop (``wait=False`` needs a coroutine)."""
    _raise_here(name)


def is_raised(name: str) -> bool:
    """Whether flag ``name`` has been raised in this process."""
    return name in _raised


def raise_flag(client: Any, name: str) -> None:
    """Raise flag ``name`` on every worker of ``client`` without waiting (no-op in-process).

    A worker that cannot be reached just misses the flag (its task then runs to its end, as it
    would without flags)."""
    if client is None or (isinstance(client, str) and client == "sync"):
        return
    try:
        client.run(_raise_on_worker, str(name), wait=False)
    except Exception:  # the cluster is going away: nothing left to stop
        return
