"""Summary statistics: hand-computed values, names, NaN rows, `+`, pickling, tsfresh columns."""
import pickle

import numpy as np
import pytest

from sciope_abs.summaries import (SUMMARIES, AutoCorrelation, Burstiness, CombinedSummary, CrossCorrelation,
                                  FinalValue, Identity, Mean, MeanTrajectory, Quantiles, Std, TSFresh,
                                  get_summary, make_summary)


def traces(*series_per_species, r=1):
    """One point, r identical realisations, species given as 1-D series -> (1, r, S, T)."""
    x = np.array(series_per_species, dtype=float)[None, None]
    return np.repeat(x, r, axis=1)


def test_mean_std_by_hand_and_names():
    x = traces([1, 2, 3, 4, 5], [2, 2, 2, 2, 2])
    s = Mean(species=("U", "V"))
    np.testing.assert_allclose(s(x), [[3.0, 2.0]])
    assert s.names == ["U__mean", "V__mean"]
    np.testing.assert_allclose(Std()(x), [[np.sqrt(2.0), 0.0]])
    std = Std()
    std(x)
    assert std.names == ["s0__std", "s1__std"]  # default species names known after a call
    with pytest.raises(ValueError, match="species unknown"):
        Std().names
    with pytest.raises(ValueError, match="given 3 species.*S=2"):
        Mean(species=("A", "B", "C"))(x)


def test_mean_over_realisations_and_reduce_none():
    x = np.zeros((2, 3, 1, 4))
    x[0, :, 0, :] = np.array([[0, 0, 0, 0], [1, 1, 1, 1], [5, 5, 5, 5]])[:, :]
    x[1] = 7.0
    s = Mean(species=["A"])
    np.testing.assert_allclose(s(x), [[2.0], [7.0]])
    per = Mean(species=["A"], reduce="none")(x)
    assert per.shape == (2, 3, 1)
    np.testing.assert_allclose(per[0, :, 0], [0, 1, 5])
    with pytest.raises(ValueError, match="reduce"):
        Mean(reduce="max")


def test_autocorrelation_of_known_sequences():
    x = traces([1, 2, 3, 4, 5], [1, -1, 1, -1, 1], [3, 3, 3, 3, 3])
    ac = AutoCorrelation(lags=(1, 2), species=("a", "b", "c"))
    out = ac(x)[0]
    # a: centred (-2,-1,0,1,2), sum sq 10, lag1 sum 4, lag2 sum -1
    # b: mean 0.2, centred (.8,-1.2,.8,-1.2,.8), sum sq 4.8, lag1 4*(.8*-1.2) = -3.84, lag2 .64+1.44+.64 = 2.72
    np.testing.assert_allclose(out, [0.4, -0.1, -3.84 / 4.8, 2.72 / 4.8, 0.0, 0.0])
    assert ac.names == ["a__autocorr_1", "a__autocorr_2", "b__autocorr_1", "b__autocorr_2",
                        "c__autocorr_1", "c__autocorr_2"]
    with pytest.raises(ValueError, match="lag 5 needs more than T=5"):
        AutoCorrelation(lags=(5,))(x)
    with pytest.raises(ValueError, match="positive integers"):
        AutoCorrelation(lags=(0,))


def test_burstiness_by_hand():
    x = traces([4, 4, 4, 4], [0, 0, 0, 0], [0, 2, 0, 2], [0, 0, 0, 4])
    out = Burstiness()(x)[0]
    np.testing.assert_allclose(out, [-1.0, -1.0, 0.0, (np.sqrt(3) - 1) / (np.sqrt(3) + 1)])


def test_quantiles_and_final_value():
    x = np.zeros((1, 2, 1, 11))
    x[0, 0, 0] = np.arange(11)
    x[0, 1, 0] = np.arange(11) + 2  # final values 10 and 12
    q = Quantiles(qs=(0.1, 0.5), species=["X"])
    np.testing.assert_allclose(q(x), [[2.0, 6.0]])  # mean over the two realisations of (1, 5) and (3, 7)
    assert q.names == ["X__quantile_0.1", "X__quantile_0.5"]
    f = FinalValue(species=["X"])
    np.testing.assert_allclose(f(x), [[11.0, 1.0]])
    assert f.names == ["X__final_mean", "X__final_var"]
    fn = FinalValue(species=["X"], reduce="none")
    np.testing.assert_allclose(fn(x), [[[10.0], [12.0]]])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Quantiles(qs=(1.5,))


def test_cross_correlation_pairs():
    u = np.array([1.0, 3, 2, 5, 4])
    x = traces(u, 2 * u + 1, -u, np.full(5, 3.0))
    cc = CrossCorrelation(species=("U", "V", "W", "C"))
    out = cc(x)[0]
    assert cc.names[:3] == ["U__crosscorr_V", "U__crosscorr_W", "U__crosscorr_C"]
    assert len(out) == 6
    np.testing.assert_allclose(out[:3], [1.0, -1.0, 0.0])
    sel = CrossCorrelation(pairs=[("V", "W")], species=("U", "V", "W", "C"))
    np.testing.assert_allclose(sel(x), [[-1.0]])
    with pytest.raises(ValueError, match="unknown species 'Z'"):
        CrossCorrelation(pairs=[("U", "Z")], species=("U", "V"))
    lagged = CrossCorrelation(pairs=[(0, 1)], lag=1)
    y = traces([1.0, 2, 0, 3, 1, 4], [9.0, 1, 2, 0, 3, 1])  # b_{t+1} == a_t
    np.testing.assert_allclose(lagged(y), [[1.0]])
    assert lagged.names == ["s0__crosscorr_s1_lag1"]


