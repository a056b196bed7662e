"""Vilar genetic oscillator (Vilar et al., PNAS 2002): circadian-like activator/repressor."""
from ..conservation import ConservedGroup
from ..model import CRN, Reaction

# parameter: (lower, upper, true) — the toolbox's inference prior and the model defaults
_PARAMS = {
    "alpha_A": (0.0, 80.0, 50.0), "alpha_a_prime": (100.0, 600.0, 500.0),
    "alpha_r": (0.0, 4.0, 0.01), "alpha_r_prime": (20.0, 60.0, 50.0),
    "beta_a": (10.0, 60.0, 50.0), "beta_r": (1.0, 7.0, 5.0), "delta_ma": (1.0, 12.0, 10.0),
    "delta_mr": (0.0, 2.0, 0.5), "delta_a": (0.0, 3.0, 1.0), "delta_r": (0.0, 0.7, 0.2),
    "gamma_a": (0.5, 2.5, 1.0), "gamma_r": (0.0, 4.0, 1.0), "gamma_c": (0.0, 3.0, 2.0),
    "Theta_a": (0.0, 70.0, 50.0), "Theta_r": (0.0, 300.0, 100.0),
}

# (name, reactants, products, rate)
_REACTIONS = [
    ("s_Da", {"Da_prime": 1}, {"Da": 1}, "Theta_a"),
    ("s_Da_prime", {"Da": 1, "A": 1}, {"Da_prime": 1}, "gamma_a"),
    ("s_Dr", {"Dr_prime": 1}, {"Dr": 1}, "Theta_r"),
    ("s_Dr_prime", {"Dr": 1, "A": 1}, {"Dr_prime": 1}, "gamma_r"),
    ("s_Ma1", {"Da_prime": 1}, {"Da_prime": 1, "Ma": 1}, "alpha_a_prime"),
    ("s_Ma2", {"Da": 1}, {"Da": 1, "Ma": 1}, "alpha_A"),
    ("a_Ma", {"Ma": 1}, {}, "delta_ma"),
    ("s_A1", {"Ma": 1}, {"Ma": 1, "A": 1}, "beta_a"),
    ("s_A2", {"Da_prime": 1}, {"Da_prime": 1, "A": 1}, "Theta_a"),
    ("s_A3", {"Dr_prime": 1}, {"Dr_prime": 1, "A": 1}, "Theta_a"),
    ("a_A", {"A": 1}, {}, "delta_a"),
    ("s_C", {"A": 1, "R": 1}, {"C": 1}, "gamma_c"),
    ("s_Mr1", {"Dr_prime": 1}, {"Dr_prime": 1, "Mr": 1}, "alpha_r_prime"),
    ("s_Mr2", {"Dr": 1}, {"Dr": 1, "Mr": 1}, "alpha_r"),
    ("a_Mr", {"Mr": 1}, {}, "delta_mr"),
    ("s_R1", {"Mr": 1}, {"Mr": 1, "R": 1}, "beta_r"),
    ("a_R", {"R": 1}, {}, "delta_r"),
    ("s_r2", {"C": 1}, {"R": 1}, "delta_a"),
]


def build() -> CRN:
    return CRN(
        name="vilar",
        species=("Da", "Da_prime", "Ma", "Dr", "Dr_prime", "Mr", "C", "A", "R"),
        parameters={p: v for p, (_, _, v) in _PARAMS.items()},
        reactions=[Reaction(n, r, p, rate=k) for n, r, p, k in _REACTIONS],
        initial_state={"Da": 1, "Da_prime": 0, "Ma": 0, "Dr": 1, "Dr_prime": 0, "Mr": 0,
                       "C": 10, "A": 10, "R": 10},
        # activator and repressor genes: exactly one copy each, bound or free
        initial_ranges={"C": (0, 20), "A": (0, 20), "R": (0, 20)},
        conserved_groups=[ConservedGroup(("Da", "Da_prime"), 1),
                          ConservedGroup(("Dr", "Dr_prime"), 1)],
        rate_ranges={p: (lo, hi) for p, (lo, hi, _) in _PARAMS.items()},
        dt=1.0, n_steps=100, observed=("C", "A", "R"),
    )
