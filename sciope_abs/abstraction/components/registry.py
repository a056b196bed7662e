"""Registry of mixture components: one class per file, registered by name."""
from __future__ import annotations

from typing import Any

__all__ = ["COMPONENTS", "register_component", "get_component"]

#: name -> Component subclass
COMPONENTS: dict[str, type] = {}


def register_component(cls: type) -> type:
    """Class decorator: add a :class:`~.base.Component` subclass to :data:`COMPONENTS`."""
    name = getattr(cls, "name", "")
    if not name:
        raise ValueError(f"component class {cls.__name__} has no name")
    COMPONENTS[name] = cls
    return cls


def get_component(name: Any) -> Any:
    """A component instance from its registry name, or from a config dict ``{"name": ..., **kwargs}``
    for a configured family (e.g. ``"categorical"``); an instance is returned as is."""
    if isinstance(name, dict):
        kwargs = dict(name)
        key = kwargs.pop("name", None)
        if key not in COMPONENTS:
            raise ValueError(f"unknown mixture component {key!r}; known: {sorted(COMPONENTS)}")
        try:
            return COMPONENTS[key](**kwargs)
        except TypeError as exc:
            raise ValueError(f"mixture component {key!r}: bad configuration ({exc})") from None
    if not isinstance(name, str):
        if hasattr(name, "log_prob") and hasattr(name, "sample_from_noise"):
            return name
        raise ValueError(f"component must be a registry name, got {type(name).__name__}")
    try:
        return COMPONENTS[name]()
    except TypeError:
        raise ValueError(f"mixture component {name!r} needs a configuration: pass a dict "
                         f"{{'name': {name!r}, ...}}") from None
    except KeyError:
        raise ValueError(f"unknown mixture component {name!r}; known: {sorted(COMPONENTS)}") from None
