"""The model library and the CRN data model."""
import numpy as np
import pytest

from sciope_abs.crn import CRN, Reaction, list_models, load_model


def test_library_lists_the_case_studies():
    assert set(list_models()) == {"x16", "x40", "gene", "sir", "egfr", "vilar", "toggle_switch", "bees"}


@pytest.mark.parametrize("name", ["x16", "x40", "gene", "sir", "egfr", "vilar", "toggle_switch", "bees"])
def test_every_model_builds_and_samples_valid_initial_states(name):
    m = load_model(name)
    x = m.sample_initial_states(500, seed=3)
    assert x.shape == (500, m.n_species) and x.dtype == np.int64
    assert (x >= 0).all()
    for s, (lo, hi) in m.initial_ranges.items():
        col = x[:, m.species_index([s])[0]]
        assert col.min() >= lo and col.max() <= hi
    ranges = m.law_total_ranges()
    for law, (lo, hi) in zip(m.conservation_laws, ranges):
        v = law.value(x)
        assert v.min() >= lo and v.max() <= hi
    for g in m.conserved_groups:
        assert (x[:, m.species_index(g.species)].sum(axis=1) == g.total).all()
    assert set(m.observed) <= set(m.species)
    np.testing.assert_array_equal(x, m.sample_initial_states(500, seed=3))


def test_declared_species_order_is_not_alphabetical():
    assert load_model("sir").species == ("S", "I", "R")
    egfr = load_model("egfr")
    assert egfr.species[:5] == ("EGF", "R", "Ra", "R2", "RP") and len(egfr.species) == 23
    assert len(egfr.reactions) == 47


def test_x16_facts():
    m = load_model("x16")
    assert m.timespan().tolist() == [20.0 * i for i in range(11)]
    assert m.default_initial_state().tolist() == [2, 2, 800]  # keeps G1 + G2 = 4
    assert [str(law) for law in m.conservation_laws] == ["G1 + G2 = 4"]
    # ranges are inclusive and cover the reference's U{80..1199}
    p1 = m.sample_initial_states(20000, seed=0)[:, 2]
    assert p1.min() == 80 and p1.max() == 1199
    # randomising gamma12 keeps the epsilon factor: range 0.6..1.4 times epsilon * 1.0
    assert m.rate_ranges["gamma12"] == pytest.approx((0.006, 0.014))
    nu = m.stoichiometry()
    assert nu[[r.name for r in m.reactions].index("r4")].tolist() == [-1, 1, 0]


def test_sample_rates_within_ranges_and_unknown_names_refused():
    m = load_model("gene")
    r = m.sample_rates(1000, ["Kt", "Ku"], seed=1)
    assert r.shape == (1000, 2)
    assert (r[:, 0] >= 180).all() and (r[:, 0] <= 420).all()
    assert abs(r[:, 0].mean() - 300) < 4 * 240 / np.sqrt(12) / np.sqrt(1000)
    with pytest.raises(ValueError, match="Kb"):
        m.sample_rates(3, ["Kb"])


def test_unknown_model_names_the_choices():
    with pytest.raises(ValueError, match="unknown model 'nope'.*x16"):
        load_model("nope")
    assert load_model("Toggle-Switch") is load_model("toggle_switch")


def test_content_hash_is_stable_and_sensitive():
    m = load_model("toggle_switch")
    assert m.content_hash() == CRN.from_dict(m.to_dict()).content_hash()
    assert m.with_parameters(mu=2.0).content_hash() != m.content_hash()
    with pytest.raises(ValueError, match="unknown parameter"):
        m.with_parameters(nope=1.0)


def test_invalid_models_are_refused_with_the_reason():
    r = Reaction("deg", {"A": 1}, {}, rate="k")
    with pytest.raises(ValueError, match="unknown species"):
        CRN("bad", ["B"], {"k": 1.0}, [r], {})
    with pytest.raises(ValueError, match="unknown rate parameter"):
        CRN("bad", ["A"], {"q": 1.0}, [r], {})
    with pytest.raises(ValueError, match="clash"):
        CRN("bad", ["A"], {"k": 1.0, "deg": 2.0}, [r], {})
    with pytest.raises(ValueError, match="exactly one"):
        Reaction("x", {}, {"A": 1})
    m = load_model("x16")
    with pytest.raises(ValueError, match="unknown species"):
        m.species_index(["P9"])
