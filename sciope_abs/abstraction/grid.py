"""A grid of emulated agents: the multi-scale simulation of the seed paper, section 7.

:class:`GridSimulator` advances a ``rows x cols`` grid of copies of a single-agent network whose
shared species diffuse between von Neumann neighbours, with a trained single-agent
:class:`~sciope_abs.abstraction.emulator.Emulator` in place of SSA.  Per time step ``dt`` (the
emulator's):

1. **reaction step** — every node of every trajectory is one row of a single batched network
   call: the emulator's own compiled one-step sampler (network, mixture draw, rounding,
   clipping, conservation projection), fed with the counter-based noise
   :meth:`Emulator.rollout` uses;
2. **diffusion step** — the shared species move by the exact law of independent molecules
   over the step: a molecule hopping to each neighbour at rate ``D`` (reflecting or periodic
   boundary) ends, after time ``h``, at node ``b`` with probability ``exp(Q h)[a, b]`` (``Q``
   the walk's generator; several hops within ``h`` included).  The 2-D walk is two independent
   1-D walks (rows, columns), so the molecules of each node are spread by a multinomial along
   the columns and then, from where they landed, along the rows: exact (up to the
   :data:`BAND_TOL` = 1e-12 of probability mass beyond a few nodes that the draw leaves out),
   and conserving the number of molecules.

Absorbing cells (``absorbing="keep"``, default): a node whose agent state has total propensity
0 — an empty cell, calm bees without pheromone — cannot change in the exact process until
something diffuses in; such rows are kept as they are instead of being emulated (the paper's
emulator, never trained on empty cells, drifted there).  The propensities come from the agent's
compiled SSA kernel.

``splitting="strang"`` (default) runs diffusion for ``dt/2`` before and after the reaction step
(second-order splitting), ``"lie"`` one diffusion step of ``dt`` after it.  Splitting is the only
approximation besides the emulator: reactions and diffusion act in turn, not together.  On the
honeybee grid (hop rate 0.2, ``dt`` = 0.5) a grid whose reaction step is the exact SSA is as close
to the exact composite SSA as a second exact ensemble (``benchmarks/bench_grid.py``): what is
left is the emulator's one-step law, so train it for grid use with
:func:`~sciope_abs.abstraction.grid_design.build_grid_dataset` (from the states an exact small
grid visits) and :func:`~sciope_abs.abstraction.grid_design.train_for_grid` (categorical
increments).

Randomness: point ``i`` uses ``point_seeds(seed, n)[i]`` for the network noise (the emulator's
counter-based noise keyed by it, node ``k`` of trajectory ``j`` counted as trajectory
``j * N + k``, see :func:`.rollout.host_step_noise`) and a sequence derived
from it for the diffusion, so a grid of one node with ``absorbing="emulate"`` reproduces the
emulator's rollout for the same seed, and no point depends on the others in its batch.
"""
from __future__ import annotations

import time
from typing import Any, Mapping, Sequence, cast

import numpy as np

from ..crn.grid import GridSpec, colony_totals
from ..seeding import SeedLike, point_seeds
from ..simulators.base import Simulator, check_initial_state, check_theta
from .rollout import host_step_noise, point_keys

__all__ = ["GridSimulator", "AxisKernel", "diffusion_kernels", "diffusion_step", "SPLITTINGS", "ABSORBING", "BAND_TOL"]

SPLITTINGS = ("strang", "lie")
ABSORBING = ("keep", "emulate")
#: last spawn-key word of the diffusion stream derived from a point's seed sequence
_DIFFUSION_KEY = 0x5EED_D1FF


#: probability mass of one molecule's walk left out of the multinomial (beyond the band)
BAND_TOL = 1e-12


class AxisKernel:
    """One molecule's transition law over a sub-step along one grid axis.

    ``K[a, b]`` is the probability to be at ``b`` after the sub-step having started at ``a``.
    Draws use the band ``b - a in [-w, w]`` (``w`` the smallest width leaving out less than
    :data:`BAND_TOL` of any row's mass, which is renormalised), or the whole row when the band
    would cover the axis.
    """

    def __init__(self, K: np.ndarray, periodic: bool):
        self.K = np.asarray(K, dtype=np.float64)
        self.offsets: np.ndarray | None
        self.band: np.ndarray | None
        L = self.K.shape[0]
        a = np.arange(L)[:, None]
        for w in range(L):
            if 2 * w + 1 >= L:
                self.offsets, self.band = None, None
                break
            off = np.arange(-w, w + 1)[None, :]
            dest = a + off
            inside = (dest >= 0) & (dest < L)
            band = np.where(periodic | inside, self.K[a, dest % L], 0.0)
            if (1.0 - band.sum(axis=1)).max() < BAND_TOL:
                self.offsets, self.band = np.arange(-w, w + 1), band / band.sum(axis=1, keepdims=True)
                break
        self.periodic = bool(periodic)

    @property
    def size(self) -> int:
        return self.K.shape[0]


