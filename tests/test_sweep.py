"""Sweep: batches, determinism, keep_traces=False re-simulation, save/load, labels, suggestions."""
from __future__ import annotations

import numpy as np
import pytest

from sciope_abs.designs import LatinHypercube
from sciope_abs.exploration import Sweep, reduce, suggest_points
from sciope_abs.priors import JointPrior, Uniform
from sciope_abs.summaries import Mean, Std

SP = ("U", "V")


@pytest.fixture(scope="module")
def setup():
    from sciope_abs.simulators import FastSSASimulator

    prior = JointPrior({"alpha1": Uniform(1, 30), "alpha2": Uniform(1, 30), "beta": Uniform(0.5, 3),
                        "gamma": Uniform(0.5, 3)})
    sim = FastSSASimulator("toggle_switch", param_names=prior.names, species=SP)
    return prior, sim


def _summary():
    return Mean(species=SP) + Std(species=SP)


def test_batches_are_deterministic_and_shapes(setup):
    prior, sim = setup
    a = Sweep(sim, LatinHypercube(prior), _summary(), n_traj=2, seed=7, client="sync").run(12)
    a.extend(8)
    b = Sweep(sim, LatinHypercube(prior), _summary(), n_traj=2, seed=7, client="sync").run(12)
    b.extend(8)
    assert a.theta.shape == (20, 4) and a.traces.shape == (20, 2, 2, len(sim.timespan))
    assert a.features.shape == (20, 4) and a.feature_names == _summary().names
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_array_equal(a.traces, b.traces)
    np.testing.assert_array_equal(a.batch, [0] * 12 + [1] * 8)
    assert np.all(a.labels == -1) and np.all(a.predictions == -1)
    # the second batch is a fresh design, not a repeat of the first
    assert not np.allclose(a.theta[:8], a.theta[12:])
    lo, hi = prior.bounds[:, 0], prior.bounds[:, 1]
    assert np.all((a.theta >= lo) & (a.theta <= hi))
    c = Sweep(sim, LatinHypercube(prior), _summary(), n_traj=2, seed=8, client="sync").run(12)
    assert not np.allclose(c.theta, a.theta[:12])


def test_keep_traces_false_recomputes_exact_traces(setup):
    prior, sim = setup
    a = Sweep(sim, LatinHypercube(prior), _summary(), n_traj=2, seed=3, client="sync").run(10)
    a.extend(5)
    b = Sweep(sim, LatinHypercube(prior), _summary(), n_traj=2, seed=3, client="sync", keep_traces=False).run(10)
    b.extend(5)
    assert b.traces is None
    np.testing.assert_allclose(b.features, a.features)
    np.testing.assert_array_equal(b.trajectories([1, 12]), a.traces[[1, 12]])


def test_explicit_theta_label_save_load_and_pandas(setup, tmp_path):
    prior, sim = setup
    pts = prior.sample(9, seed=1)
    sw = Sweep(sim, pts, _summary(), n_traj=1, seed=2, client="sync").run(6)
    sw.extend(3)
    np.testing.assert_array_equal(sw.theta, pts)
    with pytest.raises(ValueError, match="already simulated"):
        sw.extend(1)
    sw.label([0, 1], 1).label([4], 0)
    with pytest.raises(ValueError, match="indices"):
        sw.label([99], 1)
    with pytest.raises(ValueError, match="label value"):
        sw.label([0], -5)
    sw.save(tmp_path / "sw")
    back = Sweep.load(tmp_path / "sw", client="sync")
    np.testing.assert_array_equal(back.labels, sw.labels)
    np.testing.assert_array_equal(back.traces, sw.traces)
    np.testing.assert_array_equal(back.features, sw.features)
    assert back.feature_names == sw.feature_names and back.param_names == sw.param_names
    df = back.to_pandas()
    assert list(df.columns[:4]) == prior.names and df["label"].tolist()[:5] == [1, 1, -1, -1, 0]
    # no pickle: the simulator and the summary are rebuilt from the stored specs
    assert not list((tmp_path / "sw").glob("*.pkl"))
    assert type(back.simulator) is type(sim) and back.simulator.model.content_hash() == sim.model.content_hash()
    assert back.summary.names == sw.summary.names and repr(back.summary) == repr(sw.summary)
    np.testing.assert_array_equal(back.trajectories([2]), sw.traces[[2]])
    with pytest.raises(FileNotFoundError):
        Sweep.load(tmp_path / "missing")


def test_suggest_points_within_bounds_near_the_boundary():
    rng = np.random.default_rng(0)
    theta = rng.random((300, 2))
    y = (theta[:, 0] > 0.5).astype(int)  # class boundary at x0 = 0.5
    bounds = np.array([[0.0, 1.0], [0.0, 1.0]])
    s = suggest_points(theta, y, bounds, 12, strategy="entropy", seed=1)
    assert s.shape == (12, 2)
    assert np.all((s >= 0) & (s <= 1))
    # suggestions sit near the boundary far more than uniform points would (mean |x0-0.5| = 0.25)
    assert np.mean(np.abs(s[:, 0] - 0.5)) < 0.1
    # new points, not existing ones, and spread out along the boundary
    assert np.min(np.linalg.norm(theta[None] - s[:, None], axis=2)) > 0
    assert np.ptp(s[:, 1]) > 0.3
    np.testing.assert_array_equal(s, suggest_points(theta, y, bounds, 12, strategy="entropy", seed=1))
    m = suggest_points(theta, y, bounds, 12, strategy="margin", seed=1)
    assert np.mean(np.abs(m[:, 0] - 0.5)) < 0.1
    with pytest.raises(ValueError, match="strategy"):
        suggest_points(theta, y, bounds, 3, strategy="nope")
    with pytest.raises(ValueError, match="bounds"):
        suggest_points(theta, y, np.array([[0, 1]]), 3)


def test_reduce_methods():
    rng = np.random.default_rng(0)
    f = np.r_[rng.normal(0, 1, (30, 5)), rng.normal(6, 1, (30, 5))]
    f[3] = np.nan
    embeddings = {m: reduce(f, m, seed=4) for m in ("pca", "tsne")}
    for method, z in embeddings.items():
        assert z.shape == (60, 2) and np.isnan(z[3]).all()
        ok = np.isfinite(z).all(axis=1)
        # the two clusters stay apart in the embedding
        c0, c1 = z[:30][ok[:30]].mean(0), z[30:].mean(0)
        spread = max(z[:30][ok[:30]].std(0).max(), z[30:].std(0).max())
        assert np.linalg.norm(c0 - c1) > 2 * spread
    np.testing.assert_array_equal(embeddings["tsne"], reduce(f, "tsne", seed=4))
    with pytest.raises(ValueError, match="method"):
        reduce(f, "mds")


def test_plot_layout_renders_standalone_html(setup):
    from bokeh.embed import file_html
    from bokeh.resources import CDN

    prior, sim = setup
    sw = Sweep(sim, LatinHypercube(prior), _summary(), n_traj=2, seed=1, client="sync").run(10)
    sw.label([0, 1], 1).label([2], 0)
    layout = sw.plot("pca")
    html = file_html(layout, CDN, "sweep")
    # the scatter, one trajectory panel per species, and the JS link from selection to trajectories
    assert "U: selected trajectories" in html and "V: selected trajectories" in html
    assert "src.selected.indices" in html
