"""sciope_abs.store: on-disk results as zarr v3 groups (arrays + JSON attributes).

- :func:`save_simulations` / :func:`load_simulations` / :class:`SimulationSet` — simulated traces
  with their parameter points, species, timespan and provenance.
- :func:`write_group` / :func:`read_group` / :func:`is_store` — the generic helpers other results
  (abstraction datasets, sweeps) are built on.
- :class:`StoreCorruptError` — a store whose chunks no longer match the checksums written with it.
"""
from .simulations import SimulationSet, load_simulations, save_simulations
from .zarr_io import StoreCorruptError, is_store, read_group, to_jsonable, write_group

__all__ = ["SimulationSet", "save_simulations", "load_simulations", "write_group", "read_group", "is_store",
           "to_jsonable", "StoreCorruptError"]