def diffusion_kernels(spec: GridSpec, rate: float, h: float) -> tuple[AxisKernel, AxisKernel]:
    """One molecule's transition laws over time ``h`` along rows and along columns.

    Parameters
    ----------
    spec : GridSpec
    rate : float
        Hop rate to each neighbour.
    h : float
        Duration.

    Returns
    -------
    (AxisKernel, AxisKernel)
        Along rows (``rows x rows``) and columns (``cols x cols``); the full 2-D law is the
        Kronecker product of their matrices ``K``.
    """
    from scipy.linalg import expm

    out = []
    for axis in (0, 1):
        K = np.clip(expm(spec.axis_generator(axis, rate) * float(h)), 0.0, None)
        out.append(AxisKernel(K / K.sum(axis=1, keepdims=True), spec.boundary == "periodic"))
    return out[0], out[1]


def _spread_last_axis(counts: np.ndarray, kern: AxisKernel, rng: np.random.Generator) -> np.ndarray:
    """Multinomial spread of ``counts (m, L)`` along the last axis by the law ``kern``."""
    m, L = counts.shape
    out = np.zeros_like(counts)
    rows, src = np.nonzero(counts)
    if rows.size == 0:
        return out
    if kern.band is None or kern.offsets is None:
        np.add.at(out, rows, rng.multinomial(counts[rows, src], kern.K[src]))
        return out
    draws = rng.multinomial(counts[rows, src], kern.band[src])           # (k, 2w + 1)
    dest = (src[:, None] + kern.offsets[None, :]) % L                    # zero-probability cells get 0
    np.add.at(out, (np.broadcast_to(rows[:, None], dest.shape), dest), draws)
    return out


def diffusion_step(counts: np.ndarray, kernels: tuple[AxisKernel, AxisKernel], rng: np.random.Generator) -> np.ndarray:
    """Move independent molecules by the exact law of their random walk over one sub-step.

    Parameters
    ----------
    counts : int array (B, rows, cols)
        Molecules of one shared species per grid node, for ``B`` grids.
    kernels : (AxisKernel, AxisKernel)
        Along rows and columns, from :func:`diffusion_kernels`.
    rng : numpy Generator

    Returns
    -------
    int array (B, rows, cols)
        Same total per grid (every molecule lands somewhere).
    """
    counts = np.asarray(counts, dtype=np.int64)
    B, R, C = counts.shape
    K_rows, K_cols = kernels
    if K_rows.size != R or K_cols.size != C:
        raise ValueError(f"kernels of sizes {K_rows.size}, {K_cols.size} do not fit a {R}x{C} grid")
    x = counts
    if C > 1:
        x = _spread_last_axis(x.reshape(B * R, C), K_cols, rng).reshape(B, R, C)
    if R > 1:
        xt = np.ascontiguousarray(x.transpose(0, 2, 1)).reshape(B * C, R)
        x = _spread_last_axis(xt, K_rows, rng).reshape(B, C, R).transpose(0, 2, 1)
    return np.ascontiguousarray(x)


