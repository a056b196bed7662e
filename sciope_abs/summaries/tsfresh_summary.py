"""tsfresh-backed features, computed per species and averaged over realisations."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .base import REDUCE_MODES, NamesUnknownError, Summary, check_traces

__all__ = ["TSFresh"]

_PRESETS = ("minimal", "efficient", "comprehensive")


class TSFresh(Summary):
    """tsfresh features of each species' trajectory, fit/transform style.

    Parameters
    ----------
    features : {"minimal", "efficient", "comprehensive"} or dict
        A tsfresh preset (``MinimalFCParameters`` ...) or a tsfresh ``default_fc_parameters``
        dict ``{feature_name: None | [param dicts]}``.
    species : sequence of str, optional
        Names of the species axis (default ``"s0", "s1", ...``).
    reduce : {"mean", "none"}
        Average the features over realisations (output (n, F)) or keep them (n, r, F).

    Attributes
    ----------
    columns_ : list of str
        The kept feature names ``"<species>__<feature>"`` (set by :meth:`fit`); later calls
        produce exactly these columns in this order.
    dropped_ : dict name -> reason
        Features dropped at fit time: ``"all NaN"`` or ``"constant"`` (constant over the
        reference set's realisations; judged only when it has at least two finite rows).

    Notes
    -----
    Features are extracted with ``tsfresh.extract_features`` (``n_jobs=0``, no progress bar) on a
    long table with one series per (point, realisation, species). An unfitted ``TSFresh`` fits on
    its first call: fit it on a reference set *before* shipping it to Dask tasks so that every task
    returns the same columns. Points whose traces contain NaN get NaN rows.
    """

    def __init__(self, features: str | Mapping[str, Any] = "minimal", species: Sequence[str] | None = None,
                 reduce: str = "mean"):
        super().__init__(species)
        if isinstance(features, str):
            if features not in _PRESETS:
                raise ValueError(f"TSFresh features must be one of {_PRESETS} or a dict, got {features!r}")
        elif isinstance(features, Mapping):
            if not features:
                raise ValueError("TSFresh features dict is empty")
            features = dict(features)
        else:
            raise ValueError(f"TSFresh features must be a preset name or a dict, got {type(features).__name__}")
        if reduce not in REDUCE_MODES:
            raise ValueError(f"reduce must be one of {REDUCE_MODES}, got {reduce!r}")
        if self.species is not None and any("__" in s for s in self.species):
            raise ValueError(f"species names must not contain '__' for tsfresh, got {list(self.species)}")
        self.features = features
        self.reduce = reduce
        self.columns_: list[str] | None = None
        self.dropped_: dict[str, str] = {}

    # --- tsfresh -------------------------------------------------------------------------------
    def _settings(self) -> dict:
        from tsfresh.feature_extraction import (ComprehensiveFCParameters, EfficientFCParameters,
                                                MinimalFCParameters)

        if isinstance(self.features, dict):
            return self.features
        cls = {"minimal": MinimalFCParameters, "efficient": EfficientFCParameters,
               "comprehensive": ComprehensiveFCParameters}[self.features]
        return dict(cls())

    def _extract(self, x: np.ndarray, species: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
        """All tsfresh features per realisation: (n, r, F_all) and their names (NaN rows for failed
        points)."""
        import pandas as pd
        from tsfresh import extract_features

        n, r, S, T = x.shape
        good = ~np.any(np.isnan(x), axis=(1, 2, 3))
        xs = x[good]
        m = xs.shape[0]
        if m == 0:
            return np.full((n, r, 0), np.nan), []
        ids = np.repeat(np.arange(m * r), S * T)
        kinds = np.tile(np.repeat(np.arange(S), T), m * r)
        times = np.tile(np.arange(T), m * r * S)
        df = pd.DataFrame({"id": ids, "time": times, "kind": np.asarray(species, dtype=object)[kinds],
                           "value": xs.reshape(-1)})
        feats = extract_features(df, column_id="id", column_sort="time", column_kind="kind",
                                 column_value="value", default_fc_parameters=self._settings(),
                                 n_jobs=0, disable_progressbar=True)
        feats = feats.reindex(index=np.arange(m * r))
        # canonical order: species-major, features in tsfresh's order within a species
        cols = [c for s in species for c in feats.columns if str(c).startswith(f"{s}__")]
        vals = feats[cols].to_numpy(dtype=np.float64).reshape(m, r, len(cols))
        out = np.full((n, r, len(cols)), np.nan)
        out[good] = vals
        return out, [str(c) for c in cols]

    # --- fit / transform ---------------------------------------------------------------------
    def fit(self, x: Any) -> "TSFresh":
        """Choose the columns on reference traces (n, r, S, T): drop all-NaN and constant features."""
        x = check_traces(x)
        species = self._bind_species(x.shape[2])
        vals, cols = self._extract(x, species)
        self._choose_columns(vals, cols)
        return self

    def _choose_columns(self, vals: np.ndarray, cols: list[str]) -> list[str]:
        if not cols:
            raise ValueError("cannot fit TSFresh: every reference trace contains NaN (failed simulations)")
        rows = vals.reshape(-1, len(cols))
        rows = rows[~np.all(np.isnan(rows), axis=1)]
        dropped: dict[str, str] = {}
        kept: list[str] = []
        for j, c in enumerate(cols):
            col = rows[:, j]
            fin = col[np.isfinite(col)]
            if fin.size == 0:
                dropped[c] = "all NaN"
            elif col.size >= 2 and fin.size == col.size and np.all(fin == fin[0]):
                dropped[c] = "constant"
            else:
                kept.append(c)
        self.columns_ = kept
        self.dropped_ = dropped
        return kept

    def transform(self, x: Any) -> np.ndarray:
        """Features in the fitted columns: (n, F), or (n, r, F) with ``reduce="none"``."""
        if self.columns_ is None:
            raise ValueError("TSFresh is not fitted; call fit(x) on reference traces first")
        return self(x)

    def fit_transform(self, x: Any) -> np.ndarray:
        return self.fit(x)(x)

    def _compute(self, x: np.ndarray, species: tuple[str, ...]) -> np.ndarray:
        vals, cols = self._extract(x, species)
        columns = self._choose_columns(vals, cols) if self.columns_ is None else self.columns_
        index = {c: j for j, c in enumerate(cols)}
        out = np.full(vals.shape[:2] + (len(columns),), np.nan)
        for k, c in enumerate(columns):
            if c in index:
                out[..., k] = vals[..., index[c]]
        if self.reduce == "none":
            return out
        return out.mean(axis=1)

    def _names(self, species: tuple[str, ...]) -> list[str]:
        if self.columns_ is None:
            raise NamesUnknownError("TSFresh feature names are known after fit(x) (or the first call)")
        return list(self.columns_)

    @property
    def names(self) -> list[str]:
        if self.columns_ is None:
            raise NamesUnknownError("TSFresh feature names are known after fit(x) (or the first call)")
        return list(self.columns_)

    def _params(self):
        return {"features": self.features, **super()._params(),
                "reduce": None if self.reduce == "mean" else self.reduce}
