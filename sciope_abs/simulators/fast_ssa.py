"""Exact stochastic simulation (Gillespie's SSA) compiled in-process with numba.

From a :class:`~sciope_abs.crn.CRN` the simulator generates the Python source of a kernel:
propensity functions (mass action with binomial combinatorics, custom expressions translated by
:mod:`sciope_abs.simulators.expressions`), the reaction dependency graph compiled into one
update per reaction (stoichiometry and the propensities it changes), and one of four exact
loops over all points and trajectories (:mod:`sciope_abs.simulators._ssa_loops`): the direct
method, the direct method unrolled into registers (``unrolled``, default up to 24 reactions),
the sorting direct method with an incremental total (``dependency``, default above) or a
partial-sum tree (``tree``).  The source is written to a cache directory under a name derived
from its own hash — the model's *structure*, never its parameter values, which are runtime inputs — and
compiled with ``numba.njit(cache=True)``: a second process (a Dask worker) loads the machine
code from disk, and new parameter values never recompile.

Randomness: point ``i`` uses ``point_seeds(seed, n)[i]``; its trajectory ``j`` seeds a
xoshiro256** generator with words ``4j .. 4j+3`` of that sequence's ``generate_state``.  The
numbers therefore depend only on (seed, point, trajectory), never on batching or workers.
"""
from __future__ import annotations

import contextlib

import ast
import hashlib
import importlib.util
import math
import os
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType
from typing import Any, Sequence

import numpy as np

from .._checks import check_positive_float, check_positive_int, optional
from ..crn.model import CRN
from ..crn.resolve import as_crn
from ..seeding import SeedLike, point_seeds
from .base import Simulator, check_initial_state, check_theta, report_failures
from ._ssa_loops import EXPLOSION_EVENTS, UNROLLED_LANES_MAX_REACTIONS, fire_source, loop_source, unrolled_source
from .expressions import parse_expression

__all__ = ["FastSSASimulator", "default_cache_dir", "check_supported", "generate_kernel_source", "resolve_method",
           "resolve_lanes", "SSA_METHODS"]

#: Features a CRN-like object may carry that the compiled kernel does not implement.
_UNSUPPORTED_FIELDS = ("events", "assignment_rules", "rate_rules", "rules", "function_definitions")
_GILLESPY_HINT = "use solver='ssa' (GillesPy2) instead"

#: Default events allowed per trajectory: about 2-5 s of one core, so a runaway point fails in
#: seconds (an exploding one, rates ~1e300, fails at once: see ``EXPLOSION_EVENTS``).
DEFAULT_MAX_EVENTS = 10**8

# ------------------------------------------------------------------------------ model checks
def check_supported(model: CRN | str) -> CRN:
    """Return the CRN if the compiled kernel can simulate it, else raise a one-line ValueError.

    Unsupported: events, assignment/rate rules, function definitions (if the model object carries
    any), non-integer or negative stoichiometry, and propensity expressions outside the
    whitelist of :mod:`~sciope_abs.simulators.expressions`.  The message names the GillesPy2
    solver to use instead.
    """
    crn = as_crn(model, hint=_GILLESPY_HINT)
    for attr in _UNSUPPORTED_FIELDS:
        if getattr(crn, attr, None):
            raise ValueError(f"model {crn.name!r} has {attr.replace('_', ' ')}, which the fast SSA does "
                             f"not support; {_GILLESPY_HINT}")
    names = set(crn.species) | set(crn.parameters)
    for r in crn.reactions:
        for side in (r.reactants, r.products):
            for s, c in side.items():
                if not float(c).is_integer() or c < 0:
                    raise ValueError(f"model {crn.name!r}: reaction {r.name!r} has stoichiometry {c!r} for "
                                     f"{s!r}; the fast SSA needs non-negative integers; {_GILLESPY_HINT}")
        if r.propensity is not None:
            try:
                parse_expression(r.propensity, names)
            except ValueError as exc:
                raise ValueError(f"model {crn.name!r}, reaction {r.name!r}: {exc}; {_GILLESPY_HINT}") from None
    return crn


