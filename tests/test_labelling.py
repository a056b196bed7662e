"""Label spreading, automatic labellers, and the validation on the toggle switch (bistability)."""
from __future__ import annotations

import numpy as np
import pytest

from sciope_abs.exploration import bistability_labels, entropy, margin, oscillation_labels, spread_labels


def test_bistability_labeller_on_constructed_traces():
    t = 40
    x = np.zeros((3, 4, 2, t))
    x[0, :2, 0], x[0, 2:, 1] = 30, 30         # half the realisations U-high, half V-high: bistable
    x[1, :, 0] = 30                           # always U-high: monostable
    x[2] = 5                                  # no dominance at all
    y = bistability_labels(x)
    np.testing.assert_array_equal(y, [1, 0, 0])
    x[2, 0, 0, 5] = np.nan
    assert bistability_labels(x)[2] == -1
    assert bistability_labels(x, ("V", "U"), species_names=("U", "V"))[0] == 1
    with pytest.raises(ValueError, match="different"):
        bistability_labels(x, (0, 0))


def test_oscillation_labeller_sine_vs_noise():
    rng = np.random.default_rng(0)
    tt = np.linspace(0, 100, 201)
    osc = 50 + 40 * np.sin(2 * np.pi * tt / 20) + rng.normal(0, 3, (3, 201))
    flat = 50 + rng.normal(0, 3, (3, 201))
    x = np.stack([osc[:, None, :], flat[:, None, :]])  # (2, 3, 1, 201)
    np.testing.assert_array_equal(oscillation_labels(x), [1, 0])


def test_uncertainties():
    p = np.array([[0.5, 0.5], [1.0, 0.0], [0.8, 0.2]])
    np.testing.assert_allclose(entropy(p)[:2], [1.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(margin(p), [1.0, 0.0, 0.4])


def test_spread_on_two_clusters_and_bad_input():
    rng = np.random.default_rng(1)
    f = np.r_[rng.normal(0, 1, (50, 3)), rng.normal(5, 1, (50, 3))]
    truth = np.r_[np.zeros(50, int), np.ones(50, int)]
    y = np.full(100, -1)
    y[[0, 1, 2, 50, 51, 52]] = truth[[0, 1, 2, 50, 51, 52]]
    for kernel in ("rbf", "knn"):
        r = spread_labels(f, y, kernel=kernel, scale="standard", seed=0)
        assert (r.predictions == truth).mean() >= 0.97
        assert r.proba.shape == (100, 2) and np.all((r.confidence >= 0.5) & (r.confidence <= 1))
        assert r.width > 0 and 0 <= r.cv_accuracy <= 1
    # NaN rows are left out with prediction -1
    f2 = f.copy()
    f2[10] = np.nan
    r2 = spread_labels(f2, y, seed=0)
    assert r2.predictions[10] == -1 and r2.confidence[10] == 0
    with pytest.raises(ValueError, match="no labelled"):
        spread_labels(f, np.full(100, -1))
    with pytest.raises(ValueError, match="shape"):
        spread_labels(f, y[:5])
    with pytest.raises(ValueError, match="kernel"):
        spread_labels(f, y, kernel="poly")


def test_toggle_switch_five_percent_labels_beat_majority():
    """Validation: bistability of the toggle switch, 5 % of the points labelled by the automatic
    labeller; label spreading on the rest must beat the majority-class baseline clearly."""
    from sciope_abs.designs import LatinHypercube
    from sciope_abs.exploration import Sweep
    from sciope_abs.priors import JointPrior, Uniform
    from sciope_abs.simulators import FastSSASimulator
    from sciope_abs.summaries import AutoCorrelation, CrossCorrelation, Mean, Quantiles, Std

    sp = ("U", "V")
    prior = JointPrior({"alpha1": Uniform(1, 30), "alpha2": Uniform(1, 30), "beta": Uniform(0.5, 3),
                        "gamma": Uniform(0.5, 3)})
    sim = FastSSASimulator("toggle_switch", param_names=prior.names, species=sp)
    summary = (Mean(species=sp) + Std(species=sp) + Quantiles(species=sp) + AutoCorrelation(species=sp)
               + CrossCorrelation(species=sp))
    sweep = Sweep(sim, LatinHypercube(prior), summary, n_traj=8, seed=11, client="sync").run(300)
    truth = bistability_labels(sweep.traces)
    assert 0.2 < truth.mean() < 0.6  # both behaviours present in the prior
    accs, baselines = [], []
    for rep in range(10):
        rng = np.random.default_rng(rep)
        picked = rng.choice(len(sweep), 15, replace=False)  # 5 %
        sweep.labels[:] = -1
        for v in (0, 1):
            sweep.label(picked[truth[picked] == v], v)
        res = sweep.spread(seed=rep)
        rest = sweep.labels < 0
        accs.append(np.mean(res.predictions[rest] == truth[rest]))
        baselines.append(max(truth[rest].mean(), 1 - truth[rest].mean()))
    # n_rest = 285 per repetition: binomial standard error about 0.025 per repetition, 0.008 for the mean
    # of 10; which 15 points get labelled matters more (one draw in ten falls to ~0.55). Measured
    # (seed 11, 10 draws): 0.797 against a 0.739 majority baseline with the direct SSA kernel's
    # streams, 0.796 against 0.751 with the default kernel's; predicting the majority scores the baseline
    assert np.mean(accs) >= np.mean(baselines) + 0.03, (accs, baselines)
    assert np.mean(accs) >= 0.78, accs
