"""Registry of the regression surrogates: ``get_surrogate("gp" | "svm" | "ann", **kw)``."""
from __future__ import annotations

from typing import Any

from .ann import ANNSurrogate
from .base import Surrogate
from .gp import GPSurrogate
from .svm import SVMSurrogate

__all__ = ["SURROGATES", "get_surrogate", "as_surrogate"]

SURROGATES: dict[str, type[Surrogate]] = {
    "gp": GPSurrogate,
    "svm": SVMSurrogate,
    "ann": ANNSurrogate,
}


def get_surrogate(name: str, **kwargs: Any) -> Surrogate:
    """A surrogate by registry name (``"gp"``, ``"svm"``, ``"ann"``); ``kwargs`` go to the class."""
    key = str(name).lower()
    if key not in SURROGATES:
        raise ValueError(f"unknown surrogate {name!r}; choose one of {sorted(SURROGATES)}")
    return SURROGATES[key](**kwargs)


def as_surrogate(obj: Any, **kwargs: Any) -> Any:
    """A registry name or an object with ``fit`` and ``predict`` (returned as is)."""
    if isinstance(obj, str):
        return get_surrogate(obj, **kwargs)
    if not (callable(getattr(obj, "fit", None)) and callable(getattr(obj, "predict", None))):
        raise ValueError(f"surrogate must be a name in {sorted(SURROGATES)} or have fit() and predict(), got {obj!r}")
    return obj
