"""The ``Summary`` protocol: ``summary(x (n, r, S, T)) -> (n, F)`` with ``names`` ``"species__feature"``.

Three layers:

- :class:`Summary` -- the protocol: input checks, species naming, NaN rows for failed points,
  ``a + b`` concatenation (:class:`CombinedSummary`).
- :class:`RealisationSummary` -- features computed on each realisation, then averaged over the
  ``r`` realisations (``reduce="mean"``, output (n, F)) or kept (``reduce="none"``, output
  (n, r, F)).
- :class:`SpeciesSummary` -- per-realisation features computed for each species separately
  (``k`` features per species, ``F = S * k``, species-major order).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Sequence

import numpy as np

from ..protocols import Summary as SummaryProtocol

__all__ = ["Summary", "RealisationSummary", "SpeciesSummary", "CombinedSummary", "check_traces", "REDUCE_MODES",
           "NamesUnknownError"]

REDUCE_MODES = ("mean", "none")


class NamesUnknownError(AttributeError, ValueError):
    """Feature names are not known yet (no species given and no call made, or an unfitted TSFresh).

    Both an ``AttributeError`` (so ``getattr(summary, "names", None)`` returns the default) and a
    ``ValueError``.
    """


def check_traces(x: Any) -> np.ndarray:
    """Validate traces and return a float64 array of shape (n, r, S, T).

    A 3-D array (r, S, T) is one point (an observed data set) and becomes (1, r, S, T).
    """
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("traces must be a numeric array of shape (n, r, S, T)") from None
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4:
        raise ValueError(f"traces must have shape (n, r, S, T) (or (r, S, T) for one point), got {arr.shape}")
    if arr.shape[1] < 1 or arr.shape[2] < 1 or arr.shape[3] < 1:
        raise ValueError(f"traces need at least one realisation, species and time point, got shape {arr.shape}")
    return arr


def _is_summary(obj: Any) -> bool:
    """A summary: a :class:`Summary` or an object of the :class:`sciope_abs.protocols.Summary`
    protocol (callable on traces, with ``names``; not evaluated here, it may need a first call)."""
    if isinstance(obj, Summary):
        return True
    return (callable(obj) and not isinstance(obj, type)
            and (hasattr(type(obj), "names") or "names" in getattr(obj, "__dict__", {})))


class Summary(ABC):
    """Base class of the package's summary statistics; implements the
    :class:`sciope_abs.protocols.Summary` protocol (user summaries need not inherit from it).

    Parameters
    ----------
    species : sequence of str, optional
        Names of the ``S`` species axis, used in :attr:`names`; default ``"s0", "s1", ...``
        (known after the first call).

    Notes
    -----
    Subclasses implement :meth:`_compute` (validated (n, r, S, T) -> (n, F) or (n, r, F)) and
    :meth:`_names` (species list -> feature names). A point whose traces contain NaN (a failed
    simulation) gets a NaN row. Summaries are plain picklable objects: they run inside Dask tasks.
    """

    #: "mean" (output (n, F)) or "none" (output (n, r, F))
    reduce: str = "mean"

    def __init__(self, species: Sequence[str] | None = None):
        if species is not None:
            if isinstance(species, str):
                species = (species,)
            species = tuple(str(s) for s in species)
            if len(set(species)) != len(species) or len(species) == 0:
                raise ValueError(f"species names must be unique and non-empty, got {list(species)}")
        self.species: tuple[str, ...] | None = species
        self.n_species_: int | None = None if species is None else len(species)

    # --- species ------------------------------------------------------------------------------
    def _bind_species(self, S: int) -> tuple[str, ...]:
        if self.species is not None:
            if len(self.species) != S:
                raise ValueError(f"{type(self).__name__} was given {len(self.species)} species "
                                 f"{list(self.species)} but the traces have S={S}")
            return self.species
        self.n_species_ = S
        return tuple(f"s{i}" for i in range(S))

    def species_names(self) -> tuple[str, ...]:
        """The species names used in :attr:`names`."""
        if self.species is not None:
            return self.species
        if self.n_species_ is None:
            raise NamesUnknownError(f"{type(self).__name__}: species unknown; pass species=... or call the summary once")
        return tuple(f"s{i}" for i in range(self.n_species_))

    # --- protocol -----------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Feature names ``"species__feature"``, length F."""
        return list(self._names(self.species_names()))

    @property
    def n_features(self) -> int:
        return len(self.names)

    def __call__(self, x: Any) -> np.ndarray:
        """Summaries of each point.

        Parameters
        ----------
        x : array, shape (n, r, S, T) (or (r, S, T) for one point)

        Returns
        -------
        array, shape (n, F) -- or (n, r, F) with ``reduce="none"``
            NaN rows for points whose traces contain NaN.
        """
        x = check_traces(x)
        species = self._bind_species(x.shape[2])
        out = np.asarray(self._compute(x, species), dtype=np.float64)
        if self.reduce == "none":
            bad = np.any(np.isnan(x), axis=(2, 3))  # (n, r)
            out[bad] = np.nan
        else:
            bad = np.any(np.isnan(x), axis=(1, 2, 3))  # (n,)
            out[bad] = np.nan
        return out

    def fit(self, x: Any, /) -> "Summary":
        """Learn what the summary needs from reference traces (n, r, S, T); returns ``self``.

        Built-in numpy summaries only record the number of species; :class:`TSFresh` chooses its
        columns.
        """
        x = check_traces(x)
        self._bind_species(x.shape[2])
        return self

    @abstractmethod
    def _compute(self, x: np.ndarray, species: tuple[str, ...]) -> np.ndarray:
        """Features of validated traces (n, r, S, T) -> (n, F) or (n, r, F).

        ``n_species_`` and the species names are bound before this is called.
        """

    @abstractmethod
    def _names(self, species: tuple[str, ...]) -> list[str]:
        """Feature names for the given species."""

    def __add__(self, other: Any) -> "CombinedSummary":
        if not _is_summary(other):
            return NotImplemented
        return CombinedSummary([self, other])

    def __radd__(self, other: Any) -> "CombinedSummary":
        # ``user_summary + Mean()``: a protocol-conforming summary that does not inherit from Summary
        if not _is_summary(other):
            return NotImplemented
        return CombinedSummary([other, self])

    def _params(self) -> dict[str, Any]:
        return {"species": list(self.species) if self.species else None}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items() if v is not None)
        return f"{type(self).__name__}({params})"


