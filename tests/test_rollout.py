"""The compiled rollout: Philox noise, the in-graph projection against project_counts, agreement
in distribution with the stepwise path, conservation laws, seeding, batch and chunk independence."""
import sys
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
sys.path.insert(0, str(Path(__file__).parent))

from _synthetic_kernel import synthetic_dataset  # noqa: E402

from sciope_abs.abstraction.rollout import compiled_plan, philox4x32, project_laws_tf  # noqa: E402
from sciope_abs.abstraction.training import train  # noqa: E402
from sciope_abs.crn.conservation import project_counts  # noqa: E402
from sciope_abs.seeding import point_seeds  # noqa: E402

STATES = np.array([[4, 0, 300], [0, 4, 300], [2, 2, 700]])
RATES = np.full((3, 1), 100.0)


@pytest.fixture(scope="module")
def emulator():
    ds = synthetic_dataset(n_settings=60, n_traj=10, n_steps=5, seed=0)
    return train(ds, hidden=(32, 32), n_components=4, epochs=15, batch_size=128, learning_rate=3e-3,
                 patience=8, seed=1, progress=False, discrete=None)


def test_philox_gives_the_random123_known_answers():
    def words(c, k):
        out = philox4x32(tuple(tf.constant([v], tf.uint64) for v in c), tuple(tf.constant([v], tf.uint64) for v in k))
        return [int(w.numpy()[0]) for w in out]

    assert words((0, 0, 0, 0), (0, 0)) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    m = 0xFFFFFFFF
    assert words((m, m, m, m), (m, m)) == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]


@pytest.mark.parametrize("noise", ["random", "zeros"])
def test_in_graph_projection_equals_project_counts(noise):
    W = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 0]])          # a group of three, a pair, a free species
    plan, reason = compiled_plan(W)
    assert plan == [([0, 1], 2), ([3], 4)] and reason == ""
    rng = np.random.default_rng(0)
    n = 4000
    y = rng.integers(0, 7, size=(n, 6)).astype(np.float64)
    y[::7, :2] = rng.integers(0, 40, size=(len(y[::7]), 2))            # far over the total: scaled down
    totals = np.stack([rng.integers(0, 7, n), rng.integers(0, 4, n)], axis=1).astype(np.float64)
    ties = rng.random((n, 6)) if noise == "random" else np.zeros((n, 6))
    want = project_counts(y, W, totals, rng=ties)
    got = project_laws_tf(tf.constant(y), tf.constant(totals), tf.constant(ties), plan).numpy()
    np.testing.assert_array_equal(got, want)
    assert (want[:, :2].sum(axis=1) < y[:, :2].sum(axis=1)).sum() > 500   # the apportioning branch ran


def test_plan_refuses_shared_species_and_weights_with_a_reason():
    assert compiled_plan(np.array([[1, 1, 0], [0, 1, 1]]))[1] == "a species belongs to more than one conservation law"
    assert compiled_plan(np.array([[2, 1, 0]]))[1] == "a conservation law has a weight other than 0 or 1"
    assert compiled_plan(np.zeros((0, 3), dtype=int)) == ([], "")


def _moments_agree(a, b, what):
    """Per-species means and variances of two samples (n, S) within 5 standard errors."""
    n = len(a)
    for j in range(a.shape[1]):
        va, vb = a[:, j].var(ddof=1), b[:, j].var(ddof=1)
        se_m = np.sqrt((va + vb) / n)
        assert abs(a[:, j].mean() - b[:, j].mean()) <= 5 * se_m + 1e-9, f"{what} species {j}: means"
        m4a, m4b = ((a[:, j] - a[:, j].mean()) ** 4).mean(), ((b[:, j] - b[:, j].mean()) ** 4).mean()
        se_v = np.sqrt((max(m4a - va ** 2, 0) + max(m4b - vb ** 2, 0)) / n)
        assert abs(va - vb) <= 5 * se_v + 1e-9, f"{what} species {j}: variances {va:.4g} vs {vb:.4g}"


def test_compiled_and_stepwise_rollouts_agree_in_distribution(emulator):
    n = 3000
    c = emulator.rollout(STATES, RATES, n_steps=5, n_traj=n, seed=21, method="compiled")
    s = emulator.rollout(STATES, RATES, n_steps=5, n_traj=n, seed=22, method="stepwise")
    for i in range(3):
        for t in (1, 3, 5):
            _moments_agree(c[i, :, :, t], s[i, :, :, t], f"point {i} step {t}")
    # the check can fail: one step too few is told apart (P1 moves between steps 1 and 5)
    with pytest.raises(AssertionError):
        _moments_agree(c[0, :, :, 1], s[0, :, :, 5], "shifted")


