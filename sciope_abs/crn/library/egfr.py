"""EGFR signalling (Kholodenko et al. 1999, BioModels BIOMD0000000048), defined from its reaction
table: 23 species, 47 reactions (reversible laws split into ``vN`` and ``vN_inverse``), all with
the custom propensities of the SBML import (concentrations in nM read as counts)."""
from ..model import CRN, Reaction

_SPECIES = [
    ("EGF", 680), ("R", 100), ("Ra", 0), ("R2", 0), ("RP", 0), ("PLCg", 105), ("RPLCg", 0),
    ("RPLCgP", 0), ("PLCgP", 0), ("Grb", 85), ("RG", 0), ("SOS", 34), ("RGS", 0), ("GS", 0),
    ("Shc", 150), ("RSh", 0), ("RShP", 0), ("ShP", 0), ("RShG", 0), ("ShG", 0), ("RShGS", 0),
    ("ShGS", 0), ("PLCgl", 0),
]

_PARAMS = {
    "k1f": 0.003, "k1b": 0.06, "k2f": 0.01, "k2b": 0.1, "k3f": 1.0, "k3b": 0.01, "V4": 450.0,
    "K4": 50.0, "k5f": 0.06, "k5b": 0.2, "k6f": 1.0, "k6b": 0.05, "k7f": 0.3, "k7b": 0.006,
    "V8": 1.0, "K8": 100.0, "k9f": 0.003, "k9b": 0.05, "k10f": 0.01, "k10b": 0.06, "k11f": 0.03,
    "k11b": 0.0045, "k12f": 0.0015, "k12b": 0.0001, "k13f": 0.09, "k13b": 0.6, "k14f": 6.0,
    "k14b": 0.06, "k15f": 0.3, "k15b": 0.0009, "V16": 1.7, "K16": 340.0, "k17f": 0.003,
    "k17b": 0.1, "k18f": 0.3, "k18b": 0.0009, "k19f": 0.01, "k19b": 0.0214, "k20f": 0.12,
    "k20b": 0.00024, "k21f": 0.003, "k21b": 0.1, "k22f": 0.03, "k22b": 0.064, "k23f": 0.1,
    "k23b": 0.021, "k24f": 0.009, "k24b": 0.0429, "k25f": 1.0, "k25b": 0.03,
}

# (reaction, "reactants", "products", propensity); species lists are "A+B" or "2 A"
_TABLE = [
    ("v1", "R+EGF", "Ra", "k1f * R * EGF"), ("v1_inverse", "Ra", "R+EGF", "k1b * Ra"),
    ("v2", "2 Ra", "R2", "k2f * Ra * Ra"), ("v2_inverse", "R2", "2 Ra", "k2b * R2"),
    ("v3", "R2", "RP", "k3f * R2"), ("v3_inverse", "RP", "R2", "k3b * RP"),
    ("v4", "RP", "R2", "V4 * RP / (K4 + RP)"),
    ("v5", "RP+PLCg", "RPLCg", "k5f * RP * PLCg"), ("v5_inverse", "RPLCg", "RP+PLCg", "k5b * RPLCg"),
    ("v6", "RPLCg", "RPLCgP", "k6f * RPLCg"), ("v6_inverse", "RPLCgP", "RPLCg", "k6b * RPLCgP"),
    ("v7", "RPLCgP", "PLCgP+RP", "k7f * RPLCgP"), ("v7_inverse", "PLCgP+RP", "RPLCgP", "k7b * RP * PLCgP"),
    ("v8", "PLCgP", "PLCg", "V8 * PLCgP / (K8 + PLCgP)"),
    ("v9", "Grb+RP", "RG", "k9f * RP * Grb"), ("v9_inverse", "RG", "Grb+RP", "k9b * RG"),
    ("v10", "RG+SOS", "RGS", "k10f * RG * SOS"), ("v10_inverse", "RGS", "RG+SOS", "k10b * RGS"),
    ("v11", "RGS", "GS+RP", "k11f * RGS"), ("v11_inverse", "GS+RP", "RGS", "k11b * RP * GS"),
    ("v12", "GS", "Grb+SOS", "k12f * GS"), ("v12_inverse", "Grb+SOS", "GS", "k12b * Grb * SOS"),
    ("v13", "Shc+RP", "RSh", "k13f * RP * Shc"), ("v13_inverse", "RSh", "Shc+RP", "k13b * RSh"),
    ("v14", "RSh", "RShP", "k14f * RSh"), ("v14_inverse", "RShP", "RSh", "k14b * RShP"),
    ("v15", "RShP", "RP+ShP", "k15f * RShP"), ("v15_inverse", "RP+ShP", "RShP", "k15b * ShP * RP"),
    ("v16", "ShP", "Shc", "V16 * ShP / (K16 + ShP)"),
    ("v17", "RShP+Grb", "RShG", "k17f * RShP * Grb"), ("v17_inverse", "RShG", "RShP+Grb", "k17b * RShG"),
    ("v18", "RShG", "ShG+RP", "k18f * RShG"), ("v18_inverse", "ShG+RP", "RShG", "k18b * RP * ShG"),
    ("v19", "SOS+RShG", "RShGS", "k19f * RShG * SOS"), ("v19_inverse", "RShGS", "SOS+RShG", "k19b * RShGS"),
    ("v20", "RShGS", "ShGS+RP", "k20f * RShGS"), ("v20_inverse", "ShGS+RP", "RShGS", "k20b * ShGS * RP"),
    ("v21", "Grb+ShP", "ShG", "k21f * ShP * Grb"), ("v21_inverse", "ShG", "Grb+ShP", "k21b * ShG"),
    ("v22", "ShG+SOS", "ShGS", "k22f * ShG * SOS"), ("v22_inverse", "ShGS", "ShG+SOS", "k22b * ShGS"),
    ("v23", "ShGS", "GS+ShP", "k23f * ShGS"), ("v23_inverse", "GS+ShP", "ShGS", "k23b * ShP * GS"),
    ("v24", "RShP+GS", "RShGS", "k24f * RShP * GS"), ("v24_inverse", "RShGS", "RShP+GS", "k24b * RShGS"),
    ("v25", "PLCgP", "PLCgl", "k25f * PLCgP"), ("v25_inverse", "PLCgl", "PLCgP", "k25b * PLCgl"),
]


def _side(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for term in text.split("+"):
        parts = term.split()
        k, s = (int(parts[0]), parts[1]) if len(parts) == 2 else (1, parts[0])
        out[s] = out.get(s, 0) + k
    return out


def _range(v: int) -> tuple[int, int]:
    # reference: nonzero v -> U{int(0.1 v) .. v + int(0.5 v) - 1}; zero -> U{0 .. 49}
    return (int(0.1 * v), v + int(0.5 * v) - 1) if v else (0, 49)


def build() -> CRN:
    return CRN(
        name="egfr",
        species=[s for s, _ in _SPECIES],
        parameters=_PARAMS,
        reactions=[Reaction(n, _side(r), _side(p), propensity=e) for n, r, p, e in _TABLE],
        initial_state=dict(_SPECIES),
        initial_ranges={s: _range(v) for s, v in _SPECIES},
        dt=0.5, n_steps=50, observed=("EGF", "R", "PLCg"),
        description="Kholodenko 1999 EGFR signalling (BIOMD0000000048), counts = nM values.",
    )
