"""Simulating a design of parameter points on Dask, chunk by chunk, reproducibly.

Each task simulates a contiguous block of points with ``simulator.simulate(theta_block,
seed=[per-point SeedSequence ...])``; the per-point seeds are ``point_seeds(seed, n)``, computed
once here, so the result is bit-identical to ``simulator.simulate(theta, seed=seed)`` whatever the
number of workers or the chunk size.  The simulator is shipped to the workers once per client
(later calls with the same simulator reuse the copy on the workers); compiled solvers are cached
on each worker by the simulators themselves.
"""
from __future__ import annotations

import re
import warnings
from typing import Any, Callable, Optional, Sequence

import numpy as np

from .._checks import check_positive_int
from ..seeding import SeedLike, point_seeds
from ..simulators.base import SimulationWarning, check_theta, report_failures
from .parallel import ChunkSize, _stream, resolve_client
from .progress import make_progress

__all__ = ["simulate_parallel", "SimulateBlock"]

# report_failures' wording inside a task; stripped so the client's one warning reads cleanly
_FAILURE_PREFIX = re.compile(r"^\d+ of \d+ parameter points failed to simulate \(NaN traces\); first: point \d+: ")


class SimulateBlock:
    """The picklable task body: simulate a block of points, optionally post-process inside the task.

    Parameters
    ----------
    simulator : Simulator
    n_traj : int
    postprocess : callable, optional
        ``postprocess(x (m, r, S, T)) -> (m, F)``, run on the worker (e.g. a Summary).
    """

    def __init__(self, simulator: Any, n_traj: int, postprocess: Optional[Callable] = None) -> None:
        self.simulator = simulator
        self.n_traj = int(n_traj)
        self.postprocess = postprocess

    def __eq__(self, other: object) -> bool:
        # equal blocks (same simulator and postprocess objects) reuse the copy already shipped
        return (type(other) is type(self) and other.simulator is self.simulator
                and other.n_traj == self.n_traj and other.postprocess is self.postprocess)

    def __hash__(self) -> int:
        return hash((id(self.simulator), self.n_traj, id(self.postprocess)))

    def __call__(self, items: list, seeds: Optional[list]) -> list:
        theta = np.stack([it[0] for it in items])
        inits = [it[1] for it in items]
        init = None if inits[0] is None else np.stack(inits)
        x = self.simulator.simulate(theta, n_traj=self.n_traj, seed=seeds, initial_state=init)
        x = np.asarray(x, dtype=np.float64)
        failed = np.isnan(x.reshape(len(items), -1)).all(axis=1) if x.size else np.zeros(len(items), bool)
        if self.postprocess is not None:
            feats = np.asarray(self.postprocess(x), dtype=np.float64)
            if feats.ndim != 2 or feats.shape[0] != len(items):
                raise ValueError(f"postprocess must return shape (m, F) for m={len(items)} points, "
                                 f"got {feats.shape}")
            x = feats
        return [(x[i], bool(failed[i])) for i in range(len(items))]


def _point_initial_states(initial_state: Optional[np.ndarray], n: int) -> list:
    """One initial state (or None) per point, from ``initial_state`` of shape (S,) or (n, S)."""
    if initial_state is None:
        return [None] * n
    init = np.asarray(initial_state, dtype=np.float64)
    if init.ndim == 1:
        return [init] * n
    if init.ndim == 2 and init.shape[0] == n:
        return list(init)
    raise ValueError(f"initial_state must have shape (S,) or ({n}, S), got {init.shape}")


def _collect_rows(stream: Any, n: int, bar: Any) -> tuple[list, dict[int, str], dict[tuple, None]]:
    """Drain the task stream: each point's row (None where it raised), the reason of each failed
    point, and the other warnings the tasks emitted (deduplicated, in order)."""
    rows: list = [None] * n
    failures: dict[int, str] = {}
    other_warnings: dict[tuple, None] = {}
    for chunk, res in stream:
        reason = "simulation returned NaN"
        for w in res["warnings"]:
            if issubclass(w[0], SimulationWarning):
                reason = _FAILURE_PREFIX.sub("", w[1])
            else:
                other_warnings.setdefault(w, None)
        for pos, index in enumerate(chunk.indices):
            record = res["errors"].get(pos)
            if record is not None:
                failures[index] = record[1]
            else:
                value, failed = res["values"][pos]
                rows[index] = value
                if failed:
                    failures[index] = reason
        bar.update(len(chunk.indices))
    return rows, failures, other_warnings