def test_stepwise_draws_the_compiled_loops_noise(emulator):
    """Both paths use the same counter-based noise (one vectorised draw per step, no Python loop
    over points): for a seed they give the same trajectories; another seed does not."""
    from sciope_abs.seeding import point_seeds

    c = emulator.rollout(STATES, RATES, n_steps=5, n_traj=50, seed=31, method="compiled")
    s = emulator.rollout(STATES, RATES, n_steps=5, n_traj=50, seed=31, method="stepwise")
    np.testing.assert_array_equal(c, s)
    assert not np.array_equal(s, emulator.rollout(STATES, RATES, n_steps=5, n_traj=50, seed=32, method="stepwise"))
    # a point's stepwise trajectories do not depend on the batch it is in
    one = emulator.rollout(STATES[1:2], RATES[1:2], n_steps=5, n_traj=50, seed=[point_seeds(31, 3)[1]],
                           method="stepwise")
    np.testing.assert_array_equal(one[0], s[1])


def test_same_seed_same_output_and_other_dtypes(emulator):
    a = emulator.rollout(STATES, RATES, n_steps=4, n_traj=40, seed=3)
    np.testing.assert_array_equal(a, emulator.rollout(STATES, RATES, n_steps=4, n_traj=40, seed=3))
    assert not np.array_equal(a, emulator.rollout(STATES, RATES, n_steps=4, n_traj=40, seed=4))
    for dt in ("float32", "int32"):
        b = emulator.rollout(STATES, RATES, n_steps=4, n_traj=40, seed=3, dtype=dt)
        assert b.dtype == np.dtype(dt)
        np.testing.assert_array_equal(b, a)
    with pytest.raises(ValueError, match="dtype must be one of"):
        emulator.rollout(STATES, RATES, n_steps=1, dtype="int8")
    with pytest.raises(ValueError, match="method must be one of"):
        emulator.rollout(STATES, RATES, n_steps=1, method="fast")


def test_a_points_trajectories_do_not_depend_on_the_batch_or_the_chunks(emulator):
    a = emulator.rollout(STATES, RATES, n_steps=5, n_traj=60, seed=11)
    alone = emulator.rollout(STATES[1:2], RATES[1:2], n_steps=5, n_traj=60, seed=[point_seeds(11, 3)[1]])
    assert np.mean(alone[0] != a[1]) < 0.01
    rows_before = emulator.chunk_bytes
    try:
        emulator._compiled.chunk_bytes = 4000                          # a few rows per chunk
        assert emulator._compiled.chunk_rows(180, 5) < 20
        chunked = emulator.rollout(STATES, RATES, n_steps=5, n_traj=60, seed=11)
    finally:
        emulator._compiled.chunk_bytes = rows_before
    assert np.mean(chunked != a) < 0.01
    assert emulator._compiled.function(5).experimental_get_tracing_count() == 1   # any batch size, one trace


def test_xla_compiled_loop_keeps_counts_laws_and_the_distribution(emulator):
    from sciope_abs.abstraction.emulator import Emulator

    jit = Emulator(emulator.keras_model, emulator.scaler, emulator.model, emulator.param_names, emulator.dt,
                   emulator.n_steps, emulator.n_components, emulator.component, target=emulator.target,
                   jit_compile=True)
    x = jit.rollout(STATES, RATES, n_steps=3, n_traj=1500, seed=21)
    np.testing.assert_array_equal(x[:, :, 0] + x[:, :, 1], 4.0)
    ref = emulator.rollout(STATES, RATES, n_steps=3, n_traj=1500, seed=22)
    for i in range(3):
        _moments_agree(x[i, :, :, 3], ref[i, :, :, 3], f"xla point {i}")


@pytest.fixture(scope="module")
def gene3():
    from _three_gene import three_gene_model

    from sciope_abs.abstraction.dataset import build_dataset

    model = three_gene_model("multinomial")
    ds = build_dataset(model, n_settings=30, n_traj=8, vary_params=("a2",), seed=0, client="sync", progress=False)
    return model, train(ds, hidden=(16,), n_components=2, epochs=3, seed=0, progress=False)


def test_compiled_rollout_keeps_a_three_species_law_exactly(gene3):
    model, emu = gene3
    assert emu._compiled_rollout() is not None
    init = model.sample_initial_states(40, seed=2)
    rates = model.sample_rates(40, ("a2",), seed=3)
    x = emu.rollout(init, rates, n_steps=12, n_traj=25, seed=4, method="compiled")
    np.testing.assert_array_equal(x[:, :, :3].sum(axis=2), 2.0)
    assert (x >= 0).all() and np.array_equal(x, np.round(x))
    assert len(np.unique(x[:, :, :3, -1].reshape(-1, 3), axis=0)) >= 4
    with pytest.warns(UserWarning, match="not the trained total 2"):                                    # its own total
        y = emu.rollout([[1, 1, 1, 20]], [[20.0]], n_steps=5, n_traj=30, seed=0, method="compiled")
    np.testing.assert_array_equal(y[:, :, :3].sum(axis=2), 3.0)
