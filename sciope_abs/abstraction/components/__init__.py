"""Mixture components for the MDN head (plain TensorFlow log-prob and sampling).

Registry: :data:`COMPONENTS`, :func:`get_component`, :func:`register_component`.  A new family is
one file with one ``@register_component`` class plus one import line here.
"""
from .base import MIN_SCALE, Component
from .registry import COMPONENTS, get_component, register_component
from . import categorical, diag_normal, full_normal, lognormal  # noqa: F401  (register the built-ins)
from .categorical import MAX_SUPPORT, Categorical, categorical_spec, group_by_laws, low_copy_species
from .diag_normal import DiagNormal
from .full_normal import FullNormal
from .lognormal import LogNormal

__all__ = ["COMPONENTS", "Categorical", "Component", "DiagNormal", "FullNormal", "LogNormal", "MAX_SUPPORT",
           "MIN_SCALE", "categorical_spec", "get_component", "group_by_laws", "low_copy_species", "register_component"]
