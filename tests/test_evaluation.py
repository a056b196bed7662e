"""Fidelity evaluation: histogram distances (paper eqs. 5-6), evaluate(), EvaluationReport, CLI."""
from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from sciope_abs.abstraction.evaluation import evaluate
from sciope_abs.abstraction.histograms import histogram_distance, histogram_edges, histogram_pair
from sciope_abs.abstraction.report import EvaluationReport
from sciope_abs.crn import CRN, Reaction

LAGS = (1, 2, 4)


def tiny_crn(k_d: float = 1.0) -> CRN:
    """A two-state gene (G1 + G2 = 1 conserved) producing A; k_p may vary per setting."""
    return CRN(
        name="tiny_switch", species=("A", "G1", "G2"),
        parameters={"k_on": 0.5, "k_off": 0.5, "k_p": 10.0, "k_d": k_d},
        reactions=[Reaction("switch_on", {"G1": 1}, {"G2": 1}, rate="k_on"),
                   Reaction("switch_off", {"G2": 1}, {"G1": 1}, rate="k_off"),
                   Reaction("produce", {"G1": 1}, {"G1": 1, "A": 1}, rate="k_p"),
                   Reaction("degrade", {"A": 1}, {}, rate="k_d")],
        initial_state={"A": 5, "G1": 1, "G2": 0}, initial_ranges={"A": (0, 20), "G1": (0, 1)},
        complements={"G2": ("G1", 1)}, rate_ranges={"k_p": (5.0, 15.0)}, dt=0.5, n_steps=4, observed=("A",))


def ssa(crn: CRN, n_steps: int = 4):
    from sciope_abs.simulators import make_simulator

    return make_simulator(crn, param_names=("k_p",), timespan=np.arange(n_steps + 1) * crn.dt)


class RolloutSSA:
    """An 'emulator' with the rollout interface whose transitions are exact SSA."""

    def __init__(self, crn: CRN) -> None:
        self.model = crn
        self.dt = crn.dt
        self.param_names = ("k_p",)
        self.species = crn.species

    def rollout(self, initial_states, rates, n_steps, n_traj, seed):
        return ssa(self.model, n_steps).simulate(rates, n_traj=n_traj, seed=seed, initial_state=initial_states)


# ---------------------------------------------------------------------------- histograms
def test_histogram_distance_hand_computed():
    a, b = [0, 0, 1, 2], [0, 1, 1, 1]
    # unit bins {0, 1, 2}: p = (1/2, 1/4, 1/4), q = (1/4, 3/4, 0)
    assert histogram_distance(a, b, "l1") == pytest.approx(0.25 + 0.5 + 0.25)
    # IoU: sum min = 1/4 + 1/4 + 0 = 1/2, sum max = 1/2 + 3/4 + 1/4 = 3/2 -> 1 - 1/3
    assert histogram_distance(a, b, "iou") == pytest.approx(2 / 3)
    assert histogram_distance(a, b, "l1") == histogram_distance(b, a, "l1")
    # different sample sizes: a = {0: 1/2, 1: 1/2}, b = {1: 1/3, 3: 2/3}
    assert histogram_distance([0, 1], [1, 3, 3], "l1") == pytest.approx(0.5 + 1 / 6 + 2 / 3)
    # disjoint supports: the maxima
    assert histogram_distance([0, 0], [5, 6], "l1") == pytest.approx(2.0)
    assert histogram_distance([0, 0], [5, 6], "iou") == pytest.approx(1.0)


def test_histogram_distance_zero_for_identical_samples():
    x = np.random.default_rng(0).poisson(40, size=500)
    for kind in ("l1", "iou"):
        for bins in (None, 10, 100):
            assert histogram_distance(x, x.copy(), kind, bins) == 0.0
    assert histogram_distance(x, np.random.default_rng(0).permutation(x), "l1") == 0.0