# ------------------------------------------------------------------------------ code generation
def _mass_action_source(rate_src: str, reactants: dict[int, int]) -> str:
    """``k * prod_i C(x_i, c_i)`` as source; ``reactants`` maps species index -> coefficient."""
    factors = [rate_src]
    for i, c in sorted(reactants.items()):
        c = int(c)
        if c == 0:
            continue
        terms = [f"x[{i}]"] + [f"(x[{i}] - {float(m)!r})" for m in range(1, c)]
        term = " * ".join(terms)
        factors.append(f"({term})" if c == 1 else f"({term} / {float(math.factorial(c))!r})")
    return " * ".join(factors)


_EXPENSIVE_CALLS = frozenset({"pow", "exp", "log", "sqrt"})
#: below these sizes the kernel recomputes every propensity after each event (straight-line,
#: branch-free code) and adds the dense stoichiometry row; above, it follows the dependency graph
#: and the sparse row.
_FULL_UPDATE_MAX_COST = 16
_DENSE_APPLY_MAX_SPECIES = 16
UPDATE_MODES = ("auto", "full", "dependency")
#: ``FastSSASimulator(method=...)``: the exact SSA variants (``_ssa_loops``) and "auto".
SSA_METHODS = ("auto", "direct", "unrolled", "dependency", "tree")
#: method="auto" unrolls networks up to this many reactions, above it follows the dependency graph
_UNROLLED_MAX_REACTIONS = 24


def _expression_cost(tree: ast.AST) -> int:
    """Rough cost of evaluating an expression: 1 + 8 per transcendental call or power."""
    heavy = sum(1 for node in ast.walk(tree)
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _EXPENSIVE_CALLS)
                or (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow)))
    return 1 + 8 * heavy


def _reaction_sources(crn: CRN) -> tuple[list[str], list[set[int]], list[int]]:
    """Per reaction: propensity source (reading ``x[i]``, ``p[k]``), species it reads, its cost."""
    s_pos = {s: i for i, s in enumerate(crn.species)}
    p_pos = {p: k for k, p in enumerate(crn.parameters)}
    lookup = {**{s: f"x[{i}]" for s, i in s_pos.items()}, **{p: f"p[{k}]" for p, k in p_pos.items()}}
    sources, reads, costs = [], [], []
    for r in crn.reactions:
        if r.propensity is not None:
            expr = parse_expression(r.propensity, lookup)
            sources.append(expr.to_source(lookup))
            reads.append({s_pos[nm] for nm in expr.names if nm in s_pos})
            costs.append(_expression_cost(expr.tree))
        elif r.rate is not None:
            reac = {s_pos[s]: int(c) for s, c in r.reactants.items() if int(c) > 0}
            sources.append(_mass_action_source(f"p[{p_pos[r.rate]}]", reac))
            reads.append(set(reac))
            costs.append(1)
        else:
            raise ValueError(f"reaction {r.name!r} has neither a rate nor a propensity")
    return sources, reads, costs


def resolve_method(model: CRN | str, method: str = "auto") -> str:
    """The SSA method ``method`` stands for: ``"auto"`` is ``"unrolled"`` for networks of 1 to
    :data:`_UNROLLED_MAX_REACTIONS` reactions and ``"dependency"`` for larger ones (the fastest
    on Gene, Vilar and EGFR in ``benchmarks/bench_ssa.py``)."""
    if method not in SSA_METHODS:
        raise ValueError(f"method must be one of {SSA_METHODS}, got {method!r}")
    if method == "unrolled" and not as_crn(model, hint=_GILLESPY_HINT).reactions:
        return "direct"
    if method != "auto":
        return method
    M = len(as_crn(model, hint=_GILLESPY_HINT).reactions)
    return "direct" if M == 0 else "unrolled" if M <= _UNROLLED_MAX_REACTIONS else "dependency"


def resolve_lanes(model: CRN | str, method: str = "auto", lanes: int | None = None) -> int:
    """Trajectories the compiled loop runs side by side: ``lanes`` if given (``method="unrolled"``
    only; 1 or 2), else 2 for the ``unrolled`` method up to
    :data:`~sciope_abs.simulators._ssa_loops.UNROLLED_LANES_MAX_REACTIONS` reactions and 1
    otherwise.  The numbers do not depend on it."""
    method = resolve_method(model, method)
    if lanes is None:
        M = len(as_crn(model, hint=_GILLESPY_HINT).reactions)
        return 2 if method == "unrolled" and M <= UNROLLED_LANES_MAX_REACTIONS else 1
    if isinstance(lanes, bool) or lanes not in (1, 2):
        raise ValueError(f"lanes must be 1, 2 or None, got {lanes!r}")
    if lanes == 2 and method != "unrolled":
        raise ValueError(f"lanes=2 needs method='unrolled', got method={method!r}")
    return int(lanes)


