"""sciope_abs.surrogates: learned models of a simulator's outputs (see DESIGN.md §3, §6).

- :class:`GPSurrogate`, :class:`SVMSurrogate`, :class:`ANNSurrogate` -- regressors
  ``theta (n, d) -> y (n, F)`` with ``fit``, ``predict(theta, return_std=...)`` and ``score``;
  ``get_surrogate(name)`` / ``SURROGATES`` is their registry.

Everything is imported lazily (on first attribute access), so ``import sciope_abs`` never loads
scikit-learn or TensorFlow.
"""
from __future__ import annotations

import importlib
from typing import Any

#: public name -> submodule that defines it
_LAZY: dict[str, str] = {
    "Surrogate": "base",
    "GPSurrogate": "gp",
    "SVMSurrogate": "svm",
    "ANNSurrogate": "ann",
    "SURROGATES": "registry",
    "get_surrogate": "registry",
    "as_surrogate": "registry",
    "LearnedSummary": "learned", "SemiAutoSummary": "learned_semiauto",  # learned ABC summaries (issue 15)
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
