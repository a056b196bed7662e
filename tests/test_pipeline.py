"""The pipeline: config validation, stage caching by content hash (skip / rerun downstream /
resume after a crash), the report, `sciope-abs run` and `sciope-abs demo`."""
import copy
import dataclasses
import json

import numpy as np
import pytest

from sciope_abs.pipeline import PipelineConfig, run_pipeline
from sciope_abs.pipeline import stages as stages_mod

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


def cfg(**changes):
    d = copy.deepcopy(TINY)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(d.get(key), dict):
            d[key].update(value)
        else:
            d[key] = value
    return d


@pytest.mark.parametrize("bad, match", [
    ({"colour": "red"}, r"unknown config key\(s\) \['colour'\]"),
    ({"infer": {"n_particle": 5}}, r"unknown key\(s\) \['n_particle'\] in section 'infer'"),
    ({"emulator": {"method": "magic"}}, "emulator.method must be one of"),
    ({"observed": {"truth": {"a11": 1.0}}}, r"missing \['a21'\]"),
    ({"model": "nope"}, "unknown model 'nope'"),
    ({"dataset": {"n_traj": 0}}, "dataset.n_traj must be a positive integer"),
    ({"infer": {"quantile": 1.5}}, r"infer.quantile must lie in \(0, 1\)"),
    ({"infer": {"quantile": "abc"}}, r"^infer.quantile: could not convert 'abc' to a number$"),
    ({"infer": {"min_acceptance_rate": -0.1}}, r"infer.min_acceptance_rate must lie in \(0, 1\]"),
    ({"infer": {"min_acceptance_rate": None}}, "infer needs a bound on each SMC round"),
    ({"infer": {"batch_size": 0}}, "infer.batch_size must be a positive integer"),
    ({"infer": {"simulator": "gpu"}}, "infer.simulator must be one of auto, emulator, ssa, got 'gpu'"),
    ({"infer": {"max_time": "soon"}}, "infer.max_time: could not convert 'soon'"),
    ({"infer": {"epsilon": {"name": "list", "values": [2, 3]}}}, "infer.epsilon: values must not increase"),
    ({"emulator": {"train": {"epochs": "many"}}}, "emulator.train.epochs: could not convert 'many'"),
    ({"emulator": {"train": {"epoch": 3}}}, r"unknown key\(s\) \['epoch'\] in section 'emulator.train'"),
    ({"emulator": {"search": {"cells": 1.5}}}, "emulator.search.cells must be an integer"),
    ({"fidelity": {"threshold": "x"}}, "fidelity.threshold: could not convert 'x'"),
    ({"fidelity": {"kind": "l2"}}, "fidelity.kind must be 'l1' or 'iou'"),
    ({"dataset": {"split": [0.5, 0.5]}}, "dataset.split must be three fractions"),
    ({"dataset": {"solver": "euler"}}, "dataset.solver must be one of"),
    ({"evaluate": {"lags": [1, -3]}}, r"evaluate.lags\[1\] must be a positive integer"),
    ({"observed": {"truth": {"a11": "x", "a21": 1.0}}}, "observed.truth.a11: could not convert 'x'"),
    ({"prior": {"a11": {"uniform": [5, 1]}, "a21": {"uniform": [1, 2]}}}, "prior.a11.uniform must have low < high"),
])
def test_config_errors_are_one_line_and_name_the_key(bad, match):
    with pytest.raises(ValueError, match=match) as info:
        PipelineConfig.from_dict(cfg(**bad))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("bad, match", [
    ({"summaries": ["nonsense"]}, "summaries: unknown summary 'nonsense'"),
    ({"distance": "cosine"}, "distance: unknown distance 'cosine'"),
    ({"species": ["P9"]}, "P9"),
    ({"observed": {"initial_state": {"Q": 3}}}, "unknown species"),
])
def test_errors_found_with_the_model_stop_before_any_stage_or_folder(tmp_path, bad, match):
    run_dir = tmp_path / "run"
    with pytest.raises(ValueError, match=match) as info:
        run_pipeline(cfg(**bad), run_dir, progress=False)
    assert "\n" not in str(info.value)
    assert not run_dir.exists()


