"""Gene: a self-regulated gene (protein P represses its own gene)."""
from ..conservation import ConservedGroup
from ..model import CRN, Reaction


def build() -> CRN:
    params = {"Kp": 350.0, "Kt": 300.0, "Kd1": 0.001, "Kd2": 1.5, "Kb": 166.0, "Ku": 1.0}
    reactions = [
        Reaction("prodM", {"G1": 1}, {"G1": 1, "M": 1}, rate="Kp"),
        Reaction("prodP", {"M": 1}, {"M": 1, "P": 1}, rate="Kt"),
        Reaction("degM", {"M": 1}, {}, rate="Kd1"),
        Reaction("degP", {"P": 1}, {}, rate="Kd2"),
        Reaction("reg1G", {"G1": 1, "P": 1}, {"G0": 1}, rate="Kb"),
        Reaction("reg2G", {"G0": 1}, {"G1": 1, "P": 1}, rate="Ku"),
    ]
    return CRN(
        name="gene", species=("G0", "G1", "M", "P"), parameters=params, reactions=reactions,
        initial_state={"G0": 0, "G1": 1, "M": 1, "P": 500},
        initial_ranges={"M": (0, 5), "P": (400, 799)},
        conserved_groups=[ConservedGroup(("G0", "G1"), 1)],  # one gene copy, bound or free
        rate_ranges={"Kt": (180.0, 420.0), "Kd1": (0.0006, 0.0014), "Ku": (0.6, 1.4)},
        dt=400.0, n_steps=25, observed=("P",),
    )
