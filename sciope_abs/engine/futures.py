"""A futures-level primitive for users who compose their own Dask workflows.

:func:`submit_batches` submits one Dask task per batch and returns the plain
``distributed.Future`` objects, so the results can be combined with anything else Dask offers
(``distributed.as_completed``, ``client.gather``, futures passed on to other tasks).  The
function is shipped to the workers once per client, as in :func:`~sciope_abs.engine.parallel_map`,
and batch ``i`` gets the same seed as item ``i`` of ``parallel_map``: results depend on the seed
only.
"""
from __future__ import annotations

import uuid
from typing import Any, Callable, Iterable, Optional

from ..seeding import SeedLike, point_seeds
from .parallel import resolve_client
from .shipping import ship, unwrap

__all__ = ["submit_batches"]


def _call(fn: Callable, batch: Any, seed: Any) -> Any:
    fn = unwrap(fn)
    return fn(batch) if seed is None else fn(batch, seed)


def submit_batches(fn: Callable, batches: Iterable, *, seed: SeedLike = None, client: Any = None,
                   desc: Optional[str] = None) -> list:
    """Submit ``fn(batch)`` (or ``fn(batch, seed_i)``) for every batch; return the Dask futures.

    Parameters
    ----------
    fn : callable
        Picklable (module-level function or object of an importable class); sent to the
        workers once per client and reused by later calls with the same object.
    batches : iterable
        One task per element (a batch is whatever ``fn`` takes: a block of parameter points,
        a :class:`~sciope_abs.inference.ProposalBatch`, ...).
    seed : int or SeedSequence, optional
        Batch ``i`` receives ``point_seeds(seed, n)[i]`` as second argument.
    client : distributed.Client, address str or None
        As in :func:`~sciope_abs.engine.parallel_map`, but a real cluster: ``"sync"`` has no
        futures.
    desc : str, optional
        Prefix of the task names shown on the dashboard.

    Returns
    -------
    list of distributed.Future, length n
        Future ``i`` resolves to ``fn``'s result for batch ``i``; an exception in ``fn`` is the
        future's exception (Dask's convention: ``future.result()`` raises it).

    Raises
    ------
    ValueError
        ``client="sync"``, or ``fn`` cannot be pickled.
    """
    client = resolve_client(client)
    if client == "sync":
        raise ValueError("submit_batches needs a Dask client (client='sync' has no futures); "
                         "use parallel_map or imap_unordered to run in this process")
    batches = list(batches)
    seeds = [None] * len(batches) if seed is None else point_seeds(seed, len(batches))
    label = (desc or getattr(fn, "__name__", None) or type(fn).__name__).replace(" ", "_")
    fn_future = ship(client, fn, label)
    token = uuid.uuid4().hex[:8]
    return [client.submit(_call, fn_future, batch, s, key=f"sciope-{label}-{token}-{i}", pure=False)
            for i, (batch, s) in enumerate(zip(batches, seeds))]
