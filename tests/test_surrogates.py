"""Surrogates (GP, SVR, MLP ensemble): calibrated GP intervals on a smooth function, every
surrogate beats the constant predictor, one interface, and their use on sweeps / active learning."""
import numpy as np
import pytest

from sciope_abs.surrogates import (SURROGATES, ANNSurrogate, GPSurrogate, SVMSurrogate, as_surrogate,
                                   get_surrogate)
from sciope_abs.exploration.active import suggest_by_surrogate
from sciope_abs.exploration.surrogate_predict import fit_surrogate, predict_features

NOISE = 0.1


def _f(x):
    return np.sin(3 * x[:, 0]) + 0.5 * np.cos(2 * x[:, 1])


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (80, 2))
    xt = rng.uniform(-1, 1, (400, 2))
    return x, _f(x) + NOISE * rng.standard_normal(80), xt, _f(xt) + NOISE * rng.standard_normal(400)


@pytest.fixture(scope="module")
def gp(data):
    x, y, _, _ = data
    return GPSurrogate(seed=0).fit(x, y)


def test_gp_interval_covers_95_percent_of_held_out_points():
    # 4 independent data sets of 150 noisy points, 400 held-out points each, pooled
    hits, hits_no_noise, noise = [], [], []
    for k in range(4):
        rng = np.random.default_rng(100 + k)
        x, xt = rng.uniform(-1, 1, (150, 2)), rng.uniform(-1, 1, (400, 2))
        y, yt = _f(x) + NOISE * rng.standard_normal(150), _f(xt) + NOISE * rng.standard_normal(400)
        g = GPSurrogate(seed=k, n_restarts=0).fit(x, y)
        mean, std = g.predict(xt, return_std=True)
        assert mean.shape == std.shape == (400,)
        hits.append(np.abs(yt - mean) <= 1.959964 * std)
        g.include_noise = False
        hits_no_noise.append(np.abs(yt - mean) <= 1.959964 * g.predict(xt, return_std=True)[1])
        noise.append(g.noise_std()[0])
    cover = np.mean(hits)
    # binomial sd of a 95% coverage over 1600 points is 0.0054 (4 sd = 0.022), plus 0.03 for the
    # maximum-likelihood noise estimate from 150 points (sd ~6%: a 6% low noise costs ~1.5 points)
    tol = 4 * np.sqrt(0.95 * 0.05 / 1600) + 0.03
    assert abs(cover - 0.95) < tol, cover
    assert abs(np.mean(noise) - NOISE) < 0.15 * NOISE
    # the interval of the mean function alone (no noise) misses most noisy points: the check bites
    assert np.mean(hits_no_noise) < 0.95 - tol


@pytest.mark.parametrize("name", ["gp", "svm", "ann"])
def test_every_surrogate_beats_the_constant_predictor(name, data, gp):
    x, y, xt, yt = data
    model = gp if name == "gp" else get_surrogate(name, seed=0).fit(x, y)
    const_mse = np.mean((yt - y.mean()) ** 2)
    mse = np.mean((yt - model.predict(xt)) ** 2)
    # the noise floor is NOISE^2 = 0.01, the constant predictor's error ~0.6
    assert mse < 0.1 * const_mse, (name, mse, const_mse)
    assert model.score(xt, yt) > 0.9
    # R^2 of the constant predictor itself is <= 0 on the test set: the baseline the score beats
    assert 1 - np.sum((yt - y.mean()) ** 2) / np.sum((yt - yt.mean()) ** 2) <= 0


def test_multi_output_shapes_and_units(data):
    x, y, xt, yt = data
    Y = np.c_[y, 100.0 * y + 5.0]
    for model in (GPSurrogate(seed=1, n_restarts=0), ANNSurrogate(seed=1, n_members=3)):
        model.fit(x, Y)
        mean, std = model.predict(xt, return_std=True)
        assert mean.shape == std.shape == (400, 2)
        assert np.all(std >= 0)
        # predictions come back in each column's own units
        assert np.allclose(mean[:, 1], 100 * mean[:, 0] + 5, atol=0.15 * 100 * np.std(y))
        assert model.score(xt, np.c_[yt, 100 * yt + 5]) > 0.9
    with pytest.raises(ValueError, match="no predictive uncertainty"):
        SVMSurrogate(seed=0).fit(x, y).predict(xt, return_std=True)
    with pytest.raises(ValueError, match="no predictive uncertainty"):
        ANNSurrogate(n_members=1, seed=0).fit(x, y).predict(xt, return_std=True)


