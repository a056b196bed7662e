"""Distances: hand-computed values, NaN rows, shape errors, adaptive scale invariance."""
import pickle

import numpy as np
import pytest

from sciope_abs.distances import Adaptive, Euclidean, Manhattan, get_distance

OBS = np.array([1.0, 2.0, 3.0])
SIM = np.array([[1.0, 2.0, 3.0],
                [4.0, 6.0, 3.0],
                [0.0, 2.0, 5.0]])


def test_by_hand():
    np.testing.assert_allclose(Euclidean()(OBS, SIM), [0.0, 5.0, np.sqrt(5.0)])
    np.testing.assert_allclose(Manhattan()(OBS, SIM), [0.0, 7.0, 3.0])
    np.testing.assert_allclose(get_distance("euclidean")(OBS[None, :], SIM[1]), [5.0])


def test_nan_rows_are_infinitely_far_others_kept():
    sim = SIM.copy()
    sim[1, 2] = np.nan
    for dist in (Euclidean(), Manhattan(), Adaptive()):
        d = dist(OBS, sim)
        assert np.isposinf(d[1])
        assert d[0] == 0.0 and np.isfinite(d[2]) and d[2] > 0


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(3,\).*\(3, 2\)"):
        Euclidean()(OBS, np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        Manhattan()(np.zeros((2, 3)), SIM)
    with pytest.raises(ValueError, match="NaN at features \\[1\\]"):
        Euclidean()(np.array([0.0, np.nan, 0.0]), SIM)
    with pytest.raises(ValueError, match="unknown distance 'cosine'"):
        get_distance("cosine")


def test_adaptive_mad_by_hand_and_zero_mad_note():
    pop = np.array([[0.0, 5.0], [1.0, 5.0], [2.0, 5.0], [10.0, 5.0]])
    dist = Adaptive().fit(pop)
    # column 0: median 1.5, |dev| = 1.5, .5, .5, 8.5 -> MAD 1.0; column 1 constant -> scale 1 with a note
    np.testing.assert_allclose(dist.scale_, [1.0, 1.0])
    assert dist.unit_scale_ == [1] and "zero" in dist.notes_[0]
    pop[:, 0] *= 4
    dist.fit(pop)
    np.testing.assert_allclose(dist.scale_, [4.0, 1.0])
    np.testing.assert_allclose(dist(np.array([0.0, 5.0]), np.array([[8.0, 8.0]])), [np.sqrt(4 + 9)])
    np.testing.assert_allclose(Adaptive(p=1).fit(pop)(np.array([0.0, 5.0]), np.array([[8.0, 8.0]])), [5.0])


def test_adaptive_is_invariant_to_feature_scaling_euclidean_is_not():
    rng = np.random.default_rng(0)
    pop = rng.normal(size=(200, 4)) * [1.0, 3.0, 0.1, 20.0]
    obs = rng.normal(size=4)
    factor = np.array([1000.0, 1.0, 1.0, 0.001])
    a1 = Adaptive().fit(pop)(obs, pop)
    a2 = Adaptive().fit(pop * factor)(obs * factor, pop * factor)
    np.testing.assert_allclose(a1, a2, rtol=1e-10)
    e1, e2 = Euclidean()(obs, pop), Euclidean()(obs * factor, pop * factor)
    assert not np.allclose(e1, e2)
    # unfitted adaptive fits itself on the population it is given
    np.testing.assert_allclose(Adaptive()(obs, pop), a1)


def test_pickle_roundtrip():
    dist = Adaptive().fit(SIM)
    again = pickle.loads(pickle.dumps(dist))
    np.testing.assert_array_equal(again(OBS, SIM), dist(OBS, SIM))


def test_state_as_data_round_trips_exactly():
    pop = np.array([[1.0, 5.0], [2.0, 5.0], [4.0, 5.0], [8.0, 5.0]])   # second feature: zero MAD
    dist = Adaptive(p=1).fit(pop)
    state = dist.get_state()
    assert set(state) == {"scale_", "unit_scale_", "notes_"} and isinstance(state["scale_"], np.ndarray)
    assert state["unit_scale_"] == [1]
    again = Adaptive(**dist.get_params()).set_state(state)
    np.testing.assert_array_equal(again(OBS[:2], pop), dist(OBS[:2], pop))
    assert again.notes_ == dist.notes_ and again.p == 1
    assert Adaptive().get_state() == {} and Euclidean().get_state() == {}
    with pytest.raises(ValueError, match="positive finite"):
        Adaptive().set_state({"scale_": np.array([1.0, -2.0])})
    with pytest.raises(ValueError, match="no fitted state"):
        Euclidean().set_state({"scale_": np.ones(2)})
