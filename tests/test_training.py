"""fit_mdn / train: best-validation checkpoint, early stopping, NaN safety, seeding, bad input."""
import numpy as np
import pytest

pytest.importorskip("tensorflow")

from sciope_abs.abstraction.bodies import mlp_body  # noqa: E402
from sciope_abs.abstraction.network import build_mdn, find_head  # noqa: E402
from sciope_abs.abstraction.training import fit_mdn  # noqa: E402


def _overfit_data(seed=0):
    """32 training targets with sd 0.1 against validation targets with sd 1: the head's scale
    first grows towards the validation spread, then shrinks onto the training points, so the
    validation loss has an interior minimum."""
    rng = np.random.default_rng(seed)
    x_tr = rng.uniform(-1, 1, (32, 2)).astype(np.float32)
    y_tr = (0.1 * rng.standard_normal((32, 1))).astype(np.float32)
    x_va = rng.uniform(-1, 1, (256, 2)).astype(np.float32)
    y_va = rng.standard_normal((256, 1)).astype(np.float32)
    return (x_tr, y_tr), (x_va, y_va)


def _mdn(seed=1):
    return build_mdn(mlp_body(2, (32, 32), seed=seed), 2, 1, "diag_normal", seed=seed + 1)


class Snapshots:
    """Callback keeping the weights after every epoch."""

    def __init__(self):
        self.weights = []

    def __call__(self, epoch, logs, model):
        self.weights.append([w.copy() for w in model.get_weights()])


def _same(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a, b))


def test_returned_weights_are_the_best_validation_epoch_not_the_last():
    train_xy, val_xy = _overfit_data()
    model, snaps = _mdn(), Snapshots()
    hist = fit_mdn(model, train_xy, val_xy, epochs=60, batch_size=8, learning_rate=1e-2, patience=60,
                   seed=0, callbacks=[snaps], progress=False)
    best = int(np.argmin(hist["val_loss"]))
    assert hist["best_epoch"] == best
    assert hist["best_val_loss"] == pytest.approx(min(hist["val_loss"]))
    assert best < hist["epochs_run"] - 5, "the setup must overfit: validation minimum well before the end"
    assert hist["val_loss"][-1] > hist["best_val_loss"] + 0.1
    final = model.get_weights()
    assert _same(final, snaps.weights[best])
    assert not _same(final, snaps.weights[-1])
    # training loss kept falling past the validation minimum: the checkpoint is not chosen on it
    assert hist["loss"][-1] < hist["loss"][best]


def test_early_stopping_after_patience_epochs_without_improvement():
    train_xy, val_xy = _overfit_data()
    hist = fit_mdn(_mdn(), train_xy, val_xy, epochs=200, batch_size=8, learning_rate=1e-2, patience=3,
                   seed=0, progress=False)
    assert hist["stop_reason"] == "early_stopping"
    assert hist["epochs_run"] == hist["best_epoch"] + 1 + 3
    assert hist["epochs_run"] < 200


def test_nan_loss_stops_and_restores_the_best_weights():
    train_xy, val_xy = _overfit_data()
    model, snaps = _mdn(), Snapshots()

    def poison(epoch, logs, m):
        if epoch == 2:  # corrupt the head: every later loss is NaN
            head = find_head(m)
            head.kernel.assign(np.full(head.kernel.shape, np.nan, np.float32))

    hist = fit_mdn(model, train_xy, val_xy, epochs=20, batch_size=8, learning_rate=1e-3, patience=20,
                   seed=0, callbacks=[snaps, poison], progress=False)
    assert hist["stop_reason"] == "nan"
    assert hist["epochs_run"] == 4 and np.isnan(hist["loss"][3])
    assert hist["best_epoch"] <= 2
    final = model.get_weights()
    assert all(np.isfinite(w).all() for w in final)
    assert _same(final, snaps.weights[hist["best_epoch"]])


def test_same_seed_same_weights_and_another_seed_differs():
    train_xy, val_xy = _overfit_data()
    runs = []
    for seed in (7, 7, 8):
        model = _mdn()
        fit_mdn(model, train_xy, val_xy, epochs=2, batch_size=8, patience=5, seed=seed, progress=False,
                target_noise=[0.05])
        runs.append(model.get_weights())
    assert _same(runs[0], runs[1])
    assert not _same(runs[0], runs[2])


def test_clipnorm_bounds_the_gradient_steps():
    """Adam normalises the step, so a bound far below the gradient's norm (whose clipped
    coordinates then fall under Adam's epsilon) must visibly shrink how far the weights move."""
    train_xy, val_xy = _overfit_data()

    def moved(clipnorm):
        model = _mdn()
        start = [w.copy() for w in model.get_weights()]
        fit_mdn(model, train_xy, val_xy, epochs=1, batch_size=8, learning_rate=1e-2, patience=5, seed=0,
                clipnorm=clipnorm, progress=False)
        # the checkpoint is the best epoch: with one epoch, the weights after it
        return sum(float(np.abs(a - b).sum()) for a, b in zip(model.get_weights(), start))

    free, clipped, loose = moved(None), moved(1e-9), moved(1e6)
    assert free > 0
    assert clipped < 0.1 * free
    assert loose == pytest.approx(free, rel=1e-5)  # a bound never reached changes nothing
    with pytest.raises(ValueError, match="clipnorm must be a positive number"):
        fit_mdn(_mdn(), train_xy, val_xy, epochs=1, clipnorm=-1.0, progress=False)


