"""The result of an ABC run: weighted parameter samples with their history.

numpy inside; labelled views at the edge (:meth:`Posterior.to_pandas`, :meth:`Posterior.to_arviz`),
a Bokeh figure from :meth:`Posterior.plot`, and a single ``.npz`` file on disk.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..seeding import SeedLike, as_generator
from ..store.atomic import atomic_savez

__all__ = ["Posterior", "weighted_quantile"]


def weighted_quantile(x: np.ndarray, q: Any, weights: np.ndarray | None = None) -> np.ndarray:
    """Quantiles ``q`` of the 1-D sample ``x`` with (optional) weights.

    Uses the midpoint rule: the ``i``-th sorted value sits at cumulative weight
    ``(W_i - w_i / 2) / W``, linearly interpolated in between (equal weights give the usual
    "hazen" quantile).
    """
    x = np.asarray(x, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if x.size == 0:
        return np.full(q.shape, np.nan)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order]
    cw = (np.cumsum(ws) - 0.5 * ws) / ws.sum()
    return np.interp(q, cw, xs)


class Posterior:
    """Weighted samples from an ABC posterior.

    Parameters
    ----------
    samples : array, shape (n, d)
        Accepted parameter values.
    names : sequence of str, length d
        Parameter names.
    weights : array, shape (n,), optional
        Importance weights (normalised to sum 1 here); default: equal.
    distances : array, shape (n,), optional
        Distance of each accepted sample's summaries to the observed ones.
    summaries : array, shape (n, F), optional
        Accepted summaries.
    summary_names : sequence of str, optional
    observed : array, shape (F,), optional
        The observed summaries.
    history : list of dict, optional
        One entry per round: ``round, tolerance, acceptance_rate, ess, n_simulations,
        n_evaluated, n_accepted, wall_time, complete, discarded`` (and whatever else the method
        records).  ``n_accepted`` never exceeds the population size; ``acceptance_rate =
        n_accepted / n_evaluated``, where ``n_evaluated`` counts the simulations up to the one
        that filled the population (``n_simulations`` also counts the rest of that batch).
    message : str
        How the run ended.
    method : str
        ``"rejection"`` or ``"smc"``.
    info : dict, optional
        Further JSON-serialisable facts (tolerance, total simulations, seed, ...).
    """

    def __init__(self, samples: Any, names: Sequence[str], weights: Any = None, distances: Any = None,
                 summaries: Any = None, summary_names: Sequence[str] | None = None, observed: Any = None,
                 history: list[dict] | None = None, message: str = "", method: str = "",
                 info: dict | None = None) -> None:
        names = [str(n) for n in names]
        d = len(names)
        samples = np.asarray(samples, dtype=np.float64)
        if samples.size == 0:
            samples = samples.reshape(0, d)
        if samples.ndim == 1 and d == 1:
            samples = samples[:, None]
        if samples.ndim != 2 or samples.shape[1] != d:
            raise ValueError(f"samples must have shape (n, {d}) for parameters {names}, got {samples.shape}")
        n = samples.shape[0]
        if weights is None:
            weights = np.full(n, 1.0 / n) if n else np.zeros(0)
        weights = np.asarray(weights, dtype=np.float64).reshape(-1)
        if weights.shape != (n,):
            raise ValueError(f"weights must have shape ({n},), got {weights.shape}")
        if n and (not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0):
            raise ValueError("weights must be finite, non-negative and not all zero")
        self.samples = samples
        self.names = names
        # normalise (left as is when already normalised, so save/load round-trips bit for bit)
        self.weights = weights / weights.sum() if n and abs(weights.sum() - 1.0) > 1e-12 else weights
        self.distances = (np.full(n, np.nan) if distances is None
                          else np.asarray(distances, dtype=np.float64).reshape(-1))
        if self.distances.shape != (n,):
            raise ValueError(f"distances must have shape ({n},), got {self.distances.shape}")
        summaries = np.zeros((n, 0)) if summaries is None else np.asarray(summaries, dtype=np.float64)
        if summaries.ndim != 2 or summaries.shape[0] != n:
            raise ValueError(f"summaries must have shape ({n}, F), got {summaries.shape}")
        self.summaries = summaries
        self.summary_names = list(summary_names) if summary_names is not None else \
            [f"s{i}" for i in range(self.summaries.shape[1])]
        self.observed = None if observed is None else np.asarray(observed, dtype=np.float64).reshape(-1)
        self.history = [dict(h) for h in (history or [])]
        self.message = str(message)
        self.method = str(method)
        self.info = dict(info or {})
        #: the run store (:class:`~sciope_abs.inference.history.History`) of a run with ``run_dir``
        self.run_store: Any = None

    # ------------------------------------------------------------------ basic facts
    def __len__(self) -> int:
        return self.samples.shape[0]

    @property
    def ndim(self) -> int:
        return len(self.names)

    @property
    def ess(self) -> float:
        """Effective sample size ``1 / sum(w**2)`` (0 for an empty posterior)."""
        return float(1.0 / np.sum(self.weights ** 2)) if len(self) else 0.0

    @property
    def n_simulations(self) -> int:
        """All simulations the run made (every round, a discarded cut-off round included):
        ``n_simulations_used + n_simulations_discarded``."""
        return int(self.info.get("n_simulations", sum(h.get("n_simulations", 0) for h in self.history)))

    @property
    def n_simulations_discarded(self) -> int:
        """Simulations of rounds that were cut off before filling their population and dropped
        (SMC-ABC: the last round when a budget, a time limit or ``min_acceptance_rate`` ended
        it); 0 for rejection."""
        if "n_simulations_discarded" in self.info:
            return int(self.info["n_simulations_discarded"])
        return int(sum(h.get("n_simulations", 0) for h in self.history if h.get("discarded", False)))

    @property
    def n_simulations_used(self) -> int:
        """Simulations of the rounds the result is built on (``n_simulations`` minus the
        discarded ones)."""
        return self.n_simulations - self.n_simulations_discarded

    @property
    def tolerance(self) -> float:
        """The final acceptance tolerance."""
        return float(self.info.get("tolerance", np.nan))

    def __repr__(self) -> str:
        disc = f" ({self.n_simulations_discarded} discarded)" if self.n_simulations_discarded else ""
        return (f"Posterior(method={self.method!r}, n={len(self)}, params={self.names}, "
                f"ess={self.ess:.1f}, n_simulations={self.n_simulations}{disc}, message={self.message!r})")

    # ------------------------------------------------------------------ statistics
    def mean(self) -> np.ndarray:
        """Weighted posterior mean, shape (d,) (NaN when empty)."""
        if not len(self):
            return np.full(self.ndim, np.nan)
        return self.weights @ self.samples

    def std(self) -> np.ndarray:
        """Weighted posterior standard deviation, shape (d,)."""
        if not len(self):
            return np.full(self.ndim, np.nan)
        mu = self.mean()
        return np.sqrt(np.maximum(self.weights @ (self.samples - mu) ** 2, 0.0))

    def quantile(self, q: Any) -> np.ndarray:
        """Weighted quantiles, shape ``(len(q), d)`` (or ``(d,)`` for a scalar ``q``)."""
        qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
        if ((qs < 0) | (qs > 1)).any():
            raise ValueError(f"quantiles must lie in [0, 1], got {q}")
        out = np.stack([weighted_quantile(self.samples[:, j], qs, self.weights) for j in range(self.ndim)], axis=1)
        return out[0] if np.ndim(q) == 0 else out

    def credible_interval(self, level: float = 0.95) -> np.ndarray:
        """Central weighted credible interval per parameter, shape (d, 2) (low, high)."""
        if not 0 < level < 1:
            raise ValueError(f"level must lie in (0, 1), got {level}")
        a = (1 - level) / 2
        return self.quantile([a, 1 - a]).T

    def sample(self, n: int, seed: SeedLike = None) -> np.ndarray:
        """``n`` draws by weighted resampling (with replacement), shape (n, d)."""
        if int(n) < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if not len(self):
            raise ValueError("cannot sample from an empty posterior (no accepted samples)")
        idx = as_generator(seed).choice(len(self), size=int(n), replace=True, p=self.weights)
        return self.samples[idx]

    def describe(self, level: float = 0.95) -> Any:
        """A pandas table: mean, std and the credible interval per parameter."""
        import pandas as pd

        ci = self.credible_interval(level)
        return pd.DataFrame({"mean": self.mean(), "std": self.std(), f"low_{level:g}": ci[:, 0],
                             f"high_{level:g}": ci[:, 1]}, index=pd.Index(self.names, name="parameter"))

    # ------------------------------------------------------------------ fidelity
    def check_fidelity(self, ssa_simulator: Any, n_particles: int = 20, n_traj: int = 100, seed: SeedLike = None,
                       summary: Any = None, initial_state: Any = None, *, emulator: Any = None, **kwargs: Any) -> Any:
        """Re-simulate posterior particles with the emulator and with SSA and compare them.

        ``emulator`` is required: a posterior carries its history (and, for a run with
        ``run_dir``, its :class:`~sciope_abs.inference.history.History` as ``run_store``), never
        the simulator that produced it.  See :func:`sciope_abs.inference.fidelity.check_fidelity`
        for the rule and the other options.

        Returns
        -------
        FidelityReport
            ``passed`` False (and a ``FidelityWarning``) when the emulator is more than
            ``threshold`` (1.5) x the SSA self-distance away from SSA on average.
        """
        from .fidelity import check_fidelity

        if emulator is None:
            raise ValueError("check_fidelity: a posterior does not carry its simulator; pass emulator= "
                             "(the simulator or emulator the ABC run used)")
        return check_fidelity(self, emulator, ssa_simulator, n_particles=n_particles, n_traj=n_traj, seed=seed,
                              summary=summary, initial_state=initial_state, **kwargs)

    # ------------------------------------------------------------------ conversions
    def to_pandas(self) -> Any:
        """One row per sample: the parameters, ``weight`` and ``distance``."""
        import pandas as pd

        df = pd.DataFrame(self.samples, columns=self.names)
        df["weight"] = self.weights
        df["distance"] = self.distances
        return df

    def history_frame(self) -> Any:
        """The per-round history as a pandas DataFrame (one row per round, the keys of
        ``history``; see the class docstring for the counts)."""
        import pandas as pd

        return pd.DataFrame(self.history)

    def to_arviz(self, seed: SeedLike = 0) -> Any:
        """An ArviZ ``InferenceData`` with one chain.

        Equal weights (rejection): the samples themselves.  Unequal weights (SMC-ABC): ArviZ has
        no notion of weights, so ``posterior`` holds ``len(self)`` draws by weighted resampling
        with ``seed``.  ``sample_stats.distance`` holds each draw's distance.

        Raises
        ------
        ImportError
            arviz (an optional dependency) is not installed.
        """
        try:
            import arviz as az
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError("Posterior.to_arviz needs the optional dependency arviz: "
                              "pip install arviz (or pip install sciope_abs[dev])") from None
        if not len(self):
            raise ValueError("cannot convert an empty posterior (no accepted samples) to ArviZ")
        equal = np.allclose(self.weights, self.weights[0])
        if equal:
            draws, dist = self.samples, self.distances
        else:
            idx = as_generator(seed).choice(len(self), size=len(self), replace=True, p=self.weights)
            draws, dist = self.samples[idx], self.distances[idx]
        post = {name: draws[None, :, j] for j, name in enumerate(self.names)}
        stats = {"distance": dist[None, :]}
        return az.from_dict(posterior=post, sample_stats=stats)

    # ------------------------------------------------------------------ persistence
    def _meta(self) -> dict[str, Any]:
        return {"names": self.names, "summary_names": self.summary_names, "history": self.history,
                "message": self.message, "method": self.method, "info": self.info, "format": 1}

    def save(self, path: str | os.PathLike) -> Path:
        """Write to one ``.npz`` file (arrays + JSON metadata); returns the path written."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"samples": self.samples, "weights": self.weights, "distances": self.distances,
                  "summaries": self.summaries, "meta": np.array(json.dumps(self._meta(), default=_json_default))}
        if self.observed is not None:
            arrays["observed"] = self.observed
        return atomic_savez(path, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Posterior":
        """Read a file written by :meth:`save`."""
        path = Path(path)
        if not path.exists() and path.with_name(path.name + ".npz").exists():
            path = path.with_name(path.name + ".npz")
        if not path.exists():
            raise FileNotFoundError(f"no posterior file at {path}")
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return cls(z["samples"], meta["names"], weights=z["weights"], distances=z["distances"],
                       summaries=z["summaries"], summary_names=meta["summary_names"],
                       observed=z["observed"] if "observed" in z.files else None, history=meta["history"],
                       message=meta["message"], method=meta["method"], info=meta["info"])

    # ------------------------------------------------------------------ plotting
    def plot(self, truth: Any = None, *, bins: int = 30, size: int = 180) -> Any:
        """Bokeh grid: weighted marginal histograms on the diagonal, pairwise scatter below it.

        Parameters
        ----------
        truth : dict name -> value or array (d,), optional
            Marked as a red line on the marginals and a red cross on the scatters.
        """
        from ..viz.posterior import posterior_grid

        d = self.ndim
        if truth is not None:
            if isinstance(truth, dict):
                missing = [n for n in self.names if n not in truth]
                if missing:
                    raise ValueError(f"truth is missing parameters {missing}")
                truth = np.array([float(truth[n]) for n in self.names])
            truth = np.asarray(truth, dtype=np.float64).reshape(-1)
            if truth.shape != (d,):
                raise ValueError(f"truth must have {d} values for {self.names}, got {truth.shape}")
        return posterior_grid(self.samples, self.weights, list(self.names), truth, bins=bins, size=size)


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
