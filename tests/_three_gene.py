"""A small gene-regulatory toy with a conserved group of three: G1 + G2 + G3 = 2 gene states."""
from sciope_abs.crn import CRN, Reaction


def three_gene_model(sampling: str = "uniform") -> CRN:
    """Three gene states cycling G1 -> G2 -> G3 -> G1 (two gene copies in all), each producing P at
    its own rate; P degrades.  Initial states: the gene states over their simplex, P in 0..60."""
    r = [Reaction("s12", {"G1": 1}, {"G2": 1}, rate="k12"), Reaction("s23", {"G2": 1}, {"G3": 1}, rate="k23"),
         Reaction("s31", {"G3": 1}, {"G1": 1}, rate="k31"),
         Reaction("p1", {"G1": 1}, {"G1": 1, "P": 1}, rate="a1"),
         Reaction("p2", {"G2": 1}, {"G2": 1, "P": 1}, rate="a2"),
         Reaction("p3", {"G3": 1}, {"G3": 1, "P": 1}, rate="a3"), Reaction("deg", {"P": 1}, {}, rate="b")]
    return CRN("three_gene", ("G1", "G2", "G3", "P"),
               {"k12": 0.5, "k23": 0.5, "k31": 0.5, "a1": 5.0, "a2": 20.0, "a3": 50.0, "b": 1.0}, r,
               {"G1": 2, "G2": 0, "G3": 0, "P": 10}, initial_ranges={"P": (0, 60)},
               conserved_groups=[{"species": ("G1", "G2", "G3"), "total": 2, "sampling": sampling}],
               rate_ranges={"a2": (10.0, 30.0)}, dt=0.5, n_steps=6, observed=("P", "G1"))
