"""The Dask engine: get_client, parallel_map, imap_unordered, simulate_parallel.

One 2-worker and one 1-worker LocalCluster are shared by the whole module (start-up is the
expensive part); the external-cluster test starts `dask scheduler` + `dask worker` processes.
"""
import itertools
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import _toy_simulators as toy
from sciope_abs.engine import (SCHEDULER_ENV, TaskFailure, close_clients, get_client, imap_unordered, parallel_map,
                               simulate_parallel)
from sciope_abs.simulators.base import SimulationWarning

TESTS_DIR = str(Path(__file__).resolve().parent)
VENV_BIN = str(Path(sys.executable).parent)


@pytest.fixture(scope="module", autouse=True)
def _close_clusters_after_module():
    yield
    close_clients()


@pytest.fixture(scope="module")
def client2():
    return get_client(n_workers=2, verbose=False)


@pytest.fixture(scope="module")
def client1():
    return get_client(n_workers=1, verbose=False)


def _theta(n, seed=0):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(1, 40, n), rng.uniform(0.1, 1.0, n)])


# ---------------------------------------------------------------------------- parallel_map
def test_results_come_back_in_input_order(client2):
    items = list(range(37))
    for chunk_size in (1, 3, "auto"):
        out = parallel_map(toy.square, items, client=client2, chunk_size=chunk_size, progress=False)
        assert out == [i * i for i in items], chunk_size


def test_seeded_map_is_independent_of_workers_chunks_and_backend(client1, client2):
    items = list(range(25))
    ref = parallel_map(toy.draw, items, client="sync", seed=11, progress=False)
    # item i gets child i of the seed: the draw is reproducible from the seed alone
    expected = [i + float(np.random.default_rng(s).normal()) for i, s in
                enumerate(np.random.SeedSequence(11).spawn(len(items)))]
    assert ref == expected
    for client in (client1, client2):
        for chunk_size in (1, 3, "auto"):
            got = parallel_map(toy.draw, items, client=client, seed=11, chunk_size=chunk_size, progress=False)
            assert got == ref, (client, chunk_size)
    other = parallel_map(toy.draw, items, client="sync", seed=12, progress=False)
    assert other != ref


def test_on_error_return_keeps_the_other_items(client2):
    out = parallel_map(toy.fail_on_three, range(8), client=client2, on_error="return", chunk_size=3,
                       progress=False)
    assert [o for i, o in enumerate(out) if i != 3] == [i * 10 for i in range(8) if i != 3]
    assert isinstance(out[3], TaskFailure) and out[3].index == 3
    assert "ValueError: three is not allowed" in out[3].error
    assert "fail_on_three" in out[3].traceback


@pytest.mark.parametrize("backend", ["sync", "dask"])
def test_on_error_raise_names_the_item(backend, client2):
    client = "sync" if backend == "sync" else client2
    with pytest.raises(ValueError, match=r"item 3 failed: ValueError: three is not allowed"):
        parallel_map(toy.fail_on_three, range(8), client=client, progress=False)


def test_bad_arguments_raise_value_errors(client2):
    with pytest.raises(ValueError, match="chunk_size"):
        parallel_map(toy.square, range(3), client="sync", chunk_size=0, progress=False)
    with pytest.raises(ValueError, match="on_error"):
        parallel_map(toy.square, range(3), client="sync", on_error="ignore", progress=False)
    with pytest.raises(ValueError, match="retries"):
        parallel_map(toy.square, range(3), client="sync", retries=-1, progress=False)
    assert parallel_map(toy.square, [], client=client2, progress=False) == []


def test_progress_bar_goes_to_stderr(capsys):
    parallel_map(toy.square, range(5), client="sync", progress=True, desc="squares")
    captured = capsys.readouterr()
    assert "squares" in captured.err and "5/5" in captured.err
    assert captured.out == ""


def test_task_lost_with_its_worker_is_retried(client2, tmp_path):
    marker = tmp_path / "died-once"
    items = [(i, str(marker)) for i in range(6)]
    out = parallel_map(toy.die_once, items, client=client2, chunk_size=1, progress=False)
    assert marker.exists()  # a worker really died
    assert out == [2 * i for i in range(6)]
    client2.wait_for_workers(2, timeout=60)  # the nanny restarts it; leave the cluster as found


def test_local_workers_have_the_environment_bin_on_path(client2):
    paths = parallel_map(toy.worker_path, range(2), client=client2, chunk_size=1, progress=False)
    for p in paths:
        assert VENV_BIN in p.split(os.pathsep)


