"""FastSSASimulator: the compiled in-process direct-method SSA.

Statistical equivalence with GillesPy2's C++ SSA (X16, toggle switch, Gene, SIR, bees), a wrong
rate that the same tests reject, exact propensities, reproducibility and batching, the
on-disk kernel cache, and clear errors.
"""
import json
import os
import pickle
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from sciope_abs.crn import CRN, Reaction, load_model
from sciope_abs.seeding import point_seeds
from sciope_abs.simulators import SimulationWarning
from sciope_abs.simulators.fast_ssa import FastSSASimulator, check_supported, generate_kernel_source, resolve_method
from sciope_abs.simulators.factory import make_simulator

# ----------------------------------------------------------------------------- a toy network
# One structure (one compilation) serves the exact tests: every rate is a parameter that a test
# sets (others at zero switch their reactions off).
TOY = CRN(
    name="toy",
    species=["A", "B", "C", "D"],
    parameters={"k0": 1.0, "k1": 1.0, "k2": 1.0, "k3": 1.0, "k4": 1.0, "Vm": 1.0, "Km": 10.0, "h1": 1.0,
                "h2": 0.0},
    reactions=[
        Reaction("birth", {}, {"A": 1}, rate="k0"),
        Reaction("death", {"A": 1}, {}, rate="k1"),
        Reaction("bind", {"A": 1, "B": 1}, {"C": 1}, rate="k2"),
        Reaction("dimer", {"A": 2}, {"D": 1}, rate="k3"),
        Reaction("trimer", {"A": 3}, {"D": 1, "B": 1}, rate="k4"),
        Reaction("mm", {"C": 1}, {"B": 1}, propensity="Vm * C / (Km + C)"),
        Reaction("diff", {}, {"B": 1}, propensity="h1 - h2"),
    ],
    initial_state={"A": 10, "B": 5, "C": 0, "D": 0},
    dt=0.5, n_steps=10,
)
TOY_PARAMS = list(TOY.parameters)


def toy_theta(**values):
    base = dict.fromkeys(TOY_PARAMS, 0.0)
    base.update(Km=10.0)
    base.update(values)
    return np.array([[base[p] for p in TOY_PARAMS]])


@pytest.fixture(scope="module")
def toy():
    return FastSSASimulator(TOY, param_names=TOY_PARAMS).compile()


# ----------------------------------------------------------------------------- exact propensities
def test_mass_action_combinatorics_and_custom_laws(toy):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 8, size=(200, 4)).astype(float)
    x[:4, 0] = [0, 1, 2, 3]  # the edges of the binomials
    th = rng.uniform(0.1, 3.0, size=(200, len(TOY_PARAMS)))
    th[:, TOY_PARAMS.index("h2")] = 0.5 * th[:, TOY_PARAMS.index("h1")]
    a = toy.propensities(x, th)
    v = dict(zip(TOY_PARAMS, th.T))
    A, B, C = x[:, 0], x[:, 1], x[:, 2]
    ref = np.column_stack([
        v["k0"] * np.ones_like(A), v["k1"] * A, v["k2"] * A * B,
        v["k3"] * A * (A - 1) / 2, v["k4"] * A * (A - 1) * (A - 2) / 6,
        v["Vm"] * C / (v["Km"] + C), v["h1"] - v["h2"],
    ])
    np.testing.assert_allclose(a, ref, rtol=1e-13, atol=0)
    assert (a[:4, 3] == [0, 0, 1 * th[2, 3], 3 * th[3, 3]]).all()


def test_hill_and_sigmoid_laws_of_the_library_models():
    tog = FastSSASimulator("toggle_switch")
    rng = np.random.default_rng(4)
    x = rng.integers(0, 40, size=(100, 2)).astype(float)
    th = rng.uniform(0.2, 3.0, size=(100, len(tog.param_names)))
    a = tog.propensities(x, th)
    v = {**load_model("toggle_switch").parameters}
    v.update(dict(zip(tog.param_names, th.T)))
    U, V = x[:, 0], x[:, 1]
    np.testing.assert_allclose(a[:, 0], v["alpha1"] / (1 + V ** v["beta"]), rtol=1e-13)
    np.testing.assert_allclose(a[:, 1], v["alpha2"] / (1 + U ** v["gamma"]), rtol=1e-13)
    np.testing.assert_allclose(a[:, 2:], np.column_stack([v["mu"] * U, v["mu"] * V]), rtol=1e-13)

    bees = FastSSASimulator("bees")
    m = load_model("bees")
    xb = rng.integers(0, 30, size=(100, 4)).astype(float)
    ab = bees.propensities(xb)
    p = m.parameters
    Bee, BeeA, P = (xb[:, m.species.index(s)] for s in ("Bee", "BeeA", "P"))
    sig = p["become_aggressive_rate"] * Bee * (p["L"] / (1 + np.exp(-p["s"] * P)) - p["L"] / 2)
    names = [r.name for r in m.reactions]
    np.testing.assert_allclose(ab[:, names.index("become_aggressive")], sig, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ab[:, names.index("p_stinging")], p["p_stinging_rate"] * BeeA * P, rtol=1e-13)


