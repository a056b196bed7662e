"""The Posterior result: weighted statistics, resampling, conversions, persistence, plotting."""
import numpy as np
import pytest

from sciope_abs.inference import Posterior, weighted_quantile


def _linear_density_posterior(n=20001):
    """Samples on a grid of [0, 1] weighted by x: density 2x, CDF x^2, quantile sqrt(q)."""
    x = np.linspace(0, 1, n)
    return Posterior(np.stack([x, 1 - x], axis=1), ["a", "b"], weights=x, distances=1 - x,
                     summaries=np.stack([x, x ** 2], axis=1), summary_names=["s__mean", "s__var"],
                     history=[{"round": 0, "tolerance": 1.0, "acceptance_rate": 0.5, "ess": 3.0,
                               "n_simulations": 10, "wall_time": 0.1}],
                     message="done", method="smc", info={"n_simulations": 10, "tolerance": 1.0})


def test_weighted_mean_std_and_ess_match_closed_form():
    p = Posterior([[0.0], [1.0]], ["a"], weights=[1, 3])
    np.testing.assert_allclose(p.weights, [0.25, 0.75])
    np.testing.assert_allclose(p.mean(), [0.75])
    np.testing.assert_allclose(p.std(), [np.sqrt(0.75 * 0.25)])
    assert p.ess == pytest.approx(1 / (0.25 ** 2 + 0.75 ** 2))


def test_credible_interval_is_weighted():
    p = _linear_density_posterior()
    ci = p.credible_interval(0.95)
    assert ci.shape == (2, 2)
    # a: density 2x -> quantile sqrt(q); b = 1 - a
    np.testing.assert_allclose(ci[0], [np.sqrt(0.025), np.sqrt(0.975)], atol=2e-3)
    np.testing.assert_allclose(ci[1], [1 - np.sqrt(0.975), 1 - np.sqrt(0.025)], atol=2e-3)
    # the unweighted interval of the same grid would be (0.025, 0.975): clearly different
    assert abs(ci[0, 0] - 0.025) > 0.1
    np.testing.assert_allclose(p.mean(), [2 / 3, 1 / 3], atol=1e-4)
    np.testing.assert_allclose(p.std()[0], np.sqrt(1 / 2 - 4 / 9), atol=1e-4)


def test_weighted_quantile_equal_weights_is_the_midpoint_rule():
    x = np.arange(1.0, 11.0)
    assert weighted_quantile(x, 0.5) == pytest.approx(5.5)
    assert weighted_quantile(x, 0.05) == pytest.approx(1.0)


def test_sample_is_weighted_and_seeded():
    p = _linear_density_posterior()
    a = p.sample(4000, seed=3)
    b = p.sample(4000, seed=3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (4000, 2)
    # resampled mean estimates the weighted mean (2/3), not the unweighted one (1/2)
    se = np.sqrt(1 / 18) / np.sqrt(4000)
    assert abs(a[:, 0].mean() - 2 / 3) < 4 * se
    assert not np.array_equal(a, p.sample(4000, seed=4))


def test_to_pandas_and_history_frame():
    p = _linear_density_posterior(11)
    df = p.to_pandas()
    assert list(df.columns) == ["a", "b", "weight", "distance"]
    assert len(df) == 11 and df["weight"].sum() == pytest.approx(1.0)
    assert p.history_frame()["n_simulations"].tolist() == [10]
    assert list(p.describe().index) == ["a", "b"]


def test_save_load_round_trip(tmp_path):
    p = _linear_density_posterior(101)
    path = p.save(tmp_path / "post")
    assert path.suffix == ".npz"
    q = Posterior.load(path)
    np.testing.assert_array_equal(q.samples, p.samples)
    np.testing.assert_array_equal(q.weights, p.weights)
    np.testing.assert_array_equal(q.distances, p.distances)
    np.testing.assert_array_equal(q.summaries, p.summaries)
    assert q.names == p.names and q.summary_names == p.summary_names
    assert q.history == p.history and q.message == "done" and q.method == "smc"
    assert q.n_simulations == 10 and q.tolerance == 1.0
    with pytest.raises(FileNotFoundError):
        Posterior.load(tmp_path / "missing.npz")


def test_to_arviz_resamples_weighted_posteriors():
    az = pytest.importorskip("arviz")
    p = _linear_density_posterior(2001)
    idata = p.to_arviz(seed=1)
    assert isinstance(idata, az.InferenceData)
    a = idata.posterior["a"].values
    assert a.shape == (1, 2001)
    # weighted resampling: mean near 2/3 (equal-weight draws would give 1/2)
    assert abs(a.mean() - 2 / 3) < 4 * np.sqrt(1 / 18 / 2001)
    eq = Posterior(np.arange(6.0).reshape(3, 2), ["x", "y"], distances=[0.1, 0.2, 0.3])
    idata = eq.to_arviz()
    np.testing.assert_array_equal(idata.posterior["y"].values[0], [1.0, 3.0, 5.0])
    np.testing.assert_array_equal(idata.sample_stats["distance"].values[0], [0.1, 0.2, 0.3])


def test_plot_marks_the_truth():
    from bokeh.models import Span

    p = _linear_density_posterior(201)
    grid = p.plot(truth={"a": 0.7, "b": 0.3})
    figs = [child[0] for child in grid.children]
    spans = [r for f in figs for r in f.center if isinstance(r, Span)]
    assert sorted(s.location for s in spans) == [0.3, 0.7]
    assert len(figs) == 3  # 2 marginals + 1 pairwise scatter
    with pytest.raises(ValueError, match="missing parameters"):
        p.plot(truth={"a": 1.0})


def test_bad_input_and_empty_posterior():
    with pytest.raises(ValueError, match="shape"):
        Posterior(np.zeros((3, 2)), ["a"])
    with pytest.raises(ValueError, match="weights"):
        Posterior(np.zeros((3, 1)), ["a"], weights=[1, -1, 1])
    e = Posterior(np.zeros((0, 2)), ["a", "b"], message="nothing accepted")
    assert len(e) == 0 and np.isnan(e.mean()).all() and e.ess == 0.0
    with pytest.raises(ValueError, match="empty posterior"):
        e.sample(3)
    with pytest.raises(ValueError, match="level"):
        _linear_density_posterior(11).credible_interval(1.5)
