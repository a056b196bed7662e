"""from_sbml: the real BioModels EGFR file (the study's counts convention equals the library's
EGFR; the SBML convention converts nanomolar to molecules), compartments and substance units,
reversible laws split over a common denominator or refused, a small hand-written file, errors."""
import math
from pathlib import Path

import numpy as np
import pytest

from sciope_abs.crn import CRN, Reaction, from_sbml, load_model
from sciope_abs.crn.sbml import AVOGADRO
from sciope_abs.simulators import GillespySimulator
from sciope_abs.simulators.fast_ssa import FastSSASimulator

EGFR_XML = Path(__file__).resolve().parent / "data" / "BIOMD0000000048.xml"  # BioModels, CC0


def _propensity(reaction, crn, state, params=None):
    """Evaluate a reaction's custom propensity at a state (dict) with the model's parameters."""
    env = {"exp": math.exp, "log": math.log, "sqrt": math.sqrt, "pow": pow, "abs": abs}
    env.update(crn.parameters if params is None else params)
    env.update(state)
    return eval(reaction.propensity, {"__builtins__": {}}, env)


@pytest.fixture(scope="module")
def egfr_sbml():
    return from_sbml(EGFR_XML, convention="counts")


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
    crn = from_sbml(path, dt=0.1, n_steps=5, observed=["A"], convention="counts")
    assert crn.name == "small" and crn.species == ("B", "A", "E") and crn.observed == ("A",)
    assert crn.initial_state == {"B": 0, "A": 13, "E": 5}  # concentration 12.7 read as a count, rounded
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
    make = {x.name: x for x in from_sbml(path, convention="counts").reactions}["make"]
    assert _propensity(make, crn, s) == pytest.approx(0.5 * 5 * math.log(4))
    path.write_text(SMALL)
    # and it simulates: B is produced from A
    x = GillespySimulator(crn, solver="numpy_ssa").simulate([list(crn.parameters.values())], n_traj=5, seed=0)
    assert x.shape == (1, 5, 3, 6) and (x[0, :, 0, -1] > 0).any()
    # the SBML convention: A's concentration 12.7 in cell = 2 is 25.4 -> 25 molecules; the law
    # cell * (k*A - kb*B) reads A as a concentration (first order: k*nA) and B as an amount
    sb = from_sbml(path)
    assert sb.initial_state == {"B": 0, "A": 25, "E": 5} and sb.parameters["cell"] == 2.0
    assert _values(sb, s, ["conv", "conv_inverse", "mm"]) == pytest.approx([3 * 6, 2 * 0.25 * 3, 1.5 * 5 * 9 / 7])


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


# ----------------------------------------------------------------------------- documents built with libsbml
def _write_sbml(path, *, compartments, species, reactions, parameters=None, level=3, units=None,
                model_substance=None):
    """A small SBML document written with libsbml.

    compartments: {id: size or None}; species: {id: (compartment, "amount"|"concentration",
    value, hasOnlySubstanceUnits[, substanceUnits])}; reactions: {id: (reactants, products,
    formula, reversible)}; units: {id: [(kind, exponent, scale, multiplier)]}.
    """
    import libsbml
    doc = libsbml.SBMLDocument(level, 2 if level == 2 else 1)
    m = doc.createModel()
    m.setId("built")
    for uid, parts in (units or {}).items():
        ud = m.createUnitDefinition()
        ud.setId(uid)
        for kind, exponent, scale, multiplier in parts:
            u = ud.createUnit()
            u.setKind(libsbml.UnitKind_forName(kind))
            u.setExponent(exponent)
            u.setScale(scale)
            u.setMultiplier(multiplier)
    if model_substance:
        m.setSubstanceUnits(model_substance)
    for cid, size in compartments.items():
        c = m.createCompartment()
        c.setId(cid)
        c.setConstant(True)
        if size is not None:
            c.setSize(size)
        if level == 3:
            c.setSpatialDimensions(3)
    for sid, (cid, kind, value, only_substance, *unit) in species.items():
        s = m.createSpecies()
        s.setId(sid)
        s.setCompartment(cid)
        (s.setInitialAmount if kind == "amount" else s.setInitialConcentration)(value)
        s.setHasOnlySubstanceUnits(only_substance)
        s.setBoundaryCondition(False)
        s.setConstant(False)
        if unit:
            s.setSubstanceUnits(unit[0])
    for pid, value in (parameters or {}).items():
        p = m.createParameter()
        p.setId(pid)
        p.setValue(value)
        p.setConstant(True)
    for rid, (reac, prod, formula, reversible) in reactions.items():
        r = m.createReaction()
        r.setId(rid)
        r.setReversible(reversible)
        if level == 3:
            r.setFast(False)
        for side, create in ((reac, r.createReactant), (prod, r.createProduct)):
            for sid, k in side.items():
                ref = create()
                ref.setSpecies(sid)
                ref.setStoichiometry(k)
                if level == 3:
                    ref.setConstant(True)
        math_ast = libsbml.parseL3Formula(formula)
        assert math_ast is not None, libsbml.getLastParseL3Error()
        r.createKineticLaw().setMath(math_ast)
    assert libsbml.writeSBMLToFile(doc, str(path)) == 1
    return path


