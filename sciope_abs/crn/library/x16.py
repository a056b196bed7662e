"""X16: fast–slow gene switch with a multimodal protein P1 (Plesa, Erban & Othmer, model 16)."""
from ..conservation import ConservedGroup
from ..model import CRN, Reaction
from ._ranges import scaled_ranges


def build() -> CRN:
    epsilon = 0.01
    params = {"a11": 100.0, "a12": 2.0, "a21": 500.0, "b1": 2.0, "epsilon": epsilon,
              "gamma12": epsilon * 1.0, "gamma21": epsilon * 1.0}
    reactions = [
        Reaction("r1", {"G1": 1}, {"G1": 1, "P1": 1}, rate="a11"),
        Reaction("r1b", {"G1": 1, "P1": 1}, {"G1": 1}, rate="a12"),
        Reaction("r2", {"G2": 1}, {"G2": 1, "P1": 1}, rate="a21"),
        Reaction("r3", {"P1": 1}, {}, rate="b1"),
        Reaction("r4", {"G1": 1}, {"G2": 1}, rate="gamma12"),
        Reaction("r4b", {"G2": 1}, {"G1": 1}, rate="gamma21"),
    ]
    return CRN(
        name="x16", species=("G1", "G2", "P1"), parameters=params, reactions=reactions,
        # the reference's default state has G1 = G2 = 1 (total 2) while its randomised states keep
        # G1 + G2 = 4; the default here keeps the network's own total: G1 = G2 = 2
        initial_state={"G1": 2, "G2": 2, "P1": 800},
        initial_ranges={"P1": (80, 1199)},
        conserved_groups=[ConservedGroup(("G1", "G2"), 4)],  # G1 ~ U{0..4}, G2 = 4 - G1
        # the paper varies a11, a12, a21, b1; gamma12/gamma21 keep their epsilon factor
        rate_ranges=scaled_ranges(params, ["a11", "a12", "a21", "b1", "gamma12", "gamma21"]),
        dt=20.0, n_steps=10, observed=("P1",),
        description="Fast-slow gene switch; P1 multimodal (QSS modes 40..1000 by G1).",
    )