def test_histogram_bins_are_shared_and_integer_aligned():
    edges = histogram_edges([0, 10], [3, 250], bins=100)
    widths = np.diff(edges)
    assert np.all(widths == 3) and edges[0] == -0.5 and edges[-1] >= 250.5
    assert len(edges) - 1 <= 100
    np.testing.assert_array_equal(histogram_edges([2, 5], [4], None), [1.5, 2.5, 3.5, 4.5, 5.5])
    p, q, e = histogram_pair([0.1, 0.2, 0.9], [0.5, 0.6], bins=4)  # real-valued: equal-width bins
    assert p.sum() == pytest.approx(1) and q.sum() == pytest.approx(1) and len(e) == 5
    # coarser bins can only merge differences: distance does not increase
    rng = np.random.default_rng(1)
    a, b = rng.poisson(50, 300), rng.poisson(52, 300)
    assert histogram_distance(a, b, bins=10) <= histogram_distance(a, b, bins=None) + 1e-12


def test_histogram_distance_bad_input():
    with pytest.raises(ValueError, match="kind"):
        histogram_distance([1], [1], "kl")
    with pytest.raises(ValueError, match="empty"):
        histogram_distance([], [1])
    with pytest.raises(ValueError, match="non-finite"):
        histogram_distance([1, np.nan], [1])
    with pytest.raises(ValueError, match="integer-valued"):
        histogram_distance([0.5], [1.0])
    with pytest.raises(ValueError, match="positive integer"):
        histogram_distance([1], [2], bins=0)


# ---------------------------------------------------------------------------- evaluate
@pytest.fixture(scope="module")
def exact_report():
    crn = tiny_crn()
    return evaluate(ssa(crn), model=crn, n_settings=8, n_traj=300, lags=LAGS, seed=3, client="sync",
                    progress=False)


def test_exact_simulator_reaches_self_distance(exact_report):
    rep = exact_report
    assert rep.l1.shape == (8, 1, 3) and np.isfinite(rep.l1).all()
    # emulator-vs-SSA and SSA-vs-SSA are exchangeable here: their mean difference is within
    # 4 standard errors of zero (standard error from the per-setting spread, 8 x 3 values)
    diff = (rep.l1 - rep.self_l1).ravel()
    se = diff.std(ddof=1) / np.sqrt(diff.size)
    assert abs(diff.mean()) < 4 * se
    tab = rep.table()
    assert list(tab.columns[:7]) == ["species", "lag", "l1", "iou", "self_l1", "self_iou", "ratio"]
    assert tab.species.tolist() == ["A"] * 3 and tab.lag.tolist() == list(LAGS)
    assert np.all(np.abs(tab.ratio - 1) < 0.35)
    # the self-distance is a finite-sample effect: positive but far from disjoint (2.0)
    assert np.all((tab.self_l1 > 0.05) & (tab.self_l1 < 0.6))


def test_wrong_simulator_is_clearly_worse(exact_report):
    crn = tiny_crn()
    wrong = ssa(tiny_crn(k_d=2.0))  # twice the degradation: half the protein
    rep = evaluate(wrong, model=crn, n_settings=8, n_traj=300, lags=LAGS, seed=3, client="sync", progress=False)
    tab = rep.table()
    # same settings and SSA ensembles as the exact run (same seed): only the 'emulator' differs
    np.testing.assert_array_equal(rep.self_l1, exact_report.self_l1)
    np.testing.assert_array_equal(rep.initial_states, exact_report.initial_states)
    assert np.all(tab.ratio > 2.0)
    assert np.all(tab.iou > 2 * tab.self_iou)


