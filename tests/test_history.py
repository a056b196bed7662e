"""The SMC-ABC run store (History): data only, readable without the objects that wrote it, a
planted pickle never runs (SMC resume, infer --resume, Sweep.load, explore), fingerprints
refuse other objects on resume, counts that mean what they say, epsilon schedules, kernels
cloned."""
import json
import pickle
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from _toy_models import GaussianSimulator, MeanStdSummary, MeanSummary  # noqa: E402

from sciope_abs.distances import Adaptive, Euclidean, Manhattan  # noqa: E402
from sciope_abs.inference import (SMCABC, ABCWarning, AcceptanceRateEpsilon, History, ListEpsilon,  # noqa: E402
                                  MultivariateNormalKernel, Posterior, get_epsilon)
from sciope_abs.priors import JointPrior, Uniform  # noqa: E402


class _Planted:
    """Unpickling this object writes a marker file (what a hostile run folder would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pickle ran')",))


def _plant(folder: Path, marker: Path, names) -> None:
    blob = pickle.dumps(_Planted(marker))
    for name in names:
        (folder / name).write_bytes(blob)


def test_the_planted_pickle_would_run(tmp_path):
    """The probe works: loading it with pickle does write the marker (so the tests below can fail)."""
    _plant(tmp_path, tmp_path / "marker", ["probe.pkl"])
    pickle.loads((tmp_path / "probe.pkl").read_bytes())
    assert (tmp_path / "marker").read_text() == "pickle ran"


@pytest.fixture(scope="module")
def toy():
    sim = GaussianSimulator(sigma=1.0, T=16)
    obs = sim.simulate([[1.3]], n_traj=1, seed=5)[0]
    prior = JointPrior({"mu": Uniform(-2.0, 4.0)})
    return sim, obs, prior


def _smc(toy, distance=None, summary=None, **kw):
    sim, obs, prior = toy
    return SMCABC(sim, prior, summary or MeanSummary(), distance or Adaptive(), observed=obs, client="sync", **kw)


def _interrupted(toy, run_dir: Path, rounds_kept: int, **kw) -> Posterior:
    """A finished run, then its store cut back to ``rounds_kept`` complete rounds (what a crash
    in the next round leaves on disk)."""
    post = _smc(toy).infer(run_dir=run_dir, **kw)
    st = json.loads((run_dir / "state.json").read_text())
    hist = st["history"][:rounds_kept]
    st.update(round=rounds_kept - 1, history=hist, status="running", tolerance=hist[-1]["tolerance"],
              n_simulations=sum(h["n_simulations"] for h in hist))
    (run_dir / "state.json").write_text(json.dumps(st))
    for f in list(run_dir.glob("round_*.npz")):
        if int(f.stem.split("_")[1]) >= rounds_kept:
            f.unlink()
    (run_dir / "posterior.npz").unlink()
    return post


def test_resume_never_unpickles_and_gives_the_same_answer(toy, tmp_path):
    kw = dict(n_particles=80, max_rounds=4, seed=3, batch_size=40)
    run = tmp_path / "run"
    full = _interrupted(toy, run, 2, **kw)
    marker = tmp_path / "marker"
    _plant(run, marker, ["config.pkl", "distance_000.pkl", "distance_001.pkl", "state.pkl", "objects.pkl"])
    h = History.load(run)
    assert h.last_round == 1 and not h.done
    resumed = _smc(toy).resume(run)
    np.testing.assert_array_equal(resumed.samples, full.samples)
    np.testing.assert_array_equal(resumed.weights, full.weights)
    assert not marker.exists()
    # a folder of the old pickled format is refused, not loaded
    old = tmp_path / "old"
    old.mkdir()
    _plant(old, marker, ["config.pkl", "distance_000.pkl"])
    (old / "state.json").write_text(json.dumps({"round": 0, "status": "running"}))
    with pytest.raises(ValueError, match="old pickled format"):
        _smc(toy).resume(old)
    with pytest.raises(ValueError, match="old pickled format"):
        History.load(old)
    assert not marker.exists()


def test_infer_cli_resume_never_unpickles(tmp_path, capsys):
    from sciope_abs.cli import main

    cfg = {"model": "toggle_switch", "species": ["U", "V"], "n_traj": 3,
           "observed": {"synthetic": {"truth": {"alpha1": 1.5}, "n_traj": 3, "seed": 1}},
           "prior": {"alpha1": {"uniform": [0.1, 2.0]}}, "summaries": ["mean"], "distance": "adaptive",
           "method": "smc", "settings": {"n_particles": 30, "max_rounds": 3, "batch_size": 30}, "seed": 1,
           "scheduler": "sync"}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    assert main(["infer", str(tmp_path / "cfg.yaml"), "--out", str(out)]) == 0
    first = Posterior.load(out / "posterior.npz")
    smc = out / "smc"
    st = json.loads((smc / "state.json").read_text())
    st.update(round=0, history=st["history"][:1], status="running", tolerance=st["history"][0]["tolerance"],
              n_simulations=st["history"][0]["n_simulations"])
    (smc / "state.json").write_text(json.dumps(st))
    for f in ("round_001.npz", "round_002.npz", "posterior.npz"):
        (smc / f).unlink()
    (out / "posterior.npz").unlink()
    marker = tmp_path / "marker"
    _plant(smc, marker, ["config.pkl", "distance_000.pkl"])
    assert main(["infer", "--resume", str(out)]) == 0
    again = Posterior.load(out / "posterior.npz")
    np.testing.assert_array_equal(again.samples, first.samples)
    assert not marker.exists()


def test_history_reads_without_the_objects(toy, tmp_path):
    """A fresh interpreter that imports no simulator, summary or prior reads the whole store."""
    post = _smc(toy).infer(60, max_rounds=3, seed=1, batch_size=30, run_dir=tmp_path)
    code = ("import sys, json; from sciope_abs.inference import History; h = History.load(sys.argv[1]); "
            "df = h.to_pandas(); p = h.population(); print(json.dumps({'rows': len(df), 'cols': list(df.columns), "
            "'n': int(p.particles.shape[0]), 'mean': float(p.weights @ p.particles[:, 0]), "
            "'modules': sorted(m for m in sys.modules if m.startswith('_toy'))}))")
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert got["rows"] == len(post.history) == 3 and got["n"] == 60 and got["modules"] == []
    for col in ("tolerance", "acceptance_rate", "ess", "n_simulations", "n_evaluated", "n_accepted", "complete"):
        assert col in got["cols"]
    assert got["mean"] == pytest.approx(float(post.mean()[0]), rel=1e-12)
    h = History.load(tmp_path)
    pop1 = h.population(1)
    assert pop1.particles.shape == (60, 1) and pop1.weights.sum() == pytest.approx(1.0)
    assert h.distance_state(1)["scale_"].shape == (1,)
    np.testing.assert_array_equal(h.population(2).particles, post.samples)
    with pytest.raises(ValueError, match="round 7 is not stored"):
        h.population(7)
    # every file of the store is JSON or an npz of plain arrays
    for f in tmp_path.iterdir():
        assert f.suffix in (".json", ".npz"), f
        if f.suffix == ".npz":
            with np.load(f, allow_pickle=False) as z:
                assert all(z[k].dtype != object for k in z.files)


def test_resume_refuses_other_objects_with_one_line(toy, tmp_path):
    run = tmp_path / "run"
    _interrupted(toy, run, 2, n_particles=40, max_rounds=3, seed=2, batch_size=40)
    sim, obs, prior = toy
    with pytest.raises(ValueError, match=r"^cannot resume .*summary differ") as e:
        _smc(toy, summary=MeanStdSummary()).resume(run)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="distance differ"):
        _smc(toy, distance=Manhattan()).resume(run)
    with pytest.raises(ValueError, match="observed differ"):
        SMCABC(sim, prior, MeanSummary(), Adaptive(), observed=obs + 0.5, client="sync").resume(run)
    with pytest.raises(ValueError, match="kernel differ"):
        _smc(toy, kernel=MultivariateNormalKernel(scale=3.0)).resume(run)
    assert _smc(toy).resume(run).info["n_rounds"] == 3


def test_counts_mean_what_they_say(toy):
    """n_accepted never exceeds the population; the rate is n_accepted / n_evaluated; a cut-off
    round's simulations are reported as discarded, apart from the used ones."""
    with pytest.warns(ABCWarning, match="min_acceptance_rate"):
        post = _smc(toy, distance=Euclidean()).infer(100, seed=5, batch_size=70, max_rounds=30,
                                                    min_acceptance_rate=0.25)
    hist = post.history_frame()
    assert (hist["n_accepted"] <= 100).all()
    complete = hist[hist["complete"]]
    assert (complete["n_accepted"] == 100).all()
    # whole batches of 70 are simulated, so most rounds overshoot: n_evaluated < n_simulations
    assert (complete["n_evaluated"] <= complete["n_simulations"]).all()
    assert (complete["n_evaluated"] < complete["n_simulations"]).any()
    np.testing.assert_allclose(hist["acceptance_rate"], hist["n_accepted"] / hist["n_evaluated"])
    cut = hist.iloc[-1]
    assert not cut["complete"] and cut["discarded"] and cut["n_accepted"] < 100
    assert post.n_simulations_discarded == cut["n_simulations"] > 0
    assert post.n_simulations_used == complete["n_simulations"].sum()
    assert post.n_simulations == post.n_simulations_used + post.n_simulations_discarded == hist["n_simulations"].sum()
    assert "discarded" in repr(post) and "discarded" in post.message
    # saved and loaded: the same counts
    back = Posterior(post.samples, post.names, weights=post.weights, history=post.history, info=post.info)
    assert back.n_simulations_discarded == post.n_simulations_discarded


