"""A real cluster losing a worker mid-run (issue 13.12).

`dask scheduler` and `dask worker --nworkers 2` run as separate processes on 127.0.0.1; while an
SMC-ABC run is in flight, one worker process is killed by its pid (SIGKILL, as the OOM killer
would).  The run must finish with exactly the particles, weights and simulation counts of the
same seed run in-process: a lost batch is recomputed once, never counted twice, never dropped.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from _toy_models import GaussianSimulator, MeanSummary
from sciope_abs.distances import Euclidean
from sciope_abs.engine import SCHEDULER_ENV, close_clients, get_client
from sciope_abs.inference import SMCABC
from sciope_abs.priors import JointPrior, Uniform

TESTS_DIR = str(Path(__file__).resolve().parent)
VENV_BIN = str(Path(sys.executable).parent)


class SlowGaussian(GaussianSimulator):
    """The Gaussian toy, ``sleep`` seconds per call: batches stay in flight long enough to lose one."""

    def __init__(self, sleep: float = 0.15, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sleep = float(sleep)

    def simulate(self, theta, **kwargs):
        time.sleep(self.sleep)
        return super().simulate(theta, **kwargs)


@pytest.fixture(scope="module")
def scheduler_with_two_workers(tmp_path_factory):
    """Address of a `dask scheduler` on 127.0.0.1 with two single-thread worker processes (nannied)."""
    tmp = tmp_path_factory.mktemp("dask-faults")
    sched_file = tmp / "scheduler.json"
    env = dict(os.environ)
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (TESTS_DIR, env.get("PYTHONPATH", "")) if p)
    env.pop(SCHEDULER_ENV, None)
    dask = str(Path(VENV_BIN) / "dask")
    quiet = dict(env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(sched_file)], **quiet)]
    address = None
    try:
        deadline = time.time() + 90
        while time.time() < deadline and address is None:
            time.sleep(0.1)
            try:
                address = json.loads(sched_file.read_text())["address"]
            except (FileNotFoundError, json.JSONDecodeError, KeyError):
                continue
        assert address is not None, "dask scheduler did not start within 90 s"
        assert address.startswith("tcp://127.0.0.1:")
        procs.append(subprocess.Popen([dask, "worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                                       "--nworkers", "2", "--no-dashboard", "--local-directory", str(tmp)],
                                      **quiet))
        yield address
    finally:
        if address is not None:
            close_clients(address)
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


class _Killer(threading.Thread):
    """Once round 0 is on disk, SIGKILL one worker process while it is running a batch."""

    def __init__(self, client, victim: str, pid: int, run_dir: Path) -> None:
        super().__init__(daemon=True)
        self.client, self.victim, self.pid, self.run_dir = client, victim, pid, run_dir
        self.killed_at = None
        self.busy_with = []

    def run(self) -> None:
        deadline = time.time() + 120
        while time.time() < deadline:
            if (self.run_dir / "round_000.npz").exists():
                busy = self.client.processing(workers=[self.victim]).get(self.victim, ())
                if busy:
                    self.busy_with = list(busy)
                    os.kill(self.pid, signal.SIGKILL)
                    self.killed_at = time.time()
                    return
            time.sleep(0.02)


def test_smc_survives_a_killed_worker_with_exact_counts(scheduler_with_two_workers, tmp_path):
    sim = SlowGaussian(sleep=0.15, T=16)
    obs = GaussianSimulator(T=16).simulate([[1.3]], n_traj=1, seed=5)[0]
    prior = JointPrior({"mu": Uniform(-2.0, 4.0)})
    kw = dict(n_particles=40, quantile=0.5, max_rounds=4, min_acceptance_rate=0.01, seed=17, batch_size=10)

    client = get_client(scheduler_with_two_workers)
    client.wait_for_workers(2, timeout=90)
    pids = client.run(os.getpid)
    assert len(pids) == 2 and os.getpid() not in pids.values()
    victim = sorted(pids)[0]

    killer = _Killer(client, victim, pids[victim], tmp_path / "cluster")
    killer.start()
    post = SMCABC(sim, prior, MeanSummary(), Euclidean(), observed=obs, client=client).infer(
        **kw, run_dir=tmp_path / "cluster")
    finished_at = time.time()
    killer.join(timeout=5)

    # the worker really died by pid, mid-run, while it held a batch
    assert killer.killed_at is not None and killer.killed_at < finished_at and killer.busy_with
    with pytest.raises(ProcessLookupError):
        os.kill(pids[victim], 0)
    assert pids[victim] not in client.run(os.getpid).values()

    ref = SMCABC(SlowGaussian(sleep=0.0, T=16), prior, MeanSummary(), Euclidean(), observed=obs,
                 client="sync").infer(**kw, run_dir=tmp_path / "sync")
    assert len(post.history) == len(ref.history) == 4
    np.testing.assert_array_equal(post.samples, ref.samples)
    np.testing.assert_array_equal(post.weights, ref.weights)
    assert post.n_simulations == ref.n_simulations
    assert [h["n_simulations"] for h in post.history] == [h["n_simulations"] for h in ref.history]
    assert [h["tolerance"] for h in post.history] == [h["tolerance"] for h in ref.history]
    # no particle accepted twice (a recomputed batch is not appended a second time)
    assert post.samples.shape[0] == 40 and np.unique(post.samples, axis=0).shape[0] == 40
