"""GillespySimulator: shapes and species order, seeds, per-point initial states and parameters,
compile-once caching, every solver, bad input, failure isolation, build-folder cleanup.

One C++ SSA solver for SIR is compiled for the module (a few seconds) and reused by most tests.
"""
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from conftest import REPO
from sciope_abs.crn import CRN, Reaction, load_model
from sciope_abs.seeding import point_seeds
from sciope_abs.simulators import GillespySimulator, SimulationWarning
from sciope_abs.simulators.gillespy import solver_cache_info
from sciope_abs.simulators.gillespy_model import structure_hash, translate_propensity

SIR = load_model("sir")  # declared S, I, R; GillesPy2 orders them I, R, S


@pytest.fixture(scope="module")
def sir():
    sim = GillespySimulator(SIR, timespan=np.arange(11) * 0.5)
    sim.simulate([[3.0, 1.0]], seed=0)  # compile once for the module
    return sim


def _no_warnings_call(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SimulationWarning)
        return fn(*a, **kw)


# --------------------------------------------------------------------------- shapes and order
def test_shape_dtype_and_declared_species_order(sir):
    x0 = np.array([[90, 5, 0], [50, 20, 7], [10, 60, 30]])
    x = _no_warnings_call(sir.simulate, [[3.0, 1.0], [2.0, 0.5], [4.0, 1.5]], n_traj=4, seed=1, initial_state=x0)
    assert x.shape == (3, 4, 3, 11) and x.dtype == np.float64
    assert sir.species == ("S", "I", "R")
    # t = 0 is the given state, column by column in declared (not alphabetical) order
    np.testing.assert_array_equal(x[:, :, :, 0], np.broadcast_to(x0[:, None, :], (3, 4, 3)))
    # S only decreases, R only increases, S + I + R is conserved
    assert (np.diff(x[:, :, 0], axis=-1) <= 0).all() and (np.diff(x[:, :, 2], axis=-1) >= 0).all()
    np.testing.assert_array_equal(x.sum(axis=2), np.broadcast_to(x0.sum(1)[:, None, None], (3, 4, 11)))


def test_species_subset_in_requested_order(sir):
    sub = GillespySimulator(SIR, species=["R", "S"], timespan=sir.timespan)
    theta = [[3.0, 1.0], [2.0, 0.7]]
    full = sir.simulate(theta, n_traj=3, seed=5)
    part = sub.simulate(theta, n_traj=3, seed=5)
    np.testing.assert_array_equal(part, full[:, :, [2, 0]])
    # an initial state of the returned species only (R, S); I keeps its default 100
    y = sub.simulate(theta, seed=5, initial_state=[7, 40])
    np.testing.assert_array_equal(y[:, 0, :, 0], [[7, 40], [7, 40]])
    assert (y[:, 0, 0, -1] > 7).all()  # I (100 by default) recovered into R


def test_timespan_not_starting_at_zero_is_a_slice_of_the_full_grid(sir):
    late = GillespySimulator(SIR, timespan=np.arange(2, 11) * 0.5)
    theta = [[3.0, 1.0]]
    np.testing.assert_array_equal(late.simulate(theta, n_traj=2, seed=9), sir.simulate(theta, n_traj=2, seed=9)[..., 2:])


# --------------------------------------------------------------------------- seeds
def test_same_seed_same_traces_different_seed_different(sir):
    theta = [[3.0, 1.0], [2.0, 0.5], [4.0, 1.2]]
    a = sir.simulate(theta, n_traj=5, seed=11)
    b = sir.simulate(theta, n_traj=5, seed=11)
    c = sir.simulate(theta, n_traj=5, seed=12)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # point i alone with its own child seed gives the same traces as in the batch
    seeds = point_seeds(11, 3)
    np.testing.assert_array_equal(sir.simulate(theta[2:], n_traj=5, seed=[seeds[2]]), a[2:])
    # the trajectories of one point differ from each other
    assert not np.array_equal(a[0, 0], a[0, 1])


# --------------------------------------------------------------------------- parameters
def test_parameters_reach_the_compiled_solver(sir):
    x0 = [60, 30, 10]
    no_recovery = sir.simulate([[3.0, 0.0]], n_traj=3, seed=2, initial_state=x0)
    assert (no_recovery[0, :, 2] == 10).all()           # gamma = 0: R never changes
    no_infection = sir.simulate([[0.0, 1.0]], n_traj=3, seed=2, initial_state=x0)
    assert (no_infection[0, :, 0] == 60).all()          # beta = 0: S never changes
    # faster recovery -> fewer infected at t = 1 (means over 60 trajectories, SE-scaled)
    slow = sir.simulate([[3.0, 0.5]], n_traj=60, seed=3, initial_state=x0)[0, :, 1, 2]
    fast = sir.simulate([[3.0, 2.0]], n_traj=60, seed=3, initial_state=x0)[0, :, 1, 2]
    z = (slow.mean() - fast.mean()) / np.sqrt(slow.var() / 60 + fast.var() / 60)
    assert z > 5


