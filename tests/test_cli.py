"""The CLI commands of the foundation: models, simulate, demo (and --help for all)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sciope_abs.cli import COMMANDS, main
from sciope_abs.crn import list_models, load_model
from sciope_abs.engine import close_clients, get_client
from sciope_abs.store import load_simulations

CLI = str(Path(sys.executable).parent / "sciope-abs")


@pytest.fixture(scope="module")
def scheduler():
    client = get_client(n_workers=2, verbose=False)
    yield client.scheduler.address
    close_clients()


def test_help_documents_every_command():
    out = subprocess.run([CLI, "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    for name in COMMANDS:
        assert f"\n    {name}" in out.stdout, name
    for name in ("models", "simulate", "demo"):
        sub = subprocess.run([CLI, name, "--help"], capture_output=True, text=True, timeout=120)
        assert sub.returncode == 0 and f"sciope-abs {name}" in sub.stdout


def test_models_lists_the_library(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["model", "species"]
    for name in list_models():
        row = next(line for line in lines if line.split() and line.split()[0] == name)
        crn = load_model(name)
        assert row.split()[-2:] == [f"{crn.dt:g}", str(crn.n_steps)]
    assert main(["models", "x16"]) == 0
    out = capsys.readouterr().out
    assert "G1, G2, P1" in out and "a11" in out and "varied in [60, 140]" in out


def test_unknown_model_is_a_one_line_error(capsys):
    assert main(["simulate", "no_such_model", "-n", "2", "--scheduler", "sync"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown model 'no_such_model'" in err
    assert main(["models", "nope"]) == 1


@pytest.mark.parametrize("argv, message", [
    (["simulate", "x16", "--params", "a11,zz"], "unknown parameter(s) ['zz']"),
    (["simulate", "x16", "-n", "0"], "-n must be >= 1"),
    (["simulate", "x16", "--traj", "0"], "--traj must be >= 1"),
    (["simulate", "x16", "--chunk-size", "lots"], "--chunk-size must be"),
    (["simulate", "x16", "--solver", "magic"], "unknown solver 'magic'"),
    (["simulate", "missing.xml"], "SBML file missing.xml not found"),
])
def test_bad_simulate_input_exits_1_with_the_problem_named(argv, message, capsys, tmp_path):
    assert main(argv + ["--scheduler", "sync", "--out", str(tmp_path / "o.zarr")]) == 1
    err = capsys.readouterr().err
    assert message in err and err.strip().count("\n") == 0
    assert not (tmp_path / "o.zarr").exists()


def test_simulate_on_dask_writes_a_reproducible_store(scheduler, tmp_path, capsys):
    out = tmp_path / "x16.zarr"
    argv = ["simulate", "x16", "--design", "sobol", "-n", "8", "--traj", "3", "--seed", "1", "--steps", "4",
            "--params", "a11,b1", "--quiet"]
    assert main(argv + ["--scheduler", scheduler, "--out", str(out)]) == 0
    assert f"wrote {out}: 8 points x 3 trajectories x 3 species x 5 times of x16" in capsys.readouterr().out
    s = load_simulations(out)
    assert s.traces.shape == (8, 3, 3, 5) and s.theta.shape == (8, 2)
    assert s.param_names == ("a11", "b1") and s.species == ("G1", "G2", "P1")
    np.testing.assert_array_equal(s.timespan, np.arange(5) * 20.0)
    x16 = load_model("x16")
    assert s.attrs["model_hash"] == x16.content_hash() and s.attrs["seed"] == 1 and s.attrs["design"] == "sobol"
    assert ((s.theta >= [60, 1.2]) & (s.theta <= [140, 2.8])).all()
    assert np.isfinite(s.traces).all()
    assert (s.traces[:, :, 0] + s.traces[:, :, 1] == 4).all()  # G1 + G2 conserved (default 2 + 2)
    assert (s.traces[:, :, 2, 0] == 800).all()  # P1 starts at its initial count
    # the same command in-process gives the same store, bit for bit
    assert main(argv + ["--scheduler", "sync", "--out", str(tmp_path / "sync.zarr")]) == 0
    again = load_simulations(tmp_path / "sync.zarr")
    np.testing.assert_array_equal(again.theta, s.theta)
    np.testing.assert_array_equal(again.traces, s.traces)


# ------------------------------------------------------------------ a wheel install (issue 13.11)
def _run(cmd, **kw):
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)
    assert out.returncode == 0, f"{cmd}: {out.stdout[-2000:]}{out.stderr[-2000:]}"
    return out


def test_a_wheel_install_finds_the_packaged_demo_config_outside_the_checkout(tmp_path):
    """Build a wheel from the package sources, install it (no deps) into a fresh venv that borrows the
    dependencies of this one, and run the CLI from a folder with no checkout around it."""
    import shutil
    import sysconfig
    import zipfile

    repo = Path(__file__).resolve().parents[1]
    src = tmp_path / "src"
    shutil.copytree(repo / "sciope_abs", src / "sciope_abs", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.py", "setup.cfg", "README.md"):
        shutil.copy2(repo / name, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist",
          src])
    wheel = next((tmp_path / "dist").glob("sciope_abs-*.whl"))
    assert "sciope_abs/data/pipeline_demo.yaml" in zipfile.ZipFile(wheel).namelist()

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    site = Path(_run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
                     ).stdout.strip())
    # this venv's dependencies, but not its editable sciope_abs (a plain path entry runs no .pth hooks)
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "borrowed_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q", "--no-deps",
          "--no-index", wheel])

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = str(venv / "bin") + os.pathsep + env.get("PATH", "")
    cli = venv / "bin" / "sciope-abs"
    help_ = _run([cli, "demo", "--help"], cwd=elsewhere, env=env)
    assert "sciope-abs demo" in help_.stdout
    probe = ("import sciope_abs, sciope_abs.cli.demo as d; print(sciope_abs.__file__); "
             "print(d.demo_config_path()); print(d.demo_config().name)")
    where, cfg_path, name = _run([venv / "bin" / "python", "-c", probe], cwd=elsewhere, env=env).stdout.split()
    assert Path(where).is_relative_to(site) and Path(cfg_path).is_relative_to(site)  # the wheel, not the checkout
    assert name == "x16_demo"


# ------------------------------------------------------------------ errors name the user's file, early (issue 13.9)
# An unreachable scheduler proves the order: the destination is refused before anything connects or simulates.
NOWHERE = ["--scheduler", "tcp://127.0.0.1:9", "-n", "100000", "--traj", "1000"]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    return err


def test_simulate_refuses_an_unwritable_out_before_simulating(unwritable_dir, capsys):
    out = unwritable_dir / "x16.zarr"
    assert main(["simulate", "x16", *NOWHERE, "--out", str(out)]) == 1
    err = _one_line_error(capsys)
    assert f"--out {out} cannot be written: no permission to create it in {unwritable_dir}" in err
    assert ".tmp-" not in err and ".probe-" not in err and "Dask scheduler" not in err
    assert list(unwritable_dir.iterdir()) == []


def test_simulate_refuses_an_out_below_a_file_or_over_a_plain_folder(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    out = tmp_path / "notes.txt" / "runs" / "x16.zarr"
    assert main(["simulate", "x16", *NOWHERE, "--out", str(out)]) == 1
    assert f"--out {out} cannot be written: {tmp_path / 'notes.txt'} is not a folder" in _one_line_error(capsys)
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "keep.txt").write_text("y")
    assert main(["simulate", "x16", *NOWHERE, "--out", str(tmp_path / "precious")]) == 1
    assert "exists and is not a zarr store; refusing to overwrite it" in _one_line_error(capsys)
    assert (tmp_path / "precious" / "keep.txt").read_text() == "y"


def test_a_config_that_is_not_utf8_or_not_a_file_is_named(tmp_path, capsys):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: caf\u00e9\nmodel: x16\n".encode("latin-1"))
    assert main(["demo", "--config", str(bad), "--out", str(tmp_path / "run")]) == 1
    err = _one_line_error(capsys)
    assert f"config {bad} is not UTF-8 text" in err
    assert main(["demo", "--config", str(tmp_path), "--out", str(tmp_path / "run")]) == 1
    assert f"config {tmp_path} cannot be read" in _one_line_error(capsys)
    assert not (tmp_path / "run").exists()


def test_a_dataset_with_a_missing_chunk_is_refused_naming_the_store(tmp_path, capsys):
    from _synthetic_kernel import synthetic_dataset

    path = synthetic_dataset(n_settings=10, n_traj=2, n_steps=3).save(tmp_path / "ds.zarr")
    next(f for f in (path / "traces").rglob("*") if f.is_file() and f.name != "zarr.json").unlink()
    assert main(["train", str(path), "--out", str(tmp_path / "emu"), "--quiet"]) == 1
    err = _one_line_error(capsys)
    assert f"{path}: array 'traces' is missing chunk" in err
    assert not (tmp_path / "emu").exists()
