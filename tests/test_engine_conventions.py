"""Dask by its conventions (issue 14.4, 18.2): the user's own client, one bounded retry
mechanism, a function shipped once per client, a futures-level primitive, adaptive chunks.

One user-made ``LocalCluster`` (2 worker processes, ``allowed_failures=2``: a task runs at most 3
times) is shared by the module; the user's ``Client`` is Dask's default client, as after a plain
``Client(cluster)``.
"""
import numpy as np
import pytest

import _toy_simulators as toy
from _engine_helpers import (CountingGaussian, CountingSquare, kill_worker_on, pickles, seeded_sum,
                             worker_address)
from sciope_abs.engine import (SCHEDULER_ENV, TaskFailure, forget_shipped, get_client, imap_unordered,
                               parallel_map, submit_batches, user_client)
from sciope_abs.engine.parallel import _ChunkPlanner

ALLOWED_FAILURES = 2


@pytest.fixture(scope="module")
def users_client():
    import dask
    from distributed import Client, LocalCluster

    # worker-saturation 1.0: a one-thread worker holds only the task it runs, so a bystander is never
    # queued behind the task that kills the worker (with Dask's 1.1 it can be, and after 3 such deaths
    # the bystander is lost too: a flake seen once in CI)
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, scheduler_kwargs={"allowed_failures": ALLOWED_FAILURES})
    client = Client(cluster)  # set as default, as a user's client is
    client.wait_for_workers(2, timeout=120)
    yield client
    forget_shipped(client)
    client.close()
    cluster.close()


@pytest.fixture(autouse=True)
def _no_scheduler_env(monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)


def test_client_none_uses_the_client_the_user_created(users_client):
    assert user_client() is users_client
    assert get_client() is users_client
    theirs = set(users_client.scheduler_info(n_workers=-1)["workers"])
    used = set(parallel_map(worker_address, range(8), chunk_size=1, progress=False))  # client=None
    assert used and used <= theirs


def test_a_task_that_kills_its_worker_runs_a_bounded_number_of_times(users_client, tmp_path):
    log = tmp_path / "attempts.log"
    items = [(i, 2, str(log)) for i in range(6)]
    out = parallel_map(kill_worker_on, items, client=users_client, chunk_size=1, on_error="return",
                       progress=False)
    runs = log.read_text().split().count("2")
    assert 1 <= runs <= ALLOWED_FAILURES + 1, f"the killing item ran {runs} times"
    assert isinstance(out[2], TaskFailure)
    assert out[2].error.startswith("task lost: its worker died on each of 3 attempts")
    assert "\n" not in out[2].error
    assert [o for i, o in enumerate(out) if i != 2] == [10 * i for i in range(6) if i != 2]
    users_client.wait_for_workers(2, timeout=120)  # the nannies restart them; leave it as found


def test_a_function_is_serialised_once_across_maps(users_client, tmp_path):
    log = tmp_path / "pickles.log"
    fn = CountingSquare(str(log))
    assert parallel_map(fn, range(10), client=users_client, chunk_size=2, progress=False) == [i * i for i in range(10)]
    first = pickles(log)
    assert 1 <= first <= 3  # the client's one, plus at most one worker-to-worker copy per worker
    for _ in range(3):
        assert parallel_map(fn, range(10), client=users_client, chunk_size=1, progress=False)[9] == 81
    assert sorted(v for _, v in imap_unordered(fn, range(6), client=users_client)) == [0, 1, 4, 9, 16, 25]
    assert users_client.gather(submit_batches(fn, [3, 4], client=users_client)) == [9, 16]
    assert pickles(log) == first  # 6 maps, 40 tasks: still the first serialisation only
    fn.offset = 1  # a rebound attribute is a new state: it is shipped again
    parallel_map(fn, range(3), client=users_client, progress=False)
    assert pickles(log) > first


def test_smc_rounds_ship_the_simulator_once_per_run(users_client, tmp_path):
    from _toy_models import GaussianSimulator, MeanSummary
    from sciope_abs.inference import SMCABC
    from sciope_abs.priors import JointPrior, Uniform

    log = tmp_path / "sim-pickles.log"
    sim = CountingGaussian(str(log), T=8)
    obs = GaussianSimulator(T=8).simulate([[1.0]], n_traj=1, seed=2)[0]
    prior = JointPrior({"mu": Uniform(-2.0, 4.0)})
    post = SMCABC(sim, prior, MeanSummary(), observed=obs, client=users_client).infer(
        n_particles=30, quantile=0.5, max_rounds=4, min_acceptance_rate=0.01, seed=3, batch_size=10)
    assert len(post.history) == 4
    assert 1 <= pickles(log) <= 3  # not one per round (4) nor per task


def test_submit_batches_futures_carry_parallel_map_seeds(users_client):
    batches = [np.arange(i, i + 3) for i in range(7)]
    futures = submit_batches(seeded_sum, batches, seed=4, client=users_client)
    assert len(futures) == 7 and all(type(f).__name__ == "Future" for f in futures)
    ref = parallel_map(seeded_sum, batches, client="sync", seed=4, progress=False)
    assert users_client.gather(futures) == ref
    with pytest.raises(ValueError, match="needs a Dask client"):
        submit_batches(seeded_sum, batches, seed=4, client="sync")


def test_auto_chunks_grow_with_cheap_items_and_do_not_change_results(users_client):
    planner = _ChunkPlanner("auto", total=100_000, n_workers=2)
    assert planner.next_size() == 1  # the pilot task measures the cost
    planner.observe([2e-4] * 8)
    assert abs(planner.next_size() - 2500) <= 1  # ~0.5 s of 0.2 ms items
    slow = _ChunkPlanner("auto", total=100_000, n_workers=2)
    slow.observe([0.3] * 4)
    assert slow.next_size() == 1
    ref = parallel_map(toy.draw, range(400), client="sync", seed=9, chunk_size=1, progress=False)
    for chunk_size in ("auto", 7):
        got = parallel_map(toy.draw, range(400), client=users_client, seed=9, chunk_size=chunk_size,
                           progress=False)
        assert got == ref, chunk_size


def test_simulate_parallel_ships_the_same_simulator_once(users_client, tmp_path):
    from sciope_abs.engine import simulate_parallel

    log = tmp_path / "sim-pickles.log"
    sim = CountingGaussian(str(log), T=5)
    theta = np.linspace(0.5, 2.0, 12)[:, None]
    ref = sim._sim.simulate(theta, n_traj=2, seed=8)
    for chunk_size in (1, 4, "auto"):
        x = simulate_parallel(sim, theta, n_traj=2, seed=8, client=users_client, chunk_size=chunk_size,
                              progress=False)
        np.testing.assert_array_equal(x, ref)
    assert 1 <= pickles(log) <= 3  # once, not once per call (3) or per task (12 + 3 + ...)
    simulate_parallel(sim, theta, n_traj=3, seed=8, client=users_client, progress=False)
    assert pickles(log) > 1  # another n_traj is another task body


def test_a_function_that_cannot_be_loaded_on_the_workers_fails_each_item_once(users_client):
    from _engine_helpers import LoadsNowhere

    out = parallel_map(LoadsNowhere(), range(4), client=users_client, chunk_size=2, on_error="return",
                       progress=False)
    assert all(isinstance(o, TaskFailure) for o in out)
    assert all(o.error == "RuntimeError: this object cannot be loaded on a worker" for o in out)
    with pytest.raises(RuntimeError, match=r"item [0-3] failed: RuntimeError: this object cannot be loaded"):
        parallel_map(LoadsNowhere(), range(4), client=users_client, chunk_size=2, progress=False)
