"""Training data for the deep abstraction: build_dataset, AbstractionDataset, StateScaler, CLI."""
from __future__ import annotations

import numpy as np
import pytest

from sciope_abs.abstraction import dataset as dataset_mod
from sciope_abs.abstraction.dataset import AbstractionDataset, build_dataset
from sciope_abs.abstraction.scaling import StateScaler
from sciope_abs.crn import CRN, Reaction


def tiny_crn() -> CRN:
    """A two-state gene (G1 + G2 = 1 conserved) producing A; k_p may vary per setting."""
    return CRN(
        name="tiny_switch", species=("A", "G1", "G2"),
        parameters={"k_on": 0.5, "k_off": 0.5, "k_p": 10.0, "k_d": 1.0},
        reactions=[Reaction("switch_on", {"G1": 1}, {"G2": 1}, rate="k_on"),
                   Reaction("switch_off", {"G2": 1}, {"G1": 1}, rate="k_off"),
                   Reaction("produce", {"G1": 1}, {"G1": 1, "A": 1}, rate="k_p"),
                   Reaction("degrade", {"A": 1}, {}, rate="k_d")],
        initial_state={"A": 5, "G1": 1, "G2": 0}, initial_ranges={"A": (0, 20), "G1": (0, 1)},
        complements={"G2": ("G1", 1)}, rate_ranges={"k_p": (5.0, 15.0), "k_d": (0.5, 1.5)},
        dt=0.5, n_steps=4, observed=("A",))


@pytest.fixture(scope="module")
def ds() -> AbstractionDataset:
    return build_dataset(tiny_crn(), n_settings=20, n_traj=6, vary_params=("k_p",), seed=11, client="sync",
                         progress=False)


def test_shapes_and_provenance(ds):
    assert ds.traces.shape == (20, 6, 3, 5)
    assert ds.initial_states.shape == (20, 3) and ds.rates.shape == (20, 1)
    assert ds.species == ("A", "G1", "G2") and ds.vary_params == ("k_p",)
    np.testing.assert_array_equal(ds.rate_bounds, [[5.0, 15.0]])
    # traces start at the sampled initial states, are integer counts, keep G1 + G2 = 1
    np.testing.assert_array_equal(ds.traces[:, :, :, 0], np.broadcast_to(ds.initial_states[:, None, :], (20, 6, 3)))
    assert np.all(ds.traces == np.round(ds.traces)) and ds.traces.min() >= 0
    np.testing.assert_array_equal(ds.traces[:, :, 1] + ds.traces[:, :, 2], 1)
    assert ds.conservation_violations == 0 and [str(v) for v in ds.model.conservation_laws] == ["G1 + G2 = 1"]
    # rates drawn inside the range, one per setting, not all equal
    assert np.all((ds.rates >= 5) & (ds.rates <= 15)) and np.unique(ds.rates).size == 20
    assert ds.attrs["config"]["n_settings"] == 20 and ds.attrs["config_hash"]
    assert ds.attrs["versions"]["sciope_abs"]


def test_split_by_setting_has_no_leakage(ds):
    tr, va, te = (set(ds.splits[s].tolist()) for s in ("train", "val", "test"))
    assert (len(tr), len(va), len(te)) == (14, 3, 3)
    assert not (tr & va) and not (tr & te) and not (va & te)
    assert tr | va | te == set(range(20))
    for name in ("train", "val", "test"):
        x, y, settings = ds.pairs(name, return_settings=True)
        assert set(settings.tolist()) == set(ds.splits[name].tolist())
        assert x.shape == (len(ds.splits[name]) * 6 * 4, 4) and y.shape == (x.shape[0], 3)
        # every pair's rate is its own setting's rate, every input state is a state of that setting
        np.testing.assert_array_equal(x[:, 3], ds.rates[settings, 0])
        first = x[::4, :3]  # step 0 of each trajectory = the setting's initial state
        np.testing.assert_array_equal(first, ds.initial_states[settings[::4]])


