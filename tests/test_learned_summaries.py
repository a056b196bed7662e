"""Learned summary statistics (issue 15): the network recovers theta, is invariant to the order of
the trajectories, survives save/load, refuses corrupt files, and makes ABC better than a useless
summary; the semi-automatic (linear regression) baseline does the same on hand-picked features."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from sciope_abs.priors import JointPrior, Uniform
from sciope_abs.seeding import point_seeds
from sciope_abs.simulators.base import Simulator, check_theta
from sciope_abs.summaries import Mean, Std, SpeciesSummary

pytest.importorskip("tensorflow")

from sciope_abs.surrogates.learned import LearnedSummary  # noqa: E402
from sciope_abs.surrogates.learned_semiauto import SemiAutoSummary  # noqa: E402


class PoissonSimulator(Simulator):
    """Species A ~ iid Poisson(rate) at each of T times; species B ~ Poisson(5), independent of rate."""

    def __init__(self, T: int = 12):
        self.param_names = ("rate",)
        self.species = ("A", "B")
        self.timespan = np.arange(float(T))

    def simulate(self, theta, *, n_traj=1, seed=None, initial_state=None):
        theta = check_theta(theta, self.param_names)
        n, T = len(theta), len(self.timespan)
        out = np.empty((n, n_traj, 2, T))
        for i, ss in enumerate(point_seeds(seed, n)):
            rng = np.random.default_rng(ss)
            out[i, :, 0] = rng.poisson(theta[i, 0], size=(n_traj, T))
            out[i, :, 1] = rng.poisson(5.0, size=(n_traj, T))
        return out


class SecondSpeciesMean(SpeciesSummary):
    """The time mean of species B only: carries no information about the rate."""

    def labels(self):
        return ["mean"]

    def _per_species(self, x):
        return x[:, :, 1:2].mean(axis=-1)[..., None]

    def _names(self, species):
        return [f"{species[1]}__mean"]


PRIOR = JointPrior({"rate": Uniform(1.0, 20.0)})
SIM = PoissonSimulator()
N_TRAJ = 3


def _pilot(n: int, seed: int):
    theta = PRIOR.sample(n, seed)
    return theta, SIM.simulate(theta, n_traj=N_TRAJ, seed=seed + 1)


@pytest.fixture(scope="module")
def fitted():
    theta, x = _pilot(800, 0)
    s = LearnedSummary("cnn", {"filters": (8, 16)}, head=(32,), epochs=60, patience=8, seed=3)
    return s.fit(theta, x, prior=PRIOR)


def test_learned_summary_recovers_theta_on_held_out_data(fitted):
    theta, x = _pilot(300, 100)          # held out: other parameters, other noise
    f = fitted(x)
    assert f.shape == (300, 1)
    assert fitted.names == ["learned__rate"]
    r = np.corrcoef(f[:, 0], theta[:, 0])[0, 1]
    # the sufficient statistic (mean count) reaches ~0.99 here; a network that ignored the data
    # would give ~0
    assert r > 0.95, r
    est = fitted.predict_theta(x)[:, 0]
    assert np.sqrt(np.mean((est - theta[:, 0]) ** 2)) < 0.3 * theta[:, 0].std()
    assert fitted.card_["stop_reason"] in ("early_stopping", "completed")
    assert fitted.card_["best_val_mse"] < 0.1         # prior-standardised theta: variance 1


@pytest.mark.parametrize("arch", ["dense", "cnn", "pen"])
def test_permuting_trajectories_leaves_summary_unchanged(arch):
    theta, x = _pilot(40, 7)
    s = LearnedSummary(arch, head=(16,), epochs=2, seed=1).fit(theta, x)
    perm = x[:, ::-1].copy()             # reverse the r axis of every point
    rng = np.random.default_rng(0)
    shuffled = np.stack([xi[rng.permutation(N_TRAJ)] for xi in x])
    a = s(x)
    np.testing.assert_allclose(s(perm), a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s(shuffled), a, rtol=1e-5, atol=1e-6)
    # not a constant: different points give different features
    assert np.ptp(a[:, 0]) > 1e-3


def test_fit_is_seeded():
    theta, x = _pilot(60, 11)
    a = LearnedSummary("dense", head=(8,), epochs=3, seed=5).fit(theta, x)(x)
    b = LearnedSummary("dense", head=(8,), epochs=3, seed=5).fit(theta, x)(x)
    c = LearnedSummary("dense", head=(8,), epochs=3, seed=6).fit(theta, x)(x)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_save_load_identical_features_and_pickle(fitted, tmp_path):
    _, x = _pilot(50, 200)
    path = fitted.save(tmp_path / "ls")
    back = LearnedSummary.load(path)
    np.testing.assert_array_equal(back(x), fitted(x))
    assert back.names == fitted.names
    assert back.card_["n_train"] == fitted.card_["n_train"]
    again = pickle.loads(pickle.dumps(fitted))     # how a Dask task receives it
    np.testing.assert_array_equal(again(x), fitted(x))


def test_corrupt_or_incomplete_file_is_refused(fitted, tmp_path):
    path = fitted.save(tmp_path / "ls")
    model = path / "model.keras"
    model.write_bytes(model.read_bytes()[:200])          # truncated archive
    with pytest.raises(ValueError, match="corrupt") as info:
        LearnedSummary.load(path)
    assert str(model) in str(info.value)
    path2 = fitted.save(tmp_path / "ls2")
    (path2 / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON") as info:
        LearnedSummary.load(path2)
    assert "config.json" in str(info.value)
    (path2 / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="missing config.json"):
        LearnedSummary.load(path2)


def test_bad_input_is_refused_before_training():
    theta, x = _pilot(30, 1)
    with pytest.raises(ValueError, match="unknown learned-summary architecture"):
        LearnedSummary("transformer")
    with pytest.raises(ValueError, match="theta has 29 points"):
        LearnedSummary().fit(theta[:29], x)
    with pytest.raises(ValueError, match="needs \\(theta"):
        LearnedSummary().fit(x)
    s = LearnedSummary("dense", head=(4,), epochs=1).fit(theta, x)
    with pytest.raises(ValueError, match="T=12 time points"):
        s(x[..., :10])
    with pytest.raises(ValueError, match="not fitted"):
        LearnedSummary()(x)


def test_combines_with_handpicked_summaries(fitted):
    _, x = _pilot(20, 300)
    both = fitted + Mean(species=("A", "B"))
    f = both(x)
    assert f.shape == (20, 3)
    assert both.names == ["learned__rate", "A__mean", "B__mean"]
    both.fit(x)                                     # the Summary protocol: keeps the trained weights
    np.testing.assert_array_equal(both(x), f)


def _abc_rmse(summary, observed, truth, seed):
    from sciope_abs.distances import Adaptive
    from sciope_abs.inference import ABCRejection

    post = ABCRejection(SIM, PRIOR, summary, Adaptive(), observed, n_traj=N_TRAJ, client="sync").infer(
        100, quantile=0.05, seed=seed, batch_size=500)
    return float(np.sqrt(np.mean((post.samples[:, 0] - truth) ** 2)))


def test_abc_with_learned_summary_beats_useless_summary(fitted):
    truths = (4.0, 9.0, 15.0)
    good, bad = [], []
    for k, truth in enumerate(truths):
        obs = SIM.simulate(np.array([[truth]]), n_traj=N_TRAJ, seed=500 + k)[0]
        good.append(_abc_rmse(fitted, obs, truth, seed=k))
        bad.append(_abc_rmse(SecondSpeciesMean(species=("A", "B")), obs, truth, seed=k))
    # useless summary: accepted draws are prior draws, RMSE ~ 5-9; learned: posterior sd ~ 1.2
    assert max(good) < 2.5, good
    assert np.mean(good) < 0.35 * np.mean(bad), (good, bad)


def test_semiauto_summary_regresses_theta_on_features(tmp_path):
    theta, x = _pilot(500, 20)
    base = Mean(species=("A", "B")) + Std(species=("A", "B"))
    s = SemiAutoSummary(base, seed=0).fit(theta, x, prior=PRIOR)
    th2, x2 = _pilot(200, 21)
    f = s(x2)
    assert f.shape == (200, 1) and s.names == ["semiauto__rate"]
    assert np.corrcoef(f[:, 0], th2[:, 0])[0, 1] > 0.95
    # the useless part alone carries nothing
    s0 = SemiAutoSummary(SecondSpeciesMean(species=("A", "B"))).fit(theta, x)
    assert abs(np.corrcoef(s0(x2)[:, 0], th2[:, 0])[0, 1]) < 0.2
    back = SemiAutoSummary.load(s.save(tmp_path / "sa.json"))
    np.testing.assert_array_equal(back(x2), f)


def test_learned_abc_one_call_counts_the_pilot_in_the_budget(tmp_path):
    from sciope_abs.inference.learned import learned_abc

    truth = 12.0
    obs = SIM.simulate(np.array([[truth]]), n_traj=N_TRAJ, seed=42)[0]
    res = learned_abc(SIM, PRIOR, obs, summary="dense", handpicked=Mean(species=("A", "B")), combine=True,
                      n_pilot=400, method="rejection", n_traj=N_TRAJ, max_simulations=2400, quantile=0.05,
                      seed=1, client="sync", summary_kwargs={"head": (16,), "arch_params": {"widths": (32,)},
                                                             "epochs": 40})
    assert res.n_pilot == 400 and res.n_simulations == 2400
    assert res.posterior.n_simulations == 2000 and len(res.posterior) == 100
    assert res.summary.names == ["learned__rate", "A__mean", "B__mean"]
    assert abs(res.posterior.mean()[0] - truth) < 3 * res.posterior.std()[0] < 3 * 2.5
    rd = res.save(tmp_path / "run")
    back = LearnedSummary.load(rd / "learned_summary")
    np.testing.assert_array_equal(back(obs), res.learned(obs))


def test_learned_abc_refuses_bad_setups():
    from sciope_abs.inference.learned import learned_abc

    obs = SIM.simulate(np.array([[5.0]]), n_traj=N_TRAJ, seed=0)[0]
    with pytest.raises(ValueError, match="leaves nothing for the ABC"):
        learned_abc(SIM, PRIOR, obs, n_pilot=500, max_simulations=500, client="sync")
    with pytest.raises(ValueError, match="timespan"):
        learned_abc(SIM, PRIOR, obs, pilot_simulator=PoissonSimulator(T=8), client="sync")
    with pytest.raises(ValueError, match="pass handpicked="):
        learned_abc(SIM, PRIOR, obs, summary="semiauto", n_pilot=50, client="sync")
    with pytest.raises(ValueError, match="unknown learned summary"):
        learned_abc(SIM, PRIOR, obs, summary="lstm", n_pilot=50, client="sync")


def test_cli_infer_with_a_learned_summary_stores_it_in_the_run_folder(tmp_path):
    import yaml

    from sciope_abs.cli import main
    from sciope_abs.inference import Posterior
    from sciope_abs.inference.learned import resolve_learned_specs
    from sciope_abs.simulators import make_simulator

    spec = [{"name": "learned", "arch": "dense", "n_pilot": 100, "epochs": 3, "head": [8],
             "arch_params": {"widths": [16]}}, "mean"]
    cfg = {"model": "toggle_switch", "species": ["U", "V"], "n_traj": 3,
           "observed": {"synthetic": {"truth": {"alpha1": 1.5, "mu": 0.6}, "n_traj": 3, "seed": 1}},
           "prior": {"alpha1": {"uniform": [0.1, 2.0]}, "mu": {"uniform": [0.1, 2.0]}},
           "summaries": spec, "distance": "adaptive", "method": "smc",
           "settings": {"n_particles": 40, "max_rounds": 2, "batch_size": 20}, "seed": 3, "scheduler": "sync"}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    assert main(["infer", str(path), "--out", str(out)]) == 0
    stored = LearnedSummary.load(out / "learned_summary_0")
    post = Posterior.load(out / "posterior.npz")
    assert post.summary_names == ["learned__alpha1", "learned__mu", "U__mean", "V__mean"]
    # a resumed run loads the stored network instead of training a new one
    sim = make_simulator("toggle_switch", param_names=["alpha1", "mu"], species=["U", "V"])
    prior = JointPrior({"alpha1": Uniform(0.1, 2.0), "mu": Uniform(0.1, 2.0)})
    again = resolve_learned_specs(spec, sim, prior, seed=3, n_traj=3, load_from=out)
    x = np.load(out / "observed.npy")
    np.testing.assert_array_equal(again[0](x), stored(x))
    assert again[1] == "mean"
    # a bad entry is a one-line error before any run folder is written
    cfg["summaries"] = [{"name": "learned", "arch": "lstm", "n_pilot": 50}]
    path.write_text(yaml.safe_dump(cfg))
    assert main(["infer", str(path), "--out", str(tmp_path / "bad")]) == 1
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_learned_summary_in_abc_on_a_local_cluster_gives_the_in_process_answer(fitted):
    """The summary is pickled into Dask tasks (as its saved files) and rebuilt on each worker."""
    from _engine_helpers import tests_cluster

    from sciope_abs.inference import ABCRejection

    client = tests_cluster()
    obs = SIM.simulate(np.array([[7.0]]), n_traj=N_TRAJ, seed=77)[0]
    kw = dict(quantile=0.1, seed=5, batch_size=100)
    sync = ABCRejection(SIM, PRIOR, fitted, observed=obs, n_traj=N_TRAJ, client="sync").infer(50, **kw)
    dist = ABCRejection(SIM, PRIOR, fitted, observed=obs, n_traj=N_TRAJ, client=client).infer(50, **kw)
    np.testing.assert_allclose(dist.distances, sync.distances, rtol=1e-6)
    np.testing.assert_array_equal(dist.samples, sync.samples)


@pytest.mark.slow
def test_pipeline_fits_a_learned_summary_once_and_stores_it(tmp_path):
    import copy

    from sciope_abs.pipeline import run_pipeline

    spec = [{"name": "learned", "arch": "dense", "n_pilot": 30, "epochs": 2, "head": [4],
             "arch_params": {"widths": [8]}}, "mean"]
    cfg = {"name": "tiny", "model": "x16", "vary_params": ["a11", "a21"], "species": ["P1"], "seed": 0,
           "scheduler": "sync", "dataset": {"n_settings": 12, "n_traj": 4, "n_steps": 3},
           "emulator": {"method": "train", "train": {"hidden": [16], "n_components": 2, "epochs": 2, "batch_size": 64}},
           "evaluate": {"n_settings": 2, "n_traj": 20, "lags": [1, 3]},
           "observed": {"truth": {"a11": 110.0, "a21": 420.0}, "initial_state": {"G1": 2, "G2": 2, "P1": 500},
                        "n_traj": 5},
           "summaries": spec, "infer": {"n_traj": 4, "n_particles": 20, "max_rounds": 2},
           "fidelity": {"n_particles": 2, "n_traj": 20}}
    run_dir = tmp_path / "run"
    first = run_pipeline(copy.deepcopy(cfg), run_dir, progress=False)
    post = first.output("infer")
    assert post.summary_names == ["learned__a11", "learned__a21", "P1__mean"]
    stored = list((run_dir / "learned_summaries").glob("*/learned_summary_0"))
    assert len(stored) == 1
    net = LearnedSummary.load(stored[0])
    again = run_pipeline(copy.deepcopy(cfg), run_dir, progress=False)      # loads it, reruns nothing
    assert again.ran() == []
    np.testing.assert_array_equal(again.output("infer").samples, post.samples)
    x = np.load(run_dir / "infer" / "observed.npy")
    np.testing.assert_array_equal(net(x)[0], post.observed[:2])      # the stored network made the ABC's summary
    changed = copy.deepcopy(cfg)
    changed["summaries"][0]["n_pilot"] = 40                          # another learned entry: refitted, infer reruns
    third = run_pipeline(changed, run_dir, progress=False)
    assert "infer" in third.ran()
    assert len(list((run_dir / "learned_summaries").glob("*/learned_summary_0"))) == 2
