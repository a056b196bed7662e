"""Task sizing of the ABC streams: several proposal batches per Dask task, sized from the
measured cost and shrinking towards the end of a round; grouping never changes a result."""
import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _toy_models import GaussianSimulator, MeanSummary  # noqa: E402

from sciope_abs.distances import Euclidean  # noqa: E402
from sciope_abs.inference import SMCABC, ABCRejection  # noqa: E402
from sciope_abs.inference._stream import (TASK_SECONDS, LazyBatch, SimulateGroup, TaskGroup, TaskSizer,  # noqa: E402
                                          _RoundFeed, expected_need)
from sciope_abs.inference.tasks import ProposalBatch, SimulateSummarise  # noqa: E402
from sciope_abs.priors import JointPrior, Uniform  # noqa: E402


def test_sizer_one_batch_in_process_and_before_a_cost_is_known():
    assert TaskSizer(0).size() == 1
    s = TaskSizer(0)
    s.observe(1, 1.0, 0.001)
    assert s.size(remaining=1e6) == 1            # in-process: never grouped
    s = TaskSizer(2)
    assert s.batch_seconds is None and s.size() == 1


def test_sizer_aims_at_the_target_and_shrinks_at_the_tail():
    s = TaskSizer(2, target=0.2, tail=2, least=0.0)
    s.observe(4, 10.0, 0.04)                      # 10 ms of CPU per batch (the wall time is ignored)
    assert s.batch_seconds == pytest.approx(0.01)
    assert s.size() == 20                         # 0.2 s / 10 ms
    assert s.size(remaining=1000) == 20
    assert s.size(remaining=40) == 10             # 40 batches left over 2 x 2 tasks
    assert s.size(remaining=3) == 1               # never below one batch
    assert s.profile()["batches_per_task"] == {"1": 1, "10": 1, "20": 2}
    assert s.profile()["n_tasks"] == 1 and s.profile()["task_cpu_seconds"] == pytest.approx(0.04)


def test_sizer_keeps_a_floor_of_measured_work_per_task():
    s = TaskSizer(2, target=0.2, tail=2, least=0.06)
    s.observe(4, 10.0, 0.04)                      # 10 ms per batch: at least 6 batches a task
    assert s.size(remaining=3) == 6 and s.size(remaining=40) == 10 and s.size() == 20
    assert s.size(remaining=0, at_most=1) == 6    # the floor also overrides the ramp-up
    big = TaskSizer(2, target=0.2, tail=2, least=0.06)
    big.observe(1, 1.0, 0.5)                      # a batch costs more than the target: one a task
    assert big.size(remaining=100) == 1


def test_imap_unordered_cancels_what_cancel_if_names(cluster):
    from _toy_simulators import square

    from sciope_abs.engine import imap_unordered

    seen = []

    def drop(positions):
        seen.append(tuple(positions))
        return any(p % 3 == 2 for p in positions)

    got = dict(imap_unordered(square, iter(range(12)), client=cluster, max_in_flight=12, cancel_if=drop))
    kept = {i for i in range(12) if i % 3 != 2}
    assert kept <= set(got)                       # what is not named always arrives ...
    assert len(set(got) - kept) <= 1              # ... the named never do (but the first result,
    assert all(v == k * k for k, v in got.items()) and seen  # which comes before any check)


def test_feed_respects_the_cap_and_the_expected_need():
    made = []

    def propose(k, m):
        made.append((k, m))
        return ProposalBatch(k, np.zeros((m, 1)), np.random.SeedSequence(k))

    s = TaskSizer(1, target=1.0, tail=1)
    s.observe(1, 0.1, 0.1)                        # 10 batches per task by cost
    feed = _RoundFeed(1, propose, 10, cap=35)
    assert [b.index for b in feed.next_group(s).batches] == [0]  # a round ramps up: 1, 2, ... batches
    assert [b.index for b in feed.next_group(s).batches] == [1, 2]
    g = feed.next_group(s).batches                               # 0.5 batch left under the cap
    assert [b.index for b in g] == [3] and g[0].theta.shape[0] == 5
    assert feed.next_group(s) is None and feed.made == 35

    class R:
        n, n_acc, n_eval = 100, 0, 0

    need = expected_need(R, prior_rate=0.5)      # 200 proposals expected = 20 batches
    feed = _RoundFeed(1, propose, 10, cap=None, need=need)
    sizes = [len(feed.next_group(s).batches) for _ in range(5)]
    assert sizes == [1, 2, 4, 8, 5]               # ramp-up, then what is left of the need
    assert feed.covered() and s.in_flight(feed.covered()) == 2
    assert len(feed.next_group(s).batches) == 1   # past the need: one batch at a time
    feed.consumed = 150
    assert not feed.covered() and s.in_flight(feed.covered()) == 3