def test_scaler_sees_train_only(ds):
    x_tr, y_tr = ds.pairs("train")
    x_all, y_all = ds.pairs("all")
    np.testing.assert_allclose(ds.scaler.in_mean_, x_tr.mean(0))
    np.testing.assert_allclose(ds.scaler.in_scale_, x_tr.std(0))
    np.testing.assert_allclose(ds.scaler.out_mean_, y_tr.mean(0))
    np.testing.assert_allclose(ds.scaler.delta_mean_, (y_tr - x_tr[:, :3]).mean(0))
    assert ds.scaler.n_samples_ == x_tr.shape[0]
    assert not np.allclose(ds.scaler.in_mean_, x_all.mean(0))
    assert not np.allclose(ds.scaler.out_scale_, y_all.std(0))


def test_pairs_layout_on_hand_made_dataset():
    crn = tiny_crn()
    # 3 settings, 2 trajectories, 3 species, 3 time points: value = 1000 s + 100 r + 10 species + t
    s, r, k, t = np.meshgrid(np.arange(3), np.arange(2), np.arange(3), np.arange(3), indexing="ij")
    traces = (1000 * s + 100 * r + 10 * k + t).astype(float)
    rates = np.array([[5.5], [6.5], [7.5]])
    with pytest.warns(UserWarning, match=r"12 of 12 \(trajectory, step\) cells .* break conservation laws .*G1 \+ G2"):
        ds = AbstractionDataset(crn, ("k_p",), 0.5, 2, traces, traces[:, 0, :, 0], rates,
                                {"train": [2, 0], "val": [1], "test": []})
    assert ds.conservation_violations == 12
    x, y = ds.pairs("train")
    expect_x = [[2000, 2010, 2020, 7.5], [2001, 2011, 2021, 7.5], [2100, 2110, 2120, 7.5], [2101, 2111, 2121, 7.5],
                [0, 10, 20, 5.5], [1, 11, 21, 5.5], [100, 110, 120, 5.5], [101, 111, 121, 5.5]]
    expect_y = [[2001, 2011, 2021], [2002, 2012, 2022], [2101, 2111, 2121], [2102, 2112, 2122],
                [1, 11, 21], [2, 12, 22], [101, 111, 121], [102, 112, 122]]
    np.testing.assert_array_equal(x, expect_x)
    np.testing.assert_array_equal(y, expect_y)
    xv, yv = ds.pairs("val")
    np.testing.assert_array_equal(xv[0], [1000, 1010, 1020, 6.5])
    assert ds.pairs("test")[0].shape == (0, 4)
    # scaled pairs use train statistics: train inputs have zero mean, unit std where not constant
    xs, ys = ds.scaled_pairs("train")
    assert xs.dtype == np.float32 and ys.dtype == np.float32
    np.testing.assert_allclose(xs.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(ys.std(0), 1, atol=1e-5)


def test_dataset_validation():
    crn = tiny_crn()
    traces = np.zeros((3, 2, 3, 3))
    with pytest.raises(ValueError, match="overlap"):
        AbstractionDataset(crn, (), 0.5, 2, traces, np.zeros((3, 3)), np.zeros((3, 0)), {"train": [0, 1], "val": [1]})
    with pytest.raises(ValueError, match="traces must have shape"):
        AbstractionDataset(crn, (), 0.5, 3, traces, np.zeros((3, 3)), np.zeros((3, 0)), {"train": [0]})
    with pytest.raises(ValueError, match="rates must have shape"):
        AbstractionDataset(crn, ("k_p",), 0.5, 2, traces, np.zeros((3, 3)), np.zeros((3, 0)), {"train": [0]})
    with pytest.raises(ValueError, match="unknown split"):
        AbstractionDataset(crn, (), 0.5, 2, traces, np.zeros((3, 3)), np.zeros((3, 0)), {"train": [0]}).pairs("dev")
    with pytest.raises(ValueError, match="no rate range"):
        build_dataset(crn, 4, 2, vary_params=("k_on",), seed=0, client="sync", progress=False)
    with pytest.raises(ValueError, match="split"):
        build_dataset(crn, 4, 2, split=(0.5, 0.5, 0.5), seed=0, client="sync", progress=False)
    with pytest.raises(ValueError, match="n_settings"):
        build_dataset(crn, 0, 2, seed=0, client="sync", progress=False)


def test_scaler_roundtrip_and_errors():
    rng = np.random.default_rng(0)
    x = rng.normal(5, 2, size=(200, 4))
    x[:, 2] = 7.0  # a constant column gets scale 1
    y = x[:, :3] + rng.normal(0, 1, size=(200, 3))
    sc = StateScaler().fit(x, y)
    assert sc.in_scale_[2] == 1.0
    np.testing.assert_allclose(sc.inverse_targets(sc.transform_targets(y)), y, rtol=1e-6, atol=1e-5)  # float32
    np.testing.assert_allclose(sc.inverse_deltas(x, sc.transform_deltas(x, y)), y, rtol=1e-6, atol=1e-5)
    sc2 = StateScaler.from_dict(sc.to_dict())
    assert sc2 == sc
    np.testing.assert_array_equal(sc2.transform_inputs(x), sc.transform_inputs(x))
    with pytest.raises(ValueError, match="not fitted"):
        StateScaler().transform_inputs(x)
    with pytest.raises(ValueError, match=r"shape \(m, 4\)"):
        sc.transform_inputs(x[:, :3])


def test_save_load_and_resume(tmp_path, monkeypatch):
    crn = tiny_crn()
    path = tmp_path / "tiny.zarr"
    kw = dict(n_settings=6, n_traj=3, vary_params="k_p,k_d", seed=5, client="sync", progress=False,
              split=(0.5, 0.5, 0.0))
    ds1 = build_dataset(crn, path=path, **kw)
    assert not ds1.reused and (path / "zarr.json").is_file()
    assert ds1.splits["test"].size == 0 and ds1.splits["val"].size == 3
    stamp = (path / "zarr.json").stat().st_mtime_ns

    def no_simulation(*args, **kwargs):
        raise AssertionError("simulated although a complete dataset with the same configuration exists")

    monkeypatch.setattr(dataset_mod, "_simulate", no_simulation)
    ds2 = build_dataset(crn, path=path, **kw)
    assert ds2.reused
    assert (path / "zarr.json").stat().st_mtime_ns == stamp
    assert ds2.content_hash() == ds1.content_hash()
    np.testing.assert_array_equal(ds2.traces, ds1.traces)
    assert ds2.scaler == ds1.scaler and ds2.model == crn and ds2.vary_params == ("k_p", "k_d")
    # a different configuration at the same path is refused, nothing overwritten
    with pytest.raises(ValueError, match="different configuration"):
        build_dataset(crn, path=path, **{**kw, "seed": 6})
    assert (path / "zarr.json").stat().st_mtime_ns == stamp
    # direct load; missing and foreign paths
    ds3 = AbstractionDataset.load(path)
    assert ds3.content_hash() == ds1.content_hash()
    with pytest.raises(FileNotFoundError, match="no abstraction dataset"):
        AbstractionDataset.load(tmp_path / "missing.zarr")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="not an abstraction dataset"):
        AbstractionDataset.load(tmp_path / "junk")
    with pytest.raises(ValueError, match="not an abstraction dataset"):
        build_dataset(crn, path=tmp_path / "junk", **kw)


