"""Genetic toggle switch (Gardner et al. 1999): two mutually repressing genes U and V."""
from ..model import CRN, Reaction


def build() -> CRN:
    params = {"alpha1": 1.0, "alpha2": 1.0, "beta": 2.0, "gamma": 2.0, "mu": 1.0}
    reactions = [
        Reaction("r1", {}, {"U": 1}, propensity="alpha1 / (1 + pow(V, beta))"),
        Reaction("r2", {}, {"V": 1}, propensity="alpha2 / (1 + pow(U, gamma))"),
        Reaction("r3", {"U": 1}, {}, rate="mu"),
        Reaction("r4", {"V": 1}, {}, rate="mu"),
    ]
    return CRN(
        name="toggle_switch", species=("U", "V"), parameters=params, reactions=reactions,
        initial_state={"U": 10, "V": 10},
        initial_ranges={"U": (0, 20), "V": (0, 20)},
        # the toolbox's ABC example: prior Uniform(0.1 theta, 2 theta)
        rate_ranges={p: (0.1 * v, 2.0 * v) for p, v in params.items()},
        dt=0.5, n_steps=100, observed=("U", "V"),
    )
