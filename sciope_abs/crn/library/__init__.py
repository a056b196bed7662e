"""The case-study model library: ``load_model(name)``, ``list_models()``.

One module per model, each exposing ``build() -> CRN``; adding a model is one module plus one
line in ``_MODELS``.  Facts (species, reactions, rates, ranges, time steps) follow
``shared/reference/case_study_models.md``.
"""
from __future__ import annotations

import importlib

from ..model import CRN

# name -> module inside this package
_MODELS: dict[str, str] = {
    "x16": "x16",
    "x40": "x40",
    "gene": "gene",
    "sir": "sir",
    "egfr": "egfr",
    "vilar": "vilar",
    "toggle_switch": "toggle_switch",
    "bees": "bees",
}
_CACHE: dict[str, CRN] = {}

__all__ = ["load_model", "list_models"]


def list_models() -> list[str]:
    """Names accepted by :func:`load_model`."""
    return list(_MODELS)


def load_model(name: str) -> CRN:
    """Build a library model by name (case-insensitive; ``toggle-switch`` == ``toggle_switch``)."""
    if isinstance(name, CRN):
        return name
    key = str(name).strip().lower().replace("-", "_")
    if key not in _MODELS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(_MODELS)}")
    if key not in _CACHE:
        _CACHE[key] = importlib.import_module(f"{__name__}.{_MODELS[key]}").build()
    return _CACHE[key]