def generate_kernel_source(model: CRN | str, update: str = "auto", method: str = "auto",
                           lanes: int | None = None) -> str:
    """Python source of the compiled SSA kernel of ``model`` (no parameter values in it).

    Parameters
    ----------
    model : CRN or str
    update : {"auto", "full", "dependency"}
        ``method="direct"`` only: how propensities are refreshed after an event: all of them
        (cheap small networks), only those reading a species the reaction changed, or chosen
        from the network's size and the cost of its expressions.  Both give the same numbers.
    method : {"auto", "direct", "unrolled", "dependency", "tree"}
        The exact SSA variant (see :mod:`sciope_abs.simulators._ssa_loops`); ``"auto"``:
        :func:`resolve_method`.
    lanes : {1, 2}, optional
        Trajectories of a point run side by side (``unrolled`` only); default
        :func:`resolve_lanes`.  The numbers do not depend on it.
    """
    if update not in UPDATE_MODES:
        raise ValueError(f"update must be one of {UPDATE_MODES}, got {update!r}")
    crn = check_supported(model)
    method = resolve_method(crn, method)
    lanes = resolve_lanes(crn, method, lanes)
    sources, reads, costs = _reaction_sources(crn)
    nu = crn.stoichiometry()
    M, S = nu.shape
    changes = [set(np.flatnonzero(nu[j]).tolist()) for j in range(M)]
    deps = [[m for m in range(M) if reads[m] & changes[j]] for j in range(M)]
    if update == "auto":
        update = "full" if sum(costs) <= _FULL_UPDATE_MAX_COST else "dependency"
    inline = "@njit(cache=True, nogil=True, error_model='numpy', inline='always')"
    lines = [
        "# Generated by sciope_abs.simulators.fast_ssa from the structure of a reaction network.",
        "# Parameters are runtime inputs; this file holds no parameter values. Do not edit.",
        "# species: " + ", ".join(f"x[{i}]={s}" for i, s in enumerate(crn.species)),
        "# parameters: " + ", ".join(f"p[{k}]={p}" for k, p in enumerate(crn.parameters)),
        f"# method: {method}" + (f", propensity update: {update}" if method == "direct" else "")
        + (f", lanes: {lanes}" if method == "unrolled" else ""),
        "import math",
        "import time",
        "",
        "import numpy as np",
        "from numba import njit, objmode",
        "",
        "",
        inline,
        "def _props_all(x, p, a):",
    ]
    for j, src in enumerate(sources):
        lines.append(f"    a[{j}] = {src}  # {crn.reactions[j].name}")
    lines += ["    return None", "", ""]
    if method == "direct":
        lines += _direct_update_source(sources, deps, update, S)
    elif method == "unrolled":
        p_pos = {p: k for k, p in enumerate(crn.parameters)}
        rates = [p_pos[r.rate] if r.rate is not None else None for r in crn.reactions]
        return ("\n".join(lines) + "\n" + loop_source(method)
                + unrolled_source(sources, nu, len(crn.parameters), rates, lanes))
    else:
        lines += fire_source(method, sources, nu, deps)
    return "\n".join(lines) + "\n" + loop_source(method, M)