# ----------------------------------------------------------------------------- semantics
def test_recorded_value_is_state_after_last_event_before_the_grid_time(toy):
    # pure death from A = 1: P(A(t) = 1) = exp(-k t); a state recorded one event late or early
    # would shift these probabilities
    sim = FastSSASimulator(TOY, param_names=TOY_PARAMS, species=["A"], timespan=[0.0, 0.5, 1.0, 2.0])
    n = 4000
    x = sim.simulate(toy_theta(k1=1.0), n_traj=n, seed=11, initial_state=[1, 0, 0, 0])[0, :, 0, :]
    assert (x[:, 0] == 1).all()
    p_hat = x.mean(axis=0)[1:]
    p = np.exp(-np.array([0.5, 1.0, 2.0]))
    assert np.all(np.abs(p_hat - p) < 4.5 * np.sqrt(p * (1 - p) / n))
    assert ((np.diff(x, axis=1) <= 0)).all()  # never comes back


def test_absorbing_state_holds_to_the_end(toy):
    x = toy.simulate(toy_theta(k1=50.0), n_traj=5, seed=1)
    assert (x[0, :, 0, -1] == 0).all()
    assert (x[0, :, 1, :] == 5).all()  # B is untouched


def test_full_and_dependency_updates_give_identical_numbers():
    th = np.array([[0.5, 0.3, 0.02, 0.01, 0.001, 2.0, 10.0, 0.4, 0.1]])
    full = FastSSASimulator(TOY, param_names=TOY_PARAMS, method="direct", update="full", timespan=np.linspace(0, 20, 21))
    dep = FastSSASimulator(TOY, param_names=TOY_PARAMS, method="direct", update="dependency",
                           timespan=np.linspace(0, 20, 21))
    assert full.simulate(th, n_traj=20, seed=5).tolist() == dep.simulate(th, n_traj=20, seed=5).tolist()
    assert full.last_events_.sum() > 200


def test_conserved_total_of_x16_stays_constant():
    m = load_model("x16")
    sim = FastSSASimulator(m, timespan=np.linspace(0, 40, 21))
    x0 = m.sample_initial_states(8, seed=2)
    th = m.sample_rates(8, seed=3)
    x = sim.simulate(th, n_traj=3, seed=4, initial_state=x0)
    g = x[:, :, sim.species.index("G1")] + x[:, :, sim.species.index("G2")]
    assert (g == 4).all()
    assert (x[:, :, :, 0] == x0[:, None, :]).all()
    switched = (x[:, :, sim.species.index("G1")] != x0[:, None, [0]]).any()
    assert switched  # the gene states do move


def test_species_subset_order_and_initial_state_in_that_order():
    m = load_model("gene")
    sim = FastSSASimulator(m, species=["P", "G0"], timespan=[0.0, 0.1])
    x = sim.simulate([[300.0, 0.001, 1.0]], n_traj=2, seed=1, initial_state=[650, 1])
    assert x.shape == (1, 2, 2, 2)
    assert (x[0, :, :, 0] == [650, 1]).all()
    full = sim.simulate([[300.0, 0.001, 1.0]], n_traj=2, seed=1, initial_state=[1, 0, 3, 650])
    assert (full[0, :, :, 0] == [650, 1]).all()


# ----------------------------------------------------------------------------- seeds and batching
def test_same_seed_same_numbers_and_different_seed_different():
    sim = FastSSASimulator("toggle_switch")
    th = np.array([[1.0, 1.0, 2.0, 2.0, 1.0], [1.5, 0.5, 2.5, 1.5, 0.8]])
    a = sim.simulate(th, n_traj=4, seed=7)
    assert np.array_equal(a, sim.simulate(th, n_traj=4, seed=7))
    assert not np.array_equal(a, sim.simulate(th, n_traj=4, seed=8))
    assert not np.array_equal(a[:, 0], a[:, 1])  # trajectories differ


