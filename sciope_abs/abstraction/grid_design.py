"""Training data for an agent that will live on a grid: the states the grid takes it to.

The seed paper's grid of emulated honeybee cells was unfaithful because the single-agent
emulator was never trained on the cells the grid produces: empty or near-empty cells, cells
holding only pheromone, and cells whose pheromone arrives from (or leaves to) neighbours between
steps.  This module builds a dataset that covers them.

:func:`grid_training_states` draws initial states from a mixture of *kinds* of cell:

``"wide"``
    every species uniform on ``[0, high]`` (species without a range, such as the bees'
    aggressive and dead counts, get the widest non-shared range; shared species a widened one);
``"empty"``
    no molecule of any *active* species (inert species, which take part in no reaction as a
    reactant or in a propensity, such as dead bees, keep a random count);
``"shared_only"``
    only shared species (pheromone without bees);
``"near_empty"``
    active species uniform on ``[0, 3]``;
``"no_shared"``
    no shared species (calm bees and no pheromone: nothing may happen);
``"visited"``
    a node state drawn from a pool of states an exact grid visits
    (:func:`exact_grid_states`: the exact composite SSA of a small grid, the absorbing states
    the emulated grid keeps as they are left out).  With a pool, the default mixture
    (:data:`VISITED_FRACTIONS`) draws most chains from it.

:func:`build_grid_dataset` simulates chains of exact SSA steps from such states and, between
two steps, exchanges shared molecules with an imagined neighbourhood: each molecule leaves with
a per-chain probability and a Poisson number arrives (the inflow the cell sees on the grid).
Every step of every chain is one setting of an :class:`~sciope_abs.abstraction.dataset.AbstractionDataset`
with ``n_steps = 1`` (pairs ``(state after exchange) -> (state one dt later)``), split by chain so
that no chain contributes to two splits; the dataset then trains like any other
(:func:`~sciope_abs.abstraction.training.train`), or with :func:`train_for_grid`, which models
the increments of the species categorically (a grid cell's counts change by a few molecules a
step, mostly not at all: a Normal mixture rounded afterwards puts mass on changes that the exact
process makes rarely, and on a grid those errors add up over nodes and steps).
"""
from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import numpy as np

from .._checks import check_nonneg_int, check_positive_int
from ..crn.model import CRN
from ..seeding import SeedLike, as_generator, as_seed_sequence
from .dataset import AbstractionDataset, _check_split, _split_counts, _vary_tuple

__all__ = ["CELL_KINDS", "DEFAULT_FRACTIONS", "VISITED_FRACTIONS", "grid_training_states", "inert_species",
           "build_grid_dataset", "exact_grid_states", "train_for_grid"]

CELL_KINDS = ("wide", "empty", "shared_only", "near_empty", "no_shared", "visited")
DEFAULT_FRACTIONS = {"wide": 0.4, "empty": 0.1, "shared_only": 0.15, "near_empty": 0.2, "no_shared": 0.15}
#: the default mixture when a pool of visited states is given
VISITED_FRACTIONS = {"visited": 0.7, "wide": 0.1, "shared_only": 0.1, "near_empty": 0.1}


def inert_species(crn: CRN) -> tuple[str, ...]:
    """Species that are no reactant and appear in no custom propensity (they only accumulate)."""
    from ..simulators.expressions import parse_expression

    names = set(crn.species) | set(crn.parameters)
    read = set()
    for r in crn.reactions:
        read |= {s for s, c in r.reactants.items() if c > 0}
        if r.propensity is not None:
            read |= set(parse_expression(r.propensity, names).names) & set(crn.species)
    return tuple(s for s in crn.species if s not in read)


def _check_fractions(fractions: Mapping[str, float]) -> dict[str, float]:
    unknown = set(fractions) - set(CELL_KINDS)
    if unknown:
        raise ValueError(f"unknown cell kind(s) {sorted(unknown)} in fractions; kinds are {list(CELL_KINDS)}")
    fr = {k: float(fractions.get(k, 0.0)) for k in CELL_KINDS}
    if any(not np.isfinite(v) or v < 0 for v in fr.values()) or sum(fr.values()) <= 0:
        raise ValueError(f"fractions must be non-negative with a positive sum, got {dict(fractions)}")
    total = sum(fr.values())
    return {k: v / total for k, v in fr.items()}