def _birth_death() -> CRN:
    return CRN("bd", species=["X"], parameters={"k": 10.0, "d": 1.0},
               reactions=[Reaction("birth", {}, {"X": 1}, rate="k"), Reaction("death", {"X": 1}, {}, rate="d")],
               initial_state={"X": 0}, rate_ranges={"k": (1, 50), "d": (0.5, 4)}, dt=3.0, n_steps=2)


def test_birth_death_mean_matches_k_over_d():
    sim = GillespySimulator(_birth_death(), solver="numpy_ssa")
    x = sim.simulate([[10.0, 1.0], [10.0, 4.0]], n_traj=150, seed=4)[:, :, 0, -1]  # t = 6
    for i, d in enumerate([1.0, 4.0]):  # X(t) ~ Poisson(k/d (1 - exp(-d t))): sd of mean sqrt(m/150)
        mean = 10.0 / d * (1 - np.exp(-d * 6.0))
        assert abs(x[i].mean() - mean) < 4 * np.sqrt(mean / 150)


def test_dimerisation_uses_binomial_propensity():
    # 2 A -> B at rate k: with A = 2 the CRN propensity is k * C(2, 2) = k (GillesPy2's own
    # mass-action law would give 2 k).  P(fired by t = 1) = 1 - exp(-k) = 0.39 for k = 0.5.
    crn = CRN("dimer", species=["A", "B"], parameters={"k": 0.5},
              reactions=[Reaction("dim", {"A": 2}, {"B": 1}, rate="k")], initial_state={"A": 2}, dt=1.0, n_steps=1)
    frac = GillespySimulator(crn, solver="numpy_ssa").simulate([[0.5]], n_traj=600, seed=6)[0, :, 1, -1].mean()
    assert abs(frac - (1 - np.exp(-0.5))) < 4 * np.sqrt(0.39 * 0.61 / 600)
    assert "(1.0 * A - 1.0)" in translate_propensity("k * A * (A - 1) / 2", ["A", "B"], ["k"])


# --------------------------------------------------------------------------- compile once
def test_solver_compiled_once_per_process_and_model(sir):
    before = solver_cache_info()["compilations"]
    other = GillespySimulator(SIR.with_parameters(beta=2.5), timespan=sir.timespan)  # same structure
    clone = pickle.loads(pickle.dumps(sir))
    for i, sim in enumerate([sir, other, clone, sir]):
        sim.simulate([[2.0 + i, 1.0], [3.0, 0.5 + i]], n_traj=2, seed=i, initial_state=[50 + i, 10, 0])
    assert solver_cache_info()["compilations"] == before
    assert structure_hash(other.model) == structure_hash(SIR)
    assert len(pickle.dumps(sir)) < 20_000  # no solver inside


def test_pickled_simulator_reproduces_results(sir):
    clone = pickle.loads(pickle.dumps(sir))
    np.testing.assert_array_equal(clone.simulate([[3.0, 1.0]], n_traj=2, seed=8),
                                  sir.simulate([[3.0, 1.0]], n_traj=2, seed=8))


# --------------------------------------------------------------------------- every solver
@pytest.mark.parametrize("solver", ["ssa", "tau", "hybrid", "ode", "numpy_ssa"])
def test_every_solver_name_runs(solver):
    # Python versions here (no compile); the compiled tau/hybrid/ode run in the slow test below
    sim = GillespySimulator(SIR, solver=solver, compiled=False, timespan=np.arange(5) * 0.5)
    x = sim.simulate([[3.0, 1.0], [2.0, 0.5]], n_traj=3, seed=1, initial_state=[[50, 10, 0], [30, 30, 0]])
    assert x.shape == (2, 3, 3, 5) and np.isfinite(x).all()
    np.testing.assert_array_equal(x[:, :, :, 0], [[[50, 10, 0]] * 3, [[30, 30, 0]] * 3])
    np.testing.assert_allclose(x.sum(axis=2), 60.0, rtol=1e-3)  # S + I + R conserved
    assert (x[:, :, 2, -1] > 0).all()  # recoveries happened
    if solver == "ode":
        np.testing.assert_array_equal(x[:, 0], x[:, 2])  # deterministic: all trajectories equal