@pytest.mark.parametrize("method", ["direct", "unrolled", "dependency", "tree"])
def test_batch_one_by_one_and_chunks_agree(method):
    m = load_model("gene")
    sim = FastSSASimulator(m, timespan=np.linspace(0, 2, 5), method=method)
    th = m.sample_rates(7, seed=1)
    x0 = m.sample_initial_states(7, seed=2)
    together = sim.simulate(th, n_traj=3, seed=42, initial_state=x0)
    seeds = point_seeds(42, 7)
    one_by_one = np.concatenate([sim.simulate(th[i:i + 1], n_traj=3, seed=[seeds[i]], initial_state=x0[i:i + 1])
                                 for i in range(7)])
    chunks = np.concatenate([sim.simulate(th[a:b], n_traj=3, seed=seeds[a:b], initial_state=x0[a:b])
                             for a, b in [(0, 3), (3, 4), (4, 7)]])
    assert np.array_equal(together, one_by_one)
    assert np.array_equal(together, chunks)
    # the first trajectories of a point do not depend on how many are asked for
    more = sim.simulate(th, n_traj=5, seed=42, initial_state=x0)
    assert np.array_equal(more[:, :3], together)


def test_two_lanes_give_the_numbers_of_one_lane_and_fail_only_their_point():
    # "unrolled" runs trajectories r and r + 1 of a point side by side; each keeps its own
    # generator, so every trajectory equals the one-at-a-time kernel's (odd n_traj: the last
    # trajectory runs alone); custom laws (mm, diff) and a point whose "diff" propensity turns
    # negative (h2 > h1) included: that point fails, the others keep their numbers
    ts = np.linspace(0.0, 3.0, 7)
    one = FastSSASimulator(TOY, param_names=TOY_PARAMS, timespan=ts, method="unrolled", lanes=1)
    two = FastSSASimulator(TOY, param_names=TOY_PARAMS, timespan=ts, method="unrolled", lanes=2)
    assert (one.lanes, two.lanes) == (1, 2) and FastSSASimulator(TOY, param_names=TOY_PARAMS).lanes == 2
    th = np.concatenate([toy_theta(k0=5.0, k1=0.5, k2=0.2, k3=0.05, k4=0.01, Vm=2.0, h1=1.0),
                         toy_theta(k0=2.0, k1=1.0, k2=0.1, Vm=1.0, h1=0.5, h2=1.0),  # diff < 0: fails
                         toy_theta(k0=9.0, k1=0.3, k3=0.2, Vm=3.0, h1=2.0)])
    with pytest.warns(SimulationWarning):
        a = one.simulate(th, n_traj=5, seed=3)
    with pytest.warns(SimulationWarning):
        b = two.simulate(th, n_traj=5, seed=3)
    assert np.isnan(a[1]).all() and np.isnan(b[1]).all()
    assert np.isfinite(a[[0, 2]]).all() and np.array_equal(a, b, equal_nan=True)
    assert (one.last_events_[[0, 2]] == two.last_events_[[0, 2]]).all() and one.last_events_[0] > 0
    gene = {n: FastSSASimulator("gene", timespan=np.linspace(0.0, 2.0, 5), method="unrolled", lanes=n)
            for n in (1, 2)}
    th_g = load_model("gene").sample_rates(4, seed=1)
    assert np.array_equal(gene[1].simulate(th_g, n_traj=3, seed=8), gene[2].simulate(th_g, n_traj=3, seed=8))


def test_trajectory_streams_start_from_numpys_generate_state_words():
    # trajectory j of point i: words 4j..4j+3 of point_seeds(seed, n)[i].generate_state(., uint64)
    sim = FastSSASimulator("sir")
    got = sim.trajectory_states(3, 5, 42)
    ref = np.stack([ss.generate_state(20, np.uint64).reshape(5, 4) for ss in point_seeds(42, 3)])
    assert np.array_equal(got, ref)
    assert np.array_equal(sim.trajectory_states(2, 5, point_seeds(42, 3)[1:]), ref[1:])


def test_pickled_simulator_gives_the_same_numbers():
    sim = FastSSASimulator("sir", timespan=np.linspace(0, 5, 11))
    a = sim.simulate([[3.0, 1.0]], n_traj=3, seed=9)
    blob = pickle.dumps(sim)
    assert len(blob) < 20_000  # no compiled code travels
    clone = pickle.loads(blob)
    assert np.array_equal(clone.simulate([[3.0, 1.0]], n_traj=3, seed=9), a)


def test_new_theta_never_recompiles():
    sim = FastSSASimulator("sir", timespan=np.linspace(0, 5, 11))
    sim.simulate([[3.0, 1.0]], seed=1)
    for n, r in [(1, 1), (5, 2), (3, 7)]:
        sim.simulate(np.full((n, 2), 2.0) + np.arange(n)[:, None], n_traj=r, seed=n)
    assert len(sim.kernel.signatures) == 1


