"""One ABC round, shared by rejection and SMC-ABC: batches of proposals arrive in batch order and
are accepted while ``distance <= eps`` until ``n`` are kept (:class:`Round`), or the ``n`` closest
of all are kept (:class:`QuantileRound`, rejection by quantile).

Counts mean what they say: ``n_acc`` never exceeds ``n``; ``n_eval`` counts the simulations up to
the one that gave the ``n``-th acceptance (all of them while the round is not full), so
``rate = n_acc / n_eval``; ``n_sims`` counts every simulation the round processed (the batch
that fills the population is simulated whole).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ._stream import compute_distances, fit_distance
from .tasks import ProposalBatch

__all__ = ["Round", "QuantileRound", "MAX_FIT_ROWS", "one_blas_thread"]

#: summaries kept per round for refitting an adaptive distance (the first ones, in proposal order)
MAX_FIT_ROWS = 20_000


def one_blas_thread() -> Any:
    """Context manager: one BLAS thread in this (the client's) process while an ABC run lasts.

    The client's linear algebra is small and comes in many short calls between results (kernel
    fits on ``(n, d)`` populations, ``(m, d) x (d, n)`` kernel blocks, distances); after every call
    an idle OpenBLAS pool spins for a while, taking a core from the Dask workers (toggle-switch
    SMC-ABC on 2 workers: the client's CPU 3.0 s with the default 2 BLAS threads, 1.1 s with one,
    wall 15.2 s vs 6.2 s at load 8; in-process 6.7 vs 3.2 s CPU, same posterior).  BLAS threads
    split the output, not the sums, so results are bit-identical.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _check_width(s: np.ndarray, F: int) -> None:
    if s.shape[1] != F:
        raise ValueError(f"the summary gives {s.shape[1]} features for simulations but the observed "
                         f"summary vector has {F}")


@dataclass
class Round:
    """Accept ``distance <= eps`` in proposal order until ``n`` are kept.

    Parameters
    ----------
    t : int
        Round number (recorded in :meth:`entry`).
    eps : float
        Tolerance (``inf``: every finite simulation passes).
    n : int
        Particles wanted.
    F : int
        Summary width.
    distance, s_obs
        The distance and the observed summaries (F,).
    defer_distances : bool
        Accept every finite simulation and leave the distances NaN (SMC round 0, whose distance
        is fitted on the round's simulations afterwards).
    fit_on_first : bool
        Fit the distance on the first batch before computing distances (rejection).
    """

    t: int
    eps: float
    n: int
    F: int
    distance: Any
    s_obs: np.ndarray
    defer_distances: bool = False
    fit_on_first: bool = False
    n_acc: int = 0
    n_sims: int = 0
    n_eval: int = 0
    n_nan: int = 0
    n_outside: int = 0
    n_fit: int = 0
    theta: list = field(default_factory=list)
    d: list = field(default_factory=list)
    s: list = field(default_factory=list)
    fit_rows: list = field(default_factory=list)
    fit_theta: list = field(default_factory=list)
    t0: float = field(default_factory=time.perf_counter)

    def consume(self, batch: ProposalBatch, s: np.ndarray) -> bool:
        """Take one batch's summaries (m, F); True when ``n`` particles are accepted."""
        _check_width(s, self.F)
        m = s.shape[0]
        finite = np.isfinite(s).all(axis=1)
        if self.fit_on_first and self.n_sims == 0:
            fit_distance(self.distance, s)
        self.n_sims += m
        self.n_nan += int((~finite).sum())
        if self.n_fit < MAX_FIT_ROWS:
            self.fit_theta.append(batch.theta[: MAX_FIT_ROWS - self.n_fit])
            self.fit_rows.append(s[: MAX_FIT_ROWS - self.n_fit])
            self.n_fit += self.fit_rows[-1].shape[0]
        if self.defer_distances:
            d = np.full(m, np.nan)
            ok = finite
        else:
            d = compute_distances(self.distance, self.s_obs, s)
            ok = d <= self.eps
        need = self.n - self.n_acc
        hits = np.flatnonzero(ok)
        idx = hits[:need]
        self.n_eval += int(idx[-1]) + 1 if hits.size >= need else m
        self.n_acc += idx.size
        self.theta.append(batch.theta[idx])
        self.d.append(d[idx])
        self.s.append(s[idx])
        return self.n_acc >= self.n

    def accepted(self, d_dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Accepted ``theta (k, d)``, distances ``(k,)``, summaries ``(k, F)``, in proposal order."""
        theta = np.concatenate(self.theta) if self.theta else np.zeros((0, d_dim))
        d = np.concatenate(self.d) if self.d else np.zeros(0)
        s = np.concatenate(self.s) if self.s else np.zeros((0, self.F))
        return theta, d, s

    @property
    def rate(self) -> float:
        return self.n_acc / max(self.n_eval, 1)

    def entry(self, ess: Optional[float], complete: bool, discarded: bool) -> dict:
        """The round's history entry."""
        return {"round": self.t, "tolerance": self.eps, "acceptance_rate": self.rate, "ess": ess,
                "n_simulations": self.n_sims, "n_evaluated": self.n_eval, "n_accepted": self.n_acc,
                "n_nan": self.n_nan, "n_outside_prior": self.n_outside, "wall_time": time.perf_counter() - self.t0,
                "complete": complete, "discarded": discarded}


@dataclass
class QuantileRound:
    """Keep the ``n_keep`` closest proposals of all simulated (ties broken by proposal order).

    The distance is fitted on the first batch.
    """

    n_keep: int
    F: int
    d_dim: int
    distance: Any
    s_obs: np.ndarray
    n_sims: int = 0
    n_nan: int = 0
    best: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.best = {"theta": np.zeros((0, self.d_dim)), "d": np.zeros(0), "s": np.zeros((0, self.F)),
                     "idx": np.zeros(0, dtype=np.int64)}

    def consume(self, batch: ProposalBatch, s: np.ndarray) -> bool:
        _check_width(s, self.F)
        if self.n_sims == 0:
            fit_distance(self.distance, s)
        d = compute_distances(self.distance, self.s_obs, s)
        m, start = d.shape[0], self.n_sims
        self.n_sims += m
        self.n_nan += int((~np.isfinite(s).all(axis=1)).sum())
        b = self.best
        new, theta = np.arange(start, start + m), batch.theta
        if b["d"].shape[0] >= self.n_keep and np.isfinite(b["d"][-1]):
            # only a distance below the worst kept can enter: a tie loses to the kept one (which
            # came earlier), so the result is the full sort's; most batches of a small quantile
            # then skip the sort
            near = np.flatnonzero(d < b["d"][-1])
            if near.size == 0:
                return False
            new, d, theta, s = new[near], d[near], theta[near], s[near]
        idx = np.concatenate([b["idx"], new])
        dd = np.concatenate([b["d"], d])
        order = np.lexsort((idx, dd))[: self.n_keep]
        b["theta"] = np.concatenate([b["theta"], theta])[order]
        b["s"] = np.concatenate([b["s"], s])[order]
        b["d"], b["idx"] = dd[order], idx[order]
        return False

    def closest(self, keep: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``keep`` closest with finite distances: theta, distances, summaries."""
        sel = np.flatnonzero(np.isfinite(self.best["d"]))[:keep]
        return self.best["theta"][sel], self.best["d"][sel], self.best["s"][sel]
