"""Replenishment SMC-ABC: on a conjugate Gaussian toy it matches the analytic (ABC) posterior;
an interrupted run resumes to the bit-identical answer; the two Sciope 0.4 flaws are fixed (no
crash at zero acceptance, pooled acceptance rate <= 1); settings are checked."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).parent))
import _toy_models  # noqa: E402
from _toy_models import GaussianSimulator, MeanSummary, SimulatorCrash  # noqa: E402

from sciope_abs.distances import Adaptive, Euclidean  # noqa: E402
from sciope_abs.inference.history import History  # noqa: E402
from sciope_abs.inference.replenishment import ReplenishmentSMCABC, n_moves  # noqa: E402
from sciope_abs.priors import JointPrior, Normal, Uniform  # noqa: E402

T, TAU = 16, 0.25  # s = mean of 16 unit-variance draws: s | mu ~ N(mu, 1/16)


@pytest.fixture(scope="module")
def toy():
    sim = GaussianSimulator(sigma=1.0, T=T)
    obs = sim.simulate([[1.3]], n_traj=1, seed=5)[0]
    return sim, obs, JointPrior({"mu": Normal(0.0, 1.0)})


def _rep(toy, distance=None):
    sim, obs, prior = toy
    return ReplenishmentSMCABC(sim, prior, MeanSummary(), distance or Euclidean(), observed=obs, client="sync")


def _abc_posterior(s_obs: float, eps: float) -> tuple[float, float]:
    """N(0, 1) prior x P(|s - s_obs| <= eps | mu) on a grid (eps -> 0: the conjugate posterior)."""
    g = np.linspace(-3, 4, 14001)
    p = norm.pdf(g) * (norm.cdf((s_obs + eps - g) / TAU) - norm.cdf((s_obs - eps - g) / TAU))
    p /= p.sum()
    m = float(p @ g)
    return m, float(np.sqrt(p @ (g - m) ** 2))


def test_matches_the_conjugate_posterior(toy):
    rep = _rep(toy)
    n = 400
    post = rep.infer(n, target_tolerance=0.06, seed=0)
    s_obs = rep.s_obs[0]
    m, sd = _abc_posterior(s_obs, post.tolerance)
    # conjugate posterior: precision 1 + 16, mean 16 s / 17; the tolerance adds ~eps^2/3
    assert m == pytest.approx(16 * s_obs / 17, abs=0.01) and sd == pytest.approx(17 ** -0.5, rel=0.03)
    assert post.tolerance <= 0.06 and "target tolerance" in post.message
    # MCMC copies are correlated: take the effective size as n/4 (4 sd of the mean of n/4 draws)
    n_eff = n / 4
    assert abs(post.mean()[0] - m) < 4 * sd / np.sqrt(n_eff)
    assert abs(post.std()[0] - sd) < 4 * sd / np.sqrt(2 * n_eff)
    # the prior (mean 0, sd 1) is 5.8 posterior sd away: the check bites
    tols = [h["tolerance"] for h in post.history]
    assert tols[0] == np.inf and all(a > b for a, b in zip(tols[1:], tols[2:]))
    assert post.n_simulations == sum(h["n_simulations"] for h in post.history)
    assert all(0 <= h["acceptance_rate"] <= 1 for h in post.history[1:])
    assert np.all(post.distances <= post.tolerance)


def test_stops_on_the_acceptance_rate_and_counts_moves(toy):
    post = _rep(toy).infer(100, p_min=0.2, R_trial=3, seed=1)
    h = post.history
    assert "acceptance rate" in post.message and h[-1]["acceptance_rate"] < 0.2
    assert all(e["acceptance_rate"] >= 0.2 for e in h[1:-1])
    # the adaptive number of moves grows as the acceptance rate falls
    assert h[-1]["n_moves"] >= h[1]["n_moves"] >= 3
    assert h[1]["n_attempted"] == 50 * h[1]["n_moves"]


def test_n_moves_rule_and_the_fixed_sciope_flaws():
    assert n_moves(0.5, 0.01, 5, 100) == 7          # ceil(log 0.01 / log 0.5)
    assert n_moves(0.01, 0.01, 5, 100) == 100       # capped at R_max
    assert n_moves(0.0, 0.01, 5, 100) == 5          # Sciope 0.4: OverflowError
    assert n_moves(1.0, 0.01, 5, 100) == 5
    assert n_moves(0.9, 0.01, 5, 100) == 5          # at least the trial moves


def test_resume_after_a_crash_gives_the_uninterrupted_answer(toy, tmp_path):
    kw = dict(n_particles=60, target_tolerance=0.1, seed=3, batch_size=10)
    full = _rep(toy, Adaptive()).infer(run_dir=tmp_path / "a", **kw)
    assert len(full.history) >= 4
    # crash in round 2 (each simulate call is one batch of <= 10 points)
    calls0 = int(np.ceil(60 / 10))
    _toy_models.CRASH_AFTER["calls"] = calls0 + 3 * 2 + 2
    try:
        with pytest.raises(SimulatorCrash):
            _rep(toy, Adaptive()).infer(run_dir=tmp_path / "b", **kw)
    finally:
        _toy_models.CRASH_AFTER["calls"] = None
    state = json.loads((tmp_path / "b" / "state.json").read_text())
    assert state["status"] == "running" and 0 <= state["round"] < len(full.history) - 1
    resumed = _rep(toy, Adaptive()).resume(tmp_path / "b")
    np.testing.assert_array_equal(resumed.samples, full.samples)
    np.testing.assert_array_equal(resumed.distances, full.distances)
    assert resumed.n_simulations == full.n_simulations and resumed.message == full.message
    # a finished run returns its posterior; the store reads without pickle
    again = _rep(toy, Adaptive()).resume(tmp_path / "b")
    np.testing.assert_array_equal(again.samples, full.samples)
    h = History.load(tmp_path / "b")
    assert h.config["method"] == "replenishment" and h.last_round == len(full.history) - 1
    for f in (tmp_path / "b").glob("*.npz"):
        with np.load(f, allow_pickle=False) as z:
            assert all(z[k].dtype != object for k in z.files)
    # a different observation is refused when resuming an unfinished run
    sim, obs, prior = toy
    other = ReplenishmentSMCABC(sim, prior, MeanSummary(), Adaptive(), observed=obs + 1.0, client="sync")
    with pytest.raises(ValueError, match="observed"):
        other.resume(_unfinished(tmp_path, kw, toy))


def _unfinished(tmp_path, kw, toy):
    """A run folder stopped after round 0 (the crash switch), for the fingerprint check."""
    _toy_models.CRASH_AFTER["calls"] = int(np.ceil(60 / 10))
    try:
        with pytest.raises(SimulatorCrash):
            _rep(toy, Adaptive()).infer(run_dir=tmp_path / "u", **kw)
    finally:
        _toy_models.CRASH_AFTER["calls"] = None
    return tmp_path / "u"


def test_bad_settings_are_refused(toy, tmp_path):
    rep = _rep(toy)
    with pytest.raises(ValueError, match="alpha"):
        rep.infer(100, alpha=1.0)
    with pytest.raises(ValueError, match="drops 0"):
        rep.infer(10, alpha=0.01)
    with pytest.raises(ValueError, match="R_max"):
        rep.infer(100, R_trial=10, R_max=5)
    with pytest.raises(ValueError, match="p_min"):
        rep.infer(100, p_min=0.0)
    rep.infer(20, max_rounds=1, seed=0, run_dir=tmp_path / "r")
    with pytest.raises(ValueError, match="already holds"):
        rep.infer(20, max_rounds=1, seed=0, run_dir=tmp_path / "r")
    sim, obs, _ = toy
    with pytest.raises(ValueError, match="prior"):
        ReplenishmentSMCABC(sim, JointPrior({"x": Uniform(0.0, 1.0)}), MeanSummary(), observed=obs)


def test_local_cluster_gives_the_in_process_answer(toy):
    """Real 2-worker LocalCluster (workers import the toy models from tests/): same seed, same
    particles as in-process, whatever the batch size per task."""
    from _engine_helpers import tests_cluster

    client = tests_cluster()
    sim, obs, prior = toy
    kw = dict(n_particles=40, max_rounds=3, seed=8)
    sync = _rep(toy).infer(batch_size=7, **kw)
    dist = ReplenishmentSMCABC(sim, prior, MeanSummary(), Euclidean(), observed=obs, client=client).infer(
        batch_size=5, **kw)
    np.testing.assert_array_equal(dist.samples, sync.samples)
    np.testing.assert_array_equal(dist.distances, sync.distances)
    assert dist.n_simulations == sync.n_simulations
