"""GillesPy2 simulators behind the :class:`~sciope_abs.simulators.base.Simulator` protocol.

A compiled GillesPy2 C++ solver costs seconds to build and milliseconds to run, so it is built
**once per process** for a (model structure, solver, time grid) and reused for every parameter
point and initial state through GillesPy2's ``variable=True`` mode (``run(variables={...})``;
species and parameter names share that one dictionary).  The cache lives in this module, on the
process that simulates (a Dask worker, say); a :class:`GillespySimulator` holds no solver and
pickles small.

Build folders: every process gets its own root ``<base>/<pid>-<start time>`` where ``<base>`` is
``$SCIOPE_ABS_BUILD_DIR``, else ``$GILLESPY2_TMPDIR/sciope_abs_build``, else
``<tempdir>/sciope_abs_build``.  A solver's folder is removed when the cache is cleared or the
solver is collected, the root at exit, and roots left behind by processes that no longer exist
(a crash, a kill) are removed whenever a simulator is created.
"""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._checks import check_positive_float, check_positive_int, optional
from ..crn.model import CRN
from ..crn.resolve import as_crn
from ..seeding import SeedLike, int_seed, point_seeds
from .base import Simulator, check_initial_state, check_theta, report_failures
from .gillespy_model import structure_hash, to_gillespy_model

__all__ = ["GillespySimulator", "SOLVERS", "solver_cache_info", "clear_solver_cache", "build_root",
           "remove_stale_build_dirs"]

# GillesPy2 builds its C++ solvers with SCons, found through PATH: make the venv's bin visible
# to this process and to everything it starts (Dask workers included) without activation.
_BIN = os.path.dirname(sys.executable)
if shutil.which("scons") is None and _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")

#: solver name -> (C++ class, Python class).  The C++ one is used when g++ and SCons are present.
SOLVERS: dict[str, tuple[str | None, str]] = {
    "ssa": ("SSACSolver", "NumPySSASolver"),
    "tau": ("TauLeapingCSolver", "TauLeapingSolver"),
    "hybrid": ("TauHybridCSolver", "TauHybridSolver"),
    "ode": ("ODECSolver", "ODESolver"),
    "numpy_ssa": (None, "NumPySSASolver"),
}
_DETERMINISTIC = {"ode"}

# ----------------------------------------------------------------------------- build folders
_ROOT_LOCK = threading.Lock()
_ROOT: dict[str, Any] = {"pid": None, "path": None}


def _build_base() -> Path:
    explicit = os.environ.get("SCIOPE_ABS_BUILD_DIR")
    if explicit:
        return Path(explicit)
    gtmp = os.environ.get("GILLESPY2_TMPDIR")
    return Path(gtmp or tempfile.gettempdir()) / "sciope_abs_build"


def _start_token(pid: int) -> str | None:
    """A token of the process's start time (tells a live process from a reused pid); None if dead."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil ships with distributed
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return "0"
        return "0"
    try:
        return str(int(psutil.Process(pid).create_time() * 100))
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.Error:
        return "0"


def _root_name(pid: int) -> str:
    return f"{pid}-{_start_token(pid) or '0'}"


def remove_stale_build_dirs(base: str | os.PathLike | None = None) -> list[str]:
    """Remove build roots of processes that no longer exist; returns the removed paths."""
    base = _build_base() if base is None else Path(base)
    removed: list[str] = []
    if not base.is_dir():
        return removed
    for entry in base.iterdir():
        pid_s, _, token = entry.name.partition("-")
        if not entry.is_dir() or not pid_s.isdigit():
            continue
        live = _start_token(int(pid_s))
        if live is None or (token != "0" and live != "0" and live != token):
            shutil.rmtree(entry, ignore_errors=True)
            if not entry.exists():
                removed.append(str(entry))
    return removed


def _remove_own_root(pid: int, path: str) -> None:
    if os.getpid() == pid:  # never in a forked child that inherited the handler
        shutil.rmtree(path, ignore_errors=True)


def build_root() -> Path:
    """This process's build folder (created on first use, removed at exit)."""
    with _ROOT_LOCK:
        pid = os.getpid()
        if _ROOT["pid"] != pid or not Path(_ROOT["path"]).is_dir():
            base = _build_base()
            remove_stale_build_dirs(base)
            path = base / _root_name(pid)
            path.mkdir(parents=True, exist_ok=True)
            if _ROOT["pid"] != pid:
                atexit.register(_remove_own_root, pid, str(path))
            _ROOT.update(pid=pid, path=str(path))
        return Path(_ROOT["path"])


