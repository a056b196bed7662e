"""Command-line options read from the settings dataclasses (:mod:`sciope_abs._config`).

``add_option(parser, TrainConfig, "epochs")`` adds ``--epochs`` with the dataclass's default,
type and help; :func:`config_from_args` builds the dataclass back from the parsed arguments, so
a default lives in one place (the dataclass) whatever the entry point.  A list field is a
comma-separated string on the command line (``--hidden 64,64``), parsed by the command so that
a bad value is its one-line error.
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Callable

from .._config import Config

__all__ = ["add_option", "config_from_args"]


_TYPES: dict[str, Callable[[str], Any] | None] = {"int": int, "float": float, "str": str, "list": None,
                                                   "any": None}


def _flag(cls: type[Config], name: str) -> str:
    return cls.meta(name)["cli"] or "--" + name.replace("_", "-")


def add_option(parser: argparse.ArgumentParser, cls: type[Config], name: str, *, default: Any = dataclasses.MISSING,
               **kwargs: Any) -> argparse.Action:
    """``parser.add_argument`` for the field ``name`` of ``cls``: flag (``meta["cli"]`` or
    ``--field-name``), ``dest=name``, type from the field's kind, choices, default and help from
    the dataclass (``default=`` only where a command has a reason to differ, e.g. a fixed seed)."""
    meta = cls.meta(name)
    value = cls.default(name) if default is dataclasses.MISSING else default
    if meta["kind"] == "list" and isinstance(value, (tuple, list)):
        value = ",".join(str(v) for v in value)
    opts: dict[str, Any] = {"dest": name, "default": value}
    if kwargs.get("required"):
        opts["default"] = None
        opts["help"] = meta["help"]
    else:
        opts["help"] = cls.help_of(name, value)
    if meta["kind"] == "bool":
        opts["action"] = argparse.BooleanOptionalAction
    elif _TYPES[meta["kind"]] is not None:
        opts["type"] = _TYPES[meta["kind"]]
    if meta["choices"] is not None:
        opts["choices"] = meta["choices"]
    opts.update(kwargs)
    return parser.add_argument(_flag(cls, name), **opts)


def config_from_args(cls: type[Config], args: argparse.Namespace, **parsed: Any):
    """The dataclass of the parsed arguments: each field the command exposes (``parsed`` holds
    the fields the command converted itself, e.g. a comma-separated list), the rest default."""
    values = {n: getattr(args, n) for n in cls.field_names() if hasattr(args, n)}
    return cls(**{**values, **parsed})