def _highs(crn: CRN, shared: Sequence[str], shared_high: int | None,
           highs: Mapping[str, int] | None = None) -> np.ndarray:
    his = {s: hi for s, (lo, hi) in crn.initial_ranges.items()}
    base = max([hi for s, hi in his.items() if s not in shared] or [max(his.values(), default=10)])
    high = np.array([his.get(s, base) for s in crn.species], dtype=np.int64)
    for s in shared:
        k = crn.species.index(s)
        high[k] = int(shared_high) if shared_high is not None else 3 * int(his.get(s, base))
    for s, v in dict(highs or {}).items():
        if s not in crn.species:
            raise ValueError(f"highs names unknown species {s!r}; model {crn.name!r} has {list(crn.species)}")
        high[crn.species.index(s)] = check_nonneg_int(v, f"highs[{s!r}]")
    return high


def grid_training_states(crn: CRN, n: int, shared: Sequence[str] = ("P",), *,
                         fractions: Mapping[str, float] | None = None, shared_high: int | None = None,
                         highs: Mapping[str, int] | None = None, pool: Any = None,
                         seed: SeedLike = None) -> tuple[np.ndarray, np.ndarray]:
    """Initial states covering what a grid cell goes through.

    Parameters
    ----------
    crn : CRN
        The single agent.
    n : int
        Number of states.
    shared : sequence of str
        The species that diffuse on the grid.
    fractions : dict kind -> weight, optional
        Mixture of :data:`CELL_KINDS` (default :data:`DEFAULT_FRACTIONS`); normalised.
    shared_high : int, optional
        Upper end for shared species in ``"wide"`` and ``"shared_only"`` cells (default 3 x the
        model's range).
    highs : dict species -> int, optional
        Upper ends of the ``"wide"`` ranges, overriding the defaults above: the counts a grid
        cell can reach (e.g. ``{"Bee": 10, "BeeA": 10, "BeeD": 10, "P": 20}`` for 10 bees a node).
    pool : int array (m, S), optional
        States of the ``"visited"`` kind, drawn uniformly with replacement (e.g. from
        :func:`exact_grid_states`); given, the default mixture is :data:`VISITED_FRACTIONS`.
    seed : int or SeedSequence

    Returns
    -------
    states : int64 array (n, S)
        Conserved pairs of the model (``complements``) hold with the model's totals.
    kinds : array (n,) of str
        The kind of each state.
    """
    check_positive_int(n, "n")
    shared = tuple(shared)
    unknown = [s for s in shared if s not in crn.species]
    if unknown:
        raise ValueError(f"shared species {unknown} are not species of model {crn.name!r} ({list(crn.species)})")
    pool = _check_pool(crn, pool)
    fr = _check_fractions(_default_fractions(pool) if fractions is None else fractions)
    if fr["visited"] > 0 and pool is None:
        raise ValueError("fractions ask for 'visited' cells but no pool of visited states was given")
    rng = as_generator(seed)
    S = crn.n_species
    high = _highs(crn, shared, shared_high, highs)
    inert = np.isin(crn.species, inert_species(crn))
    sh = np.isin(crn.species, shared)
    active = ~inert & ~sh
    kinds = rng.choice(np.array(CELL_KINDS), size=int(n), p=[fr[k] for k in CELL_KINDS])
    x = rng.integers(0, high + 1, size=(int(n), S))           # "wide"
    small = rng.integers(0, 4, size=(int(n), S))
    for kind, rows in ((k, kinds == k) for k in CELL_KINDS):
        if kind == "empty":
            x[np.ix_(rows, ~inert)] = 0
        elif kind == "shared_only":
            x[np.ix_(rows, active)] = 0
            x[np.ix_(rows, sh)] = np.maximum(x[np.ix_(rows, sh)], 1)
        elif kind == "near_empty":
            x[np.ix_(rows, ~inert)] = small[np.ix_(rows, ~inert)]
        elif kind == "no_shared":
            x[np.ix_(rows, sh)] = 0
        elif kind == "visited" and rows.any():
            x[rows] = pool[rng.integers(0, len(pool), int(rows.sum()))]
    for s, (other, total) in crn.complements.items():
        i, j = crn.species_index([s, other])
        x[:, j] = np.minimum(x[:, j], total)
        x[:, i] = total - x[:, j]
    return x.astype(np.int64), kinds


def _default_fractions(pool: Any) -> dict[str, float]:
    return dict(DEFAULT_FRACTIONS if pool is None else VISITED_FRACTIONS)


