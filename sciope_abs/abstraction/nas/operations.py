"""Candidate operations of the architecture search (the edges of a cell).

An operation maps a hidden state of width ``w`` to a hidden state of the same width:
``(b, w) -> (b, w)``.  Each one is a factory ``factory(width, name) -> keras.layers.Layer``
registered under a short name; the search space is a list of such names.

Built-ins (the seed paper's figure 7): ``dense`` (linear), ``activated_dense`` (swish),
``elementwise`` (``x * w + b``), ``glu`` (gated linear unit), ``relu``, ``swish``,
``identity`` (skip connection) and ``zero`` (no connection).

Adding an operation is one call::

    from sciope_abs.abstraction.nas import register_operation

    @register_operation("tanh_dense")
    def tanh_dense(width, name):
        return keras.layers.Dense(width, activation="tanh", name=name)

The built-ins' custom Keras layers live in :mod:`sciope_abs.abstraction.layers`, which
registers them for ``safe_mode=True`` loading without importing the search.  Custom Keras layers
used by a new operation must be registered with ``keras.saving.register_keras_serializable``
(and imported before an emulator using them is loaded).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import keras

from ..layers import ElementWise, GatedLinearUnit, Zero

__all__ = ["OPERATIONS", "ZERO", "DEFAULT_OPS", "register_operation", "get_operation", "list_operations",
           "check_ops"]

OpFactory = Callable[[int, str], keras.layers.Layer]

#: name -> factory(width, name) -> Keras layer mapping (b, width) -> (b, width)
OPERATIONS: dict[str, OpFactory] = {}

#: the operation that means "no connection" (never kept in a derived genotype)
ZERO = "zero"

def register_operation(name: str, factory: OpFactory | None = None, *, overwrite: bool = False) -> Any:
    """Register an operation factory under ``name`` (usable as a decorator).

    Parameters
    ----------
    name : str
        Name used in ``ops=[...]`` and in saved genotypes.
    factory : callable ``(width, name) -> keras.layers.Layer``
        Builds a layer mapping ``(b, width) -> (b, width)``.
    overwrite : bool
        Allow replacing an existing operation of the same name.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"operation name must be an identifier string, got {name!r}")

    def _register(fn: OpFactory) -> OpFactory:
        if not callable(fn):
            raise ValueError(f"operation {name!r}: factory must be callable")
        if name in OPERATIONS and not overwrite:
            raise ValueError(f"operation {name!r} is already registered (pass overwrite=True)")
        OPERATIONS[name] = fn
        return fn

    return _register(factory) if factory is not None else _register


def get_operation(name: str) -> OpFactory:
    """The factory registered under ``name``; unknown names raise a one-line ``ValueError``."""
    try:
        return OPERATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown operation {name!r}; known: {sorted(OPERATIONS)}") from None


def list_operations() -> list[str]:
    """Names of all registered operations, in registration order."""
    return list(OPERATIONS)


def check_ops(ops: Sequence[str] | None) -> tuple[str, ...]:
    """Validate a search space: known names, no duplicates, at least one non-zero operation."""
    if ops is None:
        return tuple(DEFAULT_OPS)
    if isinstance(ops, str):
        ops = [ops]
    ops = tuple(ops)
    if not ops:
        raise ValueError("ops must name at least one operation")
    for name in ops:
        get_operation(name)
    if len(set(ops)) != len(ops):
        raise ValueError(f"ops has duplicates: {list(ops)}")
    if all(o == ZERO for o in ops):
        raise ValueError("ops must contain at least one operation other than 'zero'")
    return ops


# --------------------------------------------------------------------------- built-ins

@register_operation("dense")
def _dense(width: int, name: str) -> keras.layers.Layer:
    return keras.layers.Dense(width, name=name)


@register_operation("activated_dense")
def _activated_dense(width: int, name: str) -> keras.layers.Layer:
    return keras.layers.Dense(width, activation="swish", name=name)


@register_operation("elementwise")
def _elementwise(width: int, name: str) -> keras.layers.Layer:
    return ElementWise(name=name)


@register_operation("glu")
def _glu(width: int, name: str) -> keras.layers.Layer:
    return GatedLinearUnit(width, name=name)


@register_operation("relu")
def _relu(width: int, name: str) -> keras.layers.Layer:
    return keras.layers.Activation("relu", name=name)


@register_operation("swish")
def _swish(width: int, name: str) -> keras.layers.Layer:
    return keras.layers.Activation("swish", name=name)


@register_operation("identity")
def _identity(width: int, name: str) -> keras.layers.Layer:
    return keras.layers.Identity(name=name)


@register_operation(ZERO)
def _zero(width: int, name: str) -> keras.layers.Layer:
    return Zero(name=name)


#: the paper's full candidate set, the default search space
DEFAULT_OPS: tuple[str, ...] = ("dense", "activated_dense", "elementwise", "glu", "relu", "swish",
                                "identity", ZERO)