def test_epsilon_schedules(toy, tmp_path):
    # a fixed list: exactly these tolerances, and the run ends with the list
    post = _smc(toy, distance=Euclidean()).infer(50, seed=1, batch_size=25, max_rounds=10,
                                                epsilon={"name": "list", "values": [1.0, 0.5, 0.3]})
    assert [h["tolerance"] for h in post.history] == [np.inf, 1.0, 0.5, 0.3]
    assert "epsilon schedule" in post.message and (post.distances <= 0.3).all()
    # the default is the quantile schedule: the same posterior as quantile= for a seed
    a = _smc(toy).infer(50, seed=2, batch_size=25, max_rounds=4, quantile=0.3)
    b = _smc(toy).infer(50, seed=2, batch_size=25, max_rounds=4, epsilon={"name": "quantile", "quantile": 0.3})
    np.testing.assert_array_equal(a.samples, b.samples)
    # acceptance-rate targeted: the realised rates sit at the target, within the binomial spread
    # of the realised rate (n_evaluated proposals) plus that of the prediction (made from the
    # previous round's simulations); the unweighted prediction missed by up to 0.29 here
    target = 0.3
    post = _smc(toy, distance=Euclidean()).infer(200, seed=3, batch_size=50, max_rounds=6,
                                                epsilon=AcceptanceRateEpsilon(target), run_dir=tmp_path)
    rates = np.array([e["acceptance_rate"] for e in post.history[1:]])
    n_eval = np.array([e["n_evaluated"] for e in post.history[1:]])
    m_prev = np.array([e["n_simulations"] for e in post.history[:-1]])
    sd = np.sqrt(target * (1 - target) * (1 / n_eval + 1 / m_prev))
    assert (np.abs(rates - target) < 4 * sd).all(), (rates, sd)
    assert abs(rates.mean() - target) < 4 * sd.mean() / np.sqrt(len(rates)), rates
    tols = [e["tolerance"] for e in post.history[1:]]
    assert all(x >= y for x, y in zip(tols, tols[1:]))
    # the store keeps what the prediction needs, for resume
    theta, logq = History.load(tmp_path).simulated_proposals(2)
    assert theta.shape == (post.history[2]["n_simulations"], 1) and np.isfinite(logq).all()
    for bad, msg in [({"name": "nope"}, "unknown epsilon"), ({"name": "list", "values": [1, 2]}, "not increase"),
                     ({"name": "quantile", "quantile": "abc"}, "could not convert 'abc'"),
                     ({"name": "acceptance_rate", "target_rate": 1.5}, r"\(0, 1\)")]:
        with pytest.raises(ValueError, match=msg):
            get_epsilon(bad)