@pytest.mark.slow
@pytest.mark.parametrize("solver", ["tau", "hybrid", "ode"])
def test_compiled_solvers_agree_with_ssa_mean(solver, sir):
    x0 = [80, 20, 0]
    ssa = sir.simulate([[3.0, 1.0]], n_traj=200, seed=1, initial_state=x0)[0, :, :, -1]
    x = GillespySimulator(SIR, solver=solver, compiled=True, timespan=sir.timespan).simulate(
        [[3.0, 1.0]], n_traj=200, seed=2, initial_state=x0)[0, :, :, -1]
    se = np.sqrt(ssa.var(0) / 200 + x.var(0) / 200) + 1.0  # + 1: ODE/tau approximations
    assert (np.abs(ssa.mean(0) - x.mean(0)) < 5 * se).all()


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("make, call", [
    (lambda: GillespySimulator("no_such_model"), None),
    (lambda: GillespySimulator(SIR, param_names=["beta", "nope"]), None),
    (lambda: GillespySimulator(SIR, species=["S", "Q"]), None),
    (lambda: GillespySimulator(SIR, solver="magic"), None),
    (lambda: GillespySimulator(SIR, timespan=[0.0, 1.0, 3.0]), None),
    (lambda: GillespySimulator(SIR, timespan=[0.3, 1.3, 2.3]), None),
    (lambda: GillespySimulator(SIR, timeout=-1), None),
    (lambda: GillespySimulator(SIR, solver="numpy_ssa"), lambda s: s.simulate([[1.0, 2.0, 3.0]])),
    (lambda: GillespySimulator(SIR, solver="numpy_ssa"), lambda s: s.simulate([[1.0, -2.0]])),
    (lambda: GillespySimulator(SIR, solver="numpy_ssa"), lambda s: s.simulate([[np.nan, 1.0]])),
    (lambda: GillespySimulator(SIR, solver="numpy_ssa"), lambda s: s.simulate([[1.0, 1.0]], n_traj=0)),
    (lambda: GillespySimulator(SIR, solver="numpy_ssa"), lambda s: s.simulate([[1.0, 1.0]], initial_state=[1, 2])),
    (lambda: GillespySimulator(SIR, solver="numpy_ssa"), lambda s: s.simulate([[1.0, 1.0]], initial_state=[1, -2, 0])),
])
def test_bad_input_gives_one_line_value_error(make, call):
    with pytest.raises(ValueError) as info:
        sim = make()
        call(sim)
    assert "\n" not in str(info.value) and len(str(info.value)) > 10


def test_bad_propensity_is_rejected_at_construction():
    crn = CRN("bad", species=["X"], parameters={"k": 1.0},
              reactions=[Reaction("r", {}, {"X": 1}, propensity="k * Y")], initial_state={"X": 0})
    with pytest.raises(ValueError, match="unknown name 'Y'"):
        GillespySimulator(crn)
    with pytest.raises(ValueError, match="not allowed"):
        translate_propensity("__import__('os')", ["X"], ["k"])


# --------------------------------------------------------------------------- failures
def test_failing_point_gives_nan_and_warning_others_kept(sir):
    timed = GillespySimulator(SIR, timespan=sir.timespan, timeout=1)
    # point 1 has two billion molecules: far more events than one second allows
    x0 = [[60, 30, 10], [10**9, 10**9, 0], [40, 40, 0]]
    with pytest.warns(SimulationWarning, match="1 of 3 parameter points failed.*point 1"):
        x = timed.simulate([[3.0, 1.0]] * 3, n_traj=2, seed=3, initial_state=x0)
    assert np.isnan(x[1]).all()
    assert np.isfinite(x[[0, 2]]).all()
    ok = sir.simulate([[3.0, 1.0]] * 3, n_traj=2, seed=3, initial_state=[x0[0], x0[0], x0[2]])
    np.testing.assert_array_equal(x[[0, 2]], ok[[0, 2]])  # the others are the normal results


# --------------------------------------------------------------------------- build folders
_CHILD = """
import os, signal, sys
import numpy as np
from sciope_abs.simulators import GillespySimulator
from sciope_abs.simulators.gillespy import build_root
sim = GillespySimulator("sir", timespan=np.arange(3) * 0.5)
sim.simulate([[3.0, 1.0]], seed=1)
root = build_root()
assert any(root.iterdir()), "no build folder inside the root"
print(root, flush=True)
if sys.argv[1] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
raise RuntimeError("caller crashed")
"""


def _run_child(mode: str, base) -> tuple[int, str]:
    env = {**os.environ, "SCIOPE_ABS_BUILD_DIR": str(base), "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(_CHILD), mode], env=env, cwd=str(REPO),
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-2000:]


def test_killed_caller_leaves_no_build_folder_once_a_new_simulator_starts(tmp_path, monkeypatch):
    rc, root = _run_child("kill", tmp_path)
    assert rc == -signal.SIGKILL, root
    assert os.path.isdir(root) and os.path.dirname(root) == str(tmp_path)  # left behind by the kill
    monkeypatch.setenv("SCIOPE_ABS_BUILD_DIR", str(tmp_path))
    GillespySimulator(SIR)  # a new simulator sweeps roots of dead processes
    assert not os.path.exists(root)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_caller_exiting_with_exception_removes_its_build_folder(tmp_path):
    rc, root = _run_child("raise", tmp_path)
    assert rc == 1 and root.startswith(str(tmp_path))
    assert not os.path.exists(root) and list(tmp_path.iterdir()) == []
