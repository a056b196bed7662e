"""The shared argument checks: values normalised, refusals name the user's key."""
import numpy as np
import pytest

from sciope_abs._checks import (
    check_int,
    check_int_at_least,
    check_nonneg_float,
    check_nonneg_int,
    check_number,
    check_positive_float,
    check_positive_int,
    is_int,
    optional,
)


def test_integers_are_normalised_to_int():
    out = check_positive_int(np.int64(3), "n_traj")
    assert out == 3 and type(out) is int
    assert check_nonneg_int(0, "lag") == 0
    assert check_int_at_least(10, "n_pilot", 10) == 10
    assert check_int(-4, "offset") == -4


@pytest.mark.parametrize("bad", [0, -1, 2.0, "3", True, None, np.float64(1.0)])
def test_positive_int_refuses_with_the_key_and_the_value(bad):
    with pytest.raises(ValueError) as err:
        check_positive_int(bad, "infer.n_particles")
    msg = str(err.value)
    assert msg.startswith("infer.n_particles must be a positive integer, got ")
    assert msg.endswith(repr(bad.item() if isinstance(bad, np.generic) else bad))
    assert "\n" not in msg


def test_bool_is_not_an_integer():
    assert not is_int(True) and is_int(np.uint8(1)) and not is_int(1.0)
    with pytest.raises(ValueError, match="n must be a non-negative integer, got False"):
        check_nonneg_int(False, "n")


def test_bounds_and_worded_expectations():
    with pytest.raises(ValueError, match=r"^cv must be an integer >= 2, got 1$"):
        check_int_at_least(1, "cv", 2)
    with pytest.raises(ValueError, match=r"^chunk_size must be a positive int or 'auto', got 0$"):
        check_positive_int(0, "chunk_size", what="a positive int or 'auto'")
    # numpy scalars are shown as the number they hold, not as np.int64(...)
    with pytest.raises(ValueError, match=r"got -2$"):
        check_nonneg_int(np.int32(-2), "lag")


def test_numbers():
    assert check_positive_float(np.float32(0.5), "dt") == 0.5
    assert check_nonneg_float(0, "tolerance") == 0.0
    assert check_number(-1.5, "shift") == -1.5
    for bad in (0.0, -1e-9, float("nan"), float("inf"), "1", True):
        with pytest.raises(ValueError, match=r"^dataset\.dt must be a positive number, got "):
            check_positive_float(bad, "dataset.dt")
    with pytest.raises(ValueError, match=r"^tolerance must be a finite number >= 0, got -1$"):
        check_nonneg_float(-1, "tolerance")
    with pytest.raises(ValueError, match=r"^rate must be a finite number > 2, got 2$"):
        check_number(2, "rate", low=2, strict=True)


def test_optional_lets_none_through_and_checks_the_rest():
    assert optional(check_positive_int, None, "max_simulations") is None
    assert optional(check_positive_int, 5, "max_simulations") == 5
    with pytest.raises(ValueError, match="max_simulations must be a positive integer, got 0"):
        optional(check_positive_int, 0, "max_simulations")
    assert optional(check_int_at_least, 3, "k", low=2) == 3
