"""SpeciesView (sciope_abs.simulators): a simulator seen through some of its species."""
import pickle

import numpy as np
import pytest

from sciope_abs.simulators import SpeciesView

from _toy_simulators import ToySimulator


def test_view_selects_species_in_the_given_order_and_passes_the_rest():
    sim = ToySimulator()
    theta = np.array([[2.0, 0.5], [4.0, 1.0]])
    full = sim.simulate(theta, n_traj=3, seed=5, initial_state=[1, 7])
    view = SpeciesView(sim, ["B", "A"])
    x = view.simulate(theta, n_traj=3, seed=5, initial_state=[1, 7])
    assert x.shape == (2, 3, 2, len(sim.timespan)) and x.flags.c_contiguous
    np.testing.assert_array_equal(x, full[:, :, [1, 0]])
    assert view.param_names == sim.param_names and view.species == ("B", "A")
    np.testing.assert_array_equal(SpeciesView(sim, "A").simulate(theta, seed=1), sim.simulate(theta, seed=1)[:, :, :1])
    assert view.preferred_batch_size is None
    again = pickle.loads(pickle.dumps(view))
    np.testing.assert_array_equal(again.simulate(theta, n_traj=3, seed=5, initial_state=[1, 7]), x)


def test_unknown_species_are_refused_naming_them():
    with pytest.raises(ValueError, match=r"species \['C'\] are not produced by the simulator \(it has \['A', 'B'\]\)"):
        SpeciesView(ToySimulator(), ["A", "C"])
    with pytest.raises(ValueError, match="are not produced"):
        SpeciesView(ToySimulator(), [])