def _check_pool(crn: CRN, pool: Any) -> np.ndarray | None:
    """The pool of visited states as int64 (m, S), or None; refused unless non-negative counts."""
    if pool is None:
        return None
    a = np.asarray(pool)
    if a.ndim != 2 or a.shape[1] != crn.n_species or len(a) == 0:
        raise ValueError(f"pool must be a non-empty (m, {crn.n_species}) array of states of {list(crn.species)}, "
                         f"got shape {a.shape}")
    if not np.isfinite(a).all() or (a < 0).any() or (a != np.round(a)).any():
        raise ValueError("pool must hold non-negative integer counts")
    return a.astype(np.int64)


def _check_exchange(name: str, v) -> tuple[float, float]:
    try:
        lo, hi = (float(a) for a in v)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (low, high) pair, got {v!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 <= lo <= hi):
        raise ValueError(f"{name} must satisfy 0 <= low <= high, got {v!r}")
    return lo, hi


def build_grid_dataset(crn: CRN, n_chains: int, n_steps: int, shared: Sequence[str] = ("P",), *,
                       vary_params: Sequence[str] = (), inflow: Sequence[float] = (0.0, 3.0),
                       outflow: Sequence[float] = (0.0, 0.6), fractions: Mapping[str, float] | None = None,
                       shared_high: int | None = None, highs: Mapping[str, int] | None = None,
                       split: Sequence[float] = (0.7, 0.15, 0.15), pool: Any = None,
                       seed: SeedLike = None) -> Any:
    """A single-agent dataset for grid use: design states, SSA steps, exchange of shared species.

    Parameters
    ----------
    crn : CRN
    n_chains : int
        Chains, each from one state of :func:`grid_training_states`.
    n_steps : int
        SSA steps of ``crn.dt`` per chain (each step is one setting of the dataset).
    shared : sequence of str
    vary_params : sequence of str
        Rates drawn per chain from the model's ``rate_ranges``.
    inflow : (low, high)
        Per chain, the mean of the Poisson number of shared molecules arriving between two steps
        is uniform on this range.
    outflow : (low, high)
        Per chain, the probability that a shared molecule leaves between two steps.
    fractions, shared_high, highs, pool : see :func:`grid_training_states`.
    split : (train, val, test) fractions of the chains.
    seed : int or SeedSequence

    Returns
    -------
    AbstractionDataset
        ``n_chains * n_steps`` settings of one trajectory and one step each (``n_steps=1``),
        rows ordered chain-major; ``attrs["design"]`` records the design.
    """

    for v, name in ((n_chains, "n_chains"), (n_steps, "n_steps")):
        check_positive_int(v, name)
    vary = _vary_tuple(crn, vary_params)
    in_lo, in_hi = _check_exchange("inflow", inflow)
    out_lo, out_hi = _check_exchange("outflow", outflow)
    if out_hi > 1:
        raise ValueError(f"outflow is a probability range within [0, 1], got {outflow!r}")
    fr = _check_split(split, int(n_chains))
    base = as_seed_sequence(seed)
    k_init, k_rates, k_flow, k_sim, k_split = base.spawn(5)
    x, kinds = grid_training_states(crn, int(n_chains), shared, fractions=fractions, shared_high=shared_high,
                                    highs=highs, pool=pool, seed=k_init)
    rates = crn.sample_rates(int(n_chains), vary, seed=k_rates) if vary else np.zeros((int(n_chains), 0))
    frng = np.random.default_rng(k_flow)
    lam = frng.uniform(in_lo, in_hi, int(n_chains))
    leave = frng.uniform(out_lo, out_hi, int(n_chains))
    S = crn.n_species
    t0 = time.perf_counter()
    traces = _simulate_chains(crn, vary, x, rates, crn.species_index(shared), lam, leave, int(n_steps), k_sim, frng)
    seconds = time.perf_counter() - t0
    splits = _chain_splits(int(n_chains), int(n_steps), fr, k_split)
    design = {"kind": "grid", "n_chains": int(n_chains), "n_steps": int(n_steps), "shared": list(shared),
              "inflow": [in_lo, in_hi], "outflow": [out_lo, out_hi],
              "highs": dict(zip(crn.species, _highs(crn, shared, shared_high, highs).tolist())),
              "fractions": _check_fractions(_default_fractions(pool) if fractions is None else fractions),
              "pool_size": 0 if pool is None else int(len(pool)),
              "kinds": {k: int((kinds == k).sum()) for k in CELL_KINDS}}
    attrs = {"design": design, "seed": {"entropy": str(base.entropy), "spawn_key": list(base.spawn_key)},
             "solver": "fast_ssa", "simulation_seconds": seconds}
    return AbstractionDataset(crn, vary, crn.dt, 1, traces.reshape(-1, 1, S, 2),
                              traces[:, :, 0, :, 0].reshape(-1, S).astype(np.int64),
                              np.repeat(rates, int(n_steps), axis=0), splits, attrs=attrs)


