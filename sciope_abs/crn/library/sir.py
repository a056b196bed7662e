"""SIR epidemic with frequency-dependent infection."""
from ..model import CRN, Reaction


def build() -> CRN:
    params = {"beta": 3.0, "gamma": 1.0}
    reactions = [
        Reaction("infection", {"S": 1, "I": 1}, {"I": 2}, propensity="beta * S * I / (S + I + R)"),
        Reaction("recover", {"I": 1}, {"R": 1}, rate="gamma"),
    ]
    return CRN(
        name="sir", species=("S", "I", "R"), parameters=params, reactions=reactions,
        initial_state={"S": 100, "I": 100, "R": 100},
        initial_ranges={"S": (30, 199), "I": (30, 199), "R": (30, 199)},
        rate_ranges={"beta": (1.8, 4.2), "gamma": (0.6, 1.4)},
        dt=0.5, n_steps=40, observed=("S", "I"),
    )