@pytest.mark.parametrize("epsilon, spec", [
    (ListEpsilon([1.0, 0.6, 0.4]), {"name": "list", "values": [1.0, 0.6, 0.4]}),
    (AcceptanceRateEpsilon(0.3), {"name": "acceptance_rate", "target_rate": 0.3}),
])
def test_epsilon_schedules_resume_from_the_store(toy, tmp_path, epsilon, spec):
    kw = dict(n_particles=40, seed=4, batch_size=40, max_rounds=4, epsilon=epsilon)
    run = tmp_path / "run"
    post = _smc(toy).infer(run_dir=run, **kw)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["settings"]["epsilon"] == spec
    st = json.loads((run / "state.json").read_text())
    hist = st["history"][:2]
    st.update(round=1, history=hist, status="running", tolerance=hist[-1]["tolerance"],
              n_simulations=sum(h["n_simulations"] for h in hist))
    (run / "state.json").write_text(json.dumps(st))
    for f in ("round_002.npz", "round_003.npz", "posterior.npz"):
        (run / f).unlink()
    again = _smc(toy).resume(run)
    np.testing.assert_array_equal(again.samples, post.samples)
    np.testing.assert_array_equal(again.weights, post.weights)


def test_the_kernel_is_cloned_not_fitted_in_place(toy):
    k = MultivariateNormalKernel(scale=2.0)
    _smc(toy, kernel=k).infer(40, max_rounds=3, seed=1, batch_size=40)
    assert not hasattr(k, "cov_") and k.scale == 2.0