def test_kernel_source_has_no_parameter_values():
    m = load_model("x16")
    src = generate_kernel_source(m)
    assert generate_kernel_source(m.with_parameters(a11=123.456)) == src
    assert "123.456" not in src and "p[" in src


def test_second_process_loads_the_compiled_kernel_from_disk(tmp_path):
    script = textwrap.dedent("""
        import json, sys, numpy as np
        from sciope_abs.crn import CRN, Reaction
        from sciope_abs.simulators.fast_ssa import FastSSASimulator
        m = CRN(name="bd", species=["X"], parameters={"kb": 5.0, "kd": 0.5},
                reactions=[Reaction("b", {}, {"X": 1}, rate="kb"), Reaction("d", {"X": 1}, {}, rate="kd")],
                initial_state={"X": 0}, dt=1.0, n_steps=5)
        sim = FastSSASimulator(m, cache_dir=sys.argv[1])
        x = sim.simulate([[5.0, 0.5]], n_traj=2, seed=3)
        st = sim.kernel.stats
        print(json.dumps({"hits": sum(st.cache_hits.values()), "misses": sum(st.cache_misses.values()),
                          "x": x.tolist()}))
    """)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}  # numba caches next to the source
    runs = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                             env=env, timeout=300)
        assert out.returncode == 0, out.stderr
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert runs[0]["hits"] == 0 and runs[0]["misses"] >= 1
    assert runs[1]["hits"] >= 1 and runs[1]["misses"] == 0
    assert runs[0]["x"] == runs[1]["x"]
    assert len(list(tmp_path.glob("ssa_*.py"))) == 1


# ----------------------------------------------------------------------------- failures and errors
@pytest.mark.parametrize("method", ["direct", "unrolled", "dependency", "tree"])
def test_negative_propensity_fails_that_point_only(method):
    sim = FastSSASimulator(TOY, param_names=TOY_PARAMS, method=method)
    th = np.vstack([toy_theta(h1=1.0, h2=0.5), toy_theta(h1=0.5, h2=1.0), toy_theta(h1=2.0)])
    with pytest.warns(SimulationWarning, match="1 of 3.*'diff'"):
        x = sim.simulate(th, n_traj=2, seed=1)
    assert np.isnan(x[1]).all()
    assert np.isfinite(x[[0, 2]]).all()


@pytest.mark.parametrize("method", ["direct", "unrolled", "dependency", "tree"])
def test_runaway_trajectory_stops_at_max_events(method):
    sim = FastSSASimulator(TOY, param_names=TOY_PARAMS, max_events=1000, method=method)
    th = np.vstack([toy_theta(k0=1e6), toy_theta(k0=1.0)])
    with pytest.warns(SimulationWarning, match="max_events=1000"):
        x = sim.simulate(th, seed=1)
    assert np.isnan(x[0]).all() and np.isfinite(x[1]).all()
    assert sim.last_events_[0] == 1000


@pytest.mark.parametrize("method", ["direct", "unrolled", "dependency", "tree"])
def test_exploding_rates_fail_at_once_with_the_default_max_events(method):
    # rates ~1e300: every step is ~1e-300 time units, so the trajectory could never reach the
    # first grid time; under the old default (1e9 events) the point ran for minutes
    sim = FastSSASimulator("toggle_switch", method=method)
    th = np.array([[1e300, 1.0, 2.0, 2.0, 1.0], [1.0, 1.0, 2.0, 2.0, 1.0]])
    t0 = time.perf_counter()
    with pytest.warns(SimulationWarning, match="1 of 2.*exploding rates"):
        x = sim.simulate(th, n_traj=3, seed=1)
    assert time.perf_counter() - t0 < 60  # would be minutes without the check
    assert np.isnan(x[0]).all() and np.isfinite(x[1]).all()
    assert sim.last_events_[0] < 10 and sim.last_events_[1] > 100


@pytest.mark.parametrize("method", ["direct", "unrolled", "dependency"])
def test_timeout_fails_the_slow_point_and_the_batch_goes_on(method):
    # k0 = 1e7 births per time unit for 5 time units: 5e7 events (about a second or more), far
    # below the explosion threshold, stopped by the 0.2 s wall-clock limit; the cheap point runs
    sim = FastSSASimulator(TOY, param_names=TOY_PARAMS, max_events=10**12, timeout=0.2, method=method)
    th = np.vstack([toy_theta(k0=1.0), toy_theta(k0=1e7), toy_theta(k0=2.0)])
    t0 = time.perf_counter()
    with pytest.warns(SimulationWarning, match=r"1 of 3.*point 1: timed out after 0.2 s"):
        x = sim.simulate(th, n_traj=2, seed=1)
    assert time.perf_counter() - t0 < 60
    assert np.isnan(x[1]).all() and np.isfinite(x[[0, 2]]).all()
    assert 0 < sim.last_events_[1] < 5 * 10**7
    # without a timeout the same points all run (a smaller birth rate keeps it short)
    fine = FastSSASimulator(TOY, param_names=TOY_PARAMS, method=method).simulate(
        np.vstack([toy_theta(k0=1.0), toy_theta(k0=1e4)]), n_traj=2, seed=1)
    assert np.isfinite(fine).all()