def test_evaluate_many_shares_the_ssa_ensembles(exact_report):
    from sciope_abs.abstraction import evaluate_many

    crn = tiny_crn()
    reps = evaluate_many({"exact": ssa(crn), "wrong": ssa(tiny_crn(k_d=2.0))}, model=crn, n_settings=8,
                         n_traj=300, lags=LAGS, seed=3, client="sync", progress=False)
    assert list(reps) == ["exact", "wrong"]
    # each report is exactly what evaluate() gives for that emulator alone with the same seed
    np.testing.assert_array_equal(reps["exact"].l1, exact_report.l1)
    np.testing.assert_array_equal(reps["exact"].self_l1, exact_report.self_l1)
    np.testing.assert_array_equal(reps["wrong"].self_l1, exact_report.self_l1)
    # paired, setting by setting: the wrong model is further from SSA in every setting and lag
    assert np.all(reps["wrong"].l1 > reps["exact"].l1)


def test_evaluate_many_gives_every_emulator_the_noise_evaluate_would_give_it():
    """The second emulator's report equals evaluate() of it alone (it once got the next children
    of a seed sequence the first emulator had already spawned from)."""
    from sciope_abs.abstraction import evaluate, evaluate_many

    crn = tiny_crn()
    kw = dict(model=crn, n_settings=3, n_traj=40, lags=(1, 3), seed=5, client="sync", progress=False)
    reps = evaluate_many({"first": RolloutSSA(crn), "second": RolloutSSA(crn)}, **kw)
    np.testing.assert_array_equal(reps["first"].l1, reps["second"].l1)
    np.testing.assert_array_equal(reps["second"].l1, evaluate(RolloutSSA(crn), **kw).l1)


def test_evaluate_many_bad_input():
    from sciope_abs.abstraction import evaluate_many

    crn = tiny_crn()
    kw = dict(n_traj=10, client="sync", progress=False, seed=0)
    with pytest.raises(ValueError, match="non-empty mapping"):
        evaluate_many({}, model=crn, **kw)
    with pytest.raises(ValueError, match="must share dt"):
        evaluate_many({"a": RolloutSSA(crn), "b": _with_dt(RolloutSSA(crn), 0.25)}, model=crn, **kw)


def _with_dt(emu, dt):
    emu.dt = dt
    return emu


def test_rollout_interface_and_dataset_settings(tmp_path):
    from sciope_abs.abstraction.dataset import build_dataset

    crn = tiny_crn()
    ds = build_dataset(crn, n_settings=14, n_traj=2, vary_params=("k_p",), seed=4, client="sync", progress=False)
    rep = evaluate(RolloutSSA(crn), n_settings=2, n_traj=100, lags=(1, 4), seed=5, client="sync",
                   dataset=ds, progress=False)
    test_idx = ds.splits["test"][:2]
    np.testing.assert_array_equal(rep.initial_states, ds.initial_states[test_idx])
    np.testing.assert_array_equal(rep.rates, ds.rates[test_idx])
    assert rep.meta["model"] == "tiny_switch" and rep.samples_emulator.shape == (2, 100, 1, 2)
    # reproducible under the seed
    again = evaluate(RolloutSSA(crn), n_settings=2, n_traj=100, lags=(1, 4), seed=5, client="sync",
                     dataset=ds, progress=False)
    np.testing.assert_array_equal(again.l1, rep.l1)
    # explicit settings, all species
    rep2 = evaluate(RolloutSSA(crn), n_traj=50, lags=(2,), seed=1, client="sync", species=("A", "G1"),
                    initial_states=[[3, 1, 0], [10, 0, 1]], rates=[[6.0], [12.0]], progress=False)
    assert rep2.l1.shape == (2, 2, 1) and rep2.table().species.tolist() == ["A", "G1"]


def test_evaluate_bad_input():
    crn = tiny_crn()
    emu = RolloutSSA(crn)
    kw = dict(n_traj=10, client="sync", progress=False, seed=0)
    with pytest.raises(ValueError, match="lags"):
        evaluate(emu, lags=(0, 1), **kw)
    with pytest.raises(ValueError, match="unknown species"):
        evaluate(emu, species=("Z",), **kw)
    with pytest.raises(ValueError, match="initial_states must have shape"):
        evaluate(emu, initial_states=[[1, 2]], rates=[[6.0]], **kw)
    with pytest.raises(ValueError, match="rates must have shape"):
        evaluate(emu, initial_states=[[1, 1, 0]], rates=[[6.0, 1.0]], **kw)
    with pytest.raises(ValueError, match="does not cover"):
        evaluate(ssa(crn, n_steps=2), model=crn, lags=(3,), **kw)
    bare = RolloutSSA(crn)
    bare.model = None  # nothing to compare against
    with pytest.raises(ValueError, match="pass model="):
        evaluate(bare, **kw)