class GridSimulator(Simulator):
    """A grid of emulated agents with diffusing shared species (a :class:`Simulator`).

    Parameters
    ----------
    emulator : Emulator
        Trained single-agent emulator; its ``dt`` is the grid's step and its rates
        (``param_names``) are shared by all nodes.
    shape : (rows, cols)
    shared : dict[str, float]
        Shared species -> hop rate to each neighbour (as in :func:`~sciope_abs.crn.compose_grid`).
    boundary : {"reflecting", "periodic"}
    n_steps : int, optional
        Default rollout length (default: the emulator's).
    splitting : {"strang", "lie"}
    absorbing : {"keep", "emulate"}
        ``"keep"`` (default): a node whose agent state has total propensity 0 (no bees that can
        change, no pheromone) is absorbing in the exact process and stays as it is; only the
        other rows go through the network.  ``"emulate"``: every row is emulated (a grid of one
        node is then exactly :meth:`Emulator.rollout`).

    Attributes
    ----------
    spec : GridSpec
    species : tuple of str
        Composite species, node-major (``Bee_0_0, BeeA_0_0, ..., P_rows-1_cols-1``), the order of
        ``compose_grid(...).species``.
    last_seconds_ : dict
        Wall time of the last rollout spent in the network (``"network"``) and in diffusion.
    """

    def __init__(self, emulator: Any, shape: Sequence[int], shared: Mapping[str, float] | None = None,
                 boundary: str = "reflecting", n_steps: int | None = None, splitting: str = "strang",
                 absorbing: str = "keep"):
        if not hasattr(emulator, "_build_step") or not hasattr(emulator, "model"):
            raise ValueError(f"GridSimulator needs a single-agent Emulator, got {type(emulator).__name__}")
        if splitting not in SPLITTINGS:
            raise ValueError(f"splitting must be one of {SPLITTINGS}, got {splitting!r}")
        if absorbing not in ABSORBING:
            raise ValueError(f"absorbing must be one of {ABSORBING}, got {absorbing!r}")
        self.absorbing = absorbing
        self._propensity_sim: Any = None  # a FastSSASimulator, made on first use
        self.emulator = emulator
        self.spec = GridSpec(emulator.model, cast("tuple[int, int]", tuple(shape)), dict(shared or {}),
                             boundary)  # the shape is checked there
        self.splitting = splitting
        self.param_names = tuple(emulator.param_names)
        self.species = self.spec.species
        self.agent_species = tuple(emulator.species)
        self.dt = float(emulator.dt)
        self.n_steps = int(emulator.n_steps if n_steps is None else n_steps)
        if self.n_steps < 1:
            raise ValueError(f"n_steps must be >= 1, got {n_steps}")
        self.timespan = np.arange(self.n_steps + 1, dtype=np.float64) * self.dt
        h = self.dt / 2 if splitting == "strang" else self.dt
        self._shared_idx = [self.agent_species.index(s) for s in self.spec.shared]
        self._kernels = [diffusion_kernels(self.spec, D, h) for D in self.spec.shared.values()]
        self.last_seconds_ = {"network": 0.0, "diffusion": 0.0}

    # ------------------------------------------------------------------ one step
    def _diffuse(self, x: np.ndarray, gens: list) -> None:
        """In place: diffuse the shared species of ``x`` (n, r, N, S), point ``i`` with ``gens[i]``."""
        R, C = self.spec.shape
        n, r = x.shape[:2]
        for k, kern in zip(self._shared_idx, self._kernels):
            for i, g in enumerate(gens):
                x[i, :, :, k] = diffusion_step(x[i, :, :, k].reshape(r, R, C), kern, g).reshape(r, R * C)

    def _react(self, prev: np.ndarray, rates_rows: np.ndarray, keys: np.ndarray, traj: np.ndarray,
               t: int) -> np.ndarray:
        """The emulator's one step for all rows ``prev (m, S)``: its compiled sampler, then its
        exact projection onto the conservation laws (a row no repair can fill keeps ``prev``).
        With ``absorbing="keep"`` only the rows that can move go through the network."""
        import tensorflow as tf

        emu = self.emulator
        totals = emu._totals(prev)   # per node, now: a law may hold a shared species that moved
        has_laws = totals.shape[1] > 0 and hasattr(emu, "project")
        # the emulator's own counter-based noise: row (point i, trajectory j, node k) is trajectory
        # j * N + k of point i, so a grid of one node draws exactly what Emulator.rollout draws
        u, eps, ties = host_step_noise(keys, traj, t, len(self.agent_species), has_laws)
        rows = slice(None) if self.absorbing == "emulate" else np.flatnonzero(self._can_move(prev, rates_rows))
        y = prev.copy()
        if isinstance(rows, slice) or rows.size:
            z = emu._step_fn(tf.constant(prev[rows], tf.float32), tf.constant(rates_rows[rows], tf.float32),
                             tf.constant(totals[rows], tf.float32), tf.constant(u[rows]), tf.constant(eps[rows]))
            emu.n_network_calls += 1
            z = z.numpy().astype(np.float64)
            if ties is not None:  # drawn exactly when the laws apply
                z = emu.project(z, totals[rows], ties[rows], fallback=prev[rows])
            y[rows] = z
        return y

    def _can_move(self, states: np.ndarray, rates_rows: np.ndarray) -> np.ndarray:
        """Rows whose agent state has a positive total propensity (the others are absorbing)."""
        if self._propensity_sim is None:
            from ..simulators import FastSSASimulator

            self._propensity_sim = FastSSASimulator(self.emulator.model, param_names=self.param_names)
        theta = rates_rows if rates_rows.shape[1] else None
        a = self._propensity_sim.propensities(states, theta)
        return ~(np.nan_to_num(a, nan=1.0) <= 0).all(axis=1)

    # ------------------------------------------------------------------ rollout
    def rollout(self, initial_states: Any, rates: Any = None, n_steps: int | None = None, n_traj: int = 1,
                seed: SeedLike | Sequence = None, record: str = "all") -> np.ndarray:
        """Roll out ``n_traj`` grid trajectories from each of ``n`` settings.

        Parameters
        ----------
        initial_states : array (n, N * S) or (N * S,)
            Composite counts (node-major, see :attr:`species`), e.g. from
            :func:`~sciope_abs.crn.grid_initial_state`.
        rates : array (n, p) or (p,), optional
            Values of :attr:`param_names` (p may be 0).
        n_steps : int, optional
        n_traj : int
        seed : int, SeedSequence or list of n SeedSequences
        record : {"all", "colony"}
            ``"colony"`` keeps only the per-species sums over the nodes (large grids).

        Returns
        -------
        array (n, n_traj, N * S, n_steps + 1), or (n, n_traj, S, n_steps + 1) with
        ``record="colony"``; float64 integer counts.
        """
        if record not in ("all", "colony"):
            raise ValueError(f"record must be 'all' or 'colony', got {record!r}")
        emu, N, S, p = self.emulator, self.spec.n_nodes, len(self.agent_species), len(self.param_names)
        n_steps = self.n_steps if n_steps is None else int(n_steps)
        r = int(n_traj)
        if n_steps < 0 or r < 1:
            raise ValueError(f"n_steps must be >= 0 and n_traj >= 1, got {n_steps} and {n_traj}")
        st = np.asarray(initial_states, dtype=np.float64)
        n = 1 if st.ndim == 1 else st.shape[0]
        default = np.tile(emu.model.default_initial_state(), N)
        states = check_initial_state(st, n, self.species, default)
        rates = np.empty((n, 0)) if rates is None else np.asarray(rates, dtype=np.float64)
        if rates.ndim == 1 and rates.shape[0] == p:
            rates = np.tile(rates, (n, 1))
        if rates.shape != (n, p):
            raise ValueError(f"rates must have shape ({n}, {p}) for {list(self.param_names)}, got {rates.shape}")
        rates = emu._check_rates(check_theta(rates, self.param_names))
        width = N * S if record == "all" else S
        out = np.empty((n, r, width, n_steps + 1), dtype=np.float64)
        x = np.repeat(states.reshape(n, 1, N, S), r, axis=1)  # (n, r, N, S) int64
        out[..., 0] = self._record(x, record)
        if n == 0 or n_steps == 0:
            return out
        if emu._step_fn is None:
            emu._step_fn = emu._build_step()
        seqs = point_seeds(seed, n)
        keys = np.repeat(point_keys(seqs).astype(np.uint64), r * N, axis=0)   # (n*r*N, 2) per point
        traj = np.tile(np.arange(r * N, dtype=np.uint64), n)                   # trajectory j, node k: j*N + k
        dgens = [np.random.default_rng(np.random.SeedSequence(s.entropy, spawn_key=tuple(s.spawn_key) + (_DIFFUSION_KEY,),
                                                              pool_size=s.pool_size)) for s in seqs]
        rates_rows = np.repeat(rates, r * N, axis=0)
        t_net = t_dif = 0.0
        diffuse = bool(self._shared_idx) and N > 1
        for t in range(1, n_steps + 1):
            t0 = time.perf_counter()
            if diffuse and self.splitting == "strang":
                self._diffuse(x, dgens)
            t1 = time.perf_counter()
            y = self._react(x.reshape(n * r * N, S).astype(np.float64), rates_rows, keys, traj, t - 1)
            x = y.astype(np.int64).reshape(n, r, N, S)
            t2 = time.perf_counter()
            if diffuse:
                self._diffuse(x, dgens)
            t_dif += (t1 - t0) + (time.perf_counter() - t2)
            t_net += t2 - t1
            out[..., t] = self._record(x, record)
        self.last_seconds_ = {"network": t_net, "diffusion": t_dif}
        return out

    def _record(self, x: np.ndarray, record: str) -> np.ndarray:
        n, r, N, S = x.shape
        return x.reshape(n, r, N * S) if record == "all" else x.sum(axis=2)

    def simulate(self, theta: Any, *, n_traj: int = 1, seed: SeedLike | Sequence = None,
                 initial_state: Any = None) -> np.ndarray:
        """Simulator protocol: ``theta`` (n, p) -> traces (n, n_traj, N * S, n_steps + 1).

        ``initial_state`` is (N * S,) or (n, N * S) in the order of :attr:`species`; default:
        the agent's default state at every node.
        """
        theta = check_theta(theta, self.param_names)
        n = theta.shape[0]
        default = np.tile(self.emulator.model.default_initial_state(), self.spec.n_nodes)
        states = check_initial_state(initial_state, n, self.species, default)
        return self.rollout(states, theta, self.n_steps, n_traj, seed)

    def colony(self, traces: np.ndarray) -> np.ndarray:
        """Per-species totals over the nodes of composite traces: (..., N * S, T) -> (..., S, T)."""
        return colony_totals(traces, self.spec)

    def __repr__(self) -> str:
        R, C = self.spec.shape
        return (f"GridSimulator({self.emulator.model.name!r}, {R}x{C}, shared={self.spec.shared}, "
                f"boundary={self.spec.boundary!r}, dt={self.dt:g}, n_steps={self.n_steps}, "
                f"splitting={self.splitting!r}, absorbing={self.absorbing!r})")
