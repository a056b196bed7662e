"""X40: two-protein fast–slow network (Plesa, Erban & Othmer, model 40)."""
from ..conservation import ConservedGroup
from ..model import CRN, Reaction
from ._ranges import scaled_ranges


def build() -> CRN:
    epsilon = 0.01
    params = {"a11": 0.5, "a21": 0.1667, "b1": 1.0, "b2": 200.0, "epsilon": epsilon,
              "gamma12": epsilon * 1.0, "gamma21": epsilon * 1.0}
    reactions = [
        Reaction("r1", {"G1": 1, "P2": 1}, {"G1": 1, "P1": 1}, rate="a11"),
        Reaction("r2", {"G2": 1, "P2": 1}, {"G2": 1, "P1": 1}, rate="a21"),
        Reaction("r3", {"P1": 1}, {}, rate="b1"),
        Reaction("r4", {}, {"P2": 1}, rate="b2"),
        Reaction("r5", {"G1": 1}, {"G2": 1}, rate="gamma12"),
        Reaction("r5b", {"G2": 1}, {"G1": 1}, rate="gamma21"),
    ]
    return CRN(
        name="x40", species=("G1", "G2", "P1", "P2"), parameters=params, reactions=reactions,
        initial_state={"G1": 1, "G2": 1, "P1": 100, "P2": 100},
        initial_ranges={"P1": (10, 169), "P2": (10, 169)},
        conserved_groups=[ConservedGroup(("G1", "G2"), 2)],  # G1 ~ U{0, 1, 2}, G2 = 2 - G1
        rate_ranges=scaled_ranges(params, ["a11", "a21", "b1", "b2", "gamma12", "gamma21"]),
        dt=20.0, n_steps=10, observed=("P1", "P2"),
    )
