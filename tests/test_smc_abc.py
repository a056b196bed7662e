"""SMC-ABC: Gaussian toy with a known posterior (1 and 2 parameters), importance weights checked
against an independent computation, every stopping rule, resume == uninterrupted, kernel."""
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import multivariate_normal

sys.path.insert(0, str(Path(__file__).parent))
import _toy_models  # noqa: E402
from _toy_models import (GaussianSimulator, MeanStdSummary, MeanSummary, SimulatorCrash,  # noqa: E402
                         gaussian_posterior)

from sciope_abs.distances import Adaptive, Euclidean  # noqa: E402
from sciope_abs.inference import SMCABC, ABCWarning, MultivariateNormalKernel, Posterior  # noqa: E402
from sciope_abs.priors import JointPrior, Uniform  # noqa: E402

SIGMA, T = 1.0, 16


@pytest.fixture(scope="module")
def toy():
    sim = GaussianSimulator(sigma=SIGMA, T=T)
    obs = sim.simulate([[1.3]], n_traj=1, seed=5)[0]
    prior = JointPrior({"mu": Uniform(-2.0, 4.0)})
    return sim, obs, prior


def _smc(toy, **kw):
    sim, obs, prior = toy
    return SMCABC(sim, prior, MeanSummary(), Euclidean(), observed=obs, client="sync", **kw)


def test_one_parameter_smc_matches_the_analytic_posterior(toy, tmp_path):
    smc = _smc(toy)
    n = 400
    post = smc.infer(n, target_tolerance=0.05, max_rounds=20, seed=1, batch_size=100, run_dir=tmp_path)
    assert "target tolerance" in post.message
    assert post.history[-1]["tolerance"] == pytest.approx(0.05) and post.tolerance == pytest.approx(0.05)
    mean, sd = gaussian_posterior(smc.s_obs[0], SIGMA, T, 0.05)
    ess = post.ess
    assert 0.3 * n < ess <= n
    assert abs(post.mean()[0] - mean) < 4 * sd / np.sqrt(ess)
    assert abs(post.std()[0] - sd) < 4 * sd / np.sqrt(2 * ess) + 0.02 * sd
    lo, hi = post.credible_interval()[0]
    assert lo < mean < hi
    # tolerance schedule decreases; counts add up
    tols = [h["tolerance"] for h in post.history]
    assert tols[0] == np.inf and all(a > b for a, b in zip(tols[1:], tols[2:]))
    assert post.n_simulations == sum(h["n_simulations"] for h in post.history)
    # on disk: the posterior and one state file per round
    assert Posterior.load(tmp_path / "posterior.npz").n_simulations == post.n_simulations
    assert len(list(tmp_path.glob("round_*.npz"))) == len(post.history)


def test_importance_weights_are_returned_and_correct(toy, tmp_path):
    post = _smc(toy).infer(200, max_rounds=3, seed=2, batch_size=50, run_dir=tmp_path)
    with np.load(tmp_path / "round_001.npz") as z:
        prev_p, prev_w = z["particles"], z["weights"]
    # independent computation: prior(θ) / Σ_j w_j N(θ; θ_j, 2 Cov_w)
    mu = prev_w @ prev_p
    cov = 2 * ((prev_p - mu) * prev_w[:, None]).T @ (prev_p - mu)
    var = cov[0, 0]
    dens = np.exp(-0.5 * (post.samples - prev_p[:, 0][None, :]) ** 2 / var) / np.sqrt(2 * np.pi * var)
    w = (1 / 6.0) / (dens @ prev_w)
    w /= w.sum()
    np.testing.assert_allclose(post.weights, w, rtol=1e-8)
    assert post.weights.max() / post.weights.min() > 1.1     # really non-uniform
    assert post.history[-1]["ess"] == pytest.approx(1 / np.sum(w ** 2))


