"""Simulators: the protocol, GillesPy2 solvers, the compiled in-process SSA (see DESIGN.md)."""
from .base import Simulator, SimulationWarning, check_initial_state, check_theta, report_failures
from .gillespy import GillespySimulator

__all__ = ["Simulator", "SimulationWarning", "check_theta", "check_initial_state", "report_failures",
           "GillespySimulator"]
from .fast_ssa import FastSSASimulator  # noqa: E402
from .factory import make_simulator  # noqa: E402
from .view import SpeciesView  # noqa: E402

__all__ += ["FastSSASimulator", "make_simulator", "SpeciesView"]