def test_expected_need_follows_the_measured_rate():
    class R:
        n, n_acc, n_eval = 100, 0, 0

    assert expected_need(R, None)() is None
    assert expected_need(R, 0.25)() == pytest.approx(400)
    R.n_acc, R.n_eval = 50, 1000                  # measured 0.05 dominates the prior 0.5
    got = expected_need(R, 0.5)()
    assert 50 / 0.1 < got < 50 / 0.05 * 1.01


def test_group_task_returns_summaries_per_batch_and_its_cost():
    task = SimulateSummarise(GaussianSimulator(sigma=1.0, T=8), MeanSummary())
    batches = tuple(ProposalBatch(k, np.full((3, 1), float(k)), np.random.SeedSequence(k)) for k in range(4))
    outs, wall, cpu, drawn = SimulateGroup(task)(TaskGroup(batches))
    assert len(outs) == 4 and all(o.shape == (3, 1) for o in outs) and drawn == [None] * 4
    for b, o in zip(batches, outs):
        np.testing.assert_array_equal(o, task(b))  # the same numbers as one batch per task
    assert wall >= 0 and cpu >= 0


def _draw_shifted(batch):
    """A picklable ``draw``: proposals index + uniform noise from the batch's draw seed."""
    u = np.random.default_rng(batch.draw_seed).random((batch.m, 1))
    return batch.index + u, 1


def test_lazy_batches_are_drawn_in_the_task_from_their_own_seed():
    task = SimulateSummarise(GaussianSimulator(sigma=1.0, T=8), MeanSummary())
    lazy = tuple(LazyBatch(k, 3, np.random.SeedSequence([5, k]), np.random.SeedSequence(k)) for k in range(3))
    outs, _, _, drawn = SimulateGroup(task)(TaskGroup(lazy, _draw_shifted))
    for b, o, (theta, n_out) in zip(lazy, outs, drawn):
        want, _ = _draw_shifted(b)
        np.testing.assert_array_equal(theta, want)
        np.testing.assert_array_equal(o, task(ProposalBatch(b.index, want, b.seed)))
        assert n_out == 1


@pytest.fixture(scope="module")
def toy():
    sim = GaussianSimulator(sigma=1.0, T=16)
    obs = sim.simulate([[1.3]], n_traj=1, seed=5)[0]
    return sim, obs, JointPrior({"mu": Uniform(-2.0, 4.0)})


@pytest.fixture(scope="module")
def cluster():
    from _engine_helpers import tests_cluster

    client = tests_cluster()
    return client


def test_grouped_tasks_on_a_cluster_give_the_in_process_answer(toy, cluster):
    sim, obs, prior = toy
    kw = dict(quantile=0.05, max_simulations=3000, seed=3, batch_size=10)
    sync = ABCRejection(sim, prior, MeanSummary(), Euclidean(), observed=obs, client="sync").infer(**kw)
    dist = ABCRejection(sim, prior, MeanSummary(), Euclidean(), observed=obs, client=cluster).infer(**kw)
    np.testing.assert_array_equal(dist.samples, sync.samples)
    np.testing.assert_array_equal(dist.distances, sync.distances)
    eng = dist.info["engine"]
    assert eng["n_batches"] == 300 and sync.info["engine"]["n_tasks"] == 300
    # a cheap simulator is batched: far fewer tasks than batches, each far below the target time
    assert eng["n_tasks"] < 100 and eng["task_cpu_seconds"] / eng["n_tasks"] < 2 * TASK_SECONDS
    assert max(int(k) for k in eng["batches_per_task"]) > 1


