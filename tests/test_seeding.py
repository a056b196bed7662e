"""Seeds: per-point children do not depend on how points are grouped."""
import numpy as np
import pytest

from sciope_abs.seeding import as_generator, as_seed_sequence, int_seed, point_seeds, spawn


def test_point_seeds_are_the_same_alone_or_in_a_batch():
    all_ = point_seeds(7, 10)
    chunk = point_seeds(all_[3:6], 3)
    assert [int_seed(s) for s in chunk] == [int_seed(s) for s in all_[3:6]]
    assert len({int_seed(s) for s in all_}) == 10


def test_same_seed_same_numbers_different_seed_different():
    a = as_generator(5).random(4)
    np.testing.assert_array_equal(a, as_generator(5).random(4))
    assert not np.allclose(a, as_generator(6).random(4))
    assert [int_seed(s) for s in spawn(1, 3)] == [int_seed(s) for s in spawn(np.random.SeedSequence(1), 3)]


def test_bad_seeds_are_refused():
    with pytest.raises(ValueError, match="non-negative"):
        as_seed_sequence(-1)
    with pytest.raises(ValueError, match="seed must be"):
        as_seed_sequence("abc")
    with pytest.raises(ValueError, match="3 per-point seeds for 4 points"):
        point_seeds(spawn(0, 3), 4)