class RealisationSummary(Summary):
    """A summary computed per realisation, then averaged over realisations or kept.

    Parameters
    ----------
    species : sequence of str, optional
    reduce : {"mean", "none"}
        ``"mean"``: average over the ``r`` realisations, output (n, F). ``"none"``: output
        (n, r, F), one row per realisation.
    """

    def __init__(self, species: Sequence[str] | None = None, reduce: str = "mean"):
        super().__init__(species)
        if reduce not in REDUCE_MODES:
            raise ValueError(f"reduce must be one of {REDUCE_MODES}, got {reduce!r}")
        self.reduce = reduce

    @abstractmethod
    def _per_realisation(self, x: np.ndarray, species: tuple[str, ...]) -> np.ndarray:
        """(n, r, S, T) -> (n, r, F)."""

    def _compute(self, x: np.ndarray, species: tuple[str, ...]) -> np.ndarray:
        per = self._per_realisation(x, species)
        return per if self.reduce == "none" else per.mean(axis=1)

    def _params(self) -> dict[str, Any]:
        p = super()._params()
        if self.reduce != "mean":
            p["reduce"] = self.reduce
        return p


class SpeciesSummary(RealisationSummary):
    """Per-realisation features computed for each species: ``k`` labels per species.

    Subclasses implement :meth:`_per_species` ((n, r, S, T) -> (n, r, S, k)) and
    :meth:`labels` (the ``k`` feature labels); names are ``f"{species}__{label}"`` in
    species-major order.
    """

    @abstractmethod
    def labels(self) -> list[str]:
        """The ``k`` per-species feature labels."""

    @abstractmethod
    def _per_species(self, x: np.ndarray) -> np.ndarray:
        """(n, r, S, T) -> (n, r, S, k)."""

    def _per_realisation(self, x: np.ndarray, species: tuple[str, ...]) -> np.ndarray:
        f = self._per_species(x)
        n, r = x.shape[:2]
        return f.reshape(n, r, -1)

    def _names(self, species: tuple[str, ...]) -> list[str]:
        return [f"{s}__{lab}" for s in species for lab in self.labels()]


class CombinedSummary(Summary):
    """Concatenation of summaries along the feature axis (``a + b``).

    All parts must produce the same output layout (all ``reduce="mean"`` or all
    ``reduce="none"``).
    """

    def __init__(self, parts: Sequence[SummaryProtocol]):
        flat: list[SummaryProtocol] = []
        for p in parts:
            if not _is_summary(p):
                raise ValueError(f"can only combine summaries (callable on traces, with names), got {type(p).__name__}")
            flat.extend(p.parts if isinstance(p, CombinedSummary) else [p])
        if not flat:
            raise ValueError("CombinedSummary needs at least one part")
        modes = {getattr(p, "reduce", "mean") for p in flat}
        if len(modes) > 1:
            raise ValueError(f"cannot combine summaries with different reduce modes {sorted(modes)}")
        self.parts: list[SummaryProtocol] = flat
        self.reduce = getattr(flat[0], "reduce", "mean")
        self.species = None
        self.n_species_ = None

    @property
    def names(self) -> list[str]:
        return [nm for p in self.parts for nm in p.names]

    def _names(self, species: tuple[str, ...]) -> list[str]:
        return self.names

    def _bind_species(self, S: int) -> tuple[str, ...]:
        self.n_species_ = S
        return tuple(f"s{i}" for i in range(S))

    def _compute(self, x: np.ndarray, species: tuple[str, ...]) -> np.ndarray:
        outs = [p(x) for p in self.parts]
        return np.concatenate(outs, axis=-1)

    def fit(self, x: Any, /) -> "CombinedSummary":
        """Fit every part (e.g. a :class:`TSFresh`) on reference traces (n, r, S, T)."""
        x = check_traces(x)
        self._bind_species(x.shape[2])
        for p in self.parts:
            fit = getattr(p, "fit", None)
            if callable(fit):
                fit(x)
        return self

    def __repr__(self) -> str:
        return " + ".join(repr(p) for p in self.parts)
