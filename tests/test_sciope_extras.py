"""The smaller Sciope 0.4 parts: kernel PCA among the reductions, the naive squared distance and
z-score / robust / IQR outlier flagging in stored simulation sets."""
import numpy as np
import pytest

from sciope_abs.distances import DISTANCES, Euclidean, NaiveSquared, get_distance
from sciope_abs.exploration.reduction import REDUCTIONS, reduce
from sciope_abs.store import load_simulations, save_simulations
from sciope_abs.store.outliers import flag_outliers


def _rings(n=300, seed=0):
    """Two concentric noisy circles (radius 0.3 and 1): separable by radius, not by any line."""
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, 2, n)
    r = np.where(lab == 1, 0.3, 1.0) + 0.05 * rng.standard_normal(n)
    a = rng.uniform(0, 2 * np.pi, n)
    return np.c_[r * np.cos(a), r * np.sin(a)], lab


def _best_threshold_accuracy(x, lab):
    """Accuracy of the best single threshold on one coordinate (either direction)."""
    best = 0.0
    for v in np.quantile(x, np.linspace(0.02, 0.98, 97)):
        acc = np.mean((x > v) == lab)
        best = max(best, acc, 1 - acc)
    return best


def test_kernel_pca_separates_what_pca_cannot():
    x, lab = _rings()
    assert "kpca" in REDUCTIONS
    kp = reduce(x, "kpca", scale="none", gamma=10.0)
    pc = reduce(x, "pca", scale="none")
    assert kp.shape == pc.shape == (300, 2)
    acc_k = max(_best_threshold_accuracy(kp[:, j], lab) for j in range(2))
    acc_p = max(_best_threshold_accuracy(pc[:, j], lab) for j in range(2))
    # one threshold on a rotation of the rings gets ~0.75 (half the outer ring lies beyond it)
    assert acc_k > 0.95 and acc_p < 0.8, (acc_k, acc_p)
    # deterministic, NaN rows kept NaN
    np.testing.assert_array_equal(kp, reduce(x, "kpca", scale="none", gamma=10.0))
    x2 = x.copy()
    x2[3] = np.nan
    out = reduce(x2, "kpca", gamma=1.0)
    assert np.isnan(out[3]).all() and np.isfinite(np.delete(out, 3, axis=0)).all()
    with pytest.raises(ValueError, match="kernel must be"):
        reduce(x, "kpca", kernel="laplace")
    with pytest.raises(ValueError, match="gamma"):
        reduce(x, "kpca", gamma=-1.0)


def test_naive_squared_is_the_squared_euclidean():
    obs = np.array([1.0, 2.0, 3.0])
    sim = np.array([[1.0, 2.0, 3.0], [2.0, 0.0, 3.0], [np.nan, 0.0, 0.0]])
    d = get_distance("naive_squared")(obs, sim)
    np.testing.assert_allclose(d[:2], [0.0, 5.0])
    assert d[2] == np.inf
    np.testing.assert_allclose(d[:2], Euclidean()(obs, sim[:2]) ** 2)
    np.testing.assert_allclose(NaiveSquared().components(obs, sim[:2]), [[0, 0, 0], [1, 4, 0]])
    assert DISTANCES["naive_squared"] is NaiveSquared


def test_outliers_in_a_stored_simulation_set(tmp_path):
    rng = np.random.default_rng(1)
    n, r, S, T = 60, 3, 2, 11
    traces = rng.poisson(20.0, size=(n, r, S, T)).astype(float)
    traces[7, :, 0] += 200.0           # one point far off in species A
    traces[12, :, 1, -1] = 500.0       # one point with an extreme final value of B
    traces[20] = np.nan                # a failed simulation
    theta = rng.uniform(0, 1, (n, 2))
    path = save_simulations(tmp_path / "s.zarr", traces, theta, param_names=["k1", "k2"], species=["A", "B"],
                            timespan=np.linspace(0, 10, T))
    sims = load_simulations(path)
    rep = flag_outliers(sims)
    assert rep.columns == ["A__mean", "B__mean", "A__final", "B__final"]
    assert set(rep.rows) == {7, 12}
    assert rep.mask[7, 0] and rep.mask[12, 3] and not rep.mask[12, 0]
    assert list(rep.nonfinite) == [20] and np.isnan(rep.scores[20]).all()
    assert rep.counts()["A__mean"] == 1
    for method in ("robust", "iqr"):
        assert {7, 12} <= set(flag_outliers(sims, method=method).rows)
    # a custom summary of the traces
    rep2 = flag_outliers(sims, summary=lambda x: x.max(axis=(1, 2, 3))[:, None])
    assert 12 in rep2.rows and rep2.columns == ["f0"]


def test_outlier_rules_by_hand_and_bad_input():
    x = np.r_[np.zeros(19), 10.0]           # z of the last value: (10 - 0.5) / sd
    sd = x.std()
    rep = flag_outliers(x)
    assert rep.scores[-1, 0] == pytest.approx((10 - 0.5) / sd) and list(rep.rows) == [19]
    # fewer than 11 points can never exceed |z| = 3 ((n - 1) / sqrt(n) <= 3)
    assert flag_outliers(np.r_[np.zeros(9), 1e6]).rows.size == 0
    assert list(flag_outliers(np.r_[np.zeros(9), 1e6], method="robust").rows) == [9]
    with pytest.raises(ValueError, match="method"):
        flag_outliers(x, method="grubbs")
    with pytest.raises(ValueError, match="n >= 3"):
        flag_outliers(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="summary= applies"):
        flag_outliers(x, summary=np.mean)