@pytest.mark.parametrize("kwargs, match", [
    ({"param_names": ["nope"]}, "unknown parameter"),
    ({"species": ["Q"]}, "unknown species"),
    ({"timespan": [0.0, 2.0, 1.0]}, "strictly increasing"),
    ({"timespan": [[0.0, 1.0]]}, "1-D"),
    ({"timespan": [0.0, np.nan]}, "non-finite"),
    ({"max_events": 0}, "max_events"),
    ({"update": "sometimes"}, "update must be"),
    ({"method": "fastest"}, "method must be one of"),
    ({"lanes": 3}, "lanes must be 1, 2 or None"),
    ({"lanes": 2, "method": "direct"}, "lanes=2 needs method='unrolled'"),
    ({"timeout": 0}, "timeout must be a positive"),
    ({"timeout": float("nan")}, "timeout must be a positive"),
    ({"timeout": "5"}, "timeout must be a positive"),
])
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FastSSASimulator("sir", **kwargs)


@pytest.mark.parametrize("theta, kw, match", [
    ([[1.0, 2.0, 3.0]], {}, "shape"),
    ([[-1.0, 1.0]], {}, "negative"),
    ([[np.nan, 1.0]], {}, "non-finite"),
    ([[1.0, 1.0]], {"n_traj": 0}, "n_traj"),
    ([[1.0, 1.0]], {"initial_state": [1, 2]}, "initial_state"),
    ([[1.0, 1.0]], {"initial_state": [1.5, 2, 3]}, "integer"),
])
def test_bad_simulate_arguments(theta, kw, match):
    sim = FastSSASimulator("sir")
    with pytest.raises(ValueError, match=match):
        sim.simulate(theta, **kw)


@dataclass(frozen=True)
class _CRNWithEvents(CRN):
    events: tuple = ()


def test_unsupported_models_name_the_gillespy2_solver():
    bad_fn = CRN(name="badfn", species=["X"], parameters={"k": 1.0},
                 reactions=[Reaction("r", {}, {"X": 1}, propensity="k * sin(X)")], initial_state={})
    with pytest.raises(ValueError, match=r"unknown function 'sin'.*solver='ssa'"):
        FastSSASimulator(bad_fn)
    with pytest.raises(ValueError, match=r"Attribute.*solver='ssa'"):
        check_supported(CRN(name="attr", species=["X"], parameters={"k": 1.0},
                            reactions=[Reaction("r", {}, {"X": 1}, propensity="k.real")], initial_state={}))
    with_events = _CRNWithEvents(name="ev", species=["X"], parameters={"k": 1.0},
                                 reactions=[Reaction("r", {}, {"X": 1}, rate="k")], initial_state={},
                                 events=("X > 5",))
    with pytest.raises(ValueError, match=r"events.*solver='ssa' \(GillesPy2\)"):
        FastSSASimulator(with_events)
    with pytest.raises(ValueError, match="solver='ssa'"):
        FastSSASimulator(object())
    # "auto" falls back to GillesPy2 for what the fast kernel refuses
    from sciope_abs.simulators import GillespySimulator
    assert isinstance(make_simulator(with_events, solver="auto"), GillespySimulator)
    with pytest.raises(ValueError, match="events"):
        make_simulator(with_events, solver="fast_ssa")
    with pytest.raises(ValueError, match=r"\['max_events'\] do not apply to GillespySimulator \(the fast SSA cannot"):
        make_simulator(with_events, max_events=10)


