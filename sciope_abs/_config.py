"""Frozen dataclasses as the one definition of a stage's hyper-parameters: the shared machinery.

A stage's settings are one frozen dataclass deriving from :class:`Config` whose fields are made
with :func:`option` (default, one-line help, kind).  The API reads its defaults from it
(``search(dataset, config=SearchConfig(...))``), the CLI its argparse defaults and help
(:meth:`Config.help_of`), the YAML pipeline its keys and value kinds (:meth:`Config.from_mapping`,
one-line errors naming the user's key) and the model card its dict (:meth:`Config.to_dict`).

Pure Python: no numpy, no TensorFlow, so checking a config file stays instant.
"""
from __future__ import annotations

import dataclasses
import difflib
import numbers
from typing import Any, Mapping, TypeVar

__all__ = ["Config", "option", "as_number", "number_in", "KINDS"]

C = TypeVar("C", bound="Config")

#: value kinds a field can declare: checked (and normalised) by :meth:`Config.from_mapping`
KINDS = ("int", "float", "bool", "str", "list", "any")


def option(default: Any, help: str, kind: str | None = None, *, choices: tuple | None = None,
           none: bool = False, cli: str | None = None) -> Any:
    """A config field: ``default``, a one-line ``help`` (shown by the CLI) and a value ``kind``.

    ``kind`` (one of :data:`KINDS`) defaults to the type of ``default`` (a tuple is ``"list"``;
    a ``None`` default needs it given).  A field whose default is ``None`` (or with ``none=True``)
    also accepts ``None``.  ``choices`` restricts the values; ``cli`` names the command-line flag when it is not
    ``--field-name``.
    """
    if kind is None:
        kind = _kind_of(default)
    if kind not in KINDS:
        raise ValueError(f"option kind must be one of {KINDS}, got {kind!r}")
    meta = {"help": help, "kind": kind, "choices": choices, "none": none or default is None, "cli": cli}
    return dataclasses.field(default=default, metadata=meta)


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, numbers.Integral):
        return "int"
    if isinstance(value, numbers.Real):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (tuple, list)):
        return "list"
    raise ValueError(f"option: give kind= for a default of {value!r}")


def as_number(v: Any, key: str) -> float:
    """``float(v)``, or a one-line ValueError naming the key (``infer.quantile: could not convert
    'abc' to a number``)."""
    if isinstance(v, bool):
        raise ValueError(f"{key}: expected a number, got {v!r}")
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{key}: could not convert {v!r} to a number") from None


def number_in(d: dict, section: str, key: str, lo: float, hi: float, *, lo_open: bool = True,
              hi_open: bool = False, allow_none: bool = False) -> None:
    """``d[key]`` becomes a float inside the interval, else a one-line error naming ``section.key``."""
    v = d[key]
    if v is None and allow_none:
        return
    x = as_number(v, f"{section}.{key}")
    ok = (x > lo if lo_open else x >= lo) and (x < hi if hi_open else x <= hi)
    if not ok:
        interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        raise ValueError(f"{section}.{key} must lie in {interval}, got {v!r}")
    d[key] = x


def _normalise(kind: str, v: Any, key: str) -> Any:
    """``v`` checked against ``kind`` and converted (YAML's ``"1e-3"`` -> 1e-3, lists -> tuples)."""
    if kind == "bool":
        if not isinstance(v, bool):
            raise ValueError(f"{key} must be true or false, got {v!r}")
        return v
    if kind == "int":
        x = as_number(v, key)
        if not x.is_integer():
            raise ValueError(f"{key} must be an integer, got {v!r}")
        return v if isinstance(v, numbers.Integral) else int(x)
    if kind == "float":
        return float(as_number(v, key))
    if kind == "str":
        if not isinstance(v, str):
            raise ValueError(f"{key} must be a string, got {v!r}")
        return v
    if kind == "list":
        if not isinstance(v, (list, tuple)):
            raise ValueError(f"{key} must be a list, got {v!r}")
        return tuple(v)
    return v


def _jsonable(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return v


class Config:
    """Base of the frozen settings dataclasses (see the module docstring)."""

    def __post_init__(self) -> None:
        # list-valued fields hold tuples, so that a config is immutable and hashable
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.metadata.get("kind") == "list" and isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]

    @classmethod
    def meta(cls, name: str) -> Mapping[str, Any]:
        """The field's metadata: ``help``, ``kind``, ``choices``, ``none``, ``cli``."""
        return {f.name: f.metadata for f in dataclasses.fields(cls)}[name]  # type: ignore[arg-type]

    @classmethod
    def default(cls, name: str) -> Any:
        """The default of one field (what the API, the CLI and the pipeline all use)."""
        return {f.name: f.default for f in dataclasses.fields(cls)}[name]  # type: ignore[arg-type]

    @classmethod
    def help_of(cls, name: str, default: Any = dataclasses.MISSING) -> str:
        """The field's help with its default: ``"mixture components (default 6)"`` (a ``None``
        default is said by the help itself: ``"... (default: from the dataset's size)"``)."""
        shown = cls.default(name) if default is dataclasses.MISSING else default
        if shown is None:
            return str(cls.meta(name)["help"])
        if isinstance(shown, (tuple, list)):
            shown = ",".join(str(x) for x in shown)
        return f"{cls.meta(name)['help']} (default {shown})"

    @classmethod
    def check_keys(cls, keys, section: str) -> None:
        """Unknown keys are a one-line error naming them (with the closest known key)."""
        known = cls.field_names()
        unknown = sorted(set(keys) - set(known))
        if unknown:
            close = difflib.get_close_matches(unknown[0], known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown key(s) {unknown} in section {section!r}{hint}; known: {sorted(known)}")

    @classmethod
    def from_mapping(cls: type[C], given: Mapping[str, Any] | None, section: str) -> C:
        """The config of a user's mapping (YAML section): keys and value kinds checked, each error
        one line naming ``section.key``; values normalised (lists become tuples)."""
        given = dict(given or {})
        cls.check_keys(given, section)
        values: dict[str, Any] = {}
        for k, v in given.items():
            meta, key = cls.meta(k), f"{section}.{k}"
            if v is None:
                if not meta["none"] and meta["kind"] != "any":
                    raise ValueError(f"{key} cannot be null")
                values[k] = None
                continue
            v = _normalise(meta["kind"], v, key)
            if meta["choices"] is not None and v not in meta["choices"]:
                raise ValueError(f"{key} must be one of {list(meta['choices'])}, got {v!r}")
            values[k] = v
        return cls(**values)

    def override(self: C, **changes: Any) -> C:
        """A copy with ``changes`` (``dataclasses.replace``); an unknown name is a TypeError naming it."""
        unknown = sorted(set(changes) - set(self.field_names()))
        if unknown:
            raise TypeError(f"unknown keyword argument(s) {unknown}; settings of {type(self).__name__}: "
                            f"{self.field_names()}")
        return dataclasses.replace(self, **changes) if changes else self  # type: ignore[type-var]

    def to_dict(self) -> dict:
        """JSON-ready dict of every field (tuples as lists): what a model card records."""
        return {name: _jsonable(getattr(self, name)) for name in self.field_names()}
