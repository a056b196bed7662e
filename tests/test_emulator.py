"""Emulator: counts (integer, non-negative, conserved), seeding, batched compiled steps,
persistence (save/load, pickle), bad input, and what it learned from a known kernel."""
import json
import pickle
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
sys.path.insert(0, str(Path(__file__).parent))

from _synthetic_kernel import p1_mean, synthetic_dataset  # noqa: E402

from sciope_abs.abstraction.emulator import Emulator, EmulatorRangeWarning  # noqa: E402
from sciope_abs.abstraction.training import train  # noqa: E402
from sciope_abs.simulators.base import Simulator  # noqa: E402


@pytest.fixture(scope="module")
def dataset():
    return synthetic_dataset(n_settings=60, n_traj=10, n_steps=5, seed=0)


@pytest.fixture(scope="module")
def emulator(dataset):
    return train(dataset, hidden=(32, 32), n_components=4, epochs=40, batch_size=128, learning_rate=3e-3,
                 patience=8, seed=1, progress=False, discrete=None)   # the continuous head's learned law


STATES = np.array([[4, 0, 300], [0, 4, 300], [2, 2, 700]])
RATES = np.full((3, 1), 100.0)


def test_emulator_is_a_simulator_with_the_dataset_grid(emulator, dataset):
    assert isinstance(emulator, Simulator)
    assert emulator.param_names == ("a11",)
    assert emulator.species == ("G1", "G2", "P1")
    np.testing.assert_allclose(emulator.timespan, np.arange(6) * 20.0)
    card = emulator.card
    assert card["model_hash"] == dataset.model.content_hash()
    assert card["dataset_hash"] == dataset.content_hash()
    assert card["training"]["n_components"] == 4 and card["training"]["target"] == "delta"
    assert "tensorflow" in "".join(card["versions"]) and card["history"]["epochs_run"] >= 1


def test_outputs_are_non_negative_integer_counts_with_conserved_totals(emulator):
    x = emulator.simulate(RATES, n_traj=200, seed=3, initial_state=STATES)
    assert x.shape == (3, 200, 3, 6) and x.dtype == np.float64
    assert np.isfinite(x).all() and (x >= 0).all()
    np.testing.assert_array_equal(x, np.round(x))
    np.testing.assert_array_equal(x[:, :, 0] + x[:, :, 1], 4.0)      # G1 + G2 = 4 at every step
    np.testing.assert_array_equal(x[:, :, :, 0], np.repeat(STATES[:, None, :], 200, axis=1))
    assert set(np.unique(x[:, :, 0])) <= {0.0, 1.0, 2.0, 3.0, 4.0}
    assert x[:, :, 2, 1:].std() > 0                                    # stochastic, not a point mass


def test_reproducible_under_a_seed_and_independent_of_batch_composition(emulator):
    a = emulator.simulate(RATES, n_traj=50, seed=11, initial_state=STATES)
    b = emulator.simulate(RATES, n_traj=50, seed=11, initial_state=STATES)
    c = emulator.simulate(RATES, n_traj=50, seed=12, initial_state=STATES)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # point 1 simulated alone with its own per-point seed gives the same trajectories
    from sciope_abs.seeding import point_seeds

    alone = emulator.simulate(RATES[1:2], n_traj=50, seed=[point_seeds(11, 3)[1]], initial_state=STATES[1:2])
    mismatch = np.mean(alone[0] != a[1])
    assert mismatch < 0.01, f"{mismatch:.3%} of values differ between batched and single-point runs"


def test_one_compiled_batched_network_call_per_step(emulator):
    emulator.simulate(RATES[:1], n_traj=3, seed=0, initial_state=STATES[:1])   # build + trace once
    emulator.rollout(STATES[:1], RATES[:1], n_traj=3, seed=0, method="stepwise")
    calls0 = emulator.n_network_calls
    traced0 = emulator._step_fn.experimental_get_tracing_count()
    loop = emulator._compiled.function(5)
    emulator.rollout(STATES, RATES, n_traj=400, seed=1, method="stepwise")      # 1200 trajectories
    emulator.rollout(STATES[:2], RATES[:2], n_steps=7, n_traj=5, seed=2, method="stepwise")
    assert emulator.n_network_calls - calls0 == 5 + 7                           # steps, not trajectories
    assert emulator._step_fn.experimental_get_tracing_count() == traced0 == 1  # no retracing per batch size
    emulator.simulate(RATES, n_traj=400, seed=1, initial_state=STATES)          # the compiled loop
    assert emulator.n_network_calls - calls0 == 5 + 7 + 5
    assert loop.experimental_get_tracing_count() == 1                           # one trace, any batch size