def _simulate_chains(crn: CRN, vary: tuple[str, ...], x: np.ndarray, rates: np.ndarray, sh: np.ndarray,
                     lam: np.ndarray, leave: np.ndarray, n_steps: int, k_sim, frng) -> np.ndarray:
    """SSA steps of ``crn.dt`` of every chain from its state ``x`` (n, S), the shared species ``sh``
    exchanged between steps (a binomial share leaves, a Poisson number arrives).

    Returns
    -------
    array (n, n_steps, 1, S, 2)
        Per chain and step the state before and after the step.
    """
    from ..simulators import FastSSASimulator

    sim = FastSSASimulator(crn, param_names=vary, timespan=np.array([0.0, crn.dt]))
    traces = np.empty((len(x), n_steps, 1, crn.n_species, 2))
    for k, ss in enumerate(k_sim.spawn(n_steps)):
        if k > 0:  # exchange with the neighbourhood, then the next exact step
            x[:, sh] = frng.binomial(x[:, sh], (1.0 - leave)[:, None]) + frng.poisson(lam[:, None], (len(x), len(sh)))
        tr = sim.simulate(rates, n_traj=1, seed=ss, initial_state=x)
        if not np.isfinite(tr).all():
            raise ValueError(f"the SSA failed on some chains at step {k}; check the model {crn.name!r}")
        traces[:, k] = tr
        x = tr[:, 0, :, -1].astype(np.int64)
    return traces


def _chain_splits(n_chains: int, n_steps: int, fractions, k_split) -> dict[str, np.ndarray]:
    """Train / val / test settings by chain (a seeded shuffle): all steps of a chain in one split."""
    perm = np.random.default_rng(k_split).permutation(n_chains)
    n_train, n_val, _ = _split_counts(n_chains, fractions)
    chains = {"train": perm[:n_train], "val": perm[n_train:n_train + n_val], "test": perm[n_train + n_val:]}
    steps = np.arange(n_steps)
    return {name: np.sort((c[:, None] * n_steps + steps[None, :]).ravel()) for name, c in chains.items()}