def test_bad_training_input_is_a_one_line_value_error():
    train_xy, val_xy = _overfit_data()
    model = _mdn()
    with pytest.raises(ValueError, match="inputs have 3 columns, the network takes 2"):
        fit_mdn(model, (np.zeros((4, 3)), np.zeros((4, 1))), val_xy, epochs=1, progress=False)
    with pytest.raises(ValueError, match="targets have 2 columns, the head models 1"):
        fit_mdn(model, (np.zeros((4, 2)), np.zeros((4, 2))), val_xy, epochs=1, progress=False)
    bad = train_xy[1].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="train targets contain NaN"):
        fit_mdn(model, (train_xy[0], bad), val_xy, epochs=1, progress=False)
    with pytest.raises(ValueError, match="val_xy is empty"):
        fit_mdn(model, train_xy, (np.zeros((0, 2)), np.zeros((0, 1))), epochs=1, progress=False)
    with pytest.raises(ValueError, match="patience"):
        fit_mdn(model, train_xy, val_xy, epochs=1, patience=0, progress=False)


def test_cli_train_logs_epochs_saves_and_skips_a_finished_run(tmp_path, capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from _synthetic_kernel import synthetic_dataset

    from sciope_abs.abstraction.emulator import Emulator
    from sciope_abs.cli import main

    ds = synthetic_dataset(n_settings=10, n_traj=4, n_steps=3, seed=0)
    ds.save(tmp_path / "ds.zarr")
    out = tmp_path / "emu"
    argv = ["train", str(tmp_path / "ds.zarr"), "--out", str(out), "--epochs", "2", "--hidden", "8",
            "--components", "2", "--seed", "3"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "epoch 1/2" in text and "epoch 2/2" in text and f"wrote {out}" in text
    emu = Emulator.load(out)
    assert emu.card["dataset_hash"] == ds.content_hash() and emu.n_components == 2
    stamp = (out / "model.keras").stat().st_mtime_ns

    assert main(argv) == 0
    assert "already holds an emulator trained on this dataset" in capsys.readouterr().out
    assert (out / "model.keras").stat().st_mtime_ns == stamp

    assert main(argv[:-2] + ["--seed", "4"]) == 0          # other settings: trains again
    assert "epoch 1/2" in capsys.readouterr().out
    assert (out / "model.keras").stat().st_mtime_ns != stamp

    assert main(["train", str(tmp_path / "ds.zarr"), "--out", str(out), "--hidden", "8,x"]) == 1
    assert "--hidden must be comma-separated positive integers" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "missing.zarr"), "--out", str(out)]) == 1
    assert "no abstraction dataset at" in capsys.readouterr().err


# --------------------------------------------------------------------------- low-copy species
def test_discrete_head_recovers_the_known_gene_transition_of_a_synthetic_chain():
    """G1 in 0..4 steps +1 / -1 with probability 0.1 each (staying inside 0..4), G2 = 4 - G1, P1
    held at 100: the categorical head learns the transition table of G1's increments."""
    from _synthetic_kernel import synthetic_dataset

    from sciope_abs.abstraction import train
    from sciope_abs.abstraction.dataset import AbstractionDataset
    from sciope_abs.abstraction.mixture import mixture_class_probabilities

    chain = synthetic_dataset(n_settings=60, n_traj=20, n_steps=5, seed=3, vary=())
    traces, init = chain.traces.copy(), chain.initial_states.copy()
    traces[:, :, 2, :], init[:, 2] = 100.0, 100
    ds = AbstractionDataset(chain.model, (), chain.dt, chain.n_steps, traces, init, chain.rates, chain.splits)
    emu = train(ds, hidden=(32, 32), n_components=1, epochs=40, batch_size=128, learning_rate=1e-2,
                patience=40, seed=0, progress=False)
    assert emu.card["training"]["discrete"] == ["G1", "G2", "P1"]
    assert emu.component["groups"] == [[0, 1, 2]]                     # one categorical over joint increments
    g = np.arange(5.0)
    head = emu.keras_model(emu.scaler.encode_inputs(np.c_[g, 4 - g, np.full(5, 100.0)]))
    vals, probs = mixture_class_probabilities(head, emu.n_components, 3, emu.component)[(0, 1, 2)]
    raw = np.round(vals * emu.scaler.delta_scale_ + emu.scaler.delta_mean_)
    assert raw.tolist() == [[-1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, -1.0, 0.0]]   # G1 + G2 = 4 kept
    want = np.array([[0.0, 0.9, 0.1], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.1, 0.9, 0.0]])
    x_tr = ds.pairs("train")[0]
    n_g = np.array([(x_tr[:, 0] == v).sum() for v in g])[:, None]     # ~700 pairs start in each G1
    tol = 4 * np.sqrt(0.1 * 0.9 / n_g) + 0.03                         # sampling error + fit slack
    assert np.all(np.abs(probs - want) < tol), (probs.round(3), tol.ravel())
    # the emulator samples those probabilities: one step from G1 = 2
    out = emu.rollout(np.array([[2, 2, 100]]), None, n_steps=1, n_traj=4000, seed=1)[0, :, :, 1]
    assert set(np.unique(out[:, 0])) <= {1.0, 2.0, 3.0} and np.all(out[:, 2] == 100)
    freq = np.array([(out[:, 0] == v).mean() for v in (1.0, 2.0, 3.0)])
    assert np.all(np.abs(freq - probs[2]) < 4 * np.sqrt(probs[2] * (1 - probs[2]) / 4000) + 1e-3), (freq, probs[2])