# ---------------------------------------------------------------------------- imap_unordered
def test_imap_unordered_yields_each_result_once(client2):
    got = list(imap_unordered(toy.square, range(30), client=client2, chunk_size=4))
    assert sorted(i for i, _ in got) == list(range(30))
    assert all(v == i * i for i, v in got)


def test_imap_unordered_streams_an_endless_iterator_with_parallel_map_seeds(client2):
    ref = parallel_map(toy.draw, range(12), client="sync", seed=5, progress=False)
    gen = imap_unordered(toy.draw, itertools.count(), client=client2, seed=5, chunk_size=2, max_in_flight=3)
    got = {}
    for i, v in gen:
        got[i] = v
        if len([k for k in got if k < 12]) == 12:
            break
    gen.close()
    assert [got[i] for i in range(12)] == ref


def test_closing_imap_unordered_cancels_outstanding_tasks(client2, tmp_path):
    log = tmp_path / "calls.log"
    items = [(i, str(log)) for i in range(40)]  # 40 x 0.2 s = 8 s of work if nothing were cancelled
    gen = imap_unordered(toy.record_call, items, client=client2, chunk_size=1, max_in_flight=2)
    first = [next(gen) for _ in range(2)]
    gen.close()
    assert len({i for i, _ in first}) == 2
    time.sleep(1.0)
    ran = log.read_text().split()
    assert len(ran) <= 6, f"{len(ran)} items ran after closing early"
    time.sleep(0.5)
    assert len(log.read_text().split()) == len(ran)  # nothing keeps running in the background


# ---------------------------------------------------------------------------- simulate_parallel
def test_simulate_parallel_is_bit_identical_to_one_serial_call(client1, client2):
    sim = toy.ToySimulator()
    theta = _theta(23)
    ref = sim.simulate(theta, n_traj=4, seed=3)
    for client in ("sync", client1, client2):
        for chunk_size in (1, 3, "auto"):
            x = simulate_parallel(sim, theta, n_traj=4, seed=3, client=client, chunk_size=chunk_size,
                                  progress=False)
            assert x.shape == (23, 4, 2, 6) and x.dtype == np.float64
            np.testing.assert_array_equal(x, ref)
    assert not np.array_equal(simulate_parallel(sim, theta, n_traj=4, seed=4, client="sync", progress=False), ref)


def test_simulate_parallel_passes_initial_states_per_point(client2):
    sim = toy.ToySimulator()
    theta = _theta(6)
    x0 = np.column_stack([np.arange(6) * 100, np.full(6, 7)])
    ref = sim.simulate(theta, n_traj=2, seed=9, initial_state=x0)
    x = simulate_parallel(sim, theta, n_traj=2, seed=9, initial_state=x0, client=client2, chunk_size=4,
                          progress=False)
    np.testing.assert_array_equal(x, ref)
    assert (x[:, :, 0, 0] == x0[:, :1]).all()  # the toy's A starts exactly at its initial count
    assert (x[:, :, 1, :] >= 7).all()
    with pytest.raises(ValueError, match="initial_state"):
        simulate_parallel(sim, theta, initial_state=np.zeros((5, 2)), client="sync", progress=False)


def test_failed_points_are_nan_and_reported_without_killing_the_batch(client2):
    sim = toy.ToySimulator(fail_above=30)
    theta = _theta(20)
    bad = theta[:, 0] > 30
    assert 0 < bad.sum() < 20
    with pytest.warns(SimulationWarning, match=rf"{bad.sum()} of 20 parameter points failed.*too large"):
        x = simulate_parallel(sim, theta, n_traj=3, seed=1, client=client2, chunk_size=3, progress=False)
    assert np.isnan(x[bad]).all()
    good = toy.ToySimulator().simulate(theta, n_traj=3, seed=1)
    np.testing.assert_array_equal(x[~bad], good[~bad])


def test_postprocess_runs_in_the_tasks(client2):
    sim = toy.ToySimulator()
    theta = _theta(10)
    feats = simulate_parallel(sim, theta, n_traj=5, seed=2, client=client2, chunk_size=3, progress=False,
                              postprocess=toy.final_mean)
    assert feats.shape == (10, 2)
    np.testing.assert_array_equal(feats, toy.final_mean(sim.simulate(theta, n_traj=5, seed=2)))