def test_grouped_smc_rounds_on_a_cluster_give_the_in_process_answer(toy, cluster):
    sim, obs, prior = toy
    kw = dict(max_rounds=4, seed=11, batch_size=10, min_acceptance_rate=0.01)
    sync = SMCABC(sim, prior, MeanSummary(), Euclidean(), observed=obs, client="sync").infer(200, **kw)
    dist = SMCABC(sim, prior, MeanSummary(), Euclidean(), observed=obs, client=cluster).infer(200, **kw)
    np.testing.assert_array_equal(dist.samples, sync.samples)
    np.testing.assert_array_equal(dist.weights, sync.weights)
    assert dist.n_simulations == sync.n_simulations
    assert dist.info["engine"]["n_tasks"] < dist.info["engine"]["n_batches"]


def test_imap_unordered_takes_a_callable_in_flight_limit(cluster):
    from _toy_simulators import square

    from sciope_abs.engine import imap_unordered

    asked = []

    def limit():
        asked.append(1)
        return 0 if len(asked) % 2 else 2         # 0 still keeps one task in flight

    got = dict(imap_unordered(square, iter(range(12)), client=cluster, max_in_flight=limit))
    assert got == {i: i * i for i in range(12)}
    assert len(asked) >= 12                       # asked before every submission


def test_local_cluster_workers_are_single_threaded_and_keep_mallocs_thresholds(cluster):
    names = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_")
    seen = cluster.run(lambda: {k: os.environ.get(k) for k in names})
    assert len(seen) == 2
    for env in seen.values():
        assert env["NUMBA_NUM_THREADS"] == env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "1"
        # Dask's default MALLOC_TRIM_THRESHOLD_=65536 is not imposed (only inherited, if set here)
        assert env["MALLOC_TRIM_THRESHOLD_"] == os.environ.get("MALLOC_TRIM_THRESHOLD_")


def test_local_cluster_runs_with_the_low_overhead_settings_unless_the_user_set_them(cluster):
    import dask

    from sciope_abs.engine.client import LOCAL_CLUSTER_CONFIG, _cluster_config

    keys = list(LOCAL_CLUSTER_CONFIG)
    on_workers = cluster.run(lambda: {k: dask.config.get(k) for k in keys})
    assert len(on_workers) == 2 and all(got == LOCAL_CLUSTER_CONFIG for got in on_workers.values())

    def periods(dask_worker=None, dask_scheduler=None):
        server = dask_worker if dask_worker is not None else dask_scheduler
        return {k: getattr(v, "callback_time", None) for k, v in server.periodic_callbacks.items()}

    for got in [*cluster.run(periods).values(), cluster.run_on_scheduler(periods)]:
        assert got["tick"] == 200 and got["monitor"] == 2000      # Dask's defaults: 20 and 500 ms
    assert not any("profile" in k for w in cluster.run(periods).values() for k in w)
    assert dask.config.get("distributed.admin.tick.interval") != "200ms"  # the user's session untouched
    with dask.config.set({"distributed.admin.tick.interval": "50ms"}):   # the user's own value wins
        assert "distributed.admin.tick.interval" not in _cluster_config()
        assert _cluster_config()["distributed.worker.profile.enabled"] is False


def test_kernel_density_from_whitened_centers_matches_the_normal_density():
    from scipy.stats import multivariate_normal

    from sciope_abs.inference.kernels import MultivariateNormalKernel

    rng = np.random.default_rng(0)
    centers, theta = rng.normal(size=(30, 3)), rng.normal(size=(7, 3))
    kern = MultivariateNormalKernel().fit(centers, rng.random(30))
    log_k = kern.log_density_from(centers)
    got = np.vstack([log_k(theta[:3]), log_k(theta[3:])])      # in blocks, as SMC-ABC does
    np.testing.assert_array_equal(got, kern.log_density(theta, centers))
    want = np.array([[multivariate_normal(c, kern.cov_).logpdf(t) for c in centers] for t in theta])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
