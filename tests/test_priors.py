"""Priors: densities against scipy.stats, sampling moments, support, validation."""
import math

import numpy as np
import pytest
import scipy.stats as st

from sciope_abs.priors import JointPrior, LogUniform, Normal, Uniform, as_prior

N = 20000  # samples for moment checks; tolerances are 5 standard errors


def _check_moments(x, mean, std):
    se_mean = std / math.sqrt(len(x))
    assert abs(x.mean() - mean) < 5 * se_mean
    # standard error of the sample std ~ std / sqrt(2 n) (normal approx; generous factor for tails)
    assert abs(x.std() - std) < 8 * std / math.sqrt(2 * len(x))


@pytest.mark.parametrize("dist, ref", [
    (Uniform(-1.0, 3.0), st.uniform(-1.0, 4.0)),
    (LogUniform(0.01, 10.0), st.loguniform(0.01, 10.0)),
    (Normal(2.0, 0.5), st.norm(2.0, 0.5)),
    (Normal(0.0, 1.0, low=0.5, high=2.0), st.truncnorm(0.5, 2.0)),
    (Normal(1.0, 2.0, low=0.0), st.truncnorm(-0.5, np.inf, loc=1.0, scale=2.0)),
    (Normal(0.0, 1.0, low=6.0, high=7.0), st.truncnorm(6.0, 7.0)),  # far tail: normalisation in log space
])
def test_log_prob_matches_scipy_and_moments(dist, ref):
    lo, hi = dist.support
    grid = np.linspace(max(lo, -5), min(hi, 9), 41)[1:-1]
    np.testing.assert_allclose(dist.log_prob(grid), ref.logpdf(grid), rtol=1e-9, atol=1e-9)
    # densities integrate to one (truncated normal renormalised)
    a, b = dist.bounds
    xs = np.linspace(a, b, 200001)
    assert abs(np.trapezoid(np.exp(dist.log_prob(xs)), xs) - 1.0) < 2e-3
    x = dist.sample(N, seed=3)
    assert x.shape == (N,)
    assert np.all((x >= lo) & (x <= hi))
    _check_moments(x, ref.mean(), ref.std())
    assert dist.mean() == pytest.approx(ref.mean(), rel=1e-9, abs=1e-12)
    assert dist.std() == pytest.approx(ref.std(), rel=1e-9)
    u = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(dist.ppf(u), ref.ppf(u), rtol=1e-8)


def test_outside_support_is_minus_inf():
    assert np.all(np.isneginf(Uniform(0, 1).log_prob([-0.1, 1.1])))
    assert np.all(np.isneginf(LogUniform(1, 2).log_prob([0.5, 0.0, -1.0, 3.0])))
    assert np.all(np.isneginf(Normal(0, 1, low=0).log_prob([-1e-9, -3.0])))
    assert np.isfinite(Normal(0, 1).log_prob([30.0])).all()


def test_bad_parameters_raise_one_line_value_error():
    for make, word in [(lambda: Uniform(2, 1), "low must be < high"),
                       (lambda: Uniform(1, 1), "low must be < high"),
                       (lambda: LogUniform(0, 1), "low must be > 0"),
                       (lambda: Normal(0, 0), "std must be > 0"),
                       (lambda: Normal(0, -1), "std must be > 0"),
                       (lambda: Normal(0, 1, low=1, high=0), "low must be < high"),
                       (lambda: JointPrior({}), "at least one"),
                       (lambda: JointPrior({"a": "uniform"}), "'a'"),
                       (lambda: JointPrior.from_bounds(["a", "a"], [0, 0], [1, 1]), "unique"),
                       (lambda: JointPrior.from_bounds(["a", "b"], [0, 2], [1, 1]), "'b'")]:
        with pytest.raises(ValueError, match=word) as info:
            make()
        assert "\n" not in str(info.value)


