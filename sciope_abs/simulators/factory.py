"""``make_simulator``: one entry point that picks the right simulator for a model.

``solver="auto"`` uses the compiled in-process SSA (:class:`FastSSASimulator`) whenever it can
simulate the model exactly, and GillesPy2's C++ SSA otherwise (events, rules, expressions the
fast kernel does not know).  Every GillesPy2 solver stays selectable by name.
"""
from __future__ import annotations

import inspect
from typing import Any, Sequence

import numpy as np

from ..crn.model import CRN
from ..crn.resolve import as_crn
from .base import Simulator

__all__ = ["make_simulator", "SOLVER_NAMES"]

_GILLESPY_SOLVERS = ("ssa", "tau", "hybrid", "ode", "numpy_ssa")
#: Names accepted by :func:`make_simulator`.
SOLVER_NAMES: tuple[str, ...] = ("auto", "fast_ssa") + _GILLESPY_SOLVERS


def make_simulator(model: CRN | str, param_names: Sequence[str] | None = None,
                   species: Sequence[str] | None = None, timespan: np.ndarray | None = None,
                   solver: str = "auto", **options: Any) -> Simulator:
    """Build a simulator for ``model``.

    Parameters
    ----------
    model : CRN or str
        A model or a library model name.
    param_names, species, timespan
        As in :class:`~sciope_abs.simulators.Simulator` implementations: the parameters
        ``theta`` sets, the species returned, the output times.
    solver : str
        ``"auto"`` (exact SSA: the compiled :class:`FastSSASimulator` when the model is
        supported, else GillesPy2's ``"ssa"``), ``"fast_ssa"`` (the compiled SSA; unsupported
        models raise ``ValueError``), or a GillesPy2 solver: ``"ssa"``, ``"tau"``, ``"hybrid"``,
        ``"ode"``, ``"numpy_ssa"``.
    **options
        Passed to the chosen simulator class (e.g. ``max_events`` for the compiled SSA,
        ``timeout`` or ``compiled`` for GillesPy2).

    Returns
    -------
    Simulator
    """
    if not isinstance(solver, str) or solver not in SOLVER_NAMES:
        raise ValueError(f"unknown solver {solver!r}; choose one of {list(SOLVER_NAMES)}")
    model = as_crn(model, passthrough=True)
    fallback = None
    if solver in ("auto", "fast_ssa"):
        from .fast_ssa import FastSSASimulator, check_supported
        if solver == "auto":
            try:
                check_supported(model)
            except ValueError as exc:
                solver, fallback = "ssa", str(exc)
        if solver != "ssa":
            _check_options(FastSSASimulator, options, "FastSSASimulator")
            return FastSSASimulator(model, param_names=param_names, species=species, timespan=timespan, **options)
    from .gillespy import GillespySimulator
    where = "GillespySimulator" + (f" (the fast SSA cannot run this model: {fallback})" if fallback else "")
    _check_options(GillespySimulator, options, where)
    return GillespySimulator(model, param_names=param_names, species=species, timespan=timespan,
                             solver=solver, **options)


def _check_options(cls, options: dict, where: str) -> None:
    """Refuse keyword options the chosen class does not take, with a one-line ValueError."""
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "model", "param_names", "species",
                                                                     "timespan", "solver"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(f"option(s) {unknown} do not apply to {where}; it accepts {sorted(accepted)}")