def test_a_config_error_leaves_the_run_folder_reusable(tmp_path, capsys):
    import yaml

    from sciope_abs.cli import main

    run_dir = tmp_path / "run"
    first = run_pipeline(cfg(), run_dir, progress=False, stages=["dataset"], report=False)
    assert first.ran() == ["dataset"]
    good_yaml = (run_dir / "config.yaml").read_text()
    # a bad config on the same folder: one line naming the key, nothing of the folder touched
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg(infer={"min_acceptance_rate": -0.5}, summaries=["mean", "nonsense"])))
    assert main(["run", str(bad), "--out", str(run_dir), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert "infer.min_acceptance_rate must lie in (0, 1]" in err and len(err.splitlines()) == 1
    bad.write_text(yaml.safe_dump(cfg(summaries=["mean", "nonsense"])))
    assert main(["run", str(bad), "--out", str(run_dir), "--quiet"]) == 1
    assert "summaries: unknown summary 'nonsense'" in capsys.readouterr().err
    assert (run_dir / "config.yaml").read_text() == good_yaml
    # the fixed config reuses what the folder holds
    again = run_pipeline(cfg(), run_dir, progress=False, stages=["dataset"], report=False)
    assert again.skipped() == ["dataset"] and again.ran() == []


def test_yaml_round_trip_and_the_demo_config_validates(tmp_path):
    from sciope_abs.cli.demo import demo_config

    c = PipelineConfig.from_dict(cfg())
    p = tmp_path / "c.yaml"
    p.write_text(c.to_yaml())
    assert PipelineConfig.from_yaml(p).to_dict() == c.to_dict()
    demo = demo_config()
    assert demo.model == "x16" and 2 <= len(demo.vary_params) <= 4 and demo.emulator["method"] == "search"
    with pytest.raises(FileNotFoundError):
        PipelineConfig.from_yaml(tmp_path / "missing.yaml")


def test_stages_skip_rerun_downstream_and_resume_after_a_crash(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    # --- a crash inside "infer": the stages before it are kept, nothing after it is marked done
    boom_stage = dataclasses.replace(stages_mod.STAGES["infer"],
                                     run=lambda ctx, out: (_ for _ in ()).throw(RuntimeError("killed")))
    monkeypatch.setitem(stages_mod.STAGES, "infer", boom_stage)
    with pytest.raises(RuntimeError, match="killed"):
        run_pipeline(cfg(), run_dir, progress=False)
    assert (run_dir / "emulator" / "stage.json").exists() and not (run_dir / "infer" / "stage.json").exists()
    monkeypatch.undo()

    # --- resume: dataset, emulator, evaluate reused; infer and fidelity run
    first = run_pipeline(cfg(), run_dir, progress=False)
    assert first.skipped() == ["dataset", "emulator", "evaluate"]
    assert first.ran() == ["infer", "fidelity"]
    assert first.stages["ssa_infer"]["status"] == "disabled"
    post = first.output("infer")
    assert post.names == ["a11", "a21"] and len(post) == 20
    lo, hi = np.array([[60.0, 300.0], [140.0, 700.0]])
    assert ((post.samples >= lo) & (post.samples <= hi)).all()   # the prior = the trained ranges
    fid = first.output("fidelity")
    assert fid.species == ["P1"] and fid.emulator_distance.shape == (2,)
    html = (run_dir / "report.html").read_text()
    for section in ("Stages and timings", "Emulator training", "Emulator vs SSA on held-out settings",
                    "Posterior (SMC-ABC with the emulator)", "Fidelity check"):
        assert section in html

    # --- nothing changed: everything skipped, same posterior
    again = run_pipeline(cfg(), run_dir, progress=False)
    assert again.ran() == [] and len(again.skipped()) == 5
    np.testing.assert_array_equal(again.output("infer").samples, post.samples)
    rec = first.stages["infer"]
    assert rec["simulator"] == "emulator" and rec["cheaper"] in ("emulator", "ssa")
    assert rec["cost_per_proposal_emulator"] > 0 and rec["cost_per_proposal_ssa"] > 0
    assert "Cost per proposal: emulator" in html

    # --- infer.simulator: ssa reruns infer (and what reads it) with the exact simulator: the same
    # posterior as the SSA-driven comparison stage (same seed, observation and settings)
    exact = run_pipeline(cfg(infer={"simulator": "ssa"}, ssa_infer={"enabled": True}), run_dir, progress=False)
    assert exact.ran() == ["infer", "fidelity", "ssa_infer"] and exact.stages["infer"]["simulator"] == "ssa"
    np.testing.assert_array_equal(exact.output("infer").samples, exact.output("ssa_infer").samples)
    assert "Posterior (SMC-ABC with the exact SSA)" in (run_dir / "report.html").read_text()
    # --- auto: the cheaper of the two measured costs is used, and said so
    auto = run_pipeline(cfg(infer={"simulator": "auto"}), run_dir, progress=False)
    rec = auto.stages["infer"]
    costs = {"emulator": rec["cost_per_proposal_emulator"], "ssa": rec["cost_per_proposal_ssa"]}
    assert rec["simulator"] == rec["cheaper"] == min(costs, key=costs.__getitem__)
    # back to the default: the first run's stage hash, so the first run's posterior is reused
    back = run_pipeline(cfg(), run_dir, progress=False)
    assert back.stages["infer"]["input_hash"] == first.stages["infer"]["input_hash"]

    # --- an evaluate setting: only evaluate reruns
    ev = run_pipeline(cfg(evaluate={"n_traj": 25}), run_dir, progress=False)
    assert ev.ran() == ["evaluate"]

    # --- an emulator setting: everything downstream of the emulator reruns, the dataset does not
    em = run_pipeline(cfg(evaluate={"n_traj": 25}, emulator={"train": {**TINY["emulator"]["train"], "epochs": 3}}),
                      run_dir, progress=False)
    assert em.skipped() == ["dataset"] and em.ran() == ["emulator", "evaluate", "infer", "fidelity"]
    rec = json.loads((run_dir / "emulator" / "stage.json").read_text())
    assert rec["epochs_run"] == 3 and rec["input_hash"] == em.stages["emulator"]["input_hash"]


def test_cli_run_and_demo(tmp_path, capsys):
    import yaml

    from sciope_abs.cli import main

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg(ssa_infer={"enabled": True}, infer={"n_particles": 10, "max_rounds": 1})))
    out = tmp_path / "cli_run"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "ran ['dataset', 'emulator', 'evaluate', 'infer', 'fidelity', 'ssa_infer']" in text
    assert "fidelity check:" in text and (out / "report.html").exists()
    assert "SSA-driven SMC-ABC" in (out / "report.html").read_text()
    # the demo command on the same config and folder: everything reused, posterior table printed
    assert main(["demo", "--config", str(path), "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "skipped" in text and "truth" in text and "report:" in text
    assert main(["run", str(tmp_path / "nope.yaml")]) == 1
    assert "not found" in capsys.readouterr().err


@pytest.mark.slow
def test_the_demo_pipeline_recovers_the_true_rates(tmp_path):
    """The full demo config (about 10 minutes on 2 cores): truth inside the 95 % credible interval
    and the posterior narrower than the prior."""
    from sciope_abs.cli.demo import demo_config

    c = demo_config()
    res = run_pipeline(c, tmp_path / "demo", progress=False)
    post = res.output("infer")
    ci = post.credible_interval(0.95)
    truth = np.array([c.observed["truth"][n] for n in post.names])
    assert ((ci[:, 0] <= truth) & (truth <= ci[:, 1])).all(), post.describe()
    # P1 alone pins down a21 (gene state G2 dominates P1) much better than a11: a21's posterior is
    # clearly narrower than its prior, a11's is no wider, and the joint posterior's generalized
    # variance is well below the prior's (a posterior equal to the prior would give ratio 1)
    prior_std = np.array([80.0, 400.0]) / np.sqrt(12)
    std = post.std()
    assert std[1] < 0.8 * prior_std[1] and std[0] <= prior_std[0], post.describe()
    samples = post.sample(4000, seed=0)
    gen_var_ratio = np.linalg.det(np.cov(samples.T)) / np.prod(prior_std ** 2)
    assert gen_var_ratio < 0.5, gen_var_ratio
    assert res.stages["fidelity"]["status"] == "ran"


@pytest.mark.slow
def test_losing_the_scheduler_keeps_the_finished_stages(tmp_path):
    """A real `dask scheduler` on 127.0.0.1, killed by pid after the dataset stage: `sciope-abs run`
    ends with one line naming the address; the finished stages are reused on the next run."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    import yaml

    venv_bin = Path(sys.executable).parent
    env = dict(os.environ)
    env["PATH"] = str(venv_bin) + os.pathsep + env.get("PATH", "")
    env.pop("SCIOPE_ABS_SCHEDULER", None)
    sched_file = tmp_path / "scheduler.json"
    sched = subprocess.Popen([str(venv_bin / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                              "--no-dashboard", "--scheduler-file", str(sched_file)], env=env, cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [sched]
    try:
        deadline = time.time() + 60
        while not sched_file.exists() and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)
        address = json.loads(sched_file.read_text())["address"]
        procs.append(subprocess.Popen([str(venv_bin / "dask"), "worker", address, "--nthreads", "1",
                                       "--no-dashboard", "--local-directory", str(tmp_path)], env=env,
                                      cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        path = tmp_path / "tiny.yaml"
        path.write_text(yaml.safe_dump(cfg(scheduler=None, evaluate={"n_settings": 4, "n_traj": 400})))
        run_dir = tmp_path / "run"
        proc = subprocess.Popen([str(venv_bin / "sciope-abs"), "run", str(path), "--out", str(run_dir),
                                 "--scheduler", address, "--quiet"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        marker = run_dir / "dataset" / "stage.json"
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None and not marker.exists():
            time.sleep(0.1)
        assert proc.poll() is None and marker.exists(), "the dataset stage did not finish first"
        sched.kill()
        _, err = proc.communicate(timeout=300)
    finally:
        for p in procs:
            p.kill()
            p.wait(20)
    assert proc.returncode == 1
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("sciope-abs run:")]
    # (lost mid-stage, or found gone when the next stage reconnects: both name the address)
    assert len(lines) == 1 and address in lines[0], err[-2000:]
    assert "Traceback" not in err
    assert marker.exists() and not (run_dir / "infer" / "stage.json").exists()
    again = run_pipeline(cfg(evaluate={"n_settings": 4, "n_traj": 400}), run_dir, progress=False,
                         stages=["emulator"], report=False)
    assert again.skipped()[0] == "dataset"


class _Recorder:
    """Records the (points, trajectories) of each simulate call."""

    def __init__(self, preferred=None):
        self.calls = []
        if preferred is not None:
            self.preferred_batch_size = preferred

    def simulate(self, theta, n_traj=1, seed=None, initial_state=None):
        self.calls.append((len(theta), n_traj))
        return np.zeros((len(theta), n_traj, 1, 2))


def test_cost_pilot_times_an_emulator_at_its_batch_and_an_ssa_per_trajectory():
    from sciope_abs.pipeline.stages import cost_per_proposal

    theta = np.zeros((7, 2))
    ssa = _Recorder()
    assert cost_per_proposal(ssa, theta, n_traj=20, initial_state=None, seed=0, budget_s=1e9) > 0
    # warm-up on one point, then 1, 2, 4 points (all 7 used), always one trajectory
    assert ssa.calls == [(1, 1), (1, 1), (2, 1), (4, 1)]
    emu = _Recorder(preferred=5)
    cost_per_proposal(emu, theta, n_traj=20, initial_state=None, seed=0, budget_s=1e9)
    # warm-up on two points, then batches of the preferred size with all trajectories
    assert emu.calls == [(2, 20), (5, 20), (7, 20)]
    once = _Recorder()
    cost_per_proposal(once, theta, n_traj=3, initial_state=None, seed=0, budget_s=0.0)
    assert once.calls == [(1, 1), (1, 1)]                 # the budget ends the pilot
