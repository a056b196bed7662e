"""Semi-automatic ABC summaries (Fearnhead & Prangle 2012): linear regression of theta on features.

:class:`SemiAutoSummary` computes hand-picked features ``f(x)`` with a base
:class:`~sciope_abs.summaries.base.Summary`, optionally expands them (``"linear"``: ``f``;
``"quadratic"``: ``f`` and ``f**2``), and fits one least-squares regression per parameter of the
scaled parameters (the same parametrisation as :class:`~.learned.LearnedSummary`) on the
standardised expanded features.  The fitted values -- a linear estimate of ``E[theta | x]`` --
are the summary, ``(n, d)`` features named ``"semiauto__<parameter>"``.  Pure numpy.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..seeding import SeedLike
from ..summaries import SUMMARIES, CombinedSummary, make_summary
from ..summaries.base import NamesUnknownError, Summary, check_traces
from .learned import ThetaScaler, check_fit_data

__all__ = ["SemiAutoSummary", "summary_spec", "EXPANSIONS"]

logger = logging.getLogger(__name__)

EXPANSIONS = ("linear", "quadratic")
_FORMAT = "sciope_abs.semiauto_summary/1"


def summary_spec(summary: Any) -> Any:
    """A JSON config value that :func:`~sciope_abs.summaries.make_summary` turns back into ``summary``.

    Raises ``ValueError`` for a summary whose class is not in the summaries registry.
    """
    if isinstance(summary, CombinedSummary):
        return [summary_spec(p) for p in summary.parts]
    for key, cls in SUMMARIES.items():
        if type(summary) is cls:
            params = {k: v for k, v in summary._params().items() if v is not None}
            return {"name": key, **params}
    raise ValueError(f"{type(summary).__name__} is not in the summaries registry; pass base= to "
                     "SemiAutoSummary.load instead of storing it")


class SemiAutoSummary(Summary):
    """Linear-regression summaries on hand-picked features (semi-automatic ABC).

    Parameters
    ----------
    base : Summary
        The hand-picked features ``(n, r, S, T) -> (n, F)``.
    expansion : {"linear", "quadratic"}
        Regressors: the features, or the features and their squares.
    target : {"standardise", "log"}
        Parametrisation of theta regressed on (see :class:`~.learned.ThetaScaler`).
    ridge : float
        A small ridge penalty (on standardised regressors) that keeps collinear features stable.
    param_names : sequence of str, optional
    prefix : str
        Names are ``"<prefix>__<parameter>"``.
    seed : int, optional
        Unused by the deterministic fit; accepted so every learned summary takes one.
    """

    def __init__(self, base: Summary, expansion: str = "linear", *, target: str = "standardise", ridge: float = 1e-6,
                 param_names: Sequence[str] | None = None, prefix: str = "semiauto", seed: SeedLike = None):
        super().__init__(None)
        if not callable(base) or isinstance(base, type):
            raise ValueError(f"base must be a summary, callable on traces (n, r, S, T), got {type(base).__name__}")
        if expansion not in EXPANSIONS:
            raise ValueError(f"expansion must be one of {EXPANSIONS}, got {expansion!r}")
        ThetaScaler(target)
        if not float(ridge) >= 0:
            raise ValueError(f"ridge must be >= 0, got {ridge!r}")
        self.base = base
        self.expansion = expansion
        self.target = target
        self.ridge = float(ridge)
        self.param_names = None if param_names is None else tuple(param_names)
        self.prefix = str(prefix)
        self.seed = seed
        self.coef_: np.ndarray | None = None
        self.config_: dict | None = None

    @property
    def names(self) -> list[str]:
        if self.config_ is None:
            raise NamesUnknownError("SemiAutoSummary: names are known after fit(theta, x)")
        return [f"{self.prefix}__{p}" for p in self.config_["param_names"]]

    def _names(self, species: tuple[str, ...]) -> list[str]:
        return self.names

    def _config(self) -> dict[str, Any]:
        if self.config_ is None:
            raise ValueError("SemiAutoSummary is not fitted: call fit(theta, x) first")
        return self.config_

    def _regressors(self, f: np.ndarray) -> np.ndarray:
        z = np.hstack([f, f ** 2]) if self.expansion == "quadratic" else f
        cfg = self._config()
        return (z - cfg["z_mean"]) / cfg["z_std"]

    def fit(self, theta: Any, x: Any = None, *, prior: Any = None) -> "SemiAutoSummary":
        """Fit the regression on ``theta`` (n, d) and traces ``x`` (n, r, S, T); ``fit(x)`` alone
        keeps a fitted regression (the :class:`Summary` protocol).  Returns ``self``."""
        if x is None:
            if self.coef_ is None:
                raise ValueError("SemiAutoSummary.fit needs (theta (n, d), x (n, r, S, T))")
            self._bind_species(check_traces(theta).shape[2])
            return self
        th, xx = check_fit_data(theta, x)
        self._bind_species(xx.shape[2])
        if callable(getattr(self.base, "fit", None)):
            self.base.fit(xx)
        f = np.asarray(self.base(xx), dtype=np.float64)
        ok = np.isfinite(f).all(axis=1)
        if ok.sum() < f.shape[1] + 2:
            raise ValueError(f"only {int(ok.sum())} points with finite features for {f.shape[1]} features")
        f, th = f[ok], th[ok]
        names = self.param_names or (tuple(prior.names) if getattr(prior, "names", None) is not None else
                                     tuple(f"theta{i}" for i in range(th.shape[1])))
        if len(names) != th.shape[1]:
            raise ValueError(f"param_names has {len(names)} entries but theta has {th.shape[1]} columns")
        z = np.hstack([f, f ** 2]) if self.expansion == "quadratic" else f
        z_std = z.std(axis=0)
        cfg = {"param_names": list(names), "z_mean": z.mean(axis=0), "z_std": np.where(z_std > 0, z_std, 1.0),
               "theta_scaling": ThetaScaler(self.target).fit(th, prior).to_dict()}
        self.config_ = cfg
        A = np.hstack([np.ones((len(z), 1)), self._regressors(f)])
        y = ThetaScaler.from_dict(cfg["theta_scaling"]).encode(th)
        pen = self.ridge * len(z) * np.eye(A.shape[1])
        pen[0, 0] = 0.0
        self.coef_ = np.linalg.solve(A.T @ A + pen, A.T @ y)
        resid = y - A @ self.coef_
        self.r2_ = 1.0 - resid.var(axis=0) / np.where(y.var(axis=0) > 0, y.var(axis=0), 1.0)
        return self

    def _compute(self, x: np.ndarray, species: tuple[str, ...]) -> np.ndarray:
        if self.coef_ is None:
            raise ValueError("SemiAutoSummary is not fitted: call fit(theta, x) first")
        f = np.asarray(self.base(x), dtype=np.float64)
        n_reg = len(self._config()["z_mean"])
        if f.shape[1] != n_reg // (2 if self.expansion == "quadratic" else 1):
            raise ValueError(f"the base summary gives {f.shape[1]} features, the regression was fitted on "
                             f"{n_reg} regressors")
        return np.hstack([np.ones((len(f), 1)), self._regressors(f)]) @ self.coef_

    def predict_theta(self, x: Any) -> np.ndarray:
        """The regression's parameter estimate in the original units, (n, d)."""
        return ThetaScaler.from_dict(self._config()["theta_scaling"]).decode(self(x))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted regression and the base summary's spec to the JSON file ``path``."""
        if self.coef_ is None:
            raise ValueError("cannot save an unfitted SemiAutoSummary")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"format": _FORMAT, "base": summary_spec(self.base), "expansion": self.expansion, "target": self.target,
               "ridge": self.ridge, "prefix": self.prefix, "coef": self.coef_.tolist(),
               "config": {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self._config().items()}}
        path.write_text(json.dumps(doc, indent=1))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, base: Summary | None = None) -> "SemiAutoSummary":
        """Read a file written by :meth:`save` (``base`` overrides the stored base summary)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no semi-automatic summary file at {path}")
        try:
            doc = json.loads(path.read_text())
            if doc.get("format") != _FORMAT:
                raise ValueError(f"format {doc.get('format')!r}, expected {_FORMAT!r}")
            obj = cls(base if base is not None else make_summary(doc["base"]), doc["expansion"], target=doc["target"],
                      ridge=doc["ridge"], prefix=doc["prefix"])
            cfg = dict(doc["config"])
            cfg["z_mean"], cfg["z_std"] = np.asarray(cfg["z_mean"], float), np.asarray(cfg["z_std"], float)
            coef = np.asarray(doc["coef"], dtype=np.float64)
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"cannot read the semi-automatic summary {path}: {exc}") from None
        if coef.shape != (len(cfg["z_mean"]) + 1, len(cfg["param_names"])):
            raise ValueError(f"cannot read the semi-automatic summary {path}: coefficients of shape {coef.shape}")
        obj.coef_, obj.config_ = coef, cfg
        return obj

    def __repr__(self) -> str:
        return f"SemiAutoSummary({self.base!r}, expansion={self.expansion!r})"