def _direct_update_source(sources: Sequence[str], deps: Sequence[Sequence[int]], update: str, S: int) -> list[str]:
    """``_props_update`` and ``_apply`` of the direct method (the kernel before the dependency
    and tree methods, unchanged)."""
    deco = "@njit(cache=True, nogil=True, error_model='numpy')"
    # small helpers are inlined into the loop (numba IR level); _prop_one of a large network is not
    inline = "@njit(cache=True, nogil=True, error_model='numpy', inline='always')"
    if update == "full":
        lines = [inline, "def _props_update(j, x, p, a):", "    _props_all(x, p, a)", "    return None"]
    else:
        # the dependency graph as constant arrays: reaction j -> the propensities it changes,
        # and one function that evaluates propensity m (compact code for large networks)
        ptr: list[int] = [0]
        idx: list[int] = []
        for d in deps:
            idx.extend(d)
            ptr.append(len(idx))
        lines = [f"_DEP_PTR = np.array({ptr!r}, dtype=np.int64)",
                 f"_DEP_IDX = np.array({idx or [0]!r}, dtype=np.int64)",
                 "", "", deco, "def _prop_one(m, x, p):"]
        for m, src in enumerate(sources):
            lines += [f"    {'if' if m == 0 else 'elif'} m == {m}:", f"        return {src}"]
        lines += ["    return 0.0",
                  "", "", inline, "def _props_update(j, x, p, a):",
                  "    for q in range(_DEP_PTR[j], _DEP_PTR[j + 1]):",
                  "        m = _DEP_IDX[q]",
                  "        a[m] = _prop_one(m, x, p)",
                  "    return None"]
    lines += ["", "", inline, "def _apply(j, x, nu_ptr, nu_idx, nu_val, nu):"]
    if S <= _DENSE_APPLY_MAX_SPECIES:
        lines += ["    for q in range(x.shape[0]):", "        x[q] += nu[j, q]"]
    else:
        lines += ["    for q in range(nu_ptr[j], nu_ptr[j + 1]):", "        x[nu_idx[q]] += nu_val[q]"]
    lines.append("    return None")
    return lines


# ------------------------------------------------------------------------------ on-disk cache
def default_cache_dir() -> Path:
    """Where generated kernels and numba's compiled code live.

    ``$SCIOPE_ABS_CACHE_DIR/fast_ssa`` if set, else ``$XDG_CACHE_HOME/sciope_abs/fast_ssa``
    (``~/.cache/sciope_abs/fast_ssa``).
    """
    env = os.environ.get("SCIOPE_ABS_CACHE_DIR")
    if env:
        return Path(env).expanduser() / "fast_ssa"
    xdg = os.environ.get("XDG_CACHE_HOME")
    if not xdg:
        try:
            xdg = str(Path.home() / ".cache")
        except (RuntimeError, KeyError):  # no home directory: a private temporary folder
            return _temp_cache_dir()
    return Path(xdg).expanduser() / "sciope_abs" / "fast_ssa"


def _temp_cache_dir() -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"sciope_abs-{uid}" / "fast_ssa"


def _writable_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
        return path
    except OSError:
        fallback = _temp_cache_dir()
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback


def _write_once(path: Path, text: str) -> None:
    """Create ``path`` with ``text`` unless it already holds exactly that text.

    An existing identical file is never touched (numba's cache is keyed by the source file's
    modification time); a new one appears atomically, so concurrent processes agree.
    """
    with contextlib.suppress(OSError):
        if path.read_text() == text:
            return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".py")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        try:
            os.link(tmp, path)
        except FileExistsError:
            if path.read_text() != text:  # a stale or corrupt file of the same name
                os.replace(tmp, path)
                tmp = ""
        except OSError:
            os.replace(tmp, path)
            tmp = ""
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)


_KERNELS: dict[tuple[str, str], ModuleType] = {}
_LOCK = threading.Lock()


def _load_kernel(crn: CRN, cache_dir: Path | None, update: str = "auto",
                 method: str = "auto", lanes: int | None = None) -> tuple[ModuleType, str]:
    """The compiled kernel module of ``crn`` (per-process dict, then disk cache, then compile)."""
    source = generate_kernel_source(crn, update, method, lanes)
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    directory = str(cache_dir if cache_dir is not None else default_cache_dir())
    key = (digest, directory)
    with _LOCK:
        mod = _KERNELS.get(key)
        if mod is not None:
            return mod, digest
        folder = _writable_dir(Path(directory))
        path = folder / f"ssa_{digest}.py"
        _write_once(path, source)
        name = f"_sciope_abs_fast_ssa_{digest}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load the compiled SSA kernel {path}")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        try:
            spec.loader.exec_module(mod)  # compiles, or loads numba's on-disk cache
        except Exception:
            sys.modules.pop(name, None)
            raise
        _KERNELS[key] = mod
        return mod, digest


