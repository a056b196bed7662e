"""Reaction-network models: the library of case studies and SBML import."""
from .model import CRN, Reaction

__all__ = ["CRN", "Reaction"]