# ----------------------------------------------------------------------------- solver cache
class _Entry:
    """One built solver, its lock, and how to run it."""

    def __init__(self, solver, compiled: bool, path: str | None):
        self.solver = solver
        self.compiled = compiled
        self.path = path
        self.lock = threading.Lock()

    def release(self) -> None:
        if self.compiled:
            # gillespy2 deletes its folder when the solver is collected; do it now, and only here
            self.solver.delete_directory = False
            if self.path:
                shutil.rmtree(self.path, ignore_errors=True)


_CACHE: dict[tuple, _Entry] = {}
_CACHE_LOCK = threading.Lock()
_PY_LOCK = threading.Lock()  # GillesPy2's Python solvers seed the global `random` module
_STATS = {"builds": 0, "compilations": 0}
_SEQ = [0]


def _forget_in_child() -> None:
    # a forked child must not delete (or reuse) the parent's build folders
    for e in _CACHE.values():
        if e.compiled:
            e.solver.delete_directory = False
    _CACHE.clear()
    _ROOT.update(pid=None, path=None)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def solver_cache_info() -> dict:
    """Counts for this process: ``builds`` (solver objects made), ``compilations`` (C++ builds),
    ``cached`` (solvers held now)."""
    return {**_STATS, "cached": len(_CACHE)}


def clear_solver_cache() -> None:
    """Drop every cached solver of this process and delete their build folders."""
    with _CACHE_LOCK:
        for e in _CACHE.values():
            e.release()
        _CACHE.clear()


atexit.register(clear_solver_cache)


_C_OK: dict[int, bool] = {}


def _c_available() -> bool:
    """g++ and SCons found (checked once per process)."""
    pid = os.getpid()
    if pid not in _C_OK:
        from gillespy2.solvers.cpp.build.build_engine import BuildEngine
        _C_OK[pid] = not BuildEngine.get_missing_dependencies()
    return _C_OK[pid]


def _use_compiled(solver: str, compiled: bool | None) -> bool:
    c_name, py_name = SOLVERS[solver]
    if c_name is None or compiled is False:
        return False
    if _c_available():
        return True
    if compiled:
        raise RuntimeError(f"solver {solver!r} with compiled=True needs g++ and SCons on PATH")
    warnings.warn(f"g++/SCons not found: solver {solver!r} falls back to GillesPy2's {py_name}",
                  RuntimeWarning, stacklevel=4)
    return False


def _get_entry(crn: CRN, solver: str, grid: tuple[float, int], use_c: bool,
               shash: str | None = None) -> tuple[tuple, _Entry]:
    c_name, py_name = SOLVERS[solver]
    key = (shash or structure_hash(crn), solver, use_c, grid)
    entry = _CACHE.get(key)
    if entry is not None:
        return key, entry
    with _CACHE_LOCK:
        entry = _CACHE.get(key)
        if entry is not None:
            return key, entry
        import gillespy2

        inc, n_grid = grid
        tspan = np.arange(n_grid, dtype=np.float64) * inc
        mode = "dynamic" if solver == "hybrid" else ("continuous" if solver == "ode" else "discrete")
        model = to_gillespy_model(crn, tspan, target="c" if use_c else "python", species_mode=mode)
        if use_c:
            if c_name is None:
                raise ValueError(f"solver {solver!r} has no compiled (C++) build")
            _SEQ[0] += 1
            path = build_root() / f"{key[0]}-{solver}-{_SEQ[0]}"
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    obj = getattr(gillespy2, c_name)(model=model, variable=True, output_directory=str(path))
            except Exception as exc:
                shutil.rmtree(path, ignore_errors=True)
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise RuntimeError(f"GillesPy2 could not build {c_name} for model {crn.name!r}: {first}") from None
            _STATS["compilations"] += 1
            entry = _Entry(obj, True, str(path))
        else:
            entry = _Entry(getattr(gillespy2, py_name)(model=model), False, None)
        _STATS["builds"] += 1
        _CACHE[key] = entry
        return key, entry


