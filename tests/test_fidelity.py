"""Fidelity check of an emulator-driven posterior (inference/fidelity.py, Posterior.check_fidelity)
and the emulator's rate-range handling (refuse / warn / clip)."""
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from sciope_abs.crn.model import CRN, Reaction
from sciope_abs.inference import FidelityReport, FidelityWarning, Posterior, check_fidelity
from sciope_abs.simulators import FastSSASimulator
from sciope_abs.simulators.base import Simulator, check_theta
from sciope_abs.summaries import Mean, Std

sys.path.insert(0, str(Path(__file__).parent))


def birth_death() -> CRN:
    """0 -> X at rate k, X -> 0 at rate g*X; stationary X ~ Poisson(k/g) = Poisson(20)."""
    return CRN(name="birth_death", species=("X",), parameters={"k": 10.0, "g": 0.5},
               reactions=[Reaction("birth", {}, {"X": 1}, rate="k"), Reaction("death", {"X": 1}, {}, rate="g")],
               initial_state={"X": 5}, rate_ranges={"k": (5.0, 15.0)}, dt=1.0, n_steps=6, observed=("X",))


class ScaledRates(Simulator):
    """A deliberately wrong 'emulator': simulates with every rate multiplied by ``factor``."""

    def __init__(self, simulator, factor: float) -> None:
        self.simulator, self.factor = simulator, float(factor)
        self.param_names, self.species, self.timespan = simulator.param_names, simulator.species, simulator.timespan

    def simulate(self, theta, *, n_traj=1, seed=None, initial_state=None):
        theta = check_theta(theta, self.param_names)
        return self.simulator.simulate(theta * self.factor, n_traj=n_traj, seed=seed, initial_state=initial_state)


@pytest.fixture(scope="module")
def ssa():
    return FastSSASimulator(birth_death(), param_names=["k"])


@pytest.fixture(scope="module")
def posterior(ssa):
    rng = np.random.default_rng(0)
    samples = rng.uniform(9.0, 11.0, size=(50, 1))
    summary = Mean(species=("X",)) + Std(species=("X",))
    obs = summary(ssa.simulate([[10.0]], n_traj=50, seed=3))[0]
    return Posterior(samples, ["k"], weights=rng.uniform(0.5, 1.5, 50), observed=obs, method="smc"), summary