def test_factory_picks_fast_ssa_by_default_and_passes_other_names_to_gillespy2():
    from sciope_abs.simulators import GillespySimulator
    sim = make_simulator("toggle_switch", species=["U"], timespan=np.linspace(0, 5, 6))
    assert isinstance(sim, FastSSASimulator) and sim.species == ("U",) and sim.timespan.size == 6
    assert sim.solver == "fast_ssa"
    assert isinstance(make_simulator("toggle_switch", solver="fast_ssa", max_events=10), FastSSASimulator)
    g = make_simulator("toggle_switch", solver="ode")
    assert isinstance(g, GillespySimulator) and g.solver == "ode"
    timed = make_simulator("toggle_switch", timeout=5)
    assert isinstance(timed, FastSSASimulator) and timed.timeout == 5.0
    with pytest.raises(ValueError, match=r"\['compiled'\] do not apply to FastSSASimulator"):
        make_simulator("toggle_switch", compiled=True)
    with pytest.raises(ValueError, match="unknown solver 'magic'"):
        make_simulator("toggle_switch", solver="magic")
    with pytest.raises(ValueError, match="unknown model"):
        make_simulator("no_such_model")


# ----------------------------------------------------------------------------- equivalence with GillesPy2
# Per species and time point: z-scores of the difference of means and of variances (standard
# errors from both samples; the variance's from the fourth central moment), two-sided, with a
# Bonferroni threshold for a family-wise level ALPHA per model; two-sample KS tests on the final
# marginals at ALPHA / S.  ALPHA is small so that correct code fails with probability ~1e-3 per
# model; the wrong-rate tests below show these tests still have the power to reject.
ALPHA = 1e-3