def test_learned_one_step_law_matches_the_known_kernel(emulator, dataset):
    x = emulator.rollout(STATES, RATES, n_steps=1, n_traj=2000, seed=5)
    g1, p1 = x[:, :, 0, 1], x[:, :, 2, 1]
    want = p1_mean(g1, dataset.model, 100.0).mean(axis=1)        # true conditional mean given the drawn G1
    got = p1.mean(axis=1)
    # this small network's P1 mean after G1 = 4 is 1.18-1.21x the truth for seeds 5-7 on both
    # rollout paths (sampling SE 0.012): rtol=0.2 sat on the model's own bias
    np.testing.assert_allclose(got, want, rtol=0.25)
    # a model that ignored the gene state would predict one pooled mean; the truth spans 40..1000
    assert got[1] > 5 * got[0]
    # G1 mostly stays (p=0.8 in the interior, 0.9 at the ends), moving at most one step
    stay = (x[:, :, 0, 1] == STATES[:, None, 0]).mean(axis=1)
    assert (stay > 0.65).all()


def test_save_and_load_give_identical_samples(emulator, tmp_path):
    path = emulator.save(tmp_path / "emu")
    assert {"model.keras", "config.json", "scaler.json", "card.json"} <= {p.name for p in path.iterdir()}
    card = json.loads((path / "card.json").read_text())
    assert card["dataset_hash"] == emulator.card["dataset_hash"]
    back = Emulator.load(path)
    assert back.param_names == emulator.param_names and back.species == emulator.species
    a = emulator.simulate(RATES, n_traj=30, seed=4, initial_state=STATES)
    b = back.simulate(RATES, n_traj=30, seed=4, initial_state=STATES)
    np.testing.assert_array_equal(a, b)
    c = pickle.loads(pickle.dumps(emulator)).simulate(RATES, n_traj=30, seed=4, initial_state=STATES)
    np.testing.assert_array_equal(a, c)


def test_load_missing_directory_or_file_is_a_one_line_file_not_found(emulator, tmp_path):
    with pytest.raises(FileNotFoundError, match="no emulator directory at"):
        Emulator.load(tmp_path / "nothing")
    path = emulator.save(tmp_path / "emu")
    (path / "model.keras").unlink()
    with pytest.raises(FileNotFoundError, match="missing model.keras") as info:
        Emulator.load(path)
    assert "\n" not in str(info.value)