def test_two_parameters_with_adaptive_distance():
    sim = GaussianSimulator(T=64, two_params=True)
    obs = sim.simulate([[1.0, np.log(2.0)]], seed=9)[0]
    prior = JointPrior({"mu": Uniform(-1.0, 7.0), "log_sigma": Uniform(-2.0, 1.0)})
    smc = SMCABC(sim, prior, MeanStdSummary(), Adaptive(), observed=obs, client="sync")
    post = smc.infer(300, max_rounds=7, seed=4, batch_size=100)
    xbar, s = obs.mean(), obs.std()
    # approximate posterior under a flat prior: mu ~ N(xbar, s^2/64), log sigma ~ N(log s, 1/128)
    truth_mean = np.array([xbar, np.log(s)])
    truth_sd = np.array([s / 8, 1 / np.sqrt(128)])
    err = np.abs(post.mean() - truth_mean)
    assert (err < 0.6 * truth_sd).all(), (post.mean(), truth_mean)
    assert (np.abs(prior.mean() - truth_mean) > 3 * truth_sd).all()   # the prior would fail
    assert (post.std() < 2.5 * truth_sd).all() and (post.std() > 0.5 * truth_sd).all()
    ci = post.credible_interval()
    assert ((ci[:, 0] < truth_mean) & (truth_mean < ci[:, 1])).all()


@pytest.mark.parametrize("rule", ["target", "min_rate", "max_rounds", "budget", "time"])
def test_each_stopping_rule_ends_the_run(toy, rule):
    smc = _smc(toy)
    kw = dict(seed=5, batch_size=50, max_rounds=30, min_acceptance_rate=None, max_simulations=None)
    if rule == "target":
        kw.update(target_tolerance=0.3, min_acceptance_rate=0.001)
        post = smc.infer(100, **kw)
        assert "target tolerance" in post.message and post.tolerance == pytest.approx(0.3)
    elif rule == "min_rate":
        kw.update(min_acceptance_rate=0.25)
        with pytest.warns(ABCWarning, match="min_acceptance_rate"):
            post = smc.infer(100, **kw)
        last = post.history[-1]
        assert not last["complete"]
        # the cut round used at most n / min_rate simulations; the posterior is the round before
        assert last["n_simulations"] <= 400
        assert len(post.history) >= 3 and post.info["n_rounds"] == len(post.history) - 1
        assert post.tolerance == post.history[-2]["tolerance"]
    elif rule == "max_rounds":
        kw.update(max_rounds=3, min_acceptance_rate=0.001)
        post = smc.infer(100, **kw)
        assert "max_rounds=3" in post.message and len(post.history) == 3
    elif rule == "budget":
        kw.update(max_simulations=900)
        post = smc.infer(100, **kw)
        assert post.n_simulations <= 900
        assert "budget of 900" in post.message
    else:
        kw.update(max_time=0.5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ABCWarning)   # issued only if a round was cut
            post = smc.infer(100, **kw)
        assert "wall-clock" in post.message
        assert len(post) == 100 or len(post.history) == 1
    assert len(post) > 0


def test_resume_gives_the_uninterrupted_answer(toy, tmp_path):
    kw = dict(max_rounds=5, seed=3, batch_size=50, quantile=0.4)
    full = _smc(toy).infer(150, run_dir=tmp_path / "a", **kw)
    calls = [int(np.ceil(h["n_simulations"] / 50)) for h in full.history]
    # crash in the middle of round 3 (after rounds 0, 1, 2 were written)
    _toy_models.CRASH_AFTER["calls"] = sum(calls[:3]) + 1
    try:
        with pytest.raises(SimulatorCrash):
            _smc(toy).infer(150, run_dir=tmp_path / "b", **kw)
    finally:
        _toy_models.CRASH_AFTER["calls"] = None
    state = json.loads((tmp_path / "b" / "state.json").read_text())
    assert state["round"] == 2 and state["status"] == "running"
    resumed = _smc(toy).resume(tmp_path / "b")
    np.testing.assert_array_equal(resumed.samples, full.samples)
    np.testing.assert_array_equal(resumed.weights, full.weights)
    assert resumed.n_simulations == full.n_simulations
    assert [h["tolerance"] for h in resumed.history] == [h["tolerance"] for h in full.history]
    # resuming a finished run returns its posterior; a used run_dir is refused for a new run
    again = _smc(toy).resume(tmp_path / "b")
    np.testing.assert_array_equal(again.samples, full.samples)
    with pytest.raises(ValueError, match="already holds"):
        _smc(toy).infer(150, run_dir=tmp_path / "b", **kw)
    with pytest.raises(FileNotFoundError):
        _smc(toy).resume(tmp_path / "nothing")
    # no pickle anywhere in the run store
    assert not list((tmp_path / "b").glob("*.pkl"))