# ---------------------------------------------------------------------------- report
def test_report_save_load_plot(exact_report, tmp_path):
    rep = exact_report
    path = rep.save(tmp_path / "rep")
    back = EvaluationReport.load(path)
    for m in ("l1", "iou", "self_l1", "self_iou", "initial_states", "rates", "samples_emulator"):
        np.testing.assert_array_equal(getattr(back, m), getattr(rep, m))
    assert back.species == rep.species and back.lags == rep.lags and back.meta == json.loads(json.dumps(rep.meta))
    assert back.table().equals(rep.table())
    d = rep.to_dict()
    json.dumps(d)
    assert len(d["l1"]) == 8 and d["table"][0]["species"] == "A"
    assert "lag   4" in rep.summary() and "self" in rep.summary()
    assert rep.per_setting().shape[0] == 8 * 3
    layout = back.plot(setting=1)
    hist_row, curve = layout.children
    assert len(hist_row.children) == len(LAGS)
    assert curve.title.text.startswith("A: mean L1")
    with pytest.raises(ValueError, match="setting"):
        rep.plot(setting=99)
    # rebinning from the kept samples reproduces the original binning exactly, and coarser bins
    # lower the finite-sample self-distance
    same = back.rebin(rep.bins)
    np.testing.assert_allclose(same.l1, rep.l1)
    np.testing.assert_allclose(same.self_iou, rep.self_iou)
    coarse = back.rebin(5)
    assert coarse.meta["bins"] == 5 and np.nanmean(coarse.self_l1) < np.nanmean(rep.self_l1)
    with pytest.raises(FileNotFoundError, match="no evaluation report"):
        EvaluationReport.load(tmp_path / "nothing")


# ---------------------------------------------------------------------------- CLI
def test_cli_evaluate_real_emulator_is_resumable(tmp_path, capsys):
    from sciope_abs.abstraction.dataset import build_dataset
    from sciope_abs.abstraction.training import train
    from sciope_abs.cli import main

    ds = build_dataset(tiny_crn(), n_settings=8, n_traj=5, vary_params=("k_p",), seed=2, client="sync",
                       progress=False)
    emu_dir = tmp_path / "emu"
    train(ds, hidden=(8,), n_components=1, epochs=1, seed=0, progress=False).save(emu_dir)
    args = ["evaluate", str(emu_dir), "--settings", "2", "--traj", "30", "--lags", "1,3", "--seed", "1",
            "--scheduler", "sync", "--quiet"]
    assert main(args) == 0
    assert "wrote" in capsys.readouterr().out
    rep = EvaluationReport.load(emu_dir / "evaluation")
    assert rep.lags == (1, 3) and rep.l1.shape == (2, 1, 2) and np.isfinite(rep.self_l1).all()
    assert (emu_dir / "evaluation" / "report.html").read_text().startswith("<!DOCTYPE html>")
    card = json.loads((emu_dir / "card.json").read_text())
    assert [row["lag"] for row in card["fidelity"]["table"]] == [1, 3]
    assert rep.meta["bins"] == 10 and rep.meta["bins_requested"] == "auto"      # --bins auto by default
    assert main(args) == 0
    assert "reusing the complete evaluation report" in capsys.readouterr().out
    assert main(["evaluate", str(tmp_path / "missing"), "--scheduler", "sync"]) == 1
    assert "no emulator directory" in capsys.readouterr().err
    cache = tmp_path / "cache"                     # --cache: a second report reuses the exact ensembles
    for name in ("a", "b"):
        assert main([*args, "--bins", "7", "--cache", str(cache), "--out", str(tmp_path / name)]) == 0
    assert len(list(cache.iterdir())) == 1
    assert EvaluationReport.load(tmp_path / "b").meta["ssa_reused"] and EvaluationReport.load(tmp_path / "b").meta["bins"] == 7
    with pytest.raises(SystemExit):
        main([*args, "--bins", "many"])
    assert "--bins must be 'auto' or a non-negative integer" in capsys.readouterr().err