def test_bad_input_errors_and_range_warnings(emulator):
    with pytest.raises(ValueError, match=r"initial_state must have shape \(3,\)"):
        emulator.simulate(RATES[:1], initial_state=[1, 2])
    with pytest.raises(ValueError, match=r"initial states must have shape \(n, 3\)"):
        emulator.rollout(np.zeros((2, 4)), RATES[:2], n_steps=1)
    with pytest.raises(ValueError, match=r"theta must have shape \(n, 1\)"):
        emulator.simulate(np.ones((2, 3)), initial_state=STATES[0])
    with pytest.raises(ValueError, match="non-negative integer counts"):
        emulator.simulate(RATES[:1], initial_state=[2, 2, -1])
    with pytest.warns(EmulatorRangeWarning, match=r"a11=500 at point 0, trained on \[60, 140\]"):
        emulator.simulate([[500.0]], n_traj=2, seed=0, initial_state=STATES[0])
    emulator.strict = True
    try:
        with pytest.raises(ValueError, match="outside the trained range"):
            emulator.simulate([[500.0]], n_traj=2, seed=0, initial_state=STATES[0])
    finally:
        emulator.strict = False
    emulator.clip = True                          # clip=True: warn and use the nearest trained rate
    try:
        with pytest.warns(EmulatorRangeWarning, match="clipped to the trained range"):
            clipped = emulator.simulate([[500.0]], n_traj=20, seed=0, initial_state=STATES[0])
    finally:
        emulator.clip = False
    np.testing.assert_array_equal(clipped, emulator.simulate([[140.0]], n_traj=20, seed=0, initial_state=STATES[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # in-range rates and trained totals: silent
        emulator.simulate(RATES, n_traj=2, seed=0, initial_state=STATES)
        emulator.simulate(RATES, n_traj=2, seed=0)  # the model's default state keeps the trained G1 + G2 = 4


def test_an_untrained_total_warns_and_is_kept_per_trajectory(emulator):
    with pytest.warns(EmulatorRangeWarning, match="G1 \\+ G2 = 2, not the trained total 4"):
        x = emulator.simulate(RATES[:1], n_traj=50, seed=0, initial_state=[1, 1, 800])
    np.testing.assert_array_equal(x[:, :, 0] + x[:, :, 1], 2.0)


def test_lognormal_component_trains_on_the_positive_target(dataset):
    emu = train(dataset, hidden=(16,), n_components=2, component="lognormal", epochs=2, seed=0, progress=False)
    assert emu.target == "positive"
    x = emu.simulate(RATES, n_traj=20, seed=0, initial_state=STATES)
    assert (x >= 0).all() and np.array_equal(x, np.round(x))
    np.testing.assert_array_equal(x[:, :, 0] + x[:, :, 1], 4.0)
    with pytest.raises(ValueError, match="positive support"):
        train(dataset, component="lognormal", target="delta", epochs=1, progress=False)


@pytest.mark.slow
def test_x16_emulator_end_to_end_is_close_to_ssa_at_three_steps():
    """Real SSA data (build_dataset) -> train -> evaluate on held-out test settings: the 3-step
    histogram distance of P1 is below twice the SSA self-distance (same ensemble sizes)."""
    from sciope_abs.abstraction.dataset import build_dataset
    from sciope_abs.abstraction.evaluation import evaluate

    ds = build_dataset("x16", n_settings=80, n_traj=30, dt=20.0, n_steps=3, seed=2024, client="sync",
                       split=(0.7, 0.15, 0.15), progress=False)
    emu = train(ds, hidden=(64, 64), n_components=6, epochs=80, batch_size=128, learning_rate=2e-3,
                patience=10, seed=1, progress=False)
    report = evaluate(emu, n_settings=10, n_traj=300, lags=(1, 3), seed=7, client="sync", dataset=ds,
                      progress=False)
    table = report.table().set_index(["species", "lag"])
    row = table.loc[("P1", 3)]
    assert row["self_l1"] > 0
    assert row["l1"] < 2 * row["self_l1"], report.summary()
    # a wrong emulator (P1 frozen at its initial value) would be far worse than this bound
    assert row["l1"] < 1.0


@pytest.mark.slow
def test_emulator_runs_on_a_local_dask_cluster_with_the_same_numbers(emulator):
    """Pickled to real worker processes, chunked two points per task: identical to one local call."""
    from sciope_abs.engine import get_client, simulate_parallel

    theta = np.full((6, 1), 100.0)
    init = np.tile([2, 2, 300], (6, 1))
    local = emulator.simulate(theta, n_traj=20, seed=3, initial_state=init)
    client = get_client(n_workers=2, verbose=False)
    remote = simulate_parallel(emulator, theta, n_traj=20, seed=3, initial_state=init, client=client,
                               chunk_size=2, progress=False)
    assert remote.shape == local.shape
    assert np.mean(remote != local) < 0.01


# ----------------------------------------------------------------------------- a conserved group of three
@pytest.fixture(scope="module")
def gene3():
    """Real SSA data of the three-gene-state toy (G1 + G2 + G3 = 2) with a2 varied, a tiny emulator."""
    from _three_gene import three_gene_model

    from sciope_abs.abstraction.dataset import build_dataset

    model = three_gene_model("multinomial")
    ds = build_dataset(model, n_settings=30, n_traj=8, vary_params=("a2",), seed=0, client="sync", progress=False)
    emu = train(ds, hidden=(16,), n_components=2, epochs=3, seed=0, progress=False)
    return model, ds, emu


def test_rollouts_keep_a_three_species_law_exactly_also_rate_conditioned(gene3):
    model, ds, emu = gene3
    assert ds.conservation_violations == 0 and emu.param_names == ("a2",)
    init = model.sample_initial_states(40, seed=2)
    rates = model.sample_rates(40, ("a2",), seed=3)
    x = emu.rollout(init, rates, n_steps=12, n_traj=25, seed=4)         # beyond the trained horizon
    g = x[:, :, :3]
    np.testing.assert_array_equal(g.sum(axis=2), 2.0)                  # every trajectory, every step
    assert (x >= 0).all() and np.array_equal(x, np.round(x))
    assert len(np.unique(g[:, :, :, -1].reshape(-1, 3), axis=0)) >= 4  # the states move over the simplex
    # a state with another total keeps its own, and warns: the emulator was trained on G1+G2+G3 = 2
    with pytest.warns(EmulatorRangeWarning, match=r"G1 \+ G2 \+ G3 = 3, not the trained total 2"):
        y = emu.rollout([[1, 1, 1, 20]], [[20.0]], n_steps=5, n_traj=30, seed=0)
    np.testing.assert_array_equal(y[:, :, :3].sum(axis=2), 3.0)


def test_save_load_keeps_the_model_its_initial_distribution_and_rollouts(gene3, tmp_path):
    from sciope_abs.abstraction.dataset import AbstractionDataset

    model, ds, emu = gene3
    back = Emulator.load(emu.save(tmp_path / "emu"))
    assert back.model == model and back.model.conserved_groups == model.conserved_groups
    assert [str(v) for v in back.model.conservation_laws] == ["G1 + G2 + G3 = 2"]
    np.testing.assert_array_equal(back.model.sample_initial_states(500, seed=9), model.sample_initial_states(500, seed=9))
    init = model.sample_initial_states(6, seed=5)
    a = emu.rollout(init, np.full((6, 1), 15.0), n_traj=20, seed=6)
    np.testing.assert_array_equal(back.rollout(init, np.full((6, 1), 15.0), n_traj=20, seed=6), a)
    ds2 = AbstractionDataset.load(ds.save(tmp_path / "ds.zarr"))
    assert ds2.model == model and ds2.content_hash() == ds.content_hash()
    np.testing.assert_array_equal(ds2.model.sample_initial_states(500, seed=9), model.sample_initial_states(500, seed=9))
    cfg = json.loads((tmp_path / "emu" / "config.json").read_text())
    assert cfg["model"]["conserved_groups"][0]["sampling"] == "multinomial"
    assert cfg["conservation_laws"] == [{"species": ["G1", "G2", "G3"], "weights": [1, 1, 1], "total": 2}]


def test_a_subclass_with_its_own_sampling_warns_when_saved(gene3, tmp_path):
    from sciope_abs.crn import CRN

    model, _, emu = gene3

    class Custom(CRN):
        def sample_initial_states(self, n, seed=None):
            return np.tile(self.default_initial_state(), (n, 1))

    custom = Custom.from_dict(model.to_dict())
    twin = Emulator(emu.keras_model, emu.scaler, custom, emu.param_names, emu.dt, emu.n_steps, emu.n_components,
                    emu.component, emu.card, target=emu.target)
    with pytest.warns(UserWarning, match="Custom with its own sample_initial_states.*declarative rule"):
        twin.save(tmp_path / "emu")


def test_load_of_a_corrupt_keras_file_says_corrupt_and_names_it(emulator, tmp_path):
    path = emulator.save(tmp_path / "emu")
    blob = (path / "model.keras").read_bytes()
    for broken in (b"not a zip archive at all", blob[: len(blob) // 2]):
        (path / "model.keras").write_bytes(broken)
        with pytest.raises(ValueError, match=r"emulator model file .*model\.keras is corrupt") as info:
            Emulator.load(path)
        assert "File not found" not in str(info.value) and "\n" not in str(info.value)
