"""The protocols of sciope_abs.protocols: plain user classes, inheriting nothing from the package,
work in a real ABC run, an SMC-ABC run, a sweep over a design and a combined summary."""
from __future__ import annotations

import numpy as np
import pytest

from sciope_abs.designs import Sobol
from sciope_abs.distances import Euclidean
from sciope_abs.exploration import Sweep
from sciope_abs.inference import ABCRejection, SMCABC
from sciope_abs.priors import JointPrior, Uniform
from sciope_abs.protocols import Design, Distance, Prior, Simulator, Summary
from sciope_abs.summaries import CombinedSummary, Mean, make_summary

MU_TRUE = 3.0
LOW, HIGH = 0.0, 10.0


class PlainSimulator:
    """x = mu + N(0, 1) noise on one species at five time points; no package base class."""

    param_names = ("mu",)
    species = ("X",)

    def __init__(self) -> None:
        self.timespan = np.linspace(0.0, 1.0, 5)

    def simulate(self, theta, *, n_traj=1, seed=None, initial_state=None):
        theta = np.asarray(theta, dtype=np.float64).reshape(-1, 1)
        n = theta.shape[0]
        if isinstance(seed, list):
            seeds = seed  # one SeedSequence per point
        else:
            root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
            seeds = root.spawn(n)
        out = np.empty((n, n_traj, 1, self.timespan.size))
        for i in range(n):
            rng = np.random.default_rng(seeds[i])
            out[i] = theta[i, 0] + rng.standard_normal((n_traj, 1, self.timespan.size))
        return out


class PlainSummary:
    """Mean over realisations and time: (n, r, 1, T) -> (n, 1)."""

    names = ["X__mean"]

    def __call__(self, x):
        return np.asarray(x, dtype=np.float64).mean(axis=(1, 3))


class PlainDistance:
    def __call__(self, s_obs, s_sim):
        return np.abs(np.asarray(s_sim) - np.asarray(s_obs)[None, :]).sum(axis=1)


class PlainPrior:
    """Uniform(0, 10) on mu."""

    names = ["mu"]
    bounds = np.array([[LOW, HIGH]])

    def sample(self, n, seed=None):
        return np.random.default_rng(seed).uniform(LOW, HIGH, size=(int(n), 1))

    def log_prob(self, theta):
        t = np.asarray(theta, dtype=np.float64).reshape(-1)
        return np.where((t >= LOW) & (t <= HIGH), -np.log(HIGH - LOW), -np.inf)


class PlainDesign:
    """A stratified grid with a seeded jitter: point i in [i/n, (i+1)/n) * 10."""

    names = ["mu"]

    def generate(self, n, seed=None):
        u = (np.arange(n) + np.random.default_rng(seed).random(n)) / n
        return (LOW + (HIGH - LOW) * u)[:, None]


def _observed() -> np.ndarray:
    return PlainSimulator().simulate(np.array([[MU_TRUE]]), n_traj=20, seed=123)[0]  # (r, S, T)


def test_plain_classes_conform_and_package_classes_too():
    assert isinstance(PlainSimulator(), Simulator)
    assert isinstance(PlainSummary(), Summary)
    assert isinstance(PlainDistance(), Distance)
    assert isinstance(PlainPrior(), Prior)
    assert isinstance(PlainDesign(), Design)
    prior = JointPrior({"mu": Uniform(LOW, HIGH)})
    assert isinstance(prior, Prior)
    assert isinstance(Sobol(prior), Design)
    assert isinstance(Euclidean(), Distance)
    assert isinstance(Mean(species=["X"]), Summary)
    # an object missing a member is not one
    assert not isinstance(PlainSummary(), Simulator)
    assert not isinstance(object(), Prior)
    assert not isinstance(PlainDistance(), Design)


def test_rejection_with_plain_user_objects():
    obs = _observed()
    abc = ABCRejection(PlainSimulator(), PlainPrior(), PlainSummary(), PlainDistance(), observed=obs,
                       n_traj=20, client="sync")
    post = abc.infer(100, quantile=0.05, seed=7)
    samples = post.samples[:, 0]
    assert samples.shape == (100,)
    assert np.all((samples >= LOW) & (samples <= HIGH))
    # the observation's mean has sd 1/sqrt(100) = 0.1 and the accepted 5 % lie within ~0.25 of it;
    # the prior mean (5) and the prior sd (2.9) are what a run ignoring the data would give
    assert abs(post.mean()[0] - MU_TRUE) < 0.5
    assert post.std()[0] < 0.5


def test_smc_with_plain_user_objects():
    obs = _observed()
    smc = SMCABC(PlainSimulator(), PlainPrior(), PlainSummary(), PlainDistance(), observed=obs,
                 n_traj=20, client="sync")
    post = smc.infer(100, max_rounds=5, seed=11)
    assert post.samples.shape == (100, 1)
    w = np.asarray(post.weights)
    assert w.shape == (100,) and np.all(w >= 0) and abs(w.sum() - 1.0) < 1e-9
    assert abs(post.mean()[0] - MU_TRUE) < 0.5
    assert post.std()[0] < 0.5


def test_sweep_over_a_plain_design():
    sweep = Sweep(PlainSimulator(), PlainDesign(), PlainSummary(), n_traj=4, seed=3, client="sync")
    sweep.extend(20)
    assert sweep.theta.shape == (20, 1)
    # one design point per stratum [i/2, (i+1)/2) of [0, 10]
    assert np.array_equal(np.floor(np.sort(sweep.theta[:, 0]) / 0.5), np.arange(20))
    assert sweep.feature_names == ["X__mean"]
    # features follow the design: the mean of 4 x 5 unit-noise draws is within 5 sd (5 / sqrt(20)) of mu
    assert np.all(np.abs(sweep.features[:, 0] - sweep.theta[:, 0]) < 5 / np.sqrt(20))
    again = Sweep(PlainSimulator(), PlainDesign(), PlainSummary(), n_traj=4, seed=3, client="sync")
    again.extend(20)
    assert np.array_equal(again.features, sweep.features)


def test_plain_summary_combines_with_package_summaries():
    x = PlainSimulator().simulate(np.array([[1.0], [4.0]]), n_traj=3, seed=1)
    builtin = Mean(species=["X"])
    for combined in (PlainSummary() + builtin, builtin + PlainSummary()):
        assert isinstance(combined, CombinedSummary)
        out = combined(x)
        assert out.shape == (2, 2)
        assert sorted(combined.names) == sorted(["X__mean"] + builtin.names)
    combined = builtin + PlainSummary()
    np.testing.assert_allclose(combined(x)[:, 1], PlainSummary()(x)[:, 0])
    plain = PlainSummary()
    assert make_summary(plain) is plain
    with pytest.raises(ValueError, match="can only combine summaries"):
        CombinedSummary([builtin, 3.0])