# ----------------------------------------------------------------------------- the simulator
def _check_grid(timespan: np.ndarray) -> tuple[tuple[float, int], np.ndarray]:
    """(increment, number of grid points from 0) and the indices of ``timespan`` in that grid."""
    t = np.asarray(timespan, dtype=np.float64)
    if t.ndim != 1 or t.size < 2 or not np.isfinite(t).all():
        raise ValueError(f"timespan must be a 1-D array of at least 2 finite times, got shape {t.shape}")
    d = np.diff(t)
    inc = float(d[0])
    if inc <= 0 or not np.allclose(d, inc, rtol=1e-9, atol=1e-12 * max(1.0, abs(t[-1]))):
        raise ValueError("timespan must be increasing with a uniform step (GillesPy2 reports on a uniform grid)")
    start = t[0] / inc
    if t[0] < 0 or abs(start - round(start)) > 1e-9 * max(1.0, start):
        raise ValueError(f"timespan must start at 0 or at a multiple of its step {inc}, got {t[0]}")
    idx = np.arange(t.size) + int(round(start))
    # 12 significant digits: grids from arange and linspace share one cache key (one compile)
    return (float(f"{inc:.12g}"), int(idx[-1]) + 1), idx


class GillespySimulator(Simulator):
    """Simulate a reaction network with a GillesPy2 solver.

    Parameters
    ----------
    model : CRN or str
        A model, or the name of one in the library (:func:`sciope_abs.crn.load_model`).
    param_names : sequence of str, optional
        The parameters ``theta`` sets, in its column order.  Default: the model's variable rates
        (``model.rate_ranges``), else all parameters.  The others keep their default values.
    species : sequence of str, optional
        Species returned, in this order (default: all, in the model's declared order).
    timespan : array, shape (T,), optional
        Output times: a uniform grid starting at 0 or at a multiple of its step (default
        ``model.timespan()``).
    solver : {"ssa", "tau", "hybrid", "ode", "numpy_ssa"}
        GillesPy2's C++ SSA, tau-leaping, tau-hybrid or ODE solver (Python versions when no
        compiler is available), or the pure-Python NumPy SSA.
    compiled : bool, optional
        Use GillesPy2's C++ solver (True), its Python solver (False), or the C++ one when g++ and
        SCons are available (None, default).  The C++ solver is compiled once per process, model
        and solver (seconds); the Python one starts at once but runs slower.
    timeout : float, optional
        Seconds allowed per parameter point (rounded up to whole seconds, GillesPy2's unit); a
        point that runs out gets NaN traces and a :class:`SimulationWarning`.

    Examples
    --------
    >>> sim = GillespySimulator(load_model("toggle_switch"))           # doctest: +SKIP
    >>> x = sim.simulate(theta, n_traj=10, seed=1)  # (n, 10, 2, 101)   # doctest: +SKIP
    """

    def __init__(self, model: CRN | str, param_names: Sequence[str] | None = None,
                 species: Sequence[str] | None = None, timespan: np.ndarray | None = None,
                 solver: str = "ssa", compiled: bool | None = None, timeout: float | None = None):
        self.model = as_crn(model)
        if solver not in SOLVERS:
            raise ValueError(f"unknown solver {solver!r}; choose one of {list(SOLVERS)}")
        self.solver = solver
        if compiled not in (None, True, False):
            raise ValueError(f"compiled must be None, True or False, got {compiled!r}")
        if compiled and SOLVERS[solver][0] is None:
            raise ValueError(f"solver {solver!r} has no compiled version")
        self.compiled = compiled
        if param_names is None:
            param_names = tuple(self.model.rate_ranges) or tuple(self.model.parameters)
        if isinstance(param_names, str):
            param_names = (param_names,)
        self.param_names = self.model.check_parameter_names(param_names)
        if len(set(self.param_names)) != len(self.param_names):
            raise ValueError(f"param_names has duplicates: {list(self.param_names)}")
        if isinstance(species, str):
            species = (species,)
        self.species = tuple(self.model.species) if species is None else tuple(species)
        self._species_idx = self.model.species_index(self.species)  # ValueError on unknown names
        self.timespan = self.model.timespan() if timespan is None else np.asarray(timespan, dtype=np.float64)
        self._grid, self._t_idx = _check_grid(self.timespan)
        optional(check_positive_float, timeout, "timeout", what="a positive number of seconds")
        self.timeout = timeout
        self._structure = structure_hash(self.model)
        # fail now, not on a worker, if the model cannot be expressed in GillesPy2
        to_gillespy_model(self.model, target="python" if SOLVERS[solver][0] is None or compiled is False else "c")
        remove_stale_build_dirs()

    def simulate(self, theta: np.ndarray, *, n_traj: int = 1, seed: SeedLike = None,
                 initial_state: np.ndarray | None = None) -> np.ndarray:
        """Simulate ``n_traj`` trajectories at each of ``n`` parameter points.

        Parameters
        ----------
        theta : array, shape (n, d)
            Values of :attr:`param_names`.
        n_traj : int
        seed : int, SeedSequence or list of n SeedSequence
            Point ``i`` runs with seed ``int_seed(point_seeds(seed, n)[i])``.
        initial_state : array, shape (S,) or (n, S), optional
            Initial counts in the order of :attr:`species`; species not returned keep their
            default count.  An array over all model species (declared order) is accepted too.

        Returns
        -------
        array, shape (n, n_traj, S, T), float64
            NaN for points that failed (reported with a :class:`SimulationWarning`).
        """
        theta = check_theta(theta, self.param_names)
        n = theta.shape[0]
        n_traj = check_positive_int(n_traj, "n_traj")
        x0 = self._initial_states(initial_state, n)
        seeds = point_seeds(seed, n)
        out = np.full((n, n_traj, len(self.species), len(self.timespan)), np.nan)
        if n == 0:
            return out
        _, entry = _get_entry(self.model, self.solver, self._grid, _use_compiled(self.solver, self.compiled),
                              self._structure)
        failures: dict[int, str] = {}
        for i in range(n):
            try:
                out[i] = self._run_point(entry, theta[i], x0[i], n_traj, int_seed(seeds[i]) or 1)
            except Exception as exc:  # one failing point never kills the batch
                msg = str(exc).strip().splitlines()
                failures[i] = f"{type(exc).__name__}: {msg[0] if msg else ''}"
        report_failures(failures, n)
        return out

    def _initial_states(self, initial_state, n: int) -> np.ndarray:
        """Initial counts of all model species, shape (n, S_all), int64."""
        default = self.model.default_initial_state()
        if initial_state is None:
            return np.tile(default, (n, 1))
        width = np.shape(initial_state)[-1] if np.ndim(initial_state) else -1
        if width == len(self.species):
            given = check_initial_state(initial_state, n, self.species, default[self._species_idx])
            x0 = np.tile(default, (n, 1))
            x0[:, self._species_idx] = given
            return x0
        return check_initial_state(initial_state, n, self.model.species, default)

    def _run_point(self, entry: _Entry, theta_i: np.ndarray, x0_i: np.ndarray, n_traj: int, seed: int) -> np.ndarray:
        params = {**self.model.parameters, **dict(zip(self.param_names, map(float, theta_i)))}
        counts = dict(zip(self.model.species, map(int, x0_i)))
        runs = 1 if self.solver in _DETERMINISTIC else n_traj
        kwargs = {"number_of_trajectories": runs}
        if self.solver not in _DETERMINISTIC:
            kwargs["seed"] = seed
        if self.timeout is not None:
            kwargs["timeout"] = int(np.ceil(self.timeout))
        with warnings.catch_warnings():
            # GillesPy2 1.8.3 re-parses propensities on every run with a deprecated ast API
            warnings.simplefilter("ignore", DeprecationWarning)
            results, paused = self._call_solver(entry, entry.solver, params, counts, kwargs)
        if paused:
            raise TimeoutError(f"timed out after {self.timeout} s")
        n_grid = self._grid[1]
        arr = np.empty((runs, len(self.species), len(self.timespan)))
        for j in range(runs):
            traj = results[j]
            if len(traj["time"]) != n_grid:
                raise RuntimeError(f"solver returned {len(traj['time'])} of {n_grid} time points")
            for k, s in enumerate(self.species):  # by NAME: GillesPy2 orders species alphabetically
                arr[j, k] = traj[s][self._t_idx]
        if runs != n_traj:
            arr = np.broadcast_to(arr, (n_traj,) + arr.shape[1:])
        return arr

    @staticmethod
    def _call_solver(entry: _Entry, solver, params: dict, counts: dict, kwargs: dict):
        """One GillesPy2 run; returns (results, timed_out)."""
        if entry.compiled:
            with entry.lock:
                solver.rc = 0
                results = solver.run(variables={**params, **counts}, **kwargs)
                return results, solver.rc == 33
        with entry.lock, _PY_LOCK:
            for p, v in params.items():
                solver.model.listOfParameters[p].expression = repr(v)
            for s, v in counts.items():
                solver.model.listOfSpecies[s].initial_value = v
            # GillesPy2's Python solvers never reset these between runs: a stale `result`
            # would be returned after a timeout, a stale exception would fail every later run
            solver.rc = 0
            solver.result = None
            solver.__dict__.pop("has_raised_exception", None)
            results = solver.run(**kwargs)
            return results, solver.rc == 33

    def __repr__(self) -> str:
        return (f"GillespySimulator({self.model.name!r}, solver={self.solver!r}, params={list(self.param_names)}, "
                f"species={list(self.species)}, T={len(self.timespan)})")
