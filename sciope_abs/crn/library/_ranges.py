"""Helpers shared by the model modules."""
from __future__ import annotations


def scaled_ranges(parameters: dict[str, float], names, low: float = 0.6, high: float = 1.4) -> dict:
    """``{p: (low * v, high * v)}`` for the named parameters (the reference's U(0.6v, 1.4v)).

    For a rate defined as ``epsilon * factor`` the value ``v`` already holds the epsilon, so the
    randomised rate keeps the time-scale separation.
    """
    return {p: (low * parameters[p], high * parameters[p]) for p in names}