# ---------------------------------------------------------------------------- trust and cost
class BreaksTheLaw(RolloutSSA):
    """Exact transitions, except that G1 gains one copy at step 2 of every trajectory."""

    def rollout(self, initial_states, rates, n_steps, n_traj, seed):
        x = super().rollout(initial_states, rates, n_steps, n_traj, seed)
        x[:, :, 1, 2] += 1
        return x


def test_ensembles_are_cached_by_content_and_reused_across_emulators_and_reruns(tmp_path, monkeypatch):
    crn = tiny_crn()
    cache = tmp_path / "cache"
    kw = dict(model=crn, n_settings=3, n_traj=60, lags=(1, 2), seed=8, client="sync", progress=False, cache=cache)
    first = evaluate(ssa(crn), **kw)
    assert first.meta["ssa_reused"] is False and first.meta["ssa_violations"] == 0
    files = sorted(cache.iterdir())
    assert [f.name for f in files] == [Path(first.meta["ssa_cache"]).name]
    import sciope_abs.engine as engine                      # a reuse must not simulate at all

    def no_simulation(*a, **k):
        raise AssertionError("simulated although the ensembles are cached")

    monkeypatch.setattr(engine, "simulate_parallel", no_simulation)
    again = evaluate(ssa(crn), **kw)
    other = evaluate(ssa(tiny_crn(k_d=2.0)), **kw)          # another emulator, same settings
    assert again.meta["ssa_reused"] and other.meta["ssa_reused"]
    np.testing.assert_array_equal(again.l1, first.l1)
    np.testing.assert_array_equal(other.self_l1, first.self_l1)
    monkeypatch.undo()
    evaluate(ssa(crn), **{**kw, "seed": 9})                 # another seed: another entry
    evaluate(ssa(crn), **{**kw, "traj_batch": 7})           # another batching: another entry
    evaluate(ssa(crn), **{**kw, "reference": ssa(tiny_crn(k_d=2.0))})   # another reference model: another
    assert len(list(cache.iterdir())) == 4
    Path(first.meta["ssa_cache"]).write_bytes(b"damaged")   # unreadable: warned and simulated again
    with pytest.warns(UserWarning, match="unreadable"):
        fixed = evaluate(ssa(crn), **kw)
    np.testing.assert_array_equal(fixed.l1, first.l1)


def test_exact_ensembles_progress_per_trajectory_batch(monkeypatch):
    import sciope_abs.engine.simulate as sim_mod

    updates = []
    real = sim_mod.make_progress

    def spy(total, desc=None, enabled=True):
        bar = real(total, desc=desc, enabled=False)
        inner = bar.update
        bar.update = lambda k=1: (updates.append((desc, k)), inner(k))[1]
        return bar

    monkeypatch.setattr(sim_mod, "make_progress", spy)
    crn = tiny_crn()
    rep = evaluate(ssa(crn), model=crn, n_settings=2, n_traj=50, lags=(1,), seed=1, client="sync",
                   progress=True, traj_batch=20)
    ens = [k for d, k in updates if d == "exact ensembles"]
    assert ens == [1] * (2 * 2 * 3)                         # 2 settings x 2 ensembles x 3 batches of <= 20
    assert rep.samples_ssa.shape == (2, 50, 1, 1)


