"""Mixture components for the MDN head (plain TensorFlow log-prob and sampling).

Registry: :data:`COMPONENTS`, :func:`get_component`, :func:`register_component`.  A new family is
one file with one ``@register_component`` class plus one import line here.
"""
from .base import MIN_SCALE, Component
from .registry import COMPONENTS, get_component, register_component
from . import diag_normal, full_normal, lognormal  # noqa: F401  (register the built-ins)
from .diag_normal import DiagNormal
from .full_normal import FullNormal
from .lognormal import LogNormal

__all__ = ["COMPONENTS", "Component", "DiagNormal", "FullNormal", "LogNormal", "MIN_SCALE",
           "get_component", "register_component"]