def _moment_z(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """z-scores (S, T) of mean and variance differences of samples a, b of shape (n, S, T)."""
    def mv(x):
        n = x.shape[0]
        m = x.mean(axis=0)
        v = x.var(axis=0, ddof=1)
        m4 = ((x - m) ** 4).mean(axis=0)
        se_v2 = np.maximum(m4 - v ** 2 * (n - 3) / (n - 1), 0.0) / n
        return m, v, v / n, se_v2
    ma, va, sma, sva = mv(a)
    mb, vb, smb, svb = mv(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        zm = np.where(ma == mb, 0.0, (ma - mb) / np.sqrt(sma + smb))
        zv = np.where(va == vb, 0.0, (va - vb) / np.sqrt(sva + svb))
    return zm, zv


def equivalence(a: np.ndarray, b: np.ndarray) -> dict:
    """Outcome of the moment and KS tests for samples (n, S, T) of two simulators."""
    zm, zv = _moment_z(a[:, :, 1:], b[:, :, 1:])  # t = 0 is the (equal) initial state
    k = zm.size
    zcrit = stats.norm.isf(ALPHA / (2 * 2 * k))  # mean and variance tests, two-sided
    S = a.shape[1]
    ks_p = np.array([stats.ks_2samp(a[:, s, -1], b[:, s, -1]).pvalue if np.ptp(np.r_[a[:, s, -1], b[:, s, -1]]) > 0
                     else 1.0 for s in range(S)])
    return {"max_z_mean": float(np.max(np.abs(zm))), "max_z_var": float(np.max(np.abs(zv))), "zcrit": zcrit,
            "ks_min_p": float(ks_p.min()), "ks_level": ALPHA / S,
            "moments_ok": bool(np.max(np.abs(zm)) < zcrit and np.max(np.abs(zv)) < zcrit),
            "ks_ok": bool(ks_p.min() > ALPHA / S)}


# model, theta (None: defaults of param_names), timespan, initial state, trajectories
CASES = {
    "x16": (np.linspace(0.0, 10.0, 6), 400),
    "toggle_switch": (np.linspace(0.0, 20.0, 11), 1000),
    "gene": (np.linspace(0.0, 10.0, 6), 400),
    "sir": (np.linspace(0.0, 5.0, 11), 1000),
    "bees": (np.linspace(0.0, 20.0, 11), 1000),
}


def _default_theta(sim):
    return np.array([[sim.model.parameters[p] for p in sim.param_names]])


@pytest.fixture(scope="module")
def gillespy_samples():
    from sciope_abs.simulators import GillespySimulator
    out = {}
    for name, (ts, n) in CASES.items():
        g = GillespySimulator(name, timespan=ts, solver="ssa")
        out[name] = g.simulate(_default_theta(g), n_traj=n, seed=2024)[0]
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_statistically_equivalent_to_gillespy2_ssa(name, gillespy_samples):
    ts, n = CASES[name]
    sim = FastSSASimulator(name, timespan=ts)
    x = sim.simulate(_default_theta(sim), n_traj=n, seed=77)[0]
    ref = gillespy_samples[name]
    assert x.shape == ref.shape
    res = equivalence(x, ref)
    assert res["moments_ok"], res
    assert res["ks_ok"], res
    # and not trivially: the trajectories move
    assert np.ptp(x[:, :, -1], axis=0).max() > 0


@pytest.mark.parametrize("name, param, factor", [
    ("toggle_switch", "mu", 1.25),
    ("sir", "beta", 1.2),
    ("gene", "Kd2", 1.2),
])
def test_a_wrong_rate_is_rejected_by_the_same_tests(name, param, factor, gillespy_samples):
    ts, n = CASES[name]
    m = load_model(name)
    sim = FastSSASimulator(m.with_parameters(**{param: m.parameters[param] * factor}), timespan=ts)
    x = sim.simulate(_default_theta(sim), n_traj=n, seed=77)[0]
    res = equivalence(x, gillespy_samples[name])
    assert not (res["moments_ok"] and res["ks_ok"]), res


# ----------------------------------------------------------------------------- the faster exact methods
# "unrolled" (registers, ziggurat), "dependency" (incremental total, adaptive search order) and
# "tree" (partial-sum tree) against the direct method, same tests and levels as against
# GillesPy2; Vilar's 18 reactions take the large-network code path of "dependency" and "tree"
# (the dependency graph compiled in chunks of reactions behind a dispatcher).
METHOD_CASES = {
    "toggle_switch": (np.linspace(0.0, 20.0, 11), 1000),
    "gene": (np.linspace(0.0, 10.0, 6), 400),
    "vilar": (np.linspace(0.0, 20.0, 11), 400),
}


@pytest.mark.parametrize("name, method", [
    (name, method) for name in ("toggle_switch", "gene") for method in ("unrolled", "dependency", "tree")
] + [("vilar", "unrolled"), ("vilar", "dependency"), pytest.param("vilar", "tree", marks=pytest.mark.slow)])
def test_faster_methods_are_distributed_like_the_direct_method(name, method):
    ts, n = METHOD_CASES[name]
    direct = FastSSASimulator(name, timespan=ts, method="direct")
    ref = direct.simulate(_default_theta(direct), n_traj=n, seed=2026)[0]
    sim = FastSSASimulator(name, timespan=ts, method=method)
    x = sim.simulate(_default_theta(sim), n_traj=n, seed=79)[0]
    res = equivalence(x, ref)
    assert res["moments_ok"], res
    assert res["ks_ok"], res
    # the same tests reject a 25 % faster degradation (power against the direct method)
    if name == "toggle_switch":
        wrong = FastSSASimulator(load_model(name).with_parameters(mu=1.25), timespan=ts, method=method)
        res = equivalence(wrong.simulate(_default_theta(wrong), n_traj=n, seed=79)[0], ref)
        assert not (res["moments_ok"] and res["ks_ok"]), res


@pytest.mark.parametrize("name", ["toggle_switch", pytest.param("vilar", marks=pytest.mark.slow)])
def test_tree_follows_the_direct_methods_numbers_and_dependency_does_not(name):
    # the tree uses the same random numbers and the same rule (the first reaction whose running
    # sum exceeds u * a0); its sums differ from the direct running sums only by rounding, so
    # nearly every trajectory is the same; the adaptive order of "dependency" changes which
    # reaction a given u picks, so its trajectories differ (the algorithm changed)
    ts = np.linspace(0.0, 10.0, 11)
    th = _default_theta(FastSSASimulator(name, method="direct"))
    runs = {m: FastSSASimulator(name, timespan=ts, method=m).simulate(th, n_traj=200, seed=5)[0]
            for m in ("direct", "tree", "dependency")}
    same = {m: (runs[m] == runs["direct"]).all(axis=(1, 2)).mean() for m in ("tree", "dependency")}
    assert same["tree"] > 0.95, same
    assert same["dependency"] < 0.5, same


def test_auto_method_and_kernel_sources_per_method():
    assert FastSSASimulator("gene").method == "unrolled" and resolve_method("vilar") == "unrolled"
    assert FastSSASimulator("egfr").method == resolve_method("egfr") == "dependency"
    srcs = {m: generate_kernel_source("vilar", method=m) for m in ("direct", "unrolled", "dependency", "tree")}
    assert len(set(srcs.values())) == 4 and all("def ssa_run(" in v for v in srcs.values())
    assert "# method: tree" in srcs["tree"] and "_props_update" in srcs["direct"]
    assert "_fire_2(" in srcs["dependency"]  # 18 reactions: compiled in chunks
    # two trajectories side by side up to 12 reactions (Gene: 6), one at a time above (Vilar: 18)
    assert "# method: unrolled, lanes: 1" in srcs["unrolled"]
    assert "# method: unrolled, lanes: 2" in generate_kernel_source("gene") and FastSSASimulator("gene").lanes == 2
    assert FastSSASimulator("vilar").lanes == 1 and FastSSASimulator("egfr").lanes == 1


def test_ziggurat_waiting_times_are_exponential():
    # the unrolled kernel's waiting times: 400 000 standard exponentials from one stream; KS
    # against Exp(1), the mean, and the tail beyond the ziggurat's base (x > 7.7, the slow
    # branch) within 4.5 standard errors
    mod = FastSSASimulator("sir", method="unrolled").compile()._module
    e = np.empty(400_000)
    mod.exponential_batch(point_seeds(3, 1)[0].pool, e)
    assert stats.kstest(e, "expon").pvalue > 1e-3
    n = e.size
    assert abs(e.mean() - 1.0) < 4.5 / np.sqrt(n)
    for x in (0.01, 1.0, 7.7):
        p = np.exp(-x)
        assert abs((e > x).mean() - p) < 4.5 * np.sqrt(p * (1 - p) / n), x
    assert (e >= 0).all() and len(np.unique(e)) > 0.999 * n


# larger networks (dependency-graph updates: EGFR's 47 reactions, Vilar's 18) and a longer Gene
# horizon; same tests, same levels
SLOW_CASES = {
    "egfr": (np.linspace(0.0, 5.0, 11), 500),
    "vilar": (np.linspace(0.0, 20.0, 11), 500),
    "x40": (np.linspace(0.0, 10.0, 6), 500),
    "gene": (np.linspace(0.0, 400.0, 11), 200),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SLOW_CASES))
def test_statistically_equivalent_to_gillespy2_ssa_larger_cases(name):
    from sciope_abs.simulators import GillespySimulator
    ts, n = SLOW_CASES[name]
    g = GillespySimulator(name, timespan=ts, solver="ssa")
    ref = g.simulate(_default_theta(g), n_traj=n, seed=2025)[0]
    sim = FastSSASimulator(name, timespan=ts)
    x = sim.simulate(_default_theta(sim), n_traj=n, seed=78)[0]
    res = equivalence(x, ref)
    assert res["moments_ok"], res
    assert res["ks_ok"], res


@pytest.mark.slow
@pytest.mark.parametrize("method", ["dependency", "tree"])
def test_faster_methods_are_distributed_like_the_direct_method_on_egfr(method):
    ts, n = np.linspace(0.0, 5.0, 11), 500
    direct = FastSSASimulator("egfr", timespan=ts, method="direct")
    ref = direct.simulate(_default_theta(direct), n_traj=n, seed=2027)[0]
    sim = FastSSASimulator("egfr", timespan=ts, method=method)
    res = equivalence(sim.simulate(_default_theta(sim), n_traj=n, seed=80)[0], ref)
    assert res["moments_ok"] and res["ks_ok"], res


def test_runs_on_dask_workers_bit_identical_loading_the_cached_kernel():
    # a real LocalCluster (2 worker processes, shared with the other tests of this process): the
    # simulator travels pickled, each worker loads the compiled kernel from the disk cache
    # (no compilation there), and the numbers equal the in-process ones bit for bit
    from sciope_abs.engine import get_client, simulate_parallel
    m = load_model("toggle_switch")
    sim = FastSSASimulator(m, timespan=np.linspace(0, 10, 11))
    th = m.sample_rates(12, seed=5)
    local = sim.simulate(th, n_traj=3, seed=21)
    client = get_client(n_workers=2, verbose=False)
    remote = simulate_parallel(sim, th, n_traj=3, seed=21, client=client, chunk_size=5, progress=False)
    assert np.array_equal(local, remote)

    def kernel_compilations():
        from sciope_abs.simulators import fast_ssa
        return {k[0]: sum(mod.ssa_run.stats.cache_misses.values()) for k, mod in fast_ssa._KERNELS.items()}

    per_worker = client.run(kernel_compilations)
    digest = sim.kernel_hash
    loaded = [w for w in per_worker.values() if digest in w]
    assert loaded, per_worker
    assert all(w[digest] == 0 for w in loaded)


@pytest.mark.slow
def test_sbml_imported_egfr_runs_on_the_fast_kernel_like_the_library_egfr():
    from sciope_abs.crn import from_sbml
    path = Path(__file__).resolve().parent / "data" / "BIOMD0000000048.xml"
    imported = from_sbml(path, convention="counts")  # the study's reading, as the library's egfr
    ts = np.linspace(0.0, 5.0, 11)
    sim = make_simulator(imported, species=list(load_model("egfr").species), timespan=ts)
    assert isinstance(sim, FastSSASimulator)
    x = sim.simulate(_default_theta(sim), n_traj=500, seed=5)[0]
    lib = FastSSASimulator("egfr", timespan=ts)
    ref = lib.simulate(_default_theta(lib), n_traj=500, seed=6)[0]
    res = equivalence(x, ref)
    assert res["moments_ok"] and res["ks_ok"], res