def _stack_rows(rows: list, failures: dict[int, str]) -> np.ndarray:
    """Stack the rows into one array, NaN for points without a row; all points failing is an error."""
    good = [r for r in rows if r is not None]
    if not good:
        first = next(iter(failures.items()))
        raise ValueError(f"all {len(rows)} points failed to simulate; first: point {first[0]}: {first[1]}")
    template = np.full_like(np.asarray(good[0], dtype=np.float64), np.nan)
    return np.stack([template if r is None else np.asarray(r, dtype=np.float64) for r in rows])


def simulate_parallel(simulator: Any, theta: np.ndarray, *, n_traj: int = 1,
                      seed: SeedLike | Sequence[np.random.SeedSequence] = None,
                      initial_state: Optional[np.ndarray] = None, client: Any = None,
                      chunk_size: ChunkSize = "auto", progress: bool = True,
                      postprocess: Optional[Callable] = None, desc: Optional[str] = None,
                      retries: int = 2) -> np.ndarray:
    """Simulate every parameter point of ``theta`` on a Dask cluster.

    Parameters
    ----------
    simulator : Simulator
        Anything with ``simulate(theta, *, n_traj, seed, initial_state)`` and ``param_names``;
        must be picklable (sent to each worker once).
    theta : array, shape (n, d)
        Parameter points in the order of ``simulator.param_names``.
    n_traj : int
        Trajectories per point.
    seed : int, SeedSequence or list of n SeedSequence, optional
        Point ``i`` uses ``point_seeds(seed, n)[i]``: the result equals
        ``simulator.simulate(theta, n_traj=n_traj, seed=seed)`` bit for bit.
    initial_state : array, shape (S,) or (n, S), optional
        Initial counts (per point if 2-D).
    client : distributed.Client, address str, "sync" or None
        As in :func:`~sciope_abs.engine.parallel_map`.
    chunk_size : int or "auto"
        Points per task (results never depend on it).
    progress : bool
        Show a progress bar (stderr).
    postprocess : callable, optional
        ``postprocess(x (m, r, S, T)) -> (m, F)`` run inside each task (e.g. a Summary), so only
        features travel back.
    desc : str, optional
        Progress-bar label.
    retries : int
        Resubmissions of a task lost without running (as in
        :func:`~sciope_abs.engine.parallel_map`); a task whose worker dies is re-run by the
        scheduler (``allowed-failures``), then its points are NaN.

    Returns
    -------
    array, shape (n, n_traj, S, T), or (n, F) with ``postprocess``
        Points that failed are NaN (one :class:`SimulationWarning` reports them); the batch
        is never killed by one failing point.
    """
    param_names = tuple(getattr(simulator, "param_names", ()))
    if not hasattr(simulator, "simulate"):
        raise ValueError(f"simulator must have a simulate() method, got {type(simulator).__name__}")
    theta = check_theta(theta, param_names)
    n = theta.shape[0]
    check_positive_int(n_traj, "n_traj")
    inits = _point_initial_states(initial_state, n)
    if n == 0:
        raise ValueError("theta has no points (shape (0, d))")
    seeds = point_seeds(seed, n)
    items = list(zip(theta, inits))
    body = SimulateBlock(simulator, int(n_traj), postprocess)
    client = resolve_client(client)

    bar = make_progress(n, desc=desc or "simulate", enabled=progress)
    stream = _stream(body, items, total=n, client=client, chunk_size=chunk_size, seed=seeds, retries=retries,
                     max_in_flight=None, batched=True, desc=desc or "simulate")
    try:
        rows, failures, other_warnings = _collect_rows(stream, n, bar)
    finally:
        stream.close()
        bar.close()
    out = _stack_rows(rows, failures)
    for category, message in other_warnings:
        warnings.warn(message, category, stacklevel=2)
    report_failures(dict(sorted(failures.items())), n)
    return out
