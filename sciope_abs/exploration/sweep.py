"""``Sweep``: simulate a design with summaries, batch by batch, and keep labels beside it.

A sweep holds the parameter points ``theta (n, d)``, the traces ``(n, r, S, T)`` (or only the
seeds to recompute them, with ``keep_traces=False``), the features ``(n, F)``, user labels
``(n,)`` (``-1`` = unlabelled), and the label-spreading predictions and confidences. It grows by
batches; batch ``b`` uses seeds derived from ``(seed, b)`` only, so a sweep grown in any
number of ``extend`` calls holds the same numbers.

On disk (``save(dir)`` / ``Sweep.load(dir)``) a sweep is a folder:

- ``data.zarr`` -- ``theta``, ``features``, ``batch``, ``position``, ``timespan`` and ``traces``
  (when kept), attributes with names, seeds and settings;
- ``labels.zarr`` -- ``labels``, ``predictions``, ``confidence`` (rewritten alone on each label
  change, so labelling never rewrites the traces);
- no pickle: the simulator and the summary are stored as *specs* (JSON data in the attributes
  of ``data.zarr``): for the built-in simulators (the compiled SSA, GillesPy2) the model itself
  (``CRN.to_dict()``, checked by its content hash) with the solver and its options, and for
  built-in summaries their registry names and parameters. :meth:`Sweep.load` rebuilds them from
  the specs, so the sweep can grow after loading; objects without a spec (your own simulator
  class, a fitted TSFresh) are passed again: ``Sweep.load(dir, simulator=..., summary=...,
  design=...)``. Opening a sweep folder never runs code from it (an ``objects.pkl`` written by
  older versions is ignored).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from .._checks import check_positive_int
from ..seeding import SeedLike, as_seed_sequence, child_seed, point_seeds
from ..store import read_group, write_group
from .labelling import SpreadResult, spread_labels

__all__ = ["Sweep", "simulator_spec", "summary_spec", "simulator_from_spec", "summary_from_spec"]

log = logging.getLogger(__name__)

DATA, LABELS, OBJECTS = "data.zarr", "labels.zarr", "objects.pkl"


def simulator_spec(simulator: Any) -> Optional[dict]:
    """JSON data that rebuilds a built-in simulator (compiled SSA or GillesPy2), else None.

    ``{"solver", "model" (CRN.to_dict()), "model_hash", "param_names", "species", "options"}``;
    the time points are stored beside it as an array.
    """
    cls = type(simulator).__name__
    if not type(simulator).__module__.startswith("sciope_abs.simulators."):
        return None
    model: Any = getattr(simulator, "model", None)
    if not callable(getattr(model, "to_dict", None)):
        return None
    if cls == "FastSSASimulator":
        solver, options = "fast_ssa", {"max_events": int(simulator.max_events), "update": str(simulator.update)}
    elif cls == "GillespySimulator":
        solver, options = str(simulator.solver), {"compiled": simulator.compiled, "timeout": simulator.timeout}
    else:
        return None
    return {"solver": solver, "model": model.to_dict(), "model_hash": model.content_hash(),
            "param_names": list(simulator.param_names), "species": list(simulator.species), "options": options}


def simulator_from_spec(spec: dict, timespan: np.ndarray) -> Any:
    """The simulator a :func:`simulator_spec` describes (the model's content hash is checked)."""
    from ..crn.model import CRN
    from ..simulators import make_simulator

    crn = CRN.from_dict(spec["model"])
    if crn.content_hash() != spec["model_hash"]:
        raise ValueError(f"the stored model {crn.name!r} does not match its content hash (edited or corrupt)")
    return make_simulator(crn, param_names=spec["param_names"], species=spec["species"], timespan=timespan,
                          solver=spec["solver"], **spec.get("options", {}))


def summary_spec(summary: Any) -> Optional[list]:
    """``[{"name": ..., **params}, ...]`` that rebuilds a built-in summary (or a sum of them),
    else None (a class outside the registry, or one with fitted state such as TSFresh)."""
    from ..summaries import SUMMARIES, CombinedSummary

    parts = list(summary.parts) if isinstance(summary, CombinedSummary) else [summary]
    specs = []
    for part in parts:
        names = [k for k, c in SUMMARIES.items() if c is type(part)]
        params = getattr(part, "_params", None)
        if not names or not callable(params):
            return None
        fitted = [k for k, v in vars(part).items() if k.endswith("_") and k != "n_species_" and v is not None]
        if fitted:
            return None
        specs.append({"name": names[0], **{k: v for k, v in params().items() if v is not None}})
    try:
        rebuilt = summary_from_spec(specs)
    except (TypeError, ValueError):
        return None
    return specs if repr(rebuilt) == repr(summary) else None


def summary_from_spec(spec: list) -> Any:
    """The summary a :func:`summary_spec` describes."""
    from ..summaries import make_summary

    return make_summary([dict(p) for p in spec])


class Sweep:
    """A parameter sweep with summaries, labels, label spreading and active learning.

    Parameters
    ----------
    simulator : Simulator
        Anything with ``simulate(theta, *, n_traj, seed)``, ``param_names``, ``species`` and
        ``timespan``.
    design_or_theta : Design or array (m, d)
        A design (``generate(n, seed)`` and ``prior``): each batch is a fresh design of the
        batch size. Or explicit points: batches take the next rows.
    summary : Summary
        Traces (n, r, S, T) -> features (n, F); fitted on the first batch when it needs it.
    n_traj : int
        Trajectories per point.
    keep_traces : bool
        Keep the traces in memory and on disk; otherwise features are computed inside the
        simulation tasks and :meth:`trajectories` recomputes selected points from their seeds.
    seed : int or SeedSequence, optional
        Root seed (fresh entropy, recorded, if None).
    client : Dask client, address, "sync" or None
        Passed to :func:`sciope_abs.engine.simulate_parallel`.
    bounds : array (d, 2), optional
        Parameter bounds for suggestions (default: the design's prior bounds, or the range of
        explicit points).

    Attributes
    ----------
    theta : array (n, d); features : array (n, F); traces : array (n, r, S, T) or None;
    labels, predictions : int arrays (n,); confidence : array (n,); batch : int array (n,)
    feature_names, param_names, species : lists; timespan : array (T,)
    """

    def __init__(self, simulator: Any, design_or_theta: Any, summary: Any, n_traj: int = 1,
                 keep_traces: bool = True, seed: SeedLike = None, client: Any = None,
                 bounds: Optional[np.ndarray] = None) -> None:
        for attr in ("simulate", "param_names", "species", "timespan"):
            if not hasattr(simulator, attr):
                raise ValueError(f"simulator must have a {attr!r} attribute, got {type(simulator).__name__}")
        if not callable(summary):
            raise ValueError(f"summary must be callable on traces (n, r, S, T), got {type(summary).__name__}")
        check_positive_int(n_traj, "n_traj")
        self.simulator = simulator
        self.summary = summary
        self.n_traj = int(n_traj)
        self.keep_traces = bool(keep_traces)
        self.client = client
        self.param_names = list(simulator.param_names)
        d = len(self.param_names)
        if hasattr(design_or_theta, "generate"):
            self.design = design_or_theta
            self.pending = None
            names = list(getattr(design_or_theta, "names", self.param_names))
            if names != self.param_names:
                raise ValueError(f"design parameters {names} differ from the simulator's {self.param_names}")
        else:
            pts = np.asarray(design_or_theta, dtype=np.float64)
            if pts.ndim != 2 or pts.shape[1] != d or pts.shape[0] == 0:
                raise ValueError(f"design_or_theta must be a Design or an array of shape (m, {d}), got {pts.shape}")
            self.design = None
            self.pending = pts
        self.seed = as_seed_sequence(seed)
        self.species = list(simulator.species)
        self.timespan = np.asarray(simulator.timespan, dtype=np.float64)
        self._bounds = None if bounds is None else np.asarray(bounds, dtype=np.float64)
        self.cursor = 0
        self.n_batches = 0
        self.theta = np.empty((0, d))
        self.features = np.empty((0, 0))
        self.traces: Optional[np.ndarray] = None
        self.batch = np.empty(0, dtype=np.int64)
        self.position = np.empty(0, dtype=np.int64)
        self.labels = np.empty(0, dtype=np.int64)
        self.predictions = np.empty(0, dtype=np.int64)
        self.confidence = np.empty(0)
        self.feature_names: list[str] = []
        self.spread_result: Optional[SpreadResult] = None

    # ------------------------------------------------------------------ growing
    def __len__(self) -> int:
        return int(self.theta.shape[0])

    @property
    def bounds(self) -> np.ndarray:
        """Parameter bounds (d, 2) used for suggestions."""
        if self._bounds is not None:
            return self._bounds
        if self.design is not None and hasattr(self.design, "prior"):
            return np.asarray(self.design.prior.bounds, dtype=np.float64)
        pts = self.pending if self.pending is not None else self.theta
        lo, hi = np.nanmin(pts, axis=0), np.nanmax(pts, axis=0)
        hi = np.where(hi > lo, hi, lo + 1.0)
        return np.c_[lo, hi]

    def run(self, n: int) -> "Sweep":
        """Simulate the first ``n`` points (or ``n`` more if the sweep has points); returns self."""
        self.extend(n)
        return self

    def _summary_ready(self) -> bool:
        try:
            names = self.summary.names
        except (AttributeError, ValueError):
            return False
        return names is not None

    def extend(self, n: Optional[int] = None, theta: Optional[np.ndarray] = None) -> np.ndarray:
        """Add a batch: ``n`` new design points, or the explicit points ``theta`` (m, d).

        Returns
        -------
        array of int
            Indices of the new points.
        """
        b = self.n_batches
        if theta is not None:
            pts = np.asarray(theta, dtype=np.float64)
            if pts.ndim != 2 or pts.shape[1] != len(self.param_names) or pts.shape[0] == 0:
                raise ValueError(f"theta must have shape (m, {len(self.param_names)}), got {pts.shape}")
        else:
            n = check_positive_int(n, "n")
            if self.design is not None:
                pts = np.asarray(self.design.generate(int(n), seed=child_seed(self.seed, b, 0)), dtype=np.float64)
            elif self.pending is None:
                raise ValueError("this sweep has no design (designs are not saved): pass design= to Sweep.load, "
                                 "or give the points with extend(theta=...)")
            else:
                left = self.pending.shape[0] - self.cursor
                if left <= 0:
                    raise ValueError(f"all {self.pending.shape[0]} given points are already simulated")
                pts = self.pending[self.cursor:self.cursor + int(n)]
                self.cursor += pts.shape[0]
        if self.simulator is None or self.summary is None:
            raise ValueError("this sweep has no simulator or summary (none stored as a spec, none given): pass "
                             "simulator= and summary= to Sweep.load to grow it")
        from ..engine import simulate_parallel

        sim_seed = child_seed(self.seed, b, 1)
        in_tasks = not self.keep_traces and self._summary_ready()
        out = simulate_parallel(self.simulator, pts, n_traj=self.n_traj, seed=sim_seed, client=self.client,
                                progress=False, postprocess=self.summary if in_tasks else None,
                                desc=f"sweep batch {b}")
        if in_tasks:
            feats = out
        else:
            if not self._summary_ready() and hasattr(self.summary, "fit"):
                good = ~np.isnan(out.reshape(out.shape[0], -1)).any(axis=1)
                self.summary.fit(out[good] if good.any() else out)
            feats = np.asarray(self.summary(out), dtype=np.float64)
        if feats.ndim != 2 or feats.shape[0] != pts.shape[0]:
            raise ValueError(f"summary must return (n, F) features, got {feats.shape}")
        m = pts.shape[0]
        self.theta = np.vstack([self.theta, pts])
        self.features = feats if self.features.size == 0 else np.vstack([self.features, feats])
        if self.keep_traces:
            self.traces = out if self.traces is None else np.concatenate([self.traces, out])
        self.batch = np.r_[self.batch, np.full(m, b, dtype=np.int64)]
        self.position = np.r_[self.position, np.arange(m, dtype=np.int64)]
        self.labels = np.r_[self.labels, np.full(m, -1, dtype=np.int64)]
        self.predictions = np.r_[self.predictions, np.full(m, -1, dtype=np.int64)]
        self.confidence = np.r_[self.confidence, np.zeros(m)]
        if not self.feature_names:
            names = getattr(self.summary, "names", None)
            self.feature_names = list(names) if names is not None and len(names) == feats.shape[1] \
                else [f"f{i}" for i in range(feats.shape[1])]
        self.n_batches = b + 1
        return np.arange(len(self) - m, len(self))

    # ------------------------------------------------------------------ traces
    def trajectories(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Traces of the given points, shape (k, r, S, T): stored ones, or recomputed exactly from
        their seeds when ``keep_traces=False``."""
        idx = self._indices(indices)
        if self.traces is not None:
            return self.traces[idx]
        out = []
        for i in idx:
            b, pos = int(self.batch[i]), int(self.position[i])
            m = int((self.batch == b).sum())
            ss = point_seeds(child_seed(self.seed, b, 1), m)[pos]
            out.append(self.simulator.simulate(self.theta[i:i + 1], n_traj=self.n_traj, seed=[ss]))
        if not out:
            return np.empty((0, self.n_traj, len(self.species), len(self.timespan)))
        return np.concatenate(out)

    # ------------------------------------------------------------------ labels
    def _indices(self, indices: Any) -> np.ndarray:
        idx = np.atleast_1d(np.asarray(indices))
        if idx.size == 0:
            return idx.astype(np.int64)
        if not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"indices must be integers, got dtype {idx.dtype}")
        if idx.min() < 0 or idx.max() >= len(self):
            raise ValueError(f"indices must be in [0, {len(self)}), got min {idx.min()} max {idx.max()}")
        return idx.astype(np.int64)

    def label(self, indices: Sequence[int], value: int) -> "Sweep":
        """Set the label of ``indices`` to ``value`` (an int >= 0, or -1 to clear); returns self."""
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < -1:
            raise ValueError(f"label value must be an integer >= 0 (or -1 to clear), got {value!r}")
        self.labels[self._indices(indices)] = int(value)
        return self

    def spread(self, **kwargs: Any) -> SpreadResult:
        """Run label spreading (:func:`~sciope_abs.exploration.labelling.spread_labels`) and store
        ``predictions`` and ``confidence``."""
        res = spread_labels(self.features, self.labels, **kwargs)
        self.predictions, self.confidence, self.spread_result = res.predictions, res.confidence, res
        return res

    def suggest(self, n: int, strategy: str = "entropy", seed: SeedLike = None, **kwargs: Any) -> np.ndarray:
        """Propose ``n`` new parameter points where the behaviour is least certain.

        Runs label spreading first if it has not been run since the last labels; see
        :func:`~sciope_abs.exploration.active.suggest_points` for ``kwargs``.

        Returns
        -------
        array, shape (n, d)
        """
        from .active import suggest_points

        if self.spread_result is None or len(self.predictions) != len(self) or np.any(
                (self.labels >= 0) & (self.predictions != self.labels)):
            self.spread()
        targets = np.where(self.labels >= 0, self.labels, self.predictions)
        unc = np.where(self.labels >= 0, 0.0, 1.0 - self.confidence)
        return suggest_points(self.theta, targets, self.bounds, n, strategy=strategy, seed=seed,
                              point_uncertainty=unc, **kwargs)

    def reduce(self, method: str = "pca", seed: SeedLike = 0, **kwargs: Any) -> np.ndarray:
        """2-D embedding of the features, shape (n, 2) (see :func:`~sciope_abs.exploration.reduction.reduce`)."""
        from .reduction import reduce

        return reduce(self.features, method, seed, **kwargs)

    # ------------------------------------------------------------------ views
    def to_pandas(self) -> Any:
        """One row per point: parameters, features, batch, label, prediction, confidence."""
        import pandas as pd

        df = pd.DataFrame(self.theta, columns=self.param_names)
        feats = pd.DataFrame(self.features.reshape(len(self), -1) if len(self) else np.empty((0, 0)),
                             columns=self.feature_names)
        df = pd.concat([df, feats], axis=1)
        df["batch"] = self.batch
        df["label"] = self.labels
        df["prediction"] = self.predictions
        df["confidence"] = self.confidence
        return df

    def plot(self, method: str = "pca", seed: SeedLike = 0, color_by: str = "prediction") -> Any:
        """Bokeh layout (scatter of the reduced features + trajectories of the selected points),
        for ``bokeh.io.show`` inline in Jupyter."""
        from ..viz.figures import explore_layout

        return explore_layout(self.reduce(method, seed), self.trajectories(np.arange(len(self))), self.timespan,
                              self.species, labels=self.labels, predictions=self.predictions,
                              confidence=self.confidence, color_by=color_by)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the sweep folder (see the module docstring); returns its path."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise ValueError(f"{path} exists and is not a directory")
        path.mkdir(parents=True, exist_ok=True)
        arrays = {"theta": self.theta, "features": self.features, "batch": self.batch,
                  "position": self.position, "timespan": self.timespan}
        if self.traces is not None:
            arrays["traces"] = self.traces
        if self.pending is not None:
            arrays["pending"] = self.pending
        attrs = {"kind": "sweep", "param_names": self.param_names, "feature_names": self.feature_names,
                 "species": self.species, "n_traj": self.n_traj, "keep_traces": self.keep_traces,
                 "seed": self.seed, "n_batches": self.n_batches, "cursor": self.cursor,
                 "bounds": self.bounds if len(self) or self.design is not None else None,
                 "user_bounds": None if self._bounds is None else self._bounds.tolist(),
                 "has_design": self.design is not None,
                 "simulator": type(self.simulator).__name__, "summary": repr(self.summary),
                 "simulator_spec": simulator_spec(self.simulator), "summary_spec": summary_spec(self.summary)}
        write_group(path / DATA, arrays, attrs)
        self.save_labels(path)
        if (path / OBJECTS).exists():  # written by older versions; never read
            (path / OBJECTS).unlink()
        return path

    def save_labels(self, path: str | os.PathLike) -> Path:
        """Rewrite only ``labels.zarr`` of a saved sweep."""
        return write_group(Path(path) / LABELS, {"labels": self.labels, "predictions": self.predictions,
                                                 "confidence": self.confidence}, {"kind": "sweep-labels"})

    @classmethod
    def load(cls, path: str | os.PathLike, *, simulator: Any = None, summary: Any = None, design: Any = None,
             client: Any = None) -> "Sweep":
        """Load a sweep folder written by :meth:`save`; nothing in it is unpickled or executed.

        Parameters
        ----------
        path : str or Path
        simulator, summary : optional
            Replace the ones rebuilt from the stored specs (needed when the sweep used objects
            without a spec; checked against the stored parameter, species and feature names).
            Without either, the sweep still loads for viewing and labelling.
        design : Design, optional
            The design, for :meth:`extend` with ``n`` (designs are not stored; explicit points
            are).
        client : Dask client, address, "sync" or None
        """
        path = Path(path)
        if not (path / DATA).exists():
            raise FileNotFoundError(f"no sweep at {path} (missing {DATA})")
        arrays, attrs = read_group(path / DATA)
        if attrs.get("kind") != "sweep":
            raise ValueError(f"{path / DATA} is not a sweep store (kind={attrs.get('kind')!r})")
        self = cls.__new__(cls)
        self.param_names, self.species = list(attrs["param_names"]), list(attrs["species"])
        self.feature_names = list(attrs["feature_names"])
        self.timespan = np.asarray(arrays["timespan"], dtype=np.float64)
        self.simulator, self.summary = self._objects_from_specs(path, attrs, simulator, summary)
        self.client = client
        self.design = design
        self.pending = np.asarray(arrays["pending"], dtype=np.float64) if "pending" in arrays else None
        ub = attrs.get("user_bounds")
        self._bounds = np.asarray(ub, dtype=np.float64) if ub is not None else None
        if self._bounds is None and attrs.get("bounds") is not None and self.design is None:
            self._bounds = np.asarray(attrs["bounds"], dtype=np.float64)
        self.n_traj, self.keep_traces = int(attrs["n_traj"]), bool(attrs["keep_traces"])
        s = attrs["seed"]
        self.seed = np.random.SeedSequence(int(s["entropy"]), spawn_key=tuple(s["spawn_key"]))
        self.n_batches, self.cursor = int(attrs["n_batches"]), int(attrs["cursor"])
        self.theta = np.asarray(arrays["theta"], dtype=np.float64)
        self.features = np.asarray(arrays["features"], dtype=np.float64)
        self.traces = np.asarray(arrays["traces"]) if "traces" in arrays else None
        self.batch = np.asarray(arrays["batch"], dtype=np.int64)
        self.position = np.asarray(arrays["position"], dtype=np.int64)
        self.spread_result = None
        self._load_labels(path)
        return self

    def _objects_from_specs(self, path: Path, attrs: dict, simulator: Any, summary: Any) -> tuple[Any, Any]:
        """The simulator and summary: the given ones (checked) or rebuilt from the stored specs."""
        if (path / OBJECTS).exists():
            log.warning("%s: ignoring %s (pickles are never loaded); the sweep is rebuilt from its specs",
                        path, OBJECTS)
        if simulator is None and attrs.get("simulator_spec"):
            try:
                simulator = simulator_from_spec(attrs["simulator_spec"], self.timespan)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("%s: cannot rebuild the simulator from its spec (%s); pass simulator=", path, exc)
        if simulator is not None:
            if list(simulator.param_names) != self.param_names or list(simulator.species) != self.species:
                raise ValueError(f"the simulator's param_names {list(simulator.param_names)} / species "
                                 f"{list(simulator.species)} differ from the sweep's {self.param_names} / "
                                 f"{self.species} ({path})")
        if summary is None and attrs.get("summary_spec"):
            summary = summary_from_spec(attrs["summary_spec"])
        if summary is not None:
            names = getattr(summary, "names", None)
            if names is not None and len(self.feature_names) and list(names) != self.feature_names \
                    and not all(f.startswith("f") for f in self.feature_names):
                raise ValueError(f"the summary's features {list(names)[:4]}... differ from the sweep's "
                                 f"{self.feature_names[:4]}... ({path})")
        return simulator, summary

    def _load_labels(self, path: Path) -> None:
        if (path / LABELS).exists():
            lab, _ = read_group(path / LABELS)
            self.labels = np.asarray(lab["labels"], dtype=np.int64)
            self.predictions = np.asarray(lab["predictions"], dtype=np.int64)
            self.confidence = np.asarray(lab["confidence"], dtype=np.float64)
        else:
            n = self.theta.shape[0]
            self.labels, self.predictions, self.confidence = (np.full(n, -1, np.int64), np.full(n, -1, np.int64),
                                                              np.zeros(n))

    def __repr__(self) -> str:
        return (f"Sweep(n={len(self)}, d={len(self.param_names)}, F={len(self.feature_names)}, "
                f"batches={self.n_batches}, labelled={int((self.labels >= 0).sum())})")