def _values(crn, state, names):
    r = {x.name: x for x in crn.reactions}
    return np.array([_propensity(r[n], crn, state) for n in names])


def test_compartment_volume_converts_concentrations_and_rates(tmp_path):
    # the case: cell = 2, A and B concentrations; cell*kb*A*B means kb*nA*nB/2
    path = _write_sbml(tmp_path / "vol.xml", compartments={"cell": 2.0},
                       species={"A": ("cell", "concentration", 50.0, False),
                                "B": ("cell", "concentration", 10.0, False),
                                "C": ("cell", "amount", 7.0, True)},
                       parameters={"kb": 1.0, "k1": 0.3, "kd": 0.2},
                       reactions={"bind": ({"A": 1, "B": 1}, {"C": 1}, "cell * kb * A * B", False),
                                  "out": ({"A": 1}, {}, "cell * k1 * A", False),
                                  "deg": ({"C": 1}, {}, "kd * C", False),
                                  "feed": ({}, {"B": 1}, "cell * kd", False)})
    crn = from_sbml(path)
    assert crn.initial_state == {"A": 100, "B": 20, "C": 7}  # concentration x volume
    hand = CRN(name="hand", species=["A", "B", "C"], parameters={"kb2": 0.5, "k1": 0.3, "kd": 0.2, "f": 0.4},
               reactions=[Reaction("bind", {"A": 1, "B": 1}, {"C": 1}, rate="kb2"),
                          Reaction("out", {"A": 1}, {}, rate="k1"), Reaction("deg", {"C": 1}, {}, rate="kd"),
                          Reaction("feed", {}, {"B": 1}, rate="f")],
                       initial_state={"A": 100, "B": 20, "C": 7})
    fast_ours, fast_hand = (FastSSASimulator(c, param_names=[]) for c in (crn, hand))
    rng = np.random.default_rng(1)
    states = rng.integers(0, 60, size=(50, 3)).astype(float)
    np.testing.assert_allclose(fast_ours.propensities(states), fast_hand.propensities(states), rtol=1e-13)
    assert _values(crn, {"A": 10, "B": 10, "C": 0}, ["bind"])[0] == pytest.approx(50.0)  # not 100
    # the study's convention (values are counts, compartment factor dropped) stays available
    counts = from_sbml(path, convention="counts")
    assert counts.initial_state == {"A": 50, "B": 10, "C": 7}
    assert _values(counts, {"A": 10, "B": 10, "C": 0}, ["bind"])[0] == pytest.approx(100.0)


