"""from_sbml: the real BioModels EGFR file, equivalence with the library's EGFR, the conversion
rules on a small hand-written file, and errors."""
import math

import numpy as np
import pytest

from conftest import SHARED
from sciope_abs.crn import from_sbml, load_model
from sciope_abs.simulators import GillespySimulator

EGFR_XML = SHARED / "reference" / "BIOMD0000000048.xml"


def _propensity(reaction, crn, state, params=None):
    """Evaluate a reaction's custom propensity at a state (dict) with the model's parameters."""
    env = {"exp": math.exp, "log": math.log, "sqrt": math.sqrt, "pow": pow, "abs": abs}
    env.update(crn.parameters if params is None else params)
    env.update(state)
    return eval(reaction.propensity, {"__builtins__": {}}, env)


@pytest.fixture(scope="module")
def egfr_sbml():
    return from_sbml(EGFR_XML)


def test_egfr_sbml_imports_23_species_47_reactions(egfr_sbml):
    crn = egfr_sbml
    assert len(crn.species) == 23 and len(crn.reactions) == 47
    assert crn.species[:5] == ("EGF", "R", "Ra", "R2", "RP") and crn.species[-1] == "PLCgl"  # SBML order
    assert crn.initial_state["EGF"] == 680 and crn.initial_state["Shc"] == 150 and crn.initial_state["Ra"] == 0
    assert len(crn.parameters) == 50 and crn.parameters["k1f"] == 0.003 and crn.parameters["V4"] == 450.0
    r = {x.name: x for x in crn.reactions}
    # 22 reversible laws split in two, 3 Michaelis-Menten laws kept whole
    assert sum(n.endswith("_inverse") for n in r) == 22 and {"v4", "v8", "v16"} <= set(r)
    assert r["v2"].reactants == {"Ra": 2} and r["v2_inverse"].products == {"Ra": 2}
    assert r["v1_inverse"].reactants == {"Ra": 1} and r["v1_inverse"].products == {"R": 1, "EGF": 1}
    # compartment (3e-12) removed; forward / backward halves; MM law exact
    s = {"RP": 30, "R": 100, "EGF": 680, "Ra": 7}
    assert _propensity(r["v1"], crn, s) == pytest.approx(0.003 * 100 * 680)
    assert _propensity(r["v1_inverse"], crn, s) == pytest.approx(0.06 * 7)
    assert _propensity(r["v2"], crn, s) == pytest.approx(0.01 * 7 * 7)
    assert _propensity(r["v4"], crn, s) == pytest.approx(450 * 30 / (50 + 30))
    assert crn.dt == 0.5 and crn.n_steps == 50


def test_egfr_sbml_propensities_equal_library_egfr(egfr_sbml):
    lib = load_model("egfr")
    assert egfr_sbml.species == lib.species and egfr_sbml.parameters == lib.parameters
    assert egfr_sbml.initial_state == lib.initial_state
    ours = {r.name: r for r in egfr_sbml.reactions}
    assert set(ours) == {r.name for r in lib.reactions}
    rng = np.random.default_rng(0)
    for _ in range(5):
        state = dict(zip(lib.species, rng.integers(0, 500, len(lib.species)).tolist()))
        params = {p: v * rng.uniform(0.5, 2) for p, v in lib.parameters.items()}
        for r in lib.reactions:
            o = ours[r.name]
            assert o.reactants == r.reactants and o.products == r.products, r.name
            assert _propensity(o, egfr_sbml, state, params) == pytest.approx(_propensity(r, lib, state, params)), r.name


def _max_z(a, b):
    """Largest |z| of the difference of per-(species, time) means of two (r, S, T) samples."""
    se = np.sqrt(a.var(0, ddof=1) / len(a) + b.var(0, ddof=1) / len(b))
    diff = np.abs(a.mean(0) - b.mean(0))
    keep = se > 0
    assert (diff[~keep] == 0).all()  # where both are constant they must agree exactly
    return (diff[keep] / se[keep]).max()


def test_egfr_sbml_and_library_give_same_mean_trajectories(egfr_sbml):
    lib = load_model("egfr")
    n, ts = 40, np.arange(9) * 0.5  # 40 trajectories to t = 4
    sims = [GillespySimulator(m, param_names=["k1f"], timespan=ts) for m in (egfr_sbml, lib)]
    a = sims[0].simulate([[0.003]], n_traj=n, seed=1)[0]
    b = sims[1].simulate([[0.003]], n_traj=n, seed=2)[0]  # independent seeds
    # 23 x 9 means compared: |z| < 4.5 holds for equal models with probability > 0.99
    assert _max_z(a, b) < 4.5
    # and the test has power: a 3-fold faster EGF binding is detected
    c = sims[1].simulate([[0.009]], n_traj=n, seed=3)[0]
    assert _max_z(a, c) > 4.5


