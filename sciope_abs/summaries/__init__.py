"""Summary statistics of simulated traces (pure numpy; tsfresh imported only by :class:`TSFresh`).

Every summary maps traces ``(n, r, S, T)`` to features ``(n, F)`` named ``"species__feature"``
(see :mod:`sciope_abs.summaries.base`); ``a + b`` concatenates::

    from sciope_abs.summaries import Mean, Std, AutoCorrelation
    summary = Mean(species=("U", "V")) + AutoCorrelation(lags=(1, 5), species=("U", "V"))
    features = summary(traces)          # (n, 4)
    summary.names                       # ['U__mean', 'V__mean', 'U__autocorr_1', ...]

Registry: ``get_summary(name, **kw)`` over :data:`SUMMARIES`; :func:`make_summary` builds one
from a config value (a name, a ``{"name": ..., **kw}`` dict, or a list of those).
"""
from __future__ import annotations

from typing import Any

from .autocorrelation import AutoCorrelation
from .base import CombinedSummary, NamesUnknownError, RealisationSummary, SpeciesSummary, Summary, check_traces
from .burstiness import Burstiness
from .crosscorrelation import CrossCorrelation
from .final_value import FinalValue
from .moments import Mean, Std
from .quantiles import Quantiles
from .trajectory import Identity, MeanTrajectory
from .tsfresh_summary import TSFresh

__all__ = [
    "Summary", "NamesUnknownError", "RealisationSummary", "SpeciesSummary", "CombinedSummary", "check_traces",
    "Mean", "Std", "Quantiles", "AutoCorrelation", "Burstiness", "CrossCorrelation", "FinalValue",
    "MeanTrajectory", "Identity", "TSFresh", "SUMMARIES", "get_summary", "make_summary",
]

SUMMARIES: dict[str, type[Summary]] = {
    "mean": Mean,
    "std": Std,
    "quantiles": Quantiles,
    "autocorrelation": AutoCorrelation,
    "burstiness": Burstiness,
    "crosscorrelation": CrossCorrelation,
    "final_value": FinalValue,
    "trajectory": MeanTrajectory,
    "identity": MeanTrajectory,
    "tsfresh": TSFresh,
}


def get_summary(name: str, **kwargs: Any) -> Summary:
    """A summary by registry name (see :data:`SUMMARIES`); ``kwargs`` go to its class."""
    key = str(name).lower()
    if key not in SUMMARIES:
        raise ValueError(f"unknown summary {name!r}; choose one of {sorted(SUMMARIES)}")
    return SUMMARIES[key](**kwargs)


def make_summary(spec: Any, species: Any = None) -> Summary:
    """Build a summary from a config value.

    Parameters
    ----------
    spec : Summary, str, dict or list
        A Summary (returned as is), a registry name, a dict ``{"name": ..., **kwargs}``, or a
        list of these (concatenated with ``+``).
    species : sequence of str, optional
        Species names given to parts that do not name their own.
    """
    if isinstance(spec, Summary):
        return spec
    if callable(spec) and not isinstance(spec, type):
        return spec  # a user summary (the Summary protocol), used as given
    if isinstance(spec, str):
        return get_summary(spec, **({"species": species} if species is not None else {}))
    if isinstance(spec, dict):
        kw = dict(spec)
        if "name" not in kw:
            raise ValueError(f"a summary dict needs a 'name' key, got {sorted(kw)}")
        name = kw.pop("name")
        if species is not None:
            kw.setdefault("species", species)
        return get_summary(name, **kw)
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise ValueError("an empty list of summaries")
        parts = [make_summary(s, species) for s in spec]
        return parts[0] if len(parts) == 1 else CombinedSummary(parts)
    raise ValueError(f"cannot build a summary from {type(spec).__name__}")