def test_joint_prior_sums_and_shapes():
    prior = JointPrior({"k1": Uniform(0, 2), "k2": LogUniform(0.1, 10), "k3": st.gamma(3.0, scale=0.5)})
    assert prior.names == ["k1", "k2", "k3"] and prior.ndim == 3
    theta = prior.sample(500, seed=0)
    assert theta.shape == (500, 3)
    lp = prior.log_prob(theta)
    expected = (st.uniform(0, 2).logpdf(theta[:, 0]) + st.loguniform(0.1, 10).logpdf(theta[:, 1])
                + st.gamma(3.0, scale=0.5).logpdf(theta[:, 2]))
    np.testing.assert_allclose(lp, expected, rtol=1e-10)
    # one point of shape (d,) works, and a point outside gives -inf
    assert prior.log_prob(theta[0]).shape == (1,)
    assert np.isneginf(prior.log_prob([[3.0, 1.0, 1.0]]))[0]
    assert np.isneginf(prior.log_prob([[np.nan, 1.0, 1.0]]))[0]
    b = prior.bounds
    assert b.shape == (3, 2) and np.all(np.isfinite(b))
    assert b[0].tolist() == [0, 2] and b[2, 0] == 0.0 and b[2, 1] > st.gamma(3.0, scale=0.5).ppf(0.999999)
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        prior.log_prob(np.zeros((4, 2)))


def test_sampling_is_seeded():
    prior = JointPrior({"a": Uniform(0, 1), "b": Normal(0, 1)})
    np.testing.assert_array_equal(prior.sample(10, seed=7), prior.sample(10, seed=7))
    assert not np.array_equal(prior.sample(10, seed=7), prior.sample(10, seed=8))
    ss = np.random.SeedSequence(5)
    np.testing.assert_array_equal(prior.sample(4, seed=ss), prior.sample(4, seed=np.random.SeedSequence(5)))


def test_ppf_maps_unit_cube_and_validates():
    prior = JointPrior({"a": Uniform(1, 3), "b": LogUniform(1, 100)})
    out = prior.ppf([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]])
    np.testing.assert_allclose(out, [[1, 1], [2, 10], [3, 100]])
    with pytest.raises(ValueError, match="unit interval"):
        prior.ppf([[1.5, 0.2]])


def test_uniform_around_and_select():
    prior = JointPrior.uniform_around({"alpha1": 1.0, "beta": 2.0}, 0.1, 2.0)
    np.testing.assert_allclose(prior.bounds, [[0.1, 2.0], [0.2, 4.0]])
    with pytest.raises(ValueError, match="positive"):
        JointPrior.uniform_around({"a": -1.0})
    sel = prior.select(["beta", "alpha1"])
    assert sel.names == ["beta", "alpha1"]
    np.testing.assert_allclose(sel.bounds, [[0.2, 4.0], [0.1, 2.0]])
    with pytest.raises(ValueError, match="'mu'"):
        prior.select(["mu"])
    assert as_prior(Uniform(0, 1), names=["k"]).names == ["k"]
    with pytest.raises(ValueError, match="do not match"):
        as_prior(prior, names=["alpha1", "gamma"])
    p = JointPrior.from_bounds(["x"], [1e-3], [1.0], log=True)
    assert isinstance(p["x"], LogUniform)


def test_priors_pickle():
    import pickle

    prior = JointPrior({"a": Normal(0, 1, low=-1), "b": st.beta(2, 3)})
    again = pickle.loads(pickle.dumps(prior))
    x = prior.sample(5, seed=1)
    np.testing.assert_array_equal(again.log_prob(x), prior.log_prob(x))


def test_from_model_uses_rate_ranges():
    from sciope_abs.crn import load_model

    model = load_model("toggle_switch")
    prior = JointPrior.from_model(model)
    assert prior.names == list(model.rate_ranges)
    np.testing.assert_allclose(prior.bounds, [model.rate_ranges[n] for n in prior.names])
    sub = JointPrior.from_model("toggle_switch", names=["mu", "alpha1"])
    assert sub.names == ["mu", "alpha1"]
    with pytest.raises(ValueError, match=r"\['nope'\] have no range"):
        JointPrior.from_model(model, names=["nope"])