def test_resume_with_adaptive_distance_is_exact(tmp_path):
    sim = GaussianSimulator(T=16, two_params=True)
    obs = sim.simulate([[0.5, 0.0]], seed=1)[0]
    prior = JointPrior({"mu": Uniform(-3.0, 3.0), "log_sigma": Uniform(-1.0, 1.0)})

    def make():
        return SMCABC(sim, prior, MeanStdSummary(), Adaptive(), observed=obs, client="sync")

    kw = dict(max_rounds=4, seed=8, batch_size=40)
    full = make().infer(80, run_dir=tmp_path / "a", **kw)
    calls = [int(np.ceil(h["n_simulations"] / 40)) for h in full.history]
    _toy_models.CRASH_AFTER["calls"] = sum(calls[:2]) + 1
    try:
        with pytest.raises(SimulatorCrash):
            make().infer(80, run_dir=tmp_path / "b", **kw)
    finally:
        _toy_models.CRASH_AFTER["calls"] = None
    resumed = make().resume(tmp_path / "b")
    np.testing.assert_array_equal(resumed.samples, full.samples)
    np.testing.assert_array_equal(resumed.distances, full.distances)
    # the adaptive distance was refitted every round: new scales each round, narrower at the end
    from sciope_abs.inference import History

    scales = [History.load(tmp_path / "a").distance_state(t)["scale_"] for t in range(4)]
    assert all(not np.allclose(a, b) for a, b in zip(scales[:-1], scales[1:])), scales
    assert (scales[-1] < scales[0]).all(), scales


def test_smc_bad_input(toy):
    smc = _smc(toy)
    with pytest.raises(ValueError, match="quantile"):
        smc.infer(100, quantile=1.0)
    with pytest.raises(ValueError, match="n_particles"):
        smc.infer(1)
    with pytest.raises(ValueError, match="needs a bound"):
        smc.infer(100, min_acceptance_rate=None)
    sim, obs, _ = toy
    with pytest.raises(ValueError, match="do not match"):
        SMCABC(sim, JointPrior({"a": Uniform(0, 1), "mu": Uniform(0, 1)}), MeanSummary(), observed=obs)


def test_kernel_density_and_degenerate_populations():
    rng = np.random.default_rng(0)
    P = rng.normal(size=(40, 2)) * [1.0, 5.0]
    w = rng.random(40)
    k = MultivariateNormalKernel().fit(P, w)
    th = rng.normal(size=(5, 2))
    ref = np.array([[multivariate_normal(c, k.cov_).logpdf(t) for c in P] for t in th])
    np.testing.assert_allclose(k.log_density(th, P), ref, rtol=1e-10, atol=1e-10)
    wn = w / w.sum()
    mu = wn @ P
    np.testing.assert_allclose(k.cov_, 2 * ((P - mu) * wn[:, None]).T @ (P - mu))
    # identical particles in 1-D: a jitter makes the kernel proper, draws move
    k1 = MultivariateNormalKernel().fit(np.full((10, 1), 3.0))
    assert np.isfinite(k1.log_density([[3.0]], [[3.0]])).all()
    draws = k1.perturb(np.full((100, 1), 3.0), rng)
    assert draws.std() > 0
    # collinear 2-D particles: still positive definite
    line = np.stack([np.arange(10.0), 2 * np.arange(10.0)], axis=1)
    assert np.linalg.eigvalsh(MultivariateNormalKernel().fit(line).cov_).min() > 0


