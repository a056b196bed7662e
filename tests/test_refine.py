"""Sequential emulation (pipeline/refine.py): refine the emulator where the inference lands.

A birth-death toy (0 -> X at rate k, X -> 0 at 0.5 X) with k in [5, 100]: the first emulator is
trained on a deliberately small dataset (8 settings x 5 trajectories, 3 epochs), so at a posterior
around k = 63 it is far from SSA; refined on exact data around the posterior it passes.
"""
import time
import warnings

import numpy as np
import pytest

from sciope_abs.abstraction.dataset import build_dataset
from sciope_abs.abstraction.training import train
from sciope_abs.crn.model import CRN, Reaction
from sciope_abs.inference import Posterior, SMCABC, check_fidelity
from sciope_abs.pipeline.refine import refine_emulator, sequential_emulation
from sciope_abs.priors import JointPrior, Uniform
from sciope_abs.simulators import make_simulator
from sciope_abs.summaries import Mean, Std


def birth_death() -> CRN:
    return CRN(name="bd_refine", species=("X",), parameters={"k": 10.0, "g": 0.5},
               reactions=[Reaction("birth", {}, {"X": 1}, rate="k"), Reaction("death", {"X": 1}, {}, rate="g")],
               initial_state={"X": 5}, rate_ranges={"k": (5.0, 100.0)}, dt=1.0, n_steps=6, observed=("X",))


@pytest.fixture(scope="module")
def setup():
    crn = birth_death()
    ds = build_dataset(crn, 8, 5, vary_params=["k"], seed=0, client="sync", progress=False)
    emu = train(ds, hidden=(16, 16), epochs=3, seed=0, progress=False)
    ssa = make_simulator(crn, param_names=["k"], species=crn.species, timespan=crn.timespan(1.0, 6))
    return crn, ds, emu, ssa


def _check(post, emu, ssa, x0, seed=1):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return check_fidelity(post, emu, ssa, n_particles=8, n_traj=100, seed=seed, initial_state=x0, client="sync")


def test_refinement_around_the_posterior_turns_a_failed_check_into_a_passed_one(setup):
    crn, ds, emu, ssa = setup
    x0 = crn.default_initial_state()
    post = Posterior(np.random.default_rng(0).uniform(60, 66, (100, 1)), ["k"], method="smc")
    before = _check(post, emu, ssa, x0)
    w0 = [w.copy() for w in emu.keras_model.get_weights()]
    new = refine_emulator(emu, post, n_settings=20, n_traj=20, epochs=30, learning_rate=2e-3, initial_state=x0,
                          dataset=ds, seed=2, client="sync")
    after = _check(post, new, ssa, x0)
    assert not before.passed and before.ratio > 1.8, before.summary()
    assert after.passed and after.ratio < 1.3, after.summary()
    # the input emulator is untouched; the copy records what the refinement cost
    assert all(np.array_equal(a, b) for a, b in zip(w0, emu.keras_model.get_weights()))
    assert "refinements" not in emu.card
    rec = new.card["refinements"][0]
    assert rec["n_simulations"] == 400 and rec["old_data"] and rec["n_train_pairs"] > rec["n_val_pairs"] > 0
    assert 60 - 3 < rec["rate_mean"][0] < 66 + 3        # the new settings sit around the posterior
    # same seed, same refined emulator
    again = refine_emulator(emu, post, n_settings=20, n_traj=20, epochs=30, learning_rate=2e-3, initial_state=x0,
                            dataset=ds, seed=2, client="sync")
    assert all(np.array_equal(a, b) for a, b in zip(new.keras_model.get_weights(), again.keras_model.get_weights()))


def test_refine_rejects_bad_input_before_simulating(setup):
    crn, ds, emu, ssa = setup
    post = Posterior(np.ones((5, 1)), ["k"], method="smc")
    with pytest.raises(ValueError, match="n_settings"):
        refine_emulator(emu, post, n_settings=1)
    with pytest.raises(ValueError, match="parameters"):
        refine_emulator(emu, Posterior(np.ones((5, 1)), ["g"], method="smc"), n_settings=4)
    with pytest.raises(ValueError, match="initial_state has 2 entries"):
        refine_emulator(emu, post, n_settings=4, initial_state=[1, 2])
    with pytest.raises(ValueError, match="not an Emulator"):
        refine_emulator(ssa, post, n_settings=4)


def test_sequential_emulation_runs_inference_check_refine_until_the_check_passes(setup):
    crn, ds, emu, ssa = setup
    x0 = crn.default_initial_state()
    summary = Mean(species=("X",)) + Std(species=("X",))
    observed = ssa.simulate([[63.0]], n_traj=20, seed=5, initial_state=x0)[0]
    prior = JointPrior({"k": Uniform(5.0, 100.0)})

    def infer(sim, seed):
        smc = SMCABC(sim, prior, summary, observed=observed, n_traj=20, initial_state=x0, client="sync")
        return smc.infer(n_particles=100, quantile=0.5, max_rounds=3, seed=seed)

    t0 = time.perf_counter()
    res = sequential_emulation(emu, infer, ssa, max_refinements=2, initial_state=x0, dataset=ds, seed=3,
                               client="sync", fidelity={"n_particles": 8, "n_traj": 100},
                               refine={"n_settings": 20, "n_traj": 20, "epochs": 30, "learning_rate": 2e-3})
    seconds = time.perf_counter() - t0
    first, last = res.rounds[0], res.rounds[-1]
    assert not first["passed"] and first["refined"], res.rounds
    assert res.passed and last["passed"] and not last["refined"] and len(res.rounds) <= 3, res.rounds
    assert last["ratio"] < first["ratio"] / 1.5
    assert res.emulator is not emu and len(res.emulator.card["refinements"]) == len(res.rounds) - 1
    # cost bookkeeping: each check simulates 2 x 8 x 100 SSA trajectories, each refinement 20 x 20
    assert res.n_exact_simulations == 1600 * len(res.rounds) + 400 * (len(res.rounds) - 1)
    assert sum(r["inference_seconds"] + r["fidelity_seconds"] + r["refine_seconds"] for r in res.rounds) <= seconds
    # the posterior moved towards the truth once the emulator was refined
    assert abs(res.posterior.mean()[0] - 63.0) < 8.0, res.posterior.describe()


