"""Atomic writes: the destination is the old file or the complete new one, never partial."""
import numpy as np
import pytest

from sciope_abs.store.atomic import atomic_path, atomic_savez, atomic_write_bytes, atomic_write_text


def test_write_replaces_and_leaves_no_temporary(tmp_path):
    f = tmp_path / "state.json"
    atomic_write_text(f, "old")
    atomic_write_bytes(f, b"new", fsync=True)
    assert f.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_failing_writer_keeps_the_old_file(tmp_path):
    f = tmp_path / "marker.json"
    f.write_text("complete")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(f) as tmp:
            tmp.write_text("half of it")
            raise RuntimeError("disk full")
    assert f.read_text() == "complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["marker.json"]


def test_savez_keeps_the_given_name_and_arrays(tmp_path):
    f = tmp_path / "round_000.npz"
    atomic_savez(f, {"a": np.arange(3), "b": np.eye(2)}, compressed=True)
    with np.load(f, allow_pickle=False) as z:
        assert sorted(z.files) == ["a", "b"]
        np.testing.assert_array_equal(z["a"], [0, 1, 2])
    # a name without .npz is used as given (numpy would otherwise append one)
    g = atomic_savez(tmp_path / "cache.bin", {"x": np.ones(2)})
    assert g.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["cache.bin", "round_000.npz"]


def test_temporaries_are_unique_per_call(tmp_path):
    f = tmp_path / "x.json"
    with atomic_path(f) as t1, atomic_path(f) as t2:
        assert t1 != t2 and t1.parent == t2.parent == tmp_path and t1.name.startswith(".x.json.")
        t1.write_text("1")
        t2.write_text("2")
    assert f.read_text() == "1"  # the outer block finished last