def test_a_distance_without_state_methods_is_refused_for_run_dir(toy, tmp_path):
    class Refitted:
        def fit(self, s):
            self.s_ = np.std(s, axis=0)

        def __call__(self, s_obs, s_sim):
            return np.abs(np.asarray(s_sim) - s_obs).sum(axis=1)

    with pytest.raises(ValueError, match="no get_state"):
        _smc(toy, distance=Refitted()).infer(40, max_rounds=2, seed=1, run_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()
    # without run_dir it runs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ABCWarning)
        assert len(_smc(toy, distance=Refitted()).infer(40, max_rounds=2, seed=1)) == 40


# --------------------------------------------------------------------------- sweeps
def _sweep(tmp_path: Path, keep_traces: bool = True):
    from sciope_abs.exploration import Sweep
    from sciope_abs.simulators import FastSSASimulator
    from sciope_abs.summaries import AutoCorrelation, Mean

    prior = JointPrior({"alpha1": Uniform(1, 30), "beta": Uniform(0.5, 3)})
    sim = FastSSASimulator("toggle_switch", param_names=prior.names, species=("U", "V"))
    sp = ("U", "V")
    pts = prior.sample(12, seed=1)
    summary = Mean(species=sp) + AutoCorrelation(lags=(1, 3), species=sp)
    sw = Sweep(sim, pts, summary, n_traj=2, seed=4, client="sync", keep_traces=keep_traces).run(8)
    sw.save(tmp_path / "sweep")
    return sw


def test_sweep_load_never_unpickles_and_grows_from_specs(tmp_path):
    from sciope_abs.exploration import Sweep

    sw = _sweep(tmp_path, keep_traces=False)
    marker = tmp_path / "marker"
    _plant(tmp_path / "sweep", marker, ["objects.pkl"])
    back = Sweep.load(tmp_path / "sweep", client="sync")
    assert not marker.exists()
    # rebuilt from the stored specs: recomputed traces and new batches equal the original's
    np.testing.assert_array_equal(back.trajectories([1, 5]), sw.trajectories([1, 5]))
    back.extend(4)
    sw.extend(4)
    np.testing.assert_array_equal(back.theta, sw.theta)
    np.testing.assert_array_equal(back.features, sw.features)
    back.save(tmp_path / "sweep")
    assert not (tmp_path / "sweep" / "objects.pkl").exists()
    # objects without a spec: loads for viewing, growing asks for them in one line
    attrs_file = tmp_path / "sweep" / "data.zarr" / "zarr.json"
    if attrs_file.exists():
        meta = json.loads(attrs_file.read_text())
        meta["attributes"]["simulator_spec"] = None
        attrs_file.write_text(json.dumps(meta))
        plain = Sweep.load(tmp_path / "sweep")
        assert plain.simulator is None and len(plain) == 12
        with pytest.raises(ValueError, match="pass simulator= and summary="):
            plain.extend(theta=sw.theta[:1])
    with pytest.raises(ValueError, match="differ from the sweep"):
        from sciope_abs.simulators import FastSSASimulator

        Sweep.load(tmp_path / "sweep", simulator=FastSSASimulator("toggle_switch", param_names=["alpha1"]))


def test_explore_cli_never_unpickles(tmp_path):
    _sweep(tmp_path)
    marker = tmp_path / "marker"
    _plant(tmp_path / "sweep", marker, ["objects.pkl"])
    cmd = [sys.executable, "-c", "import sys; from sciope_abs.cli import main; sys.exit(main())",
           "explore", str(tmp_path / "sweep"), "--port", "0", "--host", "127.0.0.1", "--no-show"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, served = [], False
    deadline = time.time() + 90
    try:
        while time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                if proc.poll() is not None:
                    break
                continue
            lines.append(line)
            if re.search(r"serving sweep at http://127\.0\.0\.1", line):
                served = True
                break
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert served, "".join(lines)
    assert not marker.exists()