def exact_grid_states(crn: CRN, shape: Sequence[int], shared: Mapping[str, float], initial_state: Any = None, *,
                      n_traj: int = 100, n_steps: int | None = None, boundary: str = "reflecting",
                      solver: str = "numpy_ssa", drop_absorbing: bool = True, seed: SeedLike = None) -> np.ndarray:
    """The node states an exact grid visits: a pool for the ``"visited"`` cells of the design.

    Runs the exact SSA of :func:`~sciope_abs.crn.compose_grid` (a small grid is enough: a node
    of a larger grid with the same per-node layout sees the same kinds of states) at the model's
    rates and returns every node's state at every step of ``crn.dt``, with multiplicity (a state
    visited often is drawn often).

    Parameters
    ----------
    crn : CRN
        The single agent.
    shape : (rows, cols)
    shared : dict species -> hop rate
    initial_state : int array (N * S,), optional
        Composite initial state (node-major, e.g. from :func:`~sciope_abs.crn.grid_initial_state`);
        default the agent's default state at every node.
    n_traj : int
        Exact grid trajectories.
    n_steps : int, optional
        Steps of ``crn.dt`` (default ``crn.n_steps``).
    boundary : {"reflecting", "periodic"}
    solver : str
        Exact solver of :func:`~sciope_abs.simulators.make_simulator` (default GillesPy2's NumPy
        SSA: nothing to compile for a new grid shape).
    drop_absorbing : bool
        Leave out states of total propensity 0 (default): the emulated grid keeps them as they
        are (``absorbing="keep"``), so training on them is wasted.
    seed : int or SeedSequence

    Returns
    -------
    int64 array (m, S)
    """
    from ..crn.grid import compose_grid
    from ..simulators import FastSSASimulator, make_simulator

    check_positive_int(n_traj, "n_traj")
    H = crn.n_steps if n_steps is None else check_positive_int(n_steps, "n_steps")
    g = compose_grid(crn, shape, shared, boundary)
    S, N = crn.n_species, g.n_species // crn.n_species
    x0 = np.tile(crn.default_initial_state(), N) if initial_state is None else np.asarray(initial_state)
    if x0.shape != (N * S,):
        raise ValueError(f"initial_state must have shape ({N * S},) for a {N}-node grid of {crn.name!r}, got {x0.shape}")
    sim = make_simulator(g, param_names=(), species=g.species, timespan=g.timespan(crn.dt, H), solver=solver)
    tr = sim.simulate(np.zeros((1, 0)), n_traj=int(n_traj), seed=as_seed_sequence(seed), initial_state=x0)[0]
    if not np.isfinite(tr).all():
        raise ValueError(f"the exact SSA of the {shape} grid of {crn.name!r} failed on some trajectories")
    states = np.round(tr).astype(np.int64).reshape(int(n_traj), N, S, H + 1).transpose(0, 3, 1, 2).reshape(-1, S)
    if drop_absorbing:
        uniq, inv = np.unique(states, axis=0, return_inverse=True)
        a = FastSSASimulator(crn, param_names=()).propensities(uniq.astype(np.float64), None)
        states = states[(~(np.nan_to_num(a, nan=1.0) <= 0).all(axis=1))[inv.ravel()]]
    if len(states) == 0:
        raise ValueError(f"the exact {shape} grid of {crn.name!r} visited only absorbing states; nothing to train on")
    return states


def train_for_grid(dataset: Any, config: Any = None, *, seed: SeedLike = None, progress: bool = False,
                   max_joint: int = 512, **overrides: Any) -> Any:
    """:func:`~sciope_abs.abstraction.training.train` with categorical increments for grid use.

    A grid cell's counts change by a few molecules a step and mostly not at all, and the changes
    of its species are tied (a sting kills a bee and releases pheromone).  Unless ``config`` or
    ``overrides`` set ``component`` or ``discrete``, every species is modelled by one joint
    categorical over the joint increments seen in the training pairs (up to ``max_joint`` of
    them; beyond, species sharing a conservation law form one categorical each, see
    :mod:`~sciope_abs.abstraction.components.categorical`), with one mixture component unless
    ``n_components`` is given (a mixture of categoricals over the same classes is one
    categorical, and harder to fit).  A Normal mixture rounded afterwards puts mass on changes the exact process makes rarely, and on a grid those errors
    add up over nodes and steps: on the honeybee grid (``bench_grid.py``) this is what brings
    the emulator's one-step law close to the exact one on the states the grid visits.

    Parameters
    ----------
    dataset : AbstractionDataset
        e.g. from :func:`build_grid_dataset`.
    config : TrainConfig, optional
    seed : int or SeedSequence
    progress : bool
    max_joint : int
        Most joint increments for one joint categorical (default 512).
    **overrides
        Fields of :class:`~sciope_abs.abstraction.config.TrainConfig`.

    Returns
    -------
    Emulator
        ``card["config"]["component"]`` holds the categorical's classes.
    """
    from .components.categorical import categorical_spec
    from .config import TrainConfig
    from .training import train, training_pairs

    check_positive_int(max_joint, "max_joint")
    cfg = (config if config is not None else TrainConfig()).override(**overrides)
    if "component" in overrides or "discrete" in overrides or config is not None and (
            config.component != TrainConfig().component or config.discrete != "auto"):
        return train(dataset, config, seed=seed, progress=progress, **overrides)
    target, scaling, (x, y), _ = training_pairs(dataset, cfg.component, cfg.n_components, cfg.target)
    spec = categorical_spec(x, y, scaling, cfg.component, species=range(len(dataset.species)),
                            laws=dataset.model.conservation_matrix, max_joint=int(max_joint))
    extra = {"component": spec, "discrete": None, "target": target}
    if isinstance(spec, dict) and len(spec["groups"]) == 1 and "n_components" not in overrides and (
            config is None or config.n_components == TrainConfig().n_components):
        extra["n_components"] = 1     # a mixture of categoricals over the same classes is one categorical
    return train(dataset, config, seed=seed, progress=progress, **{**overrides, **extra})