def test_trajectory_identity():
    x = np.arange(2 * 3 * 2 * 4, dtype=float).reshape(2, 3, 2, 4)
    s = MeanTrajectory(species=("A", "B"))
    out = s(x)
    np.testing.assert_allclose(out, x.mean(axis=1).reshape(2, -1))
    assert s.names[:2] == ["A__t0", "A__t1"] and s.names[4] == "B__t0"
    assert Identity is MeanTrajectory
    sub = MeanTrajectory(time_index=[0, 3], reduce="none")
    assert sub(x).shape == (2, 3, 4)


def test_nan_traces_give_nan_rows_only():
    rng = np.random.default_rng(1)
    x = rng.poisson(4.0, size=(4, 3, 2, 12)).astype(float)
    x[2, 1, 0, 5] = np.nan
    s = Mean() + Std() + AutoCorrelation(lags=(1,)) + Burstiness() + CrossCorrelation() + FinalValue() \
        + Quantiles()
    out = s(x)
    assert out.shape == (4, len(s.names))
    assert np.all(np.isnan(out[2]))
    assert np.all(np.isfinite(out[[0, 1, 3]]))
    per = (Mean(reduce="none") + Std(reduce="none"))(x)
    assert per.shape == (4, 3, 4)
    assert np.all(np.isnan(per[2, 1])) and np.all(np.isfinite(per[2, [0, 2]]))


def test_combine_with_plus_and_pickle():
    x = np.random.default_rng(2).poisson(3.0, size=(3, 2, 2, 10)).astype(float)
    a, b = Mean(species=("U", "V")), Burstiness(species=("U", "V"))
    c = a + b + FinalValue(species=("U", "V"))
    assert isinstance(c, CombinedSummary) and len(c.parts) == 3
    np.testing.assert_allclose(c(x), np.concatenate([a(x), b(x), FinalValue()(x)], axis=1))
    assert c.names == ["U__mean", "V__mean", "U__burstiness", "V__burstiness",
                       "U__final_mean", "U__final_var", "V__final_mean", "V__final_var"]
    again = pickle.loads(pickle.dumps(c))
    np.testing.assert_array_equal(again(x), c(x))
    with pytest.raises(ValueError, match="different reduce modes"):
        Mean() + Std(reduce="none")


def test_registry_and_make_summary():
    assert set(SUMMARIES) >= {"mean", "std", "quantiles", "autocorrelation", "burstiness", "crosscorrelation",
                              "final_value", "identity", "tsfresh"}
    assert isinstance(get_summary("autocorrelation", lags=(3,)), AutoCorrelation)
    with pytest.raises(ValueError, match="unknown summary 'fourier'"):
        get_summary("fourier")
    s = make_summary(["mean", {"name": "autocorrelation", "lags": [1]}], species=["U", "V"])
    assert s.names == ["U__mean", "V__mean", "U__autocorr_1", "V__autocorr_1"]


def test_bad_traces_shape():
    with pytest.raises(ValueError, match=r"shape \(n, r, S, T\).*\(3, 4\)"):
        Mean()(np.zeros((3, 4)))
    # (r, S, T) is one point
    assert Mean()(np.ones((2, 3, 5))).shape == (1, 3)


def test_tsfresh_minimal_columns_dropped_constant_and_stable():
    rng = np.random.default_rng(0)
    x = rng.poisson(5.0, size=(4, 2, 2, 15)).astype(float)
    x[:, :, 1, :] += np.arange(15)  # V trends upward
    x[3, 0, 0, 0] = np.nan          # a failed point
    ts = TSFresh("minimal", species=("U", "V"))
    out = ts(x)  # unfitted: fits on the first call
    names = ts.names
    # the length of every series is the same: dropped as constant, with a record
    assert ts.dropped_ == {"U__length": "constant", "V__length": "constant"}
    assert names[0].startswith("U__") and names[-1].startswith("V__")
    assert {"U__mean", "U__standard_deviation", "V__maximum", "V__median"} <= set(names)
    assert out.shape == (4, len(names)) == (4, 18)
    assert np.all(np.isnan(out[3])) and np.all(np.isfinite(out[:3]))
    # tsfresh's mean agrees with the numpy built-in
    np.testing.assert_allclose(out[:3, names.index("U__mean")], Mean()(x)[:3, 0])
    np.testing.assert_allclose(out[:3, names.index("V__maximum")], x[:3, :, 1].max(axis=-1).mean(axis=1))
    # later calls give the same columns; the fitted object pickles (it runs in Dask tasks)
    again = pickle.loads(pickle.dumps(ts))
    y = x[:2] * 2.0
    np.testing.assert_allclose(again(y), out[:2] * np.where(
        np.char.endswith(np.array(names), "variance"), 4.0, 2.0))
    with pytest.raises(ValueError, match="not fitted"):
        TSFresh().transform(x)


def test_unknown_names_are_an_attribute_and_value_error_and_fit_binds_them():
    from sciope_abs.summaries import NamesUnknownError

    s = Mean() + MeanTrajectory()
    assert getattr(s, "names", None) is None  # what callers probing for names rely on
    with pytest.raises(ValueError, match="species unknown"):
        Mean().names
    with pytest.raises(NamesUnknownError):
        TSFresh().names
    x = np.ones((2, 1, 2, 3))
    assert s.fit(x) is s
    assert s.names == ["s0__mean", "s1__mean", "s0__t0", "s0__t1", "s0__t2", "s1__t0", "s1__t1", "s1__t2"]