def test_silverman_kernel_scale_follows_the_effective_sample_size(toy):
    from sciope_abs.inference.kernels import silverman_factor

    rng = np.random.default_rng(3)
    P, w = rng.normal(size=(200, 3)), rng.random(200)
    k = MultivariateNormalKernel("silverman").fit(P, w)
    wn = w / w.sum()
    n_eff = 1 / np.sum(wn ** 2)
    assert k.scale_ == pytest.approx((4 / (n_eff * 5)) ** (2 / 7)) == silverman_factor(n_eff, 3)
    mu = wn @ P
    np.testing.assert_allclose(k.cov_, k.scale_ * ((P - mu) * wn[:, None]).T @ (P - mu))
    assert 0 < k.scale_ < 0.5 and k.get_params()["scale"] == "silverman"
    assert MultivariateNormalKernel(2.0).fit(P, w).scale_ == 2.0
    with pytest.raises(ValueError, match="scale must be a number > 0 or one of"):
        MultivariateNormalKernel("scott")
    # an SMC run with it: a narrower kernel accepts more per round than the default one
    runs = [_smc(toy, kernel=k).infer(200, max_rounds=4, seed=3, batch_size=50, min_acceptance_rate=0.01)
            for k in (None, MultivariateNormalKernel("silverman"))]
    rates = [[h["acceptance_rate"] for h in r.history[2:]] for r in runs]
    assert all(b > a for a, b in zip(*rates)), rates


# --------------------------------------------------------------------------- toggle switch
TOGGLE_IDENTIFIED = ("alpha1", "alpha2", "mu")   # beta, gamma: the data barely constrain them


def _toggle_problem(truth, n_traj):
    from sciope_abs.crn import load_model
    from sciope_abs.simulators import FastSSASimulator
    from sciope_abs.summaries import AutoCorrelation, Mean, Std

    model = load_model("toggle_switch")
    sim = FastSSASimulator(model)
    names = list(sim.param_names)
    theta0 = np.array([model.parameters[p] for p in names])
    # the toolbox example's prior: Uniform(0.1 theta, 2 theta) around the model's values
    prior = JointPrior.uniform_around(dict(zip(names, theta0)), 0.1, 2.0)
    truth = np.array([truth.get(p, model.parameters[p]) for p in names])
    obs = sim.simulate(truth[None], n_traj=n_traj, seed=1)[0]
    sp = ("U", "V")
    summary = Mean(species=sp) + Std(species=sp) + AutoCorrelation(lags=(1, 2), species=sp)
    return sim, prior, summary, obs, truth, names


def _check_toggle(post, prior, truth, names):
    idx = [names.index(p) for p in TOGGLE_IDENTIFIED]
    post_err = np.abs(post.mean() - truth)[idx]
    prior_err = np.abs(prior.mean() - truth)[idx]
    assert (post_err <= 0.5 * prior_err).all(), (post.mean(), truth)
    ci = post.credible_interval(0.95)
    assert ((ci[:, 0] <= truth) & (truth <= ci[:, 1])).all(), (ci, truth)


def test_toggle_switch_smc_fast():
    """Truth away from the prior mean (the example's truth sits at 0.95x the prior mean, where the
    prior mean alone would pass): alpha1=1.5, alpha2=0.6, mu=0.6, beta=gamma=2."""
    sim, prior, summary, obs, truth, names = _toggle_problem({"alpha1": 1.5, "alpha2": 0.6, "mu": 0.6}, 10)
    smc = SMCABC(sim, prior, summary, Adaptive(), observed=obs, n_traj=10, client="sync")
    post = smc.infer(150, max_rounds=5, seed=3)
    _check_toggle(post, prior, truth, names)