def test_simulate_parallel_validates_theta():
    sim = toy.ToySimulator()
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        simulate_parallel(sim, np.ones((4, 3)), client="sync", progress=False)
    with pytest.raises(ValueError, match="negative"):
        simulate_parallel(sim, np.array([[1.0, -1.0]]), client="sync", progress=False)
    with pytest.raises(ValueError, match="n_traj"):
        simulate_parallel(sim, np.ones((2, 2)), n_traj=0, client="sync", progress=False)


# ---------------------------------------------------------------------------- get_client
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_gives_a_quick_one_line_connection_error():
    address = f"tcp://127.0.0.1:{_free_port()}"
    t0 = time.perf_counter()
    with pytest.raises(ConnectionError) as info:
        get_client(address, timeout=2)
    assert time.perf_counter() - t0 < 15
    msg = str(info.value)
    assert address in msg and "\n" not in msg


def test_malformed_address_is_a_value_error():
    with pytest.raises(ValueError, match="expected tcp://HOST:PORT"):
        get_client("no port here")


def test_scheduler_env_sync_runs_in_process(monkeypatch):
    monkeypatch.setenv(SCHEDULER_ENV, "sync")
    assert parallel_map(toy.getpid, range(3), progress=False) == [os.getpid()] * 3


def test_local_client_is_cached(client2):
    assert get_client(n_workers=2) is client2


@pytest.fixture(scope="module")
def external_cluster(tmp_path_factory):
    """`dask scheduler` + one `dask worker --nthreads 1` as separate processes on 127.0.0.1."""
    tmp = tmp_path_factory.mktemp("dask-external")
    sched_file = tmp / "scheduler.json"
    env = dict(os.environ)
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (TESTS_DIR, env.get("PYTHONPATH", "")) if p)
    env.pop(SCHEDULER_ENV, None)
    dask = str(Path(VENV_BIN) / "dask")
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(sched_file)], env=env, cwd=tmp,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.time() + 60
        while not sched_file.exists() and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--nworkers", "1",
                                       "--no-dashboard", "--local-directory", str(tmp)], env=env, cwd=tmp,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield address
    finally:
        close_clients(address)  # disconnect before the scheduler goes away
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_external_scheduler_runs_a_real_simulation(external_cluster, monkeypatch, client2):
    from sciope_abs.crn import load_model
    from sciope_abs.simulators import FastSSASimulator

    client = get_client(external_cluster)
    client.wait_for_workers(1, timeout=60)
    assert len(client.scheduler_info()["workers"]) == 1

    model = load_model("toggle_switch")
    sim = FastSSASimulator(model, timespan=model.timespan()[:6])
    theta = model.sample_rates(6, seed=0)
    x_ext = simulate_parallel(sim, theta, n_traj=3, seed=21, client=client, chunk_size=2, progress=False)
    assert x_ext.shape == (6, 3, len(sim.species), 6)
    assert np.isfinite(x_ext).all()
    # the same numbers on the 2-worker local cluster: workers don't matter
    x_loc = simulate_parallel(sim, theta, n_traj=3, seed=21, client=client2, chunk_size="auto", progress=False)
    np.testing.assert_array_equal(x_ext, x_loc)

    # the scheduler from the environment variable, used when no client is given
    monkeypatch.setenv(SCHEDULER_ENV, external_cluster)
    assert get_client() is client
    feats = simulate_parallel(toy.ToySimulator(), _theta(5), n_traj=2, seed=4, progress=False,
                              postprocess=toy.final_mean)
    np.testing.assert_array_equal(feats, toy.final_mean(toy.ToySimulator().simulate(_theta(5), n_traj=2, seed=4)))
    paths = parallel_map(toy.worker_path, range(1), progress=False)
    assert VENV_BIN in paths[0].split(os.pathsep)


@pytest.mark.slow
def test_gillespy2_c_solver_builds_and_runs_on_dask_workers(client2):
    """Workers find SCons (the environment's bin on PATH) and compile GillesPy2's C++ SSA."""
    from sciope_abs.crn import load_model
    from sciope_abs.simulators import GillespySimulator

    model = load_model("toggle_switch")
    sim = GillespySimulator(model, timespan=model.timespan()[:6], solver="ssa")
    theta = model.sample_rates(6, seed=0)
    x = simulate_parallel(sim, theta, n_traj=3, seed=21, client=client2, chunk_size=2, progress=False)
    np.testing.assert_array_equal(x, sim.simulate(theta, n_traj=3, seed=21))
    assert np.isfinite(x).all()
