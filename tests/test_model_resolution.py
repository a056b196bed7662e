"""One resolution of ``model=``: a CRN, a library name, or (where asked) an SBML path."""
from pathlib import Path

import pytest

from sciope_abs.crn import CRN, as_crn, load_model
from sciope_abs.priors import JointPrior
from sciope_abs.simulators import FastSSASimulator, make_simulator

EGFR_XML = Path(__file__).resolve().parent / "data" / "BIOMD0000000048.xml"


def test_names_crns_and_sbml_paths():
    crn = load_model("gene")
    assert as_crn(crn) is crn
    assert as_crn("Gene") is crn  # case-insensitive, the library's cached network
    sbml = as_crn(str(EGFR_XML), sbml=True)
    assert isinstance(sbml, CRN) and len(sbml.reactions) > 0
    assert as_crn(EGFR_XML, sbml=True).reactions == sbml.reactions


def test_refusals_name_the_key():
    with pytest.raises(ValueError, match=r"unknown model 'nope'; available: .*gene"):
        as_crn("nope")
    with pytest.raises(ValueError, match=r"^dataset\.model must be a CRN or a model name, got int$"):
        as_crn(3, name="dataset.model")
    with pytest.raises(ValueError, match=r"must be a CRN, a model name or an SBML path, got list; try X$"):
        as_crn([], sbml=True, hint="try X")
    with pytest.raises(FileNotFoundError, match="SBML file missing.xml not found"):
        as_crn("missing.xml", sbml=True)
    # without sbml=True a path is a (wrong) model name, not a file to read
    with pytest.raises(ValueError, match="unknown model 'missing.xml'"):
        as_crn("missing.xml")
    marker = object()
    assert as_crn(marker, passthrough=True) is marker


def test_callers_share_it():
    """Simulators, priors and the factory take the same names and refuse the same way."""
    sim = FastSSASimulator("gene")
    assert sim.species == tuple(load_model("gene").species)
    assert JointPrior.from_model("gene").names == list(load_model("gene").rate_ranges)
    assert make_simulator("gene", solver="fast_ssa").species == tuple(load_model("gene").species)
    for build in (FastSSASimulator, lambda m: make_simulator(m, solver="fast_ssa")):
        with pytest.raises(ValueError, match="unknown model 'nope'"):
            build("nope")
    with pytest.raises(ValueError, match=r"model must be a CRN or a model name, got dict; "):
        FastSSASimulator({})