def test_seeded_fit_is_reproducible_and_nan_rows_are_dropped(data):
    x, y, xt, _ = data
    y2 = y.copy()
    y2[:5] = np.nan
    a = ANNSurrogate(seed=3, n_members=2).fit(x, y2)
    b = ANNSurrogate(seed=3, n_members=2).fit(x[5:], y[5:])
    assert a.n_dropped_ == 5 and b.n_dropped_ == 0
    assert np.array_equal(a.predict(xt), b.predict(xt))


def test_bad_input_is_refused(data, gp):
    x, y, _, _ = data
    with pytest.raises(ValueError, match="not fitted"):
        GPSurrogate().predict(x)
    with pytest.raises(ValueError, match="to match theta"):
        GPSurrogate().fit(x, y[:10])
    with pytest.raises(ValueError, match="NaN or inf"):
        GPSurrogate().fit(np.where(x > 0.9, np.nan, x), y)
    with pytest.raises(ValueError, match="fitted on 2"):
        gp.predict(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="unknown surrogate"):
        get_surrogate("kriging")
    with pytest.raises(ValueError, match="fit\\(\\) and predict"):
        as_surrogate(42)
    assert set(SURROGATES) == {"gp", "svm", "ann"}


def test_fantasize_shrinks_the_uncertainty_only_near_the_new_point(gp):
    p = np.array([[0.95, -0.95]])
    far = np.array([[-0.9, 0.9]])
    g2 = gp.fantasize(p)
    assert g2.predict(p, return_std=True)[1][0] < gp.predict(p, return_std=True)[1][0]
    assert g2.predict(far, return_std=True)[1][0] == pytest.approx(gp.predict(far, return_std=True)[1][0], rel=0.05)
    assert g2.predict(p)[0] == pytest.approx(gp.predict(p)[0], abs=1e-6)


def test_sweep_prediction_and_surrogate_active_learning():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from _toy_models import GaussianSimulator, MeanStdSummary

    from sciope_abs.exploration import Sweep

    # a real sweep: mean and std of 16 N(mu, exp(log_sigma)^2) draws, 40 points over the box
    sim = GaussianSimulator(T=16, two_params=True)
    theta = np.random.default_rng(0).uniform([0.5, 0.0], [4.5, 1.0], (40, 2))
    sweep = Sweep(sim, theta, MeanStdSummary(), seed=1, client="sync").run(40)
    xt = np.random.default_rng(1).uniform([0.5, 0.0], [4.5, 1.0], (200, 2))
    mean, std = predict_features(sweep, xt, surrogate="gp", seed=0, n_restarts=0)
    assert mean.shape == std.shape == (200, 2)
    # the predicted mean feature tracks mu (its expectation), far better than a constant
    assert np.mean((mean[:, 0] - xt[:, 0]) ** 2) < 0.1 * np.var(xt[:, 0])
    s = fit_surrogate(sweep, "gp", columns=["X__mean"], seed=0, n_restarts=0)
    assert list(s.columns_) == [0]
    with pytest.raises(ValueError, match="unknown feature"):
        fit_surrogate(sweep, "gp", columns=["nope"])
    with pytest.raises(ValueError, match="shape"):
        predict_features(sweep, np.zeros((3, 3)), surrogate=s)
    bounds = np.array([[0.5, 4.5], [0.0, 1.0]])
    cand = np.random.default_rng(3).uniform([0.5, 0.0], [4.5, 1.0], (500, 2))
    new = suggest_by_surrogate(s, bounds, 8, seed=1, candidates=cand)
    assert new.shape == (8, 2) and np.all((new >= bounds[:, 0]) & (new <= bounds[:, 1]))
    # the suggestions are where the surrogate is least sure: more uncertain than random points
    rnd = np.random.default_rng(2).uniform([0.5, 0.0], [4.5, 1.0], (500, 2))
    assert s.predict(new, return_std=True)[1].mean() > s.predict(rnd, return_std=True)[1].mean()
    # and spread out by the kriging believer: farther apart than the 8 most uncertain candidates
    top = cand[np.argsort(-s.predict(cand, return_std=True)[1][:, 0])[:8]]

    def spread(p):
        return np.linalg.norm(p[:, None] - p[None], axis=2)[np.triu_indices(8, 1)].mean()

    assert spread(new) > 1.5 * spread(top), (spread(new), spread(top))
    with pytest.raises(ValueError, match="no predictive uncertainty"):
        suggest_by_surrogate(SVMSurrogate(seed=0).fit(sweep.theta, sweep.features), bounds, 3)