def test_auto_discrete_picks_the_low_copy_species_and_rollouts_stay_on_their_support(tmp_path):
    from _synthetic_kernel import synthetic_dataset

    from sciope_abs.abstraction import Emulator, train

    ds = synthetic_dataset(n_settings=20, n_traj=5, n_steps=5, seed=3, vary=())
    emu = train(ds, hidden=(8,), n_components=2, epochs=2, seed=0, progress=False)
    assert emu.card["training"]["discrete"] == ["G1", "G2"] and emu.component["groups"] == [[0, 1]]
    assert emu.component["conditional"]                                # P1's Normal per joint gene move
    out = emu.rollout(np.array([[2, 2, 150]]), None, n_steps=5, n_traj=100, seed=1)
    assert set(np.unique(out[:, :, 0])) <= set(range(5)) and np.all(out[:, :, 0] + out[:, :, 1] == 4)
    back = Emulator.load(emu.save(tmp_path / "emu"))                  # the categorical config round-trips
    assert back.component == emu.component
    np.testing.assert_array_equal(back.rollout(np.array([[2, 2, 150]]), None, n_steps=5, n_traj=100, seed=1), out)
    assert train(ds, hidden=(8,), n_components=1, epochs=1, seed=0, progress=False,
                 max_support=3).card["training"]["discrete"] == []
    with pytest.raises(ValueError, match=r"discrete species \['X'\] are not species"):
        train(ds, epochs=1, progress=False, discrete=["X"])


# --------------------------------------------------------------------------- multi-lag pairs
def test_multilag_pairs_hold_the_lag_as_input_and_the_emulator_rolls_out_at_lag_one(tmp_path):
    from _synthetic_kernel import synthetic_dataset

    from sciope_abs.abstraction import Emulator, train
    from sciope_abs.abstraction.training import lag_feature, lagged_pairs, prepare_training

    ds = synthetic_dataset(n_settings=20, n_traj=5, n_steps=5, seed=3)
    prep = prepare_training(ds, "diag_normal", 2, lags=(1, 3), lag_fraction=0.5, seed=0)
    x1, y1 = ds.pairs("train")
    x_tr, y_tr = prep.train_xy
    n1 = len(x1)
    assert prep.n_inputs == 3 + 1 + 1 and x_tr.shape == (n1 + round(0.5 * n1), 5)
    np.testing.assert_array_equal(x_tr[:n1, -1], 0.0)                 # lag 1 -> feature 0
    np.testing.assert_allclose(x_tr[n1:, -1], lag_feature(3, 3))     # lag 3 -> feature 1
    assert prep.val_xy[0].shape[1] == 5 and np.all(prep.val_xy[0][:, -1] == 0.0)
    # every lag-3 row is a real (x_t -> x_{t+3}) pair of the train split
    x3, y3 = lagged_pairs(ds, "train", 3)
    enc = prep.scaling.encode(x3, y3)
    rows = {tuple(np.r_[a, b].round(4)) for a, b in zip(*enc)}
    assert all(tuple(np.r_[a[:-1], b].round(4)) in rows for a, b in zip(x_tr[n1:], y_tr[n1:]))
    with pytest.raises(ValueError, match="including 1"):
        prepare_training(ds, "diag_normal", 2, lags=(2, 3))
    with pytest.raises(ValueError, match="longer than the dataset's 5 steps"):
        prepare_training(ds, "diag_normal", 2, lags=(1, 6))

    emu = train(ds, hidden=(8,), n_components=2, epochs=1, seed=0, progress=False, lags=(1, 3))
    assert int(emu.keras_model.inputs[0].shape[-1]) == 4 and emu.card["training"]["lags"] == [1, 3]
    a = emu.rollout(np.array([[2, 2, 150]]), [100.0], n_steps=3, n_traj=20, seed=1)
    back = Emulator.load(emu.save(tmp_path / "emu"))
    np.testing.assert_array_equal(back.rollout(np.array([[2, 2, 150]]), [100.0], n_steps=3, n_traj=20, seed=1), a)