SMALL = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version1/core" level="3" version="1">
 <model id="small">
  <listOfFunctionDefinitions>
   <functionDefinition id="sq">
    <math xmlns="http://www.w3.org/1998/Math/MathML"><lambda><bvar><ci>x</ci></bvar>
     <apply><power/><ci>x</ci><cn type="integer">2</cn></apply></lambda></math>
   </functionDefinition>
  </listOfFunctionDefinitions>
  <listOfCompartments><compartment id="cell" size="2" constant="true"/></listOfCompartments>
  <listOfSpecies>
   <species id="B" compartment="cell" initialAmount="0" hasOnlySubstanceUnits="true" boundaryCondition="false" constant="false"/>
   <species id="A" compartment="cell" initialConcentration="12.7" hasOnlySubstanceUnits="false" boundaryCondition="false" constant="false"/>
   <species id="E" compartment="cell" initialAmount="5" hasOnlySubstanceUnits="true" boundaryCondition="true" constant="false"/>
  </listOfSpecies>
  <listOfParameters><parameter id="Km" value="4" constant="true"/><parameter id="k" value="0.5" constant="true"/></listOfParameters>
  <listOfReactions>
   <reaction id="conv" reversible="true" fast="false">
    <listOfReactants><speciesReference species="A" stoichiometry="1" constant="true"/></listOfReactants>
    <listOfProducts><speciesReference species="B" stoichiometry="1" constant="true"/></listOfProducts>
    <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
     <apply><times/><ci>cell</ci><apply><minus/>
      <apply><times/><ci>k</ci><ci>A</ci></apply><apply><times/><ci>kb</ci><ci>B</ci></apply></apply></apply>
    </math><listOfLocalParameters>
     <localParameter id="k" value="3"/><localParameter id="kb" value="0.25"/>
    </listOfLocalParameters></kineticLaw>
   </reaction>
   <reaction id="mm" reversible="false" fast="false">
    <listOfReactants><speciesReference species="B" stoichiometry="1" constant="true"/></listOfReactants>
    <listOfModifiers><modifierSpeciesReference species="E"/></listOfModifiers>
    <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
     <apply><divide/><apply><times/><ci>Vm</ci><ci>E</ci><apply><ci>sq</ci><ci>B</ci></apply></apply>
      <apply><plus/><ci>Km</ci><ci>B</ci></apply></apply>
    </math><listOfLocalParameters><localParameter id="Vm" value="1.5"/></listOfLocalParameters></kineticLaw>
   </reaction>
   <reaction id="make" reversible="false" fast="false">
    <listOfReactants><speciesReference species="E" stoichiometry="1" constant="true"/></listOfReactants>
    <listOfProducts><speciesReference species="A" stoichiometry="2" constant="true"/></listOfProducts>
    <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
     <apply><times/><ci>k</ci><ci>E</ci><apply><exp/><apply><minus/><ci>Km</ci></apply></apply></apply>
    </math></kineticLaw>
   </reaction>
  </listOfReactions>
 </model>
</sbml>
"""


def test_conversion_rules_on_a_small_file(tmp_path):
    path = tmp_path / "small.xml"
    path.write_text(SMALL)
    crn = from_sbml(path, dt=0.1, n_steps=5, observed=["A"])
    assert crn.name == "small" and crn.species == ("B", "A", "E") and crn.observed == ("A",)
    assert crn.initial_state == {"B": 0, "A": 12, "E": 5}  # concentration 12.7 cast to 12
    assert crn.timespan()[-1] == pytest.approx(0.5)
    # the local k clashes with the global k: renamed; kb and Vm keep their ids
    assert crn.parameters == {"Km": 4.0, "k": 0.5, "conv_k": 3.0, "kb": 0.25, "Vm": 1.5}
    r = {x.name: x for x in crn.reactions}
    assert set(r) == {"conv", "conv_inverse", "mm", "make"}
    assert r["conv"].reactants == {"A": 1} and r["conv_inverse"].reactants == {"B": 1}
    assert r["mm"].reactants == {"B": 1} and r["mm"].products == {}  # boundary E is not consumed
    assert r["make"].reactants == {} and r["make"].products == {"A": 2}
    s = {"A": 6, "B": 3, "E": 5}
    assert _propensity(r["conv"], crn, s) == pytest.approx(3 * 6)            # cell factor removed
    assert _propensity(r["conv_inverse"], crn, s) == pytest.approx(0.25 * 3)
    assert _propensity(r["mm"], crn, s) == pytest.approx(1.5 * 5 * 9 / (4 + 3))  # sq() inlined
    assert _propensity(r["make"], crn, s) == pytest.approx(0.5 * 5 * math.exp(-4))
    ln_law = SMALL.replace("<apply><exp/><apply><minus/><ci>Km</ci></apply></apply>", "<apply><ln/><ci>Km</ci></apply>")
    path.write_text(ln_law)
    make = {x.name: x for x in from_sbml(path).reactions}["make"]
    assert _propensity(make, crn, s) == pytest.approx(0.5 * 5 * math.log(4))
    path.write_text(SMALL)
    # and it simulates: B is produced from A
    x = GillespySimulator(crn, solver="numpy_ssa").simulate([list(crn.parameters.values())], n_traj=5, seed=0)
    assert x.shape == (1, 5, 3, 6) and (x[0, :, 0, -1] > 0).any()


def test_malformed_sbml_gives_one_line_value_error(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<?xml version='1.0'?><sbml xmlns='http://www.sbml.org/sbml/level2' level='2' version='1'>"
                   "<model id='m'><listOfSpecies><species id='A' compartment='nowhere'")
    with pytest.raises(ValueError, match="bad.xml") as info:
        from_sbml(bad)
    assert "\n" not in str(info.value)
    with pytest.raises(FileNotFoundError, match="missing.xml"):
        from_sbml(tmp_path / "missing.xml")


def test_unsupported_sbml_feature_is_named(tmp_path):
    path = tmp_path / "rules.xml"
    path.write_text(SMALL.replace("<listOfReactions>", '<listOfRules><assignmentRule variable="Km">'
                                  '<math xmlns="http://www.w3.org/1998/Math/MathML"><cn>3</cn></math>'
                                  "</assignmentRule></listOfRules><listOfReactions>")
                    .replace('<parameter id="Km" value="4" constant="true"/>', '<parameter id="Km" value="4" constant="false"/>'))
    with pytest.raises(ValueError, match="rules are not supported"):
        from_sbml(path)