# ------------------------------------------------------------------------------ the simulator
class FastSSASimulator(Simulator):
    """Exact SSA (Gillespie's direct method and two faster exact variants) compiled with numba, in-process.

    Parameters
    ----------
    model : CRN or str
        A model, or the name of a library model.
    param_names : sequence of str, optional
        The parameters that ``theta`` sets (columns, in order); the others keep the model's
        defaults.  Default: the model's ``rate_ranges`` keys, or all parameters if it has none.
    species : sequence of str, optional
        Species recorded, in this order.  Default: all species in declared order.
    timespan : array of shape (T,), optional
        Recording times (strictly increasing; the simulation starts at ``timespan[0]``).
        Default: the model's ``timespan()``.
    max_events : int
        Events allowed per trajectory (default ``10**8``, seconds of compute); a point whose
        trajectory exceeds it fails (NaN traces and a :class:`SimulationWarning`) instead of
        running away.  A trajectory whose total propensity times the time left exceeds
        ``1e30`` expected events (rates near 1e300) fails at once.
    timeout : float, optional
        Wall-clock seconds allowed per parameter point (all its trajectories), checked every
        16384 events; a point that runs out gets NaN traces and a :class:`SimulationWarning`,
        the other points of the batch go on.  Default: no limit.
    cache_dir : str or Path, optional
        Folder for generated kernels and numba's cache (default :func:`default_cache_dir`).
    method : {"auto", "direct", "unrolled", "dependency", "tree"}
        The exact SSA variant (:mod:`sciope_abs.simulators._ssa_loops`): ``"direct"``
        (Gillespie's direct method with O(M) sums per event, the kernel before the others),
        ``"unrolled"`` (the direct method's rule in registers, ziggurat waiting times),
        ``"dependency"`` (compiled dependency graph, incremental total, adaptive linear search)
        or ``"tree"`` (compiled dependency graph, partial-sum tree); ``"auto"``:
        ``"unrolled"`` up to 24 reactions, ``"dependency"`` above.  All sample the same
        process; the numbers for a seed differ between methods, their distributions do not.
    update : {"auto", "full", "dependency"}
        ``method="direct"`` only: how propensities are refreshed after each event (see
        :func:`generate_kernel_source`); all modes give identical numbers.
    lanes : {1, 2}, optional
        ``method="unrolled"`` only: trajectories of a point the compiled loop runs side by side
        (default :func:`resolve_lanes`: 2 up to 12 reactions); identical numbers either way.

    Attributes
    ----------
    solver : str
        ``"fast_ssa"`` (the name :func:`~sciope_abs.simulators.make_simulator` knows it by).
    last_events_ : ndarray of shape (n,)
        Events fired per point during the last :meth:`simulate` call.

    Notes
    -----
    Custom propensities follow the whitelist of :mod:`~sciope_abs.simulators.expressions`.  A
    propensity that evaluates negative, NaN or infinite makes its point fail (the batch goes
    on).  Models with events or rules are refused with a ``ValueError`` naming the GillesPy2
    solver to use instead.
    """

    solver = "fast_ssa"

    def __init__(self, model: CRN | str, param_names: Sequence[str] | None = None,
                 species: Sequence[str] | None = None, timespan: np.ndarray | None = None, *,
                 max_events: int = DEFAULT_MAX_EVENTS, timeout: float | None = None,
                 cache_dir: str | os.PathLike | None = None, method: str = "auto", update: str = "auto",
                 lanes: int | None = None):
        crn = check_supported(model)
        self.model = crn
        if param_names is None:
            param_names = tuple(crn.rate_ranges) or tuple(crn.parameters)
        if isinstance(param_names, str):
            param_names = (param_names,)
        self.param_names = crn.check_parameter_names(param_names)
        if len(set(self.param_names)) != len(self.param_names):
            raise ValueError(f"param_names has duplicates: {list(self.param_names)}")
        if isinstance(species, str):
            species = (species,)
        self.species = tuple(crn.species) if species is None else tuple(species)
        self._out_idx = crn.species_index(self.species).astype(np.int64)
        self.timespan = self._check_timespan(crn.timespan() if timespan is None else timespan)
        self.max_events = check_positive_int(max_events, "max_events")
        self.timeout = optional(check_positive_float, timeout, "timeout", what="a positive number of seconds")
        if update not in UPDATE_MODES:
            raise ValueError(f"update must be one of {UPDATE_MODES}, got {update!r}")
        self.update = update
        self.method = resolve_method(crn, method)
        self.lanes = resolve_lanes(crn, self.method, lanes)
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self._p_default = np.array(list(crn.parameters.values()), dtype=np.float64)
        self._p_cols = np.array([list(crn.parameters).index(p) for p in self.param_names], dtype=np.intp)
        nu = crn.stoichiometry()
        ptr, idx, val = [0], [], []
        for row in nu:
            nz = np.flatnonzero(row)
            idx.extend(nz.tolist())
            val.extend(row[nz].astype(np.float64).tolist())
            ptr.append(len(idx))
        self._nu_ptr = np.array(ptr, dtype=np.int64)
        self._nu_idx = np.array(idx, dtype=np.int64)
        self._nu_val = np.array(val, dtype=np.float64)
        self._nu = np.ascontiguousarray(nu, dtype=np.float64)
        self._module: ModuleType | None = None
        self._kernel = None
        self.kernel_hash: str | None = None
        self.last_events_ = np.zeros(0, dtype=np.int64)

    @staticmethod
    def _check_timespan(timespan) -> np.ndarray:
        try:
            ts = np.asarray(timespan, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"timespan must be a 1-D array of times, got {type(timespan).__name__}") from None
        if ts.ndim != 1 or ts.size < 1:
            raise ValueError(f"timespan must be a non-empty 1-D array, got shape {ts.shape}")
        if not np.isfinite(ts).all():
            raise ValueError("timespan holds non-finite times")
        if ts.size > 1 and not (np.diff(ts) > 0).all():
            raise ValueError("timespan must be strictly increasing")
        return np.ascontiguousarray(ts)

    # ------------------------------------------------------------------ compilation
    def compile(self) -> "FastSSASimulator":
        """Load (or compile, first time on this machine) the kernel now; returns ``self``."""
        if self._kernel is None:
            mod, digest = _load_kernel(self.model, self.cache_dir, self.update, self.method,
                                       getattr(self, "lanes", None))
            self._module = mod
            self._kernel = mod.ssa_run
            self.kernel_hash = digest
        return self

    @property
    def kernel(self) -> Any:
        """The numba dispatcher of the compiled direct-method loop."""
        return self.compile()._kernel

    def _loaded_module(self) -> ModuleType:
        """The kernel module, compiled or loaded on first use."""
        mod = self.compile()._module
        if mod is None:
            raise RuntimeError(f"the SSA kernel of {self.model.name!r} did not load")
        return mod

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_module"] = None
        state["_kernel"] = None  # reloaded from the per-process dict / disk cache on the worker
        return state

    # ------------------------------------------------------------------ simulation
    def trajectory_states(self, n: int, n_traj: int, seed: SeedLike | Sequence[np.random.SeedSequence]) -> np.ndarray:
        """The xoshiro256** states, shape ``(n, n_traj, 4)`` uint64, each trajectory starts from.

        Trajectory ``j`` of point ``i`` uses words ``4j .. 4j+3`` of
        ``point_seeds(seed, n)[i].generate_state(4 * n_traj, numpy.uint64)``.
        """
        out = np.zeros((n, n_traj, 4), dtype=np.uint64)
        self._loaded_module().trajectory_states(self._pools(n, seed), np.int64(n_traj), out)
        return out

    @staticmethod
    def _pools(n: int, seed) -> np.ndarray:
        pools = np.empty((n, 4), dtype=np.uint32)
        for i, ss in enumerate(point_seeds(seed, n)):
            pools[i] = ss.pool
        return pools

    def simulate(self, theta: np.ndarray, *, n_traj: int = 1, seed: SeedLike = None,
                 initial_state: np.ndarray | None = None) -> np.ndarray:
        """Simulate ``n_traj`` trajectories at each of the ``n`` parameter points.

        Parameters
        ----------
        theta : array, shape (n, d)
            Values of :attr:`param_names`.
        n_traj : int
            Trajectories per point.
        seed : int, SeedSequence or list of n SeedSequence
            Point ``i`` uses ``point_seeds(seed, n)[i]``.
        initial_state : array, shape (S,) or (n, S), optional
            Initial counts in the order of :attr:`species` (species not recorded keep their
            default count); an array over all model species (declared order) is accepted too.

        Returns
        -------
        ndarray of shape (n, n_traj, S, T), float64
            ``S`` = :attr:`species`, ``T`` = :attr:`timespan`; failed points are NaN.
        """
        theta = check_theta(theta, self.param_names)
        n = theta.shape[0]
        n_traj = check_positive_int(n_traj, "n_traj")
        x0 = self._initial_states(initial_state, n)
        P = np.empty((n, self._p_default.size), dtype=np.float64)
        P[:] = self._p_default
        P[:, self._p_cols] = theta
        pools = self._pools(n, seed)
        out = np.empty((n, n_traj, len(self.species), self.timespan.size), dtype=np.float64)
        status = np.zeros(n, dtype=np.int64)
        events = np.zeros(n, dtype=np.int64)
        if n > 0:
            self.kernel(self._nu_ptr, self._nu_idx, self._nu_val, self._nu, P, x0,
                        self.timespan, self._out_idx, pools, np.int64(n_traj), np.int64(self.max_events),
                        np.float64(np.inf if self.timeout is None else self.timeout), out, status, events)
        self.last_events_ = events
        if status.any():
            failed = np.flatnonzero(status)
            out[failed] = np.nan
            report_failures({int(i): self._describe_failure(int(status[i])) for i in failed}, n)
        return out

    def propensities(self, state: np.ndarray, theta: np.ndarray | None = None) -> np.ndarray:
        """Evaluate the compiled propensity functions.

        Parameters
        ----------
        state : array, shape (n, S_model) or (S_model,)
            Counts of all model species in declared order.
        theta : array, shape (n, d) or (d,), optional
            Values of :attr:`param_names` (default: the model's).

        Returns
        -------
        ndarray of shape (n, M)
            One column per reaction, in the model's order.
        """
        x = np.asarray(state, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        S = self.model.n_species
        if x.ndim != 2 or x.shape[1] != S:
            raise ValueError(f"state must have shape (n, {S}) for species {list(self.model.species)}, got {np.shape(state)}")
        n = x.shape[0]
        P = np.tile(self._p_default, (n, 1))
        if theta is not None:
            th = check_theta(theta, self.param_names)
            if th.shape[0] == 1 and n > 1:
                th = np.repeat(th, n, axis=0)
            if th.shape[0] != n:
                raise ValueError(f"theta has {th.shape[0]} rows for {n} states")
            P[:, self._p_cols] = th
        out = np.zeros((n, len(self.model.reactions)), dtype=np.float64)
        self._loaded_module().props_batch(np.ascontiguousarray(x), P, out)
        return out

    def _initial_states(self, initial_state, n: int) -> np.ndarray:
        """Initial counts of all model species, shape (n, S_model), float64 (C order)."""
        default = self.model.default_initial_state()
        if initial_state is None:
            x0 = np.empty((n, default.size), dtype=np.float64)
            x0[:] = default
            return x0
        width = np.shape(initial_state)[-1] if np.ndim(initial_state) else -1
        if width == len(self.species):
            given = check_initial_state(initial_state, n, self.species, default[self._out_idx])
            x0 = np.tile(default, (n, 1))
            x0[:, self._out_idx] = given
        else:
            x0 = check_initial_state(initial_state, n, self.model.species, default)
        return np.ascontiguousarray(x0, dtype=np.float64)

    def _describe_failure(self, code: int) -> str:
        if code == -1:
            return f"more than max_events={self.max_events} events in one trajectory"
        if code == -2:
            return f"timed out after {self.timeout} s"
        if code == -3:
            return (f"the total propensity times the time left exceeded {EXPLOSION_EVENTS:g} expected events "
                    "(exploding rates)")
        if code > len(self.model.reactions):
            return "the total propensity overflowed to infinity"
        r = self.model.reactions[code - 1]
        return f"propensity of reaction {r.name!r} became negative, NaN or infinite"

    def __repr__(self) -> str:
        return (f"FastSSASimulator({self.model.name!r}, method={self.method!r}, params={list(self.param_names)}, "
                f"species={list(self.species)}, T={self.timespan.size})")

