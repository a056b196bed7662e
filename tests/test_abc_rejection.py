"""ABC rejection: correctness on a Gaussian toy with a known posterior, streaming, counting,
reproducibility (in-process and on a real local Dask cluster), budgets and bad input."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _toy_models import (AbsDistance, GaussianSimulator, MeanSummary, NaNSummary,  # noqa: E402
                         gaussian_posterior)

from sciope_abs.distances import Euclidean  # noqa: E402
from sciope_abs.inference import ABCRejection, ABCWarning  # noqa: E402
from sciope_abs.priors import JointPrior, Uniform  # noqa: E402

SIGMA, T = 1.0, 16          # summary = mean of 16 N(mu, 1) values: sd 0.25
LOW, HIGH = -2.0, 4.0


@pytest.fixture(scope="module")
def toy():
    sim = GaussianSimulator(sigma=SIGMA, T=T)
    obs = sim.simulate([[1.3]], n_traj=1, seed=5)[0]          # (r, S, T) raw traces
    prior = JointPrior({"mu": Uniform(LOW, HIGH)})
    return sim, obs, prior


class CountingSimulator(GaussianSimulator):
    """Counts the points it simulates (in-process runs only)."""

    def __init__(self):
        super().__init__(sigma=SIGMA, T=T)
        self.points = 0

    def simulate(self, theta, **kw):
        self.points += np.asarray(theta).shape[0]
        return super().simulate(theta, **kw)


def test_tolerance_rejection_matches_the_analytic_posterior(toy):
    sim, obs, prior = toy
    abc = ABCRejection(sim, prior, MeanSummary(), Euclidean(), observed=obs, client="sync")
    eps, n = 0.1, 600
    post = abc.infer(n, tolerance=eps, seed=11)
    # flat prior, sufficient statistic, uniform acceptance window: N(s_obs, sd^2) convolved with U(-eps, eps)
    mean, sd = gaussian_posterior(abc.s_obs[0], SIGMA, T, eps)
    assert len(post) == n and post.method == "rejection"
    assert (post.distances <= eps).all()
    # tolerances from the sample size: 4 standard errors
    assert abs(post.mean()[0] - mean) < 4 * sd / np.sqrt(n)
    assert abs(post.std()[0] - sd) < 4 * sd / np.sqrt(2 * n)
    # the prior (a wrong answer) is far outside those tolerances
    assert abs(prior.mean()[0] - mean) > 10 * sd / np.sqrt(n) and prior.std()[0] > 3 * sd
    # the acceptance rate is about 2 eps / prior width
    rate = post.history[0]["acceptance_rate"]
    expected = 2 * eps / (HIGH - LOW)
    assert abs(rate - expected) < 5 * np.sqrt(expected / post.n_simulations) + 0.2 * expected
    lo, hi = post.credible_interval(0.95)[0]
    assert lo < mean < hi


def test_quantile_rejection_accepts_the_closest(toy):
    sim, obs, prior = toy
    abc = ABCRejection(sim, prior, MeanSummary(), observed=obs, client="sync")
    post = abc.infer(500, quantile=0.05, seed=2, batch_size=250)
    assert post.n_simulations == 10_000 and len(post) == 500
    assert post.tolerance == pytest.approx(post.distances.max())
    assert post.history[0]["acceptance_rate"] == pytest.approx(0.05)
    mean, sd = gaussian_posterior(abc.s_obs[0], SIGMA, T, post.tolerance)
    assert abs(post.mean()[0] - mean) < 4 * sd / np.sqrt(500)
    assert abs(post.std()[0] - sd) < 4 * sd / np.sqrt(1000)
    # only a budget and a quantile: keep ceil(q * budget)
    post2 = abc.infer(quantile=0.1, max_simulations=1234, seed=2)
    assert post2.n_simulations == 1234 and len(post2) == 124


def test_quantile_round_keeps_what_a_full_sort_keeps():
    """The kept set (with its skip of batches that cannot enter) equals the n closest of all
    proposals by (distance, proposal order): ties on a coarse grid and infinite distances included."""
    from sciope_abs.inference.round import QuantileRound
    from sciope_abs.inference.tasks import ProposalBatch

    rng = np.random.default_rng(4)
    s_obs = np.zeros(1)
    rnd = QuantileRound(n_keep=37, F=1, d_dim=1, distance=AbsDistance(), s_obs=s_obs)
    all_d, all_theta, skipped = [], [], 0
    for k in range(60):
        s = rng.integers(0, 12, size=(25, 1)).astype(float)      # distances 0..11: many ties
        s[rng.random(25) < 0.1] = np.nan                          # infinite distance
        theta = rng.normal(size=(25, 1))
        before = rnd.best["idx"].copy()
        rnd.consume(ProposalBatch(k, theta, np.random.SeedSequence(k)), s)
        skipped += int(np.array_equal(before, rnd.best["idx"]))
        all_d.append(np.where(np.isfinite(s[:, 0]), np.abs(s[:, 0]), np.inf))
        all_theta.append(theta)
    d, theta = np.concatenate(all_d), np.concatenate(all_theta)
    order = np.lexsort((np.arange(d.size), d))[:37]
    np.testing.assert_array_equal(rnd.best["idx"], order)
    np.testing.assert_array_equal(rnd.best["d"], d[order])
    np.testing.assert_array_equal(rnd.best["theta"], theta[order])
    assert rnd.n_sims == 1500 and skipped > 10     # most late batches change nothing


def test_each_result_counted_once_and_stop_at_target(toy):
    _, obs, prior = toy
    sim = CountingSimulator()
    abc = ABCRejection(sim, prior, MeanSummary(), observed=obs, client="sync")
    post = abc.infer(50, tolerance=0.2, seed=4, batch_size=37)
    assert post.n_simulations == sim.points            # reported == simulated == processed
    assert post.n_simulations % 37 == 0               # whole batches only
    assert len(post) == 50
    # it stopped at the batch that reached the target: one batch fewer would not have sufficed
    assert post.history[0]["n_accepted"] == 50
    assert post.info["n_unprocessed"] == 0
    # accepted counts mean what they say: the rate's denominator stops at the 50th acceptance
    h = post.history[0]
    assert h["n_simulations"] - 37 < h["n_evaluated"] <= h["n_simulations"]
    assert h["acceptance_rate"] == pytest.approx(50 / h["n_evaluated"])
    assert post.n_simulations_used == post.n_simulations and post.n_simulations_discarded == 0


def test_same_seed_same_posterior_and_different_seed_differs(toy):
    sim, obs, prior = toy
    abc = ABCRejection(sim, prior, MeanSummary(), observed=obs, client="sync")
    a = abc.infer(100, tolerance=0.2, seed=7, batch_size=40)
    b = abc.infer(100, tolerance=0.2, seed=7, batch_size=40)
    c = abc.infer(100, tolerance=0.2, seed=8, batch_size=40)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert a.n_simulations == b.n_simulations
    assert not np.array_equal(a.samples, c.samples)


def test_nan_summaries_are_rejected_and_counted(toy):
    sim, obs, prior = toy
    # summaries are NaN whenever the simulated mean exceeds 2.0 (about a third of the prior)
    abc = ABCRejection(sim, prior, NaNSummary(cut=2.0), AbsDistance(), observed=obs, client="sync")
    post = abc.infer(200, tolerance=0.15, seed=3)
    n_nan = post.info["n_nan"]
    assert len(post) == 200 and np.isfinite(post.distances).all()
    frac = n_nan / post.n_simulations
    assert abs(frac - 2.0 / 6.0) < 5 * np.sqrt(frac * (1 - frac) / post.n_simulations)
    assert post.history[0]["n_nan"] == n_nan


def test_unreachable_tolerance_ends_by_budget_with_message(toy):
    sim, obs, prior = toy
    abc = ABCRejection(sim, prior, MeanSummary(), observed=obs, client="sync")
    with pytest.warns(ABCWarning, match="budget"):
        post = abc.infer(10, tolerance=0.0, max_simulations=450, seed=1, batch_size=100)
    assert post.n_simulations == 450 and len(post) == 0
    assert "simulation budget of 450" in post.message and "0 of 10" in post.message
    with pytest.warns(ABCWarning, match="wall-clock"):
        post = abc.infer(10, tolerance=0.0, max_time=0.3, seed=1, batch_size=50)
    assert len(post) == 0 and post.n_simulations > 0 and post.info["reason"] == "time"


def test_bad_input(toy):
    sim, obs, prior = toy
    with pytest.raises(ValueError, match=r"simulator produces \(r, 1, 16\)"):
        ABCRejection(sim, prior, MeanSummary(), observed=np.zeros((2, 2, T)))
    with pytest.raises(ValueError, match="summary vector"):
        ABCRejection(sim, prior, MeanSummary(), observed=np.zeros((4, T)))
    with pytest.raises(ValueError, match="one data set"):
        ABCRejection(sim, prior, MeanSummary(), observed=np.zeros((2, 3, 1, T)))
    with pytest.raises(ValueError, match="2 values but the summary has 1"):
        ABCRejection(sim, prior, MeanSummary(), observed=np.zeros(2))
    with pytest.raises(ValueError, match="do not match"):
        ABCRejection(sim, JointPrior({"nu": Uniform(0, 1)}), MeanSummary(), observed=obs)
    abc = ABCRejection(sim, prior, MeanSummary(), observed=obs, client="sync")
    with pytest.raises(ValueError, match="exactly one of tolerance"):
        abc.infer(10)
    with pytest.raises(ValueError, match="exactly one of tolerance"):
        abc.infer(10, tolerance=1.0, quantile=0.1)
    with pytest.raises(ValueError, match="quantile"):
        abc.infer(10, quantile=1.5)
    with pytest.raises(ValueError, match="batch_size"):
        abc.infer(10, tolerance=1.0, batch_size=0)


@pytest.fixture(scope="module")
def cluster_client():
    """A real 2-worker LocalCluster; workers import the toy models from tests/."""
    from _engine_helpers import tests_cluster

    client = tests_cluster()
    return client


def test_local_cluster_gives_the_in_process_answer(toy, cluster_client):
    sim, obs, prior = toy
    kw = dict(tolerance=0.2, seed=21, batch_size=60)
    sync = ABCRejection(sim, prior, MeanSummary(), observed=obs, client="sync").infer(60, **kw)
    dist = ABCRejection(sim, prior, MeanSummary(), observed=obs, client=cluster_client).infer(60, **kw)
    np.testing.assert_array_equal(dist.samples, sync.samples)
    np.testing.assert_array_equal(dist.distances, sync.distances)
    assert dist.n_simulations == sync.n_simulations
    # results that arrived after the stopping batch were discarded, not counted
    assert dist.n_simulations + dist.info["n_unprocessed"] >= sync.n_simulations
