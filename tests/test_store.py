"""The zarr store: simulation sets round-trip with their labels and provenance."""
import json
from pathlib import Path

import numpy as np
import pytest

from sciope_abs import __version__
from sciope_abs.crn import load_model
from sciope_abs.store import (SimulationSet, StoreCorruptError, is_store, load_simulations, read_group,
                              save_simulations, write_group)


def _data(n=4, r=3, S=2, T=5, d=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.poisson(20, size=(n, r, S, T)).astype(float), rng.uniform(0, 1, size=(n, d))


def test_round_trip_keeps_arrays_labels_and_provenance(tmp_path):
    traces, theta = _data()
    traces[1] = np.nan  # a failed point survives the trip
    model = load_model("x16")
    path = save_simulations(tmp_path / "run.zarr", traces, theta, param_names=["a11", "b1"],
                            species=["G1", "P1"], timespan=np.arange(5) * 20.0, model=model,
                            seed=np.random.SeedSequence(7), solver="ssa", attrs={"design": "sobol", "n_traj": 3})
    assert is_store(path)
    s = load_simulations(path)
    np.testing.assert_array_equal(s.traces, traces)
    np.testing.assert_array_equal(s.theta, theta)
    np.testing.assert_array_equal(s.timespan, np.arange(5) * 20.0)
    assert s.param_names == ("a11", "b1") and s.species == ("G1", "P1")
    a = s.attrs
    assert a["model_name"] == "x16" and a["model_hash"] == model.content_hash()
    assert a["solver"] == "ssa" and a["design"] == "sobol" and a["n_traj"] == 3
    assert a["seed"] == {"entropy": "7", "spawn_key": []}
    assert a["sciope_abs_version"] == __version__ and a["created"]
    assert s.crn() == model  # the full model definition is stored
    assert (s.n_points, s.n_traj, len(s)) == (4, 3, 4)


def test_int_seed_and_model_name_only(tmp_path):
    traces, theta = _data()
    save_simulations(tmp_path / "a.zarr", traces, theta, param_names=["p", "q"], species=["A", "B"],
                     timespan=np.arange(5.0), model="gene", seed=3)
    s = load_simulations(tmp_path / "a.zarr")
    assert s.attrs["seed"] == 3 and s.attrs["model_name"] == "gene" and s.attrs["model_hash"] is None
    with pytest.raises(ValueError, match="does not carry its model"):
        s.crn()


def test_to_pandas_is_long_with_one_row_per_point_trajectory_time(tmp_path):
    traces, theta = _data(n=2, r=3, S=2, T=4)
    s = SimulationSet(theta=theta, traces=traces, param_names=("p", "q"), species=("A", "B"),
                      timespan=np.array([0.0, 1, 2, 3]))
    df = s.to_pandas()
    assert list(df.columns) == ["point", "trajectory", "time", "p", "q", "A", "B"]
    assert len(df) == 2 * 3 * 4
    row = df[(df.point == 1) & (df.trajectory == 2) & (df.time == 3.0)].iloc[0]
    assert row["A"] == traces[1, 2, 0, 3] and row["B"] == traces[1, 2, 1, 3]
    assert row["p"] == theta[1, 0] and row["q"] == theta[1, 1]


def test_to_xarray_labels_every_dimension():
    traces, theta = _data(n=3, r=2, S=2, T=4)
    s = SimulationSet(theta=theta, traces=traces, param_names=("p", "q"), species=("A", "B"),
                      timespan=np.array([0.0, 1, 2, 3]), attrs={"model_name": "toy"})
    ds = s.to_xarray()
    assert ds["traces"].dims == ("point", "trajectory", "species", "time")
    assert float(ds["traces"].sel(species="B", time=2.0, point=2, trajectory=1)) == traces[2, 1, 1, 2]
    assert float(ds["theta"].sel(point=1, param="q")) == theta[1, 1]
    assert ds.attrs["model_name"] == "toy"


def test_save_method_and_atomic_overwrite(tmp_path):
    traces, theta = _data()
    path = tmp_path / "run.zarr"
    save_simulations(path, traces, theta, param_names=["p", "q"], species=["A", "B"], timespan=np.arange(5.0),
                     model="x16", seed=1, attrs={"note": "first"})
    first = load_simulations(path)
    traces2 = traces + 1
    SimulationSet(theta=theta, traces=traces2, param_names=("p", "q"), species=("A", "B"),
                  timespan=np.arange(5.0), attrs=first.attrs).save(path)
    again = load_simulations(path)
    np.testing.assert_array_equal(again.traces, traces2)
    assert again.attrs["note"] == "first" and again.attrs["seed"] == 1 and again.attrs["model_name"] == "x16"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.zarr"]  # no temporary leftovers
    with pytest.raises(ValueError, match="already exists"):
        save_simulations(path, traces, theta, param_names=["p", "q"], species=["A", "B"],
                         timespan=np.arange(5.0), overwrite=False)


def test_never_overwrites_a_directory_that_is_not_a_store(tmp_path):
    precious = tmp_path / "data"
    precious.mkdir()
    (precious / "keep.txt").write_text("x")
    traces, theta = _data()
    with pytest.raises(ValueError, match="not a zarr store"):
        save_simulations(precious, traces, theta, param_names=["p", "q"], species=["A", "B"],
                         timespan=np.arange(5.0))
    assert (precious / "keep.txt").read_text() == "x"


def test_bad_shapes_and_paths_give_one_line_errors(tmp_path):
    traces, theta = _data()
    kw = dict(param_names=["p", "q"], species=["A", "B"], timespan=np.arange(5.0))
    with pytest.raises(ValueError, match=r"traces must have shape \(n, r, S, T\)"):
        save_simulations(tmp_path / "x.zarr", traces[0], theta, **kw)
    with pytest.raises(ValueError, match="theta must have shape"):
        save_simulations(tmp_path / "x.zarr", traces, theta[:3], **kw)
    with pytest.raises(ValueError, match="species names"):
        save_simulations(tmp_path / "x.zarr", traces, theta, **{**kw, "species": ["A"]})
    with pytest.raises(ValueError, match="timespan"):
        save_simulations(tmp_path / "x.zarr", traces, theta, **{**kw, "timespan": np.arange(4.0)})
    with pytest.raises(FileNotFoundError, match="no zarr store"):
        load_simulations(tmp_path / "missing.zarr")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ValueError, match="not a zarr store"):
        load_simulations(tmp_path / "plain")
    write_group(tmp_path / "other.zarr", {"w": np.ones(3)}, {"kind": "weights"})
    with pytest.raises(ValueError, match="not a sciope_abs simulation store"):
        load_simulations(tmp_path / "other.zarr")