def test_same_seed_same_dataset(ds):
    again = build_dataset(tiny_crn(), n_settings=20, n_traj=6, vary_params=("k_p",), seed=11, client="sync",
                          progress=False)
    assert again.content_hash() == ds.content_hash()
    other = build_dataset(tiny_crn(), n_settings=20, n_traj=6, vary_params=("k_p",), seed=12, client="sync",
                          progress=False)
    assert other.content_hash() != ds.content_hash()


def test_cli_dataset_is_resumable(tmp_path, capsys):
    from sciope_abs.cli import main

    out = tmp_path / "x16.zarr"
    args = ["dataset", "x16", "--settings", "3", "--traj", "2", "--steps", "2", "--vary", "b1", "--seed", "3",
            "--out", str(out), "--scheduler", "sync", "--quiet"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert f"wrote {out}" in first and "3 settings x 2 trajectories" in first
    ds = AbstractionDataset.load(out)
    assert ds.traces.shape == (3, 2, 3, 3) and ds.vary_params == ("b1",) and ds.dt == 20.0
    assert main(args) == 0
    assert "reusing the complete dataset" in capsys.readouterr().out
    assert main(["dataset", "no_such_model", "--settings", "3", "--traj", "2", "--scheduler", "sync"]) == 1
    assert "unknown model" in capsys.readouterr().err
