"""``EvaluationReport``: the result of :func:`sciope_abs.abstraction.evaluate`.

Per held-out setting, observed species and time lag it holds the emulator-vs-SSA histogram
distances (L1, IoU) and the SSA self-distances; ``table()`` averages them over settings.
Saved as a folder: ``report.json`` (everything but the big arrays) + ``arrays.npz``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["EvaluationReport"]

_METRICS = ("l1", "iou", "self_l1", "self_iou")
_ARRAYS = (*_METRICS, "initial_states", "rates", "samples_emulator", "samples_ssa", "samples_ssa_self")
_FORMAT = "sciope_abs/evaluation-report/1"


def _nanmean(v: np.ndarray, axis: int = 0) -> np.ndarray:
    ok = np.isfinite(v)
    cnt = ok.sum(axis=axis)
    tot = np.where(ok, v, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)


def _nanse(v: np.ndarray, axis: int = 0) -> np.ndarray:
    """Standard error of the mean over ``axis`` ignoring NaN (NaN with fewer than 2 values)."""
    ok = np.isfinite(v)
    cnt = ok.sum(axis=axis)
    x = np.where(ok, v, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = x.sum(axis=axis) / np.maximum(cnt, 1)
        var = (np.where(ok, v - np.expand_dims(mean, axis), 0.0) ** 2).sum(axis=axis) / np.maximum(cnt - 1, 1)
        return np.where(cnt > 1, np.sqrt(var / np.maximum(cnt, 1)), np.nan)


class EvaluationReport:
    """Emulator-vs-SSA histogram distances next to the SSA self-distance.

    Parameters
    ----------
    species : sequence of str
        The ``k`` compared species.
    lags : sequence of int
        The ``L`` time lags (steps).
    l1, iou, self_l1, self_iou : arrays, shape (n_settings, k, L)
        Per-setting distances (NaN where a simulation failed).
    initial_states : array (n_settings, S), optional
    rates : array (n_settings, p), optional
    param_names : sequence of str
    samples_emulator, samples_ssa, samples_ssa_self : arrays (n_settings, r, k, L), optional
        The compared samples: emulator, first and second SSA ensemble (for :meth:`plot` and
        :meth:`rebin`).
    bins : None, int or list
        The histogram binning used.
    meta : dict
        Provenance: model, dt, seed, timings.
    """

    #: the four distance arrays (n_settings, k, L), set from the constructor's arguments by name
    l1: np.ndarray
    iou: np.ndarray
    self_l1: np.ndarray
    self_iou: np.ndarray

    def __init__(self, species: Sequence[str], lags: Sequence[int], l1: Any, iou: Any, self_l1: Any, self_iou: Any, *,
                 initial_states: Any = None, rates: Any = None, param_names: Sequence[str] = (), samples_emulator: Any = None,
                 samples_ssa: Any = None, samples_ssa_self: Any = None, bins: Any = None, meta: Mapping | None = None) -> None:
        self.species = tuple(str(s) for s in species)
        self.lags = tuple(int(v) for v in lags)
        shape = None
        for name, v in zip(_METRICS, (l1, iou, self_l1, self_iou)):
            arr = np.asarray(v, dtype=np.float64)
            if arr.ndim != 3 or arr.shape[1:] != (len(self.species), len(self.lags)):
                raise ValueError(f"EvaluationReport: {name} must have shape (n_settings, {len(self.species)}, "
                                 f"{len(self.lags)}), got {arr.shape}")
            if shape is not None and arr.shape != shape:
                raise ValueError(f"EvaluationReport: {name} has shape {arr.shape}, others {shape}")
            shape = arr.shape
            setattr(self, name, arr)
        self.initial_states = None if initial_states is None else np.asarray(initial_states)
        self.rates = None if rates is None else np.asarray(rates, dtype=np.float64)
        self.param_names = tuple(param_names)
        self.samples_emulator = None if samples_emulator is None else np.asarray(samples_emulator)
        self.samples_ssa = None if samples_ssa is None else np.asarray(samples_ssa)
        self.samples_ssa_self = None if samples_ssa_self is None else np.asarray(samples_ssa_self)
        self.bins = bins
        self.meta = dict(meta or {})

    @property
    def n_settings(self) -> int:
        return int(self.l1.shape[0])

    # ------------------------------------------------------------------ tables
    def table(self) -> Any:
        """Mean over settings per (species, lag): ``l1, iou, self_l1, self_iou, ratio, ratio_iou``.

        ``ratio = l1 / self_l1`` (1 = as good as SSA), ``ratio_iou`` likewise; ``n_settings`` =
        settings with a finite value; ``self_l1_se`` and ``l1_diff_se``: standard errors over
        settings of the mean self-distance and of the mean paired difference ``l1 - self_l1``
        (NaN with fewer than two settings).

        Returns
        -------
        pandas.DataFrame
        """
        import pandas as pd

        means = {m: _nanmean(getattr(self, m)) for m in _METRICS}
        counts = np.isfinite(self.l1).sum(axis=0)
        se_self, se_diff = _nanse(self.self_l1), _nanse(self.l1 - self.self_l1)
        rows = []
        for j, s in enumerate(self.species):
            for t, lag in enumerate(self.lags):
                r: dict[str, Any] = {"species": s, "lag": lag, **{m: float(means[m][j, t]) for m in _METRICS}}
                with np.errstate(invalid="ignore", divide="ignore"):
                    r["ratio"] = float(np.float64(r["l1"]) / r["self_l1"]) if r["self_l1"] > 0 else np.nan
                    r["ratio_iou"] = float(np.float64(r["iou"]) / r["self_iou"]) if r["self_iou"] > 0 else np.nan
                r["n_settings"] = int(counts[j, t])
                r["self_l1_se"], r["l1_diff_se"] = float(se_self[j, t]), float(se_diff[j, t])
                rows.append(r)
        return pd.DataFrame(rows, columns=["species", "lag", *_METRICS, "ratio", "ratio_iou", "n_settings",
                                           "self_l1_se", "l1_diff_se"])

    to_pandas = table

    def per_setting(self) -> Any:
        """Long table: one row per (setting, species, lag) with the four distances."""
        import pandas as pd

        n, k, L = self.l1.shape
        s_idx, j_idx, t_idx = np.meshgrid(np.arange(n), np.arange(k), np.arange(L), indexing="ij")
        df = pd.DataFrame({"setting": s_idx.ravel(), "species": np.array(self.species)[j_idx.ravel()],
                           "lag": np.array(self.lags)[t_idx.ravel()]})
        for m in _METRICS:
            df[m] = getattr(self, m).ravel()
        return df

    def summary(self) -> str:
        """A few lines: settings, sizes, and per species/lag emulator vs self distance."""
        lines = [f"Evaluation of {self.meta.get('emulator', 'emulator')} on model {self.meta.get('model', '?')}: "
                 f"{self.n_settings} settings x {self.meta.get('n_traj', '?')} trajectories, "
                 f"dt={self.meta.get('dt', '?')}"]
        for r in self.table().itertuples(index=False):
            lines.append(f"  {r.species:>10s} lag {r.lag:>3d}: L1 {r.l1:.3f} (self {r.self_l1:.3f} "
                         f"+- {r.self_l1_se:.3f}, ratio {r.ratio:.2f})   IoU {r.iou:.3f} (self {r.self_iou:.3f})")
        if "violations" in self.meta:
            lines.append(f"  conservation-law violations: {self.meta['violations']} of "
                         f"{self.meta.get('violation_cells', '?')} (trajectory, step) cells")
        return "\n".join(lines)

    def card_entry(self) -> dict:
        """Compact fidelity table for an emulator's model card."""
        return {"n_settings": self.n_settings, "n_traj": self.meta.get("n_traj"), "bins": self.meta.get("bins"),
                "table": self.table().to_dict(orient="records")}

    def to_dict(self) -> dict:
        """JSON-friendly: species, lags, per-setting distances, the mean table, meta."""
        d = {"format": _FORMAT, "species": list(self.species), "lags": list(self.lags),
             "param_names": list(self.param_names), "bins": self.bins if self.bins is None or np.isscalar(self.bins)
             else np.asarray(self.bins).tolist(), "meta": self.meta,
             "table": self.table().to_dict(orient="records")}
        for m in _METRICS:
            d[m] = [[[None if not np.isfinite(v) else float(v) for v in row] for row in mat]
                    for mat in getattr(self, m)]
        return d

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``report.json`` and ``arrays.npz`` into the folder ``path``; returns it."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        arrays = {k: getattr(self, k) for k in _ARRAYS if getattr(self, k) is not None}
        np.savez_compressed(path / "arrays.npz", **arrays)
        d = self.to_dict()
        for m in _METRICS:  # the arrays carry them exactly
            d.pop(m)
        (path / "report.json").write_text(json.dumps(d, indent=1, default=_json_default))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "EvaluationReport":
        """Read a report written by :meth:`save`."""
        path = Path(path)
        jf, af = path / "report.json", path / "arrays.npz"
        for f in (jf, af):
            if not f.exists():
                raise FileNotFoundError(f"no evaluation report at {path} (missing {f.name})")
        d = json.loads(jf.read_text())
        if d.get("format") != _FORMAT:
            raise ValueError(f"{jf} is not an evaluation report (format {d.get('format')!r})")
        with np.load(af) as z:
            arrays = {k: z[k] for k in z.files}
        missing = [m for m in _METRICS if m not in arrays]
        if missing:
            raise ValueError(f"{af} lacks arrays {missing}")
        return cls(d["species"], d["lags"], *(arrays[m] for m in _METRICS),
                   initial_states=arrays.get("initial_states"), rates=arrays.get("rates"),
                   param_names=d.get("param_names", ()), samples_emulator=arrays.get("samples_emulator"),
                   samples_ssa=arrays.get("samples_ssa"), samples_ssa_self=arrays.get("samples_ssa_self"),
                   bins=d.get("bins"), meta=d.get("meta"))

    def rebin(self, bins: Any) -> "EvaluationReport":
        """The same comparison with another histogram binning, from the kept samples.

        Coarser bins lower the finite-sample self-distance, which makes the ratio to it more
        discriminating for small ensembles.  Needs the three sample arrays (``keep_samples``).
        """
        from .histograms import distance_tables

        if self.samples_emulator is None or self.samples_ssa is None or self.samples_ssa_self is None:
            raise ValueError("rebin needs the emulator and both SSA samples (evaluate(..., keep_samples=True))")
        a, b1, b2 = self.samples_emulator, self.samples_ssa, self.samples_ssa_self
        out = distance_tables(a, b1, b2, bins)
        meta = {**self.meta, "bins": bins if bins is None or np.isscalar(bins) else np.asarray(bins).tolist()}
        return EvaluationReport(self.species, self.lags, *(out[m] for m in _METRICS),
                                initial_states=self.initial_states, rates=self.rates, param_names=self.param_names,
                                samples_emulator=a, samples_ssa=b1, samples_ssa_self=b2, bins=bins, meta=meta)

    # ------------------------------------------------------------------ plots
    def plot(self, setting: int = 0, species: str | None = None, kind: str = "l1") -> Any:
        """Bokeh figures: the overlaid emulator/SSA histograms of one setting at every lag, and
        the mean distance vs lag with the SSA self-distance.

        Parameters
        ----------
        setting : int
            Which held-out setting's histograms to show.
        species : str, optional
            Default: the first compared species.
        kind : {"l1", "iou"}

        Returns
        -------
        bokeh layout (``bokeh.io.show`` / ``save`` it)
        """
        from ..viz.histograms import distance_by_lag, histogram_overlay, side_by_side
        from ..viz.html import stack
        from .histograms import histogram_pair

        if kind not in ("l1", "iou"):
            raise ValueError(f"kind must be 'l1' or 'iou', got {kind!r}")
        species = self.species[0] if species is None else species
        if species not in self.species:
            raise ValueError(f"species {species!r} not in the report ({list(self.species)})")
        j = self.species.index(species)
        if not 0 <= setting < self.n_settings:
            raise ValueError(f"setting must be in [0, {self.n_settings}), got {setting}")

        hist_figs = []
        if self.samples_emulator is not None and self.samples_ssa is not None:
            for t, lag in enumerate(self.lags):
                x = self.samples_emulator[setting, :, j, t]
                y = self.samples_ssa[setting, :, j, t]
                p = q = edges = None
                if np.isfinite(x).all() and np.isfinite(y).all():
                    p, q, edges = histogram_pair(x, y, self.bins if self.bins is None or np.isscalar(self.bins)
                                                 else np.asarray(self.bins))
                hist_figs.append(histogram_overlay(p, q, edges, title=f"{species}, {lag} step(s), setting {setting}"))

        tab = self.table()
        sub = tab[tab.species == species]
        g = distance_by_lag(sub.lag.to_numpy(), sub[kind].to_numpy(), sub[f"self_{kind}"].to_numpy(),
                            species=species, kind=kind)
        return stack([side_by_side(hist_figs), g] if hist_figs else [g])

    def __repr__(self) -> str:
        return (f"EvaluationReport(species={list(self.species)}, lags={list(self.lags)}, "
                f"settings={self.n_settings})")


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
