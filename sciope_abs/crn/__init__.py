"""Reaction-network models: the library of case studies and SBML import."""
from .conservation import ConservationLaw, ConservedGroup, project_counts
from .grid import GridSpec, colony_totals, compose_grid, grid_initial_state
from .library import list_models, load_model
from .model import CRN, Reaction
from .resolve import as_crn
from .sbml import from_sbml

__all__ = ["CRN", "Reaction", "load_model", "list_models", "as_crn", "from_sbml", "compose_grid", "GridSpec",
           "grid_initial_state", "colony_totals", "ConservationLaw", "ConservedGroup", "project_counts"]
