"""Honeybee defence: alarm pheromone P turns calm bees aggressive; stinging kills them (one cell)."""
from ..model import CRN, Reaction
from ._ranges import scaled_ranges


def build() -> CRN:
    params = {"stinging_rate": 0.1, "p_stinging_rate": 0.4, "become_aggressive_rate": 0.125,
              "p_degradation_rate": 0.15, "L": 1.0, "s": 0.2}
    reactions = [
        Reaction("stinging", {"BeeA": 1}, {"BeeD": 1, "P": 2}, rate="stinging_rate"),
        Reaction("p_stinging", {"BeeA": 1, "P": 1}, {"BeeD": 1, "P": 3}, rate="p_stinging_rate"),
        # sigmoid response, 0 at P = 0, saturating at become_aggressive_rate * Bee * L / 2
        Reaction("become_aggressive", {"Bee": 1, "P": 1}, {"BeeA": 1, "P": 1},
                 propensity="become_aggressive_rate * Bee * (L / (1 + exp(-s * P)) - L / 2)"),
        Reaction("p_degradation", {"P": 1}, {}, rate="p_degradation_rate"),
    ]
    return CRN(
        name="bees", species=("Bee", "BeeA", "BeeD", "P"), parameters=params, reactions=reactions,
        initial_state={"Bee": 20, "BeeA": 0, "BeeD": 0, "P": 10},
        initial_ranges={"Bee": (0, 29), "P": (0, 14)},
        rate_ranges=scaled_ranges(params, ["stinging_rate", "p_stinging_rate",
                                           "become_aggressive_rate", "p_degradation_rate"]),
        dt=0.5, n_steps=200, observed=("Bee", "BeeA", "BeeD"),
    )