def test_an_exact_simulator_as_emulator_passes_with_ratio_near_one(ssa, posterior):
    post, summary = posterior
    good = FastSSASimulator(birth_death(), param_names=["k"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", FidelityWarning)
        rep = check_fidelity(post, good, ssa, n_particles=6, n_traj=150, seed=1, summary=summary, client="sync")
    assert rep.passed and "<=" in rep.message
    # same distribution on both sides: emulator-vs-SSA distance is the self-distance up to noise
    assert 0.7 < rep.ratio < 1.3, rep.summary()
    assert rep.emulator_distance.shape == rep.self_distance.shape == (6,)
    assert rep.per_time["emulator"].shape == (6, 1, 6)        # particles x species x (T - 1)
    assert rep.particles.shape == (6, 1) and ((rep.particles >= 9) & (rep.particles <= 11)).all()
    # posterior-predictive distances of the summaries are comparable for an exact emulator
    assert rep.predictive_emulator.shape == (6,)
    assert np.mean(rep.predictive_emulator) < 2 * np.mean(rep.predictive_ssa) + 1.0


def test_a_wrong_simulator_fails_with_a_warning_stored_in_the_report(ssa, posterior):
    post, summary = posterior
    wrong = ScaledRates(FastSSASimulator(birth_death(), param_names=["k"]), factor=2.0)  # mean 40 instead of 20
    with pytest.warns(FidelityWarning, match="fidelity check failed"):
        rep = post.check_fidelity(ssa, n_particles=6, n_traj=150, seed=1, summary=summary, emulator=wrong,
                                  client="sync")
    assert not rep.passed
    assert "differs from SSA" in rep.message and "ratio" in rep.message
    assert rep.ratio > 1.5
    assert np.mean(rep.predictive_emulator) > 3 * np.mean(rep.predictive_ssa)
    assert "FAILED" in rep.summary()


def test_check_fidelity_takes_the_simulator_explicitly_the_posterior_carries_its_history(ssa, tmp_path):
    from sciope_abs.inference import SMCABC, ABCRejection
    from sciope_abs.priors import JointPrior, Uniform

    summary = Mean(species=("X",))
    obs = ssa.simulate([[10.0]], n_traj=20, seed=5)[0]
    prior = JointPrior({"k": Uniform(5.0, 15.0)})
    abc = ABCRejection(ssa, prior, summary, observed=obs, n_traj=5, client="sync")
    post = abc.infer(n_samples=20, quantile=0.2, seed=0)
    assert not hasattr(post, "simulator") and post.run_store is None
    with pytest.raises(ValueError, match="pass emulator="):
        post.check_fidelity(ssa, n_particles=3, n_traj=10, client="sync")
    rep = post.check_fidelity(FastSSASimulator(birth_death(), param_names=["k"]), n_particles=3, n_traj=100,
                              seed=0, client="sync", emulator=ssa)
    assert rep.passed and rep.predictive_emulator is None            # no summary given
    # SMC-ABC with a run store: the posterior carries the History it was written to
    smc = SMCABC(ssa, prior, summary, observed=obs, n_traj=5, client="sync")
    sp = smc.infer(20, max_rounds=2, seed=0, run_dir=tmp_path / "run")
    assert not hasattr(sp, "simulator") and sp.run_store is not None
    np.testing.assert_array_equal(sp.run_store.population().particles, sp.samples)


def test_bad_input_is_a_one_line_value_error(ssa, posterior):
    post, _ = posterior
    short = FastSSASimulator(birth_death(), param_names=["k"], timespan=np.arange(4.0))
    with pytest.raises(ValueError, match="time grid"):
        check_fidelity(post, short, ssa, n_particles=2, n_traj=5, client="sync")
    with pytest.raises(ValueError, match="n_particles must be a positive integer"):
        check_fidelity(post, ssa, ssa, n_particles=0, client="sync")
    with pytest.raises(ValueError, match="posterior is empty"):
        check_fidelity(Posterior(np.zeros((0, 1)), ["k"]), ssa, ssa, client="sync")
    with pytest.raises(ValueError, match="does not carry its simulator"):
        post.check_fidelity(ssa)
    other = FastSSASimulator(birth_death(), param_names=["g"])
    with pytest.raises(ValueError, match="takes parameters"):
        check_fidelity(post, other, ssa, client="sync")


def test_report_round_trips_and_is_reproducible(ssa, posterior, tmp_path):
    post, summary = posterior
    a = check_fidelity(post, ssa, ssa, n_particles=3, n_traj=40, seed=9, summary=summary, client="sync")
    b = check_fidelity(post, ssa, ssa, n_particles=3, n_traj=40, seed=9, summary=summary, client="sync")
    np.testing.assert_array_equal(a.emulator_distance, b.emulator_distance)
    a.save(tmp_path / "fid")
    c = FidelityReport.load(tmp_path / "fid")
    np.testing.assert_allclose(c.emulator_distance, a.emulator_distance)
    np.testing.assert_allclose(c.particles, a.particles)
    assert c.passed == a.passed and c.message == a.message
    np.testing.assert_array_equal(c.samples["emulator"], a.samples["emulator"])
    assert list(c.to_pandas().columns[:1]) == ["k"]


def test_emulator_refuses_warns_or_clips_rates_outside_its_trained_range():
    pytest.importorskip("tensorflow")
    from _synthetic_kernel import synthetic_dataset

    from sciope_abs.abstraction.emulator import EmulatorRangeWarning
    from sciope_abs.abstraction.training import train

    ds = synthetic_dataset(n_settings=8, n_traj=3, n_steps=2, seed=0)
    emu = train(ds, hidden=(8,), n_components=2, epochs=1, batch_size=64, seed=0, progress=False)
    lo, hi = emu.rate_bounds[0]
    state = [2, 2, 500]
    at_bound = emu.simulate([[hi]], n_traj=20, seed=4, initial_state=state)
    emu.strict = True
    with pytest.raises(ValueError, match="outside the trained range"):
        emu.simulate([[hi * 3]], n_traj=2, seed=4, initial_state=state)
    emu.strict, emu.clip = False, True
    with pytest.warns(EmulatorRangeWarning, match="clipped to the trained range"):
        clipped = emu.simulate([[hi * 3]], n_traj=20, seed=4, initial_state=state)
    np.testing.assert_array_equal(clipped, at_bound)                 # exactly the bound's trajectories
    emu.clip = False
    with pytest.warns(EmulatorRangeWarning, match="outside the trained range"):
        emu.simulate([[hi * 3]], n_traj=20, seed=4, initial_state=state)