def test_mole_based_substance_units_scale_by_avogadro(tmp_path):
    # nanomolar concentrations in a 1e-15 L compartment: F * V = 6.02214076e14 * 1e-15 molecules per nM
    fv = AVOGADRO * 1e-9 * 1e-15
    path = _write_sbml(tmp_path / "nm.xml", compartments={"c": 1e-15}, model_substance="nmol",
                       units={"nmol": [("mole", 1, -9, 1.0)]},
                       species={"A": ("c", "concentration", 100.0, False), "B": ("c", "concentration", 50.0, False),
                                "P": ("c", "amount", 1e-7, True)},
                       parameters={"k": 0.01, "Vm": 2.0, "Km": 30.0},
                       reactions={"bind": ({"A": 1, "B": 1}, {"P": 1}, "c * k * A * B", False),
                                  "mm": ({"P": 1}, {"A": 1}, "c * Vm * A / (Km + A)", False),
                                  "lin": ({"P": 1}, {}, "k * P", False)})
    crn = from_sbml(path)
    assert crn.initial_state == {"A": round(100 * fv), "B": round(50 * fv), "P": round(1e-7 * AVOGADRO * 1e-9)}
    s = {"A": 40, "B": 25, "P": 9}
    got = _values(crn, s, ["bind", "mm", "lin"])
    ref = [0.01 * 40 * 25 / fv, 2.0 * fv * (40 / fv) / (30 + 40 / fv), 0.01 * 9]
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    # SBML level 2's default substance unit is the mole
    l2 = _write_sbml(tmp_path / "l2.xml", level=2, compartments={"c": 1.0},
                     species={"X": ("c", "amount", 1e-21, True)}, parameters={"k": 1.0},
                     reactions={"d": ({"X": 1}, {}, "k * X", False)})
    m2 = from_sbml(l2)
    assert m2.initial_state == {"X": 602}
    assert _values(m2, {"X": 10}, ["d"])[0] == pytest.approx(10.0)  # first order: the count's own rate


def test_egfr_sbml_default_convention_converts_nanomolar_to_molecules():
    crn = from_sbml(EGFR_XML)
    fv = 3e-12 * AVOGADRO * 1e-9  # compartment 3e-12 L, substance nanomole
    assert crn.initial_state["EGF"] == round(680 * fv) and crn.initial_state["Ra"] == 0
    assert crn.parameters["compartment"] == 3e-12
    s = {"RP": 3000, "R": 10_000, "EGF": 6800, "Ra": 700}
    assert _values(crn, s, ["v1"])[0] == pytest.approx(0.003 * 10_000 * 6800 / fv, rel=1e-12)
    assert _values(crn, s, ["v1_inverse"])[0] == pytest.approx(0.06 * 700, rel=1e-12)
    assert _values(crn, s, ["v4"])[0] == pytest.approx(450 * fv * (3000 / fv) / (50 + 3000 / fv), rel=1e-12)


@pytest.mark.parametrize("change, match", [
    ({"units": {"mg": [("gram", 1, -3, 1.0)]}, "model_substance": "mg"}, r"unit 'mg'.*cannot be converted"),
    ({"units": {"u": [("mole", 2, 0, 1.0)]}, "model_substance": "u"}, r"unit 'u'.*cannot be converted"),
    ({"species": {"A": ("c", "amount", 5.0, True, "mole"), "B": ("c", "amount", 5.0, True, "item")}},
     r"species 'A' and 'B' have different substance units"),
    ({"compartments": {"c": None}}, r"species 'A': compartment 'c' has no positive size"),
    ({"species": {"A": ("c", "amount", -1.0, True), "B": ("c", "amount", 5.0, True)}}, r"species 'A'.*-1"),
])
def test_unconvertible_units_and_sizes_are_refused_naming_the_element(tmp_path, change, match):
    kw = dict(compartments={"c": 1.0}, parameters={"k": 1.0},
              species={"A": ("c", "concentration", 5.0, False), "B": ("c", "amount", 5.0, True)},
              reactions={"r": ({"A": 1}, {"B": 1}, "k * A", False)})
    kw.update(change)
    path = _write_sbml(tmp_path / "bad.xml", **kw)
    with pytest.raises(ValueError, match=match) as info:
        from_sbml(path)
    assert "\n" not in str(info.value) and "bad.xml" in str(info.value)


REV = {"A": ("c", "amount", 50.0, True), "B": ("c", "amount", 0.0, True)}