def test_generic_group_helpers(tmp_path):
    arrays = {"a": np.arange(6).reshape(2, 3), "labels": np.array(["x", "yy"]), "f": np.float32([1.5])}
    write_group(tmp_path / "g.zarr", arrays, {"n": np.int64(2), "names": ("a", "b"), "inf": float("inf")})
    got, attrs = read_group(tmp_path / "g.zarr")
    for k, v in arrays.items():
        np.testing.assert_array_equal(got[k], v)
        assert got[k].dtype == v.dtype, k
    assert attrs["n"] == 2 and attrs["names"] == ["a", "b"] and attrs["inf"] == "inf" and "created" in attrs
    lazy, _ = read_group(tmp_path / "g.zarr", lazy=True)
    assert lazy["a"][1, 2] == 5 and not isinstance(lazy["a"], np.ndarray)
    with pytest.raises(ValueError, match="cannot be stored as JSON"):
        write_group(tmp_path / "h.zarr", {}, {"bad": object()})


# ------------------------------------------------------------------ damaged stores are refused (issue 13.1)
def _chunked_store(tmp_path):
    """A simulation store whose traces span several chunk files (rows forced small)."""
    traces, theta = _data(n=6, r=2, S=2, T=3)
    path = tmp_path / "sims.zarr"
    write_group(path, {"traces": traces, "theta": theta, "timespan": np.arange(3.0)},
                {"kind": "simulations", "param_names": ["p", "q"], "species": ["A", "B"]},
                chunks={"traces": (2, 2, 2, 3)})
    chunks = sorted(f for f in (path / "traces").rglob("*") if f.is_file() and f.name != "zarr.json")
    assert len(chunks) == 3
    return path, traces, chunks


