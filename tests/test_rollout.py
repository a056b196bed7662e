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


# --------------------------------------------------------------------------- the cheaper step
def _draw_all_then_gather(head, K, D, comp, u, eps):
    """The former mixture draw: every component transformed, then the chosen one gathered."""
    from sciope_abs.abstraction.mixture import _blocks, _block_params

    draws = []
    for c, _, n_k, offset, npar in _blocks(K, D, comp):
        params = _block_params(head, offset, n_k, npar)
        eps_rep = tf.reshape(tf.repeat(eps[:, None, :], n_k, axis=1), [-1, D])
        draws.append(tf.reshape(c.sample_from_noise(params, eps_rep), [-1, n_k, D]))
    draws = tf.concat(draws, axis=1) if len(draws) > 1 else draws[0]
    cdf = tf.cumsum(tf.nn.softmax(head[:, :K], axis=-1), axis=-1)
    k = tf.minimum(tf.reduce_sum(tf.cast(cdf < u[:, None], tf.int32), axis=-1), K - 1)
    return tf.gather(draws, k, axis=1, batch_dims=1).numpy(), k.numpy()


CATEGORICAL_PAIR = {"name": "categorical", "event_dim": 4, "groups": [[0, 1]], "steps": [[1.0, 1.0]],
                    "values": [[[-1.0, 1.0], [0.0, 0.0], [1.0, -1.0]]], "base": "diag_normal", "conditional": True}


@pytest.mark.parametrize("comp, K, D", [("diag_normal", 5, 3), ("lognormal", 3, 2),
                                        (["diag_normal", "diag_normal", "full_normal", "full_normal"], 4, 3),
                                        (["full_normal", "diag_normal", "diag_normal"], 3, 2),
                                        (CATEGORICAL_PAIR, 6, 4)])
def test_drawing_only_the_chosen_component_equals_drawing_all_of_them(comp, K, D):
    from sciope_abs.abstraction.mixture import head_size, mixture_sample_from_noise

    rng = np.random.default_rng(K * 10 + D)
    b = 3001
    head = tf.constant(rng.normal(size=(b, head_size(K, D, comp))) * 2, tf.float32)
    u = tf.constant(rng.random(b), tf.float32)
    eps = tf.constant(rng.normal(size=(b, D)), tf.float32)
    want, k = _draw_all_then_gather(head, K, D, comp, u, eps)
    got = mixture_sample_from_noise(head, K, D, comp, u, eps).numpy()
    assert len(np.unique(k)) == K                                   # every component was chosen somewhere
    # the same operations on the same values: equal up to the last bit of a vector kernel's tail
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert np.mean(got == want) > 0.99
    # the check can fail: another component's draw is told apart
    other, _ = _draw_all_then_gather(head, K, D, comp, tf.math.floormod(u + 0.5, 1.0), eps)
    assert np.abs(other - got).max() > 0.1


def test_inverse_cdf_index_is_the_cumsum_rule_bit_for_bit():
    from sciope_abs.abstraction.components.base import inverse_cdf_index

    rng = np.random.default_rng(5)
    for m in (1, 2, 3, 6):
        probs = tf.nn.softmax(tf.constant(rng.normal(size=(5000, m)) * 3, tf.float32), axis=-1)
        u = rng.random(5000).astype(np.float32)
        u[:50] = np.nextafter(np.float32(1), np.float32(0))            # above a cdf that rounds below 1
        u[50:100] = tf.cumsum(probs, axis=-1).numpy()[50:100, 0]       # exactly on a cdf value
        cdf = tf.cumsum(probs, axis=-1)
        want = tf.minimum(tf.reduce_sum(tf.cast(cdf < u[:, None], tf.int32), axis=-1), m - 1).numpy()
        np.testing.assert_array_equal(inverse_cdf_index(probs, tf.constant(u)).numpy(), want)


def test_step_noise_blocks_do_not_depend_on_how_many_are_drawn():
    """The compiled loop draws only the blocks it uses (no tie uniforms for two-species laws), with
    the key schedule computed once: the leading values are those of the full draw."""
    from sciope_abs.abstraction.rollout import key_schedule, step_noise

    rng = np.random.default_rng(2)
    keys = (tf.constant(rng.integers(0, 2 ** 32, 300, dtype=np.uint64)),
            tf.constant(rng.integers(0, 2 ** 32, 300, dtype=np.uint64)))
    traj = tf.constant(np.arange(300, dtype=np.uint64))
    full = step_noise(keys, traj, 4, 9).numpy()
    np.testing.assert_array_equal(step_noise(key_schedule(keys), traj, tf.constant(4), 5).numpy(), full[:, :5])
    assert not np.array_equal(step_noise(keys, traj, 5, 9).numpy(), full)        # the step is in the counter
    assert 0 < full.min() and full.max() < 1 and abs(full.mean() - 0.5) < 4 * np.sqrt(1 / 12 / full.size)
