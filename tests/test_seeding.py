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


def test_child_seed_is_stateless_spawning():
    """child_seed(s, k) is the k-th spawned child; nested keys are children of children."""
    from sciope_abs.seeding import child_seed

    root = np.random.SeedSequence(1234)
    for k in (0, 3, 10):
        a = child_seed(root, k).generate_state(4)
        b = np.random.SeedSequence(1234).spawn(k + 1)[k].generate_state(4)
        np.testing.assert_array_equal(a, b)
    nested = np.random.SeedSequence(1234).spawn(3)[2].spawn(2)[1]
    np.testing.assert_array_equal(child_seed(root, 2, 1).generate_state(4), nested.generate_state(4))
    assert root.n_children_spawned == 0  # the root is not advanced
    assert not np.array_equal(child_seed(root, 0, 1).generate_state(4), child_seed(root, 1, 0).generate_state(4))


def test_python_random_seeded_scopes_the_seed_and_restores_the_callers_state():
    import random

    from sciope_abs.seeding import python_random_seeded

    random.seed(99)
    expected_next = random.Random(99).random()
    with python_random_seeded(7):
        inside = [random.randint(1, 10**9) for _ in range(3)]
    assert random.random() == expected_next  # the caller's sequence is untouched
    with python_random_seeded(7):
        assert [random.randint(1, 10**9) for _ in range(3)] == inside
    with pytest.raises(RuntimeError):
        with python_random_seeded(8):
            raise RuntimeError("boom")
    state = random.getstate()
    with python_random_seeded(8):
        pass
    assert random.getstate() == state
