"""``sciope-abs infer``: config -> run directory, resume, observed files, bad configs."""
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from sciope_abs.cli import main
from sciope_abs.inference import Posterior

REPO = Path(__file__).resolve().parents[1]

BASE = {
    "model": "toggle_switch",
    "species": ["U", "V"],
    "n_traj": 5,
    "observed": {"synthetic": {"truth": {"alpha1": 1.5, "mu": 0.6}, "n_traj": 5, "seed": 1}},
    "prior": {"alpha1": {"uniform": [0.1, 2.0]}, "mu": {"uniform": [0.1, 2.0]}},
    "summaries": ["mean", "std"],
    "distance": "adaptive",
    "method": "smc",
    "settings": {"n_particles": 60, "max_rounds": 4, "batch_size": 30},
    "seed": 3,
    "scheduler": "sync",
}


def _write(tmp_path, cfg, name="cfg.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_smc_run_writes_the_run_directory_and_resumes(tmp_path, capsys):
    cfg = _write(tmp_path, BASE)
    out = tmp_path / "run"
    assert main(["infer", str(cfg), "--out", str(out)]) == 0
    for f in ("config.yaml", "observed.npy", "posterior.npz", "history.json", "posterior.csv", "summary.txt",
              "posterior.html", "truth.json", "smc/state.json"):
        assert (out / f).exists(), f
    post = Posterior.load(out / "posterior.npz")
    assert post.names == ["alpha1", "mu"] and len(post) == 60 and post.method == "smc"
    assert len(json.loads((out / "history.json").read_text())) == 4
    assert "truth" in (out / "summary.txt").read_text()
    assert json.loads((out / "truth.json").read_text()) == {"alpha1": 1.5, "mu": 0.6}
    assert np.load(out / "observed.npy").shape == (5, 2, 101)

    # a finished run: --resume reports it
    capsys.readouterr()
    assert main(["infer", "--resume", str(out)]) == 0
    assert "complete" in capsys.readouterr().out

    # an interrupted run: put the SMC state back to the end of round 1 (what a crash in round 2
    # leaves on disk) and resume: the same posterior as the uninterrupted run
    smc = out / "smc"
    st = json.loads((smc / "state.json").read_text())
    hist = st["history"][:2]
    st.update(round=1, history=hist, status="running", tolerance=hist[1]["tolerance"],
              n_simulations=sum(h["n_simulations"] for h in hist))
    (smc / "state.json").write_text(json.dumps(st))
    assert not list(smc.glob("*.pkl"))
    for f in ("round_002.npz", "round_003.npz", "posterior.npz"):
        (smc / f).unlink()
    (out / "posterior.npz").unlink()
    assert main(["infer", "--resume", str(out)]) == 0
    again = Posterior.load(out / "posterior.npz")
    np.testing.assert_array_equal(again.samples, post.samples)
    np.testing.assert_array_equal(again.weights, post.weights)
    assert again.n_simulations == post.n_simulations

    # a non-empty output folder is refused for a new run
    assert main(["infer", str(cfg), "--out", str(out)]) == 1
    assert "not empty" in capsys.readouterr().err


def test_rejection_from_an_observed_file(tmp_path):
    from sciope_abs.simulators import make_simulator

    sim = make_simulator("toggle_switch", param_names=["alpha1", "mu"])
    x = sim.simulate([[1.5, 0.6]], n_traj=5, seed=2)[0]
    np.save(tmp_path / "data.npy", x)
    cfg = dict(BASE, method="rejection", observed={"file": "data.npy"},
               settings={"n_samples": 40, "quantile": 0.2, "batch_size": 50})
    path = _write(tmp_path, cfg)
    out = tmp_path / "rej"
    assert main(["infer", str(path), "--out", str(out)]) == 0
    post = Posterior.load(out / "posterior.npz")
    assert len(post) == 40 and post.n_simulations == 200 and post.method == "rejection"
    assert not (out / "truth.json").exists()


@pytest.mark.parametrize("change, message", [
    ({"prior": {"nope": {"uniform": [0, 1]}}}, "unknown parameters ['nope']"),
    ({"method": "mcmc"}, "method must be"),
    ({"settings": {"n_samples": 3}}, "not options of method 'smc'"),
    ({"observed": {"file": "missing.npy"}}, "not found"),
    ({"summaries": ["nonsense"]}, "unknown summary"),
    ({"colour": "red"}, "unknown config keys"),
])
def test_bad_configs_give_one_line_errors(tmp_path, capsys, change, message):
    cfg = dict(BASE, **change)
    path = _write(tmp_path, cfg)
    assert main(["infer", str(path), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_observed_of_the_wrong_shape_is_refused(tmp_path, capsys):
    np.save(tmp_path / "bad.npy", np.zeros((5, 3, 101)))
    path = _write(tmp_path, dict(BASE, observed={"file": "bad.npy"}))
    assert main(["infer", str(path), "--out", str(tmp_path / "o")]) == 1
    assert "simulator produces (r, 2, 101)" in capsys.readouterr().err


def test_help_documents_the_config_and_the_example_parses(capsys):
    with pytest.raises(SystemExit):
        main(["infer", "--help"])
    text = capsys.readouterr().out
    for key in ("observed:", "synthetic:", "uniform_around", "summaries:", "distance:", "--resume"):
        assert key in text
    example = yaml.safe_load((REPO / "examples" / "infer_toggle.yaml").read_text())
    assert example["model"] == "toggle_switch" and example["method"] in ("smc", "rejection")


def test_the_example_config_runs_on_small_sizes(tmp_path):
    cfg = yaml.safe_load((REPO / "examples" / "infer_toggle.yaml").read_text())
    cfg.update(n_traj=3, scheduler="sync")
    cfg["observed"]["synthetic"]["n_traj"] = 3
    cfg["settings"].update(n_particles=40, max_rounds=2)
    path = _write(tmp_path, cfg)
    assert main(["infer", str(path), "--out", str(tmp_path / "run")]) == 0
    post = Posterior.load(tmp_path / "run" / "posterior.npz")
    assert len(post) == 40 and post.names == ["alpha1", "alpha2", "beta", "gamma", "mu"]


def _start_scheduler(tmp_path: Path, env: dict) -> tuple:
    import subprocess
    import time

    venv_bin = str(Path(sys.executable).parent)
    sched_file = tmp_path / "scheduler.json"
    sched = subprocess.Popen([str(Path(venv_bin) / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                              "--no-dashboard", "--scheduler-file", str(sched_file)], env=env, cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not sched_file.exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)
    address = json.loads(sched_file.read_text())["address"]
    worker = subprocess.Popen([str(Path(venv_bin) / "dask"), "worker", address, "--nthreads", "1", "--nworkers", "1",
                               "--no-dashboard", "--local-directory", str(tmp_path)], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return sched, worker, address


def test_losing_the_scheduler_is_one_line_and_keeps_the_finished_rounds(tmp_path):
    """A real `dask scheduler` on 127.0.0.1, killed by pid in the middle of an SMC run."""
    import os
    import subprocess
    import time

    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("SCIOPE_ABS_SCHEDULER", None)
    cfg = dict(BASE, n_traj=10, settings={"n_particles": 60, "max_rounds": 6, "batch_size": 5,
                                          "min_acceptance_rate": 0.001})
    cfg.pop("scheduler")
    path = _write(tmp_path, cfg)
    out = tmp_path / "run"
    sched, worker, address = _start_scheduler(tmp_path, env)
    try:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "sciope-abs"), "infer", str(path), "--out",
                                 str(out), "--scheduler", address], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        state = out / "smc" / "state.json"
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if state.exists() and json.loads(state.read_text())["round"] >= 1:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before the scheduler could be killed"
        sched.kill()
        _, err = proc.communicate(timeout=240)
    finally:
        for p in (sched, worker):
            p.kill()
            p.wait(20)
    assert proc.returncode == 1
    # ours is one line; under load distributed may also log its own one-line reconnect failure
    # (and the CLI shows the library's status lines, such as "connected to Dask scheduler ...", on stderr)
    lines = [ln for ln in err.strip().splitlines() if not re.search(r"distributed\.\w+ - (ERROR|WARNING) - ", ln)
             and not ln.startswith("connected to Dask scheduler ")]
    assert len(lines) == 1, err
    assert lines[0].startswith("sciope-abs infer: error: ") and address in lines[0], err
    assert "Traceback" not in err
    kept = json.loads(state.read_text())["round"]
    assert kept >= 1 and not (out / "posterior.npz").exists()
    assert json.loads((out / "run.json").read_text())["status"] == "failed"
    # what was finished is kept: resuming in-process gives the uninterrupted in-process answer
    assert main(["infer", "--resume", str(out), "--scheduler", "sync"]) == 0
    resumed = Posterior.load(out / "posterior.npz")
    assert main(["infer", str(path), "--out", str(tmp_path / "ref"), "--scheduler", "sync"]) == 0
    ref = Posterior.load(tmp_path / "ref" / "posterior.npz")
    np.testing.assert_array_equal(resumed.samples, ref.samples)
    np.testing.assert_array_equal(resumed.weights, ref.weights)


@pytest.mark.parametrize("change, message", [
    ({"settings": {"n_particles": 60, "quantile": "abc"}}, "settings.quantile: could not convert 'abc' to a number"),
    ({"settings": {"n_particles": 60, "min_acceptance_rate": -0.1}}, "min_acceptance_rate must lie in (0, 1]"),
    ({"n_traj": "many"}, "n_traj: could not convert 'many' to a number"),
    ({"summaries": [{"name": "autocorrelation", "lags": [500]}]}, "autocorrelation lag 500 needs more"),
    ({"distance": {"name": "adaptive", "p": 3}}, "distance: Adaptive: p must be 1 or 2"),
])
def test_config_errors_are_found_before_the_run_folder_is_written(tmp_path, capsys, change, message):
    path = _write(tmp_path, dict(BASE, **change))
    out = tmp_path / "o"
    assert main(["infer", str(path), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_a_folder_whose_run_never_started_is_reusable(tmp_path, capsys):
    """An error found only when the run starts (rejection checks its quantile range itself) leaves
    the folder reusable: --resume refuses to re-run the bad copy, the fixed config is accepted."""
    rej = dict(BASE, method="rejection", settings={"n_samples": 20, "quantile": 1.5, "batch_size": 50})
    bad = _write(tmp_path, rej, "bad.yaml")
    out = tmp_path / "o"
    assert main(["infer", str(bad), "--out", str(out)]) == 1
    assert "quantile must lie in (0, 1]" in capsys.readouterr().err
    assert (out / "config.yaml").exists() and json.loads((out / "run.json").read_text())["status"] == "failed"
    assert main(["infer", "--resume", str(out)]) == 1
    err = capsys.readouterr().err
    assert "nothing to resume" in err and "quantile must lie in (0, 1]" in err and len(err.strip().splitlines()) == 1
    good = _write(tmp_path, dict(rej, settings={"n_samples": 20, "quantile": 0.5, "batch_size": 50}), "good.yaml")
    assert main(["infer", str(good), "--out", str(out)]) == 0
    assert len(Posterior.load(out / "posterior.npz")) == 20
    assert yaml.safe_load((out / "config.yaml").read_text())["settings"]["quantile"] == 0.5