def test_reversible_law_over_a_denominator_is_split_into_forward_and_reverse(tmp_path):
    law = "c * (kf * A - kr * B) / (1 + A / Km + B / Km)"
    path = _write_sbml(tmp_path / "rev.xml", compartments={"c": 1.0}, species=REV,
                       parameters={"kf": 2.0, "kr": 2.0, "Km": 40.0},
                       reactions={"r": ({"A": 1}, {"B": 1}, law, True)})
    crn = from_sbml(path)
    r = {x.name: x for x in crn.reactions}
    assert set(r) == {"r", "r_inverse"} and r["r_inverse"].reactants == {"B": 1} and r["r_inverse"].products == {"A": 1}
    for s in ({"A": 30, "B": 20}, {"A": 3, "B": 47}):
        den = 1 + s["A"] / 40 + s["B"] / 40
        assert _values(crn, s, ["r", "r_inverse"]) == pytest.approx([2 * s["A"] / den, 2 * s["B"] / den], rel=1e-14)
    # the other spellings of the same difference split too: -kr*B + kf*A, and a product with it
    for other in ("c * (-(kr * B) + kf * A) / (1 + A / Km + B / Km)", "c * kf * (A - kr / kf * B) / (1 + A / Km + B / Km)"):
        _write_sbml(path, compartments={"c": 1.0}, species=REV, parameters={"kf": 2.0, "kr": 2.0, "Km": 40.0},
                    reactions={"r": ({"A": 1}, {"B": 1}, other, True)})
        assert _values(from_sbml(path), {"A": 30, "B": 20}, ["r", "r_inverse"]) == pytest.approx(
            _values(crn, {"A": 30, "B": 20}, ["r", "r_inverse"]), rel=1e-14)
    # it simulates both ways: A, started at 50 with kf = kr, falls below the point where the
    # net law turns negative (A = B = 25) and comes back up (the old import gave NaN here)
    sim = FastSSASimulator(crn, param_names=[], timespan=np.linspace(0, 20, 41))
    x = sim.simulate(np.zeros((1, 0)), n_traj=40, seed=3)[0, :, 0, :]
    assert np.isfinite(x).all()
    assert (x[:, -1] < 25).any() and (np.diff(x, axis=1) > 0).any()
    assert abs(x[:, 20:].mean() - 25) < 4.5 * x[:, -1].std() / np.sqrt(40)


def test_reversible_law_without_subtraction_stays_one_reaction(tmp_path):
    path = _write_sbml(tmp_path / "mm.xml", compartments={"c": 1.0}, species=REV, parameters={"V": 3.0, "Km": 5.0},
                       reactions={"mm": ({"A": 1}, {"B": 1}, "c * V * A / (Km + A)", True)})
    crn = from_sbml(path)
    assert [x.name for x in crn.reactions] == ["mm"]
    assert _values(crn, {"A": 5, "B": 0}, ["mm"])[0] == pytest.approx(1.5)


@pytest.mark.parametrize("law", [
    "(kf * A - kr * B) / (Km - A)",          # a denominator that can turn negative
    "(kf * A - kr * B)^2",                   # a power of a difference
    "(A - B) * (kf * A - kr * B)",           # a product of two differences
    "kf * ln(A + 1) - kr * B",               # a logarithm (may be negative)
    "kf * A - kneg * B",                     # a negative parameter
])
def test_reversible_law_that_does_not_factor_is_refused(tmp_path, law):
    path = _write_sbml(tmp_path / "nofactor.xml", compartments={"c": 1.0}, species=REV,
                       parameters={"kf": 2.0, "kr": 1.0, "Km": 40.0, "kneg": -1.0},
                       reactions={"rx": ({"A": 1}, {"B": 1}, law, True)})
    with pytest.raises(ValueError, match=r"reaction 'rx': the reversible kinetic law .* cannot be split") as info:
        from_sbml(path)
    assert "\n" not in str(info.value)


def test_unknown_convention_is_refused(tmp_path):
    with pytest.raises(ValueError, match="convention must be one of"):
        from_sbml(tmp_path / "any.xml", convention="molar")