def test_auto_bins_follow_the_ensemble_size_and_keep_a_small_ensemble_from_saturating():
    from sciope_abs.abstraction.histograms import auto_bins

    assert [auto_bins(m) for m in (20, 200, 1000, 10 ** 5)] == [10, 15, 32, 100]
    rng = np.random.default_rng(0)
    same_fixed, same_auto, shifted_auto = [], [], []
    for _ in range(40):                                     # two ensembles of 50 from one wide law
        a, b, c = (np.round(rng.normal(mu, 100, 50)) for mu in (500, 500, 600))
        same_fixed.append(histogram_distance(a, b, "l1", bins=100))
        same_auto.append(histogram_distance(a, b, "l1", bins="auto"))
        shifted_auto.append(histogram_distance(a, c, "l1", bins="auto"))
    assert np.mean(same_fixed) > 1.2                        # 100 bins for 50 draws: near-disjoint histograms
    assert np.mean(same_auto) < 0.6 * np.mean(same_fixed)
    assert np.mean(shifted_auto) > np.mean(same_auto) + 4 * np.std(same_auto) / np.sqrt(40)
    crn = tiny_crn()
    rep = evaluate(ssa(crn), model=crn, n_settings=2, n_traj=150, lags=(1,), seed=2, client="sync", progress=False)
    assert rep.meta["bins"] == 13 and rep.meta["bins_requested"] == "auto"


def test_self_distance_standard_error_and_the_resolution_warning(exact_report):
    from sciope_abs.abstraction.evaluation import ResolutionWarning

    tab = exact_report.table()
    for t in range(len(LAGS)):
        v = exact_report.self_l1[:, 0, t]
        d = exact_report.l1[:, 0, t] - v
        assert tab.self_l1_se[t] == pytest.approx(v.std(ddof=1) / np.sqrt(v.size))
        assert tab.l1_diff_se[t] == pytest.approx(d.std(ddof=1) / np.sqrt(d.size))
    # the rule itself, on a copy of the report whose self-distances scatter widely over the settings
    # (2 SE / mean = 2 * 0.43 / sqrt(8) / 0.5 = 0.6 > 0.3), and not on one whose settings agree
    from sciope_abs.abstraction.evaluation import _warn_resolution

    noisy, steady = copy.deepcopy(exact_report), copy.deepcopy(exact_report)
    noisy.self_l1[:, 0, 0] = np.tile([0.1, 0.9], 4)
    noisy.l1[:, 0, 0] = noisy.self_l1[:, 0, 0]
    steady.self_l1[:] = 0.5
    steady.l1[:] = 0.55
    with pytest.warns(ResolutionWarning, match=r"too uncertain to tell a ratio of 1.3 from 1"):
        _warn_resolution(noisy, 300)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResolutionWarning)
        _warn_resolution(steady, 300)
    # end to end: one setting has no standard error at all, which evaluate() reports
    crn = tiny_crn()
    with pytest.warns(ResolutionWarning, match=r"no standard error \(one setting\)"):
        evaluate(ssa(crn), model=crn, n_settings=1, n_traj=20, lags=(1,), seed=2, client="sync", progress=False)
    assert "+-" in exact_report.summary()


def test_violations_of_conservation_laws_are_counted_in_the_report():
    crn = tiny_crn()
    kw = dict(model=crn, n_settings=3, n_traj=40, lags=(1, 3), seed=4, client="sync", progress=False)
    good = evaluate(RolloutSSA(crn), **kw)
    assert good.meta["violations"] == 0 and good.meta["violation_cells"] == 3 * 40 * 3
    assert good.meta["laws_checked"] == ["G1 + G2"]
    with pytest.warns(UserWarning, match=r"120 of 360 \(trajectory, step\) cells of emulator 'emulator' break"):
        bad = evaluate(BreaksTheLaw(crn), **kw)
    assert bad.meta["violations"] == 3 * 40                 # step 2 of every trajectory
    assert "violations: 120 of 360" in bad.summary()