@pytest.mark.slow
def test_toggle_switch_smc_full():
    """More data and particles, and the example's own truth (the model's defaults): coverage,
    and the identified parameters' posterior is far tighter and closer than the prior."""
    sim, prior, summary, obs, truth, names = _toggle_problem({"alpha1": 1.5, "alpha2": 0.6, "mu": 0.6}, 20)
    smc = SMCABC(sim, prior, summary, Adaptive(), observed=obs, n_traj=20, client="sync")
    _check_toggle(smc.infer(400, max_rounds=7, seed=3), prior, truth, names)

    sim, prior, summary, obs, truth, names = _toggle_problem({}, 20)
    post = SMCABC(sim, prior, summary, Adaptive(), observed=obs, n_traj=20, client="sync").infer(
        500, max_rounds=8, seed=3)
    ci = post.credible_interval(0.95)
    assert ((ci[:, 0] <= truth) & (truth <= ci[:, 1])).all()
    idx = [names.index(p) for p in TOGGLE_IDENTIFIED]
    assert (post.std()[idx] <= 0.5 * prior.std()[idx]).all()
    # expected absolute error of a draw: posterior vs prior
    draws = post.sample(4000, seed=0)
    prior_draws = prior.sample(4000, seed=0)
    post_mae = np.abs(draws - truth).mean(axis=0)[idx]
    prior_mae = np.abs(prior_draws - truth).mean(axis=0)[idx]
    assert (post_mae <= 0.5 * prior_mae).all()


class _BatchLoving(GaussianSimulator):
    """A simulator that declares a preferred batch size (as an emulator does) and logs its calls."""

    preferred_batch_size = 1000

    def __init__(self, **kw):
        super().__init__(**kw)
        self.calls = []

    def simulate(self, theta, **kw):
        self.calls.append(len(theta))
        return super().simulate(theta, **kw)


def test_a_simulator_preferring_large_batches_gets_each_round_in_about_one_call(toy):
    _, obs, prior = toy
    sim = _BatchLoving(sigma=SIGMA, T=T)
    n = 200
    smc = SMCABC(sim, prior, MeanSummary(), Euclidean(), observed=obs, client="sync")
    post = smc.infer(n, max_rounds=5, seed=4, min_acceptance_rate=0.01)
    h = post.history
    assert post.info["settings"]["large_batches"] == 1000
    # round 0 asks for exactly n; round t for 1.5 n / (previous rate), rounded up to 64, <= 1000
    assert sim.calls[0] == n and h[0]["n_simulations"] == n
    expected = [min(1000, max(n, 64 * int(np.ceil(1.5 * n / h[t - 1]["acceptance_rate"] / 64))))
                for t in range(1, len(h))]
    sizes = sorted(set(sim.calls[1:]))
    assert set(expected) <= set(sim.calls[1:]) and max(sizes) <= 1000
    assert len(sim.calls) <= 2 * len(h)                       # a round in one or two calls
    # counts stay exact: the filling batch is simulated whole and counted
    assert post.n_simulations == sum(sim.calls) == sum(e["n_simulations"] for e in h)
    mean, sd = gaussian_posterior(smc.s_obs[0], SIGMA, T, h[-1]["tolerance"])
    assert abs(post.mean()[0] - mean) < 4 * sd / np.sqrt(post.ess) + h[-1]["tolerance"]
    # an explicit batch size is kept as it is
    sim2 = _BatchLoving(sigma=SIGMA, T=T)
    SMCABC(sim2, prior, MeanSummary(), Euclidean(), observed=obs, client="sync").infer(n, max_rounds=2, seed=4,
                                                                                       batch_size=50)
    assert set(sim2.calls) == {50}


