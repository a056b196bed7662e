"""sciope_abs.engine: Dask done properly (DESIGN §4).

- :func:`get_client` — an explicit address, ``$SCIOPE_ABS_SCHEDULER``, or a cached local cluster
  of worker processes (one thread each, the environment's ``bin`` on ``PATH``).
- :func:`parallel_map` — chunked map with automatic chunk sizes, per-item seeds, progress bar,
  retries of lost tasks, results in input order; :class:`TaskFailure` marks failed items.
- :func:`imap_unordered` — streaming results as they complete, bounded in flight, cancellable.
- :func:`simulate_parallel` — a Simulator over a design, reproducible for any chunking.

Dask itself is imported only when a cluster is actually used (``client="sync"`` never needs it).
"""
from .client import SCHEDULER_ENV, close_clients, get_client
from .parallel import TaskFailure, imap_unordered, parallel_map
from .progress import make_progress
from .simulate import simulate_parallel

__all__ = ["get_client", "close_clients", "SCHEDULER_ENV", "parallel_map", "imap_unordered", "TaskFailure",
           "simulate_parallel", "make_progress"]