def test_no_refinement_budget_means_one_round(setup):
    crn, ds, emu, ssa = setup
    x0 = crn.default_initial_state()
    post = Posterior(np.random.default_rng(0).uniform(60, 66, (100, 1)), ["k"], method="smc")
    res = sequential_emulation(emu, lambda sim, seed: post, ssa, max_refinements=0, initial_state=x0, seed=0,
                               client="sync", fidelity={"n_particles": 4, "n_traj": 50})
    assert len(res.rounds) == 1 and not res.rounds[0]["refined"] and res.emulator is emu
    with pytest.raises(ValueError, match="max_refinements"):
        sequential_emulation(emu, lambda sim, seed: post, ssa, max_refinements=-1)


# ---------------------------------------------------------------------------- the pipeline's refine: section
TINY = {"name": "tiny", "model": "x16", "vary_params": ["a11", "a21"], "species": ["P1"], "seed": 0,
        "scheduler": "sync",
        "dataset": {"n_settings": 12, "n_traj": 4, "n_steps": 3},
        "emulator": {"method": "train", "train": {"hidden": [16], "n_components": 2, "epochs": 2, "batch_size": 64}},
        "evaluate": {"n_settings": 2, "n_traj": 20, "lags": [1, 3]},
        "observed": {"truth": {"a11": 110.0, "a21": 420.0}, "initial_state": {"G1": 2, "G2": 2, "P1": 500},
                     "n_traj": 5},
        "summaries": ["mean", "std"],
        "infer": {"n_traj": 4, "n_particles": 20, "max_rounds": 2},
        "fidelity": {"n_particles": 2, "n_traj": 20}}


@pytest.mark.parametrize("refine, match", [
    ({"max_rounds": -1}, r"^refine.max_rounds must be a non-negative integer"),
    ({"max_rounds": True}, r"^refine.max_rounds must be a non-negative integer"),
    ({"n_settings": 1}, r"^refine.n_settings must be an integer >= 2"),
    ({"epochs": 0}, r"^refine.epochs must be a positive integer"),
    ({"learning_rate": "fast"}, r"^refine.learning_rate: could not convert 'fast' to a number$"),
    ({"spread": -0.1}, r"^refine.spread must lie in \[0, inf\]"),
    ({"keep_old": "yes"}, r"^refine.keep_old must be true or false"),
    ({"rounds": 2}, r"unknown key\(s\) \['rounds'\] in section 'refine'"),
])
def test_refine_section_is_validated_with_key_names(refine, match):
    from sciope_abs.pipeline import PipelineConfig

    with pytest.raises(ValueError, match=match):
        PipelineConfig.from_dict({**TINY, "refine": refine})


def test_refine_off_keeps_every_stage_hash_and_on_changes_only_fidelity():
    from sciope_abs.pipeline import PipelineConfig
    from sciope_abs.pipeline.run import stage_hashes

    base = stage_hashes(PipelineConfig.from_dict(TINY), "m")
    off = stage_hashes(PipelineConfig.from_dict({**TINY, "refine": {"max_rounds": 0, "n_settings": 99}}), "m")
    on = stage_hashes(PipelineConfig.from_dict({**TINY, "refine": {"max_rounds": 1}}), "m")
    assert off == base
    assert {k for k in base if on[k] != base[k]} == {"fidelity"}


@pytest.mark.slow
def test_pipeline_refines_after_a_failed_check(tmp_path):
    import json

    from sciope_abs.abstraction.emulator import Emulator
    from sciope_abs.pipeline import run_pipeline

    conf = {**TINY, "refine": {"max_rounds": 2, "n_settings": 6, "n_traj": 4, "epochs": 2}}
    res = run_pipeline(conf, tmp_path, progress=False)
    fid = res.stages["fidelity"]
    assert fid["passed"] is False                      # a 2-epoch emulator on 12 x 4 settings
    rounds = fid["refine_rounds"]
    n = len(rounds) - 1                                 # refinements run (1 or 2)
    assert rounds[0]["refined"] and n in (1, 2) and rounds[0]["n_simulations"] == 6 * 4
    assert [r["refined"] for r in rounds] == [True] * n + [False]
    assert fid["refine_exact_simulations"] == n * (6 * 4 + 2 * 2 * 20)
    assert fid["refined_passed"] == rounds[-1]["passed"] and (n == 2 or rounds[-1]["passed"])
    folder = tmp_path / "fidelity" / "refined"
    assert all((folder / f"smc_{k}").is_dir() for k in range(1, n + 1))
    assert json.loads((folder / "rounds.json").read_text()) == rounds
    emu = Emulator.load(folder / "emulator")
    assert len(emu.card["refinements"]) == n and emu.card["refinements"][0]["n_settings"] == 6
    assert (folder / "posterior.npz").exists() and (folder / "fidelity" / "fidelity.json").exists()