def test_blocked_importance_weights_equal_the_one_block_computation():
    rng = np.random.default_rng(0)
    prior = JointPrior({"a": Uniform(-5.0, 5.0), "b": Uniform(-5.0, 5.0)})
    P = rng.normal(size=(700, 2))
    w = rng.random(700)
    pop = {"particles": P, "weights": w / w.sum()}
    kern = MultivariateNormalKernel().fit(P, pop["weights"])
    theta = rng.normal(size=(900, 2))
    full = SMCABC._log_proposal(theta, pop, kern, max_cells=10 ** 9)
    for cells in (700, 7 * 700 + 3, 100_000):                 # 1, 7 and 142 rows per block
        np.testing.assert_allclose(SMCABC._log_proposal(theta, pop, kern, max_cells=cells), full,
                                   rtol=1e-12, atol=1e-12)
    # and the weights against an independent direct computation
    smc = SMCABC.__new__(SMCABC)
    smc.prior = prior
    direct = np.array([np.sum(pop["weights"] * multivariate_normal(t, kern.cov_).pdf(P)) for t in theta[:50]])
    got = smc._weights(theta[:50], pop, kern)
    np.testing.assert_allclose(got, (1 / direct) / np.sum(1 / direct), rtol=1e-9)


@pytest.fixture(scope="module")
def cluster_client():
    """A real 2-worker LocalCluster; workers import the toy models from tests/."""
    from _engine_helpers import tests_cluster

    return tests_cluster()


@pytest.mark.parametrize("keep", [True, False])
def test_smc_on_a_local_cluster_gives_the_in_process_answer_and_exact_counts(toy, cluster_client, keep,
                                                                             monkeypatch):
    from sciope_abs.inference._stream import RoundStream

    sim, obs, prior = toy
    kw = dict(max_rounds=4, seed=11, batch_size=20, min_acceptance_rate=0.01)
    sync = _smc(toy).infer(100, **kw)
    monkeypatch.setattr(RoundStream, "keep_in_flight", keep)
    dist = SMCABC(sim, prior, MeanSummary(), Euclidean(), observed=obs, client=cluster_client).infer(100, **kw)
    np.testing.assert_array_equal(dist.samples, sync.samples)
    np.testing.assert_array_equal(dist.weights, sync.weights)
    strip = [{k: v for k, v in h.items() if k != "wall_time"} for h in sync.history]
    assert [{k: v for k, v in h.items() if k != "wall_time"} for h in dist.history] == strip
    assert dist.n_simulations == sync.n_simulations and dist.n_simulations_discarded == sync.n_simulations_discarded
    # in-process nothing is simulated beyond what is processed; on the cluster the batches in
    # flight when a round fills are simulated but never counted
    assert sync.info["n_simulations_unprocessed"] == 0 and dist.info["n_simulations_unprocessed"] >= 0


def test_round_stream_restarts_after_a_round_capped_in_flight(cluster_client):
    from sciope_abs.inference._stream import RoundStream, child_seed
    from sciope_abs.inference.tasks import ProposalBatch, SimulateSummarise

    sim = GaussianSimulator(sigma=SIGMA, T=4)
    root = np.random.SeedSequence(3)

    def proposer(r):
        return lambda k, m: ProposalBatch(k, np.full((m, 1), 10.0 * r + k), child_seed(root, r, k))

    stream = RoundStream(SimulateSummarise(sim, MeanSummary()), cluster_client)
    seen = {1: [], 2: []}

    def consumer(r, last):
        def consume(b, s):
            seen[r].append(b.index)
            np.testing.assert_allclose(b.theta[:, 0], 10.0 * r + b.index)
            return b.index == last
        return consume

    try:
        # round 1: capped at 5 batches of 2; the last capped batch fills it (items fed out meanwhile)
        r1 = stream.run_round(proposer(1), consumer(1, 4), batch_size=2, max_proposals=10, deadline=None)
        r2 = stream.run_round(proposer(2), consumer(2, 3), batch_size=2, max_proposals=None, deadline=None)
    finally:
        stream.close()
    assert (r1.reason, r1.n_batches, r1.n_proposals) == ("target", 5, 10)
    assert (r2.reason, r2.n_batches, r2.n_proposals) == ("target", 4, 8)
    assert seen == {1: [0, 1, 2, 3, 4], 2: [0, 1, 2, 3]}       # in batch order, each once
    assert stream.n_unprocessed >= 0
