"""sciope_abs.engine: Dask done properly (DESIGN §4).

- :func:`get_client` — an explicit address, ``$SCIOPE_ABS_SCHEDULER``, or a cached local cluster
  of worker processes (one thread each, the environment's ``bin`` on ``PATH``).
- :func:`parallel_map` — chunked map with automatic chunk sizes, per-item seeds, progress bar,
  retries of lost tasks, results in input order; :class:`TaskFailure` marks failed items.
- :func:`imap_unordered` — streaming results as they complete, bounded in flight, cancellable.
- :func:`simulate_parallel` — a Simulator over a design, reproducible for any chunking.
- :func:`submit_batches` — plain Dask futures, one per batch, for composing your own workflow.
- :func:`ship` / :func:`forget_shipped` — a function object is sent to the workers once per client.

``client=None`` means: ``$SCIOPE_ABS_SCHEDULER``, else the ``distributed.Client`` you created,
else a cached local cluster (:func:`get_client`).

Dask itself is imported only when a cluster is actually used (``client="sync"`` never needs it).
"""
from .client import SCHEDULER_ENV, close_clients, get_client, user_client
from .futures import submit_batches
from .parallel import TaskFailure, imap_unordered, parallel_map
from .progress import make_progress
from .shipping import forget_shipped, ship
from .simulate import simulate_parallel

__all__ = ["get_client", "user_client", "close_clients", "SCHEDULER_ENV", "parallel_map", "imap_unordered",
           "TaskFailure", "simulate_parallel", "make_progress", "submit_batches", "ship", "forget_shipped"]