def test_a_deleted_chunk_is_refused_with_the_store_and_array_named(tmp_path):
    path, traces, chunks = _chunked_store(tmp_path)
    np.testing.assert_array_equal(load_simulations(path).traces, traces)  # intact: loads
    chunks[1].unlink()
    with pytest.raises(StoreCorruptError) as err:
        load_simulations(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and "'traces'" in msg and "missing chunk c/1/0/0/0" in msg
    with pytest.raises(StoreCorruptError, match="missing chunk"):
        read_group(path, lazy=True)  # lazy reads are checked too, before any value is handed out


def test_a_corrupted_or_foreign_chunk_is_refused(tmp_path):
    path, _traces, chunks = _chunked_store(tmp_path)
    raw = bytearray(chunks[0].read_bytes())
    raw[-1] ^= 0xFF  # one flipped byte
    chunks[0].write_bytes(bytes(raw))
    with pytest.raises(StoreCorruptError, match=r"'traces' has a corrupt chunk c/0/0/0/0 \(checksum mismatch\)"):
        load_simulations(path)
    path2, _t, chunks2 = _chunked_store(tmp_path / "b")
    foreign = path2 / "traces" / "c" / "7" / "0" / "0" / "0"
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(chunks2[0].read_bytes())
    with pytest.raises(StoreCorruptError, match="c/7/0/0/0 that was not written"):
        load_simulations(path2)


def test_a_deleted_array_or_altered_shape_is_refused(tmp_path):
    import json
    import shutil

    path, _traces, _chunks = _chunked_store(tmp_path)
    shutil.rmtree(path / "theta")
    with pytest.raises(StoreCorruptError, match=r"array 'theta' is missing from the store"):
        read_group(path)
    path2, _t, _c = _chunked_store(tmp_path / "b")
    meta = json.loads((path2 / "traces" / "zarr.json").read_text())
    meta["shape"][0] = 4
    (path2 / "traces" / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(StoreCorruptError, match=r"'traces' has shape \(4, 2, 2, 3\) but was written with"):
        load_simulations(path2)
    (path2 / "zarr.json").write_bytes(b"\xff\xfe not json")
    with pytest.raises(StoreCorruptError, match="is not a readable zarr group"):
        load_simulations(path2)


def test_all_fill_value_arrays_have_no_chunks_and_still_load(tmp_path):
    # zarr does not write chunks that hold only the fill value; the inventory records exactly what was written
    write_group(tmp_path / "z.zarr", {"zeros": np.zeros((4, 3)), "x": np.arange(3.0)}, {})
    got, attrs = read_group(tmp_path / "z.zarr")
    np.testing.assert_array_equal(got["zeros"], np.zeros((4, 3)))
    assert "sciope_abs_inventory" not in attrs  # bookkeeping is not handed back as provenance


def test_a_damaged_abstraction_dataset_is_refused_by_the_same_check(tmp_path):
    from _synthetic_kernel import synthetic_dataset

    from sciope_abs.abstraction.dataset import AbstractionDataset

    path = synthetic_dataset(n_settings=10, n_traj=2, n_steps=3).save(tmp_path / "ds.zarr")
    chunk = next(f for f in (path / "traces").rglob("*") if f.is_file() and f.name != "zarr.json")
    chunk.unlink()
    with pytest.raises(StoreCorruptError, match=rf"{path}: array 'traces' is missing chunk"):
        AbstractionDataset.load(path)


def test_a_failed_write_names_the_destination_not_the_temporary_folder(unwritable_dir):
    dest = unwritable_dir / "run.zarr"
    traces, theta = _data()
    with pytest.raises(PermissionError) as err:
        save_simulations(dest, traces, theta, param_names=["p", "q"], species=["A", "B"], timespan=np.arange(5.0))
    msg = str(err.value)
    assert f"cannot write the zarr store {dest}" in msg and ".tmp-" not in msg and "\n" not in msg
    assert list(unwritable_dir.iterdir()) == []


def test_directory_bytes_round_trip_a_saved_folder(tmp_path):
    """How emulators and learned summaries travel to workers: a saved folder as bytes, loaded back
    through the object's own loader (never pickle)."""
    from sciope_abs.store.archive import directory_bytes, from_directory_bytes

    def save(folder):
        (Path(folder) / "card.json").write_text('{"a": 1}')
        np.save(Path(folder) / "w.npy", np.arange(5.0))

    blob = directory_bytes(save)
    got = from_directory_bytes(blob, lambda folder: (json.loads((Path(folder) / "card.json").read_text()),
                                                      np.load(Path(folder) / "w.npy", allow_pickle=False)))
    assert got[0] == {"a": 1}
    np.testing.assert_array_equal(got[1], np.arange(5.0))
